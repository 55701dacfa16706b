//! `{"data":null,"success":false,"message","errors":[{"<code or field>":["…"]}]}` (seed 004).

use std::collections::HashMap;

use super::json::Out;
use super::{Context, Renderer, read_field_messages, write_message, write_wire_code};
use crate::decode::{Decoded, Member, Obj, Raw};
use crate::{ApiError, Catalog, Dialect};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"data\":null,\"success\":false,\"message\":");
    write_message(err, out);
    out.raw(",\"errors\":[");
    // One entry per field with violations, each mapping the field to its
    // messages; without violations, one entry mapping the code to the
    // message, or, for a validation error, the field it names
    // (`missing_field`'s `field` detail), as seed 004 reports a missing
    // `session_id`.
    let violations = err.violations();
    if violations.is_empty() {
        out.raw("{");
        match named_field(err) {
            Some(field) => out.key(field),
            None => {
                write_wire_code(err, Dialect::Envelope, out);
                out.raw(":");
            }
        }
        out.raw("[");
        // Written again rather than copied: the template is cheap to fill,
        // and a copy would need a buffer of its own.
        write_message(err, out);
        out.raw("]}");
    }
    let mut first = true;
    let mut group = |field: &str, messages: &mut dyn Iterator<Item = &str>| {
        out.raw(if first { "{" } else { ",{" });
        first = false;
        if field.is_empty() {
            // About the whole input (a body that is not an object): keyed by
            // the code, as an error with no field is.
            write_wire_code(err, Dialect::Envelope, out);
            out.raw(":");
        } else {
            out.key(field);
        }
        out.raw("[");
        for (j, message) in messages.enumerate() {
            if j > 0 {
                out.raw(",");
            }
            out.str(message);
        }
        out.raw("]}");
    };
    // Fields in the order they first appear. The usual handful is grouped
    // pair by pair, without allocating; past that, through an index, so that
    // a handler reporting one violation per input item stays linear.
    if violations.len() <= PAIRWISE_MAX {
        for (i, v) in violations.iter().enumerate() {
            if violations[..i]
                .iter()
                .any(|earlier| earlier.field == v.field)
            {
                continue;
            }
            let same_field = violations[i..].iter().filter(|w| w.field == v.field);
            group(&v.field, &mut same_field.map(|w| w.message.as_str()));
        }
    } else {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for v in violations {
            let at = *index.entry(&v.field).or_insert_with(|| {
                groups.push((&v.field, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push(&v.message);
        }
        for (field, messages) in &groups {
            group(field, &mut messages.iter().copied());
        }
    }
    out.raw("]}");
}

/// The field a validation error without violations is about (an
/// `invalid_argument` entry answering 400 or 422): its `field` detail, when
/// the entry documents one and it is a non-empty string. Other errors keep
/// their code in `errors`, where seed 004's clients look for it.
fn named_field(err: &ApiError) -> Option<&str> {
    let def = err.def();
    let validation =
        def.kind() == crate::Kind::InvalidArgument && matches!(def.status(), 400 | 422);
    if !validation || !def.details.iter().any(|k| k == "field") {
        return None;
    }
    err.details()
        .get("field")
        .and_then(|v| v.as_str())
        .filter(|f| !f.is_empty())
}

/// Violations up to which fields are grouped pairwise (at most 32² / 2
/// comparisons, no allocation).
const PAIRWISE_MAX: usize = 32;

pub(super) fn decode(obj: &Obj<'_>, catalog: &Catalog, out: &mut Decoded) {
    out.message = obj.string("message");
    // Every member of every object of `errors`, read in one pass; no more
    // than violations can be kept (each member holds 56 bytes, whatever its
    // size in the body), and the code's entry.
    let entries: Vec<Member<'_>> = obj
        .raw("errors")
        .and_then(Raw::items)
        .into_iter()
        .flatten()
        .filter_map(Raw::entries)
        .flatten()
        .take(out.violation_room() + 1)
        .collect();
    // The entry named by `X-Error-Code` is the code. Without it: an entry
    // naming a code of the catalog (whose status agrees), else a lone entry
    // that reads as a code rather than a field's. Every other entry is a field.
    let code_index = match &out.code {
        Some(code) => entries.iter().position(|(k, _)| k == code),
        None => entries
            .iter()
            .position(|(key, _)| {
                catalog
                    .find_wire_code_in(key, Some(Dialect::Envelope))
                    .is_some_and(|def| def.status() == out.status || out.status < 400)
            })
            .or_else(|| match entries.as_slice() {
                [(key, messages)] => lone_entry_is_code(key, *messages, out).then_some(0),
                _ => None,
            }),
    };
    for (i, (key, messages)) in entries.into_iter().enumerate() {
        if Some(i) == code_index {
            out.set_code(Some(key));
            // The message again, or, for a validation error (400 or 422),
            // the whole input's violations (written under the code, having
            // no field to name).
            let invalid = matches!(out.status, 400 | 422);
            if invalid && !only_the_message(messages, out.message.as_deref()) {
                read_field_messages("", messages, out);
            }
            continue;
        }
        read_field_messages(&key, messages, out);
    }
}

/// Whether a code's entry holds just `message` (`["Not authenticated"]`, or
/// the bare string), as seed 004 writes an error without violations.
fn only_the_message(messages: Raw<'_>, message: Option<&str>) -> bool {
    let Some(message) = message else {
        return false;
    };
    let only = match messages.items() {
        Some(mut items) => match (items.next(), items.next()) {
            (Some(only), None) => only,
            _ => return false,
        },
        None => messages,
    };
    only.string().as_deref() == Some(message)
}

/// Without a code header, whether a lone entry the catalog does not know is
/// a code: not when the message names it first (`"session_id is required"`)
/// or, on a validation error (400 or 422), in quotes (`"Missing required
/// field 'user.email'"`, as a missing field is keyed); and on a validation
/// error, only when it just repeats the message (as an error without
/// violations does), for there its messages are more likely a field's
/// (`{"session_id": ["Invalid UUID"]}`).
fn lone_entry_is_code(key: &str, messages: Raw<'_>, out: &Decoded) -> bool {
    let message = out.message.as_deref();
    let invalid = matches!(out.status, 400 | 422);
    let names_it = message.is_some_and(|m| {
        let first = m.split_whitespace().next() == Some(key);
        // The whole key between quotes (`.`, `[]` and `-` are the name's).
        let quoted = || {
            let quote = |c: Option<char>| matches!(c, Some('\'' | '"' | '`'));
            m.match_indices(key).any(|(at, _)| {
                quote(m[..at].chars().next_back()) && quote(m[at + key.len()..].chars().next())
            })
        };
        first || (invalid && quoted())
    });
    !names_it && (!invalid || only_the_message(messages, message))
}
