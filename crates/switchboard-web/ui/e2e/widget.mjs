// The widget in real headless Chromium (Debian's, driven by playwright-core), run by the Rust
// test tests/e2e/widget.rs against the real daemon. Host pages are served here, on `localhost`,
// another origin than the daemon's 127.0.0.1, so the cross-origin iframe, the origin checks and
// frame-ancestors all run for real. Every step asserts; a failed one exits non-zero with the
// reason, and screenshots of each step go to $ARTEFACTS.
//
// Environment: DAEMON (its URL), BASIC (Authorization header value), FLOW, SERVICE, AGENT_TOKEN,
// HOST_PORT, OTHER_PORT (an origin the flow does not allow), ARTEFACTS, CHROMIUM, SCENARIO.

import { chromium } from "playwright-core";
import http from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const env = process.env;
const daemon = env.DAEMON;
const artefacts = env.ARTEFACTS;
mkdirSync(artefacts, { recursive: true });
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
}

// The Intercom-style queue a host may set up before the loader runs.
const QUEUE = `<script>window.Switchboard=function(){(Switchboard.q=Switchboard.q||[]).push(arguments)};
window.unreadSeen=[];Switchboard("on","unread",function(n){window.unreadSeen.push(n)});</script>`;

function hostPage(extraHead = "", attributes = "") {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host shop</title>${QUEUE}${extraHead}</head>
<body><main><h1>A host shop</h1><p>Products.</p></main>
<script async src="${daemon}/webchat/v1/widget.js" data-flow="${env.FLOW}"${attributes}></script></body></html>`;
}

function serveHosts() {
  const pages = {
    "/": hostPage(),
    "/left.html": hostPage("", ' data-position="left" data-color="#6b2fa3"'),
    "/hostile.html": hostPage("<style>*{font:40px serif !important;color:red !important}</style>"),
    "/identified.html": hostPage(`<script>Switchboard("identify",{identity:"${env.IDENTITY}",hash:"${env.IDENTITY_HASH}"});</script>`),
    "/embedded.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Help</title>
<script>window.Switchboard={mode:"embedded",element:"#chat"};</script></head>
<body><main><h1>Help</h1><div id="chat" style="width:400px;height:500px"></div></main>
<script async src="${daemon}/webchat/v1/widget.js" data-flow="${env.FLOW}"></script></body></html>`,
  };
  const handler = (request, response) => {
    response.setHeader("Content-Type", "text/html; charset=utf-8");
    response.end(pages[request.url.split("?")[0]] || "not found");
  };
  const servers = [Number(env.HOST_PORT), Number(env.OTHER_PORT)].map((port) =>
    http.createServer(handler).listen(port, "127.0.0.1"),
  );
  return () => servers.forEach((s) => s.close());
}

