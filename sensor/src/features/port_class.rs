//! Service family: the transport protocol and the class of the responder's port, one-hot.
//!
//! Ports and addresses are identifiers, not features: a model must not learn a lab's addresses. The
//! responder port is reduced to a small class instead.

pub const NAMES: &[&str] = &[
    "proto_tcp",
    "proto_udp",
    "proto_icmp",
    "dst_port_admin",
    "dst_port_web",
    "dst_port_dns",
    "dst_port_directory",
    "dst_port_other_system",
    "dst_port_registered",
    "dst_port_dynamic",
];

/// Class of a responder port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClass {
    /// Remote administration: SSH 22, RPC 135, NetBIOS 139, SMB 445, RDP 3389, WinRM 5985/5986.
    Admin,
    /// HTTP(S) and common alternates: 80, 443, 8080, 8443.
    Web,
    /// DNS 53, DNS over TLS 853, mDNS 5353, LLMNR 5355.
    Dns,
    /// Directory and authentication: Kerberos 88/464, LDAP 389/636, global catalog 3268/3269.
    Directory,
    /// Any other port below 1024.
    OtherSystem,
    /// 1024–49151.
    Registered,
    /// 49152–65535 (includes RPC dynamic ports).
    Dynamic,
}

impl PortClass {
    pub fn of(port: u16) -> PortClass {
        match port {
            22 | 135 | 139 | 445 | 3389 | 5985 | 5986 => PortClass::Admin,
            80 | 443 | 8080 | 8443 => PortClass::Web,
            53 | 853 | 5353 | 5355 => PortClass::Dns,
            88 | 464 | 389 | 636 | 3268 | 3269 => PortClass::Directory,
            0..=1023 => PortClass::OtherSystem,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PortClass::Admin => "admin",
            PortClass::Web => "web",
            PortClass::Dns => "dns",
            PortClass::Directory => "directory",
            PortClass::OtherSystem => "other_system",
            PortClass::Registered => "registered",
            PortClass::Dynamic => "dynamic",
        }
    }
}

/// `responder_port` is None for protocols without ports (ICMP, GRE, ...): all port classes are 0.
pub fn write(proto: u8, responder_port: Option<u16>, out: &mut Vec<f64>) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    out.extend([flag(proto == 6), flag(proto == 17), flag(proto == 1 || proto == 58)]);
    let class = responder_port.map(PortClass::of);
    for c in [
        PortClass::Admin,
        PortClass::Web,
        PortClass::Dns,
        PortClass::Directory,
        PortClass::OtherSystem,
        PortClass::Registered,
        PortClass::Dynamic,
    ] {
        out.push(flag(class == Some(c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(PortClass::of(445), PortClass::Admin);
        assert_eq!(PortClass::of(5986), PortClass::Admin);
        assert_eq!(PortClass::of(443), PortClass::Web);
        assert_eq!(PortClass::of(88), PortClass::Directory);
        assert_eq!(PortClass::of(123), PortClass::OtherSystem);
        assert_eq!(PortClass::of(8000), PortClass::Registered);
        assert_eq!(PortClass::of(49667), PortClass::Dynamic);
    }

    #[test]
    fn one_hot() {
        let mut out = Vec::new();
        write(6, Some(135), &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        out.clear();
        write(1, None, &mut out);
        assert_eq!(out.iter().sum::<f64>(), 1.0);
        assert_eq!(out.len(), NAMES.len());
    }
}
