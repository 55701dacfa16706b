//! What every error response must get right, checked on what the probe got
//! back: one dialect, a catalog code in the body and `X-Error-Code`, the
//! catalog's status, the request id, the headers its status calls for, and
//! no internals.

use std::time::{Duration, SystemTime};

use http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, Method};
use tollgate::{Catalog, Decoded, Dialect, headers::X_ERROR_CODE, headers::X_REQUEST_ID};

use super::client::Answer;
use super::leaks;
use crate::wire::clipped;

/// A check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The response does what it should.
    Pass,
    /// It does not.
    Fail,
    /// The check could not be made (the reason says why).
    Skip,
}

impl Verdict {
    /// `pass`, `fail`, `skip`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// The check's name: `allow`, `request-id`, `leaks`, …
    pub(crate) check: &'static str,
    /// The request it was made on: `wrong method: PATCH /v1/scans`.
    pub(crate) request: String,
    /// The status answered, if a response came.
    pub(crate) status: Option<u16>,
    /// Its result.
    pub(crate) verdict: Verdict,
    /// Why, in a few words.
    pub(crate) reason: String,
}

impl Row {
    /// A row.
    pub(crate) fn new(
        check: &'static str,
        request: impl Into<String>,
        status: Option<u16>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Row {
        Row {
            check,
            request: request.into(),
            status,
            verdict,
            reason: reason.into(),
        }
    }
}

/// The statuses a request should get.
///
/// A 429 is never held against a request that does not expect one: it
/// says the rate limit was spent, not that the API got the request wrong.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expect {
    /// Any of these; empty for any status at all.
    pub(crate) statuses: Vec<u16>,
    /// What a success (below 400) means when set; unset, it fails as unexpected.
    pub(crate) if_accepted: Option<Accepted>,
    /// When set, another 4xx is a skip for this reason (the request may have
    /// been refused for a reason it does not test); unset, it fails.
    pub(crate) if_refused: Option<String>,
    /// Whether the request went without a key to test something else: a
    /// route needing a key may refuse it for that (401 or 403) before it
    /// looks at what the request tests, so such a refusal is a skip.
    pub(crate) keyless: bool,
    /// Whether the request carried `--key` to test something else: a 401
    /// to it (or a 402 or 403 refusing the key's account or scope) says the
    /// key cannot be used, not that the API got the request wrong, so it is
    /// a skip ([`refused_key`] says so once, as a failure).
    pub(crate) keyed: bool,
}

/// What a success means for a request that should have been refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// A skip, for this reason: the success may be right.
    Skip(String),
    /// A failure, for this reason: the success is known to be wrong.
    Fail(String),
}

impl Expect {
    /// Any status will do.
    pub(crate) fn any() -> Expect {
        Expect::default()
    }

    /// One of `statuses`.
    pub(crate) fn one_of(statuses: &[u16]) -> Expect {
        Expect {
            statuses: statuses.to_vec(),
            ..Expect::default()
        }
    }
}

/// A request the probe sent and what came of it.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// What the request tries: `no key`, `wrong method`, …
    pub(crate) name: &'static str,
    /// Its method.
    pub(crate) method: Method,
    /// Its path.
    pub(crate) path: String,
    /// What it should get.
    pub(crate) expect: Expect,
    /// The answer, or why none came.
    pub(crate) outcome: Result<Answer, String>,
    /// Rows about the request as a whole (idempotency, rate limit), shown after its checks.
    pub(crate) notes: Vec<Row>,
    /// The wait asked by a 429 (its `Retry-After`) that was waited out
    /// before the request was sent again, if it was.
    pub(crate) waited: Option<Duration>,
}

impl Exchange {
    /// `no key: GET /v1/scans/tollgate-probe`.
    pub(crate) fn label(&self) -> String {
        format!("{}: {} {}", self.name, self.method, self.path)
    }

    /// The refusal of `--key` its answer shows, if any ([`key_refusal`]).
    pub(crate) fn key_refusal(&self, catalog: &Catalog) -> Option<KeyRefusal> {
        key_refusal(catalog, &self.expect, self.outcome.as_ref().ok()?)
    }

    /// The status answered, if any.
    pub(crate) fn status(&self) -> Option<u16> {
        self.outcome.as_ref().ok().map(|a| a.status)
    }

    /// `redirected (301) to https://…` when the answer is a redirect (which
    /// the probe does not follow), with where to when it says so.
    pub(crate) fn redirected(&self) -> Option<String> {
        let answer = self
            .outcome
            .as_ref()
            .ok()
            .filter(|a| (300..400).contains(&a.status) && a.status != 304)?;
        let status = answer.status;
        Some(match header(&answer.headers, &LOCATION) {
            Some(to) => format!(
                "redirected ({status}) to {}",
                clipped(&tollgate::redact_url(to))
            ),
            None => format!("redirected ({status}), with no Location"),
        })
    }

    /// Why the answer proves nothing when it is a 429: the rate limit was
    /// spent, and for how long it asks to wait.
    pub(crate) fn rate_limited(&self) -> Option<String> {
        let answer = self.outcome.as_ref().ok().filter(|a| a.status == 429)?;
        let asked = retry_after(&answer.headers);
        Some(match (self.waited, asked) {
            (Some(waited), _) => format!(
                "rate-limited again after waiting the {} it asked for; probe again once the \
                 limit has refilled",
                seconds(waited)
            ),
            (None, Some(wait)) => format!(
                "rate-limited: Retry-After asks for {}; probe again after that (waits of up to \
                 {} are waited out)",
                seconds(wait),
                seconds(MAX_WAIT)
            ),
            (None, None) => match answer.headers.contains_key(RETRY_AFTER) {
                true => {
                    "rate-limited, with a Retry-After that is no delay; probe again once the \
                         limit has refilled"
                }
                false => {
                    "rate-limited, with no Retry-After to say for how long; probe again \
                          once the limit has refilled"
                }
            }
            .to_owned(),
        })
    }
}

/// The longest wait a 429's `Retry-After` may ask for to be waited out
/// (and the request sent once more) rather than the check skipped.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);

/// The delay `Retry-After` asks for, if it has one; an HTTP date is
/// measured from the response's `Date`, as a client reads it.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    tollgate::parse_retry_after(header(headers, &RETRY_AFTER)?, sent_at(headers))
}

/// When the response was sent: its `Date`, else now.
pub(crate) fn sent_at(headers: &HeaderMap) -> SystemTime {
    tollgate::headers::sent_at(headers).unwrap_or_else(SystemTime::now)
}

/// `30s`, `1m 5s`, `30days`: whole seconds, rounded up (saturating).
fn seconds(wait: Duration) -> String {
    let whole = tollgate::retry_after_secs(wait);
    humantime::format_duration(Duration::from_secs(whole)).to_string()
}

/// One entry of the probe: an exchange, or a row about something not sent.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A request and its answer (boxed: an exchange is several times a row).
    Exchange(Box<Exchange>),
    /// A row on its own (a probe skipped, how routes were found).
    Row(Row),
}

impl Entry {
    /// An exchange's entry.
    pub(crate) fn exchange(exchange: Exchange) -> Entry {
        Entry::Exchange(Box::new(exchange))
    }
}

/// The dialect the API answers in: `want` when given, else the one most
/// error bodies are written in as the catalog says (the first seen on a
/// tie): a body in the dialect its entry is [sent in](tollgate::ErrorDef::sent_in)
/// counts for the dialects it is sent in that from too.
pub(crate) fn consistent_dialect(
    catalog: &Catalog,
    entries: &[Entry],
    want: Option<Dialect>,
) -> Option<Dialect> {
    if want.is_some() {
        return want;
    }
    let mut counts: Vec<(Dialect, usize)> = Vec::new();
    for answer in errors(entries) {
        let body = body_only(catalog, answer);
        let Ok(found) = body.dialect.parse::<Dialect>() else {
            continue;
        };
        let def = body.code.as_deref().and_then(|c| catalog.find_wire_code(c));
        let from = def.into_iter().flat_map(|def| {
            let sent_in = def.sent_in_dialects().iter();
            sent_in
                .filter(|&(_, &to)| to == found)
                .map(|(&from, _)| from)
        });
        for dialect in std::iter::once(found).chain(from) {
            match counts.iter_mut().find(|(d, _)| *d == dialect) {
                Some((_, n)) => *n += 1,
                None => counts.push((dialect, 1)),
            }
        }
    }
    let most = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == most).map(|(d, _)| d)
}

