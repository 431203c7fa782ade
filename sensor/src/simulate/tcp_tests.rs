use std::net::Ipv4Addr;

use super::*;
use crate::capture::{LinkType, RawPacket};
use crate::decode::{Decoder, Transport};
use crate::simulate::session::script_of;

const MS: u64 = 1_000_000;

fn peers() -> (Peer, Peer) {
    (
        Peer { ip: Ipv4Addr::new(10, 10, 0, 5), port: 50123, ttl: 128 },
        Peer { ip: Ipv4Addr::new(10, 20, 0, 10), port: 445, ttl: 127 },
    )
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    ts: u64,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
}

fn run(p: TcpParams, steps: Vec<Step>) -> Vec<Seen> {
    let (c, s) = peers();
    let mut session = start(1_000 * MS, c, s, p, Rng::new(9), script_of(steps));
    let mut decoder = Decoder::new(4);
    let mut frame = Vec::new();
    let mut out = Vec::new();
    while session.next_ts().is_some() {
        let ts = session.emit(&mut frame);
        let raw = RawPacket { ts_ns: ts, orig_len: frame.len() as u32, link: LinkType::Ethernet, data: &frame };
        let meta = decoder.decode(&raw).expect("simulated frames decode");
        let Transport::Tcp { src_port, tcp, .. } = meta.transport else { panic!("not tcp") };
        out.push(Seen {
            ts,
            from_client: src_port == 50123,
            flags: tcp.flags,
            seq: tcp.seq,
            ack: tcp.ack,
            len: meta.payload_len,
        });
    }
    out
}

/// Time order, exact byte counts, every data byte acknowledged, handshake and FIN sequence.
fn check_stream(seen: &[Seen], client_bytes: u32, server_bytes: u32) {
    assert!(seen.windows(2).all(|w| w[0].ts <= w[1].ts), "packets in time order");
    assert_eq!(seen[0].flags, SYN);
    assert_eq!(seen[1].flags, SYN | ACK);
    let isn_c = seen[0].seq;
    let isn_s = seen[1].seq;
    assert_eq!(seen[1].ack, isn_c.wrapping_add(1));
    for from_client in [true, false] {
        let data: Vec<&Seen> = seen.iter().filter(|p| p.from_client == from_client && p.len > 0).collect();
        // Distinct bytes (retransmissions repeat a sequence number).
        let mut ranges: Vec<(u32, u32)> = data.iter().map(|p| (p.seq, p.len)).collect();
        ranges.sort();
        ranges.dedup();
        let total: u32 = ranges.iter().map(|r| r.1).sum();
        let isn = if from_client { isn_c } else { isn_s };
        assert_eq!(total, if from_client { client_bytes } else { server_bytes });
        // Contiguous from ISN + 1.
        let mut next = isn.wrapping_add(1);
        for (seq, len) in ranges {
            assert_eq!(seq, next, "no gap in the byte stream");
            next = seq.wrapping_add(len);
        }
        // The other side's highest ACK covers every byte (and the FIN).
        let max_ack = seen
            .iter()
            .filter(|p| p.from_client != from_client && p.flags & ACK != 0)
            .map(|p| p.ack.wrapping_sub(isn))
            .max()
            .unwrap();
        assert_eq!(max_ack, next.wrapping_sub(isn).wrapping_add(1), "all bytes and the FIN acknowledged");
    }
    let fins: Vec<&Seen> = seen.iter().filter(|p| p.flags & FIN != 0).collect();
    assert_eq!(fins.len(), 2);
    assert_eq!(seen.last().unwrap().flags, ACK);
}

#[test]
fn request_response_session_is_a_consistent_stream() {
    let p = TcpParams { rtt_ns: 20 * MS, retransmit: 0.0, ..TcpParams::default() };
    let steps = vec![
        Step::Send { from: Side::Client, bytes: vec![1; 300] },
        Step::Send { from: Side::Server, bytes: vec![2; 5000] },
        Step::Pause(500 * MS),
        Step::Send { from: Side::Client, bytes: vec![3; 2000] },
        Step::Send { from: Side::Server, bytes: vec![4; 100] },
        Step::Close(Side::Client),
    ];
    let seen = run(p, steps);
    check_stream(&seen, 2300, 5100);
    // The first response comes one round trip after the request; the second request after the pause.
    let req = seen.iter().find(|p| p.from_client && p.len > 0).unwrap();
    let resp = seen.iter().find(|p| !p.from_client && p.len > 0).unwrap();
    assert!(resp.ts - req.ts >= 20 * MS && resp.ts - req.ts < 21 * MS, "{}", resp.ts - req.ts);
    let second = seen.iter().filter(|p| p.from_client && p.len > 0).nth(1).unwrap();
    assert!(second.ts - resp.ts >= 500 * MS);
    // Segments are at most one MSS.
    assert!(seen.iter().all(|p| p.len <= 1460));
}

