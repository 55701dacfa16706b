//! Catalog entries: what one kind of error is, for every occurrence.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Dialect, Kind, RetryClass, Template, TemplateError};

/// One entry of an error catalog: the stable definition of an error.
///
/// Every occurrence of the error ([`ApiError`](crate::ApiError)) shares its code,
/// status, title and retry advice; only the details (and so the message) vary.
///
/// ```
/// use tollgate::{Dialect, ErrorDef, Kind, RetryClass};
/// let def = ErrorDef::new("insufficient_frames", 400, "Not enough frames provided",
///         "Model \"{model}\" requires {required} frames, received {received}.")
///     .unwrap()
///     .details(["model", "required", "received"])
///     .remedy("Send at least as many frames as the model requires.")
///     .alias(Dialect::Coded, "INSUFFICIENT_FRAMES");
/// assert_eq!(def.kind(), Kind::InvalidArgument);
/// assert_eq!(def.retry(), RetryClass::Never);
/// assert_eq!(def.wire_code(Dialect::Coded), "INSUFFICIENT_FRAMES");
/// assert_eq!(def.wire_code(Dialect::Problem), "insufficient_frames");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDef {
    pub(crate) code: String,
    pub(crate) status: u16,
    pub(crate) title: String,
    pub(crate) message: Template,
    pub(crate) hint: Option<Template>,
    pub(crate) remedy: Option<String>,
    pub(crate) retry: RetryClass,
    pub(crate) kind: Kind,
    pub(crate) aliases: BTreeMap<Dialect, String>,
    /// Where the API answers in one dialect, the one this entry is written
    /// in instead (seed 002's middleware errors in `coded` beside its
    /// framework's `detail`).
    pub(crate) sent_in: BTreeMap<Dialect, Dialect>,
    pub(crate) details: Vec<String>,
    pub(crate) message_only: Vec<String>,
    /// Sample values of details and message-only values, for the reference.
    pub(crate) examples: BTreeMap<String, Value>,
    /// `code` in UPPER_SNAKE: google's `ErrorInfo.reason` unless aliased,
    /// made once here rather than for every error written.
    upper: String,
}

impl ErrorDef {
    /// A new entry; kind and retry class follow from the status until set.
    ///
    /// Fails only when the message template is malformed. The code and status
    /// are checked by [`Catalog`](crate::Catalog) when the entry is added.
    pub fn new(
        code: impl Into<String>,
        status: u16,
        title: impl Into<String>,
        message: &str,
    ) -> Result<ErrorDef, TemplateError> {
        let code = code.into();
        Ok(ErrorDef {
            upper: code.to_ascii_uppercase(),
            code,
            status,
            title: title.into(),
            message: Template::parse(message)?,
            hint: None,
            remedy: None,
            retry: RetryClass::from_status(status),
            kind: Kind::from_status(status),
            aliases: BTreeMap::new(),
            sent_in: BTreeMap::new(),
            details: Vec::new(),
            message_only: Vec::new(),
            examples: BTreeMap::new(),
        })
    }

    /// Sets what the caller should do about it.
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    /// Sets a free-text hint template, rendered by dialects whose `details`
    /// member may be a string (`status-code`, seed 000). An error whose
    /// details do not fill every placeholder, or that has field violations,
    /// writes its details object instead (`null` when it has neither details
    /// to send nor violations): never a hint with blanks, nor one that hides
    /// the violations.
    pub fn hint(mut self, hint: &str) -> Result<Self, TemplateError> {
        self.hint = Some(Template::parse(hint)?);
        Ok(self)
    }

