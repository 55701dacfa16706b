//! `{"data":null,"success":false,"message","errors":[{"<code or field>":["…"]}]}` (seed 004).

use std::borrow::Cow;

use super::json::Out;
use super::{Context, Renderer, write_message, write_wire_code};
use crate::decode::{Decoded, Json, Obj, Raw};
use crate::{ApiError, Dialect, Violation};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"data\":null,\"success\":false,\"message\":");
    write_message(err, out);
    out.raw(",\"errors\":[");
    // One entry per field with violations, each mapping the field to its
    // messages; without violations, one entry mapping the code to the message.
    let violations = err.violations();
    if violations.is_empty() {
        out.raw("{");
        write_wire_code(err, Dialect::Envelope, out);
        out.raw(":[");
        // Written again rather than copied: the template is cheap to fill,
        // and a copy would need a buffer of its own.
        write_message(err, out);
        out.raw("]}");
    }
    let mut first = true;
    for (i, v) in violations.iter().enumerate() {
        if violations[..i]
            .iter()
            .any(|earlier| earlier.field == v.field)
        {
            continue;
        }
        out.raw(if first { "{" } else { ",{" });
        first = false;
        out.key(&v.field);
        out.raw("[");
        let same_field = violations[i..].iter().filter(|w| w.field == v.field);
        for (j, w) in same_field.enumerate() {
            if j > 0 {
                out.raw(",");
            }
            out.str(&w.message);
        }
        out.raw("]}");
    }
    out.raw("]}");
}

pub(super) fn decode(obj: &Obj<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    let items: Vec<Obj<'_>> = obj
        .array("errors")
        .unwrap_or_default()
        .into_iter()
        .filter_map(Raw::obj)
        .collect();
    let entries: Vec<(&str, Raw<'_>)> = items.iter().flat_map(Obj::members).collect();
    // The entry named by `X-Error-Code` (or, without it, a lone entry that
    // repeats the message) is the code; every other entry is a field.
    let code_index = match &out.code {
        Some(code) => entries.iter().position(|(k, _)| k == code),
        None => (entries.len() == 1 && !looks_like_field_error(entries[0].0, out)).then_some(0),
    };
    for (i, (key, messages)) in entries.into_iter().enumerate() {
        if Some(i) == code_index {
            out.set_code(Some(key));
            continue;
        }
        for message in messages_of(messages) {
            out.violations.push(Violation {
                field: key.to_owned(),
                code: String::new(),
                message: message.into_owned(),
            });
        }
    }
}

/// An entry's messages: an array of strings, or one string; else none.
fn messages_of(raw: Raw<'_>) -> Vec<Cow<'_, str>> {
    match raw.json_type() {
        Some(Json::String) => raw.string().into_iter().collect(),
        Some(Json::Array) => raw
            .array()
            .and_then(|items| items.into_iter().map(Raw::string).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Without a code header, a lone entry is a field when its message names it
/// (`"session_id is required"`).
fn looks_like_field_error(key: &str, out: &Decoded) -> bool {
    out.message
        .as_deref()
        .is_some_and(|m| m.split_whitespace().next() == Some(key))
}
