//! `{"error":{"code":"FORBIDDEN","message","details":{}},"meta":{"request_id"}}` (seed 003).

use std::borrow::Cow;

use super::coded::{decode_error_object, write_error_object};
use super::json::Out;
use super::{Context, Renderer};
use crate::decode::{Decoded, Obj, Raw};
use crate::{ApiError, Dialect};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":");
    write_error_object(err, Dialect::Meta, out);
    match ctx.request_id {
        Some(id) => {
            out.raw(",\"meta\":{\"request_id\":");
            out.str(id);
            out.raw("}}");
        }
        None => out.raw(",\"meta\":{}}"),
    }
}

pub(super) fn decode(obj: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    if let Some(error) = error {
        decode_error_object(error, out);
    }
    if let Some(meta) = obj.obj("meta") {
        out.request_id = meta
            .raw("request_id")
            .and_then(Raw::id)
            .map(Cow::into_owned);
        out.hint_retry(meta.seconds("retry_after"));
    }
}
