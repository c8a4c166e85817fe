//! Chat Services: the container of channels, as in Twilio's Chat v2. An aggregate of its own,
//! stored in a stream named by its `IS` SID, with its roles (see `role.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::role::{DefaultRole, RoleKind, RoleState};
use crate::{DomainEvent, Recorded, ServiceWebhooks, Sid, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceEvent {
    ServiceCreated {
        service_sid: Sid,
        friendly_name: String,
    },
    ServiceRenamed {
        friendly_name: String,
    },
    RoleCreated {
        role_sid: Sid,
        friendly_name: String,
        kind: RoleKind,
        permissions: Vec<String>,
    },
    /// The whole permission set is replaced, as Twilio's update does.
    RoleUpdated {
        role_sid: Sid,
        permissions: Vec<String>,
    },
    RoleDeleted {
        role_sid: Sid,
    },
    /// The service's webhook settings after an update, whole, not only what changed.
    WebhooksUpdated {
        #[serde(default)]
        webhooks: ServiceWebhooks,
    },
    /// Whether users' reachability (`is_online`, `is_notifiable`) is kept and pushed to the
    /// members of their channels (Twilio's `ReachabilityEnabled`).
    ReachabilityUpdated {
        enabled: bool,
    },
}

impl DomainEvent for ServiceEvent {
    fn type_name(&self) -> &'static str {
        match self {
            ServiceEvent::ServiceCreated { .. } => "service_created",
            ServiceEvent::ServiceRenamed { .. } => "service_renamed",
            ServiceEvent::RoleCreated { .. } => "role_created",
            ServiceEvent::RoleUpdated { .. } => "role_updated",
            ServiceEvent::RoleDeleted { .. } => "role_deleted",
            ServiceEvent::WebhooksUpdated { .. } => "webhooks_updated",
            ServiceEvent::ReachabilityUpdated { .. } => "reachability_updated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceState {
    pub sid: Option<Sid>,
    pub friendly_name: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
    /// Every role of the service, the four defaults included.
    #[serde(default)]
    pub roles: BTreeMap<Sid, RoleState>,
    #[serde(default)]
    pub webhooks: ServiceWebhooks,
    /// Since when the post-event webhook has been set without a break: events from before are
    /// never sent to it, so setting one does not replay history.
    #[serde(default)]
    pub post_webhook_since: Option<Timestamp>,
    /// Twilio's `reachability_enabled`: off until an update turns it on.
    #[serde(default)]
    pub reachability_enabled: bool,
}

impl ServiceState {
    pub fn apply(&mut self, record: &Recorded<ServiceEvent>) {
        self.events_applied += 1;
        let at = record.at;
        match &record.event {
            ServiceEvent::ServiceCreated { service_sid, friendly_name } if self.sid.is_none() => {
                self.sid = Some(*service_sid);
                self.friendly_name.clone_from(friendly_name);
                self.date_created = at;
                for role in DefaultRole::ALL {
                    self.roles.insert(
                        role.sid(*service_sid),
                        RoleState {
                            sid: role.sid(*service_sid),
                            friendly_name: role.friendly_name().to_owned(),
                            kind: role.kind(),
                            permissions: role
                                .permissions()
                                .iter()
                                .map(|p| (*p).to_owned())
                                .collect(),
                            default: true,
                            date_created: at,
                            date_updated: at,
                        },
                    );
                }
            }
            ServiceEvent::ServiceCreated { .. } => return,
            ServiceEvent::ServiceRenamed { friendly_name } => {
                self.friendly_name.clone_from(friendly_name);
            }
            ServiceEvent::RoleCreated { role_sid, friendly_name, kind, permissions } => {
                self.roles.entry(*role_sid).or_insert_with(|| RoleState {
                    sid: *role_sid,
                    friendly_name: friendly_name.clone(),
                    kind: *kind,
                    permissions: permissions.clone(),
                    default: false,
                    date_created: at,
                    date_updated: at,
                });
                // A role's change is not the service's: its date stays.
                return;
            }
            ServiceEvent::RoleUpdated { role_sid, permissions } => {
                if let Some(role) = self.roles.get_mut(role_sid) {
                    role.permissions.clone_from(permissions);
                    role.date_updated = at;
                }
                return;
            }
            ServiceEvent::RoleDeleted { role_sid } => {
                if self.roles.get(role_sid).is_some_and(|r| !r.default) {
                    self.roles.remove(role_sid);
                }
                return;
            }
            ServiceEvent::WebhooksUpdated { webhooks } => {
                self.post_webhook_since = match webhooks.post_webhook_url {
                    None => None,
                    Some(_) => self.post_webhook_since.or(Some(at)),
                };
                self.webhooks.clone_from(webhooks);
            }
            ServiceEvent::ReachabilityUpdated { enabled } => {
                self.reachability_enabled = *enabled;
            }
        }
        self.date_updated = at;
    }

    pub fn role(&self, which: DefaultRole) -> Option<&RoleState> {
        self.sid.and_then(|sid| self.roles.get(&which.sid(sid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidPrefix;

    #[test]
    fn a_service_has_the_default_roles_which_are_never_deleted() {
        let service = Sid::from_parts(SidPrefix::SERVICE, [3; 16]);
        let mut state = ServiceState::default();
        let at = Timestamp::from_millis(1000);
        state.apply(&Recorded::new(
            at,
            ServiceEvent::ServiceCreated { service_sid: service, friendly_name: "s".into() },
        ));
        assert_eq!(state.roles.len(), 4);
        let channel_user = DefaultRole::ChannelUser.sid(service);
        assert!(state.roles[&channel_user].has("sendMessage"));
        state.apply(&Recorded::new(at, ServiceEvent::RoleDeleted { role_sid: channel_user }));
        assert_eq!(state.roles.len(), 4, "a default role stays");
        let custom = Sid::from_parts(SidPrefix::ROLE, [9; 16]);
        state.apply(&Recorded::new(
            at,
            ServiceEvent::RoleCreated {
                role_sid: custom,
                friendly_name: "r".into(),
                kind: RoleKind::Channel,
                permissions: vec!["sendMessage".into()],
            },
        ));
        state.apply(&Recorded::new(
            at,
            ServiceEvent::RoleUpdated {
                role_sid: custom,
                permissions: vec!["leaveChannel".into()],
            },
        ));
        assert_eq!(state.roles[&custom].permissions, vec!["leaveChannel".to_owned()]);
        state.apply(&Recorded::new(at, ServiceEvent::RoleDeleted { role_sid: custom }));
        assert!(!state.roles.contains_key(&custom));
    }

    #[test]
    fn a_post_webhook_is_wanted_from_when_it_was_set_without_a_break() {
        let mut state = ServiceState::default();
        let set = |state: &mut ServiceState, ms, url: Option<&str>| {
            let webhooks = ServiceWebhooks {
                post_webhook_url: url.map(str::to_owned),
                ..ServiceWebhooks::default()
            };
            state.apply(&Recorded::new(
                Timestamp::from_millis(ms),
                ServiceEvent::WebhooksUpdated { webhooks },
            ));
        };
        set(&mut state, 10, Some("https://a.example.com"));
        set(&mut state, 20, Some("https://b.example.com"));
        assert_eq!(state.post_webhook_since, Some(Timestamp::from_millis(10)), "a new URL");
        set(&mut state, 30, None);
        assert_eq!(state.post_webhook_since, None);
        set(&mut state, 40, Some("https://a.example.com"));
        assert_eq!(state.post_webhook_since, Some(Timestamp::from_millis(40)));
        assert_eq!(state.date_updated, Timestamp::from_millis(40));
    }
}
