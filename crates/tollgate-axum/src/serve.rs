//! [`serve`]: what `axum::serve` does, plus a deadline on request heads
//! (feature `serve`).
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout never
//! fires and a client that trickles a request head, a header every few
//! seconds, holds its connection for ever (slowloris, tokio-rs/axum#2741).
//! This loop is axum's (a task per connection, the peer's address as
//! `ConnectInfo`, graceful shutdown) with hyper's timer set and the head
//! held to [`HEADER_READ_TIMEOUT`], plus three bounds axum's loop lacks: at most
//! [`MAX_CONNECTIONS`] at once (one client opening sockets would otherwise
//! use up the process's file descriptors), a write that makes no progress
//! for the deadline ends its connection (a client that pipelines requests
//! and never reads the answers held its connection, and shutdown, for
//! ever), and shutdown waits for requests in flight, [`shutdown_wait`] at
//! most.
//! A client that shuts its write side after its request (a half-close) is
//! answered; one gone altogether is noticed only when its answer is
//! written, so its handler runs to the end (the deadline at most).
//! A client that reads slowly but steadily (a few KiB every few seconds)
//! keeps its place: there is no cap per client here; a proxy in front does
//! that.
//!
//! A connection that ends cleanly closes as nginx's `lingering_close` does
//! ([`Linger`]): a request refused from its headers (413, 401, 429, 415)
//! leaves its body unread, and closing a socket with unread data makes the
//! kernel reset it, so a client still sending its body would see the
//! connection reset, not the answer. Such an answer says `Connection: close`
//! ([`ReadToEnd`]): hyper closes a connection whose request body was not read
//! once the answer is written, and a keep-alive client not told so sends its
//! next request into the closing connection and loses it.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// The most connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 512;

/// How long a request head may take to arrive. Short and apart from the
/// request deadline (which may be long), so that idle or half-sent connections
/// do not hold one of the [`MAX_CONNECTIONS`] places for long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection that ends cleanly reads and discards what the
/// client still sends, after its write side is shut ([`Linger`]).
const LINGER: Duration = Duration::from_secs(2);

/// How long shutdown waits for the connections still open, given the
/// handler `deadline`: a connection accepted before the stop, its head part
/// sent, may take [`HEADER_READ_TIMEOUT`] to complete it, its request
/// `deadline` to be answered (a 504 at worst) and [`LINGER`] to close.
/// (Connections that have sent nothing read yet, or sit idle between
/// requests, are closed at once, a request sent a moment before the stop
/// and still in the socket's buffer among them: it never ran. Those still
/// in the accept queue are never served.)
fn shutdown_wait(deadline: Duration) -> Duration {
    HEADER_READ_TIMEOUT
        .saturating_add(deadline)
        .saturating_add(LINGER)
}

