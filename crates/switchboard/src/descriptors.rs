//! The daemon's file-descriptor limit: raised at start to the most the system allows.
//!
//! Each WebSocket holds two descriptors (its connection's socket, and the duplicate it keeps to
//! end a connection whose peer stopped reading), each HTTP connection one, and sled a few. The
//! usual soft limit of 1 024 would refuse connections after about 500 WebSockets; the hard limit
//! is what the operator (or systemd's `LimitNOFILE`) allows, and the daemon takes all of it.

/// Raises the soft limit on open descriptors to the hard limit; returns the limit in force.
pub fn raise_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        // The kernel refuses "unlimited" for open files; a million is more than enough.
        let wanted = hard.min(1 << 20);
        if soft >= wanted {
            return Some(soft);
        }
        match setrlimit(Resource::RLIMIT_NOFILE, wanted, hard) {
            Ok(()) => Some(wanted),
            Err(error) => {
                tracing::warn!(%error, soft, hard, "could not raise the open-file limit");
                Some(soft)
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_to_the_hard_one() {
        use nix::sys::resource::{getrlimit, Resource};
        let limit = raise_limit().unwrap();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(limit, soft);
        assert!(soft >= hard.min(1 << 20), "soft {soft}, hard {hard}");
    }
}
