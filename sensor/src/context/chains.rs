//! Hop chains: A→B on an admin port, then B→C on an admin port within the chain window, is one chain
//! A→B→C of two hops. Each internal host remembers the longest recent chain that reached it; a new
//! admin connection from that host extends it. The chain id stays the same along the path, so the
//! analyst can pull every alert of one intrusion path.
//!
//! A connection back into a host already on the chain (A→B→A) does not extend it (no loops); it
//! starts a new one-hop chain. Paths are capped at [`MAX_HOSTS`] hosts. Hosts are bounded by
//! [`BoundedMap`].
//!
//! Declared admin sources (management servers, vulnerability scanners) reach hosts as their job. Their
//! connections are one-hop chains but seed nothing: the hosts they reach do not count as reached, so a
//! host's own later admin connection stays a first hop. A chain that reached an admin source still
//! passes through it.

use std::net::IpAddr;
use std::sync::Arc;

use super::bounded::{BoundedMap, ip_bytes, secs, stable_hash};
use super::site::Prefix;
use crate::flow::HopChain;

pub const NAMES: &[&str] = &["ctx_chain_hops"];
pub const MAX_HOSTS: usize = 16;

#[derive(Debug, Clone)]
struct Reached {
    at_ns: u64,
    chain: Arc<HopChain>,
}

#[derive(Debug)]
pub struct Chains {
    /// Host (stable hash of its address) → the longest chain that reached it recently.
    reached: BoundedMap<Reached>,
    window_ns: u64,
    /// Sources whose admin reach is routine: their connections start no chain.
    admin_sources: Vec<Prefix>,
}

impl Chains {
    pub fn new(max_hosts: usize, window_ns: u64, admin_sources: Vec<Prefix>) -> Chains {
        Chains { reached: BoundedMap::new(max_hosts), window_ns, admin_sources }
    }

    /// An admin-port connection between internal hosts starts at `ts_ns`: the chain it extends or
    /// starts (shared with the host it reached, and with the flow's records).
    pub fn connect(&mut self, src: IpAddr, dst: IpAddr, ts_ns: u64) -> Arc<HopChain> {
        let src_key = stable_hash(&[&ip_bytes(src)]);
        let dst_key = stable_hash(&[&ip_bytes(dst)]);
        let window = self.window_ns;
        let prev = self
            .reached
            .get(src_key)
            .filter(|r| r.at_ns <= ts_ns && ts_ns - r.at_ns <= window && !r.chain.hosts.contains(&dst));
        let routine = prev.is_none() && self.admin_sources.iter().any(|p| p.contains(src));
        let chain = match prev {
            Some(r) if r.chain.hosts.len() < MAX_HOSTS => {
                let mut hosts = r.chain.hosts.clone();
                hosts.push(dst);
                Arc::new(HopChain { id: r.chain.id, hosts })
            }
            Some(r) => r.chain.clone(),
            None => Arc::new(HopChain {
                id: stable_hash(&[&ip_bytes(src), &ip_bytes(dst), &ts_ns.to_be_bytes()]),
                hosts: vec![src, dst],
            }),
        };
        if routine {
            return chain;
        }
        let now_s = secs(ts_ns);
        let (slot, created) = self.reached.entry(dst_key, now_s, || Reached { at_ns: ts_ns, chain: chain.clone() });
        let stale = ts_ns.saturating_sub(slot.at_ns) > window;
        if !created && (stale || chain.hops() >= slot.chain.hops()) {
            *slot = Reached { at_ns: ts_ns, chain: chain.clone() };
        }
        chain
    }

    /// Heap bytes held, approximately (a chain shared by several hosts is counted for each).
    pub fn memory_bytes(&self) -> usize {
        // The shared chain: its two reference counts, the chain and its host list.
        let chain_bytes = |c: &HopChain| {
            2 * std::mem::size_of::<usize>()
                + std::mem::size_of::<HopChain>()
                + c.hosts.capacity() * std::mem::size_of::<IpAddr>()
        };
        self.reached.table_bytes() + self.reached.values().map(|r| chain_bytes(&r.chain)).sum::<usize>()
    }

