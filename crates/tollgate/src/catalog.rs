//! The catalog: every error an API can answer with, from the built-in entries
//! and TOML files that extend or override them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, OnceLock};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::docs::SearchText;
use crate::{ApiError, Dialect, ErrorDef, Kind, Renderer, RetryClass, Template};

/// Where `type` / `doc_url` / `links.about` point unless a catalog says otherwise.
pub const DEFAULT_DOCS_URL: &str = "/errors";
/// google's `ErrorInfo.domain` unless a catalog says otherwise.
pub const DEFAULT_DOMAIN: &str = "tollgate";

static BUILTIN: LazyLock<Catalog> = LazyLock::new(|| {
    let mut catalog = Catalog::empty();
    if let Err(errors) = catalog.load_toml("builtin.toml", include_str!("builtin.toml")) {
        // The built-in catalog is checked by this crate's tests; an error here
        // is a bug in the crate, not something a user can cause.
        unreachable!("built-in catalog is invalid: {errors:?}");
    }
    catalog
});

/// An error catalog: codes, their definitions and how they are documented.
///
/// ```
/// use tollgate::Catalog;
/// let mut catalog = Catalog::builtin();
/// catalog.load_toml("app.toml", r#"
///     [errors.insufficient_frames]
///     status = 400
///     title = "Not enough frames provided"
///     message = 'Insufficient frames. Model "{model}" requires {required} frames, received {received}.'
///     details = ["model", "required", "received"]
///
///     [errors.rate_limit_exceeded]
///     message = "Rate limit exceeded. Please try again later."
///     details = []
/// "#).unwrap();
/// let err = catalog.error("insufficient_frames").unwrap()
///     .with("model", "10").with("required", 10).with("received", 5);
/// assert_eq!(err.message(), r#"Insufficient frames. Model "10" requires 10 frames, received 5."#);
/// assert!(catalog.load_toml("bad.toml", "[errors.x]\nstatus = 600\ntitle = 't'\nmessage = 'm'").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Catalog {
    defs: Vec<Arc<ErrorDef>>,
    /// Canonical code → position in `defs`.
    index: CodeMap,
    /// Every spelling [`find_wire_code`](Catalog::find_wire_code) resolves
    /// without a scan: codes, aliases, UPPER_SNAKE codes.
    wire: CodeMap,
    /// Each alias → the entries that write it, with the dialect they write
    /// it in: with `index`, whom an entry added in code collides with is
    /// found without a scan.
    aliases: AliasMap,
    /// Codes a file says are sent as another entry's (`sent_as`), to that
    /// entry's code: they have no entry of their own, and `index` and
    /// `wire` find the other entry for them.
    sent_as: BTreeMap<String, String>,
    /// Positions of the entries [sent in](ErrorDef::sent_in) another
    /// dialect somewhere, in order: the few an entry added in code is
    /// compared with by a scan.
    sent_elsewhere: Vec<usize>,
    /// Every entry's text as a search of the reference reads it, made at
    /// the first search and dropped when an entry changes.
    search: OnceLock<Arc<SearchText>>,
    docs_url: String,
    domain: String,
}

/// Codes to positions in `Catalog::defs`.
type CodeMap = HashMap<String, usize, BuildHasherDefault<CodeHasher>>;

/// Aliases to the dialects they are written in and positions in
/// `Catalog::defs`: one pair in a catalog without collisions, a few when
/// entries write one alias in different dialects.
type AliasMap = HashMap<String, Vec<(Dialect, usize)>, BuildHasherDefault<CodeHasher>>;

/// A fast hash for the catalog's own codes, looked up once per decoded
/// response (SipHash costs about as much as the rest of a small decode).
/// The tables only hold the catalog's entries, so lookups of hostile codes
/// cost at most a probe of those: there is nothing for them to flood.
#[derive(Clone, Copy, Default)]
struct CodeHasher(u64);

impl CodeHasher {
    fn add(&mut self, word: u64) {
        // FxHash's step (rustc's hasher): rotate, mix in, multiply.
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for CodeHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word));
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // A product's low bits depend only on the low bits of what was
        // multiplied, and the table picks a slot by the low bits: codes
        // that differ only past their first bytes (`entry_1`, `entry_2`,
        // …) would all fall in a few dozen slots, and a catalog of 100 000
        // of them be probed by the square. The high bits, mixed from all
        // of them, are turned down (as rustc's hasher does since 2.0).
        self.0.rotate_left(26)
    }
}

/// A problem in a catalog, located in its file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CatalogError {
    /// The file (or source name) the problem is in.
    pub file: String,
    /// 1-based line, 0 when not from a file.
    pub line: usize,
    /// 1-based column, 0 when not from a file.
    pub column: usize,
    /// The entry's code, when the problem is in an entry.
    pub code: Option<String>,
    /// What is wrong.
    pub message: String,
    /// `Some(N)` when this is no problem of its own but the line that ends
    /// the list of a file with more than a hundred: it stands for the N not
    /// told one by one (its message: `and N more problems, not shown`, at
    /// the hundredth's place). `None` for every problem told.
    pub not_shown: Option<usize>,
}

impl CatalogError {
    /// A problem in what code (not a file) gave the catalog: an entry
    /// inserted, or a setting set.
    fn in_code(code: Option<String>, message: String) -> CatalogError {
        CatalogError {
            file: "<code>".to_owned(),
            line: 0,
            column: 0,
            code,
            message,
            not_shown: None,
        }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        // The count of those not told is at no line of its own.
        if self.line > 0 && self.not_shown.is_none() {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if let Some(code) = &self.code {
            write!(f, "entry {code:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CatalogError {}

/// Every problem found in what was given a catalog at once (a file, an
/// entry inserted), in the order found: an error `?` takes into
/// `Box<dyn Error>`, shown one problem a line, and a slice of them to read.
///
/// ```
/// fn load() -> Result<tollgate::Catalog, Box<dyn std::error::Error>> {
///     Ok(tollgate::Catalog::from_toml("api.toml", "[errors.abc]\nstatus = 400\n")?)
/// }
/// let e = load().unwrap_err().to_string();
/// assert!(e.starts_with("api.toml:1:1: entry \"abc\": a new entry needs"), "{e}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogErrors(Vec<CatalogError>);

impl CatalogErrors {
    /// The problems, to keep.
    pub fn into_vec(self) -> Vec<CatalogError> {
        self.0
    }
}

impl std::ops::Deref for CatalogErrors {
    type Target = [CatalogError];

    fn deref(&self) -> &[CatalogError] {
        &self.0
    }
}

impl IntoIterator for CatalogErrors {
    type Item = CatalogError;
    type IntoIter = std::vec::IntoIter<CatalogError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a CatalogErrors {
    type Item = &'a CatalogError;
    type IntoIter = std::slice::Iter<'a, CatalogError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogErrors {}

/// The error for a code the catalog does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// The code asked for.
    pub code: String,
    /// Every code the catalog has (its message lists the first 64 and
    /// counts the rest).
    pub known: Vec<String>,
}

/// At most this many codes are listed in an [`UnknownCode`]'s message, then
/// how many more there are: a catalog of thousands would make a message of
/// megabytes.
const UNKNOWN_CODE_LISTED: usize = 64;

/// The most characters a catalog code has ([`CODE_RULE`]).
const CODE_MAX_CHARS: usize = 63;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No code is longer than 63 characters (`CODE_RULE`): a longer one
        // asked for is clipped there, however long it is.
        match self.code.char_indices().nth(CODE_MAX_CHARS) {
            Some((at, _)) => {
                let chars = self.code.chars().count();
                let shown = &self.code[..at];
                write!(
                    f,
                    "unknown error code {shown:?}… ({chars} characters; codes have 63 at most)"
                )?;
            }
            None => write!(f, "unknown error code {:?}", self.code)?,
        }
        if let Some(code) =
            crate::suggest::nearest(&self.code, self.known.iter().map(String::as_str))
        {
            write!(f, " (did you mean {code:?}?)")?;
        }
        f.write_str(", expected one of: ")?;
        for (i, code) in self.known.iter().take(UNKNOWN_CODE_LISTED).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(code)?;
        }
        match self.known.len().checked_sub(UNKNOWN_CODE_LISTED) {
            Some(more) if more > 0 => write!(f, " and {more} more"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for UnknownCode {}

/// A catalog file's own settings; its `[errors]` table is read entry by
/// entry (see [`Catalog::load_toml`]), so that one entry's mistake does not
/// hide the next one's.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a catalog: `docs_url`, `domain` and `[errors.<code>]` tables"
)]
struct FileToml {
    docs_url: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    /// Left empty: here so that a key that is none of these is told all three.
    #[serde(rename = "errors")]
    _errors: Option<serde::de::IgnoredAny>,
}

/// A file's `errors` that is not a table: read only to be refused with
/// what is expected there.
struct EntriesToml;

impl<'de> Deserialize<'de> for EntriesToml {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = EntriesToml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of entries, one `[errors.CODE]` each")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                _: M,
            ) -> Result<EntriesToml, M::Error> {
                Ok(EntriesToml)
            }
        }
        de.deserialize_map(Entries)
    }
}

/// An entry read only from a table: the derived reader of [`EntryToml`]
/// also takes an array of its fields in order (`abc = [400, "t", …]`, or
/// `[[errors.abc]]`), which no catalog means.
struct EntryTable(EntryToml);

impl<'de> Deserialize<'de> for EntryTable {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Table;
        impl<'de> serde::de::Visitor<'de> for Table {
            type Value = EntryTable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry's table of fields (`status`, `title`, `message`, …)")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<EntryTable, M::Error> {
                let entry = serde::de::value::MapAccessDeserializer::new(map);
                EntryToml::deserialize(entry).map(EntryTable)
            }
        }
        de.deserialize_map(Table)
    }
}

/// An entry's `status` as written: any integer, so that one out of range is
/// reported with the range, and anything else with what is expected.
struct StatusToml(i128);

impl<'de> Deserialize<'de> for StatusToml {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Status;
        impl serde::de::Visitor<'_> for Status {
            type Value = StatusToml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code from 400 to 599")
            }
            fn visit_i64<E>(self, v: i64) -> Result<StatusToml, E> {
                Ok(StatusToml(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StatusToml, E> {
                Ok(StatusToml(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<StatusToml, E> {
                Ok(StatusToml(v))
            }
        }
        de.deserialize_i64(Status)
    }
}

/// A `retry` or `kind` as written: only a name, so that a table (which the
/// derived reader of an enum takes as its variant: `retry = { after = {} }`,
/// `[errors.abc.kind.not_found]`) is refused, and a value of another type
/// is told the names expected rather than the reader's workings.
struct NameToml<T>(T);

/// The names a [`NameToml`] takes, as its errors list them.
trait Names {
    /// `` `a`, `b`, `c` ``.
    fn names() -> String;
}

impl Names for RetryClass {
    fn names() -> String {
        let all = [RetryClass::Never, RetryClass::After, RetryClass::Backoff];
        all.map(|r| format!("`{}`", r.as_str())).join(", ")
    }
}

impl Names for Kind {
    fn names() -> String {
        let all: Vec<_> = Kind::ALL.iter().map(|k| format!("`{k}`")).collect();
        all.join(", ")
    }
}

impl<'de, T: Deserialize<'de> + Names> Deserialize<'de> for NameToml<T> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Name<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Names> serde::de::Visitor<'de> for Name<T> {
            type Value = NameToml<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "one of {}", T::names())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NameToml<T>, E> {
                use serde::de::IntoDeserializer;
                T::deserialize(v.into_deserializer()).map(NameToml)
            }
        }
        de.deserialize_str(Name(std::marker::PhantomData))
    }
}

/// A table keyed by dialect: an entry's `aliases` (the codes sent in
/// each) or `sent_in` (the dialect written instead of each). Dialects are
/// named in any case, so two names may be one dialect (`stripe` and
/// `Stripe`): refused, as a key given twice is, rather than one of the two
/// values dropped.
struct ByDialectToml<T>(BTreeMap<Dialect, T>);

/// What [`ByDialectToml`] holds for each dialect, as its error names it.
trait ByDialectValue {
    const EXPECTING: &'static str;
}

impl ByDialectValue for String {
    const EXPECTING: &'static str = "a table of dialects and the codes sent in them";
}

impl ByDialectValue for Dialect {
    const EXPECTING: &'static str =
        "a table of the dialects an API answers in and the one this entry is written in instead";
}

impl<'de, T: ByDialectValue + Deserialize<'de>> Deserialize<'de> for ByDialectToml<T> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Table<T>(std::marker::PhantomData<T>);
        impl<'de, T: ByDialectValue + Deserialize<'de>> serde::de::Visitor<'de> for Table<T> {
            type Value = ByDialectToml<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ByDialectToml<T>, A::Error> {
                let mut by_dialect = BTreeMap::new();
                while let Some((dialect, value)) = map.next_entry::<Dialect, T>()? {
                    if by_dialect.insert(dialect, value).is_some() {
                        return Err(serde::de::Error::custom(format!(
                            "the dialect `{dialect}` is named twice (names are read in any case)"
                        )));
                    }
                }
                Ok(ByDialectToml(by_dialect))
            }
        }
        de.deserialize_map(Table(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an entry's table of fields (`status`, `title`, `message`, …)"
)]
struct EntryToml {
    status: Option<Spanned<StatusToml>>,
    title: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    hint: Option<Spanned<String>>,
    remedy: Option<Spanned<String>>,
    retry: Option<Spanned<NameToml<RetryClass>>>,
    kind: Option<Spanned<NameToml<Kind>>>,
    aliases: Option<Spanned<ByDialectToml<String>>>,
    sent_in: Option<Spanned<ByDialectToml<Dialect>>>,
    details: Option<Spanned<Vec<String>>>,
    message_only: Option<Spanned<Vec<String>>>,
    examples: Option<Spanned<toml::Table>>,
    sent_as: Option<Spanned<String>>,
}

/// The fields of an entry that defines its code ([`EntryToml`] less `sent_as`).
const ENTRY_FIELDS: [&str; 12] = [
    "status",
    "title",
    "message",
    "hint",
    "remedy",
    "retry",
    "kind",
    "aliases",
    "sent_in",
    "details",
    "message_only",
    "examples",
];

impl EntryToml {
    /// Where the file writes the value of `key` (a key [`check_def`] names):
    /// `None` for `""`, or for a key the entry does not write (a problem
    /// with what it kept of the entry it overrides).
    fn span_of(&self, key: &str) -> Option<std::ops::Range<usize>> {
        match key {
            "status" => self.status.as_ref().map(Spanned::span),
            "title" => self.title.as_ref().map(Spanned::span),
            "message" => self.message.as_ref().map(Spanned::span),
            "hint" => self.hint.as_ref().map(Spanned::span),
            "remedy" => self.remedy.as_ref().map(Spanned::span),
            "retry" => self.retry.as_ref().map(Spanned::span),
            "kind" => self.kind.as_ref().map(Spanned::span),
            "aliases" => self.aliases.as_ref().map(Spanned::span),
            "sent_in" => self.sent_in.as_ref().map(Spanned::span),
            "details" => self.details.as_ref().map(Spanned::span),
            "message_only" => self.message_only.as_ref().map(Spanned::span),
            "examples" => self.examples.as_ref().map(Spanned::span),
            "sent_as" => self.sent_as.as_ref().map(Spanned::span),
            _ => None,
        }
    }

    /// The template the file writes for `key`, when it is `message` or
    /// `hint`.
    fn text_of(&self, key: &str) -> Option<&Spanned<String>> {
        match key {
            "message" => self.message.as_ref(),
            "hint" => self.hint.as_ref(),
            _ => None,
        }
    }
}

/// The code `def` is sent as where the API answers in `dialect`: its
/// spelling in the dialect it is [sent in](ErrorDef::sent_in) there.
fn sent_wire(def: &ErrorDef, dialect: Dialect) -> Cow<'_, str> {
    def.wire_code(def.dialect_in(dialect))
}

/// Two entries that write one code in a dialect: clients could not tell
/// which is meant.
struct AliasCollision {
    /// The entry that wrote it first, in catalog order.
    first: String,
    /// The entry that writes it too.
    later: String,
    wire: String,
    dialect: Dialect,
}

impl AliasCollision {
    /// The problem, told to an entry about `other`.
    fn problem(&self, other: &str) -> String {
        let (wire, dialect) = (&self.wire, self.dialect);
        format!("code {wire:?} in the {dialect} dialect is also {other:?}'s")
    }
}

/// At most this many problems of one file are told (and located), then how
/// many more there are: locating one reads the file up to it, so a hostile
/// file with millions would cost time by the square.
const MAX_PROBLEMS: usize = 100;

/// Up to how many codes a catalog is searched for the one a new entry's
/// code likely misspells.
const SUGGESTED_AMONG: usize = 1000;

/// A file's problems, located as they are found, up to [`MAX_PROBLEMS`].
struct Problems<'a> {
    lines: Lines<'a>,
    file: &'a str,
    kept: Vec<CatalogError>,
    /// Problems found past the limit.
    more: usize,
}

impl Problems<'_> {
    /// Keeps `message`, located at `span`, while under the limit.
    fn push(&mut self, span: std::ops::Range<usize>, code: Option<&str>, message: String) {
        self.push_at(|| span.start, code, message);
    }

    /// [`push`](Problems::push) for a problem whose place takes reading a
    /// value to find: read only for a problem that is kept.
    fn push_at(&mut self, at: impl FnOnce() -> usize, code: Option<&str>, message: String) {
        if self.kept.len() == MAX_PROBLEMS {
            self.more += 1;
            return;
        }
        let (line, column) = self.lines.locate(at());
        self.kept.push(CatalogError {
            file: self.file.to_owned(),
            line,
            column,
            code: code.map(str::to_owned),
            message,
            not_shown: None,
        });
    }

    /// Keeps the parser's or a reader's error `e`: in `entry` (its code and
    /// where it is) when it was read on its own, else in the entry whose
    /// table the error is in (for an error told without a span, the one its
    /// line is in).
    fn push_toml(
        &mut self,
        source: &str,
        e: &toml::de::Error,
        entry: Option<(&str, std::ops::Range<usize>)>,
    ) {
        let (span, entry) = match (e.span(), entry) {
            (Some(span), Some((code, _))) => (span, Some(code.to_owned())),
            (None, Some((code, span))) => (span, Some(code.to_owned())),
            (Some(span), None) => {
                let entry = entry_at(source, span.start);
                (span, entry)
            }
            (None, None) => {
                let line = spanless_error_at(source, e.message());
                // Up to its last byte: what starts on it is in it.
                let last = line.end.checked_sub(1);
                let entry = last.and_then(|at| entry_at(source, at));
                (line.start..line.start, entry)
            }
        };
        // The parser names neither the key given twice nor the entry; both
        // are in the text.
        let mut message = e.message().to_owned();
        let key = source.get(span.clone()).map(str::trim);
        if let Some(key) = key.filter(|k| message == "duplicate key" && k.len() <= 64) {
            message = format!("duplicate key `{key}`");
        }
        message = crate::suggest::suggested(&message).into_owned();
        self.push(span, entry.as_deref(), message);
    }

    /// The problems, and a last one saying how many more were found.
    fn finish(mut self) -> Vec<CatalogError> {
        // In the order of the file, as they are read in an editor.
        self.kept.sort_by_key(|e| (e.line, e.column));
        if let (true, Some(last)) = (self.more > 0, self.kept.last()) {
            let more = CatalogError {
                file: self.file.to_owned(),
                line: last.line,
                column: last.column,
                code: None,
                message: format!("and {} more problems, not shown", self.more),
                not_shown: Some(self.more),
            };
            self.kept.push(more);
        }
        self.kept
    }
}

/// Maps byte offsets to 1-based line and column.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    /// The column counts characters, as editors do: a tab is one, and
    /// neither a byte order mark starting the file nor the `\r` of a `\r\n`
    /// line break is any (editors show neither), so that a file reads the
    /// same with either line break.
    fn locate(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.0.len());
        while !self.0.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.0[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        let mut text = &before[line_start..];
        if line_start == 0 {
            text = text.strip_prefix(BOM).unwrap_or(text);
        }
        // At the line's end, written `\r\n`: the `\r` is the break's.
        if self.0[end..].starts_with('\n') {
            text = text.strip_suffix('\r').unwrap_or(text);
        }
        (line, text.chars().count() + 1)
    }
}

/// The byte order mark an editor may start a UTF-8 file with.
const BOM: char = '\u{feff}';

impl Catalog {
    /// A catalog with no entries.
    pub fn empty() -> Catalog {
        Catalog {
            defs: Vec::new(),
            index: CodeMap::default(),
            wire: CodeMap::default(),
            aliases: AliasMap::default(),
            sent_as: BTreeMap::new(),
            sent_elsewhere: Vec::new(),
            search: OnceLock::new(),
            docs_url: DEFAULT_DOCS_URL.to_owned(),
            domain: DEFAULT_DOMAIN.to_owned(),
        }
    }

