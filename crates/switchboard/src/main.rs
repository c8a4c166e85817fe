//! The `switchboard` binary: argument parsing and wiring only.
//!
//! `serve` runs the daemon; the other subcommands are the operator's tools over a data folder
//! (replay, verify and signed heads for audit, backups and restores, key rotation and
//! shredding, index rebuilding). sled locks its
//! folder, so the tools read a stopped daemon's folder or a backup of it.

mod access;
mod cli;
mod config;
mod credentials;
mod daemon_config;
mod descriptors;
mod dev;
mod export;
mod first_start;
mod keys;
mod listener;
mod logging;
mod memory;
mod people;
mod progress;
mod protect;
mod replay;
mod serve;
mod timefmt;
mod tls;
mod token;
mod verify;
mod version;

/// mimalloc instead of glibc's malloc: sled allocates and frees on every insert (it clones the
/// leaf it changes), and under hundreds of writers glibc's allocator was about a quarter of all
/// CPU (docs/BENCHMARKS.md). The bench uses the same allocator, so its raw limits stay comparable.
/// The `system-allocator` feature leaves glibc's in place, for heap profilers that hook `malloc`
/// (heaptrack, valgrind), whose figures are in docs/BENCHMARKS.md.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The daemon starts its log once its settings are resolved (format, filter: `serve.rs`).
    if !cli.is_serve() {
        logging::init_for_tools();
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
