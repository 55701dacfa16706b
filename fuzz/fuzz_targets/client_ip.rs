//! `ClientIp` on any `X-Forwarded-For` / `Forwarded` lines, any trusted
//! proxies and any peer (layout in `src/client_ip.rs`). Whatever the bytes:
//!
//! - it never panics, and keys every request (`unknown` without a peer);
//! - the key is the client address, an IPv6 one cut to the prefix;
//! - a peer that is no trusted proxy is the client, whatever the headers say;
//! - the client is the peer or an address written in the header read;
//! - an address written only to the left of a hop that cannot be a trusted
//!   proxy (an untrusted address, or no address) is never the client;
//! - where every hop is plainly written (an address with or without a
//!   port, or no address at all, such as `unknown`), the client is the
//!   rightmost untrusted hop, else the farthest trusted one the walk
//!   reached, as a model of the documented rule works it out;
//! - whatever lines a client sent, a chain of trusted proxies that each
//!   append the address they saw (to the last line, or on a line of their
//!   own; with a port or not; in `Forwarded`, with `proto` or not) makes the
//!   client the address the first proxy saw.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::client_ip::{ClientIpInput, Net, top_bits};
use tollgate_limit::{ClientIp, ForwardedHeader, KeyExtractor, PeerAddr};

fuzz_target!(|data: &[u8]| {
    let input = ClientIpInput::split(data);
    let mut extractor = ClientIp::new()
        .trust_proxies(input.trusted.iter().copied())
        .expect("listed networks parse")
        .header(if input.forwarded {
            ForwardedHeader::Forwarded
        } else {
            ForwardedHeader::XForwardedFor
        });
    if let Some(prefix) = input.ipv6_prefix {
        extractor = extractor.ipv6_prefix(prefix);
    }
    let nets: Vec<Net> = input.trusted.iter().map(|net| Net::parse(net)).collect();
    let trusted = |ip: IpAddr| nets.iter().any(|net| net.contains(ip));

    let mut request = Request::new(());
    for (name, value) in &input.lines {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request.headers_mut().append(*name, value);
        }
    }
    if let Some(peer) = input.peer {
        request.extensions_mut().insert(PeerAddr(peer));
    }
    let (parts, ()) = request.into_parts();
    let client = extractor.client_ip(&parts);
    let key = extractor.extract(&parts).expect("every request is keyed");

    let Some(peer) = input.peer else {
        assert_eq!(client, None);
        assert_eq!(key.as_str(), Some("unknown"));
        return;
    };
    let peer = peer.ip().to_canonical();
    let client = client.expect("a request with a peer has a client");
    let shown = || {
        let lines: Vec<_> = input
            .lines
            .iter()
            .map(|(name, value)| format!("{name}: {:?}", String::from_utf8_lossy(value)))
            .collect();
        format!(
            "peer {peer}, trusted {:?}, forwarded {}, lines {lines:#?}",
            input.trusted, input.forwarded
        )
    };

    // The key is the client, an IPv6 one cut to its network.
    let prefix = u32::from(input.ipv6_prefix.unwrap_or(64).min(128));
    let keyed = match client {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & top_bits(prefix))),
        v4 => v4,
    };
    assert_eq!(key.ip(), Some(keyed), "{}", shown());
    // Mapped addresses are told as IPv4 ones.
    assert_eq!(client, client.to_canonical(), "{}", shown());

    if !trusted(peer) {
        assert_eq!(
            client,
            peer,
            "an untrusted peer's headers were read: {}",
            shown()
        );
        return;
    }

    let name = if input.forwarded {
        "forwarded"
    } else {
        "x-forwarded-for"
    };
    let lines: Vec<&[u8]> = parts
        .headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();

    // Written in the header read.
    let written: Vec<IpAddr> = lines.iter().flat_map(|line| addresses_in(line)).collect();
    assert!(
        client == peer || written.contains(&client),
        "{client} is neither the peer nor written in {name}: {}",
        shown()
    );

    // Hops, the nearest first, while their bounds are certain.
    let mut hops: Vec<Hop> = Vec::new();
    let mut certain = true;
    for line in lines.iter().rev() {
        match hops_of(line, input.forwarded) {
            Some(line_hops) => hops.extend(line_hops.into_iter().rev()),
            None => {
                certain = false;
                break;
            }
        }
    }

    // Never an address written only left of a hop that stops the walk.
    let mut reachable = vec![peer];
    let mut bounded = false;
    for hop in &hops {
        let found = addresses_in(hop.text);
        let stops = !found.iter().any(|ip| trusted(*ip));
        reachable.extend(found);
        if stops {
            bounded = true;
            break;
        }
    }
    if bounded || certain {
        assert!(
            reachable.contains(&client),
            "{client} is left of a hop that stops the walk: {}",
            shown()
        );
    }

    // The rule, where every hop the walk reaches is plainly written.
    let mut expected = Some(peer);
    let mut stopped = false;
    for hop in &hops {
        match plain_node(hop.node) {
            Node::Address(ip) => {
                expected = Some(ip);
                if !trusted(ip) {
                    stopped = true;
                    break;
                }
            }
            Node::Nothing => {
                stopped = true;
                break;
            }
            Node::Unknown => {
                expected = None;
                break;
            }
        }
    }
    // A walk past every hop of certain bounds goes on into a line whose
    // bounds the model does not know.
    if !stopped && !certain {
        expected = None;
    }
    if let Some(expected) = expected {
        assert_eq!(client, expected, "{}", shown());
    }

    // The client's lines, then a chain of trusted proxies (the peer's
    // address, once or twice) each appending the address it saw.
    let sender = input.client.to_canonical();
    if trusted(sender) {
        return;
    }
    let mut sent: Vec<Vec<u8>> = lines.iter().map(|line| line.to_vec()).collect();
    let mut seen = sender;
    for _ in 0..input.proxies {
        let node = match (input.port, seen) {
            (false, IpAddr::V6(v6)) if input.forwarded => format!("[{v6}]"),
            (false, ip) => ip.to_string(),
            (true, ip) => SocketAddr::new(ip, 4711).to_string(),
        };
        let entry = match (input.forwarded, seen) {
            (false, _) => node,
            (true, IpAddr::V4(_)) if !input.port => format!("for={node}"),
            (true, _) => format!("for=\"{node}\""),
        };
        let entry = if input.forwarded && input.params {
            format!("{entry};proto=https")
        } else {
            entry
        };
        match sent.last_mut() {
            Some(last) if !input.own_line => {
                last.extend_from_slice(b", ");
                last.extend_from_slice(entry.as_bytes());
            }
            _ => sent.push(entry.into_bytes()),
        }
        seen = peer;
    }
    let mut request = Request::new(());
    for line in &sent {
        let value = HeaderValue::from_bytes(line).expect("a sent line and an entry are a value");
        request.headers_mut().append(name, value);
    }
    request
        .extensions_mut()
        .insert(PeerAddr(SocketAddr::new(peer, 443)));
    let (chained, ()) = request.into_parts();
    let sent_lossy: Vec<_> = sent.iter().map(|l| String::from_utf8_lossy(l)).collect();
    assert_eq!(
        extractor.client_ip(&chained),
        Some(sender),
        "through {} proxies at {peer}: {sent_lossy:#?}",
        input.proxies
    );
});

