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

pub use html::{HTML_CONTENT_SECURITY_POLICY, html};
pub use markdown::markdown;

use crate::{ApiError, Catalog, Context, Dialect, ErrorDef, RetryClass, Violation};

/// The request id used in examples.
pub const EXAMPLE_REQUEST_ID: &str = "req_01JEXAMPLE";

/// The instant used in examples (`2025-01-01T00:00:00Z`).
pub fn example_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

/// An occurrence of `def` with sample details and message-only values
/// (`"<key>"`), a sample violation for validation errors, and a 60 s retry
/// hint where the class waits for one.
pub fn example_error(catalog: &Catalog, def: &ErrorDef) -> ApiError {
    let def = catalog
        .get(def.code())
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(def.clone()));
    let mut err = ApiError::new(def.clone());
    for key in def.template_keys() {
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

/// Said after an entry's details where its hint takes their place
/// ([`Dialect::sends_hint_of`]), as the encoder decides.
pub(crate) const HINT_GIVES_WAY: &str = " (sent in place of the hint when the error has field \
                                         violations or leaves a blank in the hint)";

/// What a client should do about retrying, in one sentence.
pub fn retry_advice(retry: RetryClass) -> &'static str {
    match retry {
        RetryClass::Never => "Do not retry as is: fix the request first.",
        RetryClass::After => "Retry after the delay in the Retry-After header.",
        RetryClass::Backoff => "Retry with exponential backoff and jitter.",
    }
}

/// Words of a search query kept: a person types a few; a longer query is
/// cut here, so no request can make a search cost more than this many.
const MAX_QUERY_WORDS: usize = 16;

/// The words of a search query: lowercased, each once, at most
/// [`MAX_QUERY_WORDS`].
pub(crate) fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query.split_whitespace().map(str::to_lowercase) {
        if words.len() == MAX_QUERY_WORDS {
            break;
        }
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// Whether `def` has every word (see [`query_words`]) in its code, status,
/// title, message, remedy or dialect aliases.
pub(crate) fn matches(def: &ErrorDef, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let status = def.status().to_string();
    let mut text = [def.code(), def.title(), def.message().as_str()].join("\n");
    for more in def
        .remedy_text()
        .into_iter()
        .chain(def.aliases().values().map(String::as_str))
    {
        text.push('\n');
        text.push_str(more);
    }
    let text = text.to_lowercase();
    words
        .iter()
        .all(|word| *word == status || text.contains(word.as_str()))
}
