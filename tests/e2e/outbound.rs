//! Agent replies to WhatsApp Cloud and Messenger customers through Meta's Graph API (a fake on
//! 127.0.0.1), with each number's and page's own token; and the providers' status reports
//! (WhatsApp `statuses`, Messenger receipts and watermarks, Twilio's StatusCallback) moving the
//! delivery status of each reply.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::inbound::wait_for;
use crate::meta::{flow, message, post, whatsapp, APP_SECRET, PAGE_ID, PHONE_NUMBER_ID};
use crate::support::api::{
    basic, daemon_command, get_bytes, post_bytes, twilio_signature, Response, ACCOUNT_SID,
    AUTH_TOKEN,
};
use crate::support::fake::{FakeServer, Reply};
use crate::support::Daemon;

/// The customer's WhatsApp id in `meta::whatsapp` bodies, and a Messenger customer.
const WA_ID: &str = "447700900123";
const PSID: &str = "5551234567";
/// A second number of ours, on another Twilio account.
const OTHER_NUMBER: &str = "+15005550009";
const OTHER_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const OTHER_TOKEN: &str = "other_account_token";

/// A daemon whose Graph API and Twilio API are `fake`, with a token for our WhatsApp number and
/// page in the configuration file, and a default token for any other number.
fn start(data: &Path, fake: &FakeServer) -> Daemon {
    let config = data.with_file_name("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[whatsapp_numbers]]
phone_number_id = "{PHONE_NUMBER_ID}"
access_token = "wa-token-for-our-number"

[[messenger_pages]]
page_id = "{PAGE_ID}"
access_token = "page-token"

[[twilio_numbers]]
number = "{OTHER_NUMBER}"
account_sid = "{OTHER_ACCOUNT}"
auth_token = "{OTHER_TOKEN}"
"#
        ),
    )
    .unwrap();
    let mut command = daemon_command(data);
    command
        .env("SWITCHBOARD_CONFIG", &config)
        .env("SWITCHBOARD_GRAPH_API_BASE", format!("{}/v22.0", fake.url))
        .env("SWITCHBOARD_TWILIO_API_BASE", &fake.url)
        .env("SWITCHBOARD_WHATSAPP_TOKEN", "wa-default-token")
        .env("SWITCHBOARD_META_APP_SECRET", APP_SECRET)
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

/// Twilio's and Meta's APIs: each answers with the id it gave the message, numbered in the order
/// messages were accepted (failures planned with `fail_next` take no number).
fn providers() -> FakeServer {
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    FakeServer::start_with(move |request| {
        let n = accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::json(&if request.path.ends_with("/Messages.json") {
            json!({"sid": format!("SM{n:032}"), "status": "queued"})
        } else if request.path.contains(PAGE_ID) {
            json!({"recipient_id": PSID, "message_id": format!("m_{n}")})
        } else {
            json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.R{n}")}]})
        })
    })
}

fn reply(daemon: &Daemon, service: &str, channel: &str, body: &str) {
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let posted = daemon.post(&path, &[("From", "agent.alice"), ("Body", body)]);
    assert_eq!(posted.status, 201, "{}", posted.body);
}

fn message_by_body(daemon: &Daemon, service: &str, channel: &str, body: &str) -> Value {
    daemon.messages(service, channel).into_iter().find(|m| m["body"] == body).unwrap()
}

fn wait_status(daemon: &Daemon, service: &str, channel: &str, body: &str, status: &str) -> bool {
    wait_for(Duration::from_secs(10), || {
        message_by_body(daemon, service, channel, body)["delivery_status"] == status
    })
}

/// A WhatsApp customer's first message, so a channel exists; returns (service, channel).
fn whatsapp_channel(daemon: &Daemon) -> (String, String) {
    let service = flow(daemon, "whatsapp", PHONE_NUMBER_ID);
    let first = whatsapp(vec![message("wamid.IN1", "text", json!({"body": "hi"}))]);
    assert_eq!(post(daemon, "/webhooks/whatsapp", &first, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    (service, channel)
}

fn whatsapp_statuses(statuses: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": statuses,
    }}]}]})
}

fn status(id: &str, word: &str) -> Value {
    json!({"id": id, "status": word, "timestamp": "1700000100", "recipient_id": WA_ID})
}

