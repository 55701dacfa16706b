//! Encoding and decoding in every dialect, against the peers the project's
//! performance goals name, in the same run:
//!
//! - `encode`: `Renderer::write_body` of a realistic `ApiError` into a reused
//!   buffer, against `serde_json::to_writer` of a hand-written
//!   `#[derive(Serialize)]` struct that produces the same bytes (checked once
//!   before measuring). Goal: at most 1.2× the hand-written time.
//! - `decode`: `tollgate::decode` of each dialect's body (and of the JSON
//!   bodies printed in the seed API docs, and of a small error beside 100 KB
//!   of other data), against
//!   `serde_json::from_slice::<serde_json::Value>` of the same bytes. Goal: at
//!   least the throughput of `Value`.
//!
//! ```text
//! cargo bench -p tollgate --bench dialects
//! ```
//!
//! Runs are kept short (1 s warm-up, 2 s of measurement per function) for a
//! small shared machine; pass criterion's own flags to change that.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput};
use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use tollgate::{ApiError, Catalog, Context, Dialect, Violation};

const REQUEST_ID: &str = "req_01J3ZK7Q8X9V2M4N6P";
/// 2025-07-24T11:30:12Z, the timestamp of seed 000's example.
const TIMESTAMP_SECS: u64 = 1_753_356_612;
const TIMESTAMP: &str = "2025-07-24T11:30:12Z";

fn context() -> Context<'static> {
    Context::new(SystemTime::UNIX_EPOCH + Duration::from_secs(TIMESTAMP_SECS))
        .request_id(REQUEST_ID)
}

/// The two errors measured: one with details, one with field violations.
fn errors(catalog: &Catalog) -> [(&'static str, ApiError); 2] {
    let credits = catalog
        .error("insufficient_credits")
        .expect("built-in code")
        .with("required", 10)
        .with("available", 3);
    let validation = catalog
        .error("validation_error")
        .expect("built-in code")
        .violation(Violation::new(
            "items[2].name",
            "invalid_type",
            "must be a string",
        ))
        .violation(Violation::new(
            "limit",
            "out_of_range",
            "must be between 1 and 100",
        ));
    [("credits", credits), ("validation", validation)]
}

// ---------------------------------------------------------------------------
// Hand-written structs, one per dialect, generic over the part that differs
// between the two errors (details or violations).

/// `insufficient_credits`'s details.
#[derive(Serialize)]
struct Credits {
    required: u64,
    available: u64,
}

/// No details at all (spliced in with `flatten`, it writes nothing).
#[derive(Serialize)]
struct NoDetails {}

/// `{"field","code","message"}`.
#[derive(Serialize)]
struct FieldViolation<'a> {
    field: &'a str,
    code: &'a str,
    message: &'a str,
}

/// A details object holding only violations: `{"errors":[…]}`.
#[derive(Serialize)]
struct ViolationsOnly<'a> {
    errors: &'a [FieldViolation<'a>],
}

#[derive(Serialize)]
struct ProblemBody<'a, D> {
    #[serde(rename = "type")]
    type_: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ProblemPointer<'a>],
    #[serde(flatten)]
    details: D,
}

#[derive(Serialize)]
struct ProblemPointer<'a> {
    pointer: &'a str,
    detail: &'a str,
    code: &'a str,
}

#[derive(Serialize)]
struct StatusCodeBody<'a, D> {
    status: &'a str,
    timestamp: &'a str,
    error: StatusCodeError<'a, D>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct StatusCodeError<'a, D> {
    code: u16,
    message: &'a str,
    details: D,
}

#[derive(Serialize)]
struct CodedBody<'a, D> {
    error: CodedError<'a, D>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct CodedError<'a, D> {
    code: &'a str,
    message: &'a str,
    details: D,
}

#[derive(Serialize)]
struct DetailBody<'a, D> {
    detail: DetailObject<'a, D>,
}

#[derive(Serialize)]
struct DetailObject<'a, D> {
    code: &'a str,
    message: &'a str,
    /// Seed 002's offending field: the first violation's.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(flatten)]
    details: D,
}

#[derive(Serialize)]
struct MetaBody<'a, D> {
    error: CodedError<'a, D>,
    meta: MetaObject<'a>,
}

#[derive(Serialize)]
struct MetaObject<'a> {
    request_id: &'a str,
}

#[derive(Serialize)]
struct EnvelopeBody<'a> {
    data: Option<()>,
    success: bool,
    message: &'a str,
    errors: Vec<BTreeMap<&'a str, Vec<&'a str>>>,
}

#[derive(Serialize)]
struct FlatBody<'a> {
    error: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct GoogleBody<'a, M> {
    error: GoogleStatus<'a, M>,
}

