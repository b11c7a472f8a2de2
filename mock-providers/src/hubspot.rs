//! The HubSpot dialect (CONTRACT.md section 6): routes, bodies and error shapes.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /oauth/v1/token` | `{access_token, refresh_token, expires_in, token_type}`; `400 BAD_REFRESH_TOKEN` |
//! | `GET /crm/v3/objects/{contacts,companies}` | `after`-cursor pages in ascending numeric id |
//! | `POST /crm/v3/objects/{type}/batch/upsert` | on `endgrate_internal_id`; 200 or 207 with errors |
//! | `POST /crm/v3/objects/{type}/batch/update` | by id; 200 or 207 with errors |
//!
//! Batch results come back in reverse input order: HubSpot does not keep input order, and a
//! target that matches results by position must fail here rather than in production.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use compact_str::CompactString;
use http::Method;
use serde_json::{Value, json};

use crate::account::{Properties, PropertyValue, Record};
use crate::ids;
use crate::mock::{ApiRoute, Incoming, Mock, Route, StoreWriter, TokenError};
use crate::seam::{Millis, ProviderResponse};
use crate::time::{Form, StampWriter};
use crate::wire::{self, Object};

#[cfg(test)]
pub(crate) mod oracle;
#[cfg(test)]
mod tests;

/// The unique property a target's upserts key on.
pub const EXTERNAL_ID_PROPERTY: &str = "endgrate_internal_id";
/// The most inputs one batch may carry.
pub const BATCH_MAX: usize = 100;
/// The page size when `limit` is absent (as real HubSpot).
pub const DEFAULT_LIMIT: u32 = 10;

/// Maps a request onto a route.
pub(crate) fn route(incoming: &Incoming) -> Route {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    match segments.as_slice() {
        ["oauth", "v1", "token"] => only(method, Method::POST, Route::Token),
        ["crm", "v3", "objects", object] => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::HubspotList {
                object: (*object).to_owned(),
            }),
        ),
        ["crm", "v3", "objects", object, "batch", "upsert"] => only(
            method,
            Method::POST,
            Route::Api(ApiRoute::HubspotUpsert {
                object: (*object).to_owned(),
            }),
        ),
        ["crm", "v3", "objects", object, "batch", "update"] => only(
            method,
            Method::POST,
            Route::Api(ApiRoute::HubspotUpdate {
                object: (*object).to_owned(),
            }),
        ),
        _ => Route::NotFound,
    }
}

fn only(method: &Method, allowed: Method, route: Route) -> Route {
    if *method == allowed {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// Serves an authenticated, counted request.
pub(crate) fn handle(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    api: &ApiRoute,
    incoming: &Incoming,
) -> ProviderResponse {
    let (object, kind) = match api {
        ApiRoute::HubspotList { object } => (object, Kind::List),
        ApiRoute::HubspotUpsert { object } => (object, Kind::Upsert),
        ApiRoute::HubspotUpdate { object } => (object, Kind::Update),
        other => unreachable!("a Salesforce route {other:?} reached the HubSpot dialect"),
    };
    if mock.check_object(object).is_err() {
        return validation_error(mock, &format!("Unable to infer object type from: {object}"));
    }
    match kind {
        Kind::List => list(mock, account_id, object, incoming),
        Kind::Upsert | Kind::Update => batch(mock, now, account_id, object, kind, incoming),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Upsert,
    Update,
}

fn lastmodified_property(object: &str) -> &'static str {
    if object == "companies" {
        "hs_lastmodifieddate"
    } else {
        "lastmodifieddate"
    }
}

fn default_properties(object: &str) -> &'static [&'static str] {
    if object == "companies" {
        &["domain", "name"]
    } else {
        &["email", "firstname", "lastname"]
    }
}

/// Where a shown property's value comes from.
#[derive(Debug, Clone, Copy)]
enum Shown<'a> {
    /// A stored property (`null` when unset).
    Property(&'a str),
    /// `hs_object_id`.
    Id,
    /// `createdate`.
    Created,
    /// `lastmodifieddate` (`hs_lastmodifieddate` for companies).
    Updated,
}

/// The `properties` of a listed record, as HubSpot shows them: the asked-for ones (null when
/// unset) plus the system properties it always includes, each system property taking the place
/// of an asked-for one of the same name. One layout per request, the same for every record.
fn list_layout<'a>(object: &str, names: &[&'a str]) -> Object<'a, Shown<'a>> {
    let mut layout = Object::with_capacity(names.len() + 3);
    for name in names {
        layout.insert(name, Shown::Property(name));
    }
    layout.insert("hs_object_id", Shown::Id);
    layout.insert("createdate", Shown::Created);
    layout.insert(lastmodified_property(object), Shown::Updated);
    layout
}

