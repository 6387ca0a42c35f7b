//! What an IP address in a code can be reached from, read off one table: the
//! IANA IPv4 and IPv6 Special-Purpose Address Registries (as of 2025), plus
//! multicast and, for IPv6, everything outside 2000::/3 (not allocated for
//! unicast). `qrpair decode` says from it whether a code made at home works
//! from the office; a hand-written `is_private() || …` list called
//! documentation ranges "public".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Globally reachable: any network can route to it.
    Public,
    /// RFC 1918 and unique-local (fc00::/7): one site's own network.
    Private,
    /// RFC 6598 shared space between a carrier's NAT and its customers.
    Shared,
    LinkLocal,
    Loopback,
    /// Reserved for examples and test networks (documentation, benchmarking):
    /// no real network routes to it, only a test network that uses it.
    Test,
    /// Not an address a peer can send to (unspecified, broadcast, multicast,
    /// reserved, discard-only, protocol assignments).
    Unusable,
}

/// One registry entry: prefix, length, class, and the name a person reads.
struct Block<T> {
    prefix: T,
    len: u8,
    class: Class,
    name: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, class: Class, name: &'static str) -> Block<u32> {
    Block { prefix: u32::from_be_bytes([a, b, c, d]), len, class, name }
}

const fn v6(prefix: u128, len: u8, class: Class, name: &'static str) -> Block<u128> {
    Block { prefix, len, class, name }
}

/// Most specific first: the first block that holds an address is its class.
const IPV4: &[Block<u32>] = &[
    v4(192, 0, 0, 9, 32, Class::Public, "PCP anycast (RFC 7723)"),
    v4(192, 0, 0, 10, 32, Class::Public, "TURN anycast (RFC 8155)"),
    v4(255, 255, 255, 255, 32, Class::Unusable, "the limited broadcast address"),
    v4(0, 0, 0, 0, 8, Class::Unusable, "\"this network\" (RFC 791)"),
    v4(10, 0, 0, 0, 8, Class::Private, "a private address (RFC 1918)"),
    v4(100, 64, 0, 0, 10, Class::Shared, "carrier-grade NAT shared space (RFC 6598)"),
    v4(127, 0, 0, 0, 8, Class::Loopback, "loopback"),
    v4(169, 254, 0, 0, 16, Class::LinkLocal, "link-local (RFC 3927)"),
    v4(172, 16, 0, 0, 12, Class::Private, "a private address (RFC 1918)"),
    v4(192, 0, 0, 0, 24, Class::Unusable, "IETF protocol assignments (RFC 6890)"),
    v4(192, 0, 2, 0, 24, Class::Test, "a documentation address (TEST-NET-1, RFC 5737)"),
    v4(192, 88, 99, 0, 24, Class::Unusable, "the retired 6to4 relay anycast (RFC 7526)"),
    v4(192, 168, 0, 0, 16, Class::Private, "a private address (RFC 1918)"),
    v4(198, 18, 0, 0, 15, Class::Test, "a benchmarking address (RFC 2544)"),
    v4(198, 51, 100, 0, 24, Class::Test, "a documentation address (TEST-NET-2, RFC 5737)"),
    v4(203, 0, 113, 0, 24, Class::Test, "a documentation address (TEST-NET-3, RFC 5737)"),
    v4(224, 0, 0, 0, 4, Class::Unusable, "multicast"),
    v4(240, 0, 0, 0, 4, Class::Unusable, "reserved (RFC 1112)"),
];

const IPV6: &[Block<u128>] = &[
    v6(0, 128, Class::Unusable, "the unspecified address"),
    v6(1, 128, Class::Loopback, "loopback"),
    v6(0x2001_0001_0000_0000_0000_0000_0000_0001, 128, Class::Public, "PCP anycast (RFC 7723)"),
    v6(0x2001_0001_0000_0000_0000_0000_0000_0002, 128, Class::Public, "TURN anycast (RFC 8155)"),
    v6(0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96, Class::Public, "the NAT64 well-known prefix (RFC 6052)"),
    v6(0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48, Class::Private, "local-use NAT64 (RFC 8215)"),
    v6(0x0100_0000_0000_0000_0000_0000_0000_0000, 64, Class::Unusable, "discard-only (RFC 6666)"),
    v6(0x2001_0002_0000_0000_0000_0000_0000_0000, 48, Class::Test, "a benchmarking address (RFC 5180)"),
    v6(0x2001_0003_0000_0000_0000_0000_0000_0000, 32, Class::Public, "AMT (RFC 7450)"),
    v6(0x2001_0004_0112_0000_0000_0000_0000_0000, 48, Class::Public, "AS112-v6 (RFC 7535)"),
    v6(0x2001_0020_0000_0000_0000_0000_0000_0000, 28, Class::Public, "ORCHIDv2 (RFC 7343)"),
    v6(0x2001_0000_0000_0000_0000_0000_0000_0000, 32, Class::Public, "Teredo (RFC 4380)"),
    v6(0x2001_0000_0000_0000_0000_0000_0000_0000, 23, Class::Unusable, "IETF protocol assignments (RFC 2928)"),
    v6(0x2001_0db8_0000_0000_0000_0000_0000_0000, 32, Class::Test, "a documentation address (RFC 3849)"),
    v6(0x3fff_0000_0000_0000_0000_0000_0000_0000, 20, Class::Test, "a documentation address (RFC 9637)"),
    v6(0x5f00_0000_0000_0000_0000_0000_0000_0000, 16, Class::Unusable, "segment routing SIDs (RFC 9602)"),
    v6(0x2000_0000_0000_0000_0000_0000_0000_0000, 3, Class::Public, "a global unicast address"),
    v6(0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, Class::Private, "a unique local address (RFC 4193)"),
    v6(0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, Class::LinkLocal, "link-local (RFC 4291)"),
    v6(0xff00_0000_0000_0000_0000_0000_0000_0000, 8, Class::Unusable, "multicast"),
];

