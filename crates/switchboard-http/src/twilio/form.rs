//! Form bodies and query strings as Twilio clients send them: `application/x-www-form-urlencoded`,
//! PascalCase names, dotted names for nested settings (`Configuration.Url`), and repeated keys for
//! lists (`Configuration.Filters=a&Configuration.Filters=b`, `Type=public&Type=private`), which
//! serde's form extractor cannot hold.
//!
//! Rules, the same for bodies ([`TwilioForm`]) and query strings ([`TwilioQuery`]):
//! - names are matched exactly (case-sensitive), as Twilio does;
//! - a single-valued name sent more than once: the **last** value wins (what most form parsers
//!   do, and what a client appending an override expects); [`TwilioForm::all`] gives every value;
//! - an empty value (`Name=`) is kept as `""`: the official SDKs never send one, so handlers decide
//!   what it means (`require` refuses it, `get_sid` treats it as absent);
//! - unknown names are kept and ignored by handlers: SDKs may send parameters newer than us, and
//!   refusing them would break those clients.

use std::future::{ready, Future, Ready};
use std::ops::Deref;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use switchboard_domain::{Sid, SidPrefix};

use crate::twilio::error::ApiError;

/// The largest form body accepted unless a [`FormLimit`] says otherwise.
pub const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// App data that changes the body limit of [`TwilioForm`] for an app, scope or resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimit(pub usize);

/// Where the pairs came from; it only changes the wording of errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Origin {
    #[default]
    Body,
    Query,
}

/// The decoded name/value pairs of a form body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioForm {
    pairs: Vec<(String, String)>,
    origin: Origin,
}

impl TwilioForm {
    /// Decodes a form body: `+` is a space, `%XX` a byte, invalid UTF-8 is replaced (U+FFFD).
    pub fn parse(body: &[u8]) -> TwilioForm {
        TwilioForm { pairs: decode(body), origin: Origin::Body }
    }

    /// A form of pairs decoded elsewhere (a signed webhook's, whose signature is checked over
    /// the pairs before anything reads them).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> TwilioForm {
        TwilioForm { pairs, origin: Origin::Body }
    }

    /// Decodes a query string (without the `?`).
    pub fn parse_query(query: &str) -> TwilioForm {
        TwilioForm { pairs: decode(query.as_bytes()), origin: Origin::Query }
    }

    /// The value of `name`; when a client repeats a single-valued name, the last one wins.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable name, in the order sent.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether `name` was sent at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every decoded pair, in order, repeats included: what a request signature is computed over.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of a required parameter, in Twilio's words when it is missing or empty.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.required(self.get(name), name)
    }

    /// A field a typed form declares optional but a handler requires (required only at creation,
    /// or only once another parameter is judged): its value, or Twilio's error when it is missing
    /// or empty, as [`TwilioForm::require`] answers.
    pub fn required<'v>(&self, value: Option<&'v str>, name: &str) -> Result<&'v str, ApiError> {
        value.filter(|value| !value.is_empty()).ok_or_else(|| self.missing(name))
    }

    /// Twilio's error for a required parameter missing or empty, saying where it was looked for.
    pub(crate) fn missing(&self, name: &str) -> ApiError {
        let place = match self.origin {
            Origin::Body => "post body",
            Origin::Query => "query string",
        };
        ApiError::bad_param(format!("Missing required parameter {name} in the {place}"))
    }

    /// `true` or `false` (any case); anything else names the parameter.
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_param(format!("{name} must be true or false, not {v:?}"))),
        }
    }

    pub fn get_u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_param(format!("{name} must be a whole number, not {v:?}"))
                })
            })
            .transpose()
    }

    pub fn get_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_param(format!("{name} must be an integer, not {v:?}"))
                })
            })
            .transpose()
    }

    /// A SID of the expected kind; an empty value counts as absent.
    pub fn get_sid(&self, name: &str, prefix: SidPrefix) -> Result<Option<Sid>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => Sid::parse_with(v, prefix)
                .map(Some)
                .map_err(|e| ApiError::bad_param(format!("{name} {v:?} is not valid: {e}"))),
        }
    }
}

