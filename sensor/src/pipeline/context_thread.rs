//! The behavioural context stage on a thread of its own, behind the flow table.
//!
//! The capture thread reads, decodes and tracks flows (one core); the context stage runs on the other
//! core. Its input is already one ordered stream — the packets it wants (DNS queries,
//! [`Context::wants_packet`]), every flow start, every record — so the capture side appends each to a
//! batch of [`Message`]s in the order the flow table produces them, and the context thread applies each
//! batch to the [`Context`] in that same order. The context thread computes exactly what the inline
//! stage ([`super::WithContext`]) computes, so records, features and [`Context::stats`] are identical.
//!
//! **Records stay in their batch.** The context thread enriches each record in place and sends the
//! whole batch back; the capture side passes its records to `emit` in order and keeps the emptied
//! batch for reuse. So `emit` runs on the caller's thread (it need not be `Send`), and feature vectors
//! are allocated and freed on the same thread: freeing them on another thread made the allocator hand
//! the allocating thread fresh pages (see [`crate::detect::ScoringThread`]). A DNS query's payload is
//! copied into the batch's byte buffer, which is reused as well.
//!
//! **Bounded.** At most [`FeedLimits::in_flight`] batches are with the context thread or on their way
//! back; with all of them out, the capture side waits for the oldest to return (back-pressure), so
//! memory is bounded by the batch count times the batch size (messages, and payload bytes: a batch is
//! sent early when its copied payloads pass [`FeedLimits::payload_bytes`]).
//!
//! **Nothing is lost.** [`run`] sends the last partial batch, waits for every batch to come back and
//! emits its records before it returns. The context thread only stops when the capture side has hung up
//! or when it panics; a panic there is raised again on the caller's thread, as it would have been
//! inline.

use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender, channel};

use super::FlowSink;
use crate::context::Context;
use crate::context::prefetch::apply_ahead;
use crate::decode::PacketMeta;
use crate::flow::{FlowRecord, FlowStart};

/// Batch sizes and the bound on batches out.
#[derive(Debug, Clone, Copy)]
pub(super) struct FeedLimits {
    /// Messages per batch.
    pub messages: usize,
    /// A batch is sent once its copied payloads reach this many bytes.
    pub payload_bytes: usize,
    /// Batches with the context thread or on their way back, at most.
    pub in_flight: usize,
}

impl FeedLimits {
    /// 1,024 messages a batch (about 160 KiB, plus the records' feature vectors), 8 batches out: as many
    /// messages in flight as 512 × 16, with half the batches to hand over (each one a possible wake-up of
    /// the other thread).
    pub const DEFAULT: FeedLimits = FeedLimits { messages: 1024, payload_bytes: 256 << 10, in_flight: 8 };
}

/// One input of the context stage, in flow-table order.
enum Message {
    /// A packet [`Context::packet`] wants; its payload is `payload` of the batch's `payloads`.
    Packet {
        meta: PacketMeta<'static>,
        payload: Range<usize>,
    },
    Start(FlowStart),
    /// Goes out bare and comes back enriched.
    Record(FlowRecord),
}

#[derive(Default)]
struct Batch {
    messages: Vec<Message>,
    payloads: Vec<u8>,
}

