//! The three forms of a check's results: for people (the terminal, coloured unless `NO_COLOR`),
//! for CI (JUnit XML, one test case per scenario) and for tools (JSON).
//!
//! **Boundary:** reports only render results; they decide nothing about pass or fail.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

use crate::runner::suite::Coverage;
use crate::runner::{ScenarioResult, Verdict};

const GREEN: Style = AnsiColor::Green.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    /// Counts the results.
    pub fn of(results: &[ScenarioResult]) -> Self {
        let mut totals = Self::default();
        for result in results {
            match result.verdict {
                Verdict::Passed => totals.passed += 1,
                Verdict::Failed { .. } => totals.failed += 1,
                Verdict::Skipped { .. } => totals.skipped += 1,
            }
        }
        totals
    }
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Scenario time as `5m 3.200s`.
pub fn scenario_time(millis: u64) -> String {
    let seconds = millis / 1000;
    let rest = millis % 1000;
    let (hours, minutes, seconds) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    let mut text = String::new();
    if hours > 0 {
        let _ = write!(text, "{hours}h ");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(text, "{minutes}m ");
    }
    let _ = write!(text, "{seconds}.{rest:03}s");
    text
}

/// The progress line for one finished scenario: `[2/5] passed  name  (3 ms; 5m 0.000s simulated)`.
pub fn progress_line(done: usize, total: usize, result: &ScenarioResult) -> String {
    let word = match result.verdict {
        Verdict::Passed => paint(GREEN, "passed "),
        Verdict::Failed { .. } => paint(RED, "FAILED "),
        Verdict::Skipped { .. } => paint(YELLOW, "skipped"),
    };
    let mut line = format!(
        "[{done}/{total}] {word} {}  {}",
        result.name,
        paint(
            DIM,
            &format!(
                "({} ms; {} simulated)",
                result.wall_ms,
                scenario_time(result.scenario_ms)
            )
        )
    );
    if let Verdict::Skipped { reason } = &result.verdict {
        let _ = write!(line, " {}", paint(YELLOW, &format!("— {reason}")));
    }
    line
}

/// The details of every failure: the step, expected against actual, the trace tail and the
/// replay command.
pub fn failures(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for result in results {
        let Verdict::Failed {
            step,
            message,
            mismatches,
        } = &result.verdict
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n{} {} ({}, seed {})",
            paint(RED, "FAILED"),
            paint(BOLD, &result.name),
            result.source,
            result.seed
        );
        let _ = writeln!(out, "  at {step}: {message}");
        for mismatch in mismatches {
            let _ = writeln!(out, "    {}", mismatch.what);
            let _ = writeln!(out, "      expected: {}", mismatch.expected);
            let _ = writeln!(out, "      actual:   {}", mismatch.actual);
        }
        if !result.trace_tail.is_empty() {
            let _ = writeln!(out, "  last {} trace lines:", result.trace_tail.len());
            for line in &result.trace_tail {
                let _ = writeln!(out, "    {}", paint(DIM, line));
            }
        }
        let _ = writeln!(out, "  replay: {}", paint(BOLD, &result.replay));
    }
    out
}

/// The per-requirement table: every requirement the run's scenarios name, with how many
/// scenarios name it and how they ended.
pub fn requirement_table(results: &[ScenarioResult]) -> String {
    let mut rows: BTreeMap<String, Totals> = BTreeMap::new();
    for result in results {
        for id in &result.requirements {
            let row = rows.entry(id.clone()).or_default();
            match result.verdict {
                Verdict::Passed => row.passed += 1,
                Verdict::Failed { .. } => row.failed += 1,
                Verdict::Skipped { .. } => row.skipped += 1,
            }
        }
    }
    let mut ordered: Vec<(String, Totals)> = rows.into_iter().collect();
    ordered.sort_by_key(|(id, _)| requirement_order(id));
    let width = ordered
        .iter()
        .map(|(id, _)| id.len())
        .max()
        .unwrap_or(11)
        .max(11);
    let mut out = format!(
        "\n{}\n",
        paint(
            BOLD,
            &format!(
                "{:<width$}  {:>9}  {:>4}  {:>4}  {:>4}",
                "requirement", "scenarios", "pass", "fail", "skip"
            )
        )
    );
    for (id, totals) in ordered {
        let scenarios = totals.passed + totals.failed + totals.skipped;
        let fail = if totals.failed > 0 {
            paint(RED, &format!("{:>4}", totals.failed))
        } else {
            format!("{:>4}", totals.failed)
        };
        let _ = writeln!(
            out,
            "{id:<width$}  {scenarios:>9}  {:>4}  {fail}  {:>4}",
            totals.passed, totals.skipped
        );
    }
    out
}

