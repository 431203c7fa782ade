//! The TOML configuration: one struct tree, unknown fields rejected, every field documented.
//! `sensor config example` prints [`EXAMPLE`], which a test parses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::PolicyConfig;
use crate::context::site::{DEFAULT_SITE_NETWORKS, Prefix, Site};
use crate::context::state_file::{self, Loaded};
use crate::context::time::UtcOffset;
use crate::context::{Context, ContextConfig, ContextLimits};
use crate::flow::FlowTableConfig;
use crate::flow::table::FlowConfigError;
use crate::model::DEV_PUBLIC_KEY;
use crate::model::signature::PublicKey;
use crate::pipeline::DEFAULT_MAX_FRAGMENTS;

/// The example configuration, with every field at its default and explained.
pub const EXAMPLE: &str = r#"# Sensor configuration (TOML). Every field is optional; shown here with its default.

[flow]
# A flow with no packet for this many seconds ends (1 to 3600).
idle_timeout_s = 120.0
# A running flow emits a checkpoint record this often, so long transfers are scored while they run.
# 0 disables checkpoints; otherwise at least 1.
checkpoint_interval_s = 60.0
# After TCP teardown (FIN both ways, or RST) the flow collects trailing packets this long.
tcp_close_linger_s = 2.0
# Hard bound on flows tracked at once; when full, the least recently active flow is ended early
# (counted as evicted). Each tracked flow costs about 505 bytes.
max_flows = 1000000
# A flow emits one early record when it reaches this many packets (both directions), so a fresh
# connection is scored while it runs. 0 disables early records.
early_record_packets = 8

[decode]
# Bound on IP datagrams whose fragments are tracked at once.
max_fragments = 4096

[models]
# Model files to serve (ONNX, each with its signature FILE.sig beside it). Empty: the models built into
# the sensor. `--model` on the command line replaces this list.
files = []
# Models that score and are measured but never alert (shadow mode), e.g. a candidate before promotion.
shadow = []
# Public keys trusted to sign models (`sensor model keygen` makes a pair). The default is the
# development key that signs the models in the repository: replace it in production.
trusted_keys = ["ed25519:0mJWBFWV5e/MBAoy5gWJMAMUQWOfh0hF9BHI23sqz/E="]
# Seconds between checks of the model files for changes; a changed, valid set is swapped in without
# stopping capture, an invalid one is refused and the old models keep serving. 0: only SIGHUP reloads.
reload_poll_s = 2.0

[alert]
# Repeats of the same source, destination and label within this many seconds (packet time) become one
# alert with a count and the highest score. An alert leaves at most this late. 0: every hit at once.
aggregation_window_s = 30.0
# Alerts per source address per minute; hits beyond it are counted as rate-limited. 0: no limit.
rate_limit_per_minute = 30
# Alerts per minute from the whole sensor (bounds alert storms and explanation work). 0: no limit.
max_alerts_per_minute = 600
# Bound on alerts being aggregated at once (when full, the oldest leaves early).
max_open = 10000
# Bound on source addresses whose rate is tracked.
max_sources = 100000

[alert.thresholds]
# Per-label score thresholds overriding the model manifests' values, e.g.:
# exfiltration = 0.9
# lateral_movement = 0.8

[alert.suppress_sources]
# Per label, source networks whose hits of that label never alert (each counted as suppressed): hosts
# whose job looks like the label, such as an authorised vulnerability scanner sweeping admin ports, e.g.:
# lateral_movement = ["10.20.0.60/32"]

