//! TaskRouter's expression language: a queue's `TargetWorkers` and a workflow's filter, target
//! and `skip_if` expressions, parsed once and evaluated against JSON documents many times.
//!
//! The syntax is Twilio's (SQL-like):
//! - comparisons `==` (or `=`), `!=`, `>`, `<`, `>=`, `<=`, and `HAS`, `IN`, `NOT IN`, `CONTAINS`;
//! - `AND`, `OR`, `NOT` and parentheses; `NOT` binds tighter than `AND`, which binds tighter than
//!   `OR`; every keyword is case-insensitive;
//! - constants: strings in `'…'` or `"…"` (no escapes: a string holds any character but its own
//!   quote), numbers (`42`, `-1.5`), `true`/`false`, lists of those (`["en", 'es', 3]`), and
//!   `null`;
//! - keys (ASCII identifiers) with dot notation and indexes, `address.city`, `skills[0]`; a key
//!   cannot be a keyword (`and`, `in`, `true`, `null`...); hyphens are not allowed in
//!   keys (`skill-level > 3` is refused at the `-`, as Twilio refuses it); `worker.` and `task.`
//!   name a document explicitly, a bare key reads the [`Operands::bare`] one. `1==1` matches all.
//!
//! A malformed expression is refused with the character position of the fault and an ANTLR-style
//! message such as `extraneous input '-' expecting {'==', ...}` (Twilio answers code 20001).
//! Validation is syntactic only: any key may be named.
//!
//! Semantics, where Twilio's documentation is silent (decided here for what users expect):
//! - A missing key (or a JSON `null`) is NULL: `==`, `>`, `<`, `>=`, `<=`, `HAS`, `IN` and
//!   `CONTAINS` are false with NULL on either side.
//! - `!=` is exactly `NOT (a == b)` and `NOT IN` is exactly `NOT (a IN b)`, so they are *true* when
//!   a key is missing. Flex's transfer pattern `worker.contact_uri != task.ignoreWorkerContactUri`
//!   must match every worker for a task that does not set `ignoreWorkerContactUri`.
//! - No type coercion: `5 == '5'` and `true == 'true'` are false. Numbers compare by value
//!   (`1 == 1.0`); strings compare case-sensitively, and `>`/`<` order them by code points (so
//!   ISO dates order); `>`/`<` between other types is false.
//! - `a HAS b`: `a` is an array with an element equal to `b` (false if `a` is not an array, as
//!   Twilio accepts `HAS` on a string and never matches). `a IN b`: `b` is an array (a list
//!   constant or an array attribute) with an element equal to `a`; `a` is one value (an array
//!   `a` matches only an equal element, not any overlap).
//! - `a CONTAINS b`: for two strings, `b` is a substring of `a` (case-sensitive); for an array
//!   `a`, the same as `HAS`; otherwise false.
//! - `null` is a constant for asking about NULL (ours: Twilio documents none): `a == null` holds
//!   when `a` is missing or a JSON null, `a != null` when it is present. Every other operator is
//!   false with it (`NOT IN`, true). Without it, `a != null` would read a key named `null`.
//! - Arrays and objects are equal when their elements (members) are equal.
//! - `worker.` and `task.` always name the documents, even when the attributes hold a key
//!   `worker` or `task`; a document that is not given (`task.x` in a queue's expression evaluated
//!   for the worker list filter) reads as NULL. These prefixes are lowercase; keys are
//!   case-sensitive like JSON.
//!
//! Limits (the text comes from strangers): at most [`MAX_SOURCE_CHARS`] characters and nesting
//! at most [`MAX_DEPTH`] deep, so that evaluation and dropping never recurse deeply. The parser
//! recurses per parenthesis, on a stack chumsky grows as needed (its `stacker` feature), so no
//! text overflows it; the worst text measured, 8000 unclosed `(`, is refused in about 45 ms
//! (release build).

mod parser;

use std::cmp::Ordering;

use serde_json::Value;

/// The longest expression accepted, in characters.
pub const MAX_SOURCE_CHARS: usize = 8192;

