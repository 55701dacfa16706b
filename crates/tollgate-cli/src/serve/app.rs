//! The example API's router: which layers guard which routes, in which order.
//!
//! From the outside in, a request meets:
//!
//! 1. the `tollgate-axum` layer: request id, dialect negotiation, the body
//!    limit, the handler deadline, panics, and the rendering of every error
//!    (its own and those of the layers below) in the negotiated dialect;
//! 2. the per-IP rate limit (before authentication, so key guessing is
//!    limited too, and before decompression, so a body in a coding refused
//!    counts too: only what the gate refuses from a request's head alone,
//!    a body declared past the limit or a `Transfer-Encoding` it cannot
//!    read, is not counted). While Redis cannot be reached, both rate limits let
//!    requests through unlimited, or answer 503 `service_unavailable` with
//!    `Retry-After` when `--rate-limit-fail closed`;
//! 3. request decompression (`tollgate_axum::Decompression`): a `gzip`
//!    (every member) or `deflate` body is decoded as the handler reads it, and the body limit counts the
//!    decoded bytes, so a decompression bomb is `payload_too_large`; other
//!    codings are refused with `unsupported_media_type`;
//! 4. on the `/v1/…` routes only: authentication (`tollgate-store`), then the per-key
//!    rate limit keyed by the authenticated key, then per route the scope,
//!    idempotency and credits (`RouteLayer`), then the handler. A request
//!    refused by a rate limit is never charged.
//!
//! `/errors` and `/openapi.json` need no key.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::middleware;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use bytes::Bytes;
use tollgate::{ApiError, Catalog, CatalogErrors, Dialect};
use tollgate_axum::{Decompression, Tollgate};
use tollgate_limit::{
    ApiKey, Backend, ClientIp, FailMode, Limiter, Policy, PolicyError, RateLimitLayer,
};
use tollgate_store::{Gatekeeper, Idempotency, RouteLayer};

use super::db::Scans;
use super::{detections, reference, scans};

/// serve's domain errors, loaded onto the built-in catalog.
pub(crate) const EMBEDDED_CATALOG: &str = include_str!("catalog.toml");
/// The name the embedded catalog's problems are reported under.
pub(crate) const EMBEDDED_CATALOG_NAME: &str = "<serve catalog.toml>";
/// The largest request body, in bytes (8 MiB).
pub(crate) const BODY_LIMIT: usize = 8 << 20;
/// The per-key limit: calls per window.
pub(crate) const PER_KEY_CALLS: u64 = 100;
/// The per-IP limit: calls per window.
pub(crate) const PER_IP_CALLS: u64 = 1000;
/// The window of both rate limits.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// The built-in catalog with serve's domain errors.
pub(crate) fn base_catalog() -> Result<Catalog, CatalogErrors> {
    Catalog::from_toml(EMBEDDED_CATALOG_NAME, EMBEDDED_CATALOG)
}

/// An occurrence of `code` from `catalog`; a code the catalog lacks is a
/// bug here, answered as `internal_error` with the reason logged.
pub(crate) fn error(catalog: &Catalog, code: &str) -> ApiError {
    match catalog.error(code) {
        Ok(err) => err,
        Err(unknown) => match Catalog::builtin_ref().error("internal_error") {
            Ok(err) => err.with_source(unknown),
            Err(_) => unreachable!("the built-in catalog has internal_error"),
        },
    }
}

/// `err` as `catalog` defines its code (an error raised from the built-in
/// catalog by an extractor, in the app's wording).
pub(crate) fn adopt(catalog: &Catalog, err: ApiError) -> ApiError {
    match catalog.get(err.code()) {
        Some(def) => err.with_def(def.clone()),
        None => err,
    }
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The effective catalog: built-in, serve's, then `--catalog` files.
    pub(crate) catalog: Arc<Catalog>,
    /// The default dialect.
    pub(crate) dialect: Dialect,
    /// The scans table.
    pub(crate) scans: Scans,
    /// `GET /openapi.json`, rendered once.
    pub(crate) openapi: Bytes,
    /// `GET /errors` without a search, rendered once (a large catalog's
    /// page takes as long to render as its size).
    pub(crate) reference: Bytes,
    /// Where images are decoded (see [`Decoders`](super::scans::Decoders)).
    pub(crate) decoders: super::scans::Decoders,
}

impl AppState {
    /// An occurrence of `code` from the app's catalog.
    pub(crate) fn error(&self, code: &str) -> ApiError {
        error(&self.catalog, code)
    }

