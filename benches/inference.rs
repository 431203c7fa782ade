//! Batched inference speed of the shipped models, one core: rows (flow records) scored per second.
//!
//! Rows are real feature vectors: the records of a simulated demo site (the traffic the models were
//! trained on), scored in batches of `detect::BATCH` as the scoring stage does, repeated until each
//! model has run for about two seconds. Rates are per CPU second of the scoring thread (one core), so
//! they hold on a busy host. Besides the rate over the whole two seconds, the median and the best of the
//! passes over all rows: on this project's VM the rate of a whole run moves by a third with what the
//! host runs beside it (run to run, while passes within a run agree), and the best pass shows what the
//! kernel does on an undisturbed core. Also the cost of one alert's explanation.
//!
//! Run: `cargo bench -p sensor-benches --bench inference`

use std::time::Instant;

use sensor::alert::explain::{TOP_FEATURES, explain};
use sensor::detect::BATCH;
use sensor::flow::FlowRecord;
use sensor::model::{EMBEDDED, EmbeddedModel, Model};
use sensor::pipeline::{DEFAULT_MAX_FRAGMENTS, run_file};
use sensor::simulate::behaviour::VariantSet;
use sensor::simulate::scenario::{ScenarioConfig, default_attacks};

fn records() -> anyhow::Result<Vec<FlowRecord>> {
    let dir = tempfile_dir();
    let pcap = dir.join("inference-bench.pcap");
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed: 5,
        workstations: 20,
        start_ns: 1_709_542_800_000_000_000,
        duration_ns: 20 * 60 * 1_000_000_000,
        attacks: default_attacks("demo"),
        variants: VariantSet::Eval,
        volume: 0.05,
        host_vantage: 0.0,
    };
    sensor::simulate::run::run(&cfg, std::fs::File::create(&pcap)?, &dir.join("inference-bench.truth.csv"))?;
    let mut records = Vec::new();
    let flow = sensor::config::Config::default().flow_table("defaults")?;
    let mut context = sensor::context::Context::new(sensor::config::Config::default().context("defaults")?);
    run_file(&pcap, flow, DEFAULT_MAX_FRAGMENTS, &mut context, &mut |r| records.push(r), None)?;
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(dir.join("inference-bench.truth.csv"));
    Ok(records)
}

/// CPU seconds this thread has run: rows per CPU second is "per core" even on a busy host.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn tempfile_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_TMPDIR").map(Into::into).unwrap_or_else(std::env::temp_dir)
}

fn main() -> anyhow::Result<()> {
    let records = records()?;
    println!("{} flow records from a simulated 20-minute office capture", records.len());
    let rows: Vec<&[f64]> = records.iter().map(|r| r.features.as_slice()).collect();
    for &EmbeddedModel { name, bytes, .. } in EMBEDDED {
        let model = Model::from_bytes(bytes, name)?;
        let engine = if model.uses_tree_kernel() { "native tree kernel" } else { "tract" };
        let mut out = Vec::new();
        let mut scored = 0u64;
        let mut passes = Vec::new();
        let started = Instant::now();
        let cpu = thread_cpu_seconds();
        while started.elapsed().as_secs_f64() < 2.0 {
            let pass = thread_cpu_seconds();
            for batch in rows.chunks(BATCH) {
                model.score_into(batch, &mut out)?;
                scored += batch.len() as u64;
            }
            passes.push(thread_cpu_seconds() - pass);
        }
        let secs = thread_cpu_seconds() - cpu;
        passes.sort_by(f64::total_cmp);
        let (best, median) = (passes[0], passes[passes.len() / 2]);
        let n = rows.len() as f64;
        println!(
            "{name:<22} ({engine:<18}) {:>10.0} rows/s in batches of {BATCH} ({:.2} µs/row); per pass over the rows: median {:.0}, best {:.0} rows/s ({} passes)",
            scored as f64 / secs,
            secs * 1e6 / scored as f64,
            n / median,
            n / best,
            passes.len()
        );
        let started = Instant::now();
        let cpu = thread_cpu_seconds();
        let mut explained = 0u64;
        while started.elapsed().as_secs_f64() < 1.0 {
            for r in records.iter().step_by(97) {
                explain(&model, &r.features, model.width_out() - 1, TOP_FEATURES)?;
                explained += 1;
            }
        }
        println!(
            "{name:<22} explanation of one alert: {:.1} µs",
            (thread_cpu_seconds() - cpu) * 1e6 / explained as f64
        );
    }
    Ok(())
}
