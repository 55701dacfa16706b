use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tollgate::{ApiError, Violation};

use super::record::{
    decode_error, decode_headers, encode_error, encode_headers, fingerprint, scope_of, valid_key,
};
use super::{Idempotency, IdempotencyFuture};
use crate::backend::{IdempotencyRow, LockToken};
use crate::clock::unix;
use crate::credits::KeptCharge;
use crate::gatekeeper::{NotExecuted, Shared, caller_path, caller_uri};
use crate::store::Begin;
use crate::{Gatekeeper, Principal, Rejection, Store, StoreError, detach};
use tollgate::headers::IDEMPOTENT_REPLAYED;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const HEADER: &str = "Idempotency-Key";

/// The service of [`IdempotencyLayer`](super::IdempotencyLayer).
#[derive(Clone, Debug)]
pub struct IdempotencyService<S> {
    pub(crate) inner: S,
    pub(crate) gate: Gatekeeper,
    pub(crate) mode: Idempotency,
}

/// What becomes of a claimed key. Until the handler has answered, a request
/// that never finishes (its future dropped, the handler failed) frees the key
/// so a retry can run; once it has answered, the handler's work is done and
/// the key is spent even if the response is then lost. Each write runs on a
/// task of its own, so dropping the request cannot cut it off.
///
/// Every write matches the guard's token, which the record holds for as long
/// as this request owns it: a renewal that lands unseen (the request dropped
/// while it ran) changes only the lock's time, so the guard's last write
/// still finds the key; and a request whose key was taken over (it outlived
/// its lock) cannot free, or overwrite the outcome of, the request that took
/// it.
struct KeyGuard {
    store: Store,
    scope: String,
    key: String,
    /// Names this request as the record's owner.
    token: LockToken,
    /// The record's `locked_until` as this request last set it: a renewal
    /// that would not move it further writes nothing.
    lock: i64,
    /// Whether a retry took the key over: renewing it is then pointless.
    lost: bool,
    if_dropped: IfDropped,
}

/// What a dropped [`KeyGuard`] writes.
enum IfDropped {
    /// Frees the key: the handler has not answered.
    Abandon,
    /// Spends the key with this record: the handler has answered.
    Spend(Box<IdempotencyRow>),
    /// Nothing: the key's fate is written.
    Nothing,
}

impl KeyGuard {
    /// Frees the key for a retry, waiting for it at most the store's acquire
    /// timeout (the write goes on past it, and a retry meanwhile is told the
    /// key is in use).
    async fn abandon(mut self) {
        self.if_dropped = IfDropped::Nothing;
        let (store, scope, key) = (self.store.clone(), self.scope.clone(), self.key.clone());
        let (freed, wait) = (
            abandon(store, scope, key, self.token, self.lock),
            self.store.acquire_timeout(),
        );
        detach::finish_or_leave(self.store.writes(), wait, freed).await;
    }

    /// Holds the key another lock timeout from now: the new lock, or `None`
    /// once the key is lost. Runs on a task of its own, so the handler runs
    /// on while it waits on the database, and a renewal no one waits for
    /// any more (the handler answered, the request was dropped) still
    /// finishes rather than being cut off.
    fn renewal(&self, lock_timeout: Duration) -> Renewal {
        let (store, scope, key, token, lock) = (
            self.store.clone(),
            self.scope.clone(),
            self.key.clone(),
            self.token,
            self.lock,
        );
        let writes = self.store.writes().clone();
        Box::pin(async move {
            let renew = async move {
                store
                    .idempotency_renew(&scope, &key, token, lock, lock_timeout)
                    .await
            };
            detach::finish(&writes, renew)
                .await
                // The renewal panicked.
                .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
        })
    }

    /// Takes in a renewal's outcome; `false` once the key is lost (this
    /// request stalled past its lock, and a retry took the key). A lost key
    /// stays lost: this request's writes will find it so, and change nothing.
    fn renewed(&mut self, renewed: Result<Option<i64>, StoreError>) -> bool {
        match renewed {
            Ok(Some(lock)) => self.lock = lock,
            Ok(None) => {
                tracing::warn!("an idempotency key was taken over while its request still ran");
                self.lost = true;
                return false;
            }
            Err(error) => tracing::warn!(%error, "an idempotency key's lock could not be renewed"),
        }
        true
    }

