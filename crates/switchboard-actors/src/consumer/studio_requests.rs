//! What Studio executions ask of the world, carried out from their streams (`FN…`), with the
//! answers given back to the execution as commands:
//! - `MessageRequested`: the bot's message goes into the execution's channel, author the Studio
//!   flow's friendly name, source `system` (so it never reopens a channel), and from there out
//!   through the channel's provider as an agent's reply does (`replies`), or to the webchat. It
//!   is `failed` when the channel refuses it (retired, erased); in a channel whose replies go
//!   through a provider its outcome is the outbox's, given by `studio_deliveries` from the
//!   channel's delivery reports; elsewhere (a web chat) it is `sent` once durable in the
//!   channel. The message carries its step's SID as its provider id, so a post repeated after a
//!   crash adds nothing, and its delivery reports find their step.
//! - `HttpRequested` (`make-http-request`, `run-function`): through the one outbound policy
//!   (`outbound.rs`: private and loopback addresses refused unless configured), with its
//!   `Idempotency-Key` header (the step's SID), Studio's 10 s and 64 kB limits, never retried;
//!   after a crash between the call and its answer's record, the call is made again with the
//!   same key (at least once).
//! - `FlexTaskRequested` (`send-to-flex`): the channel links the task (so the agent's side,
//!   `flex_orchestration`, finds it and no new execution starts while it is open), then the
//!   task is made in TaskRouter in the workspace of the widget's workflow, with its task
//!   channel and rendered attributes (`channelSid` added). Its SID comes from the step's, so a
//!   repeat makes nothing new. The execution has already ended with the request. A task
//!   TaskRouter refuses (a task channel the workspace lacks) is ended in the channel as canceled
//!   (as a task flow's would be, closing the interaction), so no agent is waited for and the
//!   customer's next message goes to Studio again; it is a dead letter saying why.
//!
//! An execution that no channel started (none in its trigger) has nowhere to send its messages:
//! its requests are skipped. What cannot be carried out is a dead letter saying why.

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::{
    Cause, ChannelCommand, MessageSource, NewMessage, Recorded, Rejection, Sid, SidPrefix,
    TaskOutcome,
};
use switchboard_routing::task::{MAX_PRIORITY, MAX_TIMEOUT_SECS};
use switchboard_store::{EventLog, ReplayRecord, StoreError};
use switchboard_studio::{
    ExecutionEvent, ExecutionInput, HTTP_TIMEOUT_SECS, MAX_HTTP_RESPONSE_BYTES,
};

use super::{durable_records, Consumer, Run, Shared, Wake};
use crate::channel::{Execute, PostForStudio};
use crate::metrics::Destination;
use crate::outbound::OutboundError;
use crate::taskrouter::NewTask;

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "studio-requests";

/// Carries out executions' requests.
pub(crate) struct StudioRequests;

// Woken by the executions' directory, never by a channel; resumed by the engine's start
// (`Engine::resume_studio_requests`).
impl Consumer for StudioRequests {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, wake).await })
    }
}

/// Where delivery of an execution's requests goes on from: its cursor, else its start.
pub(crate) fn cursor(shared: &Shared, execution: Sid) -> Result<u64, StoreError> {
    log_cursor(&shared.log, execution)
}

pub(crate) fn log_cursor(log: &EventLog, execution: Sid) -> Result<u64, StoreError> {
    // A cursor never recorded reads as 0: the execution's start.
    log.cursor(CONSUMER, execution)
}

/// Carries out every pending request of one execution, in order; an execution that has ended
/// and has nothing left to carry out then leaves memory (`StudioFlowDirectory::settle`).
async fn deliver(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let execution = wake.stream_sid;
    carry_out_all(shared, wake).await?;
    if let Err(error) = shared.studio.settle_held(execution) {
        tracing::warn!(%execution, %error, "an ended Studio execution could not be let go");
    }
    Ok(())
}

