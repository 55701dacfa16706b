//! `tollgate probe`: a conformance check of any live API's errors.
//!
//! The probe finds the API's routes (its `/openapi.json`, or `--route`),
//! provokes the errors every API has — no key, an invalid key, malformed
//! JSON, a wrong content type, an unknown route, a wrong method, an oversized
//! body, Idempotency-Key reuse, a burst past the rate limit — and holds every
//! error response to the catalog (see [`checks`]).

mod checks;
mod client;
mod leaks;
mod report;
mod routes;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;
use serde_json::{Value, json};
use tollgate::headers::{
    IDEMPOTENCY_KEY, RATELIMIT, RATELIMIT_POLICY, RateLimitItem, X_RATELIMIT_LIMIT,
    X_RATELIMIT_REMAINING,
};
use tollgate::{Catalog, Dialect};

use self::checks::{Accepted, Entry, Exchange, Expect, Row, Verdict};
use self::client::{Body, Client, Key, Request};
use self::report::Report;
use self::routes::Route;
use crate::args::{SecretUrl, parse_dialect, whole};
use crate::catalogs::CatalogArgs;
use crate::error::{CliError, EXIT_PROBLEMS, plural};

/// Shown after `tollgate probe --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate probe http://127.0.0.1:8080 --key tg_live_...
  tollgate probe http://127.0.0.1:8080 --key $KEY --dialect coded --catalog api.toml
  tollgate probe http://localhost:3000 --route GET:/v1/items --route POST:/v1/items --json
  tollgate probe $API --max-requests 0 --json | jq '.checks[] | select(.result == \"fail\")'

Routes come from BASE_URL/openapi.json when the API serves it (operations with `security` or a 401
response are taken to need a key; request body examples are used as payloads; paths go below the
path of its first `servers` URL unless BASE_URL ends with it), and from --route. With no route
known, only the unknown-route and burst probes run, and the summary line says so.

Requests sent: GET /openapi.json; no key and an invalid key (to a route needing a key); malformed
JSON, a wrong Content-Type and an oversized chunked body (to a route taking JSON; the body stops
growing once the server answers, and an answer other than 413 is a skip naming how much of the
body was sent: no 413 within the whole --max-body-mib, or an answer before it); an unknown route; a
method the route lacks; the same Idempotency-Key with two payloads (needs --key and a POST or PATCH
route whose parameters in /openapi.json list Idempotency-Key, or one given with --route; passes
when the first is answered and the second refused with idempotency_key_reused or
idempotency_key_in_use); and a burst of up to --max-requests requests until a 429 (to a GET route,
else an unknown one); with no 429, the burst is skipped when the last answer's RateLimit fields
(else its X-RateLimit-Remaining and X-RateLimit-Limit) show calls left or a quota of at least
--max-requests, or when an unknown route answered 404 to all of it (the first answer of each
other error status is checked too, of eight at most).
Run it against your own API: the burst spends the key's rate limit, the idempotent POST may run
once, and an oversized body the API accepts may too (creating something, or charging a credit).

A 429 to a request that does not test the rate limit (a limit spent by an earlier run, say) is no
failure: when its Retry-After asks for 5 s or less, the probe waits that long and sends the request
once more; otherwise, or when the 429 comes again, the check is skipped, naming the wait. The 429
itself is held to the rules below like any error. Without a key, a 401 or 403 to a request that
tests something else (malformed JSON, a wrong method, …) is a skip as well: the route may check
the key first; pass --key to check what the request tests. With --key, a 401 to such a request
says the key was refused, and a 402 or 403 with the catalog's insufficient_credits,
account_suspended or insufficient_scope says it cannot be used (its account is out of credits or
suspended, or it lacks a scope): the `key` check fails once, naming why, the checks the refusal
hides are skipped, and neither the burst nor the idempotency check's second request is sent.

A user name and password in BASE_URL (http://sk_live_1@host:8080, a key as Stripe takes it) are
the key when --key is not given: sent as `Authorization: Basic`, and the invalid key sent the same
way; the no-key request carries neither. They are never shown. Nor is the key: where the server
repeats it (a body saying `Invalid key: Bearer …`, a header echoing the request's), the report
quotes the answer with `***` in its place (a key, user name or password of 8 bytes or more; any
12 characters of it in a row, in any case, so a key repeated cut short or upper-cased is hidden).

Every error response must: use one dialect (--dialect, else the one most errors use), in a body
that parses as JSON whole; have a JSON Content-Type (application/json or +json); carry a code of
the catalog in the body or X-Error-Code, spelled in the body as the dialect spells it, and
X-Error-Code; have the catalog entry's status, and state no other in the body; carry
X-Request-Id, equal to the body's request id where the dialect has one; carry WWW-Authenticate on
401, Allow on 405 (not listing the method refused) and Retry-After on 429 and 503 (whole seconds
or an HTTP-date, a month at most), asking for the same wait as the body's retry hint (within a
second); and show no internals (panic text, stack traces, source locations, SQL, database errors).
Bodies are not checked against the document's schemas, nor codes against /errors: the catalog
(--catalog) is what the answers are held to.

Exit status: 0 every check passed, 1 a check failed (or, with --strict, was skipped), 2 bad
arguments or BASE_URL unreachable.";

/// Arguments of `tollgate probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The API's base URL (http://host:port, or with a path prefix); request paths are appended.
    /// A user name and password in it are the key when --key is not given (see below)
    #[arg(value_name = "BASE_URL", value_parser = SecretUrl {
        parse: parse_base_url,
        show: shown_base_url,
    })]
    base_url: Url,

    /// An API key, sent where a request should be authenticated; spaces and line ends around it
    /// are not sent
    #[arg(
        long,
        value_name = "KEY",
        env = "TOLLGATE_API_KEY",
        hide_env_values = true
    )]
    key: Option<String>,

    /// The header the key goes in; with Authorization it is sent as `Bearer KEY`
    #[arg(long, value_name = "NAME", default_value = "authorization", value_parser = parse_header_name)]
    key_header: HeaderName,

    #[command(flatten)]
    catalogs: CatalogArgs,

    /// The dialect every error must use: problem, status-code, coded, detail, meta, envelope,
    /// flat, google, stripe or jsonapi [default: the one most errors use]
    #[arg(long, short, value_name = "DIALECT", value_parser = parse_dialect)]
    dialect: Option<Dialect>,

    /// A route the checks may use, besides those of /openapi.json (repeatable); each check
    /// sends its requests to the one known route that suits it best, not to every route
    #[arg(long = "route", value_name = "METHOD:PATH", value_parser = routes::parse_route)]
    routes: Vec<Route>,

    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,

    /// Fail the run (exit 1) when a check is skipped too, as in CI, where a check that could not
    /// run (no route for it, a rate limit in the way) should not pass unseen
    #[arg(long)]
    strict: bool,

    /// The most requests of the burst that looks for the rate limit; 0 skips it
    #[arg(long, value_name = "N", default_value_t = 300, allow_negative_numbers = true,
          value_parser = whole(0, u32::MAX))]
    max_requests: u32,

    /// The most the oversized body grows to, in MiB: answered without a 413 at that size, the
    /// check is skipped (a body accepted may create something or charge a credit); sent at most
    /// 64 KiB a millisecond: for more than a few hundred MiB, raise --timeout
    #[arg(long, value_name = "MIB", default_value_t = 32, allow_negative_numbers = true,
          value_parser = whole::<u64>(1, 1024))]
    max_body_mib: u64,

    /// How long each request may take, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 10, allow_negative_numbers = true,
          value_parser = whole::<u64>(1, 3600))]
    timeout: u64,
}

