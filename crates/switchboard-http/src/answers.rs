//! How the engine's failures and the domain's rejections are answered: in Twilio's error shape,
//! through `?` in every handler.

use switchboard_actors::EngineError;
use switchboard_domain::Rejection;

use crate::twilio::error::ApiError;

impl From<EngineError> for ApiError {
    /// Logged here, once: the answer says no more than that the server failed (or is stopping).
    fn from(error: EngineError) -> ApiError {
        tracing::error!(%error, "engine error");
        match error {
            EngineError::Stopping => ApiError::new(503, 20503, "The server is shutting down"),
            _ => ApiError::internal(),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> ApiError {
        match rejection {
            Rejection::ChannelNotFound => {
                ApiError::new(404, 20404, "The requested channel was not found")
            }
            Rejection::MemberNotFound(_)
            | Rejection::MessageNotFound(_)
            | Rejection::TaskNotOpen(_)
            | Rejection::WebhookNotFound(_) => ApiError::new(404, 20404, rejection.to_string()),
            Rejection::MemberExists(_) => ApiError::conflict(50404, "Member already exists"),
            Rejection::ChannelExists
            | Rejection::TaskExists(_)
            | Rejection::AlreadyStored { .. } => ApiError::conflict(50307, rejection.to_string()),
            Rejection::ChannelErased | Rejection::ChannelInactive => {
                ApiError::conflict(50300, rejection.to_string())
            }
            Rejection::Invalid(message) => ApiError::bad_param(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_and_failures_get_twilios_codes() {
        let missing = ApiError::from(Rejection::ChannelNotFound);
        assert_eq!((missing.status(), missing.code()), (404, 20404));
        let exists = ApiError::from(Rejection::MemberExists(String::new()));
        assert_eq!((exists.status(), exists.code()), (409, 50404));
        let stopping = ApiError::from(EngineError::Stopping);
        assert_eq!((stopping.status(), stopping.code()), (503, 20503));
        let broken = ApiError::from(EngineError::Internal("disk on fire".into()));
        assert_eq!((broken.status(), broken.code()), (500, 20500));
        assert!(!broken.message().contains("disk"), "{}", broken.message());
    }
}
