//! Twilio's error shape: `{"code", "message", "more_info", "status"}` with the HTTP status, for
//! every failure this server answers, including malformed requests caught by actix itself.
//!
//! Three ways an error reaches a client, all in the same shape:
//! - a handler returns `Err(ApiError)`;
//! - an actix extractor (`web::Json`, `web::Form`, `web::Query`, `web::Path`) refuses the request:
//!   [`configure_extractor_errors`] installs error handlers that turn those into `ApiError`s;
//! - actix answers by itself (an unknown route, a wrong method, a `web::Bytes` body over its
//!   limit): [`not_found`] as the `default_service`, and the [`twilio_error_shape`] middleware
//!   for the rest.
//!
//! Codes: 20001 invalid parameter (400, also used for 413: Twilio documents no code for an
//! oversized body), 20003 authentication (401), 20403 forbidden (403), 20404 not found (404),
//! 20429 too many requests (429), 20500 internal error (5xx). 20004 for a wrong HTTP method (405)
//! is our choice: Twilio's dictionary names it "Method not allowed", but we have not seen a
//! Twilio response carrying it.

use std::fmt;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error as Twilio renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: u16,
    code: u32,
    message: String,
    /// Sent as `Retry-After` (seconds) with a 429.
    retry_after_secs: Option<u64>,
    /// What some errors add for a program to read (Studio's validation errors).
    details: Option<Box<serde_json::Value>>,
    /// A 401 that must not offer Basic credentials (the console's: a browser would prompt).
    no_challenge: bool,
}

/// Said for every 5xx: the cause goes to the server's log, never to the caller.
const INTERNAL_MESSAGE: &str = "An internal server error occurred";

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            details: None,
            no_challenge: false,
        }
    }

    /// The error without the Basic challenge a 401 carries: for the console's sign-in and
    /// session checks, where a browser would otherwise open its own password prompt.
    pub fn without_challenge(mut self) -> ApiError {
        self.no_challenge = true;
        self
    }

    /// The error with Twilio's `details` object (Studio lists every validation error there).
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    /// 20404, as Twilio words it: "The requested resource /v1/FlexFlows/FO… was not found".
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(404, 20404, format!("The requested resource {path} was not found"))
    }

    /// 20003: no credentials, or wrong ones. Deliberately says nothing about which part failed.
    /// "Authenticate" is the message Twilio sends with 20003.
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

    /// 409 with the resource's own code (for example 50307 for a duplicate unique name).
    pub fn conflict(code: u32, message: impl Into<String>) -> ApiError {
        ApiError::new(409, code, message)
    }

    /// 413 with 20001: Twilio documents no code of its own for an oversized body, and 20001
    /// ("invalid parameter") is what an SDK user would look up.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, 20001, message)
    }

    /// 429 with 20429 ("Too Many Requests" in Twilio's dictionary), and how many whole seconds
    /// to wait, sent as `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError { retry_after_secs: Some(retry_after_secs), ..ApiError::new(429, 20429, message) }
    }

    /// 20500, with nothing of the cause: details go to the server's log, not to the caller.
    pub fn internal() -> ApiError {
        ApiError::new(500, 20500, INTERNAL_MESSAGE)
    }

    /// The error for a response actix (or a library error type) produced with `status`.
    /// `detail` is the underlying error's text, shown only for client errors; `path` names the
    /// resource of a 404.
    pub fn from_status(status: StatusCode, detail: Option<String>, path: &str) -> ApiError {
        let detail = detail.filter(|d| !d.trim().is_empty());
        let or_reason = |fallback: &str| {
            detail.clone().unwrap_or_else(|| status.canonical_reason().unwrap_or(fallback).into())
        };
        match status.as_u16() {
            401 => ApiError::unauthorized(),
            403 => ApiError::forbidden(or_reason("Forbidden")),
            404 => ApiError::not_found(path),
            405 => ApiError::new(405, 20004, "Method not allowed"),
            413 => ApiError::too_large(or_reason("The request body is too large")),
            429 => ApiError::new(429, 20429, "Too Many Requests"),
            s @ 400..=499 => ApiError::new(s, 20001, or_reason("Bad Request")),
            s @ 500..=599 => ApiError::new(s, 20500, INTERNAL_MESSAGE),
            // Not an error status: something upstream is confused; answer as an internal error.
            _ => ApiError::internal(),
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn code(&self) -> u32 {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` of a 429.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// `https://www.twilio.com/docs/errors/<code>`, as Twilio links every error.
    pub fn more_info(&self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code)
    }

    /// The JSON body, keys in Twilio's (alphabetical) order.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            more_info: self.more_info(),
            status: self.status,
            details: self.details.as_deref().cloned(),
        }
    }
}