    /// Sets the retry class.
    pub fn retry_class(mut self, retry: RetryClass) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the canonical kind.
    pub fn kind_of(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Spells the code differently in one dialect (`RATE_LIMIT_ERROR`).
    pub fn alias(mut self, dialect: Dialect, wire_code: impl Into<String>) -> Self {
        self.aliases.insert(dialect, wire_code.into());
        self
    }

    /// Where an API answers in `dialect`, writes this entry in `written`
    /// instead: one API whose layers answer in two shapes, as seed 002's
    /// does (its rate limit, raised by middleware, in `coded`; the rest,
    /// raised by the framework, in FastAPI's `detail`).
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tollgate::{ApiError, Catalog, Context, Dialect, ErrorDef};
    /// let def = ErrorDef::new("rate_limit_exceeded", 429, "Too many requests", "Slow down.")
    ///     .unwrap()
    ///     .sent_in(Dialect::Detail, Dialect::Coded);
    /// assert_eq!(def.dialect_in(Dialect::Detail), Dialect::Coded);
    /// assert_eq!(def.dialect_in(Dialect::Problem), Dialect::Problem);
    /// let mut catalog = Catalog::builtin();
    /// catalog.insert(def).unwrap();
    /// let err = catalog.error("rate_limit_exceeded").unwrap();
    /// let ctx = Context::new(SystemTime::UNIX_EPOCH).request_id("r1");
    /// let body = catalog.renderer(Dialect::Detail).body(&err, &ctx);
    /// assert_eq!(
    ///     String::from_utf8(body).unwrap(),
    ///     r#"{"error":{"code":"rate_limit_exceeded","message":"Slow down.","details":{}},"request_id":"r1"}"#
    /// );
    /// ```
    pub fn sent_in(mut self, dialect: Dialect, written: Dialect) -> Self {
        self.sent_in.insert(dialect, written);
        self
    }

    /// The dialect this entry is written in where the API answers in
    /// `dialect`: `dialect` itself unless [`sent_in`](Self::sent_in) names
    /// another.
    pub fn dialect_in(&self, dialect: Dialect) -> Dialect {
        self.sent_in.get(&dialect).copied().unwrap_or(dialect)
    }

    /// The dialects this entry is written in instead of others
    /// ([`sent_in`](Self::sent_in)), by the dialect the API answers in.
    pub fn sent_in_dialects(&self) -> &BTreeMap<Dialect, Dialect> {
        &self.sent_in
    }

    /// Documents the details keys every occurrence carries: the only ones
    /// sent. A value under another key (added by a layer, or by the code that
    /// raised the error) may fill a template but stays off the wire, so what
    /// the error reference shows is what clients get, and a catalog's
    /// `details = []` sends none.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tollgate::{ApiError, Catalog, Context, Dialect, ErrorDef};
    /// let def = ErrorDef::new("insufficient_scope", 403, "Forbidden", "Needs {scope}.")
    ///     .unwrap()
    ///     .details(["scope"]);
    /// let err = ApiError::new(def.into()).with("scope", "scans:write").with("access", "write");
    /// let body = Catalog::builtin().renderer(Dialect::Coded)
    ///     .body(&err, &Context::new(SystemTime::now()));
    /// let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(body["error"]["details"], serde_json::json!({"scope": "scans:write"}));
    /// ```
    pub fn details<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.details = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Names values that fill the message and hint templates but are not
    /// sent as details: seed 002's `"Rate limit exceeded: 100 calls per 60
    /// seconds"` with `"details": {}`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tollgate::{ApiError, Catalog, Context, Dialect, ErrorDef};
    /// let def = ErrorDef::new("rate_limit_exceeded", 429, "Rate limit exceeded",
    ///         "Rate limit exceeded: {limit} calls per {window} seconds")
    ///     .unwrap()
    ///     .message_only(["limit", "window"]);
    /// let err = ApiError::new(def.into()).with("limit", 100).with("window", 60);
    /// let body = Catalog::builtin().renderer(Dialect::Coded)
    ///     .body(&err, &Context::new(SystemTime::now()));
    /// let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(body["error"]["message"], "Rate limit exceeded: 100 calls per 60 seconds");
    /// assert_eq!(body["error"]["details"], serde_json::json!({}));
    /// ```
    pub fn message_only<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.message_only = keys.into_iter().map(Into::into).collect();
        self
    }

