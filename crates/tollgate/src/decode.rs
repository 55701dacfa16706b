//! Reading errors from any server: the ten dialects, the common others, and
//! bodies that are not JSON at all.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};
use serde::de::{Deserializer, MapAccess, Visitor};
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
    /// The API's own code, verbatim (`RATE_LIMIT_ERROR`, `invalid_key`).
    pub code: Option<String>,
    /// The canonical category.
    pub kind: Kind,
    /// The human-readable message.
    pub message: Option<String>,
    /// Extra context the body carried.
    pub details: Map<String, Value>,
    /// Field-level problems.
    pub violations: Vec<Violation>,
    /// The request id, from the body or a request-id header.
    pub request_id: Option<String>,
    /// How long the server asked the client to wait (the longest hint given).
    #[serde(rename = "retry_after_secs", serialize_with = "as_secs")]
    pub retry_after: Option<Duration>,
    /// Whether and how to retry: the catalog entry's class when the code is
    /// known (and its status matches), else the status's.
    pub retry: RetryClass,
    /// Whether sending the request again may succeed (`retry` is not `never`).
    pub retryable: bool,
    /// The shape recognised: a dialect name, or `azure`, `plain`, `message`,
    /// `errors`, `json`, `html`, `text`, `empty`.
    pub dialect: &'static str,
    #[serde(skip)]
    pub(crate) body_status: Option<u16>,
}

