//! `switchboard verify`: checks every chain, head and (with the key) every tag of a data folder,
//! shows progress on a terminal, and exits non-zero naming the first bad record.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use switchboard_store::{verify_raw, RawLog, VerifyMode, VerifyReport};

use crate::cli::{explain_open_error, require_data, DataArgs};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Check hashes, sequences and heads only, without the master key (what an auditor who
    /// holds no keys can do). Without this flag, a missing key is an error.
    #[arg(long)]
    integrity_only: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    require_data(&args.data.dir())?;
    let started = Instant::now();
    let on_terminal = std::io::stderr().is_terminal();
    let mut progress = |records: u64| {
        if on_terminal {
            eprint!("\rverifying: {records} records checked");
        }
    };
    let (report, mode) = if args.integrity_only {
        let raw =
            RawLog::open(&args.data.dir()).map_err(|e| explain_open_error(e, &args.data.dir()))?;
        (verify_raw(&raw, &mut progress)?, "integrity (no keys)")
    } else {
        let log = args.data.open_existing()?;
        let report = log.verify(VerifyMode::Full, &mut progress)?;
        log.close()?;
        (report, "full (chains, heads and tags)")
    };
    if on_terminal {
        eprintln!();
    }
    print_summary(&report, mode, started.elapsed().as_secs_f64());
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_summary(report: &VerifyReport, mode: &str, seconds: f64) {
    println!(
        "checked {} records in {} channels ({} shredded) in {:.2} s, mode {mode}",
        report.records, report.streams, report.shredded_records, seconds
    );
    if report.is_clean() {
        println!(
            "OK: every chain, head{} verifies",
            if mode.starts_with("full") { " and tag" } else { "" }
        );
        return;
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
