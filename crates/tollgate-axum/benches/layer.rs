//! The layer's cost: a hello-world router with the full Tollgate stack vs the
//! bare router (happy path), and the time to render a rejection (error path).
//!
//! Run: `cargo bench -p tollgate-axum --bench layer`
//!
//! Each iteration builds a request and drives `ready().call()` to completion
//! with a no-op waker (every future here is ready at once), so the numbers are
//! the services' own work, not a runtime's scheduling. Layers are built
//! outside the timing.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::{get, post};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Json, Tollgate, TollgateLayer, TollgateService};
use tower::Layer;

// This bench uses only `call` of what the benches share.
#[allow(dead_code)]
mod common;
use common::call;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Item {
    name: String,
}

fn bare() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/items", post(|Json(_): Json<Vec<Item>>| async { "ok" }))
}

fn stack(dialect: Dialect) -> TollgateLayer {
    Tollgate::new(Catalog::builtin())
        .dialect(dialect)
        .body_limit(1024 * 1024)
        .timeout(Duration::from_secs(30))
        .layer()
}

/// The whole router wrapped in the layer (the cheapest way to install it).
fn full(dialect: Dialect) -> TollgateService<Router> {
    stack(dialect).layer(bare())
}

fn hello(with_id: bool) -> Request<Body> {
    let mut builder = Request::get("/");
    if with_id {
        builder = builder.header("x-request-id", "req_01J9ZC4W7X");
    }
    builder.body(Body::empty()).unwrap()
}

fn happy_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let mut group = c.benchmark_group("happy");
    let mut app = bare();
    group.bench_function("bare", |b| {
        b.iter(|| black_box(call(&mut app, hello(true))))
    });
    let mut app = full(Dialect::Envelope);
    group.bench_function("tollgate/caller_id", |b| {
        b.iter(|| black_box(call(&mut app, hello(true))))
    });
    group.bench_function("tollgate/new_uuid_v7", |b| {
        b.iter(|| black_box(call(&mut app, hello(false))))
    });
    // `Router::layer` wraps every route (and adds axum's per-route boxing).
    let mut app = bare().layer(stack(Dialect::Envelope));
    group.bench_function("router_layer/caller_id", |b| {
        b.iter(|| black_box(call(&mut app, hello(true))))
    });
    group.finish();
}

fn error_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let mut group = c.benchmark_group("error");
    let not_found = || {
        Request::get("/nowhere")
            .header("x-request-id", "req_1")
            .body(Body::empty())
            .unwrap()
    };
    let invalid = || {
        Request::post("/items")
            .header("x-request-id", "req_1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"[{"name":"a"},{"name":"b"},{"name":5}]"#))
            .unwrap()
    };
    let mut app = bare();
    group.bench_function("bare/not_found", |b| {
        b.iter(|| black_box(call(&mut app, not_found())))
    });
    group.bench_function("bare/validation", |b| {
        b.iter(|| black_box(call(&mut app, invalid())))
    });
    for dialect in [Dialect::Envelope, Dialect::Problem, Dialect::Google] {
        let mut app = full(dialect);
        group.bench_function(format!("tollgate/not_found/{dialect}"), |b| {
            b.iter(|| black_box(call(&mut app, not_found())))
        });
        group.bench_function(format!("tollgate/validation/{dialect}"), |b| {
            b.iter(|| black_box(call(&mut app, invalid())))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! { name = benches; config = config(); targets = happy_path, error_path }
criterion_main!(benches);
