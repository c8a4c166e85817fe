//! The daemon's memory policy: transparent huge pages (THP) off for this process unless the
//! operator asks for the system's policy.
//!
//! With THP on (`always` on many distributions), the first touch of fresh memory zeroes a whole
//! 2 MiB page. sled takes fresh memory all the time: a new 512 KiB log buffer each time one fills
//! (dozens of times a second under load), and the thread that fills a buffer touches the next one
//! before it installs it, while every other writer spins waiting for it. On the two-core VM of
//! docs/BENCHMARKS.md those faults stalled every write for 5 to 20 ms several times a second,
//! which made most of the 64-connection p99; with 4 KiB pages the same memory is faulted in small
//! steps, and the p99 fell by about a third with the same throughput. Redis gives the same
//! advice for its latency.

use serde::Deserialize;

/// Whether the daemon keeps the system's transparent huge page policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HugePages {
    /// Transparent huge pages off for this process (prctl `PR_SET_THP_DISABLE`).
    #[default]
    Off,
    /// Whatever /sys/kernel/mm/transparent_hugepage/enabled says.
    System,
}

/// Applies `policy` to this process. The flag is the whole process's (every thread's), and on
/// Linux 5.0 and later it holds for memory faulted in from now on also in mappings made before,
/// so it runs before the store is opened. `System` clears a flag inherited from a parent (it is
/// kept across fork and exec), so that the kernel's policy is what applies. A refusal (an unusual
/// kernel or sandbox) is logged and the daemon goes on: it is a latency setting, not a safety one.
pub fn apply(policy: HugePages) {
    let off = policy == HugePages::Off;
    #[cfg(target_os = "linux")]
    match nix::sys::prctl::set_thp_disable(off) {
        Ok(()) if off => tracing::debug!("transparent huge pages off for this process"),
        Ok(()) => tracing::debug!("transparent huge pages as the kernel's policy says"),
        Err(error) => tracing::warn!(
            %error,
            off,
            "could not set this process's transparent huge pages flag; with huge pages, writes \
             may stall while they are zeroed"
        ),
    }
    #[cfg(not(target_os = "linux"))]
    let _ = off;
}
