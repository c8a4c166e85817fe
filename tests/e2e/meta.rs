//! WhatsApp Cloud API and Messenger webhooks through the real daemon: the verification
//! handshake, signatures over the raw body, every WhatsApp message type, echoes skipped,
//! redelivery deduplicated.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::support::api::{daemon_command, Response};
use crate::support::Daemon;

pub(crate) const APP_SECRET: &str = "e2e_meta_app_secret";
pub(crate) const VERIFY_TOKEN: &str = "e2e_verify_token";
pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";
pub(crate) const PAGE_ID: &str = "1234567890";

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_META_APP_SECRET", APP_SECRET)
        .env("SWITCHBOARD_META_VERIFY_TOKEN", VERIFY_TOKEN);
    (temp, Daemon::start(command))
}

/// `sha256=<hex HMAC-SHA256(app secret, body)>`, written here from Meta's description.
pub(crate) fn sign(body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub(crate) fn post(daemon: &Daemon, path: &str, body: &Value, signature: Option<&str>) -> Response {
    let bytes = body.to_string().into_bytes();
    let signed = sign(&bytes);
    let result = ureq::post(&daemon.url(path))
        .set("Content-Type", "application/json")
        .set("X-Hub-Signature-256", signature.unwrap_or(&signed))
        .send_bytes(&bytes);
    match result {
        Ok(r) => Response { status: r.status(), body: r.into_string().unwrap() },
        Err(ureq::Error::Status(status, r)) => Response { status, body: r.into_string().unwrap() },
        Err(e) => panic!("{e}"),
    }
}

pub(crate) fn flow(daemon: &Daemon, channel_type: &str, identity: &str) -> String {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", channel_type)]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", channel_type),
            ("ChatServiceSid", &service),
            ("ChannelType", channel_type),
            ("ContactIdentity", identity),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    service
}

pub(crate) fn whatsapp(messages: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447700900123"}],
        "messages": messages,
    }}]}]})
}

pub(crate) fn message(id: &str, kind: &str, object: Value) -> Value {
    json!({"from": "447700900123", "id": id, "timestamp": "1700000000", "type": kind, kind: object})
}

#[test]
fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let (_temp, daemon) = started();
    for path in ["/webhooks/whatsapp", "/webhooks/messenger"] {
        let ok = ureq::get(&daemon.url(&format!(
            "{path}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        )))
        .call()
        .unwrap();
        assert_eq!(ok.into_string().unwrap(), "1158201444");
        let wrong = ureq::get(
            &daemon
                .url(&format!("{path}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")),
        )
        .call();
        assert!(matches!(wrong, Err(ureq::Error::Status(403, _))));
    }
}

#[test]
fn every_whatsapp_message_type_lands_as_a_message() {
    let (_temp, daemon) = started();
    let service = flow(&daemon, "whatsapp", PHONE_NUMBER_ID);
    let body = whatsapp(vec![
        message("wamid.1", "text", json!({"body": "Hola"})),
        message(
            "wamid.2",
            "image",
            json!({"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x", "caption": "my receipt"}),
        ),
        message(
            "wamid.3",
            "document",
            json!({"id": "MEDIA2", "mime_type": "application/pdf", "filename": "invoice.pdf"}),
        ),
        message(
            "wamid.4",
            "location",
            json!({"latitude": 51.5, "longitude": -0.12, "name": "Office"}),
        ),
        message("wamid.5", "contacts", json!([{"name": {"formatted_name": "Bob B"}}])),
        message(
            "wamid.6",
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}),
        ),
        message("wamid.7", "button", json!({"payload": "P1", "text": "Track order"})),
        message("wamid.8", "reaction", json!({"message_id": "wamid.1", "emoji": "👍"})),
        message("wamid.9", "ephemeral", json!({"anything": true})),
    ]);
    let answer = post(&daemon, "/webhooks/whatsapp", &body, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1);
    let attributes: Value =
        serde_json::from_str(channels[0]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(
        attributes["from"], "whatsapp:+447700900123",
        "the same address form as WhatsApp over Twilio"
    );
    let messages = daemon.messages(&service, channels[0]["sid"].as_str().unwrap());
    let bodies: Vec<&str> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        [
            "Hola",
            "my receipt",
            "",
            "Location 51.5,-0.12 (Office)",
            "Contacts: Bob B",
            "Yes please",
            "Track order",
            "👍",
            "[ephemeral message]"
        ]
    );
    assert_eq!(messages[1]["type"], "media");
    assert_eq!(messages[1]["media"]["content_type"], "image/jpeg");
    assert_eq!(messages[2]["media"]["filename"], "invoice.pdf");
    let kept: Value = serde_json::from_str(messages[8]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(
        kept["whatsapp"]["ephemeral"]["anything"], true,
        "unknown types keep their raw payload"
    );
    let reaction: Value =
        serde_json::from_str(messages[7]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(reaction["whatsapp"]["reaction"]["message_id"], "wamid.1");
    assert_eq!(messages[0]["from"], "whatsapp:+447700900123");

    // A redelivery of the whole batch adds nothing.
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &body, None).status, 200);
    assert_eq!(daemon.messages(&service, channels[0]["sid"].as_str().unwrap()).len(), 9);
}

