//! The format's rules that serde types cannot say: requirement IDs, declared keys, providers and
//! receivers, labels, positive durations and the limits that keep every scenario bounded.
//!
//! Each refusal names the place (`steps[3].concurrently[1][0] (request)`) so that an author finds
//! it without a line number.

use std::collections::BTreeSet;

use serde_json::Value;

use super::duration::Duration;
use super::error::ScenarioError;
use super::types::*;

/// The most steps a scenario may have, nested ones included: every loop of the runner is bounded.
pub const STEPS_MAX: usize = 1_000;

/// The most items one `transfer_data: {generate: N}` may produce: the API's per-push limit
/// (TRANSFER-7).
pub const GENERATED_ITEMS_MAX: u64 = 10_000;

/// The most records one `records: {generate: N}` may seed, so that a typo cannot exhaust memory
/// (the largest workload is 300,000).
pub const GENERATED_RECORDS_MAX: u64 = 1_000_000;

/// Whether `text` looks like a requirement ID of `spec/requirements.md`: upper-case letters, a
/// dash, a number without leading zero (`SYNCHRONOUS-2`).
pub fn is_requirement_id(text: &str) -> bool {
    let Some((area, number)) = text.split_once('-') else {
        return false;
    };
    !area.is_empty()
        && area.bytes().all(|byte| byte.is_ascii_uppercase())
        && !number.is_empty()
        && number.bytes().all(|byte| byte.is_ascii_digit())
        && !number.starts_with('0')
}

/// Checks one parsed scenario.
pub(super) fn validate(file: &str, scenario: &Scenario) -> Result<(), ScenarioError> {
    let checker = Checker { file, scenario };
    checker.run()
}

struct Checker<'a> {
    file: &'a str,
    scenario: &'a Scenario,
}

/// What the walk over steps has seen so far.
#[derive(Default)]
struct Seen {
    steps: usize,
    labels: BTreeSet<String>,
    invariants: bool,
}

