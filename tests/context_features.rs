//! The behavioural context stage end to end: `extract` and `replay` compute identical context
//! features for the same capture, `sensor baseline` primes the state that both then read, and a
//! damaged state file is set aside without stopping the sensor.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{sensor, simulate, write_file};

/// (flow id, record kind, seq) → the context features of that record (None = missing).
type Rows = HashMap<(String, String, u32), Vec<Option<f64>>>;

fn context_names() -> Vec<&'static str> {
    sensor::context::names()
}

fn read_csv(path: &Path) -> Rows {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (id, kind, seq) = (col("flow_id"), col("record_kind"), col("seq"));
    let ctx: Vec<usize> = context_names().iter().map(|n| col(n)).collect();
    let mut rows = Rows::new();
    for row in reader.records() {
        let row = row.unwrap();
        let values = ctx
            .iter()
            .map(|&i| {
                let v: f64 = row[i].parse().unwrap_or_else(|_| panic!("not a number: {:?}", &row[i]));
                v.is_finite().then_some(v)
            })
            .collect();
        rows.insert((row[id].to_string(), row[kind].to_string(), row[seq].parse().unwrap()), values);
    }
    rows
}

/// The context features of `--emit all` events, one per record (events of several models for the
/// same record must agree).
fn read_events(path: &Path) -> Rows {
    let names = context_names();
    let mut rows = Rows::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["event"]["kind"] != "event" {
            continue;
        }
        // event.id = <flow id>-<kind><seq>-<model>-<label>-event
        let id = e["event"]["id"].as_str().unwrap();
        let mut parts = id.split('-');
        let flow = parts.next().unwrap().to_string();
        let kind_seq = parts.next().unwrap();
        let split = kind_seq.find(|c: char| c.is_ascii_digit()).unwrap();
        let key = (flow, kind_seq[..split].to_string(), kind_seq[split..].parse().unwrap());
        let features = &e["context"]["features"];
        assert!(features.is_object(), "event without context features: {line}");
        let values: Vec<Option<f64>> = names.iter().map(|n| features[*n].as_f64()).collect();
        if let Some(earlier) = rows.insert(key.clone(), values.clone()) {
            assert_eq!(earlier, values, "{key:?}: two events of one record disagree");
        }
    }
    rows
}

/// `sensor extract --quiet` of `pcap` into `table` with `config`.
fn extract(pcap: &Path, table: &Path, config: &Path) -> std::process::Output {
    sensor([
        "extract".as_ref(),
        "--pcap".as_ref(),
        pcap.as_os_str(),
        "--out".as_ref(),
        table.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--quiet".as_ref(),
    ])
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => false,
    }
}

#[test]
fn extract_and_replay_compute_identical_context_features() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(
        dir.path(),
        "office",
        &["--scenario", "demo", "--duration", "30m", "--volume-scale", "0.05", "--seed", "3"],
    );
    // A learning period shorter than the capture, so novelty features switch on half way.
    let config = write_file(dir.path(), "sensor.toml", "[context]\nlearning_period_s = 600\n");
    let table = dir.path().join("flows.csv");
    let events = dir.path().join("events.jsonl");
    let out = extract(&pcap, &table, &config);
    assert!(out.status.success(), "extract: {}", String::from_utf8_lossy(&out.stderr));
    let out = sensor([
        "replay".as_ref(),
        "--pcap".as_ref(),
        pcap.as_os_str(),
        "--out".as_ref(),
        events.as_os_str(),
        "--emit".as_ref(),
        "all".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(out.status.success(), "replay: {}", String::from_utf8_lossy(&out.stderr));

    let extracted = read_csv(&table);
    let replayed = read_events(&events);
    assert_eq!(extracted.len(), replayed.len(), "one scored record per table row");
    assert!(extracted.len() > 1000, "only {} records", extracted.len());
    let names = context_names();
    let mut present = vec![0usize; names.len()];
    for (key, row) in &extracted {
        let other = replayed.get(key).unwrap_or_else(|| panic!("{key:?} is in the table, not in the events"));
        for (i, (a, b)) in row.iter().zip(other).enumerate() {
            assert!(same(*a, *b), "{key:?} {}: extract {a:?}, replay {b:?}", names[i]);
            present[i] += usize::from(a.is_some());
        }
    }
    // The comparison means something: the families are populated on this capture.
    for name in [
        "ctx_pair_new",
        "ctx_src_admin_fanout_5m",
        "ctx_host_out_bytes_10m",
        "ctx_chain_hops",
        "ctx_dns_domain_queries_1h",
        "ctx_hour_of_day",
    ] {
        let i = names.iter().position(|n| *n == name).unwrap();
        assert!(present[i] > 0, "{name} is never present");
    }
    let i = names.iter().position(|n| *n == "ctx_pair_new").unwrap();
    assert!(present[i] < extracted.len(), "novelty must be missing during the learning period");
}

#[test]
fn baseline_primes_the_state_that_extract_reads() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(
        dir.path(),
        "office",
        &["--scenario", "benign", "--duration", "15m", "--hosts", "8", "--volume-scale", "0.05"],
    );
    let state = dir.path().join("baseline.bin");
    let out = sensor(["baseline".as_ref(), "--pcap".as_ref(), pcap.as_os_str(), "--state".as_ref(), state.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "baseline: {stderr}");
    assert!(state.is_file());
    assert!(stderr.contains("baseline: wrote"), "{stderr}");

    // With the primed state and a learning period the capture covers, novelty is known from the
    // first record, and replaying the same traffic finds (almost) nothing new.
    let config = write_file(
        dir.path(),
        "sensor.toml",
        &format!("[context]\nlearning_period_s = 600\nstate_file = {:?}\n", state.display().to_string()),
    );
    let table = dir.path().join("flows.csv");
    let primed = std::fs::read(&state).unwrap();
    let out = extract(&pcap, &table, &config);
    assert!(out.status.success(), "extract: {}", String::from_utf8_lossy(&out.stderr));
    let rows = read_csv(&table);
    let i = context_names().iter().position(|n| *n == "ctx_pair_new").unwrap();
    let known: Vec<f64> = rows.values().filter_map(|r| r[i]).collect();
    let missing = rows.values().filter(|r| r[i].is_none()).count();
    assert_eq!(missing, 0, "a primed baseline gives novelty from the start");
    let new = known.iter().filter(|v| **v == 1.0).count();
    assert!(new * 100 <= known.len(), "{new} of {} records new after priming on the same traffic", known.len());
    assert_eq!(primed, std::fs::read(&state).unwrap(), "extract reads the state file, never writes it");
}

#[test]
fn a_damaged_state_file_is_set_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(
        dir.path(),
        "office",
        &["--scenario", "benign", "--duration", "5m", "--hosts", "4", "--volume-scale", "0.05"],
    );
    let state = write_file(dir.path(), "baseline.bin", "SENSORCTX\nthis is not a baseline");
    let config =
        write_file(dir.path(), "sensor.toml", &format!("[context]\nstate_file = {:?}\n", state.display().to_string()));
    let table = dir.path().join("flows.csv");
    let out = extract(&pcap, &table, &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "extract: {stderr}");
    assert!(stderr.contains("baseline unusable") && stderr.contains("corrupt-"), "{stderr}");
    assert!(!state.exists(), "the damaged file was moved aside");
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("baseline.bin.corrupt-"));
    assert!(aside);
}

#[test]
fn baseline_without_a_state_file_says_what_to_do() {
    let out = sensor(["baseline", "--pcap", "/nonexistent.pcap"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--state"), "{stderr}");
}
