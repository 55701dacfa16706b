//! `{"error":"<code>","message":"…"}` (seed 004's legacy format).

use serde::ser::{SerializeMap, Serializer as _};

use super::{Context, Renderer, Ser, SerResult, message};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect};

pub(super) fn encode(
    _: &Renderer<'_>,
    err: &ApiError,
    _: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(Some(2))?;
    map.serialize_entry("error", &*err.def().wire_code(Dialect::Flat))?;
    map.serialize_entry("message", &message(err))?;
    map.end()
}

pub(super) fn decode(obj: &Obj<'_>, out: &mut Decoded) {
    out.set_code(obj.str("error"));
    out.message = obj.string("message");
}
