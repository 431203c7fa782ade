//! Feature families. Each family keeps a small per-flow state, updated once per packet, and writes its
//! named features in a fixed order; [`schema`] assembles the ordered names and their hash.
//!
//! Missing is not zero: a feature that has no value for a flow (backward statistics of a flow that got
//! no answer, DNS features of a non-DNS flow, early-packet slots past the flow's end) is NaN.

pub mod auth;
pub mod bulk;
pub mod dns;
pub mod early;
pub mod entropy;
pub mod icmp;
pub mod port_class;
pub mod rates;
pub mod rpc;
pub mod schema;
mod smb2;
pub mod stats;
pub mod tcp;
pub mod timing;
pub mod volume;

use crate::decode::{Fragment, PacketMeta, Transport};
use crate::flow::Direction;

/// Application-payload families chosen for a flow when it starts: at most one of DNS, ICMP, Kerberos,
/// SMB2 (authentication and RPC) and direct DCE/RPC, whose ports and protocols do not overlap.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    None,
    Dns(dns::DnsFeatures),
    Icmp(icmp::IcmpFeatures),
    Auth(auth::AuthFeatures),
    Smb(auth::AuthFeatures, rpc::RpcFeatures),
    Rpc(rpc::RpcFeatures),
}

/// All per-flow feature state.
#[derive(Debug, Clone, Copy)]
pub struct FlowFeatures {
    volume: volume::Volume,
    timing: timing::Timing,
    tcp: tcp::Tcp,
    bulk: bulk::Bulk,
    early: early::Early,
    payload: Payload,
}

/// What the features need to know about the flow besides its packets.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts {
    pub proto: u8,
    /// The responder's port (None for protocols without ports).
    pub responder_port: Option<u16>,
}

impl FlowFeatures {
    /// State for a flow whose first packet is `first`.
    pub fn new(first: &PacketMeta<'_>) -> FlowFeatures {
        let payload = match first.transport {
            Transport::Icmp { .. } => Payload::Icmp(icmp::IcmpFeatures::default()),
            Transport::Tcp { src_port, dst_port, .. } | Transport::Udp { src_port, dst_port }
                if dns::is_dns_port(src_port) || dns::is_dns_port(dst_port) =>
            {
                Payload::Dns(dns::DnsFeatures::default())
            }
            _ => match (auth::AuthFeatures::for_flow(&first.transport), rpc::RpcFeatures::for_flow(&first.transport)) {
                (Some(auth), Some(rpc)) => Payload::Smb(auth, rpc),
                (Some(auth), None) => Payload::Auth(auth),
                (None, Some(rpc)) => Payload::Rpc(rpc),
                (None, None) => Payload::None,
            },
        };
        FlowFeatures {
            volume: volume::Volume::default(),
            timing: timing::Timing::start(first.ts_ns),
            tcp: tcp::Tcp::default(),
            bulk: bulk::Bulk::default(),
            early: early::Early::default(),
            payload,
        }
    }

    #[inline]
    pub fn update(&mut self, dir: Direction, meta: &PacketMeta<'_>) {
        let n_before = self.volume.packets(Direction::Forward) + self.volume.packets(Direction::Backward);
        let gaps = self.timing.update(meta.ts_ns, dir, n_before, self.volume.packets(dir));
        self.volume.update(dir, meta);
        self.bulk.update(dir, meta.payload_len, gaps.dir_us);
        self.early.update(n_before, dir, meta.ip_len, gaps.flow_us);
        let has_l4_header = meta.fragment != Fragment::Later;
        match (meta.transport, &mut self.payload) {
            (Transport::Tcp { tcp, src_port, dst_port }, payload) if has_l4_header => {
                self.tcp.update(dir, &tcp);
                match payload {
                    Payload::Dns(dns) => dns.update(dir, meta.payload, true),
                    Payload::Auth(auth) => auth.update(src_port, dst_port, meta.payload, meta.payload_len),
                    Payload::Smb(auth, rpc) => {
                        auth.update(src_port, dst_port, meta.payload, meta.payload_len);
                        rpc.update(dst_port, meta.payload);
                    }
                    Payload::Rpc(rpc) => rpc.update(dst_port, meta.payload),
                    Payload::None | Payload::Icmp(_) => {}
                }
            }
            (Transport::Udp { .. }, Payload::Dns(dns)) if has_l4_header => dns.update(dir, meta.payload, false),
            (Transport::Udp { src_port, dst_port }, Payload::Auth(auth)) if has_l4_header => {
                auth.update(src_port, dst_port, meta.payload, meta.payload_len)
            }
            (Transport::Icmp { .. }, Payload::Icmp(icmp)) if has_l4_header => {
                icmp.update(dir, meta.payload, meta.payload_len)
            }
            _ => {}
        }
    }

    pub fn packets(&self, dir: Direction) -> u64 {
        self.volume.packets(dir)
    }

    pub fn wire_bytes(&self, dir: Direction) -> u64 {
        self.volume.wire_bytes(dir)
    }

    pub fn first_ns(&self) -> u64 {
        self.timing.first_ns()
    }

    pub fn last_ns(&self) -> u64 {
        self.timing.last_ns()
    }

    /// TCP flags seen so far in a direction (0 for other protocols).
    pub fn tcp_flags_seen(&self, dir: Direction) -> u8 {
        self.tcp.seen(dir)
    }

    /// Appends a whole record's features in the order of [`schema::current`]: every per-flow feature
    /// at its place, NaN where the context stage writes (see [`schema::layout`]).
    pub fn write(&self, facts: &FlowFacts, out: &mut Vec<f64>) {
        let fwd = self.volume.packets(Direction::Forward);
        let bwd = self.volume.packets(Direction::Backward);
        self.volume.write(out);
        self.timing.write(fwd, bwd, out);
        rates::write(&self.volume, &self.timing, out);
        self.tcp.write(facts.proto == 6, out);
        self.bulk.write(out);
        self.early.write(fwd + bwd, out);
        port_class::write(facts.proto, facts.responder_port, out);
        let at = out.len();
        let layout = schema::layout();
        debug_assert_eq!(at + dns::DnsFeatures::NAMES.len() + icmp::IcmpFeatures::NAMES.len(), layout.context_v2.start);
        out.resize(schema::current().len(), f64::NAN);
        let (dns_out, icmp_out) = out[at..layout.context_v2.start].split_at_mut(dns::DnsFeatures::NAMES.len());
        match &self.payload {
            Payload::Dns(dns) => dns.write(dns_out),
            Payload::Icmp(icmp) => icmp.write(icmp_out),
            Payload::Auth(auth) => auth.write(&mut out[layout.flow_v3.clone()]),
            Payload::Smb(auth, rpc) => {
                auth.write(&mut out[layout.flow_v3.clone()]);
                rpc.write(&mut out[layout.flow_v5.clone()]);
            }
            Payload::Rpc(rpc) => rpc.write(&mut out[layout.flow_v5.clone()]),
            Payload::None => {}
        }
    }
}
