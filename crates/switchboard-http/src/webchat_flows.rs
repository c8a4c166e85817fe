//! A web flow's widget settings over REST (`/webchat/v1/Flows/{sid}`, account credentials):
//! allowed origins, the pre-engagement form, greeting, theme, strings and the identity secret.
//! Each change is an event of the flow's stream (`FlowEvent::WebSettingsChanged`).

use std::collections::BTreeMap;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_domain::{FormField, Sid, SidPrefix, WebFlowSettings};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::typed_form::Form;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(fetch_settings).service(update_settings);
}

/// The form of a settings update: only the parameters given change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateSettingsForm {
    /// Repeated: each an origin (`https://shop.example.com`) whose pages may embed the chat; one
    /// empty value clears the list. At most 10.
    allowed_origins: Option<Vec<String>>,
    /// A JSON array of `{"name","label","kind":"text"|"email"|"consent","required"}`.
    fields: Option<String>,
    /// Shown above the form; empty clears it.
    greeting: Option<String>,
    /// A JSON object with any of `color`, `font`, `radius`, `position`.
    theme: Option<String>,
    /// A JSON object: locale to string key to text.
    strings: Option<String>,
    /// The secret host backends sign visitors' identities with; empty clears it. Never shown.
    identity_secret: Option<String>,
}

/// A web flow's widget settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebFlowSettingsView {
    pub flow_sid: String,
    pub allowed_origins: Vec<String>,
    pub fields: Vec<FieldView>,
    pub greeting: Option<String>,
    pub theme: BTreeMap<String, String>,
    pub strings: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether an identity secret is set (sessions may then claim a signed identity).
    pub identity_verification: bool,
    pub url: String,
}

/// One field of the pre-engagement form.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `email` or `consent`.
    pub kind: String,
    pub required: bool,
}

/// Fetches a web flow's widget settings.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "FetchWebFlowSettings",
    params(("sid" = String, Path, description = "The web flow (`FO…`)")),
    responses((status = 200, description = "The settings", body = WebFlowSettingsView)),
)]
#[get("/webchat/v1/Flows/{sid}")]
async fn fetch_settings(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (sid, settings) = current(&state, &request)?;
    Ok(HttpResponse::Ok().json(view(&state, sid, &settings)))
}

/// Changes a web flow's widget settings.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "UpdateWebFlowSettings",
    params(("sid" = String, Path, description = "The web flow (`FO…`)")),
    request_body(content = UpdateSettingsForm, content_type = FORM),
    responses((status = 200, description = "The settings", body = WebFlowSettingsView)),
)]
#[post("/webchat/v1/Flows/{sid}")]
async fn update_settings(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateSettingsForm>,
) -> Result<HttpResponse, ApiError> {
    let (sid, mut settings) = current(&state, &request)?;
    merge(&form, &mut settings)?;
    let at = state.engine.now();
    let written = state.engine.flows().set_web_settings(sid, at, settings).await?;
    written.map_err(|rejection| ApiError::bad_param(rejection.to_string()))?;
    let (sid, settings) = current(&state, &request)?;
    Ok(HttpResponse::Ok().json(view(&state, sid, &settings)))
}

fn current(state: &AppState, request: &HttpRequest) -> Result<(Sid, WebFlowSettings), ApiError> {
    let not_found = || ApiError::not_found(request.path());
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::FLEX_FLOW).map_err(|_| not_found())?;
    let flow = state.engine.flows().get(sid).ok_or_else(not_found)?;
    if flow.config.channel_type != switchboard_domain::ChannelType::Web {
        return Err(ApiError::new(
            404,
            20404,
            format!("Flex Flow {sid} is not a web flow: it has no widget settings"),
        ));
    }
    let settings = state.engine.flows().web_settings(sid).ok_or_else(not_found)?;
    Ok((sid, settings))
}

/// Merges the parameters given into `settings`.
fn merge(form: &UpdateSettingsForm, settings: &mut WebFlowSettings) -> Result<(), ApiError> {
    if let Some(given) = &form.allowed_origins {
        settings.allowed_origins = given.iter().filter(|o| !o.is_empty()).cloned().collect();
    }
    if let Some(fields) = &form.fields {
        settings.fields = json::<Vec<FormField>>(fields, "Fields")?;
    }
    if let Some(greeting) = &form.greeting {
        settings.greeting = Some(greeting.to_owned()).filter(|g| !g.is_empty());
    }
    if let Some(theme) = &form.theme {
        settings.theme = json(theme, "Theme")?;
    }
    if let Some(strings) = &form.strings {
        settings.strings = json(strings, "Strings")?;
    }
    if let Some(secret) = &form.identity_secret {
        settings.identity_secret = Some(secret.to_owned()).filter(|s| !s.is_empty());
    }
    Ok(())
}

fn json<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T, ApiError> {
    if text.len() > 64 * 1024 {
        return Err(ApiError::bad_param(format!("{name} is longer than 64 KiB")));
    }
    serde_json::from_str(text).map_err(|e| ApiError::bad_param(format!("{name}: {e}")))
}

fn view(state: &AppState, sid: Sid, settings: &WebFlowSettings) -> WebFlowSettingsView {
    let kind = |kind| match kind {
        switchboard_domain::FieldKind::Text => "text",
        switchboard_domain::FieldKind::Email => "email",
        switchboard_domain::FieldKind::Consent => "consent",
    };
    WebFlowSettingsView {
        flow_sid: sid.to_string(),
        allowed_origins: settings.allowed_origins.clone(),
        fields: settings
            .fields
            .iter()
            .map(|f| FieldView {
                name: f.name.clone(),
                label: f.label.clone(),
                kind: kind(f.kind).to_owned(),
                required: f.required,
            })
            .collect(),
        greeting: settings.greeting.clone(),
        theme: settings.theme.clone(),
        strings: settings.strings.clone(),
        identity_verification: settings.identity_secret.is_some(),
        url: state.url(&format!("/webchat/v1/Flows/{sid}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::form::TwilioForm;

    /// The form a body reads into.
    fn form(body: &[u8]) -> UpdateSettingsForm {
        TwilioForm::parse(body).typed().unwrap()
    }

    #[test]
    fn only_the_parameters_given_change() {
        let mut settings = WebFlowSettings::default_form();
        settings.greeting = Some("Hi".into());
        let given = form(
            b"AllowedOrigins=https%3A%2F%2Fa.example&AllowedOrigins=http%3A%2F%2F127.0.0.1%3A9&IdentitySecret=s",
        );
        merge(&given, &mut settings).unwrap();
        assert_eq!(settings.allowed_origins, ["https://a.example", "http://127.0.0.1:9"]);
        assert_eq!(settings.greeting.as_deref(), Some("Hi"), "not given, kept");
        assert_eq!(settings.fields.len(), 1);
        assert_eq!(settings.identity_secret.as_deref(), Some("s"));
        merge(&form(b"AllowedOrigins=&Greeting=&IdentitySecret="), &mut settings).unwrap();
        assert!(settings.allowed_origins.is_empty() && settings.greeting.is_none());
        assert!(settings.identity_secret.is_none());
        let fields = br#"Fields=[{"name":"email","label":"Email","kind":"email","required":true}]"#;
        merge(&form(fields), &mut settings).unwrap();
        assert_eq!(settings.fields[0].kind, switchboard_domain::FieldKind::Email);
        assert!(merge(&form(b"Theme=[1]"), &mut settings).is_err());
    }
}
