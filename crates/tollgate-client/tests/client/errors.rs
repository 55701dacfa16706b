//! Typed errors: every catalog entry in every dialect, each seed's examples
//! verbatim, bodies that are not JSON, oversized bodies, and envelope success
//! bodies.

use std::time::Duration;

use http::StatusCode;
use tollgate::{Catalog, Dialect, Kind};
use tollgate_client::{
    BodyError, Cause, ErrorDecoder, RequestBuilderExt, ResponseExt, RetryPolicy, StopReason,
    TollgateMiddleware,
};

use crate::common::{InBody, Mock, Reply, client, client_from};

fn once() -> reqwest_middleware::ClientWithMiddleware {
    client(RetryPolicy::disabled())
}

#[tokio::test]
async fn every_catalog_entry_in_every_dialect_decodes() {
    let catalog = Catalog::builtin();
    let client = once();
    let mut checked = 0;
    for dialect in Dialect::ALL {
        for def in catalog.iter() {
            let request_id = format!("req_{}_{}", dialect.name(), def.code());
            let hint = matches!(def.status(), 429 | 503).then_some(Duration::from_secs(7));
            let reply = Reply::api(dialect, def.code(), &request_id, hint);
            let in_body = InBody::of(dialect, &reply.body);
            // The same body again without the headers that repeat its code,
            // request id and hint: then only the body can give them.
            let mock = Mock::start(vec![reply.clone(), reply.body_only()]).await;
            let err = client.get(mock.url("/v1/x")).send_api().await.unwrap_err();
            let response = err
                .response()
                .unwrap_or_else(|| panic!("{dialect} {}: {err}", def.code()));
            assert_eq!(
                response.status().as_u16(),
                def.status(),
                "{dialect} {}",
                def.code()
            );
            let wire = response
                .code()
                .unwrap_or_else(|| panic!("{dialect} {}: no code", def.code()));
            assert_eq!(wire, def.wire_code(dialect), "{dialect}");
            assert_eq!(
                catalog.find_wire_code(wire).map(|d| d.code()),
                Some(def.code())
            );
            assert_eq!(response.kind(), def.kind(), "{dialect} {}", def.code());
            assert_eq!(response.request_id(), Some(request_id.as_str()));
            assert_eq!(err.request_ids(), [request_id.as_str()]);
            assert_eq!(response.retry_after(), hint, "{dialect} {}", def.code());
            assert!(
                response.message().is_some_and(|m| !m.is_empty()),
                "{dialect} {}",
                def.code()
            );
            if dialect != Dialect::Flat {
                assert_eq!(response.dialect(), dialect.name(), "{}", def.code());
            }

            let err = client.get(mock.url("/v1/x")).send_api().await.unwrap_err();
            let response = err
                .response()
                .unwrap_or_else(|| panic!("{dialect} {}: {err}", def.code()));
            let case = format!("{dialect} {} from the body", def.code());
            assert_eq!(response.status().as_u16(), def.status(), "{case}");
            assert_eq!(response.code(), in_body.code.then_some(wire), "{case}");
            if in_body.code {
                assert_eq!(response.kind(), def.kind(), "{case}");
            }
            assert_eq!(
                response.request_id(),
                in_body.request_id.then_some(request_id.as_str()),
                "{case}"
            );
            assert_eq!(
                response.retry_after(),
                hint.filter(|_| in_body.retry_after),
                "{case}"
            );
            assert!(response.message().is_some_and(|m| !m.is_empty()), "{case}");
            if dialect != Dialect::Flat {
                assert_eq!(response.dialect(), dialect.name(), "{case}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Dialect::ALL.len() * catalog.iter().count());
}

/// The seeds' example error bodies, verbatim, with the headers their APIs send.
#[tokio::test]
async fn each_seed_example_decodes() {
    struct Case {
        seed: &'static str,
        reply: Reply,
        status: u16,
        code: Option<&'static str>,
        kind: Kind,
        message: &'static str,
        request_id: Option<&'static str>,
        retry_after: Option<u64>,
    }
    let cases = vec![
        Case {
            seed: "000 403",
            reply: Reply::new(403).header("x-request-id", "req-000").body(
                r#"{
  "status": "error",
  "timestamp": "2025-07-24T11:30:12Z",
  "error": {
    "code": 403,
    "message": "Access denied: missing scope 'scans:write'.",
    "details": "Your token does not grant write permissions for scans."
  }
}"#,
            ),
            status: 403,
            code: None,
            kind: Kind::PermissionDenied,
            message: "Access denied: missing scope 'scans:write'.",
            request_id: Some("req-000"),
            retry_after: None,
        },
        Case {
            seed: "001 401",
            reply: Reply::new(401).body(
                r#"{"error": {"code": 401, "message": "Unauthorized: Invalid API key", "details": null}}"#,
            ),
            status: 401,
            code: None,
            kind: Kind::Unauthenticated,
            message: "Unauthorized: Invalid API key",
            request_id: None,
            retry_after: None,
        },
        Case {
            seed: "001 400",
            reply: Reply::new(400).body(
                r#"{"error": {"code": 400, "message": "Bad Request: Missing required field 'image_data'", "details": {"field": "image_data", "issue": "This field is required."}}}"#,
            ),
            status: 400,
            code: None,
            kind: Kind::InvalidArgument,
            message: "Bad Request: Missing required field 'image_data'",
            request_id: None,
            retry_after: None,
        },
        Case {
            seed: "002 429",
            reply: Reply::new(429).header("retry-after", 30).body(
                r#"{ "error": { "code": "RATE_LIMIT_ERROR", "message": "Rate limit exceeded: 100 calls per 60 seconds", "details": {} }, "request_id": "550e8400-e29b-41d4-a716-446655440000"}"#,
            ),
            status: 429,
            code: Some("RATE_LIMIT_ERROR"),
            kind: Kind::RateLimited,
            message: "Rate limit exceeded: 100 calls per 60 seconds",
            request_id: Some("550e8400-e29b-41d4-a716-446655440000"),
            retry_after: Some(30),
        },
        Case {
            seed: "002 404",
            reply: Reply::new(404).body(r#"{ "detail": "Rule not found"}"#),
            status: 404,
            code: None,
            kind: Kind::NotFound,
            message: "Rule not found",
            request_id: None,
            retry_after: None,
        },
        Case {
            seed: "002 422",
            reply: Reply::new(422).header("x-request-id", "req-002").body(
                r#"{ "detail": { "code": "VALIDATION_ERROR", "message": "Invalid request parameters", "field": "limit" }}"#,
            ),
            status: 422,
            code: Some("VALIDATION_ERROR"),
            kind: Kind::InvalidArgument,
            message: "Invalid request parameters",
            request_id: Some("req-002"),
            retry_after: None,
        },
        Case {
            seed: "003 403",
            reply: Reply::new(403).body(
                r#"{
  "error": {
    "code": "FORBIDDEN",
    "message": "API-key management requires admin role.",
    "details": { "...": "..." }
  },
  "meta": { "request_id": "a1b2c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d" }
}"#,
            ),
            status: 403,
            code: Some("FORBIDDEN"),
            kind: Kind::PermissionDenied,
            message: "API-key management requires admin role.",
            request_id: Some("a1b2c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d"),
            retry_after: None,
        },
    ];
    let seed_004 = [
        (
            400,
            "insufficient_frames",
            "Insufficient frames. Model \"10\" requires 10 frames, received 5.",
            Kind::InvalidArgument,
        ),
        (
            401,
            "invalid_key",
            "Not authenticated",
            Kind::Unauthenticated,
        ),
        (
            402,
            "insufficient_credits",
            "Insufficient credits. Required: 1, available: 0",
            Kind::PaymentRequired,
        ),
        (
            402,
            "account_suspended",
            "Your account is suspended due to a payment issue. Please update your payment method.",
            Kind::PaymentRequired,
        ),
        (
            403,
            "insufficient_scope",
            "API key lacks required scope: detection:write",
            Kind::PermissionDenied,
        ),
        (
            429,
            "rate_limit_exceeded",
            "Rate limit exceeded. Please try again later.",
            Kind::RateLimited,
        ),
    ];
    let mut cases = cases;
    for (status, code, message, kind) in seed_004 {
        let body = serde_json::json!({"data": null, "success": false, "message": message, "errors": [{code: [message]}]});
        cases.push(Case {
            seed: "004",
            reply: Reply::new(status)
                .header("x-request-id", format!("req-{code}"))
                .body(body.to_string()),
            status,
            code: Some(code),
            kind,
            message,
            request_id: None,
            retry_after: None,
        });
    }
    let client = once();
    for case in cases {
        let mock = Mock::start(vec![case.reply.clone()]).await;
        let err = client.get(mock.url("/api")).send_api().await.unwrap_err();
        let seed = case.seed;
        assert_eq!(
            err.status().map(|s| s.as_u16()),
            Some(case.status),
            "{seed}"
        );
        assert_eq!(err.code(), case.code, "{seed}");
        assert_eq!(err.kind(), Some(case.kind), "{seed}");
        assert_eq!(err.message(), Some(case.message), "{seed}");
        let header_id = case
            .reply
            .headers
            .iter()
            .find(|(n, _)| n == "x-request-id")
            .map(|(_, v)| v.as_str());
        assert_eq!(err.request_id(), case.request_id.or(header_id), "{seed}");
        assert_eq!(
            err.retry_after(),
            case.retry_after.map(Duration::from_secs),
            "{seed}"
        );
    }

    // Seed 004's validation error: the entry names a field, not a code.
    let body = r#"{"data":null,"success":false,"message":"session_id is required","errors":[{"session_id":["session_id is required"]}]}"#;
    let mock = Mock::start(vec![Reply::new(400).body(body)]).await;
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    let violations = err.response().unwrap().violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        (violations[0].field.as_str(), violations[0].message.as_str()),
        ("session_id", "session_id is required")
    );
    assert_eq!(err.kind(), Some(Kind::InvalidArgument));

    // Seed 001's details object survives as details.
    let body = r#"{"error":{"code":400,"message":"Bad Request: Missing required field 'image_data'","details":{"field":"image_data","issue":"This field is required."}}}"#;
    let mock = Mock::start(vec![Reply::new(400).body(body)]).await;
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.response().unwrap().details()["field"], "image_data");
}

#[tokio::test]
async fn bodies_that_are_not_json_keep_status_and_request_id() {
    let cases = [
        (Reply::new(500).header("x-request-id", "empty-1"), "empty", None),
        (
            Reply::new(502)
                .header("content-type", "text/html")
                .header("x-request-id", "html-1")
                .body("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"),
            "html",
            Some("502 Bad Gateway"),
        ),
        (
            Reply::new(503).header("content-type", "text/plain").header("request-id", "text-1").body("upstream connect error\n"),
            "text",
            Some("upstream connect error"),
        ),
        (Reply::new(504).header("x-correlation-id", "json-1").body("[1,2,3]"), "json", None),
        // Cut short: read as far as it came whole, the code the cut ended in left out.
        (Reply::new(500).header("x-request-id", "cut-1").body(r#"{"error":{"code":"internal_err"#), "coded", None),
    ];
    for (reply, dialect, message) in cases {
        let status = reply.status;
        let id = reply
            .headers
            .iter()
            .find(|(n, _)| n.contains("id"))
            .map(|(_, v)| v.clone())
            .unwrap();
        let mock = Mock::start(vec![reply]).await;
        let err = once().get(mock.url("/")).send_api().await.unwrap_err();
        let response = err.response().expect("an error response");
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.request_id(), Some(id.as_str()));
        assert_eq!(response.dialect(), dialect, "{status}");
        assert_eq!(response.code(), None, "{status}");
        if message.is_some() {
            assert_eq!(response.message(), message);
        }
        assert_eq!(response.kind(), Kind::from_status(status));
    }
}

#[tokio::test]
async fn an_error_body_in_another_charset_is_read_in_it() {
    // "Café introuvable" in ISO-8859-1, then in windows-1252 ("Ça coûte 5 €").
    let cases: [(&str, &[u8], &str); 10] = [
        (
            "application/json; charset=iso-8859-1",
            b"{\"error\":\"not_found\",\"message\":\"Caf\xe9 introuvable\"}",
            "Caf\u{e9} introuvable",
        ),
        (
            "text/plain; charset=\"ISO-8859-1\"",
            b"Caf\xe9 introuvable",
            "Caf\u{e9} introuvable",
        ),
        (
            "application/json;charset=windows-1252",
            b"{\"error\":\"not_found\",\"message\":\"\xc7a co\xfbte 5 \x80\"}",
            "\u{c7}a co\u{fb}te 5 \u{20ac}",
        ),
        // UTF-8 whatever the label says, as servers that label every body
        // ISO-8859-1 send it.
        (
            "application/json; charset=ISO-8859-1",
            "{\"error\":\"not_found\",\"message\":\"Caf\u{e9} introuvable\"}".as_bytes(),
            "Caf\u{e9} introuvable",
        ),
        // UTF-16, BOM first.
        (
            "application/json; charset=utf-16",
            b"\xff\xfe{\0\"\0m\0e\0s\0s\0a\0g\0e\0\"\0:\0\"\0\xe9\0\"\0}\0",
            "\u{e9}",
        ),
        // UTF-16 without a BOM, though its ASCII is valid UTF-8 too.
        (
            "application/json; charset=utf-16le",
            b"{\0\"\0m\0e\0s\0s\0a\0g\0e\0\"\0:\0\"\0h\0i\0\"\0}\0",
            "hi",
        ),
        // The BOM names the charset the label does not.
        (
            "application/json",
            b"\xfe\xff\0{\0\"\0m\0e\0s\0s\0a\0g\0e\0\"\0:\0\"\0\xe9\0\"\0}",
            "\u{e9}",
        ),
        // UTF-8 labelled UTF-16 (it has no NUL byte), or labelled a charset
        // that browsers read as one U+FFFD.
        (
            "application/json; charset=utf-16",
            "{\"error\":\"not_found\",\"message\":\"Caf\u{e9} introuvable\"}".as_bytes(),
            "Caf\u{e9} introuvable",
        ),
        (
            "application/json; charset=utf-16be",
            "{\"error\":\"not_found\",\"message\":\"Caf\u{e9} introuvable\"}".as_bytes(),
            "Caf\u{e9} introuvable",
        ),
        (
            "application/json; charset=iso-2022-kr",
            "{\"error\":\"not_found\",\"message\":\"Caf\u{e9} introuvable\"}".as_bytes(),
            "Caf\u{e9} introuvable",
        ),
    ];
    for (content_type, body, message) in cases {
        let reply = Reply::new(404)
            .without_header("content-type")
            .header("content-type", content_type)
            .body(body);
        let mock = Mock::start(vec![reply]).await;
        let err = once().get(mock.url("/")).send_api().await.unwrap_err();
        let response = err.response().expect("an error response");
        assert_eq!(response.message(), Some(message), "{content_type}");
        assert_eq!(response.kind(), Kind::NotFound);
        // The body is kept as it came.
        assert_eq!(&response.body()[..], body);
    }
}

#[tokio::test]
async fn an_error_body_in_a_coding_not_undone_is_not_read_as_text() {
    // `{"error":"internal_error","message":"boom"}` gzipped, sent though
    // the client asked for no coding (as S3 serves a stored `.gz` object):
    // its bytes are not the server's message.
    let gzipped: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0x2d, 0x2a,
        0xca, 0x2f, 0x52, 0xb2, 0x52, 0xca, 0xcc, 0x2b, 0x49, 0x2d, 0xca, 0x4b, 0xcc, 0x89, 0x87,
        0x08, 0xe8, 0x28, 0xe5, 0xa6, 0x16, 0x17, 0x27, 0xa6, 0xa7, 0x02, 0xa5, 0x92, 0xf2, 0xf3,
        0x73, 0x95, 0x6a, 0x01, 0xec, 0xad, 0xd8, 0x2d, 0x2b, 0x00, 0x00, 0x00,
    ];
    let mock = Mock::start(vec![
        Reply::new(500)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .header("x-request-id", "gz-1")
            .body(gzipped),
    ])
    .await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    let response = err.response().unwrap();
    assert_eq!(response.message(), None, "{err}");
    assert_eq!(response.dialect(), "empty");
    assert_eq!(response.body().as_ref(), gzipped, "the bytes are kept");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.request_id(), Some("gz-1"));
    assert_eq!(
        err.to_string(),
        format!(
            "GET {}: 500 Internal Server Error (request id gz-1)",
            mock.url("/")
        )
    );
    // `identity` is no coding: the body is read.
    let mock = Mock::start(vec![
        Reply::new(500)
            .header("content-encoding", "identity")
            .body(r#"{"error":"internal_error","message":"boom"}"#),
    ])
    .await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.message(), Some("boom"));
}

