//! `tollgate serve`, the real binary on 127.0.0.1: `tollgate probe` is green
//! against it in every dialect, each seed situation comes back as its seed
//! writes it, `/errors` and `/openapi.json` describe what it sends, and its
//! config file, first and later starts and Ctrl-C behave.

mod common;
#[allow(dead_code)]
#[path = "common/server.rs"]
mod server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server::{START_TIMEOUT, Server, last_line, tollgate};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tollgate::Dialect;

fn catalog(name: &str) -> String {
    format!(
        "{}/../../examples/catalogs/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// An answer: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A body to send.
enum Body {
    None,
    Json(Value),
    Raw(String, Vec<u8>),
}

/// An HTTP client on a runtime of its own, for synchronous tests.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Body) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request
                .header("content-type", "application/json")
                .body(value.to_string()),
            Body::Raw(content_type, bytes) => {
                request.header("content-type", content_type).body(bytes)
            }
        };
        self.runtime.block_on(async {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.expect("the body arrives").to_vec();
            Answer {
                status,
                headers,
                body,
            }
        })
    }

    fn get(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", url, headers, Body::None)
    }
}

/// `POST /v1/scans` declaring a `length`-byte body and sending none of it:
/// the server answers from the headers, without waiting for the body.
fn declared_body(base: &str, key: &str, length: usize) -> Answer {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /v1/scans HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
    }
    Answer {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// A PNG of gray pixels.
fn gray_png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let mut out = Vec::new();
    let data: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| pixel(x, y))
        .collect();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&data)
        .unwrap();
    out
}

/// A high-contrast PNG, different for every `seed`.
fn sharp_png(seed: u8) -> Vec<u8> {
    gray_png(16, 16, move |x, y| {
        if (x + y) % 2 == 0 {
            seed % 32
        } else {
            255 - seed % 32
        }
    })
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn multipart(field: &str, content_type: &str, bytes: &[u8]) -> Body {
    multipart_after(1, 1, field, content_type, bytes)
}

/// A form whose file part `field` (`files` of them) comes after `inputs`
/// text inputs, as a browser form with hidden inputs sends it.
fn multipart_after(
    inputs: usize,
    files: usize,
    field: &str,
    content_type: &str,
    bytes: &[u8],
) -> Body {
    let boundary = "tollgate-test-7d1f3c";
    let mut body = Vec::new();
    for i in 0..inputs {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"note{i}\"\r\n\r\nhello\r\n"
            )
            .as_bytes(),
        );
    }
    for _ in 0..files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
                 filename=\"image\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Body::Raw(format!("multipart/form-data; boundary={boundary}"), body)
}

/// The operation's documented responses list `status`, with an example of
/// `code` in the error body's content type.
fn assert_documented(
    doc: &Value,
    method: &str,
    path: &str,
    dialect: Dialect,
    status: u16,
    code: &str,
) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: {status} is not documented"
    );
    let example = &response["content"][dialect.content_type()]["examples"][code];
    assert!(
        example.is_object(),
        "{method} {path}: {status} {code} has no example"
    );
}

/// A `status-code` error: checks the envelope, returns `error.details`.
fn status_code_error(a: &Answer, status: u16, message: &str) -> Value {
    let body = a.json();
    assert_eq!(a.status, status, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["code"], status, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    assert_eq!(body["request_id"], a.header("x-request-id"), "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    body["error"]["details"].clone()
}

fn balance(dir: &Path, database: &str, account: &str) -> i64 {
    let output = tollgate(dir, &["accounts", "show", account, "--database", database]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("balance"))
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or_else(|| panic!("no balance in {text}"))
}

// ---------------------------------------------------------------------------

#[test]
fn probe_is_green_against_serve_in_every_dialect() {
    for dialect in Dialect::ALL {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), &["--dialect", dialect.name()]);
        let key = server
            .key
            .clone()
            .expect("the first start prints the demo key");
        let output = tollgate(
            dir.path(),
            &[
                "probe",
                &server.base,
                "--key",
                &key,
                "--dialect",
                dialect.name(),
                "--json",
                "--max-requests",
                "150",
            ],
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{dialect}: --json prints one object ({e}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let failed: Vec<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["result"] != "pass")
            .map(|c| {
                format!(
                    "{} | {} | {} | {}",
                    c["check"], c["request"], c["result"], c["reason"]
                )
            })
            .collect();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{dialect}: {failed:#?}\n{}",
            server.stderr()
        );
        assert_eq!(
            failed,
            Vec::<String>::new(),
            "{dialect}: nothing skipped either"
        );
        assert_eq!(report["dialect"], dialect.name());
        assert_eq!(report["routes_from"], "openapi");
        let passed = |check: &str| {
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["check"] == check && c["result"] == "pass")
        };
        for check in [
            "rate-limit",
            "idempotency",
            "www-authenticate",
            "allow",
            "retry-after",
        ] {
            assert!(passed(check), "{dialect}: no passing {check} check");
        }
    }
}

/// A second run right after the first finds the per-key limit spent by the
/// first's burst: serve's 429s (Retry-After: 1) are waited out, not failed.
#[test]
fn probe_run_twice_against_serve_passes_both_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server
        .key
        .clone()
        .expect("the first start prints the demo key");
    let probe = || {
        let output = tollgate(
            dir.path(),
            &["probe", &server.base, "--key", &key, "--json"],
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "--json prints one object ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let failed: Vec<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["result"] == "fail")
            .map(|c| format!("{} | {} | {}", c["check"], c["request"], c["reason"]))
            .collect();
        assert_eq!(failed, Vec::<String>::new(), "{}", server.stderr());
        assert_eq!(output.status.code(), Some(0));
        report
    };
    let first = probe();
    assert_eq!(first["skipped"], 0, "{first:#}");
    let second = probe();
    let waited = second["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["check"] == "expected-status"
                && c["reason"]
                    .as_str()
                    .unwrap()
                    .ends_with("(after a 429 and the 1s it asked for)")
        })
        .count();
    assert!(waited > 0, "{second:#}");
}

#[test]
fn probe_without_a_key_skips_a_rate_limit_out_of_its_reach() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let output = tollgate(dir.path(), &["probe", &server.base, "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "--json prints one object ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["result"] == "fail").collect();
    assert_eq!(output.status.code(), Some(0), "{failed:#?}");
    let burst = checks
        .iter()
        .find(|c| c["check"] == "rate-limit")
        .expect("a rate-limit check");
    assert_eq!(burst["result"], "skip", "{burst}");
    let reason = burst["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("per-ip allows 1000 per 60 s, ")
            && reason.ends_with("its 429 needs more than --max-requests 300"),
        "{reason}"
    );
}

