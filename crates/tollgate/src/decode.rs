//! Reading errors from any server: the ten dialects, the common others, and
//! bodies that are not JSON at all.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
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
    pub(crate) fn set_code(&mut self, code: Option<String>) {
        if code.is_some() {
            self.code = code;
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

fn request_id_from_headers(headers: &HeaderMap) -> Option<String> {
    headers::REQUEST_ID_HEADERS.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        let id = if *name == "traceparent" {
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
    if let Ok(obj) = serde_json::from_slice::<Obj<'_>>(trimmed) {
        read_object(&obj, out);
        return;
    }
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
    let dialect = match detect(obj) {
        Shape::Dialect(d) => {
            d.decode(obj, out);
            d.name()
        }
        Shape::Other(name, read) => {
            read(obj, out);
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
    Other(&'static str, fn(&Obj<'_>, &mut Decoded)),
}

fn detect(obj: &Obj<'_>) -> Shape {
    use Json::*;
    // Problem details carry their extensions at the top level, where a detail
    // named `error` or `success` would look like another shape: the full
    // signature (string `type` and `title`, numeric `status`) wins first.
    if obj.json_type("type") == Some(String)
        && obj.json_type("title") == Some(String)
        && obj.json_type("status") == Some(Number)
    {
        return Shape::Dialect(Dialect::Problem);
    }
    if let Some(error) = obj.obj("error") {
        let code = error.json_type("code");
        return if code == Some(Number) {
            let google = error.json_type("status") == Some(String)
                || error.json_type("details") == Some(Array);
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
        };
    }
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
    Shape::Other("json", |_, _| {})
}

/// `{"error":{"code","message","target","details":[…],"innererror"}}` (Azure, OData).
fn read_azure(obj: &Obj<'_>, out: &mut Decoded) {
    let Some(error) = obj.obj("error") else {
        return;
    };
    out.set_code(error.string("code"));
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
fn read_plain(obj: &Obj<'_>, out: &mut Decoded) {
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
    out.set_code(obj.string("code"));
}

/// `{"message":"…","code":…}`.
fn read_message(obj: &Obj<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    out.set_code(obj.string("code").or_else(|| obj.string("error_code")));
}

/// `{"errors":[{"message":…,"code"|"extensions":{"code"}}]}` or `{"errors":["…"]}`.
fn read_errors(obj: &Obj<'_>, out: &mut Decoded) {
    let Some(first) = obj.array("errors").and_then(|a| a.first().copied()) else {
        return;
    };
    if let Ok(text) = serde_json::from_str::<String>(first.get()) {
        out.message = Some(text);
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
        let raw = self.raw(key)?.get();
        if !raw.starts_with('"') {
            return None;
        }
        match serde_json::from_str::<&'a str>(raw) {
            Ok(s) => Some(Cow::Borrowed(s)),
            Err(_) => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(Cow::into_owned)
    }

    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        serde_json::from_str(self.raw(key)?.get()).ok()
    }

    pub(crate) fn obj(&self, key: &str) -> Option<Obj<'a>> {
        Obj::parse(self.raw(key)?.get())
    }

    pub(crate) fn array(&self, key: &str) -> Option<Vec<&'a RawValue>> {
        serde_json::from_str(self.raw(key)?.get()).ok()
    }

    pub(crate) fn value(&self, key: &str) -> Option<Value> {
        serde_json::from_str(self.raw(key)?.get()).ok()
    }

    pub(crate) fn map(&self, key: &str) -> Option<Map<String, Value>> {
        serde_json::from_str(self.raw(key)?.get()).ok()
    }
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
                let mut members = Vec::new();
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
