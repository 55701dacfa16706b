//! JSON:API 1.1 error objects: `{"errors":[{"id","status","code","title","detail","source","links","meta"}]}`.
//!
//! The first object is the error itself (its `id` is the request id); each
//! field violation follows as an object with a `source.pointer`.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer as _};

use super::{Context, DocUrl, Renderer, Ser, SerResult, Str, message, read_details};
use crate::decode::{Decoded, Obj, Raw};
use crate::{ApiError, Dialect, Violation, field_to_pointer, pointer_to_field, retry_after_secs};

pub(super) const RESERVED: &[&str] = &["retry_after"];

pub(super) fn encode(
    r: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(Some(1))?;
    map.serialize_entry("errors", &Errors { r, err, ctx })?;
    SerializeMap::end(map)
}

struct Errors<'a> {
    r: &'a Renderer<'a>,
    err: &'a ApiError,
    ctx: &'a Context<'a>,
}

#[derive(Serialize)]
struct Links<'a, 'e> {
    about: DocUrl<'a, 'e>,
}

impl Serialize for Errors<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let err = self.err;
        let status = Str(err.status());
        let mut seq = s.serialize_seq(Some(1 + err.violations().len()))?;
        seq.serialize_element(&Main {
            errors: self,
            status: &status,
        })?;
        for v in err.violations() {
            seq.serialize_element(&Field {
                v,
                status: &status,
                title: err.def().title(),
            })?;
        }
        seq.end()
    }
}

struct Main<'a> {
    errors: &'a Errors<'a>,
    status: &'a Str<u16>,
}

impl Serialize for Main<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Errors { r, err, ctx } = *self.errors;
        let mut map = s.serialize_map(None)?;
        if let Some(id) = ctx.request_id {
            map.serialize_entry("id", id)?;
        }
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("code", &*err.def().wire_code(Dialect::Jsonapi))?;
        map.serialize_entry("title", err.def().title())?;
        map.serialize_entry("detail", &message(err))?;
        map.serialize_entry(
            "links",
            &Links {
                about: r.doc_url(err),
            },
        )?;
        if !err.details().is_empty() || err.retry_after_delay().is_some() {
            map.serialize_entry("meta", &Meta(err))?;
        }
        map.end()
    }
}

struct Meta<'a>(&'a ApiError);

impl Serialize for Meta<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.details() {
            if !RESERVED.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        if let Some(delay) = self.0.retry_after_delay() {
            map.serialize_entry("retry_after", &retry_after_secs(delay))?;
        }
        map.end()
    }
}

struct Field<'a> {
    v: &'a Violation,
    status: &'a Str<u16>,
    title: &'a str,
}

impl Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Source {
            pointer: String,
        }
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("code", &self.v.code)?;
        map.serialize_entry("title", self.title)?;
        map.serialize_entry("detail", &self.v.message)?;
        map.serialize_entry(
            "source",
            &Source {
                pointer: field_to_pointer(&self.v.field),
            },
        )?;
        map.end()
    }
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
        if i == main {
            out.body_status = item.str("status").and_then(|s| s.parse().ok());
            out.set_code(item.str("code"));
            out.message = item.string("detail").or_else(|| item.string("title"));
            out.request_id = item.string("id");
            if let Some(meta) = item.obj("meta") {
                out.hint_retry_secs(meta.u64("retry_after"));
                read_details(&meta, |key| key == "retry_after", out);
            }
        }
        if let Some(source) = item.obj("source") {
            let field = match source.str("pointer") {
                Some(p) => pointer_to_field(&p),
                None => source.string("parameter").unwrap_or_default(),
            };
            out.violations.push(Violation {
                field,
                code: item.string("code").unwrap_or_default(),
                message: item
                    .string("detail")
                    .or_else(|| item.string("title"))
                    .unwrap_or_default(),
            });
        }
    }
}
