//! The inference stage's model side: the test models score like onnxruntime (golden files), every bad
//! model is refused with its reason, signatures are enforced (tampered, missing, untrusted, forged),
//! damaged model files are refused without a panic, and `sensor model check | keygen | sign` behave
//! as the command-line contract says.
//!
//! That tract itself (without the native tree kernel) matches onnxruntime on the classifier is tested
//! in `sensor/src/model/trees_tests.rs`, which can build a tract plan of the same graph beside the kernel.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use sensor::model::manifest::{FeatureError, ManifestError};
use sensor::model::signature::{PublicKey, SecretKey, SignatureError};
use sensor::model::{DEV_PUBLIC_KEY, LoadError, Model, ModelFileError, ModelKind, Provenance, TrustPolicy, load_file};

use common::{copy_model, sensor, shipped_models, test_models, write_file};

fn dev_key() -> PublicKey {
    PublicKey::parse(DEV_PUBLIC_KEY, "DEV_PUBLIC_KEY").unwrap()
}

fn trusting(keys: Vec<PublicKey>) -> TrustPolicy {
    TrustPolicy { trusted: keys, allow_unsigned: false }
}

fn classifier_path() -> PathBuf {
    test_models().join("flow-classifier-test.onnx")
}

fn anomaly_path() -> PathBuf {
    test_models().join("flow-anomaly-test.onnx")
}

fn bad(name: &str) -> PathBuf {
    test_models().join("bad").join(format!("{name}.onnx"))
}

const BAD: [&str; 5] = ["missing-feature", "wrong-schema-hash", "unsupported-op", "wrong-output-shape", "no-manifest"];

fn out_text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---------------------------------------------------------------------------------------------------
// Golden parity

struct Golden {
    model: String,
    output: String,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
}

fn read_golden(path: &Path) -> Golden {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<Vec<f32>> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no {key} array", path.display()))
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| if x.is_null() { f32::NAN } else { x.as_f64().unwrap() as f32 })
                    .collect()
            })
            .collect()
    };
    Golden {
        model: v["model"].as_str().unwrap().to_string(),
        output: v["output"].as_str().unwrap().to_string(),
        inputs: rows("inputs"),
        outputs: rows("outputs"),
    }
}

fn golden_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".golden.json")))
        .collect();
    files.sort();
    files
}

#[test]
fn test_models_score_like_onnxruntime_on_their_golden_rows() {
    models_score_like_onnxruntime(&test_models(), 64);
}

#[test]
fn shipped_models_score_like_onnxruntime_on_their_golden_rows() {
    // 64 drawn per label, and 4 from the right of the classifier's forced first split (below)
    models_score_like_onnxruntime(&shipped_models(), 68);
}

/// Every tree of the shipped classifier first splits on the admin-share feature
/// (`models/sensorml/train.py`, `FORCED_ROOT`): its golden rows walk both sides of that split.
#[test]
fn shipped_classifier_golden_rows_cover_its_forced_first_split() {
    let dir = shipped_models();
    let g = golden_files(&dir)
        .into_iter()
        .map(|f| read_golden(&f))
        .find(|g| g.model == "flow-classifier.onnx")
        .expect("a golden file for flow-classifier.onnx");
    let model = Model::from_bytes(&std::fs::read(dir.join(&g.model)).unwrap(), &g.model).unwrap();
    let j = model.manifest.features.iter().position(|f| f == "smb_admin_share_connects").unwrap();
    let right = g.inputs.iter().filter(|r| r[j] > 0.0).count();
    assert!(right > 0 && right < g.inputs.len(), "{right} of {} golden rows connect to an admin share", g.inputs.len());
}

