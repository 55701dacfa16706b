//! [`Tollgate`], the configuration, and [`TollgateLayer`], the tower layer it builds.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue};
use tollgate::{Catalog, Dialect};
use tower::Layer;

use super::TollgateService;
use crate::negotiate::Negotiation;

/// The status of `validation_error` and `missing_field`: 400 (seed 004
/// converts 422 to 400) or 422 (FastAPI's and axum's habit).
///
/// ```
/// use tollgate_axum::{Tollgate, ValidationStatus};
/// let layer = Tollgate::new(tollgate::Catalog::builtin())
///     .validation_status(ValidationStatus::UnprocessableEntity)
///     .layer();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationStatus {
    /// 400 Bad Request.
    BadRequest,
    /// 422 Unprocessable Content.
    UnprocessableEntity,
}

impl ValidationStatus {
    fn as_u16(self) -> u16 {
        match self {
            ValidationStatus::BadRequest => 400,
            ValidationStatus::UnprocessableEntity => 422,
        }
    }
}

/// Where error timestamps come from (the `status-code` dialect prints one).
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What every request shares.
pub(crate) struct Shared {
    /// The layer's configuration.
    pub(crate) config: Tollgate,
    /// The `Vary` value of the errors the layer writes: the request headers
    /// that can change their dialect.
    pub(crate) error_vary: Option<&'static HeaderValue>,
    /// The `Vary` value of a [`Reply`](crate::Reply): the request headers
    /// that can change whether it wears the envelope.
    pub(crate) reply_vary: Option<&'static HeaderValue>,
    /// The dialects an entry of the catalog is [sent in](tollgate::ErrorDef::sent_in)
    /// `problem` from: their errors keep the request's path, for its
    /// `instance`, as `problem`'s do.
    pub(crate) problem_from: Vec<Dialect>,
}

/// Configures the layer that makes every response of a service answer from a
/// catalog; [`Tollgate::layer`] builds it.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tollgate::{Catalog, Dialect};
/// use tollgate_axum::Tollgate;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(
///         Tollgate::new(Catalog::builtin())
///             .dialect(Dialect::Envelope)
///             .pin_path("/v1", Dialect::Flat)
///             .body_limit(1024 * 1024)
///             .timeout(Duration::from_secs(30))
///             .layer(),
///     );
/// ```
#[derive(Clone)]
pub struct Tollgate {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) negotiation: Negotiation,
    pub(crate) body_limit: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) clock: Clock,
    pub(crate) rewrite_unmarked: bool,
}

impl fmt::Debug for Tollgate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tollgate")
            .field(
                "catalog",
                &self.catalog.iter().map(|d| d.code()).collect::<Vec<_>>(),
            )
            .field("negotiation", &self.negotiation)
            .field("body_limit", &self.body_limit)
            .field("timeout", &self.timeout)
            .field("rewrite_unmarked", &self.rewrite_unmarked)
            .finish()
    }
}

impl Tollgate {
    /// Errors from `catalog`, written in the `problem` dialect until
    /// [`dialect`](Tollgate::dialect) says otherwise; no body limit beyond
    /// axum's default (2 MiB) and no timeout until set. The catalog is
    /// taken as the other layers take it, owned or shared
    /// (`Arc<Catalog>`).
    pub fn new(catalog: impl Into<Arc<Catalog>>) -> Tollgate {
        Tollgate {
            catalog: catalog.into(),
            negotiation: Negotiation::new(Dialect::Problem),
            body_limit: None,
            timeout: None,
            clock: Arc::new(SystemTime::now),
            rewrite_unmarked: true,
        }
    }

    /// The dialect errors are written in unless negotiation picks another.
    pub fn dialect(mut self, dialect: Dialect) -> Tollgate {
        self.negotiation.default = dialect;
        self
    }

    /// Whether `Accept: application/problem+json` gets the `problem` dialect
    /// whatever else applies (on by default), when rated no lower than JSON
    /// (`application/json`, else `application/*`, else `*/*`; where errors
    /// are `jsonapi`, the higher of `application/json` and its own
    /// `application/vnd.api+json`). Off, the
    /// OpenAPI document should say so too:
    /// `ErrorMedia::new(dialect).problem_on_accept(false)`
    /// (`tollgate::docs::openapi::ErrorMedia`).
    pub fn problem_on_accept(mut self, enabled: bool) -> Tollgate {
        self.negotiation.problem_on_accept = enabled;
        self
    }

