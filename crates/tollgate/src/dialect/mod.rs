//! The ten wire formats an error can be written in, and read back from.

mod coded;
mod detail;
mod envelope;
mod flat;
mod google;
pub(crate) mod json;
mod jsonapi;
mod meta;
mod problem;
mod status_code;
mod stripe;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{Decoded, Json, Obj, Parsed, Raw};
use crate::{ApiError, Catalog, ErrorDef, Violation, headers};
use json::Out;

/// A wire format for error bodies.
///
/// ```
/// use tollgate::Dialect;
/// assert_eq!("status-code".parse::<Dialect>(), Ok(Dialect::StatusCode));
/// assert_eq!(Dialect::Problem.content_type(), "application/problem+json");
/// assert_eq!(Dialect::ALL.len(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Dialect {
    /// RFC 9457 problem details (the default).
    Problem,
    /// `{"status":"error","error":{"code":<int>,…}}` (seeds 000, 001).
    StatusCode,
    /// `{"error":{"code":"RATE_LIMIT_ERROR",…},"request_id"}` (seed 002, middleware).
    Coded,
    /// FastAPI's `{"detail":…}` (seed 002, framework).
    Detail,
    /// `{"error":{…},"meta":{"request_id"}}` (seed 003).
    Meta,
    /// `{"data":null,"success":false,"message","errors":[…]}` (seed 004).
    Envelope,
    /// `{"error":"<code>","message":"…"}` (seed 004, legacy).
    Flat,
    /// Google AIP-193 `google.rpc.Status`.
    Google,
    /// Stripe's `{"error":{"type","code","message","param","doc_url"}}`.
    Stripe,
    /// JSON:API 1.1 error objects.
    Jsonapi,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 10] = [
        Dialect::Problem,
        Dialect::StatusCode,
        Dialect::Coded,
        Dialect::Detail,
        Dialect::Meta,
        Dialect::Envelope,
        Dialect::Flat,
        Dialect::Google,
        Dialect::Stripe,
        Dialect::Jsonapi,
    ];

    /// Every dialect's name, in the order of [`ALL`](Self::ALL).
    const NAMES: [&'static str; 10] = [
        "problem",
        "status-code",
        "coded",
        "detail",
        "meta",
        "envelope",
        "flat",
        "google",
        "stripe",
        "jsonapi",
    ];

    /// The name used in config files and on the command line.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The `Content-Type` of error bodies.
    pub fn content_type(self) -> &'static str {
        match self {
            Dialect::Problem => "application/problem+json",
            Dialect::Jsonapi => "application/vnd.api+json",
            _ => "application/json",
        }
    }

    /// Whether the wire format has a place for an error's details.
    ///
    /// `envelope` and `flat` reproduce seed 004 exactly, which has none: their
    /// details stay on the server (logs) and only the message carries them.
    /// In `status-code`, an entry's hint may take their place
    /// ([`sends_hint_of`](Self::sends_hint_of)).
    pub fn carries_details(self) -> bool {
        !matches!(self, Dialect::Envelope | Dialect::Flat)
    }

    /// Whether `def`'s bodies in this dialect send its hint in place of its
    /// details (seed 000's string `details`): in `status-code`, for an entry
    /// with a hint. An occurrence with field violations, or whose details
    /// leave a blank in the hint, sends its details object instead (seed
    /// 001; `null` when it has neither details to send nor violations), so
    /// that neither the violations nor a `{placeholder}` reach the client
    /// wrongly.
    ///
    /// ```
    /// use tollgate::{Dialect, ErrorDef};
    /// let def = ErrorDef::new("insufficient_scope", 403, "Forbidden", "Access denied.")
    ///     .unwrap()
    ///     .hint("Your token does not grant {access} permissions.")
    ///     .unwrap();
    /// assert!(Dialect::StatusCode.sends_hint_of(&def));
    /// assert!(!Dialect::Coded.sends_hint_of(&def));
    /// ```
    pub fn sends_hint_of(self, def: &ErrorDef) -> bool {
        self == Dialect::StatusCode && def.hint_template().is_some()
    }

    /// Whether violations keep their own codes on the wire (`envelope` keeps
    /// field and message only; `flat` drops violations).
    pub fn carries_violation_codes(self) -> bool {
        !matches!(self, Dialect::Envelope | Dialect::Flat)
    }

    /// Members a details key may not use in this dialect, since they would
    /// collide with the dialect's own members where details are spliced in.
    pub fn reserved_detail_keys(self) -> &'static [&'static str] {
        match self {
            Dialect::Problem => problem::RESERVED,
            Dialect::Detail => detail::RESERVED,
            Dialect::Stripe => stripe::RESERVED,
            Dialect::Jsonapi => jsonapi::RESERVED,
            Dialect::StatusCode | Dialect::Coded | Dialect::Meta => &[VIOLATIONS_KEY],
            Dialect::Envelope | Dialect::Flat | Dialect::Google => &[],
        }
    }

    /// Reads a body of this dialect, given what detecting it parsed.
    /// `catalog` tells codes from field names where the body alone cannot.
    pub(crate) fn decode(
        self,
        obj: &Obj<'_>,
        parsed: Parsed<'_>,
        catalog: &Catalog,
        out: &mut Decoded,
    ) {
        let error = parsed.error.as_ref();
        match self {
            Dialect::Problem => problem::decode(obj, out),
            Dialect::StatusCode => status_code::decode(obj, error, out),
            Dialect::Coded => coded::decode(obj, error, out),
            Dialect::Detail => detail::decode(obj, catalog, out),
            Dialect::Meta => meta::decode(obj, error, out),
            Dialect::Envelope => envelope::decode(obj, catalog, out),
            Dialect::Flat => flat::decode(obj, out),
            Dialect::Google => google::decode(error, out),
            Dialect::Stripe => stripe::decode(error, out),
            Dialect::Jsonapi => jsonapi::decode(parsed.errors, parsed.first_error, out),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a name that is not a [`Dialect`]: it lists every name,
/// and the one likely meant when the name is a slip of the keys, as a
/// catalog's unknown dialect is told.
///
/// Names are read in any case (`Stripe` is `stripe`).
///
/// ```
/// let e = "problm".parse::<tollgate::Dialect>().unwrap_err();
/// assert!(e.to_string().ends_with("(did you mean `problem`?)"), "{e}");
/// assert_eq!("Stripe".parse::<tollgate::Dialect>(), Ok(tollgate::Dialect::Stripe));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDialect(pub String);

impl fmt::Display for UnknownDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown dialect {:?}, expected one of: ", self.0)?;
        let names: Vec<_> = Dialect::ALL.iter().map(|d| d.name()).collect();
        f.write_str(&names.join(", "))?;
        match crate::suggest::nearest(&self.0, names.into_iter()) {
            Some(name) => write!(f, " (did you mean `{name}`?)"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for UnknownDialect {}

/// A name read in any case, as [`FromStr`] reads it (`aliases = { Stripe = … }`
/// in a catalog, as `--dialect Stripe`); another is refused with serde's
/// list of the names, which [`suggest`](crate::suggest) reads for the one
/// likely meant.
impl<'de> Deserialize<'de> for Dialect {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let name = String::deserialize(de)?;
        name.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&name, &Self::NAMES))
    }
}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDialect(s.to_owned()))
    }
}

