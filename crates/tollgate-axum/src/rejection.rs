//! Reading axum's rejections (typed, or as the plain-text responses they
//! become) and serde's errors as catalog errors.

use std::borrow::Cow;

use tollgate::{ApiError, Catalog, Violation};

/// axum's default request body limit, used when the layer sets none.
pub(crate) const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// An occurrence of a built-in code.
pub(crate) fn builtin(code: &str) -> ApiError {
    let catalog = Catalog::builtin_ref();
    match catalog.error(code) {
        Ok(err) => err,
        // Every code this crate names is in the built-in catalog (checked by
        // `tests::every_code_is_builtin`); fall back to the generic 500.
        Err(unknown) => match catalog.error("internal_error") {
            Ok(err) => err.with_source(unknown),
            Err(_) => unreachable!("the built-in catalog has internal_error"),
        },
    }
}

/// The content codings a request's `Content-Encoding` lines name, as sent
/// (`identity` left out, `?` for a value that is not text), joined by `, `;
/// `None` when it names none.
pub(crate) fn sent_codings(headers: &http::HeaderMap) -> Option<String> {
    let codings = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
        .collect::<Vec<_>>();
    (!codings.is_empty()).then(|| codings.join(", "))
}

/// `unsupported_media_type` for a body in a content coding the server does
/// not decode: `sent` the codings the request names ([`sent_codings`]),
/// when known; `decoded` the codings a decompression layer decodes (which
/// it lists in `Accept-Encoding`), `None` when nothing decodes bodies (or
/// its list is empty or cannot be read: uncompressed is still taken).
pub(crate) fn unsupported_encoding(sent: Option<&str>, decoded: Option<&str>) -> ApiError {
    let message = match (sent, decoded) {
        (Some(sent), None) => format!(
            "The request body's Content-Encoding ({}) is not supported: send it uncompressed.",
            clip(sent)
        ),
        (Some(sent), Some(decoded)) => format!(
            "The request body's Content-Encoding ({}) is not supported: send it uncompressed, or in just one of {decoded}.",
            clip(sent)
        ),
        (None, Some(decoded)) => format!(
            "The request body's Content-Encoding is not supported: send it uncompressed, or in just one of {}.",
            clip(decoded)
        ),
        (None, None) => {
            "The request body's Content-Encoding is not supported: send it uncompressed.".to_owned()
        }
    };
    builtin("unsupported_media_type").with_message(message)
}

/// `unsupported_media_type` for a body of a type the extractor does not
/// read: `sent` the request's `Content-Type` (`None` when it has none),
/// `expected` the type to send instead.
pub(crate) fn unsupported_type(sent: Option<&http::HeaderValue>, expected: &str) -> ApiError {
    let sent = sent.map(|value| String::from_utf8_lossy(value.as_bytes()));
    let message = match sent.as_deref().map(str::trim) {
        Some(sent) if !sent.is_empty() => format!(
            "The request's Content-Type ({}) is not supported: send {expected}.",
            clip(sent)
        ),
        _ => format!("The request has no Content-Type: send the body as {expected}."),
    };
    builtin("unsupported_media_type").with_message(message)
}

/// The media type axum's own 415 asks for (`` Expected request with
/// `Content-Type: application/json` ``): a type and subtype of token
/// characters, as no other text of that shape would be.
fn asked_media_type(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("`Content-Type: ")?;
    let (media, _) = rest.split_once('`')?;
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let (kind, subtype) = media.split_once('/')?;
    (token(kind) && token(subtype) && media.len() <= 127).then_some(media)
}

/// `malformed_request` for a body under a transfer coding the HTTP server
/// did not decode (anything but one `chunked`).
pub(crate) fn undecoded_transfer_coding() -> ApiError {
    builtin("malformed_request")
        .with("reason", "its Transfer-Encoding names a coding other than chunked, or chunked twice")
        .with_message(
            "The request's Transfer-Encoding names a coding other than chunked, or chunked twice: send the body chunked once, or with a Content-Length.",
        )
}

/// `malformed_request` for a request with several `Host` lines, which the
/// HTTP server let through.
pub(crate) fn several_hosts() -> ApiError {
    builtin("malformed_request")
        .with("reason", "it has more than one Host header")
        .with_message("The request has more than one Host header: send one, naming the server.")
}

/// `malformed_request` for a request with several `Content-Type` lines: an
/// extractor reads the first, another layer may read the last.
pub(crate) fn several_content_types() -> ApiError {
    builtin("malformed_request")
        .with("reason", "it has more than one Content-Type header")
        .with_message(
            "The request has more than one Content-Type header: send one, naming the body's type.",
        )
}

/// `payload_too_large`, naming the limit when known here (the layer names
/// its own otherwise).
pub(crate) fn payload_too_large(limit: Option<usize>) -> ApiError {
    let err = builtin("payload_too_large");
    match limit {
        Some(limit) => err.with("limit", limit),
        None => err,
    }
}

/// Names the body limit in a `payload_too_large` that does not yet.
pub(crate) fn name_limit(err: ApiError, limit: Option<usize>) -> ApiError {
    if err.code() == "payload_too_large" && !err.details().contains_key("limit") {
        err.with("limit", limit.unwrap_or(AXUM_DEFAULT_BODY_LIMIT))
    } else {
        err
    }
}

/// Drops serde_json's ` at line 1 column 30` suffix.
fn strip_position(msg: &str) -> &str {
    if let Some(at) = msg.rfind(" at line ") {
        let rest = &msg[at + " at line ".len()..];
        let looks_like_position = rest.split_once(" column ").is_some_and(|(l, c)| {
            l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit())
        });
        if looks_like_position {
            return &msg[..at];
        }
    }
    msg
}

/// serde's messages speak of its data model and the server's Rust types
/// (`invalid type: map, expected struct ScanJson with 1 element`,
/// `expected u32`); callers see JSON's words (`invalid type: object,
/// expected an object`) and a number type's range (`expected a whole
/// number from 0 to 4294967295`).
fn without_type_names(msg: &str) -> std::borrow::Cow<'_, str> {
    const FOUND: [(&str, &str); 2] = [
        ("invalid type: sequence,", "invalid type: array,"),
        ("invalid type: map,", "invalid type: object,"),
    ];
    for (serde, json) in FOUND {
        if let Some(rest) = msg.strip_prefix(serde) {
            return format!("{json}{}", expected_in_json(rest)).into();
        }
    }
    expected_in_json(msg)
}

