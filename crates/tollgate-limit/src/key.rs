//! What a policy counts calls against: an API key, a client IP, any string.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::HeaderName;
use http::request::Parts;

/// Longest key kept as is. A longer one (a JWT, say) is kept as its first
/// bytes and a SHA-256 digest of the whole, at most this long: a client
/// cannot make the store hold huge keys, and two long keys that begin alike
/// are still two keys.
pub const MAX_KEY_LEN: usize = 256;

/// Hex digits of the digest that ends a shortened key (128 bits).
const DIGEST_HEX: usize = 32;

/// The identity a policy counts calls against.
///
/// ```
/// use std::net::IpAddr;
/// use tollgate_limit::Key;
/// let ip: IpAddr = "192.0.2.7".parse().unwrap();
/// assert_eq!(Key::from(ip).to_string(), "ip:192.0.2.7");
/// assert_eq!(Key::from("sk_live_1").to_string(), "sk_live_1");
/// let long = Key::from("é".repeat(200));
/// assert!(long.as_str().unwrap().len() <= 256);
/// assert_ne!(long, Key::from("é".repeat(201)));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Ip(IpAddr),
    Text(Arc<str>),
}

impl Key {
    /// The client IP, if this is an IP key.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0 {
            Repr::Ip(ip) => Some(ip),
            Repr::Text(_) => None,
        }
    }

    /// The text, if this is a text key.
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Ip(_) => None,
            Repr::Text(s) => Some(s),
        }
    }
}

impl From<IpAddr> for Key {
    fn from(ip: IpAddr) -> Key {
        Key(Repr::Ip(ip))
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        if s.len() <= MAX_KEY_LEN {
            return Key(Repr::Text(s.into()));
        }
        let mut end = MAX_KEY_LEN - DIGEST_HEX - 1;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut short = String::with_capacity(MAX_KEY_LEN);
        short.push_str(&s[..end]);
        short.push('~');
        push_digest(&mut short, s);
        Key(Repr::Text(short.into()))
    }
}

