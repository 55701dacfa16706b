//! `#[derive(ApiError)]`: typed application errors whose variants are
//! entries of a Tollgate catalog.
//!
//! Use it through `tollgate-axum`, which re-exports it as
//! `tollgate_axum::ApiError` and provides what the expansion names. The
//! attributes are checked at compile time with the same rules as catalog
//! files: codes are snake_case (3 to 63 characters), statuses 400–599, titles one line, message
//! templates parse and name only fields of their variant (a built-in code's
//! message too: `rate_limit_exceeded` needs `limit` and `window` fields),
//! and detail fields are named `[a-z][A-Za-z0-9_]+`, 64 characters at most
//! (an AIP-193 metadata key; `r#match` is the detail `match`), while a
//! field marked `#[api(message_only)]`, which fills the message but is not
//! sent, may be any `[A-Za-z0-9_]+` (`n`). Two variants share a code only when both use a built-in entry
//! as is (two `not_found` variants for different resources).
//!
//! ```
//! use tollgate_axum::ApiError;
//!
//! #[derive(Debug, ApiError)]
//! enum ScanError {
//!     #[api(code = "insufficient_frames", status = 400, title = "Not enough frames provided",
//!           message = "Model \"{model}\" requires {required} frames, received {received}.",
//!           remedy = "Send at least as many frames as the model requires.")]
//!     InsufficientFrames { model: String, required: u32, received: u32 },
//!     #[api(code = "not_found")] // a built-in entry, as is
//!     NotFound,
//! }
//! ```
//!
//! Variant attributes (`#[api(...)]`): a `code`, and either `status` and
//! `message` together, which define the entry, or neither, for a built-in
//! entry as is. The other keys complete a definition, so they need `status`
//! and `message` too.
//!
//! | key | value | |
//! |---|---|---|
//! | `code` | `"snake_case"` | required |
//! | `status` | `400`–`599` | with `message`; both left out for a built-in entry as is |
//! | `message` | template, `{field}` placeholders | with `status` |
//! | `title` | text | with `status` and `message`; defaults to the code in words (`rule_not_found` → "Rule not found") |
//! | `remedy` | text | with `status` and `message`; what the caller should do |
//! | `retry` | `"never"`, `"after"`, `"backoff"` | with `status` and `message`; defaults from the status |
//! | `kind` | a `tollgate::Kind` name (`"not_found"`) | with `status` and `message`; defaults from the status |
//!
//! Field attributes: `#[api(source)]` (the cause: logged, never rendered;
//! `#[source]` and `#[from]`, as a type moved off thiserror has them, mark
//! it too, but the enum cannot also derive `thiserror::Error`: see below; an
//! error type, or anything that converts into
//! `Box<dyn std::error::Error + Send + Sync>`, such as that box itself or an
//! `anyhow::Error`), `#[api(retry_after)]`
//! (a `std::time::Duration` sent as `Retry-After`), either of them also in
//! an `Option`, as thiserror's `#[source] Option<E>` (no cause, or no wait,
//! when it is `None`; the type is read as written, `Option<T>` or
//! `std::option::Option<T>`, not through an alias), `#[api(message_only)]`
//! (fills the message template but is not sent as a detail; for a variant
//! that defines its entry), `#[api(skip)]` (not a detail). Every other named
//! field is a detail (`serde::Serialize`), filling the message template, but
//! for a field named `source` or `backtrace` without an attribute, which is
//! refused (thiserror reads those names as the cause; sent, its text would
//! reach the client). A detail is its value as JSON, in the message too: an
//! `Option` field that is `None` is `null` there (`"Plan null"`), so keep
//! optional values out of the message, or give their absence a variant.
//! Field violations are no field of a variant: add them to the converted
//! error (`ApiError::from(e).violation(v)`, or
//! `HandlerError::from_api(e).violation(v)` in a handler).
//! The conversion into `ApiError` takes the value and moves out the `source`
//! and `retry_after` fields: an enum that implements `Drop` can have neither.
//!
//! A generic enum states these bounds itself, since none are inferred:
//! `T: serde::Serialize` for a detail of type `T`, and
//! `E: std::error::Error + Send + Sync + 'static` for a source of type `E`
//! or `Option<E>` (`enum Lookup<T: serde::Serialize> { … value: T … }`).
//!
//! # Built-in codes
//!
//! A variant with a built-in code and neither `status` nor `message` is that
//! entry as is. Under `tollgate-axum`'s layer it answers with the entry the
//! layer's catalog has for the code, an app's override included (seed 002's
//! `rate_limit_exceeded` with its alias and wording). `error_defs()` leaves
//! such variants out, so inserting its entries into a catalog never
//! replaces an override.
//!
//! An answer carries only the details its entry documents, so such a
//! variant's detail fields are those the built-in entry documents
//! (`rate_limit_exceeded`'s `limit` and `window`; none for `not_found`): any
//! other is refused at compile time, since it would never be sent.
//! `#[api(code = "not_found")] LabelMissing { label_id: String }` does not
//! build; give the variant `status` and `message`, so that its own entry
//! documents `label_id`, or mark the field `#[api(skip)]`. Under the layer, a
//! catalog that overrides the entry's `details` decides what is sent (seed
//! 002's `details = []` for `rate_limit_exceeded` sends neither).
//!
//! With `status` and `message`, a built-in code is redefined from the keys
//! given alone: the built-in entry's remedy, retry class, kind and aliases
//! are not kept (give `remedy`, `retry` and `kind` again). The layer renders
//! every error with its catalog's entry for the code, so the redefinition
//! takes effect under the layer only once `error_defs()` are inserted into
//! the catalog the layer was built from; until then the variant answers as
//! the catalog's entry (a `not_found` redefined as 410 still answers 404).
//! Without the layer, a response is rendered from the variant's own entry.
//!
//! # What is generated
//!
//! The derive generates `impl From<Enum> for tollgate::ApiError`,
//! `IntoResponse`, `From<Enum> for tollgate_axum::HandlerError` (so `?` keeps
//! the variant's code in handlers returning `HandlerError`), `Display` (the
//! rendered message), and `Enum::error_defs()`, the catalog entries the enum
//! defines (built-in entries used as is are left out), for `Catalog::insert`
//! and documentation.
//!
//! The expansion names `::tollgate_axum`. A crate that depends on it under
//! another name, or re-exports the derive, says where it is with
//! `#[api(crate = "path::to::tollgate_axum")]` on the enum (the only key the
//! enum takes):
//!
//! ```
//! use tollgate_axum as web;
//!
//! #[derive(Debug, web::ApiError)]
//! #[api(crate = "web")]
//! enum E {
//!     #[api(code = "gone", status = 410, message = "Gone.")]
//!     Gone,
//! }
//! assert_eq!(tollgate::ApiError::from(E::Gone).status(), 410);
//! ```
//!
//! It does not implement `std::error::Error`, and the enum must not either:
//! `HandlerError` converts from every `Error + Send + Sync + 'static`, so the
//! generated `From<Enum> for HandlerError` would conflict with that (E0119).
//! Where an `Error` is needed, convert to `tollgate::ApiError`, which is one.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitInt, LitStr};

