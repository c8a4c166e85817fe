//! Flex v1 FlexFlows: create (201), fetch, list, update by POST (partial), delete (204).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_domain::{
    ChannelType, FlowConfig, FlowRejection, Integration, IntegrationType, Sid, SidPrefix,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths::{self, Limit};
use crate::twilio::typed_form::{sid_field, text_field, Form};
use crate::views::{self, FlexFlow, FlexFlowList};

const SERVICE: SidPrefix = SidPrefix::SERVICE;
const STUDIO_FLOW: SidPrefix = SidPrefix::STUDIO_FLOW;
const WORKSPACE: SidPrefix = SidPrefix::WORKSPACE;
const WORKFLOW: SidPrefix = SidPrefix::WORKFLOW;

/// The length limits a flow's create and update are held to.
const FLOW_LENGTHS: &[Limit] = &[
    lengths::FLOW_NAME,
    lengths::CONTACT_IDENTITY,
    lengths::INTEGRATION_URL,
    lengths::INTEGRATION_CHANNEL,
];

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(fetch).service(update).service(delete);
}

/// The form of a Flex Flow create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct CreateFlexFlowForm {
    friendly_name: String,
    /// The Chat Service (`IS…`) the flow's channels are made in.
    chat_service_sid: String,
    /// `web`, `sms`, `facebook`, `whatsapp`, `line` or `custom`.
    channel_type: String,
    /// The number (`+1…`, `whatsapp:+1…`), WhatsApp `phone_number_id` or Page id it answers for.
    contact_identity: Option<String>,
    /// `studio` (Twilio's default: the Studio flow `Integration.FlowSid` runs on each
    /// channel's first message), `task` or `external`.
    integration_type: Option<String>,
    /// Default `false`.
    enabled: Option<bool>,
    /// Default `false`.
    long_lived: Option<bool>,
    /// Default `true`.
    janitor_enabled: Option<bool>,
    #[serde(flatten)]
    integration: IntegrationForm,
}

/// The form of a Flex Flow update: what it names changes, the rest stays. A new
/// `IntegrationType` starts from an empty integration.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct UpdateFlexFlowForm {
    friendly_name: Option<String>,
    chat_service_sid: Option<String>,
    channel_type: Option<String>,
    /// Empty clears it.
    contact_identity: Option<String>,
    integration_type: Option<String>,
    enabled: Option<bool>,
    long_lived: Option<bool>,
    janitor_enabled: Option<bool>,
    #[serde(flatten)]
    integration: IntegrationForm,
}

/// A flow's `Integration.*` settings, in a create or an update. serde hands a flattened part its
/// values as text, so the numbers and flags are read by `integration` (`text_field`).
#[derive(Deserialize, ToSchema)]
struct IntegrationForm {
    #[serde(rename = "Integration.FlowSid")]
    #[schema(rename = "Integration.FlowSid")]
    flow_sid: Option<String>,
    /// `external`: where each customer message is posted. Empty clears it.
    #[serde(rename = "Integration.Url")]
    #[schema(rename = "Integration.Url")]
    url: Option<String>,
    #[serde(rename = "Integration.WorkspaceSid")]
    #[schema(rename = "Integration.WorkspaceSid")]
    workspace_sid: Option<String>,
    #[serde(rename = "Integration.WorkflowSid")]
    #[schema(rename = "Integration.WorkflowSid")]
    workflow_sid: Option<String>,
    #[serde(rename = "Integration.Channel")]
    #[schema(rename = "Integration.Channel")]
    channel: Option<String>,
    /// Seconds.
    #[serde(rename = "Integration.Timeout")]
    #[schema(rename = "Integration.Timeout", value_type = Option<u64>)]
    timeout: Option<String>,
    #[serde(rename = "Integration.Priority")]
    #[schema(rename = "Integration.Priority", value_type = Option<i64>)]
    priority: Option<String>,
    #[serde(rename = "Integration.CreationOnMessage")]
    #[schema(rename = "Integration.CreationOnMessage", value_type = Option<bool>)]
    creation_on_message: Option<String>,
    /// From 0 to 3.
    #[serde(rename = "Integration.RetryCount")]
    #[schema(rename = "Integration.RetryCount", value_type = Option<u8>, maximum = 3)]
    retry_count: Option<String>,
}

