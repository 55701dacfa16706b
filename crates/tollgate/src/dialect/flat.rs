//! `{"error":"<code>","message":"…"}` (seed 004's legacy format).

use super::json::Out;
use super::{Context, Renderer, write_message, write_wire_code};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":");
    write_wire_code(err, Dialect::Flat, out);
    out.raw(",\"message\":");
    write_message(err, out);
    out.raw("}");
}

pub(super) fn decode(obj: &Obj<'_>, out: &mut Decoded) {
    out.set_code(obj.str("error"));
    out.message = obj.string("message");
}
