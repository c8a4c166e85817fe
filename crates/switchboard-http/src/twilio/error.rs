//! Twilio's error shape: `{"code", "message", "more_info", "status"}` with the HTTP status, for
//! every failure this server answers, including malformed requests caught by actix itself.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// An error as Twilio renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: u16,
    code: u32,
    message: String,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// 20404, as Twilio words it.
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(404, 20404, format!("The requested resource {path} was not found"))
    }

    /// 20003: no credentials, or wrong ones. Deliberately says nothing about which part failed.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, 20003, "Authenticate")
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, 20403, message)
    }

    /// 20001: a parameter is missing or invalid.
    pub fn bad_param(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 20001, message)
    }

    /// A feature Twilio has and this server does not yet: a clear 400, never a silent no-op.
    pub fn unsupported(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 20001, message)
    }

    pub fn conflict(code: u32, message: impl Into<String>) -> ApiError {
        ApiError::new(409, code, message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, 20001, message)
    }

    /// 20500, with nothing of the cause: details go to the server's log, not to the caller.
    pub fn internal() -> ApiError {
        ApiError::new(500, 20500, "An internal server error occurred")
    }

    pub fn code(&self) -> u32 {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="Switchboard""#));
        }
        response.json(json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        }))
    }
}

/// Unknown routes: 20404 in Twilio's shape.
pub async fn not_found(request: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(request.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_rt::test]
    async fn renders_twilio_shape() {
        let response = ApiError::not_found("/v1/FlexFlows/FO1").error_response();
        assert_eq!(response.status(), 404);
        let body = to_bytes(response.into_body()).await.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["code"], 20404);
        assert_eq!(value["status"], 404);
        assert_eq!(value["more_info"], "https://www.twilio.com/docs/errors/20404");
        assert_eq!(value["message"], "The requested resource /v1/FlexFlows/FO1 was not found");
    }

    #[test]
    fn unauthorized_asks_for_basic_auth() {
        let response = ApiError::unauthorized().error_response();
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("www-authenticate").is_some());
    }
}
