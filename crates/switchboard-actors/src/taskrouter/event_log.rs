//! Each workspace's event log (`switchboard_routing::event_log`): appended under the router's
//! lock in the same group as the changes it records (`AppendGroup`: one flush makes both
//! durable or neither, so no change survives a crash without its events), read back by time
//! window for the Events resource, and followed by cursor for `EventCallbackUrl`
//! (`consumer/router_events.rs`), woken once what it covers is durable.
//!
//! Reads see only what is durable (each log's durable length, raised once a change's flush is
//! done): an event not yet durable could be taken back by a crash and its SID, which says its
//! place in the log, given to another event after it, so an SID once shown always names the
//! same event.
//!
//! A window is found by a binary search on the records' times (the log is in time order:
//! appended under one lock, each batch no earlier than the last), so a list reads the records
//! of its window and a few more, not the workspace's history.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use switchboard_domain::{Recorded, Sid, Timestamp};
use switchboard_routing::event_log::{
    event_sid, log_sid, record_of, seq_of, workspace_of, EventLogEvent, EventLogState, EventRecord,
    RecordEvents, Subject,
};
use switchboard_store::{AppendGroup, EventLog, ReplayRecord, StoreError};

use super::feed::{FeedItem, Subject as FeedSubject};
use crate::consumer::Wake;
use crate::streams::Streams;
use crate::workspaces::WorkspaceDirectory;
use crate::EngineError;

/// One event as the Events resource shows it.
#[derive(Debug, Clone)]
pub struct LoggedRouterEvent {
    pub sid: Sid,
    pub at: Timestamp,
    pub record: EventRecord,
}

/// Which events a list wants: a time window and equality filters on the event's parameters.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub since: Timestamp,
    pub until: Timestamp,
    /// Any of these types; all when empty.
    pub event_types: Vec<String>,
    /// (parameter, value) pairs that must all hold (`TaskSid`, `WorkerSid`, `ResourceSid`, …).
    pub equal: Vec<(String, String)>,
}

impl EventQuery {
    fn admits(&self, event: &LoggedRouterEvent) -> bool {
        let record = &event.record;
        (self.event_types.is_empty() || self.event_types.contains(&record.event_type))
            && self.equal.iter().all(|(name, value)| match name.as_str() {
                "ResourceSid" => record.resource_sid.to_string().eq_ignore_ascii_case(value),
                _ => record.get(name) == Some(value.as_str()),
            })
    }
}

/// Appends made under the lock, to tell the consumer about once durable: (log, next sequence).
pub(crate) type Appended = Vec<(Sid, u64)>;

/// A record to append to a workspace's log: (workspace, when, record).
pub(crate) type Recording = (Sid, Timestamp, EventRecord);

#[derive(Debug)]
pub(crate) struct EventLogs {
    streams: Streams<EventLogState>,
    /// How many events of each log are durable: what reads go up to.
    durable: RwLock<BTreeMap<Sid, u64>>,
    /// Where `EventCallbackUrl` delivery is woken (set once the consumers run).
    dispatcher: OnceLock<crate::consumer::Wakes>,
}

impl EventLogs {
    pub fn load(log: Arc<EventLog>) -> Result<EventLogs, EngineError> {
        let streams: Streams<EventLogState> = Streams::load(log)?;
        // At a start, the log holds only what is durable.
        let durable =
            streams.read().iter().map(|(sid, state)| (*sid, state.events_applied)).collect();
        Ok(EventLogs { streams, durable: RwLock::new(durable), dispatcher: OnceLock::new() })
    }

    pub fn set_dispatcher(&self, dispatcher: crate::consumer::Wakes) {
        let _ = self.dispatcher.set(dispatcher);
    }

    /// Appends each workspace's records to its log, in order, in `group`; returns what to tell
    /// [`EventLogs::made_durable`] once the group is durable.
    pub fn append(
        &self,
        records: Vec<Recording>,
        group: &AppendGroup<'_>,
    ) -> Result<Appended, EngineError> {
        let mut by_workspace: BTreeMap<Sid, (Timestamp, Vec<EventRecord>)> = BTreeMap::new();
        for (workspace, at, record) in records {
            let entry = by_workspace.entry(workspace).or_default();
            entry.0 = entry.0.max(at);
            entry.1.push(record);
        }
        let mut appended = Vec::new();
        for (workspace, (at, records)) in by_workspace {
            let log = log_sid(workspace);
            let at = self.streams.read().get(&log).map_or(at, |state| state.next_at(at));
            let written =
                self.streams.execute_logged(log, vec![RecordEvents(records)], at, group)?;
            let Ok(logged) = written;
            appended.push((log, logged.after.events_applied));
        }
        Ok(appended)
    }

