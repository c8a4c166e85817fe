//! A workflow's `AssignmentCallbackUrl`: each reservation of a task of the workflow
//! (`reservation.created` in its workspace's event log) is POSTed there with Twilio's parameters
//! (`AccountSid`, `WorkspaceSid`, `WorkflowSid`, `TaskQueueSid`, `WorkerSid`, `WorkerAttributes`,
//! `TaskSid`, `TaskAttributes`, `TaskAge`, `TaskPriority`, `ReservationSid`, `Timestamp`), signed
//! with `X-Twilio-Signature`, through the outbound policy, and the answer's `instruction` is
//! carried out: `accept` (and `dequeue`, a voice instruction taken as accepting) accepts the
//! reservation, `reject` rejects it. Any other instruction (`call`, `redirect`, `conference`: voice
//! only) is refused: nothing is done and a dead letter says why. When the call fails (no answer
//! within 5 s, as Twilio waits, a network error, or an error status after its retries), the
//! workflow's `FallbackAssignmentCallbackUrl`, if it has one, is called the same way. An answer
//! without an instruction, or a failure of both, does nothing: the worker's own answer covers it.
//!
//! Read from the log by a cursor of its own (woken with `EventCallbackUrl`'s delivery), so a
//! restart neither loses nor repeats a call (but for the one in flight at a crash); a call is
//! made only while its reservation is still pending, and network errors, 429 and 5xx are tried
//! again with backoff, twice. Answering twice would change nothing: an answered reservation
//! refuses a second answer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_domain::{Recorded, Sid, WebhookConfig, WebhookMethod};
use switchboard_routing::event_log::{workspace_of, EventLogEvent, EventRecord};
use switchboard_routing::task::ReservationStatus;
use switchboard_store::{ReplayRecord, StoreError};

use super::webhooks::call_with_retries;
use super::{Consumer, Run, Shared, Wake};
use crate::metrics::Destination;
use crate::taskrouter::ReservationAnswer;

/// The cursor and dead-letter name of this consumer.
pub const CONSUMER: &str = "taskrouter-assignment-callbacks";

/// How many times a failed call is tried again.
const RETRIES: u8 = 2;

/// How long the receiver has to answer each call (Twilio waits 5 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub(crate) struct AssignmentCallbacks;

// Channels give it nothing: the router wakes it (`Wake::router_events`).
impl Consumer for AssignmentCallbacks {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, &wake).await })
    }
}

/// What the receiver said to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Instruction {
    Answer(ReservationAnswer),
    /// No instruction (or no JSON): the worker answers.
    None,
    /// One this server does not carry out, named.
    Unsupported(String),
}

/// The instruction in an answer's body (`{"instruction": "accept"}`).
fn instruction(body: &[u8]) -> Instruction {
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    match answer.as_ref().and_then(|a| a.get("instruction")).and_then(Value::as_str) {
        None | Some("") => Instruction::None,
        Some("accept" | "dequeue") => Instruction::Answer(ReservationAnswer::Accepted),
        Some("reject") => Instruction::Answer(ReservationAnswer::Rejected),
        Some(other) => Instruction::Unsupported(other.chars().take(64).collect()),
    }
}

/// Calls the callbacks of one workspace's new reservations, in order, from its cursor.
async fn deliver(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let stream = wake.stream_sid;
    let workspace = workspace_of(stream);
    let Some(state) = shared.task_router.workspace_state(workspace) else { return Ok(()) };
    if state.workflows.values().all(|w| w.record.assignment_callback_url.is_none()) {
        // No workflow calls anyone: what happens meanwhile is passed over.
        log.set_cursor(CONSUMER, stream, log.next_seq(stream)?)?;
        return Ok(());
    }
    let start = if log.has_cursor(CONSUMER, stream)? {
        log.cursor(CONSUMER, stream)?
    } else {
        shared.task_router.first_event_at_or_after(workspace, state.date_updated)?
    };
    for record in super::durable_records::<Recorded<EventLogEvent>>(log, wake, start)? {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            let EventLogEvent::Recorded(logged) = event.event;
            if logged.event_type == "reservation.created" {
                if let Err(why) = assign(shared, workspace, &logged).await {
                    super::give_up(log, CONSUMER, stream, seq, &why, Destination::Assignment)?;
                }
            }
        }
        log.set_cursor(CONSUMER, stream, seq + 1)?;
    }
    Ok(())
}

