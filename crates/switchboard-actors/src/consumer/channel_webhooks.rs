//! Chat channel webhooks: each event of a channel that a webhook's `Configuration.Filters` ask
//! for is sent to its URL as Twilio's form (`webhooks.rs`), on runs of their own, so a slow
//! webhook never holds up a reply to the customer.
//!
//! Which webhooks exist is asked of the channel's actor before each event, so a webhook removed
//! meanwhile gets nothing more and an update applies from the next event on. A webhook only
//! receives events after the one that added it: adding one never replays older history.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_domain::{ChannelState, Recorded, Sid, WebhookState};
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use super::webhooks::{call_with_retries, current_state, describe, event_types};
use super::{Consumer, Run, Shared, Wake, Woken};
use crate::metrics::Destination;

/// Sends channel events to the channel's own webhooks.
pub(crate) struct ChannelWebhooks;

impl Consumer for ChannelWebhooks {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        !woken.state.webhooks.is_empty()
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        resume_from(&shared.log, channel, state)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, &wake).await })
    }
}

/// The cursor and dead-letter name of channel webhook delivery.
pub const CONSUMER: &str = "channel-webhooks";

/// Where delivery of `state`'s webhooks should resume after a restart, if anywhere: at its
/// cursor, or after the first webhook's own event when delivery never started.
fn resume_from(
    log: &EventLog,
    channel: Sid,
    state: &ChannelState,
) -> Result<Option<u64>, StoreError> {
    let Some(first) = first_wanted(&state.webhooks) else { return Ok(None) };
    let cursor =
        if log.has_cursor(CONSUMER, channel)? { log.cursor(CONSUMER, channel)? } else { 0 };
    Ok(Some(cursor.max(first)))
}

/// The first sequence number any of `webhooks` wants.
fn first_wanted(webhooks: &BTreeMap<Sid, WebhookState>) -> Option<u64> {
    webhooks.values().map(|w| w.added_seq.saturating_add(1)).min()
}

/// Delivers every pending event of one channel to its webhooks, in order, from its cursor.
async fn deliver(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    let Some(state) = current_state(shared, channel).await else { return Ok(()) };
    let Some(first) = first_wanted(&state.webhooks) else { return Ok(()) };
    let cursor = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        wake.from_seq
    };
    // Nothing before the oldest webhook's own event is anyone's: skip it without reading it.
    let start = cursor.max(first);
    log.set_cursor(CONSUMER, channel, start)?;
    let records = super::durable_records::<Recorded>(log, wake, start)?;
    for (i, record) in records.iter().enumerate() {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            let next = match records.get(i + 1) {
                Some(ReplayRecord::Event { event, .. }) => Some(event),
                _ => None,
            };
            if let Some(names) = event_types(event, next) {
                deliver_event(shared, wake, seq, event, names).await?;
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

/// Sends one event to every webhook that wants it, as the webhooks are now.
async fn deliver_event(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
    names: &[&'static str],
) -> Result<(), StoreError> {
    let channel = wake.stream_sid;
    let Some(state) = current_state(shared, channel).await else { return Ok(()) };
    let mut wanted: Vec<(Sid, &WebhookState, &'static str)> = state
        .webhooks
        .iter()
        .filter(|(_, w)| w.added_seq < seq)
        .filter_map(|(sid, w)| names.iter().find(|n| w.config.wants(n)).map(|n| (*sid, w, *n)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_by_key(|(_, w, _)| w.added_seq);
    // Built only now that someone listens: member and channel events read the log for it.
    let Some(params) = describe(shared, wake, seq, record)? else { return Ok(()) };
    let mut failures = Vec::new();
    for (webhook_sid, webhook, name) in wanted {
        let mut form = vec![("EventType".to_owned(), name.to_owned())];
        form.extend(params.iter().cloned());
        form.push(("WebhookSid".to_owned(), webhook_sid.to_string()));
        form.push(("WebhookType".to_owned(), "webhook".to_owned()));
        let called =
            call_with_retries(shared, &webhook.config, form, None, Destination::ChannelWebhook)
                .await;
        crate::metrics::delivered(Destination::ChannelWebhook, called.is_ok());
        if let Err(why) = called {
            tracing::warn!(%channel, seq, webhook = %webhook_sid, "a channel webhook gave up: {why}");
            failures.push(format!("{webhook_sid}: {why}"));
        }
    }
    if !failures.is_empty() {
        let why = failures.join("; ");
        super::give_up(&shared.log, CONSUMER, channel, seq, &why, Destination::ChannelWebhook)?;
    }
    Ok(())
}
