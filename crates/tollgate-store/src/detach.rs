//! Writes that must finish once begun. A request's future is dropped when its
//! client goes away or an outer timeout fires; a charge, a refund or an
//! idempotency record begun by that future would be cut off midway. These
//! run on a task of their own instead, which the drop does not reach, and
//! which the store's [`TaskTracker`] counts, so that a server can wait for
//! them before its runtime ends ([`Store::finish_writes`](crate::Store::finish_writes)).

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::StoreError;

/// Runs `work` on a task of its own, counted by `writes`, and waits for its
/// answer. Dropping the returned future leaves `work` running, and its
/// answer is then dropped when it comes: an answer that holds something (a
/// claimed key, reserved credits) gives it back in its `Drop`. `None` when
/// `work` panicked (the task has reported it). Without a Tokio runtime,
/// `work` runs inline.
pub(crate) async fn finish<F>(writes: &TaskTracker, work: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let (answer, answered) = tokio::sync::oneshot::channel();
            let task = async move {
                // An answer no one waits for is dropped here, while this
                // task still counts: the write its `Drop` starts is counted
                // before this one ends, so `finish_writes` never finds none
                // left in between (a `JoinHandle` would drop it after the
                // task had stopped counting, and the write could be cut off).
                drop(answer.send(work.await));
            };
            drop(writes.spawn_on(task, &runtime));
            answered.await.ok()
        }
        Err(_) => Some(work.await),
    }
}

/// [`finish`], waiting at most `wait` for the answer: past it, `Err` and
/// `work` left running, as when the caller is dropped (an answer that holds
/// something gives it back when it comes). Without a Tokio runtime, `work`
/// runs inline, unbounded.
pub(crate) async fn finish_within<F>(
    writes: &TaskTracker,
    wait: Duration,
    work: F,
) -> Result<Option<F::Output>, StoreError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(finish(writes, work).await);
    }
    tokio::time::timeout(wait, finish(writes, work))
        .await
        .map_err(|_| unanswered(wait))
}

/// Runs `work`, a write the response need not wait for once it is begun, on
/// a task of its own, waiting at most `wait` for it: past it (a lock another
/// writer holds), the response goes out and the write goes on alone.
pub(crate) async fn finish_or_leave<F>(writes: &TaskTracker, wait: Duration, work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Err(error) = finish_within(writes, wait, work).await {
        tracing::warn!(%error, "a store write is still waiting: the response goes out without it");
    }
}

/// Why a write waited for was given up: the database did not answer in
/// time (another writer holds it locked, or it is out of reach).
fn unanswered(wait: Duration) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "no answer from the database within {wait:?}: locked by another writer, or out of \
             reach"
        ),
    )))
}

/// Starts `work` on a task of its own, counted by `writes`, for a `Drop`
/// that cannot wait. Without a Tokio runtime there is nowhere to run it, and
/// it is dropped.
pub(crate) fn start<F>(writes: &TaskTracker, work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(writes.spawn_on(work, &runtime));
    }
}

/// Runs `write` up to three times, 0.1 s and then 1 s apart, while it fails
/// with an error `again` deems worth another try: one dropped connection or
/// busy moment would otherwise lose the write.
pub(crate) async fn persistently<T, F, Fut>(
    again: fn(&StoreError) -> bool,
    mut write: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut waits = [Duration::from_millis(100), Duration::from_secs(1)].into_iter();
    loop {
        match (write().await, waits.next()) {
            (Err(error), Some(wait)) if again(&error) => {
                tracing::warn!(%error, "a store write failed; trying again");
                tokio::time::sleep(wait).await;
            }
            (done, _) => return done,
        }
    }
}

/// Every failure is worth another try (a write that is safe to repeat).
pub(crate) fn any_error(_: &StoreError) -> bool {
    true
}

/// Only a failure to get a connection is: nothing was sent, so a write that
/// must not land twice can be tried again.
pub(crate) fn no_connection(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx::Error::PoolTimedOut))
}
