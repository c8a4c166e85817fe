//! Studio flows in Studio's own JSON (`tests/flows/*.json`, of the shapes Flex deployments use)
//! driven through `decide` and `apply` with scripted replies, message outcomes and HTTP answers:
//! the messages sent, the steps entered, the Flex task's attributes, timeouts, failures, loops,
//! and replay of the recorded events (through the store's positional MessagePack) from nothing.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_domain::{Aggregate, Recorded, Sid, SidPrefix, Timestamp};
use switchboard_studio::{
    validate, validate_json, Definition, ExecutionCommand, ExecutionEvent, ExecutionInput,
    ExecutionRejection, ExecutionState, ExecutionStatus, FlowStatus, Limits, StudioFlowCommand,
    StudioFlowState, ValidDefinition, Waiting,
};

fn flow(name: &str) -> Arc<ValidDefinition> {
    let path = format!("{}/tests/flows/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    Arc::new(validate_json(&text).unwrap_or_else(|e| panic!("{name}: {e:?}")))
}

fn trigger(body: &str) -> Value {
    json!({"message": {
        "Body": body, "From": "+15005550001", "To": "+15005550006",
        "ChannelSid": "CH00000000000000000000000000000001",
        "InstanceSid": "IS00000000000000000000000000000001",
        "ChannelAttributes": {"from": "Ann", "channel_type": "sms",
                              "pre_engagement_data": {"locale": "en"}}
    }})
}

/// One execution, its log and its clock.
struct Run {
    definition: Arc<ValidDefinition>,
    state: ExecutionState,
    log: Vec<Recorded<ExecutionEvent>>,
    now: i64,
}

impl Run {
    fn start(definition: Arc<ValidDefinition>, body: &str, limits: Limits) -> Run {
        let mut run = Run { definition, state: ExecutionState::default(), log: vec![], now: 1_000 };
        run.send(ExecutionInput::Start {
            execution_sid: Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [7; 16]),
            flow_sid: Sid::from_parts(SidPrefix::STUDIO_FLOW, [1; 16]),
            revision: 1,
            trigger_event: "incomingMessage".into(),
            trigger: trigger(body),
            data: Value::Null,
            flow_address: "+15005550006".into(),
            limits,
        })
        .unwrap();
        run
    }

    fn send(&mut self, input: ExecutionInput) -> Result<Vec<ExecutionEvent>, ExecutionRejection> {
        self.now += 1_000;
        let at = Timestamp(self.now);
        let command = ExecutionCommand { definition: self.definition.clone(), at, input };
        // As the store runs it: the runner's own fold, when it gives one, is what the store
        // keeps, so it must be what applying each event leaves.
        let (events, folded) = self.state.decide_folded(command.clone(), at)?;
        assert_eq!(self.state.decide(command), Ok(events.clone()), "one decision either way");
        for event in &events {
            let record = Recorded::new(at, event.clone());
            self.state.apply(&record);
            self.log.push(record);
        }
        if let Some(folded) = folded {
            assert_eq!(folded, self.state, "the runner's fold is apply's");
        }
        Ok(events)
    }

    /// Confirms delivery of the message the execution waits on.
    fn delivered(&mut self) -> Vec<ExecutionEvent> {
        let Some(Waiting::MessageOutcome { step_sid, .. }) = self.state.waiting.clone() else {
            panic!("not waiting for a message's outcome: {:?}", self.state.waiting);
        };
        self.send(ExecutionInput::MessageOutcome { step_sid, sent: true, error: None }).unwrap()
    }

    fn reply(&mut self, body: &str) -> Vec<ExecutionEvent> {
        let from = "+15005550001".to_owned();
        self.send(ExecutionInput::Reply { body: body.into(), from, message: None }).unwrap()
    }

    fn messages(&self) -> Vec<String> {
        self.events()
            .filter_map(|e| match e {
                ExecutionEvent::MessageRequested { body, .. } => Some(body.clone()),
                _ => None,
            })
            .collect()
    }

    fn steps(&self) -> Vec<String> {
        self.events()
            .filter_map(|e| match e {
                ExecutionEvent::StepEntered { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    fn events(&self) -> impl Iterator<Item = &ExecutionEvent> {
        self.log.iter().map(|r| &r.event)
    }

    fn http_step(&self) -> Sid {
        match &self.state.waiting {
            Some(Waiting::Http { step_sid, .. }) => *step_sid,
            other => panic!("not waiting for HTTP: {other:?}"),
        }
    }
}

#[test]
fn greeting_and_menu_route_a_reply_through_the_split() {
    let mut run = Run::start(flow("greeting_menu"), "hello", Limits::default());
    assert_eq!(run.messages(), ["Hi Ann! Reply 1 for sales or 2 for support."]);
    assert!(run.state.reply_deadline().is_some(), "send-and-wait waits for the reply");
    let events = run.reply("banana");
    assert!(matches!(events.last(), Some(ExecutionEvent::MessageRequested { .. })));
    run.delivered();
    assert_eq!(run.messages().len(), 3, "not understood, then the greeting again");
    assert_eq!(run.messages()[1], "Sorry, I did not understand \"banana\".");
    run.reply(" Support ");
    run.delivered();
    assert_eq!(run.messages().last().unwrap(), "Support is on its way.");
    assert_eq!(
        run.steps(),
        ["greet", "menu", "not_understood", "greet", "menu", "support"],
        "every step entered is an event"
    );
    assert_eq!(run.state.status, ExecutionStatus::Ended);
    assert_eq!(run.state.reason.as_deref(), Some("the flow ended at 'support' on 'sent'"));
    let step = run.log.iter().find_map(|r| match &r.event {
        ExecutionEvent::StepEntered { name, transitioned_from, event, widget_type, .. }
            if name == "menu" =>
        {
            Some((transitioned_from.clone(), event.clone(), widget_type.clone()))
        }
        _ => None,
    });
    assert_eq!(step, Some(("greet".into(), "incomingMessage".into(), "split-based-on".into())));
    let finished =
        run.send(ExecutionInput::Reply { body: "1".into(), from: "x".into(), message: None });
    assert_eq!(finished, Err(ExecutionRejection::Finished));
}

#[test]
fn the_first_matching_case_wins_and_the_contact_address_renders() {
    let mut run = Run::start(flow("greeting_menu"), "hello", Limits::default());
    run.reply("1");
    run.delivered();
    assert_eq!(run.messages().last().unwrap(), "Sales will write to you at +15005550001 shortly.");
    assert_eq!(run.steps(), ["greet", "menu", "sales"]);
}

#[test]
fn a_timeout_fires_only_when_due_and_then_follows_timeout() {
    let mut run = Run::start(flow("greeting_menu"), "hello", Limits::default());
    let deadline = run.state.reply_deadline().unwrap();
    assert_eq!(deadline.as_millis(), 2_000 + 600 * 1000, "the widget's timeout of 600 s");
    assert_eq!(run.send(ExecutionInput::Timeout), Err(ExecutionRejection::NotDue(deadline)));
    run.now = deadline.as_millis();
    run.send(ExecutionInput::Timeout).unwrap();
    assert_eq!(run.messages().last().unwrap(), "No answer, so goodbye for now.");
    assert_eq!(run.send(ExecutionInput::Timeout), Err(ExecutionRejection::NotWaitingForReply));
    run.delivered();
    assert_eq!(run.state.status, ExecutionStatus::Ended);
}

#[test]
fn a_failed_delivery_follows_delivery_failure_and_late_outcomes_record_nothing() {
    let mut run = Run::start(flow("greeting_menu"), "hello", Limits::default());
    let Some(Waiting::Reply { step_sid, .. }) = run.state.waiting.clone() else { panic!() };
    let sent = ExecutionInput::MessageOutcome { step_sid, sent: true, error: None };
    assert_eq!(run.send(sent.clone()), Ok(vec![]), "delivered: still waiting for the reply");
    let failed =
        ExecutionInput::MessageOutcome { step_sid, sent: false, error: Some("30003".into()) };
    run.send(failed.clone()).unwrap();
    assert_eq!(run.state.status, ExecutionStatus::Ended);
    assert_eq!(run.state.context()["widgets"]["greet"]["error"], "30003");
    assert_eq!(run.send(failed), Err(ExecutionRejection::Finished));
}

#[test]
fn a_pre_survey_sets_variables_and_sends_the_task_with_rendered_attributes() {
    let mut run = Run::start(flow("pre_survey"), "hi", Limits::default());
    assert_eq!(run.messages(), ["Welcome! What is your name?"]);
    run.reply("  Ann Lee ");
    assert_eq!(
        run.messages()[1],
        "Thanks Ann Lee. What is your question about: billing or orders?"
    );
    let events = run.reply("BILLING");
    let Some(ExecutionEvent::FlexTaskRequested {
        workflow,
        channel,
        attributes,
        priority,
        timeout,
        ..
    }) = events.iter().find(|e| matches!(e, ExecutionEvent::FlexTaskRequested { .. }))
    else {
        panic!("no task requested: {events:?}");
    };
    assert_eq!(workflow, "WW0123456789abcdef0123456789abcdef");
    assert_eq!(channel, "TC0123456789abcdef0123456789abcdef");
    assert_eq!((priority.as_deref(), timeout.as_deref()), (Some("0"), Some("3600")));
    let attributes: Value = serde_json::from_str(attributes).unwrap();
    assert_eq!(
        attributes,
        json!({"name": "Ann Lee", "topic": "billing", "channelType": "sms",
               "channelSid": "CH00000000000000000000000000000001", "from": "+15005550001",
               "memory": {"locale": "en"}})
    );
    assert_eq!(run.state.status, ExecutionStatus::Ended, "send-to-flex ends the execution");
    assert_eq!(run.state.context()["flow"]["variables"]["name"], "Ann Lee");
    let steps = ["ask_name", "set_name", "ask_topic", "set_topic", "send_to_agent"];
    assert_eq!(run.steps(), steps);
}

#[test]
fn an_http_answer_is_parsed_and_branched_on() {
    let mut run = Run::start(flow("http_lookup"), "where is my order", Limits::default());
    let Some(ExecutionEvent::HttpRequested {
        method,
        url,
        headers,
        body,
        idempotency_key,
        step_sid,
    }) = run.log.last().map(|r| r.event.clone())
    else {
        panic!("no request: {:?}", run.log);
    };
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("POST", "https://crm.example.com/customers/lookup")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"phone": "+15005550001", "text": "where is my order"})
    );
    assert!(headers.contains(&("Content-Type".into(), "application/json".into())));
    assert!(headers.contains(&("Idempotency-Key".into(), idempotency_key.clone())));
    assert_eq!(idempotency_key, step_sid.to_string());
    let answer = r#"{"tier": "gold", "name": "Ann", "id": "c-42"}"#;
    let answered = ExecutionInput::HttpAnswered {
        step_sid,
        status: 200,
        content_type: Some("application/json".into()),
        body: answer.into(),
    };
    run.send(answered.clone()).unwrap();
    assert_eq!(run.state.context()["widgets"]["lookup"]["parsed"]["name"], "Ann");
    assert_eq!(run.state.context()["widgets"]["lookup"]["status_code"], 200);
    assert_eq!(run.messages(), ["Welcome back, Ann! Your gold line is open."]);
    assert_eq!(run.send(answered), Ok(vec![]), "a repeated answer records nothing");
    let events = run.delivered();
    let Some(ExecutionEvent::HttpRequested { method, url, body, headers, .. }) = events.last()
    else {
        panic!("run-function calls its URL: {events:?}");
    };
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("POST", "https://functions.example.com/log-visit")
    );
    assert_eq!(body, "customer=c-42&first+message=where+is+my+order");
    assert!(headers.contains(&("Content-Type".into(), "application/x-www-form-urlencoded".into())));
    let step_sid = run.http_step();
    run.send(ExecutionInput::HttpAnswered {
        step_sid,
        status: 500,
        content_type: None,
        body: "oops".into(),
    })
    .unwrap();
    assert_eq!(run.state.reason.as_deref(), Some("the flow ended at 'log_visit' on 'fail'"));
    assert_eq!(run.steps(), ["lookup", "tier", "vip", "log_visit"]);
}

