//! The binary's contract with shells and CI: exit codes and messages.

use std::process::Command;

fn transfersim(args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = transfersim_with_stdout(args);
    (code, stderr)
}

fn transfersim_with_stdout(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the transfersim binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn load_is_built_and_a_bad_flag_is_exit_2() {
    let (code, stderr) = transfersim(&["load", "--sync-ratio=1.5"]);
    assert_eq!(
        code, 2,
        "`transfersim load --sync-ratio=1.5` exited {code}: {stderr}"
    );
    assert!(
        !stderr.contains("not built yet") && stderr.contains("--sync-ratio"),
        "`transfersim load` said: {stderr}"
    );
}

#[test]
fn no_subcommand_runs_check_on_the_in_memory_target() {
    let (code, stdout, stderr) = transfersim_with_stdout(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("transfersim check:") && stdout.contains("on memory"),
        "{stdout}"
    );
}

#[test]
fn an_unreachable_http_target_is_a_usage_error_naming_it() {
    let (code, stderr) = transfersim(&["check", "--target", "http://127.0.0.1:1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:1"), "{stderr}");
}

#[test]
fn a_webhook_secret_without_its_prefix_is_a_usage_error() {
    let (code, stderr) = transfersim(&["serve", "--webhook-secret", "nope"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("whsec_"), "{stderr}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let (code, stderr) = transfersim(&["check", "--no-such-flag"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}
