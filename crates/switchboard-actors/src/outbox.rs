//! `Outbox`: delivers customer messages of channels whose Flex Flow has the `external`
//! integration to its `Integration.Url`, signed with `X-Twilio-Signature`; and, through
//! `provider` and `channel_hooks`, replies to customers, channel webhooks and services'
//! post-event webhooks.
//!
//! The outbox keeps no queue of its own: the log is the queue. A cursor per channel says how far
//! delivery got, so nothing durable can be lost, a restart resumes where delivery stopped, and
//! the message path pays nothing extra. Each channel is delivered in sequence order, one event at
//! a time; an event is retried with exponential backoff and jitter up to the flow's RetryCount,
//! on network errors, 429 and 5xx (never on other 4xx), then recorded as a dead letter so the
//! channel's later events are not held up forever. Delivery is at least once: a crash between a
//! delivery and its cursor update repeats it, and receivers dedupe by `MessageSid`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rand::Rng;
use switchboard_domain::{ChannelEvent, IntegrationType, MessageSource, Recorded, Sid};
use switchboard_store::{EventLog, ReplayRecord};

use crate::directory::{FlowDirectory, ServiceDirectory};
use crate::metrics::Destination;
use crate::runs::ChannelRuns;

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "external-integration";

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
    pub graph: Option<crate::provider::GraphApi>,
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

/// New durable events on a channel, starting at `from_seq`: sent for channels of a Flex Flow
/// and for channels with webhooks.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake {
    /// The stream: a channel's, or a user's (`US…`) for its service's post-event webhook.
    pub channel_sid: Sid,
    pub from_seq: u64,
    /// The Flex Flow that opened the channel; `None` for channels made over the Chat API.
    pub flow_sid: Option<Sid>,
    pub service_sid: Sid,
    /// Whether the channel has webhooks (`channel_hooks`), as its actor knew after the append.
    pub webhooks: bool,
    /// Whether the woken events may hold a reply for the customer (a message that is not the
    /// customer's own). A customer's message alone has nothing to send back, so the reply
    /// consumer is not run for it: most inbound traffic then costs the outbox nothing.
    pub replies: bool,
    /// Everything of the stream below this sequence is durable. Consumers read no further: a
    /// record past it may still be taken back by a crash, and must not reach anyone first.
    pub until_seq: u64,
}

#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
    /// The external integration and replies of each channel, one run at a time.
    deliveries: ChannelRuns,
    /// Channel webhooks, on runs of their own, so a slow webhook never holds up a reply.
    hooks: ChannelRuns,
    /// Services' post-event webhooks, apart from both for the same reason.
    service_hooks: ChannelRuns,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub log: Arc<EventLog>,
    pub flows: Arc<FlowDirectory>,
    /// Whose post-event webhooks are read for every wake.
    pub services: Arc<ServiceDirectory>,
    pub outbound: crate::outbound::Outbound,
    pub config: OutboxConfig,
    /// Delivery results are recorded through the channel's actor, its only writer.
    pub registry: std::sync::Weak<crate::registry::Registry>,
}

impl Outbox {
    pub(crate) fn new(
        log: Arc<EventLog>,
        flows: Arc<FlowDirectory>,
        services: Arc<ServiceDirectory>,
        config: OutboxConfig,
        registry: std::sync::Weak<crate::registry::Registry>,
    ) -> Outbox {
        let policy = Arc::new(config.outbound.clone());
        let outbound = crate::outbound::Outbound::new(policy, config.timeout);
        Outbox {
            shared: Arc::new(Shared { log, flows, services, outbound, config, registry }),
            deliveries: ChannelRuns::default(),
            hooks: ChannelRuns::default(),
            service_hooks: ChannelRuns::default(),
        }
    }

    /// What the outbox calls webhooks with, for the engine's pre-event webhooks.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }
}

impl Actor for Outbox {
    type Context = Context<Self>;
}

impl Handler<Wake> for Outbox {
    type Result = ();

    fn handle(&mut self, wake: Wake, _: &mut Context<Self>) {
        if wake.webhooks {
            let shared = Arc::clone(&self.shared);
            self.hooks.wake(wake, move |wake| {
                let shared = Arc::clone(&shared);
                async move { crate::channel_hooks::deliver_channel(&shared, &wake).await }
            });
        }
        if self.shared.services.has_post_webhook(wake.service_sid) {
            let shared = Arc::clone(&self.shared);
            self.service_hooks.wake(wake, move |wake| {
                let shared = Arc::clone(&shared);
                async move { crate::channel_hooks::deliver_service_channel(&shared, &wake).await }
            });
        }
        // Decided from memory first: most wakes have nothing to deliver.
        if !has_deliveries(&self.shared.flows, &wake) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        self.deliveries.wake(wake, move |wake| {
            let shared = Arc::clone(&shared);
            async move {
                // Read again for each run: the flow may have changed since the first wake.
                let (external, replies) = deliveries_of(&shared.flows, &wake);
                let sid = wake.channel_sid;
                if external {
                    if let Err(error) = deliver_channel(&shared, &wake).await {
                        tracing::error!(channel = %sid, %error, "outbox stopped on a storage error");
                    }
                }
                if replies {
                    if let Err(error) = crate::provider::deliver_replies(&shared, &wake).await {
                        tracing::error!(channel = %sid, %error, "reply delivery stopped on a storage error");
                    }
                }
            }
        });
    }
}

