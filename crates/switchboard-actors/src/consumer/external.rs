//! The external integration: each customer message of a channel whose Flex Flow has the
//! `external` integration is posted to its `Integration.Url`, signed with `X-Twilio-Signature`,
//! with the flow's `RetryCount` (then a dead letter). Receivers dedupe by `MessageSid`.

use std::sync::Arc;

use switchboard_domain::{
    ChannelEvent, ChannelState, IntegrationType, MessageSource, Recorded, Sid,
};
use switchboard_store::{ReplayRecord, StoreError};

use super::{backoff, durable_records, refused_for_good, Consumer, Run, Shared, Wake, Woken};
use crate::metrics::Destination;

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "external-integration";

/// Posts customer messages to their flow's external integration.
pub(crate) struct External;

impl Consumer for External {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.flow().is_some_and(|f| f.config.integration_type == IntegrationType::External)
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let flow = state.flex_flow_sid.and_then(|f| shared.flows.get(f));
        let Some(flow) = flow.filter(|f| f.config.integration_type == IntegrationType::External)
        else {
            return Ok(None);
        };
        super::resume_under_flow(&shared.log, CONSUMER, channel, state, flow.date_updated)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, wake).await })
    }
}

/// Delivers every pending event of one channel, in order, from its cursor.
async fn deliver(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    let Some(flow) = wake.flow_sid.and_then(|f| shared.flows.get(f)) else { return Ok(()) };
    let Some(url) = flow.config.integration.url.clone() else { return Ok(()) };
    // A channel met for the first time starts where it was woken, not at its first record: a
    // flow switched to `external` later does not replay old history to the new endpoint.
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    let retries = flow
        .config
        .integration
        .retry_count
        .unwrap_or(switchboard_domain::Integration::DEFAULT_RETRY_COUNT);
    let records = durable_records::<Recorded>(log, &wake, start)?;
    for record in records {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = &record {
            if let Some(params) = delivery(shared, channel, wake.service_sid, flow.sid, event) {
                let posted = post_with_retries(shared, &url, params, retries).await;
                crate::metrics::delivered(Destination::Integration, posted.is_ok());
                if let Err(why) = posted {
                    super::give_up(log, CONSUMER, channel, seq, &why, Destination::Integration)?;
                }
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

/// The form a customer message is delivered as; `None` for every other event.
fn delivery(
    shared: &Shared,
    channel: Sid,
    service: Sid,
    flow: Sid,
    record: &Recorded,
) -> Option<Vec<(String, String)>> {
    let ChannelEvent::MessageAdded {
        message_sid,
        index,
        author,
        body,
        attributes,
        media,
        source,
        ..
    } = &record.event
    else {
        return None;
    };
    if *source != MessageSource::Customer {
        return None;
    }
    let mut params = vec![
        ("EventType".to_owned(), "onMessageSent".to_owned()),
        ("AccountSid".to_owned(), shared.config.account_sid.clone()),
        ("InstanceSid".to_owned(), service.to_string()),
        ("FlexFlowSid".to_owned(), flow.to_string()),
        ("ChannelSid".to_owned(), channel.to_string()),
        ("MessageSid".to_owned(), message_sid.to_string()),
        ("Index".to_owned(), index.to_string()),
        ("From".to_owned(), author.clone()),
        ("ClientIdentity".to_owned(), author.clone()),
        ("Body".to_owned(), body.clone()),
        ("Attributes".to_owned(), attributes.clone()),
        ("DateCreated".to_owned(), crate::iso8601(record.at)),
        ("Source".to_owned(), "API".to_owned()),
    ];
    if let Some(media) = media {
        params.push(("MediaSid".to_owned(), media.sid.to_string()));
        params.push(("MediaContentType".to_owned(), media.content_type.clone()));
    }
    Some(params)
}

async fn post_with_retries(
    shared: &Shared,
    url: &str,
    mut params: Vec<(String, String)>,
    retries: u8,
) -> Result<(), String> {
    let mut last_error = String::new();
    let target =
        crate::outbound::parse_url(url).map_err(|e| format!("the integration URL: {e}"))?;
    for attempt in 0..=u32::from(retries) {
        if attempt > 0 {
            tokio::time::sleep(backoff(&shared.config, attempt)).await;
        }
        params.retain(|(k, _)| k != "RetryCount");
        params.push(("RetryCount".to_owned(), attempt.to_string()));
        crate::metrics::attempt(Destination::Integration, attempt);
        let signature =
            switchboard_crypto::webhook::compute(&shared.config.signing_key, url, &params);
        let sent = shared
            .outbound
            .post(target.clone())
            .header("X-Twilio-Signature", &signature)
            .form(&params)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                last_error = format!("HTTP {status} from the integration URL");
                if refused_for_good(status) {
                    return Err(last_error);
                }
            }
            Err(error) if !error.may_pass() => {
                return Err(format!("the integration URL: {error}"));
            }
            Err(error) => last_error = format!("could not reach the integration URL: {error}"),
        }
    }
    Err(last_error)
}
