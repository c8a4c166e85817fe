//! What the log tells the operator about its writes: flush batches and their time, the fsync
//! part of it, and the durable record's syncs. Recorded through the `metrics` facade, which does
//! nothing until a recorder is installed (the daemon's `/metrics`, docs/operating.md,
//! "Monitoring"); the names are Prometheus's.

use std::time::Duration;

/// Appends covered by one flush (histogram).
pub const FLUSH_APPENDS: &str = "switchboard_log_flush_appends";
/// One flush, start to end: checkpoint, fold, sled's flush, fdatasync, the durable record's
/// entry (histogram).
pub const FLUSH_SECONDS: &str = "switchboard_log_flush_duration_seconds";
/// sled's flush and, with `durability = "fsync"`, the fdatasync of its log file (histogram).
pub const FSYNC_SECONDS: &str = "switchboard_log_fsync_duration_seconds";
/// Syncs of the durable record (counter).
pub const RECORD_SYNCS: &str = "switchboard_durable_record_syncs_total";
/// sled's size on disk, sampled when scraped (gauge).
pub const DISK_BYTES: &str = "switchboard_store_disk_bytes";

/// Gives each metric its help text and unit; called once a recorder is installed.
pub fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        FLUSH_APPENDS,
        Unit::Count,
        "Appends made durable by one group-commit flush"
    );
    metrics::describe_histogram!(
        FLUSH_SECONDS,
        Unit::Seconds,
        "Time of one group-commit flush: checkpoint, sled flush, fsync, durable record entry"
    );
    metrics::describe_histogram!(
        FSYNC_SECONDS,
        Unit::Seconds,
        "Time of sled's flush and the fdatasync of its log file within one flush"
    );
    metrics::describe_counter!(RECORD_SYNCS, Unit::Count, "Syncs of the durable record file");
    metrics::describe_gauge!(DISK_BYTES, Unit::Bytes, "Size of the sled database on disk");
}

/// A flush that made `appends` appends durable took `took`.
pub(crate) fn flushed(appends: u64, took: Duration) {
    // Counts are far below 2^52: exact as f64.
    metrics::histogram!(FLUSH_APPENDS).record(appends as f64);
    metrics::histogram!(FLUSH_SECONDS).record(took.as_secs_f64());
}

/// The sled flush and fsync of one flush took `took`.
pub(crate) fn synced(took: Duration) {
    metrics::histogram!(FSYNC_SECONDS).record(took.as_secs_f64());
}

/// The durable record was synced.
pub(crate) fn record_synced() {
    metrics::counter!(RECORD_SYNCS).increment(1);
}
