//! The `tollgate` binary, run as a user runs it.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tollgate::{Catalog, Context, Dialect, Violation};

const TIMESTAMP: &str = "2024-05-01T12:00:00Z";

fn tollgate(args: &[&str]) -> Output {
    tollgate_in(workspace_root(), args, None)
}

fn tollgate_stdin(args: &[&str], stdin: &[u8]) -> Output {
    tollgate_in(workspace_root(), args, Some(stdin))
}

fn tollgate_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = common::tollgate_command()
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tollgate binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The binary may stop reading early (the 16 MiB bound); a closed pipe is fine.
        let _ = pipe.write_all(input);
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "tollgate {args:?} panicked:\n{stderr}"
    );
    output
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tollgate-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// A response as `tollgate render` prints it, split into its parts.
#[derive(Debug)]
struct Printed {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Printed {
    fn parse(output: &Output) -> Printed {
        assert_eq!(code(output), 0, "stderr: {}", stderr(output));
        let text = &output.stdout;
        let end = text
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a blank CRLF line ends the head");
        let head = std::str::from_utf8(&text[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_owned();
        let headers: Vec<_> = lines
            .map(|line| {
                assert!(
                    !line.contains('\n'),
                    "every head line ends with CRLF: {line:?}"
                );
                let (name, value) = line.split_once(": ").expect("Name: value");
                (name.to_owned(), value.to_owned())
            })
            .collect();
        let rest = &text[end + 4..];
        let body = rest
            .strip_suffix(b"\n")
            .expect("one newline follows the body")
            .to_vec();
        Printed {
            status_line,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn at(timestamp: &str) -> SystemTime {
    humantime::parse_rfc3339(timestamp).unwrap()
}

#[test]
fn render_prints_the_response_as_served_in_every_dialect() {
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let output = tollgate(&[
            "render",
            "insufficient_credits",
            "--dialect",
            dialect.name(),
            "--set",
            "required=1",
            "--set",
            "available=0",
            "--request-id",
            "req_42",
            "--timestamp",
            TIMESTAMP,
        ]);
        let printed = Printed::parse(&output);
        assert_eq!(
            printed.status_line, "HTTP/1.1 402 Payment Required",
            "{dialect}"
        );

        let mut names = vec!["Content-Type", "X-Request-Id", "X-Error-Code"];
        if dialect == Dialect::Stripe {
            names.push("Request-Id");
        }
        names.push("Content-Length");
        assert_eq!(printed.names(), names, "{dialect}");
        assert_eq!(
            printed.header("Content-Type"),
            Some(dialect.content_type()),
            "{dialect}"
        );
        assert_eq!(printed.header("X-Request-Id"), Some("req_42"), "{dialect}");
        let wire_code = catalog
            .get("insufficient_credits")
            .unwrap()
            .wire_code(dialect)
            .into_owned();
        assert_eq!(
            printed.header("X-Error-Code"),
            Some(wire_code.as_str()),
            "{dialect}"
        );
        assert_eq!(
            printed.header("Content-Length"),
            Some(printed.body.len().to_string().as_str()),
            "{dialect}"
        );

        // The same occurrence rendered by the library, with the same id and time.
        let err = catalog
            .error("insufficient_credits")
            .unwrap()
            .with("required", 1)
            .with("available", 0);
        let ctx = Context::new(at(TIMESTAMP)).request_id("req_42");
        let expected: Value =
            serde_json::from_slice(&catalog.renderer(dialect).body(&err, &ctx)).unwrap();
        assert_eq!(printed.json(), expected, "{dialect}");
        let body = String::from_utf8(printed.body.clone()).unwrap();
        assert!(
            body.contains("Insufficient credits. Required: 1, available: 0"),
            "{dialect}: {body}"
        );
    }
}

#[test]
fn render_bodies_carry_what_each_dialect_promises() {
    let run = |dialect: &str, extra: &[&str]| {
        let mut args = vec![
            "render",
            "insufficient_credits",
            "--dialect",
            dialect,
            "--request-id",
            "req_7",
        ];
        args.extend(["--set", "required=3", "--set", "available=1", "--timestamp"]);
        args.push("2024-05-01T14:00:00+02:00");
        args.extend(extra);
        Printed::parse(&tollgate(&args)).json()
    };

    let problem = run("problem", &["--instance", "/v1/scans"]);
    assert_eq!(problem["type"], "/errors#insufficient_credits");
    assert_eq!(problem["status"], 402);
    assert_eq!(
        problem["detail"],
        "Insufficient credits. Required: 3, available: 1"
    );
    assert_eq!(problem["instance"], "/v1/scans");
    assert_eq!(problem["request_id"], "req_7");
    assert_eq!(
        problem["required"], 3,
        "--set values that parse as JSON are numbers"
    );

    let status_code = run("status-code", &[]);
    assert_eq!(status_code["status"], "error");
    assert_eq!(
        status_code["timestamp"], "2024-05-01T12:00:00Z",
        "the offset is applied"
    );
    assert_eq!(status_code["error"]["code"], 402);
    assert_eq!(status_code["request_id"], "req_7");

    let meta = run("meta", &[]);
    assert_eq!(meta["error"]["code"], "insufficient_credits");
    assert_eq!(meta["meta"]["request_id"], "req_7");

    let envelope = run("envelope", &[]);
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["data"], Value::Null);
}

#[test]
fn render_takes_violations_retry_hints_and_messages() {
    let dir = scratch("render_options");
    let catalog = dir.join("api.toml");
    std::fs::write(
        &catalog,
        "[errors.rate_limit_exceeded]\naliases = { coded = 'RATE_LIMIT_ERROR' }\n",
    )
    .unwrap();
    let catalog = catalog.to_str().unwrap();

    let printed = Printed::parse(&tollgate(&[
        "render",
        "rate_limit_exceeded",
        "-d",
        "coded",
        "-c",
        catalog,
        "--retry-after",
        "30",
        "--set",
        "limit=100",
        "--set",
        "window=60",
    ]));
    assert_eq!(printed.status_line, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(printed.header("X-Error-Code"), Some("RATE_LIMIT_ERROR"));
    assert_eq!(printed.header("Retry-After"), Some("30"));
    let body = printed.json();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_ERROR");
    assert_eq!(
        body["error"]["message"],
        "Rate limit exceeded: 100 calls per 60 seconds"
    );

    let printed = Printed::parse(&tollgate(&[
        "render",
        "validation_error",
        "--violation",
        "email:invalid_format:Expected: user@host",
        "--violation",
        "items[2].name:missing_field:Required",
    ]));
    let errors = &printed.json()["errors"];
    assert_eq!(errors[0]["pointer"], "/email");
    assert_eq!(errors[0]["code"], "invalid_format");
    assert_eq!(
        errors[0]["detail"], "Expected: user@host",
        "colons stay in the message"
    );
    assert_eq!(errors[1]["pointer"], "/items/2/name");
    assert_eq!(
        printed.json()["detail"],
        "email: Expected: user@host",
        "worded by the first violation, as the axum layers word a rejection"
    );

    let printed = Printed::parse(&tollgate(&[
        "render",
        "not_found",
        "--dialect",
        "detail",
        "--message",
        "Rule not found",
    ]));
    assert_eq!(printed.json(), json!({"detail": "Rule not found"}));

    let output = tollgate(&["render", "rate_limit_exceeded"]);
    assert_eq!(code(&output), 0);
    assert!(
        stderr(&output).contains("{limit} has no value; add --set limit=VALUE"),
        "{}",
        stderr(&output)
    );

    let output = tollgate(&[
        "render",
        "not_found",
        "--set",
        "status=1",
        "--set",
        "resource=scan",
    ]);
    let printed = Printed::parse(&output);
    assert_eq!(
        printed.json()["status"],
        404,
        "a detail never replaces a member"
    );
    // Only documented details are sent: `not_found` documents none.
    assert!(
        printed.json().get("resource").is_none(),
        "{}",
        printed.json()
    );
    assert!(
        stderr(&output).contains("--set status: it is a member of the problem dialect"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(
            "--set resource: the not_found entry does not document it in `details`, so it \
             fills the message but is not sent"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn render_set_of_a_message_only_key_fills_the_message_without_a_warning() {
    // The command the 002 catalog's header suggests: `limit` and `window`
    // are `message_only` there, meant for the message alone.
    let output = tollgate(&[
        "render",
        "rate_limit_exceeded",
        "--dialect",
        "coded",
        "--set",
        "limit=100",
        "--set",
        "window=60",
        "--catalog",
        "examples/catalogs/002-extraction.toml",
    ]);
    let printed = Printed::parse(&output);
    assert_eq!(
        printed.json()["error"]["message"],
        "Rate limit exceeded: 100 calls per 60 seconds"
    );
    assert_eq!(stderr(&output), "", "no warning for a message_only key");

    // The catalog words validation_error its own way: a violation does not.
    let printed = Printed::parse(&tollgate(&[
        "render",
        "validation_error",
        "--dialect",
        "coded",
        "--violation",
        "limit:too_large:must be at most 100",
        "--catalog",
        "examples/catalogs/002-extraction.toml",
    ]));
    assert_eq!(
        printed.json()["error"]["message"],
        "Invalid request parameters"
    );

    // Sent as an entry worded otherwise, it is worded as that one, as the
    // layers send it (render shows its {reason} unfilled, and warns).
    let output = tollgate_stdin(
        &[
            "render",
            "validation_error",
            "--dialect",
            "coded",
            "--violation",
            "limit:too_large:must be at most 100",
            "--catalog",
            "-",
        ],
        b"[errors.validation_error]\nsent_as = 'malformed_request'\n",
    );
    let printed = Printed::parse(&output);
    assert_eq!(printed.json()["error"]["code"], "malformed_request");
    assert_eq!(
        printed.json()["error"]["message"],
        "The request body could not be parsed: {reason}"
    );
    assert!(stderr(&output).contains("{reason} has no value"));
}

#[test]
fn render_defaults_to_problem_now_and_a_uuidv7_request_id() {
    let before = SystemTime::now() - Duration::from_secs(2);
    let printed = Printed::parse(&tollgate(&["render", "timeout"]));
    assert_eq!(printed.status_line, "HTTP/1.1 504 Gateway Timeout");
    assert_eq!(
        printed.header("Content-Type"),
        Some("application/problem+json")
    );
    let id = printed.header("X-Request-Id").unwrap();
    let groups: Vec<_> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(&id[14..15], "7", "UUID version 7: {id}");
    assert_eq!(printed.json()["request_id"], id);

    let printed = Printed::parse(&tollgate(&["render", "timeout", "-d", "status-code"]));
    let stamp = printed.json()["timestamp"].as_str().unwrap().to_owned();
    assert!(
        at(&stamp) >= before && at(&stamp) <= SystemTime::now(),
        "{stamp}"
    );
}

#[test]
fn render_rejects_bad_arguments_clearly() {
    for (args, expected) in [
        (
            &["render", "timeout", "--request-id", "has space"][..],
            "invalid request id",
        ),
        (
            &["render", "timeout", "--timestamp", "yesterday"][..],
            "expected RFC 3339",
        ),
        (
            &["render", "timeout", "--set", "novalue"][..],
            "expected KEY=VALUE",
        ),
        // JSON with a typo is no string to send as it is.
        (
            &["render", "timeout", "--set", "tags=[1,2"][..],
            "\"[1,2\" starts as JSON but is not JSON (EOF while parsing a list at line 1 column 4)",
        ),
        (
            &["render", "timeout", "--violation", "email"][..],
            "expected FIELD:CODE:MESSAGE",
        ),
        (
            &["render", "timeout", "--retry-after", "soon"][..],
            "--retry-after",
        ),
    ] {
        let output = tollgate(args);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn render_piped_into_decode_round_trips() {
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let rendered = tollgate(&[
            "render",
            "rate_limit_exceeded",
            "--dialect",
            dialect.name(),
            "--retry-after",
            "30",
            "--request-id",
            "req_rt",
            "--set",
            "limit=100",
            "--set",
            "window=60",
        ]);
        assert_eq!(code(&rendered), 0, "{dialect}: {}", stderr(&rendered));
        let decoded = tollgate_stdin(&["decode"], &rendered.stdout);
        assert_eq!(code(&decoded), 0, "{dialect}: {}", stderr(&decoded));
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        let wire_code = catalog
            .get("rate_limit_exceeded")
            .unwrap()
            .wire_code(dialect)
            .into_owned();
        assert_eq!(value["status"], 429, "{dialect}");
        assert_eq!(value["code"], wire_code, "{dialect}");
        assert_eq!(value["kind"], "rate_limited", "{dialect}");
        assert_eq!(value["request_id"], "req_rt", "{dialect}");
        assert_eq!(value["retry_after_secs"], 30, "{dialect}");
        assert_eq!(value["retryable"], true, "{dialect}");
        assert_eq!(value["dialect"], dialect.name(), "{dialect}");
        assert_eq!(
            value["message"], "Rate limit exceeded: 100 calls per 60 seconds",
            "{dialect}"
        );
        let keys: Vec<_> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "status",
                "code",
                "kind",
                "message",
                "details",
                "violations",
                "request_id",
                "retry_after_secs",
                "retry",
                "retryable",
                "dialect"
            ]
        );

        // The same response with LF line ends, from a file.
        let dir = scratch(&format!("round_trip_{dialect}"));
        let file = dir.join("response.txt");
        let lf = String::from_utf8(rendered.stdout.clone())
            .unwrap()
            .replace("\r\n", "\n");
        std::fs::write(&file, lf).unwrap();
        let from_file = tollgate(&["decode", file.to_str().unwrap()]);
        assert_eq!(from_file.stdout, decoded.stdout, "{dialect}");
    }
}

#[test]
fn decode_keeps_violations_from_a_rendered_response() {
    let rendered = tollgate(&[
        "render",
        "validation_error",
        "--violation",
        "email:invalid_format:Bad email",
    ]);
    let decoded = tollgate_stdin(&["decode", "-"], &rendered.stdout);
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 400);
    assert_eq!(value["code"], "validation_error");
    let violations: Vec<Violation> = serde_json::from_value(value["violations"].clone()).unwrap();
    assert_eq!(
        violations,
        [Violation::new("email", "invalid_format", "Bad email")]
    );
}

#[test]
fn decode_plain_text_with_status_and_headers() {
    let decoded = tollgate_stdin(
        &[
            "decode",
            "--status",
            "503",
            "--header",
            "Retry-After: 7",
            "-H",
            "X-Correlation-Id: corr-9",
        ],
        b"upstream connect error or disconnect/reset before headers\n",
    );
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 503);
    assert_eq!(value["code"], Value::Null);
    assert_eq!(value["kind"], "unavailable");
    assert_eq!(
        value["message"],
        "upstream connect error or disconnect/reset before headers"
    );
    assert_eq!(value["request_id"], "corr-9");
    assert_eq!(value["retry_after_secs"], 7);
    assert_eq!(value["retryable"], true);
    assert_eq!(value["dialect"], "text");
}

#[test]
fn decode_refuses_empty_input_without_a_status() {
    for input in [&b""[..], b" \r\n\t\n"] {
        let decoded = tollgate_stdin(&["decode"], input);
        assert_eq!(code(&decoded), 2, "{input:?}");
        assert!(decoded.stdout.is_empty(), "{input:?}");
        assert!(
            stderr(&decoded)
                .contains("nothing to decode: <stdin> is empty; an empty answer needs --status N"),
            "{}",
            stderr(&decoded)
        );
    }
    // With a status, an empty body is an error response like any other.
    let decoded = tollgate_stdin(&["decode", "--status", "502"], b"");
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 502);
}

#[test]
fn decode_measures_an_http_date_from_the_responses_date() {
    // Saved long ago: 30 s from its Date, whenever it is decoded.
    let response = "HTTP/1.1 503 Service Unavailable\r\nDate: Wed, 21 Oct 2015 07:28:00 GMT\r\n\
                    Retry-After: Wed, 21 Oct 2015 07:28:30 GMT\r\n\r\n";
    let decoded = tollgate_stdin(&["decode"], response.as_bytes());
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["retry_after_secs"], 30, "{value}");
}

#[test]
fn decode_measures_from_the_date_a_cache_served_and_skips_its_stale_quota() {
    // Kept 40 s by a cache: the server's clock read Date + 40 s then.
    let response = "HTTP/1.1 503 Service Unavailable\r\nDate: Wed, 21 Oct 2015 07:28:00 GMT\r\n\
                    Age: 40\r\nRetry-After: Wed, 21 Oct 2015 07:28:43 GMT\r\n\r\n";
    let decoded = tollgate_stdin(&["decode"], response.as_bytes());
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["retry_after_secs"], 3, "{value}");
    // A cached quota's `t` counts from when it was stored: not read.
    for (age, wait) in [("0", json!(2)), ("5", Value::Null)] {
        let response = format!(
            "HTTP/1.1 429 Too Many Requests\r\nAge: {age}\r\nRateLimit: \"d\";r=0;t=2\r\n\r\n"
        );
        let decoded = tollgate_stdin(&["decode"], response.as_bytes());
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value["retry_after_secs"], wait, "Age {age}: {value}");
    }
}

#[test]
fn decode_reads_a_body_in_the_charset_it_names() {
    let mut utf16 =
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-16\r\n\r\n"
            .to_vec();
    let json = "\u{feff}{\"error\":{\"code\":\"closed\",\"message\":\"Caf\u{e9} ferm\u{e9}\"}}";
    utf16.extend(json.encode_utf16().flat_map(u16::to_le_bytes));
    let decoded = tollgate_stdin(&["decode"], &utf16);
    assert_eq!(stderr(&decoded), "", "read whole, no warning");
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["code"], "closed", "{value}");
    assert_eq!(value["message"], "Caf\u{e9} ferm\u{e9}");

