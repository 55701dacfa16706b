//! GCRA rate limiting for HTTP APIs.
#![doc = "placeholder"]

mod clock;
mod memory;
mod policy;

pub use clock::{Clock, FakeClock, MonotonicClock};
pub use memory::{DEFAULT_MAX_KEYS, DefaultHasher, DirectLimiter, KeyedLimiter, MemoryStore};
pub use policy::{Decision, Policy, PolicyError, PolicyErrorKind};
