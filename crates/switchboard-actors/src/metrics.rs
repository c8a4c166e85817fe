//! What the engine tells the operator: inbound messages by provider and outcome, live and
//! hibernated channel actors, deliveries of the log's consumers, janitor retirements. Recorded
//! through the `metrics` facade (nothing happens until the daemon installs a recorder); names
//! and labels follow Prometheus's conventions, and every label takes one of a few fixed values
//! (never a SID, an address or a number), as docs/operating.md, "Monitoring", lists them.

/// The store's appends per flush (histogram), whose buckets the recorder sets: named here so
/// that the HTTP layer reaches the store's metrics only through the engine.
pub use switchboard_store::metrics::FLUSH_APPENDS;

/// Inbound customer messages (counter; labels `provider`, `outcome`).
pub const INBOUND: &str = "switchboard_inbound_messages_total";
/// Channel actors in memory now (gauge, sampled when scraped).
pub const LIVE_CHANNELS: &str = "switchboard_channel_actors_live";
/// Channel actors that hibernated: stopped, their memory freed until next used (counter).
pub const HIBERNATIONS: &str = "switchboard_channel_hibernations_total";
/// Outbound HTTP requests of the log's consumers, retries included (counter; `destination`).
pub const DELIVERY_ATTEMPTS: &str = "switchboard_outbox_attempts_total";
/// Attempts after a delivery's first (counter; `destination`).
pub const DELIVERY_RETRIES: &str = "switchboard_outbox_retries_total";
/// Deliveries finished (counter; `destination`, `outcome`: succeeded, failed).
pub const DELIVERIES: &str = "switchboard_outbox_deliveries_total";
/// Deliveries given up and recorded as dead letters (counter; `destination`).
pub const DEAD_LETTERS: &str = "switchboard_outbox_dead_letters_total";
/// Streams a consumer of the log has yet to finish delivering: the outbox's depth (gauge,
/// sampled; label `consumer`, one of the consumers' fixed names). A stream counts from its
/// events becoming durable until all of them are delivered or given up, retry waits included.
pub const OUTBOX_PENDING: &str = "switchboard_outbox_pending_streams";
/// Bytes the daemon's own structures hold (gauge, sampled; label `holder`: janitor, users,
/// stream_caches, tasks, studio_executions), as `memory.rs` counts them: not sled's page cache.
pub const MEMORY_BYTES: &str = "switchboard_memory_bytes";
/// Channels not deleted, live or hibernated (gauge, sampled).
pub const CHANNELS_KNOWN: &str = "switchboard_channels";
/// Channels the janitor retired for inactivity (counter).
pub const RETIREMENTS: &str = "switchboard_janitor_retirements_total";
/// TaskRouter tasks waiting for a worker (pending, in every workspace) now (gauge, sampled).
pub const TASKS_WAITING: &str = "switchboard_taskrouter_tasks_waiting";
/// How long the oldest of them has waited, by its age (gauge, sampled; 0 when none waits).
pub const OLDEST_WAIT: &str = "switchboard_taskrouter_oldest_wait_seconds";

/// How a customer's message reached Switchboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundProvider {
    /// Twilio's webhook: SMS, MMS, WhatsApp over Twilio.
    Twilio,
    /// The WhatsApp Cloud API's webhook.
    Whatsapp,
    /// Messenger's webhook.
    Messenger,
    /// A chat client with an access token (the web chat widget, Flex WebChannels).
    Webchat,
    /// The REST Chat API with Basic credentials, in the customer's name (Flex custom channels).
    Api,
}

impl InboundProvider {
    pub const ALL: [InboundProvider; 5] = [
        InboundProvider::Twilio,
        InboundProvider::Whatsapp,
        InboundProvider::Messenger,
        InboundProvider::Webchat,
        InboundProvider::Api,
    ];

    pub fn label(self) -> &'static str {
        match self {
            InboundProvider::Twilio => "twilio",
            InboundProvider::Whatsapp => "whatsapp",
            InboundProvider::Messenger => "messenger",
            InboundProvider::Webchat => "webchat",
            InboundProvider::Api => "api",
        }
    }
}

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcomeKind {
    /// Stored, durable.
    Stored,
    /// A redelivery of a stored message: nothing new was written.
    Duplicate,
    /// Refused by the channel's rules (`Rejection`).
    Rejected,
    /// No enabled Flex Flow takes it: not stored (the provider retries).
    Unrouted,
    /// The engine or the store failed: not acknowledged.
    Failed,
}

impl InboundOutcomeKind {
    pub const ALL: [InboundOutcomeKind; 5] = [
        InboundOutcomeKind::Stored,
        InboundOutcomeKind::Duplicate,
        InboundOutcomeKind::Rejected,
        InboundOutcomeKind::Unrouted,
        InboundOutcomeKind::Failed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            InboundOutcomeKind::Stored => "stored",
            InboundOutcomeKind::Duplicate => "duplicate",
            InboundOutcomeKind::Rejected => "rejected",
            InboundOutcomeKind::Unrouted => "unrouted",
            InboundOutcomeKind::Failed => "failed",
        }
    }
}

