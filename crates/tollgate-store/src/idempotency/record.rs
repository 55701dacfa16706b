//! What an idempotency record keeps of a response, and the request fingerprint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tollgate::{ApiError, Catalog, Dialect, ErrorDef, Kind, RetryClass, Violation};

/// Headers not stored: they describe one exchange, not the result, as do
/// [`HOP_AND_FRAMING`](tollgate::headers::HOP_AND_FRAMING) and the request
/// ids of [`REQUEST_ID_HEADERS`](tollgate::headers::REQUEST_ID_HEADERS),
/// which a replay would otherwise give the first request's.
const NOT_STORED: [&str; 4] = ["date", "server-timing", "idempotent-replayed", "set-cookie"];

/// Whether a response's field is stored for replay: not one of
/// [`NOT_STORED`], of one hop or the framing, of the request ids, or of a rate limit's.
fn stored(name: &str) -> bool {
    !is_rate_limit(name)
        && !NOT_STORED.contains(&name)
        && !tollgate::headers::HOP_AND_FRAMING.contains(&name)
        && !tollgate::headers::REQUEST_ID_HEADERS.contains(&name)
}

/// Whether a field is a rate limit's (`RateLimit`, `RateLimit-Policy`,
/// `RateLimit-*`, `X-RateLimit-*`), stored neither with a response nor with
/// its error: a limiter inside the layer counted the first request only, and
/// a replay, which never reaches it, gets the fields of the layers outside.
fn is_rate_limit(name: &str) -> bool {
    name == "ratelimit" || name.starts_with("ratelimit-") || name.starts_with("x-ratelimit-")
}

/// The longest API key id an idempotency record's scope keeps as is: with
/// the key (at most 255 bytes), well within what one entry of a Postgres
/// index holds (about 2.7 kB).
const MAX_SCOPE_LEN: usize = 1024;

/// How a scope written as a digest begins.
const DIGEST_SCOPE: &str = "sha256~";

/// The scope an idempotency record is kept under for the API key `key_id`:
/// the id itself (the store's own ids are 12 characters). An id from a
/// custom authenticator that Postgres could not keep (longer than
/// [`MAX_SCOPE_LEN`] bytes, a whole token say, or holding a NUL), or that
/// begins as a digest does, is written `sha256~` and its SHA-256 in hex:
/// on both backends alike, and no two ids share a scope.
pub(crate) fn scope_of(key_id: &str) -> String {
    let as_is = key_id.len() <= MAX_SCOPE_LEN
        && !key_id.contains('\0')
        && !key_id.starts_with(DIGEST_SCOPE);
    if as_is {
        return key_id.to_owned();
    }
    let mut out = String::with_capacity(DIGEST_SCOPE.len() + 64);
    out.push_str(DIGEST_SCOPE);
    for byte in Sha256::digest(key_id.as_bytes()) {
        // Writing into a `String` cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Whether an `Idempotency-Key` value is acceptable: 1–255 visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// SHA-256 of method, path and query, and body: what "the same request" means.
///
/// A multipart body is hashed without its boundary (`content_type` names
/// it): a client builds the form anew for a retry, under a boundary of its
/// own choosing each time (curl's `-F`, a browser), and the same parts must
/// still be the same request. Each stretch between boundaries is hashed
/// after its length, so no body (a binary part may hold any bytes) hashes
/// as another with a boundary somewhere else.
pub(crate) fn fingerprint(
    method: &Method,
    uri: &Uri,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(
        uri.path_and_query()
            .map_or(uri.path(), |pq| pq.as_str())
            .as_bytes(),
    );
    h.update(b"\n");
    match content_type.and_then(multipart_boundary) {
        Some(boundary) => {
            // The boundary cannot occur in the parts (RFC 2046 §5.1.1):
            // the stretches between its places are the form, whatever it was.
            let delimiter = [b"--", boundary.as_bytes()].concat();
            let mut from = 0;
            let ends = memchr::memmem::find_iter(body, &delimiter).chain([body.len()]);
            for at in ends {
                let stretch = &body[from..at];
                h.update((stretch.len() as u64).to_be_bytes());
                h.update(stretch);
                from = at + delimiter.len();
            }
        }
        None => h.update(body),
    }
    h.finalize().to_vec()
}

/// The `boundary` of a `multipart/*` media type, unquoted.
fn multipart_boundary(content_type: &HeaderValue) -> Option<&str> {
    let text = content_type.to_str().ok()?;
    // A `;` inside a quoted value does not end the parameter.
    let mut quoted = false;
    let mut params = text.split(move |c| {
        quoted ^= c == '"';
        c == ';' && !quoted
    });
    let media = params.next()?.trim();
    let is_multipart = media
        .get(..10)
        .is_some_and(|m| m.eq_ignore_ascii_case("multipart/"));
    if !is_multipart {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty()).then_some(value)
    })
}