    /// What was appended is durable: reads may show it, and `EventCallbackUrl` delivery is
    /// woken for it. (Changes made durable by one flush may say so in any order: a length only
    /// grows, and a later flush covers every earlier one.)
    pub fn made_durable(&self, appended: &Appended) {
        {
            let mut durable = self.durable.write().unwrap_or_else(|e| e.into_inner());
            for (log, length) in appended {
                let known = durable.entry(*log).or_default();
                *known = (*known).max(*length);
            }
        }
        self.wake(appended);
    }

    /// How many events of `workspace`'s log are durable.
    fn durable_length(&self, workspace: Sid) -> u64 {
        let durable = self.durable.read().unwrap_or_else(|e| e.into_inner());
        durable.get(&log_sid(workspace)).copied().unwrap_or_default()
    }

    /// Wakes `EventCallbackUrl` delivery for what was appended (now durable).
    fn wake(&self, appended: &Appended) {
        let Some(dispatcher) = self.dispatcher.get() else { return };
        for (log, until_seq) in appended {
            dispatcher.do_send(Wake::router_events(*log, 0, *until_seq));
        }
    }

    /// After a start: wakes delivery for each workspace with an `EventCallbackUrl` or a
    /// workflow with an `AssignmentCallbackUrl` whose log holds events past that consumer's
    /// cursor, or whose delivery never began (it then starts at the settings' last change).
    pub fn resume(&self, workspaces: &WorkspaceDirectory) -> Result<(), EngineError> {
        let log = self.streams.log();
        let heads: Vec<(Sid, u64)> =
            self.streams.read().iter().map(|(sid, state)| (*sid, state.events_applied)).collect();
        for (stream, head) in heads {
            let state = workspaces.get(workspace_of(stream)).unwrap_or_default();
            let events = state.live().and_then(|(_, s)| s.event_callback_url.as_ref()).is_some();
            let assignments =
                state.workflows.values().any(|w| w.record.assignment_callback_url.is_some());
            let consumers = [
                (events, crate::consumer::ROUTER_EVENT_CONSUMER),
                (assignments, crate::consumer::ASSIGNMENT_CONSUMER),
            ];
            for (configured, consumer) in consumers {
                if configured
                    && (!log.has_cursor(consumer, stream)? || log.cursor(consumer, stream)? < head)
                {
                    // At a start, the log holds only what is durable.
                    self.wake(&vec![(stream, u64::MAX)]);
                    break;
                }
            }
        }
        Ok(())
    }

    /// The event `sid` of `workspace`, if its log has it.
    pub fn fetch(
        &self,
        workspace: Sid,
        sid: Sid,
    ) -> Result<Option<LoggedRouterEvent>, EngineError> {
        let Some(seq) = seq_of(workspace, sid) else { return Ok(None) };
        if seq >= self.durable_length(workspace) {
            return Ok(None);
        }
        Ok(self.read_at(workspace, seq)?)
    }

