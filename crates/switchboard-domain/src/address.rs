//! Customer addresses in one normalized form, so one customer is one customer whatever the
//! provider's spelling (chatwoot#13808 split a contact in two over number formats).
//!
//! - SMS: E.164, `+` and 8 to 15 digits (`+14155550123`).
//! - WhatsApp, through Twilio or Meta: `whatsapp:+E164`.
//! - Messenger: `messenger:<PSID>`.

use crate::ChannelType;

/// Why an address could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub &'static str);

/// Normalizes a phone number to E.164. Spaces, dashes, dots and parentheses are dropped; the
/// number must start with `+` (providers always send it; guessing a country would be wrong).
pub fn e164(raw: &str) -> Result<String, AddressError> {
    let kept: String =
        raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = kept.strip_prefix('+').ok_or(AddressError("a phone number starts with +"))?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError("a phone number has 8 to 15 digits after the +"));
    }
    Ok(kept)
}

/// Whether `text` is a phone number exactly as providers write it: `+` and 8 to 15 digits, no
/// spaces or punctuation (the form Twilio's webhooks name our numbers in).
pub fn is_e164(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The normalized customer address for a message of `channel_type` from `raw`.
pub fn customer_address(channel_type: ChannelType, raw: &str) -> Result<String, AddressError> {
    match channel_type {
        ChannelType::Sms => e164(raw.strip_prefix("sms:").unwrap_or(raw)),
        ChannelType::Whatsapp => {
            let number = raw.trim().strip_prefix("whatsapp:").unwrap_or(raw.trim());
            let number =
                if number.starts_with('+') { number.to_owned() } else { format!("+{number}") };
            Ok(format!("whatsapp:{}", e164(&number)?))
        }
        ChannelType::Facebook => {
            let psid = raw.trim().strip_prefix("messenger:").unwrap_or(raw.trim());
            if psid.is_empty() || !psid.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AddressError("a Messenger PSID is digits"));
            }
            Ok(format!("messenger:{psid}"))
        }
        ChannelType::Web | ChannelType::Line | ChannelType::Custom => {
            let identity = raw.trim();
            if identity.is_empty() {
                return Err(AddressError("the customer identity is empty"));
            }
            Ok(identity.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_customer_one_address() {
        assert_eq!(e164("+1 (415) 555-0123").unwrap(), "+14155550123");
        assert!(e164("4155550123").is_err());
        assert!(e164("+1415555012a").is_err());
        let wa = |raw| customer_address(ChannelType::Whatsapp, raw).unwrap();
        assert_eq!(wa("whatsapp:+14155550123"), "whatsapp:+14155550123");
        assert_eq!(wa("14155550123"), "whatsapp:+14155550123", "Meta's wa_id has no +");
        assert_eq!(
            customer_address(ChannelType::Facebook, "1234567890").unwrap(),
            "messenger:1234567890"
        );
        assert!(customer_address(ChannelType::Facebook, "abc").is_err());
    }

    #[test]
    fn e164_as_providers_write_it() {
        assert!(is_e164("+15005550006"));
        assert!(!is_e164(" 15005550006"), "a + sent unencoded in a form is a space");
        assert!(!is_e164("15005550006"));
        assert!(!is_e164("+1 500 555 0006"));
        assert!(!is_e164("+1234567"), "too short");
        assert!(!is_e164("+1234567890123456"), "too long");
        assert!(!is_e164("+1500555000a"));
    }
}
