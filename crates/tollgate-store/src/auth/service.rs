use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tollgate::headers::NoApiKey;
use tower::Service;

use super::AuthFuture;
use super::future::State;
use crate::gatekeeper::caller_path;
use crate::{Gatekeeper, Principal, Rejection};

/// The service of [`AuthLayer`](super::AuthLayer).
#[derive(Clone, Debug)]
pub struct Auth<S> {
    pub(crate) inner: S,
    pub(crate) gate: Gatekeeper,
    pub(crate) scopes: Arc<[String]>,
}

/// The first of `scopes` the principal lacks, as a rejection.
pub(crate) fn check_scopes(principal: &Principal, scopes: &[String]) -> Result<(), Rejection> {
    match principal.missing_scope(scopes.iter().map(String::as_str)) {
        Some(scope) => Err(Rejection::InsufficientScope {
            scope: scope.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Lets `req` through as `principal`'s: the principal, and the key id as
/// the [`RateLimitKey`](tollgate::RateLimitKey) a per-key limit after this
/// layer counts, in its extensions.
pub(crate) fn admit<B>(req: &mut Request<B>, principal: Principal) {
    let key = tollgate::RateLimitKey::new(Arc::clone(&principal.inner.key_id));
    req.extensions_mut().insert(key);
    req.extensions_mut().insert(principal);
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Auth<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    ResB: From<Bytes>,
    ReqB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = AuthFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let shared = &self.gate.inner;
        let verdict = match req.extensions().get::<Principal>() {
            // Authenticated by an outer AuthLayer: only the scopes are ours to check.
            Some(principal) => Some(check_scopes(principal, &self.scopes).map(|()| None)),
            None => match tollgate::headers::api_key(req.headers()) {
                Err(why) => Some(Err(match why {
                    NoApiKey::Several => Rejection::SeveralKeys,
                    NoApiKey::NotText => Rejection::InvalidKey,
                    // Absent: nothing to judge.
                    _ => Rejection::MissingKey,
                })),
                Ok(key) => shared.store.authenticate_cached(key).map(|verdict| {
                    verdict.and_then(|p| check_scopes(&p, &self.scopes).map(|()| Some(p)))
                }),
            },
        };
        match verdict {
            Some(Ok(principal)) => {
                if let Some(p) = principal {
                    admit(&mut req, p);
                }
                AuthFuture::new(State::Inner {
                    fut: self.inner.call(req),
                })
            }
            Some(Err(rejection)) => {
                let response = shared.rejection(&rejection, req.headers(), caller_path(&req));
                AuthFuture::new(State::Rejected {
                    response: Some(response),
                })
            }
            None => {
                // Cache miss: look the key up, then call a clone of the inner
                // service (the one polled ready is kept for that call).
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                let key = tollgate::headers::presented_api_key(req.headers())
                    .unwrap_or_default()
                    .to_owned();
                let store = shared.store.clone();
                let lookup = Box::pin(async move { store.authenticate(&key).await });
                AuthFuture::new(State::Lookup {
                    lookup,
                    pending: Some((req, service, self.gate.clone(), self.scopes.clone())),
                })
            }
        }
    }
}
