//! A lazy JSON reader: a body checked once by `serde_json`, its members'
//! values kept as raw text until a shape asks for them.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::shapes::is_blank;

/// A JSON object read lazily: its members' values stay raw text until asked for.
///
/// Decoding never builds a whole `serde_json::Value` tree; it reads only the
/// members a shape needs, which is what keeps it faster than a plain parse.
pub(crate) struct Obj<'t> {
    pub(super) members: Vec<Member<'t>>,
}

/// One member: its key (borrowed unless it had escapes) and raw value.
pub(crate) type Member<'t> = (Cow<'t, str>, Raw<'t>);

/// The type of a JSON value, as its first byte tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl<'t> Obj<'t> {
    /// The members, in order (keys borrowed).
    #[inline]
    pub(crate) fn members(&self) -> impl Iterator<Item = (&str, Raw<'t>)> {
        self.members.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// The raw value of `key` (the last one, as JSON parsers do).
    #[inline]
    pub(crate) fn raw(&self, key: &str) -> Option<Raw<'t>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    #[inline]
    pub(crate) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    #[inline]
    pub(crate) fn json_type(&self, key: &str) -> Option<Json> {
        self.raw(key)?.json_type()
    }

    /// A string member, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn str(&self, key: &str) -> Option<Cow<'t, str>> {
        self.raw(key)?.string()
    }

    #[inline]
    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(Cow::into_owned)
    }

    /// A non-negative integer member (`402`, not `402.0` or `-1`).
    #[inline]
    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        self.raw(key)?.integer()
    }

    /// A member counting seconds: a non-negative number (`30`, `1.5`, `1e3`),
    /// or one written as a string (`"30"`), saturating past what a
    /// `Duration` holds.
    pub(crate) fn seconds(&self, key: &str) -> Option<Duration> {
        let raw = self.raw(key)?;
        crate::retry::seconds(raw.get()).or_else(|| crate::retry::seconds(&raw.string()?))
    }

    #[inline]
    pub(crate) fn obj(&self, key: &str) -> Option<Obj<'t>> {
        self.raw(key)?.obj()
    }

    /// The items of an array member, one by one; none if it is not an array.
    #[inline]
    pub(crate) fn items(&self, key: &str) -> impl Iterator<Item = Raw<'t>> + use<'t> {
        self.raw(key).and_then(Raw::items).into_iter().flatten()
    }
}

/// A body, and where its objects and arrays start and end.
///
/// `serde_json` parses (and so checks) the body into its top-level members,
/// keeping their values as raw text ([`Tape::parse`]). Splitting a nested
/// object into members then needs only to find where each value ends: the
/// text is valid JSON by then. Jumping over a nested object or array walks
/// its brackets once and records where every container inside it starts
/// and ends (the tape), so that splitting those later jumps over their own
/// insides without reading them again: each byte is looked at about three
/// times however deep the body is, where parsing every level on demand reads
/// the inner levels once per level above them.
pub(crate) struct Tape<'t> {
    text: &'t str,
    /// Made when first needed: bodies without nested containers never are.
    pub(super) spans: OnceCell<RefCell<Spans>>,
}

/// How deep below a skipped container the tape records: beyond any shape a
/// decoder reads.
pub(super) const TAPE_DEPTH: usize = 32;

/// How many containers the tape records: more than error bodies have. The
/// others are skipped by walking their brackets again.
pub(super) const TAPE_SPANS: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
struct Span {
    /// Offset of the opening bracket.
    start: usize,
    /// Offset just past the closing bracket (0 while open).
    end: usize,
}

/// The containers a tape records, by `start`, without allocating.
pub(super) struct Spans {
    items: [Span; TAPE_SPANS],
    pub(super) len: usize,
}

impl Spans {
    fn recorded(&self) -> &[Span] {
        self.items.get(..self.len).unwrap_or_default()
    }

    fn end_of(&self, start: usize) -> Option<usize> {
        let spans = self.recorded();
        let i = spans.binary_search_by_key(&start, |s| s.start).ok()?;
        spans.get(i).map(|s| s.end).filter(|&end| end > start)
    }

