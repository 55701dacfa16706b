//! Every error example printed in the seed API docs (`tests/golden/*.json`,
//! copied verbatim) is reproduced by rendering its catalog entry in its
//! dialect. Bodies are compared as JSON values, then for the order of their
//! members; the only members allowed beyond the seed's are those each case
//! names (seed 001's bare examples inside its API's envelope), wherever they
//! fall.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tollgate::{ApiError, Catalog, Context, Dialect, Violation};

fn catalog(file: &str) -> Catalog {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/catalogs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    Catalog::from_toml(&path.display().to_string(), &text).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

struct Case {
    golden: &'static str,
    catalog: &'static str,
    dialect: Dialect,
    error: fn(&Catalog) -> ApiError,
    request_id: &'static str,
    /// JSON Pointers of members the dialect's envelope adds to the seed's example.
    extras: &'static [&'static str],
}

/// `status`, `timestamp` and `request_id` wrap seed 001's bare `{"error":…}`
/// in its API's envelope (seed 000's `status-code`), whose error always has
/// `details`.
const STATUS_CODE_EXTRAS: &[&str] = &["/status", "/timestamp", "/request_id", "/error/details"];

fn cases() -> Vec<Case> {
    let neolens = "000-001-neolens.toml";
    let extraction = "002-extraction.toml";
    let detection = "004-detection.toml";
    let mut cases = vec![
        Case {
            golden: "000-insufficient-scope",
            catalog: neolens,
            dialect: Dialect::StatusCode,
            error: |c| {
                c.error("insufficient_scope")
                    .unwrap()
                    .with("scope", "scans:write")
                    .with("access", "write")
                    .with("resource", "scans")
            },
            request_id: "req_000",
            extras: &["/request_id"],
        },
        Case {
            golden: "001-invalid-key",
            catalog: neolens,
            dialect: Dialect::StatusCode,
            error: |c| c.error("invalid_key").unwrap(),
            request_id: "req_001a",
            extras: STATUS_CODE_EXTRAS,
        },
        Case {
            golden: "001-rate-limit",
            catalog: neolens,
            dialect: Dialect::StatusCode,
            error: |c| {
                c.error("rate_limit_exceeded")
                    .unwrap()
                    .retry_after(Duration::from_secs(60))
            },
            request_id: "req_001b",
            extras: STATUS_CODE_EXTRAS,
        },
        Case {
            golden: "001-missing-field",
            catalog: neolens,
            dialect: Dialect::StatusCode,
            error: |c| {
                c.error("missing_field")
                    .unwrap()
                    .with("field", "image_data")
                    .with("issue", "This field is required.")
            },
            request_id: "req_001c",
            extras: STATUS_CODE_EXTRAS,
        },
        Case {
            golden: "002-rate-limit",
            catalog: extraction,
            // Its API answers in `detail`, its middleware's rate limit in
            // `coded`: the catalog sends it so (`sent_in`).
            dialect: Dialect::Detail,
            // The policy's numbers fill the message and stay off the wire.
            error: |c| {
                c.error("rate_limit_exceeded")
                    .unwrap()
                    .with("limit", 100)
                    .with("window", 60)
                    .retry_after(Duration::from_secs(60))
            },
            request_id: "550e8400-e29b-41d4-a716-446655440000",
            extras: &[],
        },
        Case {
            golden: "002-not-found",
            catalog: extraction,
            dialect: Dialect::Detail,
            error: |c| c.error("not_found").unwrap().with_message("Rule not found"),
            request_id: "req_002b",
            extras: &[],
        },
        Case {
            golden: "002-validation",
            catalog: extraction,
            dialect: Dialect::Detail,
            error: |c| c.error("validation_error").unwrap().with("field", "limit"),
            request_id: "req_002c",
            extras: &[],
        },
        Case {
            golden: "003-forbidden",
            catalog: "003-neo.toml",
            dialect: Dialect::Meta,
            error: |c| {
                // The seed elides its details as `"...": "..."`; only
                // documented details are sent, so the entry documents that
                // key here (003's catalog sends none with the code).
                let def = (**c.get("insufficient_scope").unwrap()).clone();
                tollgate::ApiError::new(def.details(["..."]).into())
                    .with_message("API-key management requires admin role.")
                    .with("...", "...")
            },
            request_id: "a1b2c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            extras: &[],
        },
        Case {
            golden: "004-insufficient-frames",
            catalog: detection,
            dialect: Dialect::Envelope,
            error: |c| {
                c.error("insufficient_frames")
                    .unwrap()
                    .with("model", "10")
                    .with("required", 10)
                    .with("received", 5)
            },
            request_id: "req_004a",
            extras: &[],
        },
        Case {
            golden: "004-insufficient-credits",
            catalog: detection,
            dialect: Dialect::Envelope,
            error: |c| {
                c.error("insufficient_credits")
                    .unwrap()
                    .with("required", 1)
                    .with("available", 0)
            },
            request_id: "req_004c",
            extras: &[],
        },
        Case {
            golden: "004-validation",
            catalog: detection,
            dialect: Dialect::Envelope,
            error: |c| {
                c.error("missing_field")
                    .unwrap()
                    .with("field", "session_id")
                    .violation(Violation::new(
                        "session_id",
                        "missing_field",
                        "session_id is required",
                    ))
            },
            request_id: "req_004e",
            extras: &[],
        },
        Case {
            golden: "004-insufficient-scope",
            catalog: detection,
            dialect: Dialect::Envelope,
            error: |c| {
                c.error("insufficient_scope")
                    .unwrap()
                    .with("scope", "detection:write")
            },
            request_id: "req_004f",
            extras: &[],
        },
        Case {
            golden: "004-rate-limit",
            catalog: detection,
            dialect: Dialect::Envelope,
            error: |c| {
                c.error("rate_limit_exceeded")
                    .unwrap()
                    .retry_after(Duration::from_secs(42))
            },
            request_id: "req_004g",
            extras: &[],
        },
    ];
    cases.push(Case {
        golden: "004-invalid-key",
        catalog: detection,
        dialect: Dialect::Envelope,
        error: |c| c.error("invalid_key").unwrap(),
        request_id: "req_004b",
        extras: &[],
    });
    cases.push(Case {
        golden: "004-account-suspended",
        catalog: detection,
        dialect: Dialect::Envelope,
        error: |c| c.error("account_suspended").unwrap(),
        request_id: "req_004d",
        extras: &[],
    });
    cases
}

