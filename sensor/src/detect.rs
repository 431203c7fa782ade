//! The scoring stage: flow records → every serving model (batched) → alert policy → events.
//!
//! Records are scored when they are emitted: early (after the first packets), at each checkpoint of a
//! long flow, and at flow end. They are scored in batches; between two batches the stage picks up a
//! model set the reloader has loaded, so each record is scored by exactly one set. Shadow models score
//! and count what they would have alerted, never alert. A batch a model fails to score is counted per
//! model and reported, not dropped silently.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::alert::event::Scored;
use crate::alert::explain::{TOP_FEATURES, explain};
use crate::alert::{AlertEvent, AlertPolicy, EventKind, Hit, ObserverInfo, PolicyConfig, PolicyStats, Ready};
use crate::flow::FlowRecord;
use crate::model::reload::Reloader;
use crate::model::{Model, ModelKind, ModelSet, ScoreError};
use crate::timefmt::rfc3339_nanos;

/// Which events leave the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// Only alerts.
    Alerts,
    /// Every scored record (one event per record and model, `event.kind` = `event`) besides the alerts.
    All,
}

/// Records scored together.
pub const BATCH: usize = 256;

/// What the stage did.
#[derive(Debug, Clone, Default)]
pub struct DetectStats {
    pub records: u64,
    /// Per model name: records scored.
    pub scored: BTreeMap<String, u64>,
    /// Per model name: records a failed inference left unscored.
    pub score_failures: BTreeMap<String, u64>,
    /// Per shadow model name and label: hits that would have been offered to the policy.
    pub shadow_hits: BTreeMap<String, u64>,
    /// Alerts sent without explanation because the explaining inference failed.
    pub explain_failures: u64,
    pub model_swaps: u64,
}

pub struct Detector {
    models: ModelSet,
    reloader: Option<Reloader>,
    policy: AlertPolicy,
    pending: Vec<Arc<FlowRecord>>,
    observer: ObserverInfo,
    emit: Emit,
    now: u64,
    ready: Vec<Ready>,
    keep_spent: bool,
    spent: Vec<Vec<f64>>,
    pub stats: DetectStats,
}

impl Detector {
    pub fn new(models: ModelSet, policy: PolicyConfig, emit: Emit, observer: ObserverInfo) -> Detector {
        Detector {
            models,
            reloader: None,
            policy: AlertPolicy::new(policy),
            pending: Vec::with_capacity(BATCH),
            observer,
            emit,
            now: 0,
            ready: Vec::new(),
            keep_spent: false,
            spent: Vec::new(),
            stats: DetectStats::default(),
        }
    }

    /// Swaps in model sets the reloader loads (between batches).
    pub fn with_reloader(mut self, reloader: Reloader) -> Detector {
        self.reloader = Some(reloader);
        self
    }

    pub fn models(&self) -> &ModelSet {
        &self.models
    }

    pub fn policy_stats(&self) -> &PolicyStats {
        &self.policy.stats
    }

    pub fn reloader(&self) -> Option<&Reloader> {
        self.reloader.as_ref()
    }

    /// Takes one flow record; events go to `sink` when its batch is scored.
    pub fn record(&mut self, record: FlowRecord, sink: &mut impl FnMut(AlertEvent)) {
        self.now = self.now.max(record.end_ns);
        self.pending.push(Arc::new(record));
        if self.pending.len() >= BATCH {
            self.score_pending(sink);
        }
    }

    /// Takes a batch of records that another thread has already scored with `scored.models` (see
    /// [`ScoringThread`]); if the serving set has changed since, the scores are discarded and the batch
    /// is scored again here.
    pub fn record_scored(
        &mut self,
        records: impl IntoIterator<Item = FlowRecord>,
        scored: PreScored,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        self.score_pending(sink);
        for r in records {
            self.now = self.now.max(r.end_ns);
            self.pending.push(Arc::new(r));
        }
        self.score_batch(Some(scored), sink);
    }

    /// Scores what is pending (a live source calls this on a timer so records do not wait for a full
    /// batch).
    pub fn score_pending(&mut self, sink: &mut impl FnMut(AlertEvent)) {
        self.score_batch(None, sink);
    }