fn decode(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Reads a whole request body of at most `limit` bytes; a larger one is refused in Twilio's shape,
/// before anything is read when its `Content-Length` says so.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let too_large =
        || ApiError::too_large(format!("The request body is larger than {limit} bytes"));
    if declared_length(request).is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The body's length as its `Content-Length` header declares it.
pub fn declared_length(request: &HttpRequest) -> Option<u64> {
    let value = request.headers().get(actix_web::http::header::CONTENT_LENGTH)?;
    value.to_str().ok()?.trim().parse().ok()
}

/// Why a body could not be read: 408 when it came too slowly (`crate::limits`), else 400.
pub fn unreadable(error: actix_web::error::PayloadError) -> ApiError {
    use actix_web::error::PayloadError;
    match error {
        PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::new(408, 20001, "The request body did not arrive in time")
        }
        other => ApiError::bad_param(format!("The request body could not be read: {other}")),
    }
}

impl FromRequest for TwilioForm {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<TwilioForm, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = web::Payload::from_request(request, payload).into_inner();
        let limit = request.app_data::<FormLimit>().map_or(FORM_LIMIT_BYTES, |l| l.0);
        let request = request.clone();
        Box::pin(async move {
            let payload = payload.map_err(|e| {
                ApiError::bad_param(format!("The request body could not be read: {e}"))
            })?;
            read_form(&request, payload, limit).await
        })
    }
}

