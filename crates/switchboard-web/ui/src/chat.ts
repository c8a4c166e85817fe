// The chat app, inside the iframe on the daemon's origin (chat.html). It keeps the visitor's
// session (a short-lived access token and a refresh token) in this origin's localStorage, where
// the host page cannot read it; talks REST to /webchat/v1 and real time to /ws, authenticating
// in the socket's first frame; and tells the loader only what it needs (unread count, close).
// Message bodies are text: they are only ever set with textContent.

interface Field {
  name: string;
  label: string;
  kind: "text" | "email" | "consent";
  required: boolean;
}
interface Settings {
  flow: string;
  fields: Field[];
  greeting: string | null;
  theme: Record<string, string>;
  strings: Record<string, Record<string, string>>;
  /** What an upload may be: at most max_bytes, of one of these types (`image/*`: a family). */
  media: { max_bytes: number; types: string[] };
}
interface Session {
  token: string;
  refresh_token: string;
  expires_at: number;
  channel_sid: string;
  identity: string;
  service_sid: string;
}
interface Media {
  sid: string;
  content_type: string;
  size_bytes: number;
  filename: string | null;
}
interface Frame {
  type: string;
  seq?: number;
  index?: number;
  author?: string;
  body?: string;
  identity?: string;
  code?: number;
  message?: string;
  timestamp?: string;
  channel_sid?: string;
  media?: Media | null;
  member_sid?: string;
  last_consumed_index?: number | null;
  /** A member's reachability (`user_updated`); `null` where the service keeps none. */
  is_online?: boolean | null;
  /** Of an earlier interaction of a long-lived chat (history pages only). */
  earlier?: boolean;
}
/** A page of the chat's history (`GET /webchat/v1/Messages`). */
interface Page {
  messages: Frame[];
  has_more: boolean;
  seq: number | null;
  member_sid: string;
  last_consumed_index: number | null;
  others_consumed_index: number | null;
  /** The other members (agents) as the events before `seq` told them. */
  other_members: { member_sid: string; identity: string }[];
}

const STRINGS: Record<string, string> = {
  title: "Chat with us",
  start: "Start chat",
  send: "Send",
  placeholder: "Type a message",
  typing: "Agent is typing…",
  offline: "You are offline. Reconnecting…",
  end: "End chat",
  ended: "This chat has ended.",
  again: "Start a new chat",
  transcript: "Download transcript",
  close: "Close chat",
  you: "You",
  agent: "Agent",
  error: "Something went wrong. Please try again.",
  messages: "Messages",
  read: "Read",
  attach: "Attach a file",
  limits: "Files up to {size}, of types {types}",
  too_large: "This file is larger than {size}.",
  wrong_type: "Files of this type cannot be sent.",
  image: "Image",
  more: "Show earlier messages",
  popout: "Open in a new window",
  away: "The chat is open in another window.",
  back: "Continue here",
  earlier: "earlier conversation",
  here: "{name} is here",
  gone: "{name} is away",
};

const settings: Settings = JSON.parse(document.getElementById("sb-config")!.textContent || "{}");
const params = new URLSearchParams(location.search);
const parentOrigin = params.get("origin") || "";
const instance = params.get("id") || "";
const storageKey = "switchboard-session:" + settings.flow;
const strings = pickStrings();
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 5000;
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 5000;

let session: Session | null = null;
let socket: WebSocket | null = null;
/** The socket that said `ready`: frames go only on it. Between a socket's opening and its `ready`
 * the server may yet refuse its token, and a message sent then would be lost with it. */
let readySocket: WebSocket | null = null;

/** The socket, if it is open and has said `ready`. */
function ready(): WebSocket | null {
  return socket && socket === readySocket && socket.readyState === WebSocket.OPEN ? socket : null;
}
let lastSeq = -1;
/** Messages by index: each shown once, in index order, whatever the order frames came in. */
const shown = new Map<number, HTMLElement>();
let loadedUpTo = -1;
let visible = parentOrigin === "" || window.parent === window;
let retry = 0;
let pingTimer = 0;
let pongTimer = 0;
let typingSentAt = 0;
let typingTimer = 0;
let ended = false;
let started = false;
/** Members' identities by member SID, from the latest page and the channel's `member_joined`
 * events. */
