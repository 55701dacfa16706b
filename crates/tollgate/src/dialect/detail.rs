//! FastAPI's `{"detail":"…"}` and `{"detail":{"code","message","field"}}` (seed 002,
//! framework errors); decoding also reads FastAPI's 422
//! `{"detail":[{"loc","msg","type"}]}`.

use serde_json::Value;

use super::json::Out;
use super::{
    Context, FIELD_KEY, Renderer, VIOLATIONS_KEY, read_details_object, write_detail_members,
    write_message, write_violations, write_wire_code,
};
use crate::decode::{Decoded, Json, Obj, Raw};
use crate::{ApiError, Catalog, Dialect, Violation};

pub(super) const RESERVED: &[&str] = &["code", "message", VIOLATIONS_KEY];

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    // A plain string, like `HTTPException(detail="…")`, unless the API gave the
    // code a name here or there is structure to show.
    let structured = err.def().aliases().contains_key(&Dialect::Detail)
        || err.has_sent_details()
        || !err.violations().is_empty();
    out.raw("{\"detail\":");
    if structured {
        out.raw("{\"code\":");
        write_wire_code(err, Dialect::Detail, out);
        out.raw(",\"message\":");
        write_message(err, out);
        // Seed 002 names the offending field in `field`: the first
        // violation's, unless a detail names one.
        let first = err.violations().first().filter(|v| !v.field.is_empty());
        let field_sent = err.details().contains_key(FIELD_KEY) && err.def().sends_detail(FIELD_KEY);
        if let Some(first) = first.filter(|_| !field_sent) {
            out.raw(",\"field\":");
            out.str(&first.field);
        }
        write_detail_members(err, RESERVED, out);
        if !err.violations().is_empty() {
            out.raw(",\"errors\":");
            write_violations(err.violations(), out);
        }
        out.raw("}");
    } else {
        write_message(err, out);
    }
    out.raw("}");
}

pub(super) fn decode(obj: &Obj<'_>, catalog: &Catalog, out: &mut Decoded) {
    if let Some(text) = obj.string("detail") {
        out.message = Some(text);
    } else if let Some(detail) = obj.obj("detail") {
        // `code` and `message` are the error's own when they are strings,
        // details otherwise.
        let code = detail.str("code");
        let message = detail.string("message");
        let own = |key: &str| match key {
            "code" => code.is_some(),
            "message" => message.is_some(),
            _ => false,
        };
        read_details_object(&detail, own, out);
        out.set_code(code);
        // A `field` repeating the first violation's is that violation's
        // (written for it), not a detail of its own, unless the code's entry
        // documents a `field` detail (`missing_field`'s).
        let repeated = out.violations.first().is_some_and(|first| {
            matches!(out.details.get(FIELD_KEY), Some(Value::String(field)) if *field == first.field)
        });
        let documented = out
            .code
            .as_deref()
            .and_then(|code| catalog.find_wire_code(code))
            .is_some_and(|def| def.details.iter().any(|k| k == FIELD_KEY));
        if repeated && !documented {
            out.details.shift_remove(FIELD_KEY);
        }
        out.message = message;
    } else if let Some(items) = obj.raw("detail").and_then(Raw::items) {
        for item in items.take(out.violation_room()) {
            let Some(item) = item.obj() else {
                continue;
            };
            let field = item
                .raw("loc")
                .map(fastapi_loc_to_field)
                .unwrap_or_default();
            out.violations.push(Violation {
                field,
                code: item.string("type").unwrap_or_default(),
                message: item.string("msg").unwrap_or_default(),
            });
        }
        out.message = out.violations.first().map(|v| v.message.clone());
    }
}

/// `["body", "items", 2, "name"]` → `items[2].name`; `["body"]` (the whole
/// body) → the empty field. Read part by part from the text: parsed whole, a
/// long list of numbers would cost some thirty times its size.
fn fastapi_loc_to_field(loc: Raw<'_>) -> String {
    let Some(parts) = loc.items() else {
        return String::new();
    };
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        match part.json_type() {
            Some(Json::Number) => {
                out.push('[');
                out.push_str(part.get());
                out.push(']');
            }
            Some(Json::String) => {
                let Some(name) = part.string() else {
                    continue;
                };
                let location = matches!(&*name, "body" | "query" | "path" | "header" | "cookie");
                if i == 0 && location {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&name);
            }
            _ => {}
        }
    }
    out
}
