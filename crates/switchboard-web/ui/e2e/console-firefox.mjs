// The console in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core,
// which downloads no browser), run by tests/e2e/console_supervisor.rs against the real daemon: a
// wrong password is refused on the page; the agent signs in, becomes available, gets an SMS
// customer's offer (a Twilio-signed webhook), accepts, sees the message and replies (the Rust
// side finds the reply at the fake provider); the admin view is refused on the agent's page.
// No page error; a screenshot of the agent view goes to $ARTEFACTS.
//
// Environment: DAEMON, AGENT, PASSWORD, AUTH_TOKEN, SMS_FROM, SMS_TO, ARTEFACTS, FIREFOX.

import puppeteer from "puppeteer-core";
import { check, runScenario, screenshots, twilioSignature } from "./console-common.mjs";

const env = process.env;
const shot = screenshots("firefox");

async function signIn(page, password) {
  await page.locator("#username").fill(env.AGENT);
  await page.locator("#password").fill(password);
  await page.locator("#sign-in button[type=submit]").click();
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
  check(problems.length === 0, problems.join("; "));
  return { version: await browser.version() };
}

const browser = await puppeteer.launch({ browser: "firefox", executablePath: env.FIREFOX, headless: true });
await runScenario("console-firefox", browser, scenario);