fn timestamp() -> SystemTime {
    humantime::parse_rfc3339("2025-07-24T11:30:12Z").unwrap()
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(key);
    }
}

/// Fails unless every object in `actual` lists its members in the order the
/// seed prints them (`Value`'s equality ignores the order; with serde_json's
/// `preserve_order` the parsed maps keep it).
fn assert_same_order(actual: &Value, expected: &Value, at: &str, golden: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let a_keys: Vec<&String> = a.keys().collect();
            let e_keys: Vec<&String> = e.keys().collect();
            assert_eq!(a_keys, e_keys, "{golden}: members of {at:?} out of order");
            for (k, v) in a {
                assert_same_order(v, &e[k], &format!("{at}/{k}"), golden);
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_same_order(a, e, &format!("{at}/{i}"), golden);
            }
        }
        _ => {}
    }
}

#[test]
fn every_seed_example_is_reproduced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let cases = cases();
    let goldens = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(cases.len(), goldens, "every golden file has a case");
    for case in cases {
        let catalog = catalog(case.catalog);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{}.json", case.golden))).unwrap(),
        )
        .unwrap();
        let err = (case.error)(&catalog);
        let ctx = Context::new(timestamp()).request_id(case.request_id);
        let response = catalog.renderer(case.dialect).response(&err, &ctx);
        let mut actual: Value = serde_json::from_slice(response.body()).unwrap();
        for extra in case.extras {
            if expected.pointer(extra).is_none() {
                remove_pointer(&mut actual, extra);
            }
        }
        assert_eq!(actual, expected, "{}", case.golden);
        assert_same_order(&actual, &expected, "", case.golden);

        // The seed's status and headers, too.
        let status = expected
            .pointer("/error/code")
            .and_then(Value::as_u64)
            .map_or(err.status(), |s| s as u16);
        assert_eq!(response.status().as_u16(), status, "{}", case.golden);
        assert_eq!(
            response.headers()["x-request-id"],
            case.request_id,
            "{}",
            case.golden
        );
        let code = err.def().wire_code(case.dialect);
        assert_eq!(
            response.headers()["x-error-code"],
            &*code,
            "{}",
            case.golden
        );
        if let Some(delay) = err.retry_after_delay() {
            assert_eq!(
                response.headers()["retry-after"],
                delay.as_secs().to_string().as_str()
            );
        }
    }
}