/// Probes the API and writes the report to `out`.
pub(crate) fn run(args: ProbeArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let catalog = args.catalogs.load()?;
    // An empty key (`TOLLGATE_API_KEY=`) is no key: sent, it would be
    // refused, and the API blamed for answering 401. Spaces and line ends
    // around a pasted key (`$(cat key.txt)` keeps none, a file read
    // otherwise may) are no part of it.
    let key = args
        .key
        .as_deref()
        .map(str::trim)
        .filter(|key| !key.is_empty());
    // An unset CI secret (`--key "$KEY"`) is said, not probed past in silence.
    if args.key.is_some() && key.is_none() {
        stderr!(
            "warning: --key (or TOLLGATE_API_KEY) is empty: probing without a key, the checks \
             that need one skipped"
        );
    }
    let url = &args.base_url;
    if key.is_some() && (!url.username().is_empty() || url.password().is_some()) {
        stderr!(
            "warning: the user name and password in BASE_URL are not sent: --key (or \
             TOLLGATE_API_KEY) is the key"
        );
    }
    let client = Client::new(
        args.base_url.clone(),
        key,
        args.key_header.clone(),
        Duration::from_secs(args.timeout),
    )
    .map_err(|e| {
        CliError::Usage(format!(
            "invalid --key (or TOLLGATE_API_KEY) or --key-header: {e}"
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {wide_msg} [{bar:30}] {pos}/{len}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = runtime.block_on(probe(&client, &catalog, &args, &bar));
    bar.finish_and_clear();
    let report = report?;
    let written = if args.json {
        crate::docs::pretty_json(&report.to_json())
            .map_err(std::io::Error::from)
            .and_then(|json| out.write_all(json.as_bytes()))
            .and_then(|()| out.write_all(b"\n"))
    } else {
        out.write_all(report.to_table().as_bytes())
    };
    let verdict = if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    };
    match written {
        // The reader left early (`| head`): what the probe found stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(verdict),
        Err(e) => Err(CliError::Write(e)),
        Ok(()) => Ok(verdict),
    }
}

/// BASE_URL as an error repeats it ([`shown_url`](crate::store_db::shown_url)),
/// its user name hidden with its password, since either may be the key
/// (`http://sk_live_1@host`, as Stripe takes it): all before the last `@` of
/// the authority, as a URL parser reads it, or, where none is there (a
/// password with a `/` in it), before the last `@` that
/// [`tollgate::redact_url`] takes for the end of user info. Hidden before
/// the URL is clipped, so that no part of a long one is shown (and
/// `redact_url` may then hide more, never less: a path with an `@` in it).
fn shown_base_url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return crate::store_db::shown_url(text);
    };
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let user_info_end = authority.rfind('@').or_else(|| {
        let (user_info, _) = rest.rsplit_once('@')?;
        let user = user_info
            .split_once(':')
            .map_or(user_info, |(user, _)| user);
        (!user.contains(['/', '?', '#'])).then_some(user_info.len())
    });
    match user_info_end {
        Some(at) => crate::store_db::shown_url(&format!("{scheme}://***{}", &rest[at..])),
        None => crate::store_db::shown_url(text),
    }
}

/// `http://…` or `https://…` with a host, no query and no fragment.
fn parse_base_url(arg: &str) -> Result<Url, String> {
    let url = Url::parse(arg).map_err(|e| {
        format!("{e}: expected an http:// or https:// URL, such as http://127.0.0.1:8080")
    })?;
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "rustls") => {}
        "https" => {
            return Err("https:// needs tollgate built with TLS: \
                        cargo install tollgate-cli --features rustls"
                .to_owned());
        }
        other => {
            return Err(format!(
                "{other}:// is not HTTP: expected http:// or https://"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the base URL cannot have a query or a fragment".to_owned());
    }
    Ok(url)
}

/// The header names, besides those of one hop or the framing, that HTTP
/// itself reads: a key sent in any of them is no key the API reads, and the
/// requests break (a `Content-Length` of a key) or go elsewhere (`Host`).
const ROUTING_HEADERS: [&str; 2] = ["host", "expect"];

fn parse_header_name(arg: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(arg.trim().as_bytes())
        .map_err(|_| format!("invalid header name {:?}", crate::wire::clipped(arg)))?;
    let lower = name.as_str();
    if ROUTING_HEADERS.contains(&lower) || tollgate::headers::HOP_AND_FRAMING.contains(&lower) {
        return Err(format!(
            "{name} is a header HTTP itself reads (the message's framing, routing or the \
             connection): name the one the API reads its key from, such as X-API-Key"
        ));
    }
    Ok(name)
}

/// Sends one request, moves the progress bar, and keeps what came back.
async fn exchange(
    client: &Client,
    bar: &ProgressBar,
    name: &'static str,
    request: &Request,
    expect: Expect,
) -> Exchange {
    bar.set_message(crate::input::printable(&format!(
        "{name}: {} {}",
        request.method, request.path
    )));
    let outcome = client.send(request).await.map_err(|f| f.message);
    bar.inc(1);
    Exchange {
        name,
        method: request.method.clone(),
        path: request.path.clone(),
        expect,
        outcome,
        notes: Vec::new(),
        waited: None,
    }
}

/// Sends one request as [`exchange`] does, adding it to `requests`; a 429
/// it did not test for, whose `Retry-After` asks for at most
/// [`checks::MAX_WAIT`], is waited out and the request sent once more.
async fn patient(
    client: &Client,
    bar: &ProgressBar,
    name: &'static str,
    request: &Request,
    expect: Expect,
    requests: &mut usize,
) -> Exchange {
    let first = exchange(client, bar, name, request, expect.clone()).await;
    *requests += 1;
    match short_wait(&first) {
        Some(wait) => {
            wait_out(bar, name, wait).await;
            *requests += 1;
            Exchange {
                waited: Some(wait),
                ..exchange(client, bar, name, request, expect).await
            }
        }
        None => first,
    }
}

/// The wait a 429 asks for, when the exchange did not test for one and the
/// wait is short enough to be waited out.
fn short_wait(ex: &Exchange) -> Option<Duration> {
    let answer = ex.outcome.as_ref().ok()?;
    if answer.status != 429 || ex.expect.statuses.contains(&429) {
        return None;
    }
    checks::retry_after(&answer.headers).filter(|wait| *wait <= checks::MAX_WAIT)
}

/// Sleeps `wait`, saying so on the progress bar.
async fn wait_out(bar: &ProgressBar, name: &str, wait: Duration) {
    bar.inc_length(1);
    bar.set_message(format!(
        "{name}: rate-limited (429), waiting {} ms as Retry-After asks",
        wait.as_millis()
    ));
    tokio::time::sleep(wait).await;
}

/// A probe that was not sent, and why.
fn skipped(what: &str, reason: impl Into<String>) -> Entry {
    Entry::Row(Row::new("probe", what, None, Verdict::Skip, reason))
}

const NO_ROUTE: &str =
    "no route known: /openapi.json gave none (the routes check says why); pass --route METHOD:PATH";
const NO_KEYED_ROUTE: &str =
    "every route known is public (security: []): pass --route METHOD:PATH of one that needs a key";
const EVERY_METHOD: &str =
    "the route's path has every method this probe would send: pass --route METHOD:PATH of another";
const NO_BODY_ROUTE: &str = "no route taking JSON known: pass --route POST:/path (or describe requestBody in /openapi.json)";

/// Runs every request and checks every answer.
async fn probe(
    client: &Client,
    catalog: &Catalog,
    args: &ProbeArgs,
    bar: &ProgressBar,
) -> Result<Report, CliError> {
    let have_key = client.has_key();
    let keyed = if have_key { Key::Given } else { Key::Absent };
    // Without a key, an authenticated route may answer 401 before anything
    // else: a skip, as that refusal says nothing of what the request tests;
    // with one, a 401 (or a 402 or 403 refusing its account or scope) says
    // the key cannot be used (`checks::refused_key`).
    let or_unauthenticated = |statuses: &[u16]| Expect {
        keyless: !have_key,
        keyed: have_key,
        ..Expect::one_of(statuses)
    };
    // Any status will do, for a request that carries the key if there is one.
    let any = || Expect {
        keyed: have_key,
        ..Expect::any()
    };
    let fixed = 9;
    bar.set_length(fixed + u64::from(args.max_requests));
    let mut entries = Vec::new();
    let mut requests = 0;

    // Discovery; the first request also tells whether the API is there.
    let discover = Request {
        key: keyed,
        max_answer: client::MAX_DOCUMENT,
        ..Request::new(Method::GET, "/openapi.json")
    };
    // The document's path as requested, below the base URL's.
    let document = format!("{}/openapi.json", client.base_path().trim_end_matches('/'));
    bar.set_message(format!("GET {document}"));
    // A server that cannot be reached at all ends the probe; any other
    // failure of this one request (a reset, a timeout while the document is
    // served) is reported, and the routes given by flags are probed still.
    let sent = match client.send(&discover).await {
        Err(f) if f.unreachable => {
            return Err(CliError::Usage(format!(
                "cannot reach {}: {}; {}",
                crate::store_db::shown_url(&client.shown_base()),
                f.message,
                unreachable_hint(&args.base_url, &f.message)
            )));
        }
        sent => sent.map_err(|f| f.message),
    };
    bar.inc(1);
    requests += 1;
    let mut openapi = Exchange {
        name: "openapi",
        method: Method::GET,
        path: discover.path.clone(),
        expect: any(),
        outcome: sent,
        notes: Vec::new(),
        waited: None,
    };
    if let Some(wait) = short_wait(&openapi) {
        wait_out(bar, "openapi", wait).await;
        requests += 1;
        openapi = Exchange {
            waited: Some(wait),
            ..exchange(client, bar, "openapi", &discover, any()).await
        };
    }
    let documented = documented_routes(&openapi, &document, client.base_path());
    let documented_count = documented.as_ref().map_or(0, Vec::len);
    // What the document's request got, when it gave no route and no reason why.
    let undocumented = match openapi.status() {
        Some(status) => format!(
            "no route known: GET {document} answered {status}; serve the API's OpenAPI document \
             there, or pass --route METHOD:PATH"
        ),
        None => format!(
            "no route known: GET {document} got no answer (the answer check says why); pass \
             --route METHOD:PATH"
        ),
    };
    entries.push(Entry::exchange(openapi));
    // Why a document that came is of no use, if it is not.
    let unusable = documented.as_ref().err().cloned();
    let mut routes = documented.unwrap_or_default();
    for route in &args.routes {
        if !routes
            .iter()
            .any(|r| r.method == route.method && r.path == route.path)
        {
            routes.push(route.clone());
        }
    }
    let routes_from = match (documented_count, args.routes.is_empty()) {
        (0, true) => "none",
        (0, false) => "flags",
        (_, true) => "openapi",
        (_, false) => "openapi+flags",
    };
    entries.push(Entry::Row(match routes_from {
        "none" => Row::new(
            "routes",
            format!("GET {document}"),
            None,
            Verdict::Skip,
            match unusable.as_deref() {
                Some(why) => format!(
                    "{why}; pass --route METHOD:PATH; only the unknown-route and burst probes run"
                ),
                None => format!("{undocumented}; only the unknown-route and burst probes run"),
            },
        ),
        from => {
            let found = format!("{} ({from})", plural(routes.len(), "route", "routes"));
            Row::new(
                "routes",
                format!("GET {document}"),
                None,
                Verdict::Pass,
                match unusable.as_deref() {
                    Some(why) => format!("{found}; {why}"),
                    None => found,
                },
            )
        }
    }));
    // Where the `key` row goes, if the key is refused: before the checks it explains.
    let key_row_at = entries.len();
    let targets = routes::targets(&routes, have_key);
    // Why a target is missing: no route is known at all, or `why`.
    let unless_none = |why| if routes.is_empty() { NO_ROUTE } else { why };

    // Keys.
    match targets.keyed {
        Some(route) => {
            let public = (route.keyed != Some(true)).then(|| {
                Accepted::Skip(
                    "answered without a valid key: the route may be public (mark keyed routes \
                     with `security` in /openapi.json, or pass --route to one)"
                        .to_owned(),
                )
            });
            let request = |key| Request {
                key,
                ..Request::new(route.method.clone(), route.concrete_path())
            };
            let expect = Expect {
                statuses: vec![401],
                if_accepted: public.clone(),
                if_refused: None,
                keyless: false,
                keyed: false,
            };
            let no_key = patient(
                client,
                bar,
                "no key",
                &request(Key::Absent),
                expect,
                &mut requests,
            )
            .await;
            // A route that refuses a request without a key is not public:
            // taking a made-up key there is a failure, not a doubt.
            let if_accepted = match no_key.status() {
                Some(refused @ (401 | 403)) => Some(Accepted::Fail(format!(
                    "an invalid key was accepted, though no key got {refused}"
                ))),
                _ => public,
            };
            entries.push(Entry::exchange(no_key));
            let expect = Expect {
                statuses: vec![401],
                if_accepted,
                if_refused: None,
                keyless: false,
                keyed: false,
            };
            let invalid = &request(Key::Invalid);
            entries.push(Entry::exchange(
                patient(client, bar, "invalid key", invalid, expect, &mut requests).await,
            ));
        }
        None => {
            entries.push(skipped("no key", unless_none(NO_KEYED_ROUTE)));
            entries.push(skipped("invalid key", unless_none(NO_KEYED_ROUTE)));
        }
    }

    // Bodies.
    match targets.body {
        Some(route) => {
            let base = Request {
                key: keyed,
                ..Request::new(route.method.clone(), route.concrete_path())
            };
            let media = route.body_media();
            let malformed = Request {
                body: Body::Bytes(media.clone(), b"{\"data\": ".to_vec()),
                ..base.clone()
            };
            let expect = or_unauthenticated(&[400, 422]);
            entries.push(Entry::exchange(
                patient(
                    client,
                    bar,
                    "malformed JSON",
                    &malformed,
                    expect,
                    &mut requests,
                )
                .await,
            ));
            let wrong_type = Request {
                body: Body::Bytes("text/plain".to_owned(), b"data=tollgate-probe".to_vec()),
                ..base.clone()
            };
            let expect = or_unauthenticated(&[415]);
            let name = "wrong content type";
            entries.push(Entry::exchange(
                patient(client, bar, name, &wrong_type, expect, &mut requests).await,
            ));
            let oversized = Request {
                body: Body::Oversized(media.clone(), args.max_body_mib << 20),
                ..base
            };
            let expect = or_unauthenticated(&[413]);
            let name = "oversized body";
            let mut ex =
                patient(client, bar, name, &oversized, expect.clone(), &mut requests).await;
            if ex.outcome.is_err() {
                // A server may close the connection as it answers, and the
                // close can overtake the answer: one more try.
                ex = patient(client, bar, name, &oversized, expect, &mut requests).await;
            }
            // No 413 is no proof the API has no limit: a skip, naming how
            // much of the body was sent.
            if let Ok(answer) = &ex.outcome {
                let sent = answer.body_sent.unwrap_or_default();
                let no_413 = no_413(answer.status, sent, args.max_body_mib);
                ex.expect.if_accepted = Some(Accepted::Skip(no_413.clone()));
                ex.expect.if_refused = Some(no_413);
            }
            entries.push(Entry::exchange(ex));
        }
        None => {
            for name in ["malformed JSON", "wrong content type", "oversized body"] {
                entries.push(skipped(name, unless_none(NO_BODY_ROUTE)));
            }
        }
    }

    // Routing.
    // The random end of a UUIDv7: a path no API has.
    let random = uuid::Uuid::now_v7().simple().to_string();
    let unknown_path = format!("{UNKNOWN_ROUTE_PREFIX}{}", &random[random.len() - 12..]);
    let unknown = Request {
        key: keyed,
        ..Request::new(Method::GET, unknown_path.clone())
    };
    entries.push(Entry::exchange(
        patient(
            client,
            bar,
            "unknown route",
            &unknown,
            or_unauthenticated(&[404]),
            &mut requests,
        )
        .await,
    ));
    match &targets.wrong_method {
        Some((method, route)) => {
            let request = Request {
                key: keyed,
                ..Request::new(method.clone(), route.concrete_path())
            };
            let expect = or_unauthenticated(&[405]);
            entries.push(Entry::exchange(
                patient(client, bar, "wrong method", &request, expect, &mut requests).await,
            ));
        }
        None => entries.push(skipped("wrong method", unless_none(EVERY_METHOD))),
    }

    // Idempotency.
    match (targets.idempotent, have_key) {
        (Some(route), true) => {
            let pair = idempotent_pair(route);
            entries.extend(idempotency(client, catalog, bar, route, pair, &mut requests).await);
        }
        (None, _) => entries.push(skipped(
            "idempotency",
            "no POST or PATCH route taking JSON and an Idempotency-Key known (none lists the \
             header among its parameters): pass --route POST:/path to check one",
        )),
        (Some(_), false) => entries.push(skipped(
            "idempotency",
            "needs --key (or TOLLGATE_API_KEY): an Idempotency-Key is scoped to the caller's key",
        )),
    }

    // The rate limit, last: it spends the budget the other requests need.
    bar.set_length(requests as u64 + u64::from(args.max_requests));
    let refused = checks::first_refusal(catalog, &entries).map(|(_, refusal)| refusal);
    if args.max_requests == 0 {
        entries.push(skipped("burst", "--max-requests 0"));
    } else if let Some(refusal) = refused {
        // Its answers would be the same refusal, over and over.
        entries.push(skipped("burst", refusal.burst_reason()));
    } else {
        let (path, key) = match targets.burst {
            Some(route) => (route.concrete_path(), keyed),
            None => (unknown_path, keyed),
        };
        let request = Request {
            key,
            ..Request::new(Method::GET, path)
        };
        let (sent, found) = burst(client, catalog, bar, &request, any(), args.max_requests).await;
        requests += sent;
        entries.extend(found);
    }
    if let Some(row) = checks::refused_key(catalog, &entries) {
        entries.insert(key_row_at, Entry::Row(row));
    }

    // Answers are quoted as the checks read them: a key the server sent
    // back escaped (`\u0074g_live_…` in JSON) is told here, as it is shown.
    let mut rows = checks::evaluate(catalog, &entries, args.dialect);
    for row in &mut rows {
        client.hide_secrets_in(&mut row.request);
        client.hide_secrets_in(&mut row.reason);
    }
    Ok(Report {
        base_url: client.shown_base(),
        dialect: checks::consistent_dialect(catalog, &entries, args.dialect),
        routes: routes
            .iter()
            .map(|r| {
                let mut route = format!("{} {}", r.method, r.path);
                client.hide_secrets_in(&mut route);
                route
            })
            .collect(),
        routes_from,
        requests,
        rows,
        strict: args.strict,
    })
}

/// Why an oversized body answered `status` (no 413) after `sent` bytes is
/// a skip: the whole of `max_body_mib` sent shows only that any limit is
/// above it; less shows nothing.
fn no_413(status: u16, sent: u64, max_body_mib: u64) -> String {
    if sent >= max_body_mib << 20 {
        format!("no 413 within {max_body_mib} MiB; raise --max-body-mib to find the API's limit")
    } else {
        format!(
            "answered {status} after {} of the body: no limit found",
            size(sent)
        )
    }
}

/// `9 bytes`, `64 KiB`, `3.5 MiB`.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    match bytes {
        0..KIB => plural(bytes as usize, "byte", "bytes"),
        KIB..MIB => format!("{} KiB", bytes / KIB),
        _ => format!("{:.1} MiB", bytes as f64 / MIB as f64),
    }
}

