/// The future of [`IdempotencyService`](super::IdempotencyService): claim → run or
/// replay → store.
pub type IdempotencyFuture<F, B, E> = crate::GateFuture<F, B, E>;
