//! `replay` and `verify` through the binary, on folders the log wrote and on tampered copies.

use switchboard_domain::SidPrefix;

use crate::support::{run, seed_channel, sid, switchboard, Folder};

fn seeded() -> Folder {
    let folder = Folder::new();
    let log = folder.open();
    seed_channel(&log, 1, "+14155550101", 3);
    seed_channel(&log, 2, "+14155550102", 2);
    log.close().unwrap();
    folder
}

#[test]
fn replay_prints_every_event_in_order_as_json_lines() {
    let folder = seeded();
    let lines = folder.cli(&["replay"]).assert_ok().lines();
    // Per channel: created, member joined, then the messages.
    assert_eq!(lines.len(), (2 + 3) + (2 + 2));
    let first = &lines[0];
    assert_eq!(first["channel_sid"], sid(SidPrefix::CHANNEL, 1).to_string());
    assert_eq!(first["seq"], 0);
    assert_eq!(first["type"], "channel_created");
    assert_eq!(first["timestamp"], "2026-11-24T09:00:00Z");
    assert_eq!(first["fields"]["customer_address"], "+14155550101");
    let message = &lines[2];
    assert_eq!(message["type"], "message_added");
    assert_eq!(message["fields"]["body"], "message 0 from +14155550101");
    assert_eq!(message["fields"]["index"], 0);
    for pair in lines.windows(2) {
        if pair[0]["channel_sid"] == pair[1]["channel_sid"] {
            assert_eq!(pair[1]["seq"].as_u64().unwrap(), pair[0]["seq"].as_u64().unwrap() + 1);
        }
    }
}

#[test]
fn replay_filters_by_channel_and_time() {
    let folder = seeded();
    let two = sid(SidPrefix::CHANNEL, 2).to_string();
    let only_two = folder.cli(&["replay", "--channel", &two]).assert_ok().lines();
    assert_eq!(only_two.len(), 4);
    assert!(only_two.iter().all(|l| l["channel_sid"] == two.as_str()));
    // Messages are at 09:01, 09:02, 09:03; the window keeps the second minute only.
    let window = folder
        .cli(&["replay", "--since", "2026-11-24T09:01:30Z", "--until", "2026-11-24T09:02:30Z"])
        .assert_ok()
        .lines();
    assert_eq!(window.len(), 2, "one message per channel at 09:02");
    assert!(window.iter().all(|l| l["timestamp"] == "2026-11-24T09:02:00Z"));
    let text = folder.cli(&["replay", "--format", "text", "--channel", &two]);
    let first = text.assert_ok().stdout.lines().next().unwrap().to_owned();
    assert!(
        first.starts_with(&format!("2026-11-24T09:00:00Z {two} #0 channel_created {{")),
        "{first}"
    );
}

#[test]
fn state_at_shows_the_channel_as_it_was() {
    let folder = seeded();
    let one = sid(SidPrefix::CHANNEL, 1).to_string();
    let early = folder.cli(&["replay", "--channel", &one, "--state-at", "2026-11-24T09:01:30Z"]);
    let early = &early.assert_ok().lines()[0];
    assert_eq!(early["state"]["next_message_index"], 1);
    assert_eq!(early["state"]["events_applied"], 3);
    let seconds = folder.cli(&["replay", "--channel", &one, "--state-at", "1795510920"]);
    assert_eq!(
        seconds.assert_ok().lines()[0]["state"]["next_message_index"],
        2,
        "09:02 in Unix seconds"
    );
    let all = folder.cli(&["replay", "--channel", &one, "--state-at", "2026-11-25T00:00:00Z"]);
    assert_eq!(all.assert_ok().lines()[0]["state"]["next_message_index"], 3);
}

