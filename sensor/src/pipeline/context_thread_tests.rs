//! The context stage on its own thread gives exactly the records, in the same order, and the same
//! statistics as the stage run inline, over a simulated site with DNS queries, hop chains and learned
//! novelty; with batches small enough that every path (back-pressure, batches cut by payload bytes)
//! is taken many times.

use std::path::{Path, PathBuf};

use super::*;
use crate::capture::PcapFileReader;
use crate::capture::pcap_file::MAX_BATCH;
use crate::context::{ContextConfig, ContextStats};
use crate::flow::FlowTableConfig;
use crate::pipeline::{DEFAULT_MAX_FRAGMENTS, EMPTY_RAW, FlowPipeline, WithContext, run_file};
use crate::simulate::behaviour::VariantSet;
use crate::simulate::scenario::ScenarioConfig;

/// A small office for 12 minutes with attacks that reach every context family.
fn simulated_site(dir: &Path) -> PathBuf {
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed: 11,
        workstations: 8,
        // Monday 2024-03-04, 09:00 UTC.
        start_ns: 1_709_542_800_000_000_000,
        duration_ns: 12 * 60 * 1_000_000_000,
        attacks: ["dns_tunnel", "wmi_exec", "ssh_pivot", "slow_drip", "internal_scan"]
            .iter()
            .map(|a| (a.to_string(), 1))
            .collect(),
        variants: VariantSet::Train,
        volume: 0.02,
        host_vantage: 0.0,
    };
    let pcap = dir.join("site.pcap");
    crate::simulate::run::run(&cfg, std::fs::File::create(&pcap).unwrap(), &dir.join("truth.csv")).unwrap();
    pcap
}

/// Learns for two minutes, so novelty features are set for most of the capture.
fn context() -> Context {
    Context::new(ContextConfig { learning_period_ns: 120 * 1_000_000_000, ..ContextConfig::default() })
}

fn flow_config() -> FlowTableConfig {
    FlowTableConfig { early_record_packets: Some(8), ..FlowTableConfig::default() }
}

/// Every packet of `path` through a fresh pipeline into `sink`, then the open flows.
fn feed(path: &Path, sink: &mut impl FlowSink) {
    let mut pipeline = FlowPipeline::new(flow_config(), DEFAULT_MAX_FRAGMENTS).unwrap();
    let mut reader = PcapFileReader::open(path).unwrap();
    loop {
        let mut batch = [EMPTY_RAW; MAX_BATCH];
        let n = reader.next_batch(&mut batch).unwrap();
        if n == 0 {
            break;
        }
        pipeline.batch(&batch[..n], sink);
    }
    pipeline.finish(sink);
}

/// The statistics that must match. Heap bytes vary from run to run even inline: some maps hash with a
/// random seed, and where deleted entries sit decides when a table grows.
fn counts(stats: ContextStats) -> ContextStats {
    ContextStats { memory_bytes: 0, ..stats }
}

fn inline(path: &Path) -> (Vec<FlowRecord>, ContextStats) {
    let (mut context, mut records) = (context(), Vec::new());
    feed(path, &mut WithContext { context: &mut context, emit: &mut |r| records.push(r) });
    (records, counts(context.stats()))
}

fn threaded(path: &Path, limits: FeedLimits) -> (Vec<FlowRecord>, ContextStats) {
    let (mut context, mut records) = (context(), Vec::new());
    run(&mut context, &mut |r| records.push(r), limits, |sink| feed(path, sink)).unwrap();
    (records, counts(context.stats()))
}

fn assert_same(expected: &[FlowRecord], got: &[FlowRecord]) {
    assert_eq!(expected.len(), got.len(), "record count");
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        assert_eq!((e.flow_id, e.kind, e.seq, e.end_ns), (g.flow_id, g.kind, g.seq, g.end_ns), "record {i}");
        assert_eq!(e.features.len(), g.features.len(), "features of record {i}");
        let names = &crate::features::schema::current().names;
        for ((name, a), b) in names.iter().zip(&e.features).zip(&g.features) {
            assert_eq!(a.to_bits(), b.to_bits(), "record {i} ({:016x}): {name} {a} != {b}", e.flow_id);
        }
        assert_eq!(e.context, g.context, "context of record {i}");
    }
}

fn column(name: &str) -> usize {
    crate::features::schema::current().names.iter().position(|n| n == name).unwrap()
}

#[test]
fn threaded_stage_matches_inline() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulated_site(dir.path());
    let (expected, expected_stats) = inline(&pcap);

    // The capture reaches what the context thread must get right: DNS queries (their payloads travel
    // with the batch), hop chains, learned novelty.
    let set = |name: &str| expected.iter().filter(|r| r.features[column(name)].is_finite()).count();
    assert!(set("ctx_dns_domain_queries_5m") > 10, "DNS features set on {}", set("ctx_dns_domain_queries_5m"));
    assert!(expected.iter().any(|r| r.context.chain.is_some()), "no hop chain");
    assert!(expected.iter().any(|r| r.features[column("ctx_pair_new")] == 1.0), "no new pair after learning");
    assert!(expected.len() > 300, "{} records", expected.len());

    // Tiny batches: the capture side waits for returns all the time; DNS payloads cut batches early.
    let tiny = FeedLimits { messages: 3, payload_bytes: 40, in_flight: 2 };
    for limits in [tiny, FeedLimits { in_flight: 1, ..tiny }, FeedLimits::DEFAULT] {
        let (got, stats) = threaded(&pcap, limits);
        assert_same(&expected, &got);
        assert_eq!(expected_stats, stats, "{limits:?}");
    }

    // The entry point the commands use.
    let (mut context, mut records) = (context(), Vec::new());
    let summary =
        run_file(&pcap, flow_config(), DEFAULT_MAX_FRAGMENTS, &mut context, &mut |r| records.push(r), None).unwrap();
    assert_same(&expected, &records);
    assert_eq!(counts(summary.context), expected_stats);
    let f = &summary.flow_stats;
    assert_eq!(f.final_records + f.checkpoint_records + f.early_records, records.len() as u64);
}

#[test]
fn disabled_context_runs_inline_with_missing_features() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulated_site(dir.path());
    let mut records = Vec::new();
    let mut context = Context::disabled();
    let summary =
        run_file(&pcap, flow_config(), DEFAULT_MAX_FRAGMENTS, &mut context, &mut |r| records.push(r), None).unwrap();
    assert!(!records.is_empty());
    assert_eq!((summary.context.entries, summary.context.unstarted_records), (0, 0));
    let schema = crate::features::schema::current();
    assert!(records.iter().all(|r| r.features.len() == schema.names.len()));
    assert!(records.iter().all(|r| r.features[column("ctx_dir_outbound")].is_nan() && r.context.direction.is_none()));
}
