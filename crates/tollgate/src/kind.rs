//! Canonical categories shared by every API, whatever its own codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The canonical category of an error, for clients that talk to many APIs.
///
/// Each API names its errors its own way (`RATE_LIMIT_ERROR`, `rate_limit_exceeded`,
/// `429`); the kind is what they have in common.
///
/// ```
/// use tollgate::Kind;
/// assert_eq!(Kind::from_status(429), Kind::RateLimited);
/// assert_eq!("not_found".parse::<Kind>(), Ok(Kind::NotFound));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// The request is malformed or a value is invalid (400, 422, and any
    /// other 4xx without a kind of its own).
    InvalidArgument,
    /// No valid credential was presented (401).
    Unauthenticated,
    /// The account must pay or top up first (402).
    PaymentRequired,
    /// The credential is valid but lacks a permission (403).
    PermissionDenied,
    /// The resource does not exist, or is not the caller's (404, 405, 410).
    NotFound,
    /// The request conflicts with the current state (409, 412).
    Conflict,
    /// The request body is too large (413).
    PayloadTooLarge,
    /// The request body's media type is not accepted (415).
    UnsupportedMediaType,
    /// Too many requests in a window (429).
    RateLimited,
    /// A longer-term quota (monthly usage, storage) is used up.
    QuotaExceeded,
    /// The server failed (500, and any other status without a kind of its
    /// own, 501 among them).
    Internal,
    /// The server or one of its upstreams is unavailable, for now (502,
    /// 503, 425 Too Early, Cloudflare's 520, 521, 523 and 525–527,
    /// Anthropic's 529).
    Unavailable,
    /// The operation ran out of time (408, 504, Cloudflare's 522 and 524,
    /// 598, 599).
    Timeout,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 13] = [
        Kind::InvalidArgument,
        Kind::Unauthenticated,
        Kind::PaymentRequired,
        Kind::PermissionDenied,
        Kind::NotFound,
        Kind::Conflict,
        Kind::PayloadTooLarge,
        Kind::UnsupportedMediaType,
        Kind::RateLimited,
        Kind::QuotaExceeded,
        Kind::Internal,
        Kind::Unavailable,
        Kind::Timeout,
    ];

    /// The kind an HTTP status implies when nothing more specific is known.
    pub fn from_status(status: u16) -> Kind {
        match status {
            401 => Kind::Unauthenticated,
            402 => Kind::PaymentRequired,
            403 => Kind::PermissionDenied,
            404 | 405 | 410 => Kind::NotFound,
            409 | 412 => Kind::Conflict,
            413 => Kind::PayloadTooLarge,
            415 => Kind::UnsupportedMediaType,
            429 => Kind::RateLimited,
            // With the statuses outside RFC 9110 that proxies send:
            // Cloudflare's 522/524 and 598/599 time out, 520–527 and
            // Anthropic's 529 "overloaded" are the origin unavailable.
            408 | 504 | 522 | 524 | 598 | 599 => Kind::Timeout,
            // 425 Too Early (RFC 8470): the server will not risk a replay
            // now, and answers the same request sent again later.
            425 | 502 | 503 | 520..=527 | 529 => Kind::Unavailable,
            400..=499 => Kind::InvalidArgument,
            _ => Kind::Internal,
        }
    }

    /// The snake_case name, as in catalogs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidArgument => "invalid_argument",
            Kind::Unauthenticated => "unauthenticated",
            Kind::PaymentRequired => "payment_required",
            Kind::PermissionDenied => "permission_denied",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload_too_large",
            Kind::UnsupportedMediaType => "unsupported_media_type",
            Kind::RateLimited => "rate_limited",
            Kind::QuotaExceeded => "quota_exceeded",
            Kind::Internal => "internal",
            Kind::Unavailable => "unavailable",
            Kind::Timeout => "timeout",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a [`Kind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown kind {:?}, expected one of: ", self.0)?;
        let names: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each status with a kind of its own maps to it, and its neighbours
    /// without one to the class's default.
    #[test]
    fn statuses_with_a_kind_of_their_own_map_to_it() {
        for (status, kind) in [
            (409, Kind::Conflict),
            (412, Kind::Conflict),
            (413, Kind::PayloadTooLarge),
            (411, Kind::InvalidArgument),
            (425, Kind::Unavailable),
            (414, Kind::InvalidArgument),
        ] {
            assert_eq!(Kind::from_status(status), kind, "{status}");
        }
    }

    /// An unknown name is told with every name expected.
    #[test]
    fn an_unknown_kind_lists_the_names_expected() {
        let e = "nope".parse::<Kind>().unwrap_err().to_string();
        assert!(
            e.starts_with("unknown kind \"nope\", expected one of: invalid_argument, "),
            "{e}"
        );
        assert!(e.ends_with(", unavailable, timeout"), "{e}");
    }
}
