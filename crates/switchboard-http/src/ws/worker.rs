//! A worker on the WebSocket: a token with Twilio's TaskRouter grant (`grants.task_router`,
//! naming a workspace and a worker of it) gets that worker's TaskRouter events as
//! `taskrouter_event` frames (its reservations, the tasks it holds or was offered, its own
//! activity and capacity), pushed once durable and replayed from the log by `worker_resume`;
//! and answers its reservations and sets its activity through the same router calls as the REST
//! API, each answered `ack` or `error` in Twilio's error shape. Deny by default: the worker must
//! exist in the workspace when the socket opens, and nothing of another worker is ever sent.
//!
//! When a worker's last socket closes, it is set to the workspace's `Offline` activity after
//! `worker_offline_grace`, unless a socket of its opened meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use switchboard_actors::{FeedItem, ReservationAnswer, Subject, WorkerChanges, WorkerSubscription};
use switchboard_domain::{Sid, SidPrefix};

use super::{Connection, Peer};
use crate::state::AppState;
use crate::taskrouter::{router_refusal, wire};
use crate::twilio::error::ApiError;
use crate::twilio::token::TaskRouterGrant;

/// What a verified TaskRouter grant names.
#[derive(Debug, Clone)]
pub(crate) struct WorkerGrant {
    pub workspace_sid: Sid,
    pub worker_sid: Sid,
    /// As the token says; it grants nothing beyond the worker's own events and actions.
    pub role: Option<String>,
}

/// Checks a TaskRouter grant against this server: a worker that exists, in that workspace.
pub(super) fn grant(state: &AppState, grant: &TaskRouterGrant) -> Result<WorkerGrant, ApiError> {
    let refused = || ApiError::new(401, 20101, "The access token's worker does not exist here");
    let parse = |text: Option<&String>, prefix| {
        text.and_then(|t| Sid::parse_with(t, prefix).ok()).ok_or_else(refused)
    };
    let workspace_sid = parse(grant.workspace_sid.as_ref(), SidPrefix::WORKSPACE)?;
    let worker_sid = parse(grant.worker_sid.as_ref(), SidPrefix::WORKER)?;
    state.engine.task_router().worker(workspace_sid, worker_sid).ok_or_else(refused)?;
    Ok(WorkerGrant { workspace_sid, worker_sid, role: grant.role.clone() })
}

/// The next item of a worker's feed; never, for a socket that has none.
pub(super) async fn next(feed: &mut Option<WorkerSubscription>) -> Option<Arc<FeedItem>> {
    match feed {
        Some(feed) => feed.items.recv().await,
        None => std::future::pending().await,
    }
}

/// A `reservation_update`'s `status`, as the REST update's `ReservationStatus` takes it.
pub(super) fn answer_of(status: &str) -> Result<ReservationAnswer, ApiError> {
    match status {
        "accepted" => Ok(ReservationAnswer::Accepted),
        "rejected" => Ok(ReservationAnswer::Rejected),
        "wrapping" => Ok(ReservationAnswer::Wrapping),
        "completed" => Ok(ReservationAnswer::Completed),
        other => Err(ApiError::bad_param(format!(
            "status must be accepted, rejected, wrapping or completed, not {other:?}"
        ))),
    }
}

/// `{"type":"taskrouter_event", "event_type", "stream_sid", "seq", …, "task"?, "reservation"?,
/// "worker"?}`: the event and the resources it is about, in the REST API's shapes, as they
/// were right after it.
pub(crate) fn item_frame(state: &AppState, item: &FeedItem) -> Value {
    let event = &item.event;
    let mut frame = envelope(item);
    let Some(map) = frame.as_object_mut() else { return frame };
    match &item.subject {
        Subject::Task(task) => {
            let config = task.workspace_sid.and_then(|w| state.engine.workspaces().get(w));
            let rendered = wire::task(state, config.as_ref(), task, item.at);
            map.insert("task".into(), serde_json::to_value(rendered).unwrap_or_default());
            if let Some(found) = event.reservation_sid.and_then(|r| task.reservation(r)) {
                let rendered = wire::reservation(state, task, found);
                map.insert(
                    "reservation".into(),
                    serde_json::to_value(rendered).unwrap_or_default(),
                );
            }
        }
        Subject::Worker(worker) => {
            let rendered = wire::worker(state, worker);
            map.insert("worker".into(), serde_json::to_value(rendered).unwrap_or_default());
        }
    }
    frame
}

