//! Standard Webhooks signatures (CONTRACT.md section 4 "Signing", section 8 "Webhooks").
//!
//! - [`sign`]: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` for one attempt.
//! - [`headers`]: the three headers an attempt carries (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`). The caller adds `Content-Type: application/json`.
//! - [`verify`]: what a receiver does: authentic (one `v1` signature matches) and fresh (within
//!   [`TOLERANCE_SECONDS`] of `now`, either way). The runner and users' own receivers call it.
//!
//! The key is the base64-decoded part of the secret after `whsec_`. The timestamp is the sender's
//! clock at the attempt (virtual where the clock is virtual), so each attempt of one webhook has
//! the same id and bytes but its own timestamp and signature.
//!
//! **Boundary:** pure functions of their arguments: `now` comes from the caller, no clock is read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of every webhook secret; what follows it is the base64 key.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the receiver's `now`, in either direction, and still verify.
/// Five minutes is the Standard Webhooks and Stripe recommendation: long enough for clock skew,
/// short enough that a captured webhook cannot be replayed later.
pub const TOLERANCE_SECONDS: u64 = 300;
/// The webhook's id, stable across attempts: the receiver's idempotency key.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Unix seconds of the attempt, covered by the signature so it cannot be replayed with a new one.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Space-separated `version,signature` entries (several during a key rotation).
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Why a webhook cannot be signed: a secret that cannot key an HMAC, or an id that cannot be a
/// header. Both are mistakes on the caller's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a webhook id is visible ASCII, to fit in the `webhook-id` header")]
    InvalidWebhookId,
    #[error("a webhook secret starts with `whsec_`")]
    MissingPrefix,
    #[error("the part of a webhook secret after `whsec_` is not standard base64")]
    NotBase64,
    #[error("a webhook secret holds an empty key")]
    EmptyKey,
}

