//! `switchboard verify`: checks a data folder without changing it (on a private copy, with no
//! recovery): every chain, head and (with the key) every tag, that sled reads every entry, and
//! that the log holds everything its durable record says was acknowledged. Exits 0 when the
//! folder is intact, 1 with findings (each naming its stream, sequence and kind), 2 when the
//! check could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use switchboard_store::{verify_folder, AnchoredHeads, FolderReport, VerifyOptions};

use crate::cli::DataArgs;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Check hashes, sequences, heads and positions only, without the master key (what an
    /// auditor who holds no keys can do). Without this flag, a missing key is an error.
    #[arg(long)]
    integrity_only: bool,
    /// Where the private copy the check works on goes [default: the system's temporary folder].
    /// It needs room for the folder (less where the file system shares copied blocks).
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Also prove the log still holds everything these anchored heads (`switchboard heads`,
    /// `GET /admin/v1/Heads`) covered: a truncated or rewritten history fails.
    #[arg(long, value_name = "FILE")]
    against: Option<PathBuf>,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.dir();
    let master = if args.integrity_only { None } else { Some(args.data.master_key(false)?.0) };
    let started = Instant::now();
    let against = match &args.against {
        None => None,
        Some(path) => Some(
            serde_json::from_slice(
                &std::fs::read(path).with_context(|| path.display().to_string())?,
            )
            .with_context(|| format!("{} is not a heads document", path.display()))?,
        ),
    };
    let options = VerifyOptions { master, scratch: args.scratch, against };
    let progress = crate::progress::walking("verifying", "records");
    let folder = verify_folder(&dir, &options, &mut |walked| progress.tell(walked))?;
    progress.finish();
    let mode =
        if args.integrity_only { "integrity (no keys)" } else { "full (chains, heads and tags)" };
    print_summary(&folder, options.against.as_ref(), mode, started.elapsed().as_secs_f64());
    Ok(if folder.report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// "3 channels, 1 service, 1 flow".
fn streams_by_kind(folder: &FolderReport) -> String {
    if folder.streams_by_kind.is_empty() {
        return "no stream".into();
    }
    let order = ["channel", "user", "service", "flow", "audit stream", "other stream"];
    order
        .iter()
        .filter_map(|kind| folder.streams_by_kind.get(kind).map(|n| (kind, *n)))
        .map(|(kind, n)| format!("{n} {kind}{}", if n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_summary(folder: &FolderReport, against: Option<&AnchoredHeads>, mode: &str, seconds: f64) {
    let report = &folder.report;
    println!(
        "checked {} records in {} ({} shredded) in {:.2} s, mode {mode}",
        report.records,
        streams_by_kind(folder),
        report.shredded_records,
        seconds
    );
    match folder.acknowledged {
        Some(acknowledged) => println!(
            "durable record: {acknowledged} acknowledged; the streams' heads count {} records",
            folder.records_in_heads
        ),
        None => println!("durable record: none (a folder written before this build)"),
    }
    if report.unacknowledged > 0 {
        println!(
            "note: {} records past their heads were never acknowledged (appends a crash cut \
             short); the next start rolls them back",
            report.unacknowledged
        );
    }
    if let Some(anchor) = against {
        println!(
            "anchored heads: {} streams, {}, taken at {}, signed by key {}",
            anchor.heads.len(),
            anchor.position,
            anchor.taken_at,
            anchor.public_key
        );
    }
    if report.is_clean() {
        println!(
            "OK: every chain, head{} verifies, and the log holds everything acknowledged{}",
            if mode.starts_with("full") { " and tag" } else { "" },
            if against.is_some() { " and anchored" } else { "" }
        );
        return;
    }
    for problem in &report.folder {
        println!("FAILED: folder: {problem}");
    }
    if let Some(first) = report.findings.first() {
        println!("FAILED: first bad record: {first}");
    }
    for finding in report.findings.iter().skip(1) {
        println!("  also: {finding}");
    }
    let shown = report.findings.len() as u64;
    if report.findings_total > shown {
        println!("  … and {} more", report.findings_total - shown);
    }
}
