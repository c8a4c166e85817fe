//! Chat v2 over REST, one file per noun: Services, Channels, Members, Messages, Invites, channel
//! Webhooks, Users, UserChannels and Roles, plus the services' webhook settings. What every noun
//! shares lives here: the path's service and channel (by SID or unique name), running channel
//! commands, and attribute documents.

mod channels;
mod invites;
mod members;
mod messages;
mod roles;
pub(crate) mod service_webhooks;
mod services;
mod user_channels;
mod users;
mod webhooks;

use actix_web::HttpRequest;
use serde_json::Value;
use switchboard_domain::{ChannelCommand, ChannelState, Sid, SidPrefix};

use crate::route_shapes::Routes;
use crate::state::AppState;
use crate::twilio::error::ApiError;

/// Every Chat v2 route, a group per resource (`crate::route_shapes`), in the order the OpenAPI
/// document lists them.
pub(crate) const GROUPS: &[Routes] = &[
    services::routes,
    channels::routes,
    members::routes,
    messages::routes,
    users::routes,
    user_channels::routes,
    roles::routes,
    webhooks::routes,
    invites::routes,
];

/// Runs commands on a channel and turns a domain rejection into Twilio's error.
pub(crate) async fn run(
    state: &AppState,
    sid: Sid,
    commands: Vec<ChannelCommand>,
) -> Result<(), ApiError> {
    if commands.is_empty() {
        return Ok(());
    }
    state.engine.channels().execute(sid, commands).await??;
    Ok(())
}

pub(crate) fn service_sid(state: &AppState, request: &HttpRequest) -> Result<Sid, ApiError> {
    let text = request.match_info().get("service").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::SERVICE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    state.engine.services().get(sid).map(|_| sid).ok_or_else(|| ApiError::not_found(request.path()))
}

/// The service and channel of the path; the channel may be named by SID or unique name.
pub(crate) fn channel_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, Sid), ApiError> {
    let service = service_sid(state, request)?;
    let key = request.match_info().get("channel").unwrap_or_default();
    if let Ok(sid) = Sid::parse_with(key, SidPrefix::CHANNEL) {
        return Ok((service, sid));
    }
    match state.engine.channels().named(service, key)? {
        Some(sid) => Ok((service, sid)),
        None => Err(ApiError::not_found(request.path())),
    }
}

pub(crate) async fn load_channel(
    state: &AppState,
    service: Sid,
    sid: Sid,
    path: &str,
) -> Result<ChannelState, ApiError> {
    match state.engine.channels().state(sid).await? {
        Some(channel) if channel.service_sid == Some(service) && !channel.is_removed() => {
            Ok(channel)
        }
        _ => Err(ApiError::not_found(path)),
    }
}

/// The channel of the path and the SID its `param` segment names (of `prefix`), if the channel
/// `holds` it: the lookup of every channel sub-resource (webhooks, invites); 404 in Twilio's
/// shape for a missing channel or a missing or malformed SID alike.
pub(crate) async fn channel_and_child(
    state: &AppState,
    request: &HttpRequest,
    param: &str,
    prefix: SidPrefix,
    holds: impl Fn(&ChannelState, &Sid) -> bool,
) -> Result<(ChannelState, Sid), ApiError> {
    let (service, sid) = channel_path(state, request)?;
    let channel = load_channel(state, service, sid, request.path()).await?;
    let key = request.match_info().get(param).unwrap_or_default();
    match Sid::parse_with(key, prefix) {
        Ok(child) if holds(&channel, &child) => Ok((channel, child)),
        _ => Err(ApiError::not_found(request.path())),
    }
}

/// A `LastConsumedMessageIndex` as sent: empty or `null` clears the horizon ("nothing read"), as
/// Twilio's null does; otherwise a whole number.
pub(crate) fn read_horizon(text: &str) -> Result<Option<u64>, ApiError> {
    match text {
        "" | "null" => Ok(None),
        number => number.parse().map(Some).map_err(|_| {
            ApiError::bad_param(format!(
                "LastConsumedMessageIndex must be a whole number, not {number:?}"
            ))
        }),
    }
}

/// Attributes must be a JSON document (Twilio stores them as a string); absent means `{}`.
pub(crate) fn json_attributes(text: Option<&str>) -> Result<String, ApiError> {
    match text {
        None | Some("") => Ok("{}".to_owned()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(_) if text.len() <= 16 * 1024 => Ok(text.to_owned()),
            Ok(_) => Err(ApiError::bad_param("Attributes are longer than 16 KiB")),
            Err(_) => Err(ApiError::bad_param("Attributes must be a valid JSON document")),
        },
    }
}