/// Every model of `dir` (two: a classifier and an anomaly model) against its golden file of `rows` rows.
fn models_score_like_onnxruntime(dir: &Path, rows: usize) {
    let files = golden_files(dir);
    assert_eq!(files.len(), 2, "a golden file per model: {files:?}");
    for file in files {
        let g = read_golden(&file);
        let bytes = std::fs::read(dir.join(&g.model)).unwrap();
        let model = Model::from_bytes(&bytes, &g.model).unwrap_or_else(|e| panic!("{}: {e}", g.model));
        let m = &model.manifest;
        assert_eq!(m.output, g.output, "{}", g.model);
        assert_eq!(g.inputs.len(), rows, "{}", g.model);
        assert_eq!(g.inputs.len(), g.outputs.len());
        assert!(
            g.inputs.iter().all(|r| r.len() == m.features.len()),
            "{}: rows of {} features",
            g.model,
            m.features.len()
        );
        assert!(
            g.inputs.iter().all(|r| r.iter().any(|v| v.is_nan())),
            "{}: every golden row has missing features",
            g.model
        );
        assert!(g.outputs.iter().all(|r| r.len() == model.width_out()));

        let input: Vec<f32> = g.inputs.iter().flatten().copied().collect();
        let mut got = Vec::new();
        model.score_model_rows(input, &mut got).unwrap();
        let want: Vec<f32> = g.outputs.iter().flatten().copied().collect();
        assert_eq!(got.len(), want.len(), "{}", g.model);
        let mut worst = (0.0f32, 0);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(a.is_finite(), "{}: score {i} is {a}", g.model);
            // 1e-5, relative once a value passes 1: anomaly scores reach the hundreds, where one f32
            // step is already 3e-5 and two runtimes summing in another order differ by a step or two.
            let d = (a - b).abs() / b.abs().max(1.0);
            if d > worst.0 {
                worst = (d, i);
            }
        }
        assert!(
            worst.0 <= 1e-5,
            "{}: value {} (row {}) differs from onnxruntime by {} (relative above 1): {} vs {}",
            g.model,
            worst.1,
            worst.1 / model.width_out(),
            worst.0,
            got[worst.1],
            want[worst.1]
        );

        match m.kind {
            ModelKind::Classifier => {
                assert!(model.uses_tree_kernel(), "{}: the native tree kernel serves the classifier", g.model);
                for row in got.chunks(3) {
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "probabilities sum to 1: {row:?}");
                }
            }
            ModelKind::Anomaly => assert!(!model.uses_tree_kernel(), "{}: not a tree ensemble", g.model),
        }

        // The same rows laid out as flow records (schema order, other columns garbage) score the same:
        // the model's columns map its features onto the record.
        let width = sensor::features::schema::current().len();
        let records: Vec<Vec<f64>> = g
            .inputs
            .iter()
            .map(|r| {
                let mut rec = vec![-12345.0; width];
                for (j, &c) in model.columns().iter().enumerate() {
                    rec[c] = f64::from(r[j]);
                }
                rec
            })
            .collect();
        let refs: Vec<&[f64]> = records.iter().map(Vec::as_slice).collect();
        let mut by_record = Vec::new();
        model.score_into(&refs, &mut by_record).unwrap();
        assert_eq!(by_record, got, "{}: scoring records equals scoring model rows", g.model);
    }
}

#[test]
fn test_and_shipped_models_load_signed_by_the_development_key() {
    let shipped = ["flow-classifier.onnx", "flow-anomaly.onnx"].map(|f| shipped_models().join(f));
    for path in [classifier_path(), anomaly_path()].into_iter().chain(shipped) {
        let (model, provenance) = load_file(&path, &trusting(vec![dev_key()])).unwrap();
        assert_eq!(provenance, Provenance::Signed(DEV_PUBLIC_KEY.to_string()), "{}", path.display());
        assert_eq!(model.sha256.len(), 64);
    }
    let (anomaly, _) = load_file(&anomaly_path(), &trusting(vec![dev_key()])).unwrap();
    assert_eq!(anomaly.manifest.kind, ModelKind::Anomaly);
    assert_eq!(anomaly.manifest.labels, ["anomaly"]);
}

// ---------------------------------------------------------------------------------------------------
// Refusals

fn load_error(path: &Path) -> LoadError {
    match load_file(path, &trusting(vec![dev_key()])) {
        Err(ModelFileError::Load { source, path: p }) => {
            assert_eq!(p, path);
            source
        }
        Err(other) => panic!("{}: refused for another reason: {other}", path.display()),
        Ok(_) => panic!("{}: loaded, should be refused", path.display()),
    }
}

