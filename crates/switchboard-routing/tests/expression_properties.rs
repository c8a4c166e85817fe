//! Property tests of the expression language: random expression trees, printed as text in random
//! styles and parsed back, evaluate as a plain reference evaluator of the trees says; and parsing
//! any text returns (never panics).
//!
//! The reference below is written apart from the real evaluator and as plainly as possible: it
//! clones values, compares canonical JSON (numbers as floats) with serde_json's own `==`, and
//! knows nothing of the parser.

use std::cmp::Ordering;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use switchboard_routing::expression::{Expression, Operands, Side};

/// A generated expression tree.
#[derive(Debug, Clone)]
enum Tree {
    And(Vec<Tree>),
    Or(Vec<Tree>),
    Not(Box<Tree>),
    Compare(Term, Op, Term),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Has,
    In,
    NotIn,
    Contains,
}

#[derive(Debug, Clone)]
enum Term {
    Constant(Value),
    Key(Option<&'static str>, Vec<Step>),
    Null,
}

#[derive(Debug, Clone)]
enum Step {
    Field(&'static str),
    Index(usize),
}

/// Key names: few, so that keys usually exist, and some begin like keywords (`or`, `not`, `in`).
const NAMES: &[&str] = &["a", "b", "order", "nota", "index"];

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(NAMES)
}

/// Strings from a small set, so that constants often equal attributes or lie inside them.
fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "a", "b", "ab", "b a", "é", "aé b"]).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        2 => (-2i64..3).prop_map(Value::from),
        1 => prop::sample::select(vec![0.5, -1.5, 2.0]).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
}

/// A document's value: mostly scalars and arrays of them, some nulls and objects over [`NAMES`].
fn document_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![6 => scalar(), 1 => Just(Value::Null)];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            2 => prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            1 => prop::collection::vec((name(), inner), 0..4).prop_map(|members| {
                Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Value> {
    prop::collection::vec((name(), document_value()), 2..7).prop_map(|members| {
        Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
    })
}

fn term() -> impl Strategy<Value = Term> {
    let step =
        prop_oneof![3 => name().prop_map(Step::Field), 1 => (0usize..3).prop_map(Step::Index)];
    let prefix = prop::sample::select(vec![None, Some("worker"), Some("task")]);
    prop_oneof![
        2 => scalar().prop_map(Term::Constant),
        1 => Just(Term::Null),
        2 => prop::collection::vec(scalar(), 0..4).prop_map(|list| Term::Constant(Value::Array(list))),
        4 => (prefix, name(), prop::collection::vec(step, 0..2)).prop_map(|(prefix, first, mut steps)| {
            steps.insert(0, Step::Field(first));
            Term::Key(prefix, steps)
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    use Op::*;
    prop::sample::select(vec![Eq, Ne, Gt, Lt, Ge, Le, Has, In, NotIn, Contains])
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (term(), op(), term()).prop_map(|(left, op, right)| Tree::Compare(left, op, right));
    leaf.prop_recursive(5, 32, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Tree::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Tree::Or),
            inner.prop_map(|tree| Tree::Not(Box::new(tree))),
        ]
    })
}

// ---- the reference evaluator ----

struct Documents<'a> {
    bare: Side,
    worker: &'a Value,
    task: &'a Value,
}

fn reference(tree: &Tree, documents: &Documents<'_>) -> bool {
    match tree {
        Tree::And(trees) => trees.iter().all(|tree| reference(tree, documents)),
        Tree::Or(trees) => trees.iter().any(|tree| reference(tree, documents)),
        Tree::Not(tree) => !reference(tree, documents),
        Tree::Compare(left, op, right) => {
            let null_test = matches!(left, Term::Null) || matches!(right, Term::Null);
            let left = lookup(left, documents);
            let right = lookup(right, documents);
            match op {
                Op::Eq if null_test => left.is_none() && right.is_none(),
                Op::Ne if null_test => !(left.is_none() && right.is_none()),
                Op::Ne => !compare(Op::Eq, left, right),
                Op::NotIn => !compare(Op::In, left, right),
                _ => compare(*op, left, right),
            }
        }
    }
}

/// The term's value, canonical; `None` for a missing key or a JSON null.
fn lookup(term: &Term, documents: &Documents<'_>) -> Option<Value> {
    let (prefix, steps) = match term {
        Term::Constant(value) => return Some(canonical(value)),
        Term::Null => return None,
        Term::Key(prefix, steps) => (prefix, steps),
    };
    let mut value = match (prefix, documents.bare) {
        (Some("worker"), _) | (None, Side::Worker) => documents.worker,
        _ => documents.task,
    };
    for step in steps {
        value = match step {
            Step::Field(name) => value.get(*name)?,
            Step::Index(index) => value.as_array()?.get(*index)?,
        };
    }
    if value.is_null() {
        None
    } else {
        Some(canonical(value))
    }
}

/// Every number as a float, so that serde_json's `==` compares numbers by value.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(number) => json!(number.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(members) => {
            Value::Object(members.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

fn compare(op: Op, left: Option<Value>, right: Option<Value>) -> bool {
    let (Some(left), Some(right)) = (left, right) else { return false };
    // Nulls inside arrays and objects never equal anything, not even another null.
    let equal = |a: &Value, b: &Value| a == b && !contains_null(a);
    let ordering = match (&left, &right) {
        (Value::Number(a), Value::Number(b)) => {
            a.as_f64().unwrap().partial_cmp(&b.as_f64().unwrap())
        }
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        Op::Eq => equal(&left, &right),
        Op::Gt => ordering == Some(Ordering::Greater),
        Op::Lt => ordering == Some(Ordering::Less),
        Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        Op::Has => {
            left.as_array().is_some_and(|items| items.iter().any(|item| equal(item, &right)))
        }
        Op::In => right.as_array().is_some_and(|items| items.iter().any(|item| equal(item, &left))),
        Op::Contains => match (&left, &right) {
            (Value::String(a), Value::String(b)) => a.contains(b.as_str()),
            (Value::Array(items), _) => items.iter().any(|item| equal(item, &right)),
            _ => false,
        },
        Op::Ne | Op::NotIn => unreachable!("negations are handled by the caller"),
    }
}

fn contains_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(contains_null),
        Value::Object(members) => members.values().any(contains_null),
        _ => false,
    }
}