    /// From now on, a drop spends the key with `record`.
    fn answered(&mut self, record: IdempotencyRow) {
        self.if_dropped = IfDropped::Spend(Box::new(record));
    }

    /// Stores the outcome: replayed to every retry. Waits for it at most the
    /// store's acquire timeout: past it (a lock another writer holds), the
    /// response goes out and the write goes on, a retry meanwhile being told
    /// the key is in use.
    async fn complete(mut self, record: IdempotencyRow) {
        self.if_dropped = IfDropped::Nothing;
        let (store, wait) = (self.store.clone(), self.store.acquire_timeout());
        let stored = complete(store, record, self.token, self.lock);
        detach::finish_or_leave(self.store.writes(), wait, stored).await;
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let store = self.store.clone();
        match std::mem::replace(&mut self.if_dropped, IfDropped::Nothing) {
            IfDropped::Abandon => {
                let (scope, key) = (
                    std::mem::take(&mut self.scope),
                    std::mem::take(&mut self.key),
                );
                let freed = abandon(store, scope, key, self.token, self.lock);
                detach::start(self.store.writes(), freed);
            }
            IfDropped::Spend(record) => {
                let stored = complete(store, *record, self.token, self.lock);
                detach::start(self.store.writes(), stored);
            }
            IfDropped::Nothing => {}
        }
    }
}

/// Frees a key held under `lock` (its `locked_until`). If this fails until
/// the lock has lapsed, the record stays `running` until then, and retries
/// get `idempotency_key_in_use` meanwhile.
pub(crate) async fn abandon(store: Store, scope: String, key: String, token: LockToken, lock: i64) {
    let freed = while_locked(&store, token, lock, || {
        store.idempotency_abandon(&scope, &key, token)
    })
    .await;
    if let Err(error) = freed {
        tracing::warn!(%error, "an idempotency key could not be freed; retries wait for its lock to time out");
    }
}

/// Stores the outcome of a key held under `lock` (its `locked_until`). If
/// this fails until the lock has lapsed, the record stays `running`, and a
/// retry after that runs the request again.
async fn complete(store: Store, record: IdempotencyRow, token: LockToken, lock: i64) {
    match while_locked(&store, token, lock, || {
        store.idempotency_complete(record.clone(), token)
    })
    .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "an idempotent request's outcome was not stored: its key was taken over (the \
             outcome of the request that took it stands), or a try whose answer was lost \
             stored it already"
        ),
        Err(error) => tracing::error!(
            %error,
            "the outcome of an idempotent request could not be stored; a retry after the lock \
             timeout runs it again"
        ),
    }
}

/// Runs `write`, a write of a key's owner, three times at least, as
/// [`detach::persistently`] does, and past them, while it fails for the
/// database out of reach or locked, until it lands or the owner's `lock`
/// (Unix seconds on the store's clock) has lapsed, after which a retry may
/// take the key over: 0.1 s after the first failure, then about every
/// second (0.5 to 1.5 s, spread by the key's token, so that the writes held
/// up by an outage do not all come back in one instant). A database out of
/// reach for less than the lock timeout then neither runs the request again
/// nor holds its key past the lock. A store that is stopping
/// ([`finish_writes`](Store::finish_writes) begun) stops at three tries
/// rather than be held.
///
/// Repeating an owner's write is safe: it matches the owner's token, and
/// one that landed before its answer was lost finds the record done or
/// gone and changes nothing.
async fn while_locked<T, F, Fut>(
    store: &Store,
    token: LockToken,
    lock: i64,
    mut write: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let spread = Duration::from_millis(500 + token.0.unsigned_abs() % 1000);
    let mut failures = 0u32;
    loop {
        let error = match write().await {
            Ok(done) => return Ok(done),
            Err(error) => error,
        };
        let done_trying =
            store.writes().is_closed() || unix(store.now()) > lock || !out_of_reach(&error);
        if failures >= 2 && done_trying {
            return Err(error);
        }
        if failures == 0 {
            tracing::warn!(%error, "an idempotency key's write failed; trying again until its lock lapses");
        }
        let wait = match failures {
            0 => Duration::from_millis(100),
            1 => Duration::from_secs(1),
            _ => spread,
        };
        failures += 1;
        tokio::time::sleep(wait).await;
    }
}

