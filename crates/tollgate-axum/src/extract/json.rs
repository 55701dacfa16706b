use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::read_body;
use crate::Rejection;
use crate::rejection::{from_data_error, from_json_error, malformed_json};

/// JSON request bodies whose errors name the field as the caller wrote it,
/// and JSON responses.
///
/// - no `application/json` (or `application/*+json`) `Content-Type` →
///   `unsupported_media_type`, its message naming the type sent and
///   asking for `application/json`;
/// - a body still compressed (`Content-Encoding: gzip` that no
///   decompression layer decoded) → `unsupported_media_type` naming the
///   coding, with `Accept-Encoding: identity`;
/// - a body that is not JSON → `malformed_request`, with the parser's reason,
///   whatever else is wrong with it (`{} x` lacks every field too);
/// - a missing field → `missing_field` naming it (`items[0].name`);
/// - a wrong type or value → `validation_error` with one violation at its
///   path (`items[2].name`), also a number no number type holds (`1e400`:
///   valid JSON, whose value is what is wrong), and a field given twice
///   (`items[0].name` for `{"items":[{"name":"a","name":"b"}]}`), and a
///   body that is an array where a struct is read (serde's derive would read
///   its fields from the array by position; a struct inside is still read
///   so);
/// - a body over the limit → `payload_too_large`.
///
/// A byte order mark before the JSON (a file saved as "UTF-8 with BOM") is
/// skipped, as RFC 8259 §8.1 lets a parser do, and as [`tollgate::decode`]
/// skips one before an error; positions in errors count from after it.
///
/// ```
/// use serde::Deserialize;
/// use tollgate_axum::Json;
///
/// #[derive(Deserialize)]
/// struct Item { name: String }
/// #[derive(Deserialize)]
/// struct Order { items: Vec<Item> }
///
/// let err = Json::<Order>::from_bytes(br#"{"items":[{"name":"a"},{"name":"b"},{"name":5}]}"#)
///     .err().unwrap().into_api_error();
/// assert_eq!(err.code(), "validation_error");
/// assert_eq!(err.violations()[0].field, "items[2].name");
/// assert_eq!(err.violations()[0].code, "invalid_type");
///
/// let err = Json::<Order>::from_bytes(br#"{"items":[{}]}"#).err().unwrap().into_api_error();
/// assert_eq!(err.code(), "missing_field");
/// assert_eq!(err.details()["field"], "items[0].name");
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Json<T> {
    /// Reads a JSON body.
    pub fn from_bytes(bytes: &[u8]) -> Result<Json<T>, Rejection> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        Self::read(bytes).map_err(|err| {
            if err.code() == "malformed_request" {
                return err.into();
            }
            // A body that is not JSON is told so, whatever its fields: serde
            // reads a struct's fields as they come, and tells one missing or
            // of the wrong type before it reaches what is not JSON (`{} x`,
            // `{"a":"x"} ]`). Read again only on this error path.
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(syntax) if !syntax.is_data() => malformed_json(&syntax.to_string()),
                _ => err,
            }
            .into()
        })
    }

    fn read(bytes: &[u8]) -> Result<Json<T>, tollgate::ApiError> {
        if bytes.trim_ascii_start().starts_with(b"[") && reads_a_struct::<T>() {
            return Err(from_data_error(
                "",
                "invalid type: array, expected an object",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(from_json_error)?;
        de.end().map_err(|e| malformed_json(&e.to_string()))?;
        Ok(Json(value))
    }
}

/// Whether `T` is read from a struct's fields: serde's derive reads those
/// from an array too, by position (`["s", []]` for `{"session_id": "s",
/// "frames": []}`), which no API documents, so a body that is an array is
/// refused for one. Found by asking `T` to read itself from a deserializer
/// that only says which kind of value it was asked for.
fn reads_a_struct<T: DeserializeOwned>() -> bool {
    use serde::de::{self, Deserializer, Visitor};

    /// What the probe answers when asked for a struct.
    const STRUCT: &str = "a struct";

    struct Probe;

    impl<'de> Deserializer<'de> for Probe {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("another kind"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom(STRUCT))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    T::deserialize(Probe).is_err_and(|e| e.to_string() == STRUCT)
}

fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state, is_json, "application/json").await?;
        Json::from_bytes(&bytes)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Frame {
        #[allow(dead_code)]
        t: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Session {
        #[allow(dead_code)]
        frames: Vec<Frame>,
    }

    /// The one violation a body is refused with.
    fn refused(body: &[u8]) -> tollgate::Violation {
        let err = Json::<Session>::from_bytes(body)
            .unwrap_err()
            .into_api_error();
        assert_eq!(err.code(), "validation_error");
        let [violation] = err.violations() else {
            panic!("one violation: {:?}", err.violations());
        };
        violation.clone()
    }

    /// The one violation a body is refused with: its field and code.
    fn violation(body: &[u8]) -> (String, String) {
        let violation = refused(body);
        (violation.field.to_string(), violation.code.to_string())
    }

    /// A struct is read from an object only, not from an array of its
    /// fields by position; a type that is read from an array still is.
    #[test]
    fn an_array_is_no_struct() {
        for body in [
            &br#"[[{"t":0}]]"#[..],
            b"[]",
            b" \n[ ]",
            b"\xEF\xBB\xBF[[]]",
        ] {
            let violation = refused(body);
            assert_eq!(
                (violation.field.as_str(), violation.code.as_str()),
                ("", "invalid_type")
            );
            assert_eq!(violation.message, "invalid type: array, expected an object");
        }
        assert!(Json::<Session>::from_bytes(br#"{"frames":[{"t":0}]}"#).is_ok());
        assert!(Json::<Vec<Frame>>::from_bytes(br#"[{"t":0}]"#).is_ok());
        assert!(Json::<(u8, String)>::from_bytes(br#"[1, "a"]"#).is_ok());
        assert!(Json::<serde_json::Value>::from_bytes(b"[1]").is_ok());
    }

    /// A body that is not JSON is told so, though serde reads a field
    /// missing or of the wrong type first.
    #[test]
    fn a_body_that_is_not_json_is_malformed_whatever_its_fields() {
        for (body, reason) in [
            (
                &b"{} xx"[..],
                "more follows the JSON value at line 1 column 4",
            ),
            (b"{}{}", "more follows the JSON value at line 1 column 3"),
            (
                br#"{"frames":"x","#,
                "the body ends inside an object at line 1 column 14",
            ),
            (b"[", "the body ends inside an array at line 1 column 1"),
        ] {
            let err = Json::<Session>::from_bytes(body)
                .unwrap_err()
                .into_api_error();
            assert_eq!(err.code(), "malformed_request", "{body:?}");
            assert_eq!(err.details()["reason"], reason, "{body:?}");
        }
        // JSON whose fields are wrong is told by its fields.
        assert_eq!(violation(br#"{"frames":"x"}"#).1, "invalid_type");
    }

    #[test]
    fn a_field_given_twice_or_unknown_is_the_field_named() {
        let field = |body: &[u8]| violation(body).0;
        assert_eq!(field(br#"{"frames":[{"t":0,"t":1}]}"#), "frames[0].t");
        assert_eq!(field(br#"{"frames":[],"frames":[]}"#), "frames");
        assert_eq!(
            violation(br#"{"frames":[{"t":0,"zzz":1}]}"#),
            ("frames[0].zzz".into(), "unknown_field".into())
        );
    }

    /// A misspelled field is told the one the client likely meant.
    #[test]
    fn a_misspelled_field_is_told_the_one_meant() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Note {
            text: String,
            tags: Vec<String>,
        }
        let err = Json::<Note>::from_bytes(br#"{"txet":"hi","tags":[]}"#)
            .unwrap_err()
            .into_api_error();
        let [violation] = err.violations() else {
            panic!("one violation: {:?}", err.violations());
        };
        assert_eq!(
            (&*violation.field, &*violation.code, &*violation.message),
            (
                "txet",
                "unknown_field",
                "unknown field `txet`, expected `text` or `tags` (did you mean `text`?)"
            )
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_json_is_skipped() {
        let marked = b"\xEF\xBB\xBF{\"frames\":[{\"t\":1}]}";
        assert_eq!(
            Json::<Session>::from_bytes(marked).unwrap().0.frames.len(),
            1
        );
        // Positions count from after the mark, as an editor shows them.
        let err = Json::<Session>::from_bytes(b"\xEF\xBB\xBF{,}")
            .unwrap_err()
            .into_api_error();
        assert_eq!(err.code(), "malformed_request");
        assert!(
            err.details()["reason"]
                .as_str()
                .unwrap()
                .ends_with("line 1 column 2"),
            "{:?}",
            err.details()
        );
        // Only one mark, and only at the start.
        for body in [
            &b"\xEF\xBB\xBF\xEF\xBB\xBF{\"frames\":[]}"[..],
            b" \xEF\xBB\xBF{\"frames\":[]}",
            b"{\"frames\":[]}\xEF\xBB\xBF",
        ] {
            let err = Json::<Session>::from_bytes(body)
                .unwrap_err()
                .into_api_error();
            assert_eq!(err.code(), "malformed_request", "{body:?}");
        }
    }

    #[test]
    fn json_is_application_json_or_an_application_type_with_the_json_suffix() {
        for json in [
            "application/json",
            "application/problem+json",
            "application/vnd.api+json",
        ] {
            assert!(is_json(json), "{json}");
        }
        for other in [
            "application/xml",
            "text/plain+json",
            "text/json",
            "application/jsonx",
        ] {
            assert!(!is_json(other), "{other}");
        }
    }

    #[tokio::test]
    async fn a_json_response_is_the_value_as_json() {
        let response = Json(serde_json::json!({"id": 7})).into_response();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 64)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"id":7}"#);
    }
}
