//! `GET /errors` and `GET /openapi.json`: the API described from the same
//! catalog and route list the server runs on.
//!
//! [`operations`] lists every route with its success response and every
//! error it can return, including those the layers in front of it add; the
//! OpenAPI document is [`crate::docs::openapi_outline`]'s,
//! completed with what that function has no field for (headers, the
//! multipart body, HTML, public routes).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};
use tollgate::docs::openapi::ErrorMedia;
use tollgate::{Catalog, Dialect, ErrorDef};
use tollgate_axum::Query;
use tollgate_limit::FailMode;

use super::app::AppState;
use super::detections::MAX_SESSION_ID;
use super::model::{self, CONFIDENCE_THRESHOLD, DETECTION_MODELS, MAX_SIDE};
use super::scans::{SIMULATIONS, X_SIMULATE};
use crate::docs::{Info, Operation, openapi_json_with_responses, openapi_outline};

/// Every route may answer these: the body limit (a declared length over it),
/// a `Content-Encoding` serve does not decode and a `Transfer-Encoding`
/// besides one `chunked` (both refused before routing, with or without a
/// body), the per-IP rate limit, a panic, the deadline.
const EVERY_ROUTE: [&str; 6] = [
    "payload_too_large",
    "unsupported_media_type",
    "malformed_request",
    "rate_limit_exceeded",
    "internal_error",
    "timeout",
];
/// Routes under `/v1`: authentication (which refuses a suspended account's
/// keys) and scopes, and the store being down.
const KEYED: [&str; 6] = [
    "invalid_key",
    "expired_key",
    "deactivated_key",
    "account_suspended",
    "insufficient_scope",
    "service_unavailable",
];
/// Routes that cost credits and take an `Idempotency-Key`: a retry whose
/// first request was answered but cut off before its response was stored (a
/// client gone) is a `conflict`.
const CHARGED: [&str; 5] = [
    "insufficient_credits",
    "usage_limit_exceeded",
    "idempotency_key_in_use",
    "idempotency_key_reused",
    "conflict",
];
/// Routes that read a JSON body (a body that is not JSON is
/// `unsupported_media_type`, and one that does not parse
/// `malformed_request`, which every route may answer already).
const JSON_BODY: [&str; 2] = ["validation_error", "missing_field"];

fn codes(groups: &[&[&str]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for code in groups.iter().flat_map(|g| g.iter()) {
        if !out.iter().any(|c| c == code) {
            out.push((*code).to_owned());
        }
    }
    out
}

/// The success body in `dialect`: seed 004's envelope wraps it.
fn success(dialect: Dialect, schema: Value) -> Value {
    if dialect == Dialect::Envelope {
        json!({
            "type": "object",
            "required": ["data", "success", "message"],
            "properties": {
                "data": schema,
                "success": {"const": true},
                "message": {"const": "OK"}
            }
        })
    } else {
        schema
    }
}

fn scan_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "format", "width", "height", "label", "confidence", "brightness", "contrast", "created_at"],
        "properties": {
            "id": {"type": "string", "examples": ["scan_0193c2d5e8f47a1b9c3d5e7f9a1b3c5d"]},
            "format": {"enum": ["png", "jpeg"]},
            "width": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
            "height": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
            "label": {"enum": ["dark", "balanced", "bright"]},
            "confidence": {"type": "number", "minimum": CONFIDENCE_THRESHOLD, "maximum": 1},
            "brightness": {"type": "number", "description": "Mean luminance, 0–255."},
            "contrast": {"type": "number", "description": "Standard deviation of the luminance."},
            "created_at": {"type": "string", "format": "date-time"}
        }
    })
}

/// A detection request that succeeds.
pub(crate) fn detection_example() -> Value {
    let frames: Vec<Value> = (0..10)
        .map(|i| json!({"t": i * 40, "brightness": if i % 2 == 0 { 112 } else { 128 }}))
        .collect();
    json!({"session_id": "s_1", "model": DETECTION_MODELS[0].name, "frames": frames})
}

/// A scan request that succeeds: the example image in base64.
pub(crate) fn scan_example() -> Value {
    use base64::Engine as _;
    let image = base64::engine::general_purpose::STANDARD.encode(model::example_png());
    json!({ "image_data": image })
}

