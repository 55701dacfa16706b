//! HTTP/1.1 response text: written by `render`, read back by `decode`.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Writes `HTTP/1.1 <status> <reason>`, the headers in the order given, a
/// `Content-Length` (unless given), a blank line and the body. Head lines end
/// with CRLF, as on the wire; one `\n` follows the body for the terminal and
/// is not part of it (`Content-Length` says where the body ends).
pub(crate) fn write_response(
    out: &mut dyn Write,
    status: StatusCode,
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = Vec::with_capacity(256);
    let reason = status.canonical_reason().unwrap_or("");
    write!(head, "HTTP/1.1 {} {reason}\r\n", status.as_str())?;
    for (name, value) in headers {
        head.extend_from_slice(header_case(name.as_str()).as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !headers.iter().any(|(name, _)| name == CONTENT_LENGTH) {
        write!(head, "Content-Length: {}\r\n", body.len())?;
    }
    head.extend_from_slice(b"\r\n");
    out.write_all(&head)?;
    out.write_all(body)?;
    out.write_all(b"\n")
}

/// A header name as usually written: `X-Request-Id`, `WWW-Authenticate`,
/// `RateLimit-Policy` (HTTP names are case-insensitive; this is for people).
pub(crate) fn header_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, part) in name.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        match part.to_ascii_lowercase().as_str() {
            "www" => out.push_str("WWW"),
            "ratelimit" => out.push_str("RateLimit"),
            "etag" => out.push_str("ETag"),
            lower => {
                let mut chars = lower.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                    out.push_str(chars.as_str());
                }
            }
        }
    }
    out
}

/// Whether `input` is a whole response (`HTTP/1.1 429 …`) rather than a
/// body; a byte order mark before it (a file saved as "UTF-8 with BOM") is
/// passed over.
pub(crate) fn is_response(input: &[u8]) -> bool {
    starts_with_http(strip_bom(input))
}

/// Whether the text starts with `HTTP/`, after blank lines.
fn starts_with_http(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(b"HTTP/")
}

/// `input` without the UTF-8 byte order mark it starts with, if any.
pub(crate) fn strip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
}

/// How many unreadable header lines are told one by one.
const MAX_SKIPPED: usize = 20;

/// A response read from text.
#[derive(Debug)]
pub(crate) struct Response<'a> {
    /// The status of the last response (after any interim, redirect or
    /// challenge ones).
    pub(crate) status: u16,
    /// Its headers, repeated names kept.
    pub(crate) headers: HeaderMap,
    /// The body: `Content-Length` bytes when that header fits and no
    /// `Content-Encoding` or `Transfer-Encoding` is given, else the rest.
    pub(crate) body: &'a [u8],
    /// Header lines that were skipped, with why.
    pub(crate) skipped: Vec<Skipped>,
}

/// Header lines left out of a response's head: one, or the many past those
/// told one by one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// The 1-based line of the input, when one line is meant.
    pub(crate) line: Option<usize>,
    /// Why, with the line's text.
    pub(crate) why: String,
}

/// Why a response's head could not be read (said without its line, which
/// the caller gives with the file's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeadError {
    /// 1-based line of the input.
    pub(crate) line: usize,
    /// The offending line, shortened.
    pub(crate) found: String,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a status line such as `HTTP/1.1 429 Too Many Requests`, found {:?}",
            self.found
        )
    }
}

impl std::error::Error for HeadError {}