/// Writes `"id":…,"properties":` then the properties (by `properties`), then
/// `,"createdAt":…,"updatedAt":…,"archived":false`: a record without its closing brace.
fn write_record(
    out: &mut Vec<u8>,
    stamps: &mut StampWriter,
    record: &Record,
    properties: impl FnOnce(&mut Vec<u8>, &mut StampWriter),
) {
    out.extend_from_slice(b"{\"id\":");
    wire::string(out, &record.id);
    out.extend_from_slice(b",\"properties\":");
    properties(out, stamps);
    out.extend_from_slice(b",\"createdAt\":");
    stamps.write_json(out, record.created_at);
    out.extend_from_slice(b",\"updatedAt\":");
    stamps.write_json(out, record.updated_at);
    out.extend_from_slice(b",\"archived\":false");
}

fn write_property(out: &mut Vec<u8>, value: Option<&PropertyValue>) {
    match value {
        Some(value) => value.write_json(out),
        None => out.extend_from_slice(b"null"),
    }
}

fn list(mock: &mut Mock, account_id: &str, object: &str, incoming: &Incoming) -> ProviderResponse {
    let pairs = incoming.query_pairs();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit").map(str::parse::<u32>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return validation_error(mock, "limit must be an integer between 1 and 100");
        }
    };
    let after = match get("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return validation_error(mock, "after must be a paging cursor returned by this API");
        }
    };
    let mut names: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if names.is_empty() && get("properties").is_none() {
        names = default_properties(object).to_vec();
    }
    let page_size = mock
        .accounts
        .get(account_id)
        .map_or(limit, |a| a.options.page_size.min(limit));
    let Ok(store) = mock.store(account_id, object) else {
        return validation_error(mock, &format!("Unable to infer object type from: {object}"));
    };
    let page: Vec<&Record> = store
        .records
        .range(after..)
        .map(|(_, r)| r)
        .take(page_size as usize + 1)
        .collect();
    let more = page.len() > page_size as usize;
    // The layout's keys, written once for the whole page.
    let layout: Vec<(Vec<u8>, Shown<'_>)> = list_layout(object, &names)
        .members()
        .map(|(name, shown)| {
            let mut key = Vec::with_capacity(name.len() + 3);
            wire::key(&mut key, name);
            (key, *shown)
        })
        .collect();
    // Where each shown property sat in the last record: the next one most likely has it there.
    let mut hints = vec![0usize; layout.len()];
    let mut stamps = StampWriter::new(Form::Rfc3339);
    let mut out = Vec::with_capacity(64 + page.len() * (160 + 48 * names.len()));
    out.extend_from_slice(b"{\"results\":[");
    for (i, record) in page.iter().take(page_size as usize).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_record(&mut out, &mut stamps, record, |out, stamps| {
            out.push(b'{');
            for (j, ((key, shown), hint)) in layout.iter().zip(&mut hints).enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key);
                match shown {
                    Shown::Property(name) => {
                        write_property(out, record.properties.get_hinted(name, hint));
                    }
                    Shown::Id => wire::string(out, &record.id),
                    Shown::Created => stamps.write_json(out, record.created_at),
                    Shown::Updated => stamps.write_json(out, record.updated_at),
                }
            }
            out.push(b'}');
        });
        out.push(b'}');
    }
    out.push(b']');
    if more {
        let next_after = page[page_size as usize - 1].number + 1;
        let mut link = format!(
            "{}{}?after={next_after}&limit={limit}",
            mock.base_url, incoming.path
        );
        if let Some(properties) = get("properties") {
            link.push_str("&properties=");
            link.push_str(
                &serde_urlencoded::to_string([("", properties)])
                    .map_or_else(|_| String::new(), |s| s.trim_start_matches('=').to_owned()),
            );
        }
        out.extend_from_slice(b",\"paging\":{\"next\":{\"after\":");
        wire::string(&mut out, itoa::Buffer::new().format(next_after));
        out.extend_from_slice(b",\"link\":");
        wire::string(&mut out, &link);
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    mock.json_bytes(200, out)
}

