//! `tollgate codes`: the effective catalog as a table.

use std::io::Write;
use std::process::ExitCode;

use tollgate::{Catalog, Dialect};

use crate::args::parse_dialect;
use crate::catalogs::CatalogArgs;
use crate::error::CliError;

/// Shown after `tollgate codes --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate codes
  tollgate codes --dialect coded --catalog api.toml

Columns: the canonical code, the HTTP status, the code as spelled on the wire in the dialect (its
alias there), the canonical kind, the retry class (never, after, backoff) and the title.";

/// Arguments of `tollgate codes`.
#[derive(Debug, clap::Args)]
pub(crate) struct CodesArgs {
    #[command(flatten)]
    catalogs: CatalogArgs,

    /// The dialect whose spelling of each code is shown: problem, status-code, coded, detail, meta,
    /// envelope, flat, google, stripe or jsonapi
    #[arg(long, short, value_name = "DIALECT", default_value = "problem", value_parser = parse_dialect)]
    dialect: Dialect,
}

/// Prints the effective catalog.
pub(crate) fn run(args: CodesArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let catalog = args.catalogs.load()?;
    out.write_all(table(&catalog, args.dialect).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One row per entry under a header row, columns padded to align; the last
/// column (the title) is not padded.
fn table(catalog: &Catalog, dialect: Dialect) -> String {
    let header = ["CODE", "STATUS", "WIRE CODE", "KIND", "RETRY", "TITLE"].map(str::to_owned);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(catalog.iter().map(|def| {
            [
                def.code().to_owned(),
                def.status().to_string(),
                def.wire_code(def.dialect_in(dialect)).into_owned(),
                def.kind().to_string(),
                def.retry().as_str().to_owned(),
                def.title().to_owned(),
            ]
        }))
        .collect();
    crate::table::aligned(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_follow_the_dialect() {
        let catalog = Catalog::builtin();
        let text = table(&catalog, Dialect::Google);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), catalog.iter().count() + 1);
        let status_at = lines[0].find("STATUS").unwrap();
        let title_at = lines[0].find("TITLE").unwrap();
        for (line, def) in lines[1..].iter().zip(catalog.iter()) {
            assert!(line.starts_with(def.code()), "{line}");
            assert_eq!(
                &line[status_at..status_at + 3],
                def.status().to_string(),
                "{line}"
            );
            assert_eq!(line.get(title_at..), Some(def.title()), "{line}");
            assert!(
                line.contains(&*def.code().to_ascii_uppercase()),
                "google spells codes in upper case: {line}"
            );
        }
    }
}
