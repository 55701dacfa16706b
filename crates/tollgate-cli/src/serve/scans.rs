//! `POST /v1/scans` and `GET /v1/scans/{id}`: the situations of seeds 000
//! and 001 (Neolens), answered in whatever dialect the server speaks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tollgate::{ApiError, Violation};
use tollgate_axum::{HandlerError, Json, Path, Rejection, Reply};
use tollgate_store::Principal;

use super::app::AppState;
use super::db::{Inserted, ScanRecord};
use super::detections::invalid;
use super::model::{self, CONFIDENCE_THRESHOLD};

/// The request header that makes the model misbehave, for trying the 5xx
/// answers: `model-unavailable` (503 `upstream_unavailable`, Retry-After),
/// `model-timeout` (the model hangs: 504 `timeout` at the deadline),
/// `model-crash` (the model panics: 500 `internal_error`, nothing leaked).
pub(crate) const X_SIMULATE: HeaderName = HeaderName::from_static("x-simulate");
/// The values [`X_SIMULATE`] takes.
pub(crate) const SIMULATIONS: [&str; 3] = ["model-unavailable", "model-timeout", "model-crash"];
/// How long clients are asked to wait when the model is unavailable.
pub(crate) const MODEL_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most multipart parts read: a browser form puts its other inputs
/// (hidden ones too) around the image; the body limit bounds the bytes
/// read, this the work on many tiny parts.
const MAX_PARTS: usize = 64;

/// `POST /v1/scans` as JSON.
#[derive(Deserialize)]
struct ScanJson {
    /// The image, base64 (a `data:image/png;base64,` prefix is allowed).
    image_data: String,
}

/// A scan, as the API returns it.
#[derive(Serialize)]
pub(crate) struct ScanView {
    id: String,
    format: String,
    width: i64,
    height: i64,
    label: String,
    confidence: f64,
    brightness: f64,
    contrast: f64,
    created_at: String,
}

impl From<&ScanRecord> for ScanView {
    fn from(r: &ScanRecord) -> ScanView {
        ScanView {
            id: r.id.clone(),
            format: r.format.clone(),
            width: r.width,
            height: r.height,
            label: r.label.clone(),
            confidence: r.confidence,
            brightness: r.brightness,
            contrast: r.contrast,
            created_at: r.created_at_text(),
        }
    }
}

/// The image bytes of a scan request: base64 in JSON, or a multipart part
/// named `image` (or `image_data`), one only, as JSON refuses a field given
/// twice.
pub(crate) struct ScanInput(Vec<u8>);

/// Standard base64, padded or not.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `missing_field` as seed 001 writes it: `details.issue` says what is wrong.
pub(crate) fn with_issue(err: ApiError) -> ApiError {
    if err.code() == "missing_field" {
        err.with("issue", "This field is required.")
    } else {
        err
    }
}

