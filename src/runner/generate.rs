//! Generated push bodies: `transfer_data: {generate: N}` becomes N items valid for the body's
//! `endgrate_type`, each with an `internal_id` from its index and data drawn from the seed.

use serde_json::{Map, Value, json};

use crate::scenario::GENERATED_ITEMS_MAX;

const FIRST_NAMES: [&str; 8] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
];
const LAST_NAMES: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
];
const INDUSTRIES: [&str; 4] = ["Software", "Finance", "Retail", "Energy"];

/// Replaces a `transfer_data: {generate: N}` in `body` by N items; other bodies are unchanged.
/// `Err` when N is out of range.
pub fn expand(body: &mut Value, seed: u64) -> Result<(), String> {
    let Some(object) = body.as_object_mut() else {
        return Ok(());
    };
    let Some((count, from)) = generate_count(object.get("transfer_data")) else {
        return Ok(());
    };
    if count == 0 || count > GENERATED_ITEMS_MAX {
        return Err(format!(
            "transfer_data generate must be 1 to {GENERATED_ITEMS_MAX}, not {count}"
        ));
    }
    let company = object.get("endgrate_type").and_then(Value::as_str) == Some("crm-company");
    let items = (from..from.saturating_add(count))
        .map(|index| item(seed, index, company))
        .collect();
    object.insert("transfer_data".to_owned(), Value::Array(items));
    Ok(())
}

/// `{generate: N}` or `{generate: N, from: M}`: N items with indexes M (default 0) onwards.
fn generate_count(value: Option<&Value>) -> Option<(u64, u64)> {
    let map = value?.as_object()?;
    let from = match map.get("from") {
        None => 0,
        Some(from) => from.as_u64()?,
    };
    if map.len() != 1 + usize::from(map.contains_key("from")) {
        return None;
    }
    Some((map.get("generate")?.as_u64()?, from))
}

/// One item: the same seed and index always give the same item.
fn item(seed: u64, index: u64, company: bool) -> Value {
    let draw = splitmix64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let pick = |list: &[&'static str], shift: u32| {
        let length = list.len() as u64;
        list[usize::try_from((draw >> shift) % length).unwrap_or(0)]
    };
    let mut data = Map::new();
    if company {
        data.insert("name".into(), json!(format!("Company {index}")));
        data.insert(
            "domain".into(),
            json!(format!("company{index}.example.com")),
        );
        data.insert("industry".into(), json!(pick(&INDUSTRIES, 8)));
    } else {
        let first = pick(&FIRST_NAMES, 0);
        let last = pick(&LAST_NAMES, 16);
        data.insert("first_name".into(), json!(first));
        data.insert("last_name".into(), json!(last));
        data.insert(
            "email".into(),
            json!(format!(
                "{}.{}.{index}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            )),
        );
        data.insert(
            "phone".into(),
            json!(format!("+1555{:07}", (draw >> 24) % 10_000_000)),
        );
    }
    json!({"internal_id": format!("item-{index}"), "data": data})
}

/// SplitMix64: a small, well-known mixer; enough to vary generated data with the seed.
fn splitmix64(mut state: u64) -> u64 {
    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut mixed = state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_items_replace_the_marker_and_repeat_with_the_seed() {
        let mut body = json!({"endgrate_type": "crm-contact", "transfer_data": {"generate": 3}});
        let mut again = body.clone();
        assert!(expand(&mut body, 7).is_ok());
        assert!(expand(&mut again, 7).is_ok());
        assert_eq!(body, again);
        assert_eq!(body["transfer_data"].as_array().map(Vec::len), Some(3));
        assert_eq!(body["transfer_data"][2]["internal_id"], json!("item-2"));
        assert!(body["transfer_data"][0]["data"]["last_name"].is_string());
    }

    #[test]
    fn from_starts_the_indexes_there_so_pushes_can_write_distinct_items() {
        let mut body =
            json!({"endgrate_type": "crm-contact", "transfer_data": {"generate": 2, "from": 10}});
        assert!(expand(&mut body, 7).is_ok());
        assert_eq!(body["transfer_data"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["transfer_data"][0]["internal_id"], json!("item-10"));
        assert_eq!(body["transfer_data"][1]["internal_id"], json!("item-11"));
    }
}
