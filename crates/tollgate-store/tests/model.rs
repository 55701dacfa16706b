//! The store against a model of it: random sequences of its operations
//! (accounts, credits, keys, revocation, authentication on two nodes,
//! charges and refunds, idempotent requests through the layers, stalled
//! claims, time passing, purges, reopening) run on the store and on plain
//! maps, compared after every step; and bursts of concurrent charges on one
//! account and of concurrent requests with one idempotency key. On SQLite
//! always, on Postgres when `TOLLGATE_TEST_DATABASE_URL` is set.
//! `PROPTEST_CASES` sets the number of sequences (default 64; bursts, half).

mod common;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::convert::Infallible;
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use common::{Kind, START, TestDb};
use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use sha2::{Digest, Sha256};
use tollgate::{ApiError, Catalog};
use tollgate_store::backend::{Backend, IdempotencyRow, LockToken};
use tollgate_store::{
    AccountState, Gatekeeper, Idempotency, NewAccount, NewKey, Rejection, Reservation, Store,
    StoreError, StoreOptions,
};
use tower::{Layer, ServiceExt};

const ACCOUNTS: [&str; 3] = ["acme", "globex", "initech"];
const IDEMPOTENCY_KEYS: [&str; 2] = ["order-1", "order-2"];
const BODIES: [&str; 2] = ["{}", r#"{"n":1}"#];
/// What a request through the route costs.
const COST: i64 = 3;
const CACHE_TTL: i64 = 10;
const RETENTION: i64 = 120;
const LOCK_TIMEOUT: i64 = 60;
/// An id no created key has (ids are random base62).
const UNKNOWN_KEY_ID: &str = "unknownKey00";

/// The first second (UTC) of the month containing `t`: the day of the
/// month from Howard Hinnant's days-to-civil algorithm.
fn month_start(t: i64) -> i64 {
    let days = t.div_euclid(86_400);
    let doe = (days + 719_468).rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let day_of_month = doy - (153 * ((5 * doy + 2) / 153) + 2) / 5;
    (days - day_of_month) * 86_400
}

fn next_month_start(t: i64) -> i64 {
    month_start(month_start(t) + 32 * 86_400)
}

/// The fingerprint the idempotency layer takes of `POST /v1/scans` with `body`.
fn fingerprint(body: &str) -> Vec<u8> {
    Sha256::digest(format!("POST\n/v1/scans\n{body}")).to_vec()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

// ---- operations ----------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    /// The store the layers use, reopened by [`Op::Reopen`].
    A,
    /// Another node on the same database, with a cache of its own.
    B,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presented {
    /// The key as created.
    Whole,
    /// The key's id with another secret.
    WrongSecret,
    /// A key of no stored id.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    NotFound,
    Failed,
}

impl Outcome {
    fn status(self) -> u16 {
        match self {
            Outcome::Created => 201,
            Outcome::NotFound => 404,
            Outcome::Failed => 500,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    CreateAccount {
        account: usize,
        credits: i64,
        usage_limit: Option<i64>,
    },
    Credit {
        account: usize,
        amount: i64,
    },
    Suspend {
        node: Node,
        account: usize,
    },
    Resume {
        node: Node,
        account: usize,
    },
    CreateKey {
        account: usize,
        write: bool,
        expires_in: Option<u64>,
    },
    Revoke {
        node: Node,
        key: usize,
    },
    Authenticate {
        node: Node,
        key: usize,
        presented: Presented,
    },
    Charge {
        account: usize,
        cost: i64,
    },
    Refund {
        reservation: usize,
    },
    /// `POST /v1/scans` through the route (auth, idempotency, credits).
    Request {
        key: usize,
        idem: usize,
        body: usize,
        outcome: Outcome,
    },
    /// A claim left running by a node that died mid-request.
    Stall {
        key: usize,
        idem: usize,
        body: usize,
    },
    Advance {
        secs: u64,
    },
    Purge,
    Reopen,
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![Just(Node::A), Just(Node::B)]
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -30i64..30,
        1 => Just(i64::MAX),
        1 => Just(-i64::MAX),
        1 => Just(i64::MIN),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let account = 0..ACCOUNTS.len();
    prop_oneof![
        3 => (account.clone(), 0i64..20, proptest::option::of(0i64..4)).prop_map(
            |(account, credits, usage_limit)| Op::CreateAccount { account, credits, usage_limit }
        ),
        2 => (account.clone(), amount()).prop_map(|(account, amount)| Op::Credit { account, amount }),
        1 => (node(), account.clone()).prop_map(|(node, account)| Op::Suspend { node, account }),
        1 => (node(), account.clone()).prop_map(|(node, account)| Op::Resume { node, account }),
        3 => (account.clone(), prop::bool::weighted(0.8), proptest::option::of(1u64..120)).prop_map(
            |(account, write, expires_in)| Op::CreateKey { account, write, expires_in }
        ),
        1 => (node(), any::<usize>()).prop_map(|(node, key)| Op::Revoke { node, key }),
        3 => (
            node(),
            any::<usize>(),
            prop_oneof![
                4 => Just(Presented::Whole),
                1 => Just(Presented::WrongSecret),
                1 => Just(Presented::Unknown),
            ],
        )
            .prop_map(|(node, key, presented)| Op::Authenticate { node, key, presented }),
        3 => (account.clone(), 0i64..8).prop_map(|(account, cost)| Op::Charge { account, cost }),
        2 => any::<usize>().prop_map(|reservation| Op::Refund { reservation }),
        6 => (
            any::<usize>(),
            0..IDEMPOTENCY_KEYS.len(),
            prop_oneof![4 => Just(0usize), 1 => Just(1usize)],
            prop_oneof![
                3 => Just(Outcome::Created),
                1 => Just(Outcome::NotFound),
                1 => Just(Outcome::Failed),
            ],
        )
            .prop_map(|(key, idem, body, outcome)| Op::Request { key, idem, body, outcome }),
        2 => (any::<usize>(), 0..IDEMPOTENCY_KEYS.len(), prop_oneof![3 => Just(0usize), 1 => Just(1usize)])
            .prop_map(|(key, idem, body)| Op::Stall { key, idem, body }),
        3 => prop_oneof![
            3 => 1u64..=15,
            // Either side of the cache's TTL, a lock's end and a record's.
            3 => (CACHE_TTL as u64 - 1)..=(CACHE_TTL as u64),
            2 => (LOCK_TIMEOUT as u64)..=(LOCK_TIMEOUT as u64 + 1),
            2 => (RETENTION as u64)..=(RETENTION as u64 + 1),
            1 => Just(3 * 86_400 + 7),
            // Into another month, some of the time.
            1 => Just(16 * 86_400 + 7),
        ]
        .prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

/// Two accounts with a key each, then the operations.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let setup = vec![
        Op::CreateAccount {
            account: 0,
            credits: 30,
            usage_limit: None,
        },
        Op::CreateAccount {
            account: 1,
            credits: 6,
            usage_limit: Some(4),
        },
        Op::CreateKey {
            account: 0,
            write: true,
            expires_in: None,
        },
        Op::CreateKey {
            account: 1,
            write: true,
            expires_in: Some(200),
        },
    ];
    prop::collection::vec(op(), 1..48).prop_map(move |ops| [setup.clone(), ops].concat())
}

// ---- the model -------------------------------------------------------------

#[derive(Clone, Debug)]
struct ModelAccount {
    balance: i64,
    active: bool,
    usage_limit: Option<i64>,
    usage_count: i64,
    usage_period: i64,
}

#[derive(Clone, Debug)]
struct ModelKey {
    id: String,
    secret: String,
    account: usize,
    write: bool,
    expires_at: Option<i64>,
    revoked: bool,
}

/// What a node's cache holds of a key: read at `at`.
#[derive(Clone, Copy, Debug)]
struct Cached {
    at: i64,
    revoked: bool,
    active: bool,
}

#[derive(Clone, Debug)]
struct Record {
    fingerprint: Vec<u8>,
    /// The stored answer: status and body; `None` while running.
    answer: Option<(u16, Bytes)>,
    locked_until: i64,
    expires_at: i64,
}

impl Record {
    /// As the store tells it: past its expiry, and done or its lock over.
    fn expired(&self, now: i64) -> bool {
        self.expires_at <= now && (self.answer.is_some() || self.locked_until < now)
    }
}

#[derive(Clone, Debug)]
struct ModelReservation {
    account: usize,
    cost: i64,
    period: i64,
    released: bool,
}

/// What a store call failed with, as far as the model tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    InvalidInput,
    AccountNotFound,
    AccountExists,
    KeyNotFound,
}

fn failure(e: &StoreError) -> Result<Failure, TestCaseError> {
    Ok(match e {
        StoreError::InvalidInput(_) => Failure::InvalidInput,
        StoreError::AccountNotFound(_) => Failure::AccountNotFound,
        StoreError::AccountExists(_) => Failure::AccountExists,
        StoreError::KeyNotFound(_) => Failure::KeyNotFound,
        other => return Err(TestCaseError::fail(format!("undocumented error: {other}"))),
    })
}

struct Model {
    now: i64,
    accounts: HashMap<usize, ModelAccount>,
    keys: Vec<ModelKey>,
    /// Each node's key cache, by key id.
    caches: [HashMap<String, Cached>; 2],
    /// Idempotency records by key id and idempotency key.
    records: HashMap<(String, usize), Record>,
    /// How many times the handler ran.
    runs: usize,
}

impl Model {
    fn new() -> Model {
        Model {
            now: i64::try_from(START).unwrap(),
            accounts: HashMap::new(),
            keys: Vec::new(),
            caches: [HashMap::new(), HashMap::new()],
            records: HashMap::new(),
            runs: 0,
        }
    }

    fn cache(&mut self, node: Node) -> &mut HashMap<String, Cached> {
        &mut self.caches[node as usize]
    }

    fn forget_account(&mut self, node: Node, account: usize) {
        let ids: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.account == account)
            .map(|k| k.id.clone())
            .collect();
        let cache = self.cache(node);
        for id in ids {
            cache.remove(&id);
        }
    }

    /// The verdict of `node` on key `index` presented as `presented`,
    /// caching what a database read finds as the store does.
    fn authenticate(
        &mut self,
        node: Node,
        index: usize,
        presented: Presented,
    ) -> Result<usize, Rejection> {
        if presented == Presented::Unknown {
            return Err(Rejection::InvalidKey);
        }
        let now = self.now;
        let key = self.keys[index].clone();
        let truth = Cached {
            at: now,
            revoked: key.revoked,
            active: self.accounts[&key.account].active,
        };
        let cache = self.cache(node);
        let seen = match cache.get(&key.id) {
            Some(cached) if now - cached.at < CACHE_TTL => *cached,
            _ => {
                cache.insert(key.id.clone(), truth);
                truth
            }
        };
        if presented == Presented::WrongSecret {
            Err(Rejection::InvalidKey)
        } else if seen.revoked {
            Err(Rejection::DeactivatedKey)
        } else if key.expires_at.is_some_and(|e| now >= e) {
            Err(Rejection::ExpiredKey)
        } else if !seen.active {
            Err(Rejection::AccountSuspended)
        } else {
            Ok(key.account)
        }
    }

    /// A charge on node A: the balance left and what was taken, or the refusal.
    fn reserve(&mut self, account: usize, cost: i64) -> Result<(i64, ModelReservation), Rejection> {
        let now = self.now;
        let period = month_start(now);
        let Some(a) = self.accounts.get_mut(&account) else {
            return Err(Rejection::InvalidKey);
        };
        if !a.active {
            self.forget_account(Node::A, account);
            return Err(Rejection::AccountSuspended);
        }
        let used = if a.usage_period >= period {
            a.usage_count
        } else {
            0
        };
        if let Some(limit) = a.usage_limit.filter(|&l| used >= l) {
            let retry_after = Duration::from_secs((next_month_start(now) - now) as u64);
            return Err(Rejection::UsageLimitExceeded { limit, retry_after });
        }
        if a.balance < cost {
            return Err(Rejection::InsufficientCredits {
                required: cost,
                available: a.balance,
            });
        }
        a.balance -= cost;
        a.usage_count = used + 1;
        a.usage_period = a.usage_period.max(period);
        let reservation = ModelReservation {
            account,
            cost,
            period: a.usage_period,
            released: false,
        };
        Ok((a.balance, reservation))
    }

    fn release(&mut self, r: &mut ModelReservation) {
        if std::mem::replace(&mut r.released, true) {
            return;
        }
        let a = self.accounts.get_mut(&r.account).expect("charged account");
        a.balance = a.balance.saturating_add(r.cost);
        if a.usage_period == r.period && a.usage_count > 0 {
            a.usage_count -= 1;
        }
    }

    fn usage(&self, account: &ModelAccount) -> i64 {
        if account.usage_period >= month_start(self.now) {
            account.usage_count
        } else {
            0
        }
    }
}

/// What a request through the route should be answered.
#[derive(Debug)]
enum Expected {
    /// Refused by a layer with this code, the handler not run.
    Refused(&'static str),
    /// The handler runs and answers.
    Runs,
    /// The stored answer, replayed.
    Replay(u16, Bytes),
}

// ---- the harness -------------------------------------------------------------

type Req = Request<Full<Bytes>>;

struct Harness {
    db: TestDb,
    nodes: [Store; 2],
    gate: Gatekeeper,
    /// The database under no store: to plant a stalled claim, and to read records.
    raw: Arc<dyn Backend>,
    /// The charges made, each with the model's view of it.
    reservations: Vec<(Reservation, ModelReservation)>,
    runs: Arc<AtomicUsize>,
    model: Model,
}

/// The model's charges stay held until refunded, however far its clock
/// moves: a charge left past its hold is given back (a process that
/// stopped mid-request), which `abandoned_charges_are_given_back` in
/// `store.rs` tests.
fn options(o: StoreOptions) -> StoreOptions {
    o.cache_ttl(Duration::from_secs(CACHE_TTL as u64))
        .charge_hold(Duration::from_secs(100 * 365 * 86_400))
}

fn gate(store: &Store) -> Gatekeeper {
    Gatekeeper::new(store.clone())
        .idempotency_retention(Duration::from_secs(RETENTION as u64))
        .idempotency_lock_timeout(Duration::from_secs(LOCK_TIMEOUT as u64))
}

/// `POST /v1/scans`: scope `scans:write`, [`COST`] credits, idempotency
/// optional; the handler counts its runs in `runs` and answers `outcome`
/// with a body naming the run.
fn route(
    gate: &Gatekeeper,
    runs: Arc<AtomicUsize>,
    outcome: Outcome,
) -> impl tower::Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let handler = tower::service_fn(move |_req: Req| {
        let runs = runs.clone();
        async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let mut res = Response::builder()
                .status(outcome.status())
                .header("content-type", "application/json")
                .body(Full::from(format!(r#"{{"run":{n}}}"#)))
                .unwrap();
            if outcome == Outcome::NotFound {
                let err = Catalog::builtin_ref().error("not_found").unwrap();
                res.extensions_mut().insert(err);
            }
            Ok::<_, Infallible>(res)
        }
    });
    gate.route()
        .scope("scans:write")
        .cost(COST)
        .idempotency(Idempotency::Optional)
        .layer(handler)
}

fn post(secret: &str, idempotency_key: &str, body: &'static str) -> Req {
    Request::post("/v1/scans")
        .header("x-api-key", secret)
        .header("idempotency-key", idempotency_key)
        .body(Full::from(body))
        .unwrap()
}

macro_rules! same {
    ($actual:expr, $expected:expr, $($context:tt)+) => {{
        let (actual, expected) = (&$actual, &$expected);
        prop_assert!(
            actual == expected,
            "{}: store {:?}, model {:?}",
            format!($($context)+),
            actual,
            expected
        );
    }};
}

/// A result whose rejection is compared by its debug text (it holds no
/// store error here).
fn verdict<T, E: Debug>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{e:?}"))
}

impl Harness {
    async fn new(db: TestDb) -> Harness {
        let b = db.another_node(options).await;
        let raw = db.backend().await;
        let a = db.store.clone();
        Harness {
            gate: gate(&a),
            nodes: [a, b],
            raw,
            reservations: Vec::new(),
            runs: Arc::default(),
            model: Model::new(),
            db,
        }
    }

    fn node(&self, node: Node) -> &Store {
        &self.nodes[node as usize]
    }

    async fn close(&self) {
        for store in &self.nodes {
            store.close().await;
        }
        self.raw.close().await;
    }

    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::CreateAccount {
                account,
                credits,
                usage_limit,
            } => {
                let mut new = NewAccount::new(ACCOUNTS[account]).credits(credits);
                if let Some(limit) = usage_limit {
                    new = new.usage_limit(limit);
                }
                let made = self.node(Node::A).create_account(new).await;
                let expected = match self.model.accounts.entry(account) {
                    Entry::Occupied(_) => Err(Failure::AccountExists),
                    Entry::Vacant(slot) => {
                        slot.insert(ModelAccount {
                            balance: credits,
                            active: true,
                            usage_limit,
                            usage_count: 0,
                            usage_period: 0,
                        });
                        Ok(credits)
                    }
                };
                let made = made.map(|a| a.balance()).map_err(|e| failure(&e));
                same!(flatten(made)?, expected, "create account");
            }
            Op::Credit { account, amount } => {
                let credited = self.node(Node::A).credit(ACCOUNTS[account], amount).await;
                let expected = match self.model.accounts.get_mut(&account) {
                    None => Err(Failure::AccountNotFound),
                    Some(a) => match a.balance.checked_add(amount).filter(|&b| b >= 0) {
                        Some(balance) => {
                            a.balance = balance;
                            Ok(balance)
                        }
                        None => Err(Failure::InvalidInput),
                    },
                };
                let credited = credited.map(|a| a.balance()).map_err(|e| failure(&e));
                same!(flatten(credited)?, expected, "credit {amount}");
            }
            Op::Suspend { node, account } | Op::Resume { node, account } => {
                let suspend = matches!(op, Op::Suspend { .. });
                let store = self.node(node);
                let id = ACCOUNTS[account];
                let changed = if suspend {
                    store.suspend(id).await
                } else {
                    store.resume(id).await
                };
                self.model.forget_account(node, account);
                let expected = match self.model.accounts.get_mut(&account) {
                    None => Err(Failure::AccountNotFound),
                    Some(a) => {
                        a.active = !suspend;
                        Ok(if suspend {
                            AccountState::Suspended
                        } else {
                            AccountState::Active
                        })
                    }
                };
                let changed = changed.map(|a| a.state()).map_err(|e| failure(&e));
                same!(flatten(changed)?, expected, "{op:?}");
            }
            Op::CreateKey {
                account,
                write,
                expires_in,
            } => {
                let scope = if write { "scans:write" } else { "scans:read" };
                let mut new = NewKey::new(ACCOUNTS[account], [scope]);
                if let Some(secs) = expires_in {
                    new = new.expires_in(Duration::from_secs(secs));
                }
                let made = self.node(Node::A).create_key(new).await;
                match (made, self.model.accounts.contains_key(&account)) {
                    (Ok(key), true) => self.model.keys.push(ModelKey {
                        id: key.info().id().to_owned(),
                        secret: key.secret().to_owned(),
                        account,
                        write,
                        expires_at: expires_in.map(|s| self.model.now + s as i64),
                        revoked: false,
                    }),
                    (Err(StoreError::AccountNotFound(_)), false) => {}
                    (made, exists) => {
                        return Err(TestCaseError::fail(format!(
                            "create key: store {:?}, account exists in the model: {exists}",
                            made.map(|k| k.info().clone())
                        )));
                    }
                }
            }
            Op::Revoke { node, key } => {
                let id = match self.model.keys.len() {
                    0 => UNKNOWN_KEY_ID.to_owned(),
                    n => self.model.keys[key % n].id.clone(),
                };
                let revoked = self.node(node).revoke_key(&id).await;
                self.model.cache(node).remove(&id);
                let expected = match self.model.keys.iter_mut().find(|k| k.id == id) {
                    Some(k) => {
                        k.revoked = true;
                        Ok(true)
                    }
                    None => Err(Failure::KeyNotFound),
                };
                let revoked = revoked
                    .map(|k| k.revoked_at().is_some())
                    .map_err(|e| failure(&e));
                same!(flatten(revoked)?, expected, "revoke on {node:?}");
            }
            Op::Authenticate {
                node,
                key,
                presented,
            } => {
                let n = self.model.keys.len();
                let presented = if n == 0 {
                    Presented::Unknown
                } else {
                    presented
                };
                let text = match presented {
                    Presented::Unknown => format!("tg_live_{UNKNOWN_KEY_ID}{}", "x".repeat(32)),
                    Presented::Whole => self.model.keys[key % n].secret.clone(),
                    Presented::WrongSecret => {
                        let mut s = self.model.keys[key % n].secret.clone();
                        let last = s.pop().unwrap();
                        s.push(if last == 'a' { 'b' } else { 'a' });
                        s
                    }
                };
                let found = self.node(node).authenticate(&text).await;
                let expected = match presented {
                    Presented::Unknown => Err(Rejection::InvalidKey),
                    _ => self.model.authenticate(node, key % n, presented),
                };
                let found = found.map(|p| p.account_id().to_owned());
                let expected = expected.map(|a| ACCOUNTS[a].to_owned());
                same!(
                    verdict(found),
                    verdict(expected),
                    "authenticate on {node:?} at {}",
                    self.model.now
                );
            }
            Op::Charge { account, cost } => {
                let charged = self.node(Node::A).reserve(ACCOUNTS[account], cost).await;
                let expected = self.model.reserve(account, cost);
                same!(
                    verdict(charged.as_ref().map(Reservation::remaining)),
                    verdict(expected.as_ref().map(|(remaining, _)| *remaining)),
                    "charge {cost}"
                );
                if let (Ok(r), Ok((_, taken))) = (charged, expected) {
                    prop_assert!(r.remaining() >= 0);
                    self.reservations.push((r, taken));
                }
            }
            Op::Refund { reservation } => {
                if self.reservations.is_empty() {
                    return Ok(());
                }
                let index = reservation % self.reservations.len();
                let (reservation, taken) = &mut self.reservations[index];
                let released = self.nodes[0].release(reservation.clone()).await;
                prop_assert!(released.is_ok(), "refund: {released:?}");
                self.model.release(taken);
            }
            Op::Request {
                key,
                idem,
                body,
                outcome,
            } => {
                if self.model.keys.is_empty() {
                    return Ok(());
                }
                let index = key % self.model.keys.len();
                self.request(index, idem, body, outcome).await?;
                self.check_record(index, idem).await?;
            }
            Op::Stall { key, idem, body } => {
                if self.model.keys.is_empty() {
                    return Ok(());
                }
                let index = key % self.model.keys.len();
                let id = self.model.keys[index].id.clone();
                let now = self.model.now;
                let record = Record {
                    fingerprint: fingerprint(BODIES[body]),
                    answer: None,
                    locked_until: now + LOCK_TIMEOUT,
                    expires_at: now + RETENTION.max(LOCK_TIMEOUT),
                };
                let row = IdempotencyRow::running(
                    &id,
                    IDEMPOTENCY_KEYS[idem],
                    &record.fingerprint,
                    record.locked_until,
                    now,
                    record.expires_at,
                );
                let inserted = self.raw.idem_insert(row, LockToken(7)).await.unwrap();
                let free = !self.model.records.contains_key(&(id.clone(), idem));
                if free {
                    self.model.records.insert((id, idem), record);
                }
                same!(inserted, free, "stalled claim");
                self.check_record(index, idem).await?;
            }
            Op::Advance { secs } => {
                self.db.clock.advance(Duration::from_secs(secs));
                self.model.now += secs as i64;
            }
            Op::Purge => {
                let purged = self
                    .node(Node::A)
                    .purge_expired_idempotency()
                    .await
                    .unwrap();
                let now = self.model.now;
                let before = self.model.records.len();
                self.model.records.retain(|_, r| !r.expired(now));
                same!(purged, (before - self.model.records.len()) as u64, "purge");
                for index in 0..self.model.keys.len() {
                    for idem in 0..IDEMPOTENCY_KEYS.len() {
                        self.check_record(index, idem).await?;
                    }
                }
            }
            Op::Reopen => {
                self.nodes[0].close().await;
                self.nodes[0] = self.db.another_node(options).await;
                self.gate = gate(&self.nodes[0]);
                self.model.caches[0].clear();
            }
        }
        self.check_state().await
    }

    /// Sends `POST /v1/scans` with key `index` and compares the answer.
    async fn request(
        &mut self,
        index: usize,
        idem: usize,
        body: usize,
        outcome: Outcome,
    ) -> Result<(), TestCaseError> {
        let key = self.model.keys[index].clone();
        let service = route(&self.gate, self.runs.clone(), outcome);
        let req = post(&key.secret, IDEMPOTENCY_KEYS[idem], BODIES[body]);
        let response = service.oneshot(req).await.unwrap();
        let (parts, answer) = response.into_parts();
        let answer = answer.collect().await.unwrap().to_bytes();
        let code = parts
            .extensions
            .get::<ApiError>()
            .map(|e| e.code().to_owned());
        let replayed = parts.headers.contains_key("idempotent-replayed");
        let status = parts.status.as_u16();

        let expected = self.expect_request(index, idem, body, outcome);
        let context = format!("request {idem}/{body} {outcome:?} with key {index}: {expected:?}");
        match expected {
            Expected::Refused(expected) => {
                let def = Catalog::builtin_ref().get(expected).unwrap();
                same!(
                    (code.as_deref(), status),
                    (Some(expected), def.status()),
                    "{context}"
                );
                prop_assert!(!replayed, "{context}");
            }
            Expected::Replay(expected_status, expected_body) => {
                same!((status, replayed), (expected_status, true), "{context}");
                same!(answer, expected_body, "{context}");
            }
            Expected::Runs => {
                same!((status, replayed), (outcome.status(), false), "{context}");
                let spent = outcome != Outcome::Failed;
                let record = self.model.records.get_mut(&(key.id.clone(), idem));
                match (spent, record) {
                    (true, Some(record)) => {
                        // The lock stays as it was: a done record has none.
                        record.answer = Some((status, answer));
                        record.expires_at = self.model.now + RETENTION;
                    }
                    (false, Some(_)) => {
                        self.model.records.remove(&(key.id.clone(), idem));
                    }
                    (_, None) => unreachable!("a running request holds its record"),
                }
            }
        }
        same!(
            self.runs.load(Ordering::SeqCst),
            self.model.runs,
            "handler runs after {context}"
        );
        Ok(())
    }

    /// What the route answers, and the model's change: authentication,
    /// scope, idempotency, then credits.
    fn expect_request(
        &mut self,
        index: usize,
        idem: usize,
        body: usize,
        outcome: Outcome,
    ) -> Expected {
        let m = &mut self.model;
        let account = match m.authenticate(Node::A, index, Presented::Whole) {
            Ok(account) => account,
            Err(rejection) => return Expected::Refused(rejection.code()),
        };
        let key = m.keys[index].clone();
        if !key.write {
            return Expected::Refused("insufficient_scope");
        }
        let now = m.now;
        let fp = fingerprint(BODIES[body]);
        let slot = (key.id.clone(), idem);
        if m.records.get(&slot).is_some_and(|r| r.expired(now)) {
            m.records.remove(&slot);
        }
        match m.records.get_mut(&slot) {
            Some(r) if r.fingerprint != fp => return Expected::Refused("idempotency_key_reused"),
            Some(Record {
                answer: Some((status, body)),
                ..
            }) => return Expected::Replay(*status, body.clone()),
            Some(r) if r.locked_until < now => {
                // Taken over from a claim whose lock ran out.
                r.locked_until = now + LOCK_TIMEOUT;
                r.expires_at = r.expires_at.max(r.locked_until);
            }
            Some(_) => return Expected::Refused("idempotency_key_in_use"),
            None => {
                let record = Record {
                    fingerprint: fp,
                    answer: None,
                    locked_until: now + LOCK_TIMEOUT,
                    expires_at: now + RETENTION.max(LOCK_TIMEOUT),
                };
                m.records.insert(slot.clone(), record);
            }
        }
        let mut taken = match m.reserve(account, COST) {
            Ok((_, taken)) => taken,
            Err(rejection) => {
                m.records.remove(&slot);
                return Expected::Refused(rejection.code());
            }
        };
        m.runs += 1;
        if outcome != Outcome::Created {
            m.release(&mut taken);
        }
        Expected::Runs
    }

    /// Compares the record of key `index` and idempotency key `idem`.
    async fn check_record(&self, index: usize, idem: usize) -> Result<(), TestCaseError> {
        let id = &self.model.keys[index].id;
        let stored = self.raw.idem_get(id, IDEMPOTENCY_KEYS[idem]).await.unwrap();
        let view = |fingerprint: &[u8], done: bool, status, body, locked: i64, expires: i64| {
            (fingerprint.to_vec(), done, status, body, locked, expires)
        };
        let stored = stored.map(|r| {
            view(
                &r.fingerprint,
                r.state == "done",
                r.status.map(|s| s as u16),
                r.body.map(Bytes::from),
                r.locked_until,
                r.expires_at,
            )
        });
        let expected = self.model.records.get(&(id.clone(), idem)).map(|r| {
            view(
                &r.fingerprint,
                r.answer.is_some(),
                r.answer.as_ref().map(|a| a.0),
                r.answer.as_ref().map(|a| a.1.clone()),
                r.locked_until,
                r.expires_at,
            )
        });
        same!(stored, expected, "record {idem} of key {index}");
        Ok(())
    }

    /// Compares every account and key.
    async fn check_state(&self) -> Result<(), TestCaseError> {
        let store = self.node(Node::A);
        let now = store.now();
        for (index, id) in ACCOUNTS.iter().enumerate() {
            let found = store.account(id).await;
            match (found, self.model.accounts.get(&index)) {
                (Ok(a), Some(m)) => {
                    prop_assert!(a.balance() >= 0, "{id}: negative balance {}", a.balance());
                    let state = if m.active {
                        AccountState::Active
                    } else {
                        AccountState::Suspended
                    };
                    same!(
                        (
                            a.balance(),
                            a.state(),
                            a.usage_in_month_of(now),
                            a.usage_limit()
                        ),
                        (m.balance, state, self.model.usage(m), m.usage_limit),
                        "account {id}"
                    );
                }
                (Err(StoreError::AccountNotFound(_)), None) => {}
                (found, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "account {id}: store {found:?}, model {expected:?}"
                    )));
                }
            }
        }
        let keys = store.list_keys(None).await.unwrap();
        same!(keys.len(), self.model.keys.len(), "keys");
        for m in &self.model.keys {
            let k = keys.iter().find(|k| k.id() == m.id);
            let k = k.map(|k| {
                (
                    k.account_id().to_owned(),
                    k.revoked_at().is_some(),
                    k.expires_at(),
                )
            });
            let expires = m
                .expires_at
                .map(|e| std::time::UNIX_EPOCH + Duration::from_secs(e as u64));
            same!(
                k,
                Some((ACCOUNTS[m.account].to_owned(), m.revoked, expires)),
                "key {}",
                m.id
            );
        }
        Ok(())
    }
}