/// Every route of the API.
pub(crate) fn operations(dialect: Dialect) -> Vec<Operation> {
    let models: Vec<&str> = DETECTION_MODELS.iter().map(|m| m.name).collect();
    let models_or_null: Vec<Value> = models
        .iter()
        .map(|m| json!(m))
        .chain([Value::Null])
        .collect();
    vec![
        Operation {
            success_status: 201,
            success_schema: success(dialect, scan_schema()),
            request_schema: Some(json!({
                "type": "object",
                "required": ["image_data"],
                "properties": {
                    "image_data": {
                        "type": "string",
                        "contentEncoding": "base64",
                        "description": "A PNG or JPEG image, base64 (a data: URL prefix is allowed)."
                    }
                }
            })),
            request_example: Some(scan_example()),
            scopes: Some(vec!["scans:write".to_owned()]),
            error_codes: codes(&[
                &EVERY_ROUTE,
                &KEYED,
                &CHARGED,
                &JSON_BODY,
                &[
                    "input_format_error",
                    "conflict",
                    "low_confidence",
                    "upstream_unavailable",
                ],
            ]),
            ..Operation::new(
                Method::POST,
                "/v1/scans",
                "Scan an image: 1 credit; the same image twice is a conflict",
            )
        },
        Operation {
            success_schema: success(dialect, scan_schema()),
            scopes: Some(vec!["scans:read".to_owned()]),
            error_codes: codes(&[&EVERY_ROUTE, &KEYED, &["validation_error", "not_found"]]),
            ..Operation::new(
                Method::GET,
                "/v1/scans/{id}",
                "One of the caller's scans; another account's is not found",
            )
        },
        Operation {
            success_schema: success(
                dialect,
                json!({
                    "type": "object",
                    "required": ["id", "session_id", "model", "frames", "live", "score"],
                    "properties": {
                        "id": {"type": "string"},
                        "session_id": {"type": "string"},
                        "model": {"enum": models},
                        "frames": {"type": "integer"},
                        "live": {"type": "boolean"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1}
                    }
                }),
            ),
            request_schema: Some(json!({
                "type": "object",
                "required": ["session_id", "frames"],
                "properties": {
                    "session_id": {
                        "type": "string",
                        // 1–128 characters once trimmed, with any
                        // whitespace around them.
                        "pattern": format!(r"^\s*\S([\s\S]{{0,{}}}\S)?\s*$", MAX_SESSION_ID - 2),
                        "description": format!(
                            "1–{MAX_SESSION_ID} characters; whitespace around them is trimmed."
                        )
                    },
                    "model": {
                        "enum": models_or_null,
                        "default": models[0],
                        "description": "mixed-10-v2 needs 10 frames at least, mixed-30-v2 30; \
                                        null is the default."
                    },
                    "frames": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["t", "brightness"],
                            "properties": {
                                "t": {"type": "integer", "minimum": 0, "maximum": u64::MAX, "description": "Milliseconds; increasing."},
                                "brightness": {"type": "number", "minimum": 0, "maximum": 255}
                            }
                        }
                    }
                }
            })),
            request_example: Some(detection_example()),
            scopes: Some(vec!["detections:write".to_owned()]),
            error_codes: codes(&[
                &EVERY_ROUTE,
                &KEYED,
                &CHARGED,
                &JSON_BODY,
                &["insufficient_frames"],
            ]),
            ..Operation::new(
                Method::POST,
                "/v1/detections",
                "Score a session's frames: 1 credit",
            )
        },
        Operation {
            success_schema: Value::Null,
            error_codes: codes(&[&EVERY_ROUTE, &["validation_error"]]),
            ..Operation::new(
                Method::GET,
                "/errors",
                "The error reference (HTML); ?q= searches it",
            )
        },
        Operation {
            success_schema: json!({"type": "object", "description": "This document."}),
            error_codes: codes(&[&EVERY_ROUTE]),
            ..Operation::new(Method::GET, "/openapi.json", "This OpenAPI document")
        },
    ]
}

/// What requests get while the rate limits' Redis cannot be reached, with
/// `--rate-limit-fail closed`: said in every route's 503.
const FAILS_CLOSED: &str = "While the rate-limit store cannot be reached, requests are answered \
                            `service_unavailable` with `Retry-After` (rate limits fail closed).";

