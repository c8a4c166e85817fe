//! Unit tests of workflow configurations: Flex-style documents, faults with their JSON paths,
//! routing, step timeouts, skipping, eligibility and the order of workers.

use serde_json::{json, Value};

use super::*;

const EVERYONE: &str = "WQe42a800776a447906eaf6a0932e955ff";
const PARKED: &str = "WQc94a5f5f961a709ddd2dc050ac96e4c9";
const OUTBOUND: &str = "WQfb3e7e644af671b568494c4210ead2a5";
const ALICE: &str = "WK0123456789abcdef0123456789abcdef";
const BOB: &str = "WKfedcba9876543210fedcba9876543210";

/// Flex's chat-transfer workflow (the professional services' template): a known worker, or a
/// queue without the sender.
fn chat_transfer() -> String {
    json!({"task_routing": {
        "filters": [
            {"filter_friendly_name": "Assign to Worker",
             "expression": "transferTargetType == 'worker'",
             "targets": [{"queue": EVERYONE, "known_worker_sid": "task.transferTargetSid"}]},
            {"filter_friendly_name": "Assign To Queue - Everyone",
             "expression": "transferQueueName == 'Everyone'",
             "targets": [{"queue": EVERYONE,
                          "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}]},
            {"filter_friendly_name": "Assign To Queue - Parked Calls",
             "expression": "transferQueueName == 'Parked Calls'",
             "targets": [{"queue": PARKED,
                          "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}]},
            {"filter_friendly_name": "Assign To Queue Outbound Communication",
             "expression": "transferQueueName == 'Outbound Communications'",
             "targets": [{"queue": OUTBOUND,
                          "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}]}
        ],
        "default_filter": {"queue": EVERYONE}
    }})
    .to_string()
}

/// Twilio's documented example: a second step `{"timeout": 15}` without a queue.
fn support_and_sales() -> String {
    json!({"task_routing": {
        "filters": [
            {"expression": "type==\"Support\"", "filter_friendly_name": "Support Calls",
             "targets": [
                 {"queue": PARKED, "timeout": 15, "priority": "5",
                  "expression": "worker.id IN task.preferred_agents"},
                 {"timeout": 15}
             ]},
            {"expression": "type==\"Sales\"", "friendly_name": "Sales Calls",
             "targets": [{"queue": OUTBOUND, "timeout": 15, "priority": 7}]}
        ],
        "default_filter": {"queue": EVERYONE}
    }})
    .to_string()
}

fn sid(text: &str) -> Sid {
    text.parse().unwrap()
}

fn worker(sid: &str, name: &str, contact_uri: &str) -> Value {
    json!({"sid": sid, "friendly_name": name, "contact_uri": contact_uri,
           "activity_name": "Available", "routing": {"skills": ["chat"]}})
}

fn target_of<'a>(route: &Route<'a>, elapsed: u64) -> &'a Target {
    match route.step_at(elapsed, 0) {
        Step::Target { target, .. } => target,
        other => panic!("no target at {elapsed}: {other:?}"),
    }
}

fn refused(json: &str) -> ConfigurationError {
    WorkflowConfiguration::parse(json).expect_err(json)
}

#[test]
fn the_chat_transfer_workflow_parses_and_keeps_its_text() {
    let text = chat_transfer();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    assert_eq!(configuration.source(), text);
    assert_eq!(configuration.filters().len(), 4);
    assert_eq!(configuration.queue_sids(), vec![sid(EVERYONE), sid(PARKED), sid(OUTBOUND)]);
    assert_eq!(configuration.filters()[0].name(), Some("Assign to Worker"));
}

#[test]
fn the_first_filter_that_holds_routes_the_task() {
    let configuration = WorkflowConfiguration::parse(&chat_transfer()).unwrap();
    let to_worker = json!({"transferTargetType": "worker", "transferQueueName": "Everyone"});
    let route = configuration.route(&to_worker);
    assert_eq!(route.matched, Matched::Filter(0));
    assert_eq!(route.filter_name, Some("Assign to Worker"));
    let parked = json!({"transferTargetType": "queue", "transferQueueName": "Parked Calls"});
    let route = configuration.route(&parked);
    assert_eq!(route.matched, Matched::Filter(2));
    assert_eq!(route.targets[0].queue(), sid(PARKED));
    let route = configuration.route(&json!({"channelType": "web"}));
    assert_eq!(route.matched, Matched::Default);
    assert_eq!(route.filter_name, None);
    assert_eq!(route.targets.len(), 1);
    assert_eq!(route.targets[0].queue(), sid(EVERYONE));
    assert_eq!(route.step_at(1_000_000, 0), Step::Target { index: 0, target: &route.targets[0] });
}

#[test]
fn a_known_worker_is_the_only_one_eligible() {
    let configuration = WorkflowConfiguration::parse(&chat_transfer()).unwrap();
    let queue = Expression::parse("routing.skills HAS 'chat'").unwrap();
    let task = json!({"transferTargetType": "worker", "transferTargetSid": ALICE});
    let target = &configuration.route(&task).targets[0];
    let (alice, bob) = (worker(ALICE, "alice", "client:alice"), worker(BOB, "bob", "client:bob"));
    assert!(target.accepts(&queue, &alice, &task));
    assert!(!target.accepts(&queue, &bob, &task));
    assert_eq!(target.known_worker().unwrap().wanted(&task), Some(ALICE));
    // The known worker must match the queue too.
    let sales_only = Expression::parse("routing.skills HAS 'sales'").unwrap();
    assert!(!target.accepts(&sales_only, &alice, &task));
    // No attribute, no worker.
    let without = json!({"transferTargetType": "worker"});
    assert!(!target.accepts(&queue, &alice, &without));
    assert_eq!(target.known_worker().unwrap().wanted(&without), None);
}

#[test]
fn a_transfer_to_a_queue_skips_the_sender() {
    let configuration = WorkflowConfiguration::parse(&chat_transfer()).unwrap();
    let queue = Expression::parse("1==1").unwrap();
    let task = json!({"transferQueueName": "Everyone", "ignoreWorkerContactUri": "client:bob"});
    let target = &configuration.route(&task).targets[0];
    assert!(target.accepts(&queue, &worker(ALICE, "alice", "client:alice"), &task));
    assert!(!target.accepts(&queue, &worker(BOB, "bob", "client:bob"), &task));
    // A task that names no one to skip reaches everyone.
    let task = json!({"transferQueueName": "Everyone"});
    assert!(target.accepts(&queue, &worker(BOB, "bob", "client:bob"), &task));
}

#[test]
fn a_known_worker_by_friendly_name() {
    let text = json!({"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": EVERYONE, "known_worker_friendly_name": "agent"}]}]}})
    .to_string();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    let queue = Expression::parse("1==1").unwrap();
    let task = json!({"agent": "bob"});
    let target = &configuration.route(&task).targets[0];
    assert!(target.accepts(&queue, &worker(BOB, "bob", "client:bob"), &task));
    assert!(!target.accepts(&queue, &worker(ALICE, "alice", "client:alice"), &task));
}

#[test]
fn a_target_expression_reads_the_worker_and_the_task() {
    let configuration = WorkflowConfiguration::parse(&support_and_sales()).unwrap();
    let queue = Expression::parse("1==1").unwrap();
    let task = json!({"type": "Support", "preferred_agents": ["w1", "w2"]});
    let route = configuration.route(&task);
    assert_eq!(route.filter_name, Some("Support Calls"));
    let first = target_of(&route, 0);
    assert_eq!(first.priority(), Some(5));
    assert!(first.accepts(&queue, &json!({"id": "w2"}), &task));
    assert!(!first.accepts(&queue, &json!({"id": "w3"}), &task));
    // The second step has no expression: every worker of the queue.
    let second = target_of(&route, 15);
    assert!(second.accepts(&queue, &json!({"id": "w3"}), &task));
    let sales = configuration.route(&json!({"type": "Sales"}));
    assert_eq!(sales.filter_name, Some("Sales Calls"), "`friendly_name` is accepted");
    assert_eq!(sales.targets[0].priority(), Some(7));
}

#[test]
fn step_timeouts_accumulate_and_end_in_a_workflow_timeout() {
    let configuration = WorkflowConfiguration::parse(&support_and_sales()).unwrap();
    let route = configuration.route(&json!({"type": "Support"}));
    let step = |elapsed| route.step_at(elapsed, 0);
    assert!(matches!(step(0), Step::Target { index: 0, .. }));
    assert!(matches!(step(14), Step::Target { index: 0, .. }));
    assert!(matches!(step(15), Step::Target { index: 1, .. }));
    assert!(matches!(step(29), Step::Target { index: 1, .. }));
    assert_eq!(step(30), Step::TimedOut);
    assert_eq!(step(u64::MAX), Step::TimedOut);
    // A target without a queue reuses the one before it.
    assert_eq!(target_of(&route, 15).queue(), sid(PARKED));
    assert_eq!(route.targets[0].ends_after(), Some(15));
    assert_eq!(route.targets[1].ends_after(), Some(30));
    assert_eq!(route.targets[1].timeout(), Some(15));
    assert_eq!(WORKFLOW_TIMEOUT_REASON, "Task canceled on Workflow timeout");
}

#[test]
fn three_queues_of_ten_seconds() {
    // Twilio's timeout example, which has no default filter.
    let text = json!({"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": EVERYONE, "timeout": 10}, {"queue": PARKED, "timeout": 10},
        {"queue": OUTBOUND, "timeout": 10}]}]}})
    .to_string();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    let route = configuration.route(&json!({}));
    assert_eq!(target_of(&route, 9).queue(), sid(EVERYONE));
    assert_eq!(target_of(&route, 12).queue(), sid(PARKED));
    assert_eq!(target_of(&route, 20).queue(), sid(OUTBOUND));
    assert_eq!(route.step_at(30, 0), Step::TimedOut);
}

