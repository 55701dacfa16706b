//! Sending the probe's requests and keeping what came back.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aho_corasick::AhoCorasick;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use reqwest::Url;

use crate::error::plural;

/// The most of a response body kept: enough for any error envelope.
const MAX_BODY: usize = 1 << 20;

/// The most of the OpenAPI document read: large APIs publish several MiB.
pub(crate) const MAX_DOCUMENT: usize = 16 << 20;

/// The size of each chunk of the oversized body.
const CHUNK: usize = 64 * 1024;

/// The pause between chunks of the oversized body (at most 64 MiB/s).
const PACE: Duration = Duration::from_millis(1);

/// Which key a request presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// None at all.
    Absent,
    /// `--key`, when given (none otherwise).
    Given,
    /// A well-formed key that no server issued.
    Invalid,
}

/// A request body.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// No body.
    Empty,
    /// These bytes, with this `Content-Type`.
    Bytes(String, Vec<u8>),
    /// A chunked JSON body (no `Content-Length`) that grows until the server
    /// answers or it reaches this many bytes.
    Oversized(String, u64),
}

/// One request to send.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// The method.
    pub(crate) method: Method,
    /// The path below the base URL, starting with `/`.
    pub(crate) path: String,
    /// The key presented.
    pub(crate) key: Key,
    /// Extra headers.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub(crate) body: Body,
    /// The most of the answer's body kept.
    pub(crate) max_answer: usize,
}

impl Request {
    /// A request with no key, no extra header and no body.
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            key: Key::Absent,
            headers: Vec::new(),
            body: Body::Empty,
            max_answer: MAX_BODY,
        }
    }
}

/// A response, its body bounded.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// The status.
    pub(crate) status: u16,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body's first bytes, up to the request's `max_answer`.
    pub(crate) body: Vec<u8>,
    /// Why the body is not whole, when it is not: longer than was read, or
    /// cut off (the connection failed, the time ran out).
    pub(crate) cut: Option<String>,
    /// Whether it was cut off: its read failed before its end.
    pub(crate) broken: bool,
    /// How much of an oversized body had been sent when the answer came
    /// (none for another body).
    pub(crate) body_sent: Option<u64>,
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) struct Failed {
    /// The connection could not be made at all.
    pub(crate) unreachable: bool,
    /// What happened, every cause in turn.
    pub(crate) message: String,
}

/// An HTTP client bound to the API under test.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// The base URL, without user info.
    base: Url,
    /// The header the key is sent in, and its value.
    key: Option<(HeaderName, HeaderValue)>,
    /// The same for a well-formed key that no server issued.
    invalid_key: (HeaderName, HeaderValue),
    /// Finds any part of the key as given and as sent in what the server
    /// answers (a server may repeat it, in its body or a header), to hide it
    /// ([`secret_finder`]).
    finder: Option<AhoCorasick>,
    /// How long a request may take (`--timeout`).
    timeout: Duration,
}

