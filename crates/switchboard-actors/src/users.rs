//! `UserDirectory`: Chat Users, each event-sourced in its own `US…` stream, all kept in memory
//! (a user is a few short events). An identity is found through the store's keyed-hash index
//! (`IndexKind::UserIdentity`), never in the clear on disk. Channel actors tell the directory
//! when an identity joins or leaves a channel: that creates the user when it has none (as Twilio
//! does for a member added by identity) and keeps the user's channel list, so listing a user's
//! channels reads one stream, not every channel.
//!
//! A user created or updated over REST wakes the outbox with the user's stream, so its service's
//! post-event webhook hears `onUserAdded` and `onUserUpdated` (see `consumer/service_webhooks.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use actix::Recipient;

use switchboard_domain::{IndexKind, Recorded, Sid, SidPrefix, Timestamp, UserEvent, UserState};
use switchboard_store::{EventLog, FlushTicket, IndexChanges};

use crate::directory::{append_indexed, load_streams, Counted};
use crate::{new_sid, EngineError};

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: Option<Sid>,
    /// Channel → member SID.
    pub channels: BTreeMap<Sid, Sid>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
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

/// What a user is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: Option<Sid>,
}

/// A partial update: `None` keeps a field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserChange {
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub role_sid: Option<Sid>,
}

impl Counted for UserState {
    fn events_applied(&self) -> u64 {
        self.events_applied
    }
}

type Written = Result<Result<(UserState, Option<FlushTicket>), UserRejection>, EngineError>;

#[derive(Debug)]
pub struct UserDirectory {
    log: Arc<EventLog>,
    users: RwLock<BTreeMap<Sid, UserState>>,
    writing: Mutex<()>,
    /// Told of durable REST changes, for service webhooks; set once the consumers run.
    dispatcher: OnceLock<Recipient<crate::consumer::Wake>>,
}

