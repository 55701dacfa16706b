//! The shapes of JSON error bodies besides Tollgate's dialects: telling
//! them apart and reading each.

use std::borrow::Cow;

use super::hints::{aws_error_type, is_one_of};
use super::{Decoded, Json, Obj, Raw};
use crate::{Catalog, Dialect, Violation};

/// Recognises the shape of a JSON object body and reads it; the Tollgate
/// dialect it is in, if any.
pub(super) fn read_object(obj: &Obj<'_>, catalog: &Catalog, out: &mut Decoded) -> Option<Dialect> {
    // Read first, so that the whole body reads as it would with it: problem
    // details' `status`, Spring's and Twilio's too, and NestJS's and
    // Fastify's `statusCode`; GitHub's (`"status":"404"`) is a string.
    out.body_status(stated_status(obj, "status").or_else(|| stated_status(obj, "statusCode")));
    let (shape, parsed) = detect(obj, out.status);
    let dialect = match shape {
        Shape::Dialect(d) => {
            d.decode(obj, parsed, catalog, out);
            out.dialect = d.name();
            Some(d)
        }
        Shape::Other(name, read) => {
            read(obj, parsed, out);
            out.dialect = name;
            None
        }
    };
    // Where most shapes keep it (their readers leave it to this), else in
    // the `error` object (`{"error":{"code","message","request_id"}}`). A
    // blank id is none, so that the next place to hold one counts.
    if out.request_id.as_deref().is_none_or(is_blank) {
        out.request_id = top_level_request_id(obj)
            .map(Cow::into_owned)
            .or_else(|| top_level_request_id(&obj.obj("error")?).map(Cow::into_owned));
    }
    // ASP.NET Core's problems: the trace id its logs are kept under, which
    // stands in for a request id only where no header names one.
    out.trace_id = obj.raw("traceId").and_then(Raw::id).map(Cow::into_owned);
    // Where most shapes keep it too (Discord's `{"message","retry_after"}`);
    // a shape that read it already gives the same hint again.
    out.hint_retry(obj.seconds("retry_after"));
    dialect
}

/// Whether `text` is only the reason phrase of `status`, as NestJS,
/// Fastify and Spring send it as `error` (`"Bad Request"` on a 400): then it
/// is no code. Several words in any case (`Not found`); one word only as the
/// phrase writes it (`Forbidden`), since written otherwise it is a code
/// (`FORBIDDEN`, `conflict`).
pub(crate) fn is_reason_phrase(text: &str, status: u16) -> bool {
    let phrase = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason());
    // Lengths first: most texts are no phrase, and the search for a space is
    // the dearest part.
    phrase.is_some_and(|phrase| {
        phrase == text
            || (phrase.len() == text.len()
                && phrase.contains(' ')
                && phrase.eq_ignore_ascii_case(text))
    })
}

/// Whether an id is empty or only spaces: no id at all.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// `request_id`, else `requestId`: the last member of either name, found in
/// one pass, when it is an id ([`Raw::id`]).
fn top_level_request_id<'t>(obj: &Obj<'t>) -> Option<Cow<'t, str>> {
    let (mut snake, mut camel) = (None, None);
    for (key, raw) in obj.members.iter().rev() {
        match key.as_ref() {
            "request_id" if snake.is_none() => snake = Some(*raw),
            "requestId" if camel.is_none() => camel = Some(*raw),
            _ => {}
        }
    }
    snake.and_then(Raw::id).or_else(|| camel.and_then(Raw::id))
}

enum Shape {
    Dialect(Dialect),
    Other(&'static str, ReadFn),
}

/// Reads a shape from the body and the members detection parsed.
type ReadFn = fn(&Obj<'_>, Parsed<'_>, &mut Decoded);

/// How many items of a body's `errors` list are read: a hostile body of
/// thousands of tiny items would otherwise cost far more memory than its
/// size, each item read into an object of its own.
pub(super) const MAX_ERROR_ITEMS: usize = 1000;

/// The status a body states in `key`: an integer, or a string of three
/// digits (`"404"`, as GitHub and JSON:API write it).
pub(crate) fn stated_status(obj: &Obj<'_>, key: &str) -> Option<u64> {
    let raw = obj.raw(key)?;
    raw.integer().or_else(|| {
        let text = raw.string()?;
        let digits = text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| text.parse().ok()).flatten()
    })
}

/// Members of a body that telling its shape took parsing: handed to the
/// reader so that it does not parse them again.
#[derive(Default)]
pub(crate) struct Parsed<'a> {
    /// `error`, when it is an object.
    pub(crate) error: Option<Obj<'a>>,
    /// The items of `errors`, when it is an array.
    pub(crate) errors: Vec<Raw<'a>>,
    /// The first of `errors`, when it is an object.
    pub(crate) first_error: Option<Obj<'a>>,
}

