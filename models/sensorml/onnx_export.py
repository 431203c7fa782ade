"""ONNX models that honour the sensor's model contract: the manifest in `metadata_props`, LightGBM
classifiers as one `TreeEnsembleClassifier`, autoencoders whose graph outputs the anomaly score, and the
golden files (inputs and onnxruntime outputs) that the Rust tests compare tract with.

Opsets: default domain 13, inside tract's tested range, where ReduceMean still takes `axes` as an
attribute (an input from opset 18 on); ai.onnx.ml 3, whose TreeEnsemble ops carry the float
`nodes_values` that tract reads (not `nodes_values_as_tensor`). IR 8 is read by tract and onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from .sensor import Schema

OPSET = 13
ML_OPSET = 3
IR_VERSION = 8


def f32_json(v) -> float | None:
    """A float32 as the JSON number with the shortest text that parses back to the same float32."""
    v = np.float32(v)
    if np.isnan(v):
        return None
    if not np.isfinite(v):
        raise ValueError(f"not a finite number: {v}")
    return float(np.format_float_scientific(v, unique=True))


def nan_median(x: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN, as float32; NaN for a column that is always missing."""
    out = np.full(x.shape[1], np.nan, dtype=np.float32)
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.size:
            out[j] = np.float32(np.median(col.astype(np.float64)))
    return out


def manifest(*, name: str, version: str, kind: str, schema: Schema, features: list[str], labels: list[str],
             output: str, thresholds: dict[str, float], reference: np.ndarray, description: str) -> dict[str, str]:
    """The manifest keys of the model contract (see models/README.md); every value a string."""
    j = lambda v: json.dumps(v, separators=(",", ":"))
    # Features the schema lacks are not refused here: `sensor model check` names them (and the refusal
    # fixtures of test_models.py need them).
    if len(reference) != len(features):
        raise ValueError(f"reference has {len(reference)} values for {len(features)} features")
    return {
        "sensor.manifest_version": "1",
        "sensor.name": name,
        "sensor.version": version,
        "sensor.kind": kind,
        "sensor.feature_schema": schema.id,
        "sensor.feature_schema_hash": schema.hash,
        "sensor.features": j(features),
        "sensor.labels": j(labels),
        "sensor.output": output,
        "sensor.thresholds": j(thresholds),
        "sensor.reference": j([f32_json(v) for v in reference]),
        "sensor.description": description,
    }


def set_manifest(model: onnx.ModelProto, props: dict[str, str] | None) -> onnx.ModelProto:
    del model.metadata_props[:]
    if props:
        onnx.helper.set_model_props(model, props)
    return model