/// One hop of a header: its whole text, and the node it names (`None`
/// for a `Forwarded` element without `for=`).
struct Hop<'a> {
    text: &'a [u8],
    node: Option<&'a [u8]>,
}

/// A line's hops, left to right, without the empty ones; `None` when where
/// they start and end depends on quoting the model leaves alone.
fn hops_of(line: &[u8], forwarded: bool) -> Option<Vec<Hop<'_>>> {
    let pieces = line
        .split(|&b| b == b',')
        .filter(|piece| !piece.trim_ascii().is_empty());
    if !forwarded {
        return Some(
            pieces
                .map(|text| Hop {
                    text,
                    node: Some(text),
                })
                .collect(),
        );
    }
    // Without backslashes, a line splits at every comma when no quoted
    // string holds one: each piece has its quotes paired, or a quote is left
    // open at the end of the line (then every comma splits).
    let quotes = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'"').count();
    let paired = line.split(|&b| b == b',').all(|p| quotes(p) % 2 == 0);
    if line.contains(&b'\\') || !(paired || quotes(line) % 2 == 1) {
        return None;
    }
    Some(
        pieces
            .map(|text| Hop {
                text,
                node: for_value(text),
            })
            .collect(),
    )
}

/// The `for=` value of a `Forwarded` element, unquoted.
fn for_value(element: &[u8]) -> Option<&[u8]> {
    element.split(|&b| b == b';').find_map(|pair| {
        let eq = pair.iter().position(|&b| b == b'=')?;
        if !pair[..eq].trim_ascii().eq_ignore_ascii_case(b"for") {
            return None;
        }
        let value = pair[eq + 1..].trim_ascii();
        Some(match value {
            [b'"', inner @ .., b'"'] => inner,
            _ => value,
        })
    })
}

/// What a hop names, as far as the model knows.
enum Node {
    Address(IpAddr),
    /// Surely no address: not text, or no `.` or `:` in it (`unknown`, `_x`).
    Nothing,
    /// A form the model does not read (an obfuscated port, `+80`).
    Unknown,
}

/// A node in the forms proxies write: an address, `[v6]`, `[v6]:port`,
/// `v4:port`, with a port of digits.
fn plain_node(node: Option<&[u8]>) -> Node {
    let Some(node) = node else {
        return Node::Nothing;
    };
    let Ok(text) = std::str::from_utf8(node.trim_ascii()) else {
        return Node::Nothing;
    };
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Node::Address(ip.to_canonical());
    }
    if !text.contains(['.', ':']) {
        return Node::Nothing;
    }
    let port = |p: &str| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    };
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((v6, after)) = rest.split_once(']')
            && let Ok(v6) = v6.parse::<Ipv6Addr>()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port))
        {
            return Node::Address(IpAddr::V6(v6).to_canonical());
        }
        return Node::Unknown;
    }
    if let Some((host, p)) = text.split_once(':')
        && let Ok(v4) = host.parse::<Ipv4Addr>()
        && port(p)
    {
        return Node::Address(IpAddr::V4(v4));
    }
    Node::Unknown
}

/// Every address written in `bytes`, between any of the bytes that bound
/// an address in these headers, alone or before a `:port`: more than any
/// parser of the header could find.
fn addresses_in(bytes: &[u8]) -> Vec<IpAddr> {
    bytes
        .split(|b| b",;=\"[] \t".contains(b))
        .filter_map(|token| std::str::from_utf8(token).ok())
        .filter(|token| !token.is_empty())
        .filter_map(|token| {
            token.parse::<IpAddr>().ok().or_else(|| {
                let (host, _) = token.split_once(':')?;
                host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
            })
        })
        .map(|ip| ip.to_canonical())
        .collect()
}
