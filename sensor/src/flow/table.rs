//! The flow table: bidirectional flows with idle timeout, checkpoints, TCP teardown and a hard bound.
//!
//! Invariants and choices:
//! - Time is the packets' own: `now` is the highest packet timestamp seen. Nothing reads the clock.
//! - Flow boundaries are exact: when a packet arrives for a flow that has been idle longer than the idle
//!   timeout, or whose TCP close linger has passed, or that is closing and sees a new SYN, the old flow
//!   is ended first and the packet starts a new flow.
//! - Emission of expired flows is lazy but prompt: a sweep walks the slots in order, at a pace set by
//!   packet time, so that every slot is checked once per [`SWEEP_PERIOD_NS`]. A flow is emitted at most
//!   about two sweep periods after it expired. The walk is sequential (cheap for the memory system) and
//!   costs about one slot check per packet at a million flows and a million packets per second.
//! - TCP: RST from either side, or FIN seen in both directions, makes the flow *closing*; it ends once
//!   no packet came for the close linger (trailing ACKs and retransmissions count into it).
//! - Long flows emit a checkpoint record every checkpoint interval (features are cumulative from the
//!   flow's start, same flow id), checked when the flow's next packet arrives.
//! - At most `max_flows` flows are tracked. A new flow in a full table ends one of [`EVICTION_SAMPLE`]
//!   flows sampled after a rotating cursor: an expired or closing one if there is one (ended as such),
//!   else the least recently active (counted in `evicted`). Sampled, not exact, LRU: exact LRU order
//!   costs two cache misses per packet to maintain.
//! - Memory: slots live in fixed chunks of [`CHUNK`] slots, one 2 MiB huge page each ([`super::huge`]);
//!   the index ([`super::index`]) holds 8-byte entries; hashes have a random seed (no hash flooding).
//! - Speed: a lookup is two dependent cache misses (index entry, then slot).
//!   [`FlowTable::process_batch`] prefetches each packet's index entry, then its likely slot, some
//!   packets ahead, so the misses overlap. Results are identical to feeding the packets one by one.

use std::hash::BuildHasher;

use super::Direction;
use super::huge::{HUGE_PAGE, HugeVec};
use super::index::{FlowIndex, MAX_SLOTS, prefetch};
use super::key::{FlowKey, KeySide};
use super::record::{EndReason, FlowRecord, RecordContext, RecordKind, flow_id};
use super::sink::{FlowSink, FlowStart};
use crate::decode::{Delivery, PacketMeta, Transport};
use crate::features::tcp::flag;
use crate::features::{FlowFacts, FlowFeatures};

/// Slots per allocation chunk: as many as fit in one 2 MiB huge page. At most one partly used chunk
/// is overhead.
pub const CHUNK: usize = HUGE_PAGE / std::mem::size_of::<Slot>();
const SECOND_NS: u64 = 1_000_000_000;
/// Every slot is checked for expiry once per this much packet time.
pub const SWEEP_PERIOD_NS: u64 = SECOND_NS;
/// Flows sampled to choose an eviction victim.
pub const EVICTION_SAMPLE: u32 = 16;

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
    /// A flow emits one early record when its packet count (both directions) reaches this, so a fresh
    /// connection is scored while it runs; None disables early records.
    pub early_record_packets: Option<u32>,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            idle_timeout_ns: 120 * SECOND_NS,
            checkpoint_interval_ns: Some(60 * SECOND_NS),
            tcp_close_linger_ns: 2 * SECOND_NS,
            max_flows: 1_000_000,
            early_record_packets: None,
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
    #[error("max_flows must be between 1 and {max}, got {got}", max = MAX_SLOTS - 1)]
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
        if self.max_flows == 0 || self.max_flows >= MAX_SLOTS as usize {
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
    /// Early records (see [`FlowTableConfig::early_record_packets`]).
    pub early_records: u64,
    pub final_records: u64,
    /// Flows ended early because the table was full.
    pub evicted: u64,
    pub peak_flows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Active,
    /// TCP teardown seen; ends after the close linger.
    Closing,
}

#[derive(Clone, Copy)]
struct Slot {
    key: FlowKey,
    features: FlowFeatures,
    /// Checkpoints emitted so far.
    seq: u32,
    lo_is_initiator: bool,
    /// How the flow's first packet was addressed.
    delivery: Delivery,
    state: SlotState,
    close_reason: EndReason,
}

