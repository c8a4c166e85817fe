//! TaskRouter v1 under `/taskrouter/v1`, in Twilio's shapes: workspaces and their activities,
//! task channels, task queues and workflows. One file per noun; what they share (finding the
//! workspace in the path, changing it under its writer, Twilio's errors) is here.

mod activities;
mod events;
mod task_channels;
mod task_queues;
mod tasks;
pub(crate) mod wire;
mod workers;
mod workflows;
mod workspaces;

use actix_web::HttpRequest;
use switchboard_actors::RouterRefusal;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_routing::task::TaskRejection;
use switchboard_routing::worker::WorkerRejection;
use switchboard_routing::workspace::{WorkspaceCommand, WorkspaceRejection, WorkspaceState};

use crate::route_shapes::Routes;
use crate::state::AppState;
use crate::twilio::error::ApiError;

/// Every TaskRouter v1 route, a group per resource (`crate::route_shapes`).
pub(crate) const GROUPS: &[Routes] = &[
    workspaces::routes,
    activities::routes,
    task_channels::routes,
    task_queues::routes,
    workflows::routes,
    workers::routes,
    tasks::routes,
    events::routes,
];

/// The SID in the path segment `name`, of the kind `prefix` names; anything else is not found.
fn path_sid(request: &HttpRequest, name: &str, prefix: SidPrefix) -> Result<Sid, ApiError> {
    let text = request.match_info().get(name).unwrap_or_default();
    Sid::parse_with(text, prefix).map_err(|_| ApiError::not_found(request.path()))
}

/// The live workspace the path names.
fn workspace_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, WorkspaceState), ApiError> {
    let sid = path_sid(request, "workspace", SidPrefix::WORKSPACE)?;
    let workspace =
        state.engine.workspaces().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok((sid, workspace))
}

/// Changes the workspace the path names with what `change` works out from it under its writer.
async fn change_workspace(
    state: &AppState,
    request: &HttpRequest,
    change: impl FnOnce(&WorkspaceState) -> Result<Vec<WorkspaceCommand>, WorkspaceRejection>,
) -> Result<WorkspaceState, ApiError> {
    let sid = path_sid(request, "workspace", SidPrefix::WORKSPACE)?;
    let changed = state.engine.workspaces().change(sid, state.engine.now(), change).await?;
    changed.map_err(|rejection| refusal(rejection, request.path()))
}

/// A refusal of the domain in Twilio's words and codes: what is not there is 404 (20404),
/// everything else a 400 with 20001, as TaskRouter answers a bad parameter.
fn refusal(rejection: WorkspaceRejection, path: &str) -> ApiError {
    match rejection {
        WorkspaceRejection::NotFound | WorkspaceRejection::PartNotFound(_) => {
            ApiError::not_found(path)
        }
        WorkspaceRejection::Exists | WorkspaceRejection::PartExists(_) => {
            ApiError::conflict(20001, rejection.to_string())
        }
        WorkspaceRejection::Unsupported(message) => ApiError::unsupported(message),
        WorkspaceRejection::Invalid(message)
        | WorkspaceRejection::Duplicate(message)
        | WorkspaceRejection::InUse(message) => ApiError::bad_param(message),
    }
}

/// A refusal of the router in Twilio's words and codes.
pub(crate) fn router_refusal(refusal: RouterRefusal, path: &str) -> ApiError {
    match refusal {
        RouterRefusal::NotFound
        | RouterRefusal::Worker(WorkerRejection::NotFound)
        | RouterRefusal::Task(TaskRejection::NotFound)
        | RouterRefusal::Task(TaskRejection::ReservationNotFound(_)) => ApiError::not_found(path),
        RouterRefusal::VersionMismatch { current } => ApiError::new(
            412,
            20001,
            format!("The task's version is {current}: If-Match names another one"),
        ),
        RouterRefusal::Worker(WorkerRejection::AlreadyExists)
        | RouterRefusal::Task(TaskRejection::AlreadyExists) => {
            ApiError::conflict(20001, refusal.to_string())
        }
        other => ApiError::bad_param(other.to_string()),
    }
}

/// The answer of a router request, or its refusal in Twilio's shape.
fn routed<T>(outcome: Result<T, RouterRefusal>, request: &HttpRequest) -> Result<T, ApiError> {
    outcome.map_err(|refusal| router_refusal(refusal, request.path()))
}