/// Where a consumer of the log delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A flow's external integration (`Integration.Url`).
    Integration,
    /// Replies through Twilio's Messages API.
    Twilio,
    /// Replies through the WhatsApp Cloud API.
    Whatsapp,
    /// Replies through the Messenger Send API.
    Messenger,
    /// Replies kept by the sandbox (no provider configured).
    Sandbox,
    /// A channel's webhooks.
    ChannelWebhook,
    /// A service's post-event webhook.
    ServiceWebhook,
    /// A service's pre-event webhook, called before a client's action.
    PreEventWebhook,
    /// Tasks channels link, made in TaskRouter (nothing leaves the daemon: counted for the
    /// dead letters of tasks that could not be made).
    TaskRouter,
    /// What Studio executions request: their HTTP calls, and the dead letters of requests that
    /// could not be carried out.
    Studio,
    /// A workspace's `EventCallbackUrl`.
    RouterEventCallback,
    /// A workflow's `AssignmentCallbackUrl`.
    Assignment,
}

impl Destination {
    const ALL: [Destination; 12] = [
        Destination::Integration,
        Destination::Twilio,
        Destination::Whatsapp,
        Destination::Messenger,
        Destination::Sandbox,
        Destination::ChannelWebhook,
        Destination::ServiceWebhook,
        Destination::PreEventWebhook,
        Destination::TaskRouter,
        Destination::Studio,
        Destination::RouterEventCallback,
        Destination::Assignment,
    ];

    fn label(self) -> &'static str {
        match self {
            Destination::Integration => "integration",
            Destination::Twilio => "twilio",
            Destination::Whatsapp => "whatsapp",
            Destination::Messenger => "messenger",
            Destination::Sandbox => "sandbox",
            Destination::ChannelWebhook => "channel_webhook",
            Destination::ServiceWebhook => "service_webhook",
            Destination::PreEventWebhook => "pre_event_webhook",
            Destination::TaskRouter => "taskrouter",
            Destination::Studio => "studio",
            Destination::RouterEventCallback => "taskrouter_event_callback",
            Destination::Assignment => "taskrouter_assignment_callback",
        }
    }
}

/// Gives each metric (the store's too) its help text, and every series of a counter its zero,
/// so that a rate or an alert over it has a series from the start (`increase` of a series that
/// appears at 1 is 0).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, Unit};
    switchboard_store::metrics::describe();
    describe_counter!(INBOUND, Unit::Count, "Inbound customer messages by provider and outcome");
    describe_gauge!(LIVE_CHANNELS, Unit::Count, "Channel actors in memory");
    describe_gauge!(CHANNELS_KNOWN, Unit::Count, "Channels not deleted, live or hibernated");
    describe_gauge!(
        MEMORY_BYTES,
        Unit::Bytes,
        "Bytes the daemon's own structures hold for channels, users, streams and open Studio executions (not sled's cache)"
    );
    describe_counter!(HIBERNATIONS, Unit::Count, "Channel actors that hibernated");
    describe_counter!(
        DELIVERY_ATTEMPTS,
        Unit::Count,
        "Outbound delivery requests, retries included"
    );
    describe_counter!(DELIVERY_RETRIES, Unit::Count, "Outbound delivery requests after the first");
    describe_counter!(DELIVERIES, Unit::Count, "Deliveries finished, by destination and outcome");
    describe_counter!(DEAD_LETTERS, Unit::Count, "Deliveries given up and kept as dead letters");
    describe_gauge!(
        OUTBOX_PENDING,
        Unit::Count,
        "Streams a consumer of the log has yet to finish delivering, retry waits included"
    );
    describe_counter!(RETIREMENTS, Unit::Count, "Channels the janitor retired for inactivity");
    describe_gauge!(TASKS_WAITING, Unit::Count, "TaskRouter tasks waiting for a worker");
    describe_gauge!(OLDEST_WAIT, Unit::Seconds, "How long the oldest waiting task has waited");
    for provider in InboundProvider::ALL {
        for outcome in InboundOutcomeKind::ALL {
            inbound_counter(provider, outcome).increment(0);
        }
    }
    for destination in Destination::ALL {
        let to = destination.label();
        metrics::counter!(DELIVERY_ATTEMPTS, "destination" => to).increment(0);
        metrics::counter!(DELIVERY_RETRIES, "destination" => to).increment(0);
        for outcome in ["succeeded", "failed"] {
            metrics::counter!(DELIVERIES, "destination" => to, "outcome" => outcome).increment(0);
        }
        metrics::counter!(DEAD_LETTERS, "destination" => to).increment(0);
    }
    metrics::counter!(HIBERNATIONS).increment(0);
    metrics::counter!(RETIREMENTS).increment(0);
}

fn inbound_counter(provider: InboundProvider, outcome: InboundOutcomeKind) -> metrics::Counter {
    metrics::counter!(INBOUND, "provider" => provider.label(), "outcome" => outcome.label())
}

/// Counts an inbound message of `provider` that ended as `outcome`.
pub fn inbound(provider: InboundProvider, outcome: InboundOutcomeKind) {
    inbound_counter(provider, outcome).increment(1);
}

