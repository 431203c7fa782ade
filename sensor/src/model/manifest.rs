//! The model manifest (a contract): what a model says about itself in its ONNX `metadata_props`.
//!
//! Keys (every value is a string; JSON where noted):
//!
//! | key | value |
//! |---|---|
//! | `sensor.manifest_version` | `1` |
//! | `sensor.name`, `sensor.version` | the model's name and version |
//! | `sensor.kind` | `classifier` (class probabilities `[N, C]`) or `anomaly` (a score `[N]` or `[N, 1]`) |
//! | `sensor.feature_schema`, `sensor.feature_schema_hash` | the schema id and hash the model was trained on |
//! | `sensor.features` | JSON array: the feature names in model input order (a subset of the schema) |
//! | `sensor.labels` | JSON array: the labels in output column order (`["anomaly"]` for an anomaly model) |
//! | `sensor.output` | the name of the graph output to read |
//! | `sensor.thresholds` | JSON object label → score at or above which the label alerts; labels absent here never alert |
//! | `sensor.reference` | JSON array, one number per feature (`null` = missing): benign medians, for explanations |
//! | `sensor.description` | optional free text |

use std::collections::BTreeMap;

use crate::features::schema::Schema;

/// What a model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Class probabilities, one column per label.
    Classifier,
    /// One anomaly score per row, computed inside the graph.
    Anomaly,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Classifier => "classifier",
            ModelKind::Anomaly => "anomaly",
        }
    }
}

/// The parsed and internally consistent manifest of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: ModelKind,
    pub schema_id: String,
    pub schema_hash: String,
    pub features: Vec<String>,
    pub labels: Vec<String>,
    pub output: String,
    /// Alert thresholds per label (a subset of `labels`).
    pub thresholds: BTreeMap<String, f32>,
    /// Reference value per feature (NaN where missing), for explanations.
    pub reference: Vec<f32>,
    pub description: Option<String>,
}

