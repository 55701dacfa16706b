//! The error reference as Markdown.

use std::fmt::Write;

use super::{example_response, retry_advice};
use crate::{Catalog, Dialect};

/// The error reference for `catalog` in `dialect`, as Markdown: an index
/// table, then one section per code with an example response.
pub fn markdown(catalog: &Catalog, dialect: Dialect) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
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
        let _ = writeln!(out, "**{} {}**\n", def.status(), def.title());
        let _ = writeln!(out, "- What it means: {}", def.message().as_str());
        if let Some(remedy) = def.remedy_text() {
            let _ = writeln!(out, "- What to do: {remedy}");
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
