//! The TOML configuration: one struct tree, unknown fields rejected, every field documented.
//! `sensor config example` prints [`EXAMPLE`], which a test parses.

use std::path::Path;

use serde::Deserialize;

use crate::flow::FlowTableConfig;
use crate::flow::table::FlowConfigError;
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

[decode]
# Bound on IP datagrams whose fragments are tracked at once.
max_fragments = 4096
"#;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Flow table settings.
    pub flow: FlowSection,
    /// Packet decoding settings.
    pub decode: DecodeSection,
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
    #[error("{path}: [flow] {field} must be a finite number of seconds ≥ 0, got {value}")]
    Seconds { path: String, field: &'static str, value: f64 },
    #[error("{path}: [flow] {source}")]
    Flow {
        path: String,
        #[source]
        source: FlowConfigError,
    },
    #[error("{path}: [decode] max_fragments must be at least 1")]
    Fragments { path: String },
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
        Ok(cfg)
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
        assert_eq!(cfg.flow_table("example").unwrap(), FlowTableConfig::default());
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
