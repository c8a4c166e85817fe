//! TaskRouter's assignment through the real binary: a task reaches an available worker as a
//! reservation, which is accepted (once, however often it is said) and completed; a rejected or
//! timed-out reservation goes to the next worker, and a timeout moves the worker to the
//! timeout activity, also across a restart; capacity bounds what a worker holds; transfers
//! (Flex's new-task pattern) hand a customer's channel from one agent to the next.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::api::{basic, daemon_command, Response};
use crate::support::Daemon;

fn start(dir: &std::path::Path) -> Daemon {
    let mut command = daemon_command(dir);
    // Hundreds of workers, tasks and answers from one credential in a second or two: one test
    // stands for a whole contact center, so the per-credential budget is off (tests/e2e/rate.rs
    // tests it).
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0");
    Daemon::start(command)
}

fn ok(response: Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// A FIFO workspace (its queue takes every worker) whose reservations wait `timeout` seconds;
/// returns its path and its activities by name.
fn workspace(daemon: &Daemon, timeout: u32) -> (String, Value) {
    let made = daemon
        .post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Routing"), ("Template", "FIFO")]);
    let base = format!("/taskrouter/v1/Workspaces/{}", ok(made, 201)["sid"].as_str().unwrap());
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    let workflow = workflows["workflows"][0]["sid"].as_str().unwrap().to_owned();
    let timeout = timeout.to_string();
    ok(
        daemon
            .post(&format!("{base}/Workflows/{workflow}"), &[("TaskReservationTimeout", &timeout)]),
        200,
    );
    let activities = ok(daemon.get(&format!("{base}/Activities")), 200);
    let mut by_name = serde_json::Map::new();
    for activity in activities["activities"].as_array().unwrap() {
        by_name.insert(activity["friendly_name"].as_str().unwrap().into(), activity["sid"].clone());
    }
    (base, Value::Object(by_name))
}

fn worker(daemon: &Daemon, base: &str, name: &str, activity: &str) -> String {
    let made = daemon
        .post(&format!("{base}/Workers"), &[("FriendlyName", name), ("ActivitySid", activity)]);
    ok(made, 201)["sid"].as_str().unwrap().to_owned()
}

fn task(daemon: &Daemon, base: &str, attributes: &str) -> String {
    let made = daemon
        .post(&format!("{base}/Tasks"), &[("Attributes", attributes), ("TaskChannel", "chat")]);
    ok(made, 201)["sid"].as_str().unwrap().to_owned()
}

fn reservations(daemon: &Daemon, base: &str, task: &str) -> Vec<Value> {
    let list = ok(daemon.get(&format!("{base}/Tasks/{task}/Reservations")), 200);
    list["reservations"].as_array().unwrap().clone()
}

/// A task's `ETag` and body.
fn etag_of(daemon: &Daemon, path: &str) -> (String, Value) {
    let response = ureq::get(&daemon.url(path))
        .set("Authorization", &basic())
        .call()
        .expect("the task is fetched");
    let etag = response.header("ETag").expect("an ETag").to_owned();
    (etag, serde_json::from_str(&response.into_string().unwrap()).unwrap())
}

/// Polls `check` until it holds (or fails after 15 s): for deadlines the daemon fires itself.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(15), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_task_reaches_an_available_worker_who_accepts_once_and_completes() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let away = worker(&daemon, &base, "away", activities["Offline"].as_str().unwrap());
    let alice = worker(&daemon, &base, "alice", activities["Available"].as_str().unwrap());
    let twin = daemon.post(&format!("{base}/Workers"), &[("FriendlyName", "ALICE")]);
    assert_eq!(twin.status, 400, "{}", twin.body);

    let sid = task(&daemon, &base, r#"{"name":"Customer","channelType":"sms"}"#);
    let (etag, fetched) = etag_of(&daemon, &format!("{base}/Tasks/{sid}"));
    assert_eq!(fetched["assignment_status"], "reserved");
    let offered = reservations(&daemon, &base, &sid);
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!(offered[0]["worker_sid"], alice.as_str(), "not {away}, who is offline");
    assert_eq!(offered[0]["reservation_status"], "pending");
    let reservation = offered[0]["sid"].as_str().unwrap().to_owned();
    let path = format!("{base}/Tasks/{sid}/Reservations/{reservation}");
    for _ in 0..2 {
        let accepted = ok(daemon.post(&path, &[("ReservationStatus", "accepted")]), 200);
        assert_eq!(accepted["reservation_status"], "accepted");
    }
    let task_now = ok(daemon.get(&format!("{base}/Tasks/{sid}")), 200);
    assert_eq!(task_now["assignment_status"], "assigned");
    let chat = ok(daemon.get(&format!("{base}/Workers/{alice}/Channels/chat")), 200);
    assert_eq!(
        (chat["assigned_tasks"].as_u64(), chat["available_capacity_percentage"].as_u64()),
        (Some(1), Some(0))
    );

    let stale = daemon.post_with_headers(
        &format!("{base}/Tasks/{sid}"),
        &[("AssignmentStatus", "completed"), ("Reason", "done")],
        &[("If-Match", &etag)],
    );
    assert_eq!(stale.status, 412, "an old ETag: {}", stale.body);
    let early = daemon
        .post(&format!("{base}/Tasks/{sid}"), &[("AssignmentStatus", "canceled"), ("Reason", "x")]);
    assert_eq!(early.status, 400, "an assigned task is not canceled: {}", early.body);
    assert!(
        early.json()["message"].as_str().unwrap().contains("Cannot cancel task"),
        "{}",
        early.body
    );
    let done = ok(
        daemon.post(
            &format!("{base}/Tasks/{sid}"),
            &[("AssignmentStatus", "completed"), ("Reason", "resolved")],
        ),
        200,
    );
    assert_eq!(
        (done["assignment_status"].as_str(), done["reason"].as_str()),
        (Some("completed"), Some("resolved"))
    );
    let chat = ok(daemon.get(&format!("{base}/Workers/{alice}/Channels/chat")), 200);
    assert_eq!(chat["assigned_tasks"], 0, "the slot is back");
    let completed = ok(daemon.get(&format!("{base}/Tasks?AssignmentStatus=completed")), 200);
    assert_eq!(completed["tasks"].as_array().unwrap().len(), 1);
    let mine = ok(daemon.get(&format!("{base}/Workers/{alice}/Reservations")), 200);
    assert_eq!(mine["reservations"][0]["reservation_status"], "completed");
}

#[test]
fn rejections_timeouts_and_capacity_decide_who_gets_what_also_across_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir);
    let (base, activities) = workspace(&daemon, 5);
    let available = activities["Available"].as_str().unwrap().to_owned();
    let offline = activities["Offline"].as_str().unwrap().to_owned();
    let first = worker(&daemon, &base, "first", &available);
    let second = worker(&daemon, &base, "second", &offline);

    // Capacity 2 on chat: two tasks reserved to the first worker, a third waits.
    ok(daemon.post(&format!("{base}/Workers/{first}/Channels/chat"), &[("Capacity", "2")]), 200);
    let tasks: Vec<String> =
        (0..3).map(|i| task(&daemon, &base, &format!(r#"{{"n":{i}}}"#))).collect();
    let held: Vec<usize> = tasks.iter().map(|t| reservations(&daemon, &base, t).len()).collect();
    assert_eq!(held, [1, 1, 0], "capacity 2 takes two chats, not a third");

    // A rejection goes to the next worker; the one who rejected is not offered it again.
    ok(daemon.post(&format!("{base}/Workers/{second}"), &[("ActivitySid", &available)]), 200);
    let offered = reservations(&daemon, &base, &tasks[2]);
    assert_eq!(
        offered[0]["worker_sid"],
        second.as_str(),
        "the third task went to the second worker"
    );
    let rejected = &reservations(&daemon, &base, &tasks[0])[0];
    let path =
        format!("{base}/Tasks/{}/Reservations/{}", tasks[0], rejected["sid"].as_str().unwrap());
    ok(daemon.post(&path, &[("ReservationStatus", "rejected")]), 200);
    let again = reservations(&daemon, &base, &tasks[0]);
    assert_eq!(again.len(), 1, "nobody else is free (the second worker holds one of capacity 1)");

    // A restart in the middle of pending reservations keeps their timeouts: they time out
    // after it, and their workers go to the timeout activity (Offline).
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&dir);
    eventually("the pending reservations time out after the restart", || {
        let statuses: Vec<String> = reservations(&again, &base, &tasks[2])
            .iter()
            .map(|r| r["reservation_status"].as_str().unwrap().to_owned())
            .collect();
        statuses.contains(&"timeout".to_owned())
    });
    eventually("the second worker is moved to Offline", || {
        ok(again.get(&format!("{base}/Workers/{second}")), 200)["activity_sid"] == offline.as_str()
    });
    let first_now = ok(again.get(&format!("{base}/Workers/{first}")), 200);
    assert_eq!(first_now["activity_sid"], offline.as_str(), "its reservation timed out too");
    let waiting = ok(again.get(&format!("{base}/Tasks?AssignmentStatus=pending")), 200);
    assert_eq!(waiting["tasks"].as_array().unwrap().len(), 3, "every task waits again: {waiting}");
    assert_eq!(
        paged_sids(&again, &format!("{base}/Tasks")),
        sorted(&tasks),
        "two pages, each once"
    );
}

/// The SIDs a list of tasks gives in pages of two (two pages at most), sorted.
fn paged_sids(daemon: &Daemon, list: &str) -> Vec<String> {
    let first = ok(daemon.get(&format!("{list}?PageSize=2")), 200);
    assert!(first["meta"]["next_page_url"].is_string(), "{first}");
    let second = ok(daemon.get(&format!("{list}?PageSize=2&Page=1")), 200);
    assert!(second["meta"]["next_page_url"].is_null(), "{second}");
    let both = first["tasks"].as_array().unwrap().iter().chain(second["tasks"].as_array().unwrap());
    sorted(&both.map(|t| t["sid"].as_str().unwrap().to_owned()).collect::<Vec<_>>())
}

fn sorted(sids: &[String]) -> Vec<String> {
    let mut sids = sids.to_vec();
    sids.sort();
    sids
}

#[test]
fn a_timed_out_reservation_goes_to_the_next_worker_and_its_worker_to_the_timeout_activity() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 1);
    let available = activities["Available"].as_str().unwrap().to_owned();
    let workers =
        [worker(&daemon, &base, "one", &available), worker(&daemon, &base, "two", &available)];
    let sid = task(&daemon, &base, r#"{"n":1}"#);
    let first = reservations(&daemon, &base, &sid)[0]["worker_sid"].as_str().unwrap().to_owned();
    let other = workers.iter().find(|w| **w != first).unwrap();

    let mut offered = Vec::new();
    eventually("the reservation times out and the task is offered again", || {
        offered = reservations(&daemon, &base, &sid);
        offered.len() >= 2
    });
    assert_eq!(
        (offered[0]["worker_sid"].as_str(), offered[0]["reservation_status"].as_str()),
        (Some(first.as_str()), Some("timeout")),
        "{offered:?}"
    );
    assert_eq!(
        offered[1]["worker_sid"],
        other.as_str(),
        "the next worker, not the one who timed out"
    );
    let moved = ok(daemon.get(&format!("{base}/Workers/{first}")), 200);
    assert_eq!(moved["activity_sid"], activities["Offline"], "the timeout activity");
}

