//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

/// Runs a capture through the pipeline with the settings the command line uses without a config file
/// (which include early records).
pub fn cli_records_of(path: &std::path::Path) -> (Vec<FlowRecord>, RunSummary) {
    records_with(path, sensor::config::Config::default().flow_table("defaults").unwrap())
}

pub fn records_with(path: &std::path::Path, cfg: FlowTableConfig) -> (Vec<FlowRecord>, RunSummary) {
    let mut records = Vec::new();
    let (mut context, _) = sensor::config::Config::default().open_context("defaults").unwrap();
    let summary = run_file(path, cfg, DEFAULT_MAX_FRAGMENTS, &mut context, &mut |r| records.push(r), None).unwrap();
    (records, summary)
}

/// The `sensor` binary of this build: `<target>/<profile>/sensor`, beside this test's `deps/`
/// directory, built (or found fresh) by `cargo build -p sensor --bin sensor` on first use.
///
/// Cargo builds a package's binaries only for that package's own integration tests, so neither
/// `cargo test -p sensor-e2e` nor `cargo test --workspace` builds it, and a binary left from an
/// earlier build may be stale. Cargo does not hold the build lock while tests run, so the nested
/// build shares the target directory; when the binary is fresh it costs a fraction of a second.
pub fn sensor_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).expect("tests run from <target>/<profile>/deps");
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(OsStr::to_str) {
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile directory above {}", exe.display()),
        };
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "sensor", "--bin", "sensor", "--profile", profile, "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", target_dir)
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", env!("CARGO")));
        assert!(
            out.status.success(),
            "building the sensor binary failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join(format!("sensor{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "cargo built the sensor binary, yet {} is missing", bin.display());
        bin
    })
}

/// Runs `sensor` with `args`; never hangs on stdin.
pub fn sensor<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(sensor_bin()).args(args).stdin(std::process::Stdio::null()).output().unwrap()
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// `models/test` of the repository: the test models, their signatures and golden files.
pub fn test_models() -> PathBuf {
    repo_root().join("models/test")
}

/// The models the sensor ships (built by `models/pipeline.py`, embedded in the binary).
pub fn shipped_models() -> PathBuf {
    repo_root().join("models/shipped")
}

/// Copies `model` and, when `with_sig`, its `.sig` into `dir` under `name` (and `name.sig`).
pub fn copy_model(model: &Path, dir: &Path, name: &str, with_sig: bool) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(model, &to).unwrap_or_else(|e| panic!("copying {}: {e}", model.display()));
    if with_sig {
        let sig = PathBuf::from(format!("{}.sig", model.display()));
        std::fs::copy(&sig, format!("{}.sig", to.display()))
            .unwrap_or_else(|e| panic!("copying {}: {e}", sig.display()));
    }
    to
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `sensor simulate` into `dir` (`name.pcap`, `name.truth.csv`) and returns the capture's path.
pub fn simulate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let pcap = dir.join(format!("{name}.pcap"));
    let truth = dir.join(format!("{name}.truth.csv"));
    let mut all: Vec<&OsStr> = vec![OsStr::new("simulate")];
    all.extend(args.iter().map(OsStr::new));
    all.extend([OsStr::new("--out"), pcap.as_os_str(), OsStr::new("--truth"), truth.as_os_str()]);
    let out = sensor(all);
    assert!(out.status.success(), "sensor simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    pcap
}
