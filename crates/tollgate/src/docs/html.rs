//! The error reference as one HTML page: readable on a phone and a desktop,
//! searchable, no JavaScript.

use std::fmt::Write;

use super::{HINT_GIVES_WAY, example_response, query_words, retry_advice};
use crate::{Catalog, Dialect};

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#5f6368;--bg:#fff;--card:#f6f7f9;--accent:#0b57d0}\
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#9aa0a6;--bg:#16181c;--card:#202329;--accent:#8ab4f8}}\
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}\
header,main,nav{max-width:60rem;margin:0 auto;padding:0 1rem}h1{margin:1.5rem 0 .25rem}\
form{display:flex;gap:.5rem;margin:1rem 0}input[type=search]{flex:1;min-width:0;padding:.5rem;font:inherit}\
button{padding:.5rem 1rem;font:inherit}table{width:100%;border-collapse:collapse}\
td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--card);overflow-wrap:anywhere}\
section{background:var(--card);border-radius:.5rem;padding:1rem;margin:1rem 0;overflow-wrap:anywhere}\
h2{margin:0;font-size:1.2rem}h2 a{color:var(--accent);text-decoration:none}\
.status{display:inline-block;margin-left:.5rem;padding:0 .4rem;border-radius:.25rem;background:var(--accent);color:var(--bg);font-size:.9rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:var(--muted)}dd{margin:0}\
pre{overflow-x:auto;padding:.75rem;background:var(--bg);border-radius:.25rem;font-size:.85rem}\
@media (max-width:40rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}td:nth-child(3),th:nth-child(3){display:none}}";

/// Escapes text for HTML. Written here since it is a few replacements and
/// the only HTML this crate writes is this page. A code point HTML forbids
/// in a page ([`forbidden_in_html`]), which no character reference may
/// stand for either, becomes U+FFFD, as a browser reads it.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if forbidden_in_html(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

/// Whether HTML forbids `c` in a page: NUL, a control character other than
/// ASCII whitespace, or a noncharacter (U+FDD0–U+FDEF, and the last two
/// code points of each plane). A catalog's text may hold a noncharacter,
/// and a search anything.
fn forbidden_in_html(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\x0c' | '\r'))
        || ('\u{fdd0}'..='\u{fdef}').contains(&c)
        || u32::from(c) & 0xfffe == 0xfffe
}

/// A `Content-Security-Policy` to serve the [`html`] page with: it runs no
/// script, loads nothing, styles itself inline and submits its search form
/// to itself, so a browser is told to allow just that. Text from a catalog
/// or a query is escaped; this is the second line of defence.
pub const HTML_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'";

