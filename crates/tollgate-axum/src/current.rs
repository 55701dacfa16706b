//! What the layer decided about the request whose service it is running on
//! this thread: set while it calls and polls the inner service, so code that
//! runs there (extractors, [`Reply`](crate::Reply), error responses) reads it
//! without a request extension.

use std::cell::RefCell;
use std::mem;

use tollgate::Dialect;

use crate::request_id::Negotiated;

thread_local! {
    static CURRENT: RefCell<Option<Negotiated>> = const { RefCell::new(None) };
}

/// Makes a request's [`Negotiated`] current on this thread until dropped,
/// then moves it back (no clone; nested layers restore the outer one).
pub(crate) struct Entered<'a> {
    slot: &'a mut Negotiated,
    previous: Option<Negotiated>,
}

/// Moves `slot` into the thread's current slot until the guard drops.
pub(crate) fn enter(slot: &mut Negotiated) -> Entered<'_> {
    let mut mine = Some(mem::replace(slot, Negotiated::placeholder()));
    let previous = CURRENT.try_with(|c| c.replace(mine.take())).ok().flatten();
    if let Some(mine) = mine {
        // The thread is exiting and has no slot left: keep the decision.
        *slot = mine;
    }
    Entered { slot, previous }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        if let Ok(Some(mine)) = CURRENT.try_with(|c| c.replace(previous)) {
            *self.slot = mine;
        }
    }
}

/// A copy of the current decision, if a layer is running this code.
pub(crate) fn get() -> Option<Negotiated> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The current request's dialect, if a layer is running this code.
pub(crate) fn dialect() -> Option<Dialect> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(Negotiated::dialect))
        .ok()
        .flatten()
}

/// Whether a layer is running this code (and renders its errors).
pub(crate) fn under_layer() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;

    fn negotiated(id: &str, dialect: Dialect) -> Negotiated {
        Negotiated {
            request_id: RequestId::new(id).unwrap(),
            dialect,
        }
    }

    #[test]
    fn nested_layers_restore_the_outer_decision() {
        assert!(!under_layer());
        let mut outer = negotiated("outer", Dialect::Envelope);
        let mut inner = negotiated("inner", Dialect::Flat);
        {
            let _outer = enter(&mut outer);
            assert_eq!(get().unwrap().request_id().as_str(), "outer");
            {
                let _inner = enter(&mut inner);
                assert_eq!(dialect(), Some(Dialect::Flat));
                assert_eq!(get().unwrap().request_id().as_str(), "inner");
            }
            assert_eq!(dialect(), Some(Dialect::Envelope));
        }
        assert!(get().is_none());
        // Both decisions are back where they were taken from.
        assert_eq!(outer.request_id().as_str(), "outer");
        assert_eq!(inner.request_id().as_str(), "inner");
    }
}