    let latin1 = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nParam\xe8tre invalide";
    let decoded = tollgate_stdin(&["decode"], latin1);
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["message"], "Param\u{e8}tre invalide");
}

#[test]
fn catalogs_can_come_from_stdin() {
    let catalog = b"[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n";
    let linted = tollgate_stdin(&["lint", "-"], catalog);
    assert_eq!(
        (code(&linted), stdout(&linted).as_str()),
        (0, "ok: <stdin>: 1 entry\n")
    );
    let broken = tollgate_stdin(
        &["lint", "-"],
        b"[errors.teapot]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n",
    );
    assert_eq!(code(&broken), 1);
    assert!(
        stdout(&broken).starts_with("<stdin>:2:"),
        "{}",
        stdout(&broken)
    );
    // stdin can be read once: named twice, it is refused.
    for args in [
        &["lint", "-", "-"][..],
        &["lint", "-c", "-", "-"],
        &["decode", "-c", "-", "-"],
    ] {
        let twice = tollgate_stdin(args, catalog);
        assert_eq!(code(&twice), 2, "{args:?}");
        assert!(
            stderr(&twice).contains("named more than once"),
            "{args:?}: {}",
            stderr(&twice)
        );
    }
    // Named once, with the response left out (which reads stdin too): the
    // message says so, and how to pass the response instead.
    let once = tollgate_stdin(&["decode", "--catalog", "-"], catalog);
    assert_eq!(code(&once), 2);
    assert_eq!(
        stderr(&once),
        "error: the catalog is read from stdin (`--catalog -`), and so is the response when \
         FILE is left out: pass the response as a FILE\n"
    );
    let rendered = tollgate_stdin(&["render", "teapot", "--catalog", "-"], catalog);
    assert_eq!(code(&rendered), 0, "{}", stderr(&rendered));
    assert!(
        stdout(&rendered).starts_with("HTTP/1.1 418"),
        "{}",
        stdout(&rendered)
    );
}

