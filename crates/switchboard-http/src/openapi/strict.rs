//! The document as strict as the server: what the handlers check and the derive leaves in prose
//! (allowed values, SID patterns, lengths, ranges, which bodies are optional) said in the schema,
//! so code generators and contract fuzzers (tests/e2e/contract.rs runs schemathesis against the
//! real binary) know what the server accepts.
//!
//! It works on the rendered JSON: the conventions every form and list share are applied by
//! walking the document, and the values of single fields come from [`RULES`], whose every entry
//! must name a property the document has (a unit test holds that), so a renamed field cannot
//! leave a rule behind silently.

use serde_json::{json, Value};
use switchboard_domain::{
    ChannelType, SidPrefix, CHANNEL_PERMISSIONS, SERVICE_PERMISSIONS, SERVICE_POST_EVENTS,
    SERVICE_PRE_EVENTS, WEBHOOK_FILTERS,
};

use super::FORM;

/// The largest `Page` and `PageSize` the lists take: the document declares them int32, and
/// the server refuses beyond (crate::lists, crate::twilio::paging).
pub const PAGING_MAX: u64 = i32::MAX as u64;

/// Makes `document` (rendered OpenAPI JSON) as strict as the server.
pub fn tighten(document: &mut Value) {
    let forms = form_names(&document["paths"]);
    let schemas = &mut document["components"]["schemas"];
    merge_all_of(schemas);
    for name in forms {
        if let Some(schema) = schemas.get_mut(&name) {
            tighten_form(schema);
        }
    }
    for (schema, property, rule) in rules() {
        let Some(schema) = schemas.get_mut(schema) else { continue };
        if property.is_empty() {
            merge(schema, rule);
        } else if let Some(target) = schema.get_mut("properties").and_then(|p| p.get_mut(property))
        {
            merge(target, rule);
        }
    }
    partial_updates(document);
    let parameter_rules = parameter_rules();
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let operations = item.as_object_mut().into_iter().flat_map(|i| i.values_mut());
        for parameters in operations.filter_map(|o| o.get_mut("parameters")) {
            for parameter in parameters.as_array_mut().into_iter().flatten() {
                tighten_parameter(parameter);
                let name = parameter["name"].clone();
                for (_, _, rule) in
                    parameter_rules.iter().filter(|(p, n, _)| p == path && name == *n)
                {
                    merge(&mut parameter["schema"], rule.clone());
                }
            }
        }
    }
}

/// The schema a POST's form body refers to.
fn form_of(operation: &Value) -> Option<String> {
    let reference = operation["requestBody"]["content"][FORM]["schema"]["$ref"].as_str()?;
    reference.rsplit('/').next().map(str::to_owned)
}

/// The names of the schemas posted as forms.
fn form_names(paths: &Value) -> Vec<String> {
    let items = paths.as_object().into_iter().flat_map(|p| p.values());
    let mut names: Vec<String> = items.filter_map(|item| form_of(&item["post"])).collect();
    names.sort();
    names.dedup();
    names
}

