//! The workspace's rules, and the Flex workspace it is seeded as.

use super::*;

fn counter() -> impl FnMut(SidPrefix) -> Sid {
    let mut next = 0u8;
    move |prefix| {
        next += 1;
        Sid::from_parts(prefix, [next; 16])
    }
}

fn run(
    state: &mut WorkspaceState,
    commands: Vec<WorkspaceCommand>,
) -> Result<(), WorkspaceRejection> {
    let mut copy = state.clone();
    for command in commands {
        for event in copy.decide(command)? {
            copy.apply(&Recorded::new(Timestamp::from_millis(1_000), event));
        }
    }
    *state = copy;
    Ok(())
}

fn flex() -> WorkspaceState {
    let mut state = WorkspaceState::default();
    let (sid, commands) =
        new_workspace(named_settings("Flex Task Assignment"), Template::Flex, counter());
    run(&mut state, commands).expect("the Flex workspace is made");
    assert_eq!(state.sid, Some(sid));
    state
}

fn queue_sid(state: &WorkspaceState) -> Sid {
    *state.task_queues.keys().next().unwrap()
}

#[test]
fn the_flex_workspace_has_what_flex_expects() {
    let state = flex();
    let (_, settings) = state.live().unwrap();
    let names: Vec<_> =
        state.activities_in_order().iter().map(|k| k.record.friendly_name.as_str()).collect();
    assert_eq!(names, ["Offline", "Available", "Unavailable"]);
    let offline = settings.default_activity_sid.unwrap();
    assert_eq!(state.activity(offline).unwrap().friendly_name, "Offline");
    assert_eq!(settings.timeout_activity_sid, Some(offline));
    assert!(settings.multi_task_enabled);
    let channels: Vec<_> =
        state.task_channels_in_order().iter().map(|k| k.record.unique_name.as_str()).collect();
    assert_eq!(channels, FLEX_TASK_CHANNELS);
    assert_eq!(state.task_channel_named("chat").unwrap().friendly_name, "Chat");
    let queue = state.task_queue(queue_sid(&state)).unwrap();
    assert_eq!((queue.friendly_name.as_str(), queue.target_workers.as_str()), ("Everyone", "1==1"));
    let workflow = state.workflows.values().next().unwrap();
    assert_eq!(workflow.record.friendly_name, "Assign to Anyone");
    let configuration = WorkflowConfiguration::parse(&workflow.record.configuration).unwrap();
    assert_eq!(configuration.queue_sids(), vec![queue.sid]);
}

#[test]
fn nothing_is_changed_in_a_workspace_that_is_not_there() {
    let state = WorkspaceState::default();
    let activity = Activity {
        sid: Sid::from_parts(SidPrefix::ACTIVITY, [1; 16]),
        friendly_name: "A".into(),
        available: true,
    };
    assert_eq!(
        state.decide(WorkspaceCommand::Add(Part::Activity(activity))),
        Err(WorkspaceRejection::NotFound)
    );
    let mut deleted = flex();
    run(&mut deleted, vec![WorkspaceCommand::Delete]).unwrap();
    assert!(deleted.live().is_none());
    assert_eq!(deleted.decide(WorkspaceCommand::Delete), Err(WorkspaceRejection::NotFound));
    let (sid, mut again) = new_workspace(named_settings("again"), Template::Bare, counter());
    let WorkspaceCommand::Create { settings, .. } = again.remove(0) else { panic!() };
    assert_eq!(
        deleted.decide(WorkspaceCommand::Create { workspace_sid: sid, settings }),
        Err(WorkspaceRejection::Exists),
        "a deleted workspace's SID is not made again"
    );
}

#[test]
fn names_are_unique_and_fixed_fields_stay() {
    let mut state = flex();
    let offline = state.live().unwrap().1.default_activity_sid.unwrap();
    let twin = Activity {
        sid: Sid::from_parts(SidPrefix::ACTIVITY, [99; 16]),
        friendly_name: "offline".into(),
        available: false,
    };
    assert!(matches!(
        state.decide(WorkspaceCommand::Add(Part::Activity(twin))),
        Err(WorkspaceRejection::Duplicate(_))
    ));
    let flipped = Activity { available: true, ..state.activity(offline).unwrap().clone() };
    assert!(matches!(
        state.decide(WorkspaceCommand::Replace(Part::Activity(flipped))),
        Err(WorkspaceRejection::Invalid(_))
    ));
    let renamed =
        Activity { friendly_name: "Away".into(), ..state.activity(offline).unwrap().clone() };
    run(&mut state, vec![WorkspaceCommand::Replace(Part::Activity(renamed))]).unwrap();
    assert_eq!(state.activity(offline).unwrap().friendly_name, "Away");
    let chat = state.task_channel_named("chat").unwrap().clone();
    let hyphen = TaskChannel {
        sid: Sid::from_parts(SidPrefix::TASK_CHANNEL, [98; 16]),
        unique_name: "live-chat".into(),
        ..chat.clone()
    };
    assert!(matches!(
        state.decide(WorkspaceCommand::Add(Part::TaskChannel(hyphen))),
        Err(WorkspaceRejection::Invalid(_))
    ));
    let twin =
        TaskChannel { sid: Sid::from_parts(SidPrefix::TASK_CHANNEL, [97; 16]), ..chat.clone() };
    assert!(matches!(
        state.decide(WorkspaceCommand::Add(Part::TaskChannel(twin))),
        Err(WorkspaceRejection::Duplicate(_))
    ));
    let replaced_as_other_kind = Part::TaskQueue(TaskQueue {
        sid: chat.sid,
        friendly_name: "q".into(),
        target_workers: "1==1".into(),
        max_reserved_workers: 1,
        task_order: TaskOrder::Fifo,
        reservation_activity_sid: None,
        assignment_activity_sid: None,
    });
    assert_eq!(
        state.decide(WorkspaceCommand::Replace(replaced_as_other_kind)),
        Err(WorkspaceRejection::PartNotFound(chat.sid))
    );
}