    /// The events of `workspace` that `query` admits, oldest first, past the first `skip`:
    /// at most `take`, and whether there are more.
    pub fn list(
        &self,
        workspace: Sid,
        query: &EventQuery,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<LoggedRouterEvent>, bool), EngineError> {
        if query.since > query.until {
            return Ok((Vec::new(), false));
        }
        let log = self.streams.log();
        let first = self.first_at_or_after(workspace, query.since)?;
        let durable = self.durable_length(workspace);
        let mut page = Vec::new();
        let mut skipped = 0;
        let records = log.read::<Recorded<EventLogEvent>>(log_sid(workspace), first);
        for record in records.take(usize::try_from(durable.saturating_sub(first)).unwrap_or(0)) {
            let record = record?;
            let Some(event) = logged(workspace, record.seq(), record) else { continue };
            if event.at > query.until {
                break;
            }
            if !query.admits(&event) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
            } else if page.len() == take {
                return Ok((page, true));
            } else {
                page.push(event);
            }
        }
        Ok((page, false))
    }

    fn read_at(&self, workspace: Sid, seq: u64) -> Result<Option<LoggedRouterEvent>, StoreError> {
        let read = self.streams.log().read_at(log_sid(workspace), seq)?;
        Ok(read.and_then(|record| logged(workspace, seq, record)))
    }

    /// The first sequence whose event is at or after `since` (the log's durable length if none
    /// is).
    pub fn first_at_or_after(&self, workspace: Sid, since: Timestamp) -> Result<u64, StoreError> {
        let length = self.durable_length(workspace);
        let (mut low, mut high) = (0, length);
        while low < high {
            let middle = low + (high - low) / 2;
            // A record that no longer opens counts as early: the search moves past it.
            let early = self.read_at(workspace, middle)?.is_none_or(|event| event.at < since);
            if early {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }
}

/// The event-log records of what a change appended, as the workers' feed has it: each item
/// described with what it is about in its workspace's names.
pub(crate) fn records_of(items: &[FeedItem], workspaces: &WorkspaceDirectory) -> Vec<Recording> {
    items
        .iter()
        .filter_map(|item| {
            let (workspace, about) = match &item.subject {
                FeedSubject::Task(task) => (task.workspace_sid?, Subject::Task(task)),
                FeedSubject::Worker(worker) => (worker.workspace_sid?, Subject::Worker(worker)),
            };
            let source = (item.stream_sid, item.seq);
            workspaces.with(workspace, |state| {
                let record = record_of(&item.event, about, state, item.at, source);
                (workspace, item.at, record.keeping_task_attributes_apart())
            })
        })
        .collect()
}

fn logged(
    workspace: Sid,
    seq: u64,
    record: ReplayRecord<Recorded<EventLogEvent>>,
) -> Option<LoggedRouterEvent> {
    let ReplayRecord::Event { event, .. } = record else { return None };
    let EventLogEvent::Recorded(record) = event.event;
    Some(LoggedRouterEvent { sid: event_sid(workspace, seq), at: event.at, record })
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_domain::SidPrefix;
    use switchboard_store::{Durability, StoreConfig};

    use super::*;

    fn open(dir: &std::path::Path) -> Arc<EventLog> {
        let mut config = StoreConfig::new(dir.join("data"));
        config.durability = Durability::Flush;
        Arc::new(EventLog::open(config, MasterKey::from_bytes([3; 32])).unwrap())
    }

    fn record(task: Sid) -> EventRecord {
        EventRecord {
            event_type: "task.created".to_owned(),
            resource_type: "Task".to_owned(),
            resource_sid: task,
            description: String::new(),
            data: vec![("TaskSid".to_owned(), task.to_string())],
            source_sid: task,
            source_seq: 0,
        }
    }

    /// An event appended but not yet durable is neither listed nor fetched: a crash could take
    /// it back and give its SID to another event. Once its group's flush is done, both show it,
    /// and so does a log loaded again.
    #[test]
    fn only_durable_events_are_listed_and_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let logs = EventLogs::load(Arc::clone(&log)).unwrap();
        let workspace = Sid::from_parts(SidPrefix::WORKSPACE, [1; 16]);
        let task = Sid::from_parts(SidPrefix::TASK, [2; 16]);
        let at = Timestamp::from_millis(1_000);
        let query = EventQuery { since: at, until: at, ..EventQuery::default() };
        let group = log.group();
        let appended = logs.append(vec![(workspace, at, record(task))], &group).unwrap();
        let listed = |logs: &EventLogs| logs.list(workspace, &query, 0, 10).unwrap().0.len();
        let sid = event_sid(workspace, 0);
        assert_eq!(listed(&logs), 0, "appended, not durable");
        assert!(logs.fetch(workspace, sid).unwrap().is_none());
        assert_eq!(logs.first_at_or_after(workspace, at).unwrap(), 0);
        log.wait_durable_blocking(group.finish().unwrap()).unwrap();
        logs.made_durable(&appended);
        assert_eq!(listed(&logs), 1);
        let fetched = logs.fetch(workspace, sid).unwrap().unwrap();
        assert_eq!(fetched.record, record(task));
        let again = EventLogs::load(log).unwrap();
        assert_eq!(listed(&again), 1, "what a start loads is durable");
    }
}
