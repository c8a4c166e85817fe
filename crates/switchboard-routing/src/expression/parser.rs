//! The grammar of TaskRouter expressions (chumsky) and the rendering of its faults as Twilio's
//! ANTLR-style messages.
//!
//! ```text
//! expression := conjunction (OR conjunction)*
//! conjunction := negation (AND negation)*
//! negation   := NOT negation | '(' expression ')' | operand operator operand
//! operator   := '==' | '=' | '!=' | '>=' | '<=' | '>' | '<' | HAS | IN | NOT IN | CONTAINS
//! operand    := string | number | true | false | null | '[' scalar (',' scalar)* ']' | key
//! key        := identifier ('.' identifier | '[' digits ']')*
//! ```
//! Keywords are matched on whole identifiers, case-insensitively, so `android` is a key and not
//! `and` followed by `roid`; a keyword cannot start a key.

use chumsky::error::{Rich, RichPattern, RichReason};
use chumsky::prelude::*;
use serde_json::{Number, Value};

use super::{
    Comparison, ExpressionError, KeyPath, Node, Operand, Operator, Root, SortKey, Step, MAX_DEPTH,
    MAX_SOURCE_CHARS,
};

type Extra<'src> = extra::Err<Rich<'src, char>>;

/// Words that cannot start a key: they are operators or constants.
const RESERVED: &[&str] = &["and", "or", "not", "in", "has", "contains", "true", "false", "null"];

pub(super) fn parse_expression(source: &str) -> Result<Node, ExpressionError> {
    check_length(source)?;
    let node = expression()
        .padded()
        .then_ignore(end())
        .parse(source)
        .into_result()
        .map_err(|errors| fault(source, &errors))?;
    if node.depth() > MAX_DEPTH {
        return Err(ExpressionError {
            position: 0,
            message: format!("expression nested more than {MAX_DEPTH} deep"),
        });
    }
    Ok(node)
}

pub(super) fn parse_key(source: &str) -> Result<KeyPath, ExpressionError> {
    check_length(source)?;
    key()
        .padded()
        .then_ignore(end())
        .parse(source)
        .into_result()
        .map_err(|errors| fault(source, &errors))
}

pub(super) fn parse_sort_keys(source: &str) -> Result<Vec<SortKey>, ExpressionError> {
    check_length(source)?;
    let direction = keyword("ASC").to(false).or(keyword("DESC").to(true)).or_not();
    key()
        .padded()
        .then(direction)
        .map(|(key, descending)| SortKey { key, descending: descending.unwrap_or(false) })
        .separated_by(symbol(",", "','"))
        .at_least(1)
        .collect::<Vec<_>>()
        .padded()
        .then_ignore(end())
        .parse(source)
        .into_result()
        .map_err(|errors| fault(source, &errors))
}

fn check_length(source: &str) -> Result<(), ExpressionError> {
    // Counting stops early: a long text costs no more than the limit.
    if source.chars().nth(MAX_SOURCE_CHARS).is_some() {
        return Err(ExpressionError {
            position: MAX_SOURCE_CHARS,
            message: format!("expression longer than {MAX_SOURCE_CHARS} characters"),
        });
    }
    Ok(())
}

fn expression<'src>() -> impl Parser<'src, &'src str, Node, Extra<'src>> {
    recursive(|expression| {
        let group = expression.delimited_by(symbol("(", "'('"), symbol(")", "')'"));
        let comparison =
            operand().then(operator()).then(operand()).map(|((left, operator), right)| {
                Node::Compare(Box::new(Comparison { left, operator, right }))
            });
        let negation = recursive(|negation| {
            keyword("NOT")
                .ignore_then(negation)
                .map(|node| Node::Not(Box::new(node)))
                .or(group)
                .or(comparison)
        });
        let conjunction = negation
            .separated_by(keyword("AND"))
            .at_least(1)
            .collect::<Vec<_>>()
            .map(|nodes| chain(nodes, Node::All));
        conjunction
            .separated_by(keyword("OR"))
            .at_least(1)
            .collect::<Vec<_>>()
            .map(|nodes| chain(nodes, Node::Any))
            .boxed()
    })
}

/// One node for a chain of one, else the chain.
fn chain(mut nodes: Vec<Node>, make: fn(Vec<Node>) -> Node) -> Node {
    if nodes.len() == 1 {
        nodes.remove(0)
    } else {
        make(nodes)
    }
}

fn operator<'src>() -> impl Parser<'src, &'src str, Operator, Extra<'src>> + Clone {
    // Longer symbols first: `==` before `=`, `>=` before `>`.
    choice((
        symbol("==", "'=='").to(Operator::Equal),
        symbol("!=", "'!='").to(Operator::NotEqual),
        symbol(">=", "'>='").to(Operator::GreaterOrEqual),
        symbol("<=", "'<='").to(Operator::LessOrEqual),
        symbol("=", "'='").to(Operator::Equal),
        symbol(">", "'>'").to(Operator::Greater),
        symbol("<", "'<'").to(Operator::Less),
        keyword("HAS").to(Operator::Has),
        keyword("IN").to(Operator::In),
        keyword("NOT").then(keyword("IN")).to(Operator::NotIn),
        keyword("CONTAINS").to(Operator::Contains),
    ))
}

fn operand<'src>() -> impl Parser<'src, &'src str, Operand, Extra<'src>> + Clone {
    let list = scalar()
        .padded()
        .separated_by(just(',').labelled("','"))
        .collect::<Vec<_>>()
        .delimited_by(just('[').labelled("'['").padded(), just(']').labelled("']'"))
        .map(Value::Array);
    choice((
        scalar().or(list).map(Operand::Constant),
        word("null").to(Operand::Null),
        key().map(Operand::Key),
    ))
    .padded()
}

