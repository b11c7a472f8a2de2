//! Reading and writing JSON bodies without building `serde_json::Value` trees, for the paths
//! that carry records (trigger bodies, provider pages and batch answers, data pages).
//!
//! Reading: a type that implements [`ObjectFields`] is read from a JSON object only (never from
//! an array, which serde's derived struct readers would also accept), field by field, and a
//! repeated key overwrites the earlier one, exactly as a `serde_json::Map` keeps the last value.
//! Strings are borrowed from the body where they have no escapes ([`Text`], [`Scalar`]).
//! Callers keep their `Value`-based reader as the fallback for anything the typed reader
//! refuses (a wrong type somewhere), so every answer and error stays what it was.
//!
//! Writing: [`JsonWriter`] appends JSON text to a byte buffer; strings are escaped by
//! `serde_json` itself, so the bytes equal what serialising the equivalent `Value` gives.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON string, borrowed from the body when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'de>(pub Cow<'de, str>);

impl Text<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Any JSON value, with strings borrowed where possible and everything else as a `Value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'de> {
    Str(Cow<'de, str>),
    Null,
    Other(Value),
}

impl Scalar<'_> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(text) => Some(text),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(text)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
                Scalar::deserialize(inner)
            }
            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Bool(flag)))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::from(number)))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::from(number)))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::from(number)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Every (key, value) pair of a JSON object, in body order, repeated keys included; read with
/// [`Pairs::get`], which gives the last value of a key as a `serde_json::Map` would.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pairs<'de>(pub Vec<(Cow<'de, str>, Scalar<'de>)>);

impl Pairs<'_> {
    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&Scalar<'_>> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }
}

impl<'de> ObjectFields<'de> for Pairs<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Text<'de>, map: &mut A) -> Result<(), A::Error> {
        let value = map.next_value::<Scalar<'de>>()?;
        self.0.push((key.0, value));
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Pairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        object(deserializer)
    }
}

/// A type read from a JSON object one field at a time (see the module docs).
pub trait ObjectFields<'de>: Default {
    /// Reads the value of `key` from `map` (it must call `next_value` exactly once).
    fn field<A: MapAccess<'de>>(&mut self, key: Text<'de>, map: &mut A) -> Result<(), A::Error>;
}

/// Skips a field's value (still checking it is well-formed JSON).
pub fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// The key serde_json reserves for its raw values (its `raw_value` feature is on in this
/// workspace). A body read from text does not use it, but an object with it is left to the
/// `Value` reader all the same, so that no reading of serde_json's can differ from ours.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Reads a `T` from a JSON object; anything but an object, or a raw-value object, is an error.
pub fn object<'de, D: Deserializer<'de>, T: ObjectFields<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(PhantomData<T>);
    impl<'de, T: ObjectFields<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let mut value = T::default();
            while let Some(key) = map.next_key::<Text<'de>>()? {
                if key.as_str() == RAW_VALUE_TOKEN {
                    return Err(de::Error::custom("serde_json's raw-value key"));
                }
                value.field(key, &mut map)?;
            }
            Ok(value)
        }
    }
    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// Implements `Deserialize` through [`ObjectFields`] for types with one lifetime.
#[macro_export]
macro_rules! deserialize_object {
    ($($name:ident),* $(,)?) => {
        $(
            impl<'de> serde::Deserialize<'de> for $name<'de> {
                fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                    $crate::wire::object(deserializer)
                }
            }
        )*
    };
}

/// Implements [`ObjectFields`], and `Deserialize` through it, for structs with one lifetime
/// read field by field: each listed key (a pattern) is read into its field, any other key is
/// skipped.
#[macro_export]
macro_rules! object_fields {
    ($($name:ident { $($key:pat => $field:ident),+ $(,)? })+) => {
        $(
            impl<'de> $crate::wire::ObjectFields<'de> for $name<'de> {
                fn field<A: serde::de::MapAccess<'de>>(
                    &mut self,
                    key: $crate::wire::Text<'de>,
                    map: &mut A,
                ) -> Result<(), A::Error> {
                    match key.as_str() {
                        $($key => self.$field = map.next_value()?,)+
                        _ => $crate::wire::skip(map)?,
                    }
                    Ok(())
                }
            }
            $crate::deserialize_object!($name);
        )+
    };
}

/// Appends JSON text to a buffer. It is a `String` throughout (every append is text), so the
/// result needs no UTF-8 check; strings are escaped exactly as `serde_json` escapes them.
#[derive(Debug, Default)]
pub struct JsonWriter {
    buffer: String,
}

impl JsonWriter {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buffer: String::with_capacity(capacity),
        }
    }

    /// Appends raw JSON text (punctuation, or JSON produced elsewhere).
    pub fn raw(&mut self, text: &str) -> &mut Self {
        self.buffer.push_str(text);
        self
    }

    /// Appends a JSON string literal, escaped as `serde_json` does: `"` and `\` by a
    /// backslash, the control characters below 0x20 as `\b \t \n \f \r` or `\u00xx`, and
    /// nothing else.
    pub fn string(&mut self, text: &str) -> &mut Self {
        self.buffer.reserve(text.len() + 2);
        self.buffer.push('"');
        if !text
            .bytes()
            .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        {
            self.buffer.push_str(text);
            self.buffer.push('"');
            return self;
        }
        let mut clean_from = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0x08 => "\\b",
                0x09 => "\\t",
                0x0A => "\\n",
                0x0C => "\\f",
                0x0D => "\\r",
                0x00..=0x1F => "",
                _ => continue,
            };
            self.buffer.push_str(&text[clean_from..at]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.buffer.push_str("\\u00");
                self.buffer.push(char::from(HEX[usize::from(byte >> 4)]));
                self.buffer.push(char::from(HEX[usize::from(byte & 0xF)]));
            } else {
                self.buffer.push_str(escape);
            }
            clean_from = at + 1;
        }
        self.buffer.push_str(&text[clean_from..]);
        self.buffer.push('"');
        self
    }

    /// Appends an object key and its colon.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.string(key);
        self.buffer.push(':');
        self
    }

    /// Appends any serialisable value as JSON (through `serde_json`; a value that cannot be
    /// serialised, which no `Value` is, appends `null`).
    pub fn value<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        match serde_json::to_string(value) {
            Ok(text) => self.buffer.push_str(&text),
            Err(_) => self.buffer.push_str("null"),
        }
        self
    }

    /// Appends an unsigned integer.
    pub fn number(&mut self, number: u64) -> &mut Self {
        self.buffer.push_str(itoa::Buffer::new().format(number));
        self
    }

    /// Appends `true` or `false`.
    pub fn bool(&mut self, flag: bool) -> &mut Self {
        self.raw(if flag { "true" } else { "false" })
    }

    /// Appends a comma unless `first`, then clears `first`.
    pub fn comma(&mut self, first: &mut bool) -> &mut Self {
        if !*first {
            self.buffer.push(',');
        }
        *first = false;
        self
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buffer.into_bytes()
    }

    /// The text written.
    pub fn into_string(self) -> String {
        self.buffer
    }
}

