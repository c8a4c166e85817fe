//! Form bodies as Twilio clients send them: `application/x-www-form-urlencoded`, PascalCase
//! names, dotted names for nested settings, and repeated keys for lists
//! (`Configuration.Filters=a&Configuration.Filters=b`), which serde's form extractor cannot hold.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use switchboard_domain::{Sid, SidPrefix};

use crate::twilio::error::ApiError;

/// The largest form body accepted.
pub const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// The decoded name/value pairs of a form body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioForm {
    pairs: Vec<(String, String)>,
}

impl TwilioForm {
    pub fn parse(body: &[u8]) -> TwilioForm {
        TwilioForm {
            pairs: form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The value of `name`; when a client repeats a single-valued name, the last one wins.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable name, in the order sent.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of a required parameter, in Twilio's words when it is missing.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::bad_param(format!(
                "Missing required parameter {name} in the post body"
            ))),
        }
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

/// Reads a whole request body of at most `limit` bytes; a larger one is refused in Twilio's shape.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_param(format!("The request body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!(
                "The request body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl FromRequest for TwilioForm {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<TwilioForm, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = web::Payload::from_request(request, payload).into_inner();
        let content_type = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Box::pin(async move {
            let payload = payload.map_err(|e| {
                ApiError::bad_param(format!("The request body could not be read: {e}"))
            })?;
            let body = read_body(payload, FORM_LIMIT_BYTES).await?;
            let is_form = content_type.is_empty()
                || content_type.starts_with("application/x-www-form-urlencoded");
            if !body.is_empty() && !is_form {
                return Err(ApiError::bad_param(
                    "The request body must be application/x-www-form-urlencoded",
                ));
            }
            Ok(TwilioForm::parse(&body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_dotted_names() {
        let form = TwilioForm::parse(b"Type=webhook&Configuration.Filters=onMessageSent&Configuration.Filters=onMemberAdded&Enabled=TRUE&Body=h%C3%A9llo+world");
        assert_eq!(form.all("Configuration.Filters"), ["onMessageSent", "onMemberAdded"]);
        assert_eq!(form.get_bool("Enabled").unwrap(), Some(true));
        assert_eq!(form.get("Body"), Some("héllo world"));
        assert!(form.require("Missing").unwrap_err().message().contains("Missing"));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let form = TwilioForm::parse(
            b"Enabled=yes&Timeout=ten&ChatServiceSid=CH00000000000000000000000000000000",
        );
        assert!(form.get_bool("Enabled").unwrap_err().message().contains("Enabled"));
        assert!(form.get_u64("Timeout").unwrap_err().message().contains("Timeout"));
        assert!(form.get_sid("ChatServiceSid", SidPrefix::SERVICE).is_err());
    }
}
