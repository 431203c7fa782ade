//! Running a scenario into a capture file and a truth file.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use super::scenario::{ScenarioConfig, Simulation};
use super::scheduler::Scheduler;
use super::truth::TruthWriter;
use crate::capture::LinkType;
use crate::capture::pcap_write::{PcapWriter, TsResolution};

/// What a simulation run wrote.
#[derive(Debug, Clone, Default)]
pub struct SimSummary {
    pub packets: u64,
    pub bytes: u64,
    pub sessions: u64,
    /// Sessions per label: benign, exfiltration, lateral movement.
    pub by_label: [u64; 3],
    pub peak_sessions: usize,
    pub seconds: f64,
}

impl SimSummary {
    pub fn line(&self) -> String {
        format!(
            "{} packets, {} bytes, {} sessions ({} benign, {} exfiltration, {} lateral movement), peak {} sessions at once, {:.2} s, {:.0} packets/s",
            self.packets,
            self.bytes,
            self.sessions,
            self.by_label[0],
            self.by_label[1],
            self.by_label[2],
            self.peak_sessions,
            self.seconds,
            self.packets as f64 / self.seconds.max(1e-9)
        )
    }
}

/// Runs `cfg`, writing packets to `pcap` (any writer) and truth rows to `truth`.
pub fn run<W: Write>(cfg: &ScenarioConfig, pcap: W, truth: &Path) -> anyhow::Result<SimSummary> {
    let started = Instant::now();
    let simulation = Simulation::new(cfg)?;
    let mut scheduler = Scheduler::new(simulation);
    let mut writer =
        PcapWriter::new(BufWriter::with_capacity(1 << 20, pcap), LinkType::Ethernet, 65_535, TsResolution::Nano)?;
    let mut truth_writer = TruthWriter::create(truth)?;
    let mut summary = SimSummary::default();
    let mut frame = Vec::with_capacity(2048);
    let mut truth_error = None;
    while let Some(ts) = scheduler.next_frame(&mut frame, &mut |t| {
        summary.sessions += 1;
        summary.by_label[match t.meaning.label {
            super::session::Label::Benign => 0,
            super::session::Label::Exfiltration => 1,
            super::session::Label::LateralMovement => 2,
        }] += 1;
        if truth_error.is_none()
            && let Err(e) = truth_writer.write(&t)
        {
            truth_error = Some(e);
        }
    }) {
        writer.write_packet(ts, frame.len() as u32, &frame)?;
        summary.packets += 1;
        summary.bytes += frame.len() as u64;
        summary.peak_sessions = summary.peak_sessions.max(scheduler.active());
    }
    if let Some(e) = truth_error {
        return Err(e.into());
    }
    writer.flush()?;
    truth_writer.finish()?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
