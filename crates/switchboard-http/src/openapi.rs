//! The OpenAPI 3.1 document of the whole API, served at `GET /openapi.json`.
//!
//! It is generated from the code: every handler carries `#[utoipa::path]` beside its actix route
//! attribute, every view and form is a `ToSchema` type, and the paths are collected by
//! `utoipa-actix-web` from [`crate::app::routes`], the one function that registers the routes.
//! The document is built by running that same function against a scratch app, so a route cannot
//! be served without being in the document, nor documented without being served.
//!
//! The document also answers for the server when no route matched: a path it lists with another
//! method is a 405 (with `Allow`), anything else a 404, both in Twilio's shape.

use actix_web::dev::ResourceDef;
use actix_web::http::{header, Method};
use actix_web::{get, web, App, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr, Server};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt as _;

use crate::twilio::error::{ApiError, ErrorBody};

pub mod strict;

/// The HTTP Basic scheme: the account SID and auth token, or an API key SID and its secret.
pub const BASIC: &str = "basic";
/// An access token (Twilio's format) as `Authorization: Bearer`.
pub const BEARER: &str = "accessToken";
/// An access token as the `token` query parameter (`/ws` only).
pub const TOKEN_QUERY: &str = "accessTokenQuery";
/// A console session: the `sb_console` cookie a sign-in sets (and `X-CSRF-Token` on changes).
pub const CONSOLE_SESSION: &str = "consoleSession";
/// Twilio's webhook signature.
pub const TWILIO_SIGNATURE: &str = "twilioSignature";
/// Meta's webhook signature.
pub const META_SIGNATURE: &str = "metaSignature";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "A self-hosted Twilio Programmable Chat and Flex replacement. Products are \
            mounted under their Twilio host's name (`/flex/v1`, `/chat/v2`); requests are \
            `application/x-www-form-urlencoded` with PascalCase names, answers JSON in snake_case. \
            Every error is `{code, message, more_info, status}`. See docs/api.md for what is \
            supported.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    security(("basic" = [])),
    tags(
        (name = "Flex", description = "Flex v1: FlexFlows, custom channels, web chats"),
        (name = "Chat", description = "Chat v2: Services, Channels, Members, Messages, Users, Roles, Webhooks, Media"),
        (name = "TaskRouter", description = "TaskRouter v1: Workspaces, Activities, TaskChannels, TaskQueues, Workflows"),
        (name = "Studio", description = "Studio v2: Flows, Revisions, Validate, Executions, Steps, Contexts"),
        (name = "Webhooks", description = "What providers post to us: Twilio and Meta"),
        (name = "Realtime", description = "The WebSocket"),
        (name = "Operations", description = "Health, audit, tasks, this document"),
        (name = "Console", description = "The agent console: its page, sign-in sessions, people"),
    )
)]
struct Base;

/// What the derive cannot say: the security schemes, and the error shape on every operation.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "The account SID and its auth token, or an API key SID (SK…) and its secret",
            ))
            .build();
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token in Twilio's format (HS256 under an API key secret, a ChatGrant \
                 naming the service)",
            ))
            .build();
        components.add_security_scheme(BASIC, SecurityScheme::Http(basic));
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        components.add_security_scheme(
            TOKEN_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "An access token in the query string (it may end up in logs: prefer the header \
                 or the first frame)",
            ))),
        );
        components.add_security_scheme(
            CONSOLE_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sb_console",
                "A console session (POST /console/login); calls that change something also carry \
                 the session's X-CSRF-Token header",
            ))),
        );
        components.add_security_scheme(
            TWILIO_SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Twilio-Signature",
                "HMAC-SHA1 of the public URL and the sorted parameters under the upstream \
                 account's auth token",
            ))),
        );
        components.add_security_scheme(
            META_SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Hub-Signature-256",
                "sha256= HMAC-SHA256 of the raw body under the Meta app secret",
            ))),
        );
        for (path, item) in document.paths.paths.iter_mut() {
            if path.starts_with("/chat/v2/") {
                for operation in [&mut item.post, &mut item.delete].into_iter().flatten() {
                    add_webhook_enabled_header(operation);
                }
            }
            for operation in operations(item) {
                add_error_responses(operation);
            }
        }
    }
}