#[tokio::test]
async fn an_oversized_error_body_is_cut_at_the_limit() {
    let huge = format!(
        r#"{{"error":"internal_error","message":"{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let mock = Mock::start(vec![
        Reply::new(500).header("x-request-id", "big-1").body(huge),
    ])
    .await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    let response = err.response().unwrap();
    assert!(response.is_truncated());
    assert_eq!(
        response.body().len(),
        tollgate_client::DEFAULT_MAX_ERROR_BODY
    );
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.request_id(), Some("big-1"));

    let decoder = ErrorDecoder::new().max_body(100);
    let client = client_from(
        TollgateMiddleware::new()
            .policy(RetryPolicy::disabled())
            .decoder(decoder),
    );
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.response().unwrap().body().len(), 100);

    // A body under the limit is read whole.
    let mock = Mock::start(vec![Reply::api(Dialect::Problem, "not_found", "r", None)]).await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    assert!(!err.response().unwrap().is_truncated());
}

/// A JSON body cut at the limit keeps the members that came whole.
#[tokio::test]
async fn a_json_body_cut_at_the_limit_keeps_its_code() {
    let body = r#"{"error":{"code":"slow_body","message":"The body is longer than the limit"}}"#;
    let mock = Mock::start(vec![Reply::new(503).body(body)]).await;
    let client = client_from(
        TollgateMiddleware::new()
            .policy(RetryPolicy::disabled())
            .decoder(ErrorDecoder::new().max_body(body.find("The").unwrap() + 8)),
    );
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert!(err.response().unwrap().is_truncated());
    assert_eq!(err.code(), Some("slow_body"));
    // The message the cut ended in is left out.
    assert_eq!(err.message(), None);
}