fn errors(entries: &[Entry]) -> impl Iterator<Item = &Answer> {
    entries.iter().filter_map(|entry| match entry {
        Entry::Exchange(ex) => ex.outcome.as_ref().ok().filter(|a| a.status >= 400),
        Entry::Row(_) => None,
    })
}

/// The body read alone: its dialect, and the code and request id it carries itself.
fn body_only(catalog: &Catalog, answer: &Answer) -> Decoded {
    catalog.decode(
        answer.status,
        &HeaderMap::new(),
        &answer.body,
        SystemTime::now(),
    )
}

/// Every row: each entry's checks in order.
pub(crate) fn evaluate(catalog: &Catalog, entries: &[Entry], want: Option<Dialect>) -> Vec<Row> {
    let dialect = consistent_dialect(catalog, entries, want);
    let mut rows = Vec::new();
    for entry in entries {
        match entry {
            Entry::Row(row) => rows.push(row.clone()),
            Entry::Exchange(ex) => {
                check_exchange(catalog, ex, dialect, want.is_some(), &mut rows);
                rows.extend(ex.notes.iter().cloned());
            }
        }
    }
    rows
}

fn check_exchange(
    catalog: &Catalog,
    ex: &Exchange,
    dialect: Option<Dialect>,
    dialect_given: bool,
    rows: &mut Vec<Row>,
) {
    let request = ex.label();
    let answer = match &ex.outcome {
        Ok(answer) => answer,
        Err(why) => {
            rows.push(Row::new(
                "answer",
                request,
                None,
                Verdict::Fail,
                why.clone(),
            ));
            return;
        }
    };
    let status = answer.status;
    let row =
        |check, verdict, reason: String| Row::new(check, &request, Some(status), verdict, reason);
    if let Some(expected) = expected_status(catalog, ex, answer) {
        rows.push(row("expected-status", expected.0, expected.1));
    }
    if status < 400 {
        return;
    }
    let headers = &answer.headers;
    let body = body_only(catalog, answer);
    let full = catalog.decode(status, headers, &answer.body, sent_at(headers));

    let content_type = header(headers, &CONTENT_TYPE);
    let json = content_type.is_some_and(tollgate::headers::is_json_media);

    // One dialect for every error, in a body that parses: the decoder reads
    // one cut short or trailed by other text as far as it goes, which no
    // client's JSON parser does.
    // Parsed once, for this and for the strings the leak check reads.
    let parsed = serde_json::from_slice::<serde_json::Value>(&answer.body);
    let found = body.dialect.parse::<Dialect>();
    let unparsed = match &parsed {
        Err(e) if (json || found.is_ok()) && answer.cut.is_none() && !answer.body.is_empty() => {
            Some(not_json(answer, e))
        }
        _ => None,
    };
    // A code in the catalog, mirrored in X-Error-Code.
    let def = full.code.as_deref().and_then(|c| catalog.find_wire_code(c));
    // An entry sent in another dialect than the API's is expected in that.
    let dialect = dialect.map(|d| def.map_or(d, |def| def.dialect_in(d)));
    let (verdict, reason) = match (found, dialect) {
        _ if unparsed.is_some() => (Verdict::Fail, unparsed.unwrap_or_default()),
        (Err(_), _) => (Verdict::Fail, not_an_envelope(&body, answer)),
        (Ok(found), Some(expected)) if found != expected => {
            let why = if dialect_given {
                "(--dialect)"
            } else {
                "(the dialect most errors use)"
            };
            (Verdict::Fail, format!("{found}, expected {expected} {why}"))
        }
        (Ok(found), _) => (Verdict::Pass, found.to_string()),
    };
    rows.push(row("dialect", verdict, reason));

    rows.push(match (json, content_type) {
        (true, Some(ct)) => row("content-type", Verdict::Pass, clipped(ct).into_owned()),
        (false, Some(ct)) => row(
            "content-type",
            Verdict::Fail,
            format!("{}, not JSON", clipped(ct)),
        ),
        (_, None) => row(
            "content-type",
            Verdict::Fail,
            no_header(headers, &CONTENT_TYPE),
        ),
    });

    // The spelling the body's dialect gives the entry (its alias there),
    // when the body carries the code: another case, or another dialect's
    // alias, is a code the error reference does not show.
    let spelled = match (body.code.as_deref(), def, body.dialect.parse::<Dialect>()) {
        (Some(code), Some(def), Ok(d)) if def.wire_code(d) != code => {
            Some((code.to_owned(), def.wire_code(d).into_owned(), d))
        }
        _ => None,
    };
    rows.push(match (&full.code, def, spelled) {
        (_, _, Some((code, wire, d))) => row(
            "code",
            Verdict::Fail,
            format!(
                "{:?} is not how the {d} dialect spells it: {wire}, as the error reference shows",
                clipped(&code)
            ),
        ),
        (Some(code), Some(def), None) if def.code() == code => {
            row("code", Verdict::Pass, code.clone())
        }
        (Some(code), Some(def), None) => row(
            "code",
            Verdict::Pass,
            format!("{} ({})", clipped(code), def.code()),
        ),
        (Some(code), None, None) => row(
            "code",
            Verdict::Fail,
            format!("{:?} is not a code of the catalog", clipped(code)),
        ),
        (None, _, None) => row(
            "code",
            Verdict::Fail,
            "no error code in the body or X-Error-Code".into(),
        ),
    });
    let header_code = header(headers, &X_ERROR_CODE);
    rows.push(match (header_code, &body.code) {
        (None, _) => row(
            "x-error-code",
            Verdict::Fail,
            no_header(headers, &X_ERROR_CODE),
        ),
        (Some(h), Some(b)) if !same_code(catalog, h, b) => row(
            "x-error-code",
            Verdict::Fail,
            format!(
                "X-Error-Code is {} but the body says {}",
                clipped(h),
                clipped(b)
            ),
        ),
        (Some(h), _) => row("x-error-code", Verdict::Pass, clipped(h).into_owned()),
    });
    rows.push(match def {
        Some(def) if def.status() == status => row(
            "catalog-status",
            Verdict::Pass,
            format!("{} is {status}", def.code()),
        ),
        Some(def) => row(
            "catalog-status",
            Verdict::Fail,
            format!(
                "{} is {} in the catalog, answered {status}",
                def.code(),
                def.status()
            ),
        ),
        None => row(
            "catalog-status",
            Verdict::Skip,
            "no catalog code to compare".into(),
        ),
    });

    // The status the body states (`status`, google's `error.code`, …),
    // read without the response's: it must be the response's.
    let stated = catalog.decode(0, &HeaderMap::new(), &answer.body, SystemTime::now());
    if stated.status != 0 && stated.status != status {
        rows.push(row(
            "body-status",
            Verdict::Fail,
            format!("the body says {}, the response is {status}", stated.status),
        ));
    }
    // The wait the body asks for (`retry_after`), next to Retry-After's.
    if let (Some(in_body), Some(in_header)) = (body.retry_after, retry_after(headers)) {
        let (a, b) = (
            tollgate::retry_after_secs(in_body),
            tollgate::retry_after_secs(in_header),
        );
        if a.abs_diff(b) > 1 {
            rows.push(row(
                "retry-after",
                Verdict::Fail,
                format!("Retry-After asks for {b} s, the body's retry hint for {a} s"),
            ));
        }
    }

    // The request id: always in the header, the same in the body where the
    // body's dialect has a place for it.
    let has_place = body
        .dialect
        .parse::<Dialect>()
        .is_ok_and(body_has_request_id);
    // A trace id the body carries (ASP.NET Core's `traceId`) is the request
    // id only where nothing else names one: no body request id to compare.
    let trace_id = body.details.get("traceId").and_then(|t| t.as_str());
    let body_id = body
        .request_id
        .as_ref()
        .filter(|id| Some(id.as_str()) != trace_id);
    rows.push(match (header(headers, &X_REQUEST_ID), body_id) {
        (None, _) => row(
            "request-id",
            Verdict::Fail,
            no_header(headers, &X_REQUEST_ID),
        ),
        (Some(h), Some(b)) if h != b => row(
            "request-id",
            Verdict::Fail,
            format!(
                "the body says {:?}, X-Request-Id says {:?}",
                clipped(b),
                clipped(h)
            ),
        ),
        (Some(h), Some(_)) => row(
            "request-id",
            Verdict::Pass,
            format!("{} in the header and body", clipped(h)),
        ),
        (Some(_), None) if has_place => row(
            "request-id",
            Verdict::Fail,
            format!(
                "no request id in the body ({} has a place for it)",
                body.dialect
            ),
        ),
        (Some(h), None) => row(
            "request-id",
            Verdict::Pass,
            format!("{} (the body has no place for it)", clipped(h)),
        ),
    });

    // The headers the status calls for.
    let needs: &[(&'static str, &http::HeaderName)] = match status {
        401 => &[("www-authenticate", &WWW_AUTHENTICATE)],
        405 => &[("allow", &ALLOW)],
        429 | 503 => &[("retry-after", &RETRY_AFTER)],
        _ => &[],
    };
    for (check, name) in needs {
        let value = header(headers, name);
        // A 405's `Allow` must not list the method it refused.
        let allows_refused = *check == "allow"
            && value.is_some_and(|v| {
                v.split(',')
                    .any(|m| m.trim().eq_ignore_ascii_case(ex.method.as_str()))
            });
        let wrong_wait = match (*check, value) {
            ("retry-after", Some(v)) => retry_after_problem(v, sent_at(headers)),
            _ => None,
        };
        let ok = match (*check, value) {
            (_, None) => false,
            ("retry-after", Some(_)) => wrong_wait.is_none(),
            _ => !allows_refused,
        };
        let shown = http_name(name);
        rows.push(match (ok, value) {
            (true, Some(v)) => row(check, Verdict::Pass, format!("{shown}: {}", clipped(v))),
            (false, Some(v)) if allows_refused => row(
                check,
                Verdict::Fail,
                format!(
                    "{shown}: {} lists {}, the method refused",
                    clipped(v),
                    ex.method
                ),
            ),
            (false, Some(v)) => row(
                check,
                Verdict::Fail,
                format!(
                    "{shown}: {:?} {}",
                    clipped(v),
                    wrong_wait.as_deref().unwrap_or_default()
                ),
            ),
            (_, None) => row(check, Verdict::Fail, format!("{status} without {shown}")),
        });
    }

    // Nothing that belongs in the log.
    let mut texts = vec![String::from_utf8_lossy(&answer.body).into_owned()];
    // A JSON body's strings as they read, escapes undone: `\n\tat` is a
    // stack frame's line break only once decoded.
    if let Ok(json) = &parsed {
        json_strings(json, &mut texts);
    }
    texts.extend(
        headers.iter().map(|(name, value)| {
            format!("{}: {}", name, String::from_utf8_lossy(value.as_bytes()))
        }),
    );
    rows.push(match texts.iter().find_map(|t| leaks::find(t)) {
        Some(leak) => row(
            "leaks",
            Verdict::Fail,
            format!("shows {}: {}", leak.what, leak.found),
        ),
        None => row("leaks", Verdict::Pass, "no internals".into()),
    });
}

/// Every string in `json`, at any depth, pushed onto `out`.
fn json_strings(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| json_strings(item, out)),
        serde_json::Value::Object(members) => members
            .values()
            .for_each(|member| json_strings(member, out)),
        _ => {}
    }
}

