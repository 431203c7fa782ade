//! Datagram sessions: UDP exchanges (DNS, NTP, media streams) and ICMP echo series (ping, ICMP
//! tunnels). Each `Send` step is one datagram; a server datagram is seen one round trip after the
//! client datagram it answers; `Pause` spaces datagrams; the session ends when the script does.

use super::frame::{Ip, L4, ipv4_frame_with};
use super::rng::Rng;
use super::session::{Peer, Script, Session, SessionKey, Side, Step};

/// What carries the datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Udp,
    /// ICMP echo: the client sends requests (type 8), the server replies (type 0); the identifier
    /// is the client's "port".
    IcmpEcho,
}

pub struct DatagramSession {
    carrier: Carrier,
    client: Peer,
    server: Peer,
    rtt_ns: u64,
    rng: Rng,
    script: Script,
    /// The next datagram, ready.
    next: Option<(u64, Side, Vec<u8>)>,
    /// Time of the last datagram of each side.
    last: [u64; 2],
    ip_id: [u16; 2],
    echo_seq: u16,
    start_ns: u64,
}

impl DatagramSession {
    pub fn new(
        start_ns: u64,
        carrier: Carrier,
        client: Peer,
        server: Peer,
        rtt_ns: u64,
        mut rng: Rng,
        script: Script,
    ) -> Self {
        let ip_id = [rng.next_u32() as u16, rng.next_u32() as u16];
        let mut s = DatagramSession {
            carrier,
            client,
            server,
            rtt_ns,
            rng,
            script,
            next: None,
            last: [0, 0],
            ip_id,
            echo_seq: 0,
            start_ns,
        };
        s.prepare();
        s
    }

    fn prepare(&mut self) {
        let mut pause = 0;
        self.next = None;
        while let Some(step) = (self.script)(&mut self.rng) {
            match step {
                Step::Pause(d) => pause += d,
                Step::Send { from, bytes } => {
                    let base = match (from, self.last) {
                        (Side::Client, [0, 0]) => self.start_ns,
                        (Side::Client, [c, s]) => c.max(s),
                        (Side::Server, [c, s]) => (c + self.rtt_ns).max(s),
                    };
                    self.next = Some((base + pause, from, bytes));
                    return;
                }
                Step::Close(_) | Step::Reset(_) => return,
            }
        }
    }
}

impl Session for DatagramSession {
    fn next_ts(&self) -> Option<u64> {
        self.next.as_ref().map(|n| n.0)
    }

    fn emit(&mut self, frame: &mut Vec<u8>) -> u64 {
        let (ts, from, bytes) = self.next.take().expect("emit is called only when a datagram is ready");
        let (i, me, peer) = match from {
            Side::Client => (0, self.client, self.server),
            Side::Server => (1, self.server, self.client),
        };
        self.ip_id[i] = self.ip_id[i].wrapping_add(1);
        let ip = Ip { src: me.ip, dst: peer.ip, id: self.ip_id[i], ttl: me.ttl };
        let l4 = match (self.carrier, from) {
            (Carrier::Udp, _) => L4::Udp { src_port: me.port, dst_port: peer.port },
            (Carrier::IcmpEcho, Side::Client) => {
                self.echo_seq = self.echo_seq.wrapping_add(1);
                L4::IcmpEcho { icmp_type: 8, ident: self.client.port, seq: self.echo_seq }
            }
            (Carrier::IcmpEcho, Side::Server) => {
                L4::IcmpEcho { icmp_type: 0, ident: self.client.port, seq: self.echo_seq }
            }
        };
        ipv4_frame_with(frame, ip, l4, &bytes);
        self.last[i] = ts;
        self.prepare();
        ts
    }

    fn key(&self) -> SessionKey {
        match self.carrier {
            Carrier::Udp => SessionKey {
                proto: 17,
                client: self.client.ip,
                client_port: self.client.port,
                server: self.server.ip,
                server_port: self.server.port,
            },
            Carrier::IcmpEcho => SessionKey {
                proto: 1,
                client: self.client.ip,
                client_port: 8 << 8,
                server: self.server.ip,
                server_port: self.client.port,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::simulate::session::script_of;

    #[test]
    fn replies_follow_requests_by_one_round_trip() {
        let c = Peer { ip: Ipv4Addr::new(10, 0, 0, 1), port: 40000, ttl: 128 };
        let s = Peer { ip: Ipv4Addr::new(10, 0, 0, 53), port: 53, ttl: 127 };
        let steps = vec![
            Step::Send { from: Side::Client, bytes: vec![1; 40] },
            Step::Send { from: Side::Server, bytes: vec![2; 80] },
            Step::Pause(1_000_000_000),
            Step::Send { from: Side::Client, bytes: vec![3; 40] },
        ];
        let mut d = DatagramSession::new(5_000, Carrier::Udp, c, s, 2_000_000, Rng::new(1), script_of(steps));
        let mut frame = Vec::new();
        let times: Vec<u64> = std::iter::from_fn(|| d.next_ts().map(|_| d.emit(&mut frame))).collect();
        assert_eq!(times, [5_000, 2_005_000, 1_002_005_000]);
    }
}
