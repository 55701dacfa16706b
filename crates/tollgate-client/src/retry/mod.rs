//! Retrying the way the server asked: the policy, the shared budget, the
//! jitter and the middleware that applies them.

mod budget;
mod jitter;
mod middleware;
mod policy;

pub use budget::RetryBudget;
pub use jitter::Jitter;
pub(crate) use middleware::{
    Attempts, Deadline, MiddlewareDecoder, SentIdempotencyKey, SentMethod, sent_idempotency_key,
    success_request_id,
};
pub use middleware::{ERROR_BODY_TIME, TollgateMiddleware};
pub use policy::RetryPolicy;
pub(crate) use policy::plan_after_response;
