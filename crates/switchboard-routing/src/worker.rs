//! TaskRouter Workers: an agent's presence (its activity), attributes and per-task-channel
//! capacity (its WorkerChannels), as an event-sourced aggregate in a stream named by its `WK` SID.
//!
//! What spans workers or needs the workspace is the caller's: the activity is resolved from the
//! workspace's activities and passed in whole (SID, name, `available`); friendly names are unique
//! per workspace (case-insensitively) across workers; the number of tasks a worker holds lives in
//! the tasks' reservations, so `Delete` is told it. Time comes in with the commands.

use serde::{Deserialize, Serialize};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::matching::{ChannelView, WorkerView};
use crate::task::check_attributes;

/// The capacity a new WorkerChannel gets on every task channel. Twilio's WorkerChannel starts at
/// 1; Flex admins raise chat/SMS capacity per agent afterwards, and the caller passes that in
/// (**[unverified]** whether a Flex workspace seeds a higher chat default).
pub const DEFAULT_CAPACITY: u32 = 1;
/// Our upper bound on a channel's capacity: a stranger sets it, and matching scans per slot.
pub const MAX_CAPACITY: u32 = 50;
/// Our bound on a worker's friendly name, in bytes.
pub const MAX_FRIENDLY_NAME_LEN: usize = 256;

/// A worker's activity as the workspace defines it, resolved by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub sid: Sid,
    pub name: String,
    /// Whether a worker in this activity can be offered tasks.
    pub available: bool,
}

/// A worker's capacity on one task channel (Twilio's WorkerChannel, `WC…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerChannel {
    pub sid: Sid,
    pub task_channel_sid: Sid,
    pub task_channel_unique_name: String,
    /// How many tasks (reserved, assigned or wrapping) the worker may hold on this channel; 0
    /// means none.
    pub configured_capacity: u32,
    pub available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerEvent {
    WorkerCreated {
        worker_sid: Sid,
        account_sid: Sid,
        workspace_sid: Sid,
        friendly_name: String,
        /// A JSON object as a string.
        attributes: String,
        activity: Activity,
        channels: Vec<WorkerChannel>,
        at: Timestamp,
    },
    /// `None` leaves a field as it is.
    WorkerUpdated {
        friendly_name: Option<String>,
        attributes: Option<String>,
    },
    /// The worker's activity changed at `at` (its `date_status_changed`, what "longest idle"
    /// orders by). `reject_pending_reservations` tells the caller to reject this worker's
    /// pending reservations; it is only ever true when the new activity is unavailable (OAI).
    ActivityChanged {
        activity: Activity,
        at: Timestamp,
        reject_pending_reservations: bool,
    },
    /// A task channel created after the worker gets its WorkerChannel.
    ChannelAdded {
        channel: WorkerChannel,
    },
    ChannelChanged {
        task_channel_sid: Sid,
        configured_capacity: u32,
        available: bool,
    },
    WorkerDeleted,
}

impl DomainEvent for WorkerEvent {
    fn type_name(&self) -> &'static str {
        match self {
            WorkerEvent::WorkerCreated { .. } => "worker_created",
            WorkerEvent::WorkerUpdated { .. } => "worker_updated",
            WorkerEvent::ActivityChanged { .. } => "worker_activity_changed",
            WorkerEvent::ChannelAdded { .. } => "worker_channel_added",
            WorkerEvent::ChannelChanged { .. } => "worker_channel_changed",
            WorkerEvent::WorkerDeleted => "worker_deleted",
        }
    }
}

/// A request to change one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerCommand {
    Create {
        worker_sid: Sid,
        account_sid: Sid,
        workspace_sid: Sid,
        friendly_name: String,
        attributes: String,
        /// The given `ActivitySid`, or the workspace's default activity.
        activity: Activity,
        /// One per task channel of the workspace, SIDs drawn by the caller.
        channels: Vec<WorkerChannel>,
        at: Timestamp,
    },
    /// `None` keeps a field; a change to nothing records nothing.
    Update {
        friendly_name: Option<String>,
        attributes: Option<String>,
    },
    SetActivity {
        activity: Activity,
        at: Timestamp,
        reject_pending_reservations: bool,
    },
    AddChannel(WorkerChannel),
    /// `None` keeps a field (the REST update takes `Capacity` and `Available` separately).
    SetChannel {
        task_channel_sid: Sid,
        capacity: Option<u32>,
        available: Option<bool>,
    },
    /// `held_tasks`: the reservations (pending, accepted or wrapping) the worker holds now, as
    /// the caller's matcher counts them; a worker holding any is not deleted.
    Delete {
        held_tasks: u32,
    },
}

