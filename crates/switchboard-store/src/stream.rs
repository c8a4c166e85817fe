//! `StreamLog`: one stream of any kind (`Aggregate`) with its state kept in step: the one way a
//! stream is run. It decides commands through the kind's `decide`, appends the events with the
//! index changes they imply, folds them in and, for kinds that keep them, writes a snapshot every
//! `snapshot_every` events. Whoever holds it is the only writer of its stream (a channel's actor,
//! a directory under its lock); the log's expected sequence turns a second writer into
//! `Conflict`, never a fork.

use switchboard_domain::{Aggregate, Cause, ChannelState, IndexEntry, Recorded, Sid, Timestamp};

use crate::log::{AppendGroup, EventLog, IndexChanges};
use crate::replay::ReplayRecord;
use crate::{FlushTicket, StoreError};

/// What a command did: the events it appended (possibly none) and the ticket to wait on (none
/// when nothing was appended, or when the append was made in a group, whose ticket covers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed<E = switchboard_domain::ChannelEvent> {
    pub events: Vec<E>,
    /// When they happened (every event of one command has the same time).
    pub at: Timestamp,
    pub first_seq: u64,
    pub ticket: Option<FlushTicket>,
}

/// One stream's state and its place in the log.
#[derive(Debug, Clone)]
pub struct StreamLog<A> {
    sid: Sid,
    state: A,
    /// How many events the latest snapshot written or loaded covers.
    snapshot_at: u64,
}

/// A chat channel's stream: what a channel actor holds.
pub type ChannelLog = StreamLog<ChannelState>;

impl<A: Aggregate> StreamLog<A> {
    /// A stream that does not exist yet.
    pub fn new(sid: Sid) -> StreamLog<A> {
        StreamLog { sid, state: A::default(), snapshot_at: 0 }
    }

    /// Rehydrates a stream from its latest snapshot (for kinds that keep them) and the events
    /// after it.
    pub fn load(log: &EventLog, sid: Sid) -> Result<StreamLog<A>, StoreError> {
        let snapshot = if A::SNAPSHOTS { log.load_snapshot::<A>(sid)? } else { None };
        let (mut state, from) = match snapshot {
            Some((events_applied, state)) if state.events_applied() == events_applied => {
                (state, events_applied)
            }
            _ => (A::default(), 0),
        };
        for item in log.read::<Recorded<A::Event>>(sid, from) {
            match item? {
                ReplayRecord::Event { event, .. } => state.apply(&event),
                // Only the erasure marker after a shred is readable; it erases the state.
                ReplayRecord::Shredded { .. } => state.skip_unreadable(),
            }
        }
        let mut stream = StreamLog { sid, state, snapshot_at: from };
        stream.settle_after_upgrade(log, from);
        Ok(stream)
    }

    /// What a stream last written by an older build lacks, made good on its first load: the
    /// entries its kind claims (`Aggregate::claimed_on_load`), and a snapshot of the current
    /// version when the older one was passed over (or none was usable), so the next load does
    /// not replay the whole log again. Derived data only: a failure is logged and the stream
    /// loads all the same.
    fn settle_after_upgrade(&mut self, log: &EventLog, replayed_from: u64) {
        let claimed = self.state.claimed_on_load();
        if !claimed.is_empty() {
            if let Err(error) = log.claim_index_entries(&claimed) {
                tracing::warn!(stream = %self.sid, %error, "could not claim the stream's index entries");
            }
        }
        let every = log.config().snapshot_every.max(1);
        if replayed_from == 0 && self.state.events_applied() >= every {
            self.save_snapshot(log);
        }
    }

    /// Writes a snapshot if at least `min_events` events came after the latest one: for a
    /// stream about to stop (hibernation, a clean stop of the daemon), so that its next load
    /// replays at most that many instead of up to `snapshot_every`. Derived data: a failure is
    /// logged, and the next load replays more.
    pub fn snapshot_if_behind(&mut self, log: &EventLog, min_events: u64) {
        if self.state.events_applied().saturating_sub(self.snapshot_at) >= min_events.max(1) {
            self.save_snapshot(log);
        }
    }

    fn save_snapshot(&mut self, log: &EventLog) {
        // A kind that keeps none writes none; an erased channel's key is gone: there is nothing
        // a snapshot could be sealed with.
        if !A::SNAPSHOTS || !self.state.sealable() {
            return;
        }
        match log.save_snapshot(self.sid, self.state.events_applied(), &self.state) {
            Ok(()) => self.snapshot_at = self.state.events_applied(),
            // A missing snapshot only makes the next rehydration longer: never a failure of
            // what the stream did.
            Err(error) => tracing::warn!(stream = %self.sid, %error, "could not write a snapshot"),
        }
    }

    pub fn sid(&self) -> Sid {
        self.sid
    }

    pub fn state(&self) -> &A {
        &self.state
    }

