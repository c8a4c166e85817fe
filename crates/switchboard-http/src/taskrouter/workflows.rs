//! TaskRouter Workflows: create (201; the `Configuration` JSON checked, its expressions parsed
//! and its queues found), fetch, list, update by POST (partial), delete (204).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::new_sid;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_routing::workspace::{
    Part, Workflow as WorkflowRecord, WorkspaceCommand, WorkspaceRejection, WorkspaceState,
    DEFAULT_RESERVATION_TIMEOUT,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Workflow, WorkflowList};
use super::{change_workspace, path_sid, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::Form;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(fetch).service(update).service(delete);
}

/// The form of a workflow create; an update takes the same, each optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct WorkflowForm {
    /// Required at creation.
    #[schema(required = true)]
    friendly_name: Option<String>,
    /// `{"task_routing": {"filters": [...], "default_filter": {...}}}` as JSON. Required at
    /// creation.
    #[schema(required = true)]
    configuration: Option<String>,
    /// An absolute http or https URL the reservations of the workflow's tasks are POSTed to;
    /// its answer's `instruction` (`accept`, `reject`, `dequeue`) is carried out. Empty: none.
    assignment_callback_url: Option<String>,
    /// Called, the same way, when a call to `AssignmentCallbackUrl` fails (no answer in time, a
    /// network error, or an error status after its retries). Empty: none.
    fallback_assignment_callback_url: Option<String>,
    /// Seconds, from 1 to 86400; default 120.
    #[schema(value_type = Option<u32>)]
    task_reservation_timeout: Option<u64>,
    /// Update only: re-route the waiting tasks through the new configuration.
    re_evaluate_tasks: Option<bool>,
}

const LIMITS: &[lengths::Limit] = &[
    lengths::TASKROUTER_NAME,
    lengths::WORKFLOW_CONFIGURATION,
    lengths::ASSIGNMENT_CALLBACK_URL,
    lengths::FALLBACK_ASSIGNMENT_CALLBACK_URL,
];

/// Creates a workflow.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateWorkflow",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = WorkflowForm, content_type = FORM),
    responses((status = 201, description = "The new workflow", body = Workflow)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workflows")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<WorkflowForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let blank = WorkflowRecord {
        sid: new_sid(SidPrefix::WORKFLOW),
        friendly_name: form.raw.required(form.friendly_name.as_deref(), "FriendlyName")?.to_owned(),
        configuration: form
            .raw
            .required(form.configuration.as_deref(), "Configuration")?
            .to_owned(),
        assignment_callback_url: None,
        fallback_assignment_callback_url: None,
        task_reservation_timeout: DEFAULT_RESERVATION_TIMEOUT,
    };
    let (sid, workflow) = (blank.sid, merge(blank, &form)?);
    let command = WorkspaceCommand::Add(Part::Workflow(workflow));
    let workspace = change_workspace(&state, &request, |_| Ok(vec![command])).await?;
    Ok(HttpResponse::Created().json(render(&state, &workspace, sid)?))
}

/// Fetches a workflow.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchWorkflow",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The workflow (`WW…`)"),
    ),
    responses((status = 200, description = "The workflow", body = Workflow)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workflows/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, workspace) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "sid", SidPrefix::WORKFLOW)?;
    let workflow =
        render(&state, &workspace, sid).map_err(|_| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(workflow))
}

/// Lists a workspace's workflows.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListWorkflow",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("FriendlyName" = Option<String>, Query, description = "Only the workflow of this name"),
        PageParams,
    ),
    responses((status = 200, description = "A page of workflows", body = WorkflowList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workflows")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace_sid, workspace) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let name = paging.filter("FriendlyName").map(str::to_owned);
    let workflows: Vec<_> = workspace
        .workflows_in_order()
        .into_iter()
        .filter(|k| name.as_deref().is_none_or(|n| k.record.friendly_name == n))
        .map(|k| wire::workflow(&state, workspace_sid, k))
        .collect();
    list_response::<WorkflowList>(&state, &request, &paging, workflows)
}

/// Updates a workflow (partial).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateWorkflow",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The workflow (`WW…`)"),
    ),
    request_body(content = WorkflowForm, content_type = FORM),
    responses((status = 200, description = "The workflow", body = Workflow)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workflows/{sid}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<WorkflowForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    // Waiting tasks are re-routed whenever a workflow changes (there is nothing to keep them on
    // the old configuration), so `ReEvaluateTasks` only needs to be a valid flag, which reading
    // the form checked.
    let _re_evaluated_anyway = form.re_evaluate_tasks;
    let sid = path_sid(&request, "sid", SidPrefix::WORKFLOW)?;
    let workspace = change_workspace(&state, &request, |workspace| {
        let workflow =
            workspace.workflow(sid).cloned().ok_or(WorkspaceRejection::PartNotFound(sid))?;
        let workflow = merge(workflow, &form)
            .map_err(|e| WorkspaceRejection::Invalid(e.message().to_owned()))?;
        Ok(vec![WorkspaceCommand::Replace(Part::Workflow(workflow))])
    })
    .await?;
    Ok(HttpResponse::Ok().json(render(&state, &workspace, sid)?))
}

/// Deletes a workflow.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteWorkflow",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The workflow (`WW…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/Workflows/{sid}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = path_sid(&request, "sid", SidPrefix::WORKFLOW)?;
    change_workspace(&state, &request, |_| Ok(vec![WorkspaceCommand::Remove(sid)])).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Twilio's update is partial: what the form names changes; the domain checks the result.
fn merge(mut workflow: WorkflowRecord, form: &WorkflowForm) -> Result<WorkflowRecord, ApiError> {
    if let Some(name) = &form.friendly_name {
        name.clone_into(&mut workflow.friendly_name);
    }
    if let Some(configuration) = &form.configuration {
        configuration.clone_into(&mut workflow.configuration);
    }
    if let Some(text) = &form.assignment_callback_url {
        workflow.assignment_callback_url =
            crate::chat::service_webhooks::url(text, 20001, "AssignmentCallbackUrl")?;
    }
    if let Some(text) = &form.fallback_assignment_callback_url {
        workflow.fallback_assignment_callback_url =
            crate::chat::service_webhooks::url(text, 20001, "FallbackAssignmentCallbackUrl")?;
    }
    if let Some(timeout) = form.task_reservation_timeout {
        workflow.task_reservation_timeout = u32::try_from(timeout).unwrap_or(u32::MAX);
    }
    Ok(workflow)
}

fn render(state: &AppState, workspace: &WorkspaceState, sid: Sid) -> Result<Workflow, ApiError> {
    let workspace_sid = workspace.sid.ok_or_else(ApiError::internal)?;
    let kept = workspace.workflows.get(&sid).ok_or_else(ApiError::internal)?;
    Ok(wire::workflow(state, workspace_sid, kept))
}
