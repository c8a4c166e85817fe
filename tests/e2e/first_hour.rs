//! The first hour of a new user, through the binary: the log as it reads where it goes, the
//! start banner, the developer commands and the sandbox, the tools that read the daemon's own
//! configuration, and the README's quick start run as written.

use std::io::{BufReader, Read};
use std::path::Path;
use std::process::Stdio;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::support::api::{
    daemon_command, frames, twilio_signature, Response, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID,
    AUTH_TOKEN,
};
use crate::support::fake::FakeServer;
use crate::support::openapi::Contract;
use crate::support::{on_terminal, run, stop_once_listening, switchboard, Daemon, Run};

#[test]
fn the_log_has_colours_on_a_terminal_only() {
    let temp = tempfile::tempdir().unwrap();
    // Piped, as into a file or a journal: plain text.
    let mut piped = switchboard();
    piped.env("SWITCHBOARD_DATA_DIR", temp.path().join("piped")).env("SWITCHBOARD_LOG", "info");
    let (code, stderr) = Daemon::start(piped).terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("INFO"), "the log has lines to colour: {stderr}");
    assert!(!stderr.contains('\x1b'), "no escape codes in a file: {stderr:?}");

    // On a terminal, levels are coloured; NO_COLOR turns that off there too.
    assert!(terminal_log(&temp.path().join("tty"), false).contains("\x1b["));
    let plain = terminal_log(&temp.path().join("tty"), true);
    assert!(plain.contains("INFO") && !plain.contains('\x1b'), "{plain:?}");
}

/// The banner is for a person at a terminal: where it listens, what signatures are checked
/// against, the folder, the key, where replies go, the demo page, how to send a first message.
/// Anywhere else the same facts are one plain log line.
#[test]
fn the_start_banner_is_shown_on_a_terminal_and_a_plain_line_otherwise() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = switchboard();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_DATA_DIR", &data)
        .env("SWITCHBOARD_PUBLIC_URL", "https://chat.example.com/");
    let (code, _, banner) = on_terminal(&mut command, Some(&stop_once_listening));
    assert_eq!(code, 0, "{banner}");
    for expected in [
        format!("switchboard {} (commit ", env!("CARGO_PKG_VERSION")),
        "listening on   http://127.0.0.1:".to_owned(),
        "public URL     https://chat.example.com  (webhook signatures are checked against it)"
            .to_owned(),
        format!("data folder    {}", data.display()),
        "a DEVELOPMENT key".to_owned(),
        "SANDBOX".to_owned(),
        "demo page      https://chat.example.com/".to_owned(),
        "switchboard dev sms --from".to_owned(),
    ] {
        assert!(banner.contains(&expected), "{expected:?} in:\n{banner}");
    }

    // Piped, as into a journal: no banner, the facts on the log's line.
    let mut piped = switchboard();
    piped
        .env("SWITCHBOARD_DATA_DIR", &data)
        .env("SWITCHBOARD_PUBLIC_URL", "https://chat.example.com/")
        .env("SWITCHBOARD_LOG", "info");
    let (code, log) = Daemon::start(piped).terminate();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("listening on   ") && !log.contains("first message"), "{log}");
    let line = log.lines().find(|l| l.contains("switchboard serving")).expect(&log);
    for field in [
        "public_url=https://chat.example.com".to_owned(),
        format!("data_dir={}", data.display()),
        "development_key=true".to_owned(),
        "demo_page=https://chat.example.com/".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} in {line}");
    }
}

/// What `serve` writes to its stderr when that is a pseudo-terminal, from start to a clean stop.
fn terminal_log(data: &std::path::Path, no_color: bool) -> String {
    let mut command = switchboard();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_DATA_DIR", data)
        .env("SWITCHBOARD_LOG", "info");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let (code, _, terminal) = on_terminal(&mut command, Some(&stop_once_listening));
    assert_eq!(code, 0, "{terminal}");
    terminal
}

/// The daemon's stderr once `text` is in it `times` times (or after a deadline, as it is then).
fn stderr_with(daemon: &Daemon, text: &str, times: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while daemon.stderr().matches(text).count() < times && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    daemon.stderr()
}

/// A daemon's REST API with the credentials `switchboard dev env` gave for it.
struct Rest {
    url: String,
    auth_token: String,
    authorization: String,
}

