//! Helpers shared by the test binaries: what a binary logs, and bodies
//! streamed in chunks.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};

/// Everything logged, as written.
#[derive(Clone, Default)]
pub struct Logs(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The lines logged that contain each of `texts`; at least one.
    pub fn lines(&self, texts: &[&str]) -> Vec<String> {
        let logged = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        let found: Vec<String> = logged
            .lines()
            .filter(|l| texts.iter().all(|text| l.contains(text)))
            .map(str::to_owned)
            .collect();
        assert!(!found.is_empty(), "no {texts:?} in {logged}");
        found
    }
}

/// What this test binary logs, down to `DEBUG`. One global subscriber:
/// tracing caches per callsite whether anyone listens, so a per-test
/// (thread-local) subscriber races the other tests' requests.
pub fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

/// `body` sent in chunks of `size` bytes, with no `Content-Length`.
pub fn streamed(body: &[u8], size: usize) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}