    /// Records a container opening at `start`; its index until the next
    /// record, or `None` when the tape is full.
    fn open(&mut self, start: usize) -> Option<usize> {
        let len = self.len;
        if len == TAPE_SPANS {
            return None;
        }
        // In order, unless a decoder splits a later member first.
        let at = self.recorded().partition_point(|s| s.start < start);
        self.items.copy_within(at..len, at + 1);
        *self.items.get_mut(at)? = Span { start, end: 0 };
        self.len += 1;
        Some(at)
    }
}

impl<'t> Tape<'t> {
    /// A tape of `text`, which must be valid JSON (`serde_json` has checked
    /// it). On text that is not, splitting gives up or returns nonsense, and
    /// never reads out of bounds.
    pub(crate) fn new(text: &'t str) -> Tape<'t> {
        Tape {
            text,
            spans: OnceCell::new(),
        }
    }

    /// Parses (and checks) the body as a JSON object; `None` for anything else.
    // Inlined into its callers, so that `serde_json`'s parser (instantiated
    // here) is compiled with them: on the dialects bench and the seed bodies
    // this saved 100–1,400 instructions a decode (cachegrind), where the
    // parser's calls had stayed calls.
    #[inline]
    pub(crate) fn parse(&self) -> Option<Obj<'_>> {
        // Types are told by their first byte, sparing a `serde_json::Error`,
        // which formats its message.
        if !self.text.starts_with('{') {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(self.text);
        let obj = TopLevel(self).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(obj)
    }

    /// The whole body, checked by the caller.
    #[cfg(test)]
    pub(super) fn root(&self) -> Raw<'_> {
        Raw {
            tape: self,
            text: self.text,
            escaped: true,
        }
    }

    /// The containers the tape holds, in the order it keeps them: where
    /// each opens, and just past where it closes.
    #[cfg(test)]
    pub(super) fn recorded(&self) -> Vec<(usize, usize)> {
        self.spans.get().map_or_else(Vec::new, |spans| {
            let spans = spans.borrow();
            let items = spans.items.get(..spans.len).unwrap_or_default();
            items.iter().map(|span| (span.start, span.end)).collect()
        })
    }

    /// Where the container opening at `start` ends: from the tape, or by
    /// walking its brackets (and recording the containers inside it).
    fn end_of(&self, start: usize) -> Option<usize> {
        let spans = self.spans.get_or_init(|| {
            RefCell::new(Spans {
                items: [Span::default(); TAPE_SPANS],
                len: 0,
            })
        });
        let mut spans = spans.try_borrow_mut().ok()?;
        if let Some(end) = spans.end_of(start) {
            return Some(end);
        }
        // The open containers below `start`, as indices into the tape
        // (`usize::MAX` for one it had no room for), and how many more are
        // open deeper than it records.
        let mut open = [usize::MAX; TAPE_DEPTH];
        let (mut depth, mut too_deep) = (0usize, 0usize);
        walk_brackets(self.text.as_bytes(), start, |at, bracket| {
            if matches!(bracket, b'{' | b'[') {
                match open.get_mut(depth) {
                    Some(slot) => {
                        *slot = spans.open(at).unwrap_or(usize::MAX);
                        depth += 1;
                    }
                    None => too_deep += 1,
                }
                return false;
            }
            if too_deep > 0 {
                too_deep -= 1;
                return false;
            }
            depth = depth.saturating_sub(1);
            let index = open.get(depth).copied().unwrap_or(usize::MAX);
            if let Some(span) = spans.items.get_mut(index) {
                span.end = at + 1;
            }
            depth == 0
        })
    }
}

/// Calls `on_bracket` with the offset of each bracket of JSON text from
/// `from` on, outside strings, until it returns `true`: then returns the
/// offset just past that bracket (`None` if it never does).
///
/// It looks at eight bytes at a time, and only stops at quotes, backslashes
/// and brackets.
#[inline(always)]
fn walk_brackets(
    bytes: &[u8],
    from: usize,
    mut on_bracket: impl FnMut(usize, u8) -> bool,
) -> Option<usize> {
    let mut in_string = false;
    // A byte escaped by a backslash, not to be taken for a quote.
    let mut escaped = usize::MAX;
    let mut at = from;
    while at < bytes.len() {
        let mut hits = structural(word_at(bytes, at));
        while hits != 0 {
            let i = at + hits.trailing_zeros() as usize / 8;
            hits &= hits - 1;
            match (in_string, *bytes.get(i)?) {
                _ if i == escaped => {}
                (true, b'\\') => escaped = i + 1,
                (true, b'"') => in_string = false,
                (false, b'"') => in_string = true,
                (false, bracket @ (b'{' | b'[' | b'}' | b']')) if on_bracket(i, bracket) => {
                    return Some(i + 1);
                }
                _ => {}
            }
        }
        at += 8;
    }
    None
}

