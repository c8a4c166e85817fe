//! People: the accounts of the daemon's console, each with a role (`agent`, `supervisor`,
//! `admin`), a password hash, and the Chat user and TaskRouter worker it answers as. Each person
//! is a stream named by its `PN` SID; its events are also its audit trail (sign-ins, failed
//! sign-ins, role changes, sign-outs everywhere). What each role may do is [`permits`]: a table
//! that denies whatever it does not name. One rule spans people (one per username): the
//! directory that holds them checks it before `Create`.

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

/// The longest username.
pub const MAX_USERNAME_CHARS: usize = 64;
/// How long a console session lasts from its sign-in: a working day.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;
/// The most console sessions one person keeps: opening one more ends their oldest.
pub const SESSIONS_PER_PERSON: usize = 20;

/// What a person is in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Agent,
    Supervisor,
    Admin,
}

impl PersonRole {
    pub const ALL: [PersonRole; 3] = [PersonRole::Agent, PersonRole::Supervisor, PersonRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Agent => "agent",
            PersonRole::Supervisor => "supervisor",
            PersonRole::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<PersonRole> {
        PersonRole::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// What a signed-in person may ask of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleAction {
    /// See who they are, get access tokens for the WebSocket, sign out.
    UseConsole,
    /// Answer customers as their worker (reservations, replies).
    AnswerCustomers,
    /// Watch queues, agents and live conversations.
    Supervise,
    /// Create people, change roles, issue set-password links.
    ManagePeople,
    /// Everything under `/admin` and the REST configuration (services, flows, workspaces).
    Administer,
}

/// Whether `role` may do `action`. Deny by default: an action is allowed only where this table
/// names it for the role.
pub fn permits(role: PersonRole, action: ConsoleAction) -> bool {
    use ConsoleAction as A;
    matches!(
        (role, action),
        (_, A::UseConsole)
            | (PersonRole::Agent | PersonRole::Supervisor, A::AnswerCustomers)
            | (PersonRole::Supervisor | PersonRole::Admin, A::Supervise)
            | (PersonRole::Admin, A::ManagePeople | A::Administer)
    )
}

/// Whether `name` may be a username: 1 to 64 of lowercase letters, digits and `.`, `_`, `-`, `@`
/// (it is also the person's chat identity and worker name, so it stays plain).
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        })
}

/// A console session a sign-in opened, as its `signed_in` event records it: the SHA-256 (hex) of
/// the cookie's secret, never the secret (the CSRF token is derived from the secret too, so
/// nothing that acts for the session is kept). It opened at the event's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedSession {
    pub digest: String,
}

/// A live console session of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSession {
    /// The SHA-256 (hex) of the cookie's secret.
    pub digest: String,
    pub opened: Timestamp,
}

impl PersonSession {
    /// Whether the session is still live at `now` ([`SESSION_LIFETIME_MS`] from its opening).
    pub fn live_at(&self, now: Timestamp) -> bool {
        now.as_millis() < self.opened.as_millis().saturating_add(SESSION_LIFETIME_MS)
    }
}

/// The Chat user and TaskRouter worker a person answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonLinks {
    pub chat_service_sid: Sid,
    pub user_sid: Sid,
    pub workspace_sid: Sid,
    pub worker_sid: Sid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonEvent {
    PersonCreated {
        person_sid: Sid,
        username: String,
        role: PersonRole,
    },
    /// The Chat user and worker made (or found) for the person.
    PersonLinked {
        links: PersonLinks,
    },
    /// A one-time set-password link: only the SHA-256 of its secret is kept.
    PasswordLinkIssued {
        digest: String,
        expires_at: Timestamp,
    },
    /// A new password (its argon2id PHC string); any pending link is spent.
    PasswordSet {
        hash: String,
    },
    RoleChanged {
        from: PersonRole,
        to: PersonRole,
    },
    /// A sign-in, from `address` when known, and the console session it opened (absent in
    /// records written before sessions were kept in the log).
    SignedIn {
        address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<OpenedSession>,
    },
    /// A refused sign-in (wrong password, no password yet).
    SignInFailed {
        address: Option<String>,
    },
    /// Every session of the person ends.
    SignedOutEverywhere,
    /// One console session ends (a sign-out): the digest of its secret.
    SignedOut {
        digest: String,
    },
    /// A supervisor opened a live conversation read-only (monitoring joins no channel): the
    /// audit record of who watched what.
    ConversationMonitored {
        channel_sid: Sid,
    },
}

