//! `tollgate probe` against servers that answer every connection with
//! garbage: random bytes, lying or broken framing, absurd headers, bodies
//! that are no JSON or JSON no parser should trust, interim responses,
//! redirect loops, a slow drip. Whatever comes back, the probe ends within
//! its timeouts, exits 1 (checks failed) or 2 (cannot probe), never panics,
//! and writes a report free of control characters and of the key.

mod common;

use std::fmt;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};

/// The key some probes are given, which no report may show.
const KEY: &str = "tg_hostile_k3y_never_shown_7f3a9c";

/// How long one probe may run: a bound on a hang, not a measure of speed.
/// Each request may take `--timeout 1` and a 429 may be waited out for up
/// to 5 s; a probe sends a dozen or so. A debug build reading a 4 MiB body
/// at each of them took 41–46 s on a 2-core machine with nothing else
/// running, and past 60 s while builds ran beside it.
const BOUND: Duration = Duration::from_secs(120);

/// How long a slow drip goes on before the server closes.
const DRIP_FOR: Duration = Duration::from_secs(3);

/// The pause between two bytes of a slow drip.
const DRIP_PACE: Duration = Duration::from_millis(100);

/// What a hostile server answers to every connection.
#[derive(Clone)]
struct Reply {
    /// The bytes written once the request head is read (or not).
    bytes: Vec<u8>,
    /// Written a byte at a time, [`DRIP_PACE`] apart, for at most [`DRIP_FOR`].
    drip: bool,
    /// How long the connection stays open after the bytes.
    linger: Duration,
}

impl Reply {
    fn new(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply {
            bytes: bytes.into(),
            drip: false,
            linger: Duration::ZERO,
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(600)];
        write!(
            f,
            "Reply {{ {} bytes, drip: {}, linger: {:?}: {} }}",
            self.bytes.len(),
            self.drip,
            self.linger,
            shown.escape_ascii()
        )
    }
}

/// A server on 127.0.0.1 answering every connection with one [`Reply`],
/// until dropped.
struct Hostile {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    fn start(reply: Reply) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let reply = Arc::new(reply);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let reply = Arc::clone(&reply);
                std::thread::spawn(move || answer(stream, &reply));
            }
        });
        Hostile { addr, stop }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads the request head, writes the reply, and closes; every step bounded.
fn answer(mut stream: TcpStream, reply: &Reply) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0; 8192];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let bytes = echoed(&reply.bytes, &head);
    if reply.drip {
        let started = Instant::now();
        for byte in &bytes {
            if started.elapsed() > DRIP_FOR || stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(DRIP_PACE);
        }
    } else {
        let _ = stream.write_all(&bytes);
    }
    std::thread::sleep(reply.linger);
    let _ = stream.shutdown(Shutdown::Write);
    // What the client still sends (a body) is read briefly, so that the
    // close is seldom a reset that loses the reply.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut drained = 0;
    while drained < 4 << 20 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// `bytes` with each [`ECHO`] replaced by the request's `Authorization`
/// value: a server that repeats the credential it was sent.
fn echoed(bytes: &[u8], head: &[u8]) -> Vec<u8> {
    let Some(at) = bytes.windows(ECHO.len()).position(|w| w == ECHO) else {
        return bytes.to_vec();
    };
    let credential = head
        .split(|b| *b == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|b| *b == b':')?);
            name.eq_ignore_ascii_case(b"authorization")
                .then(|| value[1..].trim_ascii().to_vec())
        })
        .unwrap_or_default();
    let mut out = bytes[..at].to_vec();
    out.extend(credential);
    out.extend(echoed(&bytes[at + ECHO.len()..], head));
    out
}

/// Where a reply repeats the credential it was sent.
const ECHO: &[u8] = b"{auth}";

/// How the probe is given the key, if at all.
#[derive(Clone, Copy, Debug)]
enum KeyVia {
    Absent,
    Flag,
    Env,
    UserInfo,
}

/// How one probe is run.
#[derive(Clone, Copy, Debug)]
struct Run {
    key: KeyVia,
    /// `--route` flags, so that every kind of request is sent.
    routes: bool,
    json: bool,
}