#[test]
fn a_non_matching_answer_takes_no_match() {
    let mut run = Run::start(flow("http_lookup"), "hi", Limits::default());
    let step_sid = run.http_step();
    let body = r#"{"tier": "gold suspended"}"#.to_owned();
    run.send(ExecutionInput::HttpAnswered { step_sid, status: 201, content_type: None, body })
        .unwrap();
    assert_eq!(run.messages(), ["Hello there, how can we help?"]);
}

#[test]
fn an_http_service_that_fails_or_errs_follows_failed() {
    let mut run = Run::start(flow("http_lookup"), "hi", Limits::default());
    let step_sid = run.http_step();
    run.send(ExecutionInput::HttpFailed { step_sid, reason: "connection refused".into() }).unwrap();
    assert_eq!(run.messages(), ["Our systems are down (connection refused). Please try later."]);
    let mut run = Run::start(flow("http_lookup"), "hi", Limits::default());
    let step_sid = run.http_step();
    let body = "<html>busy</html>".to_owned();
    run.send(ExecutionInput::HttpAnswered { step_sid, status: 503, content_type: None, body })
        .unwrap();
    assert_eq!(run.messages(), ["Our systems are down (503). Please try later."]);
    assert!(run.state.context()["widgets"]["lookup"].get("parsed").is_none(), "no JSON, no parsed");
    let other = Sid::from_parts(SidPrefix::STUDIO_STEP, [9; 16]);
    let stale = ExecutionInput::HttpFailed { step_sid: other, reason: "late".into() };
    assert_eq!(run.send(stale), Ok(vec![]), "an answer for another step records nothing");
}