#[derive(Serialize)]
struct GoogleStatus<'a, M> {
    code: u16,
    message: &'a str,
    status: &'a str,
    details: Vec<GoogleDetail<'a, M>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum GoogleDetail<'a, M> {
    ErrorInfo {
        #[serde(rename = "@type")]
        type_: &'a str,
        reason: &'a str,
        domain: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        metadata: Option<M>,
    },
    BadRequest {
        #[serde(rename = "@type")]
        type_: &'a str,
        #[serde(rename = "fieldViolations")]
        field_violations: &'a [GoogleFieldViolation<'a>],
    },
    Help {
        #[serde(rename = "@type")]
        type_: &'a str,
        links: [GoogleLink<'a>; 1],
    },
    RequestInfo {
        #[serde(rename = "@type")]
        type_: &'a str,
        #[serde(rename = "requestId")]
        request_id: &'a str,
    },
}

/// `insufficient_credits`'s details as google's `map<string, string>`.
#[derive(Serialize)]
struct CreditsMetadata<'a> {
    required: &'a str,
    available: &'a str,
}

#[derive(Serialize)]
struct GoogleFieldViolation<'a> {
    field: &'a str,
    description: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct GoogleLink<'a> {
    description: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
struct StripeBody<'a, D> {
    error: StripeError<'a, D>,
}

#[derive(Serialize)]
struct StripeError<'a, D> {
    #[serde(rename = "type")]
    type_: &'a str,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    doc_url: &'a str,
    #[serde(flatten)]
    details: D,
}

#[derive(Serialize)]
struct JsonApiBody<'a, M> {
    errors: Vec<JsonApiError<'a, M>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonApiError<'a, M> {
    Main {
        id: &'a str,
        status: &'a str,
        code: &'a str,
        title: &'a str,
        detail: &'a str,
        links: JsonApiLinks<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        meta: Option<M>,
    },
    Field {
        status: &'a str,
        code: &'a str,
        title: &'a str,
        detail: &'a str,
        source: JsonApiSource<'a>,
    },
}

#[derive(Serialize)]
struct JsonApiLinks<'a> {
    about: &'a str,
}

#[derive(Serialize)]
struct JsonApiSource<'a> {
    pointer: &'a str,
}

/// A hand-written body, type-erased so both errors share one bench loop.
trait HandWritten {
    fn write(&self, out: &mut Vec<u8>);
}

impl<T: Serialize> HandWritten for T {
    fn write(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to a Vec cannot fail");
    }
}

const VIOLATIONS: [FieldViolation<'static>; 2] = [
    FieldViolation {
        field: "items[2].name",
        code: "invalid_type",
        message: "must be a string",
    },
    FieldViolation {
        field: "limit",
        code: "out_of_range",
        message: "must be between 1 and 100",
    },
];
const POINTERS: [ProblemPointer<'static>; 2] = [
    ProblemPointer {
        pointer: "/items/2/name",
        detail: "must be a string",
        code: "invalid_type",
    },
    ProblemPointer {
        pointer: "/limit",
        detail: "must be between 1 and 100",
        code: "out_of_range",
    },
];
const GOOGLE_VIOLATIONS: [GoogleFieldViolation<'static>; 2] = [
    GoogleFieldViolation {
        field: "items[2].name",
        description: "must be a string",
        reason: "invalid_type",
    },
    GoogleFieldViolation {
        field: "limit",
        description: "must be between 1 and 100",
        reason: "out_of_range",
    },
];

const CREDITS_MESSAGE: &str = "Insufficient credits. Required: 10, available: 3";
const VALIDATION_MESSAGE: &str = "The request has invalid fields.";

