//! A web flow's widget settings: which sites may embed the chat, the pre-engagement form (with the
//! required and consent fields the server enforces), the greeting, theme and strings.
//!
//! They are events of the flow's own stream (`FlowEvent::WebSettingsChanged`), replaced whole by
//! each change, so who allowed which site is in the audit trail like every other routing change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FlowRejection;

/// At most this many allowed origins (Flex Webchat 3 allows ten).
pub const MAX_ALLOWED_ORIGINS: usize = 10;
/// At most this many pre-engagement fields.
pub const MAX_FORM_FIELDS: usize = 16;
/// The longest answer to a field, in characters.
pub const MAX_ANSWER_CHARS: usize = 1024;
/// The longest label, greeting, theme value or string, in characters.
const MAX_TEXT_CHARS: usize = 2048;
/// At most this many overridden strings, all locales together.
const MAX_STRINGS: usize = 512;
/// The theme's keys (CSS variables of the chat: `--sb-color`, …).
pub const THEME_KEYS: [&str; 4] = ["color", "font", "radius", "position"];

/// What a pre-engagement field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Email,
    /// A checkbox; when required, the visitor must tick it (its answer is `true`).
    Consent,
}

/// One field of the pre-engagement form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// The key of the answer in the pre-engagement data (`[a-z0-9_]`, 1 to 32 characters).
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
}

/// A web flow's widget settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WebFlowSettings {
    /// Origins (`https://shop.example.com`) whose pages may embed the chat and start sessions.
    pub allowed_origins: Vec<String>,
    pub fields: Vec<FormField>,
    pub greeting: Option<String>,
    /// Theme defaults by key of [`THEME_KEYS`].
    pub theme: BTreeMap<String, String>,
    /// Overridden strings: locale (`en`, `fr-CA`) to string key to text.
    pub strings: BTreeMap<String, BTreeMap<String, String>>,
    /// The secret a host's backend signs visitors' identities with (HMAC-SHA256, hex); without
    /// one, a session that claims an identity is refused. Never shown back.
    pub identity_secret: Option<String>,
}

// By hand, so that the identity secret is never printed.
impl std::fmt::Debug for WebFlowSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebFlowSettings")
            .field("allowed_origins", &self.allowed_origins)
            .field("fields", &self.fields)
            .field("greeting", &self.greeting)
            .field("theme", &self.theme)
            .field("strings", &self.strings)
            .field("identity_secret", &self.identity_secret.as_ref().map(|_| ".."))
            .finish()
    }
}

impl WebFlowSettings {
    /// What a flow that never set any shows: a name and no origin but the daemon's own.
    pub fn default_form() -> WebFlowSettings {
        WebFlowSettings {
            fields: vec![FormField {
                name: "friendly_name".into(),
                label: "Your name".into(),
                kind: FieldKind::Text,
                required: true,
            }],
            ..WebFlowSettings::default()
        }
    }

    /// Whether pages of `origin` may embed the chat.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }

    /// Checks a visitor's answers: every answer names a field, within its length; every required
    /// field answered (a required consent with `true`), emails shaped as one.
    pub fn check_answers(&self, answers: &BTreeMap<String, String>) -> Result<(), String> {
        if let Some(unknown) = answers.keys().find(|k| !self.fields.iter().any(|f| &f.name == *k)) {
            return Err(format!("the form has no field {unknown:?}"));
        }
        for field in &self.fields {
            let answer = answers.get(&field.name).map(|a| a.trim()).unwrap_or_default();
            if answer.chars().count() > MAX_ANSWER_CHARS {
                return Err(format!("{} is longer than {MAX_ANSWER_CHARS} characters", field.name));
            }
            let given = match field.kind {
                FieldKind::Consent => match answer {
                    "true" => true,
                    "" | "false" => false,
                    _ => return Err(format!("{} must be true or false", field.name)),
                },
                FieldKind::Email if !answer.is_empty() && !looks_like_email(answer) => {
                    return Err(format!("{} must be an email address", field.name))
                }
                _ => !answer.is_empty(),
            };
            if field.required && !given {
                return Err(format!("{} is required", field.name));
            }
        }
        Ok(())
    }
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Checks settings on their own.
pub fn validate_web_settings(settings: &WebFlowSettings) -> Result<(), FlowRejection> {
    let invalid = |m: String| Err(FlowRejection::Invalid(m));
    if settings.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
        return invalid(format!("at most {MAX_ALLOWED_ORIGINS} allowed origins"));
    }
    if let Some(bad) = settings.allowed_origins.iter().find(|o| !is_origin(o)) {
        return invalid(format!(
            "AllowedOrigins {bad:?} is not an origin (scheme://host[:port], nothing more)"
        ));
    }
    if settings.fields.len() > MAX_FORM_FIELDS {
        return invalid(format!("at most {MAX_FORM_FIELDS} form fields"));
    }
    for (n, field) in settings.fields.iter().enumerate() {
        let name_ok = (1..=32).contains(&field.name.len())
            && field
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return invalid(format!("field name {:?} must be 1 to 32 of a-z, 0-9, _", field.name));
        }
        if settings.fields[..n].iter().any(|f| f.name == field.name) {
            return invalid(format!("field {:?} is listed twice", field.name));
        }
    }
    if let Some(key) = settings.theme.keys().find(|k| !THEME_KEYS.contains(&k.as_str())) {
        return invalid(format!("theme has no key {key:?} (one of {})", THEME_KEYS.join(", ")));
    }
    let strings = settings.strings.values().map(BTreeMap::len).sum::<usize>();
    if strings > MAX_STRINGS {
        return invalid(format!("at most {MAX_STRINGS} strings"));
    }
    let texts = settings.fields.iter().map(|f| &f.label).chain(settings.greeting.iter());
    let texts = texts.chain(settings.theme.values());
    let mut texts = texts.chain(settings.strings.values().flat_map(BTreeMap::values));
    if texts.any(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return invalid(format!(
            "a label, greeting, theme value or string is longer than {MAX_TEXT_CHARS} characters"
        ));
    }
    Ok(())
}