    /// A sample value of a detail or message-only value, of the type the
    /// layers send it as, for the reference and the OpenAPI examples (which
    /// show `"<key>"` for a key without one).
    ///
    /// ```
    /// use tollgate::{Catalog, ErrorDef};
    /// let def = ErrorDef::new("low_confidence", 422, "Low confidence", "Confidence {confidence} is below {threshold}.")
    ///     .unwrap()
    ///     .details(["confidence", "threshold"])
    ///     .example("confidence", 0.42)
    ///     .example("threshold", 0.6);
    /// let mut catalog = Catalog::builtin();
    /// catalog.insert(def.clone()).unwrap();
    /// let err = tollgate::docs::example_error(&catalog, &def);
    /// assert_eq!(err.message(), "Confidence 0.42 is below 0.6.");
    /// ```
    pub fn example(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.examples.insert(key.into(), value.into());
        self
    }

    /// The sample value of `key`, if the entry gives one ([`example`](Self::example)).
    pub fn example_value(&self, key: &str) -> Option<&Value> {
        self.examples.get(key)
    }

    /// The stable snake_case code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The title: the same for every occurrence.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The message template.
    pub fn message(&self) -> &Template {
        &self.message
    }

    /// The hint template, if any.
    pub fn hint_template(&self) -> Option<&Template> {
        self.hint.as_ref()
    }

    /// What the caller should do, if documented.
    pub fn remedy_text(&self) -> Option<&str> {
        self.remedy.as_deref()
    }

    /// Whether and how to retry.
    pub fn retry(&self) -> RetryClass {
        self.retry
    }

    /// The canonical kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The documented details keys.
    pub fn detail_keys(&self) -> &[String] {
        &self.details
    }

    /// The keys that fill templates but are not sent ([`message_only`](Self::message_only)).
    pub fn message_only_keys(&self) -> &[String] {
        &self.message_only
    }

    /// The keys templates may name: the documented details, then the
    /// message-only values.
    pub fn template_keys(&self) -> impl Iterator<Item = &String> {
        self.details.iter().chain(&self.message_only)
    }

    /// Whether a detail of this name is sent, rather than only filling the
    /// message: whether the entry documents it in [`details`](Self::details)
    /// (and not as [`message_only`](Self::message_only) too). This is the one
    /// place that decides, for every dialect and whichever layer added the
    /// value.
    pub fn sends_detail(&self, key: &str) -> bool {
        self.details.iter().any(|k| k == key) && !self.message_only.iter().any(|k| k == key)
    }

    /// The per-dialect spellings of the code.
    pub fn aliases(&self) -> &BTreeMap<Dialect, String> {
        &self.aliases
    }

    /// The code as it appears on the wire in `dialect`: its alias there, else
    /// the dialect's default spelling (`UPPER_SNAKE` for google's
    /// `ErrorInfo.reason`, the code itself elsewhere).
    pub fn wire_code(&self, dialect: Dialect) -> std::borrow::Cow<'_, str> {
        match self.aliases.get(&dialect) {
            Some(alias) => alias.as_str().into(),
            None if dialect == Dialect::Google => self.upper.as_str().into(),
            None => self.code.as_str().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_only_values_are_named_but_not_sent() {
        let def = ErrorDef::new("quota", 429, "t", "{limit} calls per {window} seconds")
            .unwrap()
            .details(["window"])
            .message_only(["limit"]);
        assert_eq!(def.message_only_keys(), ["limit"]);
        assert!(!def.sends_detail("limit"));
        assert!(def.sends_detail("window"));
    }

    /// A value the entry does not document is not sent, whoever added it: a
    /// catalog's `details = []` sends none, and the error reference shows
    /// what is sent.
    #[test]
    fn only_documented_details_are_sent() {
        let def = ErrorDef::new("insufficient_scope", 403, "t", "Needs {scope}.")
            .unwrap()
            .details(["scope"]);
        assert!(def.sends_detail("scope"));
        for unsent in ["resource", "access", "own"] {
            assert!(!def.sends_detail(unsent), "{unsent}");
        }
        let none = def.details(Vec::<String>::new());
        assert!(!none.sends_detail("scope"));
        let both = ErrorDef::new("quota", 429, "t", "m")
            .unwrap()
            .details(["limit"])
            .message_only(["limit"]);
        assert!(!both.sends_detail("limit"), "message_only wins");
    }
}