/// What a probe did.
struct Outcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `tollgate probe` against `server`, killing it past [`BOUND`].
fn probe(server: &Hostile, run: Run) -> Outcome {
    let addr = server.addr;
    let base = match run.key {
        KeyVia::UserInfo => format!("http://{KEY}@{addr}"),
        _ => format!("http://{addr}"),
    };
    let mut command = common::tollgate_command();
    command.args([
        "probe",
        base.as_str(),
        "--timeout",
        "1",
        "--max-requests",
        "3",
        "--max-body-mib",
        "1",
    ]);
    if run.routes {
        command.args(["--route", "POST:/v1/items", "--route", "GET:/v1/items/{id}"]);
    }
    if run.json {
        command.arg("--json");
    }
    match run.key {
        KeyVia::Flag => {
            command.args(["--key", KEY]);
        }
        KeyVia::Env => {
            command.env("TOLLGATE_API_KEY", KEY);
        }
        KeyVia::Absent | KeyVia::UserInfo => {}
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tollgate binary starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let stderr = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the probe ran past {BOUND:?} ({run:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        status,
        stdout: stdout.join().unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// Probes a server answering `reply` and holds the outcome to every rule.
fn survives(reply: &Reply, run: Run) {
    let server = Hostile::start(reply.clone());
    let outcome = probe(&server, run);
    drop(server);
    let stdout = String::from_utf8(outcome.stdout).unwrap_or_else(|e| {
        panic!("the report is not UTF-8 ({e}); {run:?}, {reply:?}");
    });
    let stderr = &outcome.stderr;
    let context = || format!("{run:?}\n{reply:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "a panic: {}", context());
    let Some(code) = outcome.status.code() else {
        panic!("ended by a signal ({}): {}", outcome.status, context());
    };
    assert!(
        code == 1 || code == 2,
        "exit code {code}, expected 1 or 2: {}",
        context()
    );
    if code == 2 {
        assert!(stdout.is_empty(), "a report after exit 2: {}", context());
        assert!(stderr.contains("error: "), "{}", context());
    } else if run.json {
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("the report is not JSON ({e}): {}", context()));
        assert_eq!(report["ok"], false, "{}", context());
        assert!(report["checks"].is_array(), "{}", context());
    } else {
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.starts_with("FAILED: "), "{}", context());
    }
    assert!(
        stdout.chars().all(|c| c == '\n' || !c.is_control()),
        "a control character in the report: {}",
        context()
    );
    assert!(
        !stdout.contains(KEY),
        "the key in the report: {}",
        context()
    );
    assert!(!stderr.contains(KEY), "the key on stderr: {}", context());
}

// ---------------------------------------------------------------------------
// What a hostile server sends.

/// A status line: common statuses, any three digits, or none well-formed.
fn status_line() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        4 => prop::sample::select(vec![
            200u16, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 405, 409, 413, 415, 422,
            429, 500, 503,
        ])
        .prop_map(|s| s.to_string()),
        1 => (100u16..1000).prop_map(|s| s.to_string()),
        1 => prop::sample::select(vec!["0", "000", "1000", "-1", "abc", "", "42", "4294967296"])
            .prop_map(str::to_owned),
    ];
    let version = prop::sample::select(vec![
        "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/0.9", "ICY", "http/1.1",
    ]);
    let reason = prop_oneof![
        Just(b"Whatever".to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ];
    let end = prop::sample::select(vec!["\r\n", "\r\n", "\n"]);
    (version, status, reason, end).prop_map(|(version, status, reason, end)| {
        let mut line = format!("{version} {status} ").into_bytes();
        line.extend(reason.into_iter().filter(|b| *b != b'\n'));
        line.extend_from_slice(end.as_bytes());
        line
    })
}

/// A `Retry-After` no client should trust.
fn absurd_retry_after() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "99999999999",
        "99999999999999999999999",
        "18446744073709551616",
        "-1",
        "-99999999999",
        "0",
        "0.1",
        "1e400",
        "1e-400",
        "NaN",
        "inf",
        "",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 1900 00:00:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "tomorrow",
    ])
    .prop_map(str::to_owned)
}