/// `scheme://host[:port]`, http or https, lower-case host, no path, query or user.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else { return false };
    let host_ok = |host: &str| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.[]:".contains(&b))
    };
    matches!(scheme, "http" | "https") && host_ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn form() -> WebFlowSettings {
        let field = |name: &str, kind, required| FormField {
            name: name.into(),
            label: name.into(),
            kind,
            required,
        };
        WebFlowSettings {
            fields: vec![
                field("friendly_name", FieldKind::Text, true),
                field("email", FieldKind::Email, false),
                field("privacy", FieldKind::Consent, true),
            ],
            ..WebFlowSettings::default()
        }
    }

    #[test]
    fn required_and_consent_fields_are_enforced() {
        let form = form();
        let ok = answers(&[("friendly_name", "Ann"), ("privacy", "true")]);
        assert_eq!(form.check_answers(&ok), Ok(()));
        let no_consent = answers(&[("friendly_name", "Ann"), ("privacy", "false")]);
        assert!(form.check_answers(&no_consent).unwrap_err().contains("privacy is required"));
        let blank = answers(&[("friendly_name", "  "), ("privacy", "true")]);
        assert!(form.check_answers(&blank).unwrap_err().contains("friendly_name"));
        let bad_mail = answers(&[("friendly_name", "A"), ("privacy", "true"), ("email", "x")]);
        assert!(form.check_answers(&bad_mail).unwrap_err().contains("email address"));
        let extra = answers(&[("friendly_name", "A"), ("privacy", "true"), ("ssn", "1")]);
        assert!(form.check_answers(&extra).unwrap_err().contains("no field \"ssn\""));
        let long = "x".repeat(MAX_ANSWER_CHARS + 1);
        let too_long = answers(&[("friendly_name", &long), ("privacy", "true")]);
        assert!(form.check_answers(&too_long).is_err());
    }

    #[test]
    fn settings_are_checked() {
        let mut settings = form();
        settings.allowed_origins =
            vec!["https://shop.example.com".into(), "http://127.0.0.1:8080".into()];
        assert_eq!(validate_web_settings(&settings), Ok(()));
        assert!(settings.allows_origin("https://shop.example.com"));
        assert!(!settings.allows_origin("https://evil.example.com"));
        for bad in
            ["shop.example.com", "https://shop.example.com/", "ftp://x", "https://a b", "https://"]
        {
            let mut with_bad = settings.clone();
            with_bad.allowed_origins = vec![bad.into()];
            assert!(validate_web_settings(&with_bad).is_err(), "{bad}");
        }
        let mut twice = settings.clone();
        twice.fields.push(twice.fields[0].clone());
        assert!(validate_web_settings(&twice).is_err());
        let mut theme = settings.clone();
        theme.theme.insert("colour".into(), "red".into());
        assert!(validate_web_settings(&theme).is_err());
        theme.theme = [("color".to_owned(), "#0a5".to_owned())].into();
        assert_eq!(validate_web_settings(&theme), Ok(()));
        theme.identity_secret = Some("s3cr3t-of-the-host".into());
        assert!(!format!("{theme:?}").contains("s3cr3t"));
    }
}
