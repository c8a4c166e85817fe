//! Flex Flows over REST, in Twilio's shapes: create 201, fetch, list with paging, partial update,
//! delete 204, the one-enabled-flow rule, errors, authentication, and the audit trail.

use crate::support::api::{daemon_command, OUR_NUMBER};
use crate::support::{run, switchboard, Daemon};

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

#[test]
fn flows_have_the_whole_lifecycle_in_twilio_shapes() {
    let (_temp, daemon) = started();
    let (service, flow) = daemon.sms_flow(false);
    let path = format!("/flex/v1/FlexFlows/{flow}");
    let fetched = daemon.get(&path);
    assert_eq!(fetched.status, 200);
    let body = fetched.json();
    assert_eq!(body["sid"], flow.as_str());
    assert_eq!(body["account_sid"], crate::support::api::ACCOUNT_SID);
    assert_eq!(body["chat_service_sid"], service.as_str());
    assert_eq!(body["channel_type"], "sms");
    assert_eq!(body["contact_identity"], OUR_NUMBER);
    assert_eq!(body["enabled"], true);
    assert_eq!(body["integration_type"], "task");
    assert_eq!(body["janitor_enabled"], true, "the janitor is on unless turned off");
    assert_eq!(body["long_lived"], false);
    assert_eq!(body["url"], daemon.url(&path));
    assert!(body["date_created"].as_str().unwrap().ends_with('Z'));

    let updated = daemon.post(&path, &[("LongLived", "true"), ("Integration.Priority", "7")]);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(updated["long_lived"], true);
    assert_eq!(updated["integration"]["priority"], 7);
    assert_eq!(updated["friendly_name"], "SMS", "parameters not given stay as they were");

    let web = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "Web"),
            ("ChatServiceSid", &service),
            ("ChannelType", "web"),
            ("IntegrationType", "external"),
            ("Integration.Url", "https://example.com/hook"),
        ],
    );
    assert_eq!(web.status, 201, "{}", web.body);
    let page = daemon.get("/flex/v1/FlexFlows?PageSize=1");
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(page["meta"]["key"], "flex_flows");
    assert_eq!(page["flex_flows"].as_array().unwrap().len(), 1);
    let next = page["meta"]["next_page_url"].as_str().expect("a second page");
    let second = daemon.get(next.strip_prefix(&daemon.base_url).unwrap());
    assert_eq!(second.json()["flex_flows"].as_array().unwrap().len(), 1);
    assert!(second.json()["meta"]["next_page_url"].is_null());

    assert_eq!(daemon.delete(&path).status, 204);
    let gone = daemon.get(&path);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["code"], 20404);
    assert_eq!(daemon.delete(&path).status, 404);
}

#[test]
fn a_second_enabled_flow_for_the_same_number_is_refused_clearly() {
    let (_temp, daemon) = started();
    let (service, flow) = daemon.sms_flow(false);
    let twin = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "Twin"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", OUR_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
    );
    assert_eq!(twin.status, 409, "{}", twin.body);
    assert!(twin.json()["message"].as_str().unwrap().contains(&flow), "{}", twin.body);
}

#[test]
fn bad_requests_get_twilio_errors_and_write_nothing() {
    let (_temp, daemon) = started();
    let (service, _) = daemon.sms_flow(false);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("ChatServiceSid", &service), ("ChannelType", "sms"), ("IntegrationType", "task")],
            "FriendlyName",
        ),
        (
            &[
                ("FriendlyName", "x"),
                ("ChatServiceSid", &service),
                ("ChannelType", "fax"),
                ("IntegrationType", "task"),
            ],
            "ChannelType",
        ),
        (
            &[
                ("FriendlyName", "x"),
                ("ChatServiceSid", &service),
                ("ChannelType", "sms"),
                ("IntegrationType", "studio"),
            ],
            "studio",
        ),
        (
            &[
                ("FriendlyName", "x"),
                ("ChatServiceSid", &service),
                ("ChannelType", "web"),
                ("IntegrationType", "external"),
            ],
            "Integration.Url",
        ),
        (
            &[
                ("FriendlyName", "x"),
                ("ChatServiceSid", &service),
                ("ChannelType", "web"),
                ("IntegrationType", "task"),
                ("Enabled", "maybe"),
            ],
            "Enabled",
        ),
        (
            &[
                ("FriendlyName", "x"),
                ("ChatServiceSid", "IS00000000000000000000000000000000"),
                ("ChannelType", "web"),
                ("IntegrationType", "task"),
            ],
            "ChatServiceSid",
        ),
    ];
    for (form, named) in cases {
        let answer = daemon.post("/flex/v1/FlexFlows", form);
        assert_eq!(answer.status, 400, "{form:?}: {}", answer.body);
        let error = answer.json();
        assert_eq!(error["status"], 400);
        assert!(error["code"].as_u64().is_some());
        assert!(error["more_info"]
            .as_str()
            .unwrap()
            .starts_with("https://www.twilio.com/docs/errors/"));
        assert!(error["message"].as_str().unwrap().contains(named), "{form:?}: {}", answer.body);
    }
    assert_eq!(daemon.get("/flex/v1/FlexFlows").json()["flex_flows"].as_array().unwrap().len(), 1);
}

