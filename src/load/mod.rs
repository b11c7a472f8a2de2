//! `transfersim load`: a load generator against a target (issue 9).
//!
//! The workload is a plan that both targets share ([`Plan`]): `--sessions` sessions over
//! `--accounts` hubspot accounts of the runner's mock providers (half of them seeded for pulls,
//! half written by pushes, so a pull always reads the same number of records), `--transfers`
//! transfers spread round-robin over the sessions, each moving `--records / --transfers` records,
//! `--sync-ratio` of them synchronous. Every completed transfer's results are read back through the
//! data routes, and the records are counted from those pages.
//!
//! - `memory.rs` drives a simulated [`transfersim_sim::world::World`] in one thread; "concurrency"
//!   is the number of open transfers, and the world's virtual clock moves in 1 s steps while any
//!   is open. Trigger and data-page latencies are wall time of the API layer; synchronous call
//!   latencies are simulated time (the world answers them in virtual time).
//! - `http.rs` serves its own hubspot mock on 127.0.0.1:0 (as the HTTP target of `check` does),
//!   so it works against any deployment with the session-configure test helper, and runs
//!   `--concurrency` workers on tokio; every latency is wall time.
//!
//! **Invariant:** a run stops by itself: after `--transfers` transfers, or at `--duration`,
//! whichever comes first; every wait inside is bounded.

pub mod http;
pub mod memory;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

pub use report::{ErrorLog, LatencySummary, Report, Stats};

/// The standard workload of BENCHMARKS.md and the world bench.
pub const STANDARD_SESSIONS: usize = 1_000;
/// Provider accounts of the standard workload.
pub const STANDARD_ACCOUNTS: usize = 50;
/// API keys of the standard workload.
pub const STANDARD_KEYS: usize = 10;
/// Transfers of the standard workload.
pub const STANDARD_TRANSFERS: usize = 10_000;
/// Records of the standard workload (pulled and pushed together).
pub const STANDARD_RECORDS: u64 = 2_000_000;

/// The most records one transfer may move (the push item limit of CONTRACT.md).
pub const RECORDS_PER_TRANSFER_MAX: u64 = 10_000;
/// Rows per data page read back.
pub const DATA_PAGE_LIMIT: u64 = 1_000;

/// Flags of `load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// `memory` (a simulated world in this process) or the base URL of a deployment.
    #[arg(long, default_value = "memory")]
    pub target: String,
    /// Sessions to spread the transfers over.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sessions: usize,
    /// Transfers to run (a run ends after these, or at `--duration`).
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub transfers: usize,
    /// Records moved in all, pulled and pushed (rounded down to a multiple of `--transfers`).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub records: u64,
    /// Transfers open at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// A cap on the wall time (`30s`, `5m`); the run ends at it or after `--transfers`.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<crate::scenario::Duration>,
    /// The share of transfers triggered synchronously, 0 to 1.
    #[arg(long, value_name = "RATIO", default_value_t = 0.1)]
    pub sync_ratio: f64,
    /// `unlimited` (the mocks never rate-limit: measure the target) or `real` (hubspot's
    /// 100 requests per 10 s per account).
    #[arg(long, value_enum, default_value_t = ProviderBudget::Unlimited)]
    pub provider_budget: ProviderBudget,
    /// Provider accounts (hubspot), at most `--sessions`.
    #[arg(long, value_name = "N", default_value_t = STANDARD_ACCOUNTS)]
    pub accounts: usize,
    /// An API key to use (repeatable; sessions take them round-robin). Default: `test_key` for
    /// a URL target, 10 generated keys in memory.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Seed of the in-memory world and the mocks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// In memory: run the world on one thread (by default the mock providers serve on a second
    /// thread during the run; the results are the same either way).
    #[arg(long)]
    pub single_thread: bool,
}

/// Provider budgets of the mock accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderBudget {
    Unlimited,
    Real,
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadTarget {
    Memory,
    Url(String),
}

/// A validated `load` configuration.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: LoadTarget,
    pub plan: Plan,
    pub concurrency: usize,
    pub duration: Option<Duration>,
    pub seed: u64,
    pub progress: bool,
    /// In memory: serve the mocks on a second thread ([`transfersim_sim::world::World::pipelined`]).
    pub pipeline: bool,
}

