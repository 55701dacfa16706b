use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use http::request::Parts;
use serde::de::DeserializeOwned;
use tollgate::ApiError;

use crate::Rejection;
use crate::rejection::{builtin, invalid_field, recognise, unparsed_path_value};

/// Path parameters whose errors name the parameter as the route does
/// (`/users/{id}` → `id`): a value that does not parse is `validation_error`
/// with a violation at it (an enum's unknown variant at the parameter that
/// holds it, or at none when several hold the same value); a route whose
/// parameters do not fit the type (a programming error) is
/// `internal_error`, its cause logged.
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate_axum::Path;
///
/// async fn user(Path(id): Path<u32>) -> String { id.to_string() }
/// let app: Router = Router::new().route("/users/{id}", get(user));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let route = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map(|m| m.as_str().to_owned());
                let values = RawPathParams::from_request_parts(parts, state).await.ok();
                Err(Rejection::from(path_error(
                    rejection,
                    route.as_deref().unwrap_or_default(),
                    values.as_ref(),
                )))
            }
        }
    }
}

/// The `index`th `{name}` of a route (`/a/{x}/b/{y}`, 1 → `y`).
fn param_name(route: &str, index: usize) -> Option<&str> {
    route
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*'))
        .nth(index)
}

/// The one parameter holding the value `message` quotes first, as serde
/// quotes an enum's unknown variant (``unknown variant `zz`, expected …``);
/// `None` when no parameter holds it, or several do.
fn quoted_param<'a>(message: &str, values: &'a RawPathParams) -> Option<&'a str> {
    let (_, rest) = message.split_once('`')?;
    let (quoted, _) = rest.split_once('`')?;
    let mut holding = values.iter().filter(|(_, value)| *value == quoted);
    let (name, _) = holding.next()?;
    holding.next().is_none().then_some(name)
}

fn invalid(field: &str, code: &str, message: String) -> ApiError {
    invalid_field(field, code, &message)
}