/// The error reference page for `catalog` in `dialect`. With a `query`, only
/// the matching entries are listed: a server that answers `GET ?q=…` with
/// the page for the query makes its search box work without JavaScript (a
/// page saved as a file submits to itself and lists everything). Each
/// entry's anchor is its code, the target of the `type` / `doc_url` /
/// `links.about` of every error.
pub fn html(catalog: &Catalog, dialect: Dialect, query: Option<&str>) -> String {
    let query = query.unwrap_or("");
    let words = query_words(query);
    let defs: Vec<_> = if words.is_empty() {
        catalog.iter().collect()
    } else {
        catalog.search(&words)
    };
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Error reference</title><style>{STYLE}</style></head><body>\n<header>\
         <h1>Error reference</h1><p>Every error this API returns: its stable code, HTTP status, what \
         it means and what to do. Bodies are shown in the <code>{dialect}</code> dialect; every error \
         also carries <code>X-Request-Id</code> and <code>X-Error-Code</code> headers.</p>\
         <form method=\"get\" role=\"search\"><input type=\"search\" name=\"q\" value=\"{q}\" \
         placeholder=\"Search codes, statuses, messages\" aria-label=\"Search errors\">\
         <button type=\"submit\">Search</button></form>",
        q = escape(query),
    );
    if !query.is_empty() {
        let _ = write!(
            out,
            "<p>{} of {} errors match <strong>{}</strong>. <a href=\"?\">Show all</a></p>",
            defs.len(),
            catalog.iter().count(),
            escape(query)
        );
    }
    out.push_str("</header>\n");
    // The index, when there is anything to list (a table of headers alone
    // is no table to a screen reader).
    if !defs.is_empty() {
        out.push_str(
            "<nav><table><thead><tr><th>Code</th><th>Status</th><th>Title</th></tr></thead><tbody>",
        );
    }
    for def in &defs {
        let code = escape(def.code());
        let _ = write!(
            out,
            "<tr><td><a href=\"#{code}\"><code>{code}</code></a></td><td>{}</td><td>{}</td></tr>",
            def.status(),
            escape(def.title())
        );
    }
    if !defs.is_empty() {
        out.push_str("</tbody></table></nav>\n");
    }
    out.push_str("<main>\n");
    for def in defs {
        let code = escape(def.code());
        let _ = write!(
            out,
            "<section id=\"{code}\"><h2><a href=\"#{code}\"><code>{code}</code></a>\
             <span class=\"status\">{}</span></h2><p><strong>{}</strong></p><dl>",
            def.status(),
            escape(def.title())
        );
        let mut row = |term: &str, value: String| {
            let _ = write!(out, "<dt>{term}</dt><dd>{value}</dd>");
        };
        row("What it means", escape(&def.message().shown()));
        if let Some(remedy) = def.remedy_text() {
            row("What to do", escape(remedy));
        }
        row("Retry", escape(retry_advice(def.retry())));
        row("Kind", format!("<code>{}</code>", def.kind()));
        // The dialect it is written in: the API's, unless it is sent in another.
        let written = def.dialect_in(dialect);
        if written != dialect {
            row("Written in", format!("the <code>{written}</code> dialect"));
        }
        let wire = def.wire_code(written);
        if wire != def.code() {
            row(
                "Code on the wire",
                format!("<code>{}</code>", escape(&wire)),
            );
        }
        // Listed where the body has them (envelope and flat bodies have none),
        // saying when a hint takes their place.
        if written.carries_details() && !def.detail_keys().is_empty() {
            let keys: Vec<_> = def
                .detail_keys()
                .iter()
                .map(|k| format!("<code>{}</code>", escape(k)))
                .collect();
            let when = if written.sends_hint_of(def) {
                HINT_GIVES_WAY
            } else {
                ""
            };
            row("Details", format!("{}{}", keys.join(", "), escape(when)));
        }
        let _ = writeln!(
            out,
            "</dl><details><summary>Example response</summary><pre><code>{}</code></pre></details></section>",
            escape(&example_response(catalog, dialect, def))
        );
    }
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_filters() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.x_evil]\nstatus=400\ntitle='<script>alert(1)</script>'\nmessage='a & b'\n",
            )
            .unwrap();
        let page = html(&catalog, Dialect::Problem, None);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        let filtered = html(&catalog, Dialect::Problem, Some("\"><b>credits"));
        assert!(filtered.contains("0 of 24 errors match"));
        assert!(!filtered.contains("<table"), "no index of nothing");
        // The query is shown, and kept in the search box, as text.
        assert!(!filtered.contains("<b>"), "{filtered}");
        assert!(filtered.contains("<strong>&quot;&gt;&lt;b&gt;credits</strong>"));
        assert!(filtered.contains("value=\"&quot;&gt;&lt;b&gt;credits\""));
        let filtered = html(&catalog, Dialect::Problem, Some("credits"));
        assert!(filtered.contains("id=\"insufficient_credits\""));
        assert!(!filtered.contains("id=\"not_found\""));
    }

    /// HTML forbids NUL, control characters other than whitespace, and
    /// noncharacters in a page. A catalog may hold noncharacters, and a
    /// search may hold anything: each is shown as U+FFFD, as a browser
    /// would read it.
    #[test]
    fn the_page_holds_no_code_point_html_forbids() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.x_nonchar]\nstatus=400\ntitle='T \u{fdd0}'\n\
                 message='m \u{ffff} \u{1fffe}'\nremedy='r \u{fdef}'\n",
            )
            .unwrap();
        // Listed apart from the function under test.
        let forbidden = |c: char| {
            matches!(c, '\0'..='\x08' | '\x0b' | '\x0e'..='\x1f' | '\x7f'..='\u{9f}')
                || ('\u{fdd0}'..='\u{fdef}').contains(&c)
                || (u32::from(c) & 0xffff) >= 0xfffe
        };
        for query in [None, Some("\0\u{1}\u{1b}[31m\u{7f}\u{85}\u{fffe}")] {
            let page = html(&catalog, Dialect::Problem, query);
            let found: Vec<char> = page.chars().filter(|&c| forbidden(c)).collect();
            assert_eq!(found, [], "{query:?}");
        }
        let page = html(&catalog, Dialect::Problem, None);
        assert!(page.contains("<dd>m \u{fffd} \u{fffd}</dd>"), "{page}");
        assert!(page.contains("<strong>T \u{fffd}</strong>"), "{page}");
        let page = html(&catalog, Dialect::Problem, Some("a\u{0}b"));
        assert!(page.contains("value=\"a\u{fffd}b\""), "{page}");
        // Whitespace, and text of any script, are kept as they are.
        assert_eq!(escape("a\tb\nc\r\x0c ü 日本 🚀"), "a\tb\nc\r\x0c ü 日本 🚀");
    }

    /// The index is a whole table where there are entries to list, and
    /// nothing at all where a search matches none.
    #[test]
    fn the_index_is_closed_where_it_is_opened() {
        let catalog = Catalog::builtin();
        let page = html(&catalog, Dialect::Problem, None);
        assert_eq!(page.matches("<nav><table>").count(), 1, "{page}");
        assert_eq!(page.matches("</tbody></table></nav>").count(), 1, "{page}");
        let none = html(&catalog, Dialect::Problem, Some("no_such_words"));
        assert!(!none.contains("table>"), "{none}");
    }

    /// An entry says how its code is written on the wire only in a dialect
    /// that writes it otherwise.
    #[test]
    fn the_code_on_the_wire_is_shown_where_it_differs() {
        let catalog = Catalog::builtin();
        let section = |dialect| {
            let page = html(&catalog, dialect, Some("not_found"));
            let start = page.find("<section id=\"not_found\"").unwrap();
            let end = start + page[start..].find("</section>").unwrap();
            page[start..end].to_owned()
        };
        let google = section(Dialect::Google);
        assert!(
            google.contains("<dt>Code on the wire</dt><dd><code>NOT_FOUND</code></dd>"),
            "{google}"
        );
        let problem = section(Dialect::Problem);
        assert!(!problem.contains("Code on the wire"), "{problem}");
    }

    #[test]
    fn the_page_needs_no_more_than_its_content_security_policy_allows() {
        let page = html(&Catalog::builtin(), Dialect::Problem, Some("credits"));
        // Nothing is loaded or run: no script, no resource, no inline handler.
        for banned in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            " src=",
            "javascript:",
        ] {
            assert!(!page.contains(banned), "{banned}");
        }
        let handler = page.split(" on").skip(1).find(|rest| {
            let name = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            name > 0 && rest.as_bytes().get(name) == Some(&b'=')
        });
        assert_eq!(handler, None, "an inline event handler");
        // The search form submits to the page itself.
        assert!(page.contains("<form method=\"get\" role=\"search\">"));
        assert!(HTML_CONTENT_SECURITY_POLICY.contains("form-action 'self'"));
        assert!(HTML_CONTENT_SECURITY_POLICY.contains("style-src 'unsafe-inline'"));
    }

    #[test]
    fn messages_show_braces_as_sent() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "[errors.x_json]\nstatus=400\ntitle='T'\nmessage='Send {{\"a\":1}} to {url}'\ndetails=['url']\n",
            )
            .unwrap();
        let page = html(&catalog, Dialect::Problem, Some("x_json"));
        assert!(
            page.contains("<dd>Send {&quot;a&quot;:1} to {url}</dd>"),
            "{page}"
        );
        assert!(!page.contains("{{"), "{page}");
    }

    #[test]
    fn search_words_match_any_field_in_any_case_and_are_bounded() {
        let catalog = Catalog::builtin();
        let hits = |query: &str| {
            let words = query_words(query);
            let codes: Vec<&str> = catalog.search(&words).iter().map(|d| d.code()).collect();
            codes
        };
        assert_eq!(hits("RATE Limit 429"), ["rate_limit_exceeded"]);
        assert_eq!(hits("402 suspended"), ["account_suspended"]);
        assert_eq!(hits("  ").len(), catalog.iter().count());
        // Repeats count once, and past 16 words the rest is not read: a
        // 30 000-word query costs what 16 words do.
        assert_eq!(query_words(&"the ".repeat(30_000)), ["the"]);
        let long: String = (0..30_000).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_words(&long).len(), 16);
    }
}
