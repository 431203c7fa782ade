//! Ground truth of a simulated capture: one row per session (TCP connection, UDP exchange, ICMP echo
//! series) with its label, and the matching of flow records to those rows for `extract --truth`.
//!
//! Columns (CSV or Parquet, by file extension): `start_time`, `end_time` (RFC 3339), `start_ns`,
//! `end_ns`, `protocol`, `src_ip`, `src_port`, `dst_ip`, `dst_port` (the client is the source; ICMP:
//! ports hold `type << 8 | code` and the identifier, as in the flow table), `label` (`benign`,
//! `exfiltration`, `lateral_movement`), `scenario` (the instance, e.g. `psexec#2`), `behaviour`,
//! `technique` (ATT&CK id, empty for benign), `packets`, `bytes`.
//!
//! A flow record matches the truth row with the same protocol and endpoint pair (either direction)
//! whose time span overlaps the record's.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, RecordBatch, StringArray, StringBuilder, UInt8Builder, UInt16Builder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};

use super::scheduler::TruthRecord;
use crate::export::{ExportError, Format, RowLabel};
use crate::flow::FlowRecord;
use crate::timefmt::rfc3339_nanos;

pub const COLUMNS: &[&str] = &[
    "start_time",
    "end_time",
    "start_ns",
    "end_ns",
    "protocol",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "label",
    "scenario",
    "behaviour",
    "technique",
    "packets",
    "bytes",
];

/// Writes truth rows as CSV or Parquet.
pub enum TruthWriter {
    Csv { path: String, out: csv::Writer<BufWriter<File>> },
    Parquet { path: String, rows: Vec<TruthRecord>, writer: parquet::arrow::ArrowWriter<File>, schema: Arc<Schema> },
}

fn parquet_schema() -> Schema {
    let t = |i: usize| match COLUMNS[i] {
        "start_ns" | "end_ns" | "packets" | "bytes" => DataType::UInt64,
        "protocol" => DataType::UInt8,
        "src_port" | "dst_port" => DataType::UInt16,
        _ => DataType::Utf8,
    };
    Schema::new((0..COLUMNS.len()).map(|i| Field::new(COLUMNS[i], t(i), false)).collect::<Vec<_>>())
}

