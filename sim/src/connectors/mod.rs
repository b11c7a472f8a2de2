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
use crate::wire::{JsonWriter, Pairs, Scalar};

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

/// [`to_schema`] over the pairs the typed reader collected (the last of a repeated key wins).
pub(crate) fn pairs_to_schema(table: &[(&str, &str)], properties: &Pairs<'_>) -> MappedData {
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
