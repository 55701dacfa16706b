//! The store's library API on both backends: accounts, keys and their states,
//! the key cache, atomic charging under concurrency, usage and storage quotas,
//! idempotency records' owners, and upgrades of older databases.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Kind, START, TestDb};
use tollgate_store::backend::{IdempotencyRow, LockToken};
use tollgate_store::{
    AccountState, KeyState, Limits, NewAccount, NewKey, Rejection, StoreError, StoreOptions,
};

both_backends!(
    accounts_lifecycle,
    key_states,
    a_keys_info_shows_its_prefix_and_id_and_its_times,
    revocation_clears_this_nodes_cache_and_the_ttl_bounds_others,
    thousand_concurrent_charges_never_overdraw,
    release_gives_back_credits_and_usage,
    abandoned_charges_are_given_back_once_their_hold_ends,
    a_hold_under_a_second_holds_a_charge_for_one,
    monthly_usage_limit_resets_next_month,
    storage_quota,
    an_empty_file_counts_no_storage_and_a_negative_size_is_invalid_input,
    keys_are_stored_only_as_hashes,
    an_idempotency_record_is_written_only_by_its_token,
    a_database_made_before_lock_tokens_upgrades_in_place,
    a_store_that_creates_no_tables_opens_only_a_tollgate_database,
    a_changed_migration_is_said_as_such_not_as_no_tables,
    an_account_id_with_a_nul_is_no_account_on_either_backend,
    a_store_names_its_backend,
    reservations_are_equal_when_they_took_the_same_from_the_same_balance,
);

async fn accounts_lifecycle(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    let a = s
        .create_account(NewAccount::new("acme").credits(10).usage_limit(5))
        .await
        .unwrap();
    assert_eq!(
        (a.id(), a.balance(), a.state(), a.usage_limit()),
        ("acme", 10, AccountState::Active, Some(5))
    );
    assert!(matches!(
        s.create_account(NewAccount::new("acme")).await,
        Err(StoreError::AccountExists(_))
    ));
    assert!(matches!(
        s.create_account(NewAccount::new("a b")).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.create_account(NewAccount::new("x").credits(-1)).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.account("nope").await,
        Err(StoreError::AccountNotFound(_))
    ));

    assert_eq!(s.credit("acme", 5).await.unwrap().balance(), 15);
    assert_eq!(s.credit("acme", -15).await.unwrap().balance(), 0);
    let refused = s.credit("acme", -1).await.unwrap_err();
    assert!(refused.to_string().contains("below zero"), "{refused}");
    assert_eq!(s.account("acme").await.unwrap().balance(), 0);
    // The extremes are refused with the reason, and leave a readable balance
    // (an overflowing sum in SQLite would be stored as a float).
    let refused = s.credit("acme", i64::MIN).await.unwrap_err();
    assert!(
        refused.to_string().contains("debiting 9223372036854775808"),
        "{refused}"
    );
    assert_eq!(
        s.credit("acme", i64::MAX).await.unwrap().balance(),
        i64::MAX
    );
    let refused = s.credit("acme", 1).await.unwrap_err();
    assert!(
        refused.to_string().contains("past the largest balance"),
        "{refused}"
    );
    assert_eq!(s.account("acme").await.unwrap().balance(), i64::MAX);
    assert_eq!(s.credit("acme", -i64::MAX).await.unwrap().balance(), 0);
    assert!(matches!(
        s.credit("nope", 1).await,
        Err(StoreError::AccountNotFound(_))
    ));

    assert_eq!(
        s.suspend("acme").await.unwrap().state(),
        AccountState::Suspended
    );
    assert_eq!(
        s.resume("acme").await.unwrap().state(),
        AccountState::Active
    );
    assert!(matches!(
        s.suspend("nope").await,
        Err(StoreError::AccountNotFound(_))
    ));

    let limited = s
        .set_limits(
            "acme",
            Limits {
                usage_limit: None,
                storage_quota: Some(100),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (limited.usage_limit(), limited.storage_quota()),
        (None, Some(100))
    );
    db.cleanup().await;
}

async fn key_states(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme")).await.unwrap();
    assert!(matches!(
        s.create_key(NewKey::new("nope", ["a"])).await,
        Err(StoreError::AccountNotFound(_))
    ));
    assert!(matches!(
        s.create_key(NewKey::new("acme", ["a,b"])).await,
        Err(StoreError::InvalidInput(_))
    ));
    // Scopes match exactly: a wildcard would grant nothing, so it is refused.
    for scope in ["*", "scans:*"] {
        assert!(
            matches!(
                s.create_key(NewKey::new("acme", [scope])).await,
                Err(StoreError::InvalidInput(ref m)) if m.contains("wildcard")
            ),
            "{scope}"
        );
    }
    assert!(matches!(
        s.create_key(NewKey::new("acme", ["a"]).prefix("bad")).await,
        Err(StoreError::InvalidInput(_))
    ));
    let long = "n".repeat(201);
    for name in ["", "line\nbreak", "\u{1b}[31mred", long.as_str()] {
        assert!(
            matches!(
                s.create_key(NewKey::new("acme", ["a"]).name(name)).await,
                Err(StoreError::InvalidInput(_))
            ),
            "{name:?}"
        );
    }

    let forever = s
        .create_key(NewKey::new(
            "acme",
            ["scans:read", "scans:write", "scans:read"],
        ))
        .await
        .unwrap();
    let short = s
        .create_key(
            NewKey::new("acme", ["scans:read"])
                .expires_in(Duration::from_secs(3600))
                .name("ci"),
        )
        .await
        .unwrap();
    assert!(forever.secret().starts_with("tg_live_"));
    assert!(forever.secret().len() >= 8 + 44);
    assert!(
        forever
            .secret()
            .starts_with(forever.info().display_prefix())
    );
    assert_ne!(forever.secret(), forever.info().display_prefix());
    assert_eq!(forever.info().scopes(), ["scans:read", "scans:write"]);

    let p = s.authenticate(forever.secret()).await.unwrap();
    assert_eq!((p.account_id(), p.key_id()), ("acme", forever.info().id()));
    assert!(p.has_scope("scans:write"));
    assert!(s.authenticate(short.secret()).await.is_ok());

    // Unknown, malformed, and right id with a wrong secret: all invalid_key.
    let mut forged = forever.secret().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [
        "",
        "tg_live_short",
        &forged,
        &format!("tg_live_{}", "x".repeat(44)),
    ] {
        assert!(
            matches!(s.authenticate(bad).await, Err(Rejection::InvalidKey)),
            "{bad:?}"
        );
    }

    // Expired: one hour later.
    db.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        s.authenticate(short.secret()).await,
        Err(Rejection::ExpiredKey)
    ));
    assert!(s.authenticate(forever.secret()).await.is_ok());

    // Deactivated wins over expired.
    let revoked = s.revoke_key(short.info().id()).await.unwrap();
    assert_eq!(revoked.state_at(s.now()), KeyState::Deactivated);
    assert!(matches!(
        s.authenticate(short.secret()).await,
        Err(Rejection::DeactivatedKey)
    ));
    // Revoking by the whole key works too, and twice is harmless.
    assert!(s.revoke_key(short.secret()).await.is_ok());
    assert!(matches!(
        s.revoke_key("nopenopenope").await,
        Err(StoreError::KeyNotFound(_))
    ));
    // A whole key pasted with a character missing is not repeated back.
    let cut = &short.secret()[..short.secret().len() - 1];
    let said = s.revoke_key(cut).await.unwrap_err().to_string();
    assert!(!said.contains(&cut[8..]), "{said}");
    assert!(said.contains("neither a key id"), "{said}");
    // A whole key that starts with a key's id but is not that key (its
    // secret mistyped, another prefix) names nothing: it revokes nothing.
    let other_prefix = forever.secret().replacen("tg_live_", "tg_test_", 1);
    for slip in [forged.as_str(), &other_prefix] {
        for said in [
            s.revoke_key(slip).await.unwrap_err(),
            s.key(slip).await.unwrap_err(),
        ] {
            assert!(
                matches!(&said, StoreError::InvalidInput(m) if m.contains("is not that key")),
                "{said}"
            );
        }
    }
    assert!(s.authenticate(forever.secret()).await.is_ok());
    assert_eq!(
        s.key(forever.secret()).await.unwrap().id(),
        forever.info().id()
    );

    // A suspended account's keys get account_suspended; resumed, they work.
    s.suspend("acme").await.unwrap();
    assert!(matches!(
        s.authenticate(forever.secret()).await,
        Err(Rejection::AccountSuspended)
    ));
    s.resume("acme").await.unwrap();
    assert!(s.authenticate(forever.secret()).await.is_ok());

    let listed = s.list_keys(Some("acme")).await.unwrap();
    assert_eq!(listed.len(), 2);
    let find = |id: &str| listed.iter().find(|k| k.id() == id).unwrap();
    assert_eq!(
        find(forever.info().id()).state_at(s.now()),
        KeyState::Active
    );
    assert_eq!(
        find(short.info().id()).state_at(s.now()),
        KeyState::Deactivated
    );
    assert_eq!(find(short.info().id()).name(), Some("ci"));
    assert_eq!(find(forever.info().id()).name(), None);
    assert!(s.list_keys(Some("other")).await.unwrap().is_empty());
    assert_eq!(s.list_keys(None).await.unwrap().len(), 2);
    db.cleanup().await;
}

