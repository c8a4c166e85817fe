//! The operator's API: a channel's decrypted events as JSON lines (audit on a live daemon, what
//! `switchboard replay --url` reads), signed heads to anchor off the machine, online backups
//! (what `switchboard backup --url` reads), the open tasks of the built-in task router, and the
//! replies the sandbox delivered (a daemon without upstream provider credentials).

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::SandboxDelivery;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_store::AnchoredHeads;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::event_line;
use crate::auth::Principal;
use crate::lists::{list_response, page_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::views::{self, OpenChannelTaskList};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(channel_events)
        .service(heads)
        .service(backup)
        .service(open_tasks)
        .service(sandbox_messages);
}

/// What only the account's own credentials (not an API key) may do.
fn account_only(principal: &Principal, what: &str) -> Result<(), ApiError> {
    if *principal != Principal::Account {
        return Err(ApiError::forbidden(format!("{what} needs the account's own credentials")));
    }
    Ok(())
}

/// A stream's head as anchored (`switchboard-heads/1`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnchoredHeadView {
    /// Records the stream held.
    pub records: u64,
    /// Hex SHA-256 of its last record's stored bytes.
    pub last_hash: String,
}

/// How far the log was acknowledged: it holds at least this much.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionView {
    /// The number of the head checkpoint (one per flush, over the folder's life).
    pub checkpoint: u64,
    /// Records in the whole log.
    pub records: u64,
}

/// Every stream's durable head, signed (`switchboard-heads/1`, docs/event-format.md): ship it to
/// write-once storage; `switchboard verify --against FILE` later proves the log still holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeadsView {
    #[schema(example = "switchboard-heads/1")]
    pub format: String,
    /// The folder's id (hex).
    pub folder_id: String,
    /// When the heads were taken (RFC 3339).
    pub taken_at: String,
    pub position: PositionView,
    /// Every stream's head, by SID.
    pub heads: BTreeMap<String, AnchoredHeadView>,
    /// Hex SHA-256 of the canonical form of the fields above.
    pub digest: String,
    /// Hex Ed25519 public key (derived from the master key) that checks the signature.
    pub public_key: String,
    /// Hex Ed25519 signature of the digest.
    pub signature: String,
}

impl From<AnchoredHeads> for HeadsView {
    fn from(anchored: AnchoredHeads) -> HeadsView {
        HeadsView {
            format: anchored.format,
            folder_id: anchored.folder_id,
            taken_at: anchored.taken_at,
            position: PositionView {
                checkpoint: anchored.position.checkpoint,
                records: anchored.position.records,
            },
            heads: anchored
                .heads
                .into_iter()
                .map(|(sid, head)| {
                    let head =
                        AnchoredHeadView { records: head.records, last_hash: head.last_hash };
                    (sid, head)
                })
                .collect(),
            digest: anchored.digest,
            public_key: anchored.public_key,
            signature: anchored.signature,
        }
    }
}

/// Signs every stream's durable head and the log's position, for anchoring off the machine.
#[utoipa::path(
    tag = "Operations",
    operation_id = "FetchHeads",
    responses((status = 200, description = "The signed heads", body = HeadsView)),
)]
#[get("/admin/v1/Heads")]
async fn heads(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<HeadsView>, ApiError> {
    account_only(&principal, "Signing the log's heads")?;
    let anchored = state.engine.audit().anchor_heads().await?;
    Ok(web::Json(anchored.into()))
}

/// Streams a consistent copy of the whole log while the daemon keeps serving.
#[utoipa::path(
    tag = "Operations",
    operation_id = "FetchBackup",
    responses((
        status = 200,
        description = "The backup stream (`switchboard-backup/1`, docs/event-format.md): \
            `switchboard backup --url` writes it into a data folder and checks it. Sealed as the \
            log is: it holds no key and no plaintext. A stream that breaks off is incomplete.",
        body = Vec<u8>,
        content_type = "application/octet-stream",
    )),
)]
#[get("/admin/v1/Backup")]
async fn backup(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    account_only(&principal, "Taking a backup")?;
    let chunks = state.engine.audit().backup();
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        let item = chunks.recv().await?;
        let item = item.map(web::Bytes::from).map_err(actix_web::error::ErrorInternalServerError);
        Some((item, chunks))
    });
    Ok(HttpResponse::Ok().content_type("application/octet-stream").streaming(body))
}