#[test]
fn scans_answer_as_seeds_000_and_001_in_the_status_code_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dialect = Dialect::StatusCode;
    let neolens = catalog("000-001-neolens.toml");
    let server = Server::start(
        d,
        &[
            "--dialect",
            "status-code",
            "--catalog",
            &neolens,
            "--timeout",
            "2s",
        ],
    );
    let key = server.key.clone().unwrap();
    let db = server.database.clone();
    let http = Http::new();
    let doc = http.get(&server.url("/openapi.json"), &[]).json();
    let bearer = format!("Bearer {key}");
    let scan = |body: Body, extra: &[(&str, &str)]| {
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        http.send("POST", &server.url("/v1/scans"), &headers, body)
    };
    let documented = |a: &Answer, path: &str, method: &str, code: &str| {
        assert_documented(&doc, method, path, dialect, a.status, code);
    };

    // The documented example scans; the same image again is a conflict.
    let example =
        doc["paths"]["/v1/scans"]["post"]["requestBody"]["content"]["application/json"]["example"]
            .clone();
    let before = balance(d, &db, "demo");
    let created = scan(Body::Json(example.clone()), &[]);
    assert_eq!(created.status, 201, "{}", created.text());
    let first = created.json();
    assert_eq!(first["confidence"], 1.0);
    assert_eq!(first["format"], "png");
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("scan_"), "{id}");
    assert_eq!(
        balance(d, &db, "demo"),
        before - 1,
        "a scan costs one credit"
    );
    let again = scan(Body::Json(example.clone()), &[]);
    let details = status_code_error(
        &again,
        409,
        "Conflict: a resource with the same content already exists.",
    );
    assert_eq!(details, json!({"scan_id": id}));
    assert_eq!(again.header("x-error-code"), "conflict");
    documented(&again, "/v1/scans", "post", "conflict");

    // The caller reads its scan; another account cannot see it.
    let read = http.get(
        &server.url(&format!("/v1/scans/{id}")),
        &[("x-api-key", key.as_str())],
    );
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json(), first);
    last_line(&tollgate(
        d,
        &[
            "accounts",
            "create",
            "other",
            "--credits",
            "5",
            "--database",
            &db,
        ],
    ));
    let other = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "other",
            "--scopes",
            "scans:read,scans:write",
            "--database",
            &db,
        ],
    ));
    let theirs = http.get(
        &server.url(&format!("/v1/scans/{id}")),
        &[("x-api-key", other.as_str())],
    );
    assert_eq!(
        status_code_error(&theirs, 404, "The requested resource was not found."),
        Value::Null
    );
    let missing = http.get(
        &server.url("/v1/scans/scan_nope"),
        &[("x-api-key", other.as_str())],
    );
    assert_eq!(
        missing.json()["error"],
        theirs.json()["error"],
        "the two cannot be told apart"
    );
    documented(&theirs, "/v1/scans/{id}", "get", "not_found");
    // The other account may scan the same image: images are per account.
    let same_image = http.send(
        "POST",
        &server.url("/v1/scans"),
        &[("x-api-key", other.as_str())],
        Body::Json(example.clone()),
    );
    assert_eq!(same_image.status, 201, "{}", same_image.text());

    // Seed 001: a missing field, with its details object.
    let missing_field = scan(Body::Json(json!({})), &[]);
    let details = status_code_error(
        &missing_field,
        400,
        "Bad Request: Missing required field 'image_data'",
    );
    assert_eq!(
        details,
        json!({"field": "image_data", "issue": "This field is required."})
    );
    documented(&missing_field, "/v1/scans", "post", "missing_field");

    // Seed 000's AI-specific errors.
    let gif = scan(
        Body::Json(json!({"image_data": base64(b"GIF89a\x01\x00\x01\x00")})),
        &[],
    );
    let details = status_code_error(
        &gif,
        400,
        "The input image format is not supported or corrupted.",
    );
    assert_eq!(
        details["reason"],
        "the data is neither a PNG nor a JPEG image"
    );
    documented(&gif, "/v1/scans", "post", "input_format_error");
    let truncated = sharp_png(1);
    let truncated = scan(
        Body::Json(json!({"image_data": base64(&truncated[..40])})),
        &[],
    );
    let details = status_code_error(
        &truncated,
        400,
        "The input image format is not supported or corrupted.",
    );
    assert!(
        details["reason"].as_str().unwrap().contains("PNG"),
        "{details}"
    );

    let flat = gray_png(32, 32, |x, _| 200 + (x % 2) as u8);
    let low = scan(Body::Json(json!({"image_data": base64(&flat)})), &[]);
    let details = status_code_error(
        &low,
        422,
        "The model's confidence score 0.01 is below the acceptable threshold 0.6.",
    );
    assert_eq!(details, json!({"confidence": 0.01, "threshold": 0.6}));
    documented(&low, "/v1/scans", "post", "low_confidence");

    // Multipart: a flat JPEG is low confidence too, a contrasted one scans.
    let jpeg = include_bytes!("data/flat.jpg");
    let low = scan(multipart("image", "image/jpeg", jpeg), &[]);
    assert_eq!(low.status, 422, "{}", low.text());
    assert_eq!(low.json()["error"]["details"]["threshold"], 0.6);
    let jpeg = include_bytes!("data/checks.jpg");
    let ok = scan(multipart("image", "image/jpeg", jpeg), &[]);
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(ok.json()["format"], "jpeg");
    // Found after a form's other inputs too (a dozen hidden ones, say): the
    // same image again, so a conflict, not a missing field.
    let late = scan(multipart_after(12, 1, "image", "image/jpeg", jpeg), &[]);
    assert_eq!(late.status, 409, "{}", late.text());
    // Up to 64 parts are read; a form of more is refused as such, not read
    // as one without its image.
    let last = scan(multipart_after(63, 1, "image", "image/jpeg", jpeg), &[]);
    assert_eq!(last.status, 409, "{}", last.text());
    let past = scan(multipart_after(64, 1, "image", "image/jpeg", jpeg), &[]);
    status_code_error(&past, 400, "the form has more than 64 parts: send fewer");
    // Two images in one form: refused at `image`, as JSON refuses a field
    // given twice, not the first scanned and the second dropped.
    let two = scan(multipart_after(1, 2, "image", "image/jpeg", jpeg), &[]);
    let details = status_code_error(
        &two,
        400,
        "image: one image is scanned at a time: send one part named image",
    );
    assert_eq!(details["errors"][0]["field"], "image", "{details}");
    let no_image = scan(multipart("photo", "image/jpeg", jpeg), &[]);
    let details = status_code_error(
        &no_image,
        400,
        "Bad Request: Missing required field 'image'",
    );
    assert_eq!(details["field"], "image");

    // The model is unavailable: 503, Retry-After, nothing charged.
    let before = balance(d, &db, "demo");
    let image = json!({"image_data": base64(&sharp_png(2))});
    let down = scan(
        Body::Json(image.clone()),
        &[("x-simulate", "model-unavailable")],
    );
    status_code_error(
        &down,
        503,
        "The AI model is temporarily offline or updating.",
    );
    assert_eq!(down.header("retry-after"), "30");
    assert_eq!(down.json()["error"]["retry_after"], 30);
    documented(&down, "/v1/scans", "post", "upstream_unavailable");
    // So it is with an image already scanned (as the banner's example is).
    let again = scan(
        multipart("image", "image/jpeg", jpeg),
        &[("x-simulate", "model-unavailable")],
    );
    assert_eq!(again.status, 503, "{}", again.text());
    // The model hangs past the deadline (2 s here): 504, nothing charged.
    let started = Instant::now();
    let slow = scan(
        Body::Json(image.clone()),
        &[("x-simulate", "model-timeout")],
    );
    status_code_error(&slow, 504, "The operation timed out.");
    assert!(started.elapsed() >= Duration::from_secs(2));
    documented(&slow, "/v1/scans", "post", "timeout");
    // The model crashes: a generic 500, the panic only in the log.
    let crash = scan(Body::Json(image.clone()), &[("x-simulate", "model-crash")]);
    status_code_error(&crash, 500, "An unexpected error occurred.");
    assert!(!crash.text().contains("panic") && !crash.text().contains("simulated"));
    assert!(
        server.stderr().contains("simulated model crash"),
        "the cause is logged"
    );
    documented(&crash, "/v1/scans", "post", "internal_error");
    // Answered by the outer layer in place of a response that never came
    // through the rate limiters, they carry the limiters' fields all the
    // same, the per-key's first, as on every other answer.
    for answer in [&down, &slow, &crash] {
        let lines: Vec<_> = answer.headers.get_all("ratelimit").iter().collect();
        assert_eq!(lines.len(), 2, "{:?}", answer.headers);
        assert!(lines[0].to_str().unwrap().starts_with("\"per-key\";r="));
        assert!(lines[1].to_str().unwrap().starts_with("\"per-ip\";r="));
        assert_eq!(answer.headers.get_all("ratelimit-policy").iter().count(), 2);
    }
    assert_eq!(
        balance(d, &db, "demo"),
        before,
        "5xx answers give the credit back"
    );
    let unknown = scan(Body::Json(image.clone()), &[("x-simulate", "meteor")]);
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json()["error"]["details"]["errors"][0]["field"],
        "X-Simulate"
    );

    // Idempotency: a retry with the key replays the scan instead of a conflict.
    let before = balance(d, &db, "demo");
    let retry = |body: Value| scan(Body::Json(body), &[("idempotency-key", "order-42")]);
    let once = retry(image.clone());
    assert_eq!(once.status, 201, "{}", once.text());
    let twice = retry(image.clone());
    assert_eq!(twice.status, 201, "{}", twice.text());
    assert_eq!(twice.header("idempotent-replayed"), "true");
    assert_eq!(twice.json()["id"], once.json()["id"]);
    assert_eq!(balance(d, &db, "demo"), before - 1, "charged once");
    let reused = retry(json!({"image_data": base64(&sharp_png(3))}));
    assert_eq!(reused.status, 422, "{}", reused.text());
    assert_eq!(reused.header("x-error-code"), "idempotency_key_reused");
    documented(&reused, "/v1/scans", "post", "idempotency_key_reused");

    // Seed 000's 403, and seed 001's 401.
    let reader = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "demo",
            "--scopes",
            "scans:read",
            "--database",
            &db,
        ],
    ));
    let forbidden = http.send(
        "POST",
        &server.url("/v1/scans"),
        &[("authorization", &format!("Bearer {reader}"))],
        Body::Json(image.clone()),
    );
    let details = status_code_error(
        &forbidden,
        403,
        "Access denied: missing scope 'scans:write'.",
    );
    assert_eq!(
        details,
        "Your token does not grant write permissions for scans."
    );
    documented(&forbidden, "/v1/scans", "post", "insufficient_scope");
    let unauthorized = http.send(
        "POST",
        &server.url("/v1/scans"),
        &[("authorization", "Bearer tg_live_nope")],
        Body::Json(image.clone()),
    );
    assert_eq!(
        status_code_error(&unauthorized, 401, "Unauthorized: Invalid API key"),
        Value::Null
    );
    assert!(
        unauthorized
            .header("www-authenticate")
            .starts_with("Bearer")
    );
    documented(&unauthorized, "/v1/scans", "post", "invalid_key");

    // A body declared over 8 MiB is refused before it is sent.
    let huge = declared_body(&server.base, &key, 9 << 20);
    let details = status_code_error(
        &huge,
        413,
        "The request body exceeds the limit of 8388608 bytes.",
    );
    assert_eq!(details["limit"], 8_388_608);
    documented(&huge, "/v1/scans", "post", "payload_too_large");
    let plain = scan(Body::Raw("text/plain".into(), b"hi".to_vec()), &[]);
    assert_eq!(plain.status, 415, "{}", plain.text());
    assert!(
        plain.text().contains(
            "The request's Content-Type (text/plain) is not supported: send application/json or \
             multipart/form-data."
        ),
        "{}",
        plain.text()
    );
    documented(&plain, "/v1/scans", "post", "unsupported_media_type");
    let bare = scan(Body::None, &[]);
    assert_eq!(bare.status, 415, "{}", bare.text());
    assert!(
        bare.text().contains(
            "The request has no Content-Type: send the body as application/json or \
             multipart/form-data."
        ),
        "{}",
        bare.text()
    );

    // Compressed bodies: gzip is decoded; the 8 MiB limit counts decoded
    // bytes, so 12 MiB of JSON squeezed into a few kB is refused; a coding
    // serve does not decode is 415, naming what it does.
    let gzip_json = |body: &[u8]| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(body).unwrap();
        Body::Raw("application/json".into(), encoder.finish().unwrap())
    };
    let image = json!({"image_data": base64(&sharp_png(4))}).to_string();
    let gzipped = scan(gzip_json(image.as_bytes()), &[("content-encoding", "gzip")]);
    assert_eq!(gzipped.status, 201, "{}", gzipped.text());
    let mut bomb = br#"{"image_data":""#.to_vec();
    bomb.resize(12 << 20, b' ');
    bomb.extend(br#""}"#);
    let bomb = scan(gzip_json(&bomb), &[("content-encoding", "gzip")]);
    status_code_error(
        &bomb,
        413,
        "The request body exceeds the limit of 8388608 bytes.",
    );
    let brotli = scan(
        Body::Raw("application/json".into(), b"{}".to_vec()),
        &[("content-encoding", "br")],
    );
    assert_eq!(brotli.status, 415, "{}", brotli.text());
    assert_eq!(brotli.header("accept-encoding"), "gzip, deflate");
    // The per-IP limit counted it: a refused coding is no way around it.
    assert!(
        brotli.header("ratelimit").contains("\"per-ip\""),
        "{:?}",
        brotli.headers
    );
    documented(&brotli, "/v1/scans", "post", "unsupported_media_type");

    // Seed 001's 429: 100 calls per 60 s per key (a fresh key, so counted from 0).
    let fresh = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "demo",
            "--scopes",
            "scans:read",
            "--database",
            &db,
        ],
    ));
    let mut limited = None;
    for sent in 1..=150 {
        let a = http.get(
            &server.url("/v1/scans/scan_nope"),
            &[("x-api-key", fresh.as_str())],
        );
        if a.status == 429 {
            limited = Some((sent, a));
            break;
        }
        assert_eq!(a.status, 404);
    }
    let (sent, limited) = limited.expect("429 within 150 calls");
    // The 101st, unless the test ran slower than a call per 600 ms.
    assert!((101..=103).contains(&sent), "refused after {sent} calls");
    let details = status_code_error(&limited, 429, "Too Many Requests: Rate limit exceeded");
    // Seed 001's catalog documents no details for this code, so the limiter
    // adds none (its message names no numbers).
    assert_eq!(details, serde_json::Value::Null);
    let retry_after = limited.json()["error"]["retry_after"].as_u64().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(limited.header("retry-after"), retry_after.to_string());
    assert!(
        limited
            .header("ratelimit-policy")
            .contains("\"per-key\";q=100;w=60")
    );
    documented(&limited, "/v1/scans/{id}", "get", "rate_limit_exceeded");
    // Another key is not limited by it.
    let fine = http.get(
        &server.url("/v1/scans/scan_nope"),
        &[("x-api-key", other.as_str())],
    );
    assert_eq!(fine.status, 404);
}

