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
`| head` does, is no failure; a stdout closed at start is /dev/null, written without failing);
130 serve stopped by a second Ctrl-C. A change `keys` or
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
    let printed = match with_arguments_shown_safely(e) {
        Some(text) => io::stderr().write_all(text.as_bytes()),
        None => e.print().and_then(|()| io::stdout().flush()),
    };
    match printed {
        Err(why) if !e.use_stderr() && why.kind() != io::ErrorKind::BrokenPipe => {
            CliError::Write(why).report()
        }
        _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE)),
    }
}

/// A usage error that repeats an argument longer than [`wire::clipped`]
/// keeps (clap repeats one whole, in its message and its tips, a pasted
/// 5 000 characters included), or one with control characters (an escape
/// sequence the terminal would act on), as plain text with every repeat
/// clipped and those characters escaped (`\u{1b}`); `None` when no
/// argument is either. Value parsers clip and escape what they repeat
/// themselves.
fn with_arguments_shown_safely(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let repeated = [
        ContextKind::InvalidValue,
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
    ];
    let unsafe_to_show: Vec<&str> = repeated
        .into_iter()
        .filter_map(|kind| match e.get(kind) {
            Some(ContextValue::String(text)) => Some(text.as_str()),
            _ => None,
        })
        .filter(|text| {
            let clipped = matches!(wire::clipped(text), std::borrow::Cow::Owned(_));
            clipped || input::printable(text) != **text
        })
        .collect();
    if unsafe_to_show.is_empty() {
        return None;
    }
    // Rendered as plain text, clap's own escape sequences are gone, and so
    // are those of an argument, with a character after each: its repeats
    // are found as they are left, in clap's quotes (`'…'`, and `'-- …'` in
    // a tip), so that a value parser's reason, which quotes the argument
    // escaped already, is left alone.
    let mut text = e.render().to_string();
    for argument in unsafe_to_show {
        let left = clap::builder::StyledStr::from(argument.to_owned()).to_string();
        let shown = input::shown(argument);
        for quote in ["'", "'-- "] {
            text = text.replace(&format!("{quote}{left}'"), &format!("{quote}{shown}'"));
        }
    }
    Some(text)
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

    /// A terminal acts on an escape sequence it is shown: clap's repeats
    /// of a wrong argument show its control characters escaped, and with
    /// the characters around them, whatever the sequence.
    #[test]
    fn a_wrong_argument_with_control_characters_is_repeated_escaped() {
        let said = |args: &[&str]| {
            let e = Cli::try_parse_from(args).unwrap_err();
            with_arguments_shown_safely(&e).unwrap_or_else(|| e.render().to_string())
        };
        let account = said(&["tollgate", "accounts", "create", "bad\u{1b}name"]);
        assert!(
            account.starts_with("error: invalid value 'bad\\u{1b}name' for '<ACCOUNT>'"),
            "{account}"
        );
        let subcommand = said(&["tollgate", "sub\u{1b}[31mred\u{7}"]);
        assert!(
            subcommand.starts_with("error: unrecognized subcommand 'sub\\u{1b}[31mred\\u{7}'"),
            "{subcommand}"
        );
        assert!(
            !subcommand.contains(|c: char| c.is_control() && c != '\n'),
            "{subcommand:?}"
        );
        // A value parser's reason, which quotes the argument escaped, once.
        let listen = said(&["tollgate", "serve", "--listen", "1.2.3.4:\u{1b}"]);
        assert!(
            listen.starts_with(
                "error: invalid value '1.2.3.4:\\u{1b}' for '--listen <ADDR>': \
                 \"1.2.3.4:\\u{1b}\" is not an address to listen on"
            ),
            "{listen}"
        );
        // A URL, shown by the value parser itself (its password hidden).
        let url = said(&["tollgate", "probe", "http://u:p@h\u{1b}[31m/"]);
        assert!(
            url.starts_with("error: invalid value 'http://***@h\\u{1b}[31m/' for '<BASE_URL>'"),
            "{url}"
        );
        // A flag taken for an argument, repeated in the tip.
        let flag = said(&["tollgate", "render", "x", "--a\u{7}b"]);
        assert!(
            flag.contains("'--a\\u{7}b'") && flag.contains("'-- --a\\u{7}b'"),
            "{flag}"
        );
    }

    /// clap repeats a wrong argument whole, up to three times (the message,
    /// the value parser's reason, a tip): each is clipped, and the rest of
    /// the message kept.
    #[test]
    fn a_long_wrong_argument_is_repeated_clipped() {
        let said = |args: &[&str]| {
            let e = Cli::try_parse_from(args).unwrap_err();
            with_arguments_shown_safely(&e).unwrap_or_else(|| e.render().to_string())
        };
        let digits = "9".repeat(5000);
        let status = said(&["tollgate", "decode", "--status", &digits]);
        let clipped = format!("{}…", "9".repeat(80));
        assert!(
            status.starts_with(&format!(
                "error: invalid value '{clipped}' for '--status <N>': {clipped} is too large: \
                 expected a whole number from 100 to 999\n"
            )),
            "{status}"
        );
        // One character past what is kept is clipped too.
        let just_over = said(&["tollgate", "decode", "--status", &"9".repeat(81)]);
        assert!(
            just_over.starts_with(&format!("error: invalid value '{clipped}' for")),
            "{just_over}"
        );
        let flag = format!("--{}", "x".repeat(5000));
        let unexpected = said(&["tollgate", "render", "x", &flag]);
        assert!(unexpected.len() < 1000, "{unexpected}");
        assert!(
            unexpected.starts_with(&format!(
                "error: unexpected argument '--{}…' found",
                "x".repeat(78)
            )),
            "{unexpected}"
        );
        // A header name of quotes, which the reason repeats escaped.
        let header = format!("{}: x", "\"".repeat(5000));
        let quoted = said(&["tollgate", "decode", "-H", &header]);
        assert!(quoted.len() < 1000, "{}", quoted.len());
        // A unit humantime does not know, which it repeats; a KEY=VALUE
        // without `=`; a route without `:`.
        let unit = format!("1{}", "x".repeat(5000));
        let timeout = said(&["tollgate", "serve", "--timeout", &unit]);
        assert!(timeout.len() < 1000, "{timeout}");
        assert!(timeout.contains("supported units: ns"), "{timeout}");
        for args in [
            ["tollgate", "render", "x", "--set", &"k".repeat(5000)],
            [
                "tollgate",
                "probe",
                "http://h",
                "--route",
                &"r".repeat(5000),
            ],
        ] {
            let text = said(&args);
            assert!(text.len() < 1000, "{text}");
            assert!(
                text.contains("; found \"kkk") || text.contains("; found \"rrr"),
                "{text}"
            );
        }
        let command = said(&["tollgate", &"y".repeat(5000)]);
        assert!(command.len() < 1000, "{command}");
        assert!(command.contains("unrecognized subcommand"), "{command}");
        // A short one is left to clap, colours and all.
        let e = Cli::try_parse_from(["tollgate", "decode", "--status", "99"]).unwrap_err();
        assert_eq!(with_arguments_shown_safely(&e), None);
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
