//! Tenant isolation: a resource of another account does not exist, as far as
//! the caller can tell (`not_found`, never `insufficient_scope`).

use tollgate::{ApiError, Catalog};

use crate::Principal;

/// A resource owned by one account.
///
/// ```
/// struct Scan { id: String, account_id: String }
/// impl tollgate_store::Owned for Scan {
///     fn owner(&self) -> &str { &self.account_id }
/// }
/// ```
pub trait Owned {
    /// The owning account's id.
    fn owner(&self) -> &str;
}

impl<T: Owned + ?Sized> Owned for &T {
    fn owner(&self) -> &str {
        (**self).owner()
    }
}

impl<T: Owned + ?Sized> Owned for Box<T> {
    fn owner(&self) -> &str {
        (**self).owner()
    }
}

impl<T: Owned + ?Sized> Owned for std::sync::Arc<T> {
    fn owner(&self) -> &str {
        (**self).owner()
    }
}

impl Principal {
    /// A loaded resource if the caller's account owns it; `not_found` when it
    /// is missing *or* another account's, so the two cannot be told apart.
    ///
    /// ```
    /// use tollgate::Catalog;
    /// use tollgate_store::{Owned, Principal};
    /// #[derive(Debug)]
    /// struct Scan { account_id: &'static str }
    /// impl Owned for Scan { fn owner(&self) -> &str { self.account_id } }
    ///
    /// let catalog = Catalog::builtin();
    /// let me = Principal::new("key1", "acme", ["scans:read"]);
    /// assert!(me.own(&catalog, Some(Scan { account_id: "acme" })).is_ok());
    /// let theirs = me.own(&catalog, Some(Scan { account_id: "globex" })).unwrap_err();
    /// let missing = me.own::<Scan>(&catalog, None).unwrap_err();
    /// assert_eq!(theirs.code(), "not_found");
    /// assert_eq!(theirs.message(), missing.message());
    /// ```
    // `ApiError` is the core's error type, returned as is so handlers can `?` it.
    pub fn own<R: Owned>(&self, catalog: &Catalog, resource: Option<R>) -> Result<R, ApiError> {
        match resource {
            Some(r) if r.owner() == self.account_id() => Ok(r),
            _ => Err(crate::error::error(catalog, "not_found")),
        }
    }

    /// [`own`](Self::own), then the scope: ownership is checked first, so a
    /// key lacking the scope learns nothing about other tenants' resources.
    ///
    /// ```
    /// use tollgate::Catalog;
    /// use tollgate_store::{Owned, Principal};
    /// #[derive(Debug)]
    /// struct Scan { account_id: &'static str }
    /// impl Owned for Scan { fn owner(&self) -> &str { self.account_id } }
    ///
    /// let catalog = Catalog::builtin();
    /// let reader = Principal::new("key1", "acme", ["scans:read"]);
    /// let err = reader.access(&catalog, Some(Scan { account_id: "globex" }), "scans:write").unwrap_err();
    /// assert_eq!(err.code(), "not_found");
    /// let err = reader.access(&catalog, Some(Scan { account_id: "acme" }), "scans:write").unwrap_err();
    /// assert_eq!(err.code(), "insufficient_scope");
    /// assert_eq!(err.message(), "API key lacks required scope: scans:write");
    /// ```
    pub fn access<R: Owned>(
        &self,
        catalog: &Catalog,
        resource: Option<R>,
        scope: &str,
    ) -> Result<R, ApiError> {
        let resource = self.own(catalog, resource)?;
        if self.has_scope(scope) {
            Ok(resource)
        } else {
            Err(crate::error::error(catalog, "insufficient_scope").with("scope", scope))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Debug)]
    struct Scan {
        account_id: &'static str,
    }

    impl Owned for Scan {
        fn owner(&self) -> &str {
            self.account_id
        }
    }

    /// A reference, a `Box` and an `Arc` report the owner of the resource
    /// they hold, so each passes the ownership check only for its account.
    #[test]
    fn borrowed_boxed_and_shared_resources_report_their_owner() {
        fn owner_of<R: Owned>(resource: &R) -> &str {
            resource.owner()
        }
        let scan = Scan { account_id: "acme" };
        assert_eq!(owner_of(&&scan), "acme");
        assert_eq!(owner_of(&Box::new(Scan { account_id: "acme" })), "acme");
        assert_eq!(owner_of(&Arc::new(Scan { account_id: "acme" })), "acme");
        let boxed: Box<dyn Owned> = Box::new(Scan {
            account_id: "globex",
        });
        assert_eq!(owner_of(&boxed), "globex");

        let catalog = Catalog::builtin();
        let me = Principal::new("key1", "acme", ["scans:read"]);
        assert!(me.own(&catalog, Some(&scan)).is_ok());
        assert!(
            me.own(&catalog, Some(Box::new(Scan { account_id: "acme" })))
                .is_ok()
        );
        assert!(
            me.own(&catalog, Some(Arc::new(Scan { account_id: "acme" })))
                .is_ok()
        );
        let theirs = me
            .own(
                &catalog,
                Some(Arc::new(Scan {
                    account_id: "globex",
                })),
            )
            .unwrap_err();
        assert_eq!(theirs.code(), "not_found");
    }
}
