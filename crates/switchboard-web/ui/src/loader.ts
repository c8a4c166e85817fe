// The loader a host page includes: `<script async src="…/webchat/v1/widget.js" data-flow="FO…">`.
// It draws the launcher and its unread badge in a shadow root (host CSS cannot reach them)
// and creates, only when the visitor opens the chat (or had a chat on this site before), an
// iframe on the daemon's origin that holds the chat, so host scripts never see the token.
// Before the visitor engages it makes no request and stores nothing.
//
// Commands, as a function or an Intercom-style queue set before this script ran:
//   Switchboard("open") · ("close") · ("on", "unread", fn) · ("shutdown")
//   · ("identify", {identity, hash}) (hash: the HMAC the host's backend computed)
// `window.Switchboard = {flow, mode: "embedded", element, position: "left", color}` configures it
// instead of data-* (data-position, data-color): the launcher is drawn before any request, so
// its place and colour come from the host, not from the flow's theme.

interface Config {
  flow?: string;
  server?: string;
  mode?: string;
  element?: string | HTMLElement;
  position?: string;
  color?: string;
}
type Command = [string, ...unknown[]];
type Api = ((...args: Command) => void) & { q?: Command[]; config?: Config };

/** A typed message between the loader and the chat (version 1). */
interface Envelope {
  v: 1;
  id: string;
  type: string;
  count?: number;
  /** The chat's session, kept here only when the browser gives the chat no storage. */
  kept?: string | null;
  /** The visitor as the host's backend vouches for it, for the chat's next session. */
  who?: { identity: string; hash: string };
}

const w = window as unknown as { Switchboard?: Api | Config };
const script = document.currentScript as HTMLScriptElement | null;
const given = w.Switchboard;
const queued: Command[] = typeof given === "function" ? given.q || [] : [];
const config: Config =
  (typeof given === "function" ? given.config : (given as Config | undefined)) || {};
const flow = config.flow || (script && script.dataset.flow) || "";
const server = config.server || (script ? new URL(script.src).origin : location.origin);
const embedded = config.mode === "embedded" || (script && script.dataset.mode === "embedded");
const instance = Math.random().toString(36).slice(2);
const engagedKey = "switchboard-chat:" + flow;
const keptKey = engagedKey + ":session";
const listeners: ((count: number) => void)[] = [];

let frame: HTMLIFrameElement | null = null;
let panel: HTMLDivElement | null = null;
let launcher: HTMLButtonElement | null = null;
let badge: HTMLSpanElement | null = null;
let host: HTMLElement | null = null;
let isOpen = false;
let who: Envelope["who"];

const STYLE = `:host{all:initial}
.l{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:28px;border:0;
background:#1f6feb;color:#fff;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3);
font:600 14px/1 system-ui,sans-serif;padding:0;margin:0;z-index:2147483646}
.l:focus-visible{outline:3px solid #111;outline-offset:2px}
.l svg{width:28px;height:28px;vertical-align:middle}
.b{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;
background:#b3261e;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center}
.b[hidden]{display:none}
.p{position:fixed;right:20px;bottom:88px;width:370px;height:560px;max-height:calc(100vh - 108px);
border-radius:12px;overflow:hidden;box-shadow:0 4px 24px rgba(0,0,0,.3);background:#fff;
z-index:2147483647}
.p[hidden]{display:none}
.p iframe{border:0;width:100%;height:100%}
.left{right:auto;left:20px}
.e{position:static;width:100%;height:100%;box-shadow:none}
@media (max-width:480px){.p:not(.e){right:0;left:0;bottom:0;width:100vw;height:100vh;max-height:none;border-radius:0}}`;

const ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M4 4h16v12H7l-3 3z"/></svg>';

