//! `UserDirectory`: Chat Users, each event-sourced in its own `US…` stream. Every live user is
//! listed compactly in memory (its service, role and dates: what lists, the role rule and the
//! webhooks' resumption read); a user is held whole only while it is written to (an agent
//! joining conversations) and for the channels' hibernation period after, then read from the
//! log when asked for (with a snapshot every `snapshot_every` events, so an agent's long history
//! is not replayed). Every customer has a user: held whole for good, each cost about 320 bytes
//! for the daemon's life (`memory.rs`); listed, about 70. An identity is found through the
//! store's keyed-hash index (`IndexKind::UserIdentity`), never in the clear on disk. Channel
//! actors tell the directory when an identity joins or leaves a channel: that creates the user
//! when it has none (as Twilio does for a member added by identity) and keeps the user's channel
//! list, so listing a user's channels reads one stream, not every channel.
//!
//! A user created or updated over REST wakes the service webhooks' consumer with the user's stream, so its service's
//! post-event webhook hears `onUserAdded` and `onUserUpdated` (see `consumer/service_webhooks.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use switchboard_domain::{IndexKind, Sid, SidPrefix, Timestamp, UserCommand, UserState};
use switchboard_store::EventLog;

pub use switchboard_domain::UserRejection;

use crate::interned::Interned;
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
    /// The users written lately, whole; the others live in the log, read when asked for.
    users: Streams<UserState>,
    /// Every live user, compactly. Changed under the users' writer only.
    roster: RwLock<Roster>,
    /// When each user held whole was last written: one not written for `idle_after` is let go
    /// ([`UserDirectory::let_go_idle`]). Changed under the users' writer only.
    written_at: Mutex<HashMap<Sid, Timestamp>>,
    idle_after: Duration,
    /// Told of durable REST changes, for service webhooks; set once the consumers run.
    dispatcher: OnceLock<crate::consumer::Wakes>,
}

/// Every live user: what is read of all of them at once.
#[derive(Debug, Default)]
struct Roster {
    users: BTreeMap<Sid, Listed>,
    /// Deleted users (few): their service and last change, so a webhook of theirs that a stop
    /// cut short is still delivered at the next start (`UserDirectory::streams`).
    deleted: BTreeMap<Sid, (u32, Timestamp)>,
    /// Services and roles, numbered (there are few of each).
    numbered: Interned,
    numbered_bytes: usize,
}

/// A live user as the roster lists it: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    service: u32,
    /// [`NO_ROLE`] for none.
    role: u32,
    created: Timestamp,
    updated: Timestamp,
}

const NO_ROLE: u32 = u32::MAX;

impl Roster {
    /// Lists the user as `state` has it, or unlists it once it is not live.
    fn note(&mut self, sid: Sid, state: &UserState) {
        let Some(service) = state.service_sid else { return };
        let service = self.number(service);
        if !state.is_live() {
            self.users.remove(&sid);
            self.deleted.insert(sid, (service, state.date_updated));
            return;
        }
        let role = state.role_sid.map_or(NO_ROLE, |role| self.number(role));
        let listed =
            Listed { service, role, created: state.date_created, updated: state.date_updated };
        self.users.insert(sid, listed);
    }

    fn number(&mut self, sid: Sid) -> u32 {
        let (number, bytes) = self.numbered.number(sid);
        self.numbered_bytes += bytes;
        number
    }

    /// The user `sid`, if it is a live user of `service`.
    fn live_in(&self, sid: Sid, service: Sid) -> Option<Listed> {
        let listed = *self.users.get(&sid)?;
        (self.numbered.sid(listed.service) == Some(service)).then_some(listed)
    }

    fn role(&self, listed: Listed) -> Option<Sid> {
        (listed.role != NO_ROLE).then(|| self.numbered.sid(listed.role)).flatten()
    }

    /// The bytes it holds (`memory.rs`).
    fn footprint(&self) -> usize {
        self.users.len() * crate::memory::btree_entry::<Sid, Listed>()
            + self.deleted.len() * crate::memory::btree_entry::<Sid, (u32, Timestamp)>()
            + self.numbered_bytes
    }
}

