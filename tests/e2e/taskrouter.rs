//! TaskRouter v1 through the real binary: the workspace Flex needs is made on first start, once;
//! workspaces and their activities, task channels, queues and workflows are made, changed,
//! refused when wrong (in Twilio's error shape, naming the fault), kept across a restart, and
//! answered in the shapes the OpenAPI document gives.

use serde_json::Value;

use crate::support::api::{daemon_command, Response};
use crate::support::openapi::Contract;
use crate::support::Daemon;

fn start(dir: &std::path::Path, defaults: bool) -> Daemon {
    let mut command = daemon_command(dir);
    command.env("SWITCHBOARD_DURABILITY", "flush");
    if defaults {
        command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    }
    Daemon::start(command)
}

fn ok(response: Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["friendly_name"].as_str().unwrap().into())
        .collect()
}

#[test]
fn the_first_start_makes_the_workspace_flex_uses_once() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir, true);
    let workspaces = ok(daemon.get("/taskrouter/v1/Workspaces"), 200);
    assert_eq!(names(&workspaces, "workspaces"), ["Flex Task Assignment"]);
    let workspace = &workspaces["workspaces"][0];
    assert_eq!(workspace["default_activity_name"], "Offline");
    assert_eq!(workspace["timeout_activity_name"], "Offline");
    assert_eq!(workspace["multi_task_enabled"], true);
    let base = format!("/taskrouter/v1/Workspaces/{}", workspace["sid"].as_str().unwrap());
    let activities = ok(daemon.get(&format!("{base}/Activities")), 200);
    assert_eq!(names(&activities, "activities"), ["Offline", "Available", "Unavailable"]);
    let available = ok(daemon.get(&format!("{base}/Activities?Available=true")), 200);
    assert_eq!(names(&available, "activities"), ["Available"]);
    let channels = ok(daemon.get(&format!("{base}/TaskChannels")), 200);
    let unique: Vec<_> =
        channels["channels"].as_array().unwrap().iter().map(|c| c["unique_name"].clone()).collect();
    assert_eq!(unique, ["default", "voice", "chat", "sms", "video"]);
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    assert_eq!(names(&queues, "task_queues"), ["Everyone"]);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    assert_eq!(names(&workflows, "workflows"), ["Assign to Anyone"]);
    let configuration = workflows["workflows"][0]["configuration"].as_str().unwrap();
    assert!(configuration.contains(&queue), "{configuration}");
    assert!(daemon.stderr().contains("Flex Task Assignment"));
    // Deleted or not, the workspace is not made again on the next start.
    assert_eq!(daemon.delete(&base).status, 204);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&dir, true);
    assert_eq!(ok(again.get("/taskrouter/v1/Workspaces"), 200)["workspaces"], Value::Array(vec![]));
    assert_eq!(again.get(&base).status, 404);
}

/// `response`, which must have `status`, checked against the document's schema for it.
fn checked(
    contract: &Contract,
    method: &str,
    template: &str,
    response: Response,
    status: u16,
) -> Value {
    assert_eq!(response.status, status, "{method} {template}: {}", response.body);
    contract.check(method, template, &response)
}

const WORKSPACE: &str = "/taskrouter/v1/Workspaces/{workspace}";

/// Adds the activity "Break" (returned) and the task channel `email`; refuses twins and hyphens.
fn activity_and_channel(daemon: &Daemon, contract: &Contract, base: &str) -> String {
    let made = daemon
        .post(&format!("{base}/Activities"), &[("FriendlyName", "Break"), ("Available", "false")]);
    let made = checked(contract, "post", &format!("{WORKSPACE}/Activities"), made, 201);
    let twin = daemon.post(&format!("{base}/Activities"), &[("FriendlyName", "break")]);
    assert_eq!((twin.status, twin.json()["code"].as_u64()), (400, Some(20001)), "names are unique");
    let email = daemon.post(
        &format!("{base}/TaskChannels"),
        &[("FriendlyName", "Email"), ("UniqueName", "email")],
    );
    checked(contract, "post", &format!("{WORKSPACE}/TaskChannels"), email, 201);
    let by_name = daemon.get(&format!("{base}/TaskChannels/email"));
    let by_name =
        checked(contract, "get", &format!("{WORKSPACE}/TaskChannels/{{sid}}"), by_name, 200);
    assert_eq!(by_name["friendly_name"], "Email");
    let hyphen = daemon.post(
        &format!("{base}/TaskChannels"),
        &[("FriendlyName", "Live chat"), ("UniqueName", "live-chat")],
    );
    assert_eq!(hyphen.status, 400, "{}", hyphen.body);
    made["sid"].as_str().unwrap().to_owned()
}

/// Adds the queue "Spanish" (returned) after refusing a malformed expression.
fn queue(daemon: &Daemon, contract: &Contract, base: &str, activity: &str) -> String {
    let bad = daemon.post(
        &format!("{base}/TaskQueues"),
        &[("FriendlyName", "Spanish"), ("TargetWorkers", "languages HAS 'es' AND skill-level > 3")],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let error = bad.json();
    assert_eq!(error["code"], 20001);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("TargetWorkers") && message.contains("position"), "{message}");
    let queue = daemon.post(
        &format!("{base}/TaskQueues"),
        &[
            ("FriendlyName", "Spanish"),
            ("TargetWorkers", "languages HAS \"es\""),
            ("ReservationActivitySid", activity),
        ],
    );
    let queue = checked(contract, "post", &format!("{WORKSPACE}/TaskQueues"), queue, 201);
    assert_eq!(queue["reservation_activity_name"], "Break");
    assert_eq!(queue["task_order"], "FIFO");
    let queue_sid = queue["sid"].as_str().unwrap().to_owned();
    let lifo = daemon.post(&format!("{base}/TaskQueues/{queue_sid}"), &[("TaskOrder", "LIFO")]);
    assert_eq!(lifo.status, 400, "LIFO is refused, not ignored: {}", lifo.body);
    queue_sid
}

