//! `Streams`: every stream of one kind (flows, services, workspaces) kept in memory, or for a kind
//! with a stream per customer (users, TaskRouter's tasks, Studio's executions) those its owner
//! keeps, the rest read from the log when asked for; all run through the store's `StreamLog`, the
//! one way any stream is run. Reads take a shared lock;
//! changes are serialized by a writer's lock, which is also where a rule spanning the kind's
//! streams (one enabled flow per address, one user per identity) is checked, and are appended
//! outside the shared lock so readers never wait on the log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use switchboard_domain::{Aggregate, Sid, Timestamp};
use switchboard_store::{AppendGroup, EventLog, FlushTicket, StreamLog};

use crate::EngineError;

/// A change that was decided: the stream's state after it and, if anything was appended, the
/// ticket to wait on before telling anyone.
pub(crate) type Written<A> =
    Result<Result<(A, Option<FlushTicket>), <A as Aggregate>::Rejection>, EngineError>;

/// What a load asks of each stream of a partly held kind: whether to hold it in memory.
pub(crate) type Keep<'a, A> = dyn FnMut(Sid, &A) -> bool + 'a;

#[derive(Debug)]
pub(crate) struct Streams<A> {
    log: Arc<EventLog>,
    /// Each stream in a box of its own: a map's node has room for eleven values, about a third
    /// of them empty, and a state of a few hundred bytes in each slot made that empty room cost
    /// more than the box's pointer (a user or a task per customer: `memory.rs`).
    all: RwLock<BTreeMap<Sid, Held<A>>>,
    writing: Mutex<()>,
    /// The bytes a state holds (`memory.rs`), and their sum over `all`, kept as states change so
    /// that reporting it walks no stream.
    footprint: fn(&A) -> usize,
    held: AtomicUsize,
    /// Whether some of the kind's streams live only in the log (`load_kept`): only then is a
    /// stream missing from memory read from the log before it changes. A kind held whole
    /// creates new streams without reading anything.
    partial: bool,
    /// For a kind with a stream per customer, written rarely (users): the streams written since
    /// the log last forgot their cached head and key, oldest first (`forget_written`). `None`:
    /// the log keeps them, as for kinds of few streams.
    written: Option<Mutex<VecDeque<Sid>>>,
    /// How many states were read from the log without being kept ([`Streams::read_from_log`]).
    reads_from_log: AtomicUsize,
}

impl<A: Aggregate> Streams<A> {
    /// Folds every stream of the kind from the log.
    pub fn load(log: Arc<EventLog>) -> Result<Streams<A>, EngineError> {
        Streams::load_counted(log, |_| 0)
    }

    /// [`Streams::load`], counting the bytes each state holds with `footprint`.
    pub fn load_counted(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
    ) -> Result<Streams<A>, EngineError> {
        Streams::load_where(log, footprint, None)
    }

    /// [`Streams::load_counted`], keeping in memory only the streams `keep` wants (a kind
    /// whose finished streams are many, such as tasks, keeps its open ones): the others are
    /// read from the log when asked for ([`Streams::fetch`]).
    pub fn load_kept(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
        keep: fn(&A) -> bool,
    ) -> Result<Streams<A>, EngineError> {
        Streams::load_where(log, footprint, Some(&mut |_, state: &A| keep(state)))
    }

    /// [`Streams::load_kept`] with a `keep` that also sees each stream's SID, and may note what
    /// it wants of every stream as it goes (a directory's compact record of each).
    pub fn load_visiting(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
        keep: &mut Keep<'_, A>,
    ) -> Result<Streams<A>, EngineError> {
        Streams::load_where(log, footprint, Some(keep))
    }

    /// [`Streams::load_kept`] for a kind that knows which of its streams to keep without
    /// reading the others (a listing of the open ones): only `sids` are read, and those the log
    /// has no record of are left out.
    pub fn load_listed(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
        sids: impl IntoIterator<Item = Sid>,
    ) -> Result<Streams<A>, EngineError> {
        let mut all = BTreeMap::new();
        for sid in sids {
            let loaded = StreamLog::<A>::load(&log, sid)?;
            if loaded.state().events_applied() > 0 {
                all.insert(sid, Box::new(loaded));
            }
        }
        Ok(Streams::holding(log, footprint, all, true))
    }

