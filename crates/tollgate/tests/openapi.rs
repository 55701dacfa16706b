//! The generated OpenAPI validates against the OpenAPI 3.1 schema
//! (`tests/data/oas-3.1-schema.json`, the OpenAPI Initiative's 2022-10-07
//! schema), and every body Tollgate renders validates against its dialect's
//! error schema.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tollgate::docs::openapi;
use tollgate::{Catalog, Context, Dialect, Violation};

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).unwrap()
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn documents_validate_against_the_openapi_3_1_schema() {
    let schema: Value = serde_json::from_str(include_str!("data/oas-3.1-schema.json")).unwrap();
    let oas = validator(&schema);
    let catalog = Catalog::builtin();
    let codes: Vec<&str> = catalog.iter().map(|d| d.code()).collect();
    for dialect in Dialect::ALL {
        let mut responses = openapi::responses(&catalog, dialect, &codes);
        responses.insert("200".into(), json!({"description": "OK"}));
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {"/v1/things": {"get": {"responses": responses}}},
            "components": openapi::components(&catalog, dialect),
        });
        assert_eq!(errors(&oas, &doc), Vec::<String>::new(), "{dialect}");
        // And a broken document is caught, so the check is real.
        let mut broken = doc.clone();
        broken["paths"]["/v1/things"]["get"]["responses"]["404"]["content"] = json!(3);
        assert!(!oas.is_valid(&broken));
    }
}

#[test]
fn rendered_bodies_match_their_dialect_schema() {
    let catalog = Catalog::builtin();
    let ctx = Context::new(SystemTime::now())
        .request_id("req_1")
        .instance("/v1/x");
    for dialect in Dialect::ALL {
        let schema = validator(&openapi::error_schema(dialect));
        for def in catalog.iter() {
            let plain = catalog.error(def.code()).unwrap();
            let full = catalog
                .error(def.code())
                .unwrap()
                .with("extra", json!({"a": 1}))
                .violation(Violation::new(
                    "items[2].name",
                    "invalid_type",
                    "must be a string",
                ))
                .violation(Violation::new("id", "missing_field", "is required"))
                .retry_after(Duration::from_millis(1500));
            for err in [plain, full] {
                let body: Value =
                    serde_json::from_slice(&catalog.renderer(dialect).body(&err, &ctx)).unwrap();
                assert_eq!(
                    errors(&schema, &body),
                    Vec::<String>::new(),
                    "{dialect} {body}"
                );
            }
        }
        assert!(!schema.is_valid(&json!({"unexpected": true})), "{dialect}");
    }
    // Without a request id, and for a bare body a client could be sent by
    // mistake: a JSON:API error list with no error in it is not one.
    let bare = Context::new(SystemTime::now());
    for dialect in Dialect::ALL {
        let schema = validator(&openapi::error_schema(dialect));
        let err = catalog.error("not_found").unwrap();
        let body: Value =
            serde_json::from_slice(&catalog.renderer(dialect).body(&err, &bare)).unwrap();
        assert_eq!(
            errors(&schema, &body),
            Vec::<String>::new(),
            "{dialect} {body}"
        );
    }
    let jsonapi = validator(&openapi::error_schema(Dialect::Jsonapi));
    assert!(!jsonapi.is_valid(&json!({"errors": []})));
    assert!(!jsonapi.is_valid(&json!({"errors": [{}]})));
}

#[test]
fn every_header_the_renderer_sends_is_documented() {
    let catalog = Catalog::builtin();
    let ctx = Context::new(SystemTime::now()).request_id("req_1");
    for dialect in Dialect::ALL {
        let components = openapi::components(&catalog, dialect);
        for def in catalog.iter() {
            let documented = &components["responses"][def.code()]["headers"];
            // Any error may ask for a wait.
            let err = catalog
                .error(def.code())
                .unwrap()
                .retry_after(Duration::from_secs(3));
            let response = catalog.renderer(dialect).response(&err, &ctx);
            for name in response.headers().keys() {
                if name == "content-type" {
                    continue;
                }
                let known = documented
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name.as_str())));
                assert!(known, "{dialect} {}: {name} undocumented", def.code());
            }
        }
        let headers = |code: &str| components["responses"][code]["headers"].clone();
        assert!(headers("rate_limit_exceeded")["RateLimit-Policy"].is_object());
        assert!(headers("rate_limit_exceeded")["RateLimit"].is_object());
        assert!(headers("invalid_key")["WWW-Authenticate"].is_object());
        assert!(headers("insufficient_scope")["WWW-Authenticate"].is_object());
        assert!(headers("account_suspended")["WWW-Authenticate"].is_null());
        assert!(headers("method_not_allowed")["Allow"].is_object());
        assert!(headers("unsupported_media_type")["Accept-Encoding"].is_object());
        assert!(headers("not_found")["RateLimit"].is_null());
    }
}

