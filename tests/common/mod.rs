//! Shared by the integration tests that start `transfersim serve` as a child process. Each test
//! crate uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `transfersim serve` child process on port 0, killed on drop.
pub struct ServeProcess {
    pub child: Child,
    pub base: String,
    pub lines: Vec<String>,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// Starts `transfersim serve --port 0 EXTRA…` and reads its start-up lines.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_transfersim"))
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("transfersim serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        // Bounded: the start-up lines, each within 30 s.
        while !lines
            .iter()
            .any(|line: &String| line.starts_with("salesforce"))
        {
            let line = receiver
                .recv_timeout(Duration::from_secs(30))
                .expect("serve prints its start-up lines");
            lines.push(line);
        }
        let base = lines[0]
            .strip_prefix("listening on ")
            .expect("the first line names the address")
            .to_owned();
        Self { child, base, lines }
    }

    /// `field=value` from the hubspot line.
    pub fn hubspot(&self, field: &str) -> String {
        let line = self
            .lines
            .iter()
            .find(|line| line.starts_with("hubspot"))
            .expect("a hubspot line");
        if field == "url" {
            return line.split_whitespace().nth(1).expect("a url").to_owned();
        }
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{field}=")))
            .expect("the field")
            .to_owned()
    }
}
