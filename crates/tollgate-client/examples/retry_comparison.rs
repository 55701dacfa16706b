//! Behaviour comparison: tollgate-client, reqwest-retry and backon, each with
//! its defaults, against the same local server, in one run, in real time.
//!
//! Three scenarios, each run `RUNS` times per client (every run on its own
//! server, all runs at once):
//!
//! - **429 + `Retry-After: 2`**: the first request opens a 2 s rate-limit
//!   window; every request inside it gets a 429 whose `Retry-After` is the
//!   window's remaining time in whole seconds, rounded up; after it, 200. A
//!   retry sent before the time a previous 429 named is an *early retry*.
//! - **503 without a hint**: the first request opens a 1 s outage; every request
//!   inside it gets a bare 503; after it, 200.
//! - **one 503 without a hint**: the first request gets a bare 503, the next 200.
//!
//! Reported per client: runs that ended in a 200, requests sent, early retries
//! and time to success (mean, min, max over the successful runs).
//!
//! ```text
//! cargo run --release -p tollgate-client --example retry_comparison
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use backon::Retryable;
use tokio::time::Instant;

/// Runs per client and scenario (`RUNS` in the environment overrides it).
const DEFAULT_RUNS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    RateLimited,
    Unavailable,
    UnavailableOnce,
}

impl Scenario {
    fn window(self) -> Duration {
        match self {
            Scenario::RateLimited => Duration::from_secs(2),
            Scenario::Unavailable => Duration::from_secs(1),
            Scenario::UnavailableOnce => Duration::ZERO,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Scenario::RateLimited => "429 + Retry-After: 2, then 200",
            Scenario::Unavailable => "503 without a hint for 1 s, then 200",
            Scenario::UnavailableOnce => "one 503 without a hint, then 200",
        }
    }
}

#[derive(Default)]
struct ServerState {
    first: Option<Instant>,
    /// The earliest time the server's last 429 allowed a retry.
    not_before: Option<Instant>,
    requests: usize,
    early: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Tollgate,
    ReqwestRetry,
    Backon,
}

impl Client {
    const ALL: [Client; 3] = [Client::Tollgate, Client::ReqwestRetry, Client::Backon];

    fn name(self) -> &'static str {
        match self {
            Client::Tollgate => "tollgate-client",
            Client::ReqwestRetry => "reqwest-retry",
            Client::Backon => "backon",
        }
    }

    fn setup(self) -> &'static str {
        match self {
            Client::Tollgate => "`tollgate_client::client()`",
            Client::ReqwestRetry => {
                "`RetryTransientMiddleware::new_with_policy(ExponentialBackoff::builder().build_with_max_retries(3))`"
            }
            Client::Backon => "`ExponentialBuilder::default()` around `send()?.error_for_status()`",
        }
    }
}

struct Run {
    ok: bool,
    requests: usize,
    early: usize,
    elapsed: Duration,
}