/// A form body is required only when its schema has a required field: every update is
/// partial, and an empty one changes nothing. A form one resource's create and update share
/// is required only on the create: the update gets a copy without `required`, `Update…`.
fn partial_updates(document: &mut Value) {
    let is_update = |path: &str| path.ends_with('}');
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let created: Vec<String> = paths
        .iter()
        .filter(|(path, _)| !is_update(path))
        .filter_map(|(_, item)| form_of(&item["post"]))
        .collect();
    for (path, item) in paths {
        let Some(mut name) = form_of(&item["post"]) else { continue };
        if is_update(&path) && created.contains(&name) {
            let mut partial = document["components"]["schemas"][&name].clone();
            if let Some(partial) = partial.as_object_mut() {
                partial.remove("required");
            }
            name = format!("Update{name}");
            document["components"]["schemas"][&name] = partial;
            let body = &mut document["paths"][&path]["post"]["requestBody"];
            body["content"][FORM]["schema"]["$ref"] = json!(format!("#/components/schemas/{name}"));
        }
        let required = document["components"]["schemas"][&name]["required"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        document["paths"][&path]["post"]["requestBody"]["required"] = Value::Bool(required);
    }
}

/// Makes a schema of parts (`allOf`: how utoipa renders a `#[serde(flatten)]` part of a form,
/// the Flex Flow's `Integration.*` settings) one object: a form is one flat list of names on the
/// wire, which is what code generators and the rules here expect.
fn merge_all_of(schemas: &mut Value) {
    let names: Vec<String> =
        schemas.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    for name in names {
        let Some(parts) = schemas[&name].get("allOf").and_then(Value::as_array).cloned() else {
            continue;
        };
        let (mut properties, mut required) = (serde_json::Map::new(), Vec::new());
        for part in parts {
            let part = match part["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                Some(target) => schemas[target].clone(),
                None => part,
            };
            properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        let mut merged = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            merged["required"] = Value::Array(required);
        }
        if let Some(description) = schemas[&name].get("description").cloned() {
            merged["description"] = description;
        }
        schemas[&name] = merged;
    }
}

/// A form has no `null`: a field is sent or left out. A required field is also non-empty
/// (`TwilioForm::require` refuses ""), and a `…Sid` field is a SID of its kind.
fn tighten_form(schema: &mut Value) {
    let required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        not_null(property);
        unsigned(property);
        let is_required = required.contains(name);
        if is_required && property["type"] == "string" {
            property["minLength"] = json!(1);
        }
        if is_required && property["type"] == "array" {
            // A repeated field sent no time is not sent at all.
            property["minItems"] = json!(1);
        }
        if let Some(prefix) = sid_prefix(name) {
            // An optional SID sent empty counts as absent (`TwilioForm::get_sid`).
            let optional = if is_required { "" } else { "?" };
            let prefix = prefix.as_str();
            property["pattern"] = json!(format!("^({prefix}[0-9a-fA-F]{{32}}){optional}$"));
        }
    }
}

/// The kind of SID a form field named so holds.
fn sid_prefix(field: &str) -> Option<SidPrefix> {
    let prefix = match field {
        "ChatServiceSid" => SidPrefix::SERVICE,
        "FlexFlowSid" | "FlowSid" => SidPrefix::FLEX_FLOW,
        "RoleSid" => SidPrefix::ROLE,
        "MediaSid" => SidPrefix::MEDIA,
        "TaskSid" => SidPrefix::TASK,
        "WorkflowSid" | "Integration.WorkflowSid" => SidPrefix::WORKFLOW,
        "Integration.WorkspaceSid" => SidPrefix::WORKSPACE,
        "Integration.FlowSid" => SidPrefix::STUDIO_FLOW,
        "ActivitySid"
        | "DefaultActivitySid"
        | "TimeoutActivitySid"
        | "ReservationActivitySid"
        | "AssignmentActivitySid" => SidPrefix::ACTIVITY,
        _ => return None,
    };
    Some(prefix)
}

/// A Rust `u64` is rendered int64 from 0, but the server parses the whole u64 range
/// (`TwilioForm::get_u64`): said as it is.
fn unsigned(schema: &mut Value) {
    if schema["format"] == "int64" && schema["minimum"] == 0 {
        if let Some(schema) = schema.as_object_mut() {
            schema.remove("format");
            schema.insert("maximum".into(), json!(u64::MAX));
        }
    }
}

/// `["string", "null"]` becomes `"string"`.
fn not_null(schema: &mut Value) {
    let Some(types) = schema.get("type").and_then(Value::as_array) else { return };
    let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    schema["type"] = match kept.as_slice() {
        [one] => one.clone(),
        _ => Value::Array(kept),
    };
}

/// Paging is the same on every list; required query values are non-empty.
fn tighten_parameter(parameter: &mut Value) {
    let name = parameter["name"].as_str().unwrap_or_default().to_owned();
    let required = parameter["required"] == true;
    let in_query = parameter["in"] == "query";
    let schema = &mut parameter["schema"];
    if !schema.is_object() {
        return;
    }
    not_null(schema);
    unsigned(schema);
    match (in_query, name.as_str()) {
        (true, "PageSize") => merge(schema, json!({"minimum": 1, "maximum": PAGING_MAX})),
        (true, "Page") => merge(schema, json!({"minimum": 0, "maximum": PAGING_MAX})),
        (true, "Order") => merge(schema, json!({"enum": ["asc", "desc"]})),
        _ => {}
    }
    if required && schema["type"] == "string" && schema.get("enum").is_none() {
        schema["minLength"] = json!(1);
    }
}

/// `rule`'s keys over `target`'s.
fn merge(target: &mut Value, rule: Value) {
    if let (Some(target), Value::Object(rule)) = (target.as_object_mut(), rule) {
        target.extend(rule);
    }
}

fn one_of(values: &[&str]) -> Value {
    json!({ "enum": values })
}

