//! OpenAPI 3.1 pieces generated from the catalog: the error body schema of
//! each dialect, one response per code, and responses grouped by status for
//! an operation (one example per code).
//!
//! ```
//! use tollgate::{Catalog, Dialect, docs::openapi};
//! let catalog = Catalog::builtin();
//! let responses = openapi::responses(&catalog, Dialect::Coded, &["invalid_key", "expired_key", "not_found"]);
//! let unauthorized = &responses["401"]["content"]["application/json"];
//! assert_eq!(unauthorized["schema"]["$ref"], "#/components/schemas/Error");
//! assert!(unauthorized["examples"]["expired_key"]["value"].is_object());
//! ```

use serde_json::{Map, Value, json};

use super::example_body;
use super::markdown::plain;
use crate::{Catalog, Dialect, ErrorDef, Kind};

/// The JSON Schema (OpenAPI 3.1 dialect) of error bodies in `dialect`.
///
/// Every schema names its `type` (a `oneOf`, in each of its alternatives),
/// and fixed values are one-item `enum`s rather than `const`: generators
/// such as utoipa read a schema without a type back as no schema at all,
/// and drop `const`.
pub fn error_schema(dialect: Dialect) -> Value {
    let string = json!({"type": "string"});
    let violations = json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["field", "code", "message"],
            "properties": {"field": string, "code": string, "message": string}
        }
    });
    let details = json!({
        "type": "object",
        "description": "Extra context; field violations are listed under `errors`.",
        "properties": {"errors": violations},
        "additionalProperties": true
    });
    match dialect {
        Dialect::Problem => json!({
            "type": "object",
            "description": "RFC 9457 problem details; details appear as extension members.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": string,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": string,
                "instance": {"type": "string", "format": "uri-reference"},
                "code": string,
                "request_id": string,
                "retry_after": {"type": "integer", "minimum": 0},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["pointer", "detail", "code"],
                        "properties": {"pointer": string, "detail": string, "code": string}
                    }
                }
            },
            "additionalProperties": true
        }),
        Dialect::StatusCode => json!({
            "type": "object",
            "required": ["status", "timestamp", "error"],
            "properties": {
                "status": {"type": "string", "enum": ["error"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "integer", "description": "The HTTP status."},
                        "message": string,
                        "details": {"oneOf": [{"type": "string"}, details, {"type": "null"}]},
                        "retry_after": {"type": "integer", "minimum": 0}
                    }
                },
                "request_id": string
            }
        }),
        Dialect::Coded | Dialect::Meta => {
            let error = json!({
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {"code": string, "message": string, "details": details}
            });
            if dialect == Dialect::Coded {
                json!({
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": error, "request_id": string}
                })
            } else {
                json!({
                    "type": "object",
                    "required": ["error", "meta"],
                    "properties": {
                        "error": error,
                        "meta": {"type": "object", "properties": {"request_id": string}}
                    }
                })
            }
        }
        Dialect::Detail => json!({
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {"oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": string,
                            "message": string,
                            "field": string,
                            "errors": violations
                        },
                        "additionalProperties": true
                    }
                ]}
            }
        }),
        Dialect::Envelope => json!({
            "type": "object",
            "required": ["data", "success", "message", "errors"],
            "properties": {
                "data": {"type": "null"},
                "success": {"type": "boolean", "enum": [false]},
                "message": string,
                "errors": {
                    "type": "array",
                    "description": "Each entry maps an error code, or a field, to its messages.",
                    "items": {"type": "object", "additionalProperties": {"type": "array", "items": string}}
                }
            }
        }),
        Dialect::Flat => json!({
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": string, "message": string}
        }),
        Dialect::Google => json!({
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "status", "details"],
                    "properties": {
                        "code": {"type": "integer"},
                        "message": string,
                        "status": {"type": "string", "description": "google.rpc.Code name"},
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["@type"],
                                "properties": {"@type": string},
                                "additionalProperties": true
                            }
                        }
                    }
                }
            }
        }),
        Dialect::Stripe => json!({
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["type", "code", "message", "doc_url"],
                    "properties": {
                        "type": {"type": "string", "enum": ["api_error", "idempotency_error", "invalid_request_error"]},
                        "code": string,
                        "message": string,
                        "param": string,
                        "doc_url": string,
                        "errors": violations
                    },
                    "additionalProperties": true
                }
            }
        }),
        Dialect::Jsonapi => json!({
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "description": "The error itself, then one object per field violation \
                                    (with `source.pointer`).",
                    "items": {
                        "type": "object",
                        "required": ["status", "code", "title", "detail"],
                        "properties": {
                            "id": string,
                            "status": string,
                            "code": string,
                            "title": string,
                            "detail": string,
                            "source": {"type": "object", "properties": {"pointer": string}},
                            "links": {"type": "object", "properties": {"about": string}},
                            "meta": {
                                "type": "object",
                                "properties": {
                                    "retry_after": {"type": "integer", "minimum": 0}
                                },
                                "additionalProperties": true
                            }
                        }
                    }
                }
            }
        }),
    }
}

