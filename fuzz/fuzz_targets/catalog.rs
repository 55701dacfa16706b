//! `Catalog::load_toml` on any text: it must never panic, must locate every
//! problem inside the text, and every catalog it accepts must render valid
//! JSON in every dialect that decodes back to the entry's status and code.

#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tollgate::{Catalog, Context, Dialect};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
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
        Ok(()) => {
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