/// Every error this server answers, in Twilio's shape (keys in Twilio's alphabetical order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Twilio's error code: 20001 invalid parameter, 20003 authentication, 20403 forbidden,
    /// 20404 not found, 20004 method not allowed, 20429 too many requests, 20500 internal;
    /// or the resource's own (50307 duplicate unique name, 50404 member exists, …).
    #[schema(example = 20404)]
    pub code: u32,
    /// What went wrong, for a person.
    pub message: String,
    /// `https://www.twilio.com/docs/errors/<code>`.
    #[schema(example = "https://www.twilio.com/docs/errors/20404")]
    pub more_info: String,
    /// The HTTP status, repeated.
    #[schema(example = 404)]
    pub status: u16,
    /// Only on some errors: more for a program to read (Studio's `{"errors": [{"message",
    /// "property_path"}], "warnings": []}` for a definition that fails validation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status == 401 && !self.no_challenge {
            // Without the challenge, browsers and curl do not offer to send credentials.
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="Switchboard""#));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        // `json` sets `Content-Type: application/json`.
        response.json(self.body())
    }
}

/// Unknown routes: 20404 in Twilio's shape. Register as the app's `default_service`.
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(request.path()))
}

/// Any actix error type (they all implement `ResponseError`) as an `ApiError`, keeping its status.
fn from_extractor(error: &dyn ResponseError, request: &HttpRequest) -> actix_web::Error {
    ApiError::from_status(error.status_code(), Some(error.to_string()), request.path()).into()
}

/// Body limit of `web::Form` and `web::Json`, the same as [`crate::twilio::form::FORM_LIMIT_BYTES`].
const EXTRACTOR_LIMIT_BYTES: usize = crate::twilio::form::FORM_LIMIT_BYTES;

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(EXTRACTOR_LIMIT_BYTES)
        .error_handler(|e, request| from_extractor(&e, request))
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(EXTRACTOR_LIMIT_BYTES)
        .error_handler(|e, request| from_extractor(&e, request))
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, request| from_extractor(&e, request))
}

/// A path segment that does not deserialize (say, a malformed SID typed as `Sid`) names no
/// resource, so it is a 404 rather than actix's 404-or-400: a client cannot tell "malformed" from
/// "absent" any better than Twilio lets it.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_, request| ApiError::not_found(request.path()).into())
}

/// Installs [`form_config`], [`json_config`], [`query_config`] and [`path_config`] as app data,
/// so actix's own extractors answer in Twilio's shape. `web::PayloadConfig` (for `web::Bytes` and
/// `String`) has no error handler; [`twilio_error_shape`] covers those.
pub fn configure_extractor_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(form_config())
        .app_data(json_config())
        .app_data(query_config())
        .app_data(path_config());
}

/// Middleware that reshapes the error responses actix makes on its own (a wrong method, an
/// oversized `web::Bytes`, an error type other than `ApiError` returned by a handler) into
/// Twilio's shape. It leaves alone JSON error bodies (already ours) and any error response a
/// handler built deliberately with a body (the plain-text `/readyz` 503, TwiML).
///
/// Wrap an app with `.wrap(twilio_error_shape())`.
pub fn twilio_error_shape<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(reshape::<B>)
}

