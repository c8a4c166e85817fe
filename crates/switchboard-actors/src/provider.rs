//! Agent replies to the customer, through the customer's provider: for SMS and WhatsApp over
//! Twilio, Twilio's Messages API.
//!
//! Like the external integration, delivery reads the channel's own log from a cursor, so a reply
//! that is durable is never lost and a restart resumes where delivery stopped. Replies of a
//! channel go out one at a time, in order; a send is retried with backoff and jitter on network
//! errors, 429 and 5xx (not on other 4xx), and its outcome is recorded on the message as a
//! delivery status through the channel's actor: `sent`, or `failed` with the provider's error.

use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelType, DeliveryStatus, FlowConfig, MessageSource,
    ProviderError, Recorded, Sid,
};
use switchboard_store::{ReplayRecord, StoreError};

use crate::channel::Execute;
use crate::outbox::{backoff, Shared, Wake};

/// The cursor name of reply delivery.
pub const CONSUMER: &str = "provider-delivery";

/// Whether replies on channels of this flow go out through a provider this build can reach.
pub(crate) fn delivers_replies(flow: &FlowConfig) -> bool {
    match flow.channel_type {
        ChannelType::Sms => true,
        // WhatsApp over Twilio names a number; the WhatsApp Cloud API names a phone number id.
        ChannelType::Whatsapp => flow
            .contact_identity
            .as_deref()
            .is_some_and(|i| i.starts_with('+') || i.starts_with("whatsapp:")),
        _ => false,
    }
}

pub(crate) async fn deliver_replies(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.channel_sid;
    let flow = wake.flow_sid.and_then(|f| shared.flows.get(f));
    let (Some(flow), Some(api)) = (flow, shared.config.twilio.clone()) else {
        return Ok(());
    };
    let start = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        log.set_cursor(CONSUMER, channel, wake.from_seq)?;
        wake.from_seq
    };
    let customer = log.read::<Recorded>(channel, 0).next().and_then(|first| match first {
        Ok(ReplayRecord::Event {
            event: Recorded { event: ChannelEvent::ChannelCreated { customer_address, .. }, .. },
            ..
        }) => customer_address,
        _ => None,
    });
    let (Some(customer), Some(ours)) = (customer, flow.config.contact_identity.clone()) else {
        return Ok(());
    };
    let from = match flow.config.channel_type {
        ChannelType::Whatsapp if !ours.starts_with("whatsapp:") => format!("whatsapp:{ours}"),
        _ => ours,
    };
    let records: Vec<_> = log.read::<Recorded>(channel, start).collect::<Result<_, _>>()?;
    for record in records {
        let seq = record.seq();
        if let ReplayRecord::Event {
            event: Recorded { event: ChannelEvent::MessageAdded { index, body, source, .. }, .. },
            ..
        } = &record
        {
            if *source != MessageSource::Customer {
                let outcome = send(shared, &api, &customer, &from, body).await;
                record_outcome(shared, channel, *index, outcome).await;
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

async fn send(
    shared: &Shared,
    api: &crate::TwilioApi,
    to: &str,
    from: &str,
    body: &str,
) -> Result<(), ProviderError> {
    if body.is_empty() {
        return Err(ProviderError {
            code: "media".into(),
            message: "media replies are not sent yet".into(),
        });
    }
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        api.base_url.trim_end_matches('/'),
        api.account_sid
    );
    let mut form = vec![("To", to), ("From", from), ("Body", body)];
    if let Some(callback) = &api.status_callback {
        form.push(("StatusCallback", callback));
    }
    let mut last = ProviderError { code: "network".into(), message: String::new() };
    for attempt in 0..=3u32 {
        if attempt > 0 {
            tokio::time::sleep(backoff(&shared.config, attempt)).await;
        }
        let sent = shared
            .client
            .post(&url)
            .basic_auth(&api.account_sid, Some(&api.auth_token))
            .form(&form)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                // Twilio's error body names its own code; keep it, the agent needs it.
                let code = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["code"].as_u64())
                    .map_or_else(|| status.as_u16().to_string(), |c| c.to_string());
                last = ProviderError { code, message: text.chars().take(500).collect() };
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(last);
                }
            }
            Err(error) => last.message = format!("could not reach Twilio: {error}"),
        }
    }
    Err(last)
}

/// Records `sent` or `failed` on the message, through the channel's actor.
async fn record_outcome(
    shared: &Shared,
    channel: Sid,
    index: u64,
    outcome: Result<(), ProviderError>,
) {
    let Some(registry) = shared.registry.upgrade() else { return };
    let (status, error) = match outcome {
        Ok(()) => (DeliveryStatus::Sent, None),
        Err(error) => {
            tracing::warn!(%channel, index, code = %error.code, "a reply could not be delivered");
            (DeliveryStatus::Failed, Some(error))
        }
    };
    let command = ChannelCommand::RecordDelivery { index, status, error };
    let at = crate::Clock::now(&crate::SystemClock);
    let execute = || Execute { commands: vec![command.clone()], at };
    match registry.ask(channel, None, execute).await {
        Ok(Ok(Ok(done))) => {
            if let Some(ticket) = done.ticket {
                let _ = shared.log.wait_durable(ticket).await;
            }
        }
        other => tracing::warn!(%channel, index, ?other, "could not record a delivery status"),
    }
}
