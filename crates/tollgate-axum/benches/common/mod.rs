//! What the benches share.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use tower::Service;

/// The least any request-id layer does: keep a valid caller id and echo it
/// on the response; nothing else (no envelope, no panic guard, no
/// deadline). The floor under the full layer's happy path.
#[derive(Clone)]
pub(crate) struct EchoId<S>(pub(crate) S);

impl<S> Service<Request<Body>> for EchoId<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = EchoIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let id = request
            .headers()
            .get(tollgate::headers::X_REQUEST_ID)
            .filter(|id| tollgate::headers::is_valid_request_id_bytes(id.as_bytes()))
            .cloned();
        EchoIdFuture {
            inner: self.0.call(request),
            id,
        }
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct EchoIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, E> Future for EchoIdFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response
                .headers_mut()
                .insert(tollgate::headers::X_REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}
