//! The flow table: bidirectional flows with idle timeout, checkpoints, TCP teardown and a hard bound.
//!
//! Invariants and choices:
//! - Time is the packets' own: `now` is the highest packet timestamp seen. Nothing reads the clock.
//! - Flow boundaries are exact: when a packet arrives for a flow that has been idle longer than the idle
//!   timeout, or whose TCP close linger has passed, or that is closing and sees a new SYN, the old flow
//!   is ended first and the packet starts a new flow.
//! - Emission of expired flows is lazy but prompt: flows sit in two intrusive lists (active, closing),
//!   and a flow moves to the tail of its list only on its first packet in a new second of packet time.
//!   The lists are so ordered by the second of each flow's last packet, a flow is emitted at most ~1 s
//!   after it expired, and the per-packet cost is O(1) without touching neighbouring slots on most
//!   packets.
//! - TCP: RST from either side, or FIN seen in both directions, moves the flow to the closing list; it
//!   ends once no packet came for the close linger (trailing ACKs and retransmissions count into it).
//! - Long flows emit a checkpoint record every checkpoint interval (features are cumulative from the
//!   flow's start, same flow id), checked when the flow's next packet arrives.
//! - At most `max_flows` flows are tracked. A new flow in a full table first ends the oldest closing
//!   flow, else evicts the least recently refreshed active flow (counted in `evicted`).
//! - Memory: slots live in fixed chunks of [`CHUNK`] slots (no doubling), the index is a hash table of
//!   `u32` slot numbers with a random seed (no hash flooding).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::Direction;
use super::key::{FlowKey, KeySide};
use super::record::{EndReason, FlowRecord, RecordKind};
use crate::decode::{PacketMeta, Transport};
use crate::features::tcp::flag;
use crate::features::{FlowFacts, FlowFeatures};

const NIL: u32 = u32::MAX;
/// Slots per allocation chunk (about 2 MB): at most one partly used chunk is overhead.
pub const CHUNK: usize = 4 * 1024;
const SECOND_NS: u64 = 1_000_000_000;
/// A flow's list position is refreshed on its first packet in each such period of packet time.
const REFRESH_NS: u64 = SECOND_NS;

/// Flow table settings (all times in packet time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// A flow with no packet for this long ends (`idle_timeout`).
    pub idle_timeout_ns: u64,
    /// A running flow emits a checkpoint record this often; None disables checkpoints.
    pub checkpoint_interval_ns: Option<u64>,
    /// After TCP teardown (FIN both ways, or RST) the flow stays this long to collect trailing packets.
    pub tcp_close_linger_ns: u64,
    /// Hard bound on tracked flows.
    pub max_flows: usize,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            idle_timeout_ns: 120 * SECOND_NS,
            checkpoint_interval_ns: Some(60 * SECOND_NS),
            tcp_close_linger_ns: 2 * SECOND_NS,
            max_flows: 1_000_000,
        }
    }
}

/// A flow table setting out of range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlowConfigError {
    #[error("idle timeout must be between 1 s and 3600 s (gaps are kept as u32 microseconds), got {0} ns")]
    IdleTimeout(u64),
    #[error("checkpoint interval must be at least 1 s, got {0} ns")]
    CheckpointInterval(u64),
    #[error("TCP close linger must not exceed the idle timeout, got {0} ns")]
    CloseLinger(u64),
    #[error("max_flows must be between 1 and {max}, got {got}", max = u32::MAX - 1)]
    MaxFlows { got: usize },
}

impl FlowTableConfig {
    pub fn validate(&self) -> Result<(), FlowConfigError> {
        if !(SECOND_NS..=3600 * SECOND_NS).contains(&self.idle_timeout_ns) {
            return Err(FlowConfigError::IdleTimeout(self.idle_timeout_ns));
        }
        if let Some(c) = self.checkpoint_interval_ns
            && c < SECOND_NS
        {
            return Err(FlowConfigError::CheckpointInterval(c));
        }
        if self.tcp_close_linger_ns > self.idle_timeout_ns {
            return Err(FlowConfigError::CloseLinger(self.tcp_close_linger_ns));
        }
        if self.max_flows == 0 || self.max_flows >= NIL as usize {
            return Err(FlowConfigError::MaxFlows { got: self.max_flows });
        }
        Ok(())
    }
}

