//! The workload generator: proptest strategies for a compact [`Workload`], and its translation
//! into a [`Scenario`], the same type the YAML files parse into.
//!
//! A workload is a few provider accounts, a few sessions on them (some sharing an account, under
//! two API keys), and a list of operations: configuration at a random point or never, async and
//! synchronous pushes and pulls (with and without `internal_id`), record changes between pulls,
//! clock advances, faults (429 storms, 5xx, timeouts before and after acting, drops, delays),
//! quota exhaustion through small budgets, another app's usage, token expiry, revoked grants,
//! session deletes, and session expiry through a long advance. Webhook receivers are fast
//! (answering 2xx within 10 s, the boundary included), slow (answering after more than 10 s,
//! always or for a while), failing (5xx, always or for a while) or down between two times; a
//! session sends its four webhook types to one of them (`{{receivers.rN.url}}`), serially or
//! with `webhook_concurrency`, or sends none. Proptest shrinks it by removing
//! operations, sessions and accounts and by simplifying each; references between parts are
//! indices taken modulo the current length, so every shrunk workload is still valid.
//!
//! Every scenario ends with the same tail: every fault removed, a 26 h settle, then an
//! `invariants` step (all checkers, liveness included).
//!
//! **Invariant:** workloads stay small (at most 3 accounts, 3 sessions, 3 receivers, 14
//! operations, 40 records per object, 6 items per push), so one simulates in milliseconds.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::scenario::{
    AnotherAppUsage, DownKeyword, Method, ReceiverAnswer, ReceiverRule, Respond,
};
use crate::scenario::{
    Budget, Duration, FaultMatch, FaultRule, ProviderAccount, ProviderControl, ProviderKind,
    Receiver, Records, Request, Scenario, SetRecords, Step, TAG_IN_MEMORY_ONLY, Verdict,
};

/// How long the tail lets the world settle once faults are removed: longer than the 24 h
/// salesforce window and the 24 h rate-limit give-up.
pub const SETTLE_MS: u64 = 26 * 3_600_000;

/// The most operations a workload holds.
pub const OPS_MAX: usize = 14;

/// A generated workload, before it becomes a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub accounts: Vec<AccountPlan>,
    pub sessions: Vec<SessionPlan>,
    pub receivers: Vec<ReceiverPlan>,
    pub ops: Vec<Op>,
}

/// How one webhook receiver behaves over scenario time.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverPlan {
    /// Answers 200 after `delay_ms`, at most 10 s: every attempt is delivered.
    Fast { delay_ms: u64 },
    /// Answers 200 after `delay_ms`, more than 10 s, so the sender times out: during `window`,
    /// or always.
    Slow {
        delay_ms: u64,
        window: Option<Window>,
    },
    /// Answers `status` (5xx) at once: during `window`, or always.
    Failing { status: u16, window: Option<Window> },
    /// Refuses connections during `window`, answers 200 at once outside it.
    Down { window: Window },
}

/// `[from, from + length)` in scenario time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub length_ms: u64,
}

/// One mock provider account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPlan {
    pub provider: ProviderKind,
    /// Requests per window; `None` is the provider's default.
    pub budget: Option<u64>,
    pub page_size: u32,
    pub contacts: u32,
    pub companies: u32,
    pub token_lifetime_s: Option<u64>,
    pub rotation: bool,
}

/// One session: on which account (index), under which key, sync or not.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    pub account: usize,
    pub other_key: bool,
    pub sync: bool,
    /// Configured right after this many operations (modulo their number plus one), or never.
    pub configure_after: Option<usize>,
    /// The receiver (index) its four webhook types go to, or none.
    pub receiver: Option<usize>,
    /// `webhook_concurrency: true` (up to 8 in flight, unordered) instead of serial delivery.
    pub webhook_concurrency: bool,
}