/// The IETF `RateLimit-Policy` and `RateLimit` headers, as an operation's
/// response lists them: on a rate-limit refusal here, and on every response
/// a limiter decided in a document that knows one applies (`tollgate serve`
/// adds them to all its responses).
pub fn ratelimit_headers() -> Map<String, Value> {
    let string = || json!({"type": "string"});
    let mut headers = Map::new();
    headers.insert(
        "RateLimit-Policy".into(),
        header(
            "Each rate-limit policy that applied, as `\"name\";q=<quota>;w=<window seconds>` \
             (draft-ietf-httpapi-ratelimit-headers-09).",
            string(),
        ),
    );
    headers.insert(
        "RateLimit".into(),
        header(
            "Each policy's state, as `\"name\";r=<calls left>;t=<seconds until the whole \
             burst is back, or for the policy that refused, until the call would be \
             admitted>` (draft-ietf-httpapi-ratelimit-headers-09).",
            string(),
        ),
    );
    headers
}

/// The `X-Request-Id` header, as a response lists it: the layer echoes
/// the request id on every response, successes included.
///
/// ```
/// let header = tollgate::docs::openapi::request_id_header();
/// assert_eq!(header["schema"]["type"], "string");
/// ```
pub fn request_id_header() -> Value {
    header(
        "The request id; quote it to support.",
        json!({"type": "string"}),
    )
}

fn header(description: &str, schema: Value) -> Value {
    // Built by hand: `json!` would copy `schema` through its serializer.
    let mut header = Map::new();
    header.insert("description".into(), description.into());
    header.insert("schema".into(), schema);
    Value::Object(header)
}

/// The headers a response with `def`'s error carries in `dialect`: the
/// request id and the code always; `Retry-After` where the error asks for a
/// wait; the RateLimit fields on a rate limit (when a limiter refused it);
/// the challenge on a 401, the allowed methods on a 405 and the accepted
/// codings on a 415 (kept from the layer that set them); Stripe's
/// `Request-Id`.
fn error_headers(def: &ErrorDef, dialect: Dialect) -> Map<String, Value> {
    let string = || json!({"type": "string"});
    let mut headers = Map::new();
    headers.insert("X-Request-Id".into(), request_id_header());
    headers.insert(
        "X-Error-Code".into(),
        header(
            "The error's catalog code, or its alias in this dialect.",
            string(),
        ),
    );
    if dialect == Dialect::Stripe {
        headers.insert(
            "Request-Id".into(),
            header("The request id, as Stripe names it.", string()),
        );
    }
    // Any error may carry a wait (a handler's 500 asking for 30 s), and
    // none always does: a handler's 503 may know of no wait to ask for.
    headers.insert(
        "Retry-After".into(),
        header(
            "Seconds to wait before retrying, when the server asks for a wait.",
            json!({"type": "integer", "minimum": 0}),
        ),
    );
    if def.kind() == Kind::RateLimited {
        headers.extend(ratelimit_headers());
    }
    if def.kind() == Kind::Unauthenticated {
        headers.insert(
            "WWW-Authenticate".into(),
            header(
                "How to authenticate (RFC 9110); for a credential sent but refused, its `error` and `error_description` say why (RFC 6750).",
                string(),
            ),
        );
    }
    if def.code() == "insufficient_scope" {
        headers.insert(
            "WWW-Authenticate".into(),
            header(
                "`error=\"insufficient_scope\"` and the `scope` the request needs (RFC 6750).",
                string(),
            ),
        );
    }
    if def.kind() == Kind::UnsupportedMediaType {
        headers.insert(
            "Accept-Encoding".into(),
            header(
                "The content codings a request body may be sent in, when its \
                 `Content-Encoding` was refused (RFC 9110).",
                string(),
            ),
        );
    }
    if def.status() == 405 {
        headers.insert(
            "Allow".into(),
            header("The methods the resource allows.", string()),
        );
    }
    headers
}

/// The media types an API answers its errors in: its dialect's own and,
/// beside a dialect other than `problem`, `application/problem+json` for a
/// client that asks for it in `Accept`, as `tollgate-axum` answers unless
/// told `problem_on_accept(false)`. A [`Dialect`] converts into this
/// default.
///
/// ```
/// use tollgate::{Catalog, Dialect, docs::openapi::{self, ErrorMedia}};
/// let only_coded = ErrorMedia::new(Dialect::Coded).problem_on_accept(false);
/// let components = openapi::components(&Catalog::builtin(), only_coded);
/// let content = components["responses"]["not_found"]["content"].as_object().unwrap();
/// assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"]);
/// assert!(components["schemas"].get("Problem").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMedia {
    dialect: Dialect,
    problem_on_accept: bool,
}