/// A key's info shows its display prefix (the key's prefix and its id, the
/// start of the secret), its account, and when it was created, expires and
/// was revoked.
async fn a_keys_info_shows_its_prefix_and_id_and_its_times(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme")).await.unwrap();
    let created = s.now();
    let key = s
        .create_key(NewKey::new("acme", ["a"]).expires_in(Duration::from_secs(3600)))
        .await
        .unwrap();
    let info = key.info();
    assert_eq!(info.display_prefix(), format!("tg_live_{}", info.id()));
    assert_eq!(&key.secret()[..20], info.display_prefix());
    assert_eq!(info.account_id(), "acme");
    assert_eq!(info.created_at(), created);
    assert_eq!(info.expires_at(), Some(created + Duration::from_secs(3600)));
    assert_eq!(info.revoked_at(), None);
    // Active until its expiry, and expired from then on, as authentication
    // judges it.
    let expires = created + Duration::from_secs(3600);
    assert_eq!(info.state_at(created), KeyState::Active);
    let just_before = expires - Duration::from_secs(1);
    assert_eq!(info.state_at(just_before), KeyState::Active);
    assert_eq!(info.state_at(expires), KeyState::Expired);

    db.clock.advance(Duration::from_secs(60));
    let revoked = s.revoke_key(info.id()).await.unwrap();
    assert_eq!(revoked.display_prefix(), info.display_prefix());
    assert_eq!(revoked.revoked_at(), Some(s.now()));
    db.cleanup().await;
}

async fn revocation_clears_this_nodes_cache_and_the_ttl_bounds_others(kind: Kind) {
    let ttl = Duration::from_secs(10);
    let Some(db) = TestDb::with(kind, |o| o.cache_ttl(ttl)).await else {
        return;
    };
    let node_a = &db.store;
    let node_b = db.another_node(|o| o.cache_ttl(ttl)).await;
    node_a
        .create_account(NewAccount::new("acme"))
        .await
        .unwrap();
    let k1 = node_a.create_key(NewKey::new("acme", ["x"])).await.unwrap();
    let k2 = node_a.create_key(NewKey::new("acme", ["x"])).await.unwrap();

    // Not cached until first used; then answered from the cache.
    assert!(node_a.authenticate_cached(k1.secret()).is_none());
    node_a.authenticate(k1.secret()).await.unwrap();
    node_a.authenticate(k2.secret()).await.unwrap();
    node_b.authenticate(k1.secret()).await.unwrap();
    assert!(matches!(
        node_a.authenticate_cached(k1.secret()),
        Some(Ok(_))
    ));
    assert!(matches!(
        node_b.authenticate_cached(k1.secret()),
        Some(Ok(_))
    ));

    // Revoked on node A: node A knows at once, from the cache too...
    node_a.revoke_key(k1.info().id()).await.unwrap();
    assert!(node_a.authenticate_cached(k1.secret()).is_none());
    assert!(matches!(
        node_a.authenticate(k1.secret()).await,
        Err(Rejection::DeactivatedKey)
    ));
    assert!(matches!(
        node_a.authenticate_cached(k1.secret()),
        Some(Err(Rejection::DeactivatedKey))
    ));
    // ...node B until its entry is older than the TTL.
    db.clock.advance(ttl - Duration::from_secs(1));
    assert!(node_b.authenticate(k1.secret()).await.is_ok());
    db.clock.advance(Duration::from_secs(1));
    assert!(node_b.authenticate_cached(k1.secret()).is_none());
    assert!(matches!(
        node_b.authenticate(k1.secret()).await,
        Err(Rejection::DeactivatedKey)
    ));

    // Suspending drops the account's cached keys on this node.
    node_a.authenticate(k2.secret()).await.unwrap();
    node_a.suspend("acme").await.unwrap();
    assert!(node_a.authenticate_cached(k2.secret()).is_none());
    assert!(matches!(
        node_a.authenticate(k2.secret()).await,
        Err(Rejection::AccountSuspended)
    ));

    // An id no key has is remembered as long: refused from the cache, as a
    // known id with a wrong secret is, rather than by the database each
    // time, which would tell the two apart by how long it took.
    let unknown = format!("{}AAAAAAAAAAAA{}", &k2.secret()[..8], &k2.secret()[20..]);
    assert!(node_a.authenticate_cached(&unknown).is_none());
    assert!(matches!(
        node_a.authenticate(&unknown).await,
        Err(Rejection::InvalidKey)
    ));
    assert!(matches!(
        node_a.authenticate_cached(&unknown),
        Some(Err(Rejection::InvalidKey))
    ));
    db.clock.advance(ttl);
    assert!(node_a.authenticate_cached(&unknown).is_none());

    // A zero TTL disables the cache.
    let uncached = db.another_node(|o| o.cache_ttl(Duration::ZERO)).await;
    node_a.resume("acme").await.unwrap();
    uncached.authenticate(k2.secret()).await.unwrap();
    assert!(uncached.authenticate_cached(k2.secret()).is_none());
    db.cleanup().await;
}

async fn thousand_concurrent_charges_never_overdraw(kind: Kind) {
    // A thousand callers queue for 16 connections: on a loaded machine that
    // can outlast the default acquire timeout, which is not what this tests.
    let tune = |o: StoreOptions| {
        o.max_connections(16)
            .acquire_timeout(Duration::from_secs(120))
    };
    let Some(db) = TestDb::with(kind, tune).await else {
        return;
    };
    db.store
        .create_account(NewAccount::new("acme").credits(100))
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (store, start) = (db.store.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.reserve("acme", 1).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                assert!(r.remaining() >= 0);
                ok += 1;
            }
            Err(Rejection::InsufficientCredits {
                required: 1,
                available,
            }) => {
                assert!(available >= 0);
                refused += 1;
            }
            Err(other) => panic!("unexpected rejection: {other}"),
        }
    }
    assert_eq!((ok, refused), (100, 900));
    let account = db.store.account("acme").await.unwrap();
    assert_eq!(account.balance(), 0);
    assert_eq!(account.usage_in_month_of(db.store.now()), 100);
    db.cleanup().await;
}

async fn release_gives_back_credits_and_usage(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(5))
        .await
        .unwrap();
    let r = s.reserve("acme", 3).await.unwrap();
    assert_eq!((r.cost(), r.remaining(), r.account_id()), (3, 2, "acme"));
    assert!(matches!(
        s.reserve("acme", 3).await,
        Err(Rejection::InsufficientCredits {
            required: 3,
            available: 2
        })
    ));
    let copy = r.clone();
    s.release(r).await.unwrap();
    let a = s.account("acme").await.unwrap();
    assert_eq!((a.balance(), a.usage_in_month_of(s.now())), (5, 0));
    // A clone is the same reservation: released once.
    s.release(copy).await.unwrap();
    assert_eq!(s.account("acme").await.unwrap().balance(), 5);
    // Credited to the top while a charge is out: the release saturates.
    let r = s.reserve("acme", 3).await.unwrap();
    s.credit("acme", i64::MAX - 2).await.unwrap();
    s.release(r).await.unwrap();
    assert_eq!(s.account("acme").await.unwrap().balance(), i64::MAX);
    assert!(s.reserve("acme", -1).await.is_err());
    assert!(matches!(
        s.reserve("nope", 1).await,
        Err(Rejection::InvalidKey)
    ));
    s.suspend("acme").await.unwrap();
    assert!(matches!(
        s.reserve("acme", 1).await,
        Err(Rejection::AccountSuspended)
    ));
    db.cleanup().await;
}

/// A process that stops mid-request (killed, crashed) leaves its charges
/// neither kept nor given back: once their hold ends, their credits and
/// usage come back, once however many look, and a later charge looks by
/// itself. What was kept or given back stays so.
async fn abandoned_charges_are_given_back_once_their_hold_ends(kind: Kind) {
    let hold = Duration::from_secs(600);
    let Some(db) = TestDb::with(kind, |o| o.charge_hold(hold)).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(20))
        .await
        .unwrap();
    let kept = s.reserve("acme", 1).await.unwrap();
    s.commit(kept);
    s.finish_writes().await;
    let failed = s.reserve("acme", 1).await.unwrap();
    s.release(failed).await.unwrap();
    let stopped = [
        s.reserve("acme", 2).await.unwrap(),
        s.reserve("acme", 3).await.unwrap(),
    ];
    let state = |a: tollgate_store::Account| (a.balance(), a.usage_in_month_of(s.now()));
    assert_eq!(state(s.account("acme").await.unwrap()), (14, 3));

    db.clock.advance(hold - Duration::from_secs(1));
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 0);
    db.clock.advance(Duration::from_secs(1));
    let (first, second) =
        tokio::join!(s.release_abandoned_charges(), s.release_abandoned_charges());
    assert_eq!(first.unwrap() + second.unwrap(), 2);
    assert_eq!(state(s.account("acme").await.unwrap()), (19, 1));
    // The stopped process's own late release gives nothing more, nor does
    // its late commit take anything.
    let [late_release, late_commit] = stopped;
    s.release(late_release).await.unwrap();
    s.commit(late_commit);
    s.finish_writes().await;
    assert_eq!(state(s.account("acme").await.unwrap()), (19, 1));

    // Another charge abandoned: the first charge after its hold (and a
    // minute after the last look) gives it back by itself.
    let abandoned = s.reserve("acme", 4).await.unwrap();
    drop(abandoned);
    db.clock.advance(hold);
    let next = s.reserve("acme", 1).await.unwrap();
    s.finish_writes().await;
    assert_eq!(state(s.account("acme").await.unwrap()), (18, 2));
    s.commit(next);
    s.finish_writes().await;

    // A charge committed whose record still waits for its batch to be
    // deleted was kept, however late it is.
    let kept = s.reserve("acme", 1).await.unwrap();
    s.commit(kept);
    db.clock.advance(hold);
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 0);
    s.finish_writes().await;
    assert_eq!(state(s.account("acme").await.unwrap()), (17, 3));
    // The records of the charges kept are gone, not only known here:
    // another node, long past every hold, finds nothing to give back.
    db.clock.advance(hold);
    let other = db.another_node(|o| o.charge_hold(hold)).await;
    assert_eq!(other.release_abandoned_charges().await.unwrap(), 0);
    assert_eq!(state(s.account("acme").await.unwrap()), (17, 3));

    let refused = tollgate_store::Store::open_with(
        &db.url,
        StoreOptions::default().charge_hold(Duration::ZERO),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("charge hold"), "{refused}");
    db.cleanup().await;
}