// ---- printing a tree as text, in a random style ----

/// The printer's source of style choices: a small xorshift generator from a proptest seed.
struct Style(u64);

impl Style {
    fn pick(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// Spaces around a symbol: none is fine.
    fn space(&mut self) -> &'static str {
        ["", " ", "  ", "\t"][self.pick(4) as usize]
    }

    /// Spaces around a keyword: at least one, else it would join a neighbouring word.
    fn gap(&mut self) -> &'static str {
        [" ", "  ", " \n "][self.pick(3) as usize]
    }

    /// A keyword in random case: `and`, `AND`, `aNd`...
    fn keyword(&mut self, word: &str) -> String {
        let mut out = String::new();
        for c in word.chars() {
            out.push(if self.pick(2) == 0 {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            });
        }
        out
    }
}

/// Precedence levels: a child printed inside a tighter parent needs parentheses.
fn level(tree: &Tree) -> u8 {
    match tree {
        Tree::Or(_) => 0,
        Tree::And(_) => 1,
        Tree::Not(_) => 2,
        Tree::Compare(..) => 3,
    }
}

fn print(tree: &Tree, style: &mut Style) -> String {
    match tree {
        Tree::And(trees) | Tree::Or(trees) => {
            let word = if matches!(tree, Tree::And(_)) { "and" } else { "or" };
            let parts: Vec<String> =
                trees.iter().map(|child| child_text(tree, child, style)).collect();
            let mut out = parts[0].clone();
            for part in &parts[1..] {
                out = format!("{out}{}{}{}{part}", style.gap(), style.keyword(word), style.gap());
            }
            out
        }
        Tree::Not(child) => {
            format!("{}{}{}", style.keyword("not"), style.gap(), child_text(tree, child, style))
        }
        Tree::Compare(left, op, right) => {
            let op = op_text(*op, style);
            format!("{}{op}{}", term_text(left, style), term_text(right, style))
        }
    }
}