fn each_of(values: &[&str]) -> Value {
    json!({ "items": { "type": "string", "enum": values } })
}

/// A rule: (schema, property or "" for the schema itself, what it takes).
type Rule = (&'static str, &'static str, Value);

/// The rules for what no convention covers: the allowed values and ranges the handlers check,
/// from the same constants where the server has them.
pub fn rules() -> Vec<Rule> {
    let mut rules = chat_rules();
    rules.extend(flex_and_studio_rules());
    rules.extend(taskrouter_rules());
    // Empty goes back to the filter the daemon started with.
    rules.push(("UpdateLoggingForm", "Filter", json!({ "minLength": 0 })));
    rules
}

fn chat_rules() -> Vec<Rule> {
    let service_events: Vec<&str> =
        SERVICE_PRE_EVENTS.iter().chain(SERVICE_POST_EVENTS).copied().collect();
    let mut permissions: Vec<&str> =
        CHANNEL_PERMISSIONS.iter().chain(SERVICE_PERMISSIONS).copied().collect();
    permissions.sort_unstable();
    permissions.dedup();
    let http_methods = one_of(&["GET", "POST"]);
    vec![
        ("CreateChannelForm", "Type", one_of(&["public", "private"])),
        // A message has a body, a medium, or both.
        (
            "CreateMessageForm",
            "",
            json!({ "anyOf": [
                { "required": ["Body"], "properties": { "Body": { "minLength": 1 } } },
                { "required": ["MediaSid"], "properties": { "MediaSid": { "minLength": 1 } } },
            ] }),
        ),
        ("CreateChannelWebhookForm", "Type", one_of(&["webhook"])),
        ("CreateChannelWebhookForm", "Configuration.Url", json!({ "pattern": HTTP_URL })),
        ("CreateChannelWebhookForm", "Configuration.Method", http_methods.clone()),
        ("CreateChannelWebhookForm", "Configuration.Filters", each_of(WEBHOOK_FILTERS)),
        ("UpdateChannelWebhookForm", "Configuration.Url", json!({ "pattern": HTTP_URL })),
        ("UpdateChannelWebhookForm", "Configuration.Method", http_methods.clone()),
        ("UpdateChannelWebhookForm", "Configuration.Filters", each_of(WEBHOOK_FILTERS)),
        ("UpdateServiceForm", "PreWebhookUrl", url_or_empty()),
        ("UpdateServiceForm", "PostWebhookUrl", url_or_empty()),
        ("UpdateServiceForm", "WebhookMethod", http_methods),
        ("UpdateServiceForm", "WebhookFilters", each_of(&service_events)),
        ("CreateRoleForm", "Type", one_of(&["channel", "deployment"])),
        ("CreateRoleForm", "Permission", each_of(&permissions)),
        // Which permissions a role may hold depends on its type.
        (
            "CreateRoleForm",
            "",
            json!({ "oneOf": [
                { "properties": {
                    "Type": { "const": "channel" },
                    "Permission": each_of(CHANNEL_PERMISSIONS),
                } },
                { "properties": {
                    "Type": { "const": "deployment" },
                    "Permission": each_of(SERVICE_PERMISSIONS),
                } },
            ] }),
        ),
        ("UpdateRoleForm", "Permission", each_of(&permissions)),
        ("UpdateUserChannelForm", "NotificationLevel", one_of(&["default"])),
    ]
}

fn flex_and_studio_rules() -> Vec<Rule> {
    let channel_types: Vec<&str> = ChannelType::ALL.iter().map(|t| t.as_str()).collect();
    let mut rules = vec![
        ("UpdateFlexFlowForm", "FriendlyName", json!({ "minLength": 1 })),
        ("UpdateWebChannelForm", "ChatStatus", one_of(&["inactive"])),
        ("CreateFlowForm", "Status", one_of(&["draft", "published"])),
        ("UpdateFlowForm", "Status", one_of(&["draft", "published"])),
        ("UpdateExecutionForm", "Status", one_of(&["ended"])),
    ];
    for form in ["CreateFlexFlowForm", "UpdateFlexFlowForm"] {
        rules.push((form, "ChannelType", one_of(&channel_types)));
        rules.push((form, "IntegrationType", one_of(&["task", "external"])));
        rules.push((form, "Integration.Url", url_or_empty()));
    }
    rules
}

