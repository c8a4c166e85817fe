//! The conditions of Studio's `split-based-on` widget: each compares the widget's rendered
//! `input` with a condition's rendered `value`.
//!
//! Studio's rules, and what this crate decided where they are not written down:
//! - The subject is the widget's `input`, as Studio's documentation says; a condition's
//!   `arguments` (the editor writes the same template there) are kept but not read.
//! - The conditions of one `match` transition must all hold; transitions are tried in their
//!   order in the definition and the first that holds is taken, else `noMatch`.
//! - String comparisons ignore case (Unicode lowercase) and surrounding whitespace, so an SMS
//!   reply of "Yes " matches `equal_to` "yes".
//! - `equal_to`, `not_equal_to`, `matches_any_of` and `does_not_match_any_of` compare as numbers
//!   when both sides parse as numbers ("1.0" equals "1"), as strings otherwise.
//! - `less_than` and `greater_than` compare numbers only: when either side is not a number the
//!   condition does not hold (decided: an alphabetical order would surprise more than help).
//! - `matches_any_of` splits its value at commas and trims each item.
//! - `is_blank` holds for an empty or whitespace-only input.
//! - `regex` finds the pattern anywhere in the input (anchor it with `^…$` to match the whole),
//!   case-sensitive as written (`(?i)` makes it insensitive), with the `regex` crate: linear
//!   time, and a compiled size limit so a stranger's pattern cannot take the memory.

use regex::{Regex, RegexBuilder};

/// The largest compiled form of a `regex` condition, in bytes.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;

/// One of Studio's condition types, by its name in the definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionType {
    EqualTo,
    NotEqualTo,
    MatchesAnyOf,
    DoesNotMatchAnyOf,
    Contains,
    DoesNotContain,
    StartsWith,
    DoesNotStartWith,
    LessThan,
    GreaterThan,
    IsBlank,
    IsNotBlank,
    Regex,
}

impl ConditionType {
    pub const ALL: [(ConditionType, &'static str); 13] = [
        (ConditionType::EqualTo, "equal_to"),
        (ConditionType::NotEqualTo, "not_equal_to"),
        (ConditionType::MatchesAnyOf, "matches_any_of"),
        (ConditionType::DoesNotMatchAnyOf, "does_not_match_any_of"),
        (ConditionType::Contains, "contains"),
        (ConditionType::DoesNotContain, "does_not_contain"),
        (ConditionType::StartsWith, "starts_with"),
        (ConditionType::DoesNotStartWith, "does_not_start_with"),
        (ConditionType::LessThan, "less_than"),
        (ConditionType::GreaterThan, "greater_than"),
        (ConditionType::IsBlank, "is_blank"),
        (ConditionType::IsNotBlank, "is_not_blank"),
        (ConditionType::Regex, "regex"),
    ];

    pub fn parse(name: &str) -> Option<ConditionType> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }

    /// Whether the condition compares with a `value` (all but the blank tests).
    pub fn needs_value(self) -> bool {
        !matches!(self, ConditionType::IsBlank | ConditionType::IsNotBlank)
    }

    /// Whether `input` meets the condition with `value`. `regex` is the compiled pattern when it
    /// was compiled ahead (a literal value); otherwise `value` is compiled here.
    pub fn holds(self, input: &str, value: &str, regex: Option<&Regex>) -> Result<bool, String> {
        let (input_text, value_text) = (fold(input), fold(value));
        Ok(match self {
            ConditionType::EqualTo => same(&input_text, &value_text),
            ConditionType::NotEqualTo => !same(&input_text, &value_text),
            ConditionType::MatchesAnyOf => any_of(&input_text, &value_text),
            ConditionType::DoesNotMatchAnyOf => !any_of(&input_text, &value_text),
            ConditionType::Contains => input_text.contains(&value_text),
            ConditionType::DoesNotContain => !input_text.contains(&value_text),
            ConditionType::StartsWith => input_text.starts_with(&value_text),
            ConditionType::DoesNotStartWith => !input_text.starts_with(&value_text),
            ConditionType::LessThan => numbers(input, value).is_some_and(|(a, b)| a < b),
            ConditionType::GreaterThan => numbers(input, value).is_some_and(|(a, b)| a > b),
            ConditionType::IsBlank => input.trim().is_empty(),
            ConditionType::IsNotBlank => !input.trim().is_empty(),
            ConditionType::Regex => match regex {
                Some(compiled) => compiled.is_match(input),
                None => compile_regex(value)?.is_match(input),
            },
        })
    }
}

/// Compiles a `regex` condition's pattern within [`MAX_REGEX_BYTES`].
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| e.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
}

fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn numbers(a: &str, b: &str) -> Option<(f64, f64)> {
    Some((number(a)?, number(b)?))
}

/// Equality of two folded texts: as numbers when both are numbers.
fn same(a: &str, b: &str) -> bool {
    match numbers(a, b) {
        Some((x, y)) => x == y,
        None => a == b,
    }
}

fn any_of(input: &str, list: &str) -> bool {
    list.split(',').any(|item| same(input, item.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(kind: &str, input: &str, value: &str) -> bool {
        ConditionType::parse(kind).unwrap().holds(input, value, None).unwrap()
    }

    #[test]
    fn every_condition_type_by_its_studio_name() {
        assert_eq!(ConditionType::ALL.len(), 13);
        assert!(holds("equal_to", " Yes ", "yes"));
        assert!(holds("equal_to", "1.0", "1"), "numbers compare as numbers");
        assert!(!holds("equal_to", "10", "1"));
        assert!(holds("not_equal_to", "no", "yes"));
        assert!(!holds("not_equal_to", "YES", "yes"));
        assert!(holds("matches_any_of", "Sales", "billing, sales ,support"));
        assert!(holds("matches_any_of", "2", "1,2.0,3"));
        assert!(!holds("matches_any_of", "sale", "billing,sales"));
        assert!(holds("does_not_match_any_of", "other", "billing,sales"));
        assert!(holds("contains", "I want an AGENT now", "agent"));
        assert!(holds("does_not_contain", "hello", "agent"));
        assert!(holds("starts_with", "Hello there", "hello"));
        assert!(holds("does_not_start_with", "Oh hello", "hello"));
        assert!(holds("less_than", "9", "10"), "numerically, not alphabetically");
        assert!(holds("greater_than", "10.5", "10"));
        assert!(!holds("greater_than", "abc", "1"), "a text is never greater than a number");
        assert!(!holds("less_than", "a", "b"), "texts are not ordered");
        assert!(holds("is_blank", "  \n", ""));
        assert!(holds("is_not_blank", "x", ""));
        assert!(holds("regex", "order 12345", r"\d{5}"));
        assert!(!holds("regex", "ORDER", "order"), "a regex is case-sensitive as written");
        assert!(holds("regex", "ORDER", "(?i)^order$"));
        assert_eq!(ConditionType::parse("is_before_time"), None);
    }

    #[test]
    fn a_regex_that_is_bad_or_too_large_is_refused() {
        assert!(compile_regex("(unclosed").is_err());
        assert!(compile_regex(r"\w{1000}{1000}").is_err(), "over the size limit");
        let bad = ConditionType::Regex.holds("x", "(", None);
        assert!(bad.is_err());
    }
}
