//! Stripe's `{"error":{"type","code","message","param","doc_url"}}`, with the
//! request id in the `Request-Id` header.

use serde::ser::{SerializeMap, Serializer as _};

use super::{
    Context, Renderer, Ser, SerResult, VIOLATIONS_KEY, Violations, message, read_details_object,
};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect, Violation};

pub(super) const RESERVED: &[&str] = &[
    "type",
    "code",
    "message",
    "param",
    "doc_url",
    VIOLATIONS_KEY,
];

/// Stripe's error `type` for an error.
fn error_type(err: &ApiError) -> &'static str {
    if err.status() >= 500 {
        "api_error"
    } else if err.code().starts_with("idempotency") {
        "idempotency_error"
    } else {
        "invalid_request_error"
    }
}

pub(super) fn encode(
    r: &Renderer<'_>,
    err: &ApiError,
    _: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(Some(1))?;
    map.serialize_entry("error", &ErrorObject(r, err))?;
    map.end()
}

struct ErrorObject<'a>(&'a Renderer<'a>, &'a ApiError);

impl serde::Serialize for ErrorObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ErrorObject(r, err) = *self;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", error_type(err))?;
        map.serialize_entry("code", &*err.def().wire_code(Dialect::Stripe))?;
        map.serialize_entry("message", &message(err))?;
        if let Some(first) = err.violations().first() {
            map.serialize_entry("param", &first.field)?;
        }
        map.serialize_entry("doc_url", &r.doc_url(err))?;
        for (k, v) in err.details() {
            if !RESERVED.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        if !err.violations().is_empty() {
            map.serialize_entry(VIOLATIONS_KEY, &Violations(err.violations()))?;
        }
        map.end()
    }
}

pub(super) fn decode(error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.set_code(error.str("code"));
    out.message = error.string("message");
    let before = out.violations.len();
    let own = |key: &str| ["type", "code", "message", "param", "doc_url"].contains(&key);
    read_details_object(error, own, out);
    if out.violations.len() == before {
        if let Some(param) = error.string("param") {
            let code = out.code.clone().unwrap_or_default();
            let message = out.message.clone().unwrap_or_default();
            out.violations.push(Violation {
                field: param,
                code,
                message,
            });
        }
    }
}
