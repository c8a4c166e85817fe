//! The OpenAPI document at `/openapi.json` describes the server as it is: fetched without
//! credentials from the real binary, it parses as OpenAPI 3.x, and the bodies of real calls
//! (services, flows, channels, members, messages, webhooks, users, roles, lists, errors) match
//! the schemas it gives for their path, method and status.

use crate::support::api::{daemon_command, Response, OUR_NUMBER};
use crate::support::openapi::Contract;
use crate::support::Daemon;

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

/// The SID of a created resource.
fn sid(body: &serde_json::Value) -> String {
    body["sid"].as_str().expect("a sid").to_owned()
}

#[test]
fn the_document_is_served_without_credentials_and_is_openapi_3() {
    let (_temp, daemon) = started();
    let contract = Contract::fetch(&daemon);
    let document = &contract.document;
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(document["servers"][0]["url"], daemon.base_url.as_str());
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() > 30, "{} paths", paths.len());
    // Everything else stays denied by default.
    let denied = daemon.get_anonymous("/chat/v2/Services");
    assert_eq!(denied.status, 401);
    contract.check("get", "/chat/v2/Services", &denied);
}

#[test]
fn real_answers_match_the_document() {
    let (_temp, daemon) = started();
    let contract = Contract::fetch(&daemon);
    let check = |method: &str, template: &str, response: Response, expected: u16| {
        assert_eq!(response.status, expected, "{method} {template}: {}", response.body);
        contract.check(method, template, &response)
    };

    // Services.
    let created = daemon.post("/chat/v2/Services", &[("FriendlyName", "support")]);
    let service = sid(&check("post", "/chat/v2/Services", created, 201));
    let base = format!("/chat/v2/Services/{service}");
    let fetched = check("get", "/chat/v2/Services/{service}", daemon.get(&base), 200);
    // The check can fail: a key the document does not list, a missing one, a wrong type.
    for tampered in [
        |b: &mut serde_json::Value| b["undocumented"] = 1.into(),
        |b: &mut serde_json::Value| drop(b.as_object_mut().unwrap().remove("friendly_name")),
        |b: &mut serde_json::Value| b["links"]["users"] = 7.into(),
    ] {
        let mut body = fetched.clone();
        tampered(&mut body);
        let found = contract.mismatches("get", "/chat/v2/Services/{service}", 200, &body);
        assert!(!found.is_empty(), "a tampered body passed: {body}");
    }
    let renamed = daemon.post(&base, &[("FriendlyName", "support desk")]);
    check("post", "/chat/v2/Services/{service}", renamed, 200);
    let hooked = daemon.post(
        &base,
        &[
            ("PostWebhookUrl", "http://127.0.0.1:9/hooks"),
            ("WebhookFilters", "onMessageSent"),
            ("PostWebhookRetryCount", "2"),
        ],
    );
    let hooked = check("post", "/chat/v2/Services/{service}", hooked, 200);
    assert_eq!(hooked["post_webhook_url"], "http://127.0.0.1:9/hooks");
    check("get", "/chat/v2/Services", daemon.get("/chat/v2/Services"), 200);

    // Flex Flows of each integration type (the integration's keys differ).
    for form in [
        vec![
            ("ChannelType", "sms"),
            ("ContactIdentity", OUR_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
        vec![
            ("ChannelType", "web"),
            ("IntegrationType", "external"),
            ("Integration.Url", "https://example.com/hook"),
        ],
    ] {
        let mut form = form;
        form.extend([("FriendlyName", "flow"), ("ChatServiceSid", service.as_str())]);
        check("post", "/flex/v1/FlexFlows", daemon.post("/flex/v1/FlexFlows", &form), 201);
    }
    let flows =
        check("get", "/flex/v1/FlexFlows", daemon.get("/flex/v1/FlexFlows?PageSize=1"), 200);
    let flow = sid(&flows["flex_flows"][0]);
    let flow_path = format!("/flex/v1/FlexFlows/{flow}");
    check("get", "/flex/v1/FlexFlows/{sid}", daemon.get(&flow_path), 200);
    let updated = daemon.post(&flow_path, &[("Integration.Priority", "3")]);
    check("post", "/flex/v1/FlexFlows/{sid}", updated, 200);

    // Channels, members, messages.
    let channel = daemon.post(
        &format!("{base}/Channels"),
        &[("FriendlyName", "general"), ("UniqueName", "general"), ("Attributes", r#"{"a":1}"#)],
    );
    let channel = sid(&check("post", "/chat/v2/Services/{service}/Channels", channel, 201));
    let channels = format!("{base}/Channels");
    let channel_path = format!("{channels}/{channel}");
    check("get", "/chat/v2/Services/{service}/Channels", daemon.get(&channels), 200);
    check("get", "/chat/v2/Services/{service}/Channels/{channel}", daemon.get(&channel_path), 200);
    let by_name = daemon.get(&format!("{channels}/general"));
    check("get", "/chat/v2/Services/{service}/Channels/{channel}", by_name, 200);
    let renamed = daemon.post(&channel_path, &[("FriendlyName", "general chat")]);
    check("post", "/chat/v2/Services/{service}/Channels/{channel}", renamed, 200);

    let members = "/chat/v2/Services/{service}/Channels/{channel}/Members";
    let member = daemon.post(&format!("{channel_path}/Members"), &[("Identity", "agent.alice")]);
    let member = sid(&check("post", members, member, 201));
    check("get", members, daemon.get(&format!("{channel_path}/Members")), 200);
    let member_path = format!("{channel_path}/Members/{member}");
    let one_member = "/chat/v2/Services/{service}/Channels/{channel}/Members/{member}";
    check("get", one_member, daemon.get(&member_path), 200);

    let messages = "/chat/v2/Services/{service}/Channels/{channel}/Messages";
    let message = daemon.post(
        &format!("{channel_path}/Messages"),
        &[("Body", "hello"), ("From", "agent.alice"), ("Attributes", r#"{"k":"v"}"#)],
    );
    let message = sid(&check("post", messages, message, 201));
    let listed =
        check("get", messages, daemon.get(&format!("{channel_path}/Messages?Order=desc")), 200);
    assert_eq!(listed["messages"][0]["body"], "hello");
    let message_path = format!("{channel_path}/Messages/{message}");
    let one_message = "/chat/v2/Services/{service}/Channels/{channel}/Messages/{message}";
    check("get", one_message, daemon.get(&message_path), 200);
    check("post", one_message, daemon.post(&message_path, &[("Body", "hello, edited")]), 200);
    let horizon = daemon.post(&member_path, &[("LastConsumedMessageIndex", "0")]);
    check("post", one_member, horizon, 200);

    // Channel webhooks.
    let webhooks = "/chat/v2/Services/{service}/Channels/{channel}/Webhooks";
    let webhook = daemon.post(
        &format!("{channel_path}/Webhooks"),
        &[
            ("Type", "webhook"),
            ("Configuration.Url", "http://127.0.0.1:9/hook"),
            ("Configuration.Filters", "onMessageSent"),
        ],
    );
    let webhook = sid(&check("post", webhooks, webhook, 201));
    check("get", webhooks, daemon.get(&format!("{channel_path}/Webhooks")), 200);
    let one_webhook = "/chat/v2/Services/{service}/Channels/{channel}/Webhooks/{webhook}";
    check("get", one_webhook, daemon.get(&format!("{channel_path}/Webhooks/{webhook}")), 200);

    // Invites.
    let invites = "/chat/v2/Services/{service}/Channels/{channel}/Invites";
    let invite = daemon.post(&format!("{channel_path}/Invites"), &[("Identity", "agent.carol")]);
    let invite = sid(&check("post", invites, invite, 201));
    check("get", invites, daemon.get(&format!("{channel_path}/Invites")), 200);
    let one_invite = "/chat/v2/Services/{service}/Channels/{channel}/Invites/{invite}";
    check("get", one_invite, daemon.get(&format!("{channel_path}/Invites/{invite}")), 200);

    // Users, their channels, roles.
    let user = daemon.post(&format!("{base}/Users"), &[("Identity", "agent.bob")]);
    check("post", "/chat/v2/Services/{service}/Users", user, 201);
    check("get", "/chat/v2/Services/{service}/Users", daemon.get(&format!("{base}/Users")), 200);
    let alice = format!("{base}/Users/agent.alice");
    check("get", "/chat/v2/Services/{service}/Users/{user}", daemon.get(&alice), 200);
    let user_channels = "/chat/v2/Services/{service}/Users/{user}/Channels";
    check("get", user_channels, daemon.get(&format!("{alice}/Channels")), 200);
    let one_user_channel = "/chat/v2/Services/{service}/Users/{user}/Channels/{channel}";
    check("get", one_user_channel, daemon.get(&format!("{alice}/Channels/{channel}")), 200);
    let roles = check(
        "get",
        "/chat/v2/Services/{service}/Roles",
        daemon.get(&format!("{base}/Roles")),
        200,
    );
    let role = sid(&roles["roles"][0]);
    let one_role = "/chat/v2/Services/{service}/Roles/{role}";
    check("get", one_role, daemon.get(&format!("{base}/Roles/{role}")), 200);
    let created_role = daemon.post(
        &format!("{base}/Roles"),
        &[("FriendlyName", "reader"), ("Type", "channel"), ("Permission", "sendMessage")],
    );
    check("post", "/chat/v2/Services/{service}/Roles", created_role, 201);

    // Flex custom channels and web chats, on the web flow.
    let web_flow = sid(&check(
        "post",
        "/flex/v1/FlexFlows",
        daemon.post(
            "/flex/v1/FlexFlows",
            &[
                ("FriendlyName", "chat"),
                ("ChatServiceSid", &service),
                ("ChannelType", "web"),
                ("Enabled", "true"),
                ("IntegrationType", "task"),
            ],
        ),
        201,
    ));
    let opened = daemon.post(
        "/flex/v1/Channels",
        &[
            ("FlexFlowSid", &web_flow),
            ("Identity", "customer-1"),
            ("ChatUserFriendlyName", "Customer"),
            ("ChatFriendlyName", "Support chat"),
        ],
    );
    let opened = sid(&check("post", "/flex/v1/Channels", opened, 201));
    check("get", "/flex/v1/Channels", daemon.get("/flex/v1/Channels"), 200);
    check(
        "get",
        "/flex/v1/Channels/{sid}",
        daemon.get(&format!("/flex/v1/Channels/{opened}")),
        200,
    );
    let web = daemon.post(
        "/flex/v1/WebChannels",
        &[
            ("FlexFlowSid", &web_flow),
            ("Identity", "customer-2"),
            ("CustomerFriendlyName", "Guest"),
            ("ChatFriendlyName", "Web chat"),
        ],
    );
    let web = sid(&check("post", "/flex/v1/WebChannels", web, 201));
    check("get", "/flex/v1/WebChannels", daemon.get("/flex/v1/WebChannels"), 200);
    let ended = daemon.post(&format!("/flex/v1/WebChannels/{web}"), &[("ChatStatus", "inactive")]);
    check("post", "/flex/v1/WebChannels/{sid}", ended, 200);
    check("get", "/admin/v1/Tasks", daemon.get("/admin/v1/Tasks"), 200);

    // Errors, in Twilio's shape as documented: an unknown resource, a bad parameter, a
    // conflict, a wrong method.
    let missing = daemon.get(&format!("{channels}/CH00000000000000000000000000000000"));
    check("get", "/chat/v2/Services/{service}/Channels/{channel}", missing, 404);
    let bad = daemon.post("/chat/v2/Services", &[]);
    check("post", "/chat/v2/Services", bad, 400);
    let taken = daemon.post(&channels, &[("UniqueName", "general")]);
    check("post", "/chat/v2/Services/{service}/Channels", taken, 409);
    let wrong_method = daemon.delete(&base);
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    assert_eq!(wrong_method.json()["code"], 20004);

    // Deletes answer 204 with no body, as documented.
    for (template, path) in [
        (one_message, message_path.clone()),
        (one_member, member_path.clone()),
        (one_webhook, format!("{channel_path}/Webhooks/{webhook}")),
        (one_invite, format!("{channel_path}/Invites/{invite}")),
        ("/chat/v2/Services/{service}/Channels/{channel}", channel_path.clone()),
        ("/flex/v1/Channels/{sid}", format!("/flex/v1/Channels/{opened}")),
        ("/flex/v1/FlexFlows/{sid}", flow_path.clone()),
    ] {
        let deleted = daemon.delete(&path);
        assert_eq!(deleted.status, 204, "DELETE {path}: {}", deleted.body);
        assert!(deleted.body.is_empty());
        let responses = &contract.document["paths"][template]["delete"]["responses"];
        assert!(responses["204"].is_object(), "DELETE {template} documents no 204");
    }
}
