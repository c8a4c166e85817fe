//! The tidy test: rules about the workspace's own sources, checked by reading them (the idea of
//! rust-analyzer's `tidy.rs`). Nothing here builds or runs Switchboard: the manifests are read
//! with `toml`, the Rust files parsed with `syn`, and each test fails with every place that breaks
//! its rule.
//!
//! Each allow-list names what breaks a rule today and why. An entry that no longer breaks its rule
//! fails the test too, so the lists stay true and can only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};

/// The workspace's crates from the bottom layer up. A crate may depend (normal, dev or build
/// dependency) only on crates of a lower layer; a new crate must be placed here.
const LAYERS: &[&[&str]] = &[
    // The widget's built files depend on nothing of ours; only the HTTP layer serves them.
    &["switchboard-domain", "switchboard-web"],
    // The domains of TaskRouter and Studio, pure like the one below them.
    &["switchboard-routing", "switchboard-studio"],
    &["switchboard-crypto"],
    &["switchboard-store"],
    &["switchboard-actors"],
    &["switchboard-http"],
    &["switchboard", "switchboard-bench"],
];

/// What `switchboard-http` may name of the store: types only, none of them a call. (file, path,
/// why).
const HTTP_STORE_TYPES: &[(&str, &str, &str)] = &[
    (
        "crates/switchboard-http/src/admin.rs",
        "switchboard_store::AnchoredHeads",
        "the signed heads `Audit::anchor_heads` returns, shown as `/admin/v1/Heads`",
    ),
    (
        "crates/switchboard-http/src/audit.rs",
        "switchboard_store::ReplayItem",
        "the replayed record `event_line` writes as an audit JSON line",
    ),
    (
        "crates/switchboard-http/src/audit.rs",
        "switchboard_store::ReplayRecord",
        "matched to tell an event from a shredded record in `event_line`",
    ),
    (
        "crates/switchboard-http/src/audit.rs",
        "switchboard_store::AnyEvent",
        "the unit test of `event_line` builds a replayed record of a channel event",
    ),
    (
        "crates/switchboard-http/src/media.rs",
        "switchboard_store::MediaRead",
        "the answer of `Engine::read_media`: found, missing or shredded",
    ),
];

/// Files of `switchboard-http` that still reach the store through a `.log()` call. None since
/// `Engine::log()` became the engine's own (issue 19, item 3); the check stays as a guard.
const HTTP_ENGINE_LOG_PENDING: &[&str] = &[];

/// The crates whose code must not read the system clock outside a `clock.rs`.
const CLOCKLESS_CRATES: &[&str] = &[
    "crates/switchboard-domain",
    "crates/switchboard-routing",
    "crates/switchboard-studio",
    "crates/switchboard-actors",
];

/// Types whose `now…` reads the system clock (`Instant::now` is a monotonic timer, allowed).
const WALL_CLOCKS: &[&str] = &["SystemTime", "Utc", "Local", "OffsetDateTime", "UtcDateTime"];

/// Files outside a `clock.rs` that read the system clock. (file, why).
const CLOCK_READERS: &[(&str, &str)] = &[];

/// The longest a function's body may be, in lines from its `{` to its `}`.
const MAX_FUNCTION_LINES: usize = 70;

