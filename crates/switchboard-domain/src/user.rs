//! Chat Users: one per identity in a service, as in Twilio's Chat v2. Each user is an aggregate
//! of its own, stored in a stream named by its `US` SID, which also records the channels the
//! identity is a member of (so a user's channels are listed without reading every channel).
//! The identity is customer data: it is only in the sealed events, and looked up by a keyed hash
//! (`IndexEntry::user_identity`). One rule spans users (one per identity in a service): the
//! directory that holds them checks it before `Create`.

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainEvent, IndexEntry, Recorded, Sid, SidPrefix, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserEvent {
    UserCreated {
        user_sid: Sid,
        service_sid: Sid,
        identity: String,
        friendly_name: Option<String>,
        /// A JSON document as a string.
        attributes: String,
        role_sid: Option<Sid>,
    },
    /// `None` leaves a field as it is.
    UserUpdated {
        friendly_name: Option<String>,
        attributes: Option<String>,
        role_sid: Option<Sid>,
    },
    /// The identity became a member of a channel.
    UserJoinedChannel {
        channel_sid: Sid,
        member_sid: Sid,
    },
    UserLeftChannel {
        channel_sid: Sid,
    },
    UserDeleted,
}

impl DomainEvent for UserEvent {
    fn type_name(&self) -> &'static str {
        match self {
            UserEvent::UserCreated { .. } => "user_created",
            UserEvent::UserUpdated { .. } => "user_updated",
            UserEvent::UserJoinedChannel { .. } => "user_joined_channel",
            UserEvent::UserLeftChannel { .. } => "user_left_channel",
            UserEvent::UserDeleted => "user_deleted",
        }
    }
}

/// A request to change one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Create {
        user_sid: Sid,
        service_sid: Sid,
        identity: String,
        friendly_name: Option<String>,
        attributes: String,
        role_sid: Option<Sid>,
    },
    /// `None` keeps a field; a change to nothing records nothing.
    Update {
        friendly_name: Option<String>,
        attributes: Option<String>,
        role_sid: Option<Sid>,
    },
    Delete,
    /// The identity became `member_sid` of `channel_sid`; recorded once.
    JoinChannel {
        channel_sid: Sid,
        member_sid: Sid,
    },
    /// The identity left `channel_sid`; nothing to record when it was not there.
    LeaveChannel {
        channel_sid: Sid,
    },
}

