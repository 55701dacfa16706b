//! What a limiter's outcome tells a caller that checks requests itself,
//! without the layer.

use std::time::Duration;

use http::request::Parts;
use tollgate_limit::{ApiKey, ClientIp, FakeClock, Limiter, Outcome, PeerAddr, Policy, Verdict};

fn request(key: &str) -> Parts {
    http::Request::builder()
        .header("x-api-key", key)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

#[tokio::test]
async fn a_refusal_tells_how_long_to_wait_and_an_admission_does_not() {
    // 2 a minute: one call back every 30 s.
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-key", 2, Duration::from_secs(60)).unwrap(),
            ApiKey::presented(),
        )
        .clock(FakeClock::new())
        .build();
    let parts = request("k");
    for _ in 0..2 {
        let admitted = limiter.check(&parts).await;
        assert!(admitted.is_allowed());
        assert_eq!(admitted.retry_after(), None);
    }
    let refused = limiter.check(&parts).await;
    assert!(!refused.is_allowed());
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_request_costing_more_than_the_burst_is_told_no_wait() {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-key", 2, Duration::from_secs(60)).unwrap(),
            ApiKey::presented(),
        )
        .cost(|_| 3)
        .clock(FakeClock::new())
        .build();
    let outcome = limiter.check(&request("k")).await;
    assert_eq!(
        outcome.verdict(),
        Verdict::Limited {
            policy: 0,
            retry_after: None
        }
    );
    assert_eq!(outcome.retry_after(), None);
}

/// A request the per-IP policy refuses costs its key nothing, and what the
/// key spent before stays spent: the refusal neither charges it nor gives
/// back more than it would have charged.
#[tokio::test]
async fn a_refusal_leaves_what_the_other_policies_counted_as_it_was() {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-key", 10, Duration::from_secs(60)).unwrap(),
            ApiKey::presented(),
        )
        .policy(
            Policy::new("per-ip", 1, Duration::from_secs(60)).unwrap(),
            ClientIp::new(),
        )
        .clock(FakeClock::new())
        .build();
    let mut parts = request("k");
    parts
        .extensions
        .insert(PeerAddr("198.51.100.1:1".parse().unwrap()));
    let per_key = |outcome: &Outcome| outcome.decisions().next().unwrap().1.remaining();
    let admitted = limiter.check(&parts).await;
    assert!(admitted.is_allowed());
    assert_eq!(per_key(&admitted), 9);
    for _ in 0..3 {
        let refused = limiter.check(&parts).await;
        assert!(!refused.is_allowed());
        assert_eq!(per_key(&refused), 9);
        assert_eq!(per_key(&limiter.peek(&parts).await), 9);
    }
}

fn from(key: Option<&str>, peer: &str) -> Parts {
    let mut builder = http::Request::builder();
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    let mut parts = builder.body(()).unwrap().into_parts().0;
    parts.extensions.insert(PeerAddr(peer.parse().unwrap()));
    parts
}

/// Two policies refuse: the verdict is the one asking for the longer wait,
/// whichever comes first, so that a client does not come back too soon.
#[tokio::test]
async fn the_policy_asking_for_the_longest_wait_decides() {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-key", 1, Duration::from_secs(60)).unwrap(),
            ApiKey::presented(),
        )
        .policy(
            Policy::new("per-ip", 2, Duration::from_secs(60)).unwrap(),
            ClientIp::new(),
        )
        .clock(FakeClock::new())
        .build();
    let ip = "198.51.100.1:1";
    assert!(limiter.check(&from(Some("a"), ip)).await.is_allowed());
    assert!(limiter.check(&from(Some("b"), ip)).await.is_allowed());
    // Key `a` comes back in 60 s, the IP in 30 s.
    let refused = limiter.check(&from(Some("a"), ip)).await;
    assert_eq!(
        refused.verdict(),
        Verdict::Limited {
            policy: 0,
            retry_after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(refused.limiting().unwrap().0.name(), "per-key");
}

/// A policy that no wait satisfies (the request costs more than its burst)
/// decides over one that asks for a wait: coming back would not help.
#[tokio::test]
async fn a_cost_no_wait_admits_decides_over_a_wait() {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-ip", 3, Duration::from_secs(60)).unwrap(),
            ClientIp::new(),
        )
        .policy(
            Policy::new("per-key", 10, Duration::from_secs(60))
                .unwrap()
                .with_burst(2)
                .unwrap(),
            ApiKey::presented(),
        )
        .cost(|_| 3)
        .clock(FakeClock::new())
        .build();
    let ip = "198.51.100.1:1";
    // Without a key only the per-IP policy applies: its burst is spent.
    assert!(limiter.check(&from(None, ip)).await.is_allowed());
    let refused = limiter.check(&from(Some("k"), ip)).await;
    assert_eq!(
        refused.verdict(),
        Verdict::Limited {
            policy: 1,
            retry_after: None
        }
    );
    assert_eq!(refused.retry_after(), None);
}

/// Two policies asking for the same wait: the first of them, in the order
/// they were added, is the one that refused.
#[tokio::test]
async fn of_two_policies_asking_for_the_same_wait_the_first_decides() {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-ip", 1, Duration::from_secs(60)).unwrap(),
            ClientIp::new(),
        )
        .policy(
            Policy::new("per-key", 1, Duration::from_secs(60)).unwrap(),
            ApiKey::presented(),
        )
        .clock(FakeClock::new())
        .build();
    let parts = from(Some("k"), "198.51.100.1:1");
    assert!(limiter.check(&parts).await.is_allowed());
    let refused = limiter.check(&parts).await;
    assert_eq!(
        refused.verdict(),
        Verdict::Limited {
            policy: 0,
            retry_after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(refused.limiting().unwrap().0.name(), "per-ip");
}