/// Reads a response as `tollgate render` or `curl -i` prints it: status
/// line, headers, blank line, body; CRLF or LF line ends; a byte order mark
/// before it passed over. When several
/// responses are printed (interim `1xx` ones, `curl -L` redirects, a proxy's
/// `CONNECT`, an auth challenge), every one followed by another status line
/// is skipped, as is a redirect's, a challenge's or a `CONNECT`'s whose body
/// is another response (curl prints their `Content-Length`, not their
/// body): the last is read.
pub(crate) fn parse_response(input: &[u8]) -> Result<Response<'_>, HeadError> {
    let input = strip_bom(input);
    let mut rest = trim_start(input);
    let mut line_base = 1 + count_lines(&input[..input.len() - rest.len()]);
    loop {
        let (head, body) = split_head(rest);
        let mut lines = head.split(|&b| b == b'\n').map(strip_cr);
        let status_line = lines.next().unwrap_or_default();
        let status = parse_status_line(status_line).ok_or_else(|| HeadError {
            line: line_base,
            found: shorten(status_line),
        })?;
        let mut fields = Fields::default();
        for (i, line) in lines.enumerate() {
            if fields.full {
                break;
            }
            fields.read(line_base + 1 + i, line);
        }
        let (headers, skipped) = fields.finish();
        // curl prints a body decoded (`--compressed`) under the encoded
        // `Content-Length`: with a `Content-Encoding`, the length says nothing.
        // Nor with a `Transfer-Encoding`, which overrides it (RFC 9112 §6.3).
        // A length is digits only (RFC 9110 §8.6): `usize`'s parser would
        // also take a sign.
        let length = headers
            .get(CONTENT_LENGTH)
            .filter(|_| {
                !headers.contains_key(CONTENT_ENCODING) && !headers.contains_key(TRANSFER_ENCODING)
            })
            .map(|v| v.as_bytes().trim_ascii())
            .filter(|v| v.iter().all(u8::is_ascii_digit))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
        // The body, and what follows it: the next response when curl printed
        // several. Curl drops the bodies of the redirects and challenges it
        // follows (and a proxy's `200 Connection established` has none): a
        // body of one of those that is itself a response was never printed,
        // whatever its `Content-Length`. Any other response's body is its
        // `Content-Length`, even one that reads as a response (a gateway's
        // 502 quoting its backend's answer); without a length that fits, a
        // body that is a response is the next one, and any other runs to the
        // end. An interim `1xx` is always followed by another response.
        let interim = (100..200).contains(&status) && starts_with_http(body);
        let followed = matches!(status, 200..=399 | 401 | 407);
        let (body, next) = match length {
            _ if interim || (followed && starts_with_head(body)) => (&body[..0], body),
            Some(n) if n <= body.len() => body.split_at(n),
            _ if starts_with_head(body) => (&body[..0], body),
            _ => (body, &body[body.len()..]),
        };
        if interim || starts_with_status_line(next) {
            line_base += count_lines(&rest[..rest.len() - next.len()]);
            let trimmed = trim_start(next);
            line_base += count_lines(&next[..next.len() - trimmed.len()]);
            rest = trimmed;
            continue;
        }
        return Ok(Response {
            status,
            headers,
            body,
            skipped,
        });
    }
}

/// `body` with its chunked transfer coding undone, when it is still chunked
/// (`curl --raw`, `nc`); `None` when it is not (curl without `--raw` prints
/// the body decoded under the same `Transfer-Encoding: chunked`), or when
/// it is short of its first chunk (a decoded body whose first line is hex).
/// A body cut off in a later chunk keeps what came; chunk extensions and trailers are
/// left out. Written here: hyper's decoder works on a connection, not on
/// bytes already read.
pub(crate) fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        // Cut off inside a size line: what came before it, if anything did.
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return (!out.is_empty()).then_some(out);
        };
        let line = strip_cr(&rest[..end]);
        let size = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = usize::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()?;
        rest = &rest[end + 1..];
        if size == 0 {
            // A last chunk is followed by a blank line (or trailers): a lone
            // `0` line is a body of hex digits, as below.
            return (!(out.is_empty() && rest.is_empty())).then_some(out);
        }
        let taken = size.min(rest.len());
        if taken < size && out.is_empty() {
            // The first chunk cut short: a body curl already decoded whose
            // first line is hex (`403`, `cafe`) is far likelier than one
            // still chunked and cut before its first chunk ended.
            return None;
        }
        out.extend_from_slice(&rest[..taken]);
        rest = &rest[taken..];
        rest = rest.strip_prefix(b"\r").unwrap_or(rest);
        rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        if rest.is_empty() {
            // Nothing after the one size line: a body of hex digits (`429`,
            // `cafe`, as `curl -si` prints a chunked body it decoded), not
            // a chunk.
            return (!out.is_empty()).then_some(out);
        }
    }
}

/// A body with its content codings undone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decompressed {
    /// The body as the server wrote it, at most `max` bytes.
    pub(crate) body: Vec<u8>,
    /// What was not as it should be, the body all the same: a stream that
    /// ends early, or that goes on past `max` bytes (`gzip stream ends
    /// early; …`).
    pub(crate) warning: Option<String>,
}