/// The frame of an item without the resources: what the event is, where it stands in its stream.
fn envelope(item: &FeedItem) -> Value {
    let event = &item.event;
    json!({
        "type": "taskrouter_event",
        "event_type": event.event_type,
        "stream_sid": item.stream_sid.to_string(),
        "seq": item.seq,
        "timestamp": crate::views::iso(item.at),
        "resource_type": event.resource_type.as_str(),
        "resource_sid": event.resource_sid.to_string(),
        "description": event.description,
        "worker_sid": event.worker_sid.map(|s| s.to_string()),
        "task_sid": event.task_sid.map(|s| s.to_string()),
        "reservation_sid": event.reservation_sid.map(|s| s.to_string()),
    })
}

/// An `error` frame in Twilio's error shape, with the action's `id` if it had one.
fn error_frame(error: &ApiError, id: Option<Value>) -> Value {
    let mut frame = serde_json::to_value(error.body()).unwrap_or_else(|_| json!({}));
    if let Some(map) = frame.as_object_mut() {
        map.insert("type".into(), "error".into());
        map.extend(id.map(|id| ("id".to_owned(), id)));
    }
    frame
}

fn ack_frame(name: &str, resource: Value, id: Option<Value>) -> Value {
    let mut frame = json!({"type": "ack"});
    if let Some(map) = frame.as_object_mut() {
        map.insert(name.to_owned(), resource);
        map.extend(id.map(|id| ("id".to_owned(), id)));
    }
    frame
}

fn no_worker() -> ApiError {
    ApiError::forbidden("the access token has no TaskRouter grant")
}

impl Connection {
    /// The worker's feed, for a worker's token: subscribed before anything is read from the
    /// log, so nothing falls between a catch-up and the live feed.
    pub(super) fn subscribe_worker(&self, peer: &Peer) -> Option<WorkerSubscription> {
        let grant = peer.worker.as_ref()?;
        Some(self.state.engine.task_router().feed().subscribe(grant.worker_sid))
    }

