//! `{"error":{"code":"FORBIDDEN","message","details":{}},"meta":{"request_id"}}` (seed 003).

use serde::ser::{SerializeMap, Serializer as _};

use super::coded::{ErrorObject, decode_error_object};
use super::{Context, Renderer, Ser, SerResult};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect};

pub(super) fn encode(
    _: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    #[derive(serde::Serialize)]
    struct Meta<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<&'a str>,
    }
    let mut map = ser.serialize_map(Some(2))?;
    map.serialize_entry("error", &ErrorObject(err, Dialect::Meta))?;
    map.serialize_entry(
        "meta",
        &Meta {
            request_id: ctx.request_id,
        },
    )?;
    map.end()
}

pub(super) fn decode(obj: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    if let Some(error) = error {
        decode_error_object(error, out);
    }
    if let Some(meta) = obj.obj("meta") {
        out.request_id = meta.string("request_id");
        out.hint_retry_secs(meta.u64("retry_after"));
    }
}
