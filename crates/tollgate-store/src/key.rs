//! API key material: generation, parsing and hashing.
//!
//! A key reads `tg_live_` + 12 characters of lookup id + 32 characters of
//! secret, all base62 (a–z, A–Z, 0–9, so a double-click selects it whole).
//! The secret alone carries 190 bits from the operating system's random
//! source; the lookup id (71 more bits) is not secret: it is the key's row id
//! and part of its display prefix.
//!
//! Only the SHA-256 of the whole key is stored. A slow password hash (argon2,
//! bcrypt) protects low-entropy passwords against guessing; a 190-bit random
//! secret cannot be guessed whatever the hash costs, so a slow hash would add
//! tens of milliseconds of CPU to every authenticated request (and a cheap
//! denial-of-service lever) for no gain. The stored hash is compared in
//! constant time ([`subtle`]).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::StoreError;

/// Characters of the lookup id.
pub(crate) const ID_LEN: usize = 12;
/// Characters of the secret.
pub(crate) const SECRET_LEN: usize = 32;
/// Characters of the key after its prefix.
pub(crate) const BODY_LEN: usize = ID_LEN + SECRET_LEN;
/// The longest prefix accepted when parsing.
pub(crate) const MAX_PREFIX_LEN: usize = 32;
/// The default prefix of new keys.
pub const DEFAULT_KEY_PREFIX: &str = "tg_live_";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key's SHA-256.
pub(crate) type KeyHash = [u8; 32];

/// A key as the caller sent it, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Presented<'a> {
    pub(crate) whole: &'a str,
    pub(crate) id: &'a str,
}

impl<'a> Presented<'a> {
    /// Splits a presented key; `None` when it cannot be one of ours.
    pub(crate) fn parse(key: &'a str) -> Option<Presented<'a>> {
        let len = key.len();
        if !(BODY_LEN..=BODY_LEN + MAX_PREFIX_LEN).contains(&len) || !key.is_ascii() {
            return None;
        }
        let (prefix, body) = key.split_at(len - BODY_LEN);
        // Every key's prefix ends in `_`: a key with a character too many
        // would otherwise be read with its id shifted, another key's.
        let body_ok = body.bytes().all(|b| b.is_ascii_alphanumeric());
        (valid_prefix(prefix) && body_ok).then(|| Presented {
            whole: key,
            id: &body[..ID_LEN],
        })
    }

    /// The key's SHA-256.
    pub(crate) fn hash(&self) -> KeyHash {
        hash(self.whole)
    }
}

/// SHA-256 of a key.
pub(crate) fn hash(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether two hashes are equal, in time independent of where they differ.
pub(crate) fn hashes_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new key: `(whole key, lookup id)`.
pub(crate) fn generate(prefix: &str) -> Result<(String, String), StoreError> {
    let mut key = String::with_capacity(prefix.len() + BODY_LEN);
    key.push_str(prefix);
    let body = random_base62(BODY_LEN)?;
    key.push_str(&body);
    Ok((key, body[..ID_LEN].to_owned()))
}

/// Whether `prefix` may start a key: 1–32 of `[A-Za-z0-9_]`, ending in `_`.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    (1..=MAX_PREFIX_LEN).contains(&prefix.len())
        && prefix.ends_with('_')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `n` uniformly random base62 characters from the OS random source.
pub(crate) fn random_base62(n: usize) -> Result<String, StoreError> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(StoreError::Random)?;
        // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let (key, id) = generate(DEFAULT_KEY_PREFIX).unwrap();
        assert_eq!(key.len(), DEFAULT_KEY_PREFIX.len() + BODY_LEN);
        assert!(key.starts_with("tg_live_"));
        let p = Presented::parse(&key).unwrap();
        assert_eq!(p.id, id);
        assert!(hashes_match(&p.hash(), &hash(&key)));
    }

    #[test]
    fn keys_are_distinct_and_use_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        let mut chars = std::collections::HashSet::new();
        for _ in 0..200 {
            let (key, _) = generate("t_").unwrap();
            chars.extend(key[2..].chars());
            assert!(seen.insert(key));
        }
        assert_eq!(chars.len(), 62);
    }

    /// Every base62 character is drawn equally often: bytes that would
    /// favour the first characters are rejected, not folded in. Over 1.24
    /// million draws each character's count stays within 1,000 (about
    /// seven standard deviations) of its 20,000 share; a byte 248 folded
    /// into `'0'` would put it near 24,900.
    #[test]
    fn random_characters_are_equally_likely() {
        const DRAWS: usize = 62 * 20_000;
        let drawn = random_base62(DRAWS).unwrap();
        assert_eq!(drawn.len(), DRAWS);
        let mut counts = std::collections::HashMap::new();
        for c in drawn.chars() {
            *counts.entry(c).or_insert(0_usize) += 1;
        }
        assert_eq!(counts.len(), 62);
        for (c, n) in counts {
            assert!(n.abs_diff(20_000) < 1_000, "{c:?} drawn {n} times");
        }
    }

    #[test]
    fn parse_rejects_what_cannot_be_a_key() {
        let good = format!("tg_live_{}", "a".repeat(BODY_LEN));
        assert!(Presented::parse(&good).is_some());
        for bad in [
            String::new(),
            "a".repeat(BODY_LEN - 1),
            format!("tg-live_{}", "a".repeat(BODY_LEN)),
            format!("tg_live_{}!", "a".repeat(BODY_LEN - 1)),
            format!("{}{}", "p".repeat(MAX_PREFIX_LEN + 1), "a".repeat(BODY_LEN)),
            format!("tg_live_{}é", "a".repeat(BODY_LEN - 2)),
            // A character too many, or a prefix lost.
            format!("tg_live_{}x", "a".repeat(BODY_LEN)),
            "a".repeat(BODY_LEN),
        ] {
            assert!(Presented::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn stored_hashes_are_plain_sha256() {
        // Keys are found by this hash in stores written by earlier builds:
        // it must stay SHA-256 of the key's text, byte for byte, whatever
        // the hashing library's version (the value is `sha256sum`'s).
        let hex: String = hash("tg_live_4fJq9ZkLm2Xw8RtY3PbN7HcVd5GsA1eU")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "e4b5e99a34e43e5bd8604a413a422dbc4551345c54e2aab6c22d30d34311f581"
        );
    }

    #[test]
    fn hash_comparison() {
        let a = hash("x");
        let mut b = a;
        assert!(hashes_match(&a, &b));
        b[31] ^= 1;
        assert!(!hashes_match(&a, &b));
        assert!(!hashes_match(&a, &a[..31]));
    }

    #[test]
    fn prefixes() {
        assert!(valid_prefix("tg_live_"));
        assert!(valid_prefix("sk_test_"));
        assert!(!valid_prefix("tg_live"));
        assert!(!valid_prefix("tg live_"));
        assert!(!valid_prefix(""));
    }
}