    /// The request header that names the API version, for [`pin`](Tollgate::pin).
    /// It may be `Accept`, for media-type versioning
    /// (`Accept: application/vnd.scans.v1+json`): a pin then matches by
    /// media type, as [`pin`](Tollgate::pin) says.
    ///
    /// ```
    /// use tollgate::Dialect;
    /// use tollgate_axum::Tollgate;
    /// // Clients sending `X-API-Version: 2023-01-01` keep the legacy flat shape.
    /// let layer = Tollgate::new(tollgate::Catalog::builtin())
    ///     .dialect(Dialect::Envelope)
    ///     .version_header(http::HeaderName::from_static("x-api-version"))
    ///     .pin("2023-01-01", Dialect::Flat)
    ///     .layer();
    /// ```
    pub fn version_header(mut self, name: HeaderName) -> Tollgate {
        self.negotiation.version_header = Some(name);
        self
    }

    /// Requests whose [version header](Tollgate::version_header) is `version`
    /// get `dialect`. A version that is not a valid header value never matches.
    ///
    /// The header's first line is compared with `version` byte for byte, the
    /// whitespace around both left out: `X-API-Version: 2024-01-01` matches
    /// `pin("2024-01-01", …)`; `2024-01-01, 2025-01-01` and a second line
    /// do not.
    ///
    /// When the version header is `Accept`, `version` is a media type, looked
    /// for in every range of every `Accept` line. A range names it when its
    /// type and subtype are the same, in any case, and it has the parameters
    /// `version` has, if any (names in any case, values the same once
    /// unquoted); the range's other parameters do not matter. A range with
    /// `q=0` (not acceptable) or a malformed weight names none; wildcards
    /// (`*/*`, `application/*`) name none. When the ranges name several
    /// pinned media types, the one with the highest weight wins, the first
    /// listed of equals; a range that names several pins counts for the one
    /// pinned first.
    ///
    /// ```
    /// use http::header::ACCEPT;
    /// use tollgate::Dialect;
    /// use tollgate_axum::Tollgate;
    /// // `Accept: application/vnd.scans.v1+json; charset=utf-8`,
    /// // `Application/Vnd.Scans.V1+JSON` and
    /// // `application/vnd.scans.v1+json, */*;q=0.1` get `flat`;
    /// // `application/vnd.scans.v1+json;q=0` does not.
    /// let layer = Tollgate::new(tollgate::Catalog::builtin())
    ///     .dialect(Dialect::Envelope)
    ///     .version_header(ACCEPT)
    ///     .pin("application/vnd.scans.v1+json", Dialect::Flat)
    ///     .layer();
    /// ```
    pub fn pin(mut self, version: &str, dialect: Dialect) -> Tollgate {
        if let Ok(value) = HeaderValue::from_str(version.trim()) {
            self.negotiation.versions.push((value, dialect));
        }
        self
    }

    /// Requests under the path `prefix` (`/v1` matches `/v1` and `/v1/scans`,
    /// not `/v10`) get `dialect`; the first matching prefix wins. When the
    /// layer sits on a router under `Router::nest`, a prefix matches the path
    /// the caller sent (axum's `OriginalUri`) or the path under the nest.
    ///
    /// A path always starts with `/`: a prefix written without it (`"v1"`)
    /// means the same as with it (`"/v1"`), as does one with a trailing `/`.
    /// Paths are compared segment by segment, empty ones left out:
    /// `//v1/scans` (a base URL ending in `/` joined to `/v1/scans`) is
    /// under `/v1`.
    pub fn pin_path(mut self, prefix: &str, dialect: Dialect) -> Tollgate {
        let prefix = prefix.trim();
        let prefix = if prefix.starts_with('/') {
            prefix.to_owned()
        } else {
            format!("/{prefix}")
        };
        self.negotiation.prefixes.push((prefix, dialect));
        self
    }

