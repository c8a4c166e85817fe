//! The console's people and sign-in through the real daemon: people added with the CLI and over
//! REST get their Chat user and TaskRouter worker once (a retry doubles nothing), the first
//! start's admin, passwords through one-time links, refused and rate-limited sign-ins, CSRF,
//! the role policy on admin endpoints, console tokens on the WebSocket, sign-out everywhere, and
//! the audit events in the log. The sign-in page in Chromium is in `widget.rs`'s harness
//! (`in_chromium_a_person_signs_in_and_sees_who_they_are`).

use serde_json::Value;

use crate::support::api::{daemon_command, ACCOUNT_SID, AUTH_TOKEN};
use crate::support::console::Session;
use crate::support::openapi::Contract;
use crate::support::{run, switchboard, Daemon};
use base64::Engine as _;

const PASSWORD: &str = "a long enough password";

/// A daemon as on a first start: a Chat service, the Flex workspace and the first admin.
pub fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

fn list(daemon: &Daemon, path: &str, key: &str) -> Vec<Value> {
    let answer = daemon.get(path);
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json()[key].as_array().unwrap().clone()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_else(|| panic!("no {key} in {value}")).to_owned()
}

/// `switchboard people add --role ROLE NAME` against the daemon.
fn cli_add(daemon: &Daemon, role: &str, username: &str) -> crate::support::Run {
    run(switchboard()
        .args(["people", "add", "--role", role, username, "--url", &daemon.base_url])
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN))
}

/// A person added over REST whose password was set through their link; signed in.
pub fn person_signed_in(daemon: &Daemon, username: &str, role: &str) -> Session {
    let added = daemon.add_person(username, role);
    assert_eq!(added.status, 201, "{}", added.body);
    let set = daemon.set_password(&text(&added.json(), "set_password_url"), PASSWORD);
    assert_eq!(set.status, 204, "{}", set.body);
    daemon.signed_in(username, PASSWORD)
}

#[test]
fn people_added_with_the_cli_and_rest_get_a_chat_user_and_a_worker_once() {
    let (_temp, daemon) = started();
    let added = cli_add(&daemon, "agent", "alice");
    added.assert_ok();
    assert!(added.stdout.contains("/console#set-password="), "{}", added.stdout);
    let rest = daemon.add_person("bob", "supervisor");
    assert_eq!(rest.status, 201, "{}", rest.body);
    let contract = Contract::fetch(&daemon);
    contract.check("post", "/admin/v1/People", &rest);
    // A retry of each: the same people, nothing doubled.
    let again = cli_add(&daemon, "agent", "alice");
    again.assert_ok();
    let retried = daemon.add_person("bob", "supervisor");
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.json()["sid"], rest.json()["sid"]);
    assert_eq!(daemon.add_person("bob", "admin").status, 409, "another role is a conflict");
    assert_eq!(daemon.add_person("Bob!", "agent").status, 400);

    contract.check("get", "/admin/v1/People", &daemon.get("/admin/v1/People"));
    let bob = format!("/admin/v1/People/{}", text(&rest.json(), "sid"));
    assert_eq!(
        contract.check("get", "/admin/v1/People/{sid}", &daemon.get(&bob))["username"],
        "bob"
    );
    let people = list(&daemon, "/admin/v1/People", "people");
    let names: Vec<String> = people.iter().map(|p| text(p, "username")).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    let alice = &people[1];
    assert!(added.stdout.contains(&text(alice, "sid")), "{}", added.stdout);
    let (service, workspace) = (text(alice, "chat_service_sid"), text(alice, "workspace_sid"));
    let users = list(&daemon, &format!("/chat/v2/Services/{service}/Users"), "users");
    let identities: Vec<String> = users.iter().map(|u| text(u, "identity")).collect();
    assert_eq!(identities, ["admin", "alice", "bob"]);
    assert_eq!(text(&users[1], "sid"), text(alice, "user_sid"));
    let workers =
        list(&daemon, &format!("/taskrouter/v1/Workspaces/{workspace}/Workers"), "workers");
    let named: Vec<String> = workers.iter().map(|w| text(w, "friendly_name")).collect();
    assert_eq!(named, ["admin", "alice", "bob"]);
    assert_eq!(text(&workers[1], "sid"), text(alice, "worker_sid"));
    let attributes: Value = serde_json::from_str(&text(&workers[1], "attributes")).unwrap();
    assert_eq!(attributes["contact_uri"], "client:alice");
}

