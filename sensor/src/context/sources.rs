//! Short-term behaviour per source address over sliding windows of packet time: the peers it reached
//! (any port, admin ports, new internal peers), how its flows ended (failed or not), and for internal
//! hosts the bytes they exchanged with external peers.
//!
//! Per source: at most `max_peers` peers are tracked (a scan beyond that saturates the counts at the
//! cap: the features read "at least this many"); flow outcomes in five one-minute buckets; bytes in
//! one-minute buckets over the last hour, one per minute with traffic (internal hosts with external
//! traffic only). Sources are bounded by [`BoundedMap`]; the stalest are forgotten first.

use std::collections::VecDeque;

use super::bounded::{BoundedMap, Recycle};
use crate::flow::index::prefetch;

pub const FIVE_MIN_S: u32 = 300;
pub const HOUR_S: u32 = 3600;
const OUTCOME_BUCKETS: usize = 5;
const BYTE_BUCKETS: usize = 60;

/// One peer of a source. Times are packet seconds; 0 means never.
#[derive(Debug, Clone, Copy)]
struct Peer {
    dst: u32,
    last_any: u32,
    last_admin: u32,
    /// When the source first reached this peer while it was new to the baseline (internal peers only).
    new_at: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct OutcomeBucket {
    minute: u32,
    ended: u32,
    failed: u32,
}

/// Distinct peers of a source within the windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    pub admin_5m: u32,
    pub admin_1h: u32,
    pub any_5m: u32,
    pub new_5m: u32,
    pub new_1h: u32,
}

/// What one source did recently.
#[derive(Debug, Clone, Default)]
pub struct SourceWindow {
    peers: Vec<Peer>,
    outcomes: [OutcomeBucket; OUTCOME_BUCKETS],
}

/// How a flow's start relates to its source's peers.
#[derive(Debug, Clone, Copy)]
pub struct PeerContact {
    /// Stable hash of the destination address.
    pub dst: u64,
    pub admin: bool,
    /// The destination is internal and new to the baseline for this source.
    pub new_internal: bool,
}

impl Recycle for SourceWindow {
    fn recycle(&mut self) {
        self.peers.clear();
        self.outcomes = Default::default();
    }
}

impl SourceWindow {
    pub fn contact(&mut self, c: PeerContact, now_s: u32, max_peers: usize) {
        let dst = c.dst as u32;
        let i = match self.peers.iter().position(|p| p.dst == dst) {
            Some(i) => i,
            None => {
                if self.peers.len() >= max_peers {
                    let cutoff = now_s.saturating_sub(HOUR_S);
                    self.peers.retain(|p| p.last_any >= cutoff);
                }
                if self.peers.len() >= max_peers {
                    let (oldest, _) =
                        self.peers.iter().enumerate().min_by_key(|(_, p)| p.last_any).expect("peers is full");
                    self.peers.swap_remove(oldest);
                }
                self.peers.push(Peer { dst, last_any: 0, last_admin: 0, new_at: 0 });
                self.peers.len() - 1
            }
        };
        let p = &mut self.peers[i];
        p.last_any = p.last_any.max(now_s);
        if c.admin {
            p.last_admin = p.last_admin.max(now_s);
        }
        if c.new_internal && p.new_at == 0 {
            p.new_at = now_s.max(1);
        }
    }

    /// Starts loading the first of its peers (the start of the list every contact and count reads).
    pub fn prefetch_peers(&self) {
        prefetch(self.peers.as_ptr());
    }

    /// A flow of this source ended; `failed` when it was refused, reset or unanswered.
    pub fn ended(&mut self, failed: bool, now_s: u32) {
        let minute = now_s / 60;
        let b = &mut self.outcomes[minute as usize % OUTCOME_BUCKETS];
        if b.minute != minute {
            *b = OutcomeBucket { minute, ended: 0, failed: 0 };
        }
        b.ended += 1;
        b.failed += u32::from(failed);
    }

    /// All peer counts at `now_s`, in one pass over the peers.
    pub fn counts(&self, now_s: u32) -> PeerCounts {
        let (short, hour) = (now_s.saturating_sub(FIVE_MIN_S), now_s.saturating_sub(HOUR_S));
        let within = |t: u32, cutoff: u32| u32::from(t != 0 && t >= cutoff);
        let mut c = PeerCounts::default();
        for p in &self.peers {
            c.admin_5m += within(p.last_admin, short);
            c.admin_1h += within(p.last_admin, hour);
            c.any_5m += within(p.last_any, short);
            c.new_5m += within(p.new_at, short);
            c.new_1h += within(p.new_at, hour);
        }
        c
    }