#[test]
fn an_unmatched_task_without_a_default_filter_times_out_at_once() {
    let text = json!({"task_routing": {"filters": [
        {"expression": "type == 'x'", "targets": [{"queue": EVERYONE}]}]}})
    .to_string();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    let route = configuration.route(&json!({"type": "y"}));
    assert_eq!(route.matched, Matched::Default);
    assert!(route.targets.is_empty());
    assert_eq!(route.step_at(0, 0), Step::TimedOut);
    assert_eq!(configuration.queue_sids(), vec![sid(EVERYONE)]);
}

/// Two filters that both match, the first with a skippable step, then an untimed step.
fn skippable() -> WorkflowConfiguration {
    let text = json!({"task_routing": {
        "filters": [
            {"filter_friendly_name": "vip", "expression": "vip == true", "targets": [
                {"queue": PARKED, "skip_if": "workers.available == 0", "timeout": 30},
                {"queue": OUTBOUND, "skip_if": "1==1"}]},
            {"filter_friendly_name": "all", "expression": "1==1", "targets": [
                {"queue": OUTBOUND, "skip_if": "workers.available == 0"},
                {"queue": PARKED, "timeout": 20},
                {"timeout": 0},
                {"queue": EVERYONE, "timeout": 5}]}],
        "default_filter": {"queue": EVERYONE}}})
    .to_string();
    WorkflowConfiguration::parse(&text).unwrap()
}

