//! The registration of every kind of stream the log holds (an `Aggregate` of the domain, named
//! by the SID prefix of its streams): the one table that replay, crash recovery, `reindex` and
//! `verify` read to know what a stream is. A new kind is one line here and one variant of
//! `AnyEvent`; everything else about it is generic.

use switchboard_domain::{
    Aggregate, ChannelState, FlowState, PersonState, ServiceState, SidPrefix, UserState,
};
use switchboard_routing::event_log::EventLogState;
use switchboard_routing::task::TaskState;
use switchboard_routing::worker::WorkerState;
use switchboard_routing::workspace::WorkspaceState;
use switchboard_studio::{ExecutionState, StudioFlowState};

use crate::replay::AnyEvent;

/// Something done with the stream kind a prefix names, whatever the kind.
pub(crate) trait KindVisitor {
    type Output;
    /// Called with the kind, and how its events are shown among every kind's.
    fn visit<A: Aggregate>(self, wrap: fn(A::Event) -> AnyEvent) -> Self::Output;
}

/// Runs `visitor` on the kind whose streams `prefix` names; `None` when no kind is registered
/// for it (the folder's own `DF` stream, which is not an aggregate, or an unknown prefix).
pub(crate) fn visit_kind<V: KindVisitor>(prefix: SidPrefix, visitor: V) -> Option<V::Output> {
    Some(match prefix {
        <ChannelState as Aggregate>::PREFIX => visitor.visit::<ChannelState>(AnyEvent::Channel),
        <FlowState as Aggregate>::PREFIX => visitor.visit::<FlowState>(AnyEvent::Flow),
        <ServiceState as Aggregate>::PREFIX => visitor.visit::<ServiceState>(AnyEvent::Service),
        <UserState as Aggregate>::PREFIX => visitor.visit::<UserState>(AnyEvent::User),
        <PersonState as Aggregate>::PREFIX => visitor.visit::<PersonState>(AnyEvent::Person),
        <WorkspaceState as Aggregate>::PREFIX => {
            visitor.visit::<WorkspaceState>(AnyEvent::Workspace)
        }
        <WorkerState as Aggregate>::PREFIX => visitor.visit::<WorkerState>(AnyEvent::Worker),
        <TaskState as Aggregate>::PREFIX => visitor.visit::<TaskState>(AnyEvent::Task),
        <EventLogState as Aggregate>::PREFIX => {
            visitor.visit::<EventLogState>(AnyEvent::RouterEvents)
        }
        <StudioFlowState as Aggregate>::PREFIX => {
            visitor.visit::<StudioFlowState>(AnyEvent::StudioFlow)
        }
        <ExecutionState as Aggregate>::PREFIX => {
            visitor.visit::<ExecutionState>(AnyEvent::StudioExecution)
        }
        _ => return None,
    })
}

/// Every registered kind's prefix, in the order `reindex` rebuilds them.
pub(crate) const PREFIXES: [SidPrefix; 11] = [
    <UserState as Aggregate>::PREFIX,
    <FlowState as Aggregate>::PREFIX,
    <ServiceState as Aggregate>::PREFIX,
    <ChannelState as Aggregate>::PREFIX,
    <WorkspaceState as Aggregate>::PREFIX,
    <WorkerState as Aggregate>::PREFIX,
    <TaskState as Aggregate>::PREFIX,
    <EventLogState as Aggregate>::PREFIX,
    <StudioFlowState as Aggregate>::PREFIX,
    <ExecutionState as Aggregate>::PREFIX,
    <PersonState as Aggregate>::PREFIX,
];

/// The kind's name, as `verify` counts streams.
struct Name;

impl KindVisitor for Name {
    type Output = &'static str;
    fn visit<A: Aggregate>(self, _: fn(A::Event) -> AnyEvent) -> &'static str {
        A::NAME
    }
}

/// What a stream is, by its SID's prefix, as `verify` counts it (a singular noun).
pub fn kind_name(stream: switchboard_domain::Sid) -> &'static str {
    match stream.prefix() {
        SidPrefix::DATA_FOLDER => "audit stream",
        prefix => visit_kind(prefix, Name).unwrap_or("other stream"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::Sid;

    #[test]
    fn every_registered_prefix_names_its_kind_once() {
        let names: Vec<&str> =
            PREFIXES.iter().map(|p| kind_name(Sid::from_parts(*p, [1; 16]))).collect();
        let expected = [
            "user",
            "flow",
            "service",
            "channel",
            "workspace",
            "worker",
            "task",
            "workspace event log",
            "studio flow",
            "studio execution",
            "person",
        ];
        assert_eq!(names, expected);
        for (i, prefix) in PREFIXES.iter().enumerate() {
            assert!(!PREFIXES[i + 1..].contains(prefix), "{prefix:?} is registered twice");
        }
        assert_eq!(kind_name(Sid::from_parts(SidPrefix::MESSAGE, [1; 16])), "other stream");
    }
}
