use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use tollgate::{ApiError, Catalog, Context, Dialect, ErrorDef};

use super::service::RateLimit;
use crate::headers::{
    RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
    limit_item, policy_item,
};
use crate::limiter::{Limiter, Outcome, Verdict};

/// Applies a [`Limiter`] to every request; see the [module docs](crate::layer).
#[derive(Clone)]
pub struct RateLimitLayer {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) limiter: Arc<Limiter>,
    catalog: Arc<Catalog>,
    dialect: Dialect,
    legacy_headers: bool,
    limited: Arc<ErrorDef>,
    unavailable: Arc<ErrorDef>,
    /// For a request whose cost exceeds a policy's burst.
    too_costly: Arc<ErrorDef>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.shared.limiter)
            .field("dialect", &self.shared.dialect)
            .field("legacy_headers", &self.shared.legacy_headers)
            .finish()
    }
}

impl RateLimitLayer {
    /// A layer answering from the built-in catalog in the `problem` dialect.
    pub fn new(limiter: impl Into<Arc<Limiter>>) -> RateLimitLayer {
        let catalog = Arc::new(Catalog::builtin());
        let [limited, unavailable, too_costly] = defs(&catalog);
        RateLimitLayer {
            shared: Arc::new(Shared {
                limiter: limiter.into(),
                catalog,
                dialect: Dialect::Problem,
                legacy_headers: false,
                limited,
                unavailable,
                too_costly,
            }),
        }
    }

    /// Answers from `catalog`: its `rate_limit_exceeded`,
    /// `service_unavailable` and `validation_error` entries (the built-in ones
    /// where it has none).
    pub fn catalog(mut self, catalog: impl Into<Arc<Catalog>>) -> RateLimitLayer {
        let catalog = catalog.into();
        let shared = Arc::make_mut(&mut self.shared);
        [shared.limited, shared.unavailable, shared.too_costly] = defs(&catalog);
        shared.catalog = catalog;
        self
    }

    /// The dialect of refusal bodies (default `problem`).
    pub fn dialect(mut self, dialect: Dialect) -> RateLimitLayer {
        Arc::make_mut(&mut self.shared).dialect = dialect;
        self
    }

    /// Also sends `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds) for
    /// one policy (default off): on a refusal the one that refused (the
    /// longest wait, so its reset is the `Retry-After`), else the one with
    /// the fewest calls left. The limit is the
    /// policy's burst (its quota unless [`Policy::with_burst`](crate::Policy::with_burst)
    /// changed it): the calls `Remaining` counts down from, so that limit
    /// minus remaining is what was used.
    pub fn legacy_headers(mut self, enabled: bool) -> RateLimitLayer {
        Arc::make_mut(&mut self.shared).legacy_headers = enabled;
        self
    }

    /// The limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.shared.limiter
    }

    /// The codes this layer may answer with, for a route's documented
    /// responses ([`tollgate::docs::openapi::responses`]):
    /// `rate_limit_exceeded`; `service_unavailable` when the limiter fails
    /// closed; `validation_error` when it weighs requests (one may cost more
    /// than a burst).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_limit::{ClientIp, FailMode, Limiter, Policy, RateLimitLayer};
    /// let limiter = Limiter::builder()
    ///     .policy(Policy::new("per-ip", 1000, Duration::from_secs(60))?, ClientIp::new())
    ///     .fail_mode(FailMode::CLOSED)
    ///     .build();
    /// let codes = RateLimitLayer::new(limiter).error_codes();
    /// assert_eq!(codes, ["rate_limit_exceeded", "service_unavailable"]);
    /// # Ok::<(), tollgate_limit::PolicyError>(())
    /// ```
    pub fn error_codes(&self) -> Vec<&'static str> {
        let limiter = &self.shared.limiter;
        let mut codes = vec!["rate_limit_exceeded"];
        if limiter.fails_closed() {
            codes.push("service_unavailable");
        }
        if limiter.weighs_requests() {
            codes.push("validation_error");
        }
        codes
    }
}

