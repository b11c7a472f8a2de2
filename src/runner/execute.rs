//! Runs one scenario's steps against a target.
//!
//! The steps run as one or more *branches* (one at the top level; one per list inside a
//! `concurrently`), each a cursor over its steps and a state: ready, waiting for an answer, or
//! sleeping until a scenario time. One scheduler loop drives them, in plain phases:
//! 1. run every ready branch until it finishes or has to wait;
//! 2. move time: until the earliest wake-up, or until a pending call is answered;
//! 3. wake the branches whose answer came or whose time is due.
//!
//! **Invariant:** every loop is bounded: branch steps by the scenario's step bound, poll attempts
//! by [`POLL_ATTEMPTS_MAX`], scheduler turns by [`SCHEDULER_TURNS_MAX`], time by the `span`.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::json;

use super::accounts::{self, Account};
use super::checkers;
use super::expect::{self, Mismatch};
use super::generate;
use super::target::{Answer, ApiRequest, CallId, Target, TargetError};
use super::template::Variables;
use super::webhooks;
use crate::scenario::{Method, Poll, Request, Scenario, Step, WebhooksExpect};

/// The most attempts one `poll` makes, whatever its deadline and interval.
pub const POLL_ATTEMPTS_MAX: u64 = 10_000;
/// The most turns of the scheduler in one `concurrently` (or the top level).
pub const SCHEDULER_TURNS_MAX: u64 = 1_000_000;
/// The most checks one `webhooks_expect … within` makes beyond its first.
pub const WATCH_CHECKS_MAX: u64 = 600;

/// Why a scenario did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A failed expectation or a target error, at a step.
    Failed(Failure),
    /// The scenario cannot run on this target.
    Skipped(String),
}

/// A failed step, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where: `steps[3] (request)`, `steps[2].concurrently[0][0] (request)`, or `setup`.
    pub step: String,
    /// What went wrong, in one sentence.
    pub message: String,
    /// Each failed check with expected against actual.
    pub mismatches: Vec<Mismatch>,
}

impl Failure {
    fn at(step: &str, message: impl Into<String>) -> Stop {
        Stop::Failed(Failure {
            step: step.to_owned(),
            message: message.into(),
            mismatches: Vec::new(),
        })
    }

    fn mismatched(step: &str, message: impl Into<String>, mismatches: Vec<Mismatch>) -> Stop {
        Stop::Failed(Failure {
            step: step.to_owned(),
            message: message.into(),
            mismatches,
        })
    }
}

fn target_stop(step: &str, error: TargetError) -> Stop {
    match error {
        TargetError::Unsupported(reason) => Stop::Skipped(reason),
        TargetError::Failed(message) => Failure::at(step, message),
    }
}

/// Everything one run of a scenario carries from step to step.
pub struct Execution<'a> {
    target: &'a mut dyn Target,
    scenario: &'a Scenario,
    seed: u64,
    variables: Variables,
    keys: BTreeMap<String, String>,
    accounts: BTreeMap<String, Account>,
    sent_at: BTreeMap<String, u64>,
    span_ms: u64,
    /// Webhook secrets by key name, asked for once.
    secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for Execution<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Execution")
            .field("scenario", &self.scenario.name)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What a branch is doing between scheduler turns.
#[derive(Debug)]
enum State<'a> {
    Ready,
    AwaitRequest {
        call: CallId,
        sent_ms: u64,
    },
    AwaitPoll {
        call: CallId,
        sent_ms: u64,
        first_ms: u64,
        attempts: u64,
    },
    SleepAdvance {
        until_ms: u64,
    },
    SleepPoll {
        until_ms: u64,
        first_ms: u64,
        attempts: u64,
    },
    /// A `webhooks_expect` with `within`: checked again at `until_ms`, failed at `deadline_ms`.
    WatchWebhooks {
        until_ms: u64,
        deadline_ms: u64,
    },
    /// A `webhooks_expect` with `none_within`: judged at `until_ms`, on deliveries after the
    /// first `seen` arrivals.
    QuietWebhooks {
        until_ms: u64,
        seen: usize,
    },
    /// A `concurrently` step: its lists run side by side until all are done.
    Children(Vec<Branch<'a>>),
    Done,
}

