//! The engine on a real log in a temporary folder: routing, deduplication, concurrency, the
//! janitor, and live fan-out.

use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::{Engine, EngineConfig, Inbound, SystemClock};
use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelState, ChannelStatus, ChannelType, FlowConfig, Integration,
    IntegrationType, Sid, SidPrefix, TaskOutcome,
};
use switchboard_store::{Durability, EventLog, StoreConfig};

struct Setup {
    _dir: tempfile::TempDir,
    engine: Engine,
    log: Arc<EventLog>,
}

fn config(window: Duration) -> EngineConfig {
    EngineConfig {
        janitor_window: window,
        janitor_tick: Duration::from_millis(50),
        hibernate_after: Duration::from_millis(200),
        ..EngineConfig::default()
    }
}

fn start(window: Duration) -> Setup {
    start_with(config(window))
}

fn start_with(config: EngineConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StoreConfig::new(dir.path().join("data"));
    store.durability = Durability::Flush;
    let log = Arc::new(EventLog::open(store, MasterKey::generate()).unwrap());
    let engine = Engine::start(Arc::clone(&log), Arc::new(SystemClock), config).unwrap();
    Setup { _dir: dir, engine, log }
}

async fn sms_flow(engine: &Engine, long_lived: bool) -> switchboard_actors::FlowView {
    let service = engine.services().create("svc".into(), engine.now()).await.unwrap();
    let config = FlowConfig {
        friendly_name: "sms".into(),
        chat_service_sid: service.sid,
        channel_type: ChannelType::Sms,
        contact_identity: Some("+15005550006".into()),
        enabled: true,
        integration_type: IntegrationType::Task,
        integration: Integration::default(),
        long_lived,
        janitor_enabled: true,
    };
    engine.flows().create(config, engine.now()).await.unwrap().unwrap()
}

async fn all_messages(engine: &Engine, channel: Sid) -> Vec<switchboard_actors::MessageView> {
    let state = engine.channels().state(channel).await.unwrap().unwrap();
    engine.messages().page(&state, 0, u64::MAX, false).unwrap()
}

fn sms(from: &str, body: &str, id: &str) -> Inbound {
    Inbound {
        provider: switchboard_actors::metrics::InboundProvider::Twilio,
        channel_type: ChannelType::Sms,
        to: "+15005550006".into(),
        customer_address: from.into(),
        body: body.into(),
        media: Vec::new(),
        provider_message_id: Some(id.into()),
        profile_name: None,
        pre_engagement_data: None,
        attributes: None,
    }
}

#[actix_rt::test]
async fn same_customer_one_channel_other_customer_another() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, false).await;
    let a1 = engine.channels().inbound(sms("+14155550101", "hi", "SM1")).await.unwrap().unwrap();
    let a2 = engine.channels().inbound(sms("+14155550101", "again", "SM2")).await.unwrap().unwrap();
    let b = engine.channels().inbound(sms("+14155550102", "hello", "SM3")).await.unwrap().unwrap();
    assert!(a1.created_channel && !a2.created_channel && b.created_channel);
    assert_eq!(a1.channel_sid, a2.channel_sid);
    assert_ne!(a1.channel_sid, b.channel_sid);
    assert_eq!((a1.message_index, a2.message_index), (0, 1));
    let state = engine.channels().state(a1.channel_sid).await.unwrap().unwrap();
    assert_eq!(state.open_tasks.len(), 1, "one task for the interaction, not one per message");
    assert_eq!(
        state.member_by_identity("+14155550101").map(|(_, m)| m.identity.as_str()),
        Some("+14155550101")
    );
}

