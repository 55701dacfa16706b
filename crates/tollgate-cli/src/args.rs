//! Value parsers shared by several subcommands.

use std::fmt::Display;
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use tollgate::{Dialect, UnknownDialect};

use crate::input::shown;
use crate::wire::clipped;

/// `--dialect`: a dialect's name; the error lists every valid one.
pub(crate) fn parse_dialect(name: &str) -> Result<Dialect, UnknownDialect> {
    name.parse()
}

/// A value parser of whole numbers from `min` to `max` whose errors say so
/// in plain words: Rust's own speak of types (`number too large to fit in
/// target type`, `invalid digit found in string`).
pub(crate) fn whole<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr<Err = ParseIntError> + PartialOrd + Default + Display + Copy + Send + Sync + 'static,
{
    move |text| {
        let text = text.trim();
        let expected = format!("expected a whole number from {min} to {max}");
        let why = match text.parse::<T>() {
            Ok(n) if n < min && min == T::default() => format!("{n} is negative"),
            Ok(n) if n < min => format!("{n} is less than {min}"),
            Ok(n) if n > max => format!("{n} is more than {max}"),
            Ok(n) => return Ok(n),
            Err(e) => match e.kind() {
                IntErrorKind::Empty => "nothing given".to_owned(),
                IntErrorKind::PosOverflow => format!("{} is too large", shown(text)),
                IntErrorKind::NegOverflow => format!("{} is too small", shown(text)),
                // A negative number for a type without them (`u16`, `u64`).
                _ if text.strip_prefix('-').is_some_and(|digits| {
                    digits.bytes().all(|b| b.is_ascii_digit()) && digits.bytes().any(|b| b != b'0')
                }) =>
                {
                    let text = shown(text);
                    if min == T::default() {
                        format!("{text} is negative")
                    } else {
                        format!("{text} is less than {min}")
                    }
                }
                _ => format!("{} is not a whole number", shown(text)),
            },
        };
        Err(format!("{why}: {expected}"))
    }
}

/// A duration as humantime reads it (`30d`, `500ms`), refused with why and
/// `example` (`10s, 500ms or 2m`); a negative one (`-5s` in a config
/// file) is said to be negative, not a number humantime cannot read.
pub(crate) fn parse_duration(text: &str, example: &str) -> Result<Duration, String> {
    let text = text.trim();
    let negative = text
        .strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    let why = if negative {
        format!("{} is negative", shown(text))
    } else {
        match humantime::parse_duration(text) {
            Ok(duration) => return Ok(duration),
            Err(e) => duration_error(text, &e),
        }
    };
    Err(format!("{why}: expected a duration such as {example}"))
}

/// humantime's reason for refusing `text` as a duration, in plain words
/// (`forever is not a duration`, not `expected number at 0`), with the unit
/// it does not know, which it repeats whole (`1xxxx…`), clipped.
fn duration_error(text: &str, e: &humantime::DurationError) -> String {
    use humantime::DurationError;
    match e {
        DurationError::Empty => "nothing given".to_owned(),
        DurationError::InvalidCharacter(0) | DurationError::NumberExpected(0) => {
            format!("{} is not a duration", shown(text))
        }
        DurationError::InvalidCharacter(_) | DurationError::NumberExpected(_) => {
            format!("{} is not a duration ({e})", shown(text))
        }
        DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
            e.to_string()
                .replacen(&format!("{unit:?}"), &format!("{:?}", clipped(unit)), 1)
        }
        _ => e.to_string(),
    }
}

/// A value parser for a URL that may hold a password (`--redis`, probe's
/// `BASE_URL`): clap's own error would echo the value as given, so this one
/// shows it as `show` does ([`shown_url`](crate::store_db::shown_url): the
/// password hidden, clipped; probe's `shown_base_url` hides the user name
/// too).
///
/// `parse` checks the text; its error is shown after the value as shown.
#[derive(Clone, Copy)]
pub(crate) struct SecretUrl<T> {
    pub(crate) parse: fn(&str) -> Result<T, String>,
    pub(crate) show: fn(&str) -> String,
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for SecretUrl<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        use clap::error::ErrorKind;
        // Worded as clap words its own errors.
        let arg = arg.map_or_else(|| "...".to_owned(), ToString::to_string);
        let error = |kind, what: String| {
            let message = format!("{what}\n\nFor more information, try '--help'.\n");
            clap::Error::raw(kind, message).with_cmd(cmd)
        };
        let Some(text) = value.to_str() else {
            let what = format!("invalid value for '{arg}': not valid UTF-8");
            return Err(error(ErrorKind::InvalidUtf8, what));
        };
        (self.parse)(text).map_err(|why| {
            let shown = (self.show)(text);
            let what = format!("invalid value '{shown}' for '{arg}': {why}");
            error(ErrorKind::ValueValidation, what)
        })
    }
}

