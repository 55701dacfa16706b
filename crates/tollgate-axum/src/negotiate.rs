//! Which dialect a request's errors are written in.
//!
//! In order: `Accept: application/problem+json` rated no lower than JSON
//! (when enabled), a pinned version header value (with `Accept` as the
//! version header, the pinned media type it rates highest), a pinned path
//! prefix, the default dialect. Success bodies ([`Reply`](crate::Reply))
//! take their shape from the same rules but `Accept`: a client asking for
//! problem details is asking how its errors are written, not for the API's
//! successes to change shape.

use std::sync::Mutex;

use http::header::{
    ACCEPT, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate::Dialect;
use tollgate::headers::X_REQUEST_ID;

/// The negotiation rules; built by [`Tollgate`](crate::Tollgate).
#[derive(Clone, Debug)]
pub(crate) struct Negotiation {
    pub(crate) default: Dialect,
    pub(crate) problem_on_accept: bool,
    pub(crate) version_header: Option<HeaderName>,
    pub(crate) versions: Vec<(HeaderValue, Dialect)>,
    pub(crate) prefixes: Vec<(String, Dialect)>,
}

/// What the layer reads from a request's headers, found in one pass over
/// them (a request has few headers, hyper caps them at 100, and comparing a
/// name is cheaper than hashing one for each lookup).
#[derive(Default)]
pub(crate) struct Scanned<'a> {
    /// The `X-Request-Id` value, when the request has one line of it (see
    /// [`RequestId::from_headers`](crate::RequestId::from_headers)).
    pub(crate) request_id: Option<&'a HeaderValue>,
    /// Whether the request has several `X-Request-Id` lines.
    several_request_ids: bool,
    /// The first `Content-Length` value.
    pub(crate) content_length: Option<&'a HeaderValue>,
    /// The first `Content-Type` value.
    pub(crate) content_type: Option<&'a HeaderValue>,
    /// Whether the request has several `Content-Type` lines.
    pub(crate) several_content_types: bool,
    /// Whether the request has a `Content-Encoding` line.
    pub(crate) content_encoding: bool,
    /// The `Transfer-Encoding` values.
    pub(crate) transfer_encoding: TransferEncoding,
    /// Whether there were several `Host` lines.
    pub(crate) host: Host,
    /// The first value of the pinned version header, when one is configured
    /// and is not `Accept`.
    pub(crate) version: Option<&'a HeaderValue>,
    /// When `Accept` is the version header: the weight and dialect of the
    /// pinned media type the `Accept` values rate highest (the first listed
    /// of equals), `None` while none is listed with a weight above 0.
    media_version: Option<(u16, Dialect)>,
    /// The `Accept` values (only kept when `problem` can be picked that
    /// way).
    pub(crate) accept: Accept<'a>,
}

impl Negotiation {
    pub(crate) fn new(default: Dialect) -> Negotiation {
        Negotiation {
            default,
            problem_on_accept: true,
            version_header: None,
            versions: Vec::new(),
            prefixes: Vec::new(),
        }
    }