impl UserDirectory {
    /// Lists every user from the log; holds none whole. `idle_after`: how long a user written
    /// to stays whole in memory (the channels' hibernation period).
    pub fn load(log: Arc<EventLog>, idle_after: Duration) -> Result<UserDirectory, EngineError> {
        let mut roster = Roster::default();
        let users = Streams::load_visiting(log, crate::memory::user, &mut |sid, state| {
            roster.note(sid, state);
            false
        })?
        .forgetting_caches();
        Ok(UserDirectory {
            users,
            roster: RwLock::new(roster),
            written_at: Mutex::new(HashMap::new()),
            idle_after,
            dispatcher: OnceLock::new(),
        })
    }

    pub(crate) fn set_dispatcher(&self, dispatcher: crate::consumer::Wakes) {
        let _ = self.dispatcher.set(dispatcher);
    }

    fn roster(&self) -> std::sync::RwLockReadGuard<'_, Roster> {
        self.roster.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every user's stream, deleted ones too: (user, service, last change), for resuming
    /// webhook delivery.
    pub(crate) fn streams(&self) -> Vec<(Sid, Sid, Timestamp)> {
        let roster = self.roster();
        let live = roster.users.iter().map(|(sid, l)| (*sid, l.service, l.updated));
        let deleted = roster.deleted.iter().map(|(sid, (service, at))| (*sid, *service, *at));
        let all = live.chain(deleted);
        all.filter_map(|(sid, service, at)| Some((sid, roster.numbered.sid(service)?, at)))
            .collect()
    }

    /// Wakes the service webhooks' consumer for the user's stream.
    pub(crate) fn wake_webhooks(&self, user: Sid, service: Sid, until_seq: u64) {
        if let Some(dispatcher) = self.dispatcher.get() {
            dispatcher.do_send(crate::consumer::Wake::user_changed(user, service, until_seq));
        }
    }

    /// A live user of `service` by SID: from memory if held, else read from the log.
    pub fn get(&self, service: Sid, sid: Sid) -> Result<Option<UserView>, EngineError> {
        if self.roster().live_in(sid, service).is_none() {
            return Ok(None);
        }
        Ok(self
            .users
            .fetch(sid)?
            .as_ref()
            .filter(|u| u.service_sid == Some(service))
            .and_then(view))
    }

    /// A live user of `service` by identity, through the keyed-hash index.
    pub fn by_identity(
        &self,
        service: Sid,
        identity: &str,
    ) -> Result<Option<UserView>, EngineError> {
        let Some(sid) = self.live_sid(service, identity)? else { return Ok(None) };
        self.get(service, sid)
    }

    /// The SID of the live user of `service` with `identity`, without reading the user.
    pub fn live_sid(&self, service: Sid, identity: &str) -> Result<Option<Sid>, EngineError> {
        let found = self.sid_of(service, identity)?;
        Ok(found.filter(|sid| self.roster().live_in(*sid, service).is_some()))
    }

    /// The service role of the live user of `service` with `identity`, without reading the user.
    pub fn role_of(&self, service: Sid, identity: &str) -> Result<Option<Sid>, EngineError> {
        let Some(sid) = self.sid_of(service, identity)? else { return Ok(None) };
        let roster = self.roster();
        Ok(roster.live_in(sid, service).and_then(|listed| roster.role(listed)))
    }

    /// A user named in a path: by `US…` SID, else by identity.
    pub fn find(&self, service: Sid, key: &str) -> Result<Option<UserView>, EngineError> {
        match Sid::parse_with(key, SidPrefix::USER) {
            Ok(sid) => self.get(service, sid),
            Err(_) => self.by_identity(service, key),
        }
    }

    /// Every live user of `service`, oldest first, by SID: a list's page is then read with
    /// [`UserDirectory::get`], so a page reads its users only.
    pub fn list(&self, service: Sid) -> Vec<Sid> {
        let roster = self.roster();
        let mut users: Vec<(Timestamp, Sid)> = roster
            .users
            .iter()
            .filter(|(_, l)| roster.numbered.sid(l.service) == Some(service))
            .map(|(sid, l)| (l.created, *sid))
            .collect();
        users.sort_unstable();
        users.into_iter().map(|(_, sid)| sid).collect()
    }

