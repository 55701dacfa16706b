use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Rejection;
use crate::rejection::from_urlencoded_error;

/// Query strings whose errors name the parameter: a missing one is
/// `missing_field`, a bad value `validation_error` with a violation at it.
///
/// ```
/// use serde::Deserialize;
/// use tollgate_axum::Query;
///
/// #[derive(Deserialize)]
/// struct Page { page: u32 }
///
/// let err = Query::<Page>::from_query("page=abc").err().unwrap().into_api_error();
/// assert_eq!(err.code(), "validation_error");
/// assert_eq!(err.violations()[0].field, "page");
/// let err = Query::<Page>::from_query("").err().unwrap().into_api_error();
/// assert_eq!(err.details()["field"], "page");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> Query<T> {
    /// Reads a query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Query<T>, Rejection> {
        from_urlencoded(query.as_bytes()).map(Query)
    }
}

/// Reads URL-encoded pairs (a query string, a form body), an error naming
/// the field.
pub(super) fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| Rejection::from(from_urlencoded_error(e)))
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::from_query(parts.uri.query().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Params {
        page: Option<u32>,
        small: Option<i8>,
        ratio: Option<f64>,
        all: Option<bool>,
    }

    /// A value Rust's parsers refuse is told in the caller's terms, not in
    /// theirs (`number too large to fit in target type`).
    #[test]
    fn a_value_that_does_not_parse_is_told_in_the_callers_terms() {
        for (query, field, message) in [
            ("page=abc", "page", "expected a whole number (digits only)"),
            ("page=1.5", "page", "expected a whole number (digits only)"),
            ("page=", "page", "expected a whole number, got nothing"),
            ("page=99999999999", "page", "the number is too large"),
            ("small=-200", "small", "the number is too small"),
            ("ratio=x", "ratio", "expected a number"),
            ("all=yes", "all", "expected true or false"),
        ] {
            let err = Query::<Params>::from_query(query)
                .err()
                .unwrap()
                .into_api_error();
            assert_eq!(err.code(), "validation_error", "{query}");
            let violation = &err.violations()[0];
            assert_eq!(
                (&*violation.field, &*violation.message),
                (field, message),
                "{query}"
            );
            assert_eq!(err.message(), format!("{field}: {message}"), "{query}");
        }
        // axum's own `Query`, behind the gate, reads the same.
        let text =
            "Failed to deserialize query string: page: number too large to fit in target type";
        let err = crate::rejection::recognise(400, text, None, false).unwrap();
        assert_eq!(err.violations()[0].message, "the number is too large");
    }
}