/// A property value of a batch input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputValue<'a> {
    Str(Cow<'a, str>),
    /// Anything but a string: a null, boolean, number, array or object.
    Json(Value),
}

/// One parsed batch input, borrowed from the body where the fast path read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Input<'a> {
    /// The external id (upsert) or record id (update), as the input gave it.
    pub id: Cow<'a, str>,
    /// Sorted by name, each name once (the last of repeated keys wins, as in a `Value` parse).
    pub properties: Vec<(Cow<'a, str>, InputValue<'a>)>,
}

/// The batch body's inputs, or the validation message: the fast path when it can prove the
/// body has the common valid shape, else the `Value` parse that gives every message.
fn parse_inputs(body: &[u8], kind: Kind) -> Result<Vec<Input<'_>>, String> {
    match fast::inputs(body, kind) {
        Some(inputs) => Ok(inputs),
        None => parse_inputs_value(body, kind),
    }
}

/// The `Value`-based parse: every shape, every message.
fn parse_inputs_value(body: &[u8], kind: Kind) -> Result<Vec<Input<'static>>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let inputs = value
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or("Invalid input JSON: inputs must be an array")?;
    if inputs.len() > BATCH_MAX {
        return Err(format!("Batch input cannot exceed {BATCH_MAX} inputs"));
    }
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut seen = BTreeSet::new();
    for (index, input) in inputs.iter().enumerate() {
        let id = input
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Invalid input JSON: inputs[{index}].id must be a string"))?;
        if kind == Kind::Upsert {
            match input.get("idProperty").and_then(Value::as_str) {
                Some(EXTERNAL_ID_PROPERTY) => {}
                Some(other) => {
                    return Err(format!(
                        "Property {other:?} is not a unique identifier property; use {EXTERNAL_ID_PROPERTY:?}"
                    ));
                }
                None => {
                    return Err(format!(
                        "Invalid input JSON: inputs[{index}].idProperty must be a string"
                    ));
                }
            }
        }
        let properties: BTreeMap<String, Value> = match input.get("properties") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map.clone().into_iter().collect(),
            Some(_) => {
                return Err(format!(
                    "Invalid input JSON: inputs[{index}].properties must be an object"
                ));
            }
        };
        if !seen.insert(id.to_owned()) {
            return Err(format!("Duplicate IDs found in batch input: [{id}]"));
        }
        parsed.push(Input {
            id: Cow::Owned(id.to_owned()),
            properties: properties
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => InputValue::Str(Cow::Owned(s)),
                        other => InputValue::Json(other),
                    };
                    (Cow::Owned(k), v)
                })
                .collect(),
        });
    }
    Ok(parsed)
}

/// The borrowing parse of the common batch body; `None` whenever it cannot prove the body is
/// that shape, and the `Value` parse decides.
mod fast {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::{BATCH_MAX, EXTERNAL_ID_PROPERTY, Input, InputValue, Kind};
    use crate::fastjson::{Scalar, Skip, Text, give_up, next_key, parse_body};