    /// Whether a live user of `service` has `role_sid` as service role.
    pub fn role_in_use(&self, service: Sid, role_sid: Sid) -> bool {
        let roster = self.roster();
        roster.users.values().any(|l| {
            roster.numbered.sid(l.service) == Some(service) && roster.role(*l) == Some(role_sid)
        })
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
        let existing = self.live_sid(service, identity)?;
        let join = UserCommand::JoinChannel { channel_sid: channel, member_sid };
        let (sid, commands, new) = match existing {
            Some(sid) => (sid, vec![join], false),
            None => {
                let sid = new_sid(SidPrefix::USER);
                let new = NewUser {
                    identity: identity.to_owned(),
                    friendly_name: None,
                    attributes: "{}".into(),
                    role_sid: None,
                };
                (sid, vec![created(sid, service, new), join], true)
            }
        };
        self.membership_written(&mut writer, sid, commands, (at, new))
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
        let Some(sid) = self.live_sid(service, identity)? else { return Ok(false) };
        let leave = vec![UserCommand::LeaveChannel { channel_sid: channel }];
        self.membership_written(&mut writer, sid, leave, (at, false))
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
        if !new.identity.trim().is_empty() && self.live_sid(service, &new.identity)?.is_some() {
            return Ok(Err(UserRejection::IdentityExists(new.identity)));
        }
        let sid = new_sid(SidPrefix::USER);
        self.execute(&mut writer, sid, vec![created(sid, service, new)], (at, true))
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
        if self.roster().live_in(sid, service).is_none() {
            return Ok(Err(UserRejection::NotFound));
        }
        self.execute(&mut writer, sid, vec![command], (at, false))
    }

    /// Runs `commands` on user `sid` (`new`: a SID just made, so nothing to read from the log)
    /// and lists it as it is after them; one that appended is held whole from now until idle.
    /// Under `writer`, which the roster's changes are made under.
    fn execute(
        &self,
        writer: &mut Writer<'_, UserState>,
        sid: Sid,
        commands: Vec<UserCommand>,
        (at, new): (Timestamp, bool),
    ) -> Written<UserState> {
        let written = match new {
            true => writer.execute_new(sid, commands, at)?,
            false => writer.execute(sid, commands, at)?,
        };
        if let Ok((state, ticket)) = &written {
            self.roster.write().unwrap_or_else(|e| e.into_inner()).note(sid, state);
            if ticket.is_some() {
                self.written_at.lock().unwrap_or_else(|e| e.into_inner()).insert(sid, at);
            }
        }
        Ok(written)
    }

    /// Runs `commands` on user `sid` for a channel's membership: whether anything was written.
    /// Not awaited: the channel's own ticket, taken after this, covers it.
    fn membership_written(
        &self,
        writer: &mut Writer<'_, UserState>,
        sid: Sid,
        commands: Vec<UserCommand>,
        when: (Timestamp, bool),
    ) -> Result<bool, EngineError> {
        match self.execute(writer, sid, commands, when)? {
            Ok((_, ticket)) => Ok(ticket.is_some()),
            Err(rejection) => {
                Err(EngineError::Internal(format!("a user refused a membership: {rejection}")))
            }
        }
    }

