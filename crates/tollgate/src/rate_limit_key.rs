//! The key a rate limit counts a request against, as authentication found it.

use std::fmt;
use std::sync::Arc;

/// The key to count a request against (an API key's id, an account id),
/// put in the request's extensions by the layer that authenticated it, for
/// the rate limit after it: `tollgate-store`'s authentication puts the id of
/// the key it accepted, and `tollgate-limit`'s `ApiKey::from_extension`
/// reads it. Both crates name this one type, neither depending on the other.
///
/// ```
/// use tollgate::RateLimitKey;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(RateLimitKey::new("acct_42"));
/// assert_eq!(request.extensions().get::<RateLimitKey>().unwrap().as_str(), "acct_42");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RateLimitKey(Arc<str>);

impl RateLimitKey {
    /// The key to count this request against.
    pub fn new(key: impl Into<Arc<str>>) -> RateLimitKey {
        RateLimitKey(key.into())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key, shared rather than copied.
impl From<&RateLimitKey> for Arc<str> {
    fn from(key: &RateLimitKey) -> Arc<str> {
        Arc::clone(&key.0)
    }
}

impl fmt::Debug for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // It may be a secret (an API key itself): never printed whole.
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "RateLimitKey({shown:?}…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debug output shows a key's first four characters, never the rest.
    #[test]
    fn debug_shows_the_start_of_the_key_only() {
        let key = RateLimitKey::new("tg_live_secretsecret");
        assert_eq!(format!("{key:?}"), r#"RateLimitKey("tg_l"…)"#);
    }
}