    /// Reads what the layer needs from `headers` in one pass.
    #[inline]
    pub(crate) fn scan<'a>(&self, headers: &'a HeaderMap) -> Scanned<'a> {
        let mut found = Scanned::default();
        for (name, value) in headers {
            if *name == X_REQUEST_ID {
                found.several_request_ids |= found.request_id.is_some();
                found.request_id = Some(value).filter(|_| !found.several_request_ids);
            } else if *name == CONTENT_LENGTH {
                found.content_length.get_or_insert(value);
            } else if *name == CONTENT_TYPE {
                found.several_content_types |= found.content_type.is_some();
                found.content_type.get_or_insert(value);
            } else if *name == CONTENT_ENCODING {
                found.content_encoding = true;
            } else if *name == TRANSFER_ENCODING {
                found.transfer_encoding.add(value);
            } else if *name == HOST {
                found.host.add();
            } else if *name == ACCEPT && self.problem_on_accept {
                found.accept.add(value);
            }
            // Not an `else`: the version header may be one read above too
            // (`Accept: application/vnd.api.v1+json`, media-type versioning).
            if self.version_header.as_ref() == Some(name) {
                if *name == ACCEPT {
                    self.weigh_media_pins(value, &mut found.media_version);
                } else {
                    found.version.get_or_insert(value);
                }
            }
        }
        found
    }

    /// The dialects for a request whose headers gave `scanned`, at `path`
    /// (as the layer's router sees it) or `caller_path` (as the caller sent
    /// it, when a `Router::nest` stripped a prefix): a path pin matches
    /// either. The first is the errors', the second the success bodies'.
    #[inline]
    pub(crate) fn dialects(
        &self,
        scanned: &Scanned<'_>,
        path: &str,
        caller_path: Option<&str>,
    ) -> (Dialect, Dialect) {
        let pinned = self.pinned(scanned, path, caller_path);
        if scanned.accept.prefers_problem(pinned) {
            return (Dialect::Problem, pinned);
        }
        (pinned, pinned)
    }

    /// The dialect the pins (or the default) give, whatever `Accept` says.
    #[inline]
    fn pinned(&self, scanned: &Scanned<'_>, path: &str, caller_path: Option<&str>) -> Dialect {
        if let Some((_, d)) = scanned.media_version {
            return d;
        }
        if let Some(value) = scanned.version {
            let value = value.as_bytes().trim_ascii();
            if let Some((_, d)) = self.versions.iter().find(|(v, _)| v.as_bytes() == value) {
                return *d;
            }
        }
        for (prefix, dialect) in &self.prefixes {
            if has_prefix(path, prefix) || caller_path.is_some_and(|p| has_prefix(p, prefix)) {
                return *dialect;
            }
        }
        self.default
    }

    /// Keeps in `best` the pinned media type that one `Accept` value (of
    /// several, read in order) rates highest, if above `best`'s: a range
    /// names a pin when its type and subtype are the pin's, in any case, and
    /// it has the parameters the pin has (see `names_pin`); its other
    /// parameters but `q` do not matter, and a weight of 0 (not acceptable)
    /// or a malformed one leaves it out.
    fn weigh_media_pins(&self, value: &HeaderValue, best: &mut Option<(u16, Dialect)>) {
        if self.versions.is_empty() {
            return;
        }
        // A byte past ASCII spoils only the range it is in, not the list.
        let value = String::from_utf8_lossy(value.as_bytes());
        for (media, params) in media_ranges(&value) {
            let Some((_, dialect)) = self
                .versions
                .iter()
                .find(|(pin, _)| names_pin(pin, media, params.clone()))
            else {
                continue;
            };
            let Some(q) = range_weight(params).filter(|&q| q > 0) else {
                continue;
            };
            if best.is_none_or(|(seen, _)| q > seen) {
                *best = Some((q, *dialect));
            }
        }
    }

    /// The request headers that can move a request between two dialects
    /// that `differ`, as a `Vary` value: `Accept` (when `by_accept`, for
    /// errors) when it can pick `problem` over another outcome, the version
    /// header when a pin can pick other than the default or a path pin
    /// would. `None` when no header can.
    pub(crate) fn vary(
        &self,
        by_accept: bool,
        differ: impl Fn(Dialect, Dialect) -> bool,
    ) -> Option<&'static HeaderValue> {
        // What a request whose headers pick nothing gets.
        let fallbacks =
            || std::iter::once(self.default).chain(self.prefixes.iter().map(|(_, d)| *d));
        let pinned = || {
            self.versions
                .iter()
                .map(|(_, d)| *d)
                .filter(|_| self.version_header.is_some())
        };
        let mut names = Vec::new();
        if by_accept
            && self.problem_on_accept
            && fallbacks()
                .chain(pinned())
                .any(|d| differ(d, Dialect::Problem))
        {
            names.push(ACCEPT.as_str());
        }
        if let Some(name) = &self.version_header {
            if pinned().any(|v| fallbacks().any(|f| differ(v, f)))
                && !names.contains(&name.as_str())
            {
                names.push(name.as_str());
            }
        }
        (!names.is_empty()).then(|| interned(&names.join(", ")))
    }
}

/// `Vary` values, one of each: code under the layer reads them through a
/// thread-local with no reference count (see `current`), so they live for
/// the program. A layer names at most two headers, so there are few.
static VARY_VALUES: Mutex<Vec<&'static HeaderValue>> = Mutex::new(Vec::new());

/// The one `&'static` copy of the header value `text` (a valid value: header
/// names joined by `", "`).
fn interned(text: &str) -> &'static HeaderValue {
    let mut values = VARY_VALUES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(value) = values.iter().find(|v| v.as_bytes() == text.as_bytes()) {
        return value;
    }
    let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
    let value: &'static HeaderValue = Box::leak(Box::new(HeaderValue::from_static(text)));
    values.push(value);
    value
}

/// Whether `path` is `prefix` or lies under it (`/v1` matches `/v1` and
/// `/v1/scans`, not `/v10`), segment by segment: empty segments do not
/// count (`//v1/scans`, a base URL's `/` joined to `/v1/scans`, is under
/// `/v1`, as a layer that normalizes the path routes it).
fn has_prefix(path: &str, prefix: &str) -> bool {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .all(|want| segments.next() == Some(want))
}

/// A request's `Accept` values, weighed only when one names problem
/// details: most requests' do not, and weighing every range of a browser's
/// `Accept` costs more than the rest of the layer.
#[derive(Clone, Copy, Default)]
pub(crate) struct Accept<'a> {
    /// The value, while there is only one.
    only: Option<&'a HeaderValue>,
    /// The weights of every value, once there are several (rare).
    several: Option<Weights>,
}

