//! Errors of the engine: storage failures and the engine's own limits. Domain rejections are not
//! errors here; they travel in inner `Result`s to the HTTP layer, which maps them to Twilio codes.

use switchboard_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the engine is shutting down")]
    Stopping,
    #[error("internal error in {0}; the channel was reloaded from its log")]
    Panicked(String),
    #[error("{0}")]
    Internal(String),
}

impl From<actix::MailboxError> for EngineError {
    fn from(_: actix::MailboxError) -> EngineError {
        EngineError::Stopping
    }
}
