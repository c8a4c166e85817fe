//! The pure domain of Switchboard: what a chat channel is, as a sequence of events.
//!
//! This crate is the bottom of the workspace. It holds SIDs, the channel events, the state they fold
//! into, the commands that produce them, and the derived index entries the store keeps. It does no
//! I/O: it never reads a clock, a random source, a file or the network. Time and fresh SIDs are
//! passed in by the caller, so replaying a log always rebuilds exactly the same state.

mod address;
mod aggregate;
mod channel_kind;
pub mod client_policy;
mod command;
mod event;
mod flow;
mod folder;
mod index;
mod person;
mod provider_messages;
mod role;
mod service;
mod sid;
mod state;
mod stored_form;
mod time;
mod user;
mod web_flow;
mod webhook;

pub use address::{customer_address, e164, AddressError};
pub use aggregate::{Aggregate, FoldedDecision};
pub use flow::{
    conflicts, decide_flow, routing_key, validate, ChannelType, FlowCommand, FlowConfig, FlowEvent,
    FlowRejection, FlowState, Integration, IntegrationType,
};
pub use folder::FolderEvent;
pub use role::{
    validate_permissions, DefaultRole, RoleKind, RoleState, CHANNEL_PERMISSIONS,
    SERVICE_PERMISSIONS,
};
pub use service::{ServiceCommand, ServiceEvent, ServiceRejection, ServiceState};
pub use user::{UserCommand, UserEvent, UserRejection, UserState};
pub use web_flow::{
    validate_web_settings, FieldKind, FormField, WebFlowSettings, MAX_ALLOWED_ORIGINS, THEME_KEYS,
};

pub use command::{decide, ChannelCommand, NewChannel, NewMessage, Rejection};
pub use event::{
    Cause, ChannelEvent, ChannelKind, DeactivationReason, DeliveryStatus, DomainEvent,
    ErasureReason, Media, MessageSource, MessageTouch, ProviderError, ReactivationReason, Recorded,
    TaskOutcome, EVENT_SCHEMA_VERSION,
};
pub use index::{IndexEntry, IndexKind};
pub use person::{
    permits, valid_username, ConsoleAction, OpenedSession, PersonCommand, PersonEvent, PersonLinks,
    PersonRejection, PersonRole, PersonSession, PersonState, SESSIONS_PER_PERSON,
    SESSION_LIFETIME_MS,
};
pub use provider_messages::{ProviderMessageRef, RecentProviderMessages};
pub use sid::{Sid, SidError, SidPrefix};
pub use state::{
    ChannelState, ChannelStatus, DeferredMemory, InviteState, MediaState, MediaStatus, MemberState,
    TaskState, WebhookState, DELIVERIES_KEPT,
};
pub use stored_form::with_every_field;
pub use time::Timestamp;
pub use webhook::{
    ServiceWebhooks, WebhookConfig, WebhookMethod, MAX_WEBHOOKS_PER_CHANNEL,
    MAX_WEBHOOK_RETRY_COUNT, SERVICE_POST_EVENTS, SERVICE_PRE_EVENTS, WEBHOOK_FILTERS,
};