/// What to check when the API at `url` cannot be reached, from `why`: a TLS
/// failure (as rustls words it) is no sign that nothing runs there, nor is
/// a connection closed during the handshake (a plain HTTP server answers
/// the handshake with a 400 and closes, and its answer may be lost to the
/// reset).
fn unreachable_hint(url: &Url, why: &str) -> &'static str {
    let closed_in_handshake = url.scheme() == "https"
        && (why.contains("tls handshake eof") || why.contains("Connection reset by peer"));
    if why.contains("invalid peer certificate") {
        "is its certificate signed by an authority this machine trusts? (SSL_CERT_FILE=ca.pem \
         trusts a private one)"
    } else if why.contains("received corrupt message") || closed_in_handshake {
        "does it speak TLS at this address? (http:// for plain HTTP)"
    } else {
        "is the server running, and is this its address?"
    }
}

/// The routes of the API's OpenAPI document when it served one (none when
/// it did not), or why what it answered is of no use: a document that
/// cannot be read or lists no route, a redirect, or a 429. `document` is
/// its path as requested.
fn documented_routes(
    openapi: &Exchange,
    document: &str,
    base_path: &str,
) -> Result<Vec<Route>, String> {
    if let Some(why) = openapi.rate_limited().or_else(|| openapi.redirected()) {
        return Err(format!("{document} was {why}"));
    }
    let Some(answer) = openapi.outcome.as_ref().ok().filter(|a| a.status == 200) else {
        return Ok(Vec::new());
    };
    let unusable = |why: &str| format!("{document} answered 200, but {why}");
    if let Some(cut) = &answer.cut {
        return Err(unusable(&format!("the document {cut}")));
    }
    let routes = routes::from_openapi(&answer.body, base_path).map_err(|why| unusable(&why))?;
    if routes.is_empty() {
        return Err(unusable(
            "it lists no route (no get, post, put, patch or delete operation under `paths`)",
        ));
    }
    Ok(routes)
}