fn reshape<B: MessageBody>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let from_actix_error = response.response().error().is_some();
    let is_empty = matches!(
        response.response().body().size(),
        actix_web::body::BodySize::None | actix_web::body::BodySize::Sized(0)
    );
    if is_json || !(from_actix_error || is_empty) {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    let detail = response.response().error().map(ToString::to_string);
    let error = ApiError::from_status(status, detail, response.request().path());
    if status.is_server_error() {
        if let Some(cause) = response.response().error() {
            tracing::error!(%status, error = %cause, "internal error answered as 20500");
        }
    }
    let (request, _) = response.into_parts();
    let reshaped: ServiceResponse<EitherBody<B>> =
        ServiceResponse::new(request, error.error_response()).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(reshaped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use actix_web::test as atest;
    use actix_web::App;
    use serde_json::{json, Value};

    async fn body_of(response: HttpResponse) -> Value {
        let bytes = to_bytes(response.into_body()).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[actix_rt::test]
    async fn renders_twilio_shape() {
        let response = ApiError::not_found("/v1/FlexFlows/FO1").error_response();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), "application/json");
        let value = body_of(response).await;
        assert_eq!(
            value,
            json!({
                "code": 20404,
                "message": "The requested resource /v1/FlexFlows/FO1 was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            })
        );
    }

    #[actix_rt::test]
    async fn twilio_debugging_guide_example_round_trips() {
        // Twilio's debugging guide's 21211 example, byte for byte in key order (docs/api.md).
        let message = "The 'To' number +1555 is not a valid phone number.";
        let response = ApiError::new(400, 21211, message).error_response();
        assert_eq!(response.status(), 400);
        let bytes = to_bytes(response.into_body()).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            format!(
                r#"{{"code":21211,"message":"{message}","more_info":"https://www.twilio.com/docs/errors/21211","status":400}}"#
            )
        );
    }

    #[test]
    fn unauthorized_asks_for_basic_auth() {
        let response = ApiError::unauthorized().error_response();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            r#"Basic realm="Switchboard""#
        );
        assert_eq!(ApiError::unauthorized().code(), 20003);
        // Only 401s carry the challenge.
        let forbidden = ApiError::forbidden("no").error_response();
        assert!(forbidden.headers().get(header::WWW_AUTHENTICATE).is_none());
        // The console's 401s do not make a browser prompt for Basic credentials.
        let console = ApiError::unauthorized().without_challenge().error_response();
        assert_eq!(console.status(), 401);
        assert!(console.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn constructors_have_twilio_codes_and_statuses() {
        let cases = [
            (ApiError::forbidden("f"), 403, 20403),
            (ApiError::bad_param("b"), 400, 20001),
            (ApiError::unsupported("u"), 400, 20001),
            (ApiError::conflict(50307, "c"), 409, 50307),
            (ApiError::too_large("t"), 413, 20001),
            (ApiError::internal(), 500, 20500),
            (ApiError::new(429, 20429, "slow"), 429, 20429),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error}");
            assert_eq!(error.error_response().status().as_u16(), status);
        }
        assert_eq!(ApiError::bad_param("PageSize bad").message(), "PageSize bad");
        assert_eq!(ApiError::internal().more_info(), "https://www.twilio.com/docs/errors/20500");
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let error = ApiError::from_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("sled: io error at /var/lib/switchboard/db".into()),
            "/x",
        );
        assert_eq!(error, ApiError::internal());
        let unavailable = ApiError::from_status(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("secret detail".into()),
            "/x",
        );
        assert_eq!((unavailable.status(), unavailable.code()), (503, 20500));
        assert!(!unavailable.message().contains("secret"));
    }

    #[test]
    fn too_many_requests_carry_retry_after_and_other_errors_do_not() {
        let response = ApiError::too_many_requests("slow down", 3).error_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "3");
        let plain = ApiError::new(429, 20429, "Too Many Requests").error_response();
        assert!(plain.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn invalid_status_becomes_500() {
        let response = ApiError::new(1000, 1, "odd").error_response();
        assert_eq!(response.status(), 500);
    }

    fn app() -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        #[derive(serde::Deserialize)]
        struct Count {
            #[allow(dead_code)]
            n: u32,
        }
        App::new()
            .wrap(twilio_error_shape())
            .configure(configure_extractor_errors)
            // A resource, not `App::route`: only a resource answers other methods with 405
            // (`App::route` makes the method a guard, so they fall through to the default 404).
            .service(
                web::resource("/json").route(web::post().to(|_: web::Json<Count>| async { "ok" })),
            )
            .route("/form", web::post().to(|_: web::Form<Count>| async { "ok" }))
            .route("/query", web::get().to(|_: web::Query<Count>| async { "ok" }))
            .route("/path/{n}", web::get().to(|_: web::Path<u32>| async { "ok" }))
            .service(
                web::resource("/bytes")
                    .app_data(web::PayloadConfig::new(8))
                    .route(web::post().to(|_: web::Bytes| async { "ok" })),
            )
            .route(
                "/plain-500",
                web::get().to(|| async {
                    Err::<HttpResponse, _>(actix_web::error::ErrorInternalServerError(
                        "disk on fire",
                    ))
                }),
            )
            .route(
                "/deliberate",
                web::get().to(|| async { HttpResponse::ServiceUnavailable().body("not ready") }),
            )
            .route(
                "/ours",
                web::get()
                    .to(|| async { Err::<HttpResponse, _>(ApiError::conflict(50307, "taken")) }),
            )
            .default_service(web::to(not_found))
    }

    async fn call(request: atest::TestRequest) -> (u16, Value) {
        let service = atest::init_service(app()).await;
        let response = atest::call_service(&service, request.to_request()).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = atest::read_body(response).await;
        if content_type.starts_with("application/json") {
            (status, serde_json::from_slice(&bytes).unwrap())
        } else {
            (status, Value::String(String::from_utf8(bytes.to_vec()).unwrap()))
        }
    }

    fn assert_shape(value: &Value, status: u16, code: u32) {
        assert_eq!(value["status"], status, "{value}");
        assert_eq!(value["code"], code, "{value}");
        assert_eq!(
            value["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}"),
            "{value}"
        );
        assert!(value["message"].as_str().is_some_and(|m| !m.is_empty()), "{value}");
        assert_eq!(value.as_object().unwrap().len(), 4, "{value}");
    }

    #[actix_rt::test]
    async fn unknown_routes_are_20404_naming_the_path() {
        let (status, body) = call(atest::TestRequest::get().uri("/v1/Nope?x=1")).await;
        assert_eq!(status, 404);
        assert_shape(&body, 404, 20404);
        assert_eq!(body["message"], "The requested resource /v1/Nope was not found");
    }

    #[actix_rt::test]
    async fn bad_json_bodies_are_20001() {
        let (status, body) = call(
            atest::TestRequest::post()
                .uri("/json")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{not json"),
        )
        .await;
        assert_eq!(status, 400);
        assert_shape(&body, 400, 20001);
    }

    #[actix_rt::test]
    async fn oversized_json_is_413() {
        let big = format!(r#"{{"n":1,"pad":"{}"}}"#, "x".repeat(EXTRACTOR_LIMIT_BYTES));
        let (status, body) = call(
            atest::TestRequest::post()
                .uri("/json")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(big),
        )
        .await;
        assert_eq!(status, 413);
        assert_shape(&body, 413, 20001);
    }

    #[actix_rt::test]
    async fn bad_forms_queries_and_paths_are_in_twilio_shape() {
        let (status, body) = call(
            atest::TestRequest::post()
                .uri("/form")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload("n=ten"),
        )
        .await;
        assert_eq!(status, 400);
        assert_shape(&body, 400, 20001);

        let (status, body) = call(atest::TestRequest::get().uri("/query?n=-1")).await;
        assert_eq!(status, 400);
        assert_shape(&body, 400, 20001);

        let (status, body) = call(atest::TestRequest::get().uri("/path/abc")).await;
        assert_eq!(status, 404);
        assert_shape(&body, 404, 20404);
        assert_eq!(body["message"], "The requested resource /path/abc was not found");
    }

    #[actix_rt::test]
    async fn actix_own_errors_are_reshaped() {
        let (status, body) = call(atest::TestRequest::delete().uri("/json")).await;
        assert_eq!(status, 405);
        assert_shape(&body, 405, 20004);

        let (status, body) =
            call(atest::TestRequest::post().uri("/bytes").set_payload("more than eight bytes"))
                .await;
        assert_eq!(status, 413);
        assert_shape(&body, 413, 20001);

        let (status, body) = call(atest::TestRequest::get().uri("/plain-500")).await;
        assert_eq!(status, 500);
        assert_shape(&body, 500, 20500);
        assert!(!body.to_string().contains("fire"));
    }

    #[actix_rt::test]
    async fn deliberate_and_own_error_bodies_are_left_alone() {
        let (status, body) = call(atest::TestRequest::get().uri("/deliberate")).await;
        assert_eq!((status, body), (503, Value::String("not ready".into())));

        let (status, body) = call(atest::TestRequest::get().uri("/ours")).await;
        assert_eq!(status, 409);
        assert_shape(&body, 409, 50307);
        assert_eq!(body["message"], "taken");
    }
}
