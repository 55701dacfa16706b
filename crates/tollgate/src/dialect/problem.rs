//! RFC 9457 problem details: `application/problem+json`.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer as _};

use super::{Context, Renderer, Ser, SerResult, message};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect, Violation, field_to_pointer, pointer_to_field, retry_after_secs};

pub(super) const RESERVED: &[&str] = &[
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "request_id",
    "errors",
    "retry_after",
];

pub(super) fn encode(
    r: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(None)?;
    map.serialize_entry("type", &r.doc_url(err))?;
    map.serialize_entry("title", err.def().title())?;
    map.serialize_entry("status", &err.status())?;
    map.serialize_entry("detail", &message(err))?;
    if let Some(instance) = ctx.instance {
        map.serialize_entry("instance", instance)?;
    }
    map.serialize_entry("code", &*err.def().wire_code(Dialect::Problem))?;
    if let Some(id) = ctx.request_id {
        map.serialize_entry("request_id", id)?;
    }
    if !err.violations().is_empty() {
        map.serialize_entry("errors", &Pointers(err.violations()))?;
    }
    if let Some(delay) = err.retry_after_delay() {
        map.serialize_entry("retry_after", &retry_after_secs(delay))?;
    }
    for (k, v) in err.details() {
        if !RESERVED.contains(&k.as_str()) {
            map.serialize_entry(k, v)?;
        }
    }
    SerializeMap::end(map)
}

/// Violations as `[{"pointer","detail","code"}]`.
struct Pointers<'a>(&'a [Violation]);

impl Serialize for Pointers<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Item<'a> {
            pointer: String,
            detail: &'a str,
            code: &'a str,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Item {
                pointer: field_to_pointer(&v.field),
                detail: &v.message,
                code: &v.code,
            })?;
        }
        seq.end()
    }
}

pub(super) fn decode(obj: &Obj<'_>, out: &mut Decoded) {
    out.body_status = obj.u64("status").and_then(|s| u16::try_from(s).ok());
    out.message = obj.string("detail").or_else(|| obj.string("title"));
    match obj.str("code") {
        Some(code) => out.set_code(Some(code)),
        None => out.set_code(obj.str("type").and_then(|ty| {
            let (_, fragment) = ty.split_once('#')?;
            (!fragment.is_empty()).then(|| fragment.to_owned())
        })),
    }
    out.hint_retry_secs(obj.u64("retry_after"));
    for item in obj.array("errors").unwrap_or_default() {
        let Some(item) = item.obj() else {
            continue;
        };
        let field = match item.str("pointer") {
            Some(p) => pointer_to_field(&p),
            None => item.string("field").unwrap_or_default(),
        };
        out.violations.push(Violation {
            field,
            code: item.string("code").unwrap_or_default(),
            message: item
                .string("detail")
                .or_else(|| item.string("message"))
                .unwrap_or_default(),
        });
    }
    for (key, raw) in obj.members() {
        if !RESERVED.contains(&key) {
            if let Some(value) = raw.value() {
                out.details.insert(key.to_owned(), value);
            }
        }
    }
}
