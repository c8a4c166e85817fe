//! The supervisor view of the console: the workspace's queues (waiting tasks, the oldest wait),
//! its agents (activity, load against capacity, time in activity) and its live conversations
//! (`/console/supervisor`, polled: these aggregates have no WebSocket event of their own);
//! watching a conversation read-only (`/console/monitor/…`: monitoring joins no channel, and
//! each opening is a `conversation_monitored` event in the supervisor's own person stream, which
//! `switchboard replay` shows); and moving a task to a queue or an agent (`/console/moves`),
//! through the transfer machinery (a new task naming the target, routed by the workflow; the
//! old one wrapped up if an agent held it, else canceled). Deny by default: only roles that may
//! supervise, and only within their own workspace and Chat service.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_actors::{NewTask, ReservationAnswer, TaskChanges, TaskSummary};
use switchboard_domain::{ChannelState, ConsoleAction, PersonCommand, PersonLinks, Sid, SidPrefix};
use switchboard_routing::task::{AssignmentStatus, TaskState};
use switchboard_routing::worker::WorkerState;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::agent::{conversation_view, messages_page, no_store, ConversationPage};
use super::agent::{ConversationView, MAX_PAGE};
use super::session::SignedIn;
use super::sign_in::{body, changed};
use super::transfer::{accepted_by, target_type, transfer_attributes};
use crate::lists::{PageParams, Paging};
use crate::state::AppState;
use crate::taskrouter::{router_refusal, wire};
use crate::twilio::error::ApiError;

/// Why a moved task that no agent held is canceled.
pub const MOVED_REASON: &str = "moved by a supervisor";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(overview).service(monitor).service(monitor_messages).service(move_task);
}

/// A queue and what waits in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueLoad {
    /// `WQ…`
    pub sid: String,
    pub friendly_name: String,
    /// Tasks routed to it that no agent accepted yet (pending or reserved).
    pub waiting: u32,
    /// Seconds the longest-waiting of them has been in the queue (0 when none waits).
    pub oldest_wait_secs: u64,
}

/// An agent (a worker of the workspace) and their work.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentLoad {
    /// `WK…`
    pub sid: String,
    pub friendly_name: String,
    pub activity: Option<String>,
    pub available: bool,
    /// Seconds since their activity last changed.
    pub in_activity_secs: u64,
    /// Tasks they hold (reserved, accepted or wrapping).
    pub tasks: u32,
    /// How many tasks they may hold, over their task channels.
    pub capacity: u32,
}

/// A live conversation: an open task naming a chat channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveConversation {
    /// `WT…`
    pub task_sid: String,
    /// `CH…`
    pub channel_sid: String,
    /// pending, reserved, assigned or wrapping
    pub status: String,
    /// The customer's name as the task names it (`name`, else `from`).
    pub customer: Option<String>,
    pub queue_sid: Option<String>,
    /// The agent holding it, if any.
    pub agent: Option<String>,
    /// Seconds since the task was made.
    pub age_secs: u64,
}

/// What the supervisor view shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisorView {
    pub workspace_sid: String,
    /// The daemon's clock, in milliseconds since the epoch.
    pub now_ms: i64,
    pub queues: Vec<QueueLoad>,
    pub agents: Vec<AgentLoad>,
    pub conversations: Vec<LiveConversation>,
}

/// The signed-in person's links, if their role may supervise.
fn supervising(signed_in: &SignedIn) -> Result<PersonLinks, ApiError> {
    signed_in.may(ConsoleAction::Supervise)?;
    signed_in.person.links.ok_or_else(|| {
        ApiError::conflict(20409, "The person has no chat user and worker yet: add them again")
    })
}

fn seconds_since(now_ms: i64, then_ms: i64) -> u64 {
    u64::try_from(now_ms.saturating_sub(then_ms) / 1000).unwrap_or(0)
}

/// Whether a task is open: not completed, canceled or deleted.
fn open(task: &TaskState) -> bool {
    !task.assignment_status.is_final()
}

