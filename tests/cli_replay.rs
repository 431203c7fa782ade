//! `sensor replay` end to end on small simulated captures: the alert event contract, `--emit all`
//! (every flow record scored exactly once per model, checked against `sensor extract`), shadow models,
//! threshold and aggregation settings, error exits, and hot reload of a model file under load (a clean
//! swap between two batches, no record lost or scored twice; a refused reload keeps the old model).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{copy_model, sensor, sensor_bin, shipped_models, simulate, test_models, write_file};
use sensor::model::Model;

// ---------------------------------------------------------------------------------------------------
// Fixtures and helpers

/// A 5-minute demo capture (eval variants, ~25 MB, under a second to make) and its truth.
struct Capture {
    dir: tempfile::TempDir,
    pcap: PathBuf,
    truth: PathBuf,
}

fn small_capture() -> Capture {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["--scenario", "demo", "--duration", "5m", "--volume-scale", "0.05", "--variants", "eval", "--seed", "3"];
    let pcap = simulate(dir.path(), "c", &args);
    let truth = dir.path().join("c.truth.csv");
    Capture { dir, pcap, truth }
}

fn classifier_path() -> PathBuf {
    test_models().join("flow-classifier-test.onnx")
}

fn anomaly_path() -> PathBuf {
    test_models().join("flow-anomaly-test.onnx")
}

/// The test models and the shipped (embedded) models, by manifest name.
fn models() -> HashMap<String, Model> {
    let shipped = shipped_models();
    [classifier_path(), anomaly_path(), shipped.join("flow-classifier.onnx"), shipped.join("flow-anomaly.onnx")]
        .iter()
        .map(|p| {
            let m = Model::from_bytes(&std::fs::read(p).unwrap(), &p.display().to_string()).unwrap();
            (m.manifest.name.clone(), m)
        })
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstderr:\n{}\nstdout (start):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout).chars().take(2000).collect::<String>()
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `sensor replay --pcap PCAP --out OUT ARGS…`; returns the output and the parsed events.
fn replay(pcap: &Path, out: &Path, args: &[&OsStr]) -> (Output, Vec<Value>) {
    let mut all: Vec<&OsStr> =
        vec!["replay".as_ref(), "--pcap".as_ref(), pcap.as_os_str(), "--out".as_ref(), out.as_os_str()];
    all.extend_from_slice(args);
    let o = sensor(all);
    let events = if out.exists() { parse_lines(&std::fs::read_to_string(out).unwrap()) } else { Vec::new() };
    (o, events)
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1)))
        .collect()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer}: {v}"))
}

fn num_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("no number at {pointer}: {v}"))
}

fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no unsigned integer at {pointer}: {v}"))
}

fn kind(v: &Value) -> &str {
    str_at(v, "/event/kind")
}

fn alerts(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| kind(e) == "alert").collect()
}

fn scored(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| kind(e) == "event").collect()
}

/// (flow id, record kind, seq) of an event: the id and kind from `flow`, the seq from `event.id`
/// (`<flow id>-<kind><seq>-<model sha256 prefix>-<label>[-event]`), checked against each other.
fn record_of(e: &Value) -> (String, String, u32) {
    let id = str_at(e, "/event/id");
    let flow = str_at(e, "/flow/id").to_string();
    let record = str_at(e, "/flow/record").to_string();
    let mut parts = id.split('-');
    assert_eq!(parts.next(), Some(flow.as_str()), "event id {id} starts with the flow id");
    let kind_seq = parts.next().unwrap();
    let seq = kind_seq.strip_prefix(record.as_str()).unwrap_or_else(|| panic!("{id}: record kind {record}"));
    (flow, record, seq.parse().unwrap_or_else(|_| panic!("{id}: seq")))
}

/// One row of `sensor extract`'s table, the identifiers only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    flow_id: String,
    kind: String,
    seq: u32,
    src: (String, u16),
    dst: (String, u16),
    community_id: String,
}

