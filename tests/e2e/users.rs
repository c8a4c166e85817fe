//! Chat v2 Users, UserChannels and Roles through the real daemon, and the REST edits of members
//! and messages: Users by SID and identity, users made implicitly when a member joins or a
//! customer writes in, unread counts that move with messages and read horizons, Twilio's
//! default roles, and the rules on deleting roles.

use serde_json::Value;

use crate::support::api::{assert_twilio_error, daemon_command};
use crate::support::Daemon;

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

fn service(daemon: &Daemon) -> String {
    let created = daemon.post("/chat/v2/Services", &[("FriendlyName", "users")]);
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["sid"].as_str().unwrap().to_owned()
}

fn sid(value: &Value) -> String {
    value["sid"].as_str().unwrap().to_owned()
}

#[test]
fn users_are_created_fetched_by_sid_or_identity_listed_updated_and_deleted() {
    let (_temp, daemon) = started();
    let is = service(&daemon);
    let base = format!("/chat/v2/Services/{is}/Users");
    let created = daemon.post(
        &base,
        &[
            ("Identity", "agent.alice"),
            ("FriendlyName", "Alice"),
            ("Attributes", r#"{"team":"a"}"#),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let alice = created.json();
    let us = sid(&alice);
    assert!(us.starts_with("US"), "{alice}");
    assert_eq!(alice["identity"], "agent.alice");
    assert_eq!(alice["friendly_name"], "Alice");
    assert_eq!(alice["attributes"], r#"{"team":"a"}"#);
    assert_eq!(alice["service_sid"], is.as_str());
    assert_eq!(alice["joined_channels_count"], 0);
    let service = daemon.get(&format!("/chat/v2/Services/{is}")).json();
    assert_eq!(alice["role_sid"], service["default_service_role_sid"], "{service}");
    assert_eq!(alice["url"], daemon.url(&format!("{base}/{us}")));
    assert_eq!(alice["links"]["user_channels"], daemon.url(&format!("{base}/{us}/Channels")));

    // The same identity twice is a conflict; no identity is a 400.
    assert_twilio_error(&daemon.post(&base, &[("Identity", "agent.alice")]), 409, 50201);
    assert_twilio_error(&daemon.post(&base, &[("FriendlyName", "nobody")]), 400, 20001);

    let by_identity = daemon.get(&format!("{base}/agent.alice"));
    assert_eq!(by_identity.status, 200, "{}", by_identity.body);
    assert_eq!(by_identity.json()["sid"], us.as_str());
    assert_eq!(daemon.get(&format!("{base}/{us}")).json()["identity"], "agent.alice");

    for n in 0..3 {
        let other = daemon.post(&base, &[("Identity", &format!("agent.{n}"))]);
        assert_eq!(other.status, 201, "{}", other.body);
    }
    let page = daemon.get(&format!("{base}?PageSize=2")).json();
    assert_eq!(page["users"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["meta"]["key"], "users");
    let next = page["meta"]["next_page_url"].as_str().unwrap();
    let rest = daemon.get(next.strip_prefix(&daemon.url("")).unwrap()).json();
    assert_eq!(rest["users"].as_array().unwrap().len(), 2, "{rest}");

    let updated = daemon.post(&format!("{base}/{us}"), &[("FriendlyName", "Alice B")]);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["friendly_name"], "Alice B");
    assert_eq!(updated.json()["attributes"], r#"{"team":"a"}"#, "an update is partial");
    assert_twilio_error(
        &daemon.post(&format!("{base}/{us}"), &[("Attributes", "{nope")]),
        400,
        20001,
    );

    assert_eq!(daemon.delete(&format!("{base}/{us}")).status, 204);
    assert_twilio_error(&daemon.get(&format!("{base}/{us}")), 404, 20404);
    assert_twilio_error(&daemon.get(&format!("{base}/agent.alice")), 404, 20404);
    // The identity is free again.
    assert_eq!(daemon.post(&base, &[("Identity", "agent.alice")]).status, 201);
}

#[test]
fn identities_are_not_stored_in_the_clear() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = daemon_command(&data);
    command.env("SWITCHBOARD_DURABILITY", "flush");
    let daemon = Daemon::start(command);
    let is = service(&daemon);
    let identity = "very.secret.identity@example.com";
    let made = daemon.post(&format!("/chat/v2/Services/{is}/Users"), &[("Identity", identity)]);
    assert_eq!(made.status, 201, "{}", made.body);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let db = crate::support::raw_sled(&data);
    for entry in db.iter() {
        let (key, value) = entry.unwrap();
        for bytes in [&key[..], &value[..]] {
            assert!(
                !bytes.windows(identity.len()).any(|w| w == identity.as_bytes()),
                "the identity is on disk in the clear"
            );
        }
    }
}

#[test]
fn members_and_inbound_customers_get_users_whose_channels_show_unread_counts() {
    let (_temp, daemon) = started();
    let (is, _) = daemon.sms_flow(false);
    let customer = "+14155550701";
    assert_eq!(daemon.sms(customer, "hello", "SM00000000000000000000000000000701").status, 200);
    let users = format!("/chat/v2/Services/{is}/Users");
    let user = daemon.get(&format!("{users}/{}", customer.replace('+', "%2B")));
    assert_eq!(user.status, 200, "the inbound customer has a user: {}", user.body);
    assert_eq!(user.json()["joined_channels_count"], 1);

    let channel =
        daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "team")]);
    let ch = sid(&channel.json());
    let members = format!("/chat/v2/Services/{is}/Channels/{ch}/Members");
    let added = daemon.post(&members, &[("Identity", "agent.bob")]);
    assert_eq!(added.status, 201, "{}", added.body);
    let mb = sid(&added.json());
    let bob = daemon.get(&format!("{users}/agent.bob"));
    assert_eq!(bob.status, 200, "adding a member made the user: {}", bob.body);
    let bob = bob.json();
    assert_eq!(bob["joined_channels_count"], 1);

    let user_channels = format!("{users}/agent.bob/Channels");
    let unread = |daemon: &Daemon| {
        let list = daemon.get(&user_channels).json();
        assert_eq!(list["meta"]["key"], "channels", "{list}");
        let channels = list["channels"].as_array().unwrap().clone();
        assert_eq!(channels.len(), 1, "{list}");
        assert_eq!(channels[0]["channel_sid"], ch.as_str());
        assert_eq!(channels[0]["member_sid"], mb.as_str());
        assert_eq!(channels[0]["user_sid"], bob["sid"]);
        assert_eq!(channels[0]["status"], "joined");
        channels[0]["unread_messages_count"].as_u64().unwrap()
    };
    assert_eq!(unread(&daemon), 0);
    let messages = format!("/chat/v2/Services/{is}/Channels/{ch}/Messages");
    for body in ["one", "two", "three"] {
        assert_eq!(daemon.post(&messages, &[("Body", body), ("From", "agent.carol")]).status, 201);
    }
    assert_eq!(unread(&daemon), 3);
    let horizon = daemon.post(&format!("{members}/{mb}"), &[("LastConsumedMessageIndex", "1")]);
    assert_eq!(horizon.status, 200, "{}", horizon.body);
    assert_eq!(horizon.json()["last_consumed_message_index"], 1);
    assert_eq!(unread(&daemon), 1);
    let one = daemon.get(&format!("{user_channels}/{ch}"));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["last_consumed_message_index"], 1);
    assert_eq!(daemon.post(&messages, &[("Body", "four")]).status, 201);
    assert_eq!(unread(&daemon), 2);

    // The horizon moves through the user's channel too; muting is not kept, so it is refused.
    let through =
        daemon.post(&format!("{user_channels}/{ch}"), &[("LastConsumedMessageIndex", "3")]);
    assert_eq!(through.status, 200, "{}", through.body);
    assert_eq!(through.json()["unread_messages_count"], 0);
    assert_eq!(unread(&daemon), 0);
    let muted = daemon.post(&format!("{user_channels}/{ch}"), &[("NotificationLevel", "muted")]);
    assert_twilio_error(&muted, 400, 20001);

    // Removing the member takes the channel off the user's list.
    assert_eq!(daemon.delete(&format!("{members}/{mb}")).status, 204);
    let after = daemon.get(&user_channels).json();
    assert_eq!(after["channels"].as_array().unwrap().len(), 0, "{after}");
    assert_eq!(daemon.get(&format!("{users}/agent.bob")).json()["joined_channels_count"], 0);
    assert_twilio_error(&daemon.get(&format!("{user_channels}/{ch}")), 404, 20404);
}

