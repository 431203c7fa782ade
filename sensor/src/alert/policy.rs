//! The alert policy: which scores alert, and how repeats and floods are folded.
//!
//! - **Thresholds** per label: the config's value when it sets one, else the model manifest's; a label
//!   with neither never alerts.
//! - **Aggregation**: the first hit for a (source, destination, label) opens an aggregate; every hit for
//!   the same triple within the window (packet time) joins it; when the window has passed, one alert
//!   leaves, carrying the count, the first and last times and the highest-scoring hit (whose record and
//!   explanation the alert shows). An alert is therefore at most one window late; window 0 sends every
//!   hit at once.
//! - **Group destinations**: a hit on a flow whose first packet went to a broadcast or multicast address
//!   never alerts and is counted per label (`group_destinations`). Exfiltration needs a receiver outside
//!   the site and lateral movement a session with one host; a datagram to every host of a subnet (NetBIOS
//!   announcements, DHCP, SSDP, mDNS) is neither, and no training flow is one, so a model's score there is
//!   an extrapolation.
//! - **Suppressed sources** per label: hits of that label from a configured source network never alert
//!   and are counted (`suppressed`); for hosts whose job looks like the label, such as an authorised
//!   vulnerability scanner sweeping admin ports (`lateral_movement`).
//! - **Rate limits**: a token bucket per source address and one for the whole sensor, refilled by packet
//!   time; a new aggregate needs a token from both. Hits refused for lack of one are counted per label
//!   (`rate_limited`), never dropped silently. The sensor-wide bound also bounds the explanation work.
//! - **Bounds**: at most `max_open` aggregates are open (when full, the oldest leaves early, complete
//!   for what it has) and at most `max_sources` buckets are kept (when full, buckets that have refilled
//!   are forgotten, since they hold nothing; sources beyond that are not limited and are counted).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use crate::context::site::Prefix;
use crate::decode::Delivery;
use crate::flow::FlowRecord;
use crate::model::Model;

/// Alert policy settings (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    pub aggregation_window_ns: u64,
    /// Alerts per source address per minute; 0 = no limit.
    pub rate_limit_per_minute: u32,
    /// Alerts per minute from the whole sensor (an alert storm's bound, and the bound on explanation
    /// work); 0 = no limit.
    pub max_alerts_per_minute: u32,
    pub max_open: usize,
    pub max_sources: usize,
    /// Threshold overrides by label.
    pub thresholds: BTreeMap<String, f32>,
    /// Per label, the source networks whose hits of that label never alert.
    pub suppress_sources: BTreeMap<String, Vec<Prefix>>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            aggregation_window_ns: 30_000_000_000,
            rate_limit_per_minute: 30,
            max_alerts_per_minute: 600,
            max_open: 10_000,
            max_sources: 100_000,
            thresholds: BTreeMap::new(),
            suppress_sources: BTreeMap::new(),
        }
    }
}

/// A record whose score crossed its label's threshold.
#[derive(Debug, Clone)]
pub struct Hit {
    pub record: Arc<FlowRecord>,
    pub model: Arc<Model>,
    pub label_index: usize,
    pub score: f32,
    pub threshold: f32,
}

impl Hit {
    pub fn label(&self) -> &str {
        &self.model.manifest.labels[self.label_index]
    }
}

/// An alert ready to leave: the best hit and the repeats folded into it.
#[derive(Debug, Clone)]
pub struct Ready {
    pub best: Hit,
    pub count: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub flow_ids: Vec<u64>,
}

/// Distinct flow ids an aggregate remembers.
const MAX_FLOW_IDS: usize = 16;

/// What the policy did, per label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyStats {
    pub alerts: BTreeMap<String, u64>,
    /// Hits folded into an earlier alert of the same source, destination and label.
    pub aggregated: u64,
    pub rate_limited: BTreeMap<String, u64>,
    /// Hits on flows to a broadcast or multicast destination.
    pub group_destinations: BTreeMap<String, u64>,
    /// Hits from a source suppressed for their label.
    pub suppressed: BTreeMap<String, u64>,
    /// Aggregates sent before their window ended because `max_open` were open.
    pub early_sent: u64,
    /// Hits from sources beyond `max_sources`, not rate limited.
    pub unlimited_sources: u64,
}

type Key = (IpAddr, IpAddr, String);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ns: u64,
}

pub struct AlertPolicy {
    cfg: PolicyConfig,
    open: HashMap<Key, Ready>,
    /// Open keys in the order they opened (packet time does not go backwards here).
    order: VecDeque<(Key, u64)>,
    buckets: HashMap<IpAddr, Bucket>,
    global: Option<Bucket>,
    pub stats: PolicyStats,
}

impl AlertPolicy {
    pub fn new(cfg: PolicyConfig) -> AlertPolicy {
        AlertPolicy {
            cfg,
            open: HashMap::new(),
            order: VecDeque::new(),
            buckets: HashMap::new(),
            global: None,
            stats: Default::default(),
        }
    }

    /// The threshold at which `label` of `model` alerts, if it does.
    pub fn threshold(&self, model: &Model, label: &str) -> Option<f32> {
        self.cfg.thresholds.get(label).copied().or_else(|| model.manifest.threshold(label))
    }

