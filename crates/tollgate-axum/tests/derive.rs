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
    /// A boxed error as the source, as thiserror allows.
    Upstream(#[api(source)] Box<dyn std::error::Error + Send + Sync>),
    /// thiserror's own marks of the cause.
    #[api(code = "disk_failed", status = 500, message = "The disk failed.")]
    Disk(#[source] std::io::Error),
    #[api(
        code = "dns_failed",
        status = 502,
        message = "The name did not resolve."
    )]
    Dns {
        #[from]
        cause: std::io::Error,
    },
}

#[test]
fn variants_are_catalog_entries() {
    let defs = ScanError::error_defs();
    let codes: Vec<_> = defs.iter().map(|d| d.code()).collect();
    // `not_found` is built in, used as is: the catalog has it already.
    assert_eq!(
        codes,
        [
            "insufficient_frames",
            "vlm_provider_error",
            "rule_not_found",
            "upstream_failed",
            "disk_failed",
            "dns_failed"
        ]
    );
    assert_eq!(defs[0].detail_keys(), ["model", "required", "received"]);
    assert_eq!(
        defs[0].remedy_text(),
        Some("Send at least as many frames as the model requires.")
    );
    assert_eq!(defs[1].retry(), RetryClass::After);
    assert_eq!(defs[1].kind(), Kind::Unavailable);
    assert_eq!(defs[2].title(), "Rule not found");
    assert!(
        defs[1].detail_keys().is_empty(),
        "source, retry_after and skip are not details"
    );
    let err = tollgate::ApiError::from(ScanError::NotFound);
    assert_eq!(err.def(), Catalog::builtin_ref().get("not_found").unwrap());

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

    let cause: Box<dyn std::error::Error + Send + Sync> =
        Box::new(std::io::Error::other("dns is down"));
    let err = tollgate::ApiError::from(ScanError::Upstream(cause));
    assert_eq!(err.source_error().unwrap().to_string(), "dns is down");

    let err = tollgate::ApiError::from(ScanError::Disk(std::io::Error::other("full")));
    assert_eq!(err.source_error().unwrap().to_string(), "full");
    let cause = std::io::Error::other("nxdomain");
    let err = tollgate::ApiError::from(ScanError::Dns { cause });
    assert_eq!(err.source_error().unwrap().to_string(), "nxdomain");
    assert!(err.details().is_empty(), "a cause is no detail");
}

/// A cause and a wait that may be absent, as thiserror's `#[source] Option<E>`.
#[derive(Debug, ApiError)]
enum Fetch {
    #[api(
        code = "fetch_failed",
        status = 503,
        message = "Fetching {url} failed."
    )]
    Failed {
        url: String,
        #[api(source)]
        cause: Option<std::io::Error>,
        #[api(retry_after)]
        wait: Option<Duration>,
    },
    #[api(code = "fetch_busy", status = 503, message = "Busy.")]
    Busy(
        #[api(source)] std::option::Option<Box<dyn std::error::Error + Send + Sync>>,
        #[api(retry_after)] ::core::option::Option<Duration>,
    ),
}

#[test]
fn an_optional_source_and_wait_are_set_only_when_present() {
    let err = tollgate::ApiError::from(Fetch::Failed {
        url: "a".into(),
        cause: Some(std::io::Error::other("timed out")),
        wait: Some(Duration::from_secs(5)),
    });
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(5)));
    assert_eq!(err.source_error().unwrap().to_string(), "timed out");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("timed out"));
    assert_eq!(err.details().keys().collect::<Vec<_>>(), ["url"]);

    let err = tollgate::ApiError::from(Fetch::Failed {
        url: "a".into(),
        cause: None,
        wait: None,
    });
    assert_eq!(err.retry_after_delay(), None);
    assert!(err.source_error().is_none());
    assert!(std::error::Error::source(&err).is_none());

    let err = tollgate::ApiError::from(Fetch::Busy(
        Some("dns is down".into()),
        Some(Duration::from_secs(2)),
    ));
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(2)));
    assert_eq!(err.source_error().unwrap().to_string(), "dns is down");
    let err = tollgate::ApiError::from(Fetch::Busy(None, None));
    assert_eq!(err.retry_after_delay(), None);
    assert!(err.source_error().is_none());
    assert!(
        Fetch::error_defs()
            .iter()
            .all(|d| d.detail_keys() == ["url"] || d.detail_keys().is_empty()),
        "an optional source or wait is not a detail"
    );
}

