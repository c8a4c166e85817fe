//! Chat Services: the container of channels, as in Twilio's Chat v2. An aggregate of its own,
//! stored in a stream named by its `IS` SID, with its roles (see `role.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::role::{DefaultRole, RoleKind, RoleState};
use crate::{Aggregate, DomainEvent, Recorded, ServiceWebhooks, Sid, SidPrefix, Timestamp};

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

/// A request to change one service. Permissions arrive already checked for their role's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCommand {
    Create {
        service_sid: Sid,
        friendly_name: String,
    },
    /// Renames the service, replaces its webhook settings and sets its reachability, each when
    /// given, in that order (a rename is recorded even when the name is the same).
    Update {
        friendly_name: Option<String>,
        webhooks: Option<ServiceWebhooks>,
        reachability: Option<bool>,
    },
    CreateRole {
        role_sid: Sid,
        friendly_name: String,
        kind: RoleKind,
        permissions: Vec<String>,
    },
    UpdateRole {
        role_sid: Sid,
        permissions: Vec<String>,
    },
    /// Deletes a role that is not a default one; the caller checks that nobody holds it.
    DeleteRole {
        role_sid: Sid,
    },
}

/// Why a service change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceRejection {
    #[error("the service does not exist")]
    NotFound,
    #[error("the service already exists")]
    Exists,
    #[error("role {0} is not in the service")]
    RoleNotFound(Sid),
    #[error("role {0} is already in the service")]
    RoleExists(Sid),
    #[error("role {0} is one of the service's default roles")]
    DefaultRole(Sid),
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

impl Aggregate for ServiceState {
    type Event = ServiceEvent;
    type Command = ServiceCommand;
    type Rejection = ServiceRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::SERVICE;
    const NAME: &'static str = "service";

    fn decide(&self, command: ServiceCommand) -> Result<Vec<ServiceEvent>, ServiceRejection> {
        let role = |role_sid: Sid| {
            self.roles.get(&role_sid).ok_or(ServiceRejection::RoleNotFound(role_sid))
        };
        match command {
            ServiceCommand::Create { service_sid, friendly_name } => match self.sid {
                Some(_) => Err(ServiceRejection::Exists),
                None => Ok(vec![ServiceEvent::ServiceCreated { service_sid, friendly_name }]),
            },
            _ if self.sid.is_none() => Err(ServiceRejection::NotFound),
            ServiceCommand::Update { friendly_name, webhooks, reachability } => {
                let mut events = Vec::new();
                events.extend(
                    friendly_name
                        .map(|friendly_name| ServiceEvent::ServiceRenamed { friendly_name }),
                );
                events.extend(webhooks.map(|webhooks| ServiceEvent::WebhooksUpdated { webhooks }));
                events.extend(
                    reachability.map(|enabled| ServiceEvent::ReachabilityUpdated { enabled }),
                );
                Ok(events)
            }
            ServiceCommand::CreateRole { role_sid, friendly_name, kind, permissions } => {
                if self.roles.contains_key(&role_sid) {
                    return Err(ServiceRejection::RoleExists(role_sid));
                }
                Ok(vec![ServiceEvent::RoleCreated { role_sid, friendly_name, kind, permissions }])
            }
            ServiceCommand::UpdateRole { role_sid, permissions } => {
                role(role_sid)?;
                Ok(vec![ServiceEvent::RoleUpdated { role_sid, permissions }])
            }
            ServiceCommand::DeleteRole { role_sid } => {
                if role(role_sid)?.default {
                    return Err(ServiceRejection::DefaultRole(role_sid));
                }
                Ok(vec![ServiceEvent::RoleDeleted { role_sid }])
            }
        }
    }

    fn apply(&mut self, record: &Recorded<ServiceEvent>) {
        ServiceState::apply(self, record);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
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

    #[test]
    fn decide_checks_the_service_and_its_roles() {
        let service = Sid::from_parts(SidPrefix::SERVICE, [3; 16]);
        let at = Timestamp::from_millis(1000);
        let mut state = ServiceState::default();
        let rename = ServiceCommand::Update {
            friendly_name: Some("n".into()),
            webhooks: None,
            reachability: None,
        };
        assert_eq!(state.decide(rename.clone()), Err(ServiceRejection::NotFound));
        let create = ServiceCommand::Create { service_sid: service, friendly_name: "s".into() };
        for event in state.decide(create.clone()).unwrap() {
            Aggregate::apply(&mut state, &Recorded::new(at, event));
        }
        assert_eq!(state.decide(create), Err(ServiceRejection::Exists));
        assert_eq!(state.decide(rename).unwrap().len(), 1, "a rename is recorded even if the same");
        let nothing =
            ServiceCommand::Update { friendly_name: None, webhooks: None, reachability: None };
        assert_eq!(state.decide(nothing), Ok(vec![]));
        let default = DefaultRole::ChannelUser.sid(service);
        assert_eq!(
            state.decide(ServiceCommand::DeleteRole { role_sid: default }),
            Err(ServiceRejection::DefaultRole(default))
        );
        let missing = Sid::from_parts(SidPrefix::ROLE, [9; 16]);
        let update = ServiceCommand::UpdateRole { role_sid: missing, permissions: vec![] };
        assert_eq!(state.decide(update), Err(ServiceRejection::RoleNotFound(missing)));
        let role = ServiceCommand::CreateRole {
            role_sid: default,
            friendly_name: "r".into(),
            kind: RoleKind::Channel,
            permissions: vec![],
        };
        assert_eq!(state.decide(role), Err(ServiceRejection::RoleExists(default)));
    }
}
