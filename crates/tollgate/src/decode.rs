//! Reading errors from any server: the ten dialects, the common others, and
//! bodies that are not JSON at all.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{Catalog, Dialect, Kind, RetryClass, Violation, headers};

/// How much of a non-JSON body is kept as the message.
const TEXT_MESSAGE_LIMIT: usize = 200;

/// An error read back from a response of any API.
///
/// ```
/// use std::time::SystemTime;
/// use http::HeaderMap;
/// let body = br#"{"error":{"code":"RATE_LIMIT_ERROR","message":"Rate limit exceeded","details":{}},"request_id":"r1"}"#;
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "30".parse().unwrap());
/// let e = tollgate::decode(429, &headers, body, SystemTime::now());
/// assert_eq!(e.code.as_deref(), Some("RATE_LIMIT_ERROR"));
/// assert_eq!(e.kind, tollgate::Kind::RateLimited);
/// assert_eq!(e.request_id.as_deref(), Some("r1"));
/// assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
/// assert!(e.retryable);
/// assert_eq!(e.dialect, "coded");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Decoded {
    /// The HTTP status (the response's; the body's when that was 0).
    pub status: u16,
    /// The API's own code, verbatim (`RATE_LIMIT_ERROR`, `invalid_key`;
    /// AWS's without its namespace). A status's reason phrase sent as
    /// `error` (NestJS's, Spring's `"Bad Request"`) is none.
    pub code: Option<String>,
    /// The canonical category.
    pub kind: Kind,
    /// The human-readable message.
    pub message: Option<String>,
    /// Extra context the body carried: members whose JSON text comes to
    /// 64 KiB at most (a larger one is left out), so that a hostile body of
    /// huge arrays costs about its size.
    pub details: Map<String, Value>,
    /// Field-level problems: the first thousand (one long field name with
    /// many messages, fewer), so that a hostile body costs about its size.
    pub violations: Vec<Violation>,
    /// The request id, from the body or a request-id header.
    pub request_id: Option<String>,
    /// How long the server asked the client to wait: `Retry-After` (of
    /// several lines, the longest), else Azure's `retry-after-ms` or
    /// `x-ms-retry-after-ms`; failing those, the longest of the body's
    /// hints (`retry_after`, google `RetryInfo`); failing those, when a spent
    /// rate-limit quota refills on a 429 or 503 (`RateLimit` with `r=0`,
    /// every line of it counting; `RateLimit-Remaining: 0` with
    /// `RateLimit-Reset`; `X-RateLimit-Remaining: 0` with
    /// `X-RateLimit-Reset`, or `X-Rate-Limit-*` alike; either reset in
    /// seconds or as a Unix time), and
    /// on a 403 by all of these but the `RateLimit` field, whose `r=0` is
    /// also sent on the call that spent the last of a quota.
    #[serde(rename = "retry_after_secs", serialize_with = "as_secs")]
    pub retry_after: Option<Duration>,
    /// Whether and how to retry: the catalog entry's class when the code is
    /// known (and its status matches), else the status's (a 403 with
    /// `Retry-After` or a spent rate-limit quota counts as a 429, and so does
    /// a 400, 403 or 503 with a throttling code: AWS's `ThrottlingException`,
    /// S3's `SlowDown`, `rate_limit_exceeded`).
    pub retry: RetryClass,
    /// Whether sending the request again may succeed (`retry` is not `never`).
    pub retryable: bool,
    /// The shape recognised: a dialect name, or `azure`, `aws`, `paypal`,
    /// `heroku`, `plain`, `message`, `errors`, `json`, `xml`, `html`,
    /// `text`, `empty`.
    pub dialect: &'static str,
    /// The catalog entry the code was found to be (its catalog code), when
    /// its status agrees: what `kind` and `retry` were taken from. Found
    /// in the dialect the body is in, where two entries write one code in
    /// different dialects.
    #[serde(skip)]
    pub catalog_code: Option<String>,
    #[serde(skip)]
    pub(crate) body_status: Option<u16>,
    /// The JSON text read into `details` so far (see [`MAX_DETAILS_TEXT`]).
    #[serde(skip)]
    pub(crate) details_text: usize,
}

fn as_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// How many violations are read from one body: a hostile body of thousands
/// of tiny items would otherwise cost far more memory than its size.
pub(crate) const MAX_VIOLATIONS: usize = 1000;

/// How much of a body's JSON text is read into details: parsed, an array of
/// small numbers costs some thirty times its text, a value per item.
pub(crate) const MAX_DETAILS_TEXT: usize = 64 * 1024;

impl Decoded {
    /// Nothing read yet of a response with `status` and `code` (its
    /// `X-Error-Code`).
    fn blank(status: u16, code: Option<String>) -> Decoded {
        Decoded {
            status,
            code,
            kind: Kind::Internal,
            message: None,
            details: Map::new(),
            violations: Vec::new(),
            request_id: None,
            retry_after: None,
            retry: RetryClass::Never,
            retryable: false,
            dialect: "json",
            catalog_code: None,
            body_status: None,
            details_text: 0,
        }
    }

    /// Adds a detail read from `raw`, unless it would take the details past
    /// [`MAX_DETAILS_TEXT`] (then it is left out, and later smaller ones
    /// may still fit).
    pub(crate) fn add_detail(&mut self, key: &str, raw: Raw<'_>) {
        let text = raw.get().len();
        if self.details_text + text > MAX_DETAILS_TEXT {
            return;
        }
        if let Some(value) = raw.value() {
            self.details_text += text;
            self.details.insert(key.to_owned(), value);
        }
    }

    /// How many more violations are read (see [`MAX_VIOLATIONS`]).
    pub(crate) fn violation_room(&self) -> usize {
        MAX_VIOLATIONS.saturating_sub(self.violations.len())
    }

    /// Sets the code when `code` is one (keeps `X-Error-Code`'s otherwise).
    pub(crate) fn set_code<S: AsRef<str> + Into<String>>(&mut self, code: Option<S>) {
        // The body usually repeats `X-Error-Code`: then there is nothing to copy.
        if let Some(code) = code {
            if self.code.as_deref() != Some(code.as_ref()) {
                self.code = Some(code.into());
            }
        }
    }

    /// Records a retry hint of the body; the longest one wins, so nobody
    /// retries early. (The headers' hint, read after the body, replaces them
    /// all: see [`Catalog::decode`].)
    pub(crate) fn hint_retry(&mut self, delay: Option<Duration>) {
        if let Some(delay) = delay {
            self.retry_after = Some(self.retry_after.map_or(delay, |d| d.max(delay)));
        }
    }
}

