//! The Salesforce dialect (CONTRACT.md section 6): routes, bodies and error shapes.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /services/oauth2/token` | `{access_token, instance_url, issued_at, token_type, id, signature}`, no `expires_in` |
//! | `GET /services/data/vNN.N/query?q=SELECT … FROM …` | `{totalSize, done, nextRecordsUrl?, records}` |
//! | `GET /services/data/vNN.N/query/<locator>` | the next page of a query |
//! | `PATCH /services/data/vNN.N/composite/sobjects/{Contact,Account}/Endgrate_Internal_Id__c` | upsert, one result per record, in order |
//! | `PATCH /services/data/vNN.N/composite/sobjects` | update by id, same answer |
//!
//! `nextRecordsUrl` and record `url`s are paths that start with the base URL's own path (e.g.
//! `/salesforce/services/...`), so that they resolve against `instance_url` (the full base URL)
//! as a URL reference. Query cursors are snapshots of the matching ids, so records deleted
//! mid-scan are skipped and none is served twice.

use std::borrow::Cow;
use std::collections::BTreeSet;

use base64::Engine as _;
use compact_str::CompactString;
use http::Method;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::account::{Properties, PropertyValue};
use crate::error::MockError;
use crate::ids;
use crate::mock::{
    ApiRoute, CURSORS_MAX, Incoming, Mock, QueryCursor, Route, StoreWriter, TokenError,
};
use crate::seam::{Millis, ProviderResponse};
use crate::time::{Form, StampWriter};
use crate::wire::{self, Object};

#[cfg(test)]
pub(crate) mod oracle;
#[cfg(test)]
mod tests;

/// The external-id field a target's upserts key on.
pub const EXTERNAL_ID_FIELD: &str = "Endgrate_Internal_Id__c";
/// The most records one composite request may carry.
pub const BATCH_MAX: usize = 200;
/// The largest query page.
pub const PAGE_MAX: u32 = 2000;

/// The 3-character key prefix of an object's ids.
pub(crate) fn key_prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        _ => "003",
    }
}

fn object_of_id(id: &str) -> Option<&'static str> {
    match id.get(..3) {
        Some("003") => Some("Contact"),
        Some("001") => Some("Account"),
        _ => None,
    }
}

/// The fields an object knows, in their canonical spelling; anything else is stored as written.
fn known_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Account" => &["Name", "Website", "Industry", EXTERNAL_ID_FIELD],
        _ => &["FirstName", "LastName", "Email", "Phone", EXTERNAL_ID_FIELD],
    }
}

fn required_field(object: &str) -> &'static str {
    match object {
        "Account" => "Name",
        _ => "LastName",
    }
}

/// The canonical spelling of `field` if the object knows it (without regard to ASCII case).
fn known_spelling(object: &str, field: &str) -> Option<&'static str> {
    known_fields(object)
        .iter()
        .find(|known| known.eq_ignore_ascii_case(field))
        .copied()
}

/// A field's name as stored: the canonical spelling of a known field, anything else as written.
fn canonical<'a>(object: &str, field: &Cow<'a, str>) -> Cow<'a, str> {
    known_spelling(object, field).map_or_else(|| field.clone(), Cow::Borrowed)
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|v| v.parse::<f32>().is_ok() && v.contains('.'))
}

