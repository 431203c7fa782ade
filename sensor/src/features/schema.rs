//! The feature schema (a contract): the ordered feature names of a schema version and their hash.
//!
//! The hash is the SHA-256 of the schema id and the names, each followed by a newline, in lowercase hex.
//! A model records the schema id and hash it was trained on; the sensor refuses a model whose features
//! it cannot produce.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{bulk, dns, early, icmp, port_class, rates, tcp, timing, volume};

pub struct Schema {
    pub id: &'static str,
    pub names: Vec<String>,
    pub hash: String,
}

impl Schema {
    fn new(id: &'static str, names: Vec<String>) -> Schema {
        let mut h = Sha256::new();
        h.update(id.as_bytes());
        h.update(b"\n");
        for n in &names {
            h.update(n.as_bytes());
            h.update(b"\n");
        }
        let hash = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Schema { id, names, hash }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

static FLOW_V1: LazyLock<Schema> = LazyLock::new(|| {
    let mut names: Vec<String> = Vec::new();
    let mut add = |list: &[&str]| names.extend(list.iter().map(|s| s.to_string()));
    add(volume::NAMES);
    add(timing::NAMES);
    add(rates::NAMES);
    add(tcp::NAMES);
    add(bulk::NAMES);
    names.extend(early::names());
    let mut add = |list: &[&str]| names.extend(list.iter().map(|s| s.to_string()));
    add(port_class::NAMES);
    add(dns::DnsFeatures::NAMES);
    add(icmp::IcmpFeatures::NAMES);
    Schema::new("flow-v1", names)
});

static FLOW_V2: LazyLock<Schema> = LazyLock::new(|| {
    let mut names = FLOW_V1.names.clone();
    names.extend(crate::context::names().iter().map(|s| s.to_string()));
    Schema::new("flow-v2", names)
});

/// Schema `flow-v1`: the per-flow features (what the flow table writes).
pub fn flow_v1() -> &'static Schema {
    &FLOW_V1
}

/// Schema `flow-v2`: `flow-v1` followed by the behavioural context features
/// ([`crate::context::names`]). The records of the pipeline carry this schema.
pub fn flow_v2() -> &'static Schema {
    &FLOW_V2
}

/// The schema of this build's records.
pub fn current() -> &'static Schema {
    flow_v2()
}

/// Every schema a model may have been trained on and this build can still serve: each is a prefix of
/// [`current`], so its features map by name.
pub fn known() -> [&'static Schema; 2] {
    [flow_v1(), flow_v2()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_carry_no_identifiers() {
        let s = flow_v1();
        let mut seen = std::collections::HashSet::new();
        for n in &s.names {
            assert!(seen.insert(n), "duplicate feature {n}");
            for banned in ["src_ip", "dst_ip", "src_port", "dst_port\0", "addr"] {
                assert!(!n.contains(banned), "{n} looks like an identifier");
            }
        }
        assert_eq!(s.hash.len(), 64);
    }

    #[test]
    fn v2_extends_v1() {
        let (v1, v2) = (flow_v1(), flow_v2());
        assert_eq!(&v2.names[..v1.len()], &v1.names[..]);
        assert_eq!(v2.len(), v1.len() + crate::context::names_len());
        assert!(v2.names[v1.len()..].iter().all(|n| n.starts_with("ctx_")));
        assert_ne!(v1.hash, v2.hash);
        let mut seen = std::collections::HashSet::new();
        assert!(v2.names.iter().all(|n| seen.insert(n)), "duplicate names in flow-v2");
    }
}
