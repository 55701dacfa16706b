//! `{"data":null,"success":false,"message","errors":[{"<code or field>":["…"]}]}` (seed 004).

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq, Serializer as _};

use super::{Context, Renderer, Ser, SerResult, message};
use crate::decode::{Decoded, Json, Obj, Raw};
use crate::{ApiError, Dialect, Violation};

pub(super) fn encode(
    _: &Renderer<'_>,
    err: &ApiError,
    _: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(Some(4))?;
    map.serialize_entry("data", &())?;
    map.serialize_entry("success", &false)?;
    map.serialize_entry("message", &message(err))?;
    map.serialize_entry("errors", &Errors(err))?;
    SerializeMap::end(map)
}

/// One entry per field with violations, each mapping the field to its
/// messages; without violations, one entry mapping the code to the message.
struct Errors<'a>(&'a ApiError);

impl serde::Serialize for Errors<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let err = self.0;
        let mut seq = s.serialize_seq(None)?;
        let violations = err.violations();
        if violations.is_empty() {
            let code = err.def().wire_code(Dialect::Envelope);
            seq.serialize_element(&Entry {
                key: &code,
                messages: Messages::One(err),
            })?;
        }
        for (i, v) in violations.iter().enumerate() {
            if violations[..i]
                .iter()
                .any(|earlier| earlier.field == v.field)
            {
                continue;
            }
            let messages = Messages::Field(&v.field, violations);
            seq.serialize_element(&Entry {
                key: &v.field,
                messages,
            })?;
        }
        seq.end()
    }
}

struct Entry<'a> {
    key: &'a str,
    messages: Messages<'a>,
}

enum Messages<'a> {
    One(&'a ApiError),
    Field(&'a str, &'a [Violation]),
}

impl serde::Serialize for Entry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.key, &self.messages)?;
        map.end()
    }
}

impl serde::Serialize for Messages<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        match self {
            Messages::One(err) => seq.serialize_element(&message(err))?,
            Messages::Field(field, all) => {
                for v in all.iter().filter(|v| v.field == *field) {
                    seq.serialize_element(&v.message)?;
                }
            }
        }
        seq.end()
    }
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
