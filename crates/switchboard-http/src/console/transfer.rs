//! A transfer from the console, as Flex makes one: a new task of the agent's task's attributes
//! naming where it goes (`transferTargetType` `worker` or `queue`, `targetSid`) and whom it must
//! not come back to (`ignoreAgent`, `ignoreWorkerContactUri`), in the same workflow and task
//! channel; the channel's orchestration links it, so the channel waits for the next agent.
//! Cold: the agent's own reservation moves to wrap-up at once; warm: the agent stays until they
//! wrap up. The workflow decides where the task goes: it must route on those attributes, as a
//! Flex workflow set up for transfers does. Deny by default: only an agent holding an accepted
//! reservation of the task may transfer it, to a worker or a queue of their own workspace.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use switchboard_actors::{NewTask, ReservationAnswer};
use switchboard_domain::{Sid, SidPrefix};
use switchboard_routing::task::{ReservationStatus, TaskState};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::agent::answering;
use super::session::SignedIn;
use super::sign_in::body;
use crate::state::AppState;
use crate::taskrouter::{router_refusal, wire};
use crate::twilio::error::ApiError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(transfer);
}

/// What a transfer names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TransferForm {
    /// The task the agent holds (`WT…`).
    pub task_sid: String,
    /// A worker (`WK…`) or a queue (`WQ…`) of the workspace.
    pub to: String,
    /// `cold` (the agent wraps up at once) or `warm` (the agent stays); default `cold`.
    pub mode: Option<String>,
}

/// Transfers a task the agent holds to another agent or a queue: 201 with the new task.
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleTransfer",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body(content = TransferForm, content_type = "application/json",
        description = "Also as a form (`TaskSid`, `To`, `Mode`)"),
    responses((status = 201, description = "The transfer's task", body = wire::Task)),
)]
#[post("/console/transfers")]
async fn transfer(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let links = answering(&signed_in)?;
    let form: TransferForm = body(&request, &bytes)?;
    let warm = match form.mode.as_deref().unwrap_or("cold") {
        "cold" => false,
        "warm" => true,
        other => {
            return Err(ApiError::bad_param(format!("Mode must be cold or warm, not {other:?}")))
        }
    };
    let workspace = links.workspace_sid;
    let router = state.engine.task_router();
    let not_found = || ApiError::not_found(request.path());
    let task_sid = Sid::parse_with(&form.task_sid, SidPrefix::TASK).map_err(|_| not_found())?;
    let task = router.task(workspace, task_sid)?.ok_or_else(not_found)?;
    let held = accepted_by(&task, links.worker_sid).ok_or_else(not_found)?;
    let target_type = target_type(&state, workspace, links.worker_sid, &form.to)?;
    let attributes = transfer_attributes(&task, target_type, &form.to, &signed_in.person.username);
    let new = NewTask {
        task_sid: None,
        workflow_sid: task.workflow_sid,
        task_channel: Some(task.task_channel_unique_name.clone()),
        attributes,
        priority: Some(task.priority),
        timeout_secs: None,
    };
    let account = state.credentials.account_sid;
    let made = state.engine.tasks().create(workspace, account, new).await?;
    let made = made.map_err(|refusal| router_refusal(refusal, request.path()))?;
    if !warm {
        let answer = ReservationAnswer::Wrapping;
        let wrapped =
            state.engine.tasks().answer_reservation(workspace, task_sid, held, answer).await?;
        wrapped.map_err(|refusal| router_refusal(refusal, request.path()))?;
    }
    let config = state.engine.workspaces().get(workspace);
    let rendered = wire::task(&state, config.as_ref(), &made, state.engine.now());
    Ok(HttpResponse::Created().json(rendered))
}

/// The reservation of `task` that `worker` accepted, if it holds one.
pub(super) fn accepted_by(task: &TaskState, worker: Sid) -> Option<Sid> {
    let held = task
        .reservations
        .iter()
        .find(|r| r.worker_sid == worker && matches!(r.status, ReservationStatus::Accepted));
    held.map(|r| r.sid)
}

/// `worker` or `queue`: what `to` is in the workspace (never the agent themselves).
pub(super) fn target_type(
    state: &AppState,
    workspace: Sid,
    agent: Sid,
    to: &str,
) -> Result<&'static str, ApiError> {
    let unknown = || {
        ApiError::bad_param(format!("To {to:?} is no other worker nor a queue of the workspace"))
    };
    if let Ok(worker) = Sid::parse_with(to, SidPrefix::WORKER) {
        let found = state.engine.task_router().worker(workspace, worker);
        return found.filter(|_| worker != agent).map(|_| "worker").ok_or_else(unknown);
    }
    let queue = Sid::parse_with(to, SidPrefix::TASK_QUEUE).map_err(|_| unknown())?;
    let config = state.engine.workspaces().get(workspace).ok_or_else(unknown)?;
    config.task_queues.contains_key(&queue).then_some("queue").ok_or_else(unknown)
}

/// The task's attributes with Flex's transfer fields.
pub(super) fn transfer_attributes(
    task: &TaskState,
    target_type: &str,
    to: &str,
    leaving: &str,
) -> String {
    let mut attributes: Value =
        serde_json::from_str(&task.attributes).unwrap_or(Value::Object(Default::default()));
    if let Value::Object(fields) = &mut attributes {
        fields.insert("transferTargetType".into(), target_type.into());
        fields.insert("targetSid".into(), to.into());
        fields.insert("ignoreAgent".into(), leaving.into());
        fields.insert("ignoreWorkerContactUri".into(), format!("client:{leaving}").into());
    }
    attributes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_keeps_the_task_s_attributes_and_names_its_target_and_who_leaves() {
        let task = TaskState {
            attributes: r#"{"channelSid":"CH1","name":"Ada"}"#.into(),
            ..TaskState::default()
        };
        let made: Value =
            serde_json::from_str(&transfer_attributes(&task, "worker", "WK2", "alice")).unwrap();
        assert_eq!(made["channelSid"], "CH1");
        assert_eq!(made["name"], "Ada");
        assert_eq!(made["transferTargetType"], "worker");
        assert_eq!(made["targetSid"], "WK2");
        assert_eq!(made["ignoreWorkerContactUri"], "client:alice");
    }
}
