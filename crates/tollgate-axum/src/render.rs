//! Writing an `ApiError` over a response: new status and body in the
//! negotiated dialect, every header already set kept.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use http::header::{
    CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, RETRY_AFTER, TRANSFER_ENCODING, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use tollgate::headers::{REQUEST_ID, X_ERROR_CODE, X_REQUEST_ID};
use tollgate::{ApiError, Catalog, Context, Dialect};

/// The error as `catalog` defines its code: an app's catalog overrides the
/// built-in entries that extractors and other components start from, so its
/// messages, statuses and aliases win. The occurrence (details, violations,
/// the retry hint, headers, source and a replaced message) moves over as is.
pub(crate) fn adopt(catalog: &Catalog, err: ApiError) -> ApiError {
    match catalog.get(err.code()) {
        Some(def) if !Arc::ptr_eq(def, err.def()) => err.with_def(def.clone()),
        _ => err,
    }
}

/// `outer: inner: innermost`, from an error's source.
pub(crate) fn source_chain(err: &ApiError) -> String {
    let mut out = String::new();
    let mut next = err
        .source_error()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(e) = next {
        if !out.is_empty() {
            out.push_str(": ");
        }
        let _ = write!(out, "{e}");
        next = e.source();
    }
    out
}

/// Logs an error as it leaves: server errors at `error` with their source,
/// client errors at `debug`.
pub(crate) fn log(err: &ApiError, request_id: Option<&str>) {
    let request_id = request_id.unwrap_or("-");
    let (code, status) = (err.code(), err.status());
    if status >= 500 {
        match err.source_error() {
            Some(_) => {
                let source = source_chain(err);
                tracing::error!(request_id, code, status, error = %source, "request failed");
            }
            None => tracing::error!(request_id, code, status, "request failed"),
        }
    } else {
        tracing::debug!(request_id, code, status, message = %err.message_display(), "request rejected");
    }
}

/// Marks a response a Tollgate layer rendered: a layer outside it (an app's
/// layer around a sub-router's own) passes it as it is, so that the layer
/// nearest the route decides the dialect and status of its errors, as it
/// does of its [`Reply`](crate::Reply)s, and each error is logged once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rendered;

