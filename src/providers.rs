//! `transfersim providers`: both mock providers served standalone over HTTP on wall time, hubspot
//! under `/hubspot` and salesforce under `/salesforce`, each with one default account whose
//! credentials are printed at start (a target's connectors or the runner use them).

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use transfersim_mock_providers::http::{ClockSource, base_url, serve_both};
use transfersim_mock_providers::{AccountOptions, Credentials, Hubspot, Salesforce};

/// Flags of `providers`.
#[derive(Debug, clap::Args)]
pub struct ProvidersArgs {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the mocks' credentials and generated records.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Wall-clock milliseconds since the Unix epoch, for the default accounts' creation time.
fn wall_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
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

/// Serves both mocks until SIGINT or SIGTERM.
pub fn run(args: &ProvidersArgs) -> anyhow::Result<u8> {
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
        let now = wall_now();
        let mut hubspot = Hubspot::new(base_url(address, "/hubspot"), args.seed);
        let mut salesforce = Salesforce::new(base_url(address, "/salesforce"), args.seed ^ 1);
        let hubspot_account = hubspot
            .create_account(now, &AccountOptions::default())
            .context("creating the hubspot account")?;
        let salesforce_account = salesforce
            .create_account(now, &AccountOptions::default())
            .context("creating the salesforce account")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{address}")?;
        writeln!(
            out,
            "{}",
            describe("hubspot", &base_url(address, "/hubspot"), &hubspot_account)
        )?;
        writeln!(
            out,
            "{}",
            describe(
                "salesforce",
                &base_url(address, "/salesforce"),
                &salesforce_account
            )
        )?;
        out.flush()?;
        drop(out);
        let server = serve_both(
            listener,
            Arc::new(Mutex::new(hubspot)),
            Arc::new(Mutex::new(salesforce)),
            ClockSource::from_fn(crate::serve::clock::system_now_ms),
        );
        tokio::select! {
            result = server => result.context("serving the mock providers")?,
            () = shutdown_signal() => eprintln!("shutting down"),
        }
        Ok(0)
    })
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