#[test]
fn services_have_twilios_default_roles_and_roles_are_managed() {
    let (_temp, daemon) = started();
    let is = service(&daemon);
    let service = daemon.get(&format!("/chat/v2/Services/{is}")).json();
    let roles_path = format!("/chat/v2/Services/{is}/Roles");
    let list = daemon.get(&roles_path).json();
    let roles = list["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 4, "{list}");
    let named = |name: &str| roles.iter().find(|r| r["friendly_name"] == name).unwrap().clone();
    let channel_user = named("channel user");
    let service_user = named("service user");
    let channel_admin = named("channel admin");
    assert_eq!(service["default_channel_role_sid"], channel_user["sid"]);
    assert_eq!(service["default_service_role_sid"], service_user["sid"]);
    assert_eq!(service["default_channel_creator_role_sid"], channel_admin["sid"]);
    assert_eq!(channel_user["type"], "channel");
    assert_eq!(named("service admin")["type"], "deployment");
    let has =
        |role: &Value, p: &str| role["permissions"].as_array().unwrap().iter().any(|x| x == p);
    assert!(has(&channel_user, "sendMessage") && has(&channel_user, "editOwnMessage"));
    assert!(!has(&channel_user, "editAnyMessage"));
    assert!(has(&channel_admin, "editAnyMessage") && has(&channel_admin, "deleteAnyMessage"));
    assert!(has(&service_user, "joinChannel") && has(&service_user, "createChannel"));

    let created = daemon.post(
        &roles_path,
        &[
            ("FriendlyName", "reader"),
            ("Type", "channel"),
            ("Permission", "leaveChannel"),
            ("Permission", "editOwnMessage"),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let reader = created.json();
    let rl = sid(&reader);
    assert!(rl.starts_with("RL"));
    assert_eq!(reader["permissions"], serde_json::json!(["leaveChannel", "editOwnMessage"]));
    assert_eq!(daemon.get(&format!("{roles_path}/{rl}")).json()["friendly_name"], "reader");
    let replaced = daemon.post(&format!("{roles_path}/{rl}"), &[("Permission", "leaveChannel")]);
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.json()["permissions"], serde_json::json!(["leaveChannel"]));
    assert_eq!(daemon.get(&roles_path).json()["roles"].as_array().unwrap().len(), 5);

    // Bad input.
    let bad_type = [("FriendlyName", "x"), ("Type", "galaxy"), ("Permission", "sendMessage")];
    assert_twilio_error(&daemon.post(&roles_path, &bad_type), 400, 20001);
    let bad_permission =
        [("FriendlyName", "x"), ("Type", "channel"), ("Permission", "createChannel")];
    assert_twilio_error(&daemon.post(&roles_path, &bad_permission), 400, 20001);
    assert_twilio_error(
        &daemon.post(&roles_path, &[("FriendlyName", "x"), ("Type", "channel")]),
        400,
        20001,
    );

    // A role in use, or a default one, is not deleted.
    let channel =
        daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "c")]);
    let ch = sid(&channel.json());
    let members = format!("/chat/v2/Services/{is}/Channels/{ch}/Members");
    let member = daemon.post(&members, &[("Identity", "agent.r"), ("RoleSid", &rl)]);
    assert_eq!(member.status, 201, "{}", member.body);
    assert_eq!(member.json()["role_sid"], rl.as_str());
    let refused = daemon.delete(&format!("{roles_path}/{rl}"));
    assert_twilio_error(&refused, 400, 20001);
    assert!(refused.json()["message"].as_str().unwrap().contains("assigned"), "{}", refused.body);
    let default = daemon.delete(&format!("{roles_path}/{}", sid(&channel_user)));
    assert_twilio_error(&default, 400, 20001);
    assert!(default.json()["message"].as_str().unwrap().contains("default"), "{}", default.body);
    // A deployment role is no member's role.
    let wrong_scope =
        daemon.post(&members, &[("Identity", "agent.s"), ("RoleSid", &sid(&service_user))]);
    assert_twilio_error(&wrong_scope, 400, 20001);

    let mb = sid(&member.json());
    let moved = daemon.post(&format!("{members}/{mb}"), &[("RoleSid", &sid(&channel_user))]);
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(daemon.delete(&format!("{roles_path}/{rl}")).status, 204);
    assert_twilio_error(&daemon.get(&format!("{roles_path}/{rl}")), 404, 20404);
}

