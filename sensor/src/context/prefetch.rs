//! Lookups ahead of time: the state a flow start or a record will touch, loaded into the cache while
//! the stage works on earlier inputs.
//!
//! Each input looks up several maps ([`super::bounded::BoundedMap`]), and on a busy link nearly every
//! lookup is a cache miss: one after the other they cost more than the work itself. A caller that
//! holds a batch of inputs (the context thread, [`crate::pipeline`]) asks for [`Step::Index`] of an
//! input some inputs ahead, then for [`Step::Entry`] of it when it is closer (the entry's place is
//! only known once the index position has arrived), so that both loads overlap with useful work.
//! Prefetching is a hint: it changes no state and no result, only when memory is read.

pub use super::bounded::Step;
use super::bounded::stable_hash;
use super::{Context, Ends, HostEnd, internal_host};
use crate::features::schema;
use crate::flow::index::prefetch;
use crate::flow::{FlowRecord, FlowStart, NetDirection};

/// Inputs between prefetching the entries an input will touch and applying it; the index positions
/// of its keys are prefetched twice as far ahead.
pub const AHEAD: usize = 4;

/// Applies `inputs` to `context` in order with `apply`, prefetching with `prefetch` the state of the
/// inputs [`AHEAD`] (entries) and twice that (index positions) further on.
pub fn apply_ahead<I>(
    context: &mut Context,
    inputs: &mut [I],
    mut apply: impl FnMut(&mut Context, &mut I),
    prefetch: impl Fn(&Context, &I, Step),
) {
    for i in 0..inputs.len() {
        if let Some(ahead) = inputs.get(i + 2 * AHEAD) {
            prefetch(context, ahead, Step::Index);
        }
        if let Some(ahead) = inputs.get(i + AHEAD) {
            prefetch(context, ahead, Step::Entry);
        }
        apply(context, &mut inputs[i]);
    }
}

impl Context {
    /// Starts loading what [`Context::started`] will look up for `start`.
    pub fn prefetch_start(&self, start: &FlowStart, step: Step) {
        if !self.enabled {
            return;
        }
        let Ends { dir, src_b, dst_b, src_h, dst_h } = self.ends(start.src_ip(), start.dst_ip());
        let pair = stable_hash(&[&src_b, &dst_b]);
        self.baseline.pairs.prefetch(pair, step);
        self.sources.windows.prefetch(src_h, step);
        self.open.prefetch(start.flow_id(), step);
        match dir {
            NetDirection::Outbound => {
                self.beacons.prefetch(pair, step);
                self.baseline.reach.prefetch(dst_h, step);
            }
            NetDirection::Inbound => self.baseline.reach.prefetch(src_h, step),
            NetDirection::Internal | NetDirection::External => {}
        }
    }

    /// Starts loading what [`Context::enrich`] will look up for `record`, and the parts of its feature
    /// vector it reads and writes.
    pub fn prefetch_record(&self, record: &FlowRecord, step: Step) {
        if !self.enabled {
            return;
        }
        let Ends { dir, src_b, dst_b, src_h, dst_h } = self.ends(record.src_ip(), record.dst_ip());
        self.open.prefetch(record.flow_id, step);
        self.sources.windows.prefetch(src_h, step);
        self.auth.prefetch(src_h, step);
        if let Some(end) = internal_host(dir) {
            let host = if end == HostEnd::Source { src_h } else { dst_h };
            self.sources.bytes.prefetch(host, step);
            self.baseline.hosts.prefetch(host, step);
        }
        match dir {
            NetDirection::Outbound => {
                self.baseline.reach.prefetch(dst_h, step);
                self.beacons.prefetch(stable_hash(&[&src_b, &dst_b]), step);
            }
            NetDirection::Inbound => self.baseline.reach.prefetch(src_h, step),
            NetDirection::Internal | NetDirection::External => {}
        }
        if step == Step::Entry {
            let layout = schema::layout();
            let features = record.features.as_ptr();
            // The context ranges and, between them, the authentication failures it reads.
            for at in (layout.context_v2.start..layout.context_v3.end).step_by(8).chain([layout.context_v3.end - 1]) {
                prefetch(features.wrapping_add(at));
            }
        }
    }
}