/// The longest write stall a connection is given: past it (`Duration::MAX`,
/// no deadline, as [`Tollgate::timeout`](crate::Tollgate::timeout) takes
/// it) writes are not bounded, rather than an instant past the clock's end.
const MAX_WRITE_STALL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Serves `router` over HTTP/1.1 on `listener` until `shutdown` resolves,
/// then waits for the requests in flight and ends those still running:
/// `deadline` (the longest a request runs: the [`Tollgate`](crate::Tollgate)
/// layer's timeout) plus 7 s at most. A connection whose request head is not
/// complete within [`HEADER_READ_TIMEOUT`] (between requests too: an idle
/// keep-alive connection closes after it, so a proxy in front should keep
/// its idle upstream connections for less), or whose answer cannot be
/// written for `deadline` (a download to a client that stops reading), is
/// closed; at most [`MAX_CONNECTIONS`] are served at once. A `deadline` of
/// `Duration::MAX` (no timeout) bounds neither writes nor the shutdown's
/// wait. Each request carries the peer's address as
/// [`ConnectInfo`](axum::extract::ConnectInfo), as
/// `into_make_service_with_connect_info` gives it. TLS is for a proxy in
/// front: the listener is plain TCP.
///
/// `shutdown` is awaited once: a second Ctrl-C during the wait does
/// nothing unless the program listens for it (`tollgate serve` stops at
/// once then).
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tollgate::Catalog;
/// use tollgate_axum::Tollgate;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let deadline = Duration::from_secs(30);
/// let app = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .layer(Tollgate::new(Catalog::builtin()).timeout(deadline).layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(tollgate_axum::serve(listener, app, deadline, async {
///     let _ = stopped.await; // or `tokio::signal::ctrl_c()`
/// }));
///
/// let mut client = tokio::net::TcpStream::connect(addr).await?;
/// client.write_all(b"GET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).await?;
/// assert!(answer.starts_with("HTTP/1.1 404"));
/// assert!(answer.contains("application/problem+json"));
///
/// stop.send(()).unwrap();
/// server.await.unwrap();
/// # Ok(())
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    deadline: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // A client may shut its write side once its request is sent
        // (`nc -N`, scripts, some proxies): still answered. hyper would
        // otherwise take that end for the client gone and drop the request
        // unanswered, in the middle of its handler.
        .half_close(true);
    let graceful = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Kept so that those still open when the wait ends can be ended, and
    // what their requests began (refunds) still run on this runtime.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let accept = async {
            // Held by the connection's task until it ends (`None` only if
            // the semaphore were closed, which it never is).
            let place = places.clone().acquire_owned().await.ok();
            (place, listener.accept().await)
        };
        let (place, stream, peer) = tokio::select! {
            (place, accepted) = accept => match accepted {
                Ok((stream, peer)) => (place, stream, peer),
                // A peer gone before the accept: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: as axum does,
                    // say so and wait for some to be closed.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = tower::service_fn(move |request: hyper::Request<Incoming>| {
            let router = router.clone();
            async move {
                let read = Arc::new(AtomicBool::new(false));
                let mut request = request.map(|body| Body::new(ReadToEnd::new(body, &read)));
                request.extensions_mut().insert(ConnectInfo(peer));
                let mut response = router.oneshot(request).await?;
                if !read.load(Ordering::Acquire) {
                    let close = HeaderValue::from_static("close");
                    response.headers_mut().insert(header::CONNECTION, close);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout((deadline <= MAX_WRITE_STALL).then_some(deadline));
        let io = TokioIo::new(Linger::new(Box::pin(stream)));
        let connection = http.serve_connection(io, TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            let _place = place;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let wait = shutdown_wait(deadline);
    if tokio::time::timeout(wait, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running {} s after the shutdown began: stopping without them",
            wait.as_secs()
        );
        // Dropped here, so that a request's refund starts now, not never.
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// A request body that notes when it has been read to its end (or had none).
struct ReadToEnd {
    body: Incoming,
    read: Arc<AtomicBool>,
}

impl ReadToEnd {
    fn new(body: Incoming, read: &Arc<AtomicBool>) -> Self {
        read.store(body.is_end_stream(), Ordering::Release);
        ReadToEnd {
            body,
            read: Arc::clone(read),
        }
    }
}

impl hyper::body::Body for ReadToEnd {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        if frame.is_none() || self.body.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A stream whose shutdown lingers: it shuts the write side (the client
/// reads the answer, then the end), then reads and discards what the client
/// still sends until it closes its side, or [`LINGER`] at most, before the
/// socket is dropped. hyper shuts a connection down after answering a
/// request whose body it did not read (an early refusal); dropped at once,
/// with that body still arriving, the socket would be reset and the client
/// writing it would get an error instead of the answer.
///
/// Only a clean end lingers: a connection ended by an error (a head or a
/// write past its deadline) is dropped at once. No cap on the bytes
/// discarded: an upload a few MiB past the limit must be read whole for its
/// sender to see the answer, and the time bound caps the cost.
struct Linger<S> {
    inner: S,
    /// Set once the write side is shut: when the lingering ends.
    until: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Linger<S> {
    fn new(inner: S) -> Self {
        Linger { inner, until: None }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Linger<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let until = match &mut this.until {
            Some(until) => until,
            None => {
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                this.until.insert(Box::pin(tokio::time::sleep(LINGER)))
            }
        };
        let mut discard = [0; 8192];
        loop {
            if until.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut discard);
            // A busy client cannot hold the thread: tokio's budget makes a
            // read pending now and then.
            match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read)) {
                Ok(()) if !read.filled().is_empty() => {}
                // The client's end, or an error: nothing more to wait for.
                Ok(()) | Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// As the docs say: the deadline, plus 5 s for a head on its way and
    /// 2 s to close.
    #[test]
    fn shutdown_waits_the_deadline_plus_seven_seconds() {
        assert_eq!(
            shutdown_wait(Duration::from_secs(10)),
            Duration::from_secs(17)
        );
        assert_eq!(shutdown_wait(Duration::MAX), Duration::MAX);
        assert_eq!(
            shutdown_wait(Duration::from_millis(100)),
            Duration::from_millis(7100)
        );
    }

    /// A client still sending `chunks` reads of its body, then closing
    /// its side; counts the reads, and is not to be read past its end.
    struct Draining {
        chunks: usize,
        reads: usize,
    }

    impl AsyncRead for Draining {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            assert!(self.reads <= self.chunks, "read past the client's end");
            self.reads += 1;
            if self.reads <= self.chunks {
                buf.put_slice(b"the rest of the body");
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Draining {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A lingering close discards what the client still sends and stops at
    /// its end, read once.
    #[tokio::test]
    async fn a_lingering_close_reads_to_the_clients_end_and_stops() {
        let mut linger = Linger::new(Draining {
            chunks: 3,
            reads: 0,
        });
        linger.shutdown().await.unwrap();
        assert_eq!(linger.inner.reads, 4);
    }

    /// What is written through a `Linger` reaches the stream under it whole,
    /// by plain writes too: hyper writes vectored only to a stream that says
    /// it can, as a `TcpStream` does.
    #[tokio::test]
    async fn plain_writes_pass_through_a_linger_whole() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut linger = Linger::new(ours);
        linger.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        drop(linger);
        let mut written = Vec::new();
        theirs.read_to_end(&mut written).await.unwrap();
        assert_eq!(written, b"HTTP/1.1 200 OK\r\n");
    }

    /// A flush through a `Linger` reaches the stream under it: what a
    /// buffering stream holds goes out then, not at the close.
    #[tokio::test]
    async fn a_flush_passes_through_a_linger() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut linger = Linger::new(tokio::io::BufWriter::new(ours));
        linger.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        linger.flush().await.unwrap();
        let mut written = [0; 17];
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut written))
            .await
            .expect("flushed")
            .unwrap();
        assert_eq!(&written, b"HTTP/1.1 200 OK\r\n");
    }

    /// A `Linger` says what the stream under it says of vectored writes:
    /// hyper writes an answer's head and body to a `TcpStream` in one call
    /// instead of copying them together first, and does not hand vectors to
    /// a stream that would write only the first of them.
    #[tokio::test]
    async fn a_linger_writes_vectored_as_its_stream_does() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(tcp.is_write_vectored());
        assert!(Linger::new(tcp).is_write_vectored());
        let plain = Draining {
            chunks: 0,
            reads: 0,
        };
        assert!(!plain.is_write_vectored());
        assert!(!Linger::new(plain).is_write_vectored());
    }

    /// `serve` running on a port of its own until stopped.
    struct Served {
        addr: std::net::SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        server: tokio::task::JoinHandle<()>,
    }

    impl Served {
        async fn start(router: Router, deadline: Duration) -> Served {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(listener, router, deadline, async {
                let _ = stopped.await;
            }));
            Served {
                addr,
                stop: Some(stop),
                server,
            }
        }

        /// A new connection to the server.
        async fn connect(&self) -> tokio::net::TcpStream {
            tokio::net::TcpStream::connect(self.addr).await.unwrap()
        }

        /// Tells the server to stop, without waiting for it.
        fn signal_stop(&mut self) {
            if let Some(stop) = self.stop.take() {
                stop.send(()).unwrap();
            }
        }

        /// Stops the server and waits until it has: 10 s at most.
        async fn stop(mut self) {
            self.signal_stop();
            tokio::time::timeout(Duration::from_secs(10), self.server)
                .await
                .expect("the server stops")
                .unwrap();
        }
    }

    /// With no deadline (`Duration::MAX`, as the layer takes it), a large
    /// answer whose writes must wait is written whole, and the stop ends the
    /// server: neither adds the deadline to an instant past the clock's end.
    #[tokio::test]
    async fn no_deadline_leaves_writes_and_the_stop_unbounded_without_a_panic() {
        const SIZE: usize = 8 << 20;
        let router = Router::new().route("/big", get(|| async { vec![b'x'; SIZE] }));
        let served = Served::start(router, Duration::MAX).await;
        let mut client = served.connect().await;
        client
            .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut whole = Vec::new();
        client.read_to_end(&mut whole).await.unwrap();
        assert!(whole.starts_with(b"HTTP/1.1 200 "));
        assert!(whole.ends_with(&[b'x'; 1024]), "{} bytes", whole.len());
        served.stop().await;
    }

    /// Reads one answer (head and a `content-length` body) off `client`.
    async fn answer(client: &mut tokio::net::TcpStream) -> String {
        let mut bytes = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                if text.len() >= end + 4 + length {
                    return text;
                }
            }
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut chunk))
                .await
                .expect("an answer")
                .unwrap();
            assert!(read > 0, "closed before the answer: {bytes:?}");
            bytes.extend_from_slice(&chunk[..read]);
        }
    }

    /// An answer given before the request body was read says `Connection:
    /// close`, as hyper then closes the connection; one whose body was read
    /// keeps the connection for the next request.
    #[tokio::test]
    async fn an_answer_before_the_body_arrived_says_the_connection_closes() {
        let router = Router::new()
            .route("/refuse", post(|| async { StatusCode::TOO_MANY_REQUESTS }))
            .route("/read", post(|body: String| async move { body }))
            .route("/", get(|| async { "got" }));
        let served = Served::start(router, Duration::from_secs(5)).await;

        let mut client = served.connect().await;
        for request in [
            &b"POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi"[..],
            b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
            b"POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nho",
        ] {
            client.write_all(request).await.unwrap();
            let answer = answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
            assert!(!answer.contains("connection: close"), "{answer:?}");
        }

        // The head alone: the body is still to come when the answer goes.
        let mut client = served.connect().await;
        client
            .write_all(b"POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n")
            .await
            .unwrap();
        let answer = answer(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 429 "), "{answer:?}");
        assert!(answer.contains("connection: close"), "{answer:?}");
        drop(client);

        served.stop().await;
    }

    /// A body whose last byte was read counts as read, also when the
    /// handler stops there without waiting for the end of the stream (as a
    /// multipart reader that found its part in the last chunk does).
    #[tokio::test]
    async fn a_body_read_to_its_last_byte_keeps_the_connection() {
        use futures_util::StreamExt as _;
        let router = Router::new().route(
            "/first",
            post(|body: Body| async move {
                let first = body.into_data_stream().next().await;
                String::from_utf8_lossy(&first.unwrap().unwrap()).into_owned()
            }),
        );
        let served = Served::start(router, Duration::from_secs(5)).await;
        let mut client = served.connect().await;
        client
            .write_all(b"POST /first HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .unwrap();
        let answer = answer(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
        assert!(answer.ends_with("hi"), "{answer:?}");
        assert!(!answer.contains("connection: close"), "{answer:?}");
        drop(client);
        served.stop().await;
    }

    /// The body handed to the router says what hyper says of the request's
    /// body: whether it is over already (the Tollgate layer guards no body
    /// that is: a GET) and the length it declares.
    #[tokio::test]
    async fn the_body_passed_on_tells_its_end_and_length_as_received() {
        let said = |body: Body| async move {
            let hint = body.size_hint();
            format!(
                "end {} length {:?}..{:?}",
                body.is_end_stream(),
                hint.lower(),
                hint.upper()
            )
        };
        let router = Router::new().route("/", get(said).post(said));
        let served = Served::start(router, Duration::from_secs(5)).await;
        for (request, said) in [
            (
                &b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi"[..],
                "end false length 2..Some(2)",
            ),
            (
                b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
                "end true length 0..Some(0)",
            ),
        ] {
            // A connection each: the body left unread closes the first.
            let mut client = served.connect().await;
            client.write_all(request).await.unwrap();
            let answer = answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
            assert!(answer.ends_with(said), "{answer:?}");
        }
        served.stop().await;
    }

    /// A client that shuts its write side once its request is sent still
    /// gets the answer, also when the handler takes a while.
    #[tokio::test]
    async fn a_request_followed_by_a_half_close_is_answered() {
        let router = Router::new().route(
            "/",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                "done"
            }),
        );
        let served = Served::start(router, Duration::from_secs(5)).await;
        let mut client = served.connect().await;
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("done"),
            "{read:?}: {answer:?}"
        );
        served.stop().await;
    }

    /// A connection accepted before the stop, its head still on its way,
    /// may complete it within [`HEADER_READ_TIMEOUT`]: its request is then
    /// served to the end, not cut off once `deadline` has passed since the
    /// stop.
    #[tokio::test]
    async fn a_request_whose_head_was_on_its_way_at_the_stop_is_answered() {
        let router = Router::new().route(
            "/",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let deadline = Duration::from_secs(1);
        let mut served = Served::start(router, deadline).await;
        let mut client = served.connect().await;
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        // Until the server has read that much.
        tokio::time::sleep(Duration::from_millis(200)).await;
        served.signal_stop();
        // The rest of the head past `deadline` since the stop, well within
        // its own 5 s.
        tokio::time::sleep(deadline + Duration::from_millis(500)).await;
        let _ = client.write_all(b"\r\n").await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection");
        // Gone, so that the server's lingering close ends at once.
        drop(client);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("done"),
            "{read:?}: {answer:?}"
        );
        served.stop().await;
    }
}