/// Maps a request onto a route.
pub(crate) fn route(incoming: &Incoming) -> Route {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    match segments.as_slice() {
        ["services", "oauth2", "token"] => only(method, Method::POST, Route::Token),
        ["services", "data", version, "query"] if is_version(version) => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::SalesforceQuery {
                version: (*version).to_owned(),
            }),
        ),
        ["services", "data", version, "query", locator] if is_version(version) => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::SalesforceQueryMore {
                version: (*version).to_owned(),
                locator: (*locator).to_owned(),
            }),
        ),
        ["services", "data", version, "composite", "sobjects"] if is_version(version) => only(
            method,
            Method::PATCH,
            Route::Api(ApiRoute::SalesforceUpdate {
                version: (*version).to_owned(),
            }),
        ),
        [
            "services",
            "data",
            version,
            "composite",
            "sobjects",
            object,
            field,
        ] if is_version(version) => only(
            method,
            Method::PATCH,
            Route::Api(ApiRoute::SalesforceUpsert {
                version: (*version).to_owned(),
                object: (*object).to_owned(),
                field: (*field).to_owned(),
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
    match api {
        ApiRoute::SalesforceQuery { version } => query(mock, account_id, version, incoming),
        ApiRoute::SalesforceQueryMore { version, locator } => {
            query_more(mock, account_id, version, locator)
        }
        ApiRoute::SalesforceUpsert {
            version: _,
            object,
            field,
        } => upsert(mock, now, account_id, object, field, incoming),
        ApiRoute::SalesforceUpdate { version: _ } => update(mock, now, account_id, incoming),
        other => unreachable!("a HubSpot route {other:?} reached the Salesforce dialect"),
    }
}

fn error_list(mock: &Mock, status: u16, code: &str, message: &str) -> ProviderResponse {
    mock.json(status, &json!([{"message": message, "errorCode": code}]))
}

// -------------------------------------------------------------------- queries

/// `SELECT f1, f2 FROM Object`, the only SOQL the mock understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Soql {
    pub fields: Vec<String>,
    pub object: String,
}

pub(crate) fn parse_soql(q: &str) -> Result<Soql, String> {
    let words: Vec<&str> = q.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Err("unexpected token: <EOF>".into());
    };
    if !first.eq_ignore_ascii_case("SELECT") {
        return Err(format!("unexpected token: {first}"));
    }
    let Some(from) = words.iter().position(|w| w.eq_ignore_ascii_case("FROM")) else {
        return Err("unexpected token: <EOF>, expecting FROM".into());
    };
    let field_text = words[1..from].join(" ");
    let fields: Vec<String> = field_text.split(',').map(|f| f.trim().to_owned()).collect();
    if fields.iter().any(|f| {
        f.is_empty()
            || !f
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    }) {
        return Err(format!("unexpected token in field list: {field_text}"));
    }
    match &words[from + 1..] {
        [object]
            if object
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(Soql {
                fields,
                object: (*object).to_owned(),
            })
        }
        [] => Err("unexpected token: <EOF>, expecting an object".into()),
        [_, rest @ ..] => Err(format!(
            "unexpected token: {} (only SELECT <fields> FROM <object> is supported)",
            rest.first().copied().unwrap_or("")
        )),
    }
}

/// Where a queried field's value comes from.
#[derive(Debug, Clone, Copy)]
enum Column<'a> {
    /// `Id`.
    Id,
    /// `CreatedDate`.
    Created,
    /// `LastModifiedDate` or `SystemModstamp`, by that name.
    Updated(&'static str),
    /// A stored field: the record's first property whose name matches without regard to ASCII
    /// case, shown under the record's spelling; else `null` under the query's.
    Property(&'a str),
}

fn column(field: &str) -> Column<'_> {
    if field.eq_ignore_ascii_case("id") {
        Column::Id
    } else if field.eq_ignore_ascii_case("createddate") {
        Column::Created
    } else if field.eq_ignore_ascii_case("lastmodifieddate") {
        Column::Updated("LastModifiedDate")
    } else if field.eq_ignore_ascii_case("systemmodstamp") {
        Column::Updated("SystemModstamp")
    } else {
        Column::Property(field)
    }
}

/// One member of a queried record.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Attributes,
    Id,
    Stamp(Millis),
    Value(&'a PropertyValue),
    Null,
}

/// Writes a page of a query's records: `{"totalSize", "done", "nextRecordsUrl"?, "records"}`.
fn page(
    mock: &Mock,
    version: &str,
    cursor_id: &str,
    cursor: &QueryCursor,
    offset: usize,
) -> Vec<u8> {
    let end = (offset + cursor.page_size as usize).min(cursor.numbers.len());
    let store = mock.store(&cursor.account_id, &cursor.object).ok();
    let columns: Vec<Column<'_>> = cursor.fields.iter().map(|f| column(f)).collect();
    let mut stamps = StampWriter::new(Form::Salesforce);
    // `{base path}/services/data/{version}/sobjects/{object}/`, then each record's id.
    let mut url = format!(
        "{}/services/data/{version}/sobjects/{}/",
        mock.base_path(),
        cursor.object
    );
    let url_prefix = url.len();
    let mut row = Object::with_capacity(columns.len() + 1);
    let count = end.saturating_sub(offset);
    let mut out = Vec::with_capacity(128 + count * (96 + url.len() + 40 * columns.len()));
    out.extend_from_slice(b"{\"totalSize\":");
    wire::number(&mut out, cursor.numbers.len() as u64);
    out.extend_from_slice(b",\"done\":");
    wire::boolean(&mut out, end >= cursor.numbers.len());
    if end < cursor.numbers.len() {
        out.extend_from_slice(b",\"nextRecordsUrl\":");
        wire::string(
            &mut out,
            &format!(
                "{}/services/data/{version}/query/{cursor_id}-{end}",
                mock.base_path()
            ),
        );
    }
    out.extend_from_slice(b",\"records\":[");
    let records = cursor.numbers[offset..end]
        .iter()
        .filter_map(|n| store.and_then(|s| s.records.get(n)));
    for (i, record) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        row.clear();
        row.insert("attributes", Cell::Attributes);
        for column in &columns {
            match *column {
                Column::Id => row.insert("Id", Cell::Id),
                Column::Created => row.insert("CreatedDate", Cell::Stamp(record.created_at)),
                Column::Updated(name) => row.insert(name, Cell::Stamp(record.updated_at)),
                Column::Property(field) => {
                    match record
                        .properties
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    {
                        Some((name, value)) => row.insert(name, Cell::Value(value)),
                        None => row.insert(field, Cell::Null),
                    }
                }
            }
        }
        row.write(&mut out, |out, cell| match cell {
            Cell::Attributes => {
                out.extend_from_slice(b"{\"type\":");
                wire::string(out, &cursor.object);
                out.extend_from_slice(b",\"url\":");
                url.truncate(url_prefix);
                url.push_str(&record.id);
                wire::string(out, &url);
                out.push(b'}');
            }
            Cell::Id => wire::string(out, &record.id),
            Cell::Stamp(ms) => stamps.write_json(out, *ms),
            Cell::Value(value) => value.write_json(out),
            Cell::Null => out.extend_from_slice(b"null"),
        });
    }
    out.extend_from_slice(b"]}");
    out
}

