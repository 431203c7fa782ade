//! QuickScorer (Lucchese et al., SIGIR 2015): the exit leaf of every tree of an ensemble found by
//! feature thresholds instead of by walking each tree.
//!
//! Walking a tree is a chain of dependent loads, one per level, so a row costs the sum of the trees'
//! path lengths in memory latency. QuickScorer turns the walk around. The leaves of each tree are
//! numbered left to right (the true child on the left); a branch node whose test fails for the row
//! rules out exactly the leaves of its true subtree, a contiguous run of bits. Every branch node of the
//! ensemble is kept in a list per feature, sorted by threshold: for a row, the nodes of a feature whose
//! test fails are a prefix of that list (those with a threshold below the value), so one forward scan
//! per feature clears the ruled-out bits of each tree's leaf mask, and the exit leaf of a tree is the
//! lowest bit left. The work is a few independent operations per failed node, with no data-dependent
//! loads between them.
//!
//! It applies to ensembles whose every test is `x <= threshold` (LightGBM, XGBoost as exported through
//! onnxmltools; others keep the walk) with at most 32 leaves a tree (LightGBM's default is 31) and no
//! NaN threshold. A missing value (NaN) fails a node unless the node sends missing values to its true
//! child; those nodes are kept in a second list per feature. The exit leaves are exactly those of the
//! walk, so the scores, summed in tree order, are the same bits.
//!
//! The exit leaf of a tree is looked up in a per-tree table padded to a power of two leaves (the
//! padding repeats the last leaf). The weights of a block of rows' exit leaves are added tree by tree
//! across the rows, so the additions of different rows are independent instead of one chain through
//! memory; each row's classes still get their weights in tree order.

use super::trees::Step;

/// A branch node as the scan applies it: the tree, and its leaf mask with the bits of its true subtree
/// cleared.
#[derive(Debug, Clone, Copy)]
struct Cut {
    tree: u32,
    mask: u32,
}

/// One feature's branch nodes.
#[derive(Debug, Clone)]
struct FeatureCuts {
    feature: u32,
    /// `thresholds` and `cuts`, ascending by threshold: the range of this feature.
    start: u32,
    end: u32,
    /// The nodes a missing value fails, in `nan_cuts`.
    nan_start: u32,
    nan_end: u32,
}

/// The QuickScorer form of a laid-out ensemble (see the module doc).
#[derive(Debug, Clone)]
pub(super) struct QuickScorer {
    /// Per model column, its place in `features` (`u32::MAX` for a column no node tests).
    feature_at: Vec<u32>,
    features: Vec<FeatureCuts>,
    thresholds: Vec<f32>,
    cuts: Vec<Cut>,
    nan_cuts: Vec<Cut>,
    /// Leaves a tree has room for in `leaves`: a power of two, at least the largest tree's leaves.
    leaf_stride: usize,
    /// Per tree, the laid-out steps of its leaves, left to right, from `leaves[tree * leaf_stride]`; the
    /// rest of its `leaf_stride` repeat its last leaf.
    leaves: Vec<u32>,
    /// Per leaf (as `leaves`), its one (class, weight), when every leaf has exactly one (LightGBM,
    /// XGBoost multiclass: a tree per class): the scores without looking the leaf's weights up.
    single_weights: Option<Vec<(u32, f32)>>,
}

/// Trees with more leaves than this keep the walk (a tree's leaves are the bits of a `u32`).
const MAX_LEAVES: usize = 32;

/// Depth-first work on one tree.
enum Visit {
    Node(u32),
    /// The true subtree of branch `at`, whose first leaf was number `lo`, is done.
    TrueDone {
        at: u32,
        lo: usize,
    },
}