/// Replaces `response`'s status and body with `err` in `dialect`, keeping
/// every header it had (`Allow`, `WWW-Authenticate`, CORS, …) but those that
/// described the replaced body, and its extensions (a `Retry-After` of the
/// error's own that reads as no wait is not sent); the error itself is left
/// in the extensions for outer layers (an idempotency layer keeps it), beside
/// the [`Rendered`] mark.
pub(crate) fn render(
    catalog: &Catalog,
    dialect: Dialect,
    err: ApiError,
    ctx: &Context<'_>,
    parts: http::response::Parts,
) -> Response<Body> {
    let renderer = catalog.renderer(dialect);
    let mut body = Vec::with_capacity(256);
    renderer.write_body(&err, ctx, &mut body);
    // Stripe's `Request-Id`, written by a renderer of that dialect inside
    // (its response says which), is stale unless this one writes it again;
    // one an app set is its own, and stays.
    let stale_request_id = parts.extensions.get::<Dialect>() == Some(&Dialect::Stripe);
    let mut response = Response::from_parts(parts, Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if stale_request_id {
        headers.remove(REQUEST_ID);
    }
    let mut rendered = renderer.headers(&err, ctx);
    if err.retry_after_delay().is_none() {
        // A `Retry-After` of the error's own that did not read as a wait
        // (`-1`): the error tells none, so neither does the header.
        rendered.retain(|(name, _)| name != RETRY_AFTER);
    }
    merge_headers(headers, rendered);
    response.extensions_mut().insert(renderer.dialect_of(&err));
    response.extensions_mut().insert(err);
    response.extensions_mut().insert(Rendered);
    response
}

/// Headers that describe a body (its length, coding, range, language,
/// version, digest, file name) rather than the response: wrong for the new
/// body, so a rewritten response drops them. Caching policy
/// (`Cache-Control`), `Vary`, CORS and the like stay.
static BODY_HEADERS: [HeaderName; 13] = [
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    CONTENT_RANGE,
    CONTENT_LANGUAGE,
    CONTENT_LOCATION,
    CONTENT_DISPOSITION,
    TRANSFER_ENCODING,
    ETAG,
    LAST_MODIFIED,
    HeaderName::from_static("content-md5"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-digest"),
    HeaderName::from_static("repr-digest"),
];

/// Drops the headers that described the replaced body; then headers the
/// renderer owns replace any earlier value, and the error's own headers are
/// added unless an identical one is already there.
fn merge_headers(headers: &mut HeaderMap, rendered: Vec<(HeaderName, HeaderValue)>) {
    // Most replaced responses carry few headers and none of these: one pass
    // over what is there instead of a lookup per name.
    if headers.keys().any(|name| BODY_HEADERS.contains(name)) {
        for name in &BODY_HEADERS {
            headers.remove(name);
        }
    }
    for (name, value) in rendered {
        let owned = name == CONTENT_TYPE
            || name == X_REQUEST_ID
            || name == X_ERROR_CODE
            || name == RETRY_AFTER
            || name == REQUEST_ID;
        if owned {
            headers.insert(name, value);
        } else if !headers.get_all(&name).iter().any(|v| v == value) {
            headers.append(name, value);
        }
    }
}

/// Adds the header names of `vary` that `headers`' `Vary` does not list
/// yet (as a `Vary` line of their own), unless it is `*` already.
pub(crate) fn add_vary(headers: &mut HeaderMap, vary: &HeaderValue) {
    if !headers.contains_key(VARY) {
        headers.insert(VARY, vary.clone());
        return;
    }
    let listed: Vec<&str> = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if listed.contains(&"*") {
        return;
    }
    let Ok(wanted) = vary.to_str() else {
        return;
    };
    let names = wanted.split(',').map(str::trim);
    let missing: Vec<&str> = names
        .clone()
        .filter(|name| !listed.iter().any(|l| l.eq_ignore_ascii_case(name)))
        .collect();
    if missing.is_empty() {
        return;
    }
    let value = if missing.len() == names.count() {
        vary.clone()
    } else {
        match HeaderValue::from_str(&missing.join(", ")) {
            Ok(value) => value,
            Err(_) => return,
        }
    };
    headers.append(VARY, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response's parts carrying `headers`, as a handler left them.
    fn parts_with(headers: &[(&'static str, &'static str)]) -> http::response::Parts {
        let (mut parts, ()) = Response::new(()).into_parts();
        for &(name, value) in headers {
            parts.headers.insert(name, HeaderValue::from_static(value));
        }
        parts
    }

    #[test]
    fn adopt_takes_the_apps_entry_and_keeps_the_occurrence() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "app.toml",
                "[errors.rate_limit_exceeded]\nmessage = 'Rate limit exceeded. Please try again later.'\ndetails = []\n",
            )
            .unwrap();
        let err = Catalog::builtin_ref()
            .error("rate_limit_exceeded")
            .unwrap()
            .with("limit", 10)
            .with("window", 60)
            .retry_after(std::time::Duration::from_secs(3))
            .header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        let err = err.with_source(std::io::Error::other("store down"));
        let adopted = adopt(&catalog, err);
        assert!(Arc::ptr_eq(
            adopted.def(),
            catalog.get("rate_limit_exceeded").unwrap()
        ));
        assert_eq!(
            adopted.message(),
            "Rate limit exceeded. Please try again later."
        );
        // The app's entry documents no details: the built-in ones go.
        assert!(adopted.details().get("limit").is_none());
        assert_eq!(
            adopted.retry_after_delay(),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(adopted.headers().len(), 1);
        assert_eq!(adopted.message_override(), None);
        // The source keeps its type (it is not flattened to text).
        let source = adopted.source_error().unwrap();
        assert!(source.is::<std::io::Error>());
        assert_eq!(source.to_string(), "store down");
    }

    #[test]
    fn adopt_leaves_errors_of_the_same_entry_alone() {
        let catalog = Catalog::builtin();
        let err = catalog.error("conflict").unwrap().with("id", 7);
        let def = err.def().clone();
        assert!(Arc::ptr_eq(adopt(&catalog, err).def(), &def));
        // A code the catalog does not have keeps its own entry.
        let custom =
            tollgate::ErrorDef::new("gone_fishing", 503, "Gone fishing", "Back soon.").unwrap();
        let err = ApiError::new(Arc::new(custom));
        assert_eq!(adopt(&catalog, err).code(), "gone_fishing");
    }

    #[test]
    fn adopt_keeps_replaced_messages() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml("app.toml", "[errors.not_found]\ntitle = 'Nothing here'\n")
            .unwrap();
        let err = Catalog::builtin_ref()
            .error("not_found")
            .unwrap()
            .with_message("Rule 7 not found");
        let adopted = adopt(&catalog, err);
        assert_eq!(adopted.message(), "Rule 7 not found");
        assert_eq!(adopted.message_override(), Some("Rule 7 not found"));
        assert_eq!(adopted.def().title(), "Nothing here");
    }

    #[test]
    fn a_source_chain_reads_from_outer_to_inner() {
        #[derive(Debug)]
        struct Saving(std::io::Error);
        impl std::fmt::Display for Saving {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("saving the scan")
            }
        }
        impl std::error::Error for Saving {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Catalog::builtin_ref().error("internal_error").unwrap();
        assert_eq!(source_chain(&err), "");
        let err = err.with_source(Saving(std::io::Error::other("disk full")));
        assert_eq!(source_chain(&err), "saving the scan: disk full");
    }

    #[test]
    fn rendering_keeps_headers() {
        let catalog = Catalog::builtin();
        let parts = parts_with(&[
            ("allow", "GET"),
            ("access-control-allow-origin", "*"),
            ("content-length", "0"),
            ("content-type", "text/plain"),
        ]);
        let err = catalog
            .error("method_not_allowed")
            .unwrap()
            .header(http::header::ALLOW, HeaderValue::from_static("GET"));
        let ctx = Context::new(std::time::SystemTime::UNIX_EPOCH).request_id("r1");
        let res = render(&catalog, Dialect::Flat, err, &ctx, parts);
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get_all("allow").iter().count(), 1);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert!(res.headers().get(CONTENT_LENGTH).is_none());
        assert_eq!(res.headers()["x-request-id"], "r1");
        assert_eq!(res.headers()["x-error-code"], "method_not_allowed");
    }

    #[test]
    fn rendering_replaces_the_headers_it_owns_and_adds_the_errors_own() {
        let catalog = Catalog::builtin();
        let parts = parts_with(&[
            ("x-request-id", "stale"),
            ("x-error-code", "stale"),
            ("retry-after", "120"),
            ("ratelimit-policy", "100;w=3600"),
        ]);
        let err = catalog
            .error("rate_limit_exceeded")
            .unwrap()
            .with("limit", 10)
            .with("window", 60)
            .retry_after(std::time::Duration::from_secs(3))
            .header(
                HeaderName::from_static("ratelimit-policy"),
                HeaderValue::from_static("10;w=60"),
            );
        let ctx = Context::new(std::time::SystemTime::UNIX_EPOCH).request_id("r1");
        let res = render(&catalog, Dialect::Flat, err, &ctx, parts);
        let all = |name: &str| -> Vec<_> {
            res.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(all("x-request-id"), ["r1"]);
        assert_eq!(all("x-error-code"), ["rate_limit_exceeded"]);
        assert_eq!(all("retry-after"), ["3"]);
        assert_eq!(all("ratelimit-policy"), ["100;w=3600", "10;w=60"]);
    }

    #[test]
    fn vary_adds_only_what_is_missing() {
        let vary = |lines: &[&'static str], add: &'static str| {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append(VARY, HeaderValue::from_static(line));
            }
            add_vary(&mut headers, &HeaderValue::from_static(add));
            let all: Vec<_> = headers.get_all(VARY).iter().cloned().collect();
            all
        };
        assert_eq!(
            vary(&[], "accept, x-api-version"),
            ["accept, x-api-version"]
        );
        assert_eq!(
            vary(&["Origin"], "accept, x-api-version"),
            ["Origin", "accept, x-api-version"]
        );
        assert_eq!(
            vary(&["origin, Accept"], "accept, x-api-version"),
            ["origin, Accept", "x-api-version"]
        );
        assert_eq!(
            vary(&["X-Api-Version", "accept"], "accept, x-api-version"),
            ["X-Api-Version", "accept"]
        );
        assert_eq!(vary(&["*"], "accept"), ["*"]);
    }

    #[test]
    fn rendering_drops_what_described_the_old_body() {
        let catalog = Catalog::builtin();
        let parts = parts_with(&[
            ("content-encoding", "gzip"),
            ("content-range", "bytes 0-9/10"),
            ("etag", "\"v1\""),
            ("digest", "sha-256=abc"),
            ("cache-control", "no-store"),
            ("vary", "origin"),
        ]);
        let err = catalog.error("not_found").unwrap();
        let ctx = Context::new(std::time::SystemTime::UNIX_EPOCH);
        let res = render(&catalog, Dialect::Problem, err, &ctx, parts);
        for gone in ["content-encoding", "content-range", "etag", "digest"] {
            assert!(!res.headers().contains_key(gone), "{gone}");
        }
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["vary"], "origin");
    }
}