#[tokio::test]
async fn an_absent_wait_sends_no_retry_after() {
    for (wait, header) in [(Some(Duration::from_secs(5)), Some("5")), (None, None)] {
        let app = Router::new().route("/", get(move || async move { Fetch::Busy(None, wait) }));
        let res = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        let sent = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap());
        assert_eq!(sent, header);
    }
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
            get(|| async { ScanError::Upstream("dns is down".into()) }),
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

/// `GET /` of `app`, which must answer 429, and its body.
async fn get_refused(app: Router) -> serde_json::Value {
    let res = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// A value that fills the message but is not sent.
#[derive(Debug, ApiError)]
enum PlanError {
    #[api(
        code = "plan_limit",
        status = 429,
        message = "At most {limit} calls on the {plan} plan"
    )]
    PlanLimit {
        #[api(message_only)]
        limit: u64,
        plan: String,
    },
}

#[tokio::test]
async fn message_only_fields_fill_the_message_and_are_not_sent() {
    let defs = PlanError::error_defs();
    assert_eq!(defs[0].detail_keys(), ["plan"]);
    assert_eq!(defs[0].message_only_keys(), ["limit"]);
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                PlanError::PlanLimit {
                    limit: 100,
                    plan: "free".into(),
                }
            }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Coded)
                .layer(),
        );
    let body = get_refused(app).await;
    assert_eq!(
        body["error"]["message"],
        "At most 100 calls on the free plan"
    );
    assert_eq!(
        body["error"]["details"],
        serde_json::json!({ "plan": "free" })
    );
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

/// Built-in entries used as is (two variants sharing one), and an entry of
/// the enum's own.
#[derive(Debug, ApiError)]
enum Throttled {
    #[api(code = "rate_limit_exceeded")]
    TooMany { limit: u32, window: u32 },
    #[api(code = "not_found")]
    NoRule,
    #[api(code = "not_found")]
    NoScan,
    #[api(code = "quota_frozen", status = 403, message = "The quota is frozen.")]
    Frozen,
}

/// An app's catalog overriding a built-in entry (as seed 002's does).
const APP_CATALOG: &str = r#"
[errors.rate_limit_exceeded]
message = "Rate limit exceeded: 100 calls per 60 seconds"
details = []
remedy = "Implement exponential backoff and respect Retry-After"
aliases = { coded = "RATE_LIMIT_ERROR" }
"#;

#[tokio::test]
async fn error_defs_keep_the_apps_overrides_of_built_in_entries() {
    let codes: Vec<_> = Throttled::error_defs()
        .iter()
        .map(|d| d.code().to_owned())
        .collect();
    assert_eq!(codes, ["quota_frozen"]);
    for (err, code) in [
        (Throttled::NoRule, "not_found"),
        (Throttled::NoScan, "not_found"),
        (Throttled::Frozen, "quota_frozen"),
    ] {
        assert_eq!(tollgate::ApiError::from(err).code(), code);
    }

    let mut catalog = Catalog::from_toml("app.toml", APP_CATALOG).unwrap();
    for def in Throttled::error_defs() {
        catalog.insert(def).unwrap();
    }
    let def = catalog.get("rate_limit_exceeded").unwrap();
    assert_eq!(
        def.message().as_str(),
        "Rate limit exceeded: 100 calls per 60 seconds"
    );
    assert_eq!(def.wire_code(Dialect::Coded), "RATE_LIMIT_ERROR");
    assert_eq!(catalog.get("quota_frozen").unwrap().status(), 403);

    // Under the layer, the variant answers with the app's entry.
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                Throttled::TooMany {
                    limit: 5,
                    window: 1,
                }
            }),
        )
        .layer(Tollgate::new(catalog).dialect(Dialect::Coded).layer());
    let body = get_refused(app).await;
    assert_eq!(body["error"]["code"], "RATE_LIMIT_ERROR", "{body}");
    assert_eq!(
        body["error"]["message"], "Rate limit exceeded: 100 calls per 60 seconds",
        "{body}"
    );
    // Seed 002 sends `"details": {}`: the app's entry documents none.
    assert_eq!(body["error"]["details"], serde_json::json!({}), "{body}");
}

/// An enum that implements `Drop`, in a module without the prelude: the
/// derive moves out only the fields it needs (a `source` or `retry_after`
/// field cannot be moved out of one) and names everything in full.
#[no_implicit_prelude]
mod dropped {
    #[derive(::std::fmt::Debug, ::tollgate_axum::ApiError)]
    pub(crate) enum Released {
        #[api(code = "gone", status = 410, message = "Gone: {id}.")]
        Gone { id: ::std::string::String },
    }

    impl ::std::ops::Drop for Released {
        fn drop(&mut self) {}
    }
}

