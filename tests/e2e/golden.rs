//! The golden log: a small data folder with its key, written once by this version and kept in
//! tests/fixtures/golden. Every future version must replay it to exactly the same lines and verify
//! it clean. To create it (only if it does not exist yet): `SWITCHBOARD_WRITE_GOLDEN=1 cargo test
//! -p switchboard --test e2e golden`.

use std::path::{Path, PathBuf};

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, DeliveryStatus, ErasureReason, Media, MessageSource, NewChannel,
    NewMessage, ProviderError, SidPrefix, TaskOutcome,
};
use switchboard_store::{ChannelLog, Durability, EventLog, StoreConfig};

use crate::support::{at, copy_dir, execute, run, sid, switchboard, Run};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden")
}

/// A scratch copy of the fixture's data folder (sled writes to a folder it opens), and the folder.
fn scratch_copy() -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    copy_dir(&fixture().join("data"), &data);
    std::fs::create_dir_all(data.join("blobs")).unwrap();
    (scratch, data)
}

/// Runs the CLI on the data folder `data` with the fixture's key.
fn cli_on(data: &Path, args: &[&str]) -> Run {
    run(switchboard()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--master-key-file")
        .arg(fixture().join("master.key")))
}

/// Runs the CLI on a scratch copy of the fixture.
fn cli_on_copy(args: &[&str]) -> Run {
    let (_scratch, data) = scratch_copy();
    cli_on(&data, args)
}

fn ensure_fixture() {
    // The tests of this module run in parallel; only one may write a missing fixture.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    if fixture().join("data").exists() {
        return;
    }
    assert!(
        std::env::var_os("SWITCHBOARD_WRITE_GOLDEN").is_some(),
        "tests/fixtures/golden is missing; it is committed, restore it from git"
    );
    write_fixture();
}

#[test]
fn golden_log_replays_identically() {
    ensure_fixture();
    let json = cli_on_copy(&["replay"]);
    json.assert_ok();
    let expected = std::fs::read_to_string(fixture().join("replay.jsonl")).unwrap();
    assert_eq!(json.stdout, expected, "replay of the golden log changed");
    let text = cli_on_copy(&["replay", "--format", "text"]);
    let expected = std::fs::read_to_string(fixture().join("replay.txt")).unwrap();
    assert_eq!(text.assert_ok().stdout, expected, "text replay of the golden log changed");
}

#[test]
fn golden_log_verifies_clean() {
    ensure_fixture();
    let full = cli_on_copy(&["verify"]);
    full.assert_ok();
    assert!(full.stdout.contains("OK"), "{}", full.stdout);
    let lines = std::fs::read_to_string(fixture().join("replay.jsonl")).unwrap().lines().count();
    assert!(
        full.stdout.contains(&format!("checked {lines} records in 3 channels")),
        "{}",
        full.stdout
    );
    assert!(cli_on_copy(&["verify", "--integrity-only"]).assert_ok().stdout.contains("OK"));
}

