//! Throughput and memory benchmark of the capture-to-features path (release build).
//!
//! 1. Generates a deterministic synthetic capture (default 1.2 M packets, 50 000 flows in progress at
//!    once) under `target/bench/`, once.
//! 2. Bare read loop: libpcap `next_packet` over the file, touching each header (the floor any pcap
//!    tool pays).
//! 3. Our reader alone, then the full pipeline as the commands run it: read + decode + flow table +
//!    features on this thread, the behavioural context stage on its own thread (records are built,
//!    feature vectors included, and dropped); the same without the context stage, for the time the
//!    stage adds; the same with the stage inline on one thread, for its CPU cost per record; then
//!    `sensor replay`'s path (scoring on a thread of its own as well), with the shipped classifier alone
//!    and with the shipped models as `sensor replay` serves them by default (the anomaly model in shadow
//!    mode: scored, never alerting).
//!
//!    Steps 2 and 3 run in interleaved rounds (default 5) and each reports its best round, so that on
//!    a shared host both loops see the same background noise. Every timing includes opening the file.
//! 4. Memory per tracked flow with one million flows in the table, from the table's own accounting and
//!    from a counting allocator.
//!
//! Run: `cargo bench -p sensor-benches --bench throughput` (env: `BENCH_PACKETS`, `BENCH_FLOWS`,
//! `BENCH_TABLE_FLOWS`, `BENCH_ROUNDS`; for profilers, best of `BENCH_ROUNDS`: `BENCH_ONLY=pipeline`
//! runs the pipeline alone, `BENCH_ONLY=pipeline-bare` the same without the context stage,
//! `BENCH_ONLY=replay` the replay with the classifier, and `BENCH_ONLY=context` times the context stage
//! alone over its recorded inputs, as the context thread applies them, in µs per record, and the share
//! of that spent on the end-of-capture flush;
//! `BENCH_VERBOSE=1` adds the stage's statistics). `BENCH_PCAP=FILE` runs every loop over that capture
//! instead of the synthetic one (a simulated site's, say: the synthetic capture's random addresses keep
//! the context stage's maps at their caps, a site's few hundred hosts do not).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use sensor::alert::ObserverInfo;
use sensor::capture::PcapFileReader;
use sensor::capture::pcap_file::MAX_BATCH;
use sensor::config::Config;
use sensor::context::Context;
use sensor::context::prefetch::apply_ahead;
use sensor::decode::{Delivery, Fragment, PacketMeta, Transport};
use sensor::detect::{Detector, Emit, ScoringThread};
use sensor::flow::{FlowRecord, FlowSink, FlowStart, FlowTable, FlowTableConfig};
use sensor::model::{EMBEDDED, ModelSource, ModelSpec, TrustPolicy, load_set};
use sensor::pipeline::{DEFAULT_MAX_FRAGMENTS, EMPTY_RAW, FlowPipeline, WithContext, run_reader};
use sensor::simulate::synthetic::{SyntheticConfig, write_pcap};

/// Counts heap bytes while [`COUNTING`] is set (only while memory is measured: a counter every
/// allocation of two threads writes would slow the timed loops down).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn capture(packets: u64, flows: usize) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("synthetic-{packets}p-{flows}f-seed7.pcap"));
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let started = Instant::now();
        let cfg = SyntheticConfig { seed: 7, packets, concurrent_flows: flows, ..SyntheticConfig::default() };
        let n = write_pcap(cfg, std::io::BufWriter::new(std::fs::File::create(&tmp)?))?;
        std::fs::rename(&tmp, &path)?;
        let secs = started.elapsed().as_secs_f64();
        println!("generated {} ({n} packets) in {secs:.2} s: {:.0} packets/s", path.display(), n as f64 / secs);
    }
    Ok(path)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> (f64, T)) -> (f64, T) {
    let mut best = f();
    for _ in 1..runs {
        let r = f();
        if r.0 < best.0 {
            best = r;
        }
    }
    best
}

