//! `Catalog::load_toml` on any text: it must never panic, must locate every
//! problem inside the text, must tell a text with `\r\n` line breaks as it
//! tells it with `\n` ones, and every catalog it accepts must render valid
//! JSON in every dialect that decodes back to the entry's status and code.

#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tollgate::{Catalog, Context, Dialect};

/// What a load tells of `text`: the places and messages of its problems,
/// or the entries it defines.
fn told(text: &str) -> Result<Vec<String>, Vec<(usize, usize, String)>> {
    let mut catalog = Catalog::builtin();
    match catalog.load_toml("fuzz.toml", text) {
        Ok(_) => Ok(catalog
            .iter()
            .map(|def| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    def.code(),
                    def.title(),
                    def.message().as_str(),
                    def.hint_template().map(|h| h.as_str()),
                    def.remedy_text()
                )
            })
            .collect()),
        Err(errors) => Err(errors
            .into_iter()
            .map(|e| (e.line, e.column, e.message))
            .collect()),
    }
}

/// Whether two loads told alike: the same entries, or problems on the same
/// lines, at the same columns where they say the same (TOML's parser may
/// tell another problem of a line that ends in `\r\n`: an unterminated
/// string where it told a bad escape).
fn alike(
    lf: &Result<Vec<String>, Vec<(usize, usize, String)>>,
    crlf: &Result<Vec<String>, Vec<(usize, usize, String)>>,
) -> bool {
    match (lf, crlf) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(a, b)| a.0 == b.0 && (a.2 != b.2 || a.1 == b.1))
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The same text with `\r\n` line breaks is told alike.
    if !text.contains('\r') {
        let crlf = text.replace('\n', "\r\n");
        let (lf, crlf) = (told(&text), told(&crlf));
        assert!(alike(&lf, &crlf), "LF {lf:?}\nCRLF {crlf:?}");
    }
    let mut catalog = Catalog::builtin();
    match catalog.load_toml("fuzz.toml", &text) {
        Err(errors) => {
            assert!(!errors.is_empty());
            let lines = text.split('\n').count();
            for e in &errors {
                assert!(
                    e.line >= 1 && e.line <= lines,
                    "{e} is outside {lines} lines"
                );
                assert!(e.column >= 1, "{e}");
                assert!(!e.message.is_empty(), "{e:?}");
                let _ = e.to_string();
            }
            // A failed load changes nothing.
            assert_eq!(catalog.iter().count(), Catalog::builtin().iter().count());
        }
        Ok(_) => {
            let at = SystemTime::UNIX_EPOCH;
            let ctx = Context::new(at).request_id("req_fuzz");
            for def in catalog.iter() {
                let err = catalog.error(def.code()).expect("listed code is known");
                for dialect in Dialect::ALL {
                    let response = catalog.renderer(dialect).response(&err, &ctx);
                    assert_eq!(response.status().as_u16(), def.status());
                    let body = response.body();
                    serde_json::from_slice::<serde_json::Value>(body).unwrap_or_else(|e| {
                        panic!(
                            "{dialect} body of {} is not JSON ({e}): {}",
                            def.code(),
                            String::from_utf8_lossy(body)
                        )
                    });
                    let back = catalog.decode(0, response.headers(), body, at);
                    assert_eq!(
                        back.request_id.as_deref(),
                        Some("req_fuzz"),
                        "{dialect}: {back:?}"
                    );
                    assert_eq!(
                        back.code.as_deref(),
                        Some(&*def.wire_code(dialect)),
                        "{dialect}: {back:?}"
                    );
                }
            }
        }
    }
});
