//! Deterministic generated records: the same provider seed, account and position always give the
//! same record, however many were seeded before in other accounts.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::mock::Dialect;

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "John",
    "Katherine",
    "Niklaus",
    "Leslie",
    "Tony",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Ritchie", "Perlman", "Backus", "Johnson", "Wirth", "Lamport", "Hoare",
];
const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
];
const HUBSPOT_INDUSTRIES: &[&str] = &[
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "RETAIL",
    "LOGISTICS_AND_SUPPLY_CHAIN",
];
const SALESFORCE_INDUSTRIES: &[&str] = &[
    "Technology",
    "Finance",
    "Healthcare",
    "Retail",
    "Transportation",
];

fn pick<'a>(rng: &mut ChaCha8Rng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// The properties of the `index`-th generated record of `object` in account `account_number`.
pub(crate) fn generate(
    dialect: Dialect,
    object: &str,
    seed: u64,
    account_number: u64,
    index: u64,
) -> BTreeMap<String, Value> {
    let object_tag: u64 = match object {
        "contacts" | "Contact" => 1,
        _ => 2,
    };
    let mixed = seed
        ^ account_number.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ object_tag.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ index.wrapping_mul(0x1656_67B1_9E37_79F9);
    let mut rng = ChaCha8Rng::seed_from_u64(mixed);
    let mut properties = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        properties.insert(k.to_owned(), Value::String(v));
    };
    let n = index + 1;
    match (dialect, object_tag) {
        (_, 1) => {
            let first = pick(&mut rng, FIRST_NAMES);
            let last = pick(&mut rng, LAST_NAMES);
            let email = format!(
                "{}.{}.{n}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            );
            let phone = format!("+1-555-{:04}", rng.random_range(0..10_000));
            match dialect {
                Dialect::Hubspot => {
                    put("firstname", first.into());
                    put("lastname", last.into());
                    put("email", email);
                    put("phone", phone);
                }
                Dialect::Salesforce => {
                    put("FirstName", first.into());
                    put("LastName", last.into());
                    put("Email", email);
                    put("Phone", phone);
                }
            }
        }
        _ => {
            let word = pick(&mut rng, COMPANY_WORDS);
            let name = format!("{word} {n}");
            let domain = format!("{}{n}.example.com", word.to_lowercase());
            match dialect {
                Dialect::Hubspot => {
                    put("name", name);
                    put("domain", domain);
                    put("industry", pick(&mut rng, HUBSPOT_INDUSTRIES).into());
                }
                Dialect::Salesforce => {
                    put("Name", name);
                    put("Website", domain);
                    put("Industry", pick(&mut rng, SALESFORCE_INDUSTRIES).into());
                }
            }
        }
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_position_gives_the_same_record_and_another_position_another() {
        let a = generate(Dialect::Hubspot, "contacts", 1, 1, 0);
        assert_eq!(a, generate(Dialect::Hubspot, "contacts", 1, 1, 0));
        assert_ne!(a, generate(Dialect::Hubspot, "contacts", 1, 1, 1));
        assert!(a["email"].as_str().is_some_and(|e| e.contains('@')));
    }

    #[test]
    fn generated_salesforce_contacts_have_a_last_name() {
        for i in 0..50 {
            let record = generate(Dialect::Salesforce, "Contact", 3, 2, i);
            assert!(record["LastName"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
}