/// The seed 004 error bodies, exactly as that API's docs print them.
fn envelope_error(message: &str, key: &str) -> Value {
    json!({"data": null, "success": false, "message": message, "errors": [{ key: [message] }]})
}

fn frames(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"t": i * 40, "brightness": if i % 2 == 0 { 110 } else { 130 }}))
        .collect()
}

#[test]
fn detections_and_credits_answer_as_seed_004_in_the_envelope_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dialect = Dialect::Envelope;
    let server = Server::start(
        d,
        &[
            "--dialect",
            "envelope",
            "--catalog",
            &catalog("004-detection.toml"),
        ],
    );
    let key = server.key.clone().unwrap();
    let db = server.database.clone();
    let http = Http::new();
    let doc = http.get(&server.url("/openapi.json"), &[]).json();
    let detect = |key: &str, body: Value| {
        http.send(
            "POST",
            &server.url("/v1/detections"),
            &[("x-api-key", key)],
            Body::Json(body),
        )
    };
    let check = |a: &Answer, status: u16, code: &str, body: Value| {
        assert_eq!(a.status, status, "{}", a.text());
        assert_eq!(a.json(), body);
        assert_eq!(a.header("x-error-code"), code);
        assert!(!a.header("x-request-id").is_empty());
        assert_documented(&doc, "post", "/v1/detections", dialect, status, code);
    };

    let five = detect(
        &key,
        json!({"session_id": "s_1", "model": "mixed-10-v2", "frames": frames(5)}),
    );
    let message = "Insufficient frames. Model \"10\" requires 10 frames, received 5.";
    check(
        &five,
        400,
        "insufficient_frames",
        envelope_error(message, "insufficient_frames"),
    );
    // A session id of 40 characters in 160 bytes is within its 128 characters.
    let emoji = "🎞".repeat(40);
    let wide = detect(
        &key,
        json!({"session_id": emoji, "model": "mixed-10-v2", "frames": frames(5)}),
    );
    assert_eq!(
        wide.header("x-error-code"),
        "insufficient_frames",
        "{}",
        wide.text()
    );
    let twelve = detect(
        &key,
        json!({"session_id": "s_1", "model": "mixed-30-v2", "frames": frames(12)}),
    );
    let message = "Insufficient frames. Model \"30\" requires 30 frames, received 12.";
    check(
        &twelve,
        400,
        "insufficient_frames",
        envelope_error(message, "insufficient_frames"),
    );

    let no_session = json!({"model": "mixed-10-v2", "frames": frames(10)});
    let body = envelope_error("session_id is required", "session_id");
    check(
        &detect(&key, no_session.clone()),
        400,
        "missing_field",
        body,
    );
    // Asked for problem details, the field is a member, as the document's
    // example shows it: no `errors` list beside it.
    let problem = http.send(
        "POST",
        &server.url("/v1/detections"),
        &[("x-api-key", &key), ("accept", "application/problem+json")],
        Body::Json(no_session),
    );
    assert_eq!(problem.header("content-type"), "application/problem+json");
    assert_eq!(problem.json()["field"], "session_id", "{}", problem.text());
    assert!(problem.json().get("errors").is_none(), "{}", problem.text());

    let bad_frame = detect(
        &key,
        json!({"session_id": "s_1", "frames": [{"t": 0, "brightness": 1}, {"t": "late", "brightness": 2}]}),
    );
    assert_eq!(bad_frame.status, 400);
    assert_eq!(bad_frame.header("x-error-code"), "validation_error");
    let errors = &bad_frame.json()["errors"][0];
    assert!(errors["frames[1].t"].is_array(), "{errors}");
    let mut backwards = frames(10);
    backwards[3]["t"] = json!(0);
    let backwards = detect(&key, json!({"session_id": "s_1", "frames": backwards}));
    assert_eq!(
        backwards.json()["errors"],
        json!([{"frames[3].t": ["must be greater than the previous frame's t"]}])
    );

    // At most 20 violations, though every frame has two; a long model name
    // is not repeated back.
    let every_frame_wrong: Vec<_> = (0..30)
        .map(|i| json!({"t": 100 - i, "brightness": 300}))
        .collect();
    let many = detect(
        &key,
        json!({"session_id": "s_1", "frames": every_frame_wrong}),
    );
    assert_eq!(many.json()["errors"].as_array().map(Vec::len), Some(20));
    let long_name = "m".repeat(100_000);
    let unknown = detect(
        &key,
        json!({"session_id": "s_1", "model": long_name, "frames": frames(10)}),
    );
    assert_eq!(unknown.header("x-error-code"), "validation_error");
    assert!(unknown.text().len() < 1000, "{}", unknown.text().len());
    // Every field's mistake is told at once, before the frame count (five
    // of ten here) is checked.
    let mut backwards = frames(5);
    backwards[3]["t"] = json!(0);
    let all = detect(
        &key,
        json!({"session_id": " ", "model": "mixed-99", "frames": backwards}),
    );
    assert_eq!(all.header("x-error-code"), "validation_error");
    assert_eq!(
        all.json()["errors"],
        json!([
            {"session_id": ["must be 1–128 characters"]},
            {"model": ["unknown model: expected mixed-10-v2 or mixed-30-v2"]},
            {"frames[3].t": ["must be greater than the previous frame's t"]},
        ])
    );

    let ok = detect(&key, json!({"session_id": "s_1", "frames": frames(10)}));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "OK");
    assert_eq!(body["data"]["model"], "mixed-10-v2");
    assert_eq!(body["data"]["frames"], 10);
    assert_eq!(body["data"]["live"], true);

    let invalid = detect("tg_live_nope", json!({}));
    check(
        &invalid,
        401,
        "invalid_key",
        envelope_error("Not authenticated", "invalid_key"),
    );
    // Seed 004 has one 401 for a key that is wrong, expired or not sent:
    // its catalog sends a revoked key's as `invalid_key`, and the challenge
    // does not tell the key's state either.
    let revoked = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "demo",
            "--scopes",
            "detections:write",
            "--database",
            &db,
        ],
    ));
    last_line(&tollgate(
        d,
        &["keys", "revoke", &revoked, "--database", &db],
    ));
    let gone = detect(&revoked, json!({}));
    check(
        &gone,
        401,
        "invalid_key",
        envelope_error("Not authenticated", "invalid_key"),
    );
    assert_eq!(
        gone.header("www-authenticate"),
        r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#
    );
    assert!(!doc.to_string().contains("deactivated_key"));

    // Credits: an empty account, then a suspended one.
    last_line(&tollgate(
        d,
        &["accounts", "create", "broke", "--database", &db],
    ));
    let broke = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "broke",
            "--scopes",
            "detections:write",
            "--database",
            &db,
        ],
    ));
    let poor = detect(&broke, json!({"session_id": "s_1", "frames": frames(10)}));
    let message = "Insufficient credits. Required: 1, available: 0";
    check(
        &poor,
        402,
        "insufficient_credits",
        envelope_error(message, "insufficient_credits"),
    );
    last_line(&tollgate(
        d,
        &["accounts", "credit", "broke", "3", "--database", &db],
    ));
    last_line(&tollgate(
        d,
        &["accounts", "suspend", "broke", "--database", &db],
    ));
    let suspended = detect(&broke, json!({"session_id": "s_1", "frames": frames(10)}));
    let message =
        "Your account is suspended due to a payment issue. Please update your payment method.";
    check(
        &suspended,
        402,
        "account_suspended",
        envelope_error(message, "account_suspended"),
    );
    // Authentication refuses it on every keyed route, the free ones too.
    let read = http.get(
        &server.url("/v1/scans/scan_nope"),
        &[("x-api-key", broke.as_str())],
    );
    assert_eq!(read.status, 402, "{}", read.text());
    assert_eq!(read.json(), envelope_error(message, "account_suspended"));
    assert_documented(
        &doc,
        "get",
        "/v1/scans/{id}",
        dialect,
        402,
        "account_suspended",
    );

    let scans_only = last_line(&tollgate(
        d,
        &[
            "keys",
            "create",
            "--account",
            "demo",
            "--scopes",
            "scans:write",
            "--database",
            &db,
        ],
    ));
    let forbidden = detect(
        &scans_only,
        json!({"session_id": "s_1", "frames": frames(10)}),
    );
    let message = "API key lacks required scope: detections:write";
    check(
        &forbidden,
        403,
        "insufficient_scope",
        envelope_error(message, "insufficient_scope"),
    );

    // The rate limit, on a fresh key: seed 004's wording.
    let mut limited = None;
    for _ in 0..150 {
        let a = detect(&scans_only, json!({}));
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 403);
    }
    let limited = limited.expect("429 within 150 calls");
    let message = "Rate limit exceeded. Please try again later.";
    check(
        &limited,
        429,
        "rate_limit_exceeded",
        envelope_error(message, "rate_limit_exceeded"),
    );
    assert!(!limited.header("retry-after").is_empty());
}

