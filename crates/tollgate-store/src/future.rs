use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::backend::BoxFuture;

pin_project! {
    /// The response future of this crate's layers: the inner service's when the
    /// layer lets the request through untouched, a rejection (the inner service
    /// is never called), or the layer's own work around the handler
    /// (reserve → handler → commit or release; claim → run or replay → store).
    pub struct GateFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<B>> },
        Running { fut: BoxFuture<'static, Result<Response<B>, E>> },
    }
}

impl<F, B, E> GateFuture<F, B, E> {
    pub(crate) fn inner(fut: F) -> Self {
        GateFuture {
            state: State::Inner { fut },
        }
    }
    pub(crate) fn rejected(response: Response<B>) -> Self {
        GateFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
    pub(crate) fn boxed(fut: BoxFuture<'static, Result<Response<B>, E>>) -> Self {
        GateFuture {
            state: State::Running { fut },
        }
    }
}

impl<F, B, E> Future for GateFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("GateFuture polled after completion"),
            },
            StateProj::Running { fut } => fut.as_mut().poll(cx),
        }
    }
}
