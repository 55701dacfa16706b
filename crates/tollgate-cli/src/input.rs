//! Reading files and stdin with a size bound, so no input can exhaust memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::CliError;

/// The most any command reads from one file or stdin: 16 MiB.
pub(crate) const MAX_INPUT: usize = 16 * 1024 * 1024;

/// Where input comes from: a file, or stdin for `-` or no argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Standard input.
    Stdin,
    /// A file, as named on the command line.
    File(PathBuf),
}

/// Fails when stdin (`-`, or an input left out) is among `args` more than
/// once: it can be read only once, and a second reading would find it
/// empty.
pub(crate) fn stdin_once<'a>(
    args: impl IntoIterator<Item = Option<&'a Path>>,
) -> Result<(), CliError> {
    let named = args
        .into_iter()
        .filter(|arg| Source::from_arg(*arg) == Source::Stdin)
        .count();
    if named > 1 {
        return Err(CliError::Usage(
            "stdin (`-`) is named more than once; it can be read only once".to_owned(),
        ));
    }
    Ok(())
}

impl Source {
    /// `-` and no argument mean stdin.
    pub(crate) fn from_arg(arg: Option<&Path>) -> Source {
        match arg {
            None => Source::Stdin,
            Some(path) if path.as_os_str() == "-" => Source::Stdin,
            Some(path) => Source::File(path.to_owned()),
        }
    }

    /// The name used in messages: the path as given, or `<stdin>`.
    pub(crate) fn name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_owned(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// What was read.
#[derive(Debug)]
pub(crate) struct Input {
    /// At most `limit` bytes.
    pub(crate) bytes: Vec<u8>,
    /// Whether the source had more than `limit` bytes.
    pub(crate) truncated: bool,
}

/// Reads at most `limit` bytes from `source`.
pub(crate) fn read(source: &Source, limit: usize) -> Result<Input, CliError> {
    let failed = |source_err: io::Error| CliError::Read {
        path: source.name(),
        source: source_err,
    };
    match source {
        Source::Stdin => read_bounded(io::stdin().lock(), limit).map_err(failed),
        Source::File(path) => {
            let file = open_telling_a_wait(path, &source.name(), Opening::Read).map_err(failed)?;
            read_bounded(file, limit).map_err(failed)
        }
    }
}

/// How long opening a named pipe may take before the wait is told: it
/// waits for a writer, which a pipe left where a file was expected
/// (`tollgate.toml`) never gets. One whose writer is there already
/// (`<(…)`, `/dev/stdin` piped) opens at once, untold.
const OPEN_WAIT_TOLD: Duration = Duration::from_millis(200);

/// What a file is opened for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Opening {
    Read,
    Write,
}

/// Opens `path` for reading or (an existing file, not truncated) writing;
/// for a named pipe, tells on stderr when that waits past
/// [`OPEN_WAIT_TOLD`], so that a wait for a writer (or a reader) that may
/// never come is not a silent hang.
pub(crate) fn open_telling_a_wait(path: &Path, name: &str, for_: Opening) -> io::Result<File> {
    let open = || match for_ {
        Opening::Read => File::open(path),
        Opening::Write => std::fs::OpenOptions::new().write(true).open(path),
    };
    if !is_named_pipe(path) {
        return open();
    }
    let opened = Arc::new(AtomicBool::new(false));
    let told = {
        let (opened, name) = (opened.clone(), printable(name));
        move || {
            std::thread::sleep(OPEN_WAIT_TOLD);
            if !opened.load(Ordering::Acquire) {
                match for_ {
                    Opening::Read => {
                        stderr!("reading {name}, a named pipe: waiting for its writer")
                    }
                    Opening::Write => {
                        stderr!("writing {name}, a named pipe: waiting for its reader")
                    }
                }
            }
        }
    };
    // The teller is left to end on its own: the open does not wait for it.
    let _teller = std::thread::Builder::new().spawn(told);
    let file = open();
    opened.store(true, Ordering::Release);
    file
}

/// Whether `path` names a FIFO (a named pipe, or an anonymous one as
/// `/dev/fd/…` names it), after symlinks.
#[cfg(unix)]
fn is_named_pipe(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_fifo())
}

#[cfg(not(unix))]
fn is_named_pipe(_: &Path) -> bool {
    false
}

fn read_bounded(reader: impl Read, limit: usize) -> io::Result<Input> {
    let mut bytes = Vec::new();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(bound).read_to_end(&mut bytes)?;
    let truncated = bytes.len() > limit;
    bytes.truncate(limit);
    Ok(Input { bytes, truncated })
}