/// Why a user change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRejection {
    #[error("the user does not exist")]
    NotFound,
    #[error("a user with identity {0:?} already exists")]
    IdentityExists(String),
    #[error("{0}")]
    Invalid(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserState {
    pub sid: Option<Sid>,
    pub service_sid: Option<Sid>,
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: Option<Sid>,
    /// Channel → the member SID the identity has there, as one sorted vector: most users are
    /// customers in one or two channels, and a `BTreeMap`'s first node holds room for eleven
    /// (about 400 bytes for one entry; every customer has a user, `memory.rs`).
    pub channels: LiteMap<Sid, Sid>,
    pub deleted: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
}

impl UserState {
    /// Whether the user exists now (created and not deleted).
    pub fn is_live(&self) -> bool {
        self.sid.is_some() && !self.deleted
    }

    /// Total, like every `apply`: an event that makes no sense changes nothing.
    pub fn apply(&mut self, record: &Recorded<UserEvent>) {
        self.events_applied += 1;
        let at = record.at;
        match &record.event {
            UserEvent::UserCreated {
                user_sid,
                service_sid,
                identity,
                friendly_name,
                attributes,
                role_sid,
            } => {
                if self.sid.is_some() {
                    return;
                }
                self.sid = Some(*user_sid);
                self.service_sid = Some(*service_sid);
                self.identity.clone_from(identity);
                self.friendly_name.clone_from(friendly_name);
                self.attributes.clone_from(attributes);
                self.role_sid = *role_sid;
                self.date_created = at;
            }
            UserEvent::UserUpdated { friendly_name, attributes, role_sid } => {
                if friendly_name.is_some() {
                    self.friendly_name.clone_from(friendly_name);
                }
                if let Some(attributes) = attributes {
                    self.attributes.clone_from(attributes);
                }
                if role_sid.is_some() {
                    self.role_sid = *role_sid;
                }
            }
            UserEvent::UserJoinedChannel { channel_sid, member_sid } => {
                if self.channels.is_empty() {
                    // Room for one: most users are customers in one channel (a vector's first
                    // room is for four otherwise).
                    self.channels = LiteMap::with_capacity(1);
                }
                self.channels.insert(*channel_sid, *member_sid);
                // Membership is not an edit of the user: its date stays.
                return;
            }
            UserEvent::UserLeftChannel { channel_sid } => {
                self.channels.remove(channel_sid);
                return;
            }
            UserEvent::UserDeleted => {
                self.deleted = true;
                self.channels.clear();
            }
        }
        self.date_updated = at;
    }

    /// The index entries this state owns: its identity under its service while it lives.
    pub fn index_entries(&self) -> Vec<IndexEntry> {
        match (self.sid, self.service_sid) {
            (Some(sid), Some(service)) if !self.deleted => {
                vec![IndexEntry::user_identity(service, &self.identity, sid)]
            }
            _ => Vec::new(),
        }
    }
}

impl Aggregate for UserState {
    type Event = UserEvent;
    type Command = UserCommand;
    type Rejection = UserRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::USER;
    const NAME: &'static str = "user";
    /// An agent's user gains two events a conversation, and is read from the log again after
    /// each idle spell (`UserDirectory`): a snapshot keeps that read short. A customer's few
    /// events never reach one.
    const SNAPSHOTS: bool = true;

    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserRejection> {
        let live = self.is_live();
        match command {
            UserCommand::Create {
                user_sid,
                service_sid,
                identity,
                friendly_name,
                attributes,
                role_sid,
            } => {
                if self.sid.is_some() {
                    return Err(UserRejection::Invalid("the user SID is already in use"));
                }
                if identity.trim().is_empty() {
                    return Err(UserRejection::Invalid("a user needs a non-empty identity"));
                }
                Ok(vec![UserEvent::UserCreated {
                    user_sid,
                    service_sid,
                    identity,
                    friendly_name,
                    attributes,
                    role_sid,
                }])
            }
            _ if !live => Err(UserRejection::NotFound),
            UserCommand::Update { friendly_name, attributes, role_sid } => {
                let same =
                    friendly_name.as_ref().is_none_or(|f| self.friendly_name.as_ref() == Some(f))
                        && attributes.as_ref().is_none_or(|a| *a == self.attributes)
                        && role_sid.is_none_or(|r| self.role_sid == Some(r));
                if same {
                    return Ok(Vec::new());
                }
                Ok(vec![UserEvent::UserUpdated { friendly_name, attributes, role_sid }])
            }
            UserCommand::Delete => Ok(vec![UserEvent::UserDeleted]),
            UserCommand::JoinChannel { channel_sid, member_sid } => {
                if self.channels.get(&channel_sid) == Some(&member_sid) {
                    return Ok(Vec::new());
                }
                Ok(vec![UserEvent::UserJoinedChannel { channel_sid, member_sid }])
            }
            UserCommand::LeaveChannel { channel_sid } => {
                if !self.channels.contains_key(&channel_sid) {
                    return Ok(Vec::new());
                }
                Ok(vec![UserEvent::UserLeftChannel { channel_sid }])
            }
        }
    }

    fn apply(&mut self, record: &Recorded<UserEvent>) {
        UserState::apply(self, record);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }

    fn index_entries(&self) -> Vec<IndexEntry> {
        UserState::index_entries(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidPrefix;

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn at(n: i64) -> Timestamp {
        Timestamp::from_millis(n * 1000)
    }

    #[test]
    fn a_user_folds_its_channels_and_its_deletion_drops_its_index_entry() {
        let (user, service, channel) =
            (sid(SidPrefix::USER, 1), sid(SidPrefix::SERVICE, 1), sid(SidPrefix::CHANNEL, 1));
        let mut state = UserState::default();
        state.apply(&Recorded::new(
            at(1),
            UserEvent::UserCreated {
                user_sid: user,
                service_sid: service,
                identity: "alice".into(),
                friendly_name: None,
                attributes: "{}".into(),
                role_sid: None,
            },
        ));
        assert_eq!(state.index_entries(), vec![IndexEntry::user_identity(service, "alice", user)]);
        let member = sid(SidPrefix::MEMBER, 1);
        state.apply(&Recorded::new(
            at(2),
            UserEvent::UserJoinedChannel { channel_sid: channel, member_sid: member },
        ));
        assert_eq!(state.channels.get(&channel), Some(&member));
        assert_eq!(state.date_updated, at(1), "joining is not an edit of the user");
        state.apply(&Recorded::new(
            at(3),
            UserEvent::UserUpdated {
                friendly_name: Some("Alice".into()),
                attributes: None,
                role_sid: None,
            },
        ));
        assert_eq!(state.friendly_name.as_deref(), Some("Alice"));
        assert_eq!(state.attributes, "{}");
        state.apply(&Recorded::new(at(4), UserEvent::UserLeftChannel { channel_sid: channel }));
        assert!(state.channels.is_empty());
        state.apply(&Recorded::new(at(5), UserEvent::UserDeleted));
        assert!(!state.is_live());
        assert!(state.index_entries().is_empty());
        assert_eq!(state.events_applied, 5);
    }

    #[test]
    fn decide_refuses_what_a_user_cannot_do_and_records_nothing_redundant() {
        let (user, service) = (sid(SidPrefix::USER, 1), sid(SidPrefix::SERVICE, 1));
        let create = |identity: &str| UserCommand::Create {
            user_sid: user,
            service_sid: service,
            identity: identity.into(),
            friendly_name: None,
            attributes: "{}".into(),
            role_sid: None,
        };
        let mut state = UserState::default();
        assert_eq!(state.decide(UserCommand::Delete), Err(UserRejection::NotFound));
        assert!(matches!(state.decide(create("  ")), Err(UserRejection::Invalid(_))));
        for event in state.decide(create("alice")).unwrap() {
            Aggregate::apply(&mut state, &Recorded::new(at(1), event));
        }
        assert!(matches!(state.decide(create("alice")), Err(UserRejection::Invalid(_))));
        let unchanged = UserCommand::Update {
            friendly_name: None,
            attributes: Some("{}".into()),
            role_sid: None,
        };
        assert_eq!(state.decide(unchanged), Ok(vec![]));
        let channel = sid(SidPrefix::CHANNEL, 1);
        assert_eq!(state.decide(UserCommand::LeaveChannel { channel_sid: channel }), Ok(vec![]));
        let join = UserCommand::JoinChannel {
            channel_sid: channel,
            member_sid: sid(SidPrefix::MEMBER, 1),
        };
        let joined = state.decide(join.clone()).unwrap();
        assert_eq!(joined.len(), 1);
        Aggregate::apply(&mut state, &Recorded::new(at(2), joined[0].clone()));
        assert_eq!(state.decide(join), Ok(vec![]), "joining twice records it once");
        assert_eq!(state.decide(UserCommand::Delete), Ok(vec![UserEvent::UserDeleted]));
    }
}
