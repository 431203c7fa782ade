//! `sensor demo`: the main job on embedded defaults. It simulates a small office for 20 minutes with
//! one instance of every attack (the simulator's evaluation variants), runs the capture through the
//! same pipeline and scoring stage as `replay` with the models built into the binary, and reports the
//! alerts with their explanations, which injected attacks were caught and which were missed, and how
//! many alerts fell on benign flows.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use crate::alert::{AlertEvent, ObserverInfo};
use crate::cli::replay::{describe, model_specs};
use crate::config::Config;
use crate::detect::{Detector, Emit};
use crate::export::RowLabel;
use crate::flow::RecordKind;
use crate::model::{TrustPolicy, load_set};
use crate::pipeline::run_file;
use crate::simulate::behaviour::VariantSet;
use crate::simulate::scenario::{ScenarioConfig, default_attacks};
use crate::simulate::site::Site;
use crate::simulate::truth::TruthIndex;
use crate::timefmt::rfc3339_nanos;

/// Alerts printed in full; the rest are counted.
const SHOWN_ALERTS: usize = 12;

/// What the demo learned about one injected attack.
#[derive(Default)]
struct AttackReport {
    technique: String,
    label: String,
    source: String,
    flows: u64,
    first_ns: u64,
    /// (alert time, label) of the first alert that covered one of its flows.
    caught: Option<(u64, String)>,
}