/// Functions longer than [`MAX_FUNCTION_LINES`]. (file, function, why).
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "crates/switchboard/src/config.rs",
        "ServeArgs::resolve",
        "every serve setting in turn (flag, file, default) and its bounds",
    ),
    (
        "crates/switchboard/src/credentials.rs",
        "resolve",
        "each credential given, stored or made in turn, with its context",
    ),
    (
        "crates/switchboard/src/serve.rs",
        "serve",
        "the daemon's start in order: bind, engine, limits, TLS, signals, announce",
    ),
    (
        "crates/switchboard/src/token.rs",
        "run",
        "the `token` tool: each input from flag, variable or file, then mint",
    ),
    (
        "crates/switchboard-actors/src/consumer/webhooks.rs",
        "describe",
        "a channel webhook's parameters, one arm per event kind",
    ),
    (
        "crates/switchboard-actors/src/client.rs",
        "Clients<'_>::checked_action",
        "one arm per action: its pre-event webhook and its commands (the rules are the domain's `client_policy`)",
    ),
    (
        "crates/switchboard-actors/src/consumer/replies.rs",
        "requests",
        "the outbound request per provider route (Twilio, WhatsApp, Messenger), media too",
    ),
    (
        "crates/switchboard-bench/src/http.rs",
        "run",
        "the `http` bench: daemon, baseline and raw pipeline round by round, then the table",
    ),
    (
        "crates/switchboard-bench/src/log.rs",
        "audit",
        "the `log` bench's audit part: build, integrity, raw decode, replay side by side",
    ),
    (
        "crates/switchboard-bench/src/log.rs",
        "run",
        "the `log` bench: the parts that were asked for, in order, and their tables",
    ),
    (
        "crates/switchboard-bench/src/realtime.rs",
        "run_latency",
        "the `realtime` bench's steps in order: actions, one socket, idle sockets, memory",
    ),
    (
        "crates/switchboard-domain/src/command.rs",
        "update",
        "`decide` for an existing channel: one arm per command",
    ),
    (
        "crates/switchboard-domain/src/command/tests.rs",
        "every_event",
        "test data: every event variant with every nested value",
    ),
    (
        "crates/switchboard-http/src/wire.rs",
        "tests::every_event",
        "test data: one event of each of the 24 kinds, as the frame fixture holds them",
    ),
    (
        "crates/switchboard-domain/src/state.rs",
        "ChannelState::fold",
        "the fold of one event: one arm per event variant",
    ),
    (
        "crates/switchboard-domain/tests/properties.rs",
        "any_event",
        "a proptest strategy: one arm per event variant",
    ),
    (
        "crates/switchboard-domain/tests/properties.rs",
        "command",
        "a proptest strategy: one weighted arm per command",
    ),
    (
        "crates/switchboard-http/src/media.rs",
        "upload",
        "a media upload: caller, channel, role, type and size checked, stored, answered",
    ),
    (
        "crates/switchboard-store/src/durable.rs",
        "parse",
        "reads the durable record's slots and every way they can be damaged",
    ),
    (
        "crates/switchboard-store/src/flusher.rs",
        "flush_loop",
        "the group-commit loop: wait, pace, fold, flush, sync the record, wake waiters",
    ),
    (
        "crates/switchboard-store/src/integrity.rs",
        "check",
        "compares the durable record with the log, one finding per kind of mismatch",
    ),
    (
        "crates/switchboard-store/src/log.rs",
        "EventLog::open_with",
        "opening a folder: integrity, accepted loss, adopting old folders, the flusher",
    ),
    (
        "crates/switchboard-store/src/verify.rs",
        "verify_entries",
        "one pass over records and heads in key order, reporting each finding where it is",
    ),
    (
        "crates/switchboard-store/src/verify.rs",
        "verify_split",
        "splits a verify over threads by key ranges and merges their reports in order",
    ),
    (
        "crates/switchboard-store/src/verify/folder.rs",
        "verify_folder",
        "verifies a private copy of a folder step by step, reporting what it cannot read",
    ),
    (
        "crates/switchboard-store/tests/backup.rs",
        "a_backup_taken_while_writers_go_on_restores_whole_and_consistent",
        "one scenario: writers, a backup meanwhile, a restore, the checks",
    ),
    (
        "crates/switchboard-store/tests/log.rs",
        "every_event_commands",
        "test data: commands that produce every event variant",
    ),
    (
        "crates/switchboard-store/tests/recovery.rs",
        "several_appends_past_the_checkpoint_are_all_rolled_back_with_their_index_changes",
        "one scenario: appends past the checkpoint, a crash, recovery, the checks",
    ),
    (
        "crates/switchboard-store/tests/shred.rs",
        "a_shredded_channel_is_unreadable_verifiable_and_closed_to_writes",
        "one scenario: a channel shredded, then every way to read or write it tried",
    ),
    (
        "crates/switchboard-store/tests/snapshot_props.rs",
        "command",
        "test data: one command per kind",
    ),
    (
        "tests/e2e/channel_webhooks.rs",
        "webhooks_in_twilio_shapes_and_a_deleted_one_gets_nothing",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/channels.rs",
        "a_deleted_channel_is_gone_from_the_api_but_not_from_the_log",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/channels.rs",
        "an_invite_lets_its_identity_join_a_private_channel_once",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/crash.rs",
        "every_acknowledged_webhook_survives_kill_9",
        "one end-to-end scenario: load, kill -9, restart, every acknowledgement checked",
    ),
    (
        "tests/e2e/first_hour.rs",
        "dev_commands_post_signed_webhooks_and_replies_go_to_the_sandbox_only",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/first_hour.rs",
        "token_and_replay_take_the_daemons_credentials_from_its_file_or_folder_and_say_so",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/flex_channels.rs",
        "bad_input_gets_twilio_s_error_shape_and_writes_nothing",
        "bad requests one after another, each answered and checked",
    ),
    (
        "tests/e2e/flex_channels.rs",
        "one_call_opens_the_channel_member_and_task_and_the_next_finds_them",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/golden.rs",
        "write_full_channel",
        "writes the golden log: a channel with every event kind",
    ),
    (
        "tests/e2e/media.rs",
        "an_agent_uploads_with_a_token_sends_media_over_the_websocket_and_the_sms_customer_gets_it",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/media.rs",
        "uploads_attach_with_media_sid_signed_links_expire_and_shredded_media_are_gone",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/meta.rs",
        "every_whatsapp_message_type_lands_as_a_message",
        "every WhatsApp message type in one webhook, each checked",
    ),
    (
        "tests/e2e/openapi.rs",
        "real_answers_match_the_document",
        "one call of every kind, each answer validated against the document",
    ),
    (
        "tests/e2e/outbound.rs",
        "twilio_status_callbacks_move_sms_replies_and_each_number_uses_its_account",
        "one end-to-end scenario whose steps build on each other",
    ),
    (
        "tests/e2e/permissions.rs",
        "members_send_edit_and_delete_as_their_roles_allow",
        "one end-to-end scenario: members of each role act, each outcome checked",
    ),
    (
        "tests/e2e/protect.rs",
        "a_backup_taken_while_serving_restores_with_everything_acknowledged_before_it",
        "one end-to-end scenario: load, backup meanwhile, restore, every ack checked",
    ),
    (
        "tests/e2e/users.rs",
        "services_have_twilios_default_roles_and_roles_are_managed",
        "one end-to-end scenario whose steps build on each other",
    ),
];

