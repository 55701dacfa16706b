//! Bodies cut short: a JSON text that stops part-way (a stalled connection,
//! a client's size limit), closed where it stopped.

/// What the scanner expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any value.
    Value,
    /// A value, or the `]` of an array just opened.
    ValueOrEnd,
    /// A member's name.
    Name,
    /// A member's name, or the `}` of an object just opened.
    NameOrEnd,
    /// The `:` after a member's name.
    Colon,
    /// A `,`, or the end of the array or object.
    CommaOrEnd,
}

/// `json` closed where it stopped, when it is the start of a JSON object or
/// array cut short: its open arrays and objects closed, and the token the
/// cut may have left incomplete (a string, a number, `tru`) dropped, with
/// the member's name and the `,` or `:` before it. A string cut short is
/// dropped, not closed (`"internal_err` may be the start of
/// `"internal_error"`), and so is a number at the end, which may be whole
/// (`12` may be the start of `120`). `None` when `json` is no such start
/// (it is whole, or not JSON).
pub(super) fn close_cut_json(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    if !matches!(bytes.first(), Some(b'{' | b'[')) {
        return None;
    }
    // The closers of the arrays and objects open, innermost last.
    let mut open = Vec::new();
    let mut expect = Expect::Value;
    // Where the text read so far, closed, is whole JSON.
    let mut whole = 0;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        match (expect, byte) {
            (Expect::ValueOrEnd, b']')
            | (Expect::NameOrEnd, b'}')
            | (Expect::CommaOrEnd, b']' | b'}') => {
                if open.pop() != Some(byte) {
                    return None;
                }
                if open.is_empty() {
                    // Whole: there is nothing to close.
                    return None;
                }
                at += 1;
                whole = at;
                expect = Expect::CommaOrEnd;
            }
            (Expect::CommaOrEnd, b',') => {
                at += 1;
                expect = if open.last() == Some(&b'}') {
                    Expect::Name
                } else {
                    Expect::Value
                };
            }
            (Expect::Colon, b':') => {
                at += 1;
                expect = Expect::Value;
            }
            (Expect::Name | Expect::NameOrEnd, b'"') => match string_end(bytes, at) {
                Some(end) => {
                    at = end;
                    expect = Expect::Colon;
                }
                None => break,
            },
            (Expect::Value | Expect::ValueOrEnd, b'{' | b'[') => {
                open.push(if byte == b'{' { b'}' } else { b']' });
                at += 1;
                whole = at;
                expect = if byte == b'{' {
                    Expect::NameOrEnd
                } else {
                    Expect::ValueOrEnd
                };
            }
            (Expect::Value | Expect::ValueOrEnd, b'"') => match string_end(bytes, at) {
                Some(end) => {
                    at = end;
                    whole = at;
                    expect = Expect::CommaOrEnd;
                }
                None => break,
            },
            (Expect::Value | Expect::ValueOrEnd, b'-' | b'0'..=b'9' | b'a'..=b'z') => {
                // A number or a literal; whole only when something follows.
                let end = bytes[at..]
                    .iter()
                    .position(
                        |b| !matches!(b, b'+' | b'-' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E'),
                    )
                    .map(|len| at + len);
                match end {
                    Some(end) => {
                        at = end;
                        whole = at;
                        expect = Expect::CommaOrEnd;
                    }
                    None => break,
                }
            }
            _ => return None,
        }
    }
    let mut closed = json[..whole].to_owned();
    closed.extend(open.iter().rev().map(|&b| char::from(b)));
    Some(closed)
}

/// Where the string opening at `start` ends (past its closing quote);
/// `None` when the text ends first.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::close_cut_json;
    use crate::decode::tests::json;

    proptest! {
        /// A JSON array or object cut anywhere is closed into JSON that
        /// parses, or left alone; whole, it is left alone.
        #[test]
        fn any_json_cut_anywhere_closes_into_json(
            value in json().prop_filter("an array or object", |v| v.is_array() || v.is_object())
        ) {
            let text = value.to_string();
            for (at, _) in text.char_indices().skip(1) {
                if let Some(closed) = close_cut_json(&text[..at]) {
                    prop_assert!(
                        serde_json::from_str::<Value>(&closed).is_ok(),
                        "{} closed as {closed}", &text[..at]
                    );
                }
            }
            prop_assert_eq!(close_cut_json(&text), None);
        }
    }

    #[test]
    fn a_cut_text_is_closed_where_it_stopped() {
        for (cut, closed) in [
            (
                r#"{"error":{"code":"slow_body","#,
                r#"{"error":{"code":"slow_body"}}"#,
            ),
            (
                r#"{"error":{"code":"slow_body","mess"#,
                r#"{"error":{"code":"slow_body"}}"#,
            ),
            (
                r#"{"error":{"code":"slow_body","message":"#,
                r#"{"error":{"code":"slow_body"}}"#,
            ),
            (
                r#"{"error":{"code":"x","message":"Still wri"#,
                r#"{"error":{"code":"x"}}"#,
            ),
            (r#"{"a":"tab\"#, "{}"),
            (r#"{"a":"q\"uo"#, "{}"),
            (r#"{"a":"q\"uote","#, r#"{"a":"q\"uote"}"#),
            (r#"{"a":12"#, r#"{}"#),
            (r#"{"a":12,"b":tr"#, r#"{"a":12}"#),
            (r#"{"a":[1,{"b":null},"#, r#"{"a":[1,{"b":null}]}"#),
            (r#"[{"message":"m"},{"#, r#"[{"message":"m"},{}]"#),
            ("{", "{}"),
        ] {
            assert_eq!(close_cut_json(cut).as_deref(), Some(closed), "{cut}");
        }
    }

    #[test]
    fn whole_text_and_text_that_is_no_json_are_left_alone() {
        for text in [
            r#"{"a":1}"#,
            r#"{"a":1} trailer"#,
            "{oops",
            r#"{"a" 1"#,
            r#"{"a":1]"#,
            "plain text",
            "",
        ] {
            assert_eq!(close_cut_json(text), None, "{text}");
        }
    }
}
