//! Extension traits: typed errors and envelope unwrapping on reqwest's own
//! types, with or without the middleware.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::retry::{
    Attempts, Deadline, MiddlewareDecoder, SentIdempotencyKey, SentMethod, sent_idempotency_key,
    success_request_id,
};
use crate::{Attempt, BodyError, Cause, Error, ErrorDecoder};

mod sealed {
    pub trait Sealed {}
    impl Sealed for reqwest::Response {}
    impl Sealed for reqwest::RequestBuilder {}
    impl Sealed for reqwest_middleware::RequestBuilder {}
}

/// Typed errors and envelope unwrapping for [`reqwest::Response`].
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let base = format!("http://{}", listener.local_addr()?);
/// # let app = Router::new()
/// #     .route("/v1/sessions/s1", get(|| async {
/// #         r#"{"data":{"id":"s1","frames":10},"success":true,"message":"OK"}"#
/// #     }))
/// #     .route("/v1/detect", get(|| async {
/// #         (StatusCode::PAYMENT_REQUIRED, r#"{"data":null,"success":false,"message":"Insufficient credits. Required: 1, available: 0","errors":[{"insufficient_credits":["Insufficient credits. Required: 1, available: 0"]}]}"#)
/// #     }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use tollgate_client::ResponseExt;
///
/// #[derive(serde::Deserialize)]
/// struct Session { id: String, frames: u32 }
///
/// // Plain reqwest: no middleware needed for typed errors.
/// let http = reqwest::Client::new();
/// let session: Session = http.get(format!("{base}/v1/sessions/s1")).send().await?.json_data().await?;
/// assert_eq!((session.id.as_str(), session.frames), ("s1", 10));
///
/// let err = http.get(format!("{base}/v1/detect")).send().await?.error_for_api().await.unwrap_err();
/// assert_eq!(err.code(), Some("insufficient_credits"));
/// assert_eq!(err.kind(), Some(tollgate::Kind::PaymentRequired));
/// # Ok(())
/// # }
/// ```
pub trait ResponseExt: sealed::Sealed + Sized {
    /// The response itself when its status is below 400; otherwise its body
    /// (at most 1 MiB) decoded into an [`Error`].
    ///
    /// The body is read with no time limit of its own: only the reqwest
    /// client's timeouts bound it. A per-read timeout does not stop a body
    /// that trickles in; reqwest's total `timeout` does.
    fn error_for_api(self) -> impl Future<Output = Result<reqwest::Response, Error>> + Send;

    /// [`error_for_api`](Self::error_for_api) with a decoder of your own (an
    /// app catalog, another body limit).
    fn error_for_api_with(
        self,
        decoder: &ErrorDecoder,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send;

    /// The `data` of an envelope success body
    /// (`{"data":…,"success":true,"message":"OK"}`) as `T`; an error status,
    /// or an envelope with `"success":false`, as the decoded [`Error`].
    ///
    /// A success body is read up to 32 MiB (past it,
    /// [`BodyError::TooLarge`]: [`ErrorDecoder::max_success_body`] sets
    /// another limit; error bodies stop at 1 MiB, and a success body that
    /// says `"success":false`, read within the success limit, is decoded
    /// from its first MiB), within the deadline the middleware sent the
    /// request under (past it, [`Cause::DeadlineElapsed`]: a body that
    /// trickles in does not hold the call); without the middleware, give
    /// the client a timeout when the server is not yours to trust. The body
    /// is read, and its errors decoded, by the middleware's [`ErrorDecoder`]
    /// ([`TollgateMiddleware::decoder`](crate::TollgateMiddleware::decoder)),
    /// else the default one; [`json_data_with`](Self::json_data_with) takes
    /// yours.
    fn json_data<T: DeserializeOwned>(self) -> impl Future<Output = Result<T, Error>> + Send;

    /// [`json_data`](Self::json_data) with a decoder of your own (an app
    /// catalog, other body limits, a pinned wall clock).
    fn json_data_with<T: DeserializeOwned>(
        self,
        decoder: &ErrorDecoder,
    ) -> impl Future<Output = Result<T, Error>> + Send;

    /// The attempts the middleware made to get this response (empty without
    /// the middleware).
    fn attempts(&self) -> &[Attempt];
}

impl ResponseExt for reqwest::Response {
    async fn error_for_api(self) -> Result<reqwest::Response, Error> {
        read_error(self, None).await
    }

    fn error_for_api_with(
        self,
        decoder: &ErrorDecoder,
    ) -> impl Future<Output = Result<reqwest::Response, Error>> + Send {
        let decoder = decoder.clone();
        async move { read_error(self, Some(&decoder)).await }
    }

    async fn json_data<T: DeserializeOwned>(self) -> Result<T, Error> {
        read_data(self, None).await
    }

