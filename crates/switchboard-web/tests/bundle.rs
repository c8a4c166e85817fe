//! The committed build (`ui/dist`) is what the sources build to, and within its size budgets.
//!
//! Needs node and npm (README, "Tests"): `npm ci` runs first when `ui/node_modules` is missing.
//! It type-checks the sources (`tsc`), rebuilds them into a scratch folder and compares bytes.

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
