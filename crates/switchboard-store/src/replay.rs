//! Replay for audit: every stored event, decrypted, in log order, optionally narrowed to some
//! channels and a time window.

use serde::Serialize;
use switchboard_domain::{
    Aggregate, ChannelEvent, DomainEvent, FlowEvent, FolderEvent, PersonEvent, Recorded,
    ServiceEvent, Sid, SidPrefix, Timestamp, UserEvent,
};
use switchboard_routing::event_log::EventLogEvent;
use switchboard_routing::task::TaskEvent;
use switchboard_routing::worker::WorkerEvent;
use switchboard_routing::workspace::WorkspaceEvent;
use switchboard_studio::{ExecutionEvent, StudioFlowEvent};

use crate::keyring::KeyRing;
use crate::kinds::{visit_kind, KindVisitor};
use crate::layout::{self, EVENT};
use crate::log::{open_record_in, EventLog};
use crate::parallel_replay::ParallelReplay;
use crate::StoreError;

/// One stored record as replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayRecord<E> {
    Event {
        stream: Sid,
        seq: u64,
        event: E,
    },
    /// The record is intact but its stream's key was destroyed: its content is gone for good.
    Shredded {
        stream: Sid,
        seq: u64,
    },
}

/// An event of any aggregate, as the audit tools print it. Serializes as the inner event
/// (`{"message_added": {…}}`). Each kind registered in `kinds.rs` has its variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnyEvent {
    Channel(ChannelEvent),
    Flow(FlowEvent),
    Service(ServiceEvent),
    User(UserEvent),
    Person(PersonEvent),
    Workspace(WorkspaceEvent),
    Worker(WorkerEvent),
    Task(TaskEvent),
    RouterEvents(EventLogEvent),
    StudioFlow(StudioFlowEvent),
    StudioExecution(ExecutionEvent),
    Folder(FolderEvent),
}

impl DomainEvent for AnyEvent {
    fn type_name(&self) -> &'static str {
        match self {
            AnyEvent::Channel(event) => event.type_name(),
            AnyEvent::Flow(event) => event.type_name(),
            AnyEvent::Service(event) => event.type_name(),
            AnyEvent::User(event) => event.type_name(),
            AnyEvent::Person(event) => event.type_name(),
            AnyEvent::Workspace(event) => event.type_name(),
            AnyEvent::Worker(event) => event.type_name(),
            AnyEvent::Task(event) => event.type_name(),
            AnyEvent::RouterEvents(event) => event.type_name(),
            AnyEvent::StudioFlow(event) => event.type_name(),
            AnyEvent::StudioExecution(event) => event.type_name(),
            AnyEvent::Folder(event) => event.type_name(),
        }
    }
}

/// A record of any stream, for audit.
pub type ReplayItem = ReplayRecord<Recorded<AnyEvent>>;

/// Which records replay yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Only these streams; all when empty.
    pub streams: Vec<Sid>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
}

impl ReplayFilter {
    fn admits(&self, item: &ReplayItem) -> bool {
        match item {
            ReplayRecord::Event { event, .. } => {
                self.since.is_none_or(|since| event.at >= since)
                    && self.until.is_none_or(|until| event.at <= until)
            }
            // A shredded record has no readable time; it is shown only when no window is asked for.
            ReplayRecord::Shredded { .. } => self.since.is_none() && self.until.is_none(),
        }
    }
}

