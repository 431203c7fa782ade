//! Parity with Wireshark: for every capture of `../shared/data/otrf-lateral-movement`, packets and bytes
//! per TCP and UDP conversation must equal what `tshark -q -z conv,tcp -z conv,udp` reports.
//!
//! Conversations are compared per (protocol, endpoint pair): tshark may split one 5-tuple into several
//! conversations (port reuse) and so may we (idle timeout, teardown); the sums must agree. tshark 4.0
//! prints byte counts of 10,000 and more in kB/MB (truncated), so bytes are also checked exactly against
//! the sum of `frame.len` that tshark reports per frame. The Community ID of every conversation must
//! equal the one tshark's `communityid` dissector computes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sensor::capture::CaptureError;
use sensor::flow::RecordKind;

/// (proto, endpoint a, endpoint b) with a ≤ b, endpoints as "ip:port" strings.
type ConvKey = (&'static str, String, String);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Totals {
    frames: u64,
    bytes: u64,
    /// Community IDs seen for the conversation (one, unless something is wrong).
    community_ids: std::collections::BTreeSet<String>,
}

fn conv_key(proto: &'static str, a: String, b: String) -> ConvKey {
    if a <= b { (proto, a, b) } else { (proto, b, a) }
}

fn endpoint(ip: &str, port: &str) -> String {
    if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }
}

/// Our totals per conversation from final records (checkpoints are cumulative snapshots).
fn ours(path: &Path) -> BTreeMap<ConvKey, Totals> {
    let (records, summary) = common::records_of(path);
    // One of the public captures ends one byte into a record header (tshark: "cut short in the middle
    // of a packet"); both tools count the packets before it.
    match &summary.capture_error {
        None | Some(CaptureError::Truncated { .. }) => {}
        Some(e) => panic!("{}: {e}", path.display()),
    }
    let mut map: BTreeMap<ConvKey, Totals> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind == RecordKind::Final) {
        let proto = match r.key.proto {
            6 => "tcp",
            17 => "udp",
            _ => continue,
        };
        let a = endpoint(&r.src_ip().to_string(), &r.src_port().to_string());
        let b = endpoint(&r.dst_ip().to_string(), &r.dst_port().to_string());
        let t = map.entry(conv_key(proto, a, b)).or_default();
        t.frames += r.fwd_packets + r.bwd_packets;
        t.bytes += r.fwd_wire_bytes + r.bwd_wire_bytes;
        t.community_ids.insert(r.community_id());
    }
    map
}

/// A tshark size: "123 bytes" exactly, or "36 kB" / "2 MB" as the truncated value in those units.
#[derive(Debug, Clone, Copy)]
enum Size {
    Exact(u64),
    Truncated { value: u64, unit: u64 },
}

impl Size {
    fn matches(self, bytes: u64) -> bool {
        match self {
            Size::Exact(b) => b == bytes,
            Size::Truncated { value, unit } => bytes / unit == value,
        }
    }
}

/// tshark exits non-zero on a capture cut short, after printing what it read; anything else fails.
fn check_tshark_status(path: &Path, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("cut short in the middle of a packet"),
        "tshark failed on {}: {stderr}",
        path.display()
    );
}

/// Conversations from `tshark -q -z conv,tcp -z conv,udp` (sizes as printed).
fn tshark_conversations(path: &Path) -> BTreeMap<ConvKey, Vec<(u64, Size)>> {
    let out =
        Command::new("tshark").args(["-n", "-q", "-z", "conv,tcp", "-z", "conv,udp", "-r"]).arg(path).output().unwrap();
    check_tshark_status(path, &out);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut proto = "";
    let mut map: BTreeMap<ConvKey, Vec<(u64, Size)>> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            proto = "tcp";
        } else if line.starts_with("UDP Conversations") {
            proto = "udp";
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 12 || f[1] != "<->" {
            continue;
        }
        // a <-> b | frames size unit (<-) | frames size unit (->) | frames size unit (total) | start | dur
        let total_frames: u64 = f[9].parse().unwrap();
        let value: u64 = f[10].parse().unwrap();
        let size = match f[11] {
            "bytes" => Size::Exact(value),
            "kB" => Size::Truncated { value, unit: 1_000 },
            "MB" => Size::Truncated { value, unit: 1_000_000 },
            other => panic!("unexpected size unit {other:?} in {line:?}"),
        };
        let split = |s: &str| {
            let (ip, port) = s.rsplit_once(':').unwrap();
            endpoint(ip.trim_start_matches('[').trim_end_matches(']'), port)
        };
        map.entry(conv_key(proto, split(f[0]), split(f[2]))).or_default().push((total_frames, size));
    }
    map
}

/// Exact frames, bytes and Community IDs per conversation from tshark's per-frame fields.
fn tshark_frames(path: &Path) -> BTreeMap<ConvKey, Totals> {
    let out = Command::new("tshark")
        .args(["-n", "--enable-protocol", "communityid", "-T", "fields", "-E", "separator=,", "-E", "occurrence=f"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst"])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "frame.len",
            "-e",
            "communityid",
        ])
        .arg("-r")
        .arg(path)
        .output()
        .unwrap();
    check_tshark_status(path, &out);
    let mut map: BTreeMap<ConvKey, Totals> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(',').collect();
        let (src, dst) = if !f[0].is_empty() { (f[0], f[1]) } else { (f[2], f[3]) };
        let (proto, sp, dp) = if !f[4].is_empty() {
            ("tcp", f[4], f[5])
        } else if !f[6].is_empty() {
            ("udp", f[6], f[7])
        } else {
            continue;
        };
        let t = map.entry(conv_key(proto, endpoint(src, sp), endpoint(dst, dp))).or_default();
        t.frames += 1;
        t.bytes += f[8].parse::<u64>().unwrap();
        t.community_ids.insert(f[9].to_string());
    }
    map
}

#[test]
fn packets_bytes_and_community_id_per_conversation_match_tshark() {
    common::require_tshark();
    let mut compared = 0;
    for path in common::lateral_movement_captures() {
        let ours = ours(&path);
        let convs = tshark_conversations(&path);
        let frames = tshark_frames(&path);
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!convs.is_empty(), "{name}: tshark listed no conversations");
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            convs.keys().collect::<Vec<_>>(),
            "{name}: the sets of TCP/UDP conversations differ"
        );
        for (key, parts) in &convs {
            let mine = &ours[key];
            let their_frames: u64 = parts.iter().map(|p| p.0).sum();
            assert_eq!(mine.frames, their_frames, "{name}: frames of {key:?}");
            if let [(_, size)] = parts.as_slice() {
                assert!(size.matches(mine.bytes), "{name}: bytes of {key:?}: ours {}, tshark {size:?}", mine.bytes);
            }
            assert_eq!(mine, &frames[key], "{name}: exact frames, bytes and Community ID of {key:?}");
            assert_eq!(mine.community_ids.len(), 1, "{name}: {key:?}");
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} conversations compared");
}