fn scalar<'src>() -> impl Parser<'src, &'src str, Value, Extra<'src>> + Clone {
    let quoted = |quote: char| {
        none_of(quote)
            .repeated()
            .to_slice()
            .delimited_by(just(quote), just(quote).labelled("closing quote"))
    };
    let string = quoted('\'')
        .or(quoted('"'))
        .map(|text: &str| Value::String(text.to_owned()))
        .labelled("string");
    let number = just('-')
        .or_not()
        .then(text::digits(10))
        .then(just('.').then(text::digits(10)).or_not())
        .to_slice()
        // `validate` rather than `try_map`: the fault is this number's, not a reason to try the
        // other alternatives (whose "expecting" would hide it).
        .validate(|text: &str, extra, emitter| {
            number(text).unwrap_or_else(|| {
                emitter.emit(Rich::custom(extra.span(), format!("number out of range '{text}'")));
                Value::Null
            })
        })
        .labelled("number");
    let boolean = word("true").to(Value::Bool(true)).or(word("false").to(Value::Bool(false)));
    choice((string, number, boolean))
}

/// An integer stays an integer (it prints back as written); anything else is a finite float.
fn number(text: &str) -> Option<Value> {
    if let Ok(integer) = text.parse::<i64>() {
        return Some(Value::Number(integer.into()));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number)
}

fn key<'src>() -> impl Parser<'src, &'src str, KeyPath, Extra<'src>> + Clone {
    let first = text::ascii::ident()
        .filter(|name: &&str| !RESERVED.iter().any(|word| name.eq_ignore_ascii_case(word)))
        .labelled("key");
    let field =
        just('.').ignore_then(text::ascii::ident()).map(|name: &str| Step::Field(name.to_owned()));
    let index = text::int(10)
        .validate(|digits: &str, extra, emitter| {
            Step::Index(digits.parse().unwrap_or_else(|_| {
                emitter.emit(Rich::custom(extra.span(), format!("index out of range '{digits}'")));
                0
            }))
        })
        .delimited_by(just('['), just(']').labelled("']'"));
    first
        .then(field.or(index).repeated().collect::<Vec<_>>())
        .map(|(first, steps): (&str, Vec<Step>)| key_path(first, steps))
}

/// `worker.x` and `task.x` name a document; anything else (even a lone `worker`) is a bare key.
fn key_path(first: &str, mut steps: Vec<Step>) -> KeyPath {
    let root = match (first, steps.first()) {
        ("worker", Some(Step::Field(_))) => Root::Worker,
        ("task", Some(Step::Field(_))) => Root::Task,
        _ => {
            steps.insert(0, Step::Field(first.to_owned()));
            Root::Bare
        }
    };
    KeyPath { root, steps }
}

/// A whole identifier equal to `name` regardless of case.
fn word<'src>(name: &'static str) -> impl Parser<'src, &'src str, (), Extra<'src>> + Clone {
    text::ascii::ident()
        .filter(move |found: &&str| found.eq_ignore_ascii_case(name))
        .ignored()
        .labelled(name)
}

fn keyword<'src>(name: &'static str) -> impl Parser<'src, &'src str, (), Extra<'src>> + Clone {
    word(name).padded()
}

fn symbol<'src>(
    text: &'static str,
    label: &'static str,
) -> impl Parser<'src, &'src str, (), Extra<'src>> + Clone {
    just(text).ignored().labelled(label).padded()
}

/// The first fault as Twilio words it: `extraneous input 'x' expecting {...}` at a character
/// position (chumsky's spans are byte offsets).
fn fault(source: &str, errors: &[Rich<'_, char>]) -> ExpressionError {
    let Some(error) = errors.first() else {
        return ExpressionError { position: 0, message: "malformed expression".to_owned() };
    };
    let start = error.span().start.min(source.len());
    let position = source[..start].chars().count();
    let message = match error.reason() {
        RichReason::Custom(message) => message.clone(),
        RichReason::ExpectedFound { expected, found } => {
            let input = match found {
                Some(_) => format!("extraneous input '{}'", token_at(&source[start..])),
                None => "mismatched input '<EOF>'".to_owned(),
            };
            format!("{input} expecting {}", expected_list(expected))
        }
    };
    ExpressionError { position, message }
}

/// The token that starts `rest`, as a person reads it: a whole word, or one character.
fn token_at(rest: &str) -> &str {
    let word_length = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(at, _)| at);
    if word_length > 0 {
        return &rest[..word_length];
    }
    rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
}

fn expected_list(expected: &[RichPattern<'_, char>]) -> String {
    let mut names: Vec<String> = expected
        .iter()
        .filter_map(|pattern| match pattern {
            RichPattern::Token(c) => Some(format!("'{}'", **c)),
            // Whitespace is always allowed between tokens: naming it helps nobody.
            // Neither is more digits after a number: the fault is rarely there.
            RichPattern::Label(label) if label.contains("whitespace") || label == "digit" => None,
            RichPattern::Label(label) => Some(label.to_string()),
            RichPattern::Identifier(name) => Some(name.clone()),
            RichPattern::EndOfInput => Some("<EOF>".to_owned()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [] => "a valid expression".to_owned(),
        [one] => one.clone(),
        many => format!("{{{}}}", many.join(", ")),
    }
}
