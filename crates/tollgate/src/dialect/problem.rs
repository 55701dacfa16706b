//! RFC 9457 problem details: `application/problem+json`.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::json::Out;
use super::{
    Context, Renderer, read_field_messages, write_detail_members, write_message, write_pointer,
    write_wire_code,
};
use crate::decode::{Decoded, Json, Obj, Raw, repeats_status};
use crate::{ApiError, Dialect, Violation, pointer_to_field};

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
        out.str(&instance_of(instance));
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
        out.u64(crate::retry::sent_wait_secs(delay));
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
    // Its `status`, standing in for an unknown one, was read already, as
    // any body's is (`read_object`).
    out.message = obj.string("detail").or_else(|| obj.string("title"));
    // A string, or an integer that is not merely the status again; a blank
    // one gives way to the `type`'s fragment.
    let code = obj
        .raw("code")
        .and_then(Raw::id)
        .filter(|code| !repeats_status(code, out.status));
    let code = code.or_else(|| {
        obj.str("type")
            .and_then(|ty| fragment_code(&ty).map(|code| code.to_owned().into()))
    });
    if code.is_none() {
        // Then the `type` URI is what names the problem (RFC 9457), and the
        // `title` its summary beside the `detail` read as the message: kept,
        // as the `instance` naming this occurrence is.
        let named = obj.str("type").is_some_and(|ty| ty != "about:blank");
        let summary = obj.has("detail");
        for (key, kept) in [("type", named), ("title", summary), ("instance", true)] {
            if let Some(raw) = obj.raw(key).filter(|_| kept) {
                out.add_detail(key, raw);
            }
        }
    }
    out.set_code(code);
    out.hint_retry(obj.seconds("retry_after"));
    let errors = obj.raw("errors");
    match errors.and_then(Raw::json_type) {
        Some(Json::Array | Json::Null) | None => {}
        // ASP.NET Core's `{"errors":{"Name":["The Name field is required."]}}`.
        Some(Json::Object) => {
            for (field, messages) in errors.and_then(Raw::entries).into_iter().flatten() {
                read_field_messages(&field, messages, out);
            }
        }
        Some(_) => {
            if let Some(errors) = errors {
                out.add_detail("errors", errors);
            }
        }
    }
    for item in errors
        .and_then(Raw::items)
        .into_iter()
        .flatten()
        .take(out.violation_room())
    {
        let Some(item) = item.obj() else {
            // A message alone is about the whole input.
            if let Some(message) = item.string() {
                out.violations.push(Violation {
                    field: String::new(),
                    code: String::new(),
                    message: message.into_owned(),
                });
            }
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
    // RFC 7807's own example of an extension, which many APIs copied:
    // `"invalid-params":[{"name":"age","reason":"must be a positive integer"}]`.
    if out.violations.is_empty() {
        for item in obj.items("invalid-params").take(out.violation_room()) {
            if let Some(item) = item.obj() {
                out.violations.push(Violation {
                    field: item.string("name").unwrap_or_default(),
                    code: String::new(),
                    message: item.string("reason").unwrap_or_default(),
                });
            }
        }
    }
    for (key, raw) in obj.members() {
        if !RESERVED.contains(&key) {
            out.add_detail(key, raw);
        }
    }
}

/// The code a problem `type` names in its fragment (`…/errors#not_found`),
/// when the fragment looks like one: a letter, then letters, digits, `_`,
/// `-` and `.`, with no `-` or `.` before a digit. A section of a document
/// (`rfc9110#section-15.5.1`, ASP.NET Core's default) is no code.
fn fragment_code(ty: &str) -> Option<&str> {
    let (_, fragment) = ty.split_once('#')?;
    let bytes = fragment.as_bytes();
    let starts_with_letter = bytes.first().is_some_and(u8::is_ascii_alphabetic);
    let numbered = bytes
        .windows(2)
        .any(|w| matches!(w[0], b'-' | b'.') && w[1].is_ascii_digit());
    (starts_with_letter && crate::decode::looks_like_code(fragment) && !numbered)
        .then_some(fragment)
}

/// The `instance` of a request's path, a URI reference as RFC 9457 asks:
/// the bytes a path may not hold there as they came (`{`, `|`, `\`, a `%`
/// that starts no escape, UTF-8 that hyper let through) percent-encoded.
/// One that starts with `//` (`GET //evil.example/x`) would read as another
/// host's address to a client that resolves it against the API's: it
/// starts with `/.` then, as the URL Standard writes such a path, the same
/// path once resolved (`/\`, which that standard reads as `//`, is `/%5C`).
fn instance_of(path: &str) -> Cow<'_, str> {
    // By hand: whether a `%` is kept depends on the two bytes after it,
    // which percent-encoding's sets cannot say.
    let bytes = path.as_bytes();
    let escape_at = |at: usize| {
        bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    };
    let fits = |at: usize, b: u8| {
        b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/".contains(&b)
            || (b == b'%' && escape_at(at))
    };
    let path: Cow<'_, str> = if bytes.iter().enumerate().all(|(at, &b)| fits(at, b)) {
        Cow::Borrowed(path)
    } else {
        let mut encoded = String::with_capacity(path.len() + 16);
        for (at, &b) in bytes.iter().enumerate() {
            if fits(at, b) {
                encoded.push(char::from(b));
            } else {
                let _ = write!(encoded, "%{b:02X}");
            }
        }
        Cow::Owned(encoded)
    };
    if path.starts_with("//") {
        Cow::Owned(format!("/.{path}"))
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::{fragment_code, instance_of};

    #[test]
    fn a_path_that_reads_as_a_host_is_no_other_hosts_address() {
        assert_eq!(instance_of("/v1/scans"), "/v1/scans");
        assert_eq!(instance_of("//evil.example/x"), "/.//evil.example/x");
        assert_eq!(instance_of("/\\evil.example/x"), "/%5Cevil.example/x");
        assert_eq!(instance_of("/"), "/");
    }

    /// What a URI reference may not hold is percent-encoded; escapes and
    /// the characters it may hold are kept.
    #[test]
    fn a_path_is_an_instance_a_uri_reference_holds() {
        for (path, instance) in [
            ("/v1/scans/{x}", "/v1/scans/%7Bx%7D"),
            ("/v1/scans/a|b\"^c", "/v1/scans/a%7Cb%22%5Ec"),
            ("/v1/scans/%ZZ%4", "/v1/scans/%25ZZ%254"),
            ("/v1/scans/a%20b", "/v1/scans/a%20b"),
            ("/v1/scans/ü", "/v1/scans/%C3%BC"),
            ("/v1/a:b@c;d=e,f!$&'()*+~", "/v1/a:b@c;d=e,f!$&'()*+~"),
            ("//a b", "/.//a%20b"),
        ] {
            assert_eq!(instance_of(path), instance, "{path}");
        }
    }

    #[test]
    fn only_fragments_that_look_like_codes_are_codes() {
        for (ty, code) in [
            (
                "https://docs.example.com/errors#not_found",
                Some("not_found"),
            ),
            (
                "https://docs.example.com/errors#RATE_LIMIT_ERROR",
                Some("RATE_LIMIT_ERROR"),
            ),
            ("https://docs.example.com/errors#HTTP_413", Some("HTTP_413")),
            (
                "https://docs.example.com/errors#out-of-credit",
                Some("out-of-credit"),
            ),
            (
                "https://docs.example.com/errors#value_error.missing",
                Some("value_error.missing"),
            ),
            ("https://tools.ietf.org/html/rfc9110#section-15.5.1", None),
            ("https://tools.ietf.org/html/rfc7231#section-6.5.1", None),
            ("https://example.com/doc#appendix-B.2", None),
            ("https://example.com/doc#1-intro", None),
            ("https://example.com/doc#a b", None),
            ("https://example.com/doc#", None),
            ("https://example.com/probs/out-of-credit", None),
            ("about:blank", None),
        ] {
            assert_eq!(fragment_code(ty), code, "{ty}");
        }
        let long = format!("https://example.com/errors#{}", "a".repeat(65));
        assert_eq!(fragment_code(&long), None);
    }
}