/// What a run does, the same for every target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub sessions: usize,
    pub accounts: usize,
    pub transfers: usize,
    pub records_per_transfer: u64,
    pub sync_ratio: f64,
    pub provider_budget: ProviderBudget,
    pub api_keys: Vec<String>,
}

/// The role of a session: it pulls from a seeded account or pushes to an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pull,
    Push,
}

impl Kind {
    /// The route segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pull => "pull",
            Kind::Push => "push",
        }
    }
}

impl Plan {
    /// The standard workload: 1,000 sessions, 50 accounts, 10 keys, 10,000 transfers,
    /// 2,000,000 records, real provider budgets, 10 % synchronous.
    pub fn standard() -> Self {
        Self {
            sessions: STANDARD_SESSIONS,
            accounts: STANDARD_ACCOUNTS,
            transfers: STANDARD_TRANSFERS,
            records_per_transfer: STANDARD_RECORDS / STANDARD_TRANSFERS as u64,
            sync_ratio: 0.1,
            provider_budget: ProviderBudget::Real,
            api_keys: generated_keys(STANDARD_KEYS),
        }
    }

    /// Accounts seeded for pulls (the first half, rounded up).
    pub fn pull_accounts(&self) -> usize {
        if self.accounts == 1 {
            1
        } else {
            self.accounts.div_ceil(2)
        }
    }

    /// Accounts written by pushes (none with one account: then every session pulls).
    pub fn push_accounts(&self) -> usize {
        self.accounts - self.pull_accounts()
    }

    /// Whether session `s` pulls or pushes: even sessions pull, odd ones push.
    pub fn kind(&self, session: usize) -> Kind {
        if self.push_accounts() == 0 || session.is_multiple_of(2) {
            Kind::Pull
        } else {
            Kind::Push
        }
    }

    /// The account index (0-based over all accounts) of session `s`.
    pub fn account_of(&self, session: usize) -> usize {
        match self.kind(session) {
            Kind::Pull => (session / 2) % self.pull_accounts(),
            Kind::Push => self.pull_accounts() + (session / 2) % self.push_accounts(),
        }
    }

    /// The API key of session `s`.
    pub fn key_of(&self, session: usize) -> &str {
        &self.api_keys[session % self.api_keys.len()]
    }

    /// The session of transfer `j`.
    pub fn session_of(&self, transfer: usize) -> usize {
        transfer % self.sessions
    }

    /// Whether transfer `j` is synchronous: exactly `sync_ratio` of any prefix, rounded down.
    pub fn is_sync(&self, transfer: usize) -> bool {
        let before = (transfer as f64 * self.sync_ratio).floor();
        let after = ((transfer + 1) as f64 * self.sync_ratio).floor();
        after > before
    }

    /// Records the whole plan moves.
    pub fn records_total(&self) -> u64 {
        self.records_per_transfer * self.transfers as u64
    }

    /// The body of `POST /api/session/initiate`.
    pub fn initiate_body(&self) -> Value {
        json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true})
    }

    /// The body of transfer `j`'s trigger, as JSON text (written directly: a push carries up to
    /// 10,000 items, and the load generator should not cost more than the target it drives).
    /// The same bytes as serialising
    /// `{"session_id", "endgrate_type": "crm-contact", "transfer_data"?, "synchronous"}`
    /// with items `{"data": {"first_name": "Load", "last_name": "t<j>-<n>", "email":
    /// "t<j>.<n>@load.example"}}`.
    pub fn trigger_body(&self, transfer: usize, session_id: &str) -> bytes::Bytes {
        use std::fmt::Write as _;
        let session = self.session_of(transfer);
        let synchronous = self.is_sync(transfer);
        let items = match self.kind(session) {
            Kind::Pull => 0,
            Kind::Push => self.records_per_transfer,
        };
        let mut body = String::with_capacity(128 + 96 * items as usize);
        body.push_str("{\"session_id\":");
        body.push_str(&Value::from(session_id).to_string());
        body.push_str(",\"endgrate_type\":\"crm-contact\"");
        if self.kind(session) == Kind::Push {
            body.push_str(",\"transfer_data\":[");
            for n in 0..items {
                if n > 0 {
                    body.push(',');
                }
                // Only digits and fixed ASCII: nothing to escape.
                let _ = write!(
                    body,
                    "{{\"data\":{{\"first_name\":\"Load\",\"last_name\":\"t{transfer}-{n}\",\"email\":\"t{transfer}.{n}@load.example\"}}}}"
                );
            }
            body.push(']');
        }
        let _ = write!(body, ",\"synchronous\":{synchronous}}}");
        bytes::Bytes::from(body)
    }
}

