// The console's agent view in real headless Chromium (Debian's, driven by playwright-core), run
// by the Rust test tests/e2e/console_agent.rs against the real daemon, in two browser contexts:
// a customer on the webchat widget (the daemon's demo page) and an agent on the console. The
// customer writes; the agent, made available, gets the offer with its time left, accepts, sees
// the history and the pre-engagement data, sees the customer typing and is seen typing, replies
// (a body that is HTML stays text); the customer sees the reply and the agent sees it read; the
// console's socket drops and it resumes what the customer wrote meanwhile, once. A
// third context, a second agent: the first transfers the chat to them, warm; they accept and see
// the history; the first wraps up and completes, the channel stays active; the second replies,
// the customer closes the page and the second agent sees them go offline (online until then, in
// each agent's view, after the socket's drop too), and their wrap-up makes the channel INACTIVE.
// Then an SMS customer (no socket: nothing said of their presence) writes a long conversation
// (Twilio-signed webhooks, as the provider posts them): the agent accepts with the keyboard,
// sees only the newest page, scrolls back to the start, and replies; the provider refuses the
// first delivery, the console shows its error and sends it again (the Rust side finds both at
// the fake provider); then it sends an image and opens it. The SMS flow is long-lived: after
// wrap-up the customer's next message is a new interaction in the same channel, the earlier
// ones marked; the agent transfers it cold to a queue: out at once, the channel still active.
// An agent's page cannot read the admin endpoints. No page error, no CSP violation, no serious
// axe finding; screenshots of each view go to $ARTEFACTS.
//
// Environment: DAEMON, USERNAME, SECOND (the second agent), PASSWORD, AUTH_TOKEN (to sign
// webhooks), SMS_FROM, SMS_TO, SMS_COUNT, ARTEFACTS, CHROMIUM.

import { chromium } from "playwright-core";
import { axe, check, launchChromium, runScenario, screenshots, twilioSignature, watch } from "./console-common.mjs";

const env = process.env;
const shot = screenshots("agent");

async function customerWrites(browser, problems) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  watch(page, problems);
  await page.goto(env.DAEMON + "/");
  await page.waitForFunction(() => document.querySelector("[data-switchboard-chat]")?.shadowRoot?.querySelector("button.l"));
  await page.evaluate(() => document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector("button.l").click());
  const chat = page.frameLocator('iframe[title="Chat"]');
  await chat.locator("#sb-f-friendly_name").fill("Ada Visitor");
  await chat.locator("#sb-form button[type=submit]").click();
  await chat.locator("#sb-input").fill("hello from the visitor");
  await chat.locator("#sb-input").press("Enter");
  await chat.locator(".msg.mine .body", { hasText: "hello from the visitor" }).waitFor();
  return { page, chat };
}