/// A header value: text, bytes that are no UTF-8, a line of 100 KB.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[ -~]{0,40}".prop_map(String::into_bytes),
        2 => absurd_retry_after().prop_map(String::into_bytes),
        2 => prop::sample::select(vec![
            "application/json",
            "application/problem+json",
            "application/json; charset=utf-16",
            "text/html",
            "chunked",
            "gzip",
            "gzip, chunked",
            "chunked, chunked",
            "/openapi.json",
            "//evil.example/x",
            "http://user:pass@127.0.0.1:1/",
            "rate_limit_exceeded",
            "not_found",
            "\"burst\";r=99999999999999999999;t=-5",
            "\"p\";q=0;w=0, \"p\";q=-1;w=1e9",
            "Bearer realm=\"\u{0}\"",
            "{auth}",
        ])
        .prop_map(|v| v.as_bytes().to_vec()),
        1 => prop::collection::vec(0x80u8..=0xff, 1..24),
        1 => prop::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\n'), 0..24),
        1 => Just(vec![b'a'; 100_000]),
    ]
}

/// A header line, named as the probe reads it or not.
fn header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        6 => prop::sample::select(vec![
            "Content-Type",
            "Content-Length",
            "Transfer-Encoding",
            "Content-Encoding",
            "Retry-After",
            "Date",
            "Location",
            "X-Error-Code",
            "X-Request-Id",
            "WWW-Authenticate",
            "Allow",
            "RateLimit",
            "RateLimit-Policy",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "Connection",
            "Upgrade",
            "Trailer",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9-]{1,16}",
        1 => prop::sample::select(vec!["", " X", "X Y", ":", "X\u{0}Y", "\u{e9}"])
            .prop_map(str::to_owned),
    ];
    (name, header_value()).prop_map(|(name, value)| {
        let mut line = name.into_bytes();
        line.extend_from_slice(b": ");
        line.extend(value);
        line.extend_from_slice(b"\r\n");
        line
    })
}

/// Any JSON value, its strings and numbers chosen to upset a reader.
fn weird_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "rate_limit_exceeded",
            "not_found",
            "invalid_key",
            "idempotency_key_reused",
            "method_not_allowed",
            "https://errors.example/not_found",
            "\u{1b}[31mred\u{1b}[0m",
            "\u{202e}reversed",
            "thread 'main' panicked at src/main.rs:1:1",
            "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop::sample::select(vec![
            "type",
            "title",
            "status",
            "detail",
            "instance",
            "code",
            "message",
            "error",
            "errors",
            "request_id",
            "requestId",
            "meta",
            "param",
            "details",
            "paths",
            "servers",
            "url",
            "get",
            "post",
            "security",
            "requestBody",
            "content",
            "application/json",
            "example",
            "/v1/items",
            "/{id}",
            "/\u{9b}31m",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A body: JSON whole or cut, nested past any parser's depth, no UTF-8,
/// huge, or random.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        4 => weird_json().prop_map(|v| v.to_string().into_bytes()),
        2 => (weird_json(), 0.0f64..1.0).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            let at = (text.len() as f64 * cut) as usize;
            text[..at].to_vec()
        }),
        1 => (1usize..200_000, any::<bool>()).prop_map(|(depth, closed)| {
            let mut text = "[".repeat(depth);
            if closed {
                text.push_str(&"]".repeat(depth));
            }
            text.into_bytes()
        }),
        1 => (1usize..50_000).prop_map(|depth| {
            "{\"error\":".repeat(depth).into_bytes()
        }),
        1 => prop::collection::vec(0x80u8..=0xff, 1..512).prop_map(|bytes| {
            let mut body = b"{\"code\":\"".to_vec();
            body.extend(bytes);
            body.extend_from_slice(b"\"}");
            body
        }),
        1 => (1usize..3).prop_map(|mib| {
            let mut body = b"{\"message\":\"".to_vec();
            body.resize(mib << 20, b'x');
            body
        }),
        1 => prop::collection::vec(any::<u8>(), 0..1024),
        1 => prop::sample::select(vec![
            r#"{"code":"\ud800","message":"\udfff\ud83d\ude00\ud83d"}"#,
            r#"{"error":{"code":"not_found","message":"cut \ud8"#,
            r#"{"errors":[{"status":"99999999999999999999","code":{"a":[]}}]}"#,
            r#"{"type":"about:blank","status":-1e999,"title":null,"detail":"\u0000"}"#,
            "<html><head><title>&#1114112;&#xD800;&amp;lt;&#0;</title></head></html>",
            "<Error><Code>&#x1F600;&</Code><Message><Message></Error>",
            "<h1 <title>></h1",
            "Invalid key: {auth}",
            r#"{"code":"invalid_key","message":"{auth} is not a key","request_id":"{auth}"}"#,
            "\u{feff}{\"code\":\"not_found\"}",
        ])
        .prop_map(|b| b.as_bytes().to_vec()),
    ]
}

