//! Studio's domain, pure (no I/O, no clock): flow definitions in Studio's own JSON, their
//! validation, the Liquid templates and split conditions of widgets, and the execution stream
//! that runs a definition step by step. Time and HTTP answers come in with commands.

mod definition;
mod template;

pub use definition::{
    Condition, Definition, DefinitionError, Flags, State, Transition, MAX_DEFINITION_BYTES,
};
pub use template::{JsonView, Template, MAX_RENDERED_BYTES};
