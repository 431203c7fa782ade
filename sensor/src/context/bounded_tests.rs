use std::collections::BTreeMap;

use super::*;
use proptest::prelude::*;

#[test]
fn full_map_drops_the_stalest_quarter() {
    let mut m = BoundedMap::new(8);
    for k in 0..8u64 {
        m.entry(k, k as u32, || k);
    }
    // Touch the oldest so it survives.
    m.get_mut(0, 100);
    m.entry(99, 101, || 99);
    assert_eq!(m.len(), 7);
    assert_eq!(m.evicted(), 2);
    assert!(m.get(0).is_some(), "recently touched entry survives");
    assert!(m.get(1).is_none() && m.get(2).is_none(), "the two stalest go");
    assert!(m.get(99).is_some());
}

#[test]
fn ties_in_staleness_go_by_the_smaller_key() {
    let mut m = BoundedMap::new(8);
    // All seen at the same second, inserted in a scrambled key order.
    for k in [50u64, 7, 93, 2, 61, 18, 77, 40] {
        m.entry(k, 5, || ());
    }
    m.entry(1000, 6, || ());
    let mut keys: Vec<u64> = m.iter().map(|(k, _, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec![18, 40, 50, 61, 77, 93, 1000], "2 and 7 go");
}

#[test]
fn hash_is_stable_and_separates_parts() {
    assert_eq!(stable_hash(&[b"10.0.0.1", b"445"]), stable_hash(&[b"10.0.0.1", b"445"]));
    assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    // Pinned: the persisted baseline depends on this value never changing.
    assert_eq!(stable_hash(&[b"sensor"]), 0x9577_b47a_08e3_def3);
}

#[test]
fn removal_keeps_every_other_key_reachable() {
    let mut m = BoundedMap::new(10_000);
    // Keys whose tags crowd few home positions make long probe runs that removal must mend.
    let keys: Vec<u64> = (0..3000u64).map(|i| i.wrapping_mul(0x1000_0000_0000_0001)).collect();
    for (i, &k) in keys.iter().enumerate() {
        m.entry(k, 1, || i);
    }
    for (i, &k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        assert_eq!(m.remove(k), Some(i));
        assert_eq!(m.remove(k), None);
    }
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(m.get(k).copied(), (i % 3 != 0).then_some(i), "key {i}");
    }
    assert_eq!(m.len(), 2000);
}

#[test]
fn a_large_map_keeps_its_entries() {
    // Entries of 1 KiB: the entry array passes the huge-page size and is moved to a fresh one.
    let mut m: BoundedMap<[u8; 1024]> = BoundedMap::new(6000);
    for k in 0..6000u64 {
        m.entry(mix(k), 1, || [k as u8; 1024]);
    }
    assert!(m.table_bytes() >= 6000 * 1024);
    assert!((0..6000u64).all(|k| m.get(mix(k)).is_some_and(|v| v[1023] == k as u8)));
}

#[test]
fn prefetching_changes_nothing() {
    let mut m = BoundedMap::new(64);
    for k in 0..40u64 {
        m.entry(k, 1, || k);
    }
    for k in 0..80u64 {
        m.prefetch(k, Step::Index);
        m.prefetch(k, Step::Entry);
    }
    assert_eq!(m.len(), 40);
    assert!((0..40u64).all(|k| m.get(k) == Some(&k)));
}

#[test]
fn a_recycling_map_reuses_what_it_evicts_and_stays_within_its_cap() {
    let mut m: BoundedMap<Vec<u32>> = BoundedMap::recycling(16);
    for k in 0..16u64 {
        m.entry_fresh(k, k as u32).0.extend(0..100);
    }
    assert_eq!(m.values().count(), 16);
    // A full map evicts four values and keeps them; each new entry takes one, emptied.
    for k in 100..104u64 {
        let (v, created) = m.entry_fresh(k, 50);
        assert!(created);
        assert!(v.is_empty(), "a reused value is empty");
        assert!(v.capacity() >= 100, "and keeps its memory");
        v.push(k as u32);
    }
    assert_eq!(m.len(), 16);
    assert_eq!(m.values().count(), 16, "entries and kept values together stay within the cap");
    assert_eq!(m.get(101), Some(&vec![101]));
}

/// A reference model of the map: a BTreeMap and eviction by sorting.
#[derive(Default)]
struct Model {
    map: BTreeMap<u64, (u32, u32)>,
    evicted: u64,
}

