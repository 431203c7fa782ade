//! The training table: one row per flow record, written as CSV or Parquet.
//!
//! Columns (a contract for the training team): identifiers and accounting first —
//! `flow_id` (16 hex digits), `record_kind` (`checkpoint`/`final`), `end_reason`, `seq`, `start_time`,
//! `end_time` (UTC), `src_ip`, `src_port`, `dst_ip`, `dst_port`, `protocol`, `vlan`, `community_id`,
//! `fwd_wire_bytes`, `bwd_wire_bytes` (frame bytes on the wire, not features) — then the features of the
//! schema in order, as float64 with NaN for missing. The source is the flow's initiator. For ICMP,
//! `src_port` holds `type << 8 | code` of the initiator's message and `dst_port` the identifier.
//!
//! With ground truth (`extract --truth`), [`LABEL_COLUMNS`] follow the identifiers: `label`
//! (`benign`, `exfiltration`, `lateral_movement`, or `unmatched` when no truth row covers the flow),
//! `scenario`, `behaviour`, `technique`.

pub mod csv;
pub mod parquet;

use std::path::Path;

use crate::flow::FlowRecord;

/// The identifier columns, in order, before the features.
pub const ID_COLUMNS: &[&str] = &[
    "flow_id",
    "record_kind",
    "end_reason",
    "seq",
    "start_time",
    "end_time",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "vlan",
    "community_id",
    "fwd_wire_bytes",
    "bwd_wire_bytes",
];

/// The ground-truth columns, after the identifiers, when a truth file is given.
pub const LABEL_COLUMNS: &[&str] = &["label", "scenario", "behaviour", "technique"];

/// The ground truth of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLabel {
    pub label: String,
    pub scenario: String,
    pub behaviour: String,
    pub technique: String,
}

impl RowLabel {
    /// The label of a flow no truth row covers.
    pub fn unmatched() -> RowLabel {
        RowLabel {
            label: "unmatched".into(),
            scenario: String::new(),
            behaviour: String::new(),
            technique: String::new(),
        }
    }
}

/// A sink for flow records.
pub trait RecordWriter {
    /// Writes one row; `label` is given exactly when the writer was created with labels.
    fn write(&mut self, record: &FlowRecord, label: Option<&RowLabel>) -> Result<(), ExportError>;
    /// Flushes and closes the output; must be called once at the end.
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: ::csv::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    #[error("{path}: {source}")]
    Arrow {
        path: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("{0}: unknown output format (use a .csv or .parquet file name)")]
    UnknownFormat(String),
}

/// Output formats, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    /// `.csv` or `.parquet` (also `.pq`), case-insensitive.
    pub fn from_path(path: &Path) -> Result<Format, ExportError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(ExportError::UnknownFormat(path.display().to_string())),
        }
    }
}

/// Creates `path` and a writer of `format` into it; `labelled` adds the [`LABEL_COLUMNS`].
pub fn create(
    format: Format,
    path: &Path,
    feature_names: &[String],
    labelled: bool,
) -> Result<Box<dyn RecordWriter>, ExportError> {
    Ok(match format {
        Format::Csv => Box::new(csv::CsvWriter::create(path, feature_names, labelled)?),
        Format::Parquet => Box::new(parquet::ParquetWriter::create(path, feature_names, labelled)?),
    })
}

/// Opens an unlabelled writer chosen by the file extension (`.csv` or `.parquet`).
pub fn open(path: &Path, feature_names: &[String]) -> Result<Box<dyn RecordWriter>, ExportError> {
    create(Format::from_path(path)?, path, feature_names, false)
}

pub fn flow_id_hex(id: u64) -> String {
    format!("{id:016x}")
}
