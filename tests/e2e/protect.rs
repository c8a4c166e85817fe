//! The folder's protection through the real binary: `verify` reads without writing, signed heads
//! (`switchboard heads`, `GET /admin/v1/Heads`) catch a history rewritten since, a backup taken
//! while the daemon serves restores whole, and a folder whose log lost acknowledged writes is
//! refused unless the operator accepts the loss, which the audit trail then shows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::api::{daemon_command, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN};
use crate::support::{copy_dir, run, switchboard, Daemon, Run};

fn cli(data: &std::path::Path, args: &[&str]) -> Run {
    run(switchboard().args(args).arg("--data-dir").arg(data))
}

/// Every file under `dir` and its bytes.
fn bytes_of(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A daemon's folder with a flow and `n` customer messages, stopped cleanly.
fn stopped_with_messages(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    daemon.sms_flow(false);
    for i in 0..n {
        let from = format!("+1415555{:04}", 200 + i);
        assert_eq!(daemon.sms(&from, &format!("hello {i}"), &format!("SM{i:032x}")).status, 200);
    }
    assert_eq!(daemon.terminate().0, 0);
    (temp, data)
}

#[test]
fn verify_changes_no_byte_of_the_folder_it_checks_and_refuses_a_live_one() {
    let (_temp, data) = stopped_with_messages(3);
    let before = bytes_of(&data);
    for args in [&["verify"][..], &["verify", "--integrity-only"][..]] {
        let checked = cli(&data, args);
        assert!(checked.assert_ok().stdout.contains("OK"), "{}", checked.stdout);
        assert!(
            checked.stdout.contains("in 3 channels, 3 users, 1 service, 1 flow"),
            "{}",
            checked.stdout
        );
    }
    assert!(bytes_of(&data) == before, "verify wrote to the folder it checked");
    let daemon = Daemon::start(daemon_command(&data));
    let live = cli(&data, &["verify"]);
    assert_eq!(live.code, 2, "a folder in use cannot be checked: {}", live.stdout);
    assert!(live.stderr.contains("in use by a running daemon"), "{}", live.stderr);
    drop(daemon);
}

#[test]
fn signed_heads_catch_a_history_shortened_since_and_only_the_account_may_take_them() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    daemon.sms_flow(false);
    for i in 0..3 {
        assert_eq!(
            daemon.sms("+14155550400", &format!("m{i}"), &format!("SM4{i:031x}")).status,
            200
        );
    }
    let live = daemon.get("/admin/v1/Heads");
    assert_eq!(live.status, 200, "{}", live.body);
    let live = live.json();
    assert_eq!(live["format"], "switchboard-heads/1");
    let key = format!("{API_KEY_SID}:{API_KEY_SECRET}");
    let with_key = crate::support::api::get_bytes(
        &daemon.url("/admin/v1/Heads"),
        Some(&format!("Basic {}", base64_of(&key))),
    );
    assert_eq!(with_key.status, 403, "an API key may not sign heads");
    assert_eq!(daemon.terminate().0, 0);

    // The live document and one taken offline both check against the folder.
    let live_file = temp.path().join("live-heads.json");
    std::fs::write(&live_file, serde_json::to_vec(&live).unwrap()).unwrap();
    let offline_file = temp.path().join("heads.json");
    let written = cli(&data, &["heads", "--out", offline_file.to_str().unwrap()]);
    written.assert_ok();
    for file in [&live_file, &offline_file] {
        let checked = cli(&data, &["verify", "--against", file.to_str().unwrap()]);
        assert!(checked.assert_ok().stdout.contains("and anchored"), "{}", checked.stdout);
    }
    let offline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&offline_file).unwrap()).unwrap();
    assert_eq!(offline["public_key"], live["public_key"], "one key signs both");

    // The customer's channel loses its last record, its head rewritten to match.
    let channel = live["heads"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(sid, head)| sid.starts_with("CH") && head["records"].as_u64().unwrap() > 3)
        .map(|(sid, _)| sid.parse::<switchboard_domain::Sid>().unwrap())
        .unwrap();
    {
        let db = crate::support::raw_sled(&data);
        let mut head_key = vec![b'H'];
        head_key.extend_from_slice(&channel.to_bytes());
        let head = db.get(&head_key).unwrap().unwrap();
        let records = u64::from_be_bytes(head[1..9].try_into().unwrap());
        let record_key = |seq: u64| {
            let mut key = vec![b'E'];
            key.extend_from_slice(&channel.to_bytes());
            key.extend_from_slice(&seq.to_be_bytes());
            key
        };
        db.remove(record_key(records - 1)).unwrap();
        let previous = db.get(record_key(records - 2)).unwrap().unwrap();
        let mut shorter = vec![1u8];
        shorter.extend_from_slice(&(records - 1).to_be_bytes());
        shorter.extend_from_slice(&switchboard_crypto::chain_hash(&previous));
        db.insert(head_key, shorter).unwrap();
        db.flush().unwrap();
    }
    let checked = cli(&data, &["verify", "--against", offline_file.to_str().unwrap()]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert!(checked.stdout.contains(&channel.to_string()), "{}", checked.stdout);
    assert!(checked.stdout.contains("were anchored"), "{}", checked.stdout);
}