/// Why a webhook did not verify. Each variant is a different thing for a receiver to fix or
/// reject, so they are kept apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    #[error("the `{0}` header is malformed")]
    MalformedHeader(&'static str),
    #[error("the webhook secret is unusable: {0}")]
    BadSecret(#[from] SignatureError),
    #[error("the timestamp {timestamp_seconds} is more than 5 minutes before {now_seconds}")]
    StaleTimestamp {
        timestamp_seconds: u64,
        now_seconds: u64,
    },
    #[error("the timestamp {timestamp_seconds} is more than 5 minutes after {now_seconds}")]
    FutureTimestamp {
        timestamp_seconds: u64,
        now_seconds: u64,
    },
    #[error("no `v1` signature matches the body")]
    NoMatchingSignature,
}

/// The signature of one attempt: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
pub fn sign(
    secret: &str,
    webhook_id: &str,
    timestamp_seconds: u64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let mac = mac_over(secret, webhook_id, timestamp_seconds, body)?;
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The three Standard Webhooks headers of one attempt, signed at `timestamp_seconds` (the
/// attempt's send time). `Content-Type` is not included: it does not depend on the signature.
pub fn headers(
    secret: &str,
    webhook_id: &str,
    timestamp_seconds: u64,
    body: &[u8],
) -> Result<HeaderMap, SignatureError> {
    let signature = sign(secret, webhook_id, timestamp_seconds, body)?;
    let id_value =
        HeaderValue::from_str(webhook_id).map_err(|_| SignatureError::InvalidWebhookId)?;
    let signature_value = HeaderValue::from_str(&signature)
        .unwrap_or_else(|_| unreachable!("`v1,` and base64 are visible ASCII"));
    let mut map = HeaderMap::new();
    map.insert(HeaderName::from_static(WEBHOOK_ID), id_value);
    map.insert(
        HeaderName::from_static(WEBHOOK_TIMESTAMP),
        HeaderValue::from(timestamp_seconds),
    );
    map.insert(HeaderName::from_static(WEBHOOK_SIGNATURE), signature_value);
    Ok(map)
}

/// Whether a webhook is authentic and fresh at `now_seconds`.
///
/// Checks, in order: the secret, the three headers, the timestamp within
/// [`TOLERANCE_SECONDS`] either way (exactly 5 minutes still passes), then the signatures. Any
/// one matching `v1` entry of the space-separated list is enough; entries of other versions
/// (`v1a`, future ones) and undecodable entries are ignored, so a sender can rotate keys or add
/// schemes without breaking receivers. The comparison is constant-time (`verify_slice`).
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_seconds: u64,
) -> Result<(), VerifyError> {
    let key = decode_secret(secret)?;
    let webhook_id = header_text(headers, WEBHOOK_ID)?;
    let timestamp_text = header_text(headers, WEBHOOK_TIMESTAMP)?;
    let signatures = header_text(headers, WEBHOOK_SIGNATURE)?;
    let timestamp_seconds: u64 = timestamp_text
        .parse()
        .map_err(|_| VerifyError::MalformedHeader(WEBHOOK_TIMESTAMP))?;
    if timestamp_seconds.saturating_add(TOLERANCE_SECONDS) < now_seconds {
        return Err(VerifyError::StaleTimestamp {
            timestamp_seconds,
            now_seconds,
        });
    }
    if timestamp_seconds > now_seconds.saturating_add(TOLERANCE_SECONDS) {
        return Err(VerifyError::FutureTimestamp {
            timestamp_seconds,
            now_seconds,
        });
    }
    let mac = keyed_mac(&key, webhook_id, timestamp_seconds, body);
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The key bytes of a `whsec_` secret.
fn decode_secret(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SignatureError::MissingPrefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::NotBase64)?;
    if key.is_empty() {
        return Err(SignatureError::EmptyKey);
    }
    Ok(key)
}

/// An HMAC that has absorbed the signed content of one attempt, not yet finalized.
fn mac_over(
    secret: &str,
    webhook_id: &str,
    timestamp_seconds: u64,
    body: &[u8],
) -> Result<HmacSha256, SignatureError> {
    let key = decode_secret(secret)?;
    Ok(keyed_mac(&key, webhook_id, timestamp_seconds, body))
}

/// HMAC-SHA256 keyed by `key` over `<id>.<timestamp>.<body>`.
fn keyed_mac(key: &[u8], webhook_id: &str, timestamp_seconds: u64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// A header as text, distinguishing absent from unreadable.
fn header_text<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    value
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (secret, webhook id, timestamp, body, signature), computed with Python's `hmac` module.
    /// Regenerate with `python3 sim/tests/vectors/webhook_vectors.py`, paste its output here and
    /// run `cargo fmt` (which lays each tuple out over several lines).
    /// The first is also the example published with the Standard Webhooks reference libraries.
    const VECTORS: [(&str, &str, u64, &[u8], &str); 4] = [
        // published
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b"{\"test\": 2432232314}",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        // data_webhook
        (
            "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "0123456789abcdef01234567",
            1767225600,
            b"{\"success\":true,\"transfer_id\":\"aaaaaaaaaaaaaaaaaaaaaaaa\",\"completed\":false}",
            "v1,/wx2nbyF6W/rpsIhdVjxa3sDWDNcaZ3mM5TSpAHaQH0=",
        ),
        // empty_body
        (
            "whsec_a2tra2tra2tra2tra2tra2tra2tra2tr",
            "msg_empty",
            0,
            b"",
            "v1,5ztHwWDXhhXzX0XlFPSSR86t2U8o3mS/mFkFqTwesnw=",
        ),
        // utf8_body
        (
            "whsec_AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/w==",
            "msg_utf8",
            4102444800,
            b"{\"name\":\"Zo\xc3\xab \xc3\x91and\xc3\xba \xf0\x9f\x9a\x80\"}",
            "v1,5hi5YJL3DB3YwEvHeBnosFYwUkxT6WQQTDiH/xwlRRE=",
        ),
    ];

    const SECRET: &str = VECTORS[1].0;
    const ID: &str = VECTORS[1].1;
    const AT: u64 = VECTORS[1].2;
    const BODY: &[u8] = VECTORS[1].3;

    fn signed(timestamp_seconds: u64, body: &[u8]) -> HeaderMap {
        headers(SECRET, ID, timestamp_seconds, body).expect("the test secret is valid")
    }

    #[test]
    fn signatures_match_the_independently_computed_vectors() {
        for (secret, id, timestamp, body, expected) in VECTORS {
            assert_eq!(sign(secret, id, timestamp, body).as_deref(), Ok(expected));
        }
    }

    #[test]
    fn every_vector_verifies_at_its_own_time() {
        for (secret, id, timestamp, body, _) in VECTORS {
            let map = headers(secret, id, timestamp, body).expect("valid secret");
            assert_eq!(verify(secret, &map, body, timestamp), Ok(()));
        }
    }

    #[test]
    fn headers_carry_the_id_the_timestamp_and_the_signature() {
        let map = signed(AT, BODY);
        assert_eq!(map.len(), 3);
        assert_eq!(map[WEBHOOK_ID], ID);
        assert_eq!(map[WEBHOOK_TIMESTAMP], "1767225600");
        assert_eq!(map[WEBHOOK_SIGNATURE], VECTORS[1].4);
    }

    #[test]
    fn one_changed_byte_in_the_body_fails_verification() {
        let map = signed(AT, BODY);
        for index in 0..BODY.len() {
            let mut tampered = BODY.to_vec();
            tampered[index] ^= 0x01;
            assert_eq!(
                verify(SECRET, &map, &tampered, AT),
                Err(VerifyError::NoMatchingSignature),
                "byte {index} changed"
            );
        }
    }

    #[test]
    fn a_timestamp_six_minutes_off_fails_and_four_minutes_passes() {
        let map = signed(AT, BODY);
        assert_eq!(verify(SECRET, &map, BODY, AT + 240), Ok(()));
        assert_eq!(verify(SECRET, &map, BODY, AT - 240), Ok(()));
        assert_eq!(
            verify(SECRET, &map, BODY, AT + 360),
            Err(VerifyError::StaleTimestamp {
                timestamp_seconds: AT,
                now_seconds: AT + 360
            })
        );
        assert_eq!(
            verify(SECRET, &map, BODY, AT - 360),
            Err(VerifyError::FutureTimestamp {
                timestamp_seconds: AT,
                now_seconds: AT - 360
            })
        );
    }

    #[test]
    fn exactly_five_minutes_is_still_fresh_and_one_second_more_is_not() {
        let map = signed(AT, BODY);
        assert_eq!(verify(SECRET, &map, BODY, AT + 300), Ok(()));
        assert_eq!(verify(SECRET, &map, BODY, AT - 300), Ok(()));
        assert!(verify(SECRET, &map, BODY, AT + 301).is_err());
        assert!(verify(SECRET, &map, BODY, AT - 301).is_err());
    }

    #[test]
    fn a_timestamp_changed_after_signing_fails_even_when_fresh() {
        let mut map = signed(AT, BODY);
        map.insert(
            HeaderName::from_static(WEBHOOK_TIMESTAMP),
            HeaderValue::from(AT + 1),
        );
        assert_eq!(
            verify(SECRET, &map, BODY, AT),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn another_secret_does_not_verify() {
        let map = signed(AT, BODY);
        assert_eq!(
            verify(VECTORS[0].0, &map, BODY, AT),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn one_matching_v1_among_several_signatures_is_enough() {
        let mut map = signed(AT, BODY);
        let good = sign(SECRET, ID, AT, BODY).expect("valid secret");
        let other_key = sign(VECTORS[0].0, ID, AT, BODY).expect("valid secret");
        let list = format!("v1a,{} v1,not-base64! {other_key} {good}", &good[3..]);
        map.insert(
            HeaderName::from_static(WEBHOOK_SIGNATURE),
            HeaderValue::from_str(&list).unwrap(),
        );
        assert_eq!(verify(SECRET, &map, BODY, AT), Ok(()));
    }

    #[test]
    fn a_correct_mac_under_another_version_is_ignored() {
        let mut map = signed(AT, BODY);
        let good = sign(SECRET, ID, AT, BODY).expect("valid secret");
        let relabelled = format!("v2,{}", &good[3..]);
        map.insert(
            HeaderName::from_static(WEBHOOK_SIGNATURE),
            HeaderValue::from_str(&relabelled).unwrap(),
        );
        assert_eq!(
            verify(SECRET, &map, BODY, AT),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        for name in [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE] {
            let mut map = signed(AT, BODY);
            map.remove(name);
            assert_eq!(
                verify(SECRET, &map, BODY, AT),
                Err(VerifyError::MissingHeader(name))
            );
        }
    }

    #[test]
    fn an_id_that_cannot_be_a_header_is_refused() {
        assert_eq!(
            headers(SECRET, "line\nbreak", AT, BODY),
            Err(SignatureError::InvalidWebhookId)
        );
    }

    #[test]
    fn a_timestamp_that_is_not_unix_seconds_is_malformed() {
        let mut map = signed(AT, BODY);
        map.insert(
            WEBHOOK_TIMESTAMP,
            HeaderValue::from_static("2026-01-01T00:00:00Z"),
        );
        assert_eq!(
            verify(SECRET, &map, BODY, AT),
            Err(VerifyError::MalformedHeader("webhook-timestamp"))
        );
    }

    #[test]
    fn unusable_secrets_are_refused_when_signing_and_verifying() {
        let map = signed(AT, BODY);
        for (secret, error) in [
            ("AAECAwQF", SignatureError::MissingPrefix),
            ("whsec_not base64!", SignatureError::NotBase64),
            ("whsec_", SignatureError::EmptyKey),
        ] {
            assert_eq!(sign(secret, ID, AT, BODY), Err(error.clone()));
            assert_eq!(
                verify(secret, &map, BODY, AT),
                Err(VerifyError::BadSecret(error))
            );
        }
    }
}