/// A hold shorter than a second is a second, not none: a charge made now
/// is not abandoned the moment it is made.
async fn a_hold_under_a_second_holds_a_charge_for_one(kind: Kind) {
    let half = Duration::from_millis(500);
    let Some(db) = TestDb::with(kind, |o| o.charge_hold(half)).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(1))
        .await
        .unwrap();
    let held = s.reserve("acme", 1).await.unwrap();
    // The charge's own look for abandoned charges, on a task of its own,
    // is done before the clock moves: run late, it would take the charge.
    s.finish_writes().await;
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 0);
    db.clock.advance(Duration::from_secs(1));
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 1);
    drop(held);
    // Taken late in a second, a charge is still held its whole hold (and
    // less than a second more), not released when that second ends.
    db.clock.advance(Duration::from_millis(999));
    let late = s.reserve("acme", 1).await.unwrap();
    s.finish_writes().await;
    db.clock.advance(Duration::from_millis(2));
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 0);
    db.clock.advance(Duration::from_millis(998));
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 0);
    db.clock.advance(Duration::from_millis(1));
    assert_eq!(s.release_abandoned_charges().await.unwrap(), 1);
    drop(late);
    db.cleanup().await;
}

async fn monthly_usage_limit_resets_next_month(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(100).usage_limit(2))
        .await
        .unwrap();
    // Served, so kept: a charge merely dropped is abandoned, and the sweep
    // the first charge starts may run after the clock has moved past its
    // hold and give the credit back.
    s.commit(s.reserve("acme", 1).await.unwrap());
    s.commit(s.reserve("acme", 0).await.unwrap());
    let Err(Rejection::UsageLimitExceeded { limit, retry_after }) = s.reserve("acme", 1).await
    else {
        panic!("expected usage_limit_exceeded")
    };
    // START is 2024-05-15T12:00:00Z; the next cycle starts 2024-06-01T00:00:00Z.
    assert_eq!(limit, 2);
    assert_eq!(
        retry_after,
        Duration::from_secs(1_717_200_000 - common::START)
    );
    assert_eq!(
        s.account("acme").await.unwrap().balance(),
        99,
        "a refused request costs nothing"
    );
    db.clock.advance(retry_after);
    let r = s.reserve("acme", 1).await.unwrap();
    assert_eq!(r.remaining(), 98);
    assert_eq!(
        s.account("acme").await.unwrap().usage_in_month_of(s.now()),
        1
    );
    // A node whose clock is a second behind, still in May: it counts against
    // June, as stored, rather than taking the month back (which would reset
    // the count and let the account past its limit).
    let lagging_clock = tollgate_store::ManualClock::new(s.now() - Duration::from_secs(1));
    let lagging = db.another_node(|o| o.clock(lagging_clock)).await;
    let usage = || async { s.account("acme").await.unwrap().usage_in_month_of(s.now()) };
    let r = lagging.reserve("acme", 1).await.unwrap();
    assert_eq!(usage().await, 2);
    // Its refund uncounts the request from June, where it was counted.
    lagging.release(r).await.unwrap();
    assert_eq!(usage().await, 1);
    lagging.commit(lagging.reserve("acme", 1).await.unwrap());
    assert_eq!(usage().await, 2);
    assert!(matches!(
        lagging.reserve("acme", 1).await,
        Err(Rejection::UsageLimitExceeded { .. })
    ));
    assert!(matches!(
        s.reserve("acme", 1).await,
        Err(Rejection::UsageLimitExceeded { .. })
    ));
    db.cleanup().await;
}

async fn storage_quota(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").storage_quota(1000))
        .await
        .unwrap();
    s.create_account(NewAccount::new("free")).await.unwrap();
    assert_eq!(s.add_storage("acme", 600).await.unwrap(), 600);
    let Err(Rejection::StorageQuotaExceeded {
        quota,
        used,
        requested,
    }) = s.add_storage("acme", 401).await
    else {
        panic!("expected storage_quota_exceeded")
    };
    assert_eq!((quota, used, requested), (1000, 600, 401));
    assert_eq!(s.add_storage("acme", 400).await.unwrap(), 1000);
    s.remove_storage("acme", 5000).await.unwrap();
    assert_eq!(s.account("acme").await.unwrap().storage_used(), 0);
    assert_eq!(s.add_storage("free", 1 << 40).await.unwrap(), 1 << 40);
    let Err(Rejection::StorageQuotaExceeded { quota, used, .. }) =
        s.add_storage("free", i64::MAX).await
    else {
        panic!("expected storage_quota_exceeded")
    };
    assert_eq!((quota, used), (i64::MAX, 1 << 40));
    assert_eq!(s.account("free").await.unwrap().storage_used(), 1 << 40);
    assert!(s.add_storage("acme", -1).await.is_err());
    db.cleanup().await;
}

/// Zero bytes are no negative amount: an empty file is counted (as nothing),
/// not refused as invalid input, even on an account at its quota. A negative
/// size is the caller's bug, said as such: not left to the database to
/// refuse (a database error, told to clients as the store unavailable).
async fn an_empty_file_counts_no_storage_and_a_negative_size_is_invalid_input(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").storage_quota(1000))
        .await
        .unwrap();
    assert_eq!(s.add_storage("acme", 0).await.unwrap(), 0);
    assert_eq!(s.add_storage("acme", 1000).await.unwrap(), 1000);
    assert_eq!(s.add_storage("acme", 0).await.unwrap(), 1000);
    s.remove_storage("acme", 0).await.unwrap();
    assert_eq!(s.account("acme").await.unwrap().storage_used(), 1000);
    s.remove_storage("acme", 1000).await.unwrap();
    assert!(matches!(
        s.add_storage("acme", -1).await,
        Err(Rejection::Internal(StoreError::InvalidInput(_)))
    ));
    assert_eq!(s.account("acme").await.unwrap().storage_used(), 0);
    db.cleanup().await;
}

/// Postgres text cannot hold a NUL: asking it about such an id failed the
/// call (a database error, a 503 for a charge) where SQLite found no account.
async fn an_account_id_with_a_nul_is_no_account_on_either_backend(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(5))
        .await
        .unwrap();
    let id = "acme\0";
    let not_found = |result: Result<(), StoreError>| matches!(result, Err(StoreError::AccountNotFound(found)) if found == id);
    assert!(not_found(s.account(id).await.map(drop)));
    assert!(not_found(s.credit(id, 1).await.map(drop)));
    assert!(not_found(s.suspend(id).await.map(drop)));
    assert!(not_found(s.resume(id).await.map(drop)));
    assert!(not_found(
        s.set_limits(id, Limits::default()).await.map(drop)
    ));
    assert!(not_found(
        s.create_key(NewKey::new(id, ["a"])).await.map(drop)
    ));
    assert!(s.list_keys(Some(id)).await.unwrap().is_empty());
    assert!(matches!(s.reserve(id, 1).await, Err(Rejection::InvalidKey)));
    assert!(matches!(
        s.add_storage(id, 1).await,
        Err(Rejection::Internal(StoreError::AccountNotFound(_)))
    ));
    s.remove_storage(id, 1).await.unwrap();
    assert_eq!(s.account("acme").await.unwrap().balance(), 5);
    db.cleanup().await;
}