#[test]
fn a_backup_taken_while_serving_restores_with_everything_acknowledged_before_it() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    daemon.sms_flow(false);
    let mut before = Vec::new();
    for i in 0..5 {
        let body = format!("before {i}");
        assert_eq!(
            daemon.sms(&format!("+1415555{:04}", 300 + i), &body, &format!("SM3{i:031x}")).status,
            200
        );
        before.push(body);
    }
    // Customers keep writing while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let during = Arc::new(Mutex::new(0u32));
    let writer = {
        let (stop, during, base) =
            (Arc::clone(&stop), Arc::clone(&during), daemon.base_url.clone());
        std::thread::spawn(move || {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let url = format!("{base}/webhooks/twilio");
                let (from, body, sid) =
                    ("+14155550390".to_string(), format!("during {i}"), format!("SM9{i:031x}"));
                let params = [
                    ("From", from.as_str()),
                    ("To", crate::support::api::OUR_NUMBER),
                    ("Body", body.as_str()),
                    ("MessageSid", sid.as_str()),
                ];
                let signature = crate::support::api::twilio_signature(AUTH_TOKEN, &url, &params);
                if ureq::post(&url).set("X-Twilio-Signature", &signature).send_form(&params).is_ok()
                {
                    *during.lock().unwrap() += 1;
                }
            }
        })
    };
    let backup_dir = temp.path().join("backup");
    let taken = run(switchboard()
        .args(["backup", "--url", &daemon.base_url, "--out"])
        .arg(&backup_dir)
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(taken.assert_ok().stdout.contains("verified"), "{}", taken.stdout);
    assert!(*during.lock().unwrap() > 0, "writes went on while the backup was taken");
    assert_eq!(daemon.terminate().0, 0);
    let wrong = run(switchboard()
        .args(["backup", "--url", "http://127.0.0.1:9", "--out"])
        .arg(temp.path().join("nowhere"))
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN));
    assert_eq!(wrong.code, 2, "no daemon there: {}", wrong.stdout);

    // Restored beside the original, with the original's key.
    let key = data.join("master.key");
    let restored = temp.path().join("restored");
    let restore = |target: &std::path::Path, extra: &[&str]| {
        run(switchboard()
            .args(["restore", "--from"])
            .arg(&backup_dir)
            .arg("--data-dir")
            .arg(target)
            .arg("--master-key-file")
            .arg(&key)
            .args(extra))
    };
    assert!(restore(&restored, &[]).assert_ok().stdout.contains("restored the backup"));
    let checked = run(switchboard()
        .args(["verify", "--data-dir"])
        .arg(&restored)
        .arg("--master-key-file")
        .arg(&key));
    checked.assert_ok();
    let replayed = run(switchboard()
        .args(["replay", "--data-dir"])
        .arg(&restored)
        .arg("--master-key-file")
        .arg(&key));
    let lines = replayed.assert_ok().lines();
    for body in &before {
        assert!(lines.iter().any(|l| l["fields"]["body"] == body.as_str()), "{body} restored");
    }
    let restores: Vec<_> = lines.iter().filter(|l| l["type"] == "restored").collect();
    assert_eq!(restores.len(), 1, "the restore is in the folder's audit stream");
    assert!(restores[0]["channel_sid"].as_str().unwrap().starts_with("DF"));

    // A folder already there is never overwritten; --replace moves it aside.
    let refused = restore(&restored, &[]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("--replace"), "{}", refused.stderr);
    restore(&restored, &["--replace"]).assert_ok();
    let aside = std::fs::read_dir(temp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref().unwrap().file_name().to_string_lossy().starts_with("restored.replaced-")
        })
        .count();
    assert_eq!(aside, 1);

    // A damaged backup is refused before anything is put in place.
    let damaged = temp.path().join("damaged-backup");
    copy_dir(&backup_dir, &damaged);
    let mut db = std::fs::read(damaged.join("db")).unwrap();
    let at = db.len() / 3;
    db[at] ^= 0x5A;
    std::fs::write(damaged.join("db"), db).unwrap();
    let from_damaged = run(switchboard()
        .args(["restore", "--from"])
        .arg(&damaged)
        .arg("--data-dir")
        .arg(temp.path().join("never"))
        .arg("--master-key-file")
        .arg(&key));
    assert_eq!(from_damaged.code, 2, "{}", from_damaged.stderr);
    assert!(from_damaged.stderr.contains("does not verify"), "{}", from_damaged.stderr);
    assert!(!temp.path().join("never").exists());
}