/// The documented default limit is 1 MiB.
#[tokio::test]
async fn an_error_body_just_under_a_mebibyte_is_read_whole_by_default() {
    let big = format!(
        r#"{{"error":"internal_error","message":"{}"}}"#,
        "x".repeat(1024 * 1024 - 64)
    );
    let mock = Mock::start(vec![Reply::new(500).body(big.clone())]).await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    let response = err.response().unwrap();
    assert!(!response.is_truncated());
    assert_eq!(response.body().len(), big.len());
}

// In real time: the server writes bytes on a socket of its own.
#[tokio::test]
async fn a_body_that_stalls_once_it_fills_the_limit_is_cut_at_once() {
    // A 503 with `Retry-After` sends 100 bytes of its 200, then nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut open = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0; 4096];
            let _ = socket.read(&mut request).await;
            let head =
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 200\r\n\r\n";
            let sent = format!("{head}{}", "x".repeat(100));
            let _ = socket.write_all(sent.as_bytes()).await;
            // Kept open: the rest never comes.
            open.push(socket);
        }
    });
    let reader = |policy: RetryPolicy| {
        client_from(
            TollgateMiddleware::new()
                .policy(policy)
                .decoder(ErrorDecoder::new().max_body(100)),
        )
    };
    let policy = RetryPolicy::disabled().deadline(Duration::from_secs(300));
    let sent =
        tokio::time::timeout(Duration::from_secs(30), reader(policy).get(&url).send_api()).await;
    let err = sent
        .expect("read up to the limit, not to the deadline")
        .unwrap_err();
    let response = err.response().unwrap();
    assert_eq!(response.body().len(), 100);
    assert!(response.is_truncated());
    assert_eq!(response.retry_after(), Some(Duration::from_secs(1)));

    // A body that ends just as it fills the limit is whole.
    let mock = Mock::start(vec![Reply::new(500).body("y".repeat(100))]).await;
    let err = reader(RetryPolicy::disabled())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.response().unwrap().body().len(), 100);
    assert!(!err.response().unwrap().is_truncated());
}