/// The key under which details-object dialects (`status-code`, `coded`,
/// `meta`, `stripe`, `detail`) carry field violations.
pub(crate) const VIOLATIONS_KEY: &str = "errors";

/// The detail naming the field at fault (seed 002's): the `detail` dialect
/// sends it, else the first violation's field; `stripe` sends it as `param`;
/// an entry that documents it gets the first violation's field there
/// ([`ApiError::violation`]).
pub(crate) const FIELD_KEY: &str = "field";

/// What an occurrence knows about its request: the id, the time, the path.
///
/// ```
/// use std::time::SystemTime;
/// let ctx = tollgate::Context::new(SystemTime::now()).request_id("req_1").instance("/v1/scans");
/// assert_eq!(ctx.request_id_str(), Some("req_1"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    request_id: Option<&'a str>,
    timestamp: SystemTime,
    instance: Option<&'a str>,
}

impl<'a> Context<'a> {
    /// A context at `timestamp` (the `status-code` dialect prints it).
    pub fn new(timestamp: SystemTime) -> Self {
        Context {
            request_id: None,
            timestamp,
            instance: None,
        }
    }

    /// Sets the request id, echoed in the body (per dialect) and `X-Request-Id`.
    pub fn request_id(mut self, id: &'a str) -> Self {
        self.request_id = Some(id);
        self
    }

    /// Sets the request path, the `instance` of problem details.
    pub fn instance(mut self, path: &'a str) -> Self {
        self.instance = Some(path);
        self
    }

    /// The request id, if set.
    pub fn request_id_str(&self) -> Option<&'a str> {
        self.request_id
    }
}

/// Writes errors of one catalog in one dialect.
///
/// Get one from [`Catalog::renderer`](crate::Catalog::renderer).
///
/// ```
/// use std::time::SystemTime;
/// use tollgate::{Catalog, Context, Dialect};
/// let catalog = Catalog::builtin();
/// let err = catalog.error("not_found").unwrap();
/// let ctx = Context::new(SystemTime::now()).request_id("req_1");
/// let response = catalog.renderer(Dialect::Flat).response(&err, &ctx);
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["x-error-code"], "not_found");
/// assert_eq!(response.body().as_slice(), br#"{"error":"not_found","message":"The requested resource was not found."}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Renderer<'a> {
    pub(crate) dialect: Dialect,
    pub(crate) docs_url: &'a str,
    pub(crate) domain: &'a str,
}