fn bare_libpcap(path: &Path) -> (f64, (u64, u64)) {
    let started = Instant::now();
    let mut cap = pcap::Capture::from_file(path).expect("libpcap opens the capture");
    let (mut n, mut touch) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        n += 1;
        touch = touch.wrapping_add(u64::from(p.header.caplen) ^ p.header.ts.tv_usec as u64);
    }
    (started.elapsed().as_secs_f64(), (n, touch))
}

fn bare_reader(path: &Path) -> (f64, (u64, u64)) {
    let started = Instant::now();
    let mut r = PcapFileReader::open(path).expect("open");
    let (mut n, mut touch) = (0u64, 0u64);
    while let Ok(Some(p)) = r.next_packet() {
        n += 1;
        touch = touch.wrapping_add(p.data.len() as u64 ^ p.ts_ns);
    }
    (started.elapsed().as_secs_f64(), (n, touch))
}

/// Read, decode, flow table, features; with the behavioural context stage on (as configured by
/// default, on its own thread as the commands run it) or off (its features NaN, no state). Records are
/// built, feature vectors included, and dropped.
fn pipeline(path: &Path, flow: FlowTableConfig, context: bool) -> (f64, (u64, u64, u64)) {
    let started = Instant::now();
    let reader = PcapFileReader::open(path).expect("open");
    let mut context = if context {
        Context::new(Config::default().context("defaults").expect("context"))
    } else {
        Context::disabled()
    };
    let mut records = 0u64;
    let summary =
        run_reader(reader, flow, DEFAULT_MAX_FRAGMENTS, &mut context, &mut |_| records += 1, None).expect("run");
    let secs = started.elapsed().as_secs_f64();
    assert!(summary.capture_error.is_none(), "the synthetic capture reads cleanly");
    assert_eq!(summary.drops.total(), 0, "the synthetic capture decodes cleanly");
    (secs, (summary.packets, records, summary.flow_stats.peak_flows))
}

/// Reads the capture through the flow pipeline on this thread, handing everything to `sink`.
fn feed(path: &Path, flow: FlowTableConfig, sink: &mut impl FlowSink) {
    let mut reader = PcapFileReader::open(path).expect("open");
    let mut p = FlowPipeline::new(flow, DEFAULT_MAX_FRAGMENTS).expect("config");
    loop {
        let mut batch = [EMPTY_RAW; MAX_BATCH];
        let k = reader.next_batch(&mut batch).expect("the synthetic capture reads cleanly");
        if k == 0 {
            break;
        }
        p.batch(&batch[..k], sink);
    }
    p.finish(sink);
}

/// The pipeline with the context stage on this thread (one thread in all), for the stage's CPU cost.
fn pipeline_inline(path: &Path, flow: FlowTableConfig) -> (f64, u64) {
    let started = Instant::now();
    let mut context = Context::new(Config::default().context("defaults").expect("context"));
    let mut records = 0u64;
    feed(path, flow, &mut WithContext { context: &mut context, emit: &mut |_| records += 1 });
    (started.elapsed().as_secs_f64(), records)
}

/// Which embedded models a replay serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Models {
    /// The shipped tree classifier alone.
    Classifier,
    /// What `sensor replay` serves without `--model`: the classifier, and the anomaly model in shadow
    /// mode (scored, never alerting).
    Shipped,
}

/// One input of the context stage, recorded (a DNS query's payload copied).
enum StageInput {
    Packet(PacketMeta<'static>, Vec<u8>),
    Start(FlowStart),
    Record(FlowRecord),
}

/// Records what the flow table hands the context stage, in order.
struct Recorder(Vec<StageInput>);

impl FlowSink for Recorder {
    fn packet(&mut self, meta: &PacketMeta<'_>) {
        if Context::wants_packet(meta) {
            self.0.push(StageInput::Packet(PacketMeta { payload: &[], ..*meta }, meta.payload.to_vec()));
        }
    }

    fn started(&mut self, start: &FlowStart) {
        self.0.push(StageInput::Start(*start));
    }

