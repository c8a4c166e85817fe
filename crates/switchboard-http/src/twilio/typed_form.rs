//! Typed forms: one struct per form body, `#[derive(Deserialize, ToSchema)]`, that is both what the
//! handler reads and what the OpenAPI document says, so the two cannot drift apart.
//!
//! The fields come from a [`TwilioForm`] under its rules (exact names, the last of a repeated
//! single-valued name wins, every value of a repeated name for a `Vec`, unknown names ignored),
//! and every refusal is Twilio's 400 naming the parameter: a required parameter missing or empty
//! ("Missing required parameter FriendlyName in the post body"), a value that is not a boolean,
//! a whole number or one of an enum's names. An `Option` field keeps an empty value as `""`, so a
//! handler can tell "clear it" from "leave it". serde's own form readers cannot hold repeated
//! keys or word their errors this way, hence this small deserializer.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;

/// A form body read into `T`, with the raw form kept for what works on names (length limits,
/// signatures, dotted settings).
#[derive(Debug)]
pub struct Form<T> {
    pub fields: T,
    pub raw: TwilioForm,
}

impl<T> Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.fields
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Form<T>, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = TwilioForm::from_request(request, payload);
        Box::pin(async move {
            let raw = raw.await?;
            let fields = raw.typed()?;
            Ok(Form { fields, raw })
        })
    }
}

impl TwilioForm {
    /// The form read into `T` (see the module's rules).
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        T::deserialize(Fields::of(self)).map_err(|error| match error {
            FieldError::Missing(name) => self.missing(&name),
            FieldError::Invalid(message) => ApiError::bad_param(message),
        })
    }
}

/// A SID field of the expected kind, as [`TwilioForm::get_sid`] reads one: an empty value is
/// absent, anything else must be a SID of `prefix`.
pub fn sid_field(
    name: &str,
    value: Option<&str>,
    prefix: switchboard_domain::SidPrefix,
) -> Result<Option<switchboard_domain::Sid>, ApiError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => switchboard_domain::Sid::parse_with(v, prefix)
            .map(Some)
            .map_err(|e| ApiError::bad_param(format!("{name} {v:?} is not valid: {e}"))),
    }
}

/// A value a form part keeps as text (a `#[serde(flatten)]` part, whose values serde hands on as
/// text) read as `T`, under the rules and in the words of a typed field.
pub fn text_field<T: DeserializeOwned>(
    name: &str,
    value: Option<&str>,
) -> Result<Option<T>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let values = [value];
    T::deserialize(Values { name, values: &values, optional: false }).map(Some).map_err(|error| {
        match error {
            FieldError::Missing(name) => {
                ApiError::bad_param(format!("Missing required parameter {name}"))
            }
            FieldError::Invalid(message) => ApiError::bad_param(message),
        }
    })
}

/// Why a form does not fit its type; turned into Twilio's error by [`TwilioForm::typed`], which
/// knows whether the form was a body or a query string.
#[derive(Debug)]
enum FieldError {
    Missing(String),
    Invalid(String),
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldError::Missing(name) => write!(f, "Missing required parameter {name}"),
            FieldError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<M: std::fmt::Display>(message: M) -> FieldError {
        FieldError::Invalid(message.to_string())
    }

    fn missing_field(field: &'static str) -> FieldError {
        FieldError::Missing(field.to_owned())
    }
}

/// The form as a map from each name, in the order first sent, to all its values.
struct Fields<'f> {
    names: Vec<(&'f str, Vec<&'f str>)>,
    next: usize,
}

impl<'f> Fields<'f> {
    fn of(form: &'f TwilioForm) -> Fields<'f> {
        let mut names: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, value) in form.pairs() {
            match names.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => names.push((name, vec![value])),
            }
        }
        Fields { names, next: 0 }
    }
}

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = FieldError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        match self.names.get(self.next) {
            Some((name, _)) => seed.deserialize(name.to_string().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldError> {
        let (name, values) = &self.names[self.next];
        self.next += 1;
        seed.deserialize(Values { name, values, optional: false })
    }
}

/// Every value one name was sent with. `optional`: read for an `Option`, where an empty value
/// is kept rather than refused.
struct Values<'v> {
    name: &'v str,
    values: &'v [&'v str],
    optional: bool,
}

impl Values<'_> {
    /// The value a single-valued field takes: the last one sent.
    fn last(&self) -> &str {
        self.values.last().copied().unwrap_or_default()
    }

    fn number<N: std::str::FromStr>(&self, what: &str) -> Result<N, FieldError> {
        let value = self.last();
        value.parse().map_err(|_| {
            FieldError::Invalid(format!("{} must be {what}, not {value:?}", self.name))
        })
    }
}

