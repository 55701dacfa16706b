//! `tollgate decode`: any API's error response, read into one JSON object.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::args::{parse_timestamp, whole};
use crate::catalogs::CatalogArgs;
use crate::error::CliError;
use crate::input::{self, MAX_INPUT, Source};
use crate::wire;

/// Shown after `tollgate decode --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate render service_unavailable --retry-after 30 | tollgate decode
  curl -si https://api.example.com/v1/scans | tollgate decode
  tollgate decode --status 429 --header 'Retry-After: 30' body.json
  echo '<html><title>502 Bad Gateway</title></html>' | tollgate decode --status 502
  tollgate decode --catalog api.toml response.txt

Input that starts with `HTTP/` is a whole response (status line, headers, blank line, body;
CRLF or LF; a header folded onto lines that start with a space or tab is read as one line), as
`tollgate render` and `curl -i` print it; of several (`curl -L` redirects, a proxy's CONNECT, an
auth challenge) the last is decoded; a body still chunked (`curl --raw`, `nc`) is unchunked,
and one still in its Content-Encoding's gzip or deflate (saved without `curl --compressed`), or
in gzip with no Content-Encoding at all, is decompressed. Anything else is a body; without a
status line or --status, the status it states (`status`, `statusCode`) is taken as its own. At
most 16 MiB is read (and decompressed); an empty input needs --status. A body is read in the
charset its Content-Type or byte order mark names (UTF-16, ISO-8859-1, Shift_JIS); one it does
not know is said, and the body read as UTF-8. A Retry-After that is neither seconds nor a date is
said, not read; the RateLimit fields of a cached copy (Age above 0) are not read.

Output fields: status, code (the API's own, verbatim), kind (canonical), message, details,
violations (field, code, message), request_id, retry_after_secs, retry (never, after or backoff),
retryable and dialect (the shape recognised).";

/// Arguments of `tollgate decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// The body, or a whole response starting with `HTTP/`; `-` or nothing reads stdin
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,

    /// The HTTP status (overrides a response's status line)
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = whole::<u16>(100, 999))]
    status: Option<u16>,

    /// A response header (repeatable), added to a response's own
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,

    #[command(flatten)]
    catalogs: CatalogArgs,

    /// The time an HTTP-date Retry-After is measured from, RFC 3339 [default: the response's
    /// Date plus its Age, else now]
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    now: Option<SystemTime>,
}