    /// Rejects request bodies over `bytes` with `payload_too_large`: up front
    /// when `Content-Length` says so (the handler never runs), and mid-stream
    /// when a chunked body grows past it. Also sets axum's extractor limit.
    ///
    /// Set the limit here rather than with axum's `DefaultBodyLimit`: the 413
    /// names the limit, and one set elsewhere is unknown to the layer, which
    /// then names axum's default (2 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Tollgate {
        self.body_limit = Some(bytes);
        self
    }

    /// Answers `timeout` when the service has not produced a response within
    /// `deadline`, counted from the first time it waits: what it does before
    /// (in `call`, or up to its first `.await` that is not ready) cannot be
    /// interrupted anyway. The status is the catalog entry's (504 built in; set
    /// `[errors.timeout] status = 408` in a catalog for 408). The deadline is
    /// a Tokio timer: the runtime needs its time driver (`#[tokio::main]` and
    /// `Runtime::new` have it; a `Builder` needs `enable_time`). The deadline
    /// is the response head's: a body streamed after it (an event stream, a
    /// download) and a WebSocket a `101` opens run on past it.
    ///
    /// The text of an unmarked error, read for its meaning, is read under the
    /// same deadline (1 s when none is set; that wait is a Tokio timer too):
    /// one that has not arrived by then is left out, and the status alone
    /// answers (the response came in time). A deadline too long for the
    /// clock (`Duration::MAX`) is no deadline.
    pub fn timeout(mut self, deadline: Duration) -> Tollgate {
        self.timeout = Some(deadline);
        self
    }

    /// The status of `validation_error` and `missing_field` (the catalog's,
    /// 400 built in, until set), in [`catalog`](Self::catalog) too, so that
    /// documents made from it say what the server answers.
    pub fn validation_status(mut self, status: ValidationStatus) -> Tollgate {
        let status = status.as_u16();
        for code in ["validation_error", "missing_field"] {
            if self.catalog.get(code).is_some_and(|d| d.status() != status) {
                let toml = format!("[errors.{code}]\nstatus = {status}\n");
                // A status of 400 or 422 on an existing entry always loads.
                let _ = Arc::make_mut(&mut self.catalog).load_toml("<validation_status>", &toml);
            }
        }
        self
    }

    /// Where error timestamps come from (`SystemTime::now` by default).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let layer = tollgate_axum::Tollgate::new(tollgate::Catalog::builtin()).clock(move || fixed).layer();
    /// ```
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Tollgate {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether error responses that carry no `ApiError` (axum's rejections,
    /// empty 404/405s, a handler's own `(StatusCode, text)` or JSON error)
    /// are rewritten as the catalog error they mean (on by default).
    /// Statuses with no catalog meaning (418, 451, …) always pass through.
    pub fn rewrite_unmarked(mut self, enabled: bool) -> Tollgate {
        self.rewrite_unmarked = enabled;
        self
    }

    /// The catalog errors are written from (with the
    /// [`validation_status`](Self::validation_status) set): the one to
    /// document the API's errors from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The codes this layer may answer with on any route it wraps, for a
    /// route's documented responses ([`tollgate::docs::openapi::responses`]):
    /// `malformed_request` (several `Host` lines, a transfer coding it cannot
    /// decode), `internal_error` (a panic, a service's error),
    /// `payload_too_large` with a [`body_limit`](Self::body_limit), `timeout`
    /// with a [`timeout`](Self::timeout) (a tower `Timeout` or `LoadShed`
    /// inside adds its `timeout` or `service_unavailable`). A route that reads its body adds
    /// [`BODY_ERROR_CODES`](crate::BODY_ERROR_CODES); the layers of
    /// `tollgate-limit` and `tollgate-store` tell theirs the same way.
    /// (`not_found` and `method_not_allowed` answer requests no operation
    /// takes.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let gate = tollgate_axum::Tollgate::new(tollgate::Catalog::builtin())
    ///     .timeout(Duration::from_secs(30));
    /// assert_eq!(gate.error_codes(), ["malformed_request", "internal_error", "timeout"]);
    /// ```
    pub fn error_codes(&self) -> Vec<&'static str> {
        let mut codes = vec!["malformed_request", "internal_error"];
        if self.body_limit.is_some() {
            codes.push("payload_too_large");
        }
        if self.timeout.is_some() {
            codes.push("timeout");
        }
        codes
    }

    /// Builds the layer.
    pub fn layer(self) -> TollgateLayer {
        let error_vary = self.negotiation.vary(true, |a, b| a != b);
        let reply_vary = self.negotiation.vary(false, |a, b| {
            (a == Dialect::Envelope) != (b == Dialect::Envelope)
        });
        let mut problem_from: Vec<Dialect> = Vec::new();
        for def in self.catalog.iter() {
            for (&from, &to) in def.sent_in_dialects() {
                if to == Dialect::Problem && !problem_from.contains(&from) {
                    problem_from.push(from);
                }
            }
        }
        TollgateLayer {
            shared: Arc::new(Shared {
                config: self,
                error_vary,
                reply_vary,
                problem_from,
            }),
        }
    }
}

/// The layer [`Tollgate::layer`] builds: cheap to clone, shared by every request.
///
/// ```
/// use axum::{Router, routing::get};
/// let layer = tollgate_axum::Tollgate::new(tollgate::Catalog::builtin()).layer();
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
/// ```
#[derive(Clone)]
pub struct TollgateLayer {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for TollgateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollgateLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for TollgateLayer {
    type Service = TollgateService<S>;

    fn layer(&self, inner: S) -> TollgateService<S> {
        TollgateService {
            inner,
            shared: self.shared.clone(),
            not_ready: None,
        }
    }
}