    /// The built-in catalog (a copy to extend).
    pub fn builtin() -> Catalog {
        BUILTIN.clone()
    }

    /// The built-in catalog, shared.
    pub fn builtin_ref() -> &'static Catalog {
        &BUILTIN
    }

    /// The built-in catalog extended by a TOML file's text.
    pub fn from_toml(file: &str, source: &str) -> Result<Catalog, CatalogErrors> {
        let mut catalog = Catalog::builtin();
        catalog.load_toml(file, source)?;
        Ok(catalog)
    }

    /// Extends or overrides entries from a TOML catalog's text. `file` names
    /// the source in errors. On any error nothing is changed, and every
    /// problem found is returned, located by line and entry (past the
    /// first hundred, counted in a last one: see
    /// [`CatalogError::not_shown`]).
    ///
    /// An entry with a new code needs `status`, `title` and `message`; an entry
    /// with an existing code replaces the fields it sets (`aliases` alias by
    /// alias: those of dialects it does not name are kept). An entry of
    /// `sent_as = "other"` alone has no entry of its own: [`get`] and
    /// [`error`] give `other`'s for its code, [`iter`] skips it, decoding
    /// reads it as `other` (seeds 003 and 004 answer an expired or revoked
    /// key as `invalid_key`), until a later file defines the code whole (an
    /// entry [`insert`](Catalog::insert)ed in code for it leaves it so).
    /// Loaded, it tells how many entries the file defines or overrides.
    ///
    /// ```
    /// use tollgate::Catalog;
    /// let catalog = Catalog::from_toml("api.toml", "[errors.expired_key]\nsent_as = 'invalid_key'\n").unwrap();
    /// assert_eq!(catalog.error("expired_key").unwrap().code(), "invalid_key");
    /// assert!(catalog.iter().all(|def| def.code() != "expired_key"));
    /// ```
    ///
    /// [`get`]: Catalog::get
    /// [`error`]: Catalog::error
    /// [`iter`]: Catalog::iter
    pub fn load_toml(&mut self, file: &str, source: &str) -> Result<usize, CatalogErrors> {
        let mut errors = Problems {
            lines: Lines(source),
            file,
            kept: Vec::new(),
            more: 0,
        };
        let document = match DeTable::parse(source) {
            Ok(document) => document,
            Err(e) => {
                errors.push_toml(source, &e, None);
                return Err(CatalogErrors(errors.finish()));
            }
        };
        let (span, mut document) = (document.span(), document.into_inner());
        // Each entry is read on its own: a mistake in one (a wrong type, an
        // unknown field) is told, and the others are still read and checked.
        let mut entries = Vec::new();
        if let Some(table) = document.get_mut("errors") {
            // Taken out, an empty table left for the settings' reader.
            let table_span = table.span();
            let empty = Spanned::new(table_span.clone(), DeValue::Table(DeTable::new()));
            match std::mem::replace(table, empty).into_inner() {
                DeValue::Table(table) => {
                    for (code, entry) in table {
                        let code = code.into_inner().into_owned();
                        let at = entry.span();
                        // Kept to be read field by field should the fields
                        // fail together: the reader stops at the first.
                        let fields = match entry.get_ref() {
                            DeValue::Table(fields) => Some(fields.clone()),
                            _ => None,
                        };
                        match Spanned::<EntryTable>::deserialize(ValueDeserializer::from(entry)) {
                            Ok(entry) => entries.push((code, entry, Vec::new())),
                            Err(e) => {
                                let Some(fields) = fields else {
                                    errors.push_toml(source, &e, Some((&code, at)));
                                    continue;
                                };
                                // Each mistake told, and the fields that read
                                // checked as an entry of their own.
                                let (each, read) =
                                    read_field_by_field::<Spanned<EntryTable>>(fields, &at);
                                if each.is_empty() {
                                    // Only together do they fail: told as one.
                                    errors.push_toml(source, &e, Some((&code, at)));
                                    continue;
                                }
                                let mut unread = Vec::new();
                                for (key, e) in each {
                                    errors.push_toml(source, &e, Some((&code, at.clone())));
                                    unread.push(key);
                                }
                                if let Some(read) = read {
                                    entries.push((code, read, unread));
                                }
                            }
                        }
                    }
                }
                other => {
                    let other = ValueDeserializer::from(Spanned::new(table_span, other));
                    if let Err(e) = EntriesToml::deserialize(other) {
                        errors.push_toml(source, &e, None);
                    }
                }
            }
        }
        // Read as the entries are: should a setting fail, each is read on
        // its own, so that every mistake is told and the good ones kept.
        let rest = Spanned::new(span.clone(), DeValue::Table(document.clone()));
        let settings = FileToml::deserialize(ValueDeserializer::from(rest)).unwrap_or_else(|e| {
            let (each, read) = read_field_by_field::<FileToml>(document, &span);
            if each.is_empty() {
                errors.push_toml(source, &e, None);
            }
            for (_, e) in each {
                errors.push_toml(source, &e, None);
            }
            read.unwrap_or_default()
        });
        let mut next = self.clone();
        if let Some(url) = settings.docs_url {
            if let Some(problem) = docs_url_problem(url.get_ref()) {
                errors.push(url.span(), None, problem.to_owned());
            }
            next.docs_url = url.into_inner();
        }
        if let Some(domain) = settings.domain {
            if let Some(problem) = domain_problem(domain.get_ref()) {
                errors.push(domain.span(), None, problem);
            }
            next.domain = domain.into_inner();
        }
        // Where each entry writes its aliases (else the entry itself), for
        // collisions found once every entry is in.
        let mut alias_spans = HashMap::new();
        // The file's `sent_as` entries: the code they are sent as, and where.
        let mut sent_as_here: BTreeMap<String, (String, std::ops::Range<usize>)> = BTreeMap::new();
        let count = entries.len();
        for (code, entry, unread) in entries {
            let span = entry.span();
            let EntryTable(entry) = entry.into_inner();
            if let Some(target) = entry.sent_as.clone() {
                // Sent as another entry, it has nothing of its own to say.
                let others: Vec<&str> = ENTRY_FIELDS
                    .iter()
                    .copied()
                    .filter(|&key| entry.span_of(key).is_some() || unread.iter().any(|k| k == key))
                    .collect();
                if !others.is_empty() {
                    let problem = format!(
                        "an entry sent as another sets nothing else: drop {}, or `sent_as`",
                        others.join(", ")
                    );
                    errors.push(span.clone(), Some(&code), problem);
                }
                if !is_code(&code) {
                    errors.push(
                        span.clone(),
                        Some(&code),
                        format!("code must be {CODE_RULE}"),
                    );
                }
                let at = target.span();
                sent_as_here.insert(code, (target.into_inner(), at));
                continue;
            }
            // Defined again, a code sent as another's has an entry again.
            let was_sent_as = next.sent_as.remove(&code);
            if was_sent_as.is_some() {
                next.index.remove(&code);
            }
            let at = |key| entry.span_of(key).unwrap_or(span.clone());
            alias_spans.insert(code.clone(), (entry.span_of("aliases"), span.clone()));
            let existing = next.get(&code).map(|d| (**d).clone());
            let built = build_def(source, &code, &entry, existing, &unread);
            let unread_key = |key: &str| unread.iter().any(|k| k == key);
            // A placeholder is checked against the keys `details` and
            // `message_only` list: not when either did not read.
            let placeholders_unchecked = unread_key("details") || unread_key("message_only");
            // An entry that is no definition is told why, and its other
            // mistakes with them, not once those are put right.
            let (checked, failed) = match &built {
                Ok(def) => (Some(def), [].as_slice()),
                Err(unbuilt) => {
                    for (at, problem) in &unbuilt.problems {
                        let at = at.clone().unwrap_or(span.clone());
                        let problem = match &was_sent_as {
                            // It has no entry to override: say why.
                            Some(target) if problem.starts_with("a new entry needs") => format!(
                                "{problem}: an earlier file sends it as {target:?}, so it has \
                                 no entry to override (define it whole, or leave it sent so)"
                            ),
                            // Likely an override of an existing code, misspelled.
                            None if problem.starts_with("a new entry needs")
                                && errors.kept.len() < MAX_PROBLEMS =>
                            {
                                match next.nearest_code(&code) {
                                    Some(near) => format!("{problem} (did you mean `{near}`?)"),
                                    None => problem.clone(),
                                }
                            }
                            _ => problem.clone(),
                        };
                        errors.push(at, Some(&code), problem);
                    }
                    (unbuilt.partial.as_deref(), unbuilt.failed.as_slice())
                }
            };
            for (key, offset, problem) in checked.map(check_def).unwrap_or_default() {
                // Only a placeholder's problem has an offset in its template.
                let placeholder = offset.is_some();
                if failed.contains(&key)
                    || unread_key(key)
                    || (placeholder && placeholders_unchecked)
                {
                    continue;
                }
                // At its place in the text when the file writes it.
                let exact = || offset_in_file(source, entry.text_of(key)?, offset?);
                errors.push_at(|| exact().unwrap_or(at(key).start), Some(&code), problem);
            }
            if let Ok(def) = built {
                next.put(def);
            }
        }
        for (code, (target, _)) in &sent_as_here {
            next.sent_as.insert(code.clone(), target.clone());
        }
        next.apply_sent_as();
        // A problem with a code sent as another's is this file's when it
        // says so, or when it makes the other code sent as a third.
        for (code, target) in &next.sent_as {
            // Past the problems told, one is only counted: a hostile file's
            // thousands of unknown names are not each compared with every
            // code for a suggestion.
            let told_all = errors.kept.len() == MAX_PROBLEMS;
            let mine = sent_as_here.contains_key(code) || sent_as_here.contains_key(target);
            if told_all && mine && !next.sends_as_an_entry(code, target) {
                errors.more += 1;
                continue;
            }
            let Some(problem) = next.sent_as_problem(code, target) else {
                continue;
            };
            if let Some((_, at)) = sent_as_here.get(code) {
                errors.push(at.clone(), Some(code), problem);
            } else if let Some((_, at)) = sent_as_here.get(target) {
                errors.push(at.clone(), Some(target), problem);
            }
        }
        // A collision is this file's when either entry of the pair is in it:
        // told at the alias the file writes (the later entry's, if both
        // do), else at the file's entry whose code an alias took.
        for clash in next.alias_collisions() {
            let pair = [(&clash.later, &clash.first), (&clash.first, &clash.later)];
            let alias_of = |code: &String| alias_spans.get(code)?.0.clone();
            let entry_of = |code: &String| Some(alias_spans.get(code)?.1.clone());
            let mine = pair
                .iter()
                .find_map(|&(code, other)| Some((code, other, alias_of(code)?)))
                .or_else(|| {
                    pair.iter()
                        .find_map(|&(code, other)| Some((code, other, entry_of(code)?)))
                });
            if let Some((code, other, at)) = mine {
                errors.push(at, Some(code), clash.problem(other));
            }
        }
        if !errors.kept.is_empty() {
            return Err(CatalogErrors(errors.finish()));
        }
        next.index_wire_codes();
        *self = next;
        Ok(count)
    }

    /// What a catalog file that loads would still make its reference say
    /// other than the layers send, located as [`load_toml`]'s problems are
    /// (`tollgate lint` reports both): a retry class of `never` (written, or
    /// from a `status` written) on a built-in code the layers send with a
    /// `Retry-After`, which the reference would tell clients not to retry
    /// while the response asks them to wait; a sample in `examples` of
    /// another JSON type than the layers send for that key; an empty
    /// `docs_url`, which makes each code's link `#code` on whatever page
    /// was asked for.
    ///
    /// `self` is the catalog the file was loaded onto, the file included: a
    /// `sent_as` is checked against the entry it names there, which this
    /// file or an earlier one may define or make wait. A file that does not
    /// parse, or an entry that does not read, gives nothing here:
    /// [`load_toml`] tells why.
    ///
    /// ```
    /// use tollgate::Catalog;
    /// let file = "[errors.rate_limit_exceeded]\nretry = 'never'\n";
    /// let mut catalog = Catalog::builtin();
    /// assert!(catalog.load_toml("api.toml", file).is_ok());
    /// let told = catalog.lint_toml("api.toml", file);
    /// assert!(told[0].to_string().starts_with(
    ///     "api.toml:2:9: entry \"rate_limit_exceeded\": retry = \"never\", but the layers send it"
    /// ));
    /// ```
    ///
    /// [`load_toml`]: Catalog::load_toml
    pub fn lint_toml(&self, file: &str, source: &str) -> Vec<CatalogError> {
        let mut problems = Problems {
            lines: Lines(source),
            file,
            kept: Vec::new(),
            more: 0,
        };
        let Ok(document) = DeTable::parse(source) else {
            return Vec::new();
        };
        let document = document.into_inner();
        // Loads (a catalog that has one keeps working), but links nowhere:
        // `#code` alone resolves against whatever URL the client asked.
        if let Some(url) = document.get("docs_url")
            && matches!(url.get_ref(), DeValue::String(text) if text.trim().is_empty())
        {
            let message = "docs_url is empty: each code's link is `#code` on whatever page was \
                           asked for; name your error reference (`/errors` or \
                           `https://docs.example.com/errors`)";
            problems.push(url.span(), None, message.to_owned());
        }
        let Some(DeValue::Table(entries)) = document.get("errors").map(Spanned::get_ref) else {
            return problems.finish();
        };
        for (code, entry) in entries {
            let code = code.get_ref();
            let Some(builtin) = BUILTIN.get(code) else {
                continue;
            };
            let read = Spanned::<EntryTable>::deserialize(ValueDeserializer::from(entry.clone()));
            let Ok(entry) = read else {
                continue;
            };
            let EntryTable(entry) = entry.into_inner();
            lint_override(code, &entry, builtin, self, &mut problems);
        }
        problems.finish()
    }

    /// Adds or replaces an entry defined in code (such as a
    /// `#[derive(ApiError)]` enum's), checked like a TOML entry. An entry
    /// whose code a file sends as another's (`sent_as`) is checked, and the
    /// file's word stands.
    ///
    /// Its collisions are looked up in the catalog's indexes rather than
    /// found by comparing it with every entry, and only the indexes it
    /// changes are updated: adding a large enum's entries one by one costs
    /// in proportion to their number.
    pub fn insert(&mut self, def: ErrorDef) -> Result<(), CatalogErrors> {
        let code = def.code.clone();
        let error = |message| CatalogError::in_code(Some(code.clone()), message);
        let mut errors: Vec<_> = check_def(&def)
            .into_iter()
            .map(|(_, _, problem)| error(problem))
            .collect();
        if errors.is_empty() && self.sent_as.contains_key(&code) {
            // The file that said so has the last word.
            return Ok(());
        }
        for clash in self.collisions_of(&def) {
            if clash.later == code {
                errors.push(error(clash.problem(&clash.first)));
            } else if clash.first == code {
                errors.push(error(clash.problem(&clash.later)));
            }
        }
        if !errors.is_empty() {
            return Err(CatalogErrors(errors));
        }
        let old = self.index.get(def.code()).map(|&at| self.defs[at].clone());
        self.put(def);
        let at = self.index[code.as_str()];
        let new = self.defs[at].clone();
        if let Some(old) = &old {
            self.unindex_aliases(old, at);
        }
        self.index_aliases(&new, at);
        // The spellings whose entry may have changed: the entry's code,
        // UPPER_SNAKE code, and every alias it wrote or writes.
        let upper = new.code.to_ascii_uppercase();
        let spellings = old.iter().chain([&new]).flat_map(|d| d.aliases.values());
        let spellings: HashSet<&str> = spellings
            .map(String::as_str)
            .chain([new.code(), upper.as_str()])
            .collect();
        for wire in spellings {
            match self.resolve_wire_code(wire) {
                Some(at) => {
                    self.wire.insert(wire.to_owned(), at);
                }
                None => {
                    self.wire.remove(wire);
                }
            }
        }
        Ok(())
    }

    /// The collisions of `def`, put in the catalog in place of the entry
    /// with its code (or after the last), that [`alias_collisions`] would
    /// find, in its order, in a catalog otherwise without collisions (as
    /// every catalog that loaded or inserted without errors is).
    ///
    /// [`alias_collisions`]: Catalog::alias_collisions
    fn collisions_of(&self, def: &ErrorDef) -> Vec<AliasCollision> {
        let at = self.index.get(def.code()).copied();
        let here = at.unwrap_or(self.defs.len());
        let mut out = Vec::new();
        for dialect in Dialect::ALL {
            let wire = def.wire_code(dialect);
            // Who else writes `wire` in `dialect`: an entry whose alias it
            // is there, whose code it is, or (google's) whose UPPER_SNAKE
            // code it is.
            let aliased = self.aliases.get(wire.as_ref()).into_iter().flatten();
            let aliased = aliased.filter(|(d, _)| *d == dialect).map(|&(_, i)| i);
            let by_code = self.index.get(wire.as_ref()).copied();
            let by_upper = (dialect == Dialect::Google)
                .then(|| self.index.get(wire.to_ascii_lowercase().as_str()).copied())
                .flatten();
            let mut others: Vec<usize> = aliased
                .chain(by_code)
                .chain(by_upper)
                .filter(|&i| Some(i) != at && self.defs[i].wire_code(dialect) == wire)
                .collect();
            others.sort_unstable();
            others.dedup();
            // In catalog order, each entry that writes the code after the
            // first collides with that first one.
            let collision = |first: &str, later: &str| AliasCollision {
                first: first.to_owned(),
                later: later.to_owned(),
                wire: wire.clone().into_owned(),
                dialect,
            };
            match others.first() {
                Some(&first) if first < here => {
                    out.push(collision(self.defs[first].code(), def.code()));
                }
                _ => {
                    for &other in &others {
                        out.push(collision(def.code(), self.defs[other].code()));
                    }
                }
            }
            // What an entry sent in another dialect sends where the API
            // answers in this one, against what the others send or spell
            // there: few entries are, so those are scanned (all of them for
            // an entry that is).
            let (mut few, mut all) = (self.sent_elsewhere.iter().copied(), 0..self.defs.len());
            let scanned: &mut dyn Iterator<Item = usize> = if def.sent_in.is_empty() {
                &mut few
            } else {
                &mut all
            };
            for i in scanned.filter(|&i| Some(i) != at) {
                let other = &self.defs[i];
                let (mine, mine_sent) = (def.wire_code(dialect), sent_wire(def, dialect));
                let (theirs, theirs_sent) = (other.wire_code(dialect), sent_wire(other, dialect));
                // Both spellings proper to the dialect were compared above.
                let clash =
                    if mine_sent != mine && (mine_sent == theirs || mine_sent == theirs_sent) {
                        Some(mine_sent)
                    } else if theirs_sent != theirs && theirs_sent == mine {
                        Some(theirs_sent)
                    } else {
                        None
                    };
                if let Some(wire) = clash {
                    let (first, later) = if i < here {
                        (other.code(), def.code())
                    } else {
                        (def.code(), other.code())
                    };
                    out.push(AliasCollision {
                        first: first.to_owned(),
                        later: later.to_owned(),
                        wire: wire.into_owned(),
                        dialect,
                    });
                }
            }
        }
        out
    }

    /// The entry [`find_wire_code`](Catalog::find_wire_code) finds `wire`
    /// at without a scan, from the indexes: the entry whose code it is,
    /// else the first that writes it as an alias, else the one whose code
    /// it is in UPPER_SNAKE; as [`index_wire_codes`] puts it.
    ///
    /// [`index_wire_codes`]: Catalog::index_wire_codes
    fn resolve_wire_code(&self, wire: &str) -> Option<usize> {
        if let Some(&at) = self.index.get(wire) {
            return Some(at);
        }
        let aliased = self.aliases.get(wire).into_iter().flatten();
        if let Some(at) = aliased.map(|&(_, at)| at).min() {
            return Some(at);
        }
        // A catalog's codes are snake_case: the one that reads `wire` in
        // UPPER_SNAKE is `wire` in lower case.
        let lower = wire.to_ascii_lowercase();
        let at = *self.index.get(lower.as_str())?;
        let upper = self.defs[at].code.bytes().map(|b| b.to_ascii_uppercase());
        upper.eq(wire.bytes()).then_some(at)
    }

    /// Adds `def`'s aliases, at position `at`, to `aliases`.
    fn index_aliases(&mut self, def: &ErrorDef, at: usize) {
        for (&dialect, alias) in &def.aliases {
            let writers = self.aliases.entry(alias.clone()).or_default();
            writers.push((dialect, at));
        }
    }

    /// Takes `def`'s aliases, at position `at`, out of `aliases`.
    fn unindex_aliases(&mut self, def: &ErrorDef, at: usize) {
        for alias in def.aliases.values() {
            if let Some(writers) = self.aliases.get_mut(alias.as_str()) {
                writers.retain(|&(_, i)| i != at);
                if writers.is_empty() {
                    self.aliases.remove(alias.as_str());
                }
            }
        }
    }

    /// Rebuilds `wire` after entries changed, in the order of precedence of
    /// [`find_wire_code`](Catalog::find_wire_code): a canonical code first,
    /// then the first entry with that alias, then a code in UPPER_SNAKE.
    /// Rebuilds `aliases` too.
    fn index_wire_codes(&mut self) {
        let mut wire = CodeMap::default();
        let mut aliases = AliasMap::default();
        for (i, def) in self.defs.iter().enumerate() {
            for (&dialect, alias) in &def.aliases {
                wire.entry(alias.clone()).or_insert(i);
                aliases.entry(alias.clone()).or_default().push((dialect, i));
            }
        }
        for (i, def) in self.defs.iter().enumerate() {
            wire.insert(def.code.clone(), i);
        }
        for (i, def) in self.defs.iter().enumerate() {
            wire.entry(def.code.to_ascii_uppercase()).or_insert(i);
        }
        // A code sent as another's reads as that entry, in UPPER_SNAKE too.
        for code in self.sent_as.keys() {
            if let Some(&at) = self.index.get(code) {
                wire.entry(code.clone()).or_insert(at);
                wire.entry(code.to_ascii_uppercase()).or_insert(at);
            }
        }
        self.wire = wire;
        self.aliases = aliases;
    }

    /// The entries with every one of `words` (a search of the reference,
    /// [`query_words`](crate::docs::query_words)) in their status or text,
    /// in order.
    pub(crate) fn search(&self, words: &[String]) -> Vec<&Arc<ErrorDef>> {
        let text = self
            .search
            .get_or_init(|| Arc::new(SearchText::new(self.defs.iter().map(|d| &**d))));
        text.matching(words).map(|at| &self.defs[at]).collect()
    }

    /// Drops the entries of the codes sent as another's, and points those
    /// codes at the other's entry in `index` (not at a code itself sent as
    /// another: [`sent_as_problem`](Catalog::sent_as_problem) tells it).
    fn apply_sent_as(&mut self) {
        let sent_as = &self.sent_as;
        self.defs.retain(|def| !sent_as.contains_key(def.code()));
        let own: CodeMap = self
            .defs
            .iter()
            .enumerate()
            .map(|(at, def)| (def.code.clone(), at))
            .collect();
        let mut index = own.clone();
        for (code, target) in sent_as {
            if let Some(&at) = own.get(target.as_str()) {
                index.insert(code.clone(), at);
            }
        }
        self.index = index;
        self.sent_elsewhere = (self.defs.iter().enumerate())
            .filter(|(_, def)| !def.sent_in.is_empty())
            .map(|(at, _)| at)
            .collect();
        self.search = OnceLock::new();
    }

    /// Whether `code` can be sent as `target`: another entry of the
    /// catalog, not itself sent as a third.
    fn sends_as_an_entry(&self, code: &str, target: &str) -> bool {
        code != target && !self.sent_as.contains_key(target) && self.index.contains_key(target)
    }

    /// Why `code` cannot be sent as `target`, if it cannot.
    fn sent_as_problem(&self, code: &str, target: &str) -> Option<String> {
        if self.sends_as_an_entry(code, target) {
            None
        } else if code == target {
            Some(format!("{code:?} is sent as itself: drop `sent_as`"))
        } else if let Some(third) = self.sent_as.get(target) {
            Some(format!(
                "{code:?} is sent as {target:?}, which is sent as {third:?} itself: name {third:?}"
            ))
        } else {
            let known = self.defs.iter().map(|def| def.code());
            Some(match crate::suggest::nearest(target, known) {
                Some(near) => {
                    format!(
                        "sent as {target:?}, which is no entry of the catalog (did you mean {near:?}?)"
                    )
                }
                None => format!("sent as {target:?}, which is no entry of the catalog"),
            })
        }
    }

    fn put(&mut self, def: ErrorDef) {
        self.search = OnceLock::new();
        let def = Arc::new(def);
        let at = match self.index.get(def.code()) {
            Some(&i) => {
                self.defs[i] = def;
                i
            }
            None => {
                self.index.insert(def.code().to_owned(), self.defs.len());
                self.defs.push(def);
                self.defs.len() - 1
            }
        };
        let listed = self.sent_elsewhere.binary_search(&at);
        match (listed, self.defs[at].sent_in.is_empty()) {
            (Ok(i), true) => {
                self.sent_elsewhere.remove(i);
            }
            (Err(i), false) => self.sent_elsewhere.insert(i, at),
            _ => {}
        }
    }

    /// Pairs of entries that spell their codes the same way in one dialect.
    fn alias_collisions(&self) -> Vec<AliasCollision> {
        let mut out = Vec::new();
        for dialect in Dialect::ALL {
            // Borrowed from the entries: a catalog's every code is looked at
            // in every dialect, and only a collision is copied.
            let mut seen: HashMap<Cow<'_, str>, &str, BuildHasherDefault<CodeHasher>> =
                HashMap::with_capacity_and_hasher(self.defs.len(), BuildHasherDefault::default());
            for def in &self.defs {
                // Its code there, and, for an entry sent in another dialect,
                // the code an API answering in this one sends.
                let wire = def.wire_code(dialect);
                let sent = sent_wire(def, dialect);
                let sent = (sent != wire).then_some(sent);
                for wire in std::iter::once(wire).chain(sent) {
                    match seen.get(&wire) {
                        Some(&first) if first == def.code() => {}
                        Some(first) => out.push(AliasCollision {
                            first: (*first).to_owned(),
                            later: def.code.clone(),
                            wire: wire.into_owned(),
                            dialect,
                        }),
                        None => {
                            seen.insert(wire, def.code());
                        }
                    }
                }
            }
        }
        out
    }

    /// The entry for a canonical code (for a code `sent_as` another's, that
    /// entry).
    pub fn get(&self, code: &str) -> Option<&Arc<ErrorDef>> {
        self.index.get(code).map(|&i| &self.defs[i])
    }

    /// An occurrence of `code`, to fill with details.
    pub fn error(&self, code: &str) -> Result<ApiError, UnknownCode> {
        match self.get(code) {
            Some(def) => Ok(ApiError::new(def.clone())),
            None => Err(UnknownCode {
                code: code.to_owned(),
                known: self.defs.iter().map(|d| d.code.clone()).collect(),
            }),
        }
    }

    /// The entry whose code is spelled `wire` in some dialect: the canonical
    /// code, an alias, or the canonical code in another case.
    pub fn find_wire_code(&self, wire: &str) -> Option<&Arc<ErrorDef>> {
        match self.wire.get(wire) {
            Some(&i) => self.defs.get(i),
            // Codes in other mixes of case.
            None => self.defs.iter().find(|d| d.code.eq_ignore_ascii_case(wire)),
        }
    }

    /// [`find_wire_code`](Catalog::find_wire_code) for a code that came in
    /// `dialect`: when two entries write one code in different dialects, the
    /// one that writes it in `dialect` is meant.
    pub(crate) fn find_wire_code_in(
        &self,
        wire: &str,
        dialect: Option<Dialect>,
    ) -> Option<&Arc<ErrorDef>> {
        let found = self.find_wire_code(wire)?;
        match dialect {
            Some(dialect) if found.wire_code(dialect) != wire => self
                .defs
                .iter()
                .find(|def| def.wire_code(dialect) == wire)
                .or(Some(found)),
            _ => Some(found),
        }
    }

    /// The code nearest to `code`, when near enough to be a slip of the
    /// keys, in a catalog of at most [`SUGGESTED_AMONG`] codes (in a larger
    /// one, the search would cost more than the hint is worth).
    fn nearest_code(&self, code: &str) -> Option<&str> {
        let codes = self.defs.iter().map(|def| def.code());
        (self.defs.len() <= SUGGESTED_AMONG)
            .then(|| crate::suggest::nearest(code, codes))
            .flatten()
    }

    /// Every entry, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ErrorDef>> {
        self.defs.iter()
    }

    /// Writes this catalog's errors in `dialect`.
    pub fn renderer(&self, dialect: Dialect) -> Renderer<'_> {
        Renderer {
            dialect,
            docs_url: &self.docs_url,
            domain: &self.domain,
        }
    }

    /// Where the error reference lives; each code is an anchor on it.
    pub fn docs_url(&self) -> &str {
        &self.docs_url
    }

    /// Sets where the error reference lives: an `http://` or `https://` URL
    /// or a relative reference (`/errors`), without a `#` fragment (each
    /// code is added as `#code`), checked as a catalog file's
    /// `docs_url` is; a URL that fails the check leaves the catalog as it
    /// was.
    pub fn set_docs_url(&mut self, url: impl Into<String>) -> Result<(), CatalogError> {
        let url = url.into();
        if let Some(problem) = docs_url_problem(&url) {
            return Err(CatalogError::in_code(None, problem.to_owned()));
        }
        self.docs_url = url;
        Ok(())
    }

    /// google's `ErrorInfo.domain`: the API's service name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Sets google's `ErrorInfo.domain`: the API's service name, on one line
    /// (`api.example.com`), checked as a catalog file's `domain` is; a name
    /// that fails the check leaves the catalog as it was.
    pub fn set_domain(&mut self, domain: impl Into<String>) -> Result<(), CatalogError> {
        let domain = domain.into();
        if let Some(problem) = domain_problem(&domain) {
            return Err(CatalogError::in_code(None, problem));
        }
        self.domain = domain;
        Ok(())
    }
}