impl<'a> Accept<'a> {
    fn add(&mut self, value: &'a HeaderValue) {
        if let Some(weights) = &mut self.several {
            weights.read(value);
        } else if let Some(first) = self.only.take() {
            let mut weights = Weights::default();
            weights.read(first);
            weights.read(value);
            self.several = Some(weights);
        } else {
            self.only = Some(value);
        }
    }

    /// Whether problem details win over `pinned` (see
    /// `Weights::prefers_problem`).
    pub(crate) fn prefers_problem(&self, pinned: Dialect) -> bool {
        match (&self.several, self.only) {
            (Some(weights), _) => weights.prefers_problem(pinned),
            (None, Some(value)) if names_problem(value.as_bytes()) => {
                let mut weights = Weights::default();
                weights.read(value);
                weights.prefers_problem(pinned)
            }
            _ => false,
        }
    }
}

/// A request's `Transfer-Encoding` codings, counted as its values are read.
#[derive(Clone, Copy, Default)]
pub(crate) struct TransferEncoding {
    /// How many codings the values name, `chunked` or not.
    codings: usize,
    /// Whether a coding is other than `chunked`, or a value unreadable.
    other: bool,
}

impl TransferEncoding {
    fn add(&mut self, value: &HeaderValue) {
        let Ok(text) = value.to_str() else {
            self.other = true;
            return;
        };
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            self.codings += 1;
            self.other |= !coding.eq_ignore_ascii_case("chunked");
        }
    }

    /// Whether the body may still wear a coding: the request names a
    /// transfer coding besides one `chunked`, the only one the HTTP server
    /// decodes. `false` without a `Transfer-Encoding`, or with `chunked`
    /// alone.
    pub(crate) fn undecoded(&self) -> bool {
        self.other || self.codings > 1
    }
}

/// A request's `Host` lines: whether there was one, and whether there were
/// more.
#[derive(Clone, Copy, Default)]
pub(crate) struct Host {
    seen: bool,
    several: bool,
}

impl Host {
    fn add(&mut self) {
        self.several |= self.seen;
        self.seen = true;
    }

    /// Whether the request has several `Host` lines, where RFC 9112
    /// (section 3.2) asks for one. What a value says is left to the server
    /// (hyper takes any), as is a request without one (HTTP/2 names the
    /// host in the URI).
    #[inline]
    pub(crate) fn several(&self) -> bool {
        self.several
    }
}

/// Whether `value` holds `problem+json`, in any case: a quick look for the
/// `+` that spares weighing a value that cannot pick problem details.
fn names_problem(value: &[u8]) -> bool {
    const BEFORE: &[u8] = b"problem";
    const AFTER: &[u8] = b"json";
    value.iter().enumerate().any(|(i, &b)| {
        b == b'+'
            && i >= BEFORE.len()
            && value[i - BEFORE.len()..i].eq_ignore_ascii_case(BEFORE)
            && value
                .get(i + 1..i + 1 + AFTER.len())
                .is_some_and(|after| after.eq_ignore_ascii_case(AFTER))
    })
}

/// The weights (in thousandths) an `Accept` list gives the ranges that
/// decide between problem details and JSON (or JSON:API's own type);
/// `None` when a range is not listed, or only with a malformed weight.
#[derive(Clone, Copy, Default)]
struct Weights {
    problem: Option<u16>,
    json: Option<u16>,
    json_api: Option<u16>,
    application: Option<u16>,
    any: Option<u16>,
}

impl Weights {
    /// Adds the ranges of one `Accept` value (several values are one list).
    fn read(&mut self, value: &HeaderValue) {
        // A byte past ASCII spoils only the range it is in, not the list.
        let value = String::from_utf8_lossy(value.as_bytes());
        for (media, params) in media_ranges(&value) {
            let slot = if media.eq_ignore_ascii_case("application/problem+json") {
                &mut self.problem
            } else if media.eq_ignore_ascii_case("application/json") {
                &mut self.json
            } else if media.eq_ignore_ascii_case(Dialect::Jsonapi.content_type()) {
                &mut self.json_api
            } else if media.eq_ignore_ascii_case("application/*") {
                &mut self.application
            } else if media == "*/*" {
                &mut self.any
            } else {
                continue;
            };
            if let Some(q) = range_weight(params) {
                *slot = Some(slot.map_or(q, |seen| seen.max(q)));
            }
        }
    }

