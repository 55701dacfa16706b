//! An `ApiError` of the built-in catalog, with arbitrary details, violations,
//! message, request id and retry hint, rendered in every dialect and decoded
//! back: the status, the request id, the code and the retry hint survive.

#![no_main]

use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate::{
    Catalog, Context, Dialect, Violation, headers::is_valid_request_id, retry_after_secs,
};

#[derive(Arbitrary, Debug)]
struct Input {
    code: u8,
    details: Vec<(String, Detail)>,
    violations: Vec<(String, String, String)>,
    retry_millis: Option<u32>,
    request_id: Option<String>,
    message: Option<String>,
    instance: Option<String>,
    /// Seconds from the epoch, either way: far past and far future included.
    timestamp: i64,
}

#[derive(Arbitrary, Debug)]
enum Detail {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<String>),
    Object(Vec<(String, i32)>),
}

impl From<Detail> for Value {
    fn from(d: Detail) -> Value {
        match d {
            Detail::Str(s) => s.into(),
            Detail::Int(i) => i.into(),
            Detail::Float(f) => f.into(),
            Detail::Bool(b) => b.into(),
            Detail::Null => Value::Null,
            Detail::List(items) => items.into(),
            Detail::Object(members) => {
                Value::Object(members.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

/// Dialects whose body carries the HTTP status.
fn body_has_status(d: Dialect) -> bool {
    matches!(
        d,
        Dialect::Problem | Dialect::StatusCode | Dialect::Google | Dialect::Jsonapi
    )
}

/// Dialects whose body carries the request id (the others send it in headers).
fn body_has_request_id(d: Dialect) -> bool {
    matches!(
        d,
        Dialect::Problem
            | Dialect::StatusCode
            | Dialect::Coded
            | Dialect::Meta
            | Dialect::Google
            | Dialect::Jsonapi
    )
}

/// Dialects whose body carries the retry hint.
fn body_has_retry(d: Dialect) -> bool {
    matches!(
        d,
        Dialect::Problem | Dialect::StatusCode | Dialect::Google | Dialect::Jsonapi
    )
}

fuzz_target!(|input: Input| {
    let catalog = Catalog::builtin_ref();
    let defs: Vec<_> = catalog.iter().collect();
    let def = defs[usize::from(input.code) % defs.len()];
    let mut err = catalog.error(def.code()).expect("listed code is known");
    for (key, value) in input.details {
        // Keys the catalog refuses to document (they collide with a dialect's
        // own members) are left out, as `tollgate lint` would.
        if Dialect::ALL
            .iter()
            .any(|d| d.reserved_detail_keys().contains(&key.as_str()))
        {
            continue;
        }
        err = err.with(key, value);
    }
    for (field, code, message) in input.violations {
        err = err.violation(Violation::new(field, code, message));
    }
    if let Some(message) = input.message {
        err = err.with_message(message);
    }
    let retry = input
        .retry_millis
        .map(|ms| Duration::from_millis(u64::from(ms)));
    if let Some(delay) = retry {
        err = err.retry_after(delay);
    }
    // Layers only ever echo valid request ids.
    let request_id = input.request_id.filter(|id| is_valid_request_id(id));
    let offset = Duration::from_secs(input.timestamp.unsigned_abs());
    let now = if input.timestamp >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    };
    let Some(now) = now else { return };
    let mut ctx = Context::new(now);
    if let Some(id) = &request_id {
        ctx = ctx.request_id(id);
    }
    if let Some(instance) = &input.instance {
        ctx = ctx.instance(instance);
    }
    let retry_secs = retry.map(|d| Duration::from_secs(retry_after_secs(d)));

    for dialect in Dialect::ALL {
        let response = catalog.renderer(dialect).response(&err, &ctx);
        let body = response.body();
        let wire_code = def.wire_code(dialect);
        let shown = || format!("{dialect} body {}", String::from_utf8_lossy(body));
        serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", shown()));

        // As a client sees it: status, headers and body.
        let back = tollgate::decode(response.status().as_u16(), response.headers(), body, now);
        assert_eq!(back.status, err.status(), "{}", shown());
        assert_eq!(
            back.code.as_deref(),
            Some(&*wire_code),
            "{}: {back:?}",
            shown()
        );
        if request_id.is_some() {
            assert_eq!(back.request_id, request_id, "{}: {back:?}", shown());
        }
        assert_eq!(back.retry_after, retry_secs, "{}: {back:?}", shown());

        // The body alone, where the dialect has room for each.
        let bare = tollgate::decode(0, &HeaderMap::new(), body, now);
        assert_eq!(bare.dialect, dialect.name(), "{}: {bare:?}", shown());
        if body_has_status(dialect) {
            assert_eq!(bare.status, err.status(), "{}: {bare:?}", shown());
        }
        if body_has_request_id(dialect) && request_id.is_some() {
            assert_eq!(bare.request_id, request_id, "{}: {bare:?}", shown());
        }
        if body_has_retry(dialect) {
            assert_eq!(bare.retry_after, retry_secs, "{}: {bare:?}", shown());
        }
    }
});
