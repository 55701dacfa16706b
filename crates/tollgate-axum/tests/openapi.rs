//! A document made with `add_error_responses` lists the headers the layer
//! sends on the operations it describes.
#![cfg(feature = "utoipa")]

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use serde_json::{Value, json};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Reply, Tollgate};
use tower::ServiceExt;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::{
    ComponentsBuilder, HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, ResponseBuilder,
};

/// The request id comes back on every response, a success as much as an
/// error, so every response the document lists names it.
#[tokio::test]
async fn every_response_lists_the_request_id_the_layer_echoes() {
    let op = OperationBuilder::new()
        .response(
            "200",
            ResponseBuilder::new()
                .description("The scan")
                .header("ETag", Header::default()),
        )
        .build();
    let doc = OpenApiBuilder::new()
        .paths(PathsBuilder::new().path("/v1/scans/{id}", PathItem::new(HttpMethod::Get, op)))
        .components(Some(
            ComponentsBuilder::new()
                .response("Gone", ResponseBuilder::new().description("Gone"))
                .build(),
        ))
        .build();
    for dialect in Dialect::ALL {
        let catalog = Catalog::builtin();
        let documented = tollgate_axum::openapi::add_error_responses(
            doc.clone(),
            &catalog,
            dialect,
            &["not_found"],
        )
        .unwrap();
        let documented = serde_json::to_value(&documented).unwrap();
        let app = Router::new()
            .route(
                "/v1/scans/{id}",
                get(|| async { Reply(json!({"id": "scan_1"})) }),
            )
            .layer(Tollgate::new(catalog).dialect(dialect).layer());
        let response = app
            .oneshot(Request::get("/v1/scans/1").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"), "{dialect}");
        let responses = &documented["paths"]["/v1/scans/{id}"]["get"]["responses"];
        for status in ["200", "404"] {
            let headers = responses[status]["headers"].as_object();
            let listed = headers.is_some_and(|h| h.contains_key("X-Request-Id"));
            assert!(listed, "{dialect} {status}: {}", responses[status]);
        }
        // A response the document had already, with a header of its own, keeps it.
        assert_eq!(responses["200"]["description"], Value::from("The scan"));
        assert!(responses["200"]["headers"]["ETag"].is_object(), "{dialect}");
        let own = &documented["components"]["responses"]["Gone"]["headers"];
        assert!(own["X-Request-Id"].is_object(), "{dialect}");
    }
}

/// Each error the layer writes on its own (no route, a method, a body's
/// type, coding or size, a malformed body, a panic) carries only headers
/// that the catalog's response for its code lists.
#[tokio::test]
async fn every_header_the_layer_sends_on_its_errors_is_listed() {
    use axum::http::header;
    use axum::routing::post;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Scan {
        session_id: String,
    }
    let post_json = |body: &'static str| {
        Request::post("/v1/scans")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    // Headers of any response, not of the error.
    let representation = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::DATE,
        header::VARY,
    ];
    for dialect in [Dialect::Problem, Dialect::Coded] {
        let catalog = Catalog::builtin();
        let components = tollgate::docs::openapi::components(&catalog, dialect);
        let app = Router::new()
            .route(
                "/v1/scans",
                post(|_: tollgate_axum::Json<Scan>| async { "ok" }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "unreachable"
                }),
            )
            .layer(
                Tollgate::new(catalog)
                    .dialect(dialect)
                    .body_limit(64)
                    .layer(),
            );
        let requests = vec![
            Request::get("/nothing").body(Body::empty()).unwrap(),
            Request::put("/v1/scans").body(Body::empty()).unwrap(),
            Request::post("/v1/scans")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("x"))
                .unwrap(),
            Request::post("/v1/scans")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_ENCODING, "br")
                .body(Body::from("x"))
                .unwrap(),
            post_json("{x"),
            post_json("{}"),
            post_json(r#"{"session_id": 1}"#),
            post_json(
                r#"{"session_id": "0123456789012345678901234567890123456789012345678901234567890123456789"}"#,
            ),
            Request::get("/panic").body(Body::empty()).unwrap(),
        ];
        let mut seen = Vec::new();
        for request in requests {
            let response = app.clone().oneshot(request).await.unwrap();
            let code = response.headers()["x-error-code"]
                .to_str()
                .unwrap()
                .to_owned();
            let listed = &components["responses"][&code]["headers"];
            for name in response.headers().keys() {
                if representation.contains(name) {
                    continue;
                }
                let known = listed
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name.as_str())));
                assert!(known, "{dialect} {code}: {name} is sent, not listed");
            }
            seen.push(code);
        }
        for code in [
            "not_found",
            "method_not_allowed",
            "unsupported_media_type",
            "malformed_request",
            "missing_field",
            "validation_error",
            "payload_too_large",
            "internal_error",
        ] {
            assert!(seen.iter().any(|c| c == code), "{dialect}: {code} {seen:?}");
        }
    }
}