#[actix_rt::test]
async fn concurrent_messages_of_a_new_customer_make_one_channel() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, false).await;
    let sends = (0..50).map(|i| {
        let engine = engine.clone();
        async move {
            engine
                .channels()
                .inbound(sms("+14155550199", &format!("m{i}"), &format!("SMc{i}")))
                .await
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    let channels: std::collections::BTreeSet<_> =
        outcomes.iter().map(|o| o.as_ref().unwrap().as_ref().unwrap().channel_sid).collect();
    assert_eq!(channels.len(), 1);
    let channel = *channels.iter().next().unwrap();
    assert_eq!(all_messages(&engine, channel).await.len(), 50);
    assert_eq!(engine.channels().sids().unwrap().len(), 1);
}

#[actix_rt::test]
async fn redelivery_never_adds_a_second_message() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, false).await;
    let sends = (0..20).map(|_| {
        let engine = engine.clone();
        async move {
            engine.channels().inbound(sms("+14155550150", "once", "SMdup")).await.unwrap().unwrap()
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    assert_eq!(all_messages(&engine, outcomes[0].channel_sid).await.len(), 1);
}

#[actix_rt::test]
async fn janitor_retires_quiet_channels_and_the_next_message_opens_a_new_one() {
    let Setup { engine, .. } = start(Duration::from_millis(300));
    sms_flow(&engine, false).await;
    let first =
        engine.channels().inbound(sms("+14155550160", "hi", "SMj1")).await.unwrap().unwrap();
    let mut retired = false;
    for _ in 0..60 {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        let state = engine.channels().state(first.channel_sid).await.unwrap().unwrap();
        if state.status == ChannelStatus::Inactive {
            assert!(state.open_tasks.is_empty(), "its task was canceled");
            retired = true;
            break;
        }
    }
    assert!(retired, "the janitor retired the channel");
    let next =
        engine.channels().inbound(sms("+14155550160", "back", "SMj2")).await.unwrap().unwrap();
    assert!(next.created_channel);
    assert_ne!(next.channel_sid, first.channel_sid);
}

#[actix_rt::test]
async fn long_lived_channels_are_reused_with_their_history() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, true).await;
    let first =
        engine.channels().inbound(sms("+14155550170", "hi", "SMl1")).await.unwrap().unwrap();
    let state = engine.channels().state(first.channel_sid).await.unwrap().unwrap();
    let task = *state.open_tasks.keys().next().unwrap();
    let done = engine
        .channels()
        .execute(
            first.channel_sid,
            vec![ChannelCommand::EndTask { task_sid: task, outcome: TaskOutcome::Completed }],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.events.len(), 2, "task ended and channel deactivated");
    let again =
        engine.channels().inbound(sms("+14155550170", "back", "SMl2")).await.unwrap().unwrap();
    assert_eq!(again.channel_sid, first.channel_sid);
    assert_eq!(again.message_index, 1);
    let state = engine.channels().state(first.channel_sid).await.unwrap().unwrap();
    assert_eq!(state.status, ChannelStatus::Active);
    assert_eq!(state.open_tasks.len(), 1, "a new interaction, a new task");
    assert_ne!(state.open_tasks.keys().next(), Some(&task));
}

#[actix_rt::test]
async fn members_receive_live_events_and_strangers_do_not() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, false).await;
    let mut customer = engine.hub().subscribe("+14155550180", None);
    let mut stranger = engine.hub().subscribe("+14155550181", None);
    let outcome =
        engine.channels().inbound(sms("+14155550180", "hello", "SMh1")).await.unwrap().unwrap();
    let mut seqs = Vec::new();
    while let Ok(Some(live)) =
        actix_rt::time::timeout(Duration::from_millis(300), customer.events.recv()).await
    {
        let switchboard_actors::Live::Event(event) = &*live else { panic!("only events here") };
        assert_eq!(event.channel_sid, outcome.channel_sid);
        seqs.push(event.seq);
    }
    // The creation (seq 0) happened before the customer joined; from the join on, everything.
    assert_eq!(seqs, vec![1, 2, 3], "member joined, message, task, in order");
    assert!(stranger.events.try_recv().is_err());
    assert_eq!(outcome.channel_sid.prefix(), SidPrefix::CHANNEL);
}

