//! Decoding errors as real APIs send them: no Tollgate headers, other shapes,
//! bodies that are not JSON at all.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use tollgate::{Decoded, Kind, decode};

fn now() -> SystemTime {
    humantime::parse_rfc3339("2025-07-24T11:30:12Z").unwrap()
}

fn dec(status: u16, headers: &[(&str, &str)], body: &str) -> Decoded {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    decode(status, &map, body.as_bytes(), now())
}

#[test]
fn seed_000_status_code_with_string_details() {
    let e = dec(403, &[], include_str!("golden/000-insufficient-scope.json"));
    assert_eq!(e.dialect, "status-code");
    assert_eq!(e.kind, Kind::PermissionDenied);
    assert_eq!(e.code, None);
    assert_eq!(
        e.message.as_deref(),
        Some("Access denied: missing scope 'scans:write'.")
    );
    assert_eq!(
        e.details["hint"],
        "Your token does not grant write permissions for scans."
    );
    assert!(!e.retryable);
}

#[test]
fn seed_001_body_retry_after_and_status_from_body() {
    let e = dec(0, &[], include_str!("golden/001-rate-limit.json"));
    assert_eq!(e.status, 429);
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(e.kind, Kind::RateLimited);
    assert!(e.retryable);
}

#[test]
fn seed_001_details_null_or_an_object() {
    let e = dec(0, &[], include_str!("golden/001-invalid-key.json"));
    assert_eq!((e.dialect, e.status), ("status-code", 401));
    assert_eq!(e.kind, Kind::Unauthenticated);
    assert_eq!(e.message.as_deref(), Some("Unauthorized: Invalid API key"));
    assert!(e.details.is_empty(), "{:?}", e.details);
    assert!(!e.retryable);

    let e = dec(0, &[], include_str!("golden/001-missing-field.json"));
    assert_eq!((e.dialect, e.status), ("status-code", 400));
    assert_eq!(e.kind, Kind::InvalidArgument);
    assert_eq!(e.details["field"], "image_data");
    assert_eq!(e.details["issue"], "This field is required.");
}

#[test]
fn seed_002_both_shapes() {
    let e = dec(
        429,
        &[("Retry-After", "7")],
        include_str!("golden/002-rate-limit.json"),
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("coded", Some("RATE_LIMIT_ERROR"))
    );
    assert_eq!(
        e.request_id.as_deref(),
        Some("550e8400-e29b-41d4-a716-446655440000")
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));

    let e = dec(404, &[], include_str!("golden/002-not-found.json"));
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("detail", Some("Rule not found"))
    );
    assert_eq!(e.kind, Kind::NotFound);

    let e = dec(400, &[], include_str!("golden/002-validation.json"));
    assert_eq!(e.code.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(e.details["field"], "limit");
}

#[test]
fn seed_003_meta() {
    let e = dec(403, &[], include_str!("golden/003-forbidden.json"));
    assert_eq!((e.dialect, e.code.as_deref()), ("meta", Some("FORBIDDEN")));
    assert_eq!(
        e.request_id.as_deref(),
        Some("a1b2c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d")
    );
}

#[test]
fn seed_004_envelope_without_tollgate_headers() {
    let e = dec(
        402,
        &[],
        include_str!("golden/004-insufficient-credits.json"),
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("envelope", Some("insufficient_credits"))
    );
    assert_eq!(e.kind, Kind::PaymentRequired);
    assert!(e.violations.is_empty());

    let e = dec(400, &[], include_str!("golden/004-validation.json"));
    assert_eq!(e.code, None);
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].field, "session_id");

    let e = dec(
        400,
        &[],
        r#"{"error":"invalid_key","message":"Not authenticated"}"#,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("flat", Some("invalid_key"))
    );
}

#[test]
fn success_false_is_seed_004_only_in_its_shape() {
    // Cloudflare: `errors` items are `{code, message}` objects.
    let body = r#"{"success":false,"errors":[{"code":1003,"message":"Invalid or missing zone id."}],"messages":[],"result":null}"#;
    let e = dec(400, &[("cf-ray", "8a1")], body);
    assert_eq!(e.dialect, "errors");
    assert_eq!(e.message.as_deref(), Some("Invalid or missing zone id."));
    // Its numbered code is its code, as Twilio's is; one that only repeats
    // the status would be none.
    assert_eq!(e.code.as_deref(), Some("1003"));
    assert!(e.violations.is_empty(), "{:?}", e.violations);

    let e = dec(400, &[], r#"{"success":false,"errors":["bad"]}"#);
    assert_eq!((e.dialect, e.message.as_deref()), ("errors", Some("bad")));
    assert!(e.violations.is_empty());

    // Seed 004's own shapes stay the envelope: entries of one code or field
    // each, no entries, or no `errors` at all.
    let e = dec(400, &[], include_str!("golden/004-validation.json"));
    assert_eq!(e.dialect, "envelope");
    let e = dec(
        400,
        &[],
        r#"{"data":null,"success":false,"message":"m","errors":[]}"#,
    );
    assert_eq!((e.dialect, e.message.as_deref()), ("envelope", Some("m")));
    let e = dec(400, &[], r#"{"data":null,"success":false,"message":"m"}"#);
    assert_eq!((e.dialect, e.message.as_deref()), ("envelope", Some("m")));
    // Several fields in one entry, and a lone message instead of a list.
    let body = r#"{"data":null,"success":false,"message":"Validation failed","errors":[{"session_id":["required"],"frames":["required"]}]}"#;
    let e = dec(400, &[], body);
    assert_eq!((e.dialect, e.violations.len()), ("envelope", 2));
    let body = r#"{"data":null,"success":false,"message":"Not authenticated","errors":[{"invalid_key":"Not authenticated"}]}"#;
    let e = dec(401, &[], body);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("envelope", Some("invalid_key"))
    );
}

#[test]
fn github_validation_failed() {
    let body = r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"},{"resource":"Issue","field":"body","code":"custom","message":"body is too long"}],"documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue"}"#;
    let e = dec(422, &[("x-github-request-id", "G1")], body);
    assert_eq!(e.dialect, "errors");
    assert_eq!(e.message.as_deref(), Some("Validation Failed"));
    // The items' codes are the fields', not the error's.
    assert_eq!(e.code, None);
    assert_eq!(
        e.violations,
        [
            tollgate::Violation::new("title", "missing_field", ""),
            tollgate::Violation::new("body", "custom", "body is too long"),
        ]
    );
    assert_eq!(e.kind, Kind::InvalidArgument);

    // Without a top-level message, the first item's (or violation's) is it.
    let e = dec(
        400,
        &[],
        r#"{"errors":[{"field":"title","code":"missing","message":"title is required"}]}"#,
    );
    assert_eq!(e.message.as_deref(), Some("title is required"));
    assert_eq!(e.violations.len(), 1);
    // A top-level code wins over the first item's.
    let e = dec(
        400,
        &[],
        r#"{"code":"E1","errors":[{"message":"m","code":"E2"}]}"#,
    );
    assert_eq!(
        (e.code.as_deref(), e.message.as_deref()),
        (Some("E1"), Some("m"))
    );
}

#[test]
fn fastapi_422_array() {
    let body = r#"{"detail":[{"loc":["body","items",2,"name"],"msg":"field required","type":"value_error.missing"}]}"#;
    let e = dec(422, &[], body);
    assert_eq!(e.dialect, "detail");
    assert_eq!(e.violations[0].field, "items[2].name");
    assert_eq!(e.violations[0].code, "value_error.missing");
    assert_eq!(e.kind, Kind::InvalidArgument);
}

#[test]
fn fastapi_missing_body_is_a_violation_of_the_whole_input() {
    let body = r#"{"detail":[{"loc":["body"],"msg":"Field required","type":"missing"}]}"#;
    let e = dec(422, &[], body);
    assert_eq!(
        e.violations,
        [tollgate::Violation::new("", "missing", "Field required")]
    );
    assert_eq!(e.message.as_deref(), Some("Field required"));
    // A named field keeps its name, a body-level one too.
    let body = r#"{"detail":[{"loc":["query","limit"],"msg":"m","type":"t"},{"loc":["name"],"msg":"m","type":"t"}]}"#;
    let fields: Vec<_> = dec(422, &[], body)
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["limit", "name"]);
}

#[test]
fn azure_plain_message_and_errors_shapes() {
    let body = r#"{"error":{"code":"BadArgument","message":"Bad name","target":"name","details":[{"code":"Empty","target":"name","message":"is empty"}],"innererror":{"code":"X"}}}"#;
    let e = dec(400, &[("x-ms-request-id", "ms-1")], body);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("azure", Some("BadArgument"))
    );
    assert_eq!(e.violations[0].field, "name");
    assert_eq!(e.details["innererror"]["code"], "X");
    assert_eq!(e.request_id.as_deref(), Some("ms-1"));

    let e = dec(500, &[], r#"{"error":"Something broke badly"}"#);
    assert_eq!(
        (e.dialect, e.code, e.message.as_deref()),
        ("plain", None, Some("Something broke badly"))
    );

    let e = dec(404, &[], r#"{"message":"Not Found","code":"E404"}"#);
    assert_eq!((e.dialect, e.code.as_deref()), ("message", Some("E404")));

    let e = dec(
        400,
        &[],
        r#"{"errors":[{"message":"Cannot query field","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}"#,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("errors", Some("GRAPHQL_VALIDATION_FAILED"))
    );
}

#[test]
fn stripe_google_jsonapi_problem_from_their_docs() {
    let stripe = r#"{"error":{"code":"parameter_missing","doc_url":"https://stripe.com/docs/error-codes/parameter-missing","message":"Missing required param: amount.","param":"amount","type":"invalid_request_error"}}"#;
    let e = dec(400, &[("Request-Id", "req_abc")], stripe);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("stripe", Some("parameter_missing"))
    );
    assert_eq!(e.violations[0].field, "amount");
    assert_eq!(e.request_id.as_deref(), Some("req_abc"));

    let google = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"service":"x.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
    let e = dec(429, &[], google);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("google", Some("RATE_LIMIT_EXCEEDED"))
    );
    assert_eq!(e.retry_after, Some(Duration::from_millis(1500)));
    assert_eq!(e.kind, Kind::RateLimited);
    let with_request_info = r#"{"error":{"code":404,"message":"Not found","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","requestId":"req_g1"}]}}"#;
    let e = dec(404, &[], with_request_info);
    assert_eq!(e.request_id.as_deref(), Some("req_g1"));

    let jsonapi = r#"{"errors":[{"status":"422","source":{"pointer":"/data/attributes/firstName"},"title":"Invalid Attribute","detail":"First name must contain at least two characters."}]}"#;
    let e = dec(422, &[], jsonapi);
    assert_eq!(e.dialect, "jsonapi");
    assert_eq!(e.violations[0].field, "data.attributes.firstName");

    let problem = r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc","balance":30,"accounts":["/account/12345","/account/67890"]}"#;
    let e = dec(403, &[], problem);
    assert_eq!(e.dialect, "problem");
    assert_eq!(e.details["balance"], 30);
    assert_eq!(
        e.message.as_deref(),
        Some("Your current balance is 30, but that costs 50.")
    );
}

