//! `POST /v1/detections`: the situations of seed 004 (a frame-detection API
//! with credits), answered in whatever dialect the server speaks.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use tollgate::{ApiError, Catalog, Violation};
use tollgate_axum::{HandlerError, Json, Rejection, Reply};

use super::app::{AppState, adopt};
use super::model::{self, DETECTION_MODELS, DetectionModel};
use super::scans::with_issue;

/// The most violations reported for one request.
const MAX_VIOLATIONS: usize = 20;
/// The longest `session_id`, once trimmed.
pub(crate) const MAX_SESSION_ID: usize = 128;

/// `POST /v1/detections`.
#[derive(Deserialize)]
pub(crate) struct NewDetection {
    /// The caller's id for the capture session.
    session_id: String,
    /// The captured frames, in order.
    frames: Vec<Frame>,
    /// `mixed-10-v2` (the default) or `mixed-30-v2`.
    #[serde(default)]
    model: Option<String>,
}

/// One captured frame.
#[derive(Deserialize)]
struct Frame {
    /// Milliseconds since the session started; increasing.
    #[serde(deserialize_with = "whole_number")]
    t: u64,
    /// Mean brightness of the frame, 0–255.
    brightness: f64,
}

/// A whole number of `u64`'s range, written as an integer or, as JSON
/// Schema counts integers, as a number without a fraction (`40.0`, `4e1`)
/// below 2^53, where a float is exact.
fn whole_number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
    struct WholeNumber;
    impl serde::de::Visitor<'_> for WholeNumber {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number from 0 to 18446744073709551615")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            // 2^64, the first whole number past `u64::MAX` (an integer that
            // long arrives here as a float), and 2^53, from which a float
            // does not hold every whole number: `9007199254740993.0` is read
            // as 2^53, another number than the client wrote.
            const PAST_MAX: f64 = 18_446_744_073_709_551_616.0;
            const INEXACT_FROM: f64 = 9_007_199_254_740_992.0;
            match v {
                _ if v >= PAST_MAX => Err(E::custom(
                    "the number is too large: expected a whole number from 0 to \
                     18446744073709551615",
                )),
                _ if v >= INEXACT_FROM => Err(E::custom(
                    "a number from 2^53 on written with a fraction or an exponent is not exact: \
                     write it as an integer",
                )),
                _ if v.fract() == 0.0 && v >= 0.0 => Ok(v as u64),
                _ => Err(E::invalid_value(serde::de::Unexpected::Float(v), &self)),
            }
        }
    }
    de.deserialize_any(WholeNumber)
}

/// A detection, as the API returns it.
#[derive(Serialize)]
pub(crate) struct DetectionView {
    id: String,
    session_id: String,
    model: &'static str,
    frames: usize,
    live: bool,
    score: f64,
}

/// A refusal of the body in the app's wording, `missing_field` with the
/// `issue` seed 001 gives it. No violation is added for the missing field:
/// the envelope names the field from the `field` detail (seed 004's
/// `{"session_id":["session_id is required"]}`), and the other dialects
/// send it as seed 001 does, in `details` alone.
fn refused_body(catalog: &Catalog, err: ApiError) -> ApiError {
    with_issue(adopt(catalog, err))
}

/// `POST /v1/detections`: score a session's frames (scope
/// `detections:write`, 1 credit).
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<NewDetection>, Rejection>,
) -> Result<Reply<DetectionView>, HandlerError> {
    let Json(new) =
        body.map_err(|r| HandlerError::from_api(refused_body(&app.catalog, r.into_api_error())))?;
    // Every field's mistake is told at once; the frame count is checked
    // only against a model that exists, for a request otherwise valid.
    let mut violations = Vec::new();
    let session_id = new.session_id.trim();
    if session_id.is_empty() || session_id.chars().count() > MAX_SESSION_ID {
        let message = format!("must be 1–{MAX_SESSION_ID} characters");
        violations.push(Violation::new("session_id", "invalid_value", message));
    }
    let model = match new.model.as_deref() {
        None => Some(DETECTION_MODELS[0]),
        Some(name) => DetectionModel::find(name),
    };
    if model.is_none() {
        let names: Vec<&str> = DETECTION_MODELS.iter().map(|m| m.name).collect();
        violations.push(Violation::new(
            "model",
            "invalid_value",
            // The name is not repeated: it may be megabytes long.
            format!("unknown model: expected {}", names.join(" or ")),
        ));
    }
    for (i, frame) in new.frames.iter().enumerate() {
        if !(0.0..=255.0).contains(&frame.brightness) {
            violations.push(Violation::new(
                format!("frames[{i}].brightness"),
                "out_of_range",
                "must be between 0 and 255",
            ));
        }
        if i > 0 && frame.t <= new.frames[i - 1].t {
            violations.push(Violation::new(
                format!("frames[{i}].t"),
                "not_increasing",
                "must be greater than the previous frame's t",
            ));
        }
        if violations.len() >= MAX_VIOLATIONS {
            violations.truncate(MAX_VIOLATIONS);
            break;
        }
    }
    let model = match model {
        Some(model) if violations.is_empty() => model,
        _ => return Err(invalid(&app.catalog, violations).into()),
    };
    if new.frames.len() < model.min_frames {
        let err = app
            .error("insufficient_frames")
            .with("model", model.short_name())
            .with("required", model.min_frames)
            .with("received", new.frames.len());
        return Err(err.into());
    }
    let brightness: Vec<f64> = new.frames.iter().map(|f| f.brightness).collect();
    let (live, score) = model::liveness(&brightness);
    Ok(Reply(DetectionView {
        id: format!("det_{}", uuid::Uuid::now_v7().simple()),
        session_id: session_id.to_owned(),
        model: model.name,
        frames: new.frames.len(),
        live,
        score,
    }))
}

