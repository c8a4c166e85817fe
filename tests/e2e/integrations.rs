//! The `external` integration through the real daemon: customer messages are POSTed, signed, to
//! the flow's Integration.Url, retried on 5xx in order, and delivered after a restart.

use std::time::Duration;

use crate::inbound::wait_for;
use crate::support::api::{daemon_command, twilio_signature, AUTH_TOKEN, OUR_NUMBER};
use crate::support::fake::FakeServer;
use crate::support::Daemon;

fn start(data: &std::path::Path) -> Daemon {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

/// A Chat service and an enabled SMS flow for our number with the `external` integration
/// posting to `url`; returns the service.
pub(crate) fn external_flow(daemon: &Daemon, url: &str, retries: &str) -> String {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "bridge")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let flow = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "to the bot"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", OUR_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "external"),
            ("Integration.Url", url),
            ("Integration.RetryCount", retries),
        ],
    );
    assert_eq!(flow.status, 201, "{}", flow.body);
    service
}

#[test]
fn customer_messages_reach_the_integration_signed_and_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/bot", fake.url);
    external_flow(&daemon, &hook, "3");
    fake.fail_next(&[503, 500]);
    for (i, body) in ["first", "second", "third"].iter().enumerate() {
        let sid = format!("SM{:032x}", 500 + i);
        assert_eq!(daemon.sms("+14155550501", body, &sid).status, 200);
    }
    assert!(
        wait_for(Duration::from_secs(10), || fake.requests().len() >= 5),
        "{:?}",
        fake.requests()
    );
    let requests = fake.requests();
    let bodies: Vec<_> = requests.iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(
        bodies,
        ["first", "first", "first", "second", "third"],
        "retried in place, order kept"
    );
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/bot");
        let params = request.form();
        let pairs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expected = twilio_signature(AUTH_TOKEN, &hook, &pairs);
        assert_eq!(
            request.header("X-Twilio-Signature"),
            Some(expected.as_str()),
            "signed like Twilio"
        );
        assert_eq!(request.param("EventType").as_deref(), Some("onMessageSent"));
        assert_eq!(request.param("From").as_deref(), Some("+14155550501"));
        assert!(request.param("ChannelSid").unwrap().starts_with("CH"));
    }
    assert_eq!(requests[2].param("RetryCount").as_deref(), Some("2"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.requests().len(), 5, "nothing is delivered twice");
}

#[test]
fn a_client_error_is_not_retried() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    external_flow(&daemon, &format!("{}/bot", fake.url), "3");
    fake.fail_next(&[400]);
    assert_eq!(
        daemon.sms("+14155550511", "refused", "SM00000000000000000000000000000511").status,
        200
    );
    assert_eq!(
        daemon.sms("+14155550511", "accepted", "SM00000000000000000000000000000512").status,
        200
    );
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 2));
    std::thread::sleep(Duration::from_millis(500));
    let bodies: Vec<_> = fake.requests().iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(
        bodies,
        ["refused", "accepted"],
        "the 400 was not retried and did not block the next"
    );
}

#[test]
fn pending_deliveries_survive_a_restart_and_arrive_once() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let fake = FakeServer::start();
    let daemon = start(&data);
    external_flow(&daemon, &format!("{}/bot", fake.url), "3");
    // The integration is down for longer than one run of retries lasts.
    fake.fail_next(&[503; 40]);
    for (i, body) in ["one", "two"].iter().enumerate() {
        let sid = format!("SM{:032x}", 520 + i);
        assert_eq!(daemon.sms("+14155550521", body, &sid).status, 200);
    }
    assert!(wait_for(Duration::from_secs(5), || !fake.requests().is_empty()));
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    fake.statuses.lock().unwrap().clear();
    let before = fake.requests().len();
    let daemon = start(&data);
    assert!(wait_for(Duration::from_secs(10), || {
        fake.requests()[before..]
            .iter()
            .filter(|r| r.param("Body").as_deref() == Some("two"))
            .count()
            == 1
    }));
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<_> =
        fake.requests()[before..].iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(after.iter().filter(|b| *b == "two").count(), 1);
    assert!(after.iter().filter(|b| *b == "one").count() <= 1);
    drop(daemon);
}