/// [`without_type_names`] for what a message says was expected.
fn expected_in_json(msg: &str) -> std::borrow::Cow<'_, str> {
    const SHAPES: [(&str, &str); 4] = [
        ("expected struct variant ", "expected an object"),
        ("expected tuple struct ", "expected an array"),
        ("expected struct ", "expected an object"),
        ("expected enum ", "expected one of the allowed values"),
    ];
    for (phrase, shape) in SHAPES {
        if let Some(at) = msg.find(phrase) {
            let rest = &msg[at + phrase.len()..];
            let name_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let mut rest = &rest[name_end..];
            if let Some(count) = rest.strip_prefix(" with ") {
                let digits = count.bytes().take_while(u8::is_ascii_digit).count();
                let unit = &count[digits..];
                if digits > 0 {
                    rest = unit
                        .strip_prefix(" elements")
                        .or_else(|| unit.strip_prefix(" element"))
                        .unwrap_or(rest);
                }
            }
            return format!("{}{shape}{rest}", &msg[..at]).into();
        }
    }
    // A number type's own expectation, or a collection's, ends the message
    // (`expected u32`, `expected a sequence` for a `Vec`).
    if let Some((before, expected)) = msg.rsplit_once("expected ") {
        let json = match expected {
            "a sequence" => Some("an array".to_owned()),
            "a map" => Some("an object".to_owned()),
            // `NonZeroU32` and its kind.
            _ if expected.starts_with("a nonzero ") => {
                let numbers = numbers_of(&expected["a nonzero ".len()..]);
                numbers.map(|n| match n.strip_prefix("a whole number from 0 to ") {
                    Some(max) => format!("a whole number from 1 to {max}"),
                    None => format!("{n}, not 0"),
                })
            }
            rust => numbers_of(rust),
        };
        if let Some(json) = json {
            return format!("{before}expected {json}").into();
        }
    }
    msg.into()
}

/// A path parameter's `value` that axum could not parse as `ty`, one of
/// Rust's primitive types (the only ones axum parses itself), told by the
/// values the type takes, in the caller's terms.
pub(crate) fn cannot_parse(value: &str, ty: &str) -> String {
    match (numbers_of(ty), ty) {
        (Some(numbers), _) => format!("cannot parse `{value}` as {numbers}"),
        (None, "bool") => format!("cannot parse `{value}` as true or false"),
        (None, "char") => format!("cannot parse `{value}` as a single character"),
        (None, _) => format!("cannot parse `{value}` as `{ty}`"),
    }
}

/// What is wrong with a path parameter's `value` that axum could not parse
/// as `ty`, and its violation code: a whole number out of the type's range
/// is `invalid_value`, told as a query's is (`the number is too large:
/// expected …`); anything else `invalid_type` ([`cannot_parse`]).
pub(crate) fn unparsed_path_value(value: &str, ty: &str) -> (&'static str, String) {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let is_whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    match numbers_of(ty) {
        Some(numbers) if is_whole && numbers.starts_with("a whole number") => {
            let side = if value.starts_with('-') {
                "small"
            } else {
                "large"
            };
            let message = format!("the number is too {side}: expected {numbers}");
            ("invalid_value", message)
        }
        _ => ("invalid_type", cannot_parse(value, ty)),
    }
}

/// The numbers a Rust number type holds, as a caller who has never seen
/// the type reads them (`u8` → `a whole number from 0 to 255`); `None`
/// for any other type.
pub(crate) fn numbers_of(rust: &str) -> Option<String> {
    let whole = |min: i128, max: u128| format!("a whole number from {min} to {max}");
    Some(match rust {
        "f32" | "f64" => "a number".to_owned(),
        "u8" => whole(0, u8::MAX.into()),
        "u16" => whole(0, u16::MAX.into()),
        "u32" => whole(0, u32::MAX.into()),
        "u64" => whole(0, u64::MAX.into()),
        "usize" => whole(0, usize::MAX as u128),
        "u128" => whole(0, u128::MAX),
        "i8" => whole(i8::MIN.into(), i8::MAX as u128),
        "i16" => whole(i16::MIN.into(), i16::MAX as u128),
        "i32" => whole(i32::MIN.into(), i32::MAX as u128),
        "i64" => whole(i64::MIN.into(), i64::MAX as u128),
        "isize" => whole(isize::MIN as i128, isize::MAX as u128),
        "i128" => whole(i128::MIN, i128::MAX as u128),
        _ => return None,
    })
}

/// Joins a parent path and a field name as callers write them.
fn join(parent: &str, name: &str) -> String {
    match parent {
        "" | "." => clip(name).into_owned(),
        parent => format!("{}.{name}", clip(parent)),
    }
}

/// The most of the client's own text (in bytes) an error repeats. serde's
/// messages quote the value that was wrong and paths name the map keys on
/// the way, and either can be most of a body: repeated whole, a megabyte
/// string became a response (and a stored idempotent replay) several times
/// its size.
const QUOTED_MAX: usize = 256;

/// `text` whole when short enough, else its start and its end around `…`,
/// so that the end of a message, which names what was expected, survives.
fn clip(text: &str) -> Cow<'_, str> {
    if text.len() <= QUOTED_MAX {
        return Cow::Borrowed(text);
    }
    let half = QUOTED_MAX / 2;
    let head = (0..=half).rev().find(|&i| text.is_char_boundary(i));
    let tail = (text.len() - half..text.len()).find(|&i| text.is_char_boundary(i));
    let (head, tail) = (head.unwrap_or(0), tail.unwrap_or(text.len()));
    Cow::Owned(format!("{}…{}", &text[..head], &text[tail..]))
}

