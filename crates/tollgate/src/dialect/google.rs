//! Google AIP-193: `{"error":{"code","message","status","details":[…]}}` with
//! `ErrorInfo`, `RetryInfo`, `BadRequest`, `Help` and `RequestInfo`.

use super::json::Out;
use super::{Context, Renderer, read_details, write_message, write_wire_code};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, Dialect, Violation};

/// The `google.rpc.Code` name for an HTTP status (AIP-193's mapping).
pub(crate) fn rpc_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 | 412 => "FAILED_PRECONDITION",
        403 => "PERMISSION_DENIED",
        404 | 410 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        413 | 416 => "OUT_OF_RANGE",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        405 | 501 => "UNIMPLEMENTED",
        503 | 502 => "UNAVAILABLE",
        504 | 408 => "DEADLINE_EXCEEDED",
        400..=499 => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

pub(super) fn encode(r: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"error\":{\"code\":");
    out.u64(err.status().into());
    out.raw(",\"message\":");
    write_message(err, out);
    out.raw(",\"status\":");
    out.str(rpc_status(err.status()));
    out.raw(",\"details\":[");

    out.raw("{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":");
    write_wire_code(err, Dialect::Google, out);
    out.raw(",\"domain\":");
    out.str(r.domain);
    if err.has_sent_details() {
        // `map<string, string>`: other values go as their JSON text.
        out.raw(",\"metadata\":{");
        for (i, (k, v)) in err.sent_details().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            out.key(k);
            out.raw("\"");
            out.value_text(v);
            out.raw("\"");
        }
        out.raw("}");
    }
    out.raw("}");

    if let Some(delay) = err.retry_after_delay() {
        out.raw(",{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"");
        out.u64(crate::retry::sent_wait_secs(delay));
        out.raw("s\"}");
    }
    if !err.violations().is_empty() {
        out.raw(",{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[");
        for (i, v) in err.violations().iter().enumerate() {
            out.raw(if i == 0 {
                "{\"field\":"
            } else {
                ",{\"field\":"
            });
            out.str(&v.field);
            out.raw(",\"description\":");
            out.str(&v.message);
            out.raw(",\"reason\":");
            out.str(&v.code);
            out.raw("}");
        }
        out.raw("]}");
    }
    out.raw(",{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":");
    out.str(err.def().title());
    out.raw(",\"url\":");
    r.write_doc_url(err, out);
    out.raw("}]}");
    if let Some(id) = ctx.request_id {
        out.raw(",{\"@type\":\"type.googleapis.com/google.rpc.RequestInfo\",\"requestId\":");
        out.str(id);
        out.raw("}");
    }
    out.raw("]}}");
}

pub(super) fn decode(error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.body_status(error.u64("code"));
    out.message = error.string("message");
    read_typed_details(error, out);
    // Without an `ErrorInfo.reason` (nor an `X-Error-Code`), the legacy
    // `errors[].reason` (`rateLimitExceeded`), then the canonical `status`
    // (`NOT_FOUND`), as Google's own APIs send them.
    if out.code.is_none() {
        let legacy = error
            .items("errors")
            .find_map(|item| item.obj()?.str("reason"));
        out.set_code(legacy.or_else(|| error.str("status")));
    }
}

/// The `details` Tollgate writes read into their places; the others
/// (`QuotaFailure`, `PreconditionFailure`, `ResourceInfo`,
/// `LocalizedMessage`, `DebugInfo`) kept as details named by their type,
/// after those: a large one takes no room from `ErrorInfo`'s metadata.
fn read_typed_details(error: &Obj<'_>, out: &mut Decoded) {
    let mut others = Vec::new();
    for raw in error.items("details") {
        let Some(item) = raw.obj() else {
            continue;
        };
        let Some(ty) = item.str("@type") else {
            continue;
        };
        match ty.rsplit('.').next().unwrap_or_default() {
            "ErrorInfo" => {
                out.set_code(item.str("reason"));
                if let Some(metadata) = item.obj("metadata") {
                    read_details(&metadata, |_| false, out);
                }
            }
            "RetryInfo" => {
                let delay = item
                    .str("retryDelay")
                    .and_then(|d| crate::retry::parse_proto_duration(&d));
                out.hint_retry(delay);
            }
            "BadRequest" => {
                for v in item.items("fieldViolations").take(out.violation_room()) {
                    let Some(v) = v.obj() else {
                        continue;
                    };
                    out.violations.push(Violation {
                        field: v.string("field").unwrap_or_default(),
                        code: v.string("reason").unwrap_or_default(),
                        message: v.string("description").unwrap_or_default(),
                    });
                }
            }
            "RequestInfo" => out.request_id = item.string("requestId"),
            // Links to docs, which the catalog's entry gives.
            "Help" => {}
            other if !other.is_empty() => others.push((other.to_owned(), raw)),
            _ => {}
        }
    }
    // A metadata key of the same name is kept.
    for (name, raw) in others {
        if !out.details.contains_key(&name) {
            out.add_detail(&name, raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rpc_status;

    #[test]
    fn each_status_has_its_google_rpc_code() {
        for (status, code) in [
            (400, "INVALID_ARGUMENT"),
            (422, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (402, "FAILED_PRECONDITION"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (405, "UNIMPLEMENTED"),
            (409, "ALREADY_EXISTS"),
            (413, "OUT_OF_RANGE"),
            (415, "FAILED_PRECONDITION"),
            (429, "RESOURCE_EXHAUSTED"),
            (499, "CANCELLED"),
            (500, "INTERNAL"),
            (501, "UNIMPLEMENTED"),
            (503, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            assert_eq!(rpc_status(status), code, "{status}");
        }
    }
}
