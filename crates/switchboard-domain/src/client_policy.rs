//! Who may do what to a channel: Twilio Chat's role rules for a token-authenticated client (an
//! agent's app, the webchat widget), as pure functions of the client's standing on the channel.
//!
//! Two questions, asked in this order by the caller:
//! 1. [`admit`]: may the identity act on this channel at all, and as which member? Membership,
//!    privacy and invites decide; no permission is consulted yet.
//! 2. [`permit`]: do its roles grant what the action needs? For an edit or a delete the answer
//!    depends on whose message it is, which the caller learns by reading the message, so it asks
//!    only then.
//!
//! A permission either of the identity's roles holds is granted: its channel role (its member's
//! role, else the service's default channel role) or its service role (its user's, else the
//! default service role). REST with the account's credentials is the admin path, never asked here.

use crate::{ChannelKind, ChannelState, InviteState, MemberState, RoleState, Sid};

/// What an action is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Join,
    Leave,
    /// Moving one's read horizon: any member may.
    Consumed,
    Send {
        with_media: bool,
    },
    /// `own`: the message is the identity's; `body`: the edit changes the text, not only the
    /// attributes.
    Edit {
        own: bool,
        body: bool,
    },
    Delete {
        own: bool,
    },
}

/// What an identity is on one channel, gathered by the caller from the channel and its service.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub identity: &'a str,
    pub channel: &'a ChannelState,
    pub member: Option<(Sid, &'a MemberState)>,
    pub channel_role: Option<&'a RoleState>,
    pub service_role: Option<&'a RoleState>,
}

/// Why the rules refuse an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRefusal {
    NotMember,
    Private,
    /// A join by an identity that is already a member (named).
    AlreadyMember(String),
    /// The roles lack this permission (the first of those that would do).
    Unauthorized(&'static str),
}

impl Standing<'_> {
    /// Whether either role grants `permission`.
    pub fn granted(&self, permission: &str) -> bool {
        self.channel_role.is_some_and(|r| r.has(permission))
            || self.service_role.is_some_and(|r| r.has(permission))
    }

    /// The identity's invite to the channel, if it has one.
    fn invite(&self) -> Option<&InviteState> {
        self.channel.invite_by_identity(self.identity).map(|(_, invite)| invite)
    }
}

/// Whether the identity may act on the channel at all, and as which member: `Ok(None)` for a
/// join, which makes the member. An invite is the identity's way into a channel, private or not.
pub fn admit(standing: &Standing, action: ActionKind) -> Result<Option<Sid>, PolicyRefusal> {
    let is_private = standing.channel.kind != Some(ChannelKind::Public);
    match (action, standing.member) {
        (ActionKind::Join, Some(_)) => {
            Err(PolicyRefusal::AlreadyMember(standing.identity.to_owned()))
        }
        (ActionKind::Join, None) if is_private && standing.invite().is_none() => {
            Err(PolicyRefusal::Private)
        }
        (ActionKind::Join, None) => Ok(None),
        (_, Some((sid, _))) => Ok(Some(sid)),
        (_, None) if is_private => Err(PolicyRefusal::Private),
        (_, None) => Err(PolicyRefusal::NotMember),
    }
}