    fn load_where(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
        mut keep: Option<&mut Keep<'_, A>>,
    ) -> Result<Streams<A>, EngineError> {
        let mut all = BTreeMap::new();
        let partial = keep.is_some();
        for stream in log.streams() {
            let stream = stream?;
            if stream.prefix() == A::PREFIX {
                let loaded = StreamLog::load(&log, stream)?;
                if keep.as_mut().is_none_or(|keep| keep(stream, loaded.state())) {
                    all.insert(stream, Box::new(loaded));
                } else {
                    // Reading it cached its head and key: a stream left in the log keeps
                    // neither (a head not folded yet stays, to be read as needed).
                    log.forget(stream);
                }
            }
        }
        Ok(Streams::holding(log, footprint, all, partial))
    }

    fn holding(
        log: Arc<EventLog>,
        footprint: fn(&A) -> usize,
        all: BTreeMap<Sid, Held<A>>,
        partial: bool,
    ) -> Streams<A> {
        let held = all.values().map(|s| footprint(s.state())).sum::<usize>().into();
        Streams {
            log,
            all: RwLock::new(all),
            writing: Mutex::new(()),
            footprint,
            held,
            partial,
            written: None,
            reads_from_log: AtomicUsize::new(0),
        }
    }

    /// Has the log forget each stream's cached head and key soon after the stream is written
    /// (they are read again from the store on its next write): a kind with a stream per
    /// customer (users, and TaskRouter's tasks) would otherwise keep about 260 bytes a stream
    /// in the log's caches for the daemon's life, as its streams never hibernate (`memory.rs`).
    pub fn forgetting_caches(mut self) -> Streams<A> {
        // Loading read every stream held, which cached its head and key: they go as written ones.
        let loaded = self.all.get_mut().unwrap_or_else(|e| e.into_inner()).keys().copied();
        self.written = Some(Mutex::new(loaded.collect()));
        self
    }

    /// Forgets the log's caches of every stream written since they were last forgotten whose
    /// head has been folded into the store; the others wait for the next call. Run now and
    /// then, so that the last streams written before a quiet spell are forgotten too.
    pub fn forget_written(&self) {
        let _writing = self.writer();
        if let Some(written) = &self.written {
            let mut written = written.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..written.len() {
                self.forget_oldest_written(&mut written);
            }
        }
    }

    /// Notes that `sid` was written, and forgets what it can of the streams written before: two
    /// looks a write keep the queue from growing with the writes.
    fn note_written(&self, sid: Sid) {
        if let Some(written) = &self.written {
            let mut written = written.lock().unwrap_or_else(|e| e.into_inner());
            written.push_back(sid);
            for _ in 0..2 {
                self.forget_oldest_written(&mut written);
            }
        }
    }

    /// The oldest stream written is forgotten by the log, or, with its head not folded yet (it
    /// was written again, or the flusher has not come to it), goes to the back of the queue.
    fn forget_oldest_written(&self, written: &mut VecDeque<Sid>) {
        if let Some(sid) = written.pop_front() {
            if !self.log.forget(sid) {
                written.push_back(sid);
            }
        }
    }