async function agentSignsIn(browser, problems, username = env.USERNAME) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Every socket of the console goes through here, so that the test can drop one.
  const sockets = [];
  await context.routeWebSocket(/\/ws$/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  const page = await context.newPage();
  page.sockets = sockets;
  // Before the sign-in /console/me is 401, and the admin endpoint probed below 403, by design.
  watch(page, problems, ["/console/me", "/admin/v1/People"]);
  await page.goto(env.DAEMON + "/console");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(env.PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Availability").waitFor();
  await page.locator("#activity:not([disabled])").waitFor();
  const admin = await page.evaluate(async () => (await fetch("/admin/v1/People")).status);
  check(admin === 403, "an agent's page reads no admin endpoint: " + admin);
  return page;
}

async function acceptsTheWebChat(agent, customer) {
  await agent.getByRole("heading", { name: "Incoming" }).waitFor();
  check((await agent.locator("#incoming .offer").count()) === 0, "no offer while offline");
  await axe(agent, "agent view, idle");
  await shot(agent, "0-idle");
  await agent.getByLabel("Availability").selectOption({ label: "Available" });
  const offer = agent.locator("#incoming .offer", { has: agent.locator(".badge", { hasText: "Web" }) });
  await offer.waitFor();
  const left = await offer.locator(".time-left").textContent();
  const seconds = Number(/^(\d+)s left to answer$/.exec(left)?.[1]);
  check(seconds > 0 && seconds <= 120, "the time left is shown: " + left);
  await axe(agent, "agent view with an offer");
  await shot(agent, "1-offer");
  await offer.getByRole("button", { name: "Accept" }).click();
  const item = agent.locator("#conversations button.conversation", { hasText: "Ada Visitor" });
  await item.waitFor();
  check((await item.locator(".badge").textContent()) === "Web", "the web badge");
  // The customer's message is unanswered: the list says how long they have waited.
  await item.locator(".waiting", { hasText: /^waiting \d/ }).waitFor();
  await item.click();
  await agent.locator("#history .msg.theirs .body", { hasText: "hello from the visitor" }).waitFor();
  // The customer has the widget open: online, in the list and beside their details.
  await agent.locator("#customer-presence .presence.online", { hasText: "Online" }).waitFor();
  await item.locator(".presence", { hasText: "Online" }).waitFor();
  await agent.locator("#pre-engagement dd", { hasText: "Ada Visitor" }).waitFor();
  check((await agent.locator("#task-attributes dt", { hasText: "channelSid" }).count()) === 1, "the task's attributes are shown");
  check((await agent.locator("#channel-status").textContent()) === "ACTIVE", "an active channel");
  // Typing both ways.
  // The widget tells typing at most every 3 s: the customer keeps typing until the agent sees it.
  const seen = agent.locator(".typing", { hasText: "Ada Visitor is typing" });
  for (let i = 0; i < 60 && !(await seen.count()); i++) {
    await customer.chat.locator("#sb-input").pressSequentially("a");
    await agent.waitForTimeout(100);
  }
  await seen.waitFor();
  await customer.chat.locator("#sb-input").fill("");
  await agent.locator("#reply").pressSequentially("Hi Ada");
  await customer.chat.locator("#sb-typing", { hasText: "typing" }).waitFor();
  await shot(agent, "2-conversation");
  await axe(agent, "agent view with a conversation");
}

async function replies(agent, customer) {
  await agent.locator("#reply").fill("Hi Ada, this is Alice.");
  await agent.locator("#reply").press("Enter");
  await customer.chat.locator(".msg.theirs .body", { hasText: "Hi Ada, this is Alice." }).waitFor();
  // Answered: no longer waiting.
  await agent.locator("#conversations button.conversation .waiting").waitFor({ state: "detached" });
  const xss = "<img src=x onerror=alert(1)>";
  await agent.locator("#reply").fill(xss);
  await agent.getByRole("button", { name: "Send" }).click();
  await agent.locator("#history .msg.mine .body", { hasText: xss }).waitFor();
  check((await agent.locator("#history img").count()) === 0, "a body is text, never HTML");
  await customer.chat.locator(".msg.theirs .body", { hasText: xss }).waitFor();
  // The customer has the chat open: the agent sees the reply read.
  await agent.locator("#history .msg.mine .status", { hasText: "Seen" }).last().waitFor();
  await shot(customer.page, "3-customer-sees-the-reply");
  await shot(agent, "3-replied");
  // The console's socket drops; the customer writes meanwhile; the console reconnects with a new
  // token, resumes the channel and shows the message once.
  const count = agent.sockets.length;
  agent.sockets[count - 1].close({ code: 4000, reason: "dropped by the test" });
  await agent.locator("#connection", { hasText: "reconnecting" }).waitFor();
  await customer.chat.locator("#sb-input").fill("are you still there?");
  await customer.chat.locator("#sb-input").press("Enter");
  await agent.locator("#activity:not([disabled])").waitFor();
  check(agent.sockets.length === count + 1, "one new socket");
  await agent.locator("#history .msg.theirs .body", { hasText: "are you still there?" }).waitFor();
  await agent.locator("#customer-presence", { hasText: "Online" }).waitFor();
  await agent.waitForTimeout(300);
  const bodies = await agent.locator("#history .msg .body").allTextContents();
  check(bodies.filter((b) => b === "are you still there?").length === 1, "resumed once: " + JSON.stringify(bodies));
}

/** Waits until `page`'s /console/agent says the other agent `name` is available or not. */
async function agentIs(page, name, available) {
  const until = Date.now() + 10000;
  for (;;) {
    const agents = await page.evaluate(async () => (await (await fetch("/console/agent")).json()).agents);
    if (agents.some((a) => a.friendly_name === name && a.available === available)) return;
    check(Date.now() < until, `${name} never became ${available ? "available" : "unavailable"}`);
    await page.waitForTimeout(100);
  }
}

/** Alice hands the chat to Bob, warm: she stays until he accepts, then wraps up and completes;
 * the channel stays active for Bob, whose wrap-up ends the interaction. */
async function transfersWarmToBob(alice, bob, customer) {
  await bob.getByLabel("Availability").selectOption({ label: "Available" });
  await agentIs(alice, env.SECOND, true);
  await alice.keyboard.press("Alt+T");
  await alice.locator("#transfer-to:focus").waitFor();
  await alice.locator("#transfer-to option", { hasText: "bob (available)" }).waitFor({ state: "attached" });
  await alice.getByLabel("Transfer to").selectOption({ label: "bob (available)" });
  await alice.getByLabel("Warm: I stay until they accept").check();
  await axe(alice, "the transfer form");
  await shot(alice, "4-transfer");
  await alice.locator("#transfer").getByRole("button", { name: "Transfer" }).click();
  await alice.getByRole("status").filter({ hasText: "Transferred" }).waitFor();
  const offer = bob.locator("#incoming .offer", { has: bob.locator(".badge", { hasText: "Web" }) });
  await offer.getByRole("button", { name: "Accept" }).click();
  await bob.locator("#conversations button.conversation", { hasText: "Ada Visitor" }).click();
  await bob.locator("#history .msg .body", { hasText: "Hi Ada, this is Alice." }).waitFor();
  await bob.locator("#pre-engagement dd", { hasText: "Ada Visitor" }).waitFor();
  await bob.locator("#customer-presence", { hasText: "Online" }).waitFor();
  await shot(bob, "5-bob-took-over");
  // Alice, still in the conversation (warm), lets go: the channel stays active for Bob.
  await alice.getByRole("button", { name: "Wrap up" }).click();
  await alice.getByRole("button", { name: "Complete" }).click();
  await alice.locator("#conversations button.conversation", { hasText: "Ada Visitor" }).waitFor({ state: "detached" });
  check((await bob.locator("#channel-status").textContent()) === "ACTIVE", "the transfer keeps the channel active");
  await bob.locator("#reply").fill("Bob here, I can help with that.");
  await bob.locator("#reply").press("Enter");
  await customer.chat.locator(".msg.theirs .body", { hasText: "Bob here, I can help with that." }).waitFor();
  // The customer closes the page: offline, in the list and beside their details.
  await customer.page.context().close();
  await bob.locator("#customer-presence .presence.away", { hasText: "Offline" }).waitFor();
  await bob.locator("#conversations button.conversation .presence", { hasText: "Offline" }).waitFor();
  await axe(bob, "a customer gone offline");
  await shot(bob, "5b-customer-offline");
  await bob.getByRole("button", { name: "Wrap up" }).click();
  await bob.locator("#channel-status", { hasText: "INACTIVE" }).waitFor();
  await bob.locator("#conversations .wrapping").waitFor();
  await shot(bob, "6-wrapping-up");
  await bob.getByRole("button", { name: "Complete" }).click();
  await bob.locator("#conversations button.conversation").waitFor({ state: "detached" });
  // Bob leaves: the SMS customer comes to Alice.
  await bob.getByLabel("Availability").selectOption({ label: "Offline" });
  await agentIs(alice, env.SECOND, false);
}

/** A 1×1 PNG. */
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

async function smsCustomerWrites(count, first = 1) {
  const url = env.DAEMON + "/webhooks/twilio";
  for (let n = first; n < first + count; n++) {
    const params = { From: env.SMS_FROM, To: env.SMS_TO, Body: `message ${n}`, MessageSid: "SM" + String(n).padStart(32, "0"), NumMedia: "0" };
    const answer = await fetch(url, { method: "POST", headers: { "X-Twilio-Signature": twilioSignature(env.AUTH_TOKEN, url, params) }, body: new URLSearchParams(params) });
    check(answer.status === 200, `the SMS webhook: ${answer.status} ${await answer.text()}`);
  }
}

async function answersTheSmsCustomer(agent) {
  await smsCustomerWrites(Number(env.SMS_COUNT));
  const offer = agent.locator("#incoming .offer", { has: agent.locator(".badge", { hasText: "SMS" }) });
  await offer.waitFor();
  await agent.keyboard.press("Alt+A");
  const item = agent.locator("#conversations button.conversation", { hasText: env.SMS_FROM });
  await item.locator(".unread", { hasText: `${env.SMS_COUNT} unread` }).waitFor();
  await agent.keyboard.press("Alt+1");
  const count = Number(env.SMS_COUNT);
  const newest = `message ${count}`;
  await agent.locator("#history .msg .body", { hasText: newest }).waitFor();
  const shown = await agent.locator("#history .msg").count();
  check(shown === 50, `the newest page only, not the whole history: ${shown} of ${count}`);
  check((await agent.locator("#history .body", { hasText: /^message 1$/ }).count()) === 0, "the oldest is not loaded yet");
  await agent.locator("#conversations .unread").waitFor({ state: "detached" });
  // An SMS customer has no socket: nothing said of their presence, rather than "offline".
  check((await agent.locator("#customer-presence, #conversations .presence").count()) === 0, "no presence for an SMS customer");
  await shot(agent, "7-sms-newest-page");
  // Scrolling back loads the earlier messages, down to the start.
  for (let i = 0; i < 10 && (await agent.locator(".start").count()) === 0; i++) {
    await agent.locator("#history").evaluate((e) => e.scrollTo(0, 0));
    await agent.waitForTimeout(200);
  }
  await agent.locator(".start").waitFor();
  check((await agent.locator("#history .msg").count()) === count, "every message once after paging back");
  const bodies = await agent.locator("#history .msg .body").allTextContents();
  check(bodies[0] === "message 1" && bodies[count - 1] === newest, "in order: " + JSON.stringify(bodies));
  await shot(agent, "8-sms-paged-back");
  await agent.keyboard.press("Alt+R");
  check(await agent.locator("#reply:focus").count(), "Alt+R goes to the reply");
  await agent.keyboard.type("Your order has shipped.");
  await agent.keyboard.press("Enter");
  // The provider refuses the first delivery (the Rust side planned it): shown, and sent again.
  const failed = agent.locator("#history .msg.mine.failed", { hasText: "Your order has shipped." });
  await failed.locator(".status", { hasText: "Not delivered" }).waitFor();
  await shot(agent, "9-sms-delivery-failed");
  await failed.getByRole("button", { name: "Send again" }).click();
  await agent.locator("#history .msg.mine:not(.failed) .body", { hasText: "Your order has shipped." }).waitFor();
  await shot(agent, "10-sms-sent-again");
  // An attachment: uploaded with the console's token, sent as a media message, opened inline.
  await agent.getByLabel("Attach a file").setInputFiles({ name: "receipt.png", mimeType: "image/png", buffer: Buffer.from(PNG, "base64") });
  await agent.locator("#attached", { hasText: "receipt.png" }).waitFor();
  await agent.locator("#reply").fill("Your receipt");
  await agent.locator("#reply").press("Enter");
  const sent = agent.locator("#history .msg.mine", { hasText: "Your receipt" });
  await sent.getByRole("button", { name: "Open receipt.png" }).click();
  const image = sent.locator("img.media");
  await image.waitFor();
  check(await image.evaluate((i) => i.complete && i.naturalWidth === 1), "the attachment shows");
  await shot(agent, "11-sms-attachment");
}

/** The SMS flow is long-lived: after wrap-up the customer's next message opens a new interaction
 * in the same channel, whose earlier interactions the agent sees marked as such. */
async function theSmsCustomerComesBack(agent) {
  await agent.getByRole("button", { name: "Wrap up" }).click();
  await agent.locator("#channel-status", { hasText: "INACTIVE" }).waitFor();
  await agent.getByRole("button", { name: "Complete" }).click();
  await agent.locator("#conversations button.conversation").waitFor({ state: "detached" });
  const count = Number(env.SMS_COUNT);
  await smsCustomerWrites(1, count + 1);
  await agent.locator("#incoming .offer").waitFor();
  await agent.keyboard.press("Alt+A");
  await agent.locator("#conversations button.conversation").waitFor();
  await agent.keyboard.press("Alt+1");
  const back = agent.locator("#history .msg", { hasText: `message ${count + 1}` });
  await back.waitFor();
  check(!(await back.evaluate((e) => e.classList.contains("earlier"))), "the new message is of this interaction");
  await agent.locator("#history .divider", { hasText: "This interaction began" }).waitFor();
  const earlier = agent.locator("#history .msg.earlier", { hasText: "Your receipt" });
  check((await earlier.locator(".author", { hasText: "Earlier interaction" }).count()) === 1, "the last interaction is marked");
  const current = await agent.locator("#history .msg:not(.earlier) .body").allTextContents();
  check(JSON.stringify(current) === JSON.stringify([`message ${count + 1}`]), "only the new message is of this interaction: " + JSON.stringify(current));
  check((await agent.locator("#channel-status").textContent()) === "ACTIVE", "active again");
  await axe(agent, "a long-lived conversation");
  await shot(agent, "12-sms-came-back");
  // Usable 768 wide: one column, nothing wider than the window.
  await agent.setViewportSize({ width: 768, height: 1000 });
  const width = await agent.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 768, "no horizontal scrolling at 768 wide: " + width);
  await agent.locator("#history .msg", { hasText: `message ${count + 1}` }).waitFor();
  await shot(agent, "13-768-wide");
  await agent.setViewportSize({ width: 1280, height: 800 });
}

