//! The master key: a folder refuses any other key with a clear error, and `rotate_master_key`
//! re-wraps the keys without touching a single record, can be run again, and finishes an
//! interrupted rotation; a stored secret removed stays removed.

mod support;

use std::collections::BTreeMap;

use support::{channel_sid, channel_with, events, TempLog};
use switchboard_crypto::MasterKey;
use switchboard_domain::{IndexKind, Recorded};
use switchboard_store::{rotate_master_key, EventLog, StoreError, VerifyMode};

fn open_with(temp: &TempLog, key: &MasterKey) -> Result<EventLog, StoreError> {
    EventLog::open(temp.config(4), key.clone())
}

/// A folder with three channels (snapshots, indexes, a secret), closed; returns their events.
fn populated(temp: &TempLog) -> Vec<Vec<Recorded>> {
    let log = temp.open(4);
    let contents = (1..=3)
        .map(|n| {
            let channel = channel_with(&log, n, &format!("+1415555000{n}"), 6);
            events(&log, channel.sid())
        })
        .collect();
    log.set_secret("auth-token", b"s3cret").unwrap();
    log.close().unwrap();
    contents
}

fn assert_reads(log: &EventLog, contents: &[Vec<Recorded>]) {
    for (i, expected) in contents.iter().enumerate() {
        let sid = channel_sid(u32::try_from(i).unwrap() + 1);
        assert_eq!(&events(log, sid), expected);
        let address = format!("+1415555000{}", i + 1);
        let bound = log.lookup(IndexKind::Binding, Some(support::flow()), &address).unwrap();
        assert_eq!(bound, Some((sid, None)), "index lookups still work");
    }
    assert_eq!(log.secret("auth-token").unwrap().as_deref(), Some(&b"s3cret"[..]));
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[test]
fn another_master_key_is_refused_with_a_clear_error() {
    let temp = TempLog::new();
    populated(&temp);
    let other = MasterKey::generate();
    let error = open_with(&temp, &other).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, StoreError::Damaged(_)), "{error:?}");
    assert!(text.contains("sealed under master key"), "{text}");
    assert!(text.contains(&temp.key.fingerprint().to_string()), "names the right key: {text}");
    assert!(text.contains(&other.fingerprint().to_string()), "names the given key: {text}");
    // The refusal changed nothing: the right key still opens it.
    let log = temp.open(4);
    assert_eq!(log.next_seq(channel_sid(1)).unwrap(), 7);
}

#[test]
fn rotation_rewraps_keys_and_leaves_every_record_byte_for_byte() {
    let temp = TempLog::new();
    let contents = populated(&temp);
    let records_before = temp.entries(b'E');
    let keys_before = temp.entries(b'K');
    let new = MasterKey::generate();

    let mut told = Vec::new();
    let report =
        rotate_master_key(&temp.path(), &temp.key, &new, &mut |walked| told.push(walked)).unwrap();
    assert_eq!(report.rewrapped, 3 + 2, "three channel keys, the index key and the system key");
    // Told from 0 to the end it knew in advance: the three channels' keys.
    let told: Vec<_> = told.iter().map(|w| (w.done, w.of)).collect();
    assert_eq!(told, [(0, 3), (1, 3), (2, 3), (3, 3)]);
    assert_eq!(report.already_rotated, 0);

    assert_eq!(temp.entries(b'E'), records_before, "no record was rewritten");
    let keys_after = temp.entries(b'K');
    assert_eq!(keys_after.len(), keys_before.len());
    for (key, wrapped) in &keys_after {
        assert_ne!(wrapped, &keys_before[key], "every data key was re-wrapped");
        assert_eq!(&wrapped[..8], &new.fingerprint().0, "under the new master key");
    }

    let error = open_with(&temp, &temp.key).unwrap_err();
    assert!(error.to_string().contains("sealed under master key"), "{error}");
    let log = open_with(&temp, &new).unwrap();
    assert_reads(&log, &contents);
    log.close().unwrap();

    // Run again (say, the operator was unsure it finished): nothing changes.
    let again = rotate_master_key(&temp.path(), &temp.key, &new, &mut |_| {}).unwrap();
    assert_eq!((again.rewrapped, again.already_rotated), (0, 5));
    assert_eq!(temp.entries(b'K'), keys_after);
    assert_eq!(temp.entries(b'E'), records_before);
    let log = open_with(&temp, &new).unwrap();
    assert_reads(&log, &contents);
}

#[test]
fn an_interrupted_rotation_is_finished_by_running_it_again() {
    let temp = TempLog::new();
    let contents = populated(&temp);
    let records_before = temp.entries(b'E');
    let new = MasterKey::generate();
    let meta_before: BTreeMap<_, _> = temp.entries(b'M');
    rotate_master_key(&temp.path(), &temp.key, &new, &mut |_| {}).unwrap();
    // The crash came after the keys were re-wrapped, before the folder said so.
    temp.tamper(|tree| {
        tree.insert(b"Mmaster", meta_before[&b"Mmaster".to_vec()].clone()).unwrap();
    });
    assert!(open_with(&temp, &new).is_err(), "the folder still names the old key");
    assert!(open_with(&temp, &temp.key).is_err(), "but the old key unwraps nothing any more");

    let resumed = rotate_master_key(&temp.path(), &temp.key, &new, &mut |_| {}).unwrap();
    assert_eq!((resumed.rewrapped, resumed.already_rotated), (0, 5));
    assert_eq!(temp.entries(b'E'), records_before);
    let log = open_with(&temp, &new).unwrap();
    assert_reads(&log, &contents);
}

#[test]
fn rotation_from_a_key_the_folder_does_not_know_is_refused() {
    let temp = TempLog::new();
    populated(&temp);
    let keys_before = temp.entries(b'K');
    let error = rotate_master_key(
        &temp.path(),
        &MasterKey::generate(),
        &MasterKey::generate(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(error.to_string().contains("neither the old key"), "{error}");
    assert_eq!(temp.entries(b'K'), keys_before);
    temp.open(4);
}

#[test]
fn a_removed_secret_is_gone_after_a_reopen_and_the_others_stay() {
    let temp = TempLog::new();
    let log = temp.open(4);
    log.set_secret("api_key/one", b"first").unwrap();
    log.set_secret("api_key/two", b"second").unwrap();
    assert!(log.remove_secret("api_key/one").unwrap());
    assert!(!log.remove_secret("api_key/one").unwrap(), "removed once");
    log.close().unwrap();
    let log = temp.open(4);
    assert_eq!(log.secret("api_key/one").unwrap(), None);
    assert_eq!(log.secret("api_key/two").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(log.secret_names("api_key/").unwrap(), ["api_key/two"]);
}
