//! Happy-path overhead as instruction counts, which a busy machine does not
//! disturb: each service runs under `valgrind --tool=callgrind` twice, with
//! `FEW` and `MANY` requests, and the difference divided by `MANY - FEW` is
//! its cost per request (setup and teardown cancel out).
//!
//! Run: `cargo bench -p tollgate-axum --bench instructions` (skips when
//! valgrind is not installed). `instructions drive MODE N` runs one service
//! for N requests, for a profiler of your own.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Reply, Tollgate, TollgateLayer};
use tower::util::MapRequestLayer;
use tower::{Layer, Service};

mod common;
use common::{EchoId, call, caller_id};

const FEW: usize = 1_000;
const MANY: usize = 5_000;

/// The services measured: (mode, description, the mode it is compared with:
/// the same router bare, sent the same request).
const MODES: [(&str, &str, &str); 16] = [
    ("bare", "bare router, caller's id", "bare"),
    ("layer-id", "layer around the router, caller's id", "bare"),
    ("echo-id", "floor: a layer that only echoes the id", "bare"),
    ("bare-noid", "bare router, no id", "bare-noid"),
    (
        "layer-uuid",
        "layer around the router, new UUIDv7",
        "bare-noid",
    ),
    (
        "noop-route",
        "Router::layer(no-op), caller's id",
        "noop-route",
    ),
    (
        "per-route",
        "Router::layer(tollgate), caller's id",
        "noop-route",
    ),
    ("reply-bare", "bare router, Reply<T> handler", "reply-bare"),
    (
        "reply-envelope",
        "layer (envelope), Reply<T> handler",
        "reply-bare",
    ),
    ("problem", "layer (problem dialect), caller's id", "bare"),
    (
        "bare-browser",
        "bare router, a browser's Accept",
        "bare-browser",
    ),
    (
        "layer-browser",
        "layer around the router, a browser's Accept",
        "bare-browser",
    ),
    ("bare-host", "bare router, a client's Host", "bare-host"),
    (
        "layer-host",
        "layer around the router, a client's Host",
        "bare-host",
    ),
    ("bare-404", "bare router, unmatched route (404)", "bare-404"),
    (
        "layer-404",
        "layer (envelope), unmatched route (404)",
        "bare-404",
    ),
];

fn with_id() -> Request<Body> {
    Request::get("/")
        .header("x-request-id", caller_id())
        .body(Body::empty())
        .unwrap()
}

fn unmatched() -> Request<Body> {
    Request::get("/missing")
        .header("x-request-id", caller_id())
        .body(Body::empty())
        .unwrap()
}

/// With the `Accept` a browser sends (no `problem+json`: a quick look, no
/// weighing).
fn from_a_browser() -> Request<Body> {
    Request::get("/")
        .header("x-request-id", caller_id())
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
        )
        .body(Body::empty())
        .unwrap()
}

/// With the `Host` line every HTTP/1.1 client sends (the others have none,
/// as an HTTP/2 request has none).
fn with_host() -> Request<Body> {
    Request::get("/")
        .header("host", "api.example.com:8080")
        .header("x-request-id", caller_id())
        .body(Body::empty())
        .unwrap()
}

fn without_id() -> Request<Body> {
    Request::get("/").body(Body::empty()).unwrap()
}

fn drive<S>(mut app: S, request: fn() -> Request<Body>, n: usize)
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..n {
        black_box(call(&mut app, request()));
    }
}

fn layer() -> TollgateLayer {
    layer_in(Dialect::Envelope)
}

fn layer_in(dialect: Dialect) -> TollgateLayer {
    Tollgate::new(Catalog::builtin())
        .dialect(dialect)
        .body_limit(1024 * 1024)
        .timeout(Duration::from_secs(30))
        .layer()
}

/// `Router::layer` boxes and clones every route's service per request,
/// whatever the layer: this one does nothing, the reference for per-route.
fn no_op() -> MapRequestLayer<fn(Request<Body>) -> Request<Body>> {
    MapRequestLayer::new(std::convert::identity)
}

fn drive_mode(mode: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let hello = || Router::new().route("/", get(|| async { "Hello, World!" }));
    let reply = || {
        Router::new().route(
            "/",
            get(|| async { Reply(serde_json::json!({"id": "scan_1"})) }),
        )
    };
    match mode {
        "bare" => drive(hello(), with_id, n),
        "bare-noid" => drive(hello(), without_id, n),
        "layer-id" => drive(layer().layer(hello()), with_id, n),
        "layer-uuid" => drive(layer().layer(hello()), without_id, n),
        "echo-id" => drive(EchoId(hello()), with_id, n),
        "noop-route" => drive(hello().layer(no_op()), with_id, n),
        "per-route" => drive(hello().layer(layer()), with_id, n),
        "reply-bare" => drive(reply(), with_id, n),
        "reply-envelope" => drive(layer().layer(reply()), with_id, n),
        "problem" => drive(layer_in(Dialect::Problem).layer(hello()), with_id, n),
        "bare-browser" => drive(hello(), from_a_browser, n),
        "layer-browser" => drive(layer().layer(hello()), from_a_browser, n),
        "bare-host" => drive(hello(), with_host, n),
        "layer-host" => drive(layer().layer(hello()), with_host, n),
        "bare-404" => drive(hello(), unmatched, n),
        "layer-404" => drive(layer().layer(hello()), unmatched, n),
        other => panic!("unknown mode {other:?}"),
    }
}

/// Instructions callgrind counted for `drive MODE n`.
fn instructions(exe: &str, mode: &str, n: usize) -> Option<u64> {
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            exe,
            "drive",
            mode,
            &n.to_string(),
        ])
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split_once("Collected :").map(|(_, n)| n.trim()))
        .and_then(|n| n.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("drive") {
        let mode = args.get(2).map_or("bare", String::as_str);
        let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(FEW);
        drive_mode(mode, n);
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("skipping: valgrind is not installed");
        return;
    }
    let exe = args[0].clone();
    let mut measured: Vec<(&str, f64)> = Vec::new();
    for (mode, name, reference) in MODES {
        let (Some(few), Some(many)) = (
            instructions(&exe, mode, FEW),
            instructions(&exe, mode, MANY),
        ) else {
            eprintln!("{name}: callgrind gave no count");
            continue;
        };
        let per = many.saturating_sub(few) as f64 / (MANY - FEW) as f64;
        measured.push((mode, per));
        let base = measured
            .iter()
            .find(|(m, _)| *m == reference)
            .map_or(per, |(_, b)| *b);
        println!(
            "{name:<42} {per:>8.0} instructions/request  {:>+6.1}% ({:+.0})",
            (per / base - 1.0) * 100.0,
            per - base
        );
    }
}
