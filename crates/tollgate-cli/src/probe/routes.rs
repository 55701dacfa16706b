//! The routes a probe aims at: read from the API's OpenAPI document, or given
//! as `--route METHOD:PATH`, and which of them each request goes to.

use std::collections::HashMap;
use std::fmt;

use http::Method;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// What a `{name}` path parameter is replaced with.
pub(crate) const PATH_PARAMETER: &str = "tollgate-probe";

/// The media type of a JSON body, unless the document names another.
pub(crate) const JSON: &str = "application/json";

/// One route of the API under test.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Route {
    /// The method.
    pub(crate) method: Method,
    /// The path, with `{name}` for path parameters.
    pub(crate) path: String,
    /// Whether a key is needed: `Some(true)` when the OpenAPI document says
    /// so (security, or a 401 response), `Some(false)` when it says the
    /// route is public, `None` when nothing says.
    pub(crate) keyed: Option<bool>,
    /// The JSON media type of the route's body (`application/json`, or a
    /// `+json` type the document names), if it takes one.
    pub(crate) json_body: Option<String>,
    /// The request body example the document gives, if any.
    pub(crate) example: Option<Value>,
    /// Whether the route takes an `Idempotency-Key`: `Some(true)` when the
    /// document lists it among its header parameters, `Some(false)` when the
    /// document does not, `None` for a route given with `--route`.
    pub(crate) idempotency_key: Option<bool>,
}

impl Route {
    /// The type a body goes to it in: the JSON type it takes, else
    /// `application/json` (a probe's body for a route that names none).
    pub(crate) fn body_media(&self) -> String {
        self.json_body.clone().unwrap_or_else(|| JSON.to_owned())
    }

