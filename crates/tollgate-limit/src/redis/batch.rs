//! Decisions queued while calls are on their way, and sent together in
//! one script call.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use redis::{Cmd, RedisResult, Value};
use tokio::sync::oneshot;

use super::FailureLog;
use super::connect::{Connection, Link};

/// What a decision does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Check,
    Peek,
    Refund,
}

/// One decision waiting for its script call.
pub(super) struct Job {
    pub(super) key: String,
    pub(super) increment: u64,
    pub(super) tolerance: u64,
    pub(super) mode: Mode,
    pub(super) reply: oneshot::Sender<Result<i64, redis::RedisError>>,
}

impl Job {
    /// The job as the script reads it: `>ddB` (µs up to 2^53 are exact).
    fn packed(&self) -> [u8; 17] {
        let mut packed = [0; 17];
        packed[..8].copy_from_slice(&(self.increment as f64).to_be_bytes());
        packed[8..16].copy_from_slice(&(self.tolerance as f64).to_be_bytes());
        packed[16] = match self.mode {
            Mode::Check => 0,
            Mode::Peek => 1,
            Mode::Refund => 2,
        };
        packed
    }
}

/// Decisions waiting while script calls are on their way.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) jobs: Vec<Job>,
    /// Script calls on their way.
    pub(super) calls: usize,
    /// Decisions in those calls.
    pub(super) flying: usize,
}

impl Queue {
    /// Whether the waiting decisions make a new call: see [`threshold`].
    pub(super) fn ready(&self, max_batch: usize, max_in_flight: usize) -> bool {
        self.calls < max_in_flight && self.jobs.len() >= threshold(self.flying, max_batch)
    }

    /// A new call of the oldest `max_batch` waiting decisions (or all).
    pub(super) fn open_call(&mut self, max_batch: usize) -> Vec<Job> {
        let later = self.jobs.split_off(max_batch.min(self.jobs.len()));
        let batch = std::mem::replace(&mut self.jobs, later);
        self.calls += 1;
        self.flying += batch.len();
        batch
    }

    /// A call of `decisions` has ended.
    pub(super) fn close_call(&mut self, decisions: usize) {
        self.calls -= 1;
        self.flying -= decisions;
    }
}

/// At most this many script calls on their way at once, unless batches are
/// capped small ([`in_flight_cap`]).
pub(super) const MAX_IN_FLIGHT: usize = 8;

/// How many script calls may be on their way with batches of at most
/// `max_batch`: [`MAX_IN_FLIGHT`], or as many as carry 64 decisions when
/// batches are smaller than 8 (with `max_batch` 1, 64 calls: one decision
/// each, pipelined like plain commands).
pub(super) fn in_flight_cap(max_batch: usize) -> usize {
    (64 / max_batch.max(1)).max(MAX_IN_FLIGHT)
}

/// The fewest decisions a call takes while others are on their way: a call
/// of two costs Redis almost what a call of four does.
const MIN_BATCH: usize = 4;

/// How many decisions must wait for a new call while `flying` decisions are
/// on their way: one when none are; else as many as are on their way and at
/// least [`MIN_BATCH`], or a full batch if that is fewer. With `max_batch`
/// 1, every decision goes at once, up to [`in_flight_cap`] calls.
pub(super) fn threshold(flying: usize, max_batch: usize) -> usize {
    if flying == 0 {
        return 1;
    }
    flying.max(MIN_BATCH).min(max_batch)
}

/// What became of a queued decision.
pub(super) enum Enqueued {
    /// A new call takes these decisions (the caller's among them): the
    /// caller sends it.
    Send(Vec<Job>),
    /// It waits: a later decision or an answered call sends it, with
    /// others, once enough wait.
    Queued,
}