fn defs(catalog: &Catalog) -> [Arc<ErrorDef>; 3] {
    let def = |code: &str| {
        catalog
            .get(code)
            .or_else(|| Catalog::builtin_ref().get(code))
            .cloned()
            .unwrap_or_else(|| unreachable!("the built-in catalog has {code}"))
    };
    [
        def("rate_limit_exceeded"),
        def("service_unavailable"),
        def("validation_error"),
    ]
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Shared {
    /// The RateLimit fields (and legacy headers) of an outcome.
    pub(crate) fn headers(&self, outcome: &Outcome) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(5);
        if outcome.decisions.is_empty() {
            return out;
        }
        let join = |item: &dyn Fn(usize) -> String| {
            let items: Vec<String> = (0..outcome.decisions.len()).map(item).collect();
            HeaderValue::try_from(items.join(", ")).ok()
        };
        let policies = join(&|i| policy_item(&outcome.decisions[i].0));
        let limits = join(&|i| limit_item(&outcome.decisions[i].0, &outcome.decisions[i].1));
        out.extend(policies.map(|v| (RATELIMIT_POLICY, v)));
        out.extend(limits.map(|v| (RATELIMIT, v)));
        // The legacy triple tells one policy: the one that refused (its
        // reset is then the Retry-After), else the one with fewest calls
        // left; weighed only when written.
        let told = || {
            outcome.limiting().or_else(|| {
                let fewest = outcome.decisions.iter().min_by_key(|(_, d)| d.remaining());
                fewest.map(|(p, d)| (&**p, d))
            })
        };
        if self.legacy_headers
            && let Some((policy, decision)) = told()
        {
            out.push((X_RATELIMIT_LIMIT, HeaderValue::from(policy.burst())));
            out.push((
                X_RATELIMIT_REMAINING,
                HeaderValue::from(decision.remaining()),
            ));
            out.push((
                X_RATELIMIT_RESET,
                HeaderValue::from(tollgate::retry_after_secs(decision.shown_reset())),
            ));
        }
        out
    }

    /// The 429, 503 or 400 for a refused request to `uri` (its `instance`), rendered in the layer's dialect
    /// with the [`ApiError`] in its extensions.
    pub(crate) fn refusal(
        &self,
        outcome: &Outcome,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> http::Response<Vec<u8>> {
        let err = match (outcome.verdict, outcome.limiting()) {
            (Verdict::Unavailable { retry_after }, _) => {
                ApiError::new(Arc::clone(&self.unavailable)).retry_after(retry_after)
            }
            // Waiting cannot help a request that costs more than a burst: it
            // is refused as made, so that clients do not retry it.
            (
                Verdict::Limited {
                    retry_after: None, ..
                },
                Some((policy, _)),
            ) => ApiError::new(Arc::clone(&self.too_costly)).with_message(format!(
                "This request costs {} calls; the \"{}\" rate limit allows at most {} at once.",
                outcome.cost(),
                policy.name(),
                policy.burst()
            )),
            (verdict, limiting) => {
                let mut err = ApiError::new(Arc::clone(&self.limited));
                if let Some((policy, _)) = limiting {
                    // Only the values the catalog entry documents, sent or
                    // message-only: an API whose message names no numbers
                    // shows none (seed 001).
                    let documented = |key: &str| self.limited.template_keys().any(|k| k == key);
                    if documented("limit") {
                        err = err.with("limit", policy.quota());
                    }
                    if documented("window") {
                        err = err.with("window", policy.window().as_secs());
                    }
                }
                match verdict {
                    Verdict::Limited {
                        retry_after: Some(delay),
                        ..
                    } => err.retry_after(delay),
                    _ => err,
                }
            }
        };
        let request_id = headers
            .get(tollgate::headers::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| tollgate::headers::is_valid_request_id(id));
        let mut ctx = Context::new(self.limiter.clock().wall()).instance(uri.path());
        if let Some(id) = request_id {
            ctx = ctx.request_id(id);
        }
        let mut response = self.catalog.renderer(self.dialect).response(&err, &ctx);
        let out = response.headers_mut();
        for (name, value) in self.headers(outcome) {
            out.append(name, value);
        }
        response.extensions_mut().insert(err);
        response.extensions_mut().insert(Refusal);
        response
    }
}

/// Marks a response a limit layer made when it refused the request: a layer
/// outside it keeps its legacy triple, which tells the policy that refused.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal;

/// The request's URI as the client sent it: under axum's `Router::nest` the
/// URI a route's layers see has lost the nest's prefix; axum keeps the
/// original as `OriginalUri`.
#[cfg_attr(not(feature = "axum"), allow(unused_variables))]
pub(crate) fn caller_uri<'a>(uri: &'a Uri, extensions: &'a http::Extensions) -> &'a Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = extensions.get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    uri
}
