//! The alert policy with hits made of real flow records and the real test classifier: aggregation of
//! repeats, the window, the per-source rate limit refilled by packet time, the `max_open` and
//! `max_sources` bounds, and (proptest) conservation: every hit is folded, sent or rate-limited.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use super::*;
use crate::features::schema::flow_v1;
use crate::flow::key::{Endpoint, Family, FlowKey};
use crate::flow::{EndReason, RecordKind};

const S: u64 = 1_000_000_000;
/// Label indices of the test classifier (`benign`, `exfiltration`, `lateral_movement`).
const EXFIL: usize = 1;
const LATERAL: usize = 2;

fn classifier() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let bytes = include_bytes!("../../../models/test/flow-classifier-test.onnx");
            Arc::new(Model::from_bytes(bytes, "t").expect("the test classifier loads"))
        })
        .clone()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// A final TCP record from 10.0.0.`src`:40000 to 10.0.0.`dst`:445 ending at `end_ns`.
fn record(flow_id: u64, src: u8, dst: u8, end_ns: u64) -> FlowRecord {
    let ep = |last: u8, port: u16| {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[10, 0, 0, last]);
        Endpoint { addr, port }
    };
    let (s, d) = (ep(src, 40000), ep(dst, 445));
    let lo_is_initiator = (s.addr, s.port) <= (d.addr, d.port);
    let (lo, hi) = if lo_is_initiator { (s, d) } else { (d, s) };
    FlowRecord {
        flow_id,
        kind: RecordKind::Final,
        reason: EndReason::TcpFin,
        seq: 0,
        key: FlowKey { lo, hi, vlan: 0, proto: 6, family: Family::V4 },
        lo_is_initiator,
        delivery: crate::decode::Delivery::Unicast,
        start_ns: end_ns.saturating_sub(S),
        end_ns,
        fwd_packets: 10,
        bwd_packets: 8,
        fwd_wire_bytes: 1000,
        bwd_wire_bytes: 800,
        features: vec![0.0; flow_v1().len()],
        context: Default::default(),
    }
}

fn hit(flow_id: u64, src: u8, dst: u8, end_ns: u64, label_index: usize, score: f32) -> Hit {
    let model = classifier();
    let threshold = model.manifest.threshold(&model.manifest.labels[label_index]).unwrap_or(0.5);
    Hit { record: Arc::new(record(flow_id, src, dst, end_ns)), model, label_index, score, threshold }
}

/// `h` on a flow whose first packet was delivered as `delivery`.
fn delivered(delivery: crate::decode::Delivery, h: Hit) -> Hit {
    let record = FlowRecord { delivery, ..(*h.record).clone() };
    Hit { record: Arc::new(record), ..h }
}

/// [`hit`] on a flow whose first packet was a broadcast to 10.0.0.`dst`.
fn broadcast_hit(flow_id: u64, src: u8, dst: u8, end_ns: u64, label_index: usize, score: f32) -> Hit {
    delivered(crate::decode::Delivery::Broadcast, hit(flow_id, src, dst, end_ns, label_index, score))
}

fn cfg(window_s: u64, per_minute: u32) -> PolicyConfig {
    PolicyConfig { aggregation_window_ns: window_s * S, rate_limit_per_minute: per_minute, ..PolicyConfig::default() }
}

#[test]
fn the_hits_are_built_from_the_real_classifier() {
    let m = classifier();
    assert_eq!(m.manifest.labels, ["benign", "exfiltration", "lateral_movement"]);
    let r = record(1, 1, 2, S);
    assert_eq!((r.src_ip(), r.dst_ip()), (ip(1), ip(2)));
    let r = record(1, 9, 2, S);
    assert_eq!((r.src_ip(), r.dst_ip(), r.src_port(), r.dst_port()), (ip(9), ip(2), 40000, 445));
}

#[test]
fn thresholds_come_from_the_config_else_the_manifest() {
    let m = classifier();
    let mut c = cfg(30, 0);
    c.thresholds.insert("exfiltration".into(), 0.99);
    let p = AlertPolicy::new(c);
    assert_eq!(p.threshold(&m, "exfiltration"), Some(0.99));
    assert_eq!(p.threshold(&m, "lateral_movement"), m.manifest.threshold("lateral_movement"));
    assert!(p.threshold(&m, "lateral_movement").is_some());
    assert_eq!(p.threshold(&m, "benign"), None, "a label without any threshold never alerts");
}