/// Gathers concurrent decisions into script calls. A lone decision goes at
/// once; while calls are on their way, decisions wait, and a new call takes
/// them once as many wait as are on their way, and at least [`MIN_BATCH`]
/// (or a full batch; up to [`in_flight_cap`] calls), whether the count is
/// reached by a decision arriving or by a call being answered
/// ([`threshold`]). So batches follow the load (measured: 3.7 decisions a
/// call with 8 callers, 14.9 with 32): Redis decides a batch for much less
/// than its decisions one by one, and still never idles while the client
/// works.
/// (Tried, and slower somewhere from 1 to 128 concurrent callers: one call
/// at a time, which leaves Redis idle between calls; a new call once a fixed
/// 2, 4 or 8 decisions wait; an answered call taking whatever waits; a new
/// call once 2ⁿ or 2ⁿ⁺¹ decisions wait with n calls on their way; as many
/// as are on their way without the floor of four; see `BENCHMARKS.md`.) No
/// crate batches calls of one Lua script, so it is written here: a lock held
/// only to push or take jobs.
pub(super) struct Batcher {
    pub(super) link: Link,
    pub(super) script: redis::Script,
    pub(super) max_batch: usize,
    /// [`in_flight_cap`] of `max_batch`.
    pub(super) max_in_flight: usize,
    pub(super) queue: Mutex<Queue>,
    /// The store's failures, as the limiter logs them.
    pub(super) failures: FailureLog,
}

impl Batcher {
    /// Queues `job` and says who sends it.
    pub(super) fn enqueue(&self, job: Job) -> Enqueued {
        let mut queue = self.lock();
        queue.jobs.push(job);
        if queue.ready(self.max_batch, self.max_in_flight) {
            return Enqueued::Send(queue.open_call(self.max_batch));
        }
        Enqueued::Queued
    }

    /// The queue (a panic elsewhere while it was held leaves it consistent:
    /// every change to it is one step).
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a call of `decisions` without a next one.
    fn release(&self, decisions: usize) {
        self.lock().close_call(decisions);
    }

    /// Ends a call of `decisions`, and opens the next if enough decisions
    /// wait for it (with no other call on its way, one is enough: nothing is
    /// ever left waiting without a call that will take it).
    fn next_batch(&self, decisions: usize) -> Option<Vec<Job>> {
        let mut queue = self.lock();
        queue.close_call(decisions);
        queue
            .ready(self.max_batch, self.max_in_flight)
            .then(|| queue.open_call(self.max_batch))
    }

    /// Sends `batch` as one script call and answers its callers. Callers
    /// that gave up while queued (a timeout) are left out: their calls are
    /// neither decided nor recorded. A refund is sent whoever waits for it:
    /// a request dropped while its refunds were queued is not charged.
    /// A caller that gave up while its call was on its way (its timeout
    /// fired first) and was admitted, and so charged, is refunded at once:
    /// a request that failed is not charged either.
    async fn send_batch(self: &Arc<Batcher>, mut batch: Vec<Job>) {
        batch.retain(|job| job.mode == Mode::Refund || !job.reply.is_closed());
        if batch.is_empty() {
            return;
        }
        let replies = match self.run_script(&batch).await {
            Ok(replies) => replies,
            Err(error) => {
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let mut refunds = Vec::new();
        for (job, reply) in batch.into_iter().zip(replies) {
            let Job {
                key,
                increment,
                tolerance,
                mode,
                reply: caller,
            } = job;
            let unheard = caller.send(Ok(reply)).is_err();
            if unheard && mode == Mode::Check && reply >= 0 && increment > 0 {
                refunds.push(Job {
                    key,
                    increment,
                    tolerance,
                    mode: Mode::Refund,
                    reply: oneshot::channel().0,
                });
            }
        }
        // On a task of their own: neither the callers answered here nor this
        // call's slot wait for them.
        if !refunds.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let batcher = Arc::clone(self);
            drop(runtime.spawn(async move {
                let _ = batcher.run_script(&refunds).await;
            }));
        }
    }

    /// Runs `batch` as one script call: one answer per job, in order.
    async fn run_script(&self, batch: &[Job]) -> RedisResult<Vec<i64>> {
        // The command is built by hand rather than through
        // `Script::prepare_invoke`, which copies every key and argument into
        // a vector of its own before building the same command: on a batch
        // that was most of the client's allocations.
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(batch.len());
        for job in batch {
            cmd.arg(job.key.as_bytes());
        }
        for job in batch {
            cmd.arg(&job.packed()[..]);
        }
        let replies = match self.call(&cmd).await? {
            redis::Value::Int(answer) => vec![answer],
            answers => <Vec<i64> as redis::FromRedisValue>::from_redis_value(answers)?,
        };
        if replies.len() != batch.len() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "rate-limit script answered the wrong number of decisions",
                format!("{} for {}", replies.len(), batch.len()),
            )));
        }
        Ok(replies)
    }

    /// Runs the script call `cmd`, loading the script first if Redis lost it.
    async fn call(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut conn = self.link.connection().await?;
        let mut reply = cmd.query_async(&mut conn).await;
        let no_script = redis::ErrorKind::Server(redis::ServerErrorKind::NoScript);
        if matches!(&reply, Err(error) if error.kind() == no_script) {
            // Redis restarted or flushed its scripts (on a cluster: every
            // node is sent the script): load ours, try again.
            reply = match self.script.load_async(&mut conn).await {
                Ok(_) => cmd.query_async(&mut conn).await,
                Err(error) => Err(error),
            };
        }
        // Whichever call failed: a restarted ex-primary, now a replica, has
        // no scripts and refuses the retried one as READONLY.
        if let (Err(error), Link::Server(server), Connection::Server(_, number)) =
            (&reply, &self.link, &conn)
        {
            server.drop_if_stale(*number, error).await;
        }
        reply
    }

    /// Sends `batch`, then the batches that [`next_batch`](Self::next_batch)
    /// hands over.
    async fn drain(self: Arc<Batcher>, mut batch: Vec<Job>) {
        loop {
            let decisions = batch.len();
            self.send_batch(batch).await;
            match self.next_batch(decisions) {
                Some(next) => batch = next,
                None => return,
            }
        }
    }

    /// What follows a call of `decisions` answered: the next batch, in a
    /// task of its own.
    fn after_call(self: Arc<Batcher>, decisions: usize) {
        let Some(next) = self.next_batch(decisions) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(self.drain(next))),
            // The runtime is gone: the queued callers are answered
            // "cancelled" as their jobs drop.
            Err(_) => self.release(next.len()),
        }
    }
}

