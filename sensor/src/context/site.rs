//! The site's own networks: which addresses are internal, and so where a flow runs (outbound,
//! inbound, internal, external).

use std::net::IpAddr;

use crate::flow::NetDirection;

/// Default site networks: RFC 1918, RFC 6598 (carrier-grade NAT), IPv6 unique local addresses.
pub const DEFAULT_SITE_NETWORKS: &[&str] =
    &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/// One network prefix, e.g. `10.0.0.0/8` or `fd00::/8`. IPv4 prefixes are held as IPv4-mapped IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: u128,
    mask: u128,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrefixError {
    #[error("{0:?} is not a network prefix (expected ADDRESS/LENGTH, e.g. 10.0.0.0/8 or fd00::/8)")]
    Syntax(String),
    #[error("{0:?}: prefix length {1} is longer than the address ({2} bits)")]
    Length(String, u32, u32),
    #[error("{0:?}: address has bits set past the prefix length (did you mean {1}?)")]
    HostBits(String, String),
}

impl Prefix {
    pub fn parse(s: &str) -> Result<Prefix, PrefixError> {
        let (addr, len) = s.trim().split_once('/').ok_or_else(|| PrefixError::Syntax(s.into()))?;
        let ip: IpAddr = addr.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        let len: u32 = len.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        let (bits, max) = match ip {
            IpAddr::V4(_) => (len + 96, 32),
            IpAddr::V6(_) => (len, 128),
        };
        if len > max {
            return Err(PrefixError::Length(s.into(), len, max));
        }
        let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
        let addr = to_u128(ip);
        if addr & !mask != 0 {
            let net = from_u128(addr & mask, ip.is_ipv4());
            return Err(PrefixError::HostBits(s.into(), format!("{net}/{len}")));
        }
        Ok(Prefix { addr, mask })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        to_u128(ip) & self.mask == self.addr
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from_be_bytes(v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => u128::from_be_bytes(v6.octets()),
    }
}

fn from_u128(v: u128, v4: bool) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(v);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(a)) => IpAddr::V4(a),
        _ => IpAddr::V6(v6),
    }
}

/// The configured internal networks.
#[derive(Debug, Clone)]
pub struct Site {
    prefixes: Vec<Prefix>,
}

impl Site {
    pub fn new(networks: &[String]) -> Result<Site, PrefixError> {
        Ok(Site { prefixes: networks.iter().map(|n| Prefix::parse(n)).collect::<Result<_, _>>()? })
    }

    pub fn default_networks() -> Site {
        Site { prefixes: DEFAULT_SITE_NETWORKS.iter().map(|n| Prefix::parse(n).expect("valid default")).collect() }
    }

    #[inline]
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.prefixes.iter().any(|p| p.contains(ip))
    }

    pub fn direction(&self, src: IpAddr, dst: IpAddr) -> NetDirection {
        match (self.is_internal(src), self.is_internal(dst)) {
            (true, true) => NetDirection::Internal,
            (true, false) => NetDirection::Outbound,
            (false, true) => NetDirection::Inbound,
            (false, false) => NetDirection::External,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_classify_private_ranges() {
        let site = Site::default_networks();
        assert_eq!(site.direction(ip("10.1.2.3"), ip("198.18.0.7")), NetDirection::Outbound);
        assert_eq!(site.direction(ip("10.1.2.3"), ip("192.168.4.4")), NetDirection::Internal);
        assert_eq!(site.direction(ip("8.8.8.8"), ip("172.16.0.1")), NetDirection::Inbound);
        assert_eq!(site.direction(ip("100.64.0.1"), ip("fd00::1")), NetDirection::Internal);
        assert_eq!(site.direction(ip("2001:db8::1"), ip("8.8.8.8")), NetDirection::External);
        assert_eq!(site.direction(ip("172.32.0.1"), ip("10.0.0.1")), NetDirection::Inbound);
        assert!(!site.is_internal(ip("100.128.0.1")));
    }

    #[test]
    fn configured_networks_replace_the_defaults() {
        let site = Site::new(&["198.51.100.0/24".into(), "2001:db8:1::/48".into()]).unwrap();
        assert!(site.is_internal(ip("198.51.100.200")));
        assert!(!site.is_internal(ip("10.0.0.1")));
        assert!(site.is_internal(ip("2001:db8:1:ffff::1")));
        assert!(!site.is_internal(ip("2001:db8:2::1")));
        // An IPv4 prefix never matches an IPv6 address outside the mapped range.
        assert!(!site.is_internal(ip("::c633:6401")));
        assert!(Site::new(&["0.0.0.0/0".into()]).unwrap().is_internal(ip("8.8.8.8")));
    }

    #[test]
    fn bad_prefixes_are_named() {
        assert_eq!(Prefix::parse("10.0.0.0"), Err(PrefixError::Syntax("10.0.0.0".into())));
        assert_eq!(Prefix::parse("10.0.0.0/33"), Err(PrefixError::Length("10.0.0.0/33".into(), 33, 32)));
        assert_eq!(Prefix::parse("10.0.0.1/8"), Err(PrefixError::HostBits("10.0.0.1/8".into(), "10.0.0.0/8".into())));
        assert!(matches!(Prefix::parse("fd00::/200"), Err(PrefixError::Length(..))));
    }
}