/// A folder of an older format takes new records after its old ones: the channel's chain runs
/// on across the change of record version, and the old records replay exactly as before.
#[test]
fn golden_log_takes_records_of_the_current_version_after_its_own() {
    ensure_fixture();
    let (_scratch, data) = scratch_copy();
    let key = MasterKey::load(&fixture().join("master.key")).unwrap();
    let log = EventLog::open(StoreConfig::new(data.clone()), key).unwrap();
    let channel = sid(SidPrefix::CHANNEL, 2);
    let mut ch = ChannelLog::load(&log, channel).unwrap();
    let before = ch.state().events_applied;
    execute(
        &log,
        &mut ch,
        message(20, "agent.bob", "Back after the upgrade", MessageSource::Agent),
        at(9_000),
    );
    assert_eq!(ch.state().events_applied, before + 1);
    log.close().unwrap();

    let golden = std::fs::read_to_string(fixture().join("replay.jsonl")).unwrap();
    let verified = cli_on(&data, &["verify"]);
    assert!(
        verified
            .assert_ok()
            .stdout
            .contains(&format!("checked {} records in 3 channels", golden.lines().count() + 1)),
        "{}",
        verified.stdout
    );
    let replay = cli_on(&data, &["replay", "--channel", &channel.to_string()]);
    let lines: Vec<&str> = replay.assert_ok().stdout.lines().collect();
    let old: Vec<&str> =
        golden.lines().filter(|l| l.contains(&format!(r#""channel_sid":"{channel}""#))).collect();
    assert_eq!(&lines[..old.len()], &old[..], "the old records replay as before");
    let added = lines.get(old.len()).expect("the new record is replayed");
    assert!(added.contains(r#""type":"message_added""#), "{added}");
    assert!(added.contains("Back after the upgrade"), "{added}");
    assert_eq!(lines.len(), old.len() + 1);
}

/// The golden log's snapshots are of version 1, from before channels remembered their inbound
/// provider ids: they are passed over, and the state rebuilt from the log knows every id.
#[test]
fn golden_channels_remember_their_provider_ids_despite_older_snapshots() {
    ensure_fixture();
    let (_scratch, data) = scratch_copy();
    let key = MasterKey::load(&fixture().join("master.key")).unwrap();
    let log = EventLog::open(StoreConfig::new(data), key).unwrap();
    let channel = sid(SidPrefix::CHANNEL, 1);
    let loaded = ChannelLog::load(&log, channel).unwrap();
    assert!(loaded.state().events_applied > 4, "past the first snapshot (every 4 events)");
    let found =
        |id: &str| loaded.state().provider_messages.find(id).map(|m| (m.channel_sid, m.index));
    assert_eq!(found("SM00000000000000000000000000000001"), Some((channel, 0)));
    assert_eq!(found("MM00000000000000000000000000000003"), Some((channel, 2)));
    log.close().unwrap();
}

/// The state a channel had at a time. The fixture was written before states remembered inbound
/// provider ids; `provider_messages` was added to it since, the rest is as it was written.
#[test]
fn golden_state_at_a_time_is_stable() {
    ensure_fixture();
    let state = cli_on_copy(&[
        "replay",
        "--state-at",
        "2026-11-24T09:05:00Z",
        "--channel",
        &sid(SidPrefix::CHANNEL, 1).to_string(),
    ]);
    let lines = state.assert_ok().lines();
    assert_eq!(lines.len(), 1);
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("state-at.json")).unwrap())
            .unwrap();
    assert_eq!(lines[0], expected);
}

// Everything below writes the fixture once; it is kept so the content is documented in code.

fn write_fixture() {
    let dir = fixture();
    std::fs::create_dir_all(&dir).unwrap();
    let key = MasterKey::generate();
    key.save_new(&dir.join("master.key")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(scratch.path().join("data"));
    config.durability = Durability::Flush;
    config.snapshot_every = 4;
    let log = EventLog::open(config, key).unwrap();
    write_full_channel(&log);
    write_long_lived_channel(&log);
    write_shredded_channel(&log);
    log.close().unwrap();
    copy_dir(&scratch.path().join("data"), &dir.join("data"));
    let json = cli_on_copy(&["replay"]);
    std::fs::write(dir.join("replay.jsonl"), &json.assert_ok().stdout).unwrap();
    let text = cli_on_copy(&["replay", "--format", "text"]);
    std::fs::write(dir.join("replay.txt"), &text.assert_ok().stdout).unwrap();
    let state = cli_on_copy(&[
        "replay",
        "--state-at",
        "2026-11-24T09:05:00Z",
        "--channel",
        &sid(SidPrefix::CHANNEL, 1).to_string(),
    ]);
    std::fs::write(dir.join("state-at.json"), &state.assert_ok().stdout).unwrap();
}

fn new_channel(n: u8, address: &str, long_lived: bool) -> NewChannel {
    NewChannel {
        channel_sid: sid(SidPrefix::CHANNEL, n),
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Private,
        friendly_name: Some(format!("golden {n}")),
        unique_name: Some(format!("golden-{n}")),
        attributes: format!(r#"{{"channel_type":"sms","from":"{address}","status":"ACTIVE"}}"#),
        created_by: "system".into(),
        flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, n)),
        customer_address: Some(address.into()),
        long_lived,
        janitor_enabled: true,
        carried_provider_messages: Vec::new(),
    }
}

fn message(n: u8, author: &str, body: &str, source: MessageSource) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: author.into(),
        body: body.into(),
        attributes: "{}".into(),
        media: None,
        source,
        provider_message_id: (source == MessageSource::Customer).then(|| format!("SM{n:032x}")),
    })
}

