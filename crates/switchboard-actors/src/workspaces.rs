//! TaskRouter workspaces: every workspace's configuration (activities, task channels, queues,
//! workflows) kept in memory and changed through the one stream runtime (`Streams`). A change
//! is worked out from the workspace as it is under the kind's writer, so two partial updates of
//! the same part never lose one another.

use std::sync::Arc;

use switchboard_domain::{Sid, Timestamp};
use switchboard_routing::workspace::{
    new_workspace, Template, WorkspaceCommand, WorkspaceRejection, WorkspaceSettings,
    WorkspaceState,
};
use switchboard_store::EventLog;

use crate::ids::new_sid;
use crate::streams::Streams;
use crate::EngineError;

/// A change's outcome: the workspace after it, or why the domain refused it.
pub type WorkspaceChange = Result<Result<WorkspaceState, WorkspaceRejection>, EngineError>;

#[derive(Debug)]
pub struct WorkspaceDirectory {
    workspaces: Streams<WorkspaceState>,
}

impl WorkspaceDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<WorkspaceDirectory, EngineError> {
        Ok(WorkspaceDirectory { workspaces: Streams::load(log)? })
    }

    /// A workspace that exists and is not deleted.
    pub fn get(&self, sid: Sid) -> Option<WorkspaceState> {
        self.workspaces.read().get(&sid).filter(|w| w.live().is_some()).cloned()
    }

    /// What `read` makes of a live workspace, read in place (no copy of the workspace).
    pub fn with<R>(&self, sid: Sid, read: impl FnOnce(&WorkspaceState) -> R) -> Option<R> {
        self.workspaces.read().get(&sid).filter(|w| w.live().is_some()).map(read)
    }

    /// How many events a live workspace has folded: its configuration's version, read without
    /// copying the workspace (matching asks at every decision).
    pub fn version(&self, sid: Sid) -> Option<u64> {
        self.workspaces.read().get(&sid).filter(|w| w.live().is_some()).map(|w| w.events_applied)
    }

    /// Every workspace that exists, oldest first.
    pub fn list(&self) -> Vec<WorkspaceState> {
        let mut all: Vec<_> =
            self.workspaces.read().values().filter(|w| w.live().is_some()).cloned().collect();
        all.sort_by_key(|w| (w.date_created, w.sid));
        all
    }

    /// Whether the folder has never held a workspace (a deleted one counts as held).
    pub fn never_had_any(&self) -> bool {
        self.workspaces.read().iter().next().is_none()
    }

    /// Makes a workspace with what `template` gives it, in one append.
    pub async fn create(
        &self,
        settings: WorkspaceSettings,
        template: Template,
        at: Timestamp,
    ) -> WorkspaceChange {
        let (sid, commands) = new_workspace(settings, template, new_sid);
        let written = self.workspaces.execute(sid, commands, at);
        self.workspaces.durable(written).await
    }

    /// Changes workspace `sid` with the commands `change` works out from it as it is now, under
    /// the writer. A workspace that does not exist (or is deleted) is refused before `change`.
    pub async fn change(
        &self,
        sid: Sid,
        at: Timestamp,
        change: impl FnOnce(&WorkspaceState) -> Result<Vec<WorkspaceCommand>, WorkspaceRejection>,
    ) -> WorkspaceChange {
        let written = {
            let mut writer = self.workspaces.writer();
            let state = writer.state(sid);
            if state.live().is_none() {
                return Ok(Err(WorkspaceRejection::NotFound));
            }
            let commands = match change(&state) {
                Ok(commands) => commands,
                Err(rejection) => return Ok(Err(rejection)),
            };
            writer.execute(sid, commands, at)
        };
        self.workspaces.durable(written).await
    }
}
