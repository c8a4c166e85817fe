//! `Janitor`: the supervisor that retires quiet channels (Flex's Channel Janitor).
//!
//! Channel actors tell it, after every change, whether their channel is active, whether the
//! janitor may touch it, since when it has been quiet, and which tasks are open. On each tick it
//! asks every channel quiet for longer than the window to retire itself; the channel's own
//! `decide` has the last word (a message that arrived meanwhile keeps it open). Knowing every
//! channel, the janitor also answers the list of open tasks and the lists of channels, so that a
//! list wakes no hibernated channel it does not show.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::prelude::*;
use switchboard_domain::{
    Cause, ChannelCommand, ChannelKind, ChannelState, ChannelStatus, Sid, Timestamp,
};

use crate::channel::Execute;
use crate::interned::Interned;
use crate::registry::Registry;
use crate::Clock;

/// A task open on a channel, as the list of open tasks orders it: the rest of what it shows
/// (attributes, priority, timeout) is the channel's to keep (`ChannelState::open_tasks`), read
/// for the page listed (`Tasks::linked`), not held again for every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTask {
    pub task_sid: Sid,
    pub channel_sid: Sid,
    pub linked_at: Timestamp,
}

/// What a channel actor reports after each change.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Activity {
    pub channel_sid: Sid,
    /// What lists of channels filter on, so that a list reads no channel it does not show.
    pub listing: Option<ChannelListing>,
    pub active: bool,
    pub janitor_enabled: bool,
    pub quiet_since: Timestamp,
    pub open_tasks: Vec<OpenTask>,
}

/// Where a channel is listed: its service, whether it is public, the flow that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelListing {
    pub channel_sid: Sid,
    pub service_sid: Sid,
    pub kind: ChannelKind,
    pub flex_flow_sid: Option<Sid>,
}

impl Activity {
    pub fn of(channel_sid: Sid, state: &ChannelState) -> Activity {
        // An erased or deleted channel is listed nowhere.
        let listing = match (state.service_sid, state.kind, state.is_removed()) {
            (Some(service_sid), Some(kind), false) => Some(ChannelListing {
                channel_sid,
                service_sid,
                kind,
                flex_flow_sid: state.flex_flow_sid,
            }),
            _ => None,
        };
        Activity {
            channel_sid,
            listing,
            active: state.status == ChannelStatus::Active && !state.is_removed(),
            janitor_enabled: state.janitor_enabled,
            quiet_since: state.quiet_since(),
            open_tasks: state
                .open_tasks
                .iter()
                .map(|(task_sid, task)| OpenTask {
                    task_sid: *task_sid,
                    channel_sid,
                    linked_at: task.linked_at,
                })
                .collect(),
        }
    }
}

/// What the janitor keeps of a channel's report: the report without the channel's SID (the
/// map's key) repeated in it, its service and flow as numbers of the janitor's table of them
/// ([`Interned`]). It holds one for every channel, hibernated ones too (`memory.rs`).
#[derive(Debug)]
struct Held {
    listing: Option<Listed>,
    active: bool,
    janitor_enabled: bool,
    quiet_since: Timestamp,
    open_tasks: Box<[HeldTask]>,
}

/// [`ChannelListing`] without its channel's SID, its service and flow by number
/// ([`Interned`]).
#[derive(Debug, Clone, Copy)]
struct Listed {
    service: u32,
    kind: ChannelKind,
    /// The flow's number, or [`Listed::NO_FLOW`]: an `Option` would make the record, held for
    /// every channel, eight bytes larger.
    flex_flow: u32,
}

impl Listed {
    /// No flow opened the channel.
    const NO_FLOW: u32 = u32::MAX;
}

/// [`OpenTask`] without its channel's SID.
#[derive(Debug)]
struct HeldTask {
    task_sid: Sid,
    linked_at: Timestamp,
}

