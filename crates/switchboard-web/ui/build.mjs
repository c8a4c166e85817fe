// Builds the widget into dist/ (or the folder given with --out): the loader (widget.js), the
// chat app (chat.js) and its stylesheet (chat.css); and the agent console (console.js, a Preact
// app, and console.css). Deterministic under the pinned lockfile, so
// the test that rebuilds into a scratch folder can compare bytes with the committed dist/.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";

const at = process.argv.indexOf("--out");
const out = at > 0 ? process.argv[at + 1] : new URL("./dist", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2019",
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};
await build({ ...common, entryPoints: ["src/loader.ts"], outfile: `${out}/widget.js` });
await build({ ...common, entryPoints: ["src/chat.ts"], outfile: `${out}/chat.js` });
await build({
  ...common,
  entryPoints: ["src/chat.css"],
  outfile: `${out}/chat.css`,
  format: undefined,
});
await build({ ...common, entryPoints: ["src/console.ts"], outfile: `${out}/console.js` });
await build({
  ...common,
  entryPoints: ["src/console.css"],
  outfile: `${out}/console.css`,
  format: undefined,
});
// The demo page is a plain file: the daemon fills in its placeholders.
writeFileSync(`${out}/demo.html`, readFileSync("src/demo.html"));
