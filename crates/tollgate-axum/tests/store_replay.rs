//! `tollgate-store`'s idempotency layer inside the Tollgate layer: a replayed
//! `Reply` answers in the envelope like the first response did.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::post;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Reply, Tollgate};
use tollgate_store::{Gatekeeper, Store};
use tower::ServiceExt;

#[tokio::test]
async fn idempotent_replays_of_replies_keep_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("replay.db").display());
    let store = Store::open(&url).await.unwrap();
    let gate = Gatekeeper::new(store).dialect(Dialect::Envelope);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = runs.clone();
    let app = Router::new()
        .route(
            "/scans",
            post(move || {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                async move { Reply(json!({"id": format!("scan_{n}")})) }
            })
            .layer(gate.idempotency()),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    let post = |id: &str| {
        Request::post("/scans")
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", "order-42")
            .header("x-request-id", id)
            .body(Body::from("{}"))
            .unwrap()
    };
    let want = json!({"data": {"id": "scan_1"}, "success": true, "message": "OK"});
    for (id, replayed) in [("req_first", false), ("req_again", true)] {
        let response = app.clone().oneshot(post(id)).await.unwrap();
        assert_eq!(response.status(), 200, "{id}");
        assert_eq!(response.headers()["x-request-id"], id);
        assert_eq!(
            response.headers().contains_key("idempotent-replayed"),
            replayed,
            "{id}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            want,
            "{id}"
        );
    }
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the replay did not run the handler"
    );
}
