//! `transfersim providers` serves both mocks on loopback and prints a working default account.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// One HTTP/1.1 exchange over a raw socket: (status, body).
fn exchange(address: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn providers_prints_its_address_and_a_default_account_that_can_get_a_token() {
    let child = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["providers", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start transfersim providers");
    let mut server = Server(child);
    let stdout = server.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    let base = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    let hubspot = lines.next().expect("hubspot line").expect("utf-8");
    let salesforce = lines.next().expect("salesforce line").expect("utf-8");
    assert!(
        hubspot.starts_with("hubspot") && hubspot.contains(&format!("http://{base}/hubspot")),
        "{hubspot}"
    );
    assert!(
        salesforce.starts_with("salesforce")
            && salesforce.contains(&format!("http://{base}/salesforce")),
        "{salesforce}"
    );
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
        field(&hubspot, "refresh_token"),
        field(&hubspot, "client_id"),
        field(&hubspot, "client_secret")
    );
    let request = format!(
        "POST /hubspot/oauth/v1/token HTTP/1.1\r\nHost: {base}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let (status, body) = exchange(&base, &request);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"access_token\"") && body.contains("\"expires_in\":1800"),
        "{body}"
    );
}