/// A serde data error at `path` (`items[2].name`, `.` or empty for the root):
/// a missing field becomes `missing_field` naming it, anything else
/// `validation_error` with one violation, at the field a duplicate names
/// (serde raises it at the object holding the field twice).
pub(crate) fn from_data_error(path: &str, message: &str) -> ApiError {
    let message = strip_position(message.trim());
    let message = in_callers_terms(message).unwrap_or(message);
    let past_64_bits = integer_past_64_bits(message);
    let message = past_64_bits.as_deref().unwrap_or(message);
    // A misspelled field or variant is told the one likely meant.
    let suggested = tollgate::suggest::suggested(message);
    let message = suggested.as_ref();
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(name) = rest.strip_suffix('`') {
            return builtin("missing_field").with("field", join(path, name));
        }
    }
    if let Some(name) = backticked(message, "duplicate field `") {
        return invalid_field(&join(path, name), "invalid_value", message);
    }
    let code = if message.starts_with("invalid type") {
        "invalid_type"
    } else if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("invalid length") {
        "invalid_length"
    } else {
        "invalid_value"
    };
    let field = if path == "." { "" } else { path };
    invalid_field(field, code, &without_type_names(message))
}

/// serde_json reads an integer past 64 bits as a float
/// (`18446744073709551616` is ``floating point `1.8446744073709552e19` ``):
/// for an integer field it is told by its size, not as a float the client
/// never wrote.
fn integer_past_64_bits(message: &str) -> Option<String> {
    let rest = message.strip_prefix("invalid type: floating point `")?;
    let (number, expected) = rest.split_once('`')?;
    let rust = expected.strip_prefix(", expected ")?;
    let rust = rust.strip_prefix("a nonzero ").unwrap_or(rust);
    let integer = numbers_of(rust).is_some_and(|n| n.starts_with("a whole number"));
    let x: f64 = number.parse().ok()?;
    let size = if x >= 18_446_744_073_709_551_616.0 {
        "too large"
    } else if x <= -9_223_372_036_854_775_808.0 {
        // `<=`: an integer just past i64's least rounds to -2^63 itself, and
        // i64's least as written is read as an integer, not as this float.
        "too small"
    } else {
        return None;
    };
    (integer && x.fract() == 0.0).then(|| format!("invalid value: the number is {size}{expected}"))
}

/// `validation_error` with one violation; the message names the field too,
/// for dialects that carry no violations (`flat`), unless the layer's
/// catalog sets its own message for the code (seed 002's "Invalid request
/// parameters"), which then stands
/// ([`ApiError::with_default_message`]); the violation keeps its message.
///
/// Both are the client's text in part, and are cut to a few hundred bytes.
pub(crate) fn invalid_field(field: &str, code: &str, message: &str) -> ApiError {
    let violation = Violation::new(clip(field), code, clip(message));
    let told = violation.told();
    builtin("validation_error")
        .violation(violation)
        .with_default_message(told)
}

/// How serde_json starts the syntax error it raises for a number no number
/// type holds (`1e400`).
const OUT_OF_RANGE: &str = "number out of range";

/// A serde_path_to_error failure of serde_json: syntax errors are
/// `malformed_request`, data errors are field errors. A number too large
/// for any number type is valid JSON (RFC 8259 sets numbers no range):
/// serde_json calls it a syntax error, but the field's value is what is
/// wrong.
pub(crate) fn from_json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let message = err.inner().to_string();
    match err.inner().classify() {
        Category::Data => from_data_error(&err.path().to_string(), &message),
        Category::Syntax if message.starts_with(OUT_OF_RANGE) => {
            from_data_error(&err.path().to_string(), &message)
        }
        Category::Syntax | Category::Eof | Category::Io => malformed_json(&message),
    }
}

/// `malformed_request` for a body that is not JSON, serde_json's `message`
/// told in the caller's terms.
pub(crate) fn malformed_json(message: &str) -> ApiError {
    builtin("malformed_request").with("reason", syntax_in_callers_terms(message))
}

/// serde_json's syntax errors speak of its parser (`EOF while parsing an
/// object`, `expected ident`, `recursion limit exceeded`): the same said in
/// a caller's terms, the position (` at line 1 column 30`) kept. A path
/// before the message (`frames[0]: `, as axum's texts give it) is kept too.
fn syntax_in_callers_terms(reason: &str) -> Cow<'_, str> {
    let (path, rest) = split_path(reason);
    let message = strip_position(rest);
    let position = &rest[message.len()..];
    let told = match message {
        "EOF while parsing a value" if position == " at line 1 column 0" => {
            return Cow::Borrowed("the body is empty, where JSON was expected");
        }
        "EOF while parsing a value" => "the body ends where a value was expected",
        "EOF while parsing a list" => "the body ends inside an array",
        "EOF while parsing an object" => "the body ends inside an object",
        "EOF while parsing a string" => "the body ends inside a string",
        "expected ident" => "expected true, false or null",
        "expected value" => "expected a JSON value",
        "key must be a string" => "expected an object's key, a string in quotes",
        "trailing characters" => "more follows the JSON value",
        "trailing comma" => "a comma before a closing bracket (JSON allows none)",
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "a control character (U+0000 to U+001F) in a string, where JSON needs it escaped"
        }
        "lone leading surrogate in hex escape" | "unexpected end of hex escape" => {
            "a \\u escape of half a UTF-16 surrogate pair, without its other half"
        }
        // serde_json's limit.
        "recursion limit exceeded" => "arrays and objects nested too deep (127 at most)",
        _ => return Cow::Borrowed(reason),
    };
    match path {
        "" => Cow::Owned(format!("{told}{position}")),
        path => Cow::Owned(format!("{path}: {told}{position}")),
    }
}

/// A serde_path_to_error failure of serde_urlencoded (query strings, forms)
/// at `path`; `integer` is the Rust integer type the field is read as, when
/// [`is_integer_error`] and the type are known, so that the number refused
/// is told with the numbers the field takes.
pub(crate) fn from_urlencoded_error(path: &str, message: &str, integer: Option<&str>) -> ApiError {
    let ranged = INTEGER_ERRORS.iter().find(|(rust, ..)| *rust == message);
    match (ranged, integer.and_then(numbers_of)) {
        (Some((_, _, told)), Some(numbers)) => {
            let told = told.replace("{numbers}", &numbers);
            invalid_field(path, "invalid_value", &told)
        }
        _ => from_data_error(path, message),
    }
}