#[test]
fn members_and_messages_are_updated_and_removed_over_rest() {
    let (_temp, daemon) = started();
    let is = service(&daemon);
    let channel =
        daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "c")]);
    let ch = sid(&channel.json());
    let members = format!("/chat/v2/Services/{is}/Channels/{ch}/Members");
    let member = daemon.post(&members, &[("Identity", "agent.m")]).json();
    let updated = daemon.post(&format!("{members}/agent.m"), &[("Attributes", r#"{"x":1}"#)]);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["attributes"], r#"{"x":1}"#);
    assert_eq!(updated.json()["sid"], member["sid"]);

    let messages = format!("/chat/v2/Services/{is}/Channels/{ch}/Messages");
    let first = daemon.post(&messages, &[("Body", "first"), ("From", "agent.m")]).json();
    let second = daemon.post(&messages, &[("Body", "second")]).json();
    let im = sid(&first);
    let edited = daemon.post(&format!("{messages}/{im}"), &[("Body", "first, edited")]);
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.json()["body"], "first, edited");
    assert_eq!(edited.json()["was_edited"], true);
    assert_eq!(daemon.get(&format!("{messages}/{im}")).json()["body"], "first, edited");
    let attributes =
        daemon.post(&format!("{messages}/{im}"), &[("Attributes", r#"{"pinned":true}"#)]);
    assert_eq!(attributes.json()["attributes"], r#"{"pinned":true}"#);

    assert_eq!(daemon.delete(&format!("{messages}/{}", sid(&second))).status, 204);
    let left: Vec<Value> = daemon.messages(&is, &ch);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_twilio_error(&daemon.get(&format!("{messages}/{}", sid(&second))), 404, 20404);
    assert_twilio_error(&daemon.delete(&format!("{messages}/{}", sid(&second))), 404, 20404);

    assert_twilio_error(
        &daemon.post(&format!("{members}/agent.m"), &[("LastConsumedMessageIndex", "9")]),
        400,
        20001,
    );
    assert_eq!(daemon.delete(&format!("{members}/agent.m")).status, 204);
    assert_twilio_error(&daemon.get(&format!("{members}/agent.m")), 404, 20404);
    // The log holds the edits and removals as events.
    let events = daemon.get(&format!("/admin/v1/Channels/{ch}/Events"));
    assert_eq!(events.status, 200);
    for kind in ["message_edited", "message_removed", "member_updated", "member_left"] {
        assert!(events.body.contains(kind), "no {kind} in {}", events.body);
    }
}

#[test]
fn users_survive_a_restart_verify_and_a_reindex() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let start = || {
        let mut command = daemon_command(&data);
        command.env("SWITCHBOARD_DURABILITY", "flush");
        Daemon::start(command)
    };
    let daemon = start();
    let is = service(&daemon);
    let channel =
        daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "c")]);
    let ch = sid(&channel.json());
    let added = daemon
        .post(&format!("/chat/v2/Services/{is}/Channels/{ch}/Members"), &[("Identity", "agent.z")]);
    assert_eq!(added.status, 201, "{}", added.body);
    let user = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.z")).json();
    assert_eq!(daemon.terminate().0, 0);

    let cli = |args: &[&str]| {
        crate::support::run(crate::support::switchboard().args(args).arg("--data-dir").arg(&data))
    };
    let verified = cli(&["verify"]);
    verified.assert_ok();
    {
        let db = crate::support::raw_sled(&data);
        let keys: Vec<_> = db.scan_prefix([b'I']).keys().map(Result::unwrap).collect();
        for key in keys {
            db.remove(key).unwrap();
        }
        db.flush().unwrap();
    }
    cli(&["reindex"]).assert_ok();

    let daemon = start();
    let again = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.z"));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["sid"], user["sid"]);
    let channels = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.z/Channels")).json();
    assert_eq!(channels["channels"][0]["channel_sid"], ch.as_str(), "{channels}");
    // A second add of the same identity elsewhere reuses the user.
    let other = daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "d")]);
    let ch2 = sid(&other.json());
    daemon.post(
        &format!("/chat/v2/Services/{is}/Channels/{ch2}/Members"),
        &[("Identity", "agent.z")],
    );
    let listed = daemon.get(&format!("/chat/v2/Services/{is}/Users")).json();
    assert_eq!(listed["users"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["users"][0]["joined_channels_count"], 2);
    // Leaving through the user's channel.
    let left = daemon.delete(&format!("/chat/v2/Services/{is}/Users/agent.z/Channels/{ch2}"));
    assert_eq!(left.status, 204, "{}", left.body);
    let after = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.z")).json();
    assert_eq!(after["joined_channels_count"], 1, "{after}");
    let members = daemon.get(&format!("/chat/v2/Services/{is}/Channels/{ch2}/Members")).json();
    assert_eq!(members["members"].as_array().unwrap().len(), 0, "{members}");
}