#[test]
fn each_bad_model_is_refused_with_its_reason() {
    match load_error(&bad("missing-feature")) {
        LoadError::Features(FeatureError::Missing { missing, schema }) => {
            assert_eq!(schema, "flow-v5");
            assert_eq!(missing, ["no_such_feature_a", "no_such_feature_b"]);
        }
        other => panic!("missing-feature: {other}"),
    }
    match load_error(&bad("wrong-schema-hash")) {
        LoadError::Features(FeatureError::SchemaHash { model, build, id }) => {
            assert_eq!(id, "flow-v1");
            assert_eq!(model, "0".repeat(64));
            assert_eq!(build, sensor::features::schema::flow_v1().hash);
        }
        other => panic!("wrong-schema-hash: {other}"),
    }
    match load_error(&bad("unsupported-op")) {
        LoadError::UnsupportedOps(ops) => {
            assert!(ops.iter().any(|o| o.starts_with("TreeEnsembleRegressor")), "{ops:?}");
        }
        other => panic!("unsupported-op: {other}"),
    }
    match load_error(&bad("wrong-output-shape")) {
        e @ LoadError::OutputShape { .. } => {
            let LoadError::OutputShape { name, expected, .. } = &e else { unreachable!() };
            assert_eq!(name, "probabilities");
            assert!(expected.contains("[N, 3]"), "{e}");
        }
        other => panic!("wrong-output-shape: {other}"),
    }
    match load_error(&bad("no-manifest")) {
        LoadError::Manifest(ManifestError::Absent) => {}
        other => panic!("no-manifest: {other}"),
    }
    // The error's text names the file and the reason.
    let text = load_file(&bad("missing-feature"), &trusting(vec![dev_key()])).unwrap_err().to_string();
    assert!(text.contains("missing-feature.onnx") && text.contains("no_such_feature_b"), "{text}");
}

fn sign_with(key: &SecretKey, model: &Path) {
    let bytes = std::fs::read(model).unwrap();
    std::fs::write(format!("{}.sig", model.display()), key.sign(&bytes)).unwrap();
}

#[test]
fn truncated_model_files_are_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(classifier_path()).unwrap();
    let key = SecretKey::generate().unwrap();
    let trust = trusting(vec![key.public()]);
    let n = good.len();
    let mut not_onnx = 0;
    for len in [0, 1, 2, 7, 64, 300, 1000, n / 3, n / 2, n - 1000, n - 100, n - 10, n - 1] {
        let path = dir.path().join(format!("t{len}.onnx"));
        std::fs::write(&path, &good[..len]).unwrap();
        sign_with(&key, &path);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_file(&path, &trust)));
        match result {
            Err(_) => panic!("loading the model truncated to {len} of {n} bytes panicked"),
            Ok(Ok(_)) => panic!("the model truncated to {len} of {n} bytes loaded"),
            Ok(Err(ModelFileError::Load { source, .. })) => {
                if matches!(source, LoadError::NotOnnx(_)) {
                    not_onnx += 1;
                }
            }
            Ok(Err(other)) => panic!("truncated to {len}: refused for something other than its bytes: {other}"),
        }
    }
    assert!(not_onnx >= 5, "most truncations are named as not ONNX ({not_onnx})");
    // The untruncated copy, signed the same way, loads: the refusals were about the bytes.
    let path = dir.path().join("whole.onnx");
    std::fs::write(&path, &good).unwrap();
    sign_with(&key, &path);
    let (_, provenance) = load_file(&path, &trust).unwrap();
    assert_eq!(provenance, Provenance::Signed(key.public().to_string()));
}

/// A copy of the classifier with one harmless byte changed (the producer name), so it still loads.
fn tampered_copy(dir: &Path) -> PathBuf {
    let path = copy_model(&classifier_path(), dir, "m.onnx", true);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(11).position(|w| w == b"OnnxMLTools").expect("the producer name is in the file");
    bytes[at] = b'o';
    std::fs::write(&path, bytes).unwrap();
    path
}

