//! Studio v2 under `/studio/v2`, in Twilio's shapes: flows with their revisions and
//! `Flows/Validate`, and their executions with steps and contexts. One file per noun; what they
//! share (the flow or execution in the path, the form of a definition, Twilio's errors for a
//! definition that fails validation) is here.

mod executions;
mod flows;
mod revisions;
mod steps;
mod wire;

use actix_web::{web, HttpRequest};
use serde_json::{json, Value};
use switchboard_domain::{Sid, SidPrefix};
use switchboard_studio::{
    ExecutionState, FlowStatus, StudioFlowRejection, StudioFlowState, ValidationError,
    MAX_DEFINITION_BYTES,
};

use crate::route_shapes::Routes;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::{read_form, TwilioForm, FORM_LIMIT_BYTES};

/// Every Studio v2 route, a group per resource (`crate::route_shapes`). `Flows/Validate` and
/// `Flows/{flow}`, which its path would match too, are in one group, `flows`.
pub(crate) const GROUPS: &[Routes] =
    &[flows::routes, revisions::routes, executions::routes, steps::routes];

/// The largest form that carries a definition: any definition the domain takes (1 MiB),
/// however it is percent-encoded (3 bytes a byte at worst), beside the other parameters.
/// Larger than the 64 KiB of other forms: exported flows of a few hundred widgets pass 64 KiB.
pub const DEFINITION_FORM_LIMIT: usize = 3 * MAX_DEFINITION_BYTES + FORM_LIMIT_BYTES;

/// Twilio's code for a definition that fails validation ("Flow definition validation failed":
/// the errors are in the error's `details`).
pub const INVALID_DEFINITION: u32 = 81022;

/// Reads the form of a create, update or validate, which may carry a large definition.
async fn definition_form(
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<TwilioForm, ApiError> {
    read_form(request, payload, DEFINITION_FORM_LIMIT).await
}

/// `Status`, which must be `draft` or `published`.
fn status_of(text: &str) -> Result<FlowStatus, ApiError> {
    FlowStatus::parse(text).ok_or_else(|| {
        ApiError::bad_param(format!("Status must be draft or published, not {text:?}"))
    })
}

/// The SID in the path segment `name`, of the kind `prefix` names; anything else is not found.
fn path_sid(request: &HttpRequest, name: &str, prefix: SidPrefix) -> Result<Sid, ApiError> {
    let text = request.match_info().get(name).unwrap_or_default();
    Sid::parse_with(text, prefix).map_err(|_| ApiError::not_found(request.path()))
}

/// The live flow the path names.
fn flow_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, StudioFlowState), ApiError> {
    let sid = path_sid(request, "flow", SidPrefix::STUDIO_FLOW)?;
    let flow =
        state.engine.studio_flows().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok((sid, flow))
}

/// The execution the path names, of the live flow the path names.
fn execution_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, Sid, ExecutionState), ApiError> {
    let (flow, _) = flow_in_path(state, request)?;
    let sid = path_sid(request, "execution", SidPrefix::STUDIO_EXECUTION)?;
    let execution = state
        .engine
        .studio_flows()
        .execution(sid)?
        .filter(|e| e.flow_sid == Some(flow))
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok((flow, sid, execution))
}

/// A refusal of the domain in Twilio's words and codes.
fn refusal(rejection: StudioFlowRejection, path: &str, definition: Option<&str>) -> ApiError {
    match rejection {
        StudioFlowRejection::NotFound => ApiError::not_found(path),
        StudioFlowRejection::Invalid(message) => ApiError::bad_param(message),
        StudioFlowRejection::InvalidDefinition(errors) => {
            invalid_definition(&errors, definition.unwrap_or_default())
        }
    }
}

/// A definition that fails validation: 400 with Twilio's code, a message naming the first
/// error's state and property, and every error in `details`, as Studio lists them
/// (`{"errors": [{"message", "property_path"}], "warnings": []}`).
fn invalid_definition(errors: &[ValidationError], definition: &str) -> ApiError {
    let parsed: Value = serde_json::from_str(definition).unwrap_or(Value::Null);
    let listed: Vec<Value> = errors
        .iter()
        .map(|e| json!({"message": e.to_string(), "property_path": property_path(&parsed, e)}))
        .collect();
    let first = errors.first().map(ToString::to_string).unwrap_or_default();
    let more = match errors.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more in details.errors)", n - 1),
    };
    ApiError::new(400, INVALID_DEFINITION, format!("Invalid Flow definition: {first}{more}"))
        .with_details(json!({"errors": listed, "warnings": []}))
}

/// Where an error is in the definition, as a JSON pointer in Studio's form
/// (`#/states/2/properties/body`, `#/states/1/transitions/0/next`); `#` for the whole.
fn property_path(definition: &Value, error: &ValidationError) -> String {
    let Some(state) = &error.state else { return "#".to_owned() };
    let index = definition["states"]
        .as_array()
        .and_then(|states| states.iter().position(|s| s["name"] == state.as_str()));
    let Some(index) = index else { return "#/states".to_owned() };
    let Some(property) = &error.property else { return format!("#/states/{index}") };
    let pointer = property.replace("].", "/").replace(['[', '.'], "/").replace(']', "");
    if pointer.starts_with("transitions/") {
        format!("#/states/{index}/{pointer}")
    } else {
        format!("#/states/{index}/properties/{pointer}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(state: Option<&str>, property: Option<&str>) -> ValidationError {
        ValidationError {
            state: state.map(str::to_owned),
            property: property.map(str::to_owned),
            message: "is required".into(),
        }
    }

    #[test]
    fn property_paths_point_into_the_definition_as_studio_s_do() {
        let definition = json!({"states": [{"name": "Trigger"}, {"name": "ask"}]});
        let path = |state, property| property_path(&definition, &error(state, property));
        assert_eq!(path(Some("ask"), Some("body")), "#/states/1/properties/body");
        assert_eq!(
            path(Some("ask"), Some("variables[1].value")),
            "#/states/1/properties/variables/1/value"
        );
        assert_eq!(
            path(Some("ask"), Some("transitions[0].conditions[2].value")),
            "#/states/1/transitions/0/conditions/2/value"
        );
        assert_eq!(path(Some("Trigger"), None), "#/states/0");
        assert_eq!(path(None, None), "#");
        assert_eq!(path(Some("gone"), Some("body")), "#/states");
    }

    #[test]
    fn an_invalid_definition_names_its_first_error_and_lists_them_all() {
        let definition = r#"{"states": [{"name": "Trigger"}, {"name": "ask"}]}"#;
        let errors = [error(Some("ask"), Some("body")), error(None, None)];
        let refused = invalid_definition(&errors, definition);
        assert_eq!((refused.status(), refused.code()), (400, INVALID_DEFINITION));
        assert_eq!(
            refused.message(),
            "Invalid Flow definition: state 'ask': property 'body': is required (and 1 more in \
             details.errors)"
        );
        let details = refused.body().details.unwrap();
        assert_eq!(details["errors"][0]["property_path"], "#/states/1/properties/body");
        assert_eq!(details["errors"][1]["message"], "is required");
        assert_eq!(details["warnings"], json!([]));
    }
}