/// An RFC 3339 timestamp: `2024-05-01T12:00:00Z`, with fractional seconds,
/// or with a UTC offset such as `+02:00`.
pub(crate) fn parse_timestamp(text: &str) -> Result<SystemTime, String> {
    let invalid = |why: &str| {
        format!(
            "{why}: expected RFC 3339, such as 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00"
        )
    };
    // RFC 3339 allows lowercase `t` and `z`; humantime wants them uppercase.
    let upper = text.trim().to_ascii_uppercase();
    let (utc, offset_secs) = split_offset(&upper);
    let at = humantime::parse_rfc3339(&utc).map_err(|e| invalid(&e.to_string()))?;
    // Local time = UTC + offset, so UTC = local time - offset.
    let magnitude = Duration::from_secs(offset_secs.unsigned_abs());
    let at = if offset_secs >= 0 {
        at.checked_sub(magnitude)
    } else {
        at.checked_add(magnitude)
    };
    // The `status-code` dialect prints the timestamp in UTC, which RFC 3339
    // (and humantime) can only do from 1970 through 9999.
    let since_epoch = at.and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok());
    match (at, since_epoch) {
        (Some(at), Some(secs)) if secs.as_secs() <= LAST_SECOND_OF_9999 => Ok(at),
        _ => Err(invalid(
            "out of range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC)",
        )),
    }
}

/// `9999-12-31T23:59:59Z` in seconds since the epoch.
const LAST_SECOND_OF_9999: u64 = 253_402_300_799;

