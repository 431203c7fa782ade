//! Bounded state: a map with a hard entry cap and eviction of the least recently seen entries, and a
//! stable 64-bit hash for keys.
//!
//! Every piece of behavioural state is keyed by a [`stable_hash`] of its identifiers (addresses,
//! ports, names), so entries are small and fixed-size and the persisted baseline reads back the same
//! on any build. Two keys colliding in 64 bits is as likely as a 2^-64 event per pair of keys.
//!
//! [`BoundedMap`] never holds more than its cap. Inserting into a full map first drops the quarter of
//! entries seen longest ago, ties broken by the smaller key (found in linear time), so the cost per
//! insert stays constant on average, a flood of new keys only ever replaces the stalest state, and
//! which entries go depends on the keys and times alone (a replay evicts the same entries every time).
//! Dropped entries are counted.
//!
//! **Layout.** The entries sit in one array (key, last seen, value; a removed entry's place is taken by
//! the next new one, and eviction closes the gaps) and an open-addressing index (linear probing, at
//! most half full, removal by shifting the probe run back: no tombstones) maps a key to its place. Why not a std/hashbrown map: the context stage looks up several maps per flow, each
//! lookup a likely cache miss; with its own index a map can say where a key's entry will be, so a
//! caller can prefetch the lookups of the next inputs while it works on the current one
//! ([`BoundedMap::prefetch`]). Large arrays are advised for
//! transparent huge pages (a random lookup in a big array otherwise also misses the TLB, a nested page
//! walk in a virtual machine; see [`crate::flow::huge`]).
//!
//! **Reuse.** A map made with [`BoundedMap::recycling`] keeps the values it evicts (their heap memory:
//! a source's peer list, a pair's start times) and hands them, emptied ([`Recycle`]), to the entries it
//! creates next ([`BoundedMap::entry_fresh`]), instead of freeing and allocating again: live entries
//! plus kept values never exceed the cap, so the bound on memory is the one without reuse, and
//! [`BoundedMap::values`] walks both for the memory figures.

use crate::flow::huge::{HugeVec, advise_huge_pages};
use crate::flow::index::prefetch;

/// A hash of `parts`, eight bytes at a time (little-endian words, the tail zero-padded), each word
/// and each part's length folded in with a multiply and a rotation, finished with a SplitMix64 mix.
/// Stable across builds and platforms (the persisted baseline depends on it).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |w: u64| h = (h ^ w).wrapping_mul(K).rotate_left(29);
    for part in parts {
        let mut words = part.chunks_exact(8);
        for w in &mut words {
            eat(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            eat(u64::from_le_bytes(last));
        }
        // The length separates parts, so ("ab", "c") and ("a", "bc") differ.
        eat(part.len() as u64 | 1 << 63);
    }
    mix(h)
}

/// SplitMix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes of an IP address in a fixed 16-byte form (IPv4 mapped into IPv6).
pub fn ip_bytes(ip: std::net::IpAddr) -> [u8; 16] {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// Seconds of packet time, as stored in bounded state (u32 seconds last until 2106).
pub fn secs(ts_ns: u64) -> u32 {
    u32::try_from(ts_ns / 1_000_000_000).unwrap_or(u32::MAX)
}

/// Entries a map can hold at most, whatever cap it is given (entry numbers fit the index's 32 bits).
pub const MAX_ENTRIES: usize = 1 << 31;
/// An unused index position.
const EMPTY: u64 = u64::MAX;
const MIN_INDEX: usize = 16;
/// Entry arrays from this size on are allocated for huge pages.
const HUGE_ARRAY_BYTES: usize = 4 << 20;

/// The 32 bits of a key the index keeps: its home position, and a filter before keys are compared.
#[inline]
fn tag(key: u64) -> u32 {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// An index position's content: the tag above the entry number.
#[inline]
fn index_entry(tag: u32, at: usize) -> u64 {
    (u64::from(tag) << 32) | at as u64
}

/// Which step of a lookup made ahead of time ([`BoundedMap::prefetch`]): first the key's index
/// position, then, once that has arrived, the entry it names, then the heap memory the entry's value
/// points to (the owner of the map knows what that is; the map itself has nothing to load then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Index,
    Entry,
    Heap,
}

/// A value a [`BoundedMap::recycling`] map may keep when its entry is dropped and give to a new one.
pub trait Recycle: Default {
    /// Makes the value equal in behaviour to `Self::default()`, keeping its heap memory.
    fn recycle(&mut self);
}

impl<T> Recycle for Vec<T> {
    fn recycle(&mut self) {
        self.clear();
    }
}

/// A map from stable hashes to values, holding at most `cap` entries.
pub struct BoundedMap<V> {
    /// [`EMPTY`] or an [`index_entry`]; its length is a power of two, at least twice the entries.
    /// Allocated with the first entry (an unused map holds no memory).
    index: Option<HugeVec<u64>>,
    mask: usize,
    /// The entries; `None` where one was removed, until a new entry takes the place (from `free`).
    entries: Vec<Option<Entry<V>>>,
    free: Vec<u32>,
    len: usize,
    /// Values of dropped entries kept for reuse (recycling maps only); `len` + `spare` <= `cap`.
    spare: Vec<V>,
    recycle: bool,
    cap: usize,
    evicted: u64,
}

struct Entry<V> {
    key: u64,
    /// Packet time (seconds) the entry was last touched; the eviction order.
    seen: u32,
    value: V,
}

impl<V> std::fmt::Debug for BoundedMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedMap")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("spare", &self.spare.len())
            .field("evicted", &self.evicted)
            .finish()
    }
}

