//! Times as Twilio writes and reads them: ISO 8601 UTC to the second (`2016-08-01T22:10:40Z`) in
//! the v1/v2 APIs, RFC 2822 (`Thu, 24 Aug 2023 05:01:45 +0000`) in the 2010 API.
//!
//! ISO 8601 output is the engine's formatter (`switchboard_actors::iso8601`), re-exported so that
//! the outbox, the views and the CLI print exactly the same text; this module adds what only HTTP
//! needs. The SDKs parse exactly `%Y-%m-%dT%H:%M:%SZ`, so fractions of a second are never written.

use switchboard_domain::Timestamp;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

use crate::twilio::error::ApiError;

pub use switchboard_actors::iso8601;

/// `Thu, 24 Aug 2023 05:01:45 +0000`, for the 2010 API. Fractions are dropped. A time outside
/// the years RFC 2822 can write (before 1900 or after 9999) is written as Unix seconds rather
/// than failing a response.
pub fn rfc2822(at: Timestamp) -> String {
    let seconds = at.as_millis().div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc2822).ok())
        .unwrap_or_else(|| seconds.to_string())
}

/// Reads a date parameter such as `DateCreated=2016-08-01T22:10:40Z` (what the SDKs send). Any
/// RFC 3339 time is accepted, with an offset or fractions; `name` is for the error.
pub fn parse_iso8601(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    let invalid = || {
        ApiError::bad_param(format!(
            "{name} must be a date like 2016-08-01T22:10:40Z, not {text:?}"
        ))
    };
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid())?;
    let millis = at.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(millis).map(Timestamp::from_millis).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_twilio_format() {
        // The example of Twilio's OpenAPI descriptions: "2016-08-01T22:10:40Z".
        assert_eq!(iso8601(Timestamp::from_millis(1_470_089_440_000)), "2016-08-01T22:10:40Z");
        assert_eq!(iso8601(Timestamp::from_millis(1_470_089_440_999)), "2016-08-01T22:10:40Z");
        assert_eq!(iso8601(Timestamp::from_millis(0)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc2822_is_the_2010_api_format() {
        // The OpenAPI example of the 2010 API's Message: "Thu, 24 Aug 2023 05:01:45 +0000".
        assert_eq!(
            rfc2822(Timestamp::from_millis(1_692_853_305_000)),
            "Thu, 24 Aug 2023 05:01:45 +0000"
        );
        assert_eq!(
            rfc2822(Timestamp::from_millis(1_692_853_305_999)),
            "Thu, 24 Aug 2023 05:01:45 +0000"
        );
        // Single-digit days are zero-padded, as in Twilio's examples.
        assert_eq!(
            rfc2822(Timestamp::from_millis(1_470_089_440_000)),
            "Mon, 01 Aug 2016 22:10:40 +0000"
        );
        // Before 1900: no RFC 2822 form; Unix seconds instead of a panic.
        assert_eq!(rfc2822(Timestamp::from_millis(-2_300_000_000_000)), "-2300000000");
    }

    #[test]
    fn parses_what_the_sdks_send_and_more() {
        assert_eq!(
            parse_iso8601("DateCreated", "2016-08-01T22:10:40Z").unwrap(),
            Timestamp::from_millis(1_470_089_440_000)
        );
        assert_eq!(
            parse_iso8601("DateCreated", "2016-08-01T22:10:40.250Z").unwrap(),
            Timestamp::from_millis(1_470_089_440_250)
        );
        assert_eq!(
            parse_iso8601("DateCreated", "2016-08-02T00:10:40+02:00").unwrap(),
            Timestamp::from_millis(1_470_089_440_000)
        );
        let round_trip = Timestamp::from_millis(1_795_510_800_000);
        assert_eq!(parse_iso8601("D", &iso8601(round_trip)).unwrap(), round_trip);
        for bad in ["", "2016-08-01", "yesterday", "2016-13-01T00:00:00Z", "1470089440"] {
            let error = parse_iso8601("DateCreated", bad).unwrap_err();
            assert_eq!(error.code(), 20001, "{bad:?}");
            assert!(error.message().starts_with("DateCreated"), "{bad:?}");
        }
    }
}
