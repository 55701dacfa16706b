use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Rejection;
use crate::rejection::{from_urlencoded_error, invalid_field, is_integer_error};

/// Query strings whose errors name the parameter: a missing one is
/// `missing_field`, a bad value `validation_error` with a violation at it,
/// as is a name or value that is not UTF-8 once percent-decoded (`q=%FF`),
/// which axum's `Query` reads with U+FFFD in place of the bytes.
///
/// ```
/// use serde::Deserialize;
/// use tollgate_axum::Query;
///
/// #[derive(Deserialize)]
/// struct Page { page: u32 }
///
/// let err = Query::<Page>::from_query("page=abc").err().unwrap().into_api_error();
/// assert_eq!(err.code(), "validation_error");
/// assert_eq!(err.violations()[0].field, "page");
/// let err = Query::<Page>::from_query("").err().unwrap().into_api_error();
/// assert_eq!(err.details()["field"], "page");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> Query<T> {
    /// Reads a query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Query<T>, Rejection> {
        from_urlencoded(query.as_bytes()).map(Query)
    }
}

/// Reads URL-encoded pairs (a query string, a form body), an error naming
/// the field.
pub(super) fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    if let Some(field) = not_utf8(bytes) {
        let message = "not valid UTF-8 once percent-decoded";
        return Err(Rejection::from(invalid_field(
            &field,
            "invalid_value",
            message,
        )));
    }
    read_urlencoded(bytes).map_err(|(field, message)| {
        let integer = if is_integer_error(&message) {
            integer_type::<T>(bytes, &field)
        } else {
            None
        };
        Rejection::from(from_urlencoded_error(&field, &message, integer))
    })
}

/// The name of the first pair whose name or value is not UTF-8 once
/// percent-decoded (`q=%FF`), as the path refuses it: `form_urlencoded`
/// would read each bad byte as U+FFFD, and the handler be given a value the
/// client never sent.
fn not_utf8(bytes: &[u8]) -> Option<String> {
    if bytes.is_ascii() && !bytes.contains(&b'%') {
        return None;
    }
    let utf8 = |part: &[u8]| percent_encoding::percent_decode(part).decode_utf8().is_ok();
    bytes.split(|&b| b == b'&').find_map(|pair| {
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let (name, value) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        // The name as the handler would have read it, `+` and all; one
        // that is not UTF-8 itself as it was sent (`q%FF`), not with U+FFFD.
        let named = || {
            form_urlencoded::parse(name)
                .next()
                .map(|(n, _)| n.into_owned())
                .unwrap_or_default()
        };
        if !utf8(name) {
            Some(as_sent(name))
        } else {
            (!utf8(value)).then(named)
        }
    })
}

