//! The actor engine of Switchboard: everything between the HTTP layer and the event log.
//!
//! - [`ChannelActor`]: one per live channel, the only writer of its stream; hibernates when quiet.
//! - [`FlowRouter`]: sharded by customer address; decides whether an inbound message goes to the
//!   customer's existing channel or opens a new one, so one customer can never get two.
//! - [`Janitor`]: retires channels that have been quiet for longer than the inactivity window.
//! - [`FlowDirectory`] and [`ServiceDirectory`]: Flex Flows and Chat Services, event-sourced too.
//! - [`UserDirectory`]: Chat Users, one `US` stream each, with the channels each identity is in.
//! - [`PeopleDirectory`]: the console's people (`PN` streams), each with a Chat user and a worker.
//! - [`StudioFlowDirectory`]: Studio flows with their revisions, and their executions.
//! - [`Hub`]: live fan-out of channel events to the members' connections; `presence`: users'
//!   reachability from those connections, pushed to the members of their channels.
//! - `consumer`: work driven from the log, each consumer from a cursor of its own: customer
//!   messages to external integrations, agent replies to customers through their provider,
//!   channel and service webhooks, inbound media downloads; [`Dispatcher`] runs them.
//! - [`sandbox`]: where replies go instead of a provider when none is configured.
//! - [`outbound`]: the one policy every outbound HTTP call goes through (no private addresses
//!   unless allowed, redirects re-checked, credentials bound to their origin).
//! - [`Audit`]: signed heads and online backups of the running log, for the operator.
//! - [`Engine`]: the one handle the HTTP layer holds; `flex_channel` adds what the Flex
//!   `Channels` and `WebChannels` resources need (open a channel for a customer, their messages).

pub mod api_keys;
mod audit;
pub mod cause;
mod channel;
mod client;
mod clock;
mod consumer;
mod directory;
mod engine;
mod error;
mod flex_channel;
mod flex_orchestration;
mod hub;
mod ids;
mod interned;
mod janitor;
pub mod media;
mod memory;
mod messages;
pub mod metrics;
pub mod outbound;
mod people;
mod presence;
mod registry;
mod router;
pub mod sandbox;
mod span;
mod streams;
mod studio_flows;
mod taskrouter;
mod users;
mod workspaces;

pub use audit::Audit;
pub use channel::ChannelActor;
pub use client::{ClientAction, ClientRefusal, Clients};
pub use clock::{iso8601, Clock, SystemClock};
pub use consumer::webhooks::channel_attributes;
pub use consumer::{
    Dispatcher, GraphApi, OutboxConfig, TwilioAccount, TwilioApi, DEFAULT_GRAPH_API_BASE,
    DEFAULT_WHATSAPP_MEDIA_ORIGIN, EXTERNAL_CONSUMER as OUTBOX_CONSUMER, REPLY_CONSUMER,
    WEBHOOK_CONSUMER,
};
pub use directory::{FlowDirectory, FlowView, ServiceDirectory, ServiceView};
pub use engine::{
    Channels, Deliveries, Engine, EngineConfig, Inbound, InboundOutcome, InboundRefusal,
    Operations, ProviderStatus, Tasks,
};
pub use error::EngineError;
pub use flex_channel::{OpenChannel, Opened};
pub use hub::{Hub, Live, LiveEvent, Subscription};
pub use ids::new_sid;
pub use janitor::{ChannelListing, Janitor, OpenTask};
pub use media::{signed_media_url, ChannelMedia, MediaConfig};
pub use memory::MemoryFigures;
pub use messages::{MessageDelivery, MessageView, Messages};
pub use outbound::OutboundPolicy;
pub use people::{AddPersonError, PeopleDirectory, PersonChange};
pub use presence::{Presence, Reachability, SETTLE as PRESENCE_SETTLE};
pub use router::FlowRouter;
pub use sandbox::{Sandbox, SandboxDelivery};
pub use studio_flows::{
    ExecutionChange, ExecutionRefusal, ExecutionStart, StepView, StudioFlowChange,
    StudioFlowDirectory, MAX_REVISIONS, MAX_REVISION_BYTES, MAX_STUDIO_FLOWS,
};
pub use taskrouter::{
    EventQuery, Feed, FeedItem, ListedTask, LoggedRouterEvent, NewTask, NewWorker,
    ReservationAnswer, Routed, RouterRefusal, Subject, TaskChanges, TaskRouter, TaskSummary,
    WorkerChanges, WorkerSubscription, OFFLINE_ACTIVITY,
};
pub use users::{NewUser, UserChange, UserDirectory, UserRejection, UserView};
pub use workspaces::{WorkspaceChange, WorkspaceDirectory};
