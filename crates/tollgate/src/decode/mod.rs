//! Reading errors from any server: the ten dialects, the common others, and
//! bodies that are not JSON at all.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::RETRY_AFTER;
use serde::de::IgnoredAny;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{Catalog, Dialect, Kind, RetryClass, Violation, headers};

mod challenge;
mod charset;
mod cut;
mod hints;
mod json;
mod shapes;
#[cfg(test)]
mod tests;
mod text;

pub use charset::{body_as_utf8, reads_charset};
use hints::{
    Headers, SECONDARY_RATE_LIMIT_WAIT, is_quota_code, is_rate_limit_code, is_secondary_rate_limit,
    quota_refill, quota_spent, retry_after_field,
};
use json::Tape;
pub(crate) use json::{Json, Member, Obj, Raw};
use shapes::{MAX_ERROR_ITEMS, read_errors, read_object};
pub(crate) use shapes::{
    Parsed, is_blank, is_reason_phrase, looks_like_code, message_from_violations, read_field_items,
    repeats_status, stated_status,
};
use text::{decode_references, html_title, truncate, xml_element};

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
    /// The HTTP status: the response's; when that is unknown (0), the one
    /// the body states (`status`, `statusCode`, a number or a string of
    /// three digits as GitHub's; google's `error.code`, a JSON:API error's
    /// `status`), if it is one (100–599).
    pub status: u16,
    /// The API's own code, verbatim (`RATE_LIMIT_ERROR`, `invalid_key`;
    /// AWS's without its namespace). A status's reason phrase sent as
    /// `error` (NestJS's, Spring's `"Bad Request"`) is none. On a 400, 401
    /// or 403 whose body names none, the `error` of a `WWW-Authenticate`
    /// challenge (`invalid_token`, RFC 6750).
    pub code: Option<String>,
    /// The canonical category.
    pub kind: Kind,
    /// The human-readable message; on a 400, 401 or 403 whose body has
    /// none, a `WWW-Authenticate` challenge's `error_description`.
    pub message: Option<String>,
    /// Extra context the body carried: members whose JSON text comes to
    /// 64 KiB at most (a larger one is left out), so that a hostile body of
    /// huge arrays costs about its size; and the `scope` a
    /// `WWW-Authenticate` challenge that states an error names, and its
    /// `error_description` when the body's message is another. A problem
    /// (RFC 9457) that names no code keeps its `type` URI here, which then
    /// names it, and its `title` and `instance`.
    pub details: Map<String, Value>,
    /// Field-level problems: the first thousand (one long field name with
    /// many messages, fewer), so that a hostile body costs about its size.
    pub violations: Vec<Violation>,
    /// The request id, from the body (`request_id`, `requestId`, or a
    /// shape's own), else a request-id header, else a trace id the body
    /// carries (ASP.NET Core's `traceId`, also kept among the `details`).
    pub request_id: Option<String>,
    /// How long the server asked the client to wait: `Retry-After` (of
    /// several lines, the longest), else Azure's `retry-after-ms` or
    /// `x-ms-retry-after-ms`; failing those, the longest of the body's
    /// hints (`retry_after`, google `RetryInfo`); failing those, when a spent
    /// rate-limit quota refills on a 429 or 503 (`RateLimit` with `r=0`,
    /// every line of it counting; `RateLimit-Remaining: 0` with
    /// `RateLimit-Reset`; `X-RateLimit-Remaining: 0` with
    /// `X-RateLimit-Reset`, or `X-Rate-Limit-*` alike; a remaining count of
    /// `0.0` too, and either reset in seconds or as a Unix time, whole or
    /// not; OpenAI's `x-ratelimit-remaining-requests: 0` with
    /// `x-ratelimit-reset-requests: 6m0s`, and `-tokens` alike; Discord's
    /// `X-RateLimit-Reset-After`), and
    /// on a 403 by all of these but the `RateLimit` field, whose `r=0` is
    /// also sent on the call that spent the last of a quota. Serialized as
    /// `retry_after_secs`, in seconds.
    #[serde(rename = "retry_after_secs", serialize_with = "as_secs")]
    pub retry_after: Option<Duration>,
    /// Whether and how to retry: the catalog entry's class when the code is
    /// known (and its status matches), else the status's (a 403 with
    /// `Retry-After` or a spent rate-limit quota counts as a 429, and so does
    /// a 400, 403 or 503 with a throttling code: AWS's `ThrottlingException`,
    /// S3's `SlowDown`, `rate_limit_exceeded`, and an error body with one
    /// under no error status, as Slack's and GraphQL's 200s); a 413 with `Retry-After`
    /// is retried after it (a temporary condition, RFC 9110).
    pub retry: RetryClass,
    /// Whether sending the request again may succeed (`retry` is not `never`).
    pub retryable: bool,
    /// The shape recognised: a dialect name, or `azure`, `aws`, `paypal`,
    /// `heroku`, `zod`, `plain`, `message`, `errors`, `json`, `xml`, `html`,
    /// `text`, `binary` (bytes that are no text, or of a type that names
    /// bytes such as protobuf: no message), `empty`.
    pub dialect: &'static str,
    /// The catalog entry the code was found to be (its catalog code), when
    /// its status agrees: what `kind` and `retry` were taken from. Found
    /// in the dialect the body is in, where two entries write one code in
    /// different dialects.
    #[serde(skip)]
    pub catalog_code: Option<String>,
    /// The JSON text read into `details` so far (see [`MAX_DETAILS_TEXT`]).
    #[serde(skip)]
    pub(crate) details_text: usize,
    /// A trace id the body carries (ASP.NET Core's `traceId`): the request
    /// id when neither the body nor a request-id header names one.
    #[serde(skip)]
    pub(crate) trace_id: Option<String>,
}