/// The OpenAPI 3.1 document of the API answering in `media` but for its
/// `components.responses`, which [`document_json`] writes in; answers to
/// an Idempotency-Key are kept for `retention`; `redis_fail` is the fail
/// mode of rate limits counted in Redis (`None` in memory, which never
/// fails).
fn outline(
    catalog: &Catalog,
    media: ErrorMedia,
    retention: Duration,
    redis_fail: Option<FailMode>,
) -> Value {
    let dialect = media.dialect();
    let info = Info::new("tollgate serve: the example API", env!("CARGO_PKG_VERSION"));
    let mut operations = operations(dialect);
    let closed = redis_fail.is_some_and(|mode| mode != FailMode::Open);
    if closed {
        // The per-IP limit, in front of every route, answers 503 then: the
        // public routes too.
        for op in &mut operations {
            if !op.error_codes.iter().any(|c| c == "service_unavailable") {
                op.error_codes.push("service_unavailable".to_owned());
            }
        }
    }
    let mut doc = openapi_outline(catalog, media, &info, &operations);
    if let Some(Value::String(description)) = doc["info"].get_mut("description") {
        description.push_str(
            " A request may name itself: an `X-Request-Id` of 1–128 characters of \
             `[A-Za-z0-9._-]` is the one its answer and the logs carry; any other is \
             replaced with a new id.",
        );
    }
    let idempotency_key = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": format!(
            "Retry safely: the first response is kept for {} and replayed \
             (Idempotent-Replayed: true); the key with another body is refused. \
             A key is the API key's own: sent with another API key, it is another request.",
            humantime::format_duration(retention)
        ),
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$", "description": "1–255 visible ASCII characters."}
    });
    // Each answer as the catalog sends it (a catalog may send one as another).
    let answer = |code: &str| match catalog.get(code) {
        Some(def) => format!("{} {}", def.status(), def.code()),
        None => code.to_owned(),
    };
    let simulate = json!({
        "name": X_SIMULATE.as_str(),
        "in": "header",
        "required": false,
        "description": format!(
            "Makes the model misbehave, to try the 5xx answers: model-unavailable ({} with \
             Retry-After), model-timeout ({} at the deadline), model-crash ({}).",
            answer("upstream_unavailable"),
            answer("timeout"),
            answer("internal_error"),
        ),
        "schema": {"enum": SIMULATIONS}
    });
    let paths = &mut doc["paths"];
    paths["/v1/scans"]["post"]["parameters"] = json!([idempotency_key, simulate]);
    paths["/v1/detections"]["post"]["parameters"] = json!([idempotency_key]);
    paths["/v1/scans"]["post"]["requestBody"]["content"]["multipart/form-data"] = json!({
        "schema": {
            "type": "object",
            "required": ["image"],
            "properties": {"image": {"type": "string", "contentMediaType": "image/png", "description": "A PNG or JPEG file."}}
        }
    });
    paths["/errors"]["get"]["parameters"] = json!([{
        "name": "q",
        "in": "query",
        "required": false,
        "description": "Words every listed error matches (code, status, title, message, remedy).",
        "schema": {"type": "string"}
    }]);
    paths["/errors"]["get"]["responses"]["200"]["content"] =
        json!({"text/html": {"schema": {"type": "string"}}});
    for path in ["/errors", "/openapi.json"] {
        paths[path]["get"]["security"] = json!([]);
    }
    // A replay of an idempotent request says so, whether the stored response
    // is a success or an error the route answered (a conflict, a low
    // confidence).
    let replayed = json!({
        "description": "`true` when this is the stored response of an earlier request \
                        with the same Idempotency-Key, replayed.",
        "schema": {"type": "string", "enum": ["true"]}
    });
    for path in ["/v1/scans", "/v1/detections"] {
        let responses = paths[path]["post"]["responses"].as_object_mut();
        for response in responses.into_iter().flat_map(|r| r.values_mut()) {
            response["headers"]["Idempotent-Replayed"] = replayed.clone();
        }
    }
    // A scan made can be read back: the link names where its id is.
    let id = match dialect {
        Dialect::Envelope => "$response.body#/data/id",
        _ => "$response.body#/id",
    };
    paths["/v1/scans"]["post"]["responses"]["201"]["links"] = json!({
        "GetScan": {
            "operationId": "get_v1_scans_id",
            "parameters": {"id": id},
            "description": "The scan just made."
        }
    });
    let limited = every_response_headers(dialect, redis_fail);
    let items = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut());
    for item in items.filter_map(Value::as_object_mut) {
        let operations = item.values_mut();
        let responses = operations.filter_map(|op| op.get_mut("responses")?.as_object_mut());
        for (status, response) in responses.flat_map(|r| r.iter_mut()) {
            add_headers(response, &limited);
            if closed
                && status == "503"
                && let Some(Value::String(description)) = response.get_mut("description")
            {
                description.push_str(". ");
                description.push_str(FAILS_CLOSED);
            }
        }
    }
    doc
}

