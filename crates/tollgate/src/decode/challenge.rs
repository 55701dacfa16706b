//! The error an OAuth resource server states in its `WWW-Authenticate`
//! challenge (RFC 6750, 3): `Bearer error="invalid_token",
//! error_description="The access token expired"`, often over an empty body.
//!
//! Read by hand: the `headers` crate types no `WWW-Authenticate`, and the
//! crates that parse it are unmaintained. Only the three parameters read
//! here matter, so a challenge's grammar (RFC 9110, 11.6.1) is followed as
//! far as telling them apart needs: a scheme, then `name=value` pairs, the
//! value a token or a quoted string.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// The error a challenge states.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ChallengeError<'h> {
    /// `error`: `invalid_request`, `invalid_token`, `insufficient_scope`.
    pub(super) code: Cow<'h, str>,
    /// `error_description`: the human-readable reason.
    pub(super) description: Option<Cow<'h, str>>,
    /// `scope`: the scopes the resource needs.
    pub(super) scope: Option<Cow<'h, str>>,
}

/// The first challenge of `headers`' `WWW-Authenticate` lines that states
/// an `error`, with its description and scope.
pub(super) fn challenge_error(headers: &HeaderMap) -> Option<ChallengeError<'_>> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        // UTF-8, not only ASCII: some servers describe the error in their
        // language (`error_description="Jeton expiré"`).
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .find_map(|value| {
            let mut current = ChallengeError::default();
            for item in Items::new(value) {
                match item {
                    // A new challenge after one that stated an error: done.
                    Item::Scheme if !current.code.is_empty() => break,
                    Item::Scheme => current = ChallengeError::default(),
                    Item::Param(name, value) => {
                        let slot = if name.eq_ignore_ascii_case("error") {
                            Some(&mut current.code)
                        } else if name.eq_ignore_ascii_case("error_description") {
                            Some(current.description.get_or_insert_default())
                        } else if name.eq_ignore_ascii_case("scope") {
                            Some(current.scope.get_or_insert_default())
                        } else {
                            None
                        };
                        // A parameter given twice: the first counts.
                        if let Some(slot) = slot.filter(|slot| slot.is_empty()) {
                            *slot = value;
                        }
                    }
                }
            }
            (!current.code.is_empty()).then_some(current)
        })
        .map(|mut error| {
            // A parameter given but empty is none.
            error.description = error.description.filter(|d| !d.trim().is_empty());
            error.scope = error.scope.filter(|s| !s.trim().is_empty());
            error
        })
}

/// One part of a challenge list: a scheme starting a challenge, or one of
/// its parameters (its value unquoted).
#[derive(Debug, PartialEq)]
enum Item<'h> {
    Scheme,
    Param(&'h str, Cow<'h, str>),
}

/// The items of a `WWW-Authenticate` value, read in one pass. What fits no
/// item (a `token68`'s `/`, a stray quote) is skipped a character at a
/// time.
struct Items<'h> {
    text: &'h str,
    at: usize,
}

impl<'h> Items<'h> {
    fn new(text: &'h str) -> Self {
        Items { text, at: 0 }
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).copied().is_some_and(&what) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> &'h str {
        let start = self.at;
        self.skip(is_tchar);
        &self.text[start..self.at]
    }

    /// A quoted string's content, its `\` escapes undone; the rest of the
    /// text when it is not closed. `self.at` is on the opening quote.
    fn quoted(&mut self) -> Cow<'h, str> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut unescaped: Option<String> = None;
        let mut at = start;
        let mut run = start;
        while let Some(&b) = bytes.get(at) {
            match b {
                b'"' => break,
                b'\\' if at + 1 < bytes.len() => {
                    let text = unescaped.get_or_insert_default();
                    text.push_str(&self.text[run..at]);
                    run = at + 1;
                    at += 2;
                }
                _ => at += 1,
            }
        }
        let end = at.min(bytes.len());
        // Past the closing quote, if there is one.
        self.at = (end + 1).min(bytes.len());
        match unescaped {
            None => Cow::Borrowed(&self.text[start..end]),
            Some(mut text) => {
                text.push_str(&self.text[run..end]);
                Cow::Owned(text)
            }
        }
    }
}

impl<'h> Iterator for Items<'h> {
    type Item = Item<'h>;

    fn next(&mut self) -> Option<Item<'h>> {
        let bytes = self.text.as_bytes();
        loop {
            self.skip(|b| matches!(b, b' ' | b'\t' | b','));
            if self.at >= bytes.len() {
                return None;
            }
            let name = self.token();
            if name.is_empty() {
                // Past the whole character, so that `at` stays on a
                // character's boundary.
                let stray = self.text[self.at..].chars().next();
                self.at += stray.map_or(1, char::len_utf8);
                continue;
            }
            self.skip(|b| matches!(b, b' ' | b'\t'));
            if bytes.get(self.at) != Some(&b'=') {
                return Some(Item::Scheme);
            }
            self.at += 1;
            self.skip(|b| matches!(b, b' ' | b'\t'));
            let value = if bytes.get(self.at) == Some(&b'"') {
                self.quoted()
            } else {
                Cow::Borrowed(self.token())
            };
            return Some(Item::Param(name, value));
        }
    }
}