#[test]
fn the_error_reference_and_openapi_describe_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();

    let page = http.get(&server.url("/errors"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(
        page.header("content-security-policy"),
        tollgate::docs::HTML_CONTENT_SECURITY_POLICY
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    let html = page.text();
    for code in [
        "input_format_error",
        "low_confidence",
        "insufficient_frames",
        "rate_limit_exceeded",
    ] {
        assert!(html.contains(&format!("<section id=\"{code}\"")), "{code}");
    }
    let found = http.get(&server.url("/errors?q=frames"), &[]).text();
    assert!(found.contains("id=\"insufficient_frames\""));
    assert!(!found.contains("id=\"low_confidence\""));
    // A repeated `q` is one search for the words of all.
    let both = http.get(&server.url("/errors?q=rate&q=limit"), &[]);
    assert_eq!(both.status, 200, "{}", both.text());
    assert!(both.text().contains("id=\"rate_limit_exceeded\""));
    assert!(!both.text().contains("id=\"insufficient_frames\""));

    // An error's `type` is an anchor of the page.
    let key = server.key.clone().unwrap();
    let flat = gray_png(8, 8, |_, _| 90);
    let low = http.send(
        "POST",
        &server.url("/v1/scans"),
        &[("x-api-key", key.as_str())],
        Body::Json(json!({"image_data": base64(&flat)})),
    );
    assert_eq!(low.status, 422);
    assert_eq!(low.header("content-type"), "application/problem+json");
    let body = low.json();
    assert_eq!(body["type"], "/errors#low_confidence");
    assert_eq!(body["confidence"], 0.0);

    let answer = http.get(&server.url("/openapi.json"), &[]);
    assert_eq!(answer.header("content-type"), "application/json");
    let doc = answer.json();
    let schema: Value = serde_json::from_str(include_str!(
        "../../tollgate/tests/data/oas-3.1-schema.json"
    ))
    .unwrap();
    let oas = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = oas
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(problems, Vec::<String>::new());
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "GET /errors",
            "GET /openapi.json",
            "GET /v1/scans/{id}",
            "POST /v1/detections",
            "POST /v1/scans"
        ]
    );
    // The middleware's errors, on every keyed route.
    for (method, path) in [
        ("post", "/v1/scans"),
        ("get", "/v1/scans/{id}"),
        ("post", "/v1/detections"),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for status in ["401", "403", "413", "429", "500", "504"] {
            assert!(responses[status].is_object(), "{method} {path}: {status}");
        }
        assert_eq!(
            doc["paths"][path][method]["security"][0]["bearerAuth"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
    for (method, path) in [("post", "/v1/scans"), ("post", "/v1/detections")] {
        assert!(doc["paths"][path][method]["responses"]["415"].is_object());
        assert!(doc["paths"][path][method]["responses"]["402"].is_object());
    }
    assert_eq!(doc["paths"]["/errors"]["get"]["security"], json!([]));
    // A coding serve does not decode is refused on every route, bodiless
    // GETs and public routes too, as documented.
    for (path, route) in [
        ("/v1/scans/scan_nope", "/v1/scans/{id}"),
        ("/openapi.json", "/openapi.json"),
        ("/errors", "/errors"),
    ] {
        let refused = http.get(&server.url(path), &[("content-encoding", "br")]);
        assert_eq!(refused.status, 415, "{path}: {}", refused.text());
        assert_eq!(refused.header("x-error-code"), "unsupported_media_type");
        assert_documented(
            &doc,
            "get",
            route,
            Dialect::Problem,
            415,
            "unsupported_media_type",
        );
    }
    let simulate = &doc["paths"]["/v1/scans"]["post"]["parameters"];
    assert!(
        simulate
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "x-simulate")
    );

    // The documented detection example succeeds as documented.
    let example = doc["paths"]["/v1/detections"]["post"]["requestBody"]["content"]["application/json"]["example"].clone();
    let ok = http.send(
        "POST",
        &server.url("/v1/detections"),
        &[("x-api-key", key.as_str())],
        Body::Json(example),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
}

/// What the document allows is taken, and what it rules out refused: a
/// detection's body and `Idempotency-Key` are accepted exactly when the
/// documented schemas say they are valid.
#[test]
fn requests_are_accepted_exactly_as_the_document_describes_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server.key.clone().unwrap();
    let http = Http::new();
    let doc = http.get(&server.url("/openapi.json"), &[]).json();
    let operation = &doc["paths"]["/v1/detections"]["post"];
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let body_schema = jsonschema::validator_for(schema).unwrap();
    let header = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    let header_schema = jsonschema::validator_for(&header["schema"]).unwrap();
    let detect = |headers: &[(&str, &str)], body: &Value| {
        let mut all = vec![("x-api-key", key.as_str())];
        all.extend_from_slice(headers);
        http.send(
            "POST",
            &server.url("/v1/detections"),
            &all,
            Body::Json(body.clone()),
        )
    };
    let times = |t: &dyn Fn(usize) -> Value| -> Value {
        (0..10)
            .map(|i| json!({"t": t(i), "brightness": 120}))
            .collect()
    };
    let session = |id: String| json!({"session_id": id, "frames": frames(10)});
    let bodies = [
        session("s_1".into()),
        session(" s_1 ".into()),
        session(format!(" {} ", "s".repeat(128))),
        session("s".repeat(129)),
        session(" \t ".into()),
        session(String::new()),
        json!({"session_id": "s_1", "model": null, "frames": frames(10)}),
        json!({"session_id": "s_1", "model": "mixed-99", "frames": frames(10)}),
        json!({"session_id": "s_1", "frames": times(&|i| json!(i as f64 * 40.0))}),
        json!({"session_id": "s_1", "frames": times(&|i| json!(i as f64 * 40.0 + 0.5))}),
        json!({"session_id": "s_1", "frames": times(&|i| json!(u64::MAX - 9 + i as u64))}),
        json!({"session_id": "s_1", "frames": times(&|i| json!(-(i as i64) - 1))}),
    ];
    for body in &bodies {
        let answer = detect(&[], body);
        assert_eq!(
            answer.status == 200,
            body_schema.is_valid(body),
            "{body}: {} {}",
            answer.status,
            answer.text()
        );
    }
    let idempotency_keys = [
        "k-1",
        "a b",
        "\u{7e}".repeat(255).as_str(),
        "k".repeat(256).as_str(),
    ]
    .map(str::to_owned);
    for (i, idempotency_key) in idempotency_keys.iter().enumerate() {
        let body = session(format!("s_{i}"));
        let answer = detect(&[("idempotency-key", idempotency_key)], &body);
        assert_eq!(
            answer.status == 200,
            header_schema.is_valid(&json!(idempotency_key)),
            "{idempotency_key:?}: {} {}",
            answer.status,
            answer.text()
        );
    }
}

/// A `Transfer-Encoding` other than one `chunked` is refused before routing,
/// on every route, public ones and bodiless GETs too, as documented.
#[test]
fn an_undecoded_transfer_coding_is_a_documented_refusal_on_every_route() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let doc = Http::new().get(&server.url("/openapi.json"), &[]).json();
    let addr = server.base.trim_start_matches("http://");
    for (method, path, route) in [
        ("GET", "/openapi.json", "/openapi.json"),
        ("GET", "/errors", "/errors"),
        ("GET", "/v1/scans/scan_nope", "/v1/scans/{id}"),
        ("POST", "/v1/scans", "/v1/scans"),
        ("POST", "/v1/detections", "/v1/detections"),
    ] {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: gzip, chunked\r\n\
             connection: close\r\n\r\n0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let answer = String::from_utf8_lossy(&raw).to_lowercase();
        assert!(
            answer.starts_with("http/1.1 400 ")
                && answer.contains("\r\nx-error-code: malformed_request\r\n"),
            "{method} {path}: {answer}"
        );
        assert_documented(
            &doc,
            &method.to_lowercase(),
            route,
            Dialect::Problem,
            400,
            "malformed_request",
        );
    }
}

#[test]
fn a_request_head_trickled_past_the_deadline_is_cut_off() {
    use std::io::{ErrorKind, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "1s"]);
    let addr = server.base.trim_start_matches("http://");
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    slow.write_all(b"GET /errors HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    // A header every 200 ms: the client is never idle, its head never ends.
    let cut_off = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the connection is still open"
        );
        let _ = slow.write_all(b"x-slow: 1\r\n");
        let mut buf = [0; 256];
        match slow.read(&mut buf) {
            Ok(_) => break started.elapsed(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(cut_off >= Duration::from_millis(900), "{cut_off:?}");
    // A client that sends its head at once is served as before.
    let http = Http::new();
    assert_eq!(http.get(&server.url("/errors"), &[]).status, 200);
}

/// serve speaks HTTP/1 only: a connection that opens with the HTTP/2
/// preface is closed unanswered, at once, and the server serves on.
#[test]
fn an_http2_preface_is_closed_unanswered() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "60s"]);
    let addr = server.base.trim_start_matches("http://");
    let mut h2 = std::net::TcpStream::connect(addr).unwrap();
    h2.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = h2.read_to_end(&mut answer);
    assert!(read.is_ok() && answer.is_empty(), "{read:?}: {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(Http::new().get(&server.url("/errors"), &[]).status, 200);
}

#[test]
fn half_a_request_head_is_cut_off_within_seconds_whatever_the_timeout() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "60s"]);
    let addr = server.base.trim_start_matches("http://");
    let mut half = std::net::TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    half.write_all(b"GET /errors HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    // Closed (or answered 408) by the server, not by the read timeout.
    let mut buf = [0; 256];
    let read = half.read(&mut buf);
    let cut_off = started.elapsed();
    assert!(
        cut_off < Duration::from_secs(10),
        "still open after {cut_off:?}: {read:?}"
    );
}