/// [`Catalog::lint_toml`]'s problems with `entry`, which overrides the
/// built-in entry `builtin` of `code` in `loaded`.
fn lint_override(
    code: &str,
    entry: &EntryToml,
    builtin: &ErrorDef,
    loaded: &Catalog,
    problems: &mut Problems<'_>,
) {
    // A sample of another JSON type than the layers send (`limit = "100"`
    // where they send a number) would show clients a body they never get.
    if let Some(examples) = &entry.examples {
        for (key, value) in examples.get_ref() {
            let (Some(sample), Some(sent)) = (example_json(value), builtin.example_value(key))
            else {
                continue;
            };
            if json_type(&sample) != json_type(sent) {
                let problem = format!(
                    "examples key {key:?} is {}, but the layers send {} (`{key} = {sent}`)",
                    json_type(&sample),
                    json_type(sent)
                );
                problems.push(examples.span(), Some(code), problem);
            }
        }
    }
    // The built-in entries that wait are the ones the layers send with a
    // `Retry-After`: the rate limit, the usage limit, a store that does not
    // answer, an idempotency key in use, and serve's model.
    if builtin.retry != RetryClass::After {
        return;
    }
    let wait = "the layers send it with a Retry-After, and its reference would say not to retry";
    if let Some(target) = &entry.sent_as {
        let retry = loaded.get(target.get_ref()).map(|def| def.retry);
        if retry == Some(RetryClass::Never) {
            let problem = format!(
                "sent as {:?}, whose retry class is \"never\", but {wait} (send it as an entry that waits, or drop `sent_as`)",
                target.get_ref()
            );
            problems.push(target.span(), Some(code), problem);
        }
    } else if let Some(retry) = &entry.retry {
        if retry.get_ref().0 == RetryClass::Never {
            let problem = format!("retry = \"never\", but {wait} (write `retry = \"after\"`)");
            problems.push(retry.span(), Some(code), problem);
        }
    } else if let Some(status) = &entry.status {
        let Some(status_u16) = u16::try_from(status.get_ref().0)
            .ok()
            .filter(|s| (400..=599).contains(s))
        else {
            return;
        };
        // As the loader derives it: a class that followed the status
        // follows the new one.
        let derived = builtin.retry == RetryClass::from_status(builtin.status)
            && RetryClass::from_status(status_u16) == RetryClass::Never;
        if derived {
            let problem = format!(
                "status {status_u16} makes its retry class \"never\", but {wait} \
                 (add `retry = \"after\"`)"
            );
            problems.push(status.span(), Some(code), problem);
        }
    }
}

