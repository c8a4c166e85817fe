//! The local sandbox: where agent replies go when no upstream provider credentials are
//! configured, so that a developer can hold a two-sided conversation on one machine, and a daemon
//! running on credentials it made itself never calls a real provider with them.
//!
//! A reply the sandbox takes is recorded on its message as a provider's acceptance and report
//! would record it: `sent` with a sandbox id (`SB…`) and `delivered`, in one append. Once that is
//! durable it is kept in a bounded list of the newest ones, which the REST API shows, and it is
//! logged as a warning, so that nobody mistakes a sandbox for a provider.

use std::collections::VecDeque;
use std::sync::Mutex;

use rand::RngCore;
use switchboard_domain::{Sid, Timestamp};

/// How many deliveries the sandbox keeps to show; older ones stay in their channels' logs only.
pub const KEPT: usize = 1000;

/// How much of a reply's text the log line shows.
const LOGGED_CHARS: usize = 80;

/// The sandbox of a daemon with no upstream provider credentials.
#[derive(Debug, Default)]
pub struct Sandbox {
    kept: Mutex<VecDeque<SandboxDelivery>>,
}

/// One reply the sandbox delivered in place of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxDelivery {
    /// The id recorded as the provider's (`SB` and 32 hex digits).
    pub sid: String,
    pub service_sid: Sid,
    pub channel_sid: Sid,
    pub message_sid: Sid,
    /// The message's index in its channel.
    pub index: u64,
    /// The provider that would have carried it: `Twilio`, `the WhatsApp Cloud API`, `the
    /// Messenger Send API`.
    pub provider: &'static str,
    /// Our side as the provider names it: a number (`+1…`, `whatsapp:+1…`), a `phone_number_id`
    /// or a Page id.
    pub from: String,
    /// The customer as the provider names them.
    pub to: String,
    pub body: String,
    pub media_content_type: Option<String>,
    pub delivered_at: Timestamp,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// A fresh id for a delivery, in the place of a provider's message id.
    pub fn new_id() -> String {
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        format!("SB{hex}")
    }

    /// Keeps a delivery whose outcome is durable, and says so loudly.
    pub(crate) fn keep(&self, delivery: SandboxDelivery) {
        let excerpt: String = delivery.body.chars().take(LOGGED_CHARS).collect();
        tracing::warn!(
            channel = %delivery.channel_sid,
            index = delivery.index,
            to = %delivery.to,
            body = ?excerpt,
            "SANDBOX: a reply was delivered to the local sandbox, not sent to {}: no upstream \
             provider credentials are configured",
            delivery.provider,
        );
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(delivery);
    }

    /// The deliveries kept, oldest first.
    pub fn deliveries(&self) -> Vec<SandboxDelivery> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(index: u64) -> SandboxDelivery {
        SandboxDelivery {
            sid: Sandbox::new_id(),
            service_sid: Sid::from_parts(switchboard_domain::SidPrefix::SERVICE, [1; 16]),
            channel_sid: Sid::from_parts(switchboard_domain::SidPrefix::CHANNEL, [1; 16]),
            message_sid: Sid::from_parts(switchboard_domain::SidPrefix::MESSAGE, [1; 16]),
            index,
            provider: "Twilio",
            from: "+15005550006".into(),
            to: "+15551234567".into(),
            body: format!("reply {index}"),
            media_content_type: None,
            delivered_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn the_newest_deliveries_are_kept_in_order() {
        let sandbox = Sandbox::new();
        for index in 0..(KEPT as u64 + 5) {
            sandbox.keep(delivery(index));
        }
        let kept = sandbox.deliveries();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].index, 5, "the oldest went first");
        assert_eq!(kept[KEPT - 1].index, KEPT as u64 + 4);
    }

    #[test]
    fn ids_are_sandbox_ids() {
        let (a, b) = (Sandbox::new_id(), Sandbox::new_id());
        assert!(a.starts_with("SB") && a.len() == 34, "{a}");
        assert_ne!(a, b);
    }
}