/** A cold transfer to a queue: the agent is out at once (wrapping up), the channel stays active
 * and the customer waits in the queue (the agent left out of it; the Rust side finds the task). */
async function transfersColdToTheQueue(agent) {
  await agent.getByRole("button", { name: "Transfer" }).click();
  const queue = agent.locator("#transfer-to optgroup[label=Queues] option").first();
  await queue.waitFor({ state: "attached" });
  await agent.getByLabel("Transfer to").selectOption({ label: await queue.textContent() });
  check(await agent.getByLabel("Cold: I leave now").isChecked(), "cold is the default");
  await shot(agent, "14-cold-transfer");
  await agent.locator("#transfer").getByRole("button", { name: "Transfer" }).click();
  await agent.getByRole("status").filter({ hasText: "Transferred" }).waitFor();
  await agent.locator("#conversations .wrapping").waitFor();
  check((await agent.locator("#channel-status").textContent()) === "ACTIVE", "the channel waits for the next agent");
  await agent.getByRole("button", { name: "Complete" }).click();
  await agent.locator("#conversations button.conversation").waitFor({ state: "detached" });
}

async function scenario(browser) {
  const problems = [];
  const agent = await agentSignsIn(browser, problems);
  const customer = await customerWrites(browser, problems);
  await acceptsTheWebChat(agent, customer);
  await replies(agent, customer);
  const bob = await agentSignsIn(browser, problems, env.SECOND);
  await transfersWarmToBob(agent, bob, customer);
  await answersTheSmsCustomer(agent);
  await theSmsCustomerComesBack(agent);
  await transfersColdToTheQueue(agent);
  check(problems.length === 0, problems.join("; "));
  return {};
}

await runScenario("console-agent", await launchChromium(chromium), scenario);