/// A body whose `Transfer-Encoding` names a coding before `chunked`
/// (`gzip, chunked`) reaches the server with that coding still on it: hyper
/// decodes `chunked` alone. It is refused in the envelope, not read as plain
/// JSON and charged; `chunked` alone is served.
#[test]
fn a_body_under_a_transfer_coding_besides_chunked_is_refused_uncharged() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server.key.clone().unwrap();
    let addr = server.base.trim_start_matches("http://");
    let body =
        json!({"session_id": "s_1", "model": "mixed-10-v2", "frames": frames(10)}).to_string();
    let send = |codings: &str| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let request = format!(
            "POST /v1/detections HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ntransfer-encoding: {codings}\r\n\
             connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).to_lowercase()
    };
    let before = balance(dir.path(), &server.database, "demo");
    for codings in ["gzip, chunked", "chunked, chunked"] {
        let answer = send(codings);
        assert!(
            answer.starts_with("http/1.1 400 ")
                && answer.contains("\r\nx-error-code: malformed_request\r\n")
                && answer.contains("\r\ncontent-type: application/problem+json\r\n")
                && answer.contains("\r\nx-request-id: "),
            "{codings}: {answer}"
        );
    }
    assert_eq!(balance(dir.path(), &server.database, "demo"), before);
    let answer = send("chunked");
    assert!(answer.starts_with("http/1.1 200 "), "{answer}");
    assert_eq!(balance(dir.path(), &server.database, "demo"), before - 1);
}

/// Seed 002's API, served as its docs show it: FastAPI's `detail` for the
/// framework's errors, the middleware's `coded` envelope for its rate
/// limit (`sent_in`), and, its docs knowing no problem details, no
/// `application/problem+json` for a client that asks (nor in the document).
#[test]
fn seed_002_answers_in_two_shapes_and_no_problem_details_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let extraction = catalog("002-extraction.toml");
    let server = Server::start(
        dir.path(),
        &[
            "--dialect",
            "detail",
            "--catalog",
            &extraction,
            "--problem-on-accept",
            "false",
        ],
    );
    let key = server.key.clone().unwrap();
    let http = Http::new();
    let asks = [
        ("x-api-key", key.as_str()),
        ("accept", "application/problem+json"),
    ];
    let missing = http.get(&server.url("/v1/scans/nope"), &asks);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), "application/json");
    assert!(missing.json()["detail"].is_string(), "{}", missing.json());
    let mut limited = None;
    for _ in 0..120 {
        let answer = http.get(&server.url("/v1/scans/nope"), &asks);
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the per-key limit refuses within 120 requests");
    assert_eq!(limited.header("content-type"), "application/json");
    assert_eq!(limited.header("x-error-code"), "RATE_LIMIT_ERROR");
    assert!(!limited.header("retry-after").is_empty());
    let body = limited.json();
    assert_eq!(
        body["error"],
        json!({
            "code": "RATE_LIMIT_ERROR",
            "message": "Rate limit exceeded: 100 calls per 60 seconds",
            "details": {}
        })
    );
    assert_eq!(body["request_id"], limited.header("x-request-id"));
    let doc = http.get(&server.url("/openapi.json"), &[]);
    let text = String::from_utf8_lossy(&doc.body);
    assert!(!text.contains("application/problem+json"), "{text}");
    let doc = doc.json();
    assert!(doc["components"]["schemas"]["CodedError"].is_object());
    assert!(doc["components"]["schemas"].get("Problem").is_none());
}

/// Ctrl-C while a request runs: the request is answered (504) or dropped
/// at the end of the wait, and either way its credit is given back before
/// the process ends.
#[test]
fn a_request_cut_off_by_the_stop_is_not_charged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "1s"]);
    let key = server.key.clone().unwrap();
    let url = server.url("/v1/scans");
    let image = json!({"image_data": base64(&sharp_png(3))});
    let slow = std::thread::spawn(move || {
        Http::new().send(
            "POST",
            &url,
            &[("x-api-key", key.as_str()), ("x-simulate", "model-timeout")],
            Body::Json(image),
        )
    });
    // Until the request is inside the handler, its credit taken.
    let database = server.database.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while balance(dir.path(), &database, "demo") != 999 {
        assert!(Instant::now() < deadline, "the request was never charged");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, after) = server.interrupt();
    assert!(status.success(), "{status}: {after}");
    let _ = slow.join();
    assert_eq!(balance(dir.path(), &database, "demo"), 1000);
}

/// A second Ctrl-C stops at once (130), not after the requests in flight.
#[cfg(unix)]
#[test]
fn a_second_ctrl_c_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--timeout", "30s"]);
    let key = server.key.clone().unwrap();
    let url = server.url("/v1/scans");
    let image = json!({"image_data": base64(&sharp_png(4))});
    std::thread::spawn(move || {
        Http::new().send(
            "POST",
            &url,
            &[("x-api-key", key.as_str()), ("x-simulate", "model-timeout")],
            Body::Json(image),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    let interrupt = || {
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
    };
    interrupt();
    // Until the first has been taken, and the second listened for.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("Ctrl-C again") {
        assert!(Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Again until it stops (the second listener starts a moment after the
    // message), well before the request's 30 s.
    let stopped = Instant::now() + Duration::from_secs(10);
    let status = loop {
        interrupt();
        std::thread::sleep(Duration::from_millis(200));
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < stopped,
            "still running after a second Ctrl-C"
        );
    };
    assert_eq!(status.code(), Some(130), "{}", server.stderr());
}

#[test]
fn the_database_named_by_the_environment_yields_to_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere.db");
    let from_env = format!("sqlite://{}", elsewhere.display());
    let env = [("TOLLGATE_DATABASE_URL", from_env.as_str())];
    // Alone, the variable names the database.
    let server = Server::spawn_with_env(dir.path(), &[], &env, from_env.clone());
    assert!(server.banner.contains(&from_env), "{}", server.banner);
    assert!(elsewhere.exists());
    assert!(!dir.path().join("tollgate.db").exists());
    drop(server);
    // `--data-dir` on the command line wins over it.
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().unwrap()];
    let database = format!("sqlite://{}", data.join("tollgate.db").display());
    let server = Server::spawn_with_env(dir.path(), &args, &env, database);
    assert!(data.join("tollgate.db").exists(), "{}", server.banner);
    assert!(server.key.is_some(), "a new database: {}", server.banner);
}

/// SQLite goes on writing to a file removed under it, and says nothing:
/// serve says it, and again once the file is back.
#[cfg(unix)]
#[test]
fn a_database_file_removed_while_serving_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().unwrap()];
    let database = format!("sqlite://{}", data.join("tollgate.db").display());
    let server = Server::spawn(dir.path(), &args, database);
    let moved = dir.path().join("moved");
    std::fs::rename(&data, &moved).unwrap();
    let waited_for = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.stderr().contains(text) {
            assert!(Instant::now() < deadline, "{}", server.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    waited_for("the database file was removed or replaced while serve runs");
    std::fs::rename(&moved, &data).unwrap();
    waited_for("the database file is back");
}

#[test]
fn a_demo_account_without_a_key_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    let created = tollgate(
        dir.path(),
        &["accounts", "create", "demo", "--credits", "7"],
    );
    assert!(created.status.success(), "{created:?}");
    let server = Server::start(dir.path(), &[]);
    assert!(
        server
            .banner
            .contains("\"demo\" (7 credits) had no key; created one"),
        "{}",
        server.banner
    );
    let key = server.key.clone().expect("the new key is printed");
    let http = Http::new();
    let read = http.get(&server.url("/v1/scans/scan_nope"), &[("x-api-key", &key)]);
    assert_eq!(read.status, 404, "the key works: {}", read.text());
    drop(server);
    let again = Server::spawn(dir.path(), &["--data-dir", "."], database);
    assert_eq!(again.key, None, "{}", again.banner);
}

#[cfg(unix)]
#[test]
fn a_new_data_directory_and_database_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let database = format!("sqlite://{}", data.join("tollgate.db").display());
    let args = ["--data-dir", data.to_str().unwrap()];
    let server = Server::spawn(dir.path(), &args, database.clone());
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tollgate.db")), 0o600);
    drop(server);
    // An existing database keeps its mode, and its rows.
    let db = data.join("tollgate.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let again = Server::spawn(dir.path(), &args, database);
    assert_eq!(mode(&db), 0o640);
    assert!(again.key.is_none(), "{}", again.banner);
}

#[test]
fn a_client_that_never_reads_neither_holds_its_connection_nor_stops_shutdown() {
    use std::io::{ErrorKind, Read, Write};
    const REQUESTS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "1s"]);
    let addr = server.base.trim_start_matches("http://");
    let page = Http::new().get(&server.url("/errors"), &[]).body.len();
    // Requests pipelined, their answers (the reference page, tens of KiB
    // each) never read: the server's writes stall once the socket is full.
    let greedy = || {
        let mut greedy = std::net::TcpStream::connect(addr).unwrap();
        greedy
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for _ in 0..REQUESTS {
            if greedy
                .write_all(b"GET /errors HTTP/1.1\r\nhost: x\r\n\r\n")
                .is_err()
            {
                break;
            }
        }
        greedy
    };

    // Once a write has made no progress for the deadline, the server closes
    // the connection: the client finds what was sent before, then the end,
    // and far from every answer.
    // Reading before the server has cut it would let its writes go on: wait
    // well past the deadline (1 s) first, loaded machines included.
    let mut stalled = greedy();
    std::thread::sleep(Duration::from_secs(6));
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0; 64 << 10];
    let mut received = 0;
    let started = Instant::now();
    let closed = loop {
        match stalled.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            // Reset: the server closed with requests it never read.
            Err(_) => break true,
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
    };
    assert!(closed, "still open after {received} bytes");
    assert!(
        received < REQUESTS * page,
        "{received} bytes: every answer was written, the connection was not cut"
    );

    // Another such client does not hold up the shutdown.
    let waiting = greedy();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (status, _) = server.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for a client that never reads",
        started.elapsed()
    );
    drop(waiting);
}

