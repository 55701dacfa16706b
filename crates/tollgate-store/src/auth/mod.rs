//! Authentication and scopes: [`AuthLayer`].
//!
//! The key is read from `X-API-Key` or, failing that, `Authorization: Bearer`
//! (the scheme in any case, one or more spaces before the key): when both
//! are sent, `X-API-Key` wins, unless it is blank (empty or only spaces),
//! which counts as not sent. A request with several `X-API-Key` lines, or
//! several `Authorization` lines, gets `invalid_key`, even if they hold the
//! same key: which one is meant cannot be told.
//! A missing, malformed or unknown key gets `invalid_key`, an expired one
//! `expired_key`, a revoked one `deactivated_key` (all 401 with
//! `WWW-Authenticate`, whose `error_description` says which of these it is,
//! as RFC 6750 asks, while the body stays the catalog's: see
//! [`WWW_AUTHENTICATE_VALUE`](crate::WWW_AUTHENTICATE_VALUE)); a suspended account gets `account_suspended` (402);
//! a key lacking a scope the layer requires gets `insufficient_scope` (403)
//! naming it, in the body and in `WWW-Authenticate`
//! (`error="insufficient_scope"`, `scope="…"`, RFC 6750, 3.1). On success the [`Principal`](crate::Principal) is put in the
//! request's extensions, and the key's id as a
//! [`RateLimitKey`](tollgate::RateLimitKey): a per-key rate limit inside this
//! layer (`tollgate_limit::ApiKey::from_extension()`) counts the key that
//! authenticated, never a made-up one.
//!
//! An `AuthLayer` inside another (a global one, plus one per route with the
//! route's scopes) reuses the principal already authenticated and only checks
//! its scopes.
//!
//! Lookups come from the store's short-lived key cache; only a miss reaches
//! the database.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tollgate_store::{Gatekeeper, NewAccount, NewKey, Principal, Store};
//! use tower::{Layer, Service, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
//! store.create_account(NewAccount::new("acme")).await?;
//! let key = store.create_key(NewKey::new("acme", ["scans:read"])).await?;
//!
//! let handler = tower::service_fn(|req: Request<Full<Bytes>>| async move {
//!     let who = req.extensions().get::<Principal>().unwrap().account_id().to_owned();
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from(who)))
//! });
//! let gate = Gatekeeper::new(store);
//! let mut svc = gate.auth().scope("scans:write").layer(handler);
//!
//! let req = Request::post("/v1/scans").header("x-api-key", key.secret()).body(Full::default())?;
//! let res = svc.ready().await?.call(req).await?;
//! assert_eq!(res.status(), 403);
//! assert_eq!(res.headers()["x-error-code"], "insufficient_scope");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod future;
mod layer;
mod service;

pub use future::AuthFuture;
pub use layer::AuthLayer;
pub use service::Auth;

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use tollgate::headers::{NoApiKey, api_key};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn keys_come_from_either_header() {
        assert_eq!(api_key(&headers(&[("x-api-key", "k1")])), Ok("k1"));
        assert_eq!(
            api_key(&headers(&[("authorization", "Bearer k2")])),
            Ok("k2")
        );
        assert_eq!(
            api_key(&headers(&[("authorization", "bearer  k3 ")])),
            Ok("k3")
        );
        assert_eq!(
            api_key(&headers(&[("authorization", "Basic abc")])),
            Err(NoApiKey::Absent)
        );
        assert_eq!(
            api_key(&headers(&[("authorization", "Bearer")])),
            Err(NoApiKey::Absent)
        );
        assert_eq!(api_key(&headers(&[])), Err(NoApiKey::Absent));
        assert_eq!(
            api_key(&headers(&[
                ("x-api-key", "k1"),
                ("authorization", "Bearer k2")
            ])),
            Ok("k1")
        );
        // Several lines of either header: no key.
        let mut h = headers(&[("x-api-key", "k1")]);
        h.append("x-api-key", "k2".parse().unwrap());
        assert_eq!(api_key(&h), Err(NoApiKey::Several));
        let mut h = headers(&[("x-api-key", "k1"), ("authorization", "Bearer k2")]);
        h.append("authorization", "Bearer k3".parse().unwrap());
        assert_eq!(api_key(&h), Err(NoApiKey::Several));
        // A key not in ASCII is sent, but cannot be read.
        let mut h = HeaderMap::new();
        h.insert(
            "x-api-key",
            http::HeaderValue::from_bytes(b"k\xff").unwrap(),
        );
        assert_eq!(api_key(&h), Err(NoApiKey::NotText));
        // So is one sent as a bearer token: it is told as a key not valid,
        // not as no key.
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            http::HeaderValue::from_bytes(b"Bearer tg_live_caf\xe9").unwrap(),
        );
        assert_eq!(api_key(&h), Err(NoApiKey::NotText));
    }
}
