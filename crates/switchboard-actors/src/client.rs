//! What a token-authenticated client (an agent's app, the webchat widget) may do to a channel,
//! checked against Chat roles: the identity's channel role (its member's `role_sid`, else the
//! service's default channel role) and its service role (its user's `role_sid`, else the
//! default service role). A permission either role holds is granted. A refused action writes
//! nothing. REST with the account's credentials is the admin path and is not checked here.
//!
//! A message with a medium (an upload to the channel, by the same rules: `may_upload_media`)
//! needs `sendMediaMessage` rather than `sendMessage`, as in Twilio's roles.

use switchboard_domain::{
    ChannelCommand, ChannelKind, ChannelState, DefaultRole, MemberState, MessageSource, NewMessage,
    Rejection, RoleState, Sid, SidPrefix,
};

use crate::media::AttachRefusal;
use crate::{new_sid, Engine, EngineError};

/// An action a client asks for on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    Send {
        body: String,
        attributes: String,
        /// An upload of the channel the message carries.
        media_sid: Option<Sid>,
    },
    Edit {
        index: u64,
        body: Option<String>,
        attributes: Option<String>,
    },
    Delete {
        index: u64,
    },
    /// Moves the identity's read horizon; `None` is "nothing read".
    Consumed {
        index: Option<u64>,
    },
    Join,
    Leave,
}

/// Why an action was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientRefusal {
    #[error("the channel does not exist")]
    ChannelNotFound,
    #[error("not a member of this channel")]
    NotMember,
    #[error("the channel is private")]
    Private,
    #[error("User not authorized for command: {0} is not granted")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Media(AttachRefusal),
    #[error("{0}")]
    Rejected(Rejection),
}

/// What an identity is on one channel: its member, if it is one, and its two roles.
struct Standing {
    channel: ChannelState,
    member: Option<(Sid, MemberState)>,
    channel_role: Option<RoleState>,
    service_role: Option<RoleState>,
}

impl Standing {
    fn granted(&self, permission: &str) -> bool {
        self.channel_role.as_ref().is_some_and(|r| r.has(permission))
            || self.service_role.as_ref().is_some_and(|r| r.has(permission))
    }

    fn require(&self, permission: &'static str) -> Result<(), ClientRefusal> {
        if self.granted(permission) {
            Ok(())
        } else {
            Err(ClientRefusal::Unauthorized(permission))
        }
    }
}