async fn serve(scenario: Scenario) -> (String, Arc<Mutex<ServerState>>) {
    let state = Arc::new(Mutex::new(ServerState::default()));
    let shared = state.clone();
    let handler = move || {
        let state = shared.clone();
        async move {
            let now = Instant::now();
            let mut s = state.lock().unwrap();
            s.requests += 1;
            if s.not_before.is_some_and(|t| now < t) {
                s.early += 1;
            }
            let first = *s.first.get_or_insert(now);
            let end = first + scenario.window();
            let refuse = match scenario {
                Scenario::UnavailableOnce => s.requests == 1,
                _ => now < end,
            };
            if !refuse {
                return (StatusCode::OK, "{}").into_response();
            }
            match scenario {
                Scenario::RateLimited => {
                    let remaining = end - now;
                    let secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
                    s.not_before = Some(now + Duration::from_secs(secs));
                    let mut response: Response = (
                        StatusCode::TOO_MANY_REQUESTS,
                        r#"{"error":{"code":"RATE_LIMIT_ERROR","message":"Rate limit exceeded","details":{}}}"#,
                    )
                        .into_response();
                    response
                        .headers_mut()
                        .insert("retry-after", HeaderValue::from(secs));
                    response
                }
                Scenario::Unavailable | Scenario::UnavailableOnce => {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
            }
        }
    };
    let app = axum::Router::new().route("/", axum::routing::get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let url = format!("http://{}/", listener.local_addr().expect("local addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

/// A client with its defaults, built before any clock starts (loading TLS
/// roots is not retrying) and before any run begins (so no run's timing shares
/// the CPU with another's setup).
enum Prepared {
    Tollgate(reqwest_middleware::ClientWithMiddleware),
    ReqwestRetry(reqwest_middleware::ClientWithMiddleware),
    Backon(reqwest::Client),
}

fn prepare(client: Client) -> Prepared {
    match client {
        Client::Tollgate => Prepared::Tollgate(tollgate_client::client()),
        Client::ReqwestRetry => {
            use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
            let policy = ExponentialBackoff::builder().build_with_max_retries(3);
            Prepared::ReqwestRetry(
                reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                    .with(RetryTransientMiddleware::new_with_policy(policy))
                    .build(),
            )
        }
        Client::Backon => Prepared::Backon(reqwest::Client::new()),
    }
}

async fn run(client: Prepared, url: String, state: Arc<Mutex<ServerState>>) -> Run {
    let started = Instant::now();
    let ok = match client {
        Prepared::Tollgate(client) => {
            use tollgate_client::RequestBuilderExt;
            client.get(&url).send_api().await.is_ok()
        }
        Prepared::ReqwestRetry(client) => {
            matches!(client.get(&url).send().await, Ok(r) if r.status().is_success())
        }
        Prepared::Backon(http) => {
            let fetch = || async { http.get(&url).send().await?.error_for_status() };
            fetch
                .retry(backon::ExponentialBuilder::default())
                .await
                .is_ok()
        }
    };
    let elapsed = started.elapsed();
    let s = state.lock().unwrap();
    Run {
        ok,
        requests: s.requests,
        early: s.early,
        elapsed,
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

#[tokio::main]
async fn main() {
    let runs_per = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    println!(
        "runs per client and scenario: {runs_per} (all at once, each on its own local server)\n"
    );
    for scenario in [
        Scenario::RateLimited,
        Scenario::Unavailable,
        Scenario::UnavailableOnce,
    ] {
        let mut prepared = Vec::new();
        for client in Client::ALL {
            for _ in 0..runs_per {
                let (url, state) = serve(scenario).await;
                prepared.push((client, prepare(client), url, state));
            }
        }
        let tasks: Vec<_> = prepared
            .into_iter()
            .map(|(client, ready, url, state)| (client, tokio::spawn(run(ready, url, state))))
            .collect();
        let mut results: Vec<(Client, Run)> = Vec::new();
        for (client, task) in tasks {
            results.push((client, task.await.expect("run")));
        }
        println!("### {}\n", scenario.title());
        println!(
            "| client | succeeded | requests per run (mean, min–max) | early retries (total) | time to success, s (mean, min–max) |"
        );
        println!("|---|---|---|---|---|");
        for client in Client::ALL {
            let runs: Vec<&Run> = results
                .iter()
                .filter(|(c, _)| *c == client)
                .map(|(_, r)| r)
                .collect();
            let ok: Vec<&&Run> = runs.iter().filter(|r| r.ok).collect();
            let requests: Vec<f64> = runs.iter().map(|r| r.requests as f64).collect();
            let times: Vec<f64> = ok.iter().map(|r| r.elapsed.as_secs_f64()).collect();
            let early: usize = runs.iter().map(|r| r.early).sum();
            let (rmin, rmax) = runs.iter().fold((usize::MAX, 0), |(lo, hi), r| {
                (lo.min(r.requests), hi.max(r.requests))
            });
            let (tmin, tmax) = times.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
                (lo.min(*t), hi.max(*t))
            });
            println!(
                "| {} | {}/{} | {:.2} ({}–{}) | {} | {:.2} ({:.2}–{:.2}) |",
                client.name(),
                ok.len(),
                runs.len(),
                mean(&requests),
                rmin,
                rmax,
                early,
                mean(&times),
                tmin,
                tmax
            );
        }
        println!();
    }
    println!("Clients:");
    for client in Client::ALL {
        println!("- {}: {}", client.name(), client.setup());
    }
}
