//! [`TollgateService`]: decides the request id and dialect, guards the body
//! limit, and hands the response to [`ResponseFuture`] to finish.

use std::convert::Infallible;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, OriginalUri};
use bytes::Bytes;
use http::{Request, Response};
use tollgate::Dialect;
use tollgate::layer_fields::LayerFields;
use tower::Service;
use tracing::Span;

use super::future::{Finish, OverLimit, ResponseFuture};
use super::layer::Shared;
use crate::current::{self, IdSlot};
use crate::request_id::RequestId;
use crate::{BoxError, rejection};

/// The service [`TollgateLayer`](super::TollgateLayer) wraps around another.
#[derive(Clone)]
pub struct TollgateService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    /// Why the inner service last failed to become ready (read as the
    /// response future's errors are: an `ApiError` or tower's `Overloaded`
    /// keeps its meaning), answered by the next `call` without calling it.
    pub(crate) not_ready: Option<tollgate::ApiError>,
}

impl<S: fmt::Debug> fmt::Debug for TollgateService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollgateService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The declared length of a request body, when it has a valid one.
fn content_length(value: Option<&http::HeaderValue>) -> Option<u64> {
    value?.to_str().ok()?.trim().parse().ok()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TollgateService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A service that is not ready because it failed still gets a
        // response: `call` answers the error as what it means (an
        // `ApiError` it carries, tower's `Elapsed` a `timeout`, `Overloaded`
        // a `service_unavailable`), else as an `internal_error`.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => {
                self.not_ready = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.not_ready = Some(crate::error::classify_boxed(e.into()));
                Poll::Ready(Ok(()))
            }
        }
    }

    #[inline]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let scanned = shared.config.negotiation.scan(req.headers());
        // Under another Tollgate layer (a sub-router's own), the request
        // already has its id: one id per request, in every log line and the
        // answer.
        let request_id =
            current::request_id().unwrap_or_else(|| RequestId::from_header(scanned.request_id));
        // Under `Router::nest` the URI has lost its prefix; axum keeps the
        // one the caller sent as `OriginalUri`. Looked up only when a path
        // pin or a `problem` instance reads it.
        let caller_uri = || {
            req.extensions()
                .get::<OriginalUri>()
                .map(|OriginalUri(uri)| uri)
        };
        let caller_path = if shared.config.negotiation.prefixes.is_empty() {
            None
        } else {
            caller_uri().map(http::Uri::path)
        };
        let (dialect, replies) =
            shared
                .config
                .negotiation
                .dialects(&scanned, req.uri().path(), caller_path);
        let declared = scanned.content_length;
        // Without a tracing subscriber the span has no reader (tracing's
        // `log` fallback would only print its creation), so none is built.
        let span = if tracing::dispatcher::has_been_set() {
            tracing::info_span!("tollgate", request_id = request_id.as_str())
        } else {
            Span::none()
        };
        let keeps_path = dialect == Dialect::Problem || shared.problem_from.contains(&dialect);
        let instance = keeps_path
            .then(|| caller_uri().unwrap_or(req.uri()).path_and_query().cloned())
            .flatten();
        let mut finish = Finish {
            shared: shared.clone(),
            request_id: IdSlot::new(request_id),
            dialect,
            envelope_replies: replies == Dialect::Envelope,
            instance,
            head: req.method() == http::Method::HEAD,
            multipart_form: scanned
                .content_type
                .is_some_and(rejection::is_multipart_form),
            over_limit: None,
            layer_fields: LayerFields::default(),
        };

        // hyper serves a request with two `Host` lines: a route that reads
        // the host (a redirect, a tenant) must not pick one of two.
        if scanned.host.several() {
            return ResponseFuture::error(finish, rejection::several_hosts(), span);
        }
        // Nor may it read one of two body types: `application/json` then
        // `text/plain` was read as JSON, the other order refused.
        if scanned.several_content_types {
            let err = rejection::several_content_types();
            return ResponseFuture::error(finish, err, span);
        }
        // hyper decodes `chunked` alone, yet takes `gzip, chunked`: the body
        // would reach the route still gzipped, and be misread as plain.
        if scanned.transfer_encoding.undecoded() {
            let err = rejection::undecoded_transfer_coding();
            return ResponseFuture::error(finish, err, span);
        }

        // A body that is already complete (a GET) needs no guard.
        let has_body = !http_body::Body::is_end_stream(req.body());
        let mut count_up_to = None;
        if let Some(limit) = shared.config.body_limit {
            if has_body {
                let declared = content_length(declared);
                let compressed = scanned.content_encoding;
                if declared.is_some_and(|len| len > limit as u64) {
                    let err = rejection::payload_too_large(Some(limit));
                    return ResponseFuture::error(finish, err, span);
                }
                DefaultBodyLimit::max(limit).apply(&mut req);
                // A declared length is enforced by the HTTP server; only a
                // body of unknown length needs counting as it streams, and a
                // compressed one, whose decoded bytes `Decompression` counts
                // against the limit too: a layer inside that buffers the
                // body (idempotency's) would otherwise inflate a few
                // kilobytes into as much as it allows.
                if declared.is_none() || compressed {
                    count_up_to = Some(limit);
                }
            }
        }
        let req = match count_up_to {
            Some(limit) => {
                let over_limit = OverLimit::new(limit);
                req.extensions_mut().insert(over_limit.clone());
                let req = req.map(|body| over_limit.count(Body::new(body)));
                finish.over_limit = Some(over_limit);
                req
            }
            None => {
                // A layer outside may count the body (looked up only for a
                // request that has one: a GET pays no map lookup).
                if has_body {
                    finish.over_limit = req.extensions().get::<OverLimit>().cloned();
                }
                // No new box: `Body::new` unwraps a body that is a `Body` already.
                req.map(Body::new)
            }
        };
        if let Some(err) = self.not_ready.take() {
            return ResponseFuture::error(finish, err, span);
        }

        let called = {
            let _entered = span.enter();
            let decision = finish.decision();
            let _current = current::enter(&mut finish.request_id, decision);
            let call = || catch_unwind(AssertUnwindSafe(|| self.inner.call(req)));
            finish.layer_fields.collect(call)
        };
        match called {
            Ok(future) => ResponseFuture::new(future, finish, span),
            Err(panic) => {
                let err = finish.panicked(panic);
                ResponseFuture::error(finish, err, span)
            }
        }
    }
}