/// Proptest strategies for JSON *text* near a body's expected shape: objects are lists of
/// (key, value text) pairs, so repeated keys, wrong types, nulls and escapes all occur. The
/// typed readers are checked against their `Value` fallbacks with these.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    /// A JSON string literal from a small alphabet (so values collide), escapes included.
    pub fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c0-2]{0,3}",
            Just("a\"b".to_owned()),
            Just("line\nbreak".to_owned()),
            Just("é€".to_owned()),
        ]
        .prop_map(|text| serde_json::Value::from(text).to_string())
    }

    /// Any scalar JSON text.
    pub fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => string(),
            1 => Just("null".to_owned()),
            1 => any::<bool>().prop_map(|flag| flag.to_string()),
            1 => (-3i64..300).prop_map(|number| number.to_string()),
            1 => Just("1.5".to_owned()),
            1 => Just("1e2".to_owned()),
        ]
    }

    /// Any JSON text, nested a little.
    pub fn any_json() -> impl Strategy<Value = String> {
        scalar().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(|items| array(&items)),
                prop::collection::vec(("[a-c]", inner), 0..3).prop_map(|pairs| object(&pairs)),
            ]
        })
    }

    /// Usually `expected`, sometimes any JSON at all.
    pub fn mostly(expected: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![8 => expected, 1 => any_json()].boxed()
    }

    /// An object's pairs from `fields` (each present or not), in a shuffled order, with an
    /// occasional repeated key.
    pub fn fields(fields: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
        weighted_fields(
            fields
                .into_iter()
                .map(|(key, value)| (key, 0.85, value))
                .collect(),
        )
    }

    /// [`fields`], each present with its own probability.
    pub fn weighted_fields(
        fields: Vec<(&'static str, f64, BoxedStrategy<String>)>,
    ) -> BoxedStrategy<String> {
        let each: Vec<BoxedStrategy<Option<(String, String)>>> = fields
            .into_iter()
            .map(|(key, presence, value)| {
                prop::option::weighted(
                    presence,
                    value.prop_map(move |value| (key.to_owned(), value)),
                )
                .boxed()
            })
            .collect();
        (each, any::<u64>(), prop::bool::weighted(0.1))
            .prop_map(|(pairs, shuffle, repeat)| {
                let mut pairs: Vec<(String, String)> = pairs.into_iter().flatten().collect();
                if !pairs.is_empty() {
                    let turn = usize::try_from(shuffle % pairs.len() as u64).unwrap_or(0);
                    pairs.rotate_left(turn);
                    if shuffle % 3 == 0 {
                        pairs.reverse();
                    }
                    if repeat {
                        let again = pairs[0].clone();
                        pairs.push(again);
                    }
                }
                object(&pairs)
            })
            .boxed()
    }

    /// `[a, b, ...]`.
    pub fn array(items: &[String]) -> String {
        format!("[{}]", items.join(","))
    }

    /// `{"k": v, ...}` with the pairs as given (repeats kept).
    pub fn object(pairs: &[(String, String)]) -> String {
        let body: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!("{}:{value}", serde_json::Value::from(key.as_str())))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// How many of 400 values drawn from `strategy` (deterministically) `accept` takes: the
    /// agreement properties prove little unless the typed reader answers often.
    pub fn share_accepted(strategy: &BoxedStrategy<String>, accept: impl Fn(&str) -> bool) -> f64 {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut accepted = 0;
        for _ in 0..400 {
            if let Ok(tree) = strategy.new_tree(&mut runner)
                && accept(&tree.current())
            {
                accepted += 1;
            }
        }
        f64::from(accepted) / 400.0
    }

    /// A list of `item`s as a JSON array text.
    pub fn list(item: BoxedStrategy<String>, max: usize) -> BoxedStrategy<String> {
        prop::collection::vec(item, 0..max)
            .prop_map(|items| array(&items))
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Probe<'de> {
        name: Option<Text<'de>>,
        count: Option<u64>,
    }

    impl<'de> ObjectFields<'de> for Probe<'de> {
        fn field<A: MapAccess<'de>>(
            &mut self,
            key: Text<'de>,
            map: &mut A,
        ) -> Result<(), A::Error> {
            match key.as_str() {
                "name" => self.name = map.next_value()?,
                "count" => self.count = map.next_value()?,
                _ => skip(map)?,
            }
            Ok(())
        }
    }

    crate::deserialize_object!(Probe);

    #[test]
    fn objects_only_last_key_wins_and_strings_borrow() {
        let body = br#"{"name": "a", "other": [1, {"x": 2}], "name": "b", "count": 3}"#;
        let probe: Probe<'_> = serde_json::from_slice(body).expect("an object");
        assert_eq!(probe.name, Some(Text(Cow::Borrowed("b"))));
        assert_eq!(probe.count, Some(3));
        assert!(matches!(probe.name.map(|n| n.0), Some(Cow::Borrowed(_))));
        assert!(serde_json::from_slice::<Probe<'_>>(br#"["a", 3]"#).is_err());
        assert!(
            serde_json::from_slice::<Probe<'_>>(br#"{"$serde_json::private::RawValue": "{}"}"#)
                .is_err()
        );
        let escaped: Probe<'_> = serde_json::from_slice(br#"{"name": "a\nb"}"#).expect("ok");
        assert_eq!(
            escaped.name.map(|n| n.0.into_owned()),
            Some("a\nb".to_owned())
        );
    }

    proptest::proptest! {
        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(text in "\\PC*|[\\x00-\\x7f]*") {
            let mut writer = JsonWriter::default();
            writer.string(&text);
            proptest::prop_assert_eq!(writer.into_string(), serde_json::Value::from(text).to_string());
        }
    }

    #[test]
    fn pairs_keep_every_key_and_read_the_last() {
        let pairs: Pairs<'_> =
            serde_json::from_slice(br#"{"a": 1, "b": null, "a": "x", "c": {"d": [true]}}"#)
                .expect("an object");
        assert_eq!(pairs.0.len(), 4);
        assert_eq!(pairs.get("a").and_then(Scalar::as_str), Some("x"));
        assert_eq!(pairs.get("b"), Some(&Scalar::Null));
        assert_eq!(
            pairs.get("c"),
            Some(&Scalar::Other(serde_json::json!({"d": [true]})))
        );
        assert_eq!(pairs.get("z"), None);
    }

    #[test]
    fn the_writer_escapes_as_serde_json_does() {
        let mut writer = JsonWriter::default();
        let mut first = true;
        writer.raw("{");
        writer
            .comma(&mut first)
            .key("quote\"")
            .string("line\nbreak \u{1}é");
        writer.comma(&mut first).key("n").number(42);
        writer
            .comma(&mut first)
            .key("v")
            .value(&serde_json::json!([1.5, null]));
        writer
            .comma(&mut first)
            .key("plain \u{7f}~")
            .string("back\\slash tab\t DEL\u{7f} é");
        writer.comma(&mut first).key("same").string("no escapes €");
        writer
            .comma(&mut first)
            .key("controls")
            .string("\u{0}\u{8}\u{b}\u{c}\r\u{1f} \\\"\u{7f}");
        writer.raw("}");
        let expected = serde_json::json!({
            "quote\"": "line\nbreak \u{1}é",
            "n": 42,
            "v": [1.5, null],
            "plain \u{7f}~": "back\\slash tab\t DEL\u{7f} é",
            "same": "no escapes €",
            "controls": "\u{0}\u{8}\u{b}\u{c}\r\u{1f} \\\"\u{7f}",
        });
        assert_eq!(writer.into_string(), expected.to_string());
    }
}