#[test]
fn asp_net_core_validation_problem() {
    let body = r#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"Name":["The Name field is required."],"Age":["Too young.","Not a number."]},"traceId":"00-abc-00"}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.dialect, "problem");
    // The fragment names a section of the RFC, not a code.
    assert_eq!(e.code, None);
    assert_eq!(
        e.message.as_deref(),
        Some("One or more validation errors occurred.")
    );
    assert_eq!(
        e.violations,
        [
            tollgate::Violation::new("Name", "", "The Name field is required."),
            tollgate::Violation::new("Age", "", "Too young."),
            tollgate::Violation::new("Age", "", "Not a number."),
        ]
    );
    assert!(!e.details.contains_key("errors"));
    assert_eq!(e.details["traceId"], "00-abc-00");
    // `errors: null` is no detail.
    let e = dec(
        400,
        &[],
        r#"{"type":"about:blank","title":"Bad","status":400,"errors":null}"#,
    );
    assert!(e.details.is_empty(), "{:?}", e.details);

    // `errors` that are neither an array nor an object stay a detail.
    let body = r#"{"type":"https://example.com/errors#bad_input","title":"Bad input","status":400,"errors":"see logs"}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.code.as_deref(), Some("bad_input"));
    assert!(e.violations.is_empty());
    assert_eq!(e.details["errors"], "see logs");
}