/// Two different payloads for one Idempotency-Key: the route's example (or
/// `{}`), and the same with one more member.
fn idempotent_pair(route: &Route) -> (Vec<u8>, Vec<u8>) {
    let first = route.example.clone().unwrap_or_else(|| json!({}));
    let marker = json!(uuid::Uuid::now_v7().simple().to_string());
    let second = match first.clone() {
        Value::Object(mut members) => {
            members.insert("tollgate_probe".to_owned(), marker);
            Value::Object(members)
        }
        other => json!({"tollgate_probe": marker, "value": other}),
    };
    (
        first.to_string().into_bytes(),
        second.to_string().into_bytes(),
    )
}

/// The same Idempotency-Key with two payloads: the second must be refused
/// with `idempotency_key_reused` (422) or `idempotency_key_in_use` (409).
/// A 429 to either (after a short wait, once) says nothing either way: the
/// check is skipped, and the second is not sent after a 429 to the first.
async fn idempotency(
    client: &Client,
    catalog: &Catalog,
    bar: &ProgressBar,
    route: &Route,
    (first, second): (Vec<u8>, Vec<u8>),
    requests: &mut usize,
) -> Vec<Entry> {
    let key = format!("tollgate-probe-{}", uuid::Uuid::now_v7().simple());
    let key = HeaderValue::from_str(&key).unwrap_or(HeaderValue::from_static("tollgate-probe"));
    let keyed = || Expect {
        keyed: true,
        ..Expect::any()
    };
    let media = route.body_media();
    let request = |body: Vec<u8>| Request {
        key: Key::Given,
        headers: vec![(IDEMPOTENCY_KEY, key.clone())],
        body: Body::Bytes(media.clone(), body),
        ..Request::new(route.method.clone(), route.concrete_path())
    };
    let mut a = patient(
        client,
        bar,
        "idempotency, first",
        &request(first),
        keyed(),
        requests,
    )
    .await;
    // A 429, the key refused, or the request: the second request would
    // prove nothing. A refused request need not have its answer kept
    // (Stripe keeps none for one that failed validation), so a refusal of
    // the second would say nothing about idempotency.
    let unjudged = match a.rate_limited() {
        Some(why) => Some(why),
        None => a
            .key_refusal(catalog)
            .map(|refusal| refusal.skip_reason())
            .or_else(|| a.status().filter(|s| *s >= 400).map(first_refused)),
    };
    if let Some(why) = unjudged {
        a.notes.push(Row::new(
            "idempotency",
            a.label(),
            a.status(),
            Verdict::Skip,
            why,
        ));
        return vec![Entry::exchange(a)];
    }
    let mut b = patient(
        client,
        bar,
        "idempotency, reused",
        &request(second),
        keyed(),
        requests,
    )
    .await;
    // The catalog code the refusal carries, read as a client reads it.
    let refused_with = b.outcome.as_ref().ok().and_then(|answer| {
        let now = checks::sent_at(&answer.headers);
        let decoded = catalog.decode(answer.status, &answer.headers, &answer.body, now);
        let def = catalog.find_wire_code(decoded.code.as_deref()?)?;
        Some(def.code().to_owned())
    });
    let verdict = match b.rate_limited() {
        Some(why) => (Verdict::Skip, why),
        None => idempotency_verdict(a.status(), b.status(), refused_with.as_deref()),
    };
    b.notes.push(Row::new(
        "idempotency",
        b.label(),
        b.status(),
        verdict.0,
        verdict.1,
    ));
    vec![Entry::exchange(a), Entry::exchange(b)]
}

