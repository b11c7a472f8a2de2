//! The supported `endgrate_type`s, their default schemas (CONTRACT.md section 6), and the checks
//! and filters that depend on them: push item validation and pull `params`.

use std::cmp::Ordering;

use serde_json::Value;

use crate::wire::{JsonWriter, Scalar};

/// A record type a session can transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndgrateType {
    CrmContact,
    CrmCompany,
}

impl EndgrateType {
    /// Every supported type, in a fixed order.
    pub const ALL: [EndgrateType; 2] = [EndgrateType::CrmContact, EndgrateType::CrmCompany];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndgrateType::CrmContact => "crm-contact",
            EndgrateType::CrmCompany => "crm-company",
        }
    }

    /// Parses a wire name; `None` for anything unsupported.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|ty| ty.as_str() == text)
    }

    /// The default schema's fields, in their documented order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            EndgrateType::CrmContact => &CONTACT_FIELDS,
            EndgrateType::CrmCompany => &COMPANY_FIELDS,
        }
    }

    /// Whether `name` is a field of this type's schema.
    pub fn has_field(self, name: &str) -> bool {
        self.fields().iter().any(|field| field.name == name)
    }

    /// The JSON Schema form of the default schema, as the configuration body shows it.
    pub fn json_schema(self) -> Value {
        let properties: serde_json::Map<String, Value> = self
            .fields()
            .iter()
            .map(|field| (field.name.to_owned(), serde_json::json!({"type": "string"})))
            .collect();
        let required: Vec<&str> = self
            .fields()
            .iter()
            .filter(|field| field.required)
            .map(|field| field.name)
            .collect();
        serde_json::json!({
            "type": "object",
            "title": self.as_str(),
            "properties": properties,
            "required": required,
        })
    }
}

/// One field of a default schema. Every field is a string.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
}

const CONTACT_FIELDS: [Field; 4] = [
    Field {
        name: "first_name",
        required: false,
    },
    Field {
        name: "last_name",
        required: true,
    },
    Field {
        name: "email",
        required: false,
    },
    Field {
        name: "phone",
        required: false,
    },
];

const COMPANY_FIELDS: [Field; 3] = [
    Field {
        name: "name",
        required: true,
    },
    Field {
        name: "domain",
        required: false,
    },
    Field {
        name: "industry",
        required: false,
    },
];

/// A push item's mapped data: schema field → string value, sorted by field name (so it
/// iterates and serialises as a `BTreeMap` would). Packed into two allocations, the values'
/// text end to end and the (field, end) table: a transfer holds up to 10,000 of these and the
/// standard workload a million, and every stored byte is a page the process must fault in.
/// Field names are the schema's own `&'static str`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordData {
    text: Box<str>,
    /// Each field and where its value ends in `text` (it starts where the previous one ends).
    fields: Box<[(&'static str, u32)]>,
}

impl RecordData {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packs fields (any order; names distinct) into a record.
    fn packed(mut entries: Vec<(&'static str, &str)>) -> Self {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(entries.iter().map(|(_, value)| value.len()).sum());
        let fields = entries
            .into_iter()
            .map(|(name, value)| {
                text.push_str(value);
                (name, u32::try_from(text.len()).unwrap_or(u32::MAX))
            })
            .collect();
        Self {
            text: text.into_boxed_str(),
            fields,
        }
    }

    /// Sets `field` to `value`, replacing an earlier value (repacks: for building by hand).
    pub fn insert(&mut self, field: &'static str, value: impl AsRef<str>) {
        let value = value.as_ref();
        let mut entries: Vec<(&'static str, &str)> = self
            .iter_static()
            .filter(|(name, _)| *name != field)
            .collect();
        entries.push((field, value));
        *self = Self::packed(entries);
    }

    fn value_at(&self, at: usize) -> &str {
        let end = self.fields[at].1 as usize;
        let start = if at == 0 {
            0
        } else {
            self.fields[at - 1].1 as usize
        };
        self.text.get(start..end).unwrap_or_default()
    }

    /// The value of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .binary_search_by(|(name, _)| (*name).cmp(field))
            .ok()
            .map(|at| self.value_at(at))
    }

    fn iter_static<'s>(&'s self) -> impl Iterator<Item = (&'static str, &'s str)> + 's {
        (0..self.fields.len()).map(move |at| (self.fields[at].0, self.value_at(at)))
    }

    /// Fields and values, by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.fields.len()).map(move |at| (self.fields[at].0, self.value_at(at)))
    }

    /// How many fields are set.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl std::ops::Index<&str> for RecordData {
    type Output = str;

    fn index(&self, field: &str) -> &str {
        match self.get(field) {
            Some(value) => value,
            None => panic!("no field {field:?} in the record data"),
        }
    }
}

