//! The server's own OpenAPI document as a contract: a real response is checked against the schema
//! the document gives for its path, method and status, with `$ref`s resolved into the document's
//! components. Object schemas are closed for the check (`additionalProperties: false`), so a key
//! the server sends and the document does not list fails as surely as a missing or mistyped one.

use serde_json::{json, Value};

use super::api::Response;
use super::Daemon;

pub struct Contract {
    pub document: Value,
    /// The components, closed.
    components: Value,
}

impl Contract {
    /// Fetches `/openapi.json` without credentials.
    pub fn fetch(daemon: &Daemon) -> Contract {
        let response = daemon.get_anonymous("/openapi.json");
        assert_eq!(response.status, 200, "{}", response.body);
        let document = response.json();
        let mut components = document["components"].clone();
        close_objects(&mut components);
        Contract { document, components }
    }

    /// The schema of the JSON body for (`path` template, `method`, `status`): the exact status,
    /// else its range (`4XX`). Panics when the document has none: an undocumented answer.
    pub fn response_schema(&self, path: &str, method: &str, status: u16) -> Value {
        let operation = &self.document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not in the document");
        let responses = &operation["responses"];
        let exact = &responses[status.to_string()];
        let response =
            if exact.is_object() { exact } else { &responses[format!("{}XX", status / 100)] };
        assert!(response.is_object(), "{method} {path} documents no {status}");
        let schema = response["content"]["application/json"]["schema"].clone();
        assert!(schema.is_object(), "{method} {path} {status} has no JSON schema");
        schema
    }

    /// Checks a response's body against the document; returns the body.
    #[track_caller]
    pub fn check(&self, method: &str, path: &str, response: &Response) -> Value {
        let body = response.json();
        let errors = self.mismatches(method, path, response.status, &body);
        assert!(
            errors.is_empty(),
            "{method} {path} {}: the body does not match the document:\n{}\n{body:#}",
            response.status,
            errors.join("\n")
        );
        body
    }

    /// Where `body` departs from the document's schema for (`path`, `method`, `status`).
    pub fn mismatches(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let mut schema = self.response_schema(path, method, status);
        close_objects(&mut schema);
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.components,
        });
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("the schema of {method} {path} does not compile: {e}"));
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }
}

/// `additionalProperties: false` on every object schema that lists its properties.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}
