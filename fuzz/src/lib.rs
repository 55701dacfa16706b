//! Shared by the fuzz targets and the corpus seeder: how the first bytes of a
//! `decode` input choose the status and the response headers (below), and
//! how `client_ip` and `retry_hints` inputs are laid out ([`client_ip`],
//! [`retry_hints`]).
//!
//! Layout of a `decode` input:
//!
//! ```text
//! [status index] [header mask, 2 bytes] ([len] [len bytes of value])* [body…]
//! ```
//!
//! The status index picks from [`STATUSES`]; bit `i` of the mask (little
//! endian) adds [`HEADERS`]`[i]` with the next length-prefixed value. Whatever is left is
//! the body. Short inputs are all body with status 0 and no headers, so any
//! byte string is a valid input.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};

pub mod client_ip;
pub mod retry_hints;

/// Statuses a decode input can choose (0 means "unknown": the body's is used).
pub const STATUSES: [u16; 24] = [
    0,
    200,
    204,
    400,
    401,
    402,
    403,
    404,
    405,
    409,
    410,
    413,
    415,
    422,
    429,
    499,
    500,
    502,
    503,
    504,
    599,
    600,
    999,
    u16::MAX,
];

/// Headers a decode input can set, by bit of the mask.
pub const HEADERS: [&str; 14] = [
    "retry-after",
    "x-request-id",
    "traceparent",
    "content-type",
    "x-error-code",
    "request-id",
    "x-amzn-requestid",
    "x-correlation-id",
    "ratelimit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "www-authenticate",
];

/// Headers that carry a request id (every one the decoder reads).
pub const REQUEST_ID_HEADERS: [&str; 6] = [
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-ms-request-id",
    "x-correlation-id",
    "traceparent",
];

/// The clock every target decodes at: 2023-11-14T22:13:20Z.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A `decode` input taken apart.
pub struct DecodeInput<'a> {
    /// The response status.
    pub status: u16,
    /// The response headers (values that `http` rejects are left out).
    pub headers: HeaderMap,
    /// The response body.
    pub body: &'a [u8],
}

impl<'a> DecodeInput<'a> {
    /// Splits fuzzer bytes into status, headers and body.
    pub fn split(data: &'a [u8]) -> DecodeInput<'a> {
        let mut headers = HeaderMap::new();
        let [index, mask_low, mask_high, rest @ ..] = data else {
            return DecodeInput {
                status: 0,
                headers,
                body: data,
            };
        };
        let status = STATUSES[usize::from(*index) % STATUSES.len()];
        let mask = u16::from_le_bytes([*mask_low, *mask_high]);
        let mut rest = rest;
        for (bit, name) in HEADERS.iter().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let Some((&len, tail)) = rest.split_first() else {
                break;
            };
            let len = usize::from(len).min(tail.len());
            let (value, tail) = tail.split_at(len);
            rest = tail;
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        DecodeInput {
            status,
            headers,
            body: rest,
        }
    }
}

/// Builds a `decode` input: the inverse of [`DecodeInput::split`].
///
/// Statuses outside [`STATUSES`] become 0; header values are cut at 255 bytes;
/// headers not in [`HEADERS`] are left out.
pub fn join(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let index = STATUSES.iter().position(|s| *s == status).unwrap_or(0);
    let mut mask = 0u16;
    let mut values = Vec::new();
    for (bit, name) in HEADERS.iter().enumerate() {
        if let Some((_, value)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            let value = &value.as_bytes()[..value.len().min(255)];
            mask |= 1 << bit;
            values.push(value.len() as u8);
            values.extend_from_slice(value);
        }
    }
    let [mask_low, mask_high] = mask.to_le_bytes();
    let mut out = vec![index as u8, mask_low, mask_high];
    out.extend(values);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_split_agree() {
        let headers = [
            ("Retry-After", "30"),
            ("X-Request-Id", "r1"),
            ("X-RateLimit-Reset", "1700000060"),
        ];
        let data = join(429, &headers, b"{}");
        let input = DecodeInput::split(&data);
        assert_eq!(input.status, 429);
        assert_eq!(input.headers["retry-after"], "30");
        assert_eq!(input.headers["x-request-id"], "r1");
        assert_eq!(input.headers["x-ratelimit-reset"], "1700000060");
        assert_eq!(input.body, b"{}");
    }

    #[test]
    fn short_inputs_are_all_body() {
        assert_eq!(DecodeInput::split(b"{}").body, b"{}");
        assert_eq!(DecodeInput::split(b"").status, 0);
    }
}