/// Whether a task waits for an agent (routed, none accepted).
fn waiting(task: &TaskSummary) -> bool {
    matches!(task.status, AssignmentStatus::Pending | AssignmentStatus::Reserved)
}

/// The workspace's queues, agents and live conversations.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleSupervisor",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The supervisor view", body = SupervisorView)),
)]
#[get("/console/supervisor")]
async fn overview(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let links = supervising(&signed_in)?;
    let workspace = links.workspace_sid;
    let now_ms = state.engine.now().as_millis();
    let router = state.engine.task_router();
    // From memory: a waiting customer's idle task is not read back from the log at each poll.
    let tasks = router.task_summaries(workspace);
    let workers = router.workers(workspace);
    let conversations =
        tasks.iter().filter_map(|t| live_conversation(t, &workers, now_ms)).collect();
    Ok(no_store().json(SupervisorView {
        workspace_sid: workspace.to_string(),
        now_ms,
        queues: queue_loads(&state, workspace, &tasks, now_ms),
        agents: workers.iter().map(|w| agent_load(&state, w, now_ms)).collect(),
        conversations,
    }))
}

/// Each queue of the workspace with its waiting tasks, oldest created first.
fn queue_loads(
    state: &AppState,
    workspace: Sid,
    tasks: &[TaskSummary],
    now_ms: i64,
) -> Vec<QueueLoad> {
    let Some(config) = state.engine.workspaces().get(workspace) else { return Vec::new() };
    let mut queues: Vec<_> = config.task_queues.values().collect();
    queues.sort_by_key(|kept| kept.created_at_event);
    queues
        .into_iter()
        .map(|kept| {
            let sid = kept.record.sid;
            let entered = tasks
                .iter()
                .filter(|t| waiting(t) && t.queue_sid == Some(sid))
                .map(|t| t.queue_entered.unwrap_or(t.date_created).as_millis());
            let (count, oldest) = entered.fold((0u32, None::<i64>), |(n, oldest), at| {
                (n + 1, Some(oldest.map_or(at, |o| o.min(at))))
            });
            QueueLoad {
                sid: sid.to_string(),
                friendly_name: kept.record.friendly_name.clone(),
                waiting: count,
                oldest_wait_secs: oldest.map_or(0, |at| seconds_since(now_ms, at)),
            }
        })
        .collect()
}

fn agent_load(state: &AppState, worker: &WorkerState, now_ms: i64) -> AgentLoad {
    let sid = worker.sid.unwrap_or_else(|| Sid::from_parts(SidPrefix::WORKER, [0; 16]));
    AgentLoad {
        sid: sid.to_string(),
        friendly_name: worker.friendly_name.clone(),
        activity: worker.activity.as_ref().map(|a| a.name.clone()),
        available: worker.available(),
        in_activity_secs: seconds_since(now_ms, worker.date_status_changed.as_millis()),
        tasks: state.engine.task_router().held_by(sid),
        capacity: worker.channels.iter().map(|c| c.configured_capacity).sum(),
    }
}

/// The task as a live conversation, if it names a chat channel.
fn live_conversation(
    task: &TaskSummary,
    workers: &[WorkerState],
    now_ms: i64,
) -> Option<LiveConversation> {
    let attributes: serde_json::Value = serde_json::from_str(&task.attributes).ok()?;
    let channel_sid = attributes.get("channelSid")?.as_str()?.to_owned();
    let customer = ["name", "from"]
        .iter()
        .find_map(|key| attributes.get(*key).and_then(|v| v.as_str()))
        .map(str::to_owned);
    let agent = task.holder.and_then(|sid| {
        workers.iter().find(|w| w.sid == Some(sid)).map(|w| w.friendly_name.clone())
    });
    Some(LiveConversation {
        task_sid: task.sid.to_string(),
        channel_sid,
        status: task.status.as_str().to_owned(),
        customer,
        queue_sid: task.queue_sid.map(|queue| queue.to_string()),
        agent,
        age_secs: seconds_since(now_ms, task.date_created.as_millis()),
    })
}

