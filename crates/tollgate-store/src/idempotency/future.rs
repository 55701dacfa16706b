use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::backend::BoxFuture;

pin_project! {
    /// The future of [`IdempotencyService`](super::IdempotencyService): the
    /// inner service's for requests the layer does not handle, a rejection
    /// (the inner service is never called), or claim → run or replay → store.
    pub struct IdempotencyFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<B>> },
        Keyed { fut: BoxFuture<'static, Result<Response<B>, E>> },
    }
}

impl<F, B, E> IdempotencyFuture<F, B, E> {
    pub(crate) fn inner(fut: F) -> Self {
        IdempotencyFuture {
            state: State::Inner { fut },
        }
    }
    pub(crate) fn rejected(response: Response<B>) -> Self {
        IdempotencyFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
    pub(crate) fn boxed(fut: BoxFuture<'static, Result<Response<B>, E>>) -> Self {
        IdempotencyFuture {
            state: State::Keyed { fut },
        }
    }
}

impl<F, B, E> Future for IdempotencyFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("IdempotencyFuture polled after completion"),
            },
            StateProj::Keyed { fut } => fut.as_mut().poll(cx),
        }
    }
}