impl Rest {
    /// `switchboard dev env` on `data`: the address and the credentials the daemon keeps there.
    fn of(data: &Path) -> (Rest, Run) {
        let env = run(switchboard().args(["dev", "env", "--data-dir"]).arg(data));
        env.assert_ok();
        let value = |name: &str| {
            let line = env.stdout.lines().find(|l| l.starts_with(&format!("{name}="))).unwrap();
            line[name.len() + 1..].trim_matches('\'').to_owned()
        };
        let pair = format!("{}:{}", value("AC"), value("TOKEN"));
        let authorization = format!("Basic {}", BASE64.encode(pair));
        (Rest { url: value("URL"), auth_token: value("TOKEN"), authorization }, env)
    }

    fn get(&self, path: &str) -> Response {
        answer(
            ureq::get(&format!("{}{path}", self.url))
                .set("Authorization", &self.authorization)
                .call(),
        )
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let request = ureq::post(&format!("{}{path}", self.url));
        answer(request.set("Authorization", &self.authorization).send_form(form))
    }

    /// A Chat Service with an enabled task flow of `channel_type` for each identity; returns it.
    fn service_with_flows(&self, flows: &[(&str, &str)]) -> String {
        let service = self.post("/chat/v2/Services", &[("FriendlyName", "support")]);
        assert_eq!(service.status, 201, "{}", service.body);
        let service = service.json()["sid"].as_str().unwrap().to_owned();
        for (channel_type, identity) in flows {
            let form = [
                ("FriendlyName", *channel_type),
                ("ChatServiceSid", service.as_str()),
                ("ChannelType", channel_type),
                ("ContactIdentity", identity),
                ("Enabled", "true"),
                ("IntegrationType", "task"),
            ];
            let flow = self.post("/flex/v1/FlexFlows", &form);
            assert_eq!(flow.status, 201, "{}", flow.body);
        }
        service
    }
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Response {
    match result {
        Ok(r) => Response { status: r.status(), body: r.into_string().unwrap() },
        Err(ureq::Error::Status(status, r)) => {
            Response { status, body: r.into_string().unwrap_or_default() }
        }
        Err(error) => panic!("request failed: {error}"),
    }
}

/// A daemon started as a new user starts it: nothing configured but its folder (its key and its
/// credentials made on first start), so replies go to the sandbox. The provider APIs point at a
/// fake that must never be called.
fn sandboxed(temp: &tempfile::TempDir, provider: &FakeServer) -> Daemon {
    let mut command = switchboard();
    command
        .env("SWITCHBOARD_DATA_DIR", temp.path().join("data"))
        .env("SWITCHBOARD_LOG", "info")
        .env("SWITCHBOARD_TWILIO_API_BASE", &provider.url)
        .env("SWITCHBOARD_GRAPH_API_BASE", &provider.url);
    Daemon::start(command)
}

/// `switchboard dev KIND ARGS` on the folder of `temp`: the channel it printed.
fn dev(temp: &tempfile::TempDir, kind: &str, args: &[&str]) -> (String, Run) {
    let posted = run(switchboard()
        .args(["dev", kind])
        .args(args)
        .arg("--data-dir")
        .arg(temp.path().join("data")));
    posted.assert_ok();
    let channel = posted.stdout.trim().to_owned();
    assert!(channel.starts_with("CH") && channel.len() == 34, "{posted:?}");
    (channel, posted)
}

#[test]
fn dev_commands_post_signed_webhooks_and_replies_go_to_the_sandbox_only() {
    let temp = tempfile::tempdir().unwrap();
    let provider = FakeServer::start();
    let daemon = sandboxed(&temp, &provider);
    let (rest, env) = Rest::of(&temp.path().join("data"));
    assert_eq!(rest.url, daemon.base_url);
    assert!(env.stderr.contains("auth token from the data folder"), "{}", env.stderr);
    let service = rest.service_with_flows(&[
        ("sms", "+15005550006"),
        ("whatsapp", "whatsapp:+14155238886"),
        ("whatsapp", "106540352242922"),
        ("facebook", "1029384756"),
    ]);
    let (sms, posted) = dev(&temp, "sms", &["--from", "+15551230001", "--body", "hi by SMS"]);
    assert!(posted.stderr.contains("signed with the Twilio auth token from the data folder"));
    let (over_twilio, _) = dev(
        &temp,
        "whatsapp",
        &["--to", "whatsapp:+14155238886", "--from", "+15551230002", "--body", "hola"],
    );
    let (cloud, posted) = dev(
        &temp,
        "whatsapp",
        &["--to", "106540352242922", "--from", "+15551230003", "--body", "olá"],
    );
    assert!(posted.stderr.contains("Meta app secret from the data folder"), "{}", posted.stderr);
    let (page, _) = dev(&temp, "messenger", &["--from", "5551230004", "--body", "salut"]);
    let customers = [
        (&sms, "+15551230001", "hi by SMS"),
        (&over_twilio, "whatsapp:+15551230002", "hola"),
        (&cloud, "whatsapp:+15551230003", "olá"),
        (&page, "messenger:5551230004", "salut"),
    ];
    for (channel, customer, body) in customers {
        let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
        let messages = rest.get(&path).json()["messages"].as_array().unwrap().clone();
        assert_eq!(
            (messages[0]["from"].as_str(), messages[0]["body"].as_str()),
            (Some(customer), Some(body))
        );
        let reply = rest.post(&path, &[("From", "agent.alice"), ("Body", &format!("re: {body}"))]);
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    // An MMS whose medium is at the provider's own origin: fetched, but without the credentials
    // the daemon made for itself.
    let medium = format!("{}/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", provider.url);
    let params = [
        ("From", "+15551230005"),
        ("To", "+15005550006"),
        ("MessageSid", "SM0000000000000000000000000000f005"),
        ("NumMedia", "1"),
        ("MediaUrl0", medium.as_str()),
        ("MediaContentType0", "image/jpeg"),
    ];
    let webhook = format!("{}/webhooks/twilio", rest.url);
    let signature = twilio_signature(&rest.auth_token, &webhook, &params);
    let mms = answer(ureq::post(&webhook).set("X-Twilio-Signature", &signature).send_form(&params));
    assert_eq!(mms.status, 200, "{}", mms.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while provider.requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // `dev sandbox` waits for the four replies, and shows each as the customer would get it.
    let shown = run(switchboard()
        .args(["dev", "sandbox", "--at-least", "4", "--data-dir"])
        .arg(temp.path().join("data")));
    let lines: Vec<&str> = shown.assert_ok().stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", shown.stdout);
    // Each reply as its customer got it: (from, to, in place of, body). Replies in different
    // channels are delivered side by side, so in any order.
    let expected = [
        ("+15005550006", "+15551230001", "Twilio", "re: hi by SMS"),
        ("whatsapp:+14155238886", "whatsapp:+15551230002", "Twilio", "re: hola"),
        ("106540352242922", "+15551230003", "the WhatsApp Cloud API", "re: olá"),
        ("1029384756", "5551230004", "the Messenger Send API", "re: salut"),
    ];
    for (from, to, provider, body) in expected {
        let line = lines.iter().find(|line| line.contains(&format!("{from} -> {to} ")));
        let line = line.unwrap_or_else(|| panic!("no reply to {to}: {}", shown.stdout));
        assert!(line.contains(&format!("in place of {provider}")), "{line}");
        assert!(line.contains(&format!("\"{body}\"")), "{line}");
    }

    // Over REST: the sandbox's list, and each reply delivered by it.
    let listed = rest.get("/admin/v1/Sandbox/Messages");
    assert_eq!(listed.status, 200, "{}", listed.body);
    Contract::fetch(&daemon).check("get", "/admin/v1/Sandbox/Messages", &listed);
    let listed = listed.json()["messages"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 4, "{listed:?}");
    for ((from, to, _, _), (channel, _, _)) in expected.into_iter().zip(customers) {
        let entry = listed.iter().find(|entry| entry["to"] == to);
        let entry = entry.unwrap_or_else(|| panic!("no reply to {to}: {listed:?}"));
        assert_eq!(entry["from"].as_str(), Some(from), "{entry}");
        assert_eq!(entry["channel_sid"], channel.as_str());
        assert_eq!(entry["status"], "delivered");
        assert!(entry["sid"].as_str().unwrap().starts_with("SB"));
        let message =
            rest.get(entry["message_url"].as_str().unwrap().strip_prefix(&rest.url).unwrap());
        assert_eq!(message.json()["delivery_status"], "delivered", "{}", message.body);
        assert_eq!(message.json()["from"], "agent.alice");
    }
    // Loudly: at the start, and once for every reply.
    let each = "SANDBOX: a reply was delivered to the local sandbox";
    let log = stderr_with(&daemon, each, 4);
    assert!(log.contains("SANDBOX: no upstream provider credentials are configured"), "{log}");
    assert_eq!(log.matches(each).count(), 4, "{log}");
    let called = provider.requests();
    assert_eq!(called.len(), 1, "only the medium was fetched, no reply sent: {called:?}");
    assert_eq!((called[0].method.as_str(), called[0].header("Authorization")), ("GET", None));
}

#[test]
fn a_daemon_with_provider_credentials_has_no_sandbox() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(daemon_command(&temp.path().join("data")));
    let sandbox = daemon.get("/admin/v1/Sandbox/Messages");
    assert_eq!(sandbox.status, 404, "{}", sandbox.body);
    assert!(sandbox.body.contains("The sandbox is off"), "{}", sandbox.body);
    let shown = run(switchboard()
        .args(["dev", "sandbox", "--data-dir"])
        .arg(temp.path().join("data"))
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN));
    assert_eq!(shown.code, 2, "{shown:?}");
    assert!(shown.stderr.contains("has none"), "{}", shown.stderr);
    assert!(!daemon.stderr().contains("SANDBOX"), "{}", daemon.stderr());
}

#[test]
fn dev_signs_over_the_public_url_the_daemon_checks_and_names_what_is_missing() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = switchboard();
    command
        .env("SWITCHBOARD_DATA_DIR", &data)
        .env("SWITCHBOARD_PUBLIC_URL", "https://chat.example.com/");
    let _daemon = Daemon::start(command);
    let (rest, _) = Rest::of(&data);
    let no_flow = run(switchboard()
        .args(["dev", "sms", "--from", "+15551230009", "--body", "x", "--data-dir"])
        .arg(&data));
    assert_eq!(no_flow.code, 2);
    assert!(no_flow.stderr.contains("no enabled sms Flex Flow"), "{}", no_flow.stderr);
    rest.service_with_flows(&[("sms", "+15005550006"), ("sms", "+15005550007")]);
    let two = run(switchboard()
        .args(["dev", "sms", "--from", "+15551230009", "--body", "x", "--data-dir"])
        .arg(&data));
    assert!(two.stderr.contains("say which with --to"), "{}", two.stderr);
    let (_, posted) =
        dev(&temp, "sms", &["--to", "+15005550007", "--from", "+15551230009", "--body", "x"]);
    assert!(
        posted.stderr.contains("over https://chat.example.com/webhooks/twilio"),
        "{}",
        posted.stderr
    );
    // A flag wins over the folder: signed with another token, the daemon refuses it.
    let forged = run(switchboard()
        .args(["dev", "sms", "--to", "+15005550007", "--from", "+15551230009", "--body", "x"])
        .args(["--twilio-auth-token", "not-the-daemons", "--data-dir"])
        .arg(&data));
    assert_eq!(forged.code, 2);
    assert!(forged.stderr.contains("HTTP 403"), "{}", forged.stderr);
    let named = "signed with the Twilio auth token from --twilio-auth-token";
    assert!(forged.stderr.contains(named), "{}", forged.stderr);
    // A folder where no daemon runs: the wait, at the listen setting's address, ends with what
    // to do.
    let nowhere = run(switchboard()
        .args(["dev", "env", "--wait", "200ms", "--data-dir"])
        .arg(temp.path().join("elsewhere"))
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:9"));
    assert_eq!(nowhere.code, 2);
    let said =
        "no daemon answers at http://127.0.0.1:9 (waited 200ms): start it with `switchboard serve`";
    assert!(nowhere.stderr.contains(said), "{}", nowhere.stderr);
}

#[test]
fn token_and_replay_take_the_daemons_credentials_from_its_file_or_folder_and_say_so() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // Credentials in the data folder, made on first start.
    let daemon = Daemon::start({
        let mut command = switchboard();
        command.env("SWITCHBOARD_DATA_DIR", &data);
        command
    });
    let minted =
        run(switchboard().args(["token", "--identity", "agent.alice", "--data-dir"]).arg(&data));
    minted.assert_ok();
    assert!(minted.stderr.contains("account SID from the data folder"), "{}", minted.stderr);
    assert!(minted.stderr.contains("API key from the data folder"), "{}", minted.stderr);
    let mut socket =
        daemon.websocket(Some(minted.stdout.trim())).expect("the token is the daemon's");
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    // An explicit flag still wins.
    let flagged = run(switchboard()
        .args([
            "token",
            "--identity",
            "agent.alice",
            "--api-key-sid",
            "SK00000000000000000000000000000001",
        ])
        .args(["--api-key-secret", "someone-elses", "--data-dir"])
        .arg(&data));
    flagged.assert_ok();
    assert!(flagged.stderr.contains("API key from --api-key-sid"), "{}", flagged.stderr);
    assert!(daemon.websocket(Some(flagged.stdout.trim())).is_err(), "not the daemon's key");
    let half = run(switchboard()
        .args([
            "token",
            "--identity",
            "x",
            "--api-key-sid",
            "SK00000000000000000000000000000001",
            "--data-dir",
        ])
        .arg(&data));
    assert_eq!(half.code, 2);
    assert!(half.stderr.contains("give both in one place"), "{}", half.stderr);

