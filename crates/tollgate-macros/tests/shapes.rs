//! Enum shapes the derive accepts: generics, lifetimes, where clauses,
//! mixed variant kinds, raw names, cfg'd variants, and a module that
//! shadows the prelude.

#![deny(unreachable_pub, missing_docs, unused_qualifications, unused_results)]

use std::time::Duration;

use tollgate_axum::ApiError;

/// Generic, with a lifetime and a where clause.
#[derive(Debug, ApiError)]
pub enum Lookup<'a, T, const N: usize>
where
    T: serde::Serialize,
{
    /// A detail of the generic type.
    #[api(code = "lookup_missing", status = 404, message = "No {key} ({value}).")]
    Missing {
        /// Borrowed.
        key: &'a str,
        /// Generic.
        value: T,
    },
    /// Tuple variant with a boxed cause and a delay.
    #[api(code = "lookup_busy", status = 503, message = "Busy.")]
    Busy(
        #[api(source)] Box<dyn std::error::Error + Send + Sync>,
        #[api(retry_after)] Duration,
    ),
    /// Unit variant, built-in as is.
    #[api(code = "not_found")]
    NotFound,
    /// A raw name.
    #[api(code = "bad_kind", status = 400, message = "Bad {match}.")]
    r#Type {
        /// `r#match` is the detail `match`.
        r#match: u8,
        /// Skipped.
        #[api(skip)]
        pad: [u8; N],
    },
    /// Not built.
    #[cfg(any())]
    #[api(code = "never_built", status = 400, message = "Never.")]
    NeverBuilt,
}

#[test]
fn generic_enum_with_lifetime_and_where_clause() {
    let missing: Lookup<'_, u32, 2> = Lookup::Missing { key: "k", value: 7 };
    let err = tollgate::ApiError::from(missing);
    assert_eq!(err.status(), 404);
    assert_eq!(err.message(), "No k (7).");
    let busy: Lookup<'_, u32, 2> = Lookup::Busy("down".into(), Duration::from_secs(3));
    let err = tollgate::ApiError::from(busy);
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(3)));
    let kind: Lookup<'_, u32, 2> = Lookup::r#Type {
        r#match: 1,
        pad: [0; 2],
    };
    let err = tollgate::ApiError::from(kind);
    assert_eq!(err.details()["match"], serde_json::json!(1));
    let codes: Vec<_> = Lookup::<'_, u32, 2>::error_defs()
        .iter()
        .map(|d| d.code().to_owned())
        .collect();
    assert_eq!(codes, ["lookup_missing", "lookup_busy", "bad_kind"]);
}

/// Generic over a cause that may be absent, with a wait that may be too.
#[derive(Debug, ApiError)]
pub enum Wrapped<E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    /// Both optional.
    #[api(code = "wrapped_failed", status = 502, message = "Failed.")]
    Failed(
        #[api(source)] Option<E>,
        #[api(retry_after)] Option<Duration>,
    ),
}

#[test]
fn optional_generic_source_and_wait() {
    let err = tollgate::ApiError::from(Wrapped::Failed(
        Some(std::io::Error::other("reset")),
        Some(Duration::from_secs(4)),
    ));
    assert_eq!(err.source_error().unwrap().to_string(), "reset");
    assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(4)));
    let err = tollgate::ApiError::from(Wrapped::<std::io::Error>::Failed(None, None));
    assert!(err.source_error().is_none());
    assert_eq!(err.retry_after_delay(), None);
}

/// A module without the prelude, whose names shadow it and `std`, and
/// whose constants are named like the expansion's locals.
mod shadowed {
    #![no_implicit_prelude]
    #![allow(dead_code, non_camel_case_types, non_upper_case_globals)]
    use ::tollgate_axum::ApiError;

    pub(crate) type Result<T> = ::core::result::Result<T, ()>;
    pub(crate) struct Option;
    pub(crate) struct String;
    pub(crate) struct Vec;
    pub(crate) struct Box;
    pub(crate) struct Some;
    pub(crate) struct None;
    pub(crate) struct Ok;
    pub(crate) struct Err;
    pub(crate) struct Clone;
    pub(crate) struct From;
    pub(crate) struct Into;
    const details: u8 = 0;
    const err: u8 = 0;
    const e: u8 = 0;
    const def: u8 = 0;
    const defs: u8 = 0;
    const defined: u8 = 0;
    const entries: u8 = 0;
    const i: usize = 0;
    const f: u8 = 0;
    mod core {}
    mod std {}
    mod serde_json {}
    mod tollgate {}

    #[derive(::core::fmt::Debug, ApiError)]
    pub(crate) enum Shadowed {
        #[api(code = "shadow_gone", status = 410, message = "{what} is gone.")]
        Gone { what: u8 },
        #[api(code = "not_found")]
        NotFound,
    }
}

#[test]
fn shadowed_prelude() {
    let err = tollgate::ApiError::from(shadowed::Shadowed::Gone { what: 1 });
    assert_eq!(err.status(), 410);
    assert_eq!(shadowed::Shadowed::error_defs().len(), 1);
    assert_eq!(
        shadowed::Shadowed::NotFound.to_string(),
        tollgate::ApiError::from(shadowed::Shadowed::NotFound).message()
    );
}