/// One operation of a workload. `session` and `account` are indices, taken modulo the number of
/// sessions and accounts.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Configure {
        session: usize,
    },
    Pull {
        session: usize,
        companies: bool,
        synchronous: bool,
    },
    Push {
        session: usize,
        items: u8,
        internal_ids: bool,
        synchronous: bool,
    },
    Advance {
        millis: u64,
    },
    ChangeCompanies {
        account: usize,
        count: u32,
    },
    Fault {
        account: usize,
        fault: FaultKind,
        count: u64,
    },
    ExpireTokens {
        account: usize,
    },
    RevokeGrant {
        account: usize,
    },
    AnotherApp {
        account: usize,
        requests: u64,
    },
    DeleteSession {
        session: usize,
    },
}

/// A fault rule's verdict (and which requests it matches).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    TooManyRequests,
    ServerError(u16),
    TimeoutBeforeActing,
    TimeoutAfterActing,
    Drop,
    Delay(u64),
}

fn account_plan() -> impl Strategy<Value = AccountPlan> {
    (
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => (2u64..30).prop_map(Some)],
        2u32..12,
        0u32..40,
        0u32..25,
        prop_oneof![2 => Just(None), 1 => (60u64..3_600).prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(
            |(salesforce, budget, page_size, contacts, companies, token_lifetime_s, rotation)| {
                let provider = if salesforce {
                    ProviderKind::Salesforce
                } else {
                    ProviderKind::Hubspot
                };
                AccountPlan {
                    provider,
                    // Salesforce's window is a day, and the settle frees only one more: a small
                    // budget there is 100x larger (200 to 2,900 a day), so a workload that
                    // exhausts it (another app's usage, many pages) needs at most one more
                    // window. At 10x, seed 6681 (budget 20, another app using all 20, then
                    // more than 20 requests of pulls) needed two and broke liveness.
                    budget: budget.map(|requests| match provider {
                        ProviderKind::Hubspot => requests,
                        ProviderKind::Salesforce => requests * 100,
                    }),
                    page_size,
                    contacts,
                    companies,
                    token_lifetime_s,
                    rotation,
                }
            },
        )
}

fn session_plan() -> impl Strategy<Value = SessionPlan> {
    (
        0usize..3,
        any::<bool>(),
        prop_oneof![3 => Just(false), 1 => Just(true)],
        prop_oneof![1 => Just(None), 4 => (0usize..=OPS_MAX).prop_map(Some)],
        prop_oneof![1 => Just(None), 3 => (0usize..3).prop_map(Some)],
        prop_oneof![2 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(account, other_key, sync, configure_after, receiver, webhook_concurrency)| {
                SessionPlan {
                    account,
                    other_key,
                    sync,
                    configure_after,
                    receiver,
                    webhook_concurrency,
                }
            },
        )
}

fn window() -> impl Strategy<Value = Window> {
    (
        prop_oneof![1 => Just(0u64), 3 => 0u64..7_200_000],
        prop_oneof![2 => 1_000u64..600_000, 1 => 600_000u64..10_800_000],
    )
        .prop_map(|(from_ms, length_ms)| Window { from_ms, length_ms })
}

fn receiver_plan() -> impl Strategy<Value = ReceiverPlan> {
    prop_oneof![
        3 => prop_oneof![3 => Just(0u64), 1 => 0u64..=10_000, 1 => Just(10_000u64)]
            .prop_map(|delay_ms| ReceiverPlan::Fast { delay_ms }),
        1 => (10_001u64..60_000, prop::option::weighted(0.7, window()))
            .prop_map(|(delay_ms, window)| ReceiverPlan::Slow { delay_ms, window }),
        1 => (
            prop_oneof![Just(500u16), Just(502), Just(503)],
            prop::option::weighted(0.7, window()),
        )
            .prop_map(|(status, window)| ReceiverPlan::Failing { status, window }),
        2 => window().prop_map(|window| ReceiverPlan::Down { window }),
    ]
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        4 => Just(FaultKind::TooManyRequests),
        2 => prop_oneof![Just(500u16), Just(502), Just(503)].prop_map(FaultKind::ServerError),
        1 => Just(FaultKind::TimeoutBeforeActing),
        5 => Just(FaultKind::TimeoutAfterActing),
        1 => Just(FaultKind::Drop),
        1 => (1u64..40).prop_map(FaultKind::Delay),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let session = 0usize..3;
    let account = 0usize..3;
    prop_oneof![
        1 => session.clone().prop_map(|session| Op::Configure { session }),
        4 => (session.clone(), any::<bool>(), prop_oneof![3 => Just(false), 1 => Just(true)])
            .prop_map(|(session, companies, synchronous)| Op::Pull { session, companies, synchronous }),
        4 => (session.clone(), 1u8..7, any::<bool>(), prop_oneof![3 => Just(false), 1 => Just(true)])
            .prop_map(|(session, items, internal_ids, synchronous)| Op::Push { session, items, internal_ids, synchronous }),
        4 => prop_oneof![
                4 => 1u64..20_000,
                2 => 20_000u64..600_000,
                1 => 600_000u64..7_200_000,
                1 => Just(73 * 3_600_000u64),
            ].prop_map(|millis| Op::Advance { millis }),
        1 => (account.clone(), 0u32..20).prop_map(|(account, count)| Op::ChangeCompanies { account, count }),
        4 => (account.clone(), fault_kind(), 1u64..50).prop_map(|(account, fault, count)| Op::Fault { account, fault, count }),
        1 => account.clone().prop_map(|account| Op::ExpireTokens { account }),
        1 => account.clone().prop_map(|account| Op::RevokeGrant { account }),
        1 => (account.clone(), 1u64..200).prop_map(|(account, requests)| Op::AnotherApp { account, requests }),
        1 => session.prop_map(|session| Op::DeleteSession { session }),
    ]
}

/// The strategy for whole workloads.
pub fn workload() -> impl Strategy<Value = Workload> {
    (
        prop::collection::vec(account_plan(), 1..=3),
        prop::collection::vec(session_plan(), 1..=3),
        prop::collection::vec(receiver_plan(), 1..=3),
        prop::collection::vec(op(), 0..=OPS_MAX),
    )
        .prop_map(|(accounts, sessions, receivers, ops)| Workload {
            accounts,
            sessions,
            receivers,
            ops,
        })
}

fn account_name(index: usize) -> String {
    format!("a{index}")
}

fn session_variable(index: usize) -> String {
    format!("s{index}")
}

fn receiver_name(index: usize) -> String {
    format!("r{index}")
}

impl Workload {
    /// The account index a session uses.
    fn account_of(&self, session: usize) -> usize {
        self.sessions[session % self.sessions.len()].account % self.accounts.len()
    }

    /// The scenario this workload stands for, named after `title` and seeded with `seed`.
    pub fn to_scenario(&self, title: &str, seed: u64) -> Scenario {
        let mut providers = BTreeMap::new();
        for (index, plan) in self.accounts.iter().enumerate() {
            providers.insert(account_name(index), provider_account(plan));
        }
        let mut steps = Vec::new();
        for (index, session) in self.sessions.iter().enumerate() {
            let sync = if session.sync {
                json!({"sync": true})
            } else {
                json!({})
            };
            let mut body = json!({
                "schema": [{"endgrate_type": "crm-contact"}, {"endgrate_type": "crm-company"}],
            });
            if let (Some(body), Some(sync)) = (body.as_object_mut(), sync.as_object()) {
                body.extend(sync.clone());
            }
            if let Some(receiver) = session.receiver
                && !self.receivers.is_empty()
            {
                let url = format!(
                    "{{{{receivers.{}.url}}}}",
                    receiver_name(receiver % self.receivers.len())
                );
                for kind in ["configuration", "data", "error", "completed"] {
                    body[format!("{kind}_webhook")] =
                        json!({"endpoint": url, "metadata": {"session": index}});
                }
                if session.webhook_concurrency {
                    body["webhook_concurrency"] = json!(true);
                }
            }
            let mut request = request(Method::Post, "/api/session/initiate", body);
            request.key = Some(key_name(session.other_key).to_owned());
            request.capture = [(session_variable(index), "/session_id".to_owned())].into();
            request.expect = Some(crate::scenario::Expect {
                status: Some(200),
                ..Default::default()
            });
            steps.push(Step::Request(request));
        }
        let mut faults: Vec<(String, String)> = Vec::new();
        let configure_at = |session: &SessionPlan| {
            session
                .configure_after
                .map(|after| after % (self.ops.len() + 1))
        };
        for position in 0..=self.ops.len() {
            for (index, session) in self.sessions.iter().enumerate() {
                if configure_at(session) == Some(position) {
                    steps.push(self.op_step(
                        usize::MAX,
                        &Op::Configure { session: index },
                        &mut faults,
                    ));
                }
            }
            if let Some(op) = self.ops.get(position) {
                steps.push(self.op_step(position, op, &mut faults));
            }
        }
        for (account, name) in faults {
            steps.push(Step::Provider(ProviderControl {
                account,
                remove_fault: Some(name),
                ..ProviderControl::default()
            }));
        }
        steps.push(Step::Advance(Duration::from_millis(SETTLE_MS)));
        steps.push(Step::Invariants(None));
        Scenario {
            name: title.to_owned(),
            description: Some(
                "A workload generated by `transfersim fuzz` and shrunk by proptest; it ends with \
                 every fault removed, a 26 h settle and every invariant checker."
                    .to_owned(),
            ),
            requirements: requirements_of(title),
            tags: vec![TAG_IN_MEMORY_ONLY.to_owned(), "fuzz".to_owned()],
            seed: Some(seed),
            epoch: None,
            span: Duration::from_millis(30 * 24 * 3_600_000),
            keys: vec!["main".to_owned(), "other".to_owned()],
            providers,
            receivers: self
                .receivers
                .iter()
                .enumerate()
                .map(|(index, plan)| (receiver_name(index), receiver(plan)))
                .collect(),
            steps,
        }
    }

    fn session_request(&self, session: usize, method: Method, path: &str, body: Value) -> Request {
        let index = session % self.sessions.len();
        let mut request = request(method, path, body);
        request.key = Some(key_name(self.sessions[index].other_key).to_owned());
        request
    }

    fn op_step(&self, position: usize, op: &Op, faults: &mut Vec<(String, String)>) -> Step {
        let session_ref = |session: usize| {
            format!(
                "{{{{{}}}}}",
                session_variable(session % self.sessions.len())
            )
        };
        match op {
            Op::Configure { session } => {
                let account = account_name(self.account_of(*session));
                let provider = match self.accounts[self.account_of(*session)].provider {
                    ProviderKind::Hubspot => "hubspot",
                    ProviderKind::Salesforce => "salesforce",
                };
                Step::Request(self.session_request(
                    *session,
                    Method::Post,
                    "/api/test_helpers/session/configure",
                    json!({
                        "session_id": session_ref(*session),
                        "provider": provider,
                        "provider_base_url": format!("{{{{providers.{account}.base_url}}}}"),
                        "credentials": {
                            "refresh_token": format!("{{{{providers.{account}.refresh_token}}}}"),
                            "client_id": format!("{{{{providers.{account}.client_id}}}}"),
                            "client_secret": format!("{{{{providers.{account}.client_secret}}}}"),
                        },
                    }),
                ))
            }
            Op::Pull {
                session,
                companies,
                synchronous,
            } => {
                let endgrate_type = if *companies {
                    "crm-company"
                } else {
                    "crm-contact"
                };
                let mut body =
                    json!({"session_id": session_ref(*session), "endgrate_type": endgrate_type});
                if *synchronous {
                    body["synchronous"] = json!(true);
                }
                Step::Request(self.session_request(
                    *session,
                    Method::Post,
                    "/api/pull/transfer",
                    body,
                ))
            }
            Op::Push {
                session,
                items,
                internal_ids,
                synchronous,
            } => {
                let data: Vec<Value> = (0..*items)
                    .map(|item| {
                        let mut entry = json!({"data": {
                            "first_name": format!("Fuzz{position}"),
                            "last_name": format!("Item{item}"),
                            "email": format!("op{position}-item{item}@fuzz.example"),
                        }});
                        if *internal_ids {
                            entry["internal_id"] = json!(format!("op{position}-item{item}"));
                        }
                        entry
                    })
                    .collect();
                let mut body = json!({
                    "session_id": session_ref(*session),
                    "endgrate_type": "crm-contact",
                    "transfer_data": data,
                });
                if *synchronous {
                    body["synchronous"] = json!(true);
                }
                Step::Request(self.session_request(
                    *session,
                    Method::Post,
                    "/api/push/transfer",
                    body,
                ))
            }
            Op::Advance { millis } => Step::Advance(Duration::from_millis(*millis)),
            Op::ChangeCompanies { account, count } => {
                let index = account % self.accounts.len();
                let provider = self.accounts[index].provider;
                Step::Provider(ProviderControl {
                    account: account_name(index),
                    set_records: Some(SetRecords {
                        object: company_object(provider).to_owned(),
                        records: Records::List(
                            (0..*count)
                                .map(|n| company_record(provider, &format!("c{position}-{n}")))
                                .collect(),
                        ),
                    }),
                    ..ProviderControl::default()
                })
            }
            Op::Fault {
                account,
                fault,
                count,
            } => {
                let index = account % self.accounts.len();
                let name = format!("f{position}");
                faults.push((account_name(index), name.clone()));
                let (method, verdict) = match fault {
                    FaultKind::TooManyRequests => (
                        None,
                        Verdict::Status {
                            code: 429,
                            body: None,
                            headers: BTreeMap::new(),
                        },
                    ),
                    FaultKind::ServerError(code) => (
                        None,
                        Verdict::Status {
                            code: *code,
                            body: None,
                            headers: BTreeMap::new(),
                        },
                    ),
                    FaultKind::TimeoutBeforeActing => (None, Verdict::TimeoutBeforeActing),
                    // Writes: hubspot batches are POSTs, salesforce composite upserts PATCHes.
                    FaultKind::TimeoutAfterActing => {
                        let method = match self.accounts[index].provider {
                            ProviderKind::Hubspot => "POST",
                            ProviderKind::Salesforce => "PATCH",
                        };
                        (Some(method.to_owned()), Verdict::TimeoutAfterActing)
                    }
                    FaultKind::Drop => (None, Verdict::Drop),
                    FaultKind::Delay(seconds) => {
                        (None, Verdict::Delay(Duration::from_millis(seconds * 1000)))
                    }
                };
                Step::Provider(ProviderControl {
                    account: account_name(index),
                    add_fault: Some(FaultRule {
                        name: Some(name),
                        matches: FaultMatch { method, path: None },
                        verdict,
                        count: Some(*count),
                        probability: None,
                    }),
                    ..ProviderControl::default()
                })
            }
            Op::ExpireTokens { account } => Step::Provider(ProviderControl {
                account: account_name(account % self.accounts.len()),
                expire_tokens: true,
                ..ProviderControl::default()
            }),
            Op::RevokeGrant { account } => Step::Provider(ProviderControl {
                account: account_name(account % self.accounts.len()),
                revoke_grant: true,
                ..ProviderControl::default()
            }),
            Op::AnotherApp { account, requests } => Step::Provider(ProviderControl {
                account: account_name(account % self.accounts.len()),
                another_app_usage: Some(AnotherAppUsage {
                    requests: *requests,
                    every: None,
                }),
                ..ProviderControl::default()
            }),
            Op::DeleteSession { session } => Step::Request(self.session_request(
                *session,
                Method::Post,
                "/api/session/delete",
                json!({"session_id": session_ref(*session)}),
            )),
        }
    }
}

/// The requirements a fuzz scenario checks, from the invariant its title names (every
/// invariant's own requirements; a plain run checks the queue's).
fn requirements_of(title: &str) -> Vec<String> {
    const BY_INVARIANT: [(&str, &[&str]); 16] = [
        ("no_transfer_before_configuration", &["QUEUE-1"]),
        ("one_transfer_at_a_time_per_session", &["QUEUE-3"]),
        ("fifo_per_session", &["QUEUE-5"]),
        ("times_in_order", &["QUEUE-3"]),
        ("pull_matches_provider", &["PULL-2", "QUEUE-8"]),
        ("push_exactly_once", &["PUSH-1"]),
        ("pacing_within_budget", &["RATE-7"]),
        ("own_rate_limits_at_most_one_percent", &["RATE-7", "RATE-8"]),
        ("sync_answer_timing", &["SYNCHRONOUS-2", "SYNCHRONOUS-3"]),
        (
            "refreshes_one_at_a_time_and_only_when_due",
            &["AUTH-3", "AUTH-6"],
        ),
        ("key_isolation", &["SESSION-40"]),
        ("liveness", &["QUEUE-13"]),
        (
            "one_completed_webhook_after_data",
            &["WEBHOOK-12", "WEBHOOK-13", "WEBHOOK-23"],
        ),
        ("completed_webhook_delivered", &["WEBHOOK-12", "WEBHOOK-17"]),
        ("serial_webhooks_in_order", &["WEBHOOK-20"]),
        ("stable_webhook_id", &["WEBHOOK-19"]),
    ];
    let found = BY_INVARIANT
        .iter()
        .find(|(invariant, _)| title.contains(invariant))
        .map_or(&["QUEUE-1", "QUEUE-3"][..], |(_, ids)| *ids);
    found.iter().map(|id| (*id).to_owned()).collect()
}

fn key_name(other: bool) -> &'static str {
    if other { "other" } else { "main" }
}

fn request(method: Method, path: &str, body: Value) -> Request {
    Request {
        label: None,
        method,
        path: path.to_owned(),
        query: BTreeMap::new(),
        body: Some(body),
        key: None,
        headers: BTreeMap::new(),
        omit_headers: Vec::new(),
        capture: BTreeMap::new(),
        expect: None,
    }
}

fn company_object(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Hubspot => "companies",
        ProviderKind::Salesforce => "Account",
    }
}

