//! Explanations: which features drove an alert's score, by occlusion against the manifest's reference
//! vector (benign medians). For each feature of the model, the flow is scored again with that one
//! feature set to its reference value; the effect is the drop in the alert label's score. Model
//! agnostic (trees and networks alike), one batched inference of up to F+1 rows, computed for alerts
//! only.

use super::event::Contribution;
use crate::model::{Model, ScoreError};

/// How many features an alert names.
pub const TOP_FEATURES: usize = 5;

/// The `top` features with the largest effect on `label_index`'s score, largest first; features whose
/// value equals the reference (or both are missing) have no effect and are skipped.
pub fn explain(
    model: &Model,
    features: &[f64],
    label_index: usize,
    top: usize,
) -> Result<Vec<Contribution>, ScoreError> {
    let columns = model.columns();
    let width = columns.len();
    let reference = &model.manifest.reference;
    let base: Vec<f32> = columns.iter().map(|&c| features[c] as f32).collect();
    let differs = |j: usize| {
        let (x, r) = (base[j], reference[j]);
        !(x == r || (x.is_nan() && r.is_nan()))
    };
    let probes: Vec<usize> = (0..width).filter(|&j| differs(j)).collect();
    let occlusions: Vec<(usize, f32)> = probes.iter().map(|&j| (j, reference[j])).collect();
    let mut scores = Vec::new();
    model.score_occlusions(&base, &occlusions, &mut scores)?;
    let labels = model.width_out();
    let score = |row: usize| scores[row * labels + label_index];
    let s0 = score(0);
    let mut out: Vec<Contribution> = probes
        .iter()
        .enumerate()
        .map(|(k, &j)| Contribution {
            feature: model.manifest.features[j].clone(),
            value: features[columns[j]].is_finite().then_some(features[columns[j]]),
            effect: s0 - score(k + 1),
        })
        .filter(|c| c.effect != 0.0 && c.effect.is_finite())
        .collect();
    out.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()).then_with(|| a.feature.cmp(&b.feature)));
    out.truncate(top);
    Ok(out)
}