/// The JSON extractor's refusal of a scan's body, whose `Content-Type` was
/// `sent`: a 415 names JSON and multipart, which a scan may also be.
fn scan_body_refused(err: ApiError, sent: Option<&HeaderValue>) -> ApiError {
    // Only the type is refused here: a coding the decompression layer does
    // not decode is refused before.
    if err.code() != "unsupported_media_type" {
        return with_issue(err);
    }
    Rejection::unsupported_media_type(sent, "application/json or multipart/form-data")
        .into_api_error()
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

impl FromRequest<Arc<AppState>> for ScanInput {
    type Rejection = HandlerError;

    async fn from_request(req: Request, app: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let media = media_type(req.headers());
        if media == "multipart/form-data" {
            return from_multipart(req, app).await;
        }
        // Anything else is JSON's to accept or refuse (415 for other types).
        let sent = req.headers().get(header::CONTENT_TYPE).cloned();
        let Json(body) = Json::<ScanJson>::from_request(req, app)
            .await
            .map_err(|r| {
                HandlerError::from_api(scan_body_refused(r.into_api_error(), sent.as_ref()))
            })?;
        let text = body.image_data.trim();
        let text = data_url_payload(text).unwrap_or(text);
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        // Megabytes of it: off the async workers, as the decode is.
        match app
            .decoders
            .run(None, move || BASE64.decode(&compact))
            .await?
        {
            Ok(bytes) => Ok(ScanInput(bytes)),
            Err(_) => {
                let message = "must be the image's bytes in base64";
                let violation = Violation::new("image_data", "invalid_value", message);
                Err(invalid(&app.catalog, vec![violation]).into())
            }
        }
    }
}

async fn from_multipart(req: Request, app: &Arc<AppState>) -> Result<ScanInput, HandlerError> {
    let mut multipart = Multipart::from_request(req, app).await?;
    let mut image = None;
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await? {
        parts += 1;
        if parts > MAX_PARTS {
            // Told, not ignored: an image past the limit would be missing.
            let message = format!("the form has more than {MAX_PARTS} parts: send fewer");
            return Err(app.error("validation_error").with_message(message).into());
        }
        if matches!(field.name(), Some("image" | "image_data")) {
            if image.is_some() {
                let message = "one image is scanned at a time: send one part named image";
                let violation = Violation::new("image", "invalid_value", message);
                return Err(invalid(&app.catalog, vec![violation]).into());
            }
            image = Some(field.bytes().await?.to_vec());
        }
    }
    match image {
        Some(bytes) => Ok(ScanInput(bytes)),
        None => {
            let err = app.error("missing_field").with("field", "image");
            Err(with_issue(err).into())
        }
    }
}

/// The base64 payload of a `data:` URL (`data:image/png;base64,…`), whose
/// scheme and `base64` token are case-insensitive; `None` for anything else.
fn data_url_payload(text: &str) -> Option<&str> {
    let (head, data) = text.split_once(',')?;
    let scheme = head.get(..5)?;
    let encoding = head.rsplit(';').next()?.trim();
    (scheme.eq_ignore_ascii_case("data:") && encoding.eq_ignore_ascii_case("base64"))
        .then_some(data)
}

/// `POST /v1/scans`: scan an image (scope `scans:write`, 1 credit).
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    ScanInput(bytes): ScanInput,
) -> Result<(StatusCode, Reply<ScanView>), HandlerError> {
    // A simulated failure comes before the image is looked at (a body that
    // does not read is refused before any handler runs), so that it can be
    // tried with any image, one already scanned included.
    match simulation(&app, &headers)? {
        Some("model-unavailable") => {
            let err = app
                .error("upstream_unavailable")
                .retry_after(MODEL_RETRY_AFTER);
            return Err(err.into());
        }
        Some("model-timeout") => {
            // Longer than any deadline: the layer answers `timeout` first.
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        }
        Some("model-crash") => panic!("simulated model crash (X-Simulate: model-crash)"),
        _ => {}
    }
    // A duplicate is found by its hash before any decoding: re-sending a
    // large image costs a lookup, not a decode.
    let account = who.account_id();
    let (sha256, bytes) = app
        .decoders
        .run(None, move || (hex(&Sha256::digest(&bytes)), bytes))
        .await?;
    if let Some(id) = app
        .scans
        .find_image(account, &sha256)
        .await
        .map_err(unavailable(&app))?
    {
        return Err(app.error("conflict").with("scan_id", id).into());
    }
    let analysed = app
        .decoders
        .run(Some(account), move || model::analyse(&bytes))
        .await?;
    let image = analysed.map_err(|why| {
        app.error("input_format_error")
            .with("reason", why.to_string())
    })?;
    let verdict = model::classify(&image);
    if !verdict.is_confident() {
        let err = app
            .error("low_confidence")
            .with("confidence", verdict.confidence)
            .with("threshold", CONFIDENCE_THRESHOLD);
        return Err(err.into());
    }
    let record = ScanRecord {
        id: format!("scan_{}", uuid::Uuid::now_v7().simple()),
        account_id: account.to_owned(),
        image_sha256: sha256,
        format: image.format.name().to_owned(),
        width: i64::from(image.width),
        height: i64::from(image.height),
        label: verdict.label.to_owned(),
        confidence: verdict.confidence,
        brightness: model::round2(image.brightness),
        contrast: model::round2(image.contrast),
        created_at: unix_now(&app),
    };
    match app.scans.insert(&record).await.map_err(unavailable(&app))? {
        Inserted::New => Ok((StatusCode::CREATED, Reply(ScanView::from(&record)))),
        Inserted::Duplicate(id) => Err(app.error("conflict").with("scan_id", id).into()),
    }
}

