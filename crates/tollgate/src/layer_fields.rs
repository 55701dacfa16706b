//! Fields a layer adds to the responses passing through it, kept for the
//! answer an outer layer makes itself.
//!
//! A rate limiter adds its `RateLimit` fields to the response of the service
//! inside it. When that service panics or runs out of time, the outermost
//! layer (`tollgate-axum`'s) answers 500 or 504 in place of a response that
//! never came through the limiter: those fields would be lost. So while the
//! outermost layer runs the service ([`LayerFields::collect`]), a layer
//! inside also leaves its fields here ([`add`]), and the outermost layer adds
//! them to the answer it makes ([`LayerFields::apply`]).
//!
//! It is a thread-local, set only while the outermost layer calls or polls
//! the service on this thread (the layers inside run there): a request
//! without such a layer, or a layer that adds nothing, costs no allocation.
//! So it cannot tell the request the outermost layer runs from another run
//! on the way in the same task: a handler that calls an in-process service
//! with limits of its own (a `Router` by `oneshot`, its own request
//! forwarded or a new one) leaves that service's fields too, on a 500 or
//! 504 only. Marking the request instead (an extension) would cost every
//! request an allocation, and a forwarded request would carry the mark.
//!
//! ```
//! use http::{HeaderMap, HeaderName, HeaderValue};
//! use tollgate::layer_fields::{self, LayerFields};
//!
//! let mut fields = LayerFields::default();
//! // The outermost layer runs the service; a layer inside adds its fields.
//! fields.collect(|| {
//!     let ours = vec![(HeaderName::from_static("ratelimit"), HeaderValue::from_static("\"per-key\";r=99;t=1"))];
//!     layer_fields::add(ours, |headers, ours| {
//!         for (name, value) in ours {
//!             headers.append(name, value);
//!         }
//!     });
//! });
//! // The service panicked: the answer the outermost layer makes carries them.
//! let mut answer = HeaderMap::new();
//! fields.apply(&mut answer);
//! assert_eq!(answer["ratelimit"], "\"per-key\";r=99;t=1");
//! // Outside `collect`, `add` keeps nothing.
//! assert!(!layer_fields::collecting());
//! ```

use std::cell::Cell;
use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

/// A layer's fields.
pub type Fields = Vec<(HeaderName, HeaderValue)>;

/// One layer's fields, and how it adds them to a header map (a function,
/// not a closure: no box to allocate a request).
struct AddFields {
    fields: Fields,
    add: fn(&mut HeaderMap, Fields),
}

thread_local! {
    /// The fields of the request being run on this thread: `Some` exactly
    /// while an outermost layer collects them.
    static COLLECTING: Cell<Option<Vec<AddFields>>> = const { Cell::new(None) };
}

/// The fields the layers inside left for one request's answer; held by the
/// outermost layer.
#[derive(Default)]
pub struct LayerFields(Vec<AddFields>);

impl fmt::Debug for LayerFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LayerFields").field(&self.0.len()).finish()
    }
}

impl LayerFields {
    /// Runs `run` (a call or a poll of the service inside), keeping what the
    /// layers in it [`add`]. A panic in `run` leaves them kept, and the
    /// thread as it was.
    pub fn collect<R>(&mut self, run: impl FnOnce() -> R) -> R {
        /// Puts the thread's fields back in the slot, also when unwinding.
        struct Restore<'a> {
            slot: &'a mut LayerFields,
            outer: Option<Vec<AddFields>>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let ours = COLLECTING.with(|c| c.replace(self.outer.take()));
                self.slot.0 = ours.unwrap_or_default();
            }
        }
        let ours = std::mem::take(&mut self.0);
        let outer = COLLECTING.with(|c| c.replace(Some(ours)));
        let _restore = Restore { slot: self, outer };
        run()
    }

    /// Adds the fields to `headers`, the innermost layer's first, as they
    /// would have been added on the way out; none are kept after.
    pub fn apply(&mut self, headers: &mut HeaderMap) {
        for AddFields { fields, add } in std::mem::take(&mut self.0).into_iter().rev() {
            add(headers, fields);
        }
    }
}

/// Whether an outermost layer collects fields on this thread now: a layer
/// checks before building what it would [`add`].
pub fn collecting() -> bool {
    COLLECTING.with(|c| {
        let fields = c.take();
        let collecting = fields.is_some();
        c.set(fields);
        collecting
    })
}

/// Leaves `fields` for the answer the outermost layer may make itself for
/// the request being run on this thread, to be added by `add` as the layer
/// adds them to a response; nothing outside [`LayerFields::collect`].
pub fn add(fields: Fields, add: fn(&mut HeaderMap, Fields)) {
    COLLECTING.with(|c| {
        if let Some(mut kept) = c.take() {
            kept.push(AddFields { fields, add });
            c.set(Some(kept));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adds(value: &'static str) {
        let fields = vec![(
            HeaderName::from_static("ratelimit"),
            HeaderValue::from_static(value),
        )];
        add(fields, |headers, fields| {
            for (name, value) in fields {
                headers.append(name, value);
            }
        });
    }

    fn applied(fields: &mut LayerFields) -> Vec<String> {
        let mut headers = HeaderMap::new();
        fields.apply(&mut headers);
        let lines = headers.get_all("ratelimit").iter();
        lines.map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// Kept across calls and polls, the innermost layer's (added last) first.
    #[test]
    fn fields_are_kept_across_runs_and_applied_innermost_first() {
        let mut fields = LayerFields::default();
        fields.collect(|| adds("outer"));
        fields.collect(|| adds("inner"));
        assert_eq!(applied(&mut fields), ["inner", "outer"]);
        assert!(applied(&mut fields).is_empty(), "applied once");
    }

    /// A layer collecting inside another keeps its own; the outer one's
    /// collecting goes on after it, and a panic leaves both as they were.
    #[test]
    fn nested_collections_and_panics_leave_each_its_own() {
        let (mut outer, mut inner) = (LayerFields::default(), LayerFields::default());
        outer.collect(|| {
            adds("a");
            inner.collect(|| adds("b"));
            adds("c");
        });
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.collect(|| {
                adds("d");
                panic!("the service panicked");
            })
        }));
        assert!(panicked.is_err());
        assert!(!collecting());
        adds("dropped");
        assert_eq!(applied(&mut outer), ["c", "a"]);
        assert_eq!(applied(&mut inner), ["d", "b"]);
    }
}