/// Why `--key` cannot be used, as an answer to a request carrying it says:
/// the key refused (any 401), or a key the API knows but will not serve
/// (its account out of credits or suspended, a scope it lacks). Either
/// way the answer says nothing of what the request tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyRefusal {
    /// The status answered: 401, 402 or 403.
    status: u16,
    /// The code, as the catalog names it (else as the API spelled it).
    code: Option<String>,
    /// What is wrong: `the key was refused`, `the key's account is suspended`.
    what: String,
    /// What to pass instead: `a valid --key`.
    remedy: &'static str,
}

impl KeyRefusal {
    /// Why a check this refusal hides is skipped.
    pub(crate) fn skip_reason(&self) -> String {
        format!(
            "{} ({}); pass {} to check this",
            self.what, self.status, self.remedy
        )
    }

    /// Why the burst is not sent.
    pub(crate) fn burst_reason(&self) -> String {
        format!(
            "not sent: {} ({}), and its limit cannot be reached with it; pass {}",
            self.what, self.status, self.remedy
        )
    }
}

/// The refusal of `--key` that `answer` shows, if the request carried it
/// and was not testing for that status.
pub(crate) fn key_refusal(
    catalog: &Catalog,
    expect: &Expect,
    answer: &Answer,
) -> Option<KeyRefusal> {
    let status = answer.status;
    if !expect.keyed || expect.statuses.contains(&status) || !matches!(status, 401..=403) {
        return None;
    }
    let decoded = catalog.decode(
        status,
        &answer.headers,
        &answer.body,
        sent_at(&answer.headers),
    );
    let code = decoded.code.as_deref().map(|code| {
        catalog
            .find_wire_code(code)
            .map_or_else(|| code.to_owned(), |def| def.code().to_owned())
    });
    let (what, remedy) = match (status, code.as_deref()) {
        (401, _) => ("the key was refused".to_owned(), "a valid --key"),
        (402, Some("insufficient_credits")) => (
            "the key's account is out of credits".to_owned(),
            "the --key of an account with credits",
        ),
        (402, Some("account_suspended")) => (
            "the key's account is suspended".to_owned(),
            "the --key of an active account",
        ),
        (403, Some("insufficient_scope")) => {
            let scope = decoded
                .details
                .get("scope")
                .and_then(serde_json::Value::as_str);
            let what = match scope {
                Some(scope) => format!("the key lacks the scope {}", clipped(scope)),
                None => "the key lacks a scope the route needs".to_owned(),
            };
            (what, "a --key with that scope")
        }
        _ => return None,
    };
    Some(KeyRefusal {
        status,
        code,
        what,
        remedy,
    })
}

/// The `key` row, when an answer shows that `--key` cannot be used: one
/// failure that names why, for the first request refused so, rather than
/// each check it hides failing as if the API got the request wrong.
pub(crate) fn refused_key(catalog: &Catalog, entries: &[Entry]) -> Option<Row> {
    let (ex, refusal) = first_refusal(catalog, entries)?;
    let refused = match &refusal.code {
        Some(code) => format!("{} {}", refusal.status, clipped(code)),
        None => refusal.status.to_string(),
    };
    Some(Row::new(
        "key",
        ex.label(),
        Some(refusal.status),
        Verdict::Fail,
        format!(
            "{} ({refused}): pass {} (or TOLLGATE_API_KEY)",
            refusal.what, refusal.remedy
        ),
    ))
}

/// The first exchange whose answer shows that `--key` cannot be used, and why.
pub(crate) fn first_refusal<'e>(
    catalog: &Catalog,
    entries: &'e [Entry],
) -> Option<(&'e Exchange, KeyRefusal)> {
    entries.iter().find_map(|entry| match entry {
        Entry::Exchange(ex) => Some((&**ex, ex.key_refusal(catalog)?)),
        Entry::Row(_) => None,
    })
}