#[test]
fn skip_if_reads_the_queue_counts() {
    let configuration = skippable();
    let target = &configuration.filters()[0].targets()[0];
    assert!(target.skips(&skip_document(0, 4, &[])));
    assert!(!target.skips(&skip_document(1, 0, &[])));
    let plain = &configuration.filters()[1].targets()[1];
    assert!(!plain.skips(&skip_document(0, 0, &[])), "no skip_if, no skip");
    let offline = sid("WA0123456789abcdef0123456789abcdef");
    let counts = skip_document(2, 1, &[(offline, 3)]);
    let by_activity = Expression::parse(&format!("workers.{offline} < 4")).unwrap();
    assert!(by_activity.evaluate(&crate::expression::Operands::bare_task(&counts)));
}

#[test]
fn skipping_moves_on_and_the_last_skip_routes_again() {
    let configuration = skippable();
    let task = json!({"vip": true});
    let route = configuration.route(&task);
    assert_eq!(route.filter_name, Some("vip"));
    // Skipped at once: the second step, which never times out.
    assert!(matches!(route.step_at(0, 1), Step::Target { index: 1, .. }));
    assert!(matches!(route.step_at(10_000, 1), Step::Target { index: 1, .. }));
    // Skipping the last step counts as not matching the filter: the next one that holds.
    assert_eq!(route.step_at(0, 2), Step::Skipped);
    let next = configuration.route_after(&task, Some(route.matched));
    assert_eq!(next.filter_name, Some("all"));
    let last = configuration.route_after(&task, Some(next.matched));
    assert_eq!(last.matched, Matched::Default);
}

