//! The native tree kernel: which graphs it takes over (only "input → TreeEnsembleClassifier →
//! output", through value-preserving nodes), which node attributes it refuses, its arithmetic on a
//! hand-built ensemble, and agreement of kernel and tract with onnxruntime's golden outputs for the
//! real test classifier (built here independently of `Model`, so each path is checked on its own).

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

/// The shipped classifier's input width: the features of its manifest (the schema's but local time).
const SHIPPED_WIDTH: usize = 164;

use super::*;

const CLASSIFIER: &[u8] = include_bytes!("../../../models/test/flow-classifier-test.onnx");
const GOLDEN: &str = include_str!("../../../models/test/flow-classifier-test.golden.json");

// ---------------------------------------------------------------------------------------------------
// Building graphs by hand

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

fn floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Floats as i32, floats: v.to_vec(), ..Default::default() }
}

fn strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: v, ..Default::default() }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn value(name: &str) -> ValueInfoProto {
    ValueInfoProto { name: name.into(), ..Default::default() }
}

fn float_tensor(name: &str, values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: 1,
        dims: vec![values.len() as i64],
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn raw_float_tensor(name: &str, values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: 1,
        dims: vec![values.len() as i64],
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// Attributes of a valid 3-class ensemble over 2 features:
/// tree 0: x0 ≤ 1 (missing goes true) ? class 0 += 1 : class 1 += 2;
/// tree 1: x1 < 5 (missing goes false) ? class 2 += 0.5 : (class 0 += 0.25, class 1 += 0.25);
/// base values 0.1, 0.2, 0.3.
fn tiny_attributes(post: &str) -> Vec<AttributeProto> {
    vec![
        ints("classlabels_int64s", &[0, 1, 2]),
        ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
        ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
        ints("nodes_featureids", &[0, 0, 0, 1, 0, 0]),
        floats("nodes_values", &[1.0, 0.0, 0.0, 5.0, 0.0, 0.0]),
        strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"]),
        ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]),
        ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
        ints("nodes_missing_value_tracks_true", &[1, 0, 0, 0, 0, 0]),
        ints("class_treeids", &[0, 0, 1, 1, 1]),
        ints("class_nodeids", &[1, 2, 1, 2, 2]),
        ints("class_ids", &[0, 1, 2, 0, 1]),
        floats("class_weights", &[1.0, 2.0, 0.5, 0.25, 0.25]),
        floats("base_values", &[0.1, 0.2, 0.3]),
        string("post_transform", post),
    ]
}

fn replace(mut attrs: Vec<AttributeProto>, new: AttributeProto) -> Vec<AttributeProto> {
    let i = attrs.iter().position(|a| a.name == new.name).expect("attribute exists");
    attrs[i] = new;
    attrs
}

/// input `x` → TreeEnsembleClassifier (outputs `label`, `probs`) → `tail` nodes → graph output `out`.
fn graph(attrs: Vec<AttributeProto>, tail: Vec<NodeProto>, initializer: Vec<TensorProto>, out: &str) -> GraphProto {
    let mut nodes = vec![NodeProto {
        domain: "ai.onnx.ml".into(),
        ..node("TreeEnsembleClassifier", &["x"], &["label", "probs"], attrs)
    }];
    nodes.extend(tail);
    GraphProto { node: nodes, initializer, input: vec![value("x")], output: vec![value(out)], ..Default::default() }
}

fn bare(attrs: Vec<AttributeProto>) -> GraphProto {
    graph(attrs, vec![], vec![], "probs")
}

fn scores(kernel: &TreeKernel, rows: &[[f32; 2]]) -> Vec<Vec<f32>> {
    let input: Vec<f32> = rows.iter().flatten().copied().collect();
    let mut out = Vec::new();
    kernel.score(&input, &mut out);
    out.chunks(kernel.classes()).map(<[f32]>::to_vec).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
}

// ---------------------------------------------------------------------------------------------------
// The kernel's arithmetic

#[test]
fn a_hand_built_ensemble_scores_by_its_attributes() {
    let k = TreeKernel::from_graph(&bare(tiny_attributes("NONE")), "probs", 2).expect("a valid ensemble");
    assert_eq!(k.classes(), 3);
    let got = scores(&k, &[[0.5, 3.0], [f32::NAN, f32::NAN], [2.0, 7.0], [1.0, 5.0], [-1.0, f32::NAN]]);
    let want = [
        [1.1, 0.2, 0.8],   // true, true
        [1.35, 0.45, 0.3], // missing: tree 0 goes true, tree 1 goes false
        [0.35, 2.45, 0.3], // false, false
        [1.35, 0.45, 0.3], // 1 ≤ 1 holds, 5 < 5 does not
        [1.35, 0.45, 0.3],
    ];
    for (g, w) in got.iter().zip(want) {
        assert!(close(g, &w), "{g:?} != {w:?}");
    }
}

