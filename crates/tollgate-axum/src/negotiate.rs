//! Which dialect a request's errors are written in.
//!
//! In order: `Accept: application/problem+json` (when enabled), a pinned
//! version header value, a pinned path prefix, the default dialect.

use http::{HeaderMap, HeaderName, HeaderValue, header::ACCEPT};
use tollgate::Dialect;

/// The negotiation rules; built by [`Tollgate`](crate::Tollgate).
#[derive(Clone, Debug)]
pub(crate) struct Negotiation {
    pub(crate) default: Dialect,
    pub(crate) problem_on_accept: bool,
    pub(crate) version_header: Option<HeaderName>,
    pub(crate) versions: Vec<(HeaderValue, Dialect)>,
    pub(crate) prefixes: Vec<(String, Dialect)>,
}

impl Negotiation {
    pub(crate) fn new(default: Dialect) -> Negotiation {
        Negotiation {
            default,
            problem_on_accept: true,
            version_header: None,
            versions: Vec::new(),
            prefixes: Vec::new(),
        }
    }

    /// The dialect for a request with these headers and path.
    pub(crate) fn dialect(&self, headers: &HeaderMap, path: &str) -> Dialect {
        if self.problem_on_accept && accepts_problem(headers) {
            return Dialect::Problem;
        }
        if let Some(name) = &self.version_header {
            if let Some(value) = headers.get(name) {
                let value = value.as_bytes().trim_ascii();
                if let Some((_, d)) = self.versions.iter().find(|(v, _)| v.as_bytes() == value) {
                    return *d;
                }
            }
        }
        for (prefix, dialect) in &self.prefixes {
            if has_prefix(path, prefix) {
                return *dialect;
            }
        }
        self.default
    }
}

/// Whether `path` is `prefix` or lies under it (`/v1` matches `/v1` and
/// `/v1/scans`, not `/v10`).
fn has_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Whether any `Accept` media range is `application/problem+json` with q > 0.
fn accepts_problem(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| {
            value.split(',').any(|range| {
                let mut params = range.split(';');
                let media = params.next().unwrap_or_default().trim();
                media.eq_ignore_ascii_case("application/problem+json")
                    && !params.any(|p| {
                        let p = p.trim();
                        p.split_once('=').is_some_and(|(k, v)| {
                            k.trim().eq_ignore_ascii_case("q")
                                && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                        })
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn accept_problem_wins_when_enabled() {
        let n = Negotiation::new(Dialect::Envelope);
        let cases = [
            ("application/problem+json", Dialect::Problem),
            (
                "text/html, Application/Problem+JSON;q=0.5",
                Dialect::Problem,
            ),
            ("application/problem+json;q=0", Dialect::Envelope),
            ("application/json", Dialect::Envelope),
        ];
        for (accept, want) in cases {
            assert_eq!(
                n.dialect(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
        let off = Negotiation {
            problem_on_accept: false,
            ..n
        };
        assert_eq!(
            off.dialect(&headers(&[("accept", "application/problem+json")]), "/"),
            Dialect::Envelope
        );
    }

    #[test]
    fn versions_by_header_then_prefix() {
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(HeaderName::from_static("x-api-version"));
        n.versions
            .push((HeaderValue::from_static("1"), Dialect::Flat));
        n.prefixes.push(("/v1/".to_owned(), Dialect::Flat));
        assert_eq!(
            n.dialect(&headers(&[("x-api-version", "1")]), "/v2/scans"),
            Dialect::Flat
        );
        assert_eq!(
            n.dialect(&headers(&[("x-api-version", "2")]), "/v2/scans"),
            Dialect::Envelope
        );
        assert_eq!(n.dialect(&HeaderMap::new(), "/v1/scans"), Dialect::Flat);
        assert_eq!(n.dialect(&HeaderMap::new(), "/v1"), Dialect::Flat);
        assert_eq!(
            n.dialect(&HeaderMap::new(), "/v10/scans"),
            Dialect::Envelope
        );
    }
}
