use tower::Layer;

use super::Credits;
use crate::Gatekeeper;

/// Charges a route's cost in credits and counts its usage; see [the module](crate::credits).
///
/// ```
/// # async fn f(store: tollgate_store::Store) {
/// let layer = tollgate_store::Gatekeeper::new(store).credits(5);
/// # let _ = layer;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CreditsLayer {
    pub(crate) gate: Gatekeeper,
    pub(crate) cost: Option<i64>,
}

impl CreditsLayer {
    /// Charges `cost` credits per request (0: only counts usage). A negative
    /// cost is taken as 0.
    pub fn new(gate: Gatekeeper, cost: i64) -> CreditsLayer {
        CreditsLayer {
            gate,
            cost: Some(cost.max(0)),
        }
    }

    /// A layer that charges nothing and counts nothing (for routes that are free).
    pub(crate) fn off(gate: Gatekeeper) -> CreditsLayer {
        CreditsLayer { gate, cost: None }
    }
}

impl<S> Layer<S> for CreditsLayer {
    type Service = Credits<S>;

    fn layer(&self, inner: S) -> Credits<S> {
        Credits {
            inner,
            gate: self.gate.clone(),
            cost: self.cost,
        }
    }
}
