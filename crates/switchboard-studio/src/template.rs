//! Studio's Liquid templates (`{{trigger.message.Body}}`, `{{widgets.http_1.parsed.status}}`,
//! `{{flow.variables.name}}`), parsed once per definition and rendered against an execution's
//! context with the `liquid` crate.
//!
//! Studio is lenient where `liquid` is strict: a variable nobody set renders as nothing there,
//! an error here. The context is therefore shown to `liquid` through [`JsonView`], a view of
//! the context's own JSON (no copy per render) in which a missing key is `nil` and `nil` has
//! every key (also `nil`), so `{{contact.channel.address}}` or `{{widgets.ask.inbound.Body}}`
//! before `ask` ran render empty, as in Studio. Filters stay `liquid`'s: a number filter on
//! `nil` (`{{missing | plus: 1}}`) is an error here where Studio counts it as 0, so flows write
//! `{{missing | default: 0 | plus: 1}}`.

use std::fmt;
use std::io::Write;
use std::sync::LazyLock;

use liquid_core::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value as LiquidValue,
    ValueView,
};
use liquid_core::{
    Display_filter, Filter, FilterReflection, ParseFilter, Result as LiquidResult, Runtime,
};
use ref_cast::RefCast;
use serde_json::Value;

/// The most a template may render to, in bytes: the widest thing rendered is a Flex task's
/// attributes or an HTTP body, and a template looping over a large answer must stop somewhere.
pub const MAX_RENDERED_BYTES: usize = 64 * 1024;

/// One property's template, parsed once.
pub enum Template {
    /// Text without `{{` or `{%`: most properties, rendered without Liquid at all.
    Literal(String),
    Liquid(Box<liquid::Template>),
}

impl fmt::Debug for Template {
    // `liquid::Template` has no `Debug` of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Template::Literal(text) => f.debug_tuple("Literal").field(text).finish(),
            Template::Liquid(_) => f.write_str("Liquid(..)"),
        }
    }
}

/// What stands for a non-ASCII character while a template is checked (see [`Template::parse`]).
const MASK: char = '\u{1}';

/// Liquid with its standard filters and Studio's `to_json`, built once per process.
static PARSER: LazyLock<Option<liquid::Parser>> =
    LazyLock::new(|| liquid::ParserBuilder::with_stdlib().filter(ToJson).build().ok());

impl Template {
    /// Parses `text`, or says why it is not a template Studio could run.
    pub fn parse(text: &str) -> Result<Template, String> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(Template::Literal(text.to_owned()));
        }
        check_no_ranges(text)?;
        let parser = PARSER.as_ref().ok_or("the Liquid parser could not be built")?;
        // liquid-core 0.26 panics ("should fail in InvalidLiquidTokens") on some invalid
        // templates with non-ASCII text before the bad token on its line: it mixes byte and
        // character offsets there. Liquid's syntax is ASCII, so the text with every other
        // character masked by one that is just as foreign to a tag (U+0001) parses exactly when
        // the text does; parsed first, it says why without reaching that path.
        if !text.is_ascii() {
            let masked: String =
                text.chars().map(|c| if c.is_ascii() { c } else { MASK }).collect();
            parser.parse(&masked).map_err(|e| one_line(&e.to_string()).replace(MASK, "?"))?;
        }
        let parsed = parser.parse(text).map_err(|e| one_line(&e.to_string()))?;
        Ok(Template::Liquid(Box::new(parsed)))
    }

    /// Renders against an execution's context (`{trigger, widgets, flow, contact}`).
    pub fn render(&self, context: &Value) -> Result<String, String> {
        match self {
            Template::Literal(text) => Ok(text.clone()),
            Template::Liquid(template) => {
                let mut out = Bounded(Vec::new(), false);
                let rendered = template.render_to(&mut out, JsonView::ref_cast(context));
                if out.1 {
                    return Err(format!(
                        "the template renders to more than {MAX_RENDERED_BYTES} bytes"
                    ));
                }
                rendered.map_err(|e| one_line(&e.to_string()))?;
                String::from_utf8(out.0).map_err(|_| "the template rendered invalid UTF-8".into())
            }
        }
    }
}

/// Refuses Liquid ranges (`(1..1000000000)`) in tags: a loop over one costs CPU with no data
/// behind it, and Studio's flows loop, if at all, over arrays an answer gave.
fn check_no_ranges(text: &str) -> Result<(), String> {
    for tag in text.split("{%").skip(1) {
        let inside = tag.split("%}").next().unwrap_or_default();
        if inside.contains("..") {
            return Err(format!("ranges are not supported in tags: {{%{inside}%}}"));
        }
    }
    Ok(())
}