/// The records of the woken stream from `start` that the wake vouches durable.
pub(crate) fn durable_records<E: switchboard_store::LoggedEvent>(
    log: &EventLog,
    wake: &Wake,
    start: u64,
) -> Result<Vec<ReplayRecord<E>>, switchboard_store::StoreError> {
    log.read::<E>(wake.channel_sid, start)
        .take_while(|record| record.as_ref().map_or(true, |r| r.seq() < wake.until_seq))
        .collect()
}

/// Whether a wake gives the external integration or the reply consumer anything to do. Asked by
/// a channel before it wakes the outbox, so that a customer's message on a task flow crosses to
/// no other thread.
pub(crate) fn has_deliveries(flows: &FlowDirectory, wake: &Wake) -> bool {
    deliveries_of(flows, wake) != (false, false)
}

/// Whether a channel's flow feeds an external integration, and whether it sends replies.
fn deliveries_of(flows: &FlowDirectory, wake: &Wake) -> (bool, bool) {
    let flow = wake.flow_sid.and_then(|f| flows.get(f));
    let external =
        flow.as_ref().is_some_and(|f| f.config.integration_type == IntegrationType::External);
    let replies =
        wake.replies && flow.as_ref().is_some_and(|f| crate::provider::delivers_replies(&f.config));
    (external, replies)
}

/// Delivers every pending event of one channel, in order, from its cursor.
async fn deliver_channel(
    shared: &Shared,
    wake: &Wake,
) -> Result<(), switchboard_store::StoreError> {
    let log = &shared.log;
    let channel = wake.channel_sid;
    let Some(flow) = wake.flow_sid.and_then(|f| shared.flows.get(f)) else { return Ok(()) };
    let Some(url) = flow.config.integration.url.clone() else { return Ok(()) };
    // A channel met for the first time starts where it was woken, not at its first record: a
    // flow switched to `external` later does not replay old history to the new endpoint.
    let start = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        // Recorded at once, so a restart knows this channel is being delivered.
        log.set_cursor(CONSUMER, channel, wake.from_seq)?;
        wake.from_seq
    };
    let retries = flow
        .config
        .integration
        .retry_count
        .unwrap_or(switchboard_domain::Integration::DEFAULT_RETRY_COUNT);
    let records = durable_records::<Recorded>(log, wake, start)?;
    for record in records {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = &record {
            if let Some(params) = delivery(shared, channel, wake.service_sid, flow.sid, event) {
                let posted = post_with_retries(shared, &url, params, retries).await;
                crate::metrics::delivered(Destination::Integration, posted.is_ok());
                if let Err(why) = posted {
                    tracing::warn!(channel = %channel, seq, "external integration gave up: {why}");
                    log.record_dead_letter(CONSUMER, channel, seq, &why)?;
                    crate::metrics::dead_letter(Destination::Integration);
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

/// Whether an answer refuses the request itself (a 4xx other than 429): retrying will not change
/// it. Network errors, 429 and 5xx are worth another try.
pub(crate) fn refused_for_good(status: reqwest::StatusCode) -> bool {
    status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
}

pub(crate) fn backoff(config: &OutboxConfig, attempt: u32) -> Duration {
    let exponential = config.retry_base.saturating_mul(1 << attempt.min(16).saturating_sub(1));
    let capped = exponential.min(config.retry_max);
    // Up to a quarter of jitter, so retries from many channels do not arrive in lockstep.
    let jitter = rand::thread_rng().gen_range(0.0..0.25);
    capped.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{SidPrefix, Timestamp, UserEvent};
    use switchboard_store::{IndexChanges, StoreConfig};

    use super::*;

    #[test]
    fn consumers_read_only_as_far_as_the_wake_vouches_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::generate()).unwrap();
        let user = crate::new_sid(SidPrefix::USER);
        let event = |n: u64| {
            Recorded::new(
                Timestamp::from_millis(n as i64),
                UserEvent::UserUpdated {
                    friendly_name: Some(format!("name {n}")),
                    attributes: None,
                    role_sid: None,
                },
            )
        };
        let events: Vec<_> = (0..5).map(event).collect();
        log.append(user, 0, &events, &IndexChanges::default()).unwrap();
        let wake = |from_seq, until_seq| Wake {
            channel_sid: user,
            from_seq,
            flow_sid: None,
            service_sid: crate::new_sid(SidPrefix::SERVICE),
            webhooks: false,
            replies: false,
            until_seq,
        };
        let seqs = |wake: Wake, start| -> Vec<u64> {
            durable_records::<Recorded<UserEvent>>(&log, &wake, start)
                .unwrap()
                .iter()
                .map(ReplayRecord::seq)
                .collect()
        };
        assert_eq!(seqs(wake(0, 3), 0), vec![0, 1, 2], "records past the durable point are left");
        assert_eq!(seqs(wake(0, 3), 1), vec![1, 2]);
        assert_eq!(seqs(wake(0, u64::MAX), 2), vec![2, 3, 4]);
        assert!(seqs(wake(0, 2), 2).is_empty());
    }
}