async function rest(method, path, form) {
  const response = await fetch(daemon + path, {
    method,
    headers: { Authorization: env.BASIC, "Content-Type": "application/x-www-form-urlencoded" },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  const body = await response.json();
  check(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

const agentSay = (channel, body) =>
  rest("POST", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Messages`, { From: "agent", Body: body });

async function shot(page, name) {
  await page.screenshot({ path: `${artefacts}/${env.SCENARIO}-${name}.png` });
}

/** The launcher's state, read through its (open) shadow root. */
function launcherState(page) {
  return page.evaluate(() => {
    const host = document.querySelector("[data-switchboard-chat]");
    const root = host && host.shadowRoot;
    const button = root && root.querySelector("button.l");
    if (!button) return null;
    const badge = root.querySelector(".b");
    const box = button.getBoundingClientRect();
    const style = getComputedStyle(button);
    return {
      badge: badge.hidden ? "" : badge.textContent,
      focused: root.activeElement === button,
      expanded: button.getAttribute("aria-expanded"),
      width: box.width,
      height: box.height,
      font: style.fontFamily + " " + style.fontSize,
      color: style.color,
    };
  });
}

async function waitFor(what, probe, timeout = 10000) {
  const until = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    check(Date.now() < until, "timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launcher(page) {
  return waitFor("the launcher", () => launcherState(page));
}

const bodies = (chat) => chat.locator("#sb-log .msg .body").allTextContents();
/** Each message as the visitor sees it: its body, else its medium's name. */
const entries = (chat) =>
  chat.locator("#sb-log .msg").evaluateAll((items) =>
    items.map((m) => {
      const what = m.querySelector(".body, .media, .file");
      return what.tagName === "IMG" ? what.alt : what.classList.contains("file") ? what.textContent.replace(/ \(.*\)$/, "") : what.textContent;
    }),
  );

/** A 1×1 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");

/** The agent uploads a medium over REST (the account's credentials) and sends it. */
async function agentSendsMedia(channel, filename, type, bytes) {
  const query = new URLSearchParams({ ChannelSid: channel, Filename: filename });
  const response = await fetch(`${daemon}/chat/v2/Services/${env.SERVICE}/Media?${query}`, {
    method: "POST",
    headers: { Authorization: env.BASIC, "Content-Type": type },
    body: bytes,
  });
  const medium = await response.json();
  check(response.status === 201, "the agent's upload: " + JSON.stringify(medium));
  await rest("POST", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Messages`, { From: "agent", MediaSid: medium.sid });
}

/** The visitor's messages are marked read when the agent reads them; the agent sees how far the
 * visitor read through the member's consumption index. */
async function readReceipts(frame, agent, channel) {
  const messages = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Messages`)).messages;
  const visitors = messages.find((m) => m.body === "hello from the visitor");
  check(!(await frame.locator(".msg.mine .receipt", { hasText: "Read" }).count()), "nothing is marked read before the agent reads");
  await agent.evaluate(([channel, index]) => window.agent.send(JSON.stringify({ type: "consumed", channel_sid: channel, index })), [channel, visitors.index]);
  await frame.locator(".msg.mine .receipt", { hasText: "Read" }).waitFor();
  const last = messages[messages.length - 1];
  await waitFor("the visitor's read position at the agent", async () => {
    const listed = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Members`)).members;
    const visitor = listed.find((m) => m.identity !== "agent");
    return visitor.last_consumed_message_index === last.index;
  });
}

/** The visitor sees the upload limits, is refused a file over them before any upload, sends a
 * picture the agent fetches over REST, and sees the agent's picture inline and file as a link. */
