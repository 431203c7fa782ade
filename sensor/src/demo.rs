//! `sensor demo`: the main job on embedded defaults. Until models ship, it generates a synthetic site
//! capture, runs it through the same pipeline as `extract`, and reports what the flow layer saw.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::features::port_class::PortClass;
use crate::features::schema::flow_v1;
use crate::flow::{FlowRecord, FlowTableConfig, RecordKind};
use crate::pipeline::{DEFAULT_MAX_FRAGMENTS, RunSummary, run_file};
use crate::simulate::synthetic::{SyntheticConfig, write_pcap};

/// Generates the demo capture at `pcap`, processes it, and returns the report text.
pub fn run(pcap: &Path, packets: u64, seed: u64) -> anyhow::Result<String> {
    // 200 µs between packets: 50 000 packets make a 10-second capture.
    let cfg =
        SyntheticConfig { seed, packets, concurrent_flows: 400, mean_gap_ns: 200_000, ..SyntheticConfig::default() };
    let file = std::fs::File::create(pcap)?;
    let written = write_pcap(cfg, std::io::BufWriter::new(file))?;
    let mut records: Vec<FlowRecord> = Vec::new();
    let summary = run_file(pcap, FlowTableConfig::default(), DEFAULT_MAX_FRAGMENTS, &mut |r| records.push(r), None)?;
    if let Some(e) = &summary.capture_error {
        anyhow::bail!("the generated capture could not be read back: {e}");
    }
    Ok(report(written, &summary, &records))
}

fn report(written: u64, summary: &RunSummary, records: &[FlowRecord]) -> String {
    let schema = flow_v1();
    let mut out = String::new();
    let _ = writeln!(out, "sensor demo: synthetic site capture, {written} packets generated");
    let _ = writeln!(out, "pipeline: {}", summary.line());
    let _ = writeln!(out, "feature schema: {} ({} features, sha256 {})", schema.id, schema.len(), &schema.hash[..16]);
    let finals: Vec<&FlowRecord> = records.iter().filter(|r| r.kind == RecordKind::Final).collect();
    let mut by_service: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for r in &finals {
        let service = match r.key.proto {
            6 | 17 => {
                format!("{}/{}", if r.key.proto == 6 { "tcp" } else { "udp" }, PortClass::of(r.dst_port()).name())
            }
            1 | 58 => "icmp".to_string(),
            p => format!("ip-proto-{p}"),
        };
        let e = by_service.entry(service).or_default();
        e.0 += 1;
        e.1 += r.fwd_packets + r.bwd_packets;
        e.2 += r.fwd_wire_bytes + r.bwd_wire_bytes;
    }
    let _ = writeln!(out, "\nflows by service (final records):");
    let _ = writeln!(out, "  {:<18} {:>8} {:>10} {:>14}", "service", "flows", "packets", "bytes");
    for (service, (flows, packets, bytes)) in &by_service {
        let _ = writeln!(out, "  {service:<18} {flows:>8} {packets:>10} {bytes:>14}");
    }
    let col = |name: &str| schema.index_of(name).expect("feature in schema");
    let (dur, fb, bb) = (col("duration_us"), col("fwd_bytes"), col("bwd_bytes"));
    let mut top: Vec<&&FlowRecord> = finals.iter().collect();
    top.sort_by_key(|r| std::cmp::Reverse((r.features[fb] as u64, r.flow_id)));
    let _ = writeln!(out, "\nlargest uploads (fwd_bytes):");
    for r in top.iter().take(5) {
        let _ = writeln!(
            out,
            "  {}:{} -> {}:{}  up {} B, down {} B, {:.1} ms, {}",
            r.src_ip(),
            r.src_port(),
            r.dst_ip(),
            r.dst_port(),
            r.features[fb],
            r.features[bb],
            r.features[dur] / 1000.0,
            r.reason.name()
        );
    }
    let _ = writeln!(
        out,
        "\nNo model is shipped yet: scoring and alerts arrive with the inference stage. \
         `sensor extract --pcap FILE --out flows.parquet` writes these features for training."
    );
    out
}
