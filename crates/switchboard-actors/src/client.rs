//! What a token-authenticated client (an agent's app, the webchat widget) may do to a channel,
//! checked against Chat roles: the identity's channel role (its member's `role_sid`, else the
//! service's default channel role) and its service role (its user's `role_sid`, else the
//! default service role). A permission either role holds is granted. A refused action writes
//! nothing. REST with the account's credentials is the admin path and is not checked here.

use switchboard_domain::{
    ChannelCommand, ChannelKind, DefaultRole, MessageSource, NewMessage, Rejection, RoleState, Sid,
    SidPrefix,
};

use crate::{new_sid, Engine, EngineError};

/// An action a client asks for on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    Send {
        body: String,
        attributes: String,
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
    Rejected(Rejection),
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
        let Some(channel) = self.channel(channel_sid).await? else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let (Some(service_sid), false) = (channel.service_sid, channel.erased) else {
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
        let granted = |permission: &str| {
            channel_role.as_ref().is_some_and(|r| r.has(permission))
                || service_role.as_ref().is_some_and(|r| r.has(permission))
        };
        let require = |permission: &'static str| {
            if granted(permission) {
                Ok(())
            } else {
                Err(ClientRefusal::Unauthorized(permission))
            }
        };
        let is_private = channel.kind != Some(ChannelKind::Public);
        let member_sid = match (&action, &member) {
            (ClientAction::Join, Some(_)) => {
                return Ok(Err(ClientRefusal::Rejected(Rejection::MemberExists(
                    identity.to_owned(),
                ))))
            }
            (ClientAction::Join, None) if is_private => return Ok(Err(ClientRefusal::Private)),
            (ClientAction::Join, None) => None,
            (_, Some((sid, _))) => Some(*sid),
            (_, None) if is_private => return Ok(Err(ClientRefusal::Private)),
            (_, None) => return Ok(Err(ClientRefusal::NotMember)),
        };
        let commands = match action {
            ClientAction::Join => {
                if let Err(refusal) = require("joinChannel") {
                    return Ok(Err(refusal));
                }
                vec![ChannelCommand::AddMember {
                    member_sid: new_sid(SidPrefix::MEMBER),
                    identity: identity.to_owned(),
                    role_sid: None,
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
            ClientAction::Send { body, attributes } => {
                if let Err(refusal) = require("sendMessage") {
                    return Ok(Err(refusal));
                }
                let message = NewMessage {
                    message_sid: new_sid(SidPrefix::MESSAGE),
                    author: identity.to_owned(),
                    body,
                    attributes,
                    media: None,
                    source: MessageSource::Agent,
                    provider_message_id: None,
                };
                // The channel's customer writing through the widget: the customer's message,
                // exactly as through a provider (reopens, opens a task, never sent back out).
                let done = if channel.is_customer(identity) {
                    self.customer_message(&channel, message).await?
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

    /// The author of a message that exists now.
    fn author_of(&self, channel_sid: Sid, index: u64) -> Result<Option<String>, EngineError> {
        Ok(self.messages(channel_sid)?.into_iter().find(|m| m.index == index).map(|m| m.author))
    }
}