const members = new Map<string, string>();
/** Whether each other member (an agent) is online, by identity, from `user_updated` frames; empty
 * while the service keeps no reachability, so nothing is shown then. */
let reachable = new Map<string, boolean>();
/** What the current socket was told since its `ready`: after its resume, the whole truth (the
 * server tells every other member's state then), replacing what an earlier socket heard. */
let heardSinceReady = new Map<string, boolean>();
/** The last index the visitor read, and the furthest any other member read (-1: none). */
let myHorizon = -1;
let theirHorizon = -1;
let toldUnread = -1;
/** The visitor as the host vouches for it (the loader's `identify`), for a new session. */
let vouched: { identity: string; hash: string } | undefined;
const PAGE_SIZE = 20;
/** This page is a pop-out its opener (the chat in the site's frame) hands its session to. */
const popout = params.get("popout") === "1" && !!window.opener;
/** The pop-out this frame handed its chat to; while it is open, this frame keeps still. */
let away: Window | null = null;

function pickStrings(): Record<string, string> {
  const lang = navigator.language || "en";
  const all = settings.strings || {};
  return { ...STRINGS, ...(all[lang.split("-")[0]] || {}), ...(all[lang] || {}) };
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const $ = (id: string) => document.getElementById(id)!;

function tellParent(type: string, extra: Record<string, unknown> = {}): void {
  if (!parentOrigin || window.parent === window) return;
  window.parent.postMessage({ v: 1, id: instance, type, ...extra }, parentOrigin);
}

function applyTheme(): void {
  for (const [key, value] of Object.entries(settings.theme || {}))
    document.documentElement.style.setProperty("--sb-" + key, value);
}

/** Whether this frame may keep storage: a browser that blocks third-party storage says no. */
const ownStorage = (() => {
  try {
    localStorage.getItem(storageKey);
    return true;
  } catch {
    return false;
  }
})();

function loadSession(): Session | null {
  try {
    return JSON.parse(localStorage.getItem(storageKey) || "null");
  } catch {
    return null;
  }
}

/** Keeps the session here, or, where this frame may keep nothing, asks the loader to keep its
 * refresh token (never the access token) in the host's storage, the only place left. */
function saveSession(value: Session | null): void {
  // A pop-out tells its opener every new token, which it needs when the chat comes back.
  if (popout) toOpener({ type: "session", session: value });
  if (!ownStorage) {
    const kept = value && { ...value, token: "", expires_at: 0 };
    tellParent("keep", { kept: kept ? JSON.stringify(kept) : null });
    return;
  }
  if (value) localStorage.setItem(storageKey, JSON.stringify(value));
  else localStorage.removeItem(storageKey);
}

/** What the loader keeps for this chat now (another tab may have renewed it): asked, and
 * answered by its `kept` message, or nothing within a second. */
let keptAnswer: ((kept: Session | null) => void) | null = null;
function keptByLoader(): Promise<Session | null> {
  if (!parentOrigin || window.parent === window) return Promise.resolve(null);
  return new Promise((resolve) => {
    keptAnswer = resolve;
    tellParent("kept?");
    window.setTimeout(() => resolve(null), 1000);
  });
}

function parseKept(text: string | null | undefined): Session | null {
  try {
    return JSON.parse(text || "null");
  } catch {
    // Nothing usable kept: a new chat.
    return null;
  }
}

/** Starts from the session kept, if any. */
function start(kept: Session | null): void {
  if (started) return;
  started = true;
  session = kept;
  if (session) begin(session);
  else showForm();
}

async function api(path: string, form: Record<string, string>, token?: string): Promise<any> {
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, {
    method: "POST",
    headers,
    body: new URLSearchParams(form).toString(),
    credentials: "omit",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.message || strings.error), body);
  return body;
}

