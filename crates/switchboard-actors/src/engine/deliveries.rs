//! `Deliveries`: what providers report of the messages sent to customers (statuses, watermarks),
//! and the deliveries the outbox gave up on.

use std::time::Duration;

use switchboard_domain::{
    ChannelCommand, DeliveryStatus, IndexKind, ProviderError, Sid, Timestamp,
};

use super::Engine;
use crate::EngineError;

/// How many more times, and how far apart, an unknown provider id is looked up again.
const STATUS_RETRIES: u32 = 10;
const STATUS_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A provider's report on one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub error: Option<ProviderError>,
}

/// Providers' reports on outbound messages (`Engine::deliveries`).
#[derive(Debug, Clone, Copy)]
pub struct Deliveries<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Providers' delivery reports and the outbox's dead letters.
    pub fn deliveries(&self) -> Deliveries<'_> {
        Deliveries { engine: self }
    }
}

impl Deliveries<'_> {
    /// Applies providers' reports on outbound messages, each found by the provider's id for it
    /// (Twilio's `SM…`, `wamid.…`, Messenger's `mid`). Returns the ids that match no message of
    /// ours. A report that does not move a status forward records nothing.
    ///
    /// A provider may report before the send's own outcome is recorded (its answer and its first
    /// status callback race), so ids not found at once are looked up again for a moment.
    pub async fn provider_statuses(
        self,
        reports: Vec<ProviderStatus>,
    ) -> Result<Vec<String>, EngineError> {
        let mut pending = reports;
        for attempt in 0..=STATUS_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(STATUS_RETRY_PAUSE).await;
            }
            let mut unknown = Vec::new();
            for report in pending {
                let found = self.engine.inner.log.lookup(
                    IndexKind::ProviderMessage,
                    None,
                    &report.provider_message_id,
                )?;
                let Some((channel_sid, Some(index))) = found else {
                    unknown.push(report);
                    continue;
                };
                let command = ChannelCommand::RecordDelivery {
                    index,
                    status: report.status,
                    error: report.error,
                };
                if let Err(rejection) =
                    self.engine.channels().execute(channel_sid, vec![command]).await?
                {
                    tracing::debug!(%channel_sid, index, %rejection, "a delivery report was not applied");
                }
            }
            if unknown.is_empty() {
                return Ok(Vec::new());
            }
            pending = unknown;
        }
        Ok(pending.into_iter().map(|r| r.provider_message_id).collect())
    }

    /// Applies a provider's watermark ("every message sent before `up_to` was delivered/read")
    /// to the channel a customer of `flow` is bound to. Returns whether there was one.
    pub async fn provider_watermark(
        self,
        flow_sid: Sid,
        customer_address: &str,
        status: DeliveryStatus,
        up_to: Timestamp,
    ) -> Result<bool, EngineError> {
        let bound =
            self.engine.inner.log.lookup(IndexKind::Binding, Some(flow_sid), customer_address)?;
        let Some((channel_sid, _)) = bound else { return Ok(false) };
        let command = ChannelCommand::RecordWatermark { status, up_to };
        if let Err(rejection) = self.engine.channels().execute(channel_sid, vec![command]).await? {
            tracing::debug!(%channel_sid, %rejection, "a watermark was not applied");
        }
        Ok(true)
    }

    /// Deliveries the outbox gave up on: (channel, sequence, why).
    pub fn dead_letters(self) -> Result<Vec<(Sid, u64, String)>, EngineError> {
        Ok(self.engine.inner.log.dead_letters(crate::consumer::EXTERNAL_CONSUMER)?)
    }
}