impl DomainEvent for PersonEvent {
    fn type_name(&self) -> &'static str {
        match self {
            PersonEvent::PersonCreated { .. } => "person_created",
            PersonEvent::PersonLinked { .. } => "person_linked",
            PersonEvent::PasswordLinkIssued { .. } => "password_link_issued",
            PersonEvent::PasswordSet { .. } => "password_set",
            PersonEvent::RoleChanged { .. } => "role_changed",
            PersonEvent::SignedIn { .. } => "signed_in",
            PersonEvent::SignInFailed { .. } => "sign_in_failed",
            PersonEvent::SignedOutEverywhere => "signed_out_everywhere",
            PersonEvent::SignedOut { .. } => "signed_out",
            PersonEvent::ConversationMonitored { .. } => "conversation_monitored",
        }
    }
}

/// A request to change one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonCommand {
    Create {
        person_sid: Sid,
        username: String,
        role: PersonRole,
    },
    /// Recorded once: the same links again record nothing.
    Link(PersonLinks),
    IssuePasswordLink {
        digest: String,
        expires_at: Timestamp,
    },
    /// A password set by an administrator (or the first start).
    SetPassword {
        hash: String,
    },
    /// A password set through a link: the link's digest must be the pending one, before `at`.
    SetPasswordWithLink {
        digest: String,
        hash: String,
        at: Timestamp,
    },
    ChangeRole(PersonRole),
    /// A sign-in, and the console session it opens (if any).
    RecordSignIn {
        address: Option<String>,
        session: Option<OpenedSession>,
    },
    RecordFailedSignIn {
        address: Option<String>,
    },
    SignOutEverywhere,
    /// Ends the session of this digest; a session not kept (ended, expired) records nothing.
    SignOut {
        digest: String,
    },
    RecordMonitoring {
        channel_sid: Sid,
    },
}

/// Why a change to a person was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonRejection {
    #[error("the person does not exist")]
    NotFound,
    #[error("a person named {0:?} already exists")]
    UsernameTaken(String),
    #[error("the set-password link is not valid (used, replaced or expired)")]
    LinkInvalid,
    #[error("{0}")]
    Invalid(&'static str),
}

/// One person as its events leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PersonState {
    pub sid: Option<Sid>,
    pub username: String,
    pub role: Option<PersonRole>,
    pub links: Option<PersonLinks>,
    /// The argon2id PHC string of the password; `None` until one is set.
    pub password_hash: Option<String>,
    /// The pending set-password link: its digest and when it stops working.
    pub password_link: Option<(String, Timestamp)>,
    /// Counts sign-outs everywhere: a session opened under an older count is over.
    pub session_epoch: u64,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
    /// The console sessions opened and not ended, oldest first: at most
    /// [`SESSIONS_PER_PERSON`], and those past [`SESSION_LIFETIME_MS`] at the latest sign-in
    /// dropped (a reader checks the lifetime anyway).
    #[serde(default)]
    pub sessions: Vec<PersonSession>,
}

impl PersonState {
    pub fn is_live(&self) -> bool {
        self.sid.is_some()
    }

    /// The live session of a secret's digest at `now`.
    pub fn session(&self, digest: &str, now: Timestamp) -> Option<&PersonSession> {
        self.sessions.iter().find(|s| s.digest == digest && s.live_at(now))
    }

    fn open_session(&mut self, opened: &OpenedSession, at: Timestamp) {
        self.sessions.retain(|s| s.live_at(at) && s.digest != opened.digest);
        while self.sessions.len() >= SESSIONS_PER_PERSON {
            self.sessions.remove(0);
        }
        let OpenedSession { digest } = opened.clone();
        self.sessions.push(PersonSession { digest, opened: at });
    }