/// Where the string whose opening quote is before `from` ends (just past
/// its closing quote), and whether it has escapes.
fn skip_string(bytes: &[u8], mut from: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let i = find(bytes, from, quote_or_backslash)?;
        if bytes.get(i) == Some(&b'"') {
            return Some((i + 1, escaped));
        }
        // An escape: the byte after the backslash is never the end.
        escaped = true;
        from = i + 2;
    }
}

/// The offset of the first byte at or after `from` that `hits` marks,
/// looking at eight bytes at a time (`hits` must mark the first match of a
/// word exactly; it may mark bytes after it falsely).
#[inline(always)]
fn find(bytes: &[u8], from: usize, hits: impl Fn(u64) -> u64) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let found = hits(word_at(bytes, at));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    None
}

/// The eight bytes from `at` as a little-endian `u64`, zero past the end
/// (zero never matches what is searched for).
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    match bytes.get(at..at + 8) {
        Some(chunk) => word.copy_from_slice(chunk),
        None => {
            let rest = bytes.get(at..).unwrap_or_default();
            word[..rest.len()].copy_from_slice(rest);
        }
    }
    u64::from_le_bytes(word)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Bit 7 of each zero byte of `word`, and no other bit.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    let low7 = ONES * 0x7f;
    !(((word & low7) + low7) | word | low7)
}

/// Bit 7 of the first zero byte of `word` (bits above it may be set too:
/// a borrow can mark a 0x01 byte after a zero one). Cheaper than
/// [`zero_bytes`], for searches that stop at the first match.
#[inline(always)]
fn first_zero_byte(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & (ONES * 0x80)
}

/// Quotes and backslashes: where a string may end (the first one exactly).
#[inline(always)]
fn quote_or_backslash(word: u64) -> u64 {
    first_zero_byte(word ^ (ONES * u64::from(b'"')))
        | first_zero_byte(word ^ (ONES * u64::from(b'\\')))
}

/// Quotes, backslashes and brackets: what bracket matching looks at, every
/// one exactly. Clearing bit 5 folds `{` onto `[` and `}` onto `]`, and no
/// other byte onto either.
#[inline(always)]
fn structural(word: u64) -> u64 {
    let folded = word & (ONES * 0xdf);
    zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | zero_bytes(folded ^ (ONES * u64::from(b'[')))
        | zero_bytes(folded ^ (ONES * u64::from(b']')))
}

