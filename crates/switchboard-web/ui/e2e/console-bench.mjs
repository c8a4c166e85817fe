// The browser's part of `switchboard-bench console` (crates/switchboard-bench/src/console.rs):
// in headless Chromium (Debian's, driven by playwright-core), the console's first load to
// interactive (the availability enabled and every open conversation listed) for an agent with a
// long history and for a fresh one (the yardstick); opening a long and a short conversation to
// their latest page; each page back of the long one, scrolled to the top. Times in ms, taken
// from this side (navigation and rendering included), each from a fresh load of the page.
// Prints one JSON line. A benchmark: it asserts no speed.
//
// Environment: DAEMON, AGENT, FRESH, PASSWORD, SHORT_FROM, LONG_FROM, REPEATS, CHROMIUM.

import { chromium } from "playwright-core";

const env = process.env;
const PAGE = 50; // the console's HISTORY_PAGE (src/http.ts)

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const round = (t) => Math.round(t);
  return { median: round(sorted[Math.floor(sorted.length / 2)]), min: round(sorted[0]), max: round(sorted[sorted.length - 1]) };
}

async function signedIn(browser, username) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(env.DAEMON + "/console");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(env.PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#activity:not([disabled])").waitFor();
  return page;
}

/** A fresh load of the console to interactive: its time. */
async function load(page, conversations) {
  const started = performance.now();
  await page.goto(env.DAEMON + "/console");
  await page.locator("#activity:not([disabled])").waitFor();
  if (conversations) await page.waitForFunction((n) => document.querySelectorAll("#conversations button.conversation").length >= n, conversations);
  else await page.locator("#mine-title").waitFor();
  return performance.now() - started;
}

/** Opens the conversation of `from` after a fresh load: the time to its latest page. */
async function open(page, from, shown) {
  await load(page, 2);
  const started = performance.now();
  await page.locator("#conversations button.conversation", { hasText: from }).click();
  await page.waitForFunction((n) => document.querySelectorAll("#history .msg").length >= n, shown);
  const took = performance.now() - started;
  // What is timed is the latest page alone: exactly a page (or the whole of a shorter history).
  const count = await page.locator("#history .msg").count();
  if (count !== shown) throw new Error(`opening showed ${count} messages, not ${shown}`);
  return took;
}

async function pagesBack(page, count) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const before = await page.locator("#history .msg").count();
    const started = performance.now();
    await page.locator("#history").evaluate((e) => e.scrollTo(0, 0));
    await page.waitForFunction((n) => document.querySelectorAll("#history .msg").length >= n, before + PAGE);
    times.push(performance.now() - started);
  }
  return times;
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-quic"],
});
try {
  const repeats = Number(env.REPEATS);
  const fresh = await signedIn(browser, env.FRESH);
  const agent = await signedIn(browser, env.AGENT);
  const times = { fresh_load: [], load: [], open_short: [], open_long: [], page_back: [] };
  for (let i = 0; i < repeats; i++) {
    times.fresh_load.push(await load(fresh, 0));
    times.load.push(await load(agent, 2));
    times.open_short.push(await open(agent, env.SHORT_FROM, 1));
    times.open_long.push(await open(agent, env.LONG_FROM, PAGE));
    times.page_back.push(...(await pagesBack(agent, 3)));
  }
  const report = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, stats(v)]));
  console.log(JSON.stringify({ ...report, page_size: PAGE }));
} finally {
  await browser.close();
}