impl Renderer<'_> {
    /// The dialect written (but for an entry [sent in](crate::ErrorDef::sent_in)
    /// another there: [`dialect_of`](Self::dialect_of)).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The dialect `err` is written in: this renderer's, unless its entry
    /// is [sent in](crate::ErrorDef::sent_in) another there.
    pub fn dialect_of(&self, err: &ApiError) -> Dialect {
        err.def().dialect_in(self.dialect)
    }

    /// This renderer, in the dialect `err` is written in.
    fn for_error(&self, err: &ApiError) -> Self {
        Renderer {
            dialect: self.dialect_of(err),
            ..*self
        }
    }

    /// Appends the JSON body of `err` to `out`.
    ///
    /// The body is written straight into `out`: nothing else is allocated.
    pub fn write_body(&self, err: &ApiError, ctx: &Context<'_>, out: &mut Vec<u8>) {
        let out = &mut Out(out);
        let this = &self.for_error(err);
        match this.dialect {
            Dialect::Problem => problem::encode(this, err, ctx, out),
            Dialect::StatusCode => status_code::encode(this, err, ctx, out),
            Dialect::Coded => coded::encode(this, err, ctx, out),
            Dialect::Detail => detail::encode(this, err, ctx, out),
            Dialect::Meta => meta::encode(this, err, ctx, out),
            Dialect::Envelope => envelope::encode(this, err, ctx, out),
            Dialect::Flat => flat::encode(this, err, ctx, out),
            Dialect::Google => google::encode(this, err, ctx, out),
            Dialect::Stripe => stripe::encode(this, err, ctx, out),
            Dialect::Jsonapi => jsonapi::encode(this, err, ctx, out),
        }
    }

    /// The JSON body of `err`.
    pub fn body(&self, err: &ApiError, ctx: &Context<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_body(err, ctx, &mut out);
        out
    }

    /// The headers an error response carries, in order: `Content-Type`,
    /// `X-Request-Id`, `X-Error-Code`, `Retry-After`, dialect headers
    /// (`Request-Id` for stripe), then the error's own but those of a name
    /// already written (one `Content-Type`, and the `Retry-After` the body
    /// tells).
    pub fn headers(&self, err: &ApiError, ctx: &Context<'_>) -> Vec<(HeaderName, HeaderValue)> {
        let dialect = self.dialect_of(err);
        let mut out = Vec::with_capacity(5 + err.headers().len());
        out.push((
            CONTENT_TYPE,
            HeaderValue::from_static(dialect.content_type()),
        ));
        let request_id = ctx.request_id.and_then(|id| HeaderValue::from_str(id).ok());
        if let Some(id) = &request_id {
            out.push((headers::X_REQUEST_ID, id.clone()));
        }
        if let Ok(code) = HeaderValue::from_str(&err.def().wire_code(dialect)) {
            out.push((headers::X_ERROR_CODE, code));
        }
        if let Some(delay) = err.retry_after_delay() {
            out.push((
                RETRY_AFTER,
                HeaderValue::from(crate::retry::sent_wait_secs(delay)),
            ));
        }
        if let (Dialect::Stripe, Some(id)) = (dialect, request_id) {
            out.push((headers::REQUEST_ID, id));
        }
        let written = out.len();
        for (name, value) in err.headers() {
            if !out[..written].iter().any(|(own, _)| own == name) {
                out.push((name.clone(), value.clone()));
            }
        }
        out
    }

    /// The whole HTTP response for `err`: status, headers and body; its
    /// extensions hold the [`Dialect`] it is written in
    /// ([`dialect_of`](Self::dialect_of)), so a layer that
    /// writes it again in another knows which headers were the dialect's
    /// (Stripe's `Request-Id`) rather than the app's.
    pub fn response(&self, err: &ApiError, ctx: &Context<'_>) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(self.body(err, ctx));
        *response.status_mut() = http::StatusCode::from_u16(err.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (name, value) in self.headers(err, ctx) {
            headers.append(name, value);
        }
        response.extensions_mut().insert(self.dialect_of(err));
        response
    }

    /// `"{docs_url}#{code}"`: where the error is documented.
    pub(crate) fn write_doc_url(&self, err: &ApiError, out: &mut Out<'_>) {
        out.raw("\"");
        out.str_text(self.docs_url);
        out.raw("#");
        out.str_text(err.code());
        out.raw("\"");
    }
}