/// How the body is framed, honestly or not.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// Ended by the close.
    Close,
    /// A `Content-Length` this far from the truth.
    Length(i64),
    /// Two `Content-Length`s that disagree.
    TwoLengths,
    /// Chunked, in chunks of this size.
    Chunked(usize),
    /// Chunked with a size that is no hex number, or past any memory.
    BadChunk(&'static str),
    /// Chunked without the last chunk.
    Unfinished,
    /// Both `Content-Length` and chunked.
    Both,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        2 => Just(Framing::Close),
        4 => Just(Framing::Length(0)),
        2 => (-100i64..100_000).prop_map(Framing::Length),
        1 => Just(Framing::TwoLengths),
        2 => (1usize..4096).prop_map(Framing::Chunked),
        1 => prop::sample::select(vec!["zz", "-1", "ffffffffffffffffffff", "", "1;x=\u{0}"])
            .prop_map(Framing::BadChunk),
        1 => Just(Framing::Unfinished),
        1 => Just(Framing::Both),
    ]
}

/// `body` framed as `framing` says: the framing headers and the bytes after the head.
fn framed(body: &[u8], framing: Framing) -> (String, Vec<u8>) {
    let chunked = |size: usize| {
        let mut out = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out
    };
    match framing {
        Framing::Close => (String::new(), body.to_vec()),
        Framing::Length(off) => {
            let length = (body.len() as i64 + off).max(0);
            (format!("Content-Length: {length}\r\n"), body.to_vec())
        }
        Framing::TwoLengths => (
            format!(
                "Content-Length: {}\r\nContent-Length: {}\r\n",
                body.len(),
                body.len() + 7
            ),
            body.to_vec(),
        ),
        Framing::Chunked(size) => {
            let mut out = chunked(size);
            out.extend_from_slice(b"0\r\n\r\n");
            ("Transfer-Encoding: chunked\r\n".to_owned(), out)
        }
        Framing::BadChunk(size) => {
            let mut out = format!("{size}\r\n").into_bytes();
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
            ("Transfer-Encoding: chunked\r\n".to_owned(), out)
        }
        Framing::Unfinished => ("Transfer-Encoding: chunked\r\n".to_owned(), chunked(512)),
        Framing::Both => {
            let mut out = chunked(100);
            out.extend_from_slice(b"0\r\n\r\n");
            (
                format!(
                    "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                    body.len()
                ),
                out,
            )
        }
    }
}

/// An interim response before the final one.
fn interim() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n",
        "HTTP/1.1 102 Processing\r\n\r\n",
        "HTTP/1.1 199 Whatever\r\nX-A: b\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    ])
}

/// A response, well-formed or not, maybe cut short anywhere.
fn response() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(interim(), 0..3),
        status_line(),
        prop::collection::vec(header(), 0..10),
        body(),
        framing(),
        prop::option::weighted(0.2, 0.0f64..1.0),
    )
        .prop_map(|(interims, status, headers, body, framing, cut)| {
            let mut out: Vec<u8> = interims.concat().into_bytes();
            out.extend(status);
            headers.into_iter().for_each(|h| out.extend(h));
            let (framing_headers, rest) = framed(&body, framing);
            out.extend_from_slice(framing_headers.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend(rest);
            if let Some(cut) = cut {
                out.truncate((out.len() as f64 * cut) as usize);
            }
            out
        })
}

