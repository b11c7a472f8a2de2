//! `{{name}}` templates: a string that is exactly one `{{name}}` takes the variable's JSON value
//! (a number stays a number); elsewhere the value is spliced in as text. An unknown variable is
//! an error that fails the step using it.

use std::collections::BTreeMap;

use serde_json::Value;

/// The variables a step can use: captures and the runner's own values
/// (`providers.hub.base_url`, `keys.main`, `receivers.hooks.url`).
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, Value>,
}

impl Variables {
    /// Sets (or replaces) a variable.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.values.insert(name.into(), value);
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Fills in a string. `Err` names the unknown variable.
    pub fn text(&self, template: &str) -> Result<String, String> {
        match self.value_of_string(template)? {
            Value::String(text) => Ok(text),
            other => Ok(other.to_string()),
        }
    }

    /// Fills in every string inside a JSON value (object keys stay as written).
    pub fn json(&self, template: &Value) -> Result<Value, String> {
        Ok(match template {
            Value::String(text) => self.value_of_string(text)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.json(item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| Ok((key.clone(), self.json(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    fn value_of_string(&self, template: &str) -> Result<Value, String> {
        if let Some(name) = whole_variable(template) {
            return self.lookup(name).cloned();
        }
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        // Bounded: each turn consumes at least the `{{` it found.
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return Ok(Value::String(out));
            };
            let name = after[..end].trim();
            match self.lookup(name)? {
                Value::String(text) => out.push_str(text),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }

    fn lookup(&self, name: &str) -> Result<&Value, String> {
        self.values
            .get(name)
            .ok_or_else(|| format!("unknown template variable `{{{{{name}}}}}`"))
    }
}

/// `Some(name)` when the template is exactly `{{name}}`.
fn whole_variable(template: &str) -> Option<&str> {
    let inner = template.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn variables() -> Variables {
        let mut variables = Variables::default();
        variables.set("session_id", json!("abc"));
        variables.set("count", json!(3));
        variables
    }

    #[test]
    fn a_whole_variable_keeps_its_json_type() {
        assert_eq!(
            variables().json(&json!({"n": "{{count}}"})).ok(),
            Some(json!({"n": 3}))
        );
    }

    #[test]
    fn variables_inside_text_are_spliced() {
        assert_eq!(
            variables().text("/x?id={{session_id}}&n={{ count }}").ok(),
            Some("/x?id=abc&n=3".to_owned())
        );
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let error = variables().text("{{nope}}").err().unwrap_or_default();
        assert!(error.contains("{{nope}}"), "{error}");
    }
}
