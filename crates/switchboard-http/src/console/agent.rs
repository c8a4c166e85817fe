//! What the agent view of the console reads beside its WebSocket: the activities it may switch
//! between (and how long its reservations wait), and a conversation of its own (the channel, the
//! customer and pre-engagement data, a page of messages, newest first). Deny by default: a
//! person whose role does not answer customers is refused, and a channel is reached only by an
//! agent who is a member of it in their own Chat service; any other is 404, as for none.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_domain::{ChannelState, ChannelType, ConsoleAction, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::session::SignedIn;
use crate::lists::{PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::views::{self, Message};

/// The largest page of messages one call reads.
pub(super) const MAX_PAGE: usize = 100;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(agent).service(conversation).service(conversation_messages);
}

/// An activity of the agent's workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityChoice {
    /// `WA…`
    pub sid: String,
    pub friendly_name: String,
    /// Whether a worker in it is offered tasks.
    pub available: bool,
}

/// A workflow's reservation timeout: how long the agent has to answer an offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationTimeout {
    /// `WW…`
    pub workflow_sid: String,
    /// Seconds.
    pub task_reservation_timeout: u32,
}

/// Where the agent may transfer to: a queue, or another agent of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferTarget {
    /// `WQ…` or `WK…`
    pub sid: String,
    pub friendly_name: String,
    /// For an agent: whether their activity is an available one.
    pub available: Option<bool>,
}

/// The agent's workspace as the console needs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub workspace_sid: String,
    pub worker_sid: String,
    /// The daemon's clock, in milliseconds since the epoch: what the console counts time left
    /// against (its own clock may differ).
    pub now_ms: i64,
    pub activities: Vec<ActivityChoice>,
    pub reservation_timeouts: Vec<ReservationTimeout>,
    pub queues: Vec<TransferTarget>,
    /// The workspace's other workers.
    pub agents: Vec<TransferTarget>,
}

/// The signed-in person's links, if their role answers customers.
pub(super) fn answering(signed_in: &SignedIn) -> Result<switchboard_domain::PersonLinks, ApiError> {
    signed_in.may(ConsoleAction::AnswerCustomers)?;
    signed_in.person.links.ok_or_else(|| {
        ApiError::conflict(20409, "The person has no chat user and worker yet: add them again")
    })
}

/// The agent's activities and reservation timeouts.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleAgent",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The agent's workspace", body = AgentView)),
)]
#[get("/console/agent")]
async fn agent(state: web::Data<AppState>, signed_in: SignedIn) -> Result<HttpResponse, ApiError> {
    let links = answering(&signed_in)?;
    let workspace = state
        .engine
        .workspaces()
        .get(links.workspace_sid)
        .ok_or_else(|| ApiError::conflict(20409, "The person's workspace is gone"))?;
    let mut activities: Vec<_> = workspace.activities.values().collect();
    activities.sort_by_key(|kept| kept.created_at_event);
    let activities = activities
        .into_iter()
        .map(|kept| ActivityChoice {
            sid: kept.record.sid.to_string(),
            friendly_name: kept.record.friendly_name.clone(),
            available: kept.record.available,
        })
        .collect();
    let reservation_timeouts = workspace
        .workflows
        .values()
        .map(|kept| ReservationTimeout {
            workflow_sid: kept.record.sid.to_string(),
            task_reservation_timeout: kept.record.task_reservation_timeout,
        })
        .collect();
    let queues = workspace
        .task_queues
        .values()
        .map(|kept| TransferTarget {
            sid: kept.record.sid.to_string(),
            friendly_name: kept.record.friendly_name.clone(),
            available: None,
        })
        .collect();
    Ok(no_store().json(AgentView {
        workspace_sid: links.workspace_sid.to_string(),
        worker_sid: links.worker_sid.to_string(),
        now_ms: state.engine.now().as_millis(),
        activities,
        reservation_timeouts,
        queues,
        agents: other_agents(&state, links),
    }))
}

/// The workspace's workers but the agent's own, oldest first.
fn other_agents(state: &AppState, links: switchboard_domain::PersonLinks) -> Vec<TransferTarget> {
    let workers = state.engine.task_router().workers(links.workspace_sid);
    workers
        .into_iter()
        .filter(|w| w.sid.is_some_and(|sid| sid != links.worker_sid))
        .map(|w| TransferTarget {
            sid: w.sid.map(|s| s.to_string()).unwrap_or_default(),
            available: Some(w.activity.as_ref().is_some_and(|a| a.available)),
            friendly_name: w.friendly_name,
        })
        .collect()
}

pub(super) fn no_store() -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// A member of the conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationMember {
    /// `MB…`
    pub sid: String,
    pub identity: String,
    /// A JSON object, as a string.
    pub attributes: String,
    /// The newest message index it has read, if any.
    pub last_consumed_message_index: Option<u64>,
}

