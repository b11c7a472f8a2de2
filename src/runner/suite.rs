//! The suite and the spec the binary carries: `scenarios/**.yaml` and `spec/requirements.md` are
//! embedded at build time (so an installed `transfersim check` works from any folder);
//! `--scenarios DIR` replaces the suite with the files found there. Coverage joins the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};
use serde::Serialize;

use crate::scenario::{self, Scenario, ScenarioError};

static EMBEDDED_SCENARIOS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// `spec/requirements.md` as it was when the binary was built.
pub const REQUIREMENTS_MD: &str = include_str!("../../spec/requirements.md");

/// One scenario and where it came from.
#[derive(Debug, Clone)]
pub struct SuiteScenario {
    /// The file, as messages name it (`scenarios/x.yaml` for embedded ones).
    pub source: String,
    pub scenario: Scenario,
}

/// The embedded suite, in path order.
pub fn embedded() -> Result<Vec<SuiteScenario>, ScenarioError> {
    let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
    collect_embedded(&EMBEDDED_SCENARIOS, &mut files);
    files.sort();
    let mut suite: Vec<SuiteScenario> = Vec::with_capacity(files.len());
    for (path, text) in files {
        let source = Path::new("scenarios").join(&path).display().to_string();
        let parsed = scenario::parse(&source, text)?;
        push_unique(&mut suite, source, parsed)?;
    }
    Ok(suite)
}

fn collect_embedded(dir: &'static Dir<'static>, files: &mut Vec<(PathBuf, &'static str)>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(inner) => collect_embedded(inner, files),
            DirEntry::File(file) => {
                let yaml = file
                    .path()
                    .extension()
                    .is_some_and(|extension| extension == "yaml" || extension == "yml");
                if yaml && let Some(text) = file.contents_utf8() {
                    files.push((file.path().to_path_buf(), text));
                }
            }
        }
    }
}

/// Every scenario under the given folders, folder by folder, each in path order.
pub fn from_dirs(dirs: &[PathBuf]) -> Result<Vec<SuiteScenario>, ScenarioError> {
    let mut suite: Vec<SuiteScenario> = Vec::new();
    for dir in dirs {
        for (path, parsed) in scenario::load_dir(dir)? {
            push_unique(&mut suite, path.display().to_string(), parsed)?;
        }
    }
    Ok(suite)
}

fn push_unique(
    suite: &mut Vec<SuiteScenario>,
    source: String,
    parsed: Scenario,
) -> Result<(), ScenarioError> {
    if let Some(other) = suite
        .iter()
        .find(|existing| existing.scenario.name == parsed.name)
    {
        return Err(ScenarioError::DuplicateName {
            file: source,
            name: parsed.name,
            other: other.source.clone(),
        });
    }
    suite.push(SuiteScenario {
        source,
        scenario: parsed,
    });
    Ok(())
}

/// One numbered requirement of `spec/requirements.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// `AREA-N`.
    pub id: String,
    /// The rule's text.
    pub text: String,
    /// The test named by a `(verified by test: NAME)` suffix.
    pub verified_by_test: Option<String>,
}

/// Reads the requirement lines (`- **AREA-N** text`) of a requirements file.
pub fn requirements(markdown: &str) -> Vec<Requirement> {
    markdown
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- **")?;
            let (id, text) = rest.split_once("** ")?;
            if !scenario::is_requirement_id(id) {
                return None;
            }
            let verified_by_test = text
                .trim_end()
                .strip_suffix(')')
                .and_then(|head| head.rsplit_once("(verified by test: "))
                .map(|(_, name)| name.trim().to_owned());
            Some(Requirement {
                id: id.to_owned(),
                text: text.to_owned(),
                verified_by_test,
            })
        })
        .collect()
}

/// One requirement's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub id: String,
    /// The scenarios naming it.
    pub scenarios: Vec<String>,
    /// The named test, for `(verified by test: …)` requirements.
    pub test: Option<String>,
}

impl Coverage {
    /// Neither a scenario nor a named test checks it.
    pub fn is_gap(&self) -> bool {
        self.scenarios.is_empty() && self.test.is_none()
    }
}

/// Coverage of every requirement, in spec order, and the IDs scenarios name that the spec does
/// not have (by scenario).
pub fn coverage(
    requirements: &[Requirement],
    suite: &[SuiteScenario],
) -> (Vec<Coverage>, BTreeMap<String, Vec<String>>) {
    let mut rows: Vec<Coverage> = requirements
        .iter()
        .map(|requirement| Coverage {
            id: requirement.id.clone(),
            scenarios: Vec::new(),
            test: requirement.verified_by_test.clone(),
        })
        .collect();
    let mut unknown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in suite {
        for id in &item.scenario.requirements {
            match rows.iter_mut().find(|row| row.id == *id) {
                Some(row) => row.scenarios.push(item.scenario.name.clone()),
                None => unknown
                    .entry(id.clone())
                    .or_default()
                    .push(item.scenario.name.clone()),
            }
        }
    }
    (rows, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_lines_give_ids_and_named_tests() {
        let parsed = requirements(
            "# x\n- **SESSION-1** A rule.\n- **RATE-2** Another (verified by test: a_test)\nnot a rule\n",
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].id, "SESSION-1");
        assert_eq!(parsed[0].verified_by_test, None);
        assert_eq!(parsed[1].verified_by_test.as_deref(), Some("a_test"));
    }

    #[test]
    fn the_embedded_suite_and_spec_load() {
        assert!(embedded().is_ok_and(|suite| !suite.is_empty()));
        assert!(requirements(REQUIREMENTS_MD).len() > 100);
    }
}
