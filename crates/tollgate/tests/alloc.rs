//! Allocations made while encoding an error into a buffer reserved beforehand.
//!
//! Every dialect writes straight from the catalog entry and the occurrence
//! into the output buffer and must not allocate at all: messages are filled
//! in place, google's UPPER_SNAKE `ErrorInfo.reason` is made once per catalog
//! entry, and JSON Pointers (`problem` and `jsonapi` violations) are written
//! piece by piece.
//!
//! Decoding a hostile body peaks at a few times its size, and a large one
//! is read without being copied.
//!
//! Counting is per thread (`allocation_counter::measure`), so the test
//! harness's other threads do not disturb it.

use std::time::{Duration, SystemTime};

use allocation_counter::{AllocationInfo, measure};
use tollgate::{ApiError, Catalog, Context, Dialect, Violation};

const CAPACITY: usize = 16 * 1024;

/// The catalog: built-in entries plus one with a hint (seed 000's string
/// `details`) so `status-code`'s hint path is measured too.
fn catalog() -> Catalog {
    Catalog::from_toml(
        "alloc.toml",
        r#"
        [errors.model_unavailable]
        status = 503
        title = "Model unavailable"
        message = "Model {model} is unavailable."
        hint = "Retry in {seconds} seconds or pick another model."
        details = ["model", "seconds"]
        "#,
    )
    .expect("test catalog is valid")
}

/// The occurrences measured, named.
fn cases(catalog: &Catalog) -> Vec<(&'static str, ApiError)> {
    let error = |code: &str| catalog.error(code).expect("known code");
    vec![
        ("plain", error("not_found")),
        ("details", error("insufficient_credits").with("required", 10).with("available", 3)),
        (
            "retry",
            error("rate_limit_exceeded")
                .with("limit", 100)
                .with("window", 60)
                .retry_after(Duration::from_millis(1500)),
        ),
        ("message", error("not_found").with_message("Rule not found")),
        ("hint", error("model_unavailable").with("model", "vlm-2").with("seconds", 30)),
        (
            "nested",
            error("malformed_request").with("reason", "expected value").with(
                "position",
                serde_json::json!({"line": 1, "column": 7, "path": ["items", 2], "ok": false, "x": 1.5}),
            ),
        ),
        (
            "violations",
            error("validation_error")
                .violation(Violation::new("items[2].name", "invalid_type", "must be a string"))
                .violation(Violation::new("limit", "out_of_range", "must be between 1 and 100"))
                .violation(Violation::new("limit", "not_a_multiple", "must be a multiple of 10")),
        ),
    ]
}

/// Encodes once to warm up (lazy statics), then measures a second encoding
/// into the same, already reserved buffer.
fn measure_encoding(
    catalog: &Catalog,
    dialect: Dialect,
    err: &ApiError,
) -> (AllocationInfo, Vec<u8>) {
    let ctx = Context::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_612))
        .request_id("req_01J3ZK7Q8X9V2M4N6P")
        .instance("/v1/scans");
    let renderer = catalog.renderer(dialect);
    let mut buf = Vec::with_capacity(CAPACITY);
    renderer.write_body(err, &ctx, &mut buf);
    let expected = buf.clone();
    buf.clear();
    let info = measure(|| renderer.write_body(err, &ctx, &mut buf));
    assert_eq!(
        buf, expected,
        "{dialect}: the measured encoding differs from the first"
    );
    assert_eq!(
        buf.capacity(),
        CAPACITY,
        "{dialect}: the reserved buffer grew"
    );
    (info, buf)
}