#[test]
fn whatsapp_cloud_replies_go_out_with_the_numbers_token_and_statuses_move_them() {
    let temp = tempfile::tempdir().unwrap();
    let graph = providers();
    let daemon = start(&temp.path().join("data"), &graph);
    let (service, channel) = whatsapp_channel(&daemon);
    reply(&daemon, &service, &channel, "How can I help?");
    reply(&daemon, &service, &channel, "Your order ships today");
    assert!(wait_status(&daemon, &service, &channel, "Your order ships today", "sent"));
    let requests = graph.requests();
    assert_eq!(requests.len(), 2, "the customer's own message is not sent back");
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, format!("/v22.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(first.header("Authorization"), Some("Bearer wa-token-for-our-number"));
    assert_eq!(
        first.json(),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
               "to": format!("+{WA_ID}"), "type": "text",
               "text": {"preview_url": false, "body": "How can I help?"}})
    );
    assert_eq!(requests[1].json()["text"]["body"], "Your order ships today");

    // Meta reports by the id it answered with: wamid.R0 for the first reply, wamid.R1 next.
    let report =
        whatsapp_statuses(vec![status("wamid.R0", "delivered"), status("wamid.R1", "read")]);
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &report, None).status, 200);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "How can I help?")["delivery_status"],
        "delivered"
    );
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "Your order ships today")["delivery_status"],
        "read"
    );
    // Late and repeated reports never move a status back.
    let late = whatsapp_statuses(vec![status("wamid.R1", "delivered"), status("wamid.R1", "sent")]);
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &late, None).status, 200);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "Your order ships today")["delivery_status"],
        "read"
    );
    // A failure names Meta's error; a status for a message that is not ours is accepted.
    reply(&daemon, &service, &channel, "Outside the window");
    assert!(wait_status(&daemon, &service, &channel, "Outside the window", "sent"));
    let mut failed = status("wamid.R2", "failed");
    failed["errors"] = json!([{"code": 131047, "title": "Re-engagement message"}]);
    let report = whatsapp_statuses(vec![failed, status("wamid.NOT-OURS", "delivered")]);
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &report, None).status, 200);
    let message = message_by_body(&daemon, &service, &channel, "Outside the window");
    assert_eq!(message["delivery_status"], "failed");
    assert_eq!(message["delivery_error"]["code"], "131047");
    assert_eq!(message["delivery_error"]["message"], "Re-engagement message");
    // A forged status report changes nothing.
    let forged = whatsapp_statuses(vec![status("wamid.R0", "read")]);
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &forged, Some("sha256=00")).status, 403);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "How can I help?")["delivery_status"],
        "delivered"
    );
}

