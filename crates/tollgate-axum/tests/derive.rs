//! `#[derive(ApiError)]`: variants render as their catalog entries.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::BodyExt;
use tollgate::{Catalog, Dialect, Kind, RetryClass};
use tollgate_axum::{ApiError, HandlerError, Tollgate};
use tower::ServiceExt;

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
        required: u32,
        received: u32,
    },
    #[api(code = "not_found")]
    NotFound,
    #[api(
        code = "vlm_provider_error",
        status = 503,
        message = "The vision model is unavailable.",
        retry = "after",
        kind = "unavailable"
    )]
    Provider {
        #[api(source)]
        cause: std::io::Error,
        #[api(retry_after)]
        wait: Duration,
        #[api(skip)]
        #[allow(dead_code)]
        internal_note: String,
    },
    #[api(code = "rule_not_found", status = 404, message = "Rule {id} not found")]
    RuleNotFound { id: u64 },
    #[api(
        code = "upstream_failed",
        status = 502,
        message = "The upstream failed."
    )]
    Upstream(#[api(source)] std::io::Error),
}

#[test]
fn variants_are_catalog_entries() {
    let defs = ScanError::error_defs();
    let codes: Vec<_> = defs.iter().map(|d| d.code()).collect();
    assert_eq!(
        codes,
        [
            "insufficient_frames",
            "not_found",
            "vlm_provider_error",
            "rule_not_found",
            "upstream_failed"
        ]
    );
    assert_eq!(defs[0].detail_keys(), ["model", "required", "received"]);
    assert_eq!(
        defs[0].remedy_text(),
        Some("Send at least as many frames as the model requires.")
    );
    assert_eq!(defs[1], **Catalog::builtin_ref().get("not_found").unwrap());
    assert_eq!(defs[2].retry(), RetryClass::After);
    assert_eq!(defs[2].kind(), Kind::Unavailable);
    assert_eq!(defs[3].title(), "Rule not found");
    assert!(
        defs[2].detail_keys().is_empty(),
        "source, retry_after and skip are not details"
    );

    let mut catalog = Catalog::builtin();
    for def in defs {
        catalog.insert(def).unwrap();
    }
    assert!(catalog.get("rule_not_found").is_some());
}

#[test]
fn fields_fill_the_message_and_details() {
    let e = ScanError::InsufficientFrames {
        model: "10".into(),
        required: 10,
        received: 5,
    };
    assert_eq!(
        e.to_string(),
        "Insufficient frames. Model \"10\" requires 10 frames, received 5."
    );
    let err = tollgate::ApiError::from(e);
    assert_eq!(err.code(), "insufficient_frames");
    assert_eq!(err.status(), 400);
    assert_eq!(err.details()["required"], 10);

    let err = tollgate::ApiError::from(ScanError::Provider {
        cause: std::io::Error::other("connection reset"),
        wait: Duration::from_secs(7),
        internal_note: "n".into(),
    });
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(7)));
    assert_eq!(err.source_error().unwrap().to_string(), "connection reset");
    assert!(err.details().is_empty());
}

async fn rule(fail: bool) -> Result<&'static str, HandlerError> {
    if fail {
        // `?` keeps the variant's code: HandlerError has a From for derived enums.
        Err(ScanError::RuleNotFound { id: 7 })?;
    }
    Ok("ok")
}

#[tokio::test]
async fn derived_errors_render_in_the_negotiated_dialect() {
    let app = Router::new()
        .route("/rule", get(|| rule(true)))
        .route(
            "/direct",
            get(|| async { ScanError::NotFound.into_response() }),
        )
        .route(
            "/upstream",
            get(|| async { ScanError::Upstream(std::io::Error::other("dns is down")) }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    for (uri, status, code) in [
        ("/rule", 404, "rule_not_found"),
        ("/direct", 404, "not_found"),
        ("/upstream", 502, "upstream_failed"),
    ] {
        let res = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{uri}");
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let decoded = Catalog::builtin_ref().decode(status, &headers, &body, SystemTime::now());
        assert_eq!(decoded.dialect, "envelope", "{uri}");
        assert_eq!(decoded.code.as_deref(), Some(code), "{uri}");
        assert!(!String::from_utf8_lossy(&body).contains("dns"), "{uri}");
        if uri == "/rule" {
            assert_eq!(decoded.message.as_deref(), Some("Rule 7 not found"));
        }
    }
}

/// A generic error whose detail is a raw identifier.
#[derive(Debug, ApiError)]
enum Lookup<T: serde::Serialize> {
    #[api(code = "bad_kind", status = 400, message = "No {match} for {value}")]
    BadKind { r#match: String, value: T },
}

#[test]
fn generic_enums_and_raw_identifiers() {
    let err: tollgate::ApiError = Lookup::BadKind {
        r#match: "rule".to_owned(),
        value: 7u32,
    }
    .into();
    assert_eq!(err.message(), "No rule for 7");
    assert_eq!(err.details()["match"], "rule");
    assert_eq!(
        Lookup::<u32>::error_defs()[0].detail_keys(),
        ["match", "value"]
    );
}
