//! Inbound SMS through the real daemon: routing to one channel per customer, concurrency,
//! redelivery, forged signatures, flows that do not exist, and the janitor.

use std::time::Duration;

use crate::support::api::{daemon_command, OUR_NUMBER};
use crate::support::Daemon;

fn started(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    let daemon = Daemon::start(command);
    (temp, daemon)
}

#[test]
fn one_channel_per_customer_with_the_customer_as_member() {
    let (_temp, daemon) = started(&[]);
    let (service, flow) = daemon.sms_flow(false);
    for (from, body, sid) in [
        ("+14155550101", "hello", "SM00000000000000000000000000000001"),
        ("+14155550101", "anyone there?", "SM00000000000000000000000000000002"),
        ("+14155550102", "hi", "SM00000000000000000000000000000003"),
    ] {
        let answer = daemon.sms(from, body, sid);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("<Response/>"), "{}", answer.body);
    }
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 2, "two customers, two channels");
    let first = channels
        .iter()
        .find(|c| c["attributes"].as_str().unwrap().contains("+14155550101"))
        .expect("the first customer's channel");
    assert_eq!(first["type"], "private");
    let attributes: serde_json::Value =
        serde_json::from_str(first["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["status"], "ACTIVE");
    assert_eq!(attributes["from"], "+14155550101");
    assert_eq!(attributes["channel_type"], "sms");
    assert_eq!(attributes["flex_flow_sid"], flow.as_str());
    assert_eq!(attributes["long_lived"], false);
    let sid = first["sid"].as_str().unwrap();
    let messages = daemon.messages(&service, sid);
    let bodies: Vec<_> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello", "anyone there?"]);
    assert_eq!(messages[1]["index"], 1);
    assert_eq!(messages[0]["from"], "+14155550101");
    let members = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{sid}/Members"));
    assert_eq!(members.json()["members"][0]["identity"], "+14155550101");
    let tasks = daemon.get("/admin/v1/Tasks").json();
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 2, "one task per new interaction");
}

#[test]
fn fifty_concurrent_messages_of_a_new_customer_make_one_channel() {
    let (_temp, daemon) = started(&[]);
    let (service, _) = daemon.sms_flow(false);
    std::thread::scope(|scope| {
        let sends: Vec<_> = (0..50)
            .map(|i| {
                let daemon = &daemon;
                scope.spawn(move || {
                    daemon.sms("+14155550150", &format!("burst {i}"), &format!("SM{i:032x}"))
                })
            })
            .collect();
        for send in sends {
            let answer = send.join().unwrap();
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
    });
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1);
    let messages = daemon.messages(&service, channels[0]["sid"].as_str().unwrap());
    assert_eq!(messages.len(), 50);
    let mut indexes: Vec<u64> = messages.iter().map(|m| m["index"].as_u64().unwrap()).collect();
    indexes.dedup();
    assert_eq!(indexes, (0..50).collect::<Vec<_>>());

    // Paging, both ways, by following next_page_url as the SDKs do.
    let channel = channels[0]["sid"].as_str().unwrap();
    for (order, first) in [("asc", 0), ("desc", 49)] {
        let mut path = format!(
            "/chat/v2/Services/{service}/Channels/{channel}/Messages?Order={order}&PageSize=20"
        );
        let mut seen = Vec::new();
        loop {
            let page = daemon.get(&path).json();
            assert_eq!(page["meta"]["key"], "messages");
            seen.extend(
                page["messages"].as_array().unwrap().iter().map(|m| m["index"].as_u64().unwrap()),
            );
            match page["meta"]["next_page_url"].as_str() {
                Some(next) => path = next.strip_prefix(&daemon.base_url).unwrap().to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 50, "{order}");
        assert_eq!(seen[0], first, "{order}");
        assert!(seen.windows(2).all(|w| w[0] != w[1]), "{order}: no duplicates across pages");
    }
}

#[test]
fn twenty_deliveries_of_one_message_sid_store_one_message() {
    let (_temp, daemon) = started(&[]);
    let (service, _) = daemon.sms_flow(false);
    std::thread::scope(|scope| {
        for _ in 0..20 {
            let daemon = &daemon;
            scope.spawn(move || {
                let answer =
                    daemon.sms("+14155550160", "only once", "SMffffffffffffffffffffffffffffffff");
                assert_eq!(answer.status, 200, "{}", answer.body);
            });
        }
    });
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1);
    assert_eq!(daemon.messages(&service, channels[0]["sid"].as_str().unwrap()).len(), 1);
}

#[test]
fn a_forged_or_missing_signature_is_refused_and_nothing_is_stored() {
    let (_temp, daemon) = started(&[]);
    let (service, _) = daemon.sms_flow(false);
    let params = [
        ("From", "+14155550170"),
        ("To", OUR_NUMBER),
        ("Body", "forged"),
        ("MessageSid", "SMforged"),
    ];
    let forged = daemon.twilio_webhook(&params, Some("bm90IGEgc2lnbmF0dXJl"));
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["code"], 20403);
    let missing = ureq::post(&daemon.url("/webhooks/twilio")).send_form(&params);
    assert!(matches!(missing, Err(ureq::Error::Status(403, _))));
    // Signed for other parameters than the ones sent: refused too.
    let url = daemon.url("/webhooks/twilio");
    let other = crate::support::api::twilio_signature(
        crate::support::api::AUTH_TOKEN,
        &url,
        &[("Body", "x")],
    );
    assert_eq!(daemon.twilio_webhook(&params, Some(&other)).status, 403);
    assert!(daemon.channels(&service).is_empty());
}

