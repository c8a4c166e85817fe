// What the console's browser scenarios (console.mjs, console-agent.mjs, console-supervisor.mjs)
// share: a check that throws with its message, screenshots into $ARTEFACTS under a prefix, an
// axe-core pass that fails on any serious or critical finding (naming the rule and the elements),
// a watch on a page's errors, Twilio's webhook signature, and a check that a page is usable at
// 768 px wide.

import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
}

/** A `shot(page, name)` saving `$ARTEFACTS/{prefix}-{name}.png`. */
export function screenshots(prefix) {
  mkdirSync(process.env.ARTEFACTS, { recursive: true });
  return (page, name) => page.screenshot({ path: `${process.env.ARTEFACTS}/${prefix}-${name}.png` });
}

export async function axe(page, name) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations),
  );
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(serious.length === 0, `${name}: axe found ${JSON.stringify(serious.map((v) => [v.id, v.nodes.map((n) => n.target)]))}`);
}

/** Page errors, console errors and failed responses, collected to be asserted at the end. */
export function watch(page, problems, allowed = []) {
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push("console: " + m.text());
  });
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && path !== "/favicon.ico" && !allowed.includes(path)) problems.push(`${r.status()} for ${path}`);
  });
}

/** Twilio's signature: HMAC-SHA1 over the URL and every parameter, sorted by name. */
export function twilioSignature(token, url, params) {
  const text = url + Object.keys(params).sort().map((k) => k + params[k]).join("");
  return createHmac("sha1", token).update(text).digest("base64");
}

/** At the page's current width: the page itself does not scroll sideways, and every control of
 * `scope`, brought into view (a wide table scrolls inside its panel), lies within the width. */
export async function usableAtWidth(page, scope, name) {
  const found = await page.evaluate((scope) => {
    const width = document.documentElement.clientWidth;
    const page = document.documentElement.scrollWidth;
    const out = [];
    for (const el of document.querySelectorAll(`${scope} button, ${scope} input, ${scope} select, ${scope} textarea, ${scope} a[href]`)) {
      if (el.offsetParent === null) continue;
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
      const r = el.getBoundingClientRect();
      if (r.left < 0 || r.right > width + 1 || r.width === 0) out.push(`${el.tagName}#${el.id || el.textContent.slice(0, 20)} at ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    window.scrollTo(0, 0);
    return { width, page, out };
  }, scope);
  check(found.page <= found.width, `${name}: the page scrolls sideways (${found.page} > ${found.width})`);
  check(found.out.length === 0, `${name}: controls out of reach: ${found.out.join(", ")}`);
}

/** Headless Debian Chromium, as every console scenario starts it. */
export function launchChromium(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-quic"],
  });
}

/**
 * Runs `scenario(browser)`, prints its report as one JSON line (what the Rust test reads),
 * closes the browser and exits: 0 when it passed, 1 with the stack otherwise.
 */
export async function runScenario(name, browser, scenario) {
  let code = 0;
  try {
    const report = await scenario(browser);
    console.log(JSON.stringify({ scenario: name, passed: true, ...report }));
  } catch (error) {
    console.error(error && error.stack ? error.stack : String(error));
    code = 1;
  } finally {
    await browser.close();
  }
  process.exit(code);
}
