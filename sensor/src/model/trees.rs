//! A native kernel for tree-ensemble classifiers (ONNX-ML `TreeEnsembleClassifier`, as LightGBM and
//! XGBoost export through onnxmltools).
//!
//! Why: tract 0.23 runs these models correctly but walks its leaf table linearly for every tree it
//! visits (`outer_iter().skip(start)`), so a row costs O(trees × leaves): 35 µs per row for the 60×3-tree
//! test model, far from a sensor's budget. This kernel evaluates the same node attributes with flat
//! arrays. It only takes over when the graph is exactly "input → TreeEnsembleClassifier → output"
//! (allowing `Identity`, `Cast` to float and multiplication by a constant 1 on the way), and only after
//! it agrees with tract on probe rows at load; otherwise tract scores the model. The golden tests hold
//! both to onnxruntime's outputs.

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

use super::quickscorer::QuickScorer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

/// One node: a branch (`cmp` set) or a leaf (`first..last` into the weights).
#[derive(Debug, Clone, Copy)]
struct Node {
    feature: u32,
    value: f32,
    /// Branch: child when the comparison holds (the other child follows it once laid out). Leaf:
    /// first weight.
    a: u32,
    /// Branch: child otherwise. Leaf: end of weights.
    b: u32,
    cmp: Option<Cmp>,
    nan_true: bool,
}

/// A laid-out node. A leaf is a step to itself that always holds (`value` +∞, missing goes true).
#[derive(Debug, Clone, Copy)]
pub(super) struct Step {
    pub(super) feature: u32,
    pub(super) value: f32,
    /// The true child; the false child is the next step.
    pub(super) first: u32,
    cmp: Cmp,
    pub(super) nan_true: bool,
}

impl Step {
    const LEAF: Step = Step { feature: 0, value: f32::INFINITY, first: 0, cmp: Cmp::Leq, nan_true: true };

    /// Whether this step, laid out at `at`, is a leaf.
    pub(super) fn is_leaf(&self, at: u32) -> bool {
        self.first == at
    }

    /// Whether the test is `x <= value`.
    pub(super) fn is_leq(&self) -> bool {
        self.cmp == Cmp::Leq
    }
}

/// Rows QuickScorer scores together: their leaf masks, then their weights tree by tree (see
/// `QuickScorer::add_weights`).
const QUICK_BLOCK: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    None,
    Softmax,
    Logistic,
}

/// A tree ensemble ready to score rows of `width` features into `classes` scores.
#[derive(Debug, Clone)]
pub struct TreeKernel {
    roots: Vec<u32>,
    /// Levels of each tree (steps from its root to its deepest leaf).
    depths: Vec<u32>,
    /// Every branch compares with `<=` (LightGBM, XGBoost): the walk skips the comparison dispatch.
    all_leq: bool,
    /// Laid-out nodes (see `relayout`): what `score` walks.
    steps: Vec<Step>,
    /// Per laid-out node: its range in `weights` (empty for branches).
    leaf_weights: Vec<(u32, u32)>,
    /// (class, weight) per leaf entry.
    weights: Vec<(u32, f32)>,
    base: Vec<f32>,
    post: Post,
    classes: usize,
    width: usize,
    /// The ensemble in QuickScorer form, when it fits (see [`super::quickscorer`]): what `score` uses.
    quick: Option<QuickScorer>,
}

impl TreeKernel {
    /// The kernel for `graph` if it is a bare tree-ensemble classifier whose probabilities are the
    /// output `output`, reading input `input` of `width` features; `None` when the graph is anything else.
    pub fn from_graph(graph: &GraphProto, output: &str, width: usize) -> Option<TreeKernel> {
        let trees: Vec<&NodeProto> = graph.node.iter().filter(|n| n.op_type == "TreeEnsembleClassifier").collect();
        let [tree] = trees.as_slice() else { return None };
        let input = graph.input.first()?.name.as_str();
        if graph.input.len() != 1 || trace_back(graph, tree.input.first()?)? != input {
            return None;
        }
        if trace_back(graph, output)? != tree.output.get(1)?.as_str() {
            return None;
        }
        let kernel = TreeKernel::from_node(tree, width).ok()?;
        Some(kernel)
    }