fn taskrouter_rules() -> Vec<Rule> {
    let non_empty = || json!({ "minLength": 1 });
    let not_supported = || json!({ "maxLength": 0 });
    vec![
        // Empty is the default (`NONE`, `FIFO`).
        ("CreateWorkspaceForm", "Template", one_of(&["NONE", "FIFO", ""])),
        ("CreateWorkspaceForm", "PrioritizeQueueOrder", one_of(&["FIFO", ""])),
        ("CreateWorkspaceForm", "MultiTaskEnabled", json!({ "enum": [true] })),
        ("CreateWorkspaceForm", "EventCallbackUrl", not_supported()),
        ("UpdateWorkspaceForm", "MultiTaskEnabled", json!({ "enum": [true] })),
        ("UpdateWorkspaceForm", "EventCallbackUrl", not_supported()),
        ("UpdateWorkspaceForm", "FriendlyName", non_empty()),
        ("UpdateActivityForm", "FriendlyName", non_empty()),
        ("CreateTaskChannelForm", "ChannelOptimizedRouting", json!({ "enum": [false] })),
        ("UpdateTaskChannelForm", "ChannelOptimizedRouting", json!({ "enum": [false] })),
        ("UpdateTaskChannelForm", "FriendlyName", non_empty()),
        ("TaskQueueForm", "TargetWorkers", non_empty()),
        ("TaskQueueForm", "TaskOrder", one_of(&["FIFO"])),
        ("TaskQueueForm", "MaxReservedWorkers", json!({ "minimum": 1, "maximum": 1 })),
        ("WorkflowForm", "TaskReservationTimeout", json!({ "minimum": 1, "maximum": 86_400 })),
        ("WorkflowForm", "AssignmentCallbackUrl", url_or_empty()),
        ("WorkflowForm", "FallbackAssignmentCallbackUrl", not_supported()),
        ("WorkerChannelForm", "Capacity", json!({ "maximum": 50 })),
        ("CreateTaskForm", "Timeout", json!({ "minimum": 1, "maximum": 1_209_600 })),
        ("UpdateTaskForm", "AssignmentStatus", one_of(&["canceled", "wrapping", "completed"])),
        (
            "ReservationForm",
            "ReservationStatus",
            one_of(&["accepted", "rejected", "wrapping", "completed"]),
        ),
    ]
}

/// An absolute http or https URL with a host, as the server's URL checks take it: the
/// pattern keeps to the plainest spelling, which every check accepts.
const HTTP_URL: &str =
    r"^https?://[a-z0-9]+(\.[a-z0-9]+)*(:[1-9][0-9]{0,3})?([/?][A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$";

/// The same, or empty where empty removes the setting.
fn url_or_empty() -> Value {
    json!({ "pattern": format!("({HTTP_URL})|^$") })
}

