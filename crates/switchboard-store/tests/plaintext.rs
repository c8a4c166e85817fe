//! Nothing a customer said or is appears on disk in the clear: bodies, identities, attributes,
//! names, phone numbers — in events, snapshots, indexes, after reopening and after sled has
//! rewritten its segments.

mod support;

use support::{message, new_channel, TempLog};
use switchboard_domain::{ChannelCommand, Timestamp};
use switchboard_store::ChannelLog;

const PHONE: &str = "+14155557311";
const MARKERS: [&str; 6] = [
    "BODY-MARKER-7f3a",
    "IDENTITY-MARKER-91c2",
    "ATTRIBUTE-MARKER-5d0e",
    "UNIQUE-MARKER-c4b8",
    "FRIENDLY-MARKER-2e61",
    PHONE,
];

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
}

fn write_markers(log: &switchboard_store::EventLog, n: u32, rounds: u32) {
    let mut new = new_channel(n, PHONE);
    new.unique_name = Some(format!("UNIQUE-MARKER-c4b8-{n}"));
    new.friendly_name = Some("FRIENDLY-MARKER-2e61".into());
    new.attributes = r#"{"note":"ATTRIBUTE-MARKER-5d0e"}"#.into();
    let (mut channel, _) = ChannelLog::create(log, new, Timestamp(1)).unwrap().unwrap();
    let member = ChannelCommand::AddMember {
        member_sid: support::sid(switchboard_domain::SidPrefix::MEMBER, n),
        identity: "IDENTITY-MARKER-91c2".into(),
        role_sid: None,
        attributes: r#"{"a":"ATTRIBUTE-MARKER-5d0e"}"#.into(),
    };
    channel.execute(log, member, Timestamp(2)).unwrap().unwrap();
    for i in 0..rounds {
        let post =
            message(n * 10_000 + i, "IDENTITY-MARKER-91c2", &format!("BODY-MARKER-7f3a {i}"));
        channel.execute(log, post, Timestamp(3 + i64::from(i))).unwrap().unwrap();
    }
    log.flush().unwrap();
}

#[test]
fn no_customer_value_is_ever_written_in_the_clear() {
    let temp = TempLog::new();
    {
        // Snapshots every 3 events, so there are many.
        let log = temp.open(3);
        write_markers(&log, 1, 40);
        log.close().unwrap();
    }
    assert_no_markers(&temp, "after writing");
    {
        let log = temp.open(3);
        write_markers(&log, 2, 40);
        switchboard_store::reindex(&log).unwrap();
        log.close().unwrap();
    }
    assert_no_markers(&temp, "after reopening, more writes and a reindex");
    {
        // Enough churn for sled to rewrite (compact) its segments.
        let log = temp.open(1);
        for n in 3..40 {
            write_markers(&log, n, 20);
        }
        log.close().unwrap();
    }
    assert_no_markers(&temp, "after heavy rewriting");
}
