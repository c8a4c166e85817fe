//! Nothing a customer said or is appears on disk in the clear: message bodies, identities,
//! attributes, unique and friendly names, the customer's phone number, provider ids, file names,
//! sealed secrets and dead letters — in records, snapshots and indexes, after reopening and
//! appending more, and after sled has reclaimed and rewritten its segments. Every byte of every
//! file under the data folder is scanned for each marker.

mod support;

use support::{message, new_channel, sid, TempLog};
use switchboard_domain::{
    ChannelCommand, ChannelState, DeliveryStatus, ErasureReason, Media, MessageSource, NewMessage,
    ProviderError, SidPrefix, Timestamp,
};
use switchboard_store::{ChannelLog, EventLog};

const PHONE: &str = "+14155550123";
const MARKERS: [&str; 14] = [
    PHONE,
    "BODYMARK7f3a",
    "IDENTITYMARK91c2",
    "ATTRIBUTEMARK5d0e",
    "UNIQUEMARKc4b8",
    "FRIENDLYMARK2e61",
    "EDITMARK0b7d",
    "PROVIDERMARK44aa",
    "FILENAMEMARK3c1f",
    "ERRORMARK6e02",
    "SECRETMARK8d9b",
    "DEADLETTERMARK1a5c",
    // The bytes of a stored medium and its content type.
    "MEDIABYTESMARK7c3e",
    "application/x-mediamark",
];

/// The files under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

fn assert_no_markers(temp: &TempLog, when: &str) {
    for marker in MARKERS {
        let hits = files_containing(&temp.path(), marker.as_bytes());
        assert!(hits.is_empty(), "{when}: {marker:?} found in {hits:?}");
    }
    // The scan does see what is stored: the erasure marker is in the clear by design.
    assert!(!files_containing(&temp.path(), b"data_erased").is_empty(), "{when}: scan is blind");
}

/// Channel `n`, full of markers, with `messages` messages; returns it.
fn write_markers(log: &EventLog, n: u32, messages: u32) -> ChannelLog {
    let mut new = new_channel(n, PHONE);
    new.unique_name = Some(format!("UNIQUEMARKc4b8-{n}"));
    new.friendly_name = Some("FRIENDLYMARK2e61".into());
    new.attributes = r#"{"note":"ATTRIBUTEMARK5d0e"}"#.into();
    new.long_lived = true;
    let (mut channel, _) = ChannelLog::create(log, new, Timestamp(1)).unwrap().unwrap();
    let mut at = 2;
    let mut run = |channel: &mut ChannelLog, command| {
        at += 1;
        channel.execute(log, command, Timestamp(at)).unwrap().unwrap();
    };
    for m in 0..4 {
        run(
            &mut channel,
            ChannelCommand::AddMember {
                member_sid: sid(SidPrefix::MEMBER, n * 10 + m),
                identity: format!("IDENTITYMARK91c2-{m}"),
                role_sid: None,
                attributes: r#"{"a":"ATTRIBUTEMARK5d0e"}"#.into(),
            },
        );
    }
    for i in 0..messages {
        let post = ChannelCommand::PostMessage(NewMessage {
            author: "IDENTITYMARK91c2-0".into(),
            body: format!("BODYMARK7f3a {i} from {PHONE}"),
            attributes: r#"{"x":"ATTRIBUTEMARK5d0e"}"#.into(),
            media: (i % 5 == 0).then(|| Media {
                sid: sid(SidPrefix::MEDIA, n * 10_000 + i),
                content_type: "image/png".into(),
                size_bytes: 10,
                filename: Some("FILENAMEMARK3c1f.png".into()),
                provider_ref: None,
                fetch: false,
            }),
            source: MessageSource::Customer,
            provider_message_id: Some(format!("PROVIDERMARK44aa-{n}-{i}")),
        });
        run(&mut channel, post);
    }
    let edit = ChannelCommand::EditMessage {
        index: 0,
        body: Some("EDITMARK0b7d".into()),
        attributes: None,
        edited_by: Some("IDENTITYMARK91c2-1".into()),
    };
    run(&mut channel, edit);
    let delivery = ChannelCommand::RecordDelivery {
        index: 0,
        status: DeliveryStatus::Failed,
        error: Some(ProviderError { code: "1".into(), message: "ERRORMARK6e02".into() }),
    };
    run(&mut channel, delivery);
    let bytes: Vec<u8> = b"MEDIABYTESMARK7c3e ".iter().copied().cycle().take(70_000).collect();
    let media = sid(SidPrefix::MEDIA, n * 10_000);
    log.put_media(
        channel.sid(),
        media,
        "application/x-mediamark",
        Some("FILENAMEMARK3c1f"),
        &bytes,
    )
    .unwrap();
    log.set_secret(&format!("token-{n}"), b"SECRETMARK8d9b").unwrap();
    log.record_dead_letter("outbox", channel.sid(), 1, "DEADLETTERMARK1a5c from +14155550123")
        .unwrap();
    log.flush().unwrap();
    channel
}

