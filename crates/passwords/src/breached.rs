//! The offline list of breached passwords shipped inside the binary.
//!
//! `data/breached.bin` holds one 64-bit key per password: the first 8 bytes of the
//! SHA-256 of the lower-cased password, read big-endian, stored as 8 little-endian
//! bytes, sorted ascending without duplicates (`data/README.md` says where the list
//! comes from and how to rebuild it). Lookups binary-search the embedded bytes in
//! place: nothing is decoded or allocated at start-up. With about 120,000 keys in a
//! 2^64 space, the chance that a given password collides with a listed one is ~1e-14.

use sha2::{Digest, Sha256};

/// The embedded list: sorted 64-bit keys, 8 little-endian bytes each.
static BREACHED: &[u8] = include_bytes!("../data/breached.bin");

/// Size in bytes of one key in the embedded list.
const KEY_BYTES: usize = 8;

/// Whether `password` (compared lower-cased) is in the breached list shipped with the binary.
pub fn is_breached(password: &str) -> bool {
    let wanted = key(password);
    let (mut low, mut high) = (0, entry_count());
    while low < high {
        let mid = low + (high - low) / 2;
        let Some(found) = key_at(mid) else {
            return false;
        };
        match found.cmp(&wanted) {
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Number of passwords in the embedded list.
pub fn entry_count() -> usize {
    BREACHED.len() / KEY_BYTES
}

/// The list's key for `password`: SHA-256 of its lower-cased UTF-8, first 8 bytes, big-endian.
fn key(password: &str) -> u64 {
    let digest: [u8; 32] = Sha256::digest(password.to_lowercase().as_bytes()).into();
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = digest;
    u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
}

/// The `index`th key of the embedded list, if there is one.
fn key_at(index: usize) -> Option<u64> {
    let start = index.checked_mul(KEY_BYTES)?;
    let bytes = BREACHED.get(start..start.checked_add(KEY_BYTES)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand::distributions::Alphanumeric;

    #[test]
    fn embedded_list_has_at_least_100k_sorted_unique_keys() {
        assert_eq!(BREACHED.len() % KEY_BYTES, 0, "whole keys only");
        assert!(entry_count() >= 100_000, "only {} entries", entry_count());
        let keys: Vec<u64> = (0..entry_count()).map(|i| key_at(i).unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "strictly ascending");
    }

    #[test]
    fn well_known_breached_passwords_are_found_case_insensitively() {
        for password in [
            "password",
            "123456",
            "qwerty123",
            "iloveyou",
            "PASSWORD",
            "Qwerty123",
            "PaSsWoRd",
        ] {
            assert!(is_breached(password), "{password} should be listed");
        }
    }

    #[test]
    fn long_breached_passwords_are_found() {
        // All 12+ characters, so they matter to the policy; the last three rank
        // below the 600,000th line of the source, kept because of their length.
        for password in [
            "1qaz2wsx3edc",
            "qwerty123456",
            "leavemealone",
            "sonyericsson",
            "123qweasdzxc",
            "Vsdobnikova1984",
            "xuwejucfeq1983",
            "blewgli6tski",
        ] {
            assert!(is_breached(password), "{password} should be listed");
            assert!(
                is_breached(&password.to_uppercase()),
                "{password} upper-cased"
            );
        }
    }

    #[test]
    fn random_24_char_string_is_not_found() {
        for _ in 0..20 {
            let random: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            assert!(!is_breached(&random), "{random} unexpectedly listed");
        }
    }
}
