//! Bodies that are not JSON: plain text, XML and HTML pages.

use std::borrow::Cow;

/// How much of a non-JSON body is kept as the message.
const TEXT_MESSAGE_LIMIT: usize = 200;

/// `text` cut after [`TEXT_MESSAGE_LIMIT`] characters, marked `…` when cut.
pub(super) fn truncate(text: &str) -> String {
    match text.char_indices().nth(TEXT_MESSAGE_LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The text of the first `<name>…</name>` element of an XML body, its
/// references decoded ([`decode_references`]) and its CDATA sections read
/// as their content; tags inside a CDATA section are its text.
pub(super) fn xml_element(xml: &str, name: &str) -> Option<String> {
    let start = find_outside_cdata(xml, &format!("<{name}>"))? + name.len() + 2;
    let end = start + find_outside_cdata(&xml[start..], &format!("</{name}>"))?;
    let raw = xml[start..end].trim();
    if !raw.contains(CDATA_OPEN) {
        return (!raw.is_empty()).then(|| decode_references(raw).into_owned());
    }
    let mut text = String::new();
    let mut rest = raw;
    while let Some(open) = rest.find(CDATA_OPEN) {
        text.push_str(&decode_references(&rest[..open]));
        let content = &rest[open + CDATA_OPEN.len()..];
        // `raw` ends outside any section: each one opened in it ends in it.
        let close = content.find(CDATA_CLOSE).unwrap_or(content.len());
        // A section's content is character data as written: no references.
        text.push_str(&content[..close]);
        rest = content.get(close + CDATA_CLOSE.len()..).unwrap_or_default();
    }
    text.push_str(&decode_references(rest));
    // Trimmed as text outside a section is: a message padded inside one
    // is padded by accident.
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// What opens an XML CDATA section.
const CDATA_OPEN: &str = "<![CDATA[";

/// What closes an XML CDATA section.
const CDATA_CLOSE: &str = "]]>";

/// Where `pattern` first occurs in `xml` outside a CDATA section; `None`
/// when it does not, or a section before it is never closed. Linear in
/// `xml`: the pattern is searched for again only past a section that held
/// it, and each stretch of text is searched once.
fn find_outside_cdata(xml: &str, pattern: &str) -> Option<usize> {
    let mut at = xml.find(pattern)?;
    let mut from = 0;
    while let Some(open) = xml[from..at].find(CDATA_OPEN) {
        let content = from + open + CDATA_OPEN.len();
        from = content + xml[content..].find(CDATA_CLOSE)? + CDATA_CLOSE.len();
        if at < from {
            at = from + xml[from..].find(pattern)?;
        }
    }
    Some(at)
}

/// How many bytes after a `&` are searched for the `;` that ends a
/// reference (`#x10FFFF`, the longest but for leading zeros, takes 8): a `&`
/// with none soon after is text, so that a page of them is read in linear
/// time.
const REFERENCE_MAX: usize = 16;

/// `text` with its character references decoded, each once (`&amp;lt;` is
/// `&lt;`): XML's predefined entities (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
/// `&apos;`, HTML's too) and numeric references (`&#39;`, `&#x27;`). What
/// is no reference to a character (an unknown name, `&#0;`, a surrogate, a
/// lone `&`) stays as written.
///
/// Written here rather than taken from an HTML crate: the core depends on
/// serde, serde_json and http alone, and an error page's title or an XML
/// error's text needs no more than these references.
pub(super) fn decode_references(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let reference = after
            .bytes()
            .take(REFERENCE_MAX)
            .position(|b| b == b';')
            .and_then(|end| Some((reference_char(after.get(..end)?)?, end)));
        match reference {
            Some((c, end)) => {
                out.push(c);
                rest = after.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a reference between `&` and `;` stands for, if any.
fn reference_char(name: &str) -> Option<char> {
    let number = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => name.strip_prefix('#')?,
    };
    let (digits, radix) = match number.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // `from_str_radix` would take a sign too.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(code).filter(|&c| c != '\0')
}

/// The text of the first `<title>` or `<h1>` of an HTML page, as written
/// (its references not yet decoded).
pub(super) fn html_title(html: &str) -> Option<&str> {
    let lower = html.to_ascii_lowercase();
    ["title", "h1"].iter().find_map(|tag| {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find(&format!("</{tag}"))?;
        let text = html.get(start..end)?.trim();
        (!text.is_empty()).then_some(text)
    })
}
