//! Studio v2's resources as Twilio renders them (snake_case, ISO 8601 dates, absolute `url` and
//! `links`, definitions and contexts as JSON objects): the wire shapes, apart from the domain's
//! records, and how a record becomes one.

use serde::Serialize;
use serde_json::Value;
use switchboard_actors::StepView;
use switchboard_domain::Sid;
use switchboard_studio::{ExecutionState, ExecutionStatus, Revision, StudioFlowState};
use utoipa::ToSchema;

use crate::state::AppState;
use crate::views::iso;

/// A flow, as its newest revision leaves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flow {
    /// `FW…`
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    /// The newest revision's definition: Studio's JSON, as given.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// `draft` or `published`.
    pub status: String,
    /// The newest revision's number, from 1.
    pub revision: u32,
    pub commit_message: Option<String>,
    /// Always `true`: an invalid definition is refused, never kept.
    pub valid: bool,
    /// Always empty, as `valid` says.
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Value>,
    pub date_created: String,
    pub date_updated: String,
    /// `null`: no webhook starts a flow here; Flex Flows do (docs/api.md, "Studio").
    pub webhook_url: Option<String>,
    pub url: String,
    pub links: FlowLinks,
}

/// Where a flow's parts are listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowLinks {
    /// Not served yet: Studio's test users (docs/api.md, "Studio").
    pub test_users: String,
    pub revisions: String,
    pub executions: String,
}

/// One revision of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowRevision {
    /// The flow's SID (`FW…`).
    pub sid: String,
    pub account_sid: String,
    /// The flow's name when the revision was made.
    pub friendly_name: String,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub status: String,
    pub revision: u32,
    pub commit_message: Option<String>,
    pub valid: bool,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<Value>,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

/// The answer of `Flows/Validate` for a valid definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowValidate {
    pub valid: bool,
}

/// One execution of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Execution {
    /// `FN…`
    pub sid: String,
    pub account_sid: String,
    pub flow_sid: String,
    /// The customer's address (the trigger's `From`).
    pub contact_channel_address: String,
    /// `null`: contacts are not kept.
    pub contact_sid: Option<String>,
    /// The revision the execution runs.
    pub flow_version: u32,
    /// Studio's context: `trigger`, `widgets`, `flow`.
    #[schema(value_type = Object)]
    pub context: Value,
    /// `active` or `ended` (a failed execution has ended).
    pub status: String,
    pub date_created: String,
    pub date_updated: String,
    /// The message that started it (`trigger.message.MessageSid`), if it has one.
    pub initiated_by: Option<String>,
    pub url: String,
    pub links: ExecutionLinks,
}

/// Where an execution's parts are.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionLinks {
    pub steps: String,
    pub execution_context: String,
}

/// An execution's context.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionContext {
    pub account_sid: String,
    #[schema(value_type = Object)]
    pub context: Value,
    pub flow_sid: String,
    pub execution_sid: String,
    pub url: String,
}

/// One step of an execution: the transition into a widget.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionStep {
    /// `FT…`
    pub sid: String,
    pub account_sid: String,
    pub flow_sid: String,
    pub execution_sid: String,
    /// `null`: steps do not nest here.
    pub parent_step_sid: Option<String>,
    /// The event that led to the step (`incomingMessage`, `match`, `sent`, …).
    pub name: String,
    /// The widget's output as the step left it (`widgets.NAME`).
    #[schema(value_type = Object)]
    pub context: Value,
    pub transitioned_from: String,
    /// The widget the step entered.
    pub transitioned_to: String,
    /// The widget's type.
    #[serde(rename = "type")]
    pub widget_type: String,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: StepLinks,
}

/// Where a step's context is.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepLinks {
    pub step_context: String,
}

/// A step's context.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepContext {
    pub account_sid: String,
    #[schema(value_type = Object)]
    pub context: Value,
    pub execution_sid: String,
    pub flow_sid: String,
    pub step_sid: String,
    pub url: String,
}

crate::listing!(
    /// A page of flows.
    FlowList, flows, Flow
);
crate::listing!(
    /// A page of a flow's revisions, newest first.
    FlowRevisionList, revisions, FlowRevision
);
crate::listing!(
    /// A page of a flow's executions, newest first.
    ExecutionList, executions, Execution
);
crate::listing!(
    /// A page of an execution's steps, oldest first.
    ExecutionStepList, steps, ExecutionStep
);

/// The path of flow `sid`, under which its parts are.
pub fn flow_path(sid: Sid) -> String {
    format!("/studio/v2/Flows/{sid}")
}

