//! One occurrence of an error.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ErrorDef, Kind};

/// One field-level problem: `items[2].name` must be a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The field as the caller wrote it: `items[2].name`, `session_id`;
    /// empty for the whole input (a body that is not an object).
    pub field: String,
    /// A stable code for the problem (`missing_field`, `invalid_type`).
    pub code: String,
    /// A human-readable message.
    pub message: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Violation {
        Violation {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// The violation told in one line, as the layers word a
    /// `validation_error` by its first: `field: message`, or the message
    /// alone for the whole input.
    ///
    /// ```
    /// use tollgate::Violation;
    /// assert_eq!(Violation::new("limit", "too_large", "must be at most 100").told(), "limit: must be at most 100");
    /// assert_eq!(Violation::new("", "invalid_type", "expected an object").told(), "expected an object");
    /// ```
    pub fn told(&self) -> String {
        match self.field.as_str() {
            "" => self.message.clone(),
            field => format!("{field}: {}", self.message),
        }
    }
}

/// One occurrence of a catalog error: the definition plus what happened.
///
/// Build it from a catalog, add details (which fill the message template),
/// violations and a retry hint, then render it in any [`Dialect`](crate::Dialect).
///
/// ```
/// use tollgate::Catalog;
/// let catalog = Catalog::builtin();
/// let err = catalog.error("insufficient_credits").unwrap()
///     .with("required", 1)
///     .with("available", 0);
/// assert_eq!(err.status(), 402);
/// assert_eq!(err.message(), "Insufficient credits. Required: 1, available: 0");
/// ```
#[derive(Clone)]
pub struct ApiError(Box<Inner>);

/// Boxed so `Result<T, ApiError>` stays one pointer wide.
#[derive(Clone)]
struct Inner {
    def: Arc<ErrorDef>,
    message: Option<String>,
    /// Whether `message` only stands in for the entry's own wording
    /// ([`ApiError::with_default_message`]).
    message_is_default: bool,
    details: Map<String, Value>,
    violations: Vec<Violation>,
    retry_after: Option<Duration>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// An occurrence of `def` with no details yet.
    pub fn new(def: Arc<ErrorDef>) -> ApiError {
        ApiError(Box::new(Inner {
            def,
            message: None,
            message_is_default: false,
            details: Map::new(),
            violations: Vec::new(),
            retry_after: None,
            headers: Vec::new(),
            source: None,
        }))
    }

    /// Adds a detail; details fill the message template and are rendered
    /// where the dialect has room for them when the entry documents the key
    /// in its [`details`](ErrorDef::details) (and not as
    /// [`message_only`](ErrorDef::message_only)): a value under any other key
    /// only fills templates, so an app's `details = []` sends none. A key
    /// that names one of the dialect's own members
    /// ([`Dialect::reserved_detail_keys`](crate::Dialect::reserved_detail_keys),
    /// such as `status` in `problem`) is not rendered there; catalogs reject
    /// such keys in `details`, so only entries built in code can meet this.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.details.insert(key.into(), value.into());
        self
    }

    /// Replaces all details.
    pub fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.0.details = details;
        self.name_the_field();
        self
    }

    /// Replaces the templated message for this occurrence only
    /// (FastAPI's `HTTPException(404, detail="Rule not found")`).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = Some(message.into());
        self.0.message_is_default = false;
        self
    }

    /// Replaces the templated message for this occurrence while the entry
    /// keeps the wording it was raised with: moved onto an entry whose
    /// message template differs ([`with_def`](Self::with_def), an app's
    /// catalog that words the code its own way), the new entry's message
    /// stands. The layers tell a `validation_error` by its first violation
    /// so, unless the app's catalog sets the message (seed 002's
    /// `"Invalid request parameters"`); the violations keep their own.
    ///
    /// ```
    /// use tollgate::{Catalog, Violation};
    /// let err = Catalog::builtin_ref().error("validation_error").unwrap()
    ///     .violation(Violation::new("limit", "out_of_range", "must be at most 100"))
    ///     .with_default_message("limit: must be at most 100");
    /// let app = Catalog::from_toml("app.toml", r#"
    ///     [errors.validation_error]
    ///     message = "Invalid request parameters"
    /// "#).unwrap();
    /// let worded = err.clone().with_def(app.get("validation_error").unwrap().clone());
    /// assert_eq!(worded.message(), "Invalid request parameters");
    /// assert_eq!(worded.violations()[0].message, "must be at most 100");
    ///
    /// // An entry with the built-in wording keeps the occurrence's message.
    /// let plain = Catalog::from_toml("app.toml", r#"
    ///     [errors.validation_error]
    ///     status = 422
    /// "#).unwrap();
    /// let kept = err.with_def(plain.get("validation_error").unwrap().clone());
    /// assert_eq!(kept.message(), "limit: must be at most 100");
    /// ```
    pub fn with_default_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = Some(message.into());
        self.0.message_is_default = true;
        self
    }

    /// Adds a field violation. An entry that documents a `field` detail
    /// (seed 002's `validation_error`) is sent the first violation's field
    /// there, unless the occurrence names one itself.
    ///
    /// ```
    /// use tollgate::{Catalog, Dialect, Violation};
    /// let app = Catalog::from_toml("app.toml", "[errors.validation_error]\ndetails = ['field']\n")?;
    /// let err = app.error("validation_error")?
    ///     .violation(Violation::new("limit", "out_of_range", "must be at most 100"));
    /// assert_eq!(err.details()["field"], "limit");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn violation(mut self, violation: Violation) -> Self {
        self.0.violations.push(violation);
        self.name_the_field();
        self
    }

    /// Sends the first violation's field as the `field` detail, where the
    /// entry documents one and the occurrence named none: what the entry's
    /// reference shows, in every dialect.
    fn name_the_field(&mut self) {
        use crate::dialect::FIELD_KEY;
        if !self.0.def.sends_detail(FIELD_KEY) || self.0.details.contains_key(FIELD_KEY) {
            return;
        }
        if let Some(first) = self.0.violations.iter().find(|v| !v.field.is_empty()) {
            let field = Value::from(first.field.clone());
            self.0.details.insert(FIELD_KEY.to_owned(), field);
        }
    }

    /// Tells the client how long to wait before retrying (`Retry-After`).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.0.retry_after = Some(delay);
        self
    }

    /// Adds a response header (`WWW-Authenticate`, `Allow`) sent with the
    /// error. One the renderer writes itself (`Content-Type`,
    /// `X-Request-Id`, `X-Error-Code`, `Retry-After` when a wait is set,
    /// stripe's `Request-Id`) is not sent: the renderer's stands. A
    /// `Retry-After` that reads as a wait (seconds, or an HTTP date, from
    /// now) sets the wait, as [`retry_after`](Self::retry_after) does, so
    /// that the body tells it too and the header goes out in seconds.
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        if name == http::header::RETRY_AFTER && self.0.retry_after.is_none() {
            let now = std::time::SystemTime::now();
            let asked = value
                .to_str()
                .ok()
                .and_then(|v| crate::parse_retry_after(v, now));
            if let Some(delay) = asked {
                return self.retry_after(delay);
            }
        }
        self.0.headers.push((name, value));
        self
    }

    /// Attaches the underlying cause: logged, never rendered. Any error type
    /// will do, and so will what converts into a boxed error: a
    /// `Box<dyn Error + Send + Sync>`, an `anyhow::Error`, a `String`.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.0.source = Some(Arc::from(source.into()));
        self
    }

    /// Moves this occurrence onto another entry (an app's catalog overriding
    /// the one it was raised with), keeping details, violations, retry hint,
    /// headers, source and a message replaced with
    /// [`with_message`](Self::with_message); one given with
    /// [`with_default_message`](Self::with_default_message) is kept only when
    /// the new entry's message template is the old one's. Values the old entry named
    /// (its documented details and its
    /// [`message_only`](ErrorDef::message_only) values) that the new one
    /// does not name are dropped: they fill none of its templates, and the
    /// new entry's `details` say what is sent (an app's `details = []`
    /// sends none of the built-in entry's).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate::{ApiError, Catalog, ErrorDef};
    /// let own = ErrorDef::new("not_found", 404, "Missing", "No document for {email}.")?
    ///     .message_only(["email"]);
    /// let err = ApiError::new(Arc::new(own)).with("email", "a@example.com");
    /// // The built-in entry names no `email`: moved onto it, the value goes.
    /// let builtin = Catalog::builtin_ref().get("not_found").unwrap().clone();
    /// let moved = err.with_def(builtin);
    /// assert!(moved.details().get("email").is_none());
    /// assert!(!moved.has_sent_details());
    ///
    /// // An app's entry that documents no details sends none: the built-in
    /// // entry's values are dropped, the raiser's own kept (to fill
    /// // templates) but not sent.
    /// let app = Catalog::from_toml("app.toml", r#"
    ///     [errors.rate_limit_exceeded]
    ///     message = "Rate limit exceeded. Please try again later."
    ///     details = []
    /// "#).unwrap();
    /// let limited = Catalog::builtin_ref().error("rate_limit_exceeded").unwrap()
    ///     .with("limit", 100).with("window", 60).with("own", true);
    /// let moved = limited.with_def(app.get("rate_limit_exceeded").unwrap().clone());
    /// let kept: Vec<_> = moved.details().keys().map(String::as_str).collect();
    /// assert_eq!(kept, ["own"], "a value no entry documents is the raiser's own");
    /// assert!(!moved.has_sent_details(), "and no entry documents it");
    /// # Ok::<(), tollgate::TemplateError>(())
    /// ```
    pub fn with_def(mut self, def: Arc<ErrorDef>) -> Self {
        let old = &self.0.def;
        for key in old.template_keys() {
            if !def.template_keys().any(|named| named == key) {
                self.0.details.shift_remove(key);
            }
        }
        if self.0.message_is_default && old.message != def.message {
            self.0.message = None;
            self.0.message_is_default = false;
        }
        self.0.def = def;
        self.name_the_field();
        self
    }

    /// The message given with [`with_message`](Self::with_message) or
    /// [`with_default_message`](Self::with_default_message), if any.
    pub fn message_override(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// The catalog entry.
    pub fn def(&self) -> &Arc<ErrorDef> {
        &self.0.def
    }

    /// The canonical code.
    pub fn code(&self) -> &str {
        &self.0.def.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.def.status
    }

    /// The canonical kind.
    pub fn kind(&self) -> Kind {
        self.0.def.kind
    }

    /// The message, rendered from the template unless replaced.
    pub fn message(&self) -> Cow<'_, str> {
        match &self.0.message {
            Some(m) => Cow::Borrowed(m),
            None => Cow::Owned(self.message_display().to_string()),
        }
    }

    /// The message as a [`Display`](fmt::Display) that renders without allocating.
    pub fn message_display(&self) -> MessageDisplay<'_> {
        MessageDisplay(self)
    }

    /// The hint (seed 000's string `details`), when the entry has a template.
    pub fn hint(&self) -> Option<crate::template::Rendered<'_>> {
        self.0.def.hint.as_ref().map(|t| t.render(&self.0.details))
    }

    /// The details, those that only fill the message included.
    pub fn details(&self) -> &Map<String, Value> {
        &self.0.details
    }

    /// The details sent on the wire: those the entry documents in its
    /// [`details`](ErrorDef::details) (see [`ErrorDef::sends_detail`]).
    pub fn sent_details(&self) -> impl Iterator<Item = (&String, &Value)> {
        let def = &self.0.def;
        self.0.details.iter().filter(|(k, _)| def.sends_detail(k))
    }

    /// Whether any detail is sent on the wire.
    pub fn has_sent_details(&self) -> bool {
        self.sent_details().next().is_some()
    }

    /// The field violations.
    pub fn violations(&self) -> &[Violation] {
        &self.0.violations
    }

    /// The retry hint, if any.
    pub fn retry_after_delay(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Extra response headers.
    pub fn headers(&self) -> &[(http::HeaderName, http::HeaderValue)] {
        &self.0.headers
    }

    /// The underlying cause, for logs.
    pub fn source_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.source.as_deref()
    }
}