/// (path, query parameter, what it takes) for parameters no convention covers.
pub fn parameter_rules() -> Vec<(&'static str, &'static str, Value)> {
    let channel = "^CH[0-9a-fA-F]{32}$";
    let events = "/taskrouter/v1/Workspaces/{workspace}/Events";
    vec![
        ("/admin/v1/Channels/{sid}/Events", "Limit", json!({ "minimum": 1, "maximum": 10_000 })),
        ("/studio/v2/Flows/{flow}/Executions", "DateCreatedFrom", json!({ "format": "date-time" })),
        ("/studio/v2/Flows/{flow}/Executions", "DateCreatedTo", json!({ "format": "date-time" })),
        (
            "/chat/v2/Services/{service}/Channels",
            "Type",
            json!({ "items": { "type": "string", "enum": ["public", "private"] } }),
        ),
        ("/chat/v2/Services/{service}/Media", "ChannelSid", json!({ "pattern": channel })),
        (events, "StartDate", json!({ "format": "date-time" })),
        (events, "EndDate", json!({ "format": "date-time" })),
        (events, "Minutes", json!({ "minimum": 1, "maximum": 43_200 })),
        (events, "TaskSid", json!({ "pattern": "^(WT[0-9a-fA-F]{32})?$" })),
        (events, "ReservationSid", json!({ "pattern": "^(WR[0-9a-fA-F]{32})?$" })),
        (events, "WorkerSid", json!({ "pattern": "^(WK[0-9a-fA-F]{32})?$" })),
        (events, "TaskQueueSid", json!({ "pattern": "^(WQ[0-9a-fA-F]{32})?$" })),
        (events, "WorkflowSid", json!({ "pattern": "^(WW[0-9a-fA-F]{32})?$" })),
        (events, "ResourceSid", json!({ "pattern": "^([A-Z]{2}[0-9a-fA-F]{32})?$" })),
        // The WebSocket handshake (RFC 6455), as the server checks it.
        ("/ws", "Upgrade", json!({ "enum": ["websocket"] })),
        ("/ws", "Connection", json!({ "enum": ["Upgrade"] })),
        ("/ws", "Sec-WebSocket-Version", json!({ "enum": ["13"] })),
        ("/ws", "Sec-WebSocket-Key", json!({ "pattern": "^[A-Za-z0-9+/]{21}[AQgw]==$" })),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        super::super::rendered(&super::super::document("https://chat.example.com"))
    }

    fn schema<'a>(document: &'a Value, name: &str) -> &'a serde_json::Map<String, Value> {
        document["components"]["schemas"][name].as_object().unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn every_rule_names_a_property_of_the_document() {
        let mut untightened = serde_json::to_value(super::super::document("http://x")).unwrap();
        super::merge_all_of(&mut untightened["components"]["schemas"]);
        for (name, property, _) in rules() {
            let schema = &untightened["components"]["schemas"][name];
            let target = if property.is_empty() { schema } else { &schema["properties"][property] };
            assert!(target.is_object(), "{name}.{property} is gone");
        }
        for (path, name, _) in parameter_rules() {
            let item = &untightened["paths"][path];
            let operation = if item["get"].is_object() { &item["get"] } else { &item["post"] };
            let parameters = operation["parameters"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            assert!(parameters.iter().any(|p| p["name"] == name), "{path} {name} is gone");
        }
    }

    #[test]
    fn forms_have_no_null_and_updates_no_required_body() {
        let document = document();
        let update = &document["paths"]["/chat/v2/Services/{service}"]["post"]["requestBody"];
        assert_eq!(update["required"], false, "every update is partial");
        let create = &document["paths"]["/chat/v2/Services"]["post"]["requestBody"];
        assert_eq!(create["required"], true, "FriendlyName is required");
        let channel = schema(&document, "CreateChannelForm");
        assert_eq!(channel["properties"]["FriendlyName"]["type"], "string");
        assert_eq!(channel["properties"]["Type"]["enum"], json!(["public", "private"]));
        let service = schema(&document, "CreateServiceForm");
        assert_eq!(service["properties"]["FriendlyName"]["minLength"], 1);
        // A form shared by a create and an update requires its fields on the create only.
        let queues = "/taskrouter/v1/Workspaces/{workspace}/TaskQueues";
        let create = &document["paths"][queues]["post"]["requestBody"];
        assert_eq!(create["required"], true);
        let update = &document["paths"][format!("{queues}/{{sid}}")]["post"]["requestBody"];
        assert_eq!(update["required"], false);
        let reference = update["content"][FORM]["schema"]["$ref"].as_str().unwrap();
        let name = reference.rsplit('/').next().unwrap();
        let partial = schema(&document, name);
        assert!(partial.get("required").is_none(), "{name}");
        assert_eq!(partial["properties"]["TaskOrder"]["enum"], json!(["FIFO"]), "rules kept");
    }

    #[test]
    fn sids_have_their_pattern_empty_only_when_optional() {
        let document = document();
        let flow = schema(&document, "CreateFlexFlowForm");
        assert_eq!(flow["properties"]["ChatServiceSid"]["pattern"], "^(IS[0-9a-fA-F]{32})$");
        assert_eq!(
            flow["properties"]["ChannelType"]["enum"],
            json!(["web", "sms", "facebook", "whatsapp", "line", "custom"])
        );
        let member = schema(&document, "CreateMemberForm");
        assert_eq!(member["properties"]["RoleSid"]["pattern"], "^(RL[0-9a-fA-F]{32})?$");
    }

    #[test]
    fn paging_is_bounded_as_the_server_bounds_it() {
        let document = document();
        let parameters =
            document["paths"]["/chat/v2/Services"]["get"]["parameters"].as_array().unwrap();
        let find = |name: &str| &parameters.iter().find(|p| p["name"] == name).unwrap()["schema"];
        assert_eq!(find("PageSize")["minimum"], 1);
        assert_eq!(find("PageSize")["maximum"], i32::MAX);
        assert_eq!(find("Page")["maximum"], i32::MAX);
        let messages = &document["paths"]
            ["/chat/v2/Services/{service}/Channels/{channel}/Messages"]["get"]["parameters"];
        let order = messages.as_array().unwrap().iter().find(|p| p["name"] == "Order").unwrap();
        assert_eq!(order["schema"]["enum"], json!(["asc", "desc"]));
    }
}