#[tokio::test]
async fn envelope_success_bodies_are_unwrapped() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Session {
        id: String,
        frames: u32,
    }
    let ok = r#"{"data":{"id":"s1","frames":10},"success":true,"message":"OK"}"#;
    let mock = Mock::start(vec![Reply::new(200).body(ok)]).await;
    let session: Session = once()
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data()
        .await
        .unwrap();
    assert_eq!(
        session,
        Session {
            id: "s1".into(),
            frames: 10
        }
    );

    // `data: null` is `None`; a missing `data` too.
    for body in [
        r#"{"data":null,"success":true,"message":"OK"}"#,
        r#"{"success":true}"#,
    ] {
        let mock = Mock::start(vec![Reply::new(200).body(body)]).await;
        let data: Option<Session> = once()
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap()
            .json_data()
            .await
            .unwrap();
        assert_eq!(data, None);
    }

    // An envelope that says it failed, even with a 200, is the decoded error.
    let failed = r#"{"data":null,"success":false,"message":"Insufficient credits. Required: 1, available: 0","errors":[{"insufficient_credits":["Insufficient credits. Required: 1, available: 0"]}]}"#;
    // It carries the key the request was sent with, to send it again.
    let mock = Mock::start(vec![Reply::new(200).body(failed)]).await;
    let err = once()
        .post(mock.url("/"))
        .header("idempotency-key", "k-17")
        .send_api()
        .await
        .unwrap()
        .json_data::<Session>()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("insufficient_credits"));
    assert!(err.url().is_some());
    assert_eq!(err.method(), Some(&http::Method::POST), "{err}");
    assert!(err.to_string().starts_with("POST http://"), "{err}");
    assert_eq!(err.idempotency_key(), Some("k-17"));
    assert_eq!(err.attempts().len(), 1, "{err:?}");
    // After a retry, it lists every attempt the middleware made.
    let mock = Mock::start(vec![Reply::new(503), Reply::new(200).body(failed)]).await;
    let err = client(tollgate_client::RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<Session>()
        .await
        .unwrap_err();
    let statuses: Vec<_> = err.attempts().iter().map(|a| a.status()).collect();
    assert_eq!(statuses, [Some(503), Some(200)], "{err:?}");

    // An error status comes back typed, before any unwrapping.
    let mock = Mock::start(vec![Reply::api(
        Dialect::Envelope,
        "invalid_key",
        "r-401",
        None,
    )])
    .await;
    let response = reqwest::get(mock.url("/")).await.unwrap();
    let err = response.json_data::<Session>().await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(StatusCode::UNAUTHORIZED), Some("invalid_key"))
    );

    // Other shapes are clear errors.
    let mock = Mock::start(vec![Reply::new(200).body(r#"{"id":"s1","frames":10}"#)]).await;
    let err = once()
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<Session>()
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::NotEnvelope)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("expected an envelope body"),
        "{err}"
    );

    let mock = Mock::start(vec![Reply::new(200).body(r#"{"data":{"id":"s1","#)]).await;
    let err = once()
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<Session>()
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::Json(_))),
        "{err:?}"
    );

    let mock = Mock::start(vec![
        Reply::new(200).body(r#"{"data":{"id":7},"success":true}"#),
    ])
    .await;
    let err = once()
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<Session>()
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::Json(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn json_data_with_decodes_errors_with_that_decoder() {
    let catalog = Catalog::from_toml(
        "app.toml",
        r#"
[errors.out_of_frames]
status = 402
title = "Out of frames"
message = "No frames left on this plan."
"#,
    )
    .unwrap();
    let decoder = ErrorDecoder::new().catalog(catalog);
    let failed = r#"{"data":null,"success":false,"message":"No frames left on this plan.","errors":[{"out_of_frames":["No frames left on this plan."]}]}"#;
    // An envelope that says it failed, with a 200 and with an error status.
    let mock = Mock::start(vec![
        Reply::new(200).body(failed),
        Reply::new(200).body(failed),
        Reply::new(402).body(failed),
    ])
    .await;
    let http = reqwest::Client::new();
    let response = http.get(mock.url("/")).send().await.unwrap();
    let err = response.json_data::<serde_json::Value>().await.unwrap_err();
    assert_eq!(err.code(), Some("out_of_frames"));
    assert!(!err.response().unwrap().is_truncated(), "kept whole");
    assert_ne!(
        err.kind(),
        Some(Kind::PaymentRequired),
        "the built-in catalog does not know it"
    );
    for _ in 0..2 {
        let response = http.get(mock.url("/")).send().await.unwrap();
        let err = response
            .json_data_with::<serde_json::Value>(&decoder)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("out_of_frames"));
        assert_eq!(err.kind(), Some(Kind::PaymentRequired), "{err:?}");
    }

    // The decoder's body limit holds for a failed envelope's 200 too.
    let mock = Mock::start(vec![Reply::new(200).body(failed)]).await;
    let response = http.get(mock.url("/")).send().await.unwrap();
    let small = ErrorDecoder::new().max_body(40);
    let err = response
        .json_data_with::<serde_json::Value>(&small)
        .await
        .unwrap_err();
    let kept = err.response().unwrap();
    assert_eq!(kept.body().as_ref(), &failed.as_bytes()[..40]);
    assert!(kept.is_truncated());
}

/// A server that reads one request and writes `answer`, then `chunk` again
/// and again while the client reads (with none, nothing more); its URL.
async fn raw_server(answer: String, chunk: Option<String>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0; 4096];
        let _ = socket.read(&mut request).await;
        let _ = socket.write_all(answer.as_bytes()).await;
        if let Some(chunk) = chunk {
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        }
    });
    url
}

