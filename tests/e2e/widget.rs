//! The webchat widget: its files and pages, the public session API and its refusals, a
//! visitor's token reaching its one channel only (and the presence of that channel's members
//! only), the first start's defaults, and the widget in real headless Chromium (crates/switchboard-web/ui/e2e/widget.mjs, driven by playwright-core
//! with Debian's `chromium`; screenshots under target/tmp/widget-artefacts/).
//!
//! Needs node, npm and chromium (README, Tests); `npm ci` runs in the ui folder when its
//! node_modules are missing. Without chromium these tests fail: they never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tungstenite::Message;

use crate::support::api::{basic, daemon_command, token, Response};
use crate::support::Daemon;

/// A daemon started as on a first start with no setup: its default service and web flow made.
fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    command.env("SWITCHBOARD_DURABILITY", "flush");
    command.env("SWITCHBOARD_WEBCHAT_SESSIONS_PER_IP_PER_MINUTE", "8");
    // Small enough for the browser test to offer a file over it.
    command.env("SWITCHBOARD_MEDIA_MAX_BYTES", "1048576");
    // Tokens that need renewing at every use (the chat renews a minute before expiry): every
    // path of the chat spends refresh tokens, and a reuse would revoke the visitor's session.
    command.env("SWITCHBOARD_WEBCHAT_TOKEN_TTL", "61s");
    (temp, Daemon::start(command))
}

/// The default web flow and its service.
fn default_flow(daemon: &Daemon) -> (String, String) {
    let flows = daemon.get("/flex/v1/FlexFlows").json();
    let web: Vec<&Value> = flows["flex_flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["channel_type"] == "web" && f["enabled"] == true)
        .collect();
    assert_eq!(web.len(), 1, "one default web flow: {flows}");
    let sid = |key: &str| web[0][key].as_str().unwrap().to_owned();
    (sid("sid"), sid("chat_service_sid"))
}

/// `POST /webchat/v1/Sessions` from a page of `origin` (none: no `Origin` header).
fn open_session(daemon: &Daemon, origin: Option<&str>, form: &[(&str, &str)]) -> Response {
    let mut request = ureq::post(&daemon.url("/webchat/v1/Sessions"));
    if let Some(origin) = origin {
        request = request.set("Origin", origin);
    }
    let (status, body) = match request.send_form(form) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(status, r)) => (status, r.into_string().unwrap()),
        Err(error) => panic!("{error}"),
    };
    Response { status, body }
}

fn answers(name: &str) -> String {
    json!({"friendly_name": name}).to_string()
}