/// The prompt to end stdin with Ctrl-D is for a terminal: a catalog piped
/// on stdin is read without it.
#[test]
fn a_catalog_piped_on_stdin_is_read_without_a_prompt() {
    let catalog = b"[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n";
    let linted = tollgate_stdin(&["lint", "-"], catalog);
    assert_eq!(code(&linted), 0, "{}", stderr(&linted));
    assert_eq!(stderr(&linted), "");
}

/// What `tollgate` prints with a terminal on stdin, stdout and stderr:
/// util-linux's `script` runs it on a pseudo-terminal, whose end of input
/// it passes on. `None` where `script` cannot be run.
fn in_a_terminal(dir: &Path, args: &[&str]) -> Option<String> {
    let mut command = format!("'{}'", env!("CARGO_BIN_EXE_tollgate"));
    for arg in args {
        command.push_str(&format!(" '{arg}'"));
    }
    let output = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) => {
            assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Err(e) => {
            eprintln!("skipped: `script` cannot be run ({e})");
            None
        }
    }
}

/// In a terminal, the prompt to end stdin with Ctrl-D is shown for what is
/// read from stdin, and only for that: not for a FILE or a --catalog file.
#[test]
fn a_terminal_is_prompted_only_for_what_is_read_from_stdin() {
    let dir = scratch("terminal_prompt");
    std::fs::write(dir.join("resp.json"), r#"{"error":"x"}"#).unwrap();
    std::fs::write(
        dir.join("api.toml"),
        "[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n",
    )
    .unwrap();
    let response_prompt = "reading a response or body from stdin; end it with Ctrl-D";
    let catalog_prompt = "reading a catalog from stdin; end it with Ctrl-D";
    let Some(files) = in_a_terminal(
        &dir,
        &["decode", "--status", "400", "-c", "api.toml", "resp.json"],
    ) else {
        return;
    };
    assert!(files.contains("\"code\": \"x\""), "{files}");
    assert!(!files.contains("Ctrl-D"), "{files}");
    let Some(stdin) = in_a_terminal(&dir, &["decode", "--status", "400"]) else {
        return;
    };
    assert!(stdin.contains(response_prompt), "{stdin}");
    assert!(!stdin.contains(catalog_prompt), "{stdin}");
    let Some(catalog) = in_a_terminal(&dir, &["decode", "-c", "-", "resp.json"]) else {
        return;
    };
    assert!(catalog.contains(catalog_prompt), "{catalog}");
    assert!(!catalog.contains(response_prompt), "{catalog}");
}

#[test]
fn decode_reads_a_body_still_chunked() {
    // As `curl --raw -i` or `nc` print it; curl without --raw prints the
    // body decoded under the same header, which is read as it is.
    let body = r#"{"error":{"code":"not_found","message":"No such scan, at all."}}"#;
    for (framed, what) in [
        (format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()), "raw"),
        (body.to_owned(), "decoded by curl"),
    ] {
        let input = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n{framed}"
        );
        let decoded = tollgate_stdin(&["decode"], input.as_bytes());
        assert_eq!(code(&decoded), 0, "{what}: {}", stderr(&decoded));
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value["message"], "No such scan, at all.", "{what}");
        assert!(stderr(&decoded).is_empty(), "{what}: {}", stderr(&decoded));
    }
}

#[test]
fn decode_reads_a_body_still_compressed() {
    // As `curl -i -H 'Accept-Encoding: gzip'` prints it; `curl --compressed
    // -i` prints the body decompressed under the same header, read as it is.
    let body = r#"{"error":{"code":"not_found","message":"No such scan, at all."}}"#;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, body.as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let chunked = [
        format!("{:x}\r\n", gzipped.len()).as_bytes(),
        &gzipped,
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    let head = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                Content-Encoding: gzip\r\n";
    for (framing, sent, what) in [
        ("", gzipped.as_slice(), "gzip"),
        ("Transfer-Encoding: chunked\r\n", &chunked, "gzip, chunked"),
        ("", body.as_bytes(), "decompressed by curl"),
    ] {
        let input = [format!("{head}{framing}\r\n").as_bytes(), sent].concat();
        let decoded = tollgate_stdin(&["decode"], &input);
        assert_eq!(code(&decoded), 0, "{what}: {}", stderr(&decoded));
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value["message"], "No such scan, at all.", "{what}");
        assert!(stderr(&decoded).is_empty(), "{what}: {}", stderr(&decoded));
    }
    // A gzip body with no Content-Encoding (a `.gz` file) is read as gzip, and said.
    let decoded = tollgate_stdin(&["decode", "--status", "404"], &gzipped);
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["message"], "No such scan, at all.");
    assert!(
        stderr(&decoded).contains("<stdin>: the body is gzip, with no Content-Encoding saying so"),
        "{}",
        stderr(&decoded)
    );
    // A coding it does not undo is said, and the body read as it came.
    let input = [
        head.replace("gzip", "br").as_bytes(),
        b"\r\n\x8b\x03\x80\xff\xfe",
    ]
    .concat();
    let decoded = tollgate_stdin(&["decode"], &input);
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    assert!(
        stderr(&decoded).contains(
            "<stdin>: the body cannot be decompressed: its Content-Encoding `br` is not one decode \
             undoes"
        ),
        "{}",
        stderr(&decoded)
    );
    // A stream cut short keeps what came, and says where the JSON breaks.
    let input = [
        format!("{head}\r\n").as_bytes(),
        &gzipped[..gzipped.len() - 12],
    ]
    .concat();
    let decoded = tollgate_stdin(&["decode"], &input);
    let told = stderr(&decoded);
    assert!(
        told.contains("<stdin>: the body's gzip stream ends early"),
        "{told}"
    );
    assert!(
        told.contains("<stdin>: the decompressed body is not the JSON its Content-Type says"),
        "{told}"
    );
}

#[test]
fn decode_says_a_retry_after_it_cannot_read() {
    for value in ["soon", "-5", "5 minutes"] {
        let input = format!("HTTP/1.1 429 Too Many Requests\r\nRetry-After: {value}\r\n\r\n");
        let decoded = tollgate_stdin(&["decode"], input.as_bytes());
        assert_eq!(code(&decoded), 0, "{value}: {}", stderr(&decoded));
        let value_out: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value_out["retry_after_secs"], Value::Null, "{value}");
        assert!(
            stderr(&decoded).contains(&format!(
                "<stdin>: Retry-After \"{value}\" is neither delay-seconds nor an HTTP date"
            )),
            "{value}: {}",
            stderr(&decoded)
        );
    }
    // One it reads, as seconds, a date, or a list folded into one line, is not told.
    for value in ["30", "2.5", "120, 120", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let input = format!("HTTP/1.1 429 Too Many Requests\r\nRetry-After: {value}\r\n\r\n");
        let decoded = tollgate_stdin(&["decode"], input.as_bytes());
        assert!(stderr(&decoded).is_empty(), "{value}: {}", stderr(&decoded));
    }
}

/// A charset the decoder does not read is passed over, and said to be;
/// one it reads (or the replacement encoding's label, which it refuses to
/// read a body in) is or is not told as it is read.
#[test]
fn decode_says_a_charset_it_cannot_read() {
    for (charset, told) in [
        ("klingon", true),
        ("iso-2022-kr", true),
        ("\"ISO-8859-1\"", false),
        ("utf-8", false),
    ] {
        let input = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset={charset}\r\n\r\n\
             {{\"message\":\"x\"}}"
        );
        let decoded = tollgate_stdin(&["decode"], input.as_bytes());
        assert_eq!(code(&decoded), 0, "{charset}: {}", stderr(&decoded));
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value["message"], "x", "{charset}");
        let warned = stderr(&decoded).contains("is none decode reads; the body is read as UTF-8");
        assert_eq!(warned, told, "{charset}: {}", stderr(&decoded));
    }
}