[context]
# Behavioural context features (since schema flow-v2): novelty, fan-out, hop chains, volume against the
# host's own history, DNS per registered domain, beaconing, time of day. false: those features are
# missing (NaN) and no state is kept.
enabled = true
# The site's own networks: addresses inside are internal, the rest external.
site_networks = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
# Local time for hour-of-day and weekend features: a fixed offset from UTC (+HH:MM or -HH:MM; no
# daylight-saving changes).
utc_offset = "+00:00"
# Novelty and destination-reach features stay missing until the baseline has seen this much packet
# time (gaps over an hour do not count). Prime it from captures with `sensor baseline`.
learning_period_s = 3600.0
# An admin-port connection B→C extends a chain A→B that reached B at most this long before.
chain_window_s = 3600.0
# Hosts whose job is to reach others on admin ports (management servers, vulnerability scanners). Their
# connections start no hop chain, so the hosts they touch are not one hop down a path when they next
# make an admin connection themselves; a chain that reached such a host still passes through it, e.g.:
# admin_sources = ["10.20.0.50/32", "10.20.0.60/32"]
admin_sources = []
# Where the learned baseline is kept across restarts ("" = not kept). A damaged file is reported,
# moved aside to FILE.corrupt-<seconds>, and learning starts over.
state_file = ""
# Bounds (the stalest entries are dropped first when one is full; drops are counted).
# Source→destination pairs remembered (and as many pairs per port class; about 30 bytes each).
max_pairs = 1000000
# External destinations, and internal services (destination and port class), whose internal clients are counted.
max_destinations = 262144
# Internal hosts with an outbound-volume history (about 100 bytes each, 700 once a host has sent
# through a whole hour).
max_hosts = 65536
# Sources with short-term windows: peers, flow outcomes, bytes (about 1.3 kB each, more while scanning).
max_sources = 16384
# Peers tracked per source within the hour; fan-out counts saturate here.
max_peers_per_source = 256
# (host, external destination) pairs watched for beaconing.
max_beacon_pairs = 65536
# Registered domains with DNS activity (and DNS flows awaiting their record).
max_domains = 65536
# Distinct subdomains tracked per registered domain; the count saturates here.
max_subdomains_per_domain = 1024
"#;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Flow table settings.
    pub flow: FlowSection,
    /// Packet decoding settings.
    pub decode: DecodeSection,
    /// Which models serve, and who may sign them.
    pub models: ModelsSection,
    /// When scores become alerts.
    pub alert: AlertSection,
    /// Behavioural context across flows.
    pub context: ContextSection,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ContextSection {
    /// Compute context features (false: they are NaN).
    pub enabled: bool,
    /// Internal network prefixes.
    pub site_networks: Vec<String>,
    /// Fixed offset from UTC for local time features, `+HH:MM`.
    pub utc_offset: String,
    /// Packet seconds the baseline must cover before novelty features are given.
    pub learning_period_s: f64,
    /// Seconds within which B→C extends a chain that reached B.
    pub chain_window_s: f64,
    /// Networks of hosts whose admin-port reach is their job; their connections start no hop chain.
    pub admin_sources: Vec<String>,
    /// Baseline file kept across restarts; empty = none.
    pub state_file: PathBuf,
    /// Source→destination pairs remembered.
    pub max_pairs: usize,
    /// External destinations, and internal services (destination and port class), whose internal
    /// clients are counted.
    pub max_destinations: usize,
    /// Internal hosts with a volume history.
    pub max_hosts: usize,
    /// Sources with short-term windows.
    pub max_sources: usize,
    /// Peers tracked per source within the hour.
    pub max_peers_per_source: usize,
    /// Pairs watched for beaconing.
    pub max_beacon_pairs: usize,
    /// Registered domains with DNS activity.
    pub max_domains: usize,
    /// Distinct subdomains tracked per registered domain.
    pub max_subdomains_per_domain: usize,
}

