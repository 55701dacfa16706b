/// The future of [`Credits`](super::Credits): reserve → handler → commit or release.
pub type CreditsFuture<F, B, E> = crate::GateFuture<F, B, E>;
