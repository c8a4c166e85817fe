//! What the admin view of the console needs beside the REST routes (which it calls itself, with
//! the admin's session standing for the account: `auth`): checking a TaskRouter expression or a
//! workflow's configuration as it is typed, with the parsers TaskRouter itself uses, and the
//! log's integrity check. Admins only.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_domain::ConsoleAction;
use switchboard_routing::expression::Expression;
use switchboard_routing::workflow::WorkflowConfiguration;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::agent::no_store;
use super::session::SignedIn;
use super::sign_in::body;
use crate::state::AppState;
use crate::twilio::error::ApiError;

/// The longest text one check reads (a workflow's configuration is capped alike by the API).
const MAX_TEXT: usize = 64 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(check_expression).service(integrity);
}

/// What to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ExpressionForm {
    /// `expression` (a queue's `TargetWorkers`, a filter's or a target's `expression`) or
    /// `workflow` (a workflow's `Configuration`, JSON).
    pub kind: String,
    pub text: String,
}

/// Whether it parses, and if not where and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpressionCheck {
    pub valid: bool,
    /// The parser's own account of the fault.
    pub message: Option<String>,
}

/// The fault in `text` as TaskRouter's parsers see it, if any.
fn fault(kind: &str, text: &str) -> Result<Option<String>, ApiError> {
    Ok(match kind {
        "expression" => Expression::parse(text).err().map(|e| e.to_string()),
        "workflow" => WorkflowConfiguration::parse(text).err().map(|e| e.to_string()),
        other => {
            return Err(ApiError::bad_param(format!(
                "Kind must be expression or workflow, not {other:?}"
            )))
        }
    })
}

/// Checks a TaskRouter expression or workflow configuration (changes nothing).
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleExpressionCheck",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body(content = ExpressionForm, content_type = "application/json"),
    responses((status = 200, description = "The verdict", body = ExpressionCheck)),
)]
#[post("/console/expressions")]
async fn check_expression(
    request: HttpRequest,
    signed_in: SignedIn,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::Administer)?;
    if bytes.len() > MAX_TEXT {
        return Err(ApiError::bad_param(format!("Text is longer than {MAX_TEXT} bytes")));
    }
    let form: ExpressionForm = body(&request, &bytes)?;
    let message = fault(&form.kind, &form.text)?;
    Ok(no_store().json(ExpressionCheck { valid: message.is_none(), message }))
}

/// What the integrity check found.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrityView {
    /// No finding: every chain and head holds.
    pub clean: bool,
    pub streams: u64,
    pub records: u64,
    pub shredded_records: u64,
    /// Records past their stream's head (never acknowledged).
    pub unacknowledged: u64,
    pub findings_total: u64,
    /// The first findings, in log order.
    pub findings: Vec<String>,
}

/// Checks every stream's hash chain and head (what `switchboard verify` does, online).
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleIntegrity",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The report", body = IntegrityView)),
)]
#[get("/console/integrity")]
async fn integrity(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::Administer)?;
    let report = state.engine.audit().check_integrity().await?;
    Ok(no_store().json(IntegrityView {
        clean: report.is_clean(),
        streams: report.streams,
        records: report.records,
        shredded_records: report.shredded_records,
        unacknowledged: report.unacknowledged,
        findings_total: report.findings_total,
        findings: report.findings.iter().map(ToString::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_and_workflows_are_checked_by_task_router_s_own_parsers() {
        assert_eq!(fault("expression", "skills HAS 'en' AND level > 2").unwrap(), None);
        let broken = fault("expression", "skills HAS (").unwrap();
        assert!(broken.is_some_and(|m| !m.is_empty()));
        assert!(fault("workflow", "{not json").unwrap().is_some());
        assert!(fault("sql", "x").is_err());
    }
}
