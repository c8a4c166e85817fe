//! `switchboard serve` as an operator meets it: first start on an empty machine, health checks,
//! graceful stop, one daemon per folder.

use crate::support::{run, switchboard, Daemon};

#[test]
fn first_start_creates_a_private_dev_key_and_answers_health_checks() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = switchboard();
    command.env("SWITCHBOARD_DATA_DIR", &data).env("SWITCHBOARD_LOG", "info");
    let daemon = Daemon::start(command);
    assert_eq!(ureq::get(&daemon.url("/healthz")).call().unwrap().status(), 200);
    assert_eq!(ureq::get(&daemon.url("/readyz")).call().unwrap().into_string().unwrap(), "ready");
    let key_path = data.join("master.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let printed = daemon.stdout.lock().unwrap().join("\n");
    assert!(printed.contains("auth token:") && printed.contains("API key secret:"), "{printed}");
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, 0, "SIGTERM is a clean stop:\n{stderr}");
    assert!(stderr.contains("DEVELOPMENT master key"), "{stderr}");
    assert!(!stderr.contains(key_text.trim()), "the key never reaches the log");

    // The second start reuses the key and the folder.
    let mut again = switchboard();
    again.env("SWITCHBOARD_DATA_DIR", &data);
    let daemon = Daemon::start(again);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key_text);
    let printed = daemon.stdout.lock().unwrap().join("\n");
    assert!(!printed.contains("auth token:"), "credentials are printed once only: {printed}");
    // While it runs, the folder is locked: the tools say so instead of failing obscurely.
    let replay = run(switchboard().args(["replay", "--data-dir"]).arg(&data));
    assert_eq!(replay.code, 2);
    assert!(replay.stderr.contains("in use by a running daemon"), "{}", replay.stderr);
    assert_eq!(daemon.terminate().0, 0);
}

#[test]
fn a_wrong_master_key_stops_the_daemon_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut first = switchboard();
    first.env("SWITCHBOARD_DATA_DIR", &data);
    assert_eq!(Daemon::start(first).terminate().0, 0);
    let other = switchboard_crypto::MasterKey::generate().to_base64();
    let start = run(switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("SWITCHBOARD_MASTER_KEY", &other));
    assert_eq!(start.code, 2);
    assert!(start.stderr.contains("sealed under master key"), "{}", start.stderr);
    assert!(!start.stderr.contains(&other), "the key never reaches the log");
}

#[test]
fn replay_reads_a_live_daemon_with_the_account_credentials() {
    use crate::support::api::{daemon_command, ACCOUNT_SID, AUTH_TOKEN};
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(daemon_command(&temp.path().join("data")));
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+14155550601", "audit me", "SM00000000000000000000000000000601").status,
        200
    );
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let remote = run(switchboard()
        .args(["replay", "--url", &daemon.base_url, "--channel", &channel])
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN));
    let lines = remote.assert_ok().lines();
    let types: Vec<_> = lines.iter().map(|l| l["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["channel_created", "member_joined", "message_added", "task_linked"]);
    assert_eq!(lines[2]["fields"]["body"], "audit me");
    let refused = run(switchboard()
        .args(["replay", "--url", &daemon.base_url, "--channel", &channel])
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", "wrong"));
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
}

#[test]
fn api_keys_made_offline_authenticate_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut first = switchboard();
    first.env("SWITCHBOARD_DATA_DIR", &data);
    assert_eq!(Daemon::start(first).terminate().0, 0);
    let made = run(switchboard().args(["keys", "api-key", "create", "--data-dir"]).arg(&data));
    let out = made.assert_ok().stdout.clone();
    let field =
        |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
    let (sid, secret) = (field("API key SID:"), field("API key secret:"));
    let mut again = switchboard();
    again.env("SWITCHBOARD_DATA_DIR", &data);
    let daemon = Daemon::start(again);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{secret}"))
    );
    let listed =
        ureq::get(&daemon.url("/chat/v2/Services")).set("Authorization", &basic).call().unwrap();
    assert_eq!(listed.status(), 200);
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{sid}:nope"))
    );
    assert!(matches!(
        ureq::get(&daemon.url("/chat/v2/Services")).set("Authorization", &wrong).call(),
        Err(ureq::Error::Status(401, _))
    ));
}

#[test]
fn tls_serves_https_directly() {
    let temp = tempfile::tempdir().unwrap();
    let (cert, key) = crate::support::self_signed_certificate(temp.path(), "127.0.0.1");
    let mut command = switchboard();
    command
        .env("SWITCHBOARD_DATA_DIR", temp.path().join("data"))
        .env("SWITCHBOARD_TLS_CERT", &cert)
        .env("SWITCHBOARD_TLS_KEY", &key);
    let daemon = Daemon::start(command);
    assert!(daemon.base_url.starts_with("https://"), "{}", daemon.base_url);
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    for der in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(der.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let agent = ureq::AgentBuilder::new().tls_config(std::sync::Arc::new(tls)).build();
    let health = agent.get(&daemon.url("/healthz")).call().unwrap();
    assert_eq!(health.status(), 200);
    // Plain HTTP on the TLS port gets nowhere.
    let plain = ureq::get(&daemon.url("/healthz").replacen("https://", "http://", 1)).call();
    assert!(plain.is_err());
    assert_eq!(daemon.terminate().0, 0);
}

/// The `THP_enabled` line of a process's status: 0 once it turned transparent huge pages off.
fn thp_enabled(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("THP_enabled:"))?;
    line.trim().parse().ok()
}

#[test]
fn the_daemon_turns_transparent_huge_pages_off_unless_told_to_keep_the_systems_policy() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // `system` first: it clears a flag this test's process may have passed down, so a 1 here
    // says the kernel has huge pages, and the default's 0 below is then the daemon's doing.
    let mut command = switchboard();
    command.env("SWITCHBOARD_DATA_DIR", &data).env("SWITCHBOARD_HUGE_PAGES", "system");
    let daemon = Daemon::start(command);
    let system = thp_enabled(daemon.child.id());
    assert_eq!(daemon.terminate().0, 0);
    if system != Some(1) {
        eprintln!("this kernel has no transparent huge pages ({system:?}); nothing to check");
        return;
    }
    let mut command = switchboard();
    command.env("SWITCHBOARD_DATA_DIR", &data);
    let daemon = Daemon::start(command);
    assert_eq!(thp_enabled(daemon.child.id()), Some(0), "off by default");
    assert_eq!(daemon.terminate().0, 0);
}
