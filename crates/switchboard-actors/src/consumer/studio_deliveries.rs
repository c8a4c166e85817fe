//! What becomes of the bot's messages, for the Studio execution that sent them: a channel's
//! delivery reports (`DeliveryStatusChanged`, recorded by the outbox when the provider accepts
//! or refuses a message, and by providers' status callbacks) on a message a Studio step posted
//! are given to the channel's active execution as that step's `MessageOutcome`.
//!
//! - A `send-message` on a channel whose replies go through a provider waits for the provider's
//!   answer (`studio_requests` gives no outcome when it posts there): `sent` once the outbox
//!   records the message sent, `failed` when it records it failed (refused, or given up after
//!   its retries).
//! - A `send-and-wait-for-reply` waits for the reply meanwhile; a report that its message failed
//!   or was undelivered (the outbox's, or a status callback's `failed` / `undelivered`) before
//!   the reply comes takes its `deliveryFailure` transition.
//!
//! The message is recognised by its provider id as posted (its step's SID), read from its own
//! record, and only for the step the execution waits on; a report for any other step is late
//! and ignored, and so is one the execution already took (the domain records nothing for an
//! outcome it no longer waits for), so a report repeated after a crash takes the transition
//! once. Read from the channel's log by a cursor of its own, resumed after a restart, and run
//! beside `studio_trigger` (which may hold a customer's message while the execution waits on
//! this consumer's outcome).

use std::sync::Arc;

use switchboard_domain::{
    ChannelEvent, ChannelState, DeliveryStatus, ProviderError, Recorded, Sid,
};
use switchboard_store::{ReplayRecord, StoreError};
use switchboard_studio::{ExecutionInput, Waiting};

use super::{durable_records, Consumer, Run, Shared, Wake, Woken};
use crate::metrics::Destination;

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "studio-deliveries";

/// Gives delivery reports on the bot's messages to their executions.
pub(crate) struct StudioDeliveries;

/// What a report means for a step waiting on it: `Some(true)` sent, `Some(false)` failed,
/// `None` nothing yet (queued).
fn outcome_of(event: &ChannelEvent) -> Option<(u64, bool, Option<&ProviderError>)> {
    let ChannelEvent::DeliveryStatusChanged { index, status, error, .. } = event else {
        return None;
    };
    match status {
        DeliveryStatus::Queued => None,
        DeliveryStatus::Undelivered | DeliveryStatus::Failed => {
            Some((*index, false, error.as_ref()))
        }
        DeliveryStatus::Sent | DeliveryStatus::Delivered | DeliveryStatus::Read => {
            Some((*index, true, None))
        }
    }
}

impl Consumer for StudioDeliveries {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.events().any(|e| outcome_of(e).is_some())
            && woken.flow().is_some_and(|f| super::studio_trigger::is_studio(&f))
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let flow = state.flex_flow_sid.and_then(|f| shared.flows.get(f));
        let Some(flow) = flow.filter(super::studio_trigger::is_studio) else { return Ok(None) };
        super::resume_under_flow(&shared.log, CONSUMER, channel, state, flow.date_updated)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, wake).await })
    }
}

/// Gives every delivery report of one channel's pending events to its execution, in order.
async fn deliver(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    let records = durable_records::<Recorded>(log, &wake, start)?;
    let Some(end) = records.last().map(|r| r.seq() + 1) else { return Ok(()) };
    for record in &records {
        let ReplayRecord::Event { seq, event, .. } = record else { continue };
        let Some((index, sent, error)) = outcome_of(&event.event) else { continue };
        let error = error.map(|e| format!("{}: {}", e.code, e.message));
        if let Err(why) = on_report(shared, channel, index, sent, error).await {
            super::give_up(log, CONSUMER, channel, *seq, &why, Destination::Studio)?;
        }
    }
    // The cursor once, past the run: a report read again after a crash is one its execution
    // already took (or no longer waits on), which records nothing.
    log.set_cursor(CONSUMER, channel, end)
}

/// Gives one report on message `index` to the channel's execution if the message is the one
/// the step it waits on posted.
async fn on_report(
    shared: &Shared,
    channel: Sid,
    index: u64,
    sent: bool,
    error: Option<String>,
) -> Result<(), String> {
    let Some(execution) = shared.studio.active_in_channel(channel) else { return Ok(()) };
    let (Some(sid), Some(waiting)) = (execution.sid, &execution.waiting) else { return Ok(()) };
    let step = match waiting {
        Waiting::MessageOutcome { step_sid, .. } => *step_sid,
        // Waiting for the reply, only a failure changes anything (`deliveryFailure`).
        Waiting::Reply { step_sid, .. } if !sent => *step_sid,
        _ => return Ok(()),
    };
    if posted_by(shared, channel, index).map_err(|e| e.to_string())? != Some(step) {
        return Ok(());
    }
    let error = (!sent).then(|| error.unwrap_or_else(|| "the provider did not deliver it".into()));
    let outcome = ExecutionInput::MessageOutcome { step_sid: step, sent, error };
    let given = shared.studio.execute(sid, outcome, shared.clock.now()).await;
    // A refusal is an execution that moved on meanwhile: the report is late, not lost.
    given.map(drop).map_err(|error| error.to_string())
}

/// The Studio step that posted message `index` of `channel` (its provider id as posted), if a
/// step did.
fn posted_by(shared: &Shared, channel: Sid, index: u64) -> Result<Option<Sid>, StoreError> {
    let log = &shared.log;
    let Some(positions) = log.message_positions(channel, index)? else { return Ok(None) };
    let Some(ReplayRecord::Event { event, .. }) =
        log.read_at::<Recorded>(channel, positions.added)?
    else {
        return Ok(None);
    };
    let ChannelEvent::MessageAdded { index: added, provider_message_id: Some(id), .. } =
        &event.event
    else {
        return Ok(None);
    };
    if *added != index {
        return Ok(None);
    }
    Ok(Sid::parse_with(id, switchboard_domain::SidPrefix::STUDIO_STEP).ok())
}
