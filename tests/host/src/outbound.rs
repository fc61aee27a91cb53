//! `allowed_outbound_hosts`: which outgoing HTTP requests a component may make.
//!
//! Pattern syntax as in Spin: `scheme://host[:port]`, where the scheme may be `*`, the host may be
//! `*`, `*.suffix` or a name/IP, and the port may be `*`, a number or a range `a..b`. A missing port
//! means the scheme's default (80 for http, 443 for https). `"self"`/`http://self` names the app
//! itself.

use std::fmt;

use anyhow::{anyhow, bail, Result};

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    ports: PortMatch,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Suffix(String),
    Exact(String),
    SelfApp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortMatch {
    Any,
    /// `lo..hi`, `hi` excluded (a single port `p` is `p..p+1`).
    Range(u16, u32),
}

impl HostPattern {
    /// Parses one entry.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let text = text.strip_suffix('/').unwrap_or(text);
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| {
                anyhow!("{text:?} does not contain a scheme (e.g. 'http://' or '*://'): write `https://{text}`")
            })?;
        if scheme.is_empty() {
            bail!("{text:?} has an empty scheme");
        }
        if rest.contains('/') {
            bail!("{text:?} has a path: allowed hosts name a scheme, host and port only");
        }
        let (host, port) = split_host_port(rest);
        if host.is_empty() {
            bail!("{text:?} has no host");
        }
        let host = match host {
            "*" => HostMatch::Any,
            "self" => HostMatch::SelfApp,
            h if h.starts_with("*.") => HostMatch::Suffix(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => bail!("{text:?}: a wildcard must be the whole host or `*.`"),
            h => HostMatch::Exact(h.to_ascii_lowercase()),
        };
        let ports = match port {
            Some("*") => PortMatch::Any,
            Some(p) => parse_port_range(p).ok_or_else(|| anyhow!("{text:?}: bad port {p:?}"))?,
            None => match default_port(scheme) {
                Some(p) => PortMatch::Range(p, u32::from(p) + 1),
                None if matches!(host, HostMatch::SelfApp) => PortMatch::Any,
                None => bail!("{text:?}: scheme {scheme:?} has no default port, name one"),
            },
        };
        Ok(Self {
            scheme: (scheme != "*").then(|| scheme.to_ascii_lowercase()),
            host,
            ports,
            text: text.into(),
        })
    }

    /// Whether a request to `scheme://host:port` matches. `is_self` is true when the target is
    /// the app's own listen address.
    pub fn allows(&self, scheme: &str, host: &str, port: u16, is_self: bool) -> bool {
        if let Some(s) = &self.scheme {
            if !s.eq_ignore_ascii_case(scheme) {
                return false;
            }
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Suffix(suffix) => host.ends_with(suffix.as_str()),
            HostMatch::Exact(h) => *h == host,
            HostMatch::SelfApp => is_self,
        };
        let port_ok = match self.ports {
            PortMatch::Any => true,
            PortMatch::Range(lo, hi) => u32::from(port) >= u32::from(lo) && u32::from(port) < hi,
        };
        host_ok && port_ok
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split_host_port(rest: &str) -> (&str, Option<&str>) {
    // IPv6 literals carry colons inside brackets.
    if let Some(end) = rest.strip_prefix('[').and_then(|r| r.find(']')) {
        let host = &rest[1..=end];
        let after = &rest[end + 2..];
        return (host, after.strip_prefix(':'));
    }
    match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    }
}

fn parse_port_range(p: &str) -> Option<PortMatch> {
    match p.split_once("..") {
        Some((lo, hi)) => {
            let (lo, hi): (u16, u16) = (lo.parse().ok()?, hi.parse().ok()?);
            (lo < hi).then_some(PortMatch::Range(lo, u32::from(hi)))
        }
        None => p
            .parse::<u16>()
            .ok()
            .map(|n| PortMatch::Range(n, u32::from(n) + 1)),
    }
}

/// The default port of a URL scheme.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// A component's outbound policy.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    patterns: Vec<HostPattern>,
}

impl OutboundPolicy {
    /// Parses every entry, naming the bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let patterns = entries
            .iter()
            .map(|e| HostPattern::parse(e.as_ref()))
            .collect::<Result<_>>()?;
        Ok(Self { patterns })
    }

    /// Whether the request may go out.
    pub fn allows(&self, scheme: &str, host: &str, port: u16, is_self: bool) -> bool {
        self.patterns
            .iter()
            .any(|p| p.allows(scheme, host, port, is_self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, scheme: &str, host: &str, port: u16) -> bool {
        HostPattern::parse(pattern)
            .expect("pattern")
            .allows(scheme, host, port, false)
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert!(allows("https://example.com", "https", "example.com", 443));
        assert!(!allows("https://example.com", "https", "example.com", 8443));
        assert!(!allows("https://example.com", "http", "example.com", 443));
        assert!(allows("http://example.com", "http", "EXAMPLE.com", 80));
    }

    #[test]
    fn wildcards_cover_hosts_ports_and_schemes() {
        assert!(allows(
            "https://*.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "example.org",
            443
        ));
        assert!(allows("http://127.0.0.1:*", "http", "127.0.0.1", 9000));
        assert!(allows("*://*:*", "https", "anything", 1));
        assert!(allows(
            "http://localhost:8000..8010",
            "http",
            "localhost",
            8005
        ));
        assert!(!allows(
            "http://localhost:8000..8010",
            "http",
            "localhost",
            8010
        ));
        assert!(allows("http://[::1]:8080", "http", "::1", 8080));
    }

    #[test]
    fn malformed_patterns_are_named() {
        for bad in [
            "example.com",
            "self",
            "https://",
            "https://a.com/path",
            "https://a.*.com",
            "ftp://a",
            "*://a",
        ] {
            let err = HostPattern::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