/// Decodes an error response from any API, with the built-in catalog's
/// knowledge of codes. Never panics, whatever the bytes.
///
/// `status` 0 means unknown: the body's status is used, if it has one.
pub fn decode(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Decoded {
    Catalog::builtin_ref().decode(status, headers, body, now)
}

impl Catalog {
    /// Decodes an error response, resolving codes (and aliases) through this
    /// catalog for their kind and retry advice. Never panics.
    pub fn decode(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Decoded {
        let fields = Headers::read(headers);
        let mut out = Decoded::blank(status, fields.error_code().map(str::to_owned));
        let dialect = read_body(body, &fields, self, &mut out);
        if out.status == 0 {
            out.status = out.body_status.unwrap_or(0);
        }
        if out.request_id.is_none() {
            out.request_id = fields.request_id().map(str::to_owned);
        }
        // Several `Retry-After` lines (two layers each adding one): the
        // longest wait wins, as between the body's hints.
        let asked = if fields.retry_after_lines > 1 {
            headers
                .get_all(RETRY_AFTER)
                .iter()
                .filter_map(|value| Headers::text(Some(value)))
                .filter_map(|value| retry_after_field(value, now))
                .max()
        } else {
            fields
                .retry_after()
                .and_then(|value| retry_after_field(value, now))
        };
        // `Retry-After` is HTTP's own answer to when to come back (RFC 9110,
        // 10.2.3): it decides over the body's hints, which count only where
        // the headers say nothing, so that one absurd value in a body does
        // not outweigh it. Azure's and OpenAI's hints in milliseconds are
        // the headers' too, where `Retry-After` says nothing.
        if let Some(delay) = asked.or_else(|| millisecond_hint(headers)) {
            out.retry_after = Some(delay);
        }
        // Only a refusal or an overload can mean a spent quota: other
        // answers skip the lookups.
        let quota_refill = match out.status {
            429 | 503 => quota_refill(headers, now, true),
            // The IETF field's `r=0` is also sent on the call that spent the
            // last of a quota, which a 403 may refuse for another reason: on
            // a 403 only the `*-Remaining: 0` fields (GitHub's) count.
            403 => quota_refill(headers, now, false),
            _ => None,
        };
        // `Retry-After` (or the body's hint) is the server's answer to when
        // the next call fits, so it takes precedence; a quota's refill is
        // when all of it is back, a later time under a GCRA: the fallback.
        if out.retry_after.is_none() {
            out.hint_retry(quota_refill);
        }
        let def = out
            .code
            .as_deref()
            .and_then(|code| self.find_wire_code_in(code, dialect));
        // A code is trusted for its kind and retry advice when the status agrees,
        // or when there is no error status to disagree (0, or a 2xx envelope
        // with `"success": false`).
        let def = def.filter(|d| d.status() == out.status || out.status < 400);
        out.catalog_code = def.map(|def| def.code().to_owned());
        let (kind, retry) = match def {
            Some(def) => (def.kind(), def.retry()),
            // A 403 that asks to be retried later, or whose rate-limit fields
            // say the quota is spent, is a rate limit (GitHub answers so).
            None if out.status == 403
                && (asked.is_some() || quota_refill.is_some() || quota_spent(headers)) =>
            {
                (Kind::RateLimited, RetryClass::After)
            }
            // So is a throttling code on a 400, 403 or 503 (AWS's
            // `ThrottlingException`, S3's `SlowDown`).
            None if matches!(out.status, 400 | 403 | 503)
                && out.code.as_deref().is_some_and(is_rate_limit_code) =>
            {
                (Kind::RateLimited, RetryClass::After)
            }
            None => (
                Kind::from_status(out.status),
                RetryClass::from_status(out.status),
            ),
        };
        out.kind = kind;
        out.retry = retry;
        out.retryable = retry != RetryClass::Never;
        out
    }
}

/// Codes that say a request was throttled, however an API answers them:
/// compared in any case, `_` and `-` left out (`rate_limit_exceeded` is
/// `RateLimitExceeded` and `RATE_LIMIT_EXCEEDED`).
const RATE_LIMIT_CODES: [&str; 14] = [
    // AWS (those its SDKs retry as throttling).
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
    // Others (Google's legacy `rateLimitExceeded` among them).
    "ratelimitexceeded",
    "userratelimitexceeded",
    "ratelimited",
    "toomanyrequests",
];

/// Whether `code` is one of [`RATE_LIMIT_CODES`].
fn is_rate_limit_code(code: &str) -> bool {
    let folded = || {
        code.bytes()
            .filter(|b| !matches!(b, b'_' | b'-'))
            .map(|b| b.to_ascii_lowercase())
    };
    RATE_LIMIT_CODES
        .iter()
        .any(|known| folded().eq(known.bytes()))
}

/// A `Retry-After` line: one value, or several folded into one line
/// (`120, 120`, two layers each adding the header), when every one is
/// delay-seconds: then the longest, as between lines. An HTTP-date's comma
/// (`Wed, 21 Oct 2015 …`) splits no list: its pieces are no delays.
fn retry_after_field(value: &str, now: SystemTime) -> Option<Duration> {
    crate::parse_retry_after(value, now).or_else(|| {
        value
            .split(',')
            .map(|part| crate::retry::seconds(part.trim()))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    })
}

/// Whether a `*-Remaining` field of `map` says the quota is spent (`0`),
/// when and whether it refills aside.
fn quota_spent(map: &HeaderMap) -> bool {
    QUOTA_HEADER_NAMES.iter().any(|[remaining, _]| {
        Headers::text(map.get(remaining)).and_then(crate::retry::whole_seconds) == Some(0)
    })
}

/// How long until a spent rate-limit quota refills; `None` unless a
/// rate-limit field of `map` says the quota is spent (the longest wait when
/// several do).
/// The IETF `RateLimit` field is read only when `ietf`.
fn quota_refill(map: &HeaderMap, now: SystemTime, ietf: bool) -> Option<Duration> {
    let secs = |text: Option<&str>| text.and_then(|t| crate::retry::whole_seconds(t.trim()));
    let spent = |remaining: Option<&str>| secs(remaining) == Some(0);
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
        if spent(remaining) {
            hint(secs(reset).map(|reset| reset_delay(reset, now)));
        }
    }
    refill
}

/// `retry-after-ms` (Azure OpenAI) or `x-ms-retry-after-ms` (Azure): a
/// wait in whole milliseconds.
fn millisecond_hint(map: &HeaderMap) -> Option<Duration> {
    ["retry-after-ms", "x-ms-retry-after-ms"]
        .into_iter()
        .find_map(|name| Headers::text(map.get(name)))
        .and_then(crate::retry::whole_seconds)
        .map(Duration::from_millis)
}

/// The wait a rate-limit reset field asks for: `reset` seconds, or until
/// `reset` as a Unix time when it is one (at least [`UNIX_TIME_FLOOR`]), in
/// milliseconds when it is that large (at least [`UNIX_TIME_MS_FLOOR`]).
fn reset_delay(reset: u64, now: SystemTime) -> Duration {
    if reset < UNIX_TIME_FLOOR {
        return Duration::from_secs(reset);
    }
    let at = if reset >= UNIX_TIME_MS_FLOOR {
        Duration::from_millis(reset)
    } else {
        Duration::from_secs(reset)
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
struct Headers<'h> {
    error_code: Option<&'h HeaderValue>,
    /// AWS's `x-amzn-ErrorType`.
    amzn_error_type: Option<&'h HeaderValue>,
    retry_after: Option<&'h HeaderValue>,
    /// How many `Retry-After` lines there are (only whether more than one
    /// counts).
    retry_after_lines: usize,
    content_type: Option<&'h HeaderValue>,
    /// In the order of [`headers::REQUEST_ID_HEADERS`].
    request_ids: [Option<&'h HeaderValue>; headers::REQUEST_ID_HEADERS.len()],
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

/// An `X-RateLimit-Reset` or `RateLimit-Reset` this large is a Unix time
/// (GitHub's, Twitch's), not seconds to wait: 31 years of seconds.
const UNIX_TIME_FLOOR: u64 = 1_000_000_000;

/// A Unix time this large is in milliseconds (some APIs send resets so):
/// as seconds it would be the year 33658.
const UNIX_TIME_MS_FLOOR: u64 = 1_000_000_000_000;

/// [`headers::REQUEST_ID_HEADERS`] as header names, for large header maps.
static REQUEST_ID_HEADER_NAMES: [HeaderName; headers::REQUEST_ID_HEADERS.len()] = [
    headers::X_REQUEST_ID,
    headers::REQUEST_ID,
    HeaderName::from_static("x-amzn-requestid"),
    HeaderName::from_static("x-amz-request-id"),
    HeaderName::from_static("x-ms-request-id"),
    HeaderName::from_static("x-github-request-id"),
    HeaderName::from_static("x-correlation-id"),
    HeaderName::from_static("cf-ray"),
    HeaderName::from_static("traceparent"),
];

/// `x-amzn-ErrorType`: AWS's error code, as its REST and JSON protocols send it.
const X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// The code of an AWS error type: without the namespace before a `#`
/// (`com.amazonaws.dynamodb.v20120810#ResourceNotFoundException`) or what
/// follows a `:` (`ValidationException:http://internal.amazon.com/…`).
fn aws_error_type(text: &str) -> &str {
    let text = text.split(':').next().unwrap_or_default();
    text.rsplit('#').next().unwrap_or_default().trim()
}

/// Up to how many header names one pass over the map beats a lookup per
/// header read.
const FEW_HEADERS: usize = 12;

impl<'h> Headers<'h> {
    fn read(map: &'h HeaderMap) -> Headers<'h> {
        let mut found = Headers {
            error_code: None,
            amzn_error_type: None,
            retry_after: None,
            retry_after_lines: 0,
            content_type: None,
            request_ids: [None; headers::REQUEST_ID_HEADERS.len()],
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
    fn text(value: Option<&'h HeaderValue>) -> Option<&'h str> {
        // Header text is visible ASCII, spaces and tabs: only ASCII to trim.
        value
            .and_then(|v| v.to_str().ok())
            .map(str::trim_ascii)
            .filter(|v| !v.is_empty())
    }

    /// `X-Error-Code`, else the code of AWS's `x-amzn-ErrorType`.
    fn error_code(&self) -> Option<&'h str> {
        Self::text(self.error_code).or_else(|| {
            Self::text(self.amzn_error_type)
                .map(aws_error_type)
                .filter(|code| !code.is_empty())
        })
    }

    fn retry_after(&self) -> Option<&'h str> {
        Self::text(self.retry_after)
    }

    fn content_type(&self) -> Option<&'h str> {
        Self::text(self.content_type)
    }

    /// The first request id the headers carry (`traceparent`'s trace id last).
    fn request_id(&self) -> Option<&'h str> {
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

/// Reads a JSON object into `out`: `Some` with its Tollgate dialect, if any;
/// `None` when `json` is no object. A key holding a lone surrogate escape
/// (`"x\ud800"`), which `serde_json` refuses in keys though it lets values
/// through, does not hide the rest: the object is read again with every
/// surrogate escape replaced.
fn read_json_object(json: &str, catalog: &Catalog, out: &mut Decoded) -> Option<Option<Dialect>> {
    if let Some(obj) = Tape::new(json).parse() {
        return Some(read_object(&obj, catalog, out));
    }
    let replaced = without_surrogate_escapes(json, false)?;
    let tape = Tape::new(&replaced);
    let obj = tape.parse()?;
    Some(read_object(&obj, catalog, out))
}

/// [`read_json_object`]; failing that, when the content type says JSON, the
/// same on the first value of a body with more text after it (a proxy's
/// trailer, a second value).
fn read_json_body(
    json: &str,
    json_media: bool,
    catalog: &Catalog,
    out: &mut Decoded,
) -> Option<Option<Dialect>> {
    if read_json_array(json, out) {
        return Some(None);
    }
    read_json_object(json, catalog, out).or_else(|| {
        if !json_media || !json.starts_with('{') {
            return None;
        }
        let mut values = serde_json::Deserializer::from_str(json).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        let first = json.get(..values.byte_offset())?;
        (first.len() < json.len())
            .then(|| read_json_object(first, catalog, out))
            .flatten()
    })
}

/// Reads a body that is a JSON array of errors (Salesforce's
/// `[{"message","errorCode","fields"}]`) or of messages (`["…"]`) as the
/// `errors` of `{"errors":[…]}` are ([`read_errors`]); `false`, reading
/// nothing, when `json` is no such array (empty, or its first item neither
/// an object nor a string). A lone surrogate escape in a key is replaced,
/// as [`read_json_object`] does.
fn read_json_array(json: &str, out: &mut Decoded) -> bool {
    fn read(wrapped: &str, out: &mut Decoded) -> Option<()> {
        let tape = Tape::new(wrapped);
        let obj = tape.parse()?;
        let errors = obj.raw("errors")?.array_up_to(MAX_ERROR_ITEMS)?;
        let first = errors.first()?;
        if !matches!(first.json_type(), Some(Json::Object | Json::String)) {
            return None;
        }
        let parsed = Parsed {
            error: None,
            first_error: first.obj(),
            errors,
        };
        read_errors(&obj, parsed, out);
        out.dialect = "errors";
        Some(())
    }
    if !json.starts_with('[') {
        return false;
    }
    let wrapped = format!("{{\"errors\":{json}}}");
    read(&wrapped, out)
        .or_else(|| read(&without_surrogate_escapes(&wrapped, false)?, out))
        .is_some()
}

/// `json` with each `\uD800`–`\uDFFF` escape written as `\uFFFD`;
/// `None` when it has none. With `keep_pairs`, only lone ones are: a high
/// surrogate's escape followed by a low one's stays (an emoji). Without,
/// pairs are replaced too: for bodies that did not parse, where a readable
/// code matters more than an emoji.
fn without_surrogate_escapes(json: &str, keep_pairs: bool) -> Option<String> {
    let bytes = json.as_bytes();
    // `Some(true)` for a high surrogate's escape at `at`, `Some(false)` for
    // a low one's.
    let surrogate = |at: usize| {
        bytes.get(at..at + 6).and_then(|e| {
            let digit = e[3].to_ascii_lowercase();
            let found = e[0] == b'\\'
                && e[1] == b'u'
                && e[2].eq_ignore_ascii_case(&b'd')
                && matches!(digit, b'8'..=b'9' | b'a'..=b'f')
                && e[4..].iter().all(u8::is_ascii_hexdigit);
            found.then_some(matches!(digit, b'8'..=b'b'))
        })
    };
    let mut out = String::with_capacity(json.len());
    let (mut copied, mut at, mut found) = (0, 0, false);
    // Bytes, not `str` slices: `at` may fall inside a character after a
    // stray backslash; slices are taken only at backslashes and after ASCII.
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'\\') {
        let escape = at + offset;
        match surrogate(escape) {
            Some(true) if keep_pairs && surrogate(escape + 6) == Some(false) => {
                at = escape + 12;
            }
            Some(_) => {
                out.push_str(&json[copied..escape]);
                out.push_str("\\uFFFD");
                found = true;
                copied = escape + 6;
                at = copied;
            }
            // Any other escape is two characters (`\\` among them), so the
            // next backslash starts an escape of its own.
            None => at = escape + 2,
        }
        if at >= json.len() {
            break;
        }
    }
    out.push_str(&json[copied..]);
    found.then_some(out)
}

/// The message of a body whose message a lone surrogate escape kept from
/// being read (`"cut \ud83d"`, JavaScript cutting an emoji in two): the
/// body is read again with each lone one written as `\uFFFD`, and only its
/// message taken, as a message that is not UTF-8 is kept with U+FFFD. Codes,
/// ids and details holding one stay unread, as any member no `String` can
/// hold does.
fn read_cut_message(json: &str, json_media: bool, catalog: &Catalog, out: &mut Decoded) {
    if out.message.is_some() {
        return;
    }
    let Some(replaced) = without_surrogate_escapes(json, true) else {
        return;
    };
    let mut again = Decoded::blank(out.status, None);
    if read_json_body(&replaced, json_media, catalog, &mut again).is_some()
        && again.dialect == out.dialect
    {
        out.message = again.message;
    }
}

/// Reads the body into `out`; the Tollgate dialect it is in, if any.
fn read_body(
    body: &[u8],
    headers: &Headers<'_>,
    catalog: &Catalog,
    out: &mut Decoded,
) -> Option<Dialect> {
    let trimmed = body
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(body)
        .trim_ascii();
    // Google's and Angular's guard against cross-site script inclusion,
    // `)]}'` (or `)]}',`) on a line before the JSON.
    let trimmed = match trimmed.strip_prefix(b")]}'") {
        Some(rest) => rest.strip_prefix(b",").unwrap_or(rest).trim_ascii_start(),
        None => trimmed,
    };
    if trimmed.is_empty() {
        out.dialect = "empty";
        return None;
    }
    let content_type = headers.content_type().unwrap_or_default();
    let json_media = headers::is_json_media(content_type);
    let is_json = match std::str::from_utf8(trimmed) {
        Ok(json) => {
            if let Some(dialect) = read_json_body(json, json_media, catalog, out) {
                read_cut_message(json, json_media, catalog, out);
                return dialect;
            }
            serde_json::from_str::<IgnoredAny>(json).is_ok()
        }
        // A string that is not UTF-8 (a message in Latin-1, say) does not
        // hide the rest: read with it replaced.
        Err(_) => {
            let text = String::from_utf8_lossy(trimmed);
            if let Some(dialect) = read_json_body(&text, json_media, catalog, out) {
                read_cut_message(&text, json_media, catalog, out);
                return dialect;
            }
            // `serde_json` skips strings without checking them.
            serde_json::from_slice::<IgnoredAny>(trimmed).is_ok()
        }
    };
    let text = String::from_utf8_lossy(trimmed);
    if is_json {
        out.dialect = "json";
        // A body that is one string (Gin's `c.JSON(400, "invalid id")`) is
        // the message, kept as a text body's is.
        let string = |text: &str| serde_json::from_str::<String>(text).ok();
        out.message = string(&text)
            .or_else(|| string(&without_surrogate_escapes(&text, true)?))
            .filter(|m| !is_blank(m))
            .map(|m| truncate(m.trim()));
        return None;
    }
    // Media types are case-insensitive (RFC 9110, 8.3.1).
    let media = content_type.to_ascii_lowercase();
    // Markup starts with a tag; text without one is text, whatever its
    // label (Express sends `res.send("Something broke!")` as `text/html`).
    let markup = trimmed.starts_with(b"<");
    // AWS's `<ErrorResponse>` and S3's `<Error>` come without a prolog or
    // an XML content type too.
    let is_xml = trimmed.starts_with(b"<?xml")
        || (markup && media.contains("xml") && !media.contains("html"))
        || (trimmed.starts_with(b"<Error") && !media.contains("html"));
    let is_html = markup;
    if is_xml {
        // S3's and Azure Storage's `<Error><Code>…</Code><Message>…`, AWS's
        // `<ErrorResponse><Error><Code>…`: found by searching for the first
        // element of each name rather than by an XML parser, as these small
        // documents hold each name once; three elements do not warrant a
        // dependency.
        out.dialect = "xml";
        out.set_code(xml_element(&text, "Code"));
        out.message = xml_element(&text, "Message").map(|m| truncate(&m));
        // EC2's query API writes `RequestID`.
        let id = xml_element(&text, "RequestId").or_else(|| xml_element(&text, "RequestID"));
        if let Some(id) = id {
            out.request_id = Some(id);
        }
    } else if is_html {
        out.dialect = "html";
        out.message = html_title(&text)
            .map(decode_references)
            .map(|t| truncate(t.trim()))
            .filter(|t| !t.is_empty());
    } else {
        out.dialect = "text";
        out.message = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(truncate);
    }
    None
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(TEXT_MESSAGE_LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The text of the first `<name>…</name>` element of an XML body, its
/// references decoded ([`decode_references`]).
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let text = xml[start..end].trim();
    (!text.is_empty()).then(|| decode_references(text).into_owned())
}

/// How many bytes after a `&` are searched for the `;` that ends a
/// reference (`#x10FFFF`, the longest but for leading zeros, takes 8): a `&`
/// with none soon after is text, so that a page of them is read in linear
/// time.
const REFERENCE_MAX: usize = 16;

/// `text` with its character references decoded, each once (`&amp;lt;` is
/// `&lt;`): XML's predefined entities (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
/// `&apos;`, HTML's too) and numeric references (`&#39;`, `&#x27;`). What
/// is no reference to a character (an unknown name, `&#0;`, a surrogate, a
/// lone `&`) stays as written.
///
/// Written here rather than taken from an HTML crate: the core depends on
/// serde, serde_json and http alone, and an error page's title or an XML
/// error's text needs no more than these references.
fn decode_references(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let reference = after
            .bytes()
            .take(REFERENCE_MAX)
            .position(|b| b == b';')
            .and_then(|end| Some((reference_char(after.get(..end)?)?, end)));
        match reference {
            Some((c, end)) => {
                out.push(c);
                rest = after.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a reference between `&` and `;` stands for, if any.
fn reference_char(name: &str) -> Option<char> {
    let number = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => name.strip_prefix('#')?,
    };
    let (digits, radix) = match number.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // `from_str_radix` would take a sign too.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(code).filter(|&c| c != '\0')
}

/// The text of the first `<title>` or `<h1>` of an HTML page, as written
/// (its references not yet decoded).
fn html_title(html: &str) -> Option<&str> {
    let lower = html.to_ascii_lowercase();
    ["title", "h1"].iter().find_map(|tag| {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find(&format!("</{tag}"))?;
        let text = html.get(start..end)?.trim();
        (!text.is_empty()).then_some(text)
    })
}

/// Recognises the shape of a JSON object body and reads it; the Tollgate
/// dialect it is in, if any.
fn read_object(obj: &Obj<'_>, catalog: &Catalog, out: &mut Decoded) -> Option<Dialect> {
    let (shape, parsed) = detect(obj, out.status);
    let dialect = match shape {
        Shape::Dialect(d) => {
            d.decode(obj, parsed, catalog, out);
            out.dialect = d.name();
            Some(d)
        }
        Shape::Other(name, read) => {
            read(obj, parsed, out);
            out.dialect = name;
            None
        }
    };
    // Where most shapes keep it (their readers leave it to this). A blank
    // id is none, so that the next place to hold one counts.
    if out.request_id.as_deref().is_none_or(is_blank) {
        out.request_id = top_level_request_id(obj).map(Cow::into_owned);
    }
    // Where most shapes keep it too (Discord's `{"message","retry_after"}`);
    // a shape that read it already gives the same hint again.
    out.hint_retry(obj.seconds("retry_after"));
    dialect
}

/// Whether `text` is only the reason phrase of `status`, as NestJS,
/// Fastify and Spring send it as `error` (`"Bad Request"` on a 400): then it
/// is no code. Several words in any case (`Not found`); one word only as the
/// phrase writes it (`Forbidden`), since written otherwise it is a code
/// (`FORBIDDEN`, `conflict`).
pub(crate) fn is_reason_phrase(text: &str, status: u16) -> bool {
    let phrase = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason());
    phrase.is_some_and(|phrase| {
        phrase == text || (phrase.contains(' ') && phrase.eq_ignore_ascii_case(text))
    })
}

/// Whether an id is empty or only spaces: no id at all.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// `request_id`, else `requestId`: the last member of either name, found in
/// one pass, when it is an id ([`Raw::id`]).
fn top_level_request_id<'t>(obj: &Obj<'t>) -> Option<Cow<'t, str>> {
    let (mut snake, mut camel) = (None, None);
    for (key, raw) in obj.members.iter().rev() {
        match key.as_ref() {
            "request_id" if snake.is_none() => snake = Some(*raw),
            "requestId" if camel.is_none() => camel = Some(*raw),
            _ => {}
        }
    }
    snake.and_then(Raw::id).or_else(|| camel.and_then(Raw::id))
}

enum Shape {
    Dialect(Dialect),
    Other(&'static str, ReadFn),
}

/// Reads a shape from the body and the members detection parsed.
type ReadFn = fn(&Obj<'_>, Parsed<'_>, &mut Decoded);

/// How many items of a body's `errors` list are read: a hostile body of
/// thousands of tiny items would otherwise cost far more memory than its
/// size, each item read into an object of its own.
const MAX_ERROR_ITEMS: usize = 1000;

/// Members of a body that telling its shape took parsing: handed to the
/// reader so that it does not parse them again.
#[derive(Default)]
pub(crate) struct Parsed<'a> {
    /// `error`, when it is an object.
    pub(crate) error: Option<Obj<'a>>,
    /// The items of `errors`, when it is an array.
    pub(crate) errors: Vec<Raw<'a>>,
    /// The first of `errors`, when it is an object.
    pub(crate) first_error: Option<Obj<'a>>,
}

/// The shape of `obj`, sent with `status`, and what telling it took parsing.
fn detect<'a>(obj: &Obj<'a>, status: u16) -> (Shape, Parsed<'a>) {
    use Json::*;
    // Problem details carry their extensions at the top level, where a detail
    // named `error` or `success` would look like another shape: the full
    // signature (string `type` and `title`, numeric `status`) wins first.
    if obj.json_type("type") == Some(String)
        && obj.json_type("title") == Some(String)
        && obj.json_type("status") == Some(Number)
    {
        return (Shape::Dialect(Dialect::Problem), Parsed::default());
    }
    let mut parsed = Parsed {
        error: obj.obj("error"),
        ..Parsed::default()
    };
    let shape = match &parsed.error {
        Some(error) => detect_nested(obj, error),
        None => detect_flat(obj, status, &mut parsed),
    };
    (shape, parsed)
}

/// The shape of a body whose `error` is an object.
fn detect_nested(obj: &Obj<'_>, error: &Obj<'_>) -> Shape {
    use Json::*;
    if error.json_type("code") == Some(Number) {
        // Google's legacy `errors[]` (Calendar's, Drive's) may come without
        // `status`; seed 000's error has no `errors`.
        let google = error.json_type("status") == Some(String)
            || error.json_type("details") == Some(Array)
            || error.json_type("errors") == Some(Array);
        // Facebook's Graph API numbers its errors (`190`, no status) and
        // names them by `type`, as Stripe does; seed 000's never have one.
        let named = error.json_type("type") == Some(String);
        Shape::Dialect(if google {
            Dialect::Google
        } else if named {
            Dialect::Stripe
        } else {
            Dialect::StatusCode
        })
    } else if obj.has("meta") {
        Shape::Dialect(Dialect::Meta)
    } else if error.json_type("type") == Some(String) {
        Shape::Dialect(Dialect::Stripe)
    } else if error.has("target")
        || error.has("innererror")
        || error.json_type("details") == Some(Array)
    {
        Shape::Other("azure", read_azure)
    } else {
        Shape::Dialect(Dialect::Coded)
    }
}

/// The shape of a body without an `error` object, sent with `status`.
fn detect_flat<'a>(obj: &Obj<'a>, status: u16, parsed: &mut Parsed<'a>) -> Shape {
    use Json::*;
    if obj.json_type("error") == Some(String) {
        return if obj.has("message") {
            Shape::Dialect(Dialect::Flat)
        } else {
            Shape::Other("plain", read_plain)
        };
    }
    if obj.json_type("success") == Some(Bool) && envelope_errors(obj) {
        return Shape::Dialect(Dialect::Envelope);
    }
    if (obj.json_type("type") == Some(String) || obj.json_type("title") == Some(String))
        && (obj.has("status") || obj.has("detail") || obj.has("title"))
    {
        return Shape::Dialect(Dialect::Problem);
    }
    if let Some(errors) = obj
        .raw("errors")
        .and_then(|errors| errors.array_up_to(MAX_ERROR_ITEMS))
    {
        parsed.first_error = errors.first().and_then(|f| f.obj());
        parsed.errors = errors;
        let jsonapi = parsed.first_error.as_ref().is_some_and(|f| {
            ["status", "title", "detail", "source", "id", "links"]
                .iter()
                .any(|k| f.has(k))
        });
        return if jsonapi {
            Shape::Dialect(Dialect::Jsonapi)
        } else {
            Shape::Other("errors", read_errors)
        };
    }
    if obj.json_type("errorMessages") == Some(Array) {
        return Shape::Other("errors", read_error_messages);
    }
    if obj
        .obj("errors")
        .is_some_and(|errors| is_field_map(&errors))
    {
        return Shape::Other("errors", read_errors_by_field);
    }
    if obj.has("detail") {
        return Shape::Dialect(Dialect::Detail);
    }
    if obj.json_type("__type") == Some(String) {
        return Shape::Other("aws", read_aws);
    }
    if obj.json_type("message") == Some(String) {
        if obj.json_type("name") == Some(String) && obj.json_type("debug_id") == Some(String) {
            return Shape::Other("paypal", read_paypal);
        }
        if is_heroku(obj) {
            return Shape::Other("heroku", read_heroku);
        }
        return Shape::Other("message", read_message);
    }
    if obj.json_type("errors") == Some(String) {
        return Shape::Other("errors", read_errors_text);
    }
    if matches!(status, 400 | 422) && is_field_map(obj) {
        return Shape::Other("errors", read_field_map);
    }
    Shape::Other("json", |obj, _, out| read_top_level_code(obj, out))
}

/// Whether every member of an object is a field's messages, a non-empty
/// array of strings, as Laravel and Rails write their `errors`, and Django
/// REST Framework a whole 400 (`{"email":["This field is required."]}`).
fn is_field_map(obj: &Obj<'_>) -> bool {
    let is_string = |item: Raw<'_>| item.json_type() == Some(Json::String);
    !obj.members.is_empty()
        && obj.members().all(|(_, raw)| {
            raw.items().is_some_and(|mut items| {
                items.next().is_some_and(is_string) && items.all(is_string)
            })
        })
}

/// Whether the `errors` of a body with `success` are seed 004's (or it has
/// none): objects mapping codes or fields to their messages
/// (`[{"invalid_key":["Not authenticated"]}]`). Cloudflare's and GraphQL's
/// `[{"code":1003,"message":"…"}]`, whose `code` and `message` describe one
/// error rather than list a field's messages, and a list of strings
/// (`["bad"]`) are not; the first entry tells.
fn envelope_errors(obj: &Obj<'_>) -> bool {
    let Some(mut items) = obj.raw("errors").and_then(Raw::items) else {
        return true;
    };
    let Some(first) = items.next() else {
        return true;
    };
    let Some(entries) = first.entries() else {
        return false;
    };
    let mut any = false;
    for (key, value) in entries {
        let one_error =
            matches!(&*key, "code" | "message") && value.json_type() != Some(Json::Array);
        if one_error {
            return false;
        }
        any = true;
    }
    any
}

/// `{"error":{"code","message","target","details":[…],"innererror"}}` (Azure, OData).
fn read_azure(_: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    let Some(error) = parsed.error else {
        return;
    };
    out.set_code(error.str("code"));
    out.message = error.string("message");
    if let Some(inner) = error.raw("innererror") {
        out.add_detail("innererror", inner);
    }
    if let Some(target) = error.string("target") {
        out.details.insert("target".to_owned(), target.into());
    }
    for item in error.items("details").take(out.violation_room()) {
        let Some(item) = item.obj() else {
            continue;
        };
        out.violations.push(Violation {
            field: item.string("target").unwrap_or_default(),
            code: item.string("code").unwrap_or_default(),
            message: item.string("message").unwrap_or_default(),
        });
    }
}

/// `{"error":"…"}`: a code when it looks like one, else a message; OAuth 2
/// (RFC 6749) adds the message in `error_description`.
fn read_plain(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    let Some(text) = obj.string("error") else {
        return;
    };
    if looks_like_code(&text) && !is_reason_phrase(&text, out.status) {
        out.set_code(Some(text));
        out.message = obj.string("error_description");
    } else {
        out.message = Some(text);
    }
    out.set_code(obj.str("code"));
}

/// Whether `text` reads as a code rather than a sentence or a URL: 1 to 64
/// ASCII letters, digits, `_`, `.` and `-`.
pub(crate) fn looks_like_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `{"message":"…","code":…,"details":{…}}` (Twilio's
/// `{"code":20404,"message","more_info","status":404}` among them).
fn read_message(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    read_top_level_code(obj, out);
    if let Some(details) = obj.obj("details") {
        crate::dialect::read_details_object(&details, |_| false, out);
    }
}

/// PayPal's `{"name","message","debug_id","details":[…],"links":[…]}`:
/// `name` is the code, `debug_id` the request id, and each of `details`
/// (`{"field","location","issue","description"}`) a violation whose code
/// is its `issue`; its `field` is a JSON Pointer in the body (the default
/// `location`), a name in the query or the path. Other members (`links`,
/// v1's `information_link`) are details, and so are `details` that are not
/// a list of objects.
fn read_paypal(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.set_code(obj.str("name"));
    out.message = obj.string("message");
    if let Some(id) = obj.raw("debug_id").and_then(Raw::id) {
        out.request_id = Some(id.into_owned());
    }
    // All objects, or none read (and the list kept as a detail).
    let details = obj.raw("details");
    let read = details
        .and_then(Raw::items)
        .is_some_and(|mut items| items.all(|item| item.json_type() == Some(Json::Object)));
    let items = details.and_then(Raw::items).filter(|_| read);
    for item in items.into_iter().flatten().take(out.violation_room()) {
        let Some(item) = item.obj() else {
            continue;
        };
        let field = item.string("field").unwrap_or_default();
        let in_body = item.str("location").is_none_or(|at| at == "body");
        out.violations.push(Violation {
            field: if in_body {
                crate::pointer_to_field(&field)
            } else {
                field
            },
            code: item.string("issue").unwrap_or_default(),
            message: item.string("description").unwrap_or_default(),
        });
    }
    let own = |key: &str| {
        matches!(key, "name" | "message" | "debug_id" | "retry_after") || (read && key == "details")
    };
    crate::dialect::read_details(obj, own, out);
}

/// Whether `obj` is a Heroku error, `{"id","message","url"}`: an `id` that
/// looks like a code and starts with a letter (`not_found`), beside the
/// message and the `url` documenting it. Elsewhere an `id` beside a message
/// may well be a resource's.
fn is_heroku(obj: &Obj<'_>) -> bool {
    obj.json_type("url") == Some(Json::String)
        && obj.str("id").is_some_and(|id| {
            looks_like_code(&id) && id.starts_with(|c: char| c.is_ascii_alphabetic())
        })
}

/// Heroku's `{"id":"not_found","message":"…","url":"…"}`: `id` is the code;
/// `url` and any other member are details.
fn read_heroku(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.set_code(obj.str("id"));
    out.message = obj.string("message");
    let own = |key: &str| matches!(key, "id" | "message" | "retry_after");
    crate::dialect::read_details(obj, own, out);
}

/// Shopify's `{"errors":"[API] Invalid API key or access token"}`: the
/// text is the message; a `code` beside it, the code.
fn read_errors_text(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("errors");
    read_top_level_code(obj, out);
}

/// `{"message":…,"errors":{"<field>":["…"]}}` (Laravel, Rails; see
/// [`is_field_map`]): each
/// field's messages are violations; the rest is read as a `message` body's,
/// the message failing that the first violation's.
fn read_errors_by_field(obj: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    read_message(obj, parsed, out);
    read_errors_map(obj, out);
    message_from_violations(out);
}

/// The messages of each field in `errors` (`{"<field>":["…"]}` or
/// `{"<field>":"…"}`) as violations.
fn read_errors_map(obj: &Obj<'_>, out: &mut Decoded) {
    for (field, messages) in obj
        .raw("errors")
        .and_then(Raw::entries)
        .into_iter()
        .flatten()
    {
        crate::dialect::read_field_messages(&field, messages, out);
    }
}

/// Jira's `{"errorMessages":["…"],"errors":{"<field>":"…"}}`: the first
/// message that is not blank is the message (the list a detail when it has
/// several), each field's message a violation; failing a message, the first
/// violation's is it.
fn read_error_messages(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj
        .items("errorMessages")
        .filter_map(Raw::string)
        .find(|m| !is_blank(m))
        .map(Cow::into_owned);
    if obj.items("errorMessages").nth(1).is_some() {
        if let Some(messages) = obj.raw("errorMessages") {
            out.add_detail("errorMessages", messages);
        }
    }
    read_errors_map(obj, out);
    read_top_level_code(obj, out);
    message_from_violations(out);
}

/// Django REST Framework's `{"<field>":["…"]}` (see [`is_field_map`]): each
/// field's messages are violations, the first one the message.
fn read_field_map(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    for (field, messages) in obj.members() {
        crate::dialect::read_field_messages(field, messages, out);
    }
    message_from_violations(out);
}

/// AWS's JSON protocols: `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"…"}`
/// (`Message` in some services).
fn read_aws(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    let code = obj.str("__type").map(|ty| aws_error_type(&ty).to_owned());
    out.set_code(code.filter(|code| !code.is_empty()));
    out.message = obj.string("message").or_else(|| obj.string("Message"));
}

/// The first violation's message as the message, when there is none.
pub(crate) fn message_from_violations(out: &mut Decoded) {
    if out.message.is_none() {
        out.message = out
            .violations
            .iter()
            .find(|v| !v.message.is_empty())
            .map(|v| v.message.clone());
    }
}

/// A body's own `code` (or `error_code`): a string, or an integer that is
/// not merely the status again (Twilio's `20404` is a code; a `404` on a
/// 404 says nothing more).
fn read_top_level_code(obj: &Obj<'_>, out: &mut Decoded) {
    out.set_code(top_level_code(obj, out.status));
}

/// What [`read_top_level_code`] reads, for a response with `status`.
fn top_level_code<'t>(obj: &Obj<'t>, status: u16) -> Option<Cow<'t, str>> {
    ["code", "error_code"]
        .into_iter()
        .filter_map(|key| obj.raw(key)?.id())
        .find(|code| !repeats_status(code, status))
}

/// Whether a code is only `status` again (`404` on a 404), which says
/// nothing more: no code. Other numbers are an API's own (Twilio's `20404`).
pub(crate) fn repeats_status(code: &str, status: u16) -> bool {
    code.parse::<u64>().ok() == Some(u64::from(status))
}

/// `{"errors":[{"message":…,"code"|"extensions":{"code"}|"type"}]}` (GraphQL,
/// GitHub's by `type`, Cloudflare), `{"errors":["…"]}`, GitHub's
/// `{"message":…,"errors":[{"resource","field","code"}]}`, or Salesforce's
/// items `{"message","errorCode","fields":[…]}`.
///
/// A top-level `message` and code (read as [`read_top_level_code`] reads
/// one) are the error's own; failing those, the first item's. Items naming
/// a `field` are violations; an item's `fields` are each a violation with
/// the item's code and message.
fn read_errors(obj: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    let top_code = top_level_code(obj, out.status);
    let has_top_code = top_code.is_some();
    out.set_code(top_code);
    let mut first_error = parsed.first_error;
    for (i, raw) in parsed.errors.iter().enumerate() {
        let item = if i == 0 {
            first_error.take()
        } else {
            raw.obj()
        };
        let Some(item) = item else {
            if i == 0 && out.message.is_none() {
                out.message = raw.string().map(Cow::into_owned);
            }
            continue;
        };
        if let Some(field) = item.string("field") {
            if out.violation_room() == 0 {
                continue;
            }
            out.violations.push(Violation {
                field,
                code: item_code(&item, "code").unwrap_or_default(),
                message: item.string("message").unwrap_or_default(),
            });
        } else {
            let code = item_code(&item, "code").or_else(|| item_code(&item, "errorCode"));
            if i == 0 {
                if out.message.is_none() {
                    out.message = item.string("message");
                }
                if !has_top_code {
                    // GitHub's GraphQL API names its errors by `type` alone.
                    let nested = || item_code(&item.obj("extensions")?, "code");
                    let own = code
                        .clone()
                        .or_else(nested)
                        .or_else(|| item.string("type").filter(|ty| looks_like_code(ty)))
                        .filter(|code| !repeats_status(code, out.status));
                    out.set_code(own);
                }
            }
            read_item_fields(&item, code.unwrap_or_default(), out);
        }
    }
    message_from_violations(out);
}

/// An error item's code: a string, or an integer (Cloudflare's `10000`).
fn item_code(item: &Obj<'_>, key: &str) -> Option<String> {
    item.raw(key)?.id().map(Cow::into_owned)
}

/// Salesforce's `fields` of an error item: each a violation with the item's
/// `code` and message. The message is copied once per field, so at most
/// [`FIELD_COPIES_MAX`](crate::dialect::FIELD_COPIES_MAX) bytes of copies
/// are made of it, as of a field's name.
fn read_item_fields(item: &Obj<'_>, code: String, out: &mut Decoded) {
    let Some(fields) = item.raw("fields").and_then(Raw::items) else {
        return;
    };
    let message = item.string("message").unwrap_or_default();
    let copied = message.len() + code.len();
    let room = out
        .violation_room()
        .min(1 + crate::dialect::FIELD_COPIES_MAX / copied.max(1));
    let violations = fields.filter_map(Raw::string).map(|field| Violation {
        field: field.into_owned(),
        code: code.clone(),
        message: message.clone(),
    });
    out.violations.extend(violations.take(room));
}

/// A JSON object read lazily: its members' values stay raw text until asked for.
///
/// Decoding never builds a whole `serde_json::Value` tree; it reads only the
/// members a shape needs, which is what keeps it faster than a plain parse.
pub(crate) struct Obj<'t> {
    members: Vec<Member<'t>>,
}

/// One member: its key (borrowed unless it had escapes) and raw value.
pub(crate) type Member<'t> = (Cow<'t, str>, Raw<'t>);

/// The type of a JSON value, as its first byte tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl<'t> Obj<'t> {
    /// The members, in order (keys borrowed).
    #[inline]
    pub(crate) fn members(&self) -> impl Iterator<Item = (&str, Raw<'t>)> {
        self.members.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// The raw value of `key` (the last one, as JSON parsers do).
    #[inline]
    pub(crate) fn raw(&self, key: &str) -> Option<Raw<'t>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    #[inline]
    pub(crate) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    #[inline]
    pub(crate) fn json_type(&self, key: &str) -> Option<Json> {
        self.raw(key)?.json_type()
    }

    /// A string member, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn str(&self, key: &str) -> Option<Cow<'t, str>> {
        self.raw(key)?.string()
    }

    #[inline]
    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(Cow::into_owned)
    }

    /// A non-negative integer member (`402`, not `402.0` or `-1`).
    #[inline]
    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        self.raw(key)?.integer()
    }

    /// A member counting seconds: a non-negative number (`30`, `1.5`, `1e3`),
    /// saturating past what a `Duration` holds.
    pub(crate) fn seconds(&self, key: &str) -> Option<Duration> {
        crate::retry::seconds(self.raw(key)?.get())
    }

    #[inline]
    pub(crate) fn obj(&self, key: &str) -> Option<Obj<'t>> {
        self.raw(key)?.obj()
    }

    /// The items of an array member, one by one; none if it is not an array.
    #[inline]
    pub(crate) fn items(&self, key: &str) -> impl Iterator<Item = Raw<'t>> + use<'t> {
        self.raw(key).and_then(Raw::items).into_iter().flatten()
    }
}