/// One JSON value of a checked body, as it stands in the body (from its
/// first byte to its last).
#[derive(Clone, Copy)]
pub(crate) struct Raw<'t> {
    tape: &'t Tape<'t>,
    /// The value's text, a slice of the tape's.
    text: &'t str,
    /// Whether the value, if a string, may have escapes: `false` when a scan
    /// saw none, `true` when it saw some or the value comes from `serde_json`
    /// (then [`Raw::string`] looks).
    escaped: bool,
}

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl<'t> Raw<'t> {
    /// The JSON text.
    #[inline]
    pub(crate) fn get(self) -> &'t str {
        self.text
    }

    #[inline]
    pub(crate) fn json_type(self) -> Option<Json> {
        Some(match self.get().as_bytes().first()? {
            b'{' => Json::Object,
            b'[' => Json::Array,
            b'"' => Json::String,
            b't' | b'f' => Json::Bool,
            b'n' => Json::Null,
            _ => Json::Number,
        })
    }

    /// The string's text, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn string(self) -> Option<Cow<'t, str>> {
        let raw = self.get();
        let text = raw.strip_prefix('"')?.strip_suffix('"')?;
        // The string is checked: without escapes, its text is what stands
        // between the quotes. (A fold, not `contains`: texts are short, and
        // this compiles to a few vector compares.)
        if !self.escaped || !text.bytes().fold(false, |seen, b| seen | (b == b'\\')) {
            return Some(Cow::Borrowed(text));
        }
        unescape(text).map(Cow::Owned)
    }

    /// The value as an id: a string that is not blank, or a non-negative
    /// integer as written (`12345`).
    pub(crate) fn id(self) -> Option<Cow<'t, str>> {
        match self.json_type()? {
            Json::String => self.string().filter(|id| !is_blank(id)),
            Json::Number => self.integer().map(|_| Cow::Borrowed(self.get())),
            _ => None,
        }
    }

    /// The number, when it is a non-negative integer that fits a `u64`.
    #[inline]
    pub(crate) fn integer(self) -> Option<u64> {
        let raw = self.get();
        // JSON numbers have no `+`: from a leading digit on, `u64`'s parser
        // accepts exactly the integers `serde_json` reads as `u64`.
        if !raw.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok()
    }

    /// The value, parsed.
    pub(crate) fn value(self) -> Option<Value> {
        // Scalars, the usual details, without starting a parser.
        match self.json_type()? {
            Json::String => return self.string().map(|s| Value::String(s.into_owned())),
            Json::Number => {
                if let Some(n) = self.integer() {
                    return Some(n.into());
                }
            }
            Json::Bool | Json::Null => match self.text {
                "true" => return Some(Value::Bool(true)),
                "false" => return Some(Value::Bool(false)),
                "null" => return Some(Value::Null),
                _ => {}
            },
            Json::Object | Json::Array => {}
        }
        serde_json::from_str(self.text).ok()
    }

    /// The object's members; `None` for anything else.
    pub(crate) fn obj(self) -> Option<Obj<'t>> {
        let mut scan = self.open(b'{')?;
        if scan.eat(b'}') {
            return Some(Obj {
                members: Vec::new(),
            });
        }
        let mut members = Vec::with_capacity(8);
        loop {
            let key = scan.value()?;
            if !scan.eat(b':') {
                return None;
            }
            let value = scan.value()?;
            // A key no `String` can hold (a lone surrogate) loses its member.
            if let Some(key) = key.string() {
                members.push((key, value));
            }
            match scan.next()? {
                b',' => {}
                b'}' => return Some(Obj { members }),
                _ => return None,
            }
        }
    }

    /// The array's first `max` items (the rest read past, not kept); `None`
    /// for anything but an array.
    pub(crate) fn array_up_to(self, max: usize) -> Option<Vec<Raw<'t>>> {
        let mut scan = self.open(b'[')?;
        let mut items = Vec::new();
        if scan.eat(b']') {
            return Some(items);
        }
        loop {
            let item = scan.value()?;
            if items.len() < max {
                items.push(item);
            }
            match scan.next()? {
                b',' => {}
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    /// The array's items one by one, without collecting them; `None` for
    /// anything but an array.
    pub(crate) fn items(self) -> Option<Items<'t>> {
        let mut scan = self.open(b'[')?;
        let done = scan.eat(b']');
        Some(Items { scan, done })
    }

    /// The object's members one by one, without collecting them; `None` for
    /// anything but an object.
    pub(crate) fn entries(self) -> Option<Entries<'t>> {
        let mut scan = self.open(b'{')?;
        let done = scan.eat(b'}');
        Some(Entries { scan, done })
    }

    /// A scan of the members of this container, if it opens with `bracket`.
    fn open(self, bracket: u8) -> Option<Scan<'t>> {
        if self.text.as_bytes().first() != Some(&bracket) {
            return None;
        }
        // Where the value is in the body (it is a slice of it).
        let start = (self.text.as_ptr() as usize).wrapping_sub(self.tape.text.as_ptr() as usize);
        Some(Scan {
            tape: self.tape,
            at: start.wrapping_add(1),
        })
    }
}