#[test]
fn state_at_a_time_before_a_channel_existed_says_so_and_fails() {
    let folder = seeded();
    let one = sid(SidPrefix::CHANNEL, 1).to_string();
    let before = folder.cli(&["replay", "--channel", &one, "--state-at", "2026-11-24T08:00:00Z"]);
    assert_eq!(before.code, 1, "nothing to show is not a success: {before:?}");
    assert!(before.stdout.is_empty(), "{}", before.stdout);
    assert!(
        before.stderr.contains(&format!(
            "channel {one} did not exist yet at 2026-11-24T08:00:00Z: its first event is at \
             2026-11-24T09:00:00Z"
        )),
        "{}",
        before.stderr
    );
    let unknown = sid(SidPrefix::CHANNEL, 99).to_string();
    let both = folder.cli(&[
        "replay",
        "--channel",
        &one,
        "--channel",
        &unknown,
        "--state-at",
        "2026-11-24T10:00:00Z",
    ]);
    assert_eq!(both.code, 1);
    assert_eq!(both.lines().len(), 1, "the channel that existed is shown");
    assert!(both.stderr.contains(&format!("channel {unknown} has no events")), "{}", both.stderr);
    let folder_before = folder.cli(&["replay", "--state-at", "2026-11-24T08:00:00Z"]);
    assert_eq!(folder_before.code, 1);
    assert!(folder_before.stderr.contains("no channel existed at"), "{}", folder_before.stderr);
    let all = folder.cli(&["replay", "--state-at", "2026-11-24T10:00:00Z"]).assert_ok().lines();
    assert_eq!(all.len(), 2, "one state per channel, none for other streams");
}

#[test]
fn verify_passes_a_clean_folder_with_and_without_keys() {
    let folder = seeded();
    let full = folder.cli(&["verify"]);
    assert!(full.assert_ok().stdout.contains("checked 9 records in 2 channels"), "{}", full.stdout);
    let integrity = run(switchboard()
        .args(["verify", "--integrity-only", "--data-dir"])
        .arg(folder.data_dir()));
    assert!(integrity.assert_ok().stdout.contains("OK"));
    let no_key = run(switchboard().args(["verify", "--data-dir"]).arg(folder.data_dir()));
    assert_eq!(no_key.code, 2, "a full verify without the key is an error, not a pass");
    assert!(no_key.stderr.contains("no master key"), "{}", no_key.stderr);
}

/// Alters one stored record behind the log's back, as an attacker with disk access would.
fn tamper(folder: &Folder, channel: u8, seq: u64, change: impl FnOnce(&mut Vec<u8>)) {
    let db = crate::support::raw_sled(&folder.data_dir());
    let mut key = vec![b'E'];
    key.extend_from_slice(&sid(SidPrefix::CHANNEL, channel).to_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    let mut value = db.get(&key).unwrap().expect("record exists").to_vec();
    change(&mut value);
    db.insert(key, value).unwrap();
    db.flush().unwrap();
}

#[test]
fn verify_names_the_first_bad_record_of_a_tampered_folder() {
    let folder = seeded();
    tamper(&folder, 2, 1, |value| {
        let last = value.len() - 1;
        value[last] ^= 0x40;
    });
    for args in [&["verify"][..], &["verify", "--integrity-only"][..]] {
        let report = folder.cli(args);
        assert_eq!(report.code, 1, "{args:?}: {}", report.stdout);
        let two = sid(SidPrefix::CHANNEL, 2);
        let expected = if args.len() == 1 { format!("{two} #1") } else { format!("{two} #2") };
        assert!(
            report.stdout.contains(&format!("FAILED: first bad record: {expected}")),
            "{args:?}: {}",
            report.stdout
        );
    }
}

#[test]
fn verify_reports_a_truncated_channel() {
    let folder = seeded();
    let db = crate::support::raw_sled(&folder.data_dir());
    let mut key = vec![b'E'];
    key.extend_from_slice(&sid(SidPrefix::CHANNEL, 1).to_bytes());
    key.extend_from_slice(&4u64.to_be_bytes());
    assert!(db.remove(key).unwrap().is_some());
    db.flush().unwrap();
    drop(db);
    let report = folder.cli(&["verify", "--integrity-only"]);
    assert_eq!(report.code, 1);
    assert!(report.stdout.contains("truncated"), "{}", report.stdout);
}

#[test]
fn tools_refuse_a_folder_that_is_not_one() {
    let folder = Folder::new();
    let replay = folder.cli(&["replay"]);
    assert_eq!(replay.code, 2);
    assert!(replay.stderr.contains("not a switchboard data folder"), "{}", replay.stderr);
    assert!(!folder.data_dir().exists(), "the tools never create a data folder");
}
