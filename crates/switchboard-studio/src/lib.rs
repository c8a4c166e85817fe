//! Studio's domain, pure (no I/O, no clock): flow definitions in Studio's own JSON, their
//! validation, the Liquid templates and split conditions of widgets, and the execution stream
//! that runs a definition step by step. Time and HTTP answers come in with commands.
//!
//! The map, in the order a flow lives:
//! - [`Definition`] (`definition.rs`): Studio's JSON, kept whole so it round-trips.
//! - [`validate`] (`validate.rs`): every error named by state and property; a
//!   [`ValidDefinition`] is the compiled revision (templates parsed, literal regexes compiled)
//!   that every execution of that revision shares.
//! - [`Template`] (`template.rs`): Liquid over the execution's context, lenient like Studio's.
//! - [`ConditionType`] (`split.rs`): the conditions of `split-based-on`, with Studio's rules.
//! - [`StudioFlowState`] (`flow.rs`, stream `FW…`): a flow and all its revisions.
//! - [`ExecutionState`] (`execution.rs`, stream `FN…`) and its `decide` (`run.rs`): one run of
//!   a revision; what the world must do comes out as events (`MessageRequested`,
//!   `HttpRequested`, `FlexTaskRequested`), the world's answers come in as [`ExecutionInput`]s.

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
    HTTP_TIMEOUT_SECS, MAX_CONTEXT_BYTES_LIMIT, MAX_HTTP_RESPONSE_BYTES, MAX_STEPS_LIMIT,
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
