//! Google AIP-193: `{"error":{"code","message","status","details":[…]}}` with
//! `ErrorInfo`, `RetryInfo`, `BadRequest`, `Help` and `RequestInfo`.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer as _};
use serde_json::Value;

use super::{Context, Renderer, Ser, SerResult, Str, message, read_details};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect, Violation, retry_after_secs};

const TYPE_PREFIX: &str = "type.googleapis.com/google.rpc.";

/// The `google.rpc.Code` name for an HTTP status (AIP-193's mapping).
pub(crate) fn rpc_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 | 412 => "FAILED_PRECONDITION",
        403 => "PERMISSION_DENIED",
        404 | 410 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        413 | 416 => "OUT_OF_RANGE",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        405 | 501 => "UNIMPLEMENTED",
        503 | 502 => "UNAVAILABLE",
        504 | 408 => "DEADLINE_EXCEEDED",
        400..=499 => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

pub(super) fn encode(
    r: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(Some(1))?;
    map.serialize_entry("error", &Status { r, err, ctx })?;
    SerializeMap::end(map)
}

struct Status<'a> {
    r: &'a Renderer<'a>,
    err: &'a ApiError,
    ctx: &'a Context<'a>,
}

impl Serialize for Status<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("code", &self.err.status())?;
        map.serialize_entry("message", &message(self.err))?;
        map.serialize_entry("status", rpc_status(self.err.status()))?;
        map.serialize_entry("details", &Details(self))?;
        map.end()
    }
}

struct Details<'a>(&'a Status<'a>);

impl Serialize for Details<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Status { r, err, ctx } = *self.0;
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&ErrorInfo { r, err })?;
        if let Some(delay) = err.retry_after_delay() {
            seq.serialize_element(&Typed(
                "RetryInfo",
                (
                    "retryDelay",
                    Str(format_args!("{}s", retry_after_secs(delay))),
                ),
            ))?;
        }
        if !err.violations().is_empty() {
            seq.serialize_element(&Typed(
                "BadRequest",
                ("fieldViolations", FieldViolations(err.violations())),
            ))?;
        }
        let link = HelpLink {
            description: err.def().title(),
            url: r.doc_url(err),
        };
        seq.serialize_element(&Typed("Help", ("links", [link])))?;
        if let Some(id) = ctx.request_id {
            seq.serialize_element(&Typed("RequestInfo", ("requestId", id)))?;
        }
        seq.end()
    }
}

/// `{"@type": TYPE_PREFIX + name, key: value}`.
struct Typed<V>(&'static str, (&'static str, V));

impl<V: Serialize> Serialize for Typed<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("@type", &Str(format_args!("{TYPE_PREFIX}{}", self.0)))?;
        map.serialize_entry(self.1.0, &self.1.1)?;
        map.end()
    }
}

struct ErrorInfo<'a> {
    r: &'a Renderer<'a>,
    err: &'a ApiError,
}

impl Serialize for ErrorInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("@type", &Str(format_args!("{TYPE_PREFIX}ErrorInfo")))?;
        map.serialize_entry("reason", &*self.err.def().wire_code(Dialect::Google))?;
        map.serialize_entry("domain", self.r.domain)?;
        if !self.err.details().is_empty() {
            map.serialize_entry("metadata", &Metadata(self.err))?;
        }
        map.end()
    }
}

/// `ErrorInfo.metadata` is `map<string, string>`: other values go as JSON text.
struct Metadata<'a>(&'a ApiError);

impl Serialize for Metadata<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.details().len()))?;
        for (k, v) in self.0.details() {
            match v {
                Value::String(text) => map.serialize_entry(k, text)?,
                other => map.serialize_entry(k, &Str(other))?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct HelpLink<'a, 'e> {
    description: &'a str,
    url: super::DocUrl<'a, 'e>,
}

struct FieldViolations<'a>(&'a [Violation]);

impl Serialize for FieldViolations<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Item<'a> {
            field: &'a str,
            description: &'a str,
            reason: &'a str,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Item {
                field: &v.field,
                description: &v.message,
                reason: &v.code,
            })?;
        }
        seq.end()
    }
}

pub(super) fn decode(error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.body_status = error.u64("code").and_then(|s| u16::try_from(s).ok());
    out.message = error.string("message");
    for item in error.array("details").unwrap_or_default() {
        let Some(item) = item.obj() else {
            continue;
        };
        let Some(ty) = item.str("@type") else {
            continue;
        };
        match ty.rsplit('.').next().unwrap_or_default() {
            "ErrorInfo" => {
                out.set_code(item.str("reason"));
                if let Some(metadata) = item.obj("metadata") {
                    read_details(&metadata, |_| false, out);
                }
            }
            "RetryInfo" => {
                let delay = item
                    .str("retryDelay")
                    .and_then(|d| crate::retry::parse_proto_duration(&d));
                out.hint_retry(delay);
            }
            "BadRequest" => {
                for v in item.array("fieldViolations").unwrap_or_default() {
                    let Some(v) = v.obj() else {
                        continue;
                    };
                    out.violations.push(Violation {
                        field: v.string("field").unwrap_or_default(),
                        code: v.string("reason").unwrap_or_default(),
                        message: v.string("description").unwrap_or_default(),
                    });
                }
            }
            "RequestInfo" => out.request_id = item.string("requestId"),
            _ => {}
        }
    }
}