/// Derives a catalog-backed error from an enum; see the [crate docs](crate).
#[proc_macro_derive(ApiError, attributes(api, source, from))]
pub fn derive_api_error(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// The keys of a variant's `#[api(...)]`, for error messages.
const VARIANT_KEYS: &str = "code, status, title, message, remedy, retry, kind";
/// The keys of a field's `#[api(...)]`, for error messages.
const FIELD_KEYS: &str = "source, retry_after, message_only, skip";

/// What a variant's `#[api(...)]` says.
#[derive(Default)]
struct VariantAttrs {
    code: Option<LitStr>,
    status: Option<LitInt>,
    title: Option<LitStr>,
    message: Option<LitStr>,
    remedy: Option<LitStr>,
    retry: Option<LitStr>,
    kind: Option<LitStr>,
}

/// What a field is to the error.
enum FieldRole {
    /// A detail under this key (the field's name, unraw).
    Detail(Ident),
    /// `#[api(message_only)]`: fills the message under this key, not sent.
    MessageOnly(Ident),
    /// `#[api(source)]`: the cause.
    Source,
    /// `#[api(retry_after)]`: the `Retry-After` delay.
    RetryAfter,
    /// `#[api(skip)]`, or a tuple field in error.
    Skip,
}

/// A field of a variant.
struct FieldInfo {
    /// The binding in match patterns, located at the field's type so that
    /// type errors about the field (a detail not `Serialize`, a source not an
    /// `Error`) point there; it resolves at the call site like the rest.
    binding: Ident,
    /// The member in patterns: a name or a tuple index.
    member: syn::Member,
    role: FieldRole,
    /// For a source or delay of type `Option<T>`: the binding of the value
    /// inside, located at `T`, which is set only when there is one.
    inner: Option<Ident>,
}

/// A variant, checked.
struct Variant {
    /// The variant's name.
    ident: Ident,
    /// Its fields, in declaration order.
    fields: Vec<FieldInfo>,
    /// Its `code = "..."`.
    code: LitStr,
    /// Its catalog entry.
    def: Def,
}

/// A variant's catalog entry.
struct Def {
    /// The expression that builds the `ErrorDef`.
    tokens: TokenStream2,
    /// The built-in entry as is (no `status`/`message`): not in `error_defs()`.
    builtin: bool,
}

/// Collects errors so one compile reports every problem.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds a problem.
    fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    /// `Ok` when nothing was pushed, else every problem at once.
    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The derive's output, or every problem found.
fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[derive(ApiError)] works on enums: each variant is one catalog entry",
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[derive(ApiError)] needs at least one variant",
        ));
    }
    let mut errors = Errors::default();
    let mut root = quote!(::tollgate_axum);
    let mut named_crate = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("api")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                if std::mem::replace(&mut named_crate, true) {
                    return Err(meta.error("`crate` is given twice"));
                }
                let value: LitStr = meta.value().and_then(|v| v.parse()).map_err(|_| {
                    meta.error(
                        "`crate` takes a string: #[api(crate = \"path::to::tollgate_axum\")]",
                    )
                })?;
                let path: syn::Path = value.parse()?;
                root = quote!(#path);
                Ok(())
            } else {
                Err(meta.error(
                    "on the enum, #[api(...)] takes only crate = \"path::to::tollgate_axum\"; \
                     code, status and the rest go on variants",
                ))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    let private = quote!(#root::__private);
    let mut variants = Vec::new();
    for variant in &data.variants {
        match parse_variant(variant, &private) {
            Ok(v) => variants.push(v),
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;
    check_duplicate_codes(&variants)?;
    Ok(generate(input, &variants, &root))
}

/// One code, one entry: variants share a code only when each uses the
/// built-in entry as is, since inserting two definitions keeps the last.
fn check_duplicate_codes(variants: &[Variant]) -> syn::Result<()> {
    let mut errors = Errors::default();
    for (i, later) in variants.iter().enumerate() {
        let code = later.code.value();
        let first = variants[..i].iter().find(|v| v.code.value() == code);
        if let Some(first) = first.filter(|f| !(f.def.builtin && later.def.builtin)) {
            errors.push(syn::Error::new(
                later.code.span(),
                format!(
                    "code {code:?} of variant `{}` is also variant `{}`'s: variants share a code \
                     only when each uses the built-in entry as is (no `status` or `message`)",
                    later.ident, first.ident
                ),
            ));
        }
    }
    errors.finish()
}

/// A key as written: `colour`, `foo::bar`.
fn key_name(path: &syn::Path) -> String {
    let segments = path.segments.iter().map(|s| s.ident.to_string());
    let joined = segments.collect::<Vec<_>>().join("::");
    if path.leading_colon.is_some() {
        format!("::{joined}")
    } else {
        joined
    }
}

/// A variant's attributes and fields, checked.
fn parse_variant(variant: &syn::Variant, private: &TokenStream2) -> syn::Result<Variant> {
    let mut errors = Errors::default();
    let mut attrs = VariantAttrs::default();
    let mut seen_api = false;
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("api")) {
        seen_api = true;
        let parsed = attr.parse_nested_meta(|meta| {
            let key = key_name(&meta.path);
            let slot_str = match key.as_str() {
                "code" => Some(&mut attrs.code),
                "title" => Some(&mut attrs.title),
                "message" => Some(&mut attrs.message),
                "remedy" => Some(&mut attrs.remedy),
                "retry" => Some(&mut attrs.retry),
                "kind" => Some(&mut attrs.kind),
                _ => None,
            };
            if let Some(slot) = slot_str {
                let value: LitStr = meta.value().and_then(|v| v.parse()).map_err(|_| {
                    meta.error(format!("`{key}` takes a string: #[api({key} = \"...\")]"))
                })?;
                if slot.replace(value).is_some() {
                    return Err(meta.error(format!("`{key}` is given twice")));
                }
                return Ok(());
            }
            if key == "status" {
                let value: LitInt = meta
                    .value()
                    .and_then(|v| v.parse())
                    .map_err(|_| meta.error("`status` takes an integer: #[api(status = 404)]"))?;
                if attrs.status.replace(value).is_some() {
                    return Err(meta.error("`status` is given twice"));
                }
                return Ok(());
            }
            Err(meta.error(match key.as_str() {
                "source" | "retry_after" | "message_only" | "skip" => {
                    format!(
                        "`{key}` marks a field: put #[api({key})] on the field, not the variant"
                    )
                }
                "crate" => "`crate` goes on the enum: #[api(crate = \"...\")]".to_owned(),
                _ => format!("unknown attribute `{key}`, expected one of: {VARIANT_KEYS}"),
            }))
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    if !seen_api {
        errors.push(syn::Error::new(
            variant.ident.span(),
            format!(
                "variant `{}` needs #[api(code = \"...\", status = ..., message = \"...\")]",
                variant.ident
            ),
        ));
    }
    let fields = parse_fields(&variant.fields, &mut errors);
    errors.finish()?;
    let Some(code) = attrs.code.clone() else {
        let name = &variant.ident;
        return Err(syn::Error::new(
            name.span(),
            format!("variant `{name}` needs #[api(code = \"...\")]"),
        ));
    };
    let def = def_tokens(variant, &code, &attrs, &fields, private)?;
    Ok(Variant {
        ident: variant.ident.clone(),
        fields,
        code,
        def,
    })
}

/// The role of each field; problems go to `errors`.
fn parse_fields(fields: &Fields, errors: &mut Errors) -> Vec<FieldInfo> {
    let mut out = Vec::new();
    let (mut sources, mut delays) = (0, 0);
    for (i, field) in fields.iter().enumerate() {
        let mut role = None;
        // Where the role was given: the second source or delay is pointed
        // at there, not at the field's doc comment.
        let mut role_span = field.ty.span();
        // A field whose attribute was refused is told about once.
        let mut refused = false;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("api")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let key = key_name(&meta.path);
                let next = match key.as_str() {
                    "source" => FieldRole::Source,
                    "retry_after" => FieldRole::RetryAfter,
                    "skip" => FieldRole::Skip,
                    "message_only" => match &field.ident {
                        Some(name) => FieldRole::MessageOnly(name.unraw()),
                        None => {
                            return Err(
                                meta.error("a tuple field has no name to fill the message with")
                            );
                        }
                    },
                    "code" | "status" | "title" | "message" | "remedy" | "retry" | "kind" => {
                        return Err(meta.error(format!(
                            "`{key}` goes on the variant, not a field; a field takes one of: \
                             {FIELD_KEYS}"
                        )));
                    }
                    "crate" => {
                        return Err(meta.error("`crate` goes on the enum, not a field"));
                    }
                    _ => {
                        return Err(meta.error(format!(
                            "unknown field attribute `{key}`, expected one of: {FIELD_KEYS}"
                        )));
                    }
                };
                if !(meta.input.is_empty() || meta.input.peek(syn::Token![,])) {
                    return Err(meta.error(format!("`{key}` takes no value: #[api({key})]")));
                }
                if role.replace(next).is_some() {
                    return Err(meta.error(format!("a field takes one of {FIELD_KEYS}")));
                }
                role_span = meta.path.span();
                Ok(())
            });
            if let Err(e) = parsed {
                errors.push(e);
                refused = true;
            }
        }
        // thiserror's `#[source]` and `#[from]` mark the cause here too: a
        // type moved off thiserror keeps them.
        let cause = field.attrs.iter().find_map(|a| {
            let path = a.path();
            (path.is_ident("source") || path.is_ident("from")).then(|| path.span())
        });
        if let (None, Some(at)) = (&role, cause) {
            role = Some(FieldRole::Source);
            role_span = at;
        }
        let member = match &field.ident {
            Some(name) => syn::Member::Named(name.clone()),
            None => syn::Member::Unnamed(syn::Index::from(i)),
        };
        let role = match (role, &field.ident) {
            (Some(role), _) => role,
            (None, _) if refused => FieldRole::Skip,
            // thiserror's names for a cause: sent as a detail, it would put
            // the cause's text (a password in a connection error) on the wire.
            // `r#source` is the detail `source` too.
            (None, Some(name)) if matches!(&*name.unraw().to_string(), "source" | "backtrace") => {
                errors.push(syn::Error::new(
                    name.span(),
                    format!(
                        "field `{name}` would be sent as a detail: mark it #[api(source)] \
                         (the cause, logged and never sent) or #[api(skip)]"
                    ),
                ));
                FieldRole::Skip
            }
            // `r#match` is the detail `match`.
            (None, Some(name)) => FieldRole::Detail(name.unraw()),
            (None, None) => {
                errors.push(syn::Error::new(
                    field.ty.span(),
                    "a tuple field has no name to be a detail: name the fields, \
                     or mark this one #[api(source)], #[api(retry_after)] or #[api(skip)]",
                ));
                FieldRole::Skip
            }
        };
        // The second of a kind is the one told about.
        let second = match role {
            FieldRole::Source => {
                sources += 1;
                (sources == 2).then_some("at most one field can be #[api(source)]")
            }
            FieldRole::RetryAfter => {
                delays += 1;
                (delays == 2).then_some("at most one field can be #[api(retry_after)]")
            }
            _ => None,
        };
        if let Some(problem) = second {
            errors.push(syn::Error::new(role_span, problem));
        }
        let binding = |at: &syn::Type| {
            Ident::new(
                &format!("__field{i}"),
                Span::call_site().located_at(at.span()),
            )
        };
        let inner = match role {
            FieldRole::Source | FieldRole::RetryAfter => option_inner(&field.ty).map(binding),
            _ => None,
        };
        out.push(FieldInfo {
            binding: binding(&field.ty),
            member,
            role,
            inner,
        });
    }
    out
}

/// `T` of a type written `Option<T>` (any path ending so, as thiserror
/// reads it): told by its spelling, since a macro sees no types.
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let ty = match ty {
        // A type passed through a `macro_rules!` `$t:ty`.
        syn::Type::Group(group) => &group.elem,
        ty => ty,
    };
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(inner))
            if last.ident == "Option" && args.args.len() == 1 =>
        {
            Some(inner)
        }
        _ => None,
    }
}