/// A body, and where its objects and arrays start and end.
///
/// `serde_json` parses (and so checks) the body into its top-level members,
/// keeping their values as raw text ([`Tape::parse`]). Splitting a nested
/// object into members then needs only to find where each value ends: the
/// text is valid JSON by then. Jumping over a nested object or array walks
/// its brackets once and records where every container inside it starts
/// and ends (the tape), so that splitting those later jumps over their own
/// insides without reading them again: each byte is looked at about three
/// times however deep the body is, where parsing every level on demand reads
/// the inner levels once per level above them.
pub(crate) struct Tape<'t> {
    text: &'t str,
    /// Made when first needed: bodies without nested containers never are.
    spans: OnceCell<RefCell<Spans>>,
}

/// How deep below a skipped container the tape records: beyond any shape a
/// decoder reads.
const TAPE_DEPTH: usize = 32;

/// How many containers the tape records: more than error bodies have. The
/// others are skipped by walking their brackets again.
const TAPE_SPANS: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
struct Span {
    /// Offset of the opening bracket.
    start: usize,
    /// Offset just past the closing bracket (0 while open).
    end: usize,
}

/// The containers a tape records, by `start`, without allocating.
struct Spans {
    items: [Span; TAPE_SPANS],
    len: usize,
}

impl Spans {
    fn recorded(&self) -> &[Span] {
        self.items.get(..self.len).unwrap_or_default()
    }

