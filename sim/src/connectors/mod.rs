//! The real connectors: hubspot and salesforce, speaking CONTRACT.md section 6 byte for byte.
//! Each keeps its schema ↔ provider field mapping in one table.
//!
//! Record-carrying bodies (pages, batches and their answers) are written directly as JSON text
//! and read with the typed readers of [`crate::wire`]; an answer the typed reader refuses (a
//! field of an unexpected type) is read again as a `serde_json::Value` by the original rules, so
//! the fast path changes no outcome.

pub mod hubspot;
pub mod salesforce;

use serde_json::{Map, Value};

use crate::schema::{MappedData, RecordData};
use serde::de::MapAccess;

use crate::wire::{JsonWriter, ObjectFields, Scalar, Text, skip};

/// Maps provider properties to schema fields with `table` (schema field, provider property),
/// omitting properties that are null or absent (CONTRACT.md section 8).
pub(crate) fn to_schema(table: &[(&str, &str)], properties: &Map<String, Value>) -> MappedData {
    let mut data = MappedData::writer();
    for (field, property) in table {
        match properties.get(*property) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => data.field(field, &Scalar::Str(text.into())),
            Some(value) => data.field(field, &Scalar::Other(value.clone())),
        }
    }
    data.finish()
}

/// The names a connector's typed page reader keeps values of (at most [`SLOTS_MAX`]).
pub(crate) trait SlotNames {
    const NAMES: &'static [&'static str];
}

/// Room for this many kept names.
pub(crate) const SLOTS_MAX: usize = 8;

/// An object's values of the names `K` lists, one slot each (the last of a repeated key wins,
/// as in a `serde_json::Map`); other keys are skipped unread.
pub(crate) struct Slots<'de, K: SlotNames> {
    values: [Option<Scalar<'de>>; SLOTS_MAX],
    names: std::marker::PhantomData<K>,
}

impl<K: SlotNames> Default for Slots<'_, K> {
    fn default() -> Self {
        Self {
            values: Default::default(),
            names: std::marker::PhantomData,
        }
    }
}

impl<'de, K: SlotNames> Slots<'de, K> {
    /// The value of `name` (`None` if absent or not a kept name).
    pub(crate) fn get(&self, name: &str) -> Option<&Scalar<'de>> {
        let slot = K::NAMES.iter().position(|kept| *kept == name)?;
        self.values.get(slot)?.as_ref()
    }
}

impl<'de, K: SlotNames> ObjectFields<'de> for Slots<'de, K> {
    fn field<A: MapAccess<'de>>(&mut self, key: Text<'de>, map: &mut A) -> Result<(), A::Error> {
        let slot = K::NAMES.iter().position(|kept| *kept == key.as_str());
        match slot.and_then(|slot| self.values.get_mut(slot)) {
            Some(value) => *value = Some(map.next_value()?),
            None => skip(map)?,
        }
        Ok(())
    }
}

impl<'de, K: SlotNames> serde::Deserialize<'de> for Slots<'de, K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::object(deserializer)
    }
}

/// [`to_schema`] over the values the typed reader kept.
pub(crate) fn slots_to_schema<K: SlotNames>(
    table: &[(&str, &str)],
    properties: &Slots<'_, K>,
) -> MappedData {
    let mut data = MappedData::writer();
    for (field, property) in table {
        if let Some(value) = properties.get(property) {
            data.field(field, value);
        }
    }
    data.finish()
}

/// Writes schema fields as provider properties with `table`: `"property":"value"` pairs, in the
/// table's order, each preceded by a comma unless it is the object's first.
pub(crate) fn write_provider_fields(
    writer: &mut JsonWriter,
    first: &mut bool,
    table: &[(&str, &str)],
    data: &RecordData,
) {
    for (field, property) in table {
        if let Some(value) = data.get(field) {
            writer.comma(first).key(property).string(value);
        }
    }
}

/// A form-encoded token refresh request body.
pub(crate) fn refresh_form(refresh_token: &str, client_id: &str, client_secret: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret)
        .finish()
}
