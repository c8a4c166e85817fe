//! Unit tests of the expression language: each operator, the NULL rules and the error positions.

use serde_json::{json, Value};

use super::*;

fn worker() -> Value {
    json!({
        "sid": "WK0123456789abcdef0123456789abcdef",
        "activity_name": "Available",
        "languages": ["en", "es"],
        "level": 3,
        "rating": 4.5,
        "vip": true,
        "contact_uri": "client:alice",
        "address": {"city": "Lyon", "zip": "69001"},
        "teams": [{"name": "sales"}, {"name": "support"}],
        "nothing": null
    })
}

fn task() -> Value {
    json!({
        "type": "support",
        "preferred": ["WK0123456789abcdef0123456789abcdef", "WKffff"],
        "language": "en",
        "priority": 3,
        "ignoreWorkerContactUri": "client:bob"
    })
}

/// Evaluates `source` with bare keys reading the worker, the task given too.
fn on_worker(source: &str) -> bool {
    let (worker, task) = (worker(), task());
    let expression = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    expression.evaluate(&Operands::bare_worker(&worker, Some(&task)))
}

fn error(source: &str) -> ExpressionError {
    Expression::parse(source).expect_err(source)
}

#[test]
fn equality_by_value_without_coercion() {
    assert!(on_worker("level == 3"));
    assert!(on_worker("level = 3"));
    assert!(on_worker("level == 3.0"));
    assert!(on_worker("rating == 4.5"));
    assert!(!on_worker("level == 4"));
    assert!(!on_worker("level == '3'"));
    assert!(on_worker("activity_name == 'Available'"));
    assert!(!on_worker("activity_name == 'available'"));
    assert!(on_worker("vip == true"));
    assert!(!on_worker("vip == 'true'"));
    assert!(on_worker("languages == ['en', 'es']"));
    assert!(!on_worker("languages == ['es', 'en']"));
    assert!(on_worker("1==1"));
    assert!(!on_worker("1==2"));
}

#[test]
fn inequality_is_the_negation_of_equality() {
    assert!(on_worker("level != 4"));
    assert!(!on_worker("level != 3"));
    assert!(on_worker("level != '3'"));
    // NULL: a missing key is unequal to everything, a null attribute too.
    assert!(on_worker("missing != 'x'"));
    assert!(on_worker("nothing != 1"));
    assert!(!on_worker("missing == 'x'"));
    // Flex's transfer pattern: the sender is excluded, everyone else matches.
    assert!(on_worker("worker.contact_uri != task.ignoreWorkerContactUri"));
    assert!(on_worker("worker.contact_uri != task.absent"));
    assert!(!on_worker("worker.contact_uri != 'client:alice'"));
}

#[test]
fn null_asks_whether_a_key_is_null() {
    assert!(on_worker("missing == null"));
    assert!(on_worker("nothing == NULL"));
    assert!(on_worker("null == task.absent"));
    assert!(!on_worker("level == null"));
    assert!(on_worker("level != null"));
    assert!(!on_worker("missing != null"));
    assert!(on_worker("null == null"));
    assert!(!on_worker("missing > null"));
    assert!(!on_worker("languages HAS null"));
    assert!(on_worker("level NOT IN null"));
    assert!(error("null.x == 1").message.contains("extraneous input '.'"));
}

#[test]
fn ordering_of_numbers_and_strings() {
    assert!(on_worker("level > 2"));
    assert!(!on_worker("level > 3"));
    assert!(on_worker("level >= 3"));
    assert!(on_worker("level < 3.5"));
    assert!(on_worker("level <= 3"));
    assert!(!on_worker("level <= 2"));
    assert!(on_worker("level > -1"));
    assert!(on_worker("address.zip > '69000'"));
    assert!(on_worker("activity_name < 'B'"));
    // Mixed types and NULL never order.
    assert!(!on_worker("level > '1'"));
    assert!(!on_worker("level < '9'"));
    assert!(!on_worker("missing > 0"));
    assert!(!on_worker("missing <= 0"));
    assert!(!on_worker("vip > false"));
}

#[test]
fn has_reads_arrays_only() {
    assert!(on_worker("languages HAS 'en'"));
    assert!(on_worker("languages has \"es\""));
    assert!(!on_worker("languages HAS 'fr'"));
    // HAS on a string is accepted and never matches, as Twilio does.
    assert!(!on_worker("activity_name HAS 'Available'"));
    assert!(!on_worker("missing HAS 'en'"));
}