async function attachments(page, frame, channel) {
  const limits = await frame.locator("#sb-limits").textContent();
  check(limits.includes("1 MB") && limits.includes("image"), "the limits are shown: " + limits);
  const uploads = [];
  page.on("request", (r) => r.url().includes("/Media?") && uploads.push(r.url()));
  const file = frame.locator("#sb-file");
  await file.setInputFiles({ name: "big.png", mimeType: "image/png", buffer: Buffer.alloc(1048577) });
  await frame.locator("#sb-chat-error", { hasText: "larger than 1 MB" }).waitFor();
  await file.setInputFiles({ name: "tool.exe", mimeType: "application/x-msdownload", buffer: Buffer.from("MZ") });
  await frame.locator("#sb-chat-error", { hasText: "cannot be sent" }).waitFor();
  check(uploads.length === 0, "nothing over the limits was uploaded: " + uploads);
  await file.setInputFiles({ name: "photo.png", mimeType: "image/png", buffer: PNG });
  const mine = frame.locator('.msg.mine img.media[alt="photo.png"]');
  await waitFor("the visitor's picture shown", () => mine.evaluate((img) => img.complete && img.naturalWidth === 1).catch(() => false));
  const listed = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Messages`)).messages;
  const sent = listed.find((m) => m.media && m.media.filename === "photo.png");
  check(sent, "the agent sees the visitor's picture: " + JSON.stringify(listed.map((m) => m.media)));
  const content = await fetch(`${daemon}/chat/v2/Services/${env.SERVICE}/Media/${sent.media.sid}/Content`, { headers: { Authorization: env.BASIC } });
  check(Buffer.from(await content.arrayBuffer()).equals(PNG), "the agent gets the visitor's bytes");
  await agentSendsMedia(channel, "agent.png", "image/png", PNG);
  const theirs = frame.locator('.msg.theirs img.media[alt="agent.png"]');
  await waitFor("the agent's picture inline", () => theirs.evaluate((img) => img.complete && img.naturalWidth === 1).catch(() => false));
  const notes = "Opening hours: 9 to 5.\n";
  await agentSendsMedia(channel, "notes.txt", "text/plain", Buffer.from(notes));
  const link = frame.locator(".msg.theirs a.file", { hasText: "notes.txt" });
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  check(readFileSync(await download.path(), "utf8") === notes, "the agent's file downloads as sent");
  await shot(page, "9b-attachments");
}

/** The pop-out takes the chat over with its history; closing it brings the chat back to the
 * frame, which shows what was written meanwhile. */
async function popOut(context, frame) {
  const before = await entries(frame);
  const [popup] = await Promise.all([context.waitForEvent("page"), frame.locator("#sb-popout").click()]);
  await popup.locator("#sb-input").waitFor();
  // A new window loads the chat and its history from scratch: under the whole suite's load on two
  // cores that has taken past 10 s.
  await waitFor("the pop-out's history", async () => JSON.stringify(await entries(popup)) === JSON.stringify(before), 30000);
  await frame.locator("#sb-away").waitFor();
  await popup.locator("#sb-input").fill("from the pop-out");
  await popup.locator("#sb-input").press("Enter");
  await popup.locator(".msg.mine .body", { hasText: "from the pop-out" }).waitFor();
  await shot(popup, "11-popout");
  await popup.close();
  await frame.locator(".msg.mine .body", { hasText: "from the pop-out" }).waitFor();
  check(await frame.locator("#sb-away").isHidden(), "the chat is back in the frame");
  const after = await entries(frame);
  check(JSON.stringify(after) === JSON.stringify([...before, "from the pop-out"]), "once, in order: " + after);
  return after;
}

/** Another tab of the site renews the session twice (two loads), spending the refresh token
 * this tab holds; this tab's next renewal takes the one the loader keeps now, so nothing is
 * reused and the session goes on (a reuse would revoke it and show the form). */
async function anotherTab(context, page, frame, channel, sockets) {
  const mine = sockets[sockets.length - 1];
  const other = await context.newPage();
  for (let load = 0; load < 2; load++) {
    if (load) await other.reload();
    else await other.goto(`http://localhost:${env.HOST_PORT}/`);
    await launcher(other);
    await waitFor("the other tab's chat", async () => (await bodies(other.frameLocator('iframe[title="Chat"]'))).length > 0);
  }
  await other.close();
  const count = sockets.length;
  mine.close({ code: 4000, reason: "dropped by the test" });
  await waitFor("the reconnection", async () => sockets.length > count);
  await agentSay(channel, "after the other tab");
  await frame.locator(".msg.theirs .body", { hasText: "after the other tab" }).waitFor();
  check(await frame.locator("#sb-form").isHidden(), "the session goes on");
  await shot(page, "9c-other-tab");
}

/** The transcript the visitor downloads holds every message, in order. */
async function transcript(page, frame, shownEntries) {
  const [download] = await Promise.all([page.waitForEvent("download"), frame.locator("#sb-transcript").click()]);
  const lines = readFileSync(await download.path(), "utf8").trimEnd().split("\n");
  check(lines.length === shownEntries.length, "one line a message: " + JSON.stringify(lines));
  check(lines[0] === "You: hello from the visitor", "the first line: " + lines[0]);
  check(lines.every((line, i) => line.endsWith(": " + shownEntries[i])), "the transcript is the chat: " + JSON.stringify(lines));
}

async function axe(frame, page, name) {
  await frame.evaluate(AXE);
  const result = await frame.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"], iframes: false }).then((r) => r.violations),
  );
  const serious = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(serious.length === 0, `${name}: axe found ${JSON.stringify(serious.map((v) => [v.id, v.nodes.map((n) => n.target)]))}`);
  return result.length;
}

async function agentSocket(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(daemon + "/healthz");
  await page.evaluate((token) => {
    window.frames_ = [];
    window.agent = new WebSocket(location.origin.replace("http", "ws") + "/ws");
    window.agent.onopen = () => window.agent.send(JSON.stringify({ type: "auth", token }));
    window.agent.onmessage = (e) => window.frames_.push(JSON.parse(e.data));
  }, env.AGENT_TOKEN);
  await waitFor("the agent's socket", () => page.evaluate(() => window.frames_.some((f) => f.type === "ready")));
  return page;
}

