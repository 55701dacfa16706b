//! The error reference, generated from the catalog: an HTML page, Markdown,
//! and OpenAPI 3.1 responses, each with example bodies in the active dialect.
//!
//! ```
//! use tollgate::{Catalog, Dialect, docs};
//! let catalog = Catalog::builtin();
//! let page = docs::html(&catalog, Dialect::Problem, None);
//! assert!(page.contains(r#"<section id="rate_limit_exceeded""#));
//! let md = docs::markdown(&catalog, Dialect::Envelope);
//! assert!(md.contains("## `insufficient_credits`"));
//! let components = docs::openapi::components(&catalog, Dialect::Problem);
//! assert!(components["responses"]["not_found"].is_object());
//! ```

mod html;
mod markdown;
pub mod openapi;

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use html::{HTML_CONTENT_SECURITY_POLICY, html};
pub use markdown::markdown;

use crate::{ApiError, Catalog, Context, Dialect, ErrorDef, RetryClass, Violation};

/// The request id used in examples.
pub const EXAMPLE_REQUEST_ID: &str = "req_01JEXAMPLE";

/// The instant used in examples (`2025-01-01T00:00:00Z`).
pub fn example_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

/// An occurrence of `def` with sample details and message-only values (the
/// entry's [examples](ErrorDef::example), else `"<key>"`), a sample violation for validation errors
/// (told by it, as the layers tell them), and a 60 s retry hint where the class waits for one.
pub fn example_error(catalog: &Catalog, def: &ErrorDef) -> ApiError {
    let def = catalog
        .get(def.code())
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(def.clone()));
    let mut err = ApiError::new(def.clone());
    for key in def.template_keys() {
        err = match def.example_value(key) {
            Some(value) => err.with(key.clone(), value.clone()),
            None => err.with(key.clone(), format!("<{key}>")),
        };
    }
    if def.code() == "validation_error" {
        let violation = Violation::new("items[0].name", "invalid_type", "must be a string");
        let told = violation.told();
        err = err.violation(violation);
        // Told by its first violation, as the layers tell it, unless the
        // catalog words it its own way (seed 002's).
        let builtin = Catalog::builtin_ref().get(def.code());
        if builtin.is_some_and(|b| b.message().as_str() == def.message().as_str()) {
            err = err.with_default_message(told);
        }
    }
    if def.retry() == RetryClass::After {
        err = err.retry_after(Duration::from_secs(60));
    }
    err
}

/// The example body of `def` in `dialect`, as a JSON value.
pub fn example_body(catalog: &Catalog, dialect: Dialect, def: &ErrorDef) -> Value {
    let err = example_error(catalog, def);
    let ctx = Context::new(example_time()).request_id(EXAMPLE_REQUEST_ID);
    let body = catalog.renderer(dialect).body(&err, &ctx);
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// The example response of `def` in `dialect` as it is served: status line,
/// headers, blank line, pretty-printed body.
pub fn example_response(catalog: &Catalog, dialect: Dialect, def: &ErrorDef) -> String {
    let err = example_error(catalog, def);
    let ctx = Context::new(example_time()).request_id(EXAMPLE_REQUEST_ID);
    let renderer = catalog.renderer(dialect);
    let mut out = String::new();
    let status = http::StatusCode::from_u16(def.status()).ok();
    let reason = status.and_then(|s| s.canonical_reason()).unwrap_or("");
    let _ = writeln!(out, "HTTP/1.1 {} {reason}", def.status());
    for (name, value) in renderer.headers(&err, &ctx) {
        let _ = writeln!(out, "{name}: {}", value.to_str().unwrap_or(""));
    }
    for (name, value) in layer_headers(def) {
        let _ = writeln!(out, "{name}: {value}");
    }
    out.push('\n');
    let body = renderer.body(&err, &ctx);
    let pretty = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    out.push_str(&pretty);
    out
}

/// Samples of the headers the layers add to the answers of the built-in
/// codes they raise, beside the error's own (the ones [`openapi`]'s
/// responses declare): the RateLimit fields of `rate_limit_exceeded` (of the
/// entry's example limit and window), the challenge of a key's 401 and of
/// `insufficient_scope`, the `Allow` of `method_not_allowed`.
fn layer_headers(def: &ErrorDef) -> Vec<(&'static str, String)> {
    // A sample as the header writes it: a number, or text it can carry.
    let sample = |key: &str, or: &str| match def.example_value(key) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(text)) if !text.chars().any(char::is_control) => {
            text.replace('\\', "\\\\").replace('"', "\\\"")
        }
        _ => or.to_owned(),
    };
    match def.code() {
        "rate_limit_exceeded" => {
            let (limit, window) = (sample("limit", "100"), sample("window", "60"));
            vec![
                (
                    "ratelimit-policy",
                    format!("\"per-key\";q={limit};w={window}"),
                ),
                ("ratelimit", "\"per-key\";r=0;t=60".to_owned()),
            ]
        }
        "invalid_key" | "expired_key" | "deactivated_key" if def.status() == 401 => {
            let challenge = "Bearer realm=\"api\", error=\"invalid_token\", \
                             error_description=\"The API key is not valid\"";
            vec![("www-authenticate", challenge.to_owned())]
        }
        "insufficient_scope" => {
            let scope = sample("scope", "<scope>");
            let challenge = format!(
                "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"The API \
                 key lacks the scope this request needs\", scope=\"{scope}\""
            );
            vec![("www-authenticate", challenge)]
        }
        "method_not_allowed" => vec![("allow", "GET, POST".to_owned())],
        _ => Vec::new(),
    }
}