#[actix_rt::test]
async fn hibernated_channels_come_back_with_their_state() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    sms_flow(&engine, false).await;
    let first =
        engine.channels().inbound(sms("+14155550190", "hi", "SMz1")).await.unwrap().unwrap();
    for _ in 0..40 {
        if engine.operations().live_channels() == 0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(engine.operations().live_channels(), 0, "the quiet channel hibernated");
    let again =
        engine.channels().inbound(sms("+14155550190", "back", "SMz2")).await.unwrap().unwrap();
    assert_eq!(again.channel_sid, first.channel_sid);
    assert_eq!(again.message_index, 1);
}

#[actix_rt::test]
async fn a_second_enabled_flow_for_the_same_number_is_refused() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    let flow = sms_flow(&engine, false).await;
    let mut twin = flow.config.clone();
    twin.friendly_name = "twin".into();
    let refused = engine.flows().create(twin.clone(), engine.now()).await.unwrap();
    assert!(
        matches!(refused, Err(switchboard_domain::FlowRejection::Conflict { existing, .. }) if existing == flow.sid)
    );
    twin.enabled = false;
    assert!(engine.flows().create(twin, engine.now()).await.unwrap().is_ok());
}

/// Two new customers' channels: one of 20 messages, one of 1.
async fn busy_and_quiet(engine: &Engine, log: &EventLog) -> (Sid, Sid) {
    sms_flow(engine, false).await;
    let mut busy = None;
    for n in 0..20 {
        let stored = engine.channels().inbound(sms("+14155550111", "hi", &format!("SMb{n}")));
        busy = Some(stored.await.unwrap().unwrap().channel_sid);
    }
    let quiet = engine.channels().inbound(sms("+14155550112", "hi", "SMquiet")).await;
    let (busy, quiet) = (busy.unwrap(), quiet.unwrap().unwrap().channel_sid);
    assert!(log.load_snapshot::<ChannelState>(busy).unwrap().is_none(), "none yet");
    (busy, quiet)
}

/// `busy` has a snapshot at its head, `quiet` (too few events) none, and `busy` loads whole.
async fn assert_snapshotted_at_head(engine: &Engine, log: &EventLog, busy: Sid, quiet: Sid) {
    let head = log.next_seq(busy).unwrap();
    let (covered, state) = log.load_snapshot::<ChannelState>(busy).unwrap().expect("a snapshot");
    assert_eq!((covered, state.events_applied), (head, head));
    assert!(log.load_snapshot::<ChannelState>(quiet).unwrap().is_none(), "too few events");
    let back = engine.channels().state(busy).await.unwrap().unwrap();
    assert_eq!(back.events_applied, head, "the channel loads again with every event");
}

/// A clean stop leaves a snapshot of each live channel far enough past its latest one (here:
/// never snapshotted, 20 messages in), so that the next start replays little; a channel only a
/// few events in leaves none.
#[actix_rt::test]
async fn a_clean_stop_snapshots_the_channels_far_past_their_last_snapshot() {
    let Setup { engine, log, .. } = start(Duration::from_secs(3600));
    let (busy, quiet) = busy_and_quiet(&engine, &log).await;
    engine.operations().hibernate_all().await;
    assert_snapshotted_at_head(&engine, &log, busy, quiet).await;
}

/// After a crash no channel wrote a snapshot at the stop; the start loads every channel anyway,
/// and keeps the result of one far past its snapshot, so that the first messages after the start
/// do not all replay those tails again.
#[actix_rt::test]
async fn a_start_snapshots_the_channels_a_crash_left_far_past_their_last_snapshot() {
    // Nothing hibernates on its own during the test.
    let config = EngineConfig {
        hibernate_after: Duration::from_secs(3600),
        ..config(Duration::from_secs(3600))
    };
    let Setup { engine, log, .. } = start_with(config.clone());
    let (busy, quiet) = busy_and_quiet(&engine, &log).await;
    // What a start after a crash does: the same log, no clean stop before it.
    let restarted = Engine::start(Arc::clone(&log), Arc::new(SystemClock), config).unwrap();
    assert_snapshotted_at_head(&restarted, &log, busy, quiet).await;
}

