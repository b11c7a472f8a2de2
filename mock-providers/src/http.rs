//! The HTTP form of the mocks (feature `http`): an axum router per provider, the thin server layer
//! that can drop a connection without answering, and [`serve_both`].
//!
//! - [`router`]: one provider's routes (provider routes and `/__admin`), over shared state. Each
//!   request reads `now` from a [`ClockSource`] the caller gives (its wall clock, or a target's virtual
//!   clock), calls the same pure `handle` as the in-process form, sleeps the answer's latency
//!   (capped, so that long simulated latencies stay a matter for the in-memory target), and
//!   answers the same bytes.
//! - [`serve_router`]: an accept loop on hyper that gives every request a [`ConnectionKiller`],
//!   so that a `Drop` or `Timeout` verdict closes the connection with no answer at all.
//! - [`serve_both`]: hubspot under `/hubspot`, salesforce under `/salesforce`, base URLs set to
//!   the listening address.
//!
//! **Boundary:** this is the only module of the crate that does IO; it reads no clock itself
//! (the caller's [`ClockSource`] does; `transfersim`'s wall clock lives in `src/serve/clock.rs`).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt as _;

use crate::seam::{InProcessProvider, Millis, Outcome};
use crate::{Hubspot, Salesforce};

/// The largest request body the HTTP form reads (as CONTRACT.md's 16 MiB).
pub const BODY_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The longest latency the HTTP form really sleeps by default.
pub const SLEEP_MAX_MS: u64 = 1000;

type ClockFuture = Pin<Box<dyn Future<Output = Millis> + Send>>;

/// Where the HTTP form reads `now`: the caller's wall clock, a fixed function, or an async source such as a
/// target's `GET /api/test_helpers/clock`, so that a provider's window passes when the target's
/// clock says it does.
#[derive(Clone)]
pub struct ClockSource(Arc<dyn Fn() -> ClockFuture + Send + Sync>);

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClockSource(..)")
    }
}

impl ClockSource {
    /// A synchronous source, e.g. a test's pinned clock.
    pub fn from_fn(now: impl Fn() -> Millis + Send + Sync + 'static) -> Self {
        Self(Arc::new(move || {
            let value = now();
            Box::pin(async move { value })
        }))
    }

    /// An asynchronous source, e.g. one that asks the target under test.
    pub fn from_async<F, Fut>(now: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Millis> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(now())))
    }

    /// Reads the clock.
    pub async fn now(&self) -> Millis {
        (self.0)().await
    }
}

/// A provider the HTTP form can host: the in-process form plus a settable base URL.
pub trait HostedProvider: InProcessProvider + Send + 'static {
    /// Sets the base URL the provider advertises, once the listener is bound.
    fn set_base_url(&mut self, base_url: String);
}

impl HostedProvider for Hubspot {
    fn set_base_url(&mut self, base_url: String) {
        crate::Mock::set_base_url(self, base_url);
    }
}

impl HostedProvider for Salesforce {
    fn set_base_url(&mut self, base_url: String) {
        crate::Mock::set_base_url(self, base_url);
    }
}

/// Options of the HTTP form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Latencies up to this are slept for real; longer ones are cut to it.
    pub sleep_max_ms: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            sleep_max_ms: SLEEP_MAX_MS,
        }
    }
}

/// Closes the connection a request came on, without answering. [`serve_router`] puts one in
/// every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    /// Closes the connection without an answer (the handler should then never complete).
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

struct HttpState<P> {
    provider: Arc<Mutex<P>>,
    clock: ClockSource,
    options: HttpOptions,
}

impl<P> Clone for HttpState<P> {
    fn clone(&self) -> Self {
        Self {
            provider: self.provider.clone(),
            clock: self.clock.clone(),
            options: self.options,
        }
    }
}

/// One provider's router, with the default options. Nest it (`nest_service`) under any prefix;
/// the provider sees paths relative to it.
pub fn router<P: HostedProvider>(provider: Arc<Mutex<P>>, clock: ClockSource) -> Router {
    router_with_options(provider, clock, HttpOptions::default())
}

/// One provider's router.
pub fn router_with_options<P: HostedProvider>(
    provider: Arc<Mutex<P>>,
    clock: ClockSource,
    options: HttpOptions,
) -> Router {
    Router::new().fallback(serve::<P>).with_state(HttpState {
        provider,
        clock,
        options,
    })
}

async fn serve<P: HostedProvider>(State(state): State<HttpState<P>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let killer = parts.extensions.get::<ConnectionKiller>().cloned();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_MAX_BYTES).await else {
        return (
            http::StatusCode::PAYLOAD_TOO_LARGE,
            [(http::header::CONTENT_TYPE, "application/json")],
            format!("{{\"message\":\"request body over {BODY_MAX_BYTES} bytes\"}}"),
        )
            .into_response();
    };
    let request = http::Request::from_parts(parts, bytes);
    let now = state.clock.now().await;
    let served = {
        let mut provider = state
            .provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        provider.handle(now, request)
    };
    let sleep_ms = served.latency_ms.min(state.options.sleep_max_ms);
    if sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    }
    match served.outcome {
        Outcome::Answer(response) => response.map(Body::from),
        Outcome::Timeout | Outcome::Dropped => drop_connection(killer).await,
    }
}

/// Ends the request without an answer. Under [`serve_router`] the connection task drops the
/// connection (and this future with it). Under another server (e.g. `axum::serve`), the only way
/// to close without answering is to unwind the connection task; `resume_unwind` does so without
/// running the panic hook, and tokio contains it to that one task.
async fn drop_connection(killer: Option<ConnectionKiller>) -> Response {
    match killer {
        Some(killer) => {
            killer.kill();
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        None => std::panic::resume_unwind(Box::new("mock provider drops the connection")),
    }
}

/// Serves `router` on `listener` until accepting fails, over HTTP/1.1, giving every request a
/// [`ConnectionKiller`] so that the mocks can drop a connection without answering. Use it for any
/// router that nests the mock routers.
pub async fn serve_router(listener: TcpListener, router: Router) -> std::io::Result<()> {
    // The server's lifetime loop: it ends when accepting fails or the task is aborted.
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve_connection(stream, router.clone()));
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let kill = Arc::new(Notify::new());
    let killer = ConnectionKiller(kill.clone());
    let service =
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(killer.clone());
            let router = router.clone();
            async move {
                let response: Result<Response, Infallible> =
                    router.oneshot(request.map(Body::new)).await;
                response
            }
        });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        // Dropping the connection closes the socket; no answer was written.
        () = kill.notified() => {}
    }
}

/// The base URL of a provider mounted at `prefix` on `address` (an unspecified address is
/// advertised as loopback).
pub fn base_url(address: SocketAddr, prefix: &str) -> String {
    let host = if address.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    };
    format!("http://{host}{prefix}")
}

/// Serves hubspot under `/hubspot` and salesforce under `/salesforce` on `listener`, after setting
/// each provider's base URL to its address and prefix (Salesforce's `instance_url`).
pub async fn serve_both(
    listener: TcpListener,
    hubspot: Arc<Mutex<Hubspot>>,
    salesforce: Arc<Mutex<Salesforce>>,
    clock: ClockSource,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    hubspot
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .set_base_url(base_url(address, "/hubspot"));
    salesforce
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .set_base_url(base_url(address, "/salesforce"));
    let app = Router::new()
        .nest_service("/hubspot", router(hubspot, clock.clone()))
        .nest_service("/salesforce", router(salesforce, clock));
    serve_router(listener, app).await
}