/// Why the idempotency check is skipped when its first request is refused
/// with `status`.
fn first_refused(status: u16) -> String {
    // A 409 to a new key is the payload's conflict: the example, sent by an
    // earlier run, is a duplicate where the API refuses those.
    let conflict = if status == 409 {
        " (a conflict: an API that refuses duplicates may have had this example from an \
         earlier run)"
    } else {
        ""
    };
    format!(
        "the first request was refused with {status}{conflict}, and a server need not keep a \
         refused request's answer; describe a request body example in /openapi.json that \
         succeeds"
    )
}

/// The idempotency check's verdict, from the statuses of the first and the
/// second request and the catalog code the second was refused with.
fn idempotency_verdict(
    first: Option<u16>,
    second: Option<u16>,
    refused_with: Option<&str>,
) -> (Verdict, String) {
    match (first, second) {
        (Some(status), Some(_)) if status >= 400 => (Verdict::Skip, first_refused(status)),
        (Some(_), Some(s @ 300..400)) => (
            Verdict::Fail,
            format!("redirected ({s}) with the key and another payload; expected 422"),
        ),
        (Some(_), Some(s)) if s < 400 => (
            Verdict::Fail,
            format!("the key was accepted ({s}) with another payload; expected 422"),
        ),
        (Some(_), Some(s @ (409 | 422))) => match refused_with {
            Some(code @ ("idempotency_key_reused" | "idempotency_key_in_use")) => (
                Verdict::Pass,
                format!("the key was refused with another payload ({code})"),
            ),
            other => (
                Verdict::Fail,
                format!(
                    "{s} without idempotency_key_reused or idempotency_key_in_use (code {})",
                    other.unwrap_or("none")
                ),
            ),
        },
        (Some(_), Some(s)) => (
            Verdict::Fail,
            format!("expected 422 (idempotency_key_reused) or 409, got {s}"),
        ),
        _ => (Verdict::Fail, "no answer to compare".to_owned()),
    }
}

