//! `sensor extract`: one row of features per flow record, written with the serving code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::EXIT_DAMAGED_INPUT;
use super::output::PartialOutput;
use crate::capture::PcapFileReader;
use crate::config::Config;
use crate::export;
use crate::pipeline::run_reader;
use crate::simulate::truth::TruthIndex;

pub(super) fn extract(
    pcap: PathBuf,
    out: PathBuf,
    config: Option<PathBuf>,
    truth: Option<PathBuf>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let (cfg, cfg_name) = Config::load_or_default(config.as_deref())?;
    let flow = cfg.flow_table(&cfg_name)?;
    // The baseline file, when configured, is read (so the table matches what the sensor would
    // compute) but never written: extract does not teach the sensor.
    let (mut context, _) = cfg.open_context(&cfg_name)?;
    let schema = crate::features::schema::current();
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
        &mut context,
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
    eprintln!("extract: {}", summary.context.line());
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