/// The shape of `obj`, sent with `status`, and what telling it took parsing.
fn detect<'a>(obj: &Obj<'a>, status: u16) -> (Shape, Parsed<'a>) {
    use Json::*;
    // Problem details carry their extensions at the top level, where a detail
    // named `error` or `success` would look like another shape: the full
    // signature (string `type` and `title`, numeric `status`) wins first.
    if obj.json_type("type") == Some(String)
        && obj.json_type("title") == Some(String)
        && obj.json_type("status") == Some(Number)
    {
        return (Shape::Dialect(Dialect::Problem), Parsed::default());
    }
    let mut parsed = Parsed {
        error: obj.obj("error"),
        ..Parsed::default()
    };
    let shape = match &parsed.error {
        Some(error) => detect_nested(obj, error),
        None => detect_flat(obj, status, &mut parsed),
    };
    (shape, parsed)
}

/// The shape of a body whose `error` is an object.
fn detect_nested(obj: &Obj<'_>, error: &Obj<'_>) -> Shape {
    use Json::*;
    if error.json_type("code") == Some(Number) {
        // Google's legacy `errors[]` (Calendar's, Drive's) may come without
        // `status`; seed 000's error has no `errors`.
        let google = error.json_type("status") == Some(String)
            || error.json_type("details") == Some(Array)
            || error.json_type("errors") == Some(Array);
        // Facebook's Graph API numbers its errors (`190`, no status) and
        // names them by `type`, as Stripe does; seed 000's never have one.
        let named = error.json_type("type") == Some(String);
        Shape::Dialect(if google {
            Dialect::Google
        } else if named {
            Dialect::Stripe
        } else {
            Dialect::StatusCode
        })
    } else if obj.has("meta") {
        Shape::Dialect(Dialect::Meta)
    } else if error.json_type("type") == Some(String) {
        Shape::Dialect(Dialect::Stripe)
    } else if error.has("target")
        || inner_error(error).is_some()
        || error.json_type("details") == Some(Array)
    {
        Shape::Other("azure", read_azure)
    } else {
        Shape::Dialect(Dialect::Coded)
    }
}

/// The shape of a body without an `error` object, sent with `status`.
fn detect_flat<'a>(obj: &Obj<'a>, status: u16, parsed: &mut Parsed<'a>) -> Shape {
    use Json::*;
    if obj.json_type("error") == Some(String) {
        return if obj.has("message") {
            Shape::Dialect(Dialect::Flat)
        } else {
            Shape::Other("plain", read_plain)
        };
    }
    if obj.json_type("success") == Some(Bool) && envelope_errors(obj) {
        return Shape::Dialect(Dialect::Envelope);
    }
    if (obj.json_type("type") == Some(String) || obj.json_type("title") == Some(String))
        && (obj.has("status") || obj.has("detail") || obj.has("title"))
    {
        return Shape::Dialect(Dialect::Problem);
    }
    if let Some(errors) = obj
        .raw("errors")
        .and_then(|errors| errors.array_up_to(MAX_ERROR_ITEMS))
    {
        parsed.first_error = errors.first().and_then(|f| f.obj());
        parsed.errors = errors;
        let jsonapi = parsed.first_error.as_ref().is_some_and(|f| {
            ["status", "title", "detail", "source", "id", "links"]
                .iter()
                .any(|k| f.has(k))
        });
        return if jsonapi {
            Shape::Dialect(Dialect::Jsonapi)
        } else {
            Shape::Other("errors", read_errors)
        };
    }
    if obj.json_type("errorMessages") == Some(Array) {
        return Shape::Other("errors", read_error_messages);
    }
    if obj
        .obj("errors")
        .is_some_and(|errors| is_field_map(&errors))
    {
        return Shape::Other("errors", read_errors_by_field);
    }
    if obj.has("detail") {
        return Shape::Dialect(Dialect::Detail);
    }
    if obj.json_type("__type") == Some(String) {
        return Shape::Other("aws", read_aws);
    }
    let message = obj.json_type("message") == Some(String);
    if message && obj.json_type("name") == Some(String) && obj.json_type("debug_id") == Some(String)
    {
        return Shape::Other("paypal", read_paypal);
    }
    if message && is_heroku(obj) {
        return Shape::Other("heroku", read_heroku);
    }
    // Told after the shapes above, which an `errors` of this kind may sit
    // in: it is a guess from its words.
    if obj.obj("errors").is_some_and(|errors| {
        is_sentence_map(&errors) || is_nested_field_map(&errors, reads_as_sentence)
    }) {
        return Shape::Other("errors", read_errors_by_field);
    }
    // Told after the shapes above, which may spread such a body beside
    // their own members, and before a `message` body's, which it may be
    // (`{"message",…error.flatten()}`).
    if is_zod_flattened(obj)
        || obj
            .obj("errors")
            .is_some_and(|errors| is_zod_flattened(&errors))
    {
        return Shape::Other("zod", read_zod_flattened);
    }
    if message {
        return Shape::Other("message", read_message);
    }
    if obj.json_type("errors") == Some(String) {
        return Shape::Other("errors", read_errors_text);
    }
    // GitLab's: `message` holds the fields, where a field map of Django
    // REST Framework's would hold other fields' lists beside it.
    if obj
        .obj("message")
        .is_some_and(|message| is_field_map(&message))
        && obj
            .members()
            .all(|(key, raw)| key == "message" || !is_messages(raw))
    {
        return Shape::Other("errors", read_message_by_field);
    }
    if matches!(status, 400 | 422)
        && (is_field_map(obj) || is_nested_field_map(obj, reads_as_drf_message))
    {
        return Shape::Other("errors", read_field_map);
    }
    Shape::Other("json", read_json)
}

