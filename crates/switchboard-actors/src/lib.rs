//! The actor engine of Switchboard: everything between the HTTP layer and the event log.
//!
//! - [`ChannelActor`]: one per live channel, the only writer of its stream; hibernates when quiet.
//! - [`FlowRouter`]: sharded by customer address; decides whether an inbound message goes to the
//!   customer's existing channel or opens a new one, so one customer can never get two.
//! - [`Janitor`]: retires channels that have been quiet for longer than the inactivity window.
//! - [`FlowDirectory`] and [`ServiceDirectory`]: Flex Flows and Chat Services, event-sourced too.
//! - [`UserDirectory`]: Chat Users, one `US` stream each, with the channels each identity is in.
//! - [`Hub`]: live fan-out of channel events to the members' connections; `presence`: users'
//!   reachability from those connections, pushed to the members of their channels.
//! - [`Outbox`]: delivers customer messages to external integrations, agent replies to
//!   customers through their provider and channel events to channel webhooks, from the log
//!   itself.
//! - [`media::MediaFetcher`]: downloads inbound media into the encrypted media store.
//! - [`sandbox`]: where replies go instead of a provider when none is configured.
//! - [`outbound`]: the one policy every outbound HTTP call goes through (no private addresses
//!   unless allowed, redirects re-checked, credentials bound to their origin).
//! - [`Audit`]: signed heads and online backups of the running log, for the operator.
//! - [`Engine`]: the one handle the HTTP layer holds; `flex_channel` adds what the Flex
//!   `Channels` and `WebChannels` resources need (open a channel for a customer, their messages).

mod audit;
pub mod cause;
mod channel;
mod channel_hooks;
mod client;
mod clock;
mod directory;
mod engine;
mod error;
mod flex_channel;
mod hub;
mod ids;
mod janitor;
pub mod media;
mod messages;
pub mod metrics;
pub mod outbound;
mod outbox;
mod presence;
mod provider;
mod registry;
mod router;
mod runs;
pub mod sandbox;
mod streams;
mod users;

pub use audit::Audit;
pub use channel::ChannelActor;
pub use channel_hooks::{channel_attributes, CONSUMER as WEBHOOK_CONSUMER};
pub use client::{ClientAction, ClientRefusal};
pub use clock::{iso8601, Clock, SystemClock};
pub use directory::{FlowDirectory, FlowView, ServiceDirectory, ServiceView};
pub use engine::{Engine, EngineConfig, Inbound, InboundOutcome, ProviderStatus};
pub use error::EngineError;
pub use flex_channel::{OpenChannel, Opened};
pub use hub::{Hub, Live, LiveEvent, Subscription};
pub use ids::new_sid;
pub use janitor::{ChannelListing, Janitor, OpenTask};
pub use media::{signed_media_url, MediaConfig, MediaFetcher};
pub use messages::{MessageDelivery, MessageView};
pub use outbound::OutboundPolicy;
pub use outbox::{
    Outbox, OutboxConfig, TwilioAccount, TwilioApi, CONSUMER as OUTBOX_CONSUMER,
    DEFAULT_GRAPH_API_BASE,
};
pub use presence::{Reachability, SETTLE as PRESENCE_SETTLE};
pub use provider::{GraphApi, CONSUMER as REPLY_CONSUMER, DEFAULT_WHATSAPP_MEDIA_ORIGIN};
pub use router::FlowRouter;
pub use sandbox::{Sandbox, SandboxDelivery};
pub use users::{NewUser, UserChange, UserDirectory, UserRejection, UserView};