/// Why a worker change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerRejection {
    #[error("the worker does not exist")]
    NotFound,
    #[error("the worker SID is already in use")]
    AlreadyExists,
    #[error("{0}")]
    Invalid(String),
    /// Twilio's words (LIVE); the caller, which holds every worker of the workspace, checks
    /// that friendly names are unique (case-insensitively) and answers with this.
    #[error("Worker with the same friendly name already exists")]
    DuplicateFriendlyName,
    #[error("the worker has no channel for task channel {0}")]
    UnknownChannel(Sid),
    /// **[unverified wording]**: Twilio refuses to delete a worker with live work; its exact
    /// message is not known to us.
    #[error("Worker {worker} cannot be deleted because it holds {held} pending or assigned tasks")]
    HoldsTasks { worker: Sid, held: u32 },
}

/// A worker as its events leave it; `Default` is "not created yet".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkerState {
    pub sid: Option<Sid>,
    pub account_sid: Option<Sid>,
    pub workspace_sid: Option<Sid>,
    pub friendly_name: String,
    pub attributes: String,
    pub activity: Option<Activity>,
    /// When the activity last changed (creation counts): what "longest idle" orders by.
    pub date_status_changed: Timestamp,
    /// In the order they were added.
    pub channels: Vec<WorkerChannel>,
    pub deleted: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// Counts changes, for `ETag`/`If-Match`.
    pub version: u64,
    pub events_applied: u64,
}

impl WorkerState {
    /// Whether the worker exists now (created and not deleted).
    pub fn is_live(&self) -> bool {
        self.sid.is_some() && !self.deleted
    }

    /// Whether its activity lets it be offered tasks.
    pub fn available(&self) -> bool {
        self.activity.as_ref().is_some_and(|a| a.available)
    }

    pub fn channel(&self, task_channel_sid: Sid) -> Option<&WorkerChannel> {
        self.channels.iter().find(|c| c.task_channel_sid == task_channel_sid)
    }

    /// What matching needs of this worker; `None` unless it is live.
    pub fn view(&self) -> Option<WorkerView> {
        let sid = self.sid.filter(|_| self.is_live())?;
        let channels = self
            .channels
            .iter()
            .map(|c| ChannelView {
                task_channel_sid: c.task_channel_sid,
                capacity: c.configured_capacity,
                available: c.available,
            })
            .collect();
        Some(WorkerView {
            sid,
            available: self.available(),
            idle_since: self.date_status_changed,
            channels,
        })
    }

    /// Total, like every `apply`: an event that makes no sense changes nothing.
    pub fn apply(&mut self, record: &Recorded<WorkerEvent>) {
        self.events_applied += 1;
        if !self.fold(&record.event) {
            return;
        }
        self.version += 1;
        self.date_updated = record.at;
    }

    /// Folds one event; false when it changed nothing.
    fn fold(&mut self, event: &WorkerEvent) -> bool {
        match event {
            WorkerEvent::WorkerCreated { .. } => return self.fold_created(event),
            _ if !self.is_live() => return false,
            WorkerEvent::WorkerUpdated { friendly_name, attributes } => {
                if let Some(name) = friendly_name {
                    self.friendly_name.clone_from(name);
                }
                if let Some(attributes) = attributes {
                    self.attributes.clone_from(attributes);
                }
            }
            WorkerEvent::ActivityChanged { activity, at, .. } => {
                self.activity = Some(activity.clone());
                self.date_status_changed = *at;
            }
            WorkerEvent::ChannelAdded { channel } => {
                if self.channel(channel.task_channel_sid).is_some() {
                    return false;
                }
                self.channels.push(channel.clone());
            }
            WorkerEvent::ChannelChanged { task_channel_sid, configured_capacity, available } => {
                let Some(channel) =
                    self.channels.iter_mut().find(|c| c.task_channel_sid == *task_channel_sid)
                else {
                    return false;
                };
                channel.configured_capacity = *configured_capacity;
                channel.available = *available;
            }
            WorkerEvent::WorkerDeleted => self.deleted = true,
        }
        true
    }