fn signature_error(path: &Path, trust: &TrustPolicy) -> SignatureError {
    match load_file(path, trust) {
        Err(ModelFileError::Signature { source, .. }) => source,
        Err(other) => panic!("{}: refused for another reason: {other}", path.display()),
        Ok(_) => panic!("{}: loaded", path.display()),
    }
}

#[test]
fn signatures_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let dev = trusting(vec![dev_key()]);
    let lenient = TrustPolicy { trusted: vec![dev_key()], allow_unsigned: true };

    // One byte changed, the old signature kept.
    let tampered = tampered_copy(dir.path());
    assert!(matches!(signature_error(&tampered, &dev), SignatureError::Tampered { .. }));
    let (model, provenance) = load_file(&tampered, &lenient).expect("--allow-unsigned loads the tampered model");
    match provenance {
        Provenance::Unsigned(why) => assert!(why.contains("changed after it was signed"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(model.manifest.name, "flow-classifier-test");

    // The signature file's hash line updated to the new bytes, the signature itself not: forged.
    let sig_path = PathBuf::from(format!("{}.sig", tampered.display()));
    let sig = std::fs::read_to_string(&sig_path).unwrap();
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(std::fs::read(&tampered).unwrap()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let old = sig.lines().find(|l| l.starts_with("sha256 ")).unwrap();
    std::fs::write(&sig_path, sig.replace(old, &format!("sha256 {digest}"))).unwrap();
    assert!(matches!(signature_error(&tampered, &dev), SignatureError::BadSignature { .. }));
    std::fs::write(&sig_path, "not a signature\n").unwrap();
    assert!(matches!(signature_error(&tampered, &dev), SignatureError::Malformed { .. }));

    // No signature file.
    let unsigned = copy_model(&classifier_path(), dir.path(), "unsigned.onnx", false);
    match signature_error(&unsigned, &dev) {
        SignatureError::Missing(p) => assert_eq!(p, dir.path().join("unsigned.onnx.sig")),
        other => panic!("{other}"),
    }
    let (_, provenance) = load_file(&unsigned, &lenient).unwrap();
    assert!(matches!(provenance, Provenance::Unsigned(ref why) if why.contains("no signature file")), "{provenance:?}");

    // Signed by a key nobody trusts; trusted once the key is added.
    let stranger = SecretKey::generate().unwrap();
    let other = copy_model(&classifier_path(), dir.path(), "other.onnx", false);
    sign_with(&stranger, &other);
    match signature_error(&other, &dev) {
        SignatureError::UntrustedKey { key } => assert_eq!(key, stranger.public().to_string()),
        e => panic!("{e}"),
    }
    let (_, provenance) = load_file(&other, &trusting(vec![dev_key(), stranger.public()])).unwrap();
    assert_eq!(provenance, Provenance::Signed(stranger.public().to_string()));
    // No trusted key at all: nothing verifies.
    assert!(matches!(signature_error(&classifier_path(), &trusting(vec![])), SignatureError::UntrustedKey { .. }));

    // --allow-unsigned never lets a model that does not load through.
    let bad_copy = copy_model(&bad("no-manifest"), dir.path(), "nm.onnx", false);
    assert!(matches!(load_file(&bad_copy, &lenient), Err(ModelFileError::Load { source: LoadError::Manifest(_), .. })));
}

// ---------------------------------------------------------------------------------------------------
// The command line

#[test]
fn model_check_prints_the_manifest_of_a_good_model() {
    let path = classifier_path();
    let o = sensor([std::ffi::OsStr::new("model"), "check".as_ref(), path.as_os_str()]);
    let text = out_text(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let (model, _) = load_file(&path, &trusting(vec![dev_key()])).unwrap();
    let m = &model.manifest;
    assert!(stdout.contains(": ok"), "{text}");
    assert!(stdout.contains(&format!("{} {}", m.name, m.version)), "{text}");
    assert!(stdout.contains("benign, exfiltration, lateral_movement"), "{text}");
    for (label, t) in &m.thresholds {
        assert!(stdout.contains(&format!("{label} ≥ {t}")), "threshold of {label}: {text}");
    }
    assert!(stdout.contains(&format!("valid, by trusted key {DEV_PUBLIC_KEY}")), "{text}");
    assert!(stdout.contains(&model.sha256), "{text}");
    assert!(stdout.contains("126 (all produced by this build)"), "{text}");
    assert!(stdout.contains("smoke"), "{text}");
}

#[test]
fn model_check_refuses_each_bad_model_with_its_reason() {
    let reasons: [(&str, &[&str]); 5] = [
        ("missing-feature", &["no_such_feature_a", "no_such_feature_b"]),
        ("wrong-schema-hash", &["schema hash mismatch"]),
        ("unsupported-op", &["TreeEnsembleRegressor"]),
        ("wrong-output-shape", &["probabilities", "[N, 3]"]),
        ("no-manifest", &["no sensor manifest"]),
    ];
    assert_eq!(reasons.len(), BAD.len());
    for (name, needles) in reasons {
        let path = bad(name);
        let o = sensor([std::ffi::OsStr::new("model"), "check".as_ref(), path.as_os_str()]);
        let text = out_text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {text}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("REFUSED"), "{name}: {text}");
        for n in needles {
            assert!(stdout.contains(n), "{name}: the reason names {n:?}: {text}");
        }
    }
}

#[test]
fn keygen_sign_and_check_with_a_trusted_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = d.join("k");
    let o = sensor(["model".as_ref(), "keygen".as_ref(), "--out".as_ref(), k.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    let public = std::fs::read_to_string(d.join("k.pub")).unwrap().trim().to_string();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), public, "keygen prints the public key");
    assert!(public.starts_with("ed25519:"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("k.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the secret key is private");
    }
    let o = sensor(["model".as_ref(), "keygen".as_ref(), "--out".as_ref(), k.as_os_str()]);
    assert_ne!(o.status.code(), Some(0), "keygen does not overwrite a key: {}", out_text(&o));

    let copy = copy_model(&classifier_path(), d, "copy.onnx", false);
    let key = d.join("k.key");
    let o = sensor(["model".as_ref(), "sign".as_ref(), "--key".as_ref(), key.as_os_str(), copy.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    let sig = std::fs::read_to_string(d.join("copy.onnx.sig")).unwrap();
    assert!(sig.contains(&format!("key {public}")), "{sig}");

    let cfg = write_file(d, "trust.toml", &format!("[models]\ntrusted_keys = [\"{public}\"]\n"));
    let check = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["model".as_ref(), "check".as_ref(), copy.as_os_str()];
        args.extend_from_slice(extra);
        sensor(args)
    };
    let o = check(&["--config".as_ref(), cfg.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("valid, by trusted key {public}")),
        "{}",
        out_text(&o)
    );

    // Without the config only the development key is trusted.
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("REFUSED") && stdout.contains("not among the trusted keys"), "{}", out_text(&o));
    assert!(stdout.contains(&public), "the refusal names the signer: {}", out_text(&o));

    // --allow-unsigned reports and still fails.
    let o = check(&["--allow-unsigned".as_ref()]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("NOT VERIFIED"), "{}", out_text(&o));

    // A bad model is not signed unless --no-check.
    for name in BAD {
        let copy = copy_model(&bad(name), d, &format!("{name}.onnx"), false);
        let sig = d.join(format!("{name}.onnx.sig"));
        let o = sensor(["model".as_ref(), "sign".as_ref(), "--key".as_ref(), key.as_os_str(), copy.as_os_str()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", out_text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--no-check"), "{name}: {}", out_text(&o));
        assert!(!sig.exists(), "{name}: no signature written");
        let o = sensor([
            "model".as_ref(),
            "sign".as_ref(),
            "--no-check".as_ref(),
            "--key".as_ref(),
            key.as_os_str(),
            copy.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", out_text(&o));
        assert!(sig.exists(), "{name}: --no-check signs");
        // Signed by a trusted key, still refused for what it is.
        let o = check_file(&copy, &cfg);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", out_text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("REFUSED"), "{name}: {}", out_text(&o));
    }
}

fn check_file(model: &Path, cfg: &Path) -> Output {
    sensor(["model".as_ref(), "check".as_ref(), model.as_os_str(), "--config".as_ref(), cfg.as_os_str()])
}