/// The channel of the path, if it is in the supervisor's Chat service.
async fn watched_channel(
    state: &AppState,
    request: &HttpRequest,
    links: PersonLinks,
) -> Result<ChannelState, ApiError> {
    let key = request.match_info().get("channel").unwrap_or_default();
    let not_found = || ApiError::not_found(request.path());
    let sid = Sid::parse_with(key, SidPrefix::CHANNEL).map_err(|_| not_found())?;
    let channel = state.engine.channels().state(sid).await?.ok_or_else(not_found)?;
    let reaches = channel.service_sid == Some(links.chat_service_sid) && !channel.is_removed();
    reaches.then_some(channel).ok_or_else(not_found)
}

/// Opens a conversation read-only: joins nothing; recorded (durably, before the answer) as a
/// `conversation_monitored` event of the supervisor.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleMonitoredConversation",
    security(("consoleSession" = [])),
    params(("channel" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 200, description = "The conversation", body = ConversationView)),
)]
#[get("/console/monitor/{channel}")]
async fn monitor(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let links = supervising(&signed_in)?;
    let channel = watched_channel(&state, &request, links).await?;
    let person = signed_in.person.sid.ok_or_else(ApiError::internal)?;
    let channel_sid = channel.sid.ok_or_else(ApiError::internal)?;
    let record = vec![PersonCommand::RecordMonitoring { channel_sid }];
    changed(state.engine.people().execute(person, record, state.engine.now()).await?)?;
    tracing::info!(person_sid = %person, channel = %channel_sid, "console monitoring");
    Ok(no_store().json(conversation_view(&state, &channel)))
}

/// A page of a watched conversation's messages, newest first (page 0 the latest).
#[utoipa::path(
    tag = "Console",
    operation_id = "ListConsoleMonitoredMessage",
    security(("consoleSession" = [])),
    params(("channel" = String, Path, description = "The channel (`CH…`)"), PageParams),
    responses((status = 200, description = "A page of messages", body = ConversationPage)),
)]
#[get("/console/monitor/{channel}/messages")]
async fn monitor_messages(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let links = supervising(&signed_in)?;
    let paging = Paging::from_request(&request, MAX_PAGE)?;
    let channel = watched_channel(&state, &request, links).await?;
    Ok(no_store().json(messages_page(&state, &channel, &paging)?))
}

/// What a move names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MoveForm {
    /// An open task of the workspace (`WT…`).
    pub task_sid: String,
    /// A worker (`WK…`) or a queue (`WQ…`) of the workspace.
    pub to: String,
}