/// Reference notes kept outside the repository, by name (their `.md` file is what is looked for).
const OUTSIDE_NOTES: &[&str] = &[
    "perf-limits",
    "peers",
    "real-clients",
    "twilio-api",
    "widget",
    "taskrouter",
    "style-anchors",
];

/// Pointers to outside notes in files being changed elsewhere at the time this test was written;
/// to be replaced by the fact itself or dropped. (file, note).
const POINTERS_PENDING: &[(&str, &str)] = &[];

#[test]
fn crates_depend_only_on_lower_layers() {
    let root = workspace_root();
    let layer_of = |name: &str| LAYERS.iter().position(|layer| layer.contains(&name));
    let mut problems = Vec::new();
    let mut found = BTreeSet::new();
    for manifest in crate_manifests(&root) {
        let table: toml::Table = read(&root, &manifest)
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let name = table["package"]["name"].as_str().expect("package.name").to_owned();
        let Some(own) = layer_of(&name) else {
            problems.push(format!("{name}: not in LAYERS; give it its layer"));
            continue;
        };
        for dependency in dependency_names(&table) {
            if layer_of(&dependency).is_some_and(|layer| layer >= own) {
                problems.push(format!("{name} depends on {dependency}, which is not below it"));
            }
        }
        found.insert(name);
    }
    for name in LAYERS.iter().flat_map(|layer| layer.iter()) {
        if !found.contains(*name) {
            problems.push(format!("{name}: in LAYERS but no such crate under crates/"));
        }
    }
    assert_none("the layering", problems);
}