/// Text from a file or a server made safe for a terminal: control
/// characters (an escape sequence could rewrite the lines above, hiding a
/// failure) and the marks that reorder text right to left (which can make a
/// line read other than it is) are written escaped.
pub(crate) fn printable(text: &str) -> String {
    text.chars().flat_map(printed).collect()
}

/// How [`printable`] writes `c`: escaped (`\u{1b}`) or as it is.
fn printed(c: char) -> impl Iterator<Item = char> + Clone {
    let escaped = (c.is_control() || reorders(c)).then(|| c.escape_default());
    let plain = escaped.is_none().then_some(c);
    escaped.into_iter().flatten().chain(plain)
}

/// An argument (or a setting's value) as an error repeats it: clipped
/// ([`crate::wire::clipped`]) and [`printable`].
pub(crate) fn shown(text: &str) -> String {
    printable(&crate::wire::clipped(text))
}

/// The most characters a file's problem prints on its line.
const LINE: usize = 1000;

/// A file's problem for a line of its own, [`printable`]: one longer than
/// [`LINE`] characters (a 20 000-character field name a catalog file
/// repeats) is cut in the middle, `…` marking the cut, so that its start
/// (where) and its end (what to do) are both kept. Characters are counted
/// as printed (a control character is written in several), and the cut
/// never falls inside an escape.
pub(crate) fn fitted(text: &str) -> String {
    let width = |c: char| printed(c).count();
    if text.chars().map(width).sum::<usize>() <= LINE {
        return printable(text);
    }
    // Whole characters from each end, as many as fit in half the line.
    let within = |room: &mut usize, c: char| {
        let width = width(c);
        let fits = width <= *room;
        *room = room.saturating_sub(width);
        fits
    };
    let (mut head_room, mut tail_room) = (LINE / 2, LINE / 2);
    let head: String = text
        .chars()
        .take_while(|&c| within(&mut head_room, c))
        .collect();
    let mut tail: Vec<char> = text
        .chars()
        .rev()
        .take_while(|&c| within(&mut tail_room, c))
        .collect();
    tail.reverse();
    let tail: String = tail.into_iter().collect();
    format!("{}…{}", printable(&head), printable(&tail))
}

/// Whether `c` is a mark that reorders text right to left (or back): shown
/// as it is, it can make a line read other than it is.
pub(crate) fn reorders(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// 1-based line and column of byte `at` of `text`, the column in characters
/// (as editors count them): neither a byte order mark that starts the file
/// nor the `\r` of a `\r\n` line break is any (editors show neither), so
/// that a file is told alike with either line break.
pub(crate) fn locate(text: &[u8], at: usize) -> (usize, usize) {
    let (before, after) = text.split_at(at.min(text.len()));
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut line_text = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => &before[nl + 1..],
        None => crate::wire::strip_bom(before),
    };
    if after.starts_with(b"\n") {
        line_text = line_text.strip_suffix(b"\r").unwrap_or(line_text);
    }
    let column = String::from_utf8_lossy(line_text).chars().count() + 1;
    (line, column)
}

/// Whether `bytes` begin with a UTF-16 byte order mark (a file saved as
/// "Unicode" by some editors), for a message that says so rather than only
/// "not valid UTF-8".
pub(crate) fn is_utf16(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF")
}

