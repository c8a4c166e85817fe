// The console in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core,
// which downloads no browser), run by tests/e2e/console_supervisor.rs against the real daemon: a
// wrong password is refused on the page; the agent signs in, becomes available, gets an SMS
// customer's offer (a Twilio-signed webhook), accepts, sees the message and replies (the Rust
// side finds the reply at the fake provider); the admin view is refused on the agent's page. A
// supervisor, in a context of their own, sees the conversation live and the agent's load, and
// watches it read-only; an admin sees a malformed expression flagged as typed, opens a flow's
// editor and runs a clean integrity check. No page error; screenshots go to $ARTEFACTS.
//
// Environment: DAEMON, AGENT, SUPERVISOR, ADMIN, PASSWORD, AUTH_TOKEN, SMS_FROM, SMS_TO,
// ARTEFACTS, FIREFOX.

import puppeteer from "puppeteer-core";
import { check, runScenario, screenshots, twilioSignature } from "./console-common.mjs";

const env = process.env;
const shot = screenshots("firefox");

async function signIn(page, password, username = env.AGENT) {
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(password);
  await page.locator("#sign-in button[type=submit]").click();
}

/** A page of its own (cookies apart) signed in as `username`. */
async function signedIn(browser, problems, username) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error (${username}): ${e.message}`));
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(env.DAEMON + "/console");
  await signIn(page, env.PASSWORD, username);
  await page.locator("#who-name").wait();
  return page;
}

/** The supervisor sees the agent's conversation live and watches it read-only. */
async function theSupervisorWatches(browser, problems) {
  const page = await signedIn(browser, problems, env.SUPERVISOR);
  await page.evaluate(() => (location.hash = "supervisor"));
  await page.waitForFunction((agent) => [...document.querySelectorAll("#live-table td")].some((td) => td.textContent === agent), {}, env.AGENT);
  await page.waitForFunction((agent) => [...document.querySelectorAll("#agent-table tr")].some((tr) => tr.textContent.includes(agent) && /1\/\d/.test(tr.textContent)), {}, env.AGENT);
  await page.locator("[data-watch]").click();
  await page.waitForFunction(() => [...document.querySelectorAll("#watch-messages .body")].some((b) => b.textContent === "Answered from Firefox"));
  check((await page.$$("#watch textarea, #watch input")).length === 0, "watching has no composer");
  await shot(page, "supervisor");
}

/** The admin: a malformed expression flagged as it is typed, a flow's editor, a clean integrity check. */
async function theAdminLooksAround(browser, problems) {
  const page = await signedIn(browser, problems, env.ADMIN);
  await page.evaluate(() => (location.hash = "admin"));
  await page.locator("[data-section=routing]").click();
  await page.locator("#queue-target").wait();
  await page.type("#queue-target", "skills HAS (");
  await page.waitForFunction(() => document.querySelector("#queue-target-check")?.textContent.startsWith("Not valid"));
  check(await page.$eval("form[aria-label='New queue'] button[type=submit]", (b) => b.disabled), "an invalid queue cannot be made");
  await shot(page, "admin-routing");
  await page.locator("[data-section=flows]").click();
  await page.locator("#flow-list li button.edit").click();
  await page.locator("form.flow-editor").wait();
  await page.locator("[data-section=audit]").click();
  await page.locator("#integrity").click();
  await page.waitForFunction(() => document.querySelector("#integrity-report")?.textContent.startsWith("Intact"));
  await shot(page, "admin-audit");
}

async function smsCustomerWrites(body) {
  const url = env.DAEMON + "/webhooks/twilio";
  const params = { From: env.SMS_FROM, To: env.SMS_TO, Body: body, MessageSid: "SM" + "f".repeat(32), NumMedia: "0" };
  const answer = await fetch(url, { method: "POST", headers: { "X-Twilio-Signature": twilioSignature(env.AUTH_TOKEN, url, params) }, body: new URLSearchParams(params) });
  check(answer.status === 200, `the SMS webhook: ${answer.status}`);
}

async function scenario(browser) {
  const problems = [];
  const page = await browser.newPage();
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(env.DAEMON + "/console");
  await signIn(page, "not the password");
  await page.waitForFunction(() => document.querySelector(".error")?.textContent.includes("Wrong username or password"));
  await signIn(page, env.PASSWORD);
  await page.locator("#activity:not([disabled])").wait();
  const available = await page.$$eval("#activity option", (o) => o.find((x) => x.textContent === "Available").value);
  await page.select("#activity", available);
  await smsCustomerWrites("hello from Firefox's customer");
  await page.locator("#incoming .offer button").filter((b) => b.textContent === "Accept").click();
  await page.locator("#conversations button.conversation").click();
  await page.waitForFunction(() => [...document.querySelectorAll("#history .msg .body")].some((b) => b.textContent === "hello from Firefox's customer"));
  await page.locator("#reply").fill("Answered from Firefox");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => [...document.querySelectorAll("#history .msg.mine .body")].some((b) => b.textContent === "Answered from Firefox"));
  await shot(page, "agent");
  await page.evaluate(() => (location.hash = "admin"));
  await page.locator("#not-for-role").wait();
  await theSupervisorWatches(browser, problems);
  await theAdminLooksAround(browser, problems);
  check(problems.length === 0, problems.join("; "));
  return { version: await browser.version() };
}

const browser = await puppeteer.launch({ browser: "firefox", executablePath: env.FIREFOX, headless: true });
await runScenario("console-firefox", browser, scenario);
