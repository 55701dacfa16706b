//! `{"status":"error","timestamp","error":{"code":<HTTP int>,"message","details"},"request_id"}`
//! (seeds 000 and 001).

use serde::ser::{SerializeMap, Serializer as _};

use super::{Context, DetailsObject, Renderer, Ser, SerResult, Str, message, read_details_object};
use crate::decode::{Decoded, Obj};
use crate::{ApiError, retry_after_secs};

pub(super) fn encode(
    _: &Renderer<'_>,
    err: &ApiError,
    ctx: &Context<'_>,
    ser: &mut Ser<'_>,
) -> SerResult {
    let mut map = ser.serialize_map(None)?;
    map.serialize_entry("status", "error")?;
    map.serialize_entry(
        "timestamp",
        &Str(humantime::format_rfc3339_seconds(clamp(ctx.timestamp))),
    )?;
    map.serialize_entry("error", &Body { err })?;
    if let Some(id) = ctx.request_id {
        map.serialize_entry("request_id", id)?;
    }
    map.end()
}

/// RFC 3339 has four-digit years after 1970 here: clamp to what it can say.
fn clamp(t: std::time::SystemTime) -> std::time::SystemTime {
    // 9999-12-31T23:59:59Z
    let latest = std::time::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    t.clamp(std::time::UNIX_EPOCH, latest)
}

struct Body<'a> {
    err: &'a ApiError,
}

impl serde::Serialize for Body<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let err = self.err;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("code", &err.status())?;
        map.serialize_entry("message", &message(err))?;
        // `details` is the hint when the entry has one (seed 000), else the
        // details object (seed 001), else null.
        if let Some(hint) = err.hint() {
            map.serialize_entry("details", &Str(hint))?;
        } else if err.details().is_empty() && err.violations().is_empty() {
            map.serialize_entry("details", &())?;
        } else {
            map.serialize_entry("details", &DetailsObject(err))?;
        }
        if let Some(delay) = err.retry_after_delay() {
            map.serialize_entry("retry_after", &retry_after_secs(delay))?;
        }
        map.end()
    }
}

pub(super) fn decode(_: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.body_status = error.u64("code").and_then(|s| u16::try_from(s).ok());
    out.message = error.string("message");
    out.hint_retry_secs(error.u64("retry_after"));
    if let Some(hint) = error.string("details") {
        out.details.insert("hint".to_owned(), hint.into());
    } else if let Some(details) = error.obj("details") {
        read_details_object(&details, |_| false, out);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::{Catalog, Context, Dialect};

    #[test]
    fn timestamps_out_of_range_are_clamped() {
        let catalog = Catalog::builtin();
        let err = catalog.error("not_found").unwrap();
        for (t, text) in [
            (UNIX_EPOCH - Duration::from_secs(5), "1970-01-01T00:00:00Z"),
            (
                UNIX_EPOCH + Duration::from_secs(400_000_000_000),
                "9999-12-31T23:59:59Z",
            ),
        ] {
            let body = catalog
                .renderer(Dialect::StatusCode)
                .body(&err, &Context::new(t));
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["timestamp"], text);
        }
    }
}
