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
mod first_start;
mod keys;
mod memory;
mod protect;
mod replay;
mod serve;
mod timefmt;
mod tls;
mod token;
mod verify;

/// mimalloc instead of glibc's malloc: sled allocates and frees on every insert (it clones the
/// leaf it changes), and under hundreds of writers glibc's allocator was about a quarter of all
/// CPU (docs/BENCHMARKS.md). The bench uses the same allocator, so its raw limits stay comparable.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours_wanted())
        .init();
}

/// Colour codes only where a person reads them as colours: on a terminal, and unless `NO_COLOR`
/// is set (no-color.org). In a file or a journal they are noise.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