#[test]
fn seed_004_success_envelope_and_legacy_flat() {
    let catalog = catalog("004-detection.toml");
    let err = catalog
        .error("insufficient_credits")
        .unwrap()
        .with("required", 1)
        .with("available", 0);
    let ctx = Context::new(timestamp());
    let body = catalog.renderer(Dialect::Flat).body(&err, &ctx);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({"error": "insufficient_credits", "message": "Insufficient credits. Required: 1, available: 0"})
    );
}

/// A violation of the whole body (no field, e.g. an array where an object
/// belongs) is keyed by the code, as seed 004 keys every entry by a code or
/// a field, never by an empty name.
#[test]
fn seed_004_whole_body_violation_is_keyed_by_the_code() {
    let catalog = catalog("004-detection.toml");
    let err = catalog
        .error("validation_error")
        .unwrap()
        .violation(Violation::new("", "invalid_type", "expected an object"))
        .violation(Violation::new(
            "session_id",
            "missing_field",
            "session_id is required",
        ));
    let body = catalog
        .renderer(Dialect::Envelope)
        .body(&err, &Context::new(timestamp()));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["errors"],
        json!([
            {"validation_error": ["expected an object"]},
            {"session_id": ["session_id is required"]}
        ])
    );
}

/// The whole input's violation reads back from the code's entry, with or
/// without the `X-Error-Code` header; an entry that only repeats the message
/// (every seed 004 error without violations) grows none.
#[test]
fn seed_004_whole_body_violation_reads_back() {
    let catalog = catalog("004-detection.toml");
    let err = catalog
        .error("validation_error")
        .unwrap()
        .violation(Violation::new("", "invalid_type", "expected an object"));
    let response = catalog
        .renderer(Dialect::Envelope)
        .response(&err, &Context::new(timestamp()));
    let whole = [Violation::new("", "", "expected an object")];
    for headers in [response.headers().clone(), http::HeaderMap::new()] {
        let back = catalog.decode(400, &headers, response.body(), timestamp());
        assert_eq!(back.code.as_deref(), Some("validation_error"));
        assert_eq!(back.violations, whole, "{headers:?}");
    }

    for golden in [
        "004-account-suspended",
        "004-insufficient-credits",
        "004-insufficient-frames",
        "004-insufficient-scope",
        "004-invalid-key",
        "004-rate-limit",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{golden}.json"));
        let body = std::fs::read(path).unwrap();
        let back = tollgate::decode(400, &http::HeaderMap::new(), &body, timestamp());
        assert_eq!(back.dialect, "envelope", "{golden}");
        assert!(back.code.is_some(), "{golden}");
        assert!(
            back.violations.is_empty(),
            "{golden}: {:?}",
            back.violations
        );
    }
    // Another error's entry that words it otherwise is not a violation.
    let body = br#"{"data":null,"success":false,"message":"Payment required","errors":[{"insufficient_credits":["Balance 0, need 5"]}]}"#;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-error-code", "insufficient_credits".parse().unwrap());
    let back = catalog.decode(402, &headers, body, timestamp());
    assert_eq!(back.code.as_deref(), Some("insufficient_credits"));
    assert!(back.violations.is_empty(), "{:?}", back.violations);
}