#[derive(Debug)]
struct Branch<'a> {
    steps: &'a [Step],
    /// The path of the step list, e.g. `steps` or `steps[2].concurrently[1]`.
    prefix: String,
    next: usize,
    state: State<'a>,
}

impl Branch<'_> {
    /// The calls this branch and its children wait for.
    fn pending(&self, calls: &mut Vec<CallId>) {
        match &self.state {
            State::AwaitRequest { call, .. } | State::AwaitPoll { call, .. } => calls.push(*call),
            State::Children(children) => children.iter().for_each(|child| child.pending(calls)),
            _ => {}
        }
    }

    /// The earliest scenario time this branch or a child sleeps until.
    fn wake_time(&self) -> Option<u64> {
        match &self.state {
            State::SleepAdvance { until_ms }
            | State::SleepPoll { until_ms, .. }
            | State::WatchWebhooks { until_ms, .. }
            | State::QuietWebhooks { until_ms, .. } => Some(*until_ms),
            State::Children(children) => children.iter().filter_map(Branch::wake_time).min(),
            _ => None,
        }
    }

    /// The name of the first step that waits, for messages.
    fn waiting_name(&self) -> Option<String> {
        match &self.state {
            State::Ready | State::Done => None,
            State::Children(children) => children.iter().find_map(Branch::waiting_name),
            _ => Some(self.current_name()),
        }
    }

    fn current_name(&self) -> String {
        let index = self.next;
        let kind = self.steps.get(index).map_or("end", step_kind);
        format!("{}[{index}] ({kind})", self.prefix)
    }
}

/// The kind of a step, as reports name it.
pub fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::Request(_) => "request",
        Step::Poll(_) => "poll",
        Step::Concurrently(_) => "concurrently",
        Step::Advance(_) => "advance",
        Step::Provider(_) => "provider",
        Step::ProviderExpect(_) => "provider_expect",
        Step::WebhooksExpect(_) => "webhooks_expect",
        Step::Invariants(_) => "invariants",
    }
}

impl<'a> Execution<'a> {
    /// Sets the scenario up on a started target: keys, accounts, receivers and their variables.
    pub fn prepare(
        target: &'a mut dyn Target,
        scenario: &'a Scenario,
        seed: u64,
    ) -> Result<Self, Stop> {
        let mut variables = Variables::default();
        let mut keys = BTreeMap::new();
        for name in &scenario.keys {
            let key = target
                .mint_key()
                .map_err(|error| target_stop("setup (keys)", error))?;
            variables.set(format!("keys.{name}"), json!(key));
            keys.insert(name.clone(), key);
        }
        let accounts = accounts::create(target.providers(), &scenario.providers)
            .map_err(|message| Failure::at("setup (providers)", message))?;
        accounts::variables(&accounts, &mut variables);
        for (name, receiver) in &scenario.receivers {
            let url = target
                .receiver_url(name, receiver)
                .map_err(|error| target_stop("setup (receivers)", error))?;
            variables.set(format!("receivers.{name}.url"), json!(url));
        }
        Ok(Self {
            target,
            scenario,
            seed,
            variables,
            keys,
            accounts,
            sent_at: BTreeMap::new(),
            span_ms: scenario.span.as_millis(),
            secrets: BTreeMap::new(),
        })
    }

    /// Runs every step; `Ok` when the scenario passed.
    pub fn run(&mut self) -> Result<(), Stop> {
        self.run_observed(&mut |_| Ok(()))
    }