/// A client that sends its whole body before reading the answer (curl
/// without `Expect:`, most libraries) gets the 413 answered from the
/// headers, not a connection reset under the upload it is still sending.
#[test]
fn a_body_over_the_limit_sent_whole_before_reading_still_gets_its_413() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server.key.clone().unwrap();
    let addr = server.base.trim_start_matches("http://");
    // 4 MiB past the 8 MiB limit: more than the socket buffers hold.
    let length = (8 << 20) + (4 << 20);
    let chunk = vec![b' '; 64 << 10];
    for attempt in 0..3 {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let head = format!(
            "POST /v1/scans HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The whole body, whatever the server does meanwhile: a client that
        // stops at a failed write reports it ("connection reset", "broken
        // pipe") and never reads the answer.
        let mut sent = 0;
        let written = loop {
            if sent >= length {
                break Ok(());
            }
            if let Err(e) = stream.write_all(&chunk) {
                break Err(e);
            }
            sent += chunk.len();
        };
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(
            written.is_ok() && text.starts_with("HTTP/1.1 413 "),
            "attempt {attempt}: {sent} bytes sent ({written:?}), then {read:?}: {text:?}"
        );
    }
}

#[test]
fn connections_past_the_cap_wait_for_a_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--timeout", "5s"]);
    let addr = server.base.trim_start_matches("http://");
    // `tollgate_axum::MAX_CONNECTIONS` idle sockets: the server holds each until
    // its head deadline (5 s) closes it.
    let opened = Instant::now();
    let idle: Vec<_> = (0..512)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let started = Instant::now();
    let answer = Http::new().get(&server.url("/errors"), &[]);
    let served = opened.elapsed();
    assert_eq!(answer.status, 200);
    // Served once the first idle socket's deadline freed a place (opening
    // them all may itself take a while: the kernel's backlog).
    assert!(
        served >= Duration::from_millis(4500),
        "served {served:?} after the first idle socket, {:?} after asking",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn a_start_that_cannot_listen_leaves_the_demo_key_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let failed = common::tollgate_command()
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (named by --listen)")),
        "{stderr}"
    );
    assert!(
        stderr.contains("pass --listen with another port"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("tollgate.db").exists(),
        "a failed start leaves no database"
    );
    // Nor a data directory it would have made: not when it cannot listen,
    // nor when its catalog is broken.
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("broken.toml"), "x = \n").unwrap();
    for args in [&["--listen", &addr][..], &["--catalog", "broken.toml"]] {
        let failed = common::tollgate_command()
            .current_dir(dir.path())
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(failed.status.code(), Some(2), "{args:?}");
        assert!(
            !data.exists(),
            "{args:?}: a failed start makes no data directory"
        );
    }
    // The next start is the first to make the demo key, and shows it.
    let server = Server::start(dir.path(), &[]);
    assert!(server.key.is_some(), "{}", server.banner);
}

/// A database path that is a directory, or in a directory that does not
/// exist, is named with what is wrong with it: not as SQLite's "unable to
/// open database file"; and nothing is made on the way.
#[test]
fn a_database_path_that_is_a_directory_or_in_none_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("tollgate.db")).unwrap();
    let shown = |path: &std::path::Path| path.display().to_string();
    let cases = [
        (
            vec![
                "--database".to_owned(),
                format!("sqlite://{}", shown(&data)),
            ],
            format!("{} is a directory, not a database file", shown(&data)),
        ),
        // The data directory's database file is a directory.
        (
            vec!["--data-dir".to_owned(), shown(&data)],
            format!(
                "{} is a directory, not a database file",
                shown(&data.join("tollgate.db"))
            ),
        ),
        (
            vec![
                "--database".to_owned(),
                "sqlite://gone/tollgate.db".to_owned(),
            ],
            "no such directory: gone".to_owned(),
        ),
    ];
    for (args, why) in cases {
        let failed = common::tollgate_command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&why), "{args:?}: {stderr}");
        assert!(stderr.contains("(named by --"), "{args:?}: {stderr}");
        assert!(!stderr.contains("unable to open"), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("gone").exists());
}

#[test]
fn a_demo_key_nobody_could_read_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    // Stdout is a pipe whose reader is gone before serve starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = common::tollgate_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let failed = exited(child, "serve kept running without its banner");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("it was revoked"), "{stderr}");
    let database = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    let list = tollgate(dir.path(), &["keys", "list", "--database", &database]);
    let list = String::from_utf8_lossy(&list.stdout);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(rows[0].contains("deactivated"), "{list}");
}

