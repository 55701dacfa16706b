use axum::extract::{FromRequest, Request};
use http::Method;
use serde::de::DeserializeOwned;

use super::query::from_urlencoded;
use super::{Query, read_body};
use crate::Rejection;

/// URL-encoded forms: the body of a `POST` (which must be
/// `application/x-www-form-urlencoded`, else `unsupported_media_type`), the
/// query string of a `GET` or `HEAD`. Errors name the field like [`Query`]'s.
///
/// ```
/// use serde::Deserialize;
/// use tollgate_axum::Form;
///
/// #[derive(Deserialize)]
/// struct Login { user: String, remember: bool }
///
/// let err = Form::<Login>::from_bytes(b"user=ann&remember=maybe").err().unwrap().into_api_error();
/// assert_eq!(err.violations()[0].field, "remember");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> Form<T> {
    /// Reads a URL-encoded body.
    pub fn from_bytes(bytes: &[u8]) -> Result<Form<T>, Rejection> {
        from_urlencoded(bytes).map(Form)
    }
}

/// The one media type a form body is read in.
const FORM_TYPE: &str = "application/x-www-form-urlencoded";

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let Query(value) = Query::from_query(req.uri().query().unwrap_or_default())?;
            return Ok(Form(value));
        }
        let bytes = read_body(req, state, |media| media == FORM_TYPE, FORM_TYPE).await?;
        Form::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Page {
        page: u32,
    }

    async fn page(method: Method, uri: &str, body: &'static str) -> Result<u32, String> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        match Form::<Page>::from_request(request, &()).await {
            Ok(Form(page)) => Ok(page.page),
            Err(rejection) => Err(rejection.into_api_error().code().to_owned()),
        }
    }

    #[tokio::test]
    async fn a_get_or_head_reads_the_query_string_and_a_post_its_body() {
        assert_eq!(page(Method::GET, "/?page=2", "page=3").await, Ok(2));
        assert_eq!(page(Method::HEAD, "/?page=2", "").await, Ok(2));
        assert_eq!(page(Method::POST, "/?page=2", "page=3").await, Ok(3));
        assert_eq!(
            page(Method::GET, "/", "page=3").await,
            Err("missing_field".to_owned())
        );
    }
}