/// Seed 002's API: its framework's errors in `detail`, its rate limit
/// (raised by middleware) in `coded`. The document says so: the entry's
/// response refers to `CodedError`, its example is that shape, and a
/// status shared with an entry in `detail` takes either schema.
#[test]
fn an_entry_sent_in_another_dialect_is_documented_in_it() {
    let schema: Value = serde_json::from_str(include_str!("data/oas-3.1-schema.json")).unwrap();
    let oas = validator(&schema);
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "002.toml",
            "[errors.rate_limit_exceeded]\nsent_in = { detail = 'coded' }\n",
        )
        .unwrap();
    let components = openapi::components(&catalog, Dialect::Detail);
    let schemas = components["schemas"].as_object().unwrap();
    assert_eq!(
        schemas.keys().collect::<Vec<_>>(),
        ["Error", "Problem", "CodedError"]
    );
    assert_eq!(
        components["schemas"]["CodedError"],
        openapi::error_schema(Dialect::Coded)
    );
    let limited = &components["responses"]["rate_limit_exceeded"]["content"];
    let json = &limited["application/json"];
    assert_eq!(json["schema"]["$ref"], "#/components/schemas/CodedError");
    assert!(json["example"]["error"]["code"].is_string(), "{json}");
    assert!(
        validator(&openapi::error_schema(Dialect::Coded)).is_valid(&json["example"]),
        "{json}"
    );
    // Asked for problem details, it is written as any other entry.
    assert_eq!(
        limited["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    let other = &components["responses"]["not_found"]["content"]["application/json"];
    assert_eq!(other["schema"]["$ref"], "#/components/schemas/Error");

    // 429 is the rate limit's (coded) and the usage limit's (detail).
    let responses = openapi::responses(
        &catalog,
        Dialect::Detail,
        &["usage_limit_exceeded", "rate_limit_exceeded", "not_found"],
    );
    let shared = &responses["429"]["content"]["application/json"];
    assert_eq!(
        shared["schema"],
        json!({"oneOf": [
            {"$ref": "#/components/schemas/Error"},
            {"$ref": "#/components/schemas/CodedError"},
        ]})
    );
    assert!(shared["examples"]["rate_limit_exceeded"]["value"]["error"].is_object());
    assert!(shared["examples"]["usage_limit_exceeded"]["value"]["detail"].is_object());
    assert_eq!(
        responses["404"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Error"})
    );
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/v1/things": {"get": {"responses": responses}}},
        "components": components,
    });
    assert_eq!(errors(&oas, &doc), Vec::<String>::new());
    // Where the API answers in `coded`, nothing is another's.
    let coded = openapi::components(&catalog, Dialect::Coded);
    assert!(coded["schemas"].get("CodedError").is_none());

    // Sent each in the other, the example is the one the API sends.
    let mut both = Catalog::builtin();
    both.load_toml(
        "t.toml",
        "[errors.not_found]\nsent_in = { detail = 'coded', coded = 'detail' }\n",
    )
    .unwrap();
    let content = &openapi::components(&both, Dialect::Detail)["responses"]["not_found"]["content"]
        ["application/json"];
    assert_eq!(content["schema"]["$ref"], "#/components/schemas/CodedError");
    assert!(content["example"]["error"].is_object(), "{content}");
    // Sent in `coded` where a client asks for problem details: one media
    // type of two dialects, either schema, the API's own example first.
    let mut asked = Catalog::builtin();
    asked
        .load_toml(
            "t.toml",
            "[errors.not_found]\nsent_in = { problem = 'coded' }\n",
        )
        .unwrap();
    let content =
        &openapi::components(&asked, Dialect::Detail)["responses"]["not_found"]["content"];
    assert_eq!(
        content.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["application/json"]
    );
    assert_eq!(
        content["application/json"]["schema"],
        json!({"oneOf": [
            {"$ref": "#/components/schemas/Error"},
            {"$ref": "#/components/schemas/CodedError"},
        ]})
    );
    assert!(content["application/json"]["example"]["detail"].is_string());
}

#[test]
fn a_code_named_twice_is_described_once() {
    let catalog = Catalog::builtin();
    let responses = openapi::responses(
        &catalog,
        Dialect::Problem,
        &["not_found", "not_found", "rate_limit_exceeded"],
    );
    assert_eq!(responses["404"]["description"], "`not_found`: Not found");
    // Headers of every code sharing the status are merged.
    let limited = &responses["429"]["headers"];
    assert!(limited["Retry-After"].is_object() && limited["RateLimit"].is_object());
}