#[test]
fn only_json_is_parsed_and_a_response_over_64_kb_fails_the_call() {
    let mut run = Run::start(flow("http_lookup"), "hi", Limits::default());
    let step_sid = run.http_step();
    let body = r#"{"tier": "gold", "name": "Ann"}"#.to_owned();
    let text = Some("text/plain".to_owned());
    run.send(ExecutionInput::HttpAnswered { step_sid, status: 200, content_type: text, body })
        .unwrap();
    assert!(run.state.context()["widgets"]["lookup"].get("parsed").is_none());
    assert_eq!(run.messages(), ["Hello there, how can we help?"], "no parsed tier: no match");
    let mut run = Run::start(flow("http_lookup"), "hi", Limits::default());
    let step_sid = run.http_step();
    let body = format!("{{\"tier\": \"{}\"}}", "x".repeat(64 * 1024));
    run.send(ExecutionInput::HttpAnswered { step_sid, status: 200, content_type: None, body })
        .unwrap();
    assert_eq!(run.messages(), ["Our systems are down (200). Please try later."]);
    let error = &run.state.context()["widgets"]["lookup"]["error"];
    assert_eq!(error, "the response is larger than 65536 bytes");
}

/// The flow's stream after `commands`, each decided and applied.
fn flow_state(commands: Vec<StudioFlowCommand>) -> StudioFlowState {
    let mut state = StudioFlowState::default();
    for (at, command) in commands.into_iter().enumerate() {
        for event in state.decide(command).unwrap() {
            state.apply(&Recorded::new(Timestamp(at as i64), event));
        }
    }
    state
}