fn query(
    mock: &mut Mock,
    account_id: &str,
    version: &str,
    incoming: &Incoming,
) -> ProviderResponse {
    let pairs = incoming.query_pairs();
    let Some(q) = pairs.iter().find(|(k, _)| k == "q").map(|(_, v)| v.clone()) else {
        return error_list(
            mock,
            400,
            "MALFORMED_QUERY",
            "A query string must be provided in the q parameter.",
        );
    };
    let soql = match parse_soql(&q) {
        Ok(soql) => soql,
        Err(message) => return error_list(mock, 400, "MALFORMED_QUERY", &message),
    };
    let Some(object) = mock
        .dialect
        .objects()
        .iter()
        .find(|o| o.eq_ignore_ascii_case(&soql.object))
        .copied()
    else {
        return error_list(
            mock,
            400,
            "INVALID_TYPE",
            &format!("sObject type '{}' is not supported.", soql.object),
        );
    };
    let requested_batch = incoming
        .headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|part| part.trim().strip_prefix("batchSize="))
                .find_map(|n| n.trim().parse::<u32>().ok())
        })
        .filter(|n| (200..=PAGE_MAX).contains(n));
    let account_page = mock
        .accounts
        .get(account_id)
        .map_or(PAGE_MAX, |a| a.options.page_size);
    let page_size = requested_batch.map_or(account_page, |n| n.min(account_page));
    let Ok(store) = mock.store(account_id, object) else {
        return error_list(mock, 400, "INVALID_TYPE", "sObject type is not supported.");
    };
    let numbers: Vec<u64> = store.records.keys().copied().collect();
    let cursor_id = ids::salesforce_id("01g", mock.next_cursor);
    mock.next_cursor += 1;
    let cursor = QueryCursor {
        account_id: account_id.to_owned(),
        object: object.to_owned(),
        fields: soql.fields,
        numbers,
        page_size,
    };
    let body = page(mock, version, &cursor_id, &cursor, 0);
    if cursor.numbers.len() > page_size as usize {
        if mock.cursors.len() >= CURSORS_MAX
            && let Some(oldest) = mock.cursors.keys().next().cloned()
        {
            mock.cursors.remove(&oldest);
        }
        mock.cursors.insert(cursor_id, cursor);
    }
    mock.json_bytes(200, body)
}

fn query_more(mock: &Mock, account_id: &str, version: &str, locator: &str) -> ProviderResponse {
    let invalid =
        |mock: &Mock| error_list(mock, 400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((cursor_id, offset)) = locator.rsplit_once('-') else {
        return invalid(mock);
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid(mock);
    };
    // Read in place: a cursor holds the numbers of every matching record.
    let Some(cursor) = mock.cursors.get(cursor_id) else {
        return invalid(mock);
    };
    if cursor.account_id != account_id || offset > cursor.numbers.len() {
        return invalid(mock);
    }
    let body = page(mock, version, cursor_id, cursor, offset);
    mock.json_bytes(200, body)
}

// -------------------------------------------------------------------- composite writes

/// A member of a composite record, as the plans read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Member<'a> {
    Str(Cow<'a, str>),
    /// Anything but a string.
    Json(Value),
    /// The value of a key that is `attributes` in any ASCII case: never written, never read
    /// (the record's type comes from [`InRecord::Object::type_name`]).
    Ignored,
}

/// One record of a composite body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InRecord<'a> {
    /// Not a JSON object.
    NotObject,
    Object {
        /// In the order of a `Value` map: a repeated key keeps its first place and its last
        /// value.
        members: Vec<(Cow<'a, str>, Member<'a>)>,
        /// `attributes.type`, when the key `attributes` holds an object whose `type` is a
        /// string.
        type_name: Option<Cow<'a, str>>,
    },
}

