//! The client's IP address, read from proxy headers only through proxies the
//! operator trusts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::request::Parts;
use http::{HeaderMap, HeaderValue};

use crate::key::{Key, KeyExtractor};

/// The socket peer address, for servers other than axum to put in the
/// request extensions (axum's `ConnectInfo<SocketAddr>` is read too, with
/// the `axum` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An IP network in CIDR notation: `10.0.0.0/8`, `2001:db8::/32`, or a single
/// address.
///
/// ```
/// use tollgate_limit::Cidr;
/// let net: Cidr = "10.0.0.0/8".parse()?;
/// assert!(net.contains("10.1.2.3".parse()?));
/// assert!(!net.contains("11.0.0.1".parse()?));
/// assert!("::ffff:10.9.9.9".parse::<Cidr>()?.contains("10.9.9.9".parse()?));
/// assert!("10.0.0.0/33".parse::<Cidr>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network. An IPv4 address and its IPv4-mapped
    /// IPv6 form (`::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4
    /// peer) are the same address: in an IPv4 network, and in an IPv6
    /// network that holds the mapped form (`::/0`, `::ffff:0:0/95`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip.to_canonical()) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (_, ip) => ip,
        };
        mask(ip, self.prefix) == self.addr
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// A string that is not a CIDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid trusted proxy {:?}: expected an IP address or a CIDR such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(err)?
            }
            Some(_) => return Err(err()),
            None => max,
        };
        // An IPv4-mapped network is the IPv4 network.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
                IpAddr::V4(
                    v6.to_ipv4_mapped()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                ),
                prefix - 96,
            ),
            _ => (addr, prefix),
        };
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }
}

/// The header trusted proxies name the client in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// Extracts the client IP, for per-IP policies (place them before
/// authentication, so that key guessing is limited too).
///
/// Proxy headers are client-controlled unless a proxy you run rewrote them,
/// so they are read only when the socket peer is a trusted proxy. Then the
/// header's hops are walked from the right (the nearest proxy's entry) and
/// the first hop that is not a trusted proxy is the client. The leftmost hop
/// is never taken on its own word: a client that sends
/// `X-Forwarded-For: 1.2.3.4` through your proxy is still keyed by its own
/// address, which the proxy appended. A hop that does not parse (`unknown`,
/// an obfuscated `_name`) stops the walk at the last trusted hop; an empty
/// list element is no hop, and is skipped. Headers are read as bytes, so
/// what a client puts in front of the entry its proxy appended (bytes that
/// are not UTF-8, a quote it leaves open in `Forwarded`) cannot hide that
/// entry; property
/// tests check this for any bytes a client sends and any chain of trusted
/// proxies. IPv6 clients are keyed by their /64 network
/// by default, since one host usually holds a whole /64 (see
/// [`ipv6_prefix`](Self::ipv6_prefix)).
///
/// Without a trusted proxy list, the socket peer address is the client: axum's
/// `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`)
/// or a [`PeerAddr`] extension. A request with neither is keyed as `unknown`
/// (all such requests share one bucket, rather than escaping the limit), and
/// the first such request is logged (a `WARN` of `tracing`): served without
/// `ConnectInfo`, every client would share that one bucket.
///
/// ```
/// use std::net::SocketAddr;
/// use tollgate_limit::{ClientIp, PeerAddr};
/// let client_ip = ClientIp::new().trust_proxy("10.0.0.0/8")?;
/// let mut request = http::Request::builder()
///     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")
///     .body(())?;
/// request.extensions_mut().insert(PeerAddr("10.0.0.1:5000".parse::<SocketAddr>()?));
/// let (parts, ()) = request.into_parts();
/// assert_eq!(client_ip.client_ip(&parts), Some("203.0.113.9".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientIp {
    trusted: Vec<Cidr>,
    header: ForwardedHeader,
    ipv6_prefix: u8,
    /// Whether a request without a peer address was logged already (shared
    /// by the clones a layer makes).
    told_no_peer: Arc<AtomicBool>,
}

impl Default for ClientIp {
    fn default() -> Self {
        ClientIp::new()
    }
}

impl ClientIp {
    /// Trusts no proxy: the socket peer is the client.
    pub fn new() -> ClientIp {
        ClientIp {
            trusted: Vec::new(),
            header: ForwardedHeader::XForwardedFor,
            ipv6_prefix: 64,
            told_no_peer: Arc::default(),
        }
    }

