//! Online backups and restores: a copy taken while writers go on is consistent (it verifies, and
//! holds everything acknowledged before it began), a stream cut short or altered is refused,
//! and a restore puts the copy in place with a `restored` event; anchored heads prove what a
//! folder still holds.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::{channel_sid, channel_with, events, message, TempLog};
use switchboard_domain::{FolderEvent, Recorded, Timestamp};
use switchboard_store::{
    anchor_folder, import_backup, restore_folder, verify_folder, AnyEvent, ChannelLog, EventLog,
    ReplayFilter, ReplayRecord, VerifyOptions,
};

fn export(log: &EventLog) -> (Vec<u8>, switchboard_store::BackupSummary) {
    let mut bytes = Vec::new();
    let summary = log.export("2026-12-06T07:00:00Z", &mut bytes).unwrap();
    (bytes, summary)
}

fn verified(dir: &Path, log: &TempLog, against: Option<switchboard_store::AnchoredHeads>) {
    let options = VerifyOptions { master: Some(log.key.clone()), scratch: None, against };
    let folder = verify_folder(dir, &options, &mut |_| {}).unwrap();
    assert!(folder.report.is_clean(), "{:?} {:?}", folder.report.folder, folder.report.findings);
}

#[test]
fn a_backup_taken_while_writers_go_on_restores_whole_and_consistent() {
    let source = TempLog::new();
    let log = Arc::new(source.open(5));
    for n in 1..=4 {
        channel_with(&log, n, &format!("+1415555000{n}"), 7);
    }
    // Everything acknowledged before the backup began must be in it.
    let before: Vec<Vec<Recorded>> = (1..=4).map(|n| events(&log, channel_sid(n))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut channels: Vec<ChannelLog> =
                (1..=4).map(|n| ChannelLog::load(&log, channel_sid(n)).unwrap()).collect();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let channel = &mut channels[(i % 4) as usize];
                let n = (i % 4) + 1;
                let command = message(n * 1000 + 100 + i, "agent", &format!("during {i}"));
                let done = channel.execute(&log, command, Timestamp(100)).unwrap().unwrap();
                log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
                i += 1;
            }
            i
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(30));
    let (bytes, summary) = export(&log);
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0, "writes went on during the backup");

    let scratch = tempfile::tempdir().unwrap();
    let image = scratch.path().join("backup");
    let imported = import_backup(&mut bytes.as_slice(), &image, false).unwrap();
    assert_eq!(imported.entries, summary.entries);
    assert_eq!(imported.sha256, summary.sha256);
    verified(&image, &source, Some(summary.anchored.clone()));

    let restored = scratch.path().join("restored");
    let done = restore_folder(
        &image,
        &restored,
        source.config(5),
        source.key.clone(),
        Timestamp(500),
        &summary.anchored,
        "2026-12-06T07:00:00Z",
    )
    .unwrap();
    verified(&restored, &source, Some(summary.anchored.clone()));
    let mut config = source.config(5);
    config.path = restored.clone();
    let back = EventLog::open(config, source.key.clone()).unwrap();
    assert_eq!(back.durable_position().records, done.records + 1, "and the restored event");
    for (i, old) in before.iter().enumerate() {
        let now = events(&back, channel_sid(i as u32 + 1));
        assert_eq!(&now[..old.len()], &old[..], "channel {} lost what came before", i + 1);
    }
    let folder_events: Vec<_> = back
        .replay(&ReplayFilter { streams: vec![back.folder_stream()], since: None, until: None })
        .map(|item| item.unwrap())
        .collect();
    assert!(
        matches!(
            &folder_events[..],
            [ReplayRecord::Event {
                event: Recorded { event: AnyEvent::Folder(FolderEvent::Restored { .. }), .. },
                ..
            }]
        ),
        "{folder_events:?}"
    );
}

#[test]
fn a_backup_stream_cut_short_or_altered_is_refused_and_leaves_nothing() {
    let source = TempLog::new();
    let log = source.open(5);
    channel_with(&log, 1, "+14155550001", 3);
    let (bytes, _) = export(&log);
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("backup");
    for cut in [10, bytes.len() / 2, bytes.len() - 1] {
        let refused = import_backup(&mut &bytes[..cut], &target, false).unwrap_err();
        assert!(refused.to_string().contains("cut short"), "{cut}: {refused}");
        assert!(!target.exists(), "a refused backup leaves no folder");
    }
    let mut altered = bytes.clone();
    let at = bytes.len() - 200;
    altered[at] ^= 1;
    assert!(import_backup(&mut altered.as_slice(), &target, false).is_err());
    assert!(!target.exists());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(import_backup(&mut longer.as_slice(), &target, false).is_err());
}

#[test]
fn anchored_heads_catch_a_history_rewritten_whole() {
    let source = TempLog::new();
    let log = source.open(5);
    channel_with(&log, 1, "+14155550001", 4);
    channel_with(&log, 2, "+14155550002", 4);
    log.close().unwrap();
    let anchor = anchor_folder(&source.path(), &source.key, None, "2026-12-06T07:00:00Z").unwrap();
    verified(&source.path(), &source, Some(anchor.clone()));

    // Someone with the folder and the key drops channel 2's last two messages and writes its
    // history again, chain, heads and durable record all consistent: the log alone verifies.
    let log = source.open(5);
    let channel = channel_sid(2);
    let kept: Vec<Recorded> = events(&log, channel);
    log.close().unwrap();
    source.tamper(|tree| {
        for seq in kept.len() as u64 - 2..kept.len() as u64 {
            tree.remove(support::event_key(channel, seq)).unwrap();
        }
        let last = tree.get(support::event_key(channel, kept.len() as u64 - 3)).unwrap().unwrap();
        let mut head = vec![1u8];
        head.extend_from_slice(&(kept.len() as u64 - 2).to_be_bytes());
        head.extend_from_slice(&switchboard_crypto::chain_hash(&last));
        tree.insert(support::stream_key(b'H', channel), head).unwrap();
    });
    let options = VerifyOptions { master: Some(source.key.clone()), ..VerifyOptions::default() };
    let alone = verify_folder(&source.path(), &options, &mut |_| {}).unwrap();
    let shorter: Vec<_> = alone.report.findings.iter().filter(|f| f.stream == channel).collect();
    // Chains and heads alone cannot see it (the durable record's count does here, but a
    // rewriter who holds the folder writes that again too).
    assert!(shorter.is_empty(), "the chain alone cannot see it: {shorter:?}");

    let options = VerifyOptions { against: Some(anchor.clone()), ..options };
    let checked = verify_folder(&source.path(), &options, &mut |_| {}).unwrap();
    let named: Vec<_> = checked.report.findings.iter().map(|f| (f.stream, f.seq)).collect();
    assert!(named.contains(&(channel, kept.len() as u64 - 2)), "{:?}", checked.report.findings);

    // A document altered to match is refused for its signature.
    let mut forged = anchor;
    forged.heads.get_mut(&channel.to_string()).unwrap().records -= 2;
    let options = VerifyOptions { against: Some(forged), ..VerifyOptions::default() };
    let refused = verify_folder(&source.path(), &options, &mut |_| {}).unwrap();
    assert!(
        refused.report.folder.iter().any(|p| p.detail.contains("cannot be trusted")),
        "{:?}",
        refused.report.folder
    );
}
