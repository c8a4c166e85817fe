//! Workers on the WebSocket through the real binary: a token with Twilio's TaskRouter grant
//! opens `/ws` for its worker, which gets its reservations as frames (an inbound SMS's among
//! them), answers them and sets its activity over the socket, catches up from the log, sees
//! nothing of other workers, and goes offline after a grace once its last socket closed.

use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

use crate::support::api::{
    daemon_command, frames, ws_call, Response, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID,
};
use crate::support::python::{python_with, repo};
use crate::support::Daemon;
use crate::task_routing::members;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn start(dir: &std::path::Path, grace: &str) -> Daemon {
    let mut command = daemon_command(dir);
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0")
        .env("SWITCHBOARD_WORKER_OFFLINE_GRACE", grace);
    Daemon::start(command)
}

fn ok(response: Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// An access token with `grants` (identity added), signed here from Twilio's published format
/// (HS256 JWT, `cty: twilio-fpa;v=1`), independently of the server's code.
fn signed_token(identity: &str, grants: Value) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut grants = grants;
    grants["identity"] = identity.into();
    let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"});
    let claims = json!({
        "jti": format!("{API_KEY_SID}-{now}"), "iss": API_KEY_SID, "sub": ACCOUNT_SID,
        "exp": now + 3600, "grants": grants,
    });
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", encode(&header), encode(&claims));
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(API_KEY_SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A worker's token: Twilio's TaskRouter grant alone.
fn worker_token(workspace: &str, worker: &str) -> String {
    let grant = json!({"workspace_sid": workspace, "worker_sid": worker, "role": "worker"});
    signed_token(worker, json!({ "task_router": grant }))
}

/// A FIFO workspace: its path, SID and activities by name.
fn workspace(daemon: &Daemon) -> (String, String, Value) {
    let made = daemon
        .post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Sockets"), ("Template", "FIFO")]);
    let sid = ok(made, 201)["sid"].as_str().unwrap().to_owned();
    let base = format!("/taskrouter/v1/Workspaces/{sid}");
    let activities = ok(daemon.get(&format!("{base}/Activities")), 200);
    let mut by_name = serde_json::Map::new();
    for activity in activities["activities"].as_array().unwrap() {
        by_name.insert(activity["friendly_name"].as_str().unwrap().into(), activity["sid"].clone());
    }
    (base, sid, Value::Object(by_name))
}

fn worker(daemon: &Daemon, base: &str, name: &str, activity: &Value) -> String {
    let attributes = format!(r#"{{"contact_uri":"client:{name}"}}"#);
    let form = [
        ("FriendlyName", name),
        ("ActivitySid", activity.as_str().unwrap()),
        ("Attributes", attributes.as_str()),
    ];
    ok(daemon.post(&format!("{base}/Workers"), &form), 201)["sid"].as_str().unwrap().to_owned()
}

/// A socket for `worker`, with its `ready` frame.
fn open(daemon: &Daemon, workspace: &str, worker: &str) -> (Socket, Value) {
    let mut socket = daemon.websocket(Some(&worker_token(workspace, worker))).unwrap();
    let ready = frames(&mut socket, 1).remove(0);
    assert_eq!(ready["type"], "ready", "{ready}");
    (socket, ready)
}

/// Reads frames until a `taskrouter_event` of `event_type` comes (or fails after 15 s); returns
/// it and every TaskRouter event read on the way.
fn event(socket: &mut Socket, event_type: &str) -> (Value, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for frame in frames(socket, 1) {
            if frame["type"] == "taskrouter_event" {
                seen.push(frame.clone());
                if frame["event_type"] == event_type {
                    return (frame, seen);
                }
            }
        }
    }
    panic!("no {event_type} among {seen:?}");
}

/// Every TaskRouter event that arrives within a short while.
fn quiet(socket: &mut Socket) -> Vec<Value> {
    frames(socket, 100).into_iter().filter(|f| f["type"] == "taskrouter_event").collect()
}

fn answer(socket: &mut Socket, reservation: &Value, status: &str, id: &str) -> Value {
    let frame = json!({
        "type": "reservation_update",
        "task_sid": reservation["task_sid"],
        "reservation_sid": reservation["sid"],
        "status": status,
    });
    ws_call(socket, frame, id)
}

#[test]
fn an_inbound_sms_reaches_the_workers_socket_which_accepts_and_the_agent_joins() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"), "60s");
    let (base, workspace_sid, activities) = workspace(&daemon);
    let alice = worker(&daemon, &base, "alice", &activities["Available"]);
    let bob = worker(&daemon, &base, "bob", &activities["Offline"]);
    let (mut alice_socket, ready) = open(&daemon, &workspace_sid, &alice);
    assert_eq!(
        (ready["worker_sid"].as_str(), ready["chat"].as_bool()),
        (Some(&*alice), Some(false))
    );
    assert_eq!(ready["worker"]["activity_name"], "Available");
    let (mut bob_socket, _) = open(&daemon, &workspace_sid, &bob);

    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+15005550006", "Hello", "SM00000000000000000000000000000021").status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let (created, _) = event(&mut alice_socket, "reservation.created");
    let reservation = created["reservation"].clone();
    assert_eq!(reservation["worker_sid"], alice.as_str());
    assert_eq!(reservation["reservation_status"], "pending");
    assert_eq!(created["resource_sid"], reservation["sid"]);
    assert_eq!(created["description"], "A task is assigned to a worker");
    let attributes: Value =
        serde_json::from_str(created["task"]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["channelSid"], channel.as_str());
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006"]);

    let accepted = answer(&mut alice_socket, &reservation, "accepted", "a1");
    assert_eq!(
        (accepted["type"].as_str(), accepted["reservation"]["reservation_status"].as_str()),
        (Some("ack"), Some("accepted")),
        "{accepted}"
    );
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006", "alice"], "the agent joined");
    let (event_frame, _) = event(&mut alice_socket, "reservation.accepted");
    assert_eq!(event_frame["task"]["assignment_status"], "assigned");

    // Chat is not within a worker's token; nor is another worker's reservation.
    let join = ws_call(&mut alice_socket, json!({"type": "join", "channel_sid": channel}), "j1");
    assert_eq!((join["type"].as_str(), join["code"].as_u64()), (Some("error"), Some(50107)));
    let theirs = answer(&mut bob_socket, &reservation, "rejected", "b1");
    assert_eq!(
        (theirs["code"].as_u64(), theirs["status"].as_u64()),
        (Some(20404), Some(404)),
        "{theirs}"
    );
    assert_eq!(theirs["more_info"], "https://www.twilio.com/docs/errors/20404");
    assert_eq!(quiet(&mut bob_socket), Vec::<Value>::new(), "bob sees nothing of alice's task");

    // Wrap-up ends the interaction; completing lets the agent go.
    let wrapped = answer(&mut alice_socket, &reservation, "wrapping", "w1");
    assert_eq!(wrapped["reservation"]["reservation_status"], "wrapping", "{wrapped}");
    let (wrapup, _) = event(&mut alice_socket, "task.wrapup");
    assert_eq!(wrapup["task"]["assignment_status"], "wrapping");
    let fetched = ok(daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")), 200);
    let status: Value = serde_json::from_str(fetched["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(status["status"], "INACTIVE");
    let done = answer(&mut alice_socket, &reservation, "completed", "c1");
    assert_eq!(done["reservation"]["reservation_status"], "completed", "{done}");
    event(&mut alice_socket, "task.completed");
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006"], "the agent left");
}

#[test]
fn a_rejection_over_the_socket_goes_to_the_next_worker_and_a_reconnect_catches_up() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"), "0s");
    let (base, workspace_sid, activities) = workspace(&daemon);
    let first = worker(&daemon, &base, "first", &activities["Available"]);
    let second = worker(&daemon, &base, "second", &activities["Offline"]);
    let (mut first_socket, _) = open(&daemon, &workspace_sid, &first);
    let (mut second_socket, _) = open(&daemon, &workspace_sid, &second);
    let made =
        daemon.post(&format!("{base}/Tasks"), &[("Attributes", "{}"), ("TaskChannel", "chat")]);
    let task = ok(made, 201)["sid"].as_str().unwrap().to_owned();
    let (created, _) = event(&mut first_socket, "reservation.created");
    assert_eq!(created["task_sid"], task.as_str());

    // The second worker becomes available over its own socket; then the first rejects.
    let set = json!({"type": "worker_update", "activity_sid": activities["Available"]});
    let updated = ws_call(&mut second_socket, set, "s1");
    assert_eq!(updated["worker"]["activity_name"], "Available", "{updated}");
    let (activity, _) = event(&mut second_socket, "worker.activity.update");
    assert_eq!(activity["description"], "Worker second updated to Available Activity");
    let rejected = answer(&mut first_socket, &created["reservation"], "rejected", "r1");
    assert_eq!(rejected["reservation"]["reservation_status"], "rejected", "{rejected}");
    event(&mut first_socket, "reservation.rejected");
    let (offered, _) = event(&mut second_socket, "reservation.created");
    assert_eq!(offered["reservation"]["worker_sid"], second.as_str());
    assert_eq!(offered["task_sid"], task.as_str());

    // A new socket catches up on what it missed from the log, and skips what it names.
    drop(second_socket);
    let (mut again, _) = open(&daemon, &workspace_sid, &second);
    let resume = json!({"type": "worker_resume", "after": {}});
    again.send(tungstenite::Message::Text(resume.to_string())).unwrap();
    let replayed = until_resumed(&mut again);
    let types: Vec<&str> = replayed.iter().map(|f| f["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["reservation.created"], "only its own reservation: {replayed:?}");
    let seq = replayed[0]["seq"].as_u64().unwrap();
    let resume = json!({"type": "worker_resume", "after": {task.as_str(): seq}});
    again.send(tungstenite::Message::Text(resume.to_string())).unwrap();
    assert_eq!(until_resumed(&mut again), Vec::<Value>::new(), "nothing twice");
    let completed = answer(&mut again, &offered["reservation"], "accepted", "x1");
    assert_eq!(completed["reservation"]["reservation_status"], "accepted", "{completed}");

    // Once the task is over, a socket that names nothing of it hears nothing of it (it never
    // knew it); one that names where it was hears how it ended.
    let done = [("AssignmentStatus", "completed"), ("Reason", "resolved")];
    ok(daemon.post(&format!("{base}/Tasks/{task}"), &done), 200);
    drop(again);
    let (mut fresh, _) = open(&daemon, &workspace_sid, &second);
    let resume = json!({"type": "worker_resume", "after": {}});
    fresh.send(tungstenite::Message::Text(resume.to_string())).unwrap();
    assert_eq!(until_resumed(&mut fresh), Vec::<Value>::new(), "a finished task it never knew");
    let resume = json!({"type": "worker_resume", "after": {task.as_str(): seq}});
    fresh.send(tungstenite::Message::Text(resume.to_string())).unwrap();
    let ended: Vec<Value> = until_resumed(&mut fresh);
    let types: Vec<&str> = ended.iter().map(|f| f["event_type"].as_str().unwrap()).collect();
    assert!(types.contains(&"reservation.completed"), "{types:?}");
}

/// The TaskRouter events read up to `worker_resumed`.
fn until_resumed(socket: &mut Socket) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for frame in frames(socket, 1) {
            match frame["type"].as_str() {
                Some("worker_resumed") => return seen,
                Some("taskrouter_event") => seen.push(frame),
                _ => {}
            }
        }
    }
    panic!("no worker_resumed after {seen:?}");
}

#[test]
fn a_wrong_or_absent_grant_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"), "60s");
    let (base, workspace_sid, activities) = workspace(&daemon);
    let alice = worker(&daemon, &base, "alice", &activities["Available"]);
    let (_, other_workspace, _) = workspace(&daemon);
    let nobody = "WK00000000000000000000000000000000";
    for (workspace, worker) in [
        (workspace_sid.as_str(), nobody),
        (other_workspace.as_str(), alice.as_str()),
        ("WSx", "WKy"),
    ] {
        let refused = daemon.websocket(Some(&worker_token(workspace, worker)));
        match refused.map_err(|e| *e) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("{workspace}/{worker} was let in: {other:?}"),
        }
    }
    // A chat token has no worker: its TaskRouter frames are refused in Twilio's shape.
    let chat = signed_token("alice", json!({"chat": {}}));
    let mut socket = daemon.websocket(Some(&chat)).unwrap();
    let ready = frames(&mut socket, 1).remove(0);
    assert_eq!((ready["chat"].as_bool(), ready.get("worker_sid")), (Some(true), None));
    let set = json!({"type": "worker_update", "activity_sid": activities["Offline"]});
    let refused = ws_call(&mut socket, set, "c1");
    assert_eq!((refused["code"].as_u64(), refused["status"].as_u64()), (Some(20403), Some(403)));
    let fetched = ok(daemon.get(&format!("{base}/Workers/{alice}")), 200);
    assert_eq!(fetched["activity_name"], "Available", "nothing changed");
}

fn activity_of(daemon: &Daemon, base: &str, worker: &str) -> String {
    let fetched = ok(daemon.get(&format!("{base}/Workers/{worker}")), 200);
    fetched["activity_name"].as_str().unwrap().to_owned()
}

#[test]
fn a_worker_whose_last_socket_closed_goes_offline_after_the_grace_unless_it_comes_back() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"), "2s");
    let (base, workspace_sid, activities) = workspace(&daemon);
    let gone = worker(&daemon, &base, "gone", &activities["Available"]);
    let back = worker(&daemon, &base, "back", &activities["Available"]);
    let (gone_socket, _) = open(&daemon, &workspace_sid, &gone);
    let (back_socket, _) = open(&daemon, &workspace_sid, &back);
    let (_also_back, _) = open(&daemon, &workspace_sid, &back);
    drop(gone_socket);
    // One of two sockets closed: the other keeps the worker; then it closes and opens again at
    // once, within the grace.
    drop(back_socket);
    drop(_also_back);
    let (returned, _) = open(&daemon, &workspace_sid, &back);
    let started = Instant::now();
    while activity_of(&daemon, &base, &gone) != "Offline" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the worker that left stays available"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Past its grace too: the worker that came back is still available.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(activity_of(&daemon, &base, &back), "Available");
    drop(returned);
    let started = Instant::now();
    while activity_of(&daemon, &base, &back) != "Offline" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "it left for good and stays available"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_token_minted_by_the_python_sdk_s_task_router_grant_opens_the_workers_socket() {
    let python = python_with("sdk-venv", "tests/sdk/requirements.txt", "import twilio, websocket");
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"), "60s");
    let (base, workspace_sid, activities) = workspace(&daemon);
    let alice = worker(&daemon, &base, "alice", &activities["Available"]);
    let script = "import sys\n\
        from twilio.jwt.access_token import AccessToken\n\
        from twilio.jwt.access_token.grants import TaskRouterGrant\n\
        account, key, secret, workspace, worker = sys.argv[1:]\n\
        token = AccessToken(account, key, secret, identity=worker, ttl=600)\n\
        token.add_grant(TaskRouterGrant(workspace_sid=workspace, worker_sid=worker, role='worker'))\n\
        print(token.to_jwt())\n";
    let minted = std::process::Command::new(python)
        .current_dir(repo())
        .args(["-c", script, ACCOUNT_SID, API_KEY_SID, API_KEY_SECRET, &workspace_sid, &alice])
        .output()
        .unwrap();
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let token = String::from_utf8(minted.stdout).unwrap();
    let mut socket = daemon.websocket(Some(token.trim())).unwrap();
    let ready = frames(&mut socket, 1).remove(0);
    assert_eq!(ready["worker_sid"], alice.as_str(), "{ready}");
    assert_eq!((ready["role"].as_str(), ready["chat"].as_bool()), (Some("worker"), Some(false)));
    let set = json!({"type": "worker_update", "activity_sid": activities["Offline"]});
    assert_eq!(ws_call(&mut socket, set, "p1")["worker"]["activity_name"], "Offline");
}