#[test]
fn a_number_without_its_own_token_uses_the_default_and_a_missing_token_fails_clearly() {
    let temp = tempfile::tempdir().unwrap();
    let graph = providers();
    let daemon = start(&temp.path().join("data"), &graph);
    let service = flow(&daemon, "whatsapp", "200000000000001");
    let mut body = whatsapp(vec![message("wamid.IN9", "text", json!({"body": "hi"}))]);
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] =
        json!("200000000000001");
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &body, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    reply(&daemon, &service, &channel, "from the default token");
    assert!(wait_status(&daemon, &service, &channel, "from the default token", "sent"));
    assert_eq!(graph.requests()[0].path, "/v22.0/200000000000001/messages");
    assert_eq!(graph.requests()[0].header("Authorization"), Some("Bearer wa-default-token"));

    // A page with no token anywhere: the reply fails, saying what is missing.
    let service = flow(&daemon, "facebook", "777");
    let inbound = json!({"object": "page", "entry": [{"id": "777", "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": "777"}, "message": {"mid": "mid.IN7", "text": "hi"}}]}]});
    assert_eq!(post(&daemon, "/webhooks/messenger", &inbound, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    reply(&daemon, &service, &channel, "nobody can send this");
    assert!(wait_status(&daemon, &service, &channel, "nobody can send this", "failed"));
    let failed = message_by_body(&daemon, &service, &channel, "nobody can send this");
    assert_eq!(failed["delivery_error"]["code"], "configuration");
    assert!(failed["delivery_error"]["message"].as_str().unwrap().contains("777"));
    assert_eq!(graph.requests().len(), 1, "nothing was sent for the page");
}

fn messenger(events: Vec<Value>) -> Value {
    json!({"object": "page", "entry": [{"id": PAGE_ID, "time": 1458668856451u64, "messaging": events}]})
}

#[test]
fn messenger_replies_go_out_with_the_page_token_and_receipts_move_them() {
    let temp = tempfile::tempdir().unwrap();
    let graph = providers();
    let daemon = start(&temp.path().join("data"), &graph);
    let service = flow(&daemon, "facebook", PAGE_ID);
    let first = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "timestamp": 1458668856463u64, "message": {"mid": "mid.IN1", "text": "hello"}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &first, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    for body in ["one", "two", "three"] {
        reply(&daemon, &service, &channel, body);
    }
    assert!(wait_status(&daemon, &service, &channel, "three", "sent"));
    let requests = graph.requests();
    let texts: Vec<_> = requests.iter().map(|r| r.json()["message"]["text"].clone()).collect();
    assert_eq!(texts, ["one", "two", "three"], "in order, the customer's message not sent back");
    assert_eq!(requests[0].path, format!("/v22.0/{PAGE_ID}/messages"));
    assert_eq!(requests[0].header("Authorization"), Some("Bearer page-token"));
    assert_eq!(requests[0].json()["recipient"], json!({"id": PSID}));
    assert_eq!(requests[0].json()["messaging_type"], "RESPONSE");

    // A delivery receipt names the first message (m_0); a read watermark of now covers all.
    let delivered = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "delivery": {"mids": ["m_0"], "watermark": 1}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &delivered, None).status, 200);
    assert_eq!(message_by_body(&daemon, &service, &channel, "one")["delivery_status"], "delivered");
    assert_eq!(message_by_body(&daemon, &service, &channel, "two")["delivery_status"], "sent");
    let before_any = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "read": {"watermark": 1_000}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &before_any, None).status, 200);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "two")["delivery_status"],
        "sent",
        "a watermark from before the sends covers none of them"
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let read = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "read": {"watermark": now.as_millis() as u64}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &read, None).status, 200);
    for body in ["one", "two", "three"] {
        assert_eq!(message_by_body(&daemon, &service, &channel, body)["delivery_status"], "read");
    }
    assert_eq!(daemon.messages(&service, &channel).len(), 4, "receipts are not messages");
}

#[test]
fn meta_outages_and_a_restart_deliver_every_pending_reply_once_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let graph = providers();
    let daemon = start(&data, &graph);
    let (wa_service, wa) = whatsapp_channel(&daemon);
    let fb_service = flow(&daemon, "facebook", PAGE_ID);
    let first = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "message": {"mid": "mid.IN3", "text": "hello"}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &first, None).status, 200);
    let fb = daemon.channels(&fb_service)[0]["sid"].as_str().unwrap().to_owned();
    graph.fail_next(&[503; 200]);
    for body in ["first", "second", "third"] {
        reply(&daemon, &wa_service, &wa, &format!("wa {body}"));
        reply(&daemon, &fb_service, &fb, &format!("fb {body}"));
    }
    assert!(wait_for(Duration::from_secs(5), || graph.requests().len() >= 2));
    assert_eq!(daemon.terminate().0, 0);
    // Recovered while the daemon was down.
    graph.statuses.lock().unwrap().clear();
    let failed_tries = graph.requests().len();
    let daemon = start(&data, &graph);
    assert!(wait_status(&daemon, &wa_service, &wa, "wa third", "sent"));
    assert!(wait_status(&daemon, &fb_service, &fb, "fb third", "sent"));
    std::thread::sleep(Duration::from_millis(500));
    let delivered: Vec<String> = graph.requests()[failed_tries..]
        .iter()
        .map(|r| {
            let sent = r.json();
            let text = if sent["text"].is_object() {
                &sent["text"]["body"]
            } else {
                &sent["message"]["text"]
            };
            text.as_str().unwrap().to_owned()
        })
        .collect();
    for provider in ["wa", "fb"] {
        let own: Vec<&str> =
            delivered.iter().map(String::as_str).filter(|b| b.starts_with(provider)).collect();
        let expected: Vec<String> =
            ["first", "second", "third"].iter().map(|b| format!("{provider} {b}")).collect();
        assert_eq!(own, expected, "each once, in order");
    }
    for body in ["wa first", "wa second"] {
        assert_eq!(message_by_body(&daemon, &wa_service, &wa, body)["delivery_status"], "sent");
    }
    assert_eq!(message_by_body(&daemon, &fb_service, &fb, "fb first")["delivery_status"], "sent");
}