/// Creates a Flex Flow. A second enabled flow for the same channel type and contact identity
/// is refused (409).
#[utoipa::path(
    tag = "Flex",
    operation_id = "CreateFlexFlow",
    request_body(content = CreateFlexFlowForm, content_type = FORM),
    responses((status = 201, description = "The new Flex Flow", body = FlexFlow)),
)]
#[post("/flex/v1/FlexFlows")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    form: Form<CreateFlexFlowForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, FLOW_LENGTHS)?;
    let chat_service_sid = sid_field("ChatServiceSid", Some(&form.chat_service_sid), SERVICE)?
        .ok_or_else(|| ApiError::bad_param("ChatServiceSid is empty"))?;
    require_service(&state, chat_service_sid)?;
    let integration_type = form
        .integration_type
        .as_deref()
        .map(integration_type)
        .transpose()?
        .unwrap_or(IntegrationType::Studio);
    let config = FlowConfig {
        friendly_name: form.friendly_name.clone(),
        chat_service_sid,
        channel_type: channel_type(&form.channel_type)?,
        contact_identity: form.contact_identity.as_deref().map(contact_identity),
        enabled: form.enabled.unwrap_or(false),
        integration_type,
        integration: integration(&form.integration, Integration::default())?,
        long_lived: form.long_lived.unwrap_or(false),
        janitor_enabled: form.janitor_enabled.unwrap_or(true),
    };
    studio_flow_exists(&state, &config).map_err(rejection)?;
    let created = state.engine.flows().create(config, state.engine.now()).await?;
    let flow = created.map_err(rejection)?;
    Ok(HttpResponse::Created().json(views::flow(&state, &flow)))
}

/// Fetches a Flex Flow.
#[utoipa::path(
    tag = "Flex",
    operation_id = "FetchFlexFlow",
    params(("sid" = String, Path, description = "The Flex Flow (`FO…`)")),
    responses((status = 200, description = "The Flex Flow", body = FlexFlow)),
)]
#[get("/flex/v1/FlexFlows/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = flow_sid(&request)?;
    let flow = state.engine.flows().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::flow(&state, &flow)))
}

/// Lists the Flex Flows.
#[utoipa::path(
    tag = "Flex",
    operation_id = "ListFlexFlow",
    params(
        ("FriendlyName" = Option<String>, Query, description = "Only the flows of this name"),
        PageParams,
    ),
    responses((status = 200, description = "A page of Flex Flows", body = FlexFlowList)),
)]
#[get("/flex/v1/FlexFlows")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let wanted_name = paging.filter("FriendlyName").map(str::to_owned);
    let flows: Vec<_> = state
        .engine
        .flows()
        .list()
        .into_iter()
        .filter(|f| wanted_name.as_deref().is_none_or(|n| f.config.friendly_name == n))
        .map(|f| views::flow(&state, &f))
        .collect();
    list_response::<FlexFlowList>(&state, &request, &paging, flows)
}

/// Updates a Flex Flow (partial).
#[utoipa::path(
    tag = "Flex",
    operation_id = "UpdateFlexFlow",
    params(("sid" = String, Path, description = "The Flex Flow (`FO…`)")),
    request_body(content = UpdateFlexFlowForm, content_type = FORM),
    responses((status = 200, description = "The Flex Flow", body = FlexFlow)),
)]
#[post("/flex/v1/FlexFlows/{sid}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateFlexFlowForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, FLOW_LENGTHS)?;
    let sid = flow_sid(&request)?;
    if let Some(service) = sid_field("ChatServiceSid", form.chat_service_sid.as_deref(), SERVICE)? {
        require_service(&state, service)?;
    }
    let merge = |current: FlowConfig| {
        let merged = merge(current, &form)?;
        studio_flow_exists(&state, &merged)?;
        Ok(merged)
    };
    let updated = state.engine.flows().update(sid, state.engine.now(), merge).await?;
    match updated {
        Ok(flow) => Ok(HttpResponse::Ok().json(views::flow(&state, &flow))),
        Err(FlowRejection::NotFound) => Err(ApiError::not_found(request.path())),
        Err(other) => Err(rejection(other)),
    }
}

/// Deletes a Flex Flow.
#[utoipa::path(
    tag = "Flex",
    operation_id = "DeleteFlexFlow",
    params(("sid" = String, Path, description = "The Flex Flow (`FO…`)")),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/flex/v1/FlexFlows/{sid}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = flow_sid(&request)?;
    match state.engine.flows().delete(sid, state.engine.now()).await? {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(FlowRejection::NotFound) => Err(ApiError::not_found(request.path())),
        Err(other) => Err(rejection(other)),
    }
}

/// Twilio's update is partial: only the parameters given change. A new IntegrationType starts
/// from an empty integration, so settings of the old type do not linger.
fn merge(mut config: FlowConfig, form: &UpdateFlexFlowForm) -> Result<FlowConfig, FlowRejection> {
    let invalid = |e: ApiError| FlowRejection::Invalid(e.message().to_owned());
    if let Some(name) = &form.friendly_name {
        config.friendly_name = name.clone();
    }
    let service = sid_field("ChatServiceSid", form.chat_service_sid.as_deref(), SERVICE);
    if let Some(service) = service.map_err(invalid)? {
        config.chat_service_sid = service;
    }
    if let Some(text) = &form.channel_type {
        config.channel_type = channel_type(text).map_err(invalid)?;
    }
    if let Some(identity) = &form.contact_identity {
        config.contact_identity = Some(contact_identity(identity)).filter(|i| !i.is_empty());
    }
    if let Some(enabled) = form.enabled {
        config.enabled = enabled;
    }
    let mut base = config.integration.clone();
    if let Some(text) = &form.integration_type {
        let new_type = integration_type(text).map_err(invalid)?;
        if new_type != config.integration_type {
            base = Integration::default();
        }
        config.integration_type = new_type;
    }
    config.integration = integration(&form.integration, base).map_err(invalid)?;
    if let Some(long_lived) = form.long_lived {
        config.long_lived = long_lived;
    }
    if let Some(janitor) = form.janitor_enabled {
        config.janitor_enabled = janitor;
    }
    Ok(config)
}