    /// Like [`Execution::run`], calling `observe` with the target after every scheduler turn
    /// (the fuzzer runs its cheap invariant checkers there); an `Err` from it stops the run.
    pub fn run_observed(
        &mut self,
        observe: &mut dyn FnMut(&dyn Target) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let scenario = self.scenario;
        let mut root = Branch {
            steps: &scenario.steps,
            prefix: "steps".to_owned(),
            next: 0,
            state: State::Ready,
        };
        for _turn in 0..SCHEDULER_TURNS_MAX {
            // Phase 1: run every ready branch until it waits or ends.
            self.run_ready(&mut root)?;
            observe(&*self.target)?;
            if matches!(root.state, State::Done) {
                return Ok(());
            }
            // Phase 2: move time, to the earliest wake-up or the first answer.
            let mut pending = Vec::new();
            root.pending(&mut pending);
            let wake = root.wake_time();
            let waiting_step = root.waiting_name().unwrap_or_else(|| root.current_name());
            if let Some(wake) = wake
                && wake > self.span_ms
            {
                return Err(Failure::at(
                    &waiting_step,
                    format!(
                        "the scenario would run past its span of {} (to {} of scenario time)",
                        self.scenario.span,
                        crate::scenario::Duration::from_millis(wake)
                    ),
                ));
            }
            let now = self.target.elapsed_ms();
            if pending.is_empty() {
                let wake = wake.unwrap_or(now);
                self.target
                    .advance(wake.saturating_sub(now))
                    .map_err(|error| target_stop(&waiting_step, error))?;
            } else {
                let until = wake.unwrap_or(self.span_ms);
                self.target
                    .wait_for_answer(&pending, until)
                    .map_err(|error| target_stop(&waiting_step, error))?;
            }
            // Phase 3: wake branches whose answer came or whose time is due.
            observe(&*self.target)?;
            let now = self.target.elapsed_ms();
            self.wake(&mut root, now)?;
            let mut still_pending = Vec::new();
            root.pending(&mut still_pending);
            if now >= self.span_ms && !still_pending.is_empty() {
                return Err(Failure::at(
                    &waiting_step,
                    format!(
                        "no answer within the scenario's span of {}",
                        self.scenario.span
                    ),
                ));
            }
        }
        Err(Failure::at(
            "steps",
            format!("the scheduler did not finish within {SCHEDULER_TURNS_MAX} turns"),
        ))
    }

