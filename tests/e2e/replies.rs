//! Agent replies reach SMS customers through Twilio's Messages API (a fake on 127.0.0.1), in
//! order, retried on 5xx, recorded on the message as `sent` or `failed`, and delivered after a
//! restart.

use std::time::Duration;

use crate::inbound::wait_for;
use crate::support::api::{daemon_command, ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER};
use crate::support::fake::FakeServer;
use crate::support::Daemon;

fn start(data: &std::path::Path, twilio: &FakeServer) -> Daemon {
    let mut command = daemon_command(data);
    command
        .env("SWITCHBOARD_TWILIO_API_BASE", &twilio.url)
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

fn reply(daemon: &Daemon, service: &str, channel: &str, body: &str) {
    let posted = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"),
        &[("From", "agent.alice"), ("Body", body)],
    );
    assert_eq!(posted.status, 201, "{}", posted.body);
}

fn delivery(daemon: &Daemon, service: &str, channel: &str, body: &str) -> serde_json::Value {
    daemon.messages(service, channel).into_iter().find(|m| m["body"] == body).unwrap()
}

#[test]
fn replies_go_out_through_twilio_in_order_and_are_marked_sent() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+14155550801", "my order?", "SM00000000000000000000000000000801").status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    twilio.fail_next(&[503]);
    for body in ["Looking now", "It ships today", "Anything else?"] {
        reply(&daemon, &service, &channel, body);
    }
    assert!(wait_for(Duration::from_secs(10), || twilio.requests().len() >= 4));
    std::thread::sleep(Duration::from_millis(300));
    let requests = twilio.requests();
    let bodies: Vec<_> = requests.iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(
        bodies,
        ["Looking now", "Looking now", "It ships today", "Anything else?"],
        "the customer's own message is not sent back"
    );
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
    assert_eq!(first.param("To").as_deref(), Some("+14155550801"));
    assert_eq!(first.param("From").as_deref(), Some(OUR_NUMBER));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    assert_eq!(first.header("Authorization"), Some(basic.as_str()));
    assert!(wait_for(Duration::from_secs(5), || delivery(
        &daemon,
        &service,
        &channel,
        "Anything else?"
    )["delivery_status"]
        == "sent"));
    assert_eq!(delivery(&daemon, &service, &channel, "Looking now")["delivery_status"], "sent");
}

#[test]
fn a_refused_reply_is_marked_failed_with_the_providers_error() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+14155550811", "hi", "SM00000000000000000000000000000811").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    twilio.fail_next(&[400]);
    reply(&daemon, &service, &channel, "to a landline");
    assert!(wait_for(Duration::from_secs(10), || delivery(
        &daemon,
        &service,
        &channel,
        "to a landline"
    )["delivery_status"]
        == "failed"));
    let failed = delivery(&daemon, &service, &channel, "to a landline");
    assert_eq!(failed["delivery_error"]["code"], "400");
    assert_eq!(twilio.requests().len(), 1, "a 4xx is not retried");
}

#[test]
fn pending_replies_are_delivered_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let twilio = FakeServer::start();
    let daemon = start(&data, &twilio);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+14155550821", "hi", "SM00000000000000000000000000000821").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    twilio.fail_next(&[503; 40]);
    reply(&daemon, &service, &channel, "are you there?");
    assert!(wait_for(Duration::from_secs(5), || !twilio.requests().is_empty()));
    assert_eq!(daemon.terminate().0, 0);
    twilio.statuses.lock().unwrap().clear();
    let before = twilio.requests().len();
    let daemon = start(&data, &twilio);
    assert!(wait_for(Duration::from_secs(10), || twilio.requests().len() > before));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(twilio.requests().len(), before + 1, "delivered once after the restart");
    assert!(wait_for(Duration::from_secs(5), || delivery(
        &daemon,
        &service,
        &channel,
        "are you there?"
    )["delivery_status"]
        == "sent"));
}