fn extract_rows(pcap: &Path, dir: &Path) -> Vec<Row> {
    let out = dir.join("f.csv");
    let o = sensor([
        OsStr::new("extract"),
        "--quiet".as_ref(),
        "--pcap".as_ref(),
        pcap.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "extract: {}", text(&o));
    let mut r = csv::Reader::from_path(&out).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    let (fid, kind, seq) = (col("flow_id"), col("record_kind"), col("seq"));
    let (sip, sport, dip, dport, cid) =
        (col("src_ip"), col("src_port"), col("dst_ip"), col("dst_port"), col("community_id"));
    let rows: Vec<Row> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            Row {
                flow_id: rec[fid].to_string(),
                kind: rec[kind].to_string(),
                seq: rec[seq].parse().unwrap(),
                src: (rec[sip].to_string(), rec[sport].parse().unwrap()),
                dst: (rec[dip].to_string(), rec[dport].parse().unwrap()),
                community_id: rec[cid].to_string(),
            }
        })
        .collect();
    std::fs::remove_file(&out).unwrap();
    rows
}

fn row_of_event(e: &Value) -> Row {
    let (flow_id, kind, seq) = record_of(e);
    Row {
        flow_id,
        kind,
        seq,
        src: (str_at(e, "/source/ip").to_string(), u64_at(e, "/source/port") as u16),
        dst: (str_at(e, "/destination/ip").to_string(), u64_at(e, "/destination/port") as u16),
        community_id: str_at(e, "/network/community_id").to_string(),
    }
}

