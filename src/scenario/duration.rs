//! Human durations (`10m`, `3d`, `72h`, `300s`, `1500ms`, or sums such as `1h30m`) for scenario
//! files. Scenario time is virtual and counted in milliseconds everywhere else in the tree
//! (`transfersim_mock_providers::Millis`), so a [`Duration`] stores milliseconds and nothing finer.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The units a duration may use, largest first, with their length in milliseconds. Rendering
/// picks the largest unit that divides the value exactly, so a parsed value renders back as
/// the shortest equivalent text.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The pattern the JSON Schema gives editors, kept next to the parser it describes.
const PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

/// A length of scenario time. Written as text so that scenarios read like their intent
/// (`advance: 5m`), stored as milliseconds so that the runner never deals in floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// A duration of `millis` milliseconds, for code that builds scenarios (the fuzzer).
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// A duration of whole seconds, for code that builds scenarios.
    pub const fn from_secs(seconds: u64) -> Self {
        Self {
            millis: seconds.saturating_mul(1_000),
        }
    }

    /// The length in milliseconds, the unit of the simulated world's clock.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Whether the duration is zero; most durations in a scenario must not be.
    pub const fn is_zero(self) -> bool {
        self.millis == 0
    }
}

/// Why a duration's text was refused; the message is what a scenario author reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{text}`: {reason}; expected a number and a unit (ms, s, m, h, d), e.g. `10m`, `72h`, `1500ms` or `1h30m`"
)]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| DurationError {
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        let mut millis: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits_len == 0 {
                return Err(refuse("a unit must follow a number"));
            }
            let (digits, after) = rest.split_at(digits_len);
            let number: u64 = digits
                .parse()
                .map_err(|_| refuse("the number is too large"))?;
            let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, after) = after.split_at(unit_len);
            let unit_millis = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, length)| *length)
                .ok_or_else(|| {
                    refuse(if unit.is_empty() {
                        "a number needs a unit"
                    } else {
                        "unknown unit"
                    })
                })?;
            millis = number
                .checked_mul(unit_millis)
                .and_then(|part| millis.checked_add(part))
                .ok_or_else(|| refuse("it is too long"))?;
            rest = after;
        }
        Ok(Self { millis })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return formatter.write_str("0s");
        }
        let (unit, length) = UNITS
            .iter()
            .find(|(_, length)| self.millis.is_multiple_of(*length))
            .copied()
            .unwrap_or(("ms", 1));
        write!(formatter, "{}{unit}", self.millis / length)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a duration such as `10m`, `72h`, `300s` or `1500ms`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A length of scenario time: numbers with units ms, s, m, h, d, e.g. `10m`, `72h`, `1500ms`, `1h30m`.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses_to_milliseconds() {
        let cases = [
            ("1500ms", 1_500),
            ("300s", 300_000),
            ("10m", 600_000),
            ("72h", 259_200_000),
            ("3d", 259_200_000),
            ("1h30m", 5_400_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                text.parse::<Duration>().map(Duration::as_millis),
                Ok(millis),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_durations_are_refused_not_panicked_on() {
        for text in [
            "",
            "10",
            "m",
            "10x",
            "-5s",
            "1.5s",
            "99999999999999999999d",
            "5 s",
        ] {
            assert!(
                text.parse::<Duration>().is_err(),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn durations_render_in_the_largest_exact_unit() {
        assert_eq!(Duration::from_millis(259_200_000).to_string(), "3d");
        assert_eq!(Duration::from_millis(5_400_000).to_string(), "90m");
        assert_eq!(Duration::from_millis(1_500).to_string(), "1500ms");
    }
}