    /// Trusts a proxy address or network (`10.0.0.0/8`, `::1`).
    pub fn trust_proxy(mut self, cidr: &str) -> Result<ClientIp, CidrError> {
        self.trusted.push(cidr.parse()?);
        Ok(self)
    }

    /// Trusts several proxies.
    pub fn trust_proxies<'a>(
        mut self,
        cidrs: impl IntoIterator<Item = &'a str>,
    ) -> Result<ClientIp, CidrError> {
        for cidr in cidrs {
            self.trusted.push(cidr.parse()?);
        }
        Ok(self)
    }

    /// Which header trusted proxies write (default `X-Forwarded-For`).
    pub fn header(mut self, header: ForwardedHeader) -> ClientIp {
        self.header = header;
        self
    }

    /// The IPv6 prefix length clients are keyed by (default 64; 128 keys each
    /// address). IPv4 clients are keyed by their address.
    pub fn ipv6_prefix(mut self, prefix: u8) -> ClientIp {
        self.ipv6_prefix = prefix.min(128);
        self
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// The client's address, before IPv6 prefix masking; `None` without a
    /// peer address.
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = peer_addr(parts)?.ip().to_canonical();
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let mut walk = |hop: Option<IpAddr>| -> bool {
            match hop {
                Some(ip) if self.trusted(ip) => {
                    client = ip;
                    true
                }
                Some(ip) => {
                    client = ip;
                    false
                }
                None => false,
            }
        };
        match self.header {
            ForwardedHeader::XForwardedFor => {
                for hop in hops_rev(&parts.headers, "x-forwarded-for", b',') {
                    if !walk(parse_node(hop)) {
                        break;
                    }
                }
            }
            ForwardedHeader::Forwarded => {
                for element in forwarded_elements_rev(&parts.headers) {
                    if !walk(forwarded_for(element).and_then(parse_node)) {
                        break;
                    }
                }
            }
        }
        Some(client)
    }
}

impl KeyExtractor for ClientIp {
    fn extract(&self, parts: &Parts) -> Option<Key> {
        Some(match self.client_ip(parts) {
            Some(IpAddr::V6(v6)) => Key::from(mask(IpAddr::V6(v6), self.ipv6_prefix)),
            Some(ip) => Key::from(ip),
            None => {
                // Read before it is written: every such request reads it,
                // only the first writes it.
                let told = &self.told_no_peer;
                if !told.load(Ordering::Relaxed) && !told.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "a request came with no peer address (axum's ConnectInfo<SocketAddr>, or \
                         a PeerAddr extension): it is counted under the key `unknown`, with every \
                         other such request; serve the app with \
                         `into_make_service_with_connect_info::<SocketAddr>()`"
                    );
                }
                Key::from("unknown")
            }
        })
    }
}

fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = parts.extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

/// The comma-separated items of every line of `name`, last first, without
/// the empty ones (which a recipient ignores, RFC 9110 section 5.6.1).
///
/// Lines are split as bytes, not text: the bytes a client put in front of
/// the entry its proxy appended (non-UTF-8 included, which `HeaderValue`
/// allows) must not hide that entry.
fn hops_rev<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
    sep: u8,
) -> impl Iterator<Item = &'a [u8]> {
    let lines: Vec<&[u8]> = headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    lines
        .into_iter()
        .rev()
        .flat_map(move |line| line.rsplit(move |&b| b == sep))
        .filter(|hop| !hop.trim_ascii().is_empty())
}