/// `GET /v1/scans/{id}`: one of the caller's scans (scope `scans:read`);
/// another account's is `not_found`, like a missing one.
pub(crate) async fn show(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Reply<ScanView>, HandlerError> {
    // Ids are `scan_` and 32 hex digits: nothing else names a scan, and some
    // ids (a NUL) are not even text to Postgres.
    let well_formed = id
        .strip_prefix("scan_")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let found = if well_formed {
        app.scans.find(&id).await.map_err(unavailable(&app))?
    } else {
        None
    };
    let scan = who.own(&app.catalog, found)?;
    Ok(Reply(ScanView::from(&scan)))
}

/// The `X-Simulate` value, checked.
fn simulation(app: &AppState, headers: &HeaderMap) -> Result<Option<&'static str>, ApiError> {
    let Some(value) = headers.get(X_SIMULATE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if let Some(known) = SIMULATIONS.iter().find(|s| s.eq_ignore_ascii_case(text)) {
        return Ok(Some(known));
    }
    let message = format!("expected one of: {}", SIMULATIONS.join(", "));
    Err(invalid(
        &app.catalog,
        vec![Violation::new("X-Simulate", "invalid_value", message)],
    ))
}

/// A database failure as `service_unavailable`: the cause is logged, never sent.
pub(crate) fn unavailable(app: &AppState) -> impl Fn(sqlx::Error) -> ApiError + '_ {
    move |e| {
        app.error("service_unavailable")
            .retry_after(Duration::from_secs(1))
            .with_source(e)
    }
}

fn unix_now(app: &AppState) -> i64 {
    app.now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where images are decoded, off the async workers: one permit per core (a
/// small file can declare a large image, and a burst of them would
/// otherwise decode all at once, up to 4096 × 4096 pixels each), and one
/// image at a time per account, so that an account's burst waits behind
/// itself rather than in front of every other account's scans (each image
/// refused costs its sender nothing).
#[derive(Debug)]
pub(crate) struct Decoders {
    permits: Arc<Semaphore>,
    /// Each account with an image decoding or waiting: its one turn.
    accounts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Decoders {
    /// `permits` decodes at once.
    pub(crate) fn new(permits: usize) -> Decoders {
        Decoders {
            permits: Arc::new(Semaphore::new(permits)),
            accounts: Arc::default(),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free and, for
    /// `account`, once its earlier work is done. Both go with the work: a
    /// request that times out while it runs frees neither until the work
    /// itself is done.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        account: Option<&str>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HandlerError> {
        let turn = match account {
            Some(account) => Some(self.turn(account).await?),
            None => None,
        };
        let permit = self.permits.clone().acquire_owned().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _held = (permit, turn);
            work()
        })
        .await?)
    }

    /// `account`'s turn, once its earlier work is done.
    async fn turn(&self, account: &str) -> Result<AccountTurn, tokio::sync::AcquireError> {
        let semaphore = {
            let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            let one = accounts
                .entry(account.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(1)));
            Arc::clone(one)
        };
        let permit = Arc::clone(&semaphore).acquire_owned().await?;
        Ok(AccountTurn {
            permit: Some(permit),
            semaphore,
            account: account.to_owned(),
            accounts: Arc::clone(&self.accounts),
        })
    }
}