    /// The path with every `{name}` parameter filled with [`PATH_PARAMETER`].
    pub(crate) fn concrete_path(&self) -> String {
        let mut out = String::with_capacity(self.path.len());
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let Some(len) = rest[open..].find('}') else {
                break;
            };
            out.push_str(&rest[..open]);
            out.push_str(PATH_PARAMETER);
            rest = &rest[open + len + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// `METHOD:PATH`, such as `POST:/v1/scans`.
pub(crate) fn parse_route(arg: &str) -> Result<Route, String> {
    let invalid = |why: &str| {
        format!(
            "{why}: expected METHOD:PATH, such as POST:/v1/scans or GET:/v1/scans/{{id}}; found {:?}",
            crate::wire::clipped(arg)
        )
    };
    let (method, path) = arg
        .split_once(':')
        .ok_or_else(|| invalid("no `:` between the method and the path"))?;
    let method = Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| invalid("invalid method"))?;
    let path = path.trim();
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(invalid("the path must start with `/` and have no spaces"));
    }
    let json_body = [Method::POST, Method::PUT, Method::PATCH]
        .contains(&method)
        .then(|| JSON.to_owned());
    Ok(Route {
        method,
        path: path.to_owned(),
        keyed: None,
        json_body,
        example: None,
        idempotency_key: None,
    })
}

/// The longest path probed, in bytes (servers commonly refuse request lines
/// past 8 KiB; hyper's limit on the whole head is 64 KiB).
const MAX_PATH: usize = 2048;

/// The most members (or elements) read of one object (or array) of the
/// document; the rest are skipped.
const MAX_MEMBERS: usize = 10_000;

/// The largest request body example kept, in bytes of JSON.
const MAX_EXAMPLE: usize = 64 << 10;

/// The operations of an OpenAPI 3.x document (`get`, `post`, `put`,
/// `patch`, `delete`), in document order. Anything malformed is skipped.
///
/// The document is read lazily: each object the walk needs is split into
/// its members, each value left as the slice of the document it is. A
/// document costs what is kept of it, not a map for every object inside (a
/// hostile one of tiny objects, as a `serde_json::Value`, would take some
/// seventy times its size).
///
/// A document that is not a JSON object, or whose `paths` is not one, is an
/// error saying so (and where, for JSON that does not parse); a document
/// without `paths` has no routes.
///
/// The paths are below the document's first server (`servers[0].url`,
/// absolute or from `/`): its path is put before each, unless the base URL
/// probed (`base_path`) already ends with it. A server URL's `{variables}`
/// take their defaults. A Swagger 2.0 document's `basePath` and `in: body`
/// parameters are read for the same.
pub(crate) fn from_openapi(body: &[u8], base_path: &str) -> Result<Vec<Route>, String> {
    const METHODS: [(&str, Method); 5] = [
        ("get", Method::GET),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("patch", Method::PATCH),
        ("delete", Method::DELETE),
    ];
    // A document saved as "UTF-8 with BOM" reads as one without.
    let body = crate::wire::strip_bom(body);
    let Members(doc) = serde_json::from_slice::<Members<'_>>(body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(64)]);
        let yaml = ["openapi:", "swagger:", "---"]
            .iter()
            .any(|start| text.trim_start().starts_with(start));
        match yaml {
            true => "it is YAML, which probe does not read: serve the document as JSON".to_owned(),
            false => format!("it is not a JSON object ({e})"),
        }
    })?;
    // Swagger 2.0 writes the servers' path as `basePath`, and a body as an
    // `in: body` parameter of a `consumes` type.
    let swagger = member(&doc, "swagger").is_some();
    let doc_consumes = member(&doc, "consumes");
    let Some(paths) = member(&doc, "paths") else {
        return Ok(Vec::new());
    };
    let paths = members(paths).ok_or("its `paths` is not an object")?;
    let global_security = member(&doc, "security").and_then(security_says);
    let refs = Refs::of(&doc);
    let server = match swagger {
        true => member(&doc, "basePath").and_then(base_path_of),
        false => member(&doc, "servers").and_then(server_path),
    };
    let prefix = server
        .filter(|prefix| !base_path.trim_end_matches('/').ends_with(prefix.as_str()))
        .unwrap_or_default();
    let mut routes = Vec::new();
    for (path, item) in paths {
        // A path longer than any server takes is a document's mistake (or
        // its attack on the report's width): left out.
        if !path.starts_with('/') || prefix.len() + path.len() > MAX_PATH {
            continue;
        }
        let path = format!("{prefix}{path}");
        let Some(item) = members(item) else {
            continue;
        };
        for (name, method) in &METHODS {
            let Some(op) = member(&item, name).and_then(members) else {
                continue;
            };
            // The operation's own `security` over the document's; a 401
            // among its responses when neither says.
            let security = member(&op, "security").and_then(security_says);
            let keyed = match security.or(global_security) {
                Some(said) => said,
                None => member(&op, "responses")
                    .and_then(members)
                    .and_then(|responses| member(&responses, "401"))
                    .map(|_| true),
            };
            // `application/json` when the document names it, else the
            // first JSON type it names (JSON:API's `application/vnd.api+json`).
            let json = member(&op, "requestBody")
                .and_then(|body| refs.resolved(body))
                .and_then(members)
                .and_then(|body| member(&body, "content").and_then(members))
                .and_then(|content| {
                    let json = |media: &str| tollgate::headers::is_json_media(media);
                    content
                        .iter()
                        .find(|(media, _)| media.eq_ignore_ascii_case(JSON))
                        .or_else(|| content.iter().find(|(media, _)| json(media)))
                        .map(|(media, schema)| (media.clone(), *schema))
                })
                .or_else(|| swagger.then(|| swagger_body(&op, doc_consumes)).flatten());
            // The operation's parameters and its path's.
            let idempotency_key = [member(&op, "parameters"), member(&item, "parameters")]
                .into_iter()
                .flatten()
                .filter_map(|list| serde_json::from_str::<Elements<'_>>(list.get()).ok())
                .flat_map(|list| list.0)
                .any(|parameter| takes_idempotency_key(&refs, parameter));
            routes.push(Route {
                method: method.clone(),
                path: path.clone(),
                keyed,
                example: json.as_ref().and_then(|(_, schema)| example(schema)),
                json_body: json.map(|(media, _)| media),
                idempotency_key: Some(idempotency_key),
            });
        }
    }
    Ok(routes)
}

/// The document's `components`, read once: a `$ref` into them is found
/// without reading them again (a large document refers to them thousands of
/// times, and reading them for each took minutes).
struct Refs<'a> {
    /// Each section of `components` (`parameters`, `requestBodies`), its
    /// members by name.
    sections: HashMap<String, HashMap<String, &'a RawValue>>,
}