#[test]
fn not_json_keeps_status_request_id_and_retry_hint() {
    let e = dec(
        503,
        &[
            ("Retry-After", "Thu, 24 Jul 2025 11:31:12 GMT"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>",
    );
    assert_eq!((e.dialect, e.status), ("html", 503));
    assert_eq!(
        e.message.as_deref(),
        Some("503 Service Temporarily Unavailable")
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(
        e.request_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert!(e.retryable);

    let e = dec(502, &[("X-Amzn-RequestId", "amzn-1")], "Bad Gateway\n");
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("text", Some("Bad Gateway"))
    );
    assert_eq!(e.request_id.as_deref(), Some("amzn-1"));
    assert_eq!(e.kind, Kind::Unavailable);

    let e = dec(500, &[("X-Correlation-Id", "c-1")], "");
    assert_eq!((e.dialect, e.request_id.as_deref()), ("empty", Some("c-1")));
}

#[test]
fn hostile_bodies_never_panic() {
    let deep = "[".repeat(100_000);
    let deep_obj = format!("{}{}", r#"{"error":"#.repeat(10_000), "1");
    let huge = format!(r#"{{"message":"{}"}}"#, "x".repeat(5_000_000));
    let bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        deep_obj.into_bytes(),
        huge.into_bytes(),
        br#"{"error":{"code":"#.to_vec(),
        vec![0xff, 0xfe, b'{', 0x80],
        b"\xef\xbb\xbf{\"message\":\"bom\"}".to_vec(),
        br#"{"error":{"code":1e999,"status":[],"details":"x"}}"#.to_vec(),
        br#"{"errors":[null,1,"a",{"source":7}]}"#.to_vec(),
        br#"{"detail":[{"loc":{"a":1}}]}"#.to_vec(),
        br#"{"type":5,"title":{},"status":"x"}"#.to_vec(),
        b"null".to_vec(),
        b"<".to_vec(),
    ];
    let bom = decode(
        400,
        &HeaderMap::new(),
        b"\xef\xbb\xbf{\"message\":\"bom\"}",
        now(),
    );
    assert_eq!(
        (bom.dialect, bom.message.as_deref()),
        ("message", Some("bom"))
    );
    for body in bodies {
        let e = decode(500, &HeaderMap::new(), &body, now());
        assert_eq!(e.status, 500);
        if let Some(m) = &e.message {
            assert!(m.chars().count() <= 5_000_001);
        }
    }
}

#[test]
fn hostile_violation_lists_cost_about_their_size() {
    // One 64 KiB field name with 300 000 empty messages (under a MiB), and
    // lists of 300 000 empty items in each shape that reads violations.
    let name = "A".repeat(65_536);
    let empties = vec!["\"\""; 300_000].join(",");
    let items = vec!["{}"; 300_000].join(",");
    // The coded dialect's `details.errors`, an item repeating a member.
    let violation = r#"{"field":"a","code":"c","message":"m","field":"b"}"#;
    let violations = vec![violation; 20_000].join(",");
    let bodies = [
        format!(
            r#"{{"error":{{"code":"x","message":"m","details":{{"errors":[{violations}]}}}}}}"#
        ),
        format!(
            r#"{{"type":"about:blank","title":"x","status":400,"errors":{{"{name}":[{empties}]}}}}"#
        ),
        format!(r#"{{"success":false,"errors":[{{"{name}":[{empties}]}}]}}"#),
        format!(r#"{{"error":{{"code":"x","message":"m","details":[{items}]}}}}"#),
        format!(r#"{{"detail":[{items}]}}"#),
        format!(r#"{{"type":"t","title":"x","status":400,"errors":[{items}]}}"#),
        format!(
            r#"{{"error":{{"code":400,"message":"m","status":"INVALID_ARGUMENT","details":[{{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{items}]}}]}}}}"#
        ),
    ];
    for body in bodies {
        let e = decode(400, &HeaderMap::new(), body.as_bytes(), now());
        let copied: usize = e.violations.iter().map(|v| v.field.len()).sum();
        assert!(!e.violations.is_empty(), "{}", e.dialect);
        assert!(
            e.violations.len() <= 1000,
            "{}: {}",
            e.dialect,
            e.violations.len()
        );
        assert!(
            copied <= 2 * 65_536,
            "{}: {copied} bytes of field names",
            e.dialect
        );
    }
    // Details: a member of a million numbers is left out, smaller ones kept.
    let numbers = vec!["0"; 500_000].join(",");
    let body = format!(r#"{{"type":"t","title":"x","status":400,"big":[{numbers}],"small":7}}"#);
    let e = decode(400, &HeaderMap::new(), body.as_bytes(), now());
    assert_eq!(e.details.get("small"), Some(&serde_json::json!(7)));
    assert!(!e.details.contains_key("big"), "{:?}", e.details.keys());
    // A short field name keeps all of a realistic list.
    let e = decode(
        400,
        &HeaderMap::new(),
        br#"{"type":"t","title":"x","status":400,"errors":{"name":["a","b","c"]}}"#,
        now(),
    );
    assert_eq!(e.violations.len(), 3);
}

#[test]
fn details_are_kept_up_to_64_kib_of_json_text() {
    // A string's JSON text is its characters and its two quotes.
    let kept = |len: usize| {
        let note = "x".repeat(len - 2);
        let body = format!(r#"{{"type":"about:blank","title":"x","status":400,"note":"{note}"}}"#);
        dec(400, &[], &body).details.contains_key("note")
    };
    assert!(kept(2_000));
    assert!(kept(65_536));
    assert!(!kept(65_537));
    // The limit is on all details together: a member past it is left out,
    // a smaller one after it still fits.
    let half = "x".repeat(40_000);
    let body = format!(
        r#"{{"type":"about:blank","title":"x","status":400,"a":"{half}","b":"{half}","c":7}}"#
    );
    let e = dec(400, &[], &body);
    assert_eq!(
        e.details.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "c"]
    );
}

#[test]
fn problem_details_without_every_member_are_problem_details() {
    // RFC 9457: every member is optional.
    let e = dec(
        403,
        &[],
        r#"{"type":"https://example.com/docs#out_of_credit","detail":"Your balance is 30."}"#,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref(), e.message.as_deref()),
        (
            "problem",
            Some("out_of_credit"),
            Some("Your balance is 30.")
        )
    );
    let e = dec(0, &[], r#"{"title":"Out of credit","status":403}"#);
    assert_eq!(
        (e.dialect, e.status, e.message.as_deref()),
        ("problem", 403, Some("Out of credit"))
    );
}

#[test]
fn one_long_message_copied_to_many_fields_costs_about_its_size() {
    // Salesforce's `fields`: the item's message is copied to each field.
    let message = "x".repeat(65_536);
    let fields = vec![r#""f""#; 100].join(",");
    let body = format!(r#"[{{"message":"{message}","errorCode":"","fields":[{fields}]}}]"#);
    let e = dec(400, &[], &body);
    let copied: usize = e.violations.iter().map(|v| v.message.len()).sum();
    assert!(!e.violations.is_empty());
    assert!(copied <= 2 * 65_536, "{copied} bytes of messages");
}

#[test]
fn problem_extensions_named_like_other_shapes_stay_problem() {
    // Found by the roundtrip fuzz target: details named `error` or `success`.
    let catalog = tollgate::Catalog::builtin();
    for (key, value) in [
        ("error", serde_json::json!("")),
        ("error", serde_json::json!({"code": 7})),
        ("error", serde_json::json!({"code": "E1"})),
        ("success", serde_json::json!(true)),
    ] {
        // Only documented details are sent: an entry that documents the key.
        let builtin = catalog.get("timeout").unwrap();
        let def = (**builtin).clone().details([key]);
        let err = tollgate::ApiError::new(def.into()).with(key, value.clone());
        let ctx = tollgate::Context::new(now()).request_id("r1");
        let body = catalog
            .renderer(tollgate::Dialect::Problem)
            .body(&err, &ctx);
        let e = decode(0, &HeaderMap::new(), &body, now());
        assert_eq!(
            (e.dialect, e.status, e.code.as_deref()),
            ("problem", 504, Some("timeout")),
            "{key}"
        );
        assert_eq!(e.details[key], value);
    }
}

#[test]
fn a_body_that_is_not_utf8_keeps_its_code_message_and_retry_hint() {
    let body = b"{\"error\":{\"code\":429,\"message\":\"Trop de requ\xEAtes\",\"retry_after\":60},\"request_id\":\"r1\"}";
    let e = decode(429, &HeaderMap::new(), body, now());
    assert_eq!(e.dialect, "status-code");
    assert_eq!(e.message.as_deref(), Some("Trop de requ\u{FFFD}tes"));
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(e.request_id.as_deref(), Some("r1"));
}

#[test]
fn body_retry_hints_are_numbers_of_seconds_saturating() {
    let hint = |value: &str| {
        let body =
            format!(r#"{{"error":{{"code":429,"message":"slow down","retry_after":{value}}}}}"#);
        dec(429, &[], &body).retry_after
    };
    assert_eq!(hint("30"), Some(Duration::from_secs(30)));
    assert_eq!(hint("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(hint("1e3"), Some(Duration::from_secs(1000)));
    // Too long to represent is the longest wait (the client stops), not no
    // hint (which it would retry within a second).
    assert_eq!(
        hint("99999999999999999999"),
        Some(Duration::from_secs(u64::MAX))
    );
    assert_eq!(hint("1e300"), Some(Duration::MAX));
    // Written as a string, as some APIs do.
    assert_eq!(hint("\"30\""), Some(Duration::from_secs(30)));
    for nothing in ["-1", "\"-1\"", "\"soon\"", "null"] {
        assert_eq!(hint(nothing), None, "{nothing}");
    }
    let google = dec(
        429,
        &[],
        r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e30s"}]}}"#,
    );
    assert_eq!(google.retry_after, Some(Duration::MAX));
}

#[test]
fn a_status_past_599_is_not_made_retryable_by_its_body() {
    let e = dec(
        999,
        &[("X-Error-Code", "rate_limit_exceeded")],
        r#"{"error":{"code":"rate_limit_exceeded","message":"m"}}"#,
    );
    assert!(!e.retryable, "{e:?}");
}

#[test]
fn retry_after_lines_all_count_and_fractions_are_read() {
    // Two layers each added one: the longest wait wins.
    let e = dec(429, &[("Retry-After", "1"), ("Retry-After", "30")], "");
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    let e = dec(429, &[("Retry-After", "30"), ("Retry-After", "1")], "");
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    // The same in a map with many headers (read by lookup, not by a pass).
    let names: Vec<String> = (0..16).map(|i| format!("x-other-{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    many.extend([("Retry-After", "1"), ("Retry-After", "30")]);
    assert_eq!(
        dec(429, &many, "").retry_after,
        Some(Duration::from_secs(30))
    );
    // Not RFC 9110, but sent: a fraction is a hint, not none.
    let e = dec(429, &[("Retry-After", "2.5")], "");
    assert_eq!(e.retry_after, Some(Duration::from_millis(2500)));
    // And it makes a 403 a rate limit, as a whole number does.
    let e = dec(403, &[("Retry-After", "2.5")], "");
    assert!(e.retryable);
}

#[test]
fn a_key_with_a_lone_surrogate_loses_nothing_else() {
    let e = dec(
        429,
        &[],
        r#"{"error":{"code":"RATE_LIMIT_ERROR","message":"slow","retry_after":30},"request_id":"r1","x\ud800":1}"#,
    );
    assert_eq!(e.code.as_deref(), Some("RATE_LIMIT_ERROR"));
    assert_eq!(e.request_id.as_deref(), Some("r1"));
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    // Stray backslashes before multi-byte characters are no trouble.
    for body in [r#"{"\é\ud800":"\"}"#, "{\"\\", "\\é\\", r#"{"\\ud800":1}"#] {
        let _ = dec(400, &[], body);
    }
}

/// The status of a body decoded without one: JSON:API's is a string, but
/// some servers write a number.
#[test]
fn a_jsonapi_status_written_as_a_number_is_read() {
    for status in [r#""429""#, "429"] {
        let body = format!(
            r#"{{"errors":[{{"status":{status},"code":"rate_limit_exceeded","title":"Too many"}}]}}"#
        );
        let e = dec(0, &[], &body);
        assert_eq!((e.dialect, e.status), ("jsonapi", 429), "{body}");
    }
}

#[test]
fn thousands_of_fields_with_one_message_each_make_the_first_thousand() {
    // ASP.NET Core's `errors` object, each field's message a string.
    let fields: Vec<String> = (0..1500).map(|i| format!(r#""f{i}":"bad""#)).collect();
    let body = format!(
        r#"{{"type":"t","title":"x","status":400,"errors":{{{}}}}}"#,
        fields.join(",")
    );
    let e = dec(400, &[], &body);
    assert_eq!((e.dialect, e.violations.len()), ("problem", 1000));
}

#[test]
fn a_list_of_thousands_of_errors_is_read_to_its_first_thousand() {
    let item = r#"{"status":"422","source":{"pointer":"/data/a"},"detail":"bad"}"#;
    let items = vec![item; 5000].join(",");
    let e = dec(422, &[], &format!(r#"{{"errors":[{items}]}}"#));
    assert_eq!(e.dialect, "jsonapi");
    assert_eq!(e.violations.len(), 1000);
    let e = dec(
        400,
        &[],
        &format!(r#"{{"errors":[{}]}}"#, vec!["{}"; 5000].join(",")),
    );
    assert_eq!(e.dialect, "errors");
}

#[test]
fn a_retry_after_in_the_body_counts_in_every_shape() {
    // Discord: seconds with a fraction, and no `Retry-After`.
    let discord = r#"{"message":"You are being rate limited.","retry_after":64.57,"global":false}"#;
    let e = dec(429, &[], discord);
    assert_eq!(e.dialect, "message");
    // Read as written: waiting that long is never coming back early.
    assert_eq!(e.retry_after, Some(Duration::from_millis(64_570)));
    // Beside `Retry-After`, the header's (Discord rounds it up).
    let e = dec(429, &[("Retry-After", "65")], discord);
    assert_eq!(e.retry_after, Some(Duration::from_secs(65)));

    for (shape, body) in [
        (
            "detail",
            r#"{"detail":"Too many requests","retry_after":30}"#,
        ),
        (
            "envelope",
            r#"{"data":null,"success":false,"message":"Rate limit exceeded. Please try again later.","errors":[{"rate_limit_exceeded":["Rate limit exceeded. Please try again later."]}],"retry_after":30}"#,
        ),
        (
            "flat",
            r#"{"error":"rate_limit_exceeded","message":"Rate limit exceeded.","retry_after":30}"#,
        ),
        ("plain", r#"{"error":"rate_limited","retry_after":30}"#),
        (
            "errors",
            r#"{"errors":[{"message":"slow down"}],"retry_after":30}"#,
        ),
        (
            "azure",
            r#"{"error":{"code":"TooManyRequests","message":"m","target":"x"},"retry_after":30}"#,
        ),
        ("json", r#"{"retry_after":30}"#),
    ] {
        let e = dec(429, &[], body);
        assert_eq!(e.dialect, shape, "{body}");
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)), "{body}");
    }
}

#[test]
fn a_blank_request_id_in_the_body_gives_way_to_the_headers() {
    let header = [("X-Request-Id", "abc")];
    for body in [
        r#"{"error":{"code":"X","message":"m"},"request_id":""}"#,
        r#"{"error":{"code":"X","message":"m"},"request_id":" "}"#,
        r#"{"error":{"code":"X","message":"m"},"meta":{"request_id":""}}"#,
    ] {
        assert_eq!(dec(400, &header, body).request_id.as_deref(), Some("abc"));
        // Without one in the headers, there is none.
        assert_eq!(dec(400, &[], body).request_id, None, "{body}");
    }
    // The other name in the body, before the headers.
    let body = r#"{"message":"m","request_id":"","requestId":"r2"}"#;
    assert_eq!(dec(400, &header, body).request_id.as_deref(), Some("r2"));
    // An id sent as a number is its digits.
    let body = r#"{"message":"m","request_id":12345}"#;
    assert_eq!(dec(400, &header, body).request_id.as_deref(), Some("12345"));
}

#[test]
fn a_request_id_sent_twice_in_the_body_is_the_last_one() {
    for (body, id) in [
        (
            r#"{"message":"m","request_id":"r1","request_id":"r2"}"#,
            "r2",
        ),
        (r#"{"message":"m","requestId":"c1","requestId":"c2"}"#, "c2"),
        // Both spellings: `request_id` is the one read.
        (
            r#"{"message":"m","request_id":"r1","requestId":"c1"}"#,
            "r1",
        ),
    ] {
        let e = dec(400, &[], body);
        assert_eq!(e.request_id.as_deref(), Some(id), "{body}");
    }
}

#[test]
fn request_ids_of_vendor_and_cloudflare_headers() {
    for (header, id) in [
        ("x-github-request-id", "C0DE:1A2B:3C4D"),
        ("x-amz-request-id", "4442587FB7D0A2F9"),
        ("twilio-request-id", "RQ2ce0d4c28e2fd9fb8a1e2a6f8c0c0c0c"),
        ("x-slack-req-id", "8b3a9f1b4c7d2e5a"),
        ("paypal-debug-id", "b1d1f06c7246c"),
        ("cf-ray", "8c1f2a3b4c5d6e7f-AMS"),
    ] {
        let e = dec(
            502,
            &[(header, id)],
            "<html><title>502 Bad Gateway</title></html>",
        );
        assert_eq!(e.request_id.as_deref(), Some(id), "{header}");
    }
    // The API's own id header wins over a proxy's.
    let e = dec(502, &[("cf-ray", "r1"), ("x-request-id", "own")], "");
    assert_eq!(e.request_id.as_deref(), Some("own"));
}

#[test]
fn codes_of_google_and_stripe_bodies_without_their_usual_member() {
    // Google without ErrorInfo: the legacy `errors[].reason`, else `status`.
    let legacy = r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"status":"PERMISSION_DENIED"}}"#;
    let e = dec(403, &[], legacy);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("google", Some("rateLimitExceeded"))
    );
    let bare = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
    let e = dec(404, &[], bare);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("google", Some("NOT_FOUND"))
    );
    assert_eq!(e.kind, Kind::NotFound);
    // Stripe's and Anthropic's `type` when there is no `code`.
    let e = dec(
        500,
        &[],
        r#"{"error":{"type":"api_error","message":"Something went wrong."}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("api_error"));
    let anthropic =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let e = dec(529, &[], anthropic);
    assert_eq!(e.code.as_deref(), Some("overloaded_error"));
    assert_eq!(e.message.as_deref(), Some("Overloaded"));
    // A `code` still wins over the `type`.
    let e = dec(
        402,
        &[],
        r#"{"error":{"type":"card_error","code":"card_declined","message":"Declined."}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("card_declined"));
}

#[test]
fn xml_errors_of_s3_and_azure_storage() {
    let s3 = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b.png</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>"#;
    let e = dec(404, &[("content-type", "application/xml")], s3);
    assert_eq!(e.dialect, "xml");
    assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
    assert_eq!(
        e.message.as_deref(),
        Some("The specified key does not exist.")
    );
    assert_eq!(e.request_id.as_deref(), Some("4442587FB7D0A2F9"));
    assert_eq!(e.kind, Kind::NotFound);
    let azure = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:9a1c</Message></Error>";
    let e = dec(404, &[("x-ms-request-id", "9a1c")], azure);
    assert_eq!(e.code.as_deref(), Some("ContainerNotFound"));
    assert_eq!(e.request_id.as_deref(), Some("9a1c"));
    // An HTML page is still read by its title.
    let e = dec(502, &[], "<html><title>502 Bad Gateway</title></html>");
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("html", Some("502 Bad Gateway"))
    );
}

#[test]
fn top_level_codes_and_details_of_message_bodies() {
    // Twilio: a numeric code of its own, beside the status.
    let e = dec(
        404,
        &[],
        r#"{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#,
    );
    assert_eq!(e.code.as_deref(), Some("20404"));
    assert_eq!(
        e.message.as_deref(),
        Some("The requested resource was not found")
    );
    // A code that only repeats the status is no code.
    let e = dec(404, &[], r#"{"code":404,"message":"Not found"}"#);
    assert_eq!(e.code, None);
    let e = dec(
        404,
        &[],
        r#"{"code":"not_found","message":"m","details":{"id":1}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("not_found"));
    assert_eq!(e.details["id"], 1);
    // A body with a code and nothing else.
    let e = dec(404, &[], r#"{"code":"not_found"}"#);
    assert_eq!(e.code.as_deref(), Some("not_found"));
    assert_eq!(e.kind, Kind::NotFound);
    let e = dec(400, &[], r#"{"error_code":"bad_input","status":400}"#);
    assert_eq!(e.code.as_deref(), Some("bad_input"));
}

#[test]
fn oauth2_errors_keep_their_description_as_the_message() {
    let e = dec(
        400,
        &[("content-type", "application/json")],
        r#"{"error":"invalid_grant","error_description":"Refresh token expired","error_uri":"https://example.com/docs"}"#,
    );
    assert_eq!(e.code.as_deref(), Some("invalid_grant"));
    assert_eq!(e.message.as_deref(), Some("Refresh token expired"));
}

#[test]
fn proxies_and_apis_past_rfc_9110_are_transient() {
    // Anthropic's overloaded 529, Cloudflare's 522 (origin timed out).
    let overloaded =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let e = dec(529, &[], overloaded);
    assert_eq!(
        (e.code.as_deref(), e.kind),
        (Some("overloaded_error"), Kind::Unavailable)
    );
    assert!(e.retryable);
    let e = dec(
        522,
        &[("content-type", "text/html")],
        "<html><title>522: Connection timed out</title></html>",
    );
    assert_eq!(e.kind, Kind::Timeout);
    assert!(e.retryable);
}

#[test]
fn azure_hints_in_milliseconds_are_read() {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        let e = dec(429, &[(name, "1500")], "");
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)), "{name}");
    }
    // `Retry-After` says it first.
    let e = dec(429, &[("retry-after", "3"), ("retry-after-ms", "1500")], "");
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
}

/// Express's `res.status(500).send("Something broke!")` labels its text
/// `text/html`: text without markup is read as text whatever the label, in
/// any case of it.
#[test]
fn a_text_body_labelled_html_keeps_its_message() {
    for content_type in ["text/html; charset=utf-8", "TEXT/HTML"] {
        let e = dec(500, &[("content-type", content_type)], "Something broke!\n");
        assert_eq!(
            (e.dialect, e.message.as_deref()),
            ("text", Some("Something broke!")),
            "{content_type}"
        );
    }
    // A page stays a page.
    let e = dec(
        502,
        &[("content-type", "text/html")],
        "<html><title>502 Bad Gateway</title></html>",
    );
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("html", Some("502 Bad Gateway"))
    );
}

/// EC2's `<Response><Errors><Error>…` has neither a prolog nor a leading
/// `<Error`: its media type tells too, in whatever case it is written.
#[test]
fn an_xml_media_type_is_read_in_any_case() {
    let ec2 = "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestId>r-1</RequestId></Response>";
    for content_type in ["text/xml;charset=UTF-8", "Text/XML", "APPLICATION/XML"] {
        let e = dec(400, &[("content-type", content_type)], ec2);
        assert_eq!(
            (e.dialect, e.code.as_deref()),
            ("xml", Some("InvalidInstanceID.NotFound")),
            "{content_type}"
        );
        assert_eq!(e.request_id.as_deref(), Some("r-1"), "{content_type}");
    }
}

/// Gin's `c.JSON(400, "invalid id")` and a FastAPI `JSONResponse` of a
/// string send the message as the whole body, a JSON string.
#[test]
fn a_body_that_is_a_json_string_is_the_message() {
    let e = dec(
        400,
        &[("content-type", "application/json")],
        r#""invalid id: \"x\"""#,
    );
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("json", Some("invalid id: \"x\""))
    );
    assert_eq!(e.kind, Kind::InvalidArgument);
    // Other values say nothing of themselves.
    for body in ["null", "42", "[]", r#""  ""#] {
        let e = dec(400, &[], body);
        assert_eq!((e.dialect, e.message.as_deref()), ("json", None), "{body}");
    }
}

/// Google Calendar's and Drive's documented rate limit: the legacy
/// `errors[].reason` with no `status` beside it. It is google's, not seed
/// 000's `status-code` (whose `error` has no `errors`), and a throttling
/// reason on a 403 is a wait, not a refusal.
#[test]
fn a_legacy_google_error_without_its_status_is_google() {
    let calendar = r#"{"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":403,"message":"Rate Limit Exceeded"}}"#;
    let e = dec(403, &[], calendar);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("google", Some("rateLimitExceeded"))
    );
    assert_eq!(e.message.as_deref(), Some("Rate Limit Exceeded"));
    assert_eq!(e.kind, Kind::RateLimited);
    assert!(e.retryable);
    // Seed 001's bodies stay `status-code`.
    let seed = r#"{"error":{"code":401,"message":"Unauthorized: Invalid API key","details":null}}"#;
    assert_eq!(dec(401, &[], seed).dialect, "status-code");
}

/// Shopify's REST API says what went wrong in `errors` as a string.
#[test]
fn errors_written_as_a_string_are_the_message() {
    let e = dec(
        401,
        &[("x-request-id", "shop-1")],
        r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
    );
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        (
            "errors",
            Some("[API] Invalid API key or access token (unrecognized login or wrong password)")
        )
    );
    assert_eq!(e.request_id.as_deref(), Some("shop-1"));
    assert_eq!(e.kind, Kind::Unauthenticated);
    let e = dec(404, &[], r#"{"errors":"Not Found"}"#);
    assert_eq!(e.message.as_deref(), Some("Not Found"));
}

/// Salesforce answers with a JSON array of errors, each naming its code in
/// `errorCode` and the fields it concerns in `fields`.
#[test]
fn a_top_level_array_of_errors_is_read() {
    let body = r#"[{"message":"Email: invalid email address: foo","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]},{"message":"Name: too long","errorCode":"STRING_TOO_LONG","fields":["FirstName","LastName"]}]"#;
    let e = dec(400, &[("x-request-id", "sf-1")], body);
    assert_eq!(e.dialect, "errors");
    assert_eq!(
        (e.code.as_deref(), e.message.as_deref()),
        (
            Some("INVALID_EMAIL_ADDRESS"),
            Some("Email: invalid email address: foo")
        )
    );
    assert_eq!(
        e.violations,
        [
            tollgate::Violation::new(
                "Email",
                "INVALID_EMAIL_ADDRESS",
                "Email: invalid email address: foo"
            ),
            tollgate::Violation::new("FirstName", "STRING_TOO_LONG", "Name: too long"),
            tollgate::Violation::new("LastName", "STRING_TOO_LONG", "Name: too long"),
        ]
    );
    assert_eq!(e.request_id.as_deref(), Some("sf-1"));
    assert_eq!(e.kind, Kind::InvalidArgument);

    let e = dec(
        401,
        &[],
        r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref(), e.message.as_deref()),
        (
            "errors",
            Some("INVALID_SESSION_ID"),
            Some("Session expired or invalid")
        )
    );
    assert!(e.violations.is_empty(), "{:?}", e.violations);
    assert_eq!(e.kind, Kind::Unauthenticated);
    // A list of messages, as `{"errors":["…"]}` has.
    let e = dec(400, &[], r#"["id must be a number"]"#);
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("errors", Some("id must be a number"))
    );
    // With a lone surrogate in a key, the rest is still read.
    let e = dec(400, &[], r#"[{"message":"m","errorCode":"E","x\ud800":1}]"#);
    assert_eq!(
        (e.code.as_deref(), e.message.as_deref()),
        (Some("E"), Some("m"))
    );
    // Each field copies the message: a long one is copied a few times, and
    // thousands of fields make the first thousand violations.
    let fields = vec![r#""f""#; 5000].join(",");
    let long = "m".repeat(100_000);
    let body = format!(r#"[{{"message":"{long}","errorCode":"E","fields":[{fields}]}}]"#);
    assert_eq!(dec(400, &[], &body).violations.len(), 1);
    let body = format!(r#"[{{"message":"m","fields":[{fields}]}},{{"field":"g"}}]"#);
    assert_eq!(dec(400, &[], &body).violations.len(), 1000);
}

/// Jira's `{"errorMessages":[…],"errors":{"<field>":"…"}}`: the first of
/// the messages is the message; each field's message is a violation.
#[test]
fn jira_error_messages_and_field_errors_are_read() {
    let body = r#"{"errorMessages":[],"errors":{"summary":"You must specify a summary of the issue.","project":"project is required"}}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.dialect, "errors");
    assert_eq!(
        e.violations,
        [
            tollgate::Violation::new("summary", "", "You must specify a summary of the issue."),
            tollgate::Violation::new("project", "", "project is required"),
        ]
    );
    assert_eq!(
        e.message.as_deref(),
        Some("You must specify a summary of the issue.")
    );
    assert_eq!(e.code, None);

    let body = r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#;
    let e = dec(404, &[], body);
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        (
            "errors",
            Some("Issue does not exist or you do not have permission to see it.")
        )
    );
    assert!(e.violations.is_empty());
    assert_eq!(e.kind, Kind::NotFound);
    // The messages past the first are kept as a detail.
    let body = r#"{"errorMessages":["","first","second"],"errors":{"summary":"required"}}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.message.as_deref(), Some("first"));
    assert_eq!(
        e.details["errorMessages"],
        serde_json::json!(["", "first", "second"])
    );
    assert_eq!(e.violations.len(), 1);
}

/// JavaScript cutting a message in the middle of an emoji leaves half of
/// it, a lone surrogate escape no Rust string holds: the message is kept
/// with U+FFFD in its place, as a message that is not UTF-8 is, even where
/// a field error's message would otherwise stand in for it. A code holding
/// one is still no code.
#[test]
fn a_message_cut_in_an_emoji_keeps_its_text() {
    let bodies = [
        (
            r#"{"error":{"code":"RATE_LIMIT_ERROR","message":"Slow down \ud83d","details":{}},"request_id":"r1"}"#,
            "coded",
            "Slow down \u{fffd}",
        ),
        (
            r#"{"message":"ok \ud83d\udc4d cut \udc4d","code":"E1"}"#,
            "message",
            "ok \u{1f44d} cut \u{fffd}",
        ),
        (
            r#"{"status":"error","error":{"code":403,"message":"\ud83dcut","details":null}}"#,
            "status-code",
            "\u{fffd}cut",
        ),
        (
            r#"[{"message":"cut \ud83d","errorCode":"INVALID_FIELD","fields":["x"]}]"#,
            "errors",
            "cut \u{fffd}",
        ),
        (
            r#"{"message":"cut \ud83d","errors":{"email":["is invalid"]}}"#,
            "errors",
            "cut \u{fffd}",
        ),
        (r#""cut \ud83d""#, "json", "cut \u{fffd}"),
    ];
    for (body, dialect, message) in bodies {
        let e = dec(403, &[], body);
        assert_eq!(
            (e.dialect, e.message.as_deref()),
            (dialect, Some(message)),
            "{body}"
        );
    }
    let e = dec(429, &[], bodies[0].0);
    assert_eq!(e.code.as_deref(), Some("RATE_LIMIT_ERROR"));
    assert_eq!(e.request_id.as_deref(), Some("r1"));
    let e = dec(
        400,
        &[],
        r#"{"message":"ok \ud83d\udc4d cut \udc4d","code":"E1"}"#,
    );
    assert_eq!(e.code.as_deref(), Some("E1"));
    // Only the message: a code with a lone surrogate stays unread.
    let e = dec(
        400,
        &[],
        r#"{"error":{"code":"BAD\ud800","message":"m \ud800","details":{"d":"\ud800"}}}"#,
    );
    assert_eq!((e.code, e.message.as_deref()), (None, Some("m \u{fffd}")));
    assert!(e.details.is_empty(), "{:?}", e.details);
}

#[test]
fn graphql_errors_keep_the_type_github_writes_as_their_code() {
    // GitHub's GraphQL API names each error by its `type`; a rate limit's
    // 403 must read as one even without the rate-limit headers.
    let body = r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1."}]}"#;
    let e = dec(403, &[], body);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("errors", Some("RATE_LIMITED"))
    );
    assert_eq!(e.kind, Kind::RateLimited);
    assert!(e.retryable);
    let body = r#"{"data":{"repository":null},"errors":[{"type":"NOT_FOUND","path":["repository"],"locations":[{"line":2,"column":3}],"message":"Could not resolve to a Repository with the name 'o/x'."}]}"#;
    let e = dec(404, &[], body);
    assert_eq!(e.code.as_deref(), Some("NOT_FOUND"));
    // A `code` or an `extensions.code` still wins over the `type`.
    let body = r#"{"errors":[{"type":"T","extensions":{"code":"FORBIDDEN"},"message":"no"}]}"#;
    assert_eq!(dec(403, &[], body).code.as_deref(), Some("FORBIDDEN"));
    let body = r#"{"errors":[{"type":"T","code":"C","message":"no"}]}"#;
    assert_eq!(dec(400, &[], body).code.as_deref(), Some("C"));
    // A `type` that is a URL names no code.
    let body = r#"{"errors":[{"type":"https://api.example.com/problems/x","message":"no"}]}"#;
    assert_eq!(dec(400, &[], body).code, None);
}

#[test]
fn a_problem_code_that_is_a_number_or_blank_is_not_lost() {
    // An integer `code` of the API's own is its code; one repeating the
    // status says nothing more, as in other shapes.
    let body = r#"{"type":"https://api.example.com/probs/out-of-stock","title":"Out of stock","status":409,"detail":"Item 7 is out of stock.","code":40901}"#;
    let e = dec(409, &[], body);
    assert_eq!((e.dialect, e.code.as_deref()), ("problem", Some("40901")));
    let body = r#"{"type":"about:blank","title":"Not Found","status":404,"code":404}"#;
    assert_eq!(dec(404, &[], body).code, None);
    // A blank `code` gives way to the `type`'s fragment.
    let body = r#"{"type":"https://errors.example.com/#not_found","title":"Not found","status":404,"code":""}"#;
    assert_eq!(dec(404, &[], body).code.as_deref(), Some("not_found"));
}

#[test]
fn integer_codes_of_error_items_are_kept() {
    // Cloudflare's API v4 numbers its errors.
    let body = r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
    let e = dec(403, &[("cf-ray", "8a1b-LHR")], body);
    assert_eq!((e.dialect, e.code.as_deref()), ("errors", Some("10000")));
    assert_eq!(e.message.as_deref(), Some("Authentication error"));
    let body = r#"{"errors":[{"message":"Too many","extensions":{"code":4290}}]}"#;
    assert_eq!(dec(429, &[], body).code.as_deref(), Some("4290"));
    // A field's violation keeps its number too.
    let body = r#"{"errors":[{"field":"zone","code":1049,"message":"not a valid zone"}]}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.violations[0].code, "1049");
    // A code that only repeats the status is no code, as in other shapes.
    let body = r#"{"errors":[{"code":404,"message":"Not found"}]}"#;
    assert_eq!(dec(404, &[], body).code, None);
}

#[test]
fn a_numbered_error_with_a_type_keeps_the_type_as_its_code() {
    // Facebook's Graph API numbers its errors and names them by `type`:
    // neither is an HTTP status (`190` is none to take for one).
    let body = r#"{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC1"}}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.code.as_deref(), Some("OAuthException"));
    assert_eq!(
        e.message.as_deref(),
        Some("Error validating access token: Session has expired.")
    );
    assert_eq!(e.details["error_subcode"], 463);
    assert_eq!(dec(0, &[], body).status, 0);
    // Seed 000's and google's numbered errors are still theirs.
    let e = dec(403, &[], include_str!("golden/000-insufficient-scope.json"));
    assert_eq!(e.dialect, "status-code");
}

#[test]
fn an_ec2_error_keeps_its_request_id() {
    // EC2's query API spells it `RequestID`, where S3 and STS write `RequestId`.
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"#;
    let e = dec(503, &[("content-type", "text/xml;charset=UTF-8")], body);
    assert_eq!(e.dialect, "xml");
    assert_eq!(e.code.as_deref(), Some("RequestLimitExceeded"));
    assert_eq!(
        e.request_id.as_deref(),
        Some("ea966190-f9aa-478e-9ede-example")
    );
    assert_eq!(e.kind, Kind::RateLimited);
}

#[test]
fn a_problems_errors_written_as_strings_are_not_lost() {
    let body = r#"{"type":"https://api.example.com/probs/invalid","title":"Invalid request","status":400,"errors":["Name is required.","Age must be positive."]}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.dialect, "problem");
    let messages: Vec<_> = e.violations.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(messages, ["Name is required.", "Age must be positive."]);
    assert!(e.violations.iter().all(|v| v.field.is_empty()));
}

/// PayPal's REST APIs name the error in `name`, correlate it by
/// `debug_id` and list what is wrong in `details`: each item's `issue` is
/// its code, its `field` a JSON Pointer in the body (a name elsewhere), as
/// the API reference's error schema and its validation example have them.
#[test]
fn paypal_errors_keep_their_name_debug_id_and_details() {
    let body = r#"{"name":"INVALID_REQUEST","message":"Request is not well-formed, syntactically incorrect, or violates schema.","debug_id":"b1d1f06c7246c","details":[{"field":"/purchase_units/0/amount","location":"body","issue":"MISSING_REQUIRED_PARAMETER","description":"A required field / parameter is missing."},{"field":"page_size","value":"0","location":"query","issue":"INVALID_PARAMETER_VALUE","description":"The value of a field is invalid."}],"links":[{"href":"https://developer.paypal.com/docs/api/v2/checkout/orders#error-MISSING_REQUIRED_PARAMETER","rel":"information_link","encType":"application/json"}]}"#;
    let e = dec(400, &[], body);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("paypal", Some("INVALID_REQUEST"))
    );
    assert_eq!(
        e.message.as_deref(),
        Some("Request is not well-formed, syntactically incorrect, or violates schema.")
    );
    assert_eq!(e.request_id.as_deref(), Some("b1d1f06c7246c"));
    assert_eq!(
        e.violations,
        [
            tollgate::Violation::new(
                "purchase_units[0].amount",
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing."
            ),
            tollgate::Violation::new(
                "page_size",
                "INVALID_PARAMETER_VALUE",
                "The value of a field is invalid."
            ),
        ]
    );
    assert_eq!(e.details["links"][0]["rel"], "information_link");
    assert!(!e.details.contains_key("details"), "{:?}", e.details);
    assert_eq!(e.kind, Kind::InvalidArgument);

    // Payments v1's `information_link`, and no details.
    let v1 = r#"{"name":"INVALID_RESOURCE_ID","message":"The requested resource ID was not found","information_link":"https://developer.paypal.com/webapps/developer/docs/api/#INVALID_RESOURCE_ID","debug_id":"e56bae98dcc26"}"#;
    let e = dec(404, &[], v1);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("paypal", Some("INVALID_RESOURCE_ID"))
    );
    assert_eq!(e.request_id.as_deref(), Some("e56bae98dcc26"));
    assert_eq!(
        e.details["information_link"],
        "https://developer.paypal.com/webapps/developer/docs/api/#INVALID_RESOURCE_ID"
    );
    assert!(e.violations.is_empty());
    assert_eq!(e.kind, Kind::NotFound);

    // A business rule's issue names no field: it is about the whole request.
    let declined = r#"{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"INSTRUMENT_DECLINED","description":"The instrument presented was either declined by the processor or bank, or it can't be used for this payment."}],"message":"The requested action could not be performed, semantically incorrect, or failed business validation.","debug_id":"90957fca61718"}"#;
    let e = dec(422, &[], declined);
    assert_eq!(e.code.as_deref(), Some("UNPROCESSABLE_ENTITY"));
    assert_eq!(
        e.violations,
        [tollgate::Violation::new(
            "",
            "INSTRUMENT_DECLINED",
            "The instrument presented was either declined by the processor or bank, or it can't be used for this payment."
        )]
    );
    // Details that are not a list of items are kept as they are.
    let odd =
        r#"{"name":"INTERNAL_SERVER_ERROR","message":"m","debug_id":"d1","details":"see logs"}"#;
    let e = dec(500, &[], odd);
    assert_eq!(e.details["details"], "see logs");
    assert!(e.retryable);
}

/// Heroku's Platform API names the error in `id`, beside the message and a
/// `url` to read about it; its request id comes in `Request-Id`.
#[test]
fn heroku_errors_name_their_code_in_id() {
    let body = r#"{"id":"rate_limit","message":"Your account reached the API rate limit","url":"https://devcenter.heroku.com/articles/platform-api-reference#rate-limits"}"#;
    let e = dec(
        429,
        &[("Request-Id", "01234567-89ab-cdef-0123-456789abcdef")],
        body,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("heroku", Some("rate_limit"))
    );
    assert_eq!(
        e.message.as_deref(),
        Some("Your account reached the API rate limit")
    );
    assert_eq!(
        e.request_id.as_deref(),
        Some("01234567-89ab-cdef-0123-456789abcdef")
    );
    assert_eq!(
        e.details["url"],
        "https://devcenter.heroku.com/articles/platform-api-reference#rate-limits"
    );
    assert_eq!(e.kind, Kind::RateLimited);
    let e = dec(
        404,
        &[],
        r#"{"id":"not_found","message":"Couldn't find that app.","url":"https://devcenter.heroku.com/articles/platform-api-reference#clients"}"#,
    );
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("heroku", Some("not_found"))
    );
    assert_eq!(e.kind, Kind::NotFound);
    // Elsewhere an `id` beside a message may be a resource's: no code.
    for body in [
        r#"{"id":"6666","message":"The following id is not valid: '6666'"}"#,
        r#"{"id":"app_1","message":"Not found"}"#,
        r#"{"id":42,"message":"Not found","url":"https://example.com/x"}"#,
    ] {
        let e = dec(404, &[], body);
        assert_eq!((e.dialect, e.code), ("message", None), "{body}");
    }
}

#[test]
fn a_numbered_code_beside_a_list_of_errors_is_kept() {
    let body = r#"{"code":40001,"message":"Validation failed","errors":[{"field":"email","code":"invalid","message":"is not an email"}]}"#;
    let e = dec(400, &[], body);
    assert_eq!((e.dialect, e.code.as_deref()), ("errors", Some("40001")));
    assert_eq!(
        e.violations,
        [tollgate::Violation::new(
            "email",
            "invalid",
            "is not an email"
        )]
    );
    // One that only repeats the status gives way to the first item's, as a
    // blank one does.
    for top in ["400", r#""""#] {
        let body =
            format!(r#"{{"code":{top},"message":"m","errors":[{{"message":"bad","code":"E2"}}]}}"#);
        assert_eq!(dec(400, &[], &body).code.as_deref(), Some("E2"), "{body}");
    }
    let body = r#"{"code":404,"errors":[{"message":"Not found"}]}"#;
    assert_eq!(dec(404, &[], body).code, None);
}

#[test]
fn entities_in_an_html_title_are_decoded_once() {
    for (title, text) in [
        (
            "Tom &amp; Jerry&#39;s &lt;API&gt; &quot;v2&quot;",
            "Tom & Jerry's <API> \"v2\"",
        ),
        ("It&#x27;s down &#X2014; sorry", "It's down \u{2014} sorry"),
        ("&amp;lt; is written &lt;", "&lt; is written <"),
        // What is no reference, or none to a character, stays as written.
        (
            "a & b &bogus; &#xZZ; &#0; &#xD800; &#1114112; &#39",
            "a & b &bogus; &#xZZ; &#0; &#xD800; &#1114112; &#39",
        ),
    ] {
        let page = format!("<html><head><title>{title}</title></head></html>");
        let e = dec(503, &[("content-type", "text/html")], &page);
        assert_eq!(
            (e.dialect, e.message.as_deref()),
            ("html", Some(text)),
            "{title}"
        );
    }
    // In XML bodies character references are read as the predefined
    // entities are.
    let xml = "<Error><Code>InvalidArgument</Code><Message>Can&#39;t parse &#x27;x&#x27; &amp;amp;</Message></Error>";
    let e = dec(400, &[], xml);
    assert_eq!(e.message.as_deref(), Some("Can't parse 'x' &amp;"));
}

/// `Retry-After` is HTTP's own field for when to come back (RFC 9110,
/// 10.2.3), and a response's header fields decide over its body: a body's
/// hint (which only some APIs send) counts where they say nothing, so that
/// one absurd value in the body does not end the retries a sane header
/// asked for.
#[test]
fn the_headers_hint_decides_over_the_bodys() {
    let body = |secs: &str| {
        format!(
            r#"{{"error":{{"code":429,"message":"slow down","retry_after":{secs}}},"retry_after":5}}"#
        )
    };
    for secs in ["1e12", "60", "1"] {
        let e = dec(429, &[("Retry-After", "30")], &body(secs));
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)), "{secs}");
        let e = dec(429, &[("retry-after-ms", "1500")], &body(secs));
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)), "{secs}");
    }
    let google = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e30s"}]}}"#;
    let e = dec(429, &[("Retry-After", "30")], google);
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    // Where the headers say nothing (or nothing that reads as a wait), the
    // body's hints count: the longest of them.
    for headers in [&[][..], &[("Retry-After", "soon")][..]] {
        let e = dec(429, headers, &body("60"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
        let e = dec(429, headers, &body("1"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(5)));
    }
    // And before a spent quota's refill, as `Retry-After` is.
    let quota = [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "40")];
    let e = dec(429, &quota, &body("10"));
    assert_eq!(e.retry_after, Some(Duration::from_secs(10)));
}

/// A reset of 10⁹ or more is a Unix time (GitHub's), one below it seconds to
/// wait: the boundary itself is the year 2001, long past, so no wait at all.
#[test]
fn a_quota_reset_from_a_billion_on_is_a_unix_time() {
    let spent = |reset: &str| {
        let headers = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)];
        dec(429, &headers, "").retry_after
    };
    assert_eq!(spent("1000000000"), Some(Duration::ZERO));
    assert_eq!(spent("999999999"), Some(Duration::from_secs(999_999_999)));
    // A Unix time in the future: the time until it.
    let in_a_minute = now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    assert_eq!(
        spent(&in_a_minute.to_string()),
        Some(Duration::from_secs(60))
    );
}

/// An OAuth resource server (Spring Security's, ASP.NET's JwtBearer) says
/// what is wrong with a token in its `WWW-Authenticate` challenge, over an
/// empty body (RFC 6750, 3): the challenge fills in what the body left out.
#[test]
fn a_bearer_challenge_names_what_the_body_leaves_out() {
    let expired = dec(
        401,
        &[(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="The token expired at '07/24/2025 11:29:00'""#,
        )],
        "",
    );
    assert_eq!(expired.code.as_deref(), Some("invalid_token"));
    assert_eq!(
        expired.message.as_deref(),
        Some("The token expired at '07/24/2025 11:29:00'")
    );
    assert_eq!(expired.kind, Kind::Unauthenticated);
    assert!(!expired.retryable);
    assert_eq!(expired.dialect, "empty");

    let scope = dec(
        403,
        &[(
            "www-authenticate",
            r#"Bearer realm="api", error="insufficient_scope", scope="scans:write""#,
        )],
        "",
    );
    assert_eq!(scope.code.as_deref(), Some("insufficient_scope"));
    assert_eq!(scope.message, None);
    assert_eq!(scope.details["scope"], "scans:write");
    assert_eq!(scope.kind, Kind::PermissionDenied);

    // What the body says comes first; the challenge fills in the rest.
    let message_only = dec(
        401,
        &[
            ("content-type", "application/json"),
            (
                "www-authenticate",
                r#"Bearer error="invalid_token", error_description="expired""#,
            ),
        ],
        r#"{"message":"Unauthorized"}"#,
    );
    assert_eq!(message_only.code.as_deref(), Some("invalid_token"));
    assert_eq!(message_only.message.as_deref(), Some("Unauthorized"));
    assert_eq!(message_only.details["error_description"], "expired");
    let seed_004 = dec(
        401,
        &[(
            "www-authenticate",
            r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#,
        )],
        r#"{"data":null,"success":false,"message":"Not authenticated","errors":[{"invalid_key":["Not authenticated"]}]}"#,
    );
    assert_eq!(seed_004.code.as_deref(), Some("invalid_key"));
    assert_eq!(seed_004.message.as_deref(), Some("Not authenticated"));
    assert_eq!(
        seed_004.details["error_description"],
        "The API key is not valid"
    );
    // A description the body's message repeats is not repeated.
    let same = dec(
        401,
        &[(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="Unauthorized""#,
        )],
        r#"{"message":"Unauthorized"}"#,
    );
    assert!(!same.details.contains_key("error_description"));

    // A challenge stating no error, or on another status, says nothing.
    let bare = dec(401, &[("www-authenticate", r#"Bearer realm="api""#)], "");
    assert_eq!((bare.code, bare.message), (None, None));
    let elsewhere = dec(
        500,
        &[("www-authenticate", r#"Bearer error="invalid_token""#)],
        "",
    );
    assert_eq!(elsewhere.code, None);
}

/// Spring's, NestJS's and Twilio's bodies state their status: decoded
/// without one (a body alone), that status stands in for it, and the body
/// reads as it does with it (Spring's `error` is the reason phrase, no code).
#[test]
fn a_body_decoded_without_a_status_reads_as_with_the_status_it_states() {
    let spring = r#"{"timestamp":"2025-07-24T11:30:12.000+00:00","status":400,"error":"Bad Request","message":"Validation failed","path":"/api/x"}"#;
    let nest = r#"{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}"#;
    let twilio = r#"{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#;
    for (body, status) in [(spring, 400), (nest, 404), (twilio, 404)] {
        assert_eq!(dec(0, &[], body), dec(status, &[], body), "{body}");
    }
    let e = dec(0, &[], spring);
    assert_eq!((e.status, e.dialect, e.code), (400, "flat", None));
    assert_eq!(e.kind, Kind::InvalidArgument);
    assert_eq!(e.message.as_deref(), Some("Validation failed"));
    let e = dec(0, &[], nest);
    assert_eq!((e.status, e.code, e.kind), (404, None, Kind::NotFound));
    let e = dec(0, &[], twilio);
    assert_eq!(
        (e.status, e.code.as_deref(), e.kind),
        (404, Some("20404"), Kind::NotFound)
    );
    // The response's status, when known, decides.
    assert_eq!(dec(409, &[], spring).status, 409);
    // GitHub's (and JSON:API's) is a string of its digits.
    let github = r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}"#;
    let e = dec(0, &[], github);
    assert_eq!((e.status, e.kind), (404, Kind::NotFound));
    assert_eq!(dec(0, &[], github), dec(404, &[], github));
    // What is no HTTP status stands in for none.
    for status in [
        "0", "42", "600", "65936", "\"4000\"", "\"40\"", "\"4O0\"", "\" 400\"",
    ] {
        let body = format!(r#"{{"status":{status},"error":"Bad Request","message":"m"}}"#);
        let e = dec(0, &[], &body);
        assert_eq!(
            (e.status, e.code.as_deref()),
            (0, Some("Bad Request")),
            "{body}"
        );
    }
}

/// EC2's query API nests its error in `<Response><Errors>` and writes
/// `RequestID`; it comes without a prolog or an XML content type too.
#[test]
fn ec2_xml_errors_are_read_without_a_content_type() {
    let ec2 = "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>req-1</RequestID></Response>";
    let e = dec(401, &[], ec2);
    assert_eq!((e.dialect, e.code.as_deref()), ("xml", Some("AuthFailure")));
    assert_eq!(
        e.message.as_deref(),
        Some("AWS was not able to validate the provided access credentials")
    );
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    assert_eq!(e.kind, Kind::Unauthenticated);
    // Labelled HTML, it is read as a page, as `<Error>` is.
    let e = dec(401, &[("content-type", "text/html")], ec2);
    assert_eq!(e.dialect, "html");
    // Any other root is XML by its media type, and a page by its own, even
    // one whose media type holds `xml` too.
    let tagged = r#"<Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>m</Message></Error></Errors><RequestID>r-1</RequestID></Response>"#;
    let e = dec(400, &[("content-type", "text/xml")], tagged);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("xml", Some("InvalidInstanceID.NotFound"))
    );
    let page = "<html><head><title>Oops</title></head><body></body></html>";
    let e = dec(502, &[("content-type", "application/xhtml+xml")], page);
    assert_eq!((e.dialect, e.message.as_deref()), ("html", Some("Oops")));
}

/// A CDATA section's text is its content as written: no references are
/// decoded in it, and the tags in it are text.
#[test]
fn xml_cdata_sections_are_read_as_their_content() {
    let xml = "<Error><Code><![CDATA[Weird]]></Code><Message><![CDATA[x < y]]></Message></Error>";
    let e = dec(400, &[], xml);
    assert_eq!(
        (e.dialect, e.code.as_deref(), e.message.as_deref()),
        ("xml", Some("Weird"), Some("x < y"))
    );
    // Text around sections is decoded; a section's `&amp;` and closing tag
    // are its text, and an element named in one is not found there.
    let xml = "<Error><Message>a &amp; <![CDATA[b &amp; </Message><Code>No</Code>]]> c</Message><Code> <![CDATA[]]>Real </Code><RequestId><![CDATA[ ]]></RequestId></Error>";
    let e = dec(400, &[("x-request-id", "r1")], xml);
    assert_eq!(
        e.message.as_deref(),
        Some("a & b &amp; </Message><Code>No</Code> c")
    );
    assert_eq!(e.code.as_deref(), Some("Real"));
    // A blank section is no id: the header's stands.
    assert_eq!(e.request_id.as_deref(), Some("r1"));
    // A section ending in characters of several bytes is read past whole.
    let e = dec(
        400,
        &[],
        "<Error><Code>C</Code><Message><![CDATA[héé]]></Message></Error>",
    );
    assert_eq!(e.message.as_deref(), Some("héé"));
    // A section never closed hides what follows it.
    let e = dec(
        400,
        &[],
        "<Error><Code>C</Code><Message><![CDATA[x</Message></Error>",
    );
    assert_eq!((e.code.as_deref(), e.message), (Some("C"), None));
}

/// A Stripe error whose `param` is empty names no field: no violation, the
/// message stays the error's.
#[test]
fn an_empty_stripe_param_is_no_violation() {
    for param in ["", " "] {
        let body = format!(
            r#"{{"error":{{"type":"invalid_request_error","message":"Invalid request","param":"{param}"}}}}"#
        );
        let e = dec(400, &[], &body);
        assert_eq!(e.dialect, "stripe");
        assert!(e.violations.is_empty(), "{:?}", e.violations);
        assert_eq!(e.message.as_deref(), Some("Invalid request"));
        assert!(e.details.is_empty(), "{:?}", e.details);
    }
}

/// Kubernetes' `Status` is named by its `reason`; ASP.NET Core's problems
/// keep their `traceId` among the details, and as the request id only where
/// no request-id header names one (ASP.NET Core sends none by default).
#[test]
fn a_kubernetes_status_reason_is_read_and_an_aspnet_trace_id_kept() {
    let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web\" already exists","reason":"AlreadyExists","details":{"name":"web","kind":"pods"},"code":409}"#;
    for given in [409, 0] {
        let e = dec(given, &[], status);
        assert_eq!(e.code.as_deref(), Some("AlreadyExists"), "{given}");
        assert_eq!((e.status, e.kind), (409, Kind::Conflict), "{given}");
        assert_eq!(e.message.as_deref(), Some("pods \"web\" already exists"));
    }
    let aspnet = r#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"Name":["The Name field is required."]},"traceId":"00-84c1fd4063c38d9f3900d06e56542d48-85d1d4-00"}"#;
    let e = dec(400, &[("x-request-id", "0HMVD8Q3K2:00000001")], aspnet);
    assert_eq!(e.request_id.as_deref(), Some("0HMVD8Q3K2:00000001"));
    let alone = dec(400, &[], aspnet);
    assert_eq!(
        alone.request_id.as_deref(),
        Some("00-84c1fd4063c38d9f3900d06e56542d48-85d1d4-00")
    );
    assert_eq!(
        e.details["traceId"],
        "00-84c1fd4063c38d9f3900d06e56542d48-85d1d4-00"
    );
    assert_eq!(e.violations.len(), 1);
}

/// Bytes that are no text (an image, random bytes) give no message; a text
/// in Latin-1 that does not say so still does.
#[test]
fn a_binary_body_has_no_message() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0";
    let mut noise = Vec::new();
    let mut x: u32 = 7;
    for _ in 0..3000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        noise.push((x >> 16) as u8 | 1);
    }
    for body in [&png[..], &noise] {
        let e = tollgate::decode(500, &HeaderMap::new(), body, now());
        assert_eq!((e.dialect, e.message), ("binary", None));
        assert_eq!(e.kind, Kind::Internal);
    }
    let latin1 = b"Service ferm\xe9 pour maintenance, r\xe9essayez plus tard";
    let e = tollgate::decode(503, &HeaderMap::new(), latin1, now());
    assert_eq!(e.dialect, "text");
    assert!(e.message.unwrap().starts_with("Service ferm"));
    // A type that names bytes (protobuf's `google.rpc.Status`) is binary,
    // however short.
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/x-protobuf".parse().unwrap());
    let status = b"\x08\x07\x12\x1cPermission denied on resource";
    let e = tollgate::decode(403, &headers, status, now());
    assert_eq!((e.dialect, e.message), ("binary", None));
    // Text with a few controls (a terminal's colours, a bell, page breaks)
    // is still text.
    for text in [
        &b"\x1b[31mdenied\x1b[0m"[..],
        b"Error\x07",
        b"Service down\x0c\x0c\x0cmaintenance",
    ] {
        let e = tollgate::decode(503, &HeaderMap::new(), text, now());
        assert_eq!(e.dialect, "text", "{text:?}");
        assert!(e.message.is_some(), "{text:?}");
    }
}

/// Shapes of APIs a client meets beside the well-known ones: Shopify's and
/// Rails' `errors` map a field to one string, Square's JSON:API-like items
/// name it in `field`, Okta and Auth0 code their errors in `errorCode`,
/// Zendesk words them in `description`.
#[test]
fn errors_of_shopify_square_okta_auth0_and_zendesk() {
    let e = dec(
        400,
        &[],
        r#"{"errors":{"order":"Required parameter missing or invalid"}}"#,
    );
    assert_eq!(
        e.message.as_deref(),
        Some("Required parameter missing or invalid")
    );
    assert_eq!(e.violations.len(), 1, "{:?}", e.violations);
    assert_eq!(e.violations[0].field, "order");
    // One error's parts are still no field map, in any case, nor are words
    // without a space (a code, an id, a time).
    for one_error in [
        r#"{"errors":{"code":"E1","detail":"d"}}"#,
        r#"{"errors":{"Code":"InternalError","Message":"Something broke"}}"#,
        r#"{"errors":{"error_code":"AUTH_001","errorDescription":"Token expired"}}"#,
        r#"{"errors":{"timestamp":"2024-01-01T00:00:00Z","path":"/x","reason":"boom"}}"#,
        r#"{"errors":{"field":"email","issue":"is invalid"}}"#,
        r#"{"message":"Bad request","errors":{"reason":"missing token"}}"#,
    ] {
        let e = dec(400, &[], one_error);
        assert!(e.violations.is_empty(), "{one_error}: {:?}", e.violations);
    }
    // Nor does such a map hide the shape it sits in.
    let e = dec(
        422,
        &[],
        r#"{"detail":"Validation failed","errors":{"email":"is invalid"}}"#,
    );
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("detail", Some("Validation failed"))
    );
    // Beside lists of messages, the `detail` is the message too.
    let e = dec(
        422,
        &[],
        r#"{"detail":"Validation failed","errors":{"email":["is invalid"]}}"#,
    );
    assert_eq!(e.message.as_deref(), Some("Validation failed"));
    assert_eq!(e.violations.len(), 1, "{:?}", e.violations);
    // A blank one is none: the first violation's is the message.
    let e = dec(
        422,
        &[],
        r#"{"detail":" ","errors":{"email":["is invalid"]}}"#,
    );
    assert_eq!(e.message.as_deref(), Some("is invalid"));
    let e = dec(
        400,
        &[],
        r#"{"__type":"ValidationException","message":"2 validation errors","errors":{"name":"must not be null"}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
    let e = dec(
        400,
        &[],
        r#"{"name":"VALIDATION_ERROR","message":"Invalid request","debug_id":"dbg9","errors":{"amount":"is required"}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(e.request_id.as_deref(), Some("dbg9"));

    let square = r#"{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"MISSING_REQUIRED_PARAMETER","detail":"Missing required parameter.","field":"amount_money"}]}"#;
    let e = dec(400, &[], square);
    assert_eq!(e.code.as_deref(), Some("MISSING_REQUIRED_PARAMETER"));
    assert_eq!(e.message.as_deref(), Some("Missing required parameter."));
    assert_eq!(e.violations.len(), 1, "{:?}", e.violations);
    assert_eq!(e.violations[0].field, "amount_money");
    assert_eq!(e.violations[0].code, "MISSING_REQUIRED_PARAMETER");
    // An empty `field` names none.
    let e = dec(
        429,
        &[],
        r#"{"errors":[{"category":"RATE_LIMIT_ERROR","code":"RATE_LIMITED","detail":"Too many","field":""}]}"#,
    );
    assert!(e.violations.is_empty(), "{:?}", e.violations);

    let okta = r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oaeXYZ123","errorCauses":[]}"#;
    let e = dec(401, &[], okta);
    assert_eq!(e.code.as_deref(), Some("E0000011"));
    assert_eq!(e.message.as_deref(), Some("Invalid token provided"));
    assert_eq!(e.request_id.as_deref(), Some("oaeXYZ123"));

    let auth0 = r#"{"statusCode":400,"error":"Bad Request","message":"Payload validation error: 'Missing required property: connection'.","errorCode":"invalid_body"}"#;
    let e = dec(400, &[], auth0);
    assert_eq!(e.code.as_deref(), Some("invalid_body"));
    assert!(e.message.unwrap().starts_with("Payload validation error"));
    // The status again is no code.
    let e = dec(
        404,
        &[],
        r#"{"statusCode":404,"error":"Not Found","message":"x","errorCode":"404"}"#,
    );
    assert_eq!(e.code, None);

    let zendesk = r#"{"error":"RecordInvalid","description":"Record validation errors"}"#;
    let e = dec(422, &[("X-Zendesk-Request-Id", "zd-1")], zendesk);
    assert_eq!(e.code.as_deref(), Some("RecordInvalid"));
    assert_eq!(e.message.as_deref(), Some("Record validation errors"));
    assert_eq!(e.request_id.as_deref(), Some("zd-1"));

    // Azure OpenAI's and Kubernetes' request ids.
    for name in ["apim-request-id", "Audit-Id"] {
        let e = dec(500, &[(name, "r-9")], "");
        assert_eq!(e.request_id.as_deref(), Some("r-9"), "{name}");
    }
}

/// A Kubernetes `Status` asks for its wait in `details.retryAfterSeconds`,
/// where no `Retry-After` is sent; one that is sent decides.
#[test]
fn a_kubernetes_status_asks_for_its_wait_in_its_details() {
    let status = |code: u16, secs: u64| {
        format!(
            r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":"TooManyRequests","details":{{"retryAfterSeconds":{secs}}},"code":{code}}}"#
        )
    };
    let e = dec(429, &[], &status(429, 2));
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(e.kind, Kind::RateLimited);
    let e = dec(500, &[], &status(500, 7));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    let e = dec(429, &[("Retry-After", "3")], &status(429, 9));
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
}

/// GitHub's secondary rate limit says so only in its message when neither
/// `Retry-After` nor a spent quota is sent: a rate limit, retried after the
/// minute GitHub asks for. Another 403 is a refusal.
#[test]
fn a_github_secondary_rate_limit_waits_a_minute() {
    let body = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#;
    let e = dec(403, &[("x-ratelimit-remaining", "4990")], body);
    assert_eq!(e.kind, Kind::RateLimited);
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    let e = dec(429, &[], body);
    assert_eq!(
        (e.kind, e.retry_after),
        (Kind::RateLimited, Some(Duration::from_secs(60)))
    );
    // Its `Retry-After`, when sent, is the wait.
    let e = dec(403, &[("Retry-After", "5")], body);
    assert_eq!(e.retry_after, Some(Duration::from_secs(5)));
    // A code of the catalog that says more decides: no wait is made up.
    let coded = r#"{"error":{"code":"insufficient_scope","message":"You have exceeded a secondary rate limit"}}"#;
    let e = dec(403, &[], coded);
    assert_eq!((e.retry_after, e.retryable), (None, false));
    let refused = r#"{"message":"Resource not accessible by integration","status":"403"}"#;
    let e = dec(403, &[], refused);
    assert_eq!(e.kind, Kind::PermissionDenied);
    assert!(!e.retryable);
}

/// The fields of `e`'s violations: field, code and message each.
fn violations(e: &Decoded) -> Vec<(&str, &str, &str)> {
    e.violations
        .iter()
        .map(|v| (&*v.field, &*v.code, &*v.message))
        .collect()
}

/// Django REST Framework nests a serializer's errors as its fields nest,
/// and a list's by item (an item without errors empty; a `ListField`'s by
/// index as a key): each field is named as a client writes it.
#[test]
fn django_rest_frameworks_nested_fields_are_named_by_their_path() {
    let body = r#"{"name":["This field is required."],"address":{"city":["This field may not be blank."],"geo":{"lat":["A valid number is required."]}},"items":[{},{"sku":["Ensure this field has no more than 12 characters."]}],"tags":{"0":["Not a valid string."]}}"#;
    let e = dec(400, &[], body);
    assert_eq!(
        violations(&e),
        [
            ("name", "", "This field is required."),
            ("address.city", "", "This field may not be blank."),
            ("address.geo.lat", "", "A valid number is required."),
            (
                "items[1].sku",
                "",
                "Ensure this field has no more than 12 characters."
            ),
            ("tags[0]", "", "Not a valid string."),
        ]
    );
    assert_eq!(e.message.as_deref(), Some("This field is required."));
    assert_eq!(e.kind, Kind::InvalidArgument);
    // Nested under `errors`, beside a message.
    let laravel = r#"{"message":"The given data was invalid.","errors":{"user":{"email":["The email must be a valid email address."]}}}"#;
    let e = dec(422, &[], laravel);
    assert_eq!(e.message.as_deref(), Some("The given data was invalid."));
    assert_eq!(
        violations(&e),
        [("user.email", "", "The email must be a valid email address.")]
    );
    // Eight levels are read; a nested object of anything but messages is
    // no field map, nor a list of empty items alone, nor one nested deeper.
    let deep = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":["Is too deep."]}}}}}}}}}"#;
    assert_eq!(
        violations(&dec(400, &[], deep)),
        [("a.b.c.d.e.f.g.h.i", "", "Is too deep.")]
    );
    for body in [
        r#"{"name":["x y"],"address":{"city":"Paris"}}"#,
        r#"{"items":[{},{}]}"#,
        r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":["too deep"]}}}}}}}}}}"#,
    ] {
        assert!(dec(400, &[], body).violations.is_empty(), "{body}");
    }
}

/// Nested, only messages that read as sentences are a field's: a list of
/// words there is more likely data, which a 400 may well carry; a whole
/// body's, only sentences with a full stop, as Django REST Framework
/// writes them (data has sentences too). A field map beside AWS's `__type`
/// or PayPal's parts is theirs, as a flat one is, and one naming a part of
/// one error (`code`, `message`) is no field map.
#[test]
fn nested_data_is_no_field_map() {
    for (status, body) in [
        (
            400,
            r#"{"item":{"tags":["back to school","free shipping"]}}"#,
        ),
        (
            400,
            r#"{"tags":["a","b"],"meta":{"notes":["call back tomorrow"]}}"#,
        ),
        (
            409,
            r#"{"errors":{"code":{"x":["a b"]},"message":["bad request body"]}}"#,
        ),
        (400, r#"{"data":{"tags":["a","b"]}}"#),
        (
            422,
            r#"{"scopes":{"read":["users","orders"],"write":["orders"]}}"#,
        ),
        (
            400,
            r#"{"links":{"self":["https://x"]},"included":[{},{"rel":["a"]}]}"#,
        ),
        (409, r#"{"errors":{"count":{"total":["3"]}}}"#),
        (400, r#"{"":{"":["empty keys here"]}}"#),
    ] {
        let e = dec(status, &[], body);
        assert!(e.violations.is_empty(), "{body}: {:?}", e.violations);
        assert_eq!(e.message, None, "{body}");
    }
    let aws = r#"{"errors":{"user":{"email":["is invalid"]}},"__type":"ValidationException"}"#;
    assert_eq!(
        dec(400, &[], aws).code.as_deref(),
        Some("ValidationException")
    );
    let paypal = r#"{"name":"VALIDATION","message":"Invalid","debug_id":"d1","errors":{"a":{"b":["is not valid"]}}}"#;
    let e = dec(400, &[], paypal);
    assert_eq!(
        (e.code.as_deref(), e.dialect),
        (Some("VALIDATION"), "paypal")
    );
    // A list past a thousand items is no field's list.
    let items = format!(
        r#"{{"items":[{}{{"sku":["is too long"]}}]}}"#,
        "{},".repeat(1000)
    );
    assert!(dec(400, &[], &items).violations.is_empty());
}

/// Zod's `format()`: each object's own errors under `_errors`, strings
/// (empty where it has none); those of the whole input are a violation of
/// no field.
#[test]
fn zods_own_errors_are_their_objects_violations() {
    let body = r#"{"message":"Validation failed","errors":{"_errors":["Unrecognized key(s) in object: 'foo'"],"name":{"_errors":["Required"]},"address":{"_errors":[],"city":{"_errors":["Expected string, received number"]}}}}"#;
    let e = dec(400, &[], body);
    assert_eq!(e.message.as_deref(), Some("Validation failed"));
    assert_eq!(
        violations(&e),
        [
            ("", "", "Unrecognized key(s) in object: 'foo'"),
            ("name", "", "Required"),
            ("address.city", "", "Expected string, received number"),
        ]
    );
}

/// Zod's `flatten()`: the whole input's errors in `formErrors`, violations
/// of no field, each field's in `fieldErrors`, one-word messages too; a
/// whole body or the `errors` of a `message` body.
#[test]
fn zods_flattened_errors_are_violations() {
    let flat = r#"{"formErrors":["Unrecognized key(s) in object: 'foo'"],"fieldErrors":{"name":["Required"],"age":["Expected number, received string","Too small"]}}"#;
    let e = dec(400, &[], flat);
    assert_eq!(e.dialect, "zod");
    assert_eq!(
        violations(&e),
        [
            ("", "", "Unrecognized key(s) in object: 'foo'"),
            ("name", "", "Required"),
            ("age", "", "Expected number, received string"),
            ("age", "", "Too small"),
        ]
    );
    assert_eq!(
        e.message.as_deref(),
        Some("Unrecognized key(s) in object: 'foo'")
    );
    assert_eq!(e.kind, Kind::InvalidArgument);
    let wrapped = r#"{"message":"Invalid input","errors":{"formErrors":[],"fieldErrors":{"email":["Invalid email"]}}}"#;
    let e = dec(422, &[], wrapped);
    assert_eq!(
        (e.dialect, e.message.as_deref()),
        ("zod", Some("Invalid input"))
    );
    assert_eq!(violations(&e), [("email", "", "Invalid email")]);
    // Spread beside a message, a code and details, it keeps them.
    let spread = r#"{"message":"Invalid input","code":"BAD_INPUT","formErrors":[" "],"fieldErrors":{"email":["Invalid email"]}}"#;
    let e = dec(400, &[], spread);
    assert_eq!(
        (e.dialect, e.code.as_deref(), e.message.as_deref()),
        ("zod", Some("BAD_INPUT"), Some("Invalid input"))
    );
    // Alone, the first message that is not blank is the message.
    let blank = r#"{"formErrors":[" "],"fieldErrors":{"email":["Invalid email"]}}"#;
    assert_eq!(
        dec(400, &[], blank).message.as_deref(),
        Some("Invalid email")
    );
    // Without a `message`, a JSON body's message (Okta's, Plaid's) stays.
    let okta = r#"{"errorCode":"E0000001","errorSummary":"Api validation failed","errorId":"oae123","formErrors":[],"fieldErrors":{"a":["Required"]}}"#;
    let e = dec(400, &[], okta);
    assert_eq!(
        (e.message.as_deref(), e.request_id.as_deref()),
        (Some("Api validation failed"), Some("oae123"))
    );
    assert_eq!(violations(&e), [("a", "", "Required")]);
    // The body's and its `errors`' both.
    let both = r#"{"formErrors":["top"],"fieldErrors":{"t":["Top"]},"errors":{"formErrors":[],"fieldErrors":{"e":["Inner"]}}}"#;
    assert_eq!(
        violations(&dec(400, &[], both)),
        [("", "", "top"), ("t", "", "Top"), ("e", "", "Inner")]
    );
    // Beside a nested errors map, which is told before it, it is that's.
    let nested = r#"{"errors":{"user":{"email":["is invalid"]}},"formErrors":[],"fieldErrors":{"email":["Invalid email"]}}"#;
    assert_eq!(
        violations(&dec(422, &[], nested)),
        [("user.email", "", "is invalid")]
    );
    // Beside the shapes told before it (AWS's, PayPal's), it is theirs.
    let aws = r#"{"formErrors":[],"fieldErrors":{"a":["x"]},"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}"#;
    let e = dec(400, &[], aws);
    assert_eq!(
        (e.dialect, e.code.as_deref()),
        ("aws", Some("ThrottlingException"))
    );
    // Nothing wrong, or anything but lists of messages (data, a nested
    // object, which a flattened body never holds), is not Zod's; nor are
    // lone members, or members of other types.
    for body in [
        r#"{"formErrors":[],"fieldErrors":{}}"#,
        r#"{"message":"Internal error","request_id":"r-1","formErrors":[],"fieldErrors":{}}"#,
        r#"{"formErrors":[],"fieldErrors":{"user":{"id":42,"name":"Alice","roles":["admin"]}}}"#,
        r#"{"formErrors":["Form invalid"],"fieldErrors":{"required":"This field is required"}}"#,
        r#"{"formErrors":[1,2],"fieldErrors":{"a":["b"]}}"#,
        r#"{"formErrors":"x","fieldErrors":{"a":["b"]}}"#,
        r#"{"fieldErrors":{"a":["b"]}}"#,
    ] {
        assert_ne!(dec(400, &[], body).dialect, "zod", "{body}");
    }
    let e = dec(
        400,
        &[],
        r#"{"message":"Internal error","request_id":"r-1","formErrors":[],"fieldErrors":{}}"#,
    );
    assert_eq!(e.message.as_deref(), Some("Internal error"));
    // Nested deep under empty keys (which a flattened body never holds), it
    // is not read through the stack.
    let depth = 20_000;
    let deep = format!(
        r#"{{"formErrors":[],"fieldErrors":{}["x"]{}}}"#,
        r#"{"":"#.repeat(depth),
        "}".repeat(depth)
    );
    let e = dec(400, &[], &deep);
    assert_ne!(e.dialect, "zod");
    assert!(e.violations.is_empty());
}

/// Discord's `{"code":50035,"errors":{…},"message":"Invalid Form Body"}`
/// lists each field's errors under `_errors`, items by their index.
#[test]
fn discords_form_errors_are_violations_with_codes() {
    let body = r#"{"code":50035,"errors":{"embeds":{"0":{"description":{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be 4096 or fewer in length."}]}}},"name":{"_errors":[{"code":"BASE_TYPE_REQUIRED","message":"This field is required"}]}},"message":"Invalid Form Body"}"#;
    let e = dec(400, &[], body);
    assert_eq!(
        (e.code.as_deref(), e.message.as_deref()),
        (Some("50035"), Some("Invalid Form Body"))
    );
    assert_eq!(
        violations(&e),
        [
            (
                "embeds[0].description",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 4096 or fewer in length."
            ),
            ("name", "BASE_TYPE_REQUIRED", "This field is required"),
        ]
    );
}

/// A body of long field names nested deep does not copy them into every
/// violation below: what the names cost stays near the body's size.
#[test]
fn nested_field_names_are_copied_within_a_bound() {
    let name = "n".repeat(10_000);
    let leaves: Vec<String> = (0..900)
        .map(|i| format!(r#""f{i}":["Not a valid value."]"#))
        .collect();
    let body = format!(r#"{{"{name}":{{"{name}":{{{}}}}}}}"#, leaves.join(","));
    let e = dec(400, &[], &body);
    let copied: usize = e.violations.iter().map(|v| v.field.len()).sum();
    assert!(!e.violations.is_empty());
    assert!(
        copied < 200_000,
        "{copied} bytes of names from a {}-byte body",
        body.len()
    );
}

/// Google's typed details that no field of a decoded error holds (a
/// `QuotaFailure`'s violated quota, a `PreconditionFailure`) are kept as
/// details named by their type; the wait `RetryInfo` asks is the hint.
#[test]
fn googles_other_typed_details_are_kept() {
    let body = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Queries'","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"service":"x.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"subject":"project:123","description":"Queries per minute"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"docs","url":"https://cloud.google.com/docs/quota"}]}]}}"#;
    let e = dec(429, &[], body);
    assert_eq!(e.code.as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(
        e.details["QuotaFailure"]["violations"][0]["subject"],
        "project:123"
    );
    assert!(!e.details.contains_key("Help"), "{:?}", e.details);
    assert!(!e.details.contains_key("RetryInfo"), "{:?}", e.details);
    // One too large to keep beside the rest, before `ErrorInfo`, takes no
    // room from its metadata.
    let large = format!(
        r#"{{"error":{{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.DebugInfo","detail":"{}"}},{{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","metadata":{{"service":"x.googleapis.com"}}}}]}}}}"#,
        "d".repeat(70_000)
    );
    let e = dec(429, &[], &large);
    assert_eq!(e.details["service"], "x.googleapis.com");
    assert!(!e.details.contains_key("DebugInfo"));
}

/// Microsoft Graph's `innerError` (Azure's `innererror`, camel-cased) is an
/// Azure error's: kept, and its `request-id` the request id of a body
/// read alone. Cloudflare's `error_chain` of causes is kept too.
#[test]
fn graphs_inner_error_and_cloudflares_error_chain_are_kept() {
    let graph = r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token is empty.","innerError":{"date":"2026-12-07T19:00:00","request-id":"b5c1a7e2-0d1f","client-request-id":"c0ffee00-9e8d"}}}"#;
    let e = dec(401, &[], graph);
    assert_eq!(e.dialect, "azure");
    // Details in an object beside an inner error are kept too.
    let coded = r#"{"error":{"code":"VALIDATION","message":"bad","details":{"field":"email"},"innerError":{}}}"#;
    assert_eq!(dec(400, &[], coded).details["field"], "email");
    assert_eq!(e.code.as_deref(), Some("InvalidAuthenticationToken"));
    assert_eq!(e.request_id.as_deref(), Some("b5c1a7e2-0d1f"));
    assert_eq!(
        e.details["innerError"]["client-request-id"],
        "c0ffee00-9e8d"
    );
    let cloudflare = r#"{"success":false,"errors":[{"code":1003,"message":"Invalid or missing zone id.","error_chain":[{"code":7003,"message":"Could not route to /zones/x"}]}],"messages":[],"result":null}"#;
    let e = dec(400, &[], cloudflare);
    assert_eq!(e.code.as_deref(), Some("1003"));
    assert_eq!(e.message.as_deref(), Some("Invalid or missing zone id."));
    assert_eq!(e.details["error_chain"][0]["code"], 7003);
}