/// The parsed body of a composite request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Composite<'a> {
    pub all_or_none: bool,
    pub records: Vec<InRecord<'a>>,
}

/// The composite body: the borrowing fast path when it can prove the body has the common valid
/// shape, else the `Value` parse that gives every message.
fn parse_composite(body: &[u8]) -> Result<Composite<'_>, (&'static str, String)> {
    match fast::composite(body) {
        Some(composite) => Ok(composite),
        None => parse_composite_value(body),
    }
}

fn parse_composite_value(body: &[u8]) -> Result<Composite<'static>, (&'static str, String)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            "JSON_PARSER_ERROR",
            format!(
                "Unexpected character at [line:{}, column:{}]: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let records = value
        .get("records")
        .and_then(Value::as_array)
        .ok_or(("MISSING_ARGUMENT", "records must be an array".to_owned()))?;
    if records.len() > BATCH_MAX {
        return Err((
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {BATCH_MAX} records into this call"
            ),
        ));
    }
    let all_or_none = match value.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err((
                "JSON_PARSER_ERROR",
                "allOrNone must be a boolean".to_owned(),
            ));
        }
    };
    let records = records
        .iter()
        .map(|record| match record.as_object() {
            None => InRecord::NotObject,
            Some(map) => InRecord::Object {
                members: map
                    .iter()
                    .map(|(k, v)| {
                        let member = if k.eq_ignore_ascii_case("attributes") {
                            Member::Ignored
                        } else if let Value::String(s) = v {
                            Member::Str(Cow::Owned(s.clone()))
                        } else {
                            Member::Json(v.clone())
                        };
                        (Cow::Owned(k.clone()), member)
                    })
                    .collect(),
                type_name: map
                    .get("attributes")
                    .and_then(|a| a.get("type"))
                    .and_then(Value::as_str)
                    .map(|t| Cow::Owned(t.to_owned())),
            },
        })
        .collect();
    Ok(Composite {
        all_or_none,
        records,
    })
}

/// The borrowing parse of the common composite body; `None` whenever it cannot prove the body
/// is that shape, and the `Value` parse decides.
mod fast {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    use super::{BATCH_MAX, Composite, InRecord, Member};
    use crate::fastjson::{Scalar, Skip, give_up, next_key, parse_body};

