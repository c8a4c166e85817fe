//! The HTTP surface of Switchboard, in Twilio's shapes so that code written for Programmable
//! Chat and Flex, and the official SDKs, work by changing only the base URL.
//!
//! - `twilio`: the conventions (errors, forms, signatures, access tokens).
//! - `flex`, `flex_channels`, `chat/` (Chat v2, one file per noun: services, channels, members,
//!   messages, invites, webhooks, users, user_channels, roles): the REST resources; `webhooks`:
//!   inbound provider messages; `ws`: real time; `admin`: audit and tasks for operators;
//!   `media`: uploads, media content, signed public links.
//! - `taskrouter/` (TaskRouter v1) and `studio/` (Studio v2: flows, revisions, executions):
//!   one file per noun, their wire shapes in `wire.rs`.
//! - `webchat` (sessions, tokens; `webchat_refresh`, the rotation of refresh tokens), `webchat_history` (a visitor's chat a page at a time),
//!   `webchat_flows` (a web flow's widget settings),
//!   `webchat_pages` (the widget's files from `switchboard-web`, the chat page, the demo at `/`).
//! - [`configure`] registers everything; the daemon and the tests share it. [`on_connect`]
//!   prepares each accepted connection (`connection`).
//! - [`limits`]: connections per address and slow request bodies (docs/limits.md).
//! - [`rate`]: rate limits per credential and per address, 429 with `Retry-After`.
//! - [`logging`]: request ids, the access log, and the log's filter through the admin API.
//! - [`metrics`]: the Prometheus recorder, `/metrics`, and the count of every request by route
//!   template (docs/operating.md, "Monitoring").

mod admin;
mod answers;
mod app;
pub mod audit;
mod auth;
mod chat;
mod connection;
pub mod console;
mod flex;
mod flex_channels;
pub mod fuzzing;
pub mod limits;
mod lists;
mod lobby;
pub mod log_budget;
pub mod logging;
mod media;
mod meta;
pub mod metrics;
pub mod openapi;
pub mod rate;
mod route_shapes;
pub mod state;
mod studio;
mod taskrouter;
pub mod twilio;
mod views;
pub mod webchat;
mod webchat_flows;
mod webchat_history;
mod webchat_pages;
mod webchat_refresh;
mod webhooks;
pub mod wire;
mod ws;
mod ws_transport;

pub use app::configure;
pub use chat::service_webhooks::{rest_cause, WEBHOOK_ENABLED_HEADER};
pub use connection::on_connect;
pub use console::Sessions;
pub use rate::{RateConfig, RateLimits};
pub use webchat::{Webchat, WebchatConfig};
pub use webhooks::TWILIO_STATUS_PATH;
pub use ws::upgraded::take_over as take_over_upgraded;
pub use ws_transport::RealtimeConfig;