    /// The inputs of `{"inputs": [...]}` when every input is an object with a string `id`, (for
    /// an upsert) `"idProperty": "endgrate_internal_id"`, and `properties` null, absent or an
    /// object of scalars (of a repeated name the last wins); `inputs`, `id`, `idProperty` and
    /// `properties` each once, at most [`BATCH_MAX`] inputs, no two with the same id.
    pub(super) fn inputs(body: &[u8], kind: Kind) -> Option<Vec<Input<'_>>> {
        let inputs = parse_body(body, |de| de.deserialize_map(BodyVisitor { kind }))?;
        let mut ids: Vec<&str> = inputs.iter().map(|input| input.id.as_ref()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(inputs)
    }

    struct BodyVisitor {
        kind: Kind,
    }

    impl<'de> Visitor<'de> for BodyVisitor {
        type Value = Vec<Input<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a batch body")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut inputs = None;
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                if key == "inputs" {
                    if inputs.is_some() {
                        return Err(give_up());
                    }
                    inputs = Some(map.next_value_seed(InputsSeed { kind: self.kind })?);
                } else {
                    map.next_value::<Skip>()?;
                }
            }
            inputs.ok_or_else(give_up)
        }
    }

    struct InputsSeed {
        kind: Kind,
    }

    impl<'de> DeserializeSeed<'de> for InputsSeed {
        type Value = Vec<Input<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for InputsSeed {
        type Value = Vec<Input<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of inputs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // serde_json gives no size hint: room for the most a batch may carry, at once.
            let mut inputs = Vec::with_capacity(BATCH_MAX);
            while let Some(input) = seq.next_element_seed(InputSeed { kind: self.kind })? {
                if inputs.len() == BATCH_MAX {
                    return Err(give_up());
                }
                inputs.push(input);
            }
            Ok(inputs)
        }
    }

    struct InputSeed {
        kind: Kind,
    }

    impl<'de> DeserializeSeed<'de> for InputSeed {
        type Value = Input<'de>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for InputSeed {
        type Value = Input<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an input object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut id = None;
            let mut id_property_seen = false;
            let mut properties = None;
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                match key.as_ref() {
                    "id" if id.is_none() => id = Some(map.next_value::<Text<'de>>()?.0),
                    "idProperty" if !id_property_seen && self.kind == Kind::Upsert => {
                        id_property_seen = true;
                        if map.next_value::<Text<'de>>()?.0 != EXTERNAL_ID_PROPERTY {
                            return Err(give_up());
                        }
                    }
                    "properties" if properties.is_none() => {
                        properties = Some(map.next_value_seed(PropertiesSeed)?);
                    }
                    "id" | "properties" => return Err(give_up()),
                    "idProperty" if self.kind == Kind::Upsert => return Err(give_up()),
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            if self.kind == Kind::Upsert && !id_property_seen {
                return Err(give_up());
            }
            Ok(Input {
                id: id.ok_or_else(give_up)?,
                properties: properties.unwrap_or_default(),
            })
        }
    }

    struct PropertiesSeed;

    impl<'de> DeserializeSeed<'de> for PropertiesSeed {
        type Value = Vec<(Cow<'de, str>, InputValue<'de>)>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for PropertiesSeed {
        type Value = Vec<(Cow<'de, str>, InputValue<'de>)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of properties or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut properties = Vec::with_capacity(map.size_hint().unwrap_or(8));
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                let value = match map.next_value::<Scalar<'de>>()? {
                    Scalar::Str(s) => InputValue::Str(s),
                    Scalar::Other(v) => InputValue::Json(v),
                };
                properties.push((key, value));
            }
            // Stable, so that of repeated names the last comes last and wins, as in a `Value`.
            properties.sort_by(|a: &(Cow<'_, str>, _), b| a.0.cmp(&b.0));
            if properties.windows(2).any(|w| w[0].0 == w[1].0) {
                let mut unique: Vec<(Cow<'de, str>, InputValue<'de>)> =
                    Vec::with_capacity(properties.len());
                for (name, value) in properties {
                    match unique.last_mut() {
                        Some(last) if last.0 == name => last.1 = value,
                        _ => unique.push((name, value)),
                    }
                }
                properties = unique;
            }
            Ok(properties)
        }
    }
}