/// Said after an entry's details where its hint takes their place
/// ([`Dialect::sends_hint_of`]), as the encoder decides.
pub(crate) const HINT_GIVES_WAY: &str = " (sent in place of the hint when the error has field \
                                         violations or leaves a blank in the hint)";

/// What a client should do about retrying, in one sentence.
pub fn retry_advice(retry: RetryClass) -> &'static str {
    match retry {
        RetryClass::Never => "Do not retry as is: fix the request first.",
        RetryClass::After => "Retry after the delay in the Retry-After header.",
        RetryClass::Backoff => "Retry with exponential backoff and jitter.",
    }
}

/// Words of a search query kept: a person types a few; a longer query is
/// cut here, so no request can make a search cost more than this many.
const MAX_QUERY_WORDS: usize = 16;

/// The words of a search query: lowercased, each once, at most
/// [`MAX_QUERY_WORDS`].
pub(crate) fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query.split_whitespace().map(str::to_lowercase) {
        if words.len() == MAX_QUERY_WORDS {
            break;
        }
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// Every entry's text as a search reads it (see [`query_words`]): its code,
/// title, message, remedy and dialect aliases, lower case, joined by line
/// breaks. Made once for a catalog, at its first search: lower-casing the
/// fields of 100 000 entries, read from as many places in memory, took a
/// search most of its time.
///
/// Lower-casing the fields one by one gives what lower-casing them joined
/// does (a line break is neither cased nor ignored by the rules of case),
/// and a word, which holds no white space, is found only within one.
pub(crate) struct SearchText {
    /// Each entry's text, one after another.
    text: String,
    /// Where each entry's text ends in `text`.
    ends: Vec<usize>,
    /// Each entry's status.
    statuses: Vec<u16>,
}

impl SearchText {
    pub(crate) fn new<'d>(defs: impl Iterator<Item = &'d ErrorDef>) -> SearchText {
        let mut search = SearchText {
            text: String::new(),
            ends: Vec::new(),
            statuses: Vec::new(),
        };
        for def in defs {
            let fields = [def.code(), def.title(), def.message().as_str()]
                .into_iter()
                .chain(def.remedy_text())
                .chain(def.aliases().values().map(String::as_str));
            for (i, field) in fields.enumerate() {
                if i > 0 {
                    search.text.push('\n');
                }
                if field.is_ascii() {
                    let start = search.text.len();
                    search.text.push_str(field);
                    search.text[start..].make_ascii_lowercase();
                } else {
                    search.text.push_str(&field.to_lowercase());
                }
            }
            search.ends.push(search.text.len());
            search.statuses.push(def.status());
        }
        search
    }

    /// The positions of the entries with every one of `words` in their
    /// status or text.
    pub(crate) fn matching<'s>(&'s self, words: &'s [String]) -> impl Iterator<Item = usize> + 's {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let entries = starts.zip(&self.ends).zip(&self.statuses).enumerate();
        entries.filter_map(move |(i, ((start, &end), &status))| {
            let text = &self.text[start..end];
            let has = |word: &String| spells_status(word, status) || text.contains(word.as_str());
            words.iter().all(has).then_some(i)
        })
    }
}

