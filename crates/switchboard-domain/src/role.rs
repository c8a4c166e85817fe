//! Chat roles and their permissions, as in Twilio's Programmable Chat: a `deployment` (service)
//! role is a user's, a `channel` role a member's. Roles live in their service's stream
//! (`ServiceEvent::Role…`); the four defaults exist in every service from its creation, under
//! SIDs derived from the service's, so services made before roles existed have them too.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Sid, SidPrefix, Timestamp};

/// A role's scope. Stored names: `channel`, `deployment` (Twilio's `type` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    Channel,
    Deployment,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Channel => "channel",
            RoleKind::Deployment => "deployment",
        }
    }

    pub fn parse(text: &str) -> Option<RoleKind> {
        match text {
            "channel" => Some(RoleKind::Channel),
            "deployment" => Some(RoleKind::Deployment),
            _ => None,
        }
    }

    /// The permissions a role of this scope may hold.
    pub fn allowed_permissions(self) -> &'static [&'static str] {
        match self {
            RoleKind::Channel => CHANNEL_PERMISSIONS,
            RoleKind::Deployment => SERVICE_PERMISSIONS,
        }
    }
}

/// Permissions a channel role may hold (Twilio's channel-scope values).
pub const CHANNEL_PERMISSIONS: &[&str] = &[
    "addMember",
    "deleteAnyMessage",
    "deleteOwnMessage",
    "destroyChannel",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyMemberAttributes",
    "editChannelAttributes",
    "editChannelName",
    "editNotificationLevel",
    "editOwnMemberAttributes",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "inviteMember",
    "leaveChannel",
    "removeMember",
    "sendMediaMessage",
    "sendMessage",
];

/// Permissions a deployment (service) role may hold: the channel ones too, since a user's
/// service role applies in every channel (a service admin may delete any message).
pub const SERVICE_PERMISSIONS: &[&str] = &[
    "addMember",
    "createChannel",
    "deleteAnyMessage",
    "deleteOwnMessage",
    "destroyChannel",
    "editAnyMemberAttributes",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editChannelAttributes",
    "editChannelName",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "inviteMember",
    "joinChannel",
    "leaveChannel",
    "removeMember",
    "sendMediaMessage",
    "sendMessage",
];

/// The four roles every service starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultRole {
    ServiceAdmin,
    ServiceUser,
    ChannelAdmin,
    ChannelUser,
}

impl DefaultRole {
    pub const ALL: [DefaultRole; 4] = [
        DefaultRole::ServiceAdmin,
        DefaultRole::ServiceUser,
        DefaultRole::ChannelAdmin,
        DefaultRole::ChannelUser,
    ];

    pub fn friendly_name(self) -> &'static str {
        match self {
            DefaultRole::ServiceAdmin => "service admin",
            DefaultRole::ServiceUser => "service user",
            DefaultRole::ChannelAdmin => "channel admin",
            DefaultRole::ChannelUser => "channel user",
        }
    }

    pub fn kind(self) -> RoleKind {
        match self {
            DefaultRole::ServiceAdmin | DefaultRole::ServiceUser => RoleKind::Deployment,
            DefaultRole::ChannelAdmin | DefaultRole::ChannelUser => RoleKind::Channel,
        }
    }

    /// Twilio's default permission sets (docs/api.md says which parts are verified).
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            DefaultRole::ServiceAdmin => &[
                "createChannel",
                "joinChannel",
                "destroyChannel",
                "editChannelAttributes",
                "editChannelName",
                "addMember",
                "inviteMember",
                "removeMember",
                "editAnyMemberAttributes",
                "editAnyMessage",
                "deleteAnyMessage",
                "editAnyMessageAttributes",
                "editAnyUserInfo",
            ],
            DefaultRole::ServiceUser => &["createChannel", "joinChannel", "editOwnUserInfo"],
            DefaultRole::ChannelAdmin => &[
                "addMember",
                "deleteAnyMessage",
                "destroyChannel",
                "editAnyMessage",
                "editAnyMessageAttributes",
                "editAnyMemberAttributes",
                "editChannelAttributes",
                "editChannelName",
                "inviteMember",
                "removeMember",
                "sendMessage",
                "sendMediaMessage",
                "leaveChannel",
                "editOwnMessage",
                "editOwnMessageAttributes",
                "deleteOwnMessage",
                "editOwnMemberAttributes",
                "editNotificationLevel",
            ],
            DefaultRole::ChannelUser => &[
                "sendMessage",
                "sendMediaMessage",
                "leaveChannel",
                "editOwnMessage",
                "editOwnMessageAttributes",
                "deleteOwnMessage",
                "editOwnMemberAttributes",
                "editNotificationLevel",
            ],
        }
    }

    /// The role's SID in `service`: the service's id bytes with the last one changed, so it is
    /// the same on every replay and needs no event.
    pub fn sid(self, service_sid: Sid) -> Sid {
        let mut id = service_sid.id();
        let tag = match self {
            DefaultRole::ServiceAdmin => 0x01,
            DefaultRole::ServiceUser => 0x02,
            DefaultRole::ChannelAdmin => 0x03,
            DefaultRole::ChannelUser => 0x04,
        };
        id[15] ^= tag;
        id[14] ^= 0x5a;
        Sid::from_parts(SidPrefix::ROLE, id)
    }
}

/// One role as its service's events leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    pub sid: Sid,
    pub friendly_name: String,
    pub kind: RoleKind,
    pub permissions: Vec<String>,
    /// One of the four a service starts with: never deleted.
    pub default: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl RoleState {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// Checks a permission list for `kind`: every value known, no duplicates kept, at least one.
/// Returns the list in the order given, deduplicated.
pub fn validate_permissions(kind: RoleKind, given: &[&str]) -> Result<Vec<String>, String> {
    if given.is_empty() {
        return Err("Missing required parameter Permission".into());
    }
    let allowed = kind.allowed_permissions();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for permission in given {
        if !allowed.contains(permission) {
            return Err(format!(
                "Permission {permission:?} is not a {} role permission",
                kind.as_str()
            ));
        }
        if seen.insert(*permission) {
            out.push((*permission).to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_role_sids_are_stable_and_distinct() {
        let service = Sid::from_parts(SidPrefix::SERVICE, [7; 16]);
        let sids: BTreeSet<Sid> = DefaultRole::ALL.iter().map(|r| r.sid(service)).collect();
        assert_eq!(sids.len(), 4);
        assert_eq!(DefaultRole::ChannelUser.sid(service), DefaultRole::ChannelUser.sid(service));
        assert!(sids.iter().all(|s| s.prefix() == SidPrefix::ROLE));
    }

    #[test]
    fn defaults_only_hold_permissions_of_their_scope() {
        for role in DefaultRole::ALL {
            let given: Vec<&str> = role.permissions().to_vec();
            assert!(validate_permissions(role.kind(), &given).is_ok(), "{role:?}");
        }
        assert!(validate_permissions(RoleKind::Channel, &["createChannel"]).is_err());
        assert!(validate_permissions(RoleKind::Channel, &[]).is_err());
    }
}
