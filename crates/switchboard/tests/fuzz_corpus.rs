//! Replays the committed corpora of the fuzz targets (`fuzz/corpus/<target>/`) through the same
//! entry points the targets call, on stable, so every input a fuzzing run found interesting is
//! checked again by `cargo test`. The long runs are `cargo +nightly fuzz run` (docs/fuzzing.md).

use std::path::{Path, PathBuf};

/// A fuzz target's entry point.
type Entry = fn(&[u8]);

/// Every fuzz target, by name, with the entry point it runs.
const TARGETS: [(&str, Entry); 8] = [
    ("twilio_webhook", switchboard_http::fuzzing::twilio_webhook),
    ("meta_webhook", switchboard_http::fuzzing::meta_webhook),
    ("access_token", switchboard_http::fuzzing::access_token),
    ("ws_frame", switchboard_http::fuzzing::ws_frame),
    ("media_headers", switchboard_http::fuzzing::media_headers),
    ("list_query", switchboard_http::fuzzing::list_query),
    ("definitions", switchboard_http::fuzzing::definitions),
    ("stored_record", switchboard_store::fuzzing::stored_record),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    all.sort();
    all
}

#[test]
fn every_target_is_replayed_and_has_a_corpus() {
    let declared: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(declared, replayed, "every target in fuzz/fuzz_targets is replayed here");
    for (name, _) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} holds no input");
    }
}

#[test]
fn every_corpus_input_runs_without_a_panic() {
    for (name, entry) in TARGETS {
        for input in files(&fuzz_dir().join("corpus").join(name)) {
            let data = std::fs::read(&input).unwrap();
            let ran = std::panic::catch_unwind(|| entry(&data));
            assert!(ran.is_ok(), "{name} panicked on {}", input.display());
        }
    }
}
