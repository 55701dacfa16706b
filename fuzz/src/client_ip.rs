//! The `client_ip` input layout, and a model of the networks it trusts.
//!
//! ```text
//! [flags] [trusted mask, 2 bytes] [peer index] [IPv6 prefix] ([name] [value bytes…] \n)*
//! ```
//!
//! Bit 0 of the flags reads `Forwarded` (else `X-Forwarded-For`); bit 1
//! leaves the peer address out; the high four bits pick the client from
//! [`PEERS`] (modulo its length) for the chain of proxies that the target
//! appends to the lines, where bit 2 has each proxy write a line of its
//! own (else it appends to the last line) and bit 3 makes the chain two
//! proxies long (else one). Bit `i` of the mask (little endian) trusts
//! [`TRUSTED`]`[i]`; of the bits left, bit 15 has the chain's proxies write
//! a port after the address and bit 14 has them add `;proto=https` to a
//! `Forwarded` element. The peer index picks from [`PEERS`] (modulo its
//! length). An IPv6 prefix of 255 keeps the default (64); any other byte is
//! given to `ClientIp::ipv6_prefix`. The rest is header lines, split at
//! `\n`: a line's first byte names its header (`f` `Forwarded`, `r`
//! `X-Real-IP`, anything else `X-Forwarded-For`), the other bytes are its
//! value, as they came (values that `http` refuses are left out by the
//! target). Inputs shorter than the five bytes of the prefix trust nothing
//! and send no header; any byte string is a valid input.

use std::net::{IpAddr, SocketAddr};

/// The networks an input may trust, by bit of the mask.
pub const TRUSTED: [&str; 11] = [
    "10.0.0.0/8",
    "192.168.0.0/16",
    "127.0.0.1",
    "::1",
    "fd00::/8",
    "2001:db8:ffff::/48",
    "::ffff:172.16.0.0/108",
    "203.0.113.0/24",
    "0.0.0.0/0",
    "::/0",
    "::ffff:0:0/96",
];

/// The socket peers an input may come from (port 443).
pub const PEERS: [&str; 12] = [
    "10.0.0.1",
    "10.255.255.254",
    "192.168.1.1",
    "127.0.0.1",
    "::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "fd00::1",
    "203.0.113.9",
    "2001:db8::1",
    "2001:db8:ffff::5",
    "172.16.5.4",
];

/// Which header a line of the input is.
pub fn header_name(selector: u8) -> &'static str {
    match selector {
        b'f' => "forwarded",
        b'r' => "x-real-ip",
        _ => "x-forwarded-for",
    }
}

/// A `client_ip` input taken apart.
pub struct ClientIpInput<'a> {
    /// Whether `Forwarded` is read (else `X-Forwarded-For`).
    pub forwarded: bool,
    /// The socket peer, if any.
    pub peer: Option<SocketAddr>,
    /// The networks trusted, from [`TRUSTED`].
    pub trusted: Vec<&'static str>,
    /// The client behind the proxy chain the target appends.
    pub client: IpAddr,
    /// Whether each proxy of the chain writes a line of its own.
    pub own_line: bool,
    /// How many proxies the chain has.
    pub proxies: usize,
    /// Whether the chain's proxies write a port.
    pub port: bool,
    /// Whether the chain's proxies add `;proto=https` to `Forwarded`.
    pub params: bool,
    /// The IPv6 prefix given to `ClientIp::ipv6_prefix`; `None` keeps the default.
    pub ipv6_prefix: Option<u8>,
    /// Header lines: name and value bytes.
    pub lines: Vec<(&'static str, &'a [u8])>,
}

impl<'a> ClientIpInput<'a> {
    /// Splits fuzzer bytes as the module docs say.
    pub fn split(data: &'a [u8]) -> ClientIpInput<'a> {
        let (flags, mask, peer, prefix, rest) = match data {
            [flags, low, high, peer, prefix, rest @ ..] => (
                *flags,
                u16::from_le_bytes([*low, *high]),
                *peer,
                *prefix,
                rest,
            ),
            _ => (0, 0, 0, 255, &[][..]),
        };
        let pick = |index: u8| -> IpAddr {
            PEERS[usize::from(index) % PEERS.len()]
                .parse()
                .expect("listed peers parse")
        };
        let peer = pick(peer);
        let lines = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(|&b| b == b'\n')
                .filter_map(|line| {
                    let (&selector, value) = line.split_first()?;
                    Some((header_name(selector), value))
                })
                .collect()
        };
        ClientIpInput {
            forwarded: flags & 1 != 0,
            peer: (flags & 2 == 0).then(|| SocketAddr::new(peer, 443)),
            client: pick(flags >> 4),
            own_line: flags & 4 != 0,
            proxies: if flags & 8 != 0 { 2 } else { 1 },
            port: mask & 1 << 15 != 0,
            params: mask & 1 << 14 != 0,
            trusted: TRUSTED
                .iter()
                .enumerate()
                .filter(|(bit, _)| mask & (1 << bit) != 0)
                .map(|(_, net)| *net)
                .collect(),
            ipv6_prefix: (prefix != 255).then_some(prefix),
            lines,
        }
    }
}