/// Appends the first 128 bits of `text`'s SHA-256, in hex ([`DIGEST_HEX`]
/// digits): how a long key is shortened, and how a text key is written into
/// Redis.
pub(crate) fn push_digest(out: &mut String, text: &str) {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    for byte in &Sha256::digest(text.as_bytes())[..DIGEST_HEX / 2] {
        // Writing into a `String` cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
}

/// Shared, not copied, unless too long (then as [`From<&str>`]).
impl From<Arc<str>> for Key {
    fn from(s: Arc<str>) -> Key {
        if s.len() <= MAX_KEY_LEN {
            Key(Repr::Text(s))
        } else {
            Key::from(&*s)
        }
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        if s.len() <= MAX_KEY_LEN {
            Key(Repr::Text(s.into()))
        } else {
            Key::from(s.as_str())
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Ip(ip) => write!(f, "ip:{ip}"),
            Repr::Text(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Ip(ip) => write!(f, "Key::Ip({ip})"),
            // API keys are secrets: never print them whole.
            Repr::Text(s) => {
                let shown: String = s.chars().take(4).collect();
                write!(f, "Key::Text({shown:?}…)")
            }
        }
    }
}

/// Finds the key a policy counts a request against; `None` skips the policy
/// for that request (an anonymous request under a per-key policy).
///
/// Closures `Fn(&Parts) -> Option<Key>` are extractors too.
///
/// ```
/// use tollgate_limit::{Key, KeyExtractor};
/// let by_tenant = |parts: &http::request::Parts| {
///     parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()).map(Key::from)
/// };
/// let (parts, ()) = http::Request::builder().header("x-tenant", "acme").body(()).unwrap().into_parts();
/// assert_eq!(by_tenant.extract(&parts), Some(Key::from("acme")));
/// ```
pub trait KeyExtractor: Send + Sync + 'static {
    /// The key of this request, if it has one.
    fn extract(&self, parts: &Parts) -> Option<Key>;
}

impl<F> KeyExtractor for F
where
    F: Fn(&Parts) -> Option<Key> + Send + Sync + 'static,
{
    fn extract(&self, parts: &Parts) -> Option<Key> {
        self(parts)
    }
}

/// Extracts the caller's API key, for per-key policies placed after
/// authentication.
///
/// Read the key exactly where your authentication reads it. A limiter keyed
/// on a header the authentication ignores is keyed on whatever the client
/// puts there: authenticated by `X-API-Key`, it could send a new
/// `Authorization: Bearer` token with every request and get a fresh budget
/// each time. [`from_extension`](Self::from_extension) (the key your
/// authentication found: `tollgate-store`'s puts the id of the key it
/// accepted) cannot disagree, and counts only keys that authenticated;
/// [`presented`](Self::presented) reads the headers in the order
/// `tollgate-store`'s authentication does, and, placed before it, counts
/// any key sent, each made-up key in a budget of its own.
///
/// ```
/// use tollgate_limit::{ApiKey, Key, KeyExtractor};
/// let (parts, ()) = http::Request::builder()
///     .header("authorization", "Bearer sk_live_1")
///     .header("x-api-key", "k2")
///     .body(()).unwrap().into_parts();
/// assert_eq!(ApiKey::presented().extract(&parts), Some(Key::from("k2")));
/// assert_eq!(ApiKey::bearer().extract(&parts), Some(Key::from("sk_live_1")));
/// let header = http::HeaderName::from_static("x-api-key");
/// assert_eq!(ApiKey::header(header).extract(&parts), Some(Key::from("k2")));
/// assert_eq!(ApiKey::from_extension().extract(&parts), None);
/// ```
#[derive(Clone, Debug)]
pub struct ApiKey {
    source: ApiKeySource,
    /// Whether a request that sent a key but carried no `RateLimitKey`
    /// has been logged (once per extractor and its clones).
    told_outside: Arc<AtomicBool>,
}

#[derive(Clone, Debug)]
enum ApiKeySource {
    Extension,
    Header(HeaderName),
    Bearer,
    Presented,
}

impl ApiKey {
    /// The [`RateLimitKey`](crate::RateLimitKey) an authentication layer put
    /// in the extensions (`tollgate-store`'s does): the policy goes after
    /// authentication (inside its layer), and skips requests without one. A
    /// request that sent a key but carries none is logged, once: the limiter
    /// is outside authentication then, and limits nothing.
    ///
    /// ```
    /// use tollgate_limit::{ApiKey, Key, KeyExtractor, RateLimitKey};
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(RateLimitKey::new("acct_42"));
    /// let (parts, ()) = request.into_parts();
    /// assert_eq!(ApiKey::from_extension().extract(&parts), Some(Key::from("acct_42")));
    /// ```
    pub fn from_extension() -> ApiKey {
        ApiKey {
            source: ApiKeySource::Extension,
            told_outside: Arc::default(),
        }
    }

    /// `X-API-Key`, else the token of `Authorization: Bearer <token>`: the
    /// key as `tollgate-store`'s authentication reads it, through the same
    /// [`tollgate::headers::presented_api_key`]. A request that sends no
    /// key, or one header of them twice (which that authentication refuses
    /// with a 401), has none here: its policy decides nothing, so put a
    /// per-IP policy beside it when the limiter runs before authentication.
    pub fn presented() -> ApiKey {
        ApiKey {
            source: ApiKeySource::Presented,
            told_outside: Arc::default(),
        }
    }

    /// The value of one header, as sent.
    pub fn header(name: impl Into<HeaderName>) -> ApiKey {
        ApiKey {
            source: ApiKeySource::Header(name.into()),
            told_outside: Arc::default(),
        }
    }

    /// The token of `Authorization: Bearer <token>`.
    pub fn bearer() -> ApiKey {
        ApiKey {
            source: ApiKeySource::Bearer,
            told_outside: Arc::default(),
        }
    }
}

impl KeyExtractor for ApiKey {
    fn extract(&self, parts: &Parts) -> Option<Key> {
        let text = match &self.source {
            ApiKeySource::Extension => {
                let Some(found) = parts.extensions.get::<tollgate::RateLimitKey>() else {
                    // Inside authentication, every request this limiter sees
                    // has one: a key sent without one means the limiter is
                    // outside, and limits nothing.
                    let told = &self.told_outside;
                    if tollgate::headers::presented_api_key(&parts.headers).is_some()
                        && !told.load(Ordering::Relaxed)
                        && !told.swap(true, Ordering::Relaxed)
                    {
                        tracing::warn!(
                            "a request sent an API key but carries no RateLimitKey: a limiter \
                             keyed by ApiKey::from_extension() placed outside authentication \
                             limits no request; put it inside (`.route_layer(limiter)` before \
                             `.route_layer(gate.auth())`)"
                        );
                    }
                    return None;
                };
                return Some(Key::from(Arc::<str>::from(found)));
            }
            ApiKeySource::Header(name) => parts.headers.get(name)?.to_str().ok()?.trim(),
            ApiKeySource::Bearer => tollgate::headers::bearer_token(&parts.headers)?,
            ApiKeySource::Presented => tollgate::headers::presented_api_key(&parts.headers)?,
        };
        (!text.is_empty()).then(|| Key::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key given shared (an authenticated key's id, from its
    /// `RateLimitKey`) is kept shared, not copied; a long one is shortened
    /// as the same text given any other way is.
    #[test]
    fn a_shared_key_is_not_copied() {
        let shared: Arc<str> = "key_id_1".into();
        let Key(Repr::Text(kept)) = Key::from(Arc::clone(&shared)) else {
            panic!("a text key");
        };
        assert!(Arc::ptr_eq(&kept, &shared));
        let long: Arc<str> = "é".repeat(200).into();
        assert_eq!(Key::from(long), Key::from("é".repeat(200)));
        let found = tollgate::RateLimitKey::new(Arc::clone(&shared));
        assert!(Arc::ptr_eq(&Arc::<str>::from(&found), &shared));
    }

    /// A request that sent a key but carries no `RateLimitKey` reaches a
    /// `from_extension` limiter only when it is outside authentication:
    /// told once, in words that say where it goes. One without a key (a
    /// public route) is not told.
    #[test]
    fn a_key_sent_past_a_limiter_outside_authentication_is_told_once() {
        let (told, _subscriber) = crate::on_event::recorded();
        let extractor = ApiKey::from_extension();
        let (public, ()) = http::Request::new(()).into_parts();
        assert_eq!(extractor.extract(&public), None);
        assert!(told.lock().unwrap().is_empty());
        let (keyed, ()) = http::Request::builder()
            .header("x-api-key", "tg_live_1")
            .body(())
            .unwrap()
            .into_parts();
        for _ in 0..3 {
            assert_eq!(extractor.clone().extract(&keyed), None);
        }
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].contains("outside authentication"), "{told:?}");
    }

    #[test]
    fn digests_are_plain_sha256() {
        // Text keys are written into Redis by this digest: it must stay the
        // first 128 bits of SHA-256, in hex, whatever the hashing library's
        // version, or counters kept by earlier builds would be lost (the
        // value is `sha256sum`'s).
        let mut out = String::new();
        push_digest(&mut out, "tenant:acme");
        assert_eq!(out, "cef41eed96b2cb03f04f8adef1c9def6");
        assert_eq!(out.len(), DIGEST_HEX);
    }

    /// A key longer than `MAX_KEY_LEN` is kept as its first bytes, `~` and
    /// the digest of the whole, exactly `MAX_KEY_LEN` bytes long; a key of
    /// `MAX_KEY_LEN` bytes is kept as is.
    #[test]
    fn a_long_key_is_cut_to_its_first_bytes_and_a_digest() {
        let whole = "k".repeat(MAX_KEY_LEN);
        assert_eq!(Key::from(whole.as_str()).as_str(), Some(whole.as_str()));
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let key = Key::from(long.as_str());
        let short = key.as_str().unwrap();
        let mut expected = "k".repeat(MAX_KEY_LEN - DIGEST_HEX - 1);
        expected.push('~');
        push_digest(&mut expected, &long);
        assert_eq!(short, expected);
        assert_eq!(short.len(), MAX_KEY_LEN);
    }

    /// `Debug` shows an IP key whole but only the first four characters of a
    /// text key, which may be a secret API key; `Display` shows both.
    #[test]
    fn debug_shows_only_the_start_of_a_text_key() {
        let secret = Key::from("sk_live_0123456789");
        assert_eq!(format!("{secret:?}"), "Key::Text(\"sk_l\"…)");
        assert_eq!(secret.to_string(), "sk_live_0123456789");
        let ip = Key::from("192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(format!("{ip:?}"), "Key::Ip(192.0.2.7)");
        assert_eq!(ip.to_string(), "ip:192.0.2.7");
    }
}