/// Whether every member of an object is a field's messages, a non-empty
/// array of strings, as Laravel and Rails write their `errors`, and Django
/// REST Framework a whole 400 (`{"email":["This field is required."]}`).
fn is_field_map(obj: &Obj<'_>) -> bool {
    !obj.members.is_empty() && obj.members().all(|(_, raw)| is_messages(raw))
}

/// Whether every member of an object is a field's messages
/// ([`is_field_map`]'s) or holds nested fields' ([`is_field_entry`]) whose
/// messages are each `sentence`: Django REST Framework's nested
/// serializers, Rails' nested attributes, Discord's and Zod's `_errors`.
/// Told after the shapes such a map may sit beside (AWS's `__type`,
/// PayPal's), as [`is_sentence_map`] is, and, as there, no member may be
/// named as a part of one error ([`ONE_ERROR_PARTS`]).
fn is_nested_field_map(obj: &Obj<'_>, sentence: fn(&str) -> bool) -> bool {
    !obj.members.is_empty()
        && obj.members().all(|(key, raw)| {
            !is_one_of(key, &ONE_ERROR_PARTS)
                && (is_messages(raw) || is_field_entry(key, raw, FIELD_TREE_DEPTH, sentence))
        })
}

/// Whether a field's message reads as a sentence: words, not one (a code,
/// an id, a tag).
fn reads_as_sentence(text: &str) -> bool {
    text.trim().contains(' ')
}

/// Whether a field's message reads as Django REST Framework writes its own,
/// a sentence with a full stop (`This field may not be blank.`): what a
/// whole body of nested fields must hold to be taken for errors, where
/// nested data of a 400 (`{"item":{"tags":["back to school"]}}`) would read
/// as sentences too.
fn reads_as_drf_message(text: &str) -> bool {
    reads_as_sentence(text) && text.trim_end().ends_with('.')
}

/// How many objects and lists a field map may nest a field's messages in
/// (`{"address":{"city":["…"]}}`, one): more than any form does, and a
/// bound on the work a hostile body makes.
const FIELD_TREE_DEPTH: usize = 8;

/// The member under which Discord and Zod list the errors of the object
/// they sit in: `{"code","message"}` objects (Discord's) or strings (Zod's).
const OWN_ERRORS: &str = "_errors";

/// Whether member `key` of a field map nests fields' messages within
/// `depth` levels: the object's own errors ([`OWN_ERRORS`]), a field's
/// messages each of which is `sentence` (`["This field may not be
/// blank."]`; nested, a list of words is more likely data,
/// `{"tags":["a","b"]}`), or a nested map or list of them
/// ([`is_field_tree`]).
fn is_field_entry(key: &str, raw: Raw<'_>, depth: usize, sentence: fn(&str) -> bool) -> bool {
    if key == OWN_ERRORS {
        return is_own_errors(raw);
    }
    !key.is_empty() && (is_sentences(raw, sentence) || is_field_tree(raw, depth, sentence))
}

/// Whether `raw` nests fields' messages within `depth` levels: a map of
/// fields (`{"city":["…"]}`), or a list of items' maps as Django REST
/// Framework writes a list's (`[{},{"name":["…"]}]`, an item without
/// errors empty; at most [`MAX_ERROR_ITEMS`] items).
fn is_field_tree(raw: Raw<'_>, depth: usize, sentence: fn(&str) -> bool) -> bool {
    let Some(depth) = depth.checked_sub(1) else {
        return false;
    };
    let mut any = false;
    let all = match raw.json_type() {
        Some(Json::Object) => raw.entries().is_some_and(|mut entries| {
            entries.all(|(key, value)| {
                any = true;
                is_field_entry(&key, value, depth, sentence)
            })
        }),
        Some(Json::Array) => raw.items().is_some_and(|items| {
            let mut items = items.take(MAX_ERROR_ITEMS + 1).enumerate();
            items.all(|(i, item)| {
                let empty = is_empty_object(item);
                any |= !empty;
                i < MAX_ERROR_ITEMS
                    && (empty
                        || (item.json_type() == Some(Json::Object)
                            && is_field_tree(item, depth, sentence)))
            })
        }),
        _ => false,
    };
    all && any
}

