// What the console's browser scenarios (console.mjs, console-agent.mjs) share: a check that
// throws with its message, screenshots into $ARTEFACTS under a prefix, and an axe-core pass that
// fails on any serious or critical finding (naming the rule and the elements).

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