impl serde::Serialize for RecordData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// One field of a push item's `data`, as validation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemField<'a> {
    Text(&'a str),
    Null,
    /// A number, boolean, array or object.
    Other,
}

/// Checks one push item's `data` against the default schema. Returns the kept fields (those of
/// the schema; others are ignored) or `(field, problem)` for the first failure.
pub fn validate_item_data(
    ty: EndgrateType,
    data: &serde_json::Map<String, Value>,
) -> Result<RecordData, (String, &'static str)> {
    validate_item_fields(ty, |name| {
        data.get(name).map(|value| match value {
            Value::String(text) => ItemField::Text(text),
            Value::Null => ItemField::Null,
            _ => ItemField::Other,
        })
    })
}

/// [`validate_item_data`] over any way of looking a field up (`None`: absent), so the trigger's
/// typed reader and its `Value` fallback validate with one set of rules.
pub fn validate_item_fields<'a>(
    ty: EndgrateType,
    get: impl Fn(&str) -> Option<ItemField<'a>>,
) -> Result<RecordData, (String, &'static str)> {
    let mut fields = Vec::with_capacity(ty.fields().len());
    for field in ty.fields() {
        match get(field.name) {
            None if field.required => return Err((field.name.to_owned(), "is required")),
            None => {}
            Some(ItemField::Null) => return Err((field.name.to_owned(), "must not be null")),
            Some(ItemField::Text(text)) => fields.push((field.name, text)),
            Some(ItemField::Other) => return Err((field.name.to_owned(), "must be a string")),
        }
    }
    Ok(RecordData::packed(fields))
}

/// A pulled record's data mapped to the session schema, kept as the JSON object text that data
/// pages and data webhooks show (fields in the connector's mapping order, nulls left out). Text
/// rather than a map: a transfer may hold a million of these, and the text is what every reader
/// but a filter or a checker wants. Two records with equal data have equal text, because one
/// connector always writes a type's fields in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedData(Box<str>);

impl MappedData {
    /// The data of a map, serialised in its order.
    pub fn from_map(map: &serde_json::Map<String, Value>) -> Self {
        let mut writer = JsonWriter::with_capacity(64);
        writer.value(map);
        Self(writer.into_string().into_boxed_str())
    }

    /// A writer that builds the data one field at a time.
    pub fn writer() -> MappedDataWriter {
        let mut writer = JsonWriter::with_capacity(96);
        writer.raw("{");
        MappedDataWriter {
            writer,
            first: true,
        }
    }

    /// The JSON object text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The data as a map (for filters and checks).
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// The data as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.to_map())
    }
}

/// Builds a [`MappedData`] field by field.
#[derive(Debug)]
pub struct MappedDataWriter {
    writer: JsonWriter,
    first: bool,
}

impl MappedDataWriter {
    /// Adds `field` with `value`; a null value is left out (CONTRACT.md section 8).
    pub fn field(&mut self, field: &str, value: &Scalar<'_>) {
        match value {
            Scalar::Null => {}
            Scalar::Str(text) => {
                self.writer.comma(&mut self.first).key(field).string(text);
            }
            Scalar::Other(value) => {
                self.writer.comma(&mut self.first).key(field).value(value);
            }
        }
    }

    /// The data written.
    pub fn finish(mut self) -> MappedData {
        self.writer.raw("}");
        MappedData(self.writer.into_string().into_boxed_str())
    }
}

/// A validated pull filter: `field` equal to one of the values, or within an inclusive range.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    AnyOf {
        field: String,
        values: Vec<Value>,
    },
    Range {
        field: String,
        min: Value,
        max: Value,
    },
}

/// Validates `params` of a pull trigger. `Err((path, problem))` names the offending key.
pub fn parse_params(
    ty: EndgrateType,
    params: &serde_json::Map<String, Value>,
) -> Result<Vec<Filter>, (String, &'static str)> {
    let mut filters = Vec::new();
    for (key, value) in params {
        let path = format!("params.{key}");
        if let Some(field) = key.strip_suffix("__range") {
            if !ty.has_field(field) {
                return Err((path, "is not a field of the session's schema"));
            }
            match value {
                Value::Array(bounds) if bounds.len() == 2 => filters.push(Filter::Range {
                    field: field.to_owned(),
                    min: bounds[0].clone(),
                    max: bounds[1].clone(),
                }),
                _ => return Err((path, "must be a two-element array [min, max]")),
            }
        } else {
            if !ty.has_field(key) {
                return Err((path, "is not a field of the session's schema"));
            }
            let values = match value {
                Value::Array(values) => values.clone(),
                other => vec![other.clone()],
            };
            filters.push(Filter::AnyOf {
                field: key.clone(),
                values,
            });
        }
    }
    Ok(filters)
}

