//! The feature schema (a contract): the ordered feature names of a schema version and their hash.
//!
//! The hash is the SHA-256 of the schema id and the names, each followed by a newline, in lowercase hex.
//! A model records the schema id and hash it was trained on; the sensor refuses a model whose features
//! it cannot produce.
//!
//! Each schema extends the one before it, so every older schema is a prefix of the current one and
//! its models keep loading: `flow-v1` (per-flow features), `flow-v2` (+ context), `flow-v3`
//! (+ authentication per flow, + authentication failures per source), `flow-v4` (+ the clients of an
//! internal destination's service), `flow-v5` (+ RPC interfaces and administrative shares per flow).
//! A record of the current
//! schema therefore interleaves per-flow and context features; [`layout`] says which stage writes
//! where.

use std::ops::Range;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{auth, bulk, dns, early, icmp, port_class, rates, rpc, tcp, timing, volume};

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
    names.extend(crate::context::names_v2().iter().map(|s| s.to_string()));
    Schema::new("flow-v2", names)
});

static FLOW_V3: LazyLock<Schema> = LazyLock::new(|| {
    let mut names = FLOW_V2.names.clone();
    names.extend(auth::AuthFeatures::NAMES.iter().map(|s| s.to_string()));
    names.extend(crate::context::names_v3().iter().map(|s| s.to_string()));
    Schema::new("flow-v3", names)
});

static FLOW_V4: LazyLock<Schema> = LazyLock::new(|| {
    let mut names = FLOW_V3.names.clone();
    names.extend(crate::context::names_v4().iter().map(|s| s.to_string()));
    Schema::new("flow-v4", names)
});

static FLOW_V5: LazyLock<Schema> = LazyLock::new(|| {
    let mut names = FLOW_V4.names.clone();
    names.extend(rpc::RpcFeatures::NAMES.iter().map(|s| s.to_string()));
    Schema::new("flow-v5", names)
});

/// Where the stages write in a record of [`current`]: the flow table writes every feature outside the
/// context ranges (and NaN inside them), the context stage fills the context ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The context features of `flow-v2`.
    pub context_v2: Range<usize>,
    /// The per-flow features added in `flow-v3` (authentication).
    pub flow_v3: Range<usize>,
    /// The context features added in `flow-v3` (authentication failures per source).
    pub context_v3: Range<usize>,
    /// The context features added in `flow-v4` (clients of an internal service).
    pub context_v4: Range<usize>,
    /// The per-flow features added in `flow-v5` (RPC interfaces, administrative shares).
    pub flow_v5: Range<usize>,
}

static LAYOUT: LazyLock<Layout> = LazyLock::new(|| {
    let context_v2 = FLOW_V1.len()..FLOW_V2.len();
    let flow_v3 = FLOW_V2.len()..FLOW_V2.len() + auth::AuthFeatures::NAMES.len();
    let context_v3 = flow_v3.end..FLOW_V3.len();
    let context_v4 = FLOW_V3.len()..FLOW_V4.len();
    let flow_v5 = FLOW_V4.len()..FLOW_V5.len();
    Layout { context_v2, flow_v3, context_v3, context_v4, flow_v5 }
});

/// Schema `flow-v1`: the per-flow features (what the flow table writes).
pub fn flow_v1() -> &'static Schema {
    &FLOW_V1
}

/// Schema `flow-v2`: `flow-v1` followed by the behavioural context features
/// ([`crate::context::names_v2`]).
pub fn flow_v2() -> &'static Schema {
    &FLOW_V2
}

/// Schema `flow-v3`: `flow-v2` followed by the authentication features of the flow
/// ([`auth::AuthFeatures::NAMES`]) and the authentication failures of its source
/// ([`crate::context::names_v3`]).
pub fn flow_v3() -> &'static Schema {
    &FLOW_V3
}

/// Schema `flow-v4`: `flow-v3` followed by [`crate::context::names_v4`].
pub fn flow_v4() -> &'static Schema {
    &FLOW_V4
}

/// Schema `flow-v5`: `flow-v4` followed by the RPC features of the flow ([`rpc::RpcFeatures::NAMES`]).
/// The records of the pipeline carry this schema.
pub fn flow_v5() -> &'static Schema {
    &FLOW_V5
}

/// The schema of this build's records.
pub fn current() -> &'static Schema {
    flow_v5()
}

/// Which stage writes which features of a [`current`] record.
pub fn layout() -> &'static Layout {
    &LAYOUT
}

