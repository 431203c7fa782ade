//! Lookups ahead of time: the state a flow start or a record will touch, loaded into the cache while
//! the stage works on earlier inputs.
//!
//! Each input looks up several maps ([`super::bounded::BoundedMap`]), and on a busy link nearly every
//! lookup is a cache miss: one after the other they cost more than the work itself. A caller that
//! holds a batch of inputs (the context thread, [`crate::pipeline`]) runs them through
//! [`apply_ahead`]: an input's keys ([`Keys`]) are computed once, 3 × [`AHEAD`] inputs before it is
//! applied, and its index positions prefetched ([`Step::Index`]); 2 × [`AHEAD`] inputs before, the
//! entries those positions name ([`Step::Entry`], only known once the index has arrived) and the parts
//! of a record's feature vector the stage writes; [`AHEAD`] inputs before, what those entries point to
//! ([`Step::Heap`]: a source's peer list, a pair's start times, the minute's byte bucket); then the
//! input is applied with the same keys. Prefetching is a hint: it changes no state and no result, only
//! when memory is read.

pub use super::bounded::Step;
use super::bounded::secs;
use super::{Context, HostEnd, Keys, internal_host};
use crate::features::schema;
use crate::flow::index::prefetch;
use crate::flow::{FlowRecord, NetDirection};

/// Inputs between the steps of prefetching an input's state, and between the last step and applying it.
pub const AHEAD: usize = 3;
/// Inputs whose keys are held at once.
const RING: usize = 3 * AHEAD + 1;

/// Applies `inputs` to `context` in order, each with its keys (`keys_of`; `None` for an input that
/// needs none, a packet), prefetching the state of the inputs further on with `prefetch`.
pub fn apply_ahead<I>(
    context: &mut Context,
    inputs: &mut [I],
    keys_of: impl Fn(&Context, &I) -> Option<Keys>,
    prefetch: impl Fn(&Context, &I, &Keys, Step),
    mut apply: impl FnMut(&mut Context, &mut I, Option<&Keys>),
) {
    let mut ring: [Option<Keys>; RING] = [None; RING];
    // The first inputs were not seen ahead.
    for (i, input) in inputs.iter().enumerate().take(3 * AHEAD) {
        ring[i % RING] = keys_of(context, input);
    }
    for i in 0..inputs.len() {
        if let Some(ahead) = inputs.get(i + 3 * AHEAD) {
            let keys = keys_of(context, ahead);
            if let Some(keys) = &keys {
                prefetch(context, ahead, keys, Step::Index);
            }
            ring[(i + 3 * AHEAD) % RING] = keys;
        }
        for (distance, step) in [(2 * AHEAD, Step::Entry), (AHEAD, Step::Heap)] {
            if let (Some(ahead), Some(keys)) = (inputs.get(i + distance), &ring[(i + distance) % RING]) {
                prefetch(context, ahead, keys, step);
            }
        }
        apply(context, &mut inputs[i], ring[i % RING].as_ref());
    }
}

impl Context {
    /// Starts loading what [`Context::started_with`] will look up with `keys`.
    pub fn prefetch_start(&self, keys: &Keys, step: Step) {
        if !self.enabled {
            return;
        }
        if step == Step::Heap {
            if let Some(window) = self.sources.windows.get(keys.src_h) {
                window.prefetch_peers();
            }
            if keys.dir == NetDirection::Outbound {
                self.beacons.prefetch(keys.pair, step);
            }
            return;
        }
        self.baseline.pairs.prefetch(keys.pair, step);
        self.sources.windows.prefetch(keys.src_h, step);
        self.open.prefetch(keys.flow, step);
        match keys.dir {
            NetDirection::Outbound => {
                self.beacons.prefetch(keys.pair, step);
                self.baseline.reach.prefetch(keys.dst_h, step);
            }
            NetDirection::Inbound => self.baseline.reach.prefetch(keys.src_h, step),
            NetDirection::Internal => self.baseline.reach.prefetch(keys.service, step),
            NetDirection::External => {}
        }
    }

    /// Starts loading what [`Context::enrich_with`] will look up for `record` with `keys`, and the parts
    /// of its feature vector it reads and writes.
    pub fn prefetch_record(&self, record: &FlowRecord, keys: &Keys, step: Step) {
        if !self.enabled {
            return;
        }
        if step == Step::Heap {
            self.prefetch_record_heap(record, keys);
            return;
        }
        self.open.prefetch(keys.flow, step);
        self.sources.windows.prefetch(keys.src_h, step);
        self.auth.prefetch(keys.src_h, step);
        if let Some(end) = internal_host(keys.dir) {
            let host = if end == HostEnd::Source { keys.src_h } else { keys.dst_h };
            self.sources.bytes.prefetch(host, step);
            self.baseline.hosts.prefetch(host, step);
        }
        match keys.dir {
            NetDirection::Outbound => {
                self.baseline.reach.prefetch(keys.dst_h, step);
                self.beacons.prefetch(keys.pair, step);
            }
            NetDirection::Inbound => self.baseline.reach.prefetch(keys.src_h, step),
            NetDirection::Internal => self.baseline.reach.prefetch(keys.service, step),
            NetDirection::External => {}
        }
        if step == Step::Entry {
            let layout = schema::layout();
            let features = record.features.as_ptr();
            // The context ranges and, between them, the authentication failures it reads.
            for at in (layout.context_v2.start..layout.context_v4.end).step_by(8).chain([layout.context_v4.end - 1]) {
                prefetch(features.wrapping_add(at));
            }
        }
    }

    /// [`Step::Heap`] of a record: a source's peer list, its host's newest byte bucket and hourly
    /// statistics (at the record's end: the clock will be at least that), a pair's start times.
    fn prefetch_record_heap(&self, record: &FlowRecord, keys: &Keys) {
        if let Some(window) = self.sources.windows.get(keys.src_h) {
            window.prefetch_peers();
        }
        if let Some(end) = internal_host(keys.dir) {
            let host = if end == HostEnd::Source { keys.src_h } else { keys.dst_h };
            let now_s = secs(record.end_ns.max(self.clock_ns));
            if let Some(bytes) = self.sources.bytes.get(host) {
                bytes.prefetch_minute();
            }
            if let Some(volume) = self.baseline.hosts.get(host) {
                volume.prefetch_hour(now_s, self.cfg.utc_offset);
            }
        }
        if keys.dir == NetDirection::Outbound {
            self.beacons.prefetch(keys.pair, Step::Heap);
        }
    }
}