    fn record(&mut self, record: FlowRecord) {
        self.0.push(StageInput::Record(record));
    }
}

/// The context stage alone: its inputs from the capture (the command line's flow settings, so early
/// records too) are recorded once, then each round feeds them to a fresh stage. Returns the best
/// round's seconds and the record count.
fn context_alone(path: &Path, rounds: usize) -> (f64, u64) {
    let flow = Config::default().flow_table("defaults").expect("flow");
    let mut inputs = Recorder(Vec::new());
    feed(path, flow, &mut inputs);
    let mut inputs = inputs.0;
    let records = inputs.iter().filter(|i| matches!(i, StageInput::Record(_))).count() as u64;
    // The end-of-capture flush: the records after the last packet's inputs.
    let flush_from = inputs.iter().rposition(|i| !matches!(i, StageInput::Record(_))).map_or(0, |i| i + 1);
    let mut flush_secs = f64::MAX;
    let (secs, _) = best_of(rounds, || {
        let mut context = Context::new(Config::default().context("defaults").expect("context"));
        let started = Instant::now();
        let mut flush_started = None;
        // In batches of the context thread's size.
        for (b, batch) in inputs.chunks_mut(512).enumerate() {
            if flush_started.is_none() && (b + 1) * 512 > flush_from {
                flush_started = Some(Instant::now());
            }
            apply_ahead(
                &mut context,
                batch,
                |context, input| match input {
                    StageInput::Packet(..) => None,
                    StageInput::Start(start) => Some(context.start_keys(start)),
                    StageInput::Record(record) => Some(context.record_keys(record)),
                },
                |context, input, keys, step| match input {
                    StageInput::Packet(..) => {}
                    StageInput::Start(_) => context.prefetch_start(keys, step),
                    StageInput::Record(record) => context.prefetch_record(record, keys, step),
                },
                |context, input, keys| match (input, keys) {
                    (StageInput::Packet(meta, payload), _) => context.packet(&PacketMeta { payload, ..*meta }),
                    (StageInput::Start(start), Some(keys)) => context.started_with(start, keys),
                    (StageInput::Start(start), None) => context.started(start),
                    (StageInput::Record(record), Some(keys)) => context.enrich_with(record, Some(keys)),
                    (StageInput::Record(record), None) => context.enrich(record),
                },
            );
        }
        let secs = started.elapsed().as_secs_f64();
        if let Some(t) = flush_started {
            flush_secs = flush_secs.min(t.elapsed().as_secs_f64());
        }
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            println!("{}", context.stats().line());
        }
        (secs, ())
    });
    let flush = (inputs.len() - flush_from) as u64;
    println!(
        "of which the end-of-capture flush (from the batch holding its first record): {flush} records, {flush_secs:.3} s ({:.2} us per record)",
        flush_secs * 1e6 / flush.max(1) as f64
    );
    (secs, records)
}

/// `sensor replay` end to end: the pipeline with the command line's flow settings (early records on)
/// on this thread, every record scored by `models` on the scoring thread, alerts through the policy,
/// serialised as JSON lines.
fn replay(path: &Path, models: Models) -> (f64, (u64, u64, u64)) {
    let config = Config::default();
    let trust = TrustPolicy { trusted: config.trusted_keys("defaults").expect("keys"), allow_unsigned: false };
    let specs: Vec<ModelSpec> = EMBEDDED
        .iter()
        .filter(|m| models == Models::Shipped || !m.shadow)
        .map(|m| ModelSpec { source: ModelSource::Embedded(m.name), shadow: m.shadow })
        .collect();
    let set = load_set(&specs, &trust).expect("embedded models load");
    let started = Instant::now();
    let events = Arc::new(AtomicUsize::new(0));
    let sink = {
        let events = events.clone();
        let mut out = std::io::sink();
        move |e: sensor::alert::AlertEvent| {
            serde_json::to_writer(&mut out, &e).expect("sink");
            events.fetch_add(1, Ordering::Relaxed);
        }
    };
    let detector =
        Detector::new(set, config.policy("defaults").expect("policy"), Emit::Alerts, ObserverInfo::this_host("pcap"));
    let mut scoring = ScoringThread::start(detector, sink);
    let flow = config.flow_table("defaults").expect("flow");
    let reader = PcapFileReader::open(path).expect("open");
    let mut context = Context::new(config.context("defaults").expect("context"));
    let summary =
        run_reader(reader, flow, DEFAULT_MAX_FRAGMENTS, &mut context, &mut |r| scoring.record(r), None).expect("run");
    let detector = scoring.finish().expect("scoring");
    let secs = started.elapsed().as_secs_f64();
    (secs, (summary.packets, detector.stats.records, events.load(Ordering::Relaxed) as u64))
}

