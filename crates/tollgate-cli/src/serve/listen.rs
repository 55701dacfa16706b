//! The accept loop: what `axum::serve` does, plus a deadline on request heads.
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
//! ever), and shutdown waits for requests in flight that long at most.
//! A client that reads slowly but steadily (a few KiB every few seconds)
//! keeps its place: there is no cap per client here; a proxy in front does
//! that.

use std::future::Future;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// The most connections served at once; more wait to be accepted.
pub(crate) const MAX_CONNECTIONS: usize = 512;

/// How long a request head may take to arrive. Short and apart from the
/// handler deadline (up to an hour), so that idle or half-sent connections
/// do not hold one of the [`MAX_CONNECTIONS`] places for long.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves, then waits for
/// the requests in flight, `deadline` at most, and ends those still
/// running. A connection whose request head is not complete within
/// [`HEADER_READ_TIMEOUT`], or whose answer cannot be written for
/// `deadline`, is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    deadline: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
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
        let service = router
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(deadline));
        let io = TokioIo::new(Box::pin(stream));
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
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running {} s after the shutdown began: stopping without them",
            deadline.as_secs()
        );
        // Dropped here, so that a request's refund starts now, not never.
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