async function chatScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  const alerts = [];
  page.on("dialog", (d) => {
    alerts.push(d.message());
    d.dismiss();
  });
  // Every socket of the chat goes through here, so that the test can drop one and hold the
  // next one's authentication until the agent has written.
  const sockets = [];
  let holdAuth = null;
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push(ws);
    ws.onMessage(async (message) => {
      if (holdAuth && String(message).includes('"auth"')) await holdAuth;
      server.send(message);
    });
  });
  await page.goto(`http://localhost:${env.HOST_PORT}/`);
  const before = await launcher(page);
  check(before.badge === "" && before.expanded === "false", "a closed launcher, no badge");
  check(!(await page.locator("iframe").count()), "no iframe before the visitor engages");
  await shot(page, "1-launcher");

  // The visitor opens the chat and fills the form.
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  const frame = page.frameLocator('iframe[title="Chat"]');
  await frame.locator("#sb-f-friendly_name").fill("Ada Visitor");
  // The browser holds the form back without the required consent (the server checks it too).
  await frame.locator("#sb-form button[type=submit]").click();
  check(await frame.locator("#sb-f-privacy:invalid").count(), "the consent is required");
  check(await frame.locator("#sb-form").isVisible(), "no session without the consent");
  await frame.locator("#sb-f-privacy").check();
  await shot(page, "2-form");
  await frame.locator("#sb-form button[type=submit]").click();
  await frame.locator("#sb-input").fill("hello from the visitor");
  await frame.locator("#sb-input").press("Enter");
  await frame.locator(".msg.mine .body", { hasText: "hello from the visitor" }).waitFor();
  await shot(page, "3-sent");

  // The agent finds the chat over REST and sees the message.
  const channels = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels?Type=private`)).channels;
  const chat = channels.find((c) => c.friendly_name === "Ada Visitor");
  check(chat, "the agent finds the visitor's chat: " + JSON.stringify(channels));
  const channel = chat.sid;
  const seen = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Messages`)).messages;
  check(seen.some((m) => m.body === "hello from the visitor"), "the agent sees the visitor's message");

  // The agent joins, types (the visitor sees it), and replies.
  await rest("POST", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Members`, { Identity: "agent" });
  const agent = await agentSocket(browser);
  await agent.evaluate((channel) => window.agent.send(JSON.stringify({ type: "typing", channel_sid: channel })), channel);
  await frame.locator("#sb-typing", { hasText: "typing" }).waitFor();
  await shot(page, "4-typing");
  // The visitor's typing reaches the agent (sent at most every 3 s: the visitor keeps typing).
  await waitFor("the visitor's typing at the agent", async () => {
    await frame.locator("#sb-input").pressSequentially("a");
    return agent.evaluate((channel) => window.frames_.some((f) => f.type === "typing" && f.channel_sid === channel), channel);
  });
  await frame.locator("#sb-input").fill("");
  await agentSay(channel, "Hi Ada, how can I help?");
  await frame.locator(".msg.theirs .body", { hasText: "Hi Ada, how can I help?" }).waitFor();

  // A body that is HTML is shown as text.
  const xss = "<img src=x onerror=alert(1)>";
  await agentSay(channel, xss);
  await frame.locator(".msg.theirs .body", { hasText: xss }).waitFor();
  check((await frame.locator("#sb-log img").count()) === 0, "no img element in the log");
  await readReceipts(frame, agent, channel);
  await shot(page, "5-reply");
  const violations = await axe(page.frames().find((f) => f.url().includes("/webchat/v1/chat.html")), page, "chat");

  // Esc closes the chat and gives the focus back to the launcher; the badge counts.
  await frame.locator("#sb-input").press("Escape");
  const closed = await waitFor("the chat to close", async () => {
    const s = await launcherState(page);
    return s.expanded === "false" && s;
  });
  check(closed.focused, "focus is back on the launcher after Esc");
  await agentSay(channel, "are you there?");
  await agentSay(channel, "one more thing");
  await waitFor("the badge to count 2", async () => (await launcherState(page)).badge === "2");
  const told = await page.evaluate(() => window.unreadSeen);
  check(told[told.length - 1] === 2, "on('unread') was told 2: " + JSON.stringify(told));
  await shot(page, "6-badge");
  await axe(page.mainFrame(), page, "host page with the launcher");

  // Keyboard only: Enter on the focused launcher opens the chat, its input takes the focus.
  await page.keyboard.press("Enter");
  await waitFor("the chat to open", async () => (await launcherState(page)).expanded === "true");
  check((await launcherState(page)).badge === "", "opening clears the badge");
  await frame.locator("#sb-input:focus").waitFor();
  await page.keyboard.type("typed with the keyboard");
  await page.keyboard.press("Enter");
  await frame.locator(".msg.mine .body", { hasText: "typed with the keyboard" }).waitFor();

  // Closed again, a message comes; a reload restores the badge's count and the history without
  // the form.
  await frame.locator("#sb-input").press("Escape");
  await waitFor("the chat to close", async () => (await launcherState(page)).expanded === "false");
  await agentSay(channel, "sent while the chat was closed");
  await waitFor("the badge to count 1", async () => (await launcherState(page)).badge === "1");
  const expected = await bodies(frame);
  check(expected[expected.length - 1] === "sent while the chat was closed", "the closed chat has it: " + expected);
  await page.reload();
  await launcher(page);
  await waitFor("the badge to count 1 after the reload", async () => (await launcherState(page)).badge === "1");
  await shot(page, "7-reloaded-badge");
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  await waitFor("the history", async () => (await bodies(frame)).length === expected.length).catch(async (e) => {
    await shot(page, "7-reload-failed");
    throw new Error(e.message + ": " + JSON.stringify(await bodies(frame)) + " vs " + JSON.stringify(expected));
  });
  check(await frame.locator("#sb-form").isHidden(), "no form after a reload");
  check(JSON.stringify(await bodies(frame)) === JSON.stringify(expected), "the same history after a reload");
  await shot(page, "7-reloaded");

  // The socket drops; the agent writes twice before the chat is back; both appear once, in order.
  await frame.locator("#sb-send:not([disabled])").waitFor();
  let release;
  holdAuth = new Promise((r) => (release = r));
  const count = sockets.length;
  sockets[count - 1].close({ code: 4000, reason: "dropped by the test" });
  await frame.locator("#sb-offline").waitFor({ state: "visible" });
  await shot(page, "8-offline");
  await waitFor("the reconnection", async () => sockets.length > count);
  await agentSay(channel, "first while you were away");
  await agentSay(channel, "second while you were away");
  release();
  const after = [...expected, "first while you were away", "second while you were away"];
  await waitFor("the back-fill", async () => (await bodies(frame)).length >= after.length);
  await new Promise((r) => setTimeout(r, 500));
  check(JSON.stringify(await bodies(frame)) === JSON.stringify(after), "back-filled once, in order: " + JSON.stringify(await bodies(frame)));
  check(await frame.locator("#sb-offline").isHidden(), "the offline banner is gone");
  await shot(page, "9-backfilled");
  await attachments(page, frame, channel);
  await anotherTab(context, page, frame, channel, sockets);
  await transcript(page, frame, await entries(frame));
  const shownEntries = await popOut(context, frame);

  // The visitor ends the chat.
  await frame.locator("#sb-end").click();
  await frame.locator("#sb-ended").waitFor();
  await shot(page, "10-ended");
  check(alerts.length === 0, "no script ran from a message: " + alerts.join());
  // shutdown removes the widget and what it kept on the host.
  await page.evaluate(() => window.Switchboard("shutdown"));
  check((await page.locator("[data-switchboard-chat]").count()) === 0, "shutdown removes the widget");
  const keys = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("switchboard")));
  check(keys.length === 0, "shutdown leaves nothing in the host's storage: " + JSON.stringify(keys));
  await agent.context().close();
  await context.close();
  return { channel, messages: shownEntries, axe_minor_violations: violations };
}

async function notAllowedScenario(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const refused = [];
  page.on("response", (r) => r.url().includes("/webchat/v1/chat.html") && refused.push(r.status()));
  await page.goto(`http://localhost:${env.OTHER_PORT}/`);
  await launcher(page);
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  await waitFor("the chat page's answer", async () => refused.length > 0);
  await new Promise((r) => setTimeout(r, 1000));
  const chat = page.frames().find((f) => f.url().includes("/webchat/v1/chat.html"));
  const hasForm = chat ? await chat.locator("#sb-form").count() : 0;
  check(hasForm === 0, "no chat form on a host the flow does not allow");
  await shot(page, "refused");
  await context.close();
  return { chat_page_status: refused[0] };
}

