//! `transfersim serve`: the in-memory implementation behind real sockets (issue 7).
//!
//! - `clock.rs`: the one clock (wall on tokio's `Instant`, or virtual, moved by `advance`);
//! - `driver.rs`: the engine behind a mutex and the driver loop (inputs, outputs, timers,
//!   advance-then-settle, shutdown);
//! - this file: flags, the axum app (API fallback with the 16 MiB limit, `/openapi.json`, the
//!   embedded mocks under `/providers/...`), start-up lines and signals.
//!
//! **Boundary:** the API's semantics live in `transfersim_sim::api`; this module only moves bytes,
//! time and provider calls.

pub mod clock;
pub mod driver;

use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use transfersim_mock_providers::http::{ClockSource, base_url, router, serve_router};
use transfersim_mock_providers::{AccountOptions, Credentials, Hubspot, Salesforce};
use transfersim_sim::engine::EngineConfig;
use transfersim_sim::limits::BODY_LIMIT_BYTES;

pub use clock::{ServeClock, system_now_ms};
pub use driver::Service;

/// `--clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockKind {
    Wall,
    Virtual,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one (the first line printed names it).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// An API key valid from the start (repeatable).
    #[arg(long = "api-key", value_name = "KEY", default_values_t = ["test_key".to_owned()])]
    pub api_keys: Vec<String>,
    /// `wall`, or `virtual` (moved only by the clock test helper).
    #[arg(long, value_enum, default_value_t = ClockKind::Wall)]
    pub clock: ClockKind,
    /// The webhook secret (`whsec_<base64>`) of the keys given here.
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,
    /// `embedded` (both mocks in-process under /providers/...) or the base URL of a
    /// `transfersim providers` elsewhere.
    #[arg(long, default_value = "embedded")]
    pub providers: String,
    /// Seed of the engine's ids and the embedded mocks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `text` or `json` logs, on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Run the engine with this deliberate bug (mutation builds only).
    #[cfg(feature = "mutations")]
    #[arg(long, value_name = "NAME")]
    pub mutation: Option<String>,
}

/// The engine configuration the flags ask for.
pub fn engine_config(args: &ServeArgs) -> anyhow::Result<EngineConfig> {
    if let Some(secret) = &args.webhook_secret
        && !secret.starts_with("whsec_")
    {
        anyhow::bail!("`--webhook-secret` must start with `whsec_`");
    }
    #[allow(unused_mut, clippy::needless_update)] // `mutation` exists only with the feature
    let mut config = EngineConfig {
        seed: args.seed,
        api_keys: args.api_keys.clone(),
        webhook_secret: args.webhook_secret.clone(),
        virtual_clock: args.clock == ClockKind::Virtual,
        ..EngineConfig::default()
    };
    #[cfg(feature = "mutations")]
    if let Some(name) = &args.mutation {
        let mutation: transfersim_sim::mutations::Mutation = name
            .parse()
            .map_err(|message: String| anyhow::anyhow!(message))?;
        config.mutation = Some(mutation);
    }
    Ok(config)
}

/// The API as an axum app: `/openapi.json` and every other path through the API layer. Tested
/// in-process with tower `oneshot`; [`run`] adds the embedded mocks.
pub fn app(service: Service) -> Router {
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi))
        .fallback(api)
        .with_state(service)
}

/// A stand-in body one byte over the limit, so that an oversized request gets exactly the API
/// layer's answer (auth, then route, then 413) without the driver reading it all. Zeroed, so it
/// costs no space in the binary.
static OVERSIZED_BODY: [u8; BODY_LIMIT_BYTES + 1] = [0; BODY_LIMIT_BYTES + 1];

async fn api(State(service): State<Service>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Reads at most the limit: a larger body stops here, before any parsing.
    let bytes = axum::body::to_bytes(body, BODY_LIMIT_BYTES)
        .await
        .unwrap_or_else(|_| Bytes::from_static(&OVERSIZED_BODY));
    let answer = service
        .handle(http::Request::from_parts(parts, bytes))
        .await;
    answer.map(Body::from)
}

/// `spec/openapi.yaml`, embedded, served as JSON (parsed once).
async fn openapi() -> Response {
    static JSON: OnceLock<Option<Bytes>> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        let yaml = include_str!("../../spec/openapi.yaml");
        serde_saphyr::from_str::<serde_json::Value>(yaml)
            .ok()
            .map(|value| Bytes::from(value.to_string()))
    });
    match json {
        Some(body) => (
            [(http::header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        None => (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"success":false,"message":"The embedded OpenAPI document does not parse."}"#,
        )
            .into_response(),
    }
}

fn describe(name: &str, url: &str, credentials: &Credentials) -> String {
    format!(
        "{name:<10} {url}  account_id={} client_id={} client_secret={} refresh_token={}",
        credentials.account_id,
        credentials.client_id,
        credentials.client_secret,
        credentials.refresh_token
    )
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second subscriber (a test calling `run` twice) is not an error worth failing for.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Serves until SIGINT or SIGTERM, then answers open synchronous calls with 503 and exits 0.
pub fn run(args: &ServeArgs) -> anyhow::Result<u8> {
    let config = engine_config(args)?;
    init_logs(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let start_ms = system_now_ms();
        let clock = match args.clock {
            ClockKind::Wall => ServeClock::wall(start_ms),
            ClockKind::Virtual => ServeClock::virtual_at(start_ms),
        };
        let service = Service::new(config, clock.clone());
        let mut lines = vec![
            format!("listening on http://{address}"),
            format!("api keys: {}", args.api_keys.join(", ")),
            format!("clock: {:?}", args.clock).to_lowercase(),
        ];
        let mut app = app(service.clone());
        if args.providers == "embedded" {
            let mock_clock = {
                let clock = clock.clone();
                ClockSource::from_fn(move || clock.now())
            };
            let hubspot_url = base_url(address, "/providers/hubspot");
            let salesforce_url = base_url(address, "/providers/salesforce");
            let mut hubspot = Hubspot::new(hubspot_url.clone(), args.seed);
            let mut salesforce = Salesforce::new(salesforce_url.clone(), args.seed ^ 1);
            let hubspot_account = hubspot
                .create_account(start_ms, &AccountOptions::default())
                .context("creating the hubspot account")?;
            let salesforce_account = salesforce
                .create_account(start_ms, &AccountOptions::default())
                .context("creating the salesforce account")?;
            lines.push(describe("hubspot", &hubspot_url, &hubspot_account));
            lines.push(describe("salesforce", &salesforce_url, &salesforce_account));
            app = app
                .nest_service(
                    "/providers/hubspot",
                    router(Arc::new(Mutex::new(hubspot)), mock_clock.clone()),
                )
                .nest_service(
                    "/providers/salesforce",
                    router(Arc::new(Mutex::new(salesforce)), mock_clock),
                );
        } else {
            let providers = args.providers.trim_end_matches('/');
            lines.push(format!(
                "providers: hubspot at {providers}/hubspot, salesforce at {providers}/salesforce"
            ));
        }
        let mut out = std::io::stdout().lock();
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        drop(out);
        let timers = service.spawn_timer_task();
        let server = tokio::spawn(serve_router(listener, app));
        tokio::select! {
            result = server => {
                result.context("the server task failed")?.context("serving")?;
            }
            () = crate::providers::shutdown_signal() => {
                tracing::info!("shutting down");
                service.shut_down().await;
                // Let the connection tasks write the 503s just handed to them.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        if let Some(timers) = timers {
            timers.abort();
        }
        Ok(0)
    })
}
