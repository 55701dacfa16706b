//! Allocations made while encoding an error into a buffer reserved beforehand.
//!
//! Most dialects write straight from the catalog entry and the occurrence into
//! the output buffer and must not allocate at all. Two things need memory of
//! their own: google's `ErrorInfo.reason` (the code in UPPER_SNAKE, unless an
//! alias spells it) and JSON Pointers (`problem` and `jsonapi` violations).
//! Their counts are printed (`cargo test -p tollgate --test alloc -- --nocapture`)
//! and bounded here so a regression shows.
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

/// Whether encoding `case` in `dialect` may allocate: google always spells the
/// code in UPPER_SNAKE; `problem` and `jsonapi` build a JSON Pointer per violation.
fn may_allocate(dialect: Dialect, case: &str) -> bool {
    match dialect {
        Dialect::Google => true,
        Dialect::Problem | Dialect::Jsonapi => case == "violations",
        _ => false,
    }
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
fn encoding_allocates_nothing_where_the_dialect_allows() {
    let catalog = catalog();
    let mut failures = Vec::new();
    let mut measured = 0;
    for dialect in Dialect::ALL {
        for (case, err) in cases(&catalog) {
            if may_allocate(dialect, case) {
                continue;
            }
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
    // 10 dialects × 7 cases, less google's 7 and the two pointer cases.
    assert_eq!(measured, 61);
    assert!(
        failures.is_empty(),
        "encoding allocated:\n{}",
        failures.join("\n")
    );
}

#[test]
fn allocations_where_the_dialect_needs_them() {
    let catalog = catalog();
    println!(
        "{:<10} {:<11} {:>6} {:>6}",
        "dialect", "case", "allocs", "bytes"
    );
    for dialect in Dialect::ALL {
        for (case, err) in cases(&catalog) {
            if !may_allocate(dialect, case) {
                continue;
            }
            let (info, _) = measure_encoding(&catalog, dialect, &err);
            println!(
                "{:<10} {:<11} {:>6} {:>6}",
                dialect.name(),
                case,
                info.count_total,
                info.bytes_total
            );
            // Nothing allocated is kept: it is all scratch space.
            assert_eq!(info.count_current, 0, "{dialect}/{case} leaked");
            assert_eq!(info.bytes_current, 0, "{dialect}/{case} leaked");
            match dialect {
                // One UPPER_SNAKE copy of the code; violations add nothing.
                Dialect::Google => assert_eq!(info.count_total, 1, "{dialect}/{case}"),
                // Per violation: the pointer, its segment buffer and the two
                // `~` / `/` escapes of each segment: a bounded handful.
                _ => {
                    let violations = err.violations().len() as u64;
                    assert!(info.count_total >= violations, "{dialect}/{case}: {info:?}");
                    assert!(
                        info.count_total <= 8 * violations,
                        "{dialect}/{case}: {info:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_alias_spares_google_its_allocation() {
    let mut catalog = catalog();
    catalog
        .load_toml(
            "alias.toml",
            "[errors.not_found.aliases]\ngoogle = 'NOT_FOUND'\n",
        )
        .expect("alias is valid");
    let err = catalog.error("not_found").expect("known code");
    let (info, body) = measure_encoding(&catalog, Dialect::Google, &err);
    assert!(String::from_utf8_lossy(&body).contains(r#""reason":"NOT_FOUND""#));
    assert_eq!(info.count_total, 0, "{info:?}");
}