/// The deepest nesting accepted: of `NOT`s and of `AND`/`OR` chains inside each other
/// (parentheses alone add none).
pub const MAX_DEPTH: usize = 64;

/// A parsed expression and the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    root: Node,
}

/// The documents an expression reads: `worker.x` and `task.x` name them explicitly; a bare key
/// (`languages HAS "en"`) reads `bare`'s document (worker attributes for a queue's TargetWorkers,
/// task attributes for a workflow filter).
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    pub bare: Side,
    pub worker: Option<&'a Value>,
    pub task: Option<&'a Value>,
}

/// Which document a bare key reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Worker,
    Task,
}

/// Why an expression was refused: where (a character index from 0) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ExpressionError {
    pub position: usize,
    pub message: String,
}

/// A node of the parsed tree. `AND` and `OR` chains are flattened into one node each, so a long
/// chain is shallow and short-circuits in one loop.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Any(Vec<Node>),
    All(Vec<Node>),
    Not(Box<Node>),
    Compare(Box<Comparison>),
}

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    left: Operand,
    operator: Operator,
    right: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Has,
    In,
    NotIn,
    Contains,
}

/// One side of a comparison. Constants are kept as JSON values so that both sides of every
/// comparison are `&Value`s and evaluation allocates nothing.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Constant(Value),
    Key(KeyPath),
    /// The constant `null`: `a == null` asks whether `a` is NULL (see the module's documentation).
    Null,
}

/// A key such as `worker.skills[0]`: which document, then the fields and indexes to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    root: Root,
    steps: Vec<Step>,
}

/// The document a key starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// No `worker.`/`task.` prefix: [`Operands::bare`] decides.
    Bare,
    Worker,
    Task,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
}

/// One clause of a sort such as `worker.level DESC`: a key and its direction (ascending when not
/// said, as in SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub key: KeyPath,
    pub descending: bool,
}

impl SortKey {
    /// Parses a comma-separated list of clauses: `worker.level DESC, worker.age ASC`; the words
    /// `ASC` and `DESC` are case-insensitive.
    pub fn parse_list(source: &str) -> Result<Vec<SortKey>, ExpressionError> {
        parser::parse_sort_keys(source)
    }
}

impl Expression {
    /// Parses `source`, or says where and why it is malformed.
    pub fn parse(source: &str) -> Result<Expression, ExpressionError> {
        let root = parser::parse_expression(source)?;
        Ok(Expression { source: source.to_owned(), root })
    }

    /// The text the expression was parsed from, as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it holds for these documents.
    pub fn evaluate(&self, operands: &Operands<'_>) -> bool {
        self.root.holds(operands)
    }
}

/// An expression inside JSON (a workflow's configuration) is its text; a malformed one is refused
/// with the parse fault, so that the JSON path of the field can be named with it.
impl<'de> serde::Deserialize<'de> for Expression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Expression, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Expression::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Expression {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'a> Operands<'a> {
    /// A worker's document read by bare keys, with the task's when there is one (a queue's
    /// `TargetWorkers`, a target's `expression`).
    pub fn bare_worker(worker: &'a Value, task: Option<&'a Value>) -> Operands<'a> {
        Operands { bare: Side::Worker, worker: Some(worker), task }
    }

    /// A task's document read by bare keys (a workflow filter's `expression`).
    pub fn bare_task(task: &'a Value) -> Operands<'a> {
        Operands { bare: Side::Task, worker: None, task: Some(task) }
    }

    fn document(&self, root: Root) -> Option<&'a Value> {
        match root {
            Root::Worker => self.worker,
            Root::Task => self.task,
            Root::Bare => match self.bare {
                Side::Worker => self.worker,
                Side::Task => self.task,
            },
        }
    }
}

impl KeyPath {
    /// Parses a key alone, such as a target's `known_worker_sid` (`task.targetSid`) or an
    /// `order_by` clause's key.
    pub fn parse(source: &str) -> Result<KeyPath, ExpressionError> {
        parser::parse_key(source)
    }