    fn json_data_with<T: DeserializeOwned>(
        self,
        decoder: &ErrorDecoder,
    ) -> impl Future<Output = Result<T, Error>> + Send {
        let decoder = decoder.clone();
        async move { read_data(self, Some(&decoder)).await }
    }

    fn attempts(&self) -> &[Attempt] {
        self.extensions()
            .get::<Attempts>()
            .map_or(&[], |a| a.0.as_slice())
    }
}

/// The `data` of an envelope, read and its errors decoded by `decoder`,
/// else by the middleware's, else by the default one.
async fn read_data<T: DeserializeOwned>(
    response: reqwest::Response,
    decoder: Option<&ErrorDecoder>,
) -> Result<T, Error> {
    let middleware = response.extensions().get::<MiddlewareDecoder>();
    let decoder = match (decoder, middleware) {
        (Some(decoder), _) | (None, Some(MiddlewareDecoder(decoder))) => decoder.clone(),
        (None, None) => ErrorDecoder::new(),
    };
    let response = read_error(response, Some(&decoder)).await?;
    let (status, url) = (response.status(), response.url().clone());
    let headers = response.headers().clone();
    let key = response
        .extensions()
        .get::<SentIdempotencyKey>()
        .map(|key| key.0.clone());
    let method = response
        .extensions()
        .get::<SentMethod>()
        .map(|method| method.0.clone());
    // The attempts the middleware made (or this one): an error found in the
    // body keeps their request ids, to quote to support.
    let attempts = match response.extensions().get::<Attempts>() {
        Some(made) => made.0.clone(),
        None => vec![first_attempt(status, None, success_request_id(&response))],
    };
    // Where the error came from, and the key to send the request again with.
    let at = |e: Error| {
        e.request(method.clone(), Some(url.clone()))
            .idempotency_key_sent(key.clone())
            .attempts_made(attempts.clone(), None)
    };
    // Within the deadline the middleware sent it under: reqwest's read
    // timeout ends a body that stalls, not one that trickles.
    let deadline = response.extensions().get::<Deadline>().copied();
    let head_at = tokio::time::Instant::now();
    let read = read_success_body(response, decoder.max_success_body);
    let body = match deadline {
        Some(Deadline((when, total))) => match tokio::time::timeout_at(when, read).await {
            Ok(read) => read,
            Err(_) => return Err(at(Error::new(Cause::DeadlineElapsed(total)))),
        },
        None => read.await,
    }
    .map_err(&at)?;
    let reading = head_at.elapsed();
    match unwrap_envelope(&body) {
        Ok(Envelope {
            success: true,
            data,
        }) => {
            let data = data.map_or("null", RawValue::get);
            serde_json::from_str(data).map_err(|e| at(BodyError::Json(e).into()))
        }
        Ok(Envelope { success: false, .. }) => {
            // An error body, kept and decoded up to the decoder's limit as
            // one with an error status is.
            let kept = body.slice(..body.len().min(decoder.max_body));
            let mut response = decoder.decode_read_in(status, headers, kept, reading);
            response.truncated = response.body().len() < body.len();
            // The last attempt now known to have failed.
            let mut attempts = attempts.clone();
            if let Some(last) = attempts.last_mut() {
                last.code = response.code().map(str::to_owned);
                last.request_id = response.request_id().map(str::to_owned);
            }
            Err(at(Error::new(Cause::Status(response))).attempts_made(attempts, None))
        }
        Err(e) => Err(at(e.into())),
    }
}

/// A success body, whole; [`BodyError::TooLarge`] once it is known to be
/// longer than `limit` bytes (by its `Content-Length`, or as it comes).
async fn read_success_body(mut response: reqwest::Response, limit: usize) -> Result<Bytes, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(BodyError::TooLarge(limit).into());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if chunk.len() > limit - body.len() {
            return Err(BodyError::TooLarge(limit).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn read_error(
    response: reqwest::Response,
    decoder: Option<&ErrorDecoder>,
) -> Result<reqwest::Response, Error> {
    if response.status().as_u16() < 400 {
        return Ok(response);
    }
    let url = response.url().clone();
    let response = match decoder {
        Some(decoder) => decoder.read(response).await,
        None => ErrorDecoder::new().read(response).await,
    };
    let attempt = first_attempt(
        response.status(),
        response.code().map(str::to_owned),
        response.request_id().map(str::to_owned),
    );
    Err(Error::new(Cause::Status(response))
        .request(None, Some(url))
        .attempts_made(vec![attempt], None))
}

/// The one attempt of a request sent without the retrying middleware.
fn first_attempt(
    status: reqwest::StatusCode,
    code: Option<String>,
    request_id: Option<String>,
) -> Attempt {
    Attempt {
        number: 1,
        status: Some(status.as_u16()),
        code,
        request_id,
        error: None,
        started: Duration::ZERO,
        delay: None,
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    success: bool,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

fn unwrap_envelope(body: &[u8]) -> Result<Envelope<'_>, BodyError> {
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(envelope) => Ok(envelope),
        Err(e) if e.is_syntax() || e.is_eof() => Err(BodyError::Json(e)),
        Err(_) => Err(BodyError::NotEnvelope),
    }
}

/// Sends and returns typed errors in one step, on reqwest-middleware's and
/// reqwest's request builders.
///
/// With [`TollgateMiddleware`](crate::TollgateMiddleware) in the chain, the
/// request is retried by its policy; without it, it is sent once. Either way
/// an error status comes back as a decoded [`Error`].
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/v1/keys", listener.local_addr()?);
/// # let app = Router::new().route("/v1/keys", get(|| async {
/// #     (StatusCode::FORBIDDEN, r#"{"error":{"code":"FORBIDDEN","message":"API-key management requires admin role.","details":{}},"meta":{"request_id":"a1b2c3d4"}}"#)
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use tollgate_client::RequestBuilderExt;
///
/// let err = tollgate_client::client().get(&url).send_api().await.unwrap_err();
/// assert_eq!(err.code(), Some("FORBIDDEN"));
/// assert_eq!(err.request_id(), Some("a1b2c3d4"));
/// assert_eq!(err.attempts().len(), 1); // a 403 without a retry hint is final
/// # Ok(())
/// # }
/// ```
pub trait RequestBuilderExt: sealed::Sealed + Sized {
    /// Sends the request; an error status, a transport error or a middleware
    /// error comes back as an [`Error`].
    fn send_api(self) -> impl Future<Output = Result<reqwest::Response, Error>> + Send;
}

impl RequestBuilderExt for reqwest_middleware::RequestBuilder {
    async fn send_api(mut self) -> Result<reqwest::Response, Error> {
        let mut extensions = std::mem::take(self.extensions());
        let (client, request) = self.build_split();
        let request = request.map_err(Error::from)?;
        let sent = Sent::of(&request);
        let response = match client
            .execute_with_extensions(request, &mut extensions)
            .await
        {
            Ok(response) => response,
            Err(e) => return Err(sent.fill_in(sent_once(Error::from(e)))),
        };
        match read_error(response, None).await {
            Ok(response) => Ok(sent.kept_with(response)),
            Err(e) => Err(sent.fill_in(e)),
        }
    }
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    async fn send_api(self) -> Result<reqwest::Response, Error> {
        let (client, request) = self.build_split();
        let request = request.map_err(Error::from)?;
        let sent = Sent::of(&request);
        let response = match client.execute(request).await {
            Ok(response) => response,
            Err(e) => return Err(sent.fill_in(sent_once(Error::from(e)))),
        };
        match read_error(response, None).await {
            Ok(response) => Ok(sent.kept_with(response)),
            Err(e) => Err(sent.fill_in(e)),
        }
    }
}

/// `e`, from a request sent and answered with no response, as its one
/// attempt, unless the middleware listed its attempts already.
fn sent_once(e: Error) -> Error {
    if !e.attempts().is_empty() {
        return e;
    }
    let attempt = Attempt {
        number: 1,
        status: None,
        code: None,
        request_id: None,
        error: Some(match e.cause() {
            Cause::Transport(transport) => crate::error::transport_reason(transport),
            Cause::Middleware(other) => other.to_string(),
            _ => e.to_string(),
        }),
        started: Duration::ZERO,
        delay: None,
    };
    e.attempts_made(vec![attempt], None)
}

/// What was sent: the method, the URL and the `Idempotency-Key`, if any.
struct Sent {
    method: http::Method,
    url: reqwest::Url,
    idempotency_key: Option<String>,
}

impl Sent {
    fn of(request: &reqwest::Request) -> Sent {
        Sent {
            method: request.method().clone(),
            url: request.url().clone(),
            idempotency_key: sent_idempotency_key(request),
        }
    }

    /// Fills in what `e` does not know yet: without the retrying
    /// middleware, the method, the URL and the key sent.
    fn fill_in(self, e: Error) -> Error {
        let method = e.method().cloned().or(Some(self.method));
        let url = e.url().cloned().or(Some(self.url));
        let key = e
            .idempotency_key()
            .map(str::to_owned)
            .or(self.idempotency_key);
        e.request(method, url).idempotency_key_sent(key)
    }

    /// `response` with the method and the key sent, for an error
    /// [`json_data`](ResponseExt::json_data) finds in its body later (the
    /// retrying middleware keeps them so already).
    fn kept_with(self, mut response: reqwest::Response) -> reqwest::Response {
        let extensions = response.extensions_mut();
        if extensions.get::<SentMethod>().is_none() {
            extensions.insert(SentMethod(self.method));
        }
        let kept = extensions.get::<SentIdempotencyKey>().is_some();
        if let (false, Some(key)) = (kept, self.idempotency_key) {
            extensions.insert(SentIdempotencyKey(key));
        }
        response
    }
}
