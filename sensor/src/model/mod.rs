//! Models: the manifest contract, signatures, the tract runtime, and the set of models serving now
//! (with hot reload).
//!
//! Loading a model file is all or nothing: the bytes are read once, their signature checked against
//! the trusted keys, and the same bytes parsed, validated and optimised. A model that fails any step
//! is refused with the reason named.

pub mod manifest;
mod quickscorer;
pub mod reload;
pub mod scorer;
pub mod signature;
pub mod trees;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use manifest::{Manifest, ModelKind};
pub use scorer::{LoadError, Model, ScoreError};
use signature::{PublicKey, SignatureError};

/// The development public key: the models in `models/` are signed with its secret half, which is in
/// the repository and therefore not secret. Production sites replace it in `[models] trusted_keys`.
pub const DEV_PUBLIC_KEY: &str = "ed25519:0mJWBFWV5e/MBAoy5gWJMAMUQWOfh0hF9BHI23sqz/E=";

/// The rows of an explanation: `base`, then `base` with each `(column, value)` of `occlusions` applied
/// (a column past the row's end leaves it unchanged).
fn occluded_rows(base: &[f32], occlusions: &[(usize, f32)]) -> Vec<f32> {
    let mut rows = Vec::with_capacity((occlusions.len() + 1) * base.len());
    rows.extend_from_slice(base);
    for &(column, value) in occlusions {
        let start = rows.len();
        rows.extend_from_slice(base);
        if let Some(x) = rows.get_mut(start + column) {
            *x = value;
        }
    }
    rows
}

/// How strictly model files are checked.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    pub trusted: Vec<PublicKey>,
    /// Missing or failing signatures are a warning instead of a refusal.
    pub allow_unsigned: bool,
}

/// What the signature check said about a loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Signed by this trusted key.
    Signed(String),
    /// Accepted without a valid signature (`--allow-unsigned`); the reason it would have been refused.
    Unsigned(String),
    /// Built into the binary (covered by the binary's own provenance).
    Embedded,
}

/// A model file that cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: signature: {source}")]
    Signature {
        path: PathBuf,
        #[source]
        source: SignatureError,
    },
    #[error("{path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: LoadError,
    },
}

/// Reads, verifies and loads one model file.
pub fn load_file(path: &Path, trust: &TrustPolicy) -> Result<(Model, Provenance), ModelFileError> {
    let bytes = std::fs::read(path).map_err(|source| ModelFileError::Read { path: path.into(), source })?;
    let provenance = match check_signature(path, &bytes, &trust.trusted) {
        Ok(key) => Provenance::Signed(key.to_string()),
        Err(e) if trust.allow_unsigned => {
            tracing::warn!(model = %path.display(), reason = %e, "loading a model without a valid signature (--allow-unsigned)");
            Provenance::Unsigned(e.to_string())
        }
        Err(source) => return Err(ModelFileError::Signature { path: path.into(), source }),
    };
    let model = Model::from_bytes(&bytes, &path.display().to_string())
        .map_err(|source| ModelFileError::Load { path: path.into(), source })?;
    Ok((model, provenance))
}

fn check_signature(path: &Path, bytes: &[u8], trusted: &[PublicKey]) -> Result<PublicKey, SignatureError> {
    let sig_path = signature::signature_path(path);
    let text = match std::fs::read_to_string(&sig_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SignatureError::Missing(sig_path)),
        Err(source) => return Err(SignatureError::Io { path: sig_path, source }),
    };
    signature::verify(bytes, &text, &sig_path, trusted)
}

/// One model as configured: where it comes from and whether it may alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub source: ModelSource,
    /// Scores and is measured, never alerts.
    pub shadow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    File(PathBuf),
    /// One of the models built into the binary, by name.
    Embedded(&'static str),
}

/// A serving model and its role.
#[derive(Debug, Clone)]
pub struct ServingModel {
    pub model: Arc<Model>,
    pub shadow: bool,
    pub provenance: Provenance,
}

/// The models serving at one moment; replaced as a whole on reload.
#[derive(Debug, Clone, Default)]
pub struct ModelSet {
    pub models: Vec<ServingModel>,
}

/// A model built into the binary.
#[derive(Debug)]
pub struct EmbeddedModel {
    pub name: &'static str,
    pub bytes: &'static [u8],
    /// Served in shadow mode (scored and measured, never alerting) unless configured otherwise.
    pub shadow: bool,
}

/// The models built into the binary: the shipped models of `models/shipped`, made and signed by
/// `models/pipeline.py` (see models/MODEL_CARD.md). The anomaly model learnt "normal" from simulated
/// traffic, not from the site's, so by default it runs in shadow mode until `models/adapt.py` retrains it
/// on the site's own traffic and the config serves that model.
pub const EMBEDDED: &[EmbeddedModel] = &[
    EmbeddedModel {
        name: "flow-classifier",
        bytes: include_bytes!("../../../models/shipped/flow-classifier.onnx"),
        shadow: false,
    },
    EmbeddedModel {
        name: "flow-anomaly",
        bytes: include_bytes!("../../../models/shipped/flow-anomaly.onnx"),
        shadow: true,
    },
];

/// Loads every configured model; the first failure stops and is returned.
pub fn load_set(specs: &[ModelSpec], trust: &TrustPolicy) -> Result<ModelSet, ModelFileError> {
    let mut models = Vec::with_capacity(specs.len());
    for spec in specs {
        let (model, provenance) = match &spec.source {
            ModelSource::File(path) => load_file(path, trust)?,
            ModelSource::Embedded(name) => {
                let embedded = EMBEDDED.iter().find(|m| m.name == *name).expect("embedded model names are checked");
                let model = Model::from_bytes(embedded.bytes, &format!("embedded:{name}"))
                    .map_err(|source| ModelFileError::Load { path: format!("embedded:{name}").into(), source })?;
                (model, Provenance::Embedded)
            }
        };
        models.push(ServingModel { model: Arc::new(model), shadow: spec.shadow, provenance });
    }
    Ok(ModelSet { models })
}