/// A query's part as it was sent, its bytes past ASCII percent-encoded.
fn as_sent(part: &[u8]) -> String {
    part.iter()
        .map(|&b| match b {
            0x20..0x7f => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `T` from URL-encoded pairs, or the failing field's path and serde's
/// message.
fn read_urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (String, String)> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| (e.path().to_string(), e.inner().to_string()))
}

/// The most bytes of pairs read again by [`integer_type`].
const REREAD_MAX: usize = 16 * 1024;

/// Rust's integer types that serde_urlencoded reads (not `u128` and
/// `i128`): name, least and greatest value, and the whole numbers just
/// outside them.
const INTEGERS: [(&str, &str, &str, &str, &str); 8] = [
    ("i8", "-129", "-128", "127", "128"),
    ("u8", "-1", "0", "255", "256"),
    ("i16", "-32769", "-32768", "32767", "32768"),
    ("u16", "-1", "0", "65535", "65536"),
    (
        "i32",
        "-2147483649",
        "-2147483648",
        "2147483647",
        "2147483648",
    ),
    ("u32", "-1", "0", "4294967295", "4294967296"),
    (
        "i64",
        "-9223372036854775809",
        "-9223372036854775808",
        "9223372036854775807",
        "9223372036854775808",
    ),
    (
        "u64",
        "-1",
        "0",
        "18446744073709551615",
        "18446744073709551616",
    ),
];

/// The integer type `T` reads `field` as: the one whose least and greatest
/// values it takes there and whose neighbours outside it refuses. Found by
/// reading the pairs again with those values in the field, because
/// serde_urlencoded's errors are Rust's own (`number too large to fit in
/// target type`), which do not name the type. `None` for a field given
/// other than once, pairs past [`REREAD_MAX`], or a type that is none of
/// Rust's integers (a `NonZeroU8` say, or a parser of its own).
fn integer_type<T: DeserializeOwned>(bytes: &[u8], field: &str) -> Option<&'static str> {
    if bytes.len() > REREAD_MAX {
        return None;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    if pairs.iter().filter(|(name, _)| name == field).count() != 1 {
        return None;
    }
    // Whether `T` takes `value` in the field: a failure elsewhere, which
    // the first read did not reach, does not count against it.
    let takes = |value: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, was) in &pairs {
            query.append_pair(name, if name == field { value } else { was });
        }
        match read_urlencoded::<T>(query.finish().as_bytes()) {
            Ok(_) => true,
            Err((failed, _)) => failed != field,
        }
    };
    INTEGERS
        .into_iter()
        .find(|(_, below, min, max, above)| {
            takes(max) && !takes(above) && takes(min) && !takes(below)
        })
        .map(|(name, ..)| name)
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::from_query(parts.uri.query().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Params {
        page: Option<u32>,
        small: Option<i8>,
        ratio: Option<f64>,
        all: Option<bool>,
        id: Option<u64>,
        count: Option<std::num::NonZeroU8>,
        #[serde(default, deserialize_with = "own_parser")]
        own: u16,
    }

    /// A field read by a parser of its own: a `u16` from 1 to 300.
    fn own_parser<'de, D: serde::Deserializer<'de>>(de: D) -> Result<u16, D::Error> {
        let n: u16 = serde::Deserialize::deserialize(de)?;
        match n {
            1..=300 => Ok(n),
            _ => Err(serde::de::Error::custom("must be from 1 to 300")),
        }
    }

    /// A name or value that is not UTF-8 once percent-decoded is refused at
    /// its field, as in a path, not read with U+FFFD in place of its bytes.
    #[test]
    fn a_value_that_is_not_utf8_is_refused_at_its_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Search {
            q: Option<String>,
            limit: Option<u8>,
        }
        for (query, field) in [
            ("q=%FF%FE&limit=1", "q"),
            ("limit=1&q=caf%C3", "q"),
            ("q%FF=1", "q%FF"),
            ("q\u{e9}%ff=1", "q%C3%A9%ff"),
        ] {
            let err = Query::<Search>::from_query(query)
                .unwrap_err()
                .into_api_error();
            assert_eq!(err.code(), "validation_error", "{query}");
            assert_eq!(err.violations()[0].field, field, "{query}");
            assert_eq!(
                err.violations()[0].message,
                "not valid UTF-8 once percent-decoded"
            );
        }
        let Query(ok) = Query::<Search>::from_query("q=caf%C3%A9+au+lait&limit=2").unwrap();
        assert_eq!(ok.q.as_deref(), Some("café au lait"));
    }

    /// A value Rust's parsers refuse is told in the caller's terms, not in
    /// theirs (`number too large to fit in target type`), with the numbers
    /// the field takes when it is one of Rust's integers.
    #[test]
    fn a_value_that_does_not_parse_is_told_in_the_callers_terms() {
        let u32s = "expected a whole number from 0 to 4294967295";
        let i8s = "expected a whole number from -128 to 127";
        for (query, field, message) in [
            ("page=abc", "page", u32s.to_owned()),
            ("page=1.5", "page", u32s.to_owned()),
            ("page=-5", "page", u32s.to_owned()),
            ("page=", "page", format!("nothing given: {u32s}")),
            (
                "page=99999999999",
                "page",
                format!("the number is too large: {u32s}"),
            ),
            (
                "small=-200",
                "small",
                format!("the number is too small: {i8s}"),
            ),
            // The failure of a field read later does not hide the range.
            (
                "small=200&ratio=x",
                "small",
                format!("the number is too large: {i8s}"),
            ),
            (
                "id=18446744073709551616",
                "id",
                "the number is too large: expected a whole number from 0 to 18446744073709551615"
                    .to_owned(),
            ),
            ("ratio=x", "ratio", "expected a number".to_owned()),
            ("all=yes", "all", "expected true or false".to_owned()),
            // Not one of Rust's integers: no range is guessed.
            (
                "count=0",
                "count",
                "invalid value: integer `0`, expected a whole number from 1 to 255".to_owned(),
            ),
            ("count=300", "count", "the number is too large".to_owned()),
            ("own=70000", "own", "the number is too large".to_owned()),
        ] {
            let err = Query::<Params>::from_query(query)
                .err()
                .unwrap()
                .into_api_error();
            assert_eq!(err.code(), "validation_error", "{query}");
            let violation = &err.violations()[0];
            assert_eq!(
                (&*violation.field, &*violation.message),
                (field, &*message),
                "{query}"
            );
            assert_eq!(err.message(), format!("{field}: {message}"), "{query}");
        }
        // Past 16 KiB of pairs, the query is not read again to find the type.
        let long = format!("page=x&pad={}", "p".repeat(REREAD_MAX));
        let err = Query::<Params>::from_query(&long)
            .err()
            .unwrap()
            .into_api_error();
        assert_eq!(
            err.violations()[0].message,
            "expected a whole number (digits only)"
        );
        // axum's own `Query`, behind the gate, reads the same.
        let text =
            "Failed to deserialize query string: page: number too large to fit in target type";
        let err = crate::rejection::recognise(400, text, None, false).unwrap();
        assert_eq!(err.violations()[0].message, "the number is too large");
    }
}
