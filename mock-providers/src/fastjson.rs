//! Building blocks of the borrowing fast paths that parse request bodies: strings borrowed from
//! the body, scalars made exactly as a `serde_json::Value` parse makes them, and a skip that
//! reads an ignored value as strictly as a `Value` parse would.
//!
//! A fast path proves that a body has the common valid shape, or gives up: it answers `None` on
//! anything unusual (a type it does not expect, a repeated key, a nested value, a body the
//! `Value` parse would read differently), and its caller then runs the `Value`-based parse,
//! which keeps every answer and every error message exactly as before. So a fast path only has
//! to agree with the slow one on the bodies it accepts; the tests check that it does.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// serde_json's raw-value marker. With its `raw_value` feature on (it is, in this workspace's
/// graph), an object whose first key is this parses into a `Value` as the JSON text of its
/// string, not as an object; a fast path refuses any object that has the key at all.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The error a fast path gives up with; its text is never shown.
pub(crate) fn give_up<E: de::Error>() -> E {
    E::custom("not the common shape")
}

/// A string, borrowed from the body when it has no escapes.
#[derive(Debug)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The next key of an object, refusing the raw-value marker.
pub(crate) fn next_key<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    match map.next_key::<Text<'de>>()? {
        Some(Text(key)) if key == RAW_VALUE_TOKEN => Err(give_up()),
        Some(Text(key)) => Ok(Some(key)),
        None => Ok(None),
    }
}

/// A JSON scalar: a string (borrowed when it can be), or a null, boolean or number as the
/// `Value` a `Value` parse makes of it. Arrays and objects give up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// `Null`, `Bool` or `Number`.
    Other(Value),
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Null))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Bool(v)))
            }
            // As serde_json's own `Value` visitor makes numbers.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Number(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Number(v.into())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(
                    Number::from_f64(v).map_or(Value::Null, Value::Number),
                ))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Reads and drops any value, checking it as a `Value` parse would (every string is read, so
/// invalid UTF-8 or escapes fail as they would there) and refusing the raw-value marker.
/// `serde::de::IgnoredAny` is laxer: serde_json skips its strings without validating them.
#[derive(Debug)]
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SkipVisitor;
        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_string<E: de::Error>(self, _: String) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                // Bounded by the body's length.
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                // Bounded by the body's length.
                while next_key(&mut map)?.is_some() {
                    map.next_value::<Skip>()?;
                }
                Ok(Skip)
            }
        }
        deserializer.deserialize_any(SkipVisitor)
    }
}

/// Runs a fast parse over a whole body: `None` if it gives up or the body has trailing bytes.
pub(crate) fn parse_body<'a, T>(
    body: &'a [u8],
    parse: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::SliceRead<'a>>,
    ) -> Result<T, serde_json::Error>,
) -> Option<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = parse(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(parsed)
}
