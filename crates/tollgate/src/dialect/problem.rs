//! RFC 9457 problem details: `application/problem+json`.

use super::json::Out;
use super::{
    Context, Renderer, write_detail_members, write_message, write_pointer, write_wire_code,
};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect, Violation, pointer_to_field, retry_after_secs};

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

pub(super) fn encode(r: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"type\":");
    r.write_doc_url(err, out);
    out.raw(",\"title\":");
    out.str(err.def().title());
    out.raw(",\"status\":");
    out.u64(err.status().into());
    out.raw(",\"detail\":");
    write_message(err, out);
    if let Some(instance) = ctx.instance {
        out.raw(",\"instance\":");
        out.str(instance);
    }
    out.raw(",\"code\":");
    write_wire_code(err, Dialect::Problem, out);
    if let Some(id) = ctx.request_id {
        out.raw(",\"request_id\":");
        out.str(id);
    }
    if !err.violations().is_empty() {
        out.raw(",\"errors\":");
        write_pointers(err.violations(), out);
    }
    if let Some(delay) = err.retry_after_delay() {
        out.raw(",\"retry_after\":");
        out.u64(retry_after_secs(delay));
    }
    write_detail_members(err, RESERVED, out);
    out.raw("}");
}

/// Violations as `[{"pointer","detail","code"}]`.
fn write_pointers(violations: &[Violation], out: &mut Out<'_>) {
    out.raw("[");
    for (i, v) in violations.iter().enumerate() {
        out.raw(if i == 0 {
            "{\"pointer\":"
        } else {
            ",{\"pointer\":"
        });
        write_pointer(&v.field, out);
        out.raw(",\"detail\":");
        out.str(&v.message);
        out.raw(",\"code\":");
        out.str(&v.code);
        out.raw("}");
    }
    out.raw("]");
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
    out.hint_retry(obj.seconds("retry_after"));
    for item in obj.items("errors") {
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
