//! Traffic generation with ground truth.
//!
//! The scenario simulator writes a capture of a whole site (benign behaviours, their hard look-alikes,
//! exfiltration and lateral movement) and a truth row per session: `site` (hosts and destinations),
//! `behaviour` (actors that start sessions), `session`/`tcp`/`datagram` (packets with real transport
//! mechanics), `proto` (application messages in wire format), `scheduler` (time order, bounded memory),
//! `scenario` and `run` (a run into files), `truth` (the labels, and matching them to flow records).
//! `synthetic` is the simpler random mix of the throughput benchmark.

pub mod behaviour;
pub mod datagram;
pub mod frame;
pub mod proto;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod session;
pub mod site;
pub mod synthetic;
pub mod tcp;
pub mod truth;
