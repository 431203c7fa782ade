use super::*;
use crate::decode::{Delivery, Fragment, PacketMeta, TcpInfo, Transport};
use crate::features::schema::flow_v1;

const S: u64 = 1_000_000_000;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

fn tcp(ts_s: f64, from_client: bool, flags: u8, payload_len: u32) -> PacketMeta<'static> {
    let (c, s) = ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
    let (src, dst, sp, dp) = if from_client { (c, s, 50000, 445) } else { (s, c, 445, 50000) };
    PacketMeta {
        ts_ns: (ts_s * 1e9) as u64,
        wire_len: 54 + payload_len,
        vlan: 0,
        src,
        dst,
        proto: 6,
        ip_len: 40 + payload_len,
        header_len: 40,
        payload_len,
        payload: &[],
        transport: Transport::Tcp { src_port: sp, dst_port: dp, tcp: TcpInfo { flags, window: 1000, seq: 0, ack: 0 } },
        fragment: Fragment::None,
        delivery: Delivery::Unicast,
    }
}

fn udp(ts_s: f64, sport: u16) -> PacketMeta<'static> {
    PacketMeta {
        ts_ns: (ts_s * 1e9) as u64,
        wire_len: 60,
        vlan: 0,
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        proto: 17,
        ip_len: 46,
        header_len: 28,
        payload_len: 18,
        payload: &[],
        transport: Transport::Udp { src_port: sport, dst_port: 9999 },
        fragment: Fragment::None,
        delivery: Delivery::Unicast,
    }
}

fn run(cfg: FlowTableConfig, pkts: &[PacketMeta<'_>]) -> (Vec<FlowRecord>, FlowTableStats) {
    let mut t = FlowTable::new(cfg).unwrap();
    let mut out = Vec::new();
    for p in pkts {
        t.process(p, &mut |r| out.push(r));
    }
    t.flush(&mut |r| out.push(r));
    assert!(t.is_empty());
    (out, t.stats())
}

fn feature(r: &FlowRecord, name: &str) -> f64 {
    r.features[flow_v1().index_of(name).unwrap()]
}

#[test]
fn tcp_connection_is_one_flow_ended_by_fin() {
    let pkts = [
        tcp(0.0, true, SYN, 0),
        tcp(0.001, false, SYN | ACK, 0),
        tcp(0.002, true, ACK, 0),
        tcp(0.003, true, ACK | PSH, 100),
        tcp(0.004, false, ACK | PSH, 300),
        tcp(0.005, true, FIN | ACK, 0),
        tcp(0.006, false, FIN | ACK, 0),
        tcp(0.007, true, ACK, 0),
    ];
    let (recs, stats) = run(FlowTableConfig::default(), &pkts);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!((r.kind, r.reason), (RecordKind::Final, EndReason::TcpFin));
    assert_eq!((r.fwd_packets, r.bwd_packets), (5, 3));
    assert_eq!(r.src_ip().to_string(), "10.0.0.5");
    assert_eq!((r.src_port(), r.dst_port()), (50000, 445));
    assert_eq!(r.fwd_wire_bytes, 5 * 54 + 100);
    assert_eq!(feature(r, "fwd_payload_bytes"), 100.0);
    assert_eq!(feature(r, "bwd_bytes"), 3.0 * 40.0 + 300.0);
    assert_eq!(feature(r, "fin_count"), 2.0);
    assert_eq!(feature(r, "duration_us"), 7000.0);
    assert_eq!(feature(r, "dst_port_admin"), 1.0);
    assert_eq!(r.features.len(), crate::features::schema::current().len());
    assert_eq!(stats.flows_created, 1);
}

#[test]
fn first_packet_sender_is_the_initiator_even_mid_connection() {
    let (recs, _) = run(FlowTableConfig::default(), &[tcp(0.0, false, ACK, 10), tcp(0.1, true, ACK, 0)]);
    assert_eq!(recs[0].src_port(), 445);
    assert_eq!((recs[0].fwd_packets, recs[0].bwd_packets), (1, 1));
}

#[test]
fn idle_gap_splits_flows() {
    let cfg = FlowTableConfig { idle_timeout_ns: 10 * S, ..FlowTableConfig::default() };
    let (recs, _) = run(cfg, &[udp(0.0, 1), udp(5.0, 1), udp(15.5, 1)]);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].reason, EndReason::IdleTimeout);
    assert_eq!(recs[0].fwd_packets, 2);
    assert_eq!(recs[1].reason, EndReason::EndOfCapture);
    assert_ne!(recs[0].flow_id, recs[1].flow_id);
}

