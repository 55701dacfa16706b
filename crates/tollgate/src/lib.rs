//! Tollgate's model: one catalog of errors, written and read in ten wire dialects.
//!
//! An [`ErrorDef`] is a catalog entry (code, status, title, message template,
//! remedy, retry class, kind, per-dialect aliases); an [`ApiError`] is one
//! occurrence of it with details and field [`Violation`]s; the details sent
//! are those its entry documents ([`ErrorDef::sends_detail`]), so the
//! generated error reference shows what is sent. A [`Catalog`] holds
//! the built-in entries and those of TOML files; its [`Renderer`] writes an
//! error as a whole HTTP response in any [`Dialect`], and [`decode`] reads
//! errors back from any API.
//!
//! This crate is pure: no async, no I/O. Time is passed in, except in one
//! place: [`ApiError::header`] reads the system clock to turn an HTTP-date
//! `Retry-After` into a wait.
//!
//! ```
//! use std::time::SystemTime;
//! use tollgate::{Catalog, Context, Dialect};
//!
//! let catalog = Catalog::builtin();
//! let err = catalog.error("insufficient_credits")?.with("required", 1).with("available", 0);
//! let ctx = Context::new(SystemTime::now()).request_id("req_42");
//! let response = catalog.renderer(Dialect::Envelope).response(&err, &ctx);
//! assert_eq!(response.status(), 402);
//! assert_eq!(
//!     String::from_utf8(response.body().clone())?,
//!     r#"{"data":null,"success":false,"message":"Insufficient credits. Required: 1, available: 0","errors":[{"insufficient_credits":["Insufficient credits. Required: 1, available: 0"]}]}"#
//! );
//!
//! // Any API's error, read back:
//! let back = catalog.decode(402, response.headers(), response.body(), SystemTime::now());
//! assert_eq!(back.code.as_deref(), Some("insufficient_credits"));
//! assert_eq!(back.request_id.as_deref(), Some("req_42"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catalog;
mod decode;
mod def;
mod dialect;
pub mod docs;
mod error;
mod field;
pub mod headers;
mod kind;
pub mod layer_fields;
mod rate_limit_key;
mod redact;
mod retry;
pub mod suggest;
mod template;

pub use catalog::{
    CODE_RULE, Catalog, CatalogError, CatalogErrors, DEFAULT_DOCS_URL, DEFAULT_DOMAIN,
    DETAIL_KEY_RULE, UnknownCode, has_stray_control, is_code, is_detail_key, is_layout_control,
    is_placeholder_name,
};
pub use decode::{Decoded, body_as_utf8, decode, reads_charset};
pub use def::ErrorDef;
pub use dialect::{Context, Dialect, Renderer, UnknownDialect};
pub use error::{ApiError, MessageDisplay, Violation};
pub use field::{field_to_pointer, pointer_to_field};
pub use kind::{Kind, UnknownKind};
pub use rate_limit_key::RateLimitKey;
pub use redact::redact_url;
pub use retry::{MAX_RETRY_AFTER_SECS, RetryClass, parse_retry_after, retry_after_secs};
pub use template::{Rendered, Template, TemplateError};