/// An error's message as a [`Display`](fmt::Display); see [`ApiError::message_display`].
#[derive(Clone, Copy)]
pub struct MessageDisplay<'a>(&'a ApiError);

impl fmt::Display for MessageDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.0.message {
            Some(m) => f.write_str(m),
            None => self.0.0.def.message.render(&self.0.0.details).fmt(f),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.0.def.code)
            .field("status", &self.0.def.status)
            .field("message", &self.message_display().to_string())
            .field("details", &self.0.details)
            .field("violations", &self.0.violations)
            .field("retry_after", &self.0.retry_after)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.0.def.code,
            self.0.def.status,
            self.message_display()
        )
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found() -> ApiError {
        let def = ErrorDef::new("not_found", 404, "Not found", "No {thing} here.")
            .unwrap()
            .details(["thing"]);
        ApiError::new(Arc::new(def)).with("thing", "rule")
    }

    #[test]
    fn the_message_is_the_filled_template_unless_replaced() {
        let err = not_found();
        assert_eq!(err.message(), "No rule here.");
        assert_eq!(err.to_string(), "not_found (404): No rule here.");
        assert!(
            format!("{err:?}").starts_with(
                r#"ApiError { code: "not_found", status: 404, message: "No rule here.""#
            ),
            "{err:?}"
        );
        let err = err.with_message("Rule not found");
        assert_eq!(err.message(), "Rule not found");
        assert_eq!(err.message_display().to_string(), "Rule not found");
        assert_eq!(err.to_string(), "not_found (404): Rule not found");
    }

    #[test]
    fn the_hint_is_filled_from_the_details() {
        let def = ErrorDef::new("insufficient_scope", 403, "t", "m")
            .unwrap()
            .hint("Needs {scope}.")
            .unwrap();
        let err = ApiError::new(Arc::new(def)).with("scope", "admin");
        assert_eq!(
            err.hint().map(|h| h.to_string()).as_deref(),
            Some("Needs admin.")
        );
    }

    #[test]
    fn the_source_is_kept_for_logs() {
        let err = not_found().with_source("disk full".to_owned());
        assert_eq!(err.source_error().unwrap().to_string(), "disk full");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), "disk full");
    }

    #[test]
    fn another_entry_keeps_the_values_it_names_and_the_raisers_own() {
        let old = ErrorDef::new("quota", 429, "t", "{limit} calls per {window} seconds")
            .unwrap()
            .details(["limit", "window"]);
        let new = ErrorDef::new("quota", 429, "t", "{limit} calls")
            .unwrap()
            .message_only(["limit"]);
        let err = ApiError::new(Arc::new(old))
            .with("limit", 5)
            .with("window", 60)
            .with("own", true);
        let moved = err.with_def(Arc::new(new));
        let kept: Vec<_> = moved.details().keys().map(String::as_str).collect();
        assert_eq!(kept, ["limit", "own"]);
        assert!(!moved.has_sent_details(), "the new entry documents none");
    }

    #[test]
    fn a_default_message_gives_way_to_another_wording() {
        let builtin = Arc::new(ErrorDef::new("validation_error", 400, "t", "Invalid.").unwrap());
        let own = Arc::new(ErrorDef::new("validation_error", 400, "t", "Bad fields.").unwrap());
        let same = Arc::new(ErrorDef::new("validation_error", 422, "t2", "Invalid.").unwrap());
        let err = ApiError::new(builtin).with_default_message("limit: too large");
        assert_eq!(err.message(), "limit: too large");
        let worded = err.clone().with_def(own.clone());
        assert_eq!(worded.message(), "Bad fields.");
        assert_eq!(worded.message_override(), None);
        assert_eq!(err.clone().with_def(same).message(), "limit: too large");
        // A message of the occurrence's own stands on any entry.
        let replaced = err.with_message("limit: too large").with_def(own);
        assert_eq!(replaced.message(), "limit: too large");
    }
}
