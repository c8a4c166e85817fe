//! `UserDirectory`: Chat Users, each event-sourced in its own `US…` stream, all kept in memory
//! (a user is a few short events). An identity is found through the store's keyed-hash index
//! (`IndexKind::UserIdentity`), never in the clear on disk. Channel actors tell the directory
//! when an identity joins or leaves a channel: that creates the user when it has none (as Twilio
//! does for a member added by identity) and keeps the user's channel list, so listing a user's
//! channels reads one stream, not every channel.
//!
//! A user created or updated over REST wakes the service webhooks' consumer with the user's stream, so its service's
//! post-event webhook hears `onUserAdded` and `onUserUpdated` (see `consumer/service_webhooks.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use switchboard_domain::{IndexKind, Sid, SidPrefix, Timestamp, UserCommand, UserState};
use switchboard_store::EventLog;

pub use switchboard_domain::UserRejection;

use crate::streams::{Streams, Writer, Written};
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

#[derive(Debug)]
pub struct UserDirectory {
    users: Streams<UserState>,
    /// Told of durable REST changes, for service webhooks; set once the consumers run.
    dispatcher: OnceLock<crate::consumer::Wakes>,
}

impl UserDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<UserDirectory, EngineError> {
        let users = Streams::load_counted(log, crate::memory::user)?.forgetting_caches();
        Ok(UserDirectory { users, dispatcher: OnceLock::new() })
    }

    pub(crate) fn set_dispatcher(&self, dispatcher: crate::consumer::Wakes) {
        let _ = self.dispatcher.set(dispatcher);
    }

    /// Every user stream: (user, service, last change), for resuming webhook delivery.
    pub(crate) fn streams(&self) -> Vec<(Sid, Sid, Timestamp)> {
        self.users
            .read()
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
        self.users.read().get(&sid).filter(|u| u.service_sid == Some(service)).and_then(view)
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
            .users
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
        self.users
            .read()
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
        let UserChange { friendly_name, attributes, role_sid } = change;
        let command = UserCommand::Update { friendly_name, attributes, role_sid };
        let written = self.write(service, sid, command, at);
        self.finish(written).await
    }

    pub async fn delete(
        &self,
        service: Sid,
        sid: Sid,
        at: Timestamp,
    ) -> Result<Result<(), UserRejection>, EngineError> {
        let written = self.write(service, sid, UserCommand::Delete, at);
        Ok(self.users.durable(written).await?.map(|_| ()))
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
        let mut writer = self.users.writer();
        let existing = self
            .sid_of(service, identity)?
            .filter(|sid| writer.read().get(sid).is_some_and(UserState::is_live));
        let join = UserCommand::JoinChannel { channel_sid: channel, member_sid };
        let (sid, commands) = match existing {
            Some(sid) => (sid, vec![join]),
            None => {
                let sid = new_sid(SidPrefix::USER);
                let new = NewUser {
                    identity: identity.to_owned(),
                    friendly_name: None,
                    attributes: "{}".into(),
                    role_sid: None,
                };
                (sid, vec![created(sid, service, new), join])
            }
        };
        written_by(&mut writer, sid, commands, at)
    }

    /// `identity` left `channel` (or the channel's content was erased).
    pub(crate) fn left(
        &self,
        service: Sid,
        identity: &str,
        channel: Sid,
        at: Timestamp,
    ) -> Result<bool, EngineError> {
        let mut writer = self.users.writer();
        let Some(sid) = self.sid_of(service, identity)? else { return Ok(false) };
        if !writer.read().get(&sid).is_some_and(UserState::is_live) {
            return Ok(false);
        }
        written_by(&mut writer, sid, vec![UserCommand::LeaveChannel { channel_sid: channel }], at)
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

    fn create_now(&self, service: Sid, new: NewUser, at: Timestamp) -> Written<UserState> {
        let mut writer = self.users.writer();
        // One user per identity in a service: the rule spanning users, checked under the lock.
        if !new.identity.trim().is_empty()
            && self
                .sid_of(service, &new.identity)?
                .is_some_and(|sid| self.get(service, sid).is_some())
        {
            return Ok(Err(UserRejection::IdentityExists(new.identity)));
        }
        let sid = new_sid(SidPrefix::USER);
        writer.execute(sid, vec![created(sid, service, new)], at)
    }

    /// Runs `command` on a user of `service`; any other is not found.
    fn write(
        &self,
        service: Sid,
        sid: Sid,
        command: UserCommand,
        at: Timestamp,
    ) -> Written<UserState> {
        let mut writer = self.users.writer();
        if writer.read().get(&sid).and_then(|u| u.service_sid) != Some(service) {
            return Ok(Err(UserRejection::NotFound));
        }
        writer.execute(sid, vec![command], at)
    }

    async fn finish(
        &self,
        written: Written<UserState>,
    ) -> Result<Result<UserView, UserRejection>, EngineError> {
        let appended = matches!(written, Ok(Ok((_, Some(_)))));
        let state = match self.users.durable(written).await? {
            Ok(state) => state,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let (true, Some(sid), Some(service)) = (appended, state.sid, state.service_sid) {
            // The stream as this append left it is durable; a later one is not yet.
            self.wake_webhooks(sid, service, state.events_applied);
        }
        Ok(view(&state).ok_or(UserRejection::NotFound))
    }

    fn sid_of(&self, service: Sid, identity: &str) -> Result<Option<Sid>, EngineError> {
        let found = self.users.log().lookup(IndexKind::UserIdentity, Some(service), identity)?;
        Ok(found.map(|(sid, _)| sid))
    }

    /// Has the log forget its caches of the users written last (`Streams::forget_written`).
    pub(crate) fn forget_written_caches(&self) {
        self.users.forget_written();
    }

    /// The bytes the directory holds (`memory.rs`), kept as users change.
    pub(crate) fn footprint(&self) -> usize {
        self.users.held()
    }
}

/// Runs `commands` on user `sid` for a channel's membership: whether anything was written. Not
/// awaited: the channel's own ticket, taken after this, covers it.
fn written_by(
    writer: &mut Writer<'_, UserState>,
    sid: Sid,
    commands: Vec<UserCommand>,
    at: Timestamp,
) -> Result<bool, EngineError> {
    match writer.execute(sid, commands, at)? {
        Ok((_, ticket)) => Ok(ticket.is_some()),
        Err(rejection) => {
            Err(EngineError::Internal(format!("a user refused a membership: {rejection}")))
        }
    }
}

fn created(sid: Sid, service: Sid, new: NewUser) -> UserCommand {
    UserCommand::Create {
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
        channels: state.channels.iter().map(|(channel, member)| (*channel, *member)).collect(),
        date_created: state.date_created,
        date_updated: state.date_updated,
    })
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_store::{Durability, StoreConfig};

    use super::*;

    #[test]
    fn the_logs_caches_of_users_written_are_forgotten_and_their_history_continues() {
        let temp = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(temp.path().join("data"));
        config.durability = Durability::Flush;
        let log = Arc::new(EventLog::open(config.clone(), MasterKey::from_bytes([4; 32])).unwrap());
        let users = UserDirectory::load(Arc::clone(&log)).unwrap();
        let service = Sid::from_parts(SidPrefix::SERVICE, [1; 16]);
        let channel = |n: u8| Sid::from_parts(SidPrefix::CHANNEL, [n; 16]);
        let member = |n: u8| Sid::from_parts(SidPrefix::MEMBER, [n; 16]);
        let at = Timestamp(1_000);
        for n in 0..40 {
            assert!(users
                .joined(service, &format!("+1415555{n:04}"), channel(n), member(n), at)
                .unwrap());
        }
        log.fold().unwrap();
        let cached = log.stream_caches_footprint();
        users.forget_written_caches();
        assert_eq!(users.users.waiting_to_be_forgotten(), 0, "every head was folded");
        assert!(log.stream_caches_footprint() < cached, "the heads and keys went");
        // A user's next change reads its head and key from the store: its history goes on.
        assert!(users.joined(service, "+14155550007", channel(99), member(99), at).unwrap());
        let user = users.by_identity(service, "+14155550007").unwrap().unwrap();
        assert_eq!(user.channels.len(), 2);
        log.fold().unwrap();
        drop(users);
        let Ok(log) = Arc::try_unwrap(log) else { panic!("another handle of the log is left") };
        log.close().unwrap();

        // A start reads every user, which caches their keys: they go too.
        let log = Arc::new(EventLog::open(config, MasterKey::from_bytes([4; 32])).unwrap());
        let users = UserDirectory::load(Arc::clone(&log)).unwrap();
        let loaded = log.stream_caches_footprint();
        users.forget_written_caches();
        assert!(log.stream_caches_footprint() < loaded, "forgotten after the start");
        assert_eq!(users.users.waiting_to_be_forgotten(), 0);
    }
}