#[test]
fn first_start_makes_a_web_flow_a_demo_page_and_says_so() {
    let (_temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let services = daemon.get("/chat/v2/Services").json();
    assert_eq!(services["services"][0]["sid"], service.as_str());
    let demo = daemon.get_anonymous("/");
    assert_eq!(demo.status, 200);
    assert!(demo.body.contains(&format!("data-flow=\"{flow}\"")), "{}", demo.body);
    assert!(demo.body.contains("/webchat/v1/widget.js"));
    let log = daemon.stderr();
    assert!(log.contains("first start") && log.contains(&flow), "{log}");
    // A second start of the same folder makes nothing more.
    let dir = _temp.path().join("data");
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let mut command = daemon_command(&dir);
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    let again = Daemon::start(command);
    assert_eq!(default_flow(&again).0, flow);
    assert_eq!(again.get("/chat/v2/Services").json()["services"].as_array().unwrap().len(), 1);
}

#[test]
fn the_widget_s_files_are_cached_by_etag_and_the_chat_page_framed_only_where_allowed() {
    let (_temp, daemon) = started();
    let (flow, _) = default_flow(&daemon);
    let loader = ureq::get(&daemon.url("/webchat/v1/widget.js")).call().unwrap();
    assert_eq!(loader.header("Cache-Control"), Some("public, max-age=300"));
    assert!(loader.content_type().contains("javascript"));
    let etag = loader.header("ETag").unwrap().to_owned();
    let again =
        ureq::get(&daemon.url("/webchat/v1/widget.js")).set("If-None-Match", &etag).call().unwrap();
    assert_eq!(again.status(), 304);
    let allowed = "http://localhost:1234";
    let set = daemon.post(&format!("/webchat/v1/Flows/{flow}"), &[("AllowedOrigins", allowed)]);
    assert_eq!(set.status, 200, "{}", set.body);
    let page_url = |origin: &str| {
        daemon.url(&format!("/webchat/v1/chat.html?flow={flow}&origin={}", urlencode(origin)))
    };
    let page = ureq::get(&page_url(allowed)).call().unwrap();
    let policy = page.header("Content-Security-Policy").unwrap().to_owned();
    assert!(policy.contains(&format!("frame-ancestors 'self' {allowed}")), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let body = page.into_string().unwrap();
    let script = body.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(script.starts_with("/webchat/v1/assets/chat.") && script.ends_with(".js"), "{script}");
    let app = ureq::get(&daemon.url(&script)).call().unwrap();
    assert_eq!(app.header("Cache-Control"), Some("public, max-age=31536000, immutable"));
    assert!(!body.contains("localhost:1234"), "the allowed origins are not told to the page");
    match ureq::get(&page_url("http://evil.example")).call() {
        Err(ureq::Error::Status(403, _)) => {}
        other => panic!("a foreign host's chat page: {other:?}"),
    }
    assert_eq!(daemon.get_anonymous("/webchat/v1/assets/chat.0.js").status, 404);
}

#[test]
fn sessions_are_refused_unless_flow_origin_form_and_rate_allow_them() {
    let (_temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let own = daemon.base_url.clone();
    let ok = [("FlowSid", flow.as_str()), ("PreEngagementData", &answers("Ann"))];
    assert_eq!(open_session(&daemon, None, &ok).status, 403, "no Origin");
    assert_eq!(open_session(&daemon, Some("http://evil.example"), &ok).status, 403);
    let required = [("FlowSid", flow.as_str()), ("PreEngagementData", "{}")];
    let missing = open_session(&daemon, Some(&own), &required);
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(missing.body.contains("friendly_name is required"), "{}", missing.body);
    // A flow that is not web, or not enabled, opens nothing.
    let sms = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "sms"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", "+15005550006"),
            ("IntegrationType", "task"),
            ("Enabled", "true"),
        ],
    );
    let sms_flow = sms.json()["sid"].as_str().unwrap().to_owned();
    let wrong = [("FlowSid", sms_flow.as_str()), ("PreEngagementData", &answers("Ann"))];
    assert_eq!(open_session(&daemon, Some(&own), &wrong).status, 404);
    // A claimed identity needs the host's signature.
    let claimed = [
        ("FlowSid", flow.as_str()),
        ("PreEngagementData", &answers("Ann")),
        ("Identity", "c-42"),
        ("IdentityHash", "00"),
    ];
    assert_eq!(open_session(&daemon, Some(&own), &claimed).status, 401);
    let created = open_session(&daemon, Some(&own), &ok);
    assert_eq!(created.status, 201, "{}", created.body);
    // The answers are those the OpenAPI document describes, refusals in Twilio's error shape.
    let contract = crate::support::openapi::Contract::fetch(&daemon);
    contract.check("post", "/webchat/v1/Sessions", &created);
    contract.check("post", "/webchat/v1/Sessions", &missing);
    let settings = daemon.get(&format!("/webchat/v1/Flows/{flow}"));
    contract.check("get", "/webchat/v1/Flows/{sid}", &settings);
    assert_eq!(settings.json()["identity_verification"], false);
    // The rate: 8 per address per minute (configured), the refused ones above not counted.
    let statuses: Vec<u16> =
        (0..8).map(|_| open_session(&daemon, Some(&own), &ok).status).collect();
    assert_eq!(statuses[..7], [201; 7], "{statuses:?}");
    assert_eq!(statuses[7], 429, "{statuses:?}");
    let channels = daemon.get(&format!("/chat/v2/Services/{service}/Channels?Type=private")).json();
    assert_eq!(channels["channels"].as_array().unwrap().len(), 8, "one channel per session");
}

#[test]
fn a_visitor_s_token_reaches_its_own_channel_and_nothing_else() {
    let (_temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let own = daemon.base_url.clone();
    let session = |name: &str| {
        let form = [("FlowSid", flow.as_str()), ("PreEngagementData", &answers(name))];
        let created = open_session(&daemon, Some(&own), &form);
        assert_eq!(created.status, 201, "{}", created.body);
        created.json()
    };
    let (ann, bob) = (session("Ann"), session("Bob"));
    assert_ne!(ann["channel_sid"], bob["channel_sid"]);
    let bearer = format!("Bearer {}", ann["token"].as_str().unwrap());
    // No REST resource takes it in place of the account's credentials.
    let listed = ureq::get(&daemon.url(&format!("/chat/v2/Services/{service}/Channels")))
        .set("Authorization", &bearer)
        .call();
    assert!(matches!(listed, Err(ureq::Error::Status(401, _))), "{listed:?}");
    // Over the WebSocket: its channel's history, none of Bob's, no posting there, no joining.
    let mut socket = daemon.websocket(None).unwrap();
    let resume = json!([{"channel_sid": ann["channel_sid"], "seq": -1}, {"channel_sid": bob["channel_sid"], "seq": -1}]);
    let auth = json!({"type": "auth", "token": ann["token"], "resume": resume});
    socket.send(Message::text(auth.to_string())).unwrap();
    for frame in [
        json!({"type": "message", "channel_sid": bob["channel_sid"], "body": "hi", "id": 1}),
        json!({"type": "join", "channel_sid": bob["channel_sid"], "id": 2}),
        json!({"type": "message", "channel_sid": ann["channel_sid"], "body": "mine", "id": 3}),
    ] {
        socket.send(Message::text(frame.to_string())).unwrap();
    }
    let frames = crate::support::api::frames(&mut socket, 40);
    let types: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    let of = |f: &Value, sid: &Value| f["channel_sid"] == *sid;
    assert!(
        frames.iter().all(|f| !of(f, &bob["channel_sid"]) || f["type"] == "error"),
        "{frames:?}"
    );
    assert!(!types.contains(&"channel_created") && !types.contains(&"task_linked"), "{types:?}");
    let answer = |id: u64| frames.iter().find(|f| f["id"] == id).cloned().unwrap_or_default();
    assert_eq!(
        (answer(1)["type"].as_str(), answer(1)["code"].as_u64()),
        (Some("error"), Some(20404))
    );
    assert_eq!(answer(2)["type"], "error");
    assert_eq!(answer(3)["type"], "ack", "{frames:?}");
    let mine = daemon.get(&format!(
        "/chat/v2/Services/{service}/Channels/{}/Messages",
        ann["channel_sid"].as_str().unwrap()
    ));
    assert_eq!(mine.json()["messages"][0]["body"], "mine");
    // A refresh gives a new token for the same channel; a forged one is refused.
    let refresh = |token: &str| refresh_token(&daemon, &own, &flow, token);
    let renewed = refresh(ann["refresh_token"].as_str().unwrap());
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert_eq!(renewed.json()["channel_sid"], ann["channel_sid"]);
    let forged = ann["refresh_token"].as_str().unwrap().replace("v2.", "v2.x");
    assert_eq!(refresh(&forged).status, 401);
    // Ending the chat: the channel goes inactive and its refresh token continues nothing.
    let ended =
        ureq::post(&daemon.url("/webchat/v1/Sessions/End")).set("Authorization", &bearer).call();
    assert_eq!(ended.unwrap().status(), 204);
    assert_eq!(refresh(ann["refresh_token"].as_str().unwrap()).status, 404);
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// What `socket` receives until what it received satisfies `enough` (within 10 s).
fn frames_until(socket: &mut Socket, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        for frame in crate::support::api::frames(socket, 1) {
            seen.push(frame);
            if enough(&seen) {
                return seen;
            }
        }
    }
    panic!("not enough: {seen:?}");
}

/// Whether the last of the frames is of type `kind`.
fn ends_with(kind: &str) -> impl Fn(&[Value]) -> bool + '_ {
    move |frames| frames.last().is_some_and(|f| f["type"] == kind)
}

fn reachability_of<'a>(frames: &'a [Value], identity: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == "user_updated" && f["identity"] == identity).collect()
}

