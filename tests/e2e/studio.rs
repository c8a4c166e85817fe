//! Studio v2 through the real binary: flows made from Studio's own JSON (the three exported
//! shapes of the Studio crate's tests), revised, validated with every error named by state and
//! property, refused when a widget is not supported, kept across a restart; executions written
//! as the runner writes them (but started by no channel), read back with their steps and
//! contexts, ended and deleted; every answer checked against the OpenAPI document.

use serde_json::Value;

use crate::support::api::{assert_twilio_error, daemon_command, Response};
use crate::support::openapi::Contract;
use crate::support::studio::run_execution;
use crate::support::{Daemon, Folder};

const GREETING: &str =
    include_str!("../../crates/switchboard-studio/tests/flows/greeting_menu.json");
const PRE_SURVEY: &str =
    include_str!("../../crates/switchboard-studio/tests/flows/pre_survey.json");
const HTTP_LOOKUP: &str =
    include_str!("../../crates/switchboard-studio/tests/flows/http_lookup.json");

const FLOWS: &str = "/studio/v2/Flows";
const FLOW: &str = "/studio/v2/Flows/{flow}";
const EXECUTION: &str = "/studio/v2/Flows/{flow}/Executions/{execution}";
const STEP: &str = "/studio/v2/Flows/{flow}/Executions/{execution}/Steps/{step}";

fn start(folder: &Folder) -> Daemon {
    let mut command = daemon_command(&folder.data_dir());
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_MASTER_KEY_FILE", folder.key_file());
    Daemon::start(command)
}

