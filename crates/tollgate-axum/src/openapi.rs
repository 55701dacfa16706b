//! Catalog responses for a [`utoipa`] OpenAPI document (feature `utoipa`).
//!
//! ```
//! use tollgate::{Catalog, Dialect};
//! use utoipa::openapi::{OpenApiBuilder, PathsBuilder, PathItem, HttpMethod};
//! use utoipa::openapi::path::OperationBuilder;
//! use utoipa::openapi::{ResponseBuilder};
//!
//! let op = OperationBuilder::new()
//!     .response("201", ResponseBuilder::new().description("Created"))
//!     .build();
//! let doc = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path("/v1/scans", PathItem::new(HttpMethod::Post, op)))
//!     .build();
//! let catalog = Catalog::builtin();
//! let doc = tollgate_axum::openapi::add_error_responses(
//!     doc, &catalog, Dialect::Problem, &["invalid_key", "rate_limit_exceeded", "internal_error"],
//! ).unwrap();
//! let json = serde_json::to_value(&doc).unwrap();
//! let responses = &json["paths"]["/v1/scans"]["post"]["responses"];
//! assert!(responses["201"].is_object());
//! assert!(responses["429"]["content"]["application/problem+json"]["examples"]["rate_limit_exceeded"].is_object());
//! assert!(json["components"]["schemas"]["Error"].is_object());
//! ```

use serde_json::Value;
use tollgate::docs::openapi;
use tollgate::{Catalog, Dialect};

/// Adds the catalog's error schema (`components.schemas.Error`), one
/// `components.responses` entry per code, and to every operation the
/// responses for `codes` (grouped by status, one example per code) that it
/// does not declare already. `codes` are typically the ones the middleware
/// can answer with anywhere (401, 403, 413, 415, 429, 500, 504).
///
/// Works through the document's JSON form, so it keeps everything utoipa
/// generated; fails only if that form does not read back (a utoipa bug).
pub fn add_error_responses(
    doc: utoipa::openapi::OpenApi,
    catalog: &Catalog,
    dialect: Dialect,
    codes: &[&str],
) -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    let mut value = serde_json::to_value(&doc)?;
    let generated = openapi::components(catalog, dialect);
    let components = value.as_object_mut().map(|doc| {
        doc.entry("components")
            .or_insert_with(|| Value::Object(Default::default()))
    });
    if let Some(Value::Object(components)) = components {
        for part in ["schemas", "responses"] {
            let target = components
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
            if let (Value::Object(target), Some(Value::Object(source))) =
                (target, generated.get(part))
            {
                for (name, item) in source {
                    target.entry(name.clone()).or_insert_with(|| item.clone());
                }
            }
        }
    }
    let responses = openapi::responses(catalog, dialect, codes);
    if let Some(Value::Object(paths)) = value.get_mut("paths") {
        for item in paths.values_mut() {
            let Value::Object(item) = item else { continue };
            for (method, operation) in item.iter_mut() {
                let is_operation = matches!(
                    method.as_str(),
                    "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                );
                let Some(Value::Object(existing)) =
                    operation.get_mut("responses").filter(|_| is_operation)
                else {
                    continue;
                };
                for (status, response) in &responses {
                    existing
                        .entry(status.clone())
                        .or_insert_with(|| response.clone());
                }
            }
        }
    }
    serde_json::from_value(value)
}