/// A script call sent by a caller whose decision is in it. If the caller
/// gives up before the answer (a timeout, a dropped request), the call goes
/// on in a task of its own, so that the other callers in it are still
/// answered. Once answered, the decisions that queued meanwhile go on in a
/// task: this caller returns at once.
pub(super) struct OwnCall {
    batcher: Arc<Batcher>,
    /// How many decisions the call carries.
    decisions: usize,
    /// Boxed so that it can move into a task when this caller gives up.
    call: Option<futures_util::future::BoxFuture<'static, ()>>,
}

impl OwnCall {
    pub(super) fn new(batcher: &Arc<Batcher>, batch: Vec<Job>) -> OwnCall {
        let sender = Arc::clone(batcher);
        OwnCall {
            batcher: Arc::clone(batcher),
            decisions: batch.len(),
            call: Some(Box::pin(async move { sender.send_batch(batch).await })),
        }
    }
}

impl Future for OwnCall {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(call) = self.call.as_mut() {
            ready!(call.as_mut().poll(cx));
            self.call = None;
        }
        Poll::Ready(())
    }
}

impl Drop for OwnCall {
    fn drop(&mut self) {
        let (batcher, decisions) = (Arc::clone(&self.batcher), self.decisions);
        let Some(call) = self.call.take() else {
            return batcher.after_call(decisions);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move {
                call.await;
                batcher.after_call(decisions);
            })),
            // The runtime is gone: the call's callers are answered
            // "cancelled" as their jobs drop.
            Err(_) => batcher.after_call(decisions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{RedisOptions, RedisStore};

    fn job() -> (Job, oneshot::Receiver<Result<i64, redis::RedisError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            key: String::new(),
            increment: 1,
            tolerance: 1,
            mode: Mode::Check,
            reply,
        };
        (job, answer)
    }

    /// With the runtime gone, a call's end still frees its slot: the
    /// decision that waited for it is cancelled, not left counted in.
    #[test]
    fn without_a_runtime_an_ended_call_frees_its_slot() {
        let store = RedisStore::open("redis://127.0.0.1:1", RedisOptions::default()).unwrap();
        let batcher = Arc::clone(&store.batcher);
        let (first, _) = job();
        let Enqueued::Send(call) = batcher.enqueue(first) else {
            panic!("a lone decision goes at once");
        };
        let (second, mut answer) = job();
        assert!(matches!(batcher.enqueue(second), Enqueued::Queued));
        Arc::clone(&batcher).after_call(call.len());
        let queue = batcher.lock();
        assert_eq!((queue.calls, queue.flying, queue.jobs.len()), (0, 0, 0));
        let cancelled = oneshot::error::TryRecvError::Closed;
        assert_eq!(answer.try_recv(), Err(cancelled));
    }
}
