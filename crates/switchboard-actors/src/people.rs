//! People of the console: every person kept in memory and changed through the one stream
//! runtime (`Streams`), with the rule that spans them (one person per username) checked under
//! the kind's writer. Adding a person also makes the Chat user and the TaskRouter worker they
//! answer as ([`Engine::add_person`]): each step finds what an earlier, interrupted attempt made
//! before making anything, so a retry completes the work and doubles nothing.

use std::sync::Arc;

use switchboard_domain::{
    PersonCommand, PersonLinks, PersonRejection, PersonRole, PersonState, Sid, SidPrefix, Timestamp,
};
use switchboard_store::EventLog;

use crate::streams::Streams;
use crate::taskrouter::{NewWorker, RouterRefusal};
use crate::users::NewUser;
use crate::{new_sid, Engine, EngineError};

/// A change's outcome: the person after it, or why the domain refused it.
pub type PersonChange = Result<Result<PersonState, PersonRejection>, EngineError>;

#[derive(Debug)]
pub struct PeopleDirectory {
    people: Streams<PersonState>,
}

impl PeopleDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<PeopleDirectory, EngineError> {
        Ok(PeopleDirectory { people: Streams::load(log)? })
    }

    pub fn get(&self, sid: Sid) -> Option<PersonState> {
        self.people.read().get(&sid).filter(|p| p.is_live()).cloned()
    }

    pub fn by_username(&self, username: &str) -> Option<PersonState> {
        self.people.read().values().find(|p| p.is_live() && p.username == username).cloned()
    }

    /// The person whose pending set-password link has this digest.
    pub fn by_link_digest(&self, digest: &str) -> Option<PersonState> {
        let people = self.people.read();
        let found = people.values().find(|p| {
            p.password_link.as_ref().is_some_and(|(pending, _)| pending.as_str() == digest)
        });
        found.cloned()
    }

    /// Every person, oldest first.
    pub fn list(&self) -> Vec<PersonState> {
        let mut all: Vec<_> =
            self.people.read().values().filter(|p| p.is_live()).cloned().collect();
        all.sort_by_key(|p| (p.date_created, p.sid));
        all
    }

    /// Whether the folder holds no person yet (the first start makes an admin then).
    pub fn is_empty(&self) -> bool {
        self.people.read().iter().next().is_none()
    }

    /// Makes the person `username` with `role`, or finds the one a retry of the same request
    /// made: the same username with another role is refused. Says whether it was made now.
    pub async fn create(
        &self,
        username: &str,
        role: PersonRole,
        at: Timestamp,
    ) -> Result<Result<(PersonState, bool), PersonRejection>, EngineError> {
        let written = {
            let mut writer = self.people.writer();
            let existing = writer.read().values().find(|p| p.username == username).cloned();
            if let Some(existing) = existing {
                if existing.role == Some(role) {
                    return Ok(Ok((existing, false)));
                }
                return Ok(Err(PersonRejection::UsernameTaken(username.to_owned())));
            }
            let sid = new_sid(SidPrefix::PERSON);
            let command =
                PersonCommand::Create { person_sid: sid, username: username.to_owned(), role };
            writer.execute(sid, vec![command], at)
        };
        Ok(self.people.durable(written).await?.map(|person| (person, true)))
    }

    /// Runs `commands` on person `sid`, durably.
    pub async fn execute(
        &self,
        sid: Sid,
        commands: Vec<PersonCommand>,
        at: Timestamp,
    ) -> PersonChange {
        let written = self.people.execute(sid, commands, at);
        self.people.durable(written).await
    }
}