#[tokio::test]
async fn a_success_body_past_its_limit_is_an_error_not_read_whole() {
    let ok = r#"{"data":{"id":"s1"},"success":true}"#;
    let limit = ok.len();
    let decoder = ErrorDecoder::new().max_success_body(limit);
    assert_eq!(decoder.max_success_body_len(), limit);
    assert_eq!(
        ErrorDecoder::new().max_success_body_len(),
        tollgate_client::DEFAULT_MAX_SUCCESS_BODY
    );
    // At the limit, read; one byte over it (told by its Content-Length),
    // refused with the limit named.
    let mock = Mock::start(vec![
        Reply::new(200).body(ok),
        Reply::new(200).body(format!("{ok} ")),
    ])
    .await;
    let http = reqwest::Client::new();
    let response = http.get(mock.url("/")).send().await.unwrap();
    let data: serde_json::Value = response.json_data_with(&decoder).await.unwrap();
    assert_eq!(data["id"], "s1");
    let response = http.get(mock.url("/")).send().await.unwrap();
    let err = response
        .json_data_with::<serde_json::Value>(&decoder)
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::TooLarge(l)) if *l == limit),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "success body longer than its limit of {limit} bytes"
        )),
        "{err}"
    );

    // Through the middleware, its decoder's limit holds for json_data too
    // (json_data_with's decoder, when given, instead).
    let mock = Mock::start(vec![
        Reply::new(200).body(format!("{ok} ")),
        Reply::new(200).body(format!("{ok} ")),
    ])
    .await;
    let middleware = client_from(tollgate_client::TollgateMiddleware::new().decoder(decoder));
    let err = middleware
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<serde_json::Value>()
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::TooLarge(l)) if *l == limit),
        "{err:?}"
    );
    let roomy = ErrorDecoder::new().max_success_body(limit + 1);
    assert_eq!(err.method(), Some(&http::Method::GET));
    let data: serde_json::Value = middleware
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data_with(&roomy)
        .await
        .unwrap();
    assert_eq!(data["id"], "s1");

    // An endless chunked body, with no length to tell: refused once the
    // limit is passed, where reading it whole would never end.
    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
    let url = raw_server(head.to_owned(), Some(chunk)).await;
    let endless = ErrorDecoder::new().max_success_body(1 << 20);
    let err = reqwest::get(&url)
        .await
        .unwrap()
        .json_data_with::<serde_json::Value>(&endless)
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), Cause::Body(BodyError::TooLarge(l)) if *l == 1 << 20),
        "{err:?}"
    );
    assert_eq!(err.attempts().len(), 1, "{err:?}");
}