#[test]
fn an_execution_runs_the_revision_it_started_on_to_its_end() {
    let path = format!("{}/tests/flows/greeting_menu.json", env!("CARGO_MANIFEST_DIR"));
    let first = std::fs::read_to_string(path).unwrap();
    let create = StudioFlowCommand::Create {
        flow_sid: Sid::from_parts(SidPrefix::STUDIO_FLOW, [1; 16]),
        friendly_name: "Menu".into(),
        status: FlowStatus::Published,
        definition: first.clone(),
        commit_message: None,
    };
    let flows = flow_state(vec![create.clone()]);
    let pinned = |flows: &StudioFlowState, n| {
        Arc::new(validate_json(&flows.revision(n).unwrap().definition).unwrap())
    };
    let mut run = Run::start(pinned(&flows, 1), "hello", Limits::default());
    let update = StudioFlowCommand::Update {
        friendly_name: None,
        status: None,
        definition: Some(first.replace("Support is on its way.", "Revision two.")),
        commit_message: Some("new wording".into()),
    };
    let flows = flow_state(vec![create, update]);
    assert_eq!(flows.live_revision().unwrap().revision, 2, "new executions start on 2");
    run.definition = pinned(&flows, run.state.revision);
    run.reply("2");
    run.delivered();
    assert_eq!(run.messages().last().unwrap(), "Support is on its way.");
    let mut second = Run::start(pinned(&flows, 2), "hello", Limits::default());
    second.reply("2");
    assert_eq!(second.messages().last().unwrap(), "Revision two.");
}