impl Client {
    /// A client for `base`; the key (if any) goes in `key_header`, as
    /// `Bearer <key>` when that is `Authorization`.
    ///
    /// A user name and password in `base` are taken out of it, so that no
    /// request carries them unasked (reqwest would send them as basic auth
    /// on every one). Without `key` they are the key: sent as
    /// `Authorization: Basic`, as an invalid key is then.
    pub(crate) fn new(
        base: Url,
        key: Option<&str>,
        key_header: HeaderName,
        timeout: Duration,
    ) -> Result<Client, String> {
        let (base, user_info) = split_user_info(base);
        let invalid = format!("tg_probe_invalid_{}", uuid::Uuid::now_v7().simple());
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        let (key, invalid_key) = match (key, user_info) {
            (None, Some(UserInfo { user, password })) => {
                let user_info = [&user[..], b":", &password[..]].concat();
                secrets.extend([user, password]);
                (
                    Some((AUTHORIZATION, basic(&user_info))),
                    (AUTHORIZATION, basic(format!("{invalid}:").as_bytes())),
                )
            }
            (key, _) => {
                let bearer = key_header == AUTHORIZATION;
                let value = |key: &str| {
                    let text = if bearer {
                        format!("Bearer {key}")
                    } else {
                        key.to_owned()
                    };
                    let mut value = HeaderValue::from_str(&text)?;
                    value.set_sensitive(true);
                    Ok::<_, http::header::InvalidHeaderValue>((key_header.clone(), value))
                };
                secrets.extend(key.map(|k| k.as_bytes().to_vec()));
                // A header value may hold bytes past ASCII, which servers
                // read each their own way: a key is ASCII.
                let key = key
                    .map(|k| {
                        let sent = k.is_ascii().then(|| value(k).ok()).flatten();
                        sent.ok_or_else(|| "the key must be visible ASCII".to_owned())
                    })
                    .transpose()?;
                (key, value(&invalid).map_err(|e| e.to_string())?)
            }
        };
        // `Basic dXNlcjpwdw==` as sent, and its encoded part.
        if let Some((_, value)) = &key {
            let sent = value.as_bytes();
            secrets.push(sent.to_vec());
            if let Some(space) = sent.iter().position(|b| *b == b' ') {
                secrets.push(sent[space + 1..].to_vec());
            }
        }
        secrets.retain(|s| s.len() >= MIN_SECRET);
        // The longest first: a key inside the value sent is hidden with it.
        // Equal ones side by side, so that each is searched for once.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("tollgate-probe/", env!("CARGO_PKG_VERSION")))
            // The API's own answer is what is graded, and a redirect to
            // another host would carry the key (in a header of its own
            // name, which reqwest does not strip) where it does not belong.
            .redirect(reqwest::redirect::Policy::none())
            // A fresh connection per request: a server may close one as it
            // refuses a request (an oversized body), and a request sent on
            // it just after would fail for no fault of the API.
            .pool_max_idle_per_host(0)
            // Bodies are graded as sent: none in a coding (without the
            // field, RFC 9110 lets a server pick any, gzip among them).
            .default_headers(HeaderMap::from_iter([(
                ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            )]));
        // A proxy would answer for the API, and loopback never needs one.
        if base.host_str().is_some_and(is_loopback) {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| chain(&e))?;
        Ok(Client {
            http,
            base,
            key,
            invalid_key,
            finder: secret_finder(&secrets),
            timeout,
        })
    }

    /// Whether a key was given: `--key`, or the base URL's user info.
    pub(crate) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The base URL's path (`/` when it names none).
    pub(crate) fn base_path(&self) -> &str {
        self.base.path()
    }

    /// The base URL as shown to people: without its user name and password
    /// (an API key given as the user name, as Stripe takes it, is the
    /// credential).
    pub(crate) fn shown_base(&self) -> String {
        self.base.to_string()
    }

    /// The absolute URL of `path`.
    fn url(&self, path: &str) -> Result<Url, Failed> {
        let base = self.base.as_str().trim_end_matches('/');
        let url = format!("{base}{path}");
        Url::parse(&url).map_err(|e| Failed {
            unreachable: false,
            message: format!("invalid URL {}{path}: {e}", self.shown_base()),
        })
    }