/// Without `X-Error-Code` (seed 004 documents none), field entries are not
/// taken for the code: a lone field whose message the summary does not
/// name, and a field next to a whole-body entry.
#[test]
fn seed_004_fields_read_back_without_the_code_header() {
    let catalog = catalog("004-detection.toml");
    let validation = || catalog.error("validation_error").unwrap();
    // The first body names no code at all.
    let cases = [
        (
            validation().violation(Violation::new("session_id", "invalid", "Invalid UUID")),
            None,
            vec![Violation::new("session_id", "", "Invalid UUID")],
        ),
        (
            validation()
                .violation(Violation::new("", "invalid_type", "expected an object"))
                .violation(Violation::new(
                    "frames",
                    "missing_field",
                    "frames is required",
                )),
            Some("validation_error"),
            vec![
                Violation::new("", "", "expected an object"),
                Violation::new("frames", "", "frames is required"),
            ],
        ),
    ];
    for (err, code, violations) in cases {
        let body = catalog
            .renderer(Dialect::Envelope)
            .body(&err, &Context::new(timestamp()));
        for decoder in [&catalog, Catalog::builtin_ref()] {
            let back = decoder.decode(400, &http::HeaderMap::new(), &body, timestamp());
            let body = String::from_utf8_lossy(&body);
            assert_eq!(back.code.as_deref(), code, "{body}");
            assert_eq!(back.violations, violations, "{body}");
        }
    }
    // An API's own code, unknown to the catalog, is still its code outside
    // a validation error.
    let body = br#"{"data":null,"success":false,"message":"Quota spent","errors":[{"quota_spent":["Come back tomorrow"]}]}"#;
    let back = catalog.decode(403, &http::HeaderMap::new(), body, timestamp());
    assert_eq!(back.code.as_deref(), Some("quota_spent"));
    assert!(back.violations.is_empty(), "{:?}", back.violations);
}

/// Seed 000's hint is written only when the details fill it: a bare 403
/// that names only the scope must not put `{access}` on the wire.
#[test]
fn seed_000_hint_with_blanks_gives_way_to_the_details() {
    let catalog = catalog("000-001-neolens.toml");
    let err = catalog
        .error("insufficient_scope")
        .unwrap()
        .with("scope", "scans:write");
    let body = catalog
        .renderer(Dialect::StatusCode)
        .body(&err, &Context::new(timestamp()));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["details"], json!({"scope": "scans:write"}));
}

/// Seed 002's structured `detail` names the offending field: a validation
/// error built from violations alone names the first violation's field, as
/// `{"detail":{"code":"VALIDATION_ERROR","message":…,"field":"limit"}}`
/// does, and reads back as that violation rather than as a detail.
#[test]
fn seed_002_validation_from_violations_names_the_field() {
    let catalog = catalog("002-extraction.toml");
    let err = catalog
        .error("validation_error")
        .unwrap()
        .violation(Violation::new("limit", "too_large", "must be at most 100"))
        .violation(Violation::new("offset", "negative", "must be positive"));
    let ctx = Context::new(timestamp());
    let response = catalog.renderer(Dialect::Detail).response(&err, &ctx);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["detail"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["detail"]["message"], "Invalid request parameters");
    assert_eq!(body["detail"]["field"], "limit");
    let back = catalog.decode(400, response.headers(), response.body(), timestamp());
    assert_eq!(back.violations, err.violations());
    // 002's entry documents `field` (the seed shows it), so it reads back as
    // a detail too.
    let details: Vec<_> = back.details.iter().collect();
    assert_eq!(details, [(&"field".to_owned(), &json!("limit"))]);

    // A `field` detail names the field itself, and stays a detail.
    let err = err.with("field", "page");
    let response = catalog.renderer(Dialect::Detail).response(&err, &ctx);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["detail"]["field"], "page");
    let back = catalog.decode(400, response.headers(), response.body(), timestamp());
    assert_eq!(back.details["field"], "page");

    // A violation of the whole input has no field to name.
    let err = catalog
        .error("validation_error")
        .unwrap()
        .violation(Violation::new("", "invalid_type", "expected an object"));
    let body = catalog.renderer(Dialect::Detail).body(&err, &ctx);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["detail"].get("field").is_none(), "{body}");
}