    /// Whether `application/problem+json` is listed with a weight above 0
    /// and no lower than the `pinned` dialect's type, which the most
    /// specific of `application/json` (for `jsonapi`, the higher of it and
    /// `application/vnd.api+json`), `application/*` and `*/*` gives (RFC
    /// 9110, 12.5.1). A tie goes to problem details.
    fn prefers_problem(&self, pinned: Dialect) -> bool {
        let Some(problem) = self.problem else {
            return false;
        };
        let own = match pinned {
            Dialect::Jsonapi => self.json.max(self.json_api),
            _ => self.json,
        };
        let json = own.or(self.application).or(self.any).unwrap_or(0);
        problem > 0 && problem >= json
    }
}

/// The ranges of one `Accept` value: each one's media type (trimmed, in the
/// case the client wrote it) and its parameters.
fn media_ranges(value: &str) -> impl Iterator<Item = (&str, impl Iterator<Item = &str> + Clone)> {
    split_unquoted(value, ',').map(|range| {
        let mut params = split_unquoted(range, ';');
        (params.next().unwrap_or_default().trim(), params)
    })
}

/// Whether a range of media type `media` with `params` names the media
/// type `pin` (`Accept` as the version header): the same type and subtype,
/// in any case, and every parameter `pin` has but `q` among `params`, its
/// name in any case, its value the same once unquoted.
fn names_pin<'a>(
    pin: &HeaderValue,
    media: &str,
    params: impl Iterator<Item = &'a str> + Clone,
) -> bool {
    let Ok(pin) = pin.to_str() else {
        return false;
    };
    let mut wanted = split_unquoted(pin, ';');
    if !wanted
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case(media)
    {
        return false;
    }
    wanted.all(|want| {
        let (name, value) = param_pair(want);
        name.is_empty()
            || name.eq_ignore_ascii_case("q")
            || params
                .clone()
                .map(param_pair)
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
    })
}

/// A parameter's name and value (unquoted, escapes left as they are),
/// trimmed; an empty value when it has none.
fn param_pair(param: &str) -> (&str, &str) {
    let (name, value) = param.split_once('=').unwrap_or((param, ""));
    let value = value.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    (name.trim(), unquoted)
}

/// The weight a range's `params` give it, in thousandths (1000 without a
/// `q`); `None` when the weight is malformed, which leaves the range out.
fn range_weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = Some(1000);
    for param in params {
        match param.trim().split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                q = q.and(weight(v.trim()));
            }
            // A `q` with no value is a malformed weight too.
            None if param.trim().eq_ignore_ascii_case("q") => q = None,
            _ => {}
        }
    }
    q
}

/// `text` split at each `separator` outside a quoted string (a parameter's
/// value may be one, `profile="a,b"`, with `\` escaping a character). A
/// quote anywhere else opens nothing: a stray one in a malformed range
/// does not swallow the ranges after it.
fn split_unquoted(text: &str, separator: char) -> impl Iterator<Item = &str> + Clone {
    let (mut quoted, mut escaped, mut after_equals) = (false, false, false);
    text.split(move |c: char| {
        let opens = after_equals;
        after_equals = c == '=' && !quoted;
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if quoted => quoted = false,
            '"' if opens => quoted = true,
            c => return c == separator && !quoted,
        }
        false
    })
}

