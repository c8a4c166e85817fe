//! Flex's chat orchestration: what a TaskRouter task's state means for its chat channel (the
//! task's `channelSid` attribute). Assigned or wrapping: the worker is a member of the channel
//! (identity: its `contact_uri` attribute without `client:`, else its friendly name); wrapping:
//! the channel is inactive; completed: inactive, the worker no longer a member, and the
//! channel's own task ended; canceled: the channel's task ended with the reason.
//!
//! Transfers are Flex's new-task pattern: a second task naming the same channel (with
//! `transferTargetType`, `targetSid`, `ignoreAgent`, routed by the workflow, e.g. to
//! `known_worker_sid`). While open it is linked to the channel, so the first task's wrap-up or
//! completion leaves the channel active for the next agent, and neither the janitor nor the end
//! of the first interaction retires it; the first agent leaves when their task completes (cold:
//! at once, warm: after staying on with the second). The channel goes inactive when the last of
//! its tasks wraps up or completes, or when a transfer is canceled with no other task open (the
//! interaction ended with the task before it), janitor or not.
//!
//! Derived from the task's state and carried out idempotently (what is already so is left), so
//! it is run after every answer or update of a task, and again at every start for each task in
//! memory whose channel, as the start reads it from the log, is out of line with it: a crash
//! between a task's change and its channel's is made good then, without waking the channels
//! that are in line (all of them but those a crash left behind).

use switchboard_domain::{
    ChannelCommand, ChannelState, ChannelStatus, Sid, SidPrefix, TaskOutcome,
};
use switchboard_routing::task::{AssignmentStatus, TaskState};

use crate::ids::new_sid;
use crate::{Engine, EngineError};

/// Brings the task's channel, if it names one, in line with the task.
pub(crate) async fn orchestrate(engine: &Engine, task: &TaskState) -> Result<(), EngineError> {
    let Some(channel_sid) = channel_of(task) else { return Ok(()) };
    let Some(channel) = engine.channels().state(channel_sid).await? else { return Ok(()) };
    let commands = commands_for(engine, task, &channel);
    if commands.is_empty() {
        return Ok(());
    }
    if let Err(rejection) = engine.channels().execute(channel_sid, commands).await? {
        // The channel moved on meanwhile (erased, deleted): nothing left to bring in line.
        tracing::warn!(channel = %channel_sid, %rejection, "a task's channel was left as it is");
    }
    Ok(())
}

/// Whether a task, as a deadline left it, may have something to change in its channel. One left
/// pending or reserved (a workflow step's or a reservation's timeout) has not: all it could ask
/// of its channel is the link, made when the task was made or transferred (and made good at a
/// start if a crash lost it). Reading the channel anyway woke every hibernating channel whose
/// task moved to its next step, all at once after a restart.
pub(crate) fn may_change_its_channel(task: &TaskState) -> bool {
    !matches!(task.assignment_status, AssignmentStatus::Pending | AssignmentStatus::Reserved)
}

/// Whether `channel` (as read at a start) is out of line with `task`: there is something for
/// [`orchestrate`] to do.
pub(crate) fn out_of_line(engine: &Engine, task: &TaskState, channel: &ChannelState) -> bool {
    !commands_for(engine, task, channel).is_empty()
}

/// The channel SID in the task's `channelSid` attribute, if it is one.
pub(crate) fn channel_of(task: &TaskState) -> Option<Sid> {
    let attributes: serde_json::Value = serde_json::from_str(&task.attributes).ok()?;
    let sid: Sid = attributes.get("channelSid")?.as_str()?.parse().ok()?;
    (sid.prefix() == SidPrefix::CHANNEL).then_some(sid)
}

fn commands_for(engine: &Engine, task: &TaskState, channel: &ChannelState) -> Vec<ChannelCommand> {
    let agent = task.holding_reservation().or_else(|| task.reservations.last()).and_then(|r| {
        let workspace = task.workspace_sid?;
        engine.task_router().worker_identity(workspace, r.worker_sid)
    });
    let member = |identity: &str| {
        channel.members.iter().find(|(_, m)| m.identity == identity).map(|(sid, _)| *sid)
    };
    let task_open = task.sid.is_some_and(|sid| channel.open_tasks.contains_key(&sid));
    // Another task of the channel still open: a transfer, whose agent the channel waits for.
    let others_open = channel.open_tasks.keys().any(|sid| Some(*sid) != task.sid);
    let deactivate = !others_open && channel.status == ChannelStatus::Active;
    let mut commands = Vec::new();
    if let Some(link) = link_command(task, channel, task_open) {
        commands.push(link);
    }
    match task.assignment_status {
        AssignmentStatus::Assigned | AssignmentStatus::Wrapping => {
            if let Some(identity) = agent.filter(|i| member(i).is_none()) {
                commands.push(ChannelCommand::AddMember {
                    member_sid: new_sid(SidPrefix::MEMBER),
                    identity,
                    role_sid: None,
                    attributes: "{}".to_owned(),
                });
            }
            if task.assignment_status == AssignmentStatus::Wrapping && deactivate {
                commands.push(ChannelCommand::Deactivate);
            }
        }
        AssignmentStatus::Completed => {
            if deactivate {
                commands.push(ChannelCommand::Deactivate);
            }
            if let Some(member_sid) = agent.as_deref().and_then(member) {
                commands.push(ChannelCommand::RemoveMember { member_sid });
            }
            if let (true, Some(task_sid)) = (task_open, task.sid) {
                commands
                    .push(ChannelCommand::EndTask { task_sid, outcome: TaskOutcome::Completed });
            }
        }
        AssignmentStatus::Canceled => {
            // A transfer canceled with no other task of the channel open: the interaction ended
            // with the task before it, and the channel goes inactive as it would have then.
            // (With the janitor on, ending the channel's last task does it too.)
            if deactivate && is_transfer(task) {
                commands.push(ChannelCommand::Deactivate);
            }
            if let (true, Some(task_sid)) = (task_open, task.sid) {
                let reason = task.reason.clone().unwrap_or_default();
                commands.push(ChannelCommand::EndTask {
                    task_sid,
                    outcome: TaskOutcome::Canceled { reason },
                });
            }
        }
        AssignmentStatus::Pending | AssignmentStatus::Reserved => {}
    }
    commands
}

/// Whether the task is a transfer's: Flex names where it goes in `transferTargetType`.
fn is_transfer(task: &TaskState) -> bool {
    serde_json::from_str::<serde_json::Value>(&task.attributes)
        .is_ok_and(|attributes| attributes.get("transferTargetType").is_some())
}

/// Links an open task the channel does not know yet (a transfer's, or one made over the REST
/// API for the channel) while the channel is active, so the channel counts it as its own.
fn link_command(task: &TaskState, channel: &ChannelState, linked: bool) -> Option<ChannelCommand> {
    let open = matches!(
        task.assignment_status,
        AssignmentStatus::Pending | AssignmentStatus::Reserved | AssignmentStatus::Assigned
    );
    if linked || !open || !task.is_live() || channel.status != ChannelStatus::Active {
        return None;
    }
    Some(ChannelCommand::LinkTask {
        task_sid: task.sid?,
        attributes: task.attributes.clone(),
        priority: i64::from(task.priority),
        timeout_secs: u64::from(task.timeout_secs),
    })
}