impl EventLog {
    /// Every record admitted by `filter`, decrypted, stream by stream, in sequence order.
    pub fn replay(
        &self,
        filter: &ReplayFilter,
    ) -> Box<dyn Iterator<Item = Result<ReplayItem, StoreError>> + '_> {
        let streams = filter.streams.clone();
        let filter = filter.clone();
        let keep = move |item: &Result<ReplayItem, StoreError>| match item {
            Ok(item) => filter.admits(item),
            Err(_) => true,
        };
        if streams.is_empty() {
            Box::new(self.replay_all().filter(keep))
        } else {
            Box::new(streams.into_iter().flat_map(move |s| self.read_any(s)).filter(keep))
        }
    }

    fn replay_all(&self) -> Box<dyn Iterator<Item = Result<ReplayItem, StoreError>> + '_> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        self.replay_all_on(threads)
    }

    /// Every record in key order, opened on `threads` threads (see `parallel_replay`).
    pub(crate) fn replay_all_on(
        &self,
        threads: usize,
    ) -> Box<dyn Iterator<Item = Result<ReplayItem, StoreError>> + '_> {
        if threads <= 1 {
            return Box::new(self.decode_any(self.tree().scan_prefix([EVENT])));
        }
        let (tree, keys) = self.shared_reader();
        Box::new(ParallelReplay::start(tree, keys, threads))
    }

    /// At most `limit` records of `stream` from `from_seq` on, each decoded as its stream's
    /// aggregate: a range of a stream costs that range.
    pub fn read_range(
        &self,
        stream: Sid,
        from_seq: u64,
        limit: usize,
    ) -> impl Iterator<Item = Result<ReplayItem, StoreError>> + '_ {
        let range = layout::event_key(stream, from_seq)..layout::event_key(stream, u64::MAX);
        self.decode_any(self.tree().range(range)).take(limit)
    }

    fn read_any(&self, stream: Sid) -> impl Iterator<Item = Result<ReplayItem, StoreError>> + '_ {
        self.decode_any(self.tree().scan_prefix(layout::stream_prefix(EVENT, stream)))
    }

    fn decode_any(
        &self,
        entries: sled::Iter,
    ) -> impl Iterator<Item = Result<ReplayItem, StoreError>> + '_ {
        entries.map(move |entry| open_entry(self.tree(), self.keyring(), entry))
    }

    /// Opens a record of any stream, decoding it as its stream's aggregate.
    pub(crate) fn open_any(
        &self,
        stream: Sid,
        seq: u64,
        bytes: &[u8],
    ) -> Result<ReplayItem, StoreError> {
        open_any_in(self.tree(), self.keyring(), stream, seq, bytes)
    }
}

/// Opens a record of any stream of `tree` with `keys`, decoding it as its stream's kind
/// (`kinds.rs`).
pub(crate) fn open_any_in(
    tree: &sled::Tree,
    keys: &KeyRing,
    stream: Sid,
    seq: u64,
    bytes: &[u8],
) -> Result<ReplayItem, StoreError> {
    let open = OpenAny { tree, keys, stream, seq, bytes };
    match stream.prefix() {
        SidPrefix::DATA_FOLDER => {
            Ok(lift(open_record_in(tree, keys, stream, seq, bytes)?, AnyEvent::Folder))
        }
        prefix => visit_kind(prefix, open).unwrap_or_else(|| {
            Err(StoreError::Corrupt { stream, seq, problem: "a stream of unknown kind".into() })
        }),
    }
}

/// One record opened as the kind of its stream.
struct OpenAny<'a> {
    tree: &'a sled::Tree,
    keys: &'a KeyRing,
    stream: Sid,
    seq: u64,
    bytes: &'a [u8],
}

impl KindVisitor for OpenAny<'_> {
    type Output = Result<ReplayItem, StoreError>;
    fn visit<A: Aggregate>(self, wrap: fn(A::Event) -> AnyEvent) -> Self::Output {
        let record = open_record_in::<Recorded<A::Event>>(
            self.tree,
            self.keys,
            self.stream,
            self.seq,
            self.bytes,
        )?;
        Ok(lift(record, wrap))
    }
}

fn lift<E>(record: ReplayRecord<Recorded<E>>, wrap: fn(E) -> AnyEvent) -> ReplayItem {
    match record {
        ReplayRecord::Event { stream, seq, event } => ReplayRecord::Event {
            stream,
            seq,
            event: Recorded {
                schema: event.schema,
                at: event.at,
                event: wrap(event.event),
                cause: event.cause,
            },
        },
        ReplayRecord::Shredded { stream, seq } => ReplayRecord::Shredded { stream, seq },
    }
}

/// Opens one `E` entry as read from `tree`.
pub(crate) fn open_entry(
    tree: &sled::Tree,
    keys: &KeyRing,
    entry: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<ReplayItem, StoreError> {
    let (key, value) = entry?;
    let (stream, seq) = layout::parse_event_key(&key)
        .ok_or_else(|| StoreError::Damaged("an event key is malformed".into()))?;
    open_any_in(tree, keys, stream, seq, &value)
}

impl<E> ReplayRecord<E> {
    pub fn stream(&self) -> Sid {
        match self {
            ReplayRecord::Event { stream, .. } | ReplayRecord::Shredded { stream, .. } => *stream,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            ReplayRecord::Event { seq, .. } | ReplayRecord::Shredded { seq, .. } => *seq,
        }
    }
}