    /// `{"allOrNone": bool or null (or absent), "records": [...]}` with `records` and
    /// `allOrNone` once each, at most [`BATCH_MAX`] records, each an object whose values are
    /// scalars, but for keys that are `attributes` in any case (anything; only the `type` of
    /// `attributes` is kept).
    pub(super) fn composite(body: &[u8]) -> Option<Composite<'_>> {
        parse_body(body, |de| de.deserialize_map(BodyVisitor))
    }

    struct BodyVisitor;

    impl<'de> Visitor<'de> for BodyVisitor {
        type Value = Composite<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a composite body")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut records = None;
            let mut all_or_none = None;
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                match key.as_ref() {
                    "records" if records.is_none() => {
                        records = Some(map.next_value_seed(RecordsSeed)?);
                    }
                    "allOrNone" if all_or_none.is_none() => {
                        all_or_none = Some(match map.next_value::<Scalar<'de>>()? {
                            Scalar::Other(Value::Null) => false,
                            Scalar::Other(Value::Bool(b)) => b,
                            _ => return Err(give_up()),
                        });
                    }
                    "records" | "allOrNone" => return Err(give_up()),
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Composite {
                all_or_none: all_or_none.unwrap_or(false),
                records: records.ok_or_else(give_up)?,
            })
        }
    }

    struct RecordsSeed;

    impl<'de> DeserializeSeed<'de> for RecordsSeed {
        type Value = Vec<InRecord<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for RecordsSeed {
        type Value = Vec<InRecord<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // serde_json gives no size hint: room for the most a request may carry, at once.
            let mut records = Vec::with_capacity(BATCH_MAX);
            while let Some(record) = seq.next_element_seed(RecordSeed)? {
                if records.len() == BATCH_MAX {
                    return Err(give_up());
                }
                records.push(record);
            }
            Ok(records)
        }
    }

    struct RecordSeed;

    impl<'de> DeserializeSeed<'de> for RecordSeed {
        type Value = InRecord<'de>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for RecordSeed {
        type Value = InRecord<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a record object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members: Vec<(Cow<'de, str>, Member<'de>)> = Vec::with_capacity(8);
            let mut type_name = None;
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                let member = if key.eq_ignore_ascii_case("attributes") {
                    let kind = map.next_value_seed(AttributesSeed)?;
                    if key == "attributes" {
                        type_name = kind;
                    }
                    Member::Ignored
                } else {
                    match map.next_value::<Scalar<'de>>()? {
                        Scalar::Str(s) => Member::Str(s),
                        Scalar::Other(v) => Member::Json(v),
                    }
                };
                // As a `Value` map: a repeated key keeps its place and takes the new value.
                match members.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = member,
                    None => members.push((key, member)),
                }
            }
            Ok(InRecord::Object { members, type_name })
        }
    }

    /// The value of an `attributes` key: its `type` when it is an object whose (last) `type`
    /// is a string, else nothing; any value is read.
    struct AttributesSeed;

    impl<'de> DeserializeSeed<'de> for AttributesSeed {
        type Value = Option<Cow<'de, str>>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_any(self)
        }
    }

    /// A value that is read whole; the string, if it is one.
    struct StrOrAny;

    impl<'de> DeserializeSeed<'de> for StrOrAny {
        type Value = Option<Cow<'de, str>>;
        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_any(self)
        }
    }

    macro_rules! none_for_scalars {
        () => {
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Bounded by the body's length.
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(None)
            }
        };
    }

    impl<'de> Visitor<'de> for StrOrAny {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        none_for_scalars!();
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Bounded by the body's length.
            while next_key(&mut map)?.is_some() {
                map.next_value::<Skip>()?;
            }
            Ok(None)
        }
    }

    impl<'de> Visitor<'de> for AttributesSeed {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_string<E: de::Error>(self, _: String) -> Result<Self::Value, E> {
            Ok(None)
        }
        none_for_scalars!();
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kind = None;
            // Bounded by the body's length.
            while let Some(key) = next_key(&mut map)? {
                if key == "type" {
                    kind = map.next_value_seed(StrOrAny)?;
                } else {
                    map.next_value::<Skip>()?;
                }
            }
            Ok(kind)
        }
    }
}

/// An error of one record: `{"statusCode", "message", "fields"}`.
#[derive(Debug, Clone)]
struct RecordError {
    code: &'static str,
    message: Cow<'static, str>,
    fields: &'static [&'static str],
}

fn record_error(
    code: &'static str,
    message: impl Into<Cow<'static, str>>,
    fields: &'static [&'static str],
) -> RecordError {
    RecordError {
        code,
        message: message.into(),
        fields,
    }
}

/// Written fields in their stored form (`None` for a null), sorted by name, each once.
type Fields<'a> = Vec<(Cow<'a, str>, Option<PropertyValue>)>;

fn stored(member: &Member<'_>) -> Option<PropertyValue> {
    match member {
        Member::Str(s) => Some(PropertyValue::String(CompactString::from(s.as_ref()))),
        Member::Json(v) => PropertyValue::from_value(v.clone()),
        Member::Ignored => None,
    }
}

/// Sets `name` in sorted `fields`.
fn set_field<'a>(fields: &mut Fields<'a>, name: Cow<'a, str>, value: Option<PropertyValue>) {
    match fields.binary_search_by(|(k, _)| k.as_ref().cmp(name.as_ref())) {
        Ok(i) => fields[i].1 = value,
        Err(i) => fields.insert(i, (name, value)),
    }
}

fn field_of<'f>(fields: &'f Fields<'_>, name: &str) -> Option<&'f Option<PropertyValue>> {
    fields
        .binary_search_by(|(k, _)| k.as_ref().cmp(name))
        .ok()
        .map(|i| &fields[i].1)
}