    /// Runs `command` at time `at`. A rejection is the inner `Err`; storage failures the outer.
    /// The caller must wait on the ticket before acknowledging.
    pub fn execute(
        &mut self,
        log: &EventLog,
        command: A::Command,
        at: Timestamp,
    ) -> Result<Result<Executed<A::Event>, A::Rejection>, StoreError> {
        self.execute_all(log, vec![command], at)
    }

    /// Runs several commands as one: each is decided against the state the previous ones leave,
    /// and either all their events are appended in one atomic write or, if any is rejected, none.
    pub fn execute_all(
        &mut self,
        log: &EventLog,
        commands: Vec<A::Command>,
        at: Timestamp,
    ) -> Result<Result<Executed<A::Event>, A::Rejection>, StoreError> {
        self.execute_caused(log, commands, at, None)
    }

    /// `execute_all`, recording `cause` with every event it appends.
    pub fn execute_caused(
        &mut self,
        log: &EventLog,
        commands: Vec<A::Command>,
        at: Timestamp,
        cause: Option<Cause>,
    ) -> Result<Result<Executed<A::Event>, A::Rejection>, StoreError> {
        self.execute_in(log, None, commands, (at, cause))
    }

    /// `execute_caused`, appending in `group` when there is one: then the executed change has
    /// no ticket of its own (the group's [`AppendGroup::finish`] gives the one to wait on).
    pub fn execute_in(
        &mut self,
        log: &EventLog,
        group: Option<&AppendGroup<'_>>,
        commands: Vec<A::Command>,
        (at, cause): (Timestamp, Option<Cause>),
    ) -> Result<Result<Executed<A::Event>, A::Rejection>, StoreError> {
        let mut next = self.state.clone();
        let mut records = Vec::new();
        let mut pending = Vec::new();
        for command in commands {
            let (events, folded) = match next.decide_folded(command, at) {
                Ok(decided) => decided,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let records_before = records.len();
            records.extend(events.into_iter().map(|e| Recorded::caused(at, e, cause.clone())));
            match folded {
                // Folded as it decided: nothing is left to settle.
                Some(folded) => {
                    next = folded;
                    pending.resize_with(records.len(), A::Pending::default);
                }
                None => {
                    for record in &records[records_before..] {
                        pending.push(next.apply_tentatively(record));
                    }
                }
            }
        }
        let first_seq = self.state.events_applied();
        let events: Vec<A::Event> = records.iter().map(|r| r.event.clone()).collect();
        if records.is_empty() {
            return Ok(Ok(Executed { events, at, first_seq, ticket: None }));
        }
        let mut changes = index_diff(&self.state.index_entries(), &next.index_entries());
        for event in &events {
            changes.put.extend(A::event_index_entries(event, self.sid));
        }
        let ticket = match group {
            Some(group) => {
                log.append_in(group, self.sid, first_seq, (&records, &changes))?;
                None
            }
            None => Some(log.append(self.sid, first_seq, &records, &changes)?.ticket),
        };
        let every = log.config().snapshot_every.max(1);
        let crossed = first_seq / every != next.events_applied() / every;
        // The old state let go, what `settle` adds is this state's alone: added in place.
        self.state = next;
        for (record, pending) in records.iter().zip(pending) {
            self.state.settle(record, pending);
        }
        if crossed {
            self.save_snapshot(log);
        }
        Ok(Ok(Executed { events, at, first_seq, ticket }))
    }
}

fn index_diff(before: &[IndexEntry], after: &[IndexEntry]) -> IndexChanges {
    IndexChanges {
        put: after.iter().filter(|e| !before.contains(e)).cloned().collect(),
        delete: before.iter().filter(|e| !after.contains(e)).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{
        FlowCommand, FlowConfig, FlowRejection, FlowState, IndexKind, Integration, IntegrationType,
        SidPrefix, UserCommand, UserRejection, UserState,
    };

    use super::*;
    use crate::layout::{stream_prefix, SNAPSHOT};
    use crate::StoreConfig;

    fn open(snapshot_every: u64) -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path().join("data"));
        config.snapshot_every = snapshot_every;
        let log = EventLog::open(config, MasterKey::generate()).unwrap();
        (dir, log)
    }

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn create_user(user: Sid, service: Sid, identity: &str) -> UserCommand {
        UserCommand::Create {
            user_sid: user,
            service_sid: service,
            identity: identity.into(),
            friendly_name: None,
            attributes: "{}".into(),
            role_sid: None,
        }
    }