#[test]
fn idle_flows_are_emitted_by_later_traffic() {
    let cfg = FlowTableConfig { idle_timeout_ns: 10 * S, ..FlowTableConfig::default() };
    let mut t = FlowTable::new(cfg).unwrap();
    let mut out = Vec::new();
    t.process(&udp(0.0, 1), &mut |r| out.push(r));
    t.process(&udp(1.0, 2), &mut |r| out.push(r));
    t.process(&udp(9.5, 3), &mut |r| out.push(r));
    assert!(out.is_empty(), "nothing idle for 10 s yet");
    t.process(&udp(10.5, 3), &mut |r| out.push(r));
    assert_eq!(out.len(), 1, "flow 1 idle since 0 s");
    t.process(&udp(11.5, 3), &mut |r| out.push(r));
    assert_eq!(out.len(), 2, "flow 2 idle since 1 s");
    assert_eq!(t.len(), 1);
}

#[test]
fn long_flow_emits_cumulative_checkpoints_with_one_id() {
    let cfg = FlowTableConfig { checkpoint_interval_ns: Some(60 * S), ..FlowTableConfig::default() };
    let pkts: Vec<_> = (0..=20).map(|i| udp(f64::from(i) * 10.0, 7)).collect();
    let (recs, stats) = run(cfg, &pkts);
    let kinds: Vec<_> = recs.iter().map(|r| (r.kind, r.seq, r.fwd_packets)).collect();
    // Checkpoints are taken when the packet at 60 s, 120 s, 180 s arrives, before it is counted.
    assert_eq!(
        kinds,
        [
            (RecordKind::Checkpoint, 0, 6),
            (RecordKind::Checkpoint, 1, 12),
            (RecordKind::Checkpoint, 2, 18),
            (RecordKind::Final, 3, 21)
        ]
    );
    assert!(recs.iter().all(|r| r.flow_id == recs[0].flow_id));
    assert_eq!(stats.checkpoint_records, 3);
}

#[test]
fn rst_closes_and_a_new_syn_starts_a_new_flow() {
    let pkts = [
        tcp(0.0, true, SYN, 0),
        tcp(0.001, false, RST | ACK, 0),
        tcp(0.5, true, SYN, 0),
        tcp(0.501, false, SYN | ACK, 0),
    ];
    let (recs, _) = run(FlowTableConfig::default(), &pkts);
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].reason, recs[0].fwd_packets, recs[0].bwd_packets), (EndReason::TcpRst, 1, 1));
    assert_eq!((recs[1].fwd_packets, recs[1].bwd_packets), (1, 1));
}

#[test]
fn trailing_packets_within_the_linger_stay_in_the_flow() {
    let pkts = [tcp(0.0, true, RST, 0), tcp(0.5, true, RST, 0), tcp(3.0, true, ACK, 0)];
    let (recs, _) = run(FlowTableConfig::default(), &pkts);
    assert_eq!(recs.len(), 2, "the packet 3 s later is past the 2 s linger");
    assert_eq!(recs[0].fwd_packets, 2);
}