    fn end_of(&self, start: usize) -> Option<usize> {
        let spans = self.recorded();
        let i = spans.binary_search_by_key(&start, |s| s.start).ok()?;
        spans.get(i).map(|s| s.end).filter(|&end| end > start)
    }

    /// Records a container opening at `start`; its index until the next
    /// record, or `None` when the tape is full.
    fn open(&mut self, start: usize) -> Option<usize> {
        let len = self.len;
        if len == TAPE_SPANS {
            return None;
        }
        // In order, unless a decoder splits a later member first.
        let at = self.recorded().partition_point(|s| s.start < start);
        self.items.copy_within(at..len, at + 1);
        *self.items.get_mut(at)? = Span { start, end: 0 };
        self.len += 1;
        Some(at)
    }
}

impl<'t> Tape<'t> {
    /// A tape of `text`, which must be valid JSON (`serde_json` has checked
    /// it). On text that is not, splitting gives up or returns nonsense, and
    /// never reads out of bounds.
    pub(crate) fn new(text: &'t str) -> Tape<'t> {
        Tape {
            text,
            spans: OnceCell::new(),
        }
    }

    /// Parses (and checks) the body as a JSON object; `None` for anything else.
    pub(crate) fn parse(&self) -> Option<Obj<'_>> {
        // Types are told by their first byte, sparing a `serde_json::Error`,
        // which formats its message.
        if !self.text.starts_with('{') {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(self.text);
        let obj = TopLevel(self).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(obj)
    }

    /// The whole body, checked by the caller.
    #[cfg(test)]
    fn root(&self) -> Raw<'_> {
        Raw {
            tape: self,
            text: self.text,
            escaped: true,
        }
    }