impl<'a> Refs<'a> {
    fn of(doc: &[(String, &'a RawValue)]) -> Refs<'a> {
        let sections = member(doc, "components")
            .and_then(members)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, section)| {
                let named = members(section).unwrap_or_default().into_iter().collect();
                (name, named)
            })
            .collect();
        Refs { sections }
    }

    /// `value`, or what its `$ref` names (`#/components/<section>/<name>`),
    /// followed a few times at most; `None` for a reference that names
    /// nothing there (another file, a deeper pointer, a loop).
    fn resolved(&self, mut value: &'a RawValue) -> Option<&'a RawValue> {
        for _ in 0..8 {
            let Some(target) = members(value).and_then(|m| member(&m, "$ref")) else {
                return Some(value);
            };
            let pointer: String = serde_json::from_str(target.get()).ok()?;
            let unescaped = |step: &str| step.replace("~1", "/").replace("~0", "~");
            let (section, name) = pointer.strip_prefix("#/components/")?.split_once('/')?;
            if name.contains('/') {
                return None;
            }
            value = self
                .sections
                .get(&unescaped(section))?
                .get(&unescaped(name))?;
        }
        None
    }
}

/// Whether `parameter` (or what its `$ref` names) is the `Idempotency-Key`
/// header.
fn takes_idempotency_key(refs: &Refs<'_>, parameter: &RawValue) -> bool {
    let Some(parameter) = refs.resolved(parameter).and_then(members) else {
        return false;
    };
    let text =
        |name| member(&parameter, name).and_then(|v| serde_json::from_str::<String>(v.get()).ok());
    text("in").as_deref() == Some("header")
        && text("name").is_some_and(|name| name.eq_ignore_ascii_case("idempotency-key"))
}

/// A JSON object's members in document order, each value the slice of the
/// document it is; at most [`MAX_MEMBERS`].
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.len() < MAX_MEMBERS {
                        members.push((key, map.next_value()?));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Members(members))
            }
        }
        from.deserialize_map(Visit)
    }
}

/// An array's elements, each the slice of the document it is; at most
/// [`MAX_MEMBERS`].
struct Elements<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Elements<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Elements<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elements<'de>, A::Error> {
                let mut elements = Vec::new();
                while elements.len() < MAX_MEMBERS {
                    match seq.next_element()? {
                        Some(element) => elements.push(element),
                        None => return Ok(Elements(elements)),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Elements(elements))
            }
        }
        from.deserialize_seq(Visit)
    }
}

/// The path of the first server of `servers` (an absolute URL's, or a URL
/// from `/`), its `{variables}` given their defaults, without a trailing
/// `/`; `None` for `/`, a URL relative to the document, or one with a
/// variable that has no default.
fn server_path(servers: &RawValue) -> Option<String> {
    let first = *serde_json::from_str::<Elements<'_>>(servers.get())
        .ok()?
        .0
        .first()?;
    let server = members(first)?;
    let url: String = serde_json::from_str(member(&server, "url")?.get()).ok()?;
    // `{name}` takes its variable's `default`, which OpenAPI requires.
    let defaults = member(&server, "variables").and_then(members);
    let mut filled = String::with_capacity(url.len());
    let mut rest = url.as_str();
    while let Some((before, after)) = rest.split_once('{') {
        let (name, after) = after.split_once('}')?;
        let variable = member(defaults.as_deref()?, name).and_then(members)?;
        let default: String = serde_json::from_str(member(&variable, "default")?.get()).ok()?;
        filled.push_str(before);
        filled.push_str(&default);
        rest = after;
    }
    filled.push_str(rest);
    let url = filled;
    if url.contains(['{', '}']) {
        return None;
    }
    let path = if url.starts_with('/') {
        url.split(['?', '#']).next().unwrap_or_default().to_owned()
    } else {
        reqwest::Url::parse(&url).ok()?.path().to_owned()
    };
    let path = path.trim_end_matches('/');
    (path.starts_with('/') && !path.contains(char::is_whitespace)).then(|| path.to_owned())
}

/// Swagger 2.0's `basePath` as a path to put before each (`None` for `/`).
fn base_path_of(raw: &RawValue) -> Option<String> {
    let path: String = serde_json::from_str(raw.get()).ok()?;
    let path = path.trim_end_matches('/');
    (path.starts_with('/') && !path.contains(char::is_whitespace)).then(|| path.to_owned())
}

/// A Swagger 2.0 operation's body: its `in: body` parameter (which holds
/// the schema and its example), sent in the first JSON type of its
/// `consumes` (or the document's), `application/json` when they name none.
fn swagger_body<'a>(
    op: &[(String, &'a RawValue)],
    doc_consumes: Option<&RawValue>,
) -> Option<(String, &'a RawValue)> {
    let parameters = serde_json::from_str::<Elements<'_>>(member(op, "parameters")?.get()).ok()?;
    let body = parameters.0.into_iter().find(|parameter| {
        members(parameter)
            .and_then(|p| serde_json::from_str::<String>(member(&p, "in")?.get()).ok())
            .is_some_and(|at| at == "body")
    })?;
    let consumes = member(op, "consumes").or(doc_consumes);
    let media = consumes
        .and_then(|list| serde_json::from_str::<Vec<String>>(list.get()).ok())
        .and_then(|list| {
            list.into_iter()
                .find(|media| tollgate::headers::is_json_media(media))
        })
        .unwrap_or_else(|| JSON.to_owned());
    Some((media, body))
}

/// The members of `raw`, when it is an object.
fn members(raw: &RawValue) -> Option<Vec<(String, &RawValue)>> {
    serde_json::from_str::<Members<'_>>(raw.get())
        .ok()
        .map(|m| m.0)
}

/// The first member called `name`.
fn member<'a>(members: &[(String, &'a RawValue)], name: &str) -> Option<&'a RawValue> {
    members
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| *value)
}