impl Default for ContextSection {
    fn default() -> Self {
        let c = ContextConfig::default();
        let l = c.limits;
        ContextSection {
            enabled: true,
            site_networks: DEFAULT_SITE_NETWORKS.iter().map(|s| s.to_string()).collect(),
            utc_offset: "+00:00".into(),
            learning_period_s: c.learning_period_ns as f64 / 1e9,
            chain_window_s: c.chain_window_ns as f64 / 1e9,
            admin_sources: Vec::new(),
            state_file: PathBuf::new(),
            max_pairs: l.max_pairs,
            max_destinations: l.max_destinations,
            max_hosts: l.max_hosts,
            max_sources: l.max_sources,
            max_peers_per_source: l.max_peers_per_source,
            max_beacon_pairs: l.max_beacon_pairs,
            max_domains: l.max_domains,
            max_subdomains_per_domain: l.max_subdomains_per_domain,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsSection {
    /// Model files to serve; empty means the embedded models.
    pub files: Vec<PathBuf>,
    /// Model files in shadow mode (never alert).
    pub shadow: Vec<PathBuf>,
    /// Public keys (`ed25519:<base64>`) trusted to sign models.
    pub trusted_keys: Vec<String>,
    /// Seconds between checks of the model files for changes; 0 = SIGHUP only.
    pub reload_poll_s: f64,
}

impl Default for ModelsSection {
    fn default() -> Self {
        ModelsSection {
            files: Vec::new(),
            shadow: Vec::new(),
            trusted_keys: vec![DEV_PUBLIC_KEY.to_string()],
            reload_poll_s: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSection {
    /// Seconds within which repeats of (source, destination, label) are folded into one alert.
    pub aggregation_window_s: f64,
    /// Alerts per source address per minute; 0 = unlimited.
    pub rate_limit_per_minute: u32,
    /// Alerts per minute from the whole sensor; 0 = unlimited.
    pub max_alerts_per_minute: u32,
    /// Bound on alerts being aggregated at once.
    pub max_open: usize,
    /// Bound on source addresses whose alert rate is tracked.
    pub max_sources: usize,
    /// Per-label threshold overrides.
    pub thresholds: BTreeMap<String, f32>,
    /// Per label, source networks (ADDRESS/LENGTH) whose hits of that label never alert.
    pub suppress_sources: BTreeMap<String, Vec<String>>,
}

impl Default for AlertSection {
    fn default() -> Self {
        let p = PolicyConfig::default();
        AlertSection {
            aggregation_window_s: p.aggregation_window_ns as f64 / 1e9,
            rate_limit_per_minute: p.rate_limit_per_minute,
            max_alerts_per_minute: p.max_alerts_per_minute,
            max_open: p.max_open,
            max_sources: p.max_sources,
            thresholds: BTreeMap::new(),
            suppress_sources: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlowSection {
    /// Seconds without a packet after which a flow ends.
    pub idle_timeout_s: f64,
    /// Seconds between checkpoint records of a running flow; 0 disables them.
    pub checkpoint_interval_s: f64,
    /// Seconds a torn-down TCP flow keeps collecting trailing packets.
    pub tcp_close_linger_s: f64,
    /// Maximum number of flows tracked at once.
    pub max_flows: usize,
    /// Packets after which a flow emits its early record; 0 disables early records.
    pub early_record_packets: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeSection {
    /// Maximum number of fragmented IP datagrams tracked at once.
    pub max_fragments: usize,
}

impl Default for FlowSection {
    fn default() -> Self {
        FlowSection {
            idle_timeout_s: 120.0,
            checkpoint_interval_s: 60.0,
            tcp_close_linger_s: 2.0,
            max_flows: 1_000_000,
            early_record_packets: 8,
        }
    }
}

impl Default for DecodeSection {
    fn default() -> Self {
        DecodeSection { max_fragments: DEFAULT_MAX_FRAGMENTS }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: {field} must be a finite number of seconds ≥ 0, got {value}")]
    Seconds { path: String, field: &'static str, value: f64 },
    #[error("{path}: [flow] {source}")]
    Flow {
        path: String,
        #[source]
        source: FlowConfigError,
    },
    #[error("{path}: [decode] max_fragments must be at least 1")]
    Fragments { path: String },
    #[error("{path}: [models] trusted_keys: {problem}")]
    TrustedKey { path: String, problem: String },
    #[error("{path}: [alert] {problem}")]
    Alert { path: String, problem: String },
    #[error("{path}: [context] {problem}")]
    Context { path: String, problem: String },
}

fn secs_to_ns(path: &str, field: &'static str, value: f64) -> Result<u64, ConfigError> {
    if !(0.0..=1e9).contains(&value) {
        return Err(ConfigError::Seconds { path: path.to_string(), field, value });
    }
    Ok((value * 1e9).round() as u64)
}

impl Config {
    /// The config file given on the command line, or the defaults; with the name errors use.
    pub fn load_or_default(path: Option<&Path>) -> Result<(Config, String), ConfigError> {
        match path {
            Some(p) => Ok((Config::load(p)?, p.display().to_string())),
            None => Ok((Config::default(), "defaults".to_string())),
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: name.clone(), source })?;
        Config::parse(&text, &name)
    }

    /// Parses and validates config text; `name` is used in errors.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config =
            toml::from_str(text).map_err(|source| ConfigError::Parse { path: name.to_string(), source })?;
        cfg.flow_table(name)?;
        if cfg.decode.max_fragments == 0 {
            return Err(ConfigError::Fragments { path: name.to_string() });
        }
        cfg.trusted_keys(name)?;
        cfg.policy(name)?;
        cfg.context(name)?;
        secs_to_ns(name, "reload_poll_s", cfg.models.reload_poll_s)?;
        Ok(cfg)
    }

    /// The parsed trusted public keys.
    pub fn trusted_keys(&self, name: &str) -> Result<Vec<PublicKey>, ConfigError> {
        self.models
            .trusted_keys
            .iter()
            .map(|k| {
                PublicKey::parse(k, name)
                    .map_err(|e| ConfigError::TrustedKey { path: name.to_string(), problem: format!("{k:?}: {e}") })
            })
            .collect()
    }

    /// The validated alert policy.
    pub fn policy(&self, name: &str) -> Result<PolicyConfig, ConfigError> {
        let a = &self.alert;
        let bad = |problem: String| ConfigError::Alert { path: name.to_string(), problem };
        let window = secs_to_ns(name, "aggregation_window_s", a.aggregation_window_s)?;
        if a.max_open == 0 || a.max_sources == 0 {
            return Err(bad("max_open and max_sources must be at least 1".into()));
        }
        if let Some((label, t)) = a.thresholds.iter().find(|(_, t)| !t.is_finite()) {
            return Err(bad(format!("thresholds.{label} = {t} is not a finite number")));
        }
        let mut suppress_sources = BTreeMap::new();
        for (label, nets) in &a.suppress_sources {
            let nets = nets
                .iter()
                .map(|n| Prefix::parse(n).map_err(|e| bad(format!("suppress_sources.{label}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            suppress_sources.insert(label.clone(), nets);
        }
        Ok(PolicyConfig {
            suppress_sources,
            aggregation_window_ns: window,
            rate_limit_per_minute: a.rate_limit_per_minute,
            max_alerts_per_minute: a.max_alerts_per_minute,
            max_open: a.max_open,
            max_sources: a.max_sources,
            thresholds: a.thresholds.clone(),
        })
    }

    /// The validated context settings (the open-flow bound follows the flow table's).
    pub fn context(&self, name: &str) -> Result<ContextConfig, ConfigError> {
        let c = &self.context;
        let bad = |problem: String| ConfigError::Context { path: name.to_string(), problem };
        let site = Site::new(&c.site_networks).map_err(|e| bad(format!("site_networks: {e}")))?;
        let utc_offset = UtcOffset::parse(&c.utc_offset).map_err(|e| bad(format!("utc_offset: {e}")))?;
        let limits = ContextLimits {
            max_pairs: c.max_pairs,
            max_destinations: c.max_destinations,
            max_hosts: c.max_hosts,
            max_sources: c.max_sources,
            max_peers_per_source: c.max_peers_per_source,
            max_beacon_pairs: c.max_beacon_pairs,
            max_domains: c.max_domains,
            max_subdomains_per_domain: c.max_subdomains_per_domain,
            max_open_flows: self.flow.max_flows,
        };
        let caps = [
            ("max_pairs", limits.max_pairs),
            ("max_destinations", limits.max_destinations),
            ("max_hosts", limits.max_hosts),
            ("max_sources", limits.max_sources),
            ("max_peers_per_source", limits.max_peers_per_source),
            ("max_beacon_pairs", limits.max_beacon_pairs),
            ("max_domains", limits.max_domains),
            ("max_subdomains_per_domain", limits.max_subdomains_per_domain),
        ];
        if let Some((field, _)) = caps.iter().find(|(_, v)| *v == 0) {
            return Err(bad(format!("{field} must be at least 1")));
        }
        let admin_sources = c
            .admin_sources
            .iter()
            .map(|n| Prefix::parse(n).map_err(|e| bad(format!("admin_sources: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ContextConfig {
            site,
            utc_offset,
            learning_period_ns: secs_to_ns(name, "learning_period_s", c.learning_period_s)?,
            chain_window_ns: secs_to_ns(name, "chain_window_s", c.chain_window_s)?,
            admin_sources,
            limits,
        })
    }

    /// The context stage as configured: disabled, fresh, or continuing from the state file (a damaged
    /// file is set aside with a warning). Returns the state file to save to, if any.
    pub fn open_context(&self, name: &str) -> anyhow::Result<(Context, Option<PathBuf>)> {
        if !self.context.enabled {
            return Ok((Context::disabled(), None));
        }
        let cfg = self.context(name)?;
        if self.context.state_file.as_os_str().is_empty() {
            return Ok((Context::new(cfg), None));
        }
        let path = self.context.state_file.clone();
        let limits = cfg.limits.baseline();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (baseline, loaded) = state_file::load_or_set_aside(&path, limits, now)?;
        match loaded {
            Loaded::Read => tracing::info!(path = %path.display(), entries = baseline.entries(), "baseline loaded"),
            Loaded::Fresh => tracing::info!(path = %path.display(), "no baseline yet: learning from scratch"),
            Loaded::SetAside(e, aside) => {
                tracing::warn!(error = %e, moved_to = %aside.display(), "baseline unusable: set aside, learning from scratch")
            }
        }
        Ok((Context::with_baseline(cfg, baseline), Some(path)))
    }

    /// The validated flow table settings.
    pub fn flow_table(&self, name: &str) -> Result<FlowTableConfig, ConfigError> {
        let f = &self.flow;
        let checkpoint = secs_to_ns(name, "checkpoint_interval_s", f.checkpoint_interval_s)?;
        let cfg = FlowTableConfig {
            idle_timeout_ns: secs_to_ns(name, "idle_timeout_s", f.idle_timeout_s)?,
            checkpoint_interval_ns: (checkpoint > 0).then_some(checkpoint),
            tcp_close_linger_ns: secs_to_ns(name, "tcp_close_linger_s", f.tcp_close_linger_s)?,
            max_flows: f.max_flows,
            early_record_packets: (f.early_record_packets > 0).then_some(f.early_record_packets),
        };
        cfg.validate().map_err(|source| ConfigError::Flow { path: name.to_string(), source })?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_defaults() {
        let cfg = Config::parse(EXAMPLE, "example").unwrap();
        assert_eq!(cfg, Config::default());
        let table = FlowTableConfig { early_record_packets: Some(8), ..FlowTableConfig::default() };
        assert_eq!(cfg.flow_table("example").unwrap(), table);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Config::parse("[flow]\nidle_timeout = 5\n", "x.toml").unwrap_err().to_string();
        assert!(err.contains("idle_timeout"), "{err}");
        assert!(err.starts_with("x.toml"), "{err}");
    }

    #[test]
    fn context_settings_are_checked() {
        let err = Config::parse("[context]\nsite_networks = [\"10.0.0.1/8\"]\n", "x").unwrap_err().to_string();
        assert!(err.contains("site_networks") && err.contains("10.0.0.0/8"), "{err}");
        let err = Config::parse("[context]\nutc_offset = \"CET\"\n", "x").unwrap_err().to_string();
        assert!(err.contains("utc_offset"), "{err}");
        assert!(Config::parse("[context]\nmax_pairs = 0\n", "x").is_err());
        let cfg = Config::parse("[context]\nutc_offset = \"+02:00\"\nlearning_period_s = 0\n", "x").unwrap();
        let ctx = cfg.context("x").unwrap();
        assert_eq!(ctx.utc_offset, UtcOffset(7200));
        assert_eq!(ctx.learning_period_ns, 0);
        assert_eq!(ctx.limits.max_open_flows, cfg.flow.max_flows);
        let err = Config::parse("[context]\nadmin_sources = [\"10.20.0.50\"]\n", "x").unwrap_err();
        assert!(err.to_string().contains("admin_sources"), "{err}");
        let cfg = Config::parse("[context]\nadmin_sources = [\"10.20.0.50/32\"]\n", "x").unwrap();
        assert_eq!(cfg.context("x").unwrap().admin_sources, vec![Prefix::parse("10.20.0.50/32").unwrap()]);
    }

    #[test]
    fn suppressed_sources_are_checked() {
        let bad = "[alert.suppress_sources]\nlateral_movement = [\"10.20.0.61/24\"]\n";
        let err = Config::parse(bad, "x").and_then(|c| c.policy("x").map(|_| ())).unwrap_err().to_string();
        assert!(err.contains("suppress_sources.lateral_movement") && err.contains("10.20.0.0/24"), "{err}");
        let ok = Config::parse("[alert.suppress_sources]\nlateral_movement = [\"10.20.0.60/32\"]\n", "x").unwrap();
        assert_eq!(ok.policy("x").unwrap().suppress_sources["lateral_movement"].len(), 1);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(Config::parse("[flow]\nidle_timeout_s = 7200\n", "x").is_err());
        assert!(Config::parse("[flow]\nidle_timeout_s = -1\n", "x").is_err());
        assert!(Config::parse("[flow]\nmax_flows = 0\n", "x").is_err());
        assert!(Config::parse("[flow]\ncheckpoint_interval_s = 0.5\n", "x").is_err());
        let off = Config::parse("[flow]\ncheckpoint_interval_s = 0\n", "x").unwrap();
        assert_eq!(off.flow_table("x").unwrap().checkpoint_interval_ns, None);
    }
}