/// Whether `message` is one of Rust's integer parsing errors, as
/// serde_urlencoded passes them on.
pub(crate) fn is_integer_error(message: &str) -> bool {
    INTEGER_ERRORS.iter().any(|(rust, ..)| *rust == message)
}

/// Rust's integer parsing errors, as serde_urlencoded (query strings, forms,
/// and axum's own `Query` and `Form`) passes them on, each in a caller's
/// terms: without the range, which the error does not give, and with it
/// when the field's type is known.
const INTEGER_ERRORS: [(&str, &str, &str); 4] = [
    (
        "invalid digit found in string",
        "expected a whole number (digits only)",
        "expected {numbers}",
    ),
    (
        "cannot parse integer from empty string",
        "expected a whole number, got nothing",
        "nothing given: expected {numbers}",
    ),
    (
        "number too large to fit in target type",
        "the number is too large",
        "the number is too large: expected {numbers}",
    ),
    (
        "number too small to fit in target type",
        "the number is too small",
        "the number is too small: expected {numbers}",
    ),
];

/// serde_urlencoded parses a value with Rust's own parsers, whose errors
/// speak of Rust (`number too large to fit in target type`): the same said
/// in a caller's terms. The type is not in them, so the range is not said.
fn in_callers_terms(message: &str) -> Option<&'static str> {
    if let Some((_, plain, _)) = INTEGER_ERRORS.iter().find(|(rust, ..)| *rust == message) {
        return Some(plain);
    }
    Some(match message {
        "invalid float literal" => "expected a number",
        "provided string was not `true` or `false`" => "expected true or false",
        _ => return None,
    })
}

/// Splits `items[2].name: invalid type: …` into path and message; a message
/// with no path (`missing field `x``) has an empty path.
fn split_path(text: &str) -> (&str, &str) {
    let serde_starts = [
        "missing field",
        "invalid ",
        "unknown ",
        "duplicate field",
        "expected ",
    ];
    if serde_starts.iter().any(|s| text.starts_with(s)) {
        return ("", text);
    }
    match text.split_once(": ") {
        Some((path, msg)) if !path.is_empty() && !path.contains(' ') => (path, msg),
        _ => ("", text),
    }
}

/// Text between the first pair of backticks after `prefix`.
fn backticked<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// Whether a request's `Content-Type` is `multipart/form-data`, whatever
/// its parameters (a `boundary`, or none).
pub(crate) fn is_multipart_form(value: &http::HeaderValue) -> bool {
    let media = value.as_bytes().split(|&b| b == b';').next();
    media.is_some_and(|media| {
        media
            .trim_ascii()
            .eq_ignore_ascii_case(b"multipart/form-data")
    })
}

/// Reads a response that carries no `ApiError` (an axum rejection, an empty
/// 404/405, a handler's own plain-text error) as the catalog error it means.
///
/// `text` is the body when it was plain text and short; `limit` the body
/// limit in force; `multipart_form` whether the request's `Content-Type`
/// is `multipart/form-data` ([`is_multipart_form`]): axum refuses one with
/// no valid `boundary` in the words it refuses another type with, and that
/// one is malformed (`malformed_request`), not of an unsupported type.
/// `None` for statuses with no catalog meaning, which pass through
/// untouched.
pub(crate) fn recognise(
    status: u16,
    text: &str,
    limit: Option<usize>,
    multipart_form: bool,
) -> Option<ApiError> {
    let text = text.trim();
    let err = match status {
        413 => payload_too_large(limit),
        415 => match asked_media_type(text) {
            Some(media) => builtin("unsupported_media_type").with_message(format!(
                "The request's Content-Type is not supported: send {media}."
            )),
            None => builtin("unsupported_media_type"),
        },
        400 | 422 => recognise_bad_request(status, text, multipart_form),
        401 => builtin("invalid_key"),
        403 => builtin("insufficient_scope"),
        404 => builtin("not_found"),
        405 => builtin("method_not_allowed"),
        408 | 504 => builtin("timeout"),
        409 => builtin("conflict"),
        429 => builtin("rate_limit_exceeded"),
        500 => builtin("internal_error"),
        502 => builtin("upstream_unavailable"),
        503 => builtin("service_unavailable"),
        _ => return None,
    };
    // A server error's text is for the log only; a client error's text, when
    // it was not read into something more precise, is what the handler said.
    let err = if status >= 500 && !text.is_empty() {
        err.with_source(text.to_owned())
    } else if text_is_message(status) && !text.is_empty() && text.len() <= 512 {
        err.with_message(text)
    } else {
        err
    };
    Some(err)
}

/// Whether the text of a plain response with `status` changes the error
/// [`recognise`] makes of it: read into a field's violation (400, 422) or
/// kept as the message.
pub(crate) fn reads_text(status: u16) -> bool {
    matches!(status, 400 | 422) || text_is_message(status)
}

/// Whether a plain response's text with `status` is the handler's message.
fn text_is_message(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 409 | 429)
}

/// An error read from a status alone lacks the details its message names (a
/// bare 429 has no limit or window, a bare 403 no scope): it says its title
/// instead of showing `{limit}` to the client.
pub(crate) fn with_message_filled(err: ApiError) -> ApiError {
    let unfilled = err.message_override().is_none()
        && err
            .def()
            .message()
            .placeholders()
            .any(|name| !err.details().contains_key(name));
    if unfilled {
        let title = err.def().title().to_owned();
        err.with_message(title)
    } else {
        err
    }
}

