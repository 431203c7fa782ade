//! The alert event (a contract): one JSON object per line, field names from the Elastic Common Schema
//! where one exists. See the design's "Alert event" section; fields added here beyond it are
//! `ml.scores` and `ml.shadow` (on `--emit all` events), `flow.record` (early, checkpoint or final) and
//! `aggregation` (repeats folded into an alert).
//!
//! `event.id` is derived from the flow record, the model and the label, so the same capture replayed
//! twice gives the same ids and a collector that deduplicates by id (NATS JetStream) drops repeats.

use std::net::IpAddr;

use serde::Serialize;

use crate::flow::{FlowRecord, RecordKind};
use crate::model::Model;
use crate::timefmt::rfc3339_nanos;

/// `event.kind` of a scored record: an alert, or (with `--emit all`) a plain scored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Alert,
    Event,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    pub event: EventMeta,
    pub ml: Ml,
    pub source: Endpoint,
    pub destination: Endpoint,
    pub network: Network,
    pub flow: FlowInfo,
    pub observer: Observer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threat: Option<Threat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    /// Behavioural context the analyst needs beside the scores (present when there is some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<EventContext>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventContext {
    /// The admin-port hop chain (A→B→C …) this flow extends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainInfo>,
    /// The record's context features by name (on `--emit all` events only; null = missing), so
    /// evaluation can check what the sensor computed against the training table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<std::collections::BTreeMap<&'static str, Option<f64>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainInfo {
    /// Same on every alert along one path.
    pub id: String,
    pub hops: usize,
    /// From the first source to this flow's destination.
    pub hosts: Vec<IpAddr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventMeta {
    pub id: String,
    pub kind: EventKind,
    pub category: [&'static str; 1],
    pub module: &'static str,
    pub severity: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ml {
    pub label: String,
    pub score: f32,
    pub model: ModelRef,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<Contribution>,
    /// Every label's score (on `--emit all` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<std::collections::BTreeMap<String, f32>>,
    /// The model is in shadow mode: scored and measured, never alerting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// One feature's part in a score (see `alert::explain`).
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub feature: String,
    /// The flow's value (null when missing).
    pub value: Option<f64>,
    /// Score of the flow minus the score with this feature set to its reference value.
    pub effect: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub bytes: u64,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub transport: String,
    pub community_id: String,
    pub direction: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowInfo {
    pub id: String,
    pub start: String,
    pub end: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub record: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Observer {
    pub hostname: String,
    pub mode: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Threat {
    pub tactic: Tactic,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tactic {
    pub id: &'static str,
    pub name: &'static str,
}

/// Repeats of the same source, destination and label folded into one alert.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregation {
    /// Scored records that crossed the threshold (this alert's and its repeats).
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// Distinct flows among them (at most the first 16 ids).
    pub flow_ids: Vec<String>,
}

/// Who is observing: fixed for a run.
#[derive(Debug, Clone)]
pub struct ObserverInfo {
    pub hostname: String,
    pub mode: &'static str,
}

impl ObserverInfo {
    pub fn this_host(mode: &'static str) -> ObserverInfo {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        ObserverInfo { hostname, mode }
    }
}

/// The MITRE ATT&CK tactic of a label, when it has one.
pub fn tactic(label: &str) -> Option<Tactic> {
    match label {
        "exfiltration" => Some(Tactic { id: "TA0010", name: "Exfiltration" }),
        "lateral_movement" => Some(Tactic { id: "TA0008", name: "Lateral Movement" }),
        _ => None,
    }
}

/// The id that names one record scored by one model for one label.
pub fn event_id(record: &FlowRecord, model: &Model, label: &str) -> String {
    format!("{:016x}-{}{}-{}-{}", record.flow_id, record.kind.name(), record.seq, &model.sha256[..12], label)
}

fn event_context(r: &FlowRecord, kind: EventKind) -> Option<EventContext> {
    let chain = r.context.chain.as_ref().map(|c| ChainInfo {
        id: format!("{:016x}", c.id),
        hops: c.hops(),
        hosts: c.hosts.clone(),
    });
    let v1 = crate::features::schema::flow_v1().len();
    let names = &crate::features::schema::current().names[v1..];
    let features = (kind == EventKind::Event && r.context.direction.is_some() && r.features.len() > v1)
        .then(|| names.iter().zip(&r.features[v1..]).map(|(n, v)| (n.as_str(), v.is_finite().then_some(*v))).collect());
    (chain.is_some() || features.is_some()).then_some(EventContext { chain, features })
}

/// Where a flow goes, by address class, for records without the context stage (which uses the
/// configured site networks): `internal` (both private), `outbound`, `inbound`, or `external`
/// (neither private). Private: RFC 1918, RFC 6598, loopback, link-local, IPv6 ULA.
pub fn direction(src: IpAddr, dst: IpAddr) -> &'static str {
    match (is_private(src), is_private(dst)) {
        (true, true) => "internal",
        (true, false) => "outbound",
        (false, true) => "inbound",
        (false, false) => "external",
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

pub fn transport_name(proto: u8) -> String {
    match proto {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "ipv6-icmp".into(),
        n => n.to_string(),
    }
}

/// Everything about the scored record that goes into its event.
pub struct Scored<'a> {
    pub record: &'a FlowRecord,
    pub model: &'a Model,
    pub label: &'a str,
    pub score: f32,
    pub severity: u8,
    pub kind: EventKind,
}

impl AlertEvent {
    pub fn new(s: Scored<'_>, observer: &ObserverInfo) -> AlertEvent {
        let r = s.record;
        let m = &s.model.manifest;
        AlertEvent {
            timestamp: rfc3339_nanos(r.end_ns),
            event: EventMeta {
                id: event_id(r, s.model, s.label) + if s.kind == EventKind::Event { "-event" } else { "" },
                kind: s.kind,
                category: ["network"],
                module: "sensor",
                severity: s.severity,
            },
            ml: Ml {
                label: s.label.to_string(),
                score: s.score,
                model: ModelRef { name: m.name.clone(), version: m.version.clone(), sha256: s.model.sha256.clone() },
                explanation: Vec::new(),
                scores: None,
                shadow: false,
            },
            source: Endpoint { ip: r.src_ip(), port: r.src_port(), bytes: r.fwd_wire_bytes, packets: r.fwd_packets },
            destination: Endpoint {
                ip: r.dst_ip(),
                port: r.dst_port(),
                bytes: r.bwd_wire_bytes,
                packets: r.bwd_packets,
            },
            network: Network {
                transport: transport_name(r.key.proto),
                community_id: r.community_id(),
                direction: r.context.direction.map_or_else(|| direction(r.src_ip(), r.dst_ip()), |d| d.name()),
            },
            flow: FlowInfo {
                id: format!("{:016x}", r.flow_id),
                start: rfc3339_nanos(r.start_ns),
                end: rfc3339_nanos(r.end_ns),
                is_final: r.kind == RecordKind::Final,
                record: r.kind.name(),
            },
            observer: Observer {
                hostname: observer.hostname.clone(),
                mode: observer.mode,
                version: env!("CARGO_PKG_VERSION"),
            },
            threat: tactic(s.label).map(|tactic| Threat { tactic }),
            aggregation: None,
            context: event_context(r, s.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_follows_address_classes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(direction(ip("10.1.2.3"), ip("198.18.0.7")), "outbound");
        assert_eq!(direction(ip("10.1.2.3"), ip("192.168.4.4")), "internal");
        assert_eq!(direction(ip("8.8.8.8"), ip("172.16.0.1")), "inbound");
        assert_eq!(direction(ip("100.64.0.1"), ip("fd00::1")), "internal");
        assert_eq!(direction(ip("2001:db8::1"), ip("8.8.8.8")), "external");
        assert_eq!(direction(ip("172.32.0.1"), ip("10.0.0.1")), "inbound");
    }

    #[test]
    fn tactics_are_mitre_ids() {
        assert_eq!(tactic("exfiltration").unwrap().id, "TA0010");
        assert_eq!(tactic("lateral_movement").unwrap().id, "TA0008");
        assert!(tactic("anomaly").is_none());
    }
}
