//! Message templates: `"Required: {required}, available: {available}"`.

use std::fmt;

use serde_json::{Map, Value};

use crate::dialect::json::{Out, escape_into};

/// A message template with `{name}` placeholders filled from an error's details.
///
/// `{{` and `}}` stand for literal braces. A placeholder with no value renders
/// as itself (`{name}`), so a forgotten detail shows in the output and in
/// `tollgate lint`, never as a panic.
///
/// ```
/// use serde_json::json;
/// use tollgate::Template;
/// let t = Template::parse("Required: {required}, available: {available}").unwrap();
/// let details = json!({"required": 1, "available": "none"});
/// assert_eq!(t.render(details.as_object().unwrap()).to_string(), "Required: 1, available: none");
/// assert_eq!(t.placeholders().collect::<Vec<_>>(), ["required", "available"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
    /// The template as the text of a JSON string: literal runs escaped once,
    /// here, so that rendering into JSON only copies them.
    json: Vec<JsonPart>,
    /// The escaped literal runs of `json`, one after the other.
    json_text: String,
}

/// A piece of [`Template::json`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum JsonPart {
    /// A byte range of `json_text` to copy.
    Text(usize, usize),
    /// The byte range of a placeholder's name in `source`.
    Field(usize, usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// A byte range of `source` to copy.
    Text(usize, usize),
    /// A literal `{` or `}` from an escape.
    Brace(char),
    /// The byte range of a placeholder's name in `source`.
    Field(usize, usize),
}

/// Why a template could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem in the template.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// The most placeholders a template may hold: a message repeats each
    /// detail at most this many times, so a small catalog cannot make one
    /// error's body some thousand times the size of its details.
    pub const MAX_PLACEHOLDERS: usize = 64;

    /// Parses a template; placeholder names are `[A-Za-z0-9_]+`, at most
    /// [`MAX_PLACEHOLDERS`](Self::MAX_PLACEHOLDERS) of them.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let bytes = source.as_bytes();
        let mut parts = Vec::new();
        let mut placeholders = 0;
        let (mut i, mut text_start) = (0, 0);
        let flush = |parts: &mut Vec<Part>, start: usize, end: usize| {
            if end > start {
                parts.push(Part::Text(start, end));
            }
        };
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    flush(&mut parts, text_start, i);
                    parts.push(Part::Brace('{'));
                    i += 2;
                    text_start = i;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    flush(&mut parts, text_start, i);
                    parts.push(Part::Brace('}'));
                    i += 2;
                    text_start = i;
                }
                b'{' => {
                    let start = i + 1;
                    let len = bytes[start..]
                        .iter()
                        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                        .unwrap_or(bytes.len() - start);
                    if bytes.get(start + len) != Some(&b'}') {
                        // A `}` before the next `{`: a name of other characters.
                        let rest = &bytes[start + len..];
                        let closed = rest.iter().position(|b| *b == b'}');
                        let opened = rest.iter().position(|b| *b == b'{');
                        let named = closed.is_some_and(|c| opened.is_none_or(|o| c < o));
                        return Err(TemplateError {
                            offset: i,
                            reason: if named {
                                "invalid placeholder: its name is letters, digits and `_` \
                                 (write {{ for a literal brace)"
                            } else {
                                "unclosed placeholder: no `}` ends it (write {{ for a literal brace)"
                            },
                        });
                    }
                    if len == 0 {
                        return Err(TemplateError {
                            offset: i,
                            reason: "empty placeholder {}",
                        });
                    }
                    placeholders += 1;
                    if placeholders > Template::MAX_PLACEHOLDERS {
                        return Err(TemplateError {
                            offset: i,
                            reason: "too many placeholders: a template holds at most 64",
                        });
                    }
                    flush(&mut parts, text_start, i);
                    parts.push(Part::Field(start, start + len));
                    i = start + len + 1;
                    text_start = i;
                }
                b'}' => {
                    return Err(TemplateError {
                        offset: i,
                        reason: "unmatched } (write }} for a literal brace)",
                    });
                }
                _ => i += 1,
            }
        }
        flush(&mut parts, text_start, bytes.len());
        let (json, json_text) = escape_parts(source, &parts);
        Ok(Template {
            source: source.to_owned(),
            parts,
            json,
            json_text,
        })
    }

    /// Writes the template filled from `details` as a JSON string (quoted),
    /// without allocating.
    pub(crate) fn write_json(&self, details: &Map<String, Value>, out: &mut Out<'_>) {
        out.raw("\"");
        for part in &self.json {
            match *part {
                JsonPart::Text(a, b) => out.raw(self.json_text.get(a..b).unwrap_or_default()),
                JsonPart::Field(a, b) => {
                    let name = self.source.get(a..b).unwrap_or_default();
                    match lookup(details, name) {
                        Some(value) => out.value_text(value),
                        // Names are `[A-Za-z0-9_]+`: nothing to escape.
                        None => {
                            out.raw("{");
                            out.raw(name);
                            out.raw("}");
                        }
                    }
                }
            }
        }
        out.raw("\"");
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The template as its messages read, placeholders left as `{name}`:
    /// `Send {{"a":1}} to {url}` shows as `Send {"a":1} to {url}`.
    pub(crate) fn shown(&self) -> String {
        self.render(&Map::new()).to_string()
    }

    /// The placeholder names, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match *p {
            Part::Field(a, b) => Some(&self.source[a..b]),
            _ => None,
        })
    }

    /// The template filled from `details`, as a [`Display`](fmt::Display) that
    /// writes straight into its destination without allocating.
    pub fn render<'a>(&'a self, details: &'a Map<String, Value>) -> Rendered<'a> {
        Rendered {
            template: self,
            details,
        }
    }
}