/// Runs `body` with a [`FlowSink`] that feeds `context` on a thread of its own; the enriched records
/// reach `emit` on this thread, in order, and all of them have when this returns. Fails only when the
/// thread cannot be started.
pub(super) fn run<E: FnMut(FlowRecord), T>(
    context: &mut Context,
    emit: &mut E,
    limits: FeedLimits,
    body: impl FnOnce(&mut ContextFeed<'_, E>) -> T,
) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let (queue, work) = channel::<Batch>();
        let (done, returns) = channel::<Batch>();
        let worker = std::thread::Builder::new()
            .name("context".into())
            .spawn_scoped(scope, move || apply(context, &work, &done))?;
        let mut feed = ContextFeed {
            emit,
            queue: Some(queue),
            returns,
            filling: Batch::default(),
            spare: Vec::new(),
            in_flight: 0,
            limits,
        };
        let out = body(&mut feed);
        feed.finish();
        match worker.join() {
            Ok(()) => Ok(out),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The context thread: applies each batch in order (prefetching ahead), sends it back.
fn apply(context: &mut Context, work: &Receiver<Batch>, done: &Sender<Batch>) {
    while let Some(mut batch) = next_batch(work) {
        let Batch { messages, payloads } = &mut batch;
        let payloads = &*payloads;
        apply_ahead(
            context,
            messages,
            |context, message| match message {
                Message::Packet { .. } => None,
                Message::Start(start) => Some(context.start_keys(start)),
                Message::Record(record) => Some(context.record_keys(record)),
            },
            |context, message, keys, step| match message {
                Message::Packet { .. } => {}
                Message::Start(_) => context.prefetch_start(keys, step),
                Message::Record(record) => context.prefetch_record(record, keys, step),
            },
            |context, message, keys| match (message, keys) {
                (Message::Packet { meta, payload }, _) => {
                    context.packet(&PacketMeta { payload: &payloads[payload.clone()], ..*meta })
                }
                (Message::Start(start), Some(keys)) => context.started_with(start, keys),
                (Message::Start(start), None) => context.started(start),
                (Message::Record(record), Some(keys)) => context.enrich_with(record, Some(keys)),
                (Message::Record(record), None) => context.enrich(record),
            },
        );
        if done.send(batch).is_err() {
            return;
        }
    }
}

/// How long the context thread polls for the next batch before it sleeps.
const POLL: std::time::Duration = std::time::Duration::from_micros(200);

/// The next batch; `None` once the capture side has hung up. Polls a while before sleeping: waking a
/// sleeping thread costs the sender a system call (and, in a virtual machine, an interrupt to the other
/// processor), once per batch when the stage keeps up. Polling yields the processor, so a scoring
/// thread sharing it still runs.
fn next_batch(work: &Receiver<Batch>) -> Option<Batch> {
    let started = std::time::Instant::now();
    loop {
        match work.try_recv() {
            Ok(batch) => return Some(batch),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            Err(std::sync::mpsc::TryRecvError::Empty) if started.elapsed() < POLL => std::thread::yield_now(),
            Err(std::sync::mpsc::TryRecvError::Empty) => return work.recv().ok(),
        }
    }
}

/// The capture side of the context thread: a [`FlowSink`] that batches the flow table's output.
pub(super) struct ContextFeed<'e, E> {
    emit: &'e mut E,
    /// None once the context thread is gone (it panicked; [`run`] raises that).
    queue: Option<Sender<Batch>>,
    returns: Receiver<Batch>,
    filling: Batch,
    spare: Vec<Batch>,
    in_flight: usize,
    limits: FeedLimits,
}

impl<E: FnMut(FlowRecord)> ContextFeed<'_, E> {
    fn push(&mut self, message: Message) {
        self.filling.messages.push(message);
        if self.filling.messages.len() >= self.limits.messages
            || self.filling.payloads.len() >= self.limits.payload_bytes
        {
            self.send();
        }
    }

    fn send(&mut self) {
        if self.filling.messages.is_empty() {
            return;
        }
        while let Ok(batch) = self.returns.try_recv() {
            self.emit_returned(batch);
        }
        while self.in_flight >= self.limits.in_flight {
            match self.returns.recv() {
                Ok(batch) => self.emit_returned(batch),
                Err(_) => self.lost(),
            }
        }
        let next = self.spare.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.filling, next);
        if let Some(queue) = &self.queue {
            match queue.send(batch) {
                Ok(()) => self.in_flight += 1,
                Err(_) => self.lost(),
            }
        }
    }

    /// The context thread is gone: nothing more is sent or awaited.
    fn lost(&mut self) {
        self.queue = None;
        self.in_flight = 0;
    }

    fn emit_returned(&mut self, mut batch: Batch) {
        self.in_flight -= 1;
        for message in batch.messages.drain(..) {
            if let Message::Record(record) = message {
                (self.emit)(record);
            }
        }
        batch.payloads.clear();
        if self.spare.len() < self.limits.in_flight {
            self.spare.push(batch);
        }
    }

    /// Sends the last batch and emits the records of every batch as it comes back.
    fn finish(&mut self) {
        self.send();
        self.queue = None;
        while self.in_flight > 0 {
            match self.returns.recv() {
                Ok(batch) => self.emit_returned(batch),
                Err(_) => self.lost(),
            }
        }
    }
}

impl<E: FnMut(FlowRecord)> FlowSink for ContextFeed<'_, E> {
    #[inline]
    fn packet(&mut self, meta: &PacketMeta<'_>) {
        if Context::wants_packet(meta) {
            let start = self.filling.payloads.len();
            self.filling.payloads.extend_from_slice(meta.payload);
            let payload = start..self.filling.payloads.len();
            self.push(Message::Packet { meta: PacketMeta { payload: &[], ..*meta }, payload });
        }
    }

    fn started(&mut self, start: &FlowStart) {
        self.push(Message::Start(*start));
    }

    fn record(&mut self, record: FlowRecord) {
        self.push(Message::Record(record));
    }
}

#[cfg(test)]
#[path = "context_thread_tests.rs"]
mod tests;