/// A conversation of the agent's: the channel, the customer and what they told before.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// `CH…`
    pub sid: String,
    pub service_sid: String,
    pub friendly_name: Option<String>,
    /// The channel's attributes: `status`, `channel_type`, `from`, `pre_engagement_data`, …
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// The customer's address on their channel (a phone number, a web visitor's identity).
    pub customer_address: Option<String>,
    /// Whether the customer has the chat open now: only for a web visitor (whose socket says
    /// so) in a service that keeps reachability; `null` otherwise (an SMS, WhatsApp or
    /// Messenger customer has no socket, and is never shown offline for it).
    pub customer_online: Option<bool>,
    pub long_lived: bool,
    /// When the current interaction began, if the channel was reactivated (a long-lived
    /// channel's customer came back): messages before it are earlier interactions.
    pub interaction_started: Option<String>,
    pub messages_count: u64,
    pub members: Vec<ConversationMember>,
    pub date_created: String,
}

/// The channel of the path, if the signed-in agent is a member of it in their own service.
async fn own_channel(
    state: &AppState,
    request: &HttpRequest,
    signed_in: &SignedIn,
) -> Result<ChannelState, ApiError> {
    let links = answering(signed_in)?;
    let key = request.match_info().get("channel").unwrap_or_default();
    let not_found = || ApiError::not_found(request.path());
    let sid = Sid::parse_with(key, SidPrefix::CHANNEL).map_err(|_| not_found())?;
    let channel = state.engine.channels().state(sid).await?.ok_or_else(not_found)?;
    let identity = &signed_in.person.username;
    let reaches = channel.service_sid == Some(links.chat_service_sid)
        && !channel.is_removed()
        && channel.members.values().any(|m| &m.identity == identity);
    if reaches {
        Ok(channel)
    } else {
        Err(not_found())
    }
}

/// A conversation the agent is in.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleConversation",
    security(("consoleSession" = [])),
    params(("channel" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 200, description = "The conversation", body = ConversationView)),
)]
#[get("/console/conversations/{channel}")]
async fn conversation(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let channel = own_channel(&state, &request, &signed_in).await?;
    Ok(no_store().json(conversation_view(&state, &channel)))
}

/// Whether the channel's customer has the chat open: `None` unless the channel came in through
/// a web flow (its customer a visitor with a socket) and its service keeps reachability.
fn customer_online(state: &AppState, channel: &ChannelState) -> Option<bool> {
    let flow = state.engine.flows().get(channel.flex_flow_sid?)?;
    if flow.config.channel_type != ChannelType::Web {
        return None;
    }
    let customer = channel.customer_address.as_deref()?;
    let (online, _) = state.engine.presence().reachability(channel.service_sid?, customer)?;
    Some(online)
}

/// A conversation as the console shows it (the agent's own, or one a supervisor watches).
pub(super) fn conversation_view(state: &AppState, channel: &ChannelState) -> ConversationView {
    let text = |sid: Option<Sid>| sid.map(|s| s.to_string()).unwrap_or_default();
    let attributes = serde_json::from_str(&channel.attributes).unwrap_or(serde_json::Value::Null);
    let members = channel
        .members
        .iter()
        .map(|(sid, m)| ConversationMember {
            sid: sid.to_string(),
            identity: m.identity.clone(),
            attributes: m.attributes.clone(),
            last_consumed_message_index: m.last_consumed_index,
        })
        .collect();
    ConversationView {
        sid: text(channel.sid),
        service_sid: text(channel.service_sid),
        friendly_name: channel.friendly_name.clone(),
        attributes,
        customer_address: channel.customer_address.clone(),
        customer_online: customer_online(state, channel),
        long_lived: channel.long_lived,
        interaction_started: channel.reactivated_at.map(switchboard_actors::iso8601),
        messages_count: channel.messages_count(),
        members,
        date_created: switchboard_actors::iso8601(channel.date_created),
    }
}

/// A page of a conversation's messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    /// Newest first: page 0 is the latest.
    pub messages: Vec<Message>,
    /// Whether older messages remain (the next `Page`).
    pub has_more: bool,
    /// The indices of this page's messages that belong to earlier interactions: written before
    /// the channel's last reactivation (to the millisecond; the message that reactivated it is
    /// of the current one).
    pub earlier_interactions: Vec<u64>,
}

/// A page of a conversation's messages, newest first (page 0 the latest); only the page's
/// messages are read, never the whole history.
#[utoipa::path(
    tag = "Console",
    operation_id = "ListConsoleConversationMessage",
    security(("consoleSession" = [])),
    params(("channel" = String, Path, description = "The channel (`CH…`)"), PageParams),
    responses((status = 200, description = "A page of messages", body = ConversationPage)),
)]
#[get("/console/conversations/{channel}/messages")]
async fn conversation_messages(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, MAX_PAGE)?;
    let channel = own_channel(&state, &request, &signed_in).await?;
    Ok(no_store().json(messages_page(&state, &channel, &paging)?))
}

/// A page of `channel`'s messages, newest first: only the page's messages are read.
pub(super) fn messages_page(
    state: &AppState,
    channel: &ChannelState,
    paging: &Paging,
) -> Result<ConversationPage, ApiError> {
    let total = usize::try_from(channel.messages_count()).unwrap_or(usize::MAX);
    let range = paging.range(total);
    let (offset, limit) = (range.start as u64, range.len() as u64);
    let page = state.engine.messages().page(channel, offset, limit, true)?;
    let earlier_interactions = page
        .iter()
        .filter(|m| channel.of_an_earlier_interaction(m.date_created))
        .map(|m| m.index)
        .collect();
    let messages = page.iter().map(|m| views::message(state, channel, m)).collect();
    Ok(ConversationPage { messages, has_more: total > range.end, earlier_interactions })
}