/// Whether `frames` told that `identity` is `online` (or not).
fn told(frames: &[Value], identity: &str, online: bool) -> bool {
    reachability_of(frames, identity).iter().any(|f| f["is_online"] == online)
}

/// What `socket` receives up to its `resumed`, authenticated with the visitor's token of
/// `session` and resuming its channel from the start.
fn resumed(socket: &mut Socket, session: &Value) -> Vec<Value> {
    let resume = json!([{"channel_sid": session["channel_sid"], "seq": -1}]);
    let auth = json!({"type": "auth", "token": session["token"], "resume": resume});
    socket.send(Message::text(auth.to_string())).unwrap();
    frames_until(socket, ends_with("resumed"))
}

/// A visitor's token hears the reachability of its own channel's members and of nobody else's,
/// though its identity is a member elsewhere too: after its resume the state now of each, when a
/// member joins the joiner's, and each change; nothing once the service keeps none.
#[test]
fn a_visitor_hears_the_reachability_of_its_own_channel_s_members_only() {
    let (_temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let own = daemon.base_url.clone();
    let form = [("FlowSid", flow.as_str()), ("PreEngagementData", &answers("Vic"))];
    let session = open_session(&daemon, Some(&own), &form).json();
    let (visitor, channel) =
        (session["identity"].as_str().unwrap(), session["channel_sid"].as_str().unwrap());
    let members = |channel: &str| format!("/chat/v2/Services/{service}/Channels/{channel}/Members");
    assert_eq!(daemon.post(&members(channel), &[("Identity", "agent.kim")]).status, 201);
    // Another channel the visitor's identity is in, with a user who is in no channel of its token.
    let other = daemon.post(&format!("/chat/v2/Services/{service}/Channels"), &[]).json();
    let other = other["sid"].as_str().unwrap();
    for identity in [visitor, "agent.lee"] {
        assert_eq!(daemon.post(&members(other), &[("Identity", identity)]).status, 201);
    }
    let token = crate::support::api::token_for_service;
    let lee = daemon.websocket(Some(&token("agent.lee", "1h", Some(&service)))).unwrap();
    let kim = daemon.websocket(Some(&token("agent.kim", "1h", Some(&service)))).unwrap();
    // The visitor's identity with a token of its own hears Lee (a fellow member of `other`) and
    // Kim come online: once it has, neither has a change left to tell.
    let mut unscoped = daemon.websocket(Some(&token(visitor, "1h", Some(&service)))).unwrap();
    frames_until(&mut unscoped, |f| told(f, "agent.lee", true) && told(f, "agent.kim", true));

    let mut socket = daemon.websocket(None).unwrap();
    let greeted = resumed(&mut socket, &session);
    let kim_now = reachability_of(&greeted, "agent.kim");
    assert_eq!(kim_now.len(), 1, "Kim's state now, after the resume: {greeted:?}");
    assert_eq!(kim_now[0]["is_online"], true);
    assert_eq!(kim_now[0]["service_sid"], service.as_str());
    assert!(reachability_of(&greeted, visitor).is_empty(), "not its own: {greeted:?}");
    assert!(reachability_of(&greeted, "agent.lee").is_empty(), "{greeted:?}");

    // Joe, with no socket, joins the visitor's channel: the visitor hears he is not there.
    assert_eq!(daemon.post(&members(channel), &[("Identity", "agent.joe")]).status, 201);
    let joined = frames_until(&mut socket, ends_with("user_updated"));
    let kinds: Vec<&Value> = joined.iter().rev().take(2).map(|f| &f["type"]).collect();
    assert_eq!(kinds, ["user_updated", "member_joined"], "{joined:?}");
    assert!(told(&joined, "agent.joe", false), "{joined:?}");

    // Lee and Kim go: the visitor hears Kim's change and never Lee's, though its identity's other
    // socket does (before a message written after it, which the visitor's socket gets).
    for mut gone in [lee, kim] {
        gone.close(None).unwrap();
        let _ = crate::support::api::frames(&mut gone, 1);
    }
    frames_until(&mut unscoped, |f| told(f, "agent.lee", false));
    let said = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"),
        &[("From", "agent.joe"), ("Body", "after Lee left")],
    );
    assert_eq!(said.status, 201, "{}", said.body);
    let mut heard = frames_until(&mut socket, |f| f.iter().any(|f| f["body"] == "after Lee left"));
    if !told(&heard, "agent.kim", false) {
        heard.extend(frames_until(&mut socket, ends_with("user_updated")));
    }
    assert!(reachability_of(&heard, "agent.lee").is_empty(), "no other channel's user: {heard:?}");
    assert!(told(&heard, "agent.kim", false), "{heard:?}");

    // Off: a resume tells nobody's state.
    let off =
        daemon.post(&format!("/chat/v2/Services/{service}"), &[("ReachabilityEnabled", "false")]);
    assert_eq!(off.status, 200, "{}", off.body);
    let mut again = daemon.websocket(None).unwrap();
    let greeted = resumed(&mut again, &session);
    assert!(greeted.iter().all(|f| f["type"] != "user_updated"), "{greeted:?}");
}

