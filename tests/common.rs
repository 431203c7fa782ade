//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use sensor::flow::{FlowRecord, FlowTableConfig};
use sensor::pipeline::{DEFAULT_MAX_FRAGMENTS, RunSummary, run_file};

/// `../shared/data` beside the repository. Tests that need it fail loudly when it is missing.
pub fn shared_data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(dir.is_dir(), "{} is missing: the public captures must sit beside the repository", dir.display());
    dir.canonicalize().unwrap()
}

/// Every capture of the lateral-movement set.
pub fn lateral_movement_captures() -> Vec<PathBuf> {
    let dir = shared_data().join("otrf-lateral-movement");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("cap" | "pcap" | "pcapng")))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "expected the nine OTRF captures in {}", dir.display());
    files
}

/// Panics with a clear message when tshark is not installed (scripts/dev test installs it).
pub fn require_tshark() {
    let ok = Command::new("tshark").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "tshark is not installed: this test compares with Wireshark; run `scripts/dev test`, which installs it"
    );
}

/// Runs a capture through the pipeline with default settings.
pub fn records_of(path: &std::path::Path) -> (Vec<FlowRecord>, RunSummary) {
    records_with(path, FlowTableConfig::default())
}

pub fn records_with(path: &std::path::Path, cfg: FlowTableConfig) -> (Vec<FlowRecord>, RunSummary) {
    let mut records = Vec::new();
    let summary = run_file(path, cfg, DEFAULT_MAX_FRAGMENTS, &mut |r| records.push(r), None).unwrap();
    (records, summary)
}