/// The step a placement names, by index, or `None` when it names none.
fn index_of(placed: &Placed<'_>) -> Option<usize> {
    match placed.step {
        Step::Target { index, .. } => Some(index),
        Step::TimedOut | Step::Skipped => None,
    }
}

#[test]
fn skipping_a_step_enters_the_next_and_skipping_a_filter_s_last_enters_the_filter_below() {
    let configuration = skippable();
    let task = json!({"vip": true});
    let vip = configuration.route(&task).matched;
    // Skipped on entering the first step: the second one of the same route, timed as before.
    let placed = configuration.skip_step(&task, vip, 0, 0);
    assert_eq!((placed.route.matched, placed.from, placed.fresh), (vip, 1, false));
    assert_eq!(index_of(&placed), Some(1));
    assert_eq!(placed.route.targets[1].queue(), sid(OUTBOUND));
    // The last step skipped: the filter counts as unmatched; the next one that holds is
    // entered anew, at its first step.
    let placed = configuration.skip_step(&task, vip, 1, 40);
    assert_eq!(placed.route.filter_name, Some("all"));
    assert_eq!((placed.from, placed.fresh, index_of(&placed)), (0, true, Some(0)));
    // In "all", the untimed first step skipped at once: the second, which ends 20 s on.
    let all = placed.route.matched;
    let placed = configuration.skip_step(&task, all, 0, 0);
    assert_eq!((placed.from, placed.fresh, index_of(&placed)), (1, false, Some(1)));
    // Skipped when the steps after it have timed out already: no step is left.
    assert_eq!(configuration.skip_step(&task, all, 0, 25).step, Step::TimedOut);
    // The last filter's last step skipped: the default filter.
    let placed = configuration.skip_step(&task, all, 3, 0);
    assert_eq!(placed.route.matched, Matched::Default);
    assert_eq!(placed.route.targets[0].queue(), sid(EVERYONE));
    // A task only the second filter matches never goes back up to the first.
    let plain = json!({"vip": false});
    let placed = configuration.skip_step(&plain, all, 3, 0);
    assert_eq!(placed.route.matched, Matched::Default);
}

#[test]
fn an_untimed_step_counts_zero_for_the_steps_after_it() {
    let configuration = skippable();
    let route = configuration.route_of(Matched::Filter(1)).unwrap();
    assert_eq!(route.targets[0].ends_after(), None);
    assert!(matches!(route.step_at(1_000, 0), Step::Target { index: 0, .. }));
    // Skipped to the second step at once: it ends 20 s after entering the route; the third
    // (timeout 0) is passed over; the fourth ends at 25.
    assert!(matches!(route.step_at(19, 1), Step::Target { index: 1, .. }));
    let fourth = route.step_at(20, 1);
    assert!(matches!(fourth, Step::Target { index: 3, .. }), "{fourth:?}");
    assert_eq!(route.targets[2].queue(), sid(PARKED));
    assert_eq!(route.step_at(25, 1), Step::TimedOut);
    assert_eq!(configuration.route_of(Matched::Filter(2)), None);
    assert_eq!(configuration.route_of(Matched::Default).unwrap().targets[0].queue(), sid(EVERYONE));
}

#[test]
fn order_by_sorts_by_numbers_with_missing_last() {
    let order = OrderBy::parse("worker.level DESC, age asc").unwrap();
    let mut workers = [
        json!({"name": "none"}),
        json!({"name": "low", "level": 1, "age": 5}),
        json!({"name": "text", "level": "9"}),
        json!({"name": "high-old", "level": 5, "age": 40}),
        json!({"name": "high-young", "level": 5, "age": 20}),
        json!({"name": "high-ageless", "level": 5}),
    ];
    workers.sort_by(|a, b| order.compare(a, b));
    let names: Vec<&str> = workers.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["high-young", "high-old", "high-ageless", "low", "none", "text"]);
    let ascending = OrderBy::parse("worker.level").unwrap();
    assert_eq!(ascending.compare(&json!({"level": 1}), &json!({"level": 2.5})), Ordering::Less);
    assert_eq!(ascending.compare(&json!({}), &json!({})), Ordering::Equal);
}