/// Why one input failed: HubSpot's per-input error, before the `context` is added.
fn input_problem(input: &Input<'_>) -> Option<(&'static str, String)> {
    if input.id.is_empty() {
        return Some(("VALIDATION_ERROR", "id must not be empty".into()));
    }
    let mut email = None;
    for (name, value) in &input.properties {
        match value {
            InputValue::Json(Value::Object(_) | Value::Array(_)) => {
                return Some((
                    "VALIDATION_ERROR",
                    format!("Property values were not valid: {name} must be a string"),
                ));
            }
            InputValue::Str(s) if name == "email" => email = Some(s),
            _ => {}
        }
    }
    if let Some(email) = email
        && !email.contains('@')
    {
        return Some((
            "VALIDATION_ERROR",
            format!(
                "Property values were not valid: [{{\"isValid\":false,\"message\":\"Email address {email} is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"
            ),
        ));
    }
    None
}

/// A written value as HubSpot stores it: strings only (numbers and booleans become their text),
/// and a null removes the property.
fn stored(value: &InputValue<'_>) -> Option<PropertyValue> {
    match value {
        InputValue::Str(s) => Some(PropertyValue::String(CompactString::from(s.as_ref()))),
        InputValue::Json(Value::Null) => None,
        InputValue::Json(Value::Number(n)) => {
            Some(PropertyValue::String(CompactString::from(n.to_string())))
        }
        InputValue::Json(Value::Bool(b)) => {
            Some(PropertyValue::String(CompactString::from(b.to_string())))
        }
        InputValue::Json(other) => PropertyValue::from_value(other.clone()),
    }
}

/// Writes one per-input error.
fn write_error(out: &mut Vec<u8>, category: &str, message: &str, id: &str) {
    out.extend_from_slice(b"{\"status\":\"error\",\"category\":");
    wire::string(out, category);
    out.extend_from_slice(b",\"message\":");
    wire::string(out, message);
    out.extend_from_slice(b",\"context\":{\"ids\":[");
    wire::string(out, id);
    out.extend_from_slice(b"]}}");
}