/// The fields a record writes, canonicalised, without `attributes`, `Id` and the external id;
/// of fields that canonicalise alike the last wins.
fn writable_fields<'a>(object: &str, members: &[(Cow<'a, str>, Member<'a>)]) -> Fields<'a> {
    let mut fields: Fields<'a> = members
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("attributes")
                && !k.eq_ignore_ascii_case("id")
                && !k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD)
        })
        .map(|(k, v)| (canonical(object, k), stored(v)))
        .collect();
    // Stable: of equal names the last stays last and wins.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    if fields.windows(2).any(|w| w[0].0 == w[1].0) {
        let mut unique: Fields<'a> = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            match unique.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => unique.push((name, value)),
            }
        }
        fields = unique;
    }
    fields
}

/// Whether a required field is blank: absent, null, or a string of spaces.
fn blank(value: Option<&Option<PropertyValue>>) -> bool {
    match value {
        None | Some(None) => true,
        Some(Some(PropertyValue::String(s))) => s.trim().is_empty(),
        Some(Some(PropertyValue::Json(_))) => false,
    }
}

/// Whether `fields` has the object's required field, and it is blank.
fn required_blank(object: &str, fields: &Fields<'_>) -> bool {
    let required = required_field(object);
    field_of(fields, required).is_some() && blank(field_of(fields, required))
}

fn required_missing(object: &str) -> RecordError {
    let fields: &'static [&'static str] = match required_field(object) {
        "Name" => &["Name"],
        _ => &["LastName"],
    };
    record_error(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", fields[0]),
        fields,
    )
}

/// What one record of a composite request will do.
enum Plan<'a> {
    Create {
        object: &'static str,
        external_id: Cow<'a, str>,
        /// Whether an earlier record of the batch creates the same external id: only then can
        /// the record exist by the time this one is applied.
        after_another: bool,
        fields: Fields<'a>,
    },
    Update {
        object: &'static str,
        id: CompactString,
        fields: Fields<'a>,
    },
    Fail {
        id: Option<CompactString>,
        error: RecordError,
    },
}

fn not_an_object() -> Plan<'static> {
    Plan::Fail {
        id: None,
        error: record_error("JSON_PARSER_ERROR", "each record must be an object", &[]),
    }
}

fn upsert(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    field: &str,
    incoming: &Incoming,
) -> ProviderResponse {
    let Some(object) = mock
        .dialect
        .objects()
        .iter()
        .find(|o| **o == object)
        .copied()
    else {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    if !field.eq_ignore_ascii_case(EXTERNAL_ID_FIELD) {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            &format!("Provided external ID field does not exist or is not accessible: {field}"),
        );
    }
    let composite = match parse_composite(&incoming.body) {
        Ok(c) => c,
        Err((code, message)) => return error_list(mock, 400, code, &message),
    };
    let Ok(store) = mock.store(account_id, object) else {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let mut created_in_batch = BTreeSet::new();
    let plans: Vec<Plan<'_>> = composite
        .records
        .iter()
        .map(|record| {
            let InRecord::Object { members, .. } = record else {
                return not_an_object();
            };
            let external_id = members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD))
                .and_then(|(_, v)| match v {
                    Member::Str(s) if !s.is_empty() => Some(s.clone()),
                    Member::Json(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
                    _ => None,
                });
            let Some(external_id) = external_id else {
                return Plan::Fail {
                    id: None,
                    error: record_error(
                        "MISSING_ARGUMENT",
                        format!("{EXTERNAL_ID_FIELD} not specified"),
                        &[EXTERNAL_ID_FIELD],
                    ),
                };
            };
            let fields = writable_fields(object, members);
            let required = required_field(object);
            match store.get_by_external_id(&external_id) {
                Some(record) => {
                    if required_blank(object, &fields) {
                        return Plan::Fail {
                            id: Some(record.id.clone()),
                            error: required_missing(object),
                        };
                    }
                    Plan::Update {
                        object,
                        id: record.id.clone(),
                        fields,
                    }
                }
                None => {
                    let earlier = created_in_batch.contains(&external_id);
                    // A record created earlier in this batch may be updated without the required field.
                    if (field_of(&fields, required).is_some() || !earlier)
                        && blank(field_of(&fields, required))
                    {
                        return Plan::Fail {
                            id: None,
                            error: required_missing(object),
                        };
                    }
                    created_in_batch.insert(external_id.clone());
                    Plan::Create {
                        object,
                        external_id,
                        after_another: earlier,
                        fields,
                    }
                }
            }
        })
        .collect();
    apply(mock, now, account_id, composite.all_or_none, plans)
}