async fn keys_are_stored_only_as_hashes(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme")).await.unwrap();
    let mut keys = Vec::new();
    for i in 0..20 {
        let k = s
            .create_key(NewKey::new("acme", ["a"]).name(format!("k{i}")))
            .await
            .unwrap();
        s.authenticate(k.secret()).await.unwrap();
        keys.push(k.secret().to_owned());
    }
    s.revoke_key(&keys[0]).await.unwrap();
    match kind {
        Kind::Sqlite => {
            let file = db.file.clone().unwrap();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", file.display());
                if let Ok(b) = std::fs::read(&path) {
                    bytes.extend(b);
                }
            }
            assert!(bytes.len() > 4096);
            for key in &keys {
                let secret = &key[key.len() - 32..];
                assert!(
                    !contains(&bytes, key.as_bytes()),
                    "plaintext key found in the database file"
                );
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "key secret found in the database file"
                );
            }
            // The check can fail: the display prefixes are there.
            assert!(contains(
                &bytes,
                s.list_keys(None).await.unwrap()[0]
                    .display_prefix()
                    .as_bytes()
            ));
        }
        Kind::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let schema = db.schema.clone().unwrap();
            let dump: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM {schema}.api_keys t UNION ALL SELECT t::text FROM {schema}.accounts t"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let dump = dump.join("\n");
            assert!(dump.contains("tg_live_"));
            for key in &keys {
                assert!(!dump.contains(key.as_str()));
                assert!(!dump.contains(&key[key.len() - 32..]));
            }
        }
    }
    db.cleanup().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    let err = tollgate_store::Store::open("mysql://x").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("expected sqlite://path or postgres://"),
        "{err}"
    );
    let err = tollgate_store::Store::open_with(
        "postgres://u:hunter2@127.0.0.1:1/db",
        StoreOptions::default().schema("Bad Schema"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("schema"), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    for empty in ["sqlite:", "sqlite://", "sqlite://?mode=rwc"] {
        let err = tollgate_store::Store::open(empty).await.unwrap_err();
        assert!(err.to_string().contains("no file named"), "{empty}: {err}");
    }
    // An in-memory database is named, and opens.
    tollgate_store::Store::open("sqlite::memory:")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_postgres_fails_at_once_with_the_cause() {
    // A port nothing listens on: refused, said so, without the pool's
    // 30-second wait that ends in "pool timed out".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let err = tollgate_store::Store::open(&format!("postgres://u:hunter2@127.0.0.1:{port}/db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    // Where it went, and not the password.
    assert!(
        err.to_string()
            .ends_with(&format!("(connecting to 127.0.0.1:{port})")),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_postgres_that_never_answers_times_out() {
    // Accepts the connection and says nothing (a hung server, a wrong port).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let err = tollgate_store::Store::open(&format!("postgres://u@127.0.0.1:{port}/db"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no connection within 10 s: is a Postgres server answering"),
        "{err}"
    );
}

/// A TCP proxy to `upstream` that [`Proxy::cut`] takes down and
/// [`Proxy::restore`] brings back: the database as a network partition
/// sees it.
struct Proxy {
    addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    relays: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let relays = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (is_open, held) = (open.clone(), relays.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                // Down: the connection is closed as soon as it is made.
                if !is_open.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap().push(relay);
            }
        });
        Proxy { addr, open, relays }
    }

    /// A proxy to the Postgres server of `db`, and `db`'s URL through it.
    async fn in_front_of(db: &TestDb) -> (Proxy, String) {
        // `postgres://user@host:port/db`: the same database through the proxy.
        let authority = db.url.split("://").nth(1).unwrap();
        let authority = authority.split('/').next().unwrap();
        let host_port = authority.rsplit('@').next().unwrap().to_owned();
        let proxy = Proxy::start(host_port.clone()).await;
        let proxied = db.url.replacen(&host_port, &proxy.addr.to_string(), 1);
        (proxy, proxied)
    }

    /// Closes every connection and every new one.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// Relays new connections again.
    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_gone_mid_run_is_unavailable_after_the_acquire_timeout() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let (proxy, proxied) = Proxy::in_front_of(&db).await;
    let options = StoreOptions::default()
        .schema(db.schema.clone().unwrap())
        .acquire_timeout(Duration::from_millis(500));
    let store = tollgate_store::Store::open_with(&proxied, options)
        .await
        .unwrap();
    store
        .create_account(NewAccount::new("acme").credits(3))
        .await
        .unwrap();

    proxy.cut();
    // The pooled connection breaks at once; the next call has to connect,
    // and gives up after the acquire timeout instead of sqlx's 30 s.
    let _ = store.account("acme").await;
    let started = std::time::Instant::now();
    let err = store.account("acme").await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "{waited:?}: {err}");
    db.cleanup().await;
}

/// A charge kept while the database is out of reach is written once it is
/// back, however long that takes: its request succeeded, and no node gives
/// it back when its hold ends (it was given back free after three tries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_kept_during_an_outage_is_written_once_the_database_is_back() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let (proxy, proxied) = Proxy::in_front_of(&db).await;
    let hold = Duration::from_secs(600);
    let options = StoreOptions::default()
        .schema(db.schema.clone().unwrap())
        .clock(db.clock.clone())
        .charge_hold(hold)
        .acquire_timeout(Duration::from_millis(200));
    let store = tollgate_store::Store::open_with(&proxied, options)
        .await
        .unwrap();
    store
        .create_account(NewAccount::new("acme").credits(3))
        .await
        .unwrap();
    let kept = store.reserve("acme", 1).await.unwrap();

    proxy.cut();
    store.commit(kept);
    // Long enough for every try the batch had before (0.1 s and 1 s apart,
    // each waiting for a connection), and more.
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;

    db.clock.advance(hold);
    let other = db.another_node(|o| o.charge_hold(hold)).await;
    assert_eq!(other.release_abandoned_charges().await.unwrap(), 0);
    assert_eq!(other.account("acme").await.unwrap().balance(), 2);
    store.finish_writes().await;
    db.cleanup().await;
}

/// A transaction that holds one account's row for long (an operator's, a
/// report's) fails the charges on that account after the acquire timeout,
/// and leaves the pool to every other account: each charge waiting on the
/// row gives its connection back, where it kept it until the row was free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_held_for_long_fails_its_own_charges_not_every_account() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let schema = db.schema.clone().unwrap();
    let options = StoreOptions::default()
        .schema(schema.clone())
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500));
    let store = tollgate_store::Store::open_with(&db.url, options)
        .await
        .unwrap();
    for id in ["held", "other"] {
        let account = NewAccount::new(id).credits(100);
        store.create_account(account).await.unwrap();
    }
    use sqlx::Connection;
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    let lock = format!("SELECT id FROM {schema}.accounts WHERE id = 'held' FOR UPDATE");
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .execute(&mut *held)
        .await
        .unwrap();
    // As many charges on the held row as the pool has connections, each
    // run to its end, as the credits layer runs a charge its request gave up.
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve("held", 1).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let other = store.reserve("other", 1).await;
    assert!(
        other.is_ok(),
        "after {:?}: {:?}",
        started.elapsed(),
        other.err()
    );
    for charge in waiting {
        let charge = tokio::time::timeout(Duration::from_secs(10), charge).await;
        let charge = charge.expect("a charge on the held row gives up").unwrap();
        assert!(charge.is_err(), "charged through a held row");
    }
    held.rollback().await.unwrap();
    assert_eq!(store.account("held").await.unwrap().balance(), 100);
    db.cleanup().await;
}

/// Postgres's error reads as its message and SQLSTATE, without the line
/// of Postgres's own source that sqlx adds (`at line 1452`), which reads
/// as a line of the caller's.
#[tokio::test]
async fn a_postgres_error_is_told_without_a_line_of_postgres_source() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let e = sqlx::query("SELECT * FROM tg_nowhere")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(e.to_string().contains(" at line "), "sqlx's own text: {e}");
    assert_eq!(
        tollgate_store::StoreError::Database(e).to_string(),
        "database error: relation \"tg_nowhere\" does not exist (code 42P01)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_on_a_new_schema_all_open() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    for round in 0..5 {
        let schema = format!("tg_store_race_{}_{round}", std::process::id());
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let (url, schema) = (url.clone(), schema.clone());
                tokio::spawn(async move {
                    let options = StoreOptions::default().schema(schema);
                    tollgate_store::Store::open_with(&url, options).await
                })
            })
            .collect();
        for opened in opens {
            opened.await.unwrap().expect("every node opens the store");
        }
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// A migration that cannot get its lock (a long statement holds the table)
/// gives up after its lock timeout with a clear error, rather than waiting,
/// with every statement queued behind it.
#[tokio::test]
async fn a_migration_held_up_by_a_lock_gives_up() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    use sqlx::Connection;
    let schema = format!("tg_store_locked_{}", std::process::id());
    let options = || StoreOptions::default().schema(schema.clone());
    drop(
        tollgate_store::Store::open_with(&url, options())
            .await
            .unwrap(),
    );
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {schema}._sqlx_migrations IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *held)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(60),
        tollgate_store::Store::open_with(&url, options()),
    )
    .await
    .expect("the migration gives up by itself");
    let waited = started.elapsed();
    held.rollback().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
    let err = opened.expect_err("the open fails").to_string();
    assert!(err.contains("lock timeout"), "{err}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
}

/// Stores in other schemas of one database migrate independently: a
/// migration held up in one schema (a long statement holds its table)
/// holds up no other schema's, as a lock on the whole database would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_held_up_in_one_schema_holds_up_no_other() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    use sqlx::Connection;
    let id = std::process::id();
    let (held_up, other) = (format!("tg_store_held_{id}"), format!("tg_store_free_{id}"));
    let options = |schema: &str| StoreOptions::default().schema(schema.to_owned());
    drop(
        tollgate_store::Store::open_with(&url, options(&held_up))
            .await
            .unwrap(),
    );
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {held_up}._sqlx_migrations IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *held)
    .await
    .unwrap();
    let waiting = tokio::spawn({
        let (url, options) = (url.clone(), options(&held_up));
        async move { tollgate_store::Store::open_with(&url, options).await }
    });
    // Let the held-up migration start, and take whatever lock it takes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(30),
        tollgate_store::Store::open_with(&url, options(&other)),
    )
    .await;
    let waited = started.elapsed();
    held.rollback().await.unwrap();
    let _ = waiting.await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for schema in [&held_up, &other] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let opened = opened.expect("the open gives up by itself");
    assert!(opened.is_ok(), "{:?}", opened.err());
    // Held up, it would wait out the 30 s; a loaded machine may be slow.
    assert!(waited < Duration::from_secs(20), "{waited:?}");
}