impl UserDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<UserDirectory, EngineError> {
        let users = load_streams(&log, SidPrefix::USER, UserState::apply)?;
        Ok(UserDirectory {
            log,
            users: RwLock::new(users),
            writing: Mutex::new(()),
            dispatcher: OnceLock::new(),
        })
    }

    pub(crate) fn set_dispatcher(&self, dispatcher: Recipient<crate::consumer::Wake>) {
        let _ = self.dispatcher.set(dispatcher);
    }

    /// Every user stream: (user, service, last change), for resuming webhook delivery.
    pub(crate) fn streams(&self) -> Vec<(Sid, Sid, Timestamp)> {
        self.read()
            .iter()
            .filter_map(|(sid, u)| Some((*sid, u.service_sid?, u.date_updated)))
            .collect()
    }

    /// Wakes the service webhooks' consumer for the user's stream.
    pub(crate) fn wake_webhooks(&self, user: Sid, service: Sid, until_seq: u64) {
        if let Some(dispatcher) = self.dispatcher.get() {
            dispatcher.do_send(crate::consumer::Wake::user_changed(user, service, until_seq));
        }
    }

    /// A live user of `service` by SID.
    pub fn get(&self, service: Sid, sid: Sid) -> Option<UserView> {
        self.read().get(&sid).filter(|u| u.service_sid == Some(service)).and_then(view)
    }

    /// A live user of `service` by identity, through the keyed-hash index.
    pub fn by_identity(
        &self,
        service: Sid,
        identity: &str,
    ) -> Result<Option<UserView>, EngineError> {
        let Some(sid) = self.sid_of(service, identity)? else { return Ok(None) };
        Ok(self.get(service, sid))
    }

    /// A user named in a path: by `US…` SID, else by identity.
    pub fn find(&self, service: Sid, key: &str) -> Result<Option<UserView>, EngineError> {
        match Sid::parse_with(key, SidPrefix::USER) {
            Ok(sid) => Ok(self.get(service, sid)),
            Err(_) => self.by_identity(service, key),
        }
    }

    /// Every live user of `service`, oldest first.
    pub fn list(&self, service: Sid) -> Vec<UserView> {
        let mut users: Vec<UserView> = self
            .read()
            .values()
            .filter(|u| u.service_sid == Some(service))
            .filter_map(view)
            .collect();
        users.sort_by_key(|u| (u.date_created, u.sid));
        users
    }

    /// Whether a live user of `service` has `role_sid` as service role.
    pub fn role_in_use(&self, service: Sid, role_sid: Sid) -> bool {
        self.read()
            .values()
            .any(|u| u.is_live() && u.service_sid == Some(service) && u.role_sid == Some(role_sid))
    }

    pub async fn create(
        &self,
        service: Sid,
        new: NewUser,
        at: Timestamp,
    ) -> Result<Result<UserView, UserRejection>, EngineError> {
        let written = self.create_now(service, new, at);
        self.finish(written).await
    }

    pub async fn update(
        &self,
        service: Sid,
        sid: Sid,
        change: UserChange,
        at: Timestamp,
    ) -> Result<Result<UserView, UserRejection>, EngineError> {
        let written = self.write(service, sid, at, |state| {
            if !state.is_live() {
                return Err(UserRejection::NotFound);
            }
            let same = change
                .friendly_name
                .as_ref()
                .is_none_or(|f| state.friendly_name.as_ref() == Some(f))
                && change.attributes.as_ref().is_none_or(|a| *a == state.attributes)
                && change.role_sid.is_none_or(|r| state.role_sid == Some(r));
            if same {
                return Ok(Vec::new());
            }
            Ok(vec![UserEvent::UserUpdated {
                friendly_name: change.friendly_name,
                attributes: change.attributes,
                role_sid: change.role_sid,
            }])
        });
        self.finish(written).await
    }

    pub async fn delete(
        &self,
        service: Sid,
        sid: Sid,
        at: Timestamp,
    ) -> Result<Result<(), UserRejection>, EngineError> {
        let written = self.write(service, sid, at, |state| {
            if !state.is_live() {
                return Err(UserRejection::NotFound);
            }
            Ok(vec![UserEvent::UserDeleted])
        });
        let (_, ticket) = match written? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
        }
        Ok(Ok(()))
    }

    /// `identity` became `member_sid` of `channel`: records it on the identity's user, creating
    /// the user first when there is none. Not awaited: the caller's own ticket, taken after this,
    /// covers it. Returns whether anything was written.
    pub(crate) fn joined(
        &self,
        service: Sid,
        identity: &str,
        channel: Sid,
        member_sid: Sid,
        at: Timestamp,
    ) -> Result<bool, EngineError> {
        let _writing = self.lock();
        let existing = self
            .sid_of(service, identity)?
            .and_then(|sid| self.read().get(&sid).filter(|u| u.is_live()).cloned());
        let joined = UserEvent::UserJoinedChannel { channel_sid: channel, member_sid };
        match existing {
            Some(state) => {
                if state.channels.get(&channel) == Some(&member_sid) {
                    return Ok(false);
                }
                let Some(sid) = state.sid else { return Ok(false) };
                self.append(sid, state, vec![joined], at)?;
            }
            None => {
                let sid = new_sid(SidPrefix::USER);
                let created = created(
                    sid,
                    service,
                    NewUser {
                        identity: identity.to_owned(),
                        friendly_name: None,
                        attributes: "{}".into(),
                        role_sid: None,
                    },
                );
                self.append(sid, UserState::default(), vec![created, joined], at)?;
            }
        }
        Ok(true)
    }

    /// `identity` left `channel` (or the channel's content was erased).
    pub(crate) fn left(
        &self,
        service: Sid,
        identity: &str,
        channel: Sid,
        at: Timestamp,
    ) -> Result<bool, EngineError> {
        let _writing = self.lock();
        let Some(sid) = self.sid_of(service, identity)? else { return Ok(false) };
        let Some(state) = self.read().get(&sid).cloned() else { return Ok(false) };
        if !state.is_live() || !state.channels.contains_key(&channel) {
            return Ok(false);
        }
        self.append(sid, state, vec![UserEvent::UserLeftChannel { channel_sid: channel }], at)?;
        Ok(true)
    }

    /// After a start: records on their users the members of `channel` a stop between the
    /// channel's append and the user's left unrecorded. Writes only what is missing.
    pub(crate) fn repair(
        &self,
        channel: Sid,
        state: &switchboard_domain::ChannelState,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(service) = state.service_sid.filter(|_| !state.erased) else { return Ok(()) };
        for (member_sid, member) in &state.members {
            if self.joined(service, &member.identity, channel, *member_sid, at)? {
                tracing::warn!(%channel, "recorded a member on its user after an unclean stop");
            }
        }
        Ok(())
    }

    fn create_now(&self, service: Sid, new: NewUser, at: Timestamp) -> Written {
        let _writing = self.lock();
        if new.identity.trim().is_empty() {
            return Ok(Err(UserRejection::Invalid("a user needs a non-empty identity")));
        }
        if self.sid_of(service, &new.identity)?.is_some_and(|sid| self.get(service, sid).is_some())
        {
            return Ok(Err(UserRejection::IdentityExists(new.identity)));
        }
        let sid = new_sid(SidPrefix::USER);
        let state = self.append(sid, UserState::default(), vec![created(sid, service, new)], at)?;
        Ok(Ok(state))
    }

    fn write(
        &self,
        service: Sid,
        sid: Sid,
        at: Timestamp,
        decide: impl FnOnce(&UserState) -> Result<Vec<UserEvent>, UserRejection>,
    ) -> Written {
        let _writing = self.lock();
        let state = match self.read().get(&sid) {
            Some(state) if state.service_sid == Some(service) => state.clone(),
            _ => return Ok(Err(UserRejection::NotFound)),
        };
        let events = match decide(&state) {
            Ok(events) => events,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if events.is_empty() {
            return Ok(Ok((state, None)));
        }
        Ok(Ok(self.append(sid, state, events, at)?))
    }

    /// Appends with the index changes the new state implies; the caller holds `writing`.
    fn append(
        &self,
        sid: Sid,
        state: UserState,
        events: Vec<UserEvent>,
        at: Timestamp,
    ) -> Result<(UserState, Option<FlushTicket>), EngineError> {
        let before = state.index_entries();
        let mut after = state.clone();
        for event in &events {
            after.apply(&Recorded::new(at, event.clone()));
        }
        let after = after.index_entries();
        let changes = IndexChanges {
            put: after.iter().filter(|e| !before.contains(e)).cloned().collect(),
            delete: before.into_iter().filter(|e| !after.contains(e)).collect(),
        };
        let (next, ticket) =
            append_indexed(&self.log, sid, state, events, at, UserState::apply, &changes)?;
        self.users.write().unwrap_or_else(|e| e.into_inner()).insert(sid, next.clone());
        Ok((next, ticket))
    }

    async fn finish(
        &self,
        written: Written,
    ) -> Result<Result<UserView, UserRejection>, EngineError> {
        let (state, ticket) = match written? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
            if let (Some(sid), Some(service)) = (state.sid, state.service_sid) {
                // The stream as this append left it is durable; a later one is not yet.
                self.wake_webhooks(sid, service, state.events_applied);
            }
        }
        Ok(view(&state).ok_or(UserRejection::NotFound))
    }

    fn sid_of(&self, service: Sid, identity: &str) -> Result<Option<Sid>, EngineError> {
        let found = self.log.lookup(IndexKind::UserIdentity, Some(service), identity)?;
        Ok(found.map(|(sid, _)| sid))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes the directory holds (`memory.rs`); walks every user, for a scrape.
    pub(crate) fn footprint(&self) -> usize {
        crate::memory::users(&self.read())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Sid, UserState>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn created(sid: Sid, service: Sid, new: NewUser) -> UserEvent {
    UserEvent::UserCreated {
        user_sid: sid,
        service_sid: service,
        identity: new.identity,
        friendly_name: new.friendly_name,
        attributes: new.attributes,
        role_sid: new.role_sid,
    }
}

fn view(state: &UserState) -> Option<UserView> {
    if !state.is_live() {
        return None;
    }
    Some(UserView {
        sid: state.sid?,
        service_sid: state.service_sid?,
        identity: state.identity.clone(),
        friendly_name: state.friendly_name.clone(),
        attributes: state.attributes.clone(),
        role_sid: state.role_sid,
        channels: state.channels.clone(),
        date_created: state.date_created,
        date_updated: state.date_updated,
    })
}