/// Headers as JSON `[[name, value], …]`. A value is written one character per
/// byte (Latin-1), so bytes past ASCII (a UTF-8 file name in
/// `Content-Disposition`) come back as they were; ASCII reads as itself.
pub(crate) fn encode_headers(headers: &HeaderMap) -> String {
    let pairs: Vec<(&str, String)> = headers
        .iter()
        .filter(|(name, _)| stored(name.as_str()))
        .map(|(name, value)| {
            let latin1 = value.as_bytes().iter().map(|&b| char::from(b)).collect();
            (name.as_str(), latin1)
        })
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// Headers back from [`encode_headers`]; anything unreadable is skipped.
pub(crate) fn decode_headers(json: &str) -> HeaderMap {
    let pairs: Vec<(String, String)> = serde_json::from_str(json).unwrap_or_default();
    let mut headers = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
        let value = bytes.and_then(|b| HeaderValue::from_bytes(&b).ok());
        if let (Ok(name), Some(value)) = (HeaderName::try_from(name), value) {
            headers.append(name, value);
        }
    }
    headers
}

#[derive(Serialize, Deserialize)]
struct StoredError {
    code: String,
    /// The message when the error replaced its entry's (records written
    /// before kept every message here); otherwise the entry words it on
    /// replay, as the catalog answering then does.
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Map<String, Value>,
    #[serde(default)]
    violations: Vec<Violation>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// The error's entry, for a code neither catalog knows when it is replayed
    /// (a `#[derive(ApiError)]` type's own entry, or one the app's catalog
    /// has since dropped). Absent from records written before it was kept.
    #[serde(default)]
    def: Option<StoredDef>,
}

/// An [`ErrorDef`] as JSON.
#[derive(Serialize, Deserialize)]
struct StoredDef {
    status: u16,
    title: String,
    message: String,
    hint: Option<String>,
    remedy: Option<String>,
    retry: RetryClass,
    kind: Kind,
    aliases: BTreeMap<Dialect, String>,
    details: Vec<String>,
    /// Absent from records written before entries had it.
    #[serde(default)]
    message_only: Vec<String>,
}

impl StoredDef {
    fn of(def: &ErrorDef) -> StoredDef {
        StoredDef {
            status: def.status(),
            title: def.title().to_owned(),
            message: def.message().as_str().to_owned(),
            hint: def.hint_template().map(|h| h.as_str().to_owned()),
            remedy: def.remedy_text().map(str::to_owned),
            retry: def.retry(),
            kind: def.kind(),
            aliases: def.aliases().clone(),
            details: def.detail_keys().to_vec(),
            message_only: def.message_only_keys().to_vec(),
        }
    }

    /// The entry back; `None` if a template no longer parses.
    fn into_def(self, code: &str) -> Option<ErrorDef> {
        let mut def = ErrorDef::new(code, self.status, self.title, &self.message)
            .ok()?
            .retry_class(self.retry)
            .kind_of(self.kind)
            .details(self.details)
            .message_only(self.message_only);
        if let Some(hint) = self.hint {
            def = def.hint(&hint).ok()?;
        }
        if let Some(remedy) = self.remedy {
            def = def.remedy(remedy);
        }
        for (dialect, wire) in self.aliases {
            def = def.alias(dialect, wire);
        }
        Some(def)
    }
}