    fn score_batch(&mut self, pre: Option<PreScored>, sink: &mut impl FnMut(AlertEvent)) {
        if let Some(set) = self.reloader.as_ref().and_then(Reloader::take) {
            self.models = set;
            self.stats.model_swaps += 1;
        }
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.stats.records += batch.len() as u64;
        let models = self.models.models.clone();
        let serving: Vec<Arc<Model>> = models.iter().map(|s| s.model.clone()).collect();
        let scored = match pre.filter(|p| p.rows == batch.len() && p.scored_by(&serving)) {
            Some(p) => p,
            None => PreScored::compute(&serving, &rows_of(batch.iter().map(|r| &**r))),
        };
        for (serving, result) in models.iter().zip(scored.scores) {
            let model = &serving.model;
            let name = &model.manifest.name;
            let scores = match result {
                Ok(scores) => scores,
                Err(e) => {
                    tracing::error!(error = %e, records = batch.len(), "a batch could not be scored");
                    *self.stats.score_failures.entry(name.clone()).or_default() += batch.len() as u64;
                    continue;
                }
            };
            *self.stats.scored.entry(name.clone()).or_default() += batch.len() as u64;
            let labels = model.width_out();
            let thresholds: Vec<Option<f32>> =
                model.manifest.labels.iter().map(|l| self.policy.threshold(model, l)).collect();
            for (i, record) in batch.iter().enumerate() {
                let row = &scores[i * labels..(i + 1) * labels];
                if self.emit == Emit::All {
                    sink(self.scored_event(record, model, row, &thresholds, serving.shadow));
                }
                for (label_index, (&score, threshold)) in row.iter().zip(&thresholds).enumerate() {
                    let Some(threshold) = *threshold else { continue };
                    if score < threshold {
                        continue;
                    }
                    if serving.shadow {
                        let key = format!("{name}/{}", model.manifest.labels[label_index]);
                        *self.stats.shadow_hits.entry(key).or_default() += 1;
                        continue;
                    }
                    let hit = Hit { record: record.clone(), model: model.clone(), label_index, score, threshold };
                    self.policy.offer(hit, self.now, &mut self.ready);
                }
            }
        }
        self.policy.advance(self.now, &mut self.ready);
        self.send_ready(sink);
        self.pending = self.recycle(batch);
    }

    /// Empties a scored batch for reuse. With recycling on, the feature vectors of records no alert
    /// holds are kept for [`Detector::take_spent`] instead of freed here.
    fn recycle(&mut self, mut batch: Vec<Arc<FlowRecord>>) -> Vec<Arc<FlowRecord>> {
        if self.keep_spent {
            for r in batch.drain(..) {
                if let Ok(r) = Arc::try_unwrap(r) {
                    self.spent.push(r.features);
                }
            }
        }
        batch.clear();
        batch
    }

    /// Feature vectors of scored records, for the thread that allocated them to free (see
    /// [`ScoringThread`]).
    pub fn take_spent(&mut self) -> Vec<Vec<f64>> {
        std::mem::take(&mut self.spent)
    }

    /// Scores what is pending and sends every open alert (end of input).
    pub fn finish(&mut self, sink: &mut impl FnMut(AlertEvent)) {
        self.score_pending(sink);
        self.policy.flush(&mut self.ready);
        self.send_ready(sink);
    }

    fn send_ready(&mut self, sink: &mut impl FnMut(AlertEvent)) {
        for ready in std::mem::take(&mut self.ready) {
            let hit = &ready.best;
            let mut event = AlertEvent::new(
                Scored {
                    record: &hit.record,
                    model: &hit.model,
                    label: hit.label(),
                    score: hit.score,
                    severity: severity(hit.model.manifest.kind, hit.score, hit.threshold),
                    kind: EventKind::Alert,
                },
                &self.observer,
            );
            match explain(&hit.model, &hit.record.features, hit.label_index, TOP_FEATURES) {
                Ok(contributions) => event.ml.explanation = contributions,
                Err(e) => {
                    tracing::warn!(error = %e, "alert sent without explanation");
                    self.stats.explain_failures += 1;
                }
            }
            event.aggregation = Some(crate::alert::event::Aggregation {
                count: ready.count,
                first_seen: rfc3339_nanos(ready.first_ns),
                last_seen: rfc3339_nanos(ready.last_ns),
                flow_ids: ready.flow_ids.iter().map(|id| format!("{id:016x}")).collect(),
            });
            sink(event);
        }
    }

