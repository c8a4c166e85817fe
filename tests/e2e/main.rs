//! End-to-end tests: each drives the real `switchboard` binary against real data folders on disk
//! (and, for the daemon, real HTTP on 127.0.0.1). One test binary, one module per area.

mod support;

/// `replay` and `verify` on folders written by the log, including tampered ones.
mod audit_cli;
/// Chat v2 channel webhooks: CRUD, and delivery signed, filtered, retried, in order, durable.
mod channel_webhooks;
/// Chat v2 channel deletion: gone from the API, kept in the log.
mod channels;
/// The console's agent view: its endpoints' reach, and the agent answering customers in Chromium.
mod console_agent;
mod console_supervisor;
/// The container image, FROM scratch: built and run with podman; not root, signed webhooks, a
/// volume, names resolved inside.
mod container;
/// Schemathesis holds the server to its OpenAPI document.
mod contract;
/// kill -9 mid-burst loses no acknowledged webhook.
mod crash;
/// `serve`: first start, health, graceful stop, folder locking.
mod daemon;
/// deploy/: the systemd unit, the Kubernetes manifests and the Grafana dashboard, checked by
/// the tools that read them.
mod deploy;
/// The first hour: colours, banner, `dev` commands, the sandbox, tools' credentials, README.
mod first_hour;
/// Flex v1 Channels and WebChannels: custom channels and guest web chats.
mod flex_channels;
/// Flex Flows over REST in Twilio's shapes.
mod flows;
/// The golden log in tests/fixtures replays and verifies identically, forever.
mod golden;
/// Inbound SMS: routing, concurrency, redelivery, signatures, the janitor.
mod inbound;
/// The external integration: signed, retried, ordered, durable.
mod integrations;
/// `keys generate`, `keys rotate`, `keys shred` and `reindex`.
mod keys_cli;
/// Limits on what a stranger controls: stalled bodies, connections per address, lengths, frames.
mod limits;
/// Media: fetched, stored encrypted, served to members; uploads and signed links.
mod media;
/// Media served from our origin cannot act there; credentials before any lookup.
mod media_serving;
/// Messages read from their own records: pages, fetches, edits, audit ranges, a restart.
mod message_reads;
/// WhatsApp Cloud API and Messenger webhooks.
mod meta;
/// `/metrics`: behind credentials or on its own listener; exact counters, no SIDs, promtool.
mod metrics;
/// The OpenAPI document at /openapi.json, checked against real answers.
mod openapi;
/// Operating it: request ids, the access and JSON logs, the log's filter at run time,
/// `--version`, newer folders refused, progress on a terminal.
mod operating;
/// Replies through WhatsApp Cloud and Messenger; providers' status reports.
mod outbound;
/// The outbound policy: nothing inward, credentials to their origin only, ids checked.
mod outbound_policy;
/// The console's people and sign-in: Chat users and workers made once, passwords, sessions,
/// CSRF, the role policy, console tokens on the WebSocket, audit events.
mod people;
/// Client actions over the WebSocket, checked against Chat roles.
mod permissions;
/// verify without writing, signed heads, online backups and restores, refused damaged folders.
mod protect;
/// Rate limits per credential, per address on failed authentications and without credentials.
mod rate;
/// WebSockets: membership, resume, tokens.
mod realtime;
/// Agent replies delivered through the customer's provider.
mod replies;
/// deploy/nginx/switchboard.conf run by real nginx in front of the daemon: signatures over the
/// public URL, WebSockets, request ids, `/metrics` hidden, HTTP redirected.
mod reverse_proxy;
/// The official Twilio Python SDK, unchanged but for its base URL.
mod sdk;
/// Chat v2 service pre- and post-event webhooks: who fires them, filters, refusals, restarts.
mod service_webhooks;
/// Damage of every kind to data folders: never passes as good, never starts with less.
mod storage_faults;
/// Studio v2: flows from Studio's JSON, revisions, Validate, executions and steps, restarts.
mod studio;
/// Studio flows run from SMS traffic: replies, restarts, timeouts, Send to Flex, HTTP services.
mod studio_runs;
/// TaskRouter's assignment: reservations, answers, timeouts, capacity, restarts.
mod task_routing;
/// Workers on the WebSocket: their reservations as frames, answers, catch-up, offline grace.
mod task_routing_sockets;
/// TaskRouter v1: the seeded workspace, workspaces and their parts, refusals, restarts.
mod taskrouter;
/// TaskRouter's Events resource and `EventCallbackUrl`: listed, filtered, sent once, in order.
mod taskrouter_events;
/// Upgrades on the raw connection: a WebSocket's first frame with its handshake, other upgrades.
mod upgrades;
/// Chat Users, UserChannels, Roles; REST edits of members and messages.
mod users;
/// The webchat widget: files, sessions and their refusals, visitors' tokens, first start, Chromium.
mod widget;
