//! Wires the stages: capture source → decode → flow table → records.
//!
//! [`FlowPipeline`] is the per-packet path shared by `extract`, `demo`, the benchmarks and (later) the
//! live modes, so the training table and the sensor can never disagree on a feature.

use std::path::Path;
use std::time::Instant;

use crate::capture::{CaptureError, PcapFileReader, RawPacket};
use crate::decode::{Decoder, DropCounts};
use crate::flow::{FlowRecord, FlowTable, FlowTableConfig, FlowTableStats};

/// Bound on IP datagrams whose fragments are being tracked.
pub const DEFAULT_MAX_FRAGMENTS: usize = 4096;

/// Decode and flow tracking for one stream of packets.
pub struct FlowPipeline {
    decoder: Decoder,
    table: FlowTable,
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
    pub fn packet(&mut self, raw: &RawPacket<'_>, emit: &mut impl FnMut(FlowRecord)) {
        if let Ok(meta) = self.decoder.decode(raw) {
            self.table.process(&meta, emit);
        }
    }

    /// Ends all flows (end of input).
    pub fn finish(&mut self, emit: &mut impl FnMut(FlowRecord)) {
        self.table.flush(emit);
    }

    pub fn drops(&self) -> &DropCounts {
        self.decoder.drops()
    }

    pub fn table(&self) -> &FlowTable {
        &self.table
    }
}

/// What a run over a capture did.
#[derive(Debug)]
pub struct RunSummary {
    pub packets: u64,
    pub drops: DropCounts,
    pub flow_stats: FlowTableStats,
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
            "{} packets, {} undecodable ({}), {} flows, {} records ({} final, {} checkpoint), {} evicted, {:.2} s, {:.0} packets/s",
            self.packets,
            self.drops.total(),
            drops.join(" "),
            f.flows_created,
            f.final_records + f.checkpoint_records,
            f.final_records,
            f.checkpoint_records,
            f.evicted,
            self.seconds,
            self.packets_per_second(),
        )
    }
}

/// Progress hook: called every few thousand packets with (bytes read so far, packets so far).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Runs a capture file through the pipeline. A read error stops reading, the flows seen so far are
/// flushed, and the error is returned inside the summary (the caller decides how to report it).
pub fn run_file(
    path: &Path,
    flow: FlowTableConfig,
    max_fragments: usize,
    emit: &mut impl FnMut(FlowRecord),
    progress: Option<Progress<'_>>,
) -> Result<RunSummary, RunError> {
    let mut reader = PcapFileReader::open(path).map_err(RunError::Open)?;
    let mut pipeline = FlowPipeline::new(flow, max_fragments).map_err(RunError::Config)?;
    let started = Instant::now();
    let mut packets = 0u64;
    let mut progress = progress;
    let capture_error = loop {
        match reader.next_packet() {
            Ok(Some(raw)) => {
                packets += 1;
                pipeline.packet(&raw, emit);
                if packets % 65_536 == 0
                    && let Some(p) = progress.as_mut()
                {
                    p(reader.bytes_read(), packets);
                }
            }
            Ok(None) => break None,
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