    /// Runs a ready branch's steps until it has to wait or has none left.
    fn run_ready(&mut self, branch: &mut Branch<'a>) -> Result<(), Stop> {
        if matches!(branch.state, State::Children(_)) {
            self.run_children(branch)?;
        }
        // Bounded by the branch's steps: each turn either advances `next` or makes it wait.
        while matches!(branch.state, State::Ready) {
            let steps = branch.steps;
            let Some(step) = steps.get(branch.next) else {
                branch.state = State::Done;
                return Ok(());
            };
            let name = branch.current_name();
            match step {
                Step::Request(request) => {
                    let sent_ms = self.target.elapsed_ms();
                    if let Some(label) = &request.label {
                        self.sent_at.insert(label.clone(), sent_ms);
                    }
                    let call = self.send(&name, request)?;
                    branch.state = State::AwaitRequest { call, sent_ms };
                    self.wake(branch, sent_ms)?;
                }
                Step::Poll(poll) => {
                    let first_ms = self.target.elapsed_ms();
                    if let Some(label) = &poll.label {
                        self.sent_at.insert(label.clone(), first_ms);
                    }
                    self.poll_attempt(branch, &name, poll, first_ms, 0)?;
                }
                Step::Concurrently(lists) => {
                    let children = lists
                        .iter()
                        .enumerate()
                        .map(|(index, steps)| Branch {
                            steps,
                            prefix: format!(
                                "{}[{}].concurrently[{index}]",
                                branch.prefix, branch.next
                            ),
                            next: 0,
                            state: State::Ready,
                        })
                        .collect();
                    branch.state = State::Children(children);
                    self.run_children(branch)?;
                }
                Step::Advance(duration) => {
                    if duration.is_zero() {
                        self.target
                            .advance(0)
                            .map_err(|error| target_stop(&name, error))?;
                        branch.next += 1;
                    } else {
                        let until_ms = self
                            .target
                            .elapsed_ms()
                            .saturating_add(duration.as_millis());
                        branch.state = State::SleepAdvance { until_ms };
                    }
                }
                Step::Provider(control) => {
                    accounts::control(
                        self.target.providers(),
                        &mut self.accounts,
                        control,
                        &self.variables,
                    )
                    .map_err(|message| Failure::at(&name, message))?;
                    branch.next += 1;
                }
                Step::ProviderExpect(check) => {
                    let mismatches = accounts::expect(
                        self.target.providers(),
                        &self.accounts,
                        check,
                        &self.variables,
                    )
                    .map_err(|message| Failure::at(&name, message))?;
                    if !mismatches.is_empty() {
                        return Err(Failure::mismatched(
                            &name,
                            format!("account `{}` is not as expected", check.account),
                            mismatches,
                        ));
                    }
                    branch.next += 1;
                }
                Step::WebhooksExpect(check) => {
                    let now = self.target.elapsed_ms();
                    if let Some(quiet) = check.none_within {
                        self.target
                            .advance(0)
                            .map_err(|error| target_stop(&name, error))?;
                        let seen = self
                            .target
                            .webhook_arrivals(&check.receiver)
                            .map_err(|error| target_stop(&name, error))?
                            .len();
                        branch.state = State::QuietWebhooks {
                            until_ms: now.saturating_add(quiet.as_millis()),
                            seen,
                        };
                    } else {
                        let mismatches = self.webhooks_check(&name, check)?;
                        if mismatches.is_empty() {
                            branch.next += 1;
                        } else if let Some(within) = check.within {
                            let deadline_ms = now.saturating_add(within.as_millis());
                            branch.state = State::WatchWebhooks {
                                until_ms: now
                                    .saturating_add(watch_step_ms(within.as_millis()))
                                    .min(deadline_ms),
                                deadline_ms,
                            };
                        } else {
                            return Err(webhooks_failure(&name, check, mismatches));
                        }
                    }
                }
                Step::Invariants(names) => {
                    self.invariants(&name, names.as_deref())?;
                    branch.next += 1;
                }
            }
        }
        Ok(())
    }

    /// Runs a `concurrently` step's ready lists; when all are done, moves the branch past it.
    fn run_children(&mut self, branch: &mut Branch<'a>) -> Result<(), Stop> {
        let State::Children(children) = &mut branch.state else {
            return Ok(());
        };
        for child in children.iter_mut() {
            self.run_ready(child)?;
        }
        if children
            .iter()
            .all(|child| matches!(child.state, State::Done))
        {
            branch.next += 1;
            branch.state = State::Ready;
        }
        Ok(())
    }

