//! `{"status":"error","timestamp","error":{"code":<HTTP int>,"message","details"},"request_id"}`
//! (seeds 000 and 001).

use std::time::{SystemTime, UNIX_EPOCH};

use super::json::Out;
use super::{Context, Dialect, Renderer, read_details_object, write_details_object, write_message};
use crate::ApiError;
use crate::decode::{Decoded, Obj};

pub(super) fn encode(_: &Renderer<'_>, err: &ApiError, ctx: &Context<'_>, out: &mut Out<'_>) {
    out.raw("{\"status\":\"error\",\"timestamp\":\"");
    let mut timestamp = [0; 20];
    out.raw(rfc3339(ctx.timestamp, &mut timestamp));
    out.raw("\",\"error\":{\"code\":");
    out.u64(err.status().into());
    out.raw(",\"message\":");
    write_message(err, out);
    // `details` is the hint when the entry has one, the details fill it and
    // there are no violations (seed 000), else the details object with the
    // violations (seed 001), else null: a hint with a blank left in it would
    // put `{access}` on the wire, and a hint alone would drop the violations.
    // The error reference says so (`Dialect::sends_hint_of`).
    out.raw(",\"details\":");
    let hint = err
        .def()
        .hint_template()
        .filter(|_| Dialect::StatusCode.sends_hint_of(err.def()))
        .filter(|_| err.violations().is_empty())
        .filter(|hint| {
            hint.placeholders()
                .all(|name| err.details().contains_key(name))
        });
    if let Some(hint) = hint {
        hint.write_json(err.details(), out);
    } else if !err.has_sent_details() && err.violations().is_empty() {
        out.raw("null");
    } else {
        write_details_object(err, out);
    }
    if let Some(delay) = err.retry_after_delay() {
        out.raw(",\"retry_after\":");
        out.u64(crate::retry::sent_wait_secs(delay));
    }
    out.raw("}");
    if let Some(id) = ctx.request_id {
        out.raw(",\"request_id\":");
        out.str(id);
    }
    out.raw("}");
}

/// The last second RFC 3339 can write with a four-digit year:
/// 9999-12-31T23:59:59Z.
const LATEST: u64 = 253_402_300_799;

/// `t` in RFC 3339 to the second (`2025-07-24T11:30:12Z`), written into
/// `buf`. Times before 1970 or after 9999 are clamped: the format has four
/// digits for the year, and nothing before the epoch is worth saying here.
fn rfc3339(t: SystemTime, buf: &mut [u8; 20]) -> &str {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(LATEST);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let two = |buf: &mut [u8; 20], at: usize, n: u64| {
        buf[at] = b'0' + (n / 10) as u8;
        buf[at + 1] = b'0' + (n % 10) as u8;
    };
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, month);
    buf[7] = b'-';
    two(buf, 8, day);
    buf[10] = b'T';
    two(buf, 11, rest / 3600);
    buf[13] = b':';
    two(buf, 14, rest / 60 % 60);
    buf[16] = b':';
    two(buf, 17, rest % 60);
    buf[19] = b'Z';
    // Digits and punctuation: always ASCII.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days from the epoch on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shifted to start on 0000-03-01, so that leap days end each cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

pub(super) fn decode(_: &Obj<'_>, error: Option<&Obj<'_>>, out: &mut Decoded) {
    let Some(error) = error else {
        return;
    };
    out.body_status(error.u64("code"));
    out.message = error.string("message");
    out.hint_retry(error.seconds("retry_after"));
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
    fn timestamps_are_written_as_humantime_writes_them() {
        // Every eleventh day from 1970 to 9999 (leap years and all), at
        // changing times of day, and the ends of the range.
        let days = (0..=2_932_896u64)
            .step_by(11)
            .map(|d| d * 86_400 + d * 7919 % 86_400);
        let ends = [
            0,
            1,
            951_782_400,
            4_107_542_399,
            super::LATEST - 1,
            super::LATEST,
        ];
        for secs in days.chain(ends) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let mut buf = [0; 20];
            assert_eq!(
                super::rfc3339(t, &mut buf),
                humantime::format_rfc3339_seconds(t).to_string(),
                "{secs}"
            );
        }
    }

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