/// Decodes the input and writes the result as pretty JSON to `out`.
pub(crate) fn run(args: DecodeArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    // The response left out is read from stdin too: say so, rather than
    // that stdin is named twice when the user named it once.
    let stdin_catalog = args
        .catalogs
        .paths()
        .any(|path| Source::from_arg(path) == Source::Stdin);
    if stdin_catalog && args.file.is_none() {
        return Err(CliError::Usage(
            "the catalog is read from stdin (`--catalog -`), and so is the response when FILE \
             is left out: pass the response as a FILE"
                .to_owned(),
        ));
    }
    input::stdin_once(args.catalogs.paths().chain([args.file.as_deref()]))?;
    let catalog = args.catalogs.load()?;
    let source = Source::from_arg(args.file.as_deref());
    if source == Source::Stdin && std::io::stdin().is_terminal() {
        stderr!("reading a response or body from stdin; end it with Ctrl-D");
    }
    let input = input::read(&source, MAX_INPUT)?;
    // An empty body is an answer only with a status (or headers) to go by.
    let blank = input.bytes.iter().all(u8::is_ascii_whitespace);
    if blank && args.status.is_none() && args.headers.is_empty() {
        return Err(CliError::Usage(if input.truncated {
            format!(
                "nothing to decode: the first {} MiB of {} are blank",
                MAX_INPUT >> 20,
                source.name()
            )
        } else {
            format!(
                "nothing to decode: {} is empty; an empty answer needs --status N",
                source.name()
            )
        }));
    }
    let name = input::printable(&source.name());
    if input.truncated {
        stderr!(
            "warning: {name} is larger than {} MiB; decoded its first {} MiB only",
            MAX_INPUT >> 20,
            MAX_INPUT >> 20
        );
    }
    // What was undone to the body as it came: said when it is not the JSON
    // its Content-Type says, as no line of the input holds it then.
    let mut undone = Vec::new();
    let (status, mut headers, body) = if wire::is_response(&input.bytes) {
        let response = wire::parse_response(&input.bytes)
            .map_err(|e| CliError::Usage(format!("{}:{}:1: {e}", source.name(), e.line)))?;
        for skipped in &response.skipped {
            match skipped.line {
                Some(line) => stderr!("warning: {name}:{line}:1: {}", skipped.why),
                None => stderr!("warning: {name}: {}", skipped.why),
            }
        }
        let chunked = response
            .headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
            });
        let body = match chunked.then(|| wire::dechunk(response.body)).flatten() {
            Some(body) => {
                undone.push("unchunked");
                Cow::Owned(body)
            }
            None => Cow::Borrowed(response.body),
        };
        (Some(response.status), response.headers, body)
    } else {
        (None, HeaderMap::new(), input.bytes.as_slice().into())
    };
    for (name, value) in args.headers {
        if headers.try_append(name, value).is_err() {
            return Err(CliError::Usage(
                "more headers than a header map holds".to_owned(),
            ));
        }
    }
    let mut codings = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    // A gzip body with nothing saying so (a `.gz` file, or the header left
    // out) is no text: read as gzip, and said.
    let unnamed_gzip = codings.is_empty() && body.starts_with(&[0x1f, 0x8b]);
    if unnamed_gzip {
        codings = "gzip".to_owned();
    }
    let body = match wire::decompress(&body, &codings, MAX_INPUT) {
        Ok(Some(decompressed)) => {
            if unnamed_gzip {
                stderr!("warning: {name}: the body is gzip, with no Content-Encoding saying so");
            }
            if let Some(warning) = decompressed.warning {
                stderr!("warning: {name}: the body's {warning}");
            }
            undone.push("decompressed");
            Cow::Owned(decompressed.body)
        }
        Ok(None) => body,
        Err(why) => {
            stderr!("warning: {name}: the body cannot be decompressed: {why}; read as it came");
            body
        }
    };
    // 0 tells the decoder the status is unknown: the one the body states, if
    // any, stands in for it.
    let status = args.status.or(status).unwrap_or(0);
    // A saved response's hint is measured from when it was sent.
    let now = args
        .now
        .or_else(|| tollgate::headers::sent_at(&headers))
        .unwrap_or_else(SystemTime::now);
    let decoded = catalog.decode(status, &headers, &body, now);
    // Printed all the same (a script may want the fields), but not silently.
    match decoded.status {
        0 => stderr!(
            "warning: no status in the input (no status line, none the body states); its kind is a \
             guess: pass --status N (the response's status)"
        ),
        100..=399 => stderr!(
            "warning: status {} is not an error; decode reads 4xx and 5xx answers",
            decoded.status
        ),
        600.. => stderr!(
            "warning: status {} is past 599, no HTTP status; its kind is a guess",
            decoded.status
        ),
        _ => {}
    }
    // A `Retry-After` that says no wait the decoder can read (`soon`, `-5`)
    // is passed over; say so, rather than print `null` as if none was sent.
    if decoded.retry_after.is_none()
        && let Some(value) = headers.get(RETRY_AFTER)
    {
        let value = String::from_utf8_lossy(value.as_bytes());
        stderr!(
            "warning: {name}: Retry-After {:?} is neither delay-seconds nor an HTTP date; no wait \
             is read from it",
            wire::clipped(&value)
        );
    }
    // A charset the decoder does not know is passed over (the body read as
    // UTF-8): say so, rather than print what it read as if it knew.
    let unknown_charset = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(tollgate::headers::charset)
        .filter(|label| !tollgate::reads_charset(label));
    if let Some(label) = unknown_charset {
        stderr!(
            "warning: {name}: charset {:?} is none decode reads; the body is read as UTF-8",
            wire::clipped(label)
        );
    }
    // A body its Content-Type calls JSON that the decoder could not read
    // as JSON (after a byte order mark or an XSSI guard, which it passes
    // over): say where it breaks.
    let says_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(tollgate::headers::is_json_media);
    // A JSON text cut short is read as far as it came whole.
    let read_as = match decoded.dialect {
        "empty" => None,
        "text" => Some("text"),
        "html" => Some("HTML"),
        "xml" => Some("XML"),
        _ => Some("far as it goes"),
    };
    if let (true, Some(read_as)) = (says_json, read_as) {
        // Checked as the decoder read it: in the charset it names.
        let text = tollgate::body_as_utf8(&headers, &body);
        if let Cow::Owned(_) = text {
            undone.push("transcoded");
        }
        not_json(&name, &input.bytes, &text, read_as, &undone.join(" and "));
    }
    let json = serde_json::to_string_pretty(&decoded).map_err(std::io::Error::from)?;
    out.write_all(terminal_safe(&json).as_bytes())?;
    out.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}