/// Sends `request` up to `max` times, one after another, until a 429 (or a
/// request that fails, or whose answer breaks off). Keeps the 429 and the
/// first answer of each other error status.
async fn burst(
    client: &Client,
    catalog: &Catalog,
    bar: &ProgressBar,
    request: &Request,
    expect: Expect,
    max: u32,
) -> (usize, Vec<Entry>) {
    let mut found = Vec::new();
    // How many of each error status came, to say what came instead of a
    // 429; the first of each is kept, up to `BURST_ERRORS_KEPT`.
    let mut counts: Vec<(u16, usize)> = Vec::new();
    let mut last = None;
    let mut refused = None;
    for sent in 1..=max {
        let ex = exchange(client, bar, "burst", request, expect.clone()).await;
        let sent = sent as usize;
        // The place among the error statuses of one seen for the first time.
        let mut first_seen = None;
        if let Some(status @ 400..) = ex.status() {
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => {
                    first_seen = Some(counts.len());
                    counts.push((status, 1));
                }
            }
        }
        if let Ok(answer) = &ex.outcome {
            last = Some(answer.headers.clone());
        }
        refused = ex.key_refusal(catalog);
        match ex.status() {
            None => {
                found.push(Entry::exchange(ex));
                return (sent, found);
            }
            Some(429) => {
                let mut ex = Exchange {
                    expect: Expect::one_of(&[429]),
                    ..ex
                };
                ex.notes.push(Row::new(
                    "rate-limit",
                    ex.label(),
                    Some(429),
                    Verdict::Pass,
                    format!("429 after {}", plural(sent, "request", "requests")),
                ));
                found.push(Entry::exchange(ex));
                return (sent, found);
            }
            // A body that broke off (the time ran out before its end, say)
            // ends the burst as a request that failed does: else a server
            // that stalls mid-body would hold it for --timeout a request.
            Some(status) if ex.outcome.as_ref().is_ok_and(|a| a.broken) => {
                let cut = ex.outcome.as_ref().ok().and_then(|a| a.cut.clone());
                let mut ex = ex;
                ex.notes.push(Row::new(
                    "rate-limit",
                    ex.label(),
                    Some(status),
                    Verdict::Fail,
                    format!(
                        "the burst stopped after {}: the body {}",
                        plural(sent, "request", "requests"),
                        cut.unwrap_or_default()
                    ),
                ));
                found.push(Entry::exchange(ex));
                return (sent, found);
            }
            // The first answer of each error status, up to the bound.
            Some(_) if first_seen.is_some_and(|place| place < BURST_ERRORS_KEPT) => {
                found.push(Entry::exchange(ex));
            }
            Some(_) => {}
        }
    }
    // Refused for its key to the end, the burst could not reach the key's limit.
    let (mut verdict, mut reason) = match refused {
        Some(refusal) => (Verdict::Skip, refusal.skip_reason()),
        None => unreached_limit(last.as_ref(), max),
    };
    // Sent to a route the API does not have (no document named one), only
    // 404s came: a limit on the API's routes alone is not reached there.
    if let ([(404, n)], Verdict::Fail) = (&counts[..], verdict)
        && request.path.starts_with(UNKNOWN_ROUTE_PREFIX)
    {
        reason = format!(
            "no 429 after {}, all 404 from a route the API does not have (no document names \
             one): a limit may cover only its routes; pass --route METHOD:PATH",
            plural(*n, "request", "requests")
        );
        verdict = Verdict::Skip;
    }
    if verdict == Verdict::Fail && !counts.is_empty() {
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let mut counted: Vec<String> = counts
            .iter()
            .take(4)
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect();
        if counts.len() > 4 {
            counted.push("…".to_owned());
        }
        reason.push_str(&format!(" (answered {} instead)", counted.join(", ")));
    }
    found.push(Entry::Row(Row::new(
        "rate-limit",
        format!("burst: {} {}", request.method, request.path),
        None,
        verdict,
        reason,
    )));
    (max as usize, found)
}

/// `1 request`, `300 requests`: the size of a burst of `max`.
fn requests(max: u32) -> String {
    plural(max as usize, "request", "requests")
}

/// How the path probe makes up for a route the API does not have begins.
const UNKNOWN_ROUTE_PREFIX: &str = "/tollgate-probe-";

/// How many answers of other error statuses a burst keeps to check (the
/// first of each): each holds a body of up to a MiB, and a server answering
/// every request with a status of its own would otherwise have hundreds kept.
const BURST_ERRORS_KEPT: usize = 8;

