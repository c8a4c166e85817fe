//! TaskRouter Workspaces: create (201, with its activities and task channels, and with a queue
//! and a workflow for `Template=FIFO`), fetch, list, update by POST (partial), delete (204).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_domain::SidPrefix;
use switchboard_routing::workspace::{named_settings, Template, WorkspaceCommand, WorkspaceState};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Workspace, WorkspaceList};
use super::{change_workspace, refusal, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(fetch).service(update).service(delete);
}

/// The form of a workspace create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateWorkspaceForm {
    #[schema(required = true)]
    friendly_name: Option<String>,
    /// Where each event `EventsFilter` names is POSTed (an absolute http or https URL).
    event_callback_url: Option<String>,
    /// A comma list of event types.
    events_filter: Option<String>,
    /// Default `true`; `false` (single-tasking) is not supported.
    multi_task_enabled: Option<bool>,
    /// `NONE` (default) or `FIFO`, which adds "Sample Queue" and "Default Fifo Workflow".
    template: Option<String>,
    /// `FIFO` only.
    prioritize_queue_order: Option<String>,
}

/// The form of a workspace update: what it names changes, the rest stays.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateWorkspaceForm {
    friendly_name: Option<String>,
    event_callback_url: Option<String>,
    /// Empty clears it.
    events_filter: Option<String>,
    multi_task_enabled: Option<bool>,
    /// An activity (`WA…`) of the workspace.
    default_activity_sid: Option<String>,
    /// An activity (`WA…`) of the workspace.
    timeout_activity_sid: Option<String>,
    prioritize_queue_order: Option<String>,
}

const LIMITS: &[lengths::Limit] =
    &[lengths::TASKROUTER_NAME, lengths::EVENTS_FILTER, lengths::EVENT_CALLBACK_URL];

/// Creates a workspace with the activities Offline (its default and timeout activity),
/// Available and Unavailable and the task channels `default, voice, chat, sms, video`.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateWorkspace",
    request_body(content = CreateWorkspaceForm, content_type = FORM),
    responses((status = 201, description = "The new workspace", body = Workspace)),
)]
#[post("/taskrouter/v1/Workspaces")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<CreateWorkspaceForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let Form { fields: form, raw } = form;
    let event_callback_url = callback_url(form.event_callback_url.as_deref())?.flatten();
    let template = match form.template.as_deref() {
        None | Some("") | Some("NONE") => Template::Bare,
        Some("FIFO") => Template::Fifo,
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "Template must be NONE or FIFO, not {other:?}"
            )))
        }
    };
    let mut settings = named_settings(raw.required(form.friendly_name.as_deref(), "FriendlyName")?);
    settings.events_filter = form.events_filter.filter(|f| !f.is_empty());
    settings.event_callback_url = event_callback_url;
    check_multitasking_and_order(form.multi_task_enabled, form.prioritize_queue_order.as_deref())?;
    let created = state.engine.workspaces().create(settings, template, state.engine.now()).await?;
    let workspace = created.map_err(|rejection| refusal(rejection, request.path()))?;
    Ok(HttpResponse::Created().json(render(&state, &workspace)?))
}

/// Fetches a workspace.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchWorkspace",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    responses((status = 200, description = "The workspace", body = Workspace)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, workspace) = workspace_in_path(&state, &request)?;
    Ok(HttpResponse::Ok().json(render(&state, &workspace)?))
}

/// Lists the workspaces, oldest first.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListWorkspace",
    params(
        ("FriendlyName" = Option<String>, Query, description = "Only the workspaces of this name"),
        PageParams,
    ),
    responses((status = 200, description = "A page of workspaces", body = WorkspaceList)),
)]
#[get("/taskrouter/v1/Workspaces")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let wanted = paging.filter("FriendlyName").map(str::to_owned);
    let workspaces: Vec<_> = state
        .engine
        .workspaces()
        .list()
        .iter()
        .filter_map(|w| wire::workspace(&state, w))
        .filter(|w| wanted.as_deref().is_none_or(|name| w.friendly_name == name))
        .collect();
    list_response::<WorkspaceList>(&state, &request, &paging, workspaces)
}

/// Updates a workspace (partial).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateWorkspace",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = UpdateWorkspaceForm, content_type = FORM),
    responses((status = 200, description = "The workspace", body = Workspace)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateWorkspaceForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let form = form.fields;
    let event_callback_url = callback_url(form.event_callback_url.as_deref())?;
    check_multitasking_and_order(form.multi_task_enabled, form.prioritize_queue_order.as_deref())?;
    let activity =
        |name, given: &Option<String>| sid_field(name, given.as_deref(), SidPrefix::ACTIVITY);
    let default_activity = activity("DefaultActivitySid", &form.default_activity_sid)?;
    let timeout_activity = activity("TimeoutActivitySid", &form.timeout_activity_sid)?;
    let workspace = change_workspace(&state, &request, |workspace| {
        let mut settings = workspace.settings.clone().unwrap_or_else(|| named_settings(""));
        if let Some(name) = &form.friendly_name {
            name.clone_into(&mut settings.friendly_name);
        }
        if let Some(filter) = &form.events_filter {
            settings.events_filter = Some(filter.to_owned()).filter(|f| !f.is_empty());
        }
        if let Some(url) = event_callback_url {
            settings.event_callback_url = url;
        }
        settings.default_activity_sid = default_activity.or(settings.default_activity_sid);
        settings.timeout_activity_sid = timeout_activity.or(settings.timeout_activity_sid);
        Ok(vec![WorkspaceCommand::Update { settings }])
    })
    .await?;
    Ok(HttpResponse::Ok().json(render(&state, &workspace)?))
}

/// Deletes a workspace and everything in it.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteWorkspace",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    change_workspace(&state, &request, |_| Ok(vec![WorkspaceCommand::Delete])).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Single-tasking and LIFO queue order are Twilio's but not carried out here: refused, never
/// kept and ignored.
fn check_multitasking_and_order(
    multitasking: Option<bool>,
    queue_order: Option<&str>,
) -> Result<(), ApiError> {
    if multitasking == Some(false) {
        return Err(ApiError::unsupported(
            "MultiTaskEnabled=false is not supported: workspaces are multitasking, as Flex needs",
        ));
    }
    match queue_order {
        None | Some("") | Some("FIFO") => Ok(()),
        Some(other) => Err(ApiError::unsupported(format!(
            "PrioritizeQueueOrder {other:?} is not supported: only FIFO"
        ))),
    }
}

fn render(state: &AppState, workspace: &WorkspaceState) -> Result<Workspace, ApiError> {
    wire::workspace(state, workspace).ok_or_else(ApiError::internal)
}

/// `EventCallbackUrl` when given: an absolute http or https URL, or empty (no callbacks).
fn callback_url(given: Option<&str>) -> Result<Option<Option<String>>, ApiError> {
    given
        .map(|text| crate::chat::service_webhooks::url(text, 20001, "EventCallbackUrl"))
        .transpose()
}