fn company_record(provider: ProviderKind, name: &str) -> Value {
    match provider {
        ProviderKind::Hubspot => json!({"name": name, "domain": format!("{name}.example")}),
        ProviderKind::Salesforce => json!({"Name": name, "Website": format!("{name}.example")}),
    }
}

/// A receiver's rules: the one unusual spell (or all time), 200 at once elsewhere.
fn receiver(plan: &ReceiverPlan) -> Receiver {
    let answer = |status: u16, delay_ms: u64| {
        Respond::Answer(ReceiverAnswer {
            status,
            delay: (delay_ms > 0).then(|| Duration::from_millis(delay_ms)),
        })
    };
    let rule = |window: Option<Window>, respond: Respond| ReceiverRule {
        from: window
            .filter(|window| window.from_ms > 0)
            .map(|window| Duration::from_millis(window.from_ms)),
        until: window.map(|window| Duration::from_millis(window.from_ms + window.length_ms)),
        respond,
    };
    Receiver::Rules(vec![match plan {
        ReceiverPlan::Fast { delay_ms } => rule(None, answer(200, *delay_ms)),
        ReceiverPlan::Slow { delay_ms, window } => rule(*window, answer(200, *delay_ms)),
        ReceiverPlan::Failing { status, window } => rule(*window, answer(*status, 0)),
        ReceiverPlan::Down { window } => rule(Some(*window), Respond::Down(DownKeyword::Down)),
    }])
}

fn provider_account(plan: &AccountPlan) -> ProviderAccount {
    let mut records = BTreeMap::new();
    let (contacts, companies) = match plan.provider {
        ProviderKind::Hubspot => ("contacts", "companies"),
        ProviderKind::Salesforce => ("Contact", "Account"),
    };
    if plan.contacts > 0 {
        records.insert(
            contacts.to_owned(),
            Records::Generate(crate::scenario::Generate {
                generate: u64::from(plan.contacts),
            }),
        );
    }
    if plan.companies > 0 {
        records.insert(
            companies.to_owned(),
            Records::Generate(crate::scenario::Generate {
                generate: u64::from(plan.companies),
            }),
        );
    }
    ProviderAccount {
        provider: plan.provider,
        budget: plan.budget.map(Budget::Requests),
        token_lifetime: plan
            .token_lifetime_s
            .map(|seconds| Duration::from_millis(seconds * 1000)),
        page_size: Some(plan.page_size),
        rotation: plan.rotation,
        latency: None,
        another_app_usage: None,
        records,
        faults: Vec::new(),
    }
}
