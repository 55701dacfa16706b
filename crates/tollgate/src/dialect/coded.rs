//! `{"error":{"code":"RATE_LIMIT_ERROR","message","details":{}},"request_id"}`
//! (seed 002, middleware errors).

use super::json::Out;
use super::{
    Context, Renderer, read_details_object, write_details_object, write_message, write_wire_code,
};
use crate::decode::{Decoded, Obj, repeats_status};
use crate::{ApiError, Dialect};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":");
    write_error_object(err, Dialect::Coded, out);
    if let Some(id) = ctx.request_id {
        out.raw(",\"request_id\":");
        out.str(id);
    }
    out.raw("}");
}

/// `{"code","message","details"}`, shared with the `meta` dialect.
pub(super) fn write_error_object(err: &ApiError, dialect: Dialect, out: &mut Out<'_>) {
    out.raw("{\"code\":");
    write_wire_code(err, dialect, out);
    out.raw(",\"message\":");
    write_message(err, out);
    out.raw(",\"details\":");
    write_details_object(err, out);
    out.raw("}");
}

/// Reads `{"code","message","details"}`, shared with the `meta` dialect. A
/// code that is only the status again (Azure OpenAI's `"code":"429"`) is
/// none.
pub(super) fn decode_error_object(error: &Obj<'_>, out: &mut Decoded) {
    let code = error.str("code");
    out.set_code(code.filter(|code| !repeats_status(code, out.status)));
    out.message = error.string("message");
    if let Some(details) = error.obj("details") {
        read_details_object(&details, |_| false, out);
    }
}

pub(super) fn decode(_: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    if let Some(error) = error {
        decode_error_object(error, out);
        out.hint_retry(error.seconds("retry_after"));
    }
}
