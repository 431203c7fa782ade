//! The `sensor` binary end to end: `extract` to CSV and Parquet, its exit statuses (0 success, 1 error,
//! 2 usage, 3 damaged input with the readable part written), `--schema`, and `config example/check`.
//!
//! The binary belongs to another package, so no `cargo test` builds it for these tests: they build it
//! themselves on first use (see [`sensor_bin`]).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Output;

use arrow::array::{Array, Float64Array, RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::array_value_to_string;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sensor::capture::LinkType;
use sensor::capture::pcap_write::{PcapWriter, TsResolution};
use sensor::features::schema::current as flow_schema;
use sensor::flow::FlowRecord;
use sensor::simulate::frame::{L4, ipv4_frame};
use sensor::simulate::synthetic::{SyntheticConfig, write_pcap};
use sensor::timefmt::rfc3339_nanos;

/// The identifier columns before the features: a contract with the training side.
const ID_COLUMNS: [&str; 15] = [
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

// ---------------------------------------------------------------------------------------------------
// Running the binary

use common::{sensor, sensor_bin};

fn extract(pcap: &Path, out: &Path, extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("extract"), OsStr::new("--quiet"), OsStr::new("--pcap")];
    args.push(pcap.as_os_str());
    args.push(OsStr::new("--out"));
    args.push(out.as_os_str());
    args.extend_from_slice(extra);
    sensor(args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn assert_status(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit status {code}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

// ---------------------------------------------------------------------------------------------------
// Captures and tables

/// A synthetic capture (pcap, Ethernet, ns): `packets` packets over 150 concurrent flows of web, SMB,
/// SSH, upload, DNS and ping traffic.
fn synthetic_capture(path: &Path, packets: u64) {
    let cfg = SyntheticConfig { seed: 11, packets, concurrent_flows: 150, ..SyntheticConfig::default() };
    let written = write_pcap(cfg, File::create(path).unwrap()).unwrap();
    assert_eq!(written, packets);
}

/// `(flow_id, record_kind, seq)`: unique per row (checkpoints share a flow id, not a seq).
type RowKey = (String, String, String);

fn key_of_record(r: &FlowRecord) -> RowKey {
    (format!("{:016x}", r.flow_id), r.kind.name().to_string(), r.seq.to_string())
}

/// A CSV table: header and rows of text.
struct CsvTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl CsvTable {
    fn read(path: &Path) -> CsvTable {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header = reader.headers().unwrap().iter().map(str::to_string).collect();
        let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        CsvTable { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no CSV column {name}"))
    }

    fn key(&self, row: &[String]) -> RowKey {
        (row[self.col("flow_id")].clone(), row[self.col("record_kind")].clone(), row[self.col("seq")].clone())
    }

    fn keys(&self) -> Vec<RowKey> {
        let mut keys: Vec<RowKey> = self.rows.iter().map(|r| self.key(r)).collect();
        keys.sort();
        keys
    }
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

fn parquet_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn sorted_keys(records: &[FlowRecord]) -> Vec<RowKey> {
    let mut keys: Vec<RowKey> = records.iter().map(key_of_record).collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------------
// --schema

#[test]
fn printing_commands_stop_quietly_when_the_reader_goes_away() {
    for args in [&["extract", "--schema"][..], &["config", "example"][..]] {
        // The read end of stdout is closed before the sensor writes: every write meets a broken pipe.
        let mut child = std::process::Command::new(sensor_bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn schema_prints_id_hash_and_names() {
    let out = sensor(["extract", "--schema"]);
    assert_status(&out, 0, "extract --schema");
    let text = stdout(&out);
    let mut lines = text.lines();
    let first = lines.next().expect("a schema line");
    let hash = first
        .strip_prefix("# schema flow-v5 sha256:")
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert!(hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{hash}");
    let names: Vec<&str> = lines.collect();
    assert_eq!(names, flow_schema().names.iter().map(String::as_str).collect::<Vec<_>>());
    // The hash is SHA-256 over the schema id and the names, each followed by a newline.
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"flow-v5\n");
    for name in &names {
        h.update(name.as_bytes());
        h.update(b"\n");
    }
    let expected: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, expected);
    assert_eq!(hash, flow_schema().hash);
}

// ---------------------------------------------------------------------------------------------------
// extract → CSV and Parquet

#[test]
fn extract_writes_the_same_rows_to_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("synthetic.pcap");
    synthetic_capture(&pcap, 6_000);
    let (records, summary) = common::cli_records_of(&pcap);
    assert!(summary.capture_error.is_none());
    assert!(records.len() > 100, "the capture should hold many flows, got {}", records.len());

    let csv_path = dir.path().join("flows.csv");
    let out = extract(&pcap, &csv_path, &[]);
    assert_status(&out, 0, "extract to CSV");
    let err = stderr(&out);
    let counts = format!(
        "extract: 6000 packets, 0 undecodable (none), 0 out of time order, {} flows,",
        summary.flow_stats.flows_created
    );
    assert!(err.contains(&counts), "summary line should start with {counts:?}: {err}");
    assert!(err.contains(&format!("wrote {}", csv_path.display())), "{err}");

    let csv = CsvTable::read(&csv_path);
    let expected_header: Vec<&str> =
        ID_COLUMNS.iter().copied().chain(flow_schema().names.iter().map(String::as_str)).collect();
    assert_eq!(csv.header, expected_header);
    assert_eq!(csv.rows.len(), records.len());
    assert_eq!(csv.keys(), sorted_keys(&records), "one CSV row per flow record");

    let pq_path = dir.path().join("flows.parquet");
    let out = extract(&pcap, &pq_path, &[]);
    assert_status(&out, 0, "extract to Parquet");
    assert!(stderr(&out).contains(&counts), "{}", stderr(&out));
    let batches = read_parquet(&pq_path);
    assert_eq!(parquet_rows(&batches), records.len());

    let schema = batches[0].schema();
    let column_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(column_names, expected_header);
    for time in ["start_time", "end_time"] {
        assert_eq!(
            schema.field_with_name(time).unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            "{time}"
        );
    }
    for name in &flow_schema().names {
        assert_eq!(schema.field_with_name(name).unwrap().data_type(), &DataType::Float64, "{name}");
    }

    // Row by row, matched by key: every identifier and every feature equal to the CSV's, times equal
    // to the records' and to the CSV's RFC 3339 text.
    let csv_rows: BTreeMap<RowKey, &Vec<String>> = csv.rows.iter().map(|r| (csv.key(r), r)).collect();
    let starts: BTreeMap<RowKey, (u64, u64)> =
        records.iter().map(|r| (key_of_record(r), (r.start_ns, r.end_ns))).collect();
    let mut compared = 0;
    for batch in &batches {
        let ids: Vec<_> = ID_COLUMNS.iter().map(|c| batch.column_by_name(c).unwrap().clone()).collect();
        let start = batch.column_by_name("start_time").unwrap();
        let start = start.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
        let end = batch.column_by_name("end_time").unwrap();
        let end = end.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
        for row in 0..batch.num_rows() {
            let value = |c: usize| array_value_to_string(&ids[c], row).unwrap();
            let key = (value(0), value(1), value(3));
            let csv_row = csv_rows.get(&key).unwrap_or_else(|| panic!("Parquet row {key:?} is not in the CSV"));
            for (c, name) in ID_COLUMNS.iter().enumerate() {
                if !name.ends_with("_time") {
                    assert_eq!(&value(c), &csv_row[c], "{key:?}: column {name}");
                }
            }
            let (start_ns, end_ns) = starts[&key];
            assert_eq!(start.value(row), start_ns as i64, "{key:?}: start_time");
            assert_eq!(end.value(row), end_ns as i64, "{key:?}: end_time");
            assert_eq!(csv_row[csv.col("start_time")], rfc3339_nanos(start_ns));
            assert_eq!(csv_row[csv.col("end_time")], rfc3339_nanos(end_ns));
            for (i, name) in flow_schema().names.iter().enumerate() {
                let col = batch.column(ID_COLUMNS.len() + i);
                let pq = col.as_any().downcast_ref::<Float64Array>().unwrap().value(row);
                let text = &csv_row[ID_COLUMNS.len() + i];
                let from_csv: f64 = text.parse().unwrap_or_else(|_| panic!("{name}: {text:?} is not a number"));
                assert!(
                    (pq.is_nan() && from_csv.is_nan()) || pq.to_bits() == from_csv.to_bits(),
                    "{key:?}: {name}: Parquet {pq}, CSV {text}"
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, records.len());
    // Missing values are NaN in both: DNS features of TCP flows, for one.
    let dns_col = csv.col("dns_qtype");
    assert!(csv.rows.iter().any(|r| r[dns_col] == "NaN"));
    assert!(csv.rows.iter().any(|r| r[dns_col] == "1"), "the synthetic DNS queries ask for A records");
}

// ---------------------------------------------------------------------------------------------------
// Damaged and wrong inputs

/// Byte offsets of the records of a classic pcap file (little-endian, as the writers here produce).
fn pcap_record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        offsets.push(at);
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len());
    offsets
}

#[test]
fn truncated_capture_exits_3_and_keeps_the_readable_part() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.pcap");
    synthetic_capture(&full, 4_000);
    let bytes = std::fs::read(&full).unwrap();
    let offsets = pcap_record_offsets(&bytes);
    assert_eq!(offsets.len(), 4_000);
    // Cut 20 bytes into the data of record 2000 (0-based): records 0..2000 are readable.
    let cut_at = offsets[2_000];
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..cut_at + 16 + 20]).unwrap();
    let readable = dir.path().join("readable.pcap");
    std::fs::write(&readable, &bytes[..cut_at]).unwrap();
    let (expected, summary) = common::cli_records_of(&readable);
    assert!(summary.capture_error.is_none());

    let csv_path = dir.path().join("cut.csv");
    let out = extract(&cut, &csv_path, &[]);
    assert_status(&out, 3, "extract of a truncated capture");
    let err = stderr(&out);
    assert!(err.contains(&cut.display().to_string()), "stderr should name the file: {err}");
    assert!(err.contains(&format!("byte offset {cut_at}")), "stderr should give the record's offset {cut_at}: {err}");
    assert!(err.contains("extract: 2000 packets,"), "{err}");
    let csv = CsvTable::read(&csv_path);
    assert!(!csv.rows.is_empty());
    assert_eq!(csv.keys(), sorted_keys(&expected), "the rows are the flows of the readable part");
    let packets: f64 = csv
        .rows
        .iter()
        .filter(|r| r[csv.col("record_kind")] == "final")
        .map(|r| r[csv.col("fwd_packets")].parse::<f64>().unwrap() + r[csv.col("bwd_packets")].parse::<f64>().unwrap())
        .sum();
    assert_eq!(packets, 2000.0, "final records account for every readable packet");
}

#[test]
fn a_file_that_is_not_a_capture_exits_1_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.pcap");
    std::fs::write(&notes, "these are meeting notes, not packets\n").unwrap();
    // An existing table at the output path must survive a run that fails.
    let table = dir.path().join("out.csv");
    std::fs::write(&table, "flow_id\nprevious run\n").unwrap();
    let out = extract(&notes, &table, &[]);
    assert_status(&out, 1, "extract of a text file");
    let err = stderr(&out);
    assert!(err.contains(&notes.display().to_string()), "{err}");
    assert!(err.contains("not a pcap or pcapng capture file"), "{err}");
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "flow_id\nprevious run\n", "the old table was overwritten");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no partial file is left behind: {leftovers:?}");
}

#[test]
fn unknown_output_extension_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("small.pcap");
    synthetic_capture(&pcap, 100);
    let json = dir.path().join("x.json");
    let out = extract(&pcap, &json, &[]);
    assert_status(&out, 1, "extract to .json");
    let err = stderr(&out);
    assert!(err.contains("x.json") && err.contains("unknown output format"), "{err}");
    assert!(err.contains(".csv") && err.contains(".parquet"), "the message should name the formats: {err}");
    assert!(!json.exists(), "nothing is written for an unknown format");
}

#[test]
fn missing_pcap_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = sensor([OsStr::new("extract"), OsStr::new("--out"), dir.path().join("o.csv").as_os_str()]);
    assert_status(&out, 2, "extract without --pcap");
    let err = stderr(&out);
    assert!(err.contains("--pcap") && err.contains("Usage"), "{err}");
}

// ---------------------------------------------------------------------------------------------------
// Configuration

#[test]
fn config_with_an_unknown_field_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("small.pcap");
    synthetic_capture(&pcap, 100);
    let config = dir.path().join("sensor.toml");
    std::fs::write(&config, "[flow]\nidle_timeout = 30\n").unwrap();

    let out = extract(&pcap, &dir.path().join("o.csv"), &[OsStr::new("--config"), config.as_os_str()]);
    assert_status(&out, 1, "extract with a bad config");
    let err = stderr(&out);
    assert!(err.contains("idle_timeout") && err.contains(&config.display().to_string()), "{err}");

    let out = sensor([OsStr::new("config"), OsStr::new("check"), config.as_os_str()]);
    assert_status(&out, 1, "config check of a bad config");
    assert!(stderr(&out).contains("unknown field `idle_timeout`"), "{}", stderr(&out));
}

#[test]
fn example_config_passes_check() {
    let out = sensor(["config", "example"]);
    assert_status(&out, 0, "config example");
    let example = stdout(&out);
    assert!(example.contains("[flow]") && example.contains("checkpoint_interval_s"), "{example}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.toml");
    std::fs::write(&path, &example).unwrap();
    let out = sensor([OsStr::new("config"), OsStr::new("check"), path.as_os_str()]);
    assert_status(&out, 0, "config check of the example");
    assert_eq!(stdout(&out), format!("{}: ok\n", path.display()));
}

#[test]
fn config_settings_reach_the_pipeline() {
    // One UDP flow, a datagram every 0.5 s from 0 to 3 s (7 packets).
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("long.pcap");
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut w = PcapWriter::new(File::create(&pcap).unwrap(), LinkType::Ethernet, 65_535, TsResolution::Micro).unwrap();
    let mut frame = Vec::new();
    for k in 0..7u64 {
        ipv4_frame(&mut frame, a, b, k as u16, L4::Udp { src_port: 40_000, dst_port: 9999 }, &[7; 20]);
        w.write_packet(1_700_000_000_000_000_000 + k * 500_000_000, frame.len() as u32, &frame).unwrap();
    }
    w.into_inner().unwrap();

    // Defaults (60 s checkpoints): one final row.
    let plain = dir.path().join("plain.csv");
    assert_status(&extract(&pcap, &plain, &[]), 0, "extract with defaults");
    let csv = CsvTable::read(&plain);
    assert_eq!(csv.rows.len(), 1);
    assert_eq!(csv.rows[0][csv.col("start_time")], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(csv.rows[0][csv.col("end_time")], "2023-11-14T22:13:23.000000000Z");

    // Checkpoints every second: due at 1, 2 and 3 s, each emitted when the packet at that time
    // arrives (before counting it), then the final record.
    let config = dir.path().join("checkpoints.toml");
    std::fs::write(&config, "[flow]\ncheckpoint_interval_s = 1.0\n").unwrap();
    let with = dir.path().join("with.csv");
    let out = extract(&pcap, &with, &[OsStr::new("--config"), config.as_os_str()]);
    assert_status(&out, 0, "extract with checkpoints every second");
    let csv = CsvTable::read(&with);
    let column = |name: &str| csv.rows.iter().map(|r| r[csv.col(name)].clone()).collect::<Vec<_>>();
    assert_eq!(column("record_kind"), ["checkpoint", "checkpoint", "checkpoint", "final"]);
    assert_eq!(column("seq"), ["0", "1", "2", "3"]);
    assert_eq!(column("fwd_packets"), ["2", "4", "6", "7"]);
    let ids = column("flow_id");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

// ---------------------------------------------------------------------------------------------------
// The public lateral-movement captures

/// The one capture of the set that ends one byte into a record header (Wireshark: "cut short in the
/// middle of a packet").
const CUT_SHORT_CAPTURE: &str = "covenant_sharpsc_create_dcerpc_smb_svcctl_2020-08-06022635.cap";

#[test]
fn every_lateral_movement_capture_extracts_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let mut cut_short_seen = false;
    for pcap in common::lateral_movement_captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        let out_path = dir.path().join(format!("{name}.parquet"));
        let out = extract(&pcap, &out_path, &[]);
        let (records, summary) = common::cli_records_of(&pcap);
        if name == CUT_SHORT_CAPTURE {
            cut_short_seen = true;
            assert_status(&out, 3, &name);
            let size = std::fs::metadata(&pcap).unwrap().len();
            let err = stderr(&out);
            assert!(err.contains(&name), "{err}");
            assert!(
                err.contains(&format!("byte offset {}", size - 1)),
                "the last record header starts 1 byte before the end: {err}"
            );
        } else {
            assert_status(&out, 0, &name);
            assert!(summary.capture_error.is_none(), "{name}: {:?}", summary.capture_error);
        }
        let batches = read_parquet(&out_path);
        let rows = parquet_rows(&batches);
        assert!(rows > 0, "{name}: empty table");
        assert_eq!(rows, records.len(), "{name}: one row per flow record");
        assert!(stderr(&out).contains(&format!("extract: {} packets,", summary.packets)), "{name}: {}", stderr(&out));
    }
    assert!(cut_short_seen, "{CUT_SHORT_CAPTURE} is not in the set any more");
}

/// The techniques of the set, as the RPC features see them in the real Windows traffic: a remote
/// execution interface bound or looked up from workstation to workstation (service control, task
/// scheduler, WMI), a file copy to an administrative share, or neither (PowerShell remoting over WinRM,
/// whose port says it). Nothing of the kind reaches the domain controller. The NetBIOS announcement
/// to the subnet's broadcast address is known as a broadcast from its Ethernet destination.
#[test]
fn lateral_movement_captures_show_their_rpc_interfaces_and_admin_shares() {
    let ws = |ip: std::net::IpAddr| ip.to_string().starts_with("172.18.39.") && !ip.to_string().ends_with(".255");
    let schema = flow_schema();
    let col = |r: &FlowRecord, name: &str| r.features[schema.index_of(name).unwrap()];
    let mut broadcasts = 0;
    for pcap in common::lateral_movement_captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        let (records, _) = common::cli_records_of(&pcap);
        let finals: Vec<&FlowRecord> = records.iter().filter(|r| r.kind == sensor::flow::RecordKind::Final).collect();
        let movement = |r: &&&FlowRecord| ws(r.src_ip()) && ws(r.dst_ip()) && r.key.proto == 6;
        let sum = |rs: &mut dyn Iterator<Item = &&FlowRecord>, name: &str| {
            rs.map(|r| col(r, name)).filter(|v| !v.is_nan()).sum::<f64>()
        };
        let exec = sum(&mut finals.iter().filter(movement), "rpc_exec_interfaces");
        let calls = sum(&mut finals.iter().filter(movement), "rpc_exec_calls");
        let shares = sum(&mut finals.iter().filter(movement), "smb_admin_share_connects");
        let to_dc = |r: &&&FlowRecord| r.dst_ip().to_string() == "172.18.38.5";
        assert_eq!(sum(&mut finals.iter().filter(to_dc), "rpc_exec_interfaces"), 0.0, "{name}");
        assert_eq!(sum(&mut finals.iter().filter(to_dc), "rpc_exec_calls"), 0.0, "{name}");
        assert_eq!(sum(&mut finals.iter().filter(to_dc), "smb_admin_share_connects"), 0.0, "{name}");
        // Service control creates and starts a service; the task scheduler registers a task; WMI
        // calls ExecMethod.
        let want = if name.starts_with("covenant_copy_smb") {
            (0.0, 0.0, 1.0)
        } else if name.starts_with("empire_psremoting") {
            (0.0, 0.0, 0.0)
        } else {
            (exec.max(1.0), calls.max(1.0), 0.0)
        };
        assert_eq!((exec, calls, shares), want, "{name}: execution interfaces, execution calls, admin-share connects");
        for r in &finals {
            let to_broadcast = r.dst_ip().to_string() == "172.18.39.255";
            assert_eq!(r.delivery == sensor::decode::Delivery::Broadcast, to_broadcast, "{name}: {:?}", r.dst_ip());
            broadcasts += usize::from(to_broadcast);
        }
    }
    assert!(broadcasts >= 1, "the NetBIOS broadcast of the WMI capture");
}