#[test]
fn an_enum_with_drop_and_no_prelude_derives() {
    let err = tollgate::ApiError::from(dropped::Released::Gone {
        id: "doc_1".to_owned(),
    });
    assert_eq!((err.code(), err.status()), ("gone", 410));
    assert_eq!(err.message(), "Gone: doc_1.");
}

/// An enum among types that shadow the prelude's names (`usize` too), and
/// empty `serde`, `std` and `core` modules: the expansion names everything
/// from the root.
#[allow(non_camel_case_types, dead_code)]
mod shadowed {
    pub(crate) struct Result;
    pub(crate) struct Option;
    pub(crate) struct Box;
    pub(crate) struct String;
    pub(crate) struct Vec;
    pub(crate) struct Some;
    pub(crate) struct None;
    pub(crate) struct Ok;
    pub(crate) struct Err;
    pub(crate) struct usize;
    mod serde {}
    mod serde_json {}
    mod tollgate {}
    mod std {}
    mod core {}

    #[derive(::std::fmt::Debug, ::tollgate_axum::ApiError)]
    pub(crate) enum Shadowed<'a, T: ::serde::Serialize>
    where
        T: ::std::fmt::Debug,
    {
        #[api(code = "shadowed", status = 400, message = "{value} in {place}")]
        Bad {
            value: T,
            place: &'a str,
            #[api(retry_after)]
            wait: ::std::time::Duration,
            #[api(source)]
            cause: ::std::io::Error,
        },
        #[api(code = "not_found")]
        Missing,
        #[api(code = "shadowed_maybe", status = 503, message = "Maybe.")]
        Maybe {
            #[api(retry_after)]
            wait: ::std::option::Option<::std::time::Duration>,
            #[api(source)]
            cause: ::std::option::Option<::std::io::Error>,
        },
    }
}

#[test]
fn an_enum_among_shadowing_names_derives() {
    use shadowed::Shadowed;
    let err = tollgate::ApiError::from(Shadowed::Bad {
        value: 7u8,
        place: "here",
        wait: Duration::from_secs(3),
        cause: std::io::Error::other("disk"),
    });
    assert_eq!(err.code(), "shadowed");
    assert_eq!(err.message(), "7 in here");
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(3)));
    assert_eq!(err.source_error().unwrap().to_string(), "disk");
    let missing = tollgate::ApiError::from(Shadowed::<u8>::Missing);
    assert_eq!(missing.code(), "not_found");
    assert_eq!(Shadowed::<u8>::error_defs().len(), 2);
    let maybe: Shadowed<'_, u8> = Shadowed::Maybe {
        wait: None,
        cause: Some(std::io::Error::other("disk")),
    };
    let maybe = tollgate::ApiError::from(maybe);
    assert_eq!(maybe.retry_after_delay(), None);
    assert_eq!(maybe.source_error().unwrap().to_string(), "disk");
}

/// A built-in code redefined with a value kept off the wire.
#[derive(Debug, ApiError)]
enum MissingDocument {
    #[api(
        code = "not_found",
        status = 404,
        message = "No document {doc} for {email}."
    )]
    Missing {
        doc: u64,
        #[api(message_only)]
        email: String,
    },
}

#[tokio::test]
async fn a_message_only_value_stays_off_the_wire_under_the_built_in_entry() {
    // The layer's catalog has the built-in `not_found`, which names no
    // `email`: the value is not sent as a detail there either.
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                MissingDocument::Missing {
                    doc: 7,
                    email: "ada@example.com".to_owned(),
                }
            }),
        )
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let res = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("ada@example.com"), "{text}");
}

/// A built-in code redefined.
#[derive(Debug, ApiError)]
enum Retired {
    #[api(
        code = "not_found",
        status = 410,
        message = "This API version is retired."
    )]
    Gone,
}

#[tokio::test]
async fn a_redefined_built_in_code_needs_its_entry_in_the_layers_catalog() {
    let def = &Retired::error_defs()[0];
    assert_eq!(def.status(), 410);
    assert_eq!(
        def.remedy_text(),
        None,
        "nothing of the built-in entry is kept"
    );

    let mut inserted = Catalog::builtin();
    for def in Retired::error_defs() {
        inserted.insert(def).unwrap();
    }
    // The layer takes the entry its catalog has for the code.
    for (catalog, status) in [(Catalog::builtin(), 404), (inserted, 410)] {
        let app = Router::new()
            .route("/", get(|| async { Retired::Gone }))
            .layer(Tollgate::new(catalog).layer());
        let res = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), status);
    }
}
