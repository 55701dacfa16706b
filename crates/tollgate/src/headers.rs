//! Header names Tollgate reads and writes.

use http::HeaderName;

/// `X-Request-Id`: the request id, accepted from callers and always echoed.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Error-Code`: mirrors the error's code on every error response.
pub const X_ERROR_CODE: HeaderName = HeaderName::from_static("x-error-code");
/// `Request-Id`: Stripe's request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
/// `Idempotency-Key`: makes a POST or PATCH safe to retry.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// `Idempotent-Replayed: true`: marks a response replayed for a repeated
/// `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// `X-API-Key`: an API key, as the seed APIs accept it.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// `RateLimit-Policy` (IETF draft): each policy's quota and window.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (IETF draft): what is left of each policy, and when it refills.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Remaining` (an older IETF draft, still sent by some APIs).
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset` (an older IETF draft): seconds until the quota refills
/// (some APIs, Twitch's among them, send the Unix time instead).
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `X-RateLimit-Limit` (legacy): the calls the most constraining policy
/// allows at once (its burst, which is its quota unless set otherwise), which
/// `X-RateLimit-Remaining` counts down from.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining` (legacy).
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset` (legacy): seconds until the quota is restored (some
/// APIs, GitHub's among them, send the Unix time instead).
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// One item of a `RateLimit` or `RateLimit-Policy` field line
/// (draft-ietf-httpapi-ratelimit-headers): a policy's name and parameters,
/// as in `"per-key";r=42;t=35`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitItem<'a> {
    /// The policy's name, unquoted (escapes left as sent).
    pub name: &'a str,
    params: &'a str,
}

impl<'a> RateLimitItem<'a> {
    /// The items of one field line, in order. Commas and semicolons inside
    /// quoted strings do not split. Read leniently, as APIs send them: an
    /// item without a name (`r=0;t=5`) has the name `""`; an empty one is
    /// skipped.
    ///
    /// ```
    /// use tollgate::headers::RateLimitItem;
    /// let items: Vec<_> = RateLimitItem::parse(r#""per-key";r=0;t=7, "a;b";r=9"#).collect();
    /// assert_eq!((items[0].name, items[0].param("t")), ("per-key", Some(7)));
    /// assert_eq!((items[1].name, items[1].param("r")), ("a;b", Some(9)));
    /// ```
    pub fn parse(line: &'a str) -> impl Iterator<Item = RateLimitItem<'a>> {
        split_outside_quotes(line, b',').filter_map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return None;
            }
            let first = split_outside_quotes(item, b';').next().unwrap_or(item);
            if !first.starts_with('"') && first.contains('=') {
                // The item starts with a parameter: it has no name.
                return Some(RateLimitItem {
                    name: "",
                    params: item,
                });
            }
            let name = first.trim();
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(name);
            Some(RateLimitItem {
                name,
                params: &item[first.len()..],
            })
        })
    }

    /// A parameter's value when it is a whole number (`r`, `t`, `q`, `w`);
    /// the last one when it is repeated (RFC 8941).
    pub fn param(&self, key: &str) -> Option<u64> {
        split_outside_quotes(self.params, b';')
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| k.trim() == key)
            .last()
            .and_then(|(_, v)| crate::retry::whole_seconds(v.trim()))
    }
}

/// `text`'s pieces between the `sep` bytes that are not inside a quoted
/// string (with `\` escapes).
pub(crate) fn split_outside_quotes(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in text.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// The fields of one connection's hop rather than of the message (RFC 9110,
/// 7.6.1, and `Proxy-Connection`, which some clients still send), and those
/// that frame its body: neither is kept with a response to send again, nor
/// a place for anything else.
pub const HOP_AND_FRAMING: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
    "content-length",
];

/// Headers that carry a request id in the wild, in the order the decoder
/// tries them (`traceparent` last: its trace id stands in for a request id).
pub const REQUEST_ID_HEADERS: [&str; 15] = [
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-ms-request-id",
    "x-github-request-id",
    "twilio-request-id",
    "x-slack-req-id",
    "paypal-debug-id",
    "apim-request-id",
    "x-zendesk-request-id",
    "audit-id",
    "x-correlation-id",
    "cf-ray",
    "traceparent",
];

/// Whether a `Content-Type` names JSON: `application/json` or a `+json`
/// type (`application/problem+json`), in any case, parameters aside.
///
/// ```
/// use tollgate::headers::is_json_media;
/// assert!(is_json_media("Application/JSON; charset=utf-8"));
/// assert!(is_json_media("application/problem+JSON"));
/// assert!(!is_json_media("application/jsonx"));
/// ```
pub fn is_json_media(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/json")
        || media
            .len()
            .checked_sub(5)
            .and_then(|at| media.get(at..))
            .is_some_and(|end| end.eq_ignore_ascii_case("+json"))
}