/// An error's message as a JSON string: the occurrence's own, else the
/// entry's template filled from the details.
pub(crate) fn write_message(err: &ApiError, out: &mut Out<'_>) {
    match err.message_override() {
        Some(message) => out.str(message),
        None => err.def().message().write_json(err.details(), out),
    }
}

/// The JSON Pointer of a field (`items[2].name` → `"/items/2/name"`), as a
/// JSON string, without building the pointer first.
pub(crate) fn write_pointer(field: &str, out: &mut Out<'_>) {
    out.raw("\"");
    crate::field::for_each_pointer_piece(field, |piece| out.str_text(piece));
    out.raw("\"");
}

/// The code as spelled in `dialect`, as a JSON string.
pub(crate) fn write_wire_code(err: &ApiError, dialect: Dialect, out: &mut Out<'_>) {
    out.str(&err.def().wire_code(dialect));
}

/// Violations as `[{"field","code","message"}]`.
pub(crate) fn write_violations(violations: &[Violation], out: &mut Out<'_>) {
    out.raw("[");
    for (i, v) in violations.iter().enumerate() {
        out.raw(if i == 0 {
            "{\"field\":"
        } else {
            ",{\"field\":"
        });
        out.str(&v.field);
        out.raw(",\"code\":");
        out.str(&v.code);
        out.raw(",\"message\":");
        out.str(&v.message);
        out.raw("}");
    }
    out.raw("]");
}

/// The details as members of an object that has members before them
/// (`,"key":value`), leaving out those named in `reserved`.
pub(crate) fn write_detail_members(err: &ApiError, reserved: &[&str], out: &mut Out<'_>) {
    for (k, v) in err.sent_details() {
        if !reserved.contains(&k.as_str()) {
            out.raw(",");
            out.key(k);
            out.value(v);
        }
    }
}

/// The details object with violations under [`VIOLATIONS_KEY`]; a detail of
/// that name is reserved, and left out.
pub(crate) fn write_details_object(err: &ApiError, out: &mut Out<'_>) {
    out.raw("{");
    let mut first = true;
    for (k, v) in err.sent_details().filter(|(k, _)| *k != VIOLATIONS_KEY) {
        if !first {
            out.raw(",");
        }
        first = false;
        out.key(k);
        out.value(v);
    }
    if !err.violations().is_empty() {
        out.raw(if first { "\"errors\":" } else { ",\"errors\":" });
        write_violations(err.violations(), out);
    }
    out.raw("}");
}

/// Reads a details object back: violations out of [`VIOLATIONS_KEY`] (when
/// every item is one), the other members as details, leaving out those that
/// `skip` names.
pub(crate) fn read_details_object(
    details: &Obj<'_>,
    skip: impl Fn(&str) -> bool,
    out: &mut Decoded,
) {
    let room = out.violation_room();
    let violations = details
        .raw(VIOLATIONS_KEY)
        .filter(|_| !skip(VIOLATIONS_KEY))
        .and_then(|raw| read_violations(raw, room));
    let taken = violations.is_some();
    out.violations.extend(violations.into_iter().flatten());
    read_details(
        details,
        |key| skip(key) || (taken && key == VIOLATIONS_KEY),
        out,
    );
}

/// Reads every member of `details` as a detail, but those `skip` names.
pub(crate) fn read_details(details: &Obj<'_>, skip: impl Fn(&str) -> bool, out: &mut Decoded) {
    for (key, raw) in details.members() {
        if !skip(key) {
            out.add_detail(key, raw);
        }
    }
}

/// How many bytes of one field's name its messages copy at most: each
/// message is a violation of its own with the name in it, and a hostile
/// body of one long name with thousands of empty messages would otherwise
/// cost its size a thousand times. The same bound holds for one message
/// copied to each of many fields (Salesforce's `fields`).
pub(crate) const FIELD_COPIES_MAX: usize = 64 * 1024;

/// A field's messages (an array of strings, or one string; else none) as
/// violations of `field` without codes: seed 004's entries, ASP.NET Core's
/// `errors` object.
pub(crate) fn read_field_messages(field: &str, raw: Raw<'_>, out: &mut Decoded) {
    let room = out
        .violation_room()
        .min(1 + FIELD_COPIES_MAX / field.len().max(1));
    let violation = |message: Cow<'_, str>| Violation {
        field: field.to_owned(),
        code: String::new(),
        message: message.into_owned(),
    };
    match raw.json_type() {
        Some(Json::String) => out
            .violations
            .extend(raw.string().filter(|_| room > 0).map(violation)),
        Some(Json::Array) => {
            // All strings, or none taken.
            let all_strings = raw
                .items()
                .is_some_and(|mut items| items.all(|m| m.string().is_some()));
            if all_strings {
                let messages = raw.items().into_iter().flatten().filter_map(Raw::string);
                out.violations.extend(messages.map(violation).take(room));
            }
        }
        _ => {}
    }
}

