//! When a failed request may be sent again, and how long to wait first.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Whether, and how, a client should retry an error.
///
/// ```
/// use tollgate::RetryClass;
/// assert_eq!(RetryClass::from_status(429), RetryClass::After);
/// assert_eq!(RetryClass::from_status(502), RetryClass::Backoff);
/// assert_eq!(RetryClass::from_status(404), RetryClass::Never);
/// // Statuses outside RFC 9110 that proxies and APIs send: Cloudflare's
/// // 520–527, Anthropic's 529 "overloaded"; and 425 Too Early (RFC 8470).
/// assert_eq!(RetryClass::from_status(529), RetryClass::Backoff);
/// assert_eq!(RetryClass::from_status(425), RetryClass::Backoff);
/// assert_eq!(RetryClass::from_status(501), RetryClass::Never);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryClass {
    /// Fix the request; sending it again cannot succeed.
    Never,
    /// Wait for the server's hint (`Retry-After`), then retry.
    After,
    /// Transient: retry with exponential backoff.
    Backoff,
}

impl RetryClass {
    /// The class an HTTP status implies when nothing more specific is known:
    /// a server error is transient unless its status says the server cannot
    /// do it at all (501 Not Implemented, 505, 506, 508, 510, 511).
    pub fn from_status(status: u16) -> RetryClass {
        match status {
            429 | 503 => RetryClass::After,
            501 | 505 | 506 | 508 | 510 | 511 => RetryClass::Never,
            408 | 425 | 500..=599 => RetryClass::Backoff,
            _ => RetryClass::Never,
        }
    }

    /// The lowercase name, as in catalogs.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryClass::Never => "never",
            RetryClass::After => "after",
            RetryClass::Backoff => "backoff",
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`.
///
/// A date in the past means "now" (zero delay). Anything else is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tollgate::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
///     Some(Duration::from_secs(10))
/// );
/// // Fractions are not in RFC 9110 but are sent; they are read as written.
/// assert_eq!(parse_retry_after("2.5", now), Some(Duration::from_millis(2500)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(delay) = seconds(value) {
        return Some(delay);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A count of seconds written as digits, saturating: a server that asks for
/// more than `u64` seconds is asking for "not in this lifetime", which is not
/// the same as asking nothing.
pub(crate) fn whole_seconds(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().unwrap_or(u64::MAX))
}

/// The longest wait an error is rendered with, in seconds (its
/// `Retry-After` and its body's `retry_after` or `retryDelay`): 10 000
/// years, the longest a protobuf `Duration` holds (google's `retryDelay`),
/// and well within the integers a JavaScript number keeps exactly. A handler
/// that asked for `u64::MAX` seconds is sent this.
pub const MAX_RETRY_AFTER_SECS: u64 = 315_576_000_000;

/// The `Retry-After` delay-seconds for a delay: whole seconds, rounded up, so a
/// client that obeys it never comes back early.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tollgate::retry_after_secs(Duration::from_millis(1001)), 2);
/// assert_eq!(tollgate::retry_after_secs(Duration::from_secs(60)), 60);
/// ```
pub fn retry_after_secs(delay: Duration) -> u64 {
    delay
        .as_secs()
        .saturating_add(u64::from(delay.subsec_nanos() > 0))
}

/// [`retry_after_secs`] as an error is rendered with it: at most
/// [`MAX_RETRY_AFTER_SECS`].
pub(crate) fn sent_wait_secs(delay: Duration) -> u64 {
    retry_after_secs(delay).min(MAX_RETRY_AFTER_SECS)
}

/// Parses a protobuf JSON duration such as google's `RetryInfo.retryDelay`
/// (`"30s"`, `"1.5s"`), saturating as [`seconds`] does.
pub(crate) fn parse_proto_duration(value: &str) -> Option<Duration> {
    seconds(value.strip_suffix('s')?)
}

/// A non-negative count of seconds written as a JSON number (`30`, `1.5`,
/// `1e3`), saturating like [`whole_seconds`]: a delay too long to represent
/// is the longest one, not no delay at all.
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    if let Some(secs) = whole_seconds(text) {
        return Some(Duration::from_secs(secs));
    }
    // From a leading digit on, `f64`'s parser reads no sign, NaN or infinity
    // by name; digits past its range read as infinity.
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_delay_seconds_saturate() {
        let d = parse_retry_after("99999999999999999999999", SystemTime::UNIX_EPOCH);
        assert_eq!(d, Some(Duration::from_secs(u64::MAX)));
    }

    #[test]
    fn past_dates_mean_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let d = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
        assert_eq!(d, Some(Duration::ZERO));
    }

    #[test]
    fn proto_durations() {
        assert_eq!(parse_proto_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_proto_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("-1s"), None);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
        assert_eq!(parse_proto_duration("1e400s"), Some(Duration::MAX));
        assert_eq!(parse_proto_duration("1e30s"), Some(Duration::MAX));
        assert_eq!(parse_proto_duration("NaNs"), None);
        assert_eq!(parse_proto_duration("infs"), None);
        assert_eq!(seconds("1e3"), Some(Duration::from_secs(1000)));
        assert_eq!(seconds("30.5"), Some(Duration::from_millis(30_500)));
        assert_eq!(
            seconds("99999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds(".5"), None);
        assert_eq!(parse_proto_duration("5m"), None);
    }
}
