//! What a token-authenticated client (an agent's app, the webchat widget) may do to a channel,
//! and carrying it out: this file gathers the identity's standing (its member, its channel and
//! service roles) and does the I/O; the rules themselves are the domain's pure
//! `client_policy` (admission, then permission). A refused action writes nothing. REST with the
//! account's credentials is the admin path and is not checked here.
//!
//! A message with a medium (an upload to the channel, by the same rules: `may_upload_media`)
//! needs `sendMediaMessage` rather than `sendMessage`, as in Twilio's roles.
//!
//! A permitted action then goes to the service's pre-event webhook, when it has one whose
//! filters name the action (`onMessageSend`, …): a non-2xx answer, or none in time, refuses it;
//! a 2xx JSON answer may change a message's `body` and `attributes`. Every event an action
//! appends records the client's identity as its cause, so post-event webhooks always fire for it.

use serde_json::Value;
use switchboard_domain::client_policy::{self, ActionKind, PolicyRefusal, Standing};
use switchboard_domain::{
    Cause, ChannelCommand, ChannelState, DefaultRole, MemberState, MessageSource, NewMessage,
    Rejection, RoleState, Sid, SidPrefix,
};

use crate::media::AttachRefusal;
use crate::{new_sid, Engine, EngineError, MessageView};

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

impl ClientAction {
    /// The action as the rules see it; `own`: whether the message edited or deleted is the
    /// identity's (false for other actions).
    fn kind(&self, own: bool) -> ActionKind {
        match self {
            ClientAction::Send { media_sid, .. } => {
                ActionKind::Send { with_media: media_sid.is_some() }
            }
            ClientAction::Edit { body, .. } => ActionKind::Edit { own, body: body.is_some() },
            ClientAction::Delete { .. } => ActionKind::Delete { own },
            ClientAction::Consumed { .. } => ActionKind::Consumed,
            ClientAction::Join => ActionKind::Join,
            ClientAction::Leave => ActionKind::Leave,
        }
    }

    /// The kind before any message is read: admission does not depend on whose message it is.
    fn kind_before_reading(&self) -> ActionKind {
        self.kind(false)
    }
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
    /// The service's pre-event webhook said no, or did not answer.
    #[error("the service's pre-event webhook refused {event}: {why}")]
    WebhookRefused { event: &'static str, why: String },
}

/// A message's text after the pre-event webhook had its say.
struct Amended {
    body: Option<String>,
    attributes: Option<String>,
}

/// What an identity is on one channel, owned: its member, if it is one, and its two roles. The
/// rules read it through [`Gathered::view`].
struct Gathered {
    identity: String,
    channel: ChannelState,
    member: Option<(Sid, MemberState)>,
    channel_role: Option<RoleState>,
    service_role: Option<RoleState>,
}

impl Gathered {
    fn view(&self) -> Standing<'_> {
        Standing {
            identity: &self.identity,
            channel: &self.channel,
            member: self.member.as_ref().map(|(sid, member)| (*sid, member)),
            channel_role: self.channel_role.as_ref(),
            service_role: self.service_role.as_ref(),
        }
    }
}

impl From<PolicyRefusal> for ClientRefusal {
    fn from(refusal: PolicyRefusal) -> ClientRefusal {
        match refusal {
            PolicyRefusal::NotMember => ClientRefusal::NotMember,
            PolicyRefusal::Private => ClientRefusal::Private,
            PolicyRefusal::Unauthorized(permission) => ClientRefusal::Unauthorized(permission),
            PolicyRefusal::AlreadyMember(identity) => {
                ClientRefusal::Rejected(Rejection::MemberExists(identity))
            }
        }
    }
}

/// What a client with an access token may do (`Engine::clients`).
#[derive(Debug, Clone, Copy)]
pub struct Clients<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Actions of clients with access tokens, under Chat's role rules.
    pub fn clients(&self) -> Clients<'_> {
        Clients { engine: self }
    }
}