#[test]
fn full_table_evicts_the_oldest_and_counts_it() {
    let cfg = FlowTableConfig { max_flows: 2, ..FlowTableConfig::default() };
    let (recs, stats) = run(cfg, &[udp(0.0, 1), udp(1.0, 2), udp(2.0, 3)]);
    assert_eq!(stats.evicted, 1);
    assert_eq!(recs[0].reason, EndReason::Evicted);
    assert_eq!(recs[0].src_port(), 1);
    assert_eq!(stats.peak_flows, 2);
}

#[test]
fn out_of_order_packets_are_counted_not_negative() {
    let (recs, stats) = run(FlowTableConfig::default(), &[udp(1.0, 1), udp(0.5, 1)]);
    assert_eq!(stats.out_of_order_packets, 1);
    assert_eq!(feature(&recs[0], "duration_us"), 0.0);
}

#[test]
fn flow_ids_are_stable_across_runs() {
    let a = run(FlowTableConfig::default(), &[udp(0.0, 1)]).0[0].flow_id;
    let b = run(FlowTableConfig::default(), &[udp(0.0, 1)]).0[0].flow_id;
    assert_eq!(a, b);
}

#[test]
fn slot_fits_the_memory_budget() {
    // ≤ 512 bytes per tracked flow including the index: the throughput bench measured 17.8 bytes of
    // index per flow at a million flows, so a slot (a multiple of 8) of at most 488 bytes.
    assert!(FlowTable::slot_bytes() <= 488, "slot is {} bytes", FlowTable::slot_bytes());
}

#[test]
fn idle_flows_are_emitted_within_two_sweep_periods() {
    let cfg = FlowTableConfig { idle_timeout_ns: 5 * S, ..FlowTableConfig::default() };
    let mut t = FlowTable::new(cfg).unwrap();
    let mut emitted: Vec<(f64, FlowRecord)> = Vec::new();
    // 300 one-packet flows at 0.0, 0.01, ... then a clock flow every 50 ms until 12 s.
    for i in 0..300u16 {
        let now = f64::from(i) * 0.01;
        t.process(&udp(now, 1000 + i), &mut |r| emitted.push((now, r)));
    }
    for k in 0..240 {
        let now = 3.0 + f64::from(k) * 0.05;
        t.process(&tcp(now, true, ACK, 0), &mut |r| emitted.push((now, r)));
    }
    let idle: Vec<_> = emitted.iter().filter(|(_, r)| r.reason == EndReason::IdleTimeout).collect();
    assert_eq!(idle.len(), 300);
    for (at, r) in idle {
        let expired_at = r.end_ns as f64 / 1e9 + 5.0;
        assert!(*at > expired_at, "emitted before it expired");
        assert!(
            *at <= expired_at + 2.0 * SWEEP_PERIOD_NS as f64 / 1e9 + 0.05,
            "emitted at {at}, expired at {expired_at}"
        );
    }
}

#[test]
fn batches_give_the_same_records_as_single_packets() {
    use crate::capture::PcapFileReader;
    use crate::decode::Decoder;
    use crate::simulate::synthetic::{SyntheticConfig, write_pcap};

    let mut pcap = Vec::new();
    let cfg = SyntheticConfig { seed: 3, packets: 20_000, concurrent_flows: 300, ..SyntheticConfig::default() };
    write_pcap(cfg, &mut pcap).unwrap();
    let table_cfg = FlowTableConfig { max_flows: 500, idle_timeout_ns: 2 * S, ..FlowTableConfig::default() };
    let run = |batched: bool| {
        let mut reader = PcapFileReader::from_reader(&pcap[..], "synthetic".into()).unwrap();
        let mut decoder = Decoder::new(16);
        let mut metas = Vec::new();
        while let Some(raw) = reader.next_packet().unwrap() {
            let meta = decoder.decode(&raw).unwrap();
            metas.push(PacketMeta { payload: meta.payload.to_vec().leak(), ..meta });
        }
        let mut t = FlowTable::new(table_cfg.clone()).unwrap();
        let mut out = Vec::new();
        if batched {
            for chunk in metas.chunks(37) {
                t.process_batch(chunk, &mut |r| out.push(r));
            }
        } else {
            for m in &metas {
                t.process(m, &mut |r| out.push(r));
            }
        }
        t.flush(&mut |r| out.push(r));
        (out, t.stats())
    };
    let (single, s1) = run(false);
    let (batched, s2) = run(true);
    assert_eq!(s1, s2);
    assert!(s1.evicted > 0, "the bound must be exercised");
    assert_eq!(single.len(), batched.len());
    for (a, b) in single.iter().zip(&batched) {
        assert_eq!((a.flow_id, a.kind, a.reason, a.seq), (b.flow_id, b.kind, b.reason, b.seq));
        let bits = |r: &FlowRecord| r.features.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b));
    }
}

