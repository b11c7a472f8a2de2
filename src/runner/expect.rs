//! Judging an answer against an `expect`: status, JSON subset, JSON pointers, headers and when it
//! came. Each failed check is a [`Mismatch`] with expected against actual, for the report.

use std::collections::BTreeMap;

use serde_json::Value;

use super::target::Answer;
use super::template::Variables;
use crate::scenario::{Expect, ValueKind};

/// One failed expectation: what was checked, what was expected and what came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was checked, e.g. `status` or `json /meta/count`.
    pub what: String,
    /// The expected value, as text.
    pub expected: String,
    /// The actual value, as text.
    pub actual: String,
}

impl Mismatch {
    fn new(
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Self {
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }
}

/// Checks every present field of `expect` against `answer`. `sent_at` maps request labels to
/// when they were sent; `own_sent_ms` is when this request was sent. `Err(message)` is a
/// template that could not be filled in.
pub fn check(
    expect: &Expect,
    answer: &Answer,
    variables: &Variables,
    sent_at: &BTreeMap<String, u64>,
    own_sent_ms: u64,
) -> Result<Vec<Mismatch>, String> {
    let mut mismatches = Vec::new();
    if let Some(status) = expect.status
        && status != answer.status
    {
        mismatches.push(Mismatch::new(
            "status",
            status.to_string(),
            format!("{} {}", answer.status, shorten(&body_text(answer), 400)),
        ));
    }
    let body = answer.json();
    if let Some(template) = &expect.json {
        let wanted = variables.json(template)?;
        if let Some(path) = first_difference(&wanted, &body, String::new()) {
            let actual = pointer(&body, &path).map_or_else(|| "(absent)".to_owned(), render);
            let expected = pointer(&wanted, &path).map_or_else(|| "(absent)".to_owned(), render);
            let shown = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            mismatches.push(Mismatch::new(format!("json {shown}"), expected, actual));
        }
    }
    for (path, template) in &expect.paths {
        let wanted = variables.json(template)?;
        match body.pointer(path) {
            Some(actual) if *actual == wanted => {}
            Some(actual) => {
                mismatches.push(Mismatch::new(
                    format!("path {path}"),
                    render(&wanted),
                    render(actual),
                ));
            }
            None => mismatches.push(Mismatch::new(
                format!("path {path}"),
                render(&wanted),
                "(absent)",
            )),
        }
    }
    for (name, template) in &expect.headers {
        let wanted = variables.text(template)?;
        let actual = answer.header(name);
        if actual != Some(wanted.as_str()) {
            mismatches.push(Mismatch::new(
                format!("header {name}"),
                wanted,
                actual.unwrap_or("(absent)"),
            ));
        }
    }
    for path in &expect.absent {
        if let Some(actual) = pointer(&body, path) {
            mismatches.push(Mismatch::new(
                format!("absent {path}"),
                "(absent)",
                render(actual),
            ));
        }
    }
    for (path, template) in &expect.contains {
        let wanted = variables.text(template)?;
        let actual = pointer(&body, path);
        if !actual
            .and_then(Value::as_str)
            .is_some_and(|text| text.contains(&wanted))
        {
            mismatches.push(Mismatch::new(
                format!("contains {path}"),
                format!("a string containing {wanted:?}"),
                actual.map_or_else(|| "(absent)".to_owned(), render),
            ));
        }
    }
    for (path, kind) in &expect.kinds {
        let actual = pointer(&body, path);
        if !actual.is_some_and(|value| is_kind(value, *kind)) {
            mismatches.push(Mismatch::new(
                format!("kind {path}"),
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|name| name.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                actual.map_or_else(|| "(absent)".to_owned(), render),
            ));
        }
    }
    for (path, template) in &expect.differs {
        let other = variables.json(template)?;
        match pointer(&body, path) {
            Some(actual) if *actual != other => {}
            actual => mismatches.push(Mismatch::new(
                format!("differs {path}"),
                format!("a value other than {}", render(&other)),
                actual.map_or_else(|| "(absent)".to_owned(), render),
            )),
        }
    }
    for (path, since) in &expect.time_since {
        let earlier = variables.text(&since.since)?;
        let actual = pointer(&body, path);
        let difference = match (
            actual.and_then(Value::as_str).and_then(timestamp_ms),
            timestamp_ms(&earlier),
        ) {
            (Some(later), Some(earlier)) => Some((later - earlier) as f64 / 1000.0),
            _ => None,
        };
        let tolerance = since.tolerance.unwrap_or(0.0);
        if !difference.is_some_and(|seconds| (seconds - since.seconds).abs() <= tolerance + 1e-9) {
            mismatches.push(Mismatch::new(
                format!("time_since {path}"),
                format!("{} s ± {tolerance} s after {earlier}", since.seconds),
                match (actual, difference) {
                    (Some(value), Some(seconds)) => {
                        format!("{} ({seconds} s after)", render(value))
                    }
                    (Some(value), None) => render(value),
                    (None, _) => "(absent)".to_owned(),
                },
            ));
        }
    }
    if let Some(after) = &expect.answered_after {
        let from = match &after.step {
            Some(label) => match sent_at.get(label) {
                Some(at) => *at,
                None => return Err(format!("answered_after names unknown step `{label}`")),
            },
            None => own_sent_ms,
        };
        let actual_s = answer.at_ms.saturating_sub(from) as f64 / 1000.0;
        let tolerance = after.tolerance.unwrap_or(0.0);
        if (actual_s - after.seconds).abs() > tolerance + 1e-9 {
            mismatches.push(Mismatch::new(
                "answered_after",
                format!("{} s ± {} s", after.seconds, tolerance),
                format!("{actual_s} s"),
            ));
        }
    }
    Ok(mismatches)
}

/// Whether `value` is of `kind`.
pub fn is_kind(value: &Value, kind: ValueKind) -> bool {
    match kind {
        ValueKind::Id => value.as_str().is_some_and(|text| {
            text.len() == 24
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        }),
        ValueKind::Timestamp => value.as_str().is_some_and(is_timestamp),
        ValueKind::WebhookSecret => value
            .as_str()
            .and_then(|text| text.strip_prefix("whsec_"))
            .is_some_and(is_base64),
        ValueKind::String => value.is_string(),
        ValueKind::NonEmptyString => value.as_str().is_some_and(|text| !text.is_empty()),
        ValueKind::Count => value.is_u64(),
        ValueKind::Boolean => value.is_boolean(),
        ValueKind::Object => value.is_object(),
        ValueKind::Array => value.is_array(),
        ValueKind::Null => value.is_null(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, with plausible field ranges.
fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 24 {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    separators.iter().all(|(at, byte)| bytes[*at] == *byte)
        && digits(0..4).is_some()
        && digits(5..7).is_some_and(|month| (1..=12).contains(&month))
        && digits(8..10).is_some_and(|day| (1..=31).contains(&day))
        && digits(11..13).is_some_and(|hour| hour < 24)
        && digits(14..16).is_some_and(|minute| minute < 60)
        && digits(17..19).is_some_and(|second| second < 60)
        && digits(20..23).is_some()
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn timestamp_ms(text: &str) -> Option<i64> {
    if !is_timestamp(text) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    // Days from 1970-01-01 to the civil date (proleptic Gregorian).
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = number(11..13)? * 3600 + number(14..16)? * 60 + number(17..19)?;
    Some((days * 86_400 + seconds) * 1000 + number(20..23)?)
}

/// Non-empty standard base64 with correct padding.
fn is_base64(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    let padding = text.len() - body.len();
    !body.is_empty()
        && text.len().is_multiple_of(4)
        && padding <= 2
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
}

/// Whether `wanted` is contained in `actual`: objects as subsets, arrays and scalars exactly.
/// Answers the JSON pointer of the first place they differ.
pub fn first_difference(wanted: &Value, actual: &Value, at: String) -> Option<String> {
    match (wanted, actual) {
        (Value::Object(wanted), Value::Object(actual)) => wanted.iter().find_map(|(key, value)| {
            let path = format!("{at}/{}", escape(key));
            match actual.get(key) {
                Some(inner) => first_difference(value, inner, path),
                None => Some(path),
            }
        }),
        (wanted, actual) if wanted == actual => None,
        // Integers written in YAML and floats on the wire compare by value.
        (Value::Number(left), Value::Number(right)) if left.as_f64() == right.as_f64() => None,
        _ => Some(at),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn pointer<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        Some(value)
    } else {
        value.pointer(path)
    }
}

/// A JSON value as compact text, shortened for reports.
pub fn render(value: &Value) -> String {
    shorten(&value.to_string(), 400)
}

fn body_text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_tell_ids_timestamps_and_secrets_apart() {
        assert!(is_kind(&json!("0123456789abcdef01234567"), ValueKind::Id));
        assert!(!is_kind(&json!("0123456789ABCDEF01234567"), ValueKind::Id));
        assert!(!is_kind(&json!("0123456789abcdef0123456"), ValueKind::Id));
        assert!(is_kind(
            &json!("2026-11-28T09:41:07.123Z"),
            ValueKind::Timestamp
        ));
        assert!(!is_kind(
            &json!("2026-11-28T09:41:07Z"),
            ValueKind::Timestamp
        ));
        assert!(!is_kind(
            &json!("2026-13-28T09:41:07.123Z"),
            ValueKind::Timestamp
        ));
        assert!(is_kind(
            &json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ValueKind::WebhookSecret
        ));
        assert!(!is_kind(&json!("whsec_"), ValueKind::WebhookSecret));
        assert!(!is_kind(
            &json!("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ValueKind::WebhookSecret
        ));
        assert!(is_kind(&json!(0), ValueKind::Count));
        assert!(!is_kind(&json!(-1), ValueKind::Count));
        assert!(!is_kind(&json!(1.5), ValueKind::Count));
        assert!(!is_kind(&json!(""), ValueKind::NonEmptyString));
    }

    #[test]
    fn timestamps_convert_to_unix_milliseconds() {
        assert_eq!(timestamp_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            timestamp_ms("2026-01-01T00:00:00.000Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            timestamp_ms("2024-03-01T00:00:01.250Z"),
            Some(1_709_251_201_250)
        );
        assert_eq!(timestamp_ms("2024-03-01T00:00:01Z"), None);
    }

    #[test]
    fn objects_match_as_subsets_and_arrays_exactly() {
        let actual = json!({"a": 1, "b": {"c": [1, 2], "d": true}});
        assert_eq!(
            first_difference(&json!({"b": {"d": true}}), &actual, String::new()),
            None
        );
        assert_eq!(
            first_difference(&json!({"b": {"c": [1]}}), &actual, String::new()),
            Some("/b/c".to_owned())
        );
        assert_eq!(
            first_difference(&json!({"x": 1}), &actual, String::new()),
            Some("/x".to_owned())
        );
    }
}
