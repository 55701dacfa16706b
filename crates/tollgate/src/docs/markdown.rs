//! The error reference as Markdown.

use std::fmt::Write;

use super::{HINT_GIVES_WAY, example_response, retry_advice};
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
        // The dialect it is written in: the API's, unless it is sent in another.
        let written = def.dialect_in(dialect);
        if written != dialect {
            let _ = writeln!(out, "- Written in: the `{written}` dialect");
        }
        let wire = def.wire_code(written);
        if wire != def.code() {
            let _ = writeln!(out, "- Code on the wire: `{wire}`");
        }
        // Listed where the body has them (envelope and flat bodies have none),
        // saying when a hint takes their place.
        if written.carries_details() && !def.detail_keys().is_empty() {
            let keys: Vec<_> = def.detail_keys().iter().map(|k| format!("`{k}`")).collect();
            let when = if written.sends_hint_of(def) {
                HINT_GIVES_WAY
            } else {
                ""
            };
            let _ = writeln!(out, "- Details: {}{when}", keys.join(", "));
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
/// `$5 to $10` not GitHub's math and `|` does not end a table cell. A URL
/// stays text too: GitHub makes links of `https://…` and `www.…` as written
/// in the source, before escapes are read, so a backslash in one would show;
/// escaping the `:` of `://` and the `.` of `www.` keeps them from being
/// links. (GitHub may still make an e-mail address a link; its text stays as
/// written.)
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '&' | '|' | '$' => {
                out.push('\\');
                out.push(c);
            }
            ':' if chars.peek() == Some(&'/') => out.push_str("\\:"),
            '.' if out.ends_with("www") => out.push_str("\\."),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiError, Context};

    /// An entry sent in another dialect is described as it is sent: the
    /// dialect, its code there, and its details where that body has them.
    #[test]
    fn an_entry_sent_in_another_dialect_is_described_as_sent() {
        let mut catalog = Catalog::builtin();
        let source = "[errors.rate_limit_exceeded]\naliases = { coded = 'RATE_LIMIT_ERROR' }\n\
                      sent_in = { envelope = 'coded', coded = 'envelope' }\n";
        catalog.load_toml("t.toml", source).unwrap();
        // The entry's section of the page in `dialect`.
        let section_in = |dialect| {
            let page = markdown(&catalog, dialect);
            let section = &page[page.find("## `rate_limit_exceeded`").unwrap()..];
            let end = section[3..]
                .find("\n## ")
                .map_or(section.len(), |at| at + 3);
            section[..end].to_owned()
        };
        let section = section_in(Dialect::Envelope);
        assert!(
            section.contains("- Written in: the `coded` dialect"),
            "{section}"
        );
        assert!(
            section.contains("- Code on the wire: `RATE_LIMIT_ERROR`"),
            "{section}"
        );
        assert!(
            section.contains("- Details: `limit`, `window`"),
            "{section}"
        );
        let section = section_in(Dialect::Coded);
        assert!(
            section.contains("- Written in: the `envelope` dialect"),
            "{section}"
        );
        assert!(!section.contains("Code on the wire"), "{section}");
        assert!(!section.contains("- Details:"), "{section}");
        let html = crate::docs::html(&catalog, Dialect::Envelope, None);
        assert!(html.contains("<dt>Written in</dt><dd>the <code>coded</code> dialect</dd>"));
    }

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
        // Seed 000's `details` is the hint where the entry has one, unless
        // it gives way to the details: the pages say when.
        let mut hinted = Catalog::builtin();
        hinted
            .load_toml(
                "000.toml",
                "[errors.rate_limit_exceeded]\nhint = 'Slow down.'\n",
            )
            .unwrap();
        for dialect in [Dialect::StatusCode, Dialect::Problem] {
            let doc = markdown(&hinted, dialect);
            assert!(doc.contains("- Details: `limit`, `window`"), "{dialect}");
            let said = doc.contains(&format!("`window`{HINT_GIVES_WAY}\n"));
            assert_eq!(said, dialect == Dialect::StatusCode, "{dialect}");
            let html = crate::docs::html(&hinted, dialect, None);
            assert!(html.contains("<code>limit</code>, <code>window</code>"));
            let said = html.contains(&format!("<code>window</code>{HINT_GIVES_WAY}</dd>"));
            assert_eq!(said, dialect == Dialect::StatusCode, "{dialect}");
        }
    }

    /// Whether `value` has a member `key` holding `"<key>"` (the sample
    /// value the test gives a detail).
    fn sends_sample(value: &serde_json::Value, key: &str) -> bool {
        match value {
            serde_json::Value::Object(map) => map
                .iter()
                .any(|(k, v)| (k == key && *v == format!("<{key}>")) || sends_sample(v, key)),
            serde_json::Value::Array(items) => items.iter().any(|v| sends_sample(v, key)),
            _ => false,
        }
    }

    /// The pages list an entry's details exactly when some body the
    /// encoder writes for it sends them: with every detail, with a field
    /// violation, or with a detail left out.
    #[test]
    fn details_are_listed_exactly_when_a_body_sends_them() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "000.toml",
                "[errors.rate_limit_exceeded]\nhint = 'Wait {window} seconds.'\n\
                 [errors.x_hinted]\nstatus = 403\ntitle = 'T'\nmessage = 'm'\n\
                 hint = 'No {access} access.'\ndetails = ['access', 'resource']\n",
            )
            .unwrap();
        let ctx = Context::new(crate::docs::example_time());
        for dialect in Dialect::ALL {
            let doc = markdown(&catalog, dialect);
            let page = crate::docs::html(&catalog, dialect, None);
            for def in catalog.iter().filter(|d| !d.detail_keys().is_empty()) {
                // Each value a sample no member of a dialect holds.
                let mut full = crate::docs::example_error(&catalog, def);
                for key in def.template_keys() {
                    full = full.with(key.clone(), format!("<{key}>"));
                }
                let mut variants = vec![
                    full.clone(),
                    full.violation(crate::Violation::new("x", "invalid", "bad")),
                ];
                for left_out in def.detail_keys() {
                    let mut err = ApiError::new(catalog.get(def.code()).unwrap().clone());
                    for key in def.template_keys().filter(|k| *k != left_out) {
                        err = err.with(key.clone(), format!("<{key}>"));
                    }
                    variants.push(err);
                }
                let sent = variants.iter().any(|err| {
                    let body = catalog.renderer(dialect).body(err, &ctx);
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    def.detail_keys().iter().any(|key| sends_sample(&body, key))
                });
                let code = def.code();
                let section = doc.split(&format!("## `{code}`")).nth(1).unwrap();
                let section = section.split("\n## ").next().unwrap();
                let listed = section.contains("- Details: ");
                assert_eq!(listed, sent, "markdown, {dialect}, {code}");
                let section = page
                    .split(&format!("<section id=\"{code}\""))
                    .nth(1)
                    .unwrap();
                let section = section.split("</section>").next().unwrap();
                let listed = section.contains("<dt>Details</dt>");
                assert_eq!(listed, sent, "html, {dialect}, {code}");
            }
        }
    }

    /// An entry says how its code is written on the wire only in a dialect
    /// that writes it otherwise.
    #[test]
    fn the_code_on_the_wire_is_shown_where_it_differs() {
        let catalog = Catalog::builtin();
        let section = |dialect| {
            let doc = markdown(&catalog, dialect);
            let section = doc.split("## `not_found`").nth(1).unwrap();
            section.split("\n## ").next().unwrap().to_owned()
        };
        let google = section(Dialect::Google);
        assert!(
            google.contains("- Code on the wire: `NOT_FOUND`\n"),
            "{google}"
        );
        let problem = section(Dialect::Problem);
        assert!(!problem.contains("Code on the wire"), "{problem}");
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
            (
                "message",
                "See https://x.example/a_b?c=1&d=2, www.x.example/*a* or a@b.example",
            ),
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

    /// GitHub makes links of `https://…` and `www.…` in the source, before
    /// escapes are read, so an escape inside would show as a backslash: the
    /// text keeps them from being links.
    #[test]
    fn urls_in_catalog_text_stay_text() {
        assert_eq!(
            plain("See https://x.example/a_b?c=1&d=2 or www.x.example/*"),
            "See https\\://x.example/a\\_b?c=1\\&d=2 or www\\.x.example/\\*"
        );
        assert_eq!(
            plain("Retry: now. Or ftp://x, www, 10:30"),
            "Retry: now. Or ftp\\://x, www, 10:30"
        );
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