    #[test]
    fn a_user_stream_keeps_its_index_entries_in_step_and_reloads_as_it_was() {
        let (_dir, log) = open(2);
        let (user, service) = (sid(SidPrefix::USER, 1), sid(SidPrefix::SERVICE, 1));
        let channel = sid(SidPrefix::CHANNEL, 1);
        let mut stream = StreamLog::<UserState>::new(user);
        let join = UserCommand::JoinChannel {
            channel_sid: channel,
            member_sid: sid(SidPrefix::MEMBER, 1),
        };
        let done = stream
            .execute_all(
                &log,
                vec![create_user(user, service, "alice"), join.clone()],
                Timestamp(1),
            )
            .unwrap()
            .unwrap();
        assert_eq!((done.first_seq, done.events.len()), (0, 2));
        assert!(done.ticket.is_some());
        let found = log.lookup(IndexKind::UserIdentity, Some(service), "alice").unwrap();
        assert_eq!(found.map(|(s, _)| s), Some(user), "the state's entry is written with it");
        let again = stream.execute(&log, join, Timestamp(2)).unwrap().unwrap();
        assert_eq!(
            (again.events.len(), again.ticket),
            (0, None),
            "a redundant join records nothing"
        );
        let refused =
            stream.execute(&log, create_user(user, service, "bob"), Timestamp(3)).unwrap();
        assert!(matches!(refused, Err(UserRejection::Invalid(_))));
        stream.execute(&log, UserCommand::Delete, Timestamp(4)).unwrap().unwrap();
        assert_eq!(log.lookup(IndexKind::UserIdentity, Some(service), "alice").unwrap(), None);
        let reloaded = StreamLog::<UserState>::load(&log, user).unwrap();
        assert_eq!(reloaded.state(), stream.state());
        assert_eq!(reloaded.state().events_applied, 3);
        // Users keep snapshots (an agent's user is long-lived): the reload above started from
        // the one written at the second event, and replayed the deletion after it.
        assert!(log.tree().get(stream_prefix(SNAPSHOT, user)).unwrap().is_some());
        let conflict = StreamLog::<UserState>::new(user).execute(
            &log,
            create_user(user, service, "c"),
            Timestamp(5),
        );
        assert!(matches!(conflict, Err(StoreError::Conflict { .. })), "a second writer is refused");
    }

    /// A kind that folds its events as it decides and marks the copy it hands back, so a test
    /// sees which state the store kept.
    #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Tally {
        total: u64,
        events_applied: u64,
        folded_by_decide: bool,
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct Added(u64);

    impl switchboard_domain::DomainEvent for Added {
        fn type_name(&self) -> &'static str {
            "added"
        }
    }

    impl Aggregate for Tally {
        type Event = Added;
        type Command = Vec<u64>;
        type Rejection = ();
        type Pending = ();
        const PREFIX: SidPrefix = SidPrefix::USER;
        const NAME: &'static str = "tally";

        fn decide(&self, command: Vec<u64>) -> Result<Vec<Added>, ()> {
            Ok(command.into_iter().map(Added).collect())
        }

        fn decide_folded(
            &self,
            command: Vec<u64>,
            at: Timestamp,
        ) -> Result<(Vec<Added>, Option<Tally>), ()> {
            let events = self.decide(command)?;
            let mut folded = self.clone();
            for event in &events {
                folded.apply(&Recorded::new(at, event.clone()));
            }
            folded.folded_by_decide = true;
            Ok((events, Some(folded)))
        }

        fn apply(&mut self, record: &Recorded<Added>) {
            self.total += record.event.0;
            self.events_applied += 1;
        }

        fn events_applied(&self) -> u64 {
            self.events_applied
        }

        fn skip_unreadable(&mut self) {
            self.events_applied += 1;
        }
    }

    #[test]
    fn a_kind_that_folds_as_it_decides_is_kept_as_it_folded() {
        let (_dir, log) = open(64);
        let tally = sid(SidPrefix::USER, 9);
        let mut stream = StreamLog::<Tally>::new(tally);
        let batch = vec![vec![2, 3], vec![5]];
        let done = stream.execute_all(&log, batch, Timestamp(1)).unwrap().unwrap();
        assert_eq!((done.first_seq, done.events.len()), (0, 3));
        let folded = Tally { total: 10, events_applied: 3, folded_by_decide: true };
        assert_eq!(stream.state(), &folded, "the decision's own fold, not the store's");
        // The log holds the events: a replay folds them as `apply` does.
        let reloaded = StreamLog::<Tally>::load(&log, tally).unwrap();
        assert_eq!(reloaded.state(), &Tally { folded_by_decide: false, ..folded });
    }

    #[test]
    fn a_rejected_command_in_a_batch_appends_nothing() {
        let (_dir, log) = open(64);
        let flow = sid(SidPrefix::FLEX_FLOW, 1);
        let config = FlowConfig {
            friendly_name: "web".into(),
            chat_service_sid: sid(SidPrefix::SERVICE, 1),
            channel_type: switchboard_domain::ChannelType::Web,
            contact_identity: None,
            enabled: true,
            integration_type: IntegrationType::Task,
            integration: Integration::default(),
            long_lived: false,
            janitor_enabled: true,
        };
        let mut stream = StreamLog::<FlowState>::new(flow);
        let create = FlowCommand::Create { flow_sid: flow, config };
        let batch = vec![create.clone(), create];
        let refused = stream.execute_all(&log, batch, Timestamp(1)).unwrap();
        assert!(matches!(refused, Err(FlowRejection::Invalid(_))));
        assert_eq!(log.next_seq(flow).unwrap(), 0);
        assert_eq!(stream.state(), &FlowState::default());
    }
}