#[test]
fn decode_warns_of_a_success_or_an_unknown_status() {
    let ok = tollgate_stdin(&["decode"], b"HTTP/1.1 200 OK\r\n\r\n{\"id\":\"scan_1\"}");
    assert_eq!(code(&ok), 0);
    assert!(
        stderr(&ok).contains("status 200 is not an error"),
        "{}",
        stderr(&ok)
    );
    let unknown = tollgate_stdin(&["decode"], br#"{"message":"nope"}"#);
    assert_eq!(code(&unknown), 0);
    assert!(
        stderr(&unknown).contains("pass --status"),
        "{}",
        stderr(&unknown)
    );
    let informational = tollgate_stdin(&["decode", "--status", "100"], b"{}");
    assert!(
        stderr(&informational).contains("status 100 is not an error"),
        "{}",
        stderr(&informational)
    );
    let past = tollgate_stdin(&["decode", "--status", "999"], b"{}");
    assert!(
        stderr(&past).contains("status 999 is past 599"),
        "{}",
        stderr(&past)
    );
    // A body its Content-Type calls JSON that is not says where it breaks,
    // in the input (the body starts on its line 4).
    let broken = tollgate_stdin(
        &["decode"],
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"code\":\"bad\",",
    );
    assert_eq!(code(&broken), 0);
    assert!(
        stderr(&broken).contains(
            "warning: <stdin>:4:14: the body is not the JSON its Content-Type says (EOF while \
             parsing an object); read as far as it goes"
        ),
        "{}",
        stderr(&broken)
    );
    // As far as it goes: the code it gave before the cut is read.
    assert!(
        stdout(&broken).contains(r#""code": "bad""#),
        "{}",
        stdout(&broken)
    );
    // A body that names its status, or an error response, needs no warning.
    let problem = br#"{"type":"about:blank","title":"Not found","status":404}"#;
    for (args, input) in [
        (&["decode"][..], &problem[..]),
        (&["decode", "--status", "404"], b"{}"),
    ] {
        let decoded = tollgate_stdin(args, input);
        assert!(
            !stderr(&decoded).contains("warning"),
            "{}",
            stderr(&decoded)
        );
    }
}

/// A body alone is decoded with the status it states, as with `--status`:
/// Spring's `error` is then its reason phrase, no code.
#[test]
fn decode_takes_the_status_a_body_states_when_given_none() {
    let spring = br#"{"timestamp":"2025-07-24T11:30:12.000+00:00","status":400,"error":"Bad Request","message":"Validation failed","path":"/api/x"}"#;
    let nest = br#"{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}"#;
    let twilio = br#"{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#;
    for (body, status) in [(&spring[..], "400"), (nest, "404"), (twilio, "404")] {
        let alone = tollgate_stdin(&["decode"], body);
        assert_eq!(code(&alone), 0, "{}", stderr(&alone));
        assert!(!stderr(&alone).contains("warning"), "{}", stderr(&alone));
        let with_status = tollgate_stdin(&["decode", "--status", status], body);
        assert_eq!(
            String::from_utf8_lossy(&alone.stdout),
            String::from_utf8_lossy(&with_status.stdout)
        );
    }
    let value: Value = serde_json::from_slice(&tollgate_stdin(&["decode"], spring).stdout).unwrap();
    assert_eq!(value["status"], 400);
    assert_eq!(value["code"], Value::Null);
    assert_eq!(value["kind"], "invalid_argument");
    assert_eq!(value["dialect"], "flat");
    // A status that is no HTTP status is none: the warning stands.
    let odd = tollgate_stdin(&["decode"], br#"{"status":999,"message":"m"}"#);
    let value: Value = serde_json::from_slice(&odd.stdout).unwrap();
    assert_eq!(value["status"], 0);
    assert!(
        stderr(&odd).contains("no status in the input (no status line, none the body states)"),
        "{}",
        stderr(&odd)
    );
}

#[test]
fn decode_locates_broken_json_in_the_file_and_reads_a_guarded_body_without_warning() {
    let dir = scratch("decode-json-located");
    // Line 5 of the file, after a two-byte character: the column is
    // counted in characters, as editors count it.
    let file = dir.join("resp.txt");
    let response = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n\
                    {\"message\": \"x\",\r\n\"é\": bad}";
    std::fs::write(&file, response).unwrap();
    let broken = tollgate(&["decode", file.to_str().unwrap()]);
    assert_eq!(code(&broken), 0, "{}", stderr(&broken));
    let expected = format!(
        "warning: {}:5:6: the body is not the JSON its Content-Type says (expected value); read \
         as text",
        file.display()
    );
    assert!(stderr(&broken).contains(&expected), "{}", stderr(&broken));

    // A byte order mark or an XSSI guard before the JSON is passed over,
    // by the decoder and by the check alike: no warning.
    for body in [
        &b"\xef\xbb\xbf{\"error\":\"bad\",\"message\":\"x\"}"[..],
        b")]}'\n{\"error\":\"bad\",\"message\":\"x\"}",
    ] {
        let mut input =
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n".to_vec();
        input.extend_from_slice(body);
        let decoded = tollgate_stdin(&["decode"], &input);
        assert_eq!(code(&decoded), 0);
        assert!(stderr(&decoded).is_empty(), "{}", stderr(&decoded));
        let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
        assert_eq!(value["code"], "bad");
    }
    // Broken after a byte order mark: located past it, in the body given alone.
    let bare = tollgate_stdin(
        &[
            "decode",
            "--status",
            "400",
            "-H",
            "Content-Type: application/json",
        ],
        b"\xef\xbb\xbf{\"a\" 1}",
    );
    assert!(
        stderr(&bare).contains("warning: <stdin>:1:6: the body is not the JSON"),
        "{}",
        stderr(&bare)
    );
}

#[test]
fn decode_reads_the_last_of_several_curl_responses() {
    // `curl -siL` through a proxy: CONNECT, a redirect, then the error.
    let body = r#"{"error":"not_found","message":"No such scan."}"#;
    let input = format!(
        "HTTP/1.1 200 Connection established\r\n\r\n\
         HTTP/1.1 302 Found\r\nLocation: /v2/scans/1\r\nContent-Length: 0\r\n\r\n\
         HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let decoded = tollgate_stdin(&["decode"], input.as_bytes());
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 404);
    assert_eq!(value["code"], "not_found");
    assert_eq!(value["message"], "No such scan.");
    assert_eq!(value["dialect"], "flat");
}

#[test]
fn decode_skips_followed_redirects_whose_bodies_curl_left_out() {
    // `curl -siL`: the 301's body was not printed, its Content-Length was.
    let input = "HTTP/1.1 301 Moved Permanently\r\nLocation: /b\r\nContent-Length: 162\r\n\r\n\
                 HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                 X-Request-Id: 01a209f4-809a-7558-8fc1-2e4912529505\r\nContent-Length: 48\r\n\r\n\
                 {\"error\":\"not_found\",\"message\":\"No such scan.\"}";
    let decoded = tollgate_stdin(&["decode"], input.as_bytes());
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 404);
    assert_eq!(value["code"], "not_found");
    assert_eq!(value["message"], "No such scan.");
    assert_eq!(value["request_id"], "01a209f4-809a-7558-8fc1-2e4912529505");
}

#[test]
fn decode_reads_a_response_saved_with_a_byte_order_mark() {
    // As Windows editors and PowerShell's `Out-File -Encoding utf8` save it.
    let input = "\u{feff}HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                 Content-Length: 47\r\n\r\n{\"error\":\"not_found\",\"message\":\"No such scan.\"}";
    let decoded = tollgate_stdin(&["decode"], input.as_bytes());
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 404);
    assert_eq!(value["code"], "not_found");
    assert_eq!(value["message"], "No such scan.");
}

#[test]
fn decode_joins_folded_header_lines_to_the_header_before_them() {
    // An obsolete line folding (RFC 9112 §5.2), as old servers and proxies send it.
    let input = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
                 Retry-After:\r\n 30\r\nX-Request-Id:\r\n\treq_1\r\n\r\n\
                 {\"error\":\"rate_limit_exceeded\",\"message\":\"Slow down.\"}";
    let decoded = tollgate_stdin(&["decode"], input.as_bytes());
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    assert_eq!(stderr(&decoded), "");
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 429);
    assert_eq!(value["retry_after_secs"], 30);
    assert_eq!(value["request_id"], "req_1");
}

#[test]
fn decode_reads_a_decompressed_body_past_its_encoded_length() {
    // `curl -si --compressed`: the body printed decoded, under the gzip length.
    let body = r#"{"error":"rate_limit_exceeded","message":"Slow down, please."}"#;
    let input = format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
         Content-Encoding: gzip\r\nRetry-After: 30\r\nContent-Length: 20\r\n\r\n{body}"
    );
    let decoded = tollgate_stdin(&["decode"], input.as_bytes());
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 429);
    assert_eq!(value["code"], "rate_limit_exceeded");
    assert_eq!(value["message"], "Slow down, please.");
}

#[test]
fn decode_html_from_a_file() {
    let dir = scratch("decode_html");
    let file = dir.join("502.html");
    std::fs::write(
        &file,
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
    )
    .unwrap();
    let decoded = tollgate(&[
        "decode",
        "--status",
        "502",
        "--header",
        "x-amzn-RequestId: aws-1",
        "--header",
        "Content-Type: text/html",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 502);
    assert_eq!(value["dialect"], "html");
    assert_eq!(value["message"], "502 Bad Gateway");
    assert_eq!(value["kind"], "unavailable");
    assert_eq!(value["request_id"], "aws-1");
    assert_eq!(value["retryable"], true);
}

#[test]
fn decode_measures_http_dates_from_now() {
    let decoded = tollgate_stdin(
        &[
            "decode",
            "--status",
            "429",
            "--now",
            "2015-10-21T07:26:30Z",
            "--header",
            "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT",
        ],
        br#"{"error":"rate_limited"}"#,
    );
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["retry_after_secs"], 90);
    assert_eq!(value["code"], "rate_limited");
}