/// A template filled from details; see [`Template::render`].
#[derive(Clone, Copy, Debug)]
pub struct Rendered<'a> {
    template: &'a Template,
    details: &'a Map<String, Value>,
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = &self.template.source;
        for part in &self.template.parts {
            match *part {
                Part::Text(a, b) => f.write_str(&src[a..b])?,
                Part::Brace(c) => fmt::Write::write_char(f, c)?,
                Part::Field(a, b) => match lookup(self.details, &src[a..b]) {
                    Some(Value::String(s)) => f.write_str(s)?,
                    Some(Value::Number(n)) => fmt::Display::fmt(n, f)?,
                    Some(other) => write!(f, "{other}")?,
                    None => write!(f, "{{{}}}", &src[a..b])?,
                },
            }
        }
        Ok(())
    }
}

/// The value of a placeholder: details are few, and comparing a handful of
/// short keys costs less than hashing the name.
fn lookup<'a>(details: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if details.len() <= 8 {
        details.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    } else {
        details.get(name)
    }
}

/// The parts of a template as the text of a JSON string: each run of
/// literal text (escapes resolved) escaped once, placeholders kept.
fn escape_parts(source: &str, parts: &[Part]) -> (Vec<JsonPart>, String) {
    let mut json = Vec::new();
    let mut text = Vec::new();
    let mut run_start = 0;
    for part in parts {
        match *part {
            Part::Text(a, b) => escape_into(&mut text, source.get(a..b).unwrap_or_default()),
            Part::Brace(c) => escape_into(&mut text, c.encode_utf8(&mut [0; 4])),
            Part::Field(a, b) => {
                if text.len() > run_start {
                    json.push(JsonPart::Text(run_start, text.len()));
                }
                run_start = text.len();
                json.push(JsonPart::Field(a, b));
            }
        }
    }
    if text.len() > run_start {
        json.push(JsonPart::Text(run_start, text.len()));
    }
    // Escaping UTF-8 text gives UTF-8 text.
    (json, String::from_utf8(text).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, details: Value) -> String {
        Template::parse(t)
            .unwrap()
            .render(details.as_object().unwrap())
            .to_string()
    }

    #[test]
    fn fills_escapes_and_keeps_missing() {
        assert_eq!(
            render("a {x} {{b}} {y}", json!({"x": [1, 2]})),
            "a [1,2] {b} {y}"
        );
        assert_eq!(
            render("Model \"{model}\"", json!({"model": "10"})),
            "Model \"10\""
        );
        assert_eq!(render("", json!({})), "");
    }

    #[test]
    fn shown_unescapes_braces_and_keeps_placeholders() {
        let t = Template::parse("Send {{\"a\":1}} to {url} }}{{").unwrap();
        assert_eq!(t.shown(), "Send {\"a\":1} to {url} }{");
    }

    #[test]
    fn rejects_bad_braces() {
        assert_eq!(Template::parse("a {b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("a {} b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("a } b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("{a-b}").unwrap_err().offset, 0);
        assert!(Template::parse("é {x} ü").is_ok());
        // A name of other characters is told from a brace never closed.
        for (bad, reason) in [
            ("{a.b}", "invalid placeholder"),
            ("m { sp } x", "invalid placeholder"),
            ("{ab", "unclosed placeholder"),
            ("{a {b}", "unclosed placeholder"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.reason.starts_with(reason), "{bad}: {}", e.reason);
        }
    }

    #[test]
    fn a_template_holds_at_most_sixty_four_placeholders() {
        let most = "{x}".repeat(Template::MAX_PLACEHOLDERS);
        let t = Template::parse(&most).unwrap();
        assert_eq!(t.placeholders().count(), Template::MAX_PLACEHOLDERS);
        let e = Template::parse(&format!("{most} {{{{literal}}}} {{y}}")).unwrap_err();
        assert!(
            e.reason.starts_with("too many placeholders"),
            "{}",
            e.reason
        );
        let limit = Template::MAX_PLACEHOLDERS.to_string();
        assert!(
            e.reason.ends_with(&format!("at most {limit}")),
            "{}",
            e.reason
        );
        assert_eq!(e.offset, most.len() + " {{literal}} ".len());
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let e = Template::parse("a } b").unwrap_err();
        assert_eq!(e.to_string(), format!("{} at byte 2", e.reason));
        assert!(e.reason.starts_with("unmatched }"), "{}", e.reason);
    }
}