#[test]
fn a_member_whose_user_was_never_written_gets_it_on_the_next_start_and_deleting_a_user_removes_its_memberships(
) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let start = || {
        let mut command = daemon_command(&data);
        command.env("SWITCHBOARD_DURABILITY", "flush");
        Daemon::start(command)
    };
    let daemon = start();
    let is = service(&daemon);
    let channel =
        daemon.post(&format!("/chat/v2/Services/{is}/Channels"), &[("FriendlyName", "c")]);
    let ch = sid(&channel.json());
    let members = format!("/chat/v2/Services/{is}/Channels/{ch}/Members");
    assert_eq!(daemon.post(&members, &[("Identity", "agent.lost")]).status, 201);
    let lost = sid(&daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.lost")).json());
    assert_eq!(daemon.terminate().0, 0);

    // As if the process had stopped between the channel's append and the user's: the user's
    // stream and its index entry are gone.
    {
        let stream: switchboard_domain::Sid = lost.parse().unwrap();
        let stream = stream.to_bytes();
        let db = crate::support::raw_sled(&data);
        let doomed: Vec<_> = db
            .iter()
            .keys()
            .map(Result::unwrap)
            .filter(|k| k.get(1..19) == Some(&stream[..]) || k.starts_with(&[b'I', 5]))
            .collect();
        assert!(doomed.len() >= 3, "the user's key, records, head and index entry");
        for key in doomed {
            db.remove(key).unwrap();
        }
        db.flush().unwrap();
    }
    let daemon = start();
    let user = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.lost"));
    assert_eq!(user.status, 200, "{}", user.body);
    let user = user.json();
    assert_eq!(user["joined_channels_count"], 1, "{user}");
    let channels = daemon.get(&format!("/chat/v2/Services/{is}/Users/agent.lost/Channels")).json();
    assert_eq!(channels["channels"][0]["channel_sid"], ch.as_str(), "{channels}");

    assert_eq!(daemon.delete(&format!("/chat/v2/Services/{is}/Users/agent.lost")).status, 204);
    let left = daemon.get(&members).json();
    assert_eq!(left["members"].as_array().unwrap().len(), 0, "{left}");
}