async fn carry_out_all(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let execution = wake.stream_sid;
    let start = cursor(shared, execution)?;
    let records = durable_records::<Recorded<ExecutionEvent>>(log, &wake, start)?;
    let Some(end) = records.last().map(|r| r.seq() + 1) else { return Ok(()) };
    let Some(origin) = origin(shared, execution)? else {
        return log.set_cursor(CONSUMER, execution, end);
    };
    let requests: Vec<_> = records
        .iter()
        .filter_map(|record| match record {
            ReplayRecord::Event { seq, event, .. } if is_request(&event.event) => {
                Some((*seq, &event.event))
            }
            _ => None,
        })
        .collect();
    for (at, (seq, event)) in requests.iter().enumerate() {
        if let Err(why) = carry_out(shared, &origin, execution, event).await {
            super::give_up(log, CONSUMER, execution, *seq, &why, Destination::Studio)?;
        }
        // Past each request at once (a restart must not carry it out twice), and in the same
        // write past the events after it that ask nothing (steps entered, outputs, waits):
        // read again after a crash, they still ask nothing.
        log.set_cursor(CONSUMER, execution, passed_after(&requests, at, end))?;
    }
    if requests.is_empty() {
        log.set_cursor(CONSUMER, execution, end)?;
    }
    Ok(())
}

/// Where the cursor goes once the `at`-th of `requests` (sequence numbers, in order) is carried
/// out: up to the next request, or to `end` after the last. A step's change is mostly one
/// request among events that ask nothing (a message, then the wait for the reply): one cursor
/// write, not two.
fn passed_after<T>(requests: &[(u64, T)], at: usize, end: u64) -> u64 {
    requests.get(at + 1).map_or(end, |(next, _)| *next)
}

/// Whether an event asks something of the world.
fn is_request(event: &ExecutionEvent) -> bool {
    matches!(
        event,
        ExecutionEvent::MessageRequested { .. }
            | ExecutionEvent::HttpRequested { .. }
            | ExecutionEvent::FlexTaskRequested { .. }
    )
}

/// Where an execution came from: its channel and the Studio flow it runs.
struct Origin {
    channel: Sid,
    flow: Sid,
}

/// The execution's channel (from its trigger) and flow: remembered while it is held, else
/// read from its first event.
fn origin(shared: &Shared, execution: Sid) -> Result<Option<Origin>, StoreError> {
    if let Some((channel, flow)) = shared.studio.origin_held(execution) {
        return Ok(Some(Origin { channel, flow }));
    }
    let first = shared.log.read::<Recorded<ExecutionEvent>>(execution, 0).next().transpose()?;
    let Some(ReplayRecord::Event { event, .. }) = first else { return Ok(None) };
    let ExecutionEvent::ExecutionStarted { flow_sid, trigger, .. } = event.event else {
        return Ok(None);
    };
    let trigger: serde_json::Value = serde_json::from_str(&trigger).unwrap_or_default();
    let channel = trigger.pointer("/message/ChannelSid").and_then(|v| v.as_str());
    let channel = channel.and_then(|text| Sid::parse_with(text, SidPrefix::CHANNEL).ok());
    Ok(channel.map(|channel| Origin { channel, flow: flow_sid }))
}

/// Carries out one event's request, and gives the execution its answer.
async fn carry_out(
    shared: &Shared,
    origin: &Origin,
    execution: Sid,
    event: &ExecutionEvent,
) -> Result<(), String> {
    let answer = match event {
        ExecutionEvent::MessageRequested { step_sid, body } => {
            match post_message(shared, origin, *step_sid, body).await {
                Some(outcome) => outcome,
                None => return Ok(()),
            }
        }
        ExecutionEvent::HttpRequested { step_sid, method, url, headers, body, .. } => {
            let call = HttpCall { method, url, headers, body };
            call_http(shared, *step_sid, call).await
        }
        ExecutionEvent::FlexTaskRequested { .. } => {
            return send_to_flex(shared, origin, event).await
        }
        _ => return Ok(()),
    };
    let given = shared.studio.execute(execution, answer, shared.clock.now()).await;
    // A refusal is an execution that moved on (ended, deleted): the answer is late, not lost.
    given.map(drop).map_err(|error| error.to_string())
}