/// Chat's changes fire the service's post-event webhooks only when asked (`rest_cause`).
fn add_webhook_enabled_header(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let header = ParameterBuilder::new()
        .name(crate::chat::service_webhooks::WEBHOOK_ENABLED_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "`true` fires the service's post-event webhooks for this change (Twilio's rule: REST \
             changes fire none otherwise, whatever else the header says)",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(header);
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Every 4xx and 5xx this server answers has Twilio's error shape, whoever produced it (a
/// handler, an extractor, actix itself through the reshaping middleware).
fn add_error_responses(operation: &mut Operation) {
    let error = || {
        ResponseBuilder::new()
            .description("An error in Twilio's shape")
            .content("application/json", Content::new(Some(RefOr::Ref(error_ref()))))
            .build()
    };
    for range in ["4XX", "5XX"] {
        operation.responses.responses.entry(range.to_owned()).or_insert_with(|| error().into());
    }
    // Every operation may meet a rate limit (`rate.rs`): said with the seconds to wait.
    let retry_after = utoipa::openapi::header::HeaderBuilder::new()
        .schema(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer),
        )
        .description(Some("Whole seconds until the request may be made again"))
        .build();
    let too_many = ResponseBuilder::new()
        .description("A rate limit refused the request (20429, docs/limits.md)")
        .header("Retry-After", retry_after)
        .content("application/json", Content::new(Some(RefOr::Ref(error_ref()))))
        .build();
    operation.responses.responses.entry("429".to_owned()).or_insert_with(|| too_many.into());
}

fn error_ref() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name("ErrorBody")
}

/// The whole document, with `public_url` as its server.
pub fn document(public_url: &str) -> Document {
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(Base::openapi())
        .configure(crate::app::routes)
        .split_for_parts();
    utoipa::Modify::modify(&Conventions, &mut document);
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.servers = Some(vec![Server::new(public_url)]);
    document
}

/// The document as served, rendered once per app.
#[derive(Debug, Clone)]
pub struct Served {
    json: web::Bytes,
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl Served {
    pub fn new(document: &Document) -> Served {
        let json = rendered(document).to_string();
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| (ResourceDef::new(path.as_str()), methods(item)))
            .collect();
        Served { json: web::Bytes::from(json), routes }
    }

    /// The documented path a concrete request path matches, if any, and its methods.
    pub(crate) fn documented(&self, path: &str) -> Option<(&ResourceDef, &[Method])> {
        self.routes.iter().find(|(def, _)| def.is_match(path)).map(|(def, m)| (def, m.as_slice()))
    }
}

fn methods(item: &PathItem) -> Vec<Method> {
    [
        (item.get.is_some(), Method::GET),
        (item.post.is_some(), Method::POST),
        (item.put.is_some(), Method::PUT),
        (item.patch.is_some(), Method::PATCH),
        (item.delete.is_some(), Method::DELETE),
        (item.head.is_some(), Method::HEAD),
        (item.options.is_some(), Method::OPTIONS),
        (item.trace.is_some(), Method::TRACE),
    ]
    .into_iter()
    .filter_map(|(present, method)| present.then_some(method))
    .collect()
}

/// The document as JSON, with what the derive cannot say added ([`strict`]).
pub fn rendered(document: &Document) -> serde_json::Value {
    let mut json = serde_json::to_value(document).unwrap_or_default();
    strict::tighten(&mut json);
    json
}

/// This document. It carries no data, so it needs no credentials: clients and code generators
/// fetch it before they have any.
#[utoipa::path(
    tag = "Operations",
    security(()),
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")),
)]
#[get("/openapi.json")]
pub(crate) async fn openapi_json(served: web::Data<Served>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(served.json.clone())
}

