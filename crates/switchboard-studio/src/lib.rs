//! Studio's domain, pure (no I/O, no clock): flow definitions in Studio's own JSON, their
//! validation, the Liquid templates and split conditions of widgets, and the execution stream
//! that runs a definition step by step. Time and HTTP answers come in with commands.

mod definition;
mod execution;
mod flow;
mod run;
mod split;
mod template;
mod validate;

pub use definition::{
    Condition, Definition, DefinitionError, Flags, State, Transition, MAX_DEFINITION_BYTES,
};
pub use execution::{
    step_sid, ExecutionCommand, ExecutionEvent, ExecutionInput, ExecutionRejection, ExecutionState,
    ExecutionStatus, Limits, Waiting, DEFAULT_MAX_CONTEXT_BYTES, DEFAULT_MAX_STEPS,
    MAX_CONTEXT_BYTES_LIMIT, MAX_STEPS_LIMIT,
};
pub use flow::{
    FlowStatus, Revision, StudioFlowCommand, StudioFlowEvent, StudioFlowRejection, StudioFlowState,
    MAX_FLOW_TEXT,
};
pub use split::{compile_regex, ConditionType, MAX_REGEX_BYTES};
pub use template::{JsonView, Template, MAX_RENDERED_BYTES};
pub use validate::{
    validate, validate_json, Case, CompiledCondition, ContentType, FlexWidget, HttpMethod,
    HttpWidget, ValidDefinition, ValidationError, Widget, WidgetKind, DEFAULT_REPLY_TIMEOUT_SECS,
    MAX_REPLY_TIMEOUT_SECS, MAX_STATES, SUPPORTED_WIDGETS,
};