/// Whether a write failed for the database out of reach, busy or locked
/// (which passes), rather than for what it wrote (which trying again does
/// not change).
fn out_of_reach(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Database(
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed
        )
    ) || detach::never_landed(error)
}

/// What a claim found: the key, owned under a guard, or what stops this
/// request from owning it.
enum Claim {
    Owned(KeyGuard),
    Found(Begin),
}

/// Claims the key on a task of its own. A request dropped while the claim's
/// statements run (waiting on another request's uncommitted claim of the
/// same key, say) leaves the claim running; a claim that lands then has its
/// guard dropped, which frees the key again rather than leaving it `running`
/// until its lock times out. So does a claim not made within the store's
/// acquire timeout (another writer holds the database or the key): the
/// request is answered `service_unavailable` rather than held.
async fn claim(
    shared: std::sync::Arc<Shared>,
    scope: String,
    key: String,
    fingerprint: Vec<u8>,
) -> Result<Claim, StoreError> {
    let (writes, wait) = (
        shared.store.writes().clone(),
        shared.store.acquire_timeout(),
    );
    let claimed = detach::finish_within(&writes, wait, async move {
        let store = &shared.store;
        let begin = store
            .idempotency_begin(
                &scope,
                &key,
                &fingerprint,
                shared.retention,
                shared.lock_timeout,
            )
            .await?;
        Ok(match begin {
            Begin::Started { lock, token } => Claim::Owned(KeyGuard {
                store: store.clone(),
                scope,
                key,
                token,
                lock,
                lost: false,
                if_dropped: IfDropped::Abandon,
            }),
            found => Claim::Found(found),
        })
    });
    match claimed.await {
        Ok(Some(claimed)) => claimed,
        // The claim panicked.
        Ok(None) => Err(StoreError::Database(sqlx::Error::WorkerCrashed)),
        Err(unanswered) => Err(unanswered),
    }
}

/// A lock renewal under way.
type Renewal = std::pin::Pin<Box<dyn Future<Output = Result<Option<i64>, StoreError>> + Send>>;

/// Runs `call` (the handler, then the reading of its body), renewing the key's
/// lock every third of the lock timeout while it works: a retry takes a key
/// over only from a request that stopped renewing (its node died), never from
/// one that is merely slow. `call` is polled while a renewal waits on the
/// database (which the handler may itself be holding). When it finishes,
/// `settle` tells the guard what its output means for the key at once, and
/// then a renewal under way is waited for, so the guard knows whether the
/// key was lost before it writes: a drop while that renewal finishes leaves
/// the key as `settle` said (spent by a handler that answered), not freed.
/// The wait is at most the store's acquire timeout: a renewal held up by a
/// lock another writer holds goes on on its own task, and the guard's last
/// write, which matches its token, is made without knowing.
async fn renewing<F: Future>(
    call: F,
    guard: &mut KeyGuard,
    lock_timeout: Duration,
    settle: impl FnOnce(&F::Output, &mut KeyGuard),
) -> F::Output {
    let mut call = std::pin::pin!(call);
    if !guard.lost {
        let every = (lock_timeout / 3).max(Duration::from_millis(100));
        let mut next = tokio::time::Instant::now() + every;
        let mut renewal: Option<Renewal> = None;
        loop {
            tokio::select! {
                output = &mut call => {
                    settle(&output, guard);
                    if let Some(renewal) = renewal {
                        // Waited for at most the acquire timeout: past it
                        // (a lock another writer holds), the answer goes
                        // on and the renewal finishes alone.
                        let wait = guard.store.acquire_timeout();
                        match tokio::time::timeout(wait, renewal).await {
                            Ok(renewed) => {
                                guard.renewed(renewed);
                            }
                            Err(_) => tracing::warn!(
                                "an idempotency key's lock renewal is still waiting: the answer \
                                 goes on without it"
                            ),
                        }
                    }
                    return output;
                }
                () = tokio::time::sleep_until(next), if renewal.is_none() => {
                    renewal = Some(guard.renewal(lock_timeout));
                }
                renewed = async { renewal.as_mut().expect("guarded by is_some").await }, if renewal.is_some() => {
                    renewal = None;
                    if !guard.renewed(renewed) {
                        break;
                    }
                    next = tokio::time::Instant::now() + every;
                }
            }
        }
    }
    let output = call.await;
    settle(&output, guard);
    output
}