    /// Where the container opening at `start` ends: from the tape, or by
    /// walking its brackets (and recording the containers inside it).
    fn end_of(&self, start: usize) -> Option<usize> {
        let spans = self.spans.get_or_init(|| {
            RefCell::new(Spans {
                items: [Span::default(); TAPE_SPANS],
                len: 0,
            })
        });
        let mut spans = spans.try_borrow_mut().ok()?;
        if let Some(end) = spans.end_of(start) {
            return Some(end);
        }
        // The open containers below `start`, as indices into the tape
        // (`usize::MAX` for one it had no room for), and how many more are
        // open deeper than it records.
        let mut open = [usize::MAX; TAPE_DEPTH];
        let (mut depth, mut too_deep) = (0usize, 0usize);
        walk_brackets(self.text.as_bytes(), start, |at, bracket| {
            if matches!(bracket, b'{' | b'[') {
                match open.get_mut(depth) {
                    Some(slot) => {
                        *slot = spans.open(at).unwrap_or(usize::MAX);
                        depth += 1;
                    }
                    None => too_deep += 1,
                }
                return false;
            }
            if too_deep > 0 {
                too_deep -= 1;
                return false;
            }
            depth = depth.saturating_sub(1);
            let index = open.get(depth).copied().unwrap_or(usize::MAX);
            if let Some(span) = spans.items.get_mut(index) {
                span.end = at + 1;
            }
            depth == 0
        })
    }
}

/// Calls `on_bracket` with the offset of each bracket of JSON text from
/// `from` on, outside strings, until it returns `true`: then returns the
/// offset just past that bracket (`None` if it never does).
///
/// It looks at eight bytes at a time, and only stops at quotes, backslashes
/// and brackets.
#[inline(always)]
fn walk_brackets(
    bytes: &[u8],
    from: usize,
    mut on_bracket: impl FnMut(usize, u8) -> bool,
) -> Option<usize> {
    let mut in_string = false;
    // A byte escaped by a backslash, not to be taken for a quote.
    let mut escaped = usize::MAX;
    let mut at = from;
    while at < bytes.len() {
        let mut hits = structural(word_at(bytes, at));
        while hits != 0 {
            let i = at + hits.trailing_zeros() as usize / 8;
            hits &= hits - 1;
            match (in_string, *bytes.get(i)?) {
                _ if i == escaped => {}
                (true, b'\\') => escaped = i + 1,
                (true, b'"') => in_string = false,
                (false, b'"') => in_string = true,
                (false, bracket @ (b'{' | b'[' | b'}' | b']')) if on_bracket(i, bracket) => {
                    return Some(i + 1);
                }
                _ => {}
            }
        }
        at += 8;
    }
    None
}

/// Where the string whose opening quote is before `from` ends (just past
/// its closing quote), and whether it has escapes.
fn skip_string(bytes: &[u8], mut from: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let i = find(bytes, from, quote_or_backslash)?;
        if bytes.get(i) == Some(&b'"') {
            return Some((i + 1, escaped));
        }
        // An escape: the byte after the backslash is never the end.
        escaped = true;
        from = i + 2;
    }
}

/// The offset of the first byte at or after `from` that `hits` marks,
/// looking at eight bytes at a time (`hits` must mark the first match of a
/// word exactly; it may mark bytes after it falsely).
#[inline(always)]
fn find(bytes: &[u8], from: usize, hits: impl Fn(u64) -> u64) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let found = hits(word_at(bytes, at));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    None
}

/// The eight bytes from `at` as a little-endian `u64`, zero past the end
/// (zero never matches what is searched for).
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    match bytes.get(at..at + 8) {
        Some(chunk) => word.copy_from_slice(chunk),
        None => {
            let rest = bytes.get(at..).unwrap_or_default();
            word[..rest.len()].copy_from_slice(rest);
        }
    }
    u64::from_le_bytes(word)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Bit 7 of each zero byte of `word`, and no other bit.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    let low7 = ONES * 0x7f;
    !(((word & low7) + low7) | word | low7)
}

/// Bit 7 of the first zero byte of `word` (bits above it may be set too:
/// a borrow can mark a 0x01 byte after a zero one). Cheaper than
/// [`zero_bytes`], for searches that stop at the first match.
#[inline(always)]
fn first_zero_byte(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & (ONES * 0x80)
}

/// Quotes and backslashes: where a string may end (the first one exactly).
#[inline(always)]
fn quote_or_backslash(word: u64) -> u64 {
    first_zero_byte(word ^ (ONES * u64::from(b'"')))
        | first_zero_byte(word ^ (ONES * u64::from(b'\\')))
}

