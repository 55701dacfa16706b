//! `tollgate::decode` and `Catalog::decode` on any status, headers and body:
//! they must never panic, and must keep the status, the request id and the
//! `Retry-After` hint whatever the body holds.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate::Catalog;
use tollgate_fuzz::{DecodeInput, REQUEST_ID_HEADERS, now};

/// The built-in catalog with aliases of its own, so code resolution differs
/// from `tollgate::decode`'s.
static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let mut catalog = Catalog::builtin();
    let extra = r#"
        [errors.insufficient_frames]
        status = 400
        title = "Not enough frames provided"
        message = "Model {model} requires {required} frames, received {received}."
        details = ["model", "required", "received"]
        aliases = { coded = "INSUFFICIENT_FRAMES", google = "FRAMES" }

        [errors.rate_limit_exceeded]
        aliases = { flat = "too_many_requests", envelope = "throttled" }
    "#;
    if let Err(errors) = catalog.load_toml("fuzz.toml", extra) {
        panic!("fuzz catalog is invalid: {errors:?}");
    }
    catalog
});

fuzz_target!(|data: &[u8]| {
    let input = DecodeInput::split(data);
    let builtin = tollgate::decode(input.status, &input.headers, input.body, now());
    let custom = CATALOG.decode(input.status, &input.headers, input.body, now());

    for decoded in [&builtin, &custom] {
        // The status given is kept; 0 is replaced by the body's, if any.
        if input.status != 0 {
            assert_eq!(decoded.status, input.status);
        }
        // A request id header is never lost (the body's may win over it).
        let header_id = REQUEST_ID_HEADERS.iter().any(|name| {
            input
                .headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    let v = v.trim();
                    if *name == "traceparent" {
                        traceparent_has_id(v)
                    } else {
                        !v.is_empty()
                    }
                })
        });
        if header_id {
            assert!(
                decoded.request_id.is_some(),
                "request id header lost: {decoded:?}"
            );
        }
        // The Retry-After header is kept: it decides over the body's hints.
        if let Some(hint) = input
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| tollgate::parse_retry_after(v.trim(), now()))
        {
            assert!(
                decoded.retry_after >= Some(hint),
                "Retry-After {hint:?} lost: {decoded:?}"
            );
        }
        // What the CLI prints is always serializable.
        serde_json::to_vec(decoded).expect("decoded error serializes");
    }
    // Only the kind and retry advice depend on the catalog, and, in an
    // `envelope` body, whether a lone entry of `errors` is a code or a
    // field: it is the code when the catalog knows it (seed 004's
    // `{"insufficient_frames":[…]}`, an alias), which the built-in one may not.
    let known_only_here = custom.catalog_code.is_some() && builtin.catalog_code.is_none();
    assert_eq!(builtin.status, custom.status);
    if !(custom.dialect == "envelope" && known_only_here) {
        assert_eq!(builtin.code, custom.code);
        assert_eq!(builtin.violations, custom.violations);
    }
    assert_eq!(builtin.message, custom.message);
    assert_eq!(builtin.details, custom.details);
    assert_eq!(builtin.request_id, custom.request_id);
    assert_eq!(builtin.retry_after, custom.retry_after);
    assert_eq!(builtin.dialect, custom.dialect);
});

/// Whether a `traceparent` carries a usable trace id (32 hex digits, not all 0).
fn traceparent_has_id(value: &str) -> bool {
    let mut parts = value.split('-');
    let (Some(_), Some(trace), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && trace.bytes().any(|b| b != b'0')
}
