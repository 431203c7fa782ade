//! Flow records: what the flow table emits, one per checkpoint or flow end.

use std::net::IpAddr;
use std::sync::Arc;

use super::community_id::community_id_v1;
use super::key::FlowKey;
use crate::decode::Delivery;

/// Whether a record is a snapshot of a running flow or its last word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// The flow has just reached the early-record packet count; it is still running.
    Early,
    /// The flow is still running; a later record with the same flow id will follow.
    Checkpoint,
    /// The flow has ended; no record with this flow id follows.
    Final,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Early => "early",
            RecordKind::Checkpoint => "checkpoint",
            RecordKind::Final => "final",
        }
    }
}

/// Why a record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The flow reached the early-record packet count (an early record, not an end).
    EarlyPackets,
    /// Checkpoint interval elapsed on a running flow.
    ActiveTimeout,
    /// No packet for the idle timeout.
    IdleTimeout,
    /// TCP FIN seen in both directions (then the close linger elapsed or a new connection reused the key).
    TcpFin,
    /// TCP RST seen.
    TcpRst,
    /// The table was full; the least recently active flow was ended early.
    Evicted,
    /// The capture ended with the flow still open.
    EndOfCapture,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::EarlyPackets => "early_packets",
            EndReason::ActiveTimeout => "active_timeout",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::TcpFin => "tcp_fin",
            EndReason::TcpRst => "tcp_rst",
            EndReason::Evicted => "evicted",
            EndReason::EndOfCapture => "end_of_capture",
        }
    }
}

/// One flow record: identifiers, accounting, and the feature vector in schema order.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Stable id of the flow (same on all its checkpoints and its final record).
    pub flow_id: u64,
    pub kind: RecordKind,
    pub reason: EndReason,
    /// 0 for the first checkpoint, counting up; the final record carries the number of checkpoints.
    pub seq: u32,
    pub key: FlowKey,
    /// True when the key's `lo` endpoint sent the first packet (is the source).
    pub lo_is_initiator: bool,
    /// How the first packet was addressed: a broadcast or multicast datagram is no exchange between
    /// two hosts (see [`crate::decode::Delivery`]).
    pub delivery: Delivery,
    pub start_ns: u64,
    pub end_ns: u64,
    pub fwd_packets: u64,
    pub bwd_packets: u64,
    /// Frame bytes on the wire (original lengths), for accounting and parity with other tools.
    pub fwd_wire_bytes: u64,
    pub bwd_wire_bytes: u64,
    pub features: Vec<f64>,
    /// What the context stage knows about the flow beyond its features (empty without that stage).
    pub context: RecordContext,
}

/// Where a flow runs relative to the site's own networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetDirection {
    /// Internal source, external destination.
    Outbound,
    /// External source, internal destination.
    Inbound,
    /// Both ends internal.
    Internal,
    /// Neither end internal (transit traffic seen on a TAP).
    External,
}

impl NetDirection {
    pub fn name(self) -> &'static str {
        match self {
            NetDirection::Outbound => "outbound",
            NetDirection::Inbound => "inbound",
            NetDirection::Internal => "internal",
            NetDirection::External => "external",
        }
    }
}

/// A path of admin-port connections, A→B then B→C …, that this flow extends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopChain {
    /// Stable id of the chain: the same for every flow that extends it.
    pub id: u64,
    /// The hosts in order, from the first source to this flow's destination (hops = hosts − 1).
    pub hosts: Vec<IpAddr>,
}

impl HopChain {
    pub fn hops(&self) -> usize {
        self.hosts.len().saturating_sub(1)
    }
}

/// Facts the context stage attaches to a record for the alert (not model features).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContext {
    /// Direction by the configured site networks; None without the context stage.
    pub direction: Option<NetDirection>,
    /// The hop chain this flow extends (admin-port flows between internal hosts only).
    pub chain: Option<Arc<HopChain>>,
}

impl FlowRecord {
    fn ends(&self) -> (&super::key::Endpoint, &super::key::Endpoint) {
        if self.lo_is_initiator { (&self.key.lo, &self.key.hi) } else { (&self.key.hi, &self.key.lo) }
    }

    pub fn src_ip(&self) -> IpAddr {
        self.key.ip(self.ends().0)
    }

    pub fn dst_ip(&self) -> IpAddr {
        self.key.ip(self.ends().1)
    }

    /// Ports as written in the record: for ICMP, the source "port" is the initiator's
    /// `type << 8 | code` and the destination "port" the identifier.
    pub fn src_port(&self) -> u16 {
        if self.key.is_icmp() { self.key.lo.port } else { self.ends().0.port }
    }

    pub fn dst_port(&self) -> u16 {
        if self.key.is_icmp() { self.key.hi.port } else { self.ends().1.port }
    }

    /// The Community ID v1 (seed 0) of the flow, so records join Zeek and Suricata data.
    pub fn community_id(&self) -> String {
        let (sp, dp) = if self.key.is_icmp() {
            let tc = self.key.lo.port;
            (tc >> 8, tc & 0xff)
        } else {
            (self.src_port(), self.dst_port())
        };
        community_id_v1(0, self.src_ip(), self.dst_ip(), self.key.proto, sp, dp)
    }
}

/// Stable flow id: FNV-1a over the key, the initiator side and the start time.
pub(crate) fn flow_id(key: &FlowKey, lo_is_initiator: bool, start_ns: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&key.lo.addr);
    eat(&key.lo.port.to_be_bytes());
    eat(&key.hi.addr);
    eat(&key.hi.port.to_be_bytes());
    eat(&key.vlan.to_be_bytes());
    eat(&[key.proto, key.family as u8, u8::from(lo_is_initiator)]);
    eat(&start_ns.to_be_bytes());
    h
}