/// The outcome label of what the engine answered an inbound message.
pub(crate) fn outcome_of<T>(
    answer: &Result<Result<T, switchboard_domain::Rejection>, crate::EngineError>,
    duplicate: impl Fn(&T) -> bool,
) -> InboundOutcomeKind {
    match answer {
        Ok(Ok(done)) if duplicate(done) => InboundOutcomeKind::Duplicate,
        Ok(Ok(_)) => InboundOutcomeKind::Stored,
        Ok(Err(_)) => InboundOutcomeKind::Rejected,
        Err(_) => InboundOutcomeKind::Failed,
    }
}

pub(crate) fn hibernated() {
    metrics::counter!(HIBERNATIONS).increment(1);
}

pub(crate) fn retired() {
    metrics::counter!(RETIREMENTS).increment(1);
}

/// One outbound request to `destination`; `attempt` 0 is a delivery's first.
pub(crate) fn attempt(destination: Destination, attempt: u32) {
    let to = destination.label();
    metrics::counter!(DELIVERY_ATTEMPTS, "destination" => to).increment(1);
    if attempt > 0 {
        metrics::counter!(DELIVERY_RETRIES, "destination" => to).increment(1);
    }
}

/// A delivery to `destination` finished: delivered, or given up.
pub(crate) fn delivered(destination: Destination, succeeded: bool) {
    let outcome = if succeeded { "succeeded" } else { "failed" };
    metrics::counter!(DELIVERIES, "destination" => destination.label(), "outcome" => outcome)
        .increment(1);
}

/// A delivery to `destination` was given up and recorded as a dead letter.
pub(crate) fn dead_letter(destination: Destination) {
    metrics::counter!(DEAD_LETTERS, "destination" => destination.label()).increment(1);
}

/// Sets the gauges that are sampled rather than kept: live channel actors, what the daemon holds
/// in memory, and the store's size on disk when it could be read.
pub(crate) fn sample(live_channels: usize, memory: &crate::MemoryFigures, disk_bytes: Option<u64>) {
    // All far below 2^52: exact as f64.
    metrics::gauge!(LIVE_CHANNELS).set(live_channels as f64);
    metrics::gauge!(CHANNELS_KNOWN).set(memory.channels_known as f64);
    let held = [
        ("janitor", memory.janitor_bytes),
        ("users", memory.users_bytes),
        ("stream_caches", memory.stream_caches_bytes),
        ("tasks", memory.tasks_bytes),
        ("studio_executions", memory.studio_executions_bytes),
    ];
    for (holder, bytes) in held {
        metrics::gauge!(MEMORY_BYTES, "holder" => holder).set(bytes as f64);
    }
    if let Some(bytes) = disk_bytes {
        metrics::gauge!(switchboard_store::metrics::DISK_BYTES).set(bytes as f64);
    }
}

/// Sets the outbox's depth: for each consumer, the streams it has yet to finish delivering.
pub(crate) fn sample_outbox(pending: &[(&'static str, usize)]) {
    for &(consumer, streams) in pending {
        metrics::gauge!(OUTBOX_PENDING, "consumer" => consumer).set(streams as f64);
    }
}

/// Sets the task router's gauges: how many tasks wait and the oldest one's age in seconds.
pub(crate) fn sample_task_router(waiting: usize, oldest_wait_secs: u64) {
    metrics::gauge!(TASKS_WAITING).set(waiting as f64);
    metrics::gauge!(OLDEST_WAIT).set(oldest_wait_secs as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_snake_case_words() {
        let mut labels: Vec<&str> = InboundProvider::ALL.iter().map(|p| p.label()).collect();
        labels.extend(InboundOutcomeKind::ALL.iter().map(|o| o.label()));
        labels.extend(Destination::ALL.iter().map(|d| d.label()));
        for label in &labels {
            assert!(label.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{label}");
        }
        let providers: std::collections::HashSet<_> =
            InboundProvider::ALL.iter().map(|p| p.label()).collect();
        assert_eq!(providers.len(), InboundProvider::ALL.len());
        let destinations: std::collections::HashSet<_> =
            Destination::ALL.iter().map(|d| d.label()).collect();
        assert_eq!(destinations.len(), Destination::ALL.len());
    }

    #[test]
    fn an_answer_maps_to_its_outcome() {
        let stored: Result<Result<bool, switchboard_domain::Rejection>, crate::EngineError> =
            Ok(Ok(false));
        assert_eq!(outcome_of(&stored, |d| *d), InboundOutcomeKind::Stored);
        assert_eq!(outcome_of(&Ok(Ok(true)), |d: &bool| *d), InboundOutcomeKind::Duplicate);
        let rejected: Result<Result<bool, _>, crate::EngineError> =
            Ok(Err(switchboard_domain::Rejection::ChannelNotFound));
        assert_eq!(outcome_of(&rejected, |d| *d), InboundOutcomeKind::Rejected);
        let failed: Result<Result<bool, switchboard_domain::Rejection>, _> =
            Err(crate::EngineError::Stopping);
        assert_eq!(outcome_of(&failed, |d| *d), InboundOutcomeKind::Failed);
    }
}
