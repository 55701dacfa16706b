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
}

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