#[test]
fn order_by_and_skip_if_parse_from_the_configuration() {
    let text = json!({"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": EVERYONE, "order_by": "worker.level DESC", "skip_if": "",
         "expression": "", "priority": null}]}]}})
    .to_string();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    let target = &configuration.filters()[0].targets()[0];
    let order = target.order_by().unwrap();
    assert_eq!(order.compare(&json!({"level": 2}), &json!({"level": 1})), Ordering::Less);
    assert!(target.skip_if().is_none() && target.expression().is_none());
    assert_eq!(target.priority(), None);
}

/// Asserts each document is refused at its path with a message containing the given words.
fn assert_refused(cases: &[(Value, &str, &str)]) {
    for (document, path, message) in cases {
        let fault = refused(&document.to_string());
        assert_eq!(fault.path, *path, "{document}: {fault}");
        assert!(fault.message.contains(message), "{document}: {fault}");
    }
}

/// A configuration of one filter and one target with these fields.
fn one_target(target: Value) -> Value {
    json!({"task_routing": {"filters": [{"expression": "1==1", "targets": [target]}]}})
}

#[test]
fn a_bad_expression_is_named_by_its_path_and_position() {
    let bad_expression = json!({"task_routing": {"filters": [
        {"expression": "1==1", "targets": [{"queue": EVERYONE}]},
        {"expression": "1==1", "targets": [{"queue": EVERYONE, "expression": "skill-level > 3"}]}
    ]}})
    .to_string();
    let fault = refused(&bad_expression);
    assert_eq!(fault.path, "task_routing.filters[1].targets[0].expression");
    assert!(fault.message.starts_with("extraneous input '-' expecting"), "{fault}");
    assert!(fault.message.ends_with("at position 5"), "{fault}");
    assert!(fault.to_string().starts_with("task_routing.filters[1].targets[0].expression: "));
}

#[test]
fn faults_of_shape_name_their_json_path() {
    let target = one_target(json!({"timeout": 5}));
    assert_refused(&[
        (json!({}), "", "missing field `task_routing`"),
        (json!([]), "", "expected struct RawConfiguration"),
        (json!({"task_routing": {}}), "task_routing", "needs filters or a default_filter"),
        (json!({"task_routing": {"filters": {}}}), "task_routing.filters", "expected a sequence"),
        (
            json!({"task_routing": {"default_filter": {"queue": EVERYONE}, "extra": 1}}),
            "task_routing.extra",
            "unknown field `extra`",
        ),
        (
            json!({"task_routing": {"filters": [{"expression": "1==1", "targets": []}]}}),
            "task_routing.filters[0].targets",
            "at least one target",
        ),
        (target, "task_routing.filters[0].targets[0].queue", "the first target needs a queue"),
        (
            json!({"task_routing": {"filters": [{"expression": "", "targets": [{"queue": EVERYONE}]}]}}),
            "task_routing.filters[0].expression",
            "mismatched input '<EOF>'",
        ),
        (
            json!({"task_routing": {"filters": [{"targets": [{"queue": EVERYONE}]}]}}),
            "task_routing.filters[0]",
            "missing field `expression`",
        ),
    ]);
}

#[test]
fn faults_of_queues_name_their_json_path() {
    let sid_expected = "expected a TaskQueue SID";
    assert_refused(&[
        (
            json!({"task_routing": {"default_filter": {"queue": "WQ1"}}}),
            "task_routing.default_filter.queue",
            sid_expected,
        ),
        (
            json!({"task_routing": {"default_filter": {"queue": ALICE}}}),
            "task_routing.default_filter.queue",
            sid_expected,
        ),
        (one_target(json!({"queue": 7})), "task_routing.filters[0].targets[0].queue", sid_expected),
        (
            one_target(json!({"queue": BOB})),
            "task_routing.filters[0].targets[0].queue",
            sid_expected,
        ),
    ]);
}

