//! One try at sending a request, as recorded for errors, logs and callers.

use std::time::Duration;

/// One attempt at a request: what came back and what the client did next.
///
/// A failed request's [`Error::attempts`](crate::Error::attempts) lists them
/// all; a successful one's are in
/// [`ResponseExt::attempts`](crate::ResponseExt::attempts).
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/", listener.local_addr()?);
/// # let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// # let app = Router::new().route("/", get(move || async move {
/// #     match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
/// #         0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3"), ("x-request-id", "r1")]),
/// #         _ => (StatusCode::OK, [("retry-after", "0"), ("x-request-id", "r2")]),
/// #     }
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use std::time::Duration;
/// use tollgate_client::{RequestBuilderExt, ResponseExt};
///
/// let response = tollgate_client::client().get(&url).send_api().await?;
/// let attempts = response.attempts();
/// assert_eq!(attempts.len(), 2);
/// assert_eq!(attempts[0].status(), Some(429));
/// assert_eq!(attempts[0].request_id(), Some("r1"));
/// assert_eq!(attempts[0].delay(), Some(Duration::from_secs(3)));
/// assert_eq!(attempts[1].status(), Some(200));
/// assert_eq!(attempts[1].delay(), None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub(crate) number: u32,
    pub(crate) status: Option<u16>,
    pub(crate) code: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) started: Duration,
    pub(crate) delay: Option<Duration>,
}

impl Attempt {
    /// Its number, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The response's status, if a response came back.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The API's error code, if the response was an error with one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The server's request id for this attempt, from the body or a
    /// request-id header.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The transport error, if no response came back.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// When the attempt was sent, counted from the first attempt.
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long the client waited after this attempt before the next one;
    /// `None` for the last.
    pub fn delay(&self) -> Option<Duration> {
        self.delay
    }
}
