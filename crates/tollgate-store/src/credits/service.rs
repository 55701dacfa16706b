use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::Service;

use super::CreditsFuture;
use crate::gatekeeper::caller_path;
use crate::idempotency::Claimed;
use crate::{Gatekeeper, Principal, Rejection, Reservation, Store, StoreError, detach};

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
    /// Keeps the credits (see [`Store::commit`]).
    fn commit(mut self) {
        if let Some(reservation) = self.reservation.take() {
            self.store.commit(reservation);
        }
    }

    /// Gives the reservation back, waiting for it at most the store's
    /// acquire timeout (the refund goes on past it).
    async fn release(mut self) {
        if let Some(reservation) = self.reservation.take() {
            let (store, wait) = (self.store.clone(), self.store.acquire_timeout());
            let refund = release(store, reservation);
            detach::finish_or_leave(self.store.writes(), wait, refund).await;
        }
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            detach::start(
                self.store.writes(),
                release(self.store.clone(), reservation),
            );
        }
    }
}

/// Takes the credits on a task of its own: if the request is dropped while
/// the statement runs (its client gone, say, while the account's row is
/// locked by other charges), the statement goes on, and what it takes is
/// given back as its unclaimed guard is dropped, rather than kept for a
/// request that never ran. So is a charge not made within the store's
/// acquire timeout (another writer holds the database or the account's row):
/// the request is answered `service_unavailable` rather than held.
async fn reserve(store: Store, account: String, cost: i64) -> Result<ReleaseOnDrop, Rejection> {
    let (writes, wait) = (store.writes().clone(), store.acquire_timeout());
    let reserved = detach::finish_within(&writes, wait, async move {
        let reservation = store.reserve(&account, cost).await?;
        Ok(ReleaseOnDrop {
            store,
            reservation: Some(reservation),
        })
    });
    match reserved.await {
        Ok(Some(reserved)) => reserved,
        // The charge panicked.
        Ok(None) => Err(Rejection::Unavailable(StoreError::Database(
            sqlx::Error::WorkerCrashed,
        ))),
        Err(unanswered) => Err(Rejection::Unavailable(unanswered)),
    }
}

/// Gives a reservation back. A release that fails leaves the credits taken
/// (the side that never hands out free calls), and says so in the log.
async fn release(store: Store, reservation: Reservation) {
    if let Err(error) = store.release(reservation.clone()).await {
        tracing::error!(
            account = reservation.account_id(),
            credits = reservation.cost(),
            %error,
            "the credits of a failed request could not be given back"
        );
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
                shared.rejection(&Rejection::MissingKey, req.headers(), caller_path(&req));
            return CreditsFuture::rejected(response);
        };
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        CreditsFuture::boxed(Box::pin(async move {
            let guard = match reserve(shared.store.clone(), account, cost).await {
                Ok(guard) => guard,
                Err(rejection) => {
                    return Ok(shared.rejection(&rejection, req.headers(), caller_path(&req)));
                }
            };
            if let Some(reservation) = &guard.reservation {
                req.extensions_mut().insert(reservation.clone());
            }
            // The idempotency layer outside, if any, stores the kept charge
            // with the answer; without one, nothing is added.
            let claimed = req.extensions().get::<Claimed>().is_some();
            let mut response = service.call(req).await?;
            if response.status().is_client_error() || response.status().is_server_error() {
                guard.release().await;
            } else {
                if let (true, Some(reservation)) = (claimed, &guard.reservation) {
                    let kept = super::KeptCharge(reservation.token);
                    response.extensions_mut().insert(kept);
                }
                guard.commit();
            }
            Ok(response)
        }))
    }
}
