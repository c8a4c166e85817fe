//! What the daemon's own structures hold in memory per channel, counted where they live, so the
//! cost of an idle channel is a figure the daemon reports (`switchboard_memory_bytes` in
//! `/metrics`) rather than a guess from the process's resident size, which sled's page cache and
//! the allocator's retained pages dominate.
//!
//! The counts are of bytes the structures own: their entries, what those point to, and an
//! estimate of each map's own overhead per entry (stated below). They do not include sled's page
//! cache (bounded by `cache_bytes`) or memory the allocator keeps after it was freed.

use std::mem::size_of;

use switchboard_domain::{Sid, UserState};
use switchboard_store::StreamLog;

/// What one entry of a `BTreeMap<K, V>` costs besides what the value points to: its key and
/// value slots in a node, with nodes (11 slots) about three quarters full after inserts in no
/// particular order, and the node's header and child pointers shared out (about 16 bytes).
pub(crate) const fn btree_entry<K, V>() -> usize {
    (size_of::<K>() + size_of::<V>()) * 4 / 3 + 16
}

/// What one unit of a hashbrown table's capacity costs: its slot and control byte, the table's
/// buckets being about 8/7 of its capacity.
pub(crate) const fn hash_entry<K, V>() -> usize {
    (size_of::<K>() + size_of::<V>() + 1) * 8 / 7
}

/// The capacity of a vector made with room for one item (as a user's channel list is) and grown
/// one item at a time to `len` items of a few dozen bytes: Rust then makes room for 4 and
/// doubles. Removals keep the room, so for a vector that also shrank this is a lower bound.
pub(crate) fn grown_capacity(len: usize) -> usize {
    match len {
        0 | 1 => len,
        _ => len.next_power_of_two().max(4),
    }
}

/// What a stream held by `Streams` costs besides what its state points to: its entry in the
/// map by SID, and the box the stream is in.
pub(crate) fn held_stream<A>() -> usize {
    btree_entry::<Sid, crate::streams::Held<A>>() + size_of::<StreamLog<A>>()
}

/// The bytes a Chat user's stream owns, with its entry in the directory's map by SID.
pub(crate) fn user(state: &UserState) -> usize {
    held_stream::<UserState>()
        + state.identity.capacity()
        + state.attributes.capacity()
        + state.friendly_name.as_ref().map_or(0, String::capacity)
        + grown_capacity(state.channels.len()) * size_of::<(Sid, Sid)>()
}

/// The bytes a TaskRouter task kept in memory (open, or finished lately) owns, with its entry in
/// the router's map by SID; what the router's matching and deadlines hold for it is counted
/// there (`Core::tasks_footprint`).
pub(crate) fn task(state: &switchboard_routing::task::TaskState) -> usize {
    let reservations = state.reservations.iter().map(|r| {
        size_of::<switchboard_routing::task::Reservation>()
            + r.worker_name.capacity()
            + r.failure.as_ref().map_or(0, String::capacity)
    });
    held_stream::<switchboard_routing::task::TaskState>()
        + state.task_channel_unique_name.capacity()
        + state.attributes.capacity()
        + state.reason.as_ref().map_or(0, String::capacity)
        + reservations.sum::<usize>()
        + (state.reservations.capacity() - state.reservations.len())
            * size_of::<switchboard_routing::task::Reservation>()
}

/// The bytes an open Studio execution holds in memory: its stream in the directory's map by
/// SID, its strings (the context, mostly), its channel's entry in the map of open executions by
/// channel, and its own in the map of their channels.
pub(crate) fn studio_execution(state: &switchboard_studio::ExecutionState) -> usize {
    let waiting = match &state.waiting {
        Some(switchboard_studio::Waiting::MessageOutcome { name, .. })
        | Some(switchboard_studio::Waiting::Reply { name, .. })
        | Some(switchboard_studio::Waiting::Http { name, .. }) => name.capacity(),
        None => 0,
    };
    held_stream::<switchboard_studio::ExecutionState>()
        + state.context.capacity()
        + state.reason.as_ref().map_or(0, String::capacity)
        + state.current.as_ref().map_or(0, |(_, name)| name.capacity())
        + waiting
        // Two hashbrown entries of (Sid, Sid) and their control bytes.
        + 2 * hash_entry::<Sid, Sid>()
}

/// What the daemon holds in memory for its channels, users and streams, by holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryFigures {
    /// Channels the janitor looks after (listed somewhere, or with open tasks): every channel
    /// not deleted, live or hibernated.
    pub channels_known: usize,
    /// The janitor's record of each of them.
    pub janitor_bytes: usize,
    /// Chat users: every live one listed, and those written lately held whole with the
    /// channels each is a member of (`users.rs`).
    pub users_bytes: usize,
    /// The log's cached heads and unwrapped keys of the streams it met and has not forgotten
    /// (a hibernating channel's are forgotten).
    pub stream_caches_bytes: usize,
    /// TaskRouter's tasks held in memory (open, or finished in the last five minutes), with
    /// what its matching and deadlines hold for them.
    pub tasks_bytes: usize,
    /// Studio executions held in memory (the open ones: ended ones are read from the log), and
    /// the bytes they hold. Not counted per channel: only channels in a bot conversation have
    /// one.
    pub studio_executions: usize,
    pub studio_executions_bytes: usize,
}

impl MemoryFigures {
    /// Everything counted, per channel the janitor knows.
    pub fn per_channel(&self) -> Option<usize> {
        let total =
            self.janitor_bytes + self.users_bytes + self.stream_caches_bytes + self.tasks_bytes;
        total.checked_div(self.channels_known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_counts_its_strings_and_its_channels() {
        let mut state = UserState { identity: "agent".into(), ..UserState::default() };
        let alone = user(&state);
        assert!(alone >= size_of::<UserState>() + "agent".len(), "{alone}");
        let sid = |n: u8| Sid::from_parts(switchboard_domain::SidPrefix::CHANNEL, [n; 16]);
        state.channels.insert(sid(0), sid(0));
        assert_eq!(user(&state) - alone, size_of::<(Sid, Sid)>(), "room for one");
        state.channels.extend((1..10).map(|n| (sid(n), sid(n))));
        assert_eq!(user(&state) - alone, 16 * size_of::<(Sid, Sid)>());
    }

    #[test]
    fn grown_capacity_is_what_a_vector_grown_one_at_a_time_has() {
        let mut grown: Vec<(Sid, Sid)> = Vec::with_capacity(1);
        let sid = Sid::from_parts(switchboard_domain::SidPrefix::CHANNEL, [1; 16]);
        for len in 1..=100 {
            grown.push((sid, sid));
            assert_eq!(grown_capacity(len), grown.capacity(), "{len} items");
        }
    }

    #[test]
    fn per_channel_divides_what_is_counted() {
        let figures = MemoryFigures {
            channels_known: 4,
            janitor_bytes: 400,
            users_bytes: 100,
            stream_caches_bytes: 300,
            ..MemoryFigures::default()
        };
        assert_eq!(figures.per_channel(), Some(200));
        assert_eq!(MemoryFigures::default().per_channel(), None);
    }
}