/// Moves an open task to a queue or an agent: 201 with the new task. The old task is wrapped up
/// if an agent accepted it (as a cold transfer), else canceled (`moved by a supervisor`).
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleMove",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body(content = MoveForm, content_type = "application/json",
        description = "Also as a form (`TaskSid`, `To`)"),
    responses((status = 201, description = "The moved task", body = wire::Task)),
)]
#[post("/console/moves")]
async fn move_task(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let workspace = supervising(&signed_in)?.workspace_sid;
    let form: MoveForm = body(&request, &bytes)?;
    let not_found = || ApiError::not_found(request.path());
    let task_sid = Sid::parse_with(&form.task_sid, SidPrefix::TASK).map_err(|_| not_found())?;
    let router = state.engine.task_router();
    let task = router.task(workspace, task_sid)?.filter(open).ok_or_else(not_found)?;
    let holder = task.holding_reservation().map(|r| r.worker_sid);
    let leaving = holder.and_then(|sid| router.worker_identity(workspace, sid));
    // Nobody to leave out: a worker SID no worker has, so `target_type` refuses none.
    let nobody = Sid::from_parts(SidPrefix::WORKER, [0; 16]);
    let target = target_type(&state, workspace, holder.unwrap_or(nobody), &form.to)?;
    let attributes = transfer_attributes(&task, target, &form.to, leaving.as_deref().unwrap_or(""));
    let new = NewTask {
        task_sid: None,
        workflow_sid: task.workflow_sid,
        task_channel: Some(task.task_channel_unique_name.clone()),
        attributes,
        priority: Some(task.priority),
        timeout_secs: None,
    };
    let made = state.engine.tasks().create(workspace, state.credentials.account_sid, new).await?;
    let made = made.map_err(|refusal| router_refusal(refusal, request.path()))?;
    let released = match holder.and_then(|worker| accepted_by(&task, worker)) {
        Some(held) => {
            let answer = ReservationAnswer::Wrapping;
            let wrapped =
                state.engine.tasks().answer_reservation(workspace, task_sid, held, answer);
            wrapped.await?.map(|_| ())
        }
        None => {
            let changes = TaskChanges {
                assignment_status: Some(AssignmentStatus::Canceled),
                reason: Some(MOVED_REASON.to_owned()),
                ..TaskChanges::default()
            };
            state.engine.tasks().update(workspace, task_sid, changes).await?.map(|_| ())
        }
    };
    released.map_err(|refusal| router_refusal(refusal, request.path()))?;
    let config = state.engine.workspaces().get(workspace);
    let rendered = wire::task(&state, config.as_ref(), &made, state.engine.now());
    Ok(HttpResponse::Created().json(rendered))
}

#[cfg(test)]
mod tests {
    use switchboard_domain::Timestamp;
    use switchboard_routing::task::Route;

    use super::*;

    fn task(status: AssignmentStatus, attributes: &str) -> TaskState {
        TaskState {
            sid: Some(Sid::from_parts(SidPrefix::TASK, [1; 16])),
            attributes: attributes.into(),
            assignment_status: status,
            date_created: Timestamp::from_millis(10_000),
            route: Some(Route {
                queue_sid: Sid::from_parts(SidPrefix::TASK_QUEUE, [2; 16]),
                target_index: 0,
                priority: None,
                filter: None,
                first_step: 0,
                since: None,
                entry: Default::default(),
            }),
            ..TaskState::default()
        }
    }

    #[test]
    fn a_task_naming_a_channel_is_a_live_conversation_with_its_customer_and_age() {
        let named = task(AssignmentStatus::Pending, r#"{"channelSid":"CH9","name":"Ada"}"#);
        let summary = |task: &TaskState| TaskSummary::of_state(task).unwrap();
        let live = live_conversation(&summary(&named), &[], 70_000).unwrap();
        assert_eq!((live.channel_sid.as_str(), live.customer.as_deref()), ("CH9", Some("Ada")));
        assert_eq!((live.status.as_str(), live.age_secs, live.agent), ("pending", 60, None));
        let sms = task(AssignmentStatus::Assigned, r#"{"channelSid":"CH9","from":"+1415"}"#);
        let sms = summary(&sms);
        assert_eq!(live_conversation(&sms, &[], 0).unwrap().customer.as_deref(), Some("+1415"));
        let unnamed = summary(&task(AssignmentStatus::Pending, "{}"));
        assert!(live_conversation(&unnamed, &[], 0).is_none());
    }

    #[test]
    fn only_pending_and_reserved_tasks_wait_and_finished_ones_are_not_open() {
        use AssignmentStatus as S;
        let waits = |s| waiting(&TaskSummary::of_state(&task(s, "{}")).unwrap());
        assert!(waits(S::Pending) && waits(S::Reserved));
        assert!(!waits(S::Assigned) && !waits(S::Wrapping));
        assert!(!open(&task(S::Completed, "{}")) && !open(&task(S::Canceled, "{}")));
        assert!(open(&task(S::Wrapping, "{}")));
        assert_eq!(seconds_since(5_000, 9_000), 0, "a clock behind counts none");
    }
}