/// Liquid's errors span lines; a validation error is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A writer that refuses to grow past [`MAX_RENDERED_BYTES`], and remembers it did (Liquid's
/// error says only that rendering failed).
struct Bounded(Vec<u8>, bool);

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            self.1 = true;
            return Err(std::io::Error::other("too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A JSON value as Liquid sees it, without a copy: `ref_cast` turns `&Value` into `&JsonView`.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct JsonView(Value);

/// What a missing key is: `nil`, with every key (Studio renders unknown paths as nothing).
static NIL: JsonView = JsonView(Value::Null);

impl JsonView {
    fn child(value: &Value) -> &dyn ValueView {
        JsonView::ref_cast(value)
    }
}

impl ValueView for JsonView {
    fn as_debug(&self) -> &dyn fmt::Debug {
        &self.0
    }

    fn render(&self) -> DisplayCow<'_> {
        match &self.0 {
            Value::Null => DisplayCow::Borrowed(&""),
            Value::String(text) => DisplayCow::Borrowed(text),
            Value::Bool(b) => DisplayCow::Borrowed(b),
            Value::Number(n) => DisplayCow::Borrowed(n),
            // Studio prints an object as its JSON; `to_json` says so explicitly.
            other => DisplayCow::Borrowed(other),
        }
    }

    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Borrowed(&self.0)
    }

    fn type_name(&self) -> &'static str {
        match &self.0 {
            Value::Null => "nil",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    fn query_state(&self, state: State) -> bool {
        let empty = match &self.0 {
            Value::Null => true,
            Value::String(text) => text.is_empty(),
            Value::Array(items) => items.is_empty(),
            Value::Object(map) => map.is_empty(),
            Value::Bool(_) | Value::Number(_) => false,
        };
        match state {
            State::Truthy => !matches!(self.0, Value::Null | Value::Bool(false)),
            State::DefaultValue => empty || self.0 == Value::Bool(false),
            State::Empty => empty,
            State::Blank => match &self.0 {
                Value::String(text) => text.trim().is_empty(),
                Value::Bool(b) => !b,
                _ => empty,
            },
        }
    }

    fn to_kstr(&self) -> KStringCow<'_> {
        match &self.0 {
            Value::String(text) => KStringCow::from_ref(text),
            Value::Null => KStringCow::from_static(""),
            other => KStringCow::from_string(other.to_string()),
        }
    }

    fn to_value(&self) -> LiquidValue {
        liquid_core::model::to_value(&self.0).unwrap_or(LiquidValue::Nil)
    }

    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        match &self.0 {
            Value::String(text) => Some(ScalarCow::new(text.as_str())),
            Value::Bool(b) => Some(ScalarCow::new(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(ScalarCow::new(i)),
                None => n.as_f64().map(ScalarCow::new),
            },
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&dyn ArrayView> {
        matches!(self.0, Value::Array(_)).then_some(self as &dyn ArrayView)
    }

    fn as_object(&self) -> Option<&dyn ObjectView> {
        // `nil` answers as an (empty) object so that a path through it stays `nil`.
        matches!(self.0, Value::Object(_) | Value::Null).then_some(self as &dyn ObjectView)
    }

    fn is_nil(&self) -> bool {
        self.0.is_null()
    }
}

impl ArrayView for JsonView {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        self.0.as_array().map_or(0, |items| items.len() as i64)
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        let items = self.0.as_array().map(|items| items.as_slice()).unwrap_or_default();
        Box::new(items.iter().map(JsonView::child))
    }

    fn contains_key(&self, index: i64) -> bool {
        ArrayView::get(self, index).is_some()
    }

    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        let items = self.0.as_array()?;
        let at = if index < 0 {
            items.len().checked_sub(index.unsigned_abs() as usize)?
        } else {
            usize::try_from(index).ok()?
        };
        items.get(at).map(JsonView::child)
    }
}

impl ObjectView for JsonView {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        self.0.as_object().map_or(0, |map| map.len() as i64)
    }

    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self.0.as_object() {
            Some(map) => Box::new(map.keys().map(|k| KStringCow::from_ref(k))),
            None => Box::new(std::iter::empty()),
        }
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self.0.as_object() {
            Some(map) => Box::new(map.values().map(JsonView::child)),
            None => Box::new(std::iter::empty()),
        }
    }

    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self.0.as_object() {
            Some(map) => {
                Box::new(map.iter().map(|(k, v)| (KStringCow::from_ref(k), Self::child(v))))
            }
            None => Box::new(std::iter::empty()),
        }
    }

    // Every key is there (missing ones as `nil`): Liquid's root frame asks this before `get`.
    fn contains_key(&self, _index: &str) -> bool {
        true
    }

    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        match self.0.as_object().and_then(|map| map.get(index)) {
            Some(value) => Some(JsonView::child(value)),
            // Liquid answers `size` itself when the key is missing.
            None if index == "size" => None,
            None => Some(&NIL),
        }
    }
}