#[test]
fn a_customer_s_sms_on_a_task_flow_becomes_a_reservation_with_flex_s_attributes() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir);
    let (base, activities) = workspace(&daemon, 120);
    let agent = worker(&daemon, &base, "agent", activities["Available"].as_str().unwrap());
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon
            .sms("+15005550006", "Hello, I need help", "SM00000000000000000000000000000001")
            .status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    eventually("the channel's task is made in TaskRouter", || {
        tasks = ok(daemon.get(&format!("{base}/Tasks")), 200)["tasks"].as_array().unwrap().clone();
        !tasks.is_empty()
    });
    let task = &tasks[0];
    let attributes: Value = serde_json::from_str(task["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["channelSid"], channel.as_str());
    assert_eq!(attributes["channelType"], "sms");
    assert_eq!(attributes["from"], "+15005550006");
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"][0]["sid"], task["sid"], "the channel's task and TaskRouter's are one");
    let sid = task["sid"].as_str().unwrap();
    let offered = reservations(&daemon, &base, sid);
    assert_eq!(offered[0]["worker_sid"], agent.as_str());
    // A second message of the same interaction links no second task, and a restart makes none.
    assert_eq!(
        daemon.sms("+15005550006", "Are you there?", "SM00000000000000000000000000000002").status,
        200
    );
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let again = start(&dir);
    std::thread::sleep(Duration::from_millis(500));
    // The channel is in line with its open task, so the start left it at rest: a start that
    // asked every open task's channel woke them all (issue 20 item 3: memory after a restart).
    assert_eq!(metric(&again, "switchboard_channel_actors_live"), 0.0);
    let tasks = ok(again.get(&format!("{base}/Tasks")), 200);
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1, "{tasks}");
}

