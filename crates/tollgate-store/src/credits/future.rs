use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::backend::BoxFuture;

pin_project! {
    /// The future of [`Credits`](super::Credits): the inner service's when
    /// the route is free, a rejection (the inner service is never called), or
    /// reserve → handler → commit or release.
    pub struct CreditsFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<B>> },
        Charging { fut: BoxFuture<'static, Result<Response<B>, E>> },
    }
}

impl<F, B, E> CreditsFuture<F, B, E> {
    pub(crate) fn inner(fut: F) -> Self {
        CreditsFuture {
            state: State::Inner { fut },
        }
    }
    pub(crate) fn rejected(response: Response<B>) -> Self {
        CreditsFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
    pub(crate) fn boxed(fut: BoxFuture<'static, Result<Response<B>, E>>) -> Self {
        CreditsFuture {
            state: State::Charging { fut },
        }
    }
}

impl<F, B, E> Future for CreditsFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("CreditsFuture polled after completion"),
            },
            StateProj::Charging { fut } => fut.as_mut().poll(cx),
        }
    }
}
