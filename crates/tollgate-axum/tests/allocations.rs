//! Allocations the layer adds on the happy path: none when the caller sends
//! a valid `X-Request-Id` (hyper hands header values over as shared bytes, so
//! keeping the id only counts a reference), and one — the new UUIDv7 — when
//! it does not.
//!
//! Counting is per thread (`allocation_counter::measure`), so the test
//! harness's other threads do not disturb it.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response};
use axum::routing::get;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Reply, Tollgate, TollgateLayer};
use tower::Layer;
use tower::util::MapRequestLayer;

// The benches' request helpers; this test uses only `call`.
#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;
use common::call;

fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/reply", get(|| async { Reply([1, 2, 3]) }))
}

fn layer(dialect: Dialect) -> TollgateLayer {
    Tollgate::new(Catalog::builtin())
        .dialect(dialect)
        .body_limit(1024 * 1024)
        .timeout(Duration::from_secs(30))
        .layer()
}

/// `Router::layer` boxes and clones every route's service per request,
/// whatever the layer; this one does nothing, to count that part alone.
fn no_op() -> MapRequestLayer<fn(Request<Body>) -> Request<Body>> {
    MapRequestLayer::new(std::convert::identity)
}

fn request(uri: &'static str, id: Option<&Bytes>) -> impl Fn() -> Request<Body> {
    let id = id.cloned();
    move || {
        let mut builder = Request::get(uri);
        if let Some(id) = &id {
            builder = builder.header(
                "x-request-id",
                HeaderValue::from_maybe_shared(id.clone()).unwrap(),
            );
        }
        builder.body(Body::empty()).unwrap()
    }
}

/// Allocations the layer adds to one request, wrapped around the whole
/// router and installed per route, compared with the same router bare and
/// with a layer that does nothing.
fn added(dialect: Dialect, uri: &'static str, id: Option<&Bytes>) -> (i64, i64) {
    let count = |app: &mut dyn FnMut(Request<Body>) -> Response<Body>| {
        let request = request(uri, id);
        for _ in 0..3 {
            drop(app(request()));
        }
        let request = request();
        let mut response = None;
        let info = allocation_counter::measure(|| response = Some(app(request)));
        drop(response);
        info.count_total as i64
    };
    let mut bare = routes();
    let mut wrapped = layer(dialect).layer(routes());
    let mut per_route = routes().layer(layer(dialect));
    let mut no_op = routes().layer(no_op());
    let bare = count(&mut |r| call(&mut bare, r));
    let wrapped = count(&mut |r| call(&mut wrapped, r));
    let per_route = count(&mut |r| call(&mut per_route, r));
    let no_op = count(&mut |r| call(&mut no_op, r));
    println!(
        "{dialect} {uri} id {}: bare {bare}, wrapped {wrapped}; no-op per route {no_op}, per route {per_route}",
        id.is_some()
    );
    (wrapped - bare, per_route - no_op)
}

#[test]
fn the_happy_path_allocates_only_a_new_request_id() {
    // Shared, as hyper's read buffer is.
    let id = Bytes::from(b"req_01J9ZC4W7X".to_vec());
    drop(id.clone());
    for dialect in [Dialect::Envelope, Dialect::Problem, Dialect::Flat] {
        for uri in ["/", "/reply"] {
            assert_eq!(
                added(dialect, uri, Some(&id)),
                (0, 0),
                "{dialect} {uri}, caller's id"
            );
            assert_eq!(added(dialect, uri, None), (1, 1), "{dialect} {uri}, new id");
        }
    }
}

/// Allocations still held once a request through `app` and its response
/// are dropped; a new id is made for each (none is sent).
fn held_after<S>(app: &mut S, uri: &'static str) -> i64
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    let request = request(uri, None);
    drop(call(app, request()));
    let info = allocation_counter::measure(|| drop(call(app, request())));
    assert!(info.count_total > 0, "{uri}: nothing counted");
    info.count_current as i64
}

#[test]
fn nothing_a_request_allocates_outlives_its_response() {
    for dialect in [Dialect::Envelope, Dialect::Problem, Dialect::Flat] {
        let mut wrapped = layer(dialect).layer(routes());
        let mut per_route = routes().layer(layer(dialect));
        // `/missing` is a 404.
        for uri in ["/", "/reply", "/missing"] {
            assert_eq!(held_after(&mut wrapped, uri), 0, "{dialect} {uri} wrapped");
            assert_eq!(
                held_after(&mut per_route, uri),
                0,
                "{dialect} {uri} per route"
            );
        }
    }
}