/// Whether mapped `data` passes every filter.
pub fn matches_filters(data: &serde_json::Map<String, Value>, filters: &[Filter]) -> bool {
    filters.iter().all(|filter| match filter {
        Filter::AnyOf { field, values } => data
            .get(field)
            .is_some_and(|actual| values.iter().any(|wanted| value_matches(actual, wanted))),
        Filter::Range { field, min, max } => data.get(field).is_some_and(|actual| {
            let above = min.is_null()
                || matches!(
                    compare(actual, min),
                    Some(Ordering::Greater | Ordering::Equal)
                );
            let below = max.is_null()
                || matches!(compare(actual, max), Some(Ordering::Less | Ordering::Equal));
            above && below
        }),
    })
}

/// Equality, where an object value matches as a subset (CONTRACT.md section 8).
fn value_matches(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Object(actual), Value::Object(wanted)) => wanted.iter().all(|(key, value)| {
            actual
                .get(key)
                .is_some_and(|found| value_matches(found, value))
        }),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => actual == wanted,
    }
}

/// Natural JSON order for comparable values; `None` for incomparable ones.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn contact_without_last_name_names_the_field() {
        let data = object(json!({"first_name": "Ada"}));
        assert_eq!(
            validate_item_data(EndgrateType::CrmContact, &data),
            Err(("last_name".to_owned(), "is required"))
        );
    }

    #[test]
    fn empty_last_name_passes_and_unknown_fields_are_dropped() {
        let data = object(json!({"last_name": "", "shoe_size": 44}));
        let kept = validate_item_data(EndgrateType::CrmContact, &data).expect("valid");
        assert_eq!(kept.len(), 1);
        assert_eq!(&kept["last_name"], "");
    }

    #[test]
    fn null_and_non_string_fields_are_refused() {
        let null = object(json!({"last_name": "L", "email": null}));
        assert_eq!(
            validate_item_data(EndgrateType::CrmContact, &null).map_err(|e| e.1),
            Err("must not be null")
        );
        let number = object(json!({"name": 7}));
        assert!(validate_item_data(EndgrateType::CrmCompany, &number).is_err());
    }

    #[test]
    fn params_filter_by_any_of_and_open_ranges() {
        let filters = parse_params(
            EndgrateType::CrmContact,
            &object(json!({"first_name": ["Ada", "Bob"], "last_name__range": ["B", null]})),
        )
        .expect("valid params");
        assert!(matches_filters(
            &object(json!({"first_name": "Ada", "last_name": "C"})),
            &filters
        ));
        assert!(!matches_filters(
            &object(json!({"first_name": "Ada", "last_name": "A"})),
            &filters
        ));
        assert!(!matches_filters(
            &object(json!({"first_name": "Eve", "last_name": "C"})),
            &filters
        ));
        assert!(!matches_filters(
            &object(json!({"first_name": "Ada"})),
            &filters
        ));
    }

    #[test]
    fn params_object_value_matches_as_a_subset_of_the_records_value() {
        let filters = parse_params(
            EndgrateType::CrmContact,
            &object(json!({"first_name": {"given": "Ada"}})),
        )
        .expect("valid params");
        assert!(matches_filters(
            &object(json!({"first_name": {"given": "Ada", "middle": "King"}})),
            &filters
        ));
        assert!(!matches_filters(
            &object(json!({"first_name": {"given": "Grace"}})),
            &filters
        ));
        assert!(!matches_filters(
            &object(json!({"first_name": "Ada"})),
            &filters
        ));
    }

    #[test]
    fn params_on_unknown_field_or_bad_range_are_refused() {
        let unknown = parse_params(EndgrateType::CrmContact, &object(json!({"age": 3})));
        assert_eq!(unknown.map_err(|e| e.0), Err("params.age".to_owned()));
        let bad = parse_params(
            EndgrateType::CrmContact,
            &object(json!({"email__range": ["a"]})),
        );
        assert!(bad.is_err());
    }
}