fn update(mock: &mut Mock, now: Millis, account_id: &str, incoming: &Incoming) -> ProviderResponse {
    let composite = match parse_composite(&incoming.body) {
        Ok(c) => c,
        Err((code, message)) => return error_list(mock, 400, code, &message),
    };
    let plans: Vec<Plan<'_>> = composite
        .records
        .iter()
        .map(|record| {
            let InRecord::Object { members, type_name } = record else {
                return not_an_object();
            };
            let id = members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                .and_then(|(_, v)| match v {
                    Member::Str(s) => Some(CompactString::from(s.as_ref())),
                    _ => None,
                });
            let object = type_name
                .as_deref()
                .and_then(|t| mock.dialect.objects().iter().find(|o| **o == t).copied());
            let Some(object) = object else {
                return Plan::Fail {
                    id,
                    error: record_error("INVALID_TYPE", "Must send a concrete entity type.", &[]),
                };
            };
            let Some(id) = id else {
                return Plan::Fail {
                    id: None,
                    error: record_error(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                        &[],
                    ),
                };
            };
            let exists = object_of_id(&id) == Some(object)
                && mock
                    .store(account_id, object)
                    .is_ok_and(|store| store.get(&id).is_some());
            if !exists {
                return Plan::Fail {
                    id: Some(id),
                    error: record_error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    ),
                };
            }
            let mut fields = writable_fields(object, members);
            // An update may set the external id too.
            if let Some((_, v)) = members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD))
            {
                set_field(&mut fields, Cow::Borrowed(EXTERNAL_ID_FIELD), stored(v));
            }
            if required_blank(object, &fields) {
                return Plan::Fail {
                    id: Some(id),
                    error: required_missing(object),
                };
            }
            Plan::Update { object, id, fields }
        })
        .collect();
    apply(mock, now, account_id, composite.all_or_none, plans)
}

