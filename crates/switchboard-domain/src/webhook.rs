//! Channel webhooks (Chat v2 `Channels/{CH}/Webhooks`): where a channel's changes are POSTed, for
//! which of Twilio's post-event names, and the rules a configuration must keep.
//!
//! A webhook belongs to its channel, so its changes are channel events and live in the channel's
//! stream; delivery reads that same stream. Only Twilio's `webhook` type exists here: `studio`
//! and `trigger` are refused before a command is made.
//!
//! A Chat Service's own webhooks (`ServiceWebhooks`: one pre-event and one post-event URL with
//! one list of filters) are service events, in the service's stream.

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
        if !is_absolute_http(&self.url) {
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

/// Twilio's service-level pre-event names: called before a client's action, which they may
/// refuse.
pub const SERVICE_PRE_EVENTS: &[&str] = &[
    "onMessageSend",
    "onMessageUpdate",
    "onMessageRemove",
    "onMediaMessageSend",
    "onChannelAdd",
    "onChannelUpdate",
    "onChannelDestroy",
    "onMemberAdd",
    "onMemberUpdate",
    "onMemberRemove",
    "onUserUpdate",
];

/// Twilio's service-level post-event names: told after the change is stored.
pub const SERVICE_POST_EVENTS: &[&str] = &[
    "onMessageSent",
    "onMessageUpdated",
    "onMessageRemoved",
    "onMediaMessageSent",
    "onChannelAdded",
    "onChannelUpdated",
    "onChannelDestroyed",
    "onMemberAdded",
    "onMemberUpdated",
    "onMemberRemoved",
    "onUserAdded",
    "onUserUpdated",
];

/// A Chat Service's webhooks (`PreWebhookUrl`, `PostWebhookUrl`, `WebhookMethod`,
/// `WebhookFilters`, `PreWebhookRetryCount`, `PostWebhookRetryCount`), whole, as its events store
/// them. Every field has a default so that later fields can be added, at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceWebhooks {
    #[serde(default, skip_serializing_if = "crate::stored_form::is_none_unless_positional")]
    pub pre_webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "crate::stored_form::is_none_unless_positional")]
    pub post_webhook_url: Option<String>,
    #[serde(default)]
    pub method: WebhookMethod,
    /// Pre- and post-event names, in the order given, without repeats. Only the events named
    /// here are sent: an empty list sends nothing.
    #[serde(default)]
    pub filters: Vec<String>,
    #[serde(default)]
    pub pre_retry_count: u8,
    #[serde(default)]
    pub post_retry_count: u8,
}

impl ServiceWebhooks {
    /// The rules every stored configuration keeps; the HTTP layer checks the same first, with
    /// Twilio's codes.
    pub fn check(&self) -> Result<(), &'static str> {
        let urls = [&self.pre_webhook_url, &self.post_webhook_url];
        if urls.into_iter().flatten().any(|url| !is_absolute_http(url)) {
            return Err("a webhook URL is an absolute http or https URL");
        }
        let known = |f: &String| {
            SERVICE_PRE_EVENTS.contains(&f.as_str()) || SERVICE_POST_EVENTS.contains(&f.as_str())
        };
        if !self.filters.iter().all(known) {
            return Err("a webhook filter is not a service event name");
        }
        if self.pre_retry_count.max(self.post_retry_count) > MAX_WEBHOOK_RETRY_COUNT {
            return Err("a webhook's retry count goes from 0 to 3");
        }
        Ok(())
    }

    /// The post-event webhook as delivery sees it, if there is one.
    pub fn post_hook(&self) -> Option<WebhookConfig> {
        let url = self.post_webhook_url.clone()?;
        Some(WebhookConfig {
            url,
            method: self.method,
            filters: self.filters.clone(),
            retry_count: self.post_retry_count,
        })
    }

    /// The pre-event webhook, if there is one.
    pub fn pre_hook(&self) -> Option<WebhookConfig> {
        let url = self.pre_webhook_url.clone()?;
        Some(WebhookConfig {
            url,
            method: self.method,
            filters: self.filters.clone(),
            retry_count: self.pre_retry_count,
        })
    }
}

fn is_absolute_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a pre-event URL the post-event one must not move into its place in a record.
    #[test]
    fn service_webhooks_read_back_from_both_stored_forms() {
        let hooks = ServiceWebhooks {
            post_webhook_url: Some("https://hooks.example.com/post".into()),
            filters: vec!["onMessageSent".into()],
            post_retry_count: 2,
            ..ServiceWebhooks::default()
        };
        let positional = crate::with_every_field(|| rmp_serde::to_vec(&hooks)).unwrap();
        assert_eq!(rmp_serde::from_slice::<ServiceWebhooks>(&positional).unwrap(), hooks);
        let named = rmp_serde::to_vec_named(&hooks).unwrap();
        assert_eq!(rmp_serde::from_slice::<ServiceWebhooks>(&named).unwrap(), hooks);
        let json = serde_json::to_value(&hooks).unwrap();
        assert!(json.get("pre_webhook_url").is_none(), "the named form is as it was: {json}");
    }

    #[test]
    fn service_webhooks_keep_twilios_rules() {
        let mut hooks = ServiceWebhooks {
            post_webhook_url: Some("https://hooks.example.com/post".into()),
            filters: vec!["onMessageSent".into(), "onMessageSend".into(), "onUserAdded".into()],
            ..ServiceWebhooks::default()
        };
        assert_eq!(hooks.check(), Ok(()));
        assert!(hooks.pre_hook().is_none());
        assert!(hooks.post_hook().is_some_and(|h| h.wants("onUserAdded") && h.retry_count == 0));
        hooks.filters.push("onMessageAdded".into());
        assert!(hooks.check().is_err(), "a Conversations name is not a Chat one");
        hooks.filters.pop();
        hooks.pre_webhook_url = Some("/relative".into());
        assert!(hooks.check().is_err());
        hooks.pre_webhook_url = None;
        hooks.post_retry_count = 4;
        assert!(hooks.check().is_err());
    }
}