/// The contents of a checked JSON string (what stands between its quotes)
/// with its escapes resolved, as `serde_json` reads the string into a
/// `String`: `None` for a lone surrogate escape, which no `String` can hold
/// (and for a broken escape, on text that was not checked). One allocation
/// of the text's length, where `serde_json` grows a scratch buffer escape by
/// escape and then copies it into the `String`: a third of a decode of a
/// short body whose message holds a quote.
#[inline(never)]
fn unescape(text: &str) -> Option<String> {
    // Four hex digits opening `s`, as a UTF-16 code unit.
    let hex4 = |s: &str| {
        let digits = s.get(..4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(rest.get(..at)?);
        let escape = *rest.as_bytes().get(at + 1)?;
        // After an escape's ASCII letter (what follows anything else is
        // no character boundary: `None`).
        rest = rest.get(at + 2..)?;
        let c = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(rest)?;
                rest = rest.get(4..)?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: only with a low one's escape after
                    // it is it a character.
                    let low = rest
                        .strip_prefix("\\u")
                        .and_then(hex4)
                        .filter(|low| (0xDC00..0xE000).contains(low))?;
                    rest = rest.get(6..)?;
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    // `None` for a lone low surrogate.
                    char::from_u32(unit)?
                }
            }
            _ => return None,
        };
        out.push(c);
    }
    out.push_str(rest);
    Some(out)
}

/// Reads the top-level object of a tape's text with `serde_json`, its member
/// values as raw text located in the body.
struct TopLevel<'t>(&'t Tape<'t>);

impl<'de> DeserializeSeed<'de> for TopLevel<'de> {
    type Value = Obj<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Obj<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'de> {
    type Value = Obj<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<'de>, A::Error> {
        let tape = self.0;
        // Error bodies have a handful of members: one allocation.
        let mut members = Vec::with_capacity(8);
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            // Borrowed from the body (`Raw::open` finds where in it).
            members.push((
                key,
                Raw {
                    tape,
                    text: value.get(),
                    escaped: true,
                },
            ));
        }
        Ok(Obj { members })
    }
}

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The items of an array, read as they are asked for (see [`Raw::items`]).
pub(crate) struct Items<'t> {
    scan: Scan<'t>,
    done: bool,
}

impl<'t> Iterator for Items<'t> {
    type Item = Raw<'t>;

    fn next(&mut self) -> Option<Raw<'t>> {
        if self.done {
            return None;
        }
        let item = self.scan.value();
        // After the last item, or on text that is not JSON, stop.
        self.done = item.is_none() || self.scan.next() != Some(b',');
        item
    }
}

/// The members of an object, read as they are asked for (see
/// [`Raw::entries`]).
pub(crate) struct Entries<'t> {
    scan: Scan<'t>,
    done: bool,
}

impl<'t> Iterator for Entries<'t> {
    type Item = Member<'t>;

    fn next(&mut self) -> Option<Member<'t>> {
        while !self.done {
            let member = self.member();
            // After the last member, or on text that is not JSON, stop.
            self.done = member.is_none() || self.scan.next() != Some(b',');
            // A key no `String` can hold (a lone surrogate) loses its member.
            if let Some((Some(key), value)) = member {
                return Some((key, value));
            }
        }
        None
    }
}

impl<'t> Entries<'t> {
    fn member(&mut self) -> Option<(Option<Cow<'t, str>>, Raw<'t>)> {
        let key = self.scan.value()?;
        if !self.scan.eat(b':') {
            return None;
        }
        Some((key.string(), self.scan.value()?))
    }
}

/// Reads the members of one container, jumping over nested containers with
/// the tape.
struct Scan<'t> {
    tape: &'t Tape<'t>,
    at: usize,
}

impl<'t> Scan<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.tape.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let byte = *self.bytes().get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// Consumes `byte` if it comes next, after whitespace.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes().get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    /// The value starting at the next byte.
    fn value(&mut self) -> Option<Raw<'t>> {
        self.skip_whitespace();
        let start = self.at;
        let bytes = self.bytes();
        let mut escaped = false;
        self.at = match *bytes.get(start)? {
            b'"' => {
                let (end, has_escapes) = skip_string(bytes, start + 1)?;
                escaped = has_escapes;
                end
            }
            b'{' | b'[' => self.tape.end_of(start)?,
            _ => {
                // A number, `true`, `false` or `null`: up to a delimiter.
                let rest = bytes.get(start..)?;
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return None;
                }
                start + len
            }
        };
        Some(Raw {
            tape: self.tape,
            text: self.tape.text.get(start..self.at)?,
            escaped,
        })
    }
}