fn write_full_channel(log: &EventLog) {
    let customer = "+14155550101";
    let (mut ch, _) =
        ChannelLog::create(log, new_channel(1, customer, false), at(0)).unwrap().unwrap();
    let steps = vec![
        ChannelCommand::AddMember {
            member_sid: sid(SidPrefix::MEMBER, 1),
            identity: customer.into(),
            role_sid: None,
            attributes: "{}".into(),
        },
        message(1, customer, "Hello, my order is late", MessageSource::Customer),
        ChannelCommand::LinkTask {
            task_sid: sid(SidPrefix::TASK, 1),
            attributes: r#"{"channelType":"sms","name":"+14155550101"}"#.into(),
            priority: 0,
            timeout_secs: 86_400,
        },
        ChannelCommand::AddMember {
            member_sid: sid(SidPrefix::MEMBER, 2),
            identity: "agent.alice".into(),
            role_sid: Some(sid(SidPrefix::ROLE, 1)),
            attributes: r#"{"team":"orders"}"#.into(),
        },
        message(2, "agent.alice", "Sorry about that! Checking now.", MessageSource::Agent),
        ChannelCommand::RecordDelivery { index: 1, status: DeliveryStatus::Sent, error: None },
        ChannelCommand::RecordDelivery { index: 1, status: DeliveryStatus::Delivered, error: None },
        ChannelCommand::EditMessage {
            index: 1,
            body: Some("Sorry about that! Checking your order now.".into()),
            attributes: None,
            edited_by: Some("agent.alice".into()),
        },
        ChannelCommand::PostMessage(NewMessage {
            author: customer.into(),
            body: String::new(),
            attributes: "{}".into(),
            media: Some(Media {
                sid: sid(SidPrefix::MEDIA, 1),
                content_type: "image/jpeg".into(),
                size_bytes: 48_213,
                filename: Some("receipt.jpg".into()),
                provider_ref: Some("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME".into()),
                fetch: false,
            }),
            source: MessageSource::Customer,
            provider_message_id: Some("MM00000000000000000000000000000003".into()),
        }),
        ChannelCommand::UpdateReadHorizon {
            member_sid: sid(SidPrefix::MEMBER, 2),
            last_consumed_index: Some(2),
        },
        message(4, "agent.alice", "Sent a replacement.", MessageSource::Agent),
        ChannelCommand::RecordDelivery {
            index: 3,
            status: DeliveryStatus::Failed,
            error: Some(ProviderError { code: "30003".into(), message: "Unreachable destination handset".into() }),
        },
        ChannelCommand::UpdateAttributes {
            attributes: r#"{"channel_type":"sms","from":"+14155550101","status":"ACTIVE","priority":"high"}"#.into(),
        },
        ChannelCommand::Rename { friendly_name: Some("Order 1234".into()), unique_name: Some("order-1234".into()) },
        ChannelCommand::UpdateMember {
            member_sid: sid(SidPrefix::MEMBER, 2),
            role_sid: None,
            attributes: Some(r#"{"team":"escalations"}"#.into()),
        },
        ChannelCommand::RemoveMessage { index: 0 },
        ChannelCommand::EndTask { task_sid: sid(SidPrefix::TASK, 1), outcome: TaskOutcome::Completed },
        ChannelCommand::RemoveMember { member_sid: sid(SidPrefix::MEMBER, 2) },
    ];
    for (i, step) in steps.into_iter().enumerate() {
        execute(log, &mut ch, step, at(30 * (i as i64 + 1)));
    }
}

fn write_long_lived_channel(log: &EventLog) {
    let customer = "whatsapp:+447700900123";
    let (mut ch, _) =
        ChannelLog::create(log, new_channel(2, customer, true), at(1000)).unwrap().unwrap();
    let steps = vec![
        message(10, customer, "Hi again", MessageSource::Customer),
        ChannelCommand::Deactivate,
        message(11, "system", "This conversation is closed.", MessageSource::System),
        message(12, customer, "One more question", MessageSource::Customer),
        ChannelCommand::LinkTask {
            task_sid: sid(SidPrefix::TASK, 2),
            attributes: "{}".into(),
            priority: 5,
            timeout_secs: 3600,
        },
        ChannelCommand::LinkTask {
            task_sid: sid(SidPrefix::TASK, 3),
            attributes: r#"{"transfer":true}"#.into(),
            priority: 5,
            timeout_secs: 3600,
        },
        ChannelCommand::EndTask {
            task_sid: sid(SidPrefix::TASK, 2),
            outcome: TaskOutcome::Canceled { reason: "transferred".into() },
        },
        ChannelCommand::RetireIfIdle { now: at(1000 + 7200), window_millis: 3_600_000 },
    ];
    for (i, step) in steps.into_iter().enumerate() {
        execute(log, &mut ch, step, at(1000 + 60 * (i as i64 + 1)));
    }
}

fn write_shredded_channel(log: &EventLog) {
    let customer = "messenger:5551234567";
    let (mut ch, _) =
        ChannelLog::create(log, new_channel(3, customer, false), at(2000)).unwrap().unwrap();
    execute(
        log,
        &mut ch,
        message(20, customer, "Please delete my data", MessageSource::Customer),
        at(2060),
    );
    let outcome = ch.shred(log, ErasureReason::SubjectRequest, at(2120)).unwrap();
    log.wait_durable_blocking(outcome.ticket).unwrap();
}