/// `body` with the content codings `content_encoding` names undone, the last
/// applied first (`gzip`, `x-gzip`, `deflate`; `identity` is none), as a
/// response saved without decompressing holds it (`curl -i` sending an
/// `Accept-Encoding` of its own). `Ok(None)` when there is nothing to undo:
/// no coding, or a body that is not in the coding named, as `curl
/// --compressed -i` prints it (the header kept, the body decompressed).
/// `Err` says why the body cannot be undone: a coding not read here (`br`,
/// `zstd`), or a stream that is broken.
pub(crate) fn decompress(
    body: &[u8],
    content_encoding: &str,
    max: usize,
) -> Result<Option<Decompressed>, String> {
    use std::io::Read;
    let codings: Vec<String> = content_encoding
        .split(',')
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    let mut current = Cow::Borrowed(body);
    let mut warning = None;
    for (undone, coding) in codings.iter().rev().enumerate() {
        let decoder: Box<dyn Read + '_> = match coding.as_str() {
            "gzip" | "x-gzip" if current.starts_with(&[0x1f, 0x8b]) => {
                Box::new(flate2::read::MultiGzDecoder::new(&*current))
            }
            "deflate" if is_zlib(&current) => Box::new(flate2::read::ZlibDecoder::new(&*current)),
            // Already decompressed (text is in no coding), or a coding
            // under one that was not undone.
            "gzip" | "x-gzip" | "deflate" if undone == 0 => return Ok(None),
            _ if undone == 0 && std::str::from_utf8(&current).is_ok() => return Ok(None),
            "gzip" | "x-gzip" | "deflate" => {
                return Err(format!(
                    "its Content-Encoding `{}` says `{coding}`, and the body is not, once the \
                     codings after it are undone",
                    clipped(content_encoding)
                ));
            }
            other => {
                return Err(format!(
                    "its Content-Encoding `{}` is not one decode undoes (gzip, deflate): save the \
                     response decompressed (`curl --compressed -i`)",
                    clipped(other)
                ));
            }
        };
        let mut out = Vec::new();
        let read = decoder.take(max as u64 + 1).read_to_end(&mut out);
        match read {
            Ok(_) if out.len() > max => {
                out.truncate(max);
                warning = Some(format!(
                    "{coding} decompresses to more than {} MiB; decoded the first {} MiB only",
                    max >> 20,
                    max >> 20
                ));
            }
            Ok(_) => {}
            // A response cut short keeps what came, as an unchunked one does.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                warning = Some(format!(
                    "{coding} stream ends early; decoded the {} bytes it gave",
                    out.len()
                ));
            }
            Err(e) => return Err(format!("its {coding} stream is broken ({e})")),
        }
        current = Cow::Owned(out);
    }
    match current {
        Cow::Owned(body) => Ok(Some(Decompressed { body, warning })),
        Cow::Borrowed(_) => Ok(None),
    }
}

/// Whether `body` starts with a zlib header (RFC 1950) as HTTP's `deflate`
/// does: the deflate method, a window that fits, the check bits, and no
/// preset dictionary (which HTTP never names).
fn is_zlib(body: &[u8]) -> bool {
    let [method, flags, ..] = *body else {
        return false;
    };
    method & 0x0f == 8
        && method >> 4 <= 7
        && flags & 0x20 == 0
        && u16::from_be_bytes([method, flags]) % 31 == 0
}

/// Whether the text's first line (after blank lines) is a status line, as
/// when `curl -i` prints the responses before the last one (`-L` redirects,
/// a proxy's `CONNECT`, an auth challenge).
fn starts_with_status_line(text: &[u8]) -> bool {
    let text = trim_start(text);
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    parse_status_line(strip_cr(line)).is_some()
}

fn trim_start(input: &[u8]) -> &[u8] {
    input.trim_ascii_start()
}

fn count_lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}

/// Whether the text starts with a whole response head: a status line, header
/// lines, an empty line. A body that merely reads `HTTP/1.1 502 Bad Gateway`
/// is not one.
fn starts_with_head(text: &[u8]) -> bool {
    let text = trim_start(text);
    starts_with_status_line(text) && split_head(text).0.len() < text.len()
}

/// Splits at the first empty line: (head without its terminator, body).
fn split_head(input: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while let Some(nl) = input[i..].iter().position(|&b| b == b'\n') {
        let at = i + nl;
        let after = &input[at + 1..];
        if after.starts_with(b"\n") {
            return (&input[..at], &after[1..]);
        }
        if after.starts_with(b"\r\n") {
            return (&input[..at], &after[2..]);
        }
        i = at + 1;
    }
    (input, &[])
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `HTTP/1.1 429 Too Many Requests`, `HTTP/2 404`: the three-digit status.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    if !line.starts_with(b"HTTP/") {
        return None;
    }
    let mut parts = line
        .split(u8::is_ascii_whitespace)
        .filter(|p| !p.is_empty());
    let _version = parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (100..=999).contains(&status).then_some(status)
}

/// The header lines of one response, read one by one into a map.
#[derive(Default)]
struct Fields<'a> {
    headers: HeaderMap,
    /// The lines skipped, with why.
    skipped: Vec<Skipped>,
    /// How many more lines were skipped past the first [`MAX_SKIPPED`].
    bad_past_limit: usize,
    /// The field being read, until a line that does not continue it: its
    /// line number, that line, its name and its value so far.
    field: Option<(usize, &'a [u8], HeaderName, Vec<u8>)>,
    /// Whether the map is full: the lines left are left out.
    full: bool,
}