/// A store call's outcome with an undocumented error made a test failure.
fn flatten<T>(
    r: Result<T, Result<Failure, TestCaseError>>,
) -> Result<Result<T, Failure>, TestCaseError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Ok(f)) => Ok(Err(f)),
        Err(Err(e)) => Err(e),
    }
}

/// Runs `test` on a fresh database of `kind`, and drops a Postgres schema
/// afterwards even when the test panics.
fn on_fresh_db<F, Fut>(kind: Kind, test: F) -> Result<(), TestCaseError>
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    RUNTIME.block_on(async {
        let Some(db) = TestDb::with(kind, options).await else {
            return Ok(());
        };
        let (url, schema) = (db.url.clone(), db.schema.clone());
        let outcome = AssertUnwindSafe(test(db)).catch_unwind().await;
        if let Some(schema) = schema {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::query(sqlx::AssertSqlSafe(drop.as_str()))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn run_sequence(kind: Kind, ops: Vec<Op>) -> Result<(), TestCaseError> {
    on_fresh_db(kind, |db| async move {
        let mut h = Harness::new(db).await;
        let mut result = Ok(());
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = h.step(op).await {
                result = Err(TestCaseError::fail(format!("step {i}, {op:?}: {e}")));
                break;
            }
        }
        h.close().await;
        result
    })
}

/// Charges of `costs` at once on an account holding `initial`, each given
/// back when its flag says so.
fn run_concurrent(
    kind: Kind,
    initial: i64,
    charges: Vec<(i64, bool)>,
) -> Result<(), TestCaseError> {
    on_fresh_db(kind, |db| async move {
        // The whole of it, the temporary directory with it.
        let db = db;
        let result: Result<(), TestCaseError> = async {
            let store = db.store.clone();
            store
                .create_account(NewAccount::new("acme").credits(initial))
                .await
                .unwrap();
            let start = Arc::new(tokio::sync::Barrier::new(charges.len()));
            let tasks: Vec<_> = charges
                .iter()
                .map(|&(cost, refund)| {
                    let (store, start) = (store.clone(), start.clone());
                    tokio::spawn(async move {
                        start.wait().await;
                        let charged = store.reserve("acme", cost).await;
                        if let (Ok(r), true) = (&charged, refund) {
                            store.release(r.clone()).await.unwrap();
                        }
                        charged
                    })
                })
                .collect();
            let (mut taken, mut kept, mut counted, mut refused) = (0, 0, 0, false);
            for (task, &(cost, refund)) in tasks.into_iter().zip(&charges) {
                match task.await.unwrap() {
                    Ok(r) => {
                        prop_assert!(r.remaining() >= 0);
                        taken += cost;
                        if !refund {
                            kept += cost;
                            counted += 1;
                        }
                    }
                    Err(Rejection::InsufficientCredits {
                        required,
                        available,
                    }) => {
                        prop_assert_eq!(required, cost);
                        prop_assert!(available >= 0);
                        refused = true;
                    }
                    Err(other) => prop_assert!(false, "charge refused with {other:?}"),
                }
            }
            let total: i64 = charges.iter().map(|c| c.0).sum();
            prop_assert!(
                !refused || total > initial,
                "a charge was refused though all {total} fit in {initial}"
            );
            if !refused {
                prop_assert_eq!(taken, total);
            }
            let account = store.account("acme").await.unwrap();
            prop_assert_eq!(account.balance(), initial - kept);
            prop_assert_eq!(account.usage_in_month_of(store.now()), counted);
            Ok(())
        }
        .await;
        db.store.close().await;
        result
    })
}

/// `requests` requests with one idempotency key at once, from an account
/// holding `initial`: the handler runs once at most unless it fails (a 500
/// frees the key), only a success is paid for, and every other answer is
/// the stored one replayed or `idempotency_key_in_use`.
fn run_concurrent_requests(
    kind: Kind,
    initial: i64,
    requests: usize,
    outcome: Outcome,
) -> Result<(), TestCaseError> {
    on_fresh_db(kind, |db| async move {
        let db = db;
        let result: Result<(), TestCaseError> = async {
            let store = db.store.clone();
            store
                .create_account(NewAccount::new("acme").credits(initial))
                .await
                .unwrap();
            let key = store
                .create_key(NewKey::new("acme", ["scans:write"]))
                .await
                .unwrap();
            let runs = Arc::new(AtomicUsize::new(0));
            let service = route(&gate(&store), runs.clone(), outcome);
            let start = Arc::new(tokio::sync::Barrier::new(requests));
            let tasks: Vec<_> = (0..requests)
                .map(|_| {
                    let (service, start) = (service.clone(), start.clone());
                    let req = post(key.secret(), "order-1", "{}");
                    tokio::spawn(async move {
                        start.wait().await;
                        let (parts, body) = service.oneshot(req).await.unwrap().into_parts();
                        let code = parts
                            .extensions
                            .get::<ApiError>()
                            .map(|e| e.code().to_owned());
                        let replayed = parts.headers.contains_key("idempotent-replayed");
                        let body = body.collect().await.unwrap().to_bytes();
                        (parts.status.as_u16(), code, replayed, body)
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.unwrap());
            }
            let runs = runs.load(Ordering::SeqCst);
            let ran = |a: &(u16, Option<String>, bool, Bytes)| !a.2 && a.0 == outcome.status();
            let first = answers.iter().find(|a| ran(a)).map(|a| a.3.clone());
            for answer in &answers {
                let (status, code, replayed, body) = answer;
                let in_use = code.as_deref() == Some("idempotency_key_in_use");
                let poor = code.as_deref() == Some("insufficient_credits");
                let replay =
                    *replayed && *status == outcome.status() && Some(body) == first.as_ref();
                prop_assert!(
                    ran(answer) || in_use || replay || (poor && initial < COST),
                    "{answer:?} with the handler's {outcome:?}"
                );
            }
            let fresh = answers.iter().filter(|a| ran(a)).count();
            prop_assert_eq!(fresh, runs);
            if outcome != Outcome::Failed {
                prop_assert!(runs <= 1, "ran {runs} times");
            }
            prop_assert_eq!(runs > 0, initial >= COST);
            let paid = if outcome == Outcome::Created {
                COST * runs as i64
            } else {
                0
            };
            let account = store.account("acme").await.unwrap();
            prop_assert_eq!(account.balance(), initial - paid);
            Ok(())
        }
        .await;
        db.store.close().await;
        result
    })
}

#[test]
fn months_start_where_the_calendar_says() {
    // 2024-05-15T12:00:00Z, 2024-02-29T12:00:00Z, 2023-12-31T23:59:59Z.
    assert_eq!(month_start(1_715_774_400), 1_714_521_600);
    assert_eq!(next_month_start(1_715_774_400), 1_717_200_000);
    assert_eq!(month_start(1_709_208_000), 1_706_745_600);
    assert_eq!(next_month_start(1_709_208_000), 1_709_251_200);
    assert_eq!(month_start(1_704_067_199), 1_701_388_800);
    assert_eq!(next_month_start(1_704_067_199), 1_704_067_200);
    assert_eq!(month_start(1_704_067_200), 1_704_067_200);
}

/// Whether `TOLLGATE_TEST_DATABASE_URL` is set; said once when not.
fn postgres_configured() -> bool {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    let set = std::env::var_os("TOLLGATE_TEST_DATABASE_URL").is_some();
    if !set {
        NOTICE.call_once(|| eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset"));
    }
    set
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sqlite_follows_the_model(ops in ops()) {
        run_sequence(Kind::Sqlite, ops)?;
    }

    #[test]
    fn postgres_follows_the_model(ops in ops()) {
        if postgres_configured() {
            run_sequence(Kind::Postgres, ops)?;
        }
    }

}

proptest! {
    // Half as many: each is one burst, and Postgres makes a schema a case.
    #![proptest_config(ProptestConfig {
        cases: cases().div_ceil(2),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn sqlite_concurrent_charges_never_overdraw(
        initial in 0i64..60,
        charges in prop::collection::vec((1i64..10, prop::bool::weighted(0.3)), 2..24),
    ) {
        run_concurrent(Kind::Sqlite, initial, charges)?;
    }

    #[test]
    fn postgres_concurrent_charges_never_overdraw(
        initial in 0i64..60,
        charges in prop::collection::vec((1i64..10, prop::bool::weighted(0.3)), 2..24),
    ) {
        if postgres_configured() {
            run_concurrent(Kind::Postgres, initial, charges)?;
        }
    }

    #[test]
    fn sqlite_concurrent_requests_with_one_key_run_once(
        initial in 0i64..10,
        requests in 2usize..10,
        outcome in prop_oneof![Just(Outcome::Created), Just(Outcome::NotFound), Just(Outcome::Failed)],
    ) {
        run_concurrent_requests(Kind::Sqlite, initial, requests, outcome)?;
    }

    #[test]
    fn postgres_concurrent_requests_with_one_key_run_once(
        initial in 0i64..10,
        requests in 2usize..10,
        outcome in prop_oneof![Just(Outcome::Created), Just(Outcome::NotFound), Just(Outcome::Failed)],
    ) {
        if postgres_configured() {
            run_concurrent_requests(Kind::Postgres, initial, requests, outcome)?;
        }
    }
}
