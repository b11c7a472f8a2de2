//! Judging an answer against an `expect`: status, JSON subset, JSON pointers, headers and when it
//! came. Each failed check is a [`Mismatch`] with expected against actual, for the report.

use std::collections::BTreeMap;

use serde_json::Value;

use super::target::Answer;
use super::template::Variables;
use crate::scenario::Expect;

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
