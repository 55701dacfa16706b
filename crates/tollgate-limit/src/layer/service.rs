use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use super::future::{ResponseFuture, leave_for_outer_answers};
use super::layer::{Shared, caller_uri};
use crate::limiter::Pending;

/// The rate-limiting service; see [`RateLimitLayer`](super::RateLimitLayer).
#[derive(Clone)]
pub struct RateLimit<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("limiter", &self.shared.limiter)
            .finish_non_exhaustive()
    }
}

impl<S> RateLimit<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for RateLimit<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: From<Vec<u8>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        match self.shared.limiter.start(&parts, false) {
            Pending::Ready(outcome) if outcome.is_allowed() => {
                let headers = self.shared.headers(&outcome);
                leave_for_outer_answers(&headers);
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), headers)
            }
            Pending::Ready(outcome) => {
                let uri = caller_uri(&parts.uri, &parts.extensions);
                ResponseFuture::rejected(self.shared.refusal(&outcome, &parts.headers, uri))
            }
            Pending::Wait(check) => {
                // The ready service goes with the request; this one keeps a clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(
                    check,
                    inner,
                    Request::from_parts(parts, body),
                    Arc::clone(&self.shared),
                )
            }
        }
    }
}