/// The headers every response lists. The per-IP limit applies to every
/// route: its fields come with every response it decided, successes
/// included; so does the request id, which the layer echoes on every
/// response (as `Request-Id` too in `stripe`, as Stripe does). `redis_fail`
/// is the fail mode of rate limits counted in Redis (`None` in memory).
fn every_response_headers(dialect: Dialect, redis_fail: Option<FailMode>) -> Map<String, Value> {
    let mut limited = tollgate::docs::openapi::ratelimit_headers();
    // Said where they are not: answers made before the per-IP limit is
    // reached, in place of an answer that never came, or while Redis,
    // which decides them, cannot be reached.
    let mut absent = vec![
        "answers made before the limit is reached (a request refused for its framing, its size \
         or its Content-Encoding)",
        "those made in place of an answer that never came (500 after a crash, 504 after a \
         timeout)",
    ];
    match redis_fail {
        None => {}
        Some(FailMode::Open) => absent.push(
            "those made when the rate-limit store could not be reached (fail open: the request \
             was served without its rate limits)",
        ),
        Some(_) => {
            absent.push("the 503 made when the rate-limit store could not be reached (fail closed)")
        }
    }
    let last = absent.pop().unwrap_or_default();
    let absent = format!(
        " Absent from {}{} from {last}.",
        absent.join(", from "),
        if absent.len() > 1 { ", and" } else { " and" }
    );
    for header in limited.values_mut() {
        if let Some(Value::String(description)) = header.get_mut("description") {
            description.push_str(&absent);
        }
    }
    limited.insert(
        "X-Request-Id".to_owned(),
        tollgate::docs::openapi::request_id_header(),
    );
    if dialect == Dialect::Stripe {
        limited.insert(
            "Request-Id".to_owned(),
            tollgate::docs::openapi::request_id_header(),
        );
    }
    limited
}

/// Adds `limited` to the headers of `response` that it lacks.
fn add_headers(response: &mut Value, limited: &Map<String, Value>) {
    let headers = response
        .as_object_mut()
        .map(|r| r.entry("headers").or_insert_with(|| json!({})));
    if let Some(Value::Object(headers)) = headers {
        for (name, header) in limited {
            headers
                .entry(name.clone())
                .or_insert_with(|| header.clone());
        }
    }
}

/// The response `components.responses` lists for `def`, with the headers
/// every response lists (`limited`).
fn served_response(
    catalog: &Catalog,
    media: ErrorMedia,
    def: &ErrorDef,
    limited: &Map<String, Value>,
) -> Value {
    let mut response = tollgate::docs::openapi::component_response(catalog, media, def);
    add_headers(&mut response, limited);
    response
}

/// The OpenAPI 3.1 document of the API answering in `media`, as `GET
/// /openapi.json` serves it ([`pretty_json`](crate::docs::pretty_json)'s
/// text), its components' responses (one per catalog entry) made and
/// written one at a time. Made whole, the document of a catalog of 100 000
/// entries is a tree of a gigabyte, several times its text, made and freed
/// at every start.
pub(crate) fn document_json(
    catalog: &Catalog,
    media: impl Into<ErrorMedia>,
    retention: Duration,
    redis_fail: Option<FailMode>,
) -> serde_json::Result<String> {
    let media = media.into();
    let limited = every_response_headers(media.dialect(), redis_fail);
    let outline = outline(catalog, media, retention, redis_fail);
    openapi_json_with_responses(&outline, catalog, |def| {
        served_response(catalog, media, def, &limited)
    })
}

/// [`document_json`]'s document with the default retention and the limits
/// in memory, read back.
#[cfg(test)]
fn document(catalog: &Catalog, dialect: Dialect) -> Value {
    document_with(catalog, dialect, None)
}