/// A two-widget cycle of inline widgets: `count` set, then a split back to the start.
fn looping_flow(value: &str) -> Arc<ValidDefinition> {
    let text = json!({
        "states": [
            {"name": "Trigger", "type": "trigger",
             "transitions": [{"event": "incomingMessage", "next": "count"}]},
            {"name": "count", "type": "set-variables",
             "transitions": [{"event": "next", "next": "check"}],
             "properties": {"variables": [{"key": "n", "value": value}]}},
            {"name": "check", "type": "split-based-on",
             "transitions": [{"event": "noMatch", "next": "count"},
                             {"event": "match", "conditions": [{"friendly_name": "big",
                               "arguments": [], "type": "greater_than", "value": "1000"}]}],
             "properties": {"input": "{{flow.variables.n}}"}}
        ],
        "initial_state": "Trigger"
    });
    Arc::new(validate(&serde_json::from_value::<Definition>(text).unwrap()).unwrap())
}

#[test]
fn a_loop_without_waiting_is_stopped_with_a_clear_reason() {
    let run = Run::start(looping_flow("same"), "hi", Limits::default());
    assert_eq!(run.state.status, ExecutionStatus::Failed);
    let reason = run.state.reason.clone().unwrap();
    // The second `count` sets what the first set: `check` would be entered as before.
    assert!(reason.contains("loops without waiting") && reason.contains("'check'"), "{reason}");
    assert_eq!(run.steps(), ["count", "check", "count"]);
    let limits = Limits { max_steps: 20, ..Limits::default() };
    let counting =
        Run::start(looping_flow("{{flow.variables.n | default: 0 | plus: 1}}"), "hi", limits);
    assert_eq!(counting.state.status, ExecutionStatus::Failed);
    let reason = counting.state.reason.clone().unwrap();
    assert!(reason.contains("limit of 20 steps"), "a changing loop runs to the limit: {reason}");
    assert_eq!(counting.steps().len(), 20);
}

#[test]
fn the_context_limit_fails_the_execution() {
    let limits = Limits { max_context_bytes: 2048, ..Limits::default() };
    let mut run = Run::start(flow("http_lookup"), "hi", limits);
    let step_sid = run.http_step();
    let body = json!({"tier": "x".repeat(3000)}).to_string();
    run.send(ExecutionInput::HttpAnswered { step_sid, status: 200, content_type: None, body })
        .unwrap();
    assert_eq!(run.state.status, ExecutionStatus::Failed);
    assert!(run.state.reason.as_deref().unwrap().contains("limit of 2048 bytes"));
    assert!(run.messages().is_empty(), "nothing runs after the failure");
}