#[actix_rt::test]
async fn a_message_no_enabled_flow_takes_is_refused_and_stored_nowhere() {
    let Setup { engine, .. } = start(Duration::from_secs(3600));
    let refused = engine.channels().inbound(sms("+14155550111", "hi", "SMu1")).await.unwrap();
    assert_eq!(refused, Err(switchboard_actors::InboundRefusal::Unrouted), "no flow yet");
    sms_flow(&engine, false).await;
    let elsewhere = Inbound { to: "+15005550007".into(), ..sms("+14155550111", "hi", "SMu2") };
    let refused = engine.channels().inbound(elsewhere).await.unwrap();
    assert_eq!(refused, Err(switchboard_actors::InboundRefusal::Unrouted), "another number");
    let whatsapp =
        Inbound { channel_type: ChannelType::Whatsapp, ..sms("+14155550111", "hi", "SMu3") };
    let refused = engine.channels().inbound(whatsapp).await.unwrap();
    assert_eq!(refused, Err(switchboard_actors::InboundRefusal::Unrouted), "another channel type");
    assert!(engine.channels().sids().unwrap().is_empty(), "nothing stored");
    let stored =
        engine.channels().inbound(sms("+14155550111", "hi", "SMu4")).await.unwrap().unwrap();
    assert_eq!(all_messages(&engine, stored.channel_sid).await.len(), 1);
}

/// An engine whose SMS flow makes TaskRouter tasks in the workspace a first start makes (whose
/// workflow they take), with its SID; a waiting task untouched for `hibernate_after` is idle.
async fn with_task_flow(hibernate_after: Duration) -> (Setup, Sid) {
    let mut config = config(Duration::from_secs(3600));
    config.outbox.account_sid = format!("AC{}", "0".repeat(32));
    config.hibernate_after = hibernate_after;
    let setup = start_with(config);
    let settings = switchboard_routing::workspace::named_settings("Flex Task Assignment");
    let flex = switchboard_routing::workspace::Template::Flex;
    let workspace = setup.engine.workspaces().create(settings, flex, setup.engine.now()).await;
    let workspace = workspace.unwrap().unwrap().sid.unwrap();
    sms_flow(&setup.engine, false).await;
    (setup, workspace)
}

