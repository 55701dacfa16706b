//! Internals an error response must never show: panic text, stack traces,
//! source locations, SQL and database driver errors.

use std::sync::LazyLock;

use regex::Regex;

/// Something found that should have stayed in the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leak {
    /// What it is: `panic text`, `SQL`, …
    pub(crate) what: &'static str,
    /// The text around it, shortened.
    pub(crate) found: String,
}

// The patterns also match a body as sent, where inside a JSON string a quote
// is `\"`: the probe scans a JSON body's strings decoded as well, but a body
// cut short (past the read limit, or by a failed connection) is no JSON to
// decode.
static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("panic text", r"panicked at|thread '[^']*' panicked"),
        (
            "a stack trace",
            r"(?im)stack backtrace|traceback \(most recent call last\)|^\s+at [\w$.<>]+\(|goroutine \d+ \[|RUST_BACKTRACE|\bat \w+(::\w+)+\b",
        ),
        (
            "a source location",
            r#"[\w./-]+\.(?:rs|py|go|java|kt|js|ts|rb|php|cs|cpp|c|ex|exs):\d+|File \\?"[^"]+", line \d+"#,
        ),
        (
            "SQL",
            r#"\b(?:SELECT\s[\s\S]{0,200}?\sFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|(?:CREATE|ALTER|DROP)\s+TABLE)\s+(?:\\?"|[`\[])?[A-Za-z_][\w.]*"#,
        ),
        (
            "a database error",
            r#"(?i)\b(?:unique|foreign key|not null|check|primary key) constraint failed\b|relation \\?"[^"]+" does not exist|violates (?:unique|foreign key|not-null|check) constraint|no such (?:table|column): \w+|syntax error at or near|\bSQLSTATE\b|column \\?"[^"]+" (?:of relation|does not exist)"#,
        ),
        // Drivers and their errors, not the databases' names: an API that
        // hosts databases names them in its ordinary messages ("Your
        // PostgreSQL instance is starting").
        (
            "a database driver error",
            r"(?i)\bsqlx\b|\brusqlite\b|\btokio[_-]postgres\b|error returned from database|\bSQLITE_[A-Z]+\b|\bsqlite\s*error\b|\bPgDatabaseError\b|\bdiesel::|\bpq: |\bpsycopg2?\.\w|\basyncpg\.\w|\bPG::[A-Z]\w+|\borg\.postgresql\.|\bPSQLException\b|\bdb error: (?:ERROR|FATAL)\b|(?-i:\b(?:ERROR|FATAL|PANIC):  \S)",
        ),
    ]
    .into_iter()
    .map(|(what, pattern)| {
        // Word boundaries are ASCII ones: with a Unicode `\b`, the regex
        // crate's fast engines give up on text that is not ASCII, and a
        // body of a MiB in French takes minutes to scan. The patterns'
        // words are ASCII, so they match as they did.
        let pattern = pattern.replace(r"\b", r"(?-u:\b)");
        // The patterns are constants, checked by the tests below.
        let regex = Regex::new(&pattern).unwrap_or_else(|e| unreachable!("{what}: {e}"));
        (what, regex)
    })
    .collect()
});

/// The first leak in `text`, if any.
pub(crate) fn find(text: &str) -> Option<Leak> {
    PATTERNS.iter().find_map(|(what, regex)| {
        let m = regex
            .find_iter(text)
            .find(|m| !is_host_and_port(text, m.start(), m.end()))?;
        Some(Leak {
            what,
            found: around(text, m.start(), m.end()),
        })
    })
}

/// Whether the match `text[start..end]` is a URL's host and port
/// (`https://errors.acme.rs:8443`, a host under a top-level domain that
/// reads as a file extension), not a file and a line: it follows the `//`
/// (or JSON's escaped `\/\/`) and holds no path.
fn is_host_and_port(text: &str, start: usize, end: usize) -> bool {
    let host = text[start..end].trim_start_matches('/');
    let before = &text[..end - host.len()];
    !host.contains('/') && (before.ends_with("//") || before.ends_with(r"\/\/"))
}