/// Builds a `client_ip` input: the inverse of [`ClientIpInput::split`] for
/// networks in [`TRUSTED`] and peers in [`PEERS`] (others are left out or
/// become the first), with 203.0.113.9 behind a one-proxy chain. `lines` are `(selector, value)`: `'f'`, `'r'` or `'x'`.
pub fn join_client_ip(
    forwarded: bool,
    trusted: &[&str],
    peer: Option<&str>,
    ipv6_prefix: Option<u8>,
    lines: &[(char, &[u8])],
) -> Vec<u8> {
    let mask = TRUSTED
        .iter()
        .enumerate()
        .filter(|(_, net)| trusted.contains(net))
        .fold(0u16, |mask, (bit, _)| mask | 1 << bit);
    let index = peer
        .and_then(|peer| PEERS.iter().position(|p| *p == peer))
        .unwrap_or(0);
    // The chain's client: 203.0.113.9, one proxy appending to the last line.
    let flags = u8::from(forwarded) | if peer.is_none() { 2 } else { 0 } | 8 << 4;
    let [low, high] = mask.to_le_bytes();
    let mut out = vec![flags, low, high, index as u8, ipv6_prefix.unwrap_or(255)];
    for (i, (selector, value)) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.push(*selector as u8);
        out.extend_from_slice(value);
    }
    out
}

/// A trusted network, as the check sees it: every address in the IPv6
/// space, an IPv4 one as its mapped form (`::ffff:10.0.0.1`), so that an
/// IPv4 network holds the mapped forms of its addresses and nothing else.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    bits: u128,
    prefix: u32,
}

/// An address in the IPv6 space: IPv4 as its mapped form.
pub fn v6_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The top `prefix` bits of a 128-bit mask.
pub fn top_bits(prefix: u32) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - p.min(128)),
    }
}

impl Net {
    /// Reads one of [`TRUSTED`] (an address, or an address and a prefix).
    pub fn parse(text: &str) -> Net {
        let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
        let ip: IpAddr = addr.parse().expect("listed networks parse");
        let (max, extra) = if ip.is_ipv4() { (32, 96) } else { (128, 0) };
        let prefix: u32 = if prefix.is_empty() {
            max
        } else {
            prefix.parse().expect("listed prefixes parse")
        };
        Net {
            bits: v6_bits(ip),
            prefix: prefix + extra,
        }
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = top_bits(self.prefix);
        v6_bits(ip) & mask == self.bits & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_split_agree() {
        let data = join_client_ip(
            true,
            &["10.0.0.0/8", "::1"],
            Some("fd00::1"),
            Some(48),
            &[('f', b"for=1.2.3.4"), ('x', b"5.6.7.8"), ('r', b"9.9.9.9")],
        );
        let input = ClientIpInput::split(&data);
        assert!(input.forwarded);
        assert_eq!(input.trusted, ["10.0.0.0/8", "::1"]);
        assert_eq!(input.peer, Some("[fd00::1]:443".parse().unwrap()));
        assert_eq!(input.ipv6_prefix, Some(48));
        assert_eq!(
            input.lines,
            [
                ("forwarded", &b"for=1.2.3.4"[..]),
                ("x-forwarded-for", b"5.6.7.8"),
                ("x-real-ip", b"9.9.9.9")
            ]
        );
        let data = join_client_ip(false, &[], None, None, &[]);
        let bare = ClientIpInput::split(&data);
        assert!(bare.peer.is_none() && bare.lines.is_empty() && bare.ipv6_prefix.is_none());
    }

    #[test]
    fn the_network_model() {
        let holds = |net: &str, ip: &str| Net::parse(net).contains(ip.parse().unwrap());
        assert!(holds("10.0.0.0/8", "10.1.2.3"));
        assert!(holds("10.0.0.0/8", "::ffff:10.1.2.3"));
        assert!(!holds("10.0.0.0/8", "::a01:203"));
        assert!(holds("::/0", "8.8.8.8"));
        assert!(holds("::ffff:0:0/96", "8.8.8.8"));
        assert!(!holds("::ffff:0:0/96", "2001:db8::1"));
        assert!(holds("0.0.0.0/0", "8.8.8.8"));
        assert!(!holds("0.0.0.0/0", "2001:db8::1"));
        assert!(holds("::ffff:172.16.0.0/108", "172.31.255.255"));
        assert!(!holds("::ffff:172.16.0.0/108", "172.32.0.0"));
        assert!(holds("::1", "::1") && !holds("::1", "::2"));
    }
}