/// The identities of a channel's members (the worker sockets' tests use it too).
pub(crate) fn members(daemon: &Daemon, service: &str, channel: &str) -> Vec<String> {
    let list =
        ok(daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}/Members")), 200);
    // Members come in the order of their SIDs, which are drawn at random: sorted, to compare.
    let mut identities: Vec<String> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["identity"].as_str().unwrap().to_owned())
        .collect();
    identities.sort();
    identities
}

fn channel_status(daemon: &Daemon, service: &str, channel: &str) -> String {
    let fetched = ok(daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")), 200);
    let attributes: Value = serde_json::from_str(fetched["attributes"].as_str().unwrap()).unwrap();
    attributes["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn accepting_puts_the_agent_in_the_channel_wrap_up_ends_it_and_complete_lets_the_agent_go() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let available = activities["Available"].as_str().unwrap();
    let form = [
        ("FriendlyName", "Alice"),
        ("ActivitySid", available),
        ("Attributes", r#"{"contact_uri":"client:alice"}"#),
    ];
    ok(daemon.post(&format!("{base}/Workers"), &form), 201);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+15005550006", "Hello", "SM00000000000000000000000000000011").status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut offered = Vec::new();
    eventually("the task is offered to Alice", || {
        let tasks =
            ok(daemon.get(&format!("{base}/Tasks")), 200)["tasks"].as_array().unwrap().clone();
        offered = tasks
            .first()
            .map(|t| reservations(&daemon, &base, t["sid"].as_str().unwrap()))
            .unwrap_or_default();
        !offered.is_empty()
    });
    let reservation =
        offered[0]["url"].as_str().unwrap().split("/taskrouter").nth(1).unwrap().to_owned();
    let task_path = format!("/taskrouter{}", reservation.split("/Reservations").next().unwrap());
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006"]);
    ok(
        daemon.post(&format!("/taskrouter{reservation}"), &[("ReservationStatus", "accepted")]),
        200,
    );
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006", "alice"], "the agent joined");
    ok(daemon.post(&task_path, &[("AssignmentStatus", "wrapping")]), 200);
    assert_eq!(
        channel_status(&daemon, &service, &channel),
        "INACTIVE",
        "wrap-up ends the interaction"
    );
    ok(daemon.post(&task_path, &[("AssignmentStatus", "completed"), ("Reason", "resolved")]), 200);
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006"], "the agent left");
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"], Value::Array(vec![]), "the channel's task ended with TaskRouter's");
}

/// `count` available workers and as many chat tasks, each reserved to one of them; returns the
/// reservation paths.
fn reserved_tasks(daemon: &Daemon, base: &str, available: &str, count: usize) -> Vec<String> {
    for i in 0..count {
        worker(daemon, base, &format!("agent {i}"), available);
    }
    let mut paths = Vec::new();
    for i in 0..count {
        let sid = task(daemon, base, &format!(r#"{{"n":{i}}}"#));
        let offered = reservations(daemon, base, &sid);
        assert_eq!(offered.len(), 1, "task {i} is offered to a free worker");
        paths.push(format!(
            "{base}/Tasks/{sid}/Reservations/{}",
            offered[0]["sid"].as_str().unwrap()
        ));
    }
    paths
}

/// Fifty accepts of one reservation at once: all answered, one recorded (one version more).
fn fifty_accepts_record_one(daemon: &Daemon, path: &str) {
    let task_path = path.split("/Reservations").next().unwrap().to_owned();
    let (before, _) = etag_of(daemon, &task_path);
    let url = daemon.url(path);
    let accepts: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let form = [("ReservationStatus", "accepted")];
                let answer = ureq::post(&url).set("Authorization", &basic()).send_form(&form);
                answer.map(|r| r.status()).unwrap_or(0)
            })
        })
        .collect();
    let statuses: Vec<u16> = accepts.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (after, _) = etag_of(daemon, &task_path);
    let version = |etag: &str| etag.trim_matches('"').parse::<u64>().unwrap();
    assert_eq!(version(&after), version(&before) + 1, "one acceptance recorded, not fifty");
}

/// Accepts the reservations at `paths` from 8 threads and kills the daemon (-9) once 30 are
/// acknowledged; returns the URLs of those acknowledged.
fn accepts_until_killed(daemon: Daemon, paths: &[String]) -> Vec<String> {
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let senders: Vec<_> = paths
        .chunks(25)
        .map(|chunk| {
            let urls: Vec<String> = chunk.iter().map(|p| daemon.url(p)).collect();
            let acknowledged = std::sync::Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                for url in urls {
                    let answer = ureq::post(&url)
                        .set("Authorization", &basic())
                        .timeout(Duration::from_secs(5))
                        .send_form(&[("ReservationStatus", "accepted")]);
                    match answer {
                        Ok(r) if r.status() == 200 => acknowledged.lock().unwrap().push(url),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 30 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut daemon = daemon;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    senders.into_iter().for_each(|s| s.join().unwrap());
    let acknowledged = acknowledged.lock().unwrap().clone();
    acknowledged
}

#[test]
fn fifty_accepts_at_once_record_one_and_kill_9_amid_accepts_assigns_each_task_at_most_once() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir);
    let (base, activities) = workspace(&daemon, 600);
    let available = activities["Available"].as_str().unwrap().to_owned();
    let paths = reserved_tasks(&daemon, &base, &available, 200);
    fifty_accepts_record_one(&daemon, &paths[0]);
    let acknowledged = accepts_until_killed(daemon, &paths[1..]);
    assert!(acknowledged.len() < 199, "the kill came amid the accepts ({})", acknowledged.len());

    let again = start(&dir);
    let query = format!("{base}/Events?EventType=reservation.accepted&PageSize=1000");
    let accepted_events = ok(again.get(&query), 200)["events"].as_array().unwrap().clone();
    let mut assigned = 0;
    for path in &paths {
        let task_path = path.split("/Reservations").next().unwrap();
        let task = ok(again.get(task_path), 200);
        let accepted = reservations(&again, &base, task["sid"].as_str().unwrap())
            .iter()
            .filter(|r| r["reservation_status"] == "accepted")
            .count();
        assert!(accepted <= 1, "{task_path} accepted {accepted} times");
        assert_eq!(task["assignment_status"] == "assigned", accepted == 1, "{task}");
        let acked = acknowledged.iter().any(|url| url.ends_with(path.as_str()));
        assert!(!acked || accepted == 1, "an acknowledged accept of {path} was lost");
        // The accept that survived the crash has its event: a change and its events are
        // durable together.
        let events = accepted_events.iter().filter(|e| e["event_data"]["task_sid"] == task["sid"]);
        assert_eq!(events.count(), accepted, "{task_path}: its accept and its event, or neither");
        assigned += accepted;
    }
    assert!(assigned > acknowledged.len(), "the first task and every acknowledged one: {assigned}");
    let workers = ok(again.get(&format!("{base}/Workers?PageSize=1000")), 200);
    for worker in workers["workers"].as_array().unwrap() {
        let sid = worker["sid"].as_str().unwrap();
        let chat = ok(again.get(&format!("{base}/Workers/{sid}/Channels/chat")), 200);
        assert!(chat["assigned_tasks"].as_u64().unwrap() <= 1, "{chat}");
    }
}

#[test]
fn a_target_s_order_by_picks_the_worker_before_idle_time_does() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let available = activities["Available"].as_str().unwrap();
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap();
    let configuration = format!(
        r#"{{"task_routing":{{"filters":[{{"filter_friendly_name":"Skilled","expression":"skill == 'billing'","targets":[{{"queue":"{queue}","order_by":"worker.level DESC"}}]}}],"default_filter":{{"queue":"{queue}"}}}}}}"#
    );
    let form = [("FriendlyName", "Skilled"), ("Configuration", configuration.as_str())];
    let workflow = ok(daemon.post(&format!("{base}/Workflows"), &form), 201);
    let workflow = workflow["sid"].as_str().unwrap();
    let mut sids = Vec::new();
    for (name, level) in [("junior", 1), ("senior", 5)] {
        let attributes = format!(r#"{{"level":{level}}}"#);
        let form = [
            ("FriendlyName", name),
            ("ActivitySid", available),
            ("Attributes", attributes.as_str()),
        ];
        sids.push(
            ok(daemon.post(&format!("{base}/Workers"), &form), 201)["sid"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let new_task = |attributes: &str| {
        let form = [("Attributes", attributes), ("TaskChannel", "chat"), ("WorkflowSid", workflow)];
        ok(daemon.post(&format!("{base}/Tasks"), &form), 201)["sid"].as_str().unwrap().to_owned()
    };
    let billing = new_task(r#"{"skill":"billing"}"#);
    assert_eq!(
        reservations(&daemon, &base, &billing)[0]["worker_sid"],
        sids[1].as_str(),
        "the higher level"
    );
    let other = new_task(r#"{"skill":"sales"}"#);
    assert_eq!(
        reservations(&daemon, &base, &other)[0]["worker_sid"],
        sids[0].as_str(),
        "the longest idle"
    );
}

/// A workflow that routes Flex's transfer tasks: to the worker a task names
/// (`known_worker_sid`), or to the queue without the agent who let it go; anything else to the
/// queue. Returns the queue.
pub(crate) fn transfer_workflow(daemon: &Daemon, base: &str) -> String {
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    let workflow = workflows["workflows"][0]["sid"].as_str().unwrap().to_owned();
    let configuration = serde_json::json!({"task_routing": {
        "filters": [
            {"filter_friendly_name": "to a worker",
             "expression": "transferTargetType == 'worker'",
             "targets": [{"queue": queue, "known_worker_sid": "task.targetSid"}]},
            {"filter_friendly_name": "to a queue",
             "expression": "transferTargetType == 'queue'",
             "targets": [{"queue": queue,
                          "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}]}],
        "default_filter": {"queue": queue}}});
    let path = format!("{base}/Workflows/{workflow}");
    ok(daemon.post(&path, &[("Configuration", &configuration.to_string())]), 200);
    queue
}

/// Flex's transfer: a new task from the old one's attributes, naming where it goes.
fn transfer(daemon: &Daemon, base: &str, from: &str, to: (&str, &str), leaving: &str) -> String {
    let old = ok(daemon.get(&format!("{base}/Tasks/{from}")), 200);
    let mut attributes: Value = serde_json::from_str(old["attributes"].as_str().unwrap()).unwrap();
    attributes["transferTargetType"] = to.0.into();
    attributes["targetSid"] = to.1.into();
    attributes["ignoreAgent"] = leaving.into();
    attributes["ignoreWorkerContactUri"] = format!("client:{leaving}").into();
    let form = [("Attributes", attributes.to_string()), ("TaskChannel", "chat".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(daemon.post(&format!("{base}/Tasks"), &form), 201)["sid"].as_str().unwrap().to_owned()
}

/// The only reservation of `task`, answered `status`.
fn answer(daemon: &Daemon, base: &str, task: &str, worker: &str, status: &str) {
    let offered = reservations(daemon, base, task);
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!(offered[0]["worker_sid"], worker, "{offered:?}");
    let path = format!("{base}/Tasks/{task}/Reservations/{}", offered[0]["sid"].as_str().unwrap());
    ok(daemon.post(&path, &[("ReservationStatus", status)]), 200);
}

fn end(daemon: &Daemon, base: &str, task: &str) {
    let path = format!("{base}/Tasks/{task}");
    ok(daemon.post(&path, &[("AssignmentStatus", "wrapping")]), 200);
    ok(daemon.post(&path, &[("AssignmentStatus", "completed"), ("Reason", "handed on")]), 200);
}

#[test]
fn transfers_hand_the_channel_to_the_next_agent_cold_and_warm_and_keep_it_active() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let queue = transfer_workflow(&daemon, &base);
    let agent = |name: &str, activity: &str| {
        let attributes = format!(r#"{{"contact_uri":"client:{name}"}}"#);
        let form = [("FriendlyName", name), ("ActivitySid", activity), ("Attributes", &attributes)];
        ok(daemon.post(&format!("{base}/Workers"), &form), 201)["sid"].as_str().unwrap().to_owned()
    };
    let available = activities["Available"].as_str().unwrap();
    let alice = agent("alice", available);
    let bob = agent("bob", activities["Offline"].as_str().unwrap());
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+15005550006", "Hi", "SM00000000000000000000000000000021").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut first = String::new();
    eventually("the customer's task is offered", || {
        let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
        first = tasks["tasks"][0]["sid"].as_str().unwrap_or_default().to_owned();
        !first.is_empty() && !reservations(&daemon, &base, &first).is_empty()
    });
    answer(&daemon, &base, &first, &alice, "accepted");
    ok(daemon.post(&format!("{base}/Workers/{bob}"), &[("ActivitySid", available)]), 200);

    // Cold, to a worker: Alice lets go before Bob accepts; the channel waits for Bob.
    let second = transfer(&daemon, &base, &first, ("worker", &bob), "alice");
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"].as_array().unwrap().len(), 2, "the transfer is the channel's: {open}");
    end(&daemon, &base, &first);
    assert_eq!(channel_status(&daemon, &service, &channel), "ACTIVE", "the transfer keeps it");
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006"], "Alice left");
    answer(&daemon, &base, &second, &bob, "accepted");
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006", "bob"]);
    let told = event_types_of(&daemon, &base, &second);
    assert!(told.contains(&"task.transfer-initiated".into()), "{told:?}");
    assert!(told.contains(&"task.transfer-completed".into()), "{told:?}");
    assert_eq!(
        daemon.sms("+15005550006", "Still?", "SM00000000000000000000000000000022").status,
        200
    );
    assert_eq!(daemon.channels(&service).len(), 1, "the customer's next message finds Bob");

    // Warm, to the queue: never back to Bob, who stays until Alice has accepted.
    let third = transfer(&daemon, &base, &second, ("queue", &queue), "bob");
    answer(&daemon, &base, &third, &alice, "accepted");
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006", "alice", "bob"]);
    end(&daemon, &base, &second);
    assert_eq!(channel_status(&daemon, &service, &channel), "ACTIVE");
    assert_eq!(members(&daemon, &service, &channel), ["+15005550006", "alice"]);
    // The last agent's wrap-up ends the interaction, as without transfers.
    ok(daemon.post(&format!("{base}/Tasks/{third}"), &[("AssignmentStatus", "wrapping")]), 200);
    assert_eq!(channel_status(&daemon, &service, &channel), "INACTIVE");
    let all = ok(daemon.get(&format!("{base}/Tasks")), 200);
    assert_eq!(all["tasks"].as_array().unwrap().len(), 3, "no task made twice: {all}");
}

/// With the janitor off, a cold transfer canceled after the first agent's task completed leaves
/// no task open: the channel goes inactive, as the first task's completion would have made it
/// without the transfer.
#[test]
fn a_transfer_canceled_after_the_first_task_completed_ends_the_channel_without_the_janitor() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    transfer_workflow(&daemon, &base);
    let agent = |name: &str, activity: &str| {
        let attributes = format!(r#"{{"contact_uri":"client:{name}"}}"#);
        let form = [("FriendlyName", name), ("ActivitySid", activity), ("Attributes", &attributes)];
        ok(daemon.post(&format!("{base}/Workers"), &form), 201)["sid"].as_str().unwrap().to_owned()
    };
    let alice = agent("alice", activities["Available"].as_str().unwrap());
    let bob = agent("bob", activities["Offline"].as_str().unwrap());
    let (service, flow) = daemon.sms_flow(false);
    ok(daemon.post(&format!("/flex/v1/FlexFlows/{flow}"), &[("JanitorEnabled", "false")]), 200);
    assert_eq!(daemon.sms("+15005550006", "Hi", "SM00000000000000000000000000000031").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut first = String::new();
    eventually("the customer's task is offered", || {
        let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
        first = tasks["tasks"][0]["sid"].as_str().unwrap_or_default().to_owned();
        !first.is_empty() && !reservations(&daemon, &base, &first).is_empty()
    });
    answer(&daemon, &base, &first, &alice, "accepted");
    // To Bob, who is offline: the transfer waits while Alice's task ends.
    let second = transfer(&daemon, &base, &first, ("worker", &bob), "alice");
    end(&daemon, &base, &first);
    assert_eq!(channel_status(&daemon, &service, &channel), "ACTIVE", "the transfer keeps it");
    let form = [("AssignmentStatus", "canceled"), ("Reason", "nobody took it")];
    ok(daemon.post(&format!("{base}/Tasks/{second}"), &form), 200);
    assert_eq!(channel_status(&daemon, &service, &channel), "INACTIVE", "no task is open");
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"].as_array().unwrap().len(), 0, "{open}");
    let told = event_types_of(&daemon, &base, &second);
    assert_eq!(told.last().map(String::as_str), Some("task.transfer-canceled"), "{told:?}");
    assert!(!told.contains(&"task.transfer-completed".into()), "{told:?}");
}

/// The types of the events of `task`, oldest first, from the Events resource.
fn event_types_of(daemon: &Daemon, base: &str, task: &str) -> Vec<String> {
    let events = ok(daemon.get(&format!("{base}/Events?TaskSid={task}&PageSize=1000")), 200);
    let events = events["events"].as_array().unwrap();
    events.iter().map(|e| e["event_type"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_task_past_its_last_step_times_out_of_the_workflow_and_each_event_says_so() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, _) = workspace(&daemon, 120);
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let configuration = serde_json::json!({"task_routing": {"filters": [
        {"filter_friendly_name": "Brief", "expression": "kind == 'chat'",
         "targets": [{"queue": queue, "expression": "1==1", "timeout": 1}]}]}});
    let form = [("FriendlyName", "Brief"), ("Configuration", &configuration.to_string())];
    let workflow = ok(daemon.post(&format!("{base}/Workflows"), &form), 201);
    let form = [
        ("Attributes", r#"{"kind":"chat"}"#),
        ("TaskChannel", "chat"),
        ("WorkflowSid", workflow["sid"].as_str().unwrap()),
    ];
    let task =
        ok(daemon.post(&format!("{base}/Tasks"), &form), 201)["sid"].as_str().unwrap().to_owned();
    // Listed once durable: the task itself may show it a moment before.
    eventually("the workflow times out", || {
        event_types_of(&daemon, &base, &task).contains(&"task.canceled".to_owned())
    });
    let fetched = ok(daemon.get(&format!("{base}/Tasks/{task}")), 200);
    assert_eq!(fetched["reason"], "Task canceled on Workflow timeout");
    let told = event_types_of(&daemon, &base, &task);
    let expected = [
        "task.created",
        "workflow.entered",
        "task-queue.entered",
        "workflow.target-matched",
        "workflow.timeout",
        "task.canceled",
    ];
    assert_eq!(told, expected);
    let matched = ok(daemon.get(&format!("{base}/Events?EventType=workflow.target-matched")), 200);
    let data = &matched["events"][0]["event_data"];
    assert_eq!(data["workflow_filter_name"], "Brief", "{data}");
    assert_eq!(data["workflow_filter_expression"], "kind == 'chat'");
    assert_eq!(data["workflow_filter_target_expression"], "1==1");
    assert_eq!(data["task_queue_target_expression"], "1==1");
    assert_eq!(matched["events"][0]["resource_type"], "Workflow");
}

/// Erasing a channel's content (`DELETE /flex/v1/Channels/{CH}`) erases what its task copied of
/// the customer: the task's attributes, and the `TaskAttributes` its events carry.
#[test]
fn erasing_a_channel_erases_its_task_s_attributes_and_those_its_events_carry() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, _) = workspace(&daemon, 120);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+15005550006", "Hi", "SM00000000000000000000000000000041").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut task = String::new();
    let events_of = |task: &str| {
        let listed = ok(daemon.get(&format!("{base}/Events?TaskSid={task}")), 200);
        listed["events"].as_array().unwrap().clone()
    };
    // Listed once durable: the task's own list may show it a moment before.
    eventually("the channel's task is made and its events listed", || {
        let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
        task = tasks["tasks"][0]["sid"].as_str().unwrap_or_default().to_owned();
        !task.is_empty() && !events_of(&task).is_empty()
    });
    // An agent's note about the customer, kept in the task's attributes.
    let path = format!("{base}/Tasks/{task}");
    let mut noted: Value =
        serde_json::from_str(ok(daemon.get(&path), 200)["attributes"].as_str().unwrap()).unwrap();
    // A note no SID, key, digest or date in `replay`'s output could contain by chance (hex
    // strings there did contain its number alone, now and then).
    const NOTE: &str = "prefers-mornings-4711";
    noted["note"] = NOTE.into();
    ok(daemon.post(&path, &[("Attributes", &noted.to_string())]), 200);
    let copied = |event: &Value| event["event_data"]["task_attributes"].as_str().map(str::to_owned);
    let before = events_of(&task);
    for event in &before {
        assert!(copied(event).unwrap().contains("+15005550006"), "{event}");
    }
    assert!(copied(before.last().unwrap()).unwrap().contains(NOTE), "as at each event");
    assert!(!copied(&before[0]).unwrap().contains(NOTE), "as at each event");
    assert_eq!(daemon.delete(&format!("/flex/v1/Channels/{channel}")).status, 204);
    // The task's attributes, then the copies its events carry, each erased a moment after the
    // 204 (by the task's stream, then by the events' readers).
    eventually("the task's attributes and its events' copies are erased", || {
        ok(daemon.get(&format!("{base}/Tasks/{task}")), 200)["attributes"] == "{}"
            && events_of(&task).iter().all(|event| copied(event).as_deref() == Some("{}"))
    });
    let after = events_of(&task);
    assert!(after.len() > before.len(), "the task's cancellation too: {after:?}");
    for event in &after {
        assert_eq!(copied(event).as_deref(), Some("{}"), "{event}");
        let sid = event["sid"].as_str().unwrap();
        let fetched = ok(daemon.get(&format!("{base}/Events/{sid}")), 200);
        assert_eq!(copied(&fetched).as_deref(), Some("{}"), "{fetched}");
    }
    // Destroyed, not hidden: nothing in the folder reads back as the note, even with the key.
    let data = temp.path().join("data");
    assert_eq!(daemon.terminate().0, 0);
    let replay = crate::support::run(
        crate::support::switchboard().args(["replay", "--data-dir"]).arg(&data),
    );
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    assert!(replay.stdout.contains(&task), "the task's stream is replayed");
    assert!(!replay.stdout.contains(NOTE), "the task's attributes are gone from the log");
    let daemon = start(&data);
    let kept = ok(daemon.get(&format!("{base}/Tasks/{task}")), 200);
    assert_eq!(
        (kept["attributes"].as_str(), kept["assignment_status"].as_str()),
        (Some("{}"), Some("canceled"))
    );
}

/// A workflow whose one filter tries the queue `experts` first, skipped when it has no
/// available worker (`skip_if`), then `sample`; a step that is not skipped waits an hour.
fn experts_first(daemon: &Daemon, base: &str, experts: &str, sample: &str) -> String {
    let configuration = serde_json::json!({"task_routing": {"filters": [
        {"filter_friendly_name": "Experts first", "expression": "1==1", "targets": [
            {"queue": experts, "skip_if": "workers.available == 0", "timeout": 3600},
            {"queue": sample}]}]}});
    let form = [("FriendlyName", "Experts first"), ("Configuration", &configuration.to_string())];
    let made = ok(daemon.post(&format!("{base}/Workflows"), &form), 201);
    made["sid"].as_str().unwrap().to_owned()
}

#[test]
fn a_step_whose_skip_if_holds_on_entry_is_skipped_only_when_no_reservation_was_made() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let sample = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let form = [("FriendlyName", "Experts"), ("TargetWorkers", "skill == 'expert'")];
    let experts = ok(daemon.post(&format!("{base}/TaskQueues"), &form), 201);
    let experts = experts["sid"].as_str().unwrap().to_owned();
    let workflow = experts_first(&daemon, &base, &experts, &sample);
    let (available, offline) =
        (activities["Available"].as_str().unwrap(), activities["Offline"].as_str().unwrap());
    let form = [
        ("FriendlyName", "expert"),
        ("ActivitySid", offline),
        ("Attributes", r#"{"skill":"expert"}"#),
    ];
    let expert =
        ok(daemon.post(&format!("{base}/Workers"), &form), 201)["sid"].as_str().unwrap().to_owned();
    let generalist = worker(&daemon, &base, "generalist", available);
    let new_task = || {
        let form =
            [("Attributes", "{}"), ("TaskChannel", "chat"), ("WorkflowSid", workflow.as_str())];
        ok(daemon.post(&format!("{base}/Tasks"), &form), 201)
    };

    // The only expert is offline: `workers.available == 0` holds, so the first step is skipped
    // at once rather than waited out for an hour.
    let skipped = new_task();
    assert_eq!(skipped["task_queue_sid"], sample.as_str(), "{skipped}");
    let sid = skipped["sid"].as_str().unwrap();
    assert_eq!(reservations(&daemon, &base, sid)[0]["worker_sid"], generalist.as_str());
    let told = event_types_of(&daemon, &base, sid);
    assert_eq!(told.iter().filter(|t| *t == "workflow.skipped").count(), 1, "{told:?}");

    // The expert becomes available: entering the first step makes a reservation, so it stays.
    ok(daemon.post(&format!("{base}/Workers/{expert}"), &[("ActivitySid", available)]), 200);
    let kept = new_task();
    assert_eq!(kept["task_queue_sid"], experts.as_str(), "{kept}");
    let sid = kept["sid"].as_str().unwrap();
    assert_eq!(reservations(&daemon, &base, sid)[0]["worker_sid"], expert.as_str());

    // Both are busy now (capacity 1): no reservation on entry, but the queue has an available
    // worker, so `skip_if` does not hold and the task waits in the first step.
    let waiting = new_task();
    assert_eq!(waiting["task_queue_sid"], experts.as_str(), "{waiting}");
    assert_eq!(waiting["assignment_status"], "pending");
    let sid = waiting["sid"].as_str().unwrap();
    assert!(reservations(&daemon, &base, sid).is_empty());
}

/// The flow's tasks in TaskRouter that name `channel`, oldest first.
fn tasks_of_channel(daemon: &Daemon, base: &str, channel: &str) -> Vec<Value> {
    let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
    let of_channel = |task: &&Value| {
        let attributes: Value = serde_json::from_str(task["attributes"].as_str().unwrap()).unwrap();
        attributes["channelSid"] == channel
    };
    tasks["tasks"].as_array().unwrap().iter().filter(of_channel).cloned().collect()
}

/// With the janitor off, a task canceled outside the agent's hands (here over the REST API)
/// leaves its channel ACTIVE, as on Twilio, where closing it is then the integration's; the
/// customer's next message in it is not lost: it opens a new task in the same channel.
#[test]
fn with_the_janitor_off_a_canceled_task_leaves_the_channel_active_and_the_next_message_a_new_task()
{
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (base, activities) = workspace(&daemon, 120);
    let (service, flow) = daemon.sms_flow(false);
    ok(daemon.post(&format!("/flex/v1/FlexFlows/{flow}"), &[("JanitorEnabled", "false")]), 200);
    assert_eq!(daemon.sms("+15005550006", "Hi", "SM00000000000000000000000000000041").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    eventually("the customer's task is made", || {
        tasks_of_channel(&daemon, &base, &channel).len() == 1
    });
    let first = tasks_of_channel(&daemon, &base, &channel)[0]["sid"].as_str().unwrap().to_owned();
    let form = [("AssignmentStatus", "canceled"), ("Reason", "spam filter")];
    ok(daemon.post(&format!("{base}/Tasks/{first}"), &form), 200);
    assert_eq!(channel_status(&daemon, &service, &channel), "ACTIVE", "the janitor is off");
    eventually("the channel's task is ended", || {
        ok(daemon.get("/admin/v1/Tasks"), 200)["tasks"].as_array().is_some_and(Vec::is_empty)
    });

    let alice = worker(&daemon, &base, "alice", activities["Available"].as_str().unwrap());
    assert_eq!(
        daemon.sms("+15005550006", "Hello?", "SM00000000000000000000000000000042").status,
        200
    );
    assert_eq!(daemon.channels(&service).len(), 1, "the same channel");
    eventually("a new task is offered", || {
        let tasks = tasks_of_channel(&daemon, &base, &channel);
        tasks.len() == 2
            && !reservations(&daemon, &base, tasks[1]["sid"].as_str().unwrap()).is_empty()
    });
    let second = tasks_of_channel(&daemon, &base, &channel)[1]["sid"].as_str().unwrap().to_owned();
    assert_eq!(reservations(&daemon, &base, &second)[0]["worker_sid"], alice.as_str());
    assert_eq!(channel_status(&daemon, &service, &channel), "ACTIVE");
}

/// A metric's value as the daemon reports it now (it must report it).
fn metric(daemon: &Daemon, name: &str) -> f64 {
    let text = daemon.get("/metrics").body;
    let value = text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
    value.unwrap_or_else(|| panic!("no {name} in {text}")).parse().unwrap()
}

/// A pending task moving to its workflow's next step changes nothing its channel holds, so the
/// hibernating channel is not woken for it (issue 20 item 3: every channel with a waiting task
/// was woken at each step, and all of them at once after a restart).
#[test]
fn a_waiting_task_s_next_step_leaves_its_hibernating_channel_at_rest() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush").env("SWITCHBOARD_HIBERNATE_AFTER", "1s");
    let daemon = Daemon::start(command);
    let (base, _) = workspace(&daemon, 120);
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let configuration = serde_json::json!({"task_routing": {"filters": [
        {"filter_friendly_name": "Two steps", "expression": "1==1",
         "targets": [{"queue": queue, "timeout": 3}, {"queue": queue}]}]}});
    let form = [("FriendlyName", "Two steps"), ("Configuration", &configuration.to_string())];
    let workflow = ok(daemon.post(&format!("{base}/Workflows"), &form), 201);
    let workspace_sid = base.rsplit('/').next().unwrap();
    daemon.flow(&[
        ("ChannelType", "sms"),
        ("ContactIdentity", crate::support::api::OUR_NUMBER),
        ("Enabled", "true"),
        ("IntegrationType", "task"),
        ("Integration.WorkspaceSid", workspace_sid),
        ("Integration.WorkflowSid", workflow["sid"].as_str().unwrap()),
    ]);
    let sent = daemon.sms("+15005550006", "Hello", "SM00000000000000000000000000000001");
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mut task = String::new();
    eventually("the channel's task is made", || {
        let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
        task = tasks["tasks"][0]["sid"].as_str().unwrap_or_default().to_owned();
        !task.is_empty()
    });
    eventually("the channel hibernates", || {
        metric(&daemon, "switchboard_channel_actors_live") == 0.0
    });
    let hibernations = metric(&daemon, "switchboard_channel_hibernations_total");
    eventually("the task moves to the second step", || {
        let told = event_types_of(&daemon, &base, &task);
        told.iter().filter(|t| *t == "workflow.target-matched").count() == 2
    });
    // A channel woken for the step would hibernate again within the period and its check's
    // interval (1.5 s): waited out, then counted.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(metric(&daemon, "switchboard_channel_actors_live"), 0.0);
    assert_eq!(metric(&daemon, "switchboard_channel_hibernations_total"), hibernations);
}