#[test]
fn decode_resolves_aliases_through_a_catalog() {
    let dir = scratch("decode_catalog");
    let catalog = dir.join("api.toml");
    std::fs::write(&catalog, "[errors.quota_hit]\nstatus = 429\ntitle = 'Quota'\nmessage = 'Quota'\nkind = 'quota_exceeded'\nretry = 'never'\naliases = { coded = 'QUOTA_HIT' }\n").unwrap();
    let body = br#"{"error":{"code":"QUOTA_HIT","message":"Quota","details":{}},"request_id":"r"}"#;
    let without: Value =
        serde_json::from_slice(&tollgate_stdin(&["decode", "--status", "429"], body).stdout)
            .unwrap();
    assert_eq!(
        (without["kind"].as_str(), without["retryable"].as_bool()),
        (Some("rate_limited"), Some(true))
    );
    let with: Value = serde_json::from_slice(
        &tollgate_stdin(
            &[
                "decode",
                "--status",
                "429",
                "--catalog",
                catalog.to_str().unwrap(),
            ],
            body,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(
        (with["kind"].as_str(), with["retryable"].as_bool()),
        (Some("quota_exceeded"), Some(false))
    );
}

#[test]
fn decode_never_panics_on_hostile_input() {
    let deep = "[".repeat(200_000);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("invalid UTF-8", vec![0xff, 0xfe, 0x00, b'{', 0xc3]),
        ("invalid UTF-8 JSON", b"{\"error\":\"\xff\xfe\"}".to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("NULs", vec![0; 4096]),
        ("truncated JSON", br#"{"error":{"code":"X","mess"#.to_vec()),
        (
            "head only",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5".to_vec(),
        ),
        (
            "bad header lines",
            b"HTTP/1.1 400 Bad\r\n\xff\xfe\r\n: x\r\nok: 1\r\n\r\n{}".to_vec(),
        ),
        (
            "huge content-length",
            b"HTTP/1.1 400 Bad\r\nContent-Length: 99999999999999999999\r\n\r\n{}".to_vec(),
        ),
    ];
    for (what, input) in inputs {
        let decoded = tollgate_stdin(&["decode"], &input);
        assert_eq!(code(&decoded), 0, "{what}: {}", stderr(&decoded));
        let _: Value =
            serde_json::from_slice(&decoded.stdout).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    let head_only = tollgate_stdin(
        &["decode"],
        b"HTTP/1.1 429 Too Many Requests\nRetry-After: 5",
    );
    let value: Value = serde_json::from_slice(&head_only.stdout).unwrap();
    assert_eq!(
        (value["status"].as_u64(), value["retry_after_secs"].as_u64()),
        (Some(429), Some(5))
    );

    let bad = tollgate_stdin(&["decode"], b"HTTP/1.1 abc\r\n\r\n{}");
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("<stdin>:1:1: expected a status line"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn decode_reads_at_most_16_mib_and_says_so() {
    let dir = scratch("decode_huge");
    let file = dir.join("huge.json");
    let mut body = br#"{"error":{"code":"TOO_BIG","message":""#.to_vec();
    body.resize(17 << 20, b'a');
    std::fs::write(&file, &body).unwrap();
    let decoded = tollgate(&["decode", "--status", "413", file.to_str().unwrap()]);
    assert_eq!(code(&decoded), 0);
    assert!(
        stderr(&decoded).contains("is larger than 16 MiB; decoded its first 16 MiB"),
        "{}",
        stderr(&decoded)
    );
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["status"], 413);

    let piped = tollgate_stdin(&["decode"], &body);
    assert!(
        stderr(&piped).contains("<stdin> is larger than 16 MiB"),
        "{}",
        stderr(&piped)
    );
}

#[test]
fn decode_of_blank_input_past_16_mib_says_one_thing() {
    let blank = vec![b' '; 17 << 20];
    let decoded = tollgate_stdin(&["decode"], &blank);
    assert_eq!(code(&decoded), 2);
    assert!(decoded.stdout.is_empty());
    let said = stderr(&decoded);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("nothing to decode: the first 16 MiB of <stdin> are blank"),
        "{said}"
    );
    // With a status, the blank body is decoded, and the bound said.
    let decoded = tollgate_stdin(&["decode", "--status", "502"], &blank);
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    assert!(
        stderr(&decoded).contains("decoded its first 16 MiB only"),
        "{}",
        stderr(&decoded)
    );
}

#[test]
fn decode_names_unreadable_files() {
    let output = tollgate(&["decode", "/nonexistent/body.json"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("cannot read /nonexistent/body.json"),
        "{}",
        stderr(&output)
    );
}

/// A body its Content-Type calls JSON that is a proxy's HTML page or an
/// XML error is said to be no JSON, located in the input, and named as what
/// it was read as.
#[test]
fn decode_says_a_body_labelled_json_was_read_as_html_or_xml() {
    for (body, read_as) in [
        ("<html><title>502 Bad Gateway</title></html>", "HTML"),
        (
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>",
            "XML",
        ),
    ] {
        let input =
            format!("HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n\r\n{body}");
        let decoded = tollgate_stdin(&["decode"], input.as_bytes());
        assert_eq!(code(&decoded), 0, "{read_as}: {}", stderr(&decoded));
        assert!(
            stderr(&decoded).contains(&format!(
                "warning: <stdin>:4:1: the body is not the JSON its Content-Type says (expected \
                 value); read as {read_as}"
            )),
            "{read_as}: {}",
            stderr(&decoded)
        );
    }
}

/// An empty body with only a header to go by (`-H 'Retry-After: 5'`, no
/// --status) is decoded, not refused as empty.
#[test]
fn decode_reads_an_empty_body_with_only_a_header_to_go_by() {
    let decoded = tollgate_stdin(&["decode", "-H", "Retry-After: 5"], b"");
    assert_eq!(code(&decoded), 0, "{}", stderr(&decoded));
    let value: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["retry_after_secs"], 5, "{value}");
}

#[test]
fn lint_locates_problems_and_exits_1() {
    let dir = scratch("lint");
    let broken = dir.join("broken.toml");
    let lines = [
        "[errors.low_confidence]",                   // 1
        "status = 422",                              // 2
        "title = 'Low confidence'",                  // 3
        "message = 'Confidence {score} is too low'", // 4
        "",                                          // 5
        "[errors.teapot]",                           // 6
        "status = 418",                              // 7
        "title = 'Teapot'",                          // 8
        "message = 'No'",                            // 9
        "",                                          // 10
        "[errors.broken]",                           // 11
        "status = 600",                              // 12
        "title = 'Broken'",                          // 13
        "message = 'Broken'",                        // 14
    ];
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n\n[errors.not_found]\nmessage = 'Gone'\n").unwrap();

    let output = tollgate_in(&dir, &["lint", "broken.toml", "good.toml"], None);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let out = stdout(&output);
    let printed: Vec<_> = out.lines().collect();
    assert_eq!(
        printed,
        [
            "broken.toml:4:23: entry \"low_confidence\": message placeholder {score} is not a documented details key (add it to `details`, or to `message_only` to keep it off the wire)",
            "broken.toml:12:10: entry \"broken\": status 600 is outside 400–599",
            "ok: good.toml: 2 entries",
        ],
        "{out}"
    );
    assert!(
        stderr(&output).contains("2 problems in 1 file"),
        "{}",
        stderr(&output)
    );

    let output = tollgate_in(&dir, &["lint", "good.toml"], None);
    assert_eq!(
        (code(&output), stdout(&output)),
        (0, "ok: good.toml: 2 entries\n".to_owned())
    );

    // --catalog files stack as render loads them: a later file sees earlier ones.
    let alias_a = dir.join("a.toml");
    let alias_b = dir.join("b.toml");
    std::fs::write(&alias_a, "[errors.not_found.aliases]\ncoded = 'GONE'\n").unwrap();
    std::fs::write(&alias_b, "\n[errors.conflict.aliases]\ncoded = 'GONE'\n").unwrap();
    let output = tollgate_in(&dir, &["lint", "a.toml", "b.toml"], None);
    assert_eq!(
        code(&output),
        0,
        "files are checked on their own: {}",
        stdout(&output)
    );
    let output = tollgate_in(
        &dir,
        &["lint", "--catalog", "a.toml", "--catalog", "b.toml"],
        None,
    );
    assert_eq!(code(&output), 1);
    let out = stdout(&output);
    let problem = out
        .lines()
        .find(|l| l.starts_with("b.toml:2:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        problem.contains(": entry \"conflict\": code \"GONE\" in the coded dialect"),
        "{out}"
    );
}

/// What would make the reference say other than the server sends is a
/// problem: a placeholder the layers never fill, a `docs_url` that is no
/// web link, `never` retrying a code sent with a `Retry-After`. A file with
/// only the first and last still loads, for the files after it.
#[test]
fn lint_tells_what_the_server_would_send_otherwise() {
    let dir = scratch("lint_drift");
    let lines = [
        "docs_url = 'javascript:alert(1)'", // 1
        "",                                 // 2
        "[errors.rate_limit_exceeded]",     // 3
        "retry = 'never'",                  // 4
    ];
    std::fs::write(dir.join("api.toml"), lines.join("\n")).unwrap();
    let output = tollgate_in(&dir, &["lint", "api.toml"], None);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let out = stdout(&output);
    let printed: Vec<_> = out.lines().collect();
    assert_eq!(printed.len(), 2, "{out}");
    assert!(
        printed[0]
            .starts_with("api.toml:1:12: docs_url must be an absolute http:// or https:// URL"),
        "{out}"
    );
    assert!(
        printed[1].starts_with(
            "api.toml:4:9: entry \"rate_limit_exceeded\": retry = \"never\", but the layers send it with a Retry-After"
        ),
        "{out}"
    );
    assert!(
        stderr(&output).contains("2 problems in 1 file"),
        "{}",
        stderr(&output)
    );

    // serve and render refuse the docs_url.
    std::fs::write(dir.join("url.toml"), "docs_url = 'javascript:alert(1)'\n").unwrap();
    let rendered = tollgate_in(&dir, &["render", "-c", "url.toml", "not_found"], None);
    assert_eq!(code(&rendered), 2, "{}", stdout(&rendered));
    assert!(
        stderr(&rendered).contains("url.toml:1:12: docs_url must be"),
        "{}",
        stderr(&rendered)
    );

    // A file with only a lint problem is loaded all the same: the file
    // stacked after it is checked on it.
    let never = "[errors.rate_limit_exceeded]\nretry = 'never'\n";
    std::fs::write(dir.join("never.toml"), never).unwrap();
    let rendered = tollgate_in(
        &dir,
        &["render", "-c", "never.toml", "rate_limit_exceeded"],
        None,
    );
    assert_eq!(code(&rendered), 0, "{}", stderr(&rendered));
    std::fs::write(
        dir.join("after.toml"),
        "[errors.rate_limit_exceeded]\nmessage = 'Wait {window}'\ndetails = []\n",
    )
    .unwrap();
    let output = tollgate_in(
        &dir,
        &["lint", "--catalog", "never.toml", "--catalog", "after.toml"],
        None,
    );
    let out = stdout(&output);
    assert_eq!(code(&output), 1, "{out}");
    let printed: Vec<_> = out.lines().collect();
    assert_eq!(printed.len(), 2, "{out}");
    assert!(
        printed[0].starts_with("never.toml:2:9: entry \"rate_limit_exceeded\""),
        "{out}"
    );
    assert!(printed[1].starts_with("after.toml:2:"), "{out}");

    // A `sent_as` is checked against the entry it names in the stack: an
    // earlier file that makes `conflict` wait clears it, one that makes
    // `internal_error` never retry has it told.
    std::fs::write(
        dir.join("waits.toml"),
        "[errors.conflict]\nretry = 'after'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("never_retried.toml"),
        "[errors.internal_error]\nretry = 'never'\n",
    )
    .unwrap();
    for (target, base, told) in [
        ("conflict", "waits.toml", false),
        ("internal_error", "never_retried.toml", true),
    ] {
        let sent = format!("[errors.rate_limit_exceeded]\nsent_as = '{target}'\n");
        std::fs::write(dir.join("sent.toml"), sent).unwrap();
        let output = tollgate_in(&dir, &["lint", "-c", base, "sent.toml"], None);
        let out = stdout(&output);
        assert_eq!(code(&output), if told { 1 } else { 0 }, "{target}: {out}");
        assert_eq!(
            out.contains(&format!(
                "sent.toml:2:11: entry \"rate_limit_exceeded\": sent as \"{target}\""
            )),
            told,
            "{target}: {out}"
        );
    }
}

#[test]
fn lint_keeps_its_exit_status_when_the_reader_leaves_early() {
    let dir = scratch("lint_pipe");
    std::fs::write(dir.join("broken.toml"), "[errors.broken]\nstatus = 600\n").unwrap();
    let many: Vec<String> = (0..200).map(|_| "broken.toml".to_owned()).collect();
    for (files, want) in [(vec!["broken.toml"], 1), (vec!["missing.toml"], 2)] {
        let mut args = vec!["lint"];
        args.extend(files);
        args.extend(many.iter().map(String::as_str));
        let mut child = common::tollgate_command()
            .args(&args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // `lint … | head -0`: the reader is gone before the first line.
        drop(child.stdout.take());
        assert_eq!(child.wait().unwrap().code(), Some(want), "{args:?}");
    }
}

/// With stdout and stderr in one file (`lint … > log 2>&1`), every line
/// stands where it was told: a valid file's line before the error of the
/// unreadable file named after it, and the problems before their count.
#[test]
fn lint_lines_and_errors_keep_their_order_in_one_log() {
    let dir = scratch("lint_one_log");
    std::fs::write(
        dir.join("good.toml"),
        "[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.toml"),
        "[errors.broken]\nstatus = 600\ntitle = 'Broken'\nmessage = 'Broken'\n",
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let status = common::tollgate_command()
        .args(["lint", "good.toml", "missing.toml", "broken.toml"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let logged = std::fs::read_to_string(dir.join("log")).unwrap();
    let lines: Vec<_> = logged.lines().collect();
    assert_eq!(lines.len(), 4, "{logged}");
    assert_eq!(lines[0], "ok: good.toml: 1 entry", "{logged}");
    assert!(
        lines[1].starts_with("error: cannot read missing.toml: "),
        "{logged}"
    );
    assert_eq!(
        lines[2..],
        [
            "broken.toml:2:10: entry \"broken\": status 600 is outside 400–599",
            "1 problem in 1 file",
        ],
        "{logged}"
    );
}

#[test]
fn a_stderr_reader_that_leaves_early_changes_no_exit_status() {
    let dir = scratch("stderr_pipe");
    // Problems to tell on stderr, whose reader is gone before they are
    // written (a write to a closed pipe fails at once, whatever its size).
    let broken: String = (0..5)
        .map(|i| format!("[errors.e{i}]\nstatus = 600\n"))
        .collect();
    std::fs::write(dir.join("broken.toml"), broken).unwrap();
    for (args, want) in [
        (vec!["render", "not_found", "--catalog", "broken.toml"], 2),
        (vec!["codes", "--catalog", "broken.toml"], 2),
    ] {
        let mut child = common::tollgate_command()
            .args(&args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `… 2>&1 | head -0`.
        drop(child.stderr.take());
        assert_eq!(child.wait().unwrap().code(), Some(want), "{args:?}");
    }
}

#[test]
fn lint_locates_invalid_utf8_and_names_unreadable_files() {
    let dir = scratch("lint_bytes");
    std::fs::write(
        dir.join("latin1.toml"),
        b"[errors.a]\nstatus = 400\ntitle = 'caf\xe9'\n",
    )
    .unwrap();
    let output = tollgate_in(&dir, &["lint", "latin1.toml", "missing.toml"], None);
    assert_eq!(code(&output), 2, "an unreadable file outranks problems");
    assert!(
        stdout(&output).contains("latin1.toml:3:13: not valid UTF-8"),
        "{}",
        stdout(&output)
    );
    // A file saved as UTF-16 is said to be so.
    let utf16: Vec<u8> = "\u{feff}[errors.a]\nstatus = 400\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(dir.join("utf16.toml"), utf16).unwrap();
    let linted = tollgate_in(&dir, &["lint", "utf16.toml"], None);
    assert_eq!(code(&linted), 1, "{linted:?}");
    assert!(
        stdout(&linted).contains("utf16.toml:1:1: UTF-16, not UTF-8"),
        "{}",
        stdout(&linted)
    );
    assert!(
        stderr(&output).contains("cannot read missing.toml: "),
        "{}",
        stderr(&output)
    );

    // A file without end is not read whole: it too could not be read.
    let output = tollgate_in(&dir, &["lint", "/dev/zero"], None);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("/dev/zero: the catalog is larger than 16 MiB"),
        "{}",
        stderr(&output)
    );

    let output = tollgate_in(&dir, &["lint"], None);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("no catalog to lint"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn broken_catalogs_stop_render_decode_and_codes_with_exit_2() {
    let dir = scratch("broken_catalog");
    std::fs::write(
        dir.join("bad.toml"),
        "\n\n[errors.x]\nstatus = 99\ntitle = 't'\nmessage = 'm'\n",
    )
    .unwrap();
    for args in [
        &["render", "not_found", "--catalog", "bad.toml"][..],
        &["decode", "--catalog", "bad.toml", "-"][..],
        &["codes", "--catalog", "bad.toml"][..],
    ] {
        let output = tollgate_in(&dir, args, Some(b"{}"));
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(
            stderr(&output).contains("bad.toml:4:10: entry \"x\": status 99 is outside 400–599"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = tollgate_in(&dir, &["codes", "--catalog", "nope.toml"], None);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("cannot read nope.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_codes_and_dialects_exit_2_with_the_valid_ones() {
    let output = tollgate(&["render", "no_such_code"]);
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.contains("unknown error code \"no_such_code\""),
        "{message}"
    );
    for def in Catalog::builtin().iter() {
        assert!(
            message.contains(def.code()),
            "{} missing from: {message}",
            def.code()
        );
    }

    let dir = scratch("unknown_code");
    std::fs::write(
        dir.join("api.toml"),
        "[errors.low_confidence]\nstatus = 422\ntitle = 't'\nmessage = 'm'\n",
    )
    .unwrap();
    let output = tollgate_in(&dir, &["render", "nope", "--catalog", "api.toml"], None);
    assert!(
        stderr(&output).contains("low_confidence"),
        "catalog codes are listed too: {}",
        stderr(&output)
    );
    assert_eq!(
        code(&tollgate_in(
            &dir,
            &["render", "low_confidence", "-c", "api.toml"],
            None
        )),
        0
    );

    for args in [
        &["render", "not_found", "--dialect", "soap"][..],
        &["codes", "-d", "soap"][..],
    ] {
        let output = tollgate(args);
        assert_eq!(code(&output), 2, "{args:?}");
        let message = stderr(&output);
        assert!(message.contains("unknown dialect \"soap\""), "{message}");
        for dialect in Dialect::ALL {
            assert!(
                message.contains(dialect.name()),
                "{dialect} missing from: {message}"
            );
        }
    }
    // A slip of the keys is told the dialect meant, as lint tells one in a
    // catalog's aliases.
    for args in [
        &["codes", "--dialect", "problm"][..],
        &["render", "not_found", "-d", "stirpe"],
    ] {
        let output = tollgate(args);
        assert_eq!(code(&output), 2, "{args:?}");
        let message = stderr(&output);
        let meant = if args[0] == "codes" {
            "problem"
        } else {
            "stripe"
        };
        assert!(
            message.contains(&format!("(did you mean `{meant}`?)")),
            "{message}"
        );
    }
    // A name in another case is the name.
    assert_eq!(code(&tollgate(&["render", "not_found", "-d", "Stripe"])), 0);
}

#[test]
fn codes_lists_the_effective_catalog_aligned() {
    let dir = scratch("codes");
    std::fs::write(
        dir.join("api.toml"),
        "[errors.low_confidence]\nstatus = 422\ntitle = 'Low confidence'\nmessage = 'm'\nretry = 'backoff'\naliases = { coded = 'LOW_CONFIDENCE' }\n",
    )
    .unwrap();
    let output = tollgate_in(
        &dir,
        &["codes", "--catalog", "api.toml", "--dialect", "coded"],
        None,
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(
        lines.len(),
        Catalog::builtin().iter().count() + 2,
        "header, built-ins, the file's entry"
    );
    let header = lines[0];
    let columns: Vec<_> = ["CODE", "STATUS", "WIRE CODE", "KIND", "RETRY", "TITLE"]
        .iter()
        .map(|c| header.find(c).unwrap())
        .collect();
    let last = lines.last().unwrap();
    let cells = [
        "low_confidence",
        "422",
        "LOW_CONFIDENCE",
        "invalid_argument",
        "backoff",
        "Low confidence",
    ];
    for (start, cell) in columns.iter().zip(cells) {
        assert_eq!(
            last.get(*start..*start + cell.len()),
            Some(cell),
            "{last:?} in\n{out}"
        );
    }
    for line in &lines[1..] {
        assert_eq!(line.chars().nth(columns[1] - 1), Some(' '), "{line:?}");
        assert!(
            line[columns[1]..].starts_with(|c: char| c.is_ascii_digit()),
            "{line:?}"
        );
    }
}

#[test]
fn help_shows_examples() {
    for args in [
        &["--help"][..],
        &["render", "--help"],
        &["decode", "--help"],
        &["lint", "--help"],
        &["codes", "--help"],
    ] {
        let output = tollgate(args);
        assert_eq!(code(&output), 0, "{args:?}");
        let help = stdout(&output);
        assert!(help.contains("Examples:\n  tollgate "), "{args:?}: {help}");
    }
    let output = tollgate(&[]);
    assert_eq!(code(&output), 2, "no subcommand is a usage error");
    assert!(stderr(&output).contains("render"), "{}", stderr(&output));
}

#[test]
fn render_examples_in_the_help_render_without_warnings() {
    let mut seen = 0;
    for help in [
        &["--help"][..],
        &["render", "--help"],
        &["decode", "--help"],
    ] {
        let help = stdout(&tollgate(help));
        for line in help.lines() {
            let Some(example) = line.strip_prefix("  tollgate render ") else {
                continue;
            };
            let example = example.split(" | ").next().unwrap();
            // Words, with 'quoted text' as one.
            let mut args = vec!["render".to_owned()];
            for (i, part) in example.split('\'').enumerate() {
                if i % 2 == 1 {
                    args.push(part.to_owned());
                } else {
                    args.extend(part.split_whitespace().map(str::to_owned));
                }
            }
            // Catalog files of the reader's own.
            if args.iter().any(|a| a == "-c" || a == "--catalog") {
                continue;
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = tollgate(&args);
            assert_eq!(code(&output), 0, "{line}: {}", stderr(&output));
            assert_eq!(stderr(&output), "", "{line}");
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} examples");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = common::tollgate_command()
        .args(["codes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    // More than stdout's buffer holds, to a pipe whose reader is gone
    // before the command starts: the write fails while the command runs,
    // not at the last flush.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = common::tollgate_command()
        .args(["docs"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

/// Output that cannot be written (a full disk) fails, `--help` and
/// `--version` included: none claims success with its text lost.
#[cfg(target_os = "linux")]
#[test]
fn output_to_a_full_disk_fails_help_and_version_too() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["render", "--help"],
        &["help", "decode"],
        &["codes"],
        &["render", "not_found"],
    ] {
        let output = common::tollgate_command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).starts_with("error: cannot write the output: "),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // A reader that leaves early is no failure.
    let mut child = common::tollgate_command()
        .args(["--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

/// Lint output that cannot be written (a full disk) fails with exit 2, a
/// problem line too long to be held back included: problems are never lost
/// behind the exit status of problems found.
#[cfg(target_os = "linux")]
#[test]
fn lint_output_to_a_full_disk_fails_however_long_its_lines() {
    let dir = scratch("lint_full_disk");
    let long_code = "a".repeat(9000);
    for code_name in ["broken", long_code.as_str()] {
        std::fs::write(
            dir.join("broken.toml"),
            format!("[errors.{code_name}]\nstatus = 600\ntitle = 'T'\nmessage = 'm'\n"),
        )
        .unwrap();
        let output = common::tollgate_command()
            .args(["lint", "broken.toml"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let said = stderr(&output);
        assert_eq!(code(&output), 2, "{} bytes: {said}", code_name.len());
        assert!(
            said.contains("error: cannot write the output: "),
            "{} bytes: {said}",
            code_name.len()
        );
    }
}

#[test]
fn seed_004_body_from_its_example_catalog() {
    let catalog = "examples/catalogs/004-detection.toml";
    let output = tollgate(&[
        "render",
        "insufficient_credits",
        "--dialect",
        "envelope",
        "--catalog",
        catalog,
        "--set",
        "required=1",
        "--set",
        "available=0",
    ]);
    let printed = Printed::parse(&output);
    assert_eq!(printed.status_line, "HTTP/1.1 402 Payment Required");
    let seed: Value = serde_json::from_str(
        r#"{"data":null,"success":false,"message":"Insufficient credits. Required: 1, available: 0","errors":[{"insufficient_credits":["Insufficient credits. Required: 1, available: 0"]}]}"#,
    )
    .unwrap();
    assert_eq!(printed.json(), seed);
}

#[test]
fn lint_columns_skip_a_byte_order_mark_and_control_characters_are_escaped() {
    let dir = scratch("lint_bom_escapes");
    std::fs::write(
        dir.join("bom.toml"),
        b"\xef\xbb\xbf[errors.foo]\r\nstatus = 400\r\ntitle=\"x\"\r\n",
    )
    .unwrap();
    let output = tollgate_in(&dir, &["lint", "bom.toml"], None);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("bom.toml:1:1: entry \"foo\": "),
        "{}",
        stdout(&output)
    );

    std::fs::write(
        dir.join("esc.toml"),
        "[errors.foo]\n\"\\u001b[31mbad\" = 1\n",
    )
    .unwrap();
    let output = tollgate_in(&dir, &["lint", "esc.toml"], None);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let out = stdout(&output);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("unknown field `\\u{1b}[31mbad`"), "{out}");
    // Loaded by another command, the problem goes to stderr, escaped too.
    let output = tollgate_in(&dir, &["codes", "--catalog", "esc.toml"], None);
    assert_eq!(code(&output), 2);
    assert!(!stderr(&output).contains('\u{1b}'), "{:?}", stderr(&output));
}

#[test]
fn lint_says_each_problem_once_and_counts_each_file_once() {
    let dir = scratch("lint_once");
    std::fs::write(
        dir.join("twice.toml"),
        "[errors.foo]\nstatus = 400\ntitle = 't'\nmessage = 'm'\ndetails = ['b', 'b']\n",
    )
    .unwrap();
    for args in [
        &["lint", "twice.toml"][..],
        &["lint", "--catalog", "twice.toml", "twice.toml"],
    ] {
        let output = tollgate_in(&dir, args, None);
        assert_eq!(code(&output), 1, "{args:?}");
        let out = stdout(&output);
        // The bad key once, and that it is listed twice once.
        assert_eq!(out.lines().count(), 2, "{args:?}: {out}");
        assert_eq!(out.matches("must be [a-z]").count(), 1, "{args:?}: {out}");
        assert_eq!(out.matches("is listed twice").count(), 1, "{args:?}: {out}");
        assert!(
            stderr(&output).contains("2 problems in 1 file"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn lint_tells_problems_in_the_order_of_the_file() {
    let dir = scratch("lint-file-order");
    std::fs::write(
        dir.join("api.toml"),
        "[errors.zzz_last]\nstatus = 400\ntitle = \"\"\nmessage = \"m\"\n\n\
         [errors.aaa_first]\nstatus = 400\ntitle = \"T\"\nmessage = \"m\"\n\
         details = [\"type\", \"ab\", \"ab\"]\nmessage_only = [\"ab\", \"b c\"]\n",
    )
    .unwrap();
    let linted = tollgate_in(&dir, &["lint", "api.toml"], None);
    assert_eq!(code(&linted), 1);
    let out = stdout(&linted);
    let places: Vec<(usize, usize)> = out
        .lines()
        .map(|line| {
            let mut parts = line.split(':').skip(1);
            let mut number = || parts.next().unwrap().parse::<usize>().unwrap();
            (number(), number())
        })
        .collect();
    assert!(places.len() >= 4, "{out}");
    assert!(places.is_sorted(), "{out}");
}

#[test]
fn problems_past_the_hundred_told_are_counted() {
    let dir = scratch("lint-many-problems");
    let mut text = String::new();
    for i in 0..150 {
        text.push_str(&format!(
            "[errors.entry_{i}]\nstatus = 400\ntitle = \"T\"\nmessage = \"{{undocumented}}\"\n"
        ));
    }
    std::fs::write(dir.join("big.toml"), text).unwrap();
    let linted = tollgate_in(&dir, &["lint", "big.toml"], None);
    assert_eq!(code(&linted), 1);
    let out = stdout(&linted);
    assert_eq!(out.lines().count(), 101, "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with("and 50 more problems, not shown"),
        "{out}"
    );
    assert!(
        stderr(&linted).contains("150 problems in 1 file"),
        "{}",
        stderr(&linted)
    );
    let rendered = tollgate_in(&dir, &["render", "not_found", "-c", "big.toml"], None);
    assert_eq!(code(&rendered), 2);
    assert!(
        stderr(&rendered).contains("error: 150 catalog problems in 1 file"),
        "{}",
        stderr(&rendered)
    );
}

#[test]
fn lint_tells_the_same_places_whatever_the_line_breaks() {
    let dir = scratch("lint-crlf");
    let entry = "[errors.abc]\nstatus = 400\n";
    let files = [
        // A string left open: told at the end of its line.
        format!("{entry}title = \"x\nmessage = 'm'\n"),
        // A template that does not parse: told at its brace.
        format!("{entry}title = 't'\nmessage = \"a \\\"b\\\" {{c\"\n"),
        format!("{entry}title = 't'\nmessage = '''\none\ntwo {{c'''\n"),
    ];
    let expected = [
        "t.toml:3:11: entry \"abc\": ",
        "t.toml:4:20: entry \"abc\": message template: unclosed",
        "t.toml:6:5: entry \"abc\": message template: unclosed",
    ];
    for (lf, expected) in files.iter().zip(expected) {
        for (name, text) in [
            ("lf", lf.clone()),
            ("crlf", lf.replace('\n', "\r\n")),
            ("bom", format!("\u{feff}{}", lf.replace('\n', "\r\n"))),
        ] {
            std::fs::write(dir.join("t.toml"), &text).unwrap();
            let linted = tollgate_in(&dir, &["lint", "t.toml"], None);
            assert_eq!(code(&linted), 1, "{name}: {text:?}");
            let out = stdout(&linted);
            assert_eq!(out.lines().count(), 1, "{name}: {out}");
            assert!(out.starts_with(expected), "{name}: {out}");
            assert!(!out.contains("at byte"), "{name}: {out}");
        }
    }
    // A multi-line message written with `\r\n` is as valid as with `\n`.
    let text = "[errors.abc]\r\nstatus = 400\r\ntitle = 't'\r\nmessage = '''\r\none\r\ntwo'''\r\n";
    std::fs::write(dir.join("t.toml"), text).unwrap();
    let linted = tollgate_in(&dir, &["lint", "t.toml"], None);
    assert_eq!(code(&linted), 0, "{}", stdout(&linted));
}

#[test]
fn decode_warnings_escape_control_characters_in_file_names() {
    let dir = scratch("decode_escaped_names");
    let name = "resp\u{1b}[2K.txt";
    std::fs::write(
        dir.join(name),
        b"HTTP/1.1 429 Too Many Requests\r\nno colon\r\nRetry-After: 3\r\n\r\n{}",
    )
    .unwrap();
    let output = tollgate_in(&dir, &["decode", name], None);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        err.contains("warning: resp\\u{1b}[2K.txt:2:1: skipped a line with no `:`"),
        "{err}"
    );
}

/// A negative number reaches the check that says what the option takes,
/// not clap's "unexpected argument '-4'" with a tip to pass it after `--`
/// (which would make it the next positional argument).
#[test]
fn a_negative_number_is_told_what_the_option_takes() {
    for (args, says) in [
        (
            &["decode", "--status", "-400"][..],
            "invalid value '-400' for '--status <N>': -400 is less than 100: expected a whole number from 100 to 999",
        ),
        (
            &["render", "rate_limit_exceeded", "--retry-after", "-5"],
            "invalid value '-5' for '--retry-after <SECS>': -5 is negative",
        ),
        (
            &["probe", "http://127.0.0.1:9", "--max-requests", "-1"],
            "invalid value '-1' for '--max-requests <N>': -1 is negative",
        ),
        (
            &["probe", "http://127.0.0.1:9", "--max-body-mib", "-1"],
            "invalid value '-1' for '--max-body-mib <MIB>': -1 is less than 1",
        ),
        (
            &["probe", "http://127.0.0.1:9", "--timeout", "-1"],
            "invalid value '-1' for '--timeout <SECS>': -1 is less than 1",
        ),
    ] {
        let out = tollgate_stdin(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(says), "{args:?}: {said}");
        assert!(!said.contains("unexpected argument"), "{args:?}: {said}");
    }
}

/// `--title` and `--api-version` name the OpenAPI document: given with
/// another format they are said to do nothing there, not ignored in silence.
#[test]
fn docs_title_is_the_openapi_documents_and_said_so_elsewhere() {
    let out = tollgate(&["docs", "--format", "openapi", "--title", "Scans API"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["info"]["title"], "Scans API");
    assert_eq!(doc["info"]["version"], "1.0.0");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    for format in ["html", "markdown"] {
        let out = tollgate(&["docs", "--format", format, "--title", "Scans API"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with("warning: --title and --api-version are the OpenAPI"),
            "{format}: {}",
            stderr(&out)
        );
    }
    assert!(stderr(&tollgate(&["docs", "--format", "markdown"])).is_empty());
}

/// A named pipe where a file was expected waits for its writer and says
/// so while it waits: not a silent hang. One whose writer is there
/// already (`lint <(…)`, `/dev/stdin` piped) is read without a word.
#[cfg(unix)]
#[test]
fn a_named_pipe_is_read_once_its_writer_comes_and_the_wait_is_told() {
    const CATALOG: &[u8] =
        b"[errors.gone]\nstatus = 410\ntitle = \"Gone\"\nmessage = \"It is gone.\"\n";
    let dir = scratch("named-pipe");
    let fifo = dir.join("api.toml");
    // Told while it waits, before any writer comes.
    let (told, child) = waiting_on_a_named_pipe(&dir, &fifo, &["lint", "api.toml"]);
    assert_eq!(
        told,
        "reading api.toml, a named pipe: waiting for its writer\n"
    );
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer.write_all(CATALOG).unwrap();
    drop(writer);
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0);
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok: api.toml: 1 entry"));

    let mut child = common::tollgate_command()
        .args(["lint", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(CATALOG).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// Makes `fifo` a named pipe and runs the CLI with `args` in `dir`: the
/// first line it says on stderr, and the running command.
#[cfg(unix)]
fn waiting_on_a_named_pipe(
    dir: &Path,
    fifo: &Path,
    args: &[&str],
) -> (String, std::process::Child) {
    let made = std::process::Command::new("mkfifo")
        .arg(fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = common::tollgate_command()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut told = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut told).unwrap();
    (told, child)
}

/// `docs -o` onto a named pipe with no reader says it waits for one, and
/// writes the page once a reader comes.
#[cfg(unix)]
#[test]
fn docs_written_to_a_named_pipe_tell_the_wait_for_its_reader() {
    let dir = scratch("named-pipe-out");
    let fifo = dir.join("errors.html");
    let (told, mut child) = waiting_on_a_named_pipe(&dir, &fifo, &["docs", "-o", "errors.html"]);
    assert_eq!(
        told,
        "writing errors.html, a named pipe: waiting for its reader\n"
    );
    let mut page = String::new();
    std::fs::File::open(&fifo)
        .unwrap()
        .read_to_string(&mut page)
        .unwrap();
    assert!(page.contains("rate_limit_exceeded"), "{page}");
    assert!(child.wait().unwrap().success());
}
