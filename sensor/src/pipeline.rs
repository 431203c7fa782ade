//! Wires the stages: capture source → decode → flow table → context → records.
//!
//! [`FlowPipeline`] is the per-packet path shared by `extract`, `replay`, `baseline`, `demo`, the
//! benchmarks and the live modes, so the training table and the sensor can never disagree on a
//! feature. Its records carry the features of schema `flow-v2` (flow features, then context features).

use std::path::Path;
use std::time::Instant;

use std::net::{IpAddr, Ipv4Addr};

use crate::capture::pcap_file::MAX_BATCH;
use crate::capture::{CaptureError, LinkType, PcapFileReader, RawPacket};
use crate::context::{Context, ContextStats};
use crate::decode::{Decoder, DropCounts, Fragment, PacketMeta, Transport};
use crate::flow::{FlowRecord, FlowSink, FlowStart, FlowTable, FlowTableConfig, FlowTableStats};

/// Bound on IP datagrams whose fragments are being tracked.
pub const DEFAULT_MAX_FRAGMENTS: usize = 4096;

/// Decode, flow tracking and behavioural context for one stream of packets.
pub struct FlowPipeline<'c> {
    decoder: Decoder,
    table: FlowTable,
    context: &'c mut Context,
}

/// Passes the flow table's output through the context stage on its way to `emit`.
struct WithContext<'a, E> {
    context: &'a mut Context,
    emit: &'a mut E,
}

impl<E: FnMut(FlowRecord)> FlowSink for WithContext<'_, E> {
    #[inline]
    fn packet(&mut self, meta: &PacketMeta<'_>) {
        self.context.packet(meta);
    }

    fn started(&mut self, start: &FlowStart) {
        self.context.started(start);
    }

    fn record(&mut self, mut record: FlowRecord) {
        self.context.enrich(&mut record);
        (self.emit)(record);
    }
}

impl<'c> FlowPipeline<'c> {
    pub fn new(
        flow: FlowTableConfig,
        max_fragments: usize,
        context: &'c mut Context,
    ) -> Result<FlowPipeline<'c>, crate::flow::table::FlowConfigError> {
        Ok(FlowPipeline { decoder: Decoder::new(max_fragments), table: FlowTable::new(flow)?, context })
    }

    /// One captured frame. Undecodable frames are counted by reason in [`FlowPipeline::drops`].
    #[inline]
    pub fn packet(&mut self, raw: &RawPacket<'_>, emit: &mut impl FnMut(FlowRecord)) {
        if let Ok(meta) = self.decoder.decode(raw) {
            self.table.process(&meta, &mut WithContext { context: self.context, emit });
        }
    }

    /// Several captured frames, in order; the same result as [`FlowPipeline::packet`] on each, faster
    /// (the flow table overlaps the memory latency of their lookups).
    pub fn batch(&mut self, raws: &[RawPacket<'_>], emit: &mut impl FnMut(FlowRecord)) {
        for chunk in raws.chunks(MAX_BATCH) {
            let mut metas = [PLACEHOLDER; MAX_BATCH];
            let mut n = 0;
            for raw in chunk {
                if let Ok(meta) = self.decoder.decode(raw) {
                    metas[n] = meta;
                    n += 1;
                }
            }
            self.table.process_batch(&metas[..n], &mut WithContext { context: self.context, emit });
        }
    }

    /// Ends all flows (end of input).
    pub fn finish(&mut self, emit: &mut impl FnMut(FlowRecord)) {
        self.table.flush(&mut WithContext { context: self.context, emit });
    }

    pub fn context(&self) -> &Context {
        self.context
    }

    pub fn drops(&self) -> &DropCounts {
        self.decoder.drops()
    }

    pub fn table(&self) -> &FlowTable {
        &self.table
    }
}

/// Fills unused lanes of a batch; never processed.
const PLACEHOLDER: PacketMeta<'static> = PacketMeta {
    ts_ns: 0,
    wire_len: 0,
    vlan: 0,
    src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    proto: 0,
    ip_len: 0,
    header_len: 0,
    payload_len: 0,
    payload: &[],
    transport: Transport::Other,
    fragment: Fragment::None,
};