/// Posts a Twilio status callback, signed with `token` over the daemon's status URL.
fn twilio_status(daemon: &Daemon, token: &str, params: &[(&str, &str)]) -> Response {
    let url = daemon.url("/webhooks/twilio/status");
    let signature = twilio_signature(token, &url, params);
    match ureq::post(&url).set("X-Twilio-Signature", &signature).send_form(params) {
        Ok(r) => Response { status: r.status(), body: r.into_string().unwrap() },
        Err(ureq::Error::Status(status, r)) => Response { status, body: r.into_string().unwrap() },
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn twilio_status_callbacks_move_sms_replies_and_each_number_uses_its_account() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = providers();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+14155550901", "hi", "SM00000000000000000000000000000901").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    reply(&daemon, &service, &channel, "on its way");
    assert!(wait_status(&daemon, &service, &channel, "on its way", "sent"));
    let sent = &twilio.requests()[0];
    assert_eq!(
        sent.param("StatusCallback"),
        Some(daemon.url("/webhooks/twilio/status")),
        "Twilio is told where to report"
    );
    let sid = format!("SM{:032}", 0);
    let delivered =
        [("MessageSid", sid.as_str()), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT_SID)];
    // A forged report changes nothing.
    assert_eq!(twilio_status(&daemon, "wrong", &delivered).status, 403);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "on its way")["delivery_status"],
        "sent"
    );
    assert_eq!(twilio_status(&daemon, AUTH_TOKEN, &delivered).status, 200);
    assert_eq!(
        message_by_body(&daemon, &service, &channel, "on its way")["delivery_status"],
        "delivered"
    );

    reply(&daemon, &service, &channel, "to a dead phone");
    assert!(wait_status(&daemon, &service, &channel, "to a dead phone", "sent"));
    let sid = format!("SM{:032}", 1);
    let undelivered =
        [("MessageSid", sid.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")];
    assert_eq!(twilio_status(&daemon, AUTH_TOKEN, &undelivered).status, 200);
    let message = message_by_body(&daemon, &service, &channel, "to a dead phone");
    assert_eq!(message["delivery_status"], "undelivered");
    assert_eq!(message["delivery_error"]["code"], "30003");
    let bad = [("MessageSid", sid.as_str()), ("MessageStatus", "exploded")];
    assert_eq!(twilio_status(&daemon, AUTH_TOKEN, &bad).status, 400);

    // A number of another Twilio account: its webhooks are signed, and its replies sent, with
    // that account's credentials.
    let other = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "Other"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", OTHER_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
    );
    assert_eq!(other.status, 201, "{}", other.body);
    let params = [
        ("AccountSid", OTHER_ACCOUNT),
        ("From", "+14155550902"),
        ("To", OTHER_NUMBER),
        ("Body", "hello other"),
        ("MessageSid", "SM00000000000000000000000000000902"),
    ];
    let url = daemon.url("/webhooks/twilio");
    assert_eq!(
        daemon.twilio_webhook(&params, Some(&twilio_signature(AUTH_TOKEN, &url, &params))).status,
        403,
        "signed with the wrong account's token"
    );
    assert_eq!(
        daemon.twilio_webhook(&params, Some(&twilio_signature(OTHER_TOKEN, &url, &params))).status,
        200
    );
    let channel =
        daemon.channels(&service).into_iter().find(|c| c["sid"] != channel.as_str()).unwrap()
            ["sid"]
            .as_str()
            .unwrap()
            .to_owned();
    reply(&daemon, &service, &channel, "from the other number");
    assert!(wait_status(&daemon, &service, &channel, "from the other number", "sent"));
    let sent = twilio.requests().into_iter().last().unwrap();
    assert_eq!(sent.path, format!("/2010-04-01/Accounts/{OTHER_ACCOUNT}/Messages.json"));
    assert_eq!(sent.param("From").as_deref(), Some(OTHER_NUMBER));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{OTHER_ACCOUNT}:{OTHER_TOKEN}"))
    );
    assert_eq!(sent.header("Authorization"), Some(basic.as_str()));
}