#[test]
fn in_and_not_in_read_lists_and_array_attributes() {
    assert!(on_worker("activity_name IN ['Available', 'Busy']"));
    assert!(on_worker("level in [1, 2, 3]"));
    assert!(!on_worker("activity_name IN ['Busy']"));
    assert!(!on_worker("activity_name IN []"));
    assert!(on_worker("worker.sid IN task.preferred"));
    assert!(!on_worker("worker.sid IN task.language"));
    assert!(on_worker("activity_name NOT IN ['Busy']"));
    assert!(!on_worker("activity_name not in ['Available']"));
    assert!(on_worker("missing NOT IN ['x']"));
    assert!(!on_worker("missing IN ['x']"));
}

#[test]
fn contains_is_a_substring_or_a_member() {
    assert!(on_worker("activity_name CONTAINS 'vail'"));
    assert!(!on_worker("activity_name CONTAINS 'VAIL'"));
    assert!(on_worker("languages contains 'en'"));
    assert!(!on_worker("level CONTAINS 3"));
    assert!(!on_worker("missing CONTAINS 'a'"));
}

#[test]
fn and_or_not_and_their_precedence() {
    assert!(on_worker("level == 3 AND vip == true"));
    assert!(!on_worker("level == 3 and vip == false"));
    assert!(on_worker("level == 4 OR vip == true"));
    assert!(!on_worker("level == 4 Or vip == false"));
    assert!(on_worker("NOT level == 4"));
    assert!(!on_worker("not (level == 3)"));
    assert!(on_worker("NOT NOT level == 3"));
    // AND binds tighter than OR: true OR (false AND false).
    assert!(on_worker("1 == 1 OR 1 == 2 AND 1 == 2"));
    assert!(!on_worker("(1 == 1 OR 1 == 2) AND 1 == 2"));
    // NOT binds tighter than AND: (NOT false) AND true.
    assert!(on_worker("NOT 1 == 2 AND 1 == 1"));
    assert!(!on_worker("NOT (1 == 2 OR 1 == 1)"));
}

#[test]
fn keys_follow_dots_and_indexes() {
    assert!(on_worker("address.city == 'Lyon'"));
    assert!(on_worker("languages[1] == 'es'"));
    assert!(on_worker("teams[1].name == 'support'"));
    assert!(!on_worker("teams[2].name == 'support'"));
    assert!(!on_worker("address[0] == 'Lyon'"));
    assert!(!on_worker("languages.first == 'en'"));
}

#[test]
fn worker_and_task_prefixes_name_their_documents() {
    let (worker, task) = (worker(), task());
    let filter = Expression::parse("type == 'support' AND task.priority == worker.level").unwrap();
    assert!(filter.evaluate(&Operands {
        bare: Side::Task,
        worker: Some(&worker),
        task: Some(&task)
    }));
    assert!(!filter.evaluate(&Operands {
        bare: Side::Worker,
        worker: Some(&worker),
        task: Some(&task)
    }));
    // A document not given reads as NULL.
    assert!(!filter.evaluate(&Operands::bare_task(&task)));
    let queue = Expression::parse("worker.level == 3 AND level == 3").unwrap();
    assert!(queue.evaluate(&Operands::bare_worker(&worker, None)));
    assert!(!on_worker("task.level == 3"));
    // A lone `worker` is a bare key like any other.
    let odd = json!({"worker": 1});
    let bare = Expression::parse("worker == 1").unwrap();
    assert!(bare.evaluate(&Operands::bare_worker(&odd, None)));
}

#[test]
fn keywords_are_case_insensitive_and_whole_words() {
    assert!(on_worker("level == 3 aNd NoT vip == FALSE"));
    assert!(on_worker("languages HaS 'en' oR 1 == 2"));
    let android = json!({"android": true, "order": 1});
    let expression = Expression::parse("android == true AND order == 1").unwrap();
    assert!(expression.evaluate(&Operands::bare_worker(&android, None)));
}

