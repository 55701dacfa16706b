//! Loading the effective catalog: the built-in one, then each `--catalog`
//! file in order, every problem located in its file.

use std::path::{Path, PathBuf};

use tollgate::{Catalog, CatalogError};

use crate::error::CliError;
use crate::input::{self, MAX_INPUT, Source};

/// `--catalog FILE`, repeatable: the catalogs every command loads.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct CatalogArgs {
    /// A TOML catalog that extends or overrides the built-in one (`-` reads
    /// stdin); repeat to load several, in order (later files override
    /// earlier ones)
    #[arg(long = "catalog", short = 'c', value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

impl CatalogArgs {
    /// The effective catalog, or every problem found in the files.
    pub(crate) fn load(&self) -> Result<Catalog, CliError> {
        input::stdin_once(self.paths())?;
        load(&self.files)
    }

    /// The files, as inputs to [`input::stdin_once`].
    pub(crate) fn paths(&self) -> impl Iterator<Item = Option<&Path>> {
        self.files.iter().map(|path| Some(path.as_path()))
    }
}

/// What loading one file gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The file is valid and now part of the catalog.
    Loaded {
        /// How many entries the file defines or overrides.
        entries: usize,
    },
    /// The file has problems; none of it was applied, unless they are
    /// only [`Lint::Yes`]'s.
    Broken(Vec<CatalogError>),
    /// The file could not be read.
    Unreadable(CliError),
}

/// Loads `files` onto `catalog` in order. A file with problems is skipped
/// (loading is all-or-nothing per file) and the next ones are loaded onto
/// what came before it.
pub(crate) fn load_each<'p>(
    catalog: &mut Catalog,
    files: &'p [PathBuf],
    lint: Lint,
) -> Vec<(&'p Path, Outcome)> {
    files
        .iter()
        .map(|path| (path.as_path(), load_one(catalog, path, lint)))
        .collect()
}

/// Whether a file that loads is also told what would make its reference
/// say other than the layers send ([`Catalog::lint_toml`]): `lint` tells
/// it; the commands that only use a catalog load it as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lint {
    /// Loading only.
    No,
    /// Loading, and [`Catalog::lint_toml`]'s problems told too.
    Yes,
}

/// Loads `files` onto the built-in catalog, failing on the first unreadable
/// file or with every problem of every file.
pub(crate) fn load(files: &[PathBuf]) -> Result<Catalog, CliError> {
    load_onto(Catalog::builtin(), files, &[])
}

/// Loads `files` onto `catalog`, as [`load`] does onto the built-in one.
/// `named_at[i]`, when given, says where file `i` was named (a config
/// file's `file:line:column`), and prefixes its read error.
pub(crate) fn load_onto(
    mut catalog: Catalog,
    files: &[PathBuf],
    named_at: &[String],
) -> Result<Catalog, CliError> {
    let mut problems = Vec::new();
    for (i, (_, outcome)) in load_each(&mut catalog, files, Lint::No)
        .into_iter()
        .enumerate()
    {
        match outcome {
            Outcome::Loaded { .. } => {}
            Outcome::Broken(found) => problems.extend(found),
            Outcome::Unreadable(err) => {
                return Err(match named_at.get(i) {
                    Some(at) => CliError::Usage(format!("{at}: catalog: {err}")),
                    None => err,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(catalog)
    } else {
        Err(CliError::Catalog(problems))
    }
}

/// Loads one file onto `catalog`; on any problem the loader finds
/// `catalog` is unchanged. [`Lint::Yes`] tells [`Catalog::lint_toml`]'s
/// problems as well, but a file with only those is still loaded, as every
/// other command loads it, for the files after it to be checked on.
pub(crate) fn load_one(catalog: &mut Catalog, path: &Path, lint: Lint) -> Outcome {
    // `-` reads the catalog from stdin, as `decode -` reads a response.
    let source = Source::from_arg(Some(path));
    if source == Source::Stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        stderr!("reading a catalog from stdin; end it with Ctrl-D");
    }
    let name = source.name();
    let input = match input::read(&source, MAX_INPUT) {
        Ok(input) => input,
        Err(err) => return Outcome::Unreadable(err),
    };
    if input.truncated {
        // Not read whole, as a file that cannot be opened: lint's exit
        // status 2, not 1.
        let message = format!("{name}: the catalog is larger than {} MiB", MAX_INPUT >> 20);
        return Outcome::Unreadable(CliError::Usage(message));
    }
    let text = match String::from_utf8(input.bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let (line, column) = input::locate(e.as_bytes(), valid);
            let message = match input::is_utf16(e.as_bytes()) {
                true => "UTF-16, not UTF-8 (a TOML catalog must be UTF-8: save it so)",
                false => "not valid UTF-8 (a TOML catalog must be UTF-8)",
            };
            let message = message.to_owned();
            return Outcome::Broken(vec![problem(&name, line, column, message)]);
        }
    };
    let loaded = catalog.load_toml(&name, &text);
    // Against the catalog as loaded (this file included, unless it did not
    // load), where a `sent_as` names its entry.
    let drift = match lint {
        Lint::Yes => catalog.lint_toml(&name, &text),
        Lint::No => Vec::new(),
    };
    match loaded {
        Ok(_) if !drift.is_empty() => Outcome::Broken(drift),
        Ok(entries) => Outcome::Loaded { entries },
        Err(problems) => {
            let mut problems = problems.into_vec();
            // Told with the loader's, as a run tells every problem; past a
            // hundred the loader's count of the rest stays last.
            if problems.last().is_none_or(|last| last.not_shown.is_none()) {
                problems.extend(drift);
            }
            // One key named twice (`details = ["b", "b"]`) is one problem.
            let mut once = Vec::with_capacity(problems.len());
            for problem in problems {
                if !once.contains(&problem) {
                    once.push(problem);
                }
            }
            // In the order of the file, top to bottom; the count of those
            // not shown stays last.
            let more = once.pop_if(|last| last.not_shown.is_some());
            once.sort_by_key(|problem| (problem.line, problem.column));
            once.extend(more);
            Outcome::Broken(once)
        }
    }
}

fn problem(file: &str, line: usize, column: usize, message: String) -> CatalogError {
    CatalogError {
        file: file.to_owned(),
        line,
        column,
        code: None,
        message,
        not_shown: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_entries() {
        let count = |text: &str| Catalog::builtin().load_toml("t.toml", text).unwrap();
        let text = "[errors.not_found]\nmessage = 'Gone'\n[errors.conflict.aliases]\ncoded = 'C'\n";
        assert_eq!(count(text), 2);
        assert_eq!(count("domain = 'api.example.com'\n"), 0);
    }
}