/// A schema named by an SQL keyword (valid by the documented rule) opens.
#[tokio::test]
async fn a_schema_named_by_a_keyword_opens() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let options = StoreOptions::default().schema("order");
    let store = tollgate_store::Store::open_with(&url, options).await;
    let created = match &store {
        Ok(store) => store
            .create_account(NewAccount::new("acme"))
            .await
            .map(|_| ()),
        Err(_) => Ok(()),
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(r#"DROP SCHEMA IF EXISTS "order" CASCADE"#)
        .execute(&mut conn)
        .await
        .unwrap();
    store.expect("the store opens");
    created.expect("the store works");
}

#[tokio::test]
async fn a_zero_acquire_timeout_is_refused_at_open() {
    let options = StoreOptions::default().acquire_timeout(Duration::ZERO);
    let refused = tollgate_store::Store::open_with("sqlite::memory:", options).await;
    let Err(StoreError::InvalidInput(message)) = refused else {
        panic!("expected invalid input")
    };
    assert!(message.contains("acquire timeout"), "{message}");
}

/// A SQLite file moved away or deleted while its store has it open would
/// take every write after it into a file no one opens again: the store
/// refuses its calls instead, until the file is back.
#[cfg(unix)]
#[tokio::test]
async fn a_sqlite_file_removed_while_open_fails_the_calls_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    let store = tollgate_store::Store::open(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store
        .create_account(NewAccount::new("acme").credits(3))
        .await
        .unwrap();
    let away = dir.path().join("moved.db");
    std::fs::rename(&file, &away).unwrap();
    let refused = store.create_account(NewAccount::new("globex")).await;
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("no longer at its path"), "{message}");
    assert!(matches!(
        store.reserve("acme", 1).await,
        Err(Rejection::Unavailable(_))
    ));
    // Another file under its name is not it either.
    std::fs::write(&file, b"").unwrap();
    assert!(store.account("acme").await.is_err());
    std::fs::rename(&away, &file).unwrap();
    store.commit(store.reserve("acme", 1).await.unwrap());
    store.finish_writes().await;
    assert_eq!(store.account("acme").await.unwrap().balance(), 2);
    assert!(
        store.account("globex").await.is_err(),
        "nothing was written meanwhile"
    );
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data() {
    let store = tollgate_store::Store::open("sqlite::memory:")
        .await
        .unwrap();
    store
        .create_account(NewAccount::new("acme").credits(3))
        .await
        .unwrap();
    let key = store.create_key(NewKey::new("acme", ["a"])).await.unwrap();
    for _ in 0..3 {
        let _ = store.reserve("acme", 1).await.unwrap();
    }
    assert!(store.authenticate(key.secret()).await.is_ok());
    assert_eq!(store.account("acme").await.unwrap().balance(), 0);
}

/// A database in memory named by its `mode` (here with a private cache,
/// so that each connection would have a database of its own) is one
/// database too: calls made at once all find the tables and the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sqlite_named_by_its_mode_is_one_database_for_calls_at_once() {
    let url = "sqlite://tollgate?mode=memory&cache=private";
    let store = tollgate_store::Store::open(url).await.unwrap();
    store
        .create_account(NewAccount::new("acme").credits(5))
        .await
        .unwrap();
    let calls = (0..50).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.account("acme").await.map(|a| a.balance()) })
    });
    for found in futures_util::future::join_all(calls).await {
        assert_eq!(found.unwrap().unwrap(), 5);
    }
}

/// A `running` record of `key`, locked until `locked_until`, as a claim
/// writes it.
fn running(key: &str, locked_until: i64) -> IdempotencyRow {
    let now = START as i64;
    IdempotencyRow::running("key_1", key, b"fp", locked_until, now, now + 86_400)
}

/// The outcome of the request with `key`, as a completion writes it.
fn outcome(key: &str, body: &str) -> IdempotencyRow {
    IdempotencyRow {
        state: "done".to_owned(),
        status: Some(201),
        headers: Some("[]".to_owned()),
        body: Some(body.as_bytes().to_vec()),
        ..running(key, 0)
    }
}

async fn an_idempotency_record_is_written_only_by_its_token(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let b = db.backend().await;
    let now = START as i64;
    let (owner, other) = (LockToken(7), LockToken(-7));
    let lock = |key: &'static str| {
        let b = b.clone();
        async move {
            b.idem_get("key_1", key)
                .await
                .unwrap()
                .map(|r| r.locked_until)
        }
    };

    // The owner renews (the lock moves) and never learns of it, as when its
    // request is dropped while the renewal runs: its token still frees the key.
    assert!(b.idem_insert(running("k1", now + 60), owner).await.unwrap());
    assert!(b.idem_renew("key_1", "k1", owner, now + 70).await.unwrap());
    assert_eq!(lock("k1").await, Some(now + 70));
    // A renewal never moves a lock back.
    assert!(b.idem_renew("key_1", "k1", owner, now + 65).await.unwrap());
    assert_eq!(lock("k1").await, Some(now + 70));
    assert!(!b.idem_abandon("key_1", "k1", other).await.unwrap());
    assert!(!b.idem_renew("key_1", "k1", other, now + 80).await.unwrap());
    assert!(!b.idem_complete(outcome("k1", "x"), other).await.unwrap());
    assert!(b.idem_abandon("key_1", "k1", owner).await.unwrap());
    assert_eq!(lock("k1").await, None);
    // Likewise its outcome is stored whatever the lock became.
    assert!(b.idem_insert(running("k1", now + 60), owner).await.unwrap());
    assert!(b.idem_renew("key_1", "k1", owner, now + 70).await.unwrap());
    assert!(b.idem_complete(outcome("k1", "ok"), owner).await.unwrap());
    let row = b.idem_get("key_1", "k1").await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.body),
        ("done", Some(b"ok".to_vec()))
    );
    // A done record is no one's to free or renew.
    assert!(!b.idem_abandon("key_1", "k1", owner).await.unwrap());
    assert!(!b.idem_renew("key_1", "k1", owner, now + 90).await.unwrap());

    // The owner stalls past its lock and a retry takes the key over, with
    // the very lock a renewal by the first owner would set now: nothing the
    // first owner writes lands.
    assert!(b.idem_insert(running("k2", now + 60), owner).await.unwrap());
    assert!(
        !b.idem_take_over("key_1", "k2", b"fp", now + 60, now + 120, other)
            .await
            .unwrap(),
        "not before the lock has ended"
    );
    assert!(
        b.idem_take_over("key_1", "k2", b"fp", now + 61, now + 121, other)
            .await
            .unwrap()
    );
    assert!(!b.idem_renew("key_1", "k2", owner, now + 121).await.unwrap());
    assert!(
        !b.idem_complete(outcome("k2", "first"), owner)
            .await
            .unwrap()
    );
    assert!(!b.idem_abandon("key_1", "k2", owner).await.unwrap());
    let row = b.idem_get("key_1", "k2").await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.locked_until),
        ("running", now + 121)
    );
    assert!(
        b.idem_complete(outcome("k2", "second"), other)
            .await
            .unwrap()
    );
    let row = b.idem_get("key_1", "k2").await.unwrap().unwrap();
    assert_eq!(row.body.as_deref(), Some(&b"second"[..]));
    db.cleanup().await;
}

async fn a_database_made_before_lock_tokens_upgrades_in_place(kind: Kind) {
    let now = START as i64;
    // A database as the first release left it: a request running (its lock
    // ends in 30 s), another's outcome stored.
    let db = TestDb::prepared(kind, |pool| async move {
        pool.migrate_to(1).await;
        let bytes = |hex: &str| match &pool {
            common::Pool::Sqlite(_) => format!("X'{hex}'"),
            common::Pool::Postgres(_) => format!("'\\x{hex}'::bytea"),
        };
        pool.execute(&format!(
            "INSERT INTO idempotency (api_key_id, idem_key, fingerprint, state, locked_until, \
             status, headers, body, created_at, expires_at) VALUES \
             ('key_1', 'k-running', {fp}, 'running', {running_lock}, NULL, NULL, NULL, {now}, {expires}), \
             ('key_1', 'k-done', {fp}, 'done', {now}, 201, '[]', {ok}, {now}, {expires})",
            fp = bytes("6670"),
            ok = bytes("6f6b"),
            running_lock = now + 30,
            expires = now + 86_400,
        ))
        .await;
    })
    .await;
    let Some(db) = db else {
        return;
    };
    let b = db.backend().await;
    let token = LockToken(42);

    // The stored outcome is kept.
    let done = b.idem_get("key_1", "k-done").await.unwrap().unwrap();
    assert_eq!((done.status, done.body), (Some(201), Some(b"ok".to_vec())));
    // The running record has no owner: no token frees, renews or completes it...
    let before = b.idem_get("key_1", "k-running").await.unwrap().unwrap();
    assert_eq!(before.state, "running");
    assert!(!b.idem_abandon("key_1", "k-running", token).await.unwrap());
    assert!(
        !b.idem_renew("key_1", "k-running", token, now + 60)
            .await
            .unwrap()
    );
    assert!(
        !b.idem_complete(outcome("k-running", "x"), token)
            .await
            .unwrap()
    );
    // ...until its lock ends and a retry takes it over.
    assert!(
        b.idem_take_over("key_1", "k-running", b"fp", now + 31, now + 91, token)
            .await
            .unwrap()
    );
    assert!(
        b.idem_renew("key_1", "k-running", token, now + 95)
            .await
            .unwrap()
    );
    assert!(
        b.idem_complete(outcome("k-running", "retried"), token)
            .await
            .unwrap()
    );
    let row = b.idem_get("key_1", "k-running").await.unwrap().unwrap();
    assert_eq!(row.body.as_deref(), Some(&b"retried"[..]));
    // New records are written and freed by their tokens.
    assert!(
        b.idem_insert(running("k-new", now + 60), token)
            .await
            .unwrap()
    );
    assert!(b.idem_abandon("key_1", "k-new", token).await.unwrap());
    // And the rest of the store works on it.
    db.store
        .create_account(NewAccount::new("acme").credits(1))
        .await
        .unwrap();
    let key = db
        .store
        .create_key(NewKey::new("acme", ["a"]))
        .await
        .unwrap();
    assert!(db.store.authenticate(key.secret()).await.is_ok());
    db.cleanup().await;
}

