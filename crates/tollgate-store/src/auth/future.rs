use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::backend::BoxFuture;
use crate::gatekeeper::caller_path;
use crate::{Gatekeeper, Principal, Rejection};

type Pending<S, ReqB> = (Request<ReqB>, S, Gatekeeper, Arc<[String]>);

pin_project! {
    /// The future of [`Auth`](super::Auth): the inner service's, a rejection
    /// (the inner service is never called), or a key lookup first.
    pub struct AuthFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
    }
}

pin_project! {
    #[project = StateProj]
    pub(crate) enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        Inner { #[pin] fut: S::Future },
        Rejected { response: Option<S::Response> },
        Lookup {
            lookup: BoxFuture<'static, Result<Principal, Rejection>>,
            pending: Option<Pending<S, ReqB>>,
        },
    }
}

/// An answer to a request that must name a key is its caller's alone:
/// `Cache-Control: no-store`, unless the service said how it may be kept. A
/// shared cache knows `Authorization` for a credential, and keeps no answer
/// to it by default (RFC 9111, 3.5), but not `X-API-Key`.
fn kept_private<B>(mut response: Response<B>) -> Response<B> {
    response
        .headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

impl<S, ReqB> AuthFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    pub(crate) fn new(state: State<S, ReqB>) -> Self {
        AuthFuture { state }
    }
}

impl<S, ReqB, ResB> Future for AuthFuture<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: From<Bytes>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Inner { fut } => return fut.poll(cx).map_ok(kept_private),
                StateProj::Rejected { response } => match response.take() {
                    Some(response) => return Poll::Ready(Ok(kept_private(response))),
                    None => panic!("AuthFuture polled after completion"),
                },
                StateProj::Lookup { lookup, pending } => {
                    let verdict = ready!(lookup.as_mut().poll(cx));
                    let Some((mut req, mut service, gate, scopes)) = pending.take() else {
                        panic!("AuthFuture polled after completion");
                    };
                    let checked =
                        verdict.and_then(|p| super::service::check_scopes(&p, &scopes).map(|()| p));
                    match checked {
                        Ok(principal) => {
                            super::service::admit(&mut req, principal);
                            State::Inner {
                                fut: service.call(req),
                            }
                        }
                        Err(rejection) => {
                            let response =
                                gate.inner
                                    .rejection(&rejection, req.headers(), caller_path(&req));
                            State::Rejected {
                                response: Some(response),
                            }
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}
