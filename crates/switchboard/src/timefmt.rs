//! Time as operators read and write it: ISO 8601 UTC to the second (Twilio's format), or Unix
//! seconds on input.

use switchboard_domain::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use switchboard_actors::iso8601 as iso;

/// Parses RFC 3339 (`2026-11-24T09:00:00Z`) or whole Unix seconds.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(Timestamp::from_millis(seconds.saturating_mul(1000)));
    }
    let when = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        format!("{text:?} is neither RFC 3339 (2026-11-24T09:00:00Z) nor Unix seconds: {e}")
    })?;
    let millis = when.unix_timestamp_nanos() / 1_000_000;
    Ok(Timestamp::from_millis(i64::try_from(millis).map_err(|_| "time out of range".to_owned())?))
}

/// The current time, for the commands that record events.
pub fn now() -> Timestamp {
    let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let at = parse("2026-11-24T09:00:00Z").unwrap();
        assert_eq!(at.as_millis(), 1_795_510_800_000);
        assert_eq!(iso(Timestamp::from_millis(1_795_510_800_999)), "2026-11-24T09:00:00Z");
        assert_eq!(parse("1795510800").unwrap(), at);
        assert!(parse("yesterday").is_err());
    }
}