/// With stdout discarded (`> /dev/null`) serve runs, but makes no demo key,
/// which would be shown nowhere: stderr says so and how to make one, and
/// the next start whose stdout is shown makes it.
#[cfg(unix)]
#[test]
fn a_start_with_stdout_discarded_makes_no_demo_key() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("serve.stderr");
    let mut child = common::tollgate_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let said = loop {
        let said = std::fs::read_to_string(&stderr).unwrap_or_default();
        if said.contains("demo key") {
            break said;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve stopped ({status}): {said}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve said nothing about the demo key: {said}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Still serving.
    assert!(child.try_wait().unwrap().is_none(), "{said}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        said.contains("stdout is discarded (/dev/null): no demo key was made"),
        "{said}"
    );
    assert!(
        said.contains("tollgate keys create --account demo --scopes"),
        "{said}"
    );
    let database = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    let list = tollgate(dir.path(), &["keys", "list", "--database", &database]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.lines().count(), 1, "no key was made: {list}");
    let server = Server::start(dir.path(), &[]);
    assert!(
        server
            .banner
            .contains("\"demo\" (1000 credits) had no key; created one"),
        "{}",
        server.banner
    );
    assert!(server.key.is_some(), "{}", server.banner);
}

#[test]
fn first_and_later_starts_config_files_and_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A config file: the dialect and a data directory relative to the file.
    std::fs::create_dir(d.join("etc")).unwrap();
    std::fs::write(
        d.join("etc/tollgate.toml"),
        "# serve's settings\ndialect = \"coded\"\ndata_dir = \"../data\"\ntimeout = \"5s\"\n",
    )
    .unwrap();
    let config = d.join("etc/tollgate.toml").display().to_string();
    let first = Server::start_with_config(d, &config, &[]);
    assert!(
        d.join("data/tollgate.db").is_file(),
        "the SQLite file is created on first start"
    );
    let key = first.key.clone().expect("the first start prints the key");
    assert!(
        first.banner.contains("dialect      coded"),
        "{}",
        first.banner
    );
    let http = Http::new();
    let unknown = http.get(&first.url("/nowhere"), &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json()["error"]["code"],
        "not_found",
        "the coded dialect"
    );
    assert_eq!(unknown.json()["request_id"], unknown.header("x-request-id"));
    let (status, after) = first.interrupt();
    assert!(status.success(), "Ctrl-C is a clean stop: {status}");
    assert!(after.contains("stopped"), "{after}");

    // A later start: no new key, and the first one still works; a flag
    // overrides the file.
    let later = Server::start_with_config(d, &config, &["--dialect", "meta"]);
    assert_eq!(later.key, None);
    assert!(later.banner.contains("exists"), "{}", later.banner);
    // The command as a shell reaches it: `tollgate` when on the PATH,
    // else this build's path (not on the PATH here unless installed).
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_tollgate")).unwrap();
    let by_path = format!("export KEY=$({} keys create --account demo", exe.display());
    assert!(
        later.banner.contains(&by_path)
            || later
                .banner
                .contains("export KEY=$(tollgate keys create --account demo"),
        "{}",
        later.banner
    );
    let answer = http.get(
        &later.url("/v1/scans/scan_nope"),
        &[("x-api-key", key.as_str())],
    );
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.json()["meta"]["request_id"],
        answer.header("x-request-id")
    );
    drop(later);

    // A broken config file: exit 2, the file and line named.
    std::fs::write(
        d.join("etc/tollgate.toml"),
        "dialect = \"coded\"\nport = 8080\n",
    )
    .unwrap();
    let output = tollgate(d, &["serve", "--config", &config]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{config}:2:1")), "{stderr}");
    assert!(stderr.contains("unknown field `port`"), "{stderr}");
    // ./tollgate.toml is read when present.
    std::fs::write(d.join("tollgate.toml"), "dialect = \"soap\"\n").unwrap();
    let output = tollgate(d, &["serve"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tollgate.toml:1:11"), "{stderr}");
    // Bytes that are not text, and a file without end: named, never read whole.
    std::fs::write(d.join("tollgate.toml"), b"dialect = \"meta\"\n# caf\xe9\n").unwrap();
    let output = tollgate(d, &["serve"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tollgate.toml:2:6: not valid UTF-8"),
        "{stderr}"
    );
    let output = tollgate(d, &["serve", "--config", "/dev/zero"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/dev/zero: larger than 16 MiB"), "{stderr}");
    // A database that cannot be opened is told with the line that named it.
    std::fs::write(
        d.join("tollgate.toml"),
        "database = \"postgres://tollgate@127.0.0.1:1/none\"\n",
    )
    .unwrap();
    // Serve listens before it opens the database: a port of its own, so
    // that another server on 8080 does not fail this first.
    let output = tollgate(d, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(named by tollgate.toml:1:12)"), "{stderr}");
    // A broken --catalog: exit 2, located.
    std::fs::write(
        d.join("bad.toml"),
        "[errors.x]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n",
    )
    .unwrap();
    let output = tollgate(
        d,
        &["serve", "--config", "/dev/null", "--catalog", "bad.toml"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bad.toml:2"));
}

#[test]
fn a_refused_redis_url_is_shown_without_its_password() {
    for bad in ["bogus://app:hunter2@10.0.0.1", "redis://:hunter2@"] {
        let output = tollgate(&std::env::temp_dir(), &["serve", "--redis", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: invalid value '") && stderr.contains(":***@"),
            "{stderr}"
        );
        assert!(stderr.contains("'--redis <URL>'"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

/// A database URL's secrets stay out of the log too: sqlx warns of a
/// parameter it does not know with its value (libpq's `sslpassword`).
#[test]
fn a_database_urls_unknown_secret_parameter_is_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://app:hunter2@127.0.0.1:1/db?sslpassword=swordfish";
    let output = tollgate(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--database", url],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(
        !stderr.contains("swordfish") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// `--rate-limit-fail` takes open or closed, and `--help` says what each
/// does and that it matters with `--redis` only.
#[test]
fn the_fail_mode_flag_is_checked_and_told_in_help() {
    let temp = std::env::temp_dir();
    let output = tollgate(&temp, &["serve", "--rate-limit-fail", "shut"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "invalid value 'shut' for '--rate-limit-fail <MODE>': unknown fail mode \"shut\", \
             expected open or closed"
        ),
        "{stderr}"
    );
    let help = tollgate(&temp, &["serve", "--help"]);
    // As one line: clap wraps it to the terminal's width.
    let help = String::from_utf8_lossy(&help.stdout);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for says in [
        "--rate-limit-fail <MODE>",
        "open serves them without rate limits",
        "closed answers 503 service_unavailable with Retry-After",
        "Matters with --redis only",
        "rate_limit_fail = \"closed\"",
    ] {
        assert!(help.contains(says), "{says}: {help}");
    }
}

#[test]
fn shared_backends_by_url() {
    let (Ok(database), Ok(redis)) = (
        std::env::var("TOLLGATE_TEST_DATABASE_URL"),
        std::env::var("TOLLGATE_TEST_REDIS_URL"),
    ) else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL or TOLLGATE_TEST_REDIS_URL is unset");
        return;
    };
    // A schema of this run's own, so runs and other tests do not meet.
    let schema = Schema::new(&database);
    let url = schema.url.clone();

    let dir = tempfile::tempdir().unwrap();
    let args = ["--database", &url, "--redis", &redis];
    let server = Server::spawn(dir.path(), &args, url.clone());
    assert!(server.banner.contains("in Redis"), "{}", server.banner);
    assert!(
        !dir.path().join("tollgate.db").exists(),
        "no SQLite file with --database"
    );
    let key = server
        .key
        .clone()
        .expect("a fresh schema has no demo account");
    let http = Http::new();
    let image = json!({"image_data": base64(&sharp_png(7))});
    let auth = [("x-api-key", key.as_str())];
    let created = http.send(
        "POST",
        &server.url("/v1/scans"),
        &auth,
        Body::Json(image.clone()),
    );
    assert_eq!(
        created.status,
        201,
        "{}\n{}",
        created.text(),
        server.stderr()
    );
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let again = http.send("POST", &server.url("/v1/scans"), &auth, Body::Json(image));
    assert_eq!(again.status, 409);
    let read = http.get(&server.url(&format!("/v1/scans/{id}")), &auth);
    assert_eq!(read.status, 200);
    // An id that is not text to Postgres (a NUL) names no scan: 404, not an outage.
    let odd = http.get(&server.url("/v1/scans/scan_%00"), &auth);
    assert_eq!(odd.status, 404, "{}", odd.text());
    let output = tollgate(
        dir.path(),
        &[
            "probe",
            &server.base,
            "--key",
            &key,
            "--json",
            "--max-requests",
            "150",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    drop(server);
    // A later start, its URL (with a password) from the environment: the
    // banner's command to make another key names the variable, and neither
    // prints the password nor a `--database` without it.
    let mut with_password = reqwest::Url::parse(&url).unwrap();
    if with_password.password().is_none() {
        // Postgres's trust authentication ignores it.
        with_password.set_password(Some("hunter2")).unwrap();
    }
    let password = with_password.password().unwrap().to_owned();
    let with_password = with_password.to_string();
    let env = [("TOLLGATE_DATABASE_URL", with_password.as_str())];
    let later = Server::spawn_with_env(dir.path(), &["--redis", &redis], &env, String::new());
    assert_eq!(later.key, None, "{}", later.banner);
    assert!(
        later.banner.contains("(with TOLLGATE_DATABASE_URL set"),
        "{}",
        later.banner
    );
    assert!(!later.banner.contains("--database"), "{}", later.banner);
    assert!(!later.banner.contains(&password), "{}", later.banner);
    // Tables already there are no news (Postgres's notices are not logged).
    assert!(
        !later.stderr().contains("already exists"),
        "{}",
        later.stderr()
    );
    drop(later);
}

#[test]
fn an_unreachable_redis_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    // Named by the flag, then by the environment.
    for from_env in [false, true] {
        let mut command = common::tollgate_command();
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
        command.arg(dir.path());
        if from_env {
            command.env("TOLLGATE_REDIS_URL", &url);
        } else {
            command.args(["--redis", &url]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = exited(child, "serve started without its Redis");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let by = if from_env {
            "TOLLGATE_REDIS_URL"
        } else {
            "--redis"
        };
        let expected =
            format!("cannot reach Redis at redis://:***@127.0.0.1:{port} (named by {by}): ");
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(output.stdout.is_empty(), "no banner");
        assert!(
            !dir.path().join("tollgate.db").exists(),
            "a failed start leaves no database"
        );
    }
    // A cluster whose node refuses the connection says so too, not that
    // a server hung up.
    let child = common::tollgate_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--redis", &format!("redis+cluster://127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = exited(child, "serve started without its Redis Cluster");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("closed the connection"), "{stderr}");
}

/// A Redis URL whose port has another server says so, located in the config
/// file; one whose server never answers says how long it was waited for.
#[test]
fn a_redis_url_reaching_another_server_or_a_silent_one_says_so() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // A web server, which answers a Redis command with an HTTP error.
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_port = web.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in web.incoming().map_while(Result::ok) {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    // A server that takes connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let serve = |args: &[&str]| {
        let child = common::tollgate_command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = exited(child, "serve started without its Redis");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        stderr
    };
    std::fs::write(
        dir.path().join("tollgate.toml"),
        format!("redis = \"redis://127.0.0.1:{web_port}\"\n"),
    )
    .unwrap();
    let said = serve(&[]);
    let expected = format!(
        "cannot reach Redis at redis://127.0.0.1:{web_port} (named by tollgate.toml:1:9): \
         it answers, but not as a Redis server (the wrong port?)"
    );
    assert!(said.contains(&expected), "{said}");
    assert!(!said.contains("Parse error"), "{said}");
    std::fs::remove_file(dir.path().join("tollgate.toml")).unwrap();

    // A server that hangs up on what it cannot read, as Postgres does.
    let hangs_up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hangs_up_port = hangs_up.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in hangs_up.incoming().map_while(Result::ok) {
            let _ = std::io::Read::read(&mut stream, &mut [0; 64]);
        }
    });
    let said = serve(&["--redis", &format!("redis://127.0.0.1:{hangs_up_port}")]);
    assert!(
        said.contains("closed the connection without an answer: not a Redis server?"),
        "{said}"
    );

    let url = format!("redis://127.0.0.1:{silent_port}");
    let started = Instant::now();
    let said = serve(&["--redis", &url]);
    let waited = started.elapsed();
    assert!(said.contains("no answer within "), "{said}");
    assert!(!said.contains("500ms"), "{said}");
    let told: f64 = said
        .split("no answer within ")
        .nth(1)
        .and_then(|rest| rest.split(" s").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    // Written to a tenth of a second, rounded to the nearest.
    assert!(
        told >= 5.0 && told <= waited.as_secs_f64() + 0.05,
        "{told} s of {waited:?}: {said}"
    );
    assert!(!dir.path().join("tollgate.db").exists());
}

/// Control characters from a setting are written escaped, not sent to the
/// terminal.
#[test]
fn a_listen_address_with_control_characters_is_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tollgate.toml"),
        "listen = \"\\u001b[31m:1\"\n",
    )
    .unwrap();
    let output = tollgate(dir.path(), &["serve"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot listen on \\u{1b}[31m:1 (named by tollgate.toml:1:10)"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(!dir.path().join("tollgate.db").exists());
}

/// A TCP proxy in front of `target`, on a runtime of its own (the test's
/// requests block theirs): [`Proxy::cut`] closes the connections it carries,
/// and every later one as soon as it is made, as a Redis gone down does.
struct Proxy {
    /// Runs the listener and the connections; dropped, it ends them.
    _runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    /// Whether it is cut, and the connections it carries: under one lock,
    /// so that none accepted as it is cut is carried on.
    carried: std::sync::Arc<std::sync::Mutex<(bool, Vec<tokio::task::AbortHandle>)>>,
}

impl Proxy {
    fn to(target: &str) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let carried = std::sync::Arc::new(std::sync::Mutex::new((false, Vec::new())));
        let (target, tasks) = (target.to_owned(), carried.clone());
        runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut tasks = tasks.lock().unwrap();
                if tasks.0 {
                    // Cut: closed at once.
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.1.push(task.abort_handle());
            }
        });
        Proxy {
            _runtime: runtime,
            addr,
            carried,
        }
    }

    fn cut(&self) {
        let mut tasks = self.carried.lock().unwrap();
        tasks.0 = true;
        for task in tasks.1.drain(..) {
            task.abort();
        }
    }
}

/// While serve's Redis cannot be reached, `--rate-limit-fail closed`
/// answers 503 `service_unavailable` with `Retry-After` (the flag beating
/// the config file's `open`), and the default, open, answers as usual but
/// without the RateLimit fields, and logs it. Redis is reached through a
/// proxy, which is cut.
#[test]
fn a_redis_gone_down_fails_open_or_closed_as_set() {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
        return;
    };
    let url = reqwest::Url::parse(&redis).unwrap();
    let (Some(host), "redis") = (url.host_str(), url.scheme()) else {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is not a redis://HOST URL");
        return;
    };
    let target = format!("{host}:{}", url.port().unwrap_or(6379));
    let http = Http::new();
    let detection = json!({"session_id": "s_1", "frames": frames(10)});
    for closed in [true, false] {
        let proxy = Proxy::to(&target);
        let mut through = url.clone();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(proxy.addr.port())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut args = vec!["--dialect", "envelope", "--redis", through.as_str()];
        if closed {
            std::fs::write(d.join("tollgate.toml"), "rate_limit_fail = 'open'\n").unwrap();
            args.extend(["--config", "tollgate.toml", "--rate-limit-fail", "closed"]);
        }
        let server = Server::start(d, &args);
        let says = if closed {
            "(fail closed: 503 while Redis cannot be reached)"
        } else {
            "(fail open: unlimited while Redis cannot be reached)"
        };
        assert!(server.banner.contains(says), "{}", server.banner);
        let key = server.key.clone().expect("a new data directory");
        let auth = [("x-api-key", key.as_str())];
        let detect = || {
            http.send(
                "POST",
                &server.url("/v1/detections"),
                &auth,
                Body::Json(detection.clone()),
            )
        };
        let before = detect();
        assert_eq!(before.status, 200, "{}", before.text());
        assert!(
            !before.header("ratelimit").is_empty(),
            "{:?}",
            before.headers
        );
        let document = http.get(&server.url("/openapi.json"), &[]).json();
        let unavailable = &document["paths"]["/errors"]["get"]["responses"]["503"];
        assert_eq!(unavailable.is_object(), closed, "{unavailable}");

        proxy.cut();
        // The first requests may still meet the connection as it closes.
        let deadline = Instant::now() + Duration::from_secs(20);
        let after = loop {
            let after = detect();
            if after.header("ratelimit").is_empty() || Instant::now() > deadline {
                break after;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(after.header("ratelimit").is_empty(), "{:?}", after.headers);
        assert!(after.header("ratelimit-policy").is_empty());
        if closed {
            assert_eq!(after.status, 503, "{}", after.text());
            assert_eq!(after.header("x-error-code"), "service_unavailable");
            assert_eq!(after.header("retry-after"), "1");
            let body = after.json();
            assert_eq!(body["success"], false, "{body}");
            assert!(
                body["errors"][0]["service_unavailable"].is_array(),
                "{body}"
            );
            // The per-IP limit answers so on every route.
            let public = http.get(&server.url("/openapi.json"), &[]);
            assert_eq!(public.status, 503, "{}", public.text());
            assert_eq!(public.header("retry-after"), "1");
        } else {
            assert_eq!(after.status, 200, "{}", after.text());
            assert_eq!(after.json()["success"], true);
        }
        // Either way the outage is logged, with the fail mode.
        let mode = if closed { "Closed" } else { "Open" };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.stderr().contains("rate-limit store failed") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let logged = server.stderr();
        assert!(logged.contains("rate-limit store failed"), "{logged}");
        assert!(logged.contains(&format!("fail_mode={mode}")), "{logged}");
        drop(server);
        drop(proxy);
    }
}

#[test]
fn conflicting_or_broken_database_and_redis_settings_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str], env: &[(&str, &str)]| {
        let child = common::tollgate_command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = exited(child, "serve started with conflicting settings");
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let said = serve(&["--data-dir", "d", "--database", "sqlite::memory:"], &[]);
    assert!(said.contains("cannot be used with"), "{said}");
    // A Redis URL from the environment is named by its variable, its
    // password not shown.
    let said = serve(
        &["--data-dir", "d"],
        &[("TOLLGATE_REDIS_URL", "bogus://:s3cret@h")],
    );
    assert!(said.contains("TOLLGATE_REDIS_URL: "), "{said}");
    assert!(
        !said.contains("--redis") && !said.contains("s3cret"),
        "{said}"
    );
    // Both in the config file: located at the second.
    std::fs::write(
        dir.path().join("both.toml"),
        "database = 'sqlite::memory:'\ndata_dir = 'd'\n",
    )
    .unwrap();
    let said = serve(&["--config", "both.toml"], &[]);
    assert!(
        said.contains("both.toml:2:12: data_dir and database"),
        "{said}"
    );
}

/// What a `serve` that must stop at start left, once it has stopped; if it
/// keeps running past [`START_TIMEOUT`], it is killed and the test fails
/// with `why`.
fn exited(mut child: std::process::Child, why: &str) -> std::process::Output {
    let deadline = Instant::now() + START_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Two servers started at once on one new SQLite file both start; a request
/// sent to both with the same Idempotency-Key at the same moment is run and
/// charged once: the other server replays its answer, or says the key is in
/// use, never a second charge.
#[test]
fn two_servers_on_one_file_charge_an_idempotency_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_servers_charge_an_idempotency_key_once(d, || Server::start(d, &[]));
}

/// As [`two_servers_on_one_file_charge_an_idempotency_key_once`], with both
/// servers on one new Postgres schema (when `TOLLGATE_TEST_DATABASE_URL`
/// is set), dropped afterwards.
#[test]
fn two_servers_on_one_postgres_charge_an_idempotency_key_once() {
    let Ok(database) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let schema = Schema::new(&database);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = schema.url.clone();
    two_servers_charge_an_idempotency_key_once(d, || {
        Server::spawn(d, &["--database", &url], url.clone())
    });
}

/// A Postgres schema of a test's own, dropped (with what is in it) when
/// the test ends, passed or not.
struct Schema {
    admin: String,
    name: String,
    /// The test database's URL, with the schema as its search path.
    url: String,
}

impl Schema {
    fn new(database: &str) -> Schema {
        let name = format!("serve_{}", uuid::Uuid::now_v7().simple());
        Schema::sql(database, format!("CREATE SCHEMA {name}"));
        let separator = if database.contains('?') { '&' } else { '?' };
        let url = format!("{database}{separator}options=-c%20search_path%3D{name}");
        Schema {
            admin: database.to_owned(),
            name,
            url,
        }
    }

    fn sql(database: &str, statement: String) {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        Schema::sql(&self.admin, format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

/// Two servers that `start` makes at once on one new database both start;
/// a request sent to both with the same Idempotency-Key at the same moment
/// is run and charged once.
fn two_servers_charge_an_idempotency_key_once(d: &Path, start: impl Fn() -> Server + Sync) {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(&start);
        let b = s.spawn(&start);
        (a.join().unwrap(), b.join().unwrap())
    });
    // Each may have made a demo key (documented): either acts for `demo`.
    let key = a.key.clone().or_else(|| b.key.clone()).expect("a demo key");
    let before = balance(d, &a.database, "demo");
    let keys = 20;
    let body = json!({"session_id": "s_1", "model": "mixed-10-v2", "frames": frames(10)});
    let barrier = std::sync::Barrier::new(2);
    let urls = [&a, &b].map(|server| server.url("/v1/detections"));
    let answers: Vec<Vec<(String, Answer)>> = std::thread::scope(|s| {
        let sides = urls.map(|url| {
            let (key, body, barrier) = (&key, &body, &barrier);
            s.spawn(move || {
                let http = Http::new();
                (0..keys)
                    .map(|i| {
                        let idem = format!("order-{i}");
                        barrier.wait();
                        let headers = [("x-api-key", key.as_str()), ("idempotency-key", &idem)];
                        let answer = http.send("POST", &url, &headers, Body::Json(body.clone()));
                        (idem, answer)
                    })
                    .collect()
            })
        });
        sides.map(|side| side.join().unwrap()).into()
    });
    let mut fresh = std::collections::BTreeMap::<String, Vec<Vec<u8>>>::new();
    let mut replayed = Vec::new();
    for (idem, answer) in answers.into_iter().flatten() {
        match (answer.status, answer.header("idempotent-replayed")) {
            (200, "true") => replayed.push((idem, answer.body)),
            (200, _) => fresh.entry(idem).or_default().push(answer.body),
            (409, _) => assert_eq!(
                answer.header("x-error-code"),
                "idempotency_key_in_use",
                "{}",
                answer.text()
            ),
            (status, _) => panic!("{idem}: {status} {}", answer.text()),
        }
    }
    // Every key was run exactly once, by one server or the other.
    assert_eq!(fresh.len(), keys, "{fresh:?}");
    assert!(fresh.values().all(|bodies| bodies.len() == 1), "{fresh:?}");
    for (idem, body) in replayed {
        assert_eq!(
            fresh[&idem][0], body,
            "{idem}: the replay is the first answer"
        );
    }
    let charged = i64::try_from(keys).unwrap();
    assert_eq!(balance(d, &a.database, "demo"), before - charged);
}

/// `--idempotency-retention` is how long a key's answer is kept: within it a
/// different body under the key is `idempotency_key_reused`, after it the
/// key is free again.
#[test]
fn an_idempotency_key_is_free_again_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--idempotency-retention", "1s"]);
    let key = server.key.clone().unwrap();
    let http = Http::new();
    let detect = |session: &str| {
        http.send(
            "POST",
            &server.url("/v1/detections"),
            &[("x-api-key", &key), ("idempotency-key", "nightly-1")],
            Body::Json(json!({"session_id": session, "frames": frames(10)})),
        )
    };
    let first = detect("s_1");
    assert_eq!(first.status, 200, "{}", first.text());
    let reused = detect("s_2");
    assert_eq!(reused.header("x-error-code"), "idempotency_key_reused");
    std::thread::sleep(Duration::from_millis(1500));
    let again = detect("s_2");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(
        again.header("idempotent-replayed"),
        "",
        "run anew, not replayed"
    );
}

/// Expired idempotency records are deleted while the server runs (every
/// retention, when that is shorter than 10 minutes), not only passed over:
/// a key holder sending new keys does not grow the database for ever.
#[test]
fn expired_idempotency_records_are_deleted() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--idempotency-retention", "3s"]);
    let key = server.key.clone().unwrap();
    let http = Http::new();
    let answer = http.send(
        "POST",
        &server.url("/v1/detections"),
        &[("x-api-key", &key), ("idempotency-key", "once")],
        Body::Json(json!({"session_id": "s_1", "frames": frames(10)})),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let records = || {
        runtime.block_on(async {
            let url = format!("{}?mode=ro", server.database);
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM idempotency")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            n
        })
    };
    assert_eq!(records(), 1, "the answer is kept");
    // Until a purge past the retention has run; a bound, not a deadline.
    let until = Instant::now() + Duration::from_secs(60);
    while records() > 0 {
        assert!(Instant::now() < until, "the expired record is still there");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An id that is no scan's is `not_found` on Postgres too, one that
/// Postgres takes for no text (NULs) included: it is never looked up.
/// Runs when `TOLLGATE_TEST_DATABASE_URL` is set.
#[test]
fn an_id_that_is_no_scans_is_not_found_on_postgres_too() {
    let Ok(database) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let schema = Schema::new(&database);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(dir.path(), &["--database", &schema.url], schema.url.clone());
    let key = server.key.clone().unwrap();
    let http = Http::new();
    for id in [format!("scan_{}", "%00".repeat(32)), "scan_nope".to_owned()] {
        let answer = http.get(
            &server.url(&format!("/v1/scans/{id}")),
            &[("x-api-key", key.as_str())],
        );
        assert_eq!(answer.status, 404, "{id}: {}", answer.text());
    }
}