impl Model {
    fn make_room(&mut self, cap: usize) {
        if self.map.len() < cap {
            return;
        }
        let drop = (self.map.len() / 4).max(1);
        let mut order: Vec<(u32, u64)> = self.map.iter().map(|(k, (seen, _))| (*seen, *k)).collect();
        order.sort_unstable();
        for (_, k) in &order[..drop] {
            self.map.remove(k);
        }
        self.evicted += drop as u64;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Entry(u64, u32, u32),
    Fresh(u64, u32, u32),
    GetMut(u64, u32, u32),
    Remove(u64),
    Restore(u64, u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    // Few distinct keys (so hits, removals and re-insertions are common), spread over the hash space.
    let key = (0u64..48).prop_map(|k| mix(k) >> (k % 3 * 20));
    prop_oneof![
        4 => (key.clone(), 0u32..100, any::<u32>()).prop_map(|(k, t, v)| Op::Entry(k, t, v)),
        2 => (key.clone(), 0u32..100, any::<u32>()).prop_map(|(k, t, v)| Op::Fresh(k, t, v)),
        2 => (key.clone(), 0u32..100, any::<u32>()).prop_map(|(k, t, v)| Op::GetMut(k, t, v)),
        2 => key.clone().prop_map(Op::Remove),
        1 => (key, 0u32..100, any::<u32>()).prop_map(|(k, t, v)| Op::Restore(k, t, v)),
    ]
}

proptest! {
    #[test]
    fn never_exceeds_its_cap(cap in 1usize..64, keys in proptest::collection::vec((0u64..500, 0u32..1000), 0..400)) {
        let mut m = BoundedMap::new(cap);
        let mut inserted = 0u64;
        for (k, t) in keys {
            let (_, created) = m.entry(k, t, || ());
            inserted += u64::from(created);
            prop_assert!(m.len() <= cap);
        }
        prop_assert_eq!(m.len() as u64 + m.evicted(), inserted);
    }

    /// Every operation gives what the reference model gives; entries plus kept values stay within
    /// the cap; a value taken from the kept ones behaves as a fresh one.
    #[test]
    fn behaves_as_the_model(cap in 1usize..24, ops in proptest::collection::vec(op(), 0..300)) {
        // A vector as the value: (seen-independent) payload in its first element, reuse observable.
        let mut m: BoundedMap<Vec<u32>> = BoundedMap::recycling(cap);
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Entry(k, t, v) | Op::Fresh(k, t, v) => {
                    let present = model.map.contains_key(&k);
                    if !present {
                        model.make_room(cap);
                    }
                    let slot = model.map.entry(k).or_insert((t, 0));
                    slot.0 = slot.0.max(t);
                    if !present {
                        slot.1 = v;
                    }
                    let (value, created) = match op {
                        Op::Entry(..) => m.entry(k, t, Vec::new),
                        _ => m.entry_fresh(k, t),
                    };
                    prop_assert_eq!(created, !present);
                    if created {
                        prop_assert!(value.is_empty());
                        value.push(v);
                    }
                }
                Op::GetMut(k, t, v) => {
                    let got = m.get_mut(k, t).map(|value| {
                        value[0] = v;
                    });
                    let want = model.map.get_mut(&k).map(|slot| {
                        slot.0 = slot.0.max(t);
                        slot.1 = v;
                    });
                    prop_assert_eq!(got.is_some(), want.is_some());
                }
                Op::Remove(k) => {
                    let got = m.remove(k).map(|v| v[0]);
                    prop_assert_eq!(got, model.map.remove(&k).map(|(_, v)| v));
                }
                Op::Restore(k, t, v) => {
                    if !model.map.contains_key(&k) {
                        model.make_room(cap);
                    }
                    model.map.insert(k, (t, v));
                    m.restore(k, t, vec![v]);
                }
            }
            prop_assert!(m.len() <= cap);
            prop_assert!(m.values().count() <= cap, "entries and kept values within the cap");
            prop_assert_eq!(m.evicted(), model.evicted);
            let mut got: Vec<(u64, u32, u32)> = m.iter().map(|(k, seen, v)| (k, seen, v[0])).collect();
            got.sort_unstable();
            let want: Vec<(u64, u32, u32)> = model.map.iter().map(|(k, (seen, v))| (*k, *seen, *v)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
