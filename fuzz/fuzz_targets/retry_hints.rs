//! The client's reading of a response's retry hints: `ErrorDecoder::decode`
//! on any status, header lines and body (layout in `src/retry_hints.rs`),
//! with a pinned wall clock. Whatever the bytes:
//!
//! - it never panics, and what it read prints, serializes and is told in
//!   the error a too long wait ends a request with;
//! - `Retry-After` decides: when every line of it is delay-seconds or an
//!   HTTP-date, the wait is the longest of them (seconds as written, past
//!   `u64` the longest wait; a date less the server's clock, `Date` plus a
//!   valid `Age`, else the decoder's; a past date is no wait), whatever the
//!   other fields and the body say; with other lines too, at least that;
//! - with a `Date`, the decoder's clock changes nothing; without, a clock
//!   later by `s` seconds asks no longer a wait, and not more than `s`
//!   shorter, nor finds a hint where the other found none;
//! - without `Retry-After`, a millisecond hint or a body, a 429, 503 or
//!   403 whose `RateLimit-Remaining`, `X-RateLimit-Remaining` or
//!   `X-Rate-Limit-Remaining` is 0 asks at least the matching reset in
//!   seconds (not the `RateLimit-*` pair when `Age` is above 0), and any
//!   other response asks no wait unless it has a `RateLimit` field.

#![no_main]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AGE, DATE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tollgate_client::{ErrorDecoder, ErrorResponse, StopReason};
use tollgate_fuzz::now;
use tollgate_fuzz::retry_hints::HintsInput;

fn decode(input: &HintsInput<'_>, clock: SystemTime) -> ErrorResponse {
    let status = StatusCode::from_u16(input.status).expect("listed statuses are valid");
    ErrorDecoder::new().wall_clock(move || clock).decode(
        status,
        input.headers.clone(),
        Bytes::copy_from_slice(input.body),
    )
}

/// A header's text, trimmed.
fn text(value: &HeaderValue) -> Option<&str> {
    value.to_str().ok().map(str::trim_ascii)
}

/// The response's `Age`: one line of digits under 2³¹.
fn age(headers: &HeaderMap) -> Option<Duration> {
    let mut lines = headers.get_all(AGE).iter();
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return None;
    };
    let line = text(line)?;
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = line.parse().ok()?;
    (secs < 1 << 31).then(|| Duration::from_secs(secs))
}

fuzz_target!(|data: &[u8]| {
    let input = HintsInput::split(data);
    let headers = &input.headers;
    let first = decode(&input, now());
    let later = now() + Duration::from_secs(input.clock_step);
    let second = decode(&input, later);
    let hint = first.retry_after();
    let shown = || {
        format!(
            "status {}, headers {headers:?}, body {:?}: {:?} then {:?}",
            input.status,
            String::from_utf8_lossy(input.body),
            hint,
            second.retry_after()
        )
    };

    // What is read prints, serializes, and is told when it is too long.
    let _ = format!("{first:?}");
    serde_json::to_vec(first.decoded()).expect("decoded response serializes");
    if let Some(delay) = hint {
        let _ = tollgate::retry_after_secs(delay);
        let told = StopReason::RetryAfterTooLong {
            asked: delay,
            max: Duration::from_secs(60),
        }
        .to_string();
        assert!(told.contains("60s"), "{told}");
    }

    // The server's clock: `Date` (plus `Age`), else the decoder's.
    let dated = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let server_now = match dated {
        Some(date) => age(headers)
            .and_then(|age| date.checked_add(age))
            .unwrap_or(date),
        None => now(),
    };

    // `Retry-After` decides.
    let asked: Vec<Option<Duration>> = headers
        .get_all(RETRY_AFTER)
        .iter()
        .map(|line| {
            let line = text(line)?;
            if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) {
                return Some(Duration::from_secs(line.parse().unwrap_or(u64::MAX)));
            }
            let at = httpdate::parse_http_date(line).ok()?;
            Some(at.duration_since(server_now).unwrap_or(Duration::ZERO))
        })
        .collect();
    let longest = asked.iter().flatten().max().copied();
    if !asked.is_empty() && asked.iter().all(Option::is_some) {
        assert_eq!(hint, longest, "Retry-After does not decide: {}", shown());
    } else if let Some(longest) = longest {
        assert!(hint >= Some(longest), "Retry-After lost: {}", shown());
    }

    // The clock.
    if dated.is_some() {
        assert_eq!(
            hint,
            second.retry_after(),
            "clock read despite Date: {}",
            shown()
        );
    } else {
        assert_eq!(
            hint.is_some(),
            second.retry_after().is_some(),
            "{}",
            shown()
        );
        if let (Some(before), Some(after)) = (hint, second.retry_after()) {
            assert!(after <= before, "a later clock waits longer: {}", shown());
            assert!(
                before - after <= Duration::from_secs(input.clock_step),
                "a later clock waits too little: {}",
                shown()
            );
        }
    }

    // Without `Retry-After`, a millisecond hint or a body, a spent quota's
    // refill is the hint: at least each reset in seconds of a `*-Remaining:
    // 0` (the `RateLimit-*` pair not for a response a cache kept), none
    // where no quota is spent.
    let hints_in_headers = ["retry-after", "retry-after-ms", "x-ms-retry-after-ms"]
        .iter()
        .any(|name| headers.contains_key(*name));
    if hints_in_headers || !input.body.is_empty() {
        return;
    }
    let cached = age(headers).is_some_and(|age| !age.is_zero());
    let digits = |name: &str| {
        let value = text(headers.get(name)?)?;
        (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.parse::<u64>().unwrap_or(u64::MAX))
    };
    let quota_read = matches!(input.status, 429 | 503 | 403);
    let mut spent = false;
    for (i, [remaining, reset]) in [
        ["ratelimit-remaining", "ratelimit-reset"],
        ["x-ratelimit-remaining", "x-ratelimit-reset"],
        ["x-rate-limit-remaining", "x-rate-limit-reset"],
    ]
    .into_iter()
    .enumerate()
    {
        if digits(remaining) != Some(0) || (i == 0 && cached) {
            continue;
        }
        spent = true;
        if let Some(secs) = digits(reset).filter(|r| *r < 1_000_000_000)
            && quota_read
        {
            assert!(
                hint >= Some(Duration::from_secs(secs)),
                "{remaining}: 0 with {reset}: {secs} lost: {}",
                shown()
            );
        }
    }
    if !quota_read || (!spent && !headers.contains_key("ratelimit")) {
        assert_eq!(hint, None, "a wait without a hint: {}", shown());
    }
});
