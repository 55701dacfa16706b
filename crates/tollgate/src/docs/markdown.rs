//! The error reference as Markdown.

use std::fmt::Write;

use super::{example_response, retry_advice};
use crate::{Catalog, Dialect};

/// The error reference for `catalog` in `dialect`, as Markdown: an index
/// table, then one section per code with an example response.
pub fn markdown(catalog: &Catalog, dialect: Dialect) -> String {
    // Text from the catalog is plain text on one line: in a table cell, a
    // heading or a list item, a line break would end it, and a `<` would
    // open raw HTML in renderers that allow it.
    let line = |text: &str| text.replace(['\r', '\n'], " ").replace('<', "&lt;");
    let cell = |text: &str| line(text).replace('|', "\\|");
    let mut out = String::new();
    let _ = writeln!(out, "# Error reference\n");
    let _ = writeln!(
        out,
        "Every error this API returns. Bodies are shown in the `{dialect}` dialect; every error also \
         carries `X-Request-Id` and `X-Error-Code` headers.\n"
    );
    let _ = writeln!(out, "| code | status | title |\n|---|---|---|");
    for def in catalog.iter() {
        let _ = writeln!(
            out,
            "| [`{0}`](#{0}) | {1} | {2} |",
            def.code(),
            def.status(),
            cell(def.title())
        );
    }
    for def in catalog.iter() {
        let _ = writeln!(out, "\n## `{}`\n", def.code());
        let _ = writeln!(out, "**{} {}**\n", def.status(), line(def.title()));
        let _ = writeln!(out, "- What it means: {}", line(&def.message().shown()));
        if let Some(remedy) = def.remedy_text() {
            let _ = writeln!(out, "- What to do: {}", line(remedy));
        }
        let _ = writeln!(out, "- Retry: {}", retry_advice(def.retry()));
        let _ = writeln!(out, "- Kind: `{}`", def.kind());
        let wire = def.wire_code(dialect);
        if wire != def.code() {
            let _ = writeln!(out, "- Code on the wire: `{wire}`");
        }
        if !def.detail_keys().is_empty() {
            let keys: Vec<_> = def.detail_keys().iter().map(|k| format!("`{k}`")).collect();
            let _ = writeln!(out, "- Details: {}", keys.join(", "));
        }
        let _ = writeln!(
            out,
            "\n```http\n{}\n```",
            example_response(catalog, dialect, def)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_text_with_line_breaks_stays_on_its_line() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.two_lines]\nstatus = 400\ntitle = 'T'\nmessage = \"first\\nsecond\"\n\
                 remedy = \"do\\nthis\"\n",
            )
            .unwrap();
        let doc = markdown(&catalog, Dialect::Problem);
        assert!(doc.contains("- What it means: first second\n"), "{doc}");
        assert!(doc.contains("- What to do: do this\n"), "{doc}");
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.tag]\nstatus = 400\ntitle = '<b>T'\nmessage = 'm'\n",
            )
            .unwrap();
        let doc = markdown(&catalog, Dialect::Problem);
        assert!(doc.contains("**400 &lt;b>T**"), "{doc}");
    }

    #[test]
    fn messages_show_braces_as_sent() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.x_json]\nstatus = 400\ntitle = 'T'\nmessage = 'Send {{\"a\":1}} to {url}'\ndetails = ['url']\n",
            )
            .unwrap();
        let doc = markdown(&catalog, Dialect::Problem);
        assert!(
            doc.contains("- What it means: Send {\"a\":1} to {url}\n"),
            "{doc}"
        );
    }
}