async function cssScenario(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://localhost:${env.HOST_PORT}/`);
  const plain = await launcher(page);
  await page.goto(`http://localhost:${env.HOST_PORT}/hostile.html`);
  const hostile = await launcher(page);
  await shot(page, "hostile-css");
  const heading = await page.evaluate(() => getComputedStyle(document.querySelector("h1")).fontSize);
  check(heading === "40px", "the host's CSS applies to the host: " + heading);
  for (const key of ["width", "height", "font", "color"])
    check(plain[key] === hostile[key], `launcher ${key}: ${plain[key]} vs ${hostile[key]}`);
  // On a narrow screen the open chat fills it.
  await page.setViewportSize({ width: 375, height: 667 });
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  const box = await page.locator('iframe[title="Chat"]').boundingBox();
  check(box && box.width === 375 && box.height === 667, "full screen on a phone: " + JSON.stringify(box));
  await shot(page, "phone");
  // Embedded in an element: no launcher, the chat fills the element.
  await page.setViewportSize({ width: 1000, height: 760 });
  await page.goto(`http://localhost:${env.HOST_PORT}/embedded.html`);
  const frameBox = await waitFor("the embedded chat", () => page.locator('#chat iframe[title="Chat"]').boundingBox());
  check(frameBox.width === 400 && frameBox.height === 500, "the chat fills its element: " + JSON.stringify(frameBox));
  check((await launcherState(page)) === null, "no launcher when embedded");
  await page.frameLocator('iframe[title="Chat"]').locator("#sb-f-friendly_name").waitFor();
  await shot(page, "embedded");
  await context.close();
  return { launcher: plain, themed: await themeAndLocale(browser) };
}