#[test]
fn a_contact_identity_that_no_message_could_name_is_refused_at_create_and_update() {
    use crate::support::api::{assert_twilio_error, basic, post_bytes};
    let (_temp, daemon) = started();
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "support")]);
    let service = service.json()["sid"].as_str().unwrap().to_owned();
    // The README's old mistake, byte for byte: a `+` sent unencoded is a space in a form.
    let raw = format!(
        "FriendlyName=SMS&ChatServiceSid={service}&ChannelType=sms&ContactIdentity=+15005550006\
         &Enabled=true&IntegrationType=task"
    );
    let form = "application/x-www-form-urlencoded";
    let unencoded =
        post_bytes(&daemon.url("/flex/v1/FlexFlows"), form, raw.as_bytes(), Some(&basic()));
    assert_twilio_error(&unencoded, 400, 20001);
    let message = unencoded.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("E.164") && message.contains("%2B"), "{message}");
    let flow = |channel_type: &str, identity: &str| {
        daemon.post(
            "/flex/v1/FlexFlows",
            &[
                ("FriendlyName", "flow"),
                ("ChatServiceSid", &service),
                ("ChannelType", channel_type),
                ("ContactIdentity", identity),
                ("IntegrationType", "task"),
            ],
        )
    };
    for (channel_type, identity, named) in [
        ("sms", "5005550006", "E.164"),
        ("sms", "+1 500 555 0006", "E.164"),
        ("whatsapp", "+14155238886", "whatsapp: prefix"),
        ("whatsapp", "whatsapp:14155238886", "E.164"),
        ("facebook", "messenger:1029384756", "Page id"),
    ] {
        let refused = flow(channel_type, identity);
        assert_twilio_error(&refused, 400, 20001);
        assert!(refused.body.contains(named), "{channel_type} {identity:?}: {}", refused.body);
    }
    assert!(daemon.get("/flex/v1/FlexFlows").json()["flex_flows"].as_array().unwrap().is_empty());

    // Whitespace around a good address is not part of it.
    let created = flow("sms", " +15005550006\n");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["contact_identity"], "+15005550006");
    let path = format!("/flex/v1/FlexFlows/{}", created.json()["sid"].as_str().unwrap());
    assert_eq!(flow("whatsapp", "whatsapp:+14155238886").status, 201);
    assert_eq!(flow("whatsapp", "106540352242922").status, 201, "a Cloud API phone_number_id");

    let update = daemon.post(&path, &[("ContactIdentity", "15005550006")]);
    assert_twilio_error(&update, 400, 20001);
    let moved = daemon.post(&path, &[("ChannelType", "facebook")]);
    assert_twilio_error(&moved, 400, 20001);
    assert!(moved.body.contains("Page id"), "the identity is checked for the new type too");
    assert_eq!(daemon.get(&path).json()["contact_identity"], "+15005550006", "unchanged");
    assert_eq!(daemon.get(&path).json()["channel_type"], "sms");
}

#[test]
fn the_api_denies_by_default() {
    let (_temp, daemon) = started();
    let anonymous = daemon.get_anonymous("/flex/v1/FlexFlows");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], 20003);
    let wrong = ureq::get(&daemon.url("/flex/v1/FlexFlows"))
        .set("Authorization", "Basic QUM1YjViNWI1YjViNWI1YjViNWI1YjViNWI1YjViNWI1YjViOndyb25n")
        .call();
    assert!(matches!(wrong, Err(ureq::Error::Status(401, _))));
    let unknown = daemon.get("/flex/v1/Nothing");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], 20404);
}

#[test]
fn flow_changes_are_in_the_audit_trail() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    let (_, flow) = daemon.sms_flow(false);
    assert_eq!(
        daemon.post(&format!("/flex/v1/FlexFlows/{flow}"), &[("Enabled", "false")]).status,
        200
    );
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let replay = run(switchboard().args(["replay", "--data-dir"]).arg(&data));
    let lines = replay.assert_ok().lines();
    let flow_events: Vec<_> = lines.iter().filter(|l| l["channel_sid"] == flow.as_str()).collect();
    assert_eq!(flow_events.len(), 2);
    assert_eq!(flow_events[0]["type"], "flow_created");
    assert_eq!(flow_events[1]["type"], "flow_updated");
    assert_eq!(flow_events[1]["fields"]["config"]["enabled"], false);
}