fn recognise_bad_request(status: u16, text: &str, multipart_form: bool) -> ApiError {
    const DATA_PREFIXES: [&str; 4] = [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to deserialize query string: ",
        "Failed to deserialize form body: ",
        "Failed to deserialize form: ",
    ];
    // axum's texts name the path to where parsing stopped, map keys and
    // all: the client's text, cut like the rest.
    if let Some(reason) = text.strip_prefix("Failed to parse the request body as JSON: ") {
        let (path, msg) = split_path(reason);
        if msg.starts_with(OUT_OF_RANGE) {
            return from_data_error(path, msg);
        }
        let reason = syntax_in_callers_terms(reason);
        return builtin("malformed_request").with("reason", clip(&reason));
    }
    for prefix in DATA_PREFIXES {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (path, msg) = split_path(rest);
            return from_data_error(path, msg);
        }
    }
    if let Some(rest) = text.strip_prefix("Invalid URL: ") {
        // `Cannot parse `id` with value `abc` to a `u32``: told as the
        // gate's own `Path` tells it.
        let parsed = rest
            .strip_prefix("Cannot parse `")
            .and_then(|rest| rest.split_once("` with value `"))
            .and_then(|(field, rest)| {
                let (value, ty) = rest.rsplit_once("` to a `")?;
                Some((field, value, ty.strip_suffix('`')?))
            });
        if let Some((field, value, ty)) = parsed {
            return invalid_field(field, "invalid_type", &cannot_parse(value, ty));
        }
        let field = backticked(rest, "Invalid UTF-8 in `").unwrap_or_default();
        return invalid_field(field, "invalid_value", rest);
    }
    if let Some(name) =
        backticked(text, "Header of type `").filter(|_| text.ends_with("` was missing"))
    {
        return builtin("missing_field").with("field", name);
    }
    if let Some(rest) = text.strip_prefix("invalid HTTP header (") {
        let name = rest.trim_end_matches(')');
        return invalid_field(name, "invalid_value", "invalid HTTP header");
    }
    if text.starts_with("Invalid `boundary` for `multipart/form-data` request") {
        return if multipart_form {
            let reason = "the multipart/form-data Content-Type has no valid boundary";
            builtin("malformed_request").with("reason", reason)
        } else {
            builtin("unsupported_media_type")
        };
    }
    // A body layer between the server and the extractor (a decoder) wraps
    // the limit's error once more than axum unwraps: axum then reports it
    // as a 400 with the limit's own text.
    if text.starts_with("Failed to buffer the request body")
        && text.ends_with("length limit exceeded")
    {
        return payload_too_large(None);
    }
    // Why the body could not be read, without axum's words for where (the
    // JSON was never reached, so nothing was parsed); hyper's words for a
    // connection that broke off, or broke its chunked framing, said plainly.
    if let Some(why) = text.strip_prefix("Failed to buffer the request body: ") {
        let why = match why {
            "error reading a body from connection" => {
                "the body could not be read: the connection broke off, or its chunked framing \
                 is broken"
            }
            why => why,
        };
        return builtin("malformed_request").with("reason", clip(why));
    }
    if text.starts_with("Error parsing `multipart/form-data` request")
        || text.starts_with("Failed to buffer the request body")
        || text.starts_with("Request body didn't contain valid UTF-8")
    {
        return builtin("malformed_request").with("reason", clip(text));
    }
    match (status, text.is_empty()) {
        (422, true) => builtin("validation_error"),
        (422, false) => builtin("validation_error").with_message(clip(text)),
        (_, true) => builtin("malformed_request").with("reason", "the request is malformed"),
        (_, false) => builtin("malformed_request").with("reason", clip(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An integer past 64 bits, which serde_json reads as a float, is told
    /// too large (or small) for an integer field, as the client wrote it;
    /// a float, and a number for a field of another type, as serde says.
    #[test]
    fn an_integer_past_64_bits_is_too_large_not_a_float() {
        let said = |err: serde_json::Error| {
            let err = from_data_error("n", &err.to_string());
            let v = &err.violations()[0];
            (v.code.to_string(), v.message.to_string())
        };
        let told = |code: &str, message: String| (code.to_owned(), message);
        let large = |to: &str| {
            let message = format!("invalid value: the number is too large, expected {to}");
            told("invalid_value", message)
        };
        let u32_range = "a whole number from 0 to 4294967295";
        let u32_of = |json| serde_json::from_str::<u32>(json).unwrap_err();
        assert_eq!(said(u32_of("18446744073709551616")), large(u32_range));
        assert_eq!(said(u32_of("1e300")), large(u32_range));
        let nonzero = serde_json::from_str::<std::num::NonZeroU8>("18446744073709551616");
        assert_eq!(
            said(nonzero.unwrap_err()),
            large("a whole number from 1 to 255")
        );
        let small = serde_json::from_str::<i64>("-9223372036854775809").unwrap_err();
        let i64_range = "a whole number from -9223372036854775808 to 9223372036854775807";
        let message = format!("invalid value: the number is too small, expected {i64_range}");
        assert_eq!(said(small), told("invalid_value", message));
        // A float, one an integer type holds the size of, and a number for
        // a field that is not one: as serde says.
        for err in [
            u32_of("1.5"),
            u32_of("1e19"),
            serde_json::from_str::<String>("18446744073709551616").unwrap_err(),
        ] {
            let (code, message) = said(err);
            assert_eq!(code, "invalid_type", "{message}");
            assert!(
                message.starts_with("invalid type: floating point"),
                "{message}"
            );
        }
    }

    #[test]
    fn every_code_is_builtin() {
        let codes = [
            "malformed_request",
            "validation_error",
            "missing_field",
            "invalid_key",
            "insufficient_scope",
            "not_found",
            "method_not_allowed",
            "conflict",
            "payload_too_large",
            "unsupported_media_type",
            "rate_limit_exceeded",
            "internal_error",
            "service_unavailable",
            "upstream_unavailable",
            "timeout",
        ];
        for code in codes {
            assert_eq!(builtin(code).code(), code);
        }
    }

    /// Only a media type's shape is taken from a 415's text: a handler's
    /// own words are not repeated as if they were axum's.
    #[test]
    fn a_415_asks_for_the_media_type_axum_names() {
        let asked = [
            "Expected request with `Content-Type: application/json`",
            "Form requests must have `Content-Type: application/x-www-form-urlencoded`",
        ]
        .map(asked_media_type);
        assert_eq!(
            asked,
            [
                Some("application/json"),
                Some("application/x-www-form-urlencoded")
            ]
        );
        for text in [
            "",
            "Expected request with `Content-Type: application/json",
            "send `Content-Type: <b>hi</b>`",
            "send `Content-Type: application/json; charset=utf-8`",
            "send `Content-Type: json`",
            "send `Content-Type: /json`",
        ] {
            assert_eq!(asked_media_type(text), None, "{text}");
        }
        let long = format!("`Content-Type: application/{}`", "x".repeat(200));
        assert_eq!(asked_media_type(&long), None);
        let err = recognise(
            415,
            "Expected request with `Content-Type: application/json`",
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            err.message(),
            "The request's Content-Type is not supported: send application/json."
        );
        let err = recognise(415, "nope", None, false).unwrap();
        assert_eq!(
            err.message(),
            "The request's Content-Type is not supported."
        );
    }

    #[test]
    fn a_limit_is_named_only_where_none_is() {
        let limit = |err: ApiError| err.details().get("limit").cloned();
        assert_eq!(
            limit(name_limit(payload_too_large(Some(10)), Some(64))),
            Some(10.into())
        );
        assert_eq!(
            limit(name_limit(payload_too_large(None), Some(64))),
            Some(64.into())
        );
        // axum's default, 2 MiB.
        assert_eq!(
            limit(name_limit(payload_too_large(None), None)),
            Some(2_097_152.into())
        );
        assert_eq!(limit(name_limit(builtin("not_found"), Some(64))), None);
    }

    #[test]
    fn only_a_position_suffix_is_dropped() {
        let message = |text: &str| {
            from_data_error("when", text).violations()[0]
                .message
                .clone()
        };
        assert_eq!(
            message("invalid value: string \"soon\", expected a date at line 1 column 14"),
            "invalid value: string \"soon\", expected a date"
        );
        let kept = "invalid value: string \"due at line 1 column x\", expected a date";
        assert_eq!(message(kept), kept);
    }

    #[test]
    fn a_huge_value_or_key_is_not_repeated_whole() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Frame {
            t: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            frames: Vec<Frame>,
            tags: std::collections::BTreeMap<String, u32>,
        }
        let deserialize = |json: &str| {
            let mut de = serde_json::Deserializer::from_str(json);
            serde_path_to_error::deserialize::<_, Body>(&mut de).unwrap_err()
        };
        // A DEL is one byte in the body and six (`\u{7f}`) in serde's message.
        let value = "\u{7f}".repeat(1 << 20);
        let err = from_json_error(deserialize(&format!(
            r#"{{"frames":[{{"t":"{value}"}}],"tags":{{}}}}"#
        )));
        let violation = &err.violations()[0];
        assert_eq!(violation.field, "frames[0].t");
        assert!(
            violation.message.len() <= QUOTED_MAX + 3,
            "{}",
            violation.message.len()
        );
        assert!(
            violation
                .message
                .ends_with("expected a whole number from 0 to 4294967295"),
            "{}",
            violation.message
        );
        assert!(
            err.message().len() <= 2 * QUOTED_MAX,
            "{}",
            err.message().len()
        );

        let key = "k".repeat(1 << 20);
        let err = from_json_error(deserialize(&format!(
            r#"{{"frames":[],"tags":{{"{key}":"x"}}}}"#
        )));
        let violation = &err.violations()[0];
        assert!(
            violation.field.len() <= QUOTED_MAX + 3,
            "{}",
            violation.field.len()
        );
        assert!(
            violation.field.starts_with("tags.kkk"),
            "{}",
            violation.field
        );
        assert!(
            err.message().len() <= 2 * QUOTED_MAX + 8,
            "{}",
            err.message().len()
        );
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("short"), "short");
        let text = "é".repeat(QUOTED_MAX);
        let clipped = clip(&text);
        assert!(clipped.len() <= QUOTED_MAX + "…".len());
        assert!(clipped.starts_with('é') && clipped.ends_with('é') && clipped.contains('…'));
    }

    #[test]
    fn axum_texts_are_read() {
        let cases: &[(u16, &str, &str, &str)] = &[
            (
                422,
                "Failed to deserialize the JSON body into the target type: items[2].name: invalid type: integer `5`, expected a string at line 1 column 30",
                "validation_error",
                "items[2].name",
            ),
            (
                422,
                "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2",
                "missing_field",
                "name",
            ),
            (
                422,
                "Failed to deserialize the JSON body into the target type: items[0]: missing field `name` at line 1 column 12",
                "missing_field",
                "items[0].name",
            ),
            (
                400,
                "Failed to deserialize query string: page: invalid digit found in string",
                "validation_error",
                "page",
            ),
            (
                400,
                "Failed to deserialize query string: missing field `q`",
                "missing_field",
                "q",
            ),
            (
                400,
                "Invalid URL: Cannot parse `id` with value `abc` to a `u32`",
                "validation_error",
                "id",
            ),
            (
                400,
                "Header of type `user-agent` was missing",
                "missing_field",
                "user-agent",
            ),
            (
                400,
                "invalid HTTP header (user-agent)",
                "validation_error",
                "user-agent",
            ),
            (
                400,
                "Failed to parse the request body as JSON: EOF while parsing",
                "malformed_request",
                "",
            ),
            (
                400,
                "Failed to parse the request body as JSON: frames[0].t: number out of range at line 1 column 38",
                "validation_error",
                "frames[0].t",
            ),
            (
                400,
                "Failed to parse the request body as JSON: number out of range at line 1 column 5",
                "validation_error",
                "",
            ),
            (
                415,
                "Expected request with `Content-Type: application/json`",
                "unsupported_media_type",
                "",
            ),
            (
                400,
                "Invalid `boundary` for `multipart/form-data` request",
                "unsupported_media_type",
                "",
            ),
            (
                413,
                "Failed to buffer the request body: length limit exceeded",
                "payload_too_large",
                "",
            ),
            (
                400,
                "Failed to buffer the request body: length limit exceeded",
                "payload_too_large",
                "",
            ),
        ];
        for (status, text, code, field) in cases {
            let err = recognise(*status, text, Some(10), false).unwrap();
            assert_eq!(err.code(), *code, "{text}");
            let named = err
                .violations()
                .first()
                .map(|v| v.field.clone())
                .or_else(|| {
                    err.details()
                        .get("field")
                        .and_then(|f| f.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            assert_eq!(named, *field, "{text}");
        }
    }

    /// axum's own `Path` refusing a value reads as the gate's `Path` does:
    /// the type told by the values it takes; other texts are kept.
    #[test]
    fn axums_path_refusal_tells_the_values_the_type_takes() {
        let said = |text: &str| {
            let err = recognise(400, text, None, false).unwrap();
            let v = &err.violations()[0];
            (
                v.field.to_string(),
                v.code.to_string(),
                v.message.to_string(),
            )
        };
        assert_eq!(
            said("Invalid URL: Cannot parse `id` with value `a`b` to a `u8`"),
            (
                "id".into(),
                "invalid_type".into(),
                "cannot parse `a`b` as a whole number from 0 to 255".into()
            )
        );
        assert_eq!(
            said("Invalid URL: Cannot parse `on` with value `yes` to a `bool`").2,
            "cannot parse `yes` as true or false"
        );
        assert_eq!(
            said("Invalid URL: Invalid UTF-8 in `name`"),
            (
                "name".into(),
                "invalid_value".into(),
                "Invalid UTF-8 in `name`".into()
            )
        );
        let other = "Invalid URL: Cannot parse value at index 1 with value `x` to a `u32`";
        assert_eq!(said(other).2, other.trim_start_matches("Invalid URL: "));
    }

    #[test]
    fn a_custom_message_with_a_colon_names_no_field() {
        let text = "Failed to deserialize query string: bad timestamp: expected RFC 3339";
        let err = recognise(400, text, None, false).unwrap();
        assert_eq!(err.code(), "validation_error");
        assert_eq!(err.violations()[0].field, "");
        assert_eq!(
            err.violations()[0].message,
            "bad timestamp: expected RFC 3339"
        );
        assert_eq!(err.message(), "bad timestamp: expected RFC 3339");
    }

    #[test]
    fn a_body_that_could_not_be_read_is_malformed_whatever_the_status() {
        for (text, reason) in [
            (
                "Error parsing `multipart/form-data` request",
                "Error parsing `multipart/form-data` request",
            ),
            (
                "Failed to buffer the request body: error reading a body from connection",
                "the body could not be read: the connection broke off, or its chunked framing \
                 is broken",
            ),
            (
                "Failed to buffer the request body: the body is not gzip data, as its \
                 Content-Encoding says",
                "the body is not gzip data, as its Content-Encoding says",
            ),
            (
                "Request body didn't contain valid UTF-8: invalid utf-8 sequence",
                "Request body didn't contain valid UTF-8: invalid utf-8 sequence",
            ),
        ] {
            for status in [400, 422] {
                let err = recognise(status, text, None, false).unwrap();
                assert_eq!(err.code(), "malformed_request", "{status} {text}");
                assert_eq!(err.details()["reason"], reason);
            }
        }
    }

    #[test]
    fn a_multipart_form_with_no_valid_boundary_is_malformed() {
        let text = "Invalid `boundary` for `multipart/form-data` request";
        let err = recognise(400, text, None, true).unwrap();
        assert_eq!(err.code(), "malformed_request");
        assert!(err.message().contains("boundary"), "{}", err.message());
        assert_eq!(
            recognise(400, text, None, false).unwrap().code(),
            "unsupported_media_type"
        );
        let is = |value: &'static str| is_multipart_form(&http::HeaderValue::from_static(value));
        assert!(is("multipart/form-data"));
        assert!(is(" Multipart/Form-Data ; boundary"));
        assert!(!is("multipart/mixed; boundary=X"));
        assert!(!is("text/plain"));
        assert!(!is(""));
    }

    #[test]
    fn server_error_text_is_never_the_message() {
        let err = recognise(
            500,
            "Wrong number of path arguments for `Path`. Expected 1 but got 2",
            None,
            false,
        )
        .unwrap();
        assert_eq!(err.code(), "internal_error");
        assert!(!err.message().contains("Wrong number"));
        assert!(
            err.source_error()
                .unwrap()
                .to_string()
                .contains("Wrong number")
        );
    }

    /// The texts the rewording reads are serde's own.
    #[test]
    fn serdes_expectations_are_as_read() {
        let said = |e: serde_json::Error| strip_position(&e.to_string()).to_owned();
        let nonzero = serde_json::from_str::<std::num::NonZeroU8>("0").unwrap_err();
        assert_eq!(
            said(nonzero),
            "invalid value: integer `0`, expected a nonzero u8"
        );
        let list = serde_json::from_str::<Vec<u8>>("{}").unwrap_err();
        assert_eq!(said(list), "invalid type: map, expected a sequence");
        let map = serde_json::from_str::<std::collections::HashMap<String, u8>>("[]").unwrap_err();
        assert_eq!(said(map), "invalid type: sequence, expected a map");
        let number = serde_json::from_str::<u32>("\"x\"").unwrap_err();
        assert_eq!(said(number), "invalid type: string \"x\", expected u32");
    }

    #[test]
    fn json_syntax_errors_are_told_in_the_callers_terms() {
        let reason_for = |body: &str| {
            let err = crate::Json::<serde_json::Value>::from_bytes(body.as_bytes())
                .unwrap_err()
                .into_api_error();
            assert_eq!(err.code(), "malformed_request", "{body:?}");
            err.details()["reason"].as_str().unwrap().to_owned()
        };
        let (deep, deep_enough) = ("[".repeat(128), "[".repeat(127));
        for (body, reason) in [
            ("", "the body is empty, where JSON was expected"),
            (
                "{\"a\":",
                "the body ends where a value was expected at line 1 column 5",
            ),
            ("[1,2", "the body ends inside an array at line 1 column 4"),
            (
                "{\"a\":1",
                "the body ends inside an object at line 1 column 6",
            ),
            ("\"abc", "the body ends inside a string at line 1 column 4"),
            ("trux", "expected true, false or null at line 1 column 4"),
            ("x", "expected a JSON value at line 1 column 1"),
            ("{} x", "more follows the JSON value at line 1 column 4"),
            (
                "{1:2}",
                "expected an object's key, a string in quotes at line 1 column 2",
            ),
            (
                "[1,]",
                "a comma before a closing bracket (JSON allows none) at line 1 column 4",
            ),
            (
                "\"a\u{1}\"",
                "a control character (U+0000 to U+001F) in a string, where JSON needs it \
                 escaped at line 1 column 3",
            ),
            (
                "\"\\ud800\"",
                "a \\u escape of half a UTF-16 surrogate pair, without its other half at line \
                 1 column 8",
            ),
            (
                "\"\\udc00\"",
                "a \\u escape of half a UTF-16 surrogate pair, without its other half at line \
                 1 column 7",
            ),
            (
                &deep,
                "arrays and objects nested too deep (127 at most) at line 1 column 128",
            ),
            (
                &deep_enough,
                "the body ends inside an array at line 1 column 127",
            ),
            ("\"\\x\"", "invalid escape at line 1 column 3"),
        ] {
            assert_eq!(reason_for(body), reason, "{body:?}");
        }
        // As axum's own `Json` tells them, behind a path.
        let axum = "Failed to parse the request body as JSON: frames[0]: EOF while parsing a \
                    list at line 1 column 30";
        let err = recognise_bad_request(400, axum, false);
        let reason = err.details()["reason"].as_str().unwrap();
        assert_eq!(
            reason,
            "frames[0]: the body ends inside an array at line 1 column 30"
        );
    }

    #[test]
    fn every_number_type_is_told_by_its_range() {
        for (rust, numbers) in [
            ("f32", "a number"),
            ("f64", "a number"),
            ("u16", "a whole number from 0 to 65535"),
            ("u32", "a whole number from 0 to 4294967295"),
            ("usize", &format!("a whole number from 0 to {}", usize::MAX)),
            ("u128", &format!("a whole number from 0 to {}", u128::MAX)),
            ("i8", "a whole number from -128 to 127"),
            (
                "i64",
                "a whole number from -9223372036854775808 to 9223372036854775807",
            ),
            (
                "isize",
                &format!("a whole number from {} to {}", isize::MIN, isize::MAX),
            ),
            (
                "i128",
                &format!("a whole number from {} to {}", i128::MIN, i128::MAX),
            ),
        ] {
            assert_eq!(numbers_of(rust).as_deref(), Some(numbers), "{rust}");
        }
        for other in ["bool", "String", "uuid::Uuid", "", "u"] {
            assert_eq!(numbers_of(other), None, "{other}");
        }
    }

    #[test]
    fn rust_type_names_become_json_shapes() {
        let cases = [
            (
                "invalid length 0, expected struct ScanJson with 1 element",
                "invalid length 0, expected an object",
            ),
            (
                "invalid type: sequence, expected struct Order",
                "invalid type: array, expected an object",
            ),
            (
                "invalid type: map, expected a sequence",
                "invalid type: object, expected an array",
            ),
            (
                "invalid type: sequence, expected a map",
                "invalid type: array, expected an object",
            ),
            (
                "invalid type: map, expected u8",
                "invalid type: object, expected a whole number from 0 to 255",
            ),
            (
                "invalid value: integer `0`, expected a nonzero u8",
                "invalid value: integer `0`, expected a whole number from 1 to 255",
            ),
            (
                "invalid value: integer `0`, expected a nonzero i8",
                "invalid value: integer `0`, expected a whole number from -128 to 127, not 0",
            ),
            (
                "invalid value: integer `0`, expected a nonzero thing",
                "invalid value: integer `0`, expected a nonzero thing",
            ),
            (
                "invalid length 1, expected struct v2::Scan_Json with 2 elements",
                "invalid length 1, expected an object",
            ),
            (
                "invalid type: string \"x\", expected tuple struct Point",
                "invalid type: string \"x\", expected an array",
            ),
            (
                "invalid type: integer `1`, expected enum Mode",
                "invalid type: integer `1`, expected one of the allowed values",
            ),
            (
                "invalid type: integer `5`, expected a string",
                "invalid type: integer `5`, expected a string",
            ),
            // Number types, by the numbers they hold.
            (
                "invalid type: string \"120\", expected f64",
                "invalid type: string \"120\", expected a number",
            ),
            (
                "invalid value: integer `-1`, expected u8",
                "invalid value: integer `-1`, expected a whole number from 0 to 255",
            ),
            (
                "invalid type: floating point `1.5`, expected i16",
                "invalid type: floating point `1.5`, expected a whole number from -32768 to 32767",
            ),
            (
                "invalid value: integer `99999999999`, expected i32",
                "invalid value: integer `99999999999`, expected a whole number from -2147483648 to 2147483647",
            ),
            (
                "invalid type: string \"x\", expected u64",
                "invalid type: string \"x\", expected a whole number from 0 to 18446744073709551615",
            ),
            // Only a whole type name at the end.
            (
                "invalid value: string \"x\", expected u8 or u16",
                "invalid value: string \"x\", expected u8 or u16",
            ),
            (
                "invalid value: string \"x\", expected u80",
                "invalid value: string \"x\", expected u80",
            ),
        ];
        for (serde, shown) in cases {
            assert_eq!(without_type_names(serde), shown);
            let err = from_data_error("items[0]", serde);
            assert_eq!(err.violations()[0].message, shown);
            assert!(!err.message().contains("struct"), "{}", err.message());
        }
    }

    #[test]
    fn a_bare_status_is_read_as_the_catalog_error_it_means() {
        for (status, code) in [
            (401, "invalid_key"),
            (403, "insufficient_scope"),
            (404, "not_found"),
            (405, "method_not_allowed"),
            (408, "timeout"),
            (409, "conflict"),
            (429, "rate_limit_exceeded"),
            (500, "internal_error"),
            (502, "upstream_unavailable"),
            (503, "service_unavailable"),
            (504, "timeout"),
        ] {
            let err = recognise(status, "", None, false);
            assert_eq!(err.as_ref().map(ApiError::code), Some(code), "{status}");
        }
    }

    #[test]
    fn unknown_statuses_pass_through() {
        assert!(recognise(418, "teapot", None, false).is_none());
        assert!(recognise(451, "", None, false).is_none());
    }
}