    /// Moves a waiting branch on if its answer came or its time is due.
    fn wake(&mut self, branch: &mut Branch<'a>, now: u64) -> Result<(), Stop> {
        let name = branch.current_name();
        if let State::Children(children) = &mut branch.state {
            for child in children.iter_mut() {
                self.wake(child, now)?;
            }
            return Ok(());
        }
        match branch.state {
            State::AwaitRequest { call, sent_ms } => {
                let Some(answer) = self.target.answer(call) else {
                    return Ok(());
                };
                let steps = branch.steps;
                let Some(Step::Request(request)) = steps.get(branch.next) else {
                    return Err(Failure::at(&name, "internal: not a request step"));
                };
                if let Some(expectation) = &request.expect {
                    let mismatches = expect::check(
                        expectation,
                        &answer,
                        &self.variables,
                        &self.sent_at,
                        sent_ms,
                    )
                    .map_err(|message| Failure::at(&name, message))?;
                    if !mismatches.is_empty() {
                        return Err(Failure::mismatched(
                            &name,
                            format!(
                                "{} {} answered {} but not as expected",
                                method_name(request.method),
                                request.path,
                                answer.status
                            ),
                            mismatches,
                        ));
                    }
                }
                self.capture(&name, request, &answer)?;
                branch.next += 1;
                branch.state = State::Ready;
            }
            State::AwaitPoll {
                call,
                sent_ms,
                first_ms,
                attempts,
            } => {
                let Some(answer) = self.target.answer(call) else {
                    return Ok(());
                };
                let steps = branch.steps;
                let Some(Step::Poll(poll)) = steps.get(branch.next) else {
                    return Err(Failure::at(&name, "internal: not a poll step"));
                };
                let mismatches = expect::check(
                    &poll.until,
                    &answer,
                    &self.variables,
                    &self.sent_at,
                    sent_ms,
                )
                .map_err(|message| Failure::at(&name, message))?;
                if mismatches.is_empty() {
                    self.capture(&name, &poll.request, &answer)?;
                    branch.next += 1;
                    branch.state = State::Ready;
                    return Ok(());
                }
                let next_ms = sent_ms.saturating_add(poll.every.as_millis()).max(now);
                let deadline_ms = first_ms.saturating_add(poll.deadline.as_millis());
                if next_ms > deadline_ms {
                    return Err(Failure::mismatched(
                        &name,
                        format!(
                            "`until` did not hold within the deadline of {} ({} attempts); the last answer:",
                            poll.deadline,
                            attempts + 1
                        ),
                        mismatches,
                    ));
                }
                if attempts + 1 >= POLL_ATTEMPTS_MAX {
                    return Err(Failure::mismatched(
                        &name,
                        format!(
                            "`until` did not hold after {POLL_ATTEMPTS_MAX} attempts, the most one poll makes; the last answer:"
                        ),
                        mismatches,
                    ));
                }
                branch.state = State::SleepPoll {
                    until_ms: next_ms,
                    first_ms,
                    attempts: attempts + 1,
                };
            }
            State::WatchWebhooks {
                until_ms,
                deadline_ms,
            } if until_ms <= now => {
                let steps = branch.steps;
                let Some(Step::WebhooksExpect(check)) = steps.get(branch.next) else {
                    return Err(Failure::at(&name, "internal: not a webhooks_expect step"));
                };
                let mismatches = self.webhooks_check(&name, check)?;
                if mismatches.is_empty() {
                    branch.next += 1;
                    branch.state = State::Ready;
                } else if now >= deadline_ms {
                    let within = check
                        .within
                        .map(|within| within.to_string())
                        .unwrap_or_default();
                    return Err(Failure::mismatched(
                        &name,
                        format!(
                            "the webhooks of receiver `{}` were not as expected within {within}",
                            check.receiver
                        ),
                        mismatches,
                    ));
                } else {
                    let step = check
                        .within
                        .map_or(0, |within| watch_step_ms(within.as_millis()));
                    branch.state = State::WatchWebhooks {
                        until_ms: now.saturating_add(step).min(deadline_ms),
                        deadline_ms,
                    };
                }
            }
            State::QuietWebhooks { until_ms, seen } if until_ms <= now => {
                let steps = branch.steps;
                let Some(Step::WebhooksExpect(check)) = steps.get(branch.next) else {
                    return Err(Failure::at(&name, "internal: not a webhooks_expect step"));
                };
                let mut mismatches = self.webhooks_check(&name, check)?;
                let arrivals = self
                    .target
                    .webhook_arrivals(&check.receiver)
                    .map_err(|error| target_stop(&name, error))?;
                if let Some(late) =
                    webhooks::delivered_after(check, &arrivals, &self.variables, seen)
                        .map_err(|message| Failure::at(&name, message))?
                {
                    mismatches.insert(0, late);
                }
                if !mismatches.is_empty() {
                    return Err(webhooks_failure(&name, check, mismatches));
                }
                branch.next += 1;
                branch.state = State::Ready;
            }
            State::SleepAdvance { until_ms } if until_ms <= now => {
                branch.next += 1;
                branch.state = State::Ready;
            }
            State::SleepPoll {
                until_ms,
                first_ms,
                attempts,
            } if until_ms <= now => {
                let steps = branch.steps;
                let Some(Step::Poll(poll)) = steps.get(branch.next) else {
                    return Err(Failure::at(&name, "internal: not a poll step"));
                };
                self.poll_attempt(branch, &name, poll, first_ms, attempts)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn poll_attempt(
        &mut self,
        branch: &mut Branch<'a>,
        name: &str,
        poll: &Poll,
        first_ms: u64,
        attempts: u64,
    ) -> Result<(), Stop> {
        let sent_ms = self.target.elapsed_ms();
        let call = self.send(name, &poll.request)?;
        branch.state = State::AwaitPoll {
            call,
            sent_ms,
            first_ms,
            attempts,
        };
        self.wake(branch, sent_ms)
    }

    /// Settles what is due, reads the receiver's log (and the key's secret when `signed`), and
    /// judges the step's fields other than `within` and `none_within`.
    fn webhooks_check(
        &mut self,
        name: &str,
        check: &WebhooksExpect,
    ) -> Result<Vec<Mismatch>, Stop> {
        self.target
            .advance(0)
            .map_err(|error| target_stop(name, error))?;
        let secret = if check.signed {
            Some(self.webhook_secret(name, check.key.as_ref())?)
        } else {
            None
        };
        let arrivals = self
            .target
            .webhook_arrivals(&check.receiver)
            .map_err(|error| target_stop(name, error))?;
        webhooks::check(check, &arrivals, &self.variables, secret.as_deref())
            .map_err(|message| Failure::at(name, message))
    }

    /// The webhook secret of a key, from `POST /api/test_helpers/webhook_secret` (asked once per
    /// key and scenario).
    fn webhook_secret(&mut self, name: &str, key_name: Option<&String>) -> Result<String, Stop> {
        let Some(key_name) = key_name.or_else(|| self.scenario.keys.first()).cloned() else {
            return Err(Failure::at(name, "`signed` needs a key in `keys`"));
        };
        if let Some(secret) = self.secrets.get(&key_name) {
            return Ok(secret.clone());
        }
        let key = self
            .keys
            .get(&key_name)
            .ok_or_else(|| Failure::at(name, format!("key `{key_name}` is not declared")))?
            .clone();
        let call = self
            .target
            .send(ApiRequest {
                method: "POST",
                path_and_query: "/api/test_helpers/webhook_secret".to_owned(),
                headers: vec![
                    ("Authorization".to_owned(), format!("Bearer {key}")),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ],
                body: Some(Bytes::from_static(b"{}")),
            })
            .map_err(|error| target_stop(name, error))?;
        let now = self.target.elapsed_ms();
        self.target
            .wait_for_answer(&[call], now)
            .map_err(|error| target_stop(name, error))?;
        let answer = self.target.answer(call).ok_or_else(|| {
            Failure::at(name, "POST /api/test_helpers/webhook_secret did not answer")
        })?;
        if answer.status == 404 {
            return Err(Stop::Skipped(
                "the target has no webhook_secret test helper (404)".to_owned(),
            ));
        }
        let secret = answer.json()["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                Failure::at(
                    name,
                    format!(
                        "POST /api/test_helpers/webhook_secret answered {} {}",
                        answer.status,
                        expect::shorten(&String::from_utf8_lossy(&answer.body), 300)
                    ),
                )
            })?;
        self.secrets.insert(key_name, secret.clone());
        Ok(secret)
    }

    /// Fills in a request's templates and sends it.
    fn send(&mut self, name: &str, request: &Request) -> Result<CallId, Stop> {
        let built = self
            .build(request)
            .map_err(|message| Failure::at(name, message))?;
        self.target
            .send(built)
            .map_err(|error| target_stop(name, error))
    }

    fn build(&self, request: &Request) -> Result<ApiRequest, String> {
        let mut path_and_query = self.variables.text(&request.path)?;
        let mut separator = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        for (name, value) in &request.query {
            let value = self.variables.text(value)?;
            path_and_query.push(separator);
            path_and_query.push_str(&percent_encode(name));
            path_and_query.push('=');
            path_and_query.push_str(&percent_encode(&value));
            separator = '&';
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        let key_name = request.key.as_ref().or_else(|| self.scenario.keys.first());
        if let Some(key_name) = key_name {
            let key = self
                .keys
                .get(key_name)
                .ok_or_else(|| format!("key `{key_name}` is not declared"))?;
            headers.push(("Authorization".to_owned(), format!("Bearer {key}")));
        }
        let body = match &request.body {
            Some(template) => {
                let mut body = self.variables.json(template)?;
                generate::expand(&mut body, self.seed)?;
                headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
                Some(Bytes::from(body.to_string()))
            }
            None => None,
        };
        for (name, template) in &request.headers {
            let value = self.variables.text(template)?;
            headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value));
        }
        headers.retain(|(existing, _)| {
            !request
                .omit_headers
                .iter()
                .any(|omitted| omitted.eq_ignore_ascii_case(existing))
        });
        Ok(ApiRequest {
            method: method_name(request.method),
            path_and_query,
            headers,
            body,
        })
    }

