use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::Service;

use super::CreditsFuture;
use crate::{Gatekeeper, Principal, Rejection, Reservation, Store};

/// The service of [`CreditsLayer`](super::CreditsLayer).
#[derive(Clone, Debug)]
pub struct Credits<S> {
    pub(crate) inner: S,
    pub(crate) gate: Gatekeeper,
    pub(crate) cost: Option<i64>,
}

/// Gives a reservation back if dropped before [`commit`](Self::commit): the
/// handler's future was dropped (client gone, timeout) or failed.
struct ReleaseOnDrop {
    store: Store,
    reservation: Option<Reservation>,
}

impl ReleaseOnDrop {
    fn commit(mut self) {
        self.reservation = None;
    }

    async fn release(mut self) {
        if let Some(reservation) = self.reservation.take() {
            // A failed release leaves the credits taken: the safe side.
            let _ = self.store.release(reservation).await;
        }
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let store = self.store.clone();
                // A failed release leaves the credits taken: the safe side.
                runtime.spawn(async move { store.release(reservation).await });
            }
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Credits<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: From<Bytes> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = CreditsFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let Some(cost) = self.cost else {
            return CreditsFuture::inner(self.inner.call(req));
        };
        let shared = self.gate.inner.clone();
        let Some(account) = req
            .extensions()
            .get::<Principal>()
            .map(|p| p.account_id().to_owned())
        else {
            let response =
                shared.rejection(&Rejection::InvalidKey, req.headers(), req.uri().path());
            return CreditsFuture::rejected(response);
        };
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        CreditsFuture::boxed(Box::pin(async move {
            let reservation = match shared.store.reserve(&account, cost).await {
                Ok(r) => r,
                Err(rejection) => {
                    return Ok(shared.rejection(&rejection, req.headers(), req.uri().path()));
                }
            };
            req.extensions_mut().insert(reservation.clone());
            let guard = ReleaseOnDrop {
                store: shared.store.clone(),
                reservation: Some(reservation),
            };
            let response = service.call(req).await?;
            if response.status().is_client_error() || response.status().is_server_error() {
                guard.release().await;
            } else {
                guard.commit();
            }
            Ok(response)
        }))
    }
}