/// Writes the result of one written input: the record with the input's properties as stored
/// (null when a null removed them), the external id (upserts) and the system properties, each
/// of these taking the place of an input property of the same name; then `"new"`.
fn write_result(
    out: &mut Vec<u8>,
    stamps: &mut StampWriter,
    record: &Record,
    input: &Input<'_>,
    kind: Kind,
    object: &str,
    new: bool,
) {
    /// The properties a result shows whatever the input wrote.
    #[derive(Clone, Copy)]
    enum Fixed {
        ExternalId,
        Id,
        Created,
        Updated,
    }
    let overrides = [
        (kind == Kind::Upsert).then_some((EXTERNAL_ID_PROPERTY, Fixed::ExternalId)),
        Some(("hs_object_id", Fixed::Id)),
        Some(("createdate", Fixed::Created)),
        Some((lastmodified_property(object), Fixed::Updated)),
    ];
    // Which of the fixed properties the input also wrote, so that they show in its place.
    let mut overridden = [false; 4];
    let override_of = |name: &str| {
        overrides
            .iter()
            .enumerate()
            .find(|(_, fixed)| fixed.is_some_and(|(key, _)| key == name))
            .and_then(|(i, fixed)| fixed.map(|(_, fixed)| (i, fixed)))
    };
    let write_fixed = |out: &mut Vec<u8>, stamps: &mut StampWriter, fixed: Fixed| match fixed {
        Fixed::ExternalId => wire::string(out, &input.id),
        Fixed::Id => wire::string(out, &record.id),
        Fixed::Created => stamps.write_json(out, record.created_at),
        Fixed::Updated => stamps.write_json(out, record.updated_at),
    };
    write_record(out, stamps, record, |out, stamps| {
        out.push(b'{');
        let mut first = true;
        // Both sorted by name: one walk finds each input property's stored value.
        let mut stored = record.properties.iter().peekable();
        for (name, _) in &input.properties {
            wire::member(out, first, name);
            first = false;
            if let Some((i, fixed)) = override_of(name) {
                overridden[i] = true;
                write_fixed(out, stamps, fixed);
                continue;
            }
            let mut value = None;
            while let Some((key, v)) = stored.peek() {
                match (*key).cmp(name.as_ref()) {
                    std::cmp::Ordering::Less => {
                        stored.next();
                    }
                    std::cmp::Ordering::Equal => {
                        value = Some(*v);
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            write_property(out, value);
        }
        for (i, fixed) in overrides.iter().enumerate() {
            if let Some((name, fixed)) = fixed
                && !overridden[i]
            {
                wire::member(out, first, name);
                first = false;
                write_fixed(out, stamps, *fixed);
            }
        }
        out.push(b'}');
    });
    out.extend_from_slice(b",\"new\":");
    wire::boolean(out, new);
    out.push(b'}');
}

fn batch(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    kind: Kind,
    incoming: &Incoming,
) -> ProviderResponse {
    let inputs = match parse_inputs(&incoming.body, kind) {
        Ok(inputs) => inputs,
        Err(message) => return validation_error(mock, &message),
    };
    let mut stamps = StampWriter::new(Form::Rfc3339);
    // Each result's bytes, in input order; the answer lists them in reverse.
    let mut results = Vec::with_capacity(inputs.len() * 400);
    let mut spans = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    let mut error_count = 0u64;
    // Every input of a batch that cannot reach the store is an error of its own.
    let mut writer = mock.writer(account_id, object).ok();
    for input in &inputs {
        if let Some((category, message)) = input_problem(input) {
            if error_count > 0 {
                errors.push(b',');
            }
            write_error(&mut errors, category, &message, &input.id);
            error_count += 1;
            continue;
        }
        let written = writer.as_mut().and_then(|writer| match kind {
            Kind::Upsert => upsert_one(writer, now, input),
            Kind::Update | Kind::List => update_one(writer, now, input),
        });
        match written {
            Some((record, new)) => {
                let start = results.len();
                write_result(&mut results, &mut stamps, record, input, kind, object, new);
                spans.push(start..results.len());
            }
            None => {
                if error_count > 0 {
                    errors.push(b',');
                }
                let message = format!(
                    "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                    object.to_uppercase()
                );
                write_error(&mut errors, "OBJECT_NOT_FOUND", &message, &input.id);
                error_count += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(results.len() + errors.len() + 160);
    out.extend_from_slice(b"{\"status\":\"COMPLETE\",\"results\":[");
    // Not in input order, as HubSpot: a target must match results by id.
    for (i, span) in spans.iter().rev().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&results[span.clone()]);
    }
    out.extend_from_slice(b"],\"startedAt\":");
    stamps.write_json(&mut out, now);
    out.extend_from_slice(b",\"completedAt\":");
    stamps.write_json(&mut out, now);
    if error_count == 0 {
        out.push(b'}');
        mock.json_bytes(200, out)
    } else {
        out.extend_from_slice(b",\"numErrors\":");
        wire::number(&mut out, error_count);
        out.extend_from_slice(b",\"errors\":[");
        out.extend_from_slice(&errors);
        out.extend_from_slice(b"]}");
        mock.json_bytes(207, out)
    }
}

/// Creates or updates the record the input's external id names; answers it and whether it is
/// new.
fn upsert_one<'w>(
    writer: &'w mut StoreWriter<'_>,
    now: Millis,
    input: &Input<'_>,
) -> Option<(&'w Record, bool)> {
    let existing = writer.store.get_by_external_id(&input.id).map(|r| r.number);
    let external_id = || PropertyValue::String(CompactString::from(input.id.as_ref()));
    match existing {
        Some(number) => {
            // The input's properties with the external id set to the input's id, in name order.
            let split = input
                .properties
                .partition_point(|(name, _)| name.as_ref() < EXTERNAL_ID_PROPERTY);
            fn change<'i>(
                (name, value): &'i (Cow<'_, str>, InputValue<'_>),
            ) -> (&'i str, Option<PropertyValue>) {
                (name.as_ref(), stored(value))
            }
            let changes = input.properties[..split]
                .iter()
                .map(change)
                .chain(std::iter::once((EXTERNAL_ID_PROPERTY, Some(external_id()))))
                .chain(
                    input.properties[split..]
                        .iter()
                        .filter(|(name, _)| name != EXTERNAL_ID_PROPERTY)
                        .map(change),
                );
            writer.merge_at(now, number, changes).map(|r| (r, false))
        }
        None => {
            let mut entries = Vec::with_capacity(input.properties.len() + 1);
            for (name, value) in &input.properties {
                if name != EXTERNAL_ID_PROPERTY
                    && let Some(value) = stored(value)
                {
                    entries.push((CompactString::from(name.as_ref()), value));
                }
            }
            let at = entries
                .binary_search_by(|(k, _)| k.as_str().cmp(EXTERNAL_ID_PROPERTY))
                .unwrap_or_else(|at| at);
            entries.insert(
                at,
                (CompactString::from(EXTERNAL_ID_PROPERTY), external_id()),
            );
            Some((writer.create(now, Properties::from_sorted(entries)), true))
        }
    }
}

/// Updates the record with the input's id; answers it.
fn update_one<'w>(
    writer: &'w mut StoreWriter<'_>,
    now: Millis,
    input: &Input<'_>,
) -> Option<(&'w Record, bool)> {
    let number = writer.store.get(&input.id)?.number;
    let changes = input
        .properties
        .iter()
        .map(|(name, value)| (name.as_ref(), stored(value)));
    writer.merge_at(now, number, changes).map(|r| (r, false))
}

// -------------------------------------------------------------------- fixed answers

/// `{"access_token", "refresh_token", "expires_in", "token_type": "bearer"}`.
pub(crate) fn token_answer(
    mock: &Mock,
    access_token: &str,
    refresh_token: &str,
    lifetime_s: u64,
) -> ProviderResponse {
    mock.json(
        200,
        &json!({
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": lifetime_s,
            "token_type": "bearer",
        }),
    )
}

pub(crate) fn token_error(mock: &Mock, error: TokenError) -> ProviderResponse {
    let (status, message) = match error {
        TokenError::GrantType => ("BAD_GRANT_TYPE", "grant_type must be refresh_token"),
        TokenError::Client => ("BAD_CLIENT_ID", "missing or unknown client id"),
        TokenError::Secret => (
            "BAD_CLIENT_SECRET",
            "client secret does not match client id",
        ),
        TokenError::RefreshToken => ("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
    };
    mock.json(400, &json!({"status": status, "message": message}))
}

/// `401 {"status": "error", "category": "EXPIRED_AUTHENTICATION", "message"}`.
pub(crate) fn unauthorized_answer(mock: &Mock) -> ProviderResponse {
    mock.json(
        401,
        &json!({
            "status": "error",
            "category": "EXPIRED_AUTHENTICATION",
            "message": "The OAuth token used to make this call expired or is not valid.",
        }),
    )
}

/// `429` with the `TEN_SECONDLY_ROLLING` body and no `Retry-After`.
pub(crate) fn rate_limit_answer(mock: &mut Mock) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        429,
        &json!({
            "status": "error",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
            "message": "You have reached your ten_secondly_rolling limit.",
            "correlationId": correlation_id,
        }),
    )
}

fn validation_error(mock: &mut Mock, message: &str) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        400,
        &json!({
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": message,
            "correlationId": correlation_id,
        }),
    )
}

pub(crate) fn not_found_answer(mock: &mut Mock) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        404,
        &json!({
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Resource not found",
            "correlationId": correlation_id,
        }),
    )
}

pub(crate) fn method_not_allowed_answer(mock: &mut Mock, method: &Method) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        405,
        &json!({
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": format!("HTTP method {method} is not supported by this URL"),
            "correlationId": correlation_id,
        }),
    )
}