#[test]
fn a_wrong_password_is_refused_and_repeated_failures_lock_the_account_for_a_while() {
    let (_temp, daemon) = started();
    let (answer, admin) = daemon.sign_in("admin", &daemon.first_admin_password());
    Contract::fetch(&daemon).check("post", "/console/login", &answer);
    assert_eq!(admin.unwrap().person["person"]["role"], "admin");
    person_signed_in(&daemon, "carol", "agent");
    let (wrong, session) = daemon.sign_in("carol", "not the password at all");
    assert_eq!((wrong.status, session.is_none()), (401, true), "{}", wrong.body);
    let (nobody, _) = daemon.sign_in("nobody", PASSWORD);
    assert_eq!(nobody.status, 401, "an unknown name is refused the same way");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(daemon.sign_in("carol", "still not the password").0.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429]);
    let (locked, session) = daemon.sign_in("carol", PASSWORD);
    assert_eq!(locked.status, 429, "even the right password waits: {}", locked.body);
    assert!(session.is_none());
    assert_eq!(daemon.sign_in("admin", "wrong for admin").0.status, 401, "others are not locked");
    // The two refusals (the failure past the budget, the sign-in after it) are counted.
    let scrape = daemon.get("/metrics");
    let series = "switchboard_rate_limited_total{limit=\"failed_sign_in\"} ";
    let line = scrape.body.lines().find(|l| l.starts_with(series)).expect("the series");
    assert_eq!(line[series.len()..].trim(), "2", "{line}");
}

