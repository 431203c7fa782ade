//! `sensor demo`: the main job on embedded defaults. It simulates a small office for 20 minutes with
//! one instance of every attack, runs the capture through the same pipeline as `extract`, joins the
//! ground truth, and reports what the flow layer saw per label and per attack. Scoring with the
//! shipped models and the caught/missed report arrive with the inference stage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::export::RowLabel;
use crate::features::schema::flow_v1;
use crate::flow::{FlowRecord, FlowTableConfig, RecordKind};
use crate::pipeline::{DEFAULT_MAX_FRAGMENTS, run_file};
use crate::simulate::behaviour::VariantSet;
use crate::simulate::scenario::{ScenarioConfig, default_attacks};
use crate::simulate::truth::TruthIndex;

/// Simulates the demo site into `pcap` (and its truth beside it), processes it, returns the report.
pub fn run(pcap: &Path, seed: u64) -> anyhow::Result<String> {
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed,
        workstations: 20,
        // Monday 2024-03-04, 09:00 UTC: working hours.
        start_ns: 1_709_542_800_000_000_000,
        duration_ns: 20 * 60 * 1_000_000_000,
        attacks: default_attacks("demo"),
        variants: VariantSet::Eval,
        volume: 0.25,
    };
    let truth_path = pcap.with_extension("truth.csv");
    let sim = crate::simulate::run::run(&cfg, std::fs::File::create(pcap)?, &truth_path)?;
    let truth = TruthIndex::load(&truth_path)?;
    let _ = std::fs::remove_file(&truth_path);
    let mut records: Vec<FlowRecord> = Vec::new();
    let summary = run_file(pcap, FlowTableConfig::default(), DEFAULT_MAX_FRAGMENTS, &mut |r| records.push(r), None)?;
    if let Some(e) = &summary.capture_error {
        anyhow::bail!("the simulated capture could not be read back: {e}");
    }

    let schema = flow_v1();
    let col = |name: &str| schema.index_of(name).expect("feature in schema");
    let (fb, bb) = (col("fwd_bytes"), col("bwd_bytes"));
    let unmatched = RowLabel::unmatched();
    let finals: Vec<(&FlowRecord, &RowLabel)> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Final)
        .map(|r| (r, truth.lookup(r).unwrap_or(&unmatched)))
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "sensor demo: a simulated office of {} workstations, 20 minutes, every attack once",
        cfg.workstations
    );
    let _ = writeln!(out, "simulation: {}", sim.line());
    let _ = writeln!(out, "pipeline:   {}", summary.line());
    let _ =
        writeln!(out, "features:   schema {} ({} features, sha256 {}…)", schema.id, schema.len(), &schema.hash[..16]);

    let mut by_label: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (r, l) in &finals {
        let e = by_label.entry(l.label.as_str()).or_default();
        e.0 += 1;
        e.1 += (r.features[fb] + r.features[bb]) as u64;
    }
    let _ = writeln!(out, "\nflows by ground-truth label:");
    for (label, (flows, bytes)) in &by_label {
        let _ = writeln!(out, "  {label:<18} {flows:>7} flows {bytes:>14} bytes");
    }

    let mut attacks: BTreeMap<&str, Vec<&FlowRecord>> = BTreeMap::new();
    for (r, l) in &finals {
        if l.label != "benign" && l.label != "unmatched" {
            attacks.entry(l.scenario.as_str()).or_default().push(r);
        }
    }
    let _ = writeln!(out, "\nattacks in the capture (what the flow layer sees of each):");
    for (instance, flows) in &attacks {
        let sent: f64 = flows.iter().map(|r| r.features[fb]).sum();
        let peers: std::collections::BTreeSet<String> = flows.iter().map(|r| r.dst_ip().to_string()).collect();
        let ports: std::collections::BTreeSet<u16> = flows.iter().map(|r| r.dst_port()).collect();
        let first = flows[0];
        let _ = writeln!(
            out,
            "  {instance:<18} from {:<12} {:>5} flows to {:>3} hosts, ports {:?}, {:>12.0} bytes sent",
            first.src_ip().to_string(),
            flows.len(),
            peers.len(),
            ports.iter().take(4).collect::<Vec<_>>(),
            sent
        );
    }
    let _ = writeln!(
        out,
        "\nNo model is shipped yet: scoring, alerts and the caught/missed report arrive with the inference stage.\n\
         Training data: `sensor simulate --out site.pcap --truth truth.csv` then\n\
         `sensor extract --pcap site.pcap --truth truth.csv --out flows.parquet`."
    );
    Ok(out)
}