/// A delay in seconds: a whole number when it is one, and when it is past
/// any clock (a body's `"1e300s"`, saturated), as a huge `Retry-After` is;
/// else with its fraction (Azure's `retry-after-ms: 1500` is 1.5).
fn as_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) if d.subsec_nanos() == 0 || d.as_secs() == u64::MAX => s.serialize_u64(d.as_secs()),
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
    /// Fills in the code, message and `scope` detail the body left out from
    /// the first `WWW-Authenticate` challenge that states an error, and keeps
    /// its `error_description` as a detail when the body's message differs.
    fn read_challenge(&mut self, headers: &HeaderMap) {
        let Some(error) = challenge::challenge_error(headers) else {
            return;
        };
        if self.code.is_none() {
            self.code = Some(error.code.into_owned());
        }
        match (&self.message, error.description) {
            (None, description) => self.message = description.map(Cow::into_owned),
            // The body's message comes first; the challenge's reason, often
            // the more precise ("The token expired at …" under the body's
            // "Unauthorized"), is kept beside it.
            (Some(message), Some(description)) if *message != description => {
                self.details
                    .entry("error_description")
                    .or_insert_with(|| Value::String(description.into_owned()));
            }
            (Some(_), _) => {}
        }
        if let Some(scope) = error.scope {
            self.details
                .entry("scope")
                .or_insert_with(|| Value::String(scope.into_owned()));
        }
    }

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
            details_text: 0,
            trace_id: None,
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

    /// Takes `status`, which the body states, as the response's when that
    /// is unknown (0) and `status` is an HTTP status (100–599): the members
    /// read after it then read as they would with that status (Spring's
    /// `error` is its reason phrase, no code). The first one read stands.
    pub(crate) fn body_status(&mut self, status: Option<u64>) {
        if self.status != 0 {
            return;
        }
        if let Some(status) = status.and_then(|s| u16::try_from(s).ok()) {
            if (100..=599).contains(&status) {
                self.status = status;
            }
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

/// The IETF RateLimit fields, of the current draft and the earlier ones,
/// whose times are relative to when the response was made.
const RELATIVE_QUOTA_FIELDS: [http::HeaderName; 5] = [
    headers::RATELIMIT,
    headers::RATELIMIT_POLICY,
    http::HeaderName::from_static("ratelimit-limit"),
    headers::RATELIMIT_REMAINING,
    headers::RATELIMIT_RESET,
];

/// Decodes an error response from any API, with the built-in catalog's
/// knowledge of codes. Never panics, whatever the bytes. A JSON body cut
/// short is read as far as it came whole: its open arrays and objects
/// closed, the member the cut ended in (its string or number may go on)
/// left out.
///
/// `status` 0 means unknown: the status the body states stands in for it,
/// if it has one (see [`Decoded::status`]).
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
        // A cached copy's IETF RateLimit fields count from when it was
        // stored (their `t` is relative): not read once it has aged.
        let fresh;
        let headers = if headers::age(headers).is_some_and(|age| !age.is_zero())
            && RELATIVE_QUOTA_FIELDS
                .iter()
                .any(|name| headers.contains_key(name))
        {
            let mut kept = headers.clone();
            for name in &RELATIVE_QUOTA_FIELDS {
                kept.remove(name);
            }
            fresh = kept;
            &fresh
        } else {
            headers
        };
        // Read in the charset the body declares.
        let body = &*body_as_utf8(headers, body);
        let fields = Headers::read(headers);
        let mut out = Decoded::blank(status, fields.error_code().map(str::to_owned));
        let dialect = read_body(body, &fields, self, &mut out);
        if out.request_id.is_none() {
            out.request_id = fields.request_id().map(str::to_owned);
        }
        // Last, a trace id the body carries: ASP.NET Core sends no
        // request-id header, and its logs are kept under that id.
        let trace_id = out.trace_id.take();
        if out.request_id.is_none() {
            out.request_id = trace_id;
        }
        // An OAuth resource server says what is wrong with a token in its
        // challenge (RFC 6750, 3), often over an empty body: that fills in
        // what the body left out.
        if matches!(out.status, 400 | 401 | 403) {
            out.read_challenge(headers);
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
        if let Some(delay) = asked.or_else(|| fields.millisecond_hint()) {
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
        // GitHub's secondary rate limit, told only in its message where
        // neither a field nor a code of the catalog says more: GitHub asks
        // for a minute's wait at least then, and its own client tells the
        // limit by the message.
        let secondary = def.is_none()
            && matches!(out.status, 403 | 429)
            && asked.is_none()
            && quota_refill.is_none()
            && out.message.as_deref().is_some_and(is_secondary_rate_limit);
        if secondary && out.retry_after.is_none() {
            out.hint_retry(Some(SECONDARY_RATE_LIMIT_WAIT));
        }
        out.catalog_code = def.map(|def| def.code().to_owned());
        let (kind, retry) = match def {
            Some(def) => (def.kind(), def.retry()),
            // A spent long-term quota is a bill or a plan to change, not a
            // wait (OpenAI answers it with a 429, Google with a 403), unless
            // the server asks for one.
            None if out.status >= 400
                && out.retry_after.is_none()
                && out.code.as_deref().is_some_and(is_quota_code) =>
            {
                (Kind::QuotaExceeded, RetryClass::Never)
            }
            // A 403 that asks to be retried later, or whose rate-limit fields
            // say the quota is spent, is a rate limit (GitHub answers so).
            None if out.status == 403
                && (asked.is_some()
                    || quota_refill.is_some()
                    || quota_spent(headers)
                    || secondary) =>
            {
                (Kind::RateLimited, RetryClass::After)
            }
            // So is a throttling code on a 400, 403 or 503 (AWS's
            // `ThrottlingException`, S3's `SlowDown`), or where no error
            // status disagrees (Slack's `ok:false` and GraphQL's errors come
            // with a 200).
            None if (matches!(out.status, 400 | 403 | 503) || out.status < 400)
                && out.code.as_deref().is_some_and(is_rate_limit_code) =>
            {
                (Kind::RateLimited, RetryClass::After)
            }
            // A 413 with `Retry-After` says the condition is temporary
            // (RFC 9110, 15.5.14).
            None if out.status == 413 && asked.is_some() => {
                (Kind::from_status(413), RetryClass::After)
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
    headers: &Headers<'_>,
    catalog: &Catalog,
    out: &mut Decoded,
) -> Option<Option<Dialect>> {
    if read_json_array(json, out) {
        return Some(None);
    }
    read_json_object(json, catalog, out).or_else(|| {
        // The content type is read only here, where it decides (and for
        // bodies that are no JSON).
        let content_type = headers.content_type().unwrap_or_default();
        if !json.starts_with('{') || !headers::is_json_media(content_type) {
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
    // Allocated at the first escape replaced: most bodies hold none, and
    // every body read is scanned.
    let mut out = String::new();
    let (mut copied, mut at, mut found) = (0, 0, false);
    // Bytes, not `str` slices: `at` may fall inside a character after a
    // stray backslash; slices are taken only at backslashes and after ASCII.
    while let Some(offset) = memchr::memchr(b'\\', &bytes[at..]) {
        let escape = at + offset;
        match surrogate(escape) {
            Some(true) if keep_pairs && surrogate(escape + 6) == Some(false) => {
                at = escape + 12;
            }
            Some(_) => {
                if !found {
                    // As long as `json`: each escape is replaced by one of
                    // its length.
                    out.reserve(json.len());
                }
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
    if !found {
        return None;
    }
    out.push_str(&json[copied..]);
    Some(out)
}

/// The message of a body whose message a lone surrogate escape kept from
/// being read (`"cut \ud83d"`, JavaScript cutting an emoji in two): the
/// body is read again with each lone one written as `\uFFFD`, and only its
/// message taken, as a message that is not UTF-8 is kept with U+FFFD. Codes,
/// ids and details holding one stay unread, as any member no `String` can
/// hold does. Taken even when the first reading found a message: that one
/// may stand in for the cut one (a first field error's message).
fn read_cut_message(json: &str, headers: &Headers<'_>, catalog: &Catalog, out: &mut Decoded) {
    let Some(replaced) = without_surrogate_escapes(json, true) else {
        return;
    };
    let mut again = Decoded::blank(out.status, None);
    if read_json_body(&replaced, headers, catalog, &mut again).is_some()
        && again.dialect == out.dialect
        && again.message.is_some()
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
    let is_json = match std::str::from_utf8(trimmed) {
        Ok(json) => {
            if let Some(dialect) = read_json_body(json, headers, catalog, out) {
                read_cut_message(json, headers, catalog, out);
                return dialect;
            }
            serde_json::from_str::<IgnoredAny>(json).is_ok()
        }
        // A string that is not UTF-8 (a message in Latin-1, say) does not
        // hide the rest: read with it replaced.
        Err(_) => {
            let text = String::from_utf8_lossy(trimmed);
            if let Some(dialect) = read_json_body(&text, headers, catalog, out) {
                read_cut_message(&text, headers, catalog, out);
                return dialect;
            }
            // `serde_json` skips strings without checking them.
            serde_json::from_slice::<IgnoredAny>(trimmed).is_ok()
        }
    };
    let text = String::from_utf8_lossy(trimmed);
    if !is_json {
        // A JSON body cut short (a stalled connection, a client's size
        // limit) keeps what came whole: its code, its request id.
        let closed = cut::close_cut_json(&text);
        if let Some(dialect) = closed.and_then(|json| read_json_body(&json, headers, catalog, out))
        {
            return dialect;
        }
    }
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
    let content_type = headers.content_type().unwrap_or_default();
    // Media types are case-insensitive (RFC 9110, 8.3.1).
    let media = content_type.to_ascii_lowercase();
    // Markup starts with a tag; text without one is text, whatever its
    // label (Express sends `res.send("Something broke!")` as `text/html`).
    let markup = trimmed.starts_with(b"<");
    // AWS's `<ErrorResponse>`, S3's `<Error>` and EC2's
    // `<Response><Errors><Error>` come without a prolog or an XML content
    // type too.
    let is_xml = trimmed.starts_with(b"<?xml")
        || (markup && media.contains("xml") && !media.contains("html"))
        || ((trimmed.starts_with(b"<Error") || trimmed.starts_with(b"<Response>"))
            && !media.contains("html"));
    let is_html = markup;
    if is_xml {
        // S3's and Azure Storage's `<Error><Code>…</Code><Message>…`, AWS's
        // `<ErrorResponse><Error><Code>…`, EC2's
        // `<Response><Errors><Error><Code>…`: found by searching for the first
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
    } else if binary_media(&media) || is_binary(trimmed, &text) {
        // An image, an archive, random bytes: no message in them.
        out.dialect = "binary";
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

/// Whether a (lower-cased) media type names bytes that are no text: an
/// image, protobuf (`google.rpc.Status`), an archive.
fn binary_media(media: &str) -> bool {
    ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|kind| media.starts_with(kind))
        || [
            "octet-stream",
            "protobuf",
            "grpc",
            "zip",
            "pdf",
            "msgpack",
            "cbor",
        ]
        .iter()
        .any(|name| media.contains(name))
}

/// Whether a body is no text: it holds a NUL byte, or at least four of its
/// first 512 characters, and more than one in sixteen, are controls other
/// than those text holds (tabs, line and page breaks, a terminal's escapes,
/// a bell). Bytes no UTF-8 reads do not count: a text in Latin-1 that does
/// not say so has them.
fn is_binary(body: &[u8], text: &str) -> bool {
    if body.contains(&0) {
        return true;
    }
    let (mut seen, mut controls) = (0, 0);
    for c in text.chars().take(512) {
        seen += 1;
        let texts = matches!(c, '\t' | '\n' | '\r' | '\x07' | '\x0c' | '\x1b');
        controls += usize::from(c.is_control() && !texts);
    }
    controls >= 4 && controls * 16 > seen
}
