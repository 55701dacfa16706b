use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::Method;
use serde::de::DeserializeOwned;

use super::{Query, body_rejection, media_type, refuse_encoded};
use crate::Rejection;
use crate::rejection::{builtin, from_urlencoded_error};

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
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
        serde_path_to_error::deserialize(de)
            .map(Form)
            .map_err(|e| Rejection::from(from_urlencoded_error(e)))
    }
}

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
        if media_type(req.headers()).as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(Rejection::from(builtin("unsupported_media_type")));
        }
        refuse_encoded(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        Form::from_bytes(&bytes)
    }
}