/// A weight as RFC 9110 writes it (`0` to `1`, at most three decimals), in
/// thousandths; `None` for anything else (`NaN`, `2`, `1e3`), whose range
/// then counts as not listed.
fn weight(text: &str) -> Option<u16> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    if decimals.len() > 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = decimals
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n, b| n * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(fraction),
        "1" if fraction == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Negotiation {
        fn decide(&self, headers: &HeaderMap, path: &str) -> Dialect {
            self.dialects(&self.scan(headers), path, None).0
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn several_host_lines_are_seen() {
        let several = |lines: usize| {
            let mut host = Host::default();
            (0..lines).for_each(|_| host.add());
            host.several()
        };
        assert_eq!([0, 1, 2, 3].map(several), [false, false, true, true]);
    }

    #[test]
    fn only_a_value_naming_problem_details_is_weighed() {
        for (value, names) in [
            ("application/problem+json", true),
            ("APPLICATION/Problem+JSON;q=0.5", true),
            ("text/html,application/xhtml+xml,*/*;q=0.8", false),
            ("+json, problem+", false),
            ("application/problem+jso", false),
            ("", false),
        ] {
            assert_eq!(names_problem(value.as_bytes()), names, "{value:?}");
        }
    }

    #[test]
    fn accept_problem_wins_when_enabled() {
        let n = Negotiation::new(Dialect::Envelope);
        let cases = [
            ("application/problem+json", Dialect::Problem),
            (
                "text/html, Application/Problem+JSON;q=0.5",
                Dialect::Problem,
            ),
            ("application/problem+json;q=0", Dialect::Envelope),
            ("application/problem+json;q=0.000", Dialect::Envelope),
            ("application/problem+json; Q=1.000", Dialect::Problem),
            ("application/problem+json;q=0.001", Dialect::Problem),
            // Other parameters do not matter, even malformed ones.
            ("application/problem+json;", Dialect::Problem),
            ("application/problem+json; charset", Dialect::Problem),
            ("application/json", Dialect::Envelope),
        ];
        // Malformed weights leave their range out.
        for q in [
            "NaN", "inf", "2", "1e3", "1.5", "0.0001", "0.5001", "0.x", "-1", "",
        ] {
            let accept = format!("application/problem+json;q={q}");
            assert_eq!(
                n.decide(&headers(&[("accept", &accept)]), "/"),
                Dialect::Envelope,
                "{accept}"
            );
        }
        for (accept, want) in cases {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
        let mut accept = headers(&[]);
        accept.insert(
            "accept",
            HeaderValue::from_bytes(b"application/problem+json, text/x-\xc3\xa9, \xff/\xff")
                .unwrap(),
        );
        assert_eq!(n.decide(&accept, "/"), Dialect::Problem);
        let off = Negotiation {
            problem_on_accept: false,
            ..n
        };
        assert_eq!(
            off.decide(&headers(&[("accept", "application/problem+json")]), "/"),
            Dialect::Envelope
        );
    }

    #[test]
    fn problem_needs_a_weight_no_lower_than_jsons() {
        use Dialect::{Envelope, Problem};
        let n = Negotiation::new(Envelope);
        let cases = [
            // No JSON range competes: any weight above 0 will do.
            ("text/html, application/problem+json;q=0.1", Problem),
            ("text/*, application/problem+json;q=0.1", Problem),
            ("application/xml, application/problem+json;q=0.1", Problem),
            // JSON rated higher wins; a tie goes to problem.
            ("application/json, application/problem+json;q=0.1", Envelope),
            ("application/problem+json;q=0.1, application/json", Envelope),
            (
                "application/json;q=0.5, application/problem+json;q=0.5",
                Problem,
            ),
            (
                "application/json;q=0.5, application/problem+json;q=0.50",
                Problem,
            ),
            (
                "application/json;q=0.4, application/problem+json;q=0.5",
                Problem,
            ),
            (
                "application/json;q=0.501, application/problem+json;q=0.5",
                Envelope,
            ),
            ("application/json, application/problem+json", Problem),
            (
                "application/json;charset=utf-8, application/problem+json;q=0.9",
                Envelope,
            ),
            (
                "Application/JSON;Q=0.3, application/problem+json;q=0.2",
                Envelope,
            ),
            // Wildcards stand for JSON when it is not listed itself.
            ("*/*, application/problem+json;q=0.9", Envelope),
            ("application/*, application/problem+json;q=0.9", Envelope),
            ("*/*;q=0.8, application/problem+json;q=0.8", Problem),
            (
                "application/*;q=0.8, application/problem+json;q=0.9",
                Problem,
            ),
            ("*/*;q=0.1, application/problem+json;q=0.2", Problem),
            // The most specific range gives JSON its weight (RFC 9110 12.5.1).
            (
                "application/json;q=0.1, */*, application/problem+json;q=0.5",
                Problem,
            ),
            (
                "*/*, application/json;q=0, application/problem+json;q=0.1",
                Problem,
            ),
            (
                "application/*;q=0.2, */*, application/problem+json;q=0.5",
                Problem,
            ),
            (
                "application/*, */*;q=0.1, application/problem+json;q=0.5",
                Envelope,
            ),
            // A range with a malformed weight is left out.
            (
                "application/json;q=2, application/problem+json;q=0.5",
                Problem,
            ),
            ("application/json, application/problem+json;q=2", Envelope),
            ("application/json, application/problem+json;q", Envelope),
            (
                "application/json, application/problem+json; Q ;x=1",
                Envelope,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
        // Several `Accept` lines are one list.
        for lines in [
            ["application/json", "application/problem+json;q=0.1"],
            ["application/problem+json;q=0.1", "application/json"],
        ] {
            let mut h = HeaderMap::new();
            for line in lines {
                h.append(ACCEPT, HeaderValue::from_static(line));
            }
            assert_eq!(n.decide(&h, "/"), Envelope, "{lines:?}");
        }
        // JSON:API's own type competes with problem details where errors
        // are JSON:API; elsewhere it does not.
        let json_api = Negotiation::new(Dialect::Jsonapi);
        for (accept, want) in [
            (
                "application/vnd.api+json, application/problem+json;q=0.9",
                Dialect::Jsonapi,
            ),
            (
                "application/vnd.api+json;q=0.5, application/problem+json;q=0.9",
                Problem,
            ),
            (
                "application/json, application/problem+json;q=0.9",
                Dialect::Jsonapi,
            ),
            (
                "application/vnd.api+json;q=0.1, application/json, application/problem+json;q=0.9",
                Dialect::Jsonapi,
            ),
            ("application/problem+json", Problem),
        ] {
            assert_eq!(
                json_api.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
        assert_eq!(
            n.decide(
                &headers(&[(
                    "accept",
                    "application/vnd.api+json, application/problem+json;q=0.9"
                )]),
                "/"
            ),
            Problem
        );
    }

    #[test]
    fn a_quoted_parameter_is_read_whole() {
        use Dialect::{Envelope, Problem};
        let n = Negotiation::new(Envelope);
        let cases = [
            // The `,` and `;` inside quotes separate nothing.
            (
                r#"application/json;profile="a,b";q=0.1, application/problem+json;q=0.5"#,
                Problem,
            ),
            (
                r#"application/json;profile="x;q=0.1", application/problem+json;q=0.5"#,
                Envelope,
            ),
            (
                r#"text/html;a="\\",application/json;q=0.1,application/problem+json;q=0.5"#,
                Problem,
            ),
            (
                r#"application/json;q=0.1;ext="q\"=1,", application/problem+json;q=0.5"#,
                Problem,
            ),
            (
                r#"application/json;ext="a\",b";q=0.1, application/problem+json;q=0.5"#,
                Problem,
            ),
            // A `\` outside quotes escapes nothing.
            (
                r#"text/html\, application/problem+json;q=0.5, application/json;q=0.1"#,
                Problem,
            ),
            // A quote that opens no parameter value is a character like any.
            (
                r#"text/x"y, application/json;q=0.1, application/problem+json;q=0.5"#,
                Problem,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
    }

    #[test]
    fn versions_by_header_then_prefix() {
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(HeaderName::from_static("x-api-version"));
        n.versions
            .push((HeaderValue::from_static("1"), Dialect::Flat));
        n.prefixes.push(("/v1/".to_owned(), Dialect::Flat));
        assert_eq!(
            n.decide(&headers(&[("x-api-version", "1")]), "/v2/scans"),
            Dialect::Flat
        );
        assert_eq!(
            n.decide(&headers(&[("x-api-version", "2")]), "/v2/scans"),
            Dialect::Envelope
        );
        assert_eq!(n.decide(&HeaderMap::new(), "/v1/scans"), Dialect::Flat);
        assert_eq!(n.decide(&HeaderMap::new(), "/v1"), Dialect::Flat);
        assert_eq!(n.decide(&HeaderMap::new(), "/v10/scans"), Dialect::Envelope);
    }

    #[test]
    fn a_path_pin_skips_empty_segments() {
        // `https://api.example.com/` + `/v1/scans` is `//v1/scans`: a
        // client of v1 all the same, whose path a normalizing layer (or a
        // proxy) routes to `/v1/scans`.
        let mut n = Negotiation::new(Dialect::Envelope);
        n.prefixes.push(("/v1".to_owned(), Dialect::Flat));
        n.prefixes.push(("/api/v2/".to_owned(), Dialect::Coded));
        for (path, want) in [
            ("//v1/scans", Dialect::Flat),
            ("/v1//scans", Dialect::Flat),
            ("///v1", Dialect::Flat),
            ("/api//v2/scans", Dialect::Coded),
            ("//v10/scans", Dialect::Envelope),
            ("//api/v20", Dialect::Envelope),
            ("//", Dialect::Envelope),
        ] {
            assert_eq!(n.decide(&HeaderMap::new(), path), want, "{path}");
        }
    }

    #[test]
    fn accept_can_be_the_version_header() {
        // Media-type versioning: `Accept: application/vnd.scans.v1+json`.
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(ACCEPT);
        n.versions.push((
            HeaderValue::from_static("application/vnd.scans.v1+json"),
            Dialect::Flat,
        ));
        let v1 = headers(&[("accept", "application/vnd.scans.v1+json")]);
        for problem_on_accept in [true, false] {
            n.problem_on_accept = problem_on_accept;
            assert_eq!(n.decide(&v1, "/"), Dialect::Flat, "{problem_on_accept}");
            let vary = n.vary(true, |a, b| a != b).map(|v| v.to_str().unwrap());
            assert_eq!(vary, Some("accept"), "named once");
        }
        n.problem_on_accept = true;
        let problem = headers(&[("accept", "application/problem+json")]);
        assert_eq!(n.decide(&problem, "/"), Dialect::Problem);
    }

    #[test]
    fn a_media_type_version_matches_by_type_and_subtype() {
        use Dialect::{Coded, Envelope, Flat, Problem};
        let mut n = Negotiation::new(Envelope);
        n.version_header = Some(ACCEPT);
        n.versions.push((
            HeaderValue::from_static("application/vnd.scans.v1+json"),
            Flat,
        ));
        n.versions.push((
            HeaderValue::from_static("application/vnd.scans.v2+json"),
            Coded,
        ));
        let cases = [
            // Parameters other than `q` do not matter; case does not either.
            ("application/vnd.scans.v1+json; charset=utf-8", Flat),
            ("Application/VND.Scans.V1+JSON", Flat),
            ("  application/vnd.scans.v1+json ;q=0.5", Flat),
            ("application/vnd.scans.v1+json, */*;q=0.1", Flat),
            ("text/html, application/vnd.scans.v1+json;q=0.9", Flat),
            (r#"application/vnd.scans.v1+json;profile="a,b""#, Flat),
            // `q=0` is "not acceptable"; a malformed weight leaves the range out.
            ("application/vnd.scans.v1+json;q=0", Envelope),
            ("application/vnd.scans.v1+json;q=0.000", Envelope),
            ("application/vnd.scans.v1+json;q=2", Envelope),
            ("application/vnd.scans.v1+json;q", Envelope),
            (
                "application/vnd.scans.v1+json;q=0, application/vnd.scans.v2+json",
                Coded,
            ),
            // The highest weight wins; a tie goes to the first listed.
            (
                "application/vnd.scans.v1+json;q=0.5, application/vnd.scans.v2+json",
                Coded,
            ),
            (
                "application/vnd.scans.v2+json;q=0.4, application/vnd.scans.v1+json;q=0.5",
                Flat,
            ),
            (
                "application/vnd.scans.v2+json, application/vnd.scans.v1+json",
                Coded,
            ),
            (
                "application/vnd.scans.v1+json, application/vnd.scans.v2+json",
                Flat,
            ),
            // Only the media type itself: no prefix, no wildcard, no parameter.
            ("application/vnd.scans.v1+json2", Envelope),
            ("application/vnd.scans.v1", Envelope),
            ("application/*, */*", Envelope),
            (
                "application/json; v=application/vnd.scans.v1+json",
                Envelope,
            ),
            ("", Envelope),
        ];
        for (accept, want) in cases {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
        // Every `Accept` line counts; ties go to the first line.
        for (lines, want) in [
            (["application/json", "application/vnd.scans.v1+json"], Flat),
            (
                [
                    "application/vnd.scans.v2+json",
                    "application/vnd.scans.v1+json",
                ],
                Coded,
            ),
            (
                [
                    "application/vnd.scans.v2+json;q=0.1",
                    "application/vnd.scans.v1+json",
                ],
                Flat,
            ),
            (["application/vnd.scans.v1+json;q=0", "text/html"], Envelope),
        ] {
            let mut h = HeaderMap::new();
            for line in lines {
                h.append(ACCEPT, HeaderValue::from_static(line));
            }
            assert_eq!(n.decide(&h, "/"), want, "{lines:?}");
        }
        // A byte past ASCII spoils only its own range.
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT,
            HeaderValue::from_bytes(b"text/x-\xff, application/vnd.scans.v1+json").unwrap(),
        );
        assert_eq!(n.decide(&h, "/"), Flat);
        // Problem details still win over a version when rated high enough.
        let both = headers(&[(
            "accept",
            "application/vnd.scans.v1+json, application/problem+json",
        )]);
        assert_eq!(n.dialects(&n.scan(&both), "/", None), (Problem, Flat));
    }

    #[test]
    fn a_media_type_pin_with_parameters_needs_them() {
        use Dialect::{Coded, Envelope, Flat};
        let mut n = Negotiation::new(Envelope);
        n.version_header = Some(ACCEPT);
        for (pin, dialect) in [
            ("application/vnd.scans+json; version=1", Flat),
            ("application/vnd.scans+json;version=2", Coded),
        ] {
            n.versions.push((HeaderValue::from_static(pin), dialect));
        }
        for (accept, want) in [
            ("application/vnd.scans+json; version=1", Flat),
            (
                r#"application/vnd.scans+json;charset=utf-8;Version="1""#,
                Flat,
            ),
            ("Application/Vnd.Scans+JSON ; version=2, */*;q=0.1", Coded),
            ("application/vnd.scans+json", Envelope),
            ("application/vnd.scans+json; version=3", Envelope),
            ("application/vnd.scans+json; version=10", Envelope),
            ("application/vnd.scans+json; version=1; q=0", Envelope),
            ("application/json; version=1", Envelope),
        ] {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
    }

    #[test]
    fn the_weight_written_in_a_pin_asks_nothing_of_the_accept_range() {
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(ACCEPT);
        n.versions.push((
            HeaderValue::from_static("application/vnd.scans.v1+json;q=0.5;"),
            Dialect::Flat,
        ));
        for (accept, want) in [
            ("application/vnd.scans.v1+json", Dialect::Flat),
            ("application/vnd.scans.v1+json;q=0.9", Dialect::Flat),
            ("application/vnd.scans.v2+json;q=0.5", Dialect::Envelope),
        ] {
            assert_eq!(
                n.decide(&headers(&[("accept", accept)]), "/"),
                want,
                "{accept}"
            );
        }
    }

    #[test]
    fn another_version_header_matches_its_value_exactly() {
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(HeaderName::from_static("x-api-version"));
        n.versions
            .push((HeaderValue::from_static("2024-01-01"), Dialect::Flat));
        for (value, want) in [
            ("2024-01-01", Dialect::Flat),
            (" 2024-01-01 ", Dialect::Flat),
            ("2024-01-01; q=1", Dialect::Envelope),
            ("2024-01-01, 2025-01-01", Dialect::Envelope),
            ("2024-01-0", Dialect::Envelope),
        ] {
            let h = headers(&[("x-api-version", value)]);
            assert_eq!(n.decide(&h, "/"), want, "{value:?}");
        }
        // Only the first line is the version.
        let mut h = HeaderMap::new();
        h.append("x-api-version", HeaderValue::from_static("2025-01-01"));
        h.append("x-api-version", HeaderValue::from_static("2024-01-01"));
        assert_eq!(n.decide(&h, "/"), Dialect::Envelope);
    }

    #[test]
    fn one_pass_finds_what_the_lookups_would() {
        let mut n = Negotiation::new(Dialect::Envelope);
        n.version_header = Some(HeaderName::from_static("x-api-version"));
        let mut h = HeaderMap::new();
        h.append("x-request-id", HeaderValue::from_static("first"));
        h.append("x-request-id", HeaderValue::from_static("second"));
        h.append("accept", HeaderValue::from_static("application/json"));
        h.append("content-length", HeaderValue::from_static("12"));
        h.append("x-api-version", HeaderValue::from_static("1"));
        h.append("host", HeaderValue::from_static("a.example"));
        h.append(
            "accept",
            HeaderValue::from_static("application/problem+json"),
        );
        let scanned = n.scan(&h);
        assert!(!scanned.host.several());
        // Several id lines are one list, `first, second`: no id.
        assert_eq!(scanned.request_id, None);
        assert_eq!(scanned.content_length, h.get("content-length"));
        assert_eq!(scanned.version, h.get("x-api-version"));
        // Any `Accept` value counts, not only the first.
        assert!(scanned.accept.prefers_problem(Dialect::Envelope));
        assert_eq!(n.dialects(&scanned, "/", None).0, Dialect::Problem);
        h.append("x-request-id", HeaderValue::from_static("third"));
        assert_eq!(n.scan(&h).request_id, None);
        h.append("host", HeaderValue::from_static("a.example"));
        assert!(n.scan(&h).host.several());
        assert!(!n.scan(&h).several_content_types);
        h.append("content-type", HeaderValue::from_static("application/json"));
        assert!(!n.scan(&h).several_content_types);
        h.append("content-type", HeaderValue::from_static("application/json"));
        assert!(n.scan(&h).several_content_types);
        h.insert("x-request-id", HeaderValue::from_static("only"));
        assert_eq!(n.scan(&h).request_id, h.get("x-request-id"));
    }

    #[test]
    fn vary_names_the_headers_that_can_change_the_outcome() {
        let differ = |a: Dialect, b: Dialect| a != b;
        let envelope =
            |a: Dialect, b: Dialect| (a == Dialect::Envelope) != (b == Dialect::Envelope);
        let text = |v: Option<&'static HeaderValue>| v.map(|v| v.to_str().unwrap());

        // Every request gets `problem`.
        let n = Negotiation::new(Dialect::Problem);
        assert_eq!(text(n.vary(true, differ)), None);
        // `Accept` picks `problem` over `flat`, for errors; a success body's
        // shape never follows `Accept`.
        let n = Negotiation::new(Dialect::Flat);
        assert_eq!(text(n.vary(true, differ)), Some("accept"));
        assert_eq!(text(n.vary(false, envelope)), None);
        let off = Negotiation {
            problem_on_accept: false,
            ..n
        };
        assert_eq!(text(off.vary(true, differ)), None);
        // A version pin that picks what the path would anyway changes nothing.
        let mut n = Negotiation::new(Dialect::Envelope);
        n.problem_on_accept = false;
        n.version_header = Some(HeaderName::from_static("x-api-version"));
        n.versions
            .push((HeaderValue::from_static("2"), Dialect::Envelope));
        assert_eq!(text(n.vary(true, differ)), None);
        n.versions
            .push((HeaderValue::from_static("1"), Dialect::Flat));
        assert_eq!(text(n.vary(true, differ)), Some("x-api-version"));
        n.problem_on_accept = true;
        assert_eq!(text(n.vary(true, envelope)), Some("accept, x-api-version"));
        assert_eq!(text(n.vary(false, envelope)), Some("x-api-version"));
        // One copy of each value.
        assert!(std::ptr::eq(
            n.vary(true, differ).unwrap(),
            n.vary(true, envelope).unwrap()
        ));
    }
}