    /// Entries held.
    pub fn entries(&self) -> usize {
        self.reached.len()
    }

    pub fn evicted(&self) -> u64 {
        self.reached.evicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_to_b_to_c_is_two_hops_with_one_id() {
        let mut c = Chains::new(64, 3600 * S, Vec::new());
        let ab = c.connect(ip("10.0.0.1"), ip("10.0.0.2"), 100 * S);
        let bc = c.connect(ip("10.0.0.2"), ip("10.0.0.3"), 200 * S);
        let cd = c.connect(ip("10.0.0.3"), ip("10.0.0.4"), 300 * S);
        assert_eq!(ab.hops(), 1);
        assert_eq!(bc.hops(), 2);
        assert_eq!(cd.hops(), 3);
        assert_eq!(ab.id, bc.id);
        assert_eq!(bc.id, cd.id);
        assert_eq!(cd.hosts, vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")]);
    }

    #[test]
    fn chains_expire_and_do_not_loop() {
        let mut c = Chains::new(64, 600 * S, Vec::new());
        c.connect(ip("10.0.0.1"), ip("10.0.0.2"), 100 * S);
        // B→C an hour later: outside the 10-minute window, a new chain.
        let late = c.connect(ip("10.0.0.2"), ip("10.0.0.3"), 3700 * S);
        assert_eq!(late.hops(), 1);
        // C→B back: B is on the chain already, so a fresh one-hop chain.
        let back = c.connect(ip("10.0.0.3"), ip("10.0.0.2"), 3710 * S);
        assert_eq!(back.hops(), 1);
        assert_ne!(back.id, late.id);
    }

    #[test]
    fn a_host_keeps_its_longest_recent_chain() {
        let mut c = Chains::new(64, 3600 * S, Vec::new());
        c.connect(ip("10.0.0.1"), ip("10.0.0.2"), 100 * S);
        c.connect(ip("10.0.0.2"), ip("10.0.0.3"), 110 * S);
        // A fresh one-hop connection into C does not hide the two-hop chain that reached it.
        c.connect(ip("10.0.0.9"), ip("10.0.0.3"), 120 * S);
        assert_eq!(c.connect(ip("10.0.0.3"), ip("10.0.0.4"), 130 * S).hops(), 3);
    }

    #[test]
    fn declared_admin_sources_seed_no_chains_but_chains_pass_through_them() {
        let mgmt = ip("10.0.0.50");
        let mut c = Chains::new(64, 3600 * S, vec![Prefix::parse("10.0.0.50/32").unwrap()]);
        // The management server's routine reach is a one-hop chain that seeds nothing.
        assert_eq!(c.connect(mgmt, ip("10.0.0.2"), 100 * S).hops(), 1);
        assert_eq!(c.connect(ip("10.0.0.2"), ip("10.0.0.3"), 110 * S).hops(), 1);
        // Without the declaration the same reach makes B→C a second hop.
        let mut plain = Chains::new(64, 3600 * S, Vec::new());
        plain.connect(mgmt, ip("10.0.0.2"), 100 * S);
        assert_eq!(plain.connect(ip("10.0.0.2"), ip("10.0.0.3"), 110 * S).hops(), 2);
        // An intruder who reached the management server still chains through it.
        c.connect(ip("10.0.0.9"), mgmt, 200 * S);
        let on = c.connect(mgmt, ip("10.0.0.4"), 210 * S);
        assert_eq!(on.hops(), 2);
        assert_eq!(c.connect(ip("10.0.0.4"), ip("10.0.0.5"), 220 * S).hops(), 3);
    }

    #[test]
    fn paths_are_capped() {
        let mut c = Chains::new(256, 3600 * S, Vec::new());
        let mut last = None;
        for i in 1..40u8 {
            last = Some(c.connect(IpAddr::from([10, 0, 1, i]), IpAddr::from([10, 0, 1, i + 1]), u64::from(i) * S));
        }
        assert_eq!(last.unwrap().hosts.len(), MAX_HOSTS);
    }
}
