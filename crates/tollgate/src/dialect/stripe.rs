//! Stripe's `{"error":{"type","code","message","param","doc_url"}}`, with the
//! request id in the `Request-Id` header.

use super::json::Out;
use super::{
    Context, FIELD_KEY, Renderer, VIOLATIONS_KEY, read_details_object, write_detail_members,
    write_message, write_violations, write_wire_code,
};
use crate::decode::{Decoded, Obj, is_blank};
use crate::{ApiError, Dialect, Violation};

pub(super) const RESERVED: &[&str] = &[
    "type",
    "code",
    "message",
    "param",
    "doc_url",
    VIOLATIONS_KEY,
];

/// Stripe's error `type` for an error.
fn error_type(err: &ApiError) -> &'static str {
    if err.status() >= 500 {
        "api_error"
    } else if err.code().starts_with("idempotency") {
        "idempotency_error"
    } else {
        "invalid_request_error"
    }
}

pub(super) fn encode(r: &Renderer<'_>, err: &ApiError, _: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":{\"type\":");
    out.str(error_type(err));
    out.raw(",\"code\":");
    write_wire_code(err, Dialect::Stripe, out);
    out.raw(",\"message\":");
    write_message(err, out);
    // Stripe leaves `param` out where no one parameter is at fault (a
    // violation of the whole input has no field). Without violations, the
    // `field` detail (`missing_field`'s) is the parameter, as Stripe names
    // a missing one; only where the entry documents it (a detail it does
    // not is never sent).
    let param = match err.violations().first() {
        Some(first) => Some(first.field.as_str()),
        None => err
            .details()
            .get(FIELD_KEY)
            .filter(|_| err.def().sends_detail(FIELD_KEY))
            .and_then(|f| f.as_str()),
    };
    if let Some(param) = param.filter(|p| !p.is_empty()) {
        out.raw(",\"param\":");
        out.str(param);
    }
    out.raw(",\"doc_url\":");
    r.write_doc_url(err, out);
    write_detail_members(err, RESERVED, out);
    if !err.violations().is_empty() {
        out.raw(",\"errors\":");
        write_violations(err.violations(), out);
    }
    out.raw("}}");
}

pub(super) fn decode(error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    // A `type` alone (`api_error`, Anthropic's `overloaded_error`) is the
    // most precise code such a body has.
    out.set_code(error.str("code").or_else(|| error.str("type")));
    // Elasticsearch's `{"error":{"type","reason"}}` words it in `reason`.
    let message_key = match error.raw("message") {
        None if error.str("reason").is_some() => "reason",
        _ => "message",
    };
    out.message = error.string(message_key);
    let before = out.violations.len();
    let own = |key: &str| ["type", "code", message_key, "param", "doc_url"].contains(&key);
    read_details_object(error, own, out);
    if out.violations.len() == before {
        // An empty `param` names no field: the message is the error's own;
        // one the `field` detail names already is that detail's.
        let named =
            |param: &String| out.details.get(FIELD_KEY).and_then(|f| f.as_str()) == Some(param);
        if let Some(param) = error
            .string("param")
            .filter(|param| !is_blank(param) && !named(param))
        {
            let code = out.code.clone().unwrap_or_default();
            let message = out.message.clone().unwrap_or_default();
            out.violations.push(Violation {
                field: param,
                code,
                message,
            });
        }
    }
}