#[test]
fn a_bad_meta_signature_is_refused_and_nothing_is_stored() {
    let (_temp, daemon) = started();
    let service = flow(&daemon, "whatsapp", PHONE_NUMBER_ID);
    let body = whatsapp(vec![message("wamid.x", "text", json!({"body": "forged"}))]);
    let forged = post(&daemon, "/webhooks/whatsapp", &body, Some("sha256=00"));
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["code"], 20403);
    let missing =
        ureq::post(&daemon.url("/webhooks/whatsapp")).send_bytes(body.to_string().as_bytes());
    assert!(matches!(missing, Err(ureq::Error::Status(403, _))));
    assert!(daemon.channels(&service).is_empty());
    let not_json = b"{not json";
    let answer = ureq::post(&daemon.url("/webhooks/whatsapp"))
        .set("X-Hub-Signature-256", &sign(not_json))
        .send_bytes(not_json);
    assert!(
        matches!(answer, Err(ureq::Error::Status(400, _))),
        "signed but malformed: a clear 400"
    );
}

#[test]
fn messenger_messages_land_and_echoes_are_skipped() {
    let (_temp, daemon) = started();
    let service = flow(&daemon, "facebook", PAGE_ID);
    let body = json!({"object": "page", "entry": [{"id": PAGE_ID, "time": 1458668856451u64, "messaging": [
        {"sender": {"id": "5551234567"}, "recipient": {"id": PAGE_ID}, "timestamp": 1458668856463u64,
         "message": {"mid": "mid.1", "text": "hello from messenger"}},
        {"sender": {"id": PAGE_ID}, "recipient": {"id": "5551234567"}, "timestamp": 1458668856464u64,
         "message": {"mid": "mid.2", "text": "our own reply", "is_echo": true}},
        {"sender": {"id": "5551234567"}, "recipient": {"id": PAGE_ID}, "timestamp": 1458668856465u64,
         "message": {"mid": "mid.3", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}]}},
        {"sender": {"id": "5551234567"}, "recipient": {"id": PAGE_ID}, "delivery": {"mids": ["mid.2"], "watermark": 1458668856253u64}},
    ]}]});
    let answer = post(&daemon, "/webhooks/messenger", &body, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1);
    let messages = daemon.messages(&service, channels[0]["sid"].as_str().unwrap());
    assert_eq!(messages.len(), 2, "the echo and the delivery receipt are not messages");
    assert_eq!(messages[0]["body"], "hello from messenger");
    assert_eq!(messages[0]["from"], "messenger:5551234567");
    assert_eq!(messages[1]["media"]["content_type"], "image/*");
    // Meta redelivers: nothing is stored twice.
    assert_eq!(post(&daemon, "/webhooks/messenger", &body, None).status, 200);
    assert_eq!(daemon.messages(&service, channels[0]["sid"].as_str().unwrap()).len(), 2);
    assert_eq!(daemon.channels(&service).len(), 1);
    let unknown_page = json!({"object": "page", "entry": [{"id": "999", "messaging": [
        {"sender": {"id": "1"}, "recipient": {"id": "999"}, "message": {"mid": "mid.9", "text": "hi"}}]}]});
    let answer = post(&daemon, "/webhooks/messenger", &unknown_page, None);
    assert_eq!(answer.status, 404, "no flow: Meta will retry until one exists");
}

#[test]
fn bad_meta_input_gets_a_clear_4xx_and_stores_nothing() {
    let (_temp, daemon) = started();
    let service = flow(&daemon, "whatsapp", PHONE_NUMBER_ID);
    // One bad sender in a batch refuses the whole batch: a retry cannot half-succeed.
    let mut bad_sender = message("wamid.b2", "text", json!({"body": "from nobody"}));
    bad_sender["from"] = json!("not a number");
    let batch = whatsapp(vec![message("wamid.b1", "text", json!({"body": "fine"})), bad_sender]);
    let answer = post(&daemon, "/webhooks/whatsapp", &batch, None);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.json()["code"], 20001);
    assert!(answer.json()["message"].as_str().unwrap().contains("not a number"));
    // Without an id a redelivery could not be recognised.
    let mut no_id = message("x", "text", json!({"body": "no id"}));
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &whatsapp(vec![no_id]), None).status, 400);
    // Another product's notification, and a body over the limit.
    let other = json!({"object": "instagram", "entry": []});
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &other, None).status, 400);
    let huge =
        whatsapp(vec![message("wamid.big", "text", json!({"body": "x".repeat(300 * 1024)}))]);
    let answer = post(&daemon, "/webhooks/whatsapp", &huge, None);
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.json()["status"], 413);
    assert!(daemon.channels(&service).is_empty(), "nothing was stored");
    // The same batch, corrected, is stored whole.
    let fixed = whatsapp(vec![
        message("wamid.b1", "text", json!({"body": "fine"})),
        message("wamid.b2", "text", json!({"body": "also fine"})),
    ]);
    assert_eq!(post(&daemon, "/webhooks/whatsapp", &fixed, None).status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    assert_eq!(daemon.messages(&service, &channel).len(), 2);
}
