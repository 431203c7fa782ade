//! The command line (a contract: names and meanings stay; see the design's command-line section).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::simulate::behaviour::{VariantSet, attack_names};
use crate::simulate::scenario::{SCENARIOS, ScenarioConfig, ScenarioError, default_attacks};
use crate::timefmt::{parse_duration_ns, parse_rfc3339_utc};

/// Exit status when the input capture was damaged: the readable part was processed and written.
pub const EXIT_DAMAGED_INPUT: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "sensor",
    version,
    about = "Edge network sensor: flow features at line rate, on-host scoring of exfiltration and lateral movement",
    long_about = None,
    after_help = "Exit status: 0 success, 1 error, 2 usage error, 3 input capture damaged (the readable part was processed and written)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job on embedded defaults: simulate a small office with attacks, score it with the
    /// built-in models, report the alerts with explanations and which attacks were caught or missed.
    Demo {
        /// Seed of the simulation (same seed, same capture).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the generated capture at this path instead of a temporary file.
        #[arg(long)]
        keep_pcap: Option<PathBuf>,
    },
    /// Extract one row of features per flow record from a capture (the training table).
    ///
    /// Reads pcap or pcapng (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback; micro- or nanosecond
    /// timestamps). Writes CSV or Parquet chosen by the output file's extension. Each row is a flow's
    /// final record, a checkpoint of a long flow, or its early record after the first packets (same
    /// flow_id): the records the sensor scores. A summary line goes to stderr.
    Extract {
        /// Capture file to read.
        #[arg(long, required_unless_present = "schema")]
        pcap: Option<PathBuf>,
        /// Output file: FILE.parquet or FILE.csv.
        #[arg(long, required_unless_present = "schema")]
        out: Option<PathBuf>,
        /// Ground truth of a simulated capture (FILE.csv or FILE.parquet from `sensor simulate`): adds
        /// label, scenario, behaviour and technique columns to every row.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// TOML configuration (see `sensor config example`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the feature schema (ordered names and hash) and exit.
        #[arg(long)]
        schema: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Simulate a site's traffic with attacks: a capture and its per-flow ground truth.
    ///
    /// Deterministic: the same arguments give the same bytes. Scenarios: enterprise (a working day of a
    /// Windows domain with every benign behaviour and a mix of attacks), benign (no attack), demo (a
    /// small office for 20 minutes, a few attacks of each kind).
    Simulate {
        /// Scenario name.
        #[arg(long, default_value = "enterprise")]
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Capture to write (pcap, nanosecond timestamps).
        #[arg(long)]
        out: PathBuf,
        /// Ground truth to write: FILE.csv or FILE.parquet.
        #[arg(long)]
        truth: PathBuf,
        /// Workstations on the site (servers are added to them).
        #[arg(long)]
        hosts: Option<u32>,
        /// Simulated time span: e.g. 20m, 8h, 1d.
        #[arg(long)]
        duration: Option<String>,
        /// Start time, RFC 3339 UTC (default: a Monday, 2024-03-04T08:00:00Z).
        #[arg(long)]
        start: Option<String>,
        /// Attack mix: NAME=COUNT,... (default: the scenario's mix; `none` for none).
        #[arg(long)]
        attacks: Option<String>,
        /// Which variants of each attack: train or eval (disjoint sets).
        #[arg(long, default_value = "train")]
        variants: String,
        /// Scale of large transfers and long activities (uploads, downloads, calls, tunnels); 1 is
        /// realistic, 0.1 makes a ten times smaller capture with the same sessions.
        #[arg(long, default_value_t = 1.0)]
        volume_scale: f64,
        /// Share of TCP connections captured on one of their hosts instead of on the wire (0 to 1; half
        /// on the client, half on the server): that host's data in segmentation-offload superpackets of
        /// up to 60,000 bytes and, on the server, the server's timing, as an endpoint capture (or the
        /// agent's TC hook) sees them. For training models that serve endpoint captures as well.
        #[arg(long, default_value_t = 0.0)]
        host_vantage: f64,
    },
    /// Score a capture with the models and write alert events as JSON lines.
    ///
    /// The capture goes through the same pipeline as `extract`; every flow record (early, each
    /// checkpoint, final) is scored by every model; the alert policy (thresholds, aggregation, rate
    /// limit) decides what alerts; each alert names the features that drove its score. A summary goes
    /// to stderr. Model files are watched: a changed, valid model is swapped in between batches (also on
    /// SIGHUP); an invalid one is refused and the old one keeps serving.
    Replay {
        /// Capture file to read (pcap or pcapng).
        #[arg(long)]
        pcap: PathBuf,
        /// Model file (repeatable). Default: the config's [models] files, else the embedded models.
        #[arg(long = "model", value_name = "FILE")]
        models: Vec<PathBuf>,
        /// Model file in shadow mode: scored and counted, never alerts (repeatable).
        #[arg(long = "shadow-model", value_name = "FILE")]
        shadow_models: Vec<PathBuf>,
        /// Where the events go: a file, or - for stdout (default).
        #[arg(long)]
        out: Option<PathBuf>,
        /// alerts: only alerts; all: also one event per scored record and model (for evaluation).
        #[arg(long, value_enum, default_value = "alerts")]
        emit: crate::detect::Emit,
        /// TOML configuration (see `sensor config example`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Accept models without a valid signature from a trusted key (a warning instead of a refusal).
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Prime the learned baseline (behavioural context) from captures of normal traffic.
    ///
    /// Runs each capture, in the order given, through the same pipeline as `replay` and `extract`
    /// (records are discarded) and saves what the context stage learned: which hosts talk to which,
    /// on which ports, how many internal hosts reach each external destination, each host's outbound
    /// volume by time of day. The sensor then starts with novelty features instead of a learning
    /// period. Continues from the state file if it exists (a damaged one is set aside).
    Baseline {
        /// Capture files of normal traffic (repeatable), oldest first.
        #[arg(long = "pcap", value_name = "FILE", required = true)]
        pcaps: Vec<PathBuf>,
        /// Baseline file to write (default: the config's [context] state_file).
        #[arg(long)]
        state: Option<PathBuf>,
        /// TOML configuration (see `sensor config example`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Model files: check one against this build, make signing keys, sign.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Validate a model: manifest, signature, features this build produces, operators tract runs,
    /// output shape, and a smoke inference. Prints the manifest; exits 1 on any problem.
    Check {
        file: PathBuf,
        /// Configuration whose [models] trusted_keys apply (default: the built-in development key).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Report a missing or bad signature instead of refusing (still exits 1).
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Make a signing key pair: NAME.key (secret, mode 0600) and NAME.pub; prints the public key.
    Keygen {
        /// Path without extension for the two files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign model files: writes FILE.sig beside each. The model must load unless --no-check.
    Sign {
        /// Secret key file from `sensor model keygen`.
        #[arg(long)]
        key: PathBuf,
        /// Sign even if the model does not load in this build.
        #[arg(long)]
        no_check: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print an example configuration with every field documented and at its default.
    Example,
    /// Validate a configuration file.
    Check { file: PathBuf },
}

mod baseline;
mod extract;
mod model;
mod output;
pub(crate) mod replay;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { seed, keep_pcap } => {
            let tmp;
            let path = match keep_pcap {
                Some(p) => p,
                None => {
                    tmp = output::TempFile::new("sensor-demo", "pcap");
                    tmp.0.clone()
                }
            };
            output::print_text(&crate::demo::run(&path, seed)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Baseline { pcaps, state, config } => baseline::run(&pcaps, state, config),
        Command::Extract { schema: true, .. } => {
            let s = crate::features::schema::current();
            let mut text = format!("# schema {} sha256:{} ({} features)\n", s.id, s.hash, s.len());
            for name in &s.names {
                text.push_str(name);
                text.push('\n');
            }
            output::print_text(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Extract { pcap, out, config, quiet, truth, .. } => {
            let (pcap, out) = (pcap.expect("clap requires --pcap"), out.expect("clap requires --out"));
            extract::extract(pcap, out, config, truth, quiet)
        }
        Command::Simulate {
            scenario,
            seed,
            out,
            truth,
            hosts,
            duration,
            start,
            attacks,
            variants,
            volume_scale,
            host_vantage,
        } => {
            anyhow::ensure!(
                volume_scale.is_finite() && volume_scale > 0.0 && volume_scale <= 100.0,
                "--volume-scale {volume_scale}: expected a number above 0 and at most 100"
            );
            anyhow::ensure!(
                (0.0..=1.0).contains(&host_vantage),
                "--host-vantage {host_vantage}: expected a share from 0 to 1"
            );
            let mut cfg = simulate_config(scenario, seed, hosts, duration, start, attacks, &variants)?;
            cfg.volume = volume_scale;
            cfg.host_vantage = host_vantage;
            let file = std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let summary = crate::simulate::run::run(&cfg, file, &truth)?;
            eprintln!("simulate: {}", summary.line());
            eprintln!("simulate: wrote {} and {}", out.display(), truth.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { pcap, models, shadow_models, out, emit, config, allow_unsigned } => {
            replay::replay(replay::ReplayArgs { pcap, models, shadow_models, out, emit, config, allow_unsigned })
        }
        Command::Model { command: ModelCommand::Check { file, config, allow_unsigned } } => {
            model::check(&file, config.as_deref(), allow_unsigned)
        }
        Command::Model { command: ModelCommand::Keygen { out } } => model::keygen(&out),
        Command::Model { command: ModelCommand::Sign { key, no_check, files } } => model::sign(&key, &files, !no_check),
        Command::Config { command: ConfigCommand::Example } => {
            output::print_text(config::EXAMPLE)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            Config::load(&file)?;
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn simulate_config(
    scenario: String,
    seed: u64,
    hosts: Option<u32>,
    duration: Option<String>,
    start: Option<String>,
    attacks: Option<String>,
    variants: &str,
) -> anyhow::Result<ScenarioConfig> {
    let (default_hosts, default_duration) = match scenario.as_str() {
        "demo" => (20, "20m"),
        _ => (100, "1h"),
    };
    let duration = duration.as_deref().unwrap_or(default_duration);
    let duration_ns = parse_duration_ns(duration)
        .filter(|d| *d > 0)
        .with_context(|| format!("--duration {duration:?}: expected a span such as 90s, 20m, 8h, 2d"))?;
    let start_ns = match &start {
        Some(s) => parse_rfc3339_utc(s)
            .with_context(|| format!("--start {s:?}: expected RFC 3339 UTC, e.g. 2024-03-04T08:00:00Z"))?,
        None => 1_709_539_200_000_000_000,
    };
    let attacks = match attacks.as_deref() {
        None => default_attacks(&scenario),
        Some("none") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|item| {
                let (name, count) = item.split_once('=').unwrap_or((item, "1"));
                let count: u32 =
                    count.parse().with_context(|| format!("--attacks {item:?}: the count is not a number"))?;
                Ok((name.trim().to_string(), count))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let variants = match variants {
        "train" => VariantSet::Train,
        "eval" => VariantSet::Eval,
        other => anyhow::bail!("--variants {other:?}: expected train or eval"),
    };
    if !SCENARIOS.iter().any(|s| s.0 == scenario) {
        return Err(ScenarioError::UnknownScenario(scenario).into());
    }
    if let Some((name, _)) = attacks.iter().find(|(name, _)| !attack_names().contains(&name.as_str())) {
        return Err(ScenarioError::UnknownAttack(name.clone()).into());
    }
    let workstations = hosts.unwrap_or(default_hosts);
    anyhow::ensure!((1..=65_000).contains(&workstations), "--hosts {workstations}: expected 1 to 65000");
    Ok(ScenarioConfig {
        name: scenario,
        seed,
        workstations,
        start_ns,
        duration_ns,
        attacks,
        variants,
        volume: 1.0,
        host_vantage: 0.0,
    })
}