/// Splits a trailing `±hh:mm` offset off, giving the UTC form (`…Z`) and the
/// offset in seconds; other text is returned as it is.
fn split_offset(text: &str) -> (String, i64) {
    let b = text.as_bytes();
    let Some(tail_at) = b.len().checked_sub(6) else {
        return (text.to_owned(), 0);
    };
    let tail = &b[tail_at..];
    let digits = |i: usize, j: usize| -> Option<i64> {
        let (x, y) = (tail[i], tail[j]);
        (x.is_ascii_digit() && y.is_ascii_digit())
            .then(|| i64::from(x - b'0') * 10 + i64::from(y - b'0'))
    };
    let sign = match tail[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return (text.to_owned(), 0),
    };
    match (
        tail_at > 0 && text.is_char_boundary(tail_at),
        tail[3] == b':',
        digits(1, 2),
        digits(4, 5),
    ) {
        (true, true, Some(hours), Some(minutes)) if hours < 24 && minutes < 60 => (
            format!("{}Z", &text[..tail_at]),
            sign * (hours * 3600 + minutes * 60),
        ),
        _ => (text.to_owned(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<u64, String> {
        parse_timestamp(text).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
    }

    #[test]
    fn whole_numbers_are_refused_in_plain_words() {
        // Each as clap shows it: the error alone.
        let status = |text| whole(100u16, 999)(text).map(drop);
        let credits = |text| whole(0, i64::MAX)(text).map(drop);
        let amount = |text| whole(i64::MIN, i64::MAX)(text).map(drop);
        assert_eq!(whole(100u16, 999)(" 429 "), Ok(429));
        assert_eq!(whole(0, i64::MAX)("0"), Ok(0));
        assert_eq!(whole(i64::MIN, i64::MAX)("-5"), Ok(-5));
        let from = |min: &str, max: &str| format!("expected a whole number from {min} to {max}");
        let (big, small) = (i64::MAX.to_string(), i64::MIN.to_string());
        for (said, why) in [
            (
                status("99"),
                format!("99 is less than 100: {}", from("100", "999")),
            ),
            (
                status("1000"),
                format!("1000 is more than 999: {}", from("100", "999")),
            ),
            (
                status("99999"),
                format!("99999 is too large: {}", from("100", "999")),
            ),
            (
                status("4.5"),
                format!("4.5 is not a whole number: {}", from("100", "999")),
            ),
            (status(""), format!("nothing given: {}", from("100", "999"))),
            (
                credits("-5"),
                format!("-5 is negative: {}", from("0", &big)),
            ),
            // Negative, for a type that has no negative numbers.
            (
                status("-400"),
                format!("-400 is less than 100: {}", from("100", "999")),
            ),
            (
                whole(0u64, 9)("-5").map(drop),
                format!("-5 is negative: {}", from("0", "9")),
            ),
            (
                whole(0u64, 9)("-99999999999999999999").map(drop),
                format!("-99999999999999999999 is negative: {}", from("0", "9")),
            ),
            (
                whole(0u64, 9)("--5").map(drop),
                format!("--5 is not a whole number: {}", from("0", "9")),
            ),
            // Repeated escaped: an escape sequence never reaches the terminal.
            (
                whole(0u64, 9)("\u{1b}[2J").map(drop),
                format!("\\u{{1b}}[2J is not a whole number: {}", from("0", "9")),
            ),
            (
                amount("-99999999999999999999"),
                format!("-99999999999999999999 is too small: {}", from(&small, &big)),
            ),
        ] {
            assert_eq!(said, Err(why));
        }
    }

    /// A duration reads as humantime reads it; a negative one is said to be
    /// negative, and every refusal ends with the example given.
    #[test]
    fn durations_are_refused_in_plain_words() {
        assert_eq!(parse_duration(" 90m ", "x"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("-5s", "10s"),
            Err("-5s is negative: expected a duration such as 10s".to_owned())
        );
        let unknown = parse_duration("5x", "10s").unwrap_err();
        assert!(unknown.starts_with("unknown time unit \"x\""), "{unknown}");
        assert!(
            unknown.ends_with(": expected a duration such as 10s"),
            "{unknown}"
        );
        let not_a_number = parse_duration("-x", "10s").unwrap_err();
        assert!(!not_a_number.contains("negative"), "{not_a_number}");
        // Not a duration at all, or past its number: said so, the text
        // repeated escaped (an escape sequence is not sent to the terminal).
        for (text, why) in [
            ("forever", "forever is not a duration"),
            ("", "nothing given"),
            (
                "5\u{1b}[2J",
                "5\\u{1b}[2J is not a duration (invalid character at 1)",
            ),
        ] {
            let refused = parse_duration(text, "10s").unwrap_err();
            assert_eq!(refused, format!("{why}: expected a duration such as 10s"));
        }
    }

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(secs("2024-05-01T12:00:00Z"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-01t12:00:00z"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-01T14:00:00+02:00"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-01T07:30:00-04:30"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-01T12:00:00.250Z"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-01T12:00:00+00:00"), Ok(1_714_564_800));
        assert_eq!(secs("2024-05-02T11:59:00+23:59"), Ok(1_714_564_800));
        assert_eq!(secs("9999-12-31T23:59:59Z"), Ok(LAST_SECOND_OF_9999));
    }

    #[test]
    fn bad_timestamps_say_what_is_expected() {
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:00:00+25:00",
            // An offset is digits, hours below 24, minutes below 60.
            "2024-05-01T12:00:00+24:00",
            "2024-05-01T12:00:00+02:60",
            "2024-05-01T12:00:00+0a:00",
            "2024-05-01T12:00:00+02:0a",
            "ééééééé",
            "1970-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-00:01",
        ] {
            let e = parse_timestamp(bad).unwrap_err();
            assert!(e.contains("expected RFC 3339"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn dialects_parse_and_unknown_ones_list_the_valid() {
        assert_eq!(parse_dialect("envelope"), Ok(Dialect::Envelope));
        let e = parse_dialect("soap").unwrap_err().to_string();
        for d in Dialect::ALL {
            assert!(e.contains(d.name()), "{e}");
        }
    }
}