/// [`document`] with the limits in Redis, failing as `redis_fail` says.
#[cfg(test)]
fn document_with(catalog: &Catalog, dialect: Dialect, redis_fail: Option<FailMode>) -> Value {
    let retention = tollgate_store::DEFAULT_RETENTION;
    let text = document_json(catalog, dialect, retention, redis_fail).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `GET /errors`: the error reference, searchable without JavaScript
/// (`?q=`).
pub(crate) async fn errors(
    State(app): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let page = match search_words(&params) {
        Some(q) => tollgate::docs::html(&app.catalog, app.dialect, Some(&q)).into(),
        None => app.reference.clone(),
    };
    let policy = HeaderValue::from_static(tollgate::docs::HTML_CONTENT_SECURITY_POLICY);
    (
        [
            (header::CONTENT_SECURITY_POLICY, policy),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Html(page),
    )
        .into_response()
}

/// The search of `?q=`: a repeated `q` (a form with two search boxes, a link
/// built by hand) is one search for the words of all of them, cut at the
/// same word count as one long `q`; `None` without a `q`.
fn search_words(params: &[(String, String)]) -> Option<String> {
    let mut values = params
        .iter()
        .filter(|(name, _)| name == "q")
        .map(|(_, value)| value.trim())
        .peekable();
    values.peek()?;
    Some(
        values
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `GET /openapi.json`.
pub(crate) async fn openapi(State(app): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        app.openapi.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oas() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../tollgate/tests/data/oas-3.1-schema.json"
        ))
        .unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn the_document_validates_in_every_dialect_and_lists_the_middleware_errors() {
        let oas = oas();
        let catalog = super::super::app::base_catalog().unwrap();
        for dialect in Dialect::ALL {
            let doc = document(&catalog, dialect);
            let problems: Vec<String> = oas
                .iter_errors(&doc)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert_eq!(problems, Vec::<String>::new(), "{dialect}");
            let post = &doc["paths"]["/v1/scans"]["post"];
            for status in [
                "201", "400", "401", "402", "403", "409", "413", "415", "422", "429", "500", "503",
                "504",
            ] {
                assert!(post["responses"][status].is_object(), "{dialect}: {status}");
            }
            // A GET reads no body, but a suspended account and an unknown
            // Content-Encoding are refused on it all the same.
            let get = &doc["paths"]["/v1/scans/{id}"]["get"];
            for status in ["402", "404", "415"] {
                assert!(get["responses"][status].is_object(), "{dialect}: {status}");
            }
            for path in ["/errors", "/openapi.json"] {
                let responses = &doc["paths"][path]["get"]["responses"];
                assert!(responses["415"].is_object(), "{dialect}: {path}");
                assert!(responses["401"].is_null(), "{dialect}: {path}");
            }
            // A `Transfer-Encoding` besides one `chunked` is refused before
            // routing: every route, GETs and public ones too, may answer it.
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (method, operation) in item.as_object().unwrap() {
                    let content = &operation["responses"]["400"]["content"];
                    let examples = &content[dialect.content_type()]["examples"];
                    assert!(
                        examples["malformed_request"].is_object(),
                        "{dialect}: {method} {path}"
                    );
                }
            }
            assert!(doc["paths"]["/errors"]["get"]["security"] == json!([]));
            let detections = &doc["paths"]["/v1/detections"]["post"];
            let examples =
                &detections["responses"]["400"]["content"][dialect.content_type()]["examples"];
            assert!(examples["insufficient_frames"].is_object(), "{dialect}");
            // The link from a new scan to reading it names a real operation
            // and the id's place in the body.
            let link = &post["responses"]["201"]["links"]["GetScan"];
            assert_eq!(
                doc["paths"]["/v1/scans/{id}"]["get"]["operationId"],
                link["operationId"]
            );
            let pointer = link["parameters"]["id"].as_str().unwrap();
            let pointer = pointer.strip_prefix("$response.body#").unwrap();
            let schema = &post["responses"]["201"]["content"]["application/json"]["schema"];
            let place = pointer.replace('/', "/properties/");
            assert_eq!(
                schema.pointer(&place).map(|s| &s["type"]),
                Some(&json!("string")),
                "{dialect}: {pointer}"
            );
            // Replays say so, of errors too; and a retry of a request cut
            // off before its response was kept is a conflict.
            for (path, statuses) in [
                ("/v1/scans", ["201", "409", "422"]),
                ("/v1/detections", ["200", "400", "409"]),
            ] {
                let responses = &doc["paths"][path]["post"]["responses"];
                for status in statuses {
                    let headers = &responses[status]["headers"];
                    assert!(
                        headers["Idempotent-Replayed"].is_object(),
                        "{dialect}: {path} {status}"
                    );
                }
                let conflict = &responses["409"]["content"][dialect.content_type()];
                assert!(
                    conflict["examples"]["conflict"].is_object(),
                    "{dialect}: {path}"
                );
            }
            // Every response, successes and the pages too, lists the
            // request id the layer echoes.
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (method, operation) in item.as_object().unwrap() {
                    for (status, response) in operation["responses"].as_object().unwrap() {
                        let headers = &response["headers"];
                        assert!(
                            headers["X-Request-Id"].is_object() || response["$ref"].is_string(),
                            "{dialect}: {method} {path} {status}"
                        );
                        // Stripe's `Request-Id` too, on its every response.
                        assert_eq!(
                            headers["Request-Id"].is_object(),
                            dialect == Dialect::Stripe && response["$ref"].is_null(),
                            "{dialect}: {method} {path} {status}"
                        );
                    }
                }
            }
            // The per-IP limit's fields come with every response.
            for response in [
                &doc["paths"]["/v1/scans/{id}"]["get"]["responses"]["200"],
                &doc["paths"]["/v1/scans"]["post"]["responses"]["401"],
                &doc["components"]["responses"]["not_found"],
            ] {
                let headers = &response["headers"];
                assert!(headers["RateLimit"].is_object(), "{dialect}: {response}");
                assert!(headers["RateLimit-Policy"].is_object(), "{dialect}");
                // With the answers they are absent from.
                let description = headers["RateLimit"]["description"].as_str().unwrap();
                assert!(description.contains("504 after a timeout"), "{description}");
            }
        }
    }

    /// With the limits in Redis, the RateLimit fields are said to be absent
    /// while it cannot be reached (fail open), or every route lists the 503
    /// it then answers (fail closed); in memory, which never fails, neither.
    #[test]
    fn the_document_says_what_requests_get_while_redis_cannot_be_reached() {
        let oas = oas();
        let catalog = super::super::app::base_catalog().unwrap();
        for dialect in [Dialect::Envelope, Dialect::Problem] {
            let memory = document(&catalog, dialect);
            let open = document_with(&catalog, dialect, Some(FailMode::Open));
            let closed = document_with(&catalog, dialect, Some(FailMode::CLOSED));
            for doc in [&open, &closed] {
                let problems: Vec<String> = oas.iter_errors(doc).map(|e| e.to_string()).collect();
                assert_eq!(problems, Vec::<String>::new(), "{dialect}");
            }
            // In the fields of successes, of errors and of the components.
            let said = |doc: &Value| -> Vec<String> {
                [
                    &doc["paths"]["/v1/scans/{id}"]["get"]["responses"]["200"],
                    &doc["paths"]["/v1/scans"]["post"]["responses"]["401"],
                    &doc["components"]["responses"]["not_found"],
                ]
                .iter()
                .flat_map(|r| ["RateLimit", "RateLimit-Policy"].map(|h| &r["headers"][h]))
                .map(|h| h["description"].as_str().unwrap().to_owned())
                .collect()
            };
            for description in said(&memory) {
                assert!(!description.contains("rate-limit store"), "{description}");
                assert!(
                    description.contains("504 after a timeout)."),
                    "{description}"
                );
            }
            for description in said(&open) {
                assert!(
                    description.contains(
                        "504 after a timeout), and from those made when the rate-limit store \
                         could not be reached (fail open"
                    ),
                    "{description}"
                );
            }
            for description in said(&closed) {
                assert!(
                    description.contains(
                        "and from the 503 made when the rate-limit store could not be reached \
                         (fail closed)."
                    ),
                    "{description}"
                );
            }
            // Fail closed, every route may answer 503 `service_unavailable`,
            // with `Retry-After`, and says when.
            for (path, item) in closed["paths"].as_object().unwrap() {
                for (method, operation) in item.as_object().unwrap() {
                    let unavailable = &operation["responses"]["503"];
                    let description = unavailable["description"].as_str().unwrap();
                    assert!(
                        description.starts_with("`service_unavailable`: Service unavailable")
                            && description.ends_with(&format!(". {FAILS_CLOSED}")),
                        "{dialect}: {method} {path}: {description}"
                    );
                    assert!(unavailable["headers"]["Retry-After"].is_object());
                    let content = &unavailable["content"][dialect.content_type()];
                    assert!(content["examples"]["service_unavailable"].is_object());
                }
            }
            // Otherwise the public routes have no 503, and the others' says
            // nothing of the limits.
            for doc in [&memory, &open] {
                for path in ["/errors", "/openapi.json"] {
                    let responses = &doc["paths"][path]["get"]["responses"];
                    assert!(responses["503"].is_null(), "{dialect}: {path}");
                }
                let unavailable = &doc["paths"]["/v1/scans"]["post"]["responses"]["503"];
                let description = unavailable["description"].as_str().unwrap();
                assert!(!description.contains("rate-limit"), "{description}");
            }
        }
    }

    /// The Idempotency-Key's description says how long this server keeps
    /// answers (`--idempotency-retention`), and whose the key is; the
    /// document says which request ids it takes.
    #[test]
    fn the_document_says_how_long_answers_are_kept_and_which_ids_are_taken() {
        let catalog = super::super::app::base_catalog().unwrap();
        let half_hour = Duration::from_secs(1800);
        let text = document_json(&catalog, Dialect::Problem, half_hour, None).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let key = &doc["paths"]["/v1/scans"]["post"]["parameters"][0];
        assert_eq!(key["name"], "Idempotency-Key");
        let description = key["description"].as_str().unwrap();
        assert!(description.contains("kept for 30m "), "{description}");
        assert!(description.contains("the API key's own"), "{description}");
        // And which request ids the server takes as given.
        let about = doc["info"]["description"].as_str().unwrap();
        assert!(about.contains("`X-Request-Id` of 1–128"), "{about}");
    }

    #[test]
    fn the_document_written_entry_by_entry_is_the_document_whole() {
        let mut catalog = super::super::app::base_catalog().unwrap();
        // A domain and a docs URL of its own, and text the served document
        // escapes.
        let mut file = String::from(
            "docs_url = 'https://docs.example.com/api/errors'\n\
             domain = 'api \"example\" \\ com'\n",
        );
        for i in 0..30 {
            file.push_str(&format!(
                "[errors.part_entry_{i}]\nstatus = {}\ntitle = 'Entry {i}'\n\
                 message = 'Entry {i} needs {{required}} \u{ffff}'\ndetails = ['required']\n",
                [400, 401, 405, 415, 429, 503][i % 6]
            ));
            if i % 4 == 0 {
                file.push_str(&format!(
                    "aliases = {{ coded = 'PART_{i}', google = 'PART_{i}_REASON' }}\nremedy = 'Fix {i}.'\n"
                ));
            }
        }
        file.push_str("[errors.not_found]\nmessage = 'Rule not found'\n");
        catalog.load_toml("t.toml", &file).unwrap();
        let codes: Vec<&str> = catalog.iter().map(|def| def.code()).collect();
        for dialect in Dialect::ALL {
            let retention = tollgate_store::DEFAULT_RETENTION;
            let text = document_json(&catalog, dialect, retention, None).unwrap();
            let doc = document(&catalog, dialect);
            assert!(crate::docs::pretty_json(&doc).unwrap() == text, "{dialect}");
            assert!(text.contains("\\uffff"), "{dialect}");
            let responses = doc["components"]["responses"].as_object().unwrap();
            assert_eq!(responses.keys().collect::<Vec<_>>(), codes, "{dialect}");
            for (code, response) in responses {
                let limited = &response["headers"]["RateLimit"];
                assert!(limited.is_object(), "{dialect}: {code}");
            }
        }
    }

    /// `?q=rate&q=limit` (a form with two search boxes, a link built by
    /// hand) searches for the words of both, not a 400.
    #[test]
    fn repeated_qs_search_for_the_words_of_all() {
        let search = |query: &str| match Query::<Vec<(String, String)>>::from_query(query) {
            Ok(Query(params)) => search_words(&params),
            Err(e) => panic!("{query}: {e:?}"),
        };
        assert_eq!(search("q=rate&q=limit").as_deref(), Some("rate limit"));
        assert_eq!(
            search("q=rate+limit&page=2&q=&q=exceeded").as_deref(),
            Some("rate limit exceeded")
        );
        assert_eq!(search("q=frames").as_deref(), Some("frames"));
        assert_eq!(search("page=2"), None);
        assert_eq!(search(""), None);
    }

    #[test]
    fn the_examples_succeed() {
        let image = model::analyse(&model::example_png()).unwrap();
        assert!(model::classify(&image).is_confident());
        let frames = detection_example()["frames"].as_array().unwrap().len();
        assert!(frames >= DETECTION_MODELS[0].min_frames);
    }
}