/// `response`, which must have `status`, checked against the document's schema for it.
#[track_caller]
fn checked(
    contract: &Contract,
    method: &str,
    path: &str,
    response: Response,
    status: u16,
) -> Value {
    assert_eq!(response.status, status, "{method} {path}: {}", response.body);
    contract.check(method, path, &response)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn create(daemon: &Daemon, contract: &Contract, name: &str, definition: &str) -> Value {
    let made = daemon
        .post(FLOWS, &[("FriendlyName", name), ("Status", "draft"), ("Definition", definition)]);
    checked(contract, "post", FLOWS, made, 201)
}

/// The greeting flow published, then changed: revisions 2 and 3; no change makes none.
fn revise(daemon: &Daemon, contract: &Contract, base: &str) -> String {
    let publish = daemon.post(base, &[("Status", "published"), ("CommitMessage", "go live")]);
    let published = checked(contract, "post", FLOW, publish, 200);
    assert_eq!(
        (published["revision"].as_u64(), published["status"].as_str()),
        (Some(2), Some("published"))
    );
    let changed = GREETING.replace("Reply 1 for sales", "Press 1 for sales");
    let form =
        [("Status", "published"), ("Definition", changed.as_str()), ("CommitMessage", "wording")];
    let revised = checked(contract, "post", FLOW, daemon.post(base, &form), 200);
    assert_eq!(revised["revision"], 3);
    assert_eq!(revised["commit_message"], "wording");
    assert_eq!(revised["definition"], json(&changed));
    let same = checked(contract, "post", FLOW, daemon.post(base, &form), 200);
    assert_eq!(same["revision"], 3, "the same definition and status make no revision");
    let renamed = daemon.post(base, &[("Status", "published"), ("FriendlyName", "Front door")]);
    let renamed = checked(contract, "post", FLOW, renamed, 200);
    assert_eq!(
        (renamed["friendly_name"].as_str(), renamed["revision"].as_u64()),
        (Some("Front door"), Some(3))
    );
    changed
}

fn check_revisions(daemon: &Daemon, contract: &Contract, base: &str, changed: &str) {
    let path = format!("{base}/Revisions");
    let list =
        checked(contract, "get", "/studio/v2/Flows/{flow}/Revisions", daemon.get(&path), 200);
    let numbers: Vec<_> =
        list["revisions"].as_array().unwrap().iter().map(|r| r["revision"].clone()).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    assert_eq!(list["meta"]["key"], "revisions");
    let one = "/studio/v2/Flows/{flow}/Revisions/{revision}";
    let first = checked(contract, "get", one, daemon.get(&format!("{path}/1")), 200);
    assert_eq!(
        (first["definition"].clone(), first["status"].as_str()),
        (json(GREETING), Some("draft"))
    );
    let latest = checked(contract, "get", one, daemon.get(&format!("{path}/LatestPublished")), 200);
    assert_eq!(
        (latest["revision"].as_u64(), latest["definition"].clone()),
        (Some(3), json(changed))
    );
    assert_twilio_error(&daemon.get(&format!("{path}/9")), 404, 20404);
}

/// Validate and create refuse what is wrong, naming the state and property; nothing is kept.
fn refusals(daemon: &Daemon, contract: &Contract, base: &str) {
    let valid = daemon.post(
        "/studio/v2/Flows/Validate",
        &[("FriendlyName", "x"), ("Status", "draft"), ("Definition", PRE_SURVEY)],
    );
    let valid = checked(contract, "post", "/studio/v2/Flows/Validate", valid, 200);
    assert_eq!(valid, serde_json::json!({"valid": true}));
    let broken = GREETING
        .replace(
            r#""body": "Sales will write to you at {{contact.channel.address}} shortly.""#,
            r#""bodi": "x""#,
        )
        .replace(r#""timeout": "600""#, r#""timeout": "forever""#);
    assert_ne!(broken, GREETING, "the fixture still has what this test breaks");
    let form = [("FriendlyName", "x"), ("Status", "draft"), ("Definition", broken.as_str())];
    let refused = checked(
        contract,
        "post",
        "/studio/v2/Flows/Validate",
        daemon.post("/studio/v2/Flows/Validate", &form),
        400,
    );
    assert_eq!(refused["code"], 81022);
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("state 'greet': property 'timeout'"), "{message}");
    let errors = refused["details"]["errors"].as_array().unwrap();
    let paths: Vec<_> = errors.iter().map(|e| e["property_path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["#/states/1/properties/timeout", "#/states/4/properties/body"],
        "{refused:#}"
    );
    assert!(errors[1]["message"].as_str().unwrap().contains("state 'sales': property 'body'"));
    assert_eq!(daemon.post(FLOWS, &form).json()["code"], 81022, "create refuses it too");
    let unsupported = GREETING.replace(r#""type": "split-based-on""#, r#""type": "say-play""#);
    let form = [("FriendlyName", "x"), ("Status", "draft"), ("Definition", unsupported.as_str())];
    let refused = checked(contract, "post", FLOWS, daemon.post(FLOWS, &form), 400);
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("state 'menu': widget type 'say-play' is not supported"), "{message}");
    let update = daemon.post(base, &[("Status", "published"), ("Definition", "{\"states\": [")]);
    assert_twilio_error(&update, 400, 81022);
    let no_status = daemon.post(base, &[("FriendlyName", "y")]);
    assert_twilio_error(&no_status, 400, 20001);
    let long = "n".repeat(257);
    let form = [("FriendlyName", long.as_str()), ("Status", "draft"), ("Definition", GREETING)];
    assert_twilio_error(&daemon.post(FLOWS, &form), 400, 20001);
}

#[test]
fn flows_are_made_from_studio_json_revised_validated_and_kept_across_a_restart() {
    let folder = Folder::new();
    let daemon = start(&folder);
    let contract = Contract::fetch(&daemon);
    let empty = checked(&contract, "get", FLOWS, daemon.get(FLOWS), 200);
    assert_eq!(
        (empty["flows"].clone(), empty["meta"]["key"].as_str()),
        (Value::Array(vec![]), Some("flows"))
    );
    let greeting = create(&daemon, &contract, "Greeting", GREETING);
    assert_eq!(greeting["definition"], json(GREETING), "the definition is echoed as given");
    assert_eq!((greeting["revision"].as_u64(), greeting["valid"].as_bool()), (Some(1), Some(true)));
    let sid = greeting["sid"].as_str().unwrap().to_owned();
    assert!(greeting["links"]["revisions"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/studio/v2/Flows/{sid}/Revisions")));
    create(&daemon, &contract, "Pre-survey", PRE_SURVEY);
    create(&daemon, &contract, "Lookup", HTTP_LOOKUP);
    // An exported flow of a few hundred widgets passes the 64 KiB of other forms.
    let large = GREETING.replace("Greeting and menu", &"d".repeat(300 * 1024));
    create(&daemon, &contract, "Large", &large);
    let base = format!("{FLOWS}/{sid}");
    let changed = revise(&daemon, &contract, &base);
    check_revisions(&daemon, &contract, &base, &changed);
    refusals(&daemon, &contract, &base);
    let listed = checked(&contract, "get", FLOWS, daemon.get(FLOWS), 200);
    let mut names: Vec<_> = listed["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["friendly_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Front door", "Large", "Lookup", "Pre-survey"]);
    let executions = daemon.get(&format!("{base}/Executions"));
    let executions =
        checked(&contract, "get", "/studio/v2/Flows/{flow}/Executions", executions, 200);
    assert_eq!(executions["executions"], Value::Array(vec![]));
    let triggered =
        daemon.post(&format!("{base}/Executions"), &[("To", "+1555"), ("From", "+1500")]);
    assert_twilio_error(&triggered, 400, 20001);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&folder);
    let kept = |list: &Value| -> Vec<Value> {
        let fields = ["sid", "friendly_name", "definition", "status", "revision", "date_updated"];
        let flows = list["flows"].as_array().unwrap().iter();
        flows.map(|f| fields.iter().map(|k| f[*k].clone()).collect()).collect()
    };
    assert!(kept(&again.get(FLOWS).json()) == kept(&listed), "a restart keeps every flow");
    let revisions = again.get(&format!("{base}/Revisions")).json();
    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 3);
    assert_eq!(again.delete(&base).status, 204);
    assert_twilio_error(&again.get(&base), 404, 20404);
    assert_eq!(again.get(FLOWS).json()["flows"].as_array().unwrap().len(), 3);
}

#[test]
fn executions_are_read_with_their_steps_and_contexts_ended_and_deleted() {
    let folder = Folder::new();
    let daemon = start(&folder);
    let contract = Contract::fetch(&daemon);
    let flow = create(&daemon, &contract, "Greeting", GREETING)["sid"].as_str().unwrap().to_owned();
    let base = format!("{FLOWS}/{flow}");
    assert_eq!(daemon.post(&base, &[("Status", "published")]).status, 200);
    daemon.terminate();
    let finished = run_execution(&folder, &flow, "+15551230001", &["1"]);
    let waiting = run_execution(&folder, &flow, "+15551230002", &[]);
    let daemon = start(&folder);
    let list_path = "/studio/v2/Flows/{flow}/Executions";
    let list = checked(&contract, "get", list_path, daemon.get(&format!("{base}/Executions")), 200);
    let sids: Vec<_> =
        list["executions"].as_array().unwrap().iter().map(|e| e["sid"].clone()).collect();
    assert_eq!(sids, [waiting.as_str(), finished.as_str()], "newest first");
    let later = daemon.get(&format!("{base}/Executions?DateCreatedFrom=2100-01-01T00:00:00Z"));
    assert_eq!(later.json()["executions"], Value::Array(vec![]));
    let path = format!("{base}/Executions/{finished}");
    let execution = checked(&contract, "get", EXECUTION, daemon.get(&path), 200);
    assert_eq!(execution["contact_channel_address"], "+15551230001");
    assert_eq!(
        (execution["flow_version"].as_u64(), execution["initiated_by"].as_str()),
        (Some(2), Some("IM1"))
    );
    assert_eq!(execution["context"]["widgets"]["greet"]["inbound"]["Body"], "1");
    let context = daemon.get(&format!("{path}/Context"));
    let context = checked(
        &contract,
        "get",
        "/studio/v2/Flows/{flow}/Executions/{execution}/Context",
        context,
        200,
    );
    assert_eq!(context["context"], execution["context"]);
    check_steps(&daemon, &contract, &path);
    let waiting_path = format!("{base}/Executions/{waiting}");
    assert_eq!(daemon.get(&waiting_path).json()["status"], "active");
    let ended = daemon.post(&waiting_path, &[("Status", "ended")]);
    assert_eq!(checked(&contract, "post", EXECUTION, ended, 200)["status"], "ended");
    assert_eq!(daemon.delete(&path).status, 204);
    assert_twilio_error(&daemon.get(&path), 404, 20404);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&folder);
    let left = again.get(&format!("{base}/Executions")).json();
    let left: Vec<_> = left["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["sid"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        left,
        [(Value::from(waiting), Value::from("ended"))],
        "a restart keeps the end and the deletion"
    );
}

/// The finished execution's steps: greet, then the menu, then sales, each with its context.
fn check_steps(daemon: &Daemon, contract: &Contract, execution: &str) {
    let steps = daemon.get(&format!("{execution}/Steps"));
    let steps = checked(
        contract,
        "get",
        "/studio/v2/Flows/{flow}/Executions/{execution}/Steps",
        steps,
        200,
    );
    assert_eq!(steps["meta"]["key"], "steps");
    let walked: Vec<_> = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} -{}-> {} ({})",
                s["transitioned_from"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
                s["transitioned_to"].as_str().unwrap(),
                s["type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        walked,
        [
            "Trigger -incomingMessage-> greet (send-and-wait-for-reply)",
            "greet -incomingMessage-> menu (split-based-on)",
            "menu -match-> sales (send-message)"
        ]
    );
    let first = steps["steps"][0]["sid"].as_str().unwrap();
    let step =
        checked(contract, "get", STEP, daemon.get(&format!("{execution}/Steps/{first}")), 200);
    assert_eq!(step["context"]["inbound"]["Body"], "1");
    let context = daemon.get(&format!("{execution}/Steps/{first}/Context"));
    let context = checked(contract, "get", &format!("{STEP}/Context"), context, 200);
    assert_eq!(
        (context["step_sid"].as_str(), context["context"].clone()),
        (Some(first), step["context"].clone())
    );
    let other = "FT00000000000000000000000000000000";
    assert_twilio_error(&daemon.get(&format!("{execution}/Steps/{other}")), 404, 20404);
}
