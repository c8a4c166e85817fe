//! A workspace's `EventCallbackUrl`: each event of its event log (`taskrouter/event_log.rs`) that
//! `EventsFilter` names (every one when it is empty) is POSTed as Twilio's form (`EventType`,
//! `AccountSid`, `WorkspaceSid`, `WorkspaceName`, `EventDescription`, `ResourceType`,
//! `ResourceSid`, `Sid`, `Timestamp`, `TimestampMs`, then the event's own parameters), signed
//! with `X-Twilio-Signature`, in order, from a cursor of its own, so a restart neither loses nor
//! repeats one (but for the one in flight at a crash: at least once). Network errors, 429 and
//! 5xx are retried with backoff, three times; then it is a dead letter and the next goes.
//!
//! Only events from when the callback was set are sent: a workspace whose delivery never began
//! starts at the first event at or after its settings' last change.

use std::sync::Arc;

use switchboard_domain::{Recorded, Sid, WebhookConfig, WebhookMethod};
use switchboard_routing::event_log::{event_sid, workspace_of, EventLogEvent};
use switchboard_store::{ReplayRecord, StoreError};

use super::webhooks::{call_with_retries, Form};
use super::{Consumer, Run, Shared, Wake};
use crate::metrics::Destination;

/// The cursor and dead-letter name of this consumer.
pub const CONSUMER: &str = "taskrouter-event-callbacks";

/// How many times a failed callback is tried again.
const RETRIES: u8 = 3;

pub(crate) struct RouterEventCallbacks;

// Channels give it nothing: the router wakes it (`Wake::router_events`).
impl Consumer for RouterEventCallbacks {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, &wake).await })
    }
}

/// Delivers the pending events of one workspace's log, in order, from its cursor.
async fn deliver(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let stream = wake.stream_sid;
    let workspace = workspace_of(stream);
    let router = &shared.task_router;
    let Some(state) = router.workspace_state(workspace) else { return Ok(()) };
    if state.live().and_then(|(_, s)| s.event_callback_url.as_ref()).is_none() {
        // Nobody to tell: what happens meanwhile is passed over, so a callback set again
        // later starts from then, not with the backlog.
        log.set_cursor(CONSUMER, stream, log.next_seq(stream)?)?;
        return Ok(());
    }
    let start = if log.has_cursor(CONSUMER, stream)? {
        log.cursor(CONSUMER, stream)?
    } else {
        router.first_event_at_or_after(workspace, state.date_updated)?
    };
    log.set_cursor(CONSUMER, stream, start)?;
    for record in super::durable_records::<Recorded<EventLogEvent>>(log, wake, start)? {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            // Read for each event: a change of the settings applies from the next one on.
            let Some(state) = router.workspace_state(workspace) else { return Ok(()) };
            let Some((_, settings)) = state.live() else { return Ok(()) };
            let Some(url) = settings.event_callback_url.clone() else { return Ok(()) };
            let EventLogEvent::Recorded(mut logged) = event.event;
            if router.show_task_attributes([&mut logged]).is_err() {
                // Whether its task was erased could not be read: shown as erased.
                logged.erase_task_attributes();
            }
            if wanted(settings.events_filter.as_deref(), &logged.event_type) {
                let mut form = Form::default();
                form.put("EventType", logged.event_type.clone())
                    .put("AccountSid", shared.config.account_sid.clone())
                    .put("WorkspaceSid", workspace.to_string())
                    .put("WorkspaceName", settings.friendly_name.clone())
                    .put("EventDescription", logged.description.clone())
                    .put("ResourceType", logged.resource_type.clone())
                    .put("ResourceSid", logged.resource_sid.to_string())
                    .put("Sid", event_sid(workspace, seq).to_string())
                    .put("Timestamp", (event.at.as_millis() / 1000).to_string())
                    .put("TimestampMs", event.at.as_millis().to_string());
                form.0.extend(logged.data);
                send(shared, stream, seq, url, form).await?;
            }
        }
        log.set_cursor(CONSUMER, stream, seq + 1)?;
    }
    Ok(())
}

async fn send(
    shared: &Shared,
    stream: Sid,
    seq: u64,
    url: String,
    form: Form,
) -> Result<(), StoreError> {
    let hook = WebhookConfig {
        url,
        method: WebhookMethod::Post,
        filters: Vec::new(),
        retry_count: RETRIES,
    };
    let destination = Destination::RouterEventCallback;
    let called = call_with_retries(shared, &hook, form.0, None, destination).await;
    crate::metrics::delivered(destination, called.is_ok());
    if let Err(why) = called {
        super::give_up(&shared.log, CONSUMER, stream, seq, &why, destination)?;
    }
    Ok(())
}

/// Whether `EventsFilter` (a comma list of event types; all when absent or empty) names it.
fn wanted(filter: Option<&str>, event_type: &str) -> bool {
    let named: Vec<&str> =
        filter.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    named.is_empty() || named.contains(&event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_filter_names_the_types_sent_and_an_empty_one_sends_all() {
        assert!(wanted(None, "task.created"));
        assert!(wanted(Some(""), "task.created"));
        assert!(wanted(Some(" , "), "task.created"), "only separators: no filter");
        assert!(wanted(Some("reservation.created, task.created"), "task.created"));
        assert!(!wanted(Some("reservation.created,task.completed"), "task.created"));
        assert!(!wanted(Some("task"), "task.created"), "whole names, not prefixes");
    }
}