    /// Streams written and not forgotten by the log yet (`forgetting_caches`).
    #[cfg(test)]
    pub fn waiting_to_be_forgotten(&self) -> usize {
        self.written.as_ref().map_or(0, |w| w.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// How many times a state was read from the log without being kept (fetched, listed).
    pub fn reads_from_log(&self) -> usize {
        self.reads_from_log.load(Ordering::Relaxed)
    }

    /// The bytes the states hold, as `footprint` counts them.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// Every stream's state, by SID, under the shared lock: hold it briefly.
    pub fn read(&self) -> States<'_, A> {
        States(self.all.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A stream's state, from memory or, for one not kept there, read from the log (and not
    /// kept). `None` when the log has no such stream.
    pub fn fetch(&self, sid: Sid) -> Result<Option<A>, EngineError> {
        if let Some(state) = self.read().get(&sid) {
            return Ok(Some(state.clone()));
        }
        self.read_from_log(sid)
    }

    /// A stream's state read from the log, whether or not memory holds it, and not kept; `None`
    /// when the log has no such stream. Takes no lock of the kind's, so a reader that holds the
    /// shared lock may call it.
    pub fn read_from_log(&self, sid: Sid) -> Result<Option<A>, EngineError> {
        self.reads_from_log.fetch_add(1, Ordering::Relaxed);
        let loaded = StreamLog::<A>::load(&self.log, sid)?;
        if self.written.is_some() {
            // Reading cached its head and key; a kind that forgets them once written forgets
            // them after a read too (the log keeps a head not folded yet).
            self.log.forget(sid);
        }
        Ok(Some(loaded.state().clone()).filter(|state| state.events_applied() > 0))
    }

    /// Drops a stream from memory (it stays in the log, where [`Streams::fetch`] finds it). For
    /// kinds loaded with [`Streams::load_kept`] only.
    pub fn forget(&self, sid: Sid) {
        debug_assert!(self.partial, "a kind held whole forgets nothing");
        let removed = self.all.write().unwrap_or_else(|e| e.into_inner()).remove(&sid);
        if let Some(removed) = removed {
            self.held.fetch_sub((self.footprint)(removed.state()), Ordering::Relaxed);
        }
    }

    /// The one writer, until dropped.
    pub fn writer(&self) -> Writer<'_, A> {
        Writer { streams: self, _writing: self.writing.lock().unwrap_or_else(|e| e.into_inner()) }
    }

    /// Decides `commands` on stream `sid` (a new one if it has none yet) and appends what they
    /// record, in one write.
    pub fn execute(&self, sid: Sid, commands: Vec<A::Command>, at: Timestamp) -> Written<A> {
        self.writer().execute(sid, commands, at)
    }

    /// [`Streams::execute`] in `group` (whose ticket covers it: the change has none of its
    /// own), handing back the events too and the state before.
    pub fn execute_logged(
        &self,
        sid: Sid,
        commands: Vec<A::Command>,
        at: Timestamp,
        group: &AppendGroup<'_>,
    ) -> Result<Result<Logged<A>, A::Rejection>, EngineError> {
        self.writer().run(sid, commands, at, (true, Some(group)))
    }

    /// Waits until `written`'s append is durable; hands on its state or its rejection.
    pub async fn durable(
        &self,
        written: Written<A>,
    ) -> Result<Result<A, A::Rejection>, EngineError> {
        let (state, ticket) = match written? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
        }
        Ok(Ok(state))
    }
}

/// The states of a kind's streams, read under the shared lock.
pub(crate) struct States<'a, A>(RwLockReadGuard<'a, BTreeMap<Sid, Held<A>>>);

/// A stream as the map holds it (see [`Streams`]'s `all`).
pub(crate) type Held<A> = Box<StreamLog<A>>;

impl<A: Aggregate> States<'_, A> {
    pub fn get(&self, sid: &Sid) -> Option<&A> {
        self.0.get(sid).map(|stream| stream.state())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Sid, &A)> {
        self.0.iter().map(|(sid, stream)| (sid, stream.state()))
    }

    pub fn values(&self) -> impl Iterator<Item = &A> {
        self.0.values().map(|stream| stream.state())
    }
}

/// The writer of a kind's streams: one at a time, so what it reads stays true until it writes.
pub(crate) struct Writer<'a, A> {
    streams: &'a Streams<A>,
    _writing: MutexGuard<'a, ()>,
}