/// The hand-written equivalent of `errors()[which]` in `dialect`.
fn hand_written(dialect: Dialect, which: &str) -> Box<dyn HandWritten> {
    let credits = which == "credits";
    let (code, upper, status, title, message) = if credits {
        (
            "insufficient_credits",
            "INSUFFICIENT_CREDITS",
            402,
            "Not enough credits",
            CREDITS_MESSAGE,
        )
    } else {
        (
            "validation_error",
            "VALIDATION_ERROR",
            400,
            "Request validation failed",
            VALIDATION_MESSAGE,
        )
    };
    let doc_url = if credits {
        "/errors#insufficient_credits"
    } else {
        "/errors#validation_error"
    };
    let details = || Credits {
        required: 10,
        available: 3,
    };
    let violations = || ViolationsOnly {
        errors: &VIOLATIONS,
    };
    match (dialect, credits) {
        (Dialect::Problem, true) => Box::new(ProblemBody {
            type_: doc_url,
            title,
            status,
            detail: message,
            code,
            request_id: REQUEST_ID,
            errors: &[],
            details: details(),
        }),
        (Dialect::Problem, false) => Box::new(ProblemBody {
            type_: doc_url,
            title,
            status,
            detail: message,
            code,
            request_id: REQUEST_ID,
            errors: &POINTERS,
            details: NoDetails {},
        }),
        (Dialect::StatusCode, true) => Box::new(StatusCodeBody {
            status: "error",
            timestamp: TIMESTAMP,
            error: StatusCodeError {
                code: status,
                message,
                details: details(),
            },
            request_id: REQUEST_ID,
        }),
        (Dialect::StatusCode, false) => Box::new(StatusCodeBody {
            status: "error",
            timestamp: TIMESTAMP,
            error: StatusCodeError {
                code: status,
                message,
                details: violations(),
            },
            request_id: REQUEST_ID,
        }),
        (Dialect::Coded, true) => Box::new(CodedBody {
            error: CodedError {
                code,
                message,
                details: details(),
            },
            request_id: REQUEST_ID,
        }),
        (Dialect::Coded, false) => Box::new(CodedBody {
            error: CodedError {
                code,
                message,
                details: violations(),
            },
            request_id: REQUEST_ID,
        }),
        (Dialect::Detail, true) => Box::new(DetailBody {
            detail: DetailObject {
                code,
                message,
                field: None,
                details: details(),
            },
        }),
        (Dialect::Detail, false) => Box::new(DetailBody {
            detail: DetailObject {
                code,
                message,
                field: Some(VIOLATIONS[0].field),
                details: violations(),
            },
        }),
        (Dialect::Meta, true) => Box::new(MetaBody {
            error: CodedError {
                code,
                message,
                details: details(),
            },
            meta: MetaObject {
                request_id: REQUEST_ID,
            },
        }),
        (Dialect::Meta, false) => Box::new(MetaBody {
            error: CodedError {
                code,
                message,
                details: violations(),
            },
            meta: MetaObject {
                request_id: REQUEST_ID,
            },
        }),
        (Dialect::Envelope, _) => {
            let errors = if credits {
                vec![BTreeMap::from([(code, vec![message])])]
            } else {
                VIOLATIONS
                    .iter()
                    .map(|v| BTreeMap::from([(v.field, vec![v.message])]))
                    .collect()
            };
            Box::new(EnvelopeBody {
                data: None,
                success: false,
                message,
                errors,
            })
        }
        (Dialect::Flat, _) => Box::new(FlatBody {
            error: code,
            message,
        }),
        (Dialect::Google, _) => {
            let mut items = vec![GoogleDetail::ErrorInfo {
                type_: "type.googleapis.com/google.rpc.ErrorInfo",
                reason: upper,
                domain: "tollgate",
                metadata: credits.then_some(CreditsMetadata {
                    required: "10",
                    available: "3",
                }),
            }];
            if !credits {
                items.push(GoogleDetail::BadRequest {
                    type_: "type.googleapis.com/google.rpc.BadRequest",
                    field_violations: &GOOGLE_VIOLATIONS,
                });
            }
            items.push(GoogleDetail::Help {
                type_: "type.googleapis.com/google.rpc.Help",
                links: [GoogleLink {
                    description: title,
                    url: doc_url,
                }],
            });
            items.push(GoogleDetail::RequestInfo {
                type_: "type.googleapis.com/google.rpc.RequestInfo",
                request_id: REQUEST_ID,
            });
            let status_name = if credits {
                "FAILED_PRECONDITION"
            } else {
                "INVALID_ARGUMENT"
            };
            Box::new(GoogleBody {
                error: GoogleStatus {
                    code: status,
                    message,
                    status: status_name,
                    details: items,
                },
            })
        }
        (Dialect::Stripe, true) => Box::new(StripeBody {
            error: StripeError {
                type_: "invalid_request_error",
                code,
                message,
                param: None,
                doc_url,
                details: details(),
            },
        }),
        (Dialect::Stripe, false) => Box::new(StripeBody {
            error: StripeError {
                type_: "invalid_request_error",
                code,
                message,
                param: Some(VIOLATIONS[0].field),
                doc_url,
                details: violations(),
            },
        }),
        (Dialect::Jsonapi, _) => {
            let status_text = if credits { "402" } else { "400" };
            let mut errors = vec![JsonApiError::Main {
                id: REQUEST_ID,
                status: status_text,
                code,
                title,
                detail: message,
                links: JsonApiLinks { about: doc_url },
                meta: credits.then(details),
            }];
            if !credits {
                for (v, p) in VIOLATIONS.iter().zip(&POINTERS) {
                    errors.push(JsonApiError::Field {
                        status: status_text,
                        code: v.code,
                        title,
                        detail: v.message,
                        source: JsonApiSource { pointer: p.pointer },
                    });
                }
            }
            Box::new(JsonApiBody { errors })
        }
        (other, _) => unreachable!("no hand-written body for {other}"),
    }
}

