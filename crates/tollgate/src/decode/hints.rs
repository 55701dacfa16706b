//! Retry hints and codes in the headers of an error response, and the
//! throttling codes that make an error a 429.

use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers;

/// Codes that say a request was throttled, however an API answers them:
/// compared in any case, `_` and `-` left out (`rate_limit_exceeded` is
/// `RateLimitExceeded` and `RATE_LIMIT_EXCEEDED`).
const RATE_LIMIT_CODES: [&str; 20] = [
    // AWS (those its SDKs retry as throttling: the JavaScript SDK's
    // `THROTTLING_ERROR_CODES`).
    "throttling",
    "throttlingexception",
    "throttledexception",
    "requestthrottled",
    "requestthrottledexception",
    "toomanyrequestsexception",
    "requestlimitexceeded",
    "provisionedthroughputexceededexception",
    "bandwidthlimitexceeded",
    "slowdown",
    "ec2throttledexception",
    "limitexceededexception",
    "priorrequestnotcomplete",
    "transactioninprogressexception",
    // Others (Google's legacy `rateLimitExceeded` among them).
    "ratelimitexceeded",
    "userratelimitexceeded",
    "ratelimited",
    "toomanyrequests",
    // Shopify's GraphQL `THROTTLED`.
    "throttled",
    // Seed 002's `RATE_LIMIT_ERROR`.
    "ratelimiterror",
];

/// Codes that say a longer-term quota is spent, a bill or a plan to change
/// rather than a wait (compared as [`RATE_LIMIT_CODES`] are): OpenAI's
/// `insufficient_quota` (a 429), Google's legacy `quotaExceeded` and
/// `dailyLimitExceeded` (403s).
const QUOTA_CODES: [&str; 3] = ["insufficientquota", "quotaexceeded", "dailylimitexceeded"];

/// The length of the longest name of the lists [`is_one_of`] compares with:
/// [`RATE_LIMIT_CODES`], [`QUOTA_CODES`] and
/// [`ONE_ERROR_PARTS`](super::shapes::ONE_ERROR_PARTS).
const LONGEST_KNOWN_CODE: usize = {
    let lists: [&[&str]; 3] = [
        &RATE_LIMIT_CODES,
        &QUOTA_CODES,
        &super::shapes::ONE_ERROR_PARTS,
    ];
    let (mut l, mut longest) = (0, 0);
    while l < lists.len() {
        let mut i = 0;
        while i < lists[l].len() {
            if lists[l][i].len() > longest {
                longest = lists[l][i].len();
            }
            i += 1;
        }
        l += 1;
    }
    longest
};

/// Whether `code` is one of [`RATE_LIMIT_CODES`].
pub(super) fn is_rate_limit_code(code: &str) -> bool {
    is_one_of(code, &RATE_LIMIT_CODES)
}

/// How long GitHub asks a client to wait after a secondary rate limit that
/// says nothing of when to come back: "at least one minute".
pub(super) const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether a message is GitHub's of a secondary rate limit ("You have
/// exceeded a secondary rate limit. Please wait a few minutes…"), in any case.
pub(super) fn is_secondary_rate_limit(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("secondary rate limit")
}

/// Whether `code` is one of [`QUOTA_CODES`].
pub(super) fn is_quota_code(code: &str) -> bool {
    is_one_of(code, &QUOTA_CODES)
}

/// Whether `code`, in any case and without `_` and `-`, is one of `known`
/// (lower-case names of one of the lists [`LONGEST_KNOWN_CODE`] names).
pub(super) fn is_one_of(code: &str, known: &[&str]) -> bool {
    // Folded once, rather than once per known code; folded longer than the
    // longest, it is none of them.
    let mut folded = [0; LONGEST_KNOWN_CODE];
    let mut len = 0;
    for b in code.bytes().filter(|b| !matches!(b, b'_' | b'-')) {
        let Some(slot) = folded.get_mut(len) else {
            return false;
        };
        *slot = b.to_ascii_lowercase();
        len += 1;
    }
    let folded = &folded[..len];
    known.iter().any(|known| known.as_bytes() == folded)
}

