//! Which destinations deliveries may go to: public hosts only, unless the deployment allows
//! loopback and private addresses (tests, local development).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT: not reachable from the internet either.
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (IETF protocol assignments), 198.18.0.0/15 (benchmarking), 240.0.0.0/4.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let segments = ip.segments();
    let first = segments[0];
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Addresses that carry an IPv4 address reach it: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
    // the deprecated IPv4-compatible form (::a.b.c.d).
    let carries_v4 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0; 6];
    if carries_v4 && private_v4(embedded(segments[6], segments[7])) {
        return true;
    }
    if first == 0x2002 && private_v4(embedded(segments[1], segments[2])) {
        return true;
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed internally)
}

/// Refuses deliveries to loopback, private and link-local addresses (IP literals and
/// `localhost`) unless `allow_private` (tests, local development). Names that resolve to such
/// addresses are for the runtime to refuse (Spin's `block_networks = ["private"]`).
pub fn check_destination(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if allow_private {
        return Ok(());
    }
    let private = match url.host() {
        Some(url::Host::Ipv4(ip)) => private_v4(ip),
        Some(url::Host::Ipv6(ip)) => private_v6(ip),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => true,
    };
    if private {
        return Err(format!(
            "{} is a loopback, private or link-local address; deliveries go to public hosts only",
            url.host_str().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Whether an IP address is one [`check_destination`] refuses.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_destinations_are_refused_unless_allowed() {
        for bad in [
            "https://localhost/x",
            "https://api.localhost/x",
            "https://127.0.0.1:8443/x",
            "https://2130706433/x",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:a00:1::]/",
            "https://[::10.0.0.1]/",
            "https://[fec0::1]/",
            "https://198.18.0.1/",
        ] {
            assert!(check_destination(bad, false).is_err(), "{bad}");
            assert!(check_destination(bad, true).is_ok(), "{bad}");
        }
        for good in [
            "https://hooks.example.com/x",
            "https://8.8.8.8/",
            "https://[2001:db8::1]/",
        ] {
            assert!(check_destination(good, false).is_ok(), "{good}");
        }
    }
}