#[test]
fn http_names_no_store_call() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    let mut log_callers = BTreeSet::new();
    for file in rust_files(&root, "crates/switchboard-http") {
        let text = read(&root, &file);
        let key = slash(&file);
        let mut finder = StoreNames::default();
        finder.visit_file(&parse(&file, &text));
        let mentions = idents(&text, &file).filter(|i| i.name == "switchboard_store").count();
        if mentions != finder.mentions {
            problems
                .push(format!("{key}: names `switchboard_store` where this test cannot read it"));
        }
        for path in finder.paths {
            if !HTTP_STORE_TYPES.iter().any(|(f, p, _)| *f == key && *p == path) {
                problems.push(format!("{key}: names `{path}`; go through the engine instead"));
            }
            named.insert((key.clone(), path));
        }
        if finder.log_calls > 0 {
            if !HTTP_ENGINE_LOG_PENDING.contains(&key.as_str()) {
                problems.push(format!("{key}: calls `.log()`, the store behind the engine"));
            }
            log_callers.insert(key);
        }
    }
    for (file, path, _) in HTTP_STORE_TYPES {
        if !named.contains(&(file.to_string(), path.to_string())) {
            problems
                .push(format!("{file}: no longer names `{path}`; drop it from HTTP_STORE_TYPES"));
        }
    }
    for file in HTTP_ENGINE_LOG_PENDING {
        if !log_callers.contains(*file) {
            problems
                .push(format!("{file}: no longer calls `.log()`; drop it from the pending list"));
        }
    }
    assert_none("switchboard-http and the store", problems);
}

#[test]
fn domain_and_actors_read_the_clock_only_in_clock_rs() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut readers = BTreeSet::new();
    for file in CLOCKLESS_CRATES.iter().flat_map(|dir| rust_files(&root, dir)) {
        if file.file_name().is_some_and(|name| name == "clock.rs") {
            continue;
        }
        let text = read(&root, &file);
        let key = slash(&file);
        let reads = clock_reads(&text, &file);
        if !reads.is_empty() {
            if !CLOCK_READERS.iter().any(|(f, _)| *f == key) {
                for (line, what) in reads {
                    problems.push(format!("{key}:{line}: `{what}` reads the clock; use clock.rs"));
                }
            }
            readers.insert(key);
        }
    }
    for (file, _) in CLOCK_READERS {
        if !readers.contains(*file) {
            problems.push(format!("{file}: reads no clock any more; drop it from CLOCK_READERS"));
        }
    }
    assert_none("reading the system clock", problems);
}

#[test]
fn functions_are_short() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut measured = BTreeMap::new();
    for file in ["crates", "tests"].iter().flat_map(|dir| rust_files(&root, dir)) {
        let text = read(&root, &file);
        let key = slash(&file);
        let mut finder = Functions::default();
        finder.visit_file(&parse(&file, &text));
        for function in finder.found {
            let allowed = LONG_FUNCTIONS.iter().any(|(f, n, _)| *f == key && *n == function.name);
            if function.lines > MAX_FUNCTION_LINES && !allowed {
                problems.push(format!(
                    "{key}:{}: `{}` is {} lines long (at most {MAX_FUNCTION_LINES})",
                    function.line, function.name, function.lines
                ));
            }
            measured.insert((key.clone(), function.name), function.lines);
        }
    }
    for (file, name, _) in LONG_FUNCTIONS {
        match measured.get(&(file.to_string(), name.to_string())) {
            None => {
                problems.push(format!("{file}: no function `{name}`; drop it from LONG_FUNCTIONS"))
            }
            Some(&lines) if lines <= MAX_FUNCTION_LINES => problems.push(format!(
                "{file}: `{name}` is {lines} lines now; drop it from LONG_FUNCTIONS"
            )),
            Some(_) => {}
        }
    }
    assert_none("function length", problems);
}

