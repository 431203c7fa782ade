//! A TCP connection as the observer sees it: three-way handshake with options, MSS segmentation,
//! slow-start rounds paced by the round-trip time, delayed ACKs (every second segment, 40 ms for a lone
//! one unless the reply carries it), occasional retransmissions, FIN teardown or RST. Also refused
//! (RST) and unanswered (SYN retried) connection attempts.
//!
//! Timing model (observer next to the client): client packets are seen when sent; server packets one
//! round trip after what they answer. A connection can instead be captured on one of its hosts
//! ([`Vantage`]), as an endpoint capture (Npcap, tcpdump on the host, the agent's TC hook) sees it:
//! that host's sends leave the stack as segmentation-offload superpackets (one a message, up to
//! [`LSO_BYTES`]), and on the server, packets are seen half a round trip later (client's) or
//! earlier (server's, which then answer after the server's own reaction time). A side's data goes
//! out in rounds of `cwnd` segments spaced by serialization time; `cwnd` starts at 10 and doubles
//! per round up to `max_cwnd` while the side keeps sending, so throughput over a long path is
//! window-limited as in real transfers. Sequence and acknowledgement numbers are exact: every byte
//! sent is acknowledged, so Wireshark's analysis finds a consistent stream (a retransmission repeats
//! a message's last segment after a timeout, with the acknowledgements a receiver that missed it
//! sends; Wireshark calls it a retransmission).

use std::collections::VecDeque;

use super::frame::{Ip, L4, ipv4_frame_with};
use super::rng::Rng;
use super::session::{Peer, Script, Session, SessionKey, Side, Step};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// How the connection attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    Accepted,
    /// The server answers the SYN with RST (closed port).
    Refused,
    /// No answer: the client retries the SYN twice (after 1 s and 3 s) and gives up.
    Unanswered,
}

/// Where a connection is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vantage {
    /// On the wire next to the client: every packet a wire segment (the default).
    #[default]
    Tap,
    /// On the client host: its own data in offload superpackets.
    ClientHost,
    /// On the server host: its own data in offload superpackets, timing as the server sees it.
    ServerHost,
}

/// Largest payload of a segmentation-offload superpacket the host vantages emit.
pub const LSO_BYTES: u32 = 60_000;

/// Path and stack parameters of one connection.
#[derive(Debug, Clone, Copy)]
pub struct TcpParams {
    pub rtt_ns: u64,
    pub mss: u16,
    /// Bottleneck rate, for the spacing of back-to-back segments.
    pub bandwidth_bps: u64,
    /// Window fields after the handshake (scaled values as on the wire).
    pub client_window: u16,
    pub server_window: u16,
    /// Probability that a message's last segment is lost after the observer and sent again when the
    /// sender's retransmission timer fires (max(3 RTT, 200 ms) later).
    pub retransmit: f64,
    pub max_cwnd: u32,
    pub connect: Connect,
    pub vantage: Vantage,
}

impl Default for TcpParams {
    fn default() -> Self {
        TcpParams {
            rtt_ns: 1_000_000,
            mss: 1460,
            bandwidth_bps: 1_000_000_000,
            client_window: 1026,
            server_window: 8212,
            retransmit: 0.005,
            max_cwnd: 256,
            connect: Connect::Accepted,
            vantage: Vantage::Tap,
        }
    }
}

/// A packet waiting to be emitted.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    ts: u64,
    from: Side,
    flags: u8,
    seq: u32,
    ack: u32,
    /// Payload: a range of the message it belongs to (`msg` index into `TcpSession::messages`).
    msg: u32,
    start: u32,
    len: u32,
    syn_options: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct SideState {
    snd_nxt: u32,
    ip_id: u16,
    /// Time of this side's last packet and last data packet.
    last_ts: u64,
    last_data_ts: u64,
    /// Current sending round: when it started, segments sent in it, window in segments.
    round_start: u64,
    in_round: u32,
    cwnd: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Open,
    Closed,
}

