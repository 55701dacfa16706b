//! The `retry_hints` input layout: a response as text.
//!
//! ```text
//! [status index] [clock step] (name ":" value "\n")* "\n" [body…]
//! ```
//!
//! The status index picks from [`HINT_STATUSES`] (modulo its length). The
//! clock step, times [`CLOCK_STEP_SECS`], is how far a second decoder's
//! clock runs ahead of [`now`](crate::now). Header lines follow until an
//! empty line: a name, a colon and a value, each trimmed of spaces and tabs
//! as an HTTP parser does (a line `http` refuses, or without a colon, is
//! left out). What follows the empty line is the body. Any byte string is a
//! valid input.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Statuses a `retry_hints` input can choose.
pub const HINT_STATUSES: [u16; 16] = [
    429, 503, 403, 400, 500, 502, 504, 404, 200, 408, 529, 401, 409, 425, 301, 999,
];

/// Seconds per unit of the clock step.
pub const CLOCK_STEP_SECS: u64 = 977;

/// A `retry_hints` input taken apart.
pub struct HintsInput<'a> {
    /// The response status.
    pub status: u16,
    /// How far the second clock runs ahead, in seconds.
    pub clock_step: u64,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body.
    pub body: &'a [u8],
}

impl<'a> HintsInput<'a> {
    /// Splits fuzzer bytes as the module docs say.
    pub fn split(data: &'a [u8]) -> HintsInput<'a> {
        let (status, step, mut rest) = match data {
            [status, step, rest @ ..] => (*status, *step, rest),
            _ => (0, 0, &[][..]),
        };
        let mut headers = HeaderMap::new();
        let body = loop {
            let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            if line.trim_ascii().is_empty() {
                break tail;
            }
            rest = tail;
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = HeaderName::from_bytes(line[..colon].trim_ascii());
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.append(name, value);
            }
        };
        HintsInput {
            status: HINT_STATUSES[usize::from(status) % HINT_STATUSES.len()],
            clock_step: u64::from(step) * CLOCK_STEP_SECS,
            headers,
            body,
        }
    }
}

/// Builds a `retry_hints` input: the inverse of [`HintsInput::split`] for
/// statuses in [`HINT_STATUSES`] (others become the first).
pub fn join_hints(status: u16, clock_step: u8, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let index = HINT_STATUSES.iter().position(|s| *s == status).unwrap_or(0);
    let mut out = vec![index as u8, clock_step];
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_split_agree() {
        let data = join_hints(
            503,
            2,
            &[("Retry-After", "30"), ("retry-after", "60"), ("Age", "5")],
            b"{\n}",
        );
        let input = HintsInput::split(&data);
        assert_eq!(input.status, 503);
        assert_eq!(input.clock_step, 2 * CLOCK_STEP_SECS);
        let lines: Vec<_> = input.headers.get_all("retry-after").iter().collect();
        assert_eq!(lines, ["30", "60"]);
        assert_eq!(input.headers["age"], "5");
        assert_eq!(input.body, b"{\n}");
        let bare = HintsInput::split(b"\x00\x00no colon\n\t\n{}");
        assert!(bare.headers.is_empty());
        assert_eq!(bare.body, b"{}");
    }
}
