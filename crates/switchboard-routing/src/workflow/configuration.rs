//! The JSON form of a workflow configuration: serde reads it (naming the JSON path of a fault),
//! then the checks serde cannot make turn it into a [`WorkflowConfiguration`].

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use switchboard_domain::{Sid, SidPrefix};

use super::{Filter, KnownWorker, OrderBy, Target, WorkflowConfiguration};
use crate::expression::{Expression, KeyPath, Root};

/// The longest configuration accepted, in bytes (ours; Twilio's limit is not documented). A
/// Flex workflow of a few dozen filters is a few kilobytes.
pub const MAX_CONFIGURATION_BYTES: usize = 64 * 1024;

/// The highest `priority` (Twilio: 0 to 2^31-1).
const MAX_PRIORITY: u64 = (1 << 31) - 1;

/// Why a configuration was refused: the JSON path of the fault (empty for the whole document)
/// and what is wrong there, e.g. `task_routing.filters[1].targets[0].expression: extraneous
/// input '-' expecting {...} at position 5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigurationError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfiguration {
    task_routing: RawTaskRouting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskRouting {
    #[serde(default)]
    filters: Vec<RawFilter>,
    #[serde(default)]
    default_filter: Option<RawDefaultFilter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    // Twilio's older helper libraries write `friendly_name`.
    #[serde(default, alias = "friendly_name")]
    filter_friendly_name: Option<String>,
    expression: Expression,
    targets: Vec<RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default, deserialize_with = "optional_queue")]
    queue: Option<Sid>,
    #[serde(default, deserialize_with = "optional_expression")]
    expression: Option<Expression>,
    #[serde(default, deserialize_with = "optional_priority")]
    priority: Option<u32>,
    #[serde(default, deserialize_with = "optional_seconds")]
    timeout: Option<u32>,
    #[serde(default, deserialize_with = "optional_order_by")]
    order_by: Option<OrderBy>,
    #[serde(default, deserialize_with = "optional_expression")]
    skip_if: Option<Expression>,
    #[serde(default, deserialize_with = "optional_task_key")]
    known_worker_sid: Option<KeyPath>,
    #[serde(default, deserialize_with = "optional_task_key")]
    known_worker_friendly_name: Option<KeyPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaultFilter {
    #[serde(deserialize_with = "queue")]
    queue: Sid,
}

pub(super) fn parse(json: &str) -> Result<WorkflowConfiguration, ConfigurationError> {
    if json.len() > MAX_CONFIGURATION_BYTES {
        return Err(fault("", format!("longer than {MAX_CONFIGURATION_BYTES} bytes")));
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let raw: RawConfiguration =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            fault(&path, json_message(error.inner()))
        })?;
    deserializer.end().map_err(|error| fault("", json_message(&error)))?;
    build(json, raw.task_routing)
}

fn fault(path: &str, message: impl Into<String>) -> ConfigurationError {
    ConfigurationError { path: path.to_owned(), message: message.into() }
}

/// serde_json's message. A fault of the data (a bad expression, an unknown key) is named by its
/// path, so its line and column are dropped; a fault of the JSON syntax keeps them.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if !error.is_data() {
        return text;
    }
    let location = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&location).map_or(text.clone(), str::to_owned)
}

fn build(
    source: &str,
    routing: RawTaskRouting,
) -> Result<WorkflowConfiguration, ConfigurationError> {
    if routing.filters.is_empty() && routing.default_filter.is_none() {
        return Err(fault("task_routing", "needs filters or a default_filter"));
    }
    let filters = routing
        .filters
        .into_iter()
        .enumerate()
        .map(|(index, filter)| build_filter(index, filter))
        .collect::<Result<Vec<_>, _>>()?;
    let default_targets = routing.default_filter.map_or_else(Vec::new, |default| {
        vec![Target {
            queue: default.queue,
            expression: None,
            priority: None,
            timeout: None,
            ends_after: None,
            order_by: None,
            skip_if: None,
            known_worker: None,
        }]
    });
    Ok(WorkflowConfiguration { source: source.to_owned(), filters, default_targets })
}