/// Requests no route took: 405 with `Allow` for a documented path, 404 otherwise. Register as
/// the app's `default_service`.
pub(crate) async fn unrouted(request: HttpRequest) -> HttpResponse {
    let documented = request.app_data::<web::Data<Served>>().and_then(|served| {
        let (path, methods) = served.documented(request.path())?;
        Some((path.pattern().unwrap_or_default().to_owned(), methods.to_vec()))
    });
    // What the look found, documented or not, so the route label does not look again.
    let (path, allowed) = documented.unzip();
    request.extensions_mut().insert(crate::metrics::DocumentedPath(path));
    match allowed {
        Some(methods) if !methods.is_empty() => {
            let mut response = ApiError::new(405, 20004, "Method not allowed").error_response();
            let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        _ => ApiError::not_found(request.path()).error_response(),
    }
}

/// The content type of every request body but media uploads and Meta's webhooks.
pub const FORM: &str = "application/x-www-form-urlencoded";

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as atest;
    use serde_json::Value;
    use utoipa_actix_web::service_config::ServiceConfig;

    fn json() -> Value {
        rendered(&document("https://chat.example.com"))
    }

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    /// Every (path, method) the document has.
    fn operations_of(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    out.push((path.clone(), method.to_owned(), operation.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_with_the_key_resources() {
        let doc = json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["servers"][0]["url"], "https://chat.example.com");
        for (path, method) in [
            ("/flex/v1/FlexFlows", "post"),
            ("/flex/v1/FlexFlows/{sid}", "delete"),
            ("/flex/v1/Channels", "post"),
            ("/flex/v1/WebChannels/{sid}", "post"),
            ("/chat/v2/Services", "get"),
            ("/chat/v2/Services/{service}", "post"),
            ("/chat/v2/Services/{service}/Channels/{channel}/Messages", "post"),
            ("/chat/v2/Services/{service}/Channels/{channel}/Members/{member}", "delete"),
            ("/chat/v2/Services/{service}/Channels/{channel}/Webhooks/{webhook}", "post"),
            ("/chat/v2/Services/{service}/Users/{user}/Channels/{channel}", "get"),
            ("/chat/v2/Services/{service}/Roles/{role}", "delete"),
            ("/chat/v2/Services/{service}/Media", "post"),
            ("/chat/v2/Services/{service}/Media/{media}/Content", "get"),
            ("/media/v1/{media}", "get"),
            ("/webhooks/twilio", "post"),
            (crate::TWILIO_STATUS_PATH, "post"),
            ("/webhooks/whatsapp", "get"),
            ("/webhooks/whatsapp", "post"),
            ("/webhooks/messenger", "post"),
            ("/admin/v1/Channels/{sid}/Events", "get"),
            ("/admin/v1/Tasks", "get"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/ws", "get"),
            ("/openapi.json", "get"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
        }
        let schemas = &doc["components"]["schemas"];
        for name in ["FlexFlow", "Service", "Channel", "Member", "Message", "ErrorBody"] {
            assert!(schemas[name].is_object(), "no schema {name}");
        }
        for field in [
            "pre_webhook_url",
            "post_webhook_url",
            "webhook_method",
            "webhook_filters",
            "pre_webhook_retry_count",
            "post_webhook_retry_count",
        ] {
            assert!(schemas["Service"]["properties"][field].is_object(), "Service.{field}");
        }
        let created = &doc["paths"]["/chat/v2/Services"]["post"];
        assert_eq!(
            created["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Service"
        );
        assert!(created["requestBody"]["content"][FORM]["schema"].is_object());
        assert_eq!(
            created["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let list = &schemas["FlexFlowList"];
        assert!(
            list["properties"]["flex_flows"].is_object() && list["properties"]["meta"].is_object()
        );
    }

    /// Two types of one name are one schema to utoipa (the last one collected): the
    /// TaskRouter's tasks were once documented as the admin list's open channel tasks.
    #[test]
    fn taskrouter_tasks_and_open_channel_tasks_are_two_schemas() {
        let doc = json();
        let task = "/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}";
        let reference = &doc["paths"][task]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["$ref"];
        let name = reference.as_str().unwrap().rsplit('/').next().unwrap();
        let schema = &doc["components"]["schemas"][name];
        assert!(schema["properties"]["workspace_sid"].is_object(), "{name}: {schema}");
        let open = &doc["components"]["schemas"]["OpenChannelTask"];
        assert!(open["properties"]["channel_sid"].is_object(), "{open}");
    }

    #[test]
    fn security_is_basic_but_where_it_is_not() {
        let doc = json();
        assert_eq!(doc["security"], serde_json::json!([{ "basic": [] }]));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["basic"]["scheme"], "basic");
        assert_eq!(schemes["accessToken"]["scheme"], "bearer");
        let paths = &doc["paths"];
        for open in ["/openapi.json", "/healthz", "/readyz", "/media/v1/{media}"] {
            assert_eq!(paths[open]["get"]["security"], serde_json::json!([{}]), "{open}");
        }
        assert_eq!(
            paths["/webhooks/twilio"]["post"]["security"][0],
            serde_json::json!({"twilioSignature": []})
        );
        let ws = paths["/ws"]["get"]["security"].as_array().unwrap();
        assert!(ws.contains(&serde_json::json!({"accessToken": []})));
        assert_eq!(schemes["consoleSession"]["in"], "cookie");
        assert_eq!(
            paths["/console/me"]["get"]["security"],
            serde_json::json!([{"consoleSession": []}])
        );
        assert_eq!(paths["/console/login"]["post"]["security"], serde_json::json!([{}]));
        let people = paths["/admin/v1/People"]["post"]["security"].to_string();
        assert!(people.contains("basic") && people.contains("consoleSession"), "{people}");
        let media =
            paths["/chat/v2/Services/{service}/Media/{media}"]["get"]["security"].to_string();
        assert!(media.contains("basic") && media.contains("accessToken"), "{media}");
    }

    #[test]
    fn every_operation_says_a_rate_limit_may_refuse_it_and_when_to_try_again() {
        let doc = json();
        for (path, method, operation) in operations_of(&doc) {
            let header = &operation["responses"]["429"]["headers"]["Retry-After"];
            assert!(header.is_object(), "{method} {path}: {}", operation["responses"]);
        }
    }

    #[test]
    fn operation_ids_are_unique_and_path_parameters_match_their_paths() {
        let doc = json();
        let mut ids = std::collections::HashSet::new();
        for (path, method, operation) in operations_of(&doc) {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} twice");
            let in_path: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: Vec<String> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let mut expected: Vec<String> = in_path.iter().map(|s| (*s).to_owned()).collect();
            let mut got = declared.clone();
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "{method} {path}: path parameters");
            assert!(
                operation["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|k| k.starts_with('1') || k.starts_with('2')),
                "{method} {path}: no success response"
            );
        }
        assert!(ids.len() > 60, "{} operations", ids.len());
    }

    /// Every documented operation reaches a handler of the app `routes` registers (the other
    /// way round, a route that is not documented, cannot be registered: `ServiceConfig`
    /// takes only handlers with their OpenAPI operation, see `routes_are_only_registered_documented`).
    #[actix_rt::test]
    async fn every_documented_operation_is_routed() {
        let app = atest::init_service(
            App::new()
                .configure(|cfg| crate::app::routes(&mut ServiceConfig::new(cfg)))
                .default_service(web::to(|| async {
                    HttpResponse::build(actix_web::http::StatusCode::IM_A_TEAPOT).finish()
                })),
        )
        .await;
        let doc = json();
        for (path, method, _) in operations_of(&doc) {
            let concrete = path.replace('{', "X").replace('}', "");
            let request = atest::TestRequest::default()
                .method(method.to_uppercase().parse().unwrap())
                .uri(&concrete)
                .to_request();
            let response = atest::call_service(&app, request).await;
            assert_ne!(response.status(), 418, "{method} {path} has no route");
        }
    }

    /// Routes are registered only through `utoipa_actix_web`'s `ServiceConfig::service`, which
    /// takes handlers that carry their operation: no plain actix registration in this crate.
    #[test]
    fn routes_are_only_registered_documented() {
        let sources = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap();
        for entry in sources {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for plain in [
                "web::resource(",
                ".route(",
                "web::scope(",
                "web::get()",
                "web::post()",
                "web::delete()",
                ".map(|cfg",
            ] {
                assert!(!code.contains(plain), "{} registers a route with {plain}", path.display());
            }
        }
    }

    #[actix_rt::test]
    async fn unrouted_requests_are_405_on_a_documented_path_and_404_elsewhere() {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(Served::new(&document("http://x"))))
                .default_service(web::to(unrouted)),
        )
        .await;
        let request = atest::TestRequest::delete().uri("/chat/v2/Services/IS1").to_request();
        let response = atest::call_service(&app, request).await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "GET, POST");
        let body: Value = atest::read_body_json(response).await;
        assert_eq!((body["status"].as_u64(), body["code"].as_u64()), (Some(405), Some(20004)));

        let request = atest::TestRequest::get().uri("/chat/v2/Nothing").to_request();
        let response = atest::call_service(&app, request).await;
        assert_eq!(response.status(), 404);
        let body: Value = atest::read_body_json(response).await;
        assert_eq!(body["code"], 20404);
    }
}

/// The path of a Chat Service's own resources, as every operation under it declares it: the
/// document's parameter and the extractor that finds the service (404 when it does not exist).
#[derive(Debug, Clone, Copy, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ServicePath {
    /// The Chat Service (`IS…`)
    #[param(value_type = String)]
    pub service: switchboard_domain::Sid,
}

impl actix_web::FromRequest for ServicePath {
    type Error = crate::twilio::error::ApiError;
    type Future = std::future::Ready<Result<ServicePath, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let found = match request.app_data::<actix_web::web::Data<crate::state::AppState>>() {
            Some(state) => {
                crate::chat::service_sid(state, request).map(|service| ServicePath { service })
            }
            None => Err(crate::twilio::error::ApiError::internal()),
        };
        std::future::ready(found)
    }
}

/// The path of a channel and its resources: documented here, and the extractor that resolves
/// it (a unique name through the engine), so the document and the parser are one type.
#[derive(Debug, Clone, Copy, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// The Chat Service (`IS…`)
    #[param(value_type = String)]
    pub service: switchboard_domain::Sid,
    /// The channel: its SID (`CH…`) or unique name
    #[param(value_type = String)]
    pub channel: switchboard_domain::Sid,
}

impl actix_web::FromRequest for ChannelPath {
    type Error = crate::twilio::error::ApiError;
    type Future = std::future::Ready<Result<ChannelPath, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let resolved = match request.app_data::<actix_web::web::Data<crate::state::AppState>>() {
            Some(state) => crate::chat::channel_path(state, request)
                .map(|(service, channel)| ChannelPath { service, channel }),
            None => Err(crate::twilio::error::ApiError::internal()),
        };
        std::future::ready(resolved)
    }
}