/// Writes one result: `{"id", "success", "created", "errors"}`.
fn write_outcome(
    out: &mut Vec<u8>,
    id: Option<&str>,
    success: bool,
    created: bool,
    error: Option<&RecordError>,
) {
    out.extend_from_slice(b"{\"id\":");
    match id {
        Some(id) => wire::string(out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"success\":");
    wire::boolean(out, success);
    out.extend_from_slice(b",\"created\":");
    wire::boolean(out, created);
    out.extend_from_slice(b",\"errors\":[");
    if let Some(error) = error {
        out.extend_from_slice(b"{\"statusCode\":");
        wire::string(out, error.code);
        out.extend_from_slice(b",\"message\":");
        wire::string(out, &error.message);
        out.extend_from_slice(b",\"fields\":[");
        for (i, field) in error.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            wire::string(out, field);
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

/// The stored properties of a new record: its fields but the nulls.
fn new_properties(fields: Fields<'_>) -> Properties {
    Properties::from_sorted(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((CompactString::from(k.as_ref()), v?)))
            .collect(),
    )
}

/// Applies the plans in order (or none of them, with `allOrNone` and a failure); one result per
/// record, in input order.
fn apply(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    all_or_none: bool,
    plans: Vec<Plan<'_>>,
) -> ProviderResponse {
    let any_failed = plans.iter().any(|p| matches!(p, Plan::Fail { .. }));
    let mut out = Vec::with_capacity(16 + plans.len() * 80);
    out.push(b'[');
    // The store of the last written object, kept open while the object stays the same.
    let mut open: Option<(&'static str, Result<StoreWriter<'_>, MockError>)> = None;
    for (i, plan) in plans.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (object, plan) = match plan {
            Plan::Fail { id, error } => {
                write_outcome(&mut out, id.as_deref(), false, false, Some(&error));
                continue;
            }
            Plan::Create { .. } | Plan::Update { .. } if all_or_none && any_failed => {
                let error = record_error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                );
                write_outcome(&mut out, None, false, false, Some(&error));
                continue;
            }
            Plan::Create { object, .. } | Plan::Update { object, .. } => (object, plan),
        };
        if open.as_ref().is_none_or(|(o, _)| *o != object) {
            open = Some((object, mock.writer(account_id, object)));
        }
        let Some((_, writer)) = open.as_mut() else {
            unreachable!("the store was just opened");
        };
        match plan {
            Plan::Create {
                external_id,
                after_another,
                mut fields,
                ..
            } => {
                // An earlier record of this batch may have created it meanwhile (nothing else in
                // a batch writes an external id).
                let existing = writer
                    .as_ref()
                    .ok()
                    .filter(|_| after_another)
                    .and_then(|w| w.store.get_by_external_id(&external_id))
                    .map(|r| r.id.clone());
                set_field(
                    &mut fields,
                    Cow::Borrowed(EXTERNAL_ID_FIELD),
                    Some(PropertyValue::String(CompactString::from(
                        external_id.as_ref(),
                    ))),
                );
                match (existing, writer) {
                    (Some(id), Ok(writer)) => match merge(writer, now, &id, fields) {
                        Ok(()) => write_outcome(&mut out, Some(&id), true, false, None),
                        Err(e) => {
                            let error = record_error("UNKNOWN_EXCEPTION", e.to_string(), &[]);
                            write_outcome(&mut out, Some(&id), false, false, Some(&error));
                        }
                    },
                    (None, Ok(writer)) => {
                        let record = writer.create(now, new_properties(fields));
                        write_outcome(&mut out, Some(&record.id), true, true, None);
                    }
                    (existing, Err(e)) => {
                        let error = record_error("UNKNOWN_EXCEPTION", e.to_string(), &[]);
                        write_outcome(&mut out, existing.as_deref(), false, false, Some(&error));
                    }
                }
            }
            Plan::Update { id, fields, .. } => {
                let merged = match writer {
                    Ok(writer) => merge(writer, now, &id, fields).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match merged {
                    Ok(()) => write_outcome(&mut out, Some(&id), true, false, None),
                    Err(e) => {
                        let error = record_error("ENTITY_IS_DELETED", e, &[]);
                        write_outcome(&mut out, Some(&id), false, false, Some(&error));
                    }
                }
            }
            Plan::Fail { .. } => unreachable!("failures are answered above"),
        }
    }
    drop(open);
    out.push(b']');
    mock.json_bytes(200, out)
}

/// Merges fields into the record with provider id `id`, as `Mock::merge_record` would.
fn merge(
    writer: &mut StoreWriter<'_>,
    now: Millis,
    id: &str,
    fields: Fields<'_>,
) -> Result<(), MockError> {
    let number = writer
        .store
        .get(id)
        .ok_or_else(|| MockError::UnknownRecord(id.to_owned()))?
        .number;
    writer
        .merge_at(now, number, fields)
        .map(|_| ())
        .ok_or_else(|| MockError::UnknownRecord(id.to_owned()))
}

// -------------------------------------------------------------------- fixed answers

/// `{"access_token", "instance_url", "id", "token_type": "Bearer", "issued_at", "signature"}`,
/// plus `refresh_token` when the account rotates them. No `expires_in`.
pub(crate) fn token_answer(
    mock: &mut Mock,
    now: Millis,
    access_token: &str,
    rotated_refresh_token: Option<&str>,
    org_id: &str,
    account_number: u64,
) -> ProviderResponse {
    let mut signature = [0u8; 32];
    mock.rng.fill(&mut signature);
    let mut body = Map::new();
    body.insert("access_token".into(), access_token.into());
    if let Some(refresh) = rotated_refresh_token {
        body.insert("refresh_token".into(), refresh.into());
    }
    body.insert("instance_url".into(), mock.base_url.clone().into());
    body.insert(
        "id".into(),
        format!(
            "{}/id/{org_id}/{}",
            mock.base_url,
            ids::salesforce_id("005", account_number)
        )
        .into(),
    );
    body.insert("token_type".into(), "Bearer".into());
    body.insert("issued_at".into(), now.to_string().into());
    body.insert(
        "signature".into(),
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into(),
    );
    mock.json(200, &Value::Object(body))
}

pub(crate) fn token_error(mock: &Mock, error: TokenError) -> ProviderResponse {
    let (code, description) = match error {
        TokenError::GrantType => ("unsupported_grant_type", "grant type not supported"),
        TokenError::Client => ("invalid_client_id", "client identifier invalid"),
        TokenError::Secret => ("invalid_client", "invalid client credentials"),
        TokenError::RefreshToken => ("invalid_grant", "expired access/refresh token"),
    };
    mock.json(
        400,
        &json!({"error": code, "error_description": description}),
    )
}

/// `401 [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.
pub(crate) fn unauthorized_answer(mock: &Mock) -> ProviderResponse {
    error_list(
        mock,
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

/// `403 [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]`.
pub(crate) fn rate_limit_answer(mock: &mut Mock) -> ProviderResponse {
    error_list(
        mock,
        403,
        "REQUEST_LIMIT_EXCEEDED",
        "TotalRequests Limit exceeded.",
    )
}

pub(crate) fn not_found_answer(mock: &mut Mock) -> ProviderResponse {
    error_list(
        mock,
        404,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn method_not_allowed_answer(mock: &mut Mock, method: &Method) -> ProviderResponse {
    error_list(
        mock,
        405,
        "METHOD_NOT_ALLOWED",
        &format!("HTTP Method '{method}' not allowed for this resource"),
    )
}
