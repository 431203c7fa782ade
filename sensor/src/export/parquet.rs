//! Parquet output of flow records (Snappy, row groups of [`BATCH_ROWS`] rows), readable by pandas and
//! pyarrow as is: times are `timestamp[ns, tz=UTC]`, ports and counters unsigned integers, features
//! float64 with NaN for missing.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{ExportError, ID_COLUMNS, LABEL_COLUMNS, RecordWriter, RowLabel, flow_id_hex};
use crate::flow::FlowRecord;

pub const BATCH_ROWS: usize = 16_384;

struct Columns {
    flow_id: StringBuilder,
    record_kind: StringBuilder,
    end_reason: StringBuilder,
    seq: UInt32Builder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    src_ip: StringBuilder,
    src_port: UInt16Builder,
    dst_ip: StringBuilder,
    dst_port: UInt16Builder,
    protocol: UInt8Builder,
    vlan: UInt32Builder,
    community_id: StringBuilder,
    fwd_wire_bytes: UInt64Builder,
    bwd_wire_bytes: UInt64Builder,
    /// label, scenario, behaviour, technique (empty when unlabelled).
    labels: Vec<StringBuilder>,
    features: Vec<Float64Builder>,
}

impl Columns {
    fn new(n_features: usize, labelled: bool) -> Columns {
        Columns {
            flow_id: StringBuilder::new(),
            record_kind: StringBuilder::new(),
            end_reason: StringBuilder::new(),
            seq: UInt32Builder::new(),
            start: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            end: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            src_ip: StringBuilder::new(),
            src_port: UInt16Builder::new(),
            dst_ip: StringBuilder::new(),
            dst_port: UInt16Builder::new(),
            protocol: UInt8Builder::new(),
            vlan: UInt32Builder::new(),
            community_id: StringBuilder::new(),
            fwd_wire_bytes: UInt64Builder::new(),
            bwd_wire_bytes: UInt64Builder::new(),
            labels: if labelled {
                (0..LABEL_COLUMNS.len()).map(|_| StringBuilder::new()).collect()
            } else {
                Vec::new()
            },
            features: (0..n_features).map(|_| Float64Builder::with_capacity(BATCH_ROWS)).collect(),
        }
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.flow_id.finish()),
            Arc::new(self.record_kind.finish()),
            Arc::new(self.end_reason.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.src_ip.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst_ip.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.vlan.finish()),
            Arc::new(self.community_id.finish()),
            Arc::new(self.fwd_wire_bytes.finish()),
            Arc::new(self.bwd_wire_bytes.finish()),
        ];
        cols.extend(self.labels.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.extend(self.features.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols
    }
}

fn arrow_schema(feature_names: &[String], labelled: bool) -> Schema {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let id_types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::UInt32,
        ts.clone(),
        ts,
        DataType::Utf8,
        DataType::UInt16,
        DataType::Utf8,
        DataType::UInt16,
        DataType::UInt8,
        DataType::UInt32,
        DataType::Utf8,
        DataType::UInt64,
        DataType::UInt64,
    ];
    let mut fields: Vec<Field> =
        ID_COLUMNS.iter().zip(id_types).map(|(name, ty)| Field::new(*name, ty, false)).collect();
    if labelled {
        fields.extend(LABEL_COLUMNS.iter().map(|n| Field::new(*n, DataType::Utf8, false)));
    }
    fields.extend(feature_names.iter().map(|n| Field::new(n, DataType::Float64, false)));
    Schema::new(fields)
}

pub struct ParquetWriter {
    path: String,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
    cols: Columns,
    rows: usize,
}

impl ParquetWriter {
    pub fn create(path: &Path, feature_names: &[String], labelled: bool) -> Result<ParquetWriter, ExportError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|source| ExportError::Io { path: name.clone(), source })?;
        let schema = Arc::new(arrow_schema(feature_names, labelled));
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|source| ExportError::Parquet { path: name.clone(), source })?;
        Ok(ParquetWriter { path: name, schema, writer, cols: Columns::new(feature_names.len(), labelled), rows: 0 })
    }

    fn flush_batch(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(self.schema.clone(), self.cols.finish())
            .map_err(|source| ExportError::Arrow { path: self.path.clone(), source })?;
        self.writer.write(&batch).map_err(|source| ExportError::Parquet { path: self.path.clone(), source })?;
        self.rows = 0;
        Ok(())
    }
}

impl RecordWriter for ParquetWriter {
    fn write(&mut self, r: &FlowRecord, label: Option<&RowLabel>) -> Result<(), ExportError> {
        let c = &mut self.cols;
        c.flow_id.append_value(flow_id_hex(r.flow_id));
        c.record_kind.append_value(r.kind.name());
        c.end_reason.append_value(r.reason.name());
        c.seq.append_value(r.seq);
        c.start.append_value(i64::try_from(r.start_ns).unwrap_or(i64::MAX));
        c.end.append_value(i64::try_from(r.end_ns).unwrap_or(i64::MAX));
        c.src_ip.append_value(r.src_ip().to_string());
        c.src_port.append_value(r.src_port());
        c.dst_ip.append_value(r.dst_ip().to_string());
        c.dst_port.append_value(r.dst_port());
        c.protocol.append_value(r.key.proto);
        c.vlan.append_value(r.key.vlan);
        c.community_id.append_value(r.community_id());
        c.fwd_wire_bytes.append_value(r.fwd_wire_bytes);
        c.bwd_wire_bytes.append_value(r.bwd_wire_bytes);
        if let Some(l) = label {
            for (b, v) in c.labels.iter_mut().zip([&l.label, &l.scenario, &l.behaviour, &l.technique]) {
                b.append_value(v);
            }
        }
        for (b, v) in c.features.iter_mut().zip(&r.features) {
            b.append_value(*v);
        }
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.flush_batch()?;
        self.writer.close().map_err(|source| ExportError::Parquet { path: self.path.clone(), source })?;
        Ok(())
    }
}