#[test]
fn no_customer_value_is_ever_written_in_the_clear() {
    let temp = TempLog::new();
    {
        // Snapshots every 3 events, so there are many; one channel shredded (its clear marker is
        // the scan's control).
        let log = temp.open(3);
        write_markers(&log, 1, 40);
        let doomed = write_markers(&log, 2, 5);
        let done = doomed.shred(&log, ErasureReason::SubjectRequest, Timestamp(99)).unwrap();
        log.wait_durable_blocking(done.ticket).unwrap();
        log.close().unwrap();
    }
    assert_eq!(temp.entries(b'S').len(), 1, "the kept channel has a snapshot");
    // A unique name and 8 media (the customer's binding went with the shredded channel, which
    // took it over); the provider ids are in the snapshots, which the scan covers too.
    let indexed = temp.entries(b'I').len();
    assert!(indexed >= 9, "unique names and media are indexed: {indexed}");
    assert_no_markers(&temp, "after writing");
    {
        let log = temp.open(3);
        let mut channel = ChannelLog::load(&log, support::channel_sid(1)).unwrap();
        channel
            .execute(&log, message(777, PHONE, "BODYMARK7f3a again"), Timestamp(500))
            .unwrap()
            .unwrap();
        write_markers(&log, 3, 40);
        switchboard_store::reindex(&log, &mut |_| {}).unwrap();
        log.close().unwrap();
    }
    assert_no_markers(&temp, "after reopening, more writes and a reindex");
    {
        // Churn: the snapshot of a channel full of markers is overwritten 800 times (16 MB), so
        // sled frees whole segments, its background flusher relocates the live pages out of
        // mostly-dead ones (`attempt_gc`), and the segments are reused; then more markers are
        // written, into reused segments.
        let log = temp.open(3);
        let channel = write_markers(&log, 4, 20);
        let mut state: ChannelState = channel.state().clone();
        state.attributes = format!(r#"{{"pad":"{}","n":"ATTRIBUTEMARK5d0e"}}"#, "x".repeat(20_000));
        let db_size = || std::fs::metadata(temp.path().join("db")).unwrap().len();
        let before = db_size();
        let mut written = 0;
        for _ in 0..4 {
            for _ in 0..200 {
                log.save_snapshot(channel.sid(), state.events_applied, &state).unwrap();
                written += state.attributes.len() as u64;
            }
            log.flush().unwrap();
            // sled's own flusher runs every 500 ms and cleans segments in its spare time.
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
        let grown = db_size().saturating_sub(before);
        // Measured: it grows by about half of what was written. Had sled reused no segment, it
        // would have grown by all of it.
        assert!(
            grown < written / 4 * 3,
            "sled reused no segment: {written} B written, grew {grown} B"
        );
        write_markers(&log, 5, 20);
        log.close().unwrap();
    }
    assert_no_markers(&temp, "after sled reclaimed and rewrote its segments");
}
