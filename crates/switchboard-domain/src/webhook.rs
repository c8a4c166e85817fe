//! Channel webhooks (Chat v2 `Channels/{CH}/Webhooks`): where a channel's changes are POSTed, for
//! which of Twilio's post-event names, and the rules a configuration must keep.
//!
//! A webhook belongs to its channel, so its changes are channel events and live in the channel's
//! stream; delivery reads that same stream. Only Twilio's `webhook` type exists here: `studio`
//! and `trigger` are refused before a command is made.

use serde::{Deserialize, Serialize};

/// The HTTP method a webhook is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookMethod {
    Get,
    #[default]
    Post,
}

impl WebhookMethod {
    /// As Twilio writes it: `GET`, `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookMethod::Get => "GET",
            WebhookMethod::Post => "POST",
        }
    }

    /// `GET` or `POST`, in any case.
    pub fn parse(text: &str) -> Option<WebhookMethod> {
        if text.eq_ignore_ascii_case("GET") {
            Some(WebhookMethod::Get)
        } else if text.eq_ignore_ascii_case("POST") {
            Some(WebhookMethod::Post)
        } else {
            None
        }
    }
}

/// Twilio's post-event names that make sense for one channel, as `Configuration.Filters` takes
/// them. Service-level names (`onChannelAdded`, `onUserAdded`, …) and pre-event names
/// (`onMessageSend`, …) are not among them.
pub const WEBHOOK_FILTERS: &[&str] = &[
    "onMessageSent",
    "onMediaMessageSent",
    "onMessageUpdated",
    "onMessageRemoved",
    "onChannelUpdated",
    "onChannelDestroyed",
    "onMemberAdded",
    "onMemberUpdated",
    "onMemberRemoved",
];

/// Twilio allows five webhooks on one channel.
pub const MAX_WEBHOOKS_PER_CHANNEL: usize = 5;

/// `Configuration.RetryCount` goes from 0 to 3.
pub const MAX_WEBHOOK_RETRY_COUNT: u8 = 3;

/// What a webhook is: the same fields its events store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    pub method: WebhookMethod,
    /// Post-event names from [`WEBHOOK_FILTERS`], in the order given, without repeats.
    pub filters: Vec<String>,
    pub retry_count: u8,
}

impl WebhookConfig {
    /// The rules every stored configuration keeps; the HTTP layer checks the same first, with
    /// messages that name the offending value.
    pub fn check(&self) -> Result<(), &'static str> {
        let lower = self.url.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err("a webhook URL is an absolute http or https URL");
        }
        if self.filters.is_empty() {
            return Err("a webhook needs at least one filter");
        }
        if self.filters.iter().any(|f| !WEBHOOK_FILTERS.contains(&f.as_str())) {
            return Err("a webhook filter is not a channel event name");
        }
        if self.retry_count > MAX_WEBHOOK_RETRY_COUNT {
            return Err("a webhook's retry count goes from 0 to 3");
        }
        Ok(())
    }

    /// Whether the webhook asked for `event_type` (`onMessageSent`, …).
    pub fn wants(&self, event_type: &str) -> bool {
        self.filters.iter().any(|f| f == event_type)
    }
}
