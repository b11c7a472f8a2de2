//! Judging a receiver's arrival log against a `webhooks_expect` step.
//!
//! The webhooks *considered* are the receiver's successful deliveries (2xx within 10 s), each
//! `webhook-id` once whatever its attempts, in delivery order, whose type is `type` and whose
//! JSON payload contains `payload`. `count`, `order` and the "at least one" default judge them;
//! `attempts` judges every webhook of that type and payload that reached the receiver, delivered
//! or not; `signed` verifies every attempt of the considered webhooks.
//!
//! The type of a webhook is read from its payload (CONTRACT.md section 4): an `error_type` field
//! makes an `error` webhook, `completed: true` a `completed` one, `completed: false` a `data`
//! one, and anything else is the `configuration` webhook.
//!
//! **Boundary:** pure: the runner reads the arrivals and the secret, this module only judges.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use transfersim_sim::time::SECOND_MS;
use transfersim_sim::webhook::signature;

use super::expect::{self, Mismatch};
use super::target::WebhookArrival;
use super::template::Variables;
use crate::scenario::{WebhookType, WebhooksExpect};

/// The type of a webhook, from its payload.
pub fn webhook_type(body: &Value) -> WebhookType {
    if body.get("error_type").is_some() {
        return WebhookType::Error;
    }
    match body.get("completed") {
        Some(Value::Bool(true)) => WebhookType::Completed,
        Some(Value::Bool(false)) => WebhookType::Data,
        _ => WebhookType::Configuration,
    }
}

/// A type's name as scenario files write it.
pub fn type_name(kind: WebhookType) -> &'static str {
    match kind {
        WebhookType::Configuration => "configuration",
        WebhookType::Data => "data",
        WebhookType::Error => "error",
        WebhookType::Completed => "completed",
    }
}

/// One webhook, its attempts grouped by `webhook-id`.
#[derive(Debug)]
pub struct Webhook<'a> {
    /// Its `webhook-id` (empty when the header was missing).
    pub id: String,
    /// Its type, from the first attempt's payload.
    pub kind: WebhookType,
    /// Every attempt, in arrival order.
    pub attempts: Vec<&'a WebhookArrival>,
    /// The first attempt the sender counted delivered, if any.
    pub delivered: Option<&'a WebhookArrival>,
}

/// Groups arrivals by `webhook-id`, keeping only the webhooks of the step's type whose payload
/// contains the step's `payload`; ordered by first arrival.
pub fn matching<'a>(
    expect: &WebhooksExpect,
    arrivals: &'a [WebhookArrival],
    variables: &Variables,
) -> Result<Vec<Webhook<'a>>, String> {
    let wanted = match &expect.payload {
        Some(template) => Some(variables.json(template)?),
        None => None,
    };
    let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut webhooks: Vec<Webhook<'a>> = Vec::new();
    for arrival in arrivals {
        let id = arrival
            .header(signature::WEBHOOK_ID)
            .unwrap_or_default()
            .to_owned();
        let index = match index_of.get(&id) {
            Some(index) => *index,
            None => {
                let body: Value = serde_json::from_slice(&arrival.body).unwrap_or(Value::Null);
                index_of.insert(id.clone(), webhooks.len());
                webhooks.push(Webhook {
                    id: id.clone(),
                    kind: webhook_type(&body),
                    attempts: Vec::new(),
                    delivered: None,
                });
                webhooks.len() - 1
            }
        };
        if let Some(webhook) = webhooks.get_mut(index) {
            webhook.attempts.push(arrival);
            if arrival.delivered && webhook.delivered.is_none() {
                webhook.delivered = Some(arrival);
            }
        }
    }
    Ok(webhooks
        .into_iter()
        .filter(|webhook| {
            expect.webhook_type.is_none_or(|kind| kind == webhook.kind)
                && wanted.as_ref().is_none_or(|wanted| {
                    let body: Value = webhook
                        .attempts
                        .first()
                        .and_then(|arrival| serde_json::from_slice(&arrival.body).ok())
                        .unwrap_or(Value::Null);
                    expect::first_difference(wanted, &body, String::new()).is_none()
                })
        })
        .collect())
}

/// The considered webhooks: the delivered ones, in delivery order.
pub fn considered<'a, 'b>(webhooks: &'b [Webhook<'a>]) -> Vec<&'b Webhook<'a>> {
    let mut delivered: Vec<&Webhook<'a>> = webhooks
        .iter()
        .filter(|webhook| webhook.delivered.is_some())
        .collect();
    delivered.sort_by_key(|webhook| webhook.delivered.map_or(0, |arrival| arrival.at_ms));
    delivered
}

