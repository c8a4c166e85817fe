// The console's admin and supervisor views in real headless Chromium (Debian's, driven by
// playwright-core), run by tests/e2e/console_supervisor.rs against the real daemon, in three
// browser contexts. The admin sets up through the pages: a queue (a malformed target-workers
// expression is flagged as it is typed, and the form refuses it), a workflow routing to it, and
// an SMS flow, edited onto that workflow and renamed; they toggle a flow, set the web flow's widget
// settings (broken JSON flagged as typed) and open its "try it" chat (the new greeting), delete a
// flow after confirming, see the
// people, the health, a clean integrity check and (later) the watched conversation's events; they make an API key (it works) and revoke
// it (401). The supervisor watches the new queue: a
// customer of the new flow writes (Twilio-signed webhook) and the count goes up; the agent,
// available, accepts, and it goes down (the agent's row shows their activity and load); the
// supervisor watches the conversation read-only (no composer), then moves it to another queue,
// where it waits while the agent's task wraps up. The agent's page cannot open the admin or
// supervisor views (it says so) nor their endpoints (403). Each view is checked usable at 768 px wide. No page error, no CSP violation,
// no serious axe finding; screenshots of each view go to $ARTEFACTS.
//
// Environment: DAEMON, AGENT, SUPERVISOR, ADMIN, PASSWORD, AUTH_TOKEN (to sign webhooks),
// SMS_FROM, SMS_TO (the number the admin's new flow answers for), ARTEFACTS, CHROMIUM.

import { chromium } from "playwright-core";
import { axe, check, launchChromium, runScenario, screenshots, twilioSignature, usableAtWidth, watch } from "./console-common.mjs";

const env = process.env;
const shot = screenshots("supervisor");

async function signIn(browser, problems, username, allowed = []) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Before the sign-in /console/me is 401, by design.
  watch(page, problems, ["/console/me", ...allowed]);
  await page.goto(env.DAEMON + "/console");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(env.PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#who-name").waitFor();
  return page;
}

async function open(page, view) {
  await page.evaluate((view) => (location.hash = view), view);
}

async function section(admin, name) {
  await admin.locator(`[data-section=${name}]`).click();
  await admin.locator(`[data-section=${name}][aria-current=page]`).waitFor();
}

/** The admin's queue: a bad expression is flagged as typed; a good one makes the queue. */
async function adminMakesTheQueue(admin) {
  await section(admin, "routing");
  await admin.locator("#queue-list li").first().waitFor();
  await admin.locator("#queue-name").fill("Escalations");
  await admin.locator("#queue-target").pressSequentially("skills HAS (");
  await admin.locator("#queue-target-check", { hasText: "Not valid" }).waitFor();
  check((await admin.locator("#queue-target").getAttribute("aria-invalid")) === "true", "the field is marked invalid");
  check(await admin.locator("form[aria-label='New queue'] button[type=submit]").isDisabled(), "an invalid queue cannot be made");
  await shot(admin, "admin-1-invalid-expression");
  await axe(admin, "admin view, an invalid expression");
  await admin.locator("#queue-target").fill("1 == 1");
  await admin.locator("#queue-target:not([aria-invalid])").waitFor();
  await admin.locator("form[aria-label='New queue'] button[type=submit]").click();
  await admin.locator("#queue-list li", { hasText: "Escalations" }).waitFor();
  const workspaces = await admin.evaluate(() => fetch("/taskrouter/v1/Workspaces").then((r) => r.json()));
  const base = `/taskrouter/v1/Workspaces/${workspaces.workspaces[0].sid}`;
  const queues = await admin.evaluate((path) => fetch(path).then((r) => r.json()), base + "/TaskQueues");
  const sid = (name) => queues.task_queues.find((q) => q.friendly_name === name)?.sid;
  return { queue: sid("Escalations"), everyone: sid("Everyone") };
}

