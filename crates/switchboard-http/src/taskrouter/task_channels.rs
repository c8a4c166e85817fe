//! TaskRouter TaskChannels: create (201), fetch (by SID or unique name), list, update by POST
//! (name; channel-optimized routing is refused), delete (204).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::new_sid;
use switchboard_domain::SidPrefix;
use switchboard_routing::workspace::{
    Part, TaskChannel as TaskChannelRecord, WorkspaceCommand, WorkspaceRejection, WorkspaceState,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, TaskChannel, TaskChannelList};
use super::{change_workspace, workspace_in_path};
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

/// The form of a task channel create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateTaskChannelForm {
    friendly_name: String,
    /// Unique in the workspace, without hyphens.
    unique_name: String,
    /// `false` only.
    channel_optimized_routing: Option<bool>,
}

/// The form of a task channel update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateTaskChannelForm {
    friendly_name: Option<String>,
    /// `false` only.
    channel_optimized_routing: Option<bool>,
}

const LIMITS: &[lengths::Limit] = &[lengths::TASKROUTER_NAME, lengths::TASK_CHANNEL_UNIQUE_NAME];

/// Creates a task channel.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateTaskChannel",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = CreateTaskChannelForm, content_type = FORM),
    responses((status = 201, description = "The new task channel", body = TaskChannel)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/TaskChannels")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<CreateTaskChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let CreateTaskChannelForm { friendly_name, unique_name, channel_optimized_routing } =
        form.fields;
    refuse_optimized_routing(channel_optimized_routing)?;
    let channel = TaskChannelRecord {
        sid: new_sid(SidPrefix::TASK_CHANNEL),
        friendly_name,
        unique_name,
        channel_optimized_routing: false,
    };
    let sid = channel.sid;
    let command = WorkspaceCommand::Add(Part::TaskChannel(channel));
    let workspace = change_workspace(&state, &request, |_| Ok(vec![command])).await?;
    Ok(HttpResponse::Created().json(render(&state, &workspace, &sid.to_string())?))
}

/// Fetches a task channel by its SID or its unique name.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchTaskChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task channel (`TC…`) or its unique name"),
    ),
    responses((status = 200, description = "The task channel", body = TaskChannel)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/TaskChannels/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, workspace) = workspace_in_path(&state, &request)?;
    let named = request.match_info().get("sid").unwrap_or_default();
    let channel =
        render(&state, &workspace, named).map_err(|_| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(channel))
}

/// Lists a workspace's task channels.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListTaskChannel",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)"), PageParams),
    responses((status = 200, description = "A page of task channels", body = TaskChannelList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/TaskChannels")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace_sid, workspace) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let channels: Vec<_> = workspace
        .task_channels_in_order()
        .into_iter()
        .map(|k| wire::task_channel(&state, workspace_sid, k))
        .collect();
    list_response::<TaskChannelList>(&state, &request, &paging, channels)
}

/// Renames a task channel.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateTaskChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task channel (`TC…`) or its unique name"),
    ),
    request_body(content = UpdateTaskChannelForm, content_type = FORM),
    responses((status = 200, description = "The task channel", body = TaskChannel)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/TaskChannels/{sid}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateTaskChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let UpdateTaskChannelForm { friendly_name, channel_optimized_routing } = form.fields;
    refuse_optimized_routing(channel_optimized_routing)?;
    let sid = channel_in_path(&state, &request)?;
    let workspace = change_workspace(&state, &request, |workspace| {
        let mut channel =
            workspace.task_channel(sid).cloned().ok_or(WorkspaceRejection::PartNotFound(sid))?;
        if let Some(name) = &friendly_name {
            name.clone_into(&mut channel.friendly_name);
        }
        Ok(vec![WorkspaceCommand::Replace(Part::TaskChannel(channel))])
    })
    .await?;
    Ok(HttpResponse::Ok().json(render(&state, &workspace, &sid.to_string())?))
}

/// Deletes a task channel.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteTaskChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task channel (`TC…`) or its unique name"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/TaskChannels/{sid}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = channel_in_path(&state, &request)?;
    change_workspace(&state, &request, |_| Ok(vec![WorkspaceCommand::Remove(sid)])).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The SID of the task channel the path names by SID or unique name.
fn channel_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<switchboard_domain::Sid, ApiError> {
    let (_, workspace) = workspace_in_path(state, request)?;
    let named = request.match_info().get("sid").unwrap_or_default();
    let channel =
        workspace.task_channel_named(named).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(channel.sid)
}

fn refuse_optimized_routing(asked: Option<bool>) -> Result<(), ApiError> {
    if asked == Some(true) {
        return Err(ApiError::unsupported(
            "ChannelOptimizedRouting=true is not supported: workers are chosen by idle time",
        ));
    }
    Ok(())
}

fn render(
    state: &AppState,
    workspace: &WorkspaceState,
    named: &str,
) -> Result<TaskChannel, ApiError> {
    let workspace_sid = workspace.sid.ok_or_else(ApiError::internal)?;
    let channel = workspace.task_channel_named(named).ok_or_else(ApiError::internal)?;
    let kept = workspace.task_channels.get(&channel.sid).ok_or_else(ApiError::internal)?;
    Ok(wire::task_channel(state, workspace_sid, kept))
}
