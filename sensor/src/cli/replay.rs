//! `sensor replay`: a capture through the whole detection path, alert events out as JSON lines.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use super::EXIT_DAMAGED_INPUT;
use super::output::PartialOutput;
use crate::alert::ObserverInfo;
use crate::capture::PcapFileReader;
use crate::config::Config;
use crate::detect::{Detector, Emit, ScoringThread};
use crate::model::reload::{Reloader, install_sighup_handler};
use crate::model::{EMBEDDED, ModelSet, ModelSource, ModelSpec, Provenance, TrustPolicy, load_set};
use crate::pipeline::run_reader;

/// Writes events as JSON lines, keeping the first error.
struct EventWriter {
    writer: Box<dyn Write + Send>,
    error: Option<std::io::Error>,
    events: u64,
}

impl EventWriter {
    fn write(&mut self, event: &crate::alert::AlertEvent) {
        if self.error.is_some() {
            return;
        }
        let line = serde_json::to_vec(event).expect("events serialise");
        match self.writer.write_all(&line).and_then(|()| self.writer.write_all(b"\n")) {
            Ok(()) => self.events += 1,
            Err(e) => self.error = Some(e),
        }
    }
}

pub(super) struct ReplayArgs {
    pub pcap: PathBuf,
    pub models: Vec<PathBuf>,
    pub shadow_models: Vec<PathBuf>,
    pub out: Option<PathBuf>,
    pub emit: Emit,
    pub config: Option<PathBuf>,
    pub allow_unsigned: bool,
}

/// The models a run serves: `--model`/`--shadow-model` if given, else the config's files, else the
/// embedded models.
pub(crate) fn model_specs(cli_models: &[PathBuf], cli_shadow: &[PathBuf], cfg: &Config) -> Vec<ModelSpec> {
    let (files, shadow): (&[PathBuf], &[PathBuf]) = if cli_models.is_empty() && cli_shadow.is_empty() {
        (&cfg.models.files, &cfg.models.shadow)
    } else {
        (cli_models, cli_shadow)
    };
    let file = |p: &PathBuf, shadow: bool| ModelSpec { source: ModelSource::File(p.clone()), shadow };
    let mut specs: Vec<ModelSpec> =
        files.iter().map(|p| file(p, false)).chain(shadow.iter().map(|p| file(p, true))).collect();
    if files.is_empty() {
        specs.extend(EMBEDDED.iter().map(|m| ModelSpec { source: ModelSource::Embedded(m.name), shadow: m.shadow }));
    }
    specs
}

pub(crate) fn describe(set: &ModelSet) -> Vec<String> {
    set.models
        .iter()
        .map(|s| {
            let m = &s.model.manifest;
            let origin = match &s.provenance {
                Provenance::Signed(key) => format!("signed by {key}"),
                Provenance::Unsigned(_) => "UNSIGNED (--allow-unsigned)".to_string(),
                Provenance::Embedded => "embedded".to_string(),
            };
            let role = if s.shadow { ", shadow" } else { "" };
            format!("{} {} ({}{role}, {}, from {})", m.name, m.version, m.kind.name(), origin, s.model.source)
        })
        .collect()
}

pub(super) fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    install_sighup_handler();
    let (cfg, cfg_name) = Config::load_or_default(args.config.as_deref())?;
    let flow = cfg.flow_table(&cfg_name)?;
    // The baseline file, when configured, is read but not written (`sensor baseline` primes it).
    let (mut context, _) = cfg.open_context(&cfg_name)?;
    let trust = TrustPolicy { trusted: cfg.trusted_keys(&cfg_name)?, allow_unsigned: args.allow_unsigned };
    let specs = model_specs(&args.models, &args.shadow_models, &cfg);
    let set = load_set(&specs, &trust)?;
    for line in describe(&set) {
        eprintln!("replay: model {line}");
    }
    let watch = specs.iter().any(|s| matches!(s.source, ModelSource::File(_)));
    let poll = Some(Duration::from_secs_f64(cfg.models.reload_poll_s)).filter(|p| !p.is_zero());
    let mut detector = Detector::new(set, cfg.policy(&cfg_name)?, args.emit, ObserverInfo::this_host("pcap"));
    if watch {
        detector = detector.with_reloader(Reloader::start(specs, trust, poll));
    }

    let reader = PcapFileReader::open(&args.pcap)?;
    let to_stdout = args.out.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let partial = if to_stdout { None } else { Some(PartialOutput::new(args.out.as_ref().expect("a path"))?) };
    let writer: Box<dyn Write + Send> = match &partial {
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(&p.path).with_context(|| format!("creating {}", p.path.display()))?,
        )),
    };
    // Events are written on the scoring thread; the first write error stops writing and is reported.
    let output = Arc::new(Mutex::new(EventWriter { writer, error: None, events: 0 }));
    let sink = {
        let output = output.clone();
        move |event: crate::alert::AlertEvent| output.lock().expect("event writer").write(&event)
    };
    let mut scoring = ScoringThread::start(detector, sink);
    let summary = run_reader(reader, flow, cfg.decode.max_fragments, &mut context, &mut |r| scoring.record(r), None)?;
    let detector = scoring.finish()?;
    let mut output = Arc::try_unwrap(output)
        .map_err(|_| anyhow::anyhow!("the event writer is still shared"))?
        .into_inner()
        .expect("event writer");
    if output.error.is_none()
        && let Err(e) = output.writer.flush()
    {
        output.error = Some(e);
    }
    let events = output.events;
    drop(output.writer);
    if let Some(e) = output.error {
        return Err(e).context("writing the events");
    }
    if let Some(p) = partial {
        p.commit()?;
    }

    eprintln!("replay: {}", summary.line());
    eprintln!("replay: {}", summary.context.line());
    let stats = &detector.stats;
    let policy = detector.policy_stats();
    let per_label = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        }
    };
    eprintln!(
        "replay: {} records scored; alerts: {}; repeats folded: {}; rate-limited: {}; to broadcast/multicast: {}; suppressed sources: {}; events written: {events}",
        stats.records,
        per_label(&policy.alerts),
        policy.aggregated,
        per_label(&policy.rate_limited),
        per_label(&policy.group_destinations),
        per_label(&policy.suppressed),
    );
    if !stats.shadow_hits.is_empty() {
        eprintln!("replay: shadow models would have alerted: {}", per_label(&stats.shadow_hits));
    }
    if !stats.score_failures.is_empty() || stats.explain_failures > 0 {
        eprintln!(
            "replay: WARNING records left unscored: {}; alerts without explanation: {}",
            per_label(&stats.score_failures),
            stats.explain_failures
        );
    }
    if let Some(r) = detector.reloader() {
        use std::sync::atomic::Ordering::Relaxed;
        eprintln!(
            "replay: model reloads: {} loaded, {} swapped in, {} refused",
            r.stats.reloads.load(Relaxed),
            stats.model_swaps,
            r.stats.failures.load(Relaxed)
        );
    }
    match summary.capture_error {
        Some(e) => {
            eprintln!("error: {e}");
            eprintln!("error: the events above cover the readable part of the capture only");
            Ok(ExitCode::from(EXIT_DAMAGED_INPUT))
        }
        None if !stats.score_failures.is_empty() => Ok(ExitCode::FAILURE),
        None => Ok(ExitCode::SUCCESS),
    }
}