/// JSON text with the characters a terminal acts on or that reorder what it
/// shows, which `serde_json` leaves as they are (C1 controls such as CSI,
/// bidirectional overrides), escaped as `\uXXXX`. Such characters are only
/// ever inside the JSON's strings, where the escape reads as them.
fn terminal_safe(json: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || crate::input::reorders(c);
    if !json.chars().any(|c| unsafe_char(c) && !c.is_ascii()) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) && !c.is_ascii() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Warns that `body`, which its Content-Type calls JSON, is not, naming where
/// it breaks as `file:line:column` of the input (`body` is part of `input`,
/// unless it was unchunked or decompressed, as `undone` says: then its own
/// line and column are said).
fn not_json(name: &str, input: &[u8], body: &[u8], read_as: &str, undone: &str) {
    let start = json_start(body);
    let json = &body[start..];
    let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(json) else {
        return;
    };
    let Some(body_at) = offset_in(input, body) else {
        stderr!(
            "warning: {name}: the {undone} body is not the JSON its Content-Type says ({e}); \
             read as {read_as}"
        );
        return;
    };
    // serde_json counts lines from 1, and columns as the bytes of the line
    // up to the one it stopped at (0 at the start of a line).
    let line_at: usize = json
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let at = (line_at + e.column().saturating_sub(1)).min(json.len());
    let (line, column) = input::locate(input, body_at + start + at);
    let why = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    stderr!(
        "warning: {name}:{line}:{column}: the body is not the JSON its Content-Type says ({}); \
         read as {read_as}",
        why.strip_suffix(&position).unwrap_or(&why)
    );
}

/// Where the JSON of a body starts, as the decoder reads it: after a byte
/// order mark, white space, and an XSSI guard (`)]}'` or `)]}',`).
fn json_start(body: &[u8]) -> usize {
    let rest = wire::strip_bom(body).trim_ascii_start();
    let rest = match rest.strip_prefix(b")]}'") {
        Some(after) => after.strip_prefix(b",").unwrap_or(after).trim_ascii_start(),
        None => rest,
    };
    body.len() - rest.len()
}

/// Where `part` starts in `whole`, if it is a part of it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let at = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    (at + part.len() <= whole.len()).then_some(at)
}

/// `Name: value`.
fn parse_header(arg: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = arg.split_once(':').ok_or_else(|| {
        format!(
            "expected 'Name: value', such as 'Retry-After: 30'; found {:?}",
            wire::clipped(arg)
        )
    })?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("invalid header name {:?}", wire::clipped(name.trim())))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        format!(
            "invalid value for header {name}: {:?}",
            wire::clipped(value)
        )
    })?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded message's C1 controls and bidirectional overrides leave
    /// escaped: a terminal would act on them, or show the text reordered.
    #[test]
    fn what_a_terminal_acts_on_is_escaped() {
        let decoded = serde_json::json!({"message": "ok \u{9b}2J \u{202e} gnp.exe \u{1b}[0m é"});
        let json = serde_json::to_string_pretty(&decoded).unwrap();
        let shown = terminal_safe(&json);
        assert_eq!(
            shown,
            "{\n  \"message\": \"ok \\u009b2J \\u202e gnp.exe \\u001b[0m é\"\n}"
        );
        let read: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(read, decoded);
        assert!(matches!(terminal_safe("{\"a\": \"é\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_starts_after_a_byte_order_mark_and_an_xssi_guard() {
        assert_eq!(json_start(b"{}"), 0);
        assert_eq!(json_start(b"\xef\xbb\xbf {}"), 4);
        assert_eq!(json_start(b")]}',\n{}"), 6);
        assert_eq!(json_start(b"  )]}'\r\n{}"), 8);
        assert_eq!(json_start(b")]}"), 0);
    }

    #[test]
    fn a_part_is_found_in_its_whole_only() {
        let whole = b"HTTP/1.1 400 x\n\n{}";
        assert_eq!(offset_in(whole, &whole[16..]), Some(16));
        assert_eq!(offset_in(whole, &whole[..0]), Some(0));
        let other = whole.to_vec();
        assert_eq!(offset_in(whole, &other[16..]), None);
    }

    #[test]
    fn headers_parse() {
        let (name, value) = parse_header("Retry-After: 30").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("retry-after", "30")
        );
        let (name, value) = parse_header("traceparent:00-abc-def-01").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("traceparent", "00-abc-def-01")
        );
        assert!(
            parse_header("Retry-After 30")
                .unwrap_err()
                .contains("expected 'Name: value'")
        );
        assert!(
            parse_header("Bad Name: 1")
                .unwrap_err()
                .contains("invalid header name")
        );
        assert!(
            parse_header("X: a\nb")
                .unwrap_err()
                .contains("invalid value")
        );
    }
}