async function adminMakesTheWorkflowAndFlow(admin, { queue, everyone }) {
  await admin.locator("#workflow-name").fill("Escalation routing");
  await admin.locator("#workflow-configuration").fill('{"task_routing": {"default_filter": {"queue": ');
  await admin.locator("#workflow-check", { hasText: "Not valid" }).waitFor();
  // Flex's transfer filter (docs/api.md): a supervisor's move to Everyone goes there, and not
  // back to the agent who held the task.
  const toEveryone = {
    filter_friendly_name: "moved to Everyone",
    expression: `transferTargetType == 'queue' AND targetSid == '${everyone}'`,
    targets: [{ queue: everyone, expression: "worker.contact_uri != task.ignoreWorkerContactUri" }],
  };
  const configuration = { task_routing: { filters: [toEveryone], default_filter: { queue } } };
  await admin.locator("#workflow-configuration").fill(JSON.stringify(configuration));
  await admin.locator("#workflow-configuration:not([aria-invalid])").waitFor();
  await admin.locator("form[aria-label='New workflow'] button[type=submit]").click();
  await admin.locator("#workflow-list li", { hasText: "Escalation routing" }).waitFor();
  await shot(admin, "admin-2-routing");
  await section(admin, "flows");
  await admin.locator("#flow-list li").first().waitFor();
  // Made with a draft's name on the workspace's default workflow, then edited: the customer
  // reaching the new queue (below) is the edit's proof.
  await admin.locator("#flow-name").fill("Escalation draft");
  await admin.locator("#flow-type").selectOption("sms");
  await admin.locator("#flow-contact").fill(env.SMS_TO);
  await admin.locator("form[aria-label='New Flex flow'] button[type=submit]").click();
  const draft = admin.locator('#flow-list [data-flow="Escalation draft"]');
  await draft.getByRole("button", { name: "Edit" }).click();
  const editor = admin.getByRole("form", { name: "Edit Escalation draft" });
  await editor.getByLabel("Name").fill("Escalated SMS");
  await editor.getByLabel("Workflow").selectOption({ label: "Escalation routing" });
  await shot(admin, "admin-3-flow-editor");
  await axe(admin, "admin view, a flow's editor");
  await editor.getByRole("button", { name: "Save" }).click();
  const flow = admin.locator('#flow-list [data-flow="Escalated SMS"]');
  await flow.waitFor();
  check(await flow.locator("[data-flow-field=Enabled]").isChecked(), "the new flow is enabled");
  // Long-lived on and off again: what the page shows is what the daemon holds.
  await flow.locator("[data-flow-field=LongLived]").click();
  await admin.locator("#admin-note", { hasText: "Saved." }).waitFor();
  await admin.waitForFunction(() => document.querySelector('[data-flow="Escalated SMS"] [data-flow-field=LongLived]').checked);
  await shot(admin, "admin-3-flows");
  await axe(admin, "admin view, flows");
}

/** The web flow's widget settings: a broken fields list is flagged as typed; the greeting and
 * colour saved; "try it" opens the chat, which greets with the new text. */
async function adminSetsUpAndTriesTheWidget(admin, problems) {
  const web = admin.locator("#flow-list li", { has: admin.locator(".badge", { hasText: "web" }) }).first();
  await web.locator("summary", { hasText: "Widget settings" }).click();
  const settings = web.getByRole("form", { name: "Widget settings" });
  await settings.getByLabel("Greeting").fill("Welcome to the test shop.");
  await settings.getByLabel("Colour (#rrggbb)").fill("#aa3300");
  const fields = settings.getByLabel("Pre-engagement fields (JSON)");
  const good = await fields.inputValue();
  await fields.fill(good.slice(0, -1));
  await settings.locator(".error", { hasText: "Not valid" }).waitFor();
  check(await settings.getByRole("button", { name: "Save" }).isDisabled(), "broken fields cannot be saved");
  await fields.fill(good);
  await settings.getByRole("button", { name: "Save" }).click();
  await admin.locator("#admin-note", { hasText: "Saved." }).waitFor();
  await shot(admin, "admin-3-widget-settings");
  await axe(admin, "admin view, widget settings");
  const [chat] = await Promise.all([admin.context().waitForEvent("page"), web.locator("a.try").click()]);
  watch(chat, problems);
  await chat.waitForLoadState();
  check(new URL(chat.url()).pathname === "/webchat/v1/chat.html", "try it opens the chat: " + chat.url());
  await chat.locator(".greeting", { hasText: "Welcome to the test shop." }).waitFor();
  await chat.close();
}

/** A flow made and deleted on the page (after a confirmation) is gone. */
async function adminDeletesAFlow(admin) {
  await admin.locator("#flow-name").fill("Short-lived");
  await admin.locator("#flow-type").selectOption("custom");
  await admin.locator("#flow-contact").fill("short-lived");
  await admin.locator("form[aria-label='New Flex flow'] button[type=submit]").click();
  const flow = admin.locator('#flow-list [data-flow="Short-lived"]');
  await flow.getByRole("button", { name: "Delete" }).click();
  await flow.getByRole("button", { name: "Really delete Short-lived?" }).click();
  await flow.waitFor({ state: "detached" });
  await admin.locator("#admin-note", { hasText: "Deleted." }).waitFor();
}