#[tokio::test]
async fn an_error_found_in_a_success_body_keeps_the_request_ids() {
    // A body that is not the JSON asked for: the request id of the
    // response it came in is the one to quote to support.
    let mock = Mock::start(vec![
        Reply::new(503).header("x-request-id", "r-1"),
        Reply::new(200)
            .header("x-request-id", "r-2")
            .body(r#"{"data":{"id":"#),
    ])
    .await;
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .json_data::<serde_json::Value>()
        .await
        .unwrap_err();
    assert!(matches!(err.cause(), Cause::Body(_)), "{err:?}");
    let statuses: Vec<_> = err.attempts().iter().map(|a| a.status()).collect();
    assert_eq!(statuses, [Some(503), Some(200)], "{err:?}");
    assert_eq!(err.request_ids(), ["r-1", "r-2"]);
    assert!(
        err.to_string()
            .ends_with("(2 attempts, request ids r-1, r-2)"),
        "{err}"
    );

    // Without the middleware too, and for a body the server cut off.
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nx-request-id: cut-1\r\n\r\n";
    let url = raw_server(format!("{head}{{\"data\":"), None).await;
    let err = reqwest::get(&url)
        .await
        .unwrap()
        .json_data::<serde_json::Value>()
        .await
        .unwrap_err();
    assert!(err.transport().is_some(), "{err:?}");
    assert_eq!(err.attempts().len(), 1, "{err:?}");
    assert_eq!(err.attempts()[0].status(), Some(200));
    assert_eq!(err.request_ids(), ["cut-1"]);
}

#[tokio::test]
async fn plain_reqwest_gets_typed_errors_too() {
    let mock = Mock::start(vec![
        Reply::api(Dialect::Meta, "insufficient_scope", "meta-1", None),
        Reply::ok(),
    ])
    .await;
    let http = reqwest::Client::new();
    let err = http.get(mock.url("/v1/keys")).send_api().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(err.request_id(), Some("meta-1"));
    assert_eq!(err.method(), Some(&http::Method::GET));
    assert_eq!(err.stop(), None, "no retrying middleware was involved");

    let response = http.get(mock.url("/")).send().await.unwrap();
    let response = response.error_for_api().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.attempts().is_empty());

    // 400 is the first error status.
    let mock = Mock::start(vec![Reply::api(
        Dialect::Problem,
        "malformed_request",
        "p-1",
        None,
    )])
    .await;
    let response = http.get(mock.url("/")).send().await.unwrap();
    let err = response.error_for_api().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.code(), Some("malformed_request"));

    // No response at all (nothing listens): one attempt, its error told,
    // with plain reqwest and with a middleware chain without Tollgate's.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let bare = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    for err in [
        http.get(&url).send_api().await.unwrap_err(),
        bare.get(&url).send_api().await.unwrap_err(),
    ] {
        assert_eq!(err.attempts().len(), 1, "{err:?}");
        assert_eq!(err.attempts()[0].status(), None);
        assert!(err.attempts()[0].error().is_some(), "{err:?}");
    }
}

