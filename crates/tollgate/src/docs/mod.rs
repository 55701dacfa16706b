//! The error reference, generated from the catalog: an HTML page, Markdown,
//! and OpenAPI 3.1 responses, each with example bodies in the active dialect.
//!
//! ```
//! use tollgate::{Catalog, Dialect, docs};
//! let catalog = Catalog::builtin();
//! let page = docs::html(&catalog, Dialect::Problem, None);
//! assert!(page.contains(r#"<section id="rate_limit_exceeded""#));
//! let md = docs::markdown(&catalog, Dialect::Envelope);
//! assert!(md.contains("## `insufficient_credits`"));
//! let components = docs::openapi::components(&catalog, Dialect::Problem);
//! assert!(components["responses"]["not_found"].is_object());
//! ```

mod html;
mod markdown;
pub mod openapi;

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use html::html;
pub use markdown::markdown;

use crate::{ApiError, Catalog, Context, Dialect, ErrorDef, RetryClass, Violation};

/// The request id used in examples.
pub const EXAMPLE_REQUEST_ID: &str = "req_01JEXAMPLE";

/// The instant used in examples (`2025-01-01T00:00:00Z`).
pub fn example_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

/// An occurrence of `def` with sample details (`"<key>"`), a sample violation
/// for validation errors, and a 60 s retry hint where the class waits for one.
pub fn example_error(catalog: &Catalog, def: &ErrorDef) -> ApiError {
    let def = catalog
        .get(def.code())
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(def.clone()));
    let mut err = ApiError::new(def.clone());
    for key in def.detail_keys() {
        err = err.with(key.clone(), format!("<{key}>"));
    }
    if def.code() == "validation_error" {
        err = err.violation(Violation::new(
            "items[0].name",
            "invalid_type",
            "must be a string",
        ));
    }
    if def.retry() == RetryClass::After {
        err = err.retry_after(Duration::from_secs(60));
    }
    err
}

/// The example body of `def` in `dialect`, as a JSON value.
pub fn example_body(catalog: &Catalog, dialect: Dialect, def: &ErrorDef) -> Value {
    let err = example_error(catalog, def);
    let ctx = Context::new(example_time()).request_id(EXAMPLE_REQUEST_ID);
    let body = catalog.renderer(dialect).body(&err, &ctx);
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// The example response of `def` in `dialect` as it is served: status line,
/// headers, blank line, pretty-printed body.
pub fn example_response(catalog: &Catalog, dialect: Dialect, def: &ErrorDef) -> String {
    let err = example_error(catalog, def);
    let ctx = Context::new(example_time()).request_id(EXAMPLE_REQUEST_ID);
    let renderer = catalog.renderer(dialect);
    let mut out = String::new();
    let status = http::StatusCode::from_u16(def.status()).ok();
    let reason = status.and_then(|s| s.canonical_reason()).unwrap_or("");
    let _ = writeln!(out, "HTTP/1.1 {} {reason}", def.status());
    for (name, value) in renderer.headers(&err, &ctx) {
        let _ = writeln!(out, "{name}: {}", value.to_str().unwrap_or(""));
    }
    out.push('\n');
    let body = renderer.body(&err, &ctx);
    let pretty = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    out.push_str(&pretty);
    out
}

/// What a client should do about retrying, in one sentence.
pub fn retry_advice(retry: RetryClass) -> &'static str {
    match retry {
        RetryClass::Never => "Do not retry as is: fix the request first.",
        RetryClass::After => "Retry after the delay in Retry-After (or retry_after in the body).",
        RetryClass::Backoff => "Retry with exponential backoff and jitter.",
    }
}

/// Whether `def` matches a search query (code, status, title, message, remedy).
pub(crate) fn matches(def: &ErrorDef, query: &str) -> bool {
    let query = query.trim().to_lowercase();
    query.is_empty()
        || query.split_whitespace().all(|word| {
            def.code().contains(word)
                || def.status().to_string() == word
                || def.title().to_lowercase().contains(word)
                || def.message().as_str().to_lowercase().contains(word)
                || def
                    .remedy_text()
                    .is_some_and(|r| r.to_lowercase().contains(word))
                || def
                    .aliases()
                    .values()
                    .any(|a| a.to_lowercase().contains(word))
        })
}