#[test]
fn a_host_vantage_sees_its_own_sends_whole_and_the_server_sees_its_timing() {
    let steps = || {
        vec![
            Step::Send { from: Side::Client, bytes: vec![1; 300] },
            Step::Send { from: Side::Server, bytes: vec![2; 5000] },
            Step::Send { from: Side::Client, bytes: vec![3; 2000] },
            Step::Send { from: Side::Server, bytes: vec![4; 100] },
            Step::Close(Side::Client),
        ]
    };
    let at = |vantage| run(TcpParams { rtt_ns: 20 * MS, retransmit: 0.0, vantage, ..TcpParams::default() }, steps());
    let largest = |seen: &[Seen], client: bool| seen.iter().filter(|p| p.from_client == client).map(|p| p.len).max();
    let (tap, client, server) = (at(Vantage::Tap), at(Vantage::ClientHost), at(Vantage::ServerHost));
    for seen in [&tap, &client, &server] {
        check_stream(seen, 2300, 5100);
    }
    assert_eq!((largest(&tap, true), largest(&tap, false)), (Some(1460), Some(1460)));
    assert_eq!((largest(&client, true), largest(&client, false)), (Some(2000), Some(1460)));
    assert_eq!((largest(&server, true), largest(&server, false)), (Some(1460), Some(5000)));
    // The round trip: between SYN and SYN-ACK where the client sees it, between SYN-ACK and the
    // handshake's ACK where the server does; the server answers after its own short reaction.
    for seen in [&tap, &client] {
        assert_eq!(seen[1].ts - seen[0].ts, 20 * MS);
    }
    let reaction = server[1].ts - server[0].ts;
    assert!((30_000..=200_000).contains(&reaction), "SYN-ACK {reaction} ns after the SYN");
    assert!(server[2].ts - server[1].ts >= 20 * MS - reaction, "the ACK a round trip after the SYN-ACK");
    let request = server.iter().find(|p| p.from_client && p.len > 0).unwrap();
    let response = server.iter().find(|p| !p.from_client && p.len > 0).unwrap();
    assert_eq!(response.ts - request.ts, reaction, "the server answers after its reaction time");
}

#[test]
fn bulk_upload_over_a_long_path_is_window_limited() {
    let p = TcpParams { rtt_ns: 50 * MS, max_cwnd: 64, retransmit: 0.001, ..TcpParams::default() };
    let chunk = 16_384;
    let n = 640; // 10 MiB
    let mut steps: Vec<Step> = (0..n).map(|_| Step::Send { from: Side::Client, bytes: vec![7; chunk] }).collect();
    steps.push(Step::Close(Side::Client));
    let seen = run(p, steps);
    check_stream(&seen, (chunk * n) as u32, 0);
    let secs = (seen.last().unwrap().ts - seen[0].ts) as f64 / 1e9;
    // 64 segments of 1460 bytes per 50 ms round ≈ 1.87 MB/s, plus slow start: about 5.7 s.
    assert!((5.0..7.0).contains(&secs), "took {secs} s");
    assert!(seen.iter().filter(|p| !p.from_client).count() > 3000, "the server acknowledges");
}

#[test]
fn refused_and_unanswered_attempts() {
    let refused = run(TcpParams { connect: Connect::Refused, ..TcpParams::default() }, vec![]);
    assert_eq!(refused.iter().map(|p| p.flags).collect::<Vec<_>>(), [SYN, RST | ACK]);
    let silent = run(TcpParams { connect: Connect::Unanswered, ..TcpParams::default() }, vec![]);
    assert_eq!(silent.iter().map(|p| p.flags).collect::<Vec<_>>(), [SYN, SYN, SYN]);
    assert_eq!(silent[2].ts - silent[0].ts, 3_000 * MS);
}

#[test]
fn server_speaks_first_after_the_handshake_and_reset_ends() {
    let p = TcpParams { rtt_ns: 2 * MS, ..TcpParams::default() };
    let steps = vec![
        Step::Send { from: Side::Server, bytes: b"SSH-2.0-OpenSSH_8.9\r\n".to_vec() },
        Step::Send { from: Side::Client, bytes: b"SSH-2.0-PuTTY\r\n".to_vec() },
        Step::Reset(Side::Client),
    ];
    let seen = run(p, steps);
    let banner = seen.iter().find(|p| p.len > 0).unwrap();
    assert!(!banner.from_client);
    assert!(banner.ts >= seen[2].ts + 2 * MS, "the server sends after it saw the handshake's ACK");
    assert_eq!(seen.last().unwrap().flags, RST | ACK);
}
