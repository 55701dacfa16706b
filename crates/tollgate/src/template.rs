//! Message templates: `"Required: {required}, available: {available}"`.

use std::fmt;

use serde_json::{Map, Value};

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
    /// Parses a template; placeholder names are `[A-Za-z0-9_]+`.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let bytes = source.as_bytes();
        let mut parts = Vec::new();
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
                        return Err(TemplateError {
                            offset: i,
                            reason: "unclosed or invalid placeholder (write {{ for a literal brace)",
                        });
                    }
                    if len == 0 {
                        return Err(TemplateError {
                            offset: i,
                            reason: "empty placeholder {}",
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
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
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
                Part::Field(a, b) => match self.details.get(&src[a..b]) {
                    Some(Value::String(s)) => f.write_str(s)?,
                    Some(other) => write!(f, "{other}")?,
                    None => write!(f, "{{{}}}", &src[a..b])?,
                },
            }
        }
        Ok(())
    }
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
    fn rejects_bad_braces() {
        assert_eq!(Template::parse("a {b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("a {} b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("a } b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("{a-b}").unwrap_err().offset, 0);
        assert!(Template::parse("é {x} ü").is_ok());
    }
}