/// Posts the bot's message into the channel; its outcome for the execution, unless the outbox
/// will record it (`studio_deliveries` gives it then).
async fn post_message(
    shared: &Shared,
    origin: &Origin,
    step: Sid,
    body: &str,
) -> Option<ExecutionInput> {
    let author = shared.studio.friendly_name(origin.flow).unwrap_or_else(|| "Studio".into());
    let message = NewMessage {
        author,
        body: body.to_owned(),
        attributes: serde_json::json!({"studio_step_sid": step.to_string()}).to_string(),
        media: None,
        source: MessageSource::System,
        provider_message_id: Some(step.to_string()),
    };
    let (sent, error) = match post(shared, origin.channel, message).await {
        // The outbox records what becomes of it.
        Ok(true) => return None,
        Ok(false) => (true, None),
        Err(Posted::Refused(rejection)) => (false, Some(rejection.to_string())),
        Err(Posted::Failed(why)) => (false, Some(why)),
    };
    Some(ExecutionInput::MessageOutcome { step_sid: step, sent, error })
}

/// Posts the bot's message through the channel's actor and waits until it is durable (a post
/// repeated after a crash finds it stored: done too); `Ok(true)` when the channel's replies go
/// out through a provider, whose outcome the outbox records.
async fn post(shared: &Shared, channel: Sid, message: NewMessage) -> Result<bool, Posted> {
    let Some(registry) = shared.registry.upgrade() else {
        return Err(Posted::Failed("the engine is stopping".into()));
    };
    let at = shared.clock.now();
    let post = || PostForStudio { message: message.clone(), at };
    match registry.ask(channel, None, post).await {
        Ok(Ok((Ok(done), through_provider))) => match done.durability.wait().await {
            Ok(()) => Ok(through_provider),
            Err(error) => Err(Posted::Failed(error.to_string())),
        },
        Ok(Ok((Err(Rejection::AlreadyStored { .. }), through_provider))) => Ok(through_provider),
        Ok(Ok((Err(rejection), _))) => Err(Posted::Refused(rejection)),
        Ok(Err(error)) | Err(error) => Err(Posted::Failed(error.to_string())),
    }
}

enum Posted {
    Refused(Rejection),
    Failed(String),
}

/// Runs `commands` on the channel through its actor, and waits until they are durable.
async fn record(
    shared: &Shared,
    channel: Sid,
    commands: Vec<ChannelCommand>,
) -> Result<(), Posted> {
    let Some(registry) = shared.registry.upgrade() else {
        return Err(Posted::Failed("the engine is stopping".into()));
    };
    let at = shared.clock.now();
    let execute = || Execute { commands: commands.clone(), at, cause: Some(Cause::System) };
    match registry.ask(channel, None, execute).await {
        Ok(Ok(Ok(done))) => done.durability.wait().await.map_err(|e| Posted::Failed(e.to_string())),
        Ok(Ok(Err(rejection))) => Err(Posted::Refused(rejection)),
        Ok(Err(error)) | Err(error) => Err(Posted::Failed(error.to_string())),
    }
}

/// An execution's HTTP request as recorded.
struct HttpCall<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a [(String, String)],
    body: &'a str,
}

/// Makes the request; its answer (or why there is none) for the execution.
async fn call_http(shared: &Shared, step: Sid, call: HttpCall<'_>) -> ExecutionInput {
    let failed = |reason: String| ExecutionInput::HttpFailed { step_sid: step, reason };
    let target = match crate::outbound::parse_url(call.url) {
        Ok(target) => target,
        Err(error) => return failed(error.to_string()),
    };
    let mut request = match call.method {
        "GET" => shared.outbound.get(target),
        _ => shared.outbound.post(target),
    };
    for (name, value) in
        call.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header(name, value);
    }
    let content_type = call.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if let Some((_, content_type)) = content_type {
        let content_type = match content_type.as_str() {
            "application/json" => "application/json",
            _ => "application/x-www-form-urlencoded",
        };
        request = request.body(content_type, call.body.to_owned());
    }
    let request = request.timeout(Duration::from_secs(HTTP_TIMEOUT_SECS));
    crate::metrics::attempt(Destination::Studio, 0);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return failed(error.to_string()),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match crate::outbound::read_capped(response, MAX_HTTP_RESPONSE_BYTES as u64).await {
        Ok(bytes) => {
            crate::metrics::delivered(Destination::Studio, (200..300).contains(&status));
            let body = String::from_utf8_lossy(&bytes).into_owned();
            ExecutionInput::HttpAnswered { step_sid: step, status, content_type, body }
        }
        Err(OutboundError::TooLarge(limit)) => {
            failed(format!("the response is larger than {limit} bytes"))
        }
        Err(error) => failed(error.to_string()),
    }
}