#[test]
fn repeats_within_the_window_fold_into_one_alert() {
    let mut p = AlertPolicy::new(cfg(30, 0));
    let mut out = Vec::new();
    // Opened at t = 1 s; repeats at 5 s (the best score), 10 s (flow 1 again), then 20 more flows.
    p.offer(hit(1, 1, 2, S, EXFIL, 0.7), S, &mut out);
    p.offer(hit(2, 1, 2, 5 * S, EXFIL, 0.9), 5 * S, &mut out);
    p.offer(hit(1, 1, 2, 10 * S, EXFIL, 0.8), 10 * S, &mut out);
    for id in 100..120 {
        p.offer(hit(id, 1, 2, 20 * S, EXFIL, 0.6), 20 * S, &mut out);
    }
    assert!(out.is_empty(), "nothing leaves inside the window");
    assert_eq!(p.open_len(), 1);
    assert_eq!(p.stats.aggregated, 22);

    p.advance(31 * S - 1, &mut out);
    assert!(out.is_empty(), "the window (opened at 1 s) ends at 31 s");
    p.advance(31 * S, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(p.open_len(), 0);
    let a = &out[0];
    assert_eq!(a.count, 23);
    assert_eq!((a.first_ns, a.last_ns), (S, 20 * S));
    assert_eq!(a.best.score, 0.9, "the highest-scoring hit is kept");
    assert_eq!(a.best.record.flow_id, 2);
    assert_eq!(a.best.label(), "exfiltration");
    assert_eq!(a.flow_ids.len(), 16, "flow ids are capped");
    assert_eq!(a.flow_ids[..3], [1, 2, 100], "flow ids are distinct, in order of arrival");
    let mut distinct = a.flow_ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), a.flow_ids.len());
    assert_eq!(p.stats.alerts, BTreeMap::from([("exfiltration".to_string(), 1)]));

    // The same triple after the window opens a new aggregate.
    out.clear();
    p.offer(hit(3, 1, 2, 40 * S, EXFIL, 0.7), 40 * S, &mut out);
    assert!(out.is_empty());
    assert_eq!(p.open_len(), 1);
    p.flush(&mut out);
    assert_eq!((out.len(), out[0].count, out[0].best.record.flow_id), (1, 1, 3));
    assert_eq!(p.open_len(), 0);
}

#[test]
fn a_later_hit_leaves_the_expired_aggregate_first() {
    let mut p = AlertPolicy::new(cfg(10, 0));
    let mut out = Vec::new();
    p.offer(hit(1, 1, 2, 0, EXFIL, 0.7), 0, &mut out);
    p.offer(hit(2, 1, 2, 12 * S, EXFIL, 0.95), 12 * S, &mut out);
    assert_eq!(out.len(), 1, "the hit at 12 s found the first window over");
    assert_eq!((out[0].count, out[0].best.score), (1, 0.7));
    assert_eq!(p.open_len(), 1);
    assert_eq!(p.stats.aggregated, 0);
}

#[test]
fn different_destinations_and_labels_are_separate_alerts() {
    let mut p = AlertPolicy::new(cfg(30, 0));
    let mut out = Vec::new();
    p.offer(hit(1, 1, 2, S, EXFIL, 0.7), S, &mut out);
    p.offer(hit(2, 1, 3, S, EXFIL, 0.7), S, &mut out);
    p.offer(hit(3, 1, 2, S, LATERAL, 0.9), S, &mut out);
    p.offer(hit(4, 4, 2, S, EXFIL, 0.7), S, &mut out);
    p.offer(hit(5, 1, 3, 2 * S, EXFIL, 0.8), 2 * S, &mut out);
    assert_eq!(p.open_len(), 4);
    assert_eq!(p.stats.aggregated, 1);
    p.flush(&mut out);
    assert_eq!(out.len(), 4);
    let mut keys: Vec<(IpAddr, IpAddr, String, u64)> = out
        .iter()
        .map(|r| (r.best.record.src_ip(), r.best.record.dst_ip(), r.best.label().to_string(), r.count))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            (ip(1), ip(2), "exfiltration".to_string(), 1),
            (ip(1), ip(2), "lateral_movement".to_string(), 1),
            (ip(1), ip(3), "exfiltration".to_string(), 2),
            (ip(4), ip(2), "exfiltration".to_string(), 1),
        ]
    );
    assert_eq!(p.stats.alerts, BTreeMap::from([("exfiltration".to_string(), 3), ("lateral_movement".to_string(), 1)]));
}