/** The status of a REST call with an API key's Basic credentials. */
async function withKey(sid, secret) {
  const auth = "Basic " + Buffer.from(`${sid}:${secret}`).toString("base64");
  return (await fetch(env.DAEMON + "/chat/v2/Services", { headers: { Authorization: auth } })).status;
}

async function adminMakesAndRevokesAKey(admin) {
  await section(admin, "keys");
  await admin.locator("#key-list li").first().waitFor();
  await admin.locator("#new-key").click();
  const shown = admin.locator("#new-key-secret");
  await shown.waitFor();
  const sid = (/SK[0-9a-f]{32}/.exec(await shown.textContent()) ?? [""])[0];
  const secret = await shown.locator("code").textContent();
  check((await withKey(sid, secret)) === 200, "the new key authenticates");
  await shot(admin, "admin-7-api-key");
  await axe(admin, "admin view, API keys");
  await admin.locator(`[data-key="${sid}"] button`, { hasText: "Revoke" }).click();
  await admin.locator(`[data-key="${sid}"]`).waitFor({ state: "detached" });
  check((await withKey(sid, secret)) === 401, "the revoked key is refused");
}

async function adminLooksAround(admin) {
  await section(admin, "people");
  for (const name of [env.AGENT, env.SUPERVISOR, env.ADMIN]) await admin.locator("#people-list li", { hasText: name }).waitFor();
  await shot(admin, "admin-4-people");
  await section(admin, "health");
  await admin.locator("#health dd", { hasText: "ready" }).waitFor();
  await shot(admin, "admin-5-health");
  await section(admin, "audit");
  await admin.locator("#integrity").click();
  await admin.locator("#integrity-report", { hasText: "Intact" }).waitFor();
  await shot(admin, "admin-6-integrity");
  await axe(admin, "admin view, audit");
}

/** The admin reads the watched conversation's events on the audit page. */
async function adminReadsTheEvents(admin, channel) {
  await section(admin, "audit");
  await admin.locator("#audit-channel").fill(channel);
  await admin.getByRole("button", { name: "Read events" }).click();
  await admin.locator("#audit-events li", { hasText: "message_added" }).first().waitFor();
  await shot(admin, "admin-8-audit-events");
}

async function smsCustomerWrites(body) {
  const url = env.DAEMON + "/webhooks/twilio";
  const params = { From: env.SMS_FROM, To: env.SMS_TO, Body: body, MessageSid: "SM" + "e".repeat(32), NumMedia: "0" };
  const answer = await fetch(url, { method: "POST", headers: { "X-Twilio-Signature": twilioSignature(env.AUTH_TOKEN, url, params) }, body: new URLSearchParams(params) });
  check(answer.status === 200, `the SMS webhook: ${answer.status} ${await answer.text()}`);
}

async function waitingIn(supervisor, queue, count) {
  await supervisor.waitForFunction(([queue, count]) => document.querySelector(`[data-queue="${queue}"]`)?.textContent === String(count), [queue, count]);
}

async function theCountGoesUpAndDown(supervisor, agent) {
  await waitingIn(supervisor, "Escalations", 0);
  await shot(supervisor, "0-idle");
  await axe(supervisor, "supervisor view, idle");
  await smsCustomerWrites("I was charged twice");
  await waitingIn(supervisor, "Escalations", 1);
  await supervisor.locator("#live-table td", { hasText: env.SMS_FROM }).waitFor();
  await shot(supervisor, "1-waiting");
  await agent.getByLabel("Availability").selectOption({ label: "Available" });
  const offer = agent.locator("#incoming .offer", { has: agent.locator(".badge", { hasText: "SMS" }) });
  await offer.waitFor();
  await offer.getByRole("button", { name: "Accept" }).click();
  await waitingIn(supervisor, "Escalations", 0);
  await supervisor.locator("#live-table td", { hasText: env.AGENT }).waitFor();
  // The agent's row: their activity, their load against their capacity, time in the activity.
  const row = supervisor.locator("#agent-table tr", { hasText: env.AGENT });
  await row.locator("td", { hasText: /^1\/\d+$/ }).waitFor();
  const cells = await row.locator("td").allTextContents();
  check(cells[1] === "Available" && /^\d+(s|m \d+s)$/.test(cells[3]), "the agent's activity and time in it: " + JSON.stringify(cells));
  await shot(supervisor, "2-accepted");
}

