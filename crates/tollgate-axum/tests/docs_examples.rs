//! The per-dialect bodies in the crate docs are what the layer writes.
//!
//! `TOLLGATE_BLESS=1 cargo test -p tollgate-axum --test docs_examples`
//! rewrites them after an intended change.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::post;
use http_body_util::BodyExt;
use serde::Deserialize;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Json, Tollgate};
use tower::ServiceExt;

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/docs/crate.md");

#[derive(Deserialize)]
#[allow(dead_code)]
struct Frame {
    t: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct NewScan {
    session_id: String,
    frames: Vec<Frame>,
}

async fn rendered(dialect: Dialect) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
    let app = Router::new()
        .route("/v2/scans", post(|Json(_): Json<NewScan>| async { "ok" }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(dialect)
                .clock(move || at)
                .layer(),
        );
    let request = Request::post("/v2/scans")
        .header("content-type", "application/json")
        .header("x-request-id", "req_42")
        .body(Body::from(
            r#"{"session_id":"s_1","frames":[{"t":0},{"t":"x"}]}"#,
        ))
        .unwrap();
    let body = app
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

/// The ```json block after the `### `name`` heading, and where it is.
fn block(docs: &str, dialect: Dialect) -> (usize, usize) {
    let heading = format!("### `{}`\n", dialect.name());
    let at = docs
        .find(&heading)
        .unwrap_or_else(|| panic!("no heading for {dialect}"));
    let start = at + docs[at..].find("```json\n").unwrap() + "```json\n".len();
    let end = start + docs[start..].find("\n```").unwrap();
    (start, end)
}

#[tokio::test]
async fn every_dialect_is_documented_as_rendered() {
    let mut docs = std::fs::read_to_string(DOCS).unwrap();
    let bless = std::env::var_os("TOLLGATE_BLESS").is_some();
    for dialect in Dialect::ALL {
        let actual = rendered(dialect).await;
        let (start, end) = block(&docs, dialect);
        if bless {
            docs.replace_range(start..end, &actual);
            continue;
        }
        let documented: serde_json::Value = serde_json::from_str(&docs[start..end])
            .unwrap_or_else(|e| panic!("{dialect}: the documented body is not JSON: {e}"));
        let actual: serde_json::Value = serde_json::from_str(&actual).unwrap();
        assert_eq!(
            documented, actual,
            "{dialect}: the docs and the layer disagree"
        );
    }
    if bless {
        std::fs::write(DOCS, docs).unwrap();
    }
}