/// Seed 000's hint stands for the details, not for field violations: an
/// entry with a hint that reports violations writes the details object, so
/// that they reach the client.
#[test]
fn seed_000_hint_gives_way_to_violations() {
    let catalog = catalog("000-001-neolens.toml");
    let err = catalog
        .error("insufficient_scope")
        .unwrap()
        .with("scope", "scans:write")
        .with("access", "write")
        .with("resource", "scans")
        .violation(Violation::new("scope", "missing", "scans:write is missing"));
    let response = catalog
        .renderer(Dialect::StatusCode)
        .response(&err, &Context::new(timestamp()));
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body["error"]["details"],
        json!({
            "scope": "scans:write",
            "access": "write",
            "resource": "scans",
            "errors": [{"field": "scope", "code": "missing", "message": "scans:write is missing"}]
        })
    );
    let back = catalog.decode(403, response.headers(), response.body(), timestamp());
    assert_eq!(back.violations, err.violations());
    assert_eq!(back.details["resource"], "scans");
}

/// An answer carries the details its entry documents, whichever layer added
/// them, so what the error reference shows is what is sent: seeds 002 and
/// 003 document no details for `insufficient_scope` (`"details":{}`), though
/// the layers add `scope`, `resource` and `access`.
#[test]
fn an_override_without_details_sends_none() {
    let scope_error = |c: &Catalog| {
        c.error("insufficient_scope")
            .unwrap()
            .with("scope", "scans:write")
            .with("resource", "scans")
            .with("access", "write")
    };
    for (file, dialect) in [
        ("002-extraction.toml", Dialect::Coded),
        ("003-neo.toml", Dialect::Meta),
    ] {
        let catalog = catalog(file);
        let body = catalog
            .renderer(dialect)
            .body(&scope_error(&catalog), &Context::new(timestamp()));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["details"], json!({}), "{file}: {body}");
        let def = catalog.get("insufficient_scope").unwrap();
        let documented = tollgate::docs::example_body(&catalog, dialect, def);
        assert_eq!(documented["error"]["details"], json!({}), "{file}");
        // The message still has the scope to fill, were it to name it.
        assert_eq!(
            body["error"]["message"],
            def.message()
                .render(scope_error(&catalog).details())
                .to_string()
        );
    }

    // An app's `details = []` for credits, in the default dialect.
    let app = Catalog::from_toml(
        "app.toml",
        "[errors.insufficient_credits]\nmessage = \"Not enough credits.\"\ndetails = []\n",
    )
    .unwrap();
    let err = app
        .error("insufficient_credits")
        .unwrap()
        .with("required", 1)
        .with("available", 0);
    let ctx = Context::new(timestamp());
    let body: Value =
        serde_json::from_slice(&app.renderer(Dialect::Problem).body(&err, &ctx)).unwrap();
    assert_eq!(body["detail"], "Not enough credits.");
    for key in ["required", "available"] {
        assert!(body.get(key).is_none(), "{key}: {body}");
    }
    // The built-in entry documents both, and sends them.
    let builtin = Catalog::builtin_ref();
    let err = builtin
        .error("insufficient_credits")
        .unwrap()
        .with("required", 1)
        .with("available", 0);
    let body: Value =
        serde_json::from_slice(&builtin.renderer(Dialect::Problem).body(&err, &ctx)).unwrap();
    assert_eq!(
        (&body["required"], &body["available"]),
        (&json!(1), &json!(0))
    );
}
