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