/// Reads a form body of at most `limit` bytes: what [`TwilioForm`]'s extractor does, for the
/// few resources that take larger forms than [`FORM_LIMIT_BYTES`] (Studio's definitions).
pub async fn read_form(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<TwilioForm, ApiError> {
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = read_body(request, payload, limit).await?;
    // The SDKs send this content type on list GETs too, with no body: an empty body is fine
    // whatever the header says.
    let is_form =
        content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded");
    if !body.is_empty() && !is_form {
        return Err(ApiError::bad_param(
            "The request body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(TwilioForm::parse(&body))
}

/// The decoded query string of a request, with the same accessors as [`TwilioForm`] (through
/// `Deref`), for list filters such as `Type=public&Type=private`. Never fails to extract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioQuery(TwilioForm);

impl TwilioQuery {
    pub fn parse(query: &str) -> TwilioQuery {
        TwilioQuery(TwilioForm::parse_query(query))
    }

    pub fn into_inner(self) -> TwilioForm {
        self.0
    }
}

impl Deref for TwilioQuery {
    type Target = TwilioForm;

    fn deref(&self) -> &TwilioForm {
        &self.0
    }
}

impl FromRequest for TwilioQuery {
    type Error = ApiError;
    type Future = Ready<Result<TwilioQuery, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(TwilioQuery::parse(request.query_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::CONTENT_TYPE;
    use actix_web::test::TestRequest;

    const SERVICE: &str = "IS0123456789abcdef0123456789abcdef";

    #[test]
    fn repeated_and_dotted_names() {
        // The body the official Python SDK sends for a channel webhook (docs/api.md).
        let form = TwilioForm::parse(b"Type=webhook&Configuration.Url=https%3A%2F%2Fexample.com%2Fhook&Configuration.Method=POST&Configuration.Filters=onMessageSent&Configuration.Filters=onMemberAdded");
        assert_eq!(form.all("Configuration.Filters"), ["onMessageSent", "onMemberAdded"]);
        assert_eq!(form.get("Configuration.Url"), Some("https://example.com/hook"));
        assert_eq!(form.get("Configuration.Method"), Some("POST"));
        assert!(form.all("Configuration").is_empty());
        assert_eq!(form.pairs().len(), 5);
    }

    #[test]
    fn decodes_plus_percent_and_utf8() {
        let form = TwilioForm::parse(
            b"FriendlyName=web+flow&Body=h%C3%A9llo+w%C3%B6rld+%26+more&PreEngagementData=%7B%22q%22%3A%22x%22%7D",
        );
        assert_eq!(form.get("FriendlyName"), Some("web flow"));
        assert_eq!(form.get("Body"), Some("héllo wörld & more"));
        assert_eq!(form.get("PreEngagementData"), Some(r#"{"q":"x"}"#));
    }

    #[test]
    fn last_value_wins_and_pairs_keep_order_and_repeats() {
        let form = TwilioForm::parse(b"Digits=5678&Sid=CA123&Digits=1234");
        assert_eq!(form.get("Digits"), Some("1234"));
        assert_eq!(form.all("Digits"), ["5678", "1234"]);
        let expected: Vec<(String, String)> =
            [("Digits", "5678"), ("Sid", "CA123"), ("Digits", "1234")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        assert_eq!(form.pairs(), expected.as_slice());
    }

    #[test]
    fn names_are_case_sensitive() {
        let form = TwilioForm::parse(b"friendlyName=x");
        assert_eq!(form.get("FriendlyName"), None);
        assert!(!form.contains("FriendlyName"));
        assert!(form.contains("friendlyName"));
    }

    #[test]
    fn require_names_the_parameter_and_refuses_empty() {
        let form = TwilioForm::parse(b"FriendlyName=&Identity=bob");
        assert_eq!(form.require("Identity").unwrap(), "bob");
        let missing = form.require("ChatServiceSid").unwrap_err();
        assert_eq!((missing.status(), missing.code()), (400, 20001));
        assert_eq!(missing.message(), "Missing required parameter ChatServiceSid in the post body");
        assert_eq!(
            form.require("FriendlyName").unwrap_err().message(),
            "Missing required parameter FriendlyName in the post body"
        );
        assert!(form.contains("FriendlyName"));
        assert_eq!(form.get("FriendlyName"), Some(""));
    }

    #[test]
    fn booleans() {
        let form = TwilioForm::parse(b"A=true&B=FALSE&C=True&D=yes&E=1&F=");
        assert_eq!(form.get_bool("A").unwrap(), Some(true));
        assert_eq!(form.get_bool("B").unwrap(), Some(false));
        assert_eq!(form.get_bool("C").unwrap(), Some(true));
        assert_eq!(form.get_bool("Missing").unwrap(), None);
        for name in ["D", "E", "F"] {
            let error = form.get_bool(name).unwrap_err();
            assert_eq!(error.code(), 20001);
            assert!(error.message().starts_with(name), "{}", error.message());
        }
    }

    #[test]
    fn numbers() {
        let form = TwilioForm::parse(b"Index=42&Neg=-7&Ten=ten&Big=18446744073709551616&Frac=1.5");
        assert_eq!(form.get_u64("Index").unwrap(), Some(42));
        assert_eq!(form.get_i64("Neg").unwrap(), Some(-7));
        assert_eq!(form.get_u64("Missing").unwrap(), None);
        assert!(form.get_u64("Neg").unwrap_err().message().contains("Neg"));
        assert!(form.get_u64("Ten").unwrap_err().message().contains("Ten"));
        assert!(form.get_u64("Big").is_err());
        assert!(form.get_i64("Frac").unwrap_err().message().contains("Frac"));
    }

    #[test]
    fn sids() {
        let form = TwilioForm::parse(
            format!(
                "ChatServiceSid={SERVICE}&Wrong=CH00000000000000000000000000000000&Empty=&Junk=IS12"
            )
            .as_bytes(),
        );
        assert_eq!(
            form.get_sid("ChatServiceSid", SidPrefix::SERVICE).unwrap(),
            Some(SERVICE.parse().unwrap())
        );
        assert_eq!(form.get_sid("Empty", SidPrefix::SERVICE).unwrap(), None);
        assert_eq!(form.get_sid("Missing", SidPrefix::SERVICE).unwrap(), None);
        let wrong = form.get_sid("Wrong", SidPrefix::SERVICE).unwrap_err();
        assert_eq!(wrong.code(), 20001);
        assert!(wrong.message().starts_with("Wrong"));
        assert!(form.get_sid("Junk", SidPrefix::SERVICE).is_err());
    }

    #[test]
    fn query_strings_share_the_accessors() {
        let query = TwilioQuery::parse("Type=public&Type=private&Order=desc&PageSize=3");
        assert_eq!(query.all("Type"), ["public", "private"]);
        assert_eq!(query.get("Order"), Some("desc"));
        assert_eq!(query.get_u64("PageSize").unwrap(), Some(3));
        assert_eq!(
            query.require("Identity").unwrap_err().message(),
            "Missing required parameter Identity in the query string"
        );
        assert!(TwilioQuery::parse("").pairs().is_empty());
    }

    async fn extract(request: TestRequest) -> Result<TwilioForm, ApiError> {
        let (request, mut payload) = request.to_http_parts();
        TwilioForm::from_request(&request, &mut payload).await
    }

    #[actix_rt::test]
    async fn list_gets_with_form_content_type_and_no_body_are_fine() {
        // The official Python SDK sends this header on list GETs with an empty body.
        let form = extract(
            TestRequest::get()
                .uri("/chat/v2/Services")
                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded")),
        )
        .await
        .unwrap();
        assert!(form.pairs().is_empty());
        // And with no content type at all.
        assert!(extract(TestRequest::get()).await.unwrap().pairs().is_empty());
        // An empty body under another content type is fine too: there is nothing to misread.
        let json_empty =
            extract(TestRequest::post().insert_header((CONTENT_TYPE, "application/json"))).await;
        assert!(json_empty.unwrap().pairs().is_empty());
    }

    #[actix_rt::test]
    async fn extracts_a_form_body() {
        let form = extract(
            TestRequest::post()
                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8"))
                .set_payload("From=alice&Body=hello"),
        )
        .await
        .unwrap();
        assert_eq!(form.get("From"), Some("alice"));
        assert_eq!(form.get("Body"), Some("hello"));
    }

    #[actix_rt::test]
    async fn other_content_types_are_refused() {
        let error = extract(
            TestRequest::post()
                .insert_header((CONTENT_TYPE, "application/json"))
                .set_payload(r#"{"From":"alice"}"#),
        )
        .await
        .unwrap_err();
        assert_eq!((error.status(), error.code()), (400, 20001));
    }

    #[actix_rt::test]
    async fn bodies_over_the_limit_are_413() {
        let at_limit = "a=".to_owned() + &"x".repeat(FORM_LIMIT_BYTES - 2);
        let form = extract(TestRequest::post().set_payload(at_limit)).await.unwrap();
        assert_eq!(form.get("a").map(str::len), Some(FORM_LIMIT_BYTES - 2));

        let over = "a=".to_owned() + &"x".repeat(FORM_LIMIT_BYTES - 1);
        let error = extract(TestRequest::post().set_payload(over)).await.unwrap_err();
        assert_eq!((error.status(), error.code()), (413, 20001));

        let error = extract(TestRequest::post().app_data(FormLimit(4)).set_payload("a=12345"))
            .await
            .unwrap_err();
        assert_eq!(error.status(), 413);
    }

    #[actix_rt::test]
    async fn extracts_a_query() {
        let (request, mut payload) = TestRequest::get()
            .uri("/chat/v2/Services/IS1/Channels?Type=public&Type=private&FriendlyName=a+b")
            .to_http_parts();
        let query = TwilioQuery::from_request(&request, &mut payload).await.unwrap();
        assert_eq!(query.all("Type"), ["public", "private"]);
        assert_eq!(query.get("FriendlyName"), Some("a b"));
        assert_eq!(query.into_inner().pairs().len(), 3);
    }
}