/// `security: [...]` (`None` when it is not an array): `Some(Some(false))`
/// for `[]` or only `{}` (public), `Some(Some(true))` when every
/// alternative names a scheme, `Some(None)` when a key is optional (`{}`
/// beside a scheme): then a request without one may succeed.
fn security_says(security: &RawValue) -> Option<Option<bool>> {
    let list = serde_json::from_str::<Elements<'_>>(security.get()).ok()?.0;
    let named: Vec<bool> = list
        .iter()
        .map(|req| members(req).is_some_and(|m| !m.is_empty()))
        .collect();
    Some(match (named.contains(&true), named.iter().all(|&n| n)) {
        (false, _) => Some(false),
        (true, true) => Some(true),
        (true, false) => None,
    })
}

/// A media type object's example: `example`, the first of `examples`, or
/// the schema's; one over [`MAX_EXAMPLE`] is left out.
fn example(media: &RawValue) -> Option<Value> {
    let media = members(media)?;
    let from_examples = || {
        member(&media, "examples")
            .and_then(members)?
            .into_iter()
            .find_map(|(_, example)| member(&members(example)?, "value"))
    };
    let from_schema = || member(&members(member(&media, "schema")?)?, "example");
    let raw = member(&media, "example")
        .or_else(from_examples)
        .or_else(from_schema)?;
    (raw.get().len() <= MAX_EXAMPLE)
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// Which route each request of the probe goes to.
#[derive(Debug, Default)]
pub(crate) struct Targets<'r> {
    /// A route that needs a key (or may): for the no-key and invalid-key requests.
    pub(crate) keyed: Option<&'r Route>,
    /// A route that takes JSON: malformed JSON, wrong content type, oversized body.
    pub(crate) body: Option<&'r Route>,
    /// A POST or PATCH route taking JSON, for Idempotency-Key reuse.
    pub(crate) idempotent: Option<&'r Route>,
    /// A path and a method it does not have.
    pub(crate) wrong_method: Option<(Method, &'r Route)>,
    /// A GET route for the burst.
    pub(crate) burst: Option<&'r Route>,
}

/// Picks the targets among `routes`, preferring what the document states.
pub(crate) fn targets(routes: &[Route], have_key: bool) -> Targets<'_> {
    // The first route with the smallest rank, so document order breaks ties.
    fn best(routes: &[Route], rank: impl Fn(&Route) -> Option<u8>) -> Option<&Route> {
        let mut best: Option<(u8, &Route)> = None;
        for route in routes {
            if let Some(r) = rank(route)
                && best.is_none_or(|(b, _)| r < b)
            {
                best = Some((r, route));
            }
        }
        best.map(|(_, route)| route)
    }
    let keyed = best(routes, |r| {
        let key_rank = match r.keyed {
            Some(true) => 0,
            None => 2,
            Some(false) => return None,
        };
        // GET first: a request refused for its key has no effect, but a
        // route that turns out to be public should not be sent a write.
        Some(key_rank + u8::from(r.method != Method::GET))
    });
    let body = best(routes, |r| {
        r.json_body
            .is_some()
            .then(|| u8::from(r.method != Method::POST) * 2 + u8::from(r.keyed == Some(false)))
    });
    // Only a route that takes an Idempotency-Key, as far as anything says:
    // an API that documents none need not honour one.
    let idempotent = best(routes, |r| {
        let takes_key = r.json_body.is_some()
            && (r.method == Method::POST || r.method == Method::PATCH)
            && r.idempotency_key != Some(false);
        takes_key.then(|| u8::from(r.method != Method::POST) * 2 + u8::from(r.keyed == Some(false)))
    });
    let wrong_method = keyed.or(routes.first()).and_then(|route| {
        let known: Vec<&Method> = routes
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| &r.method)
            .collect();
        // Methods least likely to change anything when sent by mistake first.
        [
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::POST,
            Method::GET,
        ]
        .into_iter()
        .find(|m| !known.contains(&m))
        .map(|m| (m, route))
    });
    let burst = best(routes, |r| {
        let rank = match (have_key, r.keyed) {
            (true, Some(true)) | (false, Some(false)) => 0,
            (_, None) => 1,
            _ => 2,
        };
        (r.method == Method::GET).then_some(rank)
    });
    Targets {
        keyed,
        body,
        idempotent,
        wrong_method,
        burst,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn routes_parse_from_flags() {
        let r = parse_route("post:/v1/scans").unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.json_body.is_some()),
            (Method::POST, "/v1/scans", true)
        );
        let r = parse_route("GET:/v1/scans/{id}").unwrap();
        assert!(r.json_body.is_none());
        assert_eq!(r.concrete_path(), "/v1/scans/tollgate-probe");
        let r = parse_route("GET:/a/{x}/{y}.json/{open").unwrap();
        assert_eq!(
            r.concrete_path(),
            "/a/tollgate-probe/tollgate-probe.json/{open"
        );
        for bad in ["/v1/scans", "GET:v1", "G T:/x", "GET:/a b", ""] {
            let e = parse_route(bad).unwrap_err();
            assert!(e.contains("expected METHOD:PATH"), "{bad:?}: {e}");
        }
    }

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/health": {"get": {"security": [], "responses": {"200": {}}}},
                "/v1/scans": {
                    "post": {
                        "security": [{"bearerAuth": ["scans:write"]}],
                        "parameters": [{"name": "Idempotency-Key", "in": "header"}],
                        "requestBody": {"content": {"application/json": {
                            "schema": {"type": "object"},
                            "examples": {"png": {"value": {"image_data": "iVBOR"}}}
                        }}},
                        "responses": {"201": {}}
                    }
                },
                "/v1/scans/{id}": {
                    "get": {"responses": {"200": {}, "401": {}}},
                    "delete": {"responses": {"204": {}}}
                },
                "/v1/feed": {"get": {"security": [{}, {"bearerAuth": []}], "responses": {"401": {}}}},
                "not-a-path": {"get": {}},
                "/v1/odd": {"get": 3}
            }
        })
    }

    #[test]
    fn routes_come_from_openapi() {
        let routes = from_openapi(doc().to_string().as_bytes(), "/").unwrap();
        let names: Vec<_> = routes
            .iter()
            .map(|r| {
                format!(
                    "{} {} {:?} {}",
                    r.method,
                    r.path,
                    r.keyed,
                    r.json_body.is_some()
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "GET /health Some(false) false",
                "POST /v1/scans Some(true) true",
                "GET /v1/scans/{id} Some(true) false",
                "DELETE /v1/scans/{id} None false",
                // A key is optional there: not known to be needed.
                "GET /v1/feed None false",
            ]
        );
        assert_eq!(routes[1].example, Some(json!({"image_data": "iVBOR"})));
        let refused = from_openapi(br#"{"paths": 1}"#, "/").unwrap_err();
        assert!(refused.contains("`paths` is not an object"), "{refused}");
        let refused = from_openapi(b"not json at all", "/").unwrap_err();
        assert!(refused.contains("at line 1 column"), "{refused}");
        assert!(
            from_openapi(br#"{"openapi": "3.1.0"}"#, "/")
                .unwrap()
                .is_empty()
        );
        let long = format!("/{}", "a".repeat(5000));
        assert!(
            from_openapi(
                json!({"paths": {long: {"get": {}}}}).to_string().as_bytes(),
                "/"
            )
            .unwrap()
            .is_empty()
        );
        assert!(from_openapi(b"[]", "/").is_err());
    }

    /// A request body and parameters given by `$ref` are followed; the
    /// idempotency check goes only to a route that takes an
    /// `Idempotency-Key`, as its parameters (or its path's) say.
    #[test]
    fn references_are_followed_and_an_idempotency_key_is_looked_for() {
        let doc = json!({
            "paths": {
                "/v1/a": {"post": {
                    "requestBody": {"$ref": "#/components/requestBodies/A"},
                    "responses": {"201": {}}
                }},
                "/v1/b": {
                    "parameters": [{"$ref": "#/components/parameters/Key"}],
                    "post": {
                        "requestBody": {"$ref": "#/components/requestBodies/A"},
                        "responses": {"201": {}}
                    }
                },
                "/v1/loop": {"post": {"requestBody": {"$ref": "#/components/requestBodies/Loop"}}}
            },
            "components": {
                "requestBodies": {
                    "A": {"content": {"application/json": {"example": {"n": 1}}}},
                    "Loop": {"$ref": "#/components/requestBodies/Loop"}
                },
                "parameters": {"Key": {"name": "idempotency-key", "in": "header"}}
            }
        });
        let routes = from_openapi(doc.to_string().as_bytes(), "/").unwrap();
        let seen: Vec<_> = routes
            .iter()
            .map(|r| (r.path.as_str(), r.json_body.is_some(), r.idempotency_key))
            .collect();
        assert_eq!(
            seen,
            [
                ("/v1/a", true, Some(false)),
                ("/v1/b", true, Some(true)),
                ("/v1/loop", false, Some(false)),
            ]
        );
        assert_eq!(routes[0].example, Some(json!({"n": 1})));
        assert_eq!(targets(&routes, true).idempotent.unwrap().path, "/v1/b");
        // Without a route that takes the key, none is checked.
        assert!(targets(&routes[..1], true).idempotent.is_none());
    }

    #[test]
    fn paths_go_below_the_first_server() {
        let paths = |servers: Value, base: &str| -> Vec<String> {
            let doc = json!({"servers": servers, "paths": {"/scans": {"get": {}}}});
            let routes = from_openapi(doc.to_string().as_bytes(), base).unwrap();
            routes.into_iter().map(|r| r.path).collect()
        };
        let v1 = json!([{"url": "/v1"}, {"url": "/v2"}]);
        assert_eq!(paths(v1.clone(), "/"), ["/v1/scans"]);
        // A base URL that already names the server's path is not given it twice.
        assert_eq!(paths(v1.clone(), "/v1"), ["/scans"]);
        assert_eq!(paths(v1, "/api/v1/"), ["/scans"]);
        let absolute = json!([{"url": "https://api.example.com/v1/"}]);
        assert_eq!(paths(absolute, "/"), ["/v1/scans"]);
        // Variables take their defaults.
        let variables = json!([{
            "url": "http://localhost:{port}/{base}",
            "variables": {"port": {"default": "8080"}, "base": {"default": "api"}}
        }]);
        assert_eq!(paths(variables, "/"), ["/api/scans"]);
        // No path to add: the root, a URL relative to the document, one
        // with a variable without a default, or no usable `servers` at all.
        for servers in [
            json!([{"url": "https://api.example.com"}]),
            json!([{"url": "/"}]),
            json!([{"url": "v1"}]),
            json!([{"url": "https://{region}.example.com/{version}"}]),
            json!([{"url": "/{version}", "variables": {"version": {"enum": ["v1"]}}}]),
            json!([{"url": "/{version", "variables": {"version": {"default": "v1"}}}]),
            json!([]),
            json!({"url": "/v1"}),
            json!([{"url": 1}]),
        ] {
            assert_eq!(paths(servers.clone(), "/"), ["/scans"], "{servers}");
        }
    }

    #[test]
    fn a_document_saved_with_a_byte_order_mark_is_read() {
        let plain = doc().to_string();
        let marked = format!("\u{feff}{plain}");
        assert_eq!(
            from_openapi(marked.as_bytes(), "/").unwrap().len(),
            from_openapi(plain.as_bytes(), "/").unwrap().len()
        );
    }

    /// 16 MiB of tiny objects, where a path's operation, an example and
    /// `security` would be: read in a few times the document's size, not
    /// the gigabyte a `Value` of it takes.
    #[test]
    fn a_document_of_tiny_objects_costs_its_size() {
        let tiny = |n: usize| format!("[{}{{}}]", "{},".repeat(n));
        let n = (16 << 20) / 3 / 3;
        let body = format!(
            r#"{{"security": {}, "paths": {{"/a": {{"x": {}, "post": {{"requestBody": {{"content": {{"application/json": {{"example": {}}}}}}}}}}}}}}}"#,
            tiny(n),
            tiny(n),
            tiny(n)
        );
        let mut routes = Vec::new();
        let info =
            allocation_counter::measure(|| routes = from_openapi(body.as_bytes(), "/").unwrap());
        assert!(
            info.bytes_max < 4 * body.len() as u64,
            "{info:?} for {} bytes",
            body.len()
        );
        assert_eq!(routes.len(), 1);
        // The example is too large to keep; the route is read all the same.
        assert_eq!(
            (routes[0].json_body.is_some(), routes[0].example.is_none()),
            (true, true)
        );
    }

    #[test]
    fn routes_come_from_what_docs_writes() {
        use crate::docs::{Info, Operation, openapi_text};
        let ops = [
            Operation {
                request_schema: Some(json!({"type": "object"})),
                request_example: Some(json!({"image_data": "iVBOR"})),
                scopes: Some(vec!["scans:write".into()]),
                error_codes: vec!["invalid_key".into()],
                ..Operation::new(Method::POST, "/v1/scans", "Scan an image")
            },
            Operation {
                scopes: Some(Vec::new()),
                ..Operation::new(Method::GET, "/v1/scans/{id}", "A scan")
            },
            Operation::new(Method::GET, "/health", "Health"),
        ];
        let catalog = tollgate::Catalog::builtin();
        let doc = openapi_text(
            &catalog,
            tollgate::Dialect::Problem,
            &Info::new("t", "1"),
            &ops,
        )
        .unwrap();
        let routes = from_openapi(doc.as_bytes(), "/").unwrap();
        let found: Vec<_> = routes
            .iter()
            .map(|r| {
                (
                    r.method.as_str(),
                    r.path.as_str(),
                    r.keyed,
                    r.json_body.is_some(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("POST", "/v1/scans", Some(true), true),
                ("GET", "/v1/scans/{id}", Some(true), false),
                ("GET", "/health", None, false),
            ]
        );
        assert_eq!(routes[0].example, Some(json!({"image_data": "iVBOR"})));
        let t = targets(&routes, true);
        assert_eq!(t.keyed.unwrap().path, "/v1/scans/{id}");
        // It documents no Idempotency-Key: not checked.
        assert!(t.idempotent.is_none());
        assert_eq!(t.burst.unwrap().path, "/v1/scans/{id}");
    }

    #[test]
    fn targets_prefer_what_the_document_states() {
        let routes = from_openapi(doc().to_string().as_bytes(), "/").unwrap();
        let t = targets(&routes, true);
        assert_eq!(t.keyed.unwrap().path, "/v1/scans/{id}");
        assert_eq!(t.keyed.unwrap().method, Method::GET);
        assert_eq!(t.body.unwrap().path, "/v1/scans");
        assert_eq!(t.idempotent.unwrap().path, "/v1/scans");
        let (method, route) = t.wrong_method.unwrap();
        assert_eq!(
            (method, route.path.as_str()),
            (Method::PATCH, "/v1/scans/{id}")
        );
        assert_eq!(t.burst.unwrap().path, "/v1/scans/{id}");
        // Without a key, the burst goes to a public route.
        assert_eq!(targets(&routes, false).burst.unwrap().path, "/health");

        let none = targets(&[], true);
        assert!(none.keyed.is_none() && none.body.is_none() && none.wrong_method.is_none());

        // PUT and PATCH on one path, no POST: the body checks may take the
        // PUT, the idempotency check takes the PATCH.
        let route = |method: Method| Route {
            method,
            path: "/v1/rules/{id}".to_owned(),
            keyed: Some(true),
            json_body: Some(JSON.to_owned()),
            example: None,
            idempotency_key: None,
        };
        let routes = [route(Method::PUT), route(Method::PATCH)];
        let t = targets(&routes, true);
        assert_eq!(t.body.unwrap().method, Method::PUT);
        assert_eq!(t.idempotent.unwrap().method, Method::PATCH);
    }

    fn route(method: Method, path: &str, keyed: Option<bool>, json_body: bool) -> Route {
        Route {
            method,
            path: path.to_owned(),
            keyed,
            json_body: json_body.then(|| JSON.to_owned()),
            example: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn body_targets_take_a_post_first_then_a_route_not_known_public() {
        let patch = route(Method::PATCH, "/v1/a", Some(true), true);
        let public_post = route(Method::POST, "/v1/b", Some(false), true);
        let keyed_post = route(Method::POST, "/v1/c", Some(true), true);
        let routes = [patch.clone(), public_post.clone(), keyed_post];
        let t = targets(&routes, true);
        assert_eq!((t.body, t.idempotent), (Some(&routes[2]), Some(&routes[2])));
        // The method outweighs the key: a public POST before a keyed PATCH.
        let routes = [patch, public_post];
        let t = targets(&routes, true);
        assert_eq!((t.body, t.idempotent), (Some(&routes[1]), Some(&routes[1])));
    }

    #[test]
    fn ties_go_to_the_first_route_in_document_order() {
        let routes = [
            route(Method::GET, "/v1/a", Some(true), false),
            route(Method::GET, "/v1/b", Some(true), false),
        ];
        let t = targets(&routes, true);
        assert_eq!(t.keyed.unwrap().path, "/v1/a");
        assert_eq!(t.burst.unwrap().path, "/v1/a");
    }

    #[test]
    fn with_a_key_the_burst_takes_a_route_not_known_public_before_a_public_one() {
        let routes = [
            route(Method::GET, "/health", Some(false), false),
            route(Method::GET, "/v1/feed", None, false),
        ];
        assert_eq!(targets(&routes, true).burst.unwrap().path, "/v1/feed");
        assert_eq!(targets(&routes, false).burst.unwrap().path, "/health");
    }

    #[test]
    fn the_wrong_method_is_one_its_path_does_not_have() {
        let routes = [
            route(Method::GET, "/v1/x", Some(true), false),
            route(Method::PATCH, "/v1/x", Some(true), true),
            route(Method::PUT, "/v1/y", Some(true), true),
        ];
        let (method, route) = targets(&routes, true).wrong_method.unwrap();
        assert_eq!((method, route.path.as_str()), (Method::PUT, "/v1/x"));
    }

    #[test]
    fn a_path_as_long_as_the_bound_is_kept() {
        let kept = |servers: Value, len: usize| {
            let path = format!("/{}", "a".repeat(len - 1));
            let doc = json!({"servers": servers, "paths": {path: {"get": {}}}});
            from_openapi(doc.to_string().as_bytes(), "/").unwrap().len() == 1
        };
        assert!(kept(json!([]), MAX_PATH));
        assert!(!kept(json!([]), MAX_PATH + 1));
        // The server's path counts.
        assert!(kept(json!([{"url": "/v1"}]), MAX_PATH - 3));
        assert!(!kept(json!([{"url": "/v1"}]), MAX_PATH - 2));
    }

    /// The body is sent in the JSON type the document names:
    /// `application/json` when it is among them, else the first `+json` one.
    #[test]
    fn a_body_goes_in_the_json_type_the_document_names() {
        let media = |content: Value| {
            let doc = json!({"paths": {"/a": {"post": {"requestBody": {"content": content}}}}});
            from_openapi(doc.to_string().as_bytes(), "/").unwrap()[0]
                .json_body
                .clone()
        };
        let api = json!({"application/vnd.api+json": {"example": {"data": {}}}});
        assert_eq!(media(api).as_deref(), Some("application/vnd.api+json"));
        let both = json!({"application/merge-patch+json": {}, "application/json": {}});
        assert_eq!(media(both).as_deref(), Some("application/json"));
        assert_eq!(media(json!({"text/csv": {}})), None);
        assert_eq!(media(json!({"application/jsonl": {}})), None);
    }

    #[test]
    fn a_yaml_document_is_said_to_be_one() {
        for yaml in ["openapi: 3.1.0\npaths: {}\n", "---\nopenapi: 3.0.3\n"] {
            let refused = from_openapi(yaml.as_bytes(), "/").unwrap_err();
            assert!(refused.starts_with("it is YAML"), "{refused}");
        }
    }

    /// Swagger 2.0: paths below `basePath`, a body from its `in: body`
    /// parameter, in the JSON type `consumes` names.
    #[test]
    fn a_swagger_document_is_read_with_its_base_path_and_bodies() {
        let doc = json!({
            "swagger": "2.0",
            "basePath": "/api/",
            "consumes": ["application/vnd.api+json"],
            "paths": {
                "/scans": {
                    "get": {},
                    "post": {"parameters": [
                        {"in": "header", "name": "Idempotency-Key", "type": "string"},
                        {"in": "body", "name": "scan", "schema": {"type": "object", "example": {"n": 1}}}
                    ]}
                }
            }
        });
        let routes = from_openapi(doc.to_string().as_bytes(), "/").unwrap();
        let seen: Vec<_> = routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.json_body.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("GET", "/api/scans", None),
                ("POST", "/api/scans", Some("application/vnd.api+json"))
            ]
        );
        assert_eq!(routes[1].example, Some(json!({"n": 1})));
        assert_eq!(routes[1].idempotency_key, Some(true));
    }

    #[test]
    fn a_server_path_with_a_space_is_left_aside() {
        let doc = json!({"servers": [{"url": "/my api"}], "paths": {"/scans": {"get": {}}}});
        let routes = from_openapi(doc.to_string().as_bytes(), "/").unwrap();
        assert_eq!(routes[0].path, "/scans");
    }

    #[test]
    fn a_document_that_is_not_an_object_is_named_as_such() {
        let refused = from_openapi(b"[]", "/").unwrap_err();
        assert!(refused.contains("expected an object"), "{refused}");
    }

    #[test]
    fn only_the_first_members_of_an_object_are_read() {
        let paths: Vec<String> = (0..=MAX_MEMBERS)
            .map(|i| format!(r#""/p{i}": {{"get": {{}}}}"#))
            .collect();
        let doc = format!(r#"{{"paths": {{{}}}}}"#, paths.join(","));
        let routes = from_openapi(doc.as_bytes(), "/").unwrap();
        assert_eq!(routes.len(), MAX_MEMBERS);
        assert_eq!(
            routes.last().unwrap().path,
            format!("/p{}", MAX_MEMBERS - 1)
        );
    }

    #[test]
    fn only_the_first_elements_of_an_array_are_read() {
        // A `{}` past the bound, that would make the key optional, is not read.
        let mut security = vec![json!({"bearerAuth": []}); MAX_MEMBERS];
        security.push(json!({}));
        let doc = json!({"security": security, "paths": {"/a": {"get": {}}}});
        let routes = from_openapi(doc.to_string().as_bytes(), "/").unwrap();
        assert_eq!(routes[0].keyed, Some(true));
    }
}
