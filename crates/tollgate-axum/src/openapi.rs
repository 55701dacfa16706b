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
use tollgate::Catalog;
use tollgate::docs::openapi;

/// Adds the catalog's error schema (`components.schemas.Error`, and
/// `Problem` for `application/problem+json` beside another dialect, which
/// the layer answers a client that asks for it), one `components.responses`
/// entry per code, and to every operation the responses for `codes`
/// (grouped by status, one example per code) that it does not declare
/// already. `codes` are typically the ones the middleware can answer with
/// anywhere (400 for a `Transfer-Encoding` it cannot decode or several
/// `Host` lines, 401, 403, 413, 415, 429, 500, 504).
/// Every response the document
/// defines, its own included, lists `X-Request-Id`, which the layer echoes
/// on successes and errors alike. A document that has an
/// `Error` (or `Problem`) schema of its own keeps it, and the catalog's is
/// added as `TollgateError` (or `TollgateError2`, …, `TollgateProblem`, …).
///
/// A layer told `problem_on_accept(false)` answers only its dialect; pass
/// [`ErrorMedia`](openapi::ErrorMedia) told the same, and `Problem` is left
/// out.
///
/// Every operation gets the one dialect: where the layer pins another (a
/// path prefix, a version header), document those operations apart (a
/// document of their own, built with that dialect), or the schema describes
/// bodies they never send.
///
/// Works through the document's JSON form, so it keeps everything utoipa
/// generated; fails only if that form does not read back (a utoipa bug).
pub fn add_error_responses(
    doc: utoipa::openapi::OpenApi,
    catalog: &Catalog,
    media: impl Into<openapi::ErrorMedia>,
    codes: &[&str],
) -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    let media = media.into();
    let mut value = serde_json::to_value(&doc)?;
    let mut generated = openapi::components(catalog, media);
    let mut responses = openapi::responses(catalog, media, codes);
    let names: Vec<String> = generated["schemas"]
        .as_object()
        .map(|schemas| schemas.keys().cloned().collect())
        .unwrap_or_default();
    for ours in names {
        // The first of `Error`, `TollgateError`, `TollgateError2`, … (or
        // `Problem`, …) that the document does not hold, or holds as the
        // catalog's own schema.
        let schema = generated["schemas"][&ours].clone();
        let name = [ours.clone(), format!("Tollgate{ours}")]
            .into_iter()
            .chain((2..).map(|n| format!("Tollgate{ours}{n}")))
            .find(|name| {
                let theirs = value.pointer(&format!("/components/schemas/{name}"));
                theirs.is_none_or(|theirs| *theirs == schema)
            })
            .unwrap_or_default();
        if name != ours {
            rename_schema(&mut generated, &ours, &name);
            responses
                .values_mut()
                .for_each(|response| rename_schema(response, &ours, &name));
        }
    }
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
    if let Some(Value::Object(defined)) = value.pointer_mut("/components/responses") {
        defined.values_mut().for_each(add_request_id);
    }
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
                // The layer echoes the request id on every response.
                for response in existing.values_mut() {
                    add_request_id(response);
                }
            }
        }
    }
    serde_json::from_value(value)
}

/// `X-Request-Id` in `response`'s headers, unless it names it already (in
/// any case) or is a `$ref` to a response defined elsewhere.
fn add_request_id(response: &mut Value) {
    let Value::Object(response) = response else {
        return;
    };
    if response.contains_key("$ref") {
        return;
    }
    let headers = response
        .entry("headers")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(headers) = headers {
        if !headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("X-Request-Id"))
        {
            headers.insert("X-Request-Id".into(), openapi::request_id_header());
        }
    }
}