/// A status shared by an error that always asks for a wait and one that
/// never does (409: `idempotency_key_in_use`, `conflict`) promises
/// `Retry-After` only when the server asks, in whichever order the codes
/// come: a `conflict` carries none.
/// No code promises a `Retry-After`: a handler's `service_unavailable` may
/// know of no wait, and then sends none rather than one made up.
#[test]
fn retry_after_is_told_as_sent_when_the_server_asks_for_a_wait() {
    let catalog = Catalog::builtin();
    let components = openapi::components(&catalog, Dialect::Problem);
    for code in ["rate_limit_exceeded", "service_unavailable", "conflict"] {
        let description = &components["responses"][code]["headers"]["Retry-After"]["description"];
        assert_eq!(
            description, "Seconds to wait before retrying, when the server asks for a wait.",
            "{code}"
        );
    }
    let responses = openapi::responses(
        &catalog,
        Dialect::Problem,
        &["service_unavailable", "upstream_unavailable"],
    );
    assert_eq!(
        responses["503"]["headers"]["Retry-After"],
        components["responses"]["service_unavailable"]["headers"]["Retry-After"]
    );
}

/// Descriptions are CommonMark: a title is shown as written, not read as
/// HTML, emphasis or a table cell's end.
#[test]
fn titles_in_descriptions_are_text() {
    let mut catalog = Catalog::builtin();
    let title = "<img src=x onerror=alert(1)> *Quota* | gone";
    let entry = format!("[errors.quota_gone]\nstatus = 410\ntitle = '{title}'\nmessage = 'm'\n");
    catalog.load_toml("t.toml", &entry).unwrap();
    let escaped = r"\<img src=x onerror=alert(1)\> \*Quota\* \| gone";
    let components = openapi::components(&catalog, Dialect::Problem);
    assert_eq!(
        components["responses"]["quota_gone"]["description"],
        format!("{escaped} (`quota_gone`)")
    );
    let responses = openapi::responses(&catalog, Dialect::Problem, &["quota_gone"]);
    assert_eq!(
        responses["410"]["description"],
        format!("`quota_gone`: {escaped}")
    );
}

#[test]
fn examples_fill_message_only_values() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "t.toml",
            "[errors.rate_limit_exceeded]\ndetails = []\nmessage_only = ['limit', 'window']\n",
        )
        .unwrap();
    let def = catalog.get("rate_limit_exceeded").unwrap();
    let body = tollgate::docs::example_body(&catalog, Dialect::Coded, def);
    assert_eq!(
        body["error"]["message"],
        "Rate limit exceeded: 100 calls per 60 seconds"
    );
    assert_eq!(body["error"]["details"], serde_json::json!({}));
}

/// An example shows each value as the layers send it: a number as a
/// number, from the entry's `examples`; `"<key>"` where it gives none.
#[test]
fn examples_show_values_of_their_type() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "t.toml",
            "[errors.low_confidence]\nstatus = 422\ntitle = 'Low confidence'\n\
             message = 'Confidence {confidence} is below {threshold} for {model}.'\n\
             details = ['confidence', 'threshold', 'model']\n\
             examples = { confidence = 0.42, threshold = 0.6 }\n\
             [errors.insufficient_credits]\ndetails = ['required']\nmessage = 'Needs {required}.'\n",
        )
        .unwrap();
    let def = catalog.get("low_confidence").unwrap();
    let body = tollgate::docs::example_body(&catalog, Dialect::Coded, def);
    assert_eq!(
        body["error"]["details"],
        serde_json::json!({"confidence": 0.42, "threshold": 0.6, "model": "<model>"})
    );
    assert_eq!(
        body["error"]["message"],
        "Confidence 0.42 is below 0.6 for <model>."
    );
    // The built-in sample of a key the override still names is kept.
    let def = catalog.get("insufficient_credits").unwrap();
    let body = tollgate::docs::example_body(&catalog, Dialect::Coded, def);
    assert_eq!(body["error"]["details"], serde_json::json!({"required": 1}));

    let told = Catalog::builtin()
        .load_toml(
            "t.toml",
            "[errors.insufficient_credits]\nexamples = { balance = 3 }\n",
        )
        .unwrap_err();
    assert_eq!(
        told[0].to_string(),
        "t.toml:2:12: entry \"insufficient_credits\": examples key \"balance\" is neither in `details` nor in `message_only`"
    );
}