impl<'a> Fields<'a> {
    /// Reads line `at` of the input.
    fn read(&mut self, at: usize, line: &'a [u8]) {
        match parse_header_line(line) {
            Ok(Line::Blank) => {}
            // An obsolete line folding (RFC 9112 §5.2): the field goes on,
            // the fold replaced by one space, as a recipient may do.
            Ok(Line::Fold(more)) => match &mut self.field {
                Some((_, _, _, value)) => {
                    if !value.is_empty() && !more.is_empty() {
                        value.push(b' ');
                    }
                    value.extend_from_slice(more);
                }
                None => self.skip(
                    at,
                    "skipped a folded line that continues no header read",
                    line,
                ),
            },
            Ok(Line::Field(name, value)) => {
                self.end_field();
                self.field = Some((at, line, name, value.to_vec()));
            }
            Err(why) => {
                self.end_field();
                self.skip(at, why, line);
            }
        }
    }

    /// Adds the field being read, whole now, to the map.
    fn end_field(&mut self) {
        let Some((at, line, name, value)) = self.field.take().filter(|_| !self.full) else {
            return;
        };
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            return self.skip(at, "skipped an invalid header value", line);
        };
        if self.headers.try_append(name, value).is_err() {
            self.skipped.push(Skipped {
                line: Some(at),
                why: "more headers than a header map holds; this and the rest are left out"
                    .to_owned(),
            });
            self.full = true;
        }
    }

    /// Tells why line `at` was skipped. A hostile response may hold millions
    /// of bad lines: the first few are told, then how many more there are.
    fn skip(&mut self, at: usize, why: &str, line: &[u8]) {
        if self.skipped.len() == MAX_SKIPPED {
            self.bad_past_limit += 1;
        } else {
            self.skipped.push(Skipped {
                line: Some(at),
                why: format!("{why}: {:?}", shorten(line)),
            });
        }
    }

    /// The headers read, and the lines skipped.
    fn finish(mut self) -> (HeaderMap, Vec<Skipped>) {
        self.end_field();
        if self.bad_past_limit > 0 {
            self.skipped.push(Skipped {
                line: None,
                why: format!(
                    "{} more header lines could not be read and are left out",
                    self.bad_past_limit
                ),
            });
        }
        (self.headers, self.skipped)
    }
}

/// A header line.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// `Name: value`, the value trimmed.
    Field(HeaderName, &'a [u8]),
    /// A line that starts with a space or a tab: more of the field before
    /// it (an obsolete line folding), trimmed.
    Fold(&'a [u8]),
    /// Nothing but white space.
    Blank,
}

/// A header line read, or why it cannot be.
fn parse_header_line(line: &[u8]) -> Result<Line<'_>, &'static str> {
    if line.trim_ascii().is_empty() {
        return Ok(Line::Blank);
    }
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Ok(Line::Fold(line.trim_ascii()));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or("skipped a line with no `:`")?;
    let name = HeaderName::from_bytes(line[..colon].trim_ascii())
        .map_err(|_| "skipped an invalid header name")?;
    Ok(Line::Field(name, line[colon + 1..].trim_ascii()))
}

/// The line for a message: lossy UTF-8, [`clipped`].
fn shorten(line: &[u8]) -> String {
    clipped(&String::from_utf8_lossy(line)).into_owned()
}

/// The most characters of a server's own text (a line, a code, a header's
/// value) a message quotes: a server may send hundreds of kilobytes of it.
const QUOTED: usize = 80;

/// `text`, cut after its first [`QUOTED`] characters, `…` marking the cut.
pub(crate) fn clipped(text: &str) -> Cow<'_, str> {
    clipped_at(text, QUOTED)
}