def read_manifest(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    """A single-threaded onnxruntime session: the reference runtime, deterministic."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    data = model.read_bytes() if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def save(model: onnx.ModelProto, path: Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def export_lgbm(model, n_features: int, name: str) -> onnx.ModelProto:
    """A fitted LightGBM model as ONNX: one TreeEnsemble op, zipmap off, outputs `label` [N] and
    `probabilities` [N,C] for a classifier, the exact opsets above, and a named batch axis."""
    onx = convert_lightgbm(model, name=name, initial_types=[("features", FloatTensorType([None, n_features]))],
                           target_opset=OPSET, zipmap=False)
    onx.graph.name = name
    # opsets exactly as chosen (the converter may list extra domains it did not use)
    used = {n.domain for n in onx.graph.node}
    want = {"": OPSET, "ai.onnx.ml": ML_OPSET}
    del onx.opset_import[:]
    for dom in sorted(used | {""}):
        onx.opset_import.append(helper.make_opsetid(dom, want[dom]))
    # The converter declares `label` as [1] and leaves the batch axis unnamed; declare what the graph
    # computes, [N] / [N,C], with the batch axis a named symbol, so tract's facts agree with the real shapes.
    for vi in list(onx.graph.input) + list(onx.graph.output):
        dim0 = vi.type.tensor_type.shape.dim[0]
        dim0.Clear()
        dim0.dim_param = "N"
    onx.ir_version = IR_VERSION
    for node in onx.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            attrs = {a.name for a in node.attribute}
            if "nodes_values" not in attrs or "nodes_values_as_tensor" in attrs:
                raise RuntimeError(f"{node.op_type} without float nodes_values: tract cannot read it ({attrs})")
    return onx


def slog1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


def anomaly_graph(name: str, n_features: int, median, mean, std, coefs, intercepts, *, producer: str,
                  version: str) -> onnx.ModelProto:
    """An autoencoder whose graph does it all: NaN → benign median (IsNaN, Where), sign(x)·log(1+|x|),
    standardise, the MLP (MatMul, Add, Relu), and `anomaly_score` [N] = mean squared reconstruction error."""
    c = lambda n, a: numpy_helper.from_array(np.asarray(a, dtype=np.float32), n)
    inits = [c("median", median), c("one", np.float32(1.0)), c("mean", mean), c("std", std)]
    nodes = [
        helper.make_node("IsNaN", ["features"], ["is_nan"]),
        helper.make_node("Where", ["is_nan", "median", "features"], ["imputed"]),
        helper.make_node("Sign", ["imputed"], ["sign"]),
        helper.make_node("Abs", ["imputed"], ["abs"]),
        helper.make_node("Add", ["abs", "one"], ["abs_plus_one"]),
        helper.make_node("Log", ["abs_plus_one"], ["log1p_abs"]),
        helper.make_node("Mul", ["sign", "log1p_abs"], ["slog1p"]),
        helper.make_node("Sub", ["slog1p", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["z"]),
    ]
    h = "z"
    n_layers = len(coefs)
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        inits += [c(f"w{i}", w), c(f"b{i}", b)]
        nodes.append(helper.make_node("MatMul", [h, f"w{i}"], [f"mm{i}"]))
        last = i == n_layers - 1
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], ["reconstruction" if last else f"pre{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"pre{i}"], [f"h{i}"]))
            h = f"h{i}"
    nodes += [
        helper.make_node("Sub", ["reconstruction", "z"], ["err"]),
        helper.make_node("Mul", ["err", "err"], ["sq_err"]),
        helper.make_node("ReduceMean", ["sq_err"], ["anomaly_score"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["N"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer,
                              producer_version=version)
    model.ir_version = IR_VERSION
    return model


def write_golden(path: Path, model_file: str, output: str, x: np.ndarray, y: np.ndarray) -> None:
    """Inputs (null for NaN) and the reference outputs, one row per line: readable diffs, small file."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    doc = {
        "model": model_file,
        "output": output,
        "inputs": [[f32_json(v) for v in row] for row in x],
        "outputs": [[f32_json(v) for v in row] for row in y],
    }
    rows = lambda key: ",\n".join("    " + json.dumps(r, separators=(",", ":")) for r in doc[key])
    text = (
        "{\n"
        f'  "model": {json.dumps(model_file)},\n'
        f'  "output": {json.dumps(output)},\n'
        f'  "inputs": [\n{rows("inputs")}\n  ],\n'
        f'  "outputs": [\n{rows("outputs")}\n  ]\n'
        "}\n"
    )
    if json.loads(text) != doc:
        raise RuntimeError(f"{path}: golden text does not parse back to itself")
    path.write_text(text)


def save_with_golden(model: onnx.ModelProto, path: Path, output: str, x: np.ndarray) -> None:
    """Saves `model` at `path` and `<stem>.golden.json` beside it: the rows `x` and the saved file's
    onnxruntime outputs, checked to reproduce themselves through JSON."""
    save(model, path)
    golden = path.with_name(f"{path.stem}.golden.json")
    write_golden(golden, path.name, output, x, session(path).run([output], {"features": x})[0])
    verify_golden(golden, path)


def verify_golden(path: Path, model_path: Path) -> None:
    """The golden file as a reader sees it (JSON numbers parsed to float32, null to NaN) reproduces itself."""
    doc = json.loads(path.read_text())
    x = np.array([[np.nan if v is None else v for v in r] for r in doc["inputs"]], dtype=np.float32)
    want = np.array(doc["outputs"], dtype=np.float32)
    got = session(model_path).run([doc["output"]], {"features": x})[0]
    if not np.array_equal(got.reshape(want.shape), want):
        raise RuntimeError(f"{path}: JSON round trip changed the outputs")
    if not np.isnan(x).any():
        raise RuntimeError(f"{path}: no missing feature in any golden row")
