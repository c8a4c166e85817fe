//! Key operations and reindexing through the binary.

use switchboard_crypto::MasterKey;
use switchboard_domain::{IndexKind, SidPrefix};
use switchboard_store::{Durability, EventLog, StoreConfig};

use crate::support::{run, seed_channel, sid, switchboard, Folder};

fn seeded() -> Folder {
    let folder = Folder::new();
    let log = folder.open();
    seed_channel(&log, 1, "+14155550101", 2);
    seed_channel(&log, 2, "+14155550102", 2);
    log.close().unwrap();
    folder
}

fn open_with(folder: &Folder, key: MasterKey) -> Result<EventLog, switchboard_store::StoreError> {
    let mut config = StoreConfig::new(folder.data_dir());
    config.durability = Durability::Flush;
    EventLog::open(config, key)
}

#[test]
fn generate_writes_a_private_key_and_never_overwrites() {
    let folder = Folder::new();
    let path = folder.temp.path().join("new.key");
    run(switchboard().args(["keys", "generate", "--out"]).arg(&path)).assert_ok();
    let key = MasterKey::load(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let again = run(switchboard().args(["keys", "generate", "--out"]).arg(&path));
    assert_eq!(again.code, 2);
    assert_eq!(MasterKey::load(&path).unwrap().fingerprint(), key.fingerprint());
}

#[test]
fn rotate_rewraps_keys_and_replay_is_unchanged() {
    let folder = seeded();
    let before = folder.cli(&["replay"]).assert_ok().stdout.clone();
    let new_path = folder.temp.path().join("new.key");
    run(switchboard().args(["keys", "generate", "--out"]).arg(&new_path)).assert_ok();
    // Two channel keys, the index key and the system key.
    let rotate = folder.cli(&["keys", "rotate", "--new-key-file", new_path.to_str().unwrap()]);
    assert!(rotate.assert_ok().stdout.contains("re-wrapped 4 keys"), "{}", rotate.stdout);
    let old = folder.cli(&["replay"]);
    assert_eq!(old.code, 2, "the old key no longer opens the folder");
    assert!(old.stderr.contains("sealed under master key"), "{}", old.stderr);
    let after = run(switchboard()
        .args(["replay", "--data-dir"])
        .arg(folder.data_dir())
        .arg("--master-key-file")
        .arg(&new_path));
    assert_eq!(after.assert_ok().stdout, before);
    let with_env = run(switchboard()
        .args(["verify", "--data-dir"])
        .arg(folder.data_dir())
        .env("SWITCHBOARD_MASTER_KEY", std::fs::read_to_string(&new_path).unwrap().trim()));
    with_env.assert_ok();
}

#[test]
fn shred_makes_a_channel_unreadable_and_the_chain_still_verifies() {
    let folder = seeded();
    let one = sid(SidPrefix::CHANNEL, 1).to_string();
    let refused = folder.cli(&["keys", "shred", "--channel", &one]);
    assert_eq!(refused.code, 2, "shredding needs --yes");
    let shred = folder.cli(&["keys", "shred", "--channel", &one, "--yes"]);
    assert!(
        shred.assert_ok().stdout.contains("4 records can never be read again"),
        "{}",
        shred.stdout
    );
    let lines = folder.cli(&["replay", "--channel", &one]).assert_ok().lines();
    assert_eq!(lines.len(), 5);
    assert!(lines[..4].iter().all(|l| l["type"] == "shredded"));
    assert_eq!(lines[4]["type"], "data_erased");
    assert_eq!(lines[4]["fields"]["reason"], "subject_request");
    let verify = folder.cli(&["verify"]);
    assert!(verify.assert_ok().stdout.contains("(4 shredded)"), "{}", verify.stdout);
    let two = sid(SidPrefix::CHANNEL, 2).to_string();
    let other = folder.cli(&["replay", "--channel", &two]).assert_ok().lines();
    assert_eq!(other[2]["fields"]["body"], "message 0 from +14155550102");
    let log = open_with(&folder, folder.key.clone()).unwrap();
    let flow = Some(sid(SidPrefix::FLEX_FLOW, 1));
    assert_eq!(log.lookup(IndexKind::Binding, flow, "+14155550101").unwrap(), None);
    assert!(log.lookup(IndexKind::Binding, flow, "+14155550102").unwrap().is_some());
}

#[test]
fn shred_of_an_unknown_channel_is_refused() {
    let folder = seeded();
    let unknown = sid(SidPrefix::CHANNEL, 99).to_string();
    let shred = folder.cli(&["keys", "shred", "--channel", &unknown, "--yes"]);
    assert_eq!(shred.code, 2);
    assert!(shred.stderr.contains("does not exist"), "{}", shred.stderr);
}

#[test]
fn reindex_rebuilds_lookups_from_the_log() {
    let folder = seeded();
    {
        // Wipe every index entry behind the log's back.
        let db = crate::support::raw_sled(&folder.data_dir());
        let keys: Vec<_> = db.scan_prefix([b'I']).keys().map(Result::unwrap).collect();
        assert!(keys.len() >= 2 + 2, "bindings and latest channels are indexed");
        for key in keys {
            db.remove(key).unwrap();
        }
        db.flush().unwrap();
    }
    let flow = Some(sid(SidPrefix::FLEX_FLOW, 1));
    {
        let log = open_with(&folder, folder.key.clone()).unwrap();
        assert_eq!(log.lookup(IndexKind::Binding, flow, "+14155550102").unwrap(), None);
    }
    let reindex = folder.cli(&["reindex"]);
    assert!(reindex.assert_ok().stdout.contains("reindexed 2 channels"), "{}", reindex.stdout);
    let log = open_with(&folder, folder.key.clone()).unwrap();
    let (channel, _) = log.lookup(IndexKind::Binding, flow, "+14155550102").unwrap().unwrap();
    assert_eq!(channel, sid(SidPrefix::CHANNEL, 2));
    let (latest, _) = log.lookup(IndexKind::LatestChannel, flow, "+14155550101").unwrap().unwrap();
    assert_eq!(latest, sid(SidPrefix::CHANNEL, 1));
    // Inbound provider ids are indexed again too: the router's fallback for what the channels'
    // memories miss.
    let provider = format!("SM{:02x}{:030x}", 1, 1);
    assert_eq!(
        log.lookup(IndexKind::ProviderMessage, None, &provider).unwrap(),
        Some((sid(SidPrefix::CHANNEL, 1), Some(1)))
    );
}

/// `keys shred` reaches the TaskRouter tasks a channel linked: their streams are shredded too,
/// so their attributes (a copy of the customer's data) can never be read again.
#[test]
fn shred_reaches_the_tasks_the_channel_linked() {
    use switchboard_domain::{ChannelCommand, Timestamp};
    use switchboard_routing::task::{TaskCommand, TaskState};
    use switchboard_store::{ChannelLog, StreamLog};

    let folder = seeded();
    let log = folder.open();
    let (channel, task) = (sid(SidPrefix::CHANNEL, 1), sid(SidPrefix::TASK, 1));
    let attributes = r#"{"from":"+14155550101","note":"prefers-mornings-4711"}"#;
    let link = ChannelCommand::LinkTask {
        task_sid: task,
        attributes: attributes.into(),
        priority: 0,
        timeout_secs: 3600,
    };
    let mut linked = ChannelLog::load(&log, channel).unwrap();
    linked.execute(&log, link, Timestamp(1_795_511_000_000)).unwrap().unwrap();
    let create = TaskCommand::Create {
        task_sid: task,
        account_sid: sid(SidPrefix::ACCOUNT, 1),
        workspace_sid: sid(SidPrefix::WORKSPACE, 1),
        workflow_sid: sid(SidPrefix::WORKFLOW, 1),
        task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
        task_channel_unique_name: "chat".into(),
        attributes: attributes.into(),
        priority: 0,
        timeout_secs: 3600,
        at: Timestamp(1_795_511_000_000),
    };
    let mut stream = StreamLog::<TaskState>::new(task);
    stream.execute(&log, create, Timestamp(1_795_511_000_000)).unwrap().unwrap();
    log.close().unwrap();
    assert!(folder.cli(&["replay"]).assert_ok().stdout.contains("4711"), "readable before");

    let one = channel.to_string();
    let shred = folder.cli(&["keys", "shred", "--channel", &one, "--yes"]);
    let said = &shred.assert_ok().stdout;
    assert!(said.contains(&format!("shredded its task {task}")), "{said}");
    let replay = folder.cli(&["replay"]).assert_ok().stdout.clone();
    assert!(!replay.contains("4711"), "{replay}");
    assert!(replay.contains("task_shredded"), "the clear marker: {replay}");
    let verify = folder.cli(&["verify"]);
    verify.assert_ok();
}