impl Held {
    /// What is kept of `activity`, numbering its service and flow in `interned`; and the bytes
    /// the table grew by.
    fn of(activity: Activity, interned: &mut Interned) -> (Held, usize) {
        let mut grown = 0;
        let mut number = |sid: Sid| {
            let (number, bytes) = interned.number(sid);
            grown += bytes;
            number
        };
        let listing = activity.listing.map(|l| Listed {
            service: number(l.service_sid),
            kind: l.kind,
            flex_flow: l.flex_flow_sid.map_or(Listed::NO_FLOW, &mut number),
        });
        let open_tasks = activity
            .open_tasks
            .into_iter()
            .map(|t| HeldTask { task_sid: t.task_sid, linked_at: t.linked_at });
        let held = Held {
            listing,
            active: activity.active,
            janitor_enabled: activity.janitor_enabled,
            quiet_since: activity.quiet_since,
            open_tasks: open_tasks.collect(),
        };
        (held, grown)
    }

    /// The bytes the record holds, with its entry in the janitor's map (`memory.rs`).
    fn footprint(&self) -> usize {
        let tasks = self.open_tasks.len() * std::mem::size_of::<HeldTask>();
        crate::memory::btree_entry::<Sid, Held>() + tasks
    }

    fn listing(&self, channel_sid: Sid, interned: &Interned) -> Option<ChannelListing> {
        let listed = self.listing?;
        Some(ChannelListing {
            channel_sid,
            service_sid: interned.sid(listed.service)?,
            kind: listed.kind,
            flex_flow_sid: (listed.flex_flow != Listed::NO_FLOW)
                .then(|| interned.sid(listed.flex_flow))
                .flatten(),
        })
    }

    fn open_tasks(&self, channel_sid: Sid) -> impl Iterator<Item = OpenTask> + '_ {
        self.open_tasks.iter().map(move |t| OpenTask {
            task_sid: t.task_sid,
            channel_sid,
            linked_at: t.linked_at,
        })
    }
}

/// Every open task, oldest first.
#[derive(Debug, Message)]
#[rtype(result = "Vec<OpenTask>")]
pub struct ListOpenTasks;

/// The listed channels, in SID order: of one service, or (`None`) of every service.
#[derive(Debug, Message)]
#[rtype(result = "Vec<ChannelListing>")]
pub struct ListChannels {
    pub service_sid: Option<Sid>,
}

/// Channel actors' reports on their way to the janitor. A report is queued here; whatever reads
/// the janitor's picture (a sweep, a list) takes the queue first, so the janitor need not hear of
/// each report as it comes. It is woken only when [`ActivityFeed::WAKE_AT`] reports wait, which
/// bounds the queue: a busy channel arbiter does not wake the janitor's thread once per append
/// (that wake-up was about 3 % of a webhook's CPU).
#[derive(Debug, Clone)]
pub(crate) struct ActivityFeed {
    pending: Arc<Mutex<Vec<Activity>>>,
    janitor: Recipient<TakeActivity>,
}

impl ActivityFeed {
    pub const WAKE_AT: usize = 1024;

    pub(crate) fn report(&self, activity: Activity) {
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.push(activity);
            pending.len() == Self::WAKE_AT
        };
        // The queue is emptied whole, so exactly one report per batch finds it at the mark.
        if full {
            self.janitor.do_send(TakeActivity);
        }
    }
}

/// What the janitor holds, kept as it changes and read by the daemon's memory figures.
#[derive(Debug, Default)]
pub(crate) struct JanitorHolds {
    pub channels: AtomicUsize,
    pub bytes: AtomicUsize,
}

/// Tells the janitor that reports are queued in its feed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct TakeActivity;

