//! `[outbound_networking] block_networks`: destination addresses no component may reach.
//!
//! Entries are CIDR networks (`"1.2.3.0/24"`, host bits are dropped as Spin does) or the keyword
//! `"private"`, which blocks every address that is not globally routable by the rules of the
//! `ip_network` crate Spin uses (`Ipv4Network::is_global`, `Ipv6Network::is_global`): loopback,
//! RFC 1918, shared (100.64/10), link-local, `0/8`, IETF assignments (192.0.0/24 except .9 and .10),
//! documentation, benchmarking (198.18/15), reserved (240/4), broadcast; IPv6 loopback, unspecified,
//! unique-local, link- and site-local, documentation and non-global multicast. IPv4-mapped and
//! -compatible IPv6 addresses are checked as their IPv4 address too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{anyhow, Result};
use ipnet::IpNet;

/// The blocked networks of an app; empty when the runtime config names none.
#[derive(Debug, Clone, Default)]
pub struct BlockedNetworks {
    networks: Vec<IpNet>,
    private: bool,
}

impl BlockedNetworks {
    /// Parses `block_networks` entries, naming the bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let mut blocked = Self::default();
        for entry in entries {
            let entry = entry.as_ref();
            if entry == "private" {
                blocked.private = true;
                continue;
            }
            let net: IpNet = entry.parse().map_err(|_| {
                anyhow!(
                    "{entry:?} is not an IP network in CIDR notation (e.g. \"10.0.0.0/8\", \
                     \"1.2.3.4/32\") or the keyword \"private\""
                )
            })?;
            blocked.networks.push(net.trunc());
        }
        Ok(blocked)
    }

    /// Whether no address is blocked.
    pub fn is_empty(&self) -> bool {
        !self.private && self.networks.is_empty()
    }

    /// Whether `ip` may not be reached.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.private && !is_global(ip) {
            return true;
        }
        if self.networks.iter().any(|net| net.contains(&ip)) {
            return true;
        }
        // Otherwise `::ffff:10.0.0.1` would slip past a block of 10.0.0.0/8.
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4()
                .is_some_and(|v4| self.is_blocked(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    /// Drops the blocked addresses from `addrs` and returns how many were dropped.
    pub fn remove_blocked(&self, addrs: &mut Vec<SocketAddr>) -> usize {
        let before = addrs.len();
        addrs.retain(|a| !self.is_blocked(a.ip()));
        before - addrs.len()
    }
}

fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    // The only two globally routable addresses among the IETF protocol assignments.
    if o == [192, 0, 0, 9] || o == [192, 0, 0, 10] {
        return true;
    }
    let local_identification = o[0] == 0;
    let ietf_assignments = o[0] == 192 && o[1] == 0 && o[2] == 0;
    let shared = o[0] == 100 && o[1] & 0xc0 == 64;
    let benchmarking = o[0] == 198 && o[1] & 0xfe == 18;
    let reserved = o[0] & 0xf0 == 240 && !ip.is_broadcast();
    !(local_identification
        || ip.is_private()
        || ietf_assignments
        || shared
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || benchmarking
        || reserved)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if ip.is_multicast() {
        // Scope 14 is global; unknown scopes count as unicast, which excludes multicast.
        return first & 0x000f == 14;
    }
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let site_local = first & 0xffc0 == 0xfec0;
    let documentation = first == 0x2001 && ip.segments()[1] == 0xdb8;
    !(ip.is_loopback()
        || link_local
        || site_local
        || unique_local
        || ip.is_unspecified()
        || documentation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidrs_block_their_range_and_mapped_addresses() {
        let blocked = BlockedNetworks::parse(&["123.123.1.1/16", "2001::/96"]).expect("parse");
        assert!(blocked.is_blocked(ip("123.123.123.123")));
        assert!(blocked.is_blocked(ip("2001::1000")));
        assert!(blocked.is_blocked(ip("::ffff:123.123.123.123")));
        assert!(!blocked.is_blocked(ip("123.100.100.100")));
        assert!(!blocked.is_blocked(ip("2002::1000")));
    }

    #[test]
    fn private_blocks_what_is_not_globally_routable() {
        let blocked = BlockedNetworks::parse(&["private"]).expect("parse");
        for private in [
            "0.0.0.0",
            "10.10.10.10",
            "100.64.1.1",
            "127.0.0.1",
            "169.254.0.1",
            "172.16.0.1",
            "192.0.0.1",
            "192.168.1.1",
            "198.18.0.1",
            "255.255.255.255",
            "::1",
            "::ffff:10.10.10.10",
            "::ffff:127.0.0.1",
            "fc00::f00d",
            "fe80::1",
        ] {
            assert!(blocked.is_blocked(ip(private)), "{private}");
        }
        for public in ["123.123.123.123", "192.0.0.9", "2600::beef", "8.8.8.8"] {
            assert!(!blocked.is_blocked(ip(public)), "{public}");
        }
    }

    #[test]
    fn only_blocked_addresses_are_removed() {
        let blocked = BlockedNetworks::parse(&["127.0.0.0/8"]).expect("parse");
        let mut addrs: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().expect("addr"),
            "[::1]:80".parse().expect("addr"),
        ];
        assert_eq!(blocked.remove_blocked(&mut addrs), 1);
        assert_eq!(addrs, ["[::1]:80".parse::<SocketAddr>().expect("addr")]);
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.1", "10.0.0.0/33", "Private", "example.com/8"] {
            let err = BlockedNetworks::parse(&[bad]).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
