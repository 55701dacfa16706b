//! `tollgate lint`: validates catalogs, every problem located in its file.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use tollgate::{Catalog, CatalogError};

use crate::catalogs::{self, CatalogArgs, Lint, Outcome};
use crate::error::{CliError, EXIT_PROBLEMS, EXIT_USAGE, count, distinct_files, plural};
use crate::input::{Source, fitted, printable};

/// Shown after `tollgate lint --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate lint api.toml
  tollgate lint examples/catalogs/*.toml
  tollgate lint --catalog base.toml overrides.toml

Each FILE is checked on its own, loaded onto the built-in catalog (one catalog per API). Files
given with --catalog are checked as `render --catalog …` loads them: stacked in order, so
collisions between them are found too; each FILE is then checked on top of that stack.

Besides what keeps a file from loading, lint tells what would make the error reference say other
than the server sends: `retry = \"never\"` on a code the layers send with a Retry-After, or a
sample in `examples` of another JSON type than they send. A file with only those is still loaded
onto the stack.

Each problem is printed as `file:line:col: entry \"code\": message`; a valid file as
`ok: file: N entries`.

Exit status: 0 all valid, 1 problems found, 2 a file could not be read.";

/// Arguments of `tollgate lint`.
#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    #[command(flatten)]
    catalogs: CatalogArgs,

    /// Catalog files to check, each on its own onto the built-in catalog (and the --catalog
    /// stack); `-` reads one from stdin
    #[arg(value_name = "FILE")]
    paths: Vec<PathBuf>,
}

/// Checks every file and prints one line per problem or valid file.
pub(crate) fn run(args: LintArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    if args.catalogs.files.is_empty() && args.paths.is_empty() {
        return Err(CliError::Usage(
            "no catalog to lint: name one or more TOML files (`-` reads one from stdin)".to_owned(),
        ));
    }
    crate::input::stdin_once(
        args.catalogs
            .paths()
            .chain(args.paths.iter().map(|p| Some(p.as_path()))),
    )?;
    let mut base = Catalog::builtin();
    let mut outcomes = catalogs::load_each(&mut base, &args.catalogs.files, Lint::Yes);
    for path in &args.paths {
        outcomes.push((path, catalogs::load_one(&mut base.clone(), path, Lint::Yes)));
    }
    let mut out = Output {
        out,
        written: Ok(()),
    };
    // The problems told, each once: a file given both with --catalog and as
    // a FILE has the same problems twice. Looked up by hash: many files of
    // a hundred problems each would otherwise be compared by the square.
    let mut told: Vec<CatalogError> = Vec::new();
    let mut seen: HashSet<CatalogError> = HashSet::new();
    let mut unreadable = 0;
    for (path, outcome) in outcomes {
        match outcome {
            Outcome::Loaded { entries } => out.line(format_args!(
                "ok: {}: {}",
                printable(&Source::from_arg(Some(path)).name()),
                plural(entries, "entry", "entries")
            )),
            Outcome::Broken(found) => {
                for problem in found {
                    if seen.insert(problem.clone()) {
                        out.line(format_args!("{}", fitted(&problem.to_string())));
                        told.push(problem);
                    }
                }
            }
            Outcome::Unreadable(err) => {
                unreadable += 1;
                out.flush();
                stderr!("error: {}", printable(&err.to_string()));
            }
        }
    }
    if !told.is_empty() {
        out.flush();
        stderr!(
            "{} in {}",
            plural(count(&told), "problem", "problems"),
            plural(distinct_files(&told), "file", "files")
        );
    }
    let code = if unreadable > 0 {
        ExitCode::from(EXIT_USAGE)
    } else if !told.is_empty() {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    };
    match out.written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Write(e)),
        _ => Ok(code),
    }
}

/// Standard output that stops at its first failed write. A reader that stops
/// early (`lint … | head`) changes neither what goes to stderr nor the exit
/// status.
struct Output<'o> {
    out: &'o mut dyn Write,
    written: std::io::Result<()>,
}

impl Output<'_> {
    fn line(&mut self, line: std::fmt::Arguments<'_>) {
        if self.written.is_ok() {
            self.written = writeln!(self.out, "{line}");
        }
    }

    /// Flushes before a line goes to stderr, so the two stay in order.
    fn flush(&mut self) {
        if self.written.is_ok() {
            self.written = self.out.flush();
        }
    }
}
