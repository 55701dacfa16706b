//! Happy-path overhead as instruction counts, which a busy machine does not
//! disturb: each service runs under `valgrind --tool=callgrind` twice, with
//! `FEW` and `MANY` requests, and the difference divided by `MANY - FEW` is
//! its cost per request (setup and teardown cancel out).
//!
//! Run: `cargo bench -p tollgate-axum --bench instructions` (skips when
//! valgrind is not installed). `instructions drive MODE N` runs one service
//! for N requests, for a profiler of your own.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Reply, Tollgate, TollgateLayer};
use tower::{Layer, Service, ServiceExt};

const FEW: usize = 1_000;
const MANY: usize = 5_000;

/// The services measured: (name, description).
const MODES: [(&str, &str); 6] = [
    ("bare", "bare router"),
    ("layer-id", "layer around the router, caller's id"),
    ("layer-uuid", "layer around the router, new UUIDv7"),
    ("per-route", "Router::layer (per route), caller's id"),
    ("reply-bare", "bare router, Reply<T> handler"),
    ("reply-envelope", "layer (envelope), Reply<T> handler"),
];

fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn call<S>(app: &mut S, request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    run(async {
        let svc = ServiceExt::<Request<Body>>::ready(app).await.unwrap();
        svc.call(request).await.unwrap()
    })
}

fn with_id() -> Request<Body> {
    Request::get("/")
        .header("x-request-id", "req_01J9ZC4W7X")
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
    Tollgate::new(Catalog::builtin())
        .dialect(Dialect::Envelope)
        .body_limit(1024 * 1024)
        .timeout(Duration::from_secs(30))
        .layer()
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
        "layer-id" => drive(layer().layer(hello()), with_id, n),
        "layer-uuid" => drive(layer().layer(hello()), without_id, n),
        "per-route" => drive(hello().layer(layer()), with_id, n),
        "reply-bare" => drive(reply(), with_id, n),
        "reply-envelope" => drive(layer().layer(reply()), with_id, n),
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
    let mut base = [0.0; 2];
    for (mode, name) in MODES {
        let (Some(few), Some(many)) = (
            instructions(&exe, mode, FEW),
            instructions(&exe, mode, MANY),
        ) else {
            eprintln!("{name}: callgrind gave no count");
            continue;
        };
        let per = (many.saturating_sub(few)) as f64 / (MANY - FEW) as f64;
        let reference = if mode.starts_with("reply") {
            &mut base[1]
        } else {
            &mut base[0]
        };
        if *reference == 0.0 {
            *reference = per;
        }
        println!(
            "{name:<42} {per:>8.0} instructions/request  {:>+6.1}%",
            (per / *reference - 1.0) * 100.0
        );
    }
}