#[test]
fn window_zero_sends_every_hit_at_once() {
    let mut p = AlertPolicy::new(cfg(0, 0));
    let mut out = Vec::new();
    for i in 0..5 {
        p.offer(hit(i, 1, 2, S, EXFIL, 0.7), S, &mut out);
        assert_eq!(out.len() as u64, i + 1, "hit {i} is sent when offered");
        assert_eq!(p.open_len(), 0);
    }
    assert!(out.iter().all(|r| r.count == 1 && r.flow_ids.len() == 1));
    assert_eq!(p.stats.aggregated, 0);
    assert_eq!(p.stats.alerts["exfiltration"], 5);
}

#[test]
fn the_rate_limit_counts_refusals_and_refills_with_packet_time() {
    let mut p = AlertPolicy::new(cfg(300, 2));
    let mut out = Vec::new();
    let t0 = 100 * S;
    p.offer(hit(1, 1, 2, t0, EXFIL, 0.7), t0, &mut out);
    p.offer(hit(2, 1, 3, t0, EXFIL, 0.7), t0, &mut out);
    p.offer(hit(3, 1, 4, t0, EXFIL, 0.7), t0, &mut out);
    assert_eq!(p.open_len(), 2);
    assert_eq!(p.stats.rate_limited, BTreeMap::from([("exfiltration".to_string(), 1)]));
    // A repeat of an open aggregate needs no token; another source has its own bucket.
    p.offer(hit(4, 1, 2, t0, EXFIL, 0.8), t0, &mut out);
    p.offer(hit(5, 7, 4, t0, EXFIL, 0.7), t0, &mut out);
    assert_eq!(p.open_len(), 3);
    assert_eq!(p.stats.aggregated, 1);
    assert_eq!(p.stats.rate_limited["exfiltration"], 1);
    // 2 per minute: one token every 30 s of packet time.
    p.offer(hit(6, 1, 5, t0 + 29 * S, LATERAL, 0.9), t0 + 29 * S, &mut out);
    assert_eq!(p.stats.rate_limited.get("lateral_movement"), Some(&1), "29 s refill less than one token");
    p.offer(hit(7, 1, 5, t0 + 31 * S, LATERAL, 0.9), t0 + 31 * S, &mut out);
    assert_eq!(p.stats.rate_limited.get("lateral_movement"), Some(&1), "31 s refill one token");
    assert_eq!(p.open_len(), 4);
    p.offer(hit(8, 1, 6, t0 + 31 * S, EXFIL, 0.9), t0 + 31 * S, &mut out);
    assert_eq!(p.stats.rate_limited["exfiltration"], 2);
    // A long quiet spell refills the bucket only up to its capacity (2).
    let t1 = t0 + 3600 * S;
    for (i, dst) in (10..14).enumerate() {
        p.offer(hit(20 + i as u64, 1, dst, t1, EXFIL, 0.7), t1, &mut out);
    }
    assert_eq!(p.stats.rate_limited["exfiltration"], 4);
    assert!(out.iter().all(|r| r.best.record.dst_ip() != ip(4) || r.best.record.src_ip() != ip(1)));
}

#[test]
fn at_most_max_open_aggregates_are_open_and_the_oldest_leaves_early() {
    let mut c = cfg(60, 0);
    c.max_open = 3;
    let mut p = AlertPolicy::new(c);
    let mut out = Vec::new();
    for dst in 2..7u8 {
        let t = u64::from(dst) * S;
        p.offer(hit(u64::from(dst), 1, dst, t, EXFIL, 0.7), t, &mut out);
        assert!(p.open_len() <= 3);
    }
    assert_eq!(p.open_len(), 3);
    assert_eq!(p.stats.early_sent, 2);
    let sent: Vec<IpAddr> = out.iter().map(|r| r.best.record.dst_ip()).collect();
    assert_eq!(sent, [ip(2), ip(3)], "the oldest leave first");
    // A repeat of an open one folds without sending anything.
    p.offer(hit(99, 1, 6, 7 * S, EXFIL, 0.7), 7 * S, &mut out);
    assert_eq!((out.len(), p.open_len(), p.stats.early_sent), (2, 3, 2));
    p.flush(&mut out);
    assert_eq!(out.len(), 5);
    assert_eq!(p.stats.alerts["exfiltration"], 5);
}

