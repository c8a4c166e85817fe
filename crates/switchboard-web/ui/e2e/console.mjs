// The console's sign-in page in real headless Chromium (Debian's, driven by playwright-core), run
// by the Rust test tests/e2e/people.rs against the real daemon: a new person's one-time link
// sets their password (and then leaves the address bar, and works no more), a wrong password is
// refused on the page, the right one shows who you are and your role, a reload keeps the
// session, and signing out returns to the form. No page error, no CSP violation, no serious axe finding.
// Every step asserts; screenshots go to $ARTEFACTS.
//
// Environment: DAEMON (its URL), LINK (the person's set-password URL), USERNAME, PASSWORD, ROLE,
// ARTEFACTS, CHROMIUM.

import { chromium } from "playwright-core";
import { axe, check, launchChromium, runScenario, screenshots } from "./console-common.mjs";

const env = process.env;
const shot = screenshots("console");

async function signIn(page, password) {
  await page.getByLabel("Username").fill(env.USERNAME);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function setPassword(page) {
  await page.goto(env.LINK);
  await page.getByRole("heading", { name: "Set password" }).waitFor();
  check(!page.url().includes("set-password="), "the link's secret left the address bar");
  await axe(page, "set-password form");
  await shot(page, "0-set-password");
  await page.getByLabel("New password (at least 10 characters)").fill(env.PASSWORD);
  await page.getByLabel("Repeat the new password").fill(env.PASSWORD);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByRole("status").filter({ hasText: "Your password is set." }).waitFor();
}

async function linkSpent(page) {
  // A new document: a fragment change alone would not load the page again.
  await page.goto("about:blank");
  await page.goto(env.LINK);
  await page.getByLabel("New password (at least 10 characters)").fill("another long password");
  await page.getByLabel("Repeat the new password").fill("another long password");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByRole("alert").filter({ hasText: "This link is not valid any more." }).waitFor();
  await shot(page, "5-link-spent");
}

async function scenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // Failed loads are judged by their responses below (a refused sign-in is a 401 by design).
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push("console: " + m.text());
  });
  const expected401 = ["/console/me", "/console/login", "/console/password"];
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    const fine = r.status() < 400 || path === "/favicon.ico" || (r.status() === 401 && expected401.includes(path));
    if (!fine) problems.push(`${r.status()} for ${path}`);
    if (r.status() === 401 && r.headers()["www-authenticate"]) problems.push(`a Basic prompt from ${path}`);
  });
  await setPassword(page);
  await axe(page, "sign-in form");
  await shot(page, "1-sign-in");
  await signIn(page, "not the password");
  const alert = page.getByRole("alert");
  await alert.filter({ hasText: "Wrong username or password." }).waitFor();
  await shot(page, "2-refused");
  await signIn(page, env.PASSWORD);
  await page.locator("#who-name").waitFor();
  check((await page.locator("#who-name").textContent()) === env.USERNAME, "the name shown");
  check((await page.locator("#who-role").textContent()) === env.ROLE, "the role shown");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "sb_console");
  check(session && session.httpOnly && session.sameSite === "Strict", "an HttpOnly, Strict cookie");
  check(!(await page.evaluate(() => document.cookie)).includes("sb_console"), "not readable by scripts");
  await axe(page, "signed in");
  await shot(page, "3-signed-in");
  await page.reload();
  await page.locator("#who-name").waitFor();
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await shot(page, "4-signed-out");
  await linkSpent(page);
  check(problems.length === 0, problems.join("; "));
  await context.close();
  return {};
}

await runScenario("console", await launchChromium(chromium), scenario);
