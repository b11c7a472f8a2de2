//! The scenario format: one YAML file per scenario, read into typed values and checked before
//! the runner sees it.
//!
//! - `types.rs`: the serde types, which are the format (and the JSON Schema's source);
//! - `duration.rs`: human durations (`10m`, `72h`) stored as milliseconds;
//! - `validate.rs`: the rules the types cannot express (declared keys, IDs, limits);
//! - `error.rs`: [`ScenarioError`], located and printable as `file:line:column: message`.
//!
//! **Boundary:** this module only reads and checks files; it never runs a scenario.

mod duration;
mod error;
mod types;
mod validate;

use std::path::{Path, PathBuf};

pub use duration::{Duration, DurationError};
pub use error::{Position, ScenarioError};
pub use types::*;
pub use validate::{GENERATED_ITEMS_MAX, GENERATED_RECORDS_MAX, STEPS_MAX, is_requirement_id};

/// Reads one scenario from its text. `path_for_messages` is only used to name the file in
/// errors, so that embedded scenarios and files on disk report alike.
pub fn parse(path_for_messages: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text)
        .map_err(|error| format_error(path_for_messages, text, &error))?;
    validate::validate(path_for_messages, &scenario)?;
    Ok(scenario)
}

/// Turns serde-saphyr's error into ours: its location, if known, and its message without the
/// location suffix it appends (we print the location first, compiler-style). A wrong type is
/// reported by serde-saphyr as "invalid u16" or "expected sequence start"; we add what was
/// found there, read from the text, so the author sees expected against found.
fn format_error(file: &str, text: &str, error: &serde_saphyr::Error) -> ScenarioError {
    let position = error
        .location()
        .filter(|location| location.line() > 0)
        .map(|location| Position {
            line: location.line(),
            column: location.column(),
        });
    let options = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
    };
    let mut message = error.render_with_options(options);
    if let Some(position) = position {
        let suffix = format!(" at line {}, column {}", position.line, position.column);
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
        message = with_found(message, text, position);
    }
    ScenarioError::Format {
        file: file.to_owned(),
        position,
        message,
    }
}

/// Rewrites a type mismatch as "expected X, found Y"; other messages pass through.
fn with_found(message: String, text: &str, position: Position) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!("expected {expected}, found {found}");
        }
    }
    let expected = if let Some(kind) = message
        .strip_prefix("invalid ")
        .filter(|kind| !kind.contains(' '))
    {
        kind.to_owned()
    } else if let Some(kind) = message.strip_prefix("expected ") {
        if message.contains("found") {
            return message;
        }
        match kind {
            "sequence start" => "a sequence".to_owned(),
            "mapping start" => "a mapping".to_owned(),
            "string scalar" => "a string".to_owned(),
            other => other.to_owned(),
        }
    } else {
        return message;
    };
    match found_at(text, position) {
        Some(found) => format!("expected {expected}, found {found}"),
        None => format!("expected {expected}"),
    }
}

/// Describes the YAML value that starts at `position`: a sequence, a mapping, or the scalar's
/// text (shortened).
fn found_at(text: &str, position: Position) -> Option<String> {
    let line_index = usize::try_from(position.line.checked_sub(1)?).ok()?;
    let column_index = usize::try_from(position.column.checked_sub(1)?).ok()?;
    let line = text.lines().nth(line_index)?;
    let rest: String = line.chars().skip(column_index).collect();
    let rest = rest.trim();
    if rest.starts_with('[') || rest.starts_with("- ") || rest == "-" {
        return Some("a sequence".to_owned());
    }
    if rest.starts_with('{') {
        return Some("a mapping".to_owned());
    }
    let scalar: String = rest
        .split([',', ']', '}', '#'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(40)
        .collect();
    if scalar.contains(": ") || scalar.ends_with(':') {
        return Some("a mapping".to_owned());
    }
    if scalar.is_empty() {
        return None;
    }
    Some(format!("`{scalar}`"))
}

/// Reads every scenario in `dir` (`*.yaml` and `*.yml`, in subfolders such as `regressions/`
/// too), sorted by path so that a suite always runs in the same order. Two files with the same
/// scenario name are refused: reports and `--filter` go by name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let mut paths = Vec::new();
    collect_scenario_files(dir, &mut paths)?;
    paths.sort();
    let mut scenarios: Vec<(PathBuf, Scenario)> = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Read {
            file: shown.clone(),
            source,
        })?;
        let scenario = parse(&shown, &text)?;
        if let Some((other, _)) = scenarios
            .iter()
            .find(|(_, earlier)| earlier.name == scenario.name)
        {
            return Err(ScenarioError::DuplicateName {
                file: shown,
                name: scenario.name,
                other: other.display().to_string(),
            });
        }
        scenarios.push((path, scenario));
    }
    Ok(scenarios)
}

/// The most folders deep `load_dir` looks; a bound rather than trust in the file system.
const FOLDER_DEPTH_MAX: usize = 16;

fn collect_scenario_files(dir: &Path, paths: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let mut pending = vec![(dir.to_path_buf(), 0_usize)];
    while let Some((folder, depth)) = pending.pop() {
        let read_error = |source| ScenarioError::Read {
            file: folder.display().to_string(),
            source,
        };
        for entry in std::fs::read_dir(&folder).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path.is_dir() {
                if depth < FOLDER_DEPTH_MAX {
                    pending.push((path, depth + 1));
                }
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml" || extension == "yml")
            {
                paths.push(path);
            }
        }
    }
    Ok(())
}

/// The JSON Schema of a scenario file, generated from the types, for editors (and committed as
/// `spec/scenario.schema.json`). Object keys are sorted: whether serde_json keeps insertion order
/// depends on which features the build unifies (`--all-features` turns `preserve_order` on), and
/// the committed file must not.
pub fn json_schema() -> serde_json::Value {
    sorted(schemars::schema_for!(Scenario).to_value())
}

/// `value` with every object's keys in sorted order, whatever map serde_json was built with.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|(left, _), (right, _)| left.cmp(right));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(key, inner)| (key, sorted(inner)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