fn build_filter(index: usize, filter: RawFilter) -> Result<Filter, ConfigurationError> {
    let path = format!("task_routing.filters[{index}].targets");
    if filter.targets.is_empty() {
        return Err(fault(&path, "a filter needs at least one target"));
    }
    let mut targets: Vec<Target> = Vec::with_capacity(filter.targets.len());
    // Timeouts accumulate from the moment the task entered the route; an untimed step counts 0
    // for the steps after it (they are reached only by skipping it).
    let mut elapsed: u64 = 0;
    for (at, raw) in filter.targets.into_iter().enumerate() {
        let queue =
            raw.queue.or(targets.last().map(|previous| previous.queue)).ok_or_else(|| {
                fault(&format!("{path}[{at}].queue"), "the first target needs a queue")
            })?;
        let known_worker = match (raw.known_worker_sid, raw.known_worker_friendly_name) {
            (Some(_), Some(_)) => {
                let message = "give known_worker_sid or known_worker_friendly_name, not both";
                return Err(fault(&format!("{path}[{at}]"), message));
            }
            (Some(key), None) => Some(KnownWorker::Sid(key)),
            (None, Some(key)) => Some(KnownWorker::FriendlyName(key)),
            (None, None) => None,
        };
        elapsed += u64::from(raw.timeout.unwrap_or(0));
        targets.push(Target {
            queue,
            expression: raw.expression,
            priority: raw.priority,
            timeout: raw.timeout,
            ends_after: raw.timeout.map(|_| elapsed),
            order_by: raw.order_by,
            skip_if: raw.skip_if,
            known_worker,
        });
    }
    Ok(Filter { name: filter.filter_friendly_name, expression: filter.expression, targets })
}

fn queue<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Sid, D::Error> {
    let text = String::deserialize(deserializer)?;
    Sid::parse_with(&text, SidPrefix::TASK_QUEUE)
        .map_err(|_| D::Error::custom(format!("expected a TaskQueue SID (WQ…), found '{text}'")))
}

fn optional_queue<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Sid>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) => queue(Value::String(text)).map(Some).map_err(D::Error::custom),
        Some(other) => {
            Err(D::Error::custom(format!("expected a TaskQueue SID (WQ…), found {other}")))
        }
    }
}

/// A text that may be absent, `null` or blank (a console may write `""` for "none").
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.filter(|text| !text.trim().is_empty()))
}

fn optional_expression<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Expression>, D::Error> {
    optional_text(deserializer)?
        .map(|text| Expression::parse(&text).map_err(D::Error::custom))
        .transpose()
}

fn optional_order_by<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<OrderBy>, D::Error> {
    optional_text(deserializer)?
        .map(|text| OrderBy::parse(&text).map_err(D::Error::custom))
        .transpose()
}

/// `known_worker_*`: a task attribute (`task.targetSid`, or a bare key, which reads the task).
fn optional_task_key<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<KeyPath>, D::Error> {
    let Some(text) = optional_text(deserializer)? else { return Ok(None) };
    let key = KeyPath::parse(&text).map_err(D::Error::custom)?;
    if key.root() == Root::Worker {
        return Err(D::Error::custom("names a task attribute (task.…), not a worker's"));
    }
    Ok(Some(key))
}

fn optional_priority<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    whole_number(deserializer, MAX_PRIORITY, "a priority from 0 to 2147483647")
}

fn optional_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    whole_number(deserializer, u64::from(u32::MAX), "a whole number of seconds")
}

/// A whole number up to `max`, written as a JSON number or as a string holding one.
fn whole_number<'de, D: Deserializer<'de>>(
    deserializer: D,
    max: u64,
    what: &str,
) -> Result<Option<u32>, D::Error> {
    let number = match Option::<Value>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    number
        .filter(|number| *number <= max)
        .and_then(|number| u32::try_from(number).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected {what}")))
}