/// Why a person could not be given their Chat user and worker.
#[derive(Debug, thiserror::Error)]
pub enum AddPersonError {
    #[error(transparent)]
    Rejected(#[from] PersonRejection),
    /// The folder has no Chat service or no TaskRouter workspace to put them in.
    #[error("{0}")]
    NothingToLinkTo(&'static str),
    #[error("the worker could not be made: {0}")]
    Worker(RouterRefusal),
    #[error("the chat user could not be made: {0}")]
    User(crate::UserRejection),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl Engine {
    pub fn people(&self) -> &PeopleDirectory {
        &self.inner.people
    }

    /// Adds a person with their Chat user (identity: the username) in the oldest Chat service,
    /// and their worker (named after them, `contact_uri` `client:<username>`, so the task
    /// router's orchestration adds them to the channels they accept) in the oldest workspace,
    /// the first start's. Says whether the person was made now (else a retry found them).
    pub async fn add_person(
        &self,
        account: Sid,
        username: &str,
        role: PersonRole,
    ) -> Result<(PersonState, bool), AddPersonError> {
        let at = self.now();
        let (person, made) = self.people().create(username, role, at).await??;
        let sid = person.sid.ok_or(PersonRejection::NotFound)?;
        let service = self.link_service(person.links)?;
        let workspace = self.link_workspace(person.links)?;
        let user_sid = self.chat_user_of(service, username, at).await?;
        let worker_sid = self.worker_of((account, workspace), username, sid, at).await?;
        let links = PersonLinks {
            chat_service_sid: service,
            user_sid,
            workspace_sid: workspace,
            worker_sid,
        };
        let linked = self.people().execute(sid, vec![PersonCommand::Link(links)], at).await??;
        Ok((linked, made))
    }

    fn link_service(&self, links: Option<PersonLinks>) -> Result<Sid, AddPersonError> {
        if let Some(links) = links {
            return Ok(links.chat_service_sid);
        }
        let services = self.services().list();
        let oldest = services.iter().min_by_key(|s| (s.date_created, s.sid));
        oldest.map(|s| s.sid).ok_or(AddPersonError::NothingToLinkTo(
            "there is no Chat service to make the person's chat user in",
        ))
    }

    fn link_workspace(&self, links: Option<PersonLinks>) -> Result<Sid, AddPersonError> {
        if let Some(links) = links {
            return Ok(links.workspace_sid);
        }
        let oldest = self.workspaces().list().into_iter().find_map(|w| w.sid);
        oldest.ok_or(AddPersonError::NothingToLinkTo(
            "there is no TaskRouter workspace to make the person's worker in",
        ))
    }

    async fn chat_user_of(
        &self,
        service: Sid,
        username: &str,
        at: Timestamp,
    ) -> Result<Sid, AddPersonError> {
        if let Some(user) = self.users().by_identity(service, username)? {
            return Ok(user.sid);
        }
        let new = NewUser {
            identity: username.to_owned(),
            friendly_name: Some(username.to_owned()),
            attributes: "{}".to_owned(),
            role_sid: None,
        };
        let user = self.users().create(service, new, at).await?.map_err(AddPersonError::User)?;
        Ok(user.sid)
    }

    async fn worker_of(
        &self,
        (account, workspace): (Sid, Sid),
        username: &str,
        person: Sid,
        at: Timestamp,
    ) -> Result<Sid, AddPersonError> {
        let router = self.task_router();
        let existing = router.workers(workspace).into_iter().find(|w| w.friendly_name == username);
        if let Some(sid) = existing.and_then(|w| w.sid) {
            return Ok(sid);
        }
        let attributes = serde_json::json!({
            "contact_uri": format!("client:{username}"),
            "person_sid": person.to_string(),
        });
        let new = NewWorker {
            friendly_name: username.to_owned(),
            attributes: attributes.to_string(),
            activity_sid: None,
        };
        let worker = router.create_worker(workspace, account, new, at).await?;
        let worker = worker.map_err(AddPersonError::Worker)?;
        worker.sid.ok_or(AddPersonError::Worker(RouterRefusal::NotFound))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use switchboard_crypto::MasterKey;
    use switchboard_store::{Durability, StoreConfig};

    use super::*;

    fn open(dir: &Path) -> Arc<EventLog> {
        let mut config = StoreConfig::new(dir.join("data"));
        config.durability = Durability::Flush;
        Arc::new(EventLog::open(config, MasterKey::from_bytes([9; 32])).unwrap())
    }

    #[actix_rt::test]
    async fn a_username_is_one_person_a_retry_finds_them_and_a_restart_keeps_them() {
        let temp = tempfile::tempdir().unwrap();
        let log = open(temp.path());
        let people = PeopleDirectory::load(Arc::clone(&log)).unwrap();
        assert!(people.is_empty());
        let at = Timestamp(1_000);
        let (alice, made) = people.create("alice", PersonRole::Agent, at).await.unwrap().unwrap();
        assert!(made);
        let (again, made) = people.create("alice", PersonRole::Agent, at).await.unwrap().unwrap();
        assert_eq!((again.sid, made), (alice.sid, false), "a retry finds the same person");
        let other_role = people.create("alice", PersonRole::Admin, at).await.unwrap();
        assert_eq!(other_role, Err(PersonRejection::UsernameTaken("alice".into())));
        let sid = alice.sid.unwrap();
        let link =
            PersonCommand::IssuePasswordLink { digest: "d".into(), expires_at: Timestamp(9_000) };
        people.execute(sid, vec![link], at).await.unwrap().unwrap();
        assert_eq!(people.by_link_digest("d").and_then(|p| p.sid), Some(sid));
        assert!(people.by_link_digest("e").is_none());
        drop(people);
        let Ok(log) = Arc::try_unwrap(log) else { panic!("another handle of the log is left") };
        log.close().unwrap();
        let reopened = PeopleDirectory::load(open(temp.path())).unwrap();
        let names: Vec<String> = reopened.list().into_iter().map(|p| p.username).collect();
        assert_eq!(names, ["alice"]);
        assert_eq!(reopened.by_username("alice").and_then(|p| p.sid), Some(sid));
    }
}
