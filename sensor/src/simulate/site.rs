//! The simulated site: subnets, hosts with roles, and the outside world they talk to.
//!
//! Internal addresses are RFC 1918 (workstations 10.10.0.0/16, servers 10.20.0.0/24); the "internet"
//! is 198.18.0.0/15 (reserved for benchmarking, never routed, outside every site network), split into
//! CDNs, SaaS, cloud storage, update servers, media relays and rare hosts. Names are under example
//! domains.

use std::net::Ipv4Addr;

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Windows,
    Linux,
}

impl Os {
    /// Initial TTL of the operating system's packets.
    pub fn ttl(self) -> u8 {
        match self {
            Os::Windows => 128,
            Os::Linux => 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub ip: Ipv4Addr,
    pub os: Os,
    pub name: String,
}

/// An outside destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub ip: Ipv4Addr,
    pub name: String,
    /// Round trip from the site, ns.
    pub rtt_ns: u64,
    /// Hops from the site (its packets arrive with TTL 64 − hops).
    pub hops: u8,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub domain: String,
    pub workstations: Vec<Host>,
    pub domain_controllers: Vec<Host>,
    pub file_servers: Vec<Host>,
    pub backup: Host,
    pub jump_hosts: Vec<Host>,
    pub monitoring: Host,
    pub scanner: Host,
    pub app_servers: Vec<Host>,
    pub cdn: Vec<External>,
    pub saas: Vec<External>,
    pub cloud_storage: Vec<External>,
    pub updates: Vec<External>,
    pub media: Vec<External>,
    /// Hosts nobody on the site normally talks to (where attackers keep their servers).
    pub rare: Vec<External>,
}

fn host(ip: Ipv4Addr, os: Os, name: String) -> Host {
    Host { ip, os, name }
}

fn externals(
    rng: &mut Rng,
    base: [u8; 3],
    count: u8,
    name: &dyn Fn(u8) -> String,
    rtt_ms: (u64, u64),
) -> Vec<External> {
    (1..=count)
        .map(|i| External {
            ip: Ipv4Addr::new(base[0], base[1], base[2], i),
            name: name(i),
            rtt_ns: rng.range(rtt_ms.0, rtt_ms.1) * 1_000_000,
            hops: rng.range(8, 20) as u8,
        })
        .collect()
}

impl Site {
    /// The authorised vulnerability scanner's address (VULNSCAN01), the same on every simulated site.
    pub const SCANNER: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 60);
    /// The management server's address (MGMT01: WinRM to workstations), the same on every simulated site.
    pub const MANAGEMENT: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 50);

    /// A site with `workstations` workstations (at most 65,000) and its servers.
    pub fn new(workstations: u32, rng: &mut Rng) -> Site {
        let workstations = workstations.clamp(1, 65_000);
        let ws = (0..workstations)
            .map(|i| {
                let n = i + 10;
                let os = if i % 20 == 19 { Os::Linux } else { Os::Windows };
                host(Ipv4Addr::new(10, 10, (n >> 8) as u8, n as u8), os, format!("WS{:05}", i + 1))
            })
            .collect();
        let server = |last: u8, os: Os, name: &str| host(Ipv4Addr::new(10, 20, 0, last), os, name.to_string());
        let file_servers = (workstations / 200).clamp(1, 8) as u8;
        let app_servers = (workstations / 100).clamp(2, 20) as u8;
        Site {
            domain: "corp.example".to_string(),
            workstations: ws,
            domain_controllers: vec![server(10, Os::Windows, "DC01"), server(11, Os::Windows, "DC02")],
            file_servers: (0..file_servers).map(|i| server(20 + i, Os::Windows, &format!("FS{:02}", i + 1))).collect(),
            backup: server(30, Os::Linux, "BACKUP01"),
            jump_hosts: vec![server(40, Os::Windows, "JUMP01"), server(41, Os::Linux, "JUMP02")],
            monitoring: host(Site::MANAGEMENT, Os::Windows, "MGMT01".to_string()),
            scanner: host(Site::SCANNER, Os::Linux, "VULNSCAN01".to_string()),
            app_servers: (0..app_servers).map(|i| server(100 + i, Os::Linux, &format!("APP{:02}", i + 1))).collect(),
            cdn: externals(rng, [198, 18, 1], 40, &|i| format!("edge{i}.cdn.example.net"), (5, 30)),
            saas: externals(rng, [198, 18, 16], 20, &|i| format!("app{i}.saas.example.com"), (15, 60)),
            cloud_storage: externals(rng, [198, 18, 32], 10, &|i| format!("bucket{i}.storage.example.com"), (10, 50)),
            updates: externals(rng, [198, 18, 48], 6, &|i| format!("dl{i}.updates.example.org"), (10, 40)),
            media: externals(rng, [198, 18, 52], 8, &|i| format!("relay{i}.meet.example.com"), (10, 40)),
            rare: externals(rng, [198, 19, 7], 200, &|i| format!("h{i}.rare-{i}.example"), (40, 200)),
        }
    }

    /// Every internal host.
    pub fn internal_hosts(&self) -> impl Iterator<Item = &Host> {
        self.workstations
            .iter()
            .chain(&self.domain_controllers)
            .chain(&self.file_servers)
            .chain([&self.backup, &self.monitoring, &self.scanner])
            .chain(&self.jump_hosts)
            .chain(&self.app_servers)
    }

    /// Servers a workstation may reach on admin ports in ordinary work (not other workstations).
    pub fn servers(&self) -> impl Iterator<Item = &Host> {
        self.domain_controllers.iter().chain(&self.file_servers).chain(&self.app_servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_and_internal_or_benchmark_range() {
        let site = Site::new(1000, &mut Rng::new(1));
        let mut ips: Vec<Ipv4Addr> = site.internal_hosts().map(|h| h.ip).collect();
        assert!(ips.iter().all(|ip| ip.is_private()));
        let outside: Vec<Ipv4Addr> =
            [&site.cdn, &site.saas, &site.cloud_storage, &site.updates, &site.media, &site.rare]
                .iter()
                .flat_map(|v| v.iter().map(|e| e.ip))
                .collect();
        assert!(outside.iter().all(|ip| ip.octets()[0] == 198 && (18..=19).contains(&ip.octets()[1])));
        ips.extend(outside);
        let n = ips.len();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), n);
        assert_eq!(site.workstations.len(), 1000);
    }
}
