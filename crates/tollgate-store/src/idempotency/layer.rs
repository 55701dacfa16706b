use tower::Layer;

use super::IdempotencyService;
use crate::Gatekeeper;

/// Whether a route takes an `Idempotency-Key`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotency {
    /// Ignored: the header is not looked at.
    Off,
    /// Honoured when sent.
    #[default]
    Optional,
    /// Required on POST and PATCH: a request without one gets `missing_field` (400).
    Required,
}

/// Stores and replays responses by `Idempotency-Key`; see [the module](crate::idempotency).
///
/// ```
/// # async fn f(store: tollgate_store::Store) {
/// use tollgate_store::Idempotency;
/// let layer = tollgate_store::Gatekeeper::new(store).idempotency().mode(Idempotency::Required);
/// # let _ = layer;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct IdempotencyLayer {
    pub(crate) gate: Gatekeeper,
    pub(crate) mode: Idempotency,
}

impl IdempotencyLayer {
    /// Honours `Idempotency-Key` when sent.
    pub fn new(gate: Gatekeeper) -> IdempotencyLayer {
        IdempotencyLayer {
            gate,
            mode: Idempotency::Optional,
        }
    }

    /// Sets whether the key is ignored, optional or required.
    pub fn mode(mut self, mode: Idempotency) -> Self {
        self.mode = mode;
        self
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> IdempotencyService<S> {
        IdempotencyService {
            inner,
            gate: self.gate.clone(),
            mode: self.mode,
        }
    }
}