#[test]
fn sources_beyond_max_sources_are_not_limited_and_are_counted() {
    let mut c = cfg(0, 1);
    c.max_sources = 1;
    let mut p = AlertPolicy::new(c);
    let mut out = Vec::new();
    p.offer(hit(1, 1, 2, 0, EXFIL, 0.7), 0, &mut out);
    p.offer(hit(2, 1, 3, 0, EXFIL, 0.7), 0, &mut out);
    assert_eq!(p.stats.rate_limited["exfiltration"], 1);
    // Source 1's bucket is empty, so it is kept; source 4 has no room and is let through.
    p.offer(hit(3, 4, 2, 0, EXFIL, 0.7), 0, &mut out);
    assert_eq!(p.stats.unlimited_sources, 1);
    assert_eq!(out.len(), 2);
    // A minute later source 1's bucket is full again and is forgotten: source 5 is limited normally.
    p.offer(hit(4, 5, 2, 61 * S, EXFIL, 0.7), 61 * S, &mut out);
    p.offer(hit(5, 5, 3, 61 * S, EXFIL, 0.7), 61 * S, &mut out);
    assert_eq!(p.stats.unlimited_sources, 1);
    assert_eq!(p.stats.rate_limited["exfiltration"], 2);
    assert_eq!(out.len(), 3);
}

#[test]
fn the_sensor_wide_limit_bounds_new_alerts_from_all_sources() {
    let mut c = cfg(0, 0);
    c.max_alerts_per_minute = 2;
    let mut p = AlertPolicy::new(c);
    let mut out = Vec::new();
    for src in 1..=3 {
        p.offer(hit(u64::from(src), src, 9, 0, EXFIL, 0.7), 0, &mut out);
    }
    assert_eq!(out.len(), 2, "two alerts a minute from the whole sensor");
    assert_eq!(p.stats.rate_limited["exfiltration"], 1);
    p.offer(hit(4, 4, 9, 29 * S, EXFIL, 0.7), 29 * S, &mut out);
    assert_eq!((out.len(), p.stats.rate_limited["exfiltration"]), (2, 2), "29 s: less than one token");
    p.offer(hit(5, 5, 9, 31 * S, EXFIL, 0.7), 31 * S, &mut out);
    assert_eq!((out.len(), p.stats.rate_limited["exfiltration"]), (3, 2), "31 s: one token");
}

#[derive(Debug, Clone)]
struct Step {
    dt_ms: u64,
    src: u8,
    dst: u8,
    lateral: bool,
    score: f32,
}

