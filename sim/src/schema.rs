//! The supported `endgrate_type`s, their default schemas (CONTRACT.md section 6), and the checks
//! and filters that depend on them: push item validation and pull `params`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

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

/// Mapped record data: schema field → string value. Ordered, so serialisation is stable.
pub type RecordData = BTreeMap<String, String>;

/// Checks one push item's `data` against the default schema. Returns the kept fields (those of
/// the schema; others are ignored) or `(field, problem)` for the first failure.
pub fn validate_item_data(
    ty: EndgrateType,
    data: &serde_json::Map<String, Value>,
) -> Result<RecordData, (String, &'static str)> {
    let mut kept = RecordData::new();
    for field in ty.fields() {
        match data.get(field.name) {
            None if field.required => return Err((field.name.to_owned(), "is required")),
            None => {}
            Some(Value::Null) => return Err((field.name.to_owned(), "must not be null")),
            Some(Value::String(text)) => {
                kept.insert(field.name.to_owned(), text.clone());
            }
            Some(_) => return Err((field.name.to_owned(), "must be a string")),
        }
    }
    Ok(kept)
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
        assert_eq!(kept["last_name"], "");
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