    /// Sends `req` and reads the answer.
    pub(crate) async fn send(&self, req: &Request) -> Result<Answer, Failed> {
        let url = self.url(&req.path)?;
        let mut builder = self.http.request(req.method.clone(), url);
        match (req.key, &self.key) {
            (Key::Given, Some((name, value))) => builder = builder.header(name, value),
            (Key::Invalid, _) => {
                let (name, value) = &self.invalid_key;
                builder = builder.header(name, value);
            }
            _ => {}
        }
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        let answered = Arc::new(AtomicBool::new(false));
        let grown = Arc::new(AtomicU64::new(0));
        builder = match &req.body {
            Body::Empty => builder,
            Body::Bytes(content_type, bytes) => builder
                .header(CONTENT_TYPE, content_type)
                .body(bytes.clone()),
            Body::Oversized(content_type, limit) => {
                let body = oversized(*limit, Arc::clone(&answered), Arc::clone(&grown));
                builder
                    .header(CONTENT_TYPE, content_type)
                    .body(reqwest::Body::wrap_stream(body))
            }
        };
        let sent = builder.send().await;
        // Stop growing an oversized body: the server has answered.
        answered.store(true, Ordering::Relaxed);
        let body_sent =
            matches!(req.body, Body::Oversized(..)).then(|| grown.load(Ordering::Relaxed));
        let mut response = sent.map_err(|e| Failed {
            unreachable: e.is_connect(),
            message: self.no_answer(e),
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut cut = None;
        let mut broken = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = req.max_answer.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() < room {
                        continue;
                    }
                    // Full: no more is read (a server could send for ever),
                    // nor waited for (one that stalls at the bound would
                    // hold the request until the timeout). A body that ends
                    // just as it fills the bound is whole.
                    if chunk.len() > room || !ended_already(&mut response) {
                        let mib = req.max_answer >> 20;
                        cut = Some(format!("fills the {mib} MiB read (it may go on)"));
                    }
                    break;
                }
                Ok(None) => break,
                // The head is what matters; a body cut short is kept as
                // read, and why is told.
                Err(e) => {
                    let length = header_length(&headers);
                    cut = Some(self.stopped(body.len(), length, e));
                    broken = true;
                    break;
                }
            }
        }
        let mut answer = Answer {
            status,
            headers,
            body,
            cut,
            broken,
            body_sent,
        };
        self.hide_secrets(&mut answer);
        Ok(answer)
    }

    /// Why no answer came to a request: reqwest's words, but for a
    /// timeout and a head too large, whose words say little.
    fn no_answer(&self, e: reqwest::Error) -> String {
        let timed_out = e.is_timeout() && !e.is_connect();
        // reqwest's errors repeat the URL, which the caller knows (and
        // which may be thousands of characters long).
        let why = chain(&e.without_url());
        if timed_out {
            format!("no answer within {}", self.shown_timeout())
        } else if why.contains("message head is too large") {
            "the response head is too large to read (too many header lines, or too long)".to_owned()
        } else {
            why
        }
    }

    /// Why a body stopped short after `read` bytes, of `length` when its
    /// `Content-Length` says: `stopped after 17 of 1000 bytes: connection
    /// reset`, or `was cut after 17 of 1000 bytes: …` when the timeout,
    /// which bounds the whole request, ended it (bytes may still have been
    /// arriving, slowly).
    fn stopped(&self, read: usize, length: Option<u64>, e: reqwest::Error) -> String {
        let read = match length {
            Some(length) => format!("{read} of {length} bytes"),
            None => plural(read, "byte", "bytes"),
        };
        if e.is_timeout() {
            format!(
                "was cut after {read}: the whole request may take {} at most",
                self.shown_timeout()
            )
        } else {
            format!("stopped after {read}: {}", chain(&e.without_url()))
        }
    }

    /// `2 s (--timeout)`.
    fn shown_timeout(&self) -> String {
        format!("{} s (--timeout)", self.timeout.as_secs())
    }

    /// `answer` with the key, wherever the server repeated it (an error
    /// saying `Invalid key: Bearer …`, a header echoing the request's), as
    /// `***`: whatever the report quotes of it then shows no key.
    fn hide_secrets(&self, answer: &mut Answer) {
        let Some(finder) = &self.finder else {
            return;
        };
        if let Some(hidden) = without(&answer.body, finder) {
            answer.body = hidden;
        }
        let echoed: Vec<HeaderName> = answer
            .headers
            .iter()
            .filter(|(_, value)| without(value.as_bytes(), finder).is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for name in echoed {
            let values: Vec<HeaderValue> = answer
                .headers
                .get_all(&name)
                .iter()
                .map(|value| match without(value.as_bytes(), finder) {
                    Some(hidden) => {
                        HeaderValue::from_bytes(&hidden).unwrap_or(HeaderValue::from_static("***"))
                    }
                    None => value.clone(),
                })
                .collect();
            answer.headers.remove(&name);
            for value in values {
                answer.headers.append(name.clone(), value);
            }
        }
    }

    /// `text` of the report with every part of a secret as `***`: what the
    /// checks quote of an answer after reading it (a JSON string's escapes
    /// undone) may show what its bytes did not.
    pub(crate) fn hide_secrets_in(&self, text: &mut String) {
        let Some(finder) = &self.finder else {
            return;
        };
        if let Some(hidden) = without(text.as_bytes(), finder) {
            // A part of a secret that is not ASCII (a user name given
            // percent-encoded) may be found from inside a character, whose
            // other bytes are then written U+FFFD.
            *text = String::from_utf8_lossy(&hidden).into_owned();
        }
    }
}