    /// The time now.
    pub(crate) fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// How the layers are set up.
#[derive(Clone, Debug)]
pub(crate) struct Layers {
    /// Where rate limits are counted: memory or Redis.
    pub(crate) limits: Backend,
    /// What requests get while that store cannot be reached.
    pub(crate) fail_mode: FailMode,
    /// How the client IP is found (trusted proxies).
    pub(crate) client_ip: ClientIp,
    /// The handler deadline.
    pub(crate) timeout: Duration,
    /// Whether a client asking for problem details in `Accept` gets them.
    pub(crate) problem_on_accept: bool,
}

/// Adds `resource` and `access` to `insufficient_scope` (`scans` and `write`
/// for `scans:write`), so seed 000's hint "Your token does not grant write
/// permissions for scans." can be written from them.
async fn scope_details(mut response: Response) -> Response {
    let Some(err) = response.extensions().get::<ApiError>() else {
        return response;
    };
    if err.code() != "insufficient_scope" || err.details().contains_key("resource") {
        return response;
    }
    let split = err
        .details()
        .get("scope")
        .and_then(|s| s.as_str())
        .and_then(|s| s.split_once(':'))
        .map(|(resource, access)| (resource.to_owned(), access.to_owned()));
    if let Some((resource, access)) = split {
        let err = err
            .clone()
            .with("resource", resource)
            .with("access", access);
        response.extensions_mut().insert(err);
    }
    response
}

/// The whole API.
pub(crate) fn router(
    state: Arc<AppState>,
    gate: &Gatekeeper,
    layers: Layers,
) -> Result<Router, PolicyError> {
    let catalog = state.catalog.clone();
    let dialect = state.dialect;
    let per_key = Limiter::builder()
        .policy(
            Policy::new("per-key", PER_KEY_CALLS, WINDOW)?,
            // The key that authenticated the request (the auth layer is
            // outside this one), not any key sent.
            ApiKey::from_extension(),
        )
        .backend(layers.limits.clone())
        .fail_mode(layers.fail_mode)
        .build();
    let per_ip = Limiter::builder()
        .policy(
            Policy::new("per-ip", PER_IP_CALLS, WINDOW)?,
            layers.client_ip,
        )
        .backend(layers.limits)
        .fail_mode(layers.fail_mode)
        .build();
    let per_key = RateLimitLayer::new(per_key)
        .catalog(catalog.clone())
        .dialect(dialect);
    // Authentication, the per-key limit, then the route's own needs. On the
    // method routes only, so a wrong method is 405 and an unknown path 404
    // whether or not a key is sent.
    let guard = |route: MethodRouter<Arc<AppState>>, needs: RouteLayer| {
        route
            .route_layer(needs)
            .route_layer(per_key.clone())
            .route_layer(gate.auth())
            .route_layer(middleware::map_response(scope_details))
    };
    let write = |scope: &str| {
        gate.route()
            .scope(scope)
            .cost(1)
            .idempotency(Idempotency::Optional)
    };
    let v1 = Router::new()
        .route(
            "/v1/scans",
            guard(post(scans::create), write("scans:write")),
        )
        .route(
            "/v1/scans/{id}",
            guard(get(scans::show), gate.route().scope("scans:read")),
        )
        .route(
            "/v1/detections",
            guard(post(detections::create), write("detections:write")),
        )
        .with_state(state.clone());
    let public = Router::new()
        .route("/errors", get(reference::errors))
        .route("/openapi.json", get(reference::openapi))
        .with_state(state);
    let tollgate = Tollgate::new((*catalog).clone())
        .dialect(dialect)
        .problem_on_accept(layers.problem_on_accept)
        .body_limit(BODY_LIMIT)
        .timeout(layers.timeout);
    Ok(public
        .merge(v1)
        .layer(Decompression)
        .layer(
            RateLimitLayer::new(per_ip)
                .catalog(catalog)
                .dialect(dialect),
        )
        .layer(tollgate.layer()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_loads_and_documents_what_serve_raises() {
        let catalog = base_catalog().unwrap();
        for code in [
            "input_format_error",
            "low_confidence",
            "insufficient_frames",
            "upstream_unavailable",
        ] {
            assert!(catalog.get(code).is_some(), "{code}");
        }
        let err = error(&catalog, "insufficient_frames")
            .with("model", "10")
            .with("required", 10)
            .with("received", 5);
        assert_eq!(
            err.message(),
            r#"Insufficient frames. Model "10" requires 10 frames, received 5."#
        );
        let conflict = catalog.get("conflict").unwrap();
        assert_eq!(conflict.detail_keys(), ["scan_id", "reason"]);
        // The reference shows the body limit serve sets.
        let too_large = catalog.get("payload_too_large").unwrap();
        assert_eq!(too_large.example_value("limit"), Some(&BODY_LIMIT.into()));
        // The seed catalogs load on top of it.
        for file in ["000-001-neolens.toml", "004-detection.toml"] {
            let path = format!(
                "{}/../../examples/catalogs/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let mut extended = catalog.clone();
            extended.load_toml(file, &text).unwrap();
        }
    }

    #[test]
    fn unknown_codes_are_internal_errors_and_adoption_rewords() {
        let mut catalog = base_catalog().unwrap();
        assert_eq!(error(&catalog, "no_such_code").code(), "internal_error");
        catalog
            .load_toml("t.toml", "[errors.not_found]\nmessage = 'Rule not found'\n")
            .unwrap();
        let raised = Catalog::builtin_ref().error("not_found").unwrap();
        assert_eq!(adopt(&catalog, raised).message(), "Rule not found");
    }

    /// Only `insufficient_scope` that has no `resource` yet gains `resource`
    /// and `access`: another code with a `scope` detail is left as it is.
    #[tokio::test]
    async fn scope_details_are_added_to_insufficient_scope_only() {
        /// The details of `code` with `details`, once through `scope_details`.
        async fn detailed(
            code: &str,
            details: &[(&str, &str)],
        ) -> serde_json::Map<String, serde_json::Value> {
            let mut err = error(&base_catalog().unwrap(), code);
            for (key, value) in details {
                err = err.with(*key, *value);
            }
            let mut response = Response::default();
            response.extensions_mut().insert(err);
            let response = scope_details(response).await;
            response
                .extensions()
                .get::<ApiError>()
                .unwrap()
                .details()
                .clone()
        }
        let added = detailed("insufficient_scope", &[("scope", "scans:write")]).await;
        assert_eq!(added["resource"], "scans");
        assert_eq!(added["access"], "write");
        let other = detailed("conflict", &[("scope", "scans:write")]).await;
        assert!(!other.contains_key("resource"), "{other:?}");
        let given = detailed(
            "insufficient_scope",
            &[("scope", "scans:write"), ("resource", "images")],
        )
        .await;
        assert_eq!(given["resource"], "images");
        assert!(!given.contains_key("access"), "{given:?}");
    }
}
