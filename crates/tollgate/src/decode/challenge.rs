//! The error an OAuth resource server states in its `WWW-Authenticate`
//! challenge (RFC 6750, 3): `Bearer error="invalid_token",
//! error_description="The access token expired"`, often over an empty body.
//!
//! Read by hand: the `headers` crate types no `WWW-Authenticate`, and the
//! crates that parse it are unmaintained. Only the three parameters read
//! here matter, so a challenge's grammar (RFC 9110, 11.6.1) is followed as
//! far as telling them apart needs: the list split at commas outside quoted
//! strings (as the `RateLimit` fields are), each piece a scheme, a scheme
//! and its first parameter, or a parameter, `name=value` with the value a
//! token or a quoted string.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

use crate::headers::split_outside_quotes;

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
        .find_map(stated_error)
        .map(|mut error| {
            // A parameter given but empty is none.
            error.description = error.description.filter(|d| !d.trim().is_empty());
            error.scope = error.scope.filter(|s| !s.trim().is_empty());
            error
        })
}

/// The first challenge of one `WWW-Authenticate` line that states an error.
fn stated_error(line: &str) -> Option<ChallengeError<'_>> {
    let mut current = ChallengeError::default();
    for piece in split_outside_quotes(line, b',') {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        // A scheme starts a challenge (`Bearer`, or `Bearer realm="api"`
        // with its first parameter); a new one after one that stated an
        // error ends the search.
        let param = match piece.split_once([' ', '\t']) {
            Some((scheme, rest))
                if !scheme.contains('=') && !rest.trim_start().starts_with('=') =>
            {
                Some(rest)
            }
            None if !piece.contains('=') => None,
            _ => {
                read_param(piece, &mut current);
                continue;
            }
        };
        if !current.code.is_empty() {
            break;
        }
        current = ChallengeError::default();
        if let Some(param) = param {
            read_param(param, &mut current);
        }
    }
    (!current.code.is_empty()).then_some(current)
}

/// Reads `param`, `name=value`, into `error` when it is one of the three
/// read and not given already.
fn read_param<'h>(param: &'h str, error: &mut ChallengeError<'h>) {
    let Some((name, value)) = param.split_once('=') else {
        return;
    };
    let name = name.trim();
    let slot = if name.eq_ignore_ascii_case("error") {
        &mut error.code
    } else if name.eq_ignore_ascii_case("error_description") {
        error.description.get_or_insert_default()
    } else if name.eq_ignore_ascii_case("scope") {
        error.scope.get_or_insert_default()
    } else {
        return;
    };
    // A parameter given twice: the first counts.
    if slot.is_empty() {
        *slot = unquoted(value.trim());
    }
}

/// A parameter's value: a token as it is, a quoted string's content with
/// its `\` escapes undone (to the end of the text when it is not closed).
fn unquoted(value: &str) -> Cow<'_, str> {
    let Some(inner) = value.strip_prefix('"') else {
        return Cow::Borrowed(value);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner.split('"').next().unwrap_or(inner));
    }
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            // A backslash ending the text is kept.
            '\\' => text.push(chars.next().unwrap_or('\\')),
            c => text.push(c),
        }
    }
    Cow::Owned(text)
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
        // Empty list elements are none (RFC 9110, 5.6.1).
        assert_eq!(
            read(&[r#"Bearer error="invalid_token",, ,error_description="gone""#]),
            error("invalid_token", Some("gone"), None)
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
