//! The media store: bytes round-trip through sealed chunks, a chunk moved to another place does
//! not open, a shred makes a channel's media gone for good, and no plaintext reaches the disk.

mod support;

use support::{channel_with, sid, TempLog};
use switchboard_domain::{ErasureReason, SidPrefix, Timestamp};
use switchboard_store::{ChannelLog, MediaRead, StoreError, MEDIA_CHUNK};

const MARKER: &[u8] = b"MEDIAMARK5e7d";

/// Bytes of `len` that repeat a marker, so any plaintext leak is found by a byte scan.
fn content(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn read(log: &switchboard_store::EventLog, channel: u32, media: u32) -> MediaRead {
    log.read_media(support::channel_sid(channel), sid(SidPrefix::MEDIA, media)).unwrap()
}

#[test]
fn media_round_trip_in_chunks_and_empty() {
    let temp = TempLog::new();
    let log = temp.open(100);
    let channel = channel_with(&log, 1, "+14155550001", 1).sid();
    for (n, len) in [(1u32, 0usize), (2, 10), (3, MEDIA_CHUNK), (4, 3 * MEDIA_CHUNK + 17)] {
        let bytes = content(len);
        let media = sid(SidPrefix::MEDIA, n);
        let stored = log.put_media(channel, media, "image/png", Some("pic.png"), &bytes).unwrap();
        assert_eq!(stored.size_bytes, len as u64);
        assert_eq!(stored.chunks as usize, len.div_ceil(MEDIA_CHUNK).max(1));
        assert_eq!(stored.sha256.len(), 64);
        match read(&log, 1, n) {
            MediaRead::Found(info, back) => {
                assert_eq!(back, bytes, "medium of {len} bytes");
                assert_eq!(info, stored);
                assert_eq!(info.filename.as_deref(), Some("pic.png"));
            }
            other => panic!("medium of {len} bytes: {other:?}"),
        }
        assert_eq!(log.media_channel(media).unwrap(), Some(channel));
    }
    // Stored again (a retried fetch) with other bytes: the new copy replaces the old whole.
    let media = sid(SidPrefix::MEDIA, 4);
    log.put_media(channel, media, "text/plain", None, b"short").unwrap();
    match read(&log, 1, 4) {
        MediaRead::Found(info, back) => {
            assert_eq!(back, b"short");
            assert_eq!(info.chunks, 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(read(&log, 1, 99), MediaRead::Missing);
    assert_eq!(log.media_channel(sid(SidPrefix::MEDIA, 99)).unwrap(), None);
    // A channel that was never written has no key to seal under.
    let unknown = support::channel_sid(42);
    assert!(matches!(
        log.put_media(unknown, sid(SidPrefix::MEDIA, 5), "image/png", None, b"x"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_chunk_moved_elsewhere_does_not_open() {
    let temp = TempLog::new();
    let log = temp.open(100);
    let one = channel_with(&log, 1, "+14155550001", 1).sid();
    let two = channel_with(&log, 2, "+14155550002", 1).sid();
    let big = content(2 * MEDIA_CHUNK + 5);
    log.put_media(one, sid(SidPrefix::MEDIA, 1), "video/mp4", None, &big).unwrap();
    log.put_media(one, sid(SidPrefix::MEDIA, 2), "video/mp4", None, &big).unwrap();
    log.put_media(two, sid(SidPrefix::MEDIA, 3), "video/mp4", None, &big).unwrap();
    log.close().unwrap();

    let chunk = |channel: u32, media: u32, number: u32| {
        let mut key = support::stream_key(b'B', support::channel_sid(channel));
        key.extend_from_slice(&sid(SidPrefix::MEDIA, media).to_bytes());
        key.extend_from_slice(&number.to_be_bytes());
        key
    };
    let entries = temp.entries(b'B');
    let value = |key: &Vec<u8>| entries.get(key).cloned().expect("the chunk is stored");
    temp.tamper(|tree| {
        // Within a medium: chunk 0 in the place of chunk 1.
        tree.insert(chunk(1, 1, 1), value(&chunk(1, 1, 0))).unwrap();
        // Across media of one channel: medium 1's last chunk as medium 2's.
        tree.insert(chunk(1, 2, 2), value(&chunk(1, 1, 2))).unwrap();
        // Across channels: the other channel's chunk 0.
        tree.insert(chunk(2, 3, 0), value(&chunk(1, 1, 0))).unwrap();
    });
    let log = temp.open(100);
    for (channel, media) in [(1, 1), (1, 2), (2, 3)] {
        let result = log.read_media(support::channel_sid(channel), sid(SidPrefix::MEDIA, media));
        assert!(
            matches!(&result, Err(StoreError::Damaged(why)) if why.contains("does not open")),
            "medium {media} of channel {channel}: {result:?}"
        );
    }
}

#[test]
fn a_medium_cut_short_or_unfinished_is_not_served() {
    let temp = TempLog::new();
    let log = temp.open(100);
    let one = channel_with(&log, 1, "+14155550001", 1).sid();
    log.put_media(one, sid(SidPrefix::MEDIA, 1), "audio/ogg", None, &content(2 * MEDIA_CHUNK))
        .unwrap();
    log.close().unwrap();
    let mut header = support::stream_key(b'B', one);
    header.extend_from_slice(&sid(SidPrefix::MEDIA, 1).to_bytes());
    let mut last = header.clone();
    last.extend_from_slice(&1u32.to_be_bytes());
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    temp.tamper(|tree| {
        tree.remove(&last).unwrap();
    });
    let log = temp.open(100);
    let result = log.read_media(one, sid(SidPrefix::MEDIA, 1));
    assert!(
        matches!(&result, Err(StoreError::Damaged(why)) if why.contains("missing")),
        "{result:?}"
    );
    log.close().unwrap();
    // Chunks without their header are an unfinished write: not there.
    temp.tamper(|tree| {
        tree.remove(&header).unwrap();
    });
    let log = temp.open(100);
    assert_eq!(read(&log, 1, 1), MediaRead::Missing);
}

#[test]
fn shredding_a_channel_destroys_its_media_and_no_plaintext_reaches_the_disk() {
    let temp = TempLog::new();
    let log = temp.open(100);
    let doomed = channel_with(&log, 1, "+14155550001", 1);
    let kept = channel_with(&log, 2, "+14155550002", 1).sid();
    let bytes = content(MEDIA_CHUNK + 100);
    log.put_media(doomed.sid(), sid(SidPrefix::MEDIA, 1), "image/jpeg", Some("FILEMARK9a"), &bytes)
        .unwrap();
    log.put_media(kept, sid(SidPrefix::MEDIA, 2), "image/jpeg", None, &bytes).unwrap();
    log.flush().unwrap();
    log.close().unwrap();
    let hits = files_containing(&temp.path(), MARKER);
    assert!(hits.is_empty(), "media plaintext found in {hits:?}");
    assert!(files_containing(&temp.path(), b"FILEMARK9a").is_empty(), "a file name in the clear");
    assert!(
        files_containing(&temp.path(), b"image/jpeg").is_empty(),
        "a content type in the clear"
    );

    let log = temp.open(100);
    let doomed = ChannelLog::load(&log, doomed.sid()).unwrap();
    let shred = doomed.shred(&log, ErasureReason::SubjectRequest, Timestamp(500)).unwrap();
    log.wait_durable_blocking(shred.ticket).unwrap();
    assert_eq!(read(&log, 1, 1), MediaRead::Shredded);
    assert_eq!(log.media_channel(sid(SidPrefix::MEDIA, 1)).unwrap(), Some(support::channel_sid(1)));
    assert!(matches!(
        log.put_media(support::channel_sid(1), sid(SidPrefix::MEDIA, 3), "image/png", None, b"x"),
        Err(StoreError::Shredded(_))
    ));
    assert!(matches!(read(&log, 2, 2), MediaRead::Found(_, back) if back == bytes));
    log.close().unwrap();
    let left: Vec<_> = temp
        .entries(b'B')
        .into_keys()
        .filter(|k| k[1..19] == support::channel_sid(1).to_bytes())
        .collect();
    assert!(left.is_empty(), "{} entries of the shredded channel's media remain", left.len());
}

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
