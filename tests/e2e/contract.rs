//! The OpenAPI document as a contract a fuzzer holds the server to: schemathesis (from PyPI,
//! tests/contract/requirements.txt, in a virtual environment under the target folder) reads the
//! real binary's `/openapi.json` and sends what the document allows and what it forbids, with
//! the settings of tests/contract/schemathesis.toml. It fails on any 5xx, a response that does
//! not match its schema or has an undocumented status, a request the document allows refused, or
//! one it forbids accepted. Deterministic (the same document gives the same requests); its report
//! is kept under target/tmp/contract-artefacts/ (JUnit XML, the NDJSON event log, the output,
//! and the replay cache).

use std::process::Command;

use serde_json::Value;

use crate::support::api::{daemon_command, ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER};
use crate::support::python::{python_with, repo};
use crate::support::Daemon;

const GREETING: &str =
    include_str!("../../crates/switchboard-studio/tests/flows/greeting_menu.json");

/// The SID of what `path` made from `form`.
fn made(daemon: &Daemon, path: &str, form: &[(&str, &str)]) -> String {
    let response = daemon.post(path, form);
    assert_eq!(response.status, 201, "POST {path}: {}", response.body);
    let body: Value = response.json();
    body["sid"].as_str().expect("a sid").to_owned()
}

/// One resource of each kind the document's paths name, as environment variables for the
/// settings file: the fuzzer's requests reach their handlers instead of a 404.
fn resources(daemon: &Daemon) -> Vec<(&'static str, String)> {
    let service = made(daemon, "/chat/v2/Services", &[("FriendlyName", "contract")]);
    let mut made_here = chat_resources(daemon, &service);
    made_here.extend(flex_resources(daemon, &service));
    let workspace = made(
        daemon,
        "/taskrouter/v1/Workspaces",
        &[("FriendlyName", "Routing"), ("Template", "FIFO")],
    );
    let studio_flow = made(
        daemon,
        "/studio/v2/Flows",
        &[("FriendlyName", "greeting"), ("Status", "draft"), ("Definition", GREETING)],
    );
    made_here.extend([
        ("CONTRACT_SERVICE", service),
        ("CONTRACT_WORKSPACE", workspace),
        ("CONTRACT_STUDIO_FLOW", studio_flow),
    ]);
    made_here
}

/// A channel of `service` with a member, a message, a webhook and an invite; a user; a role.
fn chat_resources(daemon: &Daemon, service: &str) -> Vec<(&'static str, String)> {
    let chat = format!("/chat/v2/Services/{service}");
    let channel = made(
        daemon,
        &format!("{chat}/Channels"),
        &[("FriendlyName", "general"), ("UniqueName", "general")],
    );
    let in_channel = format!("{chat}/Channels/{channel}");
    let member = made(daemon, &format!("{in_channel}/Members"), &[("Identity", "agent.alice")]);
    let message = made(
        daemon,
        &format!("{in_channel}/Messages"),
        &[("Body", "hello"), ("From", "agent.alice")],
    );
    let webhook = made(
        daemon,
        &format!("{in_channel}/Webhooks"),
        &[
            ("Type", "webhook"),
            ("Configuration.Url", "http://127.0.0.1:9/hook"),
            ("Configuration.Filters", "onMessageSent"),
        ],
    );
    let invite = made(daemon, &format!("{in_channel}/Invites"), &[("Identity", "agent.carol")]);
    let user = made(daemon, &format!("{chat}/Users"), &[("Identity", "agent.bob")]);
    let role = made(
        daemon,
        &format!("{chat}/Roles"),
        &[("FriendlyName", "reader"), ("Type", "channel"), ("Permission", "sendMessage")],
    );
    vec![
        ("CONTRACT_CHANNEL", channel),
        ("CONTRACT_MEMBER", member),
        ("CONTRACT_MESSAGE", message),
        ("CONTRACT_WEBHOOK", webhook),
        ("CONTRACT_INVITE", invite),
        ("CONTRACT_USER", user),
        ("CONTRACT_ROLE", role),
    ]
}

/// An SMS flow and a web flow on `service`, a custom channel and a web chat on the web flow.
fn flex_resources(daemon: &Daemon, service: &str) -> Vec<(&'static str, String)> {
    let flow = |form: &[(&str, &str)]| {
        let mut form = form.to_vec();
        form.extend([("ChatServiceSid", service), ("IntegrationType", "task")]);
        form.extend([("Enabled", "true"), ("FriendlyName", "flow")]);
        made(daemon, "/flex/v1/FlexFlows", &form)
    };
    let sms_flow = flow(&[("ChannelType", "sms"), ("ContactIdentity", OUR_NUMBER)]);
    let web_flow = flow(&[("ChannelType", "web")]);
    let flex_channel = made(
        daemon,
        "/flex/v1/Channels",
        &[
            ("FlexFlowSid", &web_flow),
            ("Identity", "customer-1"),
            ("ChatUserFriendlyName", "Customer"),
            ("ChatFriendlyName", "chat"),
        ],
    );
    let web_channel = made(
        daemon,
        "/flex/v1/WebChannels",
        &[
            ("FlexFlowSid", &web_flow),
            ("Identity", "customer-2"),
            ("CustomerFriendlyName", "Guest"),
            ("ChatFriendlyName", "web"),
        ],
    );
    vec![
        ("CONTRACT_FLEX_FLOW", sms_flow),
        ("CONTRACT_WEB_FLOW", web_flow),
        ("CONTRACT_FLEX_CHANNEL", flex_channel),
        ("CONTRACT_WEB_CHANNEL", web_channel),
    ]
}

#[test]
fn schemathesis_finds_the_server_as_strict_as_its_document() {
    let python =
        python_with("contract-venv", "tests/contract/requirements.txt", "import schemathesis");
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    // Thousands of requests from one address and one credential, bad credentials among them
    // (the `ignored_auth` check): the rate limits are off here (tests/e2e/rate.rs tests them).
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0")
        .env("SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE", "0")
        .env("SWITCHBOARD_RATE_ADDRESS_PER_SECOND", "0");
    let daemon = Daemon::start(command);
    let artefacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract-artefacts");
    let _ = std::fs::remove_dir_all(&artefacts);
    std::fs::create_dir_all(&artefacts).unwrap();

    // Run in the artefacts folder: schemathesis keeps its replay cache in `.schemathesis/` of its
    // working directory (`st replay <id>` from there reproduces a failure).
    let run = Command::new(python.with_file_name("schemathesis"))
        .current_dir(&artefacts)
        .arg("--config-file")
        .arg(repo().join("tests/contract/schemathesis.toml"))
        .arg("run")
        .arg(daemon.url("/openapi.json"))
        .args(["--no-color", "--report", "junit,ndjson", "--report-junit-path"])
        .arg(artefacts.join("junit.xml"))
        .arg("--report-ndjson-path")
        .arg(artefacts.join("events.ndjson"))
        .envs(resources(&daemon))
        .env("CONTRACT_ACCOUNT_SID", ACCOUNT_SID)
        .env("CONTRACT_AUTH_TOKEN", AUTH_TOKEN)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    std::fs::write(artefacts.join("output.txt"), report.as_bytes()).unwrap();
    assert!(
        run.status.success(),
        "schemathesis found the server and its document apart (report in {}):\n{report}\n{}\n{}",
        artefacts.display(),
        String::from_utf8_lossy(&run.stderr),
        daemon.stderr()
    );
    // It ran the operations: a document it could not read, or a run that tested nothing,
    // passes no check.
    let tested = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert!(tested.is_some_and(|n| n > 60), "operations tested: {tested:?}\n{report}");
}
