//! Happy-path overhead measured robustly on a busy machine: bare and layered
//! routers run in alternating rounds, and each keeps its fastest round (the
//! one least disturbed by other processes).
//!
//! Run: `cargo bench -p tollgate-axum --bench paired`

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use tollgate::{Catalog, Dialect};
use tollgate_axum::Tollgate;
use tower::util::MapRequestLayer;
use tower::{Layer, Service};

mod common;
use common::{EchoId, call, caller_id};

const ROUNDS: usize = 200;
const CALLS: usize = 2_000;

fn round<S>(app: &mut S, request: fn() -> Request<Body>) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for _ in 0..CALLS {
        black_box(call(app, request()));
    }
    start.elapsed() / CALLS as u32
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let hello = || Router::new().route("/", get(|| async { "Hello, World!" }));
    let layer = Tollgate::new(Catalog::builtin())
        .dialect(Dialect::Envelope)
        .body_limit(1024 * 1024)
        .timeout(Duration::from_secs(30))
        .layer();
    // `Router::layer` boxes and clones every route's service per request,
    // whatever the layer: a layer that does nothing, installed the same way,
    // is the fair reference for the per-route row.
    let no_op: MapRequestLayer<fn(Request<Body>) -> Request<Body>> =
        MapRequestLayer::new(std::convert::identity);
    let mut bare = hello();
    let mut wrapped = layer.layer(hello());
    let mut per_route_no_op = hello().layer(no_op);
    let mut per_route = hello().layer(layer.clone());
    let mut echo_id = EchoId(hello());
    let with_id = || {
        Request::get("/")
            .header("x-request-id", caller_id())
            .body(Body::empty())
            .unwrap()
    };
    let without_id = || Request::get("/").body(Body::empty()).unwrap();

    // (name, index of the row it is compared with)
    let rows = [
        ("bare router, caller's id", 0),
        ("layer around the router, caller's id", 0),
        ("bare router, no id", 2),
        ("layer around the router, new UUIDv7", 2),
        ("Router::layer(no-op), caller's id", 4),
        ("Router::layer(tollgate), caller's id", 4),
        ("floor: a layer that only echoes the id", 0),
    ];
    let mut best = [Duration::MAX; 7];
    for _ in 0..ROUNDS {
        best[0] = best[0].min(round(&mut bare, with_id));
        best[1] = best[1].min(round(&mut wrapped, with_id));
        best[2] = best[2].min(round(&mut bare, without_id));
        best[3] = best[3].min(round(&mut wrapped, without_id));
        best[4] = best[4].min(round(&mut per_route_no_op, with_id));
        best[5] = best[5].min(round(&mut per_route, with_id));
        best[6] = best[6].min(round(&mut echo_id, with_id));
    }
    for ((name, reference), t) in rows.iter().zip(best) {
        let ns = t.as_nanos() as f64;
        let base = best[*reference].as_nanos() as f64;
        println!(
            "{name:<42} {ns:>7.0} ns/request  {:>+6.1}% ({:+.0} ns)",
            (ns / base - 1.0) * 100.0,
            ns - base
        );
    }
}