    // replay --url with the folder's credentials.
    let (rest, _) = Rest::of(&data);
    let service = rest.service_with_flows(&[("sms", "+15005550006")]);
    let (channel, _) = dev(&temp, "sms", &["--from", "+15551230010", "--body", "audit me"]);
    assert_eq!(rest.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")).status, 200);
    let remote = run(switchboard()
        .args(["replay", "--url", &daemon.base_url, "--channel", &channel, "--data-dir"])
        .arg(&data));
    let lines = remote.assert_ok().lines();
    assert_eq!(lines[2]["fields"]["body"], "audit me");
    assert!(remote.stderr.contains("auth token from the data folder"), "{}", remote.stderr);
    drop(socket);
    assert_eq!(daemon.terminate().0, 0);

    // Credentials in a configuration file: the tools read it as `serve` did.
    let file = temp.path().join("switchboard.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\naccount_sid = \"{ACCOUNT_SID}\"\nauth_token = \"{AUTH_TOKEN}\"\n\
             api_key_sid = \"{API_KEY_SID}\"\napi_key_secret = \"{API_KEY_SECRET}\"\n",
            temp.path().join("configured").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start({
        let mut command = switchboard();
        command.env("SWITCHBOARD_CONFIG", &file);
        command
    });
    let minted =
        run(switchboard().args(["token", "--identity", "agent.bob", "--config"]).arg(&file));
    minted.assert_ok();
    assert!(minted.stderr.contains("API key from the configuration file"), "{}", minted.stderr);
    let mut socket =
        daemon.websocket(Some(minted.stdout.trim())).expect("the token is the daemon's");
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");

    // Nothing anywhere: the error says where to give it.
    let none = run(switchboard()
        .args(["token", "--identity", "x", "--data-dir"])
        .arg(temp.path().join("empty")));
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("no account SID: give --account-sid (or SWITCHBOARD_ACCOUNT_SID)"),
        "{}",
        none.stderr
    );
    // The folder's credentials open with the daemon's key only.
    let other_key = switchboard_crypto::MasterKey::generate().to_base64();
    let wrong = run(switchboard()
        .args(["token", "--identity", "x", "--data-dir"])
        .arg(&data)
        .env("SWITCHBOARD_MASTER_KEY", &other_key));
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("does not open with this master key"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains(&other_key));
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The commands of the first ```sh block after `heading` (the README's top block with "").
fn commands_after(readme: &str, heading: &str) -> Vec<String> {
    let section = match heading {
        "" => readme,
        _ => &readme[readme.find(heading).unwrap_or_else(|| panic!("README has {heading:?}"))..],
    };
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + section[start..].find("\n```").expect("the block ends");
    section[start..end].replace("\\\n", "").lines().map(str::to_owned).collect()
}

#[test]
fn the_readme_begins_with_the_two_commands_that_start_the_daemon_and_run_every_test() {
    let first: Vec<String> = commands_after(&readme(), "")
        .iter()
        .map(|l| l.split('#').next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(first, ["cargo run -p switchboard -- serve", "cargo test --workspace"]);
}

/// The README's quick start, run as written by bash against the binary under test: a drifting
/// README fails here. `cargo install` is the one line not run: the build already made the binary,
/// and it is first on the PATH. The daemon listens on a port of the system's choosing.
#[test]
fn the_readmes_quick_start_runs_as_written() {
    let commands = commands_after(&readme(), "\n## Quick start\n");
    let installs: Vec<&String> =
        commands.iter().filter(|c| c.starts_with("cargo install")).collect();
    assert_eq!(installs.len(), 1, "the quick start installs the binary once: {commands:?}");
    assert!(
        installs[0].starts_with("cargo install --debug --path crates/switchboard"),
        "the build measured for the first hour: {}",
        installs[0]
    );
    let script: Vec<&str> =
        commands.iter().filter(|c| !c.starts_with("cargo install")).map(String::as_str).collect();
    let temp = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(format!("set -euo pipefail\n{}\n", script.join("\n")))
        .current_dir(temp.path())
        .env("PATH", path)
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:0")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("SWITCHBOARD_")) {
        bash.env_remove(name);
    }
    bash.env("SWITCHBOARD_LISTEN", "127.0.0.1:0");
    let (code, stdout, stderr) = run_as_group(bash, std::time::Duration::from_secs(180));
    let shown = format!(
        "exit {code}\nscript:\n{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        script.join("\n")
    );
    assert_eq!(code, 0, "{shown}");
    // Both sides of the conversation, the reply delivered by the sandbox.
    assert!(stdout.contains(r#"["+15551234567","Hi, where is my order?",null]"#), "{shown}");
    assert!(stdout.contains(r#"["agent.alice","Sorry! Looking now.","delivered"]"#), "{shown}");
    assert!(stdout.contains("delivered by the sandbox in place of Twilio"), "{shown}");
    assert!(stderr.contains("SANDBOX: a reply was delivered to the local sandbox"), "{shown}");
    let token = stdout.lines().find(|l| l.starts_with("eyJ") && l.matches('.').count() == 2);
    assert!(token.is_some(), "an access token: {shown}");
    // The audit trail, read after the clean stop.
    for event in ["channel_created", "message_added", "delivery_status_changed", "member_joined"] {
        assert!(stdout.contains(&format!(" {event} ")), "{event}: {shown}");
    }
}

/// What the README says a person sees in the console before the quick start's stop: the
/// first admin, signed in with the password the first start printed, finds the customer's
/// conversation among the supervisor view's live ones, and watching it shows both messages.
/// Made as the quick start makes it: an SMS flow in the Chat service of the first start.
#[test]
fn the_quick_starts_conversation_is_in_the_console() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    // The first start's service, workspace and admin, as `switchboard serve` makes them.
    command.env("SWITCHBOARD_FIRST_START_DEFAULTS", "true");
    let daemon = Daemon::start(command);
    let services = daemon.get("/chat/v2/Services");
    assert_eq!(services.status, 200, "{}", services.body);
    let service = services.json()["services"][0]["sid"].as_str().unwrap().to_owned();
    let flow = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "SMS"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", crate::support::api::OUR_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
    );
    assert_eq!(flow.status, 201, "{}", flow.body);
    let customer = "+15551234567";
    let sms = daemon.sms(customer, "Hi, where is my order?", "SM000000000000000000000000000f1a57");
    assert_eq!(sms.status, 200, "{}", sms.body);
    let channels = daemon.channels(&service);
    let channel = channels
        .iter()
        .find(|c| c["friendly_name"] == customer)
        .unwrap_or_else(|| panic!("the customer's channel: {channels:?}"))["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"),
        &[("From", "agent.alice"), ("Body", "Sorry! Looking now.")],
    );
    assert_eq!(reply.status, 201, "{}", reply.body);

    let admin = daemon.signed_in("admin", &daemon.first_admin_password());
    let mut listed = serde_json::Value::Null;
    let seen = crate::inbound::wait_for(std::time::Duration::from_secs(10), || {
        let view = daemon.console_get(&admin, "/console/supervisor");
        assert_eq!(view.status, 200, "{}", view.body);
        listed = view.json()["conversations"].clone();
        listed.as_array().unwrap().iter().any(|c| c["channel_sid"] == channel.as_str())
    });
    assert!(seen, "the conversation among the live ones: {listed}");
    let conversation =
        listed.as_array().unwrap().iter().find(|c| c["channel_sid"] == channel.as_str()).unwrap();
    assert_eq!(conversation["customer"], customer, "{conversation}");
    let watched = daemon.console_get(&admin, &format!("/console/monitor/{channel}/messages"));
    assert_eq!(watched.status, 200, "{}", watched.body);
    let watched = watched.json();
    let bodies: Vec<&str> = watched["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{watched}"))
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    // Newest first, as the console pages back from the latest.
    assert_eq!(bodies, ["Sorry! Looking now.", "Hi, where is my order?"], "{watched}");
}

/// Runs `command` as the leader of its own process group, so that whatever it leaves running
/// (the daemon, if a step failed before the script stopped it) is ended with it.
fn run_as_group(
    mut command: std::process::Command,
    limit: std::time::Duration,
) -> (i32, String, String) {
    use std::os::unix::process::CommandExt;
    let mut child = command.process_group(0).spawn().expect("bash runs");
    let pipe = |stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stream).read_to_string(&mut text);
            text
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            break -1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let group = nix::unistd::Pid::from_raw(-i32::try_from(child.id()).unwrap());
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    (code, stdout.join().unwrap(), stderr.join().unwrap())
}