impl ErrorMedia {
    /// `dialect`'s media type, and `application/problem+json` beside it.
    pub fn new(dialect: Dialect) -> ErrorMedia {
        ErrorMedia {
            dialect,
            problem_on_accept: true,
        }
    }

    /// Whether `application/problem+json` is listed beside another
    /// dialect (default: yes).
    pub fn problem_on_accept(mut self, enabled: bool) -> ErrorMedia {
        self.problem_on_accept = enabled;
        self
    }

    /// The dialect errors are answered in by default.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether `application/problem+json` is listed beside the dialect's
    /// own media type (never beside `problem`'s own).
    pub fn lists_problem(&self) -> bool {
        self.problem_on_accept && self.dialect != Dialect::Problem
    }

    /// Each media type's dialect: the dialect's own, and `problem` when
    /// that is another and listed.
    fn each(self) -> impl Iterator<Item = Dialect> {
        let problem = self.lists_problem().then_some(Dialect::Problem);
        std::iter::once(self.dialect).chain(problem)
    }

    /// Each media type's dialect and the one `def` is written in there
    /// ([`ErrorDef::sent_in`]), once for each dialect written.
    fn each_of(self, def: &ErrorDef) -> Vec<(Dialect, Dialect)> {
        let mut dialects: Vec<(Dialect, Dialect)> = Vec::with_capacity(2);
        for asked in self.each() {
            let written = def.dialect_in(asked);
            if !dialects.iter().any(|&(_, w)| w == written) {
                dialects.push((asked, written));
            }
        }
        dialects
    }

    /// The name of the schema of `dialect`'s bodies: `Error` for the API's
    /// own, `Problem` for problem details, else the dialect's name before
    /// `Error` (`CodedError`), for an entry sent in it.
    fn schema_name(self, dialect: Dialect) -> String {
        match dialect {
            d if d == self.dialect => "Error".to_owned(),
            Dialect::Problem => "Problem".to_owned(),
            d => {
                let words = d.name().split('-');
                let mut name: String = words
                    .flat_map(|word| {
                        let mut chars = word.chars();
                        let first = chars.next().map(|c| c.to_ascii_uppercase());
                        first.into_iter().chain(chars)
                    })
                    .collect();
                name.push_str("Error");
                name
            }
        }
    }

    /// A `$ref` to the schema of `dialect`'s bodies.
    fn schema_ref(self, dialect: Dialect) -> Value {
        json!({"$ref": format!("#/components/schemas/{}", self.schema_name(dialect))})
    }
}

impl From<Dialect> for ErrorMedia {
    fn from(dialect: Dialect) -> ErrorMedia {
        ErrorMedia::new(dialect)
    }
}

/// `components` with `schemas.Error` (the dialect's body) and one entry of
/// `responses` per code, each with its example. Beside a dialect other than
/// `problem`, each response also lists `application/problem+json`
/// (`schemas.Problem`), unless `media` says the API does not answer it
/// ([`ErrorMedia`]). An entry [sent in](ErrorDef::sent_in) another dialect
/// there refers to that dialect's schema (`schemas.CodedError`).
///
/// ```
/// use tollgate::{Catalog, Dialect, docs::openapi};
/// let components = openapi::components(&Catalog::builtin(), Dialect::Coded);
/// let content = &components["responses"]["not_found"]["content"];
/// assert_eq!(content["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
/// assert_eq!(content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
/// ```
pub fn components(catalog: &Catalog, media: impl Into<ErrorMedia>) -> Value {
    let media = media.into();
    let responses: Map<String, Value> = catalog
        .iter()
        .map(|def| {
            (
                def.code().to_owned(),
                component_response(catalog, media, def),
            )
        })
        .collect();
    let mut components = Map::new();
    components.insert("schemas".into(), schemas(catalog, media));
    components.insert("responses".into(), Value::Object(responses));
    Value::Object(components)
}