impl<A: Aggregate> Writer<'_, A> {
    /// A stream's state now (`Default`, "not created", when it has none).
    pub fn state(&self, sid: Sid) -> A {
        self.streams.read().get(&sid).cloned().unwrap_or_default()
    }

    pub fn read(&self) -> States<'_, A> {
        self.streams.read()
    }

    /// See [`Streams::execute`]. Records the cause of the change being made (see `cause`).
    pub fn execute(&mut self, sid: Sid, commands: Vec<A::Command>, at: Timestamp) -> Written<A> {
        Ok(self.run(sid, commands, at, (false, None))?.map(|logged| (logged.after, logged.ticket)))
    }

    /// [`Writer::execute`] on a stream whose SID was just made: it has no history, so even a
    /// kind held partly reads nothing from the log for it (a new customer's user, made on the
    /// way in of their first message).
    pub fn execute_new(
        &mut self,
        sid: Sid,
        commands: Vec<A::Command>,
        at: Timestamp,
    ) -> Written<A> {
        let stream = Box::new(StreamLog::new(sid));
        let logged = self.run_on(stream, commands, at, (false, None))?;
        Ok(logged.map(|logged| (logged.after, logged.ticket)))
    }

    /// Runs the change, in `group` if there is one, handing back the events appended and, when
    /// `keep_before` asks for it, the state before (for whoever tells others what changed:
    /// TaskRouter's feed).
    pub fn run(
        &mut self,
        sid: Sid,
        commands: Vec<A::Command>,
        at: Timestamp,
        (keep_before, group): (bool, Option<&AppendGroup<'_>>),
    ) -> Result<Result<Logged<A>, A::Rejection>, EngineError> {
        let kept = self.streams.read().0.get(&sid).cloned();
        // In a kind kept partly in memory, one not there is read from the log (a new one reads
        // nothing), so a change to a forgotten stream continues its history.
        let stream = match kept {
            Some(stream) => stream,
            None if self.streams.partial => Box::new(StreamLog::load(&self.streams.log, sid)?),
            None => Box::new(StreamLog::new(sid)),
        };
        self.run_on(stream, commands, at, (keep_before, group))
    }

    /// [`Writer::run`] on `stream` as found or made.
    fn run_on(
        &mut self,
        mut stream: Held<A>,
        commands: Vec<A::Command>,
        at: Timestamp,
        (keep_before, group): (bool, Option<&AppendGroup<'_>>),
    ) -> Result<Result<Logged<A>, A::Rejection>, EngineError> {
        let (log, sid) = (&self.streams.log, stream.sid());
        let before = if keep_before { stream.state().clone() } else { A::default() };
        let cause = crate::cause::current();
        let executed = match stream.execute_in(log, group, commands, (at, cause))? {
            Ok(executed) => executed,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let state = stream.state().clone();
        if !executed.events.is_empty() {
            let streams = self.streams;
            // Counted on the state kept, not on its clone: a clone's strings and vectors have no
            // spare room, and what is taken off when the stream goes must be what was added.
            streams.held.fetch_add((streams.footprint)(stream.state()), Ordering::Relaxed);
            let replaced =
                streams.all.write().unwrap_or_else(|e| e.into_inner()).insert(sid, stream);
            let before = replaced.map_or(0, |old| (streams.footprint)(old.state()));
            streams.held.fetch_sub(before, Ordering::Relaxed);
            // A change in a group may be noted too: until the group is applied its head is
            // held back (`AppendGroup`), which the log counts as not folded, so it is not
            // forgotten before then.
            streams.note_written(sid);
        }
        Ok(Ok(Logged {
            before,
            after: state,
            events: executed.events,
            first_seq: executed.first_seq,
            ticket: executed.ticket,
        }))
    }
}

/// A change as [`Writer::run`] made it.
#[derive(Debug)]
pub(crate) struct Logged<A: Aggregate> {
    /// `Default` unless asked for (`keep_before`).
    pub before: A,
    pub after: A,
    /// In order; the first has sequence `first_seq` in its stream.
    pub events: Vec<A::Event>,
    pub first_seq: u64,
    /// `None` when nothing was appended or the change was made in a group.
    pub ticket: Option<FlushTicket>,
}