    /// Takes a hit observed at packet time `now`; alerts whose window has passed go to `out`.
    pub fn offer(&mut self, hit: Hit, now: u64, out: &mut Vec<Ready>) {
        self.advance(now, out);
        if hit.record.delivery != Delivery::Unicast {
            *self.stats.group_destinations.entry(hit.label().to_string()).or_default() += 1;
            return;
        }
        if let Some(nets) = self.cfg.suppress_sources.get(hit.label()) {
            let src = hit.record.src_ip();
            if nets.iter().any(|n| n.contains(src)) {
                *self.stats.suppressed.entry(hit.label().to_string()).or_default() += 1;
                return;
            }
        }
        let key: Key = (hit.record.src_ip(), hit.record.dst_ip(), hit.label().to_string());
        if let Some(agg) = self.open.get_mut(&key) {
            agg.count += 1;
            agg.first_ns = agg.first_ns.min(hit.record.end_ns);
            agg.last_ns = agg.last_ns.max(hit.record.end_ns);
            if agg.flow_ids.len() < MAX_FLOW_IDS && !agg.flow_ids.contains(&hit.record.flow_id) {
                agg.flow_ids.push(hit.record.flow_id);
            }
            if hit.score > agg.best.score {
                agg.best = hit;
            }
            self.stats.aggregated += 1;
            return;
        }
        if !self.admit(key.0, now) {
            *self.stats.rate_limited.entry(key.2).or_default() += 1;
            return;
        }
        let ready = Ready {
            count: 1,
            first_ns: hit.record.end_ns,
            last_ns: hit.record.end_ns,
            flow_ids: vec![hit.record.flow_id],
            best: hit,
        };
        if self.cfg.aggregation_window_ns == 0 {
            self.send(ready, out);
            return;
        }
        if self.open.len() >= self.cfg.max_open
            && let Some((oldest, _)) = self.order.pop_front()
        {
            let agg = self.open.remove(&oldest).expect("open keys are queued once");
            self.stats.early_sent += 1;
            self.send(agg, out);
        }
        self.order.push_back((key.clone(), now));
        self.open.insert(key, ready);
    }

    /// Sends the aggregates whose window has passed by packet time `now`.
    pub fn advance(&mut self, now: u64, out: &mut Vec<Ready>) {
        while let Some((_, opened)) = self.order.front() {
            if now < opened.saturating_add(self.cfg.aggregation_window_ns) {
                break;
            }
            let (key, _) = self.order.pop_front().expect("front exists");
            let agg = self.open.remove(&key).expect("open keys are queued once");
            self.send(agg, out);
        }
    }

    /// Sends every open aggregate (end of input, shutdown).
    pub fn flush(&mut self, out: &mut Vec<Ready>) {
        while let Some((key, _)) = self.order.pop_front() {
            let agg = self.open.remove(&key).expect("open keys are queued once");
            self.send(agg, out);
        }
    }

    /// Open aggregates (for memory reports and tests).
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    fn send(&mut self, agg: Ready, out: &mut Vec<Ready>) {
        *self.stats.alerts.entry(agg.best.label().to_string()).or_default() += 1;
        out.push(agg);
    }

    /// Takes a token from the sensor-wide bucket and from `src`'s, or from neither.
    fn admit(&mut self, src: IpAddr, now: u64) -> bool {
        if !self.take_global_token(now) {
            return false;
        }
        if !self.take_token(src, now) {
            // The sensor-wide token was not used: give it back.
            if let Some(g) = self.global.as_mut() {
                g.tokens = (g.tokens + 1.0).min(f64::from(self.cfg.max_alerts_per_minute));
            }
            return false;
        }
        true
    }

    fn take_global_token(&mut self, now: u64) -> bool {
        let per_minute = self.cfg.max_alerts_per_minute;
        if per_minute == 0 {
            return true;
        }
        let capacity = f64::from(per_minute);
        let b = self.global.get_or_insert(Bucket { tokens: capacity, at_ns: now });
        refill(b, now, capacity);
        take(b)
    }

    fn take_token(&mut self, src: IpAddr, now: u64) -> bool {
        let per_minute = self.cfg.rate_limit_per_minute;
        if per_minute == 0 {
            return true;
        }
        let capacity = f64::from(per_minute);
        if !self.buckets.contains_key(&src) && self.buckets.len() >= self.cfg.max_sources {
            self.buckets.retain(|_, b| tokens_at(b, now, capacity) < capacity);
            if self.buckets.len() >= self.cfg.max_sources {
                self.stats.unlimited_sources += 1;
                return true;
            }
        }
        let b = self.buckets.entry(src).or_insert(Bucket { tokens: capacity, at_ns: now });
        refill(b, now, capacity);
        take(b)
    }
}

/// Adds the tokens earned since the bucket's last use (capacity per minute of packet time).
fn refill(b: &mut Bucket, now: u64, capacity: f64) {
    b.tokens = tokens_at(b, now, capacity);
    b.at_ns = b.at_ns.max(now);
}

/// The tokens `b` holds at `now`.
fn tokens_at(b: &Bucket, now: u64, capacity: f64) -> f64 {
    (b.tokens + now.saturating_sub(b.at_ns) as f64 * capacity / 60e9).min(capacity)
}

fn take(b: &mut Bucket) -> bool {
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        true
    } else {
        false
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
