//! The flow index: flow-key hash → slot number, open addressing with linear probing.
//!
//! Each entry is a `u64`: the low 32 bits of the key's hash above the slot number. A probe compares a
//! slot's key only when those 32 bits match, and the table can move entries (growth, removal) from the
//! stored bits alone, without touching slots. At most half of the entries are used (the table doubles
//! before passing that); a removal shifts later entries of its run back (no tombstones), so probe runs
//! stay short under churn. At one million flows the index costs about 17 bytes per flow.
//!
//! Why not a std/hashbrown map: the flow table looks packets up in batches and prefetches the index
//! entry of a packet some packets ahead, then the slot that entry names; that needs the entry's
//! address, which those maps do not give.

use super::huge::HugeVec;

/// Slot numbers must stay below this.
pub const MAX_SLOTS: u32 = 1 << 30;
const EMPTY: u64 = u64::MAX;
const MIN_CAPACITY: usize = 1024;

#[inline]
fn entry(hash: u64, slot: u32) -> u64 {
    (hash << 32) | u64::from(slot)
}

#[inline]
fn slot_of(e: u64) -> u32 {
    e as u32
}

/// The stored hash bits, which also give the home position.
#[inline]
fn hash_of(e: u64) -> u64 {
    e >> 32
}

/// Issues a prefetch of the cache line holding `ptr` (no effect where the platform has none).
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

pub struct FlowIndex {
    entries: HugeVec<u64>,
    mask: usize,
    len: usize,
}

impl Default for FlowIndex {
    fn default() -> Self {
        FlowIndex { entries: HugeVec::from_elem(EMPTY, MIN_CAPACITY), mask: MIN_CAPACITY - 1, len: 0 }
    }
}

impl FlowIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.entries.memory_bytes()
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash & 0xffff_ffff) as usize & self.mask
    }

    #[inline]
    pub fn prefetch(&self, hash: u64) {
        prefetch(self.entries.as_ptr().wrapping_add(self.home(hash)));
    }

    /// The first slot on `hash`'s probe run whose stored hash bits match, without comparing keys: the
    /// slot a lookup will almost surely land on, worth prefetching.
    #[inline]
    pub fn likely_slot(&self, hash: u64) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// The slot whose key `is_key` accepts, on `hash`'s probe run.
    #[inline]
    pub fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let h = hash & 0xffff_ffff;
        let mut i = self.home(hash);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if hash_of(e) == h && is_key(slot_of(e)) {
                return Some(slot_of(e));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `slot` under `hash` (the caller knows its key is not indexed yet).
    pub fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert!(slot < MAX_SLOTS);
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        self.place(entry(hash, slot));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mut i = self.home(hash_of(e));
        while self.entries[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = e;
    }

    /// Removes `slot`, indexed under `hash`. Later entries of the probe run shift back into the hole.
    pub fn remove(&mut self, hash: u64, slot: u32) {
        let mut hole = self.home(hash);
        loop {
            let e = self.entries[hole];
            assert!(e != EMPTY, "flow index: slot {slot} is not indexed under its hash");
            if slot_of(e) == slot {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let mut j = (hole + 1) & self.mask;
        loop {
            let e = self.entries[j];
            if e == EMPTY {
                break;
            }
            let home = self.home(hash_of(e));
            // `e` may fill the hole unless its home lies cyclically in (hole, j].
            if j.wrapping_sub(home) & self.mask >= j.wrapping_sub(hole) & self.mask {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
    }

    #[cold]
    fn grow(&mut self) {
        let new_len = self.entries.len() * 2;
        let old = std::mem::replace(&mut self.entries, HugeVec::from_elem(EMPTY, new_len));
        self.mask = new_len - 1;
        for &e in old.iter().filter(|&&e| e != EMPTY) {
            self.place(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Hashes chosen to collide a lot: few home positions, and equal stored bits for some keys.
    fn hash_of_key(key: u32) -> u64 {
        u64::from(key % 13) | (u64::from(key % 5) << 8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The index agrees with a HashMap model under random inserts and removals.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..3000), 1..3000)) {
            let mut index = FlowIndex::default();
            let mut slots: HashMap<u32, u32> = HashMap::new(); // slot → key
            let mut model: HashMap<u32, u32> = HashMap::new(); // key → slot
            let mut next_slot = 0u32;
            for (insert, key) in ops {
                let found = index.find(hash_of_key(key), |s| slots[&s] == key);
                prop_assert_eq!(found, model.get(&key).copied());
                match (insert, found) {
                    (true, None) => {
                        slots.insert(next_slot, key);
                        index.insert(hash_of_key(key), next_slot);
                        model.insert(key, next_slot);
                        next_slot += 1;
                    }
                    (false, Some(s)) => {
                        index.remove(hash_of_key(key), s);
                        slots.remove(&s);
                        model.remove(&key);
                    }
                    _ => {}
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for (key, slot) in &model {
                prop_assert_eq!(index.find(hash_of_key(*key), |s| slots[&s] == *key), Some(*slot));
                prop_assert!(index.likely_slot(hash_of_key(*key)).is_some());
            }
        }
    }
}
