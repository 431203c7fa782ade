//! Simulator throughput: packets written per second on one core (release build), for a site with
//! every benign behaviour and attack, capture written to a sink (no disk), truth to a temp file.
//!
//! Run: `cargo bench -p sensor-benches --bench simulate` (env: `SIM_HOSTS`, `SIM_MINUTES`).

use std::time::Instant;

use sensor::simulate::behaviour::VariantSet;
use sensor::simulate::run::run;
use sensor::simulate::scenario::{ScenarioConfig, default_attacks};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let hosts = env_u64("SIM_HOSTS", 200) as u32;
    let minutes = env_u64("SIM_MINUTES", 30);
    let cfg = ScenarioConfig {
        name: "enterprise".into(),
        seed: 1,
        workstations: hosts,
        start_ns: 1_709_539_200_000_000_000,
        duration_ns: minutes * 60 * 1_000_000_000,
        attacks: default_attacks("enterprise"),
        variants: VariantSet::Train,
        volume: 1.0,
        host_vantage: 0.0,
    };
    let dir = std::env::temp_dir().join(format!("sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let summary = run(&cfg, std::io::sink(), &dir.join("truth.csv"))?;
    let secs = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;
    println!("enterprise scenario, {hosts} workstations, {minutes} simulated minutes:");
    println!("  {}", summary.line());
    println!(
        "  {:.2} M packets/s, {:.0} MB/s of capture written, one core",
        summary.packets as f64 / secs / 1e6,
        summary.bytes as f64 / secs / 1e6
    );
    Ok(())
}