/// A reply: random bytes or a response, dripped now and then, left open
/// now and then.
fn reply() -> impl Strategy<Value = Reply> {
    let bytes = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        6 => response(),
    ];
    let linger = prop_oneof![
        16 => Just(Duration::ZERO),
        2 => Just(Duration::from_millis(300)),
        1 => Just(Duration::from_millis(1500)),
    ];
    (bytes, prop::bool::weighted(0.05), linger).prop_map(|(bytes, drip, linger)| Reply {
        bytes,
        drip,
        linger,
    })
}

fn run() -> impl Strategy<Value = Run> {
    let key = prop::sample::select(vec![
        KeyVia::Absent,
        KeyVia::Flag,
        KeyVia::Env,
        KeyVia::UserInfo,
    ]);
    (key, prop::bool::weighted(0.3), prop::bool::weighted(0.75))
        .prop_map(|(key, routes, json)| Run { key, routes, json })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever a server answers, the probe ends, exits 1 or 2 and writes a
    /// clean report.
    #[test]
    fn the_probe_survives_any_garbage_a_server_answers(garbage in reply(), how in run()) {
        survives(&garbage, how);
    }
}

// ---------------------------------------------------------------------------
// Hand-picked hostile answers.

/// `status` with these header lines and this body, its length told.
fn answer_with(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for line in headers {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A 429 in JSON with this `Retry-After` (and `Date`, when given).
fn limited(retry_after: &str, date: Option<&str>) -> Vec<u8> {
    let retry = format!("Retry-After: {retry_after}");
    let date = date.map(|d| format!("Date: {d}"));
    let mut headers = vec!["Content-Type: application/json", retry.as_str()];
    headers.extend(date.as_deref());
    answer_with(
        "429 Too Many Requests",
        &headers,
        br#"{"code":"rate_limit_exceeded","message":"slow down"}"#,
    )
}

fn nasty() -> Vec<(&'static str, Reply)> {
    let json = "Content-Type: application/json";
    let error = br#"{"code":"not_found","message":"no"}"#;
    let mut cases = vec![
        ("nothing at all", Reply::new(Vec::new())),
        (
            "closed mid-headers",
            Reply::new(&b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: applic"[..]),
        ),
        ("closed mid-status-line", Reply::new(&b"HTTP/1."[..])),
        (
            "a 100 KB header line",
            Reply::new(answer_with(
                "404 Not Found",
                &[json, &format!("X-Error-Code: {}", "a".repeat(100_000))],
                error,
            )),
        ),
        (
            "a 1 MB header line",
            Reply::new(answer_with(
                "404 Not Found",
                &[&format!("X-Big: {}", "a".repeat(1 << 20))],
                error,
            )),
        ),
        (
            "five hundred headers",
            Reply::new(answer_with(
                "404 Not Found",
                &["X-Request-Id: r"; 500],
                error,
            )),
        ),
        (
            "a Content-Length longer than the body",
            Reply::new(&b"HTTP/1.1 404 Not Found\r\nContent-Length: 99999\r\n\r\n{\"code\":"[..]),
        ),
        (
            "a Content-Length shorter than the body",
            Reply::new(
                &b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n{\"code\":\"not_found\"}"[..],
            ),
        ),
        (
            "a Content-Length past u64",
            Reply::new(
                &b"HTTP/1.1 404 Not Found\r\nContent-Length: 99999999999999999999999\r\n\r\n{}"
                    [..],
            ),
        ),
        (
            "a negative Content-Length",
            Reply::new(&b"HTTP/1.1 404 Not Found\r\nContent-Length: -5\r\n\r\n{}"[..]),
        ),
        (
            "Content-Length and chunked",
            Reply::new(
                &b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"[..],
            ),
        ),
        (
            "a chunk size that is no number",
            Reply::new(&b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"[..]),
        ),
        (
            "a chunk size past memory",
            Reply::new(
                &b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}"[..],
            ),
        ),
        (
            "header values that are no UTF-8",
            Reply::new({
                let mut out = b"HTTP/1.1 429 Too Many Requests\r\n".to_vec();
                for name in [
                    "Content-Type",
                    "X-Error-Code",
                    "X-Request-Id",
                    "Retry-After",
                    "Location",
                    "Date",
                    "RateLimit",
                    "X-RateLimit-Limit",
                ] {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b": \xff\xfe\xc3\x28\x80\r\n");
                }
                out.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
                out
            }),
        ),
        (
            "a JSON string that is no UTF-8",
            Reply::new(answer_with(
                "400 Bad Request",
                &[json, "X-Error-Code: malformed_request"],
                b"{\"code\":\"malformed_request\",\"message\":\"\xff\xfe\xc0\xaf\"}",
            )),
        ),
        (
            "lone surrogate escapes",
            Reply::new(answer_with(
                "404 Not Found",
                &[json, "X-Error-Code: not_found"],
                br#"{"code":"\ud800not_found","message":"\udfff\ud83d","request_id":"\ud83d"#,
            )),
        ),
        (
            "an HTML page of broken references",
            Reply::new(answer_with(
                "502 Bad Gateway",
                &["Content-Type: text/html"],
                "<html><title>&#x110000;&#xD800;&#99999999999999999999;&".repeat(2000).as_bytes(),
            )),
        ),
        (
            "nesting past any parser's depth",
            Reply::new(answer_with("400 Bad Request", &[json], "[".repeat(500_000).as_bytes())),
        ),
        (
            "objects nested past any parser's depth",
            Reply::new(answer_with(
                "400 Bad Request",
                &[json],
                "{\"error\":".repeat(200_000).as_bytes(),
            )),
        ),
        (
            "a 4 MiB body",
            Reply::new(answer_with("404 Not Found", &[json], &vec![b'['; 4 << 20])),
        ),
        (
            "an HTTP/1.0 body ended by the close",
            Reply::new(
                &b"HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"code\":\"not_found\",\"message\":\"n"[..],
            ),
        ),
        (
            "interim responses before the answer",
            Reply::new({
                let mut out = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n".to_vec();
                out.extend(answer_with("422 Unprocessable Entity", &[json], error));
                out
            }),
        ),
        (
            "a 101 to a request that asked no upgrade",
            Reply::new(&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x05hello"[..]),
        ),
        (
            "a redirect to itself",
            Reply::new(answer_with("307 Temporary Redirect", &["Location: /openapi.json"], b"")),
        ),
        (
            "a redirect elsewhere with credentials in it",
            Reply::new(answer_with(
                "301 Moved Permanently",
                &["Location: http://admin:hunter2@127.0.0.1:1/?token=abc"],
                b"",
            )),
        ),
        (
            "the credential repeated back",
            Reply::new(
                &b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n\
                   X-Request-Id: {auth}\r\nX-Error-Code: {auth}\r\n\
                   WWW-Authenticate: {auth}\r\nConnection: close\r\n\r\n\
                   Invalid key: {auth}"[..],
            ),
        ),
        (
            "a slow drip",
            Reply {
                drip: true,
                ..Reply::new(answer_with("429 Too Many Requests", &[json], error))
            },
        ),
        (
            "a body that never ends",
            Reply {
                linger: Duration::from_millis(1500),
                ..Reply::new(&b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"[..])
            },
        ),
        (
            "a gzip body that is no gzip",
            Reply::new(answer_with("404 Not Found", &[json, "Content-Encoding: gzip"], error)),
        ),
        (
            "a folded header",
            Reply::new(answer_with("404 Not Found", &[json, "X-Error-Code: not\r\n _found"], error)),
        ),
        (
            "lines ended by LF alone",
            Reply::new(&b"HTTP/1.1 404 Not Found\nContent-Type: application/json\nContent-Length: 2\n\n{}"[..]),
        ),
        (
            "status 999",
            Reply::new(answer_with("999 Whatever", &[json], error)),
        ),
        (
            "status 000",
            Reply::new(answer_with("000 Zero", &[json], error)),
        ),
        (
            "absurd rate limit fields",
            Reply::new(answer_with(
                "200 OK",
                &[
                    json,
                    "RateLimit: \"a\";r=99999999999999999999999;t=-1",
                    "RateLimit-Policy: \"a\";q=-1;w=0, \"a\";q=18446744073709551616;w=1e99",
                    "X-RateLimit-Limit: 18446744073709551616",
                    "X-RateLimit-Remaining: -3",
                ],
                b"{}",
            )),
        ),
        (
            "an OpenAPI document of nasty paths",
            Reply::new(answer_with(
                "200 OK",
                &[json],
                json!({
                    "openapi": "3.0.0",
                    "servers": [{"url": "http://[::1"}],
                    "paths": {
                        "/": {"post": {"requestBody": {"content": {"application/json": {"example": [[[[[]]]]]}}}}},
                        "/\u{1b}[2J{id": {"get": {"security": [{"k": []}]}},
                        "/a b/{x}/#frag?q": {"patch": {"requestBody": {"content": {"application/json": {}}}}},
                        "//evil.example/x": {"delete": {}},
                        "/\u{9b}2J\u{85}\u{7f}": {"get": {}},
                        "/%zz/\u{202e}": {"put": {"requestBody": {"content": {"text/json": {"example": "\u{0}"}}}}},
                        "/{}{}{{}}": {"get": {"responses": {"401": {}}}},
                    },
                })
                .to_string()
                .as_bytes(),
            )),
        ),
    ];
    for (retry_after, date) in [
        ("99999999999", None),
        ("-1", None),
        ("1e400", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", None),
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            Some("Mon, 01 Jan 1900 00:00:00 GMT"),
        ),
        (
            "Mon, 01 Jan 1900 00:00:00 GMT",
            Some("Fri, 31 Dec 9999 23:59:59 GMT"),
        ),
        ("Sun, 06 Nov 1994 08:49:37 GMT", Some("not a date")),
        ("1", None),
    ] {
        cases.push((
            "a 429 with an absurd Retry-After",
            Reply::new(limited(retry_after, date)),
        ));
    }
    cases
}

/// Hand-picked hostile answers, each probed with every kind of request
/// sent, as a JSON report and as a table in turn; four probes at a time.
#[test]
fn the_probe_survives_hand_picked_hostile_answers() {
    let cases = nasty();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((what, reply)) = cases.get(i) else {
                        return;
                    };
                    let run = Run {
                        key: KeyVia::Flag,
                        routes: true,
                        json: i.is_multiple_of(2),
                    };
                    let started = Instant::now();
                    survives(reply, run);
                    eprintln!("{what} ({run:?}): {:?}", started.elapsed());
                }
            });
        }
    });
}