/// Quotes, backslashes and brackets: what bracket matching looks at, every
/// one exactly. Clearing bit 5 folds `{` onto `[` and `}` onto `]`, and no
/// other byte onto either.
#[inline(always)]
fn structural(word: u64) -> u64 {
    let folded = word & (ONES * 0xdf);
    zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | zero_bytes(folded ^ (ONES * u64::from(b'[')))
        | zero_bytes(folded ^ (ONES * u64::from(b']')))
}

/// One JSON value of a checked body, as it stands in the body (from its
/// first byte to its last).
#[derive(Clone, Copy)]
pub(crate) struct Raw<'t> {
    tape: &'t Tape<'t>,
    /// The value's text, a slice of the tape's.
    text: &'t str,
    /// Whether the value, if a string, may have escapes: `false` when a scan
    /// saw none, `true` when it saw some or the value comes from `serde_json`
    /// (then [`Raw::string`] looks).
    escaped: bool,
}

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl<'t> Raw<'t> {
    /// The JSON text.
    #[inline]
    pub(crate) fn get(self) -> &'t str {
        self.text
    }

    #[inline]
    pub(crate) fn json_type(self) -> Option<Json> {
        Some(match self.get().as_bytes().first()? {
            b'{' => Json::Object,
            b'[' => Json::Array,
            b'"' => Json::String,
            b't' | b'f' => Json::Bool,
            b'n' => Json::Null,
            _ => Json::Number,
        })
    }

    /// The string's text, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn string(self) -> Option<Cow<'t, str>> {
        let raw = self.get();
        let text = raw.strip_prefix('"')?.strip_suffix('"')?;
        // The string is checked: without escapes, its text is what stands
        // between the quotes. (A fold, not `contains`: texts are short, and
        // this compiles to a few vector compares.)
        if !self.escaped || !text.bytes().fold(false, |seen, b| seen | (b == b'\\')) {
            return Some(Cow::Borrowed(text));
        }
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    }

    /// The value as an id: a string that is not blank, or a non-negative
    /// integer as written (`12345`).
    pub(crate) fn id(self) -> Option<Cow<'t, str>> {
        match self.json_type()? {
            Json::String => self.string().filter(|id| !is_blank(id)),
            Json::Number => self.integer().map(|_| Cow::Borrowed(self.get())),
            _ => None,
        }
    }

    /// The number, when it is a non-negative integer that fits a `u64`.
    #[inline]
    pub(crate) fn integer(self) -> Option<u64> {
        let raw = self.get();
        // JSON numbers have no `+`: from a leading digit on, `u64`'s parser
        // accepts exactly the integers `serde_json` reads as `u64`.
        if !raw.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok()
    }

    /// The value, parsed.
    pub(crate) fn value(self) -> Option<Value> {
        // Scalars, the usual details, without starting a parser.
        match self.json_type()? {
            Json::String => return self.string().map(|s| Value::String(s.into_owned())),
            Json::Number => {
                if let Some(n) = self.integer() {
                    return Some(n.into());
                }
            }
            Json::Bool | Json::Null => match self.text {
                "true" => return Some(Value::Bool(true)),
                "false" => return Some(Value::Bool(false)),
                "null" => return Some(Value::Null),
                _ => {}
            },
            Json::Object | Json::Array => {}
        }
        serde_json::from_str(self.text).ok()
    }

    /// The object's members; `None` for anything else.
    pub(crate) fn obj(self) -> Option<Obj<'t>> {
        let mut scan = self.open(b'{')?;
        if scan.eat(b'}') {
            return Some(Obj {
                members: Vec::new(),
            });
        }
        let mut members = Vec::with_capacity(8);
        loop {
            let key = scan.value()?;
            if !scan.eat(b':') {
                return None;
            }
            let value = scan.value()?;
            // A key no `String` can hold (a lone surrogate) loses its member.
            if let Some(key) = key.string() {
                members.push((key, value));
            }
            match scan.next()? {
                b',' => {}
                b'}' => return Some(Obj { members }),
                _ => return None,
            }
        }
    }

    /// The array's first `max` items (the rest read past, not kept); `None`
    /// for anything but an array.
    pub(crate) fn array_up_to(self, max: usize) -> Option<Vec<Raw<'t>>> {
        let mut scan = self.open(b'[')?;
        let mut items = Vec::new();
        if scan.eat(b']') {
            return Some(items);
        }
        loop {
            let item = scan.value()?;
            if items.len() < max {
                items.push(item);
            }
            match scan.next()? {
                b',' => {}
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    /// The array's items one by one, without collecting them; `None` for
    /// anything but an array.
    pub(crate) fn items(self) -> Option<Items<'t>> {
        let mut scan = self.open(b'[')?;
        let done = scan.eat(b']');
        Some(Items { scan, done })
    }

    /// The object's members one by one, without collecting them; `None` for
    /// anything but an object.
    pub(crate) fn entries(self) -> Option<Entries<'t>> {
        let mut scan = self.open(b'{')?;
        let done = scan.eat(b'}');
        Some(Entries { scan, done })
    }

    /// A scan of the members of this container, if it opens with `bracket`.
    fn open(self, bracket: u8) -> Option<Scan<'t>> {
        if self.text.as_bytes().first() != Some(&bracket) {
            return None;
        }
        // Where the value is in the body (it is a slice of it).
        let start = (self.text.as_ptr() as usize).wrapping_sub(self.tape.text.as_ptr() as usize);
        Some(Scan {
            tape: self.tape,
            at: start.wrapping_add(1),
        })
    }
}

/// Reads the top-level object of a tape's text with `serde_json`, its member
/// values as raw text located in the body.
struct TopLevel<'t>(&'t Tape<'t>);

impl<'de> DeserializeSeed<'de> for TopLevel<'de> {
    type Value = Obj<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Obj<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'de> {
    type Value = Obj<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<'de>, A::Error> {
        let tape = self.0;
        // Error bodies have a handful of members: one allocation.
        let mut members = Vec::with_capacity(8);
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            // Borrowed from the body (`Raw::open` finds where in it).
            members.push((
                key,
                Raw {
                    tape,
                    text: value.get(),
                    escaped: true,
                },
            ));
        }
        Ok(Obj { members })
    }
}

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The items of an array, read as they are asked for (see [`Raw::items`]).
pub(crate) struct Items<'t> {
    scan: Scan<'t>,
    done: bool,
}

impl<'t> Iterator for Items<'t> {
    type Item = Raw<'t>;

    fn next(&mut self) -> Option<Raw<'t>> {
        if self.done {
            return None;
        }
        let item = self.scan.value();
        // After the last item, or on text that is not JSON, stop.
        self.done = item.is_none() || self.scan.next() != Some(b',');
        item
    }
}

/// The members of an object, read as they are asked for (see
/// [`Raw::entries`]).
pub(crate) struct Entries<'t> {
    scan: Scan<'t>,
    done: bool,
}

impl<'t> Iterator for Entries<'t> {
    type Item = Member<'t>;

    fn next(&mut self) -> Option<Member<'t>> {
        while !self.done {
            let member = self.member();
            // After the last member, or on text that is not JSON, stop.
            self.done = member.is_none() || self.scan.next() != Some(b',');
            // A key no `String` can hold (a lone surrogate) loses its member.
            if let Some((Some(key), value)) = member {
                return Some((key, value));
            }
        }
        None
    }
}

impl<'t> Entries<'t> {
    fn member(&mut self) -> Option<(Option<Cow<'t, str>>, Raw<'t>)> {
        let key = self.scan.value()?;
        if !self.scan.eat(b':') {
            return None;
        }
        Some((key.string(), self.scan.value()?))
    }
}

/// Reads the members of one container, jumping over nested containers with
/// the tape.
struct Scan<'t> {
    tape: &'t Tape<'t>,
    at: usize,
}