#[test]
fn spacing_and_quotes_are_free() {
    assert!(on_worker("  level==3   "));
    assert!(on_worker("(level>2)AND(vip==true)"));
    assert!(on_worker("languages HAS\"en\""));
    assert!(on_worker("address.city == \"Lyon\""));
    assert!(on_worker("activity_name IN[ 'Busy' ,\"Available\" ]"));
    assert!(!on_worker("activity_name IN [ ]"));
    let quoted = json!({"note": "it's \"quoted\""});
    let expression = Expression::parse(r#"note == 'it"s "quoted"' OR note == "it's \"quoted\"""#);
    // A string holds any character but its own quote: the second string ends at its first `\"`.
    assert!(expression.is_err());
    let expression = Expression::parse("note CONTAINS \"it's\"").unwrap();
    assert!(expression.evaluate(&Operands::bare_worker(&quoted, None)));
}

#[test]
fn source_is_kept_as_given() {
    let expression = Expression::parse(" languages HAS 'en' ").unwrap();
    assert_eq!(expression.source(), " languages HAS 'en' ");
}

#[test]
fn a_hyphen_is_refused_where_it_stands() {
    let fault = error("skill-level > 3");
    assert_eq!(fault.position, 5);
    assert!(fault.message.starts_with("extraneous input '-' expecting {"), "{}", fault.message);
    assert!(fault.message.contains("'=='") && fault.message.contains("HAS"), "{}", fault.message);
    assert!(fault.to_string().ends_with("at position 5"), "{fault}");
}

#[test]
fn faults_carry_their_character_position() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "mismatched input '<EOF>'"),
        ("level ==", 8, "mismatched input '<EOF>'"),
        ("level == 3 AND", 14, "mismatched input '<EOF>'"),
        ("level == 3 foo", 11, "extraneous input 'foo' expecting"),
        ("(level == 3", 11, "mismatched input '<EOF>' expecting {')', '.', AND, OR}"),
        ("level == 'open", 14, "mismatched input '<EOF>' expecting closing quote"),
        ("level === 3", 8, "extraneous input '='"),
        ("levels[x] == 1", 7, "extraneous input 'x'"),
        ("a == 1 AND AND b == 2", 11, "extraneous input 'AND'"),
        ("languages HAS", 13, "mismatched input '<EOF>'"),
        ("1 == [a]", 6, "extraneous input 'a'"),
        ("and == 1", 0, "extraneous input 'and'"),
        ("level ! 3", 7, "extraneous input ' ' expecting '='"),
        // Positions count characters, not bytes.
        ("'é' == 'é' &", 11, "extraneous input '&'"),
    ];
    for (source, position, message) in cases {
        let fault = error(source);
        assert_eq!(fault.position, *position, "{source}: {fault}");
        assert!(fault.message.contains(message), "{source}: {fault}");
    }
}

#[test]
fn numbers_out_of_range_are_faults() {
    let fault = error("levels[99999999999999999999999] == 1");
    assert_eq!(fault.position, 7);
    assert!(fault.message.contains("index out of range"), "{fault}");
    let huge = format!("level == {}", "9".repeat(400));
    let fault = error(&huge);
    assert_eq!(fault.position, 9);
    assert!(fault.message.contains("number out of range"), "{fault}");
}

#[test]
fn length_and_depth_are_limited() {
    let long = format!("a == '{}'", "x".repeat(MAX_SOURCE_CHARS));
    assert_eq!(error(&long).position, MAX_SOURCE_CHARS);
    let deep = format!("{}1 == 1", "NOT ".repeat(MAX_DEPTH));
    assert!(error(&deep).message.contains("nested"), "{}", error(&deep));
    let fine = format!("{}1 == 1", "NOT ".repeat(MAX_DEPTH - 1));
    assert!(Expression::parse(&fine).is_ok());
    let parens = format!("{}1 == 1{}", "(".repeat(2000), ")".repeat(2000));
    assert!(Expression::parse(&parens).is_ok(), "parentheses alone add no depth");
}

#[test]
fn a_key_parses_alone() {
    let key = KeyPath::parse("task.targetSid").unwrap();
    assert_eq!(key.root(), Root::Task);
    let task = task();
    assert_eq!(key.resolve(&Operands::bare_task(&task)), None);
    let key = KeyPath::parse("preferred[1]").unwrap();
    assert_eq!(key.root(), Root::Bare);
    assert_eq!(key.resolve(&Operands::bare_task(&task)), Some(&json!("WKffff")));
    assert_eq!(KeyPath::parse("task.a b").unwrap_err().position, 7);
}
