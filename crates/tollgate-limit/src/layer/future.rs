use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;

use super::layer::{Refusal, Shared, caller_uri};
use crate::headers::{X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET};
use crate::limiter::Outcome;

type Check = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit).
    pub struct ResponseFuture<S, B>
    where
        S: tower::Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: tower::Service<Request<B>>,
    {
        // Waiting for the store (Redis).
        Waiting {
            check: Check,
            inner: Option<S>,
            request: Option<Request<B>>,
            shared: Arc<Shared>,
        },
        // Admitted: the inner service runs.
        Inner {
            #[pin]
            future: S::Future,
            headers: Vec<(HeaderName, HeaderValue)>,
        },
        // Refused: the inner service is never called.
        Rejected {
            response: Option<Response<Vec<u8>>>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: tower::Service<Request<B>>,
{
    pub(crate) fn inner(future: S::Future, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        ResponseFuture {
            state: State::Inner { future, headers },
        }
    }

    pub(crate) fn rejected(response: Response<Vec<u8>>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn waiting(
        check: Check,
        inner: S,
        request: Request<B>,
        shared: Arc<Shared>,
    ) -> Self {
        ResponseFuture {
            state: State::Waiting {
                check,
                inner: Some(inner),
                request: Some(request),
                shared,
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Vec<u8>>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Waiting {
                    check,
                    inner,
                    request,
                    shared,
                } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let (Some(mut service), Some(request)) = (inner.take(), request.take()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    if outcome.is_allowed() {
                        let headers = shared.headers(&outcome);
                        leave_for_outer_answers(&headers);
                        let future = service.call(request);
                        state.set(State::Inner { future, headers });
                    } else {
                        let response = shared.refusal(
                            &outcome,
                            request.headers(),
                            caller_uri(request.uri(), request.extensions()),
                        );
                        state.set(State::Rejected {
                            response: Some(response),
                        });
                    }
                }
                StateProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    let refused = response.extensions().get::<Refusal>().is_some();
                    add_fields(response.headers_mut(), std::mem::take(headers), refused);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Rejected { response } => {
                    let Some(response) = response.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    return Poll::Ready(Ok(response.map(ResBody::from)));
                }
            }
        }
    }
}

/// Leaves an admitted request's `fields` for an answer an outer layer makes
/// in place of the response (a panic's 500, a timeout's 504, from
/// `tollgate-axum`'s layer: see [`tollgate::layer_fields`]), added as
/// [`add_fields`] adds them to the response.
pub(crate) fn leave_for_outer_answers(fields: &[(HeaderName, HeaderValue)]) {
    if !fields.is_empty() && tollgate::layer_fields::collecting() {
        let admitted = |headers: &mut HeaderMap, fields| add_fields(headers, fields, false);
        tollgate::layer_fields::add(fields.to_vec(), admitted);
    }
}

/// Adds a layer's fields to the response of the service inside it, which
/// may be another limit's layer (per IP outside, per key inside). The
/// RateLimit lists go beside the inner layer's (a list may span field
/// lines); of the legacy `X-RateLimit-*` triple, single numbers, the tighter
/// one is kept (the fewer calls remaining), never both; when the inner
/// layer `refused` the request, its own (the policy that refused, with
/// weighted calls not always the one with fewer left).
fn add_fields(out: &mut HeaderMap, fields: Vec<(HeaderName, HeaderValue)>, refused: bool) {
    let remaining = |value: &HeaderValue| value.to_str().ok()?.parse::<u64>().ok();
    // Only with legacy headers on (off by default) is there a triple to weigh.
    let ours = fields
        .iter()
        .find(|(name, _)| name == X_RATELIMIT_REMAINING)
        .map(|(_, value)| remaining(value));
    let keep_theirs = ours.is_some_and(|ours| {
        let theirs = out.get(X_RATELIMIT_REMAINING).and_then(remaining);
        match (theirs, ours) {
            (Some(_), _) if refused => true,
            (Some(theirs), Some(ours)) => theirs <= ours,
            _ => false,
        }
    });
    for (name, value) in fields {
        let legacy = [X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET].contains(&name);
        if !legacy {
            out.append(name, value);
        } else if !keep_theirs {
            out.insert(name, value);
        }
    }
}