fn as_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl Decoded {
    /// Sets the code when `code` is one (keeps `X-Error-Code`'s otherwise).
    pub(crate) fn set_code<S: AsRef<str> + Into<String>>(&mut self, code: Option<S>) {
        // The body usually repeats `X-Error-Code`: then there is nothing to copy.
        if let Some(code) = code {
            if self.code.as_deref() != Some(code.as_ref()) {
                self.code = Some(code.into());
            }
        }
    }

    /// Records a retry hint; the longest one wins, so nobody retries early.
    pub(crate) fn hint_retry(&mut self, delay: Option<Duration>) {
        if let Some(delay) = delay {
            self.retry_after = Some(self.retry_after.map_or(delay, |d| d.max(delay)));
        }
    }

    pub(crate) fn hint_retry_secs(&mut self, secs: Option<u64>) {
        self.hint_retry(secs.map(Duration::from_secs));
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
        let mut out = Decoded {
            status,
            code: header_str(headers, &headers::X_ERROR_CODE).map(str::to_owned),
            kind: Kind::Internal,
            message: None,
            details: Map::new(),
            violations: Vec::new(),
            request_id: None,
            retry_after: None,
            retry: RetryClass::Never,
            retryable: false,
            dialect: "json",
            body_status: None,
        };
        read_body(body, headers, &mut out);
        if out.status == 0 {
            out.status = out.body_status.unwrap_or(0);
        }
        if out.request_id.is_none() {
            out.request_id = request_id_from_headers(headers);
        }
        if let Some(value) = header_str(headers, &http::header::RETRY_AFTER) {
            out.hint_retry(crate::parse_retry_after(value, now));
        }
        let def = out
            .code
            .as_deref()
            .and_then(|code| self.find_wire_code(code));
        // A code is trusted for its kind and retry advice when the status agrees,
        // or when there is no error status to disagree (0, or a 2xx envelope
        // with `"success": false`).
        let def = def.filter(|d| d.status() == out.status || !(400..=599).contains(&out.status));
        let (kind, retry) = match def {
            Some(def) => (def.kind(), def.retry()),
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

fn header_str<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// [`headers::REQUEST_ID_HEADERS`] as header names, so a lookup hashes a
/// ready name instead of parsing and lowercasing a string first.
static REQUEST_ID_HEADER_NAMES: [HeaderName; 6] = [
    headers::X_REQUEST_ID,
    headers::REQUEST_ID,
    HeaderName::from_static("x-amzn-requestid"),
    HeaderName::from_static("x-ms-request-id"),
    HeaderName::from_static("x-correlation-id"),
    HeaderName::from_static("traceparent"),
];

fn request_id_from_headers(headers: &HeaderMap) -> Option<String> {
    if headers.is_empty() {
        return None;
    }
    let traceparent = REQUEST_ID_HEADER_NAMES.len() - 1;
    REQUEST_ID_HEADER_NAMES
        .iter()
        .enumerate()
        .find_map(|(i, name)| {
            let value = headers.get(name)?.to_str().ok()?.trim();
            let id = if i == traceparent {
                headers::traceparent_trace_id(value)?
            } else {
                value
            };
            (!id.is_empty()).then(|| id.to_owned())
        })
}

fn read_body(body: &[u8], headers: &HeaderMap, out: &mut Decoded) {
    let trimmed = body
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(body)
        .trim_ascii();
    if trimmed.is_empty() {
        out.dialect = "empty";
        return;
    }
    // UTF-8 is checked once here, so that parsing from `str` does not check
    // every raw member again.
    let json = std::str::from_utf8(trimmed);
    if let Some(obj) = json.ok().and_then(Obj::parse) {
        read_object(&obj, out);
        return;
    }
    // JSON that is not an object, or whose strings are not all UTF-8 (which
    // `serde_json` lets pass where it skips values).
    if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() {
        out.dialect = "json";
        return;
    }
    let text = String::from_utf8_lossy(trimmed);
    let is_html = trimmed.starts_with(b"<")
        || header_str(headers, &http::header::CONTENT_TYPE).is_some_and(|ct| ct.contains("html"));
    if is_html {
        out.dialect = "html";
        out.message = html_title(&text).map(|t| truncate(t.trim()));
    } else {
        out.dialect = "text";
        out.message = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(truncate);
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(TEXT_MESSAGE_LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The text of the first `<title>` or `<h1>` of an HTML page.
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

/// Recognises the shape of a JSON object body and reads it.
fn read_object(obj: &Obj<'_>, out: &mut Decoded) {
    let (shape, error) = detect(obj);
    let dialect = match shape {
        Shape::Dialect(d) => {
            d.decode(obj, error.as_ref(), out);
            d.name()
        }
        Shape::Other(name, read) => {
            read(obj, error.as_ref(), out);
            name
        }
    };
    out.dialect = dialect;
    if out.request_id.is_none() {
        out.request_id = obj.string("request_id").or_else(|| obj.string("requestId"));
    }
}

enum Shape {
    Dialect(Dialect),
    Other(&'static str, ReadFn),
}

/// Reads a shape from the body and its `error` object, if it has one.
type ReadFn = fn(&Obj<'_>, Option<&Obj<'_>>, &mut Decoded);

/// The shape of `obj`, with its `error` member already parsed when that is
/// an object, so that readers do not parse it again.
fn detect<'a>(obj: &Obj<'a>) -> (Shape, Option<Obj<'a>>) {
    use Json::*;
    // Problem details carry their extensions at the top level, where a detail
    // named `error` or `success` would look like another shape: the full
    // signature (string `type` and `title`, numeric `status`) wins first.
    if obj.json_type("type") == Some(String)
        && obj.json_type("title") == Some(String)
        && obj.json_type("status") == Some(Number)
    {
        return (Shape::Dialect(Dialect::Problem), None);
    }
    match obj.obj("error") {
        Some(error) => (detect_nested(obj, &error), Some(error)),
        None => (detect_flat(obj), None),
    }
}

/// The shape of a body whose `error` is an object.
fn detect_nested(obj: &Obj<'_>, error: &Obj<'_>) -> Shape {
    use Json::*;
    if error.json_type("code") == Some(Number) {
        let google =
            error.json_type("status") == Some(String) || error.json_type("details") == Some(Array);
        Shape::Dialect(if google {
            Dialect::Google
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

/// The shape of a body without an `error` object.
fn detect_flat(obj: &Obj<'_>) -> Shape {
    use Json::*;
    if obj.json_type("error") == Some(String) {
        return if obj.has("message") {
            Shape::Dialect(Dialect::Flat)
        } else {
            Shape::Other("plain", read_plain)
        };
    }
    if obj.json_type("success") == Some(Bool) {
        return Shape::Dialect(Dialect::Envelope);
    }
    if (obj.json_type("type") == Some(String) || obj.json_type("title") == Some(String))
        && (obj.has("status") || obj.has("detail") || obj.has("title"))
    {
        return Shape::Dialect(Dialect::Problem);
    }
    if obj.json_type("errors") == Some(Array) {
        let first = obj
            .array("errors")
            .and_then(|a| a.first().and_then(|f| Obj::parse(f.get())));
        let jsonapi = first.is_some_and(|f| {
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
    if obj.has("detail") {
        return Shape::Dialect(Dialect::Detail);
    }
    if obj.json_type("message") == Some(String) {
        return Shape::Other("message", read_message);
    }
    Shape::Other("json", |_, _, _| {})
}

/// `{"error":{"code","message","target","details":[…],"innererror"}}` (Azure, OData).
fn read_azure(_: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.set_code(error.str("code"));
    out.message = error.string("message");
    if let Some(inner) = error.value("innererror") {
        out.details.insert("innererror".to_owned(), inner);
    }
    if let Some(target) = error.string("target") {
        out.details.insert("target".to_owned(), target.into());
    }
    for item in error.array("details").unwrap_or_default() {
        let Some(item) = Obj::parse(item.get()) else {
            continue;
        };
        out.violations.push(Violation {
            field: item.string("target").unwrap_or_default(),
            code: item.string("code").unwrap_or_default(),
            message: item.string("message").unwrap_or_default(),
        });
    }
}

/// `{"error":"…"}`: a code when it looks like one, else a message.
fn read_plain(obj: &Obj<'_>, _: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(text) = obj.string("error") else {
        return;
    };
    let looks_like_code = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if looks_like_code {
        out.set_code(Some(text));
    } else {
        out.message = Some(text);
    }
    out.set_code(obj.str("code"));
}

/// `{"message":"…","code":…}`.
fn read_message(obj: &Obj<'_>, _: Option<&Obj<'_>>, out: &mut Decoded) {
    out.message = obj.string("message");
    out.set_code(obj.str("code").or_else(|| obj.str("error_code")));
}

/// `{"errors":[{"message":…,"code"|"extensions":{"code"}}]}` or `{"errors":["…"]}`.
fn read_errors(obj: &Obj<'_>, _: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(first) = obj.array("errors").and_then(|a| a.first().copied()) else {
        return;
    };
    if let Some(text) = string(first) {
        out.message = Some(text.into_owned());
    } else if let Some(first) = Obj::parse(first.get()) {
        out.message = first.string("message");
        let nested = first.obj("extensions").and_then(|e| e.string("code"));
        out.set_code(first.string("code").or(nested));
    }
}

/// A JSON object read lazily: its members' values stay raw text until asked for.
///
/// Decoding never builds a whole `serde_json::Value` tree; it parses only the
/// members a shape needs, which is what keeps it faster than a plain parse.
pub(crate) struct Obj<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl<'a> Obj<'a> {
    /// Parses a JSON object; `None` for anything else.
    pub(crate) fn parse(json: &'a str) -> Option<Obj<'a>> {
        // Types are told by their first byte (raw values start at their first
        // byte), sparing a `serde_json::Error`, which formats its message.
        if !json.starts_with('{') {
            return None;
        }
        serde_json::from_str(json).ok()
    }

    /// The members, in order (keys borrowed).
    pub(crate) fn members(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.members.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// The raw value of `key` (the last one, as JSON parsers do).
    pub(crate) fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    pub(crate) fn json_type(&self, key: &str) -> Option<Json> {
        Some(match self.raw(key)?.get().as_bytes().first()? {
            b'{' => Json::Object,
            b'[' => Json::Array,
            b'"' => Json::String,
            b't' | b'f' => Json::Bool,
            b'n' => Json::Null,
            _ => Json::Number,
        })
    }

    /// A string member, borrowed when it has no escapes.
    pub(crate) fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        string(self.raw(key)?)
    }

    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(Cow::into_owned)
    }

    /// A non-negative integer member (`402`, not `402.0` or `-1`).
    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        integer(self.raw(key)?)
    }

    pub(crate) fn obj(&self, key: &str) -> Option<Obj<'a>> {
        Obj::parse(self.raw(key)?.get())
    }

    pub(crate) fn array(&self, key: &str) -> Option<Vec<&'a RawValue>> {
        array(self.raw(key)?)
    }

    pub(crate) fn value(&self, key: &str) -> Option<Value> {
        value(self.raw(key)?)
    }
}

/// A raw JSON string's text, borrowed when it has no escapes.
pub(crate) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let raw = raw.get();
    let text = raw.strip_prefix('"')?.strip_suffix('"')?;
    // The parser has checked the string: without a backslash, its text is
    // what stands between the quotes. (A fold, not `contains`: short texts
    // are the rule, and this compiles to a few vector compares.)
    if !text.bytes().fold(false, |seen, b| seen | (b == b'\\')) {
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// A raw JSON array's items.
pub(crate) fn array(raw: &RawValue) -> Option<Vec<&RawValue>> {
    let raw = raw.get();
    if !raw.starts_with('[') {
        return None;
    }
    serde_json::from_str(raw).ok()
}

/// A raw JSON number that is a non-negative integer fitting in a `u64`.
pub(crate) fn integer(raw: &RawValue) -> Option<u64> {
    let raw = raw.get();
    // JSON numbers have no `+`: from a leading digit on, `u64`'s parser
    // accepts exactly the integers `serde_json` reads as `u64`.
    if !raw.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// A raw JSON value, parsed.
pub(crate) fn value(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

impl<'de> Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor;
        impl<'de> Visitor<'de> for ObjVisitor {
            type Value = Obj<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<'de>, A::Error> {
                // Error bodies have a handful of members: one allocation.
                let mut members = Vec::with_capacity(8);
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Obj { members })
            }
        }
        d.deserialize_map(ObjVisitor)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_header_names_follow_the_public_list() {
        let names: Vec<&str> = REQUEST_ID_HEADER_NAMES.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, headers::REQUEST_ID_HEADERS);
    }

    #[test]
    fn raw_values_are_read_by_type() {
        let obj = Obj::parse(
            r#"{"s":"plain","e":"a\"b\u00e9","n":402,"f":402.0,"neg":-1,"big":18446744073709551616,"o":{"x":1},"a":[1,"2"],"t":true}"#,
        )
        .unwrap();
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
        assert_eq!(obj.array("a").map(|a| a.len()), Some(2));
        assert!(obj.array("o").is_none());
        assert_eq!(obj.value("t"), Some(Value::Bool(true)));
        assert!(Obj::parse("[1]").is_none() && Obj::parse("{").is_none());
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