function showForm(): void {
  $("sb-chat").hidden = true;
  $("sb-ended").hidden = true;
  const form = $("sb-form") as HTMLFormElement;
  form.hidden = false;
  form.replaceChildren();
  if (settings.greeting) form.appendChild(el("p", { class: "greeting" }, settings.greeting));
  for (const field of settings.fields) {
    const id = "sb-f-" + field.name;
    const input = el("input", { id, name: field.name });
    const label = el("label", { for: id }, field.label);
    const row = el("div", { class: "row " + field.kind });
    if (field.kind === "consent") input.type = "checkbox";
    else input.type = field.kind === "email" ? "email" : "text";
    if (field.required) input.required = true;
    if (field.kind === "consent") row.append(input, label);
    else row.append(label, input);
    form.appendChild(row);
  }
  form.appendChild(el("p", { id: "sb-form-error", class: "error", role: "alert" }));
  form.appendChild(el("button", { type: "submit" }, strings.start));
  const first = form.querySelector("input");
  if (first && visible) first.focus();
}

async function submitForm(event: Event): Promise<void> {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const answers: Record<string, string> = {};
  for (const field of settings.fields) {
    const input = form.elements.namedItem(field.name) as HTMLInputElement;
    answers[field.name] = field.kind === "consent" ? String(input.checked) : input.value;
  }
  try {
    const form: Record<string, string> = { FlowSid: settings.flow, PreEngagementData: JSON.stringify(answers) };
    if (vouched) Object.assign(form, { Identity: vouched.identity, IdentityHash: vouched.hash });
    const created = await api("/webchat/v1/Sessions", form);
    begin(created);
  } catch (error) {
    $("sb-form-error").textContent = (error as Error).message;
  }
}

function begin(value: Session): void {
  session = value;
  ended = false;
  saveSession(value);
  tellParent("engaged");
  $("sb-form").hidden = true;
  $("sb-ended").hidden = true;
  $("sb-chat").hidden = false;
  connect();
  if (visible) $("sb-input").focus();
}

/** A refresh under way: every caller waits for the one (a refresh token is spent by its use). */
let renewing: Promise<boolean> | null = null;

async function freshToken(): Promise<boolean> {
  if (!session) return false;
  if (session.expires_at * 1000 - Date.now() > 60000) return true;
  if (!renewing) {
    // Other tabs of the site share this storage: one refresh at a time among them.
    const locks = ownStorage && navigator.locks;
    renewing = (locks ? locks.request(storageKey, renew) : renew()).finally(() => (renewing = null));
  }
  return renewing;
}

async function renew(): Promise<boolean> {
  // Another tab may have refreshed while this one waited: its tokens are kept here, or by the
  // loader where this frame keeps nothing (then only the refresh token, which a refresh spends).
  const kept = ownStorage ? loadSession() : await keptByLoader();
  if (session && kept && kept.channel_sid === session.channel_sid) {
    if (kept.expires_at * 1000 - Date.now() > 60000) {
      session = kept;
      return true;
    }
    session.refresh_token = kept.refresh_token;
  }
  if (!session) return false;
  try {
    const renewed = await api("/webchat/v1/Tokens", {
      FlowSid: settings.flow,
      RefreshToken: session.refresh_token,
    });
    session = { ...session, ...renewed };
    saveSession(session);
    return true;
  } catch (error) {
    // Refused (not merely unreachable): the chat is gone; start over.
    if ((error as { status?: number }).status) {
      saveSession(null);
      session = null;
      showForm();
    }
    return false;
  }
}