/// An example's TOML value as JSON, its dates and times as the text TOML
/// writes them (`2025-01-01T00:00:00Z`); `None` when it holds a float JSON
/// has no number for (`nan`, `inf`).
fn example_json(value: &toml::Value) -> Option<serde_json::Value> {
    use serde_json::Value as Json;
    Some(match value {
        toml::Value::String(text) => Json::String(text.clone()),
        toml::Value::Integer(n) => Json::from(*n),
        toml::Value::Float(x) => Json::Number(serde_json::Number::from_f64(*x)?),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(at) => Json::String(at.to_string()),
        toml::Value::Array(items) => {
            Json::Array(items.iter().map(example_json).collect::<Option<_>>()?)
        }
        toml::Value::Table(table) => Json::Object(
            table
                .iter()
                .map(|(k, v)| Some((k.clone(), example_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// The JSON type of `value`, with its article: `a number`, `a string`.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// What is wrong with `text` as a `docs_url`, if anything.
///
/// Each code is added as `#code`, and the result is a problem's `type`: a
/// URI reference (RFC 3986's characters; `%` escapes the rest).
fn docs_url_problem(text: &str) -> Option<&'static str> {
    // Brackets only around an IPv6 host (`http://[::1]:8080/`).
    let host = ip_literal(text);
    let in_host = |at: usize| host.is_some_and(|(open, close)| at == open || at == close);
    let uri_char = |(at, c): (usize, char)| {
        c.is_ascii_alphanumeric()
            || "-._~:/?@!$&'()*+,;=%".contains(c)
            || (matches!(c, '[' | ']') && in_host(at))
    };
    // Each `%` starts an escape of two hex digits.
    let escapes = text.match_indices('%').all(|(at, _)| {
        text.as_bytes()
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !text.char_indices().all(uri_char) || !escapes {
        return Some(
            "docs_url must be a URL without a `#` fragment, in the characters a URI allows \
             (percent-encode spaces, quotes, `<>{}|\\^` and non-ASCII): each code is added as `#code`",
        );
    }
    // Sent in every error's `type`, `doc_url` and `links.about`, which
    // clients and pages follow: a `javascript:` or `data:` URL there runs
    // in whoever opens it. A `:` before any `/` or `?` ends a scheme (a
    // relative reference's first segment has none).
    let scheme = text
        .split(['/', '?'])
        .next()
        .and_then(|head| head.split_once(':'));
    match scheme {
        None => None,
        Some((scheme, _))
            if (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && text[scheme.len()..]
                    .strip_prefix("://")
                    .is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', '?'])) =>
        {
            None
        }
        Some(_) => Some(
            "docs_url must be an absolute http:// or https:// URL \
             (`https://docs.example.com/errors`) or a relative reference (`/errors`)",
        ),
    }
}

/// What is wrong with `text` as a `domain` (google's `ErrorInfo.domain`,
/// the service's name), if anything.
fn domain_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some(
            "domain is empty: it is google's ErrorInfo.domain, the API's service name \
             (`api.example.com`)"
                .to_owned(),
        );
    }
    let c = stray_char(text, &[])?;
    Some(stray_char_problem(
        "domain",
        c,
        Some("a domain is a name on one line"),
    ))
}

type Located = (Option<std::ops::Range<usize>>, String);

/// A table's `fields` (an entry's, or the file's settings; the table is at
/// `at`), each read on its own: the mistake of each that has one, with its
/// key, so that every wrong type and unknown field is told at once, not one
/// per run; and the table of the fields that read, to be checked as well.
fn read_field_by_field<T: serde::de::DeserializeOwned>(
    fields: DeTable<'_>,
    at: &std::ops::Range<usize>,
) -> (Vec<(String, toml::de::Error)>, Option<T>) {
    let as_entry = |table| Spanned::new(at.clone(), DeValue::Table(table));
    let read = |entry| T::deserialize(ValueDeserializer::from(entry));
    let mut mistakes = Vec::new();
    let mut good = DeTable::new();
    for (key, value) in fields {
        let mut one = DeTable::new();
        one.insert(key.clone(), value.clone());
        match read(as_entry(one)) {
            Ok(_) => {
                good.insert(key, value);
            }
            Err(e) => mistakes.push((key.into_inner().into_owned(), e)),
        }
    }
    (mistakes, read(as_entry(good)).ok())
}

/// An entry that is no definition: why, and the rest of it, to be checked
/// as well.
struct Unbuilt {
    /// Each reason, where it is.
    problems: Vec<Located>,
    /// The definition with every field the entry sets well; none when its
    /// code cannot be one.
    partial: Option<Box<ErrorDef>>,
    /// The keys the problems are about (`status`, `message`): the partial
    /// definition does not hold what the entry writes there.
    failed: Vec<&'static str>,
}

/// `entry`, of `source`, as a definition: `existing`'s, with what the entry
/// sets; or every reason it cannot be one (a field a new entry lacks, a
/// status out of range, a template that does not parse). The `unread` keys
/// are written, but did not read: they are not also told missing.
fn build_def(
    source: &str,
    code: &str,
    entry: &EntryToml,
    existing: Option<ErrorDef>,
    unread: &[String],
) -> Result<ErrorDef, Unbuilt> {
    // At the brace as the file writes it; else (a text that does not read
    // as the value) at the value's start, with the byte.
    let template = |field: &Spanned<String>, what: &str| {
        Template::parse(&lf_line_breaks(source, field)).map_err(|e| {
            match offset_in_file(source, field, e.offset) {
                Some(at) => (Some(at..at), format!("{what} template: {}", e.reason)),
                None => (Some(field.span()), format!("{what} template: {e}")),
            }
        })
    };
    let mut problems = Vec::new();
    let mut failed = Vec::new();
    let mut def = match existing {
        Some(def) => def,
        None => {
            failed = [
                ("status", entry.status.is_none()),
                ("title", entry.title.is_none()),
                ("message", entry.message.is_none()),
            ]
            .iter()
            .filter(|(name, absent)| *absent && !unread.iter().any(|k| k == name))
            .map(|(name, _)| *name)
            .collect();
            if !failed.is_empty() {
                problems.push((None, format!("a new entry needs {}", failed.join(", "))));
            }
            ErrorDef::new(code, 500, "", "").map_err(|e| {
                problems.push((None, e.to_string()));
                Unbuilt {
                    problems: std::mem::take(&mut problems),
                    partial: None,
                    failed: Vec::new(),
                }
            })?
        }
    };
    if let Some(status) = &entry.status {
        let value = status.get_ref().0;
        match u16::try_from(value)
            .ok()
            .filter(|s| (400..=599).contains(s))
        {
            Some(status_u16) => {
                if def.kind == Kind::from_status(def.status) {
                    def.kind = Kind::from_status(status_u16);
                }
                if def.retry == RetryClass::from_status(def.status) {
                    def.retry = RetryClass::from_status(status_u16);
                }
                def.status = status_u16;
            }
            None => {
                failed.push("status");
                problems.push((
                    Some(status.span()),
                    format!("status {value} is outside 400–599"),
                ));
            }
        }
    }
    if let Some(title) = &entry.title {
        def.title = title.get_ref().clone();
    }
    if let Some(message) = &entry.message {
        match template(message, "message") {
            Ok(message) => def.message = message,
            Err(problem) => {
                failed.push("message");
                problems.push(problem);
            }
        }
    }
    if let Some(hint) = &entry.hint {
        match template(hint, "hint") {
            Ok(hint) => def.hint = Some(hint),
            Err(problem) => {
                failed.push("hint");
                problems.push(problem);
            }
        }
    }
    if let Some(remedy) = &entry.remedy {
        def.remedy = Some(lf_line_breaks(source, remedy).into_owned());
    }
    if let Some(retry) = &entry.retry {
        def.retry = retry.get_ref().0;
    }
    if let Some(kind) = &entry.kind {
        def.kind = kind.get_ref().0;
    }
    if let Some(aliases) = &entry.aliases {
        def.aliases.extend(aliases.get_ref().0.clone());
    }
    if let Some(sent_in) = &entry.sent_in {
        def.sent_in.extend(sent_in.get_ref().0.clone());
    }
    if let Some(details) = &entry.details {
        def.details = details.get_ref().clone();
    }
    if let Some(message_only) = &entry.message_only {
        def.message_only = message_only.get_ref().clone();
    }
    // Samples the file gives are checked; those kept from the entry it
    // overrides go with the keys it no longer names.
    let kept: HashSet<String> = def.template_keys().cloned().collect();
    def.examples.retain(|key, _| kept.contains(key));
    if let Some(examples) = &entry.examples {
        for (key, value) in examples.get_ref() {
            match example_json(value) {
                Some(json) => {
                    def.examples.insert(key.clone(), json);
                }
                None => problems.push((
                    Some(examples.span()),
                    format!("examples key {key:?}: {value} has no JSON number"),
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(Unbuilt {
            problems,
            partial: Some(Box::new(def)),
            failed,
        })
    }
}

/// Where byte `offset` of a string's value is in `source`, which writes it
/// as `text`, a string of any of TOML's four kinds (`'…'`, `"…"`,
/// `'''…'''`, `"""…"""`): the text is read along with the value (see
/// [`Written`]) to where it writes that byte (an escape's backslash, for
/// one it writes as an escape). Exact for every string the parser takes;
/// `None` only if the text does not read as the value.
fn offset_in_file(source: &str, text: &Spanned<String>, offset: usize) -> Option<usize> {
    let written = Written::of(source, text)?;
    let value = lf_line_breaks(source, text);
    let mut value = value.get(..offset)?;
    let mut rest = written.text;
    // At the value's end, `rest` is empty: the closing delimiter is next.
    while let Some((piece, after)) = Written::read(rest, written.basic) {
        match piece {
            // A line-ending backslash writes nothing: the byte is after it.
            Piece::Nothing => {}
            _ if value.is_empty() => break,
            Piece::Char(c) => value = value.strip_prefix(c)?,
            Piece::LineBreak => {
                value = value.strip_prefix('\n').or(value.strip_prefix("\r\n"))?;
            }
        }
        rest = after;
    }
    value.is_empty().then(|| written.end - rest.len())
}

/// The value of `text`, a string of `source`, with each line break a
/// multi-line string writes as `\r\n` read as `\n`, as in a file saved
/// with `\n` line breaks. The parser keeps the `\r`: a control character
/// to [`check_def`], and one in every message rendered from the text. A
/// `\r` an escape writes is kept.
fn lf_line_breaks<'t>(source: &str, text: &'t Spanned<String>) -> Cow<'t, str> {
    let value = text.get_ref();
    if !value.contains("\r\n") {
        return Cow::Borrowed(value);
    }
    // Read as the parser does, to check that the text is read alike.
    let read = || {
        let written = Written::of(source, text)?;
        let (mut parsed, mut with_lf) = (String::new(), String::new());
        let mut rest = written.text;
        while !rest.is_empty() {
            let (piece, after) = Written::read(rest, written.basic)?;
            match piece {
                Piece::Char(c) => {
                    parsed.push(c);
                    with_lf.push(c);
                }
                Piece::LineBreak => {
                    parsed.push_str("\r\n");
                    with_lf.push('\n');
                }
                Piece::Nothing => {}
            }
            rest = after;
        }
        (parsed == *value).then_some(with_lf)
    };
    read().map_or(Cow::Borrowed(value), Cow::Owned)
}

/// How `source` writes a string value: the text between its delimiters (a
/// multi-line one's line break trimmed after the opening one), read piece
/// by piece as TOML's parser reads it.
struct Written<'s> {
    text: &'s str,
    /// Where `text` ends in `source` (where the closing delimiter starts).
    end: usize,
    /// A basic string (`"…"`, `"""…"""`): escapes are read.
    basic: bool,
}

/// What one piece of a written string puts in its value.
enum Piece {
    Char(char),
    /// A `\r\n` line break (two characters to the parser, `\n` read with LF
    /// line breaks).
    LineBreak,
    /// Nothing: a line-ending backslash and the white space after it.
    Nothing,
}

impl<'s> Written<'s> {
    fn of(source: &'s str, text: &Spanned<String>) -> Option<Written<'s>> {
        let span = text.span();
        let raw = source.get(span.clone())?;
        // The three-quote delimiters first: `'''` starts with `'`.
        let delimiter = ["'''", "\"\"\"", "'", "\""]
            .into_iter()
            .find(|d| raw.starts_with(d))?;
        let end = span.end.checked_sub(delimiter.len())?;
        let mut text = source.get(span.start + delimiter.len()..end)?;
        if delimiter.len() == 3 {
            text = text
                .strip_prefix('\n')
                .or(text.strip_prefix("\r\n"))
                .unwrap_or(text);
        }
        let basic = delimiter.starts_with('"');
        Some(Written { text, end, basic })
    }

    /// The first piece of `rest` and the text after it; `None` at the end,
    /// or for an escape that does not read.
    fn read(rest: &str, basic: bool) -> Option<(Piece, &str)> {
        if let Some(escape) = rest.strip_prefix('\\').filter(|_| basic) {
            let (c, after) = unescape(escape)?;
            return Some((c.map_or(Piece::Nothing, Piece::Char), after));
        }
        if let Some(after) = rest.strip_prefix("\r\n") {
            return Some((Piece::LineBreak, after));
        }
        let c = rest.chars().next()?;
        Some((Piece::Char(c), &rest[c.len_utf8()..]))
    }
}

/// The character a basic string's escape writes (`escape` follows its
/// backslash), `None` for a line-ending backslash, and the text after it.
fn unescape(escape: &str) -> Option<(Option<char>, &str)> {
    let c = escape.chars().next()?;
    let rest = &escape[c.len_utf8()..];
    let simple = match c {
        'b' => '\u{8}',
        't' => '\t',
        'n' => '\n',
        'f' => '\u{c}',
        'r' => '\r',
        'e' => '\u{1b}',
        '"' | '\\' => c,
        ' ' | '\t' | '\r' | '\n' => {
            return Some((None, rest.trim_start_matches([' ', '\t', '\r', '\n'])));
        }
        _ => {
            let digits = match c {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => return None,
            };
            let code = u32::from_str_radix(rest.get(..digits)?, 16).ok()?;
            return Some((Some(char::from_u32(code)?), &rest[digits..]));
        }
    };
    Some((Some(simple), rest))
}

/// Where the parser's error `message`, which it gave without a span (a key
/// of too many dotted parts: "recursion limit"), is in `source`: the line
/// that the shortest run of whole lines failing with it ends on, found by
/// bisection. Truncating the text can only add errors after its end, so
/// every longer run fails with it first too.
fn spanless_error_at(source: &str, message: &str) -> std::ops::Range<usize> {
    let line_ends: Vec<usize> = source
        .match_indices('\n')
        .map(|(at, _)| at + 1)
        .chain((!source.ends_with('\n')).then_some(source.len()))
        .collect();
    let fails = |end: usize| {
        let run = source.get(..end).unwrap_or_default();
        toml::from_str::<toml::Table>(run)
            .is_err_and(|e| e.span().is_none() && e.message() == message)
    };
    let line = line_ends.partition_point(|&end| !fails(end));
    if line == line_ends.len() {
        // Not the parser's: nowhere to point but the start.
        return 0..0;
    }
    let start = line
        .checked_sub(1)
        .and_then(|before| line_ends.get(before))
        .copied()
        .unwrap_or(0);
    let end = line_ends.get(line).copied().unwrap_or(source.len());
    start..end
}

/// The code of the entry that byte `offset` of a catalog file is in, for a
/// file that did not parse (where the parser gives no tables): read from
/// the last table header up to it (`[errors.CODE]`, `[errors.CODE.aliases]`)
/// and, under `[errors]` or no header, from the key of the statement it is
/// in (`CODE = { … }`, `errors.CODE.status = …`). Strings, comments and
/// the lines of an array or inline table are never headers or keys.
fn entry_at(source: &str, offset: usize) -> Option<String> {
    let bytes = source.as_bytes();
    // Where the last header and the last statement after it start.
    let (mut header, mut statement) = (None, None);
    let (mut depth, mut line_start) = (0_usize, true);
    let mut at = if source.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    while at <= offset && at < bytes.len() {
        match bytes[at] {
            b'#' => {
                at = line_end(bytes, at);
                continue;
            }
            b'\n' => line_start |= depth == 0,
            b' ' | b'\t' | b'\r' => {}
            byte => {
                if std::mem::take(&mut line_start) {
                    if byte == b'[' {
                        (header, statement) = (Some(at), None);
                    } else {
                        statement = Some(at);
                    }
                }
                match byte {
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    b'"' | b'\'' => {
                        at += string_len(&bytes[at..]);
                        continue;
                    }
                    _ => {}
                }
            }
        }
        at += 1;
    }
    let mut path = match header {
        Some(at) => key_parts(source[at..].trim_start_matches('['), 2)?,
        None => Vec::new(),
    };
    if let (Some(at), true) = (statement, path.len() < 2) {
        path.extend(key_parts(&source[at..], 2 - path.len())?);
    }
    match <[String; 2]>::try_from(path) {
        Ok([errors, code]) if errors == "errors" => Some(code),
        _ => None,
    }
}

/// Where the line of byte `at` ends (its `\n`, or the end of `bytes`).
fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| at + n)
}

/// The length of the string `bytes` starts with (`'…'`, `"…"`, `'''…'''`
/// or `"""…"""`), to the end of its line, or of `bytes` for a multi-line
/// one, if it does not close.
fn string_len(bytes: &[u8]) -> usize {
    let quote = bytes[0];
    let multi_line = bytes.starts_with(&[quote; 3]);
    let mut at = if multi_line { 3 } else { 1 };
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' if quote == b'"' => at += 2,
            b'\n' if !multi_line => return at,
            _ if byte == quote && !multi_line => return at + 1,
            _ if byte == quote => {
                // Up to two quotes before the closing three are the string's.
                let run = bytes[at..].iter().take_while(|&&b| b == quote).count();
                if run >= 3 {
                    return at + run.min(5);
                }
                at += run;
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The first `n` parts, unquoted, of the dotted key `text` starts with
/// (`errors."a b".status = …` → `errors`, `a b`), or all it has if fewer;
/// `None` if `text` does not start with a key.
fn key_parts(text: &str, n: usize) -> Option<Vec<String>> {
    let space = [' ', '\t'];
    let mut parts = Vec::new();
    let mut rest = text.trim_start_matches(space);
    loop {
        let (part, after) = match rest.as_bytes().first()? {
            b'"' | b'\'' => {
                let (quoted, after) = rest.split_at(string_len(rest.as_bytes()));
                (
                    quoted.parse::<toml::Value>().ok()?.as_str()?.to_owned(),
                    after,
                )
            }
            _ => {
                let bare = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                let len = rest.find(|c| !bare(c)).unwrap_or(rest.len());
                let (part, after) = (len > 0).then(|| rest.split_at(len))?;
                (part.to_owned(), after)
            }
        };
        rest = after.trim_start_matches(space);
        // A key, whole: then the next part, its value or the end of its header.
        if !rest.starts_with(['.', '=', ']']) {
            return None;
        }
        parts.push(part);
        match rest.strip_prefix('.') {
            Some(next) if parts.len() < n => rest = next.trim_start_matches(space),
            _ => return Some(parts),
        }
    }
}

/// What a catalog code may be, as error messages say it: snake_case, and,
/// upper-cased, what AIP-193 allows in `ErrorInfo.reason`, where the google
/// dialect writes it.
pub const CODE_RULE: &str = "snake_case: [a-z][a-z0-9_]+[a-z0-9], 3 to 63 characters (as upper case, the google \
     dialect's AIP-193 reason)";

/// What a google alias may be: an AIP-193 reason.
const AIP193_REASON: &str = "an AIP-193 reason: [A-Z][A-Z0-9_]+[A-Z0-9], 63 characters at most";

/// Whether `code` may name a catalog entry ([`CODE_RULE`]).
///
/// ```
/// assert!(tollgate::is_code("rate_limit_exceeded"));
/// assert!(!tollgate::is_code("quota_") && !tollgate::is_code("ab") && !tollgate::is_code("NotFound"));
/// ```
pub fn is_code(code: &str) -> bool {
    is_snake_or_reason(code, |b| b.is_ascii_lowercase())
}

/// Whether `reason` is [`AIP193_REASON`].
fn is_aip193_reason(reason: &str) -> bool {
    is_snake_or_reason(reason, |b| b.is_ascii_uppercase())
}

/// `[L][L0-9_]+[L0-9]`, 3 to 63 characters, where `letter` says what `L` is.
fn is_snake_or_reason(text: &str, letter: fn(u8) -> bool) -> bool {
    let bytes = text.as_bytes();
    let letter_or_digit = |b: u8| letter(b) || b.is_ascii_digit();
    (3..=63).contains(&bytes.len())
        && letter(bytes[0])
        && bytes.iter().all(|&b| letter_or_digit(b) || b == b'_')
        && bytes.last().is_some_and(|&b| letter_or_digit(b))
}

/// Whether `text` (a message, hint or remedy) has a control character
/// other than a line break or tab, or a [layout control](is_layout_control):
/// shown in terminals and pages, an escape sequence or a bell there is never
/// meant, nor a line broken where tools see no break, nor a line that reads
/// other than it is written.
///
/// ```
/// assert!(tollgate::has_stray_control("bell \u{7}"));
/// assert!(tollgate::has_stray_control("gpj.\u{202e}exe"));
/// assert!(!tollgate::has_stray_control("two\nlines\tand a tab"));
/// ```
pub fn has_stray_control(text: &str) -> bool {
    stray_char(text, &['\n', '\t']).is_some()
}

/// Whether `c` is a Unicode line or paragraph separator (U+2028, U+2029) or
/// a direction override (U+202D, U+202E). Neither is a control character
/// to [`char::is_control`], and neither shows: a separator breaks a line
/// where Markdown, terminals and most tools see none, and an override
/// writes the letters after it backwards, so that a line reads other than
/// it is written. The marks, embeddings and isolates that right-to-left
/// text needs around a code or a number (U+200F, U+2067, …) are not.
///
/// ```
/// assert!(tollgate::is_layout_control('\u{2028}') && tollgate::is_layout_control('\u{202e}'));
/// assert!(!tollgate::is_layout_control('\n') && !tollgate::is_layout_control('\u{200f}'));
/// ```
pub fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202d}' | '\u{202e}')
}

/// The first character of `text` that catalog text may not hold: a control
/// character (but those `allowed`) or a [layout control](is_layout_control).
fn stray_char(text: &str, allowed: &[char]) -> Option<char> {
    text.chars()
        .find(|&c| (c.is_control() && !allowed.contains(&c)) || is_layout_control(c))
}

/// What `what` holding `c` (from [`stray_char`]) is told. `one_line` is
/// why a line may not break there (`a title is one line of text`); `None`
/// for text that may break at a line break.
fn stray_char_problem(what: &str, c: char, one_line: Option<&str>) -> String {
    let code = u32::from(c);
    let separator = match c {
        '\u{2028}' => "line",
        '\u{2029}' => "paragraph",
        c if is_layout_control(c) => {
            return format!(
                "{what} has a direction override (U+{code:04X}), which can make it read \
                 other than it is written"
            );
        }
        _ => {
            return match one_line {
                Some(why) => format!("{what} has a control character ({why})"),
                None => format!("{what} has a control character other than a line break or tab"),
            };
        }
    };
    match one_line {
        Some(why) => format!("{what} has a {separator} separator (U+{code:04X}): {why}"),
        None => format!(
            "{what} has a {separator} separator (U+{code:04X}): write a line break (\\n) instead"
        ),
    }
}

/// Whether `key` is a name placeholders can take (`[A-Za-z0-9_]+`): what a
/// message-only value is documented under.
///
/// ```
/// assert!(tollgate::is_placeholder_name("N"));
/// assert!(!tollgate::is_placeholder_name("a b"));
/// ```
pub fn is_placeholder_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where the brackets of an IP-literal host are (RFC 3986: `scheme://`,
/// optional `userinfo@`, then `[…]`, then `:port` or the end of the
/// authority), when `url` has one.
fn ip_literal(url: &str) -> Option<(usize, usize)> {
    let (scheme, _) = url.split_once("://")?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let start = scheme.len() + 3;
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |at| start + at);
    let authority = &url[start..end];
    let host_at = start + authority.rfind('@').map_or(0, |at| at + 1);
    let host = &url[host_at..end];
    let close = host.find(']')?;
    let after = &host[close + 1..];
    let port = after.is_empty()
        || after
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    (host.starts_with('[') && port && !host[1..close].contains('['))
        .then_some((host_at, host_at + close))
}

/// What a details key may be, as error messages say it: the google
/// dialect sends each as an `ErrorInfo.metadata` key, which AIP-193 limits
/// to these (every other dialect takes them as they are).
pub const DETAIL_KEY_RULE: &str =
    "[a-z][A-Za-z0-9_]+, 64 characters at most (an AIP-193 metadata key)";

/// Whether `key` may be a details key ([`DETAIL_KEY_RULE`]): a placeholder
/// name that is also an AIP-193 metadata key.
///
/// ```
/// assert!(tollgate::is_detail_key("retry_after"));
/// assert!(!tollgate::is_detail_key("a b") && !tollgate::is_detail_key("n"));
/// assert!(!tollgate::is_detail_key("Max_Pages"));
/// ```
pub fn is_detail_key(key: &str) -> bool {
    (2..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && is_placeholder_name(key)
}

/// The placeholders of a template's text, in order, each with the byte
/// offset of its `{` (`{{` and `}}` write a brace).
fn placeholders_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = text.get(at..)?;
            let brace = at + rest.find(['{', '}'])?;
            let from = &text[brace..];
            if from.starts_with("{{") || from.starts_with("}}") {
                at = brace + 2;
            } else if from.starts_with('{') {
                let end = brace + from.find('}')?;
                at = end + 1;
                return Some((brace, &text[brace + 1..end]));
            } else {
                at = brace + 1;
            }
        }
    })
}

/// Problems with one entry on its own, each with the key of the entry it is
/// about (`""` for the entry as a whole) and, for one at a place in that
/// key's text, the byte it is at, so that a file's problem can be located
/// there.
pub(crate) fn check_def(def: &ErrorDef) -> Vec<(&'static str, Option<usize>, String)> {
    let mut problems = Vec::new();
    let code_ok = is_code(&def.code);
    if !code_ok {
        problems.push(("", None, format!("code must be {CODE_RULE}")));
    }
    if !(400..=599).contains(&def.status) {
        problems.push((
            "status",
            None,
            format!("status {} is outside 400–599", def.status),
        ));
    }
    if def.title.trim().is_empty() {
        problems.push(("title", None, "title is empty".to_owned()));
    } else if let Some(c) = stray_char(&def.title, &[]) {
        let problem = stray_char_problem("title", c, Some("a title is one line of text"));
        problems.push(("title", None, problem));
    }
    if def.message.as_str().trim().is_empty() {
        let problem = "message is empty: it is what the error tells the client";
        problems.push(("message", None, problem.to_owned()));
    }
    let texts = [
        ("message", Some(def.message.as_str())),
        ("hint", def.hint.as_ref().map(Template::as_str)),
        ("remedy", def.remedy.as_deref()),
    ];
    for (what, text) in texts {
        if let Some(c) = text.and_then(|text| stray_char(text, &['\n', '\t'])) {
            problems.push((what, None, stray_char_problem(what, c, None)));
        }
    }
    let templates =
        std::iter::once(("message", &def.message)).chain(def.hint.as_ref().map(|h| ("hint", h)));
    let documented: std::collections::HashSet<&str> =
        def.template_keys().map(String::as_str).collect();
    for (what, template) in templates {
        let mut told = std::collections::HashSet::new();
        for (offset, name) in placeholders_at(template.as_str()) {
            // Once per name, however often the template repeats it.
            if !documented.contains(name) && told.insert(name) {
                problems.push((
                    what,
                    Some(offset),
                    format!(
                        "{what} placeholder {{{name}}} is not a documented details key (add it to `details`, or to `message_only` to keep it off the wire)"
                    ),
                ));
            }
        }
    }
    for (dialect, alias) in &def.aliases {
        if *dialect == Dialect::Google {
            if !is_aip193_reason(alias) {
                problems.push((
                    "aliases",
                    None,
                    format!("alias {alias:?} for google must be {AIP193_REASON}"),
                ));
            }
            continue;
        }
        let alias_ok = !alias.is_empty()
            && alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !alias_ok {
            problems.push((
                "aliases",
                None,
                format!("alias {alias:?} for {dialect} must be [A-Za-z0-9_.:-]+"),
            ));
        }
    }
    // A set: a hostile file listing tens of thousands of keys in both would
    // otherwise take seconds to check.
    let sent: std::collections::HashSet<&str> = def.details.iter().map(String::as_str).collect();
    // A key listed twice is told once, however often it is repeated.
    for (what, keys) in [
        ("details", &def.details),
        ("message_only", &def.message_only),
    ] {
        let (mut seen, mut told) = (HashSet::new(), HashSet::new());
        for key in keys {
            if !seen.insert(key) && told.insert(key) {
                problems.push((what, None, format!("{what} key {key:?} is listed twice")));
            }
        }
    }
    // Each key's own problems are told once, however often it is listed.
    let mut checked = HashSet::new();
    for key in def.message_only.iter().filter(|key| checked.insert(*key)) {
        if !is_placeholder_name(key) {
            problems.push((
                "message_only",
                None,
                format!("message_only key {key:?} must be [A-Za-z0-9_]+"),
            ));
        } else if sent.contains(key.as_str()) {
            problems.push((
                "message_only",
                None,
                format!("{key:?} is in both `details` (sent) and `message_only` (not sent)"),
            ));
        }
    }
    for key in def.examples.keys() {
        if !def.template_keys().any(|k| k == key) {
            problems.push((
                "examples",
                None,
                format!("examples key {key:?} is neither in `details` nor in `message_only`"),
            ));
        }
    }
    let mut checked = HashSet::new();
    for key in def.details.iter().filter(|key| checked.insert(*key)) {
        if !is_detail_key(key) {
            problems.push((
                "details",
                None,
                format!("details key {key:?} must be {DETAIL_KEY_RULE}"),
            ));
            continue;
        }
        for dialect in Dialect::ALL {
            if dialect.reserved_detail_keys().contains(&key.as_str()) {
                problems.push((
                    "details",
                    None,
                    format!("details key {key:?} collides with a member of the {dialect} dialect"),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in catalog and `n` entries more, a fifth of them aliased.
    fn large_catalog(n: usize) -> Catalog {
        let mut toml = String::new();
        for i in 0..n {
            toml.push_str(&format!(
                "[errors.entry_{i}]\nstatus = 400\ntitle = \"Entry {i}\"\nmessage = \"Entry {i} failed.\"\n"
            ));
            if i % 5 == 0 {
                toml.push_str(&format!("aliases = {{ coded = \"ENTRY_{i}_FAILED\" }}\n"));
            }
        }
        Catalog::from_toml("large.toml", &toml).unwrap()
    }

    #[test]
    fn alias_collisions_copy_only_what_collides() {
        // Every code in every dialect is compared where it is: a copy of
        // each (ten per entry) made loading a catalog cost an allocation per
        // entry and dialect.
        let catalog = large_catalog(1000);
        let mut found = 0;
        let info = allocation_counter::measure(|| found = catalog.alias_collisions().len());
        assert_eq!(found, 0);
        assert!(
            info.count_total <= 4 * Dialect::ALL.len() as u64,
            "{info:?}"
        );
    }

    #[test]
    fn inserting_into_a_large_catalog_costs_what_it_does_into_a_small_one() {
        // Collisions are looked up in the indexes and only the spellings
        // the entry changes are indexed again: neither copying the catalog
        // nor comparing the entry with every other, which made adding a
        // large enum's entries one by one cost by the square.
        let insert = |mut catalog: Catalog| {
            let def = ErrorDef::new("added_in_code", 409, "Added", "m")
                .unwrap()
                .alias(Dialect::Coded, "ADDED_IN_CODE_ERROR");
            let info = allocation_counter::measure(|| catalog.insert(def).unwrap());
            info.count_total
        };
        let small = insert(large_catalog(10));
        let large = insert(large_catalog(10_000));
        assert!(large <= small + 4, "{small} then {large} allocations");
        assert!(large <= 64, "{large} allocations");
    }

    #[test]
    fn codes_that_differ_at_their_end_spread_over_the_table() {
        // A table of 16 384 slots picks one by the low 14 bits: 10 000
        // codes that share their first bytes fill thousands of them, as
        // random ones would (about 7 500), not a few dozen.
        use std::hash::Hash;
        let slots: HashSet<u64> = (0..10_000)
            .map(|i| {
                let mut hasher = CodeHasher::default();
                format!("gen_entry_{i}").hash(&mut hasher);
                hasher.finish() & 0x3fff
            })
            .collect();
        assert!(slots.len() > 6_000, "{} slots", slots.len());
    }

    #[test]
    fn insert_indexes_as_a_load_does() {
        // Each insert updates the indexes in place: they stay what
        // rebuilding them from the entries gives, whichever entry's
        // spelling an insert takes, shadows or gives back.
        let mut c = large_catalog(50);
        let defs = [
            ErrorDef::new("first_added", 400, "t", "m").unwrap(),
            // An alias that is another entry's code in UPPER_SNAKE.
            ErrorDef::new("second_added", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Coded, "FIRST_ADDED")
                .alias(Dialect::Flat, "entry_3_gone"),
            // An alias in another dialect that is an earlier one's alias.
            ErrorDef::new("third_added", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Stripe, "ENTRY_5_FAILED")
                .alias(Dialect::Jsonapi, "FIRST_ADDED"),
            // Replaced: the alias it drops goes to the next entry with it.
            ErrorDef::new("second_added", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Meta, "second_added_meta"),
            ErrorDef::new("entry_5", 400, "t", "m").unwrap(),
            ErrorDef::new("not_found", 404, "Not found", "m")
                .unwrap()
                .alias(Dialect::Detail, "ENTRY_5_FAILED"),
            ErrorDef::new("third_added", 400, "t", "m").unwrap(),
        ];
        let sorted = |c: &Catalog| {
            let mut aliases: Vec<(String, Vec<(Dialect, usize)>)> = (c.aliases.iter())
                .map(|(alias, writers)| {
                    let mut writers = writers.clone();
                    writers.sort_unstable();
                    (alias.clone(), writers)
                })
                .collect();
            aliases.sort_unstable();
            aliases
        };
        for def in defs {
            let code = def.code().to_owned();
            c.insert(def).unwrap_or_else(|e| panic!("{code}: {e:?}"));
            let mut rebuilt = c.clone();
            rebuilt.index_wire_codes();
            assert_eq!(c.wire, rebuilt.wire, "after {code}");
            assert_eq!(sorted(&c), sorted(&rebuilt), "after {code}");
        }
        let find = |wire: &str| find_in(&c, wire);
        assert_eq!(find("FIRST_ADDED").as_deref(), Some("first_added"));
        assert_eq!(find("ENTRY_5_FAILED").as_deref(), Some("not_found"));
        assert_eq!(find("entry_3_gone"), None);
    }

    #[test]
    fn insert_tells_the_collisions_a_catalog_scan_finds() {
        // Whichever entry comes first, in every dialect, in the scan's words.
        let scanned = |c: &Catalog, def: &ErrorDef| {
            let mut next = c.clone();
            next.put(def.clone());
            let code = def.code();
            let mut told = Vec::new();
            for clash in next.alias_collisions() {
                if clash.later == code {
                    told.push(clash.problem(&clash.first));
                } else if clash.first == code {
                    told.push(clash.problem(&clash.later));
                }
            }
            told
        };
        let c = large_catalog(20);
        let defs = [
            ErrorDef::new("new_one", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Coded, "ENTRY_5_FAILED"),
            ErrorDef::new("new_one", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Problem, "entry_7")
                .alias(Dialect::Google, "NOT_FOUND")
                .alias(Dialect::Flat, "entry_5_failed"),
            // Replacing an earlier entry: it comes first.
            ErrorDef::new("not_found", 404, "t", "m")
                .unwrap()
                .alias(Dialect::Stripe, "entry_9")
                .alias(Dialect::Coded, "ENTRY_10_FAILED"),
            ErrorDef::new("entry_4", 400, "t", "m")
                .unwrap()
                .alias(Dialect::Coded, "ENTRY_5_FAILED")
                .alias(Dialect::Meta, "entry_4"),
            ErrorDef::new("NOT_FOUND", 404, "t", "m").unwrap(),
            ErrorDef::new("Not_Found", 404, "t", "m").unwrap(),
            ErrorDef::new("entry_12", 400, "t", "m").unwrap(),
        ];
        for def in defs {
            let expected = scanned(&c, &def);
            let told: Vec<_> = c
                .collisions_of(&def)
                .into_iter()
                .filter_map(|clash| {
                    let code = def.code();
                    if clash.later == code {
                        Some(clash.problem(&clash.first))
                    } else if clash.first == code {
                        Some(clash.problem(&clash.later))
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(told, expected, "{}", def.code());
        }
        // The first of them is told, and the catalog is unchanged.
        let mut changed = c.clone();
        let def = ErrorDef::new("new_one", 400, "t", "m")
            .unwrap()
            .alias(Dialect::Coded, "ENTRY_5_FAILED");
        let e = changed.insert(def).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].to_string(),
            "<code>: entry \"new_one\": code \"ENTRY_5_FAILED\" in the coded dialect is also \"entry_5\"'s"
        );
        assert!(changed.get("new_one").is_none());
        assert_eq!(changed.wire, c.wire);
    }

    #[test]
    fn an_unknown_code_lists_a_bounded_number_of_codes() {
        let catalog = large_catalog(1000);
        let message = catalog.error("no_such_code").unwrap_err().to_string();
        let listed = message.split_once("expected one of: ").unwrap().1;
        assert_eq!(
            listed.matches(", ").count(),
            UNKNOWN_CODE_LISTED - 1,
            "{message}"
        );
        let total = catalog.iter().count();
        assert!(listed.ends_with(&format!(" and {} more", total - UNKNOWN_CODE_LISTED)));
        // A small catalog is listed whole.
        let message = Catalog::builtin()
            .error("no_such_code")
            .unwrap_err()
            .to_string();
        assert!(message.ends_with(", timeout"), "{message}");
    }

    /// A catalog of exactly as many codes as are listed ends its message
    /// with the last code: "and 0 more" is never written, and one code past
    /// the limit is counted as one more.
    #[test]
    fn an_unknown_code_counts_more_only_past_the_listed_limit() {
        let message = |n: usize| {
            UnknownCode {
                code: "no_such_code".to_owned(),
                known: (0..n).map(|i| format!("entry_{i}")).collect(),
            }
            .to_string()
        };
        let last = UNKNOWN_CODE_LISTED - 1;
        let whole = message(UNKNOWN_CODE_LISTED);
        assert!(whole.ends_with(&format!(", entry_{last}")), "{whole}");
        assert!(!whole.contains(" more"), "{whole}");
        let one_more = message(UNKNOWN_CODE_LISTED + 1);
        assert!(
            one_more.ends_with(&format!(", entry_{last} and 1 more")),
            "{one_more}"
        );
    }

    /// A code longer than any code can be is clipped where codes end, and
    /// its length said: the message stays short whatever was asked for.
    #[test]
    fn an_unknown_code_too_long_for_a_code_is_clipped() {
        let message = |code: String| {
            UnknownCode {
                code,
                known: vec!["not_found".to_owned()],
            }
            .to_string()
        };
        let longest = "a".repeat(63);
        assert_eq!(
            message(longest.clone()),
            format!("unknown error code {longest:?}, expected one of: not_found")
        );
        let wide = "é".repeat(100_000);
        let said = message(wide);
        assert_eq!(
            said,
            format!(
                "unknown error code {:?}… (100000 characters; codes have 63 at most), \
                 expected one of: not_found",
                "é".repeat(63)
            )
        );
        assert!(is_code(&longest) && !is_code(&format!("{longest}a")));
    }

    #[test]
    fn builtin_is_valid_and_complete() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.iter().count(), 23);
        for def in catalog.iter() {
            assert!(check_def(def).is_empty(), "{}", def.code());
        }
        assert_eq!(
            catalog.get("storage_quota_exceeded").unwrap().kind(),
            Kind::QuotaExceeded
        );
        assert_eq!(
            catalog.get("idempotency_key_in_use").unwrap().retry(),
            RetryClass::After
        );
    }

    /// A misspelled field or code is told the one it was likely meant to
    /// be (see `suggest`).
    #[test]
    fn a_misspelled_name_is_told_the_one_meant() {
        let catalog = Catalog::builtin();
        let unknown = |code: &str| catalog.error(code).unwrap_err().to_string();
        assert!(
            unknown("rate_limit").starts_with(
                "unknown error code \"rate_limit\" (did you mean \"rate_limit_exceeded\"?), expected one of: "
            ),
            "{}",
            unknown("rate_limit")
        );
        assert!(unknown("Not_Fund").contains("(did you mean \"not_found\"?)"));
        assert!(!unknown("zzz").contains("did you mean"));
        let e = errors("[errors.abc]\nstatus = 400\ntitel = 't'\nmessage = 'm'\n");
        assert_eq!(
            e,
            [
                "t.toml:1:1: entry \"abc\": a new entry needs title",
                "t.toml:3:1: entry \"abc\": unknown field `titel`, expected one of `status`, `title`, `message`, `hint`, `remedy`, `retry`, `kind`, `aliases`, `sent_in`, `details`, `message_only`, `examples`, `sent_as` (did you mean `title`?)",
            ]
        );
    }

    /// That there is one problem for each of `expected`, starting with it.
    fn assert_starts(problems: &[String], expected: &[&str]) {
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem:?} is not {start:?}");
        }
    }

    fn errors(source: &str) -> Vec<String> {
        match Catalog::builtin().load_toml("t.toml", source) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_code_sent_as_another_is_that_entry_everywhere() {
        let catalog = Catalog::from_toml(
            "t.toml",
            "[errors.expired_key]\nsent_as = 'invalid_key'\n\
             [errors.deactivated_key]\nsent_as = 'invalid_key'\n\
             [errors.invalid_key]\nmessage = 'Missing, malformed, expired, or revoked credential.'\n",
        )
        .unwrap();
        for code in ["expired_key", "deactivated_key"] {
            let err = catalog.error(code).unwrap();
            assert_eq!((err.code(), err.status()), ("invalid_key", 401), "{code}");
            assert_eq!(
                err.message(),
                "Missing, malformed, expired, or revoked credential."
            );
            // An error raised with the built-in entry moves onto it too.
            let def = catalog.get(code).unwrap();
            assert_eq!(def.code(), "invalid_key");
            assert_eq!(catalog.find_wire_code(code).unwrap().code(), "invalid_key");
        }
        let codes: Vec<_> = catalog.iter().map(|def| def.code()).collect();
        assert!(!codes.contains(&"expired_key") && !codes.contains(&"deactivated_key"));
        assert!(codes.contains(&"invalid_key"));
        assert_eq!(
            catalog.find_wire_code("invalid_key").unwrap().code(),
            "invalid_key"
        );

        // Code defining the entry leaves the file's word standing.
        let mut catalog = catalog;
        let own = ErrorDef::new("expired_key", 401, "Expired", "The key has expired.").unwrap();
        catalog.insert(own).unwrap();
        assert_eq!(catalog.get("expired_key").unwrap().code(), "invalid_key");

        // A later file overriding it finds no entry to override.
        let told = catalog
            .clone()
            .load_toml("u.toml", "[errors.deactivated_key]\ntitle = 'Revoked'\n")
            .unwrap_err();
        assert_eq!(
            told[0].to_string(),
            "u.toml:1:1: entry \"deactivated_key\": a new entry needs status, message: an earlier \
             file sends it as \"invalid_key\", so it has no entry to override (define it whole, or \
             leave it sent so)"
        );
        // A later file that defines it whole gives it an entry again.
        catalog
            .load_toml(
                "u.toml",
                "[errors.expired_key]\nstatus = 401\ntitle = 'Expired'\nmessage = 'Expired.'\n",
            )
            .unwrap();
        assert_eq!(catalog.get("expired_key").unwrap().code(), "expired_key");
        assert_eq!(
            catalog.get("deactivated_key").unwrap().code(),
            "invalid_key"
        );
        assert!(catalog.iter().any(|def| def.code() == "expired_key"));
        assert_eq!(
            catalog.find_wire_code("expired_key").unwrap().code(),
            "expired_key"
        );
    }

    #[test]
    fn a_code_sent_as_another_must_name_an_entry_of_its_own_and_nothing_else() {
        assert_eq!(
            errors("[errors.expired_key]\nsent_as = 'invalid_key'\nstatus = 401\n"),
            [
                "t.toml:1:1: entry \"expired_key\": an entry sent as another sets nothing else: drop status, or `sent_as`"
            ]
        );
        assert_eq!(
            errors("[errors.expired_key]\nsent_as = 'invalid_kye'\n"),
            [
                "t.toml:2:11: entry \"expired_key\": sent as \"invalid_kye\", which is no entry of the catalog (did you mean \"invalid_key\"?)"
            ]
        );
        assert_eq!(
            errors("[errors.expired_key]\nsent_as = 'expired_key'\n"),
            [
                "t.toml:2:11: entry \"expired_key\": \"expired_key\" is sent as itself: drop `sent_as`"
            ]
        );
        assert_eq!(
            errors(
                "[errors.expired_key]\nsent_as = 'invalid_key'\n\
                 [errors.invalid_key]\nsent_as = 'not_found'\n"
            ),
            [
                "t.toml:2:11: entry \"expired_key\": \"expired_key\" is sent as \"invalid_key\", which is sent as \"not_found\" itself: name \"not_found\""
            ]
        );
        // A later file that makes the other code sent as a third is told at
        // its own entry, and changes nothing.
        let mut catalog =
            Catalog::from_toml("t.toml", "[errors.expired_key]\nsent_as = 'invalid_key'\n")
                .unwrap();
        let told = catalog
            .load_toml("u.toml", "[errors.invalid_key]\nsent_as = 'not_found'\n")
            .unwrap_err();
        assert_eq!(
            told[0].to_string(),
            "u.toml:2:11: entry \"invalid_key\": \"expired_key\" is sent as \"invalid_key\", which is sent as \"not_found\" itself: name \"not_found\""
        );
        assert_eq!(catalog.get("invalid_key").unwrap().code(), "invalid_key");
        assert_eq!(catalog.get("expired_key").unwrap().code(), "invalid_key");
    }

    #[test]
    fn a_code_sent_as_another_follows_the_code_rule_and_reads_in_any_spelling() {
        assert_eq!(
            errors("[errors.Bad-Code]\nsent_as = 'not_found'\n"),
            [format!(
                "t.toml:1:1: entry \"Bad-Code\": code must be {CODE_RULE}"
            )]
        );
        let catalog =
            Catalog::from_toml("t.toml", "[errors.expired_key]\nsent_as = 'invalid_key'\n")
                .unwrap();
        assert_eq!(
            catalog.find_wire_code("EXPIRED_KEY").unwrap().code(),
            "invalid_key",
            "google's spelling"
        );
        // Lint tells a code the layers send with a Retry-After sent as one
        // whose reference says not to retry.
        let told = linted("[errors.rate_limit_exceeded]\nsent_as = 'malformed_request'\n");
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].to_string().starts_with(
                "t.toml:2:11: entry \"rate_limit_exceeded\": sent as \"malformed_request\", whose retry class is \"never\""
            ),
            "{}",
            told[0]
        );
        let fine = "[errors.rate_limit_exceeded]\nsent_as = 'service_unavailable'\n";
        assert!(linted(fine).is_empty());
        // Checked against the catalog as loaded: an entry the file defines
        // that never retries is told, one it made wait is not.
        let new_target = "[errors.too_many]\nstatus = 409\ntitle = 'T'\nmessage = 'm'\n\
                          [errors.rate_limit_exceeded]\nsent_as = 'too_many'\n";
        let told = linted(new_target);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0]
                .to_string()
                .contains("sent as \"too_many\", whose retry class is \"never\""),
            "{}",
            told[0]
        );
        let made_to_wait = "[errors.conflict]\nretry = 'after'\n\
                            [errors.rate_limit_exceeded]\nsent_as = 'conflict'\n";
        assert_eq!(linted(made_to_wait), []);
    }

    #[test]
    fn lint_tells_a_sample_of_another_type_than_the_layers_send() {
        let told =
            linted("[errors.rate_limit_exceeded]\nexamples = { limit = '100', window = 60 }\n");
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(
            told[0].to_string(),
            "t.toml:2:12: entry \"rate_limit_exceeded\": examples key \"limit\" is a string, but the \
             layers send a number (`limit = 100`)"
        );
        assert_eq!(
            linted("[errors.rate_limit_exceeded]\nexamples = { limit = 5 }\n"),
            []
        );
    }

    /// [`Catalog::lint_toml`] of a file loaded onto the built-in catalog.
    fn linted(source: &str) -> Vec<CatalogError> {
        let loaded = Catalog::from_toml("t.toml", source).expect("a catalog that loads");
        loaded.lint_toml("t.toml", source)
    }

    #[test]
    fn an_example_json_cannot_carry_is_told() {
        assert_eq!(
            errors("[errors.rate_limit_exceeded]\nexamples = { limit = nan }\n"),
            [
                "t.toml:2:12: entry \"rate_limit_exceeded\": examples key \"limit\": nan has no JSON number"
            ]
        );
    }

    #[test]
    fn example_dates_are_text() {
        let catalog = Catalog::from_toml(
            "t.toml",
            "[errors.gone]\nstatus = 410\ntitle = 'Gone'\nmessage = 'Gone since {at}.'\n\
             details = ['at', 'days']\nexamples = { at = 2025-01-01T00:00:00Z, days = [2025-01-01] }\n",
        )
        .unwrap();
        let def = catalog.get("gone").unwrap();
        assert_eq!(
            def.example_value("at"),
            Some(&serde_json::json!("2025-01-01T00:00:00Z"))
        );
        assert_eq!(
            def.example_value("days"),
            Some(&serde_json::json!(["2025-01-01"]))
        );
    }

    #[test]
    fn a_file_of_problems_tells_a_hundred_and_counts_the_rest() {
        let mut text = String::from("[errors]\n");
        for i in 0..1000 {
            text.push_str(&format!("e{i} = {{}}\n"));
        }
        // A placeholder repeated is one problem.
        text.push_str("[errors.xyz]\nstatus = 400\ntitle = \"X\"\nmessage = \"{a}{a}{a}\"\n");
        let errors = Catalog::from_toml("big.toml", &text).unwrap_err();
        assert_eq!(errors.len(), MAX_PROBLEMS + 1);
        // The last stands for the rest, and says so in its own field.
        // 1 000 entries lacking every field, the ten of them with codes too
        // short (`e0`) told that too, and the placeholder: 1 011 in all.
        let (last, told) = errors.split_last().unwrap();
        assert_eq!(last.not_shown, Some(911));
        assert_eq!(last.message, "and 911 more problems, not shown");
        assert_eq!(last.code, None);
        // Shown at no line: it is not a problem at the hundredth's place.
        assert_eq!(
            last.to_string(),
            "big.toml: and 911 more problems, not shown"
        );
        let hundredth = told.last().unwrap();
        assert_eq!((last.line, last.column), (hundredth.line, hundredth.column));
        assert!(told.iter().all(|e| e.not_shown.is_none()), "{told:?}");
        let placeholder = "[errors.xyz]\nstatus = 400\ntitle = \"X\"\nmessage = \"{a}{a}{a}\"\n";
        let errors = Catalog::from_toml("one.toml", placeholder).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn a_docs_url_takes_no_fragment() {
        let e = errors("docs_url = 'https://x.example/errors#top'\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:1:12: docs_url must be"), "{e:?}");
        assert_eq!(errors("docs_url = 'https://x.example/errors'\n"), [""; 0]);
        // An empty one loads (links are `#code`), and lint tells it.
        assert_eq!(errors("docs_url = ''\n"), [""; 0]);
        let mut catalog = Catalog::builtin();
        catalog.load_toml("t.toml", "docs_url = ''\n").unwrap();
        let told = catalog.lint_toml("t.toml", "docs_url = ''\n");
        assert!(
            told[0]
                .to_string()
                .starts_with("t.toml:1:12: docs_url is empty"),
            "{told:?}"
        );
        assert_eq!(errors("docs_url = 'https://x .example'\n").len(), 1);
        // The result is a problem's `type`: a URI reference.
        for url in [
            "https://x.example/référence",
            "https://x.example/e?v=\\\"1\\\"",
            "https://x.example/a|b",
        ] {
            assert_eq!(errors(&format!("docs_url = \"{url}\"\n")).len(), 1, "{url}");
        }
        for url in [
            "https://x.example/100%",
            "https://x.example/%zz",
            "https://x.example/[a]",
        ] {
            assert_eq!(errors(&format!("docs_url = '{url}'\n")).len(), 1, "{url}");
        }
        let encoded = "docs_url = 'https://x.example/r%C3%A9f?v=1&w=(2);x=%5B3%5D'\n";
        assert_eq!(errors(encoded), [""; 0]);
        // An IPv6 host is bracketed (RFC 3986 IP-literal), and only there.
        assert_eq!(errors("docs_url = 'http://[::1]:8080/errors'\n"), [""; 0]);
        assert_eq!(errors("docs_url = 'http://[::1]'\n"), [""; 0]);
        assert_eq!(errors("docs_url = 'http://h/?q=[1]'\n").len(), 1);
        assert_eq!(errors("docs_url = 'http://u@[::1]:80/e'\n"), [""; 0]);
        for url in [
            "http://user[x]@host/e",
            "http://host]:80[/e",
            "/errors?next=http://[x]",
            "http://[::1]x/e",
        ] {
            assert_eq!(errors(&format!("docs_url = '{url}'\n")).len(), 1, "{url}");
        }
    }

    /// Brackets are an IPv6 host's only after a scheme (a letter, then
    /// letters, digits and `+-.`): elsewhere they are refused as any
    /// character a URI does not allow.
    #[test]
    fn a_docs_url_brackets_a_host_only_after_a_scheme() {
        for scheme in ["http", "HTTPS"] {
            let source = format!("docs_url = '{scheme}://[::1]/e'\n");
            assert_eq!(errors(&source), [""; 0], "{scheme}");
        }
        for scheme in ["1http", "_x", "x/y", "x?y"] {
            let source = format!("docs_url = '{scheme}://[::1]/e'\n");
            let e = errors(&source);
            assert_eq!(e.len(), 1, "{scheme}: {e:?}");
            assert!(e[0].starts_with("t.toml:1:12: docs_url must be"), "{e:?}");
        }
    }

    /// A code the layers send with a `Retry-After` is not documented as
    /// one never to retry.
    #[test]
    fn lint_tells_never_retrying_a_code_sent_with_a_wait() {
        let waiting: Vec<&str> = Catalog::builtin_ref()
            .iter()
            .filter(|def| def.retry == RetryClass::After)
            .map(|def| def.code())
            .collect();
        let mut sorted = waiting.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "idempotency_key_in_use",
                "rate_limit_exceeded",
                "service_unavailable",
                "upstream_unavailable",
                "usage_limit_exceeded",
            ]
        );
        for code in waiting {
            let source = format!("[errors.{code}]\nretry = 'never'\n");
            assert!(Catalog::from_toml("t.toml", &source).is_ok(), "{source}");
            let told = linted(&source);
            assert_eq!(told.len(), 1, "{code}: {told:?}");
            let told = told[0].to_string();
            assert!(
                told.starts_with(&format!("t.toml:2:9: entry \"{code}\": retry = \"never\", but the layers send it with a Retry-After")),
                "{told}"
            );
        }
        // A status whose class is `never` makes it so, unless written.
        let told = linted("[errors.rate_limit_exceeded]\nstatus = 400\n");
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].to_string().starts_with(
                "t.toml:2:10: entry \"rate_limit_exceeded\": status 400 makes its retry class"
            ),
            "{told:?}"
        );
        for fine in [
            "[errors.rate_limit_exceeded]\nstatus = 400\nretry = 'after'\n",
            "[errors.rate_limit_exceeded]\nretry = 'backoff'\n",
            "[errors.service_unavailable]\nstatus = 502\n",
            // Its class is its own, not its status's.
            "[errors.idempotency_key_in_use]\nstatus = 423\n",
            "[errors.not_found]\nretry = 'never'\n",
            "[errors.my_limit]\nstatus = 429\ntitle = 'T'\nmessage = 'M'\nretry = 'never'\n",
        ] {
            assert_eq!(linted(fine), [], "{fine}");
        }
    }

    /// Every error sends `docs_url` as a link clients and pages follow:
    /// only an http(s) URL or a relative reference, never a scheme that
    /// runs or embeds something (`javascript:`, `data:`).
    #[test]
    fn a_docs_url_is_http_or_relative() {
        for url in [
            "/errors",
            "errors",
            "../docs/errors",
            "//docs.example.com/errors",
            "https://docs.example.com/errors",
            "http://localhost:8080/errors?v=2",
            "/errors?next=a:b",
            "",
        ] {
            assert_eq!(errors(&format!("docs_url = '{url}'\n")), [""; 0], "{url}");
        }
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "ftp://docs.example.com/errors",
            "coap+tcp://[::1]/e",
            "mailto:a@b.example",
            "https:/errors",
            "https:errors",
            "https://",
            "http:///errors",
        ] {
            let e = errors(&format!("docs_url = '{url}'\n"));
            assert_eq!(e.len(), 1, "{url}: {e:?}");
            assert!(
                e[0].starts_with(
                    "t.toml:1:12: docs_url must be an absolute http:// or https:// URL"
                ),
                "{e:?}"
            );
        }
        let mut catalog = Catalog::builtin();
        assert!(catalog.set_docs_url("javascript:alert(1)").is_err());
        assert_eq!(catalog.docs_url(), DEFAULT_DOCS_URL);
    }

    /// Set in code, `docs_url` and `domain` are checked as a file's are,
    /// and a refused value leaves the catalog as it was.
    #[test]
    fn settings_set_in_code_are_checked_as_a_files_are() {
        let mut catalog = Catalog::builtin();
        let (url, domain) = (catalog.docs_url().to_owned(), catalog.domain().to_owned());
        for bad in [
            "https://x.example/errors#top",
            "https://x .example",
            "/e?%zz",
        ] {
            let e = catalog.set_docs_url(bad).unwrap_err();
            assert!(e.to_string().starts_with("<code>: docs_url must be"), "{e}");
            assert_eq!(catalog.docs_url(), url);
        }
        for bad in ["", "  ", "api.example.com\n", "api\u{2028}example"] {
            let e = catalog.set_domain(bad).unwrap_err();
            assert!(e.to_string().starts_with("<code>: domain "), "{e}");
            assert_eq!(catalog.domain(), domain);
        }
        catalog.set_docs_url("http://[::1]:8080/errors").unwrap();
        catalog.set_domain("api.example.com").unwrap();
        assert_eq!(catalog.docs_url(), "http://[::1]:8080/errors");
        assert_eq!(catalog.domain(), "api.example.com");
    }

    /// A title is one line, and no catalog text holds a separator that
    /// breaks a line where tools do not look for one, or a mark that makes
    /// it read other than it is.
    #[test]
    fn separators_and_reordering_marks_are_refused_in_text() {
        let marks = [
            ('\u{2028}', "a line separator (U+2028)"),
            ('\u{2029}', "a paragraph separator (U+2029)"),
            ('\u{202d}', "a direction override (U+202D)"),
            ('\u{202e}', "a direction override (U+202E)"),
        ];
        for (mark, named) in marks {
            let escaped = format!("\\u{:04X}", u32::from(mark));
            let e = errors(&format!(
                "[errors.abc]\nstatus = 400\ntitle = \"a{escaped}b\"\nmessage = 'm'\n"
            ));
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(
                e[0].starts_with("t.toml:3:9: entry \"abc\": title has ") && e[0].contains(named),
                "{e:?}"
            );
            for (line, key) in [(4, "message"), (5, "hint"), (6, "remedy")] {
                let mut fields = ["'m'", "'h'", "'r'"].map(str::to_owned);
                fields[line - 4] = format!("\"x{escaped}y\"");
                let e = errors(&format!(
                    "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = {}\nhint = {}\nremedy = {}\n",
                    fields[0], fields[1], fields[2]
                ));
                assert_eq!(e.len(), 1, "{e:?}");
                let at = format!("t.toml:{line}:{}: entry \"abc\": {key} has ", key.len() + 4);
                assert!(e[0].starts_with(&at) && e[0].contains(named), "{e:?}");
            }
            assert!(crate::has_stray_control(&format!("a{mark}b")));
        }
        // Other characters of other scripts stay, right-to-left ones too,
        // with the marks and isolates that keep a code or a number in its
        // place among them.
        let text = "[errors.abc]\nstatus = 400\ntitle = 'שגיאה – é\u{200f}'\n\
                    message = 'المفتاح \u{2068}{key}\u{2069} غير صالح\u{200e}'\ndetails = ['key']\n";
        assert_eq!(errors(text), [""; 0]);
    }

    #[test]
    fn a_domain_is_a_name_on_one_line() {
        for (domain, problem) in [
            ("''", "domain is empty"),
            ("'  '", "domain is empty"),
            ("\"api\\n.example\"", "domain has a control character"),
            ("\"api\\u0000\"", "domain has a control character"),
            (
                "\"api\\u202E.example\"",
                "domain has a direction override (U+202E)",
            ),
        ] {
            let e = errors(&format!("domain = {domain}\n"));
            assert_eq!(e.len(), 1, "{domain}: {e:?}");
            assert!(
                e[0].starts_with("t.toml:1:10: ") && e[0].contains(problem),
                "{domain}: {e:?}"
            );
        }
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml("t.toml", "domain = 'api.example.com'\n")
            .unwrap();
        assert_eq!(catalog.domain(), "api.example.com");
    }

    #[test]
    fn a_mistake_in_one_entry_does_not_hide_the_others() {
        // A wrong type, an unknown field and a value out of range, each in
        // its own entry, and a key the file itself does not know: all told,
        // in the entry each is in, with the entries that read well checked.
        let e = errors(
            "color = 'red'
             [errors.abc]
status = 400
title = 't'
message = 'm'
kind = 'nonsense'
             [errors.abd]
status = 400
title = 't'
mesage = 'm'
             [errors.abe]
status = 700
title = 't'
message = 'm'
             [errors.abf]
status = 'a lot'
",
        );
        // In the order of the file; a new entry that lacks a field is told
        // so beside the mistake in the fields it has.
        let expected = [
            "t.toml:1:1: unknown field `color`, expected one of `docs_url`, `domain`, `errors`",
            "t.toml:6:8: entry \"abc\": unknown variant `nonsense`",
            "t.toml:7:14: entry \"abd\": a new entry needs message",
            "t.toml:10:1: entry \"abd\": unknown field `mesage`",
            "t.toml:12:10: entry \"abe\": status 700 is outside 400–599",
            "t.toml:15:14: entry \"abf\": a new entry needs title, message",
            "t.toml:16:10: entry \"abf\": invalid type: string \"a lot\"",
        ];
        assert_starts(&e, &expected);

        // The file's own settings likewise: each mistake told, and those
        // that read checked (a domain on two lines).
        let e = errors(
            "doc_url = 'x'\ndomian = 'y'\ndocs_url = 5\ndomain = \"a\\nb\"\n\
             [error.abc]\nstatus = 400\n",
        );
        let expected = [
            "t.toml:1:1: unknown field `doc_url`, expected one of `docs_url`, `domain`, `errors` (did you mean `docs_url`?)",
            "t.toml:2:1: unknown field `domian`",
            "t.toml:3:12: invalid type: integer `5`",
            "t.toml:4:10: domain has a control character",
            "t.toml:5:2: unknown field `error`",
        ];
        assert_starts(&e, &expected);

        // `errors` that is not a table, and an entry that is not one.
        let e = errors(
            "errors = 5
",
        );
        assert_eq!(
            e,
            [
                "t.toml:1:10: invalid type: integer `5`, expected a table of entries, one `[errors.CODE]` each"
            ]
        );
        let e = errors(
            "[errors]
abc = [1]
abd = { status = 600, title = 't', message = 'm' }
",
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:2:7: entry \"abc\": invalid type: sequence"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("t.toml:3:18: entry \"abd\": status 600"),
            "{e:?}"
        );

        // An entry whose fields are not all read is told each one that is
        // not, at its place: a wrong type, an unknown field, a wrong name.
        let e = errors(
            "[errors.abc]\nstatus = '400'\ntitle = 't'\nmessage = 'm'\ncolour = 1\n\
             retry = 'sometimes'\nkind = 'weird'\naliases = { nope = 'x' }\n",
        );
        let expected = [
            "t.toml:2:10: entry \"abc\": invalid type: string \"400\"",
            "t.toml:5:1: entry \"abc\": unknown field `colour`",
            "t.toml:6:9: entry \"abc\": unknown variant `sometimes`",
            "t.toml:7:8: entry \"abc\": unknown variant `weird`",
            "t.toml:8:13: entry \"abc\": unknown variant `nope`",
        ];
        assert_starts(&e, &expected);

        // An entry that cannot be built is told every reason.
        let e = errors("[errors.abc]\nstatus = 700\nmessage = 'x {y'\nhint = '{'\n");
        let expected = [
            "t.toml:1:1: entry \"abc\": a new entry needs title",
            "t.toml:2:10: entry \"abc\": status 700 is outside 400–599",
            "t.toml:3:14: entry \"abc\": message template: unclosed",
            "t.toml:4:9: entry \"abc\": hint template: unclosed",
        ];
        assert_starts(&e, &expected);

        // And the mistakes of the fields it could read along with them, not
        // once those are put right; a field that could not be read is told
        // once (its title missing, not also empty).
        let e = errors(
            "[errors.Bad_Code]\nstatus = 99\ntitle = ''\nmessage = 'x {y'\nhint = '{z}'\n\
             [errors.abd]\nstatus = 600\nmessage = 'x {y}'\n\
             [errors.not_found]\nmessage = '{'\ndetails = []\ntitle = ' '\n",
        );
        let expected = [
            "t.toml:1:1: entry \"Bad_Code\": code must be snake_case",
            "t.toml:2:10: entry \"Bad_Code\": status 99 is outside 400–599",
            "t.toml:3:9: entry \"Bad_Code\": title is empty",
            "t.toml:4:14: entry \"Bad_Code\": message template: unclosed",
            "t.toml:5:9: entry \"Bad_Code\": hint placeholder {z} is not a documented details key",
            "t.toml:6:1: entry \"abd\": a new entry needs title",
            "t.toml:7:10: entry \"abd\": status 600 is outside 400–599",
            "t.toml:8:14: entry \"abd\": message placeholder {y} is not a documented details key",
            "t.toml:10:12: entry \"not_found\": message template: unclosed",
            "t.toml:12:9: entry \"not_found\": title is empty",
        ];
        assert_starts(&e, &expected);
        // A message is said empty as a title is.
        let e = errors("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = ' '\n");
        assert_starts(&e, &["t.toml:4:11: entry \"abc\": message is empty"]);

        // So are the mistakes of the fields that read, in an entry some of
        // whose fields do not: its code, a field it lacks, a title on two
        // lines. A field that did not read is not also told missing, and a
        // placeholder is not checked against `details` that did not read.
        let e = errors(
            "[errors.Bad_Code]\nstatus = '400'\ntitle = \"two\\nlines\"\n\
             [errors.abd]\nstatus = 400\ntitle = 't'\nmessage = 'x {y}'\ndetails = 'y'\n\
             [errors.abe]\nstatus = 400\ntitle = 't'\nmessage = 'x {y}'\nretry = 'often'\n",
        );
        let expected = [
            "t.toml:1:1: entry \"Bad_Code\": a new entry needs message",
            "t.toml:1:1: entry \"Bad_Code\": code must be snake_case",
            "t.toml:2:10: entry \"Bad_Code\": invalid type: string \"400\"",
            "t.toml:3:9: entry \"Bad_Code\": title has a control character",
            "t.toml:8:11: entry \"abd\": invalid type: string \"y\"",
            "t.toml:12:14: entry \"abe\": message placeholder {y} is not a documented details key",
            "t.toml:13:9: entry \"abe\": unknown variant `often`",
        ];
        assert_starts(&e, &expected);

        // Nothing is loaded while any entry is wrong.
        let mut catalog = Catalog::builtin();
        let before = catalog.iter().count();
        let text = "[errors.fine]
status = 400
title = 't'
message = 'm'
[errors.bad]
status = 'x'
";
        assert!(catalog.load_toml("t.toml", text).is_err());
        assert_eq!(catalog.iter().count(), before);
        assert!(catalog.get("fine").is_none());
    }

    #[test]
    fn problems_are_located() {
        let e = errors("\n[errors.abc]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n");
        assert_eq!(
            e,
            ["t.toml:3:10: entry \"abc\": status 600 is outside 400–599"]
        );

        // A problem with one key of an entry is located at its value,
        // however the key is written.
        let e = errors("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'x {y}'\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("t.toml:4:14: entry \"abc\": message placeholder {y}"),
            "{e:?}"
        );
        let e = errors("[errors.abc]\nstatus = 400\ntitle = 't'\n\"message\" = 'x {y}'\n");
        assert!(e[0].starts_with("t.toml:4:16: entry \"abc\""), "{e:?}");
        let e = errors("[errors]\nabc = { status = 400, title = 't', message = 'x {y}' }\n");
        assert!(e[0].starts_with("t.toml:2:49: entry \"abc\""), "{e:?}");
        let e = errors("[errors.conflict]\ntitle = 'T'\naliases.google = 'bad'\n");
        assert!(
            e[0].starts_with("t.toml:3:1: entry \"conflict\": alias"),
            "{e:?}"
        );
        let e =
            errors("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n  details = ['a b']\n");
        assert!(
            e[0].starts_with("t.toml:5:13: entry \"abc\": details key"),
            "{e:?}"
        );
        let e = errors(
            "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n[errors.abc.aliases]\ngoogle = 'x'\n",
        );
        assert!(
            e[0].starts_with("t.toml:5:1: entry \"abc\": alias"),
            "{e:?}"
        );
        // Two entries, one alias: the clash is told at the entry's aliases.
        let e = errors(
            "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\naliases = { coded = 'X' }\n\
             [errors.abd]\nstatus = 400\ntitle = 't'\nmessage = 'm'\naliases = { coded = 'X' }\n",
        );
        assert!(e.iter().all(|e| e.contains("also")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.toml:5:11:") || e.starts_with("t.toml:10:11:")),
            "{e:?}"
        );
        // A key the entry keeps from the one it overrides (the built-in
        // message's {limit}): the entry itself.
        let e = errors("[errors.rate_limit_exceeded]\ndetails = []\n");
        assert!(e[0].starts_with("t.toml:1:1:"), "{e:?}");
        assert!(e[0].contains("message placeholder {limit}"), "{e:?}");
        // Message-only values document placeholders too; a key cannot be
        // both sent and not, and is named like a detail.
        let ok = "[errors.rate_limit_exceeded]\ndetails = []\nmessage_only = ['limit', 'window']\n";
        assert!(Catalog::from_toml("t.toml", ok).is_ok());
        let e = errors("[errors.rate_limit_exceeded]\nmessage_only = ['limit', 'a b']\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.toml:2:16:") && e.contains("\"limit\" is in both")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.contains("message_only key \"a b\" must be")),
            "{e:?}"
        );

        // Columns count characters, as editors do.
        let e = errors("[errors.abc]\ntitle = 'éééé' ; status = 400\n");
        assert!(e[0].starts_with("t.toml:2:16:"), "{e:?}");

        let e = errors("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'x {y'\n");
        assert!(
            e[0].starts_with("t.toml:4:14: entry \"abc\": message template: unclosed"),
            "{e:?}"
        );

        let e = errors("[errors.abc]\nstatus = 400\n[errors.abc]\ntitle = 't'\n");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
        assert!(e[0].contains("duplicate"), "{e:?}");
        // A key given twice, and a field no entry has, name the key and the entry.
        let e = errors("[errors.abc]\nstatus = 400\ntitle = 't'\nstatus = 401\n");
        assert_eq!(e, ["t.toml:4:1: entry \"abc\": duplicate key `status`"]);
        // A line of a multi-line string that looks like a header is text.
        for quotes in ["'''", "\"\"\""] {
            let e = errors(&format!(
                "[errors.abc]\nstatus = 400\nmessage = {quotes}\n[errors.zzz]\n{quotes}\nstatus = 401\n"
            ));
            assert_eq!(e, ["t.toml:6:1: entry \"abc\": duplicate key `status`"]);
        }
        let e = errors("[errors.abc.aliases]\ncoded = 'A'\ncolour = 'x'\n");
        assert_starts(
            &e,
            &[
                "t.toml:1:9: entry \"abc\": a new entry needs status, title, message",
                "t.toml:3:1: entry \"abc\": unknown variant `colour`",
            ],
        );

        let e = errors("[errors.abc]\nstatus = 400\n");
        assert!(e[0].contains("a new entry needs title, message"), "{e:?}");

        let e = errors("[errors.abc]\nstatus = 400\ntitle='t'\nmessage='m'\ndetails=['status']\n");
        assert!(
            e[0].contains("details key \"status\" collides with a member of the problem"),
            "{e:?}"
        );

        let e = errors("[errors.abc]\nstatus = 400\ntitle='t'\nmessage='m'\nflavour='x'\n");
        assert!(
            e[0].starts_with("t.toml:5:1:") && e[0].contains("unknown field"),
            "{e:?}"
        );

        let e = errors("[errors.abc]\nstatus = 400\ntitle = \"t\\tx\\ny\"\nmessage = 'm'\n");
        assert!(e[0].contains("title has a control character"), "{e:?}");
        let e = errors(
            "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = \"a\\u001b[2Jb\"\nremedy = \"x\\u0007\"\n",
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:4:11:") && e[0].contains("message has a control"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("t.toml:5:10:") && e[1].contains("remedy has a control"),
            "{e:?}"
        );
        assert!(
            Catalog::from_toml(
                "t.toml",
                "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = \"a\\n\\tb\"\n"
            )
            .is_ok()
        );

        let e = errors("[errors.abc]\nstatus = 400\ntitle='t'\nmessage='m'\ndetails=['a b']\n");
        assert!(
            e[0].contains("details key \"a b\" must be [a-z][A-Za-z0-9_]+"),
            "{e:?}"
        );
        // Sent as google's `ErrorInfo.metadata` keys: AIP-193's rule.
        for key in ["n", "Max_Pages", &"x".repeat(65)] {
            let e = errors(&format!(
                "[errors.abc]\nstatus = 400\ntitle='t'\nmessage='m'\ndetails=['{key}']\n"
            ));
            assert_eq!(e.len(), 1, "{key}: {e:?}");
        }
        // A message-only value is never sent: any placeholder name will do.
        let source = "[errors.abc]\nstatus = 400\ntitle='t'\nmessage='{N}'\nmessage_only=['N']\n";
        assert_eq!(errors(source), [""; 0]);

        let e = errors("[errors.Bad]\nstatus = 400\ntitle='t'\nmessage='m'\n");
        assert!(e[0].contains("snake_case"), "{e:?}");
        // Every code is, upper-cased, an AIP-193 reason for the google
        // dialect; a google alias is one.
        let long = "a".repeat(64);
        for code in ["ab", "quota_", long.as_str()] {
            let e = errors(&format!(
                "[errors.{code}]\nstatus = 400\ntitle='t'\nmessage='m'\n"
            ));
            assert!(
                e.len() == 1 && e[0].contains("3 to 63 characters"),
                "{code}: {e:?}"
            );
        }
        assert_eq!(
            errors("[errors.abc]\nstatus = 400\ntitle='t'\nmessage='m'\n"),
            [""; 0]
        );
        for alias in ["gone", "GONE_", "GONE-AWAY", "GO"] {
            let e = errors(&format!("[errors.conflict.aliases]\ngoogle = '{alias}'\n"));
            assert!(
                e.len() == 1 && e[0].contains("an AIP-193 reason"),
                "{alias}: {e:?}"
            );
        }
        assert_eq!(
            errors("[errors.conflict.aliases]\ngoogle = 'GONE'\n"),
            [""; 0]
        );

        // What the file should hold, in the file's terms (not the loader's types).
        let e = errors("[errors.abc]\nstatus = 'x'\ntitle = 't'\nmessage = 'm'\n");
        assert!(
            e[0].ends_with("expected an HTTP status code from 400 to 599"),
            "{e:?}"
        );
        let e = errors("[errors.abc]\nstatus = 99999999999999999999\ntitle = 't'\nmessage = 'm'\n");
        assert!(
            e[0].ends_with("status 99999999999999999999 is outside 400–599"),
            "{e:?}"
        );
        let e = errors("errors = 5\n");
        assert!(
            e[0].ends_with("expected a table of entries, one `[errors.CODE]` each"),
            "{e:?}"
        );
        let e = errors("[errors]\nfoo = 5\n");
        assert_eq!(
            e,
            [
                "t.toml:2:7: entry \"foo\": invalid type: integer `5`, expected an entry's table of fields (`status`, `title`, `message`, …)"
            ]
        );
    }

    /// An undocumented placeholder in a hint is located at its brace, as
    /// one in a message is, not at the start of the hint's value.
    #[test]
    fn a_hint_placeholder_problem_is_located_at_its_brace() {
        let e =
            errors("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\nhint = 'Try {x}'\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:5:13: entry \"abc\": hint placeholder {x}"),
            "{e:?}"
        );
    }

    #[test]
    fn an_entry_is_a_table_never_an_array_of_its_fields() {
        // Every field, in the order the entry declares them: a table's
        // values by position, which no catalog means.
        let e =
            errors("[errors]\nabc = [400, 't', 'm', 'h', 'r', 'never', 'internal', {}, [], []]\n");
        assert_eq!(
            e,
            [
                "t.toml:2:7: entry \"abc\": invalid type: sequence, expected an entry's table of fields (`status`, `title`, `message`, …)"
            ]
        );
        let e = errors("[[errors.abc]]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].ends_with("invalid type: sequence, expected an entry's table of fields (`status`, `title`, `message`, …)"),
            "{e:?}"
        );
    }

    #[test]
    fn a_parse_error_without_a_span_is_located_at_its_line() {
        // The parser tells a key of too many dotted parts without saying
        // where: it is not on the first line.
        let deep = ".a".repeat(100);
        let source = format!(
            "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n\n[errors.abd{deep}]\nx = 1\n"
        );
        let e = errors(&source);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:6:1: entry \"abd\": recursion limit"),
            "{e:?}"
        );
        // A dotted key of a table's own, after a multi-line string.
        let source = format!("[errors.abc]\nmessage = '''\none\ntwo'''\nstatus{deep} = 400\n");
        let e = errors(&source);
        assert!(
            e[0].starts_with("t.toml:5:1: entry \"abc\": recursion limit"),
            "{e:?}"
        );
    }

    /// A parse error told without a span on a file's last line, which ends
    /// without a line break, is located at that line and names its entry,
    /// not the start of the file.
    #[test]
    fn a_parse_error_without_a_span_on_an_unended_last_line_is_located_there() {
        let deep = ".a".repeat(100);
        let source =
            format!("[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n\n[errors.abd{deep}]");
        let e = errors(&source);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:6:1: entry \"abd\": recursion limit"),
            "{e:?}"
        );
    }

    #[test]
    fn a_template_error_is_located_at_its_brace() {
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\n";
        let unclosed =
            "template: unclosed placeholder: no `}` ends it (write {{ for a literal brace)";
        // In a multi-line string: past the opening delimiter and the line
        // break trimmed after it, whatever the line breaks are.
        for quotes in ["'''", "\"\"\""] {
            for nl in ["\n", "\r\n"] {
                let e = errors(&format!(
                    "{entry}message = {quotes}{nl}line one{nl}x {{y{quotes}\n"
                ));
                assert_eq!(
                    e,
                    [format!("t.toml:6:3: entry \"abc\": message {unclosed}")]
                );
            }
        }
        let e = errors(&format!("{entry}message = 'm'\nhint = '''a\n}}'''\n"));
        assert_eq!(
            e,
            [
                "t.toml:6:1: entry \"abc\": hint template: unmatched } (write }} for a literal brace)"
            ]
        );
        // Escapes and line-ending backslashes of a basic string are read as
        // the value is; literal braces are text.
        let e = errors(&format!(
            "{entry}message = \"\"\"\nline \\\"one\\\"\\t\nx \\u00e9 {{{{ \\x41 {{y\"\"\"\n"
        ));
        assert_eq!(
            e,
            [format!("t.toml:6:18: entry \"abc\": message {unclosed}")]
        );
        let e = errors(&format!("{entry}message = \"\"\"a \\\n\n   b }}\"\"\"\n"));
        assert!(
            e[0].starts_with("t.toml:6:6: entry \"abc\": message template: unmatched }"),
            "{e:?}"
        );
        let e = errors(&format!("{entry}message = \"\"\"a\\\n  }}\"\"\"\n"));
        assert!(
            e[0].starts_with("t.toml:5:3: entry \"abc\": message template: unmatched }"),
            "{e:?}"
        );
        let e = errors(&format!("{entry}message = \"\"\"\\u007B\"\"\"\n"));
        assert_eq!(
            e,
            [format!("t.toml:4:14: entry \"abc\": message {unclosed}")]
        );
        // In a string on one line, literal or basic: at the brace too,
        // through a basic string's escapes (a literal one's backslash is
        // text), counting characters, a tab as one; the message tells no
        // byte.
        let unmatched = "template: unmatched } (write }} for a literal brace)";
        for (value, column, reason) in [
            (r#"'x {y'"#, 14, unclosed),
            (r#""x {y""#, 14, unclosed),
            (r#""\"é\" \u00e9\t{{ {y""#, 29, unclosed),
            (r#"'a\t{y'"#, 15, unclosed),
            ("'é\té {y'", 16, unclosed),
            (r#""a \u007D""#, 14, unmatched),
            (r#""}}}""#, 14, unmatched),
        ] {
            let e = errors(&format!("{entry}message = {value}\n"));
            assert_eq!(
                e,
                [format!(
                    "t.toml:4:{column}: entry \"abc\": message {reason}"
                )],
                "{value}"
            );
        }
        let e = errors(&format!("{entry}message = 'm'\nhint = \"see {{é}}\"\n"));
        let invalid = "template: invalid placeholder: its name is letters, digits and `_` \
                       (write {{ for a literal brace)";
        assert_eq!(e, [format!("t.toml:5:13: entry \"abc\": hint {invalid}")]);
        let e = errors("[errors]\nabc = { status = 400, title = 't', message = 'x {}' }\n");
        assert_eq!(
            e,
            ["t.toml:2:49: entry \"abc\": message template: empty placeholder {}"]
        );
        // A placeholder no key documents: at its brace, each time it is told.
        let e = errors(&format!(
            "{entry}message = '''\n{{{{y}}}} {{x}}\nthen {{y}} and {{y}}'''\n"
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:5:7: entry \"abc\": message placeholder {x}"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("t.toml:6:6: entry \"abc\": message placeholder {y}"),
            "{e:?}"
        );
        let e = errors(&format!(
            "{entry}message = 'm'\nhint = \"\"\"\\tsee {{é}}\"\"\""
        ));
        assert!(
            e[0].starts_with("t.toml:5:17: entry \"abc\": hint template"),
            "{e:?}"
        );
    }

    /// Every escape a basic string can write is read as the one character
    /// it is, so that a template error after it is still located at its
    /// brace, not at the start of the value.
    #[test]
    fn a_template_error_after_any_escape_is_located_at_its_brace() {
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\n";
        let unclosed =
            "template: unclosed placeholder: no `}` ends it (write {{ for a literal brace)";
        for escape in [
            r"\b",
            r"\t",
            r"\n",
            r"\f",
            r"\r",
            r"\e",
            r#"\""#,
            r"\\",
            r"\x41",
            r"\u00e9",
            r"\U0001F600",
        ] {
            let e = errors(&format!("{entry}message = \"{escape} {{y\"\n"));
            let column = "message = \"".len() + escape.len() + 2;
            assert_eq!(
                e,
                [format!(
                    "t.toml:4:{column}: entry \"abc\": message {unclosed}"
                )],
                "{escape}"
            );
        }
    }

    /// A file that does not parse names the entry the error is in, even
    /// when other entries follow it, and when the error is at the very end
    /// of the file.
    #[test]
    fn a_parse_error_names_its_entry_not_a_later_one() {
        let e = errors("[errors.abc]\nstatus = = 1\n\n[errors.abd]\nstatus = 400\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:2:10: entry \"abc\": "), "{e:?}");
        let e = errors("[errors.abc]\nstatus =");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:2:9: entry \"abc\": "), "{e:?}");
    }

    /// Only a table under `errors` is an entry: a parse error in another
    /// table names no entry.
    #[test]
    fn a_parse_error_outside_errors_names_no_entry() {
        let e = errors("[other.abc]\nx = = 1\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:2:5: "), "{e:?}");
        assert!(!e[0].contains("entry"), "{e:?}");
    }

    /// A code's underscores and hyphens are part of its bare key: a file
    /// that does not parse names the whole code.
    #[test]
    fn a_parse_error_names_a_code_with_underscores_and_hyphens_whole() {
        for (source, at, code) in [
            (
                "[errors.rate_limit_exceeded]\nstatus = = 1\n",
                "2:10",
                "rate_limit_exceeded",
            ),
            ("[errors.rate-limit]\nstatus = = 1\n", "2:10", "rate-limit"),
            (
                "[errors]\nrate_limit = { status = = 1 }\n",
                "2:25",
                "rate_limit",
            ),
            ("errors.rate_limit.status = = 1\n", "1:28", "rate_limit"),
        ] {
            let e = errors(source);
            assert_eq!(e.len(), 1, "{source}: {e:?}");
            assert!(
                e[0].starts_with(&format!("t.toml:{at}: entry {code:?}: ")),
                "{source}: {e:?}"
            );
        }
    }

    /// A header or a statement whose key is left empty names no entry,
    /// not one with an empty code.
    #[test]
    fn a_parse_error_at_an_empty_key_names_no_entry() {
        for source in [
            "[errors.]\nstatus = 400\n",
            "[errors]\n= 1\n",
            "errors. = 1\n",
        ] {
            let e = errors(source);
            assert_eq!(e.len(), 1, "{source}: {e:?}");
            assert!(!e[0].contains("entry"), "{source}: {e:?}");
        }
    }

    #[test]
    fn a_problem_in_an_inline_entry_names_it() {
        let e = errors("[errors]\nabc = { status = 400, status = 401 }\n");
        assert_eq!(e, ["t.toml:2:23: entry \"abc\": duplicate key `status`"]);
        let e = errors("[errors]\n\"abc\" = { status = 400, status = 401 }\n");
        assert_eq!(e, ["t.toml:2:25: entry \"abc\": duplicate key `status`"]);
        // Over lines, after another entry, behind strings and comments that
        // look like keys and tables.
        let e = errors(
            "[errors]\nabc = { title = 'x = { [y] # z', message = \"\"\"\nabd = {\"\"\" }\nabd = { status = 400, # a\n  title = \"'\", status = 401 }\n",
        );
        assert_eq!(e, ["t.toml:5:16: entry \"abd\": duplicate key `status`"]);
        let e =
            errors("[errors]\nabc = { status = 400, title = 't', message = 'm', flavour = 1 }\n");
        assert!(
            e[0].starts_with("t.toml:2:51: entry \"abc\": unknown field `flavour`"),
            "{e:?}"
        );
        // An entry given twice is the second one's problem.
        let e = errors("[errors]\nabc = {}\nabd = {}\nabc = {}\n");
        assert_eq!(e, ["t.toml:4:1: entry \"abc\": duplicate key `abc`"]);
    }

    /// A comment is skipped to its line's end, wherever on its line it
    /// starts: an entry after it is still found.
    #[test]
    fn a_parse_error_after_a_comment_names_its_entry() {
        let e = errors("docs_url = '/e' # the reference\n[errors.abc]\nstatus = = 1\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:3:10: entry \"abc\": "), "{e:?}");
    }

    /// The one error of a file whose entry `abc` is `{ fields }` and whose
    /// next entry, `abd`, is broken: it names `abd`, so reading `abc`'s
    /// strings ended where they end.
    fn only_the_next_entry_is_broken(fields: &str) {
        let source = format!("[errors]\nabc = {{ {fields} }}\nabd = {{ status = = 1 }}\n");
        let e = errors(&source);
        assert_eq!(e.len(), 1, "{source}: {e:?}");
        let at = "t.toml:3:18: entry \"abd\": ";
        assert!(e[0].starts_with(at), "{source}: {e:?}");
    }

    /// A backslash escapes only in a basic string: a literal string may
    /// end with one, and an escaped quote does not end a basic string.
    /// Misread, the rest of the line would hide the inline table's end.
    #[test]
    fn backslashes_in_strings_hide_no_later_entry() {
        for title in ["'C:\\'", "\"a long title with \\\" in it\""] {
            only_the_next_entry_is_broken(&format!("title = {title}, message = 'm'"));
        }
    }

    /// One or two quotes inside a multi-line string are its text, not its
    /// end, and reading goes on after them to the closing three.
    #[test]
    fn quotes_inside_a_multi_line_string_hide_no_later_entry() {
        for message in ["'''two ''quotes'' here'''", "\"\"\"it's \"so\" \"\"\""] {
            only_the_next_entry_is_broken(&format!("title = 't', message = {message}"));
        }
    }

    #[test]
    fn dotted_and_quoted_keys_name_their_entry() {
        for (source, at, key) in [
            (
                "errors.abc.status = 400\nerrors.abc.status = 401\n",
                "2:12",
                "status",
            ),
            (
                "[errors]\nabc.status = 400\nabc . status = 401\n",
                "3:7",
                "status",
            ),
            (
                "[errors.\"abc\"]\nstatus = 400\nstatus = 401\n",
                "3:1",
                "status",
            ),
            (
                "[errors.'abc']\nstatus = 400\nstatus = 401\n",
                "3:1",
                "status",
            ),
            (
                "[ errors . abc ] # x\nstatus = 400\nstatus = 401\n",
                "3:1",
                "status",
            ),
            (
                "[errors.abc.aliases]\ncoded = 'X'\ncoded = 'Y'\n",
                "3:1",
                "coded",
            ),
        ] {
            let e = errors(source);
            assert_eq!(
                e,
                [format!("t.toml:{at}: entry \"abc\": duplicate key `{key}`")]
            );
        }
        let e = errors("errors.abc.status = 400\nerrors.abc.flavour = 401\n");
        assert_starts(
            &e,
            &[
                "t.toml:1:8: entry \"abc\": a new entry needs title, message",
                "t.toml:2:12: entry \"abc\": unknown field `flavour`",
            ],
        );
        // Named as the file writes them, as problems of a file that parses are.
        for (header, code) in [
            ("[errors.\"quoted code\"]", "quoted code"),
            ("[errors.\"a.b\"]", "a.b"),
            ("[errors.\"caf\\u00e9\"]", "café"),
            ("[errors.'ü']", "ü"),
        ] {
            let e = errors(&format!("{header}\nstatus = 400\nstatus = 401\n"));
            assert_eq!(
                e,
                [format!(
                    "t.toml:3:1: entry {code:?}: duplicate key `status`"
                )]
            );
        }
        // A header the parser refuses names no entry, rather than part of one.
        let e = errors("[errors.café]\nstatus = 400\n");
        assert!(
            e[0].starts_with("t.toml:1:12: invalid unquoted key"),
            "{e:?}"
        );
        // A problem in a header is its entry's.
        let e = errors("[errors.abc]\nstatus = 400\n[errors.abc]\n");
        assert_eq!(e, ["t.toml:3:9: entry \"abc\": duplicate key `abc`"]);
        let e = errors("[errors]\nabc = { status = 400 }\n[errors.abc.aliases]\ncoded = 'X'\n");
        assert!(
            e[0].starts_with("t.toml:3:9: entry \"abc\": cannot extend"),
            "{e:?}"
        );
        // A line of an array that starts with `[` is no header.
        let e = errors("[errors.abc]\ndetails = [\n['x'],\n]\nstatus = 400\nstatus = 401\n");
        assert_eq!(e, ["t.toml:6:1: entry \"abc\": duplicate key `status`"]);
        // A dotted key of too many parts, which the parser tells without a place.
        let deep = ".a".repeat(100);
        let e = errors(&format!("docs_url = '/e'\nerrors.abd{deep} = 1\n"));
        assert!(
            e[0].starts_with("t.toml:2:1: entry \"abd\": recursion limit"),
            "{e:?}"
        );
    }

    /// An alias outside the google dialect is sent as a code as it is:
    /// one word of letters, digits and `_.:-`, never empty.
    #[test]
    fn an_alias_outside_google_is_one_word_of_code_characters() {
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n";
        for alias in ["a b", "", "x/y", "café"] {
            let e = errors(&format!("{entry}aliases = {{ coded = '{alias}' }}\n"));
            assert_eq!(
                e,
                [format!(
                    "t.toml:5:11: entry \"abc\": alias {alias:?} for coded must be [A-Za-z0-9_.:-]+"
                )]
            );
        }
        let ok = format!("{entry}aliases = {{ coded = 'Rate.Limit:x-1_a', flat = 'ABC' }}\n");
        assert_eq!(errors(&ok), [""; 0]);
    }

    /// A new entry whose code is one slip from an existing code is likely
    /// meant to override it: it is told that code.
    #[test]
    fn a_misspelled_override_is_told_the_code_likely_meant() {
        let e = errors("[errors.insuficient_credits]\nmessage = 'Top up.'\n");
        assert_eq!(
            e,
            [
                "t.toml:1:1: entry \"insuficient_credits\": a new entry needs status, title \
              (did you mean `insufficient_credits`?)"
            ]
        );
        let far = errors("[errors.order_rejected]\nmessage = 'No.'\n");
        assert_eq!(
            far,
            ["t.toml:1:1: entry \"order_rejected\": a new entry needs status, title"]
        );
    }

    /// A dialect is named in any case, as on the command line; a slip of
    /// the keys is told the name likely meant.
    #[test]
    fn an_aliass_dialect_is_named_in_any_case() {
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n";
        let mut catalog = Catalog::builtin();
        let source = format!("{entry}aliases = {{ Coded = 'ABC' }}\n");
        catalog.load_toml("t.toml", &source).unwrap();
        assert_eq!(catalog.get("abc").unwrap().wire_code(Dialect::Coded), "ABC");
        let twice = errors(&format!(
            "{entry}aliases = {{ stripe = 'abc', Stripe = 'abd' }}\n"
        ));
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert!(
            twice[0].contains("the dialect `stripe` is named twice (names are read in any case)"),
            "{twice:?}"
        );
        let e = errors(&format!("{entry}aliases = {{ Coeded = 'ABC' }}\n"));
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("unknown variant `Coeded`"), "{e:?}");
        assert!(e[0].contains("did you mean `coded`?"), "{e:?}");
    }

    /// `sent_in` names the dialect an entry is written in where the API
    /// answers in another, each named in any case, the value too; a dialect
    /// named twice, or one that is none, is told where.
    #[test]
    fn an_entry_is_sent_in_another_dialect_where_the_api_answers_in_one() {
        let mut catalog = Catalog::builtin();
        let source =
            "[errors.rate_limit_exceeded]\nsent_in = { detail = 'Coded', Meta = 'problem' }\n";
        catalog.load_toml("t.toml", source).unwrap();
        let def = catalog.get("rate_limit_exceeded").unwrap();
        assert_eq!(def.dialect_in(Dialect::Detail), Dialect::Coded);
        assert_eq!(def.dialect_in(Dialect::Meta), Dialect::Problem);
        assert_eq!(def.dialect_in(Dialect::Coded), Dialect::Coded);
        assert_eq!(def.sent_in_dialects().len(), 2);
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n";
        let twice = errors(&format!(
            "{entry}sent_in = {{ detail = 'coded', Detail = 'meta' }}\n"
        ));
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert!(
            twice[0].contains("t.toml:5:11: ")
                && twice[0].contains("the dialect `detail` is named twice"),
            "{twice:?}"
        );
        let e = errors(&format!("{entry}sent_in = {{ detail = 'codded' }}\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("unknown variant `codded`"), "{e:?}");
        assert!(e[0].contains("did you mean `coded`?"), "{e:?}");
        let e = errors(&format!("{entry}sent_in = 'coded'\n"));
        assert!(
            e[0].contains("expected a table of the dialects an API answers in"),
            "{e:?}"
        );
    }

    /// Two entries an API answering in one dialect would send under one
    /// code, once one of them is sent in another dialect, collide there,
    /// loaded or inserted; an entry's own spellings never collide.
    #[test]
    fn an_entry_sent_in_another_dialect_collides_with_what_it_sends() {
        let limited = "[errors.rate_limit_exceeded]\naliases = { coded = 'quota_exceeded' }\n\
                       sent_in = { detail = 'coded' }\n";
        let quota = "[errors.quota_exceeded]\nstatus = 429\ntitle = 'Quota'\n\
                     message = 'Quota exceeded'\naliases = { coded = 'QUOTA' }\n";
        let e = errors(&format!("{limited}{quota}"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(
                "code \"quota_exceeded\" in the detail dialect is also \"rate_limit_exceeded\"'s"
            ),
            "{e:?}"
        );
        // Inserted in code, either way round.
        let mut catalog = Catalog::builtin();
        catalog.load_toml("t.toml", limited).unwrap();
        let quota = || {
            ErrorDef::new("quota_exceeded", 429, "Quota", "Quota exceeded")
                .unwrap()
                .alias(Dialect::Coded, "QUOTA")
        };
        let refused = catalog.insert(quota()).unwrap_err().to_string();
        assert!(refused.contains("in the detail dialect"), "{refused}");
        let mut catalog = Catalog::builtin();
        catalog.insert(quota()).unwrap();
        let sent = Catalog::builtin_ref()
            .get("rate_limit_exceeded")
            .unwrap()
            .as_ref()
            .clone()
            .alias(Dialect::Coded, "quota_exceeded")
            .sent_in(Dialect::Detail, Dialect::Coded);
        assert!(catalog.insert(sent.clone()).is_err());
        // The one sent elsewhere inserted first, the other refused after.
        let mut catalog = Catalog::builtin();
        catalog.insert(sent).unwrap();
        assert!(catalog.insert(quota()).is_err());
        // Seed 002's: one spelling in both dialects, its own.
        let own = "[errors.rate_limit_exceeded]\n\
                   aliases = { coded = 'RATE_LIMIT_ERROR', detail = 'RATE_LIMIT_ERROR' }\n\
                   sent_in = { detail = 'coded' }\n";
        Catalog::builtin().load_toml("t.toml", own).unwrap();
    }

    #[test]
    fn a_key_listed_twice_is_refused() {
        // Each key is one member of the body and one line of the reference:
        // listed twice, the reference would promise it twice.
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = '{ab} {cd}'\n";
        let e = errors(&format!("{entry}details = ['ab', 'cd', 'ab']\n"));
        assert_eq!(
            e,
            ["t.toml:5:11: entry \"abc\": details key \"ab\" is listed twice"]
        );
        let e = errors(&format!(
            "{entry}details = ['cd']\nmessage_only = ['ab', 'ab', 'ab']\n"
        ));
        assert_eq!(
            e,
            ["t.toml:6:16: entry \"abc\": message_only key \"ab\" is listed twice"]
        );
        let def = ErrorDef::new("abc", 400, "t", "{ab}")
            .unwrap()
            .details(["ab", "ab"]);
        assert_eq!(Catalog::builtin().insert(def).unwrap_err().len(), 1);
        // A key that breaks a rule is told so once too, however often it is
        // listed: repeated, its problems would crowd out the file's others.
        let e = errors(&format!(
            "{entry}details = ['ab', 'cd', 'B', 'B', 'B', 'status', 'status']\n\
             message_only = ['a b', 'a b', 'cd', 'cd']\n"
        ));
        let told = |what: &str| e.iter().filter(|p| p.contains(what)).count();
        assert_eq!(told("details key \"B\" must be"), 1, "{e:#?}");
        assert_eq!(told("details key \"status\" collides"), 1, "{e:#?}");
        assert_eq!(told("message_only key \"a b\" must be"), 1, "{e:#?}");
        assert_eq!(told("\"cd\" is in both"), 1, "{e:#?}");
    }

    #[test]
    fn retry_and_kind_are_names_never_tables() {
        // A table is read as an enum's variant by the derived reader:
        // `retry = { after = {} }` would quietly set the class.
        let entry = "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n";
        for (value, expected) in [
            (
                "retry = { after = {} }",
                "one of `never`, `after`, `backoff`",
            ),
            ("retry = 5", "one of `never`, `after`, `backoff`"),
            ("retry = {}", "one of `never`, `after`, `backoff`"),
            ("kind = { not_found = {} }", "one of `invalid_argument`"),
            ("kind = { not_found = 1 }", "one of `invalid_argument`"),
            ("kind = []", "one of `invalid_argument`"),
        ] {
            let e = errors(&format!("{entry}{value}\n"));
            assert_eq!(e.len(), 1, "{value}: {e:?}");
            assert!(e[0].starts_with("t.toml:5:"), "{value}: {e:?}");
            assert!(e[0].contains(expected), "{value}: {e:?}");
        }
        let e = errors(&format!("{entry}[errors.abc.kind.not_found]\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("one of `invalid_argument`"), "{e:?}");
        // Names as before, and unknown ones told with the choices.
        let e = errors(&format!("{entry}retry = 'sometimes'\n"));
        assert_eq!(
            e,
            [
                "t.toml:5:9: entry \"abc\": unknown variant `sometimes`, expected one of `never`, `after`, `backoff`"
            ]
        );
        let c = Catalog::from_toml(
            "t.toml",
            &format!("{entry}retry = 'after'\nkind = 'timeout'\n"),
        )
        .unwrap();
        let def = c.get("abc").unwrap();
        assert_eq!(
            (def.retry(), def.kind()),
            (RetryClass::After, Kind::Timeout)
        );
    }

    #[test]
    fn a_file_with_crlf_line_breaks_is_told_at_the_same_places() {
        // Editors show neither the `\r` of a `\r\n` nor a byte order mark:
        // a problem at the end of a line (where the parser tells a string
        // left open) is at the same column either way.
        let e = errors("[errors.abc]\nstatus = 400\ntitle = \"x\r\nmessage = 'm'\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:3:11: entry \"abc\": "), "{e:?}");
        let entry = "[errors.abc]\nstatus = 400\n";
        let sources = [
            format!("{entry}title = \"x\nmessage = 'm'\n"),
            format!("{entry}title = 'x\nmessage = 'm'\n"),
            format!("{entry}title =\nmessage = 'm'\n"),
            "[errors.abc\nstatus = 400\n".to_owned(),
            "docs_url = 'a b'\n".to_owned(),
            format!("{entry}title = 't'\nmessage = 'a {{b'\n"),
            format!("{entry}title = 't'\nmessage = \"\"\"\none\ntwo {{b\"\"\"\n"),
            format!("{entry}title = 't'\nmessage = \"\"\"one \\\n  two }}\"\"\"\n"),
            format!("{entry}title = 't'\nmessage = '''\n\n{{x}}'''\n"),
            format!("{entry}title = 't'\nmessage = 'm'\nstatus = 401\n"),
            "[errors.abc]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n".to_owned(),
        ];
        for lf in sources {
            let told = errors(&lf);
            assert!(!told.is_empty(), "{lf:?}");
            let crlf = lf.replace('\n', "\r\n");
            assert_eq!(errors(&crlf), told, "{crlf:?}");
            let marked = format!("\u{feff}{crlf}");
            assert_eq!(errors(&marked), told, "{marked:?}");
        }
        // A multi-line text reads the same too: the parser keeps the `\r`,
        // which would be a control character in every message.
        for quotes in ["'''", "\"\"\""] {
            let lf = format!(
                "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = {quotes}\none\ntwo {{{{x}}}}{quotes}\n\
                 hint = {quotes}a\nb{quotes}\nremedy = {quotes}c\nd{quotes}\n"
            );
            let crlf = Catalog::from_toml("t.toml", &lf.replace('\n', "\r\n")).unwrap();
            let def = crlf.get("abc").unwrap();
            assert_eq!(def.message().as_str(), "one\ntwo {{x}}");
            assert_eq!(def.hint_template().map(Template::as_str), Some("a\nb"));
            assert_eq!(def.remedy_text(), Some("c\nd"));
        }
        // A `\r` written as an escape is the text's own, and refused.
        let e = errors(
            "[errors.abc]\r\nstatus = 400\r\ntitle = 't'\r\nmessage = \"\"\"a\\r\r\nb\"\"\"\r\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("message has a control character"), "{e:?}");
        // A tab is one column.
        let e = errors("[errors.abc]\n\tstatus\t=\t600\ntitle = 't'\nmessage = 'm'\n");
        assert_eq!(
            e,
            ["t.toml:2:11: entry \"abc\": status 600 is outside 400–599"]
        );
    }

    #[test]
    fn a_byte_order_mark_moves_no_column_and_hides_no_entry() {
        // Editors save UTF-8 with a BOM and do not show it: problems on the
        // first line are where the editor puts them, and its header names
        // the entry of a file that does not parse.
        let e = errors("\u{feff}[errors.Abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n");
        assert!(e[0].starts_with("t.toml:1:1: entry \"Abc\": code"), "{e:?}");
        let e = errors("\u{feff}docs_url = 'a b'\n");
        assert!(e[0].starts_with("t.toml:1:12: docs_url"), "{e:?}");
        let e = errors("\u{feff}[errors.abc]\nstatus = 400\nstatus = 401\n");
        assert_eq!(e, ["t.toml:3:1: entry \"abc\": duplicate key `status`"]);
        // Later lines are counted as before.
        let e = errors("\u{feff}[errors.abc]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n");
        assert_eq!(
            e,
            ["t.toml:2:10: entry \"abc\": status 600 is outside 400–599"]
        );
    }

    /// A byte offset inside a character of several bytes is located at that
    /// character, never at the one after it; columns count characters.
    #[test]
    fn an_offset_inside_a_character_is_located_at_its_start() {
        let lines = Lines("ab\ncé x");
        assert_eq!(lines.locate(4), (2, 2));
        assert_eq!(lines.locate(5), (2, 2));
        assert_eq!(lines.locate(6), (2, 3));
        assert_eq!(lines.locate(7), (2, 4));
    }

    #[test]
    fn alias_collisions_name_the_later_entry() {
        let e = errors(
            "[errors.not_found.aliases]\ncoded = 'GONE'\n\n[errors.conflict.aliases]\ncoded = 'GONE'\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("entry \"conflict\": code \"GONE\" in the coded dialect"),
            "{e:?}"
        );
        // The file's entry comes first in the catalog, the other is built in:
        // found all the same, and told to the file's entry.
        let e = errors("[errors.not_found.aliases]\ncoded = 'conflict'\n");
        assert_eq!(
            e,
            [
                "t.toml:1:1: entry \"not_found\": code \"conflict\" in the coded dialect is also \"conflict\"'s"
            ]
        );
        let mut c = Catalog::builtin();
        let def = ErrorDef::new("not_found", 404, "Not found", "m")
            .unwrap()
            .alias(Dialect::Coded, "conflict");
        assert!(c.insert(def).is_err());
        // The later entry writes no alias: the earlier one's is told.
        let e = errors(
            "[errors.abc]\nstatus = 400\ntitle = 't'\nmessage = 'm'\naliases = { coded = 'abd' }\n\n\
             [errors.abd]\nstatus = 400\ntitle = 't'\nmessage = 'm'\n",
        );
        assert_eq!(
            e,
            ["t.toml:5:11: entry \"abc\": code \"abd\" in the coded dialect is also \"abd\"'s"]
        );
    }

    #[test]
    fn overrides_keep_what_they_do_not_set() {
        let mut c = Catalog::builtin();
        c.load_toml("t.toml", "[errors.not_found]\nmessage = 'Rule not found'\n")
            .unwrap();
        let def = c.get("not_found").unwrap();
        assert_eq!(def.message().as_str(), "Rule not found");
        assert_eq!(def.status(), 404);
        assert_eq!(def.title(), "Not found");
    }

    #[test]
    fn wire_codes_resolve_in_order_of_precedence() {
        let mut c = Catalog::builtin();
        c.load_toml(
            "t.toml",
            "[errors.not_found.aliases]\nstripe = 'resource_missing'\n\
             [errors.conflict.aliases]\nstripe = 'not_found'\ncoded = 'GONE'\n\
             [errors.timeout.aliases]\nflat = 'GONE'\ncoded = 'NOT_FOUND'\n",
        )
        .unwrap();
        let find = |wire: &str| c.find_wire_code(wire).map(|d| d.code().to_owned());
        // A canonical code beats another entry's alias of the same spelling.
        assert_eq!(find("not_found").as_deref(), Some("not_found"));
        // Two entries with one alias in different dialects: the first wins.
        assert_eq!(find("GONE").as_deref(), Some("conflict"));
        // An alias beats another entry's code in UPPER_SNAKE.
        assert_eq!(find("NOT_FOUND").as_deref(), Some("timeout"));
        assert_eq!(find("INTERNAL_ERROR").as_deref(), Some("internal_error"));
        assert_eq!(find("Internal_Error").as_deref(), Some("internal_error"));
        assert_eq!(find("nope"), None);
        // Entries added in code are found by their aliases too.
        let def = ErrorDef::new("quota_gone", 429, "t", "m")
            .unwrap()
            .alias(Dialect::Coded, "QUOTA_GONE_ERROR");
        c.insert(def).unwrap();
        assert_eq!(
            find_in(&c, "QUOTA_GONE_ERROR").as_deref(),
            Some("quota_gone")
        );
        assert_eq!(find_in(&c, "QUOTA_GONE").as_deref(), Some("quota_gone"));
    }

    #[test]
    fn a_code_two_entries_write_in_different_dialects_decodes_by_its_dialect() {
        // `conflict` writes `IDEMPOTENCY_KEY_IN_USE` in coded, as that entry
        // writes its code in google; both are 409s.
        let mut c = Catalog::builtin();
        c.load_toml(
            "t.toml",
            "[errors.conflict.aliases]\ncoded = 'IDEMPOTENCY_KEY_IN_USE'\n",
        )
        .unwrap();
        let ctx = crate::Context::new(std::time::UNIX_EPOCH);
        for (dialect, code, retry) in [
            (Dialect::Coded, "conflict", RetryClass::Never),
            (Dialect::Google, "idempotency_key_in_use", RetryClass::After),
        ] {
            let err = c.error(code).unwrap();
            let body = c.renderer(dialect).body(&err, &ctx);
            let decoded = c.decode(409, &http::HeaderMap::new(), &body, std::time::UNIX_EPOCH);
            assert_eq!(decoded.retry, retry, "{dialect} {code}");
        }
    }

    fn find_in(c: &Catalog, wire: &str) -> Option<String> {
        c.find_wire_code(wire).map(|d| d.code().to_owned())
    }

    #[test]
    fn failed_loads_change_nothing() {
        let mut c = Catalog::builtin();
        let bad = "[errors.not_found]\nmessage = 'x'\n[errors.b]\nstatus = 1\n";
        assert!(c.load_toml("t.toml", bad).is_err());
        assert_eq!(
            c.get("not_found").unwrap().message().as_str(),
            "The requested resource was not found."
        );
    }
}