    /// Lets go of the users held whole and not written since `idle_after` before `now`: the
    /// log has them, and the roster still lists them. Run now and then.
    pub(crate) fn let_go_idle(&self, now: Timestamp) {
        let _writing = self.users.writer();
        let idle_after = i64::try_from(self.idle_after.as_millis()).unwrap_or(i64::MAX);
        let since = Timestamp::from_millis(now.as_millis().saturating_sub(idle_after));
        let mut written_at = self.written_at.lock().unwrap_or_else(|e| e.into_inner());
        written_at.retain(|sid, at| {
            let busy = *at > since;
            if !busy {
                self.users.forget(*sid);
            }
            busy
        });
        // A busy spell's room goes with it (a table keeps its capacity after removals).
        if written_at.len() < written_at.capacity() / 4 {
            written_at.shrink_to_fit();
        }
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

    /// The bytes the directory holds (`memory.rs`), kept as users change: the users held
    /// whole, the roster, and when each held one was written.
    pub(crate) fn footprint(&self) -> usize {
        let written_at = self.written_at.lock().unwrap_or_else(|e| e.into_inner()).capacity();
        let written_at = written_at * crate::memory::hash_entry::<Sid, Timestamp>();
        self.users.held() + self.roster().footprint() + written_at
    }

    /// How many users are held whole.
    #[cfg(test)]
    fn held_whole(&self) -> usize {
        self.written_at.lock().unwrap_or_else(|e| e.into_inner()).len()
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

    const IDLE: Duration = Duration::from_secs(300);

    fn open(config: &StoreConfig) -> (Arc<EventLog>, UserDirectory) {
        let log = Arc::new(EventLog::open(config.clone(), MasterKey::from_bytes([4; 32])).unwrap());
        let users = UserDirectory::load(Arc::clone(&log), IDLE).unwrap();
        (log, users)
    }

    fn close(log: Arc<EventLog>, users: UserDirectory) {
        log.fold().unwrap();
        drop(users);
        let Ok(log) = Arc::try_unwrap(log) else { panic!("another handle of the log is left") };
        log.close().unwrap();
    }

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn new_user(identity: &str, role_sid: Option<Sid>) -> NewUser {
        NewUser {
            identity: identity.into(),
            friendly_name: None,
            attributes: "{}".into(),
            role_sid,
        }
    }

    const SERVICE: Sid = Sid::from_parts(SidPrefix::SERVICE, [1; 16]);
    const OTHER: Sid = Sid::from_parts(SidPrefix::SERVICE, [2; 16]);
    const ROLE: Sid = Sid::from_parts(SidPrefix::ROLE, [1; 16]);

    /// A folder whose users keep a snapshot every 4 events, opened.
    fn opened() -> (tempfile::TempDir, StoreConfig, Arc<EventLog>, UserDirectory) {
        let temp = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(temp.path().join("data"));
        config.durability = Durability::Flush;
        config.snapshot_every = 4;
        let (log, users) = open(&config);
        (temp, config, log, users)
    }

    /// An agent of `SERVICE` with role `ROLE` and a history past two snapshots, written at 1 s;
    /// a customer of `SERVICE` written at 2 s; the agent's identity in `OTHER` too.
    async fn an_agent_and_a_customer(users: &UserDirectory) -> UserView {
        let t0 = Timestamp(1_000);
        let agent =
            users.create(SERVICE, new_user("agent", Some(ROLE)), t0).await.unwrap().unwrap();
        for n in 0..5 {
            let (channel, member) = (sid(SidPrefix::CHANNEL, n), sid(SidPrefix::MEMBER, n));
            assert!(users.joined(SERVICE, "agent", channel, member, t0).unwrap());
            if n < 3 {
                assert!(users.left(SERVICE, "agent", channel, t0).unwrap());
            }
        }
        let (channel, member) = (sid(SidPrefix::CHANNEL, 9), sid(SidPrefix::MEMBER, 9));
        assert!(users.joined(SERVICE, "+14155550100", channel, member, Timestamp(2_000)).unwrap());
        users.create(OTHER, new_user("agent", None), t0).await.unwrap().unwrap();
        agent
    }

    #[actix::test]
    async fn an_idle_user_is_let_go_and_read_back_from_the_log_as_it_was() {
        let (_temp, _, log, users) = opened();
        let agent = an_agent_and_a_customer(&users).await;
        let before = users.by_identity(SERVICE, "agent").unwrap().unwrap();
        assert_eq!(before.channels.len(), 2);
        assert_eq!(users.held_whole(), 3);
        let held = users.footprint();

        // Not idle yet: nothing goes.
        users.let_go_idle(Timestamp(1_000 + 299_000));
        assert_eq!(users.held_whole(), 3);
        // Idle for the period: every one goes, and the directory holds far less.
        users.let_go_idle(Timestamp(2_000 + 300_000));
        assert_eq!(users.held_whole(), 0);
        let idle = users.footprint();
        assert!(idle * 3 < held, "held {held} bytes, {idle} once idle");
        let reads = users.users.reads_from_log();
        assert_eq!(users.by_identity(SERVICE, "agent").unwrap(), Some(before.clone()));
        assert_eq!(users.users.reads_from_log(), reads + 1, "read back from the log");
        // What the roster answers without reading a user.
        assert_eq!(users.role_of(SERVICE, "agent").unwrap(), Some(ROLE));
        assert_eq!(users.role_of(OTHER, "agent").unwrap(), None);
        assert!(users.role_in_use(SERVICE, ROLE));
        assert!(!users.role_in_use(OTHER, ROLE));
        assert_eq!(users.live_sid(SERVICE, "agent").unwrap(), Some(agent.sid));
        assert_eq!(users.list(SERVICE).len(), 2);
        assert_eq!(users.list(SERVICE)[0], agent.sid, "oldest first");
        assert_eq!(users.list(OTHER).len(), 1);
        assert_eq!(users.users.reads_from_log(), reads + 1, "none of that read a user");
        // Its history goes on from the log, and it is held whole again.
        let at = Timestamp(400_000);
        assert!(users.left(SERVICE, "agent", sid(SidPrefix::CHANNEL, 3), at).unwrap());
        assert_eq!(users.by_identity(SERVICE, "agent").unwrap().unwrap().channels.len(), 1);
        assert_eq!(users.held_whole(), 1);
        close(log, users);
    }

    #[actix::test]
    async fn a_deleted_user_is_unlisted_and_a_start_lists_every_user_holding_none_whole() {
        let (_temp, config, log, users) = opened();
        let agent = an_agent_and_a_customer(&users).await;
        let at = Timestamp(3_000);
        let other_agent = users.live_sid(OTHER, "agent").unwrap().unwrap();
        users.delete(OTHER, other_agent, at).await.unwrap().unwrap();
        assert_eq!(users.list(OTHER), Vec::<Sid>::new());
        assert_eq!(users.streams().len(), 3, "a deleted user's stream is still resumed");
        assert_eq!(users.by_identity(OTHER, "agent").unwrap(), None);
        let update = UserChange { friendly_name: Some("Ann".into()), ..UserChange::default() };
        let refused = users.update(OTHER, agent.sid, update, at).await.unwrap();
        assert_eq!(refused, Err(UserRejection::NotFound), "a user of another service");
        let agent_now = users.by_identity(SERVICE, "agent").unwrap().unwrap();
        close(log, users);

        // A start lists every user and holds none whole; each reads back as it was.
        let (log, users) = open(&config);
        assert_eq!(users.held_whole(), 0);
        assert_eq!(users.list(SERVICE).len(), 2);
        assert_eq!(users.list(OTHER).len(), 0);
        assert_eq!(users.streams().len(), 3);
        assert_eq!(users.by_identity(SERVICE, "agent").unwrap(), Some(agent_now));
        assert_eq!(users.role_of(SERVICE, "agent").unwrap(), Some(ROLE));
        close(log, users);
    }

    #[test]
    fn the_logs_caches_of_users_written_are_forgotten_and_their_history_continues() {
        let temp = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(temp.path().join("data"));
        config.durability = Durability::Flush;
        let log = Arc::new(EventLog::open(config.clone(), MasterKey::from_bytes([4; 32])).unwrap());
        let users = UserDirectory::load(Arc::clone(&log), IDLE).unwrap();
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

        // A start reads every user, which caches their keys: each is forgotten once read.
        let log = Arc::new(EventLog::open(config, MasterKey::from_bytes([4; 32])).unwrap());
        let users = UserDirectory::load(Arc::clone(&log), IDLE).unwrap();
        let loaded = log.stream_caches_footprint();
        assert!(loaded < cached, "forgotten as the start went: {loaded} bytes, {cached} cached");
        assert_eq!(users.users.waiting_to_be_forgotten(), 0);
        users.forget_written_caches();
        assert_eq!(log.stream_caches_footprint(), loaded, "nothing was left to forget");
    }
}