fn path_error(rejection: PathRejection, route: &str, values: Option<&RawPathParams>) -> ApiError {
    let generic = |r: &PathRejection| {
        recognise(r.status().as_u16(), &r.body_text(), None, false)
            .unwrap_or_else(|| builtin("internal_error"))
    };
    let PathRejection::FailedToDeserializePathParams(failed) = &rejection else {
        return generic(&rejection);
    };
    match failed.kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => {
            let (code, message) = unparsed_path_value(value, expected_type);
            invalid(key, code, message)
        }
        ErrorKind::ParseErrorAtIndex {
            index,
            value,
            expected_type,
        } => {
            let field = param_name(route, *index).map_or_else(|| index.to_string(), str::to_owned);
            let (code, message) = unparsed_path_value(value, expected_type);
            invalid(&field, code, message)
        }
        ErrorKind::ParseError {
            value,
            expected_type,
        } => {
            let (code, message) = unparsed_path_value(value, expected_type);
            invalid(param_name(route, 0).unwrap_or_default(), code, message)
        }
        ErrorKind::InvalidUtf8InPathParam { key } => invalid(
            key,
            "invalid_value",
            "not valid UTF-8 once percent-decoded".to_owned(),
        ),
        ErrorKind::DeserializeError { key, message, .. } => {
            invalid(key, "invalid_value", message.clone())
        }
        // A value's own error (an enum's unknown variant): axum does not say
        // which parameter, so it is the route's only one, or the one
        // holding the value the message quotes.
        ErrorKind::Message(message) => {
            let only = param_name(route, 0).filter(|_| param_name(route, 1).is_none());
            let named = only.or_else(|| quoted_param(message, values?));
            invalid(named.unwrap_or_default(), "invalid_value", message.clone())
        }
        // A route whose parameters do not fit the type (a wrong number, an
        // unsupported type) is axum's 500: `internal_error`, its text the
        // source for the log.
        _ => generic(&rejection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_named_from_the_route() {
        assert_eq!(param_name("/a/{x}/b/{y}", 1), Some("y"));
        assert_eq!(param_name("/files/{*rest}", 0), Some("rest"));
        assert_eq!(param_name("/a", 0), None);
    }

    /// What `uri` is refused with on `route`, by a handler taking `P`:
    /// the error's code, the field of its violation, its message, and its
    /// source for the log.
    async fn refusal<P>(route: &str, uri: &str) -> String
    where
        P: DeserializeOwned + Send + 'static,
    {
        use axum::routing::get;
        use tower::ServiceExt;
        async fn handler<P: DeserializeOwned + Send>(path: Result<Path<P>, Rejection>) -> String {
            let Err(rejection) = path else {
                return "taken".to_owned();
            };
            let err = rejection.into_api_error();
            let field = err.violations().first().map(|v| v.field.to_string());
            let source = err.source_error().map(|s| format!(" ({s})"));
            let source = source.unwrap_or_default();
            format!("{} {field:?} {}{source}", err.code(), err.message())
        }
        let app = axum::Router::new().route(route, get(handler::<P>));
        let request = http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_value_that_does_not_parse_or_decode_is_named_by_its_parameter() {
        #[derive(serde::Deserialize)]
        struct Ids {
            #[allow(dead_code)]
            x: u32,
            #[allow(dead_code)]
            y: u32,
        }
        let expected = r#"validation_error Some("y") y: cannot parse `zz` as a whole number from 0 to 4294967295"#;
        assert_eq!(refusal::<Ids>("/a/{x}/b/{y}", "/a/1/b/zz").await, expected);
        assert_eq!(
            refusal::<(u32, u32)>("/a/{x}/b/{y}", "/a/1/b/zz").await,
            expected
        );
        assert_eq!(
            refusal::<u32>("/b/{y}", "/b/zz").await,
            expected,
            "a lone value"
        );
        // A whole number out of range is told as a query's is.
        assert_eq!(
            refusal::<u8>("/b/{y}", "/b/300").await,
            r#"validation_error Some("y") y: the number is too large: expected a whole number from 0 to 255"#
        );
        assert_eq!(
            refusal::<(u32, i8)>("/a/{x}/b/{y}", "/a/1/b/-129").await,
            r#"validation_error Some("y") y: the number is too small: expected a whole number from -128 to 127"#
        );
        assert_eq!(
            refusal::<bool>("/b/{y}", "/b/yes").await,
            r#"validation_error Some("y") y: cannot parse `yes` as true or false"#
        );
        assert_eq!(
            refusal::<char>("/b/{y}", "/b/ab").await,
            r#"validation_error Some("y") y: cannot parse `ab` as a single character"#
        );
        assert_eq!(
            refusal::<f64>("/b/{y}", "/b/x").await,
            r#"validation_error Some("y") y: cannot parse `x` as a number"#
        );
        assert_eq!(
            refusal::<String>("/b/{y}", "/b/%FF").await,
            r#"validation_error Some("y") y: not valid UTF-8 once percent-decoded"#
        );
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Face,
        }
        #[derive(serde::Deserialize)]
        struct Kinds {
            #[allow(dead_code)]
            x: String,
            #[allow(dead_code)]
            y: Kind,
        }
        assert_eq!(
            refusal::<std::net::IpAddr>("/b/{y}", "/b/zz").await,
            r#"validation_error Some("y") y: invalid IP address syntax"#
        );
        // axum names no parameter for an enum's unknown variant: the only
        // one a route has is named, of several the one holding the value
        // quoted first, and none when several hold it.
        let unknown = r#"validation_error Some("y") y: unknown variant `zz`, expected `face`"#;
        assert_eq!(refusal::<Kind>("/b/{y}", "/b/zz").await, unknown);
        assert_eq!(refusal::<Kinds>("/a/{x}/b/{y}", "/a/1/b/zz").await, unknown);
        assert_eq!(
            refusal::<(String, Kind)>("/a/{x}/b/{y}", "/a/face/b/zz").await,
            unknown
        );
        assert_eq!(
            refusal::<Kinds>("/a/{x}/b/{y}", "/a/zz/b/zz").await,
            r#"validation_error Some("") unknown variant `zz`, expected `face`"#
        );
        // A route whose parameters do not fit the type: a 500, its cause
        // for the log.
        let misfit = refusal::<u32>("/a/{x}/b/{y}", "/a/1/b/2").await;
        let expected = "internal_error None An unexpected error occurred. (Wrong number of path";
        assert!(misfit.starts_with(expected), "{misfit}");
        assert_eq!(
            refusal::<(u32, u32)>("/a/{x}/b/{y}", "/a/1/b/2").await,
            "taken"
        );
    }
}