    fn from_node(node: &NodeProto, width: usize) -> anyhow::Result<TreeKernel> {
        use anyhow::{bail, ensure};
        let ints = |name: &str| -> anyhow::Result<Vec<i64>> { Ok(node.get_attr_slice::<i64>(name)?.to_vec()) };
        let classes = match (
            node.get_attr_opt_slice::<i64>("classlabels_int64s")?,
            node.get_attr_opt_tvec::<&str>("classlabels_strings")?,
        ) {
            (Some(l), None) => l.len(),
            (None, Some(l)) => l.len(),
            _ => bail!("class labels"),
        };
        // Two-class exports use a one-score layout; leave those to tract.
        ensure!(classes >= 3, "binary layout");
        let tree_ids = ints("nodes_treeids")?;
        let node_ids = ints("nodes_nodeids")?;
        let features = ints("nodes_featureids")?;
        let values = node.get_attr_vec::<f32>("nodes_values")?;
        let modes = node.get_attr_tvec::<&str>("nodes_modes")?;
        let true_ids = ints("nodes_truenodeids")?;
        let false_ids = ints("nodes_falsenodeids")?;
        let n = tree_ids.len();
        let nan_true: Vec<bool> = match node.get_attr_opt_slice::<i64>("nodes_missing_value_tracks_true")? {
            Some(v) => v.iter().map(|&x| x != 0).collect(),
            None => vec![false; n],
        };
        ensure!(
            [
                node_ids.len(),
                features.len(),
                values.len(),
                modes.len(),
                true_ids.len(),
                false_ids.len(),
                nan_true.len()
            ]
            .iter()
            .all(|&l| l == n)
                && n > 0,
            "node attribute lengths"
        );
        let class_trees = ints("class_treeids")?;
        let class_nodes = ints("class_nodeids")?;
        let class_ids = ints("class_ids")?;
        let class_weights = node.get_attr_vec::<f32>("class_weights")?;
        let m = class_trees.len();
        ensure!(class_nodes.len() == m && class_ids.len() == m && class_weights.len() == m, "leaf attribute lengths");

        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        for i in 0..n {
            ensure!(index.insert((tree_ids[i], node_ids[i]), i as u32).is_none(), "duplicate node");
        }
        let mut leaf_weights: HashMap<(i64, i64), Vec<(u32, f32)>> = HashMap::new();
        for j in 0..m {
            ensure!((class_ids[j] as usize) < classes && class_ids[j] >= 0, "class id");
            leaf_weights
                .entry((class_trees[j], class_nodes[j]))
                .or_default()
                .push((class_ids[j] as u32, class_weights[j]));
        }
        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(m);
        for i in 0..n {
            let cmp = match modes[i] {
                "BRANCH_LEQ" => Some(Cmp::Leq),
                "BRANCH_LT" => Some(Cmp::Lt),
                "BRANCH_GTE" => Some(Cmp::Gte),
                "BRANCH_GT" => Some(Cmp::Gt),
                "BRANCH_EQ" => Some(Cmp::Eq),
                "BRANCH_NEQ" => Some(Cmp::Neq),
                "LEAF" => None,
                other => bail!("node mode {other}"),
            };
            let node = match cmp {
                Some(_) => {
                    let child = |id: i64| index.get(&(tree_ids[i], id)).copied();
                    let (Some(a), Some(b)) = (child(true_ids[i]), child(false_ids[i])) else { bail!("child id") };
                    ensure!((features[i] as usize) < width && features[i] >= 0, "feature id");
                    Node { feature: features[i] as u32, value: values[i], a, b, cmp, nan_true: nan_true[i] }
                }
                None => {
                    let first = weights.len() as u32;
                    weights.extend(leaf_weights.remove(&(tree_ids[i], node_ids[i])).unwrap_or_default());
                    Node { feature: 0, value: 0.0, a: first, b: weights.len() as u32, cmp: None, nan_true: false }
                }
            };
            nodes.push(node);
        }
        ensure!(leaf_weights.is_empty(), "weights of unknown leaves");
        // Roots: node 0 of each tree, in tree order.
        let mut tree_list: Vec<i64> = tree_ids.clone();
        tree_list.sort_unstable();
        tree_list.dedup();
        let roots = tree_list.iter().map(|t| index.get(&(*t, 0)).copied()).collect::<Option<Vec<u32>>>();
        let Some(roots) = roots else { bail!("a tree without node 0") };
        let base = node.get_attr_opt_vec::<f32>("base_values")?.unwrap_or_else(|| vec![0.0; classes]);
        ensure!(base.len() == classes, "base values");
        let post = match node.get_attr_opt::<&str>("post_transform")?.unwrap_or("NONE") {
            "NONE" => Post::None,
            "SOFTMAX" => Post::Softmax,
            "LOGISTIC" => Post::Logistic,
            other => bail!("post transform {other}"),
        };
        let layout = relayout(&nodes, &roots)?;
        Ok(TreeKernel {
            quick: QuickScorer::build(&layout.steps, &layout.roots, &layout.leaf_weights, &weights),
            roots: layout.roots,
            depths: layout.depths,
            all_leq: layout.steps.iter().all(|s| s.cmp == Cmp::Leq),
            steps: layout.steps,
            leaf_weights: layout.leaf_weights,
            weights,
            base,
            post,
            classes,
            width,
        })
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Scores `rows` (row-major, `width` features each) into `out` (row-major, `classes` each).
    pub fn score(&self, input: &[f32], out: &mut Vec<f32>) {
        match &self.quick {
            Some(quick) => self.score_quick(quick, input, out),
            None => self.score_walking(input, out),
        }
    }

    /// Whether scoring finds the exit leaves by QuickScorer (else by walking the trees).
    pub fn uses_quickscorer(&self) -> bool {
        self.quick.is_some()
    }

    /// Scores by QuickScorer, a block of rows at a time: their exit leaves, then the leaves' weights in
    /// tree order (the order the walk adds them in, so the same sums).
    fn score_quick(&self, quick: &QuickScorer, input: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.resize(input.len() / self.width * self.classes, 0.0);
        let mut masks = vec![0; quick.trees() * QUICK_BLOCK];
        for (rows, scores) in input.chunks(self.width * QUICK_BLOCK).zip(out.chunks_mut(self.classes * QUICK_BLOCK)) {
            for (row, masks) in rows.chunks_exact(self.width).zip(masks.chunks_exact_mut(quick.trees())) {
                quick.scan(row, masks);
            }
            self.add_scores(quick, &masks, scores);
        }
    }

    /// Appends the scores of the exit leaves `masks` name (one row).
    fn push_scores(&self, quick: &QuickScorer, masks: &[u32], out: &mut Vec<f32>) {
        let at = out.len();
        out.resize(at + self.classes, 0.0);
        self.add_scores(quick, masks, &mut out[at..]);
    }

    /// Sets each row of `scores` (row-major) to the scores of the exit leaves `masks` name (laid out
    /// `[row][tree]`): the base, the leaves' weights in tree order, the post transform.
    fn add_scores(&self, quick: &QuickScorer, masks: &[u32], scores: &mut [f32]) {
        for row in scores.chunks_exact_mut(self.classes) {
            row.copy_from_slice(&self.base);
        }
        if !quick.add_weights(masks, scores, self.classes) {
            for (masks, row) in masks.chunks_exact(quick.trees()).zip(scores.chunks_exact_mut(self.classes)) {
                for (tree, &mask) in masks.iter().enumerate() {
                    let (first, end) = self.leaf_weights[quick.exit_leaf(tree, mask) as usize];
                    for &(class, w) in &self.weights[first as usize..end as usize] {
                        row[class as usize] += w;
                    }
                }
            }
        }
        for row in scores.chunks_exact_mut(self.classes) {
            self.post_transform(row);
        }
    }

    /// Scores `base` (one row of `width` features) and, for each `(column, value)` of `occlusions`,
    /// `base` with that column set to `value` (the rows of an explanation): `out` gets
    /// `(1 + occlusions) × classes` scores, exactly those [`TreeKernel::score`] gives the same rows.
    /// With QuickScorer, a row of the set differs from `base` in one column, so only that column's
    /// thresholds are scanned again.
    pub fn score_occlusions(&self, base: &[f32], occlusions: &[(usize, f32)], out: &mut Vec<f32>) {
        let Some(quick) = self.quick.as_ref().filter(|_| base.len() == self.width) else {
            self.score(&super::occluded_rows(base, occlusions), out);
            return;
        };
        out.clear();
        let (mut prefix, mut suffix) = (Vec::new(), Vec::new());
        quick.occlusions(base, occlusions, &mut prefix, &mut suffix, |masks| self.push_scores(quick, masks, out));
    }

    /// Scores by walking every tree, rows of a block in lockstep.
    fn score_walking(&self, input: &[f32], out: &mut Vec<f32>) {
        const BLOCK: usize = 16;
        let rows = input.len() / self.width;
        out.clear();
        out.resize(rows * self.classes, 0.0);
        for (block_in, block_out) in input.chunks(self.width * BLOCK).zip(out.chunks_mut(self.classes * BLOCK)) {
            let len = block_out.len() / self.classes;
            for scores in block_out.chunks_exact_mut(self.classes) {
                scores.copy_from_slice(&self.base);
            }
            for (&root, &depth) in self.roots.iter().zip(&self.depths) {
                let mut at = [root; BLOCK];
                for _ in 0..depth {
                    if self.all_leq {
                        // A level where no row moved means every row is at its leaf.
                        let mut moved = false;
                        for (r, a) in at.iter_mut().enumerate().take(len) {
                            let s = &self.steps[*a as usize];
                            let x = block_in[r * self.width + s.feature as usize];
                            // NaN fails every comparison: it goes true only where the node says so.
                            let go_true = (x <= s.value) | (x.is_nan() & s.nan_true);
                            let next = s.first + u32::from(!go_true);
                            moved |= next != *a;
                            *a = next;
                        }
                        if !moved {
                            break;
                        }
                        continue;
                    }
                    for (r, a) in at.iter_mut().enumerate().take(len) {
                        let s = &self.steps[*a as usize];
                        let x = block_in[r * self.width + s.feature as usize];
                        let holds = match s.cmp {
                            Cmp::Leq => x <= s.value,
                            Cmp::Lt => x < s.value,
                            Cmp::Gte => x >= s.value,
                            Cmp::Gt => x > s.value,
                            Cmp::Eq => x == s.value,
                            Cmp::Neq => x != s.value,
                        };
                        let nan = x.is_nan();
                        let go_true = (holds & !nan) | (nan & s.nan_true);
                        *a = s.first + u32::from(!go_true);
                    }
                }
                for (r, a) in at.iter().enumerate().take(len) {
                    let (first, end) = self.leaf_weights[*a as usize];
                    let scores = &mut block_out[r * self.classes..(r + 1) * self.classes];
                    for &(class, w) in &self.weights[first as usize..end as usize] {
                        scores[class as usize] += w;
                    }
                }
            }
            for scores in block_out.chunks_exact_mut(self.classes) {
                self.post_transform(scores);
            }
        }
    }

    fn post_transform(&self, scores: &mut [f32]) {
        match self.post {
            Post::None => {}
            Post::Softmax => {
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                for s in scores.iter_mut() {
                    *s /= sum;
                }
            }
            Post::Logistic => {
                for s in scores.iter_mut() {
                    *s = 1.0 / (1.0 + (-*s).exp());
                }
            }
        }
    }
}

/// The trees laid out for walking (see [`relayout`]).
struct Layout {
    roots: Vec<u32>,
    depths: Vec<u32>,
    steps: Vec<Step>,
    leaf_weights: Vec<(u32, u32)>,
}

/// Lays each tree out breadth first with the two children of a branch side by side (true, then
/// false), so a step down is `first child + (condition false)`, and makes every leaf a step to itself.
/// A tree is then walked for a fixed number of steps (its depth) with no branch to mispredict, and the
/// rows of a block walk it in lockstep, their memory loads overlapping. Children were checked to exist;
/// a node shared between paths is copied once per path, and a cycle would be copied without end, so
/// the layout is refused once it outgrows four times the node list.
fn relayout(nodes: &[Node], tree_roots: &[u32]) -> anyhow::Result<Layout> {
    let mut steps: Vec<Step> = Vec::with_capacity(nodes.len());
    let mut leaf_weights: Vec<(u32, u32)> = Vec::with_capacity(nodes.len());
    let mut roots = Vec::with_capacity(tree_roots.len());
    let mut depths = Vec::with_capacity(tree_roots.len());
    for &root in tree_roots {
        roots.push(steps.len() as u32);
        let mut queue = std::collections::VecDeque::from([(root, steps.len() as u32, 0u32)]);
        steps.push(Step::LEAF);
        leaf_weights.push((0, 0));
        let mut depth = 0;
        while let Some((old, at, level)) = queue.pop_front() {
            anyhow::ensure!(steps.len() <= 4 * nodes.len() + 2, "a node is reached again and again (a cycle)");
            depth = depth.max(level);
            let n = nodes[old as usize];
            let Some(cmp) = n.cmp else {
                steps[at as usize] = Step { first: at, ..Step::LEAF };
                leaf_weights[at as usize] = (n.a, n.b);
                continue;
            };
            let first = steps.len() as u32;
            steps.extend([Step::LEAF, Step::LEAF]);
            leaf_weights.extend([(0, 0), (0, 0)]);
            steps[at as usize] = Step { feature: n.feature, value: n.value, first, cmp, nan_true: n.nan_true };
            queue.push_back((n.a, first, level + 1));
            queue.push_back((n.b, first + 1, level + 1));
        }
        depths.push(depth);
    }
    Ok(Layout { roots, depths, steps, leaf_weights })
}

/// Follows `name` back through value-preserving nodes (Identity, Cast to float, Mul by a constant 1)
/// to the name it really is.
fn trace_back<'g>(graph: &'g GraphProto, name: &'g str) -> Option<&'g str> {
    let mut name = name;
    for _ in 0..=graph.node.len() {
        let Some(producer) = graph.node.iter().find(|n| n.output.iter().any(|o| o == name)) else { return Some(name) };
        name = match producer.op_type.as_str() {
            "Identity" => producer.input.first()?,
            "Cast" if producer.get_attr_opt::<i64>("to").ok()?? == 1 => producer.input.first()?,
            "Mul" if producer.input.len() == 2 => {
                let (a, b) = (&producer.input[0], &producer.input[1]);
                if is_one(graph, b) {
                    a
                } else if is_one(graph, a) {
                    b
                } else {
                    return None;
                }
            }
            _ => return Some(name),
        };
    }
    None
}

/// Whether `name` is an initializer whose every element is 1.
fn is_one(graph: &GraphProto, name: &str) -> bool {
    let Some(t) = graph.initializer.iter().find(|t| t.name == name) else { return false };
    ones(t)
}

fn ones(t: &TensorProto) -> bool {
    if !t.float_data.is_empty() {
        return t.float_data.iter().all(|&v| v == 1.0);
    }
    // float32, little-endian raw bytes
    t.data_type == 1 && !t.raw_data.is_empty() && t.raw_data.chunks(4).all(|c| c == 1.0f32.to_le_bytes())
}

#[cfg(test)]
#[path = "trees_tests.rs"]
mod tests;