/// `label=N` pairs after `prefix` up to the next `;` on the summary line (`none` → empty).
fn per_label(stderr: &str, prefix: &str) -> BTreeMap<String, u64> {
    let line = stderr.lines().find(|l| l.contains("records scored")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    let rest = &line[line.find(prefix).unwrap_or_else(|| panic!("no {prefix:?} in {line}")) + prefix.len()..];
    let part = rest.split(';').next().unwrap().trim();
    if part == "none" {
        return BTreeMap::new();
    }
    part.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv} in {line}"));
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn summary_number(stderr: &str, prefix: &str) -> u64 {
    let at = stderr.find(prefix).unwrap_or_else(|| panic!("no {prefix:?} in {stderr}")) + prefix.len();
    stderr[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// The number just before `suffix` in `text`.
fn number_before(text: &str, suffix: &str) -> u64 {
    let at = text.find(suffix).unwrap_or_else(|| panic!("no {suffix:?} in {text}"));
    let digits: String = text[..at].chars().rev().take_while(char::is_ascii_digit).collect();
    digits.chars().rev().collect::<String>().parse().unwrap_or_else(|_| panic!("no number before {suffix:?}: {text}"))
}

/// (loaded, swapped in, refused) from `replay: model reloads: …`.
fn reloads(stderr: &str) -> (u64, u64, u64) {
    let line =
        stderr.lines().find(|l| l.contains("model reloads:")).unwrap_or_else(|| panic!("no reload line: {stderr}"));
    let n: Vec<u64> =
        line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

// ---------------------------------------------------------------------------------------------------
// The alert contract

fn check_alert(e: &Value, models: &HashMap<String, Model>) {
    let ts = str_at(e, "/@timestamp");
    assert!(ts.starts_with("2024-03-04T") && ts.ends_with('Z'), "{ts}");
    assert_eq!(kind(e), "alert");
    assert_eq!(e.pointer("/event/category"), Some(&serde_json::json!(["network"])));
    assert_eq!(str_at(e, "/event/module"), "sensor");
    assert!(u64_at(e, "/event/severity") <= 100);

    let name = str_at(e, "/ml/model/name");
    let model = models.get(name).unwrap_or_else(|| panic!("unknown model {name}"));
    let m = &model.manifest;
    assert_eq!(str_at(e, "/ml/model/version"), m.version);
    assert_eq!(str_at(e, "/ml/model/sha256"), model.sha256);
    let label = str_at(e, "/ml/label");
    let threshold = m.threshold(label).unwrap_or_else(|| panic!("{name}: label {label} cannot alert"));
    let score = num_at(e, "/ml/score") as f32;
    assert!(score >= threshold, "{name} {label}: score {score} below the threshold {threshold}");
    assert!(e.pointer("/ml/scores").is_none() && e.pointer("/ml/shadow").is_none(), "{e}");

    let explanation = e.pointer("/ml/explanation").and_then(Value::as_array).expect("an explanation");
    assert!(!explanation.is_empty() && explanation.len() <= 5, "{e}");
    let effects: Vec<f64> = explanation
        .iter()
        .map(|c| {
            let f = str_at(c, "/feature");
            assert!(m.features.iter().any(|x| x == f), "{f} is not a feature of {name}");
            let v = c.get("value").expect("value (null when missing)");
            assert!(v.is_null() || v.is_number(), "{c}");
            let effect = num_at(c, "/effect");
            assert!(effect != 0.0 && effect.is_finite(), "{c}");
            effect
        })
        .collect();
    assert!(effects.windows(2).all(|w| w[0].abs() >= w[1].abs()), "sorted by |effect| descending: {effects:?}");

    for side in ["source", "destination"] {
        str_at(e, &format!("/{side}/ip")).parse::<IpAddr>().unwrap();
        assert!(u64_at(e, &format!("/{side}/port")) <= 65535);
        u64_at(e, &format!("/{side}/bytes"));
        u64_at(e, &format!("/{side}/packets"));
    }
    assert!(u64_at(e, "/source/packets") >= 1);
    let transport = str_at(e, "/network/transport");
    assert!(["tcp", "udp", "icmp", "ipv6-icmp"].contains(&transport) || transport.parse::<u8>().is_ok(), "{transport}");
    assert!(str_at(e, "/network/community_id").starts_with("1:"));
    assert!(["internal", "outbound", "inbound", "external"].contains(&str_at(e, "/network/direction")));

    let fid = str_at(e, "/flow/id");
    assert!(fid.len() == 16 && fid.chars().all(|c| c.is_ascii_hexdigit()), "{fid}");
    assert!(str_at(e, "/flow/start") <= str_at(e, "/flow/end"));
    let record = str_at(e, "/flow/record");
    assert!(["early", "checkpoint", "final"].contains(&record));
    assert_eq!(e.pointer("/flow/final").and_then(Value::as_bool), Some(record == "final"));
    assert_eq!(str_at(e, "/@timestamp"), str_at(e, "/flow/end"));
    record_of(e);

    str_at(e, "/observer/hostname");
    assert_eq!(str_at(e, "/observer/mode"), "pcap");
    str_at(e, "/observer/version");

    match label {
        "exfiltration" => assert_eq!(str_at(e, "/threat/tactic/id"), "TA0010"),
        "lateral_movement" => assert_eq!(str_at(e, "/threat/tactic/id"), "TA0008"),
        _ => assert!(e.get("threat").is_none(), "{label} has no tactic"),
    }
    let count = u64_at(e, "/aggregation/count");
    let ids = e.pointer("/aggregation/flow_ids").and_then(Value::as_array).unwrap();
    assert!(count >= 1 && !ids.is_empty() && ids.len() as u64 <= count && ids.len() <= 16, "{e}");
    assert!(ids.iter().any(|i| i.as_str() == Some(fid)), "the shown flow is among the aggregated ones");
    assert!(str_at(e, "/aggregation/first_seen") <= str_at(e, "/aggregation/last_seen"));
}

/// Truth rows' (source, destination) pairs (both ways) by label.
fn attack_pairs(truth: &Path) -> HashMap<String, HashSet<(String, String)>> {
    let mut r = csv::Reader::from_path(truth).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap_or_else(|| panic!("no truth column {name}"));
    let (src, dst, label) = (col("src_ip"), col("dst_ip"), col("label"));
    let mut pairs: HashMap<String, HashSet<(String, String)>> = HashMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[label] == "benign" {
            continue;
        }
        let set = pairs.entry(rec[label].to_string()).or_default();
        set.insert((rec[src].to_string(), rec[dst].to_string()));
        set.insert((rec[dst].to_string(), rec[src].to_string()));
    }
    pairs
}

#[test]
fn replay_writes_alerts_by_the_event_contract() {
    let c = small_capture();
    let out = c.dir.path().join("a.jsonl");
    let (o, events) = replay(&c.pcap, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = stderr(&o);
    let models = models();

    assert!(!events.is_empty(), "the capture has attacks: {err}");
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), events.len(), "by default only alerts are written");
    for e in &alerts {
        check_alert(e, &models);
    }
    let ids: HashSet<&str> = events.iter().map(|e| str_at(e, "/event/id")).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");

    // The summary: packets, records scored, alerts per label (matching the lines), packets/s.
    assert!(err.contains("replay: model flow-classifier ") && err.contains("embedded"), "{err}");
    assert!(number_before(&err, " packets, ") > 10_000, "packets: {err}");
    assert!(err.contains("packets/s"), "{err}");
    let records = number_before(&err, " records (");
    assert!(err.contains(&format!("replay: {records} records scored")), "{err}");
    let mut by_label: BTreeMap<String, u64> = BTreeMap::new();
    for e in &alerts {
        *by_label.entry(str_at(e, "/ml/label").to_string()).or_default() += 1;
    }
    assert_eq!(per_label(&err, "alerts: "), by_label, "{err}");
    assert!(by_label.contains_key("exfiltration") && by_label.contains_key("lateral_movement"), "{by_label:?}");

    // Against the ground truth: both attack labels alert on pairs that really carried that attack.
    let pairs = attack_pairs(&c.truth);
    for label in ["exfiltration", "lateral_movement"] {
        let hits = alerts
            .iter()
            .filter(|e| str_at(e, "/ml/label") == label)
            .filter(|e| {
                let p = (str_at(e, "/source/ip").to_string(), str_at(e, "/destination/ip").to_string());
                pairs.get(label).is_some_and(|s| s.contains(&p))
            })
            .count();
        assert!(hits >= 1, "no {label} alert is on a {label} pair of the truth");
    }

    // Same capture, same events (ids are derived, not random).
    let (o2, again) = replay(&c.pcap, &c.dir.path().join("b.jsonl"), &[]);
    assert!(o2.status.success());
    let ids2: Vec<&str> = again.iter().map(|e| str_at(e, "/event/id")).collect();
    assert_eq!(ids2, events.iter().map(|e| str_at(e, "/event/id")).collect::<Vec<_>>());
}

#[test]
fn emit_all_scores_every_flow_record_exactly_once() {
    let c = small_capture();
    let out = c.dir.path().join("all.jsonl");
    let model = classifier_path();
    let (o, events) =
        replay(&c.pcap, &out, &["--emit".as_ref(), "all".as_ref(), "--model".as_ref(), model.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = stderr(&o);
    let models = models();
    let classifier = &models["flow-classifier-test"];

    let scored = scored(&events);
    let mut got: Vec<Row> = scored.iter().map(|e| row_of_event(e)).collect();
    let mut want = extract_rows(&c.pcap, c.dir.path());
    assert!(want.len() > 500, "{} records", want.len());
    assert!(want.iter().any(|r| r.kind == "early") && want.iter().any(|r| r.kind == "checkpoint"));
    got.sort();
    want.sort();
    let mut dup = got.clone();
    dup.dedup();
    assert_eq!(dup.len(), got.len(), "a record was scored twice");
    assert_eq!(got.len(), want.len(), "events: {}, extract rows: {}", got.len(), want.len());
    assert!(got == want, "the scored records differ from the extracted ones");
    assert!(err.contains(&format!("{} records scored", want.len())), "{err}");

    for e in &scored {
        assert_eq!(str_at(e, "/ml/model/name"), "flow-classifier-test");
        assert!(e.get("threat").is_none() && e.get("aggregation").is_none(), "{e}");
        assert!(e.pointer("/ml/shadow").is_none());
        let scores = e.pointer("/ml/scores").and_then(Value::as_object).expect("ml.scores");
        let labels: Vec<&str> = scores.keys().map(String::as_str).collect();
        assert_eq!(labels, ["benign", "exfiltration", "lateral_movement"]);
        let sum: f64 = scores.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
        // The label shown is the best of the labels that can alert.
        let label = str_at(e, "/ml/label");
        assert!(classifier.manifest.threshold(label).is_some(), "{label}");
        let best =
            ["exfiltration", "lateral_movement"].iter().map(|l| scores[*l].as_f64().unwrap()).fold(f64::MIN, f64::max);
        assert_eq!(num_at(e, "/ml/score"), best);
        assert_eq!(scores[label].as_f64().unwrap(), best);
    }
    let alerts = alerts(&events);
    assert!(!alerts.is_empty());
    for a in &alerts {
        check_alert(a, &models);
    }
    assert_eq!(alerts.len() + scored.len(), events.len());
    let ids: HashSet<&str> = events.iter().map(|e| str_at(e, "/event/id")).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique across alerts and scored events");
}

#[test]
fn a_shadow_model_scores_but_never_alerts() {
    let c = small_capture();
    let (classifier, anomaly) = (classifier_path(), anomaly_path());
    let (o, events) = replay(
        &c.pcap,
        &c.dir.path().join("s.jsonl"),
        &["--shadow-model".as_ref(), anomaly.as_os_str(), "--model".as_ref(), classifier.as_os_str()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = stderr(&o);
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| str_at(e, "/ml/model/name") == "flow-classifier-test"), "a shadow alert");
    assert!(err.contains("flow-anomaly-test 0.1.0 (anomaly, shadow, signed by"), "{err}");
    // The anomaly model alerts on this capture when it serves, so in shadow it has hits to report.
    assert!(err.contains("shadow models would have alerted: flow-anomaly-test/anomaly="), "{err}");
    // And the serving model's alerts are those it gives alone.
    let (o, alone) = replay(&c.pcap, &c.dir.path().join("alone.jsonl"), &["--model".as_ref(), classifier.as_os_str()]);
    assert!(o.status.success());
    let ids = |v: &[Value]| v.iter().map(|e| str_at(e, "/event/id").to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&events), ids(&alone));

    // --emit all: the shadow model's events are marked.
    let (o, all) = replay(
        &c.pcap,
        &c.dir.path().join("sa.jsonl"),
        &[
            "--emit".as_ref(),
            "all".as_ref(),
            "--shadow-model".as_ref(),
            anomaly.as_os_str(),
            "--model".as_ref(),
            classifier.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let shadow: Vec<&Value> =
        scored(&all).into_iter().filter(|e| str_at(e, "/ml/model/name") == "flow-anomaly-test").collect();
    assert!(!shadow.is_empty());
    assert!(shadow.iter().all(|e| e.pointer("/ml/shadow") == Some(&Value::Bool(true))));
    assert_eq!(shadow.len(), scored(&all).len() / 2, "one event per record per model");
}

#[test]
fn threshold_overrides_and_aggregation_settings_apply() {
    let c = small_capture();
    let d = c.dir.path();
    let (o, defaults) = replay(&c.pcap, &d.join("d.jsonl"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let folded = summary_number(&stderr(&o), "repeats folded: ");
    let limited: u64 = per_label(&stderr(&o), "rate-limited: ").values().sum();
    assert!(folded > 0, "the default window folds repeats on this capture");

    let never = write_file(
        d,
        "never.toml",
        concat!(
            "[alert]\naggregation_window_s = 0\nrate_limit_per_minute = 0\n",
            "[alert.thresholds]\nexfiltration = 2.0\nlateral_movement = 2.0\nanomaly = 1e9\n",
        ),
    );
    let (o, none) = replay(&c.pcap, &d.join("n.jsonl"), &["--config".as_ref(), never.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(none.is_empty(), "thresholds above every score: no alert");
    assert!(per_label(&stderr(&o), "alerts: ").is_empty(), "{}", stderr(&o));

    let every = write_file(d, "every.toml", "[alert]\naggregation_window_s = 0\nrate_limit_per_minute = 0\n");
    let (o, each) = replay(&c.pcap, &d.join("e.jsonl"), &["--config".as_ref(), every.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(each.len() >= defaults.len());
    assert!(each.len() > defaults.len(), "without aggregation the repeats are separate alerts");
    assert!(each.iter().all(|e| u64_at(e, "/aggregation/count") == 1));
    assert_eq!(summary_number(&stderr(&o), "repeats folded: "), 0);
    assert!(per_label(&stderr(&o), "rate-limited: ").is_empty(), "{}", stderr(&o));
    // Every hit is one alert here; with the defaults each is folded into one or rate-limited.
    let counted: u64 = defaults.iter().map(|e| u64_at(e, "/aggregation/count")).sum();
    assert_eq!(counted + limited, each.len() as u64);
    assert_eq!(defaults.len() as u64 + folded + limited, each.len() as u64);

    // A threshold raised for one label only removes that label's alerts.
    let high = write_file(d, "high.toml", "[alert.thresholds]\nlateral_movement = 2.0\n");
    let (o, some) = replay(&c.pcap, &d.join("h.jsonl"), &["--config".as_ref(), high.as_os_str()]);
    assert!(o.status.success());
    assert!(some.iter().all(|e| str_at(e, "/ml/label") != "lateral_movement"));
    assert!(some.iter().any(|e| str_at(e, "/ml/label") == "exfiltration"));
}

#[test]
fn replay_errors_name_their_cause() {
    let c = small_capture();
    let d = c.dir.path();
    let missing = d.join("nope.pcap");
    let (o, _) = replay(&missing, &d.join("x.jsonl"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains(&missing.display().to_string()), "{}", text(&o));
    assert!(!d.join("x.jsonl").exists(), "no output for a failed run");

    let unsigned = copy_model(&classifier_path(), d, "m.onnx", false);
    let (o, _) = replay(&c.pcap, &d.join("u.jsonl"), &["--model".as_ref(), unsigned.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("signature") && err.contains("m.onnx.sig") && err.contains("--allow-unsigned"), "{err}");
    assert!(!d.join("u.jsonl").exists());

    let (o, events) =
        replay(&c.pcap, &d.join("u.jsonl"), &["--model".as_ref(), unsigned.as_os_str(), "--allow-unsigned".as_ref()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stderr(&o).contains("UNSIGNED"), "{}", text(&o));
    assert!(!events.is_empty());

    // A bad model (signed) is refused with its reason.
    let bad = test_models().join("bad/missing-feature.onnx");
    let (o, _) = replay(&c.pcap, &d.join("b.jsonl"), &["--model".as_ref(), bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("no_such_feature_a"), "{}", text(&o));

    // A capture cut in the middle of a record: exit 3, alerts for the readable part.
    let bytes = std::fs::read(&c.pcap).unwrap();
    let cut = d.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();
    let (full_o, full) = replay(&c.pcap, &d.join("full.jsonl"), &[]);
    assert!(full_o.status.success());
    let (o, part) = replay(&cut, &d.join("cut.jsonl"), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("cut.pcap") && err.contains("truncated"), "{err}");
    assert!(err.contains("readable part"), "{err}");
    assert!(!part.is_empty() && part.len() <= full.len(), "alerts of the readable part: {}", part.len());
    let models = models();
    for e in &part {
        check_alert(e, &models);
    }
}

// ---------------------------------------------------------------------------------------------------
// Hot reload under load

/// A 20-minute demo capture (~1,700 flow records, ~70 MB, two seconds to make).
fn long_capture(dir: &Path) -> PathBuf {
    simulate(dir, "long", &["--scenario", "demo", "--volume-scale", "0.05", "--seed", "3"])
}

/// Replaces `dst` (and its `.sig`) with `src`'s, atomically: temp files in the same directory renamed
/// over the targets, signature first.
fn replace_model(src: &Path, dst: &Path) {
    let dir = dst.parent().unwrap();
    let sig = |p: &Path| PathBuf::from(format!("{}.sig", p.display()));
    std::fs::copy(sig(src), dir.join("incoming.sig.tmp")).unwrap();
    std::fs::copy(src, dir.join("incoming.onnx.tmp")).unwrap();
    std::fs::rename(dir.join("incoming.sig.tmp"), sig(dst)).unwrap();
    std::fs::rename(dir.join("incoming.onnx.tmp"), dst).unwrap();
}

struct ReloadRun {
    status: std::process::ExitStatus,
    events: Vec<Value>,
    stderr: String,
    /// Lines read before the model file was replaced.
    read_before: usize,
}

/// Replays `pcap` with `--emit all` and model `dir/m.onnx` (polled every 0.1 s); after 200 lines it
/// stops reading (the replay blocks on the full pipe, mid-capture), replaces the model with
/// `replacement`, sends SIGHUP, waits until stderr reports the reload's outcome (`wait_for`), then
/// reads to the end.
fn replay_with_reload(pcap: &Path, dir: &Path, replacement: &Path, wait_for: &str) -> ReloadRun {
    let model = copy_model(&classifier_path(), dir, "m.onnx", true);
    let cfg = write_file(dir, "reload.toml", "[models]\nreload_poll_s = 0.1\n");
    let mut child = Command::new(sensor_bin())
        .args(["replay", "--emit", "all", "--pcap"])
        .arg(pcap)
        .arg("--model")
        .arg(&model)
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn,sensor=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let err_pipe = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        for line in BufReader::new(err_pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    while lines.len() < 200 {
        line.clear();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the replay ended after {} lines, before the reload", lines.len());
        lines.push(line.trim_end().to_string());
    }
    let read_before = lines.len();

    replace_model(replacement, &model);
    // SAFETY: signalling our own child process by its id.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(rc, 0, "kill -HUP");
    let mut stderr_lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains(wait_for);
                stderr_lines.push(l);
                if done {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no {wait_for:?} on stderr ({e:?}); stderr so far:\n{}", stderr_lines.join("\n"));
            }
        }
    }
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    let status = child.wait().unwrap();
    err_thread.join().unwrap();
    stderr_lines.extend(rx.try_iter());
    ReloadRun { status, events: parse_lines(&lines.join("\n")), stderr: stderr_lines.join("\n"), read_before }
}

#[test]
fn hot_reload_swaps_models_between_batches_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = long_capture(dir.path());
    let run = replay_with_reload(&pcap, dir.path(), &anomaly_path(), "models reloaded");
    assert!(run.status.success(), "{}\n{}", run.status, run.stderr);

    let scored = scored(&run.events);
    let names: Vec<&str> = scored.iter().map(|e| str_at(e, "/ml/model/name")).collect();
    let first_new = names.iter().position(|n| *n == "flow-anomaly-test").unwrap_or_else(|| {
        panic!(
            "the anomaly model never scored ({} events, {} read before the swap):\n{}",
            names.len(),
            run.read_before,
            run.stderr
        )
    });
    assert!(first_new > 0, "the classifier scored before the swap");
    assert!(names[..first_new].iter().all(|n| *n == "flow-classifier-test"));
    assert!(
        names[first_new..].iter().all(|n| *n == "flow-anomaly-test"),
        "a model scored after the other: not a clean swap"
    );
    assert_eq!(first_new % sensor::detect::BATCH, 0, "the swap is between two batches ({first_new} records before it)");
    eprintln!(
        "swapped after {first_new} of {} records ({} lines read before the replacement)",
        names.len(),
        run.read_before
    );

    // Every record scored exactly once, by one model or the other.
    let mut got: Vec<Row> = scored.iter().map(|e| row_of_event(e)).collect();
    got.sort();
    let mut want = extract_rows(&pcap, dir.path());
    want.sort();
    assert_eq!(got.len(), want.len(), "scored events vs extracted records");
    assert!(got == want, "the records scored across the swap differ from the extracted ones");

    for e in &scored[first_new..] {
        let scores = e.pointer("/ml/scores").and_then(Value::as_object).unwrap();
        assert_eq!(scores.keys().collect::<Vec<_>>(), ["anomaly"]);
        assert_eq!(str_at(e, "/ml/label"), "anomaly");
    }
    let models = models();
    for a in alerts(&run.events) {
        check_alert(a, &models);
    }

    let (loaded, swapped, refused) = reloads(&run.stderr);
    assert!(loaded >= 1 && swapped >= 1, "reloads: {loaded} loaded, {swapped} swapped\n{}", run.stderr);
    assert_eq!(refused, 0, "{}", run.stderr);
}

#[test]
fn a_refused_reload_keeps_the_old_model_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = long_capture(dir.path());
    let bad = test_models().join("bad/missing-feature.onnx");
    let run = replay_with_reload(&pcap, dir.path(), &bad, "model reload failed");
    assert!(run.status.success(), "{}\n{}", run.status, run.stderr);
    assert!(run.stderr.contains("no_such_feature_a"), "the refusal names its reason: {}", run.stderr);

    let scored = scored(&run.events);
    assert!(scored.iter().all(|e| str_at(e, "/ml/model/name") == "flow-classifier-test"));
    let mut got: Vec<Row> = scored.iter().map(|e| row_of_event(e)).collect();
    got.sort();
    let mut want = extract_rows(&pcap, dir.path());
    want.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "every record is scored once by the original model");

    let (loaded, swapped, refused) = reloads(&run.stderr);
    assert_eq!((loaded, swapped), (0, 0), "{}", run.stderr);
    assert!(refused >= 1, "{}", run.stderr);
}