/// `text`, cut after its first `max` characters, `…` marking the cut.
pub(crate) fn clipped_at(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let headers: Vec<_> = headers
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        let mut out = Vec::new();
        write_response(
            &mut out,
            StatusCode::from_u16(status).unwrap(),
            &headers,
            body,
        )
        .unwrap();
        out
    }

    #[test]
    fn writes_the_wire_form() {
        let out = printed(
            402,
            &[("content-type", "application/json"), ("x-request-id", "r1")],
            b"{}",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 402 Payment Required\r\nContent-Type: application/json\r\nX-Request-Id: r1\r\n\
             Content-Length: 2\r\n\r\n{}\n"
        );
        let out = printed(499, &[], b"");
        assert!(
            out.starts_with(b"HTTP/1.1 499 \r\n"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn reads_back_what_it_writes() {
        let out = printed(
            429,
            &[
                ("retry-after", "30"),
                ("x-request-id", "r1"),
                ("x-request-id", "r2"),
            ],
            b"{\"a\":1}",
        );
        let response = parse_response(&out).unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(response.headers["retry-after"], "30");
        assert_eq!(response.headers.get_all("x-request-id").iter().count(), 2);
        assert_eq!(response.body, b"{\"a\":1}");
        assert!(response.skipped.is_empty());
    }

    #[test]
    fn reads_lf_heads_interim_responses_and_short_bodies() {
        let text =
            b"\nHTTP/1.1 100 Continue\n\nHTTP/2 503\nretry-after: 5\ncontent-length: 99\n\nbusy\n";
        let response = parse_response(text).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.headers["retry-after"], "5");
        assert_eq!(response.body, b"busy\n");

        let response = parse_response(b"HTTP/1.1 404 Not Found\r\nX: y").unwrap();
        assert_eq!((response.status, response.body), (404, &b""[..]));
        assert_eq!(response.headers["x"], "y");
    }

    #[test]
    fn the_last_of_several_responses_is_read() {
        // `curl -siL --digest` through a proxy: the proxy's CONNECT answer, a
        // digest challenge with a body, a redirect, then the real answer.
        let challenge = "<p>log in</p>";
        let text = format!(
            "HTTP/1.1 200 Connection established\r\n\r\n\
             HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"api\"\r\n\
             Content-Length: {}\r\n\r\n{challenge}\
             HTTP/1.1 302 Found\r\nLocation: /v2/scans\r\nContent-Length: 0\r\n\r\n\
             HTTP/2 429\r\nretry-after: 7\r\nno colon\r\ncontent-length: 2\r\n\r\n{{}}",
            challenge.len()
        );
        let response = parse_response(text.as_bytes()).unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(response.headers["retry-after"], "7");
        assert!(!response.headers.contains_key("location"));
        assert_eq!(response.body, b"{}");
        // Lines are still counted from the start of the input.
        assert_eq!(response.skipped.len(), 1);
        assert_eq!(response.skipped[0].line, Some(13), "{:?}", response.skipped);

        // A body that merely mentions HTTP is kept.
        let response =
            parse_response(b"HTTP/1.1 500 Oops\n\nHTTP/1.1 is not the problem\n").unwrap();
        assert_eq!(response.status, 500);
        assert_eq!(response.body, b"HTTP/1.1 is not the problem\n");
    }

    #[test]
    fn a_body_curl_left_out_is_not_taken_from_the_next_response() {
        // `curl -siL`: a redirect and a digest challenge, both followed, their
        // bodies not printed though their lengths are.
        let text = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /b\r\nContent-Length: 5\r\n\r\n\
                     HTTP/1.1 401 Unauthorized\r\nContent-Length: 300\r\n\r\n\
                     HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        let response = parse_response(text).unwrap();
        assert_eq!((response.status, response.body), (404, &b"{}"[..]));
        assert!(!response.headers.contains_key("location"));
    }

    #[test]
    fn a_flood_of_bad_header_lines_is_told_in_brief() {
        let text = format!("HTTP/1.1 500 Oops\n{}\n{{}}", "x\n".repeat(10_000));
        let response = parse_response(text.as_bytes()).unwrap();
        assert_eq!(response.skipped.len(), MAX_SKIPPED + 1);
        let past = &response.skipped[MAX_SKIPPED];
        assert_eq!(past.line, None);
        assert!(past.why.starts_with("9980 more"), "{past:?}");
    }

    #[test]
    fn a_final_answer_whose_body_is_a_response_keeps_it_as_its_body() {
        // A gateway's 400 quoting its backend's answer in full: the quoted
        // 503 is no response curl printed, and its `Retry-After` is not the
        // 400's.
        let quoted = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99\r\n\r\nbackend down";
        let text = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{quoted}",
            quoted.len()
        );
        let response = parse_response(text.as_bytes()).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.body, quoted.as_bytes());
        assert!(!response.headers.contains_key("retry-after"));
        // Without a length, what follows a head is the next response.
        let text = format!("HTTP/1.1 400 Bad Request\r\n\r\n{quoted}");
        assert_eq!(parse_response(text.as_bytes()).unwrap().status, 503);
    }

    #[test]
    fn a_body_that_reads_like_a_status_line_is_a_body() {
        let text = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\
                     Content-Length: 24\r\n\r\nHTTP/1.1 502 Bad Gateway";
        let response = parse_response(text).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.body, b"HTTP/1.1 502 Bad Gateway");
        assert_eq!(response.headers["retry-after"], "30");
    }

    #[test]
    fn a_decoded_body_runs_past_its_encoded_length() {
        let text = b"HTTP/1.1 503 Service Unavailable\r\ncontent-encoding: br\r\n\
                     content-length: 4\r\n\r\n{\"error\":\"unavailable\"}";
        let response = parse_response(text).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.body, br#"{"error":"unavailable"}"#);
        // Without an encoding, the length still ends the body.
        let text = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\n{\"error\"}";
        assert_eq!(parse_response(text).unwrap().body, br#"{"er"#);
    }

    #[test]
    fn a_transfer_coding_overrides_the_content_length() {
        // A server that sends both (RFC 9112 §6.3: the transfer coding
        // wins), as `curl -si` prints its answer, the body decoded.
        let body = br#"{"error":"rate_limit_exceeded"}"#;
        let text = [
            &b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\
               Content-Length: 5\r\n\r\n"[..],
            body,
        ]
        .concat();
        let response = parse_response(&text).unwrap();
        assert_eq!(response.body, body);
        // Still chunked (`curl --raw`): the whole of it, to be dechunked.
        let raw = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\
                    Content-Length: 5\r\n\r\n4\r\nbusy\r\n0\r\n\r\n";
        let response = parse_response(raw).unwrap();
        assert_eq!(dechunk(response.body).unwrap(), b"busy");
    }

    #[test]
    fn a_content_length_that_is_not_digits_says_nothing() {
        // As one that does not fit: the body runs to the end.
        for length in ["+2", "-2", "2, 2", ""] {
            let text = format!("HTTP/1.1 503 Busy\r\nContent-Length: {length}\r\n\r\n{{}}xy");
            let response = parse_response(text.as_bytes()).unwrap();
            assert_eq!(response.body, b"{}xy", "{length:?}");
        }
        let text = b"HTTP/1.1 503 Busy\r\nContent-Length:  2 \r\n\r\n{}xy";
        assert_eq!(parse_response(text).unwrap().body, b"{}");
    }

    #[test]
    fn a_leading_byte_order_mark_is_no_part_of_the_response() {
        let text = b"\xEF\xBB\xBFHTTP/1.1 429 Too Many\r\nRetry-After: 3\r\n\r\n{}";
        assert!(is_response(text));
        let response = parse_response(text).unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(response.headers["retry-after"], "3");
        assert_eq!(response.body, b"{}");
        // Anywhere else, it is no status line.
        assert!(!is_response(b"\n\xEF\xBB\xBFHTTP/1.1 429 x\r\n\r\n"));
    }

    #[test]
    fn bad_lines_are_located() {
        let response =
            parse_response(b"HTTP/1.1 400 Bad\r\nno colon here\r\n bad\r\nok: 1\r\n\r\n").unwrap();
        assert_eq!(response.headers.len(), 1);
        assert_eq!(response.skipped.len(), 2);
        assert_eq!(response.skipped[0].line, Some(2));
        assert!(
            response.skipped[0]
                .why
                .starts_with("skipped a line with no `:`"),
            "{:?}",
            response.skipped
        );

        let e = parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 abc\r\n\r\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("expected a status line"), "{e}");
        assert!(parse_response(b"HTTP/1.1 4000 x\r\n\r\n").is_err());
        // Three characters that are not all digits are no status either.
        assert!(parse_response(b"HTTP/1.1 40x Bad\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/\xff\xfe").is_err());
    }

    /// Blank lines before a response and between responses (as a copied
    /// terminal often holds) are lines of the input: what is told of the
    /// head is located past them.
    #[test]
    fn blank_lines_around_responses_count_in_their_line_numbers() {
        let response =
            parse_response(b"\r\n\r\nHTTP/1.1 400 Bad\r\nno colon here\r\n\r\n{}").unwrap();
        assert_eq!(response.skipped.len(), 1);
        assert_eq!(response.skipped[0].line, Some(4));
        let e = parse_response(b"\n\n\nHTTP/1.1 abc\r\n\r\n").unwrap_err();
        assert_eq!(e.line, 4);
        let text = b"HTTP/1.1 100 Continue\r\n\r\n\r\n\r\nHTTP/1.1 400 Bad\r\nno colon\r\n\r\n{}";
        let response = parse_response(text).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.skipped[0].line, Some(6), "{:?}", response.skipped);
    }

    /// A line that cannot be read is quoted in what is told of it, cut
    /// after 80 characters.
    #[test]
    fn bad_lines_are_quoted_in_brief() {
        let response = parse_response(b"HTTP/1.1 400 Bad\r\nno colon here\r\n\r\n").unwrap();
        assert_eq!(
            response.skipped[0].why,
            "skipped a line with no `:`: \"no colon here\""
        );
        let long = format!("HTTP/1.1 {}\r\n\r\n", "x".repeat(200));
        let e = parse_response(long.as_bytes()).unwrap_err();
        assert_eq!(e.found, format!("HTTP/1.1 {}…", "x".repeat(71)));
    }

    #[test]
    fn folded_header_lines_continue_the_header_before_them() {
        // RFC 9112 §5.2: each obs-fold may be replaced by a space.
        let response = parse_response(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"api\",\r\n  \
              error=\"invalid_token\"\r\nRetry-After:\r\n\t30 \r\nX-Request-Id: req_1\r\n\
              X-Note: a\r\n \r\n\tb\r\n\r\n{}",
        )
        .unwrap();
        assert!(response.skipped.is_empty(), "{:?}", response.skipped);
        let header = |name: &str| response.headers.get(name).unwrap().to_str().unwrap();
        assert_eq!(
            header("www-authenticate"),
            r#"Bearer realm="api", error="invalid_token""#
        );
        assert_eq!(header("retry-after"), "30");
        assert_eq!(header("x-request-id"), "req_1");
        assert_eq!(header("x-note"), "a b");
        assert_eq!(response.body, b"{}");
        // The last of several values of a name is the one continued.
        let response = parse_response(b"HTTP/1.1 429 x\nVary: a\nVary: b,\n c\n\n").unwrap();
        let vary: Vec<_> = response.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["a", "b, c"]);
        // A fold with no header before it, or after a line skipped, is
        // skipped: it continues nothing that was read.
        let response =
            parse_response(b"HTTP/1.1 400 Bad\r\n first\r\nno colon\r\n more\r\nok: 1\r\n\r\n")
                .unwrap();
        assert_eq!(response.headers.len(), 1);
        assert_eq!(response.headers["ok"], "1");
        assert_eq!(response.skipped.len(), 3, "{:?}", response.skipped);
        assert_eq!(response.skipped[0].line, Some(2));
        assert!(
            response.skipped[0]
                .why
                .starts_with("skipped a folded line that continues no header read"),
            "{:?}",
            response.skipped
        );
        // A value that is no header value, once joined, is skipped whole.
        let response =
            parse_response(b"HTTP/1.1 400 Bad\r\nX-A: 1\r\n \x7f\r\nok: 1\r\n\r\n").unwrap();
        assert_eq!(response.headers.len(), 1);
        assert_eq!(response.skipped[0].line, Some(2));
        assert!(
            response.skipped[0]
                .why
                .starts_with("skipped an invalid header value"),
            "{:?}",
            response.skipped
        );
    }

    #[test]
    fn more_headers_than_a_map_holds_are_left_out_not_a_panic() {
        let mut text = b"HTTP/1.1 429 Too Many\r\n".to_vec();
        for i in 0..40_000 {
            text.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n{}");
        let response = parse_response(&text).unwrap();
        assert_eq!((response.status, response.body), (429, &b"{}"[..]));
        assert!(response.headers.len() > 1000);
        assert_eq!(response.skipped.len(), 1, "{:?}", response.skipped);
        assert!(
            response.skipped[0]
                .why
                .contains("more headers than a header map holds")
        );
    }

    #[test]
    fn a_body_still_chunked_is_dechunked_and_others_are_not() {
        let chunked =
            b"40\r\n{\"error\":{\"code\":\"not_found\",\"message\":\"No such scan, at all.\"}}\r\n\
                        3;ext=1\r\n   \r\n0\r\nX-Trailer: t\r\n\r\n";
        let body = dechunk(chunked).unwrap();
        assert!(
            body.starts_with(b"{\"error\"") && body.ends_with(b"}}   "),
            "{body:?}"
        );
        // Cut off mid-chunk, or inside the next size line: what came.
        assert_eq!(dechunk(b"2\r\n{\"\r\na\r\na\":").unwrap(), b"{\"a\":");
        assert_eq!(dechunk(b"5\r\nhello\r\n3").unwrap(), b"hello");
        // Short of its first chunk: a body already decoded whose first line
        // is hex, as `curl -si` prints it.
        assert_eq!(dechunk(b"403\r\nForbidden: missing scope admin\r\n"), None);
        assert_eq!(dechunk(b"abc\r\nthe service failed\r\n"), None);
        // A body curl already decoded, or any JSON, is not chunked.
        assert_eq!(dechunk(b"{\"error\":\"x\"}"), None);
        assert_eq!(dechunk(b"cafe babe\r\n"), None);
        assert_eq!(dechunk(b""), None);
        assert_eq!(dechunk(b"429\n"), None);
        assert_eq!(dechunk(b"0\n"), None);
        assert_eq!(dechunk(b"cafe\r\n"), None);
        assert_eq!(dechunk(b"0\r\n\r\n").unwrap(), b"");
    }

    /// A chunk size is hex digits only, at most 16 of them (zeros in front
    /// count): a signed number or a longer one is no size, so the body is
    /// not chunked.
    #[test]
    fn a_chunk_size_is_at_most_sixteen_hex_digits() {
        let sized = |size: &str| dechunk(format!("{size}\r\nhello\r\n0\r\n\r\n").as_bytes());
        assert_eq!(sized("5").unwrap(), b"hello");
        assert_eq!(sized("0000000000000005").unwrap(), b"hello");
        assert_eq!(sized("00000000000000005"), None);
        assert_eq!(sized("+5"), None);
    }

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(body: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    fn undone(body: &[u8], codings: &str) -> Vec<u8> {
        decompress(body, codings, 1 << 20).unwrap().unwrap().body
    }

    #[test]
    fn content_codings_are_undone_the_last_applied_first() {
        let body = br#"{"message":"nope"}"#;
        assert_eq!(undone(&gzip(body), "gzip"), body);
        assert_eq!(undone(&gzip(body), "X-GZIP"), body);
        assert_eq!(undone(&zlib(body), "deflate"), body);
        assert_eq!(undone(&gzip(&zlib(body)), "deflate, gzip"), body);
        assert_eq!(undone(&gzip(body), "identity, gzip, identity"), body);
        // Two gzip members, as a server that flushes may write them.
        let members = [gzip(b"{\"message\":"), gzip(b"\"nope\"}")].concat();
        assert_eq!(undone(&members, "gzip"), body);
    }

    /// `curl --compressed -i` keeps `Content-Encoding` over the body it
    /// decompressed: that body, and one with no coding, are read as they are.
    #[test]
    fn a_body_not_in_its_coding_is_left_as_it_is() {
        let body = br#"{"message":"nope"}"#;
        for codings in [
            "",
            "identity",
            "gzip",
            "deflate",
            "br",
            "zstd",
            "deflate, gzip",
        ] {
            assert_eq!(decompress(body, codings, 1 << 20), Ok(None), "{codings:?}");
        }
        // The outer coding undone, the inner one not there.
        let why = decompress(&gzip(body), "deflate, gzip", 1 << 20).unwrap_err();
        assert!(why.contains("says `deflate`"), "{why}");
    }

    #[test]
    fn a_coding_not_read_here_or_a_broken_stream_is_said() {
        let why = decompress(b"\x8b\x03\x80\xff", "br", 1 << 20).unwrap_err();
        assert!(why.contains("`br` is not one decode undoes"), "{why}");
        let why = decompress(b"\x1f\x8bxxxxxxxxxxxx", "gzip", 1 << 20).unwrap_err();
        assert!(why.contains("gzip stream is broken"), "{why}");
    }

    /// A body `curl --compressed` decompressed need not be UTF-8 (a
    /// Latin-1 page): under a gzip or deflate it is not in, it is still
    /// read as it came, not told as a broken coding.
    #[test]
    fn a_decompressed_body_not_in_utf8_is_left_as_it_is() {
        // `é` in Latin-1: no UTF-8.
        let latin1 = b"{\"message\":\"caf\xe9\"}";
        for codings in ["gzip", "x-gzip", "deflate"] {
            assert_eq!(decompress(latin1, codings, 1 << 20), Ok(None), "{codings}");
        }
    }

    /// A stream cut before it gave a byte has nothing to keep: it is
    /// broken, not a body of nothing that ends early.
    #[test]
    fn a_stream_cut_inside_its_header_is_broken() {
        let compressed = gzip(br#"{"message":"nope"}"#);
        let why = decompress(&compressed[..5], "gzip", 1 << 20).unwrap_err();
        assert!(why.contains("gzip stream is broken"), "{why}");
    }

    #[test]
    fn a_stream_cut_short_or_too_long_keeps_what_fits() {
        let body = br#"{"error":{"code":"bad","message":"nope"}}"#;
        let compressed = gzip(body);
        let cut = decompress(&compressed[..compressed.len() - 12], "gzip", 1 << 20)
            .unwrap()
            .unwrap();
        assert!(body.starts_with(&cut.body) && !cut.body.is_empty());
        assert!(cut.body.len() < body.len());
        let warning = cut.warning.unwrap();
        assert!(warning.starts_with("gzip stream ends early"), "{warning}");
        // 3 MiB of zeros, read to the first 1 MiB.
        let bomb = zlib(&vec![0; 3 << 20]);
        let capped = decompress(&bomb, "deflate", 1 << 20).unwrap().unwrap();
        assert_eq!(capped.body.len(), 1 << 20);
        let warning = capped.warning.unwrap();
        assert!(warning.contains("more than 1 MiB"), "{warning}");
        let whole = decompress(&zlib(body), "deflate", body.len())
            .unwrap()
            .unwrap();
        assert_eq!((whole.body.as_slice(), whole.warning), (&body[..], None));
    }

    #[test]
    fn a_zlib_header_is_told_from_text() {
        assert!(is_zlib(&zlib(b"{}")));
        assert!(is_zlib(b"\x78\x9c"));
        assert!(is_zlib(b"\x78\x01"));
        // The check bits fit, but a preset dictionary is asked for.
        assert!(!is_zlib(b"\x78\x3f"));
        assert!(!is_zlib(b"x"));
        assert!(!is_zlib(b"{}"));
        assert!(!is_zlib(b"\x78\x9d"));
        // A window past 32 KiB.
        assert!(!is_zlib(&[0x88, 0x98]));
    }

    #[test]
    fn header_names_are_cased_for_people() {
        assert_eq!(header_case("x-request-id"), "X-Request-Id");
        assert_eq!(header_case("www-authenticate"), "WWW-Authenticate");
        assert_eq!(header_case("ratelimit-policy"), "RateLimit-Policy");
        assert_eq!(
            header_case("x-ratelimit-remaining"),
            "X-RateLimit-Remaining"
        );
        assert_eq!(header_case("content-type"), "Content-Type");
        assert_eq!(header_case("a--b"), "A--B");
    }
}