/// The startup parameters a Postgres client sends to a listener that answers
/// nothing: `url` is opened with `{addr}` replaced by the listener's address.
async fn startup_parameters(url: &str, options: StoreOptions) -> Vec<(String, String)> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url.replace("{addr}", &listener.local_addr().unwrap().to_string());
    let opening =
        tokio::spawn(async move { tollgate_store::Store::open_with(&url, options).await });
    let (mut socket, _) = listener.accept().await.unwrap();
    let len = socket.read_u32().await.unwrap() as usize;
    let mut message = vec![0; len - 4];
    socket.read_exact(&mut message).await.unwrap();
    drop(socket);
    assert!(opening.await.unwrap().is_err());
    // After the protocol version: name, value, ... each ending in a NUL,
    // then an empty name.
    let fields: Vec<String> = message[4..]
        .split(|&b| b == 0)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    fields
        .chunks_exact(2)
        .take_while(|pair| !pair[0].is_empty())
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// PgBouncer refuses a connection that sends a startup parameter it does not
/// track (unless told to ignore it): the store sends none (without a
/// schema, whose `search_path` goes in `options`).
#[tokio::test]
async fn postgres_connections_send_only_parameters_a_pooler_tracks() {
    let url = "postgres://app@{addr}/db?sslmode=disable";
    // PgBouncer's defaults, plus the connection's own user and database.
    let tracked = [
        "user",
        "database",
        "client_encoding",
        "DateStyle",
        "TimeZone",
        "standard_conforming_strings",
        "application_name",
    ];
    let sent = startup_parameters(url, StoreOptions::default()).await;
    assert!(sent.iter().any(|(name, _)| name == "user"), "{sent:?}");
    for (name, value) in &sent {
        assert!(tracked.contains(&name.as_str()), "{name}={value}");
    }
}

/// Keys made in one second list in the same order on every backend: by id,
/// byte by byte, whatever the database's collation (here a linguistic one,
/// which puts `a` before `B`).
#[tokio::test]
async fn keys_made_in_one_second_list_by_id_whatever_the_collation() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let schema = db.schema.as_deref().unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        r#"ALTER TABLE {schema}.api_keys ALTER COLUMN id TYPE TEXT COLLATE "en-x-icu""#
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let s = &db.store;
    s.create_account(NewAccount::new("acme")).await.unwrap();
    for _ in 0..20 {
        s.create_key(NewKey::new("acme", ["a"])).await.unwrap();
    }
    let listed: Vec<String> = s
        .list_keys(None)
        .await
        .unwrap()
        .iter()
        .map(|k| k.id().to_owned())
        .collect();
    let mut by_bytes = listed.clone();
    by_bytes.sort();
    assert_eq!(listed, by_bytes);
    db.cleanup().await;
}

/// Where a test database of each name is: a SQLite file in a folder, or a
/// Postgres schema.
struct Places {
    url: String,
    dir: Option<tempfile::TempDir>,
    run: String,
}

impl Places {
    fn new(kind: Kind) -> Option<Places> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().display());
                Some(Places {
                    url,
                    dir: Some(dir),
                    run,
                })
            }
            Kind::Postgres => {
                let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
                    eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
                    return None;
                };
                Some(Places {
                    url,
                    dir: None,
                    run,
                })
            }
        }
    }

    fn file(&self, name: &str) -> Option<std::path::PathBuf> {
        Some(self.dir.as_ref()?.path().join(format!("{name}.db")))
    }

    fn schema(&self, name: &str) -> Option<String> {
        self.dir
            .is_none()
            .then(|| format!("tg_store_{name}_{}", self.run))
    }

    fn url(&self, name: &str) -> String {
        match self.file(name) {
            Some(file) => format!("sqlite://{}", file.display()),
            None => self.url.clone(),
        }
    }

    /// A pool on the database `name` (made when `create`).
    async fn pool(&self, name: &str, create: bool) -> common::Pool {
        common::Pool::open(&self.url(name), self.schema(name).as_deref(), create).await
    }

    /// The options of a store that creates no tables, on the database `name`.
    fn options(&self, name: &str) -> StoreOptions {
        let options = StoreOptions::default().create_tables(false);
        match self.schema(name) {
            Some(schema) => options.schema(schema),
            None => options,
        }
    }

    /// The names of the tables in the database `name`.
    async fn tables(&self, name: &str) -> Vec<String> {
        let sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
        match common::Pool::open(&self.url(name), None, false).await {
            common::Pool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(&pool).await,
            common::Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = $1 ORDER BY table_name",
                )
                .bind(self.schema(name))
                .fetch_all(&pool)
                .await
            }
        }
        .unwrap()
    }

    /// Whether the database `name` exists.
    async fn exists(&self, name: &str) -> bool {
        if let Some(file) = self.file(name) {
            return file.exists();
        }
        let common::Pool::Postgres(pool) = common::Pool::open(&self.url, None, false).await else {
            unreachable!()
        };
        sqlx::query("SELECT 1 FROM pg_namespace WHERE nspname = $1")
            .bind(self.schema(name))
            .fetch_optional(&pool)
            .await
            .unwrap()
            .is_some()
    }

    /// Drops the Postgres schemas of `names`.
    async fn cleanup(&self, names: &[&str]) {
        if self.dir.is_some() {
            return;
        }
        if let common::Pool::Postgres(pool) = common::Pool::open(&self.url, None, false).await {
            for name in names {
                let schema = self.schema(name).unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&pool)
                .await
                .unwrap();
            }
        }
    }
}

/// With `create_tables(false)`, a database without Tollgate's tables
/// (another application's, even one with sqlx migrations of its own) is
/// refused and left as it was, and a missing SQLite file or Postgres schema
/// is not made; a database Tollgate migrated before opens, and gets the
/// migrations it lacks.
async fn a_store_that_creates_no_tables_opens_only_a_tollgate_database(kind: Kind) {
    use tollgate_store::Store;
    let Some(at) = Places::new(kind) else {
        return;
    };
    // Another application's database, with sqlx migrations of its own.
    let pool = at.pool("foreign", true).await;
    let theirs = tempfile::tempdir().unwrap();
    let users = "CREATE TABLE users (id BIGINT PRIMARY KEY);";
    std::fs::write(theirs.path().join("0001_users.sql"), users).unwrap();
    pool.migrate_from(theirs.path()).await;
    pool.close().await;
    let bytes = at.file("foreign").map(|f| std::fs::read(f).unwrap());
    let refused = Store::open_with(&at.url("foreign"), at.options("foreign")).await;
    let refused = refused.map(drop);
    assert!(matches!(refused, Err(StoreError::NoTables)), "{refused:?}");
    assert_eq!(at.tables("foreign").await, ["_sqlx_migrations", "users"]);
    if let Some(file) = at.file("foreign") {
        assert_eq!(
            Some(std::fs::read(&file).unwrap()),
            bytes,
            "the file changed"
        );
        assert!(!file.with_extension("db-wal").exists(), "switched to WAL");
    }

    // A database that does not exist is not made.
    let refused = Store::open_with(&at.url("missing"), at.options("missing")).await;
    assert!(refused.is_err());
    assert!(!at.exists("missing").await);

    // A database Tollgate made at its first migration opens, and is upgraded.
    let pool = at.pool("older", true).await;
    pool.migrate_to(1).await;
    pool.close().await;
    let store = Store::open_with(&at.url("older"), at.options("older"))
        .await
        .expect("a database Tollgate made opens");
    store.create_account(NewAccount::new("acme")).await.unwrap();
    let versions = "SELECT version FROM _sqlx_migrations ORDER BY version";
    let versions: Vec<i64> = match at.pool("older", false).await {
        common::Pool::Sqlite(pool) => sqlx::query_scalar(versions).fetch_all(&pool).await,
        common::Pool::Postgres(pool) => sqlx::query_scalar(versions).fetch_all(&pool).await,
    }
    .unwrap();
    assert_eq!(versions, [1, 2, 3, 4]);
    at.cleanup(&["foreign", "missing", "older"]).await;
}

/// Applies the crate's migrations with the text of migration `edited`
/// changed (a comment added), as an edited file or another version of
/// Tollgate would have.
async fn migrate_edited(pool: &common::Pool, edited: i64) {
    migrate_changed(pool, edited, None).await;
}

/// Migrates `pool` with Tollgate's migrations, the one numbered `edited`
/// edited, and `extra` (a file name and its SQL) added: what another
/// version of Tollgate would have run.
async fn migrate_changed(pool: &common::Pool, edited: i64, extra: Option<(&str, &str)>) {
    let kind = match pool {
        common::Pool::Sqlite(_) => "sqlite",
        common::Pool::Postgres(_) => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(kind);
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if name.starts_with(&format!("{edited:04}_")) {
            text.push_str("\n-- edited\n");
        }
        std::fs::write(copy.path().join(name), text).unwrap();
    }
    if let Some((name, sql)) = extra {
        std::fs::write(copy.path().join(name), sql).unwrap();
    }
    pool.migrate_from(copy.path()).await;
}

