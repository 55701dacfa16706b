//! JSON:API 1.1 error objects: `{"errors":[{"id","status","code","title","detail","source","links","meta"}]}`.
//!
//! The first object is the error itself (its `id` is the request id); each
//! field violation follows as an object with a `source.pointer`.

use super::json::Out;
use super::{Context, Renderer, read_details, write_message, write_pointer, write_wire_code};
use crate::decode::{Decoded, Obj, Raw, stated_status};
use crate::{ApiError, Dialect, Violation, pointer_to_field};

pub(super) const RESERVED: &[&str] = &["retry_after"];

pub(super) fn encode(r: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    let mut status = [0; 5];
    let status = status_text(err.status(), &mut status);
    out.raw("{\"errors\":[{");
    if let Some(id) = ctx.request_id {
        out.raw("\"id\":");
        out.str(id);
        out.raw(",");
    }
    out.raw("\"status\":\"");
    out.raw(status);
    out.raw("\",\"code\":");
    write_wire_code(err, Dialect::Jsonapi, out);
    out.raw(",\"title\":");
    out.str(err.def().title());
    out.raw(",\"detail\":");
    write_message(err, out);
    out.raw(",\"links\":{\"about\":");
    r.write_doc_url(err, out);
    out.raw("}");
    if err.has_sent_details() || err.retry_after_delay().is_some() {
        out.raw(",\"meta\":{");
        let mut first = true;
        for (k, v) in err.sent_details() {
            if !RESERVED.contains(&k.as_str()) {
                out.raw(if first { "" } else { "," });
                first = false;
                out.key(k);
                out.value(v);
            }
        }
        if let Some(delay) = err.retry_after_delay() {
            out.raw(if first {
                "\"retry_after\":"
            } else {
                ",\"retry_after\":"
            });
            out.u64(crate::retry::sent_wait_secs(delay));
        }
        out.raw("}");
    }
    out.raw("}");
    for v in err.violations() {
        out.raw(",{\"status\":\"");
        out.raw(status);
        out.raw("\",\"code\":");
        out.str(&v.code);
        out.raw(",\"title\":");
        out.str(err.def().title());
        out.raw(",\"detail\":");
        out.str(&v.message);
        out.raw(",\"source\":{\"pointer\":");
        write_pointer(&v.field, out);
        out.raw("}}");
    }
    out.raw("]}");
}

/// An HTTP status as JSON:API spells it: a string of its digits.
fn status_text(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut start = buf.len();
    let mut n = status;
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Digits are ASCII.
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

/// Reads the `errors` items (the first already parsed, when an object).
pub(super) fn decode(errors: Vec<Raw<'_>>, mut first: Option<Obj<'_>>, out: &mut Decoded) {
    let items: Vec<Obj<'_>> = errors
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| match i {
            0 => first.take(),
            _ => raw.obj(),
        })
        .collect();
    let main = items.iter().position(|e| !e.has("source")).unwrap_or(0);
    for (i, item) in items.iter().enumerate() {
        // `detail` by the spec; `message` where a server writes its own.
        let words = || {
            item.string("detail")
                .or_else(|| item.string("message"))
                .or_else(|| item.string("title"))
        };
        if i == main {
            // A string by the spec; some servers write a number.
            out.body_status(stated_status(item, "status"));
            out.set_code(item.str("code"));
            out.message = words();
            out.request_id = item.string("id");
            if let Some(meta) = item.obj("meta") {
                out.hint_retry(meta.seconds("retry_after"));
                read_details(&meta, |key| key == "retry_after", out);
            }
        }
        // Square's items, JSON:API's but for `source`, name it in `field`.
        let field = match item.obj("source") {
            Some(source) => Some(match source.str("pointer") {
                Some(p) => pointer_to_field(&p),
                None => source.string("parameter").unwrap_or_default(),
            }),
            None => item.string("field").filter(|field| !field.is_empty()),
        };
        if let Some(field) = field {
            out.violations.push(Violation {
                field,
                code: item.string("code").unwrap_or_default(),
                message: words().unwrap_or_default(),
            });
        }
    }
}