#[test]
fn every_module_starts_with_its_purpose() {
    let root = workspace_root();
    let problems: Vec<String> = ["crates", "tests"]
        .iter()
        .flat_map(|dir| rust_files(&root, dir))
        .filter(|file| !read(&root, file).starts_with("//!"))
        .map(|file| format!("{}: the first line is not a `//!` line", slash(&file)))
        .collect();
    assert_none("module descriptions", problems);
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut pending_found = BTreeSet::new();
    let tops = ["crates", "tests", "docs", "deploy", "README.md", "Cargo.toml"];
    for file in tops.iter().flat_map(|top| all_files(&root, top)) {
        let Ok(text) = fs::read_to_string(root.join(&file)) else { continue };
        let key = slash(&file);
        for (line, what) in outside_pointers(&text) {
            if POINTERS_PENDING.iter().any(|(f, note)| *f == key && *note == what) {
                pending_found.insert((key.clone(), what));
            } else {
                problems.push(format!(
                    "{key}:{line}: points at `{what}`, outside the repository; write the fact here"
                ));
            }
        }
    }
    for (file, note) in POINTERS_PENDING {
        if !pending_found.contains(&(file.to_string(), note.to_string())) {
            problems.push(format!("{file}: no longer points at `{note}`; drop it from the list"));
        }
    }
    assert_none("pointers outside the repository", problems);
}