/// Simulates the demo site into `pcap` (and its truth beside it), scores it, returns the report.
pub fn run(pcap: &Path, seed: u64) -> anyhow::Result<String> {
    let cfg = ScenarioConfig {
        name: "demo".into(),
        seed,
        workstations: 20,
        // Monday 2024-03-04, 09:00 UTC: working hours.
        start_ns: 1_709_542_800_000_000_000,
        duration_ns: 20 * 60 * 1_000_000_000,
        attacks: default_attacks("demo"),
        variants: VariantSet::Eval,
        volume: 0.25,
        host_vantage: 0.0,
    };
    let truth_path = pcap.with_extension("truth.csv");
    let sim = crate::simulate::run::run(&cfg, std::fs::File::create(pcap)?, &truth_path)?;
    let truth = TruthIndex::load(&truth_path)?;
    let _ = std::fs::remove_file(&truth_path);

    // The simulated site's admin sources, its management server and authorised scanner, are declared as
    // a site declares its own: what they do (WinRM to workstations, a sweep of every workstation) is
    // lateral movement by every network feature. Their reach starts no hop chain, and their
    // lateral_movement hits are suppressed (counted).
    let mut config = Config::default();
    let admin_sources = vec![format!("{}/32", Site::MANAGEMENT), format!("{}/32", Site::SCANNER)];
    config.alert.suppress_sources.insert("lateral_movement".into(), admin_sources.clone());
    config.context.admin_sources = admin_sources.clone();
    let trust = TrustPolicy { trusted: config.trusted_keys("defaults")?, allow_unsigned: false };
    let set = load_set(&model_specs(&[], &[], &config), &trust)?;
    let models = describe(&set);
    let mut detector = Detector::new(set, config.policy("defaults")?, Emit::Alerts, ObserverInfo::this_host("pcap"));

    let unmatched = RowLabel::unmatched();
    // Truth and start time of every flow, by flow id.
    let mut flow_labels: HashMap<u64, (RowLabel, u64)> = HashMap::new();
    let mut attacks: BTreeMap<String, AttackReport> = BTreeMap::new();
    let mut benign_flows = 0u64;
    let mut alerts: Vec<AlertEvent> = Vec::new();
    let mut sink = |e: AlertEvent| alerts.push(e);
    let (mut context, _) = config.open_context("defaults")?;
    let summary = run_file(
        pcap,
        config.flow_table("defaults")?,
        config.decode.max_fragments,
        &mut context,
        &mut |r| {
            let label = truth.lookup(&r).unwrap_or(&unmatched);
            if r.kind == RecordKind::Final {
                if label.label == "benign" {
                    benign_flows += 1;
                } else if label.label != "unmatched" {
                    let a = attacks.entry(label.scenario.clone()).or_insert_with(|| AttackReport {
                        technique: label.technique.clone(),
                        label: label.label.clone(),
                        source: r.src_ip().to_string(),
                        first_ns: r.start_ns,
                        ..Default::default()
                    });
                    a.flows += 1;
                    a.first_ns = a.first_ns.min(r.start_ns);
                }
            }
            flow_labels.entry(r.flow_id).or_insert_with(|| (label.clone(), r.start_ns));
            detector.record(r, &mut sink);
        },
        None,
    )?;
    detector.finish(&mut sink);
    alerts.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    if let Some(e) = &summary.capture_error {
        anyhow::bail!("the simulated capture could not be read back: {e}");
    }

    // Which flows each alert covers, and what they really were.
    let mut false_alerts = 0u64;
    let mut verdicts: Vec<String> = Vec::with_capacity(alerts.len());
    for a in &alerts {
        let ts = crate::timefmt::parse_rfc3339_utc(&a.timestamp).unwrap_or(0);
        let ids = a.aggregation.as_ref().map(|g| g.flow_ids.clone()).unwrap_or_else(|| vec![a.flow.id.clone()]);
        let mut verdict = "benign flow (false alert)".to_string();
        let mut attack_hit = false;
        for id in ids {
            let Some((l, start_ns)) = u64::from_str_radix(&id, 16).ok().and_then(|id| flow_labels.get(&id)) else {
                continue;
            };
            if let Some(report) = attacks.get_mut(&l.scenario) {
                attack_hit = true;
                verdict = format!("attack {} ({})", l.scenario, l.technique);
                // An aggregated alert keeps its first time; a flow folded into it later was caught no
                // earlier than its own start.
                let at = ts.max(*start_ns);
                if report.caught.as_ref().is_none_or(|(t, _)| at < *t) {
                    report.caught = Some((at, a.ml.label.clone()));
                }
            }
        }
        if !attack_hit {
            false_alerts += 1;
        }
        verdicts.push(verdict);
    }

    let schema = crate::features::schema::current();
    let policy = detector.policy_stats();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sensor demo: a simulated office of {} workstations, 20 minutes, every attack once (evaluation variants)",
        cfg.workstations
    );
    let _ = writeln!(out, "simulation: {}", sim.line());
    let _ = writeln!(out, "pipeline:   {}", summary.line());
    let _ =
        writeln!(out, "features:   schema {} ({} features, sha256 {}…)", schema.id, schema.len(), &schema.hash[..16]);
    for m in &models {
        let _ = writeln!(out, "model:      {m}");
    }
    let per_label: Vec<String> = policy.alerts.iter().map(|(l, n)| format!("{l} {n}")).collect();
    let _ = writeln!(
        out,
        "scored:     {} records; {} alerts ({}), {} repeats folded into them",
        detector.stats.records,
        alerts.len(),
        if per_label.is_empty() { "none".into() } else { per_label.join(", ") },
        policy.aggregated
    );
    let _ = writeln!(
        out,
        "declared:   admin sources {} ([context] admin_sources: no hop chains; [alert.suppress_sources] \
         lateral_movement): {} hits suppressed",
        admin_sources.join(", "),
        policy.suppressed.get("lateral_movement").copied().unwrap_or(0)
    );

    let _ = writeln!(out, "\nalerts (first {} of {}):", SHOWN_ALERTS.min(alerts.len()), alerts.len());
    for (a, verdict) in alerts.iter().zip(&verdicts).take(SHOWN_ALERTS) {
        let _ = writeln!(
            out,
            "  {} {:<16} score {:.3} {}:{} → {}:{} {} ×{}  [{}]",
            &a.timestamp[11..19],
            a.ml.label,
            a.ml.score,
            a.source.ip,
            a.source.port,
            a.destination.ip,
            a.destination.port,
            a.network.transport,
            a.aggregation.as_ref().map_or(1, |g| g.count),
            verdict
        );
        let why: Vec<String> =
            a.ml.explanation
                .iter()
                .take(3)
                .map(|c| match c.value {
                    Some(v) => format!("{}={} ({:+.2})", c.feature, short(v), c.effect),
                    None => format!("{}=missing ({:+.2})", c.feature, c.effect),
                })
                .collect();
        let _ = writeln!(out, "      because {}", why.join(", "));
    }

    let caught = attacks.values().filter(|a| a.caught.is_some()).count();
    let _ = writeln!(out, "\ninjected attacks: {caught} of {} caught", attacks.len());
    for (name, a) in &attacks {
        let status = match &a.caught {
            Some((t, label)) => format!(
                "CAUGHT as {label} at {} ({:+.1} s after it began)",
                &rfc3339_nanos(*t)[11..19],
                (*t as f64 - a.first_ns as f64) / 1e9
            ),
            None => "MISSED".to_string(),
        };
        let _ = writeln!(
            out,
            "  {name:<22} {:<17} {:<16} from {:<12} {:>4} flows  {status}",
            a.label, a.technique, a.source, a.flows
        );
    }
    let per_10k = if benign_flows > 0 { false_alerts as f64 * 10_000.0 / benign_flows as f64 } else { 0.0 };
    let _ = writeln!(
        out,
        "\nfalse alerts: {false_alerts} on {benign_flows} benign flows ({per_10k:.1} per 10,000 benign flows)"
    );
    let _ = writeln!(
        out,
        "\nThe models are the shipped models of models/shipped (trained on simulated traffic by models/pipeline.py;\n\
         the anomaly model runs in shadow). Same path on a capture of your own: `sensor replay --pcap FILE`;\n\
         training data: `sensor simulate` then `sensor extract --truth`."
    );
    Ok(out)
}

fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.3}") }
}