fn find<T>(table: &'static [Block<T>], holds: impl Fn(&Block<T>) -> bool) -> Option<&'static Block<T>> {
    table.iter().find(|block| holds(block))
}

/// The class of `ip` and the name of the block it is in ("a private address
/// (RFC 1918)", "a global unicast address").
pub fn classify(ip: IpAddr) -> (Class, &'static str) {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> (Class, &'static str) {
    let bits = u32::from(ip);
    let mask = |len: u8| if len == 0 { 0 } else { u32::MAX << (32 - len) };
    match find(IPV4, |b| bits & mask(b.len) == b.prefix) {
        Some(block) => (block.class, block.name),
        None => (Class::Public, "a public address"),
    }
}

fn classify_v6(ip: Ipv6Addr) -> (Class, &'static str) {
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let bits = u128::from(ip);
    let mask = |len: u8| if len == 0 { 0 } else { u128::MAX << (128 - len) };
    match find(IPV6, |b| bits & mask(b.len) == b.prefix) {
        Some(block) => (block.class, block.name),
        // Outside 2000::/3 and every block above: not allocated for unicast.
        None => (Class::Unusable, "not allocated for unicast (RFC 4291)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Class {
        classify(text.parse().unwrap()).0
    }

    #[test]
    fn no_block_is_hidden_by_a_wider_one_and_the_edges_fall_right() {
        // First match wins, so a block listed after a wider one holding it
        // would never be found.
        fn check<T: Copy>(table: &'static [Block<T>], holds: impl Fn(&Block<T>, T) -> bool) {
            for block in table {
                let winner = table.iter().find(|b| holds(b, block.prefix)).unwrap();
                assert!(winner.len >= block.len, "{} is hidden by {}", block.name, winner.name);
            }
        }
        check(IPV4, |b, ip| ip & (u32::MAX.checked_shl(32 - b.len as u32).unwrap_or(0)) == b.prefix);
        check(IPV6, |b, ip| ip & (u128::MAX.checked_shl(128 - b.len as u32).unwrap_or(0)) == b.prefix);
        for (address, expected) in [
            ("8.8.8.8", Class::Public),
            ("1.1.1.1", Class::Public),
            ("9.255.255.255", Class::Public),
            ("10.0.0.0", Class::Private),
            ("10.255.255.255", Class::Private),
            ("11.0.0.0", Class::Public),
            ("100.63.255.255", Class::Public),
            ("100.64.0.0", Class::Shared),
            ("100.127.255.255", Class::Shared),
            ("100.128.0.0", Class::Public),
            ("172.15.255.255", Class::Public),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("172.32.0.0", Class::Public),
            ("192.0.0.8", Class::Unusable),
            ("192.0.0.9", Class::Public),
            ("192.0.0.10", Class::Public),
            ("192.0.2.1", Class::Test),
            ("192.0.3.0", Class::Public),
            ("192.168.1.4", Class::Private),
            ("198.17.255.255", Class::Public),
            ("198.18.0.1", Class::Test),
            ("198.19.255.255", Class::Test),
            ("198.20.0.0", Class::Public),
            ("198.51.100.7", Class::Test),
            ("203.0.113.7", Class::Test),
            ("203.0.114.0", Class::Public),
            ("169.254.3.4", Class::LinkLocal),
            ("127.8.8.8", Class::Loopback),
            ("0.0.0.0", Class::Unusable),
            ("224.0.0.251", Class::Unusable),
            ("239.255.255.250", Class::Unusable),
            ("240.0.0.1", Class::Unusable),
            ("255.255.255.255", Class::Unusable),
            ("223.255.255.255", Class::Public),
            ("2606:4700:4700::1111", Class::Public),
            ("2a00:1450:4001::1", Class::Public),
            ("2001:db8::1", Class::Test),
            ("2001:db9::1", Class::Public),
            ("3fff:fff::1", Class::Test),
            ("3fff:1000::1", Class::Public),
            ("2001:2::1", Class::Test),
            ("2001:0:4136:e378::1", Class::Public),
            ("2001:1::1", Class::Public),
            ("2001:1::3", Class::Unusable),
            ("2001:100::1", Class::Unusable),
            ("2001:200::1", Class::Public),
            ("64:ff9b::192.0.2.1", Class::Public),
            ("64:ff9b:1::1", Class::Private),
            ("fd00::2", Class::Private),
            ("fc12::1", Class::Private),
            ("fe80::1", Class::LinkLocal),
            ("febf::1", Class::LinkLocal),
            ("fec0::1", Class::Unusable),
            ("ff02::1", Class::Unusable),
            ("::1", Class::Loopback),
            ("::", Class::Unusable),
            ("::ffff:192.168.1.1", Class::Private),
            ("::ffff:8.8.8.8", Class::Public),
            ("100::1", Class::Unusable),
            ("4000::1", Class::Unusable),
            ("5f00::1", Class::Unusable),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }
}
