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

    /// The codes this route's needs may answer with, for its documented
    /// responses ([`tollgate::docs::openapi::responses`]), beside those of
    /// the layers around the whole app (`internal_error` among them) and of
    /// the handler's extractors: authentication's
    /// ([`AuthLayer::error_codes`]); a cost's `insufficient_credits` (above
    /// 0) and `usage_limit_exceeded` (any cost counts usage); idempotency's
    /// key in use or reused, a key that is no key (`validation_error`), a
    /// body past what it keeps (`payload_too_large`) or that cannot be read
    /// (`malformed_request`), and a first request cut off before its answer
    /// was kept (`conflict`), and `missing_field` where the key is
    /// required.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = tollgate_store::Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
    /// use tollgate_store::{Gatekeeper, Idempotency};
    /// let route = Gatekeeper::new(store).route().scope("scans:write").cost(1);
    /// let codes = route.idempotency(Idempotency::Required).error_codes();
    /// assert!(codes.contains(&"insufficient_scope") && codes.contains(&"missing_field"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn error_codes(&self) -> Vec<&'static str> {
        let mut codes = self.auth().error_codes();
        // A cost of 0 still counts usage against the monthly limit.
        if let Some(cost) = self.cost {
            if cost > 0 {
                codes.push("insufficient_credits");
            }
            codes.push("usage_limit_exceeded");
        }
        if self.idempotency != Idempotency::Off {
            codes.extend([
                "idempotency_key_in_use",
                "idempotency_key_reused",
                "validation_error",
                "payload_too_large",
                "malformed_request",
                "conflict",
            ]);
        }
        if self.idempotency == Idempotency::Required {
            codes.push("missing_field");
        }
        codes
    }

    /// Authentication with the route's scopes.
    fn auth(&self) -> AuthLayer {
        AuthLayer {
            gate: self.gate.clone(),
            scopes: Arc::from(self.scopes.clone()),
        }
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
        self.auth().layer(idempotency.layer(credits.layer(inner)))
    }
}

#[cfg(test)]
mod tests {
    use tollgate::Catalog;

    use super::*;
    use crate::Store;

    /// Each need adds the codes it answers with, every one built in.
    #[tokio::test]
    async fn a_routes_codes_follow_its_needs() {
        let gate = Gatekeeper::new(Store::open("sqlite::memory:").await.unwrap());
        let bare = gate.route().idempotency(Idempotency::Off).error_codes();
        assert_eq!(bare, AuthLayer::new(gate.clone()).error_codes());
        assert!(!bare.contains(&"insufficient_scope"));
        let all = gate
            .route()
            .scope("scans:write")
            .cost(1)
            .idempotency(Idempotency::Required)
            .error_codes();
        for code in [
            "insufficient_scope",
            "insufficient_credits",
            "idempotency_key_reused",
            "missing_field",
        ] {
            assert!(all.contains(&code), "{code}: {all:?}");
        }
        for code in &all {
            assert!(Catalog::builtin_ref().get(code).is_some(), "{code}");
        }
        // A free route still counts usage.
        let free = gate.route().cost(0).error_codes();
        assert!(!free.contains(&"insufficient_credits"), "{free:?}");
        assert!(free.contains(&"usage_limit_exceeded"), "{free:?}");
    }
}