/// Marks a request whose key an idempotency layer has claimed: a layer
/// nested inside it (a global one around a route's own) passes the request
/// through instead of finding its own claim in use, and the credits layer
/// tells it the charge it kept.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claimed;

/// The codes that refuse the request as sent (its body's syntax, type, size
/// or fields): what `tollgate-axum`'s extractors answer before the endpoint
/// begins work. Canonical codes: an app's catalog may reword an entry, move
/// its status or respell it per dialect, never rename it. Not kinds: an
/// app's own `invalid_argument` errors may come after its handler acted.
const REFUSED_AS_SENT: [&str; 5] = [
    "malformed_request",
    "unsupported_media_type",
    "missing_field",
    "validation_error",
    "payload_too_large",
];

/// Whether a response spends its key: the handler acted on the request. A
/// response that tells the client to retry (5xx, 408, 425, 429), a 415 (a
/// media type is refused before any work), one whose [`ApiError`] refuses
/// the request as sent ([`REFUSED_AS_SENT`]), or one marked [`NotExecuted`]
/// frees it for a retry.
fn spends_key<B>(response: &Response<B>) -> bool {
    let status = response.status();
    let extensions = response.extensions();
    let refused_as_sent = extensions
        .get::<ApiError>()
        .is_some_and(|err| REFUSED_AS_SENT.contains(&err.code()));
    !(status.is_server_error()
        || matches!(status.as_u16(), 408 | 415 | 425 | 429)
        || refused_as_sent
        || extensions.get::<NotExecuted>().is_some())
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for IdempotencyService<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = IdempotencyFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let handled =
            self.mode != Idempotency::Off && matches!(*req.method(), Method::POST | Method::PATCH);
        if !handled {
            return IdempotencyFuture::inner(self.inner.call(req));
        }
        let shared = &self.gate.inner;
        let mut sent = req
            .headers()
            .get_all(tollgate::headers::IDEMPOTENCY_KEY)
            .iter();
        // A key sent twice is malformed: which one is meant cannot be told.
        let (first, again) = (sent.next(), sent.next());
        let key = match first {
            None if self.mode == Idempotency::Required => {
                let err = shared.error("missing_field").with("field", HEADER);
                return IdempotencyFuture::rejected(shared.reject(
                    err,
                    req.headers(),
                    caller_path(&req),
                ));
            }
            None => return IdempotencyFuture::inner(self.inner.call(req)),
            Some(value) => match value
                .to_str()
                .ok()
                .filter(|k| again.is_none() && valid_key(k))
            {
                Some(key) => key.to_owned(),
                None => {
                    // Told by its violation, as the other layers tell a
                    // `validation_error`, so that a dialect without
                    // violations (`flat`) still names the header.
                    let violation = Violation::new(
                        HEADER,
                        "invalid_value",
                        "must be sent once, as 1-255 visible ASCII characters",
                    );
                    let told = violation.told();
                    let err = shared
                        .error("validation_error")
                        .violation(violation)
                        .with_default_message(told);
                    return IdempotencyFuture::rejected(shared.reject(
                        err,
                        req.headers(),
                        caller_path(&req),
                    ));
                }
            },
        };
        if req.extensions().get::<Claimed>().is_some() {
            // An outer idempotency layer holds this request's key already.
            return IdempotencyFuture::inner(self.inner.call(req));
        }
        let scope = req
            .extensions()
            .get::<Principal>()
            .map(|p| scope_of(p.key_id()))
            .unwrap_or_default();
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        IdempotencyFuture::boxed(Box::pin(run(
            self.gate.inner.clone(),
            service,
            req,
            scope,
            key,
        )))
    }
}