/// Counters of the table's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    pub packets: u64,
    /// Packets older than the newest packet seen before them (taken as arriving at that time).
    pub out_of_order_packets: u64,
    pub flows_created: u64,
    pub checkpoint_records: u64,
    pub final_records: u64,
    /// Flows ended early because the table was full.
    pub evicted: u64,
    pub peak_flows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Active = 0,
    Closing = 1,
}

struct Slot {
    key: FlowKey,
    features: FlowFeatures,
    prev: u32,
    next: u32,
    /// Checkpoints emitted so far.
    seq: u32,
    lo_is_initiator: bool,
    list: List,
    close_reason: EndReason,
}

#[derive(Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
}

/// The flow table. Feed packets in capture order with [`FlowTable::process`]; records come out through
/// the `emit` callback; call [`FlowTable::flush`] at the end of a capture.
pub struct FlowTable {
    cfg: FlowTableConfig,
    chunks: Vec<Vec<Slot>>,
    /// Slots ever allocated (free or used).
    allocated: u32,
    /// Head of the free-slot chain (linked through `next`).
    free: u32,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    lists: [Ends; 2],
    live: usize,
    now: u64,
    stats: FlowTableStats,
}

impl FlowTable {
    pub fn new(cfg: FlowTableConfig) -> Result<FlowTable, FlowConfigError> {
        cfg.validate()?;
        Ok(FlowTable {
            cfg,
            chunks: Vec::new(),
            allocated: 0,
            free: NIL,
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            lists: [Ends { head: NIL, tail: NIL }; 2],
            live: 0,
            now: 0,
            stats: FlowTableStats::default(),
        })
    }

