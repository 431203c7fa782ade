//! The TOML configuration: one struct tree, unknown fields rejected, every field documented.
//! `sensor config example` prints [`EXAMPLE`], which a test parses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::PolicyConfig;
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
}

fn secs_to_ns(path: &str, field: &'static str, value: f64) -> Result<u64, ConfigError> {
    if !(0.0..=1e9).contains(&value) {
        return Err(ConfigError::Seconds { path: path.to_string(), field, value });
    }
    Ok((value * 1e9).round() as u64)
}

impl Config {
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
        Ok(PolicyConfig {
            aggregation_window_ns: window,
            rate_limit_per_minute: a.rate_limit_per_minute,
            max_alerts_per_minute: a.max_alerts_per_minute,
            max_open: a.max_open,
            max_sources: a.max_sources,
            thresholds: a.thresholds.clone(),
        })
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
    fn out_of_range_values_are_refused() {
        assert!(Config::parse("[flow]\nidle_timeout_s = 7200\n", "x").is_err());
        assert!(Config::parse("[flow]\nidle_timeout_s = -1\n", "x").is_err());
        assert!(Config::parse("[flow]\nmax_flows = 0\n", "x").is_err());
        assert!(Config::parse("[flow]\ncheckpoint_interval_s = 0.5\n", "x").is_err());
        let off = Config::parse("[flow]\ncheckpoint_interval_s = 0\n", "x").unwrap();
        assert_eq!(off.flow_table("x").unwrap().checkpoint_interval_ns, None);
    }
}
