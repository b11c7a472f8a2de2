//! Shared setup: a world with the scripted provider installed as "hubspot", and small wrappers
//! over the API that fail with a readable message.

use serde_json::{Value, json};
use transfersim_mock_providers::Credentials;
use transfersim_sim::engine::{EngineConfig, ProviderName};
use transfersim_sim::world::scripted::{ScriptedConnector, ScriptedProvider};
use transfersim_sim::world::{
    Answered, CallHandle, HUBSPOT_BASE_URL, SALESFORCE_BASE_URL, World, WorldConfig,
};

#[cfg(feature = "mutations")]
pub use transfersim_sim::mutations::Mutation;

/// Stand-in for the mutation type in builds without the feature: no value exists.
#[cfg(not(feature = "mutations"))]
#[derive(Debug, Clone, Copy)]
pub enum Mutation {}

pub const KEY: &str = "test_key";
pub const BASE: &str = "http://scripted.test";

thread_local! {
    /// Added to every check's fixed seed by the seed sweeps; 0 in ordinary tests.
    pub static SEED_OFFSET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A check's fixed seed moved by the current sweep offset.
pub fn swept(seed: u64) -> u64 {
    seed.wrapping_add(
        SEED_OFFSET
            .with(std::cell::Cell::get)
            .wrapping_mul(1_000_003),
    )
}

/// A check's verdict: `Err` says what a user would have noticed.
pub type Check = Result<(), String>;

/// `ensure!(condition, "format", args)`: fail the check with a message.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

/// A world whose "hubspot" is a scripted provider with `records` contacts and `latency_ms`
/// per request, pages of `page_size`.
pub fn world_with(
    seed: u64,
    mutation: Option<Mutation>,
    records: usize,
    latency_ms: u64,
    page_size: usize,
) -> World {
    #[allow(unused_mut)]
    let mut engine = EngineConfig::default();
    #[cfg(feature = "mutations")]
    {
        engine.mutation = mutation;
    }
    #[cfg(not(feature = "mutations"))]
    let _ = mutation;
    let mut world = World::new(WorldConfig {
        seed: swept(seed),
        engine,
        ..WorldConfig::default()
    });
    world.engine_mut().set_connector(
        ProviderName::Hubspot,
        Box::new(ScriptedConnector {
            page_size,
            batch_size: 100,
        }),
    );
    world.host_provider(
        BASE,
        Box::new(ScriptedProvider::with_contacts(records, latency_ms)),
    );
    world
}

/// Calls and returns the answer, which must be immediate.
pub fn call(world: &mut World, method: &str, path: &str, body: Option<Value>) -> Answered {
    call_as(world, KEY, method, path, body)
}

pub fn call_as(
    world: &mut World,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Answered {
    let handle = world.call(method, path, key, body.as_ref());
    match world.answer_of(handle) {
        Some(answer) => answer.clone(),
        None => panic!("{method} {path} was not answered at once"),
    }
}

pub fn initiate(world: &mut World, extra: Value) -> Result<String, String> {
    let mut body = json!({"schema": [{"endgrate_type": "crm-contact"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            body.insert(name.clone(), value.clone());
        }
    }
    let answer = call(world, "POST", "/api/session/initiate", Some(body));
    ensure!(
        answer.status() == 200,
        "initiate answered {}: {}",
        answer.status(),
        answer.json()
    );
    answer.json()["session_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "initiate gave no session_id".to_owned())
}

pub fn configure(world: &mut World, session_id: &str) -> Check {
    let answer = call(
        world,
        "POST",
        "/api/test_helpers/session/configure",
        Some(json!({
            "session_id": session_id,
            "provider": "hubspot",
            "provider_base_url": BASE,
            "credentials": {"refresh_token": "r", "client_id": "c", "client_secret": "s"},
        })),
    );
    ensure!(
        answer.status() == 200,
        "configure answered {}: {}",
        answer.status(),
        answer.json()
    );
    Ok(())
}

pub fn trigger_pull(world: &mut World, session_id: &str, synchronous: bool) -> CallHandle {
    let body = json!({"session_id": session_id, "endgrate_type": "crm-contact", "synchronous": synchronous});
    world.call("POST", "/api/pull/transfer", KEY, Some(&body))
}

pub fn transfer_id_of(world: &World, handle: CallHandle) -> Result<String, String> {
    let answer = world
        .answer_of(handle)
        .ok_or("the trigger has no answer yet")?;
    ensure!(
        answer.status() == 200,
        "trigger answered {}: {}",
        answer.status(),
        answer.json()
    );
    answer.json()["transfer_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no transfer_id".to_owned())
}

pub fn state_of(world: &mut World, transfer_id: &str) -> Result<String, String> {
    let answer = call(
        world,
        "GET",
        &format!("/api/statistics?transfer_id={transfer_id}"),
        None,
    );
    ensure!(
        answer.status() == 200,
        "statistics answered {}: {}",
        answer.status(),
        answer.json()
    );
    Ok(answer.json()["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Runs a check and panics with its message and the trace tail on failure.
pub fn assert_check(name: &str, world_trace: Option<&[String]>, result: Check) {
    if let Err(message) = result {
        let tail = world_trace
            .map(|trace| trace[trace.len().saturating_sub(30)..].join("\n"))
            .unwrap_or_default();
        panic!("{name}: {message}\n--- last trace lines ---\n{tail}");
    }
}

/// A world with the real mocks and connectors, running `mutation`, at the check's seed moved by
/// the current sweep.
pub fn mock_world(seed: u64, mutation: Option<Mutation>) -> World {
    #[allow(unused_mut)]
    let mut engine = EngineConfig::default();
    #[cfg(feature = "mutations")]
    {
        engine.mutation = mutation;
    }
    #[cfg(not(feature = "mutations"))]
    let _ = mutation;
    World::new(WorldConfig {
        seed: swept(seed),
        engine,
        ..WorldConfig::default()
    })
}

/// Calls the API as [`KEY`] and answers the JSON body of a `200` given at once; anything else is
/// an error naming the call.
pub fn ok_json(
    world: &mut World,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let handle = world.call(method, path, KEY, body.as_ref());
    let answer = world
        .answer_of(handle)
        .ok_or_else(|| format!("{method} {path} not answered at once"))?;
    ensure!(
        answer.status() == 200,
        "{method} {path} answered {}: {}",
        answer.status(),
        answer.json()
    );
    Ok(answer.json())
}

/// Initiates a session of `kind` (`session`, `pull` or `push`) for contacts, with `extra` fields
/// in the initiate body, and configures it against the hosted `provider` mock (`hubspot` or
/// `salesforce`) with `credentials`.
pub fn provider_session(
    world: &mut World,
    kind: &str,
    provider: &str,
    credentials: &Credentials,
    extra: Value,
) -> Result<String, String> {
    let mut body = json!({"schema": [{"endgrate_type": "crm-contact"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            body.insert(name.clone(), value.clone());
        }
    }
    let session_id =
        ok_json(world, "POST", &format!("/api/{kind}/initiate"), Some(body))?["session_id"]
            .as_str()
            .ok_or("no session id")?
            .to_owned();
    let base = if provider == "hubspot" {
        HUBSPOT_BASE_URL
    } else {
        SALESFORCE_BASE_URL
    };
    ok_json(
        world,
        "POST",
        "/api/test_helpers/session/configure",
        Some(json!({
            "session_id": session_id, "provider": provider, "provider_base_url": base,
            "credentials": {"refresh_token": credentials.refresh_token, "client_id": credentials.client_id, "client_secret": credentials.client_secret},
        })),
    )?;
    Ok(session_id)
}
