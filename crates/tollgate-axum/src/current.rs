//! What the layer decided about the request whose service it is running on
//! this thread: set while it calls and polls the inner service, so code that
//! runs there (extractors, [`Reply`](crate::Reply), error responses) reads it
//! without a request extension.

use std::cell::Cell;
use std::mem::{self, ManuallyDrop};

use http::HeaderValue;
use tollgate::Dialect;

use crate::RequestId;
use crate::request_id::Negotiated;

/// What the layer decided about a request's body, besides its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The dialect errors are written in.
    pub(crate) dialect: Dialect,
    /// Whether success bodies ([`Reply`](crate::Reply)) wear the envelope:
    /// the pins or the default say `envelope`, whatever `Accept` asks.
    pub(crate) envelope_replies: bool,
    /// The `Vary` value of a body that is an envelope in one dialect and
    /// bare in another ([`Reply`](crate::Reply)'s): the request headers
    /// negotiation read to choose, if any could change that.
    pub(crate) reply_vary: Option<&'static HeaderValue>,
    /// Whether the request's `Content-Type` is `multipart/form-data` (see
    /// [`rejection::recognise`](crate::rejection::recognise)).
    pub(crate) multipart_form: bool,
}

/// The thread's current decision. Entering and leaving swap the id with the
/// request's own slot ([`Cell::swap`]: no clone, no `Option` to unpack) and
/// replace the decision. (Moving an `Option<Negotiated>` instead compiled to
/// overlapping partial copies that stalled store forwarding: ≈ 7% of the
/// happy path.)
///
/// Nothing here needs dropping (the id is held as `ManuallyDrop`), so the
/// thread-local is a plain one: no destructor to register, no state to check
/// on each access. Nothing leaks either: the slot holds an id only while a
/// guard is alive, and the guard swaps it back out (also when unwinding);
/// otherwise it holds the empty id, a static.
struct Current {
    /// The id of the request being run, or an empty one when none is.
    request_id: Cell<ManuallyDrop<RequestId>>,
    /// `Some` exactly while a layer runs code on this thread.
    decision: Cell<Option<Decision>>,
}

thread_local! {
    static CURRENT: Current = const {
        Current {
            request_id: Cell::new(ManuallyDrop::new(RequestId::EMPTY)),
            decision: Cell::new(None),
        }
    };
}

/// A request's id where [`enter`] can swap it with the thread's slot; drops
/// the id it holds.
pub(crate) struct IdSlot(ManuallyDrop<RequestId>);

impl IdSlot {
    /// A slot holding `id`.
    #[inline]
    pub(crate) fn new(id: RequestId) -> IdSlot {
        IdSlot(ManuallyDrop::new(id))
    }

    /// The id (empty after [`IdSlot::take`]).
    #[inline]
    pub(crate) fn get(&self) -> &RequestId {
        &self.0
    }

    /// Moves the id out, leaving the empty one.
    #[inline]
    pub(crate) fn take(&mut self) -> RequestId {
        ManuallyDrop::into_inner(mem::replace(
            &mut self.0,
            ManuallyDrop::new(RequestId::EMPTY),
        ))
    }
}

impl Drop for IdSlot {
    #[inline]
    fn drop(&mut self) {
        // A slot whose id was taken holds the empty one: nothing to drop
        // (a valid id is never empty).
        if !self.0.header_value().is_empty() {
            drop(self.take());
        }
    }
}

/// Makes a request's id and decision current on this thread until dropped,
/// then swaps the id back (nested layers restore the outer one).
pub(crate) struct Entered<'a> {
    slot: &'a Cell<ManuallyDrop<RequestId>>,
    previous: Option<Decision>,
}

/// Swaps the id in `slot` into the thread's current slot, and makes
/// `decision` current, until the guard drops.
#[inline]
pub(crate) fn enter(slot: &mut IdSlot, decision: Decision) -> Entered<'_> {
    let slot = Cell::from_mut(&mut slot.0);
    let previous = CURRENT.with(|c| {
        c.request_id.swap(slot);
        c.decision.replace(Some(decision))
    });
    Entered { slot, previous }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| {
            c.request_id.swap(self.slot);
            c.decision.set(self.previous);
        });
    }
}

/// The current request's id, if a layer is running this code.
pub(crate) fn request_id() -> Option<RequestId> {
    CURRENT.with(|c| {
        c.decision.get()?;
        let id = c.request_id.replace(ManuallyDrop::new(RequestId::EMPTY));
        let copy = RequestId::clone(&id);
        c.request_id.set(id);
        Some(copy)
    })
}

/// The current request's decision, if a layer is running this code.
pub(crate) fn decision() -> Option<Decision> {
    CURRENT.with(|c| c.decision.get())
}

/// The current request's dialect, if a layer is running this code.
pub(crate) fn dialect() -> Option<Dialect> {
    decision().map(|d| d.dialect)
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

    fn decided(dialect: Dialect) -> Decision {
        Decision {
            dialect,
            envelope_replies: dialect == Dialect::Envelope,
            reply_vary: None,
            multipart_form: false,
        }
    }

    #[test]
    fn nested_layers_restore_the_outer_decision() {
        assert!(!under_layer());
        let mut outer = IdSlot::new(id("outer"));
        let mut inner = IdSlot::new(id("inner"));
        {
            let _outer = enter(&mut outer, decided(Dialect::Envelope));
            assert_eq!(get().unwrap().request_id().as_str(), "outer");
            {
                let _inner = enter(&mut inner, decided(Dialect::Flat));
                assert_eq!(dialect(), Some(Dialect::Flat));
                assert_eq!(get().unwrap().request_id().as_str(), "inner");
            }
            assert_eq!(dialect(), Some(Dialect::Envelope));
            assert_eq!(request_id().unwrap().as_str(), "outer");
        }
        assert!(get().is_none());
        assert!(!under_layer());
        // Both ids are back where they were taken from.
        assert_eq!(outer.get().as_str(), "outer");
        assert_eq!(inner.get().as_str(), "inner");
        assert!(request_id().is_none());
    }
}
