//! A scripted local API server, replies rendered by the core catalog, and a
//! tracing layer that records the client's attempt events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::time::Instant;
use tollgate::{Catalog, Context, Dialect};

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Wait this long before answering (a slow or hanging server).
    pub(crate) stall: Option<Duration>,
    /// Send the headers and the body's first half, then wait this long
    /// before the rest (a body that stalls).
    pub(crate) body_stall: Option<Duration>,
    /// Send the body a byte at a time, this long apart (a body that
    /// trickles: no read waits long).
    pub(crate) trickle: Option<Duration>,
}

impl Reply {
    pub(crate) fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stall: None,
            body_stall: None,
            trickle: None,
        }
    }

    pub(crate) fn ok() -> Reply {
        Reply::new(200).body(r#"{"ok":true}"#)
    }

    pub(crate) fn header(mut self, name: &str, value: impl ToString) -> Reply {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn without_header(mut self, name: &str) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// The reply with no header but `Content-Type`: what is decoded from it
    /// comes from the body.
    pub(crate) fn body_only(mut self) -> Reply {
        self.headers
            .retain(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub(crate) fn stall(mut self, d: Duration) -> Reply {
        self.stall = Some(d);
        self
    }

    pub(crate) fn trickle(mut self, every: Duration) -> Reply {
        self.trickle = Some(every);
        self
    }

    pub(crate) fn body_stall(mut self, d: Duration) -> Reply {
        self.body_stall = Some(d);
        self
    }

    /// The built-in catalog's `code`, rendered in `dialect` with a request id
    /// and, when given, a retry hint.
    pub(crate) fn api(
        dialect: Dialect,
        code: &str,
        request_id: &str,
        retry_after: Option<Duration>,
    ) -> Reply {
        let catalog = Catalog::builtin();
        let mut err = catalog.error(code).expect("a built-in code");
        for key in err.def().detail_keys().to_vec() {
            err = err.with(key, "x");
        }
        if let Some(d) = retry_after {
            err = err.retry_after(d);
        }
        let ctx = Context::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_612))
            .request_id(request_id);
        Reply::from_http(catalog.renderer(dialect).response(&err, &ctx))
    }

    pub(crate) fn from_http(response: http::Response<Vec<u8>>) -> Reply {
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().expect("ascii header").to_owned(),
                )
            })
            .collect();
        Reply {
            status: parts.status.as_u16(),
            headers,
            body,
            stall: None,
            body_stall: None,
            trickle: None,
        }
    }
}

/// What a [`Reply::api`] body carries itself (its headers carry all three).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InBody {
    pub(crate) code: bool,
    pub(crate) request_id: bool,
    pub(crate) retry_after: bool,
}

impl InBody {
    pub(crate) fn of(dialect: Dialect, body: &[u8]) -> InBody {
        InBody {
            // `status-code` writes the HTTP status as its code, `detail`
            // writes a code only in its object form, and `envelope` keys an
            // error naming a field (`missing_field`, every detail "x" here)
            // by the field, as seed 004 does.
            code: match dialect {
                Dialect::StatusCode => false,
                Dialect::Envelope => serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v["errors"][0].get("x").is_none()),
                Dialect::Detail => serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v["detail"].is_object()),
                _ => true,
            },
            request_id: matches!(
                dialect,
                Dialect::Problem
                    | Dialect::StatusCode
                    | Dialect::Coded
                    | Dialect::Meta
                    | Dialect::Google
                    | Dialect::Jsonapi
            ),
            retry_after: matches!(
                dialect,
                Dialect::Problem | Dialect::StatusCode | Dialect::Google | Dialect::Jsonapi
            ),
        }
    }
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) at: Instant,
}

struct Shared {
    replies: Vec<Reply>,
    seen: Mutex<Vec<Seen>>,
}

/// A local server answering with `replies` in order (the last one again once
/// they run out), recording every request.
pub(crate) struct Mock {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

impl Mock {
    pub(crate) async fn start(replies: Vec<Reply>) -> Mock {
        assert!(!replies.is_empty());
        let shared = Arc::new(Shared {
            replies,
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Mock { url, shared }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub(crate) fn hits(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// The time between consecutive requests.
    pub(crate) fn gaps(&self) -> Vec<Duration> {
        self.seen().windows(2).map(|w| w[1].at - w[0].at).collect()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    // A body that fails half-way is recorded empty.
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let index = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(Seen {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
            at,
        });
        seen.len() - 1
    };
    let reply = shared.replies[index.min(shared.replies.len() - 1)].clone();
    if let Some(d) = reply.stall {
        tokio::time::sleep(d).await;
    }
    let body = match (reply.body_stall, reply.trickle) {
        (None, Some(every)) => Body::from_stream(futures_util::stream::iter(reply.body).then(
            move |byte| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::convert::Infallible>(vec![byte])
            },
        )),
        (None, None) => Body::from(reply.body),
        (Some(wait), _) => {
            let mut first = reply.body;
            let rest = first.split_off(first.len() / 2);
            let chunks = [(first, Duration::ZERO), (rest, wait)];
            Body::from_stream(
                futures_util::stream::iter(chunks).then(|(chunk, wait)| async move {
                    tokio::time::sleep(wait).await;
                    Ok::<_, std::convert::Infallible>(chunk)
                }),
            )
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (name, value) in reply.headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

/// A client with the middleware, `policy` and a seeded jitter.
pub(crate) fn client(
    policy: tollgate_client::RetryPolicy,
) -> reqwest_middleware::ClientWithMiddleware {
    client_from(
        tollgate_client::TollgateMiddleware::new()
            .policy(policy)
            .jitter(tollgate_client::Jitter::seeded(1)),
    )
}

pub(crate) fn client_from(
    middleware: tollgate_client::TollgateMiddleware,
) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// The attempt events the client emitted, each as field → value.
///
/// One global subscriber forwards events to the capture of the thread they
/// happen on: thread-local subscribers would race with the other tests over
/// tracing's global interest cache.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<HashMap<String, String>>>>);

thread_local! {
    static SINK: std::cell::RefCell<Option<Events>> = const { std::cell::RefCell::new(None) };
}

/// Stops capturing on drop.
pub(crate) struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        SINK.with(|sink| sink.borrow_mut().take());
    }
}

impl Events {
    /// Records the events of this thread until the guard is dropped.
    pub(crate) fn capture() -> (Events, CaptureGuard) {
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            use tracing_subscriber::layer::SubscriberExt;
            let subscriber = tracing_subscriber::registry().with(Forward);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
        });
        let events = Events::default();
        SINK.with(|sink| *sink.borrow_mut() = Some(events.clone()));
        (events, CaptureGuard)
    }

    pub(crate) fn all(&self) -> Vec<HashMap<String, String>> {
        self.0.lock().unwrap().clone()
    }
}

struct Forward;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "tollgate_client" {
            return;
        }
        struct Fields<'a>(&'a mut HashMap<String, String>);
        impl tracing::field::Visit for Fields<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.insert(field.name().to_owned(), format!("{value:?}"));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.insert(field.name().to_owned(), value.to_owned());
            }
        }
        let mut fields = HashMap::new();
        fields.insert("level".to_owned(), event.metadata().level().to_string());
        event.record(&mut Fields(&mut fields));
        SINK.with(|sink| {
            if let Some(events) = sink.borrow().as_ref() {
                events.0.lock().unwrap().push(fields);
            }
        });
    }
}