/// The flow table. Feed packets in capture order with [`FlowTable::process`] (or
/// [`FlowTable::process_batch`]); records come out through the `emit` callback; call
/// [`FlowTable::flush`] at the end of a capture.
pub struct FlowTable {
    cfg: FlowTableConfig,
    chunks: Vec<HugeVec<Slot>>,
    /// Slots ever allocated (free or used).
    allocated: u32,
    /// Free slot numbers, reused last-in first-out.
    free: Vec<u32>,
    index: FlowIndex,
    hasher: foldhash::fast::RandomState,
    live: usize,
    now: u64,
    /// Start (packet time) of the current sweep pass, and the next slot it checks.
    sweep_start: u64,
    sweep_cursor: u32,
    evict_cursor: u32,
    stats: FlowTableStats,
}

impl FlowTable {
    pub fn new(cfg: FlowTableConfig) -> Result<FlowTable, FlowConfigError> {
        cfg.validate()?;
        Ok(FlowTable {
            cfg,
            chunks: Vec::new(),
            allocated: 0,
            free: Vec::new(),
            index: FlowIndex::default(),
            hasher: foldhash::fast::RandomState::default(),
            live: 0,
            now: 0,
            sweep_start: 0,
            sweep_cursor: 0,
            evict_cursor: 0,
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
        self.chunks.iter().map(HugeVec::memory_bytes).sum::<usize>()
            + self.index.memory_bytes()
            + self.free.capacity() * std::mem::size_of::<u32>()
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
    pub fn process(&mut self, meta: &PacketMeta<'_>, emit: &mut impl FlowSink) {
        let (key, side) = FlowKey::from_packet(meta);
        let hash = self.hasher.hash_one(key);
        self.process_keyed(meta, key, side, hash, emit);
    }

    /// Adds packets in order, exactly as [`FlowTable::process`] one by one would, with the memory
    /// latency of their lookups overlapped (see the module doc).
    pub fn process_batch(&mut self, metas: &[PacketMeta<'_>], emit: &mut impl FlowSink) {
        /// Packets between prefetching a slot and processing its packet; the index entry is
        /// prefetched twice as far ahead.
        const AHEAD: usize = 6;
        /// Keys computed but not yet processed, in a ring (a power of two above 2 × AHEAD).
        const RING: usize = 16;
        let n = metas.len();
        let mut ring = [(FlowKey::EMPTY, KeySide::LoToHi, 0u64); RING];
        let keyed = |table: &Self, j: usize| {
            let (key, side) = FlowKey::from_packet(&metas[j]);
            let hash = table.hasher.hash_one(key);
            table.index.prefetch(hash);
            (key, side, hash)
        };
        for j in 0..n.min(2 * AHEAD) {
            ring[j % RING] = keyed(self, j);
        }
        for j in 0..n.min(AHEAD) {
            self.prefetch_likely_slot(ring[j % RING].2);
        }
        for j in 0..n {
            if j + 2 * AHEAD < n {
                ring[(j + 2 * AHEAD) % RING] = keyed(self, j + 2 * AHEAD);
            }
            if j + AHEAD < n {
                self.prefetch_likely_slot(ring[(j + AHEAD) % RING].2);
            }
            let (key, side, hash) = ring[j % RING];
            self.process_keyed(&metas[j], key, side, hash, emit);
        }
    }

    #[inline]
    fn prefetch_likely_slot(&self, hash: u64) {
        if let Some(i) = self.index.likely_slot(hash) {
            self.prefetch_slot(i);
        }
    }

    /// Prefetches every cache line of slot `i`.
    #[inline]
    fn prefetch_slot(&self, i: u32) {
        let Some(slot) = self.chunks.get(i as usize / CHUNK).and_then(|c| c.get(i as usize % CHUNK)) else {
            return;
        };
        let base = std::ptr::from_ref(slot).cast::<u8>();
        for line in (0..std::mem::size_of::<Slot>()).step_by(64) {
            prefetch(base.wrapping_add(line));
        }
        prefetch(base.wrapping_add(std::mem::size_of::<Slot>() - 1));
    }

    fn process_keyed(
        &mut self,
        meta: &PacketMeta<'_>,
        key: FlowKey,
        side: KeySide,
        hash: u64,
        emit: &mut impl FlowSink,
    ) {
        self.stats.packets += 1;
        emit.packet(meta);
        if meta.ts_ns < self.now {
            self.stats.out_of_order_packets += 1;
        }
        let now = self.now.max(meta.ts_ns);
        self.now = now;
        self.expire(now, emit);

        let chunks = &self.chunks;
        let found = self.index.find(hash, |i| chunks[i as usize / CHUNK][i as usize % CHUNK].key == key);
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
        s.features.update(dir, meta);
        let early = self.cfg.early_record_packets.is_some_and(|n| {
            let s = self.slot(i);
            s.state == SlotState::Active
                && s.features.packets(Direction::Forward) + s.features.packets(Direction::Backward) == u64::from(n)
        });
        if early {
            emit.record(self.record(i, RecordKind::Early, EndReason::EarlyPackets));
            self.stats.early_records += 1;
        }
        let s = self.slot_mut(i);
        if let Transport::Tcp { tcp, .. } = meta.transport
            && s.state == SlotState::Active
        {
            let fin_both = s.features.tcp_flags_seen(Direction::Forward)
                & s.features.tcp_flags_seen(Direction::Backward)
                & flag::FIN
                != 0;
            if tcp.flags & flag::RST != 0 {
                s.state = SlotState::Closing;
                s.close_reason = EndReason::TcpRst;
            } else if fin_both {
                s.state = SlotState::Closing;
                s.close_reason = EndReason::TcpFin;
            }
        }
    }

    /// Whether the flow in slot `i` must end before `meta` is counted (and why).
    fn ends_before(&self, i: u32, meta: &PacketMeta<'_>, now: u64) -> Option<EndReason> {
        let s = self.slot(i);
        let new_syn = matches!(meta.transport, Transport::Tcp { tcp, .. }
            if tcp.flags & (flag::SYN | flag::ACK) == flag::SYN);
        match self.expiry(s, now) {
            Some(reason) => Some(reason),
            None if s.state == SlotState::Closing && new_syn => Some(s.close_reason),
            None => None,
        }
    }

    /// Why the flow in `s` has ended by `now` without a new packet, if it has.
    #[inline]
    fn expiry(&self, s: &Slot, now: u64) -> Option<EndReason> {
        let quiet = now.saturating_sub(s.features.last_ns());
        match s.state {
            SlotState::Active if quiet > self.cfg.idle_timeout_ns => Some(EndReason::IdleTimeout),
            SlotState::Closing if quiet > self.cfg.tcp_close_linger_ns => Some(s.close_reason),
            _ => None,
        }
    }

    fn maybe_checkpoint(&mut self, i: u32, now: u64, emit: &mut impl FlowSink) {
        let Some(interval) = self.cfg.checkpoint_interval_ns else { return };
        let s = self.slot(i);
        let due = s.features.first_ns().saturating_add(interval.saturating_mul(u64::from(s.seq) + 1));
        if now < due {
            return;
        }
        emit.record(self.record(i, RecordKind::Checkpoint, EndReason::ActiveTimeout));
        self.stats.checkpoint_records += 1;
        let s = self.slot_mut(i);
        let elapsed = (now - s.features.first_ns()) / interval;
        s.seq = u32::try_from(elapsed).unwrap_or(u32::MAX);
    }

    /// Advances the sweep to `now`, ending the flows it finds idle or past their close linger. Live
    /// capture calls this on a timer too, so flows end while no packet arrives.
    pub fn expire(&mut self, now: u64, emit: &mut impl FlowSink) {
        if self.sweep_start == 0 {
            self.sweep_start = now;
        }
        loop {
            let elapsed = now.saturating_sub(self.sweep_start);
            let target = if elapsed >= SWEEP_PERIOD_NS {
                self.allocated
            } else {
                // allocated < 2^30 and elapsed < 2^30: no overflow.
                (u64::from(self.allocated) * elapsed / SWEEP_PERIOD_NS) as u32
            };
            while self.sweep_cursor < target {
                let i = self.sweep_cursor;
                self.sweep_cursor += 1;
                if let Some(reason) = self.expiry(self.slot(i), now) {
                    self.finish_slot(i, reason, emit);
                }
            }
            if elapsed < SWEEP_PERIOD_NS || self.sweep_cursor < self.allocated {
                return;
            }
            // Pass complete: the next one starts a period later, or now less a period after a jump in
            // time (so one full pass runs at once).
            self.sweep_start = (self.sweep_start + SWEEP_PERIOD_NS).max(now - SWEEP_PERIOD_NS);
            self.sweep_cursor = 0;
        }
    }

    /// Ends every flow (end of capture), in slot order. Closing flows keep their teardown reason.
    pub fn flush(&mut self, emit: &mut impl FlowSink) {
        for i in 0..self.allocated {
            let reason = match self.slot(i).state {
                SlotState::Free => continue,
                SlotState::Active => EndReason::EndOfCapture,
                SlotState::Closing => self.slot(i).close_reason,
            };
            self.finish_slot(i, reason, emit);
        }
    }

    /// Makes room for one flow in a full table (see the module doc).
    fn evict_one(&mut self, emit: &mut impl FlowSink) {
        let mut victim: Option<(u32, u64)> = None;
        for _ in 0..EVICTION_SAMPLE.min(self.allocated) {
            let i = self.evict_cursor % self.allocated;
            self.evict_cursor = (i + 1) % self.allocated;
            let s = self.slot(i);
            if s.state == SlotState::Free {
                continue;
            }
            if let Some(reason) = self.expiry(s, self.now) {
                self.finish_slot(i, reason, emit);
                return;
            }
            if s.state == SlotState::Closing {
                let reason = s.close_reason;
                self.finish_slot(i, reason, emit);
                return;
            }
            let last = s.features.last_ns();
            if victim.is_none_or(|(_, oldest)| last < oldest) {
                victim = Some((i, last));
            }
        }
        let (i, _) = victim.expect("a full table has live slots");
        self.finish_slot(i, EndReason::Evicted, emit);
        self.stats.evicted += 1;
    }

    fn create(
        &mut self,
        key: FlowKey,
        side: KeySide,
        hash: u64,
        meta: &PacketMeta<'_>,
        emit: &mut impl FlowSink,
    ) -> u32 {
        if self.live >= self.cfg.max_flows {
            self.evict_one(emit);
        }
        let slot = Slot {
            key,
            features: FlowFeatures::new(meta),
            seq: 0,
            lo_is_initiator: side == KeySide::LoToHi,
            delivery: meta.delivery,
            state: SlotState::Active,
            close_reason: EndReason::IdleTimeout,
        };
        let i = match self.free.pop() {
            Some(i) => {
                *self.slot_mut(i) = slot;
                i
            }
            None => {
                let i = self.allocated;
                if (i as usize).is_multiple_of(CHUNK) {
                    self.chunks.push(HugeVec::with_capacity(CHUNK));
                }
                self.chunks.last_mut().expect("chunk pushed above").push(slot);
                self.allocated += 1;
                i
            }
        };
        self.index.insert(hash, i);
        emit.started(&FlowStart { key, lo_is_initiator: side == KeySide::LoToHi, ts_ns: meta.ts_ns });
        self.live += 1;
        self.stats.flows_created += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.live as u64);
        i
    }

    fn finish_slot(&mut self, i: u32, reason: EndReason, emit: &mut impl FlowSink) {
        let hash = self.hasher.hash_one(self.slot(i).key);
        self.finish(i, hash, reason, emit);
    }

    fn finish(&mut self, i: u32, hash: u64, reason: EndReason, emit: &mut impl FlowSink) {
        emit.record(self.record(i, RecordKind::Final, reason));
        self.stats.final_records += 1;
        self.index.remove(hash, i);
        self.slot_mut(i).state = SlotState::Free;
        self.free.push(i);
        self.live -= 1;
    }

    fn record(&self, i: u32, kind: RecordKind, reason: EndReason) -> FlowRecord {
        let s = self.slot(i);
        let f = &s.features;
        let responder = if s.lo_is_initiator { s.key.hi } else { s.key.lo };
        let facts =
            FlowFacts { proto: s.key.proto, responder_port: matches!(s.key.proto, 6 | 17).then_some(responder.port) };
        let mut features = Vec::with_capacity(crate::features::schema::current().len());
        f.write(&facts, &mut features);
        FlowRecord {
            flow_id: flow_id(&s.key, s.lo_is_initiator, f.first_ns()),
            kind,
            reason,
            seq: s.seq,
            key: s.key,
            lo_is_initiator: s.lo_is_initiator,
            delivery: s.delivery,
            start_ns: f.first_ns(),
            end_ns: f.last_ns(),
            fwd_packets: f.packets(Direction::Forward),
            bwd_packets: f.packets(Direction::Backward),
            fwd_wire_bytes: f.wire_bytes(Direction::Forward),
            bwd_wire_bytes: f.wire_bytes(Direction::Backward),
            features,
            context: RecordContext::default(),
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