/** The flow's theme (CSS variables) and its strings for the browser's locale; the launcher's
 * place and colour from the host's tag. */
async function themeAndLocale(browser) {
  const context = await browser.newContext({ locale: "fr-FR", viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  await page.goto(`http://localhost:${env.HOST_PORT}/embedded.html`);
  const frame = page.frameLocator('iframe[title="Chat"]');
  await frame.locator("#sb-f-friendly_name").waitFor();
  const seen = await frame.locator("body").evaluate(() => {
    const header = getComputedStyle(document.querySelector("header"));
    const button = document.querySelector("#sb-form button[type=submit]");
    return {
      title: document.querySelector("h1").textContent,
      start: button.textContent,
      header: header.backgroundColor,
      font: getComputedStyle(document.body).fontFamily,
      radius: getComputedStyle(button).borderTopLeftRadius,
    };
  });
  const expected = { title: "Discutons", start: "Commencer", header: "rgb(107, 47, 163)", font: "Georgia, serif", radius: "2px" };
  check(JSON.stringify(seen) === JSON.stringify(expected), "theme and strings: " + JSON.stringify(seen));
  await shot(page, "theme-fr");
  await page.goto(`http://localhost:${env.HOST_PORT}/left.html`);
  const left = await waitFor("the launcher", () =>
    page.evaluate(() => {
      const button = document.querySelector("[data-switchboard-chat]")?.shadowRoot?.querySelector("button.l");
      return button && { left: button.getBoundingClientRect().left, color: getComputedStyle(button).backgroundColor };
    }),
  );
  check(left.left === 20 && left.color === "rgb(107, 47, 163)", "the launcher on the left, in the host's colour: " + JSON.stringify(left));
  await context.close();
  return seen;
}

/** The visitor fills the form (name and consent) and starts the chat. */
async function startChat(frame, name) {
  await frame.locator("#sb-f-friendly_name").fill(name);
  await frame.locator("#sb-f-privacy").check();
  await frame.locator("#sb-form button[type=submit]").click();
  await frame.locator("#sb-input").waitFor();
}

/** A visitor the host identifies comes back to its long-lived chat: the earlier interaction is
 * shown, marked as such, a page at a time. */
async function earlierScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  await page.goto(`http://localhost:${env.HOST_PORT}/identified.html`);
  await launcher(page);
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  const frame = page.frameLocator('iframe[title="Chat"]');
  await startChat(frame, "Iris Returning");
  await frame.locator("#sb-input").fill("first visit");
  await frame.locator("#sb-input").press("Enter");
  await frame.locator(".msg.mine .body", { hasText: "first visit" }).waitFor();
  const channels = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels?Type=private`)).channels;
  const channel = channels.find((c) => c.friendly_name === "Iris Returning").sid;
  for (let i = 1; i <= 24; i++) await agentSay(channel, "old reply " + i);
  await frame.locator(".msg.theirs .body", { hasText: "old reply 24" }).waitFor();
  check(!(await frame.locator(".msg.earlier").count()), "nothing is earlier during the first visit");
  await frame.locator("#sb-end").click();
  await frame.locator("#sb-ended button").click();
  await startChat(frame, "Iris Returning");
  // The latest page only, every message of it from the earlier interaction.
  await waitFor("the latest page", async () => (await frame.locator(".msg").count()) === 20);
  check((await frame.locator(".msg.earlier").count()) === 20, "the earlier interaction is marked");
  check((await bodies(frame))[19] === "old reply 24", "the page ends with the latest: " + (await bodies(frame)));
  check(await frame.locator("#sb-more").isVisible(), "older messages can be asked for");
  await shot(page, "earlier-page");
  await frame.locator("#sb-more").click();
  await waitFor("the page before", async () => (await frame.locator(".msg").count()) === 25);
  const all = await bodies(frame);
  check(all[0] === "first visit" && all[24] === "old reply 24", "in order: " + all);
  check(await frame.locator("#sb-more").isHidden(), "nothing older");
  await frame.locator("#sb-input").fill("second visit");
  await frame.locator("#sb-input").press("Enter");
  await frame.locator(".msg.mine:not(.earlier) .body", { hasText: "second visit" }).waitFor();
  check((await frame.locator(".msg.earlier").count()) === 25, "the new message is not earlier");
  await shot(page, "earlier-all");
  await context.close();
  return { channel };
}

/** A message the visitor sends after the socket opened but before it said `ready` waits in the
 * input (the server might yet refuse the socket's token, and the message would go with it), and
 * goes once, as soon as `ready` comes. The socket's authentication is held here to make the window
 * as wide as a slow network would. */
async function earlyScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  let authSeen = false;
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage(async (message) => {
      if (String(message).includes('"auth"')) {
        authSeen = true;
        await held;
      }
      server.send(message);
    });
  });
  await page.goto(`http://localhost:${env.HOST_PORT}/`);
  await launcher(page);
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  const frame = page.frameLocator('iframe[title="Chat"]');
  await startChat(frame, "Early Visitor");
  // The socket is open and has sent its authentication, which the server has not had yet.
  await waitFor("the widget's socket to authenticate", () => authSeen, 30000);
  await frame.locator("#sb-input").fill("sent before ready");
  await frame.locator("#sb-input").press("Enter");
  check((await frame.locator("#sb-input").inputValue()) === "sent before ready", "the message waits in the input until the socket is ready");
  check(!(await frame.locator("#sb-log .msg.mine").count()), "nothing is shown as sent before the socket is ready");
  await shot(page, "early-1-waiting");
  release();
  await frame.locator(".msg.mine .body", { hasText: "sent before ready" }).waitFor({ timeout: 30000 });
  check((await frame.locator("#sb-input").inputValue()) === "", "the input is cleared once the message went");
  await shot(page, "early-2-sent");
  const channels = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels?Type=private`)).channels;
  const chat = channels.find((c) => c.friendly_name === "Early Visitor");
  check(chat, "the visitor's chat: " + JSON.stringify(channels));
  await context.close();
  return { channel: chat.sid };
}

/** Whether an agent is there, as the visitor sees it (the service keeps reachability, as the
 * first start makes it): nothing before an agent joined; "away" once one without a socket joins
 * (told on the join); "here" once its socket opens (told a second later); on a fresh load "here"
 * again, which only the state told after the resume can say (nothing changed meanwhile); "away"
 * once that socket closed; nothing once the agent left; nothing on a load after the service's
 * reachability was turned off. */
async function presenceScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  const open = async () => {
    await launcher(page);
    await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  };
  await page.goto(`http://localhost:${env.HOST_PORT}/`);
  await open();
  const frame = page.frameLocator('iframe[title="Chat"]');
  await startChat(frame, "Pia Present");
  const presence = frame.locator("#sb-presence");
  await frame.locator("#sb-send:not([disabled])").waitFor();
  const channels = (await rest("GET", `/chat/v2/Services/${env.SERVICE}/Channels?Type=private`)).channels;
  const channel = channels.find((c) => c.friendly_name === "Pia Present").sid;
  await agentSay(channel, "before anyone joined");
  await frame.locator(".msg.theirs .body", { hasText: "before anyone joined" }).waitFor();
  check(await presence.isHidden(), "nothing before an agent joined: " + (await presence.textContent()));
  await rest("POST", `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Members`, { Identity: "agent" });
  await frame.locator("#sb-presence.gone", { hasText: "Agent is away" }).waitFor();
  let agent = await agentSocket(browser);
  await frame.locator("#sb-presence.here", { hasText: "Agent is here" }).waitFor();
  check((await presence.getAttribute("role")) === "status" && (await presence.getAttribute("aria-live")) === "polite", "a polite status region");
  await shot(page, "1-here");
  await axe(page.frames().find((f) => f.url().includes("/webchat/v1/chat.html")), page, "chat with presence");

  // A fresh load knows the state now, with no change to tell it.
  await page.reload();
  await open();
  await frame.locator("#sb-presence", { hasText: "Agent is here" }).waitFor();
  await shot(page, "2-here-after-reload");

  // The agent's socket closes: away; it comes back: here.
  await agent.context().close();
  await frame.locator("#sb-presence.gone", { hasText: "Agent is away" }).waitFor();
  await shot(page, "3-away");
  agent = await agentSocket(browser);
  await frame.locator("#sb-presence", { hasText: "Agent is here" }).waitFor();

  // The agent leaves (its joining was before this load's page, which named it): nobody is said
  // to be there. It joins again.
  const members = `/chat/v2/Services/${env.SERVICE}/Channels/${channel}/Members`;
  const member = (await rest("GET", members)).members.find((m) => m.identity === "agent");
  const left = await fetch(`${daemon}${members}/${member.sid}`, { method: "DELETE", headers: { Authorization: env.BASIC } });
  check(left.status === 204, "the agent leaves: " + left.status);
  await waitFor("nobody said to be there", () => presence.isHidden());
  await rest("POST", members, { Identity: "agent" });
  await frame.locator("#sb-presence", { hasText: "Agent is here" }).waitFor();

  // Reachability off: nothing, though the agent is there. The agent's message comes after the
  // resume, which would have told the state before it.
  await rest("POST", `/chat/v2/Services/${env.SERVICE}`, { ReachabilityEnabled: "false" });
  await page.reload();
  await open();
  await frame.locator("#sb-send:not([disabled])").waitFor();
  await agentSay(channel, "after reachability went off");
  await frame.locator(".msg.theirs .body", { hasText: "after reachability went off" }).waitFor();
  check(await presence.isHidden(), "nothing without reachability: " + (await presence.textContent()));
  await shot(page, "4-off");
  await agent.context().close();
  await context.close();
  return { channel };
}

const scenarios = { chat: chatScenario, presence: presenceScenario, earlier: earlierScenario, early: earlyScenario, "not-allowed": notAllowedScenario, css: cssScenario };
const stop = serveHosts();
const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
let code = 0;
try {
  const report = await scenarios[env.SCENARIO](browser);
  console.log(JSON.stringify({ scenario: env.SCENARIO, passed: true, ...report }));
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  code = 1;
} finally {
  await browser.close();
  stop();
}
process.exit(code);