/// The `expected-status` row: verdict and reason, or none when any status will do.
fn expected_status(catalog: &Catalog, ex: &Exchange, answer: &Answer) -> Option<(Verdict, String)> {
    let wanted = &ex.expect.statuses;
    if wanted.is_empty() {
        return None;
    }
    let status = answer.status;
    let list = wanted
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    Some(if wanted.contains(&status) {
        let after = ex.waited.map_or_else(String::new, |waited| {
            format!(" (after a 429 and the {} it asked for)", seconds(waited))
        });
        (Verdict::Pass, format!("{status}, as expected{after}"))
    } else if let Some(why) = ex.rate_limited() {
        (Verdict::Skip, why)
    } else if ex.expect.keyless && matches!(status, 401 | 403) {
        (
            Verdict::Skip,
            format!("refused for the missing key ({status}); pass --key to check this"),
        )
    } else if let Some(refusal) = key_refusal(catalog, &ex.expect, answer) {
        (Verdict::Skip, refusal.skip_reason())
    } else if status < 400 {
        match &ex.expect.if_accepted {
            Some(Accepted::Skip(why)) => (Verdict::Skip, why.clone()),
            Some(Accepted::Fail(why)) => {
                let answered = ex
                    .redirected()
                    .unwrap_or_else(|| format!("answered {status}"));
                (Verdict::Fail, format!("{why}; {answered}, expected {list}"))
            }
            None => {
                let answered = ex
                    .redirected()
                    .unwrap_or_else(|| format!("accepted ({status})"));
                (Verdict::Fail, format!("{answered}; expected {list}"))
            }
        }
    } else {
        match &ex.expect.if_refused {
            Some(why) if status < 500 => (Verdict::Skip, why.clone()),
            _ => (Verdict::Fail, format!("expected {list}, got {status}")),
        }
    })
}

/// Why a body is no dialect's envelope, with a glimpse of it.
fn not_an_envelope(body: &Decoded, answer: &Answer) -> String {
    let why = shape_of(body, answer);
    match &answer.cut {
        Some(cut) => format!("{why} (the body {cut})"),
        None => why,
    }
}

/// The longest wait a `Retry-After` may sensibly ask for: a month's, for a
/// monthly quota; past it, no client that obeys comes back.
const LONGEST_SENSIBLE_WAIT: u64 = 31 * 24 * 3600;

/// What is wrong with a `Retry-After` value, if anything: it must be whole
/// seconds or an HTTP-date (RFC 9110, 10.2.3), and a wait no longer than a
/// month.
fn retry_after_problem(value: &str, now: std::time::SystemTime) -> Option<String> {
    // A date starts with its weekday; delay-seconds are digits alone.
    let numeric = value.starts_with(|c: char| c.is_ascii_digit());
    if numeric && !value.bytes().all(|b| b.is_ascii_digit()) {
        return Some("is not a whole number of seconds (RFC 9110's delay-seconds)".to_owned());
    }
    let Some(wait) = tollgate::parse_retry_after(value, now) else {
        return Some("is not a delay".to_owned());
    };
    (wait.as_secs() > LONGEST_SENSIBLE_WAIT).then(|| {
        format!(
            "asks for a wait of {} days: no client that obeys comes back (a month's, {} days, \
             is the longest a quota needs)",
            wait.as_secs() / 86_400,
            LONGEST_SENSIBLE_WAIT / 86_400
        )
    })
}

/// Why a body that is said to be JSON, or reads as a dialect's, does not
/// parse: the parser's reason and where, with a glimpse of it.
fn not_json(answer: &Answer, why: &serde_json::Error) -> String {
    format!("not valid JSON ({why}): {}", glimpse(&answer.body))
}

/// What a body that is no envelope is, with a glimpse of it.
fn shape_of(body: &Decoded, answer: &Answer) -> String {
    let shape = match body.dialect {
        "empty" => return "an empty body, not an error envelope".to_owned(),
        "text" => "a plain-text body",
        "html" => "an HTML body",
        other => {
            return format!(
                "a JSON body of no dialect ({other}): {}",
                glimpse(&answer.body)
            );
        }
    };
    format!("{shape}, not an error envelope: {}", glimpse(&answer.body))
}

/// The first 60 characters of a body, on one line, quoted.
fn glimpse(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(60)
        .collect();
    if text.chars().count() > 60 {
        format!("{:?}…", line.trim())
    } else {
        format!("{:?}", line.trim())
    }
}

/// Whether the dialect writes the request id in the body: `detail`,
/// `envelope`, `flat` and `stripe` have no place for it (Stripe sends it in
/// the `Request-Id` header only).
fn body_has_request_id(dialect: Dialect) -> bool {
    !matches!(
        dialect,
        Dialect::Detail | Dialect::Envelope | Dialect::Flat | Dialect::Stripe
    )
}