/// The match with up to 40 characters of context on each side, on one line.
fn around(text: &str, start: usize, end: usize) -> String {
    let from = text[..start]
        .char_indices()
        .rev()
        .nth(39)
        .map_or(0, |(i, _)| i);
    let to = text[end..]
        .char_indices()
        .nth(40)
        .map_or(text.len(), |(i, _)| end + i);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(
        text[from..to]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    if to < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_are_found() {
        let cases = [
            (
                "thread 'main' panicked at src/main.rs:10:5:\nboom",
                "panic text",
            ),
            (
                "called `Option::unwrap()` on a `None` value at src/db.rs:42",
                "a source location",
            ),
            (
                "Traceback (most recent call last):\n  File \"app.py\", line 3",
                "a stack trace",
            ),
            (
                "java.lang.NullPointerException\n    at com.acme.Api.handle(Api.java:12)",
                "a stack trace",
            ),
            ("SELECT id, secret FROM api_keys WHERE key = $1", "SQL"),
            ("INSERT INTO scans (id) VALUES (1)", "SQL"),
            (
                "UNIQUE constraint failed: items.idempotency_key",
                "a database error",
            ),
            ("relation \"users\" does not exist", "a database error"),
            (
                "duplicate key value violates unique constraint \"scans_pkey\"",
                "a database error",
            ),
            (
                "error returned from database: oops",
                "a database driver error",
            ),
            (
                "pq: password authentication failed for user \"api\"",
                "a database driver error",
            ),
            (
                "psycopg2.OperationalError: server closed the connection unexpectedly",
                "a database driver error",
            ),
            (
                "PG::ConnectionBad: could not connect to server",
                "a database driver error",
            ),
            (
                "org.postgresql.util.PSQLException: The connection attempt failed.",
                "a database driver error",
            ),
            (
                "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
                "a database driver error",
            ),
            (
                "ERROR:  permission denied for table api_keys",
                "a database driver error",
            ),
            (
                "db error: FATAL: remaining connection slots are reserved",
                "a database driver error",
            ),
            ("sqlx::Error::RowNotFound", "a database driver error"),
            (
                "error communicating with database: SQLITE_BUSY",
                "a database driver error",
            ),
            // Quoted inside a JSON string.
            (
                r#"{"detail":"relation \"users\" does not exist"}"#,
                "a database error",
            ),
            (
                r#"{"detail":"column \"secret\" does not exist"}"#,
                "a database error",
            ),
            (
                r#"{"detail":"INSERT INTO \"scans\" (\"id\") VALUES ($1)"}"#,
                "SQL",
            ),
            (
                r#"{"trace":["File \"/app/main.py\", line 12, in handler"]}"#,
                "a source location",
            ),
        ];
        for (text, what) in cases {
            let leak = find(text).unwrap_or_else(|| panic!("nothing found in {text:?}"));
            assert_eq!(leak.what, what, "{text:?}: {leak:?}");
        }
    }

    #[test]
    fn internals_are_found_inside_text_that_is_not_ascii() {
        let french = "Erreur interne du serveur — réessayez plus tard. ".repeat(200);
        for (text, what) in [
            ("thread 'main' panicked at src/main.rs:10:5", "panic text"),
            (
                "Échec : UNIQUE constraint failed: clés.id",
                "a database error",
            ),
            (
                "Erreur : sqlx::Error::RowNotFound",
                "a database driver error",
            ),
            ("SELECT id FROM clés WHERE id = 1", "SQL"),
        ] {
            let body = format!("{french}{text} — réessayez{french}");
            let leak = find(&body).unwrap_or_else(|| panic!("nothing found in {text:?}"));
            assert_eq!(leak.what, what, "{text:?}: {leak:?}");
        }
        assert_eq!(find(&french), None);
        assert_eq!(find(&"\u{fffd}".repeat(10_000)), None);
    }

    /// A Unicode `\b` makes the regex crate scan text that is not ASCII
    /// with its slowest engine.
    #[test]
    fn word_boundaries_are_ascii_ones() {
        for (what, regex) in PATTERNS.iter() {
            let unicode_boundaries = regex.as_str().replace(r"(?-u:\b)", "");
            assert!(!unicode_boundaries.contains(r"\b"), "{what}: {regex}");
        }
    }

    #[test]
    fn ordinary_error_text_is_not_a_leak() {
        for text in [
            r#"{"type":"/errors#internal_error","title":"Internal server error","status":500,"detail":"Something went wrong on our side.","code":"internal_error","request_id":"01J9"}"#,
            "Select the records you want from the list.",
            "Update the key and try again.",
            r#"{"error":{"code":"RATE_LIMIT_ERROR","message":"Rate limit exceeded. Retry after 30 seconds.","details":{}}}"#,
            "Model \"10\" requires 10 frames, received 5.",
            "Bearer realm=\"api\", error=\"invalid_token\"",
            "https://docs.example.com/errors#not_found",
            // A database-hosting API names the databases it hosts.
            "Your PostgreSQL instance is starting",
            r#"{"error":{"code":"INSTANCE_NOT_READY","message":"Your PostgreSQL 16 instance is starting; retry in 30 seconds."}}"#,
            "Postgres databases are limited to 10 per project.",
            "The SQLite database is read-only on this plan.",
            "Error: the PostgreSQL version must be 14 or later.",
        ] {
            assert_eq!(find(text), None, "{text}");
        }
    }

    #[test]
    fn a_urls_host_and_port_is_no_source_location() {
        // Hosts under .rs (Serbia) and .py (Paraguay), with a port.
        for text in [
            r#"{"type":"https://errors.acme.rs:8443/errors#not_found","status":404}"#,
            "Location: http://api.example.py:8080/v1/scans",
            // As PHP's json_encode writes it.
            r#"{"type":"https:\/\/errors.acme.rs:8443\/errors#not_found"}"#,
        ] {
            assert_eq!(find(text), None, "{text}");
        }
        // A location after one is still found, and so is a link to a line.
        let leak = find("https://errors.acme.rs:8443/errors: failed at src/db.rs:42").unwrap();
        assert_eq!(leak.what, "a source location");
        assert!(leak.found.contains("src/db.rs:42"), "{leak:?}");
        let leak = find("see https://github.com/acme/api/blob/main/src/db.rs:42").unwrap();
        assert_eq!(leak.what, "a source location");
    }

    #[test]
    fn context_is_short_and_on_one_line() {
        let text = format!(
            "{}thread 'main' panicked at x\n{}",
            "a".repeat(100),
            "b".repeat(100)
        );
        let leak = find(&text).unwrap();
        assert!(
            leak.found.starts_with('…') && leak.found.ends_with('…'),
            "{}",
            leak.found
        );
        assert_eq!(
            leak.found,
            format!(
                "…{}thread 'main' panicked at x {}…",
                "a".repeat(40),
                "b".repeat(34)
            )
        );
        // Nothing cut, nothing marked.
        let leak = find("thread 'main' panicked at x").unwrap();
        assert_eq!(leak.found, "thread 'main' panicked at x");
    }
}