/// The path of execution `execution` of flow `flow`.
pub fn execution_path(flow: Sid, execution: Sid) -> String {
    format!("{}/Executions/{execution}", flow_path(flow))
}

/// A stored definition as JSON (it was checked when it was committed).
fn definition_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn flow(state: &AppState, flow: &StudioFlowState) -> Option<Flow> {
    let sid = flow.sid.filter(|_| flow.is_live())?;
    let latest = flow.latest()?;
    let base = flow_path(sid);
    let link = |nouns: &str| state.url(&format!("{base}/{nouns}"));
    Some(Flow {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        friendly_name: flow.friendly_name.clone(),
        definition: definition_json(&latest.definition),
        status: latest.status.as_str().to_owned(),
        revision: latest.revision,
        commit_message: latest.commit_message.clone(),
        valid: true,
        errors: Vec::new(),
        warnings: Vec::new(),
        date_created: iso(flow.date_created),
        date_updated: iso(flow.date_updated),
        webhook_url: None,
        url: state.url(&base),
        links: FlowLinks {
            test_users: link("TestUsers"),
            revisions: link("Revisions"),
            executions: link("Executions"),
        },
    })
}

pub fn revision(state: &AppState, flow: Sid, revision: &Revision) -> FlowRevision {
    FlowRevision {
        sid: flow.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        friendly_name: revision.friendly_name.clone(),
        definition: definition_json(&revision.definition),
        status: revision.status.as_str().to_owned(),
        revision: revision.revision,
        commit_message: revision.commit_message.clone(),
        valid: true,
        errors: Vec::new(),
        date_created: iso(revision.date_created),
        date_updated: iso(revision.date_created),
        url: state.url(&format!("{}/Revisions/{}", flow_path(flow), revision.revision)),
    }
}

pub fn execution(state: &AppState, execution: &ExecutionState) -> Option<Execution> {
    let (sid, flow) = (execution.sid?, execution.flow_sid?);
    let context = execution.context();
    let text = |pointer: &str| context.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    let base = execution_path(flow, sid);
    let status = match execution.status {
        ExecutionStatus::Active => "active",
        ExecutionStatus::Ended | ExecutionStatus::Failed => "ended",
    };
    Some(Execution {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        flow_sid: flow.to_string(),
        contact_channel_address: text("/contact/channel/address").unwrap_or_default(),
        contact_sid: None,
        flow_version: execution.revision,
        initiated_by: text("/trigger/message/MessageSid"),
        context,
        status: status.to_owned(),
        date_created: iso(execution.date_created),
        date_updated: iso(execution.date_updated),
        url: state.url(&base),
        links: ExecutionLinks {
            steps: state.url(&format!("{base}/Steps")),
            execution_context: state.url(&format!("{base}/Context")),
        },
    })
}

pub fn execution_context(state: &AppState, execution: &ExecutionState) -> Option<ExecutionContext> {
    let (sid, flow) = (execution.sid?, execution.flow_sid?);
    Some(ExecutionContext {
        account_sid: state.credentials.account_sid.to_string(),
        context: execution.context(),
        flow_sid: flow.to_string(),
        execution_sid: sid.to_string(),
        url: state.url(&format!("{}/Context", execution_path(flow, sid))),
    })
}

pub fn step(state: &AppState, flow: Sid, execution: Sid, step: &StepView) -> ExecutionStep {
    let base = format!("{}/Steps/{}", execution_path(flow, execution), step.sid);
    ExecutionStep {
        sid: step.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        flow_sid: flow.to_string(),
        execution_sid: execution.to_string(),
        parent_step_sid: None,
        name: step.event.clone(),
        context: step.context.clone(),
        transitioned_from: step.transitioned_from.clone(),
        transitioned_to: step.widget.clone(),
        widget_type: step.widget_type.clone(),
        date_created: iso(step.date_created),
        date_updated: iso(step.date_updated),
        url: state.url(&base),
        links: StepLinks { step_context: state.url(&format!("{base}/Context")) },
    }
}

pub fn step_context(state: &AppState, flow: Sid, execution: Sid, step: &StepView) -> StepContext {
    StepContext {
        account_sid: state.credentials.account_sid.to_string(),
        context: step.context.clone(),
        execution_sid: execution.to_string(),
        flow_sid: flow.to_string(),
        step_sid: step.sid.to_string(),
        url: state.url(&format!("{}/Steps/{}/Context", execution_path(flow, execution), step.sid)),
    }
}