#[test]
fn post_transforms_apply_to_the_summed_scores() {
    let k = TreeKernel::from_graph(&bare(tiny_attributes("SOFTMAX")), "probs", 2).unwrap();
    let got = &scores(&k, &[[0.5, 3.0]])[0];
    let raw = [1.1f32, 0.2, 0.8];
    let sum: f32 = raw.iter().map(|v| v.exp()).sum();
    let want: Vec<f32> = raw.iter().map(|v| v.exp() / sum).collect();
    assert!(close(got, &want), "{got:?} != {want:?}");

    let k = TreeKernel::from_graph(&bare(tiny_attributes("LOGISTIC")), "probs", 2).unwrap();
    let got = &scores(&k, &[[0.5, 3.0]])[0];
    let want: Vec<f32> = raw.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    assert!(close(got, &want), "{got:?} != {want:?}");
}

// ---------------------------------------------------------------------------------------------------
// Which graphs the kernel takes over

#[test]
fn value_preserving_nodes_between_the_trees_and_the_output_are_allowed() {
    let tail = vec![
        node("Identity", &["probs"], &["p1"], vec![]),
        node("Cast", &["p1"], &["p2"], vec![int("to", 1)]),
        node("Mul", &["p2", "one"], &["p3"], vec![]),
        node("Mul", &["one_raw", "p3"], &["out"], vec![]),
    ];
    let inits = vec![float_tensor("one", &[1.0, 1.0, 1.0]), raw_float_tensor("one_raw", &[1.0])];
    let g = graph(tiny_attributes("NONE"), tail, inits, "out");
    let k = TreeKernel::from_graph(&g, "out", 2).expect("Identity, Cast to float, Mul by ones keep the values");
    assert!(close(&scores(&k, &[[0.5, 3.0]])[0], &[1.1, 0.2, 0.8]));

    // The input side may pass through Identity too.
    let mut g = bare(tiny_attributes("NONE"));
    g.node[0].input[0] = "x1".into();
    g.node.insert(0, node("Identity", &["x"], &["x1"], vec![]));
    assert!(TreeKernel::from_graph(&g, "probs", 2).is_some());
}

#[test]
fn anything_that_changes_the_values_leaves_the_model_to_tract() {
    let attrs = || tiny_attributes("NONE");
    let relu = graph(attrs(), vec![node("Relu", &["probs"], &["out"], vec![])], vec![], "out");
    assert!(TreeKernel::from_graph(&relu, "out", 2).is_none(), "Relu before the output");

    let identity_then_relu = graph(
        attrs(),
        vec![node("Identity", &["probs"], &["p"], vec![]), node("Relu", &["p"], &["out"], vec![])],
        vec![],
        "out",
    );
    assert!(TreeKernel::from_graph(&identity_then_relu, "out", 2).is_none(), "Relu behind an Identity");

    let twice = graph(
        attrs(),
        vec![node("Mul", &["probs", "two"], &["out"], vec![])],
        vec![float_tensor("two", &[1.0, 2.0, 1.0])],
        "out",
    );
    assert!(TreeKernel::from_graph(&twice, "out", 2).is_none(), "Mul by something other than ones");

    let raw_two = graph(
        attrs(),
        vec![node("Mul", &["probs", "two"], &["out"], vec![])],
        vec![raw_float_tensor("two", &[2.0])],
        "out",
    );
    assert!(TreeKernel::from_graph(&raw_two, "out", 2).is_none(), "Mul by a raw 2");

    let by_input = graph(attrs(), vec![node("Mul", &["probs", "x"], &["out"], vec![])], vec![], "out");
    assert!(TreeKernel::from_graph(&by_input, "out", 2).is_none(), "Mul by a non-constant");

    let to_int = graph(attrs(), vec![node("Cast", &["probs"], &["out"], vec![int("to", 7)])], vec![], "out");
    assert!(TreeKernel::from_graph(&to_int, "out", 2).is_none(), "Cast to int64");

    assert!(TreeKernel::from_graph(&bare(attrs()), "label", 2).is_none(), "the label output, not the scores");

    let mut transformed_input = bare(attrs());
    transformed_input.node[0].input[0] = "xs".into();
    transformed_input.node.insert(0, node("Abs", &["x"], &["xs"], vec![]));
    assert!(TreeKernel::from_graph(&transformed_input, "probs", 2).is_none(), "the trees read a transformed input");

    let mut two_inputs = bare(attrs());
    two_inputs.input.push(value("y"));
    assert!(TreeKernel::from_graph(&two_inputs, "probs", 2).is_none(), "two graph inputs");

    let mut two_ensembles = bare(attrs());
    let second = NodeProto { output: vec!["l2".into(), "p2".into()], ..two_ensembles.node[0].clone() };
    two_ensembles.node.push(second);
    assert!(TreeKernel::from_graph(&two_ensembles, "probs", 2).is_none(), "two ensembles");

    let mut none = bare(attrs());
    none.node[0].op_type = "TreeEnsembleRegressor".into();
    assert!(TreeKernel::from_graph(&none, "probs", 2).is_none(), "no classifier");
}