/// A manifest that is missing, malformed or inconsistent.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("no sensor manifest in the model's metadata_props (key sensor.manifest_version is absent)")]
    Absent,
    #[error("manifest key {0} is missing")]
    MissingKey(&'static str),
    #[error("manifest key {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

const PREFIX: &str = "sensor.";

impl Manifest {
    /// Parses the manifest from `metadata_props` entries (key, value). Unknown `sensor.*` keys are
    /// refused (a typo would otherwise silently drop a setting); other keys are ignored.
    pub fn from_props<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Manifest, ManifestError> {
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in props {
            if let Some(key) = k.strip_prefix(PREFIX) {
                if !KNOWN_KEYS.contains(&key) {
                    return Err(invalid("sensor.*", format!("unknown key {k:?}")));
                }
                map.insert(key, v);
            }
        }
        let Some(version) = map.get("manifest_version") else { return Err(ManifestError::Absent) };
        if *version != "1" {
            return Err(invalid(
                "sensor.manifest_version",
                format!("version {version:?} is not supported (this build reads 1)"),
            ));
        }
        let get = |key: &'static str, full: &'static str| -> Result<&str, ManifestError> {
            map.get(key).copied().filter(|v| !v.trim().is_empty()).ok_or(ManifestError::MissingKey(full))
        };
        let kind = match get("kind", "sensor.kind")? {
            "classifier" => ModelKind::Classifier,
            "anomaly" => ModelKind::Anomaly,
            other => return Err(invalid("sensor.kind", format!("{other:?} is neither classifier nor anomaly"))),
        };
        let features: Vec<String> = json(get("features", "sensor.features")?, "sensor.features")?;
        let labels: Vec<String> = json(get("labels", "sensor.labels")?, "sensor.labels")?;
        let thresholds: BTreeMap<String, f64> = json(get("thresholds", "sensor.thresholds")?, "sensor.thresholds")?;
        let reference: Vec<Option<f64>> = json(get("reference", "sensor.reference")?, "sensor.reference")?;

        if features.is_empty() {
            return Err(invalid("sensor.features", "is empty".into()));
        }
        if let Some(d) = first_duplicate(&features) {
            return Err(invalid("sensor.features", format!("{d:?} appears twice")));
        }
        if labels.is_empty() {
            return Err(invalid("sensor.labels", "is empty".into()));
        }
        if let Some(d) = first_duplicate(&labels) {
            return Err(invalid("sensor.labels", format!("{d:?} appears twice")));
        }
        if kind == ModelKind::Anomaly && labels.len() != 1 {
            return Err(invalid("sensor.labels", format!("an anomaly model has one label, got {}", labels.len())));
        }
        for (label, t) in &thresholds {
            if !labels.contains(label) {
                return Err(invalid("sensor.thresholds", format!("{label:?} is not one of the labels {labels:?}")));
            }
            if !t.is_finite() {
                return Err(invalid("sensor.thresholds", format!("{label:?} has a non-finite threshold")));
            }
        }
        if reference.len() != features.len() {
            return Err(invalid(
                "sensor.reference",
                format!("has {} values for {} features", reference.len(), features.len()),
            ));
        }
        Ok(Manifest {
            name: get("name", "sensor.name")?.to_string(),
            version: get("version", "sensor.version")?.to_string(),
            kind,
            schema_id: get("feature_schema", "sensor.feature_schema")?.to_string(),
            schema_hash: get("feature_schema_hash", "sensor.feature_schema_hash")?.to_string(),
            features,
            labels,
            output: get("output", "sensor.output")?.to_string(),
            thresholds: thresholds.into_iter().map(|(k, v)| (k, v as f32)).collect(),
            reference: reference.into_iter().map(|v| v.map_or(f32::NAN, |v| v as f32)).collect(),
            description: map.get("description").map(|s| s.to_string()),
        })
    }

    /// The manifest as `metadata_props` entries (the inverse of [`Manifest::from_props`]).
    pub fn to_props(&self) -> Vec<(String, String)> {
        let reference: Vec<Option<f32>> = self.reference.iter().map(|v| v.is_finite().then_some(*v)).collect();
        let mut props = vec![
            ("manifest_version", "1".to_string()),
            ("name", self.name.clone()),
            ("version", self.version.clone()),
            ("kind", self.kind.name().to_string()),
            ("feature_schema", self.schema_id.clone()),
            ("feature_schema_hash", self.schema_hash.clone()),
            ("features", serde_json::to_string(&self.features).expect("strings serialise")),
            ("labels", serde_json::to_string(&self.labels).expect("strings serialise")),
            ("output", self.output.clone()),
            ("thresholds", serde_json::to_string(&self.thresholds).expect("numbers serialise")),
            ("reference", serde_json::to_string(&reference).expect("numbers serialise")),
        ];
        if let Some(d) = &self.description {
            props.push(("description", d.clone()));
        }
        props.into_iter().map(|(k, v)| (format!("{PREFIX}{k}"), v)).collect()
    }

    /// Maps the model's features onto the columns of records of `schema`, after checking that the
    /// model was trained on a schema this build knows, with the same hash. Every feature the model
    /// needs and `schema` lacks is named in the error.
    pub fn map_features(&self, known: &[&Schema], record: &Schema) -> Result<Vec<usize>, FeatureError> {
        let Some(trained) = known.iter().find(|s| s.id == self.schema_id) else {
            return Err(FeatureError::UnknownSchema {
                id: self.schema_id.clone(),
                known: known.iter().map(|s| s.id.to_string()).collect(),
            });
        };
        if trained.hash != self.schema_hash {
            return Err(FeatureError::SchemaHash {
                id: self.schema_id.clone(),
                model: self.schema_hash.clone(),
                build: trained.hash.clone(),
            });
        }
        let mut columns = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        for name in &self.features {
            match record.index_of(name) {
                Some(i) if trained.index_of(name).is_some() => columns.push(i),
                _ => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(FeatureError::Missing { schema: record.id.to_string(), missing });
        }
        Ok(columns)
    }

    /// The threshold of `label`, if it alerts.
    pub fn threshold(&self, label: &str) -> Option<f32> {
        self.thresholds.get(label).copied()
    }
}

/// A model whose features this build cannot produce.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeatureError {
    #[error("the model was trained on feature schema {id:?}, which this build does not know (it knows {known:?})")]
    UnknownSchema { id: String, known: Vec<String> },
    #[error(
        "feature schema hash mismatch for {id}: the model says {model}, this build's {id} is {build} (same name, different features)"
    )]
    SchemaHash { id: String, model: String, build: String },
    #[error("the model needs {} feature(s) that schema {schema} does not produce: {}", missing.len(), missing.join(", "))]
    Missing { schema: String, missing: Vec<String> },
}

