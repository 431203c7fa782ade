//! `sensor model keygen | sign | check`: the training team's side of the model contract.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::model::signature::{SecretKey, signature_path};
use crate::model::{Model, ModelKind, Provenance, TrustPolicy, load_file};

pub(super) fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let secret = out.with_extension("key");
    let public = out.with_extension("pub");
    let key = SecretKey::generate().map_err(|e| anyhow::anyhow!("reading the operating system random source: {e}"))?;
    key.write(&secret, &public)?;
    eprintln!("model keygen: wrote {} (secret, mode 0600) and {}", secret.display(), public.display());
    eprintln!("model keygen: add the public key to [models] trusted_keys of the sensors that should accept it:");
    println!("{}", key.public());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn sign(key: &Path, models: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let secret = SecretKey::load(key)?;
    for path in models {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if check {
            Model::from_bytes(&bytes, &path.display().to_string()).with_context(|| {
                format!("{}: not signed, the model does not load (--no-check signs anyway)", path.display())
            })?;
        }
        let sig = signature_path(path);
        std::fs::write(&sig, secret.sign(&bytes)).with_context(|| format!("writing {}", sig.display()))?;
        eprintln!("model sign: wrote {} (key {})", sig.display(), secret.public());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn check(file: &Path, config: Option<&Path>, allow_unsigned: bool) -> anyhow::Result<ExitCode> {
    let (cfg, name) = Config::load_or_default(config)?;
    let trust = TrustPolicy { trusted: cfg.trusted_keys(&name)?, allow_unsigned };
    let (model, provenance) = match load_file(file, &trust) {
        Ok(m) => m,
        Err(e) => {
            println!("{}: REFUSED", file.display());
            println!("  {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let m = &model.manifest;
    println!("{}: ok", file.display());
    println!("  name        {} {}", m.name, m.version);
    println!("  kind        {}", m.kind.name());
    if let Some(d) = &m.description {
        println!("  description {d}");
    }
    println!("  sha256      {}", model.sha256);
    match &provenance {
        Provenance::Signed(key) => println!("  signature   valid, by trusted key {key}"),
        Provenance::Unsigned(why) => println!("  signature   NOT VERIFIED (--allow-unsigned): {why}"),
        Provenance::Embedded => println!("  signature   embedded model"),
    }
    println!("  schema      {} sha256:{} (matches this build)", m.schema_id, m.schema_hash);
    println!("  features    {} (all produced by this build)", m.features.len());
    println!("  output      {} → {}", m.output, m.labels.join(", "));
    let thresholds: Vec<String> = m.thresholds.iter().map(|(l, t)| format!("{l} ≥ {t}")).collect();
    println!(
        "  thresholds  {}",
        if thresholds.is_empty() { "none (never alerts)".into() } else { thresholds.join(", ") }
    );
    let mut out = Vec::new();
    model.score_model_rows(m.reference.clone(), &mut out)?;
    let scores: Vec<String> = m.labels.iter().zip(&out).map(|(l, s)| format!("{l}={s:.6}")).collect();
    println!("  smoke       reference vector scores {}", scores.join(" "));
    if m.kind == ModelKind::Classifier && (out.iter().sum::<f32>() - 1.0).abs() > 1e-3 {
        println!("  warning     classifier scores of the reference vector do not sum to 1");
    }
    let unsigned = matches!(provenance, Provenance::Unsigned(_));
    Ok(if unsigned { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