async function connect(): Promise<void> {
  if (!session || socket || ended || away) return;
  if (!(await freshToken()) || !session || (lastSeq < 0 && !(await latestPage()))) {
    if (session) reconnectLater();
    return;
  }
  const url = location.origin.replace(/^http/, "ws") + "/ws";
  const ws = new WebSocket(url);
  socket = ws;
  const channel = session.channel_sid;
  ws.onopen = () => {
    const resume = [{ channel_sid: channel, seq: lastSeq }];
    ws.send(JSON.stringify({ type: "auth", token: session!.token, resume }));
    schedulePing();
  };
  ws.onmessage = (event) => onFrame(JSON.parse(String(event.data)) as Frame);
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    window.clearTimeout(pingTimer);
    window.clearTimeout(pongTimer);
    setOnline(false);
    reconnectLater();
  };
}

function reconnectLater(): void {
  if (ended) return;
  const delay = Math.min(10000, 300 * 2 ** retry++);
  window.setTimeout(connect, delay);
}

/** An app-level ping: a socket the network silently lost answers nothing, and is replaced. */
function schedulePing(): void {
  window.clearTimeout(pingTimer);
  pingTimer = window.setTimeout(() => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "ping" }));
    pongTimer = window.setTimeout(() => socket && socket.close(), PONG_WITHIN_MS);
  }, PING_EVERY_MS);
}

function setOnline(online: boolean): void {
  $("sb-offline").hidden = online && navigator.onLine;
  ($("sb-send") as HTMLButtonElement).disabled = !online;
}

function onFrame(frame: Frame): void {
  if (typeof frame.seq === "number" && frame.seq > lastSeq) lastSeq = frame.seq;
  switch (frame.type) {
    case "ready":
      heardSinceReady = new Map();
      readySocket = socket;
      retry = 0;
      setOnline(true);
      if (sendWhenReady) send();
      break;
    case "resumed":
      reachable = new Map(heardSinceReady);
      showPresence();
      if (loadedUpTo < 0) loadedUpTo = typeof frame.seq === "number" ? frame.seq : 0;
      countUnread();
      break;
    case "member_joined":
      members.set(frame.member_sid as string, frame.identity as string);
      break;
    case "member_left":
      reachable.delete(members.get(frame.member_sid as string) || "");
      showPresence();
      break;
    case "user_updated":
      if (frame.identity === session?.identity || typeof frame.is_online !== "boolean") break;
      heardSinceReady.set(frame.identity as string, frame.is_online);
      reachable.set(frame.identity as string, frame.is_online);
      showPresence();
      break;
    case "read_horizon_updated":
      horizon(frame);
      break;
    case "pong":
      window.clearTimeout(pongTimer);
      schedulePing();
      break;
    case "message_added":
      addMessage(frame);
      break;
    case "typing":
      showTyping();
      break;
    case "channel_deactivated":
    case "channel_destroyed":
    case "data_erased":
      finish();
      break;
    case "error":
      if (frame.code === 20104 && socket) socket.close();
      break;
  }
}

function addMessage(frame: Frame): void {
  const index = frame.index as number;
  if (shown.has(index)) return;
  const mine = frame.author === session?.identity;
  const item = el("div", { class: mine ? "msg mine" : "msg theirs" });
  item.dataset.index = String(index);
  const who = mine ? strings.you : strings.agent;
  item.appendChild(el("span", { class: "who" }, frame.earlier ? `${who} · ${strings.earlier}` : who));
  if (frame.earlier) item.classList.add("earlier");
  if (frame.body || !frame.media) item.appendChild(el("p", { class: "body" }, frame.body || ""));
  if (frame.media) item.appendChild(showMedia(frame.media));
  if (mine) item.appendChild(el("span", { class: "receipt" }, index <= theirHorizon ? strings.read : ""));
  const list = $("sb-log");
  const after = [...shown.keys()].filter((i) => i > index).sort((a, b) => a - b)[0];
  list.insertBefore(item, after === undefined ? null : shown.get(after)!);
  shown.set(index, item);
  item.scrollIntoView({ block: "end" });
  hideTyping();
  if (!mine && visible) consumed(index);
  countUnread();
}