/// The shortest key hidden from answers: a shorter one is too likely to be
/// ordinary text of the answer.
const MIN_SECRET: usize = 8;

/// The longest part of a key an answer may show: a server that echoes a
/// key cut short (`X-Request-Id: tg_live_BEjj3YTRuZnb…`) or in another case
/// shows this much of it at most.
const SECRET_RUN: usize = 12;

/// A finder of every run of [`SECRET_RUN`] characters of each secret (all
/// of a shorter one), in any case: one pass over an answer finds them all,
/// where a search for each run took seconds for a long token and a large
/// body. `None` when there is no secret.
fn secret_finder(secrets: &[Vec<u8>]) -> Option<AhoCorasick> {
    let parts = secrets
        .iter()
        .flat_map(|secret| secret.windows(secret.len().min(SECRET_RUN)));
    let finder = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(parts)
        .ok()?;
    (finder.patterns_len() > 0).then_some(finder)
}

/// `text` with every part of a secret `finder` finds in it as `***`, runs
/// that touch or overlap hidden as one; `None` when it has none. A part
/// written with JSON's escapes (`tg\/live`, `\u0074g_live`) is found too,
/// and hidden escapes and all: a server that writes the key so sends it
/// all the same.
fn without(text: &[u8], finder: &AhoCorasick) -> Option<Vec<u8>> {
    let unescaped = Unescaped::new(text);
    // Overlapping, so that a run longer than one part is found whole.
    let mut found: Vec<(usize, usize)> = finder
        .find_overlapping_iter(&*unescaped.plain)
        .map(|part| (unescaped.at(part.start()), unescaped.at(part.end())))
        .collect();
    if found.is_empty() {
        return None;
    }
    found.sort_unstable();
    let mut out = Vec::with_capacity(text.len());
    let mut from = 0;
    let mut found = found.into_iter().peekable();
    while let Some((start, mut end)) = found.next() {
        while let Some(&(_, next_end)) = found.peek().filter(|(next, _)| *next <= end) {
            end = end.max(next_end);
            found.next();
        }
        out.extend_from_slice(&text[from..start]);
        out.extend_from_slice(b"***");
        from = end;
    }
    out.extend_from_slice(&text[from..]);
    Some(out)
}

/// A text with JSON's escapes of ASCII characters undone (`\/` is `/`,
/// `\u0041` is `A`; a secret has no other characters), and where each
/// stretch of it is in the text.
struct Unescaped<'t> {
    plain: Cow<'t, [u8]>,
    /// `(in plain, in the text)` at the start and after each escape: a
    /// byte of `plain` is as far past the last one before it in the text.
    shifts: Vec<(usize, usize)>,
}

