//! The scenario simulator end to end: deterministic output, captures Wireshark reads without
//! malformed packets or bad checksums, consistent TCP streams, and a truth file that covers exactly
//! the flows of the capture.

mod common;

use std::path::Path;
use std::process::Command;

use sensor::flow::{FlowTableConfig, RecordKind};
use sensor::simulate::behaviour::{VariantSet, attack_names};
use sensor::simulate::run::run;
use sensor::simulate::scenario::ScenarioConfig;
use sensor::simulate::truth::TruthIndex;

fn config(seed: u64, variants: VariantSet) -> ScenarioConfig {
    ScenarioConfig {
        name: "demo".into(),
        seed,
        workstations: 12,
        // 2024-03-04T08:00:00Z, a Monday.
        start_ns: 1_709_539_200_000_000_000,
        duration_ns: 10 * 60 * 1_000_000_000,
        attacks: attack_names().iter().map(|a| (a.to_string(), 1)).collect(),
        variants,
        // Big transfers at 2 % of their size keep the captures small; sessions stay the same.
        volume: 0.02,
        host_vantage: 0.0,
    }
}

fn simulate(dir: &Path, name: &str, cfg: &ScenarioConfig) -> (Vec<u8>, Vec<u8>) {
    let pcap = dir.join(format!("{name}.pcap"));
    let truth = dir.join(format!("{name}.csv"));
    let summary = run(cfg, std::fs::File::create(&pcap).unwrap(), &truth).unwrap();
    assert!(summary.packets > 1000, "{}", summary.line());
    assert!(summary.by_label[1] > 0 && summary.by_label[2] > 0, "attacks present: {}", summary.line());
    (std::fs::read(&pcap).unwrap(), std::fs::read(&truth).unwrap())
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = simulate(dir.path(), "a", &config(5, VariantSet::Train));
    let b = simulate(dir.path(), "b", &config(5, VariantSet::Train));
    let c = simulate(dir.path(), "c", &config(6, VariantSet::Train));
    assert!(a == b, "the same seed must give identical capture and truth");
    assert!(a.0 != c.0, "another seed gives another capture");
}

#[test]
fn wireshark_reads_every_packet_cleanly() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let host = ScenarioConfig { host_vantage: 0.5, ..config(11, VariantSet::Train) };
    for (name, cfg) in
        [("train", config(11, VariantSet::Train)), ("eval", config(11, VariantSet::Eval)), ("host-vantage", host)]
    {
        simulate(dir.path(), name, &cfg);
        let pcap = dir.path().join(format!("{name}.pcap"));
        // Two Wireshark 4.0 limits with encrypted streams, not defects of the capture: it cannot find
        // packet boundaries in chacha20-poly1305 SSH (OpenSSH's default encrypts the length) and
        // now and then misreads ciphertext as a length; and it does not follow RDP's switch from
        // X.224 to TLS, so TLS bytes after a retransmission are read as TPKT. SSH and TPKT are left
        // undissected here; their messages are checked dissected in sim_protocols_a.
        let out = Command::new("tshark")
            .args(["-n", "--disable-protocol", "ssh", "--disable-protocol", "tpkt"])
            .args(["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= error || tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order"])
            .args(["-T", "fields", "-e", "frame.number", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info", "-r"])
            .arg(&pcap)
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
        let bad = String::from_utf8_lossy(&out.stdout);
        let shown: Vec<&str> = bad.lines().take(20).collect();
        assert!(
            bad.trim().is_empty(),
            "{name}: tshark flags {} packets, e.g.:\n{}",
            bad.lines().count(),
            shown.join("\n")
        );
    }
}

/// Frames longer than an Ethernet frame with a 1500-byte MTU, and the packet count.
fn superpackets(pcap: &Path) -> (usize, usize) {
    let mut reader = sensor::capture::PcapFileReader::open(pcap).unwrap();
    let (mut big, mut all) = (0, 0);
    while let Some(p) = reader.next_packet().unwrap() {
        all += 1;
        big += usize::from(p.data.len() > 1514);
    }
    (big, all)
}

#[test]
fn host_vantage_changes_the_packets_not_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let wire = simulate(dir.path(), "wire", &config(5, VariantSet::Train));
    let host = simulate(dir.path(), "host", &ScenarioConfig { host_vantage: 0.5, ..config(5, VariantSet::Train) });
    let (wire_big, wire_all) = superpackets(&dir.path().join("wire.pcap"));
    let (host_big, host_all) = superpackets(&dir.path().join("host.pcap"));
    assert_eq!(wire_big, 0, "on the wire every segment fits the MTU");
    assert!(host_big > 20 && host_all < wire_all, "{host_big} superpackets, {host_all} packets against {wire_all}");
    // The same sessions, so the same flows and labels.
    let lines = |t: &[u8]| String::from_utf8_lossy(t).lines().count();
    assert_eq!(lines(&wire.1), lines(&host.1));
    let flows = |name: &str| {
        let flow = FlowTableConfig { checkpoint_interval_ns: None, ..FlowTableConfig::default() };
        let (records, _) = common::records_with(&dir.path().join(format!("{name}.pcap")), flow);
        let mut keys: Vec<_> = records.iter().filter(|r| r.kind == RecordKind::Final).map(|r| r.key).collect();
        keys.sort_by_key(|k| format!("{k:?}"));
        keys
    };
    let host_flows = flows("host");
    assert_eq!(flows("wire"), host_flows);
    let truth = TruthIndex::load(&dir.path().join("host.csv")).unwrap();
    assert_eq!(truth.len(), host_flows.len());
}