/// An error as JSON, to put back in a replay's extensions.
pub(crate) fn encode_error(err: &ApiError) -> String {
    let stored = StoredError {
        code: err.code().to_owned(),
        message: err.message_override().map(str::to_owned),
        details: err.details().clone(),
        violations: err.violations().to_vec(),
        // Rounded up, as `Retry-After` is: a wait cut down to the
        // millisecond could be sent a second shorter on replay.
        retry_after_ms: err
            .retry_after_delay()
            .map(|d| u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)),
        headers: err
            .headers()
            .iter()
            .filter(|(n, _)| !is_rate_limit(n.as_str()))
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        def: Some(StoredDef::of(err.def())),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// An error back from [`encode_error`], from `catalog` (or the built-in one,
/// or else the entry stored with it); `None` when unreadable. Rebuilt on its
/// stored entry, then moved onto the catalog's as the first answer was
/// ([`ApiError::with_def`]), so the values that entry kept off the wire
/// (`message_only`, or documented only by the stored entry) stay off it.
pub(crate) fn decode_error(json: &str, catalog: &Catalog) -> Option<ApiError> {
    let stored: StoredError = serde_json::from_str(json).ok()?;
    let found = catalog
        .get(&stored.code)
        .or_else(|| Catalog::builtin_ref().get(&stored.code))
        .cloned();
    let own = stored
        .def
        .and_then(|def| def.into_def(&stored.code))
        .map(Arc::new);
    let mut err = match (own, found) {
        (Some(own), Some(def)) => ApiError::new(own)
            .with_details(stored.details)
            .with_def(def),
        (Some(def), None) | (None, Some(def)) => ApiError::new(def).with_details(stored.details),
        (None, None) => return None,
    };
    if let Some(message) = stored.message {
        err = err.with_message(message);
    }
    for v in stored.violations {
        err = err.violation(v);
    }
    if let Some(ms) = stored.retry_after_ms {
        err = err.retry_after(Duration::from_millis(ms));
    }
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            err = err.header(name, value);
        }
    }
    Some(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_error_keeps_off_the_wire_what_the_first_kept_off() {
        // A derived variant on the built-in `not_found`: its own entry names
        // `doc` and keeps `email` for the message only.
        let own = ErrorDef::new(
            "not_found",
            404,
            "Missing",
            "No document {doc} for {email}.",
        )
        .unwrap()
        .details(["doc"])
        .message_only(["email"]);
        let err = ApiError::new(Arc::new(own))
            .with("doc", 7)
            .with("email", "ada@example.com");
        let replayed = decode_error(&encode_error(&err), Catalog::builtin_ref()).unwrap();
        assert!(Arc::ptr_eq(
            replayed.def(),
            Catalog::builtin_ref().get("not_found").unwrap()
        ));
        assert!(!replayed.has_sent_details(), "{:?}", replayed.details());
    }

    #[test]
    fn scopes_are_ids_unless_postgres_could_not_keep_them() {
        assert_eq!(scope_of("AbC123xyz789"), "AbC123xyz789");
        let long = "t".repeat(MAX_SCOPE_LEN + 1);
        let digests = [long.as_str(), "a\0b", "sha256~x"].map(scope_of);
        for digest in &digests {
            assert!(digest.starts_with(DIGEST_SCOPE), "{digest}");
            assert_eq!(digest.len(), DIGEST_SCOPE.len() + 64);
            assert!(!digest.contains('\0'));
        }
        assert_ne!(digests[0], digests[1]);
        // An id written like a digest is one too: it cannot take another's scope.
        assert_ne!(scope_of(&digests[0]), digests[0]);
        assert_eq!(
            scope_of(&"t".repeat(MAX_SCOPE_LEN)),
            "t".repeat(MAX_SCOPE_LEN)
        );
    }

    #[test]
    fn stored_digests_are_plain_sha256() {
        // Both are kept with idempotency records: the same request or id must
        // give the same bytes as in earlier builds, whatever the hashing
        // library's version (the values are `sha256sum`'s).
        assert_eq!(
            scope_of("a\0b"),
            "sha256~59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138"
        );
        let uri: Uri = "/v1/scans?x=1".parse().unwrap();
        let hex: String = fingerprint(&Method::POST, &uri, None, b"{}")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "fc87cb2664ad4419be0e3e33f14847dbc94dd7832fa33cce414e0daa5eefd169"
        );
    }

    #[test]
    fn keys() {
        assert!(valid_key("order-42"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key("é"));
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let uri: Uri = "/v1/scans?x=1".parse().unwrap();
        let a = fingerprint(&Method::POST, &uri, None, b"{}");
        assert_eq!(a, fingerprint(&Method::POST, &uri, None, b"{}"));
        assert_ne!(a, fingerprint(&Method::PATCH, &uri, None, b"{}"));
        assert_ne!(
            a,
            fingerprint(
                &Method::POST,
                &"/v1/scans?x=2".parse().unwrap(),
                None,
                b"{}"
            )
        );
        assert_ne!(a, fingerprint(&Method::POST, &uri, None, b"{ }"));
    }

    #[test]
    fn headers_round_trip_without_per_exchange_ones() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.append("link", "<a>".parse().unwrap());
        h.append("link", "<b>".parse().unwrap());
        h.insert("x-request-id", "req_1".parse().unwrap());
        h.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        h.insert("x-amzn-requestid", "upstream-1".parse().unwrap());
        h.insert("content-length", "2".parse().unwrap());
        h.insert("upgrade", "h2c".parse().unwrap());
        let disposition = HeaderValue::from_bytes("attachment; filename=\"café.png\"".as_bytes());
        h.insert("content-disposition", disposition.unwrap());
        let back = decode_headers(&encode_headers(&h));
        assert_eq!(back.len(), 4);
        assert_eq!(
            back["content-disposition"].as_bytes(),
            "attachment; filename=\"café.png\"".as_bytes()
        );
        assert_eq!(back.get_all("link").iter().count(), 2);
        assert!(back.get("x-request-id").is_none());
        assert!(decode_headers("not json").is_empty());
    }

    #[test]
    fn rate_limit_fields_are_not_stored() {
        // A limiter inside the layer counted the first request only: a
        // replay reaches no limiter there, and would send stale counts.
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        for (name, value) in [
            ("ratelimit-policy", "\"per-key\";q=100;w=60"),
            ("ratelimit", "\"per-key\";r=99;t=1"),
            ("ratelimit-remaining", "99"),
            ("ratelimit-reset", "1"),
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "99"),
            ("x-ratelimit-reset", "1"),
            ("x-ratelimit-used", "1"),
        ] {
            h.insert(name, value.parse().unwrap());
        }
        let back = decode_headers(&encode_headers(&h));
        assert_eq!(back.len(), 1, "{back:?}");
        assert_eq!(back["content-type"], "application/json");

        // Nor with an error, whose headers an outer layer renders again.
        let err = Catalog::builtin()
            .error("conflict")
            .unwrap()
            .header(
                tollgate::headers::RATELIMIT,
                HeaderValue::from_static("\"per-key\";r=0;t=9"),
            )
            .header(
                tollgate::headers::X_RATELIMIT_REMAINING,
                HeaderValue::from_static("0"),
            )
            .header(http::header::LINK, HeaderValue::from_static("<a>"));
        let back = decode_error(&encode_error(&err), Catalog::builtin_ref()).unwrap();
        let names: Vec<&str> = back.headers().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["link"]);
    }

    #[test]
    fn a_multipart_body_is_the_same_request_under_another_boundary() {
        let (method, uri) = (Method::POST, Uri::from_static("/v1/scans"));
        let form = |boundary: &str| {
            let ct =
                HeaderValue::from_str(&format!("multipart/form-data; boundary=\"{boundary}\""))
                    .unwrap();
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nPNG\r\n--{boundary}--\r\n"
            );
            fingerprint(&method, &uri, Some(&ct), body.as_bytes())
        };
        assert_eq!(form("------abc123"), form("XyZ"));
        // Other parts are another request; so is another body without a form.
        let ct = HeaderValue::from_static("multipart/form-data; boundary=XyZ");
        let other =
            "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nGIF\r\n--XyZ--\r\n";
        assert_ne!(
            form("XyZ"),
            fingerprint(&method, &uri, Some(&ct), other.as_bytes())
        );
        let json = HeaderValue::from_static("application/json");
        assert_ne!(
            fingerprint(&method, &uri, Some(&json), b"{\"a\":1}"),
            fingerprint(&method, &uri, Some(&json), b"{\"a\":2}")
        );
        // Without a form, the hash is as it always was (records kept match).
        assert_eq!(
            fingerprint(&method, &uri, Some(&json), b"{}"),
            fingerprint(&method, &uri, None, b"{}")
        );
    }

    #[test]
    fn a_semicolon_in_a_quoted_parameter_does_not_end_it() {
        let boundary =
            |ct: &'static str| multipart_boundary(&HeaderValue::from_static(ct)).map(str::to_owned);
        let odd = "multipart/form-data; name=\"a;boundary=evil\"; boundary=real";
        assert_eq!(boundary(odd).as_deref(), Some("real"));
        assert_eq!(
            boundary("multipart/form-data; boundary=\"x;y\"; charset=utf-8").as_deref(),
            Some("x;y")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; Charset=utf-8; BOUNDARY=\"a b\"").as_deref(),
            Some("a b")
        );
    }

    #[test]
    fn errors_round_trip() {
        let catalog = Catalog::builtin();
        let err = catalog
            .error("insufficient_credits")
            .unwrap()
            .with("required", 3)
            .with("available", 1)
            .violation(Violation::new("a", "b", "c"))
            .retry_after(Duration::from_secs(2))
            .header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        let back = decode_error(&encode_error(&err), &catalog).unwrap();
        assert_eq!(back.code(), "insufficient_credits");
        assert_eq!(back.message(), err.message());
        assert_eq!(back.details(), err.details());
        assert_eq!(back.violations(), err.violations());
        assert_eq!(back.retry_after_delay(), Some(Duration::from_secs(2)));
        assert_eq!(back.headers().len(), 1);
        assert!(decode_error("{}", &catalog).is_none());
        assert!(decode_error(r#"{"code":"nope","message":"m"}"#, &catalog).is_none());

        // A message of the entry's stays the entry's, for the app's catalog
        // to word on replay as it did the first time; a replaced one is kept.
        assert_eq!(back.message_override(), None);
        let replaced = err.with_message("Top up first.");
        let back = decode_error(&encode_error(&replaced), &catalog).unwrap();
        assert_eq!(back.message_override(), Some("Top up first."));
        // A record written when every message was kept reads as before.
        let old = r#"{"code":"not_found","message":"Gone."}"#;
        let back = decode_error(old, &catalog).unwrap();
        assert_eq!(back.message_override(), Some("Gone."));
    }

    #[test]
    fn a_replayed_wait_is_never_shorter_than_the_first() {
        // Retry-After is whole seconds rounded up: a wait of 1.0004 s was
        // sent as 2, and one of 0.3 ms as 1 (not 0, "retry at once").
        let catalog = Catalog::builtin();
        for wait in [
            Duration::from_micros(1_000_400),
            Duration::from_micros(300),
            Duration::from_nanos(2_000_000_001),
            Duration::from_secs(3),
        ] {
            let err = catalog.error("conflict").unwrap().retry_after(wait);
            let back = decode_error(&encode_error(&err), &catalog).unwrap();
            let replayed = back.retry_after_delay().unwrap();
            assert_eq!(
                tollgate::retry_after_secs(replayed),
                tollgate::retry_after_secs(wait),
                "{wait:?} came back as {replayed:?}"
            );
        }
    }

    #[test]
    fn errors_of_entries_no_catalog_has_round_trip() {
        // A `#[derive(ApiError)]` type's entry is in no catalog.
        let def = ErrorDef::new(
            "insufficient_frames",
            422,
            "Too few frames",
            "The video has {frames} frames; at least {min} are needed.",
        )
        .unwrap()
        .hint("Send at least {min} frames.")
        .unwrap()
        .alias(Dialect::Stripe, "frames_error")
        .details(["frames", "min"]);
        let err = ApiError::new(Arc::new(def))
            .with("frames", 2)
            .with("min", 8);
        let back = decode_error(&encode_error(&err), &Catalog::builtin()).unwrap();
        assert_eq!(back.code(), "insufficient_frames");
        assert_eq!(back.status(), 422);
        assert_eq!(back.message(), err.message());
        assert_eq!(back.details(), err.details());
        assert_eq!(back.def().as_ref(), err.def().as_ref());
    }
}