/// An account's turn to decode; the account is forgotten when it ends
/// with no other request of the account waiting.
struct AccountTurn {
    permit: Option<OwnedSemaphorePermit>,
    semaphore: Arc<Semaphore>,
    account: String,
    accounts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Drop for AccountTurn {
    fn drop(&mut self) {
        self.permit.take();
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        // Held by the map and this turn alone (a request that waits holds
        // it too, taken under this lock): nobody waits.
        if Arc::strong_count(&self.semaphore) == 2 {
            accounts.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn decodes_wait_for_a_permit_that_a_dropped_request_keeps_until_done() {
        let permits = Arc::new(Decoders::new(1));
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let first = permits.run(None, move || finished.recv().unwrap());
        // The first request is dropped (timed out) while its work runs.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), first)
                .await
                .is_err()
        );
        let second = tokio::spawn({
            let permits = permits.clone();
            async move { permits.run(None, || 2).await.ok() }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second waits for the permit");
        finish.send(()).unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(second.unwrap().unwrap(), Some(2));
    }

    /// An account's images decode one at a time, behind one another; another
    /// account's go ahead meanwhile; an account without work is forgotten.
    #[tokio::test]
    async fn an_accounts_decodes_wait_behind_each_other_not_in_front_of_others() {
        let decoders = Arc::new(Decoders::new(2));
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let decoders = decoders.clone();
            async move {
                decoders
                    .run(Some("acme"), move || finished.recv().unwrap())
                    .await
                    .ok()
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = tokio::spawn({
            let decoders = decoders.clone();
            async move { decoders.run(Some("acme"), || 2).await.ok() }
        });
        let other = decoders.run(Some("globex"), || 3);
        let other = tokio::time::timeout(Duration::from_secs(5), other).await;
        assert_eq!(other.unwrap().ok(), Some(3), "another account goes ahead");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !second.is_finished(),
            "acme's second image waits for its first"
        );
        finish.send(()).unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(second.unwrap().unwrap(), Some(2));
        assert_eq!(first.await.unwrap(), Some(()));
        let accounts = decoders.accounts.lock().unwrap();
        assert!(accounts.is_empty(), "{:?}", accounts.keys());
    }

    /// The server's state on an in-memory database.
    async fn app_in_memory() -> AppState {
        AppState {
            catalog: Arc::new(super::super::app::base_catalog().unwrap()),
            dialect: tollgate::Dialect::Problem,
            scans: super::super::db::Scans::open("sqlite::memory:")
                .await
                .unwrap(),
            openapi: bytes::Bytes::new(),
            reference: bytes::Bytes::new(),
            decoders: Decoders::new(1),
        }
    }

    /// A scan is dated with the time it is made, in Unix seconds.
    #[tokio::test]
    async fn scans_are_dated_now() {
        let app = app_in_memory().await;
        let seconds = || {
            let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            i64::try_from(since.unwrap().as_secs()).unwrap()
        };
        let before = seconds();
        let dated = unix_now(&app);
        let after = seconds();
        assert!((before..=after).contains(&dated), "{dated}");
    }

    /// Only `scan_` and 32 hex digits is looked up: other ids (a NUL is not
    /// even text to Postgres) are `not_found` without a query. With the
    /// database closed, a lookup shows as `service_unavailable`, so each id
    /// tells whether it reached the database (SQLite alone cannot).
    #[tokio::test]
    async fn only_ids_of_32_hex_digits_reach_the_database() {
        let app = Arc::new(app_in_memory().await);
        app.scans.close().await;
        let who = Principal::new("key1", "demo", ["scans:read"]);
        let hex32 = "0123456789abcdefABCDEF0123456789";
        for (id, code) in [
            (format!("scan_{hex32}"), "service_unavailable"),
            (format!("scan_{}", "g".repeat(32)), "not_found"),
            (format!("scan_{}\0", &hex32[..31]), "not_found"),
            ("scan_abc".to_owned(), "not_found"),
            (format!("scan_{hex32}0"), "not_found"),
            (hex32.to_owned(), "not_found"),
        ] {
            let shown = show(State(app.clone()), Extension(who.clone()), Path(id.clone())).await;
            let Err(err) = shown else {
                panic!("{id:?} was found");
            };
            assert_eq!(err.api_error().code(), code, "{id:?}");
        }
    }

    #[test]
    fn data_urls_in_any_case() {
        for url in [
            "data:image/png;base64,aGk=",
            "DATA:image/png;BASE64,aGk=",
            "data:image/png; base64,aGk=",
            "data:;base64,aGk=",
        ] {
            assert_eq!(data_url_payload(url), Some("aGk="), "{url}");
        }
        for other in [
            "aGk=",
            "data:image/png,aGk=",
            "image/png;base64,aGk=",
            "dat",
        ] {
            assert_eq!(data_url_payload(other), None, "{other}");
        }
    }

    #[test]
    fn stored_image_hashes_are_plain_sha256() {
        // A duplicate image is found by this hash among stored scans: it must
        // stay SHA-256 in lowercase hex whatever the hashing library's
        // version (the value is `sha256sum`'s).
        assert_eq!(
            hex(&Sha256::digest(b"hi")),
            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
        );
    }

    #[test]
    fn base64_with_or_without_padding() {
        assert_eq!(BASE64.decode("aGk=").unwrap(), b"hi");
        assert_eq!(BASE64.decode("aGk").unwrap(), b"hi");
        assert!(BASE64.decode("a*b").is_err());
        assert_eq!(hex(&[0, 171, 255]), "00abff");
    }

    #[test]
    fn issues_are_added_to_missing_fields_only() {
        let catalog = tollgate::Catalog::builtin();
        let err = with_issue(catalog.error("missing_field").unwrap().with("field", "x"));
        assert_eq!(err.details()["issue"], "This field is required.");
        let err = with_issue(catalog.error("not_found").unwrap());
        assert!(err.details().is_empty());
    }
}