    /// Total, like every `apply`: an event that makes no sense changes nothing.
    fn fold(&mut self, record: &Recorded<PersonEvent>) {
        match &record.event {
            PersonEvent::PersonCreated { person_sid, username, role } => {
                if self.sid.is_some() {
                    return;
                }
                self.sid = Some(*person_sid);
                self.username.clone_from(username);
                self.role = Some(*role);
                self.date_created = record.at;
            }
            PersonEvent::PersonLinked { links } => self.links = Some(*links),
            PersonEvent::PasswordLinkIssued { digest, expires_at } => {
                self.password_link = Some((digest.clone(), *expires_at));
            }
            PersonEvent::PasswordSet { hash } => {
                self.password_hash = Some(hash.clone());
                self.password_link = None;
            }
            PersonEvent::RoleChanged { to, .. } => self.role = Some(*to),
            PersonEvent::SignedOutEverywhere => {
                self.session_epoch += 1;
                self.sessions.clear();
            }
            PersonEvent::SignedIn { session: Some(opened), .. } => {
                self.open_session(opened, record.at);
                return;
            }
            PersonEvent::SignedOut { digest } => {
                self.sessions.retain(|s| &s.digest != digest);
                return;
            }
            // Audit records: they change nothing the console decides on.
            PersonEvent::SignedIn { session: None, .. }
            | PersonEvent::SignInFailed { .. }
            | PersonEvent::ConversationMonitored { .. } => return,
        }
        self.date_updated = record.at;
    }

    fn create(&self, person_sid: Sid, username: String, role: PersonRole) -> Decided {
        if self.sid.is_some() {
            return Err(PersonRejection::Invalid("the person SID is already in use"));
        }
        if !valid_username(&username) {
            return Err(PersonRejection::Invalid(
                "a username is 1 to 64 of a-z, 0-9, '.', '_', '-' and '@'",
            ));
        }
        Ok(vec![PersonEvent::PersonCreated { person_sid, username, role }])
    }

    fn set_with_link(&self, digest: &str, hash: String, at: Timestamp) -> Decided {
        match &self.password_link {
            Some((pending, expires)) if pending == digest && at < *expires => {
                Ok(vec![PersonEvent::PasswordSet { hash }])
            }
            _ => Err(PersonRejection::LinkInvalid),
        }
    }
}

type Decided = Result<Vec<PersonEvent>, PersonRejection>;

impl Aggregate for PersonState {
    type Event = PersonEvent;
    type Command = PersonCommand;
    type Rejection = PersonRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::PERSON;
    const NAME: &'static str = "person";

    fn decide(&self, command: PersonCommand) -> Decided {
        let current = self.role;
        match command {
            PersonCommand::Create { person_sid, username, role } => {
                self.create(person_sid, username, role)
            }
            _ if !self.is_live() => Err(PersonRejection::NotFound),
            PersonCommand::Link(links) if self.links == Some(links) => Ok(Vec::new()),
            PersonCommand::Link(links) => Ok(vec![PersonEvent::PersonLinked { links }]),
            PersonCommand::IssuePasswordLink { digest, expires_at } => {
                Ok(vec![PersonEvent::PasswordLinkIssued { digest, expires_at }])
            }
            PersonCommand::SetPassword { hash } => Ok(vec![PersonEvent::PasswordSet { hash }]),
            PersonCommand::SetPasswordWithLink { digest, hash, at } => {
                self.set_with_link(&digest, hash, at)
            }
            PersonCommand::ChangeRole(to) if current == Some(to) => Ok(Vec::new()),
            PersonCommand::ChangeRole(to) => {
                let from = current.unwrap_or(to);
                Ok(vec![PersonEvent::RoleChanged { from, to }])
            }
            PersonCommand::RecordSignIn { address, session } => {
                Ok(vec![PersonEvent::SignedIn { address, session }])
            }
            PersonCommand::RecordFailedSignIn { address } => {
                Ok(vec![PersonEvent::SignInFailed { address }])
            }
            PersonCommand::SignOutEverywhere => Ok(vec![PersonEvent::SignedOutEverywhere]),
            PersonCommand::SignOut { digest }
                if self.sessions.iter().any(|s| s.digest == digest) =>
            {
                Ok(vec![PersonEvent::SignedOut { digest }])
            }
            PersonCommand::SignOut { .. } => Ok(Vec::new()),
            PersonCommand::RecordMonitoring { channel_sid } => {
                Ok(vec![PersonEvent::ConversationMonitored { channel_sid }])
            }
        }
    }