    fn scored_event(
        &self,
        record: &FlowRecord,
        model: &Arc<Model>,
        row: &[f32],
        thresholds: &[Option<f32>],
        shadow: bool,
    ) -> AlertEvent {
        let labels = &model.manifest.labels;
        // The label shown is the highest-scoring label that can alert (or the top label if none can).
        let best = (0..labels.len())
            .filter(|&i| thresholds[i].is_some())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .or_else(|| (0..labels.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])))
            .unwrap_or(0);
        let mut event = AlertEvent::new(
            Scored {
                record,
                model,
                label: &labels[best],
                score: row[best],
                severity: thresholds[best].map_or(0, |t| severity(model.manifest.kind, row[best], t)),
                kind: EventKind::Event,
            },
            &self.observer,
        );
        event.ml.scores = Some(labels.iter().cloned().zip(row.iter().copied()).collect());
        event.ml.shadow = shadow;
        event.threat = None;
        event
    }
}

/// Severity 0–100: a classifier's probability in percent; an anomaly score as 50 at its threshold,
/// 100 at twice the threshold.
pub fn severity(kind: ModelKind, score: f32, threshold: f32) -> u8 {
    let s = match kind {
        ModelKind::Classifier => score * 100.0,
        ModelKind::Anomaly if threshold > 0.0 => 50.0 * score / threshold,
        ModelKind::Anomaly => 100.0,
    };
    if s.is_nan() { 0 } else { s.round().clamp(0.0, 100.0) as u8 }
}

/// The scores of a batch, one result per model of `models` (row-major, labels per row).
pub struct PreScored {
    pub models: Vec<Arc<Model>>,
    pub rows: usize,
    pub scores: Vec<Result<Vec<f32>, ScoreError>>,
}

impl PreScored {
    /// Scores `rows` (feature vectors in record order) with `models`: pure inference, any thread.
    pub fn compute(models: &[Arc<Model>], rows: &[&[f64]]) -> PreScored {
        let scores = models
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                m.score_into(rows, &mut out).map(|()| out)
            })
            .collect();
        PreScored { models: models.to_vec(), rows: rows.len(), scores }
    }

    /// Whether these scores come from exactly the models `serving` (the same loaded instances).
    fn scored_by(&self, serving: &[Arc<Model>]) -> bool {
        self.models.len() == serving.len() && self.models.iter().zip(serving).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

fn rows_of<'a>(records: impl Iterator<Item = &'a FlowRecord>) -> Vec<&'a [f64]> {
    records.map(|r| r.features.as_slice()).collect()
}

/// The scoring stage on a thread of its own, so capture and flow tracking (one core) and scoring (the
/// other) overlap. Records travel in batches through a bounded queue: when scoring falls behind, the
/// capture side waits (back-pressure) instead of queueing without bound. Memory goes back the other
/// way: emptied batches and the feature vectors of scored records return to the capture thread, which
/// allocated them, to be reused or freed there (freeing them on the scoring thread made the
/// allocator hand the capture thread fresh pages for every record).
///
/// When the queue is full, the capture side would only wait; it runs the models on its batches itself
/// instead and keeps them in order in a short backlog (inference is pure; the policy stays on the
/// scoring thread, in order), so a burst of records — the flows still open at the end of a capture —
/// is scored on both cores. It uses the models that served when the thread started; after a reload its
/// scores no longer match and the scoring thread scores those batches again.
pub struct ScoringThread {
    queue: Option<std::sync::mpsc::SyncSender<(Vec<FlowRecord>, Option<PreScored>)>>,
    models: Vec<Arc<Model>>,
    /// Batches scored here, waiting (in order) for room in the queue; at most `QUEUE_BATCHES` + 1.
    backlog: std::collections::VecDeque<(Vec<FlowRecord>, Option<PreScored>)>,
    returns: std::sync::mpsc::Receiver<(Vec<FlowRecord>, Vec<Vec<f64>>)>,
    batch: Vec<FlowRecord>,
    spare_batches: Vec<Vec<FlowRecord>>,
    thread: Option<std::thread::JoinHandle<Detector>>,
}

