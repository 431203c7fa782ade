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

/// Burst sizes of the TCP connections of `path` that `keep` accepts (given the decoded packet).
fn bursts_where(path: &Path, keep: &dyn Fn(&sensor::decode::PacketMeta<'_>, u16, u16) -> bool) -> Vec<u64> {
    let mut reader = PcapFileReader::open(path).unwrap();
    let mut decoder = Decoder::new(64);
    let mut open: HashMap<FlowKey, (KeySide, u64)> = HashMap::new();
    let mut out = Vec::new();
    // One real capture ends inside a record header: its packets before that count.
    while let Ok(Some(raw)) = reader.next_packet() {
        let Ok(meta) = decoder.decode(&raw) else { continue };
        let Transport::Tcp { src_port, dst_port, .. } = meta.transport else { continue };
        if meta.payload_len == 0 || !keep(&meta, src_port, dst_port) {
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

/// Burst sizes of the TCP connections of `path` with a port in `ports`.
fn bursts(path: &Path, ports: &[u16]) -> Vec<u64> {
    bursts_where(path, &|_, sp, dp| ports.contains(&sp) || ports.contains(&dp))
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

/// The largest KS distance accepted. Measured: SMB (PsExec) 0.09 and RPC (WMI) 0.10, within the 5 %
/// critical value of their sample sizes (about 0.15); WinRM 0.24, above its critical value (0.21):
/// the real PowerShell-remoting sessions are short, so their 341-byte authentication answers are a
/// larger share of the bursts than in the simulated sessions. The bound catches drift, not that gap.
const BOUND: f64 = 0.30;

fn quantiles(v: &[u64]) -> Vec<u64> {
    [0.1, 0.25, 0.5, 0.75, 0.9].iter().map(|q| v[((v.len() - 1) as f64 * q) as usize]).collect()
}

fn real(names: &[&str], ports: &[u16]) -> Vec<u64> {
    let dir = common::shared_data().join("otrf-lateral-movement");
    let mut all: Vec<u64> = names.iter().flat_map(|n| bursts(&dir.join(n), ports)).collect();
    all.sort_unstable();
    all
}

/// Bursts of the TCP connections between the two lab workstations (172.18.39.5 and .6) on `ports`
/// (0 in `ports` stands for any dynamic port, 49152–65535).
fn real_between_workstations(names: &[&str], ports: &[u16]) -> Vec<u64> {
    let dir = common::shared_data().join("otrf-lateral-movement");
    let ws = |ip: std::net::IpAddr| {
        ip == "172.18.39.5".parse::<std::net::IpAddr>().unwrap()
            || ip == "172.18.39.6".parse::<std::net::IpAddr>().unwrap()
    };
    let port_ok = |p: u16| ports.contains(&p) || (ports.contains(&0) && p >= 49_152);
    let keep =
        |m: &sensor::decode::PacketMeta<'_>, sp: u16, dp: u16| ws(m.src) && ws(m.dst) && (port_ok(sp) || port_ok(dp));
    let mut all: Vec<u64> = names.iter().flat_map(|n| bursts_where(&dir.join(n), &keep)).collect();
    all.sort_unstable();
    all
}

/// Bursts of the simulated connections whose truth behaviour is `behaviour`, on `ports` (0: any
/// dynamic port).
fn simulated_behaviour(attack: &str, behaviour: &str, ports: &[u16]) -> Vec<u64> {
    let (_dir, pcap, truth) = simulate(attack, 4);
    let text = std::fs::read_to_string(&truth).unwrap();
    // Connections of the behaviour: (client ip, client port) of each truth row.
    let clients: std::collections::HashSet<(String, u16)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[11] == behaviour).then(|| (f[5].to_string(), f[6].parse().unwrap()))
        })
        .collect();
    let port_ok = |p: u16| ports.contains(&p) || (ports.contains(&0) && p >= 49_152);
    let keep = |m: &sensor::decode::PacketMeta<'_>, sp: u16, dp: u16| {
        (clients.contains(&(m.src.to_string(), sp)) || clients.contains(&(m.dst.to_string(), dp)))
            && (port_ok(sp) || port_ok(dp))
            && sp != 88
            && dp != 88
    };
    bursts_where(&pcap, &keep)
}

fn simulated(attack: &str, ports: &[u16]) -> Vec<u64> {
    let (_dir, pcap, _) = simulate(attack, 3);
    bursts(&pcap, ports)
}

/// Simulates 30 minutes of a 10-workstation office with `count` instances of `attack`; returns the
/// temporary directory (kept alive by the caller), the capture and the truth file.
fn simulate(attack: &str, count: u32) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed: 2,
        workstations: 10,
        start_ns: 1_709_539_200_000_000_000,
        duration_ns: 30 * 60 * 1_000_000_000,
        attacks: vec![(attack.to_string(), count)],
        variants: VariantSet::Train,
        volume: 1.0,
        host_vantage: 0.0,
    };
    let (pcap, truth) = (dir.path().join("sim.pcap"), dir.path().join("truth.csv"));
    run(&cfg, std::fs::File::create(&pcap).unwrap(), &truth).unwrap();
    (dir, pcap, truth)
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
    assert!(d <= BOUND, "WinRM burst sizes drifted from the real captures: D = {d:.3}");
}

#[test]
fn ks_distance_by_hand() {
    assert_eq!(ks(&[1, 2, 3], &[1, 2, 3]), 0.0);
    assert_eq!(ks(&[1, 2], &[3, 4]), 1.0);
    // F_a(2) = 1, F_b(2) = 0.5.
    assert_eq!(ks(&[1, 2], &[1, 3]), 0.5);
}

#[test]
fn smb_bursts_of_psexec_are_close_to_the_covenant_captures() {
    let real = real_between_workstations(
        &[
            "covenant_sharpsc_create_dcerpc_smb_svcctl_2020-08-06022635.cap",
            "covenant_copy_smb_CreateRequest_2020-09-22145302.cap",
        ],
        &[445],
    );
    let sim = simulated_behaviour("psexec", "psexec", &[445]);
    let d = ks(&real, &sim);
    eprintln!(
        "SMB bursts: real {} {:?}, simulated {} {:?}, KS D = {d:.3}",
        real.len(),
        quantiles(&real),
        sim.len(),
        quantiles(&sim)
    );
    assert!(real.len() > 20 && sim.len() > 20);
    assert!(d <= BOUND, "SMB burst sizes drifted from the real captures: D = {d:.3}");
}

#[test]
fn rpc_bursts_of_wmi_are_close_to_the_empire_captures() {
    let real = real_between_workstations(
        &[
            "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_WORKSTATION5_2020-09-21001437.cap",
            "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_WORKSTATION6_2020-09-21001437.cap",
        ],
        &[135, 0],
    );
    let sim = simulated_behaviour("wmi_exec", "wmi_exec", &[135, 0]);
    let d = ks(&real, &sim);
    eprintln!(
        "RPC bursts: real {} {:?}, simulated {} {:?}, KS D = {d:.3}",
        real.len(),
        quantiles(&real),
        sim.len(),
        quantiles(&sim)
    );
    assert!(real.len() > 20 && sim.len() > 20);
    assert!(d <= BOUND, "RPC burst sizes drifted from the real captures: D = {d:.3}");
}