async function theSupervisorWatches(supervisor) {
  await supervisor.locator("[data-watch]").first().click();
  await supervisor.locator("#watch-messages .body", { hasText: "I was charged twice" }).waitFor();
  check((await supervisor.locator("#watch textarea, #watch input").count()) === 0, "watching has no composer");
  await shot(supervisor, "3-watching");
  await axe(supervisor, "supervisor view, watching");
  return supervisor.locator("[data-watch]").first().getAttribute("data-watch");
}

/** The supervisor moves the agent's conversation to another queue: the agent's task wraps up,
 * and a new one waits in that queue (the agent who held it left out). */
async function theSupervisorMovesIt(supervisor, agent) {
  const row = supervisor.locator("#live-table tr", { hasText: env.SMS_FROM });
  await row.locator("[data-move]").click();
  const select = row.getByLabel("Move to");
  const queues = await select.locator("optgroup[label=Queues] option").allTextContents();
  // The queue the admin's workflow routes moves to.
  const other = "Everyone";
  check(queues.includes(other), "the queue to move to: " + JSON.stringify(queues));
  await waitingIn(supervisor, other, 0);
  await select.selectOption({ label: other });
  await shot(supervisor, "4-moving");
  await row.getByRole("button", { name: "Move" }).click();
  await supervisor.getByRole("status").filter({ hasText: "Moved" }).waitFor();
  await waitingIn(supervisor, other, 1);
  await agent.locator("#conversations .wrapping").waitFor();
  await shot(supervisor, "5-moved");
  return other;
}

async function theAgentIsRefused(agent) {
  for (const view of ["admin", "supervisor"]) {
    await open(agent, view);
    await agent.locator("#not-for-role", { hasText: "role agent may not open this page" }).waitFor();
  }
  await shot(agent, "agent-refused");
  await axe(agent, "an agent refused the admin view");
  const statuses = await agent.evaluate(() =>
    Promise.all(["/chat/v2/Services", "/console/supervisor", "/console/integrity", "/flex/v1/FlexFlows"].map((p) => fetch(p).then((r) => r.status))),
  );
  check(statuses.every((s) => s === 403), "an agent's page reads no admin or supervisor endpoint: " + statuses);
  await open(agent, "agent");
}

async function usableAt768(pages) {
  for (const [page, view, scope] of pages) {
    await page.setViewportSize({ width: 768, height: 900 });
    await usableAtWidth(page, scope, view);
    await shot(page, `${view}-768`);
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}

async function scenario(browser) {
  const problems = [];
  const admin = await signIn(browser, problems, env.ADMIN);
  await open(admin, "admin");
  await admin.locator("#service-list li").first().waitFor();
  await shot(admin, "admin-0-services");
  await axe(admin, "admin view, services");
  const queues = await adminMakesTheQueue(admin);
  await adminMakesTheWorkflowAndFlow(admin, queues);
  const queue = queues.queue;
  await adminSetsUpAndTriesTheWidget(admin, problems);
  await adminDeletesAFlow(admin);
  await adminMakesAndRevokesAKey(admin);
  await adminLooksAround(admin);
  const supervisor = await signIn(browser, problems, env.SUPERVISOR);
  await open(supervisor, "supervisor");
  await supervisor.locator("#queue-table").waitFor();
  const probes = ["/chat/v2/Services", "/console/supervisor", "/console/integrity", "/flex/v1/FlexFlows"];
  const agent = await signIn(browser, problems, env.AGENT, probes);
  await agent.locator("#activity:not([disabled])").waitFor();
  await theCountGoesUpAndDown(supervisor, agent);
  const channel = await theSupervisorWatches(supervisor);
  const movedTo = await theSupervisorMovesIt(supervisor, agent);
  await theAgentIsRefused(agent);
  await adminReadsTheEvents(admin, channel);
  await section(admin, "routing");
  await usableAt768([
    [supervisor, "supervisor", "#main"],
    [admin, "admin-routing", "#main"],
    [agent, "agent", "#main"],
  ]);
  check(problems.length === 0, problems.join("; "));
  return { channel, queue, moved_to: movedTo };
}

await runScenario("console-supervisor", await launchChromium(chromium), scenario);
