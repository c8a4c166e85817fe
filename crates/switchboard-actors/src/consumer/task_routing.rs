//! Flex's task integration: each task a channel links (`TaskLinked`, from a customer's
//! interaction on a flow with `IntegrationType=task`) becomes a TaskRouter task of the same SID,
//! in the flow's workspace, workflow and task channel, with Flex's attributes (`channelSid`,
//! `channelType`, `name`, `from`, the flow's and the interaction's own); a task the channel ends
//! as canceled (the janitor retiring the channel) is canceled with its reason; the erasure of a
//! channel's content (`data_erased`) erases the attributes of every task it linked.
//!
//! A Studio flow's channel links its task through `send-to-flex` (`studio_requests` makes it in
//! TaskRouter): here only its cancellation is carried out.
//!
//! Read from the channel's log by cursor, so a restart neither loses nor doubles one: creating a
//! task whose SID exists changes nothing. A task that cannot be made (the flow names no workspace
//! and there is not exactly one, or a workflow or task channel the workspace lacks) is a dead
//! letter saying why.

use std::sync::Arc;

use serde_json::Value;
use switchboard_domain::{ChannelEvent, ChannelState, IntegrationType, Recorded, Sid, TaskOutcome};
use switchboard_routing::task::{AssignmentStatus, MAX_PRIORITY, MAX_TIMEOUT_SECS};
use switchboard_store::{ReplayRecord, StoreError};

use super::{durable_records, Consumer, Run, Shared, Wake, Woken};
use crate::directory::FlowView;
use crate::metrics::Destination;
use crate::taskrouter::{NewTask, RouterRefusal, TaskChanges};

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "task-routing";

/// Routes the tasks channels link.
pub(crate) struct TaskRouting;

impl Consumer for TaskRouting {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.events().any(|event| {
            matches!(
                event,
                ChannelEvent::TaskLinked { .. }
                    | ChannelEvent::TaskEnded { .. }
                    | ChannelEvent::DataErased { .. }
            )
        }) && woken.flow().is_some_and(|f| links_tasks(&f))
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let flow = state.flex_flow_sid.and_then(|f| shared.flows.get(f));
        let Some(flow) = flow.filter(links_tasks) else {
            return Ok(None);
        };
        super::resume_under_flow(&shared.log, CONSUMER, channel, state, flow.date_updated)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, wake).await })
    }
}

/// Whether a flow's channels link tasks: a task flow's interactions, a Studio flow's
/// `send-to-flex`.
fn links_tasks(flow: &FlowView) -> bool {
    matches!(flow.config.integration_type, IntegrationType::Task | IntegrationType::Studio)
}