#[test]
fn faults_of_target_fields_name_their_json_path() {
    let at = |field: &str| format!("task_routing.filters[0].targets[0]{field}");
    let target = |fields: Value| {
        let mut fields = fields;
        fields["queue"] = json!(EVERYONE);
        one_target(fields)
    };
    let cases = [
        (target(json!({"timeot": 5})), at(".timeot"), "unknown field `timeot`"),
        (target(json!({"priority": 2_147_483_648_u64})), at(".priority"), "a priority from 0"),
        (target(json!({"priority": 1.5})), at(".priority"), "a priority from 0"),
        (target(json!({"timeout": -1})), at(".timeout"), "a whole number of seconds"),
        (target(json!({"timeout": "soon"})), at(".timeout"), "a whole number of seconds"),
        (target(json!({"timeout": [5]})), at(".timeout"), "a whole number of seconds"),
        (target(json!({"known_worker_sid": "worker.sid"})), at(".known_worker_sid"), "task attr"),
        (target(json!({"known_worker_sid": "a-b"})), at(".known_worker_sid"), "input '-'"),
        (
            target(json!({"known_worker_sid": "a", "known_worker_friendly_name": "b"})),
            at(""),
            "not both",
        ),
        (
            target(json!({"order_by": "worker.level DOWN"})),
            at(".order_by"),
            "input 'DOWN' expecting",
        ),
        (target(json!({"order_by": "task.level"})), at(".order_by"), "sorts workers"),
        (target(json!({"skip_if": "workers.available =="})), at(".skip_if"), "input '<EOF>'"),
    ];
    let cases: Vec<(Value, &str, &str)> =
        cases.iter().map(|(doc, path, message)| (doc.clone(), path.as_str(), *message)).collect();
    assert_refused(&cases);
}

#[test]
fn malformed_or_oversized_json_is_refused() {
    let fault = refused("{\"task_routing\": ");
    assert_eq!(fault.path, "task_routing");
    assert!(fault.message.contains("line 1 column"), "{fault}");
    let trailing = format!("{} x", support_and_sales());
    assert!(refused(&trailing).message.contains("trailing characters"));
    let huge = format!(
        "{{\"task_routing\": {{\"default_filter\": {{\"queue\": \"{EVERYONE}\"}}}}{}}}",
        " ".repeat(MAX_CONFIGURATION_BYTES)
    );
    assert!(refused(&huge).message.contains("longer than"));
}

/// A route of one filter whose steps have these timeouts.
fn timed(timeouts: &[Option<u32>]) -> WorkflowConfiguration {
    let targets: Vec<Value> = timeouts
        .iter()
        .map(|timeout| match timeout {
            Some(seconds) => json!({"queue": EVERYONE, "timeout": seconds}),
            None => json!({"queue": EVERYONE}),
        })
        .collect();
    let text = json!({"task_routing": {"filters": [{"expression": "1==1", "targets": targets}]}});
    WorkflowConfiguration::parse(&text.to_string()).unwrap()
}

/// The index a step stands for, a timed-out route after every step.
fn position(step: Step<'_>, len: usize) -> usize {
    match step {
        Step::Target { index, .. } => index,
        Step::TimedOut | Step::Skipped => len,
    }
}

proptest::proptest! {
    #[test]
    fn steps_follow_the_accumulated_timeouts(
        timeouts in proptest::collection::vec(proptest::option::of(0u32..50), 1..6),
        random in 0u64..300,
        aim in 0usize..10,
        offset in 0u64..3,
        later in 0u64..100,
        from in 0usize..7,
    ) {
        let configuration = timed(&timeouts);
        let route = configuration.route(&json!({}));
        let len = timeouts.len();
        // Often just before, at or after a step's end, where off-by-one faults live.
        let aimed = route.targets.get(aim).and_then(Target::ends_after);
        let elapsed = aimed.map_or(random, |end| (end + offset).saturating_sub(1));
        // Each step ends at the sum of the timeouts up to it, an untimed one counting 0.
        let mut sum = 0u64;
        for (target, timeout) in route.targets.iter().zip(&timeouts) {
            sum += u64::from(timeout.unwrap_or(0));
            proptest::prop_assert_eq!(target.ends_after(), timeout.map(|_| sum));
        }
        let ended = |index: usize| route.targets[index].ends_after().is_some_and(|end| end <= elapsed);
        match route.step_at(elapsed, from) {
            Step::Target { index, target } => {
                proptest::prop_assert!(index >= from && std::ptr::eq(target, &route.targets[index]));
                proptest::prop_assert!(!ended(index));
                proptest::prop_assert!((from..index).all(ended), "a step before the current one is open");
            }
            Step::TimedOut => proptest::prop_assert!(from < len && (from..len).all(ended)),
            Step::Skipped => proptest::prop_assert!(from >= len),
        }
        // Time only moves a task forward.
        let now = position(route.step_at(elapsed, from), len);
        proptest::prop_assert!(position(route.step_at(elapsed + later, from), len) >= now);
    }
}