/// [`locate`] of each of `offsets`, found in one pass over `text` while they
/// ascend (an offset behind the one before is located on its own): a file
/// that names a hundred thousand places is read once, not once a place.
/// Offsets fall on character boundaries of UTF-8 `text`.
pub(crate) fn locate_each(text: &[u8], offsets: &[usize]) -> Vec<(usize, usize)> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    // Line and first byte of the line at `scanned`; characters from that
    // first byte to `scanned`.
    let (mut line, mut line_start, mut scanned, mut chars) = (1, 0, 0, 0);
    let mut each = Vec::with_capacity(offsets.len());
    for &at in offsets {
        let at = at.min(text.len());
        if at < scanned {
            each.push(locate(text, at));
            continue;
        }
        for (i, &b) in text[scanned..at].iter().enumerate() {
            if b == b'\n' {
                (line, line_start, chars) = (line + 1, scanned + i + 1, 0);
            } else if b & 0xC0 != 0x80 {
                chars += 1;
            }
        }
        scanned = at;
        let mut column = chars + 1;
        if line_start == 0 && at >= BOM.len() && text.starts_with(BOM) {
            column -= 1;
        }
        if text[at..].starts_with(b"\n") && at > line_start && text[at - 1] == b'\r' {
            column -= 1;
        }
        each.push((line, column));
    }
    each
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locating_each_place_at_once_agrees_with_locating_them_one_by_one() {
        let texts = [
            "",
            "ab",
            "a\nbc",
            "a\n\u{e9}x\r\ny\r\n\r\nz",
            "\u{feff}a\r\nb",
            "\u{feff}\r\n\u{1f600}\n",
            "\r\r\n\n\u{feff}",
        ];
        for text in texts {
            let bounds: Vec<usize> = (0..=text.len() + 1)
                .filter(|&i| i > text.len() || text.is_char_boundary(i))
                .collect();
            let one_by_one: Vec<_> = bounds
                .iter()
                .map(|&at| locate(text.as_bytes(), at))
                .collect();
            assert_eq!(
                locate_each(text.as_bytes(), &bounds),
                one_by_one,
                "{text:?}"
            );
            // Out of order, each is still right.
            let back: Vec<usize> = bounds.iter().rev().copied().collect();
            let mut expected = one_by_one.clone();
            expected.reverse();
            assert_eq!(locate_each(text.as_bytes(), &back), expected, "{text:?}");
        }
    }

    #[test]
    fn locates_after_a_prefix() {
        assert_eq!(locate(b"", 0), (1, 1));
        assert_eq!(locate(b"ab", 2), (1, 3));
        assert_eq!(locate(b"a\nbc", 4), (2, 3));
        assert_eq!(locate("a\n\u{e9}".as_bytes(), 4), (2, 2));
        assert_eq!(locate(b"ab", 99), (1, 3));
    }

    #[test]
    fn a_crlf_line_end_is_told_as_an_lf_one() {
        assert_eq!(locate(b"ab\ncd\n", 5), (2, 3));
        assert_eq!(locate(b"ab\r\ncd\r\n", 6), (2, 3));
        assert_eq!(locate(b"ab\r\ncd\r\n", 7), (2, 3));
        // A `\r` of its own is text.
        assert_eq!(locate(b"ab\rcd", 5), (1, 6));
    }

    #[test]
    fn text_cannot_move_the_cursor() {
        assert_eq!(
            printable("GET /x\u{1b}[1A\u{1b}[2K\nok"),
            "GET /x\\u{1b}[1A\\u{1b}[2K\\nok"
        );
        assert_eq!(printable("café – fine"), "café – fine");
        assert_eq!(
            printable("ok \u{202e}lin\u{2066}"),
            "ok \\u{202e}lin\\u{2066}"
        );
    }

    #[test]
    fn a_long_problem_keeps_its_start_and_its_end() {
        assert_eq!(fitted("t.toml:1:1: short\n"), "t.toml:1:1: short\\n");
        let name = "é".repeat(20_000);
        let problem = format!("t.toml:5:1: unknown field `{name}` (did you mean `title`?)");
        let line = fitted(&problem);
        assert_eq!(line.chars().count(), LINE + 1, "cut once, `…` marking it");
        assert!(line.starts_with("t.toml:5:1: unknown field `éé"), "{line}");
        assert!(line.ends_with("éé` (did you mean `title`?)"), "{line}");
        assert!(line.contains('…'), "{line}");
        // Counted as printed, escapes and all, and cut between escapes.
        let controls = format!("t.toml:5:1: `{}`", "\u{1}".repeat(900));
        let line = fitted(&controls);
        assert!(line.chars().count() <= LINE + 1, "{line}");
        let (head, tail) = line.split_once('…').unwrap();
        let escapes = |text: &str| text.split("\\u{1}").all(str::is_empty);
        assert!(
            escapes(head.strip_prefix("t.toml:5:1: `").unwrap()),
            "{head}"
        );
        assert!(escapes(tail.strip_suffix('`').unwrap()), "{tail}");
    }

    #[test]
    fn a_byte_order_mark_is_no_column() {
        assert_eq!(locate("\u{feff}".as_bytes(), 3), (1, 1));
        assert_eq!(locate("\u{feff}ab".as_bytes(), 5), (1, 3));
        assert_eq!(locate("\u{feff}a\nb".as_bytes(), 6), (2, 2));
    }

    #[test]
    fn reads_up_to_the_limit_and_says_when_it_stopped() {
        let input = read_bounded(&b"abcdef"[..], 4).unwrap();
        assert_eq!(input.bytes, b"abcd");
        assert!(input.truncated);

        let input = read_bounded(&b"abcd"[..], 4).unwrap();
        assert_eq!(input.bytes, b"abcd");
        assert!(!input.truncated);
    }

    #[test]
    fn dash_and_nothing_mean_stdin() {
        assert_eq!(Source::from_arg(None), Source::Stdin);
        assert_eq!(Source::from_arg(Some(Path::new("-"))), Source::Stdin);
        assert_eq!(Source::from_arg(Some(Path::new("a.json"))).name(), "a.json");
    }

    #[test]
    fn missing_files_are_named() {
        let err = read(&Source::File("/nonexistent/tollgate.json".into()), 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/tollgate.json: "),
            "{err}"
        );
    }
}
