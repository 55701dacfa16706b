//! `{"error":"<code>","message":"…"}` (seed 004's legacy format).

use super::json::Out;
use super::{Context, Renderer, read_field_messages, write_message, write_wire_code};
use crate::decode::{
    Decoded, Obj, is_reason_phrase, message_from_violations, read_field_items, repeats_status,
};
use crate::{ApiError, Dialect};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":");
    write_wire_code(err, Dialect::Flat, out);
    out.raw(",\"message\":");
    write_message(err, out);
    out.raw("}");
}

/// Also reads NestJS's, Fastify's and Spring's bodies, whose `error` is the
/// status's reason phrase rather than a code, and NestJS's validation
/// errors, `message` as a list (`{"message":["email must be an email"],
/// "error":"Bad Request"}`): each is a violation of the whole input, and the
/// first the message. Spring's binding errors, `errors` of
/// `{"field","defaultMessage","code"}` (or a `message`), are violations.
pub(super) fn decode(obj: &Obj<'_>, out: &mut Decoded) {
    out.message = obj.string("message");
    if out.message.is_none() {
        if let Some(messages) = obj.raw("message") {
            read_field_messages("", messages, out);
            message_from_violations(out);
        }
    }
    match obj.str("error") {
        Some(phrase) if is_reason_phrase(&phrase, out.status) => {
            out.message.get_or_insert_with(|| phrase.into_owned());
            // Auth0 codes its errors beside the phrase.
            let code = obj.str("errorCode");
            out.set_code(code.filter(|code| !repeats_status(code, out.status)));
        }
        code => out.set_code(code),
    }
    read_field_items(obj, "errors", "code", &["defaultMessage", "message"], out);
}