impl QuickScorer {
    /// Builds the scorer from the walk's layout (`steps`, one root per tree), or `None` when the
    /// ensemble is outside what it handles (a test other than `<=`, a tree of more than 32 leaves, a
    /// NaN threshold).
    /// `leaf_weights` gives each laid-out leaf's range in `weights`.
    pub(super) fn build(
        steps: &[Step],
        roots: &[u32],
        leaf_weights: &[(u32, u32)],
        weights: &[(u32, f32)],
    ) -> Option<QuickScorer> {
        if roots.is_empty() {
            return None;
        }
        // (feature, threshold, cut), and (feature, cut) for the nodes a missing value fails.
        let mut nodes: Vec<(u32, f32, Cut)> = Vec::new();
        let mut nan_nodes: Vec<(u32, Cut)> = Vec::new();
        let mut leaf_starts = Vec::with_capacity(roots.len() + 1);
        let mut leaves: Vec<u32> = Vec::new();
        for (tree, &root) in roots.iter().enumerate() {
            let tree = u32::try_from(tree).ok()?;
            let first_leaf = leaves.len();
            leaf_starts.push(first_leaf);
            // Depth first, true child first: the leaves come out left to right.
            let mut stack = vec![Visit::Node(root)];
            while let Some(visit) = stack.pop() {
                match visit {
                    Visit::Node(at) => {
                        let s = steps.get(at as usize)?;
                        if s.is_leaf(at) {
                            if leaves.len() - first_leaf == MAX_LEAVES {
                                return None;
                            }
                            leaves.push(at);
                            continue;
                        }
                        if !s.is_leq() || s.value.is_nan() {
                            return None;
                        }
                        stack.push(Visit::Node(s.first + 1));
                        stack.push(Visit::TrueDone { at, lo: leaves.len() - first_leaf });
                        stack.push(Visit::Node(s.first));
                    }
                    Visit::TrueDone { at, lo } => {
                        let s = steps.get(at as usize)?;
                        let hi = leaves.len() - first_leaf;
                        // A failed test rules out the leaves lo..hi. In a tree of at most 32 leaves that is
                        // fewer than 32 (the false side has one); 32 already means a bigger tree.
                        if hi - lo >= MAX_LEAVES {
                            return None;
                        }
                        let cut = Cut { tree, mask: !(((1u32 << (hi - lo)) - 1) << lo) };
                        nodes.push((s.feature, s.value, cut));
                        if !s.nan_true {
                            nan_nodes.push((s.feature, cut));
                        }
                    }
                }
            }
        }
        leaf_starts.push(leaves.len());
        let leaf_stride = leaf_starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(1).next_power_of_two();
        let leaves: Vec<u32> =
            leaf_starts.windows(2).flat_map(|w| (w[0]..w[0] + leaf_stride).map(|i| leaves[i.min(w[1] - 1)])).collect();
        // By feature, then threshold; the order among equal thresholds does not matter (all or none).
        nodes.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        nan_nodes.sort_by_key(|n| n.0);
        let mut features: Vec<FeatureCuts> = Vec::new();
        for (i, &(feature, _, _)) in nodes.iter().enumerate() {
            if features.last().is_none_or(|f| f.feature != feature) {
                features.push(FeatureCuts { feature, start: i as u32, end: i as u32, nan_start: 0, nan_end: 0 });
            }
            if let Some(f) = features.last_mut() {
                f.end = i as u32 + 1;
            }
        }
        for f in &mut features {
            f.nan_start = nan_nodes.partition_point(|n| n.0 < f.feature) as u32;
            f.nan_end = nan_nodes.partition_point(|n| n.0 <= f.feature) as u32;
        }
        let single_weights = leaves
            .iter()
            .map(|&at| match leaf_weights.get(at as usize) {
                Some(&(first, end)) if end == first + 1 => weights.get(first as usize).copied(),
                _ => None,
            })
            .collect();
        let mut feature_at = vec![u32::MAX; features.last().map_or(0, |f| f.feature as usize + 1)];
        for (i, f) in features.iter().enumerate() {
            feature_at[f.feature as usize] = i as u32;
        }
        Some(QuickScorer {
            feature_at,
            single_weights,
            features,
            thresholds: nodes.iter().map(|n| n.1).collect(),
            cuts: nodes.iter().map(|n| n.2).collect(),
            nan_cuts: nan_nodes.iter().map(|n| n.1).collect(),
            leaf_stride,
            leaves,
        })
    }

    /// Whether every leaf has a single weight (the scores skip the leaves' weight lists).
    #[cfg(test)]
    pub(super) fn has_single_weights(&self) -> bool {
        self.single_weights.is_some()
    }

    pub(super) fn trees(&self) -> usize {
        self.leaves.len() / self.leaf_stride
    }

    /// The padded leaf-table index of the exit leaf of `tree` with leaf mask `mask` (the exit leaf is
    /// never ruled out, so its bit is the lowest set; the clamp only keeps an index in the table).
    fn exit_index(&self, tree: usize, mask: u32) -> usize {
        tree * self.leaf_stride + (mask.trailing_zeros() as usize).min(self.leaf_stride - 1)
    }

