//! TaskRouter Activities: create (201), fetch, list, update by POST (the name only: `Available`
//! is fixed at creation and, as Twilio does, ignored on update), delete (204).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::new_sid;
use switchboard_domain::SidPrefix;
use switchboard_routing::workspace::{Activity as ActivityRecord, Part, WorkspaceCommand};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Activity, ActivityList};
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

/// The form of an activity create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateActivityForm {
    friendly_name: String,
    /// Whether workers in it are offered tasks; default `false`.
    available: Option<bool>,
}

/// The form of an activity update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateActivityForm {
    friendly_name: Option<String>,
}

/// Creates an activity.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateActivity",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = CreateActivityForm, content_type = FORM),
    responses((status = 201, description = "The new activity", body = Activity)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Activities")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<CreateActivityForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::TASKROUTER_NAME])?;
    let CreateActivityForm { friendly_name, available } = form.fields;
    let activity = ActivityRecord {
        sid: new_sid(SidPrefix::ACTIVITY),
        friendly_name,
        available: available.unwrap_or(false),
    };
    let sid = activity.sid;
    let command = WorkspaceCommand::Add(Part::Activity(activity));
    let workspace = change_workspace(&state, &request, |_| Ok(vec![command])).await?;
    let kept = workspace.activities.get(&sid).ok_or_else(ApiError::internal)?;
    let workspace_sid = workspace.sid.ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(wire::activity(&state, workspace_sid, kept)))
}

/// Fetches an activity.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchActivity",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The activity (`WA…`)"),
    ),
    responses((status = 200, description = "The activity", body = Activity)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Activities/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace_sid, workspace) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "sid", SidPrefix::ACTIVITY)?;
    let kept = workspace.activities.get(&sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(wire::activity(&state, workspace_sid, kept)))
}

/// Lists a workspace's activities.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListActivity",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("FriendlyName" = Option<String>, Query, description = "Only the activity of this name"),
        ("Available" = Option<bool>, Query, description = "Only available (or unavailable) ones"),
        PageParams,
    ),
    responses((status = 200, description = "A page of activities", body = ActivityList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Activities")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace_sid, workspace) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let name = paging.filter("FriendlyName").map(str::to_owned);
    let available = paging.filter_bool("Available")?;
    let activities: Vec<_> = workspace
        .activities_in_order()
        .into_iter()
        .filter(|k| name.as_deref().is_none_or(|n| k.record.friendly_name == n))
        .filter(|k| available.is_none_or(|a| k.record.available == a))
        .map(|k| wire::activity(&state, workspace_sid, k))
        .collect();
    list_response::<ActivityList>(&state, &request, &paging, activities)
}

/// Renames an activity.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateActivity",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The activity (`WA…`)"),
    ),
    request_body(content = UpdateActivityForm, content_type = FORM),
    responses((status = 200, description = "The activity", body = Activity)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Activities/{sid}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateActivityForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::TASKROUTER_NAME])?;
    let UpdateActivityForm { friendly_name } = form.fields;
    let sid = path_sid(&request, "sid", SidPrefix::ACTIVITY)?;
    let workspace = change_workspace(&state, &request, |workspace| {
        let mut activity = workspace
            .activity(sid)
            .cloned()
            .ok_or(switchboard_routing::workspace::WorkspaceRejection::PartNotFound(sid))?;
        if let Some(name) = &friendly_name {
            name.clone_into(&mut activity.friendly_name);
        }
        Ok(vec![WorkspaceCommand::Replace(Part::Activity(activity))])
    })
    .await?;
    let kept = workspace.activities.get(&sid).ok_or_else(ApiError::internal)?;
    let workspace_sid = workspace.sid.ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(wire::activity(&state, workspace_sid, kept)))
}

/// Deletes an activity that is not the workspace's default or timeout activity nor named by a
/// queue.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteActivity",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The activity (`WA…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/Activities/{sid}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = path_sid(&request, "sid", SidPrefix::ACTIVITY)?;
    change_workspace(&state, &request, |_| Ok(vec![WorkspaceCommand::Remove(sid)])).await?;
    Ok(HttpResponse::NoContent().finish())
}
