//! How the consumers deliver: the account that signs, the providers' APIs, retries, timeouts and
//! the outbound policy every call goes through.

use std::time::Duration;

/// Where the Graph API is unless configured otherwise.
pub const DEFAULT_GRAPH_API_BASE: &str = "https://graph.facebook.com/v22.0";

/// How the outbox delivers. No `Debug` derive: it holds secrets.
#[derive(Clone)]
pub struct OutboxConfig {
    /// The auth token that signs deliveries (`X-Twilio-Signature`) and media links.
    pub signing_key: String,
    /// The server's public base URL, on which media links for providers are built.
    pub public_url: String,
    pub account_sid: String,
    /// The first retry waits about this long; each next one twice as long, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How many times a reply to a customer is retried on network errors, 429 and 5xx before it
    /// is marked failed. With the default backoff, ten retries span about five minutes.
    pub reply_retries: u32,
    pub timeout: Duration,
    /// Where agent replies to SMS and WhatsApp-over-Twilio customers are sent.
    pub twilio: Option<TwilioApi>,
    /// Where agent replies to WhatsApp Cloud and Messenger customers are sent.
    pub graph: Option<super::replies::GraphApi>,
    /// What every outbound call (these, media, webhooks) may reach.
    pub outbound: crate::outbound::OutboundPolicy,
    /// When set, every reply to a customer goes to this sandbox instead of its provider: the
    /// daemon has no upstream provider credentials (`sandbox`).
    pub sandbox: Option<std::sync::Arc<crate::sandbox::Sandbox>>,
}

impl std::fmt::Debug for OutboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxConfig")
            .field("account_sid", &self.account_sid)
            .field("public_url", &self.public_url)
            .field("retry_base", &self.retry_base)
            .field("retry_max", &self.retry_max)
            .field("reply_retries", &self.reply_retries)
            .field("timeout", &self.timeout)
            .field("twilio", &self.twilio)
            .field("graph", &self.graph)
            .field("outbound", &self.outbound)
            .field("sandbox", &self.sandbox.is_some())
            .finish_non_exhaustive()
    }
}

/// Twilio's Messages API and the accounts that send through it. No `Debug` derive: it holds
/// auth tokens.
#[derive(Clone)]
pub struct TwilioApi {
    /// `https://api.twilio.com`, or a stand-in.
    pub base_url: String,
    /// The account that sends from every number not listed in `numbers`.
    pub account_sid: String,
    pub auth_token: String,
    /// Numbers that belong to other Twilio accounts, by number (`+E164`, without `whatsapp:`).
    pub numbers: std::collections::HashMap<String, TwilioAccount>,
    /// Where Twilio should post delivery statuses, if anywhere.
    pub status_callback: Option<String>,
}

/// One Twilio account's credentials.
#[derive(Clone)]
pub struct TwilioAccount {
    pub account_sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for TwilioAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccount")
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioApi {
    /// The account that owns `number` (`whatsapp:` prefix or not).
    pub fn account_for(&self, number: &str) -> TwilioAccount {
        let number = number.strip_prefix("whatsapp:").unwrap_or(number);
        self.numbers.get(number).cloned().unwrap_or_else(|| TwilioAccount {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.clone(),
        })
    }
}

impl std::fmt::Debug for TwilioApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut numbers: Vec<_> = self.numbers.keys().collect();
        numbers.sort();
        f.debug_struct("TwilioApi")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("numbers", &numbers)
            .field("status_callback", &self.status_callback)
            .finish_non_exhaustive()
    }
}

impl Default for OutboxConfig {
    fn default() -> OutboxConfig {
        OutboxConfig {
            signing_key: String::new(),
            public_url: String::new(),
            account_sid: String::new(),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            reply_retries: 10,
            timeout: Duration::from_secs(10),
            twilio: None,
            graph: None,
            outbound: crate::outbound::OutboundPolicy::default(),
            sandbox: None,
        }
    }
}