async fn run<S, ReqB, ResB>(
    shared: std::sync::Arc<Shared>,
    mut service: S,
    req: Request<ReqB>,
    scope: String,
    key: String,
) -> Result<Response<ResB>, S::Error>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>>,
    ReqB: Body<Data = Bytes> + From<Bytes>,
    ReqB::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + From<Bytes>,
    ResB::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    // As the client sent it: under `Router::nest`, requests to two resources
    // (`/accounts/a/transfers`, `/accounts/b/transfers`) would otherwise
    // share one fingerprint, and the second get the first's response.
    let uri = caller_uri(&parts.uri, &parts.extensions);
    let path = uri.path().to_owned();
    let body = match Limited::new(body, shared.max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let err = if e.is::<LengthLimitError>() {
                // This layer's own limit.
                shared
                    .error("payload_too_large")
                    .with("limit", shared.max_body)
            } else if is_length_limit(&*e) {
                return Ok(outer_limit(&shared, &parts.headers, &path));
            } else {
                shared
                    .error("malformed_request")
                    .with("reason", "the body could not be read")
            };
            return Ok(shared.reject(err, &parts.headers, &path));
        }
    };
    let content_type = parts.headers.get(http::header::CONTENT_TYPE);
    let fp = fingerprint(&parts.method, uri, content_type, &body);
    let store = &shared.store;
    let mut guard = match claim(shared.clone(), scope.clone(), key.clone(), fp.clone()).await {
        Ok(Claim::Owned(guard)) => guard,
        Ok(Claim::Found(Begin::Started { .. })) => unreachable!("a started claim is owned"),
        Ok(Claim::Found(Begin::Replay(row))) if row.body.is_none() => {
            return Ok(shared.reject(not_kept(&shared), &parts.headers, &path));
        }
        Ok(Claim::Found(Begin::Replay(row))) => return Ok(replay(&shared, *row)),
        Ok(Claim::Found(Begin::InUse)) => {
            let err = shared
                .error("idempotency_key_in_use")
                .retry_after(Duration::from_secs(1));
            return Ok(shared.reject(err, &parts.headers, &path));
        }
        Ok(Claim::Found(Begin::Reused)) => {
            return Ok(shared.reject(
                shared.error("idempotency_key_reused"),
                &parts.headers,
                &path,
            ));
        }
        Err(e) => return Ok(shared.rejection(&Rejection::from(e), &parts.headers, &path)),
    };

    let request_id = parts.headers.get(tollgate::headers::X_REQUEST_ID).cloned();
    let record = |status: StatusCode,
                  headers: &http::HeaderMap,
                  extensions: &http::Extensions,
                  body: Option<Bytes>| {
        let now = unix(store.now());
        IdempotencyRow {
            api_key_id: scope.clone(),
            idem_key: key.clone(),
            fingerprint: fp.clone(),
            state: "done".to_owned(),
            locked_until: now,
            status: Some(i64::from(status.as_u16())),
            headers: Some(encode_headers(headers)),
            body: body.map(Vec::from),
            error: extensions.get::<ApiError>().map(encode_error),
            created_at: now,
            expires_at: now
                .saturating_add(i64::try_from(shared.retention.as_secs()).unwrap_or(i64::MAX)),
            charge_id: extensions.get::<KeptCharge>().map(|kept| kept.0),
        }
    };
    parts.extensions.insert(Claimed);
    let call = service.call(Request::from_parts(parts, ReqB::from(body)));
    let response = renewing(call, &mut guard, shared.lock_timeout, |output, guard| {
        // The handler ran: from here on the key is spent, whatever happens
        // to the response. A record without a body tells retries so.
        if let Some(response) = output.as_ref().ok().filter(|r| spends_key(r)) {
            let (status, headers) = (response.status(), response.headers());
            guard.answered(record(status, headers, response.extensions(), None));
        }
    })
    .await?;
    if !spends_key(&response) {
        guard.abandon().await;
        return Ok(response);
    }
    let status = response.status();
    let (rparts, rbody) = response.into_parts();
    let done = |body: Option<Bytes>| record(status, &rparts.headers, &rparts.extensions, body);
    let max_body = u64::try_from(shared.max_body).unwrap_or(u64::MAX);
    let declared = rparts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if rbody.size_hint().lower().max(declared.unwrap_or(0)) > max_body {
        // Too large to keep, and known to be (by the body or its
        // `Content-Length`) before a byte is read: it goes out whole, unread.
        guard.complete(done(None)).await;
        return Ok(Response::from_parts(rparts, rbody));
    }
    // The key stays locked while the body is read: a slow body (a stream
    // still being produced) must not let a retry take the key over and run
    // the handler again.
    let read = Limited::new(rbody, shared.max_body).collect();
    match renewing(read, &mut guard, shared.lock_timeout, |_, _| {}).await {
        Ok(collected) => {
            let rbody = collected.to_bytes();
            guard.complete(done(Some(rbody.clone()))).await;
            Ok(Response::from_parts(rparts, ResB::from(rbody)))
        }
        Err(error) => {
            // Too large, found out while reading it, or cut off: what was
            // read is gone, so this response is lost.
            guard.complete(done(None)).await;
            let mut headers = http::HeaderMap::new();
            if let Some(id) = request_id {
                headers.insert(tollgate::headers::X_REQUEST_ID, id);
            }
            let cause = match error.is::<LengthLimitError>() {
                true => format!(
                    "the handler's response, over max_body_bytes ({} bytes), is too large \
                     to keep for its idempotency key: the key is spent and any charge kept",
                    shared.max_body
                ),
                false => format!(
                    "the handler's response failed while kept for its idempotency key \
                     (the key is spent and any charge kept): {error}"
                ),
            };
            tracing::warn!(status = status.as_u16(), "{cause}");
            let lost = shared.error("internal_error").with_source(cause);
            Ok(shared.reject(lost, &headers, &path))
        }
    }
}

