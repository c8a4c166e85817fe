//! A web visitor's history, a page at a time (`GET /webchat/v1/Messages`): what the chat shows
//! when it opens, so that a long-lived chat never sends its whole history at once, and each
//! message of an earlier interaction (before the channel's latest reactivation) marked as such.
//! The page says which event the chat resumes after on its WebSocket, and where the visitor and
//! the others read up to, which the events before that one would have told it.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::MessageView;
use switchboard_domain::{ChannelState, Sid};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(history);
}

/// The most messages one page holds.
const MAX_PAGE: u64 = 50;
const DEFAULT_PAGE: u64 = 20;

/// A page of the visitor's chat, newest last.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebchatHistory {
    messages: Vec<HistoryMessage>,
    /// Whether older messages exist (ask again with `Before` the first one's index).
    has_more: bool,
    /// The channel's event the chat resumes after (`resume` with this `seq`): every event up to
    /// it is in this answer. Only on the first page (no `Before`).
    seq: Option<u64>,
    /// The visitor's member (`MB…`), its read horizon, and the furthest another member read.
    member_sid: String,
    last_consumed_index: Option<u64>,
    others_consumed_index: Option<u64>,
    /// The chat's other members now (its agents), as the events before `seq` told them: so that
    /// a member leaving later is known by its member SID.
    other_members: Vec<HistoryMember>,
}

#[derive(Debug, Serialize, ToSchema)]
struct HistoryMember {
    /// `MB…`
    member_sid: String,
    identity: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct HistoryMessage {
    index: u64,
    author: String,
    /// Text, never HTML.
    body: String,
    media: Option<HistoryMedia>,
    date_created: String,
    /// Of an earlier interaction of a long-lived chat: before its latest reactivation.
    earlier: bool,
}

#[derive(Debug, Serialize, ToSchema)]
struct HistoryMedia {
    sid: String,
    content_type: String,
    size_bytes: u64,
    filename: Option<String>,
}

/// The visitor's latest messages, or those before `Before`; needs the visitor's access token.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "ListWebchatMessages",
    security(("accessToken" = [])),
    params(
        ("PageSize" = Option<u64>, Query, description = "1 to 50; 20 when absent", minimum = 1, maximum = 50),
        ("Before" = Option<u64>, Query, description = "Only messages whose index is below this one"),
    ),
    responses((status = 200, description = "A page of the chat", body = WebchatHistory)),
)]
#[get("/webchat/v1/Messages")]
async fn history(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (peer, channel_sid) = crate::webchat::visitor(&state, &request, "reads its chat")?;
    let query = TwilioForm::parse_query(request.query_string());
    let limit = query.get_u64("PageSize")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_param(format!("PageSize must be 1 to {MAX_PAGE}")));
    }
    let before = query.get_u64("Before")?;
    let gone = || ApiError::new(404, 20404, "The chat has ended");
    let channel = state.engine.channels().state(channel_sid).await?.ok_or_else(gone)?;
    let (member_sid, member) = channel
        .member_by_identity(&peer.identity)
        .filter(|_| !channel.is_removed())
        .ok_or_else(gone)?;
    // Counted from the newest: the messages at or past `before` come first.
    let skipped = before.map_or(0, |before| at_or_past(&channel, before));
    let mut page = state.engine.messages().page(&channel, skipped, limit + 1, true)?;
    let has_more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    page.reverse();
    let others = channel.members.iter().filter(|(sid, _)| **sid != member_sid);
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(WebchatHistory {
        messages: page.iter().map(|m| shown(&channel, m)).collect(),
        has_more,
        seq: before.is_none().then(|| channel.events_applied.saturating_sub(1)),
        member_sid: member_sid.to_string(),
        last_consumed_index: member.last_consumed_index,
        others_consumed_index: others.clone().filter_map(|(_, m)| m.last_consumed_index).max(),
        other_members: others
            .map(|(sid, m)| HistoryMember {
                member_sid: sid.to_string(),
                identity: m.identity.clone(),
            })
            .collect(),
    }))
}

/// How many of the channel's messages (not removed) have an index at or past `index`.
fn at_or_past(channel: &ChannelState, index: u64) -> u64 {
    let next = channel.next_message_index;
    if index >= next {
        return 0;
    }
    let removed = channel.removed_messages.range(index..).count() as u64;
    next - index - removed
}

fn shown(channel: &ChannelState, message: &MessageView) -> HistoryMessage {
    let sid = |sid: &Sid| sid.to_string();
    HistoryMessage {
        index: message.index,
        author: message.author.clone(),
        body: message.body.clone(),
        media: message.media.as_ref().map(|media| HistoryMedia {
            sid: sid(&media.sid),
            content_type: media.content_type.clone(),
            size_bytes: media.size_bytes,
            filename: media.filename.clone(),
        }),
        date_created: crate::twilio::time::iso8601(message.date_created),
        earlier: channel.of_an_earlier_interaction(message.date_created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_at_or_past_an_index_leave_out_the_removed_ones() {
        let mut channel = ChannelState { next_message_index: 10, ..ChannelState::default() };
        assert_eq!(at_or_past(&channel, 0), 10);
        assert_eq!(at_or_past(&channel, 7), 3);
        assert_eq!(at_or_past(&channel, 10), 0);
        assert_eq!(at_or_past(&channel, 99), 0);
        channel.removed_messages.extend([2, 8]);
        assert_eq!(at_or_past(&channel, 7), 2);
        assert_eq!(at_or_past(&channel, 0), 8);
    }
}