    pub fn config(&self) -> &FlowTableConfig {
        &self.cfg
    }

    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes held by the table: slot chunks and the index.
    pub fn memory_bytes(&self) -> usize {
        let slots: usize = self.chunks.iter().map(|c| c.capacity()).sum();
        slots * std::mem::size_of::<Slot>() + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Bytes of one flow slot.
    pub const fn slot_bytes() -> usize {
        std::mem::size_of::<Slot>()
    }

    #[inline]
    fn slot(&self, i: u32) -> &Slot {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    #[inline]
    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    /// Adds one packet; records of flows that end or checkpoint are passed to `emit`.
    pub fn process(&mut self, meta: &PacketMeta<'_>, emit: &mut impl FnMut(FlowRecord)) {
        self.stats.packets += 1;
        if meta.ts_ns < self.now {
            self.stats.out_of_order_packets += 1;
        }
        let now = self.now.max(meta.ts_ns);
        self.now = now;
        self.expire(now, emit);

        let (key, side) = FlowKey::from_packet(meta);
        let hash = self.hasher.hash_one(key);
        let chunks = &self.chunks;
        let found = self.index.find(hash, |&i| chunks[i as usize / CHUNK][i as usize % CHUNK].key == key).copied();
        let i = match found {
            Some(i) => match self.ends_before(i, meta, now) {
                Some(reason) => {
                    self.finish(i, hash, reason, emit);
                    self.create(key, side, hash, meta, emit)
                }
                None => {
                    self.maybe_checkpoint(i, now, emit);
                    i
                }
            },
            None => self.create(key, side, hash, meta, emit),
        };

        let s = self.slot_mut(i);
        let forward = (side == KeySide::LoToHi) == s.lo_is_initiator;
        let dir = if forward { Direction::Forward } else { Direction::Backward };
        let last_before = s.features.last_ns();
        let is_new = s.features.packets(Direction::Forward) == 0;
        s.features.update(dir, meta);
        let closing = match meta.transport {
            Transport::Tcp { tcp, .. } if s.list == List::Active => {
                let fin_both = s.features.tcp_flags_seen(Direction::Forward)
                    & s.features.tcp_flags_seen(Direction::Backward)
                    & flag::FIN
                    != 0;
                if tcp.flags & flag::RST != 0 {
                    Some(EndReason::TcpRst)
                } else if fin_both {
                    Some(EndReason::TcpFin)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(reason) = closing {
            self.slot_mut(i).close_reason = reason;
            self.move_to_tail(i, List::Closing);
        } else if !is_new && now / REFRESH_NS != last_before / REFRESH_NS {
            let list = self.slot(i).list;
            self.move_to_tail(i, list);
        }
    }

    /// Whether the flow in slot `i` must end before `meta` is counted (and why).
    fn ends_before(&self, i: u32, meta: &PacketMeta<'_>, now: u64) -> Option<EndReason> {
        let s = self.slot(i);
        match s.list {
            List::Closing => {
                let new_syn = matches!(meta.transport, Transport::Tcp { tcp, .. }
                    if tcp.flags & (flag::SYN | flag::ACK) == flag::SYN);
                let lingered = now.saturating_sub(s.features.last_ns()) > self.cfg.tcp_close_linger_ns;
                (new_syn || lingered).then_some(s.close_reason)
            }
            List::Active => {
                (now.saturating_sub(s.features.last_ns()) > self.cfg.idle_timeout_ns).then_some(EndReason::IdleTimeout)
            }
        }
    }

    fn maybe_checkpoint(&mut self, i: u32, now: u64, emit: &mut impl FnMut(FlowRecord)) {
        let Some(interval) = self.cfg.checkpoint_interval_ns else { return };
        let s = self.slot(i);
        let due = s.features.first_ns().saturating_add(interval.saturating_mul(u64::from(s.seq) + 1));
        if now < due {
            return;
        }
        emit(self.record(i, RecordKind::Checkpoint, EndReason::ActiveTimeout));
        self.stats.checkpoint_records += 1;
        let s = self.slot_mut(i);
        let elapsed = (now - s.features.first_ns()) / interval;
        s.seq = u32::try_from(elapsed).unwrap_or(u32::MAX);
    }

    /// Ends flows whose idle timeout or close linger passed before `now`.
    pub fn expire(&mut self, now: u64, emit: &mut impl FnMut(FlowRecord)) {
        for (list, timeout) in [(List::Active, self.cfg.idle_timeout_ns), (List::Closing, self.cfg.tcp_close_linger_ns)]
        {
            loop {
                let head = self.lists[list as usize].head;
                if head == NIL || now.saturating_sub(self.slot(head).features.last_ns()) <= timeout {
                    break;
                }
                let reason = match list {
                    List::Active => EndReason::IdleTimeout,
                    List::Closing => self.slot(head).close_reason,
                };
                self.finish_slot(head, reason, emit);
            }
        }
    }

    /// Ends every flow (end of capture). Closing flows keep their teardown reason.
    pub fn flush(&mut self, emit: &mut impl FnMut(FlowRecord)) {
        while self.lists[List::Closing as usize].head != NIL {
            let i = self.lists[List::Closing as usize].head;
            let reason = self.slot(i).close_reason;
            self.finish_slot(i, reason, emit);
        }
        while self.lists[List::Active as usize].head != NIL {
            let i = self.lists[List::Active as usize].head;
            self.finish_slot(i, EndReason::EndOfCapture, emit);
        }
    }

    fn create(
        &mut self,
        key: FlowKey,
        side: KeySide,
        hash: u64,
        meta: &PacketMeta<'_>,
        emit: &mut impl FnMut(FlowRecord),
    ) -> u32 {
        if self.live >= self.cfg.max_flows {
            let closing = self.lists[List::Closing as usize].head;
            if closing != NIL {
                let reason = self.slot(closing).close_reason;
                self.finish_slot(closing, reason, emit);
            } else {
                let victim = self.lists[List::Active as usize].head;
                self.finish_slot(victim, EndReason::Evicted, emit);
                self.stats.evicted += 1;
            }
        }
        let slot = Slot {
            key,
            features: FlowFeatures::new(meta),
            prev: NIL,
            next: NIL,
            seq: 0,
            lo_is_initiator: side == KeySide::LoToHi,
            list: List::Active,
            close_reason: EndReason::IdleTimeout,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slot(i).next;
            *self.slot_mut(i) = slot;
            i
        } else {
            let i = self.allocated;
            if i as usize % CHUNK == 0 {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            self.chunks.last_mut().expect("chunk pushed above").push(slot);
            self.allocated += 1;
            i
        };
        self.push_tail(i, List::Active);
        let chunks = &self.chunks;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, i, |&j| hasher.hash_one(chunks[j as usize / CHUNK][j as usize % CHUNK].key));
        self.live += 1;
        self.stats.flows_created += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.live as u64);
        i
    }

    fn finish_slot(&mut self, i: u32, reason: EndReason, emit: &mut impl FnMut(FlowRecord)) {
        let hash = self.hasher.hash_one(self.slot(i).key);
        self.finish(i, hash, reason, emit);
    }

    fn finish(&mut self, i: u32, hash: u64, reason: EndReason, emit: &mut impl FnMut(FlowRecord)) {
        emit(self.record(i, RecordKind::Final, reason));
        self.stats.final_records += 1;
        match self.index.find_entry(hash, |&j| j == i) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => unreachable!("a live slot is always indexed"),
        }
        self.unlink(i);
        self.slot_mut(i).next = self.free;
        self.free = i;
        self.live -= 1;
    }

    fn record(&self, i: u32, kind: RecordKind, reason: EndReason) -> FlowRecord {
        let s = self.slot(i);
        let f = &s.features;
        let responder = if s.lo_is_initiator { s.key.hi } else { s.key.lo };
        let facts =
            FlowFacts { proto: s.key.proto, responder_port: matches!(s.key.proto, 6 | 17).then_some(responder.port) };
        let mut features = Vec::with_capacity(crate::features::schema::flow_v1().len());
        f.write(&facts, &mut features);
        FlowRecord {
            flow_id: flow_id(&s.key, s.lo_is_initiator, f.first_ns()),
            kind,
            reason,
            seq: s.seq,
            key: s.key,
            lo_is_initiator: s.lo_is_initiator,
            start_ns: f.first_ns(),
            end_ns: f.last_ns(),
            fwd_packets: f.packets(Direction::Forward),
            bwd_packets: f.packets(Direction::Backward),
            fwd_wire_bytes: f.wire_bytes(Direction::Forward),
            bwd_wire_bytes: f.wire_bytes(Direction::Backward),
            features,
        }
    }

    fn push_tail(&mut self, i: u32, list: List) {
        let tail = self.lists[list as usize].tail;
        {
            let s = self.slot_mut(i);
            s.list = list;
            s.prev = tail;
            s.next = NIL;
        }
        if tail == NIL {
            self.lists[list as usize].head = i;
        } else {
            self.slot_mut(tail).next = i;
        }
        self.lists[list as usize].tail = i;
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, list) = {
            let s = self.slot(i);
            (s.prev, s.next, s.list as usize)
        };
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.slot_mut(prev).next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.slot_mut(next).prev = prev;
        }
    }

    fn move_to_tail(&mut self, i: u32, list: List) {
        self.unlink(i);
        self.push_tail(i, list);
    }
}

/// Stable flow id: FNV-1a over the key, the initiator side and the start time.
fn flow_id(key: &FlowKey, lo_is_initiator: bool, start_ns: u64) -> u64 {
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

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
