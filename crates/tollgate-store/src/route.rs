//! [`RouteLayer`]: a route's needs declared in one place.

use std::sync::Arc;

use tower::Layer;

use crate::auth::Auth;
use crate::credits::Credits;
use crate::idempotency::IdempotencyService;
use crate::{AuthLayer, CreditsLayer, Gatekeeper, Idempotency, IdempotencyLayer};

/// Declares what a route needs — scopes, a cost in credits, idempotency — and
/// stacks the layers in the one order that is right:
/// authentication and scopes, then idempotency (so replays and conflicts are
/// never charged), then credits, then the handler.
///
/// On axum, attach it with `route_layer`: `layer` would also wrap the
/// method router's fallback, so a GET to a POST-only route would be
/// authenticated (and refused 401 or 403) instead of answered 405.
///
/// ```
/// use axum::{Router, routing::post};
/// use tollgate_store::{Gatekeeper, Idempotency, Store};
///
/// async fn create_scan() -> &'static str { "ok" }
///
/// # async fn f(store: Store) {
/// let gate = Gatekeeper::new(store);
/// let app: Router = Router::new().route(
///     "/v1/scans",
///     post(create_scan).route_layer(gate.route().scope("scans:write").cost(1).idempotency(Idempotency::Optional)),
/// );
/// # let _ = app;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RouteLayer {
    gate: Gatekeeper,
    scopes: Vec<String>,
    cost: Option<i64>,
    idempotency: Idempotency,
}

impl RouteLayer {
    /// A route that needs a valid key and nothing more.
    pub fn new(gate: Gatekeeper) -> RouteLayer {
        RouteLayer {
            gate,
            scopes: Vec::new(),
            cost: None,
            idempotency: Idempotency::Off,
        }
    }

    /// Requires `scope`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Costs `credits` per request (and counts against the monthly usage limit).
    pub fn cost(mut self, credits: i64) -> Self {
        self.cost = Some(credits.max(0));
        self
    }

    /// Honours or requires `Idempotency-Key` on POST and PATCH.
    pub fn idempotency(mut self, mode: Idempotency) -> Self {
        self.idempotency = mode;
        self
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Auth<IdempotencyService<Credits<S>>>;

    fn layer(&self, inner: S) -> Self::Service {
        let credits = match self.cost {
            Some(cost) => CreditsLayer::new(self.gate.clone(), cost),
            None => CreditsLayer::off(self.gate.clone()),
        };
        let idempotency = IdempotencyLayer::new(self.gate.clone()).mode(self.idempotency);
        let auth = AuthLayer {
            gate: self.gate.clone(),
            scopes: Arc::from(self.scopes.clone()),
        };
        auth.layer(idempotency.layer(credits.layer(inner)))
    }
}