fn memory_per_flow(flows: u32) -> (f64, f64, usize) {
    let cfg = FlowTableConfig { max_flows: flows as usize, ..FlowTableConfig::default() };
    COUNTING.store(true, Ordering::Relaxed);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut table = FlowTable::new(cfg).expect("config");
    for i in 0..flows {
        let meta = PacketMeta {
            ts_ns: 1_700_000_000_000_000_000 + u64::from(i) * 1000,
            wire_len: 60,
            vlan: 0,
            src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 8))),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            proto: 17,
            ip_len: 46,
            header_len: 28,
            payload_len: 18,
            payload: &[],
            transport: Transport::Udp { src_port: 1024 + (i & 0xff) as u16, dst_port: 9999 },
            fragment: Fragment::None,
            delivery: Delivery::Unicast,
        };
        table.process(&meta, &mut |_| panic!("no flow ends while the table fills"));
    }
    assert_eq!(table.len(), flows as usize);
    let heap = ALLOCATED.load(Ordering::Relaxed) - before;
    COUNTING.store(false, Ordering::Relaxed);
    (table.memory_bytes() as f64 / f64::from(flows), heap as f64 / f64::from(flows), FlowTable::slot_bytes())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let packets = env_u64("BENCH_PACKETS", 1_200_000);
    let flows = env_u64("BENCH_FLOWS", 50_000) as usize;
    let table_flows = env_u64("BENCH_TABLE_FLOWS", 1_000_000) as u32;
    let path = match std::env::var_os("BENCH_PCAP") {
        Some(given) => PathBuf::from(given),
        None => capture(packets, flows)?,
    };
    let size = std::fs::metadata(&path)?.len();
    println!("capture: {} ({:.1} MB)", path.display(), size as f64 / 1e6);

    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("pipeline") => {
            // For profilers: the pipeline alone, several times.
            let (t, (n, _, _)) =
                best_of(env_u64("BENCH_ROUNDS", 5) as usize, || pipeline(&path, FlowTableConfig::default(), true));
            println!("read+decode+flows+features: {:.0} packets/s", n as f64 / t);
            return Ok(());
        }
        Ok("pipeline-bare") => {
            let (t, (n, _, _)) =
                best_of(env_u64("BENCH_ROUNDS", 5) as usize, || pipeline(&path, FlowTableConfig::default(), false));
            println!("read+decode+flows+features, no context: {:.0} packets/s", n as f64 / t);
            return Ok(());
        }
        Ok("context") => {
            // The context stage alone, on recorded inputs.
            let (t, records) = context_alone(&path, env_u64("BENCH_ROUNDS", 5) as usize);
            println!(
                "context stage alone: {:.2} us per record ({records} records, {t:.3} s)",
                t * 1e6 / records as f64
            );
            return Ok(());
        }
        Ok("replay") => {
            // For profilers: replay with the classifier, several times.
            let (t, (n, _, _)) = best_of(env_u64("BENCH_ROUNDS", 5) as usize, || replay(&path, Models::Classifier));
            println!("replay, tree classifier: {:.0} packets/s", n as f64 / t);
            return Ok(());
        }
        _ => {}
    }
    // Interleaved rounds, best of each: on a shared host, both loops then see the same noise.
    let rounds = env_u64("BENCH_ROUNDS", 5);
    let (mut t_bare, mut t_reader, mut t_pipe) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut t_replay_tree, mut t_replay_both) = (f64::MAX, f64::MAX);
    let (mut t_pipe_early, mut records_early) = (f64::MAX, 0);
    let (mut t_pipe_bare, mut t_pipe_inline) = (f64::MAX, f64::MAX);
    let (mut scored, mut events_tree, mut events_both) = (0, 0, 0);
    let (mut n_bare, mut n_reader, mut n_pipe, mut records, mut peak) = (0, 0, 0, 0, 0);
    for _ in 0..rounds {
        let (t, (n, _)) = bare_libpcap(&path);
        (t_bare, n_bare) = (t_bare.min(t), n);
        let (t, (n, _)) = bare_reader(&path);
        (t_reader, n_reader) = (t_reader.min(t), n);
        let (t, (n, r, p)) = pipeline(&path, FlowTableConfig::default(), true);
        (t_pipe, n_pipe, records, peak) = (t_pipe.min(t), n, r, p);
        let (t, _) = pipeline(&path, FlowTableConfig::default(), false);
        t_pipe_bare = t_pipe_bare.min(t);
        let (t, r) = pipeline_inline(&path, FlowTableConfig::default());
        assert_eq!(r, records, "inline and threaded context give the same records");
        t_pipe_inline = t_pipe_inline.min(t);
        let early = Config::default().flow_table("defaults").expect("flow");
        let (t, (_, r, _)) = pipeline(&path, early, true);
        (t_pipe_early, records_early) = (t_pipe_early.min(t), r);
        let (t, (n, s, e)) = replay(&path, Models::Classifier);
        assert_eq!(n, n_pipe, "replay saw every packet");
        (t_replay_tree, scored, events_tree) = (t_replay_tree.min(t), s, e);
        let (t, (_, _, e)) = replay(&path, Models::Shipped);
        (t_replay_both, events_both) = (t_replay_both.min(t), e);
    }
    assert_eq!((n_bare, n_reader), (n_pipe, n_pipe), "every loop saw every packet");

    let pps = |n: u64, t: f64| n as f64 / t;
    println!("bare libpcap read loop:        {:>12.0} packets/s ({t_bare:.3} s)", pps(n_bare, t_bare));
    println!("our reader alone:              {:>12.0} packets/s ({t_reader:.3} s)", pps(n_reader, t_reader));
    println!(
        "read+decode+flows+features:    {:>12.0} packets/s ({t_pipe:.3} s), {records} records, peak {peak} concurrent flows",
        pps(n_pipe, t_pipe)
    );
    let ratio = t_bare / t_pipe;
    println!(
        "ratio pipeline / bare libpcap: {ratio:.2} (target >= 0.70: {})",
        if ratio >= 0.7 { "met" } else { "MISSED" }
    );

    println!(
        "same without context stage:    {:>12.0} packets/s ({t_pipe_bare:.3} s), ratio {:.2}; context adds {:.2} us per record",
        pps(n_pipe, t_pipe_bare),
        t_bare / t_pipe_bare,
        (t_pipe - t_pipe_bare) * 1e6 / records as f64
    );
    println!(
        "same, context inline (1 thread): {:>10.0} packets/s ({t_pipe_inline:.3} s), ratio {:.2}; context costs {:.2} us CPU per record",
        pps(n_pipe, t_pipe_inline),
        t_bare / t_pipe_inline,
        (t_pipe_inline - t_pipe_bare) * 1e6 / records as f64
    );
    println!(
        "same with early records:       {:>12.0} packets/s ({t_pipe_early:.3} s), {records_early} records",
        pps(n_pipe, t_pipe_early)
    );
    println!(
        "replay, tree classifier:       {:>12.0} packets/s ({t_replay_tree:.3} s), {scored} records scored, {events_tree} alerts",
        pps(n_pipe, t_replay_tree)
    );
    let ratio = t_bare / t_replay_tree;
    println!(
        "ratio replay (tree) / bare:    {ratio:.2} (target >= 0.70: {})",
        if ratio >= 0.7 { "met" } else { "MISSED" }
    );
    println!(
        "replay as shipped (+ anomaly model in shadow): {:>10.0} packets/s ({t_replay_both:.3} s), {events_both} alerts; ratio {:.2}",
        pps(n_pipe, t_replay_both),
        t_bare / t_replay_both
    );

    let (accounted, heap, slot) = memory_per_flow(table_flows);
    println!(
        "memory at {table_flows} tracked flows: {accounted:.1} bytes/flow (table accounting), {heap:.1} bytes/flow (heap), slot {slot} bytes (target <= 512: {})",
        if heap <= 512.0 { "met" } else { "MISSED" }
    );
    Ok(())
}