#[test]
fn early_record_is_emitted_once_at_the_configured_packet_count() {
    let early = |n: Option<u32>| FlowTableConfig { early_record_packets: n, ..FlowTableConfig::default() };
    // 12 packets of one UDP flow, 0.1 s apart, then the capture ends.
    let twelve: Vec<_> = (0..12).map(|i| udp(f64::from(i) * 0.1, 7)).collect();

    let (recs, stats) = run(early(Some(8)), &twelve);
    let got: Vec<_> = recs.iter().map(|r| (r.kind, r.reason, r.seq, r.fwd_packets + r.bwd_packets)).collect();
    assert_eq!(
        got,
        [(RecordKind::Early, EndReason::EarlyPackets, 0, 8), (RecordKind::Final, EndReason::EndOfCapture, 0, 12)]
    );
    assert_eq!(recs[0].flow_id, recs[1].flow_id, "the early record names the same flow");
    assert_eq!(recs[0].end_ns, (0.7f64 * 1e9) as u64, "the early record is taken at the 8th packet");
    assert_eq!(feature(&recs[0], "fwd_packets"), 8.0);
    assert_eq!((stats.early_records, stats.final_records), (1, 1));

    let (recs, stats) = run(early(None), &twelve);
    assert_eq!(recs.iter().map(|r| r.kind).collect::<Vec<_>>(), [RecordKind::Final]);
    assert_eq!(stats.early_records, 0);

    // A flow that ends before the count has no early record.
    let (recs, stats) = run(early(Some(8)), &twelve[..5]);
    assert_eq!(recs.iter().map(|r| (r.kind, r.fwd_packets)).collect::<Vec<_>>(), [(RecordKind::Final, 5)]);
    assert_eq!(stats.early_records, 0);

    // Both directions count: 4 + 4 packets of a TCP exchange reach 8.
    let mut pkts = vec![tcp(0.0, true, SYN, 0), tcp(0.01, false, SYN | ACK, 0)];
    pkts.extend((0..8).map(|i| tcp(0.02 + f64::from(i) * 0.01, i % 2 == 0, ACK | PSH, 10)));
    let (recs, _) = run(early(Some(8)), &pkts);
    let kinds: Vec<_> = recs.iter().map(|r| (r.kind, r.fwd_packets, r.bwd_packets)).collect();
    assert_eq!(kinds, [(RecordKind::Early, 4, 4), (RecordKind::Final, 5, 5)]);
}

#[test]
fn a_record_carries_the_delivery_of_its_flows_first_packet() {
    let broadcast = |ts_s, sport| PacketMeta { delivery: Delivery::Broadcast, ..udp(ts_s, sport) };
    // The first flow starts as a broadcast (a reply from one host joins it, still a broadcast flow);
    // the second starts unicast and a later group-addressed packet does not change it.
    let pkts = [broadcast(0.0, 1000), udp(0.1, 1000), udp(0.2, 2000), broadcast(0.3, 2000)];
    let (recs, _) = run(FlowTableConfig::default(), &pkts);
    let by_port: std::collections::BTreeMap<u16, Delivery> = recs.iter().map(|r| (r.src_port(), r.delivery)).collect();
    assert_eq!(by_port, [(1000, Delivery::Broadcast), (2000, Delivery::Unicast)].into());
}