/// The elements of every `Forwarded` line, last first, without the empty
/// ones (as [`hops_rev`]). Commas inside quoted
/// strings do not split, unless a quote is still open at the end of the
/// line: proxies append elements with balanced quotes, so an open quote is
/// the client's, and must not swallow what a proxy appended after it; such a
/// line splits at every comma. Split as bytes, like [`hops_rev`].
fn forwarded_elements_rev(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    let mut elements = Vec::new();
    for line in headers.get_all(http::header::FORWARDED) {
        let line = line.as_bytes();
        let first = elements.len();
        let mut start = 0;
        let mut quoted = false;
        let mut escaped = false;
        for (i, &b) in line.iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    elements.push(&line[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        elements.push(&line[start..]);
        if quoted {
            elements.truncate(first);
            elements.extend(line.split(|&b| b == b','));
        }
    }
    elements
        .into_iter()
        .rev()
        .filter(|element| !element.trim_ascii().is_empty())
}

/// The `for=` value of one `Forwarded` element, unquoted.
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|&b| b == b';').find_map(|pair| {
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (name, value) = (&pair[..eq], &pair[eq + 1..]);
        name.trim_ascii().eq_ignore_ascii_case(b"for").then(|| {
            let value = value.trim_ascii();
            value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value)
        })
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:80`,
/// `2001:db8::1`, `[2001:db8::1]:443`, and with RFC 7239's obfuscated ports
/// (`192.0.2.1:_p1`). `unknown`, obfuscated identifiers and anything that is
/// not UTF-8 are not addresses.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let node = std::str::from_utf8(node.trim_ascii()).ok()?;
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return ip
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let (host, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A node's port as RFC 7239 writes it: a number, or `_` and an obfuscated
/// identifier (`_p1`).
fn is_port(port: &str) -> bool {
    let obfuscated = port.strip_prefix('_').is_some_and(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
    });
    obfuscated || port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        parts_of_bytes(peer, &headers)
    }

    fn parts_of_bytes(peer: &str, headers: &[(&str, &[u8])]) -> Parts {
        let mut builder = http::Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, HeaderValue::from_bytes(value).unwrap());
        }
        let mut request = builder.body(()).unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr(peer.parse().unwrap()));
        request.into_parts().0
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peers_headers_are_ignored() {
        let extractor = ClientIp::new();
        let p = parts("198.51.100.1:1234", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(extractor.client_ip(&p), ip("198.51.100.1"));
    }

    #[test]
    fn rightmost_untrusted_hop_wins_across_lines() {
        let extractor = ClientIp::new()
            .trust_proxies(["10.0.0.0/8", "192.168.0.0/16"])
            .unwrap();
        let p = parts(
            "10.0.0.1:1",
            &[
                ("x-forwarded-for", "6.6.6.6, 203.0.113.5"),
                ("x-forwarded-for", "192.168.1.1, 10.2.3.4"),
            ],
        );
        assert_eq!(extractor.client_ip(&p), ip("203.0.113.5"));
    }

    #[test]
    fn all_trusted_takes_the_farthest_proxy_and_garbage_stops_the_walk() {
        let extractor = ClientIp::new().trust_proxy("10.0.0.0/8").unwrap();
        let p = parts("10.0.0.1:1", &[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
        assert_eq!(extractor.client_ip(&p), ip("10.9.9.9"));
        let p = parts(
            "10.0.0.1:1",
            &[("x-forwarded-for", "1.1.1.1, bogus, 10.0.0.2")],
        );
        assert_eq!(extractor.client_ip(&p), ip("10.0.0.2"));
        let p = parts("10.0.0.1:1", &[]);
        assert_eq!(extractor.client_ip(&p), ip("10.0.0.1"));
    }

    #[test]
    fn bytes_that_are_not_text_do_not_hide_the_hop_a_proxy_appended() {
        // A proxy appends the address it saw to the client's own line; the
        // client put bytes there that are not UTF-8 (allowed in a header).
        let xff = ClientIp::new().trust_proxy("10.0.0.0/8").unwrap();
        let p = parts_of_bytes(
            "10.0.0.1:1",
            &[("x-forwarded-for", b"6.6.6.\xff, \xfe\xfd, 203.0.113.5")],
        );
        assert_eq!(xff.client_ip(&p), ip("203.0.113.5"));
        let forwarded = xff.clone().header(ForwardedHeader::Forwarded);
        let p = parts_of_bytes(
            "10.0.0.1:1",
            &[(
                "forwarded",
                b"for=\"\xff,\", for=\xfe;by=\xfd, for=203.0.113.6",
            )],
        );
        assert_eq!(forwarded.client_ip(&p), ip("203.0.113.6"));
        // A hop that is not text is not an address: the walk stops there.
        let p = parts_of_bytes(
            "10.0.0.1:1",
            &[("x-forwarded-for", b"203.0.113.7, 10.\xff.0.3, 10.0.0.2")],
        );
        assert_eq!(xff.client_ip(&p), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_header_with_quotes_ports_and_ipv6() {
        let extractor = ClientIp::new()
            .trust_proxy("10.0.0.0/8")
            .unwrap()
            .header(ForwardedHeader::Forwarded);
        let p = parts(
            "10.0.0.1:1",
            &[(
                "forwarded",
                r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.5;by="x,y""#,
            )],
        );
        assert_eq!(extractor.client_ip(&p), ip("2001:db8:cafe::17"));
        assert_eq!(extractor.extract(&p).unwrap().ip(), ip("2001:db8:cafe::"));
        let p = parts("10.0.0.1:1", &[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(extractor.client_ip(&p), ip("10.0.0.3"));
        // Obfuscated ports (RFC 7239 section 6.3), on either address family.
        for (node, client) in [
            (r#"for="198.51.100.7:_p1""#, "198.51.100.7"),
            (r#"for="[2001:db8::7]:_a.b-c""#, "2001:db8::7"),
            (r#"for="198.51.100.8:8080""#, "198.51.100.8"),
        ] {
            let p = parts("10.0.0.1:1", &[("forwarded", node)]);
            assert_eq!(extractor.client_ip(&p), ip(client), "{node}");
        }
        // Not a port: not an address, and the walk stops at the proxy.
        for node in [r#"for="198.51.100.7:_""#, r#"for="[2001:db8::7]:junk""#] {
            let p = parts("10.0.0.1:1", &[("forwarded", node)]);
            assert_eq!(extractor.client_ip(&p), ip("10.0.0.1"), "{node}");
        }
        // The client left a quote open; the proxy appended after it.
        for (appended, client) in [
            ("for=203.0.113.8", "203.0.113.8"),
            (r#"for="[2001:db8::8]""#, "2001:db8::8"),
        ] {
            let line = format!(r#"for="6.6.6.6, {appended}"#);
            let p = parts("10.0.0.1:1", &[("forwarded", &line)]);
            assert_eq!(extractor.client_ip(&p), ip(client), "{line}");
        }
    }

    /// Empty list elements are ignored (RFC 9110 section 5.6.1): one that a
    /// proxy or a template leaves at the end of a line, or an empty line, is
    /// no hop, and does not stop the walk at the proxy.
    #[test]
    fn empty_list_elements_are_not_hops() {
        let xff = ClientIp::new().trust_proxy("10.0.0.0/8").unwrap();
        let forwarded = xff.clone().header(ForwardedHeader::Forwarded);
        for (extractor, name, lines) in [
            (&xff, "x-forwarded-for", &["203.0.113.1,"][..]),
            (&xff, "x-forwarded-for", &["203.0.113.1, ,10.0.0.2 , "]),
            (&xff, "x-forwarded-for", &["203.0.113.1", ""]),
            (&forwarded, "forwarded", &["for=203.0.113.1,"]),
            (
                &forwarded,
                "forwarded",
                &["for=203.0.113.1, , for=10.0.0.2,"],
            ),
            (&forwarded, "forwarded", &["for=203.0.113.1", " "]),
        ] {
            let headers: Vec<(&str, &str)> = lines.iter().map(|l| (name, *l)).collect();
            let p = parts("10.0.0.1:1", &headers);
            assert_eq!(extractor.client_ip(&p), ip("203.0.113.1"), "{lines:?}");
        }
    }

    #[test]
    fn mapped_addresses_and_ports_in_xff() {
        let extractor = ClientIp::new().trust_proxy("::1").unwrap();
        let p = parts(
            "[::1]:8080",
            &[(
                "x-forwarded-for",
                "[::ffff:198.51.100.4]:5, 198.51.100.9:443",
            )],
        );
        assert_eq!(extractor.client_ip(&p), ip("198.51.100.9"));
        let extractor = ClientIp::new().trust_proxy("127.0.0.1").unwrap();
        let p = parts(
            "[::ffff:127.0.0.1]:1",
            &[("x-forwarded-for", "198.51.100.7")],
        );
        assert_eq!(extractor.client_ip(&p), ip("198.51.100.7"));
    }

    /// A request with no peer address shares one bucket, and the first is
    /// logged (once for a limiter, not at every request), in words that
    /// say how to serve the peer address.
    #[test]
    fn no_peer_address_shares_one_bucket_and_is_told_once() {
        let (told, _subscriber) = crate::on_event::recorded();
        let (no_peer, ()) = http::Request::new(()).into_parts();
        let extractor = ClientIp::new();
        for _ in 0..3 {
            let clone = extractor.clone();
            assert_eq!(clone.extract(&no_peer), Some(Key::from("unknown")));
        }
        // A request with a peer address is not told.
        let with_peer = parts("192.0.2.1:1", &[]);
        assert_eq!(
            ClientIp::new().extract(&with_peer),
            Some(Key::from(ip("192.0.2.1").unwrap()))
        );
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].contains("into_make_service_with_connect_info"),
            "{told:?}"
        );
    }

    #[test]
    fn ipv6_prefix_masks_hosts_of_one_network_together() {
        let extractor = ClientIp::new();
        let a = extractor
            .extract(&parts("[2001:db8:1:2:aaaa::1]:1", &[]))
            .unwrap();
        let b = extractor
            .extract(&parts("[2001:db8:1:2:bbbb::9]:1", &[]))
            .unwrap();
        let c = extractor
            .extract(&parts("[2001:db8:1:3::1]:1", &[]))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let exact = ClientIp::new().ipv6_prefix(128);
        assert_ne!(
            exact.extract(&parts("[2001:db8::1]:1", &[])),
            exact.extract(&parts("[2001:db8::2]:1", &[]))
        );
    }

    #[test]
    fn cidr_parsing() {
        assert!("10.0.0.0/8".parse::<Cidr>().is_ok());
        assert!("10.0.0.0/".parse::<Cidr>().is_err());
        assert!("10.0.0.0/+8".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert!(
            "::/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        // An IPv4 peer, bare or as a dual-stack socket reports it, is in the
        // IPv6 networks that hold its mapped form, and only those.
        for peer in ["10.0.0.1", "::ffff:10.0.0.1"] {
            let peer: IpAddr = peer.parse().unwrap();
            for (net, holds) in [
                ("::/0", true),
                ("::ffff:0:0/95", true),
                ("::ffff:10.0.0.0/104", true),
                ("10.0.0.0/8", true),
                ("2001:db8::/32", false),
                ("::/96", false),
                ("11.0.0.0/8", false),
            ] {
                assert_eq!(
                    net.parse::<Cidr>().unwrap().contains(peer),
                    holds,
                    "{net} {peer}"
                );
            }
        }
        assert!(
            !"10.0.0.0/8"
                .parse::<Cidr>()
                .unwrap()
                .contains("::a00:1".parse().unwrap())
        );
        let err = "10.0.0.0/40".parse::<Cidr>().unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/40"), "{err}");
    }

    #[test]
    fn an_ipv4_mapped_network_is_the_ipv4_network() {
        let cidr = |s: &str| s.parse::<Cidr>().unwrap();
        assert_eq!(cidr("::ffff:10.0.0.0/104"), cidr("10.0.0.0/8"));
        assert_eq!(cidr("::ffff:10.0.0.1"), cidr("10.0.0.1"));
        assert_eq!(cidr("::ffff:0:0/96"), cidr("0.0.0.0/0"));
        // As narrow as the IPv4 network: the prefix counts past the 96 bits
        // of the mapping.
        assert!(!cidr("::ffff:10.0.0.0/104").contains("11.0.0.1".parse().unwrap()));
        assert!(!cidr("::ffff:10.0.0.1").contains("10.0.0.2".parse().unwrap()));
        assert!(cidr("::ffff:10.0.0.1").contains("::ffff:10.0.0.1".parse().unwrap()));
    }

    /// A prefix as long as the address is the address alone, on either
    /// family; one bit longer is no network.
    #[test]
    fn a_full_length_prefix_is_the_single_address() {
        let cidr = |s: &str| s.parse::<Cidr>().unwrap();
        assert_eq!(cidr("10.0.0.1/32"), cidr("10.0.0.1"));
        assert_eq!(cidr("2001:db8::1/128"), cidr("2001:db8::1"));
        assert_eq!(cidr("::ffff:10.0.0.1/128"), cidr("10.0.0.1"));
        assert!(!cidr("10.0.0.1/32").contains("10.0.0.2".parse().unwrap()));
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("2001:db8::1/129".parse::<Cidr>().is_err());
    }

    /// In `Forwarded`, a backslash escapes the next byte only inside a
    /// quoted string (RFC 7230's quoted-pair): an escaped quote neither ends
    /// the string nor lets a comma in it split the element, and outside
    /// quotes a backslash that a client leaves at the end of its line does
    /// not swallow the comma before the element its proxy appended.
    #[test]
    fn backslashes_escape_only_inside_quoted_strings() {
        let extractor = ClientIp::new()
            .trust_proxy("10.0.0.0/8")
            .unwrap()
            .header(ForwardedHeader::Forwarded);
        let p = parts(
            "10.0.0.1:1",
            &[("forwarded", r#"for=198.51.100.1;ext="a\",b", for=10.0.0.2"#)],
        );
        assert_eq!(extractor.client_ip(&p), ip("198.51.100.1"));
        let p = parts(
            "10.0.0.1:1",
            &[("forwarded", r#"for=6.6.6.6\, for=203.0.113.1"#)],
        );
        assert_eq!(extractor.client_ip(&p), ip("203.0.113.1"));
    }

    /// Property tests of the spoofing rule: whatever a client sends, a chain
    /// of trusted proxies that each append the address they saw makes the
    /// client the address the first proxy saw.
    mod spoofing {
        use proptest::prelude::*;

        use super::*;

        /// Trusted: 10.0.0.0/8 and fd00::/8.
        fn extractor(header: ForwardedHeader) -> ClientIp {
            ClientIp::new()
                .trust_proxies(["10.0.0.0/8", "fd00::/8"])
                .unwrap()
                .header(header)
        }

        /// Bytes a header value may hold (no control characters), weighted
        /// towards the ones the parsers split and unquote on.
        fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
            let byte = prop_oneof![
                3 => 0x20u8..0x7f,
                1 => 0x80u8..=0xff,
                1 => Just(b'\t'),
                2 => prop::sample::select(b",;=\"\\[]:".to_vec()),
            ];
            prop::collection::vec(byte, 0..40)
        }

        fn untrusted() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<u32>()
                    .prop_filter("outside 10/8", |v| v >> 24 != 10)
                    .prop_map(|v| IpAddr::V4(v.into())),
                any::<u128>()
                    .prop_map(|v| { IpAddr::V6(Ipv6Addr::from((v >> 16) | (0x2001u128 << 112))) }),
            ]
        }

        fn trusted() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<u32>().prop_map(|v| IpAddr::V4(((v & 0x00ff_ffff) | (10 << 24)).into())),
                any::<u128>()
                    .prop_map(|v| IpAddr::V6(Ipv6Addr::from((v >> 8) | (0xfdu128 << 120)))),
            ]
        }

        /// An address as a proxy writes it into `header`.
        fn written(ip: IpAddr, header: ForwardedHeader) -> String {
            match (header, ip) {
                (ForwardedHeader::XForwardedFor, ip) => ip.to_string(),
                (ForwardedHeader::Forwarded, IpAddr::V4(v4)) => format!("for={v4}"),
                (ForwardedHeader::Forwarded, IpAddr::V6(v6)) => format!("for=\"[{v6}]\""),
            }
        }

        /// The request the application gets: the client's own header lines,
        /// then each proxy appending the address it saw, to the last line
        /// or on a line of its own; the last proxy is the socket peer.
        fn through_proxies(
            header: ForwardedHeader,
            sent: &[Vec<u8>],
            client: IpAddr,
            proxies: &[(IpAddr, bool)],
        ) -> Parts {
            let mut lines = sent.to_vec();
            let mut seen = client;
            for &(proxy, own_line) in proxies {
                let entry = written(seen, header);
                match lines.last_mut() {
                    Some(last) if !own_line => {
                        last.extend_from_slice(b", ");
                        last.extend_from_slice(entry.as_bytes());
                    }
                    _ => lines.push(entry.into_bytes()),
                }
                seen = proxy;
            }
            let name = match header {
                ForwardedHeader::XForwardedFor => "x-forwarded-for",
                ForwardedHeader::Forwarded => "forwarded",
            };
            let headers: Vec<(&str, &[u8])> = lines.iter().map(|l| (name, &l[..])).collect();
            parts_of_bytes(&SocketAddr::new(seen, 443).to_string(), &headers)
        }

        fn either_header() -> impl Strategy<Value = ForwardedHeader> {
            prop_oneof![
                Just(ForwardedHeader::XForwardedFor),
                Just(ForwardedHeader::Forwarded)
            ]
        }

        proptest! {
            #[test]
            fn the_client_is_whom_the_first_trusted_proxy_saw(
                header in either_header(),
                sent in prop::collection::vec(header_bytes(), 0..3),
                client in untrusted(),
                proxies in prop::collection::vec((trusted(), any::<bool>()), 1..4),
            ) {
                let parts = through_proxies(header, &sent, client, &proxies);
                prop_assert_eq!(extractor(header).client_ip(&parts), Some(client));
            }

            #[test]
            fn a_client_connecting_directly_is_its_own_address(
                header in either_header(),
                sent in prop::collection::vec(header_bytes(), 0..3),
                client in untrusted(),
            ) {
                let parts = through_proxies(header, &sent, client, &[]);
                prop_assert_eq!(extractor(header).client_ip(&parts), Some(client));
            }
        }
    }
}