pub struct TcpSession {
    client: Peer,
    server: Peer,
    p: TcpParams,
    rng: Rng,
    script: Script,
    peeked: Option<Step>,
    /// Delay added to the next step by Pause steps.
    pause: u64,
    phase: Phase,
    sides: [SideState; 2],
    queue: VecDeque<Pkt>,
    /// Messages still referenced by queued packets (with how many queued packets carry a part of
    /// each), and the number of the first one.
    messages: VecDeque<(Vec<u8>, u32)>,
    first_message: u32,
    /// When the client's ACK completed the handshake.
    open_ts: u64,
    start_ns: u64,
    /// At the server vantage: how much earlier than in the client's view a server packet is seen
    /// (half the round trip less the server's reaction time); 0 elsewhere.
    server_lead: u64,
}

/// Windows-style SYN options: MSS, NOP, window scale 8, NOP, NOP, SACK permitted.
const SYN_OPTIONS: [u8; 12] = [2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl TcpSession {
    pub fn new(start_ns: u64, client: Peer, server: Peer, p: TcpParams, mut rng: Rng, script: Script) -> TcpSession {
        let mut sides = [SideState::default(); 2];
        for s in &mut sides {
            s.snd_nxt = rng.next_u32();
            s.ip_id = rng.next_u32() as u16;
            s.cwnd = 10;
        }
        let server_lead = match p.vantage {
            Vantage::ServerHost => {
                let half = p.rtt_ns / 2;
                half - rng.range(30_000, 200_000).min(half)
            }
            Vantage::Tap | Vantage::ClientHost => 0,
        };
        let mut session = TcpSession {
            client,
            server,
            p,
            rng,
            script,
            peeked: None,
            pause: 0,
            phase: Phase::Handshake,
            sides,
            queue: VecDeque::new(),
            messages: VecDeque::new(),
            first_message: 0,
            open_ts: 0,
            start_ns,
            server_lead,
        };
        session.handshake();
        session
    }

    /// When the vantage sees `pkt` (its `ts` is the client-side view the timing model works in).
    fn seen(&self, pkt: &Pkt) -> u64 {
        match (self.p.vantage, pkt.from) {
            (Vantage::ServerHost, Side::Client) => pkt.ts + self.p.rtt_ns / 2,
            (Vantage::ServerHost, Side::Server) => pkt.ts - self.server_lead,
            _ => pkt.ts,
        }
    }

    /// The queued packet the vantage sees next. The queue is in the client's time order, which each
    /// side's packets keep at any vantage (a side's packets all move by the same amount).
    fn next_seen(&self) -> Option<usize> {
        if self.p.vantage != Vantage::ServerHost {
            return (!self.queue.is_empty()).then_some(0);
        }
        let first = |side: Side| self.queue.iter().position(|q| q.from == side);
        match (first(Side::Client), first(Side::Server)) {
            (Some(c), Some(s)) => Some(if self.seen(&self.queue[s]) < self.seen(&self.queue[c]) { s } else { c }),
            (c, s) => c.or(s),
        }
    }

    /// Whether data `from` that side is sent by the host the vantage sits on (in offload superpackets).
    fn offloaded(&self, from: Side) -> bool {
        matches!((self.p.vantage, from), (Vantage::ClientHost, Side::Client) | (Vantage::ServerHost, Side::Server))
    }

    fn gap(&self) -> u64 {
        (u64::from(self.p.mss) + 54) * 8 * 1_000_000_000 / self.p.bandwidth_bps.max(1)
    }

    /// Observer delay between a server packet and the client's reaction to it.
    fn client_reaction(&mut self) -> u64 {
        self.rng.range(20_000, 120_000)
    }

    fn push(&mut self, pkt: Pkt) {
        let s = &mut self.sides[idx(pkt.from)];
        s.last_ts = s.last_ts.max(pkt.ts);
        if pkt.len > 0 {
            s.last_data_ts = s.last_data_ts.max(pkt.ts);
            self.messages[(pkt.msg - self.first_message) as usize].1 += 1;
        }
        // Keep the queue in time order (new packets are nearly always at or near the back).
        let at = self.queue.iter().rposition(|q| q.ts <= pkt.ts).map_or(0, |i| i + 1);
        self.queue.insert(at, pkt);
    }

    fn control(&mut self, ts: u64, from: Side, flags: u8) {
        let (me, peer) = (self.sides[idx(from)], self.sides[idx(from.other())]);
        let ack = if flags & ACK != 0 { peer.snd_nxt } else { 0 };
        self.push(Pkt { ts, from, flags, seq: me.snd_nxt, ack, msg: 0, start: 0, len: 0, syn_options: false });
    }

    fn handshake(&mut self) {
        let t0 = self.start_ns;
        let rtt = self.p.rtt_ns;
        let isn_c = self.sides[0].snd_nxt;
        let syn = |ts| Pkt {
            ts,
            from: Side::Client,
            flags: SYN,
            seq: isn_c,
            ack: 0,
            msg: 0,
            start: 0,
            len: 0,
            syn_options: true,
        };
        self.push(syn(t0));
        self.sides[0].snd_nxt = isn_c.wrapping_add(1);
        match self.p.connect {
            Connect::Accepted => {
                let isn_s = self.sides[1].snd_nxt;
                self.push(Pkt {
                    ts: t0 + rtt,
                    from: Side::Server,
                    flags: SYN | ACK,
                    seq: isn_s,
                    ack: isn_c.wrapping_add(1),
                    msg: 0,
                    start: 0,
                    len: 0,
                    syn_options: true,
                });
                self.sides[1].snd_nxt = isn_s.wrapping_add(1);
                let r = self.client_reaction();
                self.open_ts = t0 + rtt + r;
                self.control(self.open_ts, Side::Client, ACK);
                self.phase = Phase::Open;
            }
            Connect::Refused => {
                self.push(Pkt {
                    ts: t0 + rtt,
                    from: Side::Server,
                    flags: RST | ACK,
                    seq: 0,
                    ack: isn_c.wrapping_add(1),
                    msg: 0,
                    start: 0,
                    len: 0,
                    syn_options: false,
                });
                self.phase = Phase::Closed;
            }
            Connect::Unanswered => {
                self.push(syn(t0 + 1_000_000_000));
                self.push(syn(t0 + 3_000_000_000));
                self.phase = Phase::Closed;
            }
        }
    }

    fn peek(&mut self) -> Option<&Step> {
        while self.peeked.is_none() {
            match (self.script)(&mut self.rng) {
                Some(Step::Pause(d)) => self.pause += d,
                Some(Step::Send { bytes, .. }) if bytes.is_empty() => {}
                other => {
                    self.peeked = Some(other?);
                }
            }
        }
        self.peeked.as_ref()
    }

    /// Earliest time the next step's first packet can have (None: no further step).
    fn next_step_start(&mut self) -> Option<u64> {
        if self.phase != Phase::Open {
            return None;
        }
        let from = match self.peek() {
            Some(Step::Send { from, .. } | Step::Close(from) | Step::Reset(from)) => *from,
            Some(Step::Pause(_)) => unreachable!("pauses are folded into `pause`"),
            None => Side::Client,
        };
        Some(self.reaction_start(from))
    }

    fn reaction_start(&self, from: Side) -> u64 {
        let (c, s) = (self.sides[0], self.sides[1]);
        // A side answers what it has seen: the client right after the server's data reached the
        // observer, the server one round trip after the client's data (or the handshake's end).
        let base = match from {
            Side::Client => (s.last_data_ts + 50_000).max(c.last_ts),
            Side::Server => (c.last_data_ts.max(self.open_ts) + self.p.rtt_ns).max(s.last_ts),
        };
        base + self.pause
    }

    /// Generates the packets of the next step.
    fn advance(&mut self) {
        let Some(start) = self.next_step_start() else { return };
        self.pause = 0;
        if let Some(Step::Close(from) | Step::Reset(from)) = &self.peeked {
            // The other side's pending delayed ACK is superseded by its FIN (or never sent after a RST).
            let other = from.other();
            self.queue.retain(|q| !(q.from == other && q.len == 0 && q.flags == ACK && q.ts > start));
        }
        match self.peeked.take() {
            Some(Step::Send { from, bytes }) => self.send(start, from, bytes),
            Some(Step::Close(from)) => self.close(start, from),
            Some(Step::Reset(from)) => {
                self.control(start, from, RST | ACK);
                self.phase = Phase::Closed;
            }
            Some(Step::Pause(_)) => unreachable!("pauses are folded into `pause`"),
            None => self.close(start, Side::Client),
        }
    }

    fn send(&mut self, start: u64, from: Side, bytes: Vec<u8>) {
        let gap = self.gap();
        let rtt = self.p.rtt_ns;
        let mss = if self.offloaded(from) { LSO_BYTES } else { u32::from(self.p.mss) };
        let msg = self.first_message + self.messages.len() as u32;
        let total = bytes.len() as u32;
        self.messages.push_back((bytes, 0));
        let (s, r) = (idx(from), idx(from.other()));
        // A side idle for over a second starts a new flight with the initial window.
        if start > self.sides[s].round_start + rtt + 1_000_000_000 || self.sides[s].round_start == 0 {
            self.sides[s].round_start = start;
            self.sides[s].in_round = 0;
            self.sides[s].cwnd = 10;
        }
        let mut off = 0u32;
        let mut unacked = 0u32;
        let mut t = start;
        while off < total {
            let len = mss.min(total - off);
            let st = &mut self.sides[s];
            if st.in_round >= st.cwnd {
                st.round_start = (st.round_start + rtt).max(t);
                st.in_round = 0;
                st.cwnd = (st.cwnd * 2).min(self.p.max_cwnd);
            }
            t = t.max(st.round_start + u64::from(st.in_round) * gap);
            st.in_round += 1;
            let seq = st.snd_nxt;
            st.snd_nxt = seq.wrapping_add(len);
            let ack = self.sides[r].snd_nxt;
            let last = off + len == total;
            let flags = if last { ACK | PSH } else { ACK };
            let pkt = Pkt { ts: t, from, flags, seq, ack, msg, start: off, len, syn_options: false };
            self.push(pkt);
            off += len;
            unacked += 1;
            // The receiver acknowledges every second segment; a lone last one after 40 ms, unless
            // its own next message (sent right away) carries the acknowledgement.
            let ack_ts = match from {
                Side::Client => t + rtt,
                Side::Server => t + self.client_reaction(),
            };
            if last && self.rng.chance(self.p.retransmit) {
                // Tail loss after the observer: the receiver acknowledges what came before, the
                // sender's retransmission timer fires, the repeat is acknowledged.
                if unacked == 2 {
                    let other = from.other();
                    let own = self.sides[idx(other)].snd_nxt;
                    self.push(Pkt {
                        ts: ack_ts,
                        from: other,
                        flags: ACK,
                        seq: own,
                        ack: seq,
                        msg: 0,
                        start: 0,
                        len: 0,
                        syn_options: false,
                    });
                }
                let again = t + (3 * rtt).max(200_000_000);
                self.push(Pkt { ts: again, ..pkt });
                let ack_again = match from {
                    Side::Client => again + rtt,
                    Side::Server => again + self.client_reaction(),
                };
                self.ack_from(from.other(), ack_again);
                unacked = 0;
            } else if unacked == 2 {
                self.ack_from(from.other(), ack_ts);
                unacked = 0;
            } else if last && !self.replies_at_once(from.other()) {
                self.ack_from(from.other(), ack_ts + 40_000_000);
                unacked = 0;
            }
            t += gap;
        }
    }

    /// Whether the next step is a message from `side`, which then carries the acknowledgement.
    fn replies_at_once(&mut self, side: Side) -> bool {
        self.pause < 40_000_000 && matches!(self.peek(), Some(Step::Send { from, .. }) if *from == side)
    }

    fn ack_from(&mut self, side: Side, ts: u64) {
        self.control(ts, side, ACK);
    }

    fn close(&mut self, start: u64, from: Side) {
        let rtt = self.p.rtt_ns;
        let other = from.other();
        self.control(start, from, FIN | ACK);
        self.sides[idx(from)].snd_nxt = self.sides[idx(from)].snd_nxt.wrapping_add(1);
        let (answer, last) = match from {
            Side::Client => (start + rtt, start + rtt + self.client_reaction()),
            Side::Server => {
                let r = self.client_reaction();
                (start + r, start + r + rtt)
            }
        };
        self.control(answer, other, FIN | ACK);
        self.sides[idx(other)].snd_nxt = self.sides[idx(other)].snd_nxt.wrapping_add(1);
        self.control(last, from, ACK);
        self.phase = Phase::Closed;
    }

    /// Makes sure no packet the vantage sees earlier than the next queued one can still be generated
    /// (a later step's packets are seen at most `server_lead` before its start).
    fn settle(&mut self) {
        loop {
            match (self.next_ts(), self.next_step_start()) {
                (_, None) => return,
                (None, Some(_)) => self.advance(),
                (Some(f), Some(next)) if next.saturating_sub(self.server_lead) <= f => self.advance(),
                _ => return,
            }
        }
    }
}

impl Session for TcpSession {
    fn next_ts(&self) -> Option<u64> {
        self.next_seen().map(|i| self.seen(&self.queue[i]))
    }

    fn emit(&mut self, frame: &mut Vec<u8>) -> u64 {
        let at = self.next_seen().expect("emit is called only when a packet is ready");
        let pkt = self.queue.remove(at).expect("a queued packet");
        let seen = self.seen(&pkt);
        let (me, peer, window) = match pkt.from {
            Side::Client => (self.client, self.server, self.p.client_window),
            Side::Server => (self.server, self.client, self.p.server_window),
        };
        let st = &mut self.sides[idx(pkt.from)];
        st.ip_id = st.ip_id.wrapping_add(1);
        let ip = Ip { src: me.ip, dst: peer.ip, id: st.ip_id, ttl: me.ttl };
        let options: &[u8] = if pkt.syn_options { &SYN_OPTIONS } else { &[] };
        let window = match (pkt.flags & SYN != 0, pkt.from) {
            (true, Side::Client) => 64240,
            (true, Side::Server) => 65535,
            (false, _) => window,
        };
        let l4 = L4::Tcp {
            src_port: me.port,
            dst_port: peer.port,
            seq: pkt.seq,
            ack: pkt.ack,
            flags: pkt.flags,
            window,
            options,
        };
        if pkt.len == 0 {
            ipv4_frame_with(frame, ip, l4, &[]);
        } else {
            let m = &mut self.messages[(pkt.msg - self.first_message) as usize];
            ipv4_frame_with(frame, ip, l4, &m.0[pkt.start as usize..(pkt.start + pkt.len) as usize]);
            m.1 -= 1;
            // Messages no queued packet refers to any more are dropped.
            while self.messages.front().is_some_and(|m| m.1 == 0) {
                self.messages.pop_front();
                self.first_message += 1;
            }
        }
        self.settle();
        seen
    }

    fn key(&self) -> SessionKey {
        SessionKey {
            proto: 6,
            client: self.client.ip,
            client_port: self.client.port,
            server: self.server.ip,
            server_port: self.server.port,
        }
    }
}

/// Starts a TCP session (settled: its first packets are queued).
pub fn start(start_ns: u64, client: Peer, server: Peer, p: TcpParams, rng: Rng, script: Script) -> TcpSession {
    let mut s = TcpSession::new(start_ns, client, server, p, rng, script);
    s.settle();
    s
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