/// The verdict on a burst of `max` requests that got no 429, from the
/// `RateLimit` and `RateLimit-Policy` fields of the last answer (else its
/// `X-RateLimit-Remaining` and `X-RateLimit-Limit`, as GitHub sends them): a
/// skip when they show a limit the burst could not reach, a failure when
/// they show none (or one the burst went past).
fn unreached_limit(headers: Option<&HeaderMap>, max: u32) -> (Verdict, String) {
    let no_limit = || {
        (
            Verdict::Fail,
            format!(
                "no 429 after {}: no rate limit, or one above --max-requests",
                requests(max)
            ),
        )
    };
    let Some(headers) = headers else {
        return no_limit();
    };
    let policies = field_items(headers, &RATELIMIT_POLICY);
    let quota = |name: &str| {
        let policy = policies.iter().find(|p| p.name == name)?;
        Some((policy.param("q")?, policy.param("w")?))
    };
    // The policy with the fewest calls left, when it has some left; else
    // the smallest quota.
    let left = field_items(headers, &RATELIMIT)
        .into_iter()
        .filter_map(|item| Some((item.param("r")?, item.name)))
        .min()
        .filter(|(r, _)| *r > 0);
    if let Some((r, name)) = left {
        let allows = match quota(name) {
            Some((q, w)) => format!("{name} allows {q} per {w} s"),
            None => format!("{name} has a limit"),
        };
        return (
            Verdict::Skip,
            format!(
                "{allows}, {r} left after {}: its 429 needs more than --max-requests {max}",
                requests(max)
            ),
        );
    }
    let smallest = policies
        .iter()
        .filter_map(|p| Some((p.param("q")?, p.param("w")?, &p.name)))
        .min();
    match smallest {
        Some((q, w, name)) if q >= u64::from(max) => (
            Verdict::Skip,
            format!("{name} allows {q} per {w} s: its 429 needs more than --max-requests {max}"),
        ),
        Some((q, w, name)) => (
            Verdict::Fail,
            format!(
                "no 429 after {}, though {name} allows {q} per {w} s",
                requests(max)
            ),
        ),
        None => legacy_unreached_limit(headers, max).unwrap_or_else(no_limit),
    }
}

/// [`unreached_limit`] from `X-RateLimit-Remaining` and `X-RateLimit-Limit`,
/// when either can be read.
fn legacy_unreached_limit(headers: &HeaderMap, max: u32) -> Option<(Verdict, String)> {
    let limit = legacy_count(headers, &X_RATELIMIT_LIMIT);
    let left = legacy_count(headers, &X_RATELIMIT_REMAINING).filter(|r| *r > 0);
    let name = "X-RateLimit-Limit";
    Some(match (left, limit) {
        (Some(r), limit) => {
            let limit = limit.map_or_else(
                || "X-RateLimit-Remaining shows a limit".to_owned(),
                |l| format!("{name} is {l}"),
            );
            (
                Verdict::Skip,
                format!(
                    "{limit}, {r} left after {}: its 429 needs more than --max-requests {max}",
                    requests(max)
                ),
            )
        }
        (None, Some(l)) if l >= u64::from(max) => (
            Verdict::Skip,
            format!("{name} is {l}: its 429 needs more than --max-requests {max}"),
        ),
        (None, Some(l)) => (
            Verdict::Fail,
            format!("no 429 after {}, though {name} is {l}", requests(max)),
        ),
        (None, None) => return None,
    })
}

/// The count an `X-RateLimit-*` field starts with: `5000`, or the `100` of
/// `100, 100;window=60` (an early draft's form).
fn legacy_count(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split([',', ';']).next()?.trim();
    first.parse().ok()
}