/// Calls the workflow's callback for one reservation, if it has one and the reservation still
/// waits, and carries out its instruction; `Err` says why it could not be.
async fn assign(shared: &Shared, workspace: Sid, logged: &EventRecord) -> Result<(), String> {
    let router = &shared.task_router;
    let sid = |name: &str| logged.get(name).and_then(|v| v.parse::<Sid>().ok());
    let (Some(task_sid), Some(reservation), Some(workflow)) =
        (sid("TaskSid"), sid("ReservationSid"), sid("WorkflowSid"))
    else {
        return Ok(());
    };
    let Some((url, fallback)) = router.workspace_state(workspace).and_then(|w| {
        let record = w.workflow(workflow)?;
        Some((
            record.assignment_callback_url.clone()?,
            record.fallback_assignment_callback_url.clone(),
        ))
    }) else {
        return Ok(());
    };
    let task = router.task(workspace, task_sid).map_err(|e| e.to_string())?;
    let Some(task) = task else { return Ok(()) };
    let Some(offered) =
        task.reservation(reservation).filter(|r| r.status == ReservationStatus::Pending)
    else {
        return Ok(()); // Answered, timed out or withdrawn meanwhile: nothing to ask.
    };
    let worker = router.worker(workspace, offered.worker_sid);
    let now = shared.clock.now();
    let mut form = vec![
        ("AccountSid".to_owned(), shared.config.account_sid.clone()),
        ("WorkspaceSid".to_owned(), workspace.to_string()),
        ("WorkflowSid".to_owned(), workflow.to_string()),
        ("WorkerSid".to_owned(), offered.worker_sid.to_string()),
        ("WorkerAttributes".to_owned(), worker.map(|w| w.attributes).unwrap_or_default()),
        ("TaskSid".to_owned(), task_sid.to_string()),
        ("TaskAttributes".to_owned(), task.attributes.clone()),
        ("TaskAge".to_owned(), task.age_secs(now).to_string()),
        ("TaskPriority".to_owned(), task.priority.to_string()),
        ("ReservationSid".to_owned(), reservation.to_string()),
        ("Timestamp".to_owned(), (now.as_millis() / 1000).to_string()),
    ];
    if let Some(route) = task.route {
        form.push(("TaskQueueSid".to_owned(), route.queue_sid.to_string()));
    }
    let called = call_or_fall_back(shared, url, fallback, form).await;
    let answer = match called {
        Some(Instruction::Answer(answer)) => answer,
        Some(Instruction::Unsupported(name)) => {
            return Err(fail(router, workspace, (task_sid, reservation), &name, now).await?);
        }
        Some(Instruction::None) | None => return Ok(()),
    };
    let Some(engine) = shared.engine() else { return Ok(()) };
    let answered =
        engine.tasks().answer_reservation(workspace, task_sid, reservation, answer).await;
    match answered.map_err(|e| e.to_string())? {
        Ok(_) => Ok(()),
        // The worker answered first, or it timed out: the reservation moved on.
        Err(refusal) => {
            tracing::info!(task = %task_sid, %refusal, "an assignment instruction came too late");
            Ok(())
        }
    }
}

/// Calls `url`, and `fallback` with the same form when that call fails.
async fn call_or_fall_back(
    shared: &Shared,
    url: String,
    fallback: Option<String>,
    form: Vec<(String, String)>,
) -> Option<Instruction> {
    match fallback {
        None => call(shared, url, form).await,
        Some(fallback) => match call(shared, url, form.clone()).await {
            None => call(shared, fallback, form).await,
            answered => answered,
        },
    }
}

/// Tells instruction `name`, not supported, as `reservation.failed` (the reservation stays for
/// the worker to answer); `Ok` is why, for the dead letter.
async fn fail(
    router: &crate::taskrouter::TaskRouter,
    workspace: Sid,
    (task, reservation): (Sid, Sid),
    name: &str,
    now: switchboard_domain::Timestamp,
) -> Result<String, String> {
    let why = format!(
        "the assignment callback's instruction {name:?} is not supported: only accept, reject \
         and dequeue (as accept) are carried out"
    );
    let failed = router.fail_reservation(workspace, task, reservation, why.clone(), now).await;
    if let Err(refusal) = failed.map_err(|e| e.to_string())? {
        tracing::info!(%task, %refusal, "a failed instruction was not recorded");
    }
    Ok(why)
}

/// POSTs the form; the instruction of a 2xx answer, `None` when the call failed (the worker's
/// own answer then covers the reservation).
async fn call(shared: &Shared, url: String, form: Vec<(String, String)>) -> Option<Instruction> {
    let hook = WebhookConfig {
        url,
        method: WebhookMethod::Post,
        filters: Vec::new(),
        retry_count: RETRIES,
    };
    let destination = Destination::Assignment;
    let called = call_with_retries(shared, &hook, form, Some(ANSWER_WITHIN), destination).await;
    crate::metrics::delivered(destination, called.is_ok());
    match called {
        Ok(response) => {
            let limit = crate::outbound::ANSWER_LIMIT_BYTES;
            let body = crate::outbound::read_capped(response, limit).await.ok()?;
            Some(instruction(&body))
        }
        Err(why) => {
            tracing::warn!("an assignment callback failed: {why}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_reject_and_dequeue_are_carried_out_and_the_rest_named() {
        let accept = Instruction::Answer(ReservationAnswer::Accepted);
        assert_eq!(instruction(br#"{"instruction":"accept"}"#), accept);
        assert_eq!(instruction(br#"{"instruction":"dequeue","from":"+1"}"#), accept);
        let reject = Instruction::Answer(ReservationAnswer::Rejected);
        assert_eq!(instruction(br#"{"instruction":"reject"}"#), reject);
        let call = Instruction::Unsupported("call".into());
        assert_eq!(instruction(br#"{"instruction":"call"}"#), call);
        assert_eq!(instruction(b""), Instruction::None, "an empty answer");
        assert_eq!(instruction(b"<Response/>"), Instruction::None, "not JSON");
        assert_eq!(instruction(br#"{"other":1}"#), Instruction::None);
    }
}