/// Issue 20: TaskRouter's open tasks count in the daemon's memory figures, and the router's tick
/// has the log forget a task's cached head and key once folded; a task changed after that reads
/// them again from the store, and its history goes on as a restart replays it.
#[actix_rt::test]
async fn open_tasks_are_counted_and_a_task_whose_caches_were_forgotten_changes_as_before() {
    use switchboard_actors::TaskChanges;
    use switchboard_routing::task::{AssignmentStatus, TaskState};

    // The tasks stay in memory: idle ones are the next test's.
    let (Setup { engine, log, _dir }, _) = with_task_flow(Duration::from_secs(3600)).await;
    let counted_before = engine.operations().memory().tasks_bytes;
    for n in 0..3 {
        let (from, id) = (format!("+141555502{n:02}"), format!("SMt{n}"));
        engine.channels().inbound(sms(&from, "hi", &id)).await.unwrap().unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..200 {
        tasks = engine.task_router().tasks_in_memory();
        if tasks.len() == 3 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tasks.len(), 3, "each customer's channel made its TaskRouter task");
    let counted = engine.operations().memory().tasks_bytes - counted_before;
    let attributes: usize = tasks.iter().map(|t| t.attributes.len()).sum();
    let least = attributes + 3 * std::mem::size_of::<TaskState>();
    assert!(counted >= least, "{counted} bytes counted for three open tasks, at least {least}");

    // Folded, the heads can go; the router's tick has the log forget them.
    log.fold().unwrap();
    let sids: Vec<Sid> = tasks.iter().map(|t| t.sid.unwrap()).collect();
    let mut cached = sids.clone();
    for _ in 0..200 {
        cached.retain(|sid| log.caches_head_of(*sid));
        if cached.is_empty() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cached, Vec::<Sid>::new(), "the tasks' heads were forgotten");

    // Changed twice: each change reads the head and key again (a stale head would be a
    // conflict, a lost key a record no one can open).
    let task = tasks[0].clone();
    let (workspace, sid) = (task.workspace_sid.unwrap(), task.sid.unwrap());
    let router = engine.task_router();
    let attributes =
        TaskChanges { attributes: Some(r#"{"changed":true}"#.into()), ..TaskChanges::default() };
    let changed = router.update_task(workspace, sid, attributes, engine.now()).await;
    let changed = changed.unwrap().unwrap();
    assert!(changed.version > task.version, "{} then {}", task.version, changed.version);
    assert_eq!(changed.attributes, r#"{"changed":true}"#);
    assert_eq!(changed.events_applied, log.next_seq(sid).unwrap(), "appended past the head");
    log.fold().unwrap();
    let canceled = TaskChanges {
        assignment_status: Some(AssignmentStatus::Canceled),
        reason: Some("done".into()),
        ..TaskChanges::default()
    };
    let canceled = router.update_task(workspace, sid, canceled, engine.now()).await;
    let canceled = canceled.unwrap().unwrap();
    assert_eq!(canceled.assignment_status, AssignmentStatus::Canceled);
    assert_eq!(canceled.events_applied, log.next_seq(sid).unwrap(), "every event in the log");
    let replayed = switchboard_store::StreamLog::<TaskState>::load(&log, sid).unwrap();
    assert_eq!(replayed.state(), &canceled, "the log replays to the state the router holds");
    assert_eq!(router.task(workspace, sid).unwrap().as_ref(), Some(&canceled));
}

/// Two customers' tasks made one after the other (the first is the first in line), once both
/// are idle: as listed, read from the log.
async fn two_idle_tasks(
    engine: &Engine,
    workspace: Sid,
) -> Vec<switchboard_routing::task::TaskState> {
    let router = engine.task_router();
    for n in 0..2 {
        let (from, id) = (format!("+141555503{n:02}"), format!("SMi{n}"));
        engine.channels().inbound(sms(&from, "hi", &id)).await.unwrap().unwrap();
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let mut listed = Vec::new();
    for _ in 0..200 {
        listed = router.tasks(workspace).unwrap();
        let open = router.tasks_in_memory().iter().filter(|t| t.is_live()).count();
        if listed.len() == 2 && open == 0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed.len(), 2, "both tasks listed, read from the log");
    listed
}

/// Issue 20: a supervisor's overview (polled by every supervisor's console) shows idle tasks
/// from what the router keeps of them, exactly as their states say, reading nothing from the log.
#[actix_rt::test]
async fn a_supervisors_overview_of_idle_tasks_reads_nothing_from_the_log() {
    use switchboard_routing::task::AssignmentStatus;

    let (Setup { engine, .. }, workspace) = with_task_flow(Duration::from_millis(300)).await;
    let router = engine.task_router();
    let listed = two_idle_tasks(&engine, workspace).await;
    let reads = router.tasks_read_from_log();
    let summaries = router.task_summaries(workspace);
    assert_eq!(router.tasks_read_from_log(), reads, "the overview read no task from the log");
    assert!(router.tasks_in_memory().is_empty(), "and woke none");
    assert_eq!(summaries.len(), 2);
    for (summary, task) in summaries.iter().zip(&listed) {
        assert_eq!(Some(summary.sid), task.sid, "in the list's order");
        assert_eq!(summary.status, AssignmentStatus::Pending);
        assert_eq!(summary.queue_sid, task.route.as_ref().map(|r| r.queue_sid));
        assert!(summary.queue_sid.is_some(), "waiting in a queue");
        assert_eq!(summary.queue_entered, task.task_queue_entered_date);
        assert_eq!(summary.date_created, task.date_created);
        assert_eq!(summary.attributes, task.attributes);
        assert_eq!(summary.holder, None);
    }
}

/// Issue 20: a task that waits untouched for the hibernation period, offered to no one, leaves
/// memory (the router keeps its place in line, its deadline, its age's base and what matching
/// evaluates, its attributes' text among it, counted far below a task's state); it is still
/// counted as waiting, listed and fetched (from the log), and a worker who becomes available is
/// offered it as before, matched without reading the log, which brings it back into memory.
#[actix_rt::test]
async fn a_task_waiting_untouched_leaves_memory_and_is_offered_as_before() {
    use switchboard_actors::NewWorker;
    use switchboard_routing::task::{AssignmentStatus, ReservationStatus, TaskState};

    let (Setup { engine, log, _dir }, workspace) = with_task_flow(Duration::from_millis(300)).await;
    let router = engine.task_router();
    let counted_before = engine.operations().memory().tasks_bytes;
    let listed = two_idle_tasks(&engine, workspace).await;
    let reads = router.tasks_read_from_log();
    let cut = router.task_list(workspace);
    assert!(cut.iter().all(|t| matches!(t, switchboard_actors::ListedTask::Idle { .. })));
    assert_eq!(router.tasks_read_from_log(), reads, "a list reads nothing before its page");
    assert!(router.tasks_in_memory().is_empty(), "both idle: no state in memory");
    assert!(listed.iter().all(|t| t.assignment_status == AssignmentStatus::Pending));
    assert_eq!(router.waiting(engine.now()).0, 2, "idle tasks still wait");
    // What is held is counted: the attributes' text, and at most 400 bytes each beside it (a
    // task held whole is counted at about 1 KB, its state alone a third of that).
    let counted = engine.operations().memory().tasks_bytes - counted_before;
    let text: usize = listed.iter().map(|t| t.attributes.len()).sum();
    assert!(counted >= text, "{counted} bytes counted, {text} of attributes held");
    assert!(counted - text <= 2 * 400, "{counted} bytes counted for two idle tasks");
    let first = listed[0].sid.unwrap();
    let fetched = router.task(workspace, first).unwrap().unwrap();
    assert_eq!(fetched, listed[0], "fetched as listed");

    // A worker becomes available: the first in line is offered to it, read from the log.
    let available = router.workspace_state(workspace).unwrap();
    let available = available.activities_in_order().into_iter().find(|a| a.record.available);
    let new = NewWorker {
        friendly_name: "alice".into(),
        attributes: "{}".into(),
        activity_sid: Some(available.unwrap().record.sid),
    };
    let account = fetched.account_sid.unwrap();
    let reads = router.tasks_read_from_log();
    let worker = router.create_worker(workspace, account, new, engine.now()).await;
    let worker = worker.unwrap().unwrap().sid.unwrap();
    assert_eq!(router.tasks_read_from_log(), reads, "matched without reading the log");
    let offered = router.task(workspace, first).unwrap().unwrap();
    assert_eq!(offered.assignment_status, AssignmentStatus::Reserved, "{offered:?}");
    let reservation = offered.pending_reservation().unwrap();
    assert_eq!((reservation.worker_sid, reservation.status), (worker, ReservationStatus::Pending));
    let in_memory: Vec<Sid> = router.tasks_in_memory().iter().filter_map(|t| t.sid).collect();
    assert_eq!(in_memory, vec![first], "offered, it is held again; the other stays idle");
    assert_eq!(router.waiting(engine.now()).0, 1);
    let replayed = switchboard_store::StreamLog::<TaskState>::load(&log, first).unwrap();
    assert_eq!(replayed.state(), &offered, "the log replays to the state the router holds");
}