/// Whether `raw` is `{}`.
fn is_empty_object(raw: Raw<'_>) -> bool {
    raw.entries()
        .is_some_and(|mut entries| entries.next().is_none())
}

/// Whether `raw` is a list of an object's own errors ([`OWN_ERRORS`]),
/// empty as Zod writes an object without any: each a string or an object
/// with a `message`.
fn is_own_errors(raw: Raw<'_>) -> bool {
    raw.items().is_some_and(|mut items| {
        items.all(|item| {
            item.json_type() == Some(Json::String)
                || item.obj().is_some_and(|item| item.has("message"))
        })
    })
}

/// Whether a value is a field's messages each of which is `sentence`.
fn is_sentences(raw: Raw<'_>, sentence: fn(&str) -> bool) -> bool {
    is_messages(raw)
        && raw
            .items()
            .is_some_and(|mut items| items.all(|item| item.string().is_some_and(|t| sentence(&t))))
}

/// Names of the parts of one error, folded ([`is_one_of`]): an `errors`
/// object with one of them (`{"Code":"InternalError","Message":"…"}`,
/// `{"reason":"missing token"}`) describes an error, not fields.
pub(super) const ONE_ERROR_PARTS: [&str; 22] = [
    "code",
    "message",
    "msg",
    "detail",
    "title",
    "status",
    "statuscode",
    "statusmessage",
    "type",
    "error",
    "errorcode",
    "errormessage",
    "errordescription",
    "reason",
    "description",
    "summary",
    "cause",
    "hint",
    "info",
    "requestid",
    "traceid",
    "timestamp",
];

/// Whether an `errors` object maps fields to messages of which some are
/// one sentence each, as Shopify and Rails write them
/// (`{"order":"Required parameter missing or invalid"}`; the others lists
/// of them, [`is_field_map`]'s). A string without a space is a code, an id
/// or a time, not a message (`{"field":"email","issue":"is invalid"}`
/// names one error's parts), and so is a member named as one
/// ([`ONE_ERROR_PARTS`]).
fn is_sentence_map(errors: &Obj<'_>) -> bool {
    let sentence = |raw: Raw<'_>| raw.string().is_some_and(|text| reads_as_sentence(&text));
    !errors.members.is_empty()
        && errors.members().all(|(key, raw)| {
            !is_one_of(key, &ONE_ERROR_PARTS) && (sentence(raw) || is_messages(raw))
        })
}

/// Whether a value is a field's messages: a non-empty array of strings.
fn is_messages(raw: Raw<'_>) -> bool {
    let is_string = |item: Raw<'_>| item.json_type() == Some(Json::String);
    raw.items()
        .is_some_and(|mut items| items.next().is_some_and(is_string) && items.all(is_string))
}

/// Whether the `errors` of a body with `success` are seed 004's (or it has
/// none): objects mapping codes or fields to their messages
/// (`[{"invalid_key":["Not authenticated"]}]`). Cloudflare's and GraphQL's
/// `[{"code":1003,"message":"…"}]`, whose `code` and `message` describe one
/// error rather than list a field's messages, and a list of strings
/// (`["bad"]`) are not; the first entry tells.
fn envelope_errors(obj: &Obj<'_>) -> bool {
    let Some(mut items) = obj.raw("errors").and_then(Raw::items) else {
        return true;
    };
    let Some(first) = items.next() else {
        return true;
    };
    let Some(entries) = first.entries() else {
        return false;
    };
    let mut any = false;
    for (key, value) in entries {
        let one_error =
            matches!(&*key, "code" | "message") && value.json_type() != Some(Json::Array);
        if one_error {
            return false;
        }
        any = true;
    }
    any
}

/// `{"error":{"code","message","target","details":[…],"innererror"}}` (Azure, OData).
fn read_azure(_: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    let Some(error) = parsed.error else {
        return;
    };
    out.set_code(error.str("code"));
    out.message = error.string("message");
    if let Some((key, inner)) = inner_error(&error) {
        out.add_detail(key, inner);
        // Microsoft Graph's `{"date","request-id","client-request-id"}`:
        // the id its `request-id` header repeats, kept with a body alone.
        out.request_id = inner
            .obj()
            .and_then(|inner| inner.raw("request-id")?.id().map(Cow::into_owned));
    }
    if let Some(target) = error.string("target") {
        out.details.insert("target".to_owned(), target.into());
    }
    // Not Azure's list of errors: an object of details, as other shapes
    // that name an inner error send it.
    if let Some(details) = error.obj("details") {
        crate::dialect::read_details_object(&details, |_| false, out);
    }
    for item in error.items("details").take(out.violation_room()) {
        let Some(item) = item.obj() else {
            continue;
        };
        out.violations.push(Violation {
            field: item.string("target").unwrap_or_default(),
            code: item.string("code").unwrap_or_default(),
            message: item.string("message").unwrap_or_default(),
        });
    }
}