#[tokio::test]
async fn without_the_middleware_a_failed_request_still_gives_back_its_key() {
    let mock = Mock::start(vec![Reply::api(
        Dialect::Problem,
        "service_unavailable",
        "r1",
        None,
    )])
    .await;
    let plain = reqwest::Client::new();
    let err = plain
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", "scan-7")
        .body("{}")
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.idempotency_key(), Some("scan-7"));
    // A reqwest-middleware client without the retrying middleware too.
    let chain = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let err = chain
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", "scan-8")
        .body("{}")
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.idempotency_key(), Some("scan-8"));
    // And a request that got no answer at all.
    let err = plain
        .post("http://127.0.0.1:9/v1/scans")
        .header("idempotency-key", "scan-9")
        .send_api()
        .await
        .unwrap_err();
    assert!(err.transport().is_some());
    assert_eq!(err.idempotency_key(), Some("scan-9"));
    // And an error found in a success body later.
    let mock =
        Mock::start(vec![Reply::new(200).body(
            r#"{"data":null,"success":false,"message":"busy","errors":[]}"#,
        )])
        .await;
    let response = plain
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", "scan-10")
        .send_api()
        .await
        .unwrap();
    let err = response.json_data::<serde_json::Value>().await.unwrap_err();
    assert_eq!(err.idempotency_key(), Some("scan-10"));
}

#[tokio::test]
async fn server_text_in_an_error_cannot_forge_log_lines() {
    let body =
        r#"{"error":{"code":"bad\u001b[2K","message":"no\nINFO all is well"},"request_id":"r\r1"}"#;
    let mock = Mock::start(vec![Reply::new(400).body(body)]).await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    // The parts keep the server's text; the message escapes it.
    assert_eq!(err.message(), Some("no\nINFO all is well"));
    let shown = err.to_string();
    assert!(!shown.contains(['\n', '\r', '\u{1b}']), "{shown:?}");
    assert!(
        shown.contains(r"400 Bad Request bad\u{1b}[2K: no\nINFO all is well (request id r\r1)"),
        "{shown}"
    );
}

/// `retryable` is the client's own decision for the response: the
/// server's `x-should-retry` and a spent quota's rule count, as the
/// client's retries do.
#[tokio::test(start_paused = true)]
async fn an_error_response_is_retryable_when_the_client_retries_it() {
    let cases = [
        (
            Reply::new(429).header("x-error-code", "usage_limit_exceeded"),
            false,
        ),
        (
            Reply::new(429)
                .header("x-error-code", "usage_limit_exceeded")
                .header("retry-after", 1),
            true,
        ),
        (Reply::new(503).header("x-should-retry", "false"), false),
        (Reply::new(400).header("x-should-retry", "true"), true),
        (Reply::new(403).header("retry-after", 1), true),
        (Reply::new(400).header("retry-after", 1), false),
        (Reply::new(502), true),
        (Reply::new(501), false),
    ];
    for (reply, retryable) in cases {
        let shown = format!("{reply:?}");
        let mock = Mock::start(vec![reply]).await;
        let err = client(RetryPolicy::default().max_attempts(2))
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap_err();
        assert_eq!(err.response().unwrap().retryable(), retryable, "{shown}");
        assert_eq!(mock.hits() == 2, retryable, "{shown}");
    }
}

/// 425 Too Early asks for the same request later: retried, and of the
/// kind of other "try again" statuses.
#[tokio::test(start_paused = true)]
async fn a_425_is_unavailable_and_retried() {
    let mock = Mock::start(vec![Reply::new(425)]).await;
    let err = once().get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.kind(), Some(Kind::Unavailable));
    let mock = Mock::start(vec![Reply::new(425), Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
}

/// A 425 (sent in early data) was not processed: a POST without an
/// `Idempotency-Key` is sent again. A 408 may come after the work began (a
/// handler that ran too long), and a 500 too: not sent again.
#[tokio::test(start_paused = true)]
async fn a_post_refused_before_its_work_is_sent_again_without_a_key() {
    for (status, sent) in [(425, 2), (408, 1), (500, 1)] {
        let mock = Mock::start(vec![Reply::new(status), Reply::ok()]).await;
        let _ = client(RetryPolicy::default())
            .post(mock.url("/"))
            .body("{}")
            .send_api()
            .await;
        assert_eq!(mock.hits(), sent, "{status}");
    }
}

/// A status without a reason phrase is its number; a message that is the
/// status line again (an HTML page's title) is not repeated; a wait past
/// any clock is forever, and a long one told in hours, days or years too.
#[tokio::test]
async fn an_error_text_says_the_status_line_once() {
    let mock = Mock::start(vec![Reply::new(520)]).await;
    let url = mock.url("/");
    let err = once().get(&url).send_api().await.unwrap_err();
    assert_eq!(err.to_string(), format!("GET {url}: 520"));

    for title in ["502 Bad Gateway", "Bad Gateway"] {
        let page = format!("<html><head><title>{title}</title></head></html>");
        let mock = Mock::start(vec![
            Reply::new(502)
                .header("content-type", "text/html")
                .body(page),
        ])
        .await;
        let url = mock.url("/");
        let err = once().get(&url).send_api().await.unwrap_err();
        assert_eq!(err.message(), Some(title));
        assert_eq!(err.to_string(), format!("GET {url}: 502 Bad Gateway"));
    }

    // A wait past any clock is forever; a long one is also told in a unit
    // a reader takes in.
    for (asked, told) in [
        ("1e400", "forever (a wait past any clock)"),
        ("7200", "7200s (about 2 hours)"),
        ("259200", "259200s (about 3 days)"),
        ("99999999", "99999999s (about 3 years)"),
        ("7199", "7199s"),
    ] {
        let mock = Mock::start(vec![Reply::new(503).header("retry-after", asked)]).await;
        let url = mock.url("/");
        let err = client(RetryPolicy::default())
            .get(&url)
            .send_api()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "GET {url}: 503 Service Unavailable; not retried: the server asked to wait \
                 {told}, more than the 60s allowed"
            )
        );
    }
}