#[test]
fn truth_covers_exactly_the_flows_of_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(21, VariantSet::Train);
    simulate(dir.path(), "t", &cfg);
    let truth = TruthIndex::load(&dir.path().join("t.csv")).unwrap();
    // No idle split or checkpoint inside the short capture: one final record per session.
    let flow = FlowTableConfig { checkpoint_interval_ns: None, ..FlowTableConfig::default() };
    let (records, summary) = common::records_with(&dir.path().join("t.pcap"), flow);
    assert_eq!(summary.drops.total(), 0);
    let finals: Vec<_> = records.iter().filter(|r| r.kind == RecordKind::Final).collect();
    let unmatched: Vec<_> = finals.iter().filter(|r| truth.lookup(r).is_none()).collect();
    assert!(
        unmatched.is_empty(),
        "{} flows without truth, e.g. {:?}",
        unmatched.len(),
        unmatched.first().map(|r| (r.src_ip(), r.src_port(), r.dst_ip(), r.dst_port(), r.key.proto))
    );
    assert_eq!(finals.len(), truth.len(), "one flow per truth row");
    // Every label occurs.
    for label in ["benign", "exfiltration", "lateral_movement"] {
        assert!(finals.iter().any(|r| truth.lookup(r).unwrap().label == label), "no {label} flow");
    }
}

#[test]
fn simulate_then_extract_with_truth_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth, table) = (dir.path().join("s.pcap"), dir.path().join("s.parquet"), dir.path().join("flows.csv"));
    let args =
        ["simulate", "--scenario", "demo", "--hosts", "8", "--duration", "5m", "--seed", "3", "--volume-scale", "0.02"];
    let mut cmd: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    cmd.extend([std::ffi::OsStr::new("--out"), pcap.as_os_str(), std::ffi::OsStr::new("--truth"), truth.as_os_str()]);
    let out = common::sensor(&cmd);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lateral movement"), "summary line names the labels");
    let out = common::sensor([
        std::ffi::OsStr::new("extract"),
        std::ffi::OsStr::new("--pcap"),
        pcap.as_os_str(),
        std::ffi::OsStr::new("--truth"),
        truth.as_os_str(),
        std::ffi::OsStr::new("--out"),
        table.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("0 records matched no truth row"), "{err}");
    let text = std::fs::read_to_string(&table).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[15..19], ["label", "scenario", "behaviour", "technique"]);
    let labels: std::collections::BTreeSet<&str> =
        text.lines().skip(1).map(|l| l.split(',').nth(15).unwrap()).collect();
    assert!(
        labels.contains("benign") && labels.contains("lateral_movement") && labels.contains("exfiltration"),
        "{labels:?}"
    );
    // Bad arguments are named, and nothing is written.
    let bad = common::sensor(["simulate", "--scenario", "nope", "--out", "x.pcap", "--truth", "x.csv"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario \"nope\""));
    let bad = common::sensor(["simulate", "--attacks", "teleport=2", "--out", "x.pcap", "--truth", "x.csv"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown attack \"teleport\""));
    let bad = common::sensor(["simulate", "--host-vantage", "1.5", "--out", "x.pcap", "--truth", "x.csv"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--host-vantage 1.5: expected a share from 0 to 1"));
    assert!(!Path::new("x.pcap").exists() && !Path::new("x.csv").exists(), "a refused run writes no file");
}