/// A `Retry-After` line: one value, or several folded into one line
/// (`120, 120`, two layers each adding the header), when every one is
/// delay-seconds: then the longest, as between lines. An HTTP-date's comma
/// (`Wed, 21 Oct 2015 …`) splits no list: its pieces are no delays.
pub(super) fn retry_after_field(value: &str, now: SystemTime) -> Option<Duration> {
    crate::parse_retry_after(value, now).or_else(|| {
        // Folded values of both forms (`120, Wed, 21 Oct 2015 07:28:00 GMT`):
        // a piece that is no delay may be a date's weekday, joined with the
        // piece after it. Every value must read, or the line says nothing.
        let parts: Vec<&str> = value.split(',').map(str::trim).collect();
        let (mut i, mut longest) = (0, None::<Duration>);
        while i < parts.len() {
            let delay = match crate::retry::seconds(parts[i]) {
                Some(delay) => delay,
                None => {
                    let date = format!("{}, {}", parts[i], parts.get(i + 1)?);
                    i += 1;
                    crate::parse_retry_after(&date, now)?
                }
            };
            longest = Some(longest.map_or(delay, |d| d.max(delay)));
            i += 1;
        }
        longest
    })
}

/// Whether a `*-Remaining` field of `map` says the quota is spent (`0`),
/// when and whether it refills aside.
pub(super) fn quota_spent(map: &HeaderMap) -> bool {
    QUOTA_HEADER_NAMES
        .iter()
        .any(|[remaining, _]| none_left(Headers::text(map.get(remaining))))
}

/// Whether a `*-Remaining` field says none is left: `0`, or `0.0` as Reddit
/// writes it.
fn none_left(remaining: Option<&str>) -> bool {
    remaining.and_then(|t| crate::retry::seconds(t.trim())) == Some(Duration::ZERO)
}

/// How long until a spent rate-limit quota refills; `None` unless a
/// rate-limit field of `map` says the quota is spent (the longest wait when
/// several do).
/// The IETF `RateLimit` field, and OpenAI's and Discord's, are read only
/// when `ietf` (a 429 or 503).
pub(super) fn quota_refill(map: &HeaderMap, now: SystemTime, ietf: bool) -> Option<Duration> {
    let secs = |text: Option<&str>| text.and_then(|t| crate::retry::seconds(t.trim()));
    // One `RateLimit` line per layer (Tollgate's limiter sends them so):
    // every line is read, each on its own (a list item split across lines
    // is not joined), and the longest wait wins. One lookup, as for a
    // single line.
    let mut refill = if ietf {
        map.get_all(headers::RATELIMIT)
            .iter()
            .filter_map(|line| Headers::text(Some(line)))
            .filter_map(ietf_refill)
            .max()
    } else {
        None
    };
    let mut hint = |delay: Option<Duration>| {
        if let Some(delay) = delay {
            refill = Some(refill.map_or(delay, |d| d.max(delay)));
        }
    };
    for names in &QUOTA_HEADER_NAMES {
        let [remaining, reset] = names.each_ref().map(|name| Headers::text(map.get(name)));
        if none_left(remaining) {
            hint(secs(reset).map(|reset| reset_delay(reset, now)));
        }
    }
    // OpenAI's and Discord's fields too, on a 429 or 503 (`ietf`) only:
    // OpenAI sends its counts on every answer, a 403 of another cause too.
    for names in QUOTA_WAIT_HEADER_NAMES.iter().filter(|_| ietf) {
        let [remaining, wait] = names.each_ref().map(|name| Headers::text(map.get(name)));
        if none_left(remaining) {
            hint(wait.and_then(|wait| secs(Some(wait)).or_else(|| go_duration(wait))));
        }
    }
    refill
}

