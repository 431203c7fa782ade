//! The command line (a contract: names and meanings stay; see the design's command-line section).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::capture::PcapFileReader;
use crate::config::{self, Config};
use crate::export;
use crate::features::schema::flow_v1;
use crate::pipeline::run_reader;
use crate::simulate::behaviour::{VariantSet, attack_names};
use crate::simulate::scenario::{SCENARIOS, ScenarioConfig, ScenarioError, default_attacks};
use crate::simulate::truth::TruthIndex;
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
    /// Run the main job on embedded defaults: simulate a small office with attacks, process the
    /// capture, report what the flow layer saw per label and per attack.
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
    /// final record or a checkpoint of a long flow (same flow_id). A summary line goes to stderr.
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
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print an example configuration with every field documented and at its default.
    Example,
    /// Validate a configuration file.
    Check { file: PathBuf },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { seed, keep_pcap } => {
            let tmp;
            let path = match keep_pcap {
                Some(p) => p,
                None => {
                    tmp = TempFile::new("sensor-demo", "pcap");
                    tmp.0.clone()
                }
            };
            print!("{}", crate::demo::run(&path, seed)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Extract { schema: true, .. } => {
            let s = flow_v1();
            println!("# schema {} sha256:{} ({} features)", s.id, s.hash, s.len());
            for name in &s.names {
                println!("{name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Extract { pcap, out, config, quiet, truth, .. } => {
            let (pcap, out) = (pcap.expect("clap requires --pcap"), out.expect("clap requires --out"));
            extract(pcap, out, config, truth, quiet)
        }
        Command::Simulate { scenario, seed, out, truth, hosts, duration, start, attacks, variants, volume_scale } => {
            anyhow::ensure!(
                volume_scale.is_finite() && volume_scale > 0.0 && volume_scale <= 100.0,
                "--volume-scale {volume_scale}: expected a number above 0 and at most 100"
            );
            let mut cfg = simulate_config(scenario, seed, hosts, duration, start, attacks, &variants)?;
            cfg.volume = volume_scale;
            let file = std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let summary = crate::simulate::run::run(&cfg, file, &truth)?;
            eprintln!("simulate: {}", summary.line());
            eprintln!("simulate: wrote {} and {}", out.display(), truth.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", config::EXAMPLE);
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
    Ok(ScenarioConfig { name: scenario, seed, workstations, start_ns, duration_ns, attacks, variants, volume: 1.0 })
}

fn extract(
    pcap: PathBuf,
    out: PathBuf,
    config: Option<PathBuf>,
    truth: Option<PathBuf>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let (cfg, cfg_name) = match &config {
        Some(path) => (Config::load(path)?, path.display().to_string()),
        None => (Config::default(), "defaults".to_string()),
    };
    let flow = cfg.flow_table(&cfg_name)?;
    let schema = flow_v1();
    // The capture is opened (its header checked) before anything is written, and the table goes to a
    // temporary file beside the output that replaces it only once complete: a failed run never
    // leaves a half-written table or destroys an existing one.
    let format = export::Format::from_path(&out)?;
    let truth = truth.map(|t| TruthIndex::load(&t)).transpose()?;
    let reader = PcapFileReader::open(&pcap)?;
    let partial = PartialOutput::new(&out)?;
    let mut writer = export::create(format, &partial.path, &schema.names, truth.is_some())?;
    let unmatched_label = export::RowLabel::unmatched();
    let mut unmatched = 0u64;
    let total = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}").expect("static template"),
        );
        bar
    });
    let mut progress = |bytes: u64, packets: u64| {
        if let Some(b) = &bar {
            b.set_position(bytes);
            b.set_message(format!("{packets} packets"));
        }
    };
    let mut write_error = None;
    let summary = run_reader(
        reader,
        flow,
        cfg.decode.max_fragments,
        &mut |r| {
            let label = truth.as_ref().map(|t| {
                t.lookup(&r).unwrap_or_else(|| {
                    unmatched += 1;
                    &unmatched_label
                })
            });
            if write_error.is_none()
                && let Err(e) = writer.write(&r, label)
            {
                write_error = Some(e);
            }
        },
        Some(&mut progress),
    )?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = write_error {
        return Err(e).context("writing the flow table");
    }
    writer.finish().context("finishing the flow table")?;
    partial.commit()?;
    eprintln!("extract: {}", summary.line());
    if truth.is_some() {
        eprintln!("extract: {unmatched} records matched no truth row (label \"unmatched\")");
    }
    eprintln!("extract: wrote {}", out.display());
    match summary.capture_error {
        Some(e) => {
            eprintln!("error: {e}");
            eprintln!("error: the records above cover the readable part of the capture only");
            Ok(ExitCode::from(EXIT_DAMAGED_INPUT))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// An output written under a temporary name beside its final path; removed unless committed.
struct PartialOutput {
    path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PartialOutput {
    fn new(target: &std::path::Path) -> anyhow::Result<PartialOutput> {
        let name = target.file_name().with_context(|| format!("{}: not a file name", target.display()))?;
        let mut partial = std::ffi::OsString::from(".");
        partial.push(name);
        partial.push(format!(".partial-{}", std::process::id()));
        Ok(PartialOutput { path: target.with_file_name(partial), target: target.to_path_buf(), committed: false })
    }

    fn commit(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.path, &self.target)
            .with_context(|| format!("moving {} to {}", self.path.display(), self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temporary file path removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(prefix: &str, ext: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("{prefix}-{}.{ext}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
