//! The in-memory target (`--target memory`, the default): one fresh simulated [`World`] per
//! scenario, on virtual time from the scenario's epoch, seeded by the scenario's seed.
//!
//! **Invariant:** nothing here reads the wall clock; the same seed gives the same trace.

use std::collections::BTreeMap;

use bytes::Bytes;
use transfersim_mock_providers::{Millis, Mock};
use transfersim_sim::engine::EngineConfig;
use transfersim_sim::world::{
    CallHandle, HUBSPOT_BASE_URL, SALESFORCE_BASE_URL, World, WorldConfig,
};

use super::target::{
    Answer, ApiRequest, CallId, Clock, Providers, StartPlan, Target, TargetError, WebhookArrival,
};
use crate::scenario::{ProviderKind, Receiver, Respond};
use transfersim_sim::webhook::receiver::{
    Receiver as SimReceiver, ReceiverRule as SimRule, Respond as SimRespond,
};

/// Where the world hosts a scenario's receivers: `http://receivers.sim/NAME`.
pub const RECEIVERS_BASE_URL: &str = "http://receivers.sim";

/// The simulated world as a target.
pub struct MemoryTarget {
    engine: EngineConfig,
    world: World,
    /// The world's handles, indexed by [`CallId`].
    calls: Vec<CallHandle>,
    /// The scenario's receivers: name to the URL the world hosts it at.
    receivers: BTreeMap<String, String>,
}

impl std::fmt::Debug for MemoryTarget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemoryTarget")
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

impl MemoryTarget {
    /// A target whose worlds run engines configured as `engine` (a mutation build sets its
    /// mutation here).
    pub fn new(engine: EngineConfig) -> Self {
        let world = World::new(WorldConfig {
            engine: engine.clone(),
            ..WorldConfig::default()
        });
        Self {
            engine,
            world,
            calls: Vec::new(),
            receivers: BTreeMap::new(),
        }
    }
}

impl Default for MemoryTarget {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

impl MemoryTarget {
    fn handle(&self, call: CallId) -> Option<CallHandle> {
        usize::try_from(call.0)
            .ok()
            .and_then(|index| self.calls.get(index))
            .copied()
    }
}

impl Target for MemoryTarget {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn clock(&self) -> Clock {
        Clock::Virtual
    }

    fn supports(&self, _tags: &[String]) -> Result<(), String> {
        Ok(())
    }

    fn start(&mut self, plan: StartPlan) -> Result<(), TargetError> {
        self.world = World::new(WorldConfig {
            seed: plan.seed,
            epoch_ms: plan.epoch_ms,
            engine: self.engine.clone(),
            ..WorldConfig::default()
        });
        self.calls.clear();
        self.receivers.clear();
        Ok(())
    }

    fn mint_key(&mut self) -> Result<String, TargetError> {
        Ok(self.world.engine_mut().mint_api_key())
    }

    fn receiver_url(&mut self, name: &str, receiver: &Receiver) -> Result<String, TargetError> {
        let url = format!("{RECEIVERS_BASE_URL}/{name}");
        let start = self.world.now() - self.world.elapsed_ms();
        self.world
            .host_receiver(&url, sim_receiver(receiver, start));
        self.receivers.insert(name.to_owned(), url.clone());
        Ok(url)
    }

