//! `tollgate`: render, decode and lint HTTP API errors from a Tollgate catalog.
//!
//! Each subcommand is a module with its clap `…Args` and a `run` that writes
//! to the output it is given; `main` only parses and dispatches. To add a
//! subcommand, add a module and a variant of [`Command`].

/// `eprintln!` that never panics: a line to stderr, dropped if stderr is a
/// pipe whose reader has left (`tollgate lint … 2>&1 | head -1`), so that the
/// command keeps its own exit status.
macro_rules! stderr {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod accounts;
mod args;
mod catalogs;
mod codes;
mod decode;
mod discarded;
mod docs;
mod error;
mod input;
mod keys;
mod lint;
mod probe;
mod render;
mod serve;
mod store_db;
mod table;
mod wire;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

const EXAMPLES: &str = "\
Examples:
  tollgate render insufficient_credits --dialect envelope --set required=1 --set available=0
  tollgate render service_unavailable --retry-after 30 | tollgate decode
  curl -si https://api.example.com/v1/scans | tollgate decode
  tollgate lint examples/catalogs/*.toml
  tollgate codes --dialect coded --catalog api.toml

Exit status: 0 success, 1 lint or probe found problems, 2 bad arguments, an unknown code or
dialect, a catalog that cannot be read or loaded, an API that probe cannot reach, a database
that cannot be opened or used, or output that cannot be written (a reader that leaves early, as
`| head` does, is no failure); 130 serve stopped by a second Ctrl-C. A change `keys` or
`accounts` made exits 0 even when its output cannot be written (stderr says what was done), so
that a script does not make it twice; a new key that cannot be written is revoked (exit 2), and
none is made while stdout is /dev/null (`> /dev/null`, or closed: exit 2).";

/// One catalog of errors, written and read in ten wire dialects.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, after_help = EXAMPLES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print an error response exactly as a server sends it: status line, headers, body
    #[command(after_help = render::EXAMPLES)]
    Render(render::RenderArgs),
    /// Read an error response from any API (a body, or a whole response) into one JSON object
    #[command(after_help = decode::EXAMPLES)]
    Decode(decode::DecodeArgs),
    /// Validate catalog files, each problem located by file, line and entry
    #[command(after_help = lint::EXAMPLES)]
    Lint(lint::LintArgs),
    /// List the effective catalog: code, status, wire code, kind, retry class, title
    #[command(after_help = codes::EXAMPLES)]
    Codes(codes::CodesArgs),
    /// Write the error reference offline: an HTML page, Markdown, or an OpenAPI 3.1 document
    #[command(after_help = docs::EXAMPLES)]
    Docs(docs::DocsArgs),
    /// Check a live API's errors against the catalog: provoke the usual failures, check each answer
    #[command(after_help = probe::EXAMPLES)]
    Probe(probe::ProbeArgs),
    /// Create, list and revoke API keys (a new key is printed once, on the last line)
    #[command(after_help = keys::EXAMPLES)]
    Keys(keys::KeysArgs),
    /// Create accounts, add credits, suspend, resume and show them
    #[command(after_help = accounts::EXAMPLES)]
    Accounts(accounts::AccountsArgs),
    /// Run the example API: every piece of Tollgate, its errors documented at /errors and /openapi.json
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
}

impl Command {
    fn run(self, out: &mut dyn Write) -> Result<ExitCode, CliError> {
        match self {
            Command::Render(args) => render::run(args, out),
            Command::Decode(args) => decode::run(args, out),
            Command::Lint(args) => lint::run(args, out),
            Command::Codes(args) => codes::run(args, out),
            Command::Docs(args) => docs::run(args, out),
            Command::Probe(args) => probe::run(args, out),
            Command::Keys(args) => keys::run(args, out),
            Command::Accounts(args) => accounts::run(args, out),
            Command::Serve(args) => serve::run(args, out),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = cli.command.run(&mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(code), Ok(())) => code,
        // The reader left early (`| head`): what the command found stands.
        (Ok(code), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => code,
        (Ok(_), Err(e)) => CliError::Write(e).report(),
        (Err(e), _) => e.report(),
    }
}

/// Prints what clap stopped with: a usage error to stderr (exit 2), or
/// `--help` or `--version` to stdout (exit 0). Unlike clap's own `exit`, a
/// stdout that cannot take the text (`--help > /dev/full`) is an error said
/// on stderr (exit 2), a closed pipe aside.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let printed = e.print().and_then(|()| io::stdout().flush());
    match printed {
        Err(why) if !e.use_stderr() && why.kind() != io::ErrorKind::BrokenPipe => {
            CliError::Write(why).report()
        }
        _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use tollgate::Dialect;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// clap wraps help at 100 columns: an example longer than that would
    /// be cut in two, and no longer paste as one command.
    #[test]
    fn every_line_after_the_help_fits_in_100_columns() {
        let cli = Cli::command();
        let commands = std::iter::once(&cli).chain(cli.get_subcommands());
        let mut seen = 0;
        for command in commands {
            let Some(text) = command.get_after_help() else {
                continue;
            };
            for line in text.to_string().lines() {
                let width = line.chars().count();
                assert!(
                    width <= 100,
                    "{}: {width} columns: {line}",
                    command.get_name()
                );
            }
            seen += 1;
        }
        assert!(seen >= 10, "{seen} commands with examples");
    }

    #[test]
    fn dialect_help_lists_every_dialect() {
        for name in ["render", "codes"] {
            let mut cli = Cli::command();
            let sub = cli.find_subcommand_mut(name).unwrap();
            let help = sub.render_long_help().to_string();
            for dialect in Dialect::ALL {
                assert!(
                    help.contains(dialect.name()),
                    "{name} --help lacks {dialect}"
                );
            }
        }
    }
}
