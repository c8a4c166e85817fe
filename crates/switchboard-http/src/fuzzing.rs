//! Entry points for the fuzz targets (`fuzz/`, run with `cargo fuzz`) and for the test that
//! replays their corpora: each runs, on arbitrary bytes, one parser a stranger's request reaches,
//! the way the server runs it, stopping before anything would be stored. None may panic.
//!
//! Inputs that carry a signature or a header beside a body are split by their first byte: that
//! many bytes (modulo the input's length) are the header, the rest the body.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::state::Secret;
use crate::twilio::{form::TwilioForm, paging, signature, time, token};

const URL: &str = "https://switchboard.example/webhooks/twilio";
const SECRET: &str = "fuzzing-secret";
const ACCOUNT: &str = "AC00000000000000000000000000000000";

/// `(header, body)` of an input, split by its first byte.
fn split(data: &[u8]) -> (&str, &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return ("", &[]) };
    let at = usize::from(first) % (rest.len() + 1);
    let (header, body) = rest.split_at(at);
    (std::str::from_utf8(header).unwrap_or_default(), body)
}

/// A Twilio webhook: the signature over the form, then the inbound message and the status
/// callback read from its parameters (signed or not, so the readers are reached), and the REST
/// form reader with its typed getters.
pub fn twilio_webhook(data: &[u8]) {
    let (header, body) = split(data);
    let secret = Secret::new(SECRET);
    let signed = crate::webhooks::signed_params(body, URL, header, |_| &secret);
    let params = signed.unwrap_or_else(|| TwilioForm::parse(body));
    let _ = crate::webhooks::read_inbound(&params);
    let _ = crate::webhooks::read_status(&params);
    let _ = signature::validate_json(SECRET, URL, body, header);
    let form = TwilioForm::parse(body);
    for (name, _) in form.pairs().iter().take(8) {
        let _ = (form.get_bool(name), form.get_u64(name), form.get_i64(name));
        let _ = form.get_sid(name, switchboard_domain::SidPrefix::CHANNEL);
    }
}

/// A Meta webhook: `X-Hub-Signature-256` over the body, then the body as WhatsApp's and as
/// Messenger's notification, each message checked as before storing.
pub fn meta_webhook(data: &[u8]) {
    let (header, body) = split(data);
    let _ = signature::validate_meta(SECRET, body, header);
    let Ok(json) = serde_json::from_slice::<crate::meta::MetaWebhook>(body) else { return };
    if let Ok((messages, _)) = crate::meta::read_whatsapp(&json) {
        let _ = crate::meta::check_all(messages);
    }
    if let Ok((messages, _)) = crate::meta::read_messenger(&json) {
        let _ = crate::meta::check_all(messages);
    }
}

/// An access token: the input as a whole token, and as the claims of a token signed with the
/// right key (so the claims' reader is reached past the signature).
pub fn access_token(data: &[u8]) {
    let secret = |_: &str| Some(SECRET.to_owned());
    let _ = token::verify(&String::from_utf8_lossy(data), secret, ACCOUNT, 1_700_000_000);
    let message =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(token::HEADER_JSON), URL_SAFE_NO_PAD.encode(data));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let Ok(signature) =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
    else {
        return;
    };
    let _ = token::verify(&format!("{message}.{signature}"), secret, ACCOUNT, 1_700_000_000);
}

/// A client's bytes on a WebSocket: read off the wire as the socket reads them (headers, masks,
/// the frame limit, text that must be UTF-8), each text frame then read as a client frame; and
/// the whole input as one text frame.
pub fn ws_frame(data: &[u8]) {
    for message in crate::ws::messages_in(data, 1024) {
        if let actix_http::ws::Message::Text(text) = message {
            let _ = crate::ws::is_client_frame(&text);
        }
    }
    let _ = crate::ws::is_client_frame(&String::from_utf8_lossy(data));
}

/// A media upload's headers: its `Content-Type` (essence, allowed or not) and the filename that
/// goes back out in `Content-Disposition`.
pub fn media_headers(data: &[u8]) {
    let (content_type, filename) = split(data);
    let filename = String::from_utf8_lossy(filename);
    let config = switchboard_actors::media::MediaConfig::default();
    let _ = config.allows(content_type);
    let essence = switchboard_actors::media::essence(content_type);
    let _ = crate::media::disposition(&essence, Some(&filename));
}

/// A list's query: page tokens, page requests and ISO 8601 bounds.
pub fn list_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = paging::PageToken::decode(&text);
    let _ = paging::PageRequest::parse("/chat/v2/Services", &text, 1000);
    let _ = time::parse_iso8601("DateCreatedAfter", &text);
}

/// What admins send as text that the server compiles: TaskRouter expressions (evaluated against
/// a worker and a task), workflow configurations, Studio flow definitions and Liquid templates
/// (rendered against a small context).
pub fn definitions(data: &[u8]) {
    use switchboard_routing::expression::{Expression, Operands, SortKey};
    let text = String::from_utf8_lossy(data);
    let document = serde_json::json!({"skills": ["en", "billing"], "level": 3, "name": "ada"});
    if let Ok(expression) = Expression::parse(&text) {
        let _ = expression.evaluate(&Operands::bare_worker(&document, Some(&document)));
        let _ = expression.evaluate(&Operands::bare_task(&document));
    }
    let _ = SortKey::parse_list(&text);
    let _ = switchboard_routing::workflow::WorkflowConfiguration::parse(&text);
    let _ = switchboard_studio::validate_json(&text);
    if let Ok(template) = switchboard_studio::Template::parse(&text) {
        let _ = template.render(&serde_json::json!({"trigger": {"message": document}}));
    }
}