impl Clients<'_> {
    /// Checks `action` by `identity` against its roles and its service's pre-event webhook and
    /// carries it out; returns the index of a sent message. Returns once durable.
    pub async fn act(
        self,
        identity: &str,
        channel_sid: Sid,
        action: ClientAction,
    ) -> Result<Result<Option<u64>, ClientRefusal>, EngineError> {
        let cause = Cause::Client { identity: identity.to_owned() };
        crate::cause::caused_by(cause, self.checked_action(identity, channel_sid, action)).await
    }

    async fn checked_action(
        self,
        identity: &str,
        channel_sid: Sid,
        action: ClientAction,
    ) -> Result<Result<Option<u64>, ClientRefusal>, EngineError> {
        let gathered = match self.standing(identity, channel_sid).await? {
            Ok(gathered) => gathered,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let standing = gathered.view();
        let channel = standing.channel;
        let Some(service_sid) = channel.service_sid else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let member_sid = match client_policy::admit(&standing, action.kind_before_reading()) {
            Ok(member_sid) => member_sid,
            Err(refusal) => return Ok(Err(refusal.into())),
        };
        // Edits and deletes are judged by whose message it is, so they read it first.
        let message = match action {
            ClientAction::Edit { index, .. } | ClientAction::Delete { index } => {
                match self.engine.messages().get(channel, index)? {
                    Some(message) => Some(message),
                    None => {
                        return Ok(Err(ClientRefusal::Rejected(Rejection::MessageNotFound(index))))
                    }
                }
            }
            _ => None,
        };
        let own = message.as_ref().is_some_and(|m| m.author == identity);
        if let Err(refusal) = client_policy::permit(&standing, action.kind(own)) {
            return Ok(Err(refusal.into()));
        }
        let pre_event = |name: &'static str, params: Vec<(&'static str, String)>| async move {
            self.pre_event(service_sid, channel_sid, identity, name, &params).await
        };
        let commands = match action {
            ClientAction::Join => {
                if let Err(refusal) =
                    pre_event("onMemberAdd", vec![("Identity", identity.into())]).await
                {
                    return Ok(Err(refusal));
                }
                let invite = channel.invite_by_identity(identity).and_then(|(_, i)| i.role_sid);
                vec![ChannelCommand::AddMember {
                    member_sid: new_sid(SidPrefix::MEMBER),
                    identity: identity.to_owned(),
                    role_sid: invite,
                    attributes: "{}".into(),
                }]
            }
            ClientAction::Leave => {
                let Some(member_sid) = member_sid else { return Ok(Err(ClientRefusal::NotMember)) };
                let params =
                    vec![("MemberSid", member_sid.to_string()), ("Identity", identity.to_owned())];
                if let Err(refusal) = pre_event("onMemberRemove", params).await {
                    return Ok(Err(refusal));
                }
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
                // Checked again by `decide` when written: two sends of one medium race there.
                let media = match media_sid.map(|sid| crate::media::attachable(channel, sid)) {
                    None => None,
                    Some(Ok(media)) => Some(media),
                    Some(Err(refusal)) => return Ok(Err(ClientRefusal::Media(refusal))),
                };
                let mut params = vec![
                    ("Body", body.clone()),
                    ("Attributes", attributes.clone()),
                    ("From", identity.to_owned()),
                ];
                let name = match &media {
                    Some(media) => {
                        params.push(("MediaSid", media.sid.to_string()));
                        params.push(("MediaContentType", media.content_type.clone()));
                        "onMediaMessageSend"
                    }
                    None => "onMessageSend",
                };
                let (body, attributes) = match pre_event(name, params).await.and_then(amended) {
                    Ok(amended) => {
                        (amended.body.unwrap_or(body), amended.attributes.unwrap_or(attributes))
                    }
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let message = NewMessage {
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
                    self.engine.channels().customer_message(channel, message).await?
                } else {
                    self.engine
                        .channels()
                        .execute(channel_sid, vec![ChannelCommand::PostMessage(message)])
                        .await?
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
                let message = message.expect("read above for an edit");
                let mut params = message_params(&message);
                for (name, new) in [("Body", &body), ("Attributes", &attributes)] {
                    if let (Some(new), Some(param)) =
                        (new, params.iter_mut().find(|(n, _)| *n == name))
                    {
                        param.1.clone_from(new);
                    }
                }
                params.push(("ModifiedBy", identity.to_owned()));
                // The webhook may amend only what the edit changes.
                let (body, attributes) =
                    match pre_event("onMessageUpdate", params).await.and_then(amended) {
                        Ok(amended) => (
                            body.map(|b| amended.body.unwrap_or(b)),
                            attributes.map(|a| amended.attributes.unwrap_or(a)),
                        ),
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                vec![ChannelCommand::EditMessage {
                    index,
                    body,
                    attributes,
                    edited_by: Some(identity.to_owned()),
                }]
            }
            ClientAction::Delete { index } => {
                let message = message.expect("read above for a delete");
                if let Err(refusal) = pre_event("onMessageRemove", message_params(&message)).await {
                    return Ok(Err(refusal));
                }
                vec![ChannelCommand::RemoveMessage { index }]
            }
        };
        Ok(self
            .engine
            .channels()
            .execute(channel_sid, commands)
            .await?
            .map(|_| None)
            .map_err(ClientRefusal::Rejected))
    }

    /// Whether `identity` may upload a medium to the channel, for a message it will send: a
    /// member whose roles grant `sendMediaMessage`.
    pub async fn may_upload_media(
        self,
        identity: &str,
        channel_sid: Sid,
    ) -> Result<Result<(), ClientRefusal>, EngineError> {
        let gathered = match self.standing(identity, channel_sid).await? {
            Ok(gathered) => gathered,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if gathered.member.is_none() {
            return Ok(Err(ClientRefusal::NotMember));
        }
        let with_media = ActionKind::Send { with_media: true };
        Ok(client_policy::permit(&gathered.view(), with_media).map_err(ClientRefusal::from))
    }

    /// The channel as it is now and what `identity` is on it.
    async fn standing(
        self,
        identity: &str,
        channel_sid: Sid,
    ) -> Result<Result<Gathered, ClientRefusal>, EngineError> {
        let Some(channel) = self.engine.channels().state(channel_sid).await? else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let (Some(service_sid), false) = (channel.service_sid, channel.is_removed()) else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let Some(service) = self.engine.services().get(service_sid) else {
            return Ok(Err(ClientRefusal::ChannelNotFound));
        };
        let role = |sid: Option<Sid>, default: DefaultRole| -> Option<RoleState> {
            sid.and_then(|s| service.roles.get(&s)).or_else(|| service.role(default)).cloned()
        };
        let user_role = self.engine.users().role_of(service_sid, identity)?;
        let service_role = role(user_role, DefaultRole::ServiceUser);
        let member = channel.member_by_identity(identity).map(|(sid, m)| (sid, m.clone()));
        let channel_role =
            member.as_ref().and_then(|(_, m)| role(m.role_sid, DefaultRole::ChannelUser));
        let identity = identity.to_owned();
        Ok(Ok(Gathered { identity, channel, member, channel_role, service_role }))
    }

    /// Asks the service's pre-event webhook about `event`, if it has one whose filters name it;
    /// returns its JSON answer. The client waits meanwhile.
    async fn pre_event(
        self,
        service_sid: Sid,
        channel_sid: Sid,
        identity: &str,
        event: &'static str,
        params: &[(&str, String)],
    ) -> Result<Option<Value>, ClientRefusal> {
        let Some(hook) = self.engine.services().pre_webhook(service_sid) else { return Ok(None) };
        if !hook.wants(event) {
            return Ok(None);
        }
        let hooks = &self.engine.inner.hooks;
        let mut form = crate::consumer::webhooks::pre_event_form(
            hooks,
            service_sid,
            channel_sid,
            event,
            identity,
        );
        form.extend(params.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        crate::consumer::webhooks::call_pre_event(hooks, &hook, form).await.map_err(|why| {
            tracing::info!(channel = %channel_sid, event, "the pre-event webhook refused an action: {why}");
            ClientRefusal::WebhookRefused { event, why }
        })
    }
}

/// What a pre-event webhook is told of a message as it is now.
fn message_params(message: &MessageView) -> Vec<(&'static str, String)> {
    vec![
        ("MessageSid", message.sid.to_string()),
        ("Index", message.index.to_string()),
        ("Body", message.body.clone()),
        ("Attributes", message.attributes.clone()),
        ("From", message.author.clone()),
        ("DateCreated", crate::iso8601(message.date_created)),
    ]
}

/// The `body` and `attributes` a pre-event webhook's JSON answer gives a message, if any; held to
/// the limits a client's own are.
fn amended(answer: Option<Value>) -> Result<Amended, ClientRefusal> {
    let invalid = |why: &'static str| ClientRefusal::Rejected(Rejection::Invalid(why));
    let Some(Value::Object(answer)) = answer else {
        return Ok(Amended { body: None, attributes: None });
    };
    let field = |name: &str| answer.get(name).or_else(|| answer.get(&capitalized(name)));
    let body = match field("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(body)) if body.chars().count() <= 32 * 1024 => Some(body.clone()),
        Some(_) => return Err(invalid(
            "the pre-event webhook answered a body that is not text of at most 32 768 characters",
        )),
    };
    let attributes = match field("attributes") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if serde_json::from_str::<Value>(text).is_ok() => {
            Some(text.clone())
        }
        Some(Value::String(_)) => {
            return Err(invalid("the pre-event webhook answered attributes that are not JSON"))
        }
        Some(other) => Some(other.to_string()),
    };
    if attributes.as_ref().is_some_and(|a| a.len() > 16 * 1024) {
        return Err(invalid("the pre-event webhook answered attributes longer than 16 KiB"));
    }
    Ok(Amended { body, attributes })
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pre_event_answer_may_amend_a_message_within_its_limits() {
        let none = amended(None).unwrap();
        assert_eq!((none.body, none.attributes), (None, None));
        let plain = amended(Some(Value::String("ok".into()))).unwrap();
        assert_eq!((plain.body, plain.attributes), (None, None), "only an object amends");
        let both =
            amended(Some(serde_json::json!({"body": "tidied", "attributes": {"a": 1}}))).unwrap();
        assert_eq!(both.body.as_deref(), Some("tidied"));
        assert_eq!(both.attributes.as_deref(), Some(r#"{"a":1}"#));
        let twilio_case = amended(Some(serde_json::json!({"Body": "B"}))).unwrap();
        assert_eq!(twilio_case.body.as_deref(), Some("B"));
        assert!(amended(Some(serde_json::json!({"attributes": "not json"}))).is_err());
        assert!(amended(Some(serde_json::json!({"body": 3}))).is_err());
    }
}