    fn capture(&mut self, name: &str, request: &Request, answer: &Answer) -> Result<(), Stop> {
        if request.capture.is_empty() {
            return Ok(());
        }
        let body = answer.json();
        for (variable, pointer) in &request.capture {
            let value = body.pointer(pointer).cloned().ok_or_else(|| {
                Failure::mismatched(
                    name,
                    format!("cannot capture `{variable}`"),
                    vec![Mismatch {
                        what: format!("capture {pointer}"),
                        expected: "a value".to_owned(),
                        actual: format!(
                            "(absent) in {} {}",
                            answer.status,
                            expect::shorten(&String::from_utf8_lossy(&answer.body), 300)
                        ),
                    }],
                )
            })?;
            self.variables.set(variable.clone(), value);
        }
        Ok(())
    }

    fn invariants(&mut self, name: &str, names: Option<&[String]>) -> Result<(), Stop> {
        let Some(world) = self.target.world() else {
            return Err(Stop::Skipped(
                "invariant checkers need the in-memory target".to_owned(),
            ));
        };
        let chosen = match names {
            None => checkers::all(),
            Some(names) => names
                .iter()
                .map(|wanted| {
                    checkers::by_name(wanted).ok_or_else(|| {
                        Failure::at(
                            name,
                            format!(
                                "unknown invariant checker `{wanted}`; known: {}",
                                checkers::names().join(", ")
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let broken: Vec<Mismatch> = chosen
            .iter()
            .filter_map(|checker| {
                checker.check(world).err().map(|message| Mismatch {
                    what: checker.name().to_owned(),
                    expected: "holds".to_owned(),
                    actual: message,
                })
            })
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(Failure::mismatched(name, "an invariant is broken", broken))
        }
    }
}

/// How far a `within` wait moves time between checks: 1 s, or a 600th of a longer wait.
fn watch_step_ms(within_ms: u64) -> u64 {
    (within_ms / WATCH_CHECKS_MAX).max(1_000)
}

fn webhooks_failure(name: &str, check: &WebhooksExpect, mismatches: Vec<Mismatch>) -> Stop {
    Failure::mismatched(
        name,
        format!(
            "the webhooks of receiver `{}` are not as expected",
            check.receiver
        ),
        mismatches,
    )
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
