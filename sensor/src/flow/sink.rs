//! Where the flow table's output goes: flow starts and flow records, in packet order.
//!
//! Most consumers only want records, and any `FnMut(FlowRecord)` closure is a [`FlowSink`] that ignores
//! starts. The behavioural context stage also needs to see each flow the moment it starts (novelty,
//! fan-out and hop chains are facts about the first packet, not about a record that may come minutes
//! later at idle timeout), so it implements [`FlowSink::started`] too.

use std::net::IpAddr;

use super::key::FlowKey;
use super::record::{FlowRecord, flow_id};
use crate::decode::PacketMeta;

/// A new flow, seen at its first packet.
#[derive(Debug, Clone, Copy)]
pub struct FlowStart {
    pub key: FlowKey,
    /// True when the key's `lo` endpoint sent the first packet (is the source).
    pub lo_is_initiator: bool,
    pub ts_ns: u64,
}

impl FlowStart {
    pub fn src_ip(&self) -> IpAddr {
        self.key.ip(if self.lo_is_initiator { &self.key.lo } else { &self.key.hi })
    }

    pub fn dst_ip(&self) -> IpAddr {
        self.key.ip(if self.lo_is_initiator { &self.key.hi } else { &self.key.lo })
    }

    /// The responder's port, for TCP and UDP.
    pub fn responder_port(&self) -> Option<u16> {
        matches!(self.key.proto, 6 | 17).then(|| if self.lo_is_initiator { self.key.hi.port } else { self.key.lo.port })
    }

    /// The id its records will carry.
    pub fn flow_id(&self) -> u64 {
        flow_id(&self.key, self.lo_is_initiator, self.ts_ns)
    }
}

/// Receives the flow table's output, and sees each packet before the table does.
pub trait FlowSink {
    /// A packet is about to be added to its flow.
    #[inline]
    fn packet(&mut self, _meta: &PacketMeta<'_>) {}
    /// A flow has started (called before any record of it).
    fn started(&mut self, _start: &FlowStart) {}
    /// A record: early, checkpoint or final.
    fn record(&mut self, record: FlowRecord);
}

impl<F: FnMut(FlowRecord)> FlowSink for F {
    #[inline]
    fn record(&mut self, record: FlowRecord) {
        self(record)
    }
}
