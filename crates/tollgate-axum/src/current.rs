//! What the layer decided about the request whose service it is running on
//! this thread: set while it calls and polls the inner service, so code that
//! runs there (extractors, [`Reply`](crate::Reply), error responses) reads it
//! without a request extension.

use std::cell::Cell;

use tollgate::Dialect;

use crate::RequestId;
use crate::request_id::Negotiated;

/// The thread's current decision. Entering and leaving swap the id with the
/// request's own slot ([`Cell::swap`]: no clone, no `Option` to unpack) and
/// replace the dialect. (Moving an `Option<Negotiated>` instead compiled to
/// overlapping partial copies that stalled store forwarding: ≈ 7% of the
/// happy path.)
struct Current {
    /// The id of the request being run, or an empty one when none is.
    request_id: Cell<RequestId>,
    /// `Some` exactly while a layer runs code on this thread.
    dialect: Cell<Option<Dialect>>,
}

thread_local! {
    static CURRENT: Current = const {
        Current {
            request_id: Cell::new(RequestId::empty()),
            dialect: Cell::new(None),
        }
    };
}

/// Makes a request's id and dialect current on this thread until dropped,
/// then swaps the id back (nested layers restore the outer one).
pub(crate) struct Entered<'a> {
    slot: &'a Cell<RequestId>,
    previous: Option<Option<Dialect>>,
}

/// Swaps the id in `slot` into the thread's current slot, and makes
/// `dialect` current, until the guard drops. (If the thread is exiting and
/// has no slot, nothing moves.)
pub(crate) fn enter(slot: &mut RequestId, dialect: Dialect) -> Entered<'_> {
    let slot = Cell::from_mut(slot);
    let previous = CURRENT
        .try_with(|c| {
            c.request_id.swap(slot);
            c.dialect.replace(Some(dialect))
        })
        .ok();
    Entered { slot, previous }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(dialect) = self.previous {
            let _ = CURRENT.try_with(|c| {
                c.request_id.swap(self.slot);
                c.dialect.set(dialect);
            });
        }
    }
}

/// The current request's id, if a layer is running this code.
pub(crate) fn request_id() -> Option<RequestId> {
    CURRENT
        .try_with(|c| {
            c.dialect.get()?;
            let id = c.request_id.replace(RequestId::empty());
            let copy = id.clone();
            c.request_id.set(id);
            Some(copy)
        })
        .ok()
        .flatten()
}

/// The current request's dialect, if a layer is running this code.
pub(crate) fn dialect() -> Option<Dialect> {
    CURRENT.try_with(|c| c.dialect.get()).ok().flatten()
}

/// A copy of the current decision, if a layer is running this code.
pub(crate) fn get() -> Option<Negotiated> {
    Some(Negotiated {
        dialect: dialect()?,
        request_id: request_id()?,
    })
}

/// Whether a layer is running this code (and renders its errors).
pub(crate) fn under_layer() -> bool {
    dialect().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> RequestId {
        RequestId::new(text).unwrap()
    }

    #[test]
    fn nested_layers_restore_the_outer_decision() {
        assert!(!under_layer());
        let mut outer = id("outer");
        let mut inner = id("inner");
        {
            let _outer = enter(&mut outer, Dialect::Envelope);
            assert_eq!(get().unwrap().request_id().as_str(), "outer");
            {
                let _inner = enter(&mut inner, Dialect::Flat);
                assert_eq!(dialect(), Some(Dialect::Flat));
                assert_eq!(get().unwrap().request_id().as_str(), "inner");
            }
            assert_eq!(dialect(), Some(Dialect::Envelope));
            assert_eq!(request_id().unwrap().as_str(), "outer");
        }
        assert!(get().is_none());
        assert!(!under_layer());
        // Both ids are back where they were taken from.
        assert_eq!(outer.as_str(), "outer");
        assert_eq!(inner.as_str(), "inner");
        assert!(request_id().is_none());
    }
}