/// The body of the session-configure test helper for an account.
pub fn configure_body(
    session_id: &str,
    base_url: &str,
    credentials: &transfersim_mock_providers::Credentials,
) -> Value {
    json!({
        "session_id": session_id,
        "provider": "hubspot",
        "provider_base_url": base_url,
        "credentials": {
            "refresh_token": credentials.refresh_token,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
    })
}

/// The path of data page `offset` of a transfer.
pub fn data_path(kind: Kind, transfer_id: &str, offset: u64) -> String {
    match kind {
        Kind::Pull => format!(
            "/api/pull/data?transfer_id={transfer_id}&endgrate_type=crm-contact&limit={DATA_PAGE_LIMIT}&offset={offset}"
        ),
        Kind::Push => {
            format!(
                "/api/push/data?transfer_id={transfer_id}&limit={DATA_PAGE_LIMIT}&offset={offset}"
            )
        }
    }
}

/// What one data page says: records it holds (successful items for a push), failed push items,
/// and the next offset if there is one. Read typed (only `transfer_data[].success` and
/// `meta.next.offset`), as a client that counts rows would; a body that is not such a page
/// reads as empty.
pub fn read_page(kind: Kind, page: &[u8]) -> (u64, u64, Option<u64>) {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        transfer_data: Vec<Row>,
        #[serde(default)]
        meta: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(default)]
        success: Option<bool>,
    }
    #[derive(serde::Deserialize, Default)]
    struct Meta {
        #[serde(default)]
        next: Option<Next>,
    }
    #[derive(serde::Deserialize)]
    struct Next {
        offset: Option<u64>,
    }
    let Ok(page) = serde_json::from_slice::<Page>(page) else {
        return (0, 0, None);
    };
    let rows = page.transfer_data.len() as u64;
    let (good, bad) = match kind {
        Kind::Pull => (rows, 0),
        Kind::Push => {
            let good = page
                .transfer_data
                .iter()
                .filter(|row| row.success == Some(true))
                .count() as u64;
            (good, rows - good)
        }
    };
    (good, bad, page.meta.next.and_then(|next| next.offset))
}

/// The mock account options the budget flag asks for.
pub fn account_options(budget: ProviderBudget) -> transfersim_mock_providers::AccountOptions {
    transfersim_mock_providers::AccountOptions {
        budget: match budget {
            ProviderBudget::Unlimited => Some(transfersim_mock_providers::Budget::Unlimited),
            ProviderBudget::Real => None,
        },
        ..transfersim_mock_providers::AccountOptions::default()
    }
}

/// `n` generated API keys.
pub fn generated_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("load_key_{i}")).collect()
}

