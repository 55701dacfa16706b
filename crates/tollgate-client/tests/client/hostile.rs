//! The client against a hostile server: a raw TCP listener answers every
//! request with a generated reply (random bytes, absurd retry hints and
//! rate-limit fields, lying lengths, broken or deeply nested bodies, invalid
//! UTF-8, connections cut mid-headers), on tokio's paused clock. Whatever it
//! answers, the client must not panic, must stay within its policy's
//! attempts, waits and deadline, and must not send a POST without an
//! `Idempotency-Key` twice unless the server refused it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_client::{ErrorDecoder, RequestBuilderExt, ResponseExt, RetryPolicy, StopReason};

const MAX_ATTEMPTS: u32 = 3;
const DEADLINE: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);
const BACKOFF_CAP: Duration = Duration::from_secs(1);
/// The policy's default wait after a 409 `idempotency_key_in_use`.
const IN_USE_DELAY: Duration = Duration::from_secs(1);

/// What the `Content-Length` of a reply says.
#[derive(Clone, Debug)]
enum Length {
    Exact,
    /// More than is sent.
    Longer(usize),
    /// Less than is sent.
    Shorter(usize),
    /// None: the body runs until the connection closes.
    Missing,
    /// A value that is no length, or two that disagree.
    Garbage(String),
    /// `Transfer-Encoding: chunked` over a body that is not chunked.
    BadChunks,
}

/// How a reply ends.
#[derive(Clone, Debug)]
enum End {
    Close,
    /// The connection closes after this many bytes of the head.
    MidHeaders(usize),
    /// The connection stays open, silent, for an hour.
    HoldOpen,
}

#[derive(Clone, Debug)]
enum Wire {
    /// Bytes that are not HTTP.
    Raw(Vec<u8>),
    Http {
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        length: Length,
        end: End,
    },
}

impl Wire {
    fn status(&self) -> Option<u16> {
        match self {
            Wire::Raw(_) => None,
            Wire::Http { status, .. } => Some(*status),
        }
    }