impl Engine {
    /// Checks `action` by `identity` against its roles and carries it out; returns the index of
    /// a sent message. Returns once durable.
    pub async fn client_action(
        &self,
        identity: &str,
        channel_sid: Sid,
        action: ClientAction,
    ) -> Result<Result<Option<u64>, ClientRefusal>, EngineError> {
        let standing = match self.standing(identity, channel_sid).await? {
            Ok(standing) => standing,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let granted = |permission: &str| standing.granted(permission);
        let require = |permission: &'static str| standing.require(permission);
        let (channel, member) = (&standing.channel, &standing.member);
        let is_private = channel.kind != Some(ChannelKind::Public);
        // An invite is the identity's way into the channel, private or not, in its invite's role.
        let invite = channel.invite_by_identity(identity).map(|(_, invite)| invite.role_sid);
        let member_sid = match (&action, &member) {
            (ClientAction::Join, Some(_)) => {
                return Ok(Err(ClientRefusal::Rejected(Rejection::MemberExists(
                    identity.to_owned(),
                ))))
            }
            (ClientAction::Join, None) if is_private && invite.is_none() => {
                return Ok(Err(ClientRefusal::Private))
            }
            (ClientAction::Join, None) => None,
            (_, Some((sid, _))) => Some(*sid),
            (_, None) if is_private => return Ok(Err(ClientRefusal::Private)),
            (_, None) => return Ok(Err(ClientRefusal::NotMember)),
        };
        let commands = match action {
            ClientAction::Join => {
                if invite.is_none() {
                    if let Err(refusal) = require("joinChannel") {
                        return Ok(Err(refusal));
                    }
                }
                vec![ChannelCommand::AddMember {
                    member_sid: new_sid(SidPrefix::MEMBER),
                    identity: identity.to_owned(),
                    role_sid: invite.flatten(),
                    attributes: "{}".into(),
                }]
            }
            ClientAction::Leave => {
                if let Err(refusal) = require("leaveChannel") {
                    return Ok(Err(refusal));
                }
                let Some(member_sid) = member_sid else { return Ok(Err(ClientRefusal::NotMember)) };
                vec![ChannelCommand::RemoveMember { member_sid }]
            }
            ClientAction::Consumed { index } => {
                let Some(member_sid) = member_sid else { return Ok(Err(ClientRefusal::NotMember)) };
                if index.is_some_and(|i| i >= channel.next_message_index) {
                    return Ok(Err(ClientRefusal::Rejected(Rejection::Invalid(
                        "the index is past the channel's last message",
                    ))));
                }
                vec![ChannelCommand::UpdateReadHorizon { member_sid, last_consumed_index: index }]
            }
            ClientAction::Send { body, attributes, media_sid } => {
                let needed = if media_sid.is_some() { "sendMediaMessage" } else { "sendMessage" };
                if let Err(refusal) = require(needed) {
                    return Ok(Err(refusal));
                }
                // Checked again by `decide` when written: two sends of one medium race there.
                let media = match media_sid.map(|sid| crate::media::attachable(channel, sid)) {
                    None => None,
                    Some(Ok(media)) => Some(media),
                    Some(Err(refusal)) => return Ok(Err(ClientRefusal::Media(refusal))),
                };
                let message = NewMessage {
                    message_sid: new_sid(SidPrefix::MESSAGE),
                    author: identity.to_owned(),
                    body,
                    attributes,
                    media,
                    source: MessageSource::Agent,
                    provider_message_id: None,
                };
                // The channel's customer writing through the widget: the customer's message,
                // exactly as through a provider (reopens, opens a task, never sent back out).
                let done = if channel.is_customer(identity) {
                    self.customer_message(channel, message).await?
                } else {
                    self.execute(channel_sid, vec![ChannelCommand::PostMessage(message)]).await?
                };
                return Ok(done.map_err(ClientRefusal::Rejected).map(|executed| {
                    executed.events.iter().find_map(|e| match e {
                        switchboard_domain::ChannelEvent::MessageAdded { index, .. } => {
                            Some(*index)
                        }
                        _ => None,
                    })
                }));
            }
            ClientAction::Edit { index, body, attributes } => {
                let own = match self.author_of(channel_sid, index)? {
                    Some(author) => author == identity,
                    None => {
                        return Ok(Err(ClientRefusal::Rejected(Rejection::MessageNotFound(index))))
                    }
                };
                let needed = match (own, body.is_some()) {
                    (true, true) => ["editOwnMessage", "editAnyMessage"],
                    (false, true) => ["editAnyMessage", "editAnyMessage"],
                    (true, false) => ["editOwnMessageAttributes", "editAnyMessageAttributes"],
                    (false, false) => ["editAnyMessageAttributes", "editAnyMessageAttributes"],
                };
                if !needed.iter().any(|p| granted(p)) {
                    return Ok(Err(ClientRefusal::Unauthorized(needed[0])));
                }
                vec![ChannelCommand::EditMessage {
                    index,
                    body,
                    attributes,
                    edited_by: Some(identity.to_owned()),
                }]
            }
            ClientAction::Delete { index } => {
                let own = match self.author_of(channel_sid, index)? {
                    Some(author) => author == identity,
                    None => {
                        return Ok(Err(ClientRefusal::Rejected(Rejection::MessageNotFound(index))))
                    }
                };
                let needed = if own { "deleteOwnMessage" } else { "deleteAnyMessage" };
                if !granted(needed) && !granted("deleteAnyMessage") {
                    return Ok(Err(ClientRefusal::Unauthorized(needed)));
                }
                vec![ChannelCommand::RemoveMessage { index }]
            }
        };
        Ok(self
            .execute(channel_sid, commands)
            .await?
            .map(|_| None)
            .map_err(ClientRefusal::Rejected))
    }

    /// Whether `identity` may upload a medium to the channel, for a message it will send: a
    /// member whose roles grant `sendMediaMessage`.
    pub async fn may_upload_media(
        &self,
        identity: &str,
        channel_sid: Sid,
    ) -> Result<Result<(), ClientRefusal>, EngineError> {
        let standing = match self.standing(identity, channel_sid).await? {
            Ok(standing) => standing,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if standing.member.is_none() {
            return Ok(Err(ClientRefusal::NotMember));
        }
        Ok(standing.require("sendMediaMessage"))
    }

    /// The channel as it is now and what `identity` is on it.
    async fn standing(
        &self,
        identity: &str,
        channel_sid: Sid,
    ) -> Result<Result<Standing, ClientRefusal>, EngineError> {
        let Some(channel) = self.channel(channel_sid).await? else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let (Some(service_sid), false) = (channel.service_sid, channel.is_removed()) else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let Some(service) = self.services().get(service_sid) else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let role = |sid: Option<Sid>, default: DefaultRole| -> Option<RoleState> {
            sid.and_then(|s| service.roles.get(&s)).or_else(|| service.role(default)).cloned()
        };
        let user = self.users().by_identity(service_sid, identity)?;
        let service_role = role(user.and_then(|u| u.role_sid), DefaultRole::ServiceUser);
        let member = channel.member_by_identity(identity).map(|(sid, m)| (sid, m.clone()));
        let channel_role =
            member.as_ref().and_then(|(_, m)| role(m.role_sid, DefaultRole::ChannelUser));
        Ok(Ok(Standing { channel, member, channel_role, service_role }))
    }

    /// The author of a message that exists now.
    fn author_of(&self, channel_sid: Sid, index: u64) -> Result<Option<String>, EngineError> {
        Ok(self.messages(channel_sid)?.into_iter().find(|m| m.index == index).map(|m| m.author))
    }
}