/// The error schemas of [`components`]: `Error` (the dialect's bodies),
/// `Problem` beside it unless `media` says the API does not answer it, and
/// the schema of each dialect an entry is [sent in](ErrorDef::sent_in)
/// instead (`CodedError`). For a document whose responses are written one
/// at a time ([`component_response`]).
///
/// ```
/// use tollgate::{Catalog, Dialect, docs::openapi};
/// let catalog = Catalog::from_toml("002.toml", "[errors.rate_limit_exceeded]\nsent_in = { detail = 'coded' }\n")?;
/// let schemas = openapi::schemas(&catalog, Dialect::Detail);
/// assert_eq!(schemas["CodedError"], openapi::error_schema(Dialect::Coded));
/// assert_eq!(schemas, openapi::components(&catalog, Dialect::Detail)["schemas"]);
/// # Ok::<(), tollgate::CatalogErrors>(())
/// ```
pub fn schemas(catalog: &Catalog, media: impl Into<ErrorMedia>) -> Value {
    let media = media.into();
    let mut schemas = Map::new();
    let sent_in = catalog
        .iter()
        .flat_map(|def| media.each_of(def).into_iter().map(|(_, written)| written));
    for dialect in media.each().chain(sent_in) {
        schemas
            .entry(media.schema_name(dialect))
            .or_insert_with(|| error_schema(dialect));
    }
    Value::Object(schemas)
}

/// The response [`components`] lists under `def`'s code: its description,
/// headers and, in each media type, the schema and an example body. Made
/// one entry at a time, a large catalog's responses can be written out
/// without holding them all.
///
/// ```
/// use tollgate::{Catalog, Dialect, docs::openapi};
/// let catalog = Catalog::builtin();
/// let def = catalog.get("not_found").unwrap();
/// let response = openapi::component_response(&catalog, Dialect::Coded, def);
/// assert_eq!(response, openapi::components(&catalog, Dialect::Coded)["responses"]["not_found"]);
/// ```
pub fn component_response(
    catalog: &Catalog,
    media: impl Into<ErrorMedia>,
    def: &ErrorDef,
) -> Value {
    let media = media.into();
    // Built by hand: `json!` would copy every example and header through
    // its serializer, twice over for a large catalog.
    let mut content = Map::new();
    for (asked, written) in media.each_of(def) {
        // Two dialects of one media type (one sent in the other's): either
        // schema, the first one's example.
        let entry = content
            .entry(written.content_type())
            .or_insert_with(|| Value::Object(Map::new()));
        add_schema(entry, media.schema_ref(written));
        if entry.get("example").is_none() {
            entry["example"] = example_body(catalog, asked, def);
        }
    }
    let mut response = Map::new();
    response.insert(
        "description".into(),
        format!("{} (`{}`)", plain(def.title()), def.code()).into(),
    );
    response.insert(
        "headers".into(),
        Value::Object(error_headers(def, def.dialect_in(media.dialect))),
    );
    response.insert("content".into(), Value::Object(content));
    Value::Object(response)
}

/// `schema` as (one of) the schemas of a media type's entry: set when it
/// has none, else made or kept `oneOf` the schemas it lists.
fn add_schema(media_type: &mut Value, schema: Value) {
    match media_type.get_mut("schema") {
        None => media_type["schema"] = schema,
        Some(present) if *present == schema => {}
        Some(present) => match present.get_mut("oneOf") {
            Some(Value::Array(one_of)) if one_of.contains(&schema) => {}
            Some(Value::Array(one_of)) => one_of.push(schema),
            _ => *present = json!({"oneOf": [present.take(), schema]}),
        },
    }
}

/// An operation's error responses for `codes`, keyed by status: codes that
/// share a status share a response, with one named example each. Unknown
/// codes are skipped. The media types are [`components`]'s; where codes of
/// one status are written in two dialects of one media type (one
/// [sent in](ErrorDef::sent_in) another), its schema is `oneOf` both.
pub fn responses(
    catalog: &Catalog,
    media: impl Into<ErrorMedia>,
    codes: &[&str],
) -> Map<String, Value> {
    let media = media.into();
    let mut out: Map<String, Value> = Map::new();
    let mut seen = std::collections::HashSet::new();
    let defs = codes.iter().filter_map(|c| catalog.get(c));
    for def in defs.filter(|def| seen.insert(def.code())) {
        let response = out
            .entry(def.status().to_string())
            .or_insert_with(|| json!({"description": "", "headers": {}, "content": {}}));
        let description = response["description"].as_str().unwrap_or_default();
        let description = if description.is_empty() {
            format!("`{}`: {}", def.code(), plain(def.title()))
        } else {
            format!("{description}; `{}`: {}", def.code(), plain(def.title()))
        };
        response["description"] = description.into();
        if let Value::Object(headers) = &mut response["headers"] {
            for (name, header) in error_headers(def, def.dialect_in(media.dialect)) {
                headers.entry(name).or_insert(header);
            }
        }
        for (asked, written) in media.each_of(def) {
            let media_type = &mut response["content"][written.content_type()];
            add_schema(media_type, media.schema_ref(written));
            let examples = &mut media_type["examples"];
            if examples.get(def.code()).is_none() {
                let mut example = Map::new();
                example.insert("summary".into(), def.title().into());
                example.insert("value".into(), example_body(catalog, asked, def));
                examples[def.code()] = Value::Object(example);
            }
        }
    }
    out
}