fn step() -> impl Strategy<Value = Step> {
    (0u64..20_000, 1u8..5, 1u8..6, any::<bool>(), 0.5f32..1.0).prop_map(|(dt_ms, src, dst, lateral, score)| Step {
        dt_ms,
        src,
        dst,
        lateral,
        score,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the hits and settings: never more than `max_open` open, and every hit is accounted
    /// for exactly once (in the count of one alert, as rate-limited, as suppressed: source 10.0.0.1
    /// for `lateral_movement`, or as to a group destination: the broadcast flows to 10.0.0.5).
    #[test]
    fn open_aggregates_are_bounded_and_hits_are_conserved(
        steps in proptest::collection::vec(step(), 1..80),
        window_s in 0u64..40,
        per_minute in 0u32..4,
        max_open in 1usize..5,
        max_sources in 1usize..4,
        global_per_minute in 0u32..6,
    ) {
        let c = PolicyConfig {
            aggregation_window_ns: window_s * S,
            rate_limit_per_minute: per_minute,
            max_alerts_per_minute: global_per_minute,
            max_open,
            max_sources,
            thresholds: BTreeMap::new(),
            suppress_sources: BTreeMap::from([(
                "lateral_movement".to_string(),
                vec![crate::context::site::Prefix::parse("10.0.0.1/32").unwrap()],
            )]),
        };
        let mut p = AlertPolicy::new(c);
        let mut out = Vec::new();
        let mut now = 0u64;
        let mut offered: BTreeMap<String, u64> = BTreeMap::new();
        for (i, s) in steps.iter().enumerate() {
            now += s.dt_ms * 1_000_000;
            let label = if s.lateral { LATERAL } else { EXFIL };
            let h = if s.dst == 5 { broadcast_hit } else { hit }(i as u64, s.src, s.dst, now, label, s.score);
            *offered.entry(h.label().to_string()).or_default() += 1;
            p.offer(h, now, &mut out);
            prop_assert!(p.open_len() <= max_open, "{} open, max {max_open}", p.open_len());
        }
        p.flush(&mut out);
        prop_assert_eq!(p.open_len(), 0);

        let n = steps.len() as u64;
        let limited: u64 = p.stats.rate_limited.values().sum();
        let suppressed: u64 =
            p.stats.suppressed.values().sum::<u64>() + p.stats.group_destinations.values().sum::<u64>();
        prop_assert_eq!(
            p.stats.group_destinations.values().sum::<u64>(),
            steps.iter().filter(|s| s.dst == 5).count() as u64
        );
        prop_assert!(p.stats.suppressed.keys().all(|l| l == "lateral_movement"));
        let counted: u64 = out.iter().map(|r| r.count).sum();
        prop_assert_eq!(counted + limited + suppressed, n, "every hit is in one alert's count, rate-limited or suppressed");
        prop_assert_eq!(p.stats.aggregated + out.len() as u64 + limited + suppressed, n);
        prop_assert!(out.iter().all(|r| !(r.best.label() == "lateral_movement" && r.best.record.src_ip() == ip(1))));
        prop_assert!(out.iter().all(|r| r.best.record.dst_ip() != ip(5)));
        prop_assert_eq!(p.stats.alerts.values().sum::<u64>(), out.len() as u64);
        if window_s == 0 {
            prop_assert_eq!(p.stats.aggregated, 0);
        }
        if per_minute == 0 && global_per_minute == 0 {
            prop_assert_eq!(limited, 0);
        }
        for (label, &hits) in &offered {
            let sent: u64 = out.iter().filter(|r| r.best.label() == label).map(|r| r.count).sum();
            let limited = p.stats.rate_limited.get(label).copied().unwrap_or(0);
            let suppressed = p.stats.suppressed.get(label).copied().unwrap_or(0)
                + p.stats.group_destinations.get(label).copied().unwrap_or(0);
            prop_assert_eq!(sent + limited + suppressed, hits, "label {}", label);
        }
        for r in &out {
            prop_assert!(r.count >= r.flow_ids.len() as u64 && !r.flow_ids.is_empty());
            prop_assert!(r.flow_ids.len() <= 16);
            prop_assert!(r.first_ns <= r.last_ns);
            prop_assert!(r.first_ns <= r.best.record.end_ns && r.best.record.end_ns <= r.last_ns);
            if window_s > 0 {
                prop_assert!(r.last_ns - r.first_ns < window_s * S, "a repeat joined after the window");
            } else {
                prop_assert_eq!(r.count, 1);
            }
        }
    }
}

#[test]
fn suppressed_sources_never_alert_for_their_label_and_are_counted() {
    let scanner = crate::context::site::Prefix::parse("10.0.0.60/32").unwrap();
    let mut p = AlertPolicy::new(PolicyConfig {
        suppress_sources: BTreeMap::from([("lateral_movement".to_string(), vec![scanner])]),
        ..cfg(0, 0)
    });
    let mut out = Vec::new();
    p.offer(hit(1, 60, 2, S, LATERAL, 0.99), S, &mut out);
    p.offer(hit(2, 60, 3, 2 * S, LATERAL, 0.99), 2 * S, &mut out);
    assert!(out.is_empty(), "the scanner's sweep does not alert");
    assert_eq!(p.stats.suppressed, BTreeMap::from([("lateral_movement".to_string(), 2)]));
    // Other labels from the scanner, and the label from other sources, still alert.
    p.offer(hit(3, 60, 2, 3 * S, EXFIL, 0.99), 3 * S, &mut out);
    p.offer(hit(4, 61, 2, 4 * S, LATERAL, 0.99), 4 * S, &mut out);
    assert_eq!(
        out.iter().map(|r| (r.best.record.flow_id, r.best.label().to_string())).collect::<Vec<_>>(),
        [(3, "exfiltration".to_string()), (4, "lateral_movement".to_string())]
    );
    assert_eq!(p.stats.suppressed["lateral_movement"], 2);
}

#[test]
fn hits_on_broadcast_or_multicast_flows_never_alert_and_are_counted() {
    let mut p = AlertPolicy::new(cfg(0, 0));
    let mut out = Vec::new();
    p.offer(broadcast_hit(1, 6, 255, S, EXFIL, 0.99), S, &mut out);
    let multicast = delivered(crate::decode::Delivery::Multicast, hit(2, 6, 251, 2 * S, LATERAL, 0.99));
    p.offer(multicast, 2 * S, &mut out);
    assert!(out.is_empty(), "no alert on a group destination");
    assert_eq!(
        p.stats.group_destinations,
        BTreeMap::from([("exfiltration".to_string(), 1), ("lateral_movement".to_string(), 1)])
    );
    // The same host's unicast flows still alert.
    p.offer(hit(3, 6, 7, 3 * S, EXFIL, 0.99), 3 * S, &mut out);
    assert_eq!(out.iter().map(|r| r.best.record.flow_id).collect::<Vec<_>>(), [3]);
}