/// The first `max` items of an array of violations, each straight from its
/// text (the rest are scanned, not kept); `None` unless every item read is
/// one.
fn read_violations(raw: Raw<'_>, max: usize) -> Option<Vec<Violation>> {
    let items = raw.array_up_to(max)?;
    items
        .into_iter()
        .map(|item| {
            let json = item.get();
            serde_json::from_str(json).ok().or_else(|| {
                // An item that repeats a member fails the derived reader,
                // which a parsed object (the last value wins) does not.
                let value: Value = serde_json::from_str(json).ok()?;
                serde_json::from_value(value).ok()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, Violation};

    #[test]
    fn an_unknown_dialect_is_named_beside_the_known_ones() {
        let text = "soap".parse::<Dialect>().unwrap_err().to_string();
        assert!(text.contains("\"soap\""), "{text}");
        for dialect in Dialect::ALL {
            assert!(text.contains(dialect.name()), "{text}");
        }
    }

    /// A name is the one serde writes, and serde reads it back in any case.
    #[test]
    fn a_name_is_serdes_and_is_read_in_any_case() {
        for dialect in Dialect::ALL {
            let written = serde_json::to_value(dialect).unwrap();
            assert_eq!(written, dialect.name());
            let upper = Value::from(dialect.name().to_uppercase());
            assert_eq!(serde_json::from_value::<Dialect>(upper).unwrap(), dialect);
        }
        let e = serde_json::from_value::<Dialect>(Value::from("strpe")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown variant `strpe`, expected one of `problem`")
        );
    }

    /// An entry sent in another dialect is written in it whole: body,
    /// `Content-Type`, its alias there in `X-Error-Code`, the dialect's own
    /// headers, and the dialect the response says it is in.
    #[test]
    fn an_entry_sent_in_another_dialect_is_written_in_it() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.not_found]\naliases = { stripe = 'resource_missing' }\n\
                 sent_in = { flat = 'stripe', coded = 'problem' }\n",
            )
            .unwrap();
        let err = catalog.error("not_found").unwrap();
        let ctx = Context::new(std::time::UNIX_EPOCH).request_id("r1");
        let flat = catalog.renderer(Dialect::Flat);
        assert_eq!(flat.dialect(), Dialect::Flat);
        assert_eq!(flat.dialect_of(&err), Dialect::Stripe);
        let response = flat.response(&err, &ctx);
        assert_eq!(response.headers()["x-error-code"], "resource_missing");
        assert_eq!(response.headers()["request-id"], "r1");
        assert_eq!(response.extensions().get(), Some(&Dialect::Stripe));
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"]["code"], "resource_missing");
        let problem = catalog.renderer(Dialect::Coded).response(&err, &ctx);
        assert_eq!(
            problem.headers()["content-type"],
            "application/problem+json"
        );
        // Other entries, and other dialects, are as they were.
        let other = catalog.error("conflict").unwrap();
        assert_eq!(flat.dialect_of(&other), Dialect::Flat);
        let meta = catalog.renderer(Dialect::Meta).body(&err, &ctx);
        assert!(meta.starts_with(br#"{"error":{"code":"not_found""#));
    }

    /// A wait of `u64::MAX` seconds (a handler's `Retry-After` saturated)
    /// goes out as the longest a protobuf `Duration` holds, which every
    /// dialect's reader can take.
    #[test]
    fn an_endless_wait_is_sent_as_the_longest_any_reader_takes() {
        let catalog = Catalog::builtin();
        let err = catalog
            .error("rate_limit_exceeded")
            .unwrap()
            .retry_after(std::time::Duration::MAX);
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let most = crate::MAX_RETRY_AFTER_SECS.to_string();
        for dialect in Dialect::ALL {
            let response = catalog.renderer(dialect).response(&err, &ctx);
            assert_eq!(response.headers()[RETRY_AFTER], most.as_str(), "{dialect}");
            let body = String::from_utf8(response.into_body()).unwrap();
            assert!(!body.contains(&u64::MAX.to_string()), "{dialect}: {body}");
        }
        let google = catalog.renderer(Dialect::Google).body(&err, &ctx);
        let google = String::from_utf8(google).unwrap();
        assert!(
            google.contains(&format!(r#""retryDelay":"{most}s""#)),
            "{google}"
        );
    }

    #[test]
    fn an_errors_own_header_does_not_repeat_the_renderers() {
        let catalog = Catalog::builtin();
        let err = catalog
            .error("rate_limit_exceeded")
            .unwrap()
            .retry_after(std::time::Duration::from_secs(60))
            .header(RETRY_AFTER, HeaderValue::from_static("5"))
            .header(CONTENT_TYPE, HeaderValue::from_static("text/html"))
            .header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let response = catalog.renderer(Dialect::StatusCode).response(&err, &ctx);
        let all = |name| response.headers().get_all(name).iter().collect::<Vec<_>>();
        assert_eq!(all(RETRY_AFTER), ["60"]);
        assert_eq!(all(CONTENT_TYPE), ["application/json"]);
        assert_eq!(all(http::header::WWW_AUTHENTICATE), ["Bearer"]);
        // Without a wait of its own, an error's `Retry-After` is its wait:
        // in the body too, and in seconds however it was written.
        let in_30s =
            httpdate::fmt_http_date(SystemTime::now() + std::time::Duration::from_secs(30));
        for asked in ["5", in_30s.as_str()] {
            let err = catalog
                .error("service_unavailable")
                .unwrap()
                .header(RETRY_AFTER, HeaderValue::from_str(asked).unwrap());
            let response = catalog.renderer(Dialect::StatusCode).response(&err, &ctx);
            let header: u64 = response.headers()[RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body["error"]["retry_after"], header, "{asked}");
            assert!(
                header == 5 || (29..=30).contains(&header),
                "{asked}: {header}"
            );
        }
    }

    #[test]
    fn message_only_values_fill_the_message_and_stay_off_the_wire_in_every_dialect() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.rate_limit_exceeded]\ndetails = []\nmessage_only = ['limit', 'window']\n",
            )
            .unwrap();
        for dialect in Dialect::ALL {
            let err = catalog
                .error("rate_limit_exceeded")
                .unwrap()
                .with("limit", 7919)
                .with("window", 60);
            let ctx = Context::new(std::time::UNIX_EPOCH);
            let text = String::from_utf8(catalog.renderer(dialect).body(&err, &ctx)).unwrap();
            assert!(
                text.contains("7919 calls per 60 seconds"),
                "{dialect}: {text}"
            );
            // Only in the message (which some dialects write twice).
            let in_message = text.matches("7919 calls per 60 seconds").count();
            assert_eq!(
                text.matches("7919").count(),
                in_message,
                "{dialect}: {text}"
            );
            assert!(
                !text.contains("\"limit\"") && !text.contains("\"window\""),
                "{dialect}: {text}"
            );
        }
    }

    #[test]
    fn a_field_detail_reads_back_only_where_the_entry_sends_one() {
        // `detail` writes the first violation's field in `field` unless a
        // detail takes that member: decoding must tell which it was.
        let catalog = Catalog::builtin();
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let session = Violation::new("session_id", "required", "is required");
        for (code, with_field) in [("missing_field", true), ("validation_error", false)] {
            let mut err = catalog.error(code).unwrap().violation(session.clone());
            if with_field {
                err = err.with("field", "session_id");
            }
            let body = catalog.renderer(Dialect::Detail).body(&err, &ctx);
            let decoded =
                catalog.decode(400, &http::HeaderMap::new(), &body, std::time::UNIX_EPOCH);
            assert_eq!(decoded.violations.len(), 1, "{code}");
            assert_eq!(
                decoded.details.get("field").is_some(),
                with_field,
                "{code}: {:?}",
                decoded.details
            );
        }
    }

    #[test]
    fn the_envelope_keys_a_missing_field_by_its_name() {
        // Seed 004: `"errors":[{"session_id":["session_id is required"]}]`.
        let catalog = Catalog::builtin();
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let renderer = catalog.renderer(Dialect::Envelope);
        let missing = catalog
            .error("missing_field")
            .unwrap()
            .with("field", "session_id");
        let text = String::from_utf8(renderer.body(&missing, &ctx)).unwrap();
        assert!(text.contains(r#""errors":[{"session_id":["#), "{text}");
        // A `field` the entry does not document is no field to key by.
        let conflict = catalog
            .error("conflict")
            .unwrap()
            .with("field", "session_id");
        let text = String::from_utf8(renderer.body(&conflict, &ctx)).unwrap();
        assert!(text.contains(r#""errors":[{"conflict":["#), "{text}");
        // Read back with its code, or from the body alone (the message
        // names the field first or in quotes), it is a violation of that
        // field, in the built-in wording and in seed 004's.
        let mut seed_004 = Catalog::builtin();
        seed_004
            .load_toml(
                "004.toml",
                "[errors.missing_field]\nmessage = '{field} is required'\n",
            )
            .unwrap();
        for catalog in [&catalog, &seed_004] {
            let renderer = catalog.renderer(Dialect::Envelope);
            for field in [
                "session_id",
                "user.email",
                "items[0].name",
                "Idempotency-Key",
            ] {
                let missing = catalog.error("missing_field").unwrap().with("field", field);
                let body = renderer.body(&missing, &ctx);
                let mut headers = http::HeaderMap::new();
                let none = catalog.decode(400, &headers, &body, std::time::UNIX_EPOCH);
                headers.insert("x-error-code", "missing_field".parse().unwrap());
                let told = catalog.decode(400, &headers, &body, std::time::UNIX_EPOCH);
                assert_eq!(told.code.as_deref(), Some("missing_field"));
                for decoded in [none, told] {
                    assert_eq!(decoded.violations.len(), 1, "{field}: {decoded:?}");
                    assert_eq!(decoded.violations[0].field, field);
                }
            }
        }
        // Other errors naming a field keep their code: a 409 of the app's.
        let mut app = Catalog::builtin();
        app.load_toml(
            "app.toml",
            "[errors.duplicate_value]\nstatus = 409\ntitle = 'Duplicate'\nmessage = 'A record with this {field} exists.'\ndetails = ['field']\n",
        )
        .unwrap();
        let duplicate = app.error("duplicate_value").unwrap().with("field", "email");
        let text =
            String::from_utf8(app.renderer(Dialect::Envelope).body(&duplicate, &ctx)).unwrap();
        assert!(text.contains(r#""errors":[{"duplicate_value":["#), "{text}");
        // Nor is a 400 of another kind a validation error.
        app.load_toml(
            "app.toml",
            "[errors.name_taken]\nstatus = 400\nkind = 'conflict'\ntitle = 'Taken'\nmessage = 'The {field} is taken.'\ndetails = ['field']\n",
        )
        .unwrap();
        let taken = app.error("name_taken").unwrap().with("field", "email");
        let text = String::from_utf8(app.renderer(Dialect::Envelope).body(&taken, &ctx)).unwrap();
        assert!(text.contains(r#""errors":[{"name_taken":["#), "{text}");
    }

    #[test]
    fn an_envelope_entry_is_the_code_only_for_its_own_status_or_none() {
        let catalog = Catalog::builtin();
        let body = br#"{"data":null,"success":false,"message":"Invalid","errors":[{"name":["is required"]},{"timeout":["must be positive"]}]}"#;
        let decoded = catalog.decode(400, &http::HeaderMap::new(), body, std::time::UNIX_EPOCH);
        assert_eq!(decoded.code, None, "{decoded:?}");
        assert_eq!(decoded.violations.len(), 2, "{decoded:?}");
        // Without a status, the catalog's code is the code.
        let decoded = catalog.decode(0, &http::HeaderMap::new(), body, std::time::UNIX_EPOCH);
        assert_eq!(decoded.code.as_deref(), Some("timeout"), "{decoded:?}");
        assert_eq!(decoded.violations.len(), 1, "{decoded:?}");
    }

    #[test]
    fn an_envelope_code_entry_leaves_room_for_every_violation() {
        let fields: Vec<String> = (0..crate::decode::MAX_VIOLATIONS)
            .map(|i| format!(r#"{{"field_{i}":["is required"]}}"#))
            .collect();
        let body = format!(
            r#"{{"data":null,"success":false,"message":"Invalid","errors":[{{"validation_error":["Invalid"]}},{}]}}"#,
            fields.join(",")
        );
        let catalog = Catalog::builtin();
        let decoded = catalog.decode(
            400,
            &http::HeaderMap::new(),
            body.as_bytes(),
            std::time::UNIX_EPOCH,
        );
        assert_eq!(decoded.code.as_deref(), Some("validation_error"));
        assert_eq!(decoded.violations.len(), crate::decode::MAX_VIOLATIONS);
    }

    #[test]
    fn a_lone_envelope_entry_named_in_passing_is_still_a_code() {
        // Not first, not quoted whole: the message mentions the code in passing.
        let catalog = Catalog::builtin();
        for message in [
            "Request failed: invalid_request",
            "Request failed: 'strict-invalid_request'",
        ] {
            let body = format!(
                r#"{{"success":false,"message":"{message}","errors":[{{"invalid_request":["{message}"]}}]}}"#
            );
            let decoded = catalog.decode(
                400,
                &http::HeaderMap::new(),
                body.as_bytes(),
                std::time::UNIX_EPOCH,
            );
            assert_eq!(
                decoded.code.as_deref(),
                Some("invalid_request"),
                "{decoded:?}"
            );
            assert!(decoded.violations.is_empty());
        }
    }

    #[test]
    fn stripe_names_no_param_for_the_whole_input() {
        let catalog = Catalog::builtin();
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let renderer = catalog.renderer(Dialect::Stripe);
        let whole = catalog
            .error("validation_error")
            .unwrap()
            .violation(Violation::new("", "type", "expected an object"));
        let text = String::from_utf8(renderer.body(&whole, &ctx)).unwrap();
        assert!(!text.contains("\"param\""), "{text}");
        let field = whole.violation(Violation::new("name", "required", "is required"));
        let text = String::from_utf8(renderer.body(&field, &ctx)).unwrap();
        assert!(!text.contains("\"param\""), "the first violation's: {text}");
        let named = catalog
            .error("validation_error")
            .unwrap()
            .violation(Violation::new("name", "required", "is required"));
        let text = String::from_utf8(renderer.body(&named, &ctx)).unwrap();
        assert!(text.contains(r#""param":"name""#), "{text}");
        // A missing field is the parameter at fault, as Stripe names one;
        // decoded, it is the `field` detail again, not a violation.
        let missing = catalog
            .error("missing_field")
            .unwrap()
            .with("field", "color");
        let body = renderer.body(&missing, &ctx);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r#""param":"color""#), "{text}");
        let decoded = catalog.decode(400, &http::HeaderMap::new(), &body, std::time::UNIX_EPOCH);
        assert!(decoded.violations.is_empty(), "{decoded:?}");
        assert_eq!(decoded.details["field"], "color");
        // An entry that does not document `field` sends none, `param` neither.
        let undocumented = catalog
            .error("not_found")
            .unwrap()
            .with("field", "secret_col");
        let text = String::from_utf8(renderer.body(&undocumented, &ctx)).unwrap();
        assert!(!text.contains("secret_col"), "{text}");
    }

    #[test]
    fn a_long_field_name_keeps_its_messages() {
        let field = format!("items[0]{}", ".nested".repeat(12));
        let messages: Vec<String> = (0..100).map(|i| format!(r#""message {i}""#)).collect();
        let body = format!(
            r#"{{"data":null,"success":false,"message":"Invalid","errors":[{{"{field}":[{}]}}]}}"#,
            messages.join(",")
        );
        let decoded = Catalog::builtin().decode(
            400,
            &http::HeaderMap::new(),
            body.as_bytes(),
            std::time::UNIX_EPOCH,
        );
        assert_eq!(decoded.violations.len(), 100, "{decoded:?}");
    }

    #[test]
    fn stripe_types_server_idempotency_and_request_errors_apart() {
        let catalog = Catalog::builtin();
        let ctx = Context::new(std::time::UNIX_EPOCH);
        for (code, ty) in [
            ("internal_error", "api_error"),
            ("service_unavailable", "api_error"),
            ("idempotency_key_reused", "idempotency_error"),
            ("not_found", "invalid_request_error"),
        ] {
            let err = catalog.error(code).unwrap();
            let body = catalog.renderer(Dialect::Stripe).body(&err, &ctx);
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"]["type"], ty, "{code}");
        }
    }

    #[test]
    fn jsonapi_writes_the_status_as_a_string_under_its_own_media_type() {
        let catalog = Catalog::builtin();
        let err = catalog
            .error("payload_too_large")
            .unwrap()
            .violation(Violation::new("file", "too_large", "is too large"));
        let ctx = Context::new(std::time::UNIX_EPOCH);
        let body = catalog.renderer(Dialect::Jsonapi).body(&err, &ctx);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let statuses: Vec<_> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].clone())
            .collect();
        assert_eq!(statuses, ["413", "413"]);
        let response = catalog.renderer(Dialect::Jsonapi).response(&err, &ctx);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/vnd.api+json");
    }

    #[test]
    fn reserved_details_are_left_out_in_every_dialect() {
        let catalog = Catalog::builtin();
        for dialect in Dialect::ALL {
            let mut err = catalog
                .error("validation_error")
                .unwrap()
                .violation(Violation::new("name", "required", "is required"));
            for key in dialect.reserved_detail_keys() {
                err = err.with(*key, "shadow");
            }
            let ctx = Context::new(std::time::UNIX_EPOCH).request_id("req_1");
            let body = catalog.renderer(dialect).body(&err, &ctx);
            let text = String::from_utf8(body.clone()).unwrap();
            assert!(!text.contains("shadow"), "{dialect}: {text}");
            let decoded =
                catalog.decode(400, &http::HeaderMap::new(), &body, std::time::UNIX_EPOCH);
            // Where violations share the details object, they read back whole.
            if matches!(
                dialect,
                Dialect::StatusCode | Dialect::Coded | Dialect::Meta
            ) {
                assert_eq!(decoded.violations.len(), 1, "{dialect}: {text}");
            }
        }
    }
}
