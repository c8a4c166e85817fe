//! A Chat Service's post-event webhook (`PostWebhookUrl`): the events of every channel of the
//! service that its filters name and whose cause asks for it (Twilio: a client's action always, a
//! REST call only with `X-Twilio-Webhook-Enabled: true`; see `Cause`), only for events from since
//! it was set; and users' changes, read from each user's `US…` stream under the same consumer
//! name. Sent as Twilio's form (`webhooks.rs`), from a cursor of its own, on runs of its own.

use std::sync::Arc;

use switchboard_domain::{
    Cause, ChannelEvent, ChannelState, Recorded, Sid, SidPrefix, Timestamp, UserEvent, UserState,
    WebhookConfig,
};
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use super::webhooks::{call_with_retries, describe, event_types, Form};
use super::{Consumer, Run, Shared, Wake, Woken};
use crate::metrics::Destination;

/// Sends channel events and users' changes to their service's post-event webhook.
pub(crate) struct ServiceWebhooks;

impl Consumer for ServiceWebhooks {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.services.has_post_webhook(woken.service_sid)
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let Some(service) = state.service_sid else { return Ok(None) };
        let Some((_, since)) = shared.services.post_webhook(service) else { return Ok(None) };
        resume_from(&shared.log, channel, state, since)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver_service(&shared, &wake).await })
    }
}

/// The cursor and dead-letter name of service post-event webhook delivery.
pub const CONSUMER: &str = "service-webhooks";

/// Where delivery of a channel's events to its service's post-event webhook should resume after
/// a restart, if anywhere: at its cursor, or from the start when it never began and the channel
/// changed since the webhook was set (earlier events are skipped by their time).
fn resume_from(
    log: &EventLog,
    channel: Sid,
    state: &ChannelState,
    since: Timestamp,
) -> Result<Option<u64>, StoreError> {
    if log.has_cursor(CONSUMER, channel)? {
        return Ok(Some(log.cursor(CONSUMER, channel)?));
    }
    Ok((state.date_updated >= since || state.date_created >= since).then_some(0))
}

/// Delivers every pending event of one channel to its service's post-event webhook, in order,
/// from its cursor.
async fn deliver_service(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    if shared.services.post_webhook(wake.service_sid).is_none() {
        return Ok(());
    }
    if channel.prefix() == SidPrefix::USER {
        return deliver_user(shared, wake).await;
    }
    let start = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        wake.from_seq
    };
    // Recorded at once, so a restart knows this channel is being delivered.
    log.set_cursor(CONSUMER, channel, start)?;
    let records = super::durable_records::<Recorded>(log, wake, start)?;
    for (i, record) in records.iter().enumerate() {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            let next = match records.get(i + 1) {
                Some(ReplayRecord::Event { event, .. }) => Some(event),
                _ => None,
            };
            // Read for each event: a change of the settings applies from the next event on.
            if let Some((hook, since)) = shared.services.post_webhook(wake.service_sid) {
                let wanted = (event.at >= since
                    && Cause::fires_service_webhooks(event.cause.as_ref()))
                .then(|| service_event_types(event, next))
                .flatten()
                .and_then(|names| names.iter().find(|n| hook.wants(n)));
                if let Some(name) = wanted {
                    deliver_service_event(shared, wake, seq, event, name, &hook).await?;
                }
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

async fn deliver_service_event(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
    name: &str,
    hook: &WebhookConfig,
) -> Result<(), StoreError> {
    let channel = wake.stream_sid;
    let Some(params) = describe(shared, wake, seq, record)? else { return Ok(()) };
    let mut form = vec![("EventType".to_owned(), name.to_owned())];
    form.extend(params);
    let called = call_with_retries(shared, hook, form, None, Destination::ServiceWebhook).await;
    crate::metrics::delivered(Destination::ServiceWebhook, called.is_ok());
    if let Err(why) = called {
        super::give_up(&shared.log, CONSUMER, channel, seq, &why, Destination::ServiceWebhook)?;
    }
    Ok(())
}

/// Delivers a user's pending changes (`onUserAdded`, `onUserUpdated`) to its service's
/// post-event webhook, in order, from the user stream's own cursor.
async fn deliver_user(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let user = wake.stream_sid;
    let start =
        if log.has_cursor(CONSUMER, user)? { log.cursor(CONSUMER, user)? } else { wake.from_seq };
    log.set_cursor(CONSUMER, user, start)?;
    // A user's stream is a few short events: the state is folded along the way.
    let mut state = UserState::default();
    for record in super::durable_records::<Recorded<UserEvent>>(log, wake, 0)? {
        let seq = record.seq();
        let ReplayRecord::Event { event, .. } = record else { return Ok(()) };
        state.apply(&event);
        if seq < start {
            continue;
        }
        let name = match event.event {
            UserEvent::UserCreated { .. } => Some("onUserAdded"),
            UserEvent::UserUpdated { .. } => Some("onUserUpdated"),
            _ => None,
        };
        let hook = shared.services.post_webhook(wake.service_sid);
        let wanted = name.zip(hook).filter(|(name, (hook, since))| {
            event.at >= *since
                && Cause::fires_service_webhooks(event.cause.as_ref())
                && hook.wants(name)
        });
        if let Some((name, (hook, _))) = wanted {
            let mut form = Form::default();
            form.put("EventType", name)
                .put("AccountSid", shared.config.account_sid.clone())
                .put("InstanceSid", wake.service_sid.to_string())
                .put("ServiceSid", wake.service_sid.to_string())
                .put("UserSid", user.to_string())
                .put("Identity", state.identity.clone())
                .put_some("FriendlyName", state.friendly_name.clone())
                .put("Attributes", state.attributes.clone())
                .put_some("RoleSid", state.role_sid.map(|r| r.to_string()))
                .put("DateCreated", crate::iso8601(state.date_created))
                .put("DateUpdated", crate::iso8601(state.date_updated))
                .put("Source", event.cause.as_ref().map_or("API", Cause::source_name));
            let called =
                call_with_retries(shared, &hook, form.0, None, Destination::ServiceWebhook).await;
            crate::metrics::delivered(Destination::ServiceWebhook, called.is_ok());
            if let Err(why) = called {
                super::give_up(log, CONSUMER, user, seq, &why, Destination::ServiceWebhook)?;
            }
        }
        log.set_cursor(CONSUMER, user, seq + 1)?;
    }
    Ok(())
}

/// The names an event may be sent to a service's post-event webhook under, most specific first.
fn service_event_types(
    record: &Recorded,
    next: Option<&Recorded>,
) -> Option<&'static [&'static str]> {
    match &record.event {
        ChannelEvent::ChannelCreated { .. } => Some(&["onChannelAdded"]),
        _ => event_types(record, next),
    }
}