    /// Adds the weights of the exit leaves `masks` name (laid out `[row][tree]`) to `scores` (row-major,
    /// `classes` a row), each row's in tree order, if every leaf has a single weight (`false`, nothing
    /// done, otherwise). Tree by tree across the rows: the additions of different rows are independent.
    pub(super) fn add_weights(&self, masks: &[u32], scores: &mut [f32], classes: usize) -> bool {
        let Some(single) = &self.single_weights else { return false };
        let trees = self.trees();
        for tree in 0..trees {
            for (masks, scores) in masks.chunks_exact(trees).zip(scores.chunks_exact_mut(classes)) {
                let (class, weight) = single[self.exit_index(tree, masks[tree])];
                scores[class as usize] += weight;
            }
        }
        true
    }

    /// The exit leaf (its laid-out step) of `tree` with leaf mask `mask`.
    pub(super) fn exit_leaf(&self, tree: usize, mask: u32) -> u32 {
        self.leaves[self.exit_index(tree, mask)]
    }

    /// The leaf masks of `row`, then of `row` with each `(column, value)` of `occlusions` applied, each
    /// passed to `each` in turn. A mask is the AND of the cuts of every feature, in any order: with the
    /// ANDs of the features before and after each one (`prefix`, `suffix`: scratch), an occluded row's
    /// masks are those two and its one feature's cuts for the new value.
    pub(super) fn occlusions(
        &self,
        row: &[f32],
        occlusions: &[(usize, f32)],
        prefix: &mut Vec<u32>,
        suffix: &mut Vec<u32>,
        mut each: impl FnMut(&[u32]),
    ) {
        let (trees, features) = (self.trees(), self.features.len());
        // prefix[k]: features[..k] applied; suffix[k]: features[k..].
        prefix.clear();
        prefix.resize((features + 1) * trees, u32::MAX);
        suffix.clear();
        suffix.resize((features + 1) * trees, u32::MAX);
        for k in 0..features {
            let (done, next) = prefix.split_at_mut((k + 1) * trees);
            next[..trees].copy_from_slice(&done[k * trees..]);
            self.apply(&self.features[k], row[self.features[k].feature as usize], &mut next[..trees]);
        }
        for k in (0..features).rev() {
            let (head, after) = suffix.split_at_mut((k + 1) * trees);
            let here = &mut head[k * trees..];
            here.copy_from_slice(&after[..trees]);
            self.apply(&self.features[k], row[self.features[k].feature as usize], here);
        }
        let all = &prefix[features * trees..];
        each(all);
        let mut masks = vec![0; trees];
        for &(column, value) in occlusions {
            match self.feature_at.get(column).copied().filter(|&k| k != u32::MAX) {
                None => each(all),
                Some(k) => {
                    let k = k as usize;
                    let (before, after) =
                        (&prefix[k * trees..(k + 1) * trees], &suffix[(k + 1) * trees..(k + 2) * trees]);
                    for ((m, b), a) in masks.iter_mut().zip(before).zip(after) {
                        *m = b & a;
                    }
                    self.apply(&self.features[k], value, &mut masks);
                    each(&masks);
                }
            }
        }
    }

    /// Every tree's leaf mask for `row` (see the module doc) into `masks` (one a tree).
    pub(super) fn scan(&self, row: &[f32], masks: &mut [u32]) {
        masks.fill(u32::MAX);
        for f in &self.features {
            self.apply(f, row[f.feature as usize], masks);
        }
    }

    /// Clears in `masks` what feature `f` at value `x` rules out (inlined: the hottest loop of scoring).
    #[inline(always)]
    fn apply(&self, f: &FeatureCuts, x: f32, masks: &mut [u32]) {
        if x.is_nan() {
            for cut in &self.nan_cuts[f.nan_start as usize..f.nan_end as usize] {
                masks[cut.tree as usize] &= cut.mask;
            }
            return;
        }
        // `x <= threshold` fails exactly for the thresholds below x: a prefix of the list.
        let (start, end) = (f.start as usize, f.end as usize);
        for (&threshold, cut) in self.thresholds[start..end].iter().zip(&self.cuts[start..end]) {
            if threshold >= x {
                break;
            }
            masks[cut.tree as usize] &= cut.mask;
        }
    }
}