impl std::fmt::Debug for SearchText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchText")
            .field("entries", &self.ends.len())
            .field("bytes", &self.text.len())
            .finish()
    }
}

/// Whether `word` is `status` written in decimal, as `status.to_string()`
/// writes it.
fn spells_status(word: &str, status: u16) -> bool {
    let digits = status.checked_ilog10().map_or(1, |log| log as usize + 1);
    word.len() == digits && word.parse() == Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    /// What a search matched before it was made to allocate less: the
    /// fields joined, lower-cased, searched.
    fn matches_joined(def: &ErrorDef, words: &[String]) -> bool {
        let status = def.status().to_string();
        let mut text = [def.code(), def.title(), def.message().as_str()].join("\n");
        for more in def
            .remedy_text()
            .into_iter()
            .chain(def.aliases().values().map(String::as_str))
        {
            text.push('\n');
            text.push_str(more);
        }
        let text = text.to_lowercase();
        words
            .iter()
            .all(|word| *word == status || text.contains(word.as_str()))
    }

    /// An example response carries the headers the layers add beside the
    /// error's own, as the OpenAPI responses declare them.
    #[test]
    fn example_responses_carry_the_headers_the_layers_add() {
        let catalog = Catalog::builtin();
        let response =
            |code| example_response(&catalog, Dialect::Coded, catalog.get(code).unwrap());
        let limited = response("rate_limit_exceeded");
        assert!(limited.contains("\nretry-after: 60\n"), "{limited}");
        assert!(
            limited.contains("\nratelimit-policy: \"per-key\";q=100;w=60\n"),
            "{limited}"
        );
        assert!(
            limited.contains("\nratelimit: \"per-key\";r=0;t=60\n"),
            "{limited}"
        );
        for code in ["invalid_key", "expired_key", "deactivated_key"] {
            assert!(
                response(code)
                    .contains("\nwww-authenticate: Bearer realm=\"api\", error=\"invalid_token\""),
                "{code}"
            );
        }
        let scope = response("insufficient_scope");
        assert!(scope.contains("error=\"insufficient_scope\""), "{scope}");
        assert!(response("method_not_allowed").contains("\nallow: GET, POST\n"));
        let plain = response("not_found");
        for name in ["ratelimit", "www-authenticate", "allow"] {
            assert!(!plain.contains(&format!("\n{name}: ")), "{plain}");
        }

        // Only the layers' codes: an app's own 401, 405 or 429 gets none;
        // a sample is written as the header can carry it.
        let mut catalog = Catalog::builtin();
        let app = "[errors.session_expired]\nstatus = 401\ntitle = 'T'\nmessage = 'm'\n\
                   [errors.too_many_uploads]\nstatus = 429\ntitle = 'T'\nmessage = 'm'\n\
                   [errors.rate_limit_exceeded]\nexamples = { limit = 5 }\n\
                   [errors.insufficient_scope]\nexamples = { scope = \"a\\n```\" }\n";
        catalog.load_toml("app.toml", app).unwrap();
        let response =
            |code| example_response(&catalog, Dialect::Coded, catalog.get(code).unwrap());
        for code in ["session_expired", "too_many_uploads"] {
            let answer = response(code);
            assert!(
                !answer.contains("www-authenticate") && !answer.contains("ratelimit"),
                "{answer}"
            );
        }
        let limited = response("rate_limit_exceeded");
        assert!(
            limited.contains("\nratelimit-policy: \"per-key\";q=5;w=60\n"),
            "{limited}"
        );
        let scope = response("insufficient_scope");
        assert!(
            scope.contains("scope=\"<scope>\""),
            "a line break is no header's: {scope}"
        );
    }

    /// Examples are dated 2025-01-01T00:00:00Z, as the status-code body
    /// prints its timestamp.
    #[test]
    fn examples_are_dated_the_first_of_january_2025() {
        let catalog = Catalog::builtin();
        let def = catalog.get("not_found").unwrap();
        let body = example_body(&catalog, Dialect::StatusCode, def);
        assert_eq!(body["timestamp"], "2025-01-01T00:00:00Z", "{body}");
    }

    /// An example asks for a 60 s wait only where its entry's retry class
    /// waits for one.
    #[test]
    fn only_examples_that_wait_ask_for_a_wait() {
        let catalog = Catalog::builtin();
        for (code, wait) in [
            ("rate_limit_exceeded", Some(Duration::from_secs(60))),
            ("not_found", None),
            ("service_unavailable", Some(Duration::from_secs(60))),
            ("internal_error", None),
        ] {
            let def = catalog.get(code).unwrap();
            let err = example_error(&catalog, def);
            assert_eq!(err.retry_after_delay(), wait, "{code}: {:?}", def.retry());
        }
    }

    /// An example response is served as written: its status line, its
    /// headers, a blank line, then its body.
    #[test]
    fn an_example_response_is_a_status_line_headers_and_a_body() {
        let catalog = Catalog::builtin();
        let def = catalog.get("not_found").unwrap();
        let response = example_response(&catalog, Dialect::Problem, def);
        let (head, body) = response.split_once("\n\n").unwrap();
        let mut lines = head.lines();
        assert_eq!(lines.next(), Some("HTTP/1.1 404 Not Found"), "{response}");
        let headers: Vec<&str> = lines.collect();
        assert!(headers.contains(&"x-error-code: not_found"), "{response}");
        assert!(
            headers.contains(&format!("x-request-id: {EXAMPLE_REQUEST_ID}").as_str()),
            "{response}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, example_body(&catalog, Dialect::Problem, def));
    }

    /// Each retry class is advised in its own words.
    #[test]
    fn retry_advice_tells_each_class_what_to_do() {
        let advice = [RetryClass::Never, RetryClass::After, RetryClass::Backoff].map(retry_advice);
        assert!(advice[0].contains("fix the request"), "{advice:?}");
        assert!(advice[1].contains("Retry-After"), "{advice:?}");
        assert!(advice[2].contains("backoff"), "{advice:?}");
    }

    /// A searched catalog's `Debug` tells its search text by size rather
    /// than writing it out.
    #[test]
    fn a_searched_catalog_debugs_its_search_text_by_size() {
        let catalog = Catalog::builtin();
        assert!(!catalog.search(&query_words("rate")).is_empty());
        let debug = format!("{catalog:?}");
        let entries = catalog.iter().count();
        assert!(
            debug.contains(&format!("SearchText {{ entries: {entries}, bytes: ")),
            "{debug}"
        );
    }

    #[test]
    fn a_search_matches_what_the_joined_fields_match() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.greek_text]\nstatus = 409\ntitle = 'ΟΔΟΣ ΚΛΕΙΣΤΗ'\nmessage = \"Σ Σ'Σ ΣΤΗ'\"\n\
                 remedy = 'İstanbul, 5 \u{212a}'\naliases = { coded = 'GREEK_TEXT_X' }\n\
                 [errors.plain_text]\nstatus = 400\ntitle = 'Plain'\nmessage = 'Use key: 0404'\n",
            )
            .unwrap();
        let queries = [
            "",
            "409",
            "0409",
            "+409",
            "40",
            "σ",
            "ς",
            "οδος",
            "οδοσ",
            "κλειστη σ'σ",
            "i̇stanbul",
            "istanbul",
            "k",
            "\u{212a}",
            "KEY",
            "\u{212a}ey",
            "greek_text_x",
            "greek_text_xy",
            "text\nplain",
            "plain 400",
            "σ\ns",
            "0404",
            "rate limit",
            "ΣΤΗ",
            "é",
            "",
        ];
        let codes = |defs: Vec<&std::sync::Arc<ErrorDef>>| -> Vec<String> {
            defs.iter().map(|d| d.code().to_owned()).collect()
        };
        for query in queries {
            let words = query_words(query);
            let joined = catalog.iter().filter(|d| matches_joined(d, &words));
            assert_eq!(
                codes(catalog.search(&words)),
                codes(joined.collect()),
                "{query:?}"
            );
        }
        // Some of them match, and some do not.
        let found = |catalog: &Catalog, query: &str| codes(catalog.search(&query_words(query)));
        assert_eq!(found(&catalog, "οδος 409 k"), ["greek_text"]);
        assert_eq!(found(&catalog, "0409"), [""; 0]);
        // Entries loaded after a search are searched too.
        catalog
            .load_toml("u.toml", "[errors.greek_text]\ntitle = 'Ανοιχτή'\n")
            .unwrap();
        assert_eq!(found(&catalog, "οδος"), [""; 0]);
        assert_eq!(found(&catalog, "ανοιχτή 409"), ["greek_text"]);
        let def = ErrorDef::new("added_later", 400, "Οδός", "m").unwrap();
        catalog.insert(def).unwrap();
        assert_eq!(found(&catalog, "οδός"), ["added_later"]);
    }
}