#[derive(Debug)]
pub struct Janitor {
    /// Every channel, so that the janitor sees every quiet one; ordered, for lists.
    channels: BTreeMap<Sid, Held>,
    /// The services and flows `channels` name, by number.
    interned: Interned,
    /// What `channels` holds, for the daemon's memory figures: (channels, bytes).
    held: Arc<JanitorHolds>,
    /// Reports not yet folded into `channels` (see [`ActivityFeed`]).
    pending: Arc<Mutex<Vec<Activity>>>,
    /// The queue emptied last time, kept to be swapped in next time: a queue that starts empty
    /// reallocates ten times on its way to [`ActivityFeed::WAKE_AT`] reports, under its lock.
    spare: Vec<Activity>,
    window: Duration,
    tick: Duration,
    clock: Arc<dyn Clock>,
    registry: Weak<Registry>,
}

impl Janitor {
    pub(crate) fn new(
        window: Duration,
        tick: Duration,
        clock: Arc<dyn Clock>,
        registry: Weak<Registry>,
    ) -> Janitor {
        Janitor {
            channels: BTreeMap::new(),
            interned: Interned::default(),
            held: Arc::default(),
            pending: Arc::new(Mutex::new(Vec::with_capacity(ActivityFeed::WAKE_AT))),
            spare: Vec::with_capacity(ActivityFeed::WAKE_AT),
            window,
            tick,
            clock,
            registry,
        }
    }

    /// Starts the janitor and gives the feed that channel actors report to, and what it holds.
    pub(crate) fn start_with_feed(self) -> (Addr<Janitor>, ActivityFeed, Arc<JanitorHolds>) {
        let pending = Arc::clone(&self.pending);
        let held = Arc::clone(&self.held);
        let addr = self.start();
        let feed = ActivityFeed { pending, janitor: addr.clone().recipient() };
        (addr, feed, held)
    }

    /// Folds the queued reports in, oldest first, so the latest of each channel wins.
    fn take_pending(&mut self) {
        let mut taken = std::mem::take(&mut self.spare);
        std::mem::swap(&mut taken, &mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for activity in taken.drain(..) {
            self.record(activity);
        }
        // A backlog once far past the mark need not keep its memory.
        taken.shrink_to(4 * ActivityFeed::WAKE_AT);
        self.spare = taken;
    }

    fn record(&mut self, activity: Activity) {
        // A channel listed nowhere, with nothing open, is nothing the janitor looks after.
        let sid = activity.channel_sid;
        let (added, replaced) = if activity.listing.is_none() && activity.open_tasks.is_empty() {
            (0, self.channels.remove(&sid))
        } else {
            let (held, grown) = Held::of(activity, &mut self.interned);
            (held.footprint() + grown, self.channels.insert(sid, held))
        };
        let removed = replaced.as_ref().map_or(0, Held::footprint);
        self.held.bytes.fetch_add(added, Ordering::Relaxed);
        self.held.bytes.fetch_sub(removed, Ordering::Relaxed);
        self.held.channels.store(self.channels.len(), Ordering::Relaxed);
    }

    fn sweep(&mut self) {
        self.take_pending();
        let now = self.clock.now();
        let window_millis = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let due: Vec<Sid> = self
            .channels
            .iter()
            .filter(|(_, a)| {
                a.active && a.janitor_enabled && now.millis_since(a.quiet_since) > window_millis
            })
            .map(|(sid, _)| *sid)
            .collect();
        let Some(registry) = self.registry.upgrade() else { return };
        for sid in due {
            // Marked inactive here so the next tick does not ask again; the channel's own report
            // corrects it if it stayed active.
            if let Some(activity) = self.channels.get_mut(&sid) {
                activity.active = false;
            }
            let addr = registry.get(sid);
            let command = ChannelCommand::RetireIfIdle { now, window_millis };
            actix::spawn(async move {
                match addr
                    .send(Execute { commands: vec![command], at: now, cause: Some(Cause::System) })
                    .await
                {
                    Ok(Ok(Ok(done))) => {
                        if done.durability.wrote() {
                            if done.durability.wait().await.is_ok() {
                                crate::metrics::retired();
                            }
                            tracing::info!(channel = %sid, "janitor retired an inactive channel");
                        }
                    }
                    Ok(Ok(Err(rejection))) => {
                        tracing::debug!(channel = %sid, %rejection, "janitor skipped")
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(channel = %sid, %error, "janitor could not retire")
                    }
                    Err(_) => tracing::debug!(channel = %sid, "janitor: channel stopping"),
                }
            });
        }
    }
}

impl Actor for Janitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |janitor, _| janitor.sweep());
    }
}

