//! Sessions: one simulated conversation (a TCP connection, a UDP exchange, an ICMP echo series) that
//! produces its packets lazily, in time order, as frames seen by an observer near the client (the
//! site's TAP or the client's own interface).
//!
//! Observer timing: a client packet is seen when the client sends it; a server packet one round trip
//! after the client packet it answers. Scripts say what the endpoints exchange ([`Step`]); the session
//! types (`tcp`, `datagram`) turn that into packets with the transport's own mechanics.

use std::net::Ipv4Addr;

use super::rng::Rng;

/// Which end of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The initiator.
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One end of a session as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// TTL of this end's packets as the observer sees them (initial TTL minus hops).
    pub ttl: u8,
}

/// What an application does next in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// One application message (all its bytes, framing included) from one side. TCP segments it; a
    /// datagram session sends it as one datagram.
    Send { from: Side, bytes: Vec<u8> },
    /// Nothing happens for this long (think time, server work, a beacon interval).
    Pause(u64),
    /// Orderly close started by this side (TCP FIN exchange; ends a datagram session).
    Close(Side),
    /// Abort by this side (TCP RST).
    Reset(Side),
}

/// The application side of a session: yields its steps one at a time (lazily, so a gigabyte upload
/// holds one message in memory, not the whole transfer).
pub type Script = Box<dyn FnMut(&mut Rng) -> Option<Step> + Send>;

/// A script from a fixed list of steps.
pub fn script_of(steps: Vec<Step>) -> Script {
    let mut steps = steps.into_iter();
    Box::new(move |_| steps.next())
}

/// Ground-truth label of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    Benign,
    Exfiltration,
    LateralMovement,
}

impl Label {
    pub fn name(self) -> &'static str {
        match self {
            Label::Benign => "benign",
            Label::Exfiltration => "exfiltration",
            Label::LateralMovement => "lateral_movement",
        }
    }
}

/// What a session is, for the truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meaning {
    pub label: Label,
    /// The scenario instance (e.g. `psexec#3`), so one attack's flows can be grouped.
    pub scenario: String,
    /// The behaviour that produced it (e.g. `web_browsing`, `psexec_smb`).
    pub behaviour: &'static str,
    /// MITRE ATT&CK technique id, empty for benign traffic.
    pub technique: &'static str,
}

/// The five-tuple of a session (ICMP: ports hold `type << 8 | code` of the request and the identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    pub proto: u8,
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub server: Ipv4Addr,
    pub server_port: u16,
}

/// A running session.
pub trait Session: Send {
    /// Time of the next packet; None when the session has finished.
    fn next_ts(&self) -> Option<u64>;
    /// Builds the next packet's frame into `frame` (cleared first) and returns its timestamp.
    /// Only called when [`Session::next_ts`] is Some.
    fn emit(&mut self, frame: &mut Vec<u8>) -> u64;
    fn key(&self) -> SessionKey;
}