/** Tells the loader how many of the others' messages the visitor has not read, by the visitor's
 * own read horizon on the server, so a reload counts what it counted before. */
/** The chat's latest page when it opens (never its whole history); the socket resumes after it. */
async function latestPage(): Promise<boolean> {
  const page = await history("");
  if (!page || page.seq === null) return false;
  members.set(page.member_sid, session!.identity);
  for (const member of page.other_members || []) members.set(member.member_sid, member.identity);
  myHorizon = page.last_consumed_index ?? -1;
  theirHorizon = page.others_consumed_index ?? -1;
  page.messages.forEach(addMessage);
  lastSeq = loadedUpTo = page.seq;
  countUnread();
  return true;
}

/** The page before the oldest message shown. */
async function earlierPage(): Promise<void> {
  const oldest = Math.min(...shown.keys());
  const page = await history("&Before=" + oldest);
  if (page) [...page.messages].reverse().forEach(addMessage);
}

async function history(query: string): Promise<Page | null> {
  if (!session || !(await freshToken()) || !session) return null;
  const response = await fetch(`/webchat/v1/Messages?PageSize=${PAGE_SIZE}${query}`, {
    headers: { Authorization: "Bearer " + session.token },
    credentials: "omit",
  }).catch(() => null);
  if (response && response.status === 404) {
    // The chat is gone (its visitor left, or it was erased): start over.
    saveSession(null);
    session = null;
    showForm();
  }
  if (!response || !response.ok) return null;
  const page: Page = await response.json();
  $("sb-more").hidden = !page.has_more;
  return page;
}

function countUnread(): void {
  if (loadedUpTo < 0) return;
  let count = 0;
  if (!visible)
    for (const [index, item] of shown) if (index > myHorizon && !item.classList.contains("mine")) count += 1;
  if (count !== toldUnread) tellParent("unread", { count });
  toldUnread = count;
}

/** A member's read horizon: the visitor's own counts unread; another's marks what it read. */
function horizon(frame: Frame): void {
  const index = typeof frame.last_consumed_index === "number" ? frame.last_consumed_index : -1;
  if (members.get(frame.member_sid as string) === session?.identity) {
    myHorizon = index;
    countUnread();
    return;
  }
  if (index <= theirHorizon) return;
  theirHorizon = index;
  for (const [at, item] of shown) {
    const receipt = item.querySelector(".receipt");
    if (receipt && at <= theirHorizon) receipt.textContent = strings.read;
  }
}

const INLINE_IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** A medium of a message: an image shown inline, anything else a link that downloads it. Its
 * bytes need the visitor's token, so they are fetched and shown from a blob. */
function showMedia(media: Media): HTMLElement {
  const name = media.filename || strings.image;
  if (INLINE_IMAGES.includes(media.content_type)) {
    const image = el("img", { class: "media", alt: name });
    mediaBlob(media).then((url) => url && (image.src = url));
    return image;
  }
  const link = el("a", { class: "file", href: "#", download: name }, `${name} (${size(media.size_bytes)})`);
  link.addEventListener("click", async (event) => {
    if (link.getAttribute("href") !== "#") return;
    event.preventDefault();
    const url = await mediaBlob(media);
    if (!url) return;
    link.href = url;
    link.click();
  });
  return link;
}

async function mediaBlob(media: Media): Promise<string | null> {
  if (!session || !(await freshToken()) || !session) return null;
  const path = `/chat/v2/Services/${session.service_sid}/Media/${media.sid}/Content`;
  const response = await fetch(path, { headers: { Authorization: "Bearer " + session.token }, credentials: "omit" }).catch(() => null);
  return response && response.ok ? URL.createObjectURL(await response.blob()) : null;
}