/// The users' share of `switchboard_memory_bytes`, as the daemon counts it.
fn users_bytes(daemon: &Daemon) -> f64 {
    let scrape = daemon.get("/metrics");
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    let line =
        scrape.body.lines().find(|l| l.starts_with("switchboard_memory_bytes{holder=\"users\"}"));
    let value = line.and_then(|l| l.rsplit_once(' ')).map(|(_, v)| v.parse().unwrap());
    value.unwrap_or_else(|| panic!("no users figure in:\n{}", scrape.body))
}

/// Issue 20 item 3: a user written lately is held whole; once idle for the hibernation period the
/// directory lets it go and keeps a compact listing of it, and the user reads back from the log
/// unchanged: fetched by SID and identity, listed, updated, and after a restart.
#[test]
fn an_idle_user_is_let_go_and_reads_back_unchanged_over_rest_and_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let start = || {
        let mut command = daemon_command(&data);
        command.env("SWITCHBOARD_DURABILITY", "flush").env("SWITCHBOARD_HIBERNATE_AFTER", "1s");
        Daemon::start(command)
    };
    let daemon = start();
    let is = service(&daemon);
    let base = format!("/chat/v2/Services/{is}/Users");
    let empty = users_bytes(&daemon);
    const USERS: usize = 40;
    for n in 0..USERS {
        let identity = format!("customer.{n}");
        let attributes = format!(r#"{{"n":{n},"note":"a customer of the idle test"}}"#);
        let form = [("Identity", identity.as_str()), ("Attributes", attributes.as_str())];
        let created = daemon.post(&base, &form);
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let held = users_bytes(&daemon) - empty;
    // The users of a page without their URLs, which name the daemon's port.
    let page = |daemon: &Daemon| {
        let mut users = daemon.get(&format!("{base}?PageSize=1000")).json()["users"].clone();
        for user in users.as_array_mut().unwrap() {
            let user = user.as_object_mut().unwrap();
            user.remove("url");
            user.remove("links");
        }
        users
    };
    let before = page(&daemon);
    assert_eq!(before.as_array().unwrap().len(), USERS, "{before}");

    // Let go within the hibernation period and a tick of the directory's (every 5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let idle = loop {
        let now = users_bytes(&daemon) - empty;
        if now * 3.0 < held || std::time::Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(idle * 3.0 < held, "held whole {held} bytes; idle {idle}");
    assert!(idle <= (USERS * 100) as f64, "{idle} bytes for {USERS} idle users");

    // Read back from the log as they were, in a list's page and one by one.
    assert!(page(&daemon) == before, "the users changed once let go");
    let first = &before[0];
    let us = sid(first);
    let fetched = daemon.get(&format!("{base}/{us}")).json();
    assert_eq!(fetched["attributes"], first["attributes"], "{fetched}");
    assert_eq!(fetched["date_updated"], first["date_updated"], "{fetched}");
    assert_eq!(daemon.get(&format!("{base}/customer.0")).json(), fetched);
    // Its history goes on: an update of an idle user keeps what it does not change.
    let updated = daemon.post(&format!("{base}/{us}"), &[("FriendlyName", "First")]);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["friendly_name"], "First");
    assert_eq!(updated.json()["attributes"], first["attributes"]);
    let after_update = page(&daemon);
    daemon.terminate();

    let daemon = start();
    assert!(page(&daemon) == after_update, "the users changed across a restart");
    assert_eq!(daemon.get(&format!("{base}/customer.0")).json()["friendly_name"], "First");
    let listed = users_bytes(&daemon) - empty;
    assert!(listed <= (USERS * 100) as f64, "{listed} bytes for {USERS} users after a start");
}
