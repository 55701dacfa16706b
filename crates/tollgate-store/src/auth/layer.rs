use std::sync::Arc;

use tower::Layer;

use super::Auth;
use crate::Gatekeeper;

/// Authenticates requests by API key and checks scopes; see [the module](crate::auth).
///
/// ```
/// # async fn f(store: tollgate_store::Store) {
/// let gate = tollgate_store::Gatekeeper::new(store);
/// let layer = gate.auth().scopes(["scans:read", "scans:write"]);
/// # let _ = layer;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    pub(crate) gate: Gatekeeper,
    pub(crate) scopes: Arc<[String]>,
}

impl AuthLayer {
    /// Authentication with no scope required.
    pub fn new(gate: Gatekeeper) -> AuthLayer {
        AuthLayer {
            gate,
            scopes: Arc::from([]),
        }
    }

    /// Requires `scope` too.
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.scopes([scope])
    }

    /// Requires every one of `scopes` too; the first missing one is named.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut all: Vec<String> = self.scopes.to_vec();
        all.extend(scopes.into_iter().map(Into::into));
        self.scopes = all.into();
        self
    }

    /// The codes this layer may answer with, for a route's documented
    /// responses ([`tollgate::docs::openapi::responses`]): a key missing,
    /// invalid, expired or deactivated, its account suspended, the store
    /// down; `insufficient_scope` when it requires a scope.
    pub fn error_codes(&self) -> Vec<&'static str> {
        let mut codes = AUTH_CODES.to_vec();
        if !self.scopes.is_empty() {
            codes.push("insufficient_scope");
        }
        codes
    }
}

/// The codes authentication may answer with, any scope aside.
const AUTH_CODES: [&str; 5] = [
    "invalid_key",
    "expired_key",
    "deactivated_key",
    "account_suspended",
    "service_unavailable",
];

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            gate: self.gate.clone(),
            scopes: self.scopes.clone(),
        }
    }
}
