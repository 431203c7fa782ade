//! Merges sessions into one time-ordered packet stream, with memory bounded by the sessions in
//! progress: a [`SessionSource`] creates sessions in order of their start times, only when the stream
//! reaches them, and a finished session leaves a [`TruthRecord`] behind.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::session::{Meaning, Session, SessionKey};

/// A session and what it is.
pub struct Spawned {
    pub session: Box<dyn Session>,
    pub meaning: Meaning,
}

/// Produces sessions in order of start time.
pub trait SessionSource {
    /// Start time of the next session(s), None when there are no more.
    fn next_start(&self) -> Option<u64>;
    /// Creates the session(s) starting at [`SessionSource::next_start`] into `out`. Each session's
    /// first packet must be at or after that time.
    fn spawn(&mut self, out: &mut Vec<Spawned>);
}

/// The ground truth of one finished session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRecord {
    pub key: SessionKey,
    pub start_ns: u64,
    pub end_ns: u64,
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    pub meaning: Meaning,
}

struct Active {
    session: Box<dyn Session>,
    meaning: Meaning,
    start: u64,
    last: u64,
    packets: u64,
    bytes: u64,
}

pub struct Scheduler<S: SessionSource> {
    source: S,
    /// (next packet time, tie-breaking sequence, slot)
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Option<Active>>,
    free: Vec<u32>,
    seq: u64,
    spawned: Vec<Spawned>,
}

impl<S: SessionSource> Scheduler<S> {
    pub fn new(source: S) -> Self {
        Scheduler { source, heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), seq: 0, spawned: Vec::new() }
    }

    /// Sessions in progress.
    pub fn active(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    fn schedule(&mut self, slot: u32, ts: u64) {
        self.seq += 1;
        self.heap.push(Reverse((ts, self.seq, slot)));
    }

    /// Writes the next frame into `frame` and returns its time; finished sessions are reported to
    /// `truth`. None when every session has finished.
    pub fn next_frame(&mut self, frame: &mut Vec<u8>, truth: &mut impl FnMut(TruthRecord)) -> Option<u64> {
        loop {
            let next_packet = self.heap.peek().map(|Reverse((ts, _, _))| *ts);
            match (self.source.next_start(), next_packet) {
                (Some(start), p) if p.is_none_or(|p| start <= p) => {
                    self.source.spawn(&mut self.spawned);
                    let mut spawned = std::mem::take(&mut self.spawned);
                    for s in spawned.drain(..) {
                        let Some(ts) = s.session.next_ts() else { continue };
                        let active = Active {
                            session: s.session,
                            meaning: s.meaning,
                            start: ts,
                            last: ts,
                            packets: 0,
                            bytes: 0,
                        };
                        let slot = match self.free.pop() {
                            Some(i) => {
                                self.slots[i as usize] = Some(active);
                                i
                            }
                            None => {
                                self.slots.push(Some(active));
                                (self.slots.len() - 1) as u32
                            }
                        };
                        self.schedule(slot, ts);
                    }
                    self.spawned = spawned;
                }
                (_, None) => return None,
                _ => break,
            }
        }
        let Reverse((_, _, slot)) = self.heap.pop().expect("peeked above");
        let a = self.slots[slot as usize].as_mut().expect("scheduled slots are active");
        let ts = a.session.emit(frame);
        a.last = ts;
        a.packets += 1;
        a.bytes += frame.len() as u64;
        match a.session.next_ts() {
            Some(next) => self.schedule(slot, next),
            None => {
                let a = self.slots[slot as usize].take().expect("active");
                self.free.push(slot);
                truth(TruthRecord {
                    key: a.session.key(),
                    start_ns: a.start,
                    end_ns: a.last,
                    packets: a.packets,
                    bytes: a.bytes,
                    meaning: a.meaning,
                });
            }
        }
        Some(ts)
    }
}
