//! A body read in the charset it declares.

use std::borrow::Cow;

use http::HeaderMap;

/// A response body as UTF-8: read in the charset its `Content-Type` or
/// byte order mark names, as [`decode`](crate::decode) reads it; borrowed
/// as it came when it names none, or is UTF-8 already.
///
/// ```
/// use http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", "text/plain; charset=iso-8859-1".parse().unwrap());
/// assert_eq!(&*tollgate::body_as_utf8(&headers, b"caf\xe9"), "café".as_bytes());
/// assert_eq!(&*tollgate::body_as_utf8(&headers, "café".as_bytes()), "café".as_bytes());
/// ```
pub fn body_as_utf8<'a>(headers: &HeaderMap, body: &'a [u8]) -> Cow<'a, [u8]> {
    match to_utf8(headers, body) {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(body),
    }
}

/// Whether a body labelled with charset `label` (`iso-8859-1`, `Shift_JIS`)
/// is read in it, as [`body_as_utf8`] reads it; else it is read as UTF-8.
/// A label of the `replacement` encoding (`iso-2022-kr`, `hz-gb-2312`),
/// which reads any body as one U+FFFD, is none read.
///
/// ```
/// assert!(tollgate::reads_charset("ISO-8859-1"));
/// assert!(!tollgate::reads_charset("klingon"));
/// assert!(!tollgate::reads_charset("iso-2022-kr"));
/// ```
pub fn reads_charset(label: &str) -> bool {
    known_encoding(label).is_some()
}

/// The encoding `label` names, unless it is none read ([`reads_charset`]).
fn known_encoding(label: &str) -> Option<&'static encoding_rs::Encoding> {
    encoding_rs::Encoding::for_label(label.as_bytes())
        .filter(|encoding| *encoding != encoding_rs::REPLACEMENT)
}

/// A body in the charset its `Content-Type` names (`charset=iso-8859-1`),
/// or its byte order mark names, as UTF-8; `None` when it names no charset
/// known, or is UTF-8 whatever its label says: servers that label every
/// body ISO-8859-1 send UTF-8, and a text in a single-byte charset is
/// hardly ever valid UTF-8 too; nor is a text in UTF-16 without a NUL byte
/// (any of ASCII, JSON's braces and quotes, has one). A label not read
/// ([`reads_charset`]) is no charset known.
fn to_utf8(headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
    let labelled = || {
        let content_type = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
        known_encoding(crate::headers::charset(content_type)?)
    };
    let encoding = match Encoding::for_bom(body) {
        // A byte order mark decides over the label, as it does in browsers.
        Some((encoding, _)) => encoding,
        None => labelled()?,
    };
    let utf16 = encoding == UTF_16LE || encoding == UTF_16BE;
    if encoding == UTF_8
        || (encoding.is_ascii_compatible() && std::str::from_utf8(body).is_ok())
        || (utf16 && !body.contains(&0) && std::str::from_utf8(body).is_ok())
    {
        return None;
    }
    Some(encoding.decode(body).0.into_owned().into_bytes())
}
