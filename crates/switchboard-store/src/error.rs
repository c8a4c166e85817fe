//! Errors of the store. Expected, local outcomes (a command the domain rejects) are not here:
//! they travel in an inner `Result`, so `?` cannot silently pass them up as failures.

use switchboard_domain::Sid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Crypto(#[from] switchboard_crypto::CryptoError),
    #[error("record {stream} #{seq}: {problem}")]
    Corrupt { stream: Sid, seq: u64, problem: String },
    #[error("the data folder is damaged: {0}")]
    Damaged(String),
    /// A folder a newer build wrote (or upgraded): opening it here could misread what it holds.
    #[error(
        "this data folder was written by a newer version of switchboard (folder format {found}; \
         this build opens formats {oldest} to {newest}): run that version or a newer one, or \
         restore a backup taken before the upgrade. The folder is left as it was"
    )]
    NewerFormat { found: u8, oldest: u8, newest: u8 },
    #[error("encoding an event: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("append to {stream}: expected sequence {expected}, the stream is at {actual}")]
    Conflict { stream: Sid, expected: u64, actual: u64 },
    #[error("the data of {0} was shredded; it can never be read or written again")]
    Shredded(Sid),
    #[error("{0} does not exist")]
    NotFound(Sid),
    #[error("the log can no longer make writes durable ({0}); restart after fixing the disk")]
    FlushFailed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Integrity(crate::log::IntegrityFailure),
}