/// An Azure error's inner error, under the name it has: `innererror` in
/// Microsoft's REST guidelines, `innerError` in Microsoft Graph's.
fn inner_error<'t>(error: &Obj<'t>) -> Option<(&'static str, Raw<'t>)> {
    let named = |key| error.raw(key).map(|raw| (key, raw));
    named("innererror").or_else(|| named("innerError"))
}

/// `{"error":"…"}`: a code when it looks like one, else a message; OAuth 2
/// (RFC 6749) adds the message in `error_description`, Zendesk in
/// `description`.
fn read_plain(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    let Some(text) = obj.string("error") else {
        return;
    };
    if looks_like_code(&text) && !is_reason_phrase(&text, out.status) {
        out.set_code(Some(text));
        out.message = obj
            .string("error_description")
            .or_else(|| obj.string("description"));
    } else {
        out.message = Some(text);
    }
    out.set_code(obj.str("code"));
}

/// Whether `text` reads as a code rather than a sentence or a URL: 1 to 64
/// ASCII letters, digits, `_`, `.` and `-`.
pub(crate) fn looks_like_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `{"message":"…","code":…,"details":{…}}` (Twilio's
/// `{"code":20404,"message","more_info","status":404}` among them).
fn read_message(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    // Kubernetes' `Status` names its error by `reason` (`AlreadyExists`);
    // its `code` is the HTTP status.
    let reason = obj.str("reason").filter(|reason| looks_like_code(reason));
    let kubernetes = reason.filter(|_| obj.str("kind").as_deref() == Some("Status"));
    match &kubernetes {
        Some(reason) => {
            out.body_status(obj.u64("code"));
            out.set_code(Some(reason.clone()));
        }
        None => read_top_level_code(obj, out),
    }
    if let Some(details) = obj.obj("details") {
        if kubernetes.is_some() {
            read_status_causes(&details, out);
            // Where the server asks for a wait (a 429, a 500 of a request
            // not yet done), as client-go keeps it.
            out.hint_retry(details.seconds("retryAfterSeconds"));
        }
        crate::dialect::read_details_object(&details, |_| false, out);
    }
}

/// A Kubernetes `Status`'s `details.causes` that name a `field`
/// (`{"reason":"FieldValueRequired","message","field":"spec.containers[0].image"}`),
/// each a violation whose code is its `reason`.
fn read_status_causes(details: &Obj<'_>, out: &mut Decoded) {
    read_field_items(details, "causes", "reason", &["message"], out);
}

/// The objects of the list `key` holds that name a `field`, each a
/// violation: its code under `code_key`, its message under the first of
/// `message_keys` it has.
pub(crate) fn read_field_items(
    obj: &Obj<'_>,
    key: &str,
    code_key: &str,
    message_keys: &[&str],
    out: &mut Decoded,
) {
    for item in obj.items(key) {
        if out.violation_room() == 0 {
            break;
        }
        let Some(item) = item.obj() else {
            continue;
        };
        if let Some(field) = item.string("field") {
            out.violations.push(Violation {
                field,
                code: item.string(code_key).unwrap_or_default(),
                message: message_keys
                    .iter()
                    .find_map(|key| item.string(key))
                    .unwrap_or_default(),
            });
        }
    }
}

/// PayPal's `{"name","message","debug_id","details":[…],"links":[…]}`:
/// `name` is the code, `debug_id` the request id, and each of `details`
/// (`{"field","location","issue","description"}`) a violation whose code
/// is its `issue`; its `field` is a JSON Pointer in the body (the default
/// `location`), a name in the query or the path. Other members (`links`,
/// v1's `information_link`) are details, and so are `details` that are not
/// a list of objects.
fn read_paypal(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.set_code(obj.str("name"));
    out.message = obj.string("message");
    if let Some(id) = obj.raw("debug_id").and_then(Raw::id) {
        out.request_id = Some(id.into_owned());
    }
    // All objects, or none read (and the list kept as a detail).
    let details = obj.raw("details");
    let read = details
        .and_then(Raw::items)
        .is_some_and(|mut items| items.all(|item| item.json_type() == Some(Json::Object)));
    let items = details.and_then(Raw::items).filter(|_| read);
    for item in items.into_iter().flatten().take(out.violation_room()) {
        let Some(item) = item.obj() else {
            continue;
        };
        let field = item.string("field").unwrap_or_default();
        let in_body = item.str("location").is_none_or(|at| at == "body");
        out.violations.push(Violation {
            field: if in_body {
                crate::pointer_to_field(&field)
            } else {
                field
            },
            code: item.string("issue").unwrap_or_default(),
            message: item.string("description").unwrap_or_default(),
        });
    }
    let own = |key: &str| {
        matches!(key, "name" | "message" | "debug_id" | "retry_after") || (read && key == "details")
    };
    crate::dialect::read_details(obj, own, out);
}

/// Whether `obj` is a Heroku error, `{"id","message","url"}`: an `id` that
/// looks like a code and starts with a letter (`not_found`), beside the
/// message and the `url` documenting it. Elsewhere an `id` beside a message
/// may well be a resource's.
fn is_heroku(obj: &Obj<'_>) -> bool {
    obj.json_type("url") == Some(Json::String)
        && obj.str("id").is_some_and(|id| {
            looks_like_code(&id) && id.starts_with(|c: char| c.is_ascii_alphabetic())
        })
}

/// Heroku's `{"id":"not_found","message":"…","url":"…"}`: `id` is the code;
/// `url` and any other member are details.
fn read_heroku(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.set_code(obj.str("id"));
    out.message = obj.string("message");
    let own = |key: &str| matches!(key, "id" | "message" | "retry_after");
    crate::dialect::read_details(obj, own, out);
}

/// Shopify's `{"errors":"[API] Invalid API key or access token"}`: the
/// text is the message; a `code` beside it, the code.
fn read_errors_text(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("errors");
    read_top_level_code(obj, out);
}

/// `{"message":…,"errors":{"<field>":["…"]}}` (Laravel, Rails; see
/// [`is_field_map`]): each field's messages are violations; the rest is
/// read as a `message` body's, the message failing that a `detail` string
/// (`{"detail":"Validation failed","errors":{…}}`), then the first
/// violation's.
fn read_errors_by_field(obj: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    read_message(obj, parsed, out);
    if out.message.is_none() {
        out.message = obj.string("detail").filter(|detail| !is_blank(detail));
    }
    read_errors_map(obj, out);
    message_from_violations(out);
}

/// GitLab's `{"message":{"<field>":["…"]}}`: each field's messages are
/// violations, the first the message.
fn read_message_by_field(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    read_fields_map(obj, "message", out);
    read_top_level_code(obj, out);
    message_from_violations(out);
}

/// The messages of each field in `errors` (`{"<field>":["…"]}` or
/// `{"<field>":"…"}`) as violations.
fn read_errors_map(obj: &Obj<'_>, out: &mut Decoded) {
    read_fields_map(obj, "errors", out);
}

/// The messages of each field in the map `key` holds as violations.
fn read_fields_map(obj: &Obj<'_>, key: &str, out: &mut Decoded) {
    if let Some(map) = obj.raw(key) {
        FieldTree::default().read("", map, out);
    }
}

/// Reads a map of fields' messages ([`is_nested_field_map`]) into
/// violations, naming a nested field as a client writes it:
/// `address.city`, `items[1].name` (a list's index, or a member named by
/// one, as Django REST Framework's `ListField` and Discord name an item);
/// an object's own errors ([`OWN_ERRORS`]) are its field's, the whole
/// input's at the top.
#[derive(Default)]
struct FieldTree {
    /// Bytes of field names written so far: a hostile body of long names
    /// nested deep would otherwise copy them into every violation below.
    written: usize,
}

impl FieldTree {
    fn read(&mut self, field: &str, raw: Raw<'_>, out: &mut Decoded) {
        match raw.json_type() {
            Some(Json::Object) => {
                for (key, value) in raw.entries().into_iter().flatten() {
                    if self.is_full(out) {
                        return;
                    }
                    if key == OWN_ERRORS {
                        self.read_own_errors(field, value, out);
                    } else {
                        let nested = self.nested(field, &key);
                        self.read(&nested, value, out);
                    }
                }
            }
            Some(Json::Array) if !is_messages(raw) => {
                let items = raw.items().into_iter().flatten().enumerate();
                for (i, item) in items.filter(|(_, item)| !is_empty_object(*item)) {
                    if self.is_full(out) {
                        return;
                    }
                    let nested = self.nested(field, &i.to_string());
                    self.read(&nested, item, out);
                }
            }
            _ => crate::dialect::read_field_messages(field, raw, out),
        }
    }

    /// Whether no more is read: the violations are all kept, or the names
    /// written reached their bound.
    fn is_full(&self, out: &Decoded) -> bool {
        out.violation_room() == 0 || self.written > crate::dialect::FIELD_COPIES_MAX
    }

    /// `field`'s member `key`: `key` itself at the top.
    fn nested(&mut self, field: &str, key: &str) -> String {
        let index = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
        let nested = match (field.is_empty(), index) {
            (true, _) => key.to_owned(),
            (false, true) => format!("{field}[{key}]"),
            (false, false) => format!("{field}.{key}"),
        };
        self.written += nested.len();
        nested
    }

    /// Discord's `[{"code":"BASE_TYPE_REQUIRED","message":"…"}]` or Zod's
    /// `["Required"]`, each a violation of `field`.
    fn read_own_errors(&mut self, field: &str, errors: Raw<'_>, out: &mut Decoded) {
        for item in errors.items().into_iter().flatten() {
            if self.is_full(out) {
                return;
            }
            let (code, message) = match item.obj() {
                Some(item) => (item.string("code"), item.string("message")),
                None => (None, item.string().map(Cow::into_owned)),
            };
            let Some(message) = message else {
                continue;
            };
            self.written += field.len();
            out.violations.push(Violation {
                field: field.to_owned(),
                code: code.unwrap_or_default(),
                message,
            });
        }
    }
}

/// Whether `obj` is Zod's `error.flatten()` with something wrong in it:
/// `{"formErrors":["…"],"fieldErrors":{"<field>":["…"]}}`, the whole
/// input's messages (maybe none) and each field's (a non-empty list), all
/// strings, one at least. Flattened, fields nest no deeper.
fn is_zod_flattened(obj: &Obj<'_>) -> bool {
    let (Some(form), Some(fields)) = (obj.raw("formErrors"), obj.obj("fieldErrors")) else {
        return false;
    };
    let form_is_strings = form
        .items()
        .is_some_and(|mut items| items.all(|item| item.json_type() == Some(Json::String)));
    form_is_strings
        && fields.members().all(|(_, raw)| is_messages(raw))
        && (!fields.members.is_empty() || is_messages(form))
}

/// Zod's `error.flatten()` ([`is_zod_flattened`]), the body itself or its
/// `errors` (`{"message":"Invalid input","errors":{…}}`), or both: the
/// whole input's messages are violations of no field, each field's its
/// own; the rest is read as a `message` body's (else as a JSON body's,
/// Plaid's `error_message`, Okta's `errorSummary`), the message failing
/// that the first violation's.
fn read_zod_flattened(obj: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    read_message(obj, parsed, out);
    if out.message.is_none() {
        read_json(obj, Parsed::default(), out);
    }
    let errors = obj.obj("errors").filter(|errors| is_zod_flattened(errors));
    let body = Some(obj).filter(|obj| is_zod_flattened(obj));
    let mut tree = FieldTree::default();
    for flattened in body.into_iter().chain(errors.as_ref()) {
        if let Some(form) = flattened.raw("formErrors") {
            tree.read_own_errors("", form, out);
        }
        for (field, messages) in flattened.obj("fieldErrors").iter().flat_map(Obj::members) {
            crate::dialect::read_field_messages(field, messages, out);
        }
    }
    message_from_violations(out);
}

/// Jira's `{"errorMessages":["…"],"errors":{"<field>":"…"}}`: the first
/// message that is not blank is the message (the list a detail when it has
/// several), each field's message a violation; failing a message, the first
/// violation's is it.
fn read_error_messages(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    out.message = obj
        .items("errorMessages")
        .filter_map(Raw::string)
        .find(|m| !is_blank(m))
        .map(Cow::into_owned);
    if obj.items("errorMessages").nth(1).is_some() {
        if let Some(messages) = obj.raw("errorMessages") {
            out.add_detail("errorMessages", messages);
        }
    }
    read_errors_map(obj, out);
    read_top_level_code(obj, out);
    message_from_violations(out);
}

/// Django REST Framework's `{"<field>":["…"]}` (see [`is_field_map`]): each
/// field's messages are violations, the first one the message.
fn read_field_map(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    let mut tree = FieldTree::default();
    for (field, messages) in obj.members() {
        tree.read(field, messages, out);
    }
    message_from_violations(out);
}

/// AWS's JSON protocols: `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"…"}`
/// (`Message` in some services).
fn read_aws(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    let code = obj.str("__type").map(|ty| aws_error_type(&ty).to_owned());
    out.set_code(code.filter(|code| !code.is_empty()));
    out.message = obj.string("message").or_else(|| obj.string("Message"));
}

/// The first violation's message as the message, when there is none.
pub(crate) fn message_from_violations(out: &mut Decoded) {
    if out.message.is_none() {
        out.message = out
            .violations
            .iter()
            .find(|v| !is_blank(&v.message))
            .map(|v| v.message.clone());
    }
}

/// A body's own `code` (or `error_code`, or Okta's and Auth0's
/// `errorCode`): a string, or an integer that is not merely the status
/// again (Twilio's `20404` is a code; a `404` on a 404 says nothing more).
fn read_top_level_code(obj: &Obj<'_>, out: &mut Decoded) {
    out.set_code(top_level_code(obj, out.status));
}

/// A body of no shape known: its code ([`read_top_level_code`]) and its
/// `error_message`, as Plaid's flat errors give it
/// (`{"error_type","error_code","error_message"}`), `Message`, as AWS's
/// REST protocols do (`{"Type":"User","Message":"…"}`, the code in the
/// `x-amzn-ErrorType` header), or `errorSummary`, as Okta's
/// `{"errorCode":"E0000011","errorSummary","errorId"}` does, whose
/// `errorId` is what its support asks for: the request id.
fn read_json(obj: &Obj<'_>, _: Parsed<'_>, out: &mut Decoded) {
    read_top_level_code(obj, out);
    out.message = obj
        .string("error_message")
        .or_else(|| obj.string("Message"))
        .or_else(|| obj.string("errorSummary"));
    if obj.has("errorSummary") {
        out.request_id = obj.string("errorId");
    }
}

/// What [`read_top_level_code`] reads, for a response with `status`.
fn top_level_code<'t>(obj: &Obj<'t>, status: u16) -> Option<Cow<'t, str>> {
    ["code", "error_code", "errorCode"]
        .into_iter()
        .filter_map(|key| obj.raw(key)?.id())
        .find(|code| !repeats_status(code, status))
}