/// The `charset` a `Content-Type` names, unquoted (`iso-8859-1` of
/// `text/plain; Charset="iso-8859-1"`); `None` when it names none.
///
/// ```
/// use tollgate::headers::charset;
/// assert_eq!(charset("text/plain; Charset=\"iso-8859-1\""), Some("iso-8859-1"));
/// assert_eq!(charset("application/json"), None);
/// ```
pub fn charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        name.trim().eq_ignore_ascii_case("charset").then_some(value)
    })
}

/// The API key a request presents: `X-API-Key` if sent and not blank (even
/// if `Authorization` is sent too), else the token of `Authorization:
/// Bearer`; or why it presents none. Several `X-API-Key` lines, or several
/// `Authorization` lines, present none, even if they agree: which one is
/// meant cannot be told, and taking the first would ignore a line a client
/// or a proxy added. Authentication and per-key rate limits read it alike,
/// so that neither counts a key the other ignores. A bearer token beside
/// `X-API-Key` is not a second key: a gateway in front of the API may put
/// its own token in `Authorization` (Google's API Gateway sends the backend
/// an ID token there).
///
/// ```
/// use http::HeaderMap;
/// use tollgate::headers::{api_key, NoApiKey};
/// let mut h = HeaderMap::new();
/// assert_eq!(api_key(&h), Err(NoApiKey::Absent));
/// // Another scheme presents no key.
/// h.insert("authorization", "Basic dTpw".parse().unwrap());
/// assert_eq!(api_key(&h), Err(NoApiKey::Absent));
/// h.insert("authorization", "bearer  k2 ".parse().unwrap());
/// assert_eq!(api_key(&h), Ok("k2"));
/// // A blank `X-API-Key` (a client's empty variable) is no key.
/// h.insert("x-api-key", " ".parse().unwrap());
/// assert_eq!(api_key(&h), Ok("k2"));
/// h.insert("x-api-key", "k1".parse().unwrap());
/// assert_eq!(api_key(&h), Ok("k1"));
/// h.append("x-api-key", "k1".parse().unwrap());
/// assert_eq!(api_key(&h), Err(NoApiKey::Several));
/// // A key past ASCII is sent, though none can match.
/// let mut h = HeaderMap::new();
/// h.insert("authorization", http::HeaderValue::from_bytes(b"Bearer caf\xe9").unwrap());
/// assert_eq!(api_key(&h), Err(NoApiKey::NotText));
/// ```
pub fn api_key(headers: &http::HeaderMap) -> Result<&str, NoApiKey> {
    let several = |name| headers.get_all(name).iter().nth(1).is_some();
    if several(X_API_KEY) || several(http::header::AUTHORIZATION) {
        return Err(NoApiKey::Several);
    }
    match headers
        .get(X_API_KEY)
        .map(|value| value.to_str().map(str::trim))
    {
        Some(Ok("")) | None => bearer(headers).unwrap_or(Err(NoApiKey::Absent)),
        Some(Ok(key)) => Ok(key),
        Some(Err(_)) => Err(NoApiKey::NotText),
    }
}

/// Why a request presents no API key: see [`api_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoApiKey {
    /// Neither `X-API-Key` nor `Authorization: Bearer` is sent (an
    /// `Authorization` of another scheme, `Basic` say, sends no key).
    Absent,
    /// `X-API-Key`, or `Authorization`, is sent on several lines.
    Several,
    /// `X-API-Key`, or the token of `Authorization: Bearer`, is not text
    /// (it holds bytes past ASCII): a key, but none that can match.
    NotText,
}

/// The API key a request presents, [`api_key`] without the reason when it
/// presents none.
pub fn presented_api_key(headers: &http::HeaderMap) -> Option<&str> {
    api_key(headers).ok()
}

/// When a response was sent, by the server's clock: its `Date`, plus its
/// `Age` when a cache kept it that long (RFC 9111 §4.2.3). The moment an
/// HTTP-date `Retry-After` or a Unix-time reset is measured from (RFC 9110,
/// 10.2.3), so that a client clock running fast or slow waits neither too
/// little nor too long, nor a cached copy's wait too long.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// assert_eq!(tollgate::headers::sent_at(&h), None);
/// h.insert("date", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
/// let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
/// assert_eq!(tollgate::headers::sent_at(&h), Some(at));
/// h.insert("age", "40".parse().unwrap());
/// assert_eq!(tollgate::headers::sent_at(&h), Some(at + Duration::from_secs(40)));
/// ```
pub fn sent_at(headers: &http::HeaderMap) -> Option<std::time::SystemTime> {
    let value = headers.get(http::header::DATE)?.to_str().ok()?;
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        age(headers)
            .and_then(|age| date.checked_add(age))
            .unwrap_or(date),
    )
}

/// An `Age` that is 2³¹ seconds or more is no age a cache measured: RFC 9111
/// §1.2.2 has caches send 2³¹ for one they cannot represent.
const MAX_AGE_SECS: u64 = 1 << 31;