/// Whether two spellings name the same catalog entry (or are equal).
fn same_code(catalog: &Catalog, a: &str, b: &str) -> bool {
    match (catalog.find_wire_code(a), catalog.find_wire_code(b)) {
        (Some(x), Some(y)) => x.code() == y.code(),
        _ => a == b,
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why [`header`] found no `name`: there is none (or a blank one), or it is
/// not text.
fn no_header(headers: &HeaderMap, name: &http::HeaderName) -> String {
    match headers.get(name) {
        Some(value) if value.to_str().is_err() => format!(
            "{} is not valid text (bytes outside visible ASCII)",
            http_name(name)
        ),
        _ => format!("no {} header", http_name(name)),
    }
}

/// `WWW-Authenticate`, `Retry-After`, `Allow`.
fn http_name(name: &http::HeaderName) -> String {
    crate::wire::header_case(name.as_str())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;
    use tollgate::Context;

    use super::*;

    /// The skip reason of a check hidden by a 401 to `--key`.
    const KEY_REFUSED: &str = "the key was refused (401); pass a valid --key to check this";

    fn rendered(catalog: &Catalog, dialect: Dialect, code: &str) -> Answer {
        let mut err = catalog.error(code).unwrap();
        if code == "rate_limit_exceeded" {
            err = err.retry_after(Duration::from_secs(30));
        }
        if code == "invalid_key" {
            err = err.header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        answer_of(catalog, dialect, &err)
    }

    /// The answer a server in `dialect` sends for `err`.
    fn answer_of(catalog: &Catalog, dialect: Dialect, err: &tollgate::ApiError) -> Answer {
        let ctx = Context::new(SystemTime::now()).request_id("req_1");
        let response = catalog.renderer(dialect).response(err, &ctx);
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.body().clone(),
            cut: None,
            broken: false,
            body_sent: None,
        }
    }

    fn exchange(name: &'static str, answer: Answer) -> Entry {
        Entry::exchange(Exchange {
            name,
            method: Method::GET,
            path: "/x".into(),
            expect: Expect::one_of(&[answer.status]),
            outcome: Ok(answer),
            notes: Vec::new(),
            waited: None,
        })
    }

    /// Each `check` row's verdict and reason, in order.
    fn verdicts<'r>(rows: &'r [Row], check: &str) -> Vec<(Verdict, &'r str)> {
        rows.iter()
            .filter(|r| r.check == check)
            .map(|r| (r.verdict, r.reason.as_str()))
            .collect()
    }

    fn failures(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| format!("{} {}: {}", r.request, r.check, r.reason))
            .collect()
    }

    #[test]
    fn rendered_errors_pass_in_every_dialect() {
        let catalog = Catalog::builtin();
        for dialect in Dialect::ALL {
            let entries: Vec<Entry> = [
                "invalid_key",
                "not_found",
                "rate_limit_exceeded",
                "internal_error",
            ]
            .into_iter()
            .map(|code| exchange("e", rendered(&catalog, dialect, code)))
            .collect();
            let rows = evaluate(&catalog, &entries, None);
            assert_eq!(failures(&rows), Vec::<String>::new(), "{dialect}");
            assert!(
                rows.iter()
                    .any(|r| r.check == "www-authenticate" && r.verdict == Verdict::Pass)
            );
            assert!(
                rows.iter()
                    .any(|r| r.check == "retry-after" && r.verdict == Verdict::Pass)
            );
            assert_eq!(consistent_dialect(&catalog, &entries, None), Some(dialect));
        }
    }

    /// A body the decoder reads in part, cut short or trailed by other
    /// text, is no JSON a client parses; a `Retry-After` of a fraction or
    /// of years is no wait a client can keep.
    #[test]
    fn a_body_that_does_not_parse_or_a_wait_no_client_keeps_fails() {
        let catalog = Catalog::builtin();
        let mut cut = rendered(&catalog, Dialect::Problem, "not_found");
        cut.body.pop();
        let mut trailed = rendered(&catalog, Dialect::Coded, "not_found");
        trailed.body.extend_from_slice(b" and more");
        let rows = evaluate(
            &catalog,
            &[exchange("c", cut), exchange("t", trailed)],
            None,
        );
        let dialect_rows: Vec<_> = rows.iter().filter(|r| r.check == "dialect").collect();
        assert_eq!(dialect_rows.len(), 2);
        for row in dialect_rows {
            assert_eq!(row.verdict, Verdict::Fail, "{}", row.reason);
            assert!(row.reason.starts_with("not valid JSON ("), "{}", row.reason);
        }
        let wait = |value: &'static str| {
            let mut limited = rendered(&catalog, Dialect::Problem, "rate_limit_exceeded");
            limited
                .headers
                .insert(RETRY_AFTER, HeaderValue::from_static(value));
            let rows = evaluate(&catalog, &[exchange("l", limited)], None);
            // The header's own row (another compares it with the body's hint).
            let own = |r: &&Row| r.check == "retry-after" && r.reason.starts_with("Retry-After: ");
            let row = rows.iter().find(own).unwrap();
            (row.verdict, row.reason.clone())
        };
        let (verdict, reason) = wait("1.5");
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            reason.ends_with("\"1.5\" is not a whole number of seconds (RFC 9110's delay-seconds)"),
            "{reason}"
        );
        let (verdict, reason) = wait("999999999");
        assert_eq!(verdict, Verdict::Fail);
        assert!(reason.contains("asks for a wait of 11574 days"), "{reason}");
        assert_eq!(wait("2678400").0, Verdict::Pass, "a month's wait");
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT").0, Verdict::Pass);
    }

    #[test]
    fn the_servers_text_is_quoted_clipped() {
        let catalog = Catalog::builtin();
        let huge = "A".repeat(100_000);
        let value = |prefix: &str| HeaderValue::from_str(&format!("{prefix}{huge}")).unwrap();
        let body =
            format!(r#"{{"error":{{"code":"C{huge}","message":"m","request_id":"R{huge}"}}}}"#);
        let answer = |status| Answer {
            status,
            headers: HeaderMap::from_iter([
                (CONTENT_TYPE, value("application/json; x=")),
                (X_ERROR_CODE, value("E")),
                (X_REQUEST_ID, value("H")),
                (RETRY_AFTER, value("later ")),
            ]),
            body: body.clone().into_bytes(),
            cut: None,
            broken: false,
            body_sent: None,
        };
        let entries = [exchange("e", answer(404)), exchange("l", answer(429))];
        let rows = evaluate(&catalog, &entries, None);
        for row in &rows {
            assert!(
                row.reason.chars().count() < 300,
                "{}: {}…",
                row.check,
                &row.reason[..300]
            );
        }
        let reason = |check| &rows.iter().find(|r| r.check == check).unwrap().reason;
        assert!(reason("x-error-code").starts_with("X-Error-Code is EAAA"));
        assert!(reason("x-error-code").contains("…"));
        assert!(reason("retry-after").ends_with("…\" is not a delay"));
    }

    #[test]
    fn internals_in_a_json_string_are_found_as_they_read() {
        let catalog = Catalog::builtin();
        let mut answer = rendered(&catalog, Dialect::Problem, "internal_error");
        answer.body = br#"{"type":"about:blank","title":"Error","status":500,"trace":"IllegalStateException\n\tat com.acme.Api.handle(Native Method)"}"#.to_vec();
        let rows = evaluate(&catalog, &[exchange("json", answer)], None);
        assert_eq!(
            verdicts(&rows, "leaks"),
            [(
                Verdict::Fail,
                "shows a stack trace: IllegalStateException  at com.acme.Api.handle(Native Method)"
            )]
        );
    }

    #[test]
    fn each_fault_is_named() {
        let catalog = Catalog::builtin();
        let mut limited = rendered(&catalog, Dialect::Problem, "rate_limit_exceeded");
        limited.headers.remove(RETRY_AFTER);
        let mut unauthorized = rendered(&catalog, Dialect::Problem, "invalid_key");
        unauthorized.headers.remove(WWW_AUTHENTICATE);
        unauthorized
            .headers
            .insert(X_REQUEST_ID, HeaderValue::from_static("other"));
        let mut coded = rendered(&catalog, Dialect::Coded, "not_found");
        coded.headers.remove(X_ERROR_CODE);
        let text = Answer {
            status: 500,
            headers: HeaderMap::from_iter([(CONTENT_TYPE, HeaderValue::from_static("text/plain"))]),
            body: b"thread 'main' panicked at src/main.rs:10:5".to_vec(),
            cut: None,
            broken: false,
            body_sent: None,
        };
        let wrong_status = Answer {
            status: 400,
            ..rendered(&catalog, Dialect::Problem, "not_found")
        };
        let entries = vec![
            exchange("limited", limited),
            exchange("unauthorized", unauthorized),
            exchange("coded", coded),
            exchange("text", text),
            exchange("wrong status", wrong_status),
        ];
        let rows = evaluate(&catalog, &entries, None);
        let failed = failures(&rows);
        for expected in [
            "limited: GET /x retry-after: 429 without Retry-After",
            "unauthorized: GET /x www-authenticate: 401 without WWW-Authenticate",
            "unauthorized: GET /x request-id: the body says \"req_1\", X-Request-Id says \"other\"",
            "coded: GET /x dialect: coded, expected problem (the dialect most errors use)",
            "coded: GET /x x-error-code: no X-Error-Code header",
            "text: GET /x content-type: text/plain, not JSON",
            "text: GET /x code: no error code in the body or X-Error-Code",
            "text: GET /x request-id: no X-Request-Id header",
            "wrong status: GET /x catalog-status: not_found is 404 in the catalog, answered 400",
        ] {
            assert!(
                failed.iter().any(|f| f == expected),
                "{expected}\nnot in {failed:#?}"
            );
        }
        assert!(
            failed.iter().any(|f| f
                .starts_with("text: GET /x leaks: shows panic text: thread 'main' panicked at")),
            "{failed:#?}"
        );
        assert!(
            failed.iter().any(|f| f
                == "text: GET /x dialect: a plain-text body, not an error envelope: \"thread \
                    'main' panicked at src/main.rs:10:5\""),
            "{failed:#?}"
        );
        // --dialect overrides the majority.
        let rows = evaluate(&catalog, &entries, Some(Dialect::Coded));
        assert!(
            failures(&rows)
                .iter()
                .any(|f| f == "limited: GET /x dialect: problem, expected coded (--dialect)")
        );
    }

    #[test]
    fn the_dialect_most_errors_use_wins_and_a_tie_goes_to_the_first_seen() {
        let catalog = Catalog::builtin();
        let entries = [
            exchange("a", rendered(&catalog, Dialect::Coded, "not_found")),
            exchange("b", rendered(&catalog, Dialect::Problem, "not_found")),
        ];
        assert_eq!(
            consistent_dialect(&catalog, &entries, None),
            Some(Dialect::Coded)
        );
        let entries = [
            exchange("a", rendered(&catalog, Dialect::Coded, "not_found")),
            exchange("b", rendered(&catalog, Dialect::Problem, "not_found")),
            exchange("c", rendered(&catalog, Dialect::Problem, "invalid_key")),
        ];
        assert_eq!(
            consistent_dialect(&catalog, &entries, None),
            Some(Dialect::Problem)
        );
    }

    /// An API in `detail` most of whose errors are sent in `coded`: told
    /// the API's dialect, each body in the one its entry is written in
    /// passes; the same body from an entry not sent so fails.
    #[test]
    fn errors_sent_in_another_dialect_count_for_the_apis() {
        let mut catalog = Catalog::builtin();
        let source = "[errors]\nnot_found.sent_in = { detail = 'coded' }\n\
                      invalid_key.sent_in = { detail = 'coded' }\n";
        catalog.load_toml("t.toml", source).unwrap();
        let entries = [
            exchange("a", rendered(&catalog, Dialect::Detail, "not_found")),
            exchange("b", rendered(&catalog, Dialect::Detail, "invalid_key")),
            exchange("c", rendered(&catalog, Dialect::Detail, "conflict")),
        ];
        assert_eq!(
            consistent_dialect(&catalog, &entries, None),
            Some(Dialect::Detail)
        );
        let rows = evaluate(&catalog, &entries, None);
        assert_eq!(failures(&rows), Vec::<String>::new());
        let coded = [exchange(
            "d",
            rendered(&catalog, Dialect::Coded, "conflict"),
        )];
        let rows = evaluate(&catalog, &coded, Some(Dialect::Detail));
        assert!(
            failures(&rows)
                .iter()
                .any(|f| f == "d: GET /x dialect: coded, expected detail (--dialect)"),
            "{:?}",
            failures(&rows)
        );
    }

    #[test]
    fn a_code_in_its_dialects_spelling_is_named_as_the_catalog_names_it() {
        let catalog = Catalog::builtin();
        let entries = [
            exchange("google", rendered(&catalog, Dialect::Google, "not_found")),
            exchange("problem", rendered(&catalog, Dialect::Problem, "not_found")),
        ];
        let rows = evaluate(&catalog, &entries, None);
        assert_eq!(
            verdicts(&rows, "code"),
            [
                (Verdict::Pass, "NOT_FOUND (not_found)"),
                (Verdict::Pass, "not_found")
            ]
        );
    }

    /// What a client reading the error reference would trip on: a code in
    /// another spelling than the body's dialect gives it, a body that
    /// states another status than the response's, a Retry-After that asks
    /// for another wait than the body.
    #[test]
    fn a_body_that_says_other_than_the_reference_or_its_response_fails() {
        let catalog = Catalog::builtin();
        let altered = |code: &str, from: &str, to: &str| {
            let mut answer = rendered(&catalog, Dialect::Problem, code);
            let body = String::from_utf8(answer.body.to_vec()).unwrap();
            assert!(body.contains(from), "{body}");
            answer.body = body.replacen(from, to, 1).into_bytes();
            answer
        };
        let mut later = rendered(&catalog, Dialect::Problem, "rate_limit_exceeded");
        later
            .headers
            .insert(RETRY_AFTER, HeaderValue::from_static("40"));
        let entries = [
            exchange(
                "upper",
                altered(
                    "not_found",
                    r#""code":"not_found""#,
                    r#""code":"NOT_FOUND""#,
                ),
            ),
            exchange(
                "status",
                altered("not_found", r#""status":404"#, r#""status":500"#),
            ),
            exchange("later", later),
        ];
        let rows = evaluate(&catalog, &entries, None);
        assert_eq!(
            failures(&rows),
            [
                "upper: GET /x code: \"NOT_FOUND\" is not how the problem dialect spells it: not_found, \
                 as the error reference shows",
                "status: GET /x body-status: the body says 500, the response is 404",
                "later: GET /x retry-after: Retry-After asks for 40 s, the body's retry hint for 30 s",
            ]
        );
    }

    #[test]
    fn x_error_code_may_spell_the_bodys_code_another_way() {
        let catalog = Catalog::builtin();
        let mut answer = rendered(&catalog, Dialect::Google, "not_found");
        answer
            .headers
            .insert(X_ERROR_CODE, HeaderValue::from_static("not_found"));
        let mut conflict = rendered(&catalog, Dialect::Google, "not_found");
        conflict
            .headers
            .insert(X_ERROR_CODE, HeaderValue::from_static("conflict"));
        let rows = evaluate(
            &catalog,
            &[exchange("same", answer), exchange("other", conflict)],
            None,
        );
        assert_eq!(
            verdicts(&rows, "x-error-code"),
            [
                (Verdict::Pass, "not_found"),
                (
                    Verdict::Fail,
                    "X-Error-Code is conflict but the body says NOT_FOUND"
                )
            ]
        );
    }

    #[test]
    fn a_405_needs_allow_and_a_503_retry_after() {
        let catalog = Catalog::builtin();
        let allowing = |methods| {
            let mut answer = rendered(&catalog, Dialect::Problem, "method_not_allowed");
            answer
                .headers
                .insert(ALLOW, HeaderValue::from_static(methods));
            answer
        };
        // The requests are GETs: an `Allow` listing GET contradicts the 405.
        let entries = [
            exchange(
                "bare",
                rendered(&catalog, Dialect::Problem, "method_not_allowed"),
            ),
            exchange("allowed", allowing("PUT, POST")),
            exchange("contradicting", allowing("post, get")),
            exchange(
                "down",
                rendered(&catalog, Dialect::Problem, "service_unavailable"),
            ),
        ];
        let rows = evaluate(&catalog, &entries, None);
        assert_eq!(
            verdicts(&rows, "allow"),
            [
                (Verdict::Fail, "405 without Allow"),
                (Verdict::Pass, "Allow: PUT, POST"),
                (
                    Verdict::Fail,
                    "Allow: post, get lists GET, the method refused"
                ),
            ]
        );
        assert_eq!(
            verdicts(&rows, "retry-after"),
            [(Verdict::Fail, "503 without Retry-After")]
        );
    }

    #[test]
    fn a_success_is_checked_for_its_status_alone() {
        let catalog = Catalog::builtin();
        let ok = Answer {
            status: 200,
            headers: HeaderMap::new(),
            body: b"{}".to_vec(),
            cut: None,
            broken: false,
            body_sent: None,
        };
        let rows = evaluate(&catalog, &[exchange("ok", ok)], None);
        let checks: Vec<_> = rows.iter().map(|r| (r.check, r.verdict)).collect();
        assert_eq!(checks, [("expected-status", Verdict::Pass)]);
    }

    #[test]
    fn a_redirect_is_named_with_where_it_goes() {
        let catalog = Catalog::builtin();
        let answer = |status, location: Option<&'static str>| Answer {
            status,
            headers: location
                .map(|to| HeaderMap::from_iter([(LOCATION, HeaderValue::from_static(to))]))
                .unwrap_or_default(),
            body: Vec::new(),
            cut: None,
            broken: false,
            body_sent: None,
        };
        let ex = |answer| Exchange {
            name: "unknown route",
            method: Method::GET,
            path: "/nope".into(),
            expect: Expect::one_of(&[404]),
            outcome: Ok(answer),
            notes: Vec::new(),
            waited: None,
        };
        for (answer, reason) in [
            (
                answer(301, Some("https://api.example.com/nope")),
                "redirected (301) to https://api.example.com/nope; expected 404",
            ),
            (
                answer(302, None),
                "redirected (302), with no Location; expected 404",
            ),
            (answer(304, None), "accepted (304); expected 404"),
        ] {
            assert_eq!(
                expected_status(&catalog, &ex(answer.clone()), &answer),
                Some((Verdict::Fail, reason.into()))
            );
        }
    }

    #[test]
    fn a_glimpse_is_one_line_of_sixty_characters_at_most() {
        let sixty = "a".repeat(60);
        assert_eq!(glimpse(b"oops\r\nsorry"), r#""oops  sorry""#);
        assert_eq!(glimpse(sixty.as_bytes()), format!("{sixty:?}"));
        assert_eq!(
            glimpse(format!("{sixty}b").as_bytes()),
            format!("{sixty:?}…")
        );
    }

    #[test]
    fn headers_that_are_not_text_are_not_said_to_be_missing() {
        let catalog = Catalog::builtin();
        let mut answer = rendered(&catalog, Dialect::Problem, "not_found");
        let latin1 = HeaderValue::from_bytes(b"caf\xe9").unwrap();
        answer.headers.insert(X_ERROR_CODE, latin1.clone());
        answer.headers.insert(X_REQUEST_ID, latin1.clone());
        answer.headers.insert(CONTENT_TYPE, latin1);
        let mut blank = rendered(&catalog, Dialect::Problem, "not_found");
        blank
            .headers
            .insert(X_REQUEST_ID, HeaderValue::from_static(" "));
        let entries = [exchange("odd", answer), exchange("blank", blank)];
        let failed = failures(&evaluate(&catalog, &entries, None));
        for expected in [
            "odd: GET /x x-error-code: X-Error-Code is not valid text",
            "odd: GET /x request-id: X-Request-Id is not valid text",
            "odd: GET /x content-type: Content-Type is not valid text",
            "blank: GET /x request-id: no X-Request-Id header",
        ] {
            assert!(
                failed.iter().any(|f| f.starts_with(expected)),
                "{expected}\nnot in {failed:#?}"
            );
        }
    }

    #[test]
    fn request_id_missing_from_the_body_fails_where_the_dialect_has_a_place() {
        let catalog = Catalog::builtin();
        for dialect in Dialect::ALL {
            let mut answer = rendered(&catalog, dialect, "not_found");
            // The list matches what the encoders write.
            assert_eq!(
                body_only(&catalog, &answer).request_id.is_some(),
                body_has_request_id(dialect),
                "{dialect}"
            );
            let ctx = Context::new(SystemTime::now());
            let err = catalog.error("not_found").unwrap();
            answer.body = catalog
                .renderer(dialect)
                .response(&err, &ctx)
                .body()
                .clone();
            let rows = evaluate(&catalog, &[exchange("e", answer)], Some(dialect));
            let id = rows.iter().find(|r| r.check == "request-id").unwrap();
            if body_has_request_id(dialect) {
                assert_eq!(id.verdict, Verdict::Fail, "{dialect}: {}", id.reason);
                assert_eq!(
                    id.reason,
                    format!("no request id in the body ({dialect} has a place for it)")
                );
            } else {
                assert_eq!(id.verdict, Verdict::Pass, "{dialect}: {}", id.reason);
                assert_eq!(id.reason, "req_1 (the body has no place for it)");
            }
        }
    }

    #[test]
    fn a_429_is_held_against_no_request_that_does_not_expect_one() {
        let catalog = Catalog::builtin();
        let limited = rendered(&catalog, Dialect::Problem, "rate_limit_exceeded");
        let mut ex = Exchange {
            name: "malformed JSON",
            method: Method::POST,
            path: "/v1/items".into(),
            expect: Expect::one_of(&[400, 422]),
            outcome: Ok(limited.clone()),
            notes: Vec::new(),
            waited: None,
        };
        assert_eq!(
            expected_status(&catalog, &ex, &limited),
            Some((
                Verdict::Skip,
                "rate-limited: Retry-After asks for 30s; probe again after that (waits of up to \
                 5s are waited out)"
                    .into()
            ))
        );
        ex.waited = Some(Duration::from_millis(1500));
        assert_eq!(
            expected_status(&catalog, &ex, &limited).unwrap().1,
            "rate-limited again after waiting the 2s it asked for; probe again once the limit \
             has refilled"
        );
        let mut bare = limited.clone();
        bare.headers.remove(RETRY_AFTER);
        ex.outcome = Ok(bare.clone());
        ex.waited = None;
        assert!(
            expected_status(&catalog, &ex, &bare)
                .unwrap()
                .1
                .starts_with("rate-limited, with no Retry-After")
        );
        // One that is no delay is not said to be missing.
        let mut odd = limited.clone();
        odd.headers
            .insert(RETRY_AFTER, HeaderValue::from_static("abc"));
        ex.outcome = Ok(odd.clone());
        assert!(
            expected_status(&catalog, &ex, &odd)
                .unwrap()
                .1
                .starts_with("rate-limited, with a Retry-After that is no delay")
        );
        ex.outcome = Ok(bare.clone());
        // Where a 429 is expected, it passes.
        ex.expect = Expect::one_of(&[429]);
        assert_eq!(
            expected_status(&catalog, &ex, &bare).unwrap().0,
            Verdict::Pass
        );
    }

    /// A 429 with `Retry-After`, answered to a request that does not expect one.
    fn limited_by(fields: &[(&'static str, &'static str)]) -> Exchange {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_static(value));
        }
        Exchange {
            name: "unknown route",
            method: Method::GET,
            path: "/nope".into(),
            expect: Expect::one_of(&[404]),
            outcome: Ok(Answer {
                status: 429,
                headers,
                body: Vec::new(),
                cut: None,
                broken: false,
                body_sent: None,
            }),
            notes: Vec::new(),
            waited: None,
        }
    }

    #[test]
    fn a_retry_after_past_every_duration_is_the_longest_wait_not_none() {
        // 1e20 seconds reads as `Duration::MAX`: rounded up, it must saturate.
        let ex = limited_by(&[("retry-after", "1e20")]);
        let why = ex.rate_limited().unwrap();
        assert!(
            why.starts_with("rate-limited: Retry-After asks for "),
            "{why}"
        );
        assert!(!why.contains("asks for 0s"), "{why}");
        assert_eq!(
            seconds(Duration::MAX),
            seconds(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn an_http_date_retry_after_is_measured_from_the_responses_date() {
        // A clock far from the server's (here: 1994's) must not change the wait.
        let ex = limited_by(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
        ]);
        let Ok(answer) = &ex.outcome else {
            unreachable!()
        };
        assert_eq!(retry_after(&answer.headers), Some(Duration::from_secs(30)));
        assert_eq!(
            ex.rate_limited().unwrap(),
            "rate-limited: Retry-After asks for 30s; probe again after that (waits of up to 5s \
             are waited out)"
        );
        // Without a Date, the wait is measured from now.
        let ex = limited_by(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]);
        let Ok(answer) = &ex.outcome else {
            unreachable!()
        };
        assert_eq!(retry_after(&answer.headers), Some(Duration::ZERO));
    }

    #[test]
    fn a_refused_key_is_named_once_by_its_catalog_code() {
        let catalog = Catalog::builtin();
        let keyed = |name, dialect, statuses: &[u16]| {
            Entry::exchange(Exchange {
                name,
                method: Method::POST,
                path: "/x".into(),
                expect: Expect {
                    keyed: true,
                    ..Expect::one_of(statuses)
                },
                outcome: Ok(rendered(&catalog, dialect, "invalid_key")),
                notes: Vec::new(),
                waited: None,
            })
        };
        // A 401 where one is tested for is no refusal of the key.
        assert_eq!(
            refused_key(&catalog, &[keyed("no key", Dialect::Coded, &[401])]),
            None
        );
        let entries = [
            keyed("no key", Dialect::Coded, &[401]),
            keyed("malformed JSON", Dialect::Coded, &[400]),
            keyed("wrong method", Dialect::Coded, &[405]),
        ];
        let row = refused_key(&catalog, &entries).unwrap();
        assert_eq!(
            (row.check, row.request.as_str(), row.status, row.verdict),
            ("key", "malformed JSON: POST /x", Some(401), Verdict::Fail)
        );
        // Named as the catalog names it, whatever the dialect spells it.
        assert_eq!(
            row.reason,
            "the key was refused (401 invalid_key): pass a valid --key (or TOLLGATE_API_KEY)"
        );
        // The checks it hides are skipped, each for that reason.
        let rows = evaluate(&catalog, &entries, None);
        let skipped: Vec<_> = rows
            .iter()
            .filter(|r| r.check == "expected-status" && r.verdict == Verdict::Skip)
            .map(|r| (r.request.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("malformed JSON: POST /x", KEY_REFUSED),
                ("wrong method: POST /x", KEY_REFUSED)
            ]
        );
        // Without --key, a 401 is no refusal of it.
        let Entry::Exchange(mut keyless) = keyed("malformed JSON", Dialect::Coded, &[400]) else {
            unreachable!()
        };
        keyless.expect.keyed = false;
        assert_eq!(refused_key(&catalog, &[Entry::Exchange(keyless)]), None);
    }

    /// A key the API knows but will not serve (its account out of credits
    /// or suspended, a scope it lacks) is named once, as a refused key is;
    /// another 402 or 403 is held against the request as before.
    #[test]
    fn a_key_its_account_or_scope_cannot_use_is_named_once() {
        let catalog = Catalog::builtin();
        let answer = |dialect, err: tollgate::ApiError| answer_of(&catalog, dialect, &err);
        let error = |code| catalog.error(code).unwrap();
        let malformed = |answer, keyed| Exchange {
            name: "malformed JSON",
            method: Method::POST,
            path: "/x".into(),
            expect: Expect {
                keyed,
                ..Expect::one_of(&[400, 422])
            },
            outcome: Ok(answer),
            notes: Vec::new(),
            waited: None,
        };
        let credits = error("insufficient_credits")
            .with("required", 1)
            .with("available", 0);
        let scope = error("insufficient_scope").with("scope", "scans:write");
        for (answer, named, skipped) in [
            (
                answer(Dialect::Problem, credits),
                "the key's account is out of credits (402 insufficient_credits): pass the --key \
                 of an account with credits (or TOLLGATE_API_KEY)",
                "the key's account is out of credits (402); pass the --key of an account with \
                 credits to check this",
            ),
            (
                answer(Dialect::Coded, error("account_suspended")),
                "the key's account is suspended (402 account_suspended): pass the --key of an \
                 active account (or TOLLGATE_API_KEY)",
                "the key's account is suspended (402); pass the --key of an active account to \
                 check this",
            ),
            (
                answer(Dialect::Google, scope),
                "the key lacks the scope scans:write (403 insufficient_scope): pass a --key with \
                 that scope (or TOLLGATE_API_KEY)",
                "the key lacks the scope scans:write (403); pass a --key with that scope to check \
                 this",
            ),
        ] {
            let entries = [Entry::exchange(malformed(answer.clone(), true))];
            let row = refused_key(&catalog, &entries).unwrap();
            assert_eq!((row.check, row.verdict), ("key", Verdict::Fail));
            assert_eq!(row.reason, named);
            assert_eq!(
                expected_status(&catalog, &malformed(answer.clone(), true), &answer),
                Some((Verdict::Skip, skipped.to_owned()))
            );
            // Without --key, such an answer refuses no key of ours.
            let keyless = [Entry::exchange(malformed(answer, false))];
            assert_eq!(refused_key(&catalog, &keyless), None);
        }
        // A 403 or 402 for another reason is the API's answer to the request.
        for (status, code) in [(403, "not_found"), (402, "internal_error")] {
            let other = Answer {
                status,
                ..answer(Dialect::Problem, error(code))
            };
            let ex = malformed(other.clone(), true);
            assert_eq!(ex.key_refusal(&catalog), None, "{code}");
            assert_eq!(
                expected_status(&catalog, &ex, &other),
                Some((Verdict::Fail, format!("expected 400 or 422, got {status}")))
            );
        }
    }

    #[test]
    fn expectations() {
        let catalog = Catalog::builtin();
        let answer = rendered(&catalog, Dialect::Problem, "not_found");
        let mut ex = Exchange {
            name: "unknown route",
            method: Method::GET,
            path: "/nope".into(),
            expect: Expect::one_of(&[404]),
            outcome: Ok(answer.clone()),
            notes: Vec::new(),
            waited: None,
        };
        assert_eq!(
            expected_status(&catalog, &ex, &answer).unwrap().0,
            Verdict::Pass
        );
        ex.expect = Expect::one_of(&[405]);
        assert_eq!(
            expected_status(&catalog, &ex, &answer),
            Some((Verdict::Fail, "expected 405, got 404".into()))
        );
        let ok = Answer {
            status: 200,
            headers: HeaderMap::new(),
            body: Vec::new(),
            cut: None,
            broken: false,
            body_sent: None,
        };
        assert_eq!(
            expected_status(&catalog, &ex, &ok),
            Some((Verdict::Fail, "accepted (200); expected 405".into()))
        );
        ex.expect.if_accepted = Some(Accepted::Skip("public".into()));
        assert_eq!(
            expected_status(&catalog, &ex, &ok),
            Some((Verdict::Skip, "public".into()))
        );
        ex.expect.if_accepted = Some(Accepted::Fail("not public".into()));
        assert_eq!(
            expected_status(&catalog, &ex, &ok),
            Some((
                Verdict::Fail,
                "not public; answered 200, expected 405".into()
            ))
        );
        ex.expect = Expect::any();
        assert_eq!(expected_status(&catalog, &ex, &ok), None);

        // Another refusal may be a skip; a server error fails all the same.
        ex.expect = Expect {
            if_refused: Some("no 413".into()),
            ..Expect::one_of(&[413])
        };
        let refused = |status| Answer {
            status,
            ..ok.clone()
        };
        for status in [400, 422] {
            assert_eq!(
                expected_status(&catalog, &ex, &refused(status)),
                Some((Verdict::Skip, "no 413".into()))
            );
        }
        assert_eq!(
            expected_status(&catalog, &ex, &refused(500)),
            Some((Verdict::Fail, "expected 413, got 500".into()))
        );
        ex.expect.if_refused = None;
        assert_eq!(
            expected_status(&catalog, &ex, &refused(422)),
            Some((Verdict::Fail, "expected 413, got 422".into()))
        );

        // Without a key, a refusal for it hides what the request tests.
        ex.expect = Expect {
            keyless: true,
            if_refused: Some("no 413".into()),
            ..Expect::one_of(&[413])
        };
        for status in [401, 403] {
            assert_eq!(
                expected_status(&catalog, &ex, &refused(status)),
                Some((
                    Verdict::Skip,
                    format!("refused for the missing key ({status}); pass --key to check this")
                ))
            );
        }
        assert_eq!(
            expected_status(&catalog, &ex, &refused(413)).unwrap().0,
            Verdict::Pass
        );
        ex.expect = Expect::one_of(&[404]);
        assert_eq!(
            expected_status(&catalog, &ex, &refused(401)),
            Some((Verdict::Fail, "expected 404, got 401".into()))
        );

        // With the key, a 401 says the key was refused, named once by `refused_key`.
        ex.expect = Expect {
            keyed: true,
            ..Expect::one_of(&[404])
        };
        assert_eq!(
            expected_status(&catalog, &ex, &refused(401)),
            Some((Verdict::Skip, KEY_REFUSED.into()))
        );
        assert_eq!(
            expected_status(&catalog, &ex, &refused(403)),
            Some((Verdict::Fail, "expected 404, got 403".into()))
        );
        assert_eq!(refused_key(&catalog, &[]), None);

        ex.outcome = Err("connection reset".into());
        let rows = evaluate(&catalog, &[Entry::exchange(ex)], None);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].check, rows[0].verdict), ("answer", Verdict::Fail));
    }

    /// A trace sent as a JSON array of lines is read line by line, decoded:
    /// `\tat` starts a stack frame only once the escape is undone.
    #[test]
    fn internals_in_a_json_array_are_found_as_they_read() {
        let catalog = Catalog::builtin();
        let mut answer = rendered(&catalog, Dialect::Problem, "internal_error");
        answer.body = br#"{"type":"about:blank","title":"Error","status":500,"trace":["IllegalStateException","\tat com.acme.Api.handle(Native Method)"]}"#.to_vec();
        let rows = evaluate(&catalog, &[exchange("json", answer)], None);
        let leaks = verdicts(&rows, "leaks");
        assert_eq!(leaks.len(), 1);
        assert_eq!(leaks[0].0, Verdict::Fail, "{}", leaks[0].1);
        assert!(
            leaks[0].1.starts_with("shows a stack trace: ")
                && leaks[0].1.contains("at com.acme.Api.handle("),
            "{}",
            leaks[0].1
        );
    }
}
