//! Evaluating an expression, checking a target's eligibility and comparing workers allocate
//! nothing: they run for every free worker each time a task is matched. `allocation-counter`
//! (this test binary's allocator) counts.

use std::cmp::Ordering;

use serde_json::json;
use switchboard_routing::expression::{Expression, Operands};
use switchboard_routing::workflow::{OrderBy, WorkflowConfiguration};

#[test]
fn matching_work_allocates_nothing() {
    let sid = "WK0123456789abcdef0123456789abcdef";
    let worker = json!({"sid": sid, "level": 4, "contact_uri": "client:alice",
        "routing": {"skills": ["chat", "sales"], "languages": ["en", "fr"]},
        "activity_name": "Available"});
    let task = json!({"language": "fr", "type": "sales", "targetSid": sid,
        "ignoreWorkerContactUri": "client:bob"});
    let queue = Expression::parse(
        "routing.skills HAS 'chat' AND (level >= 3 OR activity_name IN ['Busy', 'Available']) \
         AND worker.contact_uri != task.ignoreWorkerContactUri AND missing == null \
         AND NOT routing.languages[1] CONTAINS 'x'",
    )
    .unwrap();
    let text = json!({"task_routing": {"filters": [{"expression": "type == 'sales'", "targets": [
        {"queue": "WQ0123456789abcdef0123456789abcdef", "known_worker_sid": "task.targetSid",
         "expression": "task.language IN worker.routing.languages"}]}]}})
    .to_string();
    let configuration = WorkflowConfiguration::parse(&text).unwrap();
    let order = OrderBy::parse("worker.level DESC, worker.age").unwrap();
    let other = json!({"level": 2});
    let operands = Operands::bare_worker(&worker, Some(&task));
    let mut results = (false, false, Ordering::Equal);
    let info = allocation_counter::measure(|| {
        let target = &configuration.route(&task).targets[0];
        results = (
            queue.evaluate(&operands),
            target.accepts(&queue, &worker, &task),
            order.compare(&worker, &other),
        );
    });
    // The results are checked too: nothing is free by doing no work.
    assert_eq!(results, (true, true, Ordering::Less));
    assert_eq!(info.count_total, 0);
}