/// A server that repeats the credential it was sent (in its body, in
/// `X-Request-Id`, in `X-Error-Code`) gets no key into the report: neither
/// `--key` nor the user name and password of the base URL, nor their
/// `Basic` form.
#[test]
fn a_key_the_server_repeats_back_is_never_shown() {
    let echo = Reply::new(
        &b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n\
           X-Request-Id: {auth}\r\nX-Error-Code: {auth}\r\nConnection: close\r\n\r\n\
           Invalid key: {auth}"[..],
    );
    let server = Hostile::start(echo);
    for stdout in reports_with_the_key(&server) {
        assert!(!stdout.contains(KEY), "{stdout}");
        assert!(stdout.contains("Invalid key: ***"), "{stdout}");
    }
    let output = common::tollgate_command()
        .args([
            "probe",
            &format!("http://probe:hunter2-secret@{}", server.addr),
            "--timeout",
            "1",
            "--max-requests",
            "3",
            "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for secret in ["hunter2-secret", "cHJvYmU6aHVudGVyMi1zZWNyZXQ="] {
        assert!(!stdout.contains(secret), "{secret}: {stdout}");
    }
    assert!(stdout.contains("Invalid key: ***"), "{stdout}");
}

/// The JSON and the table reports of a probe of `server` given the key,
/// each a failure.
fn reports_with_the_key(server: &Hostile) -> Vec<String> {
    [true, false]
        .map(|json| {
            let run = Run {
                key: KeyVia::Flag,
                routes: true,
                json,
            };
            let outcome = probe(server, run);
            let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
            assert_eq!(outcome.status.code(), Some(1), "{stdout}");
            stdout
        })
        .into()
}

/// A key the server sends back in a JSON string written with escapes
/// (`\u0074g_…`), which the bytes do not show but the report's quotes of
/// the string would, is not shown either: no 12 characters of it in a row.
#[test]
fn a_key_sent_back_in_json_escapes_is_never_shown() {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let body = format!(
        r#"{{"error":{{"code":"{escaped}","message":"unknown key {escaped} thread main \u0070anicked at x","request_id":"r1"}}}}"#
    );
    let server = Hostile::start(Reply::new(answer_with(
        "404 Not Found",
        &["Content-Type: application/json"],
        body.as_bytes(),
    )));
    for stdout in reports_with_the_key(&server) {
        let shown = KEY
            .as_bytes()
            .windows(12)
            .find(|part| stdout.contains(std::str::from_utf8(part).unwrap()));
        assert_eq!(shown, None, "{stdout}");
        assert!(stdout.contains("***"), "{stdout}");
    }
}

/// Paths of /openapi.json with DEL and C1 controls (U+009B starts an escape
/// sequence, as `ESC [` does) are written as `\u` escapes in the JSON report,
/// which read back as the paths.
#[test]
fn control_characters_in_documented_paths_are_escaped_in_the_json_report() {
    let path = "/v1/\u{9b}2J\u{85}\u{7f}";
    let document = json!({"openapi": "3.0.0", "paths": {path: {"get": {}}}}).to_string();
    let server = Hostile::start(Reply::new(answer_with(
        "200 OK",
        &["Content-Type: application/json"],
        document.as_bytes(),
    )));
    let outcome = probe(
        &server,
        Run {
            key: KeyVia::Absent,
            routes: false,
            json: true,
        },
    );
    let stdout = String::from_utf8(outcome.stdout).unwrap();
    assert_eq!(outcome.status.code(), Some(1), "{stdout}");
    assert!(
        !stdout.contains(|c: char| c != '\n' && c.is_control()),
        "{stdout}"
    );
    assert!(stdout.contains(r"/v1/\u009b2J\u0085\u007f"), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["routes"], json!([format!("GET {path}")]), "{stdout}");
}

/// Every check's reason, of a JSON report.
fn reasons(stdout: &[u8]) -> Vec<String> {
    let report: Value = serde_json::from_slice(stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A request that gets no answer, or one whose head or body cannot be
/// read, is told in the probe's words, not in the HTTP client's.
#[test]
fn failed_requests_are_named_in_plain_words() {
    let run = Run {
        key: KeyVia::Absent,
        routes: false,
        json: true,
    };
    let silent = Reply {
        linger: Duration::from_secs(3),
        ..Reply::new(Vec::new())
    };
    let huge_head = [
        &b"HTTP/1.1 404 Not Found\r\nX-Padding: "[..],
        &vec![b'a'; 512 << 10],
        b"\r\n\r\n",
    ]
    .concat();
    let cut_short = Reply {
        linger: Duration::from_secs(3),
        ..Reply::new(
            &b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n\
               seventeen bytes.."[..],
        )
    };
    for (reply, said) in [
        (silent, "no answer within 1 s (--timeout)"),
        (
            Reply::new(huge_head),
            "the response head is too large to read (too many header lines, or too long)",
        ),
        (
            cut_short,
            "was cut after 17 of 1000 bytes: the whole request may take 1 s (--timeout) at most",
        ),
    ] {
        let server = Hostile::start(reply);
        let outcome = probe(&server, run);
        let reasons = reasons(&outcome.stdout);
        assert!(
            reasons.iter().any(|r| r.contains(said)),
            "{said:?} not in {reasons:#?}"
        );
        assert!(
            !reasons.iter().any(|r| r.contains("error sending request")),
            "{reasons:#?}"
        );
    }
}