    fn webhook_arrivals(&self, name: &str) -> Result<Vec<WebhookArrival>, TargetError> {
        let start = self.world.now() - self.world.elapsed_ms();
        let Some(receiver) = self
            .receivers
            .get(name)
            .and_then(|url| self.world.receiver(url))
        else {
            return Err(TargetError::Failed(format!(
                "receiver `{name}` is not hosted in this world"
            )));
        };
        Ok(receiver
            .log()
            .iter()
            .map(|arrival| WebhookArrival {
                at_ms: arrival.at.saturating_sub(start),
                clock_ms: arrival.at,
                headers: arrival
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        (
                            name.as_str().to_owned(),
                            String::from_utf8_lossy(value.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: arrival.body.clone(),
                delivered: arrival.is_delivered(),
            })
            .collect())
    }

    fn providers(&mut self) -> &mut dyn Providers {
        self
    }

    fn send(&mut self, request: ApiRequest) -> Result<CallId, TargetError> {
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(&request.path_and_query);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let built = builder
            .body(request.body.unwrap_or_default())
            .map_err(|error| {
                TargetError::Failed(format!(
                    "cannot build a request to {}: {error}",
                    request.path_and_query
                ))
            })?;
        let handle = self.world.request(built);
        self.calls.push(handle);
        Ok(CallId(self.calls.len() as u64 - 1))
    }

    fn answer(&self, call: CallId) -> Option<Answer> {
        let handle = self.handle(call)?;
        let answered = self.world.answer_of(handle)?;
        let headers = answered
            .response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Some(Answer {
            at_ms: answered
                .at
                .saturating_sub(self.world.now() - self.world.elapsed_ms()),
            status: answered.status(),
            headers,
            body: Bytes::clone(answered.response.body()),
        })
    }

    fn elapsed_ms(&self) -> Millis {
        self.world.elapsed_ms()
    }

    fn advance(&mut self, millis: Millis) -> Result<(), TargetError> {
        self.world.advance(millis);
        Ok(())
    }

    fn wait_for_answer(&mut self, calls: &[CallId], until_ms: Millis) -> Result<(), TargetError> {
        let epoch = self.world.now() - self.world.elapsed_ms();
        let until = epoch.saturating_add(until_ms);
        let handles: Vec<CallHandle> = calls.iter().filter_map(|call| self.handle(*call)).collect();
        let answered = |world: &World| {
            handles
                .iter()
                .any(|handle| world.answer_of(*handle).is_some())
        };
        // Bounded by the world's own event limit per advance: each step consumes an event.
        let mut steps = 0u64;
        while !answered(&self.world) && self.world.step(until) {
            steps += 1;
            if steps >= transfersim_sim::world::EVENTS_PER_ADVANCE_MAX {
                return Err(TargetError::Failed(format!(
                    "the world ran {steps} events without answering: a runaway simulation"
                )));
            }
        }
        if !answered(&self.world) && self.world.now() < until {
            self.world.advance(until - self.world.now());
        }
        Ok(())
    }

    fn world(&self) -> Option<&World> {
        Some(&self.world)
    }

    fn trace(&self) -> Vec<String> {
        self.world.trace().to_vec()
    }

    fn trace_hash(&self) -> Option<String> {
        Some(self.world.trace_hash())
    }
}

/// The world's receiver for a scenario's `receivers` entry: rule times move from "since the
/// scenario's start" to absolute virtual time; a delivery no rule covers is answered 200, as
/// the scenario format says.
pub fn sim_receiver(receiver: &Receiver, start_ms: Millis) -> SimReceiver {
    match receiver {
        Receiver::Down(_) => SimReceiver::down(),
        Receiver::Rules(rules) => {
            let sim_rules: Vec<SimRule> = rules
                .iter()
                .map(|rule| SimRule {
                    from: rule
                        .from
                        .map(|from| start_ms.saturating_add(from.as_millis())),
                    until: rule
                        .until
                        .map(|until| start_ms.saturating_add(until.as_millis())),
                    respond: match &rule.respond {
                        Respond::Down(_) => SimRespond::Down,
                        Respond::Answer(answer) => SimRespond::Answer {
                            status: answer.status,
                            delay_ms: answer.delay.map_or(0, |delay| delay.as_millis()),
                        },
                    },
                })
                .collect();
            SimReceiver::new(sim_rules)
        }
    }
}

impl Providers for MemoryTarget {
    fn base_url(&self, provider: ProviderKind) -> String {
        match provider {
            ProviderKind::Hubspot => HUBSPOT_BASE_URL.to_owned(),
            ProviderKind::Salesforce => SALESFORCE_BASE_URL.to_owned(),
        }
    }

    fn now_ms(&self) -> Millis {
        self.world.now()
    }

    fn with_mock(&mut self, provider: ProviderKind, action: &mut dyn FnMut(&mut Mock, Millis)) {
        let now = self.world.now();
        match provider {
            ProviderKind::Hubspot => action(self.world.hubspot(), now),
            ProviderKind::Salesforce => action(self.world.salesforce(), now),
        }
    }
}