/// The catalog's schema `ours` is `name` in `value`: under that name, and
/// in every reference to it.
fn rename_schema(value: &mut Value, ours: &str, name: &str) {
    let reference = format!("#/components/schemas/{ours}");
    match value {
        Value::Object(members) => {
            if let Some(schema) = members.get_mut("schemas").and_then(Value::as_object_mut) {
                if let Some(error) = schema.remove(ours) {
                    schema.insert(name.to_owned(), error);
                }
            }
            for (key, member) in members.iter_mut() {
                match member {
                    Value::String(target) if key == "$ref" && *target == reference => {
                        *target = format!("#/components/schemas/{name}");
                    }
                    other => rename_schema(other, ours, name),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rename_schema(item, ours, name)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::Dialect;
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::{HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, ResponseBuilder};

    /// A document with one operation, `POST /v1/scans`, answering 201.
    fn scans_doc() -> utoipa::openapi::OpenApi {
        let op = OperationBuilder::new()
            .response("201", ResponseBuilder::new().description("Created"))
            .build();
        OpenApiBuilder::new()
            .paths(PathsBuilder::new().path("/v1/scans", PathItem::new(HttpMethod::Post, op)))
            .build()
    }

    #[test]
    fn every_dialect_reads_back_whole() {
        let catalog = Catalog::builtin();
        for dialect in Dialect::ALL {
            let doc = add_error_responses(
                scans_doc(),
                &catalog,
                dialect,
                &["invalid_key", "rate_limit_exceeded"],
            )
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
            let json = serde_json::to_value(&doc).unwrap();
            let generated = openapi::components(&catalog, dialect);
            for name in ["Error", "Problem"] {
                assert_eq!(
                    json["components"]["schemas"][name], generated["schemas"][name],
                    "{dialect}: {name} changed on its way through utoipa"
                );
            }
        }
    }

    #[test]
    fn a_layer_without_problem_on_accept_documents_its_dialect_only() {
        let media = openapi::ErrorMedia::new(Dialect::Coded).problem_on_accept(false);
        let doc = add_error_responses(scans_doc(), &Catalog::builtin(), media, &["invalid_key"]);
        let doc = doc.unwrap();
        let json = serde_json::to_value(&doc).unwrap();
        assert!(
            json["components"]["schemas"].get("Problem").is_none(),
            "{json}"
        );
        let content = &json["paths"]["/v1/scans"]["post"]["responses"]["401"]["content"];
        let types: Vec<_> = content.as_object().unwrap().keys().collect();
        assert_eq!(types, ["application/json"]);
        let listed = json["components"]["responses"]["invalid_key"]["content"].as_object();
        assert_eq!(listed.map(|content| content.len()), Some(1));
    }

    #[test]
    fn an_apps_own_error_schema_is_kept() {
        use utoipa::openapi::{ComponentsBuilder, ObjectBuilder, Type};
        let own = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("Mine"))
            .build();
        // A document with one operation and `components` of its own, with
        // the catalog's responses added.
        let catalog = Catalog::builtin();
        let with_ours = |components: ComponentsBuilder| {
            let op = OperationBuilder::new()
                .response("201", ResponseBuilder::new().description("Created"))
                .build();
            let doc = OpenApiBuilder::new()
                .paths(PathsBuilder::new().path("/v1/scans", PathItem::new(HttpMethod::Post, op)))
                .components(Some(components.build()))
                .build();
            let doc = add_error_responses(doc, &catalog, Dialect::Coded, &["invalid_key"]).unwrap();
            serde_json::to_value(&doc).unwrap()
        };
        let json = with_ours(ComponentsBuilder::new().schema("Error", own.clone()));
        assert_eq!(json["components"]["schemas"]["Error"]["title"], "Mine");
        let generated = openapi::components(&catalog, Dialect::Coded);
        assert_eq!(
            json["components"]["schemas"]["TollgateError"],
            generated["schemas"]["Error"]
        );
        let schema = &json["paths"]["/v1/scans"]["post"]["responses"]["401"]["content"]["application/json"]
            ["schema"];
        assert_eq!(schema["$ref"], "#/components/schemas/TollgateError");
        let text = json.to_string();
        assert!(!text.contains("\"#/components/schemas/Error\""), "{text}");

        // With a `TollgateError` of its own too, the catalog's takes the next name.
        let json = with_ours(
            ComponentsBuilder::new()
                .schema("Error", own.clone())
                .schema("TollgateError", own.clone()),
        );
        assert_eq!(
            json["components"]["schemas"]["TollgateError"]["title"],
            "Mine"
        );
        assert_eq!(
            json["components"]["schemas"]["TollgateError2"],
            generated["schemas"]["Error"]
        );
        let schema = &json["paths"]["/v1/scans"]["post"]["responses"]["401"]["content"]["application/json"]
            ["schema"];
        assert_eq!(schema["$ref"], "#/components/schemas/TollgateError2");

        // A `Problem` of its own: the catalog's problem schema moves aside.
        let json = with_ours(ComponentsBuilder::new().schema("Problem", own));
        assert_eq!(json["components"]["schemas"]["Problem"]["title"], "Mine");
        assert_eq!(
            json["components"]["schemas"]["TollgateProblem"],
            generated["schemas"]["Problem"]
        );
        let content = &json["paths"]["/v1/scans"]["post"]["responses"]["401"]["content"];
        assert_eq!(
            content["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/TollgateProblem"
        );
        assert_eq!(
            content["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }

    /// A schema can refer to the catalog's from inside a list (`oneOf`,
    /// `allOf`): those references follow the new name too.
    #[test]
    fn references_inside_lists_follow_the_new_name() {
        let mut value = serde_json::json!({
            "schemas": {"Error": {"type": "object"}},
            "oneOf": [
                {"$ref": "#/components/schemas/Error"},
                [{"$ref": "#/components/schemas/Error"}],
                {"$ref": "#/components/schemas/Other"}
            ]
        });
        rename_schema(&mut value, "Error", "TollgateError");
        assert_eq!(
            value,
            serde_json::json!({
                "schemas": {"TollgateError": {"type": "object"}},
                "oneOf": [
                    {"$ref": "#/components/schemas/TollgateError"},
                    [{"$ref": "#/components/schemas/TollgateError"}],
                    {"$ref": "#/components/schemas/Other"}
                ]
            })
        );
    }
}