/// A database whose migration table records one of Tollgate's migrations
/// with other text than this version's is said to be that (naming the
/// migration), whether the store creates tables or not: not a database
/// without Tollgate's tables, which it is not. A SQLite store that fails so
/// leaves no `-wal` or `-shm` file behind. Another application's first
/// migration, even named as Tollgate's, is still no Tollgate tables.
async fn a_changed_migration_is_said_as_such_not_as_no_tables(kind: Kind) {
    use tollgate_store::Store;
    let Some(at) = Places::new(kind) else {
        return;
    };
    for (name, edited) in [("edited1", 1), ("edited2", 2)] {
        let pool = at.pool(name, true).await;
        migrate_edited(&pool, edited).await;
        pool.close().await;
    }
    // A later version's migration, unknown to this one.
    let pool = at.pool("newer", true).await;
    migrate_changed(&pool, 0, Some(("0999_later.sql", "SELECT 1;"))).await;
    pool.close().await;
    let pool = at.pool("foreign_init", true).await;
    let theirs = tempfile::tempdir().unwrap();
    let users = "CREATE TABLE users (id BIGINT PRIMARY KEY);";
    std::fs::write(theirs.path().join("0001_init.sql"), users).unwrap();
    pool.migrate_from(theirs.path()).await;
    pool.close().await;

    let mut found = Vec::new();
    for (name, create) in [
        ("edited1", false),
        ("edited1", true),
        ("edited2", false),
        ("edited2", true),
        ("newer", false),
        ("newer", true),
        ("foreign_init", false),
    ] {
        let options = at.options(name).create_tables(create);
        let opened = Store::open_with(&at.url(name), options).await.map(drop);
        let left = at.file(name).is_some_and(|file| {
            file.with_extension("db-wal").exists() || file.with_extension("db-shm").exists()
        });
        found.push((name, create, opened, left));
    }
    at.cleanup(&["edited1", "edited2", "newer", "foreign_init"])
        .await;

    for (name, create, opened, left) in found {
        let said = format!("{name}, create {create}: {opened:?}");
        match (name, opened) {
            ("foreign_init", opened) => {
                assert!(matches!(opened, Err(StoreError::NoTables)), "{said}")
            }
            ("newer", opened) => {
                let Err(e @ StoreError::MigrationUnknown { version: 999 }) = opened else {
                    panic!("{said}");
                };
                let text = e.to_string();
                assert!(
                    text.contains("newer version") && text.contains("migration 999"),
                    "{text}"
                );
            }
            (_, Err(e @ StoreError::MigrationChanged { .. })) => {
                let (version, description) = if name == "edited1" {
                    (1, "init")
                } else {
                    (2, "lock token")
                };
                assert!(
                    matches!(&e, StoreError::MigrationChanged { version: v, description: d }
                        if *v == version && d == description),
                    "{said}"
                );
                let text = e.to_string();
                assert!(
                    text.contains(&format!("migration {version} ({description})"))
                        && text.contains("different version")
                        && !text.contains("no Tollgate tables"),
                    "{text}"
                );
            }
            _ => panic!("{said}"),
        }
        assert!(!left, "{name}, create {create}: -wal or -shm left behind");
    }
}

/// A closed SQLite store leaves no `-wal` or `-shm` file beside the
/// database: every connection is closed when `close` returns, the last
/// taking the log in, though some were still being given back to the pool
/// as it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_sqlite_store_leaves_no_log_files() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..100 {
        let path = dir.path().join(format!("t{i}.db"));
        let url = format!("sqlite://{}", path.display());
        let store = tollgate_store::Store::open(&url).await.unwrap();
        store.create_account(NewAccount::new("acme")).await.unwrap();
        store.credit("acme", 5).await.unwrap();
        // Several connections, given back as `close` begins.
        let (a, b, c, d) = tokio::join!(
            store.account("acme"),
            store.account("acme"),
            store.account("acme"),
            store.account("acme"),
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
        store.close().await;
        for log in ["db-wal", "db-shm"] {
            assert!(!path.with_extension(log).exists(), "{i}: {log} left behind");
        }
    }
}

/// An error quotes at most 64 characters of a value it was given, then
/// `…`: a 100 000-character account id, key name or scope cannot flood it.
/// A shorter value is quoted whole.
#[tokio::test]
async fn errors_quote_a_bounded_part_of_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = tollgate_store::Store::open(&url).await.unwrap();
    store.create_account(NewAccount::new("acme")).await.unwrap();
    let huge = "é".repeat(100_000);
    let errors = [
        store.account(&huge).await.map(drop),
        store.credit(&huge, 1).await.map(drop),
        store.suspend(&huge).await.map(drop),
        store
            .create_account(NewAccount::new(huge.clone()))
            .await
            .map(drop),
        store
            .create_key(NewKey::new(huge.clone(), ["a"]))
            .await
            .map(drop),
        store
            .create_key(NewKey::new("acme", ["a"]).name(format!("\n{huge}")))
            .await
            .map(drop),
        store
            .create_key(NewKey::new("acme", [huge.clone()]))
            .await
            .map(drop),
        store
            .create_key(NewKey::new("acme", [format!("*{huge}")]))
            .await
            .map(drop),
    ];
    for (i, error) in errors.into_iter().enumerate() {
        let text = error.unwrap_err().to_string();
        assert!(text.chars().count() < 300, "{i}: {} characters", text.len());
        assert!(
            text.contains(&format!("{}\"…", "é".repeat(60))),
            "{i}: {text}"
        );
    }
    let text = store.account("nope").await.unwrap_err().to_string();
    assert_eq!(text, "account \"nope\" not found");
    let long = "x".repeat(64);
    let text = store.account(&long).await.unwrap_err().to_string();
    assert_eq!(text, format!("account \"{long}\" not found"));
    store.close().await;
}

/// A URL sqlx cannot read (a bad `sslmode`) is said once as a
/// configuration error, not as one wrapped in another.
#[tokio::test]
async fn a_bad_url_option_is_said_once() {
    for url in [
        "postgres://u@127.0.0.1:1/db?sslmode=bogus",
        "sqlite://t.db?mode=bogus",
    ] {
        let text = tollgate_store::Store::open(url)
            .await
            .map(drop)
            .unwrap_err()
            .to_string();
        assert_eq!(
            text.matches("error with configuration").count(),
            1,
            "{text}"
        );
        assert!(text.contains("bogus"), "{text}");
    }
}

/// A closed SQLite store has taken in its write-ahead log: the file alone
/// is the whole database, though another process (a server) has it open.
#[tokio::test]
async fn a_closed_sqlite_store_is_whole_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let url = format!("sqlite://{}", path.display());
    let server = tollgate_store::Store::open(&url).await.unwrap();
    let store = tollgate_store::Store::open(&url).await.unwrap();
    store.create_account(NewAccount::new("acme")).await.unwrap();
    store.credit("acme", 5).await.unwrap();
    assert_eq!(server.account("acme").await.unwrap().balance(), 5);
    store.close().await;
    assert!(
        store.account("acme").await.is_err(),
        "calls fail once closed"
    );
    // The file alone, copied, holds what was written.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&path, copy.path().join("t.db")).unwrap();
    let url = format!("sqlite://{}", copy.path().join("t.db").display());
    let reopened = tollgate_store::Store::open(&url).await.unwrap();
    let account = reopened.account("acme").await;
    assert_eq!(account.map(|a| a.balance()).ok(), Some(5));
    server.close().await;
}

/// A login role that may hold at most `limit` connections, with a schema
/// made for it and no right to create others: a Postgres whose connections
/// are all taken is, to the role, one where it holds `limit`. Dropped
/// (schema and role) by [`LimitedRole::cleanup`].
#[derive(Clone)]
struct LimitedRole {
    admin: String,
    role: String,
    /// The test database's URL, as the role.
    url: String,
}