#[test]
fn validation_errors_name_the_state_and_the_property() {
    let text = std::fs::read_to_string(format!(
        "{}/tests/flows/greeting_menu.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let broken = text
        .replace("\"timeout\": \"600\"", "\"timeout\": \"ten minutes\"")
        .replace("\"type\": \"send-message\",\n      \"transitions\": [{\"event\": \"sent\"}, {\"event\": \"failed\"}],\n      \"properties\": {\n        \"offset\": {\"x\": 380", "\"type\": \"say-play\",\n      \"transitions\": [{\"event\": \"sent\"}, {\"event\": \"failed\"}],\n      \"properties\": {\n        \"offset\": {\"x\": 380")
        .replace("\"next\": \"goodbye\"", "\"next\": \"farewell\"")
        .replace("\"type\": \"matches_any_of\"", "\"type\": \"sounds_like\"")
        .replace("Support is on its way.", "{{ unclosed")
        .replace("No answer, so goodbye for now.", "{% if x %}never closed");
    let errors: Vec<String> =
        validate_json(&broken).unwrap_err().iter().map(ToString::to_string).collect();
    let expected = [
        "state 'greet': property 'transitions[1].next': transition 'timeout' leads to 'farewell', which is not a state",
        "state 'greet': property 'timeout': expected a number of seconds from 1 to 604800",
        "state 'menu': property 'transitions[2].conditions[0].type': 'sounds_like' is not a condition type",
        "state 'support': widget type 'say-play' is not supported",
        "state 'goodbye': property 'body': the template does not parse",
    ];
    for want in expected {
        assert!(errors.iter().any(|e| e.starts_with(want)), "missing {want:?} in {errors:#?}");
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

#[test]
fn the_definition_as_a_whole_is_checked() {
    let base = json!({"states": [
        {"name": "Trigger", "type": "trigger", "transitions": []},
        {"name": "a", "type": "send-message", "properties": {"body": "x"}},
        {"name": "a", "type": "send-message", "properties": {"body": "y"}}
    ], "initial_state": "a"});
    let errors: Vec<String> = validate(&serde_json::from_value(base).unwrap())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["two states are named 'a'", "initial_state 'a' is not the trigger"],
        "{errors:#?}"
    );
}

/// One scripted input, chosen by the property test.
#[derive(Debug, Clone)]
enum Step {
    Reply(String),
    Delivered,
    Failed,
    Timeout,
    Http(u16, String),
    HttpFailed,
}

fn input_for(run: &Run, step: &Step) -> ExecutionInput {
    let waiting = match &run.state.waiting {
        Some(
            Waiting::MessageOutcome { step_sid, .. }
            | Waiting::Reply { step_sid, .. }
            | Waiting::Http { step_sid, .. },
        ) => *step_sid,
        None => Sid::from_parts(SidPrefix::STUDIO_STEP, [0; 16]),
    };
    match step.clone() {
        Step::Reply(body) => {
            ExecutionInput::Reply { body, from: "+15005550001".into(), message: None }
        }
        Step::Delivered => {
            ExecutionInput::MessageOutcome { step_sid: waiting, sent: true, error: None }
        }
        Step::Failed => {
            ExecutionInput::MessageOutcome { step_sid: waiting, sent: false, error: None }
        }
        Step::Timeout => ExecutionInput::Timeout,
        Step::Http(status, body) => {
            ExecutionInput::HttpAnswered { step_sid: waiting, status, content_type: None, body }
        }
        Step::HttpFailed => ExecutionInput::HttpFailed { step_sid: waiting, reason: "down".into() },
    }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        prop::sample::select(vec!["1", "2", "help", "x", "Ann"])
            .prop_map(|s| Step::Reply(s.into())),
        Just(Step::Delivered),
        Just(Step::Failed),
        Just(Step::Timeout),
        prop::sample::select(vec![r#"{"tier":"gold","name":"B"}"#, "{}", "no json"])
            .prop_flat_map(|b| (prop::sample::select(vec![200u16, 404, 500]), Just(b)))
            .prop_map(|(s, b)| Step::Http(s, b.into())),
        Just(Step::HttpFailed),
    ];
    prop::collection::vec(step, 0..12)
}

/// Before a scripted timeout, moves both clocks to the reply's deadline, so it is due.
fn advance(live: &mut Run, restarted: Option<&mut Run>, step: &Step) {
    if let (Step::Timeout, Some(deadline)) = (step, live.state.reply_deadline()) {
        live.now = deadline.as_millis();
        if let Some(other) = restarted {
            other.now = deadline.as_millis();
        }
    }
}

/// The log as the store keeps it (positional MessagePack) and back, folded from nothing.
fn replay(log: &[Recorded<ExecutionEvent>]) -> ExecutionState {
    let mut state = ExecutionState::default();
    for record in log {
        let bytes = rmp_serde::to_vec(&record.event).unwrap();
        let event: ExecutionEvent = rmp_serde::from_slice(&bytes).unwrap();
        state.apply(&Recorded::new(record.at, event));
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replaying_the_log_rebuilds_the_state_and_a_restart_decides_the_same(
        name in prop::sample::select(vec!["greeting_menu", "pre_survey", "http_lookup"]),
        script in steps(),
        restart_at in 0usize..12,
    ) {
        let mut live = Run::start(flow(name), "hello", Limits::default());
        let mut restarted: Option<Run> = None;
        for (at, step) in script.iter().enumerate() {
            if at == restart_at {
                let state = replay(&live.log);
                restarted = Some(Run { definition: live.definition.clone(), state, log: live.log.clone(), now: live.now });
            }
            advance(&mut live, restarted.as_mut(), step);
            let input = input_for(&live, step);
            let decided = live.send(input.clone());
            if let Some(other) = restarted.as_mut() {
                prop_assert_eq!(other.send(input), decided);
            }
        }
        prop_assert_eq!(&replay(&live.log), &live.state);
        if let Some(other) = restarted {
            prop_assert_eq!(&other.state, &live.state);
        }
    }
}