#[test]
fn invalid_node_attributes_are_refused() {
    let attrs = || tiny_attributes("NONE");
    let refused = |a: Vec<AttributeProto>, width: usize, why: &str| {
        assert!(TreeKernel::from_graph(&bare(a), "probs", width).is_none(), "{why}");
    };
    refused(replace(attrs(), ints("classlabels_int64s", &[0, 1])), 2, "binary layout");
    refused(replace(attrs(), floats("base_values", &[0.1, 0.2])), 2, "base values of the wrong length");
    refused(attrs(), 1, "feature id 1 beyond a width of 1");
    refused(replace(attrs(), ints("nodes_truenodeids", &[7, 0, 0, 1, 0, 0])), 2, "a child that does not exist");
    refused(replace(attrs(), ints("nodes_truenodeids", &[0, 0, 0, 1, 0, 0])), 2, "a node that is its own child");
    refused(
        replace(attrs(), strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_XX", "LEAF", "LEAF"])),
        2,
        "an unknown mode",
    );
    refused(replace(attrs(), ints("nodes_featureids", &[0, 0, 0, 1, 0])), 2, "attribute lengths differ");
    refused(replace(attrs(), ints("class_ids", &[0, 1, 3, 0, 1])), 2, "a class id beyond the labels");
    refused(replace(attrs(), ints("class_nodeids", &[1, 2, 1, 2, 5])), 2, "weights of an unknown leaf");
    refused(replace(attrs(), ints("nodes_nodeids", &[0, 1, 1, 0, 1, 2])), 2, "a duplicate node");
    refused(replace(attrs(), ints("nodes_nodeids", &[3, 1, 2, 0, 1, 2])), 2, "a tree without node 0");
    refused(replace(attrs(), string("post_transform", "PROBIT")), 2, "an unknown post transform");
    refused(replace(attrs(), floats("nodes_treeids", &[0.0; 6])), 2, "an attribute of the wrong type");
    let without = |name: &str| attrs().into_iter().filter(|a| a.name != name).collect::<Vec<_>>();
    refused(without("nodes_values"), 2, "no node values");
    refused(without("classlabels_int64s"), 2, "no class labels");
    // Optional attributes may be absent.
    assert!(TreeKernel::from_graph(&bare(without("nodes_missing_value_tracks_true")), "probs", 2).is_some());
    assert!(TreeKernel::from_graph(&bare(without("base_values")), "probs", 2).is_some());
    assert!(TreeKernel::from_graph(&bare(without("post_transform")), "probs", 2).is_some());
    let labels = strings("classlabels_strings", &["a", "b", "c"]);
    let mut string_labels = without("classlabels_int64s");
    string_labels.push(labels);
    assert!(TreeKernel::from_graph(&bare(string_labels), "probs", 2).is_some(), "string class labels");
}

// ---------------------------------------------------------------------------------------------------
// The real test classifier: its graph shape, and kernel and tract each against onnxruntime

fn classifier_proto() -> ModelProto {
    tract_onnx::onnx().proto_model_for_read(&mut &CLASSIFIER[..]).unwrap()
}

struct Golden {
    inputs: Vec<f32>,
    outputs: Vec<f32>,
    rows: usize,
    width: usize,
}

fn golden() -> Golden {
    let v: serde_json::Value = serde_json::from_str(GOLDEN).unwrap();
    let num = |x: &serde_json::Value| x.as_f64().map_or(f32::NAN, |f| f as f32);
    let rows = v["inputs"].as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    let inputs = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(num)).collect();
    let outputs = v["outputs"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(num)).collect();
    Golden { inputs, outputs, rows: rows.len(), width }
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_real_classifier_graph_is_taken_over_and_variants_of_it_are_not() {
    let proto = classifier_proto();
    let g = proto.graph.as_ref().unwrap();
    let k = TreeKernel::from_graph(g, "probabilities", 126).expect("the test classifier is a bare ensemble");
    assert_eq!(k.classes(), 3);
    assert!(TreeKernel::from_graph(g, "probabilities", 100).is_none(), "feature ids beyond the width");

    // The same graph with a Relu spliced in before the output.
    let mut relu = g.clone();
    for n in relu.node.iter_mut() {
        for o in n.output.iter_mut().filter(|o| *o == "probabilities") {
            *o = "pre_relu".into();
        }
    }
    relu.node.push(node("Relu", &["pre_relu"], &["probabilities"], vec![]));
    assert!(TreeKernel::from_graph(&relu, "probabilities", 126).is_none());

    // … and with Identity and Mul by one, which keep the values.
    let mut kept = g.clone();
    for n in kept.node.iter_mut() {
        for o in n.output.iter_mut().filter(|o| *o == "probabilities") {
            *o = "pre".into();
        }
    }
    kept.node.push(node("Identity", &["pre"], &["pre2"], vec![]));
    kept.node.push(node("Mul", &["pre2", "one"], &["probabilities"], vec![]));
    kept.initializer.push(float_tensor("one", &[1.0]));
    assert!(TreeKernel::from_graph(&kept, "probabilities", 126).is_some());
}

#[test]
fn kernel_and_tract_each_match_onnxruntime_on_the_golden_rows() {
    let gold = golden();
    let proto = classifier_proto();
    assert_eq!(gold.width, 126);

    let kernel = TreeKernel::from_graph(proto.graph.as_ref().unwrap(), "probabilities", gold.width).unwrap();
    let mut by_kernel = Vec::new();
    kernel.score(&gold.inputs, &mut by_kernel);
    let w = worst(&by_kernel, &gold.outputs);
    assert!(w <= 1e-5, "kernel vs onnxruntime: max difference {w}");

    // tract on the same graph, without the kernel.
    let onnx = tract_onnx::onnx();
    let parsed = onnx.parse(&proto, None).unwrap();
    let mut model = parsed.model;
    let out = parsed.outlets_by_name["probabilities"];
    model.select_output_outlets(&[out]).unwrap();
    model
        .set_input_fact(
            0,
            tract_onnx::tract_hir::internal::InferenceFact::dt_shape(
                f32::datum_type(),
                tvec![gold.rows.to_dim(), gold.width.to_dim()],
            ),
        )
        .unwrap();
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let input = Tensor::from_shape(&[gold.rows, gold.width], &gold.inputs).unwrap();
    let result = plan.run(tvec![input.into_tvalue()]).unwrap();
    let by_tract = result[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
    let w = worst(&by_tract, &gold.outputs);
    assert!(w <= 1e-5, "tract vs onnxruntime: max difference {w}");
    let w = worst(&by_tract, &by_kernel);
    assert!(w <= 1e-5, "kernel vs tract: max difference {w}");
}

// ---------------------------------------------------------------------------------------------------
// Differential: random ensembles against a direct reading of the ONNX-ML attributes

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
struct RawNode {
    tree: i64,
    id: i64,
    mode: &'static str,
    feature: i64,
    value: f32,
    yes: i64,
    no: i64,
    nan_true: i64,
}

#[derive(Default)]
struct RawEnsemble {
    nodes: Vec<RawNode>,
    /// (tree, node, class, weight)
    leaves: Vec<(i64, i64, i64, f32)>,
    base: [f32; 3],
}

const THRESHOLDS: [f32; 3] = [0.5, 1.0, 2.0];
const VALUES: [f32; 8] = [-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, f32::NAN, 1e30];
const WIDTH: usize = 4;

/// Node ids are scrambled (×37, root stays 0) and each tree's nodes listed in reverse, so nothing
/// relies on ids being dense or in walk order.
/// A leaf node of `tree` (its weights are in the ensemble's leaf list).
fn leaf_node(tree: i64, id: i64) -> RawNode {
    RawNode { tree, id, mode: "LEAF", feature: 0, value: 0.0, yes: 0, no: 0, nan_true: 0 }
}

fn grow(rng: &mut Rng, e: &mut RawEnsemble, tree: i64, id: i64, depth: u32, next: &mut i64, modes: &[&'static str]) {
    let scramble = |id: i64| id * 37;
    if depth == 0 || (id != 0 && rng.below(4) == 0) {
        e.nodes.push(leaf_node(tree, scramble(id)));
        for _ in 0..=rng.below(2) {
            let w = (rng.below(2001) as f32 - 1000.0) / 500.0;
            e.leaves.push((tree, scramble(id), rng.below(3) as i64, w));
        }
        return;
    }
    let (yes, no) = (*next, *next + 1);
    *next += 2;
    e.nodes.push(RawNode {
        tree,
        id: scramble(id),
        mode: modes[rng.below(modes.len() as u64) as usize],
        feature: rng.below(WIDTH as u64) as i64,
        value: THRESHOLDS[rng.below(3) as usize],
        yes: scramble(yes),
        no: scramble(no),
        nan_true: rng.below(2) as i64,
    });
    grow(rng, e, tree, yes, depth - 1, next, modes);
    grow(rng, e, tree, no, depth - 1, next, modes);
}

fn random_ensemble(seed: u64, trees: i64, modes: &[&'static str]) -> RawEnsemble {
    let mut rng = Rng(seed);
    let mut e = RawEnsemble { base: [0.1, -0.2, 0.3], ..Default::default() };
    for tree in 0..trees {
        let start = e.nodes.len();
        let mut next = 1;
        let depth = 1 + rng.below(5) as u32;
        grow(&mut rng, &mut e, tree, 0, depth, &mut next, modes);
        e.nodes[start..].reverse();
    }
    e
}

fn attributes_of(e: &RawEnsemble) -> Vec<AttributeProto> {
    let n = &e.nodes;
    let col = |f: fn(&RawNode) -> i64| n.iter().map(f).collect::<Vec<i64>>();
    vec![
        ints("classlabels_int64s", &[0, 1, 2]),
        ints("nodes_treeids", &col(|x| x.tree)),
        ints("nodes_nodeids", &col(|x| x.id)),
        ints("nodes_featureids", &col(|x| x.feature)),
        floats("nodes_values", &n.iter().map(|x| x.value).collect::<Vec<_>>()),
        strings("nodes_modes", &n.iter().map(|x| x.mode).collect::<Vec<_>>()),
        ints("nodes_truenodeids", &col(|x| x.yes)),
        ints("nodes_falsenodeids", &col(|x| x.no)),
        ints("nodes_missing_value_tracks_true", &col(|x| x.nan_true)),
        ints("class_treeids", &e.leaves.iter().map(|l| l.0).collect::<Vec<_>>()),
        ints("class_nodeids", &e.leaves.iter().map(|l| l.1).collect::<Vec<_>>()),
        ints("class_ids", &e.leaves.iter().map(|l| l.2).collect::<Vec<_>>()),
        floats("class_weights", &e.leaves.iter().map(|l| l.3).collect::<Vec<_>>()),
        floats("base_values", &e.base),
        string("post_transform", "NONE"),
    ]
}

/// The ONNX-ML semantics, read straight off the attributes.
fn reference(e: &RawEnsemble, row: &[f32]) -> [f32; 3] {
    let mut s = e.base;
    let trees: std::collections::BTreeSet<i64> = e.nodes.iter().map(|x| x.tree).collect();
    for t in trees {
        let find = |id: i64| e.nodes.iter().find(|x| x.tree == t && x.id == id).unwrap();
        let mut n = find(0);
        while n.mode != "LEAF" {
            let x = row[n.feature as usize];
            let yes = if x.is_nan() {
                n.nan_true != 0
            } else {
                match n.mode {
                    "BRANCH_LEQ" => x <= n.value,
                    "BRANCH_LT" => x < n.value,
                    "BRANCH_GTE" => x >= n.value,
                    "BRANCH_GT" => x > n.value,
                    "BRANCH_EQ" => x == n.value,
                    "BRANCH_NEQ" => x != n.value,
                    other => panic!("{other}"),
                }
            };
            n = find(if yes { n.yes } else { n.no });
        }
        for l in e.leaves.iter().filter(|l| l.0 == t && l.1 == n.id) {
            s[l.2 as usize] += l.3;
        }
    }
    s
}

#[test]
fn random_ensembles_score_as_their_attributes_say() {
    let all_modes: &[&str] = &["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"];
    let mut rng = Rng(0x5eed);
    let rows: Vec<f32> = (0..300 * WIDTH).map(|_| VALUES[rng.below(VALUES.len() as u64) as usize]).collect();
    for seed in 1..=40u64 {
        // Even seeds: only `<=` (the LightGBM/XGBoost layout); odd: every comparison.
        let modes: &[&'static str] = if seed % 2 == 0 { &["BRANCH_LEQ"] } else { all_modes };
        let e = random_ensemble(seed * 0x9e37_79b9, 1 + (seed % 7) as i64, modes);
        let k = TreeKernel::from_graph(&bare(attributes_of(&e)), "probs", WIDTH)
            .unwrap_or_else(|| panic!("seed {seed}: a valid ensemble was refused"));
        let mut got = Vec::new();
        k.score(&rows, &mut got);
        assert_eq!(got.len(), 300 * 3);
        for (i, row) in rows.chunks(WIDTH).enumerate() {
            let want = reference(&e, row);
            assert!(
                close(&got[i * 3..i * 3 + 3], &want),
                "seed {seed}, row {row:?}: {:?} != {want:?}",
                &got[i * 3..i * 3 + 3]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// QuickScorer: the same exit leaves as the walk, so the same bits

/// Scores `rows` both ways: (QuickScorer, walk).
fn both_ways(k: &TreeKernel, rows: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mut quick, mut walk) = (Vec::new(), Vec::new());
    k.score(rows, &mut quick);
    k.score_walking(rows, &mut walk);
    (quick, walk)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn quickscorer_gives_the_walks_bits_on_random_ensembles() {
    let mut rng = Rng(0xface);
    // Values at, around and between the thresholds, missing values, infinities and both zeros.
    let values = [-1.0, -0.0, 0.0, 0.49, 0.5, 0.51, 1.0, 2.0, 3.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    let rows: Vec<f32> = (0..500 * WIDTH).map(|_| values[rng.below(values.len() as u64) as usize]).collect();
    for seed in 1..=60u64 {
        let mut e = random_ensemble(seed * 0x51_7cc1, 1 + (seed % 9) as i64, &["BRANCH_LEQ"]);
        if seed % 2 == 0 {
            // One weight a leaf, as LightGBM writes them.
            e.leaves.dedup_by_key(|l| (l.0, l.1));
        }
        let k = TreeKernel::from_graph(&bare(attributes_of(&e)), "probs", WIDTH).expect("a valid ensemble");
        assert!(k.uses_quickscorer(), "seed {seed}: small `<=` trees take QuickScorer");
        if seed % 2 == 0 {
            assert!(k.quick.as_ref().is_some_and(QuickScorer::has_single_weights), "seed {seed}");
        }
        let (quick, walk) = both_ways(&k, &rows);
        assert_eq!(bits(&quick), bits(&walk), "seed {seed}");
    }
}

#[test]
fn quickscorer_blocks_of_any_length_give_the_walks_bits() {
    // Batches scored a block of rows at a time: one row, a block less one, a block, a block and a partial
    // one, several; each row's scores the same bits as the walk's and as the row scored alone.
    let mut rng = Rng(0xb10c);
    let values = [-1.0, 0.0, 0.5, 0.51, 1.0, 2.0, 3.0, f32::NAN, f32::INFINITY];
    for seed in 1..=20u64 {
        let mut e = random_ensemble(seed * 0x7f4a_7c15, 2 + (seed % 6) as i64, &["BRANCH_LEQ"]);
        if seed % 2 == 0 {
            e.leaves.dedup_by_key(|l| (l.0, l.1));
        }
        let k = TreeKernel::from_graph(&bare(attributes_of(&e)), "probs", WIDTH).unwrap();
        assert!(k.uses_quickscorer());
        for rows in [1, QUICK_BLOCK - 1, QUICK_BLOCK, QUICK_BLOCK + 3, 3 * QUICK_BLOCK + 5] {
            let input: Vec<f32> = (0..rows * WIDTH).map(|_| values[rng.below(values.len() as u64) as usize]).collect();
            let (quick, walk) = both_ways(&k, &input);
            assert_eq!(quick.len(), rows * 3);
            assert_eq!(bits(&quick), bits(&walk), "seed {seed}, {rows} rows");
            for (i, row) in input.chunks(WIDTH).enumerate() {
                let mut alone = Vec::new();
                k.score(row, &mut alone);
                assert_eq!(bits(&alone), bits(&quick[i * 3..i * 3 + 3]), "seed {seed}, row {i} of {rows}");
            }
        }
    }
    let shipped = include_bytes!("../../../models/shipped/flow-classifier.onnx");
    let proto = tract_onnx::onnx().proto_model_for_read(&mut &shipped[..]).unwrap();
    let k = TreeKernel::from_graph(proto.graph.as_ref().unwrap(), "probabilities", SHIPPED_WIDTH).unwrap();
    let gold = golden();
    for rows in [1, QUICK_BLOCK + 3] {
        let input: Vec<f32> = (0..rows * SHIPPED_WIDTH)
            .map(|i| if rng.below(5) == 0 { f32::NAN } else { gold.inputs[i % gold.inputs.len()] })
            .collect();
        let (quick, walk) = both_ways(&k, &input);
        assert_eq!(quick.len(), rows * 3);
        assert_eq!(bits(&quick), bits(&walk), "shipped, {rows} rows");
    }
}

#[test]
fn quickscorer_is_left_to_the_walk_when_it_does_not_apply() {
    // Another comparison than `<=`.
    let mut e = random_ensemble(7, 3, &["BRANCH_LEQ"]);
    if let Some(n) = e.nodes.iter_mut().find(|n| n.mode != "LEAF") {
        n.mode = "BRANCH_LT";
    }
    let k = TreeKernel::from_graph(&bare(attributes_of(&e)), "probs", WIDTH).unwrap();
    assert!(!k.uses_quickscorer());
    // Full trees: 2^depth leaves.
    fn full(e: &mut RawEnsemble, id: i64, depth: u32, next: &mut i64) {
        if depth == 0 {
            e.nodes.push(leaf_node(0, id));
            e.leaves.push((0, id, id % 3, id as f32 / 100.0));
            return;
        }
        let (yes, no) = (*next, *next + 1);
        *next += 2;
        let (feature, value) = ((id % WIDTH as i64), THRESHOLDS[id as usize % 3]);
        e.nodes.push(RawNode { tree: 0, id, mode: "BRANCH_LEQ", feature, value, yes, no, nan_true: id % 2 });
        full(e, yes, depth - 1, next);
        full(e, no, depth - 1, next);
    }
    let mut rng = Rng(3);
    let rows: Vec<f32> = (0..50 * WIDTH).map(|_| VALUES[rng.below(VALUES.len() as u64) as usize]).collect();
    // 32 leaves (depth 5) is the most QuickScorer takes; 33 (a leaf split once more) and 64 are left.
    for (depth, split_one_more, quick) in [(5, false, true), (5, true, false), (6, false, false)] {
        let mut wide = RawEnsemble { base: [0.0; 3], ..Default::default() };
        let mut next = 1;
        full(&mut wide, 0, depth, &mut next);
        if split_one_more {
            let leaf = wide.nodes.iter().position(|n| n.mode == "LEAF").unwrap();
            let id = wide.nodes[leaf].id;
            wide.leaves.retain(|l| l.1 != id);
            wide.nodes.remove(leaf);
            let (yes, no) = (next, next + 1);
            wide.nodes.push(RawNode { tree: 0, id, mode: "BRANCH_LEQ", feature: 1, value: 1.0, yes, no, nan_true: 1 });
            for leaf in [yes, no] {
                wide.nodes.push(leaf_node(0, leaf));
                wide.leaves.push((0, leaf, leaf % 3, 0.25));
            }
        }
        let k = TreeKernel::from_graph(&bare(attributes_of(&wide)), "probs", WIDTH).unwrap();
        assert_eq!(k.uses_quickscorer(), quick, "depth {depth}, split one more: {split_one_more}");
        let mut got = Vec::new();
        k.score(&rows, &mut got);
        for (i, row) in rows.chunks(WIDTH).enumerate() {
            assert!(
                close(&got[i * 3..i * 3 + 3], &reference(&wide, row)),
                "depth {depth}: scores as its attributes say"
            );
        }
    }
}

#[test]
fn quickscorer_gives_the_walks_bits_on_the_real_classifiers() {
    let shipped = include_bytes!("../../../models/shipped/flow-classifier.onnx");
    // (name, model, its width: the features of its manifest)
    for (name, bytes, width) in [("test", CLASSIFIER, 126), ("shipped", &shipped[..], SHIPPED_WIDTH)] {
        let proto = tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]).unwrap();
        let k = TreeKernel::from_graph(proto.graph.as_ref().unwrap(), "probabilities", width).unwrap();
        assert!(k.uses_quickscorer(), "{name}: LightGBM trees of at most 15 leaves");
        assert!(k.quick.as_ref().is_some_and(QuickScorer::has_single_weights), "{name}: a weight a leaf");
        // The golden rows of the test model, cut or padded to this width, scaled and partly missing.
        let gold = golden();
        let mut rng = Rng(11);
        let mut rows = Vec::new();
        for r in 0..gold.rows {
            for scale in [1.0f32, 0.5, 3.0] {
                rows.extend((0..width).map(|i| {
                    let v = gold.inputs.get(r * gold.width + i % gold.width).copied().unwrap_or(0.0);
                    if rng.below(7) == 0 { f32::NAN } else { v * scale }
                }));
            }
        }
        let (quick, walk) = both_ways(&k, &rows);
        assert_eq!(bits(&quick), bits(&walk), "{name}");
    }
}

/// The rows an occlusion set stands for: `base`, then `base` with each (column, value) applied.
fn occluded_rows(base: &[f32], occlusions: &[(usize, f32)]) -> Vec<f32> {
    let mut rows = base.to_vec();
    for &(column, value) in occlusions {
        let start = rows.len();
        rows.extend_from_slice(base);
        rows[start + column] = value;
    }
    rows
}

#[test]
fn occlusions_score_as_the_rows_they_stand_for() {
    let mut rng = Rng(0xacc1);
    let values = [-1.0, -0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, f32::NAN, f32::INFINITY];
    let pick = |rng: &mut Rng| values[rng.below(values.len() as u64) as usize];
    for seed in 1..=40u64 {
        // Even seeds: `<=` only (QuickScorer, one weight a leaf on every fourth); odd: every test (the walk).
        let all_modes: &[&str] = &["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"];
        let modes: &[&'static str] = if seed % 2 == 0 { &["BRANCH_LEQ"] } else { all_modes };
        let mut e = random_ensemble(seed * 0x2545, 1 + (seed % 8) as i64, modes);
        if seed % 4 == 0 {
            e.leaves.dedup_by_key(|l| (l.0, l.1));
        }
        let k = TreeKernel::from_graph(&bare(attributes_of(&e)), "probs", WIDTH).unwrap();
        assert_eq!(k.uses_quickscorer(), seed % 2 == 0);
        for _ in 0..20 {
            let base: Vec<f32> = (0..WIDTH).map(|_| pick(&mut rng)).collect();
            let occlusions: Vec<(usize, f32)> =
                (0..rng.below(6)).map(|_| (rng.below(WIDTH as u64) as usize, pick(&mut rng))).collect();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            k.score_occlusions(&base, &occlusions, &mut got);
            k.score(&occluded_rows(&base, &occlusions), &mut want);
            assert_eq!(bits(&got), bits(&want), "seed {seed}, base {base:?}, occlusions {occlusions:?}");
        }
    }
}

#[test]
fn occlusions_of_the_real_classifiers_score_as_their_rows() {
    let shipped = include_bytes!("../../../models/shipped/flow-classifier.onnx");
    let gold = golden();
    for (name, bytes, width) in [("test", CLASSIFIER, 126), ("shipped", &shipped[..], SHIPPED_WIDTH)] {
        let proto = tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]).unwrap();
        let k = TreeKernel::from_graph(proto.graph.as_ref().unwrap(), "probabilities", width).unwrap();
        for r in 0..gold.rows {
            let base: Vec<f32> = (0..width).map(|i| gold.inputs[r * gold.width + i % gold.width]).collect();
            // Every column to 0, to missing, and to another row's value.
            let other = (r + 1) % gold.rows;
            let occlusions: Vec<(usize, f32)> = (0..width)
                .flat_map(|j| [(j, 0.0), (j, f32::NAN), (j, gold.inputs[other * gold.width + j % gold.width])])
                .collect();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            k.score_occlusions(&base, &occlusions, &mut got);
            k.score(&occluded_rows(&base, &occlusions), &mut want);
            assert_eq!(bits(&got), bits(&want), "{name}, row {r}");
        }
    }
}