#[test]
fn a_cookie_alone_changes_nothing_and_an_agent_is_refused_on_admin_endpoints() {
    let (_temp, daemon) = started();
    let agent = person_signed_in(&daemon, "dave", "agent");
    let admin = daemon.signed_in("admin", &daemon.first_admin_password());
    // No CSRF token: refused, and the session still works.
    let forged = daemon.console_post(&agent, "/console/logout", &[], false);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(daemon.console_get(&agent, "/console/me").status, 200);
    let forged = daemon.console_post(
        &admin,
        "/admin/v1/People",
        &[("Username", "eve"), ("Role", "admin")],
        false,
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    // The agent, with a good CSRF token, may not manage people nor reach the operator's API.
    assert_eq!(daemon.console_get(&agent, "/admin/v1/People").status, 403);
    let form = [("Username", "eve"), ("Role", "admin")];
    assert_eq!(daemon.console_post(&agent, "/admin/v1/People", &form, true).status, 403);
    // A session stands for the account on REST routes only if it is an admin's: an agent's is
    // known and refused.
    assert_eq!(daemon.console_get(&agent, "/admin/v1/Heads").status, 403);
    assert_eq!(daemon.console_get(&agent, "/chat/v2/Services").status, 403);
    // The admin may, with the token.
    let made = daemon.console_post(&admin, "/admin/v1/People", &form, true);
    assert_eq!(made.status, 201, "{}", made.body);
    let dave_sid = text(&agent.person["person"], "sid");
    let path = format!("/admin/v1/People/{dave_sid}");
    let promoted = daemon.console_post(&admin, &path, &[("Role", "supervisor")], true);
    assert_eq!(promoted.json()["role"], "supervisor", "{}", promoted.body);
    assert_eq!(daemon.console_get(&agent, "/console/me").json()["person"]["role"], "supervisor");
}

#[test]
fn a_console_token_opens_the_websocket_with_the_person_s_grants() {
    let (_temp, daemon) = started();
    let agent = person_signed_in(&daemon, "frank", "agent");
    let anonymous = daemon.get_anonymous("/console/token");
    assert_eq!(anonymous.status, 401);
    let answer = daemon.console_get(&agent, "/console/token");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = text(&answer.json(), "token");
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap();
    let grants = &claims["grants"];
    assert_eq!(grants["identity"], "frank");
    let person = &agent.person["person"];
    assert_eq!(grants["chat"]["service_sid"], person["chat_service_sid"]);
    assert_eq!(grants["task_router"]["worker_sid"], person["worker_sid"]);
    assert_eq!(grants["task_router"]["workspace_sid"], person["workspace_sid"]);
    assert_eq!(grants["task_router"]["role"], "agent");
    assert!(claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap() <= 600);
    let mut socket = daemon.websocket(Some(&token)).expect("the WebSocket accepts the token");
    let first = crate::support::api::frames(&mut socket, 1);
    assert_eq!(
        first.first().map(|f| (&f["type"], &f["identity"])),
        Some((&"ready".into(), &"frank".into())),
        "{first:?}"
    );
}

#[test]
fn signing_out_everywhere_ends_the_other_sessions_and_signing_out_ends_one() {
    let (_temp, daemon) = started();
    let laptop = person_signed_in(&daemon, "gina", "agent");
    let phone = daemon.signed_in("gina", PASSWORD);
    // A sign-in as a form (a page without script) works as JSON does.
    let form = ureq::post(&daemon.url("/console/login"))
        .send_form(&[("username", "gina"), ("password", PASSWORD)])
        .expect("a form sign-in");
    let cookie = form.header("Set-Cookie").unwrap_or_default().to_owned();
    assert!(cookie.starts_with("sb_console=") && cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict") && !cookie.contains("Secure"), "{cookie}");
    let tablet = daemon.signed_in("gina", PASSWORD);
    assert_eq!(daemon.console_post(&tablet, "/console/logout", &[], true).status, 204);
    assert_eq!(daemon.console_get(&tablet, "/console/me").status, 401, "signed out");
    assert_eq!(daemon.console_get(&phone, "/console/me").status, 200, "only that one");
    let everywhere = daemon.console_post(&laptop, "/console/logout-everywhere", &[], true);
    assert_eq!(everywhere.status, 204, "{}", everywhere.body);
    assert_eq!(daemon.console_get(&phone, "/console/me").status, 401);
    assert_eq!(daemon.console_get(&laptop, "/console/me").status, 401);
    assert_eq!(daemon.console_get(&phone, "/console/token").status, 401);
    daemon.signed_in("gina", PASSWORD);
}

#[test]
fn a_set_password_link_works_once_and_every_sign_in_and_role_change_is_in_the_log() {
    let (temp, daemon) = started();
    let added = daemon.add_person("hana", "agent");
    let link = text(&added.json(), "set_password_url");
    assert_eq!(daemon.set_password(&link, "short").status, 400, "too short");
    assert_eq!(daemon.set_password(&link, PASSWORD).status, 204);
    assert_eq!(daemon.set_password(&link, "another long password").status, 401, "used");
    assert_eq!(daemon.sign_in("hana", "another long password").0.status, 401);
    let hana = daemon.signed_in("hana", PASSWORD);
    assert_eq!(daemon.sign_in("hana", "wrong wrong wrong").0.status, 401);
    let sid = text(&hana.person["person"], "sid");
    let changed = daemon.console_post(
        &daemon.signed_in("admin", &daemon.first_admin_password()),
        &format!("/admin/v1/People/{sid}"),
        &[("Role", "supervisor")],
        true,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let replay = run(switchboard()
        .args(["replay", "--format", "json", "--data-dir"])
        .arg(temp.path().join("data")));
    replay.assert_ok();
    assert!(!replay.stdout.contains("$argon2"), "a password hash is never shown");
    // Nor what acts for a session: its secret and its CSRF token are never stored.
    let secret = hana.cookie.rsplit('.').next().unwrap();
    assert!(!replay.stdout.contains(secret) && !replay.stdout.contains(&hana.csrf));
    // After a restart: the password and the session hold, no second admin is made.
    let mut command = daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    let again = Daemon::start(command);
    assert_eq!(again.console_get(&hana, "/console/me").json()["person"]["role"], "supervisor");
    assert_eq!(again.signed_in("hana", PASSWORD).person["person"]["role"], "supervisor");
    let printed = again.stdout.lock().unwrap().join("\n");
    assert!(!printed.contains("console password:"), "{printed}");
    let types: Vec<String> = replay
        .lines()
        .into_iter()
        .filter(|l| l["channel_sid"].as_str().is_some_and(|s| s == sid))
        .map(|l| text(&l, "type"))
        .collect();
    assert_eq!(
        types,
        [
            "person_created",
            "person_linked",
            "password_link_issued",
            "password_set",
            "sign_in_failed",
            "signed_in",
            "sign_in_failed",
            "role_changed"
        ]
    );
}

/// The daemon started again on the folder of `temp` (as `started` made it).
fn restarted(temp: &tempfile::TempDir, daemon: Daemon) -> Daemon {
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let mut command = daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    command.env("SWITCHBOARD_DURABILITY", "flush");
    Daemon::start(command)
}

#[test]
fn sessions_survive_a_restart_and_signed_out_ones_stay_refused() {
    let (temp, daemon) = started();
    let admin = daemon.signed_in("admin", &daemon.first_admin_password());
    let laptop = person_signed_in(&daemon, "ines", "agent");
    let phone = daemon.signed_in("ines", PASSWORD);
    let tablet = daemon.signed_in("ines", PASSWORD);
    let kiosk = person_signed_in(&daemon, "jon", "agent");
    let desk = daemon.signed_in("jon", PASSWORD);
    assert_eq!(daemon.console_post(&tablet, "/console/logout", &[], true).status, 204);
    let everywhere = daemon.console_post(&kiosk, "/console/logout-everywhere", &[], true);
    assert_eq!(everywhere.status, 204, "{}", everywhere.body);
    let daemon = restarted(&temp, daemon);
    // The same cookies work, and their CSRF tokens still change things.
    for session in [&laptop, &phone] {
        let me = daemon.console_get(session, "/console/me");
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["person"]["username"], "ines");
        assert_eq!(me.json()["csrf_token"].as_str(), Some(session.csrf.as_str()));
    }
    let sid = text(&laptop.person["person"], "sid");
    let changed = daemon.console_post(
        &admin,
        &format!("/admin/v1/People/{sid}"),
        &[("Role", "supervisor")],
        true,
    );
    assert_eq!(changed.status, 200, "the admin's session and CSRF token: {}", changed.body);
    let without = daemon.console_post(&phone, "/console/logout", &[], false);
    assert_eq!(without.status, 403, "a cookie alone still changes nothing");
    // Signed out before the restart: still refused after it.
    assert_eq!(daemon.console_get(&tablet, "/console/me").status, 401, "signed out");
    assert_eq!(daemon.console_get(&kiosk, "/console/me").status, 401, "everywhere");
    assert_eq!(daemon.console_get(&desk, "/console/me").status, 401, "everywhere");
    assert_eq!(daemon.console_get(&desk, "/console/token").status, 401);
    // A sign-out after the restart holds across the next one too.
    assert_eq!(daemon.console_post(&phone, "/console/logout", &[], true).status, 204);
    let desk = daemon.signed_in("jon", PASSWORD);
    let daemon = restarted(&temp, daemon);
    assert_eq!(daemon.console_get(&phone, "/console/me").status, 401);
    assert_eq!(daemon.console_get(&laptop, "/console/me").json()["person"]["role"], "supervisor");
    assert_eq!(daemon.console_get(&desk, "/console/me").status, 200);
    assert_eq!(daemon.console_get(&kiosk, "/console/me").status, 401);
}

/// The sign-in page in real headless Chromium (crates/switchboard-web/ui/e2e/console.mjs, with
/// playwright-core and Debian's `chromium`; screenshots under target/tmp/console-artefacts/):
/// a set-password link, a refused and an accepted sign-in, a reload, sign-out, the spent link.
#[test]
fn in_chromium_a_person_signs_in_and_sees_who_they_are() {
    let (_temp, daemon) = started();
    // A strict CSP: scripts and styles from the daemon's own files only, and the page has no
    // inline script for it to refuse (the scenario fails on any violation the browser reports).
    let page = ureq::get(&daemon.url("/console")).call().unwrap();
    let policy = page.header("Content-Security-Policy").unwrap().to_owned();
    for part in
        ["default-src 'none'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'"]
    {
        assert!(policy.contains(part), "{part} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = page.into_string().unwrap();
    assert_eq!(html.matches("<script").count(), html.matches("<script src=").count(), "{html}");
    assert!(html.contains("<script src="), "{html}");
    let added = daemon.add_person("ivan", "supervisor");
    assert_eq!(added.status, 201, "{}", added.body);
    let artefacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-artefacts");
    let mut scenario = std::process::Command::new("node");
    scenario
        .arg("e2e/console.mjs")
        .current_dir(crate::widget::ui())
        .env("DAEMON", &daemon.base_url)
        .env("LINK", text(&added.json(), "set_password_url"))
        .env("USERNAME", "ivan")
        .env("PASSWORD", PASSWORD)
        .env("ROLE", "supervisor")
        .env("ARTEFACTS", &artefacts)
        .env("CHROMIUM", crate::widget::chromium());
    crate::widget::node_report(&mut scenario, &daemon, "the console scenario");
    assert!(artefacts.join("console-3-signed-in.png").exists());
    // What the page did is what the daemon holds: the password the page set signs in.
    daemon.signed_in("ivan", PASSWORD);
}