impl LimitedRole {
    async fn new(admin: &str, name: &str, limit: u32) -> LimitedRole {
        use sqlx::Connection;
        let role = format!("{name}_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        for statement in [
            format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT {limit}"),
            format!("CREATE SCHEMA {role} AUTHORIZATION {role}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        // `postgres://[user[:password]@]host…` with the role as the user.
        let (scheme, rest) = admin.split_once("://").unwrap();
        let host = match rest.split_once('@') {
            Some((user, host)) if !user.contains('/') => host,
            _ => rest,
        };
        let url = format!("{scheme}://{role}@{host}");
        LimitedRole {
            admin: admin.to_owned(),
            role,
            url,
        }
    }

    fn options(&self) -> StoreOptions {
        StoreOptions::default().schema(self.role.clone())
    }

    /// `n` connections as the role, held until dropped. Connections just
    /// closed may count against the limit for a moment: tried again.
    async fn hold(&self, n: usize) -> Vec<sqlx::PgConnection> {
        use sqlx::Connection;
        let mut held = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while held.len() < n {
            match sqlx::PgConnection::connect(&self.url).await {
                Ok(conn) => held.push(conn),
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        held
    }

    /// Every connection the role has left, held until dropped.
    async fn hold_the_rest(&self) -> Vec<sqlx::PgConnection> {
        use sqlx::Connection;
        let mut held = Vec::new();
        loop {
            match sqlx::PgConnection::connect(&self.url).await {
                Ok(conn) => held.push(conn),
                Err(e) => {
                    assert!(e.to_string().contains("too many connections"), "{e}");
                    return held;
                }
            }
        }
    }

    /// Runs `test`, then drops the schema and the role whatever its outcome.
    async fn run<F>(self, test: impl FnOnce(LimitedRole) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        use sqlx::Connection;
        let outcome = tokio::spawn(test(self.clone())).await;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
        // The role's sessions end first, or it cannot be dropped.
        let end = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1";
        sqlx::query(end)
            .bind(&self.role)
            .execute(&mut conn)
            .await
            .unwrap();
        let role = &self.role;
        for statement in [
            format!("DROP SCHEMA IF EXISTS {role} CASCADE"),
            format!("DROP ROLE IF EXISTS {role}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// A Postgres with no connection left (a role's connection limit here, a
/// server's `max_connections` alike): opening fails at once with the
/// cause. With one left, a store opens: it holds one connection at a time
/// while it opens. A call that needs another connection than the store has
/// while none is left is `service_unavailable` after the acquire timeout.
/// A schema made for the role opens though the role may create no schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_out_of_connections_is_said_so_and_one_left_opens() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let role = LimitedRole::new(&url, "tg_store_limited", 3).await;
    role.run(|role| async move {
        let options = || role.options().acquire_timeout(Duration::from_secs(2));
        let held = role.hold(3).await;
        let started = std::time::Instant::now();
        let full = tollgate_store::Store::open_with(&role.url, options()).await;
        let err = full.expect_err("no connection is left").to_string();
        assert!(err.contains("too many connections"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        drop(held);

        let held = role.hold(2).await;
        let started = std::time::Instant::now();
        let one_left = tollgate_store::Store::open_with(&role.url, options()).await;
        let store = one_left.unwrap_or_else(|e| {
            panic!(
                "one connection left, the store opens: {e} (after {:?})",
                started.elapsed()
            )
        });
        drop(held);
        store
            .create_account(NewAccount::new("acme").credits(10))
            .await
            .unwrap();
        // The store's connections, however many it made, and the rest:
        // the role's all. One charge more than the store has connections
        // needs another.
        let _held = role.hold_the_rest().await;
        let charges = (0..4).map(|_| store.reserve("acme", 1));
        let charges = futures_util::future::join_all(charges).await;
        let refused: Vec<_> = charges.into_iter().filter_map(Result::err).collect();
        assert!(!refused.is_empty(), "a charge needs another connection");
        for refusal in refused {
            let err = refusal.to_api_error(tollgate::Catalog::builtin_ref());
            assert_eq!((err.code(), err.status()), ("service_unavailable", 503));
            assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(1)));
        }
        store.close().await;
    })
    .await;
}

/// A role that may create no schema, opening a store in one that does not
/// exist, is refused with Postgres's own reason: the failed `CREATE SCHEMA`
/// is not taken for another node having made it meanwhile (which would
/// go on to migrate a schema that is not there, and fail with a cause that
/// says nothing of the missing right).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_create_no_schema_is_refused_with_the_reason() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let role = LimitedRole::new(&url, "tg_store_nocreate", 3).await;
    role.run(|role| async move {
        let missing = format!("{}_missing", role.role);
        let options = StoreOptions::default().schema(missing);
        let refused = tollgate_store::Store::open_with(&role.url, options).await;
        let err = refused.expect_err("the role may not create the schema");
        assert!(matches!(err, StoreError::Database(_)), "{err:?}");
        assert!(err.to_string().contains("permission denied"), "{err}");
        // Its own schema, made for it, opens.
        let store = tollgate_store::Store::open_with(&role.url, role.options())
            .await
            .unwrap();
        store.close().await;
    })
    .await;
}

/// A store names its backend, by `backend_name` and in its debug form.
async fn a_store_names_its_backend(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let name = match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    assert_eq!(db.store.backend_name(), name);
    assert_eq!(db.backend().await.name(), name);
    let shown = format!("{:?}", db.store);
    assert_eq!(shown, format!("Store {{ backend: {name:?}, .. }}"));
    db.cleanup().await;
}

/// Two reservations are equal when they charged the same account the same
/// cost and left the same balance; a clone equals its original.
async fn reservations_are_equal_when_they_took_the_same_from_the_same_balance(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(10))
        .await
        .unwrap();
    let first = s.reserve("acme", 3).await.unwrap();
    assert_eq!(first, first.clone());
    let second = s.reserve("acme", 3).await.unwrap();
    assert_eq!((first.remaining(), second.remaining()), (7, 4));
    assert_ne!(first, second, "another balance is left");
    s.release(second).await.unwrap();
    s.release(first.clone()).await.unwrap();
    let retaken = s.reserve("acme", 3).await.unwrap();
    assert_eq!(retaken, first, "the same charge on the same balance");
    db.cleanup().await;
}

/// A store's options show in their debug form, the clock aside.
#[test]
fn store_options_show_their_settings_in_debug_form() {
    let options = StoreOptions::default()
        .cache_ttl(Duration::from_secs(7))
        .cache_capacity(123)
        .key_prefix("acme_live_")
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(9))
        .schema("tenant_a")
        .create_tables(false)
        .charge_hold(Duration::from_secs(90));
    let shown = format!("{options:?}");
    for part in [
        "StoreOptions {",
        "cache_ttl: 7s",
        "cache_capacity: 123",
        "key_prefix: \"acme_live_\"",
        "max_connections: 3",
        "acquire_timeout: 9s",
        "schema: Some(\"tenant_a\")",
        "create_tables: false",
        "charge_hold: 90s",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
}

/// A Postgres schema name is checked before any connection is made: 1-63
/// of `[a-z0-9_]`, not starting with a digit.
#[tokio::test]
async fn schema_names_are_checked_before_connecting() {
    // A port nothing listens on: a name that passes fails on connecting.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://u@127.0.0.1:{port}/db");
    let open = |schema: String| {
        let url = url.clone();
        async move {
            tollgate_store::Store::open_with(&url, StoreOptions::default().schema(schema))
                .await
                .unwrap_err()
        }
    };
    for bad in [
        String::new(),
        "1tenant".to_owned(),
        "a".repeat(64),
        "Tenant".to_owned(),
        "ten-ant".to_owned(),
        "t\u{e9}nant".to_owned(),
    ] {
        let err = open(bad.clone()).await;
        assert!(
            matches!(&err, StoreError::InvalidInput(m) if m.contains("schema")),
            "{bad:?}: {err}"
        );
    }
    for good in [
        "t".to_owned(),
        "tenant_1".to_owned(),
        "_tenant".to_owned(),
        "a".repeat(63),
    ] {
        let err = open(good.clone()).await;
        assert!(matches!(err, StoreError::Database(_)), "{good:?}: {err}");
    }
}

/// A SQLite file that cannot be opened (its directory is missing) fails at
/// once with the cause: only a lock another process holds is waited out.
#[tokio::test]
async fn a_sqlite_file_that_cannot_be_opened_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gone/t.db").display());
    let opened = tokio::time::timeout(Duration::from_secs(10), tollgate_store::Store::open(&url));
    let err = opened
        .await
        .expect("refused at once, not retried")
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(err.to_string().contains("unable to open"), "{err}");
}

/// A refund whose caller was dropped (its client gone) goes on on a task of
/// its own, and `finish_writes` waits for it: a server that stops after it
/// has given the credits and the usage back.
#[tokio::test]
async fn finish_writes_waits_for_a_refund_whose_caller_was_dropped() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::new(Kind::Sqlite).await else {
        return;
    };
    let s = &db.store;
    s.create_account(NewAccount::new("acme").credits(5))
        .await
        .unwrap();
    let r = s.reserve("acme", 3).await.unwrap();
    // Polled once (which starts the refund's task), then dropped. On this
    // single-threaded runtime the task cannot run before the next await.
    let mut release = Box::pin(s.release(r));
    assert!(release.as_mut().now_or_never().is_none());
    drop(release);
    let mut finishing = Box::pin(s.finish_writes());
    assert!(
        finishing.as_mut().now_or_never().is_none(),
        "finish_writes returned with the refund still to run"
    );
    finishing.await;
    let a = s.account("acme").await.unwrap();
    assert_eq!((a.balance(), a.usage_in_month_of(s.now())), (5, 0));
    db.cleanup().await;
}

/// A schema another node creates while this one does (its `CREATE SCHEMA`
/// waits for the other's to commit, then fails on the catalog's unique
/// index) is taken as made, and the store opens in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_another_node_creates_meanwhile_opens() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    use sqlx::Connection;
    let schema = format!("tg_store_made_meanwhile_{}", std::process::id());
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut creating = other.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut *creating)
        .await
        .unwrap();
    let opening = tokio::spawn({
        let options = StoreOptions::default().schema(schema.clone());
        let url = url.clone();
        async move { tollgate_store::Store::open_with(&url, options).await }
    });
    // Commit only once this node's `CREATE SCHEMA` waits on the other's.
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE 'CREATE SCHEMA%' AND strpos(query, $1) > 0";
    let mut polls = 0;
    loop {
        let n: i64 = sqlx::query_scalar(waiting)
            .bind(&schema)
            .fetch_one(&mut watch)
            .await
            .unwrap();
        if n > 0 || opening.is_finished() || polls == 3000 {
            break;
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    creating.commit().await.unwrap();
    let opened = opening.await.unwrap();
    if let Ok(store) = &opened {
        store.list_keys(None).await.unwrap();
        store.close().await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut watch)
    .await
    .unwrap();
    assert!(polls < 3000, "the store's CREATE SCHEMA never waited");
    opened.expect("the schema made meanwhile is taken as made");
}

/// Reopening a Postgres store logs nothing of sqlx's: its table of
/// migrations, made `IF NOT EXISTS`, raised a notice at every start, which
/// sqlx logs at INFO ("relation \"_sqlx_migrations\" already exists, skipping").
#[tokio::test(flavor = "current_thread")]
async fn reopening_a_postgres_store_logs_no_notice() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let targets = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _subscriber = tracing::subscriber::set_default(Targets(targets.clone()));
    let again = db.another_node(|o| o).await;
    drop(again);
    let targets = targets.lock().unwrap().clone();
    assert!(!targets.iter().any(|t| t.contains("notice")), "{targets:?}");
    db.cleanup().await;
}

/// A subscriber that keeps the target of every event.
struct Targets(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Targets {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let target = event.metadata().target().to_owned();
        self.0.lock().unwrap().push(target);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
