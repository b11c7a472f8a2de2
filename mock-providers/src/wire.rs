//! Writing JSON answers straight into a byte buffer, byte for byte as the compact rendering of
//! the equivalent `serde_json::Value` (`Value::to_string`) would write them.
//!
//! Strings that need escaping and non-string values go through serde_json's own serializer;
//! strings with nothing to escape and unsigned numbers are written here, and the tests hold both
//! to the `Value` rendering; the structure (`{`, `:`, `,`) is written here,
//! without spaces, as serde_json's compact formatter writes it. [`Object`] keeps serde_json's
//! map semantics with `preserve_order`: keys in insertion order, and inserting a key again
//! replaces its value where it stands.

use serde_json::Value;

/// A JSON string, escaped as serde_json escapes it. A string with nothing to escape (no `"`,
/// `\\` or control character: every stored name and most values) is copied whole.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if !s
        .bytes()
        .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(&mut *out, s).expect("writing JSON into a Vec cannot fail");
}

/// Any JSON value, compact.
pub(crate) fn value(out: &mut Vec<u8>, v: &Value) {
    serde_json::to_writer(&mut *out, v).expect("writing JSON into a Vec cannot fail");
}

/// An unsigned number, in decimal.
pub(crate) fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `"key":`.
pub(crate) fn key(out: &mut Vec<u8>, key: &str) {
    string(out, key);
    out.push(b':');
}

/// `,"key":` or `"key":` for the first member of an object.
pub(crate) fn member(out: &mut Vec<u8>, first: bool, name: &str) {
    if !first {
        out.push(b',');
    }
    key(out, name);
}

/// `true` or `false`.
pub(crate) fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// The members of a JSON object in the making: insertion order, and a key inserted again keeps
/// its place and takes the new value, as `serde_json::Map::insert` does with `preserve_order`.
/// Linear in the number of members, which is a handful for every object the mocks build this
/// way.
#[derive(Debug)]
pub(crate) struct Object<'a, V> {
    members: Vec<(&'a str, V)>,
}

impl<'a, V> Object<'a, V> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            members: Vec::with_capacity(capacity),
        }
    }

    /// Empties the object, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.members.clear();
    }

    /// Inserts or replaces a member.
    pub(crate) fn insert(&mut self, key: &'a str, value: V) {
        match self.members.iter_mut().find(|(k, _)| *k == key) {
            Some(member) => member.1 = value,
            None => self.members.push((key, value)),
        }
    }

    /// The members in order.
    pub(crate) fn members(&self) -> impl Iterator<Item = (&'a str, &V)> {
        self.members.iter().map(|(k, v)| (*k, v))
    }

    /// Writes `{"k":v,...}`, each value by `write`.
    pub(crate) fn write(&self, out: &mut Vec<u8>, mut write: impl FnMut(&mut Vec<u8>, &V)) {
        out.push(b'{');
        for (i, (k, v)) in self.members.iter().enumerate() {
            member(out, i == 0, k);
            write(out, v);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn strings_escape_as_values_do() {
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "control \u{0} \u{1f} \n \t \r \u{8} \u{c}",
            "unicode é ü 漢字 😀 \u{2028} \u{7f}",
            "tail quote\"",
            "\\",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, Value::String(s.to_owned()).to_string().into_bytes());
        }
    }

    #[test]
    fn numbers_write_as_values_do() {
        for n in [
            0,
            7,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, Value::from(n).to_string().into_bytes());
        }
    }

    #[test]
    fn an_object_keeps_the_map_semantics_of_preserve_order() {
        let mut object = Object::with_capacity(4);
        let mut map = Map::new();
        for (k, v) in [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)] {
            object.insert(k, v);
            map.insert(k.to_owned(), json!(v));
        }
        let mut out = Vec::new();
        object.write(&mut out, |out, v| number(out, *v));
        assert_eq!(out, Value::Object(map).to_string().into_bytes());
    }
}
