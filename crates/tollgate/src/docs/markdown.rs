//! The error reference as Markdown.

use std::fmt::Write;

use super::{example_response, retry_advice};
use crate::{Catalog, Dialect};

/// The error reference for `catalog` in `dialect`, as Markdown: an index
/// table, then one section per code with an example response.
pub fn markdown(catalog: &Catalog, dialect: Dialect) -> String {
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
            plain(def.title())
        );
    }
    for def in catalog.iter() {
        let _ = writeln!(out, "\n## `{}`\n", def.code());
        let _ = writeln!(out, "**{} {}**\n", def.status(), plain(def.title()));
        let _ = writeln!(out, "- What it means: {}", plain(&def.message().shown()));
        if let Some(remedy) = def.remedy_text() {
            let _ = writeln!(out, "- What to do: {}", plain(remedy));
        }
        let _ = writeln!(out, "- Retry: {}", retry_advice(def.retry()));
        let _ = writeln!(out, "- Kind: `{}`", def.kind());
        let wire = def.wire_code(dialect);
        if wire != def.code() {
            let _ = writeln!(out, "- Code on the wire: `{wire}`");
        }
        // Listed where the body has them (envelope and flat bodies have none,
        // nor a status-code body with a hint).
        if dialect.sends_details_of(def) && !def.detail_keys().is_empty() {
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

/// Catalog text (plain text, not Markdown) as Markdown that shows it as
/// written: on one line, since a line break would end a table cell, a
/// heading or a list item; without surrounding space, which would keep `**`
/// from closing; and with every character Markdown reads as syntax inline
/// backslash-escaped (CommonMark lets any ASCII punctuation be), so that
/// `<key>` is not raw HTML, `5*60` not emphasis, `&amp;` not an entity,
/// `$5 to $10` not GitHub's math and `|` does not end a table cell. (A bare
/// URL may still be made a link by GitHub; its text stays as written.)
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.trim().chars() {
        match c {
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '&' | '|' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Details are listed in the dialects whose bodies carry them, and in
    /// both kinds of page alike.
    #[test]
    fn details_are_listed_where_the_body_has_them() {
        let catalog = Catalog::builtin();
        for dialect in Dialect::ALL {
            let listed = markdown(&catalog, dialect).contains("- Details: `limit`, `window`");
            assert_eq!(listed, dialect.carries_details(), "{dialect}");
            let html = crate::docs::html(&catalog, dialect, None);
            let listed = html.contains("<code>limit</code>, <code>window</code>");
            assert_eq!(listed, dialect.carries_details(), "{dialect}");
        }
        // Seed 000's `details` is the hint where the entry has one.
        let mut hinted = Catalog::builtin();
        hinted
            .load_toml(
                "000.toml",
                "[errors.rate_limit_exceeded]\nhint = 'Slow down.'\n",
            )
            .unwrap();
        for dialect in [Dialect::StatusCode, Dialect::Problem] {
            let listed = markdown(&hinted, dialect).contains("- Details: `limit`, `window`");
            assert_eq!(listed, dialect == Dialect::Problem, "{dialect}");
            let html = crate::docs::html(&hinted, dialect, None);
            let listed = html.contains("<code>limit</code>, <code>window</code>");
            assert_eq!(listed, dialect == Dialect::Problem, "{dialect}");
        }
    }

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
        assert!(doc.contains("**400 \\<b\\>T**"), "{doc}");
    }

    /// Rendered by a CommonMark renderer (with tables), catalog text reads
    /// as written: no raw HTML, emphasis, entities, links or code spans.
    #[test]
    fn catalog_text_renders_as_written() {
        let texts = [
            ("title", "Gone away   "),
            ("title", "a | b *c* _d_"),
            (
                "message",
                "Use &amp; to join terms, between 5*60 and 2*60 seconds",
            ),
            (
                "remedy",
                "Send `Authorization: Bearer <key>` or [see](https://x.y) \\\"q\\\"",
            ),
            ("remedy", "~~old~~ <b>bold</b> &lt; ![i](x) $5 to $10"),
        ];
        for (field, text) in texts {
            let mut catalog = Catalog::builtin();
            let other = |f: &str| if f == field { text } else { "t" };
            let toml = format!(
                "[errors.odd_text]\nstatus = 400\ntitle = {:?}\nmessage = {:?}\nremedy = {:?}\n",
                other("title"),
                other("message"),
                other("remedy"),
            );
            catalog.load_toml("t.toml", &toml).unwrap();
            let doc = markdown(&catalog, Dialect::Problem);
            let options = pulldown_cmark::Options::ENABLE_TABLES
                | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
            let mut html = String::new();
            pulldown_cmark::html::push_html(
                &mut html,
                pulldown_cmark::Parser::new_ext(&doc, options),
            );
            let shown = text
                .trim()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            let expected = match field {
                "title" => vec![
                    format!("<td>{shown}</td>"),
                    format!("<strong>400 {shown}</strong>"),
                ],
                "message" => vec![format!("<li>What it means: {shown}</li>")],
                _ => vec![format!("<li>What to do: {shown}</li>")],
            };
            for want in expected {
                assert!(html.contains(&want), "{want}\n{html}");
            }
        }
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