impl<V> BoundedMap<V> {
    /// A map of at most `cap` entries (at least 1, at most [`MAX_ENTRIES`]).
    pub fn new(cap: usize) -> BoundedMap<V> {
        BoundedMap::build(cap, false)
    }

    fn build(cap: usize, recycle: bool) -> BoundedMap<V> {
        BoundedMap {
            index: None,
            mask: 0,
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            spare: Vec::new(),
            recycle,
            cap: cap.clamp(1, MAX_ENTRIES),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Entries dropped to stay within the cap, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    #[inline]
    fn index(&self) -> &[u64] {
        self.index.as_deref().unwrap_or_default()
    }

    #[inline]
    fn index_mut(&mut self) -> &mut [u64] {
        self.index.as_deref_mut().unwrap_or_default()
    }

    /// (index position, entry number) of `key`.
    #[inline]
    fn find(&self, key: u64) -> Option<(usize, usize)> {
        let index = self.index();
        if index.is_empty() {
            return None;
        }
        let t = tag(key);
        let mut i = t as usize & self.mask;
        loop {
            let e = index[i];
            if e == EMPTY {
                return None;
            }
            let at = e as u32 as usize;
            if (e >> 32) as u32 == t && self.entries[at].as_ref().is_some_and(|e| e.key == key) {
                return Some((i, at));
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        let (_, at) = self.find(key)?;
        self.entries[at].as_ref().map(|e| &e.value)
    }

    /// The value for `key`, marked as seen at `now_s`.
    pub fn get_mut(&mut self, key: u64, now_s: u32) -> Option<&mut V> {
        let (_, at) = self.find(key)?;
        let e = self.entries[at].as_mut()?;
        e.seen = e.seen.max(now_s);
        Some(&mut e.value)
    }

    /// The value for `key` (created with `make` when absent, evicting stale entries if the map is
    /// full), marked as seen at `now_s`. The flag is true when the entry was created.
    pub fn entry(&mut self, key: u64, now_s: u32, make: impl FnOnce() -> V) -> (&mut V, bool) {
        match self.find(key) {
            Some((_, at)) => (self.touch_at(at, key, now_s, make), false),
            None => {
                self.make_room();
                (self.push(key, now_s, make()), true)
            }
        }
    }

    /// The entry at `at` (found for `key`), marked as seen at `now_s`. (`make` would only fill a place
    /// the index names but that holds no entry, which the map never leaves.)
    fn touch_at(&mut self, at: usize, key: u64, now_s: u32, make: impl FnOnce() -> V) -> &mut V {
        let e = self.entries[at].get_or_insert_with(|| Entry { key, seen: now_s, value: make() });
        e.seen = e.seen.max(now_s);
        &mut e.value
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        let (i, at) = self.find(key)?;
        self.unindex(i);
        let e = self.entries[at].take()?;
        self.free.push(at as u32);
        self.len -= 1;
        Some(e.value)
    }

    /// Iterates (key, last seen, value).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32, &V)> {
        self.entries.iter().flatten().map(|e| (e.key, e.seen, &e.value))
    }

    /// Every value held: the entries', then those kept for reuse (for memory figures).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().flatten().map(|e| &e.value).chain(&self.spare)
    }

    /// Puts an entry back as it was saved (used when loading persisted state). Respects the cap.
    pub fn restore(&mut self, key: u64, seen: u32, value: V) {
        if let Some((_, at)) = self.find(key) {
            self.entries[at] = Some(Entry { key, seen, value });
            return;
        }
        self.make_room();
        self.push(key, seen, value);
    }

    /// Starts loading what a lookup of `key` will read (see [`Step`]); changes nothing.
    #[inline]
    pub fn prefetch(&self, key: u64, step: Step) {
        let index = self.index();
        if index.is_empty() {
            return;
        }
        let t = tag(key);
        let mut i = t as usize & self.mask;
        match step {
            Step::Index => {
                prefetch(index.as_ptr().wrapping_add(i));
                return;
            }
            Step::Heap => return,
            Step::Entry => {}
        }
        // The entry the key most likely has: the first on its probe run with its tag.
        loop {
            let e = index[i];
            if e == EMPTY {
                return;
            }
            if (e >> 32) as u32 == t {
                // Both ends of the entry: one of a few cache lines.
                let entry = self.entries.as_ptr().wrapping_add(e as u32 as usize);
                prefetch(entry);
                prefetch(entry.cast::<u8>().wrapping_add(std::mem::size_of::<Option<Entry<V>>>() - 1));
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Heap bytes held, approximately: the index, the entry array and the kept values (their own heap
    /// memory is the caller's to add, see [`BoundedMap::values`]).
    pub fn table_bytes(&self) -> usize {
        self.index.as_ref().map_or(0, HugeVec::memory_bytes)
            + self.entries.capacity() * std::mem::size_of::<Option<Entry<V>>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.spare.capacity() * std::mem::size_of::<V>()
    }

    /// Evicts if the map is full, so that one entry can be added.
    fn make_room(&mut self) {
        if self.len >= self.cap {
            self.evict_stalest();
        }
    }

    /// Adds an entry for `key` (absent, and the map not full) in a free place or a new one.
    fn push(&mut self, key: u64, seen: u32, value: V) -> &mut V {
        if (self.len + 1) * 2 > self.index().len() {
            self.rebuild_index((self.index().len() * 2).max(MIN_INDEX));
        }
        let at = match self.free.pop() {
            Some(at) => at as usize,
            None => {
                if self.entries.len() == self.entries.capacity() {
                    self.grow_entries();
                }
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        self.place(tag(key), at);
        self.len += 1;
        if self.len + self.spare.len() > self.cap {
            // Created without taking a kept value: keep one fewer, so the bound holds.
            self.spare.pop();
        }
        &mut self.entries[at].insert(Entry { key, seen, value }).value
    }

    /// Doubles the entry array, never past the cap; a large one is moved to a fresh allocation advised
    /// for huge pages.
    fn grow_entries(&mut self) {
        let len = self.entries.len();
        let want = (len * 2).max(4).min(self.cap).max(len + 1);
        let bytes = want * std::mem::size_of::<Option<Entry<V>>>();
        if bytes < HUGE_ARRAY_BYTES {
            self.entries.reserve_exact(want - len);
            return;
        }
        let mut grown = Vec::with_capacity(want);
        advise_huge_pages(grown.as_ptr(), bytes);
        grown.append(&mut self.entries);
        self.entries = grown;
    }

    fn place(&mut self, t: u32, at: usize) {
        let mask = self.mask;
        let index = self.index_mut();
        let mut i = t as usize & mask;
        while index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        index[i] = index_entry(t, at);
    }

    /// Empties index position `hole`, shifting later entries of its probe run back.
    fn unindex(&mut self, mut hole: usize) {
        let mask = self.mask;
        let index = self.index_mut();
        let mut j = (hole + 1) & mask;
        loop {
            let e = index[j];
            if e == EMPTY {
                break;
            }
            let home = (e >> 32) as usize & mask;
            // `e` may fill the hole unless its home lies after the hole (cyclically) on the run.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                index[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        index[hole] = EMPTY;
    }

    /// A fresh index of `size` positions (a power of two) over the entries.
    fn rebuild_index(&mut self, size: usize) {
        match &mut self.index {
            Some(index) if index.len() == size => index.fill(EMPTY),
            _ => {
                self.index = Some(HugeVec::from_elem(EMPTY, size));
                self.mask = size - 1;
            }
        }
        for at in 0..self.entries.len() {
            if let Some(e) = &self.entries[at] {
                self.place(tag(e.key), at);
            }
        }
    }

    /// Drops the quarter of entries seen longest ago (at least one), ties broken by the smaller key;
    /// closes the places of removed entries on the way.
    fn evict_stalest(&mut self) {
        let drop = (self.len / 4).max(1);
        let mut order: Vec<(u32, u64)> = self.iter().map(|(key, seen, _)| (seen, key)).collect();
        let (_, &mut last_dropped, _) = order.select_nth_unstable(drop - 1);
        let kept = self.len - drop;
        let BoundedMap { entries, spare, recycle, cap, .. } = self;
        entries.retain(Option::is_some);
        for e in entries.extract_if(.., |e| e.as_ref().is_some_and(|e| (e.seen, e.key) <= last_dropped)).flatten() {
            if *recycle && kept + spare.len() < *cap {
                spare.push(e.value);
            }
        }
        self.free.clear();
        self.len = kept;
        self.evicted += drop as u64;
        self.rebuild_index(self.index().len());
    }
}

impl<V: Recycle> BoundedMap<V> {
    /// A map of at most `cap` entries that reuses the values it drops (see the module doc).
    pub fn recycling(cap: usize) -> BoundedMap<V> {
        BoundedMap::build(cap, true)
    }

    /// As [`BoundedMap::entry`] with `V::default()`, but a created entry takes a kept value, emptied,
    /// when there is one.
    pub fn entry_fresh(&mut self, key: u64, now_s: u32) -> (&mut V, bool) {
        if let Some((_, at)) = self.find(key) {
            return (self.touch_at(at, key, now_s, V::default), false);
        }
        self.make_room();
        let value = match self.spare.pop() {
            Some(mut v) => {
                v.recycle();
                v
            }
            None => V::default(),
        };
        (self.push(key, now_s, value), true)
    }
}

#[cfg(test)]
#[path = "bounded_tests.rs"]
mod tests;
