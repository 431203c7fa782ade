//! `sensor baseline`: prime the context stage's learned baseline from captures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::EXIT_DAMAGED_INPUT;
use crate::config::Config;
use crate::context::state_file;
use crate::pipeline::run_file;

pub fn run(pcaps: &[PathBuf], state: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let (mut cfg, cfg_name) = Config::load_or_default(config.as_deref())?;
    if !cfg.context.enabled {
        anyhow::bail!("{cfg_name}: [context] enabled = false: there is no baseline to prime");
    }
    if let Some(path) = state {
        cfg.context.state_file = path;
    }
    if cfg.context.state_file.as_os_str().is_empty() {
        anyhow::bail!("no baseline file: give --state FILE or set [context] state_file in the config");
    }
    let flow = cfg.flow_table(&cfg_name)?;
    let (mut context, path) = cfg.open_context(&cfg_name)?;
    let path = path.expect("state file set above");
    let learning_s = context.config().learning_period_ns as f64 / 1e9;
    let mut damaged = false;
    for pcap in pcaps {
        let summary = run_file(pcap, flow.clone(), cfg.decode.max_fragments, &mut context, &mut |_| {}, None)
            .with_context(|| format!("reading {}", pcap.display()))?;
        eprintln!("baseline: {}: {}", pcap.display(), summary.line());
        if let Some(e) = summary.capture_error {
            eprintln!("error: {}: {e} (the readable part was learned)", pcap.display());
            damaged = true;
        }
    }
    let stats = context.stats();
    eprintln!("baseline: {}", stats.line());
    state_file::save(context.baseline(), &path)?;
    eprintln!(
        "baseline: wrote {} ({} of {learning_s:.0} s learning period covered{})",
        path.display(),
        format_args!("{:.0} s", stats.covered_s),
        if stats.learned { "; novelty features are on" } else { "; the sensor keeps learning when it runs" },
    );
    Ok(if damaged { ExitCode::from(EXIT_DAMAGED_INPUT) } else { ExitCode::SUCCESS })
}
