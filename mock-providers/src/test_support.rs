//! What the tests of the fast paths share: JSON text with every quirk a `Value` cannot hold,
//! and a pair of identical mocks, one served by the fast paths and one by the `Value`-based
//! oracles, whose answers, records and journals must stay identical.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;

use crate::AccountOptions;
use crate::mock::{Dialect, Mock};
use crate::seam::{Millis, Outcome, ProviderResponse};

/// 2026-01-01T00:00:00Z.
pub(crate) const EPOCH: Millis = 1_767_225_600_000;

/// JSON as text, with what a `Value` cannot hold: repeated keys, escapes of any style, numbers
/// in any spelling, and raw (possibly invalid) text.
#[derive(Debug, Clone)]
pub(crate) enum J {
    Null,
    Bool(bool),
    /// A number as written.
    Num(&'static str),
    /// A string, and whether to write every character as a `\u` escape.
    Str(String, bool),
    Arr(Vec<J>),
    /// Members in order; keys may repeat. The flag escapes keys as `\u` sequences.
    Obj(Vec<(String, J)>, bool),
    /// Raw text, written as is.
    Raw(&'static str),
}

pub(crate) fn escaped(s: &str, all: bool) -> String {
    if !all {
        return Value::String(s.to_owned()).to_string();
    }
    let mut out = String::from("\"");
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

pub(crate) fn render(j: &J, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) | J::Raw(n) => out.push_str(n),
        J::Str(s, all) => out.push_str(&escaped(s, *all)),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(item, out);
            }
            out.push(']');
        }
        J::Obj(members, all) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&escaped(k, *all));
                out.push(':');
                render(v, out);
            }
            out.push('}');
        }
    }
}

pub(crate) const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "1e2",
    "1E-7",
    "0.1",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
];

pub(crate) fn text(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_owned)
}

/// JSON text of `j`.
pub(crate) fn text_of(j: &J) -> String {
    let mut s = String::new();
    render(j, &mut s);
    s
}

/// Cuts the text short now and then, or puts an invalid UTF-8 byte inside a string.
pub(crate) fn damaged(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (
        text,
        prop::option::weighted(0.05, any::<prop::sample::Index>()),
        prop::bool::weighted(0.02),
    )
        .prop_map(|(text, cut, invalid_utf8)| {
            let mut bytes = text.into_bytes();
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            if invalid_utf8 && let Some(at) = bytes.iter().position(|b| *b == b'"') {
                bytes.insert(at + 1, 0xff);
            }
            bytes
        })
}

/// The same mock twice: `fast` serves through the fast paths, `oracle` through the old ones.
pub(crate) struct Pair {
    pub fast: Mock,
    pub oracle: Mock,
    pub token: String,
    pub account_id: String,
}

fn token_of(mock: &mut Mock, credentials: &crate::Credentials) -> String {
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
        credentials.refresh_token, credentials.client_id, credentials.client_secret
    );
    let path = match mock.dialect() {
        Dialect::Hubspot => "/oauth/v1/token",
        Dialect::Salesforce => "/services/oauth2/token",
    };
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(form))
        .expect("a token request");
    let Outcome::Answer(answer) = mock.serve(EPOCH, request).outcome else {
        panic!("a token answer");
    };
    let body: Value = serde_json::from_slice(answer.body()).expect("JSON");
    body["access_token"].as_str().expect("a token").to_owned()
}

/// Status, every header in order, and the body bytes.
fn wire(response: &ProviderResponse) -> (u16, Vec<(String, Vec<u8>)>, Bytes) {
    (
        response.status().as_u16(),
        response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        response.body().clone(),
    )
}

impl Pair {
    /// Two mocks of `dialect` with one account made with `options`, each set up by `setup`
    /// (given the account id), and a token for it.
    pub(crate) fn new(
        dialect: Dialect,
        options: &AccountOptions,
        setup: impl Fn(&mut Mock, &str),
    ) -> Pair {
        let base = match dialect {
            Dialect::Hubspot => "http://mock.test/hubspot",
            Dialect::Salesforce => "http://mock.test/salesforce",
        };
        let mut mocks = [0, 1].map(|_| Mock::new(dialect, base.to_owned(), 7));
        mocks[1].oracle = true;
        let mut tokens = Vec::new();
        let mut accounts = Vec::new();
        for mock in &mut mocks {
            let credentials = mock.create_account(EPOCH, options).expect("an account");
            setup(mock, &credentials.account_id);
            tokens.push(token_of(mock, &credentials));
            accounts.push(credentials.account_id);
        }
        assert_eq!(tokens[0], tokens[1]);
        let [fast, oracle] = mocks;
        Pair {
            fast,
            oracle,
            token: tokens.remove(0),
            account_id: accounts.remove(0),
        }
    }

    /// Sends the same request to both at `now`; panics (with both bodies) unless the answers
    /// are identical.
    pub(crate) fn same(
        &mut self,
        now: Millis,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> ProviderResponse {
        let request = || {
            let mut builder = http::Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder
                .body(Bytes::copy_from_slice(body))
                .expect("a valid request")
        };
        let answers = [
            self.fast.serve(now, request()),
            self.oracle.serve(now, request()),
        ]
        .map(|served| match served.outcome {
            Outcome::Answer(response) => response,
            other => panic!("no answer: {other:?}"),
        });
        let [fast, oracle] = answers;
        assert_eq!(
            wire(&fast),
            wire(&oracle),
            "{method} {path} {}\nfast:   {}\noracle: {}",
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(fast.body()),
            String::from_utf8_lossy(oracle.body())
        );
        fast
    }

    /// The records of every object, the duplicate external ids and the journal are the same.
    pub(crate) fn same_state(&self) {
        for object in self.fast.dialect().objects() {
            assert_eq!(
                self.fast.records(&self.account_id, object),
                self.oracle.records(&self.account_id, object)
            );
        }
        assert_eq!(
            self.fast.duplicate_external_ids(&self.account_id),
            self.oracle.duplicate_external_ids(&self.account_id)
        );
        assert_eq!(self.fast.journal(), self.oracle.journal());
    }
}
