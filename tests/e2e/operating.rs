//! Operating the daemon, through the binary: request ids in headers and in the log (into the
//! actors' work), the access log and the JSON log, the log's filter changed while it runs,
//! `--version`, a folder of a newer format refused untouched, and progress on a terminal only.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_domain::SidPrefix;

use crate::support::api::{
    assert_twilio_error, basic, daemon_command, twilio_signature, Response, API_KEY_SECRET,
    API_KEY_SID, AUTH_TOKEN, OUR_NUMBER,
};
use crate::support::{on_terminal, run, seed_channel, switchboard, Daemon, Folder};

fn started(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    (temp, Daemon::start(command))
}

/// The daemon's stderr once it holds `text` (its reader lags behind the answers).
fn log_once(daemon: &Daemon, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon.stderr().contains(text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = daemon.stderr();
    assert!(log.contains(text), "{text:?} never logged:\n{log}");
    log
}

/// A request with headers; the answer's status, `X-Request-Id` and body.
fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> (u16, String, String) {
    let mut request = ureq::request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let answer = match form {
        Some(form) => request.send_form(form),
        None => request.call(),
    };
    let response = match answer {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {url}: {error}"),
    };
    let id = response.header("X-Request-Id").unwrap_or_default().to_owned();
    (response.status(), id, response.into_string().unwrap())
}

fn is_made_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The JSON log's lines about the request `id` (its span's id).
fn lines_of<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["span"]["id"] == id).collect()
}

/// A customer's SMS as Twilio posts it, signed, with a request id.
fn signed_sms(daemon: &Daemon, customer: &str, words: &str, id: &str) -> (u16, String, String) {
    let params = [
        ("From", customer),
        ("To", OUR_NUMBER),
        ("Body", words),
        ("MessageSid", "SM00000000000000000000000000000142"),
        ("NumMedia", "0"),
    ];
    let url = daemon.url("/webhooks/twilio");
    let signature = twilio_signature(AUTH_TOKEN, &url, &params);
    let headers = [("X-Twilio-Signature", signature.as_str()), ("X-Request-Id", id)];
    call("POST", &url, &headers, Some(&params))
}