    /// Ends the worker's feed; if it was its last socket, sets it offline after the grace unless
    /// one opens meanwhile.
    pub(super) fn worker_left(&self, peer: &Peer, feed: Option<WorkerSubscription>) {
        let (Some(grant), Some(feed)) = (peer.worker.clone(), feed) else { return };
        let router = self.state.engine.task_router();
        let Some(opened) = router.feed().unsubscribe(&feed) else { return };
        let grace = self.config.worker_offline_grace;
        if grace.is_zero() {
            return;
        }
        let state = Arc::clone(&self.state);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(grace).await;
            let router = state.engine.task_router();
            if !router.feed().still_away(grant.worker_sid, opened) {
                return;
            }
            let at = state.engine.now();
            match router.set_offline(grant.workspace_sid, grant.worker_sid, at).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => {
                    tracing::warn!(worker = %grant.worker_sid, %refusal, "a worker that left could not be set offline")
                }
                Err(error) => {
                    tracing::error!(worker = %grant.worker_sid, %error, "a worker that left could not be set offline")
                }
            }
        });
    }

    /// What `ready` says of a worker's socket: the workspace, the worker as it is and the last
    /// `seq` of its own stream (what a `worker_resume` names to catch up on it).
    pub(super) fn describe_worker(&self, peer: &Peer, ready: &mut Value) {
        let Some(grant) = &peer.worker else { return };
        let router = self.state.engine.task_router();
        let Some(worker) = router.worker(grant.workspace_sid, grant.worker_sid) else { return };
        let Some(map) = ready.as_object_mut() else { return };
        map.insert("workspace_sid".into(), grant.workspace_sid.to_string().into());
        map.insert("worker_sid".into(), grant.worker_sid.to_string().into());
        map.insert("role".into(), grant.role.clone().into());
        let rendered = wire::worker(&self.state, &worker);
        map.insert("worker".into(), serde_json::to_value(rendered).unwrap_or_default());
        map.insert("worker_seq".into(), worker.events_applied.checked_sub(1).into());
    }

    /// Sends a live item unless this connection sent it already.
    pub(super) fn on_worker_item(&mut self, peer: &Peer, item: &FeedItem) {
        let mine = peer.worker.as_ref().map(|g| g.worker_sid);
        if item.event.worker_sid.is_none() || item.event.worker_sid != mine {
            return;
        }
        if self.worker_sent.insert((item.stream_sid, item.seq, item.event.event_type)) {
            self.send(item_frame(&self.state, item));
        }
    }

    /// Replays what the worker has not seen (see `TaskRouter::catch_up`), paced by the peer,
    /// then `{"type":"worker_resumed"}`.
    pub(super) async fn worker_resume(
        &mut self,
        peer: &Peer,
        after: &BTreeMap<String, u64>,
    ) -> bool {
        let Some(grant) = peer.worker.clone() else {
            return self.send(error_frame(&no_worker(), None));
        };
        let after: BTreeMap<Sid, u64> =
            after.iter().filter_map(|(sid, seq)| Some((sid.parse::<Sid>().ok()?, *seq))).collect();
        let router = self.state.engine.task_router();
        let Ok(items) = router.catch_up(grant.workspace_sid, grant.worker_sid, &after).await else {
            return self.send(error_frame(&ApiError::internal(), None));
        };
        for item in items {
            if !self.worker_sent.insert((item.stream_sid, item.seq, item.event.event_type)) {
                continue;
            }
            let text = item_frame(&self.state, &item).to_string();
            if !self.room_for(text.len()).await || !self.send_text(text) {
                return false;
            }
        }
        self.send(json!({"type": "worker_resumed"}))
    }

    /// `reservation_update`: the worker's answer to one of its reservations, through the same
    /// call as the REST API's reservation update (channel orchestration included).
    pub(super) async fn answer_reservation(
        &mut self,
        peer: &Peer,
        (task_sid, reservation_sid): (&str, &str),
        answer: Result<ReservationAnswer, ApiError>,
        id: Option<Value>,
    ) -> bool {
        let frame = match self.answered(peer, task_sid, reservation_sid, answer).await {
            Ok(reservation) => ack_frame("reservation", reservation, id),
            Err(error) => error_frame(&error, id),
        };
        self.send(frame)
    }

    async fn answered(
        &self,
        peer: &Peer,
        task_sid: &str,
        reservation_sid: &str,
        answer: Result<ReservationAnswer, ApiError>,
    ) -> Result<Value, ApiError> {
        let grant = peer.worker.as_ref().ok_or_else(no_worker)?;
        let answer = answer?;
        let path = format!(
            "/taskrouter/v1/Workspaces/{}/Workers/{}/Reservations/{reservation_sid}",
            grant.workspace_sid, grant.worker_sid
        );
        let not_found = || ApiError::not_found(&path);
        let task = Sid::parse_with(task_sid, SidPrefix::TASK).map_err(|_| not_found())?;
        let reservation =
            Sid::parse_with(reservation_sid, SidPrefix::RESERVATION).map_err(|_| not_found())?;
        // Another worker's reservation is, to this token, no reservation at all.
        let current = self.state.engine.task_router().task(grant.workspace_sid, task)?;
        let owned = current.as_ref().and_then(|t| t.reservation(reservation));
        if owned.is_none_or(|r| r.worker_sid != grant.worker_sid) {
            return Err(not_found());
        }
        let engine = &self.state.engine;
        let answered =
            engine.tasks().answer_reservation(grant.workspace_sid, task, reservation, answer);
        let after = answered.await?.map_err(|refusal| router_refusal(refusal, &path))?;
        let found = after.reservation(reservation).ok_or_else(ApiError::internal)?;
        Ok(serde_json::to_value(wire::reservation(&self.state, &after, found)).unwrap_or_default())
    }

    /// `worker_update`: sets the worker's activity, as the REST worker update does.
    pub(super) async fn set_activity(
        &mut self,
        peer: &Peer,
        activity_sid: &str,
        id: Option<Value>,
    ) -> bool {
        let frame = match self.activity_set(peer, activity_sid).await {
            Ok(worker) => ack_frame("worker", worker, id),
            Err(error) => error_frame(&error, id),
        };
        self.send(frame)
    }

    async fn activity_set(&self, peer: &Peer, activity_sid: &str) -> Result<Value, ApiError> {
        let grant = peer.worker.as_ref().ok_or_else(no_worker)?;
        let path = format!(
            "/taskrouter/v1/Workspaces/{}/Workers/{}",
            grant.workspace_sid, grant.worker_sid
        );
        let activity = Sid::parse_with(activity_sid, SidPrefix::ACTIVITY)
            .map_err(|_| ApiError::bad_param("activity_sid must be an activity SID (WA…)"))?;
        let changes = WorkerChanges { activity_sid: Some(activity), ..WorkerChanges::default() };
        let router = self.state.engine.task_router();
        let at = self.state.engine.now();
        let updated = router.update_worker(grant.workspace_sid, grant.worker_sid, changes, at);
        let worker = updated.await?.map_err(|refusal| router_refusal(refusal, &path))?;
        Ok(serde_json::to_value(wire::worker(&self.state, &worker)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
