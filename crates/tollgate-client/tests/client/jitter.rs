//! Full jitter, seeded: the distribution of backoff delays, and the middleware
//! replaying exactly the delays its seed draws.

use std::time::Duration;

use tollgate_client::{Jitter, RequestBuilderExt, ResponseExt, RetryPolicy, TollgateMiddleware};

use crate::common::{Mock, Reply, client_from};

#[test]
fn full_jitter_is_uniform_over_zero_to_the_ceiling() {
    let policy = RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(3));
    let jitter = Jitter::seeded(20_240_601);
    const SAMPLES: usize = 20_000;
    const BUCKETS: usize = 10;
    for retry in 0..8 {
        let ceiling = policy.backoff_ceiling(retry);
        let expected_ceiling =
            (Duration::from_millis(100) * 2u32.pow(retry)).min(Duration::from_secs(3));
        assert_eq!(ceiling, expected_ceiling);

        let draws: Vec<f64> = (0..SAMPLES)
            .map(|_| policy.backoff_delay(retry, &jitter).as_secs_f64() / ceiling.as_secs_f64())
            .collect();
        assert!(
            draws.iter().all(|x| (0.0..=1.0).contains(x)),
            "a draw outside [0, ceiling]"
        );

        // Mean 1/2 and variance 1/12, as for a uniform distribution.
        let mean = draws.iter().sum::<f64>() / SAMPLES as f64;
        let variance = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / SAMPLES as f64;
        assert!((mean - 0.5).abs() < 0.01, "retry {retry}: mean {mean}");
        assert!(
            (variance - 1.0 / 12.0).abs() < 0.005,
            "retry {retry}: variance {variance}"
        );

        // Pearson's chi-squared over ten equal buckets: 9 degrees of freedom,
        // 27.88 is the 0.1% critical value.
        let mut counts = [0usize; BUCKETS];
        for x in &draws {
            counts[((x * BUCKETS as f64) as usize).min(BUCKETS - 1)] += 1;
        }
        let expected = SAMPLES as f64 / BUCKETS as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 27.88, "retry {retry}: chi² {chi2} for {counts:?}");

        // Full jitter reaches down near zero and up near the ceiling.
        let (min, max) = draws
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        assert!(
            min < 0.001 && max > 0.999,
            "retry {retry}: range {min}..{max}"
        );
    }
}

#[test]
fn the_same_seed_draws_the_same_delays() {
    let policy = RetryPolicy::default();
    let draw = |seed| {
        (0..50)
            .map(|i| policy.backoff_delay(i % 6, &Jitter::seeded(seed)))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    // Clones share one generator: they continue each other's sequence.
    let a = Jitter::seeded(9);
    let b = a.clone();
    let interleaved = [
        a.full(Duration::from_secs(1)),
        b.full(Duration::from_secs(1)),
    ];
    let fresh = Jitter::seeded(9);
    assert_eq!(
        interleaved,
        [
            fresh.full(Duration::from_secs(1)),
            fresh.full(Duration::from_secs(1))
        ]
    );
}

#[test]
fn the_ceiling_saturates_instead_of_overflowing() {
    let policy = RetryPolicy::default().backoff(Duration::from_secs(1), Duration::MAX);
    assert_eq!(policy.backoff_ceiling(40), Duration::MAX);
    // A base of a nanosecond still reaches its cap: 2⁴⁰ ns is 18 minutes.
    let tiny = RetryPolicy::default().backoff(Duration::from_nanos(1), Duration::from_secs(30));
    assert_eq!(tiny.backoff_ceiling(40), Duration::from_secs(30));
    let zero = RetryPolicy::default().backoff(Duration::ZERO, Duration::from_secs(30));
    assert_eq!(zero.backoff_ceiling(40), Duration::ZERO);
    let capped = RetryPolicy::default();
    assert_eq!(capped.backoff_ceiling(u32::MAX), Duration::from_secs(30));
    assert!(capped.backoff_delay(u32::MAX, &Jitter::seeded(1)) <= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_middleware_waits_exactly_the_seeded_backoff() {
    let mock = Mock::start(vec![
        Reply::new(503),
        Reply::new(500),
        Reply::new(502),
        Reply::ok(),
    ])
    .await;
    let policy =
        RetryPolicy::default().backoff(Duration::from_millis(200), Duration::from_secs(10));
    let middleware = TollgateMiddleware::new()
        .policy(policy.clone())
        .jitter(Jitter::seeded(42));
    let response = client_from(middleware)
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();

    let replay = Jitter::seeded(42);
    let expected: Vec<Duration> = (0..3)
        .map(|retry| policy.backoff_delay(retry, &replay))
        .collect();
    let recorded: Vec<Duration> = response
        .attempts()
        .iter()
        .filter_map(|a| a.delay())
        .collect();
    assert_eq!(recorded, expected);
    for (gap, want) in mock.gaps().into_iter().zip(&expected) {
        assert!(
            gap.abs_diff(*want) <= Duration::from_millis(1),
            "waited {gap:?}, drew {want:?}"
        );
    }
    for (retry, delay) in expected.iter().enumerate() {
        assert!(*delay <= policy.backoff_ceiling(retry as u32));
    }
}