#[test]
fn requests_are_logged_as_json_with_their_ids_and_nothing_a_stranger_sent() {
    let (_temp, daemon) = started(&[
        ("SWITCHBOARD_LOG_FORMAT", "json"),
        ("SWITCHBOARD_ACCESS_LOG", "true"),
        ("SWITCHBOARD_LOG", "warn,switchboard::access=info,switchboard_actors::channel=debug"),
    ]);
    daemon.sms_flow(false);
    let auth = basic();
    // The client's id is answered and logged; the query string is not.
    let (status, id, body) = call(
        "GET",
        &daemon.url("/chat/v2/Services?PageSize=5&Token=hunter2"),
        &[("Authorization", &auth), ("X-Request-Id", "e2e-rest-1")],
        None,
    );
    assert_eq!((status, id.as_str()), (200, "e2e-rest-1"), "{body}");
    // An id that could forge a log line is replaced; none at all gets one made; errors too.
    let (_, forged, _) =
        call("GET", &daemon.url("/healthz"), &[("X-Request-Id", "x\" level=ERROR")], None);
    let (_, made, _) = call("GET", &daemon.url("/healthz"), &[], None);
    let (status, refused, _) = call("GET", &daemon.url("/chat/v2/Services"), &[], None);
    assert_eq!(status, 401);
    for id in [&forged, &made, &refused] {
        assert!(is_made_id(id), "{id:?}");
    }
    assert_ne!(forged, made);
    // A customer's message: its number and words stay out of the log; the channel's actor logs
    // its append in the request's span.
    let (customer, words) = ("+14155550142", "my card number is 4111 1111");
    let (status, id, body) = signed_sms(&daemon, customer, words, "e2e-inbound-1");
    assert_eq!((status, id.as_str()), (200, "e2e-inbound-1"), "{body}");
    let unmatched = format!("/no/such/{}", crate::support::sid(SidPrefix::CHANNEL, 7));
    let (status, _, _) =
        call("GET", &daemon.url(&unmatched), &[("X-Request-Id", "e2e-last")], None);
    assert_eq!(status, 404);

    let log = log_once(&daemon, "e2e-last");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |id: &str| {
        let found = lines_of(&lines, id);
        let line = found.iter().find(|l| l["target"] == "switchboard::access").expect(id);
        let fields = &line["fields"];
        assert!(fields["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
        (fields["method"].clone(), fields["route"].clone(), fields["status"].clone())
    };
    assert_eq!(access("e2e-rest-1"), ("GET".into(), "/chat/v2/Services".into(), 200.into()));
    assert_eq!(access("e2e-inbound-1"), ("POST".into(), "/webhooks/twilio".into(), 200.into()));
    assert_eq!(access("e2e-last"), ("GET".into(), "unmatched".into(), 404.into()));
    assert_eq!(access(&refused).2, 401);
    let in_actor = lines_of(&lines, "e2e-inbound-1")
        .into_iter()
        .find(|l| l["target"] == "switchboard_actors::channel")
        .unwrap_or_else(|| panic!("no line of the channel actor in the request's span:\n{log}"));
    assert_eq!(in_actor["fields"]["message"], "appended", "{in_actor}");
    for secret in [customer, "4111", "hunter2", "PageSize", AUTH_TOKEN, "/no/such", "level=ERROR"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

/// `POST /admin/v1/Logging` with `Filter`, as the given credentials.
fn set_filter(daemon: &Daemon, user: &str, password: &str, filter: &str) -> Response {
    use base64::Engine as _;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let authorization = format!("Basic {credentials}");
    let (status, _, body) = call(
        "POST",
        &daemon.url("/admin/v1/Logging"),
        &[("Authorization", &authorization)],
        Some(&[("Filter", filter)]),
    );
    Response { status, body }
}

/// A request the access log names by its id.
fn marked(daemon: &Daemon, id: &str) {
    let (status, _, _) = call("GET", &daemon.url("/healthz"), &[("X-Request-Id", id)], None);
    assert_eq!(status, 200);
}

#[test]
fn the_log_filter_changes_by_module_while_the_daemon_runs() {
    let (_temp, daemon) = started(&[("SWITCHBOARD_ACCESS_LOG", "1"), ("SWITCHBOARD_LOG", "warn")]);
    let settings = daemon.get("/admin/v1/Logging");
    assert_eq!(settings.status, 200, "{}", settings.body);
    let settings = settings.json();
    assert_eq!(settings["filter"], "warn");
    assert_eq!(settings["initial_filter"], "warn");
    assert_eq!(settings["format"], "text");
    assert_eq!(settings["access_log"], true);

    marked(&daemon, "quiet-before");
    let (account, token) = (crate::support::api::ACCOUNT_SID, AUTH_TOKEN);
    let louder = set_filter(&daemon, account, token, "warn,switchboard::access=info");
    assert_eq!(louder.status, 200, "{}", louder.body);
    assert_eq!(louder.json()["filter"], "switchboard::access=info,warn");
    marked(&daemon, "loud-now");
    let log = log_once(&daemon, "loud-now");
    let line = log.lines().find(|l| l.contains("loud-now")).unwrap();
    assert!(line.contains("switchboard::access") && line.contains("route=/healthz"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    // The log is in order: a line for the earlier request would be there by now.
    assert!(!log.contains("quiet-before"), "{log}");

    // Refused, and nothing changes: a wrong directive, an API key, no credentials.
    assert_twilio_error(&set_filter(&daemon, account, token, "warn,switchboard=loud"), 400, 20001);
    assert_twilio_error(&set_filter(&daemon, API_KEY_SID, API_KEY_SECRET, "debug"), 403, 20403);
    assert_twilio_error(&set_filter(&daemon, account, "wrong", "debug"), 401, 20003);
    assert_eq!(daemon.get("/admin/v1/Logging").json()["filter"], "switchboard::access=info,warn");
    assert!(log_once(&daemon, "changed through the admin API").contains("filter"));

    // Empty: back to what the daemon started with.
    let back = set_filter(&daemon, account, token, "");
    assert_eq!(back.json()["filter"], "warn", "{}", back.body);
    marked(&daemon, "quiet-after");
    set_filter(&daemon, account, token, "warn,switchboard::access=info");
    marked(&daemon, "loud-again");
    assert!(!log_once(&daemon, "loud-again").contains("quiet-after"));
}

#[test]
fn version_names_the_release_the_commit_and_the_stored_formats() {
    let shown = run(switchboard().arg("--version"));
    shown.assert_ok();
    let text = &shown.stdout;
    assert!(text.starts_with(&format!("switchboard {}\n", env!("CARGO_PKG_VERSION"))), "{text}");
    // The commit the binary was built from, as git says it (unknown only without git).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8(out.stdout).unwrap().trim().to_owned());
    let commit = head.unwrap_or_else(|| "unknown".to_owned());
    assert!(text.contains(&format!("commit          {commit}\n")), "{commit} in {text}");
    for expected in [
        format!(
            "format {} (opens {} to {}",
            switchboard_store::FORMAT_VERSION,
            switchboard_store::OLDEST_FORMAT_VERSION,
            switchboard_store::FORMAT_VERSION
        ),
        format!("log records     version {}", switchboard_store::RECORD_VERSION),
        format!("snapshots       version {}", switchboard_store::SNAPSHOT_VERSION),
        format!("events          schema {}", switchboard_domain::EVENT_SCHEMA_VERSION),
        switchboard_store::HEADS_FORMAT.to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in {text}");
    }
    let short = run(switchboard().arg("-V"));
    assert_eq!(short.stdout.trim(), format!("switchboard {}", env!("CARGO_PKG_VERSION")));
}

/// Every entry of a folder's sled database, to see that nothing changed.
fn entries(dir: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = crate::support::raw_sled(dir);
    let all: Result<Vec<_>, _> =
        db.iter().map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect();
    drop(db);
    all.unwrap()
}

#[test]
fn a_folder_of_a_newer_format_is_refused_with_a_clear_message_and_left_as_it_was() {
    let folder = Folder::new();
    let log = folder.open();
    seed_channel(&log, 1, "+15550001111", 3);
    log.close().unwrap();
    let newer = switchboard_store::FORMAT_VERSION + 1;
    {
        let db = crate::support::raw_sled(&folder.data_dir());
        db.insert(b"Mformat", &[newer][..]).unwrap();
        db.flush().unwrap();
    }
    let before = entries(&folder.data_dir());
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["verify"], &["replay"], &["reindex"]]
    {
        let refused = folder.cli(args);
        assert_eq!(refused.code, 2, "{args:?}: {refused:?}");
        for expected in [
            "written by a newer version of switchboard".to_owned(),
            format!("folder format {newer}"),
            format!("opens formats {} to {}", switchboard_store::OLDEST_FORMAT_VERSION, newer - 1),
            "restore a backup taken before the upgrade".to_owned(),
        ] {
            assert!(
                refused.stderr.contains(&expected),
                "{args:?}: {expected:?} in {}",
                refused.stderr
            );
        }
    }
    assert_eq!(entries(&folder.data_dir()), before, "the folder was changed");
}

#[test]
fn long_tools_show_progress_on_a_terminal_and_plain_lines_elsewhere() {
    let folder = Folder::new();
    let log = folder.open();
    for n in 1..=3 {
        seed_channel(&log, n, &format!("+1555000{n:04}"), 5);
    }
    log.close().unwrap();
    for (args, progress, summary, unit) in [
        (&["verify"][..], "verifying", "3 channels", "records"),
        (&["reindex"], "reindexing", "reindexed 3 channels", "streams"),
        (&["replay"], "replaying", "\"seq\":", "events"),
    ] {
        let mut command = switchboard();
        command
            .args(args)
            .arg("--data-dir")
            .arg(folder.data_dir())
            .arg("--master-key-file")
            .arg(folder.key_file());
        let (code, stdout, terminal) = on_terminal(&mut command, None);
        assert_eq!(code, 0, "{args:?}: {stdout}\n{terminal}");
        assert!(terminal.contains(progress), "{progress:?} on the terminal: {terminal:?}");
        // A bar to an end known before the work: some frame shows it reached, N of N.
        let ends = done_of(&terminal, unit);
        assert!(ends.iter().any(|&(done, of)| done == of && of > 0), "{ends:?} in {terminal:?}");
        assert!(ends.iter().all(|&(_, of)| of == ends[ends.len() - 1].1 || of == 0), "{ends:?}");
        assert!(stdout.contains(summary), "{summary:?} in {stdout}");
        // Piped: the summary alone, no progress and no terminal codes.
        let piped = folder.cli(args);
        piped.assert_ok();
        assert!(piped.stdout.contains(summary), "{piped:?}");
        assert!(!piped.stderr.contains(progress) && !piped.stderr.contains('\x1b'), "{piped:?}");
    }
}

/// Every "N/M unit" a progress bar drew on the terminal, in order.
fn done_of(terminal: &str, unit: &str) -> Vec<(u64, u64)> {
    let suffix = format!(" {unit}");
    let mut found = Vec::new();
    for (at, _) in terminal.match_indices(&suffix) {
        let before = &terminal[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_digit() || c == '/' || c == ','))
            .map_or(0, |i| i + 1);
        let figures = before[start..].replace(',', "");
        if let Some((done, of)) = figures.split_once('/') {
            if let (Ok(done), Ok(of)) = (done.parse(), of.parse()) {
                found.push((done, of));
            }
        }
    }
    found
}

/// `switchboard export ARGS --format FORMAT` with the daemon's credentials.
fn export(args: &[&str], format: &str) -> crate::support::Run {
    run(switchboard()
        .arg("export")
        .args(args)
        .args(["--format", format])
        .env("SWITCHBOARD_ACCOUNT_SID", crate::support::api::ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN))
}

/// A customer's message (removed later) and an agent's reply (edited): returns the channel.
fn a_conversation(daemon: &Daemon, customer: &str) -> String {
    let (service, _) = daemon.sms_flow(false);
    let answer = daemon.sms(customer, "where is my order?", "SM00000000000000000000000000000123");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let messages = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let reply = daemon.post(&messages, &[("From", "agent.alice"), ("Body", "Looking now")]);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply_sid = reply.json()["sid"].as_str().unwrap().to_owned();
    let edited = daemon.post(&format!("{messages}/{reply_sid}"), &[("Body", "Looking now!")]);
    assert_eq!(edited.status, 200, "{}", edited.body);
    let first = daemon.messages(&service, &channel)[0]["sid"].as_str().unwrap().to_owned();
    assert_eq!(daemon.delete(&format!("{messages}/{first}")).status, 204);

    channel
}

#[test]
fn export_gives_a_channels_transcript_from_a_running_daemon_or_its_folder() {
    let (temp, daemon) = started(&[]);
    let customer = "+14155550123";
    let channel = a_conversation(&daemon, customer);
    let live = export(&["--channel", &channel, "--url", &daemon.base_url], "json");
    live.assert_ok();
    let document: Value = serde_json::from_str(&live.stdout).unwrap();
    assert_eq!(document["format"], "switchboard-transcript/1");
    let transcript = &document["channels"][0];
    assert_eq!(transcript["channel_sid"], channel.as_str());
    let shown: Vec<_> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["author"].clone(),
                m["body"].clone(),
                m["earlier_bodies"].clone(),
                m["removed"].clone(),
            )
        })
        .collect();
    let expected = [
        (customer.into(), "where is my order?".into(), serde_json::json!([]), true.into()),
        (
            "agent.alice".into(),
            "Looking now!".into(),
            serde_json::json!(["Looking now"]),
            false.into(),
        ),
    ];
    assert_eq!(shown, expected, "{}", live.stdout);
    let text = export(&["--channel", &channel, "--url", &daemon.base_url], "text");
    text.assert_ok();
    assert!(
        text.stdout.contains(&format!("{customer}: where is my order?  [removed]")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("agent.alice: Looking now!  [edited; before: Looking now]"),
        "{}",
        text.stdout
    );

    // The same from the folder once the daemon stopped.
    assert_eq!(daemon.terminate().0, 0);
    let data = temp.path().join("data");
    let data = data.to_str().unwrap();
    let stopped = export(&["--channel", &channel, "--data-dir", data], "json");
    stopped.assert_ok();
    let from_folder: Value = serde_json::from_str(&stopped.stdout).unwrap();
    assert_eq!(from_folder["channels"], document["channels"]);
    let nothing = crate::support::sid(SidPrefix::CHANNEL, 99).to_string();
    let refused = export(&["--channel", &nothing, "--data-dir", data], "json");
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("has no events here"), "{}", refused.stderr);
}