impl<'t> Unescaped<'t> {
    fn new(text: &'t [u8]) -> Unescaped<'t> {
        let mut shifts = vec![(0, 0)];
        if !text.contains(&b'\\') {
            return Unescaped {
                plain: Cow::Borrowed(text),
                shifts,
            };
        }
        let mut plain = Vec::with_capacity(text.len());
        let mut at = 0;
        while let Some(&byte) = text.get(at) {
            let escaped = match text.get(at..) {
                Some([b'\\', b'/', ..]) => Some((b'/', 2)),
                Some([b'\\', b'u', digits @ ..]) => digits
                    .get(..4)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .filter(u8::is_ascii)
                    .map(|ascii| (ascii, 6)),
                _ => None,
            };
            match escaped {
                Some((byte, len)) => {
                    plain.push(byte);
                    at += len;
                    shifts.push((plain.len(), at));
                }
                None => {
                    plain.push(byte);
                    at += 1;
                }
            }
        }
        Unescaped {
            plain: Cow::Owned(plain),
            shifts,
        }
    }

    /// Where byte `plain` of the plain text starts in the text (its end,
    /// for the plain text's length).
    fn at(&self, plain: usize) -> usize {
        let before = self.shifts.partition_point(|&(p, _)| p <= plain);
        let (p, t) = self.shifts[before.saturating_sub(1)];
        t + (plain - p)
    }
}

/// The `Content-Length` of a response, when it has a valid one.
fn header_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the body has ended, as far as what has already arrived tells:
/// its next chunk is polled once, not waited for.
fn ended_already(response: &mut reqwest::Response) -> bool {
    use futures_util::FutureExt;
    matches!(response.chunk().now_or_never(), Some(Ok(None)))
}

/// `{"data":"xxxx…"}` in 64 KiB chunks, ending early (still valid JSON)
/// once `answered` is set, and at `limit` bytes at most; `grown` counts
/// the bytes handed out.
fn oversized(
    limit: u64,
    answered: Arc<AtomicBool>,
    grown: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let filler = Bytes::from(vec![b'x'; CHUNK]);
    let opening = Bytes::from_static(b"{\"data\":\"");
    let closing = Bytes::from_static(b"\"}");
    let budget = limit.saturating_sub((opening.len() + closing.len()) as u64);
    futures_util::stream::unfold(Some(0u64), move |state| {
        let (filler, opening, closing, answered, grown) = (
            filler.clone(),
            opening.clone(),
            closing.clone(),
            Arc::clone(&answered),
            Arc::clone(&grown),
        );
        async move {
            let sent = state?;
            let (chunk, next) = match sent.checked_sub(1) {
                None => (opening, Some(1)),
                Some(filled) if filled >= budget || answered.load(Ordering::Relaxed) => {
                    (closing, None)
                }
                Some(filled) => {
                    // Pause between chunks, so an answer is read as soon as
                    // it comes, before the server closes the connection on
                    // the unread rest.
                    tokio::time::sleep(PACE).await;
                    let n = (budget - filled).min(CHUNK as u64);
                    let chunk = filler.slice(..usize::try_from(n).unwrap_or(CHUNK));
                    (chunk, Some(sent + n))
                }
            };
            grown.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Some((Ok(chunk), next))
        }
    })
}

/// A URL's user name and password, percent-decoded (the password empty
/// when there was none). Kept apart: a user name may itself hold a `:` once
/// decoded.
#[derive(Debug, PartialEq)]
struct UserInfo {
    user: Vec<u8>,
    password: Vec<u8>,
}

/// `url` without its user name and password, and they, if it had any.
fn split_user_info(mut url: Url) -> (Url, Option<UserInfo>) {
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
    let user = decoded(url.username());
    let password = url.password().map(decoded);
    if user.is_empty() && password.is_none() {
        return (url, None);
    }
    // Fails only for URLs that cannot have user info, which have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let password = password.unwrap_or_default();
    (url, Some(UserInfo { user, password }))
}

/// `Basic <base64 of user_info>`, marked sensitive.
fn basic(user_info: &[u8]) -> HeaderValue {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(user_info);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// `127.0.0.1`, `[::1]`, `localhost`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An error and its causes, each once: `error sending request: … : connection refused`.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn chunks(limit: u64, answered: bool) -> Vec<Bytes> {
        let flag = Arc::new(AtomicBool::new(answered));
        let grown = Arc::new(AtomicU64::new(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let chunks: Vec<Bytes> = rt.block_on(async {
            let chunks: Vec<_> = oversized(limit, flag, Arc::clone(&grown)).collect().await;
            chunks.into_iter().map(Result::unwrap).collect()
        });
        // What was handed out is counted.
        let total: usize = chunks.iter().map(Bytes::len).sum();
        assert_eq!(grown.load(Ordering::Relaxed), total as u64);
        chunks
    }

    fn collect(limit: u64, answered: bool) -> Vec<u8> {
        chunks(limit, answered).concat()
    }

    #[test]
    fn the_oversized_body_is_json_of_at_most_the_limit() {
        let body = collect(200_000, false);
        assert_eq!(body.len(), 200_000);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(value["data"].as_str().unwrap().bytes().all(|b| b == b'x'));
        // Once answered, it closes at once.
        assert_eq!(collect(200_000, true), b"{\"data\":\"\"}");
    }

    /// 64 KiB a chunk, a chunk a millisecond: up to 64 MiB/s.
    #[test]
    fn the_oversized_body_grows_by_64_kib_a_chunk() {
        let sizes: Vec<usize> = chunks(200_000, false).iter().map(Bytes::len).collect();
        let last = 200_000 - 11 - 3 * 65_536;
        assert_eq!(sizes, [9, 65_536, 65_536, 65_536, last, 2]);
    }

    #[test]
    fn user_info_is_taken_out_of_the_url_as_basic_auth_takes_it() {
        let url = |text: &str| Url::parse(text).unwrap();
        let parts = |user: &[u8], password: &[u8]| {
            Some(UserInfo {
                user: user.to_vec(),
                password: password.to_vec(),
            })
        };
        let (base, user_info) = split_user_info(url("http://sk_live_1@127.0.0.1:8080/v1"));
        assert_eq!(base.as_str(), "http://127.0.0.1:8080/v1");
        assert_eq!(user_info, parts(b"sk_live_1", b""));
        let (base, user_info) = split_user_info(url("http://a%40b%3Ac:p%3Ass@host/"));
        assert_eq!(base.as_str(), "http://host/");
        assert_eq!(user_info, parts(b"a@b:c", b"p:ss"));
        let (_, user_info) = split_user_info(url("http://:secret@host/"));
        assert_eq!(user_info, parts(b"", b"secret"));
        assert_eq!(split_user_info(url("http://host/")).1, None);
        assert_eq!(basic(b"sk_live_1:"), "Basic c2tfbGl2ZV8xOg==");
    }

    /// A user name holding a `:` once decoded is hidden whole, apart from
    /// the password, and so is the `Basic` value that joins them.
    #[test]
    fn a_user_name_with_a_colon_is_one_secret() {
        let base = Url::parse("http://svc%3Aaccount-1:pw-secret-1@host/").unwrap();
        let client = Client::new(base, None, AUTHORIZATION, Duration::from_secs(1)).unwrap();
        let finder = client.finder.as_ref().unwrap();
        let hidden = |text: &[u8]| without(text, finder).map(|t| String::from_utf8(t).unwrap());
        assert_eq!(hidden(b"svc:account-1").as_deref(), Some("***"));
        assert_eq!(hidden(b"pw-secret-1").as_deref(), Some("***"));
        let sent = basic(b"svc:account-1:pw-secret-1");
        assert_eq!(hidden(sent.as_bytes()).as_deref(), Some("***"));
        assert_eq!(hidden(b"svc:account").as_deref(), None);
    }

    #[test]
    fn a_key_is_visible_ascii() {
        let base = Url::parse("http://127.0.0.1:8080/").unwrap();
        let client = |key| {
            Client::new(
                base.clone(),
                Some(key),
                AUTHORIZATION,
                Duration::from_secs(1),
            )
        };
        for key in ["tg_live_\u{e9}", "tg_live\n1", "tg_\u{7f}"] {
            assert_eq!(
                client(key).unwrap_err(),
                "the key must be visible ASCII",
                "{key:?}"
            );
        }
        assert!(client("tg_live_1").unwrap().has_key());
    }

    /// What a document's server path is matched against: the base URL's own.
    #[test]
    fn the_base_path_is_the_base_urls_path() {
        let base_path = |url: &str| {
            let base = Url::parse(url).unwrap();
            let client = Client::new(base, None, AUTHORIZATION, Duration::from_secs(1)).unwrap();
            client.base_path().to_owned()
        };
        assert_eq!(
            base_path("http://key-1234@127.0.0.1:8080/api/v1/"),
            "/api/v1/"
        );
        assert_eq!(base_path("http://127.0.0.1:8080"), "/");
    }

    #[test]
    fn every_repeat_and_part_of_a_secret_is_hidden() {
        let finder = secret_finder(&[b"abcabc".to_vec()]).unwrap();
        let hide =
            |text: &str| without(text.as_bytes(), &finder).map(|t| String::from_utf8(t).unwrap());
        assert_eq!(hide("no key here"), None);
        assert_eq!(hide("abcabc").as_deref(), Some("***"));
        assert_eq!(
            hide("key abcabc, again abcabc.").as_deref(),
            Some("key ***, again ***.")
        );
        // Repeats that overlap or touch are one.
        assert_eq!(hide("abcabcabc").as_deref(), Some("***"));
        assert_eq!(hide("abcabcabcabc").as_deref(), Some("***"));
        assert_eq!(hide("xabcab").as_deref(), None);
        // A long key cut short, or in another case, is hidden from its
        // twelfth character on: what shows is less than twelve of it.
        let key = b"tg_live_BEjj3YTRuZnbXrXP0J284qjmHjUTKiyaqgEl8Y4pZJFu";
        let finder = secret_finder(&[key.to_vec()]).unwrap();
        let hide =
            |text: &str| without(text.as_bytes(), &finder).map(|t| String::from_utf8(t).unwrap());
        assert_eq!(
            hide("id tg_live_BEjj3YTRuZnbXrXP0J284qjmH end").as_deref(),
            Some("id *** end")
        );
        assert_eq!(
            hide("bearer TG_LIVE_BEJJ3YTRUZNBXRXP0J284QJMHJUTKIYAQGEL8Y4PZJFU").as_deref(),
            Some("bearer ***")
        );
        assert_eq!(hide("tg_live_BEj").as_deref(), None);
        // Written with JSON's escapes, whole or in part: hidden with them.
        assert_eq!(
            hide(r#"{"k":"tg_live_BEjj3YTRuZnb\/x"}"#).as_deref(),
            Some(r#"{"k":"***\/x"}"#)
        );
        let escaped: String = key.iter().map(|b| format!("\\u{b:04x}")).collect();
        assert_eq!(hide(&format!("a {escaped} b")).as_deref(), Some("a *** b"));
        let mixed = r#""\u0074g_live_BEjj3\u0059TRuZnbXrXP0J2 end""#;
        assert_eq!(hide(mixed).as_deref(), Some(r#""*** end""#));
        // Slashes escaped inside a key that has them.
        let finder = secret_finder(&[b"tgk/abcd/efgh/ijkl/mnop/qrst".to_vec()]).unwrap();
        let hidden = without(br#"key tgk\/abcd\/efgh\/ijkl\/mnop\/qrst."#, &finder);
        assert_eq!(hidden.as_deref(), Some(&b"key ***."[..]));
        // Escapes of other characters, and broken ones, are left as they are.
        assert_eq!(hide(r#"\u00e9\u12 \"#), None);
    }

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.0.0.2", "[::1]", "localhost", "LOCALHOST"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "example.com", "[::2]", "localhost.example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn error_chains_name_each_cause_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(chain(&outer), "refused");
    }
}
