//! End-to-end tests: each drives the real `switchboard` binary against real data folders on disk
//! (and, for the daemon, real HTTP on 127.0.0.1). One test binary, one module per area.

mod support;

/// `replay` and `verify` on folders written by the log, including tampered ones.
mod audit_cli;
/// `serve`: first start, health, graceful stop, folder locking.
mod daemon;
/// The golden log in tests/fixtures replays and verifies identically, forever.
mod golden;
/// `keys generate`, `keys rotate`, `keys shred` and `reindex`.
mod keys_cli;