#[test]
fn a_number_without_an_enabled_flow_gets_a_404_in_twilio_shape() {
    let (_temp, daemon) = started(&[]);
    let answer = daemon.sms("+14155550180", "hello?", "SM00000000000000000000000000000180");
    assert_eq!(answer.status, 404);
    let error = answer.json();
    assert_eq!(error["code"], 20404);
    assert_eq!(error["status"], 404);
    assert!(error["message"].as_str().unwrap().contains(OUR_NUMBER));
    assert_eq!(error["more_info"], "https://www.twilio.com/docs/errors/20404");
}

#[test]
fn the_janitor_retires_a_quiet_channel_and_the_next_message_opens_a_new_one() {
    let (_temp, daemon) = started(&[("SWITCHBOARD_JANITOR_INACTIVE_AFTER", "1s")]);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+14155550190", "first", "SM00000000000000000000000000000190").status,
        200
    );
    let first = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let retired = wait_for(Duration::from_secs(10), || {
        let channel = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{first}")).json();
        channel["attributes"].as_str().unwrap().contains("INACTIVE")
    });
    assert!(retired, "the channel went INACTIVE after the window");
    assert!(
        daemon.get("/admin/v1/Tasks").json()["tasks"].as_array().unwrap().is_empty(),
        "its task was canceled"
    );
    assert_eq!(
        daemon.sms("+14155550190", "back again", "SM00000000000000000000000000000191").status,
        200
    );
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 2, "a new channel for the new interaction");
    let second = channels.iter().find(|c| c["sid"] != first.as_str()).unwrap();
    assert_eq!(daemon.messages(&service, second["sid"].as_str().unwrap())[0]["body"], "back again");
}

#[test]
fn a_redelivery_after_the_channel_retired_and_after_a_crash_adds_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let start = || {
        let mut command = daemon_command(&temp.path().join("data"));
        command.env("SWITCHBOARD_JANITOR_INACTIVE_AFTER", "1s");
        Daemon::start(command)
    };
    let (customer, first_sid, second_sid) = (
        "+14155550195",
        "SM00000000000000000000000000000195",
        "SM00000000000000000000000000000196",
    );
    let mut daemon = start();
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms(customer, "first", first_sid).status, 200);
    let first = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let first_path = format!("/chat/v2/Services/{service}/Channels/{first}");
    assert!(wait_for(Duration::from_secs(10), || {
        daemon.get(&first_path).json()["attributes"].as_str().unwrap().contains("INACTIVE")
    }));
    // The retired channel still knows the message: no new channel, no second copy.
    assert_eq!(daemon.sms(customer, "first", first_sid).status, 200);
    assert_eq!(daemon.channels(&service).len(), 1, "a redelivery opens no channel");
    // A new message opens the next channel, which takes over what the first one knew.
    assert_eq!(daemon.sms(customer, "second", second_sid).status, 200);
    assert_eq!(daemon.channels(&service).len(), 2);
    assert_eq!(daemon.sms(customer, "first", first_sid).status, 200);
    // Killed, restarted: both messages are still recognized, through snapshots and the log.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    drop(daemon);
    daemon = start();
    for (body, sid) in [("first", first_sid), ("second", second_sid)] {
        assert_eq!(daemon.sms(customer, body, sid).status, 200, "{body}");
    }
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 2, "nothing more was opened");
    for channel in &channels {
        let messages = daemon.messages(&service, channel["sid"].as_str().unwrap());
        let expected = if channel["sid"] == first.as_str() { "first" } else { "second" };
        let bodies: Vec<_> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, [expected], "one copy, in its own channel");
    }
}

#[test]
fn a_long_lived_channel_is_reused_with_its_history() {
    let (_temp, daemon) = started(&[("SWITCHBOARD_JANITOR_INACTIVE_AFTER", "1s")]);
    let (service, _) = daemon.sms_flow(true);
    assert_eq!(
        daemon.sms("+14155550200", "first", "SM00000000000000000000000000000200").status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}");
    assert!(wait_for(Duration::from_secs(10), || daemon.get(&path).json()["attributes"]
        .as_str()
        .unwrap()
        .contains("INACTIVE")));
    assert_eq!(
        daemon.sms("+14155550200", "second", "SM00000000000000000000000000000201").status,
        200
    );
    assert_eq!(daemon.channels(&service).len(), 1, "the same channel");
    let bodies: Vec<_> = daemon
        .messages(&service, &channel)
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["first", "second"]);
    assert!(daemon.get(&path).json()["attributes"].as_str().unwrap().contains("\"ACTIVE\""));
}

#[test]
fn deactivating_over_rest_releases_the_customer() {
    let (_temp, daemon) = started(&[]);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+14155550210", "hi", "SM00000000000000000000000000000210").status, 200);
    let channel = daemon.channels(&service)[0].clone();
    let sid = channel["sid"].as_str().unwrap();
    let mut attributes: serde_json::Value =
        serde_json::from_str(channel["attributes"].as_str().unwrap()).unwrap();
    attributes["status"] = "INACTIVE".into();
    let updated = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{sid}"),
        &[("Attributes", &attributes.to_string())],
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    // A closing message from the agent does not reopen it.
    let closing = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{sid}/Messages"),
        &[("From", "agent"), ("Body", "Thanks, bye!")],
    );
    assert_eq!(closing.status, 201, "{}", closing.body);
    assert!(daemon.get(&format!("/chat/v2/Services/{service}/Channels/{sid}")).json()
        ["attributes"]
        .as_str()
        .unwrap()
        .contains("INACTIVE"));
    assert_eq!(
        daemon.sms("+14155550210", "new question", "SM00000000000000000000000000000211").status,
        200
    );
    assert_eq!(daemon.channels(&service).len(), 2);
}

pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
