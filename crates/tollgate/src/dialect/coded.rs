//! `{"error":{"code":"RATE_LIMIT_ERROR","message","details":{}},"request_id"}`
//! (seed 002, middleware errors).

use serde::ser::{SerializeMap, Serializer as _};

use super::{Context, DetailsObject, Renderer, Ser, SerResult, message, read_details_object};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect};

pub(super) fn encode(
    _: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(None)?;
    map.serialize_entry("error", &ErrorObject(err, Dialect::Coded))?;
    if let Some(id) = ctx.request_id {
        map.serialize_entry("request_id", id)?;
    }
    map.end()
}

/// `{"code","message","details"}`, shared with the `meta` dialect.
pub(super) struct ErrorObject<'a>(pub(super) &'a ApiError, pub(super) Dialect);

impl serde::Serialize for ErrorObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let err = self.0;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("code", &*err.def().wire_code(self.1))?;
        map.serialize_entry("message", &message(err))?;
        map.serialize_entry("details", &DetailsObject(err))?;
        map.end()
    }
}

/// Reads `{"code","message","details"}`, shared with the `meta` dialect.
pub(super) fn decode_error_object(error: &Obj<'_>, out: &mut Decoded) {
    out.set_code(error.str("code"));
    out.message = error.string("message");
    if let Some(details) = error.obj("details") {
        read_details_object(&details, |_| false, out);
    }
}

pub(super) fn decode(_: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    if let Some(error) = error {
        decode_error_object(error, out);
        out.hint_retry_secs(error.u64("retry_after"));
    }
}
