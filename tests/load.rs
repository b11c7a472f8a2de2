//! `transfersim load`: short runs against the in-memory target and against a `transfersim serve`
//! started here on port 0; the report's numbers must agree with what was asked; bad flags exit 2.

mod common;

use common::ServeProcess;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn transfersim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the transfersim binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn temp_json(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "transfersim-load-{}-{name}.json",
        std::process::id()
    ))
}

/// Runs `load` with `args` plus `--json`, expects exit 0, and answers the parsed JSON report.
fn load_json(name: &str, args: &[&str]) -> (Value, String) {
    let path = temp_json(name);
    let path_text = path.to_string_lossy().into_owned();
    let mut all = vec!["load"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", &path_text]);
    let (code, stdout, stderr) = transfersim(&all);
    assert_eq!(code, 0, "load exited {code}\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&path).expect("the JSON report is written");
    let _ = std::fs::remove_file(&path);
    let report: Value = serde_json::from_str(&text).expect("the JSON report parses");
    (report, stdout)
}

/// The numbers every complete run must agree on.
fn assert_consistent(report: &Value, transfers: u64, records: u64, sync: u64) {
    assert_eq!(report["stopped_by"], "transfers", "{report:#}");
    assert_eq!(report["transfers_requested"], transfers, "{report:#}");
    assert_eq!(report["transfers_completed"], transfers, "{report:#}");
    let pulls = report["pulls_completed"].as_u64().unwrap_or_default();
    let pushes = report["pushes_completed"].as_u64().unwrap_or_default();
    assert_eq!(pulls + pushes, transfers, "{report:#}");
    assert!(pulls > 0 && pushes > 0, "both kinds ran: {report:#}");
    assert_eq!(report["records"], records, "{report:#}");
    assert_eq!(report["errors"]["count"], 0, "{report:#}");
    let latency = &report["latency"];
    assert_eq!(latency["sync"]["count"], sync, "{report:#}");
    assert_eq!(latency["trigger"]["count"], transfers - sync, "{report:#}");
    // At least one page per transfer.
    assert!(
        latency["data_page"]["count"].as_u64().unwrap_or_default() >= transfers,
        "{report:#}"
    );
    for kind in ["trigger", "sync", "data_page"] {
        let summary = &latency[kind];
        let p50 = summary["p50_ms"].as_f64().unwrap_or(-1.0);
        let p99 = summary["p99_ms"].as_f64().unwrap_or(-1.0);
        let max = summary["max_ms"].as_f64().unwrap_or(-1.0);
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{kind}: {summary}");
    }
    let wall = report["wall_s"].as_f64().unwrap_or_default();
    let per_s = report["records_per_s"].as_f64().unwrap_or_default();
    assert!(wall > 0.0, "{report:#}");
    let expected = records as f64 / wall;
    assert!(
        (per_s - expected).abs() <= expected * 1e-9 + 1e-9,
        "records/s {per_s} is not records / wall ({expected})"
    );
    assert!(
        report["provider"]["requests"].as_u64().unwrap_or_default() > 0,
        "{report:#}"
    );
}

#[test]
fn load_in_memory_completes_every_transfer_and_counts_every_record() {
    let (report, stdout) = load_json(
        "memory",
        &[
            "--target",
            "memory",
            "--sessions",
            "6",
            "--accounts",
            "4",
            "--transfers",
            "40",
            "--records",
            "4000",
            "--concurrency",
            "8",
            "--sync-ratio",
            "0.25",
        ],
    );
    assert_consistent(&report, 40, 4_000, 10);
    assert_eq!(report["target"], "memory");
    assert!(
        report["simulated_s"].as_f64().unwrap_or_default() > 0.0,
        "{report:#}"
    );
    // Unlimited budgets: no rate-limit answers at all.
    assert_eq!(report["provider"]["rate_limited"], 0, "{report:#}");
    assert!(
        stdout.contains("40/40 completed") && stdout.contains("records/s"),
        "{stdout}"
    );
}

#[test]
fn load_in_memory_with_real_budgets_paces_within_them() {
    // One account per kind, 30 transfers of 300 records: well over hubspot's 100 requests per
    // 10 s for each account, so the queue must pace.
    let (report, _) = load_json(
        "real",
        &[
            "--sessions",
            "4",
            "--accounts",
            "2",
            "--transfers",
            "30",
            "--records",
            "9000",
            "--concurrency",
            "30",
            "--sync-ratio",
            "0.5",
            "--provider-budget",
            "real",
        ],
    );
    assert_consistent(&report, 30, 9_000, 15);
    // Paced transfers wait in the queue: some synchronous answers come rounds later, and each
    // is still counted.
    let sync_max = report["latency"]["sync"]["max_ms"]
        .as_f64()
        .unwrap_or_default();
    assert!(
        sync_max > 1_000.0,
        "the slowest synchronous answer took {sync_max} ms"
    );
    let simulated = report["simulated_s"].as_f64().unwrap_or_default();
    let requests = report["provider"]["requests"].as_f64().unwrap_or_default();
    // Two accounts at 10 requests/s each cannot serve these requests faster.
    assert!(
        simulated >= requests / 20.0 - 10.0,
        "{simulated} s for {requests} requests"
    );
    let share = report["provider"]["rate_limited_share"]
        .as_f64()
        .unwrap_or(1.0);
    assert!(share <= 0.01, "rate-limit share {share}");
}

#[test]
fn load_in_memory_stops_at_the_duration_cap() {
    let started = Instant::now();
    let (code, stdout, stderr) = transfersim(&[
        "load",
        "--transfers",
        "1000000",
        "--records",
        "1000000",
        "--sessions",
        "100",
        "--duration",
        "2s",
    ]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("stopped by duration"), "{stdout}");
    assert!(took < Duration::from_secs(60), "a 2 s cap took {took:?}");
}

#[test]
fn load_against_serve_on_loopback_completes_every_transfer() {
    let serve = ServeProcess::start(&[]);
    let (report, _) = load_json(
        "serve",
        &[
            "--target",
            &serve.base,
            "--sessions",
            "4",
            "--accounts",
            "2",
            "--transfers",
            "20",
            "--records",
            "1000",
            "--concurrency",
            "4",
            "--sync-ratio",
            "0.2",
        ],
    );
    assert_consistent(&report, 20, 1_000, 4);
    assert_eq!(report["target"], serve.base.as_str());
    assert!(report["simulated_s"].is_null(), "{report:#}");
}

#[test]
fn load_refuses_a_virtual_clock_target_with_exit_2() {
    let serve = ServeProcess::start(&["--clock", "virtual"]);
    let (code, _, stderr) = transfersim(&[
        "load",
        "--target",
        &serve.base,
        "--transfers",
        "1",
        "--records",
        "1",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("virtual clock"), "{stderr}");
}

#[test]
fn bad_load_flags_are_usage_errors() {
    for (args, says) in [
        (&["--sync-ratio", "2"][..], "--sync-ratio"),
        (&["--target", "ftp://x"][..], "--target"),
        (&["--transfers", "10", "--records", "5"][..], "--records"),
        (&["--concurrency", "0"][..], "at least 1"),
        (&["--duration", "soon"][..], "--duration"),
        (&["--provider-budget", "some"][..], "--provider-budget"),
        (&["--no-such-flag"][..], "--no-such-flag"),
        (
            &["--target", "http://127.0.0.1:1"][..],
            "http://127.0.0.1:1",
        ),
    ] {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = transfersim(&all);
        assert_eq!(code, 2, "{args:?} exited {code}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?} said: {stderr}");
    }
}
