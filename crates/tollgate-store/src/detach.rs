//! Writes that must finish once begun. A request's future is dropped when its
//! client goes away or an outer timeout fires; a charge, a refund or an
//! idempotency record begun by that future would be cut off midway. These
//! run on a task of their own instead, which the drop does not reach.

use std::future::Future;

/// Runs `work` on a task of its own and waits for its answer. Dropping the
/// returned future leaves `work` running, and its answer is then dropped
/// when it comes: an answer that holds something (a claimed key, reserved
/// credits) gives it back in its `Drop`. `None` when `work` panicked (the
/// task has reported it). Without a Tokio runtime, `work` runs inline.
pub(crate) async fn finish<F>(work: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn(work).await.ok(),
        Err(_) => Some(work.await),
    }
}

/// Starts `work` on a task of its own, for a `Drop` that cannot wait. Without
/// a Tokio runtime there is nowhere to run it, and it is dropped.
pub(crate) fn start<F>(work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(work));
    }
}