/// RFC 9110's `tchar`: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn read(lines: &[&str]) -> Option<(String, Option<String>, Option<String>)> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(WWW_AUTHENTICATE, line.parse().unwrap());
        }
        challenge_error(&headers).map(|e| {
            (
                e.code.into_owned(),
                e.description.map(Cow::into_owned),
                e.scope.map(Cow::into_owned),
            )
        })
    }

    fn error(
        code: &str,
        description: Option<&str>,
        scope: Option<&str>,
    ) -> Option<(String, Option<String>, Option<String>)> {
        Some((
            code.into(),
            description.map(Into::into),
            scope.map(Into::into),
        ))
    }

    #[test]
    fn the_error_of_a_bearer_challenge_is_read() {
        assert_eq!(
            read(&[
                r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#
            ]),
            error("invalid_token", Some("The access token expired"), None)
        );
        assert_eq!(
            read(&[r#"Bearer error=insufficient_scope, scope="read write""#]),
            error("insufficient_scope", None, Some("read write"))
        );
        // Names in any case, spaces around `=`, escapes undone.
        assert_eq!(
            read(&[r#"bearer ERROR = "invalid_request" ,Error_Description= "say \"once\"\\""#]),
            error("invalid_request", Some(r#"say "once"\"#), None)
        );
    }

    #[test]
    fn a_challenge_that_states_no_error_is_none() {
        assert_eq!(read(&[r#"Bearer realm="api", charset="UTF-8""#]), None);
        assert_eq!(read(&["Basic"]), None);
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[r#"Bearer error="""#]), None);
        assert_eq!(read(&[r#"Bearer error_description="no code""#]), None);
    }

    /// Of several challenges, on one line or several, the first to state an
    /// error is read, and only its own parameters.
    #[test]
    fn the_first_challenge_with_an_error_is_read() {
        assert_eq!(
            read(&[
                r#"Basic realm="a", Bearer realm="b", error="invalid_token", DPoP error="use_dpop_nonce""#
            ]),
            error("invalid_token", None, None)
        );
        assert_eq!(
            read(&[
                r#"Negotiate abc/def==, Bearer error_description="x""#,
                r#"DPoP algs="ES256", error="invalid_dpop_proof", error_description="bad proof""#,
            ]),
            error("invalid_dpop_proof", Some("bad proof"), None)
        );
        // A description before the error, in the same challenge, counts.
        assert_eq!(
            read(&[r#"Bearer error_description="gone", error="invalid_token""#]),
            error("invalid_token", Some("gone"), None)
        );
    }

    /// A description in UTF-8 is read; a stray character past ASCII is
    /// skipped whole.
    #[test]
    fn text_past_ascii_is_read() {
        let mut headers = HeaderMap::new();
        let line = r#"Bearer é, error="invalid_token", error_description="Jeton expiré""#;
        let value = http::HeaderValue::from_bytes(line.as_bytes()).unwrap();
        headers.append(WWW_AUTHENTICATE, value);
        let error = challenge_error(&headers).unwrap();
        assert_eq!(error.code, "invalid_token");
        assert_eq!(error.description.as_deref(), Some("Jeton expiré"));
        // Not UTF-8: not read.
        let mut headers = HeaderMap::new();
        let value = http::HeaderValue::from_bytes(b"Bearer error=\"x\xff\"").unwrap();
        headers.append(WWW_AUTHENTICATE, value);
        assert_eq!(challenge_error(&headers), None);
    }

    #[test]
    fn broken_challenges_are_read_as_far_as_they_go() {
        assert_eq!(
            read(&[r#"Bearer error="invalid_token", error_description="cut"#]),
            error("invalid_token", Some("cut"), None)
        );
        assert_eq!(
            read(&[r#"Bearer error="invalid_token", error_description=""#]),
            error("invalid_token", None, None)
        );
        assert_eq!(read(&[r#"Bearer error="x\"#]), error(r"x\", None, None));
        for junk in ["=", "==", "\"", ",,,", "= error", "Bearer /// ==", "\\"] {
            assert_eq!(read(&[junk]), None, "{junk}");
        }
    }

    proptest! {
        /// Any header text is read without a panic, and a description
        /// quoted with its quotes and backslashes escaped reads back whole,
        /// on a line after one that states no error.
        #[test]
        fn any_text_reads_and_a_quoted_value_reads_back(
            before in "[ -~é\u{80}€😀]{0,40}",
            description in "[ -~é€]{0,40}",
        ) {
            let mut headers = HeaderMap::new();
            let value = |text: &str| http::HeaderValue::from_bytes(text.as_bytes()).unwrap();
            headers.append(WWW_AUTHENTICATE, value(&before));
            let stated = challenge_error(&headers).is_some();
            let escaped = description.replace('\\', "\\\\").replace('"', "\\\"");
            let line = format!(r#"Bearer error="invalid_token", error_description="{escaped}""#);
            headers.append(WWW_AUTHENTICATE, value(&line));
            prop_assume!(!stated);
            let error = challenge_error(&headers).unwrap();
            prop_assert_eq!(error.code, "invalid_token");
            let expected = (!description.trim().is_empty()).then_some(description.as_str());
            prop_assert_eq!(error.description.as_deref(), expected);
        }
    }
}
