//! Writing JSON straight into the output buffer.
//!
//! The dialects' shapes are fixed, so their punctuation and member names are
//! written as ready-made bytes; only what varies (codes, messages, details,
//! field paths) is escaped, eight bytes at a time. The output is byte for byte
//! what `serde_json` writes (same escapes, same number formatting, no
//! whitespace); `serde_json` itself still writes nested detail values.

use std::io;

use serde_json::Value;

/// JSON text being written into a buffer.
pub(crate) struct Out<'a>(pub(crate) &'a mut Vec<u8>);

impl Out<'_> {
    /// Bytes that are JSON already: punctuation and member names.
    #[inline(always)]
    pub(crate) fn raw(&mut self, json: &str) {
        self.0.extend_from_slice(json.as_bytes());
    }

    /// A string, quoted and escaped.
    #[inline]
    pub(crate) fn str(&mut self, text: &str) {
        self.0.push(b'"');
        escape_into(self.0, text);
        self.0.push(b'"');
    }

    /// A string's text, escaped, without quotes.
    #[inline]
    pub(crate) fn str_text(&mut self, text: &str) {
        escape_into(self.0, text);
    }

    /// `"key":`, for keys that vary (details).
    #[inline]
    pub(crate) fn key(&mut self, key: &str) {
        self.str(key);
        self.0.push(b':');
    }

    /// A non-negative integer.
    #[inline]
    pub(crate) fn u64(&mut self, n: u64) {
        push_u64(self.0, n);
    }

    /// Any value, as `serde_json` writes it.
    pub(crate) fn value(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.str(text),
            Value::Array(_) | Value::Object(_) => serde_json_into(self.0, value),
            scalar => self.scalar(scalar),
        }
    }

    /// A value's JSON text as the text of a string (google's
    /// `map<string, string>` metadata, templates): `1` → `1`, `[1,"a"]` →
    /// `[1,\"a\"]`; a string's own text is not quoted.
    pub(crate) fn value_text(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.str_text(text),
            Value::Array(_) | Value::Object(_) => {
                // `serde_json` cannot fail writing a `Value` to memory.
                let written = serde_json::to_writer(Escaping(self.0), value);
                debug_assert!(written.is_ok());
            }
            // Numbers, booleans and null have nothing to escape.
            scalar => self.scalar(scalar),
        }
    }

    /// A number, boolean or null, as `serde_json` writes it: the same
    /// whether it stands as a value or as a string's text.
    #[inline]
    fn scalar(&mut self, value: &Value) {
        match value {
            Value::Bool(true) => self.raw("true"),
            Value::Bool(false) => self.raw("false"),
            Value::Null => self.raw("null"),
            Value::Number(n) => match n.as_u64() {
                Some(n) => self.u64(n),
                None => serde_json_into(self.0, n),
            },
            // Strings, arrays and objects: each caller writes them its way.
            Value::String(_) | Value::Array(_) | Value::Object(_) => {
                serde_json_into(self.0, value);
            }
        }
    }
}

/// Writes `value` with `serde_json`.
fn serde_json_into<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing strings, numbers and `Value`s into a `Vec` cannot fail.
    let written = serde_json::to_writer(out, value);
    debug_assert!(written.is_ok());
}

/// An `io::Write` that escapes what it is given as the text of a JSON string.
struct Escaping<'a>(&'a mut Vec<u8>);

impl io::Write for Escaping<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        escape_bytes_into(self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `text` escaped as the text of a JSON string, as `serde_json`
/// escapes it: `"`, `\` and control characters; nothing else.
#[inline]
pub(crate) fn escape_into(out: &mut Vec<u8>, text: &str) {
    escape_bytes_into(out, text.as_bytes());
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Bit 7 of the first zero byte of `word` (bits above it may be set too:
/// a borrow can mark a 0x01 byte after a zero one), which is all a search
/// for the first match needs.
#[inline(always)]
fn first_zero_byte(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & (ONES * 0x80)
}

/// Bit 7 of the first byte of `word` that needs an escape in a JSON string
/// (and maybe of some after it).
#[inline(always)]
fn needs_escape(word: u64) -> u64 {
    first_zero_byte(word ^ (ONES * u64::from(b'"')))
        | first_zero_byte(word ^ (ONES * u64::from(b'\\')))
        | first_zero_byte(word & (ONES * 0xe0))
}

fn escape_bytes_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut from = 0;
    let mut at = 0;
    loop {
        // Find the next byte to escape, eight bytes at a time.
        let found = loop {
            match bytes.get(at..at + 8) {
                Some(chunk) => {
                    let mut word = [0; 8];
                    word.copy_from_slice(chunk);
                    let hits = needs_escape(u64::from_le_bytes(word));
                    if hits != 0 {
                        break Some(at + hits.trailing_zeros() as usize / 8);
                    }
                    at += 8;
                }
                None => {
                    let rest = bytes.get(at..).unwrap_or_default();
                    break rest
                        .iter()
                        .position(|&b| needs_escape(u64::from(b)) & 0x80 != 0)
                        .map(|i| at + i);
                }
            }
        };
        let Some(i) = found else {
            out.extend_from_slice(bytes.get(from..).unwrap_or_default());
            return;
        };
        out.extend_from_slice(bytes.get(from..i).unwrap_or_default());
        let byte = bytes.get(i).copied().unwrap_or_default();
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(control >> 4)]);
                out.push(HEX[usize::from(control & 0xf)]);
            }
        }
        from = i + 1;
        at = from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(f: impl FnOnce(&mut Out<'_>)) -> String {
        let mut buf = Vec::new();
        f(&mut Out(&mut buf));
        String::from_utf8(buf).expect("UTF-8")
    }

    #[test]
    fn escapes_every_byte_as_serde_json_does() {
        let text: String = (0u8..=0x7f)
            .map(char::from)
            .chain("é😀\u{2028}".chars())
            .collect();
        for len in 0..text.len() {
            let Some(text) = text.get(len..) else {
                continue;
            };
            assert_eq!(ours(|o| o.str(text)), serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn numbers_and_values_as_serde_json_writes_them() {
        for n in [0, 7, 10, 99, 100, 402, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(ours(|o| o.u64(n)), n.to_string());
        }
        let values = serde_json::json!([
            -1, 1.5, 1e300, -0.0, true, false, null, "a\"b", [1, {"k\n": "v"}], {}
        ]);
        for v in values.as_array().unwrap() {
            assert_eq!(ours(|o| o.value(v)), serde_json::to_string(v).unwrap());
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(ours(|o| o.value_text(v)), ours(|o| o.str_text(&text)));
        }
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(text in "\\PC*|[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(ours(|o| o.str(&text)), serde_json::to_string(&text).unwrap());
        }
    }
}