/// Flags to a configuration, or a usage error.
pub fn config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let target = if args.target == "memory" {
        LoadTarget::Memory
    } else if args.target.starts_with("http://") || args.target.starts_with("https://") {
        LoadTarget::Url(args.target.trim_end_matches('/').to_owned())
    } else {
        anyhow::bail!(
            "`--target` must be `memory` or an http:// URL, not `{}`",
            args.target
        );
    };
    if args.sessions == 0 || args.transfers == 0 || args.concurrency == 0 || args.accounts == 0 {
        anyhow::bail!(
            "`--sessions`, `--transfers`, `--concurrency` and `--accounts` must be at least 1"
        );
    }
    if args.concurrency > 10_000 {
        anyhow::bail!("`--concurrency` must be at most 10000");
    }
    if !(0.0..=1.0).contains(&args.sync_ratio) {
        anyhow::bail!(
            "`--sync-ratio` must be between 0 and 1, not {}",
            args.sync_ratio
        );
    }
    let records_per_transfer = args.records / args.transfers as u64;
    if records_per_transfer == 0 {
        anyhow::bail!(
            "`--records` ({}) must be at least `--transfers` ({}): every transfer moves at least one record",
            args.records,
            args.transfers
        );
    }
    if records_per_transfer > RECORDS_PER_TRANSFER_MAX {
        anyhow::bail!(
            "`--records / --transfers` is {records_per_transfer}; one transfer moves at most {RECORDS_PER_TRANSFER_MAX}"
        );
    }
    let duration = match args.duration {
        Some(duration) if duration.as_millis() == 0 => {
            anyhow::bail!("`--duration` must be positive")
        }
        Some(duration) => Some(Duration::from_millis(duration.as_millis())),
        None => None,
    };
    let api_keys = if !args.api_keys.is_empty() {
        args.api_keys.clone()
    } else if target == LoadTarget::Memory {
        generated_keys(STANDARD_KEYS)
    } else {
        vec!["test_key".to_owned()]
    };
    let mut accounts = args.accounts.min(args.sessions);
    if args.sessions >= 2 {
        accounts = accounts.max(2);
    }
    Ok(LoadConfig {
        target,
        plan: Plan {
            sessions: args.sessions,
            accounts,
            transfers: args.transfers,
            records_per_transfer,
            sync_ratio: args.sync_ratio,
            provider_budget: args.provider_budget,
            api_keys,
        },
        concurrency: args.concurrency,
        duration,
        seed: args.seed,
        progress: !args.no_progress,
        pipeline: !args.single_thread,
    })
}

/// A progress bar on stderr when it is a terminal (hidden otherwise), counting transfers.
pub fn progress_bar(config: &LoadConfig) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !config.progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(config.plan.transfers as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} transfers {per_sec} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs a configuration on its target.
pub fn run_config(config: &LoadConfig) -> anyhow::Result<Report> {
    match &config.target {
        LoadTarget::Memory => memory::run(config),
        LoadTarget::Url(url) => http::run(config, url),
    }
}

/// The `load` command: run, print the report, write `--json`; exit 1 when errors happened.
pub fn command(args: &LoadArgs) -> anyhow::Result<u8> {
    let config = config(args)?;
    let report = run_config(&config)?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("serialising the report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.errors.count > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            sessions: 4,
            accounts: 4,
            transfers: 8,
            records_per_transfer: 3,
            sync_ratio: 0.5,
            provider_budget: ProviderBudget::Unlimited,
            api_keys: generated_keys(2),
        }
    }

    #[test]
    fn trigger_bodies_are_the_documented_json() {
        let plan = plan();
        for transfer in 0..plan.transfers {
            let session_id = format!("s\"{transfer}");
            let body: Value =
                serde_json::from_slice(&plan.trigger_body(transfer, &session_id)).expect("JSON");
            let synchronous = plan.is_sync(transfer);
            let expected = match plan.kind(plan.session_of(transfer)) {
                Kind::Pull => json!({
                    "session_id": session_id,
                    "endgrate_type": "crm-contact",
                    "synchronous": synchronous,
                }),
                Kind::Push => json!({
                    "session_id": session_id,
                    "endgrate_type": "crm-contact",
                    "transfer_data": (0..plan.records_per_transfer).map(|n| json!({"data": {
                        "first_name": "Load",
                        "last_name": format!("t{transfer}-{n}"),
                        "email": format!("t{transfer}.{n}@load.example"),
                    }})).collect::<Vec<_>>(),
                    "synchronous": synchronous,
                }),
            };
            assert_eq!(body, expected, "transfer {transfer}");
        }
    }

    #[test]
    fn pages_count_rows_successes_and_the_next_offset() {
        let push = json!({"success": true, "meta": {"count": 3, "next": {"offset": 2, "link": "x"}},
            "transfer_data": [{"index": 0, "success": true}, {"index": 1, "success": false, "error": {}}]});
        assert_eq!(
            read_page(Kind::Push, push.to_string().as_bytes()),
            (1, 1, Some(2))
        );
        let pull = json!({"meta": {"count": 2}, "transfer_data": [{"id": "1", "data": {"a": [1]}}, {"id": "2", "data": null}]});
        assert_eq!(
            read_page(Kind::Pull, pull.to_string().as_bytes()),
            (2, 0, None)
        );
        assert_eq!(read_page(Kind::Pull, b"not json"), (0, 0, None));
    }
}
