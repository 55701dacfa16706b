//! Clients that lie in proxy headers stay limited by their real address.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use tollgate_limit::{
    ClientIp, FakeClock, ForwardedHeader, Limiter, PeerAddr, Policy, RateLimitLayer,
};
use tower::{Service, ServiceBuilder, ServiceExt};

fn app(
    client_ip: ClientIp,
) -> impl Service<Request<()>, Response = Response<Vec<u8>>, Error = Infallible> + Clone {
    let limiter = Limiter::builder()
        .policy(
            Policy::new("per-ip", 3, Duration::from_secs(60)).unwrap(),
            client_ip,
        )
        .clock(FakeClock::new())
        .build();
    ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(Vec::new())) })
}

fn from(peer: &str, header: (&str, &str)) -> Request<()> {
    let mut request = Request::builder()
        .header(header.0, header.1)
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(PeerAddr(peer.parse().unwrap()));
    request
}

async fn statuses(
    svc: &mut (impl Service<Request<()>, Response = Response<Vec<u8>>, Error = Infallible> + Clone),
    requests: impl IntoIterator<Item = Request<()>>,
) -> Vec<u16> {
    let mut out = Vec::new();
    for request in requests {
        out.push(
            svc.ready()
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn rotating_the_leftmost_hop_through_a_trusted_proxy_does_not_escape_the_limit() {
    let mut svc = app(ClientIp::new().trust_proxy("10.0.0.0/8").unwrap());
    // The attacker (203.0.113.66) sends a fresh fake X-Forwarded-For every
    // time; the proxy (10.0.0.1) appends the address it saw.
    let requests = (0..6).map(|i| {
        from(
            "10.0.0.1:443",
            ("x-forwarded-for", &format!("1.1.1.{i}, 203.0.113.66")),
        )
    });
    assert_eq!(
        statuses(&mut svc, requests).await,
        [200, 200, 200, 429, 429, 429]
    );
    // An honest client behind the same proxy is unaffected.
    let honest = from("10.0.0.1:443", ("x-forwarded-for", "198.51.100.20"));
    assert_eq!(statuses(&mut svc, [honest]).await, [200]);
}

#[tokio::test]
async fn a_client_connecting_directly_cannot_claim_another_address() {
    let mut svc = app(ClientIp::new().trust_proxy("10.0.0.0/8").unwrap());
    let requests = (0..5).map(|i| {
        from(
            "203.0.113.66:1000",
            ("x-forwarded-for", &format!("198.51.100.{i}")),
        )
    });
    assert_eq!(
        statuses(&mut svc, requests).await,
        [200, 200, 200, 429, 429]
    );
    // Not even the address of a trusted proxy.
    let requests = (0..2).map(|_| from("203.0.113.66:1000", ("x-forwarded-for", "10.0.0.1")));
    assert_eq!(statuses(&mut svc, requests).await, [429, 429]);
}

#[tokio::test]
async fn without_trusted_proxies_headers_are_ignored() {
    let mut svc = app(ClientIp::new());
    let requests = (0..4).map(|i| {
        from(
            "192.0.2.9:1",
            ("x-forwarded-for", &format!("198.51.100.{i}")),
        )
    });
    assert_eq!(statuses(&mut svc, requests).await, [200, 200, 200, 429]);
}

#[tokio::test]
async fn forged_forwarded_elements_are_skipped_the_same_way() {
    let mut svc = app(ClientIp::new()
        .trust_proxy("10.0.0.0/8")
        .unwrap()
        .header(ForwardedHeader::Forwarded));
    let requests = (0..4).map(|i| {
        from(
            "10.0.0.1:443",
            (
                "forwarded",
                &format!(r#"for="[2001:db8::{i}]", for=203.0.113.66;proto=https"#),
            ),
        )
    });
    assert_eq!(statuses(&mut svc, requests).await, [200, 200, 200, 429]);
    // X-Forwarded-For is not read when Forwarded is configured.
    let requests = (0..2).map(|i| {
        from(
            "10.0.0.1:443",
            ("x-forwarded-for", &format!("198.51.100.{i}")),
        )
    });
    assert_eq!(
        statuses(&mut svc, requests).await,
        [200, 200],
        "keyed by the proxy itself, a fresh bucket"
    );
}

#[tokio::test]
async fn an_ipv6_sweep_from_one_network_shares_one_bucket() {
    let mut svc = app(ClientIp::new());
    let requests = (0..5).map(|i| from(&format!("[2001:db8:77:1::{i:x}]:1"), ("x-any", "1")));
    assert_eq!(
        statuses(&mut svc, requests).await,
        [200, 200, 200, 429, 429]
    );
}
