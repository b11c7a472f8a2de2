//! Request builders and answer readers shared by the behaviour tests.

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;
use transfersim_mock_providers::{
    AccountOptions, Credentials, Hubspot, InProcessProvider, Millis, Outcome, ProviderRequest,
    Salesforce, Served,
};

/// 2026-01-01T00:00:00Z, the world's default epoch.
pub const EPOCH: Millis = 1_767_225_600_000;
pub const SEED: u64 = 7;

pub fn hubspot() -> Hubspot {
    Hubspot::new("http://mock.test/hubspot", SEED)
}

pub fn salesforce() -> Salesforce {
    Salesforce::new("http://mock.test/salesforce", SEED)
}

pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> ProviderRequest {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.into()).expect("a valid test request")
}

pub fn get(path: &str, token: Option<&str>) -> ProviderRequest {
    request(Method::GET, path, token, None, Bytes::new())
}

pub fn json_request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> ProviderRequest {
    request(
        method,
        path,
        token,
        Some("application/json"),
        body.to_string(),
    )
}

pub fn form(path: &str, pairs: &[(&str, &str)]) -> ProviderRequest {
    let body = serde_urlencoded::to_string(pairs).expect("form pairs encode");
    request(
        Method::POST,
        path,
        None,
        Some("application/x-www-form-urlencoded"),
        body,
    )
}

/// An HTTP answer the tests can read.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the answer body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Status, every header in order and the pretty body: what a snapshot pins.
    pub fn render(&self) -> String {
        let mut text = format!("{}\n", self.status);
        for (name, value) in &self.headers {
            text.push_str(&format!(
                "{name}: {}\n",
                value.to_str().unwrap_or("<binary>")
            ));
        }
        text.push('\n');
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(json) => text.push_str(&serde_json::to_string_pretty(&json).expect("JSON prints")),
            Err(_) => text.push_str(&String::from_utf8_lossy(&self.body)),
        }
        text
    }
}

pub fn answer(served: Served) -> Answer {
    match served.outcome {
        Outcome::Answer(response) => {
            let (parts, body) = response.into_parts();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

pub fn send(
    provider: &mut impl InProcessProvider,
    now: Millis,
    request: ProviderRequest,
) -> Answer {
    answer(provider.handle(now, request))
}

pub fn refresh_form<'a>(
    credentials: &'a Credentials,
    refresh_token: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
    ]
}

pub const HUBSPOT_TOKEN: &str = "/oauth/v1/token";
pub const SALESFORCE_TOKEN: &str = "/services/oauth2/token";

/// Creates an account and returns its credentials and a fresh access token.
pub fn hubspot_account(hubspot: &mut Hubspot, options: &AccountOptions) -> (Credentials, String) {
    let credentials = hubspot
        .create_account(EPOCH, options)
        .expect("valid options");
    let token = send(
        hubspot,
        EPOCH,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    )
    .json()["access_token"]
        .as_str()
        .expect("a token answer")
        .to_owned();
    (credentials, token)
}

pub fn salesforce_account(
    salesforce: &mut Salesforce,
    options: &AccountOptions,
) -> (Credentials, String) {
    let credentials = salesforce
        .create_account(EPOCH, options)
        .expect("valid options");
    let token = send(
        salesforce,
        EPOCH,
        form(
            SALESFORCE_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    )
    .json()["access_token"]
        .as_str()
        .expect("a token answer")
        .to_owned();
    (credentials, token)
}

pub const SF: &str = "/services/data/v60.0";