/// Uploads `bytes` to the channel and posts them as an agent's reply with `body`.
fn media_reply(
    daemon: &Daemon,
    service: &str,
    channel: &str,
    kind: &str,
    bytes: &[u8],
    body: &str,
) {
    let url = daemon
        .url(&format!("/chat/v2/Services/{service}/Media?ChannelSid={channel}&Filename=receipt"));
    let uploaded = post_bytes(&url, kind, bytes, Some(&basic()));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let media_sid = uploaded.json()["sid"].as_str().unwrap().to_owned();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let form = [("From", "agent.alice"), ("Body", body), ("MediaSid", media_sid.as_str())];
    let posted = daemon.post(&path, &form);
    assert_eq!(posted.status, 201, "{}", posted.body);
}

/// The bytes behind a link a provider was given, fetched as the provider would: no credentials.
fn fetched_as_a_provider(url: &str) -> Vec<u8> {
    let fetched = get_bytes(url, None);
    assert_eq!(fetched.status, 200, "{url}");
    fetched.body
}

#[test]
fn media_replies_reach_every_provider_as_links_they_can_fetch() {
    let temp = tempfile::tempdir().unwrap();
    let fake = providers();
    let daemon = start(&temp.path().join("data"), &fake);
    let picture: Vec<u8> = (0..5_000u32).map(|n| (n * 7 % 251) as u8).collect();

    // SMS: MMS with MediaUrl beside the body.
    let (sms_service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms("+14155550931", "hi", "SM00000000000000000000000000000931").status, 200);
    let sms = daemon.channels(&sms_service)[0]["sid"].as_str().unwrap().to_owned();
    media_reply(&daemon, &sms_service, &sms, "image/png", &picture, "your receipt");
    assert!(wait_status(&daemon, &sms_service, &sms, "your receipt", "sent"));
    let mms = fake.requests().into_iter().last().unwrap();
    assert_eq!(mms.param("Body").as_deref(), Some("your receipt"));
    assert_eq!(fetched_as_a_provider(&mms.param("MediaUrl").unwrap()), picture);

    // WhatsApp Cloud: an image with the body as its caption, in one message.
    let (wa_service, wa) = whatsapp_channel(&daemon);
    media_reply(&daemon, &wa_service, &wa, "image/png", &picture, "the photo");
    assert!(wait_status(&daemon, &wa_service, &wa, "the photo", "sent"));
    let sent = fake.requests().into_iter().last().unwrap().json();
    assert_eq!(sent["type"], "image");
    assert_eq!(sent["image"]["caption"], "the photo");
    assert_eq!(fetched_as_a_provider(sent["image"]["link"].as_str().unwrap()), picture);

    // Messenger: the text, then the attachment (Messenger's attachments carry no text).
    let service = flow(&daemon, "facebook", PAGE_ID);
    let first = messenger(vec![json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
        "message": {"mid": "mid.IN2", "text": "hello"}})]);
    assert_eq!(post(&daemon, "/webhooks/messenger", &first, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let before = fake.requests().len();
    media_reply(&daemon, &service, &channel, "application/pdf", b"%PDF-1.4 fake", "the invoice");
    assert!(wait_status(&daemon, &service, &channel, "the invoice", "sent"));
    let sends: Vec<Value> = fake.requests()[before..].iter().map(|r| r.json()).collect();
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!(sends[0]["message"], json!({"text": "the invoice"}));
    let attachment = &sends[1]["message"]["attachment"];
    assert_eq!(attachment["type"], "file");
    assert_eq!(
        fetched_as_a_provider(attachment["payload"]["url"].as_str().unwrap()),
        b"%PDF-1.4 fake"
    );
    // A link that was tampered with gives nothing.
    let link = attachment["payload"]["url"].as_str().unwrap();
    let forged = link.replace("signature=", "signature=00");
    assert_ne!(get_bytes(&forged, None).status, 200);
}