fn encode(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let ctx = context();
    let mut group = c.benchmark_group("encode");
    let mut buf = Vec::with_capacity(4096);
    for dialect in Dialect::ALL {
        let renderer = catalog.renderer(dialect);
        for (which, err) in errors(&catalog) {
            let hand = hand_written(dialect, which);
            // Same bytes, or the comparison means nothing.
            let ours = renderer.body(&err, &ctx);
            let mut theirs = Vec::new();
            hand.write(&mut theirs);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{dialect}/{which}: the hand-written body differs"
            );
            group.throughput(Throughput::Bytes(ours.len() as u64));
            group.bench_function(format!("tollgate/{dialect}/{which}"), |b| {
                b.iter(|| {
                    buf.clear();
                    renderer.write_body(black_box(&err), &ctx, &mut buf);
                    black_box(&buf);
                });
            });
            group.bench_function(format!("serde_json/{dialect}/{which}"), |b| {
                b.iter(|| {
                    buf.clear();
                    black_box(&*hand).write(&mut buf);
                    black_box(&buf);
                });
            });
        }
    }
    group.finish();
}

/// Every top-level JSON object printed in the seed API docs, with the status
/// it states (else 400). Empty, with a notice, when the docs are not beside
/// the repository.
fn seed_bodies() -> Vec<(u16, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping seed bodies: {} is not readable", dir.display());
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut at = 0;
        while let Some(offset) = text[at..].find('{') {
            let start = at + offset;
            let mut stream =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value @ Value::Object(_))) => {
                    at = start + stream.byte_offset();
                    let status = ["/status", "/error/code", "/errors/0/status"]
                        .iter()
                        .filter_map(|p| value.pointer(p))
                        .find_map(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(400);
                    out.push((status, text.as_bytes()[start..at].to_vec()));
                }
                _ => at = start + 1,
            }
        }
    }
    out
}

fn decode(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let ctx = context();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(TIMESTAMP_SECS);
    let mut group = c.benchmark_group("decode");
    for dialect in Dialect::ALL {
        for (which, err) in errors(&catalog) {
            let response = catalog.renderer(dialect).response(&err, &ctx);
            let (status, headers, body) = (
                err.status(),
                response.headers().clone(),
                response.body().clone(),
            );
            let back = tollgate::decode(status, &headers, &body, now);
            assert_eq!(back.dialect, dialect.name(), "{dialect}/{which}");
            assert_eq!(
                back.code.as_deref(),
                Some(&*err.def().wire_code(dialect)),
                "{dialect}/{which}"
            );
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_function(format!("tollgate/{dialect}/{which}"), |b| {
                b.iter(|| tollgate::decode(status, black_box(&headers), black_box(&body), now));
            });
            group.bench_function(format!("serde_json/{dialect}/{which}"), |b| {
                b.iter(|| serde_json::from_slice::<Value>(black_box(&body)).expect("valid JSON"));
            });
        }
    }
    let seeds = seed_bodies();
    if !seeds.is_empty() {
        let no_headers = HeaderMap::new();
        let bytes: usize = seeds.iter().map(|(_, b)| b.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("tollgate/seeds/all-{}", seeds.len()), |b| {
            b.iter(|| {
                for (status, body) in &seeds {
                    black_box(tollgate::decode(*status, &no_headers, black_box(body), now));
                }
            });
        });
        group.bench_function(format!("serde_json/seeds/all-{}", seeds.len()), |b| {
            b.iter(|| {
                for (_, body) in &seeds {
                    black_box(
                        serde_json::from_slice::<Value>(black_box(body)).expect("valid JSON"),
                    );
                }
            });
        });
    }
    // A small error beside 100 KB of other data (a debug dump, an echoed
    // request): what is read is small, but the whole body is checked.
    let large = format!(
        r#"{{"error":{{"code":"bad_request","message":"m"}},"debug":"{}"}}"#,
        "x".repeat(100_000)
    );
    let no_headers = HeaderMap::new();
    group.throughput(Throughput::Bytes(large.len() as u64));
    group.bench_function("tollgate/large/100k", |b| {
        b.iter(|| tollgate::decode(400, &no_headers, black_box(large.as_bytes()), now));
    });
    group.bench_function("serde_json/large/100k", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(&large)).expect("valid JSON"));
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    encode(&mut c);
    decode(&mut c);
    c.final_summary();
}
