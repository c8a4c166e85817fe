//! `Tasks`: TaskRouter's task changes that a chat channel must follow (`flex_orchestration`):
//! answering a reservation, creating and updating a task; and the channels' open tasks.

use switchboard_domain::Sid;

use super::Engine;
use crate::janitor::{ListOpenTasks, OpenTask};
use crate::EngineError;

/// Task changes that bring their chat channel in line (`Engine::tasks`).
#[derive(Debug, Clone, Copy)]
pub struct Tasks<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Tasks whose changes the chat channels follow.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks { engine: self }
    }
}

impl Tasks<'_> {
    /// Answers a reservation, then brings the task's chat channel in line (`flex_orchestration`).
    pub async fn answer_reservation(
        self,
        workspace: Sid,
        task: Sid,
        reservation: Sid,
        answer: crate::taskrouter::ReservationAnswer,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let router = self.engine.task_router();
        let answered =
            router.answer_reservation(workspace, task, reservation, answer, self.engine.now());
        let answered = answered.await?;
        if let Ok(task) = &answered {
            crate::flex_orchestration::orchestrate(self.engine, task).await?;
        }
        Ok(answered)
    }

    /// Creates a task, then brings its chat channel in line (`flex_orchestration`): a task
    /// naming an active channel (a transfer) is linked to it.
    pub async fn create(
        self,
        workspace: Sid,
        account: Sid,
        new: crate::taskrouter::NewTask,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let router = self.engine.task_router();
        let created = router.create_task(workspace, account, new, self.engine.now()).await?;
        if let Ok(task) = &created {
            crate::flex_orchestration::orchestrate(self.engine, task).await?;
        }
        Ok(created)
    }

    /// Updates a task, then brings its chat channel in line (`flex_orchestration`).
    pub async fn update(
        self,
        workspace: Sid,
        task: Sid,
        changes: crate::taskrouter::TaskChanges,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let updated = self
            .engine
            .task_router()
            .update_task(workspace, task, changes, self.engine.now())
            .await?;
        if let Ok(task) = &updated {
            crate::flex_orchestration::orchestrate(self.engine, task).await?;
        }
        Ok(updated)
    }

    /// Every open task of every channel, oldest first.
    pub async fn open(self) -> Result<Vec<OpenTask>, EngineError> {
        Ok(self.engine.inner.janitor.send(ListOpenTasks).await?)
    }

    /// An open task as its channel keeps it (attributes, priority, timeout; `None` once the
    /// channel no longer has it open): read from the channel, which wakes it if it hibernates,
    /// so a list reads it for the page it shows only.
    pub async fn linked(
        self,
        task: &OpenTask,
    ) -> Result<Option<switchboard_domain::TaskState>, EngineError> {
        let channel = self.engine.channels().state(task.channel_sid).await?;
        Ok(channel.and_then(|mut c| c.open_tasks.remove(&task.task_sid)))
    }
}