/// No response: the text says why (refused, timed out, closed early),
/// from the transport error's causes, and names the URL once.
#[tokio::test]
async fn a_transport_error_says_its_reason_and_its_url_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let texts = |err: tollgate_client::Error, url: &str| {
        let text = err.to_string();
        assert_eq!(text.matches(url).count(), 1, "{text}");
        assert!(
            text.starts_with(&format!("GET {url}: error sending request")),
            "{text}"
        );
        text
    };

    // Refused: nothing listens on a port just freed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let err = once().get(&refused).send_api().await.unwrap_err();
    let text = texts(err, &refused);
    assert!(text.contains("Connection refused"), "{text}");

    // Timed out: the connection is made, nothing ever comes back.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}/x", listener.local_addr().unwrap());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let timing_out = reqwest_middleware::ClientBuilder::new(http)
        .with(TollgateMiddleware::new().policy(RetryPolicy::disabled()))
        .build();
    let err = timing_out.get(&silent).send_api().await.unwrap_err();
    let text = texts(err, &silent);
    assert!(text.contains("timed out"), "{text}");
    drop(listener);

    // Closed early: the request is read, the connection closed unanswered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing = format!("http://{}/x", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        socket.shutdown().await.unwrap();
    });
    let err = once().get(&closing).send_api().await.unwrap_err();
    let text = texts(err, &closing);
    assert!(
        text.contains("connection closed before message completed"),
        "{text}"
    );
}

#[tokio::test]
async fn an_error_response_says_whether_sending_again_may_succeed() {
    for (status, retryable) in [(503, true), (429, true), (404, false), (400, false)] {
        let mock = Mock::start(vec![Reply::new(status)]).await;
        let err = once().get(mock.url("/")).send_api().await.unwrap_err();
        assert_eq!(err.response().unwrap().retryable(), retryable, "{status}");
    }
}

#[tokio::test]
async fn success_and_redirect_statuses_pass_through() {
    for status in [200, 201, 204, 304] {
        let mock = Mock::start(vec![Reply::new(status)]).await;
        let response = once().get(mock.url("/")).send_api().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.attempts().len(), 1);
    }
}

#[tokio::test]
async fn the_error_reads_well() {
    let mock = Mock::start(vec![Reply::api(
        Dialect::Coded,
        "rate_limit_exceeded",
        "req_42",
        Some(Duration::from_secs(120)),
    )])
    .await;
    let url = mock.url("/v1/scans");
    let err = client(RetryPolicy::default())
        .get(&url)
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET {url}: 429 Too Many Requests rate_limit_exceeded: Rate limit exceeded: x calls per x seconds; \
             not retried: the server asked to wait 120s, more than the 60s allowed (request id req_42)"
        )
    );
    assert!(matches!(
        err.stop(),
        Some(StopReason::RetryAfterTooLong { .. })
    ));
    let as_std: &dyn std::error::Error = &err;
    assert!(as_std.source().is_none());

    // Transport errors chain their source.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = once().get(&url).send_api().await.unwrap_err();
    assert!(std::error::Error::source(&err).is_some());
    assert!(
        err.to_string().starts_with(&format!("GET {url}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn the_default_client_follows_redirects_only_within_the_origin() {
    let elsewhere = Mock::start(vec![Reply::ok()]).await;
    let api = Mock::start(vec![
        Reply::new(307).header("location", "/moved"),
        Reply::ok(),
        Reply::new(302).header("location", elsewhere.url("/steal")),
    ])
    .await;
    let client = tollgate_client::client();
    let moved = client
        .get(api.url("/v1/x"))
        .header("x-api-key", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200, "followed within the origin");
    let away = client
        .get(api.url("/v1/x"))
        .header("x-api-key", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(away.status(), 302, "a redirect elsewhere is the answer");
    assert_eq!(elsewhere.hits(), 0, "the key never went to another origin");
}

#[tokio::test]
async fn the_default_client_follows_ten_redirects_and_refuses_the_eleventh() {
    let redirect = || Reply::new(302).header("location", "/next");
    let mut ten = vec![redirect(); 10];
    ten.push(Reply::ok());
    let api = Mock::start(ten).await;
    let client = tollgate_client::client();
    let answer = client.get(api.url("/v1/x")).send().await.unwrap();
    assert_eq!(answer.status(), 200, "ten redirects are followed");
    assert_eq!(api.hits(), 11);

    let endless = Mock::start(vec![redirect()]).await;
    let err = client.get(endless.url("/v1/x")).send().await.unwrap_err();
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.contains("more than 10 redirects"), "{chain}");
    assert_eq!(endless.hits(), 11, "the eleventh redirect is not followed");
}