impl<'t> Scan<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.tape.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let byte = *self.bytes().get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// Consumes `byte` if it comes next, after whitespace.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes().get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    /// The value starting at the next byte.
    fn value(&mut self) -> Option<Raw<'t>> {
        self.skip_whitespace();
        let start = self.at;
        let bytes = self.bytes();
        let mut escaped = false;
        self.at = match *bytes.get(start)? {
            b'"' => {
                let (end, has_escapes) = skip_string(bytes, start + 1)?;
                escaped = has_escapes;
                end
            }
            b'{' | b'[' => self.tape.end_of(start)?,
            _ => {
                // A number, `true`, `false` or `null`: up to a delimiter.
                let rest = bytes.get(start..)?;
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return None;
                }
                start + len
            }
        };
        Some(Raw {
            tape: self.tape,
            text: self.tape.text.get(start..self.at)?,
            escaped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_header_names_follow_the_public_list() {
        let names: Vec<&str> = REQUEST_ID_HEADER_NAMES.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, headers::REQUEST_ID_HEADERS);
    }

    /// What the decoder reads from `map`.
    fn read(map: &HeaderMap) -> [Option<&str>; 4] {
        let h = Headers::read(map);
        [
            h.error_code(),
            h.retry_after(),
            h.content_type(),
            h.request_id(),
        ]
    }

    #[test]
    fn small_and_large_header_maps_are_read_alike() {
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("x-error-code", "not_found"), ("x-request-id", "r1")],
            // The first value of a name counts; empty ids give way to the next name.
            &[
                ("x-request-id", " "),
                ("x-request-id", "r2"),
                ("request-id", "r3"),
            ],
            &[
                ("retry-after", "30"),
                ("retry-after", "60"),
                ("content-type", "text/html"),
            ],
            &[("traceparent", trace), ("x-correlation-id", "c1")],
            &[("traceparent", trace)],
            &[
                ("x-amzn-requestid", "a1"),
                ("x-ms-request-id", "m1"),
                ("x-error-code", ""),
            ],
        ];
        for headers in cases {
            let mut small = HeaderMap::new();
            for (name, value) in *headers {
                small.append(HeaderName::from_static(name), value.parse().unwrap());
            }
            let mut large = small.clone();
            for i in 0..=FEW_HEADERS {
                large.append(
                    HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("x"),
                );
            }
            assert!(small.keys_len() <= FEW_HEADERS && large.keys_len() > FEW_HEADERS);
            assert_eq!(read(&small), read(&large), "{headers:?}");
            // And both as `HeaderMap::get` reads them.
            let get = |name: &str| {
                small
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            };
            let [code, retry, content_type, _] = read(&small);
            assert_eq!(
                [code, retry, content_type],
                [get("x-error-code"), get("retry-after"), get("content-type")],
                "{headers:?}"
            );
        }
        let mut map = HeaderMap::new();
        map.append("x-request-id", " ".parse().unwrap());
        map.append("x-request-id", "r2".parse().unwrap());
        map.append("request-id", "r3".parse().unwrap());
        assert_eq!(read(&map)[3], Some("r3"));
        map.clear();
        map.append("x-correlation-id", "c1".parse().unwrap());
        map.append("traceparent", trace.parse().unwrap());
        assert_eq!(read(&map)[3], Some("c1"));
        map.remove("x-correlation-id");
        assert_eq!(read(&map)[3], Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn spent_rate_limit_quotas_say_when_to_retry() {
        let decode = decode_fields;
        let secs = |n| Some(Duration::from_secs(n));

        // GitHub: a 403 with the quota spent and its reset as a Unix time.
        let github = decode(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1800000030"),
            ],
        );
        assert_eq!(github.kind, Kind::RateLimited);
        assert_eq!(github.retry, RetryClass::After);
        assert_eq!(github.retry_after, secs(30));
        // The reset in seconds to wait rather than a time.
        let delta = decode(
            429,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "12")],
        );
        assert_eq!(delta.retry_after, secs(12));
        // The IETF field: the spent policy's `t`, however many policies.
        let ietf = decode(
            429,
            &[("ratelimit", "\"per-key\";r=0;t=7, \"per-ip\";r=999;t=1")],
        );
        assert_eq!(ietf.retry_after, secs(7));
        let older = decode(429, &[("ratelimit", "limit=100, remaining=0, reset=9")]);
        assert_eq!(older.retry_after, secs(9));
        // A key given twice: the last counts (RFC 8941 dictionaries).
        let twice = "limit=10, remaining=5, remaining=0, reset=1, reset=30";
        let twice = decode(429, &[("ratelimit", twice)]);
        assert_eq!(twice.retry_after, secs(30));
        // An item without a name; a policy whose quoted name reads like the
        // older form; a quoted parameter that holds `r=0`.
        let nameless = decode(429, &[("ratelimit", "r=0;t=6")]);
        assert_eq!(nameless.retry_after, secs(6));
        let named = decode(429, &[("ratelimit", "\"remaining=x\";r=0;t=4")]);
        assert_eq!(named.retry_after, secs(4));
        let quoted = decode(429, &[("ratelimit", "\"p\";note=\";r=0;t=60\";r=9;t=1")]);
        assert_eq!(quoted.retry_after, None);
        let split = decode(
            429,
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "5")],
        );
        assert_eq!(split.retry_after, secs(5));
        // `Retry-After` says when the next call fits: it takes precedence over
        // the time the whole quota is back.
        let both = decode(429, &[("retry-after", "3"), ("ratelimit", "\"p\";r=0;t=8")]);
        assert_eq!(both.retry_after, secs(3));
        let github = decode(
            403,
            &[
                ("retry-after", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1800000030"),
            ],
        );
        assert_eq!(
            (github.kind, github.retry_after),
            (Kind::RateLimited, secs(60))
        );

        // GitHub's secondary limit: a 403 with only `Retry-After`.
        let secondary = decode(403, &[("retry-after", "60")]);
        assert_eq!(
            (secondary.kind, secondary.retry, secondary.retry_after),
            (Kind::RateLimited, RetryClass::After, secs(60))
        );

        // Quota left: no hint, and a 403 stays a refusal.
        let forbidden = decode(
            403,
            &[
                ("x-ratelimit-remaining", "4999"),
                ("x-ratelimit-reset", "1800000030"),
            ],
        );
        assert_eq!(forbidden.kind, Kind::PermissionDenied);
        assert_eq!(forbidden.retry, RetryClass::Never);
        assert_eq!(forbidden.retry_after, None);
        let left = decode(429, &[("ratelimit", "\"p\";r=3;t=7")]);
        assert_eq!(left.retry_after, None);
        let garbage = decode(
            429,
            &[
                ("ratelimit", ";;==,r=,t=x"),
                ("x-ratelimit-remaining", "zero"),
            ],
        );
        assert_eq!(garbage.retry_after, None);
        // A reset past the end of time is no panic, only a very long wait.
        let far = decode(
            429,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "18446744073709551615"),
            ],
        );
        let centuries = Duration::from_secs(100 * 365 * 86_400);
        assert!(far.retry_after.is_some_and(|d| d > centuries), "{far:?}");
        // Past u64 too: still a very long wait (the client stops), not no
        // hint at all (which it would retry within a second).
        for (name, value) in [
            ("ratelimit", "\"p\";r=0;t=99999999999999999999"),
            ("ratelimit-reset", "99999999999999999999"),
        ] {
            let remaining = ("ratelimit-remaining", "0");
            let beyond = decode(429, &[(name, value), remaining]);
            let wait = beyond.retry_after;
            assert!(wait.is_some_and(|d| d > centuries), "{name}: {wait:?}");
        }
    }

    /// Decodes an empty body with `fields` as headers, at a fixed time.
    fn decode_fields(status: u16, fields: &[(&str, &str)]) -> Decoded {
        decode_body(status, fields, "")
    }

    /// Decodes `body` with `fields` as headers, at a fixed time.
    fn decode_body(status: u16, fields: &[(&str, &str)], body: &str) -> Decoded {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        crate::decode(status, &map, body.as_bytes(), now)
    }

    #[test]
    fn a_reason_phrase_as_error_is_no_code() {
        // NestJS, Fastify, Spring: `error` is the status's reason phrase.
        let nest = r#"{"statusCode":400,"message":"Validation failed","error":"Bad Request"}"#;
        let e = decode_body(400, &[], nest);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (None, Some("Validation failed"))
        );
        assert_eq!(e.kind, Kind::InvalidArgument);
        let fastify = r#"{"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded, retry in 1 minute"}"#;
        let e = decode_body(429, &[], fastify);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (None, Some("Rate limit exceeded, retry in 1 minute"))
        );
        assert_eq!((e.kind, e.retry), (Kind::RateLimited, RetryClass::After));
        for (status, phrase) in [(404, "Not Found"), (404, "NOT FOUND"), (403, "Forbidden")] {
            let spring = format!(
                r#"{{"timestamp":"2024-01-01T00:00:00.000+00:00","status":{status},"error":"{phrase}","path":"/x"}}"#
            );
            let e = decode_body(status, &[], &spring);
            assert_eq!(
                (e.code.as_deref(), e.message.as_deref()),
                (None, Some(phrase)),
                "{spring}"
            );
            assert_eq!(e.kind, Kind::from_status(status));
        }
        // Only the status's own phrase; a real code stays one.
        let e = decode_body(400, &[], r#"{"error":"Not Found","message":"m"}"#);
        assert_eq!(e.code.as_deref(), Some("Not Found"));
        let e = decode_body(400, &[], r#"{"error":"invalid_grant"}"#);
        assert_eq!(e.code.as_deref(), Some("invalid_grant"));
        // A single word written as a code is one (the catalog's `conflict`,
        // seed 003's `FORBIDDEN`).
        let e = decode_body(409, &[], r#"{"error":"conflict","message":"m"}"#);
        assert_eq!(
            (e.code.as_deref(), e.catalog_code.as_deref()),
            (Some("conflict"), Some("conflict"))
        );
        for code in ["FORBIDDEN", "forbidden"] {
            let e = decode_body(403, &[], &format!(r#"{{"error":"{code}"}}"#));
            assert_eq!(e.code.as_deref(), Some(code));
        }
        // `X-Error-Code` is not lost to the phrase.
        let e = decode_body(400, &[("x-error-code", "bad_input")], nest);
        assert_eq!(e.code.as_deref(), Some("bad_input"));

        // NestJS's validation messages: one violation of the input each.
        let nest = r#"{"statusCode":400,"message":["email must be an email","name should not be empty"],"error":"Bad Request"}"#;
        let e = decode_body(400, &[], nest);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (None, Some("email must be an email"))
        );
        assert_eq!(
            e.violations,
            [
                Violation::new("", "", "email must be an email"),
                Violation::new("", "", "name should not be empty"),
            ]
        );
    }

    #[test]
    fn field_errors_keyed_by_field_are_violations() {
        let laravel = r#"{"message":"The email field is required.","errors":{"email":["The email field is required."]}}"#;
        let e = decode_body(422, &[], laravel);
        assert_eq!(e.dialect, "errors");
        assert_eq!(e.message.as_deref(), Some("The email field is required."));
        assert_eq!(
            e.violations,
            [Violation::new("email", "", "The email field is required.")]
        );
        let rails =
            r#"{"errors":{"email":["can't be blank"],"password":["is too short","is invalid"]}}"#;
        let e = decode_body(422, &[], rails);
        assert_eq!(e.dialect, "errors");
        assert_eq!(e.message.as_deref(), Some("can't be blank"));
        assert_eq!(
            e.violations,
            [
                Violation::new("email", "", "can't be blank"),
                Violation::new("password", "", "is too short"),
                Violation::new("password", "", "is invalid"),
            ]
        );
        // Django REST Framework: the whole body maps fields to messages.
        let drf =
            r#"{"email":["This field is required."],"name":["This field may not be blank."]}"#;
        let e = decode_body(400, &[], drf);
        assert_eq!(e.dialect, "errors");
        assert_eq!(e.message.as_deref(), Some("This field is required."));
        assert_eq!(
            e.violations,
            [
                Violation::new("email", "", "This field is required."),
                Violation::new("name", "", "This field may not be blank."),
            ]
        );
        // Only on a 400 or 422, and only when every member is such a list.
        for (status, body) in [
            (500, drf),
            (400, r#"{"ids":[]}"#),
            (400, r#"{"tags":["a"],"count":1}"#),
            (400, r#"{"tags":["a",1]}"#),
            (400, r#"{"errors":{"code":"E1","detail":"d"}}"#),
        ] {
            let e = decode_body(status, &[], body);
            assert_eq!(e.dialect, "json", "{body}");
            assert!(e.violations.is_empty(), "{body}");
        }
        let e = decode_body(400, &[], r#"{"message":"m","errors":{"count":2}}"#);
        assert_eq!((e.dialect, e.message.as_deref()), ("message", Some("m")));
    }

    #[test]
    fn rate_limit_codes_on_other_statuses_are_rate_limits() {
        for (status, body) in [
            (
                400,
                r#"{"error":{"code":"ThrottlingException","message":"Rate exceeded"}}"#,
            ),
            (
                400,
                r#"{"error":{"code":"Throttling","message":"Rate exceeded"}}"#,
            ),
            (400, r#"{"code":"TooManyRequestsException","message":"m"}"#),
            (400, r#"{"code":"RequestLimitExceeded","message":"m"}"#),
            (400, r#"{"error":"rate_limit_exceeded","message":"m"}"#),
            (403, r#"{"error":{"code":"rate_limited","message":"m"}}"#),
            (
                403,
                r#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"m"}}"#,
            ),
            (
                503,
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"#,
            ),
        ] {
            let e = decode_body(status, &[], body);
            assert_eq!(
                (e.kind, e.retry),
                (Kind::RateLimited, RetryClass::After),
                "{body}"
            );
        }
        // GitHub: a spent quota on a 403, even without its reset.
        let e = decode_body(403, &[("x-ratelimit-remaining", "0")], "");
        assert_eq!((e.kind, e.retry), (Kind::RateLimited, RetryClass::After));
        // Other codes, and other statuses, stay what the status says.
        let e = decode_body(400, &[], r#"{"error":{"code":"invalid_request"}}"#);
        assert_eq!(
            (e.kind, e.retry),
            (Kind::InvalidArgument, RetryClass::Never)
        );
        let e = decode_body(404, &[], r#"{"error":{"code":"Throttling"}}"#);
        assert_eq!((e.kind, e.retry), (Kind::NotFound, RetryClass::Never));
    }

    #[test]
    fn aws_error_types_are_codes() {
        let dynamo = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
        let e = decode_body(400, &[("x-amzn-requestid", "a1")], dynamo);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (
                Some("ResourceNotFoundException"),
                Some("Requested resource not found")
            )
        );
        assert_eq!(e.request_id.as_deref(), Some("a1"));
        let e = decode_body(400, &[], r#"{"__type":"ns#Bad:http://x/","Message":"M"}"#);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("Bad"), Some("M"))
        );
        let header = (
            "x-amzn-ErrorType",
            "ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/",
        );
        let e = decode_body(400, &[header], r#"{"message":"1 validation error"}"#);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("ValidationException"), Some("1 validation error"))
        );
        // In a map of many headers too (read by lookup, not by a pass).
        let names: Vec<String> = (0..=FEW_HEADERS).map(|i| format!("x-filler-{i}")).collect();
        let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
        many.push(header);
        let e = decode_body(400, &many, "");
        assert_eq!(e.code.as_deref(), Some("ValidationException"));

        // XML without a prolog or an XML content type.
        let iam = r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user cannot be found.</Message></Error><RequestId>r1</RequestId></ErrorResponse>"#;
        let e = decode_body(404, &[], iam);
        assert_eq!(e.dialect, "xml");
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("NoSuchEntity"), Some("The user cannot be found."))
        );
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        let s3 = "\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        let e = decode_body(404, &[], s3);
        assert_eq!((e.dialect, e.code.as_deref()), ("xml", Some("NoSuchKey")));
        // HTML stays HTML, `<code>` in it or not.
        let html = "<html><title>Oops</title><body><code>Code</code></body></html>";
        let e = decode_body(500, &[], html);
        assert_eq!((e.dialect, e.message.as_deref()), ("html", Some("Oops")));
    }

    #[test]
    fn json_after_an_xssi_guard_or_before_trailing_text_is_read() {
        let google = r#"{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}"#;
        for guard in [")]}'\n", ")]}',\n", ")]}'"] {
            let e = decode_body(404, &[], &format!("{guard}{google}"));
            assert_eq!(
                (e.dialect, e.code.as_deref()),
                ("google", Some("NOT_FOUND")),
                "{guard}"
            );
        }
        let json = ("content-type", "application/json");
        let e = decode_body(
            400,
            &[json],
            r#"{"error":"invalid_key","message":"m"}garbage"#,
        );
        assert_eq!(
            (e.dialect, e.code.as_deref()),
            ("flat", Some("invalid_key"))
        );
        let e = decode_body(400, &[json], "{\"message\":\"a\"}\n{\"message\":\"b\"}");
        assert_eq!((e.dialect, e.message.as_deref()), ("message", Some("a")));
        // Not said to be JSON: text, as before.
        let e = decode_body(400, &[], r#"{"message":"a"} and more"#);
        assert_eq!(e.dialect, "text");
    }

    #[test]
    fn hyphenated_rate_limit_fields_and_folded_retry_after_are_read() {
        let secs = |n| Some(Duration::from_secs(n));
        let twitter = [
            ("x-rate-limit-limit", "900"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1800000030"),
        ];
        assert_eq!(decode_fields(429, &twitter).retry_after, secs(30));
        let e = decode_fields(403, &twitter);
        assert_eq!((e.kind, e.retry_after), (Kind::RateLimited, secs(30)));
        // Duplicate lines folded into one.
        assert_eq!(
            decode_fields(429, &[("retry-after", "120, 120")]).retry_after,
            secs(120)
        );
        assert_eq!(
            decode_fields(429, &[("retry-after", "120, 120"), ("retry-after", "30")]).retry_after,
            secs(120)
        );
        assert_eq!(
            decode_fields(429, &[("retry-after", "120, soon")]).retry_after,
            None
        );
        // A date's comma is no list.
        let date = decode_fields(429, &[("retry-after", "Fri, 15 Jan 2027 08:00:10 GMT")]);
        assert_eq!(date.retry_after, secs(10));
    }

    #[test]
    fn a_ratelimit_reset_as_large_as_a_unix_time_is_one() {
        // Twitch: `Ratelimit-Reset` is when the bucket refills, not a delay.
        let twitch = decode_fields(
            429,
            &[
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "1800000040"),
            ],
        );
        assert_eq!(twitch.retry_after, Some(Duration::from_secs(40)));
        // A time already past: retry now.
        let past = decode_fields(
            429,
            &[
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "1700000000"),
            ],
        );
        assert_eq!(past.retry_after, Some(Duration::ZERO));
        // In milliseconds, as some APIs send it: the same 40 s, not the
        // year 57000.
        let millis = decode_fields(
            429,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1800000040000"),
            ],
        );
        assert_eq!(millis.retry_after, Some(Duration::from_secs(40)));
    }

    #[test]
    fn every_ratelimit_line_counts() {
        let secs = |n| Some(Duration::from_secs(n));
        let lines = [
            ("ratelimit", "\"burst\";r=3;t=1"),
            ("ratelimit", "\"daily\";r=0;t=40"),
        ];
        let joined = [("ratelimit", "\"burst\";r=3;t=1, \"daily\";r=0;t=40")];
        let split = decode_fields(429, &lines);
        assert_eq!(split.retry_after, secs(40));
        assert_eq!(split.kind, Kind::RateLimited);
        assert_eq!(decode_fields(429, &joined).retry_after, secs(40));
        // A 403 on the call that spent the last of a quota is refused for
        // its own reason: the field's `r=0` does not make it a rate limit.
        let refused = decode_fields(403, &lines);
        assert_eq!(
            (refused.kind, refused.retry),
            (Kind::PermissionDenied, RetryClass::Never)
        );
        assert_eq!(refused.retry_after, None);
        // The spent line first, or both spent: the longest wait still wins.
        let reversed = [lines[1], lines[0]];
        assert_eq!(decode_fields(429, &reversed).retry_after, secs(40));
        let both = [("ratelimit", "\"a\";r=0;t=50"), lines[1]];
        assert_eq!(decode_fields(429, &both).retry_after, secs(50));
        // An empty line gives way to the others.
        let empty = [("ratelimit", ""), lines[1]];
        assert_eq!(decode_fields(429, &empty).retry_after, secs(40));
        // Quota left on every line: no hint.
        let left = [lines[0], ("ratelimit", "\"daily\";r=9;t=40")];
        assert_eq!(decode_fields(429, &left).retry_after, None);
    }

    #[test]
    fn a_503_with_a_spent_quota_says_when_to_retry() {
        let e = decode_fields(503, &[("ratelimit", "\"p\";r=0;t=20")]);
        assert_eq!(e.retry_after, Some(Duration::from_secs(20)));
        assert_eq!((e.kind, e.retry), (Kind::Unavailable, RetryClass::After));
        // Other statuses still skip the fields.
        let e = decode_fields(500, &[("ratelimit", "\"p\";r=0;t=20")]);
        assert_eq!(e.retry_after, None);
    }

    use proptest::prelude::*;

    /// The tape of checked JSON text.
    fn tape(json: &str) -> Tape<'_> {
        assert!(serde_json::from_str::<IgnoredAny>(json).is_ok(), "{json}");
        Tape::new(json)
    }

    #[test]
    fn raw_values_are_read_by_type() {
        let tape = tape(
            r#"{"s":"plain","e":"a\"b\u00e9","n":402,"f":402.0,"neg":-1,"big":18446744073709551616,"o":{"x":1},"a":[1,"2"],"t":true}"#,
        );
        let obj = tape.root().obj().unwrap();
        assert_eq!(obj.str("s").as_deref(), Some("plain"));
        assert!(matches!(obj.str("s"), Some(Cow::Borrowed(_))));
        assert_eq!(obj.str("e").as_deref(), Some("a\"bé"));
        assert_eq!(obj.str("n"), None);
        assert_eq!(obj.u64("n"), Some(402));
        for key in ["f", "neg", "big", "s", "t", "missing"] {
            assert_eq!(obj.u64(key), None, "{key}");
        }
        assert_eq!(obj.obj("o").map(|o| o.u64("x")), Some(Some(1)));
        assert!(obj.obj("a").is_none() && obj.obj("s").is_none());
        let up_to = |key: &str, max| obj.raw(key).and_then(|a| a.array_up_to(max));
        assert_eq!(up_to("a", 10).map(|a| a.len()), Some(2));
        assert_eq!(up_to("a", 1).map(|a| a.len()), Some(1));
        assert!(up_to("o", 10).is_none());
        assert_eq!(obj.raw("t").and_then(Raw::value), Some(Value::Bool(true)));
        assert!(tape_of("[1]").root().obj().is_none());
        assert!(tape_of("\"{}\"").root().obj().is_none());
        assert!(tape_of("{}").root().array_up_to(1).is_none());
    }

    fn tape_of(json: &str) -> Tape<'_> {
        tape(json)
    }

    /// Splits `raw` level by level and compares every value with the one
    /// `serde_json` parsed.
    fn same(raw: Raw<'_>, value: &Value) -> Result<(), TestCaseError> {
        match value {
            Value::Object(map) => {
                let obj = raw
                    .obj()
                    .ok_or_else(|| TestCaseError::fail("not an object"))?;
                prop_assert_eq!(obj.members.len(), map.len());
                for ((key, raw), (k, v)) in obj.members().zip(map) {
                    prop_assert_eq!(key, k.as_str());
                    same(raw, v)?;
                }
            }
            Value::Array(items) => {
                let raws = raw
                    .array_up_to(usize::MAX)
                    .ok_or_else(|| TestCaseError::fail("not an array"))?;
                prop_assert_eq!(raws.len(), items.len());
                for (raw, item) in raws.into_iter().zip(items) {
                    same(raw, item)?;
                }
            }
            scalar => prop_assert_eq!(&raw.value(), &Some(scalar.clone())),
        }
        Ok(())
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Quotes, backslashes, brackets, controls and non-ASCII in strings.
            "[a-z\"\\\\{}\\[\\],:\u{1}\n é😀]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z\"\\\\{}:,]{0,6}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_tape_splits_as_serde_json_parses(value in json(), pretty in any::<bool>()) {
            let value = Value::Object([("v".to_owned(), value)].into_iter().collect());
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let tape = tape(&text);
            same(tape.root(), &value)?;
        }
    }

    #[test]
    fn nesting_deeper_than_the_tape_is_split_by_counting() {
        let depth = TAPE_DEPTH * 2;
        let text = format!(
            "{{\"a\":{}{{\"k\":\"]}}\\\"\",\"n\":[1,{{}}]}}{},\"b\":2}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let tape = tape(&text);
        same(tape.root(), &value).unwrap();
        // Text that is not JSON gives nonsense or nothing, never a panic.
        for text in [
            "{\"a\":[}",
            "{\"a\":{\"b\":[1,}",
            "{\"a\":\"\\",
            "{\"a\":]",
            "{[",
            "{\"a\":[[[[",
        ] {
            let tape = Tape::new(text);
            assert!(tape.root().obj().is_none(), "{text}");
        }

        // More containers than the tape records: the rest are counted too.
        let items: Vec<Value> = (0..TAPE_SPANS * 2)
            .map(|i| serde_json::json!({"i": i, "a": [[i], {"s": "]\\\""}]}))
            .collect();
        let value = serde_json::json!({"v": items, "after": {"x": [1]}});
        let text = value.to_string();
        let many = tape_of(&text);
        same(many.root(), &value).unwrap();
        let recorded = many.spans.get().map(|s| s.borrow().len);
        assert_eq!(recorded, Some(TAPE_SPANS));
    }

    #[test]
    fn a_member_that_cannot_be_held_loses_only_itself() {
        // Valid JSON text, but no `String` holds a lone surrogate and no
        // number type holds 1e400: those members are dropped, not the rest.
        let body = br#"{"error":{"code":"missing_field","message":"m","details":{"field":"x","bad":"\ud800","huge":1e400}},"request_id":"r"}"#;
        let e = decode(400, &HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
        assert_eq!(
            (e.dialect, e.code.as_deref()),
            ("coded", Some("missing_field"))
        );
        assert_eq!(e.message.as_deref(), Some("m"));
        assert_eq!(Value::Object(e.details), serde_json::json!({"field": "x"}));
        assert_eq!(e.request_id.as_deref(), Some("r"));

        let body = br#"{"detail":{"code":"bad\ud800","message":"m","field":"limit"}}"#;
        let e = decode(400, &HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
        assert_eq!((e.code, e.message.as_deref()), (None, Some("m")));
        assert_eq!(
            Value::Object(e.details),
            serde_json::json!({"field": "limit"})
        );
    }
}