/// Whether the identity's roles grant the action. A join on an invite needs no permission; a
/// medium needs `sendMediaMessage` rather than `sendMessage`; editing or deleting one's own
/// message is granted by the "own" permission or the "any" one.
pub fn permit(standing: &Standing, action: ActionKind) -> Result<(), PolicyRefusal> {
    let any_of = |needed: &[&'static str]| match needed.iter().any(|p| standing.granted(p)) {
        true => Ok(()),
        false => Err(PolicyRefusal::Unauthorized(needed[0])),
    };
    match action {
        ActionKind::Join if standing.invite().is_some() => Ok(()),
        ActionKind::Join => any_of(&["joinChannel"]),
        ActionKind::Leave => any_of(&["leaveChannel"]),
        ActionKind::Consumed => Ok(()),
        ActionKind::Send { with_media: true } => any_of(&["sendMediaMessage"]),
        ActionKind::Send { with_media: false } => any_of(&["sendMessage"]),
        ActionKind::Edit { own: true, body: true } => any_of(&["editOwnMessage", "editAnyMessage"]),
        ActionKind::Edit { own: false, body: true } => any_of(&["editAnyMessage"]),
        ActionKind::Edit { own: true, body: false } => {
            any_of(&["editOwnMessageAttributes", "editAnyMessageAttributes"])
        }
        ActionKind::Edit { own: false, body: false } => any_of(&["editAnyMessageAttributes"]),
        ActionKind::Delete { own: true } => any_of(&["deleteOwnMessage", "deleteAnyMessage"]),
        ActionKind::Delete { own: false } => any_of(&["deleteAnyMessage"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelEvent, DefaultRole, Recorded, SidPrefix, Timestamp};

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    /// A channel of `kind` after its creation and `then`.
    fn channel(kind: ChannelKind, then: Vec<ChannelEvent>) -> ChannelState {
        let created = ChannelEvent::ChannelCreated {
            channel_sid: sid(SidPrefix::CHANNEL, 1),
            service_sid: sid(SidPrefix::SERVICE, 1),
            kind,
            friendly_name: None,
            unique_name: None,
            attributes: "{}".into(),
            created_by: "system".into(),
            flex_flow_sid: None,
            customer_address: None,
            long_lived: false,
            janitor_enabled: false,
            carried_provider_messages: Vec::new(),
        };
        let at = Timestamp::from_millis(0);
        let records: Vec<Recorded> =
            std::iter::once(created).chain(then).map(|e| Recorded::new(at, e)).collect();
        ChannelState::replay(&records)
    }

    fn role(default: DefaultRole) -> RoleState {
        let at = Timestamp::from_millis(0);
        RoleState {
            sid: default.sid(sid(SidPrefix::SERVICE, 1)),
            friendly_name: default.friendly_name().into(),
            kind: default.kind(),
            permissions: default.permissions().iter().map(|p| (*p).to_owned()).collect(),
            default: true,
            date_created: at,
            date_updated: at,
        }
    }

    fn standing<'a>(
        identity: &'a str,
        channel: &'a ChannelState,
        roles: (Option<&'a RoleState>, Option<&'a RoleState>),
    ) -> Standing<'a> {
        let member = channel.member_by_identity(identity);
        Standing { identity, channel, member, channel_role: roles.0, service_role: roles.1 }
    }

    #[test]
    fn a_stranger_may_join_a_public_channel_but_not_a_private_one_without_an_invite() {
        let user = role(DefaultRole::ServiceUser);
        let public = channel(ChannelKind::Public, vec![]);
        let private = channel(ChannelKind::Private, vec![]);
        let on_public = standing("bob", &public, (None, Some(&user)));
        assert_eq!(admit(&on_public, ActionKind::Join), Ok(None));
        assert_eq!(permit(&on_public, ActionKind::Join), Ok(()));
        assert_eq!(
            admit(&on_public, ActionKind::Send { with_media: false }),
            Err(PolicyRefusal::NotMember)
        );
        let on_private = standing("bob", &private, (None, Some(&user)));
        assert_eq!(admit(&on_private, ActionKind::Join), Err(PolicyRefusal::Private));
        assert_eq!(admit(&on_private, ActionKind::Leave), Err(PolicyRefusal::Private));
    }

    #[test]
    fn an_invite_opens_a_private_channel_and_needs_no_join_permission() {
        let invited = channel(
            ChannelKind::Private,
            vec![ChannelEvent::InviteAdded {
                invite_sid: sid(SidPrefix::INVITE, 2),
                identity: "bob".into(),
                role_sid: None,
                created_by: None,
            }],
        );
        let nothing = standing("bob", &invited, (None, None));
        assert_eq!(admit(&nothing, ActionKind::Join), Ok(None));
        assert_eq!(permit(&nothing, ActionKind::Join), Ok(()), "no role at all, still invited");
        let stranger = standing("eve", &invited, (None, None));
        assert_eq!(
            permit(&stranger, ActionKind::Join),
            Err(PolicyRefusal::Unauthorized("joinChannel"))
        );
    }

    #[test]
    fn a_member_acts_as_its_member_and_may_not_join_again() {
        let joined = channel(
            ChannelKind::Public,
            vec![ChannelEvent::MemberJoined {
                member_sid: sid(SidPrefix::MEMBER, 3),
                identity: "bob".into(),
                role_sid: None,
                attributes: "{}".into(),
            }],
        );
        let bob = standing("bob", &joined, (None, None));
        assert_eq!(admit(&bob, ActionKind::Join), Err(PolicyRefusal::AlreadyMember("bob".into())));
        assert_eq!(admit(&bob, ActionKind::Consumed), Ok(Some(sid(SidPrefix::MEMBER, 3))));
        assert_eq!(permit(&bob, ActionKind::Consumed), Ok(()), "any member reads");
    }

    #[test]
    fn roles_decide_sends_edits_and_deletes_either_role_granting() {
        let public = channel(ChannelKind::Public, vec![]);
        let member = role(DefaultRole::ChannelUser);
        let admin = role(DefaultRole::ChannelAdmin);
        let as_member = standing("bob", &public, (Some(&member), None));
        let as_admin = standing("bob", &public, (None, Some(&admin)));
        let nobody = standing("bob", &public, (None, None));
        let send = ActionKind::Send { with_media: false };
        assert_eq!(permit(&as_member, send), Ok(()));
        assert_eq!(permit(&nobody, send), Err(PolicyRefusal::Unauthorized("sendMessage")));
        assert_eq!(
            permit(&nobody, ActionKind::Send { with_media: true }),
            Err(PolicyRefusal::Unauthorized("sendMediaMessage"))
        );
        let others = ActionKind::Edit { own: false, body: true };
        assert_eq!(permit(&as_member, ActionKind::Edit { own: true, body: true }), Ok(()));
        assert_eq!(permit(&as_member, others), Err(PolicyRefusal::Unauthorized("editAnyMessage")));
        assert_eq!(permit(&as_admin, others), Ok(()), "a service role grants too");
        assert_eq!(
            permit(&as_member, ActionKind::Delete { own: false }),
            Err(PolicyRefusal::Unauthorized("deleteAnyMessage"))
        );
        assert_eq!(
            permit(&nobody, ActionKind::Delete { own: true }),
            Err(PolicyRefusal::Unauthorized("deleteOwnMessage")),
            "the refusal names the narrowest permission that would do"
        );
    }
}
