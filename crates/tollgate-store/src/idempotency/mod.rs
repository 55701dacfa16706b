//! Retry-safe POST and PATCH: [`IdempotencyLayer`], after the IETF httpapi
//! `Idempotency-Key` draft and Stripe's behaviour.
//!
//! - The key (`Idempotency-Key`, sent once, 1–255 visible ASCII characters)
//!   is scoped to the API key of the [`Principal`](crate::Principal). Requests without one
//!   share one anonymous scope, so this layer belongs inside the auth layer
//!   ([`Gatekeeper::route`](crate::Gatekeeper::route) puts it there; by hand,
//!   add [`Gatekeeper::auth`](crate::Gatekeeper::auth) after it). Outside it,
//!   anyone who sends a caller's key and body gets that caller's stored
//!   response.
//! - The first request with a key runs; its response (status, headers, body,
//!   and the [`ApiError`](tollgate::ApiError) it carried) is stored and every
//!   later request with the key gets it back with `Idempotent-Replayed: true`.
//!   Put the credits layer inside this one and the replays are never charged.
//!   Fields of one exchange are not stored (`Date`, `Server-Timing`,
//!   hop-by-hop fields, request ids, `Set-Cookie`), nor a rate limit's
//!   (`RateLimit`, `RateLimit-Policy`, `X-RateLimit-*`): a replay never
//!   reaches a limiter inside this layer, and gets those of the layers
//!   outside it.
//!   A success comes back as it was sent (a retry whose `Accept` would now
//!   get another dialect still gets the first body's shape, as Stripe
//!   replays); an error, its `ApiError` put back, is rendered again in the
//!   retry's dialect by `tollgate-axum`'s layer.
//! - While the first request runs, another with the key gets
//!   `idempotency_key_in_use` (409, `Retry-After: 1`). So does one sent
//!   after the first was answered but before its record landed: a record
//!   (or a lock renewal) held up by another writer's lock is waited for at
//!   most the store's acquire timeout, and the answer goes out without it,
//!   so the retry is told to wait (or, while SQLite's database stays locked,
//!   is itself answered `service_unavailable`) until the record lands, and
//!   then gets the replay; a record held up past the key's lock timeout
//!   may let a retry take the key over and run the request again.
//! - The same key with a different request (SHA-256 of method, path and
//!   query, and body; a multipart body without its boundary, which a client
//!   picks anew each time it builds the form) gets `idempotency_key_reused`
//!   (422).
//! - [`Idempotency::Required`] routes answer `missing_field` (400, field
//!   `Idempotency-Key`) to a request without one; a malformed key, or more
//!   than one `Idempotency-Key` field (the draft lets a client send one; which
//!   is meant cannot be told), gets `validation_error` (400) with a violation
//!   on `Idempotency-Key`.
//! - Not stored, so a retry runs again: responses that tell the client to
//!   retry (5xx, 408, 425, 429) and 415s; refusals of this crate's layers made before
//!   the handler ran (`insufficient_credits`, `usage_limit_exceeded`, …); and
//!   refusals of the request as sent, whose [`ApiError`](tollgate::ApiError)
//!   is `malformed_request`, `unsupported_media_type`, `missing_field`,
//!   `validation_error` or `payload_too_large`, as `tollgate-axum`'s
//!   extractors answer (Stripe saves nothing unless the endpoint began
//!   executing): a body sent without its JSON `Content-Type`, which the
//!   fingerprint leaves out, is refused, and its corrected retry runs. The
//!   code matched is the catalog entry's canonical one, which an app's
//!   catalog may reword, move to another status or spell otherwise in a
//!   dialect, but not rename. A handler that answers one of these codes
//!   after it acted is run again by the retry, so makes its writes
//!   idempotent; a refusal that reaches this layer without an `ApiError`
//!   (the plain text of axum's own `Json`, which `tollgate-axum` reads only
//!   outside it) is stored, but for a 415.
//! - Once the handler has answered, the key is spent whatever becomes of the
//!   response: if the request is dropped before the response is stored (its
//!   client gone, a timeout), a retry gets `conflict` (409) saying the
//!   request ran, and is neither run nor charged again. A request dropped
//!   before its handler answered (its client gone, or the gate's timeout: a
//!   504, which like any 5xx tells the client to retry) frees its key, even
//!   when its claim of the key lands after the drop (the claim waited on
//!   another request's), so a retry runs the handler again: a handler that
//!   must not run twice makes its own writes idempotent. The
//!   record's writes run on tasks of their own, so a dropped request cannot
//!   cut them off, and one that fails (a dropped connection) is tried twice
//!   more, 0.1 s and then 1 s later.
//! - Records are kept 24 h by default ([`Gatekeeper::idempotency_retention`](crate::Gatekeeper::idempotency_retention)),
//!   then ignored; their rows stay until
//!   [`Store::purge_expired_idempotency`](crate::Store::purge_expired_idempotency)
//!   deletes them, which an app runs from a timer (`tollgate serve` does every
//!   ten minutes) or the table only grows;
//!   a running request holds its key under a lock (60 s by default,
//!   [`Gatekeeper::idempotency_lock_timeout`](crate::Gatekeeper::idempotency_lock_timeout))
//!   that it renews every third of that while its handler works, so a retry
//!   takes a key over only from a request that stopped renewing (its node
//!   died, or stalled past the lock). Ownership is a random token the request
//!   writes to the record when it claims or takes over the key, not the
//!   lock's time: its renewals and its last write match the token, so a
//!   request dropped while a renewal is under way still frees (or spends) its
//!   key, and a request whose key was taken over can neither free it nor
//!   overwrite the outcome of the request that took it.
//!
//! Bodies are buffered (up to [`Gatekeeper::max_body_bytes`](crate::Gatekeeper::max_body_bytes),
//! 10 MiB by default; larger requests get `payload_too_large`). A response
//! larger than that is not kept, but its key is spent all the same (the
//! handler ran): a retry gets `conflict` (409) saying so, and is neither run
//! nor charged again. Such a response still goes out whole when its body says
//! its size up front; one that does not is found too large only while being
//! read, and the request gets `internal_error` instead (still charged: the
//! credits layer settled when the handler answered). A handler that may answer
//! that much should say its body's size (`Content-Length`), or the gatekeeper
//! raise the limit. Methods other than POST and PATCH pass through untouched,
//! and so does a request an outer idempotency layer has claimed already (a
//! global layer around a route's own).
//! The key's lock is renewed while a response body is read too, so a body
//! that streams slowly never lets a retry run the handler again.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tollgate_store::{Gatekeeper, Idempotency, NewAccount, NewKey, Store};
//! use tower::{Layer, Service, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
//! store.create_account(NewAccount::new("acme").credits(10)).await?;
//! let key = store.create_key(NewKey::new("acme", ["scans:write"])).await?;
//!
//! let handler = tower::service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(201).body(Full::from("scan_1")).unwrap())
//! });
//! let gate = Gatekeeper::new(store.clone());
//! let mut svc = gate.route().scope("scans:write").cost(1).idempotency(Idempotency::Optional).layer(handler);
//!
//! let post = || Request::post("/v1/scans")
//!     .header("x-api-key", key.secret())
//!     .header("idempotency-key", "order-42")
//!     .body(Full::from("{}"));
//! let first = svc.ready().await?.call(post()?).await?;
//! let again = svc.ready().await?.call(post()?).await?;
//! assert_eq!(first.status(), 201);
//! assert_eq!(again.status(), 201);
//! assert_eq!(again.headers()["idempotent-replayed"], "true");
//! assert_eq!(store.account("acme").await?.balance(), 9); // charged once
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod future;
mod layer;
mod record;
mod service;

pub use future::IdempotencyFuture;
pub use layer::{Idempotency, IdempotencyLayer};
pub use service::IdempotencyService;
pub(crate) use service::{Claimed, abandon};