/// Fails with every problem, one a line.
fn assert_none(rule: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "tidy: {rule}:\n  {}", problems.join("\n  "));
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(root: &Path, file: &Path) -> String {
    fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The path with `/` between its parts, as the lists above write it.
fn slash(file: &Path) -> String {
    file.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn parse(file: &Path, text: &str) -> syn::File {
    syn::parse_file(text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every file under `top` (a folder or a file), relative to the root, sorted; build output and
/// hidden folders left out.
fn all_files(root: &Path, top: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::from(top)];
    while let Some(path) = folders.pop() {
        let full = root.join(&path);
        if full.is_file() {
            files.push(path);
            continue;
        }
        let Ok(entries) = fs::read_dir(&full) else { continue };
        for entry in entries.map(|e| e.expect("a folder entry")) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // node_modules is npm's install of the widget's tools (ignored by git): not ours.
            if name != "target" && name != "node_modules" && !name.starts_with('.') {
                folders.push(path.join(&*name));
            }
        }
    }
    files.sort();
    files
}

fn rust_files(root: &Path, top: &str) -> Vec<PathBuf> {
    let mut files = all_files(root, top);
    files.retain(|file| file.extension().is_some_and(|ext| ext == "rs"));
    assert!(!files.is_empty(), "no Rust files under {top}");
    files
}

fn crate_manifests(root: &Path) -> Vec<PathBuf> {
    let mut manifests: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|entry| entry.expect("a folder entry").path())
        .map(|dir| dir.join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .map(|manifest| manifest.strip_prefix(root).expect("under the root").to_path_buf())
        .collect();
    manifests.sort();
    manifests
}

/// The packages a manifest depends on, in every dependency table (also per target), by their
/// package name (a renamed dependency says it in `package`).
fn dependency_names(manifest: &toml::Table) -> Vec<String> {
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    let targets =
        manifest.get("target").and_then(|t| t.as_table()).into_iter().flat_map(|t| t.values());
    let scopes = std::iter::once(manifest).chain(targets.filter_map(|t| t.as_table()));
    let mut names = Vec::new();
    for scope in scopes {
        for table in kinds.iter().filter_map(|kind| scope.get(*kind).and_then(|t| t.as_table())) {
            for (key, value) in table {
                let renamed = value.get("package").and_then(|p| p.as_str());
                names.push(renamed.unwrap_or(key).to_owned());
            }
        }
    }
    names
}

/// An identifier of a file's tokens (macro bodies included, comments not).
struct Ident {
    name: String,
    line: usize,
    /// The three tokens after it, as text without spaces (`::now`, `.elapsed(`).
    next: String,
}

/// Every identifier of a file, with what follows it.
fn idents(text: &str, file: &Path) -> impl Iterator<Item = Ident> {
    let stream: TokenStream = text.parse().unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut leaves = Vec::new();
    flatten(stream, &mut leaves);
    let found: Vec<Ident> = leaves
        .iter()
        .enumerate()
        .filter_map(|(at, (text, line))| {
            let next = leaves[at + 1..(at + 4).min(leaves.len())].iter().map(|(t, _)| t.as_str());
            line.map(|line| Ident {
                name: text.trim_end().to_owned(),
                line,
                next: next.collect::<String>().replace(' ', ""),
            })
        })
        .collect();
    found.into_iter()
}

/// The tokens of a stream in order, groups opened, as text; an identifier also has its line.
fn flatten(stream: TokenStream, leaves: &mut Vec<(String, Option<usize>)>) {
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let delimiters = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                leaves.push((delimiters.0.to_owned(), None));
                flatten(group.stream(), leaves);
                leaves.push((delimiters.1.to_owned(), None));
            }
            TokenTree::Ident(ident) => {
                leaves.push((format!("{ident} "), Some(ident.span().start().line)))
            }
            // `::` is two joint punctuation tokens; their text stays together.
            TokenTree::Punct(p) if p.spacing() == Spacing::Joint => {
                leaves.push((p.as_char().to_string(), None))
            }
            other => leaves.push((format!("{other} "), None)),
        }
    }
}

/// Where a file reads the system clock: `SystemTime::now()` and the like, or
/// `UNIX_EPOCH.elapsed()`. (line, what).
fn clock_reads(text: &str, file: &Path) -> Vec<(usize, String)> {
    idents(text, file)
        .filter_map(|ident| {
            let reads = (WALL_CLOCKS.contains(&ident.name.as_str())
                && ident.next.starts_with("::now"))
                || (ident.name == "UNIX_EPOCH" && ident.next.starts_with(".elapsed"));
            let what = format!("{}{}", ident.name, ident.next);
            let what = what.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
            reads.then(|| (ident.line, what.to_owned()))
        })
        .collect()
}

/// The paths into `switchboard_store` a file names, and its `.log()` calls.
#[derive(Default)]
struct StoreNames {
    paths: BTreeSet<String>,
    /// `use` trees and paths that start at `switchboard_store` (one per time the name is written).
    mentions: usize,
    log_calls: usize,
}

impl<'ast> Visit<'ast> for StoreNames {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut leaves = Vec::new();
        use_leaves(&item.tree, String::new(), &mut leaves);
        if leaves.iter().any(|leaf| leaf.starts_with("switchboard_store::")) {
            self.mentions += 1;
        }
        self.paths.extend(leaves.into_iter().filter(|l| l.starts_with("switchboard_store::")));
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.first().is_some_and(|s| s.ident == "switchboard_store") {
            self.mentions += 1;
            let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.paths.insert(names.join("::"));
        }
        visit::visit_path(self, path);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "log" && call.args.is_empty() {
            self.log_calls += 1;
        }
        visit::visit_expr_method_call(self, call);
    }
}

