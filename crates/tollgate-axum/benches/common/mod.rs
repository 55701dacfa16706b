//! What the benches share (and `tests/allocations.rs`, which includes this
//! file).

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker, ready};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use bytes::Bytes;
use tower::{Service, ServiceExt};

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

/// Polls `future` to completion on this thread (the services benched never
/// wait on I/O, so a no-op waker is enough).
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// One request through `app`, as a server makes it.
pub(crate) fn call<S>(app: &mut S, request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    run(async {
        let svc = ServiceExt::<Request<Body>>::ready(app).await.unwrap();
        svc.call(request).await.unwrap()
    })
}

thread_local! {
    /// The caller's id as hyper hands it over: a slice of the connection's
    /// read buffer, shared, so a clone only counts a reference. (A value
    /// built from a `&str` is copied into a `Vec`, and its first clone
    /// allocates shared storage, which hyper's never do.)
    static CALLER_ID: Bytes = {
        let id = Bytes::from(b"req_01J9ZC4W7X".to_vec());
        drop(id.clone()); // made shared, as hyper's buffer is
        id
    };
}

/// A valid caller request id, shared like hyper's.
pub(crate) fn caller_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(CALLER_ID.with(Bytes::clone)).unwrap()
}
