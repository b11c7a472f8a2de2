//! Identifiers the mocks hand out: record ids, credentials, tokens and correlation ids.
//!
//! Record ids come from a counter, so their order is creation order (HubSpot: decimal numbers;
//! Salesforce: 18-character ids whose lexical order is the counter's). Credentials and tokens come
//! from the provider's seeded RNG, so one seed gives the same credentials on every run.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The 62 characters of a Salesforce id, in ASCII order, so that a fixed-width base-62 number
/// sorts lexically as it does numerically.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Salesforce's 18-character id: a 3-character key prefix (`003` Contact, `001` Account), a
/// 2-character pod, a 10-character base-62 counter, then the 3-character case checksum that real
/// 18-character ids carry.
pub fn salesforce_id(key_prefix: &str, number: u64) -> String {
    assert_eq!(
        key_prefix.len(),
        3,
        "a Salesforce key prefix has 3 characters"
    );
    let mut digits = [b'0'; 10];
    let mut rest = number;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    assert_eq!(rest, 0, "record counter overflowed 10 base-62 digits");
    let mut id = String::with_capacity(18);
    id.push_str(key_prefix);
    id.push_str("Dp");
    id.push_str(std::str::from_utf8(&digits).expect("base-62 digits are ASCII"));
    let checksum = salesforce_checksum(&id);
    id.push_str(&checksum);
    id
}

/// The counter an id of [`salesforce_id`]'s shape carries (its 10 base-62 digits), if it has
/// that shape; the checksum and prefix are not checked.
pub fn salesforce_number(id: &str) -> Option<u64> {
    let digits = id.as_bytes().get(5..15).filter(|_| id.len() == 18)?;
    digits.iter().try_fold(0u64, |number, &c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        Some(number * 62 + u64::from(digit))
    })
}

/// The suffix that turns a case-sensitive 15-character id into a case-insensitive 18-character
/// one: for each 5-character chunk, a bit per uppercase letter, mapped onto `A-Z0-5`.
fn salesforce_checksum(id15: &str) -> String {
    const MAP: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(MAP[bits])
        })
        .collect()
}

/// `len` random alphanumeric characters from the provider's RNG.
pub fn alphanumeric(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

/// A random lowercase UUID-shaped string (version 4 layout), as HubSpot uses for client ids,
/// refresh tokens and correlation ids.
pub fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn salesforce_ids_sort_lexically_in_creation_order() {
        let numbers = [
            0u64,
            1,
            9,
            10,
            35,
            36,
            61,
            62,
            3843,
            3844,
            1_000_000,
            999_999_999,
        ];
        let ids: Vec<String> = numbers.iter().map(|n| salesforce_id("003", *n)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(
            ids.iter()
                .all(|id| id.len() == 18 && id.starts_with("003Dp"))
        );
    }

    #[test]
    fn a_salesforce_id_spells_its_number() {
        for n in [
            0u64,
            1,
            61,
            62,
            3843,
            1_000_000,
            999_999_999,
            62u64.pow(10) - 1,
        ] {
            assert_eq!(salesforce_number(&salesforce_id("003", n)), Some(n));
            assert_eq!(salesforce_number(&salesforce_id("001", n)), Some(n));
        }
        assert_eq!(salesforce_number("003Dp00000000"), None);
        assert_eq!(salesforce_number("003Dp0000000-01AAA"), None);
    }

    #[test]
    fn the_salesforce_checksum_matches_a_known_real_id() {
        // A documented example: 001A0000006Vm9r → 001A0000006Vm9rIAC.
        assert_eq!(salesforce_checksum("001A0000006Vm9r"), "IAC");
    }

    #[test]
    fn the_same_seed_gives_the_same_credentials() {
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        assert_eq!(uuid(&mut a), uuid(&mut b));
        assert_eq!(alphanumeric(&mut a, 20), alphanumeric(&mut b, 20));
    }
}
