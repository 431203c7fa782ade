//! The training side end to end: `models/pipeline.py --scale quick` (simulate, extract, train, export,
//! sign, evaluate, report) and `models/adapt.py` (site adaptation), run against this build's sensor.
//! The models they write must pass `sensor model check` with the key that signed them and serve in
//! `sensor replay`. Needs the Python environment of `models/setup.sh` (the README's test command makes
//! it); without it the test fails and says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, sensor, sensor_bin, simulate, write_file};

fn python() -> PathBuf {
    let py = repo_root().join("models/.venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run models/setup.sh (scripts/dev test does) to create the training environment",
        py.display()
    );
    py
}

/// Runs the training environment's Python with `args` in `models/` (so `sensorml` imports); its
/// stdout and stderr. `what` names the run in a failure.
fn run_python(what: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = python_output(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

/// The training environment's Python run with `args` in `models/`, whatever its exit status.
fn python_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(python())
        .args(args)
        .current_dir(repo_root().join("models"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap()
}

fn run_py(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let path = repo_root().join("models").join(script);
    run_python(script, &[&[path.as_os_str()], args].concat())
}

/// Runs `code` (Python source).
fn run_py_code(code: &str) -> String {
    run_python("python -c", &["-c".as_ref(), code.as_ref()])
}

fn check_signed_model(path: &Path, config: Option<&Path>) -> String {
    let mut args = vec!["model".as_ref(), "check".as_ref(), path.as_os_str()];
    if let Some(c) = config {
        args.extend(["--config".as_ref(), c.as_os_str()]);
    }
    let out = sensor(args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sensor model check {}: {text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn quick_pipeline_trains_signs_evaluates_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (models, report, card) = (dir.path().join("models"), dir.path().join("report"), dir.path().join("CARD.md"));
    let log = run_py(
        "pipeline.py",
        &[
            "--sensor".as_ref(),
            sensor_bin().as_os_str(),
            "--scale".as_ref(),
            "quick".as_ref(),
            "--out".as_ref(),
            models.as_os_str(),
            "--report".as_ref(),
            report.as_os_str(),
            "--model-card".as_ref(),
            card.as_os_str(),
        ],
    );
    for name in ["flow-classifier", "flow-anomaly"] {
        let onnx = models.join(format!("{name}.onnx"));
        assert!(models.join(format!("{name}.onnx.sig")).is_file(), "{name} is signed");
        assert!(models.join(format!("{name}.golden.json")).is_file(), "{name} has goldens");
        let checked = check_signed_model(&onnx, None);
        assert!(checked.contains(&format!("name        {name}")) || checked.contains(name), "{checked}");
        assert!(checked.contains("signed") || checked.contains("ed25519:"), "{checked}");
    }
    let md = std::fs::read_to_string(report.join("REPORT.md")).unwrap();
    for needle in
        ["## Eval variants", "false alerts", "Per attack technique", "Confusion matrix", "## Feature importance"]
    {
        assert!(md.contains(needle), "REPORT.md lacks {needle:?}");
    }
    for png in ["pr_curves.png", "score_histograms.png", "confusion_matrix.png", "feature_importance.png"] {
        let bytes = std::fs::read(report.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5_000, "{png} is a real PNG");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("metrics.json")).unwrap()).unwrap();
    let labels = metrics["eval"]["per_label"].as_array().unwrap();
    for label in ["exfiltration", "lateral_movement"] {
        let row = labels.iter().find(|r| r["label"] == label).unwrap_or_else(|| panic!("no {label} row"));
        let recall = row["recall"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&recall), "{label} recall {recall}");
    }
    let card = std::fs::read_to_string(&card).unwrap();
    assert!(card.contains("## Known limits") && card.contains("## Metrics"), "{card}");
    if common::shared_data().join("otrf-lateral-movement").is_dir() {
        assert!(log.contains("OTRF captures (sensor replay"), "the real captures were evaluated:\n{log}");
        assert!(md.contains("movement flows"), "REPORT.md has the OTRF table");
    } else {
        eprintln!("WARNING: ../shared/data is absent: the pipeline's real-capture evaluation was not exercised");
    }
}

#[test]
fn site_adaptation_retrains_and_signs_with_the_site_key() {
    let dir = tempfile::tempdir().unwrap();
    let site = simulate(
        dir.path(),
        "site",
        &["--scenario", "benign", "--hosts", "25", "--duration", "90m", "--volume-scale", "0.02", "--seed", "5"],
    );
    let key = dir.path().join("site");
    let out = sensor(["model".as_ref(), "keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let models = dir.path().join("site-models");
    // The site declares its whole 10/8 a lateral_movement source to suppress: no held-out record may
    // then set that threshold, which stays the shipped one.
    let site_config =
        write_file(dir.path(), "adapt.toml", "[alert.suppress_sources]\nlateral_movement = [\"10.0.0.0/8\"]\n");
    let log = run_py(
        "adapt.py",
        &[
            "--sensor".as_ref(),
            sensor_bin().as_os_str(),
            "--pcap".as_ref(),
            site.as_os_str(),
            "--key".as_ref(),
            key.with_extension("key").as_os_str(),
            "--out".as_ref(),
            models.as_os_str(),
            "--epochs".as_ref(),
            "5".as_ref(),
            "--config".as_ref(),
            site_config.as_os_str(),
        ],
    );
    assert!(log.contains("threshold anomaly:"), "{log}");
    let suppressed = log
        .lines()
        .find_map(|l| l.strip_prefix("[adapt] [alert.suppress_sources] lateral_movement: "))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no suppression line:\n{log}"));
    assert!(suppressed > 0, "{log}");
    let lm_line = log.lines().find(|l| l.starts_with("[adapt] threshold lateral_movement:")).unwrap();
    assert!(lm_line.contains("held-out flows reach it") && lm_line.contains("(shipped "), "{lm_line}");
    let site_t: &str = lm_line.split_whitespace().nth(3).unwrap();
    let shipped_t = lm_line.split("(shipped ").nth(1).unwrap().split(';').next().unwrap();
    assert_eq!(site_t, shipped_t, "a fully suppressed label keeps the shipped threshold: {lm_line}");
    let config = write_file(dir.path(), "site.toml", &format!("[models]\ntrusted_keys = [{:?}]\n", public.trim()));
    for name in ["flow-anomaly-site", "flow-classifier-site"] {
        let checked = check_signed_model(&models.join(format!("{name}.onnx")), Some(&config));
        assert!(checked.contains(public.trim()), "{name} is signed by the site key: {checked}");
    }
    // The development key alone does not accept the site's models.
    let out = sensor(["model".as_ref(), "check".as_ref(), models.join("flow-anomaly-site.onnx").as_os_str()]);
    assert!(!out.status.success(), "a site model must not pass with only the development key trusted");
    assert!(std::fs::read_to_string(models.join("ADAPT_REPORT.md")).unwrap().contains("held out"));
}

#[test]
fn benign_behaviours_are_balanced_part_way_and_attacks_per_technique() {
    // 400 rows of one benign behaviour, 4 of another, 10 rows of each of two attacks.
    let out = run_py_code(
        r#"
import numpy as np
from sensorml import train
n = 424
X = np.zeros((n, 1)); y = np.array([0] * 404 + [2] * 20)
attack = np.array([""] * 404 + ["psexec"] * 10 + ["wmi_exec"] * 10, dtype=object)
behaviour = np.array(["web_browsing"] * 400 + ["admin_ssh"] * 4 + ["psexec"] * 10 + ["wmi_exec"] * 10, dtype=object)
X2, y2, w = train.training_rows(X, y, attack, behaviour, ["f"], attack_weight=2.0)
b = behaviour.tolist() * 2
web = w[[i for i, v in enumerate(b) if v == "web_browsing"]]
ssh = w[[i for i, v in enumerate(b) if v == "admin_ssh"]]
att = w[y2 > 0]
print(f"rows {len(y2)} benign_total {w[y2 == 0].sum():.6f} ratio {ssh[0] / web[0]:.6f} attack {att.min():.6f} {att.max():.6f}")
"#,
    );
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[..2], ["rows", "848"], "{out}");
    // Benign rows keep their total weight (808 rows, startup copies included)...
    assert_eq!(fields[3], "808.000000", "{out}");
    // ...and a behaviour with 100 times fewer rows weighs sqrt(100) = 10 times more per row.
    assert_eq!(fields[5], "10.000000", "{out}");
    // Two techniques of 20 rows each (with copies): each row weighs attack_weight * 20 / 20.
    assert_eq!(fields[7..9], ["2.000000", "2.000000"], "{out}");
}

/// `pipeline.py --sensor BIN args...`, which must refuse to run (exit 2): its stderr.
fn refused_pipeline(args: &[&std::ffi::OsStr]) -> String {
    let script = repo_root().join("models/pipeline.py");
    let bin = sensor_bin();
    let out = python_output(&[&[script.as_os_str(), "--sensor".as_ref(), bin.as_os_str()], args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn a_seed_offset_run_must_not_write_the_shipped_models() {
    let stderr = refused_pipeline(&["--seed-offset".as_ref(), "1".as_ref()]);
    assert!(stderr.contains("give --out, --report and --model-card"), "{stderr}");
    let tags = run_py_code(
        "from sensorml import data\nprint(' '.join(f'{s.tag}:{s.seed}' for s in data.plan('full', 2)['eval']))",
    );
    assert_eq!(tags.trim(), "eval-thu-seed2:2301 eval-fri-evening-seed2:2302 eval-sun-seed2:2303");
}

#[test]
fn tables_of_another_sensor_build_are_not_reused() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("train-mon.parquet"), b"a table of an older simulator").expect("write");
    std::fs::write(work.path().join("sensor.sha256"), "0".repeat(64)).expect("write");
    let stderr = refused_pipeline(&["--work".as_ref(), work.path().as_os_str()]);
    assert!(stderr.contains("made by another sensor binary"), "{stderr}");
    // The second training draw is captured partly at the hosts (and tagged so).
    let second = run_py_code(
        "from sensorml import data\nprint(' '.join(f'{s.tag}:{s.host_vantage}' for s in data.plan('full')['train'] if s.tag.startswith('train-mon')))",
    );
    assert_eq!(second.trim(), "train-mon:0.0 train-mon-b-hv:0.5");
}