    /// Which document the key starts from.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The value the key names in these documents; `None` (NULL) when any step is missing.
    pub fn resolve<'a>(&self, operands: &Operands<'a>) -> Option<&'a Value> {
        let mut value = operands.document(self.root)?;
        for step in &self.steps {
            value = match step {
                Step::Field(name) => value.as_object()?.get(name)?,
                Step::Index(index) => value.as_array()?.get(*index)?,
            };
        }
        // A JSON null is NULL too: it equals nothing.
        (!value.is_null()).then_some(value)
    }
}

impl Node {
    fn holds(&self, operands: &Operands<'_>) -> bool {
        match self {
            Node::Any(nodes) => nodes.iter().any(|node| node.holds(operands)),
            Node::All(nodes) => nodes.iter().all(|node| node.holds(operands)),
            Node::Not(node) => !node.holds(operands),
            Node::Compare(comparison) => comparison.holds(operands),
        }
    }

    /// How deep the tree is, counting every node; checked against [`MAX_DEPTH`] once at parse.
    fn depth(&self) -> usize {
        match self {
            Node::Any(nodes) | Node::All(nodes) => {
                1 + nodes.iter().map(Node::depth).max().unwrap_or(0)
            }
            Node::Not(node) => 1 + node.depth(),
            Node::Compare(_) => 1,
        }
    }
}

impl Operand {
    fn value<'a>(&'a self, operands: &Operands<'a>) -> Option<&'a Value> {
        match self {
            Operand::Constant(value) => Some(value),
            Operand::Key(key) => key.resolve(operands),
            Operand::Null => None,
        }
    }
}

impl Comparison {
    fn holds(&self, operands: &Operands<'_>) -> bool {
        let left = self.left.value(operands);
        let right = self.right.value(operands);
        let null_test = matches!(self.left, Operand::Null) || matches!(self.right, Operand::Null);
        match self.operator {
            // `a == null` holds when both sides are NULL, whatever else holds with NULL.
            Operator::Equal if null_test => left.is_none() && right.is_none(),
            Operator::NotEqual if null_test => left.is_some() || right.is_some(),
            // The negations are true with NULL on either side (see the module's documentation).
            Operator::NotEqual => !both(left, right, equal),
            Operator::NotIn => !both(left, right, is_in),
            Operator::Equal => both(left, right, equal),
            Operator::Greater => both(left, right, |a, b| order(a, b) == Some(Ordering::Greater)),
            Operator::Less => both(left, right, |a, b| order(a, b) == Some(Ordering::Less)),
            Operator::GreaterOrEqual => both(left, right, |a, b| {
                matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal))
            }),
            Operator::LessOrEqual => both(left, right, |a, b| {
                matches!(order(a, b), Some(Ordering::Less | Ordering::Equal))
            }),
            Operator::Has => both(left, right, has),
            Operator::In => both(left, right, is_in),
            Operator::Contains => both(left, right, contains),
        }
    }
}

/// `test` on both values, false when either is NULL.
fn both(
    left: Option<&Value>,
    right: Option<&Value>,
    test: impl Fn(&Value, &Value) -> bool,
) -> bool {
    match (left, right) {
        (Some(left), Some(right)) => test(left, right),
        _ => false,
    }
}

/// Equality without coercion; numbers by value, so `1 == 1.0` (serde_json's own `==` tells an
/// integer from a float).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, a)| b.get(key).is_some_and(|b| equal(a, b)))
        }
        _ => false,
    }
}

/// The order of two numbers or two strings; `None` for anything else.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn has(array: &Value, element: &Value) -> bool {
    array.as_array().is_some_and(|array| array.iter().any(|item| equal(item, element)))
}

fn is_in(element: &Value, array: &Value) -> bool {
    has(array, element)
}

fn contains(whole: &Value, part: &Value) -> bool {
    match (whole, part) {
        (Value::String(whole), Value::String(part)) => whole.contains(part.as_str()),
        (Value::Array(_), _) => has(whole, part),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