/// `payload_too_large` for an outer layer's body limit, which arrives
/// wrapped in the body's error. Its size is that layer's to name: the error
/// in the extensions leaves it out for that layer to fill in when it renders
/// the error again (`tollgate-axum`'s does). The body rendered here goes out
/// as it is without such a layer, so a message that names `{limit}` is
/// worded there without the number rather than show the placeholder.
fn outer_limit<B: From<Bytes>>(
    shared: &Shared,
    headers: &http::HeaderMap,
    path: &str,
) -> Response<B> {
    let err = shared.error("payload_too_large");
    if !err.def().message().placeholders().any(|p| p == "limit") {
        return shared.reject(err, headers, path);
    }
    let worded = err
        .clone()
        .with_message("The request body exceeds the size limit.");
    let mut response = shared.reject(worded, headers, path);
    response.extensions_mut().insert(err);
    response
}

/// The answer to a retry whose first request ran but whose response was too
/// large to keep.
fn not_kept(shared: &Shared) -> ApiError {
    shared.error("conflict").with(
        "reason",
        format!(
            "the request with this Idempotency-Key ran, but its response was not kept (over {} \
             bytes, or cut off while being read): read the resource instead",
            shared.max_body
        ),
    )
}

/// The stored response, marked `Idempotent-Replayed: true`, with its error
/// (if any) back in the extensions for an outer layer to re-render.
fn replay<B: From<Bytes>>(shared: &Shared, row: IdempotencyRow) -> Response<B> {
    let status = row
        .status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(B::from(Bytes::from(row.body.unwrap_or_default())));
    *response.status_mut() = status;
    *response.headers_mut() = row
        .headers
        .as_deref()
        .map(decode_headers)
        .unwrap_or_default();
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if let Some(err) = row
        .error
        .as_deref()
        .and_then(|e| decode_error(e, &shared.catalog))
    {
        response.extensions_mut().insert(err);
    }
    response
}

/// Whether a body error is, or wraps, a length limit (this layer's own, or an
/// outer body limit such as `tollgate-axum`'s, which arrives wrapped).
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}
