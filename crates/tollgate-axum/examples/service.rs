//! A small scan API behind the Tollgate layer: every failure source answers
//! in the catalog's envelope. Run it and try:
//!
//! ```text
//! cargo run -p tollgate-axum --example service
//! curl -i localhost:3000/v2/scans -H 'content-type: application/json' -d '{"frames":[]}'   # missing_field
//! curl -i localhost:3000/v1/scans -H 'content-type: application/json' -d '{"frames":[]}'   # legacy flat shape
//! curl -i localhost:3000/v2/scans -H 'accept: application/problem+json' -d 'x'             # problem details
//! curl -i localhost:3000/v2/scans/abc                                                      # validation_error at `id`
//! curl -i -X DELETE localhost:3000/v2/scans                                                # 405, Allow kept
//! curl -i localhost:3000/v2/panic                                                          # 500, panic text only in the log
//! curl -i localhost:3000/v2/slow                                                           # 504 after 2 s
//! ```
//!
//! With `--self-test` it sends five of them to itself (on 127.0.0.1) and
//! exits: not the problem-details one nor `/v2/slow`, each with a JSON
//! `Content-Type`, and the first with one short frame (`insufficient_frames`).

use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{
    ApiError, HandlerError, Json, Path, Reply, RequestId, Tollgate, ValidationStatus,
};

#[derive(Deserialize)]
struct Frame {
    t: u32,
}

#[derive(Deserialize)]
struct NewScan {
    session_id: String,
    frames: Vec<Frame>,
}

#[derive(Serialize)]
struct Scan {
    id: String,
    frames: usize,
    request_id: String,
}

#[derive(Debug, ApiError)]
enum ScanError {
    #[api(
        code = "insufficient_frames",
        status = 400,
        title = "Not enough frames provided",
        message = "Insufficient frames. Model \"{model}\" requires {required} frames, received {received}.",
        remedy = "Send at least as many frames as the model requires."
    )]
    InsufficientFrames {
        model: String,
        required: usize,
        received: usize,
    },
    #[api(code = "not_found")]
    NotFound,
}

async fn create(id: RequestId, Json(scan): Json<NewScan>) -> Result<Reply<Scan>, HandlerError> {
    if scan.frames.len() < 10 {
        Err(ScanError::InsufficientFrames {
            model: "10".into(),
            required: 10,
            received: scan.frames.len(),
        })?;
    }
    let last = scan.frames.iter().map(|f| f.t).max().unwrap_or_default();
    tracing::info!(session = %scan.session_id, last, "scan created");
    Ok(Reply(Scan {
        id: "scan_1".into(),
        frames: scan.frames.len(),
        request_id: id.to_string(),
    }))
}

async fn show(Path(id): Path<u32>) -> Result<Reply<u32>, ScanError> {
    if id == 1 {
        Ok(Reply(id))
    } else {
        Err(ScanError::NotFound)
    }
}

async fn panics() -> &'static str {
    panic!("the scanner's GPU fell over")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(60)).await;
    "too late"
}

fn app() -> Router {
    let mut catalog = Catalog::builtin();
    for def in ScanError::error_defs() {
        if let Err(problems) = catalog.insert(def) {
            eprintln!("bad catalog entry: {problems:?}");
        }
    }
    let scans = Router::new()
        .route("/scans", post(create))
        .route("/scans/{id}", get(show))
        .route("/panic", get(panics))
        .route("/slow", get(slow));
    Router::new()
        .nest("/v1", scans.clone())
        .nest("/v2", scans)
        .layer(
            Tollgate::new(catalog)
                .dialect(Dialect::Envelope)
                .pin_path("/v1", Dialect::Flat)
                .version_header(HeaderName::from_static("x-api-version"))
                .pin("1", Dialect::Flat)
                .validation_status(ValidationStatus::BadRequest)
                .body_limit(64 * 1024)
                .timeout(Duration::from_secs(2))
                .layer(),
        )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let self_test = std::env::args().any(|a| a == "--self-test");
    let addr = if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local}");
    // Axum's accept loop, plus a deadline on request heads and a bounded
    // shutdown; the deadline is the layer's timeout.
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = tollgate_axum::serve(listener, app(), Duration::from_secs(2), stop);
    let server = tokio::spawn(served);
    if !self_test {
        return server.await.map_err(std::io::Error::other);
    }
    let requests: [(&str, &str, &str); 5] = [
        (
            "POST",
            "/v2/scans",
            r#"{"session_id":"s_1","frames":[{"t":1}]}"#,
        ),
        ("POST", "/v1/scans", r#"{"frames":[]}"#),
        ("GET", "/v2/scans/abc", ""),
        ("DELETE", "/v2/scans", ""),
        ("GET", "/v2/panic", ""),
    ];
    for (method, path, body) in requests {
        let response = raw_request(local, method, path, body).await?;
        println!("\n{method} {path}\n{response}");
    }
    server.abort();
    Ok(())
}

/// One HTTP/1.1 request over a fresh connection, answered in full.
async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await?;
    Ok(out)
}