    fn fold_created(&mut self, event: &WorkerEvent) -> bool {
        let WorkerEvent::WorkerCreated {
            worker_sid,
            account_sid,
            workspace_sid,
            friendly_name,
            attributes,
            activity,
            channels,
            at,
        } = event
        else {
            return false;
        };
        if self.sid.is_some() {
            return false;
        }
        self.sid = Some(*worker_sid);
        self.account_sid = Some(*account_sid);
        self.workspace_sid = Some(*workspace_sid);
        self.friendly_name.clone_from(friendly_name);
        self.attributes.clone_from(attributes);
        self.activity = Some(activity.clone());
        self.channels.clone_from(channels);
        self.date_status_changed = *at;
        self.date_created = *at;
        true
    }
}

/// Checks a worker's friendly name on its own (uniqueness is the caller's).
fn check_friendly_name(name: &str) -> Result<(), WorkerRejection> {
    if name.trim().is_empty() {
        return Err(WorkerRejection::Invalid("FriendlyName must not be empty".into()));
    }
    if name.len() > MAX_FRIENDLY_NAME_LEN {
        return Err(WorkerRejection::Invalid(format!(
            "FriendlyName must be at most {MAX_FRIENDLY_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

fn check_capacity(capacity: u32) -> Result<(), WorkerRejection> {
    if capacity > MAX_CAPACITY {
        return Err(WorkerRejection::Invalid(format!(
            "Capacity must be between 0 and {MAX_CAPACITY}"
        )));
    }
    Ok(())
}

fn check_channels(channels: &[WorkerChannel]) -> Result<(), WorkerRejection> {
    for (i, channel) in channels.iter().enumerate() {
        check_capacity(channel.configured_capacity)?;
        if channels[..i].iter().any(|c| c.task_channel_sid == channel.task_channel_sid) {
            return Err(WorkerRejection::Invalid(format!(
                "task channel {} is given twice",
                channel.task_channel_sid
            )));
        }
    }
    Ok(())
}

fn invalid_attributes(message: String) -> WorkerRejection {
    WorkerRejection::Invalid(message)
}

/// A change to a worker, checked against its state.
pub fn decide_worker(
    state: &WorkerState,
    command: WorkerCommand,
) -> Result<Vec<WorkerEvent>, WorkerRejection> {
    match command {
        WorkerCommand::Create {
            worker_sid,
            account_sid,
            workspace_sid,
            friendly_name,
            attributes,
            activity,
            channels,
            at,
        } => {
            if state.sid.is_some() {
                return Err(WorkerRejection::AlreadyExists);
            }
            check_friendly_name(&friendly_name)?;
            check_attributes(&attributes).map_err(invalid_attributes)?;
            check_channels(&channels)?;
            Ok(vec![WorkerEvent::WorkerCreated {
                worker_sid,
                account_sid,
                workspace_sid,
                friendly_name,
                attributes,
                activity,
                channels,
                at,
            }])
        }
        _ if !state.is_live() => Err(WorkerRejection::NotFound),
        WorkerCommand::Update { friendly_name, attributes } => {
            decide_update(state, friendly_name, attributes)
        }
        WorkerCommand::SetActivity { activity, at, reject_pending_reservations } => {
            if state.activity.as_ref().is_some_and(|a| a.sid == activity.sid) {
                // The same activity again: its date stays, so the worker keeps its idle rank.
                return Ok(Vec::new());
            }
            let reject_pending_reservations = reject_pending_reservations && !activity.available;
            Ok(vec![WorkerEvent::ActivityChanged { activity, at, reject_pending_reservations }])
        }
        WorkerCommand::AddChannel(channel) => {
            if state.channel(channel.task_channel_sid).is_some() {
                return Ok(Vec::new());
            }
            check_capacity(channel.configured_capacity)?;
            Ok(vec![WorkerEvent::ChannelAdded { channel }])
        }
        WorkerCommand::SetChannel { task_channel_sid, capacity, available } => {
            decide_set_channel(state, task_channel_sid, capacity, available)
        }
        WorkerCommand::Delete { held_tasks } => {
            if held_tasks > 0 {
                let worker = state.sid.ok_or(WorkerRejection::NotFound)?;
                return Err(WorkerRejection::HoldsTasks { worker, held: held_tasks });
            }
            Ok(vec![WorkerEvent::WorkerDeleted])
        }
    }
}

fn decide_update(
    state: &WorkerState,
    friendly_name: Option<String>,
    attributes: Option<String>,
) -> Result<Vec<WorkerEvent>, WorkerRejection> {
    if let Some(name) = &friendly_name {
        check_friendly_name(name)?;
    }
    if let Some(attributes) = &attributes {
        check_attributes(attributes).map_err(invalid_attributes)?;
    }
    let friendly_name = friendly_name.filter(|n| *n != state.friendly_name);
    let attributes = attributes.filter(|a| *a != state.attributes);
    if friendly_name.is_none() && attributes.is_none() {
        return Ok(Vec::new());
    }
    Ok(vec![WorkerEvent::WorkerUpdated { friendly_name, attributes }])
}

fn decide_set_channel(
    state: &WorkerState,
    task_channel_sid: Sid,
    capacity: Option<u32>,
    available: Option<bool>,
) -> Result<Vec<WorkerEvent>, WorkerRejection> {
    let current =
        state.channel(task_channel_sid).ok_or(WorkerRejection::UnknownChannel(task_channel_sid))?;
    if let Some(capacity) = capacity {
        check_capacity(capacity)?;
    }
    // Capacity may drop below what the worker holds now: its tasks stay, and matching gives it
    // nothing more on the channel until it is under the new capacity (as Twilio does).
    let configured_capacity = capacity.unwrap_or(current.configured_capacity);
    let available = available.unwrap_or(current.available);
    if configured_capacity == current.configured_capacity && available == current.available {
        return Ok(Vec::new());
    }
    Ok(vec![WorkerEvent::ChannelChanged { task_channel_sid, configured_capacity, available }])
}

impl Aggregate for WorkerState {
    type Event = WorkerEvent;
    type Command = WorkerCommand;
    type Rejection = WorkerRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::WORKER;
    const NAME: &'static str = "worker";

    fn decide(&self, command: WorkerCommand) -> Result<Vec<WorkerEvent>, WorkerRejection> {
        decide_worker(self, command)
    }

    fn apply(&mut self, record: &Recorded<WorkerEvent>) {
        WorkerState::apply(self, record);
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

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn activity(n: u8, available: bool) -> Activity {
        let name = if available { "Available" } else { "Offline" };
        Activity { sid: sid(SidPrefix::ACTIVITY, n), name: name.into(), available }
    }

    fn channel(n: u8, capacity: u32) -> WorkerChannel {
        WorkerChannel {
            sid: sid(SidPrefix::WORKER_CHANNEL, n),
            task_channel_sid: sid(SidPrefix::TASK_CHANNEL, n),
            task_channel_unique_name: format!("channel{n}"),
            configured_capacity: capacity,
            available: true,
        }
    }

    fn create(name: &str, channels: Vec<WorkerChannel>) -> WorkerCommand {
        WorkerCommand::Create {
            worker_sid: sid(SidPrefix::WORKER, 1),
            account_sid: sid(SidPrefix::ACCOUNT, 1),
            workspace_sid: sid(SidPrefix::WORKSPACE, 1),
            friendly_name: name.into(),
            attributes: r#"{"skills":["en"]}"#.into(),
            activity: activity(1, false),
            channels,
            at: at(1),
        }
    }

    fn run(
        state: &mut WorkerState,
        now: i64,
        command: WorkerCommand,
    ) -> Result<Vec<WorkerEvent>, WorkerRejection> {
        let events = state.decide(command)?;
        for event in &events {
            state.apply(&Recorded::new(at(now), event.clone()));
        }
        Ok(events)
    }

    #[test]
    fn a_worker_changes_activity_and_capacity_and_shows_them_to_matching() {
        let mut worker = WorkerState::default();
        run(&mut worker, 1, create("alice", vec![channel(1, DEFAULT_CAPACITY), channel(2, 1)]))
            .unwrap();
        let view = worker.view().unwrap();
        assert!(!view.available);
        assert_eq!(view.idle_since, at(1));
        let events = run(
            &mut worker,
            5,
            WorkerCommand::SetActivity {
                activity: activity(2, true),
                at: at(5),
                reject_pending_reservations: true,
            },
        )
        .unwrap();
        assert!(
            matches!(
                &events[..],
                [WorkerEvent::ActivityChanged { reject_pending_reservations: false, .. }]
            ),
            "rejecting pending reservations applies only to an unavailable activity: {events:?}"
        );
        let same = WorkerCommand::SetActivity {
            activity: activity(2, true),
            at: at(9),
            reject_pending_reservations: false,
        };
        assert_eq!(run(&mut worker, 9, same), Ok(vec![]), "the same activity keeps its date");
        let chat = sid(SidPrefix::TASK_CHANNEL, 1);
        let set = |capacity| WorkerCommand::SetChannel {
            task_channel_sid: chat,
            capacity: Some(capacity),
            available: None,
        };
        run(&mut worker, 6, set(3)).unwrap();
        assert_eq!(run(&mut worker, 7, set(3)), Ok(vec![]));
        assert!(matches!(
            run(&mut worker, 7, set(MAX_CAPACITY + 1)),
            Err(WorkerRejection::Invalid(_))
        ));
        let view = worker.view().unwrap();
        assert!(view.available);
        assert_eq!((view.idle_since, view.channel(chat).unwrap().capacity), (at(5), 3));
        let offline = WorkerCommand::SetActivity {
            activity: activity(1, false),
            at: at(8),
            reject_pending_reservations: true,
        };
        let events = run(&mut worker, 8, offline).unwrap();
        assert!(matches!(
            &events[..],
            [WorkerEvent::ActivityChanged { reject_pending_reservations: true, .. }]
        ));
        assert_eq!(worker.version, 4);
    }

    #[test]
    fn decide_refuses_what_a_worker_cannot_do() {
        let mut worker = WorkerState::default();
        assert_eq!(
            run(&mut worker, 1, WorkerCommand::Delete { held_tasks: 0 }),
            Err(WorkerRejection::NotFound)
        );
        assert!(matches!(
            run(&mut worker, 1, create(" ", vec![])),
            Err(WorkerRejection::Invalid(_))
        ));
        let twice = vec![channel(1, 1), channel(1, 2)];
        assert!(matches!(
            run(&mut worker, 1, create("a", twice)),
            Err(WorkerRejection::Invalid(_))
        ));
        run(&mut worker, 1, create("alice", vec![channel(1, 1)])).unwrap();
        assert_eq!(
            run(&mut worker, 1, create("alice", vec![])),
            Err(WorkerRejection::AlreadyExists)
        );
        let bad = WorkerCommand::Update { friendly_name: None, attributes: Some("[1]".into()) };
        assert!(matches!(run(&mut worker, 2, bad), Err(WorkerRejection::Invalid(_))));
        let unknown = sid(SidPrefix::TASK_CHANNEL, 9);
        let set = WorkerCommand::SetChannel {
            task_channel_sid: unknown,
            capacity: Some(1),
            available: None,
        };
        assert_eq!(run(&mut worker, 2, set), Err(WorkerRejection::UnknownChannel(unknown)));
        let held = run(&mut worker, 3, WorkerCommand::Delete { held_tasks: 2 });
        assert!(matches!(held, Err(WorkerRejection::HoldsTasks { held: 2, .. })));
        assert!(worker.is_live());
        run(&mut worker, 4, WorkerCommand::Delete { held_tasks: 0 }).unwrap();
        assert_eq!(worker.view(), None);
    }

    #[test]
    fn a_workers_log_replays_from_its_stored_form() {
        let mut worker = WorkerState::default();
        let mut log = Vec::new();
        let commands = vec![
            create("alice", vec![channel(1, 1)]),
            WorkerCommand::Update { friendly_name: Some("Alice".into()), attributes: None },
            WorkerCommand::AddChannel(channel(2, 4)),
            WorkerCommand::AddChannel(channel(2, 9)),
            WorkerCommand::SetChannel {
                task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 2),
                capacity: None,
                available: Some(false),
            },
        ];
        for (i, command) in commands.into_iter().enumerate() {
            for event in run(&mut worker, i as i64, command).unwrap() {
                log.push(serde_json::to_string(&Recorded::new(at(i as i64), event)).unwrap());
            }
        }
        let mut replayed = WorkerState::default();
        for stored in &log {
            replayed.apply(&serde_json::from_str(stored).unwrap());
        }
        assert_eq!(replayed, worker);
        assert_eq!(worker.channels.len(), 2, "a channel is added once");
        assert_eq!(worker.friendly_name, "Alice");
    }
}
