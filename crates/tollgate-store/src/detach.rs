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
/// time (another writer holds it locked, it has no connection left for
/// this store, or it is out of reach).
fn unanswered(wait: Duration) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "no answer from the database within {wait:?}: locked by another writer, out of \
             connections, or out of reach"
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

/// Whether a write certainly did not land, so that one which must not land
/// twice can be tried again: no connection was had (nothing was sent), or
/// the database refused it for a lock, which rolls the statement back
/// (SQLite's busy or locked, past its busy timeout; Postgres's lock or
/// statement timeout, a serialization failure, a deadlock).
pub(crate) fn never_landed(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::PoolTimedOut) => true,
        StoreError::Database(sqlx::Error::Database(refusal)) => {
            // SQLite's extended result codes (busy 5, 261, 517, 773; locked
            // 6, 262) and Postgres's SQLSTATEs.
            let code = refusal.code();
            matches!(
                code.as_deref(),
                Some("5" | "261" | "517" | "773" | "6" | "262")
                    | Some("55P03" | "57014" | "40001" | "40P01")
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A database's refusal with an error `code`, as a driver reports it.
    #[derive(Debug)]
    struct Refused(&'static str);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused ({})", self.0)
        }
    }

    impl std::error::Error for Refused {}

    impl sqlx::error::DatabaseError for Refused {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn refused(code: &'static str) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(Refused(code))))
    }

    #[test]
    fn a_write_refused_for_a_lock_never_landed() {
        // SQLite's busy and locked (extended codes too); Postgres's lock and
        // statement timeouts, serialization failure and deadlock: each
        // rolled its statement back.
        for code in [
            "5", "261", "517", "773", "6", "262", "55P03", "57014", "40001", "40P01",
        ] {
            assert!(never_landed(&refused(code)), "{code}");
        }
        assert!(never_landed(&StoreError::Database(
            sqlx::Error::PoolTimedOut
        )));
        // A unique violation, a lost connection: it may have landed, or
        // will fail again the same way.
        for code in ["2067", "23505", "08006"] {
            assert!(!never_landed(&refused(code)), "{code}");
        }
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!never_landed(&StoreError::Database(sqlx::Error::Io(io))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refund_refused_for_a_lock_is_tried_again() {
        let tries = AtomicUsize::new(0);
        let done = persistently(never_landed, || async {
            match tries.fetch_add(1, Ordering::Relaxed) {
                0 => Err(refused("5")),
                _ => Ok(()),
            }
        })
        .await;
        assert!(done.is_ok());
        assert_eq!(tries.load(Ordering::Relaxed), 2);
    }

    /// A write that may have landed (a unique violation) is not tried
    /// again under `never_landed`: its error comes back after one try.
    #[tokio::test(start_paused = true)]
    async fn a_write_that_may_have_landed_is_not_tried_again() {
        let tries = AtomicUsize::new(0);
        let done: Result<(), StoreError> = persistently(never_landed, || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(refused("2067"))
        })
        .await;
        assert!(done.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1);
    }

    /// Under `any_error` every failure is tried again, three tries in all,
    /// and the last error is returned.
    #[tokio::test(start_paused = true)]
    async fn a_write_safe_to_repeat_is_tried_three_times_whatever_the_error() {
        let tries = AtomicUsize::new(0);
        let done: Result<(), StoreError> = persistently(any_error, || async {
            tries.fetch_add(1, Ordering::Relaxed);
            let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            Err(StoreError::Database(sqlx::Error::Io(io)))
        })
        .await;
        assert!(done.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 3);
    }
}