    fn bytes(&self) -> (Vec<u8>, bool) {
        let (status, headers, body, length, end) = match self {
            Wire::Raw(raw) => return (raw.clone(), false),
            Wire::Http {
                status,
                headers,
                body,
                length,
                end,
            } => (status, headers, body, length, end),
        };
        let mut head = format!("HTTP/1.1 {status} Hostile\r\n").into_bytes();
        if *status == 301 {
            head.extend_from_slice(b"location: /loop\r\n");
        }
        for (name, value) in headers {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match length {
            Length::Exact => {
                head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes())
            }
            Length::Longer(n) => {
                head.extend_from_slice(format!("content-length: {}\r\n", body.len() + n).as_bytes())
            }
            Length::Shorter(n) => head.extend_from_slice(
                format!("content-length: {}\r\n", body.len().saturating_sub(*n)).as_bytes(),
            ),
            Length::Missing => {}
            Length::Garbage(value) => {
                head.extend_from_slice(format!("content-length: {value}\r\n").as_bytes())
            }
            Length::BadChunks => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
        head.extend_from_slice(b"\r\n");
        match end {
            End::MidHeaders(n) => {
                head.truncate((*n).min(head.len().saturating_sub(3)));
                (head, false)
            }
            End::Close => {
                head.extend_from_slice(body);
                (head, false)
            }
            End::HoldOpen => {
                head.extend_from_slice(body);
                (head, true)
            }
        }
    }
}

fn retry_after_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("99999999999".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("1.5".to_owned()),
        Just(" 2 ".to_owned()),
        Just("3".to_owned()),
        Just(String::new()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
        Just("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
        Just("Sunday, 06-Nov-94 08:49:37 GMT".to_owned()),
        Just("Sun Nov  6 08:49:37 1994".to_owned()),
        Just("Mon, 32 Foo 2024 25:61:61 GMT".to_owned()),
        "[ -~]{0,24}",
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("99999999999".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("-5".to_owned()),
        Just("1e400".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("x".to_owned()),
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
    ]
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let text = |name: &'static str, value: BoxedStrategy<String>| {
        value.prop_map(move |v| (name.to_owned(), v.into_bytes()))
    };
    prop_oneof![
        text("retry-after", retry_after_value().boxed()),
        text("retry-after", retry_after_value().boxed()),
        text("retry-after-ms", number().boxed()),
        (number(), number(), number()).prop_map(|(l, r, t)| (
            "ratelimit".to_owned(),
            format!("limit={l}, remaining={r}, reset={t}").into_bytes()
        )),
        (number(), number()).prop_map(|(r, t)| (
            "ratelimit".to_owned(),
            format!("\"default\";r={r};t={t}").into_bytes()
        )),
        (number(), number()).prop_map(|(q, w)| (
            "ratelimit-policy".to_owned(),
            format!("{q};w={w}, \"burst\";q={q};w={w}").into_bytes()
        )),
        text("ratelimit-remaining", number().boxed()),
        text("ratelimit-reset", number().boxed()),
        text("x-ratelimit-remaining", number().boxed()),
        text("x-ratelimit-reset", number().boxed()),
        text("x-ratelimit-limit", number().boxed()),
        text("date", retry_after_value().boxed()),
        text("age", number().boxed()),
        text(
            "content-type",
            prop_oneof![
                Just("application/json".to_owned()),
                Just("application/problem+json".to_owned()),
                Just("text/html; charset=utf-16".to_owned()),
                Just("text/plain; charset=x-nonsense".to_owned()),
                Just("application/json; charset=shift_jis".to_owned()),
            ]
            .boxed()
        ),
        text("x-request-id", "[ -~]{0,40}".boxed()),
        // Values that are not UTF-8 (obs-text).
        proptest::collection::vec(0x80u8..=0xff, 1..16)
            .prop_map(|v| ("x-request-id".to_owned(), v)),
        proptest::collection::vec(0x80u8..=0xff, 1..16).prop_map(|v| ("retry-after".to_owned(), v)),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let json = |s: &str| s.as_bytes().to_vec();
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..256),
        Just(json(r#"{"error":{"code":"RATE_LIMIT","message":"slow down","retry_after":1e400}}"#)),
        Just(json(r#"{"error":{"code":429,"message":"x","retry_after":-1}}"#)),
        Just(json(r#"{"retry_after":99999999999,"error":"busy"}"#)),
        Just(json(
            r#"{"error":{"code":503,"status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"99999999999s"}]}}"#
        )),
        Just(json(
            r#"{"error":{"code":503,"status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"-1.5s"}]}}"#
        )),
        Just(json(r#"{"type":"about:blank","title":"x","status":"nope","detail":null,"retry_after":"soon"}"#)),
        Just(json(r#"{"errors":[{"code":"x","detail":{"a":[1,2,{"b":null}]}}]}"#)),
        Just(json(r#"{"error":{"code":"idempotency_key_in_use","message":"in use"}}"#)),
        Just(json(r#"{"error":{"code":"usage_limit_exceeded","message":"quota"}}"#)),
        // Truncated JSON.
        (0usize..60).prop_map(|n| {
            let full = br#"{"error":{"code":"INTERNAL","message":"boom","request_id":"abc","retry_after":5}}"#;
            full[..n.min(full.len())].to_vec()
        }),
        // Invalid UTF-8 inside JSON strings.
        proptest::collection::vec(0x80u8..=0xff, 1..32).prop_map(|bad| {
            let mut body = br#"{"error":{"code":""#.to_vec();
            body.extend_from_slice(&bad);
            body.extend_from_slice(br#"","message":"m"}}"#);
            body
        }),
        // Deep nesting, within and far beyond any parser's limit.
        (1usize..200).prop_map(|depth| {
            let mut body = "{\"error\":".repeat(depth);
            body.push_str("{\"code\":\"X\"}");
            body.push_str(&"}".repeat(depth));
            body.into_bytes()
        }),
        (1usize..20_000).prop_map(|depth| "[".repeat(depth).into_bytes()),
        Just(b"<html><body>502 Bad Gateway</body></html>".to_vec()),
    ]
}

fn length() -> impl Strategy<Value = Length> {
    prop_oneof![
        Just(Length::Exact),
        Just(Length::Exact),
        Just(Length::Exact),
        (1usize..1000).prop_map(Length::Longer),
        (1usize..50).prop_map(Length::Shorter),
        Just(Length::Missing),
        prop_oneof![
            Just("-1".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just("abc".to_owned()),
            Just("1, 2".to_owned()),
            Just("1e3".to_owned()),
        ]
        .prop_map(Length::Garbage),
        Just(Length::BadChunks),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::Close),
        Just(End::Close),
        Just(End::Close),
        Just(End::Close),
        (0usize..200).prop_map(End::MidHeaders),
        Just(End::HoldOpen),
    ]
}

fn reply(statuses: &'static [u16]) -> impl Strategy<Value = Wire> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..128).prop_map(Wire::Raw),
        8 => (
            proptest::sample::select(statuses),
            proptest::collection::vec(header(), 0..6),
            body(),
            length(),
            end(),
        )
            .prop_map(|(status, headers, body, length, end)| Wire::Http {
                status,
                headers,
                body,
                length,
                end,
            }),
    ]
}

const ANY_STATUS: &[u16] = &[429, 503, 500, 502, 408, 200, 301];
/// None of them a rate limit's refusal.
const NOT_REFUSED: &[u16] = &[500, 502, 408, 200, 301];

/// Reads one request (head and `Content-Length` body); `None` if the client
/// closed the connection first.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(head)
}

/// A server answering the n-th request to any path but `/loop` with
/// `replies[n]` (the last one again once they run out), and `/loop` with a
/// redirect to itself; the count of requests it answered from `replies`.
async fn serve(replies: Vec<Wire>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/r", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let replies = replies.clone();
            let hits = counted.clone();
            tokio::spawn(async move {
                let Some(head) = read_request(&mut stream).await else {
                    return;
                };
                if head.starts_with("GET /loop ") || head.starts_with("POST /loop ") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 301 Moved\r\nlocation: /loop\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let (bytes, hold) = replies[n.min(replies.len() - 1)].bytes();
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                if hold {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            });
        }
    });
    (url, hits)
}

#[derive(Clone, Copy, Debug)]
enum Send {
    Get,
    Post,
    PostWithKey,
}

/// What one call came to.
struct Outcome {
    hits: usize,
    attempts: usize,
    delays: Vec<Duration>,
    stop: Option<StopReason>,
    elapsed: Duration,
    wall: std::time::Duration,
}

fn run(replies: Vec<Wire>, send: Send, clamp: bool) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let wall = std::time::Instant::now();
    let mut outcome = runtime.block_on(async move {
        let (url, hits) = serve(replies).await;
        let policy = RetryPolicy::default()
            .max_attempts(MAX_ATTEMPTS)
            .deadline(DEADLINE)
            .backoff(Duration::from_millis(100), BACKOFF_CAP)
            .max_retry_after(MAX_RETRY_AFTER)
            .clamp_retry_after(clamp);
        let client = tollgate_client::client_with(policy);
        let request = match send {
            Send::Get => client.get(&url),
            Send::Post => client.post(&url).body(r#"{"amount":1}"#),
            Send::PostWithKey => client
                .post(&url)
                .header("idempotency-key", "k-1")
                .body(r#"{"amount":1}"#),
        };
        let started = tokio::time::Instant::now();
        let result = request.send_api().await;
        let elapsed = started.elapsed();
        let (attempts, delays, stop) = match result {
            Ok(response) => {
                let attempts = response.attempts().to_vec();
                // A success body that lies about its length fails or stalls
                // here; either way, without a panic.
                let _ = tokio::time::timeout(DEADLINE * 2, response.bytes()).await;
                (
                    attempts.len(),
                    attempts.iter().filter_map(|a| a.delay()).collect(),
                    None,
                )
            }
            Err(err) => {
                // Whatever the body was, it is decoded or reported as it came.
                let _ = (err.status(), err.code(), err.kind(), err.message());
                let _ = (err.request_id(), err.request_ids(), err.retry_after());
                let _ = (err.stop(), err.transport(), err.idempotency_key());
                if let Some(response) = err.response() {
                    let _ = (
                        response.dialect(),
                        response.details(),
                        response.violations(),
                    );
                    let _ = (response.body().len(), response.is_truncated());
                }
                let _ = (err.to_string(), format!("{err:?}"));
                let attempts = err.attempts();
                let delays = attempts.iter().filter_map(|a| a.delay()).collect();
                (attempts.len(), delays, err.stop().cloned())
            }
        };
        Outcome {
            hits: hits.load(Ordering::SeqCst),
            attempts,
            delays,
            stop,
            elapsed,
            wall: std::time::Duration::ZERO,
        }
    });
    outcome.wall = wall.elapsed();
    outcome
}

/// How a generated `Retry-After` is written.
#[derive(Clone, Copy, Debug)]
enum Form {
    Seconds,
    /// An HTTP-date after the response's `Date`.
    Ahead,
    /// An HTTP-date before it.
    Past,
}

fn send() -> impl Strategy<Value = Send> {
    prop_oneof![Just(Send::Get), Just(Send::Post), Just(Send::PostWithKey)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_hostile_server_never_makes_the_client_exceed_its_attempts_waits_or_deadline(
        replies in proptest::collection::vec(reply(ANY_STATUS), 1..4),
        send in send(),
        clamp in any::<bool>(),
    ) {
        let outcome = run(replies.clone(), send, clamp);
        prop_assert!(outcome.hits <= MAX_ATTEMPTS as usize, "{} requests", outcome.hits);
        prop_assert!(outcome.attempts <= MAX_ATTEMPTS as usize);
        prop_assert!(outcome.attempts >= 1);
        let longest = MAX_RETRY_AFTER.max(BACKOFF_CAP).max(IN_USE_DELAY);
        for delay in &outcome.delays {
            prop_assert!(*delay <= longest, "waited {delay:?}");
        }
        prop_assert!(
            outcome.elapsed <= DEADLINE + Duration::from_millis(10),
            "took {:?}", outcome.elapsed
        );
        prop_assert!(outcome.wall < std::time::Duration::from_secs(5), "took {:?} of real time", outcome.wall);
        if matches!(send, Send::Post) && outcome.hits > 1 {
            // Only a refusal lets a POST without a key be sent again.
            let refused = (0..outcome.hits - 1)
                .map(|n| &replies[n.min(replies.len() - 1)])
                .all(|r| matches!(r.status(), Some(429 | 503)));
            prop_assert!(refused, "a POST without a key was sent {} times", outcome.hits);
        }
    }

    #[test]
    fn a_post_without_an_idempotency_key_is_sent_once_when_the_server_never_refuses_it(
        replies in proptest::collection::vec(reply(NOT_REFUSED), 1..4),
        clamp in any::<bool>(),
    ) {
        let outcome = run(replies, Send::Post, clamp);
        prop_assert_eq!(outcome.hits, 1);
        prop_assert_eq!(outcome.attempts, 1);
    }

    #[test]
    fn the_decoder_reads_any_error_reply_without_panicking(
        status in 400u16..600,
        headers in proptest::collection::vec(header(), 0..8),
        body in body(),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value))
            {
                map.append(name, value);
            }
        }
        let status = StatusCode::from_u16(status).expect("a status");
        let response = ErrorDecoder::new().decode(status, map, Bytes::from(body));
        prop_assert_eq!(response.status(), status);
        let _ = (response.code(), response.kind(), response.message(), response.request_id());
        let _ = (response.retry_after(), response.retryable(), response.dialect());
        let _ = (response.details(), response.violations(), response.is_truncated());
    }

    #[test]
    fn a_retry_after_in_seconds_or_as_a_date_decides_the_wait_over_every_other_hint(
        status in proptest::sample::select(&[429u16, 503][..]),
        seconds in 0u64..=4,
        form in prop_oneof![Just(Form::Seconds), Just(Form::Ahead), Just(Form::Past)],
        noise in proptest::collection::vec(
            header().prop_filter("another hint or clock", |(name, _)| {
                !matches!(name.as_str(), "retry-after" | "date" | "age")
            }),
            0..6,
        ),
        body in body(),
        clamp in any::<bool>(),
    ) {
        let mut headers = noise;
        let date = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
        let (hint, seconds) = match form {
            Form::Seconds => (seconds.to_string(), seconds),
            // Measured against the response's own `Date`.
            Form::Ahead => (httpdate::fmt_http_date(date + Duration::from_secs(seconds)), seconds),
            // A date already past waits nothing.
            Form::Past => (httpdate::fmt_http_date(date - Duration::from_secs(seconds + 1)), 0),
        };
        if !matches!(form, Form::Seconds) {
            headers.push(("date".to_owned(), httpdate::fmt_http_date(date).into_bytes()));
        }
        headers.push(("retry-after".to_owned(), hint.into_bytes()));
        let limited = Wire::Http { status, headers, body, length: Length::Exact, end: End::Close };
        let ok = Wire::Http {
            status: 200,
            headers: Vec::new(),
            body: b"{}".to_vec(),
            length: Length::Exact,
            end: End::Close,
        };
        let outcome = run(vec![limited, ok], Send::Get, clamp);
        let asked = Duration::from_secs(seconds);
        if asked <= MAX_RETRY_AFTER || clamp {
            prop_assert_eq!(outcome.hits, 2);
            prop_assert_eq!(outcome.delays, vec![asked.min(MAX_RETRY_AFTER)]);
        } else {
            prop_assert_eq!(outcome.hits, 1);
            prop_assert!(
                matches!(outcome.stop, Some(StopReason::RetryAfterTooLong { asked: a, .. }) if a == asked),
                "stopped for {:?}", outcome.stop
            );
        }
    }
}
