//! The committed build (`ui/dist`) is what the sources build to, and within its size budgets.
//!
//! Needs node and npm (README, "Tests"): `npm ci` runs first when `ui/node_modules` is missing.
//! It type-checks the sources (`tsc`), rebuilds them into a scratch folder and compares bytes. And
//! the console shows no prose but from its one table of strings (`ui/src/strings.ts`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The loader's budget, gzipped: it is on every page of every site that embeds the chat.
const LOADER_BUDGET_GZ: usize = 4 * 1024;
/// The chat app's budget, gzipped (script and stylesheet).
const APP_BUDGET_GZ: usize = 40 * 1024;
/// The console's budget, gzipped (script and stylesheet): issue 24's.
const CONSOLE_BUDGET_GZ: usize = 150 * 1024;

fn ui() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).current_dir(ui()).output().unwrap_or_else(|e| {
        panic!("{program} could not run ({e}): install node and npm (README, Tests)")
    });
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

fn installed() {
    if !ui().join("node_modules/esbuild").exists() {
        run("npm", &["ci", "--no-audit", "--no-fund"]);
    }
}

fn gzipped_len(path: &Path) -> usize {
    let script = "const z=require('zlib'),f=require('fs');\
                  process.stdout.write(String(z.gzipSync(f.readFileSync(process.argv[1]),{level:9}).length))";
    run("node", &["-e", script, path.to_str().unwrap()]).parse().unwrap()
}

#[test]
fn the_committed_build_is_fresh_and_within_budget() {
    installed();
    run("npx", &["--no-install", "tsc", "--noEmit", "-p", "."]);
    let scratch = tempfile::tempdir().unwrap();
    run("node", &["build.mjs", "--out", scratch.path().to_str().unwrap()]);
    let dist = ui().join("dist");
    let mut names: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["chat.css", "chat.js", "console.css", "console.js", "demo.html", "widget.js"]
    );
    for name in &names {
        let built = std::fs::read(scratch.path().join(name)).unwrap();
        let committed = std::fs::read(dist.join(name)).unwrap_or_default();
        assert!(
            built == committed,
            "crates/switchboard-web/ui/dist/{name} is stale: run the build and commit \
             (npm --prefix crates/switchboard-web/ui run build)"
        );
    }
    let loader = gzipped_len(&dist.join("widget.js"));
    assert!(
        loader <= LOADER_BUDGET_GZ,
        "the loader is {loader} bytes gzipped, over {LOADER_BUDGET_GZ}"
    );
    let app = gzipped_len(&dist.join("chat.js")) + gzipped_len(&dist.join("chat.css"));
    assert!(app <= APP_BUDGET_GZ, "the chat app is {app} bytes gzipped, over {APP_BUDGET_GZ}");
    let console = gzipped_len(&dist.join("console.js")) + gzipped_len(&dist.join("console.css"));
    assert!(
        console <= CONSOLE_BUDGET_GZ,
        "the console is {console} bytes gzipped, over {CONSOLE_BUDGET_GZ}"
    );
}

/// The string literals of a TypeScript source, comments left out (a small tokenizer: enough for
/// the console's sources, which hold no regular expression literal with a quote in it).
fn string_literals(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let (mut found, mut at) = (Vec::new(), 0);
    while at < chars.len() {
        match (chars[at], chars.get(at + 1)) {
            ('/', Some('/')) => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            ('/', Some('*')) => {
                at += 2;
                while at + 1 < chars.len() && !(chars[at] == '*' && chars[at + 1] == '/') {
                    at += 1;
                }
                at += 2;
            }
            (quote @ ('"' | '\'' | '`'), _) => {
                let mut text = String::new();
                at += 1;
                while at < chars.len() && chars[at] != quote {
                    if chars[at] == '\\' {
                        at += 1;
                    }
                    text.push(chars[at]);
                    at += 1;
                }
                at += 1;
                found.push(text);
            }
            _ => at += 1,
        }
    }
    found
}

/// Whether a literal reads as words shown to a person: two or more words, the first capitalised
/// (class lists, ids, paths and keys are lower case or one word).
fn reads_as_prose(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let worded = words.iter().filter(|w| w.chars().any(char::is_alphabetic)).count() >= 2;
    worded && words[0].starts_with(|c: char| c.is_ascii_uppercase()) && !text.contains("${")
}

#[test]
fn every_string_the_console_shows_is_in_its_table() {
    let sources = ["console.ts", "agent.ts", "supervisor.ts", "admin.ts", "link.ts", "http.ts"];
    let mut prose = Vec::new();
    for name in sources {
        let source = std::fs::read_to_string(ui().join("src").join(name)).unwrap();
        for text in string_literals(&source).into_iter().filter(|t| reads_as_prose(t)) {
            prose.push(format!("{name}: {text:?}"));
        }
    }
    assert!(prose.is_empty(), "move these to ui/src/strings.ts:\n{}", prose.join("\n"));
    // The check itself sees prose where it is.
    let table = std::fs::read_to_string(ui().join("src/strings.ts")).unwrap();
    assert!(string_literals(&table).iter().any(|t| t == "Switchboard console"));
    assert!(string_literals(&table).iter().filter(|t| reads_as_prose(t)).count() > 50);
}

/// The agent view's `badge` of each channel type the daemon makes (the domain's
/// `ChannelType::as_str`, written out: this crate depends on none of the workspace), bundled
/// with esbuild and run in node.
#[test]
fn every_channel_type_has_its_badge() {
    installed();
    let script = r#"
        const { buildSync } = require("esbuild");
        const entry = 'import { badge } from "./src/agent.ts"; globalThis.badge = badge;';
        const out = buildSync({ stdin: { contents: entry, resolveDir: ".", loader: "ts" }, bundle: true, write: false, format: "iife", logLevel: "error" });
        eval(out.outputFiles[0].text);
        const kinds = ["web", "sms", "facebook", "whatsapp", "line", "custom", "toString", undefined];
        process.stdout.write(kinds.map((k) => globalThis.badge(k)).join(","));
    "#;
    let badges = run("node", &["-e", script]);
    assert_eq!(badges, "Web,SMS,Messenger,WhatsApp,LINE,Custom,Custom,Custom");
}