/// The response's `Age` (RFC 9111 §5.1): one field line of delta-seconds
/// under 2³¹; `None` when absent, malformed, repeated or huge.
pub fn age(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    let mut lines = headers.get_all(http::header::AGE).iter();
    let line = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let text = line.as_bytes().trim_ascii();
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs: u64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (secs < MAX_AGE_SECS).then(|| std::time::Duration::from_secs(secs))
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case);
/// `None` also for a token that is not text.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    bearer(headers)?.ok()
}

/// The token of `Authorization: Bearer <token>`, `Err(NotText)` for one
/// that holds bytes past ASCII (a key sent, though none can match), `None`
/// without a bearer token.
fn bearer(headers: &http::HeaderMap) -> Option<Result<&str, NoApiKey>> {
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .as_bytes()
        .trim_ascii();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    // A header value holds no control byte but tab: ASCII is text.
    Some(match std::str::from_utf8(token.trim_ascii()) {
        Ok(token) if token.is_ascii() => Ok(token),
        _ => Err(NoApiKey::NotText),
    })
}

/// Whether a caller-supplied request id may be echoed: 1–128 characters of
/// `[A-Za-z0-9._-]`.
///
/// ```
/// assert!(tollgate::headers::is_valid_request_id("req_01J.abc-9"));
/// assert!(!tollgate::headers::is_valid_request_id(""));
/// assert!(!tollgate::headers::is_valid_request_id("a b"));
/// assert!(!tollgate::headers::is_valid_request_id(&"a".repeat(129)));
/// ```
pub fn is_valid_request_id(id: &str) -> bool {
    is_valid_request_id_bytes(id.as_bytes())
}

/// [`is_valid_request_id`] on a header value's bytes (checked on every request,
/// so by table).
pub fn is_valid_request_id_bytes(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|&b| ID_BYTES[usize::from(b)])
}

/// Which bytes a request id may hold: `[A-Za-z0-9._-]`.
const ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-');
        b += 1;
    }
    table
};

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub(crate) fn traceparent_trace_id(value: &str) -> Option<&str> {
    let mut parts = value.trim().split('-');
    let (_version, trace, _span) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && trace.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_in_any_case() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+JSON",
        ] {
            assert!(is_json_media(ct), "{ct}");
        }
        for ct in ["text/plain", "application/jsonx", "json", "ééé"] {
            assert!(!is_json_media(ct), "{ct}");
        }
    }

    /// `presented_api_key` is the key `api_key` reads, and none wherever
    /// `api_key` says why there is none: a request with no key, or with the
    /// key on several lines.
    #[test]
    fn the_presented_key_is_the_api_key_without_the_reason() {
        let mut h = http::HeaderMap::new();
        assert_eq!(presented_api_key(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer k2".parse().unwrap());
        assert_eq!(presented_api_key(&h), Some("k2"));
        h.insert(X_API_KEY, "k1".parse().unwrap());
        assert_eq!(presented_api_key(&h), Some("k1"));
        h.append(X_API_KEY, "k1".parse().unwrap());
        assert_eq!(api_key(&h), Err(NoApiKey::Several));
        assert_eq!(presented_api_key(&h), None);
    }

    #[test]
    fn the_byte_table_is_the_documented_rule() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
            assert_eq!(is_valid_request_id_bytes(&[b]), expected, "byte {b:#04x}");
        }
        assert!(is_valid_request_id_bytes("a".repeat(128).as_bytes()));
        assert!(!is_valid_request_id_bytes("a".repeat(129).as_bytes()));
    }

    #[test]
    fn rate_limit_items_split_outside_quotes() {
        let found: Vec<_> = RateLimitItem::parse(r#""per-ip";r=999;t=1, "a,b;c";r=5"#)
            .chain(RateLimitItem::parse(
                r#"per-key ; r = 7, ;r=1, "";r=2, "q\"";r=3, ,"#,
            ))
            .chain(RateLimitItem::parse(
                r#"r=0;t=5, "p";note=";r=0;t=60;";r=9;t=1;r=4"#,
            ))
            .map(|i| (i.name, i.param("r"), i.param("t")))
            .collect();
        assert_eq!(
            found,
            [
                ("per-ip", Some(999), Some(1)),
                ("a,b;c", Some(5), None),
                ("per-key", Some(7), None),
                ("", Some(1), None),
                ("", Some(2), None),
                (r#"q\""#, Some(3), None),
                // Without a name; a quoted parameter value; a repeated one.
                ("", Some(0), Some(5)),
                ("p", Some(4), Some(1)),
            ]
        );
    }

    #[test]
    fn a_traceparent_gives_its_trace_id_only_when_valid() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let line = format!(" 00-{id}-00f067aa0ba902b7-01 ");
        assert_eq!(traceparent_trace_id(&line), Some(id));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736",
            "",
        ] {
            assert_eq!(traceparent_trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_backslash_outside_quotes_escapes_nothing() {
        let found: Vec<_> = RateLimitItem::parse(r#"a\,"b";r=1"#)
            .map(|i| (i.name, i.param("r")))
            .collect();
        assert_eq!(found, [(r"a\", None), ("b", Some(1))]);
    }
}