#[test]
fn a_log_that_lost_acknowledged_writes_is_refused_until_the_loss_is_accepted_on_record() {
    let (temp, data) = stopped_with_messages(3);
    // The durable record of a longer life of this folder: its log is now behind it, as after a
    // damaged page made sled drop its newest writes.
    let longer = temp.path().join("longer");
    copy_dir(&data, &longer);
    {
        let daemon = Daemon::start(daemon_command(&longer));
        assert_eq!(
            daemon.sms("+14155550500", "after", "SM5000000000000000000000000000000a").status,
            200
        );
        assert_eq!(daemon.terminate().0, 0);
    }
    std::fs::copy(longer.join("durable-positions"), data.join("durable-positions")).unwrap();

    let refused = run(daemon_command(&data).args(["serve", "--listen", "127.0.0.1:0"]));
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("acknowledged writes are missing"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--accept-data-loss"), "{}", refused.stderr);
    let verify = cli(&data, &["verify"]);
    assert_eq!(verify.code, 1);
    assert!(verify.stdout.contains("missing tail"), "{}", verify.stdout);

    let daemon = Daemon::start_with(daemon_command(&data), &["--accept-data-loss"]);
    assert_eq!(daemon.terminate().0, 0);
    // From then on it starts as any folder does, and the audit trail says what was accepted.
    let daemon = Daemon::start(daemon_command(&data));
    assert_eq!(daemon.terminate().0, 0);
    cli(&data, &["verify"]).assert_ok();
    let lines = cli(&data, &["replay"]).assert_ok().lines();
    let accepted: Vec<_> = lines.iter().filter(|l| l["type"] == "loss_accepted").collect();
    assert_eq!(accepted.len(), 1, "{lines:?}");
    assert!(
        accepted[0]["fields"]["acknowledged_records"].as_u64().unwrap()
            > accepted[0]["fields"]["found_records"].as_u64().unwrap()
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