impl Checker<'_> {
    fn refuse(&self, at: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_owned(),
            at: at.into(),
            message: message.into(),
        }
    }

    fn run(&self) -> Result<(), ScenarioError> {
        let scenario = self.scenario;
        if scenario.name.trim().is_empty() {
            return Err(self.refuse("name", "must not be empty"));
        }
        if scenario.requirements.is_empty() {
            return Err(self.refuse(
                "requirements",
                "must name at least one requirement ID (AREA-N)",
            ));
        }
        for (index, id) in scenario.requirements.iter().enumerate() {
            if !is_requirement_id(id) {
                return Err(self.refuse(
                    format!("requirements[{index}]"),
                    format!("`{id}` is not a requirement ID; expected AREA-N, e.g. SYNCHRONOUS-2"),
                ));
            }
        }
        if let Some(epoch) = &scenario.epoch
            && transfersim_sim::time::parse_rfc3339(epoch).is_none()
        {
            return Err(self.refuse(
                "epoch",
                format!(
                    "`{epoch}` is not an RFC 3339 UTC time; expected e.g. 2026-01-01T00:00:00Z"
                ),
            ));
        }
        self.positive("span", scenario.span)?;
        let mut keys = BTreeSet::new();
        for (index, key) in scenario.keys.iter().enumerate() {
            if key.is_empty() || !keys.insert(key.as_str()) {
                return Err(self.refuse(
                    format!("keys[{index}]"),
                    format!("key name `{key}` is empty or declared twice"),
                ));
            }
        }
        for (name, account) in &scenario.providers {
            self.account(&format!("providers.{name}"), account)?;
        }
        for (name, receiver) in &scenario.receivers {
            if let Receiver::Rules(rules) = receiver {
                for (index, rule) in rules.iter().enumerate() {
                    if let (Some(from), Some(until)) = (rule.from, rule.until)
                        && until <= from
                    {
                        return Err(self.refuse(
                            format!("receivers.{name}[{index}]"),
                            format!("`until` ({until}) must be after `from` ({from})"),
                        ));
                    }
                }
            }
        }
        let mut seen = Seen::default();
        self.steps("steps", &scenario.steps, &mut seen)?;
        if seen.invariants && !scenario.tags.iter().any(|tag| tag == TAG_IN_MEMORY_ONLY) {
            return Err(self.refuse(
                "tags",
                format!("a scenario with an `invariants` step must be tagged `{TAG_IN_MEMORY_ONLY}`: only the simulated world has invariant checkers"),
            ));
        }
        Ok(())
    }

    fn positive(&self, at: &str, duration: Duration) -> Result<(), ScenarioError> {
        if duration.is_zero() {
            return Err(self.refuse(at, "must be a positive duration, not 0"));
        }
        Ok(())
    }

    fn share(&self, at: &str, value: f64) -> Result<(), ScenarioError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(self.refuse(at, format!("{value} is not between 0 and 1")));
        }
        Ok(())
    }

    fn account(&self, at: &str, account: &ProviderAccount) -> Result<(), ScenarioError> {
        if let Some(lifetime) = account.token_lifetime {
            self.positive(&format!("{at}.token_lifetime"), lifetime)?;
        }
        if account.page_size == Some(0) {
            return Err(self.refuse(format!("{at}.page_size"), "must be at least 1"));
        }
        if let Some(usage) = &account.another_app_usage {
            self.usage(&format!("{at}.another_app_usage"), usage)?;
        }
        for (object, records) in &account.records {
            self.object(&format!("{at}.records"), account.provider, object)?;
            self.records(&format!("{at}.records.{object}"), records)?;
        }
        for (index, rule) in account.faults.iter().enumerate() {
            self.fault(&format!("{at}.faults[{index}]"), rule)?;
        }
        Ok(())
    }

    fn usage(&self, at: &str, usage: &AnotherAppUsage) -> Result<(), ScenarioError> {
        if let Some(every) = usage.every {
            self.positive(&format!("{at}.every"), every)?;
        }
        Ok(())
    }

    fn object(&self, at: &str, provider: ProviderKind, object: &str) -> Result<(), ScenarioError> {
        let objects: &[&str] = match provider {
            ProviderKind::Hubspot => &["contacts", "companies"],
            ProviderKind::Salesforce => &["Contact", "Account"],
        };
        if !objects.contains(&object) {
            return Err(self.refuse(
                at,
                format!(
                    "`{object}` is not an object of this provider; expected one of {objects:?}"
                ),
            ));
        }
        Ok(())
    }

    fn records(&self, at: &str, records: &Records) -> Result<(), ScenarioError> {
        match records {
            Records::Generate(Generate { generate }) if *generate > GENERATED_RECORDS_MAX => {
                Err(self.refuse(
                    at,
                    format!("generates {generate} records; at most {GENERATED_RECORDS_MAX}"),
                ))
            }
            Records::List(list) => match list.iter().position(|record| !record.is_object()) {
                Some(index) => Err(self.refuse(
                    format!("{at}[{index}]"),
                    "a record must be a map of properties",
                )),
                None => Ok(()),
            },
            Records::Generate(_) => Ok(()),
        }
    }

    fn fault(&self, at: &str, rule: &FaultRule) -> Result<(), ScenarioError> {
        if let Some(probability) = rule.probability {
            self.share(&format!("{at}.probability"), probability)?;
        }
        if let Verdict::Delay(delay) = rule.verdict {
            self.positive(&format!("{at}.verdict.delay"), delay)?;
        }
        if let Verdict::Status { code, .. } = rule.verdict
            && !(100..=599).contains(&code)
        {
            return Err(self.refuse(
                format!("{at}.verdict.status.code"),
                format!("{code} is not an HTTP status"),
            ));
        }
        Ok(())
    }

    fn declared_account(&self, at: &str, account: &str) -> Result<&ProviderAccount, ScenarioError> {
        self.scenario.providers.get(account).ok_or_else(|| {
            self.refuse(
                at,
                format!("provider account `{account}` is not declared under `providers`"),
            )
        })
    }

    fn steps(&self, at: &str, steps: &[Step], seen: &mut Seen) -> Result<(), ScenarioError> {
        for (index, step) in steps.iter().enumerate() {
            seen.steps += 1;
            let here = format!("{at}[{index}] ({})", step_kind(step));
            if seen.steps > STEPS_MAX {
                return Err(self.refuse(here, format!("a scenario has at most {STEPS_MAX} steps")));
            }
            self.step(&format!("{at}[{index}]"), &here, step, seen)?;
        }
        Ok(())
    }

    fn step(
        &self,
        path: &str,
        here: &str,
        step: &Step,
        seen: &mut Seen,
    ) -> Result<(), ScenarioError> {
        match step {
            Step::Request(request) => {
                self.request(here, request)?;
                if let Some(expect) = &request.expect {
                    self.expect(here, expect, request.label.as_deref(), seen)?;
                }
                self.label(here, request.label.as_deref(), seen)
            }
            Step::Poll(poll) => {
                self.request(here, &poll.request)?;
                if poll.request.expect.is_some() {
                    return Err(self.refuse(
                        here,
                        "a polled request has no `expect`; put the expectation in `until`",
                    ));
                }
                if poll.request.label.is_some() {
                    return Err(self.refuse(here, "label the poll, not its request"));
                }
                self.positive(&format!("{here}.every"), poll.every)?;
                self.positive(&format!("{here}.deadline"), poll.deadline)?;
                if poll.deadline < poll.every {
                    return Err(self.refuse(here, "`deadline` must be at least `every`"));
                }
                self.expect(here, &poll.until, poll.label.as_deref(), seen)?;
                self.label(here, poll.label.as_deref(), seen)
            }
            Step::Concurrently(branches) => {
                if branches.len() < 2 {
                    return Err(
                        self.refuse(here, "needs at least two step lists to run side by side")
                    );
                }
                for (branch, steps) in branches.iter().enumerate() {
                    self.steps(&format!("{path}.concurrently[{branch}]"), steps, seen)?;
                }
                Ok(())
            }
            Step::Advance(_) => Ok(()),
            Step::Invariants(_) => {
                seen.invariants = true;
                Ok(())
            }
            Step::Provider(control) => self.control(here, control),
            Step::ProviderExpect(expect) => {
                let account = self.declared_account(here, &expect.account)?;
                if let Some(object) = &expect.object {
                    self.object(here, account.provider, object)?;
                } else if expect.record_count.is_some()
                    || !expect.records_include.is_empty()
                    || expect.no_duplicates
                {
                    return Err(self.refuse(here, "record checks need `object`"));
                }
                if let Some(window) = expect.max_in_window {
                    self.positive(&format!("{here}.max_in_window.window"), window.window)?;
                }
                if let Some(share) = expect.rate_limited_share {
                    self.share(&format!("{here}.rate_limited_share.at_most"), share.at_most)?;
                    if let Some(least) = share.at_least {
                        self.share(&format!("{here}.rate_limited_share.at_least"), least)?;
                        if least > share.at_most {
                            return Err(self
                                .refuse(here, "`rate_limited_share.at_least` is above `at_most`"));
                        }
                    }
                }
                if let Some(CountRange {
                    min: Some(min),
                    max: Some(max),
                }) = expect.refreshes
                    && min > max
                {
                    return Err(self.refuse(here, "`refreshes.min` is above `refreshes.max`"));
                }
                let ranges = expect
                    .requests
                    .iter()
                    .map(|range| ("requests".to_owned(), range))
                    .chain(
                        expect
                            .statuses
                            .iter()
                            .map(|(status, range)| (format!("statuses.{status}"), range)),
                    );
                for (what, range) in ranges {
                    if let CountRange {
                        min: Some(min),
                        max: Some(max),
                    } = range
                        && min > max
                    {
                        return Err(
                            self.refuse(here, format!("`{what}.min` is above `{what}.max`"))
                        );
                    }
                }
                Ok(())
            }
            Step::WebhooksExpect(expect) => {
                if !self.scenario.receivers.contains_key(&expect.receiver) {
                    return Err(self.refuse(
                        here,
                        format!(
                            "receiver `{}` is not declared under `receivers`",
                            expect.receiver
                        ),
                    ));
                }
                if let Some(within) = expect.within {
                    self.positive(&format!("{here}.within"), within)?;
                }
                if let Some(none_within) = expect.none_within {
                    self.positive(&format!("{here}.none_within"), none_within)?;
                }
                if expect.within.is_some() && expect.none_within.is_some() {
                    return Err(self.refuse(here, "give `within` or `none_within`, not both"));
                }
                if expect.attempts == Some(0) {
                    return Err(self.refuse(here, "`attempts` is at least 1"));
                }
                match &expect.key {
                    Some(key) if !self.scenario.keys.iter().any(|declared| declared == key) => {
                        return Err(self.refuse(
                            here,
                            format!(
                                "key `{key}` is not declared in `keys` (declared: {:?})",
                                self.scenario.keys
                            ),
                        ));
                    }
                    None if expect.signed && self.scenario.keys.is_empty() => {
                        return Err(self.refuse(here, "`signed` needs a key in `keys`"));
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }

    fn label(&self, here: &str, label: Option<&str>, seen: &mut Seen) -> Result<(), ScenarioError> {
        if let Some(label) = label
            && !seen.labels.insert(label.to_owned())
        {
            return Err(self.refuse(here, format!("label `{label}` is used twice")));
        }
        Ok(())
    }

    fn request(&self, here: &str, request: &Request) -> Result<(), ScenarioError> {
        match &request.key {
            Some(key) if !self.scenario.keys.iter().any(|declared| declared == key) => {
                return Err(self.refuse(
                    here,
                    format!(
                        "key `{key}` is not declared in `keys` (declared: {:?})",
                        self.scenario.keys
                    ),
                ));
            }
            _ => {}
        }
        // A path may also start with a variable holding one, such as a captured `meta.next.link`.
        if !request.path.starts_with('/') && !request.path.starts_with("{{") {
            return Err(self.refuse(
                here,
                format!(
                    "path `{}` must start with `/` or a `{{{{variable}}}}`",
                    request.path
                ),
            ));
        }
        if let Some(body) = &request.body {
            self.generators(here, body)?;
        }
        Ok(())
    }

    /// Finds `transfer_data: {generate: N}` anywhere in a body and checks N.
    fn generators(&self, here: &str, body: &Value) -> Result<(), ScenarioError> {
        let mut pending = vec![body];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    if let Some(Value::Object(generator)) = map.get("transfer_data")
                        && generator.contains_key("generate")
                    {
                        let count = generator.get("generate").and_then(Value::as_u64);
                        let from_ok = generator.get("from").is_none_or(Value::is_u64);
                        let known = generator
                            .keys()
                            .all(|key| key == "generate" || key == "from");
                        match count {
                            Some(count)
                                if known
                                    && from_ok
                                    && (1..=GENERATED_ITEMS_MAX).contains(&count) => {}
                            _ => {
                                return Err(self.refuse(
                                    format!("{here}.body.transfer_data"),
                                    format!("expected `{{generate: N}}` with N from 1 to {GENERATED_ITEMS_MAX}, and an optional `from: <first index>`"),
                                ));
                            }
                        }
                    }
                    pending.extend(map.values());
                }
                Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
        Ok(())
    }

    fn expect(
        &self,
        here: &str,
        expect: &Expect,
        own_label: Option<&str>,
        seen: &Seen,
    ) -> Result<(), ScenarioError> {
        if let Some(status) = expect.status
            && !(100..=599).contains(&status)
        {
            return Err(self.refuse(
                here,
                format!("expected status {status} is not an HTTP status"),
            ));
        }
        let pointers = expect
            .paths
            .keys()
            .chain(&expect.absent)
            .chain(expect.kinds.keys())
            .chain(expect.contains.keys())
            .chain(expect.time_since.keys())
            .chain(expect.differs.keys());
        for pointer in pointers {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(self.refuse(
                    here,
                    format!("`{pointer}` is not a JSON pointer; expected e.g. `/meta/count`"),
                ));
            }
        }
        if let Some(after) = &expect.answered_after {
            if let Some(step) = &after.step
                && !seen.labels.contains(step)
                && own_label != Some(step.as_str())
            {
                return Err(self.refuse(
                    here,
                    format!("`answered_after.step` names `{step}`, which is not the label of this or an earlier step"),
                ));
            }
            if !after.seconds.is_finite() || after.seconds < 0.0 {
                return Err(self.refuse(here, "`answered_after.seconds` must be zero or more"));
            }
            if after
                .tolerance
                .is_some_and(|tolerance| !tolerance.is_finite() || tolerance < 0.0)
            {
                return Err(self.refuse(here, "`answered_after.tolerance` must be zero or more"));
            }
        }
        Ok(())
    }

    fn control(&self, here: &str, control: &ProviderControl) -> Result<(), ScenarioError> {
        let account = self.declared_account(here, &control.account)?;
        let actions = [
            control.set_records.is_some(),
            control.update_record.is_some(),
            control.delete_record.is_some(),
            control.add_fault.is_some(),
            control.remove_fault.is_some(),
            control.expire_tokens,
            control.revoke_grant,
            control.another_app_usage.is_some(),
        ];
        if actions.iter().filter(|present| **present).count() != 1 {
            return Err(self.refuse(
                here,
                "expected exactly one action: set_records, update_record, delete_record, add_fault, remove_fault, expire_tokens, revoke_grant or another_app_usage",
            ));
        }
        if let Some(set) = &control.set_records {
            self.object(here, account.provider, &set.object)?;
            self.records(&format!("{here}.set_records.records"), &set.records)?;
        }
        if let Some(update) = &control.update_record {
            self.object(here, account.provider, &update.object)?;
        }
        if let Some(delete) = &control.delete_record {
            self.object(here, account.provider, &delete.object)?;
        }
        if let Some(rule) = &control.add_fault {
            self.fault(&format!("{here}.add_fault"), rule)?;
        }
        if let Some(usage) = &control.another_app_usage {
            self.usage(&format!("{here}.another_app_usage"), usage)?;
        }
        Ok(())
    }
}

/// The step's key in YAML, for messages.
fn step_kind(step: &Step) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::is_requirement_id;

    #[test]
    fn requirement_ids_are_area_dash_number() {
        for good in ["SESSION-1", "SYNCHRONOUS-14", "RATE-7"] {
            assert!(is_requirement_id(good), "{good}");
        }
        for bad in [
            "session-1",
            "SESSION",
            "SESSION-",
            "-1",
            "SESSION-01",
            "SESSION-1a",
            "SES SION-1",
        ] {
            assert!(!is_requirement_id(bad), "{bad}");
        }
    }
}