/// Links the task to the channel and makes it in TaskRouter.
async fn send_to_flex(
    shared: &Shared,
    origin: &Origin,
    event: &ExecutionEvent,
) -> Result<(), String> {
    let ExecutionEvent::FlexTaskRequested {
        step_sid,
        workflow,
        channel,
        attributes,
        priority,
        timeout,
    } = event
    else {
        return Ok(());
    };
    let workflow = Sid::parse_with(workflow.trim(), SidPrefix::WORKFLOW)
        .map_err(|_| format!("send-to-flex: the workflow {workflow:?} is not a workflow SID"))?;
    let workspace = shared
        .workspaces
        .list()
        .into_iter()
        .find(|w| w.workflow(workflow).is_some())
        .and_then(|w| w.sid)
        .ok_or_else(|| format!("send-to-flex: the workflow {workflow} is in no workspace"))?;
    let task_sid = Sid::from_parts(SidPrefix::TASK, step_sid.id());
    let priority = priority.as_deref().and_then(|p| p.trim().parse::<u32>().ok());
    let timeout = timeout.as_deref().and_then(|t| t.trim().parse::<u32>().ok());
    let attributes = super::task_routing::with_channel(attributes, origin.channel);
    let link = ChannelCommand::EnsureTask {
        task_sid,
        attributes: attributes.clone(),
        priority: i64::from(priority.unwrap_or(0).min(MAX_PRIORITY)),
        timeout_secs: u64::from(timeout.unwrap_or(MAX_TIMEOUT_SECS).min(MAX_TIMEOUT_SECS)),
    };
    match record(shared, origin.channel, vec![link]).await {
        Ok(()) => {}
        Err(Posted::Refused(rejection)) => {
            return Err(format!("send-to-flex: the channel refused the task: {rejection}"))
        }
        Err(Posted::Failed(why)) => return Err(format!("send-to-flex: {why}")),
    }
    let account = shared.config.account_sid.parse::<Sid>().map_err(|e| e.to_string())?;
    let new = NewTask {
        task_sid: Some(task_sid),
        workflow_sid: Some(workflow),
        task_channel: Some(channel.trim().to_owned()).filter(|c| !c.is_empty()),
        attributes,
        priority: priority.map(|p| p.min(MAX_PRIORITY)),
        timeout_secs: timeout.map(|t| t.min(MAX_TIMEOUT_SECS)),
    };
    let made = shared.task_router.create_task(workspace, account, new, shared.clock.now()).await;
    let Err(refusal) = made.map_err(|e| e.to_string())? else { return Ok(()) };
    let why = format!("send-to-flex: the task could not be made: {refusal}");
    // No agent will come: the channel's task ends, so the customer's next message is Studio's.
    let outcome = TaskOutcome::Canceled { reason: why.clone() };
    let _ =
        record(shared, origin.channel, vec![ChannelCommand::EndTask { task_sid, outcome }]).await;
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_passes_each_request_with_what_asks_nothing_after_it() {
        // A reply's step: the output (7), the step entered (8), the message (9), the wait (10).
        let one = [(9, ())];
        assert_eq!(passed_after(&one, 0, 11), 11, "past the wait in the same write");
        // Two requests: the first stops at the second, which must still be carried out.
        let two = [(3, ()), (6, ())];
        assert_eq!(passed_after(&two, 0, 8), 6);
        assert_eq!(passed_after(&two, 1, 8), 8);
    }
}
