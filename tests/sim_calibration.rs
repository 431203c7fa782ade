//! Calibration of the simulator against the real captures in `../shared/data/otrf-lateral-movement`.
//!
//! Measure: the distribution of *burst sizes* — bytes one side of a TCP connection sends before the
//! other side sends data (pure ACKs do not count) — over all connections of a protocol, compared with
//! the two-sample Kolmogorov–Smirnov distance D (the largest gap between the two cumulative
//! distributions). Bursts are what an application writes per turn, so the measure does not depend on
//! how the capture point segmented the stream (the real captures were taken on the hosts with
//! segmentation offload; ours are wire-size segments).

mod common;

use std::collections::HashMap;
use std::path::Path;

use sensor::capture::PcapFileReader;
use sensor::decode::{Decoder, Transport};
use sensor::flow::FlowKey;
use sensor::flow::key::KeySide;
use sensor::simulate::behaviour::VariantSet;
use sensor::simulate::run::run;
use sensor::simulate::scenario::ScenarioConfig;

/// Burst sizes of the TCP connections of `path` with a port in `ports`.
fn bursts(path: &Path, ports: &[u16]) -> Vec<u64> {
    let mut reader = PcapFileReader::open(path).unwrap();
    let mut decoder = Decoder::new(64);
    let mut open: HashMap<FlowKey, (KeySide, u64)> = HashMap::new();
    let mut out = Vec::new();
    // One real capture ends inside a record header: its packets before that count.
    while let Ok(Some(raw)) = reader.next_packet() {
        let Ok(meta) = decoder.decode(&raw) else { continue };
        let Transport::Tcp { src_port, dst_port, .. } = meta.transport else { continue };
        if meta.payload_len == 0 || !(ports.contains(&src_port) || ports.contains(&dst_port)) {
            continue;
        }
        let (key, side) = FlowKey::from_packet(&meta);
        match open.get_mut(&key) {
            Some((s, bytes)) if *s == side => *bytes += u64::from(meta.payload_len),
            Some(entry) => {
                out.push(entry.1);
                *entry = (side, u64::from(meta.payload_len));
            }
            None => {
                open.insert(key, (side, u64::from(meta.payload_len)));
            }
        }
    }
    out.extend(open.into_values().map(|(_, b)| b));
    out.sort_unstable();
    out
}

/// Two-sample Kolmogorov–Smirnov distance of sorted samples.
fn ks(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut d) = (0, 0, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

fn quantiles(v: &[u64]) -> Vec<u64> {
    [0.1, 0.25, 0.5, 0.75, 0.9].iter().map(|q| v[((v.len() - 1) as f64 * q) as usize]).collect()
}

fn real(names: &[&str], ports: &[u16]) -> Vec<u64> {
    let dir = common::shared_data().join("otrf-lateral-movement");
    let mut all: Vec<u64> = names.iter().flat_map(|n| bursts(&dir.join(n), ports)).collect();
    all.sort_unstable();
    all
}

fn simulated(attack: &str, ports: &[u16]) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed: 2,
        workstations: 10,
        start_ns: 1_709_539_200_000_000_000,
        duration_ns: 30 * 60 * 1_000_000_000,
        attacks: vec![(attack.to_string(), 3)],
        variants: VariantSet::Train,
        volume: 1.0,
    };
    let pcap = dir.path().join("sim.pcap");
    run(&cfg, std::fs::File::create(&pcap).unwrap(), &dir.path().join("truth.csv")).unwrap();
    bursts(&pcap, ports)
}

#[test]
fn winrm_bursts_are_close_to_the_psremoting_captures() {
    let real = real(
        &[
            "empire_psremoting_stager_WORKSTATION5_2020-09-20170827.cap",
            "empire_psremoting_stager_WORKSTATION6_2020-09-20170827.cap",
        ],
        &[5985],
    );
    let sim = simulated("winrm_lateral", &[5985]);
    let d = ks(&real, &sim);
    eprintln!(
        "WinRM bursts: real {} {:?}, simulated {} {:?}, KS D = {d:.3}",
        real.len(),
        quantiles(&real),
        sim.len(),
        quantiles(&sim)
    );
    assert!(real.len() > 40 && sim.len() > 40);
    assert!(d <= 0.30, "WinRM burst sizes drifted from the real captures: D = {d:.3}");
}

#[test]
fn ks_distance_by_hand() {
    assert_eq!(ks(&[1, 2, 3], &[1, 2, 3]), 0.0);
    assert_eq!(ks(&[1, 2], &[3, 4]), 1.0);
    // F_a(2) = 1, F_b(2) = 0.5.
    assert_eq!(ks(&[1, 2], &[1, 3]), 0.5);
}
