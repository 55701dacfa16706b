//! Fields a layer adds to the responses passing through it, kept for the
//! answer an outer layer makes itself.
//!
//! A rate limiter adds its `RateLimit` fields to the response of the service
//! inside it. When that service panics or runs out of time, the outermost
//! layer (`tollgate-axum`'s) answers 500 or 504 in place of a response that
//! never came through the limiter: those fields would be lost. So the
//! outermost layer marks the request ([`Mark`]) and, while it runs the
//! service ([`LayerFields::collect`]), a layer inside also leaves its fields
//! for that request here ([`add`]); the outermost layer adds them to the
//! answer it makes ([`LayerFields::apply`]).
//!
//! The fields are kept in a thread-local, set only while the outermost
//! layer calls or polls the service on this thread (the layers inside run
//! there), and only for the marked request: another request run on the way
//! (a handler's call to an internal service with limits of its own) has
//! answers of its own. A layer that adds nothing costs no allocation.
//!
//! ```
//! use http::{Extensions, HeaderMap, HeaderValue};
//! use tollgate::layer_fields::{self, LayerFields, Mark};
//!
//! let mut request = Extensions::new();
//! request.insert(Mark);
//! let mut fields = LayerFields::default();
//! // The outermost layer runs the service; a layer inside adds its fields.
//! fields.collect(|| {
//!     layer_fields::add(&request, |headers: &mut HeaderMap| {
//!         headers.append("ratelimit", HeaderValue::from_static("\"per-key\";r=99;t=1"));
//!     });
//!     // Not for a request the handler makes on the way.
//!     layer_fields::add(&Extensions::new(), |headers: &mut HeaderMap| {
//!         headers.append("ratelimit", HeaderValue::from_static("\"internal\";r=1;t=1"));
//!     });
//! });
//! // The service panicked: the answer the outermost layer makes carries them.
//! let mut answer = HeaderMap::new();
//! fields.apply(&mut answer);
//! assert_eq!(answer.get_all("ratelimit").iter().count(), 1);
//! assert_eq!(answer["ratelimit"], "\"per-key\";r=99;t=1");
//! // Outside `collect`, `add` keeps nothing.
//! assert!(!layer_fields::collecting(&request));
//! ```

use std::cell::Cell;
use std::fmt;

use http::{Extensions, HeaderMap};

/// One layer's fields, added to a header map.
type AddFields = Box<dyn FnOnce(&mut HeaderMap) + Send>;

thread_local! {
    /// The fields of the request being run on this thread: `Some` exactly
    /// while an outermost layer collects them.
    static COLLECTING: Cell<Option<Vec<AddFields>>> = const { Cell::new(None) };
}

/// The mark of the request an outermost layer collects fields for, in its
/// extensions.
#[derive(Clone, Copy, Debug)]
pub struct Mark;

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
        for add in std::mem::take(&mut self.0).into_iter().rev() {
            add(headers);
        }
    }
}

/// Whether an outermost layer collects fields on this thread now, for the
/// request of these `extensions`: a layer checks before building what it
/// would [`add`].
pub fn collecting(extensions: &Extensions) -> bool {
    extensions.get::<Mark>().is_some() && collecting_here()
}

/// Whether an outermost layer collects fields on this thread now.
fn collecting_here() -> bool {
    COLLECTING.with(|c| {
        let fields = c.take();
        let collecting = fields.is_some();
        c.set(fields);
        collecting
    })
}

/// Leaves `fields` for the answer the outermost layer may make itself for
/// the request of these `extensions`; nothing for a request it did not mark,
/// nor outside [`LayerFields::collect`].
pub fn add(extensions: &Extensions, fields: impl FnOnce(&mut HeaderMap) + Send + 'static) {
    if extensions.get::<Mark>().is_none() {
        return;
    }
    COLLECTING.with(|c| {
        if let Some(mut kept) = c.take() {
            kept.push(Box::new(fields));
            c.set(Some(kept));
        }
    });
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn adds(value: &'static str) {
        let mut marked = Extensions::new();
        marked.insert(Mark);
        add(&marked, move |headers: &mut HeaderMap| {
            headers.append("ratelimit", HeaderValue::from_static(value));
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
        assert!(!collecting_here());
        adds("dropped");
        assert_eq!(applied(&mut outer), ["c", "a"]);
        assert_eq!(applied(&mut inner), ["d", "b"]);
    }
}