/// What a list of webhooks looked like, for a mismatch's `actual`.
pub fn describe(webhooks: &[&Webhook<'_>]) -> String {
    if webhooks.is_empty() {
        return "none".to_owned();
    }
    let listed: Vec<String> = webhooks
        .iter()
        .map(|webhook| {
            let at = webhook
                .delivered
                .or_else(|| webhook.attempts.last().copied())
                .map_or(0, |arrival| arrival.at_ms);
            format!("{} at {}", type_name(webhook.kind), seconds(at))
        })
        .collect();
    expect::shorten(&format!("{}: [{}]", webhooks.len(), listed.join(", ")), 600)
}

/// Judges `count`, `order`, `attempts` and `signed` (with `secret` when `signed`), and, when
/// neither `count` nor `none_within` is given, that at least one webhook was considered.
pub fn check(
    expect: &WebhooksExpect,
    arrivals: &[WebhookArrival],
    variables: &Variables,
    secret: Option<&str>,
) -> Result<Vec<Mismatch>, String> {
    let webhooks = matching(expect, arrivals, variables)?;
    let considered = considered(&webhooks);
    let mut mismatches = Vec::new();
    match expect.count {
        Some(count) if count != considered.len() as u64 => mismatches.push(Mismatch {
            what: "count".to_owned(),
            expected: count.to_string(),
            actual: if considered.is_empty() {
                format!(
                    "0 ({} undelivered attempts of matching webhooks)",
                    attempt_count(&webhooks)
                )
            } else {
                describe(&considered)
            },
        }),
        None if expect.none_within.is_none() && considered.is_empty() => {
            mismatches.push(Mismatch {
                what: "count".to_owned(),
                expected: "at least 1".to_owned(),
                actual: format!(
                    "0 ({} undelivered attempts of matching webhooks)",
                    attempt_count(&webhooks)
                ),
            });
        }
        _ => {}
    }
    if !expect.order.is_empty() {
        let actual: Vec<&str> = considered
            .iter()
            .map(|webhook| type_name(webhook.kind))
            .collect();
        let wanted: Vec<&str> = expect.order.iter().map(|kind| type_name(*kind)).collect();
        if actual != wanted {
            mismatches.push(Mismatch {
                what: "order".to_owned(),
                expected: format!("[{}]", wanted.join(", ")),
                actual: format!("[{}]", actual.join(", ")),
            });
        }
    }
    if let Some(attempts) = expect.attempts {
        if webhooks.is_empty() {
            mismatches.push(Mismatch {
                what: "attempts".to_owned(),
                expected: format!("{attempts} per webhook"),
                actual: "no matching webhook arrived".to_owned(),
            });
        }
        for webhook in &webhooks {
            let same_body = webhook
                .attempts
                .windows(2)
                .all(|pair| pair[0].body == pair[1].body);
            if webhook.attempts.len() as u64 != attempts || !same_body {
                let times: Vec<String> = webhook
                    .attempts
                    .iter()
                    .map(|arrival| seconds(arrival.at_ms))
                    .collect();
                mismatches.push(Mismatch {
                    what: format!(
                        "attempts of {} webhook `{}`",
                        type_name(webhook.kind),
                        webhook.id
                    ),
                    expected: format!("{attempts}, with the same body"),
                    actual: format!(
                        "{} at [{}]{}",
                        webhook.attempts.len(),
                        times.join(", "),
                        if same_body {
                            ""
                        } else {
                            ", with different bodies"
                        }
                    ),
                });
            }
        }
    }
    if expect.signed {
        let secret = secret.ok_or_else(|| "no webhook secret to verify with".to_owned())?;
        for webhook in &considered {
            for arrival in &webhook.attempts {
                if let Err(error) = verify(secret, arrival) {
                    mismatches.push(Mismatch {
                        what: format!(
                            "signature of {} webhook `{}`",
                            type_name(webhook.kind),
                            webhook.id
                        ),
                        expected: "a valid Standard Webhooks signature for the key's secret"
                            .to_owned(),
                        actual: format!(
                            "{error} (webhook-timestamp {}, webhook-signature {})",
                            arrival
                                .header(signature::WEBHOOK_TIMESTAMP)
                                .unwrap_or("(absent)"),
                            arrival
                                .header(signature::WEBHOOK_SIGNATURE)
                                .unwrap_or("(absent)")
                        ),
                    });
                }
            }
        }
    }
    Ok(mismatches)
}

/// The considered webhooks delivered after the first `seen` arrivals (those the receiver had
/// when a `none_within` began), for `none_within`.
pub fn delivered_after(
    expect: &WebhooksExpect,
    arrivals: &[WebhookArrival],
    variables: &Variables,
    seen: usize,
) -> Result<Option<Mismatch>, String> {
    let before = arrivals.get(..seen).unwrap_or(arrivals);
    let earlier = matching(expect, before, variables)?;
    let earlier: Vec<&str> = considered(&earlier)
        .iter()
        .map(|webhook| webhook.id.as_str())
        .collect();
    let webhooks = matching(expect, arrivals, variables)?;
    let late: Vec<&Webhook<'_>> = considered(&webhooks)
        .into_iter()
        .filter(|webhook| !earlier.contains(&webhook.id.as_str()))
        .collect();
    let since_ms = arrivals.get(seen).map_or(0, |arrival| arrival.at_ms);
    Ok((!late.is_empty()).then(|| Mismatch {
        what: "none_within".to_owned(),
        expected: "no matching webhook delivered in the window".to_owned(),
        actual: format!(
            "{} (the first arrival in the window at {})",
            describe(&late),
            seconds(since_ms)
        ),
    }))
}

fn attempt_count(webhooks: &[Webhook<'_>]) -> usize {
    webhooks.iter().map(|webhook| webhook.attempts.len()).sum()
}

/// Scenario time as the report writes it: `155 s`, `0.1 s`.
fn seconds(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{} s", millis as f64 / 1000.0)
    }
}

/// Verifies one attempt's Standard Webhooks headers at its own arrival time.
fn verify(secret: &str, arrival: &WebhookArrival) -> Result<(), signature::VerifyError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &arrival.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    signature::verify(
        secret,
        &headers,
        &arrival.body,
        arrival.clock_ms / SECOND_MS,
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER: &str = "whsec_HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";

    fn arrival(id: &str, at_ms: u64, body: Value, delivered: bool) -> WebhookArrival {
        let bytes = body.to_string().into_bytes();
        let clock_ms = 1_800_000_000_000 + at_ms;
        let headers = signature::headers(SECRET, id, clock_ms / SECOND_MS, &bytes)
            .unwrap_or_else(|error| panic!("{error}"))
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        WebhookArrival {
            at_ms,
            clock_ms,
            headers,
            body: Bytes::from(bytes),
            delivered,
        }
    }

    fn step(yaml: &str) -> WebhooksExpect {
        serde_saphyr::from_str(yaml).unwrap_or_else(|error| panic!("{error}"))
    }

    fn log() -> Vec<WebhookArrival> {
        vec![
            arrival(
                "a",
                0,
                json!({"transfer_id": "t", "completed": false}),
                false,
            ),
            arrival(
                "a",
                5_000,
                json!({"transfer_id": "t", "completed": false}),
                true,
            ),
            arrival(
                "b",
                5_000,
                json!({"transfer_id": "t", "error_type": "internal"}),
                true,
            ),
            arrival(
                "c",
                5_000,
                json!({"transfer_id": "t", "completed": true}),
                true,
            ),
            arrival("d", 9_000, json!({"status": "configured"}), false),
        ]
    }

    fn mismatches(yaml: &str, secret: Option<&str>) -> Vec<Mismatch> {
        check(&step(yaml), &log(), &Variables::default(), secret)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn the_type_is_read_from_the_payload() {
        assert_eq!(
            webhook_type(&json!({"completed": true})),
            WebhookType::Completed
        );
        assert_eq!(
            webhook_type(&json!({"completed": false})),
            WebhookType::Data
        );
        assert_eq!(
            webhook_type(&json!({"error_type": "internal", "completed": true})),
            WebhookType::Error
        );
        assert_eq!(
            webhook_type(&json!({"status": "configured"})),
            WebhookType::Configuration
        );
    }

    #[test]
    fn each_webhook_counts_once_and_only_delivered_ones_count() {
        assert!(
            mismatches(
                "{receiver: r, count: 3, order: [data, error, completed]}",
                None
            )
            .is_empty()
        );
        assert!(mismatches("{receiver: r, type: configuration, count: 0}", None).is_empty());
        let wrong = mismatches("{receiver: r, order: [error, data, completed]}", None);
        assert_eq!(wrong.len(), 1);
        assert_eq!(wrong[0].actual, "[data, error, completed]");
        let missing = mismatches("{receiver: r, type: configuration}", None);
        assert_eq!(missing[0].expected, "at least 1");
    }

    #[test]
    fn attempts_count_every_arrival_of_one_webhook_id() {
        assert!(mismatches("{receiver: r, type: data, attempts: 2}", None).is_empty());
        assert!(
            mismatches(
                "{receiver: r, type: configuration, attempts: 1, count: 0}",
                None
            )
            .is_empty()
        );
        let wrong = mismatches("{receiver: r, type: data, attempts: 3}", None);
        assert_eq!(wrong[0].actual, "2 at [0 s, 5 s]");
    }

    #[test]
    fn signatures_verify_with_the_right_secret_only() {
        assert!(mismatches("{receiver: r, signed: true}", Some(SECRET)).is_empty());
        let wrong = mismatches("{receiver: r, signed: true}", Some(OTHER));
        // Two attempts of `a`, one of `b`, one of `c`: each fails with the other secret.
        assert_eq!(wrong.len(), 4);
        assert!(
            wrong[0].actual.contains("no `v1` signature matches"),
            "{}",
            wrong[0].actual
        );
    }

    #[test]
    fn none_within_sees_only_deliveries_after_its_start() {
        let arrivals = log();
        let expect = step("{receiver: r, none_within: 1m}");
        let variables = Variables::default();
        assert_eq!(
            delivered_after(&expect, &arrivals, &variables, 5).ok(),
            Some(None)
        );
        let late = delivered_after(&expect, &arrivals, &variables, 2)
            .ok()
            .flatten()
            .map(|mismatch| mismatch.actual);
        assert_eq!(
            late.as_deref(),
            Some("2: [error at 5 s, completed at 5 s] (the first arrival in the window at 5 s)")
        );
    }
}