    /// (flows ended, failed) in the last five minutes (whole minutes, the current one included).
    pub fn outcomes_5m(&self, now_s: u32) -> (u32, u32) {
        let now_min = now_s / 60;
        self.outcomes
            .iter()
            .filter(|b| b.minute + (OUTCOME_BUCKETS as u32) > now_min && b.minute <= now_min)
            .fold((0, 0), |(e, f), b| (e + b.ended, f + b.failed))
    }

    pub fn heap_bytes(&self) -> usize {
        self.peers.capacity() * std::mem::size_of::<Peer>()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ByteBucket {
    minute: u32,
    sent: u64,
    received: u64,
}

/// Bytes an internal host exchanged with external peers, per minute over the last hour: one bucket per
/// minute the host was active, oldest first. Minutes come in order (the stage's clock never goes back);
/// a new minute drops the buckets that have left the hour, so a host keeps at most sixty, and a host
/// seen in one or two minutes (most of a busy link's hosts) keeps one or two instead of a ring of sixty.
#[derive(Debug, Clone, Default)]
pub struct HostBytes {
    buckets: VecDeque<ByteBucket>,
}

impl Recycle for HostBytes {
    fn recycle(&mut self) {
        self.buckets.clear();
    }
}

impl HostBytes {
    pub fn add(&mut self, sent: u64, received: u64, now_s: u32) {
        let minute = now_s / 60;
        let at = match self.buckets.back() {
            Some(b) if b.minute == minute => self.buckets.len() - 1,
            // Not reached (the clock is monotonic); kept in order all the same.
            Some(b) if b.minute > minute => self.buckets.partition_point(|b| b.minute < minute),
            _ => {
                while self.buckets.front().is_some_and(|b| b.minute + BYTE_BUCKETS as u32 <= minute) {
                    self.buckets.pop_front();
                }
                self.buckets.len()
            }
        };
        if self.buckets.get(at).is_none_or(|b| b.minute != minute) {
            self.buckets.insert(at, ByteBucket { minute, sent: 0, received: 0 });
        }
        let b = &mut self.buckets[at];
        b.sent += sent;
        b.received += received;
    }

    /// Starts loading the newest bucket (the one the next [`HostBytes::add`] of this minute updates).
    pub fn prefetch_minute(&self) {
        if let Some(b) = self.buckets.back() {
            prefetch(b);
        }
    }

    /// (sent in the last 10 minutes, sent and received in the last hour), in one pass over the buckets.
    pub fn windows_10m_1h(&self, now_s: u32) -> (u64, u64, u64) {
        let now_min = now_s / 60;
        let mut out = (0, 0, 0);
        for b in &self.buckets {
            if b.minute <= now_min && b.minute + BYTE_BUCKETS as u32 > now_min {
                if b.minute + 10 > now_min {
                    out.0 += b.sent;
                }
                out.1 += b.sent;
                out.2 += b.received;
            }
        }
        out
    }

    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<ByteBucket>()
    }
}

/// All sources' windows, bounded.
#[derive(Debug)]
pub struct Sources {
    pub windows: BoundedMap<SourceWindow>,
    pub bytes: BoundedMap<HostBytes>,
    pub max_peers: usize,
}

impl Sources {
    pub fn new(max_sources: usize, max_peers: usize) -> Sources {
        Sources {
            windows: BoundedMap::recycling(max_sources),
            bytes: BoundedMap::recycling(max_sources),
            max_peers: max_peers.max(1),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.windows.table_bytes()
            + self.windows.values().map(SourceWindow::heap_bytes).sum::<usize>()
            + self.bytes.table_bytes()
            + self.bytes.values().map(HostBytes::heap_bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(dst: u64, admin: bool) -> PeerContact {
        PeerContact { dst, admin, new_internal: admin }
    }

    #[test]
    fn windows_count_distinct_peers_and_slide() {
        let mut w = SourceWindow::default();
        for d in 0..50 {
            w.contact(contact(d, true), 1000 + d as u32, 256);
        }
        w.contact(contact(7, true), 1060, 256);
        let c = w.counts(1060);
        assert_eq!((c.admin_5m, c.admin_1h, c.any_5m, c.new_5m, c.new_1h), (50, 50, 50, 50, 50));
        // Ten minutes on, no admin contact falls within the last five minutes; all within the hour.
        let c = w.counts(1000 + 600);
        assert_eq!((c.admin_5m, c.admin_1h, c.new_1h), (0, 50, 50));
        assert_eq!(w.counts(1000 + 3600 + 61), PeerCounts::default());
    }

    #[test]
    fn peer_cap_saturates_counts() {
        let mut w = SourceWindow::default();
        for d in 0..1000 {
            w.contact(contact(d, false), 5000, 64);
        }
        assert_eq!(w.counts(5000).any_5m, 64);
        assert!(w.peers.len() <= 64);
    }

    #[test]
    fn outcomes_cover_five_minutes() {
        let mut w = SourceWindow::default();
        for i in 0..10 {
            w.ended(i % 2 == 0, 600 + i * 30);
        }
        assert_eq!(w.outcomes_5m(600 + 9 * 30), (10, 5));
        // Seven minutes on, the first minutes have left the window.
        let (ended, _) = w.outcomes_5m(600 + 7 * 60);
        assert!(ended < 10);
        assert_eq!(w.outcomes_5m(600 + 20 * 60), (0, 0));
    }

    #[test]
    fn host_bytes_windows() {
        let mut h = HostBytes::default();
        h.add(1000, 10, 60 * 100);
        h.add(500, 5, 60 * 105);
        assert_eq!(h.windows_10m_1h(60 * 170), (0, 0, 0));
        assert_eq!(h.windows_10m_1h(60 * 105), (1500, 1500, 15));
        assert_eq!(h.windows_10m_1h(60 * 114), (500, 1500, 15));
        assert_eq!(h.windows_10m_1h(60 * 115), (0, 1500, 15));
    }

    #[test]
    fn a_reused_window_reads_as_a_fresh_one() {
        let mut used = SourceWindow::default();
        for d in 0..40 {
            used.contact(contact(d, d % 2 == 0), 1000 + d as u32, 256);
            used.ended(d % 3 == 0, 1000 + d as u32);
        }
        used.recycle();
        let mut fresh = SourceWindow::default();
        for w in [&mut used, &mut fresh] {
            w.contact(contact(3, true), 1010, 256);
            w.ended(true, 1010);
        }
        assert_eq!(used.counts(1010), fresh.counts(1010));
        assert_eq!(used.outcomes_5m(1010), fresh.outcomes_5m(1010));
        assert_eq!(used.counts(1010).any_5m, 1);
        assert_eq!(used.outcomes_5m(1010), (1, 1));
    }

    #[test]
    fn host_bytes_keep_a_bucket_per_active_minute_of_the_hour() {
        let mut h = HostBytes::default();
        h.add(1, 1, 60 * 50);
        h.add(2, 2, 60 * 50 + 59);
        assert_eq!(h.buckets.len(), 1);
        // A host busy every minute for ten hours keeps the last hour's sixty minutes.
        for m in 0..600u32 {
            h.add(u64::from(m), 1, 60 * (100 + m));
        }
        assert_eq!(h.buckets.len(), 60);
        let sent_1h: u64 = (540..600).sum();
        let sent_10m: u64 = (590..600).sum();
        assert_eq!(h.windows_10m_1h(60 * 699), (sent_10m, sent_1h, 60));
        // An hour and a minute of silence, then one minute: the old buckets go.
        h.add(5, 6, 60 * 761);
        assert_eq!(h.buckets.len(), 1);
        assert_eq!(h.windows_10m_1h(60 * 761), (5, 5, 6));
    }

    #[test]
    fn host_bytes_out_of_order_land_in_their_own_minute() {
        let mut h = HostBytes::default();
        for m in [10u32, 14, 12, 14, 10] {
            h.add(u64::from(m), 1, 60 * m);
        }
        let minutes: Vec<(u32, u64)> = h.buckets.iter().map(|b| (b.minute, b.sent)).collect();
        assert_eq!(minutes, [(10, 20), (12, 12), (14, 28)]);
        assert_eq!(h.windows_10m_1h(60 * 14), (60, 60, 5));
    }

    #[test]
    fn a_reused_byte_window_reads_as_a_fresh_one() {
        let mut used = HostBytes::default();
        for m in 0..120u32 {
            used.add(u64::from(m) * 100, 7, 60 * (1000 + m));
        }
        used.recycle();
        let mut fresh = HostBytes::default();
        // Minutes whose buckets the old ring wrote, at the same minute numbers: nothing may carry over.
        for h in [&mut used, &mut fresh] {
            h.add(5, 1, 60 * 1119);
            h.add(6, 2, 60 * 1125);
        }
        for now in [1119u32, 1125, 1130, 1180, 1200] {
            assert_eq!(used.windows_10m_1h(60 * now), fresh.windows_10m_1h(60 * now), "minute {now}");
        }
        assert_eq!(used.windows_10m_1h(60 * 1125), (11, 11, 3));
    }
}
