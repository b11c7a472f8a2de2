//! The binary's contract with shells and CI: exit codes and messages.

use std::process::Command;

fn transfersim(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(args)
        .output()
        .expect("the transfersim binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn commands_not_built_yet_say_so_and_exit_2() {
    for (command, issue) in [("check", 6), ("serve", 7), ("fuzz", 8), ("load", 9)] {
        let (code, stderr) = transfersim(&[command]);
        assert_eq!(code, 2, "`transfersim {command}` exited {code}: {stderr}");
        assert!(
            stderr.contains("not built yet") && stderr.contains(&format!("issue {issue}")),
            "`transfersim {command}` said: {stderr}"
        );
    }
}

#[test]
fn no_subcommand_runs_check() {
    let (code, stderr) = transfersim(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("transfersim check"), "{stderr}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let (code, stderr) = transfersim(&["check", "--no-such-flag"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}