#[test]
fn encoding_allocates_nothing() {
    let catalog = catalog();
    let mut failures = Vec::new();
    let mut measured = 0;
    for dialect in Dialect::ALL {
        for (case, err) in cases(&catalog) {
            let (info, body) = measure_encoding(&catalog, dialect, &err);
            measured += 1;
            if info.count_total != 0 {
                failures.push(format!(
                    "{dialect}/{case}: {} allocations ({} bytes) writing {}",
                    info.count_total,
                    info.bytes_total,
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    }
    // 10 dialects × 7 cases, every one of them.
    assert_eq!(measured, 70);
    assert!(
        failures.is_empty(),
        "encoding allocated:\n{}",
        failures.join("\n")
    );
}

#[test]
fn pointers_are_written_without_allocating() {
    // Segments that need pointer escapes (`~0`, `~1`) and JSON escapes.
    let catalog = catalog();
    let err = catalog
        .error("validation_error")
        .expect("known code")
        .violation(Violation::new("a/b~c.\"d\"[0]", "x", "y"))
        .violation(Violation::new("", "empty", "no field"));
    for dialect in [Dialect::Problem, Dialect::Jsonapi] {
        let (info, body) = measure_encoding(&catalog, dialect, &err);
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let text = body.to_string();
        assert!(text.contains(r#""pointer":"/a~1b~0c/\"d\"/0""#), "{text}");
        assert_eq!(info.count_total, 0, "{dialect}: {info:?}");
    }
}

#[test]
fn google_reasons_aliased_or_not_allocate_nothing() {
    let mut catalog = catalog();
    catalog
        .load_toml(
            "alias.toml",
            "[errors.not_found.aliases]\ngoogle = 'RESOURCE_GONE'\n",
        )
        .expect("alias is valid");
    for (code, reason) in [("not_found", "RESOURCE_GONE"), ("timeout", "TIMEOUT")] {
        let err = catalog.error(code).expect("known code");
        let (info, body) = measure_encoding(&catalog, Dialect::Google, &err);
        let reason = format!(r#""reason":"{reason}""#);
        assert!(String::from_utf8_lossy(&body).contains(&reason));
        assert_eq!(info.count_total, 0, "{code}: {info:?}");
    }
}

/// What decoding `body` allocates, and what it decoded. The built-in
/// catalog `decode` reads is loaded once per process (about 175 KB): it is
/// loaded before counting, so that only the body's reading counts.
fn measure_decoding(status: u16, body: &str) -> (AllocationInfo, tollgate::Decoded) {
    Catalog::builtin_ref();
    let mut decoded = None;
    let info = measure(|| {
        decoded = Some(tollgate::decode(
            status,
            &http::HeaderMap::new(),
            body.as_bytes(),
            SystemTime::now(),
        ));
    });
    (info, decoded.expect("measured"))
}

#[test]
fn decoding_an_envelope_of_countless_tiny_entries_peaks_at_a_few_times_its_size() {
    // Every member of `errors` was kept (56 bytes for each 6 of the body)
    // before the violations were capped.
    let members: Vec<String> = (0..170_000).map(|i| format!(r#""{i:x}":0"#)).collect();
    let body = format!(
        r#"{{"success":false,"message":"m","errors":[{{{}}}]}}"#,
        members.join(",")
    );
    let (info, decoded) = measure_decoding(400, &body);
    assert_eq!(decoded.dialect, "envelope");
    assert!(
        info.bytes_max < 4 * body.len() as u64,
        "{} bytes at the peak for a body of {}",
        info.bytes_max,
        body.len()
    );
}

#[test]
fn decoding_a_hostile_body_peaks_at_a_few_times_its_size() {
    // A FastAPI location of half a million numbers in a MiB: parsed whole,
    // it took 57 times that at the peak.
    let numbers = vec!["0"; 500_000].join(",");
    let body = format!(r#"{{"detail":[{{"loc":["body",{numbers}],"msg":"m","type":"t"}}]}}"#);
    let (info, decoded) = measure_decoding(422, &body);
    assert_eq!(decoded.violations[0].field.len(), 3 * 500_000);
    assert!(
        info.bytes_max < 8 * body.len() as u64,
        "{} bytes at the peak for a body of {}",
        info.bytes_max,
        body.len()
    );
}

#[test]
fn decoding_reads_a_large_body_without_copying_it() {
    // What is read is borrowed from the body: the tape of its containers,
    // the message and the code come to under a KiB. The body is scanned
    // for lone surrogate escapes (a message cut in an emoji) whether or not
    // its message was read, and one holding none is not copied for it; a
    // copy would be a hundred times that.
    let body = format!(
        r#"{{"error":{{"code":"bad_request","message":"m"}},"pad":"{}"}}"#,
        "x".repeat(100_000)
    );
    let (info, decoded) = measure_decoding(400, &body);
    assert_eq!(decoded.message.as_deref(), Some("m"));
    assert!(
        info.bytes_total < body.len() as u64 / 10,
        "{} bytes allocated for a body of {}",
        info.bytes_total,
        body.len()
    );
}