function mount(): void {
  host = document.createElement("div");
  host.setAttribute("data-switchboard-chat", "");
  const target =
    embedded && config.element
      ? typeof config.element === "string"
        ? document.querySelector(config.element)
        : config.element
      : null;
  if (target) {
    // Embedded: the chat fills the element it is mounted in.
    host.style.display = "block";
    host.style.height = "100%";
  }
  (target || document.body).appendChild(host);
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = STYLE;
  root.appendChild(style);
  panel = document.createElement("div");
  const data = script ? script.dataset : {};
  const left = (config.position || data.position) === "left" ? " left" : "";
  panel.className = embedded ? "p e" : "p" + left;
  panel.hidden = !embedded;
  root.appendChild(panel);
  if (embedded) {
    openChat();
    return;
  }
  launcher = document.createElement("button");
  launcher.className = "l" + left;
  launcher.style.background = config.color || data.color || "";
  launcher.type = "button";
  launcher.setAttribute("aria-label", "Open chat");
  launcher.setAttribute("aria-expanded", "false");
  launcher.innerHTML = ICON;
  badge = document.createElement("span");
  badge.className = "b";
  badge.hidden = true;
  badge.setAttribute("aria-hidden", "true");
  launcher.appendChild(badge);
  launcher.addEventListener("click", () => (isOpen ? closeChat() : openChat()));
  root.appendChild(launcher);
  // A visitor who chatted on this site before gets the chat loaded (closed): the badge counts.
  if (readEngaged()) ensureFrame();
}

/** Reads the host's storage at `key`, or writes it (`null` removes it); refused storage is none. */
function store(key: string, value?: string | null): string | null {
  try {
    if (value === undefined) return localStorage.getItem(key);
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage refused (privacy mode): nothing is kept, the next page starts anew.
  }
  return null;
}

function readEngaged(): boolean {
  return store(engagedKey) === "1";
}

function ensureFrame(): HTMLIFrameElement {
  if (frame) return frame;
  frame = document.createElement("iframe");
  frame.title = "Chat";
  frame.setAttribute(
    "sandbox",
    "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox allow-downloads",
  );
  const query = new URLSearchParams({ flow, origin: location.origin, id: instance });
  frame.src = server + "/webchat/v1/chat.html?" + query.toString();
  panel!.appendChild(frame);
  return frame;
}

function post(type: string): void {
  if (!frame || !frame.contentWindow) return;
  // Whatever the chat hears first (open or closed) brings what the host keeps for it, if anything.
  const kept = type === "open" || type === "closed" || type === "kept" ? store(keptKey) : undefined;
  const message: Envelope = { v: 1, id: instance, type, kept, who };
  frame.contentWindow.postMessage(message, server);
}

function openChat(): void {
  ensureFrame();
  isOpen = true;
  panel!.hidden = false;
  if (launcher) {
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close chat");
  }
  setBadge(0);
  post("open");
  frame!.focus();
}

function closeChat(): void {
  if (embedded) return;
  isOpen = false;
  panel!.hidden = true;
  launcher!.setAttribute("aria-expanded", "false");
  launcher!.setAttribute("aria-label", "Open chat");
  post("closed");
  launcher!.focus();
}

function setBadge(count: number): void {
  if (badge) {
    badge.hidden = count === 0;
    badge.textContent = count > 9 ? "9+" : String(count);
    launcher!.setAttribute("aria-label", count ? `Open chat, ${count} unread` : "Open chat");
  }
  listeners.forEach((fn) => fn(count));
}

function shutdown(): void {
  post("shutdown");
  store(engagedKey, null);
  store(keptKey, null);
  if (host) host.remove();
  frame = panel = launcher = badge = host = null;
}

window.addEventListener("message", (event: MessageEvent) => {
  if (!frame || event.origin !== server || event.source !== frame.contentWindow) return;
  const data = event.data as Envelope;
  if (!data || data.v !== 1 || data.id !== instance) return;
  if (data.type === "engaged") {
    store(engagedKey, "1");
  } else if (data.type === "unread" && !isOpen) {
    setBadge(data.count || 0);
  } else if (data.type === "close") {
    closeChat();
  } else if (data.type === "ended") {
    store(engagedKey, null);
    store(keptKey, null);
  } else if (data.type === "ready") {
    post(isOpen ? "open" : "closed");
  } else if (data.type === "keep") {
    store(keptKey, data.kept || null);
  } else if (data.type === "kept?") {
    post("kept");
  }
});

function run(name: string, ...args: unknown[]): void {
  if (name === "on" && args[0] === "unread" && typeof args[1] === "function")
    listeners.push(args[1] as (count: number) => void);
  else if (name === "identify") who = args[0] as Envelope["who"];
  else if (!panel) return;
  else if (name === "open") openChat();
  else if (name === "close") closeChat();
  else if (name === "shutdown") shutdown();
}

const api = ((...command: Command) => run(...command)) as Api;
w.Switchboard = api;
function start(): void {
  mount();
  queued.forEach((command) => run(...command));
}

if (flow) {
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
}

// A module: its names stay its own.
export {};
