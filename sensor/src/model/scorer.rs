//! The ML runtime, behind one small module: load an ONNX model with `tract-onnx`, check it against its
//! manifest, fix the input to `[N, F]` float32, optimise once, and score batches of flow records.
//!
//! Loading refuses, with the reason named: a file that is not ONNX (or is truncated), a model without
//! a valid manifest, features this build cannot produce, operators tract does not implement (for
//! instance `TreeEnsembleRegressor`, `ZipMap`, `Scaler`), an output that is missing or of the wrong
//! shape for its kind, and a model whose smoke inference on its own reference vector fails.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::InferenceFact;

use super::manifest::{FeatureError, Manifest, ManifestError, ModelKind};
use super::trees::TreeKernel;
use crate::features::schema::{self, Schema};

/// A loaded, validated, optimised model.
pub struct Model {
    pub manifest: Manifest,
    /// SHA-256 of the model file, lowercase hex.
    pub sha256: String,
    /// Where it came from (a path, or a name for embedded models).
    pub source: String,
    plan: Arc<TypedRunnableModel>,
    /// The native tree kernel, when the graph is a bare tree ensemble (see `trees`).
    kernel: Option<TreeKernel>,
    /// For each model input column, the index of its feature in the records.
    columns: Vec<usize>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({} {} from {})", self.manifest.name, self.manifest.version, self.source)
    }
}

/// Why a model cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a readable ONNX model (truncated or not ONNX): {0}")]
    NotOnnx(String),
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("features: {0}")]
    Features(#[from] FeatureError),
    #[error("operators tract does not implement: {}", .0.join(", "))]
    UnsupportedOps(Vec<String>),
    #[error("the manifest's output {name:?} is not an output of the graph (outputs: {})", available.join(", "))]
    NoSuchOutput { name: String, available: Vec<String> },
    #[error("the graph has {0} inputs; a sensor model has exactly one, float32 [N, features]")]
    Inputs(usize),
    #[error("output {name:?} has shape {shape} and type {datum}, expected float32 {expected}")]
    OutputShape { name: String, shape: String, datum: String, expected: String },
    #[error("tract could not prepare the model for [N, {width}] float32 input: {message}")]
    Prepare { width: usize, message: String },
    #[error("smoke inference on the reference vector failed: {0}")]
    Smoke(String),
}

/// A batch could not be scored (tract failed at run time).
#[derive(Debug, thiserror::Error)]
#[error("model {model}: inference failed: {message}")]
pub struct ScoreError {
    pub model: String,
    pub message: String,
}

impl Model {
    /// Loads a model for this build's records (schema [`schema::current`]), trained on any schema this
    /// build knows ([`schema::known`]).
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Model, LoadError> {
        Model::from_bytes_for(bytes, source, &schema::known(), schema::current())
    }