/// An empty frame, to fill batch arrays before the reader does.
pub const EMPTY_RAW: RawPacket<'static> = RawPacket { ts_ns: 0, orig_len: 0, link: LinkType::Ethernet, data: &[] };

/// What a run over a capture did.
#[derive(Debug)]
pub struct RunSummary {
    pub packets: u64,
    pub drops: DropCounts,
    pub flow_stats: FlowTableStats,
    pub context: ContextStats,
    pub seconds: f64,
    /// Set when the capture could not be read to its end; everything before it was processed.
    pub capture_error: Option<CaptureError>,
}

impl RunSummary {
    pub fn packets_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.packets as f64 / self.seconds } else { 0.0 }
    }

    /// One line for humans: packets, flows, drops by reason, time, rate.
    pub fn line(&self) -> String {
        let mut drops: Vec<String> =
            self.drops.iter().filter(|(_, n)| *n > 0).map(|(r, n)| format!("{}={n}", r.name())).collect();
        if drops.is_empty() {
            drops.push("none".into());
        }
        let f = &self.flow_stats;
        format!(
            "{} packets, {} undecodable ({}), {} out of time order, {} flows, {} records ({} final, {} checkpoint, {} early), {} evicted, {:.2} s, {:.0} packets/s",
            self.packets,
            self.drops.total(),
            drops.join(" "),
            f.out_of_order_packets,
            f.flows_created,
            f.final_records + f.checkpoint_records + f.early_records,
            f.final_records,
            f.checkpoint_records,
            f.early_records,
            f.evicted,
            self.seconds,
            self.packets_per_second(),
        )
    }
}

const PROGRESS_EVERY: u64 = 65_536;

/// Progress hook: called every few thousand packets with (bytes read so far, packets so far).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Runs a capture file through the pipeline (see [`run_reader`]).
pub fn run_file(
    path: &Path,
    flow: FlowTableConfig,
    max_fragments: usize,
    context: &mut Context,
    emit: &mut impl FnMut(FlowRecord),
    progress: Option<Progress<'_>>,
) -> Result<RunSummary, RunError> {
    let reader = PcapFileReader::open(path).map_err(RunError::Open)?;
    run_reader(reader, flow, max_fragments, context, emit, progress)
}

/// Runs an opened capture through the pipeline. A read error stops reading, the flows seen so far are
/// flushed, and the error is returned inside the summary (the caller decides how to report it).
pub fn run_reader<R: std::io::Read>(
    mut reader: PcapFileReader<R>,
    flow: FlowTableConfig,
    max_fragments: usize,
    context: &mut Context,
    emit: &mut impl FnMut(FlowRecord),
    progress: Option<Progress<'_>>,
) -> Result<RunSummary, RunError> {
    let mut pipeline = FlowPipeline::new(flow, max_fragments, context).map_err(RunError::Config)?;
    let started = Instant::now();
    let mut packets = 0u64;
    let mut progress = progress;
    let mut next_progress = PROGRESS_EVERY;
    let capture_error = loop {
        let mut batch = [EMPTY_RAW; MAX_BATCH];
        match reader.next_batch(&mut batch) {
            Ok(0) => break None,
            Ok(n) => {
                packets += n as u64;
                pipeline.batch(&batch[..n], emit);
                if packets >= next_progress
                    && let Some(p) = progress.as_mut()
                {
                    next_progress += PROGRESS_EVERY;
                    p(reader.bytes_read(), packets);
                }
            }
            Err(e) => break Some(e),
        }
    };
    pipeline.finish(emit);
    if let Some(p) = progress.as_mut() {
        p(reader.bytes_read(), packets);
    }
    Ok(RunSummary {
        packets,
        drops: pipeline.drops().clone(),
        flow_stats: pipeline.table().stats(),
        context: pipeline.context().stats(),
        seconds: started.elapsed().as_secs_f64(),
        capture_error,
    })
}

/// Errors that stop a run before any packet is read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Open(CaptureError),
    #[error("invalid flow settings: {0}")]
    Config(#[source] crate::flow::table::FlowConfigError),
}