#[test]
fn queues_and_workflows_are_checked_before_they_are_recorded() {
    let state = flex();
    let queue = state.task_queue(queue_sid(&state)).unwrap().clone();
    let broken = TaskQueue { target_workers: "skill-level > 3".into(), ..queue.clone() };
    assert!(
        matches!(state.decide(WorkspaceCommand::Replace(Part::TaskQueue(broken))), Err(WorkspaceRejection::Invalid(m)) if m.contains("TargetWorkers"))
    );
    let many = TaskQueue { max_reserved_workers: 2, ..queue.clone() };
    assert!(matches!(
        state.decide(WorkspaceCommand::Replace(Part::TaskQueue(many))),
        Err(WorkspaceRejection::Unsupported(_))
    ));
    let unknown_activity = TaskQueue {
        assignment_activity_sid: Some(Sid::from_parts(SidPrefix::ACTIVITY, [77; 16])),
        ..queue
    };
    assert!(matches!(
        state.decide(WorkspaceCommand::Replace(Part::TaskQueue(unknown_activity))),
        Err(WorkspaceRejection::Invalid(_))
    ));
    let workflow = state.workflows.values().next().unwrap().record.clone();
    let elsewhere = everyone_configuration(Sid::from_parts(SidPrefix::TASK_QUEUE, [66; 16]));
    let astray = Workflow { configuration: elsewhere, ..workflow.clone() };
    assert!(
        matches!(state.decide(WorkspaceCommand::Replace(Part::Workflow(astray))), Err(WorkspaceRejection::Invalid(m)) if m.contains("not a task queue"))
    );
    let not_json = Workflow { configuration: "{".into(), ..workflow.clone() };
    assert!(matches!(
        state.decide(WorkspaceCommand::Replace(Part::Workflow(not_json))),
        Err(WorkspaceRejection::Invalid(_))
    ));
    let forever = Workflow { task_reservation_timeout: MAX_RESERVATION_TIMEOUT + 1, ..workflow };
    assert!(matches!(
        state.decide(WorkspaceCommand::Replace(Part::Workflow(forever))),
        Err(WorkspaceRejection::Invalid(_))
    ));
}

#[test]
fn a_part_something_names_is_not_removed() {
    let mut state = flex();
    let offline = state.live().unwrap().1.default_activity_sid.unwrap();
    assert!(matches!(
        state.decide(WorkspaceCommand::Remove(offline)),
        Err(WorkspaceRejection::InUse(_))
    ));
    let queue = queue_sid(&state);
    assert!(
        matches!(state.decide(WorkspaceCommand::Remove(queue)), Err(WorkspaceRejection::InUse(m)) if m.contains("workflow"))
    );
    let workflow = *state.workflows.keys().next().unwrap();
    run(&mut state, vec![WorkspaceCommand::Remove(workflow), WorkspaceCommand::Remove(queue)])
        .unwrap();
    assert!(state.task_queues.is_empty() && state.workflows.is_empty());
    assert_eq!(
        state.decide(WorkspaceCommand::Remove(queue)),
        Err(WorkspaceRejection::PartNotFound(queue))
    );
}

#[test]
fn replaying_the_records_gives_the_same_state_and_dates() {
    let mut state = WorkspaceState::default();
    let (_, commands) = new_workspace(named_settings("w"), Template::Fifo, counter());
    let mut records = Vec::new();
    for (i, command) in commands.into_iter().enumerate() {
        for event in state.decide(command).unwrap() {
            let record = Recorded::new(Timestamp::from_millis(1_000 + i as i64), event);
            state.apply(&record);
            records.push(record);
        }
    }
    let mut replayed = WorkspaceState::default();
    for record in &records {
        replayed.apply(record);
    }
    assert_eq!(replayed, state);
    assert_eq!(state.events_applied, records.len() as u64);
    let channel = state.task_channels.values().next().unwrap();
    assert!(channel.date_created <= channel.date_updated);
    let stored = rmp_serde::to_vec_named(&records).unwrap();
    let back: Vec<Recorded<WorkspaceEvent>> = rmp_serde::from_slice(&stored).unwrap();
    assert_eq!(back, records);
}

#[test]
fn templates_differ_only_in_their_queue_and_workflow() {
    let made = |template| {
        let mut state = WorkspaceState::default();
        run(&mut state, new_workspace(named_settings("w"), template, counter()).1).unwrap();
        state
    };
    let bare = made(Template::Bare);
    assert_eq!((bare.activities.len(), bare.task_channels.len()), (3, 5));
    assert!(bare.task_queues.is_empty() && bare.workflows.is_empty());
    assert!(bare.live().unwrap().1.default_activity_sid.is_some());
    let fifo = made(Template::Fifo);
    let queue = &fifo.task_queues.values().next().unwrap().record;
    assert_eq!(queue.friendly_name, "Sample Queue");
    let workflow = &fifo.workflows.values().next().unwrap().record;
    assert_eq!(workflow.friendly_name, "Default Fifo Workflow");
    assert_eq!(workflow.task_reservation_timeout, DEFAULT_RESERVATION_TIMEOUT);
}