/// `GET /webchat/v1/Messages` with `authorization` (a header value), if any.
fn history(daemon: &Daemon, query: &str, authorization: Option<&str>) -> Response {
    let mut request = ureq::get(&daemon.url(&format!("/webchat/v1/Messages{query}")));
    if let Some(value) = authorization {
        request = request.set("Authorization", value);
    }
    match request.call() {
        Ok(r) => Response { status: r.status(), body: r.into_string().unwrap() },
        Err(ureq::Error::Status(status, r)) => Response { status, body: r.into_string().unwrap() },
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn a_visitor_reads_its_chat_a_page_at_a_time_with_its_own_token_only() {
    let (_temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let form = [("FlowSid", flow.as_str()), ("PreEngagementData", &answers("Dora"))];
    let dora = open_session(&daemon, Some(&daemon.base_url), &form).json();
    let channel = dora["channel_sid"].as_str().unwrap();
    let members = format!("/chat/v2/Services/{service}/Channels/{channel}/Members");
    let kim = daemon.post(&members, &[("Identity", "agent.kim")]).json();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    for i in 0..7 {
        let sent = daemon.post(&path, &[("From", "agent"), ("Body", &format!("m{i}"))]);
        assert_eq!(sent.status, 201, "{}", sent.body);
    }
    let bearer = format!("Bearer {}", dora["token"].as_str().unwrap());
    let latest = history(&daemon, "?PageSize=3", Some(&bearer));
    assert_eq!(latest.status, 200, "{}", latest.body);
    crate::support::openapi::Contract::fetch(&daemon).check("get", "/webchat/v1/Messages", &latest);
    let page = latest.json();
    let bodies = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bodies(&page), ["m4", "m5", "m6"]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["messages"][0]["earlier"], false);
    let others = json!([{"member_sid": kim["sid"], "identity": "agent.kim"}]);
    assert_eq!(page["other_members"], others, "the agent, not the visitor");
    // The event it resumes after is the channel's last: a resume from there sends nothing old.
    let events = daemon.get(&format!("/admin/v1/Channels/{channel}/Events")).body;
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(page["seq"], last["seq"], "{events}");
    let before = page["messages"][0]["index"].as_u64().unwrap();
    let older = history(&daemon, &format!("?PageSize=3&Before={before}"), Some(&bearer)).json();
    assert_eq!(bodies(&older), ["m1", "m2", "m3"]);
    assert_eq!((older["has_more"].clone(), older["seq"].clone()), (Value::from(true), Value::Null));
    let oldest = history(&daemon, "?PageSize=3&Before=1", Some(&bearer)).json();
    assert_eq!(
        (bodies(&oldest), oldest["has_more"].clone()),
        (vec!["m0".to_owned()], Value::from(false))
    );
    // Refused: no token, the account's credentials, an agent's token, a page out of bounds.
    assert_eq!(history(&daemon, "", None).status, 401);
    assert_eq!(history(&daemon, "", Some(&basic())).status, 401);
    let agent = format!("Bearer {}", token("agent", "1h"));
    assert_eq!(history(&daemon, "", Some(&agent)).status, 403);
    for bad in ["?PageSize=0", "?PageSize=51", "?Before=x"] {
        assert_eq!(history(&daemon, bad, Some(&bearer)).status, 400, "{bad}");
    }
}

#[test]
fn a_refresh_token_is_spent_by_its_use_and_a_spent_one_revokes_its_family() {
    let (_temp, daemon) = started();
    let (flow, _) = default_flow(&daemon);
    let own = daemon.base_url.clone();
    let form = [("FlowSid", flow.as_str()), ("PreEngagementData", &answers("Eve"))];
    let refresh = |token: &str| refresh_token(&daemon, &own, &flow, token);
    let renewed = |token: &str| {
        let answer = refresh(token);
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["refresh_token"].as_str().unwrap().to_owned()
    };
    let first = open_session(&daemon, Some(&own), &form).json();
    let r0 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(r0.starts_with("v2."), "{r0}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let ttl = first["expires_at"].as_i64().unwrap() - now.as_secs() as i64;
    assert!((55..=62).contains(&ttl), "the configured lifetime, 61 s: {ttl}");
    let r1 = renewed(&r0);
    assert_ne!(r1, r0, "a refresh answers a new refresh token");
    let r2 = renewed(&r1);
    // r0 was spent two refreshes ago: its holder is not the session's only one.
    let reused = refresh(&r0);
    assert_eq!((reused.status, reused.json()["code"].as_u64()), (401, Some(20101)));
    assert!(reused.body.contains("used before"), "{}", reused.body);
    assert_eq!(refresh(&r2).status, 401, "the whole family is revoked");
    // The token spent last, presented again at once (a lost answer, two tabs), gets the same
    // successor; an older one still revokes.
    let second = open_session(&daemon, Some(&own), &form).json();
    let s0 = second["refresh_token"].as_str().unwrap().to_owned();
    let s1 = renewed(&s0);
    assert_eq!(renewed(&s0), s1);
    let s2 = renewed(&s1);
    assert_eq!(renewed(&s1), s2);
    assert_eq!(refresh(&s0).status, 401);
    assert_eq!(refresh(&s2).status, 401);
    // A token of the format before rotation (no family) is refused.
    let old = s2.replacen("v2.", "v1.", 1);
    assert_eq!(refresh(&old).status, 401);
}

#[test]
fn a_host_signed_identity_continues_its_chat_and_cors_names_the_host() {
    use hmac::{Hmac, Mac};
    let (_temp, daemon) = started();
    let (flow, _) = default_flow(&daemon);
    let host = "https://shop.example";
    let settings = &[("AllowedOrigins", host), ("IdentitySecret", "host-backend-secret")];
    let set = daemon.post(&format!("/webchat/v1/Flows/{flow}"), settings);
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["identity_verification"], true);
    assert!(!set.body.contains("host-backend-secret"), "never shown back");
    // What the host's backend computes for its customer c-42.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"host-backend-secret").unwrap();
    mac.update(b"c-42");
    let hash: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let answers = answers("Carol");
    let form = |hash: &str| {
        let form = [
            ("FlowSid", flow.as_str()),
            ("PreEngagementData", answers.as_str()),
            ("Identity", "c-42"),
            ("IdentityHash", hash),
        ];
        // (status, Access-Control-Allow-Origin, body)
        match ureq::post(&daemon.url("/webchat/v1/Sessions")).set("Origin", host).send_form(&form) {
            Ok(r) => {
                let allowed = r.header("Access-Control-Allow-Origin").map(str::to_owned);
                let status = r.status();
                (status, allowed, serde_json::from_str(&r.into_string().unwrap()).unwrap())
            }
            Err(ureq::Error::Status(status, _)) => (status, None, Value::Null),
            Err(error) => panic!("{error}"),
        }
    };
    let (status, allowed, first) = form(&hash);
    assert_eq!((status, allowed.as_deref()), (201, Some(host)));
    assert_eq!(first["identity"], "web:c-42");
    // The same customer on another device continues the same chat.
    let (_, _, again) = form(&hash);
    assert_eq!(again["channel_sid"], first["channel_sid"]);
    let forged = hash.replacen(&hash[..1], if &hash[..1] == "0" { "1" } else { "0" }, 1);
    assert_eq!(form(&forged).0, 401);
}

/// `POST /webchat/v1/Tokens` from a page of `origin`.
fn refresh_token(daemon: &Daemon, origin: &str, flow: &str, token: &str) -> Response {
    let sent = ureq::post(&daemon.url("/webchat/v1/Tokens"))
        .set("Origin", origin)
        .send_form(&[("FlowSid", flow), ("RefreshToken", token)]);
    match sent {
        Ok(r) => Response { status: r.status(), body: r.into_string().unwrap() },
        Err(ureq::Error::Status(status, r)) => Response { status, body: r.into_string().unwrap() },
        Err(error) => panic!("{error}"),
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The ui folder, with its node modules installed.
pub(crate) fn ui() -> PathBuf {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard-web/ui");
    if !ui.join("node_modules/playwright-core").exists() {
        let installed =
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&ui).status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "npm ci in {} failed: install node and npm",
            ui.display()
        );
    }
    ui
}

pub(crate) fn chromium() -> String {
    let path = std::env::var("SWITCHBOARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "no Chromium at {path}: install Debian's chromium (apt-get install chromium; .ci/run does) \
         or set SWITCHBOARD_CHROMIUM"
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a scenario of widget.mjs against `daemon`; its report, or the test fails with its log.
fn browser_scenario(browser: &Browser, scenario: &str) -> Value {
    let Browser { daemon, flow, service, host_port, .. } = browser;
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("widget-artefacts");
    let mut command = Command::new("node");
    command
        .arg("e2e/widget.mjs")
        .current_dir(ui())
        .env("DAEMON", &daemon.base_url)
        .env("BASIC", basic())
        .env("FLOW", flow)
        .env("SERVICE", service)
        .env("AGENT_TOKEN", token("agent", "1h"))
        .env("HOST_PORT", host_port.to_string())
        .env("OTHER_PORT", free_port().to_string())
        .env("ARTEFACTS", &artefacts)
        .env("CHROMIUM", chromium())
        .env("SCENARIO", scenario)
        .env("IDENTITY", IDENTIFIED)
        .env("IDENTITY_HASH", identity_hash(IDENTIFIED));
    node_report(&mut command, daemon, &format!("scenario {scenario}"))
}

/// Runs a browser scenario (`command`, a node script) against `daemon`; its report (the last
/// line it prints, JSON, with `passed: true`), or the test fails with its output and the
/// daemon's log.
pub(crate) fn node_report(command: &mut Command, daemon: &Daemon, what: &str) -> Value {
    let output = command.output().expect("node runs (install node: README, Tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}\ndaemon:\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.stderr()
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(report["passed"], true);
    report
}

/// A daemon whose default web flow lets the test's host pages (on `host_port`) embed it.
struct Browser {
    _temp: tempfile::TempDir,
    daemon: Daemon,
    flow: String,
    service: String,
    host_port: u16,
}

/// A daemon whose default web flow lets this test's host pages embed it, with a consent field.
fn started_for_browser() -> Browser {
    let (temp, daemon) = started();
    let (flow, service) = default_flow(&daemon);
    let fields = json!([
        {"name": "friendly_name", "label": "Your name", "kind": "text", "required": true},
        {"name": "privacy", "label": "I accept the privacy notice", "kind": "consent", "required": true},
    ]);
    let host_port = free_port();
    let origin = format!("http://localhost:{host_port}");
    let theme = json!({"color": "#6b2fa3", "font": "Georgia, serif", "radius": "2px"});
    let strings = json!({"fr": {"title": "Discutons", "start": "Commencer"}});
    let set = daemon.post(
        &format!("/webchat/v1/Flows/{flow}"),
        &[
            ("AllowedOrigins", origin.as_str()),
            ("Fields", &fields.to_string()),
            ("Theme", &theme.to_string()),
            ("Strings", &strings.to_string()),
        ],
    );
    assert_eq!(set.status, 200, "{}", set.body);
    Browser { _temp: temp, daemon, flow, service, host_port }
}

#[test]
fn in_chromium_a_visitor_and_an_agent_chat_across_reloads_and_a_dropped_socket() {
    let browser = started_for_browser();
    let report = browser_scenario(&browser, "chat");
    let (daemon, service) = (&browser.daemon, &browser.service);
    // What the visitor saw is what the channel holds: each message once, in order.
    let channel = report["channel"].as_str().unwrap();
    let messages = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"));
    // (a medium's message by its file's name)
    let shown = |m: &Value| match m["media"]["filename"].as_str() {
        Some(name) => Value::from(name),
        None => m["body"].clone(),
    };
    let bodies: Vec<Value> =
        messages.json()["messages"].as_array().unwrap().iter().map(shown).collect();
    assert_eq!(Value::from(bodies), report["messages"]);
    let fetched = daemon.get(&format!("/flex/v1/WebChannels/{channel}"));
    assert_eq!(fetched.status, 200);
    let attributes = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")).json();
    assert!(attributes["attributes"].as_str().unwrap().contains("INACTIVE"), "{attributes}");
}

/// The visitor the host identifies in the browser test, and the secret its backend signs with.
const IDENTIFIED: &str = "c-7";
const IDENTITY_SECRET: &str = "host-backend-secret";

/// What a host's backend computes for `identity` (hex HMAC-SHA256 under the flow's secret).
fn identity_hash(identity: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(IDENTITY_SECRET.as_bytes()).unwrap();
    mac.update(identity.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The default service keeps reachability (a service made over the API does not, as in Twilio),
/// so the visitor sees whether the agent is there; the scenario turns it off at the end.
#[test]
fn in_chromium_the_visitor_sees_whether_an_agent_is_there() {
    let browser = started_for_browser();
    let (daemon, service) = (&browser.daemon, &browser.service);
    let reachability = || daemon.get(&format!("/chat/v2/Services/{service}")).json();
    assert_eq!(reachability()["reachability_enabled"], true, "on for the first start's service");
    let made = daemon.post("/chat/v2/Services", &[("FriendlyName", "over the API")]);
    assert_eq!(made.json()["reachability_enabled"], false, "{}", made.body);
    let report = browser_scenario(&browser, "presence");
    assert!(report["channel"].as_str().is_some_and(|sid| sid.starts_with("CH")), "{report}");
    assert_eq!(reachability()["reachability_enabled"], false, "the scenario turned it off");
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("widget-artefacts");
    for (at, shot) in ["here", "here-after-reload", "away", "off"].iter().enumerate() {
        let name = format!("presence-{}-{shot}.png", at + 1);
        assert!(artefacts.join(&name).exists(), "{name}");
    }
}

#[test]
fn in_chromium_a_returning_visitor_sees_its_earlier_interaction_a_page_at_a_time() {
    let browser = started_for_browser();
    let daemon = &browser.daemon;
    let flow = format!("/flex/v1/FlexFlows/{}", browser.flow);
    assert_eq!(daemon.post(&flow, &[("LongLived", "true")]).status, 200);
    let secret = [("IdentitySecret", IDENTITY_SECRET)];
    assert_eq!(daemon.post(&format!("/webchat/v1/Flows/{}", browser.flow), &secret).status, 200);
    let report = browser_scenario(&browser, "earlier");
    // Both visits were the one channel, reactivated for the second.
    let channels =
        daemon.get(&format!("/chat/v2/Services/{}/Channels?Type=private", browser.service)).json();
    let listed = channels["channels"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{channels}");
    assert_eq!(listed[0]["sid"], report["channel"]);
}

#[test]
fn in_chromium_a_message_sent_before_the_socket_is_ready_goes_once_it_is() {
    let browser = started_for_browser();
    let report = browser_scenario(&browser, "early");
    let channel = report["channel"].as_str().unwrap();
    let messages = browser
        .daemon
        .get(&format!("/chat/v2/Services/{}/Channels/{channel}/Messages", browser.service))
        .json();
    let bodies: Vec<&str> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["sent before ready"], "the early message, stored once: {messages}");
}

#[test]
fn in_chromium_a_host_the_flow_does_not_allow_gets_no_chat() {
    let browser = started_for_browser();
    let report = browser_scenario(&browser, "not-allowed");
    assert_eq!(report["chat_page_status"], 403);
    let channels = browser
        .daemon
        .get(&format!("/chat/v2/Services/{}/Channels?Type=private", browser.service))
        .json();
    assert!(channels["channels"].as_array().unwrap().is_empty(), "no session was opened");
}

#[test]
fn in_chromium_host_css_leaves_the_launcher_unchanged_and_the_flow_s_theme_and_strings_apply() {
    let browser = started_for_browser();
    let report = browser_scenario(&browser, "css");
    assert!(report["launcher"]["width"].as_f64().unwrap() > 0.0);
    assert_eq!(report["themed"]["title"], "Discutons", "the flow's French strings in fr-FR");
}