/// Every schema a model may have been trained on and this build can still serve: each is a prefix of
/// [`current`], so its features map by name.
pub fn known() -> [&'static Schema; 5] {
    [flow_v1(), flow_v2(), flow_v3(), flow_v4(), flow_v5()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of `flow-v2` as released (before `flow-v3` existed).
    const V2_HASH: &str = "32a9c1e0c0b692047bfb03cb197a3d944fcdf56a9ca38cfa760ec75ff93f1df9";
    /// The hash of `flow-v3` as released (before `flow-v4` existed).
    const V3_HASH: &str = "9b964638440eda13c88885066d164b0f1b7f246bc32c872e8e82ab4eed51a931";
    /// The hash of `flow-v4` as released (before `flow-v5` existed).
    const V4_HASH: &str = "5d736233466d77f18c53fbef1036a735c7b04381deac8fa72a31914b6a1c4dc2";

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
        assert_eq!(v2.len(), v1.len() + crate::context::names_v2().len());
        assert!(v2.names[v1.len()..].iter().all(|n| n.starts_with("ctx_")));
        assert_ne!(v1.hash, v2.hash);
        let mut seen = std::collections::HashSet::new();
        assert!(v2.names.iter().all(|n| seen.insert(n)), "duplicate names in flow-v2");
    }

    #[test]
    fn v3_extends_v2_with_authentication() {
        let (v1, v2, v3) = (flow_v1(), flow_v2(), flow_v3());
        assert_eq!(&v3.names[..v2.len()], &v2.names[..]);
        assert_eq!(
            &v3.names[v2.len()..],
            [
                "auth_attempts",
                "auth_failures",
                "ctx_src_auth_failures_5m",
                "ctx_src_auth_failures_1h",
                "ctx_src_auth_fail_dsts_1h"
            ]
        );
        assert_eq!((v1.len(), v2.len(), v3.len()), (126, 156, 161));
        assert!(v1.hash != v3.hash && v2.hash != v3.hash);
        let mut seen = std::collections::HashSet::new();
        assert!(v3.names.iter().all(|n| seen.insert(n)), "duplicate names in flow-v3");
        // Pinned: a v1 or v2 model records its schema's hash; adding v3 must not change them.
        assert_eq!(v2.hash, V2_HASH);
    }

    #[test]
    fn v4_extends_v3_with_service_clients() {
        let (v3, v4) = (flow_v3(), flow_v4());
        assert_eq!(&v4.names[..v3.len()], &v3.names[..]);
        assert_eq!(&v4.names[v3.len()..], ["ctx_dst_port_class_clients"]);
        assert_eq!(v4.len(), 162);
        let mut seen = std::collections::HashSet::new();
        assert!(v4.names.iter().all(|n| seen.insert(n)), "duplicate names in flow-v4");
        // Pinned: the shipped flow-v3 models record this hash; adding v4 must not change it.
        assert_eq!(v3.hash, V3_HASH);
    }

    #[test]
    fn v5_extends_v4_with_rpc() {
        let (v4, v5) = (flow_v4(), flow_v5());
        assert_eq!(&v5.names[..v4.len()], &v4.names[..]);
        assert_eq!(
            &v5.names[v4.len()..],
            ["rpc_binds", "rpc_exec_interfaces", "rpc_exec_calls", "smb_admin_share_connects"]
        );
        assert_eq!(v5.len(), 166);
        let mut seen = std::collections::HashSet::new();
        assert!(v5.names.iter().all(|n| seen.insert(n)), "duplicate names in flow-v5");
        // Pinned: flow-v4 models record this hash; adding v5 must not change it.
        assert_eq!(v4.hash, V4_HASH);
        assert_eq!(current().id, "flow-v5");
        assert_eq!(known().map(|s| s.id), ["flow-v1", "flow-v2", "flow-v3", "flow-v4", "flow-v5"]);
    }

    #[test]
    fn layout_covers_the_record_without_overlap() {
        let l = layout();
        assert_eq!(l.context_v2.start, flow_v1().len());
        assert_eq!((l.context_v2.end, l.flow_v3.start), (flow_v2().len(), flow_v2().len()));
        assert_eq!((l.flow_v3.end, l.context_v3.start, l.context_v3.end), (158, 158, flow_v3().len()));
        assert_eq!((l.context_v4.start, l.context_v4.end), (flow_v3().len(), flow_v4().len()));
        assert_eq!((l.flow_v5.start, l.flow_v5.end), (flow_v4().len(), current().len()));
        let ctx = current().names.iter().enumerate().filter(|(_, n)| n.starts_with("ctx_")).map(|(i, _)| i);
        let ranges = l.context_v2.clone().chain(l.context_v3.clone()).chain(l.context_v4.clone());
        assert!(ctx.eq(ranges), "the context ranges hold the ctx_ names");
        assert!(current().names[l.context_v3.clone()].iter().eq(crate::context::names_v3()));
        assert!(current().names[l.context_v4.clone()].iter().eq(crate::context::names_v4()));
    }
}