impl Handler<Activity> for Janitor {
    type Result = ();

    fn handle(&mut self, activity: Activity, _: &mut Context<Self>) {
        self.take_pending();
        self.record(activity);
    }
}

impl Handler<TakeActivity> for Janitor {
    type Result = ();

    fn handle(&mut self, _: TakeActivity, _: &mut Context<Self>) {
        self.take_pending();
    }
}

impl Handler<ListChannels> for Janitor {
    type Result = MessageResult<ListChannels>;

    fn handle(&mut self, list: ListChannels, _: &mut Context<Self>) -> Self::Result {
        self.take_pending();
        let interned = &self.interned;
        let listed = self.channels.iter().filter_map(|(sid, held)| held.listing(*sid, interned));
        MessageResult(
            listed.filter(|l| list.service_sid.is_none_or(|s| s == l.service_sid)).collect(),
        )
    }
}

impl Handler<ListOpenTasks> for Janitor {
    type Result = MessageResult<ListOpenTasks>;

    fn handle(&mut self, _: ListOpenTasks, _: &mut Context<Self>) -> Self::Result {
        self.take_pending();
        let mut tasks: Vec<OpenTask> =
            self.channels.iter().flat_map(|(sid, held)| held.open_tasks(*sid)).collect();
        tasks.sort_by_key(|t| (t.linked_at, t.task_sid));
        MessageResult(tasks)
    }
}

#[cfg(test)]
mod tests {
    use switchboard_domain::SidPrefix;

    use super::*;

    #[test]
    fn what_the_janitor_keeps_gives_back_the_listing_and_the_open_tasks() {
        let sid = |prefix, n| Sid::from_parts(prefix, [n; 16]);
        let channel = sid(SidPrefix::CHANNEL, 1);
        let task = |n| OpenTask {
            task_sid: sid(SidPrefix::TASK, n),
            channel_sid: channel,
            linked_at: Timestamp(i64::from(n)),
        };
        let activity = Activity {
            channel_sid: channel,
            listing: Some(ChannelListing {
                channel_sid: channel,
                service_sid: sid(SidPrefix::SERVICE, 2),
                kind: ChannelKind::Private,
                flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, 3)),
            }),
            active: true,
            janitor_enabled: true,
            quiet_since: Timestamp(7),
            open_tasks: vec![task(1), task(2)],
        };
        let mut interned = Interned::default();
        let (held, grown) = Held::of(activity.clone(), &mut interned);
        assert_eq!(held.listing(channel, &interned), activity.listing);
        assert_eq!(held.open_tasks(channel).collect::<Vec<_>>(), activity.open_tasks);
        let owned = 2 * std::mem::size_of::<HeldTask>();
        assert_eq!(held.footprint(), crate::memory::btree_entry::<Sid, Held>() + owned);
        let one_sid = Interned::BYTES_EACH;
        assert_eq!((grown, interned.len()), (2 * one_sid, 2), "the service and the flow");

        // Another channel of the same service and flow adds nothing to the table.
        let other = sid(SidPrefix::CHANNEL, 4);
        let listing = activity.listing.map(|l| ChannelListing { channel_sid: other, ..l });
        let again = Activity { channel_sid: other, listing, ..activity };
        let (held, grown) = Held::of(again, &mut interned);
        assert_eq!((grown, interned.len()), (0, 2));
        assert_eq!(held.listing(other, &interned), listing);
    }
}