/// Batches queued between the two sides.
const QUEUE_BATCHES: usize = 16;

impl ScoringThread {
    /// Starts `detector` on its own thread; its events go to `sink` there.
    pub fn start(mut detector: Detector, mut sink: impl FnMut(AlertEvent) + Send + 'static) -> ScoringThread {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<FlowRecord>, Option<PreScored>)>(QUEUE_BATCHES);
        let models: Vec<Arc<Model>> = detector.models().models.iter().map(|s| s.model.clone()).collect();
        let (ret_tx, returns) = std::sync::mpsc::channel();
        detector.keep_spent = true;
        let thread = std::thread::Builder::new()
            .name("scoring".into())
            .spawn(move || {
                for (mut batch, pre) in rx {
                    match pre {
                        Some(pre) => detector.record_scored(batch.drain(..), pre, &mut sink),
                        None => {
                            for r in batch.drain(..) {
                                detector.record(r, &mut sink);
                            }
                        }
                    }
                    // The capture side may have finished and stopped listening: then free here.
                    let _ = ret_tx.send((batch, detector.take_spent()));
                }
                detector.finish(&mut sink);
                detector.keep_spent = false;
                detector.spent.clear();
                detector
            })
            .expect("spawning the scoring thread");
        ScoringThread {
            queue: Some(tx),
            models,
            backlog: std::collections::VecDeque::new(),
            returns,
            batch: Vec::with_capacity(BATCH),
            spare_batches: Vec::new(),
            thread: Some(thread),
        }
    }

    /// Queues one record (sent on when a batch is full).
    pub fn record(&mut self, r: FlowRecord) {
        self.batch.push(r);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        // What the scoring thread is done with: batches to reuse, feature vectors to free on the thread
        // that allocated them (bounded: at most what is in flight).
        while let Ok((batch, spent)) = self.returns.try_recv() {
            if self.spare_batches.len() < QUEUE_BATCHES {
                self.spare_batches.push(batch);
            }
            drop(spent);
        }
        let next = self.spare_batches.pop().unwrap_or_else(|| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        if self.queue.is_none() {
            return;
        }
        // Behind the scoring thread (queue full, or batches already waiting here): score this batch
        // here and keep it in order behind the others.
        if self.backlog.is_empty() {
            match self.try_send((batch, None)) {
                None => return,
                Some((batch, _)) => self.score_ahead(batch),
            }
        } else {
            self.score_ahead(batch);
        }
        while let Some(work) = self.backlog.pop_front() {
            if let Some(work) = self.try_send(work) {
                self.backlog.push_front(work);
                break;
            }
        }
        if self.backlog.len() > QUEUE_BATCHES
            && let (Some(q), Some(work)) = (&self.queue, self.backlog.pop_front())
        {
            let _ = q.send(work);
        }
    }

    fn score_ahead(&mut self, batch: Vec<FlowRecord>) {
        let pre = (batch.len() == BATCH).then(|| PreScored::compute(&self.models, &rows_of(batch.iter())));
        self.backlog.push_back((batch, pre));
    }

    /// Sends without waiting; gives the work back when the queue is full. A closed queue (the scoring
    /// thread died) swallows it; `finish` reports that.
    fn try_send(&mut self, work: (Vec<FlowRecord>, Option<PreScored>)) -> Option<(Vec<FlowRecord>, Option<PreScored>)> {
        let q = self.queue.as_ref()?;
        match q.try_send(work) {
            Ok(()) | Err(std::sync::mpsc::TrySendError::Disconnected(_)) => None,
            Err(std::sync::mpsc::TrySendError::Full(work)) => Some(work),
        }
    }

    /// Sends what is left, waits for the scoring thread to finish everything, returns the detector
    /// (for its statistics).
    pub fn finish(mut self) -> anyhow::Result<Detector> {
        self.flush();
        if let Some(q) = &self.queue {
            for work in self.backlog.drain(..) {
                let _ = q.send(work);
            }
        }
        self.queue = None;
        let thread = self.thread.take().expect("finish runs once");
        thread.join().map_err(|_| anyhow::anyhow!("the scoring thread panicked"))
    }
}
