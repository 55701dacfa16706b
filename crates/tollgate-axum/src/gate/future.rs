//! [`ResponseFuture`]: runs the inner service under the request's span, its
//! deadline and a panic guard, then finishes the response.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Response, Uri};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate::ApiError;
use tracing::Span;

use super::layer::Shared;
use crate::current;
use crate::rejection::{self, TextError, builtin};
use crate::request_id::Negotiated;
use crate::{BoxError, render};

/// Plain-text error bodies longer than this are not read for their meaning.
const MAX_TEXT: usize = 4096;

type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// What the response needs from the request.
#[derive(Clone)]
pub(crate) struct Finish {
    pub(crate) shared: Arc<Shared>,
    /// The request id and dialect (current on the thread while the inner
    /// service runs).
    pub(crate) negotiated: Negotiated,
    /// The request's URI, kept only for the `problem` dialect's `instance`.
    pub(crate) instance: Option<Uri>,
}

impl Finish {
    /// `err` over the response `parts`: logged, adopted by the layer's
    /// catalog, rendered in the request's dialect with its id.
    fn respond(&self, err: ApiError, parts: http::response::Parts) -> Response<Body> {
        let err = rejection::name_limit(err, self.shared.body_limit);
        render::log(&err, Some(self.negotiated.request_id.as_str()));
        let err = render::adopt(&self.shared.catalog, err);
        let mut ctx = tollgate::Context::new((self.shared.clock)())
            .request_id(self.negotiated.request_id.as_str());
        if let Some(uri) = &self.instance {
            ctx = ctx.instance(uri.path());
        }
        render::render(
            &self.shared.catalog,
            self.negotiated.dialect,
            err,
            &ctx,
            parts,
        )
    }

    /// `err` as a whole new response.
    pub(crate) fn error(&self, err: ApiError) -> Response<Body> {
        self.respond(err, Response::new(()).into_parts().0)
    }

    /// `internal_error` for a panic; the panic's text is kept as the source
    /// (logged, never rendered).
    pub(crate) fn panicked(&self, payload: Box<dyn Any + Send>) -> ApiError {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned());
        builtin("internal_error").with_source(TextError(format!("handler panicked: {text}")))
    }

    /// The inner service's response, finished: an `ApiError` in its
    /// extensions is rendered; an unmarked error is read for its meaning; a
    /// success gets the request id.
    fn finish<B>(self, response: Response<B>) -> Result<Response<Body>, BoxFuture>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = response.into_parts();
        if let Some(err) = parts.extensions.remove::<ApiError>() {
            return Ok(self.respond(err, parts));
        }
        let status = parts.status.as_u16();
        let limit = self.shared.body_limit;
        if status >= 400
            && self.shared.rewrite_unmarked
            && rejection::recognise(status, "", None).is_some()
        {
            let plain = parts
                .headers
                .get(CONTENT_TYPE)
                .is_none_or(|ct| ct.as_bytes().starts_with(b"text/plain"));
            let size = http_body::Body::size_hint(&body);
            if !plain || size.exact() == Some(0) || size.upper().is_none_or(|u| u > MAX_TEXT as u64)
            {
                let err = rejection::recognise(status, "", limit);
                return Ok(self.error_over(err, parts));
            }
            return Err(Box::pin(async move {
                let text = match http_body_util::Limited::new(body, MAX_TEXT).collect().await {
                    Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                    Err(_) => String::new(),
                };
                let err = rejection::recognise(status, &text, limit);
                self.error_over(err, parts)
            }));
        }
        parts.headers.insert(
            tollgate::headers::X_REQUEST_ID,
            self.negotiated.request_id.header_value().clone(),
        );
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    fn error_over(&self, err: Option<ApiError>, parts: http::response::Parts) -> Response<Body> {
        // `recognise` knew the status before the body was read.
        let err = err.unwrap_or_else(|| builtin("internal_error"));
        self.respond(err, parts)
    }
}

pin_project! {
    /// The response future of [`TollgateService`](super::TollgateService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        span: Span,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner {
            #[pin]
            future: F,
            // Armed at the first `Pending` only, and boxed: a handler that
            // answers at once never touches the timer nor pays for its size.
            deadline: Option<Pin<Box<Sleep>>>,
            finish: Option<Finish>,
        },
        Reading {
            future: BoxFuture,
        },
        Ready {
            response: Option<Response<Body>>,
        },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, finish: Finish, span: Span) -> ResponseFuture<F> {
        ResponseFuture {
            kind: Kind::Inner {
                future,
                deadline: None,
                finish: Some(finish),
            },
            span,
        }
    }

    /// A response decided without the inner service (logged now, in the
    /// request's span).
    pub(crate) fn error(finish: Finish, err: ApiError, span: Span) -> ResponseFuture<F> {
        let response = span.in_scope(|| finish.error(err));
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
            span,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            let next = match this.kind.as_mut().project() {
                KindProj::Inner {
                    future,
                    deadline,
                    finish,
                } => {
                    let polled = {
                        let _current = finish.as_mut().map(|f| current::enter(&mut f.negotiated));
                        catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                    };
                    let Some(f) = finish.take() else {
                        return Poll::Ready(Ok(Response::new(Body::empty())));
                    };
                    match polled {
                        Ok(Poll::Ready(Ok(response))) => match f.finish(response) {
                            Ok(response) => Kind::Ready {
                                response: Some(response),
                            },
                            Err(future) => Kind::Reading { future },
                        },
                        Ok(Poll::Ready(Err(e))) => {
                            let source = TextError(e.into().to_string());
                            Kind::Ready {
                                response: Some(
                                    f.error(builtin("internal_error").with_source(source)),
                                ),
                            }
                        }
                        Err(panic) => {
                            let err = f.panicked(panic);
                            Kind::Ready {
                                response: Some(f.error(err)),
                            }
                        }
                        Ok(Poll::Pending) => {
                            if deadline.is_none() {
                                // The deadline runs from the first time the service waits
                                // (the work before it cannot be interrupted anyway). Timers
                                // need a Tokio runtime; outside one there is no deadline.
                                let timeout = f
                                    .shared
                                    .timeout
                                    .filter(|_| tokio::runtime::Handle::try_current().is_ok());
                                *deadline = timeout.map(|t| Box::pin(tokio::time::sleep(t)));
                            }
                            let expired = deadline
                                .as_mut()
                                .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                            if !expired {
                                *finish = Some(f);
                                return Poll::Pending;
                            }
                            let after = f.shared.timeout.unwrap_or_default();
                            let source = TextError(format!("no response within {after:?}"));
                            Kind::Ready {
                                response: Some(f.error(builtin("timeout").with_source(source))),
                            }
                        }
                    }
                }
                KindProj::Reading { future } => {
                    let response = ready!(future.as_mut().poll(cx));
                    Kind::Ready {
                        response: Some(response),
                    }
                }
                KindProj::Ready { response } => {
                    let response = response
                        .take()
                        .unwrap_or_else(|| Response::new(Body::empty()));
                    return Poll::Ready(Ok(response));
                }
            };
            this.kind.set(next);
        }
    }
}
