//! `switchboard --version`: the release, the commit it was built from (`build.rs`), and the
//! versions of every stored form this build writes and reads, so that an operator can tell
//! before an upgrade or a downgrade what a folder or a backup needs (docs/event-format.md,
//! "Format versions").

use std::sync::OnceLock;

/// The commit, as `build.rs` found it (`unknown` for a build without git or a checkout).
pub const COMMIT: &str = env!("SWITCHBOARD_COMMIT");

/// The text `--version` prints.
pub fn long() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        use switchboard_store as store;
        format!(
            "{version}\n\
             commit          {COMMIT}\n\
             data folder     format {folder} (opens {oldest} to {folder}; newer is refused)\n\
             log records     version {record} (reads 1 to {record})\n\
             snapshots       version {snapshot} (reads 1 to {snapshot})\n\
             events          schema {schema}\n\
             signed heads    {heads}\n\
             backups         switchboard-backup/1",
            version = env!("CARGO_PKG_VERSION"),
            folder = store::FORMAT_VERSION,
            oldest = store::OLDEST_FORMAT_VERSION,
            record = store::RECORD_VERSION,
            snapshot = store::SNAPSHOT_VERSION,
            schema = switchboard_domain::EVENT_SCHEMA_VERSION,
            heads = store::HEADS_FORMAT,
        )
    })
}
