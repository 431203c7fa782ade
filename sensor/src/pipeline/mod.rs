//! Wires the stages: capture source → decode → flow table → context → records.
//!
//! [`FlowPipeline`] (decode and flow table) is the per-packet path shared by `extract`, `replay`,
//! `baseline`, `demo`, the benchmarks and the live modes, so the training table and the sensor can
//! never disagree on a feature. Its output — packets of interest, flow starts, records — goes to a
//! [`FlowSink`]; the behavioural context stage is one, and the records it emits carry every feature of the
//! current schema (`features::schema::current`: the flow table's, then the context stage's filled in).
//!
//! [`run_reader`] runs the context stage on a thread of its own ([`context_thread`]): capture, decode
//! and flow table on one core, context on another, with records identical to those of the stage run
//! inline ([`WithContext`], used when the stage is disabled and has nothing to compute).

mod context_thread;

use std::path::Path;
use std::time::Instant;

use std::net::{IpAddr, Ipv4Addr};

use crate::capture::pcap_file::MAX_BATCH;
use crate::capture::{CaptureError, LinkType, PcapFileReader, RawPacket};
use crate::context::{Context, ContextStats};
use crate::decode::{Decoder, Delivery, DropCounts, Fragment, PacketMeta, Transport};
use crate::flow::{FlowRecord, FlowSink, FlowStart, FlowTable, FlowTableConfig, FlowTableStats};
use context_thread::FeedLimits;

/// Bound on IP datagrams whose fragments are being tracked.
pub const DEFAULT_MAX_FRAGMENTS: usize = 4096;

/// Decode and flow tracking for one stream of packets.
pub struct FlowPipeline {
    decoder: Decoder,
    table: FlowTable,
}

/// The context stage on the calling thread: passes the flow table's output through `context` on its
/// way to `emit`.
pub struct WithContext<'a, E> {
    pub context: &'a mut Context,
    pub emit: &'a mut E,
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

impl FlowPipeline {
    pub fn new(
        flow: FlowTableConfig,
        max_fragments: usize,
    ) -> Result<FlowPipeline, crate::flow::table::FlowConfigError> {
        Ok(FlowPipeline { decoder: Decoder::new(max_fragments), table: FlowTable::new(flow)? })
    }

    /// One captured frame. Undecodable frames are counted by reason in [`FlowPipeline::drops`].
    #[inline]
    pub fn packet(&mut self, raw: &RawPacket<'_>, sink: &mut impl FlowSink) {
        if let Ok(meta) = self.decoder.decode(raw) {
            self.table.process(&meta, sink);
        }
    }

    /// Several captured frames, in order; the same result as [`FlowPipeline::packet`] on each, faster
    /// (the flow table overlaps the memory latency of their lookups).
    pub fn batch(&mut self, raws: &[RawPacket<'_>], sink: &mut impl FlowSink) {
        for chunk in raws.chunks(MAX_BATCH) {
            let mut metas = [PLACEHOLDER; MAX_BATCH];
            let mut n = 0;
            for raw in chunk {
                if let Ok(meta) = self.decoder.decode(raw) {
                    metas[n] = meta;
                    n += 1;
                }
            }
            self.table.process_batch(&metas[..n], sink);
        }
    }

    /// Ends all flows (end of input).
    pub fn finish(&mut self, sink: &mut impl FlowSink) {
        self.table.flush(sink);
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
    delivery: Delivery::Unicast,
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

/// Runs an opened capture through the pipeline, the context stage on a thread of its own when it is
/// enabled (records and statistics are the same as inline; `emit` runs on this thread, in record order).
/// A read error stops reading, the flows seen so far are flushed, and the error is returned inside the
/// summary (the caller decides how to report it).
pub fn run_reader<R: std::io::Read>(
    reader: PcapFileReader<R>,
    flow: FlowTableConfig,
    max_fragments: usize,
    context: &mut Context,
    emit: &mut impl FnMut(FlowRecord),
    progress: Option<Progress<'_>>,
) -> Result<RunSummary, RunError> {
    let mut pipeline = FlowPipeline::new(flow, max_fragments).map_err(RunError::Config)?;
    let started = Instant::now();
    let mut input = Input { reader, packets: 0, progress, next_progress: PROGRESS_EVERY };
    let capture_error = if context.is_enabled() {
        context_thread::run(context, emit, FeedLimits::DEFAULT, |sink| input.run(&mut pipeline, sink))
            .map_err(RunError::ContextThread)?
    } else {
        input.run(&mut pipeline, &mut WithContext { context, emit })
    };
    Ok(RunSummary {
        packets: input.packets,
        drops: pipeline.drops().clone(),
        flow_stats: pipeline.table().stats(),
        context: context.stats(),
        seconds: started.elapsed().as_secs_f64(),
        capture_error,
    })
}

/// A capture being read, with its progress reports.
struct Input<'p, R: std::io::Read> {
    reader: PcapFileReader<R>,
    packets: u64,
    progress: Option<Progress<'p>>,
    next_progress: u64,
}

impl<R: std::io::Read> Input<'_, R> {
    /// Every packet through `pipeline` into `sink`, then the flows still open; the read error that
    /// stopped it early, if any.
    fn run(&mut self, pipeline: &mut FlowPipeline, sink: &mut impl FlowSink) -> Option<CaptureError> {
        let capture_error = loop {
            let mut batch = [EMPTY_RAW; MAX_BATCH];
            match self.reader.next_batch(&mut batch) {
                Ok(0) => break None,
                Ok(n) => {
                    self.packets += n as u64;
                    pipeline.batch(&batch[..n], sink);
                    if self.packets >= self.next_progress
                        && let Some(p) = self.progress.as_mut()
                    {
                        self.next_progress += PROGRESS_EVERY;
                        p(self.reader.bytes_read(), self.packets);
                    }
                }
                Err(e) => break Some(e),
            }
        };
        pipeline.finish(sink);
        if let Some(p) = self.progress.as_mut() {
            p(self.reader.bytes_read(), self.packets);
        }
        capture_error
    }
}

/// Errors that stop a run before any packet is read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Open(CaptureError),
    #[error("invalid flow settings: {0}")]
    Config(#[source] crate::flow::table::FlowConfigError),
    #[error("cannot start the context stage's thread: {0}")]
    ContextThread(#[source] std::io::Error),
}