impl TruthWriter {
    pub fn create(path: &Path) -> Result<TruthWriter, ExportError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|source| ExportError::Io { path: name.clone(), source })?;
        match Format::from_path(path)? {
            Format::Csv => {
                let mut out = csv::Writer::from_writer(BufWriter::new(file));
                out.write_record(COLUMNS).map_err(|source| ExportError::Csv { path: name.clone(), source })?;
                Ok(TruthWriter::Csv { path: name, out })
            }
            Format::Parquet => {
                let schema = Arc::new(parquet_schema());
                let writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
                    .map_err(|source| ExportError::Parquet { path: name.clone(), source })?;
                Ok(TruthWriter::Parquet { path: name, rows: Vec::new(), writer, schema })
            }
        }
    }

    pub fn write(&mut self, r: &TruthRecord) -> Result<(), ExportError> {
        match self {
            TruthWriter::Csv { path, out } => {
                let k = &r.key;
                out.write_record([
                    rfc3339_nanos(r.start_ns),
                    rfc3339_nanos(r.end_ns),
                    r.start_ns.to_string(),
                    r.end_ns.to_string(),
                    k.proto.to_string(),
                    k.client.to_string(),
                    k.client_port.to_string(),
                    k.server.to_string(),
                    k.server_port.to_string(),
                    r.meaning.label.name().to_string(),
                    r.meaning.scenario.clone(),
                    r.meaning.behaviour.to_string(),
                    r.meaning.technique.to_string(),
                    r.packets.to_string(),
                    r.bytes.to_string(),
                ])
                .map_err(|source| ExportError::Csv { path: path.clone(), source })
            }
            TruthWriter::Parquet { rows, .. } => {
                rows.push(r.clone());
                if rows.len() >= 65_536 { self.flush_parquet() } else { Ok(()) }
            }
        }
    }

    fn flush_parquet(&mut self) -> Result<(), ExportError> {
        let TruthWriter::Parquet { path, rows, writer, schema } = self else { return Ok(()) };
        if rows.is_empty() {
            return Ok(());
        }
        let mut s: Vec<StringBuilder> = (0..8).map(|_| StringBuilder::new()).collect();
        let (mut ns, mut proto, mut ports, mut counts) = (
            [UInt64Builder::new(), UInt64Builder::new()],
            UInt8Builder::new(),
            [UInt16Builder::new(), UInt16Builder::new()],
            [UInt64Builder::new(), UInt64Builder::new()],
        );
        for r in rows.iter() {
            s[0].append_value(rfc3339_nanos(r.start_ns));
            s[1].append_value(rfc3339_nanos(r.end_ns));
            ns[0].append_value(r.start_ns);
            ns[1].append_value(r.end_ns);
            proto.append_value(r.key.proto);
            s[2].append_value(r.key.client.to_string());
            ports[0].append_value(r.key.client_port);
            s[3].append_value(r.key.server.to_string());
            ports[1].append_value(r.key.server_port);
            s[4].append_value(r.meaning.label.name());
            s[5].append_value(&r.meaning.scenario);
            s[6].append_value(r.meaning.behaviour);
            s[7].append_value(r.meaning.technique);
            counts[0].append_value(r.packets);
            counts[1].append_value(r.bytes);
        }
        let f = |b: &mut StringBuilder| Arc::new(b.finish()) as Arc<dyn Array>;
        let cols: Vec<Arc<dyn Array>> = vec![
            f(&mut s[0]),
            f(&mut s[1]),
            Arc::new(ns[0].finish()),
            Arc::new(ns[1].finish()),
            Arc::new(proto.finish()),
            f(&mut s[2]),
            Arc::new(ports[0].finish()),
            f(&mut s[3]),
            Arc::new(ports[1].finish()),
            f(&mut s[4]),
            f(&mut s[5]),
            f(&mut s[6]),
            f(&mut s[7]),
            Arc::new(counts[0].finish()),
            Arc::new(counts[1].finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|source| ExportError::Arrow { path: path.clone(), source })?;
        writer.write(&batch).map_err(|source| ExportError::Parquet { path: path.clone(), source })?;
        rows.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), ExportError> {
        self.flush_parquet()?;
        match self {
            TruthWriter::Csv { path, mut out } => out.flush().map_err(|source| ExportError::Io { path, source }),
            TruthWriter::Parquet { path, writer, .. } => {
                writer.close().map_err(|source| ExportError::Parquet { path, source })?;
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PairKey {
    proto: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
}

fn pair(proto: u8, x: (IpAddr, u16), y: (IpAddr, u16)) -> PairKey {
    if x <= y { PairKey { proto, a: x, b: y } } else { PairKey { proto, a: y, b: x } }
}

/// Truth rows by endpoint pair, for matching flow records.
#[derive(Default)]
pub struct TruthIndex {
    rows: HashMap<PairKey, Vec<(u64, u64, u32)>>,
    labels: Vec<RowLabel>,
}

#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path}: row {row}: {reason}")]
    Row { path: String, row: usize, reason: String },
}

impl TruthIndex {
    /// Loads a truth file (CSV or Parquet, as written by the simulator).
    pub fn load(path: &Path) -> Result<TruthIndex, TruthError> {
        let name = path.display().to_string();
        let read_err = |e: Box<dyn std::error::Error + Send + Sync>| TruthError::Read { path: name.clone(), source: e };
        let format = Format::from_path(path).map_err(|e| read_err(Box::new(e)))?;
        let file = File::open(path).map_err(|e| read_err(Box::new(e)))?;
        let mut index = TruthIndex::default();
        match format {
            Format::Csv => {
                let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
                let headers = reader.headers().map_err(|e| read_err(Box::new(e)))?.clone();
                let col = |n: &str| {
                    headers.iter().position(|h| h == n).ok_or_else(|| TruthError::Row {
                        path: name.clone(),
                        row: 0,
                        reason: format!("missing column {n}"),
                    })
                };
                let cols: Vec<usize> = COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
                for (row, rec) in reader.records().enumerate() {
                    let rec = rec.map_err(|e| read_err(Box::new(e)))?;
                    let get = |c: &str| {
                        rec.get(cols[COLUMNS.iter().position(|x| x == &c).expect("known column")]).unwrap_or("")
                    };
                    index.add_row(&name, row + 1, &get)?;
                }
            }
            Format::Parquet => {
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.build())
                    .map_err(|e| read_err(Box::new(e)))?;
                let mut row = 0;
                for batch in reader {
                    let batch = batch.map_err(|e| read_err(Box::new(e)))?;
                    let text: Vec<Vec<String>> = COLUMNS
                        .iter()
                        .map(|c| {
                            let a = batch.column_by_name(c).expect("truth files carry every column");
                            (0..batch.num_rows()).map(|i| column_text(a.as_ref(), i)).collect()
                        })
                        .collect();
                    let rows =
                        (0..batch.num_rows()).map(|i| text.iter().map(|col| col[i].as_str()).collect::<Vec<_>>());
                    for values in rows {
                        row += 1;
                        let get = |c: &str| values[COLUMNS.iter().position(|x| x == &c).expect("known column")];
                        index.add_row(&name, row, &get)?;
                    }
                }
            }
        }
        Ok(index)
    }

    fn add_row<'a>(&mut self, path: &str, row: usize, get: &dyn Fn(&str) -> &'a str) -> Result<(), TruthError> {
        let bad = |reason: String| TruthError::Row { path: path.to_string(), row, reason };
        let num = |c: &str| get(c).parse::<u64>().map_err(|_| bad(format!("{c} is not a number: {:?}", get(c))));
        let ip = |c: &str| get(c).parse::<IpAddr>().map_err(|_| bad(format!("{c} is not an address: {:?}", get(c))));
        let proto = u8::try_from(num("protocol")?).map_err(|_| bad("protocol out of range".into()))?;
        let sp = u16::try_from(num("src_port")?).map_err(|_| bad("src_port out of range".into()))?;
        let dp = u16::try_from(num("dst_port")?).map_err(|_| bad("dst_port out of range".into()))?;
        let key = pair(proto, (ip("src_ip")?, sp), (ip("dst_ip")?, dp));
        let id = self.labels.len() as u32;
        self.labels.push(RowLabel {
            label: get("label").to_string(),
            scenario: get("scenario").to_string(),
            behaviour: get("behaviour").to_string(),
            technique: get("technique").to_string(),
        });
        self.rows.entry(key).or_default().push((num("start_ns")?, num("end_ns")?, id));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The truth of a flow record: the row of its endpoint pair whose span overlaps the record's.
    pub fn lookup(&self, r: &FlowRecord) -> Option<&RowLabel> {
        let key = pair(r.key.proto, (r.src_ip(), r.src_port()), (r.dst_ip(), r.dst_port()));
        let rows = self.rows.get(&key)?;
        rows.iter().find(|(s, e, _)| *s <= r.end_ns && r.start_ns <= *e).map(|(_, _, id)| &self.labels[*id as usize])
    }
}

fn column_text(a: &dyn Array, i: usize) -> String {
    if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
        return s.value(i).to_string();
    }
    if let Some(u) = a.as_any().downcast_ref::<UInt64Array>() {
        return u.value(i).to_string();
    }
    if let Some(u) = a.as_any().downcast_ref::<arrow::array::UInt16Array>() {
        return u.value(i).to_string();
    }
    if let Some(u) = a.as_any().downcast_ref::<arrow::array::UInt8Array>() {
        return u.value(i).to_string();
    }
    String::new()
}