/// Every placeholder of `template` names a detail field of `variant`.
fn check_placeholders(
    template: &tollgate::Template,
    details: &[String],
    fields: &[FieldInfo],
    variant: &Ident,
    span: Span,
    what: &str,
) -> syn::Result<()> {
    for placeholder in template.placeholders() {
        if !details.iter().any(|d| d == placeholder) {
            // A field of the variant that fills no message: say why.
            let marked = fields.iter().find_map(|f| {
                let attr = match f.role {
                    FieldRole::Source => "source",
                    FieldRole::RetryAfter => "retry_after",
                    FieldRole::Skip => "skip",
                    FieldRole::Detail(_) | FieldRole::MessageOnly(_) => return None,
                };
                match &f.member {
                    syn::Member::Named(n) if n.unraw() == placeholder => Some(attr),
                    _ => None,
                }
            });
            if let Some(attr) = marked {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "{what} placeholder {{{placeholder}}} names field `{placeholder}` of \
                         `{variant}`, which is #[api({attr})] and so fills no message"
                    ),
                ));
            }
            let known = if details.is_empty() {
                "none".to_owned()
            } else {
                details.join(", ")
            };
            return Err(syn::Error::new(
                span,
                format!(
                    "{what} placeholder {{{placeholder}}} is not a detail field of `{variant}` \
                     (detail fields: {known})"
                ),
            ));
        }
    }
    Ok(())
}

