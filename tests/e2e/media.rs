//! Media through the real daemon: inbound MMS media fetched from Twilio's media URL with the
//! account's Basic credentials (on Twilio's configured API origin only), WhatsApp Cloud media through the Graph API, limits recorded on
//! the message, a failing fetch resumed after a restart and stored once, uploads attached with
//! `MediaSid`, signed public links, and media of a shredded channel gone; uploads with an access
//! token and media messages over the WebSocket, from an agent (out to an SMS customer) and from a
//! web chat's customer.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use switchboard_domain::Sid;

use crate::support::api::{
    basic, daemon_command, frames, get_bytes, post_bytes, token, token_for_service, ws_call,
    ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER,
};
use crate::support::fake::{FakeServer, Reply};
use crate::support::{run, switchboard, Daemon};

const CUSTOMER: &str = "+14155550111";
const WHATSAPP_TOKEN: &str = "e2e_whatsapp_token";

/// Bytes no text encoding would leave alone, over several 64 KiB chunks.
fn picture(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn twilio_basic() -> String {
    format!("Basic {}", BASE64.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
}

/// A fake Twilio media host: `/Media/<name>` needs the account's Basic credentials and
/// redirects to `/cdn/<name>`, which serves `files` (name → content type, bytes).
fn twilio_media(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> FakeServer {
    FakeServer::start_with(move |request| {
        if let Some(name) = request.path.strip_prefix("/Media/") {
            if request.header("Authorization") != Some(twilio_basic().as_str()) {
                return Reply::status(401);
            }
            return Reply::redirect(&format!("/cdn/{name}"));
        }
        let name = request.path.strip_prefix("/cdn/").unwrap_or_default();
        match files.iter().find(|(n, _, _)| *n == name) {
            Some((_, content_type, bytes)) => Reply::content(content_type, bytes),
            None => Reply::status(404),
        }
    })
}

fn started(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_in(&temp.path().join("data"), extra);
    (temp, daemon)
}

fn start_in(data: &std::path::Path, extra: &[(&str, &str)]) -> Daemon {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    Daemon::start(command)
}

/// Posts an MMS whose media are at `urls` (URL, content type), signed as Twilio does.
fn mms(daemon: &Daemon, message_sid: &str, urls: &[(String, &str)]) {
    let count = urls.len().to_string();
    let mut params: Vec<(String, String)> = vec![
        ("From".into(), CUSTOMER.into()),
        ("To".into(), OUR_NUMBER.into()),
        ("Body".into(), String::new()),
        ("MessageSid".into(), message_sid.into()),
        ("NumMedia".into(), count),
    ];
    for (n, (url, content_type)) in urls.iter().enumerate() {
        params.push((format!("MediaUrl{n}"), url.clone()));
        params.push((format!("MediaContentType{n}"), (*content_type).to_owned()));
    }
    let borrowed: Vec<(&str, &str)> =
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = daemon.twilio_webhook(&borrowed, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Polls the channel's messages until every medium has left `pending`; returns them.
fn settled_messages(daemon: &Daemon, service: &str, channel: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = daemon.messages(service, channel);
        let settled = messages.len() >= count
            && messages.iter().all(|m| m["media"].is_null() || m["media"]["status"] != "pending");
        if settled {
            return messages;
        }
        assert!(Instant::now() < deadline, "media still pending: {messages:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn only_channel(daemon: &Daemon, service: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(channel) = daemon.channels(service).first() {
            return channel["sid"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no channel was opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn events_of_type(daemon: &Daemon, channel: &str, kind: &str) -> usize {
    let events = daemon.get(&format!("/admin/v1/Channels/{channel}/Events"));
    assert_eq!(events.status, 200, "{}", events.body);
    events
        .body
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["type"] == kind)
        .count()
}

fn content_path(service: &str, media: &str) -> String {
    format!("/chat/v2/Services/{service}/Media/{media}/Content")
}

#[test]
fn inbound_mms_media_is_fetched_with_basic_auth_and_served_to_members_only() {
    let bytes = picture(150_000);
    let fake = twilio_media(vec![("one", "image/png", bytes.clone())]);
    // The fake is Twilio's API: its credentials go to that origin only.
    let (_temp, daemon) = started(&[("SWITCHBOARD_TWILIO_API_BASE", &fake.url)]);
    let (service, _) = daemon.sms_flow(false);
    mms(
        &daemon,
        "MM00000000000000000000000000000001",
        &[(format!("{}/Media/one", fake.url), "image/png")],
    );
    let channel = only_channel(&daemon, &service);
    let messages = settled_messages(&daemon, &service, &channel, 1);
    let media = &messages[0]["media"];
    assert_eq!(media["status"], "stored", "{messages:?}");
    assert_eq!(media["size"], 150_000);
    let media_sid = media["sid"].as_str().unwrap().to_owned();
    // Twilio's URL was asked with the account's credentials, and the redirect was followed.
    let asked: Vec<_> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked, ["/Media/one", "/cdn/one"]);

    let url = daemon.url(&content_path(&service, &media_sid));
    let by_account = get_bytes(&url, Some(&basic()));
    assert_eq!(by_account.status, 200);
    assert_eq!(by_account.content_type, "image/png");
    assert!(by_account.body == bytes, "the bytes served differ from the bytes fetched");

    let added = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Members"),
        &[("Identity", "agent.alice")],
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let member = format!("Bearer {}", token("agent.alice", "1h"));
    let by_member = get_bytes(&url, Some(&member));
    assert_eq!(by_member.status, 200);
    assert!(by_member.body == bytes);

    let stranger = format!("Bearer {}", token("agent.mallory", "1h"));
    let refused = get_bytes(&url, Some(&stranger));
    assert_eq!(refused.status, 403);
    let error: Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(error["code"], 20403);
    assert_eq!(get_bytes(&url, None).status, 401);
    assert_eq!(get_bytes(&url, Some("Bearer not-a-token")).status, 401);

    let meta = daemon.get(&format!("/chat/v2/Services/{service}/Media/{media_sid}"));
    assert_eq!(meta.status, 200, "{}", meta.body);
    let meta = meta.json();
    assert_eq!(meta["sid"], media_sid.as_str());
    assert_eq!(meta["channel_sid"], channel.as_str());
    assert_eq!(meta["service_sid"], service.as_str());
    assert_eq!(meta["content_type"], "image/png");
    assert_eq!(meta["size"], 150_000);
    assert_eq!(meta["message_sid"], messages[0]["sid"]);
    assert_eq!(meta["links"]["content"], url.as_str());
    assert_eq!(events_of_type(&daemon, &channel, "media_stored"), 1);
    // The same medium in another service is not found.
    let other = daemon.post("/chat/v2/Services", &[("FriendlyName", "other")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(daemon.get(&content_path(&other, &media_sid)).status, 404);
}

#[test]
fn whatsapp_media_is_fetched_through_the_graph_api_with_the_bearer_token() {
    let bytes = picture(70_000);
    let served = bytes.clone();
    let graph = FakeServer::start_with(move |request| {
        if request.header("Authorization") != Some(&format!("Bearer {WHATSAPP_TOKEN}")) {
            return Reply::status(401);
        }
        match request.path.as_str() {
            "/v22.0/WAMEDIA1" => {
                let url = format!("http://{}/download/WAMEDIA1", request.header("Host").unwrap());
                let info = json!({"url": url, "mime_type": "image/jpeg", "sha256": "x",
                    "file_size": served.len(), "id": "WAMEDIA1", "messaging_product": "whatsapp"});
                Reply::content("application/json", info.to_string().as_bytes())
            }
            "/download/WAMEDIA1" => Reply::content("image/jpeg", &served),
            _ => Reply::status(404),
        }
    });
    let base = format!("{}/v22.0", graph.url);
    let (_temp, daemon) = started(&[
        ("SWITCHBOARD_META_APP_SECRET", crate::meta::APP_SECRET),
        ("SWITCHBOARD_GRAPH_API_BASE", &base),
        ("SWITCHBOARD_WHATSAPP_TOKEN", WHATSAPP_TOKEN),
    ]);
    let service = crate::meta::flow(&daemon, "whatsapp", crate::meta::PHONE_NUMBER_ID);
    let image = json!({"id": "WAMEDIA1", "mime_type": "image/jpeg", "sha256": "x"});
    let body = crate::meta::whatsapp(vec![crate::meta::message("wamid.M1", "image", image)]);
    let answer = crate::meta::post(&daemon, "/webhooks/whatsapp", &body, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let channel = only_channel(&daemon, &service);
    let messages = settled_messages(&daemon, &service, &channel, 1);
    assert_eq!(messages[0]["media"]["status"], "stored", "{messages:?}");
    let asked: Vec<_> = graph.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked, ["/v22.0/WAMEDIA1", "/download/WAMEDIA1"]);
    let media_sid = messages[0]["media"]["sid"].as_str().unwrap();
    let content = get_bytes(&daemon.url(&content_path(&service, media_sid)), Some(&basic()));
    assert_eq!(content.status, 200);
    assert_eq!(content.content_type, "image/jpeg");
    assert!(content.body == bytes);
}

#[test]
fn too_large_or_refused_media_show_why_and_nothing_is_stored() {
    let fake = twilio_media(vec![
        ("big", "image/png", picture(5_000)),
        ("exe", "application/x-msdownload", picture(100)),
    ]);
    let (_temp, daemon) = started(&[
        ("SWITCHBOARD_MEDIA_MAX_BYTES", "4000"),
        ("SWITCHBOARD_TWILIO_API_BASE", &fake.url),
    ]);
    let (service, _) = daemon.sms_flow(false);
    mms(
        &daemon,
        "MM00000000000000000000000000000002",
        &[
            (format!("{}/Media/big", fake.url), "image/png"),
            (format!("{}/Media/exe", fake.url), "application/x-msdownload"),
        ],
    );
    let channel = only_channel(&daemon, &service);
    let messages = settled_messages(&daemon, &service, &channel, 2);
    assert_eq!(messages[0]["media"]["status"], "failed");
    let too_large = messages[0]["media"]["error"].as_str().unwrap();
    assert!(too_large.contains("larger than the limit of 4000 bytes"), "{too_large}");
    assert_eq!(messages[1]["media"]["status"], "failed");
    let refused = messages[1]["media"]["error"].as_str().unwrap();
    assert!(refused.contains("\"application/x-msdownload\" are not accepted"), "{refused}");
    for message in &messages {
        let media_sid = message["media"]["sid"].as_str().unwrap();
        let content = daemon.get(&content_path(&service, media_sid));
        assert_eq!(content.status, 404, "{}", content.body);
        assert!(content.json()["message"].as_str().unwrap().contains("not stored"));
    }
    assert_eq!(events_of_type(&daemon, &channel, "media_failed"), 2);
    assert_eq!(events_of_type(&daemon, &channel, "media_stored"), 0);
}

#[test]
fn a_fetch_failing_with_503_resumes_after_a_restart_and_is_stored_once() {
    let bytes = picture(80_000);
    let fake = twilio_media(vec![
        ("flaky", "audio/ogg", bytes.clone()),
        ("later", "image/gif", picture(10)),
    ]);
    fake.fail_next(&[503; 50]);
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // Long retries: the daemon is still waiting to retry when it is stopped.
    let slow =
        [("SWITCHBOARD_OUTBOX_RETRY_BASE", "30s"), ("SWITCHBOARD_TWILIO_API_BASE", &fake.url)];
    let daemon = start_in(&data, &slow);
    let (service, _) = daemon.sms_flow(false);
    mms(
        &daemon,
        "MM00000000000000000000000000000003",
        &[(format!("{}/Media/flaky", fake.url), "audio/ogg")],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.requests().is_empty() {
        assert!(Instant::now() < deadline, "the medium was never asked for");
        std::thread::sleep(Duration::from_millis(20));
    }
    let channel = only_channel(&daemon, &service);
    assert_eq!(daemon.messages(&service, &channel)[0]["media"]["status"], "pending");
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);

    fake.recover();
    let daemon = start_in(&data, &slow);
    let messages = settled_messages(&daemon, &service, &channel, 1);
    assert_eq!(messages[0]["media"]["status"], "stored", "{messages:?}");
    let media_sid = messages[0]["media"]["sid"].as_str().unwrap();
    let content = get_bytes(&daemon.url(&content_path(&service, media_sid)), Some(&basic()));
    assert!(content.body == bytes);
    assert_eq!(events_of_type(&daemon, &channel, "media_stored"), 1);
    assert_eq!(events_of_type(&daemon, &channel, "media_failed"), 0);
    // A third start fetches nothing again: the next medium of the channel, fetched in log order
    // after anything left over, is the only new download.
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let asked = fake.requests().len();
    let daemon = start_in(&data, &slow);
    mms(
        &daemon,
        "MM00000000000000000000000000000004",
        &[(format!("{}/Media/later", fake.url), "image/gif")],
    );
    let messages = settled_messages(&daemon, &service, &channel, 2);
    assert_eq!(messages[1]["media"]["status"], "stored", "{messages:?}");
    let again: Vec<_> = fake.requests()[asked..].iter().map(|r| r.path.clone()).collect();
    assert_eq!(again, ["/Media/later", "/cdn/later"], "a stored medium was fetched again");
    assert_eq!(events_of_type(&daemon, &channel, "media_stored"), 2);
}

#[test]
fn uploads_attach_with_media_sid_signed_links_expire_and_shredded_media_are_gone() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = start_in(&data, &[("SWITCHBOARD_MEDIA_MAX_BYTES", "200000")]);
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "support")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("FriendlyName", "agents"), ("Type", "private")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let channel = created.json()["sid"].as_str().unwrap().to_owned();
    let members = format!("/chat/v2/Services/{service}/Channels/{channel}/Members");
    assert_eq!(daemon.post(&members, &[("Identity", "agent.alice")]).status, 201);
    let upload = |query: &str, content_type: &str, body: &[u8], auth: Option<&str>| {
        let url = daemon.url(&format!("/chat/v2/Services/{service}/Media?{query}"));
        post_bytes(&url, content_type, body, auth)
    };
    let query = format!("ChannelSid={channel}&Filename=report.pdf");
    let bytes = picture(100_000);

    // Limits, with Twilio-shaped errors, and nothing without access.
    let big = upload(&query, "application/pdf", &picture(200_001), Some(&basic()));
    assert_eq!(big.status, 413, "{}", big.body);
    assert!(big.json()["message"].as_str().unwrap().contains("200000 bytes"));
    let html = upload(&query, "text/html", b"<p>", Some(&basic()));
    assert_eq!(html.status, 415, "{}", html.body);
    assert_eq!(html.json()["code"], 20001);
    assert_eq!(upload(&query, "application/pdf", &bytes, None).status, 401);
    let stranger = format!("Bearer {}", token("agent.mallory", "1h"));
    assert_eq!(upload(&query, "application/pdf", &bytes, Some(&stranger)).status, 403);
    let missing = upload("Filename=x", "application/pdf", &bytes, Some(&basic()));
    assert_eq!(missing.status, 400, "{}", missing.body);

    // A member uploads; the medium is then attached to a message.
    let alice = format!("Bearer {}", token("agent.alice", "1h"));
    let uploaded = upload(&query, "application/pdf", &bytes, Some(&alice));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let uploaded = uploaded.json();
    let media_sid = uploaded["sid"].as_str().unwrap().to_owned();
    assert!(media_sid.starts_with("ME"));
    assert_eq!(uploaded["size"], 100_000);
    assert_eq!(uploaded["filename"], "report.pdf");
    assert_eq!(uploaded["channel_sid"], channel.as_str());
    let messages = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let posted = daemon.post(&messages, &[("MediaSid", &media_sid), ("From", "agent.alice")]);
    assert_eq!(posted.status, 201, "{}", posted.body);
    let posted = posted.json();
    assert_eq!(posted["type"], "media");
    assert_eq!(posted["media"]["sid"], media_sid.as_str());
    assert_eq!(posted["media"]["content_type"], "application/pdf");
    assert_eq!(posted["media"]["status"], "stored");
    let again = daemon.post(&messages, &[("MediaSid", &media_sid)]);
    assert_eq!(again.status, 400, "{}", again.body);
    let unknown = daemon.post(&messages, &[("MediaSid", "ME00000000000000000000000000000000")]);
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let content = get_bytes(&daemon.url(&content_path(&service, &media_sid)), Some(&alice));
    assert!(content.status == 200 && content.body == bytes);

    // The signed public link the provider code hands to Twilio or Meta.
    let sid: Sid = media_sid.parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let link = switchboard_actors::signed_media_url(&daemon.base_url, AUTH_TOKEN, sid, now + 60);
    let public = get_bytes(&link, None);
    assert_eq!(public.status, 200);
    assert_eq!(public.content_type, "application/pdf");
    assert!(public.body == bytes);
    let expired = switchboard_actors::signed_media_url(&daemon.base_url, AUTH_TOKEN, sid, now - 1);
    assert_eq!(get_bytes(&expired, None).status, 403);
    let forged = switchboard_actors::signed_media_url(&daemon.base_url, "guess", sid, now + 60);
    assert_eq!(get_bytes(&forged, None).status, 403);
    let stretched =
        link.replace(&format!("expires={}", now + 60), &format!("expires={}", now + 6000));
    assert_eq!(get_bytes(&stretched, None).status, 403);

    // Shredded: the medium is gone, and says so.
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    // The media store sits beside the log without disturbing its audit.
    let verify = run(switchboard().args(["verify", "--data-dir"]).arg(&data));
    assert!(verify.assert_ok().stdout.contains("OK"), "{}", verify.stdout);
    let shred = run(switchboard()
        .args(["keys", "shred", "--channel", &channel, "--yes", "--data-dir"])
        .arg(&data));
    shred.assert_ok();
    let daemon = start_in(&data, &[]);
    let gone = daemon.get(&content_path(&service, &media_sid));
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(daemon.get(&format!("/chat/v2/Services/{service}/Media/{media_sid}")).status, 410);
    let link = switchboard_actors::signed_media_url(&daemon.base_url, AUTH_TOKEN, sid, now + 60);
    assert_eq!(get_bytes(&link, None).status, 410);
}

#[test]
fn messenger_attachments_are_fetched_without_credentials_and_nothing_leaves_loopback() {
    let bytes = picture(20_000);
    let served = bytes.clone();
    let cdn = FakeServer::start_with(move |_| Reply::content("image/jpeg", &served));
    let (_temp, daemon) = started(&[
        ("SWITCHBOARD_META_APP_SECRET", crate::meta::APP_SECRET),
        ("SWITCHBOARD_OUTBOX_RETRY_BASE", "10ms"),
    ]);
    let page = crate::meta::PAGE_ID;
    let service = crate::meta::flow(&daemon, "facebook", page);
    let attachment = |mid: &str, url: &str| {
        json!({"sender": {"id": "5551234567"}, "recipient": {"id": page}, "timestamp": 1458668856465u64,
            "message": {"mid": mid, "attachments": [{"type": "image", "payload": {"url": url}}]}})
    };
    let body = json!({"object": "page", "entry": [{"id": page, "time": 1458668856451u64, "messaging": [
        attachment("mid.1", &format!("{}/p.jpg", cdn.url)),
        // Off this machine: the test environment sends it to a closed port, never out.
        attachment("mid.2", "https://cdn.example/p.jpg"),
    ]}]});
    let answer = crate::meta::post(&daemon, "/webhooks/messenger", &body, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let channel = only_channel(&daemon, &service);
    let messages = settled_messages(&daemon, &service, &channel, 2);
    assert_eq!(messages[0]["media"]["status"], "stored", "{messages:?}");
    assert_eq!(messages[0]["media"]["content_type"], "image/jpeg");
    let asked = cdn.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("Authorization"), None, "credentials sent to Messenger's CDN");
    let media_sid = messages[0]["media"]["sid"].as_str().unwrap();
    let content = get_bytes(&daemon.url(&content_path(&service, media_sid)), Some(&basic()));
    assert!(content.body == bytes);
    assert_eq!(messages[1]["media"]["status"], "failed");
    let why = messages[1]["media"]["error"].as_str().unwrap();
    // Refused by the closed port the proxy settings name, not a name lookup that went out.
    assert!(why.contains("could not reach") && why.contains("Connection refused"), "{why}");
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A WebSocket of `token`'s identity, past its `ready` frame.
fn socket(daemon: &Daemon, token: &str) -> Socket {
    let mut socket = daemon.websocket(Some(token)).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    socket
}

/// Reads frames until a `message_added` of `channel` arrives; panics after a deadline.
fn next_message(socket: &mut Socket, channel: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for frame in frames(socket, 1) {
            if frame["type"] == "message_added" && frame["channel_sid"] == channel {
                return frame;
            }
        }
    }
    panic!("no message_added frame arrived");
}

#[track_caller]
fn assert_error(answer: &Value, code: u64) {
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], code, "{answer}");
}

#[test]
fn an_agent_uploads_with_a_token_sends_media_over_the_websocket_and_the_sms_customer_gets_it() {
    let twilio = FakeServer::start();
    let twilio_base = twilio.url.clone();
    let (_temp, daemon) = started(&[
        ("SWITCHBOARD_MEDIA_MAX_BYTES", "200000"),
        ("SWITCHBOARD_TWILIO_API_BASE", &twilio_base),
        ("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms"),
    ]);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms(CUSTOMER, "my receipt?", "SM00000000000000000000000000000a01").status,
        200
    );
    let channel = only_channel(&daemon, &service);
    let members = format!("/chat/v2/Services/{service}/Channels/{channel}/Members");
    let texts_only = daemon.post(
        &format!("/chat/v2/Services/{service}/Roles"),
        &[("FriendlyName", "texts only"), ("Type", "channel"), ("Permission", "sendMessage")],
    );
    assert_eq!(texts_only.status, 201, "{}", texts_only.body);
    let texts_only = texts_only.json()["sid"].as_str().unwrap().to_owned();
    for (identity, role) in
        [("agent.alice", None), ("agent.bob", None), ("agent.tim", Some(&texts_only))]
    {
        let mut form = vec![("Identity", identity)];
        form.extend(role.map(|r| ("RoleSid", r.as_str())));
        assert_eq!(daemon.post(&members, &form).status, 201);
    }
    let bearer = |identity: &str| token_for_service(identity, "1h", Some(&service));
    let (alice, bob, tim) = (bearer("agent.alice"), bearer("agent.bob"), bearer("agent.tim"));
    let upload = |token: &str, content_type: &str, body: &[u8]| {
        let url = daemon.url(&format!(
            "/chat/v2/Services/{service}/Media?ChannelSid={channel}&Filename=receipt.png"
        ));
        post_bytes(&url, content_type, body, Some(&format!("Bearer {token}")))
    };
    let bytes = picture(120_000);

    // The upload is held to the token, the membership, the role and the limits.
    let big = upload(&alice, "image/png", &picture(200_001));
    assert_eq!(big.status, 413, "{}", big.body);
    let html = upload(&alice, "text/html", b"<p>");
    assert_eq!(html.status, 415, "{}", html.body);
    let muted = upload(&tim, "image/png", &bytes);
    assert_eq!(muted.status, 403, "{}", muted.body);
    assert_eq!(muted.json()["code"], 50107);
    assert!(muted.json()["message"].as_str().unwrap().contains("sendMediaMessage"));
    let stranger = upload(&bearer("agent.mallory"), "image/png", &bytes);
    assert_eq!(stranger.status, 403, "{}", stranger.body);
    let flipped = if alice.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{flipped}", &alice[..alice.len() - 1]);
    assert_eq!(upload(&forged, "image/png", &bytes).status, 401);
    let other = daemon.post("/chat/v2/Services", &[("FriendlyName", "other")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = token_for_service("agent.alice", "1h", Some(&other));
    assert_eq!(upload(&elsewhere, "image/png", &bytes).status, 403);
    assert_eq!(events_of_type(&daemon, &channel, "media_stored"), 0, "a refused upload was kept");
    let uploaded = upload(&alice, "image/png", &bytes);
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let media_sid = uploaded.json()["sid"].as_str().unwrap().to_owned();

    // Sent over the WebSocket; the other member hears it with its medium and fetches the bytes.
    let mut alice_socket = socket(&daemon, &alice);
    let mut bob_socket = socket(&daemon, &bob);
    let media_message = json!({"type": "message", "channel_sid": channel, "media_sid": media_sid,
        "body": "your receipt"});
    let sent = ws_call(&mut alice_socket, media_message.clone(), "m1");
    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(sent["index"], 1);
    let heard = next_message(&mut bob_socket, &channel);
    assert_eq!(heard["author"], "agent.alice");
    assert_eq!(heard["body"], "your receipt");
    assert_eq!(heard["media"]["sid"], media_sid.as_str());
    assert_eq!(heard["media"]["content_type"], "image/png");
    assert_eq!(heard["media"]["size_bytes"], 120_000);
    assert_eq!(heard["media"]["filename"], "receipt.png");
    let content = daemon.url(&content_path(&service, &media_sid));
    let fetched = get_bytes(&content, Some(&format!("Bearer {bob}")));
    assert_eq!(fetched.status, 200);
    assert!(fetched.body == bytes, "bob fetched other bytes");
    let stored = daemon.messages(&service, &channel);
    assert_eq!(stored[1]["type"], "media");
    assert_eq!(stored[1]["media"]["sid"], media_sid.as_str());

    // The customer gets it as an MMS whose link Twilio can fetch.
    assert!(crate::inbound::wait_for(Duration::from_secs(10), || !twilio.requests().is_empty()));
    let mms = twilio.requests().remove(0);
    assert_eq!(mms.param("To").as_deref(), Some(CUSTOMER));
    assert_eq!(mms.param("Body").as_deref(), Some("your receipt"));
    let link = mms.param("MediaUrl").expect("a MediaUrl");
    let as_twilio = get_bytes(&link, None);
    assert!(as_twilio.status == 200 && as_twilio.body == bytes, "the link does not serve it");

    // Refused, with nothing written: the same medium again, one of another channel or service,
    // a role without sendMediaMessage, a malformed SID.
    let again = ws_call(&mut alice_socket, media_message, "m2");
    assert_error(&again, 20001);
    assert!(again["message"].as_str().unwrap().contains("already attached"), "{again}");
    let second = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("FriendlyName", "second"), ("Type", "private")],
    );
    let second = second.json()["sid"].as_str().unwrap().to_owned();
    let theirs = post_bytes(
        &daemon.url(&format!("/chat/v2/Services/{service}/Media?ChannelSid={second}")),
        "image/png",
        &bytes,
        Some(&basic()),
    );
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    let theirs = theirs.json()["sid"].as_str().unwrap().to_owned();
    let foreign = json!({"type": "message", "channel_sid": channel, "media_sid": theirs});
    let refused = ws_call(&mut alice_socket, foreign.clone(), "m3");
    assert_error(&refused, 20001);
    assert!(refused["message"].as_str().unwrap().contains("not a medium uploaded to this channel"));
    let other_channel = daemon.post(
        &format!("/chat/v2/Services/{other}/Channels"),
        &[("FriendlyName", "other"), ("Type", "private")],
    );
    let other_channel = other_channel.json()["sid"].as_str().unwrap().to_owned();
    let other_media = post_bytes(
        &daemon.url(&format!("/chat/v2/Services/{other}/Media?ChannelSid={other_channel}")),
        "image/png",
        &bytes,
        Some(&basic()),
    );
    let other_media = other_media.json()["sid"].as_str().unwrap().to_owned();
    let cross = json!({"type": "message", "channel_sid": channel, "media_sid": other_media});
    assert_error(&ws_call(&mut alice_socket, cross, "m4"), 20001);
    let by_basic = upload_by_account(&daemon, &service, &channel, &bytes);
    let mut tim_socket = socket(&daemon, &tim);
    let from_tim = json!({"type": "message", "channel_sid": channel, "media_sid": by_basic});
    let refused = ws_call(&mut tim_socket, from_tim, "t1");
    assert_error(&refused, 50107);
    assert!(refused["message"].as_str().unwrap().contains("sendMediaMessage"), "{refused}");
    let malformed = json!({"type": "message", "channel_sid": channel, "media_sid": "IM123"});
    assert_error(&ws_call(&mut alice_socket, malformed, "m5"), 20001);
    let empty = json!({"type": "message", "channel_sid": channel});
    assert_error(&ws_call(&mut alice_socket, empty, "m6"), 20001);
    assert_eq!(daemon.messages(&service, &channel).len(), 2, "a refused message was stored");
    assert_eq!(events_of_type(&daemon, &channel, "message_added"), 2);
    // The medium tim could not send is still free for a member who may.
    let from_bob = json!({"type": "message", "channel_sid": channel, "media_sid": by_basic});
    assert_eq!(ws_call(&mut bob_socket, from_bob, "b1")["type"], "ack");
}

/// Uploads `bytes` as an image with the account's credentials; returns the media SID.
fn upload_by_account(daemon: &Daemon, service: &str, channel: &str, bytes: &[u8]) -> String {
    let url = daemon.url(&format!("/chat/v2/Services/{service}/Media?ChannelSid={channel}"));
    let uploaded = post_bytes(&url, "image/png", bytes, Some(&basic()));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    uploaded.json()["sid"].as_str().unwrap().to_owned()
}

#[test]
fn a_webchat_customer_sends_media_from_the_widget_as_the_customers_message() {
    let (_temp, daemon) = started(&[]);
    let (service, flow) =
        daemon.flow(&[("ChannelType", "web"), ("Enabled", "true"), ("IntegrationType", "task")]);
    let form = [
        ("FlexFlowSid", flow.as_str()),
        ("Identity", "guest-7"),
        ("CustomerFriendlyName", "Guest"),
        ("ChatFriendlyName", "Web chat"),
    ];
    let web = daemon.post("/flex/v1/WebChannels", &form);
    assert_eq!(web.status, 201, "{}", web.body);
    let channel = web.json()["sid"].as_str().unwrap().to_owned();
    let members = format!("/chat/v2/Services/{service}/Channels/{channel}/Members");
    assert_eq!(daemon.post(&members, &[("Identity", "agent.alice")]).status, 201);
    let guest = token_for_service("guest-7", "1h", Some(&service));
    let bytes = picture(3_000);
    let url = daemon.url(&format!("/chat/v2/Services/{service}/Media?ChannelSid={channel}"));
    let uploaded = post_bytes(&url, "application/pdf", &bytes, Some(&format!("Bearer {guest}")));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let media_sid = uploaded.json()["sid"].as_str().unwrap().to_owned();
    let mut agent = socket(&daemon, &token_for_service("agent.alice", "1h", Some(&service)));
    let mut widget = socket(&daemon, &guest);
    let frame = json!({"type": "message", "channel_sid": channel, "media_sid": media_sid});
    assert_eq!(ws_call(&mut widget, frame, "w1")["type"], "ack");
    let heard = next_message(&mut agent, &channel);
    assert_eq!(heard["author"], "guest-7");
    assert_eq!(heard["source"], "customer", "{heard}");
    assert_eq!(heard["media"]["sid"], media_sid.as_str());
    let fetched = get_bytes(
        &daemon.url(&content_path(&service, &media_sid)),
        Some(&format!("Bearer {}", token_for_service("agent.alice", "1h", Some(&service)))),
    );
    assert!(fetched.status == 200 && fetched.body == bytes);
}
