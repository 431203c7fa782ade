//! CSV output of flow records (header row, RFC 3339 times, `NaN` for missing features).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::{ExportError, ID_COLUMNS, LABEL_COLUMNS, RecordWriter, RowLabel, flow_id_hex};
use crate::flow::FlowRecord;
use crate::timefmt::rfc3339_nanos;

pub struct CsvWriter {
    path: String,
    out: ::csv::Writer<BufWriter<File>>,
    row: Vec<String>,
}

impl CsvWriter {
    pub fn create(path: &Path, feature_names: &[String], labelled: bool) -> Result<CsvWriter, ExportError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|source| ExportError::Io { path: name.clone(), source })?;
        let mut out = ::csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        let labels = if labelled { LABEL_COLUMNS } else { &[] };
        let header = ID_COLUMNS.iter().chain(labels).copied().chain(feature_names.iter().map(String::as_str));
        out.write_record(header).map_err(|source| ExportError::Csv { path: name.clone(), source })?;
        Ok(CsvWriter { path: name, out, row: Vec::new() })
    }
}

impl RecordWriter for CsvWriter {
    fn write(&mut self, r: &FlowRecord, label: Option<&RowLabel>) -> Result<(), ExportError> {
        self.row.clear();
        self.row.extend([
            flow_id_hex(r.flow_id),
            r.kind.name().to_string(),
            r.reason.name().to_string(),
            r.seq.to_string(),
            rfc3339_nanos(r.start_ns),
            rfc3339_nanos(r.end_ns),
            r.src_ip().to_string(),
            r.src_port().to_string(),
            r.dst_ip().to_string(),
            r.dst_port().to_string(),
            r.key.proto.to_string(),
            r.key.vlan.to_string(),
            r.community_id(),
            r.fwd_wire_bytes.to_string(),
            r.bwd_wire_bytes.to_string(),
        ]);
        if let Some(l) = label {
            self.row.extend([l.label.clone(), l.scenario.clone(), l.behaviour.clone(), l.technique.clone()]);
        }
        self.row.extend(r.features.iter().map(|v| v.to_string()));
        self.out.write_record(&self.row).map_err(|source| ExportError::Csv { path: self.path.clone(), source })
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.out.flush().map_err(|source| ExportError::Io { path: self.path.clone(), source })
    }
}