/// Sorts `AREA-N` by area, then by number.
fn requirement_order(id: &str) -> (String, u64) {
    match id.rsplit_once('-') {
        Some((area, number)) => (area.to_owned(), number.parse().unwrap_or(u64::MAX)),
        None => (id.to_owned(), u64::MAX),
    }
}

/// The closing line: `3 passed, 0 failed, 1 skipped`.
pub fn summary(totals: Totals, wall: Duration) -> String {
    let failed = format!("{} failed", totals.failed);
    let failed = if totals.failed > 0 {
        paint(RED, &failed)
    } else {
        failed
    };
    format!(
        "\n{} passed, {failed}, {} skipped in {:.2} s",
        totals.passed,
        totals.skipped,
        wall.as_secs_f64()
    )
}

/// The JUnit XML report: one suite, one test case per scenario (classname: its file).
pub fn junit(
    results: &[ScenarioResult],
    target: &str,
) -> Result<String, quick_junit::SerializeError> {
    let mut suite = TestSuite::new(format!("transfersim check ({target})"));
    for result in results {
        let status = match &result.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            Verdict::Skipped { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone());
                status
            }
            Verdict::Failed {
                step,
                message,
                mismatches,
            } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(format!("{step}: {message}"));
                let mut description = String::new();
                for mismatch in mismatches {
                    let _ = writeln!(
                        description,
                        "{}\n  expected: {}\n  actual:   {}",
                        mismatch.what, mismatch.expected, mismatch.actual
                    );
                }
                let _ = writeln!(description, "\nlast trace lines:");
                for line in &result.trace_tail {
                    let _ = writeln!(description, "  {line}");
                }
                let _ = writeln!(description, "\nreplay: {}", result.replay);
                status.set_description(description);
                status
            }
        };
        let mut case = TestCase::new(result.name.clone(), status);
        case.set_classname(result.source.clone());
        case.set_time(Duration::from_millis(result.wall_ms));
        case.add_property(("seed", result.seed.to_string().as_str()));
        case.add_property(("requirements", result.requirements.join(" ").as_str()));
        suite.add_test_case(case);
    }
    let mut report = Report::new("transfersim");
    report.add_test_suite(suite);
    report.to_string()
}

/// The JSON report: the target, the totals and every result.
pub fn json(results: &[ScenarioResult], target: &str) -> serde_json::Value {
    let totals = Totals::of(results);
    json!({
        "target": target,
        "passed": totals.passed,
        "failed": totals.failed,
        "skipped": totals.skipped,
        "scenarios": results,
    })
}

/// The coverage listing: every requirement with its scenarios or named test; gaps marked.
pub fn coverage(rows: &[Coverage], unknown: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|row| row.id.len()).max().unwrap_or(0);
    for row in rows {
        let what = if !row.scenarios.is_empty() {
            row.scenarios.join("; ")
        } else if let Some(test) = &row.test {
            format!("test: {test}")
        } else {
            paint(RED, "GAP: no scenario and no named test")
        };
        let _ = writeln!(out, "{:<width$}  {what}", row.id);
    }
    for (id, scenarios) in unknown {
        let _ = writeln!(
            out,
            "{} {id} is named by {} but is not in spec/requirements.md",
            paint(RED, "unknown:"),
            scenarios.join("; ")
        );
    }
    let gaps = rows.iter().filter(|row| row.is_gap()).count();
    let by_scenario = rows.iter().filter(|row| !row.scenarios.is_empty()).count();
    let by_test = rows
        .iter()
        .filter(|row| row.scenarios.is_empty() && row.test.is_some())
        .count();
    let _ = writeln!(
        out,
        "\n{} requirements: {by_scenario} by scenarios, {by_test} by named tests, {gaps} gaps",
        rows.len()
    );
    out
}
