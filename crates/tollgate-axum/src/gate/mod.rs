//! The layer: every response that leaves the service answers from the catalog.
//!
//! [`Tollgate`] is the configuration, [`TollgateLayer`] the tower layer it
//! builds, [`TollgateService`] the service that layer wraps around a router,
//! and [`ResponseFuture`] its future. See the [crate docs](crate) for what
//! each failure source becomes.

mod future;
mod layer;
mod service;

#[cfg(feature = "decompression")]
pub(crate) use future::OverLimit;
pub use future::ResponseFuture;
pub use layer::{Tollgate, TollgateLayer, ValidationStatus};
pub use service::TollgateService;
