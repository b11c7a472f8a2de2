//! The real connectors: hubspot and salesforce, speaking CONTRACT.md section 6 byte for byte.
//! Each keeps its schema ↔ provider field mapping in one table.

pub mod hubspot;
pub mod salesforce;

use serde_json::{Map, Value};

use crate::schema::RecordData;

/// Maps provider properties to schema fields with `table` (schema field, provider property),
/// omitting properties that are null or absent (CONTRACT.md section 8).
pub(crate) fn to_schema(
    table: &[(&str, &str)],
    properties: &Map<String, Value>,
) -> Map<String, Value> {
    let mut data = Map::new();
    for (field, property) in table {
        match properties.get(*property) {
            None | Some(Value::Null) => {}
            Some(value) => {
                data.insert((*field).to_owned(), value.clone());
            }
        }
    }
    data
}

/// Maps schema fields to provider properties with `table`.
pub(crate) fn to_provider(table: &[(&str, &str)], data: &RecordData) -> Map<String, Value> {
    let mut properties = Map::new();
    for (field, property) in table {
        if let Some(value) = data.get(*field) {
            properties.insert((*property).to_owned(), Value::String(value.clone()));
        }
    }
    properties
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