    fn apply(&mut self, record: &Recorded<PersonEvent>) {
        self.events_applied += 1;
        self.fold(record);
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

    fn at(n: i64) -> Timestamp {
        Timestamp::from_millis(n * 1000)
    }

    fn run(state: &mut PersonState, command: PersonCommand, when: i64) -> Decided {
        let events = state.decide(command)?;
        for event in &events {
            Aggregate::apply(state, &Recorded::new(at(when), event.clone()));
        }
        Ok(events)
    }

    fn alice() -> PersonState {
        let mut state = PersonState::default();
        let sid = Sid::from_parts(SidPrefix::PERSON, [1; 16]);
        let create = PersonCommand::Create {
            person_sid: sid,
            username: "alice".into(),
            role: PersonRole::Agent,
        };
        run(&mut state, create, 1).unwrap();
        state
    }

    #[test]
    fn the_policy_denies_what_it_does_not_name() {
        use ConsoleAction as A;
        for role in PersonRole::ALL {
            assert!(permits(role, A::UseConsole), "{role:?}");
        }
        assert!(!permits(PersonRole::Agent, A::Administer));
        assert!(!permits(PersonRole::Agent, A::ManagePeople));
        assert!(!permits(PersonRole::Agent, A::Supervise));
        assert!(!permits(PersonRole::Supervisor, A::Administer));
        assert!(!permits(PersonRole::Supervisor, A::ManagePeople));
        assert!(permits(PersonRole::Supervisor, A::Supervise));
        assert!(permits(PersonRole::Admin, A::Administer));
        assert!(permits(PersonRole::Admin, A::ManagePeople));
        assert!(!permits(PersonRole::Admin, A::AnswerCustomers), "an admin has no worker queue");
    }

    #[test]
    fn roles_and_usernames_parse_strictly() {
        for role in PersonRole::ALL {
            assert_eq!(PersonRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(PersonRole::parse("Admin"), None);
        assert!(valid_username("alice.b-c_d@x"));
        for bad in ["", "Alice", "a b", "a/b", &"a".repeat(65)] {
            assert!(!valid_username(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_link_sets_the_password_once_and_not_after_it_expires() {
        let mut state = alice();
        let issue =
            |d: &str| PersonCommand::IssuePasswordLink { digest: d.into(), expires_at: at(100) };
        let with = |d: &str, when| PersonCommand::SetPasswordWithLink {
            digest: d.into(),
            hash: "$argon2id$x".into(),
            at: at(when),
        };
        run(&mut state, issue("d1"), 2).unwrap();
        assert_eq!(state.decide(with("d2", 3)), Err(PersonRejection::LinkInvalid));
        assert_eq!(state.decide(with("d1", 100)), Err(PersonRejection::LinkInvalid), "expired");
        run(&mut state, with("d1", 3), 3).unwrap();
        assert_eq!(state.password_hash.as_deref(), Some("$argon2id$x"));
        assert_eq!(state.decide(with("d1", 4)), Err(PersonRejection::LinkInvalid), "spent");
    }

    #[test]
    fn role_changes_and_sign_outs_are_recorded_and_redundant_changes_are_not() {
        let mut state = alice();
        assert_eq!(state.decide(PersonCommand::ChangeRole(PersonRole::Agent)), Ok(vec![]));
        let changed = run(&mut state, PersonCommand::ChangeRole(PersonRole::Admin), 2).unwrap();
        assert_eq!(
            changed,
            vec![PersonEvent::RoleChanged { from: PersonRole::Agent, to: PersonRole::Admin }]
        );
        assert_eq!(state.role, Some(PersonRole::Admin));
        run(&mut state, PersonCommand::RecordFailedSignIn { address: None }, 3).unwrap();
        run(&mut state, PersonCommand::SignOutEverywhere, 4).unwrap();
        assert_eq!(state.session_epoch, 1);
        assert_eq!(state.events_applied, 4);
        let fresh = PersonState::default();
        assert_eq!(fresh.decide(PersonCommand::SignOutEverywhere), Err(PersonRejection::NotFound));
        let links = PersonLinks {
            chat_service_sid: Sid::from_parts(SidPrefix::SERVICE, [2; 16]),
            user_sid: Sid::from_parts(SidPrefix::USER, [2; 16]),
            workspace_sid: Sid::from_parts(SidPrefix::WORKSPACE, [2; 16]),
            worker_sid: Sid::from_parts(SidPrefix::WORKER, [2; 16]),
        };
        run(&mut state, PersonCommand::Link(links), 5).unwrap();
        assert_eq!(state.decide(PersonCommand::Link(links)), Ok(vec![]), "linked once");
    }

    #[test]
    fn a_monitoring_is_recorded_and_changes_nothing_the_console_decides_on() {
        let mut state = alice();
        let before = state.clone();
        let channel_sid = Sid::from_parts(SidPrefix::CHANNEL, [3; 16]);
        let made = run(&mut state, PersonCommand::RecordMonitoring { channel_sid }, 2).unwrap();
        assert_eq!(made, vec![PersonEvent::ConversationMonitored { channel_sid }]);
        assert_eq!(made[0].type_name(), "conversation_monitored");
        assert_eq!((state.role, state.session_epoch), (before.role, before.session_epoch));
        assert_eq!(state.date_updated, before.date_updated, "an audit record only");
        let fresh = PersonState::default();
        let refused = fresh.decide(PersonCommand::RecordMonitoring { channel_sid });
        assert_eq!(refused, Err(PersonRejection::NotFound));
    }

    fn sign_in(state: &mut PersonState, digest: &str, when: i64) {
        let session = Some(OpenedSession { digest: digest.into() });
        run(state, PersonCommand::RecordSignIn { address: None, session }, when).unwrap();
    }

    fn digests(state: &PersonState) -> Vec<&str> {
        state.sessions.iter().map(|s| s.digest.as_str()).collect()
    }

    #[test]
    fn a_sign_in_keeps_its_session_until_signed_out_or_expired() {
        let mut state = alice();
        sign_in(&mut state, "d1", 10);
        let kept = state.session("d1", at(11)).unwrap();
        assert_eq!((kept.digest.as_str(), kept.opened), ("d1", at(10)));
        assert_eq!(state.session("d2", at(11)), None);
        let end = at(10).as_millis() + SESSION_LIFETIME_MS;
        assert!(state.session("d1", Timestamp::from_millis(end - 1)).is_some());
        assert_eq!(state.session("d1", Timestamp::from_millis(end)), None, "past its lifetime");
        sign_in(&mut state, "d2", 11);
        let out = run(&mut state, PersonCommand::SignOut { digest: "d1".into() }, 12).unwrap();
        assert_eq!(out, vec![PersonEvent::SignedOut { digest: "d1".into() }]);
        assert_eq!(digests(&state), ["d2"]);
        let again = state.decide(PersonCommand::SignOut { digest: "d1".into() });
        assert_eq!(again, Ok(vec![]), "an ended session records nothing");
        // A later sign-in drops the sessions expired by its time.
        let later = (10 + SESSION_LIFETIME_MS / 1000) + 1;
        sign_in(&mut state, "d3", later);
        assert_eq!(digests(&state), ["d3"]);
    }

    #[test]
    fn a_person_keeps_at_most_twenty_sessions_and_signing_out_everywhere_ends_them_all() {
        let mut state = alice();
        for n in 0..SESSIONS_PER_PERSON + 2 {
            sign_in(&mut state, &format!("d{n}"), 10 + n as i64);
        }
        assert_eq!(state.sessions.len(), SESSIONS_PER_PERSON);
        assert_eq!(state.sessions[0].digest, "d2", "the oldest made room");
        let newest = format!("d{}", SESSIONS_PER_PERSON + 1);
        assert!(state.session(&newest, at(100)).is_some());
        run(&mut state, PersonCommand::SignOutEverywhere, 100).unwrap();
        assert!(state.sessions.is_empty());
        assert_eq!(state.session_epoch, 1);
        sign_in(&mut state, "d99", 101);
        assert_eq!(digests(&state), ["d99"]);
    }

    #[test]
    fn a_sign_in_of_an_older_record_opens_no_session_and_decodes_positionally() {
        // A `signed_in` written before sessions were kept: `[address]` alone.
        let old = rmp_serde::to_vec(&serde_json::json!({"signed_in": [ "10.0.0.1" ]})).unwrap();
        let event: PersonEvent = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(
            event,
            PersonEvent::SignedIn { address: Some("10.0.0.1".into()), session: None }
        );
        let mut state = alice();
        Aggregate::apply(&mut state, &Recorded::new(at(2), event));
        assert!(state.sessions.is_empty());
        let new = PersonEvent::SignedIn {
            address: None,
            session: Some(OpenedSession { digest: "d".into() }),
        };
        let bytes = rmp_serde::to_vec(&new).unwrap();
        assert_eq!(rmp_serde::from_slice::<PersonEvent>(&bytes).unwrap(), new);
        assert_eq!(new.type_name(), "signed_in");
    }
}