/// Studio's `to_json` filter: the value as JSON text (`{{widgets.bot.memory | to_json}}`).
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(name = "to_json", description = "The value as JSON text.", parsed(ToJsonFilter))]
struct ToJson;

#[derive(Debug, Default, Display_filter)]
#[name = "to_json"]
struct ToJsonFilter;

impl Filter for ToJsonFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<LiquidValue> {
        let json = serde_json::to_string(&input.to_value()).unwrap_or_else(|_| "null".into());
        Ok(LiquidValue::scalar(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(text: &str, context: &Value) -> Result<String, String> {
        Template::parse(text)?.render(context)
    }

    fn context() -> Value {
        json!({
            "trigger": {"message": {"Body": "Hello", "ChannelAttributes": {"from": "Ann"}}},
            "widgets": {"http_1": {"parsed": {"status": "gold", "items": [1, 2, 3], "ok": true}}},
            "flow": {"variables": {"name": "Ann", "count": 2}, "channel": {"address": "+1500"}}
        })
    }

    #[test]
    fn an_invalid_template_with_non_ascii_text_is_refused_not_panicked_on() {
        // Found by the `definitions` fuzz target: liquid-core 0.26 panicked on it.
        let found = include_bytes!(
            "../../../fuzz/corpus/definitions/286c6c811d3702f801d524b22272dc9403813e33"
        );
        assert!(Template::parse(&String::from_utf8_lossy(found)).is_err());
        let error = Template::parse("Olá, {{ trigger.message.Body | }} ok").unwrap_err();
        assert!(error.contains("expected Identifier"), "{error}");
        assert_eq!(
            render("Olá, {{ trigger.message.Body }} ✓", &context()).unwrap(),
            "Olá, Hello ✓"
        );
    }

    #[test]
    fn studio_variables_render_and_missing_ones_are_empty() {
        let c = context();
        assert_eq!(render("Hi {{trigger.message.Body}}!", &c).unwrap(), "Hi Hello!");
        assert_eq!(render("{{widgets.http_1.parsed.status}}", &c).unwrap(), "gold");
        assert_eq!(
            render("{{flow.variables.name}}/{{flow.channel.address}}", &c).unwrap(),
            "Ann/+1500"
        );
        assert_eq!(render("[{{widgets.ask.inbound.Body}}]", &c).unwrap(), "[]");
        assert_eq!(render("[{{contact.channel.address}}]", &c).unwrap(), "[]");
        assert_eq!(render("{{widgets.http_1.parsed.items[1]}}", &c).unwrap(), "2");
        assert_eq!(render("{{widgets.http_1.parsed.items.size}}", &c).unwrap(), "3");
        assert_eq!(render("plain text", &c).unwrap(), "plain text");
    }

    #[test]
    fn tags_filters_and_to_json_work_on_the_context() {
        let c = context();
        let text = "{% if widgets.http_1.parsed.ok %}yes{% else %}no{% endif %}";
        assert_eq!(render(text, &c).unwrap(), "yes");
        assert_eq!(render("{% if widgets.nope.x %}yes{% else %}no{% endif %}", &c).unwrap(), "no");
        assert_eq!(render("{{trigger.message.Body | upcase}}", &c).unwrap(), "HELLO");
        assert_eq!(render("{{flow.variables.count | plus: 1}}", &c).unwrap(), "3");
        assert_eq!(
            render("{{trigger.message.ChannelAttributes | to_json}}", &c).unwrap(),
            r#"{"from":"Ann"}"#
        );
        assert_eq!(render("{{missing | default: 'x'}}", &c).unwrap(), "x");
        let looped = "{% for i in widgets.http_1.parsed.items %}{{i}},{% endfor %}";
        assert_eq!(render(looped, &c).unwrap(), "1,2,3,");
    }

    #[test]
    fn bad_templates_ranges_and_huge_output_are_refused() {
        assert!(Template::parse("{{ trigger.message.Body ").is_err());
        assert!(Template::parse("{% if x %}no end").is_err());
        let range = Template::parse("{% for i in (1..1000000000) %}{% endfor %}").unwrap_err();
        assert!(range.contains("ranges"), "{range}");
        let big = json!({"flow": {"variables": {"s": "x".repeat(40_000)}}});
        let twice = "{{flow.variables.s}}{{flow.variables.s}}";
        let err = render(twice, &big).unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }
}