/// Routes every task linked or ended in one channel's pending events, in order.
async fn deliver(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    let Some(flow) = wake.flow_sid.and_then(|f| shared.flows.get(f)) else { return Ok(()) };
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    for record in durable_records::<Recorded>(log, &wake, start)? {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = &record {
            let routed = match &event.event {
                ChannelEvent::DataErased { .. } => erase_tasks(shared, channel, seq).await,
                event => route(shared, &flow, channel, event).await,
            };
            if let Err(why) = routed {
                super::give_up(log, CONSUMER, channel, seq, &why, Destination::TaskRouter)?;
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

/// Carries out one channel event's meaning for TaskRouter; `Err` says why it could not be.
async fn route(
    shared: &Shared,
    flow: &FlowView,
    channel: Sid,
    event: &ChannelEvent,
) -> Result<(), String> {
    let router = &shared.task_router;
    let now = shared.clock.now();
    match event {
        ChannelEvent::TaskLinked { .. }
            if flow.config.integration_type != IntegrationType::Task =>
        {
            Ok(()) // Made by the Studio execution that linked it.
        }
        ChannelEvent::TaskLinked { task_sid, attributes, priority, timeout_secs } => {
            let workspace = workspace_of(shared, flow)?;
            let account = shared.config.account_sid.parse::<Sid>().map_err(|e| e.to_string())?;
            let new = NewTask {
                task_sid: Some(*task_sid),
                workflow_sid: flow.config.integration.workflow_sid,
                task_channel: Some(
                    flow.config.integration.channel.clone().unwrap_or_else(|| "default".into()),
                ),
                attributes: with_channel(attributes, channel),
                priority: Some(
                    u32::try_from((*priority).max(0)).unwrap_or(MAX_PRIORITY).min(MAX_PRIORITY),
                ),
                timeout_secs: Some(
                    u32::try_from(*timeout_secs).unwrap_or(MAX_TIMEOUT_SECS).min(MAX_TIMEOUT_SECS),
                ),
            };
            let made = router
                .create_task(workspace, account, new, now)
                .await
                .map_err(|e| e.to_string())?;
            made.map(drop).map_err(|refusal| format!("the task could not be made: {refusal}"))
        }
        ChannelEvent::TaskEnded { task_sid, outcome: TaskOutcome::Canceled { reason } } => {
            let Ok(workspace) = workspace_of(shared, flow) else { return Ok(()) };
            let changes = TaskChanges {
                assignment_status: Some(AssignmentStatus::Canceled),
                reason: Some(reason.clone()),
                ..TaskChanges::default()
            };
            let done = router
                .update_task(workspace, *task_sid, changes, now)
                .await
                .map_err(|e| e.to_string())?;
            match done {
                // Already finished (or never made): there is nothing left to cancel.
                Ok(_) | Err(RouterRefusal::NotFound) | Err(RouterRefusal::Task(_)) => Ok(()),
                Err(other) => Err(format!("the task could not be canceled: {other}")),
            }
        }
        _ => Ok(()),
    }
}

/// The channel's content was erased (its `data_erased` at `seq`): so are the attributes of every
/// task it linked (Flex's copy of the customer's name, address and pre-engagement data), in the
/// tasks and in their events.
async fn erase_tasks(shared: &Shared, channel: Sid, seq: u64) -> Result<(), String> {
    let mut tasks = Vec::new();
    for record in shared
        .log
        .read::<Recorded>(channel, 0)
        .take_while(|r| r.as_ref().map_or(true, |r| r.seq() < seq))
    {
        if let ReplayRecord::Event { event, .. } = record.map_err(|e| e.to_string())? {
            if let ChannelEvent::TaskLinked { task_sid, .. } = event.event {
                tasks.push(task_sid);
            }
        }
    }
    let now = shared.clock.now();
    for task in tasks {
        let erased = shared.task_router.erase_task_attributes(task, now).await;
        match erased.map_err(|e| e.to_string())? {
            // Never made in TaskRouter (a flow without a workspace): nothing to erase.
            Ok(()) | Err(RouterRefusal::NotFound) | Err(RouterRefusal::Task(_)) => {}
            Err(other) => {
                return Err(format!("the task's attributes could not be erased: {other}"))
            }
        }
    }
    Ok(())
}

/// The flow's workspace, or the only one there is.
fn workspace_of(shared: &Shared, flow: &FlowView) -> Result<Sid, String> {
    if let Some(sid) = flow.config.integration.workspace_sid {
        return Ok(sid);
    }
    match shared.task_router.workspace_sids().as_slice() {
        [only] => Ok(*only),
        _ => Err(format!(
            "the flow {} names no Integration.WorkspaceSid and there is not exactly one workspace",
            flow.sid
        )),
    }
}

/// The task's attributes with the channel's SID as Flex has it (`channelSid`).
pub(super) fn with_channel(attributes: &str, channel: Sid) -> String {
    let mut document: Value =
        serde_json::from_str(attributes).unwrap_or(Value::Object(Default::default()));
    if let Value::Object(fields) = &mut document {
        fields.insert("channelSid".into(), Value::String(channel.to_string()));
    }
    document.to_string()
}