/// `rule_not_found` → "Rule not found".
fn title_from_code(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// `not_found` → `NotFound`.
fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
        })
        .collect()
}

/// The variant's entry, after checking everything that can be checked at
/// compile time.
fn def_tokens(
    variant: &syn::Variant,
    code_lit: &LitStr,
    attrs: &VariantAttrs,
    fields: &[FieldInfo],
    private: &TokenStream2,
) -> syn::Result<Def> {
    let name = &variant.ident;
    let code = code_lit.value();
    // Checked here so that a bad code fails the build rather than the
    // catalog at start.
    if !tollgate::is_code(&code) {
        return Err(syn::Error::new(
            code_lit.span(),
            format!("code {code:?} must be {}", tollgate::CODE_RULE),
        ));
    }
    let named = |message_only: bool| -> Vec<(String, Span)> {
        fields
            .iter()
            .filter_map(|f| match (&f.role, message_only) {
                (FieldRole::Detail(n), false) | (FieldRole::MessageOnly(n), true) => {
                    Some((n.to_string(), n.span()))
                }
                _ => None,
            })
            .collect()
    };
    let (sent, message_only) = (named(false), named(true));
    // What fills placeholders: every named field but source, delay and skip.
    let details: Vec<String> = sent
        .iter()
        .chain(&message_only)
        .map(|(k, _)| k.clone())
        .collect();
    for (key, field) in &message_only {
        if !tollgate::is_placeholder_name(key) {
            return Err(syn::Error::new(
                *field,
                format!("field `{key}` fills the message, and placeholders are [A-Za-z0-9_]+"),
            ));
        }
    }
    for (key, field) in &sent {
        let field = *field;
        if !tollgate::is_detail_key(key) {
            return Err(syn::Error::new(
                field,
                format!(
                    "field `{key}` names a detail, and detail keys are {}; \
                     rename it or mark it #[api(skip)]",
                    tollgate::DETAIL_KEY_RULE
                ),
            ));
        }
        for dialect in tollgate::Dialect::ALL {
            if dialect.reserved_detail_keys().contains(&key.as_str()) {
                return Err(syn::Error::new(
                    field,
                    format!(
                        "field `{key}` collides with a member of the {dialect} dialect; \
                         rename it or mark it #[api(skip)]"
                    ),
                ));
            }
        }
    }
    let builtin = tollgate::Catalog::builtin_ref().get(&code);
    let mut def = match (&attrs.status, &attrs.message) {
        (None, None) if builtin.is_some() => {
            let extra = [&attrs.title, &attrs.remedy, &attrs.retry, &attrs.kind]
                .into_iter()
                .flatten()
                .next();
            if let Some(extra) = extra {
                return Err(syn::Error::new(
                    extra.span(),
                    format!(
                        "`{code}` is used as built in; to redefine it give `status` and `message` too"
                    ),
                ));
            }
            // Whether a field is sent is the entry's to say, and the
            // catalog's entry for a built-in code may be an app's.
            if let Some((_, span)) = message_only.first() {
                return Err(syn::Error::new(
                    *span,
                    format!(
                        "`{code}` is used as built in, so its catalog entry says which values are \
                         sent; #[api(message_only)] needs the variant to give `status` and `message`"
                    ),
                ));
            }
            // The built-in message names its details: the variant must have them.
            if let Some(def) = builtin {
                let span = code_lit.span();
                check_placeholders(
                    def.message(),
                    &details,
                    fields,
                    name,
                    span,
                    "built-in message",
                )?;
                // Only the details an entry documents are sent: a field the
                // built-in entry does not document would be dropped without
                // a word, so it is refused here instead.
                let documented = def.detail_keys();
                if let Some((key, span)) = sent.iter().find(|(k, _)| !documented.contains(k)) {
                    let known = if documented.is_empty() {
                        "none".to_owned()
                    } else {
                        documented.join(", ")
                    };
                    return Err(syn::Error::new(
                        *span,
                        format!(
                            "`{code}` is used as built in, and its entry does not document a \
                             `{key}` detail (documented: {known}), so it would not be sent; give \
                             the variant `status` and `message` to define an entry that \
                             documents it, or mark the field #[api(skip)]"
                        ),
                    ));
                }
            }
            return Ok(Def {
                tokens: quote!(#private::builtin_def(#code)),
                builtin: true,
            });
        }
        (Some(status), Some(message)) => {
            let status_value: u16 = status
                .base10_parse()
                .ok()
                .filter(|s| (400..=599).contains(s))
                .ok_or_else(|| {
                    syn::Error::new(
                        status.span(),
                        format!("status {status} is outside 400–599 (an error status)"),
                    )
                })?;
            let template = tollgate::Template::parse(&message.value())
                .map_err(|e| syn::Error::new(message.span(), format!("message template: {e}")))?;
            // The catalog's rule, checked here so that it fails the build.
            if tollgate::has_stray_control(&message.value()) {
                return Err(syn::Error::new(
                    message.span(),
                    "message has a control character other than a line break or tab, a line \
                     separator or a direction override",
                ));
            }
            check_placeholders(&template, &details, fields, name, message.span(), "message")?;
            let title = attrs
                .title
                .as_ref()
                .map_or_else(|| title_from_code(&code), LitStr::value);
            let span = attrs.title.as_ref().map_or(name.span(), LitStr::span);
            if title.trim().is_empty() {
                return Err(syn::Error::new(span, "title is empty"));
            }
            if title
                .chars()
                .any(|c| c.is_control() || tollgate::is_layout_control(c))
            {
                return Err(syn::Error::new(
                    span,
                    "title has a control character, a line separator or a direction override \
                     (a title is one line of text)",
                ));
            }
            let message = message.value();
            let mut def = quote!(#private::def(#code, #status_value, #title, #message));
            if !sent.is_empty() {
                let keys = sent.iter().map(|(key, _)| key);
                def = quote!(#def.details([#(#keys),*]));
            }
            if !message_only.is_empty() {
                let keys = message_only.iter().map(|(key, _)| key);
                def = quote!(#def.message_only([#(#keys),*]));
            }
            def
        }
        (Some(status), None) => {
            return Err(syn::Error::new(
                status.span(),
                format!("variant `{name}` gives `status` but no `message`"),
            ));
        }
        (None, Some(message)) => {
            return Err(syn::Error::new(
                message.span(),
                format!("variant `{name}` gives `message` but no `status`"),
            ));
        }
        (None, None) => {
            return Err(syn::Error::new(
                code_lit.span(),
                format!(
                    "`{code}` is not a built-in code, so variant `{name}` needs `status` and `message`"
                ),
            ));
        }
    };
    if let Some(remedy) = &attrs.remedy {
        if tollgate::has_stray_control(&remedy.value()) {
            return Err(syn::Error::new(
                remedy.span(),
                "remedy has a control character other than a line break or tab, a line \
                 separator or a direction override",
            ));
        }
        def = quote!(#def.remedy(#remedy));
    }
    if let Some(retry) = &attrs.retry {
        let value = retry.value();
        if !matches!(value.as_str(), "never" | "after" | "backoff") {
            return Err(syn::Error::new(
                retry.span(),
                format!("retry {value:?} must be one of: never, after, backoff"),
            ));
        }
        let variant = format_ident!("{}", camel(&value));
        def = quote!(#def.retry_class(#private::tollgate::RetryClass::#variant));
    }
    if let Some(kind) = &attrs.kind {
        let value = kind.value();
        if let Err(e) = value.parse::<tollgate::Kind>() {
            return Err(syn::Error::new(kind.span(), e.to_string()));
        }
        let variant = format_ident!("{}", camel(&value));
        def = quote!(#def.kind_of(#private::tollgate::Kind::#variant));
    }
    Ok(Def {
        tokens: def,
        builtin: false,
    })
}

/// The impls for a checked enum; `root` is the path to `tollgate_axum`.
fn generate(input: &DeriveInput, variants: &[Variant], root: &TokenStream2) -> TokenStream2 {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let private = quote!(#root::__private);
    let tg = quote!(#private::tollgate);

    let defs = variants.iter().map(|v| &v.def.tokens);
    // The entries the enum defines; built-in ones used as is are in every
    // catalog already, where an app may have overridden them.
    let defined = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.def.builtin)
        .map(|(i, _)| i);
    let pattern = |v: &Variant| {
        let ident = &v.ident;
        let members = v.fields.iter().map(|f| &f.member);
        let bindings = v.fields.iter().map(|f| &f.binding);
        quote!(#name::#ident { #(#members: #bindings,)* })
    };
    let index_arms = variants.iter().enumerate().map(|(i, v)| {
        let pat = pattern(v);
        quote!(#[allow(unused_variables)] #pat => #i,)
    });
    let detail_arms = variants.iter().map(|v| {
        let pat = pattern(v);
        let inserts = v.fields.iter().filter_map(|f| match &f.role {
            FieldRole::Detail(key) | FieldRole::MessageOnly(key) => {
                let key = key.to_string();
                let binding = &f.binding;
                Some(quote!(__tollgate_details.insert(::std::borrow::ToOwned::to_owned(#key), #private::to_detail(#binding));))
            }
            _ => None,
        });
        quote!(#[allow(unused_variables)] #pat => { #(#inserts)* })
    });
    // By value, binding only what it moves: an enum that implements `Drop`
    // allows no other field to be moved out (E0509).
    let extra_arms = variants.iter().map(|v| {
        let ident = &v.ident;
        let moved = v
            .fields
            .iter()
            .filter(|f| matches!(f.role, FieldRole::Source | FieldRole::RetryAfter));
        let (members, bindings) = (moved.clone().map(|f| &f.member), moved.map(|f| &f.binding));
        let pat = quote!(#name::#ident { #(#members: #bindings,)* .. });
        let sets = v.fields.iter().filter_map(|f| {
            // The value inside an `Option`, when there is one.
            let binding = f.inner.as_ref().unwrap_or(&f.binding);
            let set = match f.role {
                FieldRole::Source => quote!(__tollgate_err = __tollgate_err.with_source(#binding);),
                FieldRole::RetryAfter => {
                    quote!(__tollgate_err = __tollgate_err.retry_after(#binding);)
                }
                _ => return None,
            };
            Some(match &f.inner {
                Some(inner) => {
                    let field = &f.binding;
                    quote!(if let ::std::option::Option::Some(#inner) = #field { #set })
                }
                None => set,
            })
        });
        quote!(#[allow(unused_variables)] #pat => { #(#sets)* })
    });

    quote! {
        impl #impl_generics #name #ty_generics #where_clause {
            /// The catalog entries this error defines (its variants with
            /// `status` and `message`), in declaration order: add them with
            /// `tollgate::Catalog::insert`, list them in docs. Variants that
            /// use a built-in entry as is are left out: every catalog built on
            /// the built-in one has them, perhaps overridden by the app.
            pub fn error_defs() -> ::std::vec::Vec<#tg::ErrorDef> {
                let __tollgate_defs = Self::__tollgate_defs();
                let __tollgate_defined: &[::std::primitive::usize] = &[#(#defined),*];
                // Paths in full, as everywhere here: a module may have no
                // prelude. Locals are prefixed: a binding named like a
                // constant in scope would be a pattern matching it.
                let __tollgate_entries = ::std::iter::Iterator::map(
                    __tollgate_defined.iter(),
                    |&__tollgate_i| ::std::clone::Clone::clone(&*__tollgate_defs[__tollgate_i]),
                );
                ::std::iter::Iterator::collect(__tollgate_entries)
            }

            #[doc(hidden)]
            fn __tollgate_defs() -> &'static [::std::sync::Arc<#tg::ErrorDef>] {
                static DEFS: ::std::sync::LazyLock<::std::vec::Vec<::std::sync::Arc<#tg::ErrorDef>>> =
                    ::std::sync::LazyLock::new(|| ::std::vec![#(::std::sync::Arc::new(#defs)),*]);
                &DEFS
            }

            #[doc(hidden)]
            fn __tollgate_index(&self) -> ::std::primitive::usize {
                match self { #(#index_arms)* }
            }

            #[doc(hidden)]
            fn __tollgate_details(&self) -> #private::serde_json::Map<::std::string::String, #private::serde_json::Value> {
                let mut __tollgate_details = #private::serde_json::Map::new();
                match self { #(#detail_arms)* }
                __tollgate_details
            }
        }

        impl #impl_generics ::std::convert::From<#name #ty_generics> for #tg::ApiError #where_clause {
            fn from(__tollgate_e: #name #ty_generics) -> #tg::ApiError {
                let __tollgate_def = ::std::clone::Clone::clone(
                    &<#name #ty_generics>::__tollgate_defs()[__tollgate_e.__tollgate_index()],
                );
                let mut __tollgate_err = #tg::ApiError::new(__tollgate_def)
                    .with_details(__tollgate_e.__tollgate_details());
                match __tollgate_e { #(#extra_arms)* }
                __tollgate_err
            }
        }

        impl #impl_generics ::std::fmt::Display for #name #ty_generics #where_clause {
            fn fmt(&self, __tollgate_f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let __tollgate_def = &Self::__tollgate_defs()[self.__tollgate_index()];
                let __tollgate_details = self.__tollgate_details();
                let __tollgate_message = __tollgate_def.message().render(&__tollgate_details);
                ::std::fmt::Display::fmt(&__tollgate_message, __tollgate_f)
            }
        }

        impl #impl_generics #private::IntoResponse for #name #ty_generics #where_clause {
            fn into_response(self) -> #private::Response {
                #private::error_response(<#tg::ApiError as ::std::convert::From<Self>>::from(self))
            }
        }

        impl #impl_generics ::std::convert::From<#name #ty_generics> for #root::HandlerError #where_clause {
            fn from(__tollgate_e: #name #ty_generics) -> #root::HandlerError {
                #private::handler_error(<#tg::ApiError as ::std::convert::From<#name #ty_generics>>::from(__tollgate_e))
            }
        }
    }
}