/// A `studio` flow's `Integration.FlowSid` must name a Studio flow that exists (it runs the
/// newest published revision when a channel's first message comes).
fn studio_flow_exists(state: &AppState, config: &FlowConfig) -> Result<(), FlowRejection> {
    let flow_sid =
        config.integration.flow_sid.filter(|_| config.integration_type == IntegrationType::Studio);
    match flow_sid {
        Some(sid) if state.engine.studio_flows().get(sid).is_none() => {
            Err(FlowRejection::Invalid(format!("Integration.FlowSid {sid} is not a Studio flow")))
        }
        _ => Ok(()),
    }
}

fn integration(form: &IntegrationForm, mut base: Integration) -> Result<Integration, ApiError> {
    let flow_sid = sid_field("Integration.FlowSid", form.flow_sid.as_deref(), STUDIO_FLOW)?;
    if let Some(sid) = flow_sid {
        base.flow_sid = Some(sid);
    }
    // Checked whatever the integration type: a flow switched to `external` later must not
    // find a URL nothing checked. Empty clears it.
    if let Some(text) = &form.url {
        base.url = crate::chat::service_webhooks::url(text, 20001, "Integration.Url")?;
    }
    let workspace = sid_field("Integration.WorkspaceSid", form.workspace_sid.as_deref(), WORKSPACE);
    if let Some(sid) = workspace? {
        base.workspace_sid = Some(sid);
    }
    let workflow = sid_field("Integration.WorkflowSid", form.workflow_sid.as_deref(), WORKFLOW);
    if let Some(sid) = workflow? {
        base.workflow_sid = Some(sid);
    }
    if let Some(channel) = &form.channel {
        base.channel = Some(channel.clone());
    }
    if let Some(timeout) = text_field("Integration.Timeout", form.timeout.as_deref())? {
        base.timeout_secs = Some(timeout);
    }
    if let Some(priority) = text_field("Integration.Priority", form.priority.as_deref())? {
        base.priority = Some(priority);
    }
    let on_message = form.creation_on_message.as_deref();
    if let Some(on_message) = text_field("Integration.CreationOnMessage", on_message)? {
        base.creation_on_message = Some(on_message);
    }
    if let Some(count) = text_field::<u64>("Integration.RetryCount", form.retry_count.as_deref())? {
        let count = u8::try_from(count)
            .ok()
            .filter(|c| *c <= 3)
            .ok_or_else(|| ApiError::bad_param("Integration.RetryCount must be between 0 and 3"))?;
        base.retry_count = Some(count);
    }
    Ok(base)
}

/// The contact identity as given, without the whitespace around it (a number pasted with a
/// newline is still that number). What is left must be an address of the flow's channel type
/// (`switchboard_domain::validate`): a `+` sent unencoded arrives as a space, and is refused.
fn contact_identity(given: &str) -> String {
    given.trim().to_owned()
}

fn channel_type(text: &str) -> Result<ChannelType, ApiError> {
    ChannelType::parse(text).ok_or_else(|| {
        ApiError::bad_param(format!(
            "ChannelType must be one of web, sms, facebook, whatsapp, line, custom; not {text:?}"
        ))
    })
}

fn integration_type(text: &str) -> Result<IntegrationType, ApiError> {
    IntegrationType::parse(text).ok_or_else(|| {
        ApiError::bad_param(format!(
            "IntegrationType must be studio, external or task; not {text:?}"
        ))
    })
}

fn flow_sid(request: &HttpRequest) -> Result<Sid, ApiError> {
    let text = request.match_info().get("sid").unwrap_or_default();
    Sid::parse_with(text, SidPrefix::FLEX_FLOW).map_err(|_| ApiError::not_found(request.path()))
}

fn require_service(state: &AppState, sid: Sid) -> Result<(), ApiError> {
    match state.engine.services().get(sid) {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_param(format!(
            "ChatServiceSid {sid} is not a Chat Service of this account"
        ))),
    }
}

pub(crate) fn rejection(rejection: FlowRejection) -> ApiError {
    match rejection {
        FlowRejection::NotFound => {
            ApiError::new(404, 20404, "The requested Flex Flow was not found")
        }
        FlowRejection::Invalid(message) => ApiError::bad_param(message),
        FlowRejection::Unsupported(message) => ApiError::unsupported(message),
        conflict @ FlowRejection::Conflict { .. } => {
            ApiError::conflict(20001, conflict.to_string())
        }
    }
}