/// The items of every `name` field line, in order.
fn field_items<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Vec<RateLimitItem<'h>> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(RateLimitItem::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_header_is_no_header_of_http_itself() {
        assert_eq!(parse_header_name(" X-API-Key ").unwrap(), "x-api-key");
        for name in ["Host", "content-length", "Transfer-Encoding", "Connection"] {
            let refused = parse_header_name(name).unwrap_err();
            assert!(
                refused.contains("a header HTTP itself reads"),
                "{name}: {refused}"
            );
        }
    }

    #[test]
    fn a_connection_closed_in_the_tls_handshake_asks_whether_tls_is_spoken() {
        let https = Url::parse("https://127.0.0.1:8443/").unwrap();
        let http = Url::parse("http://127.0.0.1:8080/").unwrap();
        let tls = "does it speak TLS at this address? (http:// for plain HTTP)";
        for why in [
            "client error (Connect): received corrupt message of type InvalidContentType",
            "client error (Connect): tls handshake eof",
            "client error (Connect): Connection reset by peer (os error 104)",
        ] {
            assert_eq!(unreachable_hint(&https, why), tls, "{why}");
        }
        let running = "is the server running, and is this its address?";
        for (url, why) in [
            (
                &https,
                "client error (Connect): Connection refused (os error 111)",
            ),
            (
                &http,
                "client error (Connect): Connection reset by peer (os error 104)",
            ),
        ] {
            assert_eq!(unreachable_hint(url, why), running, "{why}");
        }
    }

    #[test]
    fn idempotency_passes_only_on_the_catalogs_refusal_of_a_kept_answer() {
        let verdict = |a, b, code| idempotency_verdict(Some(a), Some(b), code).0;
        assert_eq!(
            verdict(201, 422, Some("idempotency_key_reused")),
            Verdict::Pass
        );
        assert_eq!(
            verdict(201, 409, Some("idempotency_key_in_use")),
            Verdict::Pass
        );
        // `{}` refused twice by validation: nothing was kept to compare.
        assert_eq!(verdict(422, 422, Some("validation_error")), Verdict::Skip);
        assert_eq!(verdict(409, 409, Some("conflict")), Verdict::Skip);
        // A 422 or 409 for another reason is no idempotency.
        assert_eq!(verdict(201, 422, Some("validation_error")), Verdict::Fail);
        assert_eq!(verdict(201, 409, None), Verdict::Fail);
        assert_eq!(verdict(201, 201, None), Verdict::Fail);
        assert_eq!(verdict(201, 500, None), Verdict::Fail);
        assert_eq!(idempotency_verdict(Some(201), None, None).0, Verdict::Fail);
        // A redirect is no acceptance, and is not called one.
        let (verdict, why) = idempotency_verdict(Some(201), Some(301), None);
        assert_eq!(verdict, Verdict::Fail);
        assert!(why.starts_with("redirected (301)"), "{why}");
    }

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_burst_without_429_fails_unless_the_fields_show_a_limit_out_of_reach() {
        let verdict =
            |fields: &[(&'static str, &'static str)]| unreached_limit(Some(&headers(fields)), 300);
        // A limit that says calls are left: out of the burst's reach.
        let (v, why) = verdict(&[
            (
                "ratelimit-policy",
                r#""per-ip";q=1000;w=60, "per-key";q=5000;w=60"#,
            ),
            ("ratelimit", r#""per-ip";r=700;t=19, "per-key";r=4700;t=4"#),
        ]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert_eq!(
            why,
            "per-ip allows 1000 per 60 s, 700 left after 300 requests: its 429 needs more than \
             --max-requests 300"
        );
        let (v, why) = verdict(&[("ratelimit", r#""burst";r=3"#)]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert!(why.starts_with("burst has a limit"), "{why}");
        // A quota alone, above or below what was sent.
        let (v, why) = verdict(&[("ratelimit-policy", r#""per-ip";q=1000;w=60"#)]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert_eq!(
            why,
            "per-ip allows 1000 per 60 s: its 429 needs more than --max-requests 300"
        );
        let (v, why) = verdict(&[("ratelimit-policy", r#""per-ip";q=100;w=60"#)]);
        assert_eq!(v, Verdict::Fail, "{why}");
        assert!(why.contains("though per-ip allows 100 per 60 s"), "{why}");
        // A limit that says it is spent, yet refused nothing.
        let (v, why) = verdict(&[
            ("ratelimit-policy", r#""per-key";q=100;w=60"#),
            ("ratelimit", r#""per-key";r=0;t=60"#),
        ]);
        assert_eq!(v, Verdict::Fail, "{why}");
        // No fields, or none that can be read: no limit seen.
        for fields in [&[][..], &[("ratelimit", "per-ip;t=3")][..]] {
            let (v, why) = verdict(fields);
            assert_eq!(v, Verdict::Fail, "{fields:?}");
            assert!(why.contains("no rate limit"), "{why}");
        }
        assert_eq!(unreached_limit(None, 300).0, Verdict::Fail);
    }

    #[test]
    fn a_burst_without_429_reads_the_x_ratelimit_fields_when_there_are_no_others() {
        let verdict =
            |fields: &[(&'static str, &'static str)]| unreached_limit(Some(&headers(fields)), 300);
        // GitHub's: calls left after the burst.
        let (v, why) = verdict(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4700"),
            ("x-ratelimit-reset", "1800000030"),
        ]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert_eq!(
            why,
            "X-RateLimit-Limit is 5000, 4700 left after 300 requests: its 429 needs more than \
             --max-requests 300"
        );
        let (v, why) = verdict(&[("x-ratelimit-remaining", "12")]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert!(
            why.starts_with("X-RateLimit-Remaining shows a limit, 12 left after 300 requests"),
            "{why}"
        );
        // A limit alone, above or below what was sent.
        let (v, why) = verdict(&[("x-ratelimit-limit", "1000")]);
        assert_eq!(v, Verdict::Skip, "{why}");
        assert_eq!(
            why,
            "X-RateLimit-Limit is 1000: its 429 needs more than --max-requests 300"
        );
        let (v, why) = verdict(&[("x-ratelimit-limit", "100")]);
        assert_eq!(v, Verdict::Fail, "{why}");
        assert_eq!(
            why,
            "no 429 after 300 requests, though X-RateLimit-Limit is 100"
        );
        // Spent, yet refused nothing; or not a number.
        let (v, _) = verdict(&[("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "0")]);
        assert_eq!(v, Verdict::Fail);
        let (v, why) = verdict(&[("x-ratelimit-remaining", "lots")]);
        assert_eq!(v, Verdict::Fail);
        assert!(why.contains("no rate limit"), "{why}");
    }

    #[test]
    fn a_base_url_is_repeated_without_its_user_info() {
        assert_eq!(
            shown_base_url("http://sk_live_1@127.0.0.1:1/?x=1"),
            "http://***@127.0.0.1:1/?x=1"
        );
        assert_eq!(shown_base_url("http://u:pw@h/"), "http://***@h/");
        assert_eq!(shown_base_url("http://h/a@b"), "http://h/a@b");
        assert_eq!(shown_base_url("nonsense"), "nonsense");
        // An `@` in the path, query or fragment is none of the user info's.
        for (url, shown) in [
            ("http://sk_1@h/?q=a@b", "http://***@h/?q=a@b"),
            ("http://sk_1@h/#x@y", "http://***@h/#x@y"),
            ("http://sk_1@[::1]:99999/", "http://***@[::1]:99999/"),
            // A password with a `/` in it, which ends the authority early.
            ("http://sk_1:p/w@h/", "http://***@h/"),
        ] {
            assert_eq!(shown_base_url(url), shown, "{url}");
        }
        // A user name too long to show whole is not shown in part.
        let long = format!("http://sk_{}@h:99999/", "A".repeat(300));
        assert_eq!(shown_base_url(&long), "http://***@h:99999/");
    }

    #[test]
    fn base_urls() {
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("http://localhost/api/").is_ok());
        for (bad, why) in [
            ("127.0.0.1:8080", "expected an http://"),
            ("ftp://x", "not HTTP"),
            ("http://x/?a=1", "query"),
            ("nonsense", "expected an http://"),
        ] {
            let e = parse_base_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        if !cfg!(feature = "rustls") {
            assert!(
                parse_base_url("https://api.example.com")
                    .unwrap_err()
                    .contains("--features rustls")
            );
        }
    }

    #[test]
    fn no_413_names_what_was_sent_and_asks_for_more_only_after_the_whole() {
        assert_eq!(
            no_413(201, 32 << 20, 32),
            "no 413 within 32 MiB; raise --max-body-mib to find the API's limit"
        );
        assert_eq!(
            no_413(402, 65_545, 1024),
            "answered 402 after 64 KiB of the body: no limit found"
        );
        assert_eq!(
            no_413(200, 9, 1),
            "answered 200 after 9 bytes of the body: no limit found"
        );
        assert_eq!(
            no_413(400, (3 << 20) + (1 << 19), 32),
            "answered 400 after 3.5 MiB of the body: no limit found"
        );
    }

    #[test]
    fn idempotent_payloads_differ() {
        let mut route = routes::parse_route("POST:/v1/scans").unwrap();
        let (a, b) = idempotent_pair(&route);
        assert_eq!(a, b"{}");
        assert_ne!(a, b);
        route.example = Some(json!({"image_data": "iVBOR"}));
        let (a, b) = idempotent_pair(&route);
        let b: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(a, br#"{"image_data":"iVBOR"}"#);
        assert_eq!(b["image_data"], "iVBOR");
        assert!(b["tollgate_probe"].is_string());
        route.example = Some(json!([1]));
        let (_, b) = idempotent_pair(&route);
        let b: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(b["value"], json!([1]));
    }
}