/// The full paths a `use` tree brings in (`a::{b, c::*}` is `a::b` and `a::c::*`).
fn use_leaves(tree: &syn::UseTree, prefix: String, leaves: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(path) => {
            use_leaves(&path.tree, format!("{prefix}{}::", path.ident), leaves)
        }
        syn::UseTree::Name(name) => leaves.push(format!("{prefix}{}", name.ident)),
        syn::UseTree::Rename(rename) => leaves.push(format!("{prefix}{}", rename.ident)),
        syn::UseTree::Glob(_) => leaves.push(format!("{prefix}*")),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_leaves(tree, prefix.clone(), leaves);
            }
        }
    }
}

/// A function with a body: its name within the file (`module::Type::name`, or `<Type as
/// Trait>::name` in a trait's impl), the line it starts on and its body's length in lines.
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

#[derive(Default)]
struct Functions {
    /// The modules, impls, traits and functions around the one being visited.
    scope: Vec<String>,
    found: Vec<Function>,
}

impl Functions {
    fn enter(&mut self, name: &syn::Ident, body: &syn::Block, visit_body: impl FnOnce(&mut Self)) {
        let (open, close) = (body.brace_token.span.open(), body.brace_token.span.close());
        let mut path = self.scope.clone();
        path.push(name.to_string());
        self.found.push(Function {
            name: path.join("::"),
            line: name.span().start().line,
            lines: close.end().line - open.start().line + 1,
        });
        self.within(name.to_string(), visit_body);
    }

    fn within(&mut self, scope: String, visit_inside: impl FnOnce(&mut Self)) {
        self.scope.push(scope);
        visit_inside(self);
        self.scope.pop();
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.within(item.ident.to_string(), |v| visit::visit_item_mod(v, item));
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let own = compact(&item.self_ty);
        let name = match &item.trait_ {
            Some((trait_, _)) => format!("<{own} as {}>", compact(trait_)),
            None => own,
        };
        self.within(name, |v| visit::visit_item_impl(v, item));
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        self.within(item.ident.to_string(), |v| visit::visit_item_trait(v, item));
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.enter(&item.sig.ident, &item.block, |v| visit::visit_item_fn(v, item));
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.enter(&item.sig.ident, &item.block, |v| visit::visit_impl_item_fn(v, item));
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        match &item.default {
            Some(body) => {
                self.enter(&item.sig.ident, body, |v| visit::visit_trait_item_fn(v, item))
            }
            None => visit::visit_trait_item_fn(self, item),
        }
    }
}

/// A type or path as written, without the spaces the token printer puts between tokens.
fn compact(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    [(" :: ", "::"), (" < ", "<"), ("< ", "<"), (" >", ">"), (" ,", ","), ("& ", "&")]
        .iter()
        .fold(text, |text, (from, to)| text.replace(from, to))
}

/// The pointers a text holds to notes outside the repository. (line, note or path).
fn outside_pointers(text: &str) -> Vec<(usize, String)> {
    // Written in parts, so that this file does not point outside itself.
    let shared_notes = ["shared", "reference"].join("/");
    let sessions_folder = ["", "work", ""].join("/");
    let mut found = Vec::new();
    for (at, line) in text.lines().enumerate() {
        for note in OUTSIDE_NOTES {
            if line.contains(&format!("{note}.md")) {
                found.push((at + 1, note.to_string()));
            }
        }
        if line.contains(&shared_notes) || line.contains(&sessions_folder) {
            found.push((at + 1, "a folder outside the repository".to_owned()));
        }
        for (start, _) in line.match_indices("reference/") {
            let rest = &line[start + "reference/".len()..];
            let name = rest.split(|c: char| !(c.is_alphanumeric() || "_-.".contains(c))).next();
            // A sentence's full stop is not part of the name.
            let name = name.unwrap_or_default().trim_end_matches('.');
            if name.ends_with(".md") {
                found.push((at + 1, format!("reference/{name}")));
            }
        }
    }
    found
}