macro_rules! numbers {
    ($($method:ident => $visit:ident, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
            visitor.$visit(self.number($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Values<'_> {
    type Error = FieldError;

    /// The value as text, empty or not: what a field of no particular type takes.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_string(self.last().to_owned())
    }

    /// A name the form type does not know: ignored whatever its value, as the SDKs may send
    /// parameters newer than us.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.last() {
            "" if !self.optional => Err(FieldError::Missing(self.name.to_owned())),
            value => visitor.visit_string(value.to_owned()),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_some(Values { optional: true, ..self })
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.last() {
            v if v.eq_ignore_ascii_case("true") => visitor.visit_bool(true),
            v if v.eq_ignore_ascii_case("false") => visitor.visit_bool(false),
            v => {
                Err(FieldError::Invalid(format!("{} must be true or false, not {v:?}", self.name)))
            }
        }
    }

    numbers! {
        deserialize_u8 => visit_u8, "a whole number";
        deserialize_u16 => visit_u16, "a whole number";
        deserialize_u32 => visit_u32, "a whole number";
        deserialize_u64 => visit_u64, "a whole number";
        deserialize_i32 => visit_i32, "an integer";
        deserialize_i64 => visit_i64, "an integer";
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let name = self.name;
        let each = self.values.iter().map(move |value| OneValue { name, value });
        visitor.visit_seq(de::value::SeqDeserializer::new(each))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let value = self.last();
        if !variants.contains(&value) {
            let one_of = variants.join(", ");
            return Err(FieldError::Invalid(format!(
                "{} must be one of {one_of}, not {value:?}",
                self.name
            )));
        }
        visitor.visit_enum(value.to_owned().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct map
        struct identifier
    }
}

/// One value of a repeated name, as an element of a `Vec` field.
struct OneValue<'v> {
    name: &'v str,
    value: &'v str,
}

impl<'de> IntoDeserializer<'de, FieldError> for OneValue<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for OneValue<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let values = [self.value];
        let one = Values { name: self.name, values: &values, optional: true };
        de::Deserializer::deserialize_any(one, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Update {
        friendly_name: String,
        unique_name: Option<String>,
        #[serde(rename = "Configuration.Filters")]
        filters: Option<Vec<String>>,
        retry_count: Option<u8>,
        enabled: Option<bool>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Public,
        Private,
    }

    fn read(body: &str) -> Result<Update, ApiError> {
        TwilioForm::parse(body.as_bytes()).typed()
    }

    fn message(error: ApiError) -> String {
        error.message().to_owned()
    }

    #[test]
    fn a_form_reads_into_its_fields_by_twilio_s_rules() {
        let form = read(
            "FriendlyName=a&FriendlyName=b&UniqueName=&Configuration.Filters=x&\
             Configuration.Filters=y&RetryCount=3&Enabled=TRUE&Kind=private&Unknown=1",
        )
        .unwrap();
        assert_eq!(form.friendly_name, "b", "the last of a repeated single-valued name");
        assert_eq!(form.unique_name.as_deref(), Some(""), "an optional empty value is kept");
        assert_eq!(form.filters, Some(vec!["x".into(), "y".into()]));
        assert_eq!((form.retry_count, form.enabled), (Some(3), Some(true)));
        assert_eq!(form.kind, Some(Kind::Private));
        let unknown_empty = read("FriendlyName=a&SentByANewerSdk=").unwrap();
        assert_eq!(unknown_empty.friendly_name, "a", "an unknown name is ignored, even empty");
        let bare = read("FriendlyName=a").unwrap();
        assert_eq!((bare.unique_name, bare.filters, bare.kind), (None, None, None));
    }

    #[test]
    fn a_form_that_does_not_fit_is_refused_naming_the_parameter() {
        let missing = message(read("UniqueName=u").unwrap_err());
        assert_eq!(missing, "Missing required parameter FriendlyName in the post body");
        let empty = message(read("FriendlyName=").unwrap_err());
        assert_eq!(empty, "Missing required parameter FriendlyName in the post body");
        let count = message(read("FriendlyName=a&RetryCount=lots").unwrap_err());
        assert_eq!(count, "RetryCount must be a whole number, not \"lots\"");
        let too_big = read("FriendlyName=a&RetryCount=300");
        assert!(too_big.is_err(), "300 does not fit a u8");
        let flag = message(read("FriendlyName=a&Enabled=yes").unwrap_err());
        assert_eq!(flag, "Enabled must be true or false, not \"yes\"");
        let kind = message(read("FriendlyName=a&Kind=secret").unwrap_err());
        assert_eq!(kind, "Kind must be one of public, private, not \"secret\"");
    }

    #[test]
    fn a_query_string_s_missing_parameter_says_so() {
        let query = TwilioForm::parse_query("UniqueName=u");
        let error = message(query.typed::<Update>().unwrap_err());
        assert_eq!(error, "Missing required parameter FriendlyName in the query string");
    }
}
