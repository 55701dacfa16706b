//! The routes a probe aims at: read from the API's OpenAPI document, or given
//! as `--route METHOD:PATH`, and which of them each request goes to.

use http::Method;
use serde_json::Value;

/// What a `{name}` path parameter is replaced with.
pub(crate) const PATH_PARAMETER: &str = "tollgate-probe";

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
    /// Whether the route takes a JSON body.
    pub(crate) json_body: bool,
    /// The request body example the document gives, if any.
    pub(crate) example: Option<Value>,
}

impl Route {
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
            "{why}: expected METHOD:PATH, such as POST:/v1/scans or GET:/v1/scans/{{id}}; found {arg:?}"
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
    let json_body = [Method::POST, Method::PUT, Method::PATCH].contains(&method);
    Ok(Route {
        method,
        path: path.to_owned(),
        keyed: None,
        json_body,
        example: None,
    })
}

/// The longest path probed, in bytes (servers commonly refuse request lines
/// past 8 KiB; hyper's limit on the whole head is 64 KiB).
const MAX_PATH: usize = 2048;

/// The operations of an OpenAPI 3.x document (`get`, `post`, `put`,
/// `patch`, `delete`), in document order. Anything malformed is skipped.
pub(crate) fn from_openapi(doc: &Value) -> Vec<Route> {
    const METHODS: [(&str, Method); 5] = [
        ("get", Method::GET),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("patch", Method::PATCH),
        ("delete", Method::DELETE),
    ];
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let global_security = doc.get("security").filter(|s| s.is_array());
    let mut routes = Vec::new();
    for (path, item) in paths {
        // A path longer than any server takes is a document's mistake (or
        // its attack on the report's width): left out.
        if !path.starts_with('/') || path.len() > MAX_PATH {
            continue;
        }
        for (name, method) in &METHODS {
            let Some(op) = item.get(*name).filter(|op| op.is_object()) else {
                continue;
            };
            // The operation's own `security` over the document's; a 401
            // among its responses when neither says.
            let security = op
                .get("security")
                .filter(|s| s.is_array())
                .or(global_security);
            let keyed = match security {
                Some(security) => security_says(security),
                None => op.get("responses").and_then(|r| r.get("401")).map(|_| true),
            };
            let json = op
                .get("requestBody")
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .and_then(|content| {
                    content
                        .iter()
                        .find(|(media, _)| media.contains("json"))
                        .map(|(_, media)| media)
                });
            routes.push(Route {
                method: method.clone(),
                path: path.clone(),
                keyed,
                json_body: json.is_some(),
                example: json.and_then(example),
            });
        }
    }
    routes
}

/// `security: [...]`: `Some(false)` for `[]` or only `{}` (public),
/// `Some(true)` when every alternative names a scheme, `None` when a key is
/// optional (`{}` beside a scheme): then a request without one may succeed.
fn security_says(security: &Value) -> Option<bool> {
    let list = security.as_array()?;
    let named = |req: &Value| req.as_object().is_some_and(|o| !o.is_empty());
    match (list.iter().any(named), list.iter().all(named)) {
        (false, _) => Some(false),
        (true, true) => Some(true),
        (true, false) => None,
    }
}

/// A media type object's example: `example`, the first of `examples`, or the schema's.
fn example(media: &Value) -> Option<Value> {
    media
        .get("example")
        .cloned()
        .or_else(|| {
            media
                .get("examples")
                .and_then(Value::as_object)
                .and_then(|all| all.values().find_map(|e| e.get("value").cloned()))
        })
        .or_else(|| media.get("schema").and_then(|s| s.get("example")).cloned())
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
            .then(|| u8::from(r.method != Method::POST) * 2 + u8::from(r.keyed == Some(false)))
    });
    let idempotent = best(routes, |r| {
        let takes_key = r.json_body && (r.method == Method::POST || r.method == Method::PATCH);
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
            (r.method, r.path.as_str(), r.json_body),
            (Method::POST, "/v1/scans", true)
        );
        let r = parse_route("GET:/v1/scans/{id}").unwrap();
        assert!(!r.json_body);
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
        let routes = from_openapi(&doc());
        let names: Vec<_> = routes
            .iter()
            .map(|r| format!("{} {} {:?} {}", r.method, r.path, r.keyed, r.json_body))
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
        assert!(from_openapi(&json!({"paths": 1})).is_empty());
        let long = format!("/{}", "a".repeat(5000));
        assert!(from_openapi(&json!({"paths": {long: {"get": {}}}})).is_empty());
        assert!(from_openapi(&json!([])).is_empty());
    }

    #[test]
    fn routes_come_from_what_docs_writes() {
        use crate::docs::{Info, Operation, openapi_document};
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
        let doc = openapi_document(
            &catalog,
            tollgate::Dialect::Problem,
            &Info::new("t", "1"),
            &ops,
        );
        let routes = from_openapi(&doc);
        let found: Vec<_> = routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.keyed, r.json_body))
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
        assert_eq!(t.idempotent.unwrap().path, "/v1/scans");
        assert_eq!(t.burst.unwrap().path, "/v1/scans/{id}");
    }

    #[test]
    fn targets_prefer_what_the_document_states() {
        let routes = from_openapi(&doc());
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
            json_body: true,
            example: None,
        };
        let routes = [route(Method::PUT), route(Method::PATCH)];
        let t = targets(&routes, true);
        assert_eq!(t.body.unwrap().method, Method::PUT);
        assert_eq!(t.idempotent.unwrap().method, Method::PATCH);
    }
}
