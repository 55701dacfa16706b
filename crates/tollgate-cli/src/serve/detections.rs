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

/// The most violations reported for one request's frames.
const MAX_VIOLATIONS: usize = 20;
/// The longest `session_id`.
const MAX_SESSION_ID: usize = 128;

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
    t: u64,
    /// Mean brightness of the frame, 0–255.
    brightness: f64,
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

/// A field-level error, as seed 004 reports `missing_field`: the message
/// (the app catalog's wording) under the field's name, not the code's.
fn field_level(catalog: &Catalog, err: ApiError) -> ApiError {
    let err = adopt(catalog, err);
    if err.code() != "missing_field" || !err.violations().is_empty() {
        return err;
    }
    let Some(field) = err.details().get("field").and_then(|f| f.as_str()) else {
        return err;
    };
    let violation = Violation::new(field, "missing_field", err.message());
    with_issue(err.violation(violation))
}

/// `POST /v1/detections`: score a session's frames (scope
/// `detections:write`, 1 credit).
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<NewDetection>, Rejection>,
) -> Result<Reply<DetectionView>, HandlerError> {
    let Json(new) =
        body.map_err(|r| HandlerError::from_api(field_level(&app.catalog, r.into_api_error())))?;
    let model = match new.model.as_deref() {
        None => DETECTION_MODELS[0],
        Some(name) => DetectionModel::find(name).ok_or_else(|| {
            let names: Vec<&str> = DETECTION_MODELS.iter().map(|m| m.name).collect();
            invalid(
                &app,
                vec![Violation::new(
                    "model",
                    "invalid_value",
                    // The name is not repeated: it may be megabytes long.
                    format!("unknown model: expected {}", names.join(" or ")),
                )],
            )
        })?,
    };
    let session_id = new.session_id.trim();
    if session_id.is_empty() || session_id.chars().count() > MAX_SESSION_ID {
        let message = format!("must be 1–{MAX_SESSION_ID} characters");
        let violation = Violation::new("session_id", "invalid_value", message);
        return Err(invalid(&app, vec![violation]).into());
    }
    if new.frames.len() < model.min_frames {
        let err = app
            .error("insufficient_frames")
            .with("model", model.short_name())
            .with("required", model.min_frames)
            .with("received", new.frames.len());
        return Err(err.into());
    }
    let mut violations = Vec::new();
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
    if !violations.is_empty() {
        return Err(invalid(&app, violations).into());
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
/// dialects that carry no violations.
fn invalid(app: &AppState, violations: Vec<Violation>) -> ApiError {
    let mut err = app.error("validation_error");
    if let Some(first) = violations.first() {
        err = err.with_message(format!("{}: {}", first.field, first.message));
    }
    for v in violations {
        err = err.violation(v);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_become_field_level_in_the_apps_wording() {
        let builtin = tollgate::Catalog::builtin_ref();
        let raised = || {
            builtin
                .error("missing_field")
                .unwrap()
                .with("field", "session_id")
        };
        let app = super::super::app::base_catalog().unwrap();
        let err = field_level(&app, raised());
        assert_eq!(err.violations().len(), 1);
        assert_eq!(err.violations()[0].field, "session_id");
        assert_eq!(
            err.violations()[0].message,
            "Missing required field 'session_id'"
        );
        assert_eq!(err.details()["issue"], "This field is required.");
        let other = field_level(&app, builtin.error("malformed_request").unwrap());
        assert!(other.violations().is_empty());

        let mut app = super::super::app::base_catalog().unwrap();
        app.load_toml(
            "t.toml",
            "[errors.missing_field]\nmessage = '{field} is required'\n",
        )
        .unwrap();
        let err = field_level(&app, raised());
        assert_eq!(err.message(), "session_id is required");
        assert_eq!(err.violations()[0].message, "session_id is required");
    }
}