function size(bytes: number): string {
  return bytes >= 1048576 ? `${+(bytes / 1048576).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

const fill = (text: string, values: Record<string, string>) =>
  text.replace(/\{(\w+)\}/g, (all, key) => (key in values ? values[key] : all));

function accepted(type: string): boolean {
  return settings.media.types.some((t) => t === type || (t.endsWith("/*") && type.startsWith(t.slice(0, -1))));
}

/** Uploads the file the visitor picked, checked against the limits first, then sends it. */
async function attach(input: HTMLInputElement): Promise<void> {
  const file = input.files && input.files[0];
  input.value = "";
  const problem = $("sb-chat-error");
  problem.textContent = "";
  if (!file || !session) return;
  if (file.size > settings.media.max_bytes) {
    problem.textContent = fill(strings.too_large, { size: size(settings.media.max_bytes) });
    return;
  }
  if (!accepted(file.type)) {
    problem.textContent = strings.wrong_type + " " + limitsText();
    return;
  }
  if (!(await freshToken()) || !session) return;
  const query = new URLSearchParams({ ChannelSid: session.channel_sid, Filename: file.name });
  const response = await fetch(`/chat/v2/Services/${session.service_sid}/Media?${query}`, {
    method: "POST",
    headers: { Authorization: "Bearer " + session.token, "Content-Type": file.type },
    body: file,
    credentials: "omit",
  });
  const body = await response.json().catch(() => ({}));
  const ws = ready();
  if (!response.ok || !ws) {
    problem.textContent = body.message || strings.error;
    return;
  }
  ws.send(JSON.stringify({ type: "message", channel_sid: session.channel_sid, media_sid: body.sid }));
}

function limitsText(): string {
  const types = settings.media.types.map((t) => t.replace("/*", "")).join(", ");
  return fill(strings.limits, { size: size(settings.media.max_bytes), types });
}

function consumed(index: number): void {
  if (socket && socket.readyState === WebSocket.OPEN && session)
    socket.send(JSON.stringify({ type: "consumed", channel_sid: session.channel_sid, index }));
}

/** Whether an agent is there: "here" while any is online, "away" when none is; nothing before
 * one joined or where the service keeps no reachability. Named as their messages are (the
 * agent's identity is not the visitor's to see). Changed only when it changes, so that the
 * status region speaks once per change. */
function showPresence(): void {
  const states = [...reachable.values()];
  const here = states.some((online) => online);
  const text = states.length ? fill(here ? strings.here : strings.gone, { name: strings.agent }) : "";
  const line = $("sb-presence");
  if (line.textContent === text) return;
  line.textContent = text;
  line.className = "presence " + (here ? "here" : "gone");
  line.hidden = !text;
}

function showTyping(): void {
  $("sb-typing").textContent = strings.typing;
  window.clearTimeout(typingTimer);
  typingTimer = window.setTimeout(hideTyping, TYPING_SHOWN_MS);
}

function hideTyping(): void {
  $("sb-typing").textContent = "";
}

/** A message sent before the socket was ready (the first one, right after the form, on a slow
 * connection, or while a new token is checked): it stays in the input and goes as soon as a
 * socket says `ready`, not silently nowhere. */
let sendWhenReady = false;

function send(): void {
  const input = $("sb-input") as HTMLTextAreaElement;
  const body = input.value.trim();
  if (!body || !session) return;
  const ws = ready();
  if (!ws) {
    sendWhenReady = true;
    return;
  }
  sendWhenReady = false;
  ws.send(JSON.stringify({ type: "message", channel_sid: session.channel_sid, body }));
  input.value = "";
}

function typing(): void {
  const now = Date.now();
  const ws = ready();
  if (!session || !ws) return;
  if (now - typingSentAt < TYPING_EVERY_MS) return;
  typingSentAt = now;
  ws.send(JSON.stringify({ type: "typing", channel_sid: session.channel_sid }));
}

async function endChat(): Promise<void> {
  if (!session || !(await freshToken())) return;
  try {
    await api("/webchat/v1/Sessions/End", {}, session.token);
  } catch (error) {
    $("sb-chat-error").textContent = (error as Error).message;
    return;
  }
  finish();
}

/** Opens the chat in a window of its own, which takes the session over; this frame keeps still
 * (no socket, no refresh: the pop-out's refresh spends the token) until that window closes. */
function popOut(): void {
  const url = `${location.origin}/webchat/v1/chat.html?flow=${encodeURIComponent(settings.flow)}&popout=1`;
  const opened = window.open(url, "switchboard-chat", "popup,width=400,height=620");
  if (!opened) return;
  away = opened;
  const ws = socket;
  socket = null;
  if (ws) ws.close();
  $("sb-away").hidden = false;
  $("sb-chat").hidden = $("sb-form").hidden = true;
  const watch = window.setInterval(() => {
    if (!away || !away.closed) return;
    window.clearInterval(watch);
    comeBack();
  }, 500);
}

function comeBack(): void {
  if (away && !away.closed) away.close();
  away = null;
  $("sb-away").hidden = true;
  // No chat came back: a new one (or the end the pop-out showed, already shown here).
  if (!session) return ended ? undefined : showForm();
  $("sb-chat").hidden = false;
  connect();
}

function toOpener(message: Record<string, unknown>): void {
  window.opener.postMessage({ v: 1, ...message }, location.origin);
}

/** Between a pop-out and the frame that opened it (both on this origin). */
window.addEventListener("message", (event: MessageEvent) => {
  if (event.origin !== location.origin) return;
  const data = event.data as { v?: number; type?: string; session?: Session | null };
  if (!data || data.v !== 1) return;
  if (away && event.source === away && data.type === "ready") {
    away.postMessage({ v: 1, type: "session", session }, location.origin);
  } else if (away && event.source === away && data.type === "session") {
    session = data.session || null;
    if (session) saveSession(session);
    else finish();
  } else if (popout && event.source === window.opener && data.type === "session") {
    start(data.session || null);
  }
});

function finish(): void {
  ended = true;
  saveSession(null);
  tellParent("ended");
  const ws = socket;
  socket = null;
  if (ws) ws.close();
  $("sb-chat").hidden = true;
  $("sb-away").hidden = true;
  $("sb-ended").hidden = false;
}

function transcript(): void {
  const lines = [...shown.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, item]) => {
      const what = item.querySelector(".body, .file, .media") as HTMLElement;
      // A medium by its name (an image's alt, a file's download name).
      const text = what.getAttribute("alt") || what.getAttribute("download") || what.textContent;
      return item.querySelector(".who")!.textContent + ": " + text;
    });
  const link = el("a", {
    href: URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/plain" })),
    download: "chat-transcript.txt",
  });
  link.click();
}

function build(): void {
  document.title = strings.title;
  const header = el("header");
  const heading = el("div", { class: "heading" });
  const presence = el("p", { id: "sb-presence", class: "presence", role: "status", "aria-live": "polite" });
  presence.hidden = true;
  heading.append(el("h1", {}, strings.title), presence);
  header.append(heading);
  const close = el("button", { type: "button", class: "icon", "aria-label": strings.close }, "×");
  close.addEventListener("click", () => tellParent("close"));
  if (parentOrigin) {
    const pop = el("button", { type: "button", id: "sb-popout", class: "icon", "aria-label": strings.popout }, "↗");
    pop.addEventListener("click", popOut);
    header.append(pop, close);
  }
  const offline = el("div", { id: "sb-offline", class: "banner", role: "status" }, strings.offline);
  offline.hidden = true;
  const form = el("form", { id: "sb-form", "aria-label": strings.title });
  form.addEventListener("submit", submitForm);
  const chat = el("section", { id: "sb-chat", "aria-label": strings.title });
  chat.hidden = true;
  const more = el("button", { type: "button", id: "sb-more", class: "more" }, strings.more);
  more.hidden = true;
  more.addEventListener("click", earlierPage);
  const log = el("div", { id: "sb-log", role: "log", "aria-live": "polite", "aria-label": strings.messages, tabindex: "0" });
  const typingLine = el("div", { id: "sb-typing", class: "typing", "aria-live": "polite" });
  const composer = el("form", { class: "composer" });
  const input = el("textarea", { id: "sb-input", rows: "1", "aria-label": strings.placeholder, placeholder: strings.placeholder });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener("input", typing);
  const sendButton = el("button", { id: "sb-send", type: "submit" }, strings.send);
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  const file = el("input", { id: "sb-file", type: "file", accept: settings.media.types.join(","), tabindex: "-1" });
  file.hidden = true;
  file.addEventListener("change", () => attach(file));
  const attachButton = el("button", { type: "button", id: "sb-attach", class: "icon attach", "aria-label": strings.attach, "aria-describedby": "sb-limits" }, "+");
  attachButton.addEventListener("click", () => file.click());
  composer.append(attachButton, file, input, sendButton);
  const limits = el("p", { id: "sb-limits", class: "hint" }, limitsText());
  const tools = el("div", { class: "tools" });
  const end = el("button", { type: "button", id: "sb-end" }, strings.end);
  end.addEventListener("click", endChat);
  const download = el("button", { type: "button", id: "sb-transcript" }, strings.transcript);
  download.addEventListener("click", transcript);
  tools.append(download, end);
  const problem = el("p", { id: "sb-chat-error", class: "error", role: "alert" });
  chat.append(more, log, typingLine, problem, composer, limits, tools);
  const over = el("section", { id: "sb-ended" });
  over.hidden = true;
  const again = el("button", { type: "button" }, strings.again);
  again.addEventListener("click", () => {
    shown.clear();
    members.clear();
    reachable.clear();
    showPresence();
    myHorizon = theirHorizon = toldUnread = -1;
    $("sb-log").replaceChildren();
    lastSeq = loadedUpTo = -1;
    showForm();
  });
  over.append(el("p", {}, strings.ended), again);
  const elsewhere = el("section", { id: "sb-away" });
  elsewhere.hidden = true;
  const back = el("button", { type: "button" }, strings.back);
  back.addEventListener("click", comeBack);
  elsewhere.append(el("p", {}, strings.away), back);
  const main = el("main");
  main.append(offline, form, chat, over, elsewhere);
  document.body.append(header, main);
}

window.addEventListener("message", (event: MessageEvent) => {
  if (event.origin !== parentOrigin || event.source !== window.parent) return;
  const data = event.data as { v?: number; id?: string; type?: string; kept?: string | null; who?: typeof vouched };
  if (!data || data.v !== 1 || data.id !== instance) return;
  if (data.who && typeof data.who.identity === "string" && typeof data.who.hash === "string") vouched = data.who;
  if (!ownStorage && (data.type === "open" || data.type === "closed")) start(parseKept(data.kept));
  if (data.type === "kept" && keptAnswer) {
    keptAnswer(parseKept(data.kept));
    keptAnswer = null;
  }
  if (data.type === "open") {
    visible = true;
    toldUnread = 0;
    const input = $("sb-chat").hidden ? document.querySelector("#sb-form input") : $("sb-input");
    if (input) (input as HTMLElement).focus();
    const last = [...shown.keys()].sort((a, b) => b - a)[0];
    if (last !== undefined) consumed(last);
  } else if (data.type === "closed") {
    visible = false;
    countUnread();
  } else if (data.type === "shutdown") {
    saveSession(null);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") tellParent("close");
});
window.addEventListener("offline", () => setOnline(false));
window.addEventListener("online", () => setOnline(!!socket && socket.readyState === WebSocket.OPEN));

applyTheme();
build();
// Where this frame keeps nothing itself, the loader's answer to `ready` brings what it kept;
// a chat page opened on its own (the pop-out) starts at once.
// A pop-out waits for its opener's session.
if (popout) toOpener({ type: "ready" });
else if (ownStorage || !parentOrigin || window.parent === window) start(ownStorage ? loadSession() : null);
tellParent("ready");

// A module: its names stay its own.
export {};