    /// Loads a model trained on one of the `known` schemas, for records of schema `record`.
    pub fn from_bytes_for(bytes: &[u8], source: &str, known: &[&Schema], record: &Schema) -> Result<Model, LoadError> {
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(|e| LoadError::NotOnnx(root(&e)))?;
        let manifest = Manifest::from_props(proto.metadata_props.iter().map(|e| (e.key.as_str(), e.value.as_str())))?;
        let columns = manifest.map_features(known, record)?;

        let graph = proto.graph.as_ref().ok_or_else(|| LoadError::NotOnnx("the model has no graph".into()))?;
        let mut unsupported: Vec<String> = graph
            .node
            .iter()
            .filter(|n| !onnx.op_register.0.contains_key(&n.op_type))
            .map(|n| if n.domain.is_empty() { n.op_type.clone() } else { format!("{} ({})", n.op_type, n.domain) })
            .collect();
        unsupported.sort();
        unsupported.dedup();
        if !unsupported.is_empty() {
            return Err(LoadError::UnsupportedOps(unsupported));
        }

        let width = manifest.features.len();
        let prepare = |e: TractError| LoadError::Prepare { width, message: chain(&e) };
        let parsed = onnx.parse(&proto, None).map_err(prepare)?;
        let mut model = parsed.model;
        let inputs = model.input_outlets().map_err(prepare)?.len();
        if inputs != 1 {
            return Err(LoadError::Inputs(inputs));
        }
        let Some(&out) = parsed.outlets_by_name.get(&manifest.output) else {
            let outputs = model.output_outlets().map_err(prepare)?.to_vec();
            let mut available: Vec<String> =
                outputs.iter().filter_map(|o| model.outlet_label(*o).map(str::to_string)).collect();
            available.sort();
            return Err(LoadError::NoSuchOutput { name: manifest.output.clone(), available });
        };
        model.select_output_outlets(&[out]).map_err(prepare)?;
        let batch = model.symbols.sym("N");
        model
            .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec![batch.to_dim(), width.to_dim()]))
            .map_err(prepare)?;
        let typed = model.into_optimized().map_err(prepare)?;
        check_output(&typed, &manifest)?;
        let plan = typed.into_runnable().map_err(prepare)?;
        let kernel = TreeKernel::from_graph(graph, &manifest.output, width)
            .filter(|k| manifest.kind == ModelKind::Classifier && k.classes() == manifest.labels.len());

        let mut m = Model {
            sha256: super::signature::hex(&Sha256::digest(bytes)),
            source: source.to_string(),
            plan,
            kernel: None,
            columns,
            manifest,
        };
        m.smoke()?;
        if let Some(kernel) = kernel {
            m.adopt_kernel(kernel);
        }
        Ok(m)
    }

    /// Number of scores per row (labels).
    pub fn width_out(&self) -> usize {
        self.manifest.labels.len()
    }

    /// Scores records given as feature vectors in record-schema order: `out` receives `rows × labels`
    /// scores, row-major.
    pub fn score_into(&self, rows: &[&[f64]], out: &mut Vec<f32>) -> Result<(), ScoreError> {
        out.clear();
        if rows.is_empty() {
            return Ok(());
        }
        let width = self.columns.len();
        let mut input = Vec::with_capacity(rows.len() * width);
        for r in rows {
            input.extend(self.columns.iter().map(|&c| r[c] as f32));
        }
        self.run(input, rows.len(), out)
    }

    /// Scores rows already in model input order (`rows × features` values, row-major).
    pub fn score_model_rows(&self, input: Vec<f32>, out: &mut Vec<f32>) -> Result<(), ScoreError> {
        let n = input.len() / self.columns.len().max(1);
        self.run(input, n, out)
    }

    /// Scores `base` (a row in model input order) and, for each `(column, value)` of `occlusions`,
    /// `base` with that one column set to `value`: `out` receives `(1 + occlusions) × labels` scores,
    /// row-major, the same as scoring those rows (explanations; the tree kernel decides again only
    /// the trees that test the changed column).
    pub fn score_occlusions(
        &self,
        base: &[f32],
        occlusions: &[(usize, f32)],
        out: &mut Vec<f32>,
    ) -> Result<(), ScoreError> {
        if let Some(k) = &self.kernel {
            k.score_occlusions(base, occlusions, out);
            return Ok(());
        }
        self.run(super::occluded_rows(base, occlusions), occlusions.len() + 1, out)
    }

    /// The model's columns in record order (for explanations).
    pub fn columns(&self) -> &[usize] {
        &self.columns
    }

    /// Whether the native tree kernel scores this model (else tract does).
    pub fn uses_tree_kernel(&self) -> bool {
        self.kernel.is_some()
    }

    /// Takes the native kernel if it agrees with tract on probe rows (the reference vector, all
    /// missing, zeros, and scaled and partly missing variants of the reference).
    fn adopt_kernel(&mut self, kernel: TreeKernel) {
        let r = &self.manifest.reference;
        let mut probes: Vec<f32> = Vec::new();
        probes.extend(r);
        probes.extend(r.iter().map(|_| f32::NAN));
        probes.extend(r.iter().map(|_| 0.0));
        for scale in [0.5f32, 2.0, 10.0, 1000.0] {
            probes.extend(r.iter().enumerate().map(|(i, v)| if i % 3 == 0 { f32::NAN } else { v * scale }));
        }
        let (mut by_tract, mut by_kernel) = (Vec::new(), Vec::new());
        let n = probes.len() / r.len();
        if self.run(probes.clone(), n, &mut by_tract).is_err() {
            return;
        }
        kernel.score(&probes, &mut by_kernel);
        let worst = by_tract.iter().zip(&by_kernel).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        if by_tract.len() == by_kernel.len() && worst <= 1e-5 {
            self.kernel = Some(kernel);
        } else {
            tracing::warn!(model = %self.manifest.name, difference = worst, "native tree kernel disagrees with tract; tract scores this model");
        }
    }

    fn run(&self, input: Vec<f32>, n: usize, out: &mut Vec<f32>) -> Result<(), ScoreError> {
        if let Some(k) = &self.kernel {
            k.score(&input, out);
            return Ok(());
        }
        let fail = |e: TractError| ScoreError { model: self.manifest.name.clone(), message: chain(&e) };
        let tensor = Tensor::from_shape(&[n, self.columns.len()], &input).map_err(fail)?;
        let result = self.plan.run(tvec![tensor.into_tvalue()]).map_err(fail)?;
        let view = result[0].try_as_plain_ram().map_err(fail)?;
        let values = view.as_slice::<f32>().map_err(fail)?;
        if values.len() != n * self.width_out() {
            return Err(ScoreError {
                model: self.manifest.name.clone(),
                message: format!("{} scores for {n} rows of {} labels", values.len(), self.width_out()),
            });
        }
        out.clear();
        out.extend_from_slice(values);
        Ok(())
    }

    fn smoke(&self) -> Result<(), LoadError> {
        let mut out = Vec::new();
        self.score_model_rows(self.manifest.reference.clone(), &mut out).map_err(|e| LoadError::Smoke(e.message))?;
        if let Some(bad) = out.iter().find(|v| !v.is_finite()) {
            return Err(LoadError::Smoke(format!("the score is {bad}, not a finite number")));
        }
        Ok(())
    }
}

/// Checks that the single output is float32 and shaped for the model's kind.
fn check_output(model: &TypedModel, manifest: &Manifest) -> Result<(), LoadError> {
    let fact = model.output_fact(0).map_err(|e| LoadError::Prepare { width: 0, message: chain(&e) })?;
    let dims: Vec<Option<i64>> = fact.shape.iter().map(|d| d.to_i64().ok()).collect();
    let labels = manifest.labels.len() as i64;
    let ok = fact.datum_type == f32::datum_type()
        && match manifest.kind {
            ModelKind::Classifier => dims.len() == 2 && dims[1] == Some(labels),
            ModelKind::Anomaly => dims.len() == 1 || (dims.len() == 2 && dims[1] == Some(1)),
        };
    if ok {
        return Ok(());
    }
    let expected = match manifest.kind {
        ModelKind::Classifier => format!("[N, {labels}] (one column per label)"),
        ModelKind::Anomaly => "[N] or [N, 1]".to_string(),
    };
    Err(LoadError::OutputShape {
        name: manifest.output.clone(),
        shape: format!("{:?}", fact.shape),
        datum: format!("{:?}", fact.datum_type),
        expected,
    })
}

/// An error with its causes, on one line.
fn chain(e: &TractError) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

fn root(e: &TractError) -> String {
    e.root_cause().to_string()
}