/// Only the account's own credentials (not an API key) may read decrypted history. A range of
/// the channel's events at a time: `From` (a sequence number, default 0) and `Limit` (1 to
/// 10 000, the default); when more follow, the `Switchboard-Next-From` header says where.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListChannelEvent",
    params(
        ("sid" = String, Path, description = "The channel (`CH…`)"),
        ("From" = Option<u64>, Query, description = "The first sequence number (default 0)"),
        ("Limit" = Option<u64>, Query, description = "Events at most, 1 to 10 000 (the default)"),
    ),
    responses((
        status = 200,
        description = "One JSON object a line: `channel_sid`, `seq`, `timestamp`, `type`, \
            `schema`, `fields` (or `type: shredded`); header `Switchboard-Next-From` when more \
            events follow",
        body = String,
        content_type = "application/x-ndjson",
    )),
)]
#[get("/admin/v1/Channels/{sid}/Events")]
async fn channel_events(
    principal: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    account_only(&principal, "Reading the audit trail")?;
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::CHANNEL)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let query = crate::twilio::form::TwilioForm::parse_query(request.query_string());
    let from = query.get_u64("From")?.unwrap_or(0);
    let limit = query.get_u64("Limit")?.unwrap_or(EVENTS_PER_PAGE);
    if !(1..=EVENTS_PER_PAGE).contains(&limit) {
        return Err(ApiError::bad_param(format!(
            "Limit must be a number from 1 to {EVENTS_PER_PAGE}"
        )));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // A range costs that range: one record past it says whether more follow.
    let events = state.engine.audit().channel_events(sid, from, limit + 1)?;
    let events = events.ok_or_else(|| ApiError::not_found(request.path()))?;
    let mut body = String::new();
    let mut next = None;
    for (n, item) in events.into_iter().enumerate() {
        if n == limit {
            next = Some(item.seq());
            break;
        }
        body.push_str(&event_line(&item).to_string());
        body.push('\n');
    }
    let mut response = HttpResponse::Ok();
    response.content_type("application/x-ndjson");
    if let Some(next) = next {
        response.insert_header((NEXT_FROM_HEADER, next.to_string()));
    }
    Ok(response.body(body))
}

/// The most events one answer of the audit endpoint holds.
const EVENTS_PER_PAGE: u64 = 10_000;
/// Where the next range of the audit endpoint starts, when more follow (`From=` it).
pub const NEXT_FROM_HEADER: &str = "Switchboard-Next-From";

/// Lists the open tasks of the built-in task router.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListOpenChannelTask",
    params(PageParams),
    responses((status = 200, description = "A page of open tasks", body = OpenChannelTaskList)),
)]
#[get("/admin/v1/Tasks")]
async fn open_tasks(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let tasks = state.engine.tasks().open().await?;
    // Only the page's tasks are read from their channels (the janitor holds what orders the
    // list); a task its channel ended meanwhile is left out of the page.
    let range = paging.range(tasks.len());
    let has_more = tasks.len() > range.end;
    let mut page = Vec::with_capacity(range.len());
    for task in &tasks[range] {
        if let Some(linked) = state.engine.tasks().linked(task).await? {
            page.push(views::task(&state, task, &linked));
        }
    }
    page_response::<OpenChannelTaskList>(&state, &request, &paging, page, has_more)
}

/// A reply the sandbox delivered in place of a provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxMessage {
    /// The id recorded as the provider's (`SB…`).
    pub sid: String,
    pub account_sid: String,
    pub channel_sid: String,
    /// The message's index in its channel.
    pub message_index: u64,
    /// The provider that would have carried it.
    pub provider: String,
    /// Our side as the provider names it: a number, a `phone_number_id`, a Page id.
    pub from: String,
    /// The customer.
    pub to: String,
    pub body: String,
    pub media_content_type: Option<String>,
    /// Always `delivered`, by the sandbox.
    pub status: String,
    pub date_delivered: String,
    /// The message in the Chat API.
    pub message_url: String,
}

crate::listing!(
    /// A page of the replies the sandbox delivered, oldest first.
    SandboxMessageList, messages, SandboxMessage
);

/// Lists the replies the sandbox delivered, oldest first (the newest thousand since the start).
/// 404 when the daemon has upstream provider credentials: then replies go to the providers.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListSandboxMessage",
    params(PageParams),
    responses((status = 200, description = "A page of sandbox deliveries", body = SandboxMessageList)),
)]
#[get("/admin/v1/Sandbox/Messages")]
async fn sandbox_messages(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sandbox = state.engine.operations().sandbox().ok_or_else(|| {
        ApiError::new(
            404,
            20404,
            "The sandbox is off: upstream provider credentials are configured, and replies go \
             to the providers",
        )
    })?;
    let paging = Paging::from_request(&request, 1000)?;
    let items = sandbox.deliveries().iter().map(|d| sandbox_message(&state, d)).collect();
    list_response::<SandboxMessageList>(&state, &request, &paging, items)
}

fn sandbox_message(state: &AppState, delivery: &SandboxDelivery) -> SandboxMessage {
    let channel = delivery.channel_sid;
    let message = format!(
        "/chat/v2/Services/{}/Channels/{channel}/Messages/{}",
        delivery.service_sid, delivery.message_sid
    );
    SandboxMessage {
        sid: delivery.sid.clone(),
        account_sid: state.credentials.account_sid.to_string(),
        channel_sid: channel.to_string(),
        message_index: delivery.index,
        provider: delivery.provider.to_owned(),
        from: delivery.from.clone(),
        to: delivery.to.clone(),
        body: delivery.body.clone(),
        media_content_type: delivery.media_content_type.clone(),
        status: "delivered".to_owned(),
        date_delivered: views::iso(delivery.delivered_at),
        message_url: state.url(&message),
    }
}
