//! [`Gatekeeper`]: what the layers share (store, catalog, dialect, idempotency
//! settings) and how they answer when they turn a request away.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response};
use tollgate::{ApiError, Catalog, Context, Dialect};

use crate::{AuthLayer, CreditsLayer, IdempotencyLayer, Rejection, RouteLayer, Store};

/// The layers' shared configuration, and the factory of the layers.
///
/// Every layer that turns a request away answers with a response rendered in
/// [`dialect`](Self::dialect) (default [`Dialect::Problem`]) from
/// [`catalog`](Self::catalog) (default: the built-in one) and puts the
/// [`ApiError`] in the response's extensions, so an outer `tollgate-axum`
/// layer re-renders it in the negotiated dialect with the request id.
///
/// ```
/// use tollgate::Dialect;
/// use tollgate_store::{Gatekeeper, Idempotency, Store};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
/// let gate = Gatekeeper::new(store).dialect(Dialect::Envelope);
/// // POST /v1/scans needs `scans:write`, costs 1 credit, idempotency supported:
/// let route = gate.route().scope("scans:write").cost(1).idempotency(Idempotency::Optional);
/// # let _ = route;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Gatekeeper {
    pub(crate) inner: Arc<Shared>,
}

#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) dialect: Dialect,
    pub(crate) retention: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_body: usize,
}

/// Marks a response made by one of this crate's layers before the handler
/// ran: the idempotency layer does not store such a response as the key's
/// result (Stripe's rule: nothing is saved unless the endpoint began executing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotExecuted;

/// How long idempotency records are kept by default: 24 hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a request may hold its idempotency key before another may take it over.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request or response body the idempotency layer buffers: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 << 20;

impl Gatekeeper {
    /// Layers over `store`, answering from the built-in catalog in `problem`.
    pub fn new(store: Store) -> Gatekeeper {
        Gatekeeper {
            inner: Arc::new(Shared {
                store,
                catalog: Arc::new(Catalog::builtin()),
                dialect: Dialect::Problem,
                retention: DEFAULT_RETENTION,
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
                max_body: DEFAULT_MAX_BODY,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The catalog errors come from (an app's catalog may reword them).
    pub fn catalog(self, catalog: impl Into<Arc<Catalog>>) -> Self {
        let catalog = catalog.into();
        self.with(|s| s.catalog = catalog)
    }

    /// The dialect of responses rendered here (an outer `tollgate-axum`
    /// layer re-renders them in the negotiated one).
    pub fn dialect(self, dialect: Dialect) -> Self {
        self.with(|s| s.dialect = dialect)
    }

    /// How long an idempotency key's response is kept and replayed (default 24 h).
    pub fn idempotency_retention(self, retention: Duration) -> Self {
        self.with(|s| s.retention = retention)
    }

    /// How long a running request's hold on its idempotency key lasts unless
    /// renewed (default 60 s; kept in whole seconds, rounded up). The request
    /// renews it every third of this while its handler works; a retry takes
    /// the key over only once a hold has run out (the request's node died or
    /// stalled that long).
    pub fn idempotency_lock_timeout(self, timeout: Duration) -> Self {
        self.with(|s| s.lock_timeout = timeout)
    }

    /// The largest body the idempotency layer buffers (default 10 MiB);
    /// a larger request gets `payload_too_large`. Under `tollgate-axum`'s
    /// layer with a smaller `body_limit`, that limit bounds what it reads
    /// (of a compressed body too, decoded by `Decompression`), and is the one
    /// the 413 names.
    pub fn max_body_bytes(self, bytes: usize) -> Self {
        self.with(|s| s.max_body = bytes)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The catalog.
    pub fn catalog_ref(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// A layer that authenticates every request (see [`AuthLayer`]).
    pub fn auth(&self) -> AuthLayer {
        AuthLayer::new(self.clone())
    }

    /// A layer that charges `cost` credits per request (see [`CreditsLayer`]).
    pub fn credits(&self, cost: i64) -> CreditsLayer {
        CreditsLayer::new(self.clone(), cost)
    }

    /// A layer that makes POST and PATCH retry-safe (see [`IdempotencyLayer`]).
    pub fn idempotency(&self) -> IdempotencyLayer {
        IdempotencyLayer::new(self.clone())
    }

    /// One layer declaring a route's needs: scopes, cost, idempotency (see [`RouteLayer`]).
    pub fn route(&self) -> RouteLayer {
        RouteLayer::new(self.clone())
    }

    /// The error for a rejection, from this catalog.
    pub fn error(&self, rejection: &Rejection) -> ApiError {
        rejection.to_api_error(&self.inner.catalog)
    }
}

/// The request's URI as the client sent it: under axum's `Router::nest` the
/// URI a route's layers see has lost the nest's prefix; axum keeps the
/// original as `OriginalUri`.
#[cfg_attr(not(feature = "axum"), allow(unused_variables))]
pub(crate) fn caller_uri<'a>(
    uri: &'a http::Uri,
    extensions: &'a http::Extensions,
) -> &'a http::Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = extensions.get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    uri
}

/// The path of the request as the client sent it ([`caller_uri`]), for a
/// `problem` body's `instance`.
pub(crate) fn caller_path<B>(req: &http::Request<B>) -> &str {
    caller_uri(req.uri(), req.extensions()).path()
}

impl Shared {
    /// The response for `err`: rendered standalone, with the error in its extensions.
    pub(crate) fn reject<B: From<Bytes>>(
        &self,
        err: ApiError,
        headers: &HeaderMap,
        path: &str,
    ) -> Response<B> {
        let generated;
        let request_id = match headers
            .get(tollgate::headers::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| tollgate::headers::is_valid_request_id(id))
        {
            Some(id) => id,
            None => {
                generated = uuid::Uuid::now_v7().to_string();
                &generated
            }
        };
        let ctx = Context::new(self.store.now())
            .request_id(request_id)
            .instance(path);
        let rendered = self.catalog.renderer(self.dialect).response(&err, &ctx);
        let (mut parts, body) = rendered.into_parts();
        parts.extensions.insert(err);
        parts.extensions.insert(NotExecuted);
        Response::from_parts(parts, B::from(Bytes::from(body)))
    }

    pub(crate) fn rejection<B: From<Bytes>>(
        &self,
        r: &Rejection,
        headers: &HeaderMap,
        path: &str,
    ) -> Response<B> {
        self.reject(r.to_api_error(&self.catalog), headers, path)
    }

    pub(crate) fn error(&self, code: &str) -> ApiError {
        crate::error::error(&self.catalog, code)
    }
}
