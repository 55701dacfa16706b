//! Why a command failed, and the exit status each reason gets.

use std::fmt;
use std::io;
use std::process::ExitCode;

use tollgate::CatalogError;

use crate::input::{fitted, printable};

/// Exit status when the command ran and found problems (`lint`).
pub(crate) const EXIT_PROBLEMS: u8 = 1;
/// Exit status for bad input: unknown code or dialect, unreadable or broken
/// files, malformed arguments (clap uses it for usage errors too).
pub(crate) const EXIT_USAGE: u8 = 2;

/// A command that could not do its job.
#[derive(Debug)]
pub(crate) enum CliError {
    /// An argument is well-formed for clap but wrong for Tollgate: an unknown
    /// code, an invalid request id. The message says what is valid.
    Usage(String),
    /// Catalog files have problems; each is located in its file.
    Catalog(Vec<CatalogError>),
    /// A config file has problems, each `file:line:column: why`, in the
    /// order of the file.
    Config {
        /// The file, as named.
        file: String,
        /// Its problems, the first hundred.
        problems: Vec<String>,
        /// How many more there are, told only as a count.
        not_shown: usize,
    },
    /// A file (or stdin) could not be read.
    Read {
        /// The file as named on the command line, or `<stdin>`.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Writing the output failed (other than a closed pipe, which ends quietly).
    Write(io::Error),
    /// A change was made and stands, but the output that shows it could not
    /// be written. Said as a warning, with exit status 0: a script that took
    /// it for a failure and ran the command again would make the change
    /// twice.
    Unshown {
        /// What was done: `credited 5 to acme`.
        change: String,
        /// Why the output could not be written.
        source: io::Error,
    },
}

impl CliError {
    /// The exit status for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            CliError::Unshown { .. } => ExitCode::SUCCESS,
            _ => ExitCode::from(EXIT_USAGE),
        }
    }

    /// Prints the error to stderr (nothing for a closed pipe: the reader has
    /// what it wanted) and returns the exit status. Control characters from
    /// files and settings are written escaped.
    pub(crate) fn report(&self) -> ExitCode {
        match self {
            CliError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            CliError::Catalog(problems) => {
                for problem in problems {
                    stderr!("{}", fitted(&problem.to_string()));
                }
                let files = distinct_files(problems);
                stderr!(
                    "error: {} in {}",
                    plural(count(problems), "catalog problem", "catalog problems"),
                    plural(files, "file", "files")
                );
            }
            CliError::Config {
                file,
                problems,
                not_shown,
            } if problems.len() + not_shown > 1 => {
                for problem in problems {
                    stderr!("{}", fitted(problem));
                }
                if *not_shown > 0 {
                    // As a catalog's are counted.
                    let more = plural(*not_shown, "more problem", "more problems");
                    stderr!("and {more}, not shown");
                }
                let count = plural(problems.len() + not_shown, "problem", "problems");
                stderr!("error: {count} in {}", printable(file));
            }
            CliError::Unshown { .. } => stderr!("warning: {}", printable(&self.to_string())),
            other => stderr!("error: {}", printable(&other.to_string())),
        }
        self.exit_code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => f.write_str(message),
            CliError::Catalog(problems) => {
                let lines: Vec<_> = problems.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            CliError::Config { problems, .. } => f.write_str(&problems.join("\n")),
            CliError::Read { path, .. } if path.is_empty() => {
                f.write_str("cannot read \"\": a file name is needed")
            }
            CliError::Read { path, source } => write!(f, "cannot read {path}: {source}"),
            CliError::Write(source) => write!(f, "cannot write the output: {source}"),
            CliError::Unshown { change, source } => {
                write!(f, "{change}, but cannot write the output: {source}")
            }
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Read { source, .. }
            | CliError::Write(source)
            | CliError::Unshown { source, .. } => Some(source),
            CliError::Usage(_) | CliError::Catalog(_) | CliError::Config { .. } => None,
        }
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Write(e)
    }
}

/// `1 entry`, `2 entries`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// How many problems `problems` tell of. A file's first hundred are told
/// one by one, then in one line, `and N more problems, not shown`, which
/// stands for N ([`CatalogError::not_shown`]).
pub(crate) fn count(problems: &[CatalogError]) -> usize {
    problems
        .iter()
        .map(|problem| problem.not_shown.unwrap_or(1))
        .sum()
}

/// How many files `problems` are in.
pub(crate) fn distinct_files(problems: &[CatalogError]) -> usize {
    let mut files: Vec<&str> = problems.iter().map(|p| p.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    files.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_pipes_end_quietly_and_successfully() {
        let e = CliError::Write(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.exit_code(), ExitCode::SUCCESS);
        let e = CliError::Write(io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(e.exit_code(), ExitCode::from(EXIT_USAGE));
    }

    #[test]
    fn a_change_made_but_not_shown_is_no_failure() {
        let e = CliError::Unshown {
            change: "credited 5 to acme".into(),
            source: io::ErrorKind::StorageFull.into(),
        };
        assert_eq!(e.exit_code(), ExitCode::SUCCESS);
        assert!(
            e.to_string()
                .starts_with("credited 5 to acme, but cannot write the output: "),
            "{e}"
        );
    }

    #[test]
    fn read_errors_name_the_file() {
        let e = CliError::Read {
            path: "x.toml".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert!(e.to_string().starts_with("cannot read x.toml: "), "{e}");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source,
            Some(io::Error::from(io::ErrorKind::NotFound).to_string())
        );
        let empty = CliError::Read {
            path: String::new(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(empty.to_string(), "cannot read \"\": a file name is needed");
    }

    #[test]
    fn the_problems_past_those_told_are_counted() {
        let problem = |message: &str, not_shown: Option<usize>| CatalogError {
            file: "big.toml".into(),
            line: 3,
            column: 1,
            code: None,
            message: message.into(),
            not_shown,
        };
        let problems = [
            problem("title is empty", None),
            problem("and 41 more problems, not shown", Some(41)),
        ];
        assert_eq!(count(&problems), 42);
        // A problem's own message is one problem, whatever it says.
        assert_eq!(
            count(&[problem("and 41 more problems, not shown", None)]),
            1
        );
        // As the core tells it.
        let mut text = String::from("[errors]\n");
        // 150 entries of good codes, each lacking every field: one problem.
        for i in 0..150 {
            text.push_str(&format!("err{i} = {{}}\n"));
        }
        let problems = tollgate::Catalog::builtin()
            .load_toml("big.toml", &text)
            .unwrap_err();
        assert_eq!(count(&problems), 150);
    }

    #[test]
    fn the_files_with_problems_are_counted_once_each() {
        let problem = |file: &str| CatalogError {
            file: file.into(),
            line: 1,
            column: 1,
            code: None,
            message: "title is empty".into(),
            not_shown: None,
        };
        let problems = [problem("b.toml"), problem("a.toml"), problem("b.toml")];
        assert_eq!(distinct_files(&problems), 2);
        assert_eq!(distinct_files(&problems[..1]), 1);
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "entry", "entries"), "1 entry");
        assert_eq!(plural(0, "entry", "entries"), "0 entries");
        assert_eq!(plural(3, "file", "files"), "3 files");
    }
}