/// A child of `parent`, in parentheses when precedence needs them and now and then when not.
fn child_text(parent: &Tree, child: &Tree, style: &mut Style) -> String {
    let text = print(child, style);
    // An AND inside an AND (an OR inside an OR) needs none: both are associative.
    if level(child) < level(parent) || style.pick(5) == 0 {
        format!("({}{text}{})", style.space(), style.space())
    } else {
        text
    }
}

fn op_text(op: Op, style: &mut Style) -> String {
    let symbol =
        |text: &str, style: &mut Style| format!("{}{text}{}", style.space(), style.space());
    match op {
        Op::Eq if style.pick(2) == 0 => symbol("=", style),
        Op::Eq => symbol("==", style),
        Op::Ne => symbol("!=", style),
        Op::Gt => symbol(">", style),
        Op::Lt => symbol("<", style),
        Op::Ge => symbol(">=", style),
        Op::Le => symbol("<=", style),
        Op::Has => format!("{}{}{}", style.gap(), style.keyword("has"), style.gap()),
        Op::In => format!("{}{}{}", style.gap(), style.keyword("in"), style.gap()),
        Op::NotIn => format!(
            "{}{}{}{}{}",
            style.gap(),
            style.keyword("not"),
            style.gap(),
            style.keyword("in"),
            style.gap()
        ),
        Op::Contains => format!("{}{}{}", style.gap(), style.keyword("contains"), style.gap()),
    }
}

fn term_text(term: &Term, style: &mut Style) -> String {
    match term {
        Term::Constant(value) => constant_text(value, style),
        Term::Null => style.keyword("null"),
        Term::Key(prefix, steps) => {
            let mut out = prefix.map(|p| format!("{p}.")).unwrap_or_default();
            for (at, step) in steps.iter().enumerate() {
                match step {
                    Step::Field(name) if at == 0 => out.push_str(name),
                    Step::Field(name) => out.push_str(&format!(".{name}")),
                    Step::Index(index) => out.push_str(&format!("[{index}]")),
                }
            }
            out
        }
    }
}

fn constant_text(value: &Value, style: &mut Style) -> String {
    match value {
        Value::String(text) if style.pick(2) == 0 => format!("'{text}'"),
        Value::String(text) => format!("\"{text}\""),
        Value::Bool(flag) => style.keyword(if *flag { "true" } else { "false" }),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| constant_text(item, style)).collect();
            let comma = format!("{},{}", style.space(), style.space());
            format!("[{}{}{}]", style.space(), items.join(&comma), style.space())
        }
        other => unreachable!("no such constant: {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn parsed_text_evaluates_as_the_reference(
        tree in tree(),
        worker in document(),
        task in document(),
        bare_is_worker in any::<bool>(),
        seed in 1u64..,
    ) {
        let source = print(&tree, &mut Style(seed));
        let expression = Expression::parse(&source)
            .map_err(|e| TestCaseError::fail(format!("{source:?}: {e}")))?;
        let bare = if bare_is_worker { Side::Worker } else { Side::Task };
        let expected = reference(&tree, &Documents { bare, worker: &worker, task: &task });
        let operands = Operands { bare, worker: Some(&worker), task: Some(&task) };
        prop_assert_eq!(expression.evaluate(&operands), expected, "{}", source);
        prop_assert_eq!(expression.source(), source.as_str());
    }

    #[test]
    fn parsing_any_text_returns(source in "\\PC{0,60}") {
        check_total(&source)?;
    }

    #[test]
    fn parsing_near_miss_text_returns(
        source in "([a-z_.\\[\\]0-9'\" ()=!<>,-]|and|or|not|in|has|contains|true|false|null| ){0,40}",
    ) {
        check_total(&source)?;
    }
}

/// Parsing returns (a panic fails the test); a fault lies within the text; an expression that
/// parses evaluates.
fn check_total(source: &str) -> Result<(), TestCaseError> {
    match Expression::parse(source) {
        Ok(expression) => {
            let document = json!({"a": [1, "x"], "b": {"c": 2}});
            let _ = expression.evaluate(&Operands::bare_worker(&document, Some(&document)));
        }
        Err(fault) => {
            prop_assert!(fault.position <= source.chars().count(), "{:?}: {}", source, fault)
        }
    }
    Ok(())
}