const KNOWN_KEYS: &[&str] = &[
    "manifest_version",
    "name",
    "version",
    "kind",
    "feature_schema",
    "feature_schema_hash",
    "features",
    "labels",
    "output",
    "thresholds",
    "reference",
    "description",
];

fn invalid(key: &'static str, problem: String) -> ManifestError {
    ManifestError::Invalid { key, problem }
}

fn json<T: serde::de::DeserializeOwned>(text: &str, key: &'static str) -> Result<T, ManifestError> {
    serde_json::from_str(text).map_err(|e| invalid(key, format!("not the expected JSON: {e}")))
}

fn first_duplicate(items: &[String]) -> Option<&String> {
    let mut seen = std::collections::HashSet::new();
    items.iter().find(|i| !seen.insert(i.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::schema::flow_v1;

    fn sample() -> Manifest {
        let schema = flow_v1();
        Manifest {
            name: "m".into(),
            version: "1.2.3".into(),
            kind: ModelKind::Classifier,
            schema_id: schema.id.into(),
            schema_hash: schema.hash.clone(),
            features: vec!["fwd_bytes".into(), "duration_us".into()],
            labels: vec!["benign".into(), "exfiltration".into()],
            output: "probabilities".into(),
            thresholds: [("exfiltration".to_string(), 0.9)].into(),
            reference: vec![1000.0, f32::NAN],
            description: None,
        }
    }

    fn parse(props: &[(String, String)]) -> Result<Manifest, ManifestError> {
        Manifest::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    #[test]
    fn round_trips_through_props() {
        let m = sample();
        let back = parse(&m.to_props()).unwrap();
        assert_eq!(back.features, m.features);
        assert_eq!(back.thresholds, m.thresholds);
        assert!(back.reference[1].is_nan());
        assert_eq!(back.reference[0], 1000.0);
    }

    #[test]
    fn absent_and_missing_keys_are_named() {
        assert_eq!(parse(&[]), Err(ManifestError::Absent));
        let props: Vec<_> = sample().to_props().into_iter().filter(|(k, _)| k != "sensor.output").collect();
        assert_eq!(parse(&props), Err(ManifestError::MissingKey("sensor.output")));
    }

    #[test]
    fn inconsistent_manifests_are_refused() {
        let mut m = sample();
        m.reference.pop();
        assert!(parse(&m.to_props()).unwrap_err().to_string().contains("1 values for 2 features"));
        let mut m = sample();
        m.thresholds.insert("lateral_movement".into(), 0.5);
        assert!(parse(&m.to_props()).unwrap_err().to_string().contains("lateral_movement"));
        let mut props = sample().to_props();
        props.push(("sensor.treshold".into(), "1".into()));
        assert!(parse(&props).unwrap_err().to_string().contains("sensor.treshold"));
    }

    #[test]
    fn features_map_by_name_and_missing_ones_are_listed() {
        let schema = flow_v1();
        let m = sample();
        let cols = m.map_features(&[schema], schema).unwrap();
        assert_eq!(cols, vec![schema.index_of("fwd_bytes").unwrap(), schema.index_of("duration_us").unwrap()]);

        let mut m = sample();
        m.features.push("no_such_a".into());
        m.features.push("no_such_b".into());
        let err = m.map_features(&[schema], schema).unwrap_err();
        assert_eq!(
            err,
            FeatureError::Missing { schema: "flow-v1".into(), missing: vec!["no_such_a".into(), "no_such_b".into()] }
        );

        let mut m = sample();
        m.schema_hash = "0".repeat(64);
        assert!(matches!(m.map_features(&[schema], schema), Err(FeatureError::SchemaHash { .. })));
        let mut m = sample();
        m.schema_id = "flow-v9".into();
        assert!(matches!(m.map_features(&[schema], schema), Err(FeatureError::UnknownSchema { .. })));
    }
}
