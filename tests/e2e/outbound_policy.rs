//! The outbound policy through the real daemon: media URLs that lead inward (loopback in every
//! spelling, a redirect, link-local, the unspecified address) are refused and nothing inside is
//! reached; provider credentials go only to the configured origin; provider ids are checked
//! before they touch a URL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::api::{daemon_command, ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER};
use crate::support::fake::{FakeServer, Reply};
use crate::support::Daemon;

const CUSTOMER: &str = "+14155550177";

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        // Failures that may pass are retried quickly: the test waits for every medium to settle.
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "10ms");
    for (name, value) in extra {
        command.env(name, value);
    }
    (temp, Daemon::start(command))
}

/// Posts an MMS carrying `urls` (all `image/png`), signed as Twilio does.
fn mms(daemon: &Daemon, message_sid: &str, urls: &[String]) {
    let count = urls.len().to_string();
    let mut params: Vec<(String, String)> = vec![
        ("From".into(), CUSTOMER.into()),
        ("To".into(), OUR_NUMBER.into()),
        ("Body".into(), "see attached".into()),
        ("MessageSid".into(), message_sid.into()),
        ("NumMedia".into(), count),
    ];
    for (n, url) in urls.iter().enumerate() {
        params.push((format!("MediaUrl{n}"), url.clone()));
        params.push((format!("MediaContentType{n}"), "image/png".into()));
    }
    let borrowed: Vec<(&str, &str)> =
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = daemon.twilio_webhook(&borrowed, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Every message of the service's only channel, once none of their media is pending.
fn settled(daemon: &Daemon, service: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(channel) = daemon.channels(service).first() {
            let channel = channel["sid"].as_str().unwrap();
            let messages = daemon.messages(service, channel);
            let done = messages.len() >= count
                && messages
                    .iter()
                    .all(|m| m["media"].is_null() || m["media"]["status"] != "pending");
            if done {
                return messages;
            }
        }
        assert!(Instant::now() < deadline, "media still pending");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn media_urls_that_lead_inward_are_refused_and_nothing_inside_is_reached() {
    // A service "inside": on 127.0.0.2, which the allow-list (127.0.0.1, the fakes) leaves out.
    let inside = FakeServer::start_on("127.0.0.2", |_| Reply::content("image/png", b"secret"));
    let port = inside.url.rsplit(':').next().unwrap().to_owned();
    let target = format!("http://127.0.0.2:{port}/secret");
    // An allowed host that redirects inward.
    let redirect_to = target.clone();
    let outside = FakeServer::start_with(move |_| Reply::redirect(&redirect_to));
    let (_temp, daemon) = start(&[
        // Loopback and the inside service are reached directly, not through the test's proxy,
        // so that only the policy stands between the daemon and them.
        ("NO_PROXY", "127.0.0.0/8,::1,localhost"),
        ("no_proxy", "127.0.0.0/8,::1,localhost"),
    ]);
    let (service, _) = daemon.sms_flow(false);
    let urls = [
        target.clone(),
        format!("http://0x7f000002:{port}/secret"),
        format!("http://2130706434:{port}/secret"),
        format!("http://0177.0.0.2:{port}/secret"),
        format!("http://[::ffff:127.0.0.2]:{port}/secret"),
        format!("http://0.0.0.0:{port}/secret"),
        format!("http://[::1]:{port}/secret"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("{}/moved", outside.url),
        format!("ftp://127.0.0.2:{port}/secret"),
    ];
    mms(&daemon, "MM00000000000000000000000000000a01", &urls);
    let messages = settled(&daemon, &service, 10);
    assert_eq!(messages.len(), 10, "{messages:?}");
    for (message, url) in messages.iter().zip(&urls) {
        assert_eq!(message["media"]["status"], "failed", "{url}: {message}");
        let why = message["media"]["error"].as_str().unwrap();
        assert!(why.contains("outbound policy"), "{url}: {why}");
        assert!(!why.contains("secret"), "the reason names no path: {why}");
    }
    assert!(inside.requests().is_empty(), "the inside was reached: {:?}", inside.requests());
    let asked: Vec<_> = outside.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked, ["/moved"], "the allowed host is asked once; its redirect is not followed");
}

#[test]
fn twilio_credentials_go_to_the_configured_origin_only() {
    let basic = {
        use base64::Engine as _;
        let pair = format!("{ACCOUNT_SID}:{AUTH_TOKEN}");
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    };
    // The same host as the configured API, another port: another origin.
    let elsewhere = FakeServer::start_with(|_| Reply::content("image/png", b"png"));
    let elsewhere_url = elsewhere.url.clone();
    let api = FakeServer::start_with(move |request| match request.path.as_str() {
        "/Media/here" => Reply::content("image/png", b"png"),
        _ => Reply::redirect(&format!("{elsewhere_url}/cdn/away")),
    });
    let (_temp, daemon) = start(&[("SWITCHBOARD_TWILIO_API_BASE", &api.url)]);
    let (service, _) = daemon.sms_flow(false);
    let urls = [
        format!("{}/Media/here", api.url),
        format!("{}/Media/elsewhere", elsewhere.url),
        format!("{}/Media/redirected", api.url),
    ];
    mms(&daemon, "MM00000000000000000000000000000a02", &urls);
    let messages = settled(&daemon, &service, 3);
    for message in &messages {
        assert_eq!(message["media"]["status"], "stored", "{message}");
    }
    let to_api = api.requests();
    assert_eq!(to_api.len(), 2, "{to_api:?}");
    for request in &to_api {
        assert_eq!(request.header("Authorization"), Some(basic.as_str()), "{}", request.path);
    }
    let to_elsewhere = elsewhere.requests();
    let paths: Vec<_> = to_elsewhere.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/Media/elsewhere", "/cdn/away"]);
    for request in &to_elsewhere {
        assert_eq!(request.header("Authorization"), None, "credentials leaked to {}", request.path);
    }
}

#[test]
fn whatsapp_media_ids_are_checked_before_they_touch_a_url() {
    let graph = FakeServer::start_with(|_| Reply::json(&json!({"error": "should not be asked"})));
    let base = format!("{}/v22.0", graph.url);
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_META_APP_SECRET", crate::meta::APP_SECRET),
        ("SWITCHBOARD_GRAPH_API_BASE", &base),
        ("SWITCHBOARD_WHATSAPP_TOKEN", "e2e_whatsapp_token"),
    ]);
    let service = crate::meta::flow(&daemon, "whatsapp", crate::meta::PHONE_NUMBER_ID);
    let image = json!({"id": "../../../admin/evil?x=1#", "mime_type": "image/jpeg"});
    let body = crate::meta::whatsapp(vec![crate::meta::message("wamid.E1", "image", image)]);
    let answer = crate::meta::post(&daemon, "/webhooks/whatsapp", &body, None);
    assert_eq!(answer.status, 200, "the message is kept: {}", answer.body);
    let messages = settled(&daemon, &service, 1);
    assert_eq!(messages[0]["media"]["status"], "failed", "{messages:?}");
    let why = messages[0]["media"]["error"].as_str().unwrap();
    assert!(why.contains("not a valid WhatsApp media id"), "{why}");
    assert!(graph.requests().is_empty(), "the Graph API was asked: {:?}", graph.requests());
}