/// A duration as Go writes it, and OpenAI's reset fields with it (`1s`,
/// `6m0s`, `120ms`, `8.64s`, `1h2m3.5s`): numbers, each with a unit of `h`,
/// `m`, `s`, `ms`, `us`, `µs` or `ns`. Written here since the duration
/// crates read other forms (humantime's takes no fractions).
fn go_duration(text: &str) -> Option<Duration> {
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let (mut rest, mut total) = (text, Duration::ZERO);
    while !rest.is_empty() {
        let (number, after) = rest.split_at(rest.find(|c| !is_number(c)).unwrap_or(rest.len()));
        let (unit, after) = after.split_at(after.find(is_number).unwrap_or(after.len()));
        let secs_per_unit = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        let secs = crate::retry::seconds(number)?.as_secs_f64() * secs_per_unit;
        total = total.saturating_add(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
        rest = after;
    }
    (!text.is_empty()).then_some(total)
}

/// The wait a rate-limit reset field asks for: `reset` seconds, or until
/// `reset` as a Unix time when it is one (at least [`UNIX_TIME_FLOOR`]), in
/// milliseconds when it is that large (at least [`UNIX_TIME_MS_FLOOR`]).
fn reset_delay(reset: Duration, now: SystemTime) -> Duration {
    if reset.as_secs() < UNIX_TIME_FLOOR {
        return reset;
    }
    let at = if reset.as_secs() >= UNIX_TIME_MS_FLOOR {
        Duration::from_millis(reset.as_secs())
    } else {
        reset
    };
    // Past what `SystemTime` holds: as far away as a delay can be.
    SystemTime::UNIX_EPOCH
        .checked_add(at)
        .map_or(Duration::from_secs(u64::MAX), |at| {
            at.duration_since(now).unwrap_or(Duration::ZERO)
        })
}

/// When the IETF `RateLimit` field says a quota is spent: the longest `t`
/// (seconds) of its items with `r=0` (`"per-key";r=0;t=7, "per-ip";r=9;t=1`,
/// draft 8 and later), or `reset` when `remaining=0` (`limit=10,
/// remaining=0, reset=7`, earlier drafts: a dictionary, whose last
/// `remaining` and `reset` count, as RFC 8941 reads a key given twice).
fn ietf_refill(field: &str) -> Option<Duration> {
    let items = || headers::RateLimitItem::parse(field);
    let last = |name| items().filter_map(|item| item.param(name)).last();
    if let Some(remaining) = last("remaining") {
        return (remaining == 0)
            .then(|| last("reset"))
            .flatten()
            .map(Duration::from_secs);
    }
    items()
        .filter(|item| item.param("r") == Some(0))
        .filter_map(|item| item.param("t"))
        .max()
        .map(Duration::from_secs)
}

/// The response headers the decoder reads, found in one pass over a small
/// header map (rather than hashing a name for each lookup), or looked up in
/// a large one. Each is the header's first value, as [`HeaderMap::get`]
/// gives it.
pub(super) struct Headers<'h> {
    error_code: Option<&'h HeaderValue>,
    /// AWS's `x-amzn-ErrorType`.
    amzn_error_type: Option<&'h HeaderValue>,
    retry_after: Option<&'h HeaderValue>,
    /// How many `Retry-After` lines there are (only whether more than one
    /// counts).
    pub(super) retry_after_lines: usize,
    content_type: Option<&'h HeaderValue>,
    /// In the order of [`headers::REQUEST_ID_HEADERS`].
    request_ids: [Option<&'h HeaderValue>; headers::REQUEST_ID_HEADERS.len()],
    /// In the order of [`MILLISECOND_HINT_NAMES`].
    millisecond_hints: [Option<&'h HeaderValue>; MILLISECOND_HINT_NAMES.len()],
}

/// The rate-limit fields besides the IETF `RateLimit` field that can say a
/// quota is spent, and when it refills, in pairs of remaining and reset: its
/// earlier drafts' `RateLimit-Remaining` and `RateLimit-Reset`, the common
/// `X-RateLimit-Remaining` and `X-RateLimit-Reset`, and Twitter's
/// hyphenated `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset`.
static QUOTA_HEADER_NAMES: [[HeaderName; 2]; 3] = [
    [headers::RATELIMIT_REMAINING, headers::RATELIMIT_RESET],
    [headers::X_RATELIMIT_REMAINING, headers::X_RATELIMIT_RESET],
    [
        HeaderName::from_static("x-rate-limit-remaining"),
        HeaderName::from_static("x-rate-limit-reset"),
    ],
];

/// Rate-limit fields that say a quota is spent and how long until it
/// refills, in pairs of remaining and wait: OpenAI's per requests and per
/// tokens (`x-ratelimit-reset-tokens: 6m0s`, a Go duration) and Discord's
/// `X-RateLimit-Reset-After` (seconds, `5.250`).
static QUOTA_WAIT_HEADER_NAMES: [[HeaderName; 2]; 3] = [
    [
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderName::from_static("x-ratelimit-reset-requests"),
    ],
    [
        HeaderName::from_static("x-ratelimit-remaining-tokens"),
        HeaderName::from_static("x-ratelimit-reset-tokens"),
    ],
    [
        headers::X_RATELIMIT_REMAINING,
        HeaderName::from_static("x-ratelimit-reset-after"),
    ],
];

/// The fields of [`Headers::millisecond_hint`], as header names, for large
/// header maps.
static MILLISECOND_HINT_NAMES: [HeaderName; 2] = [
    HeaderName::from_static("retry-after-ms"),
    HeaderName::from_static("x-ms-retry-after-ms"),
];

/// An `X-RateLimit-Reset` or `RateLimit-Reset` this large is a Unix time
/// (GitHub's, Twitch's), not seconds to wait: 31 years of seconds.
const UNIX_TIME_FLOOR: u64 = 1_000_000_000;

/// A Unix time this large is in milliseconds (some APIs send resets so):
/// as seconds it would be the year 33658.
const UNIX_TIME_MS_FLOOR: u64 = 1_000_000_000_000;

/// [`headers::REQUEST_ID_HEADERS`] as header names, for large header maps.
pub(super) static REQUEST_ID_HEADER_NAMES: [HeaderName; headers::REQUEST_ID_HEADERS.len()] = [
    headers::X_REQUEST_ID,
    headers::REQUEST_ID,
    HeaderName::from_static("x-amzn-requestid"),
    HeaderName::from_static("x-amz-request-id"),
    HeaderName::from_static("x-ms-request-id"),
    HeaderName::from_static("x-github-request-id"),
    HeaderName::from_static("twilio-request-id"),
    HeaderName::from_static("x-slack-req-id"),
    HeaderName::from_static("paypal-debug-id"),
    HeaderName::from_static("apim-request-id"),
    HeaderName::from_static("x-zendesk-request-id"),
    HeaderName::from_static("audit-id"),
    HeaderName::from_static("x-correlation-id"),
    HeaderName::from_static("cf-ray"),
    HeaderName::from_static("traceparent"),
];

/// `x-amzn-ErrorType`: AWS's error code, as its REST and JSON protocols send it.
const X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// The code of an AWS error type: without the namespace before a `#`
/// (`com.amazonaws.dynamodb.v20120810#ResourceNotFoundException`) or what
/// follows a `:` (`ValidationException:http://internal.amazon.com/…`).
pub(super) fn aws_error_type(text: &str) -> &str {
    let text = text.split(':').next().unwrap_or_default();
    text.rsplit('#').next().unwrap_or_default().trim()
}

/// Up to how many header names one pass over the map beats a lookup per
/// header read.
pub(super) const FEW_HEADERS: usize = 12;

impl<'h> Headers<'h> {
    pub(super) fn read(map: &'h HeaderMap) -> Headers<'h> {
        let mut found = Headers {
            error_code: None,
            amzn_error_type: None,
            retry_after: None,
            retry_after_lines: 0,
            content_type: None,
            request_ids: [None; headers::REQUEST_ID_HEADERS.len()],
            millisecond_hints: [None; MILLISECOND_HINT_NAMES.len()],
        };
        if map.keys_len() > FEW_HEADERS {
            found.error_code = map.get(headers::X_ERROR_CODE);
            found.amzn_error_type = map.get(X_AMZN_ERROR_TYPE);
            found.retry_after = map.get(RETRY_AFTER);
            found.retry_after_lines = map.get_all(RETRY_AFTER).iter().take(2).count();
            found.content_type = map.get(CONTENT_TYPE);
            for (slot, name) in found.request_ids.iter_mut().zip(&REQUEST_ID_HEADER_NAMES) {
                *slot = map.get(name);
            }
            for (slot, name) in found
                .millisecond_hints
                .iter_mut()
                .zip(&MILLISECOND_HINT_NAMES)
            {
                *slot = map.get(name);
            }
            return found;
        }
        for (name, value) in map {
            let slot = match name.as_str() {
                "x-error-code" => &mut found.error_code,
                "x-amzn-errortype" => &mut found.amzn_error_type,
                "retry-after" => {
                    found.retry_after_lines += 1;
                    &mut found.retry_after
                }
                "content-type" => &mut found.content_type,
                "retry-after-ms" => &mut found.millisecond_hints[0],
                "x-ms-retry-after-ms" => &mut found.millisecond_hints[1],
                name => match headers::REQUEST_ID_HEADERS.iter().position(|n| *n == name) {
                    Some(i) => &mut found.request_ids[i],
                    None => continue,
                },
            };
            // The map yields a name's values together, the first first.
            slot.get_or_insert(value);
        }
        found
    }

    /// A header's text, trimmed; `None` when empty or not text.
    pub(super) fn text(value: Option<&'h HeaderValue>) -> Option<&'h str> {
        // Header text is visible ASCII, spaces and tabs: only ASCII to trim.
        value
            .and_then(|v| v.to_str().ok())
            .map(str::trim_ascii)
            .filter(|v| !v.is_empty())
    }

    /// `X-Error-Code`, else the code of AWS's `x-amzn-ErrorType`.
    pub(super) fn error_code(&self) -> Option<&'h str> {
        Self::text(self.error_code).or_else(|| {
            Self::text(self.amzn_error_type)
                .map(aws_error_type)
                .filter(|code| !code.is_empty())
        })
    }

    pub(super) fn retry_after(&self) -> Option<&'h str> {
        Self::text(self.retry_after)
    }

    /// `retry-after-ms` (Azure OpenAI) or `x-ms-retry-after-ms` (Azure): a
    /// wait in milliseconds (`1500`, or `1500.5` as OpenAI's SDK reads it).
    pub(super) fn millisecond_hint(&self) -> Option<Duration> {
        self.millisecond_hints
            .iter()
            .find_map(|value| Self::text(*value))
            .and_then(crate::retry::seconds)
            .map(|thousands| thousands / 1000)
    }

    pub(super) fn content_type(&self) -> Option<&'h str> {
        Self::text(self.content_type)
    }

    /// The first request id the headers carry (`traceparent`'s trace id last).
    pub(super) fn request_id(&self) -> Option<&'h str> {
        // Most responses carry none (or the body's id spared the call):
        // one pass over the slots, cheaper than the search below.
        if self.request_ids.iter().all(Option::is_none) {
            return None;
        }
        let traceparent = self.request_ids.len() - 1;
        self.request_ids.iter().enumerate().find_map(|(i, value)| {
            let value = value.as_ref()?.to_str().ok()?.trim_ascii();
            let id = if i == traceparent {
                headers::traceparent_trace_id(value)?
            } else {
                value
            };
            (!id.is_empty()).then_some(id)
        })
    }
}