/// Adds the workflow "Languages" targeting `queue` (its SID and configuration returned), after
/// refusing one that names no queue of the workspace and a callback that would not be called.
fn workflow(daemon: &Daemon, contract: &Contract, base: &str, queue: &str) -> (String, String) {
    let configuration = format!(
        r#"{{"task_routing":{{"filters":[{{"filter_friendly_name":"Spanish","expression":"language == 'es'","targets":[{{"queue":"{queue}","timeout":60}}]}}]}}}}"#
    );
    let made = daemon.post(
        &format!("{base}/Workflows"),
        &[
            ("FriendlyName", "Languages"),
            ("Configuration", &configuration),
            ("TaskReservationTimeout", "30"),
        ],
    );
    let made = checked(contract, "post", &format!("{WORKSPACE}/Workflows"), made, 201);
    assert_eq!(made["configuration"], configuration.as_str());
    assert_eq!(made["task_reservation_timeout"], 30);
    let sid = made["sid"].as_str().unwrap().to_owned();
    let astray = daemon.post(&format!("{base}/Workflows"), &[("FriendlyName", "Astray"), ("Configuration", r#"{"task_routing":{"filters":[],"default_filter":{"queue":"WQ00000000000000000000000000000000"}}}"#)]);
    assert_eq!(astray.status, 400, "{}", astray.body);
    let fallback = "https://example.com/assign";
    let path = format!("{base}/Workflows/{sid}");
    let kept = ok(daemon.post(&path, &[("FallbackAssignmentCallbackUrl", fallback)]), 200);
    assert_eq!(kept["fallback_assignment_callback_url"], fallback);
    let relative = daemon.post(&path, &[("FallbackAssignmentCallbackUrl", "/assign")]);
    assert_eq!(relative.status, 400, "not an absolute URL: {}", relative.body);
    let cleared = ok(daemon.post(&path, &[("FallbackAssignmentCallbackUrl", "")]), 200);
    assert_eq!(cleared["fallback_assignment_callback_url"], Value::Null, "empty removes it");
    let renamed =
        daemon.post(&format!("{base}/Workflows/{sid}"), &[("FriendlyName", "By language")]);
    checked(contract, "post", &format!("{WORKSPACE}/Workflows/{{sid}}"), renamed, 200);
    (sid, configuration)
}

#[test]
fn a_workspace_is_set_up_refused_when_wrong_and_kept_across_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir, false);
    let contract = Contract::fetch(&daemon);
    assert_eq!(
        ok(daemon.get("/taskrouter/v1/Workspaces"), 200)["workspaces"],
        Value::Array(vec![])
    );
    let created = daemon
        .post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Support"), ("Template", "FIFO")]);
    let workspace = checked(&contract, "post", "/taskrouter/v1/Workspaces", created, 201);
    let base = format!("/taskrouter/v1/Workspaces/{}", workspace["sid"].as_str().unwrap());
    checked(&contract, "get", WORKSPACE, daemon.get(&base), 200);
    checked(
        &contract,
        "get",
        "/taskrouter/v1/Workspaces",
        daemon.get("/taskrouter/v1/Workspaces"),
        200,
    );
    let activity = activity_and_channel(&daemon, &contract, &base);
    let queue_sid = queue(&daemon, &contract, &base, &activity);
    let (workflow_sid, configuration) = workflow(&daemon, &contract, &base, &queue_sid);
    let in_use = daemon.delete(&format!("{base}/TaskQueues/{queue_sid}"));
    assert_eq!(in_use.status, 400, "a queue a workflow targets stays: {}", in_use.body);
    let in_use = daemon.delete(&format!("{base}/Activities/{activity}"));
    assert_eq!(in_use.status, 400, "an activity a queue names stays: {}", in_use.body);
    for nouns in ["Activities", "TaskQueues", "Workflows", "TaskChannels"] {
        checked(
            &contract,
            "get",
            &format!("{WORKSPACE}/{nouns}"),
            daemon.get(&format!("{base}/{nouns}")),
            200,
        );
    }

    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&dir, false);
    let queues = ok(again.get(&format!("{base}/TaskQueues")), 200);
    assert_eq!(names(&queues, "task_queues"), ["Sample Queue", "Spanish"]);
    let workflow = ok(again.get(&format!("{base}/Workflows/{workflow_sid}")), 200);
    assert_eq!(workflow["friendly_name"], "By language");
    assert_eq!(workflow["configuration"], configuration.as_str(), "kept exactly as given");
    assert_eq!(ok(again.get(&format!("{base}/TaskChannels/email")), 200)["unique_name"], "email");
    assert_eq!(
        again.get(&format!("{base}/TaskQueues/WQ00000000000000000000000000000000")).status,
        404
    );
    assert_eq!(
        again.get("/taskrouter/v1/Workspaces/WS00000000000000000000000000000000").status,
        404
    );
}