/// `validation_error` with `violations`; the message names the first, for
/// dialects that carry no violations, unless the catalog words the code its
/// own way (seed 002's "Invalid request parameters"): raised from the
/// built-in entry and adopted, as the extractors' errors are, so the rule is
/// [`ApiError::with_default_message`]'s.
pub(crate) fn invalid(catalog: &Catalog, violations: Vec<Violation>) -> ApiError {
    let mut err = super::app::error(Catalog::builtin_ref(), "validation_error");
    if let Some(first) = violations.first() {
        err = err.with_default_message(first.told());
    }
    for v in violations {
        err = err.violation(v);
    }
    adopt(catalog, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// `t` is a whole number as JSON Schema counts one, so `40.0` too, as
    /// the document's `"type": "integer"` promises.
    #[test]
    fn frame_times_are_whole_numbers_written_either_way() {
        let t = |v: Value| {
            serde_json::from_value::<Frame>(json!({"t": v, "brightness": 1}))
                .map(|f| f.t)
                .ok()
        };
        assert_eq!(t(json!(40)), Some(40));
        assert_eq!(t(json!(40.0)), Some(40));
        assert_eq!(t(json!(-0.0)), Some(0));
        assert_eq!(t(json!(u64::MAX)), Some(u64::MAX));
        assert_eq!(
            t(json!(9_007_199_254_740_991.0)),
            Some(9_007_199_254_740_991)
        );
        for refused in [
            // From 2^53 on a float may be another number than the one written.
            json!(9_007_199_254_740_992.0),
            json!(18_446_744_073_709_549_568.0),
            json!(40.5),
            json!(-1),
            json!(-1.0),
            json!(18_446_744_073_709_551_616.0),
            json!("40"),
            Value::Null,
        ] {
            assert_eq!(t(refused.clone()), None, "{refused}");
        }
    }

    /// A refused `t` says what it must be: serde's message, which the
    /// violation carries to the client, ends with the expectation.
    #[test]
    fn a_refused_frame_time_names_what_is_expected() {
        for refused in [json!(40.5), json!(-1), json!("40")] {
            let err = serde_json::from_value::<Frame>(json!({"t": refused, "brightness": 1}))
                .err()
                .unwrap();
            assert!(
                err.to_string()
                    .ends_with("expected a whole number from 0 to 18446744073709551615"),
                "{refused}: {err}"
            );
        }
        // Too large for any whole number (an integer that long is read as a
        // float), or not exact: said so, not as a "floating point".
        let said = |t: &str| {
            let body = format!(r#"{{"t":{t},"brightness":1}}"#);
            serde_json::from_str::<Frame>(&body)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(
            said("18446744073709551616").starts_with("the number is too large: expected"),
            "{}",
            said("18446744073709551616")
        );
        assert!(
            said("9007199254740993.0").starts_with("a number from 2^53 on written with a fraction"),
            "{}",
            said("9007199254740993.0")
        );
    }

    /// A catalog that words `validation_error` its own way (seeds 002 and
    /// 003) has its message sent; with the built-in wording, the first
    /// violation's is. The violations keep their own either way.
    #[test]
    fn a_catalogs_own_validation_message_is_sent() {
        let violations = || {
            vec![
                Violation::new("session_id", "invalid_value", "must be 1–128 characters"),
                Violation::new("model", "invalid_value", "unknown model"),
            ]
        };
        let base = super::super::app::base_catalog().unwrap();
        let err = invalid(&base, violations());
        assert_eq!(err.message(), "session_id: must be 1–128 characters");
        for (file, message) in [
            ("002-extraction.toml", "Invalid request parameters"),
            (
                "003-neo.toml",
                "The request was well-formed but semantically invalid.",
            ),
            ("004-detection.toml", "session_id: must be 1–128 characters"),
        ] {
            let mut catalog = super::super::app::base_catalog().unwrap();
            let path = format!(
                "{}/../../examples/catalogs/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            catalog
                .load_toml(&path, &std::fs::read_to_string(&path).unwrap())
                .unwrap();
            let err = invalid(&catalog, violations());
            assert_eq!(err.message(), message, "{file}");
            assert_eq!(err.violations(), violations(), "{file}");
            assert!(std::sync::Arc::ptr_eq(
                err.def(),
                catalog.get("validation_error").unwrap()
            ));
        }
    }

    #[test]
    fn a_missing_field_is_told_in_the_apps_wording_as_seed_001_details_it() {
        let builtin = tollgate::Catalog::builtin_ref();
        let raised = || {
            builtin
                .error("missing_field")
                .unwrap()
                .with("field", "session_id")
        };
        let app = super::super::app::base_catalog().unwrap();
        let err = refused_body(&app, raised());
        assert_eq!(err.message(), "Missing required field 'session_id'");
        assert_eq!(err.details()["field"], "session_id");
        assert_eq!(err.details()["issue"], "This field is required.");
        // In `details` alone: a violation would add `errors` to the body.
        assert!(err.violations().is_empty());
        let other = refused_body(&app, builtin.error("malformed_request").unwrap());
        assert!(other.details().get("issue").is_none());

        let mut app = super::super::app::base_catalog().unwrap();
        app.load_toml(
            "t.toml",
            "[errors.missing_field]\nmessage = '{field} is required'\n",
        )
        .unwrap();
        assert_eq!(
            refused_body(&app, raised()).message(),
            "session_id is required"
        );
    }
}