/// Whether a code is only `status` again (`404` on a 404), which says
/// nothing more: no code. Other numbers are an API's own (Twilio's `20404`).
pub(crate) fn repeats_status(code: &str, status: u16) -> bool {
    code.parse::<u64>().ok() == Some(u64::from(status))
}

/// `{"errors":[{"message":…,"code"|"extensions":{"code"}|"type"}]}` (GraphQL,
/// GitHub's by `type`, Cloudflare), `{"errors":["…"]}`, GitHub's
/// `{"message":…,"errors":[{"resource","field","code"}]}`, or Salesforce's
/// items `{"message","errorCode","fields":[…]}`.
///
/// A top-level `message` and code (read as [`read_top_level_code`] reads
/// one) are the error's own; failing those, the first item's. Items naming
/// a `field` are violations; an item's `fields` are each a violation with
/// the item's code and message.
pub(super) fn read_errors(obj: &Obj<'_>, parsed: Parsed<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    let top_code = top_level_code(obj, out.status);
    let has_top_code = top_code.is_some();
    out.set_code(top_code);
    let mut first_error = parsed.first_error;
    for (i, raw) in parsed.errors.iter().enumerate() {
        let item = if i == 0 {
            first_error.take()
        } else {
            raw.obj()
        };
        let Some(item) = item else {
            if i == 0 && out.message.is_none() {
                out.message = raw.string().map(Cow::into_owned);
            }
            continue;
        };
        if let Some(field) = item.string("field") {
            if out.violation_room() == 0 {
                continue;
            }
            out.violations.push(Violation {
                field,
                code: item_code(&item, "code").unwrap_or_default(),
                message: item.string("message").unwrap_or_default(),
            });
        } else {
            let code = item_code(&item, "code").or_else(|| item_code(&item, "errorCode"));
            if i == 0 {
                if out.message.is_none() {
                    out.message = item.string("message");
                }
                // Cloudflare's causes of the error, each `{"code","message"}`.
                if let Some(chain) = item.raw("error_chain") {
                    out.add_detail("error_chain", chain);
                }
                if !has_top_code {
                    // GitHub's GraphQL API names its errors by `type` alone.
                    let nested = || item_code(&item.obj("extensions")?, "code");
                    let own = code
                        .clone()
                        .or_else(nested)
                        .or_else(|| item.string("type").filter(|ty| looks_like_code(ty)))
                        .filter(|code| !repeats_status(code, out.status));
                    out.set_code(own);
                }
            }
            read_item_fields(&item, code.unwrap_or_default(), out);
        }
    }
    message_from_violations(out);
}

/// An error item's code: a string, or an integer (Cloudflare's `10000`).
fn item_code(item: &Obj<'_>, key: &str) -> Option<String> {
    item.raw(key)?.id().map(Cow::into_owned)
}

/// Salesforce's `fields` of an error item: each a violation with the item's
/// `code` and message. The message is copied once per field, so at most
/// [`FIELD_COPIES_MAX`](crate::dialect::FIELD_COPIES_MAX) bytes of copies
/// are made of it, as of a field's name.
fn read_item_fields(item: &Obj<'_>, code: String, out: &mut Decoded) {
    let Some(fields) = item.raw("fields").and_then(Raw::items) else {
        return;
    };
    let message = item.string("message").unwrap_or_default();
    let copied = message.len() + code.len();
    let room = out
        .violation_room()
        .min(1 + crate::dialect::FIELD_COPIES_MAX / copied.max(1));
    let violations = fields.filter_map(Raw::string).map(|field| Violation {
        field: field.into_owned(),
        code: code.clone(),
        message: message.clone(),
    });
    out.violations.extend(violations.take(room));
}
