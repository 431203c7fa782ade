#!/usr/bin/env python3
"""Build the small *test* models of the sensor's inference stage, their goldens and refusal fixtures.

    models/.venv/bin/python models/test_models.py --sensor target/release/sensor --out models/test

Everything comes from the sensor itself: `sensor simulate` writes a labelled capture of a simulated site,
`sensor extract --truth` turns it into the flow-v1 training table (the serving code, never a
re-implementation). Then:

  flow-classifier-test.onnx   LightGBM multiclass (benign, exfiltration, lateral_movement) over all flow-v1
                              features, exported with onnxmltools as one TreeEnsembleClassifier (zipmap=False,
                              outputs `label` [N] and `probabilities` [N,3]).
  flow-anomaly-test.onnx      autoencoder (scikit-learn MLPRegressor) trained on benign flows only; the graph
                              imputes NaN with the benign medians, applies sign(x)*log(1+|x|), standardises,
                              runs the MLP and outputs `anomaly_score` [N] = mean squared reconstruction error.
  <name>.golden.json          ~64 validation rows and the onnxruntime outputs, for the Rust test (tract).
  bad/*.onnx                  tiny models the sensor must refuse, each wrong in exactly one way.

Deterministic: fixed seeds, single-threaded training and inference; two runs give the same files.
Test models only: trained on simulated data, small on purpose, not for production.
"""

from __future__ import annotations

import os

# Single-threaded numerics before numpy/sklearn are imported: same bytes on every run and machine size.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

LABELS = ["benign", "exfiltration", "lateral_movement"]
ALERT_LABELS = ["exfiltration", "lateral_movement"]
SCHEMA_ID = "flow-v1"
VERSION = "0.1.0"
DESCRIPTION = "Test model trained on simulated traffic from `sensor simulate`; for tests only, not for production."

# ONNX opsets. Default domain 13: inside tract's tested range (9-18) and ReduceMean still takes `axes` as an
# attribute (it became an input at opset 18). ai.onnx.ml 3: TreeEnsembleClassifier/Regressor with the float
# `nodes_values` attribute (tract does not read `nodes_values_as_tensor`; ml opset 5 deprecates the op).
OPSET = 13
ML_OPSET = 3
IR_VERSION = 8  # ONNX IR 8: recent enough for both opsets above, read by tract and onnxruntime

# Simulated data. Training: train variants of the attacks; validation: the same variants, another seed and
# size (thresholds and goldens come from it). The eval variants stay unseen for the evaluation stage.
TRAIN_SIM = dict(scenario="enterprise", hosts=60, duration="3h", volume_scale=0.05, variants="train", seed=7)
VAL_SIM = dict(scenario="enterprise", hosts=50, duration="3h", volume_scale=0.05, variants="train", seed=11)
SEED = 7

# Threshold rule (both models, per alerting label): with n benign validation flows, k = floor(n / 1000)
# benign flows may reach the threshold. The threshold is the smallest number with 4 significant digits that
# is strictly above the (k+1)-th highest benign validation score, so at most k benign flows (<= 1 per
# 1,000) have score >= threshold; the sensor alerts when score >= threshold. Classifier probability
# thresholds are never below 0.5.
FP_PER_FLOW = 1 / 1000
MIN_PROBABILITY_THRESHOLD = 0.5


def log(msg: str) -> None:
    print(f"[test_models] {msg}", flush=True)


# --------------------------------------------------------------------------------------------- data


def read_schema(sensor: str) -> tuple[list[str], str]:
    out = subprocess.run([sensor, "extract", "--schema"], check=True, capture_output=True, text=True).stdout
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    head = lines[0].split()
    # "# schema flow-v1 sha256:<hex> (126 features)"
    assert head[:2] == ["#", "schema"] and head[2] == SCHEMA_ID, f"unexpected schema line: {lines[0]}"
    # The manifest carries the bare hex digest, as the sensor's Schema::hash holds it (no "sha256:").
    assert head[3].startswith("sha256:"), head[3]
    schema_hash = head[3].removeprefix("sha256:")
    assert len(schema_hash) == 64 and all(c in "0123456789abcdef" for c in schema_hash), schema_hash
    names = [l for l in lines[1:] if not l.startswith("#")]
    n = int(head[4].lstrip("("))
    assert len(names) == n, f"schema says {n} features, listed {len(names)}"
    return names, schema_hash


def simulate_and_extract(sensor: str, work: Path, tag: str, sim: dict) -> pd.DataFrame:
    pcap, truth, table = work / f"{tag}.pcap", work / f"{tag}.truth.parquet", work / f"{tag}.parquet"
    subprocess.run(
        [sensor, "simulate", "--scenario", sim["scenario"], "--hosts", str(sim["hosts"]),
         "--duration", sim["duration"], "--volume-scale", str(sim["volume_scale"]),
         "--variants", sim["variants"], "--seed", str(sim["seed"]),
         "--out", str(pcap), "--truth", str(truth)],
        check=True,
    )
    try:
        subprocess.run(
            [sensor, "extract", "--pcap", str(pcap), "--truth", str(truth), "--out", str(table), "--quiet"],
            check=True,
        )
    finally:
        pcap.unlink(missing_ok=True)  # captures are large; the table is all we need
    df = pd.read_parquet(table)
    unknown = sorted(set(df["label"]) - set(LABELS))
    assert not unknown, f"labels outside {LABELS}: {unknown}"
    return df.reset_index(drop=True)


def matrix(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The model input: float32 in the given feature order, NaN for missing."""
    return df[names].to_numpy(dtype=np.float64).astype(np.float32)


# ------------------------------------------------------------------------------------------ helpers


def f32_json(v) -> float | None:
    """A float32 as the JSON number with the shortest text that parses back to the same float32."""
    v = np.float32(v)
    if np.isnan(v):
        return None
    assert np.isfinite(v), v
    return float(np.format_float_scientific(v, unique=True))


def threshold_above(score: float) -> float:
    """Smallest number with 4 significant digits strictly above `score`, also above it as float32."""
    s = float(score)
    exp = math.floor(math.log10(s)) - 3 if s > 0 else -4
    step = 10.0 ** exp
    t = round((math.floor(s / step) + 1) * step, max(0, -exp))
    while not (t > s and np.float32(t) > np.float32(s)):
        t = round(t + step, max(0, -exp))
    return t


def choose_threshold(benign_scores: np.ndarray, floor: float | None = None) -> tuple[float, int]:
    scores = np.sort(np.asarray(benign_scores, dtype=np.float64))[::-1]
    k = int(math.floor(len(scores) * FP_PER_FLOW))
    t = threshold_above(scores[k]) if k < len(scores) else threshold_above(scores[-1])
    if floor is not None:
        t = max(t, floor)
    crossing = int((np.asarray(benign_scores, dtype=np.float32) >= np.float32(t)).sum())
    assert crossing <= k, (t, crossing, k)
    return t, k


def nan_median(x: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN, as float32; NaN for a column that is always missing."""
    out = np.full(x.shape[1], np.nan, dtype=np.float32)
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.size:
            out[j] = np.float32(np.median(col.astype(np.float64)))
    return out


def manifest(name: str, kind: str, schema_hash: str, features: list[str], labels: list[str], output: str,
             thresholds: dict[str, float], reference: np.ndarray) -> dict[str, str]:
    j = lambda v: json.dumps(v, separators=(",", ":"))
    assert len(reference) == len(features)
    return {
        "sensor.manifest_version": "1",
        "sensor.name": name,
        "sensor.version": VERSION,
        "sensor.kind": kind,
        "sensor.feature_schema": SCHEMA_ID,
        "sensor.feature_schema_hash": schema_hash,
        "sensor.features": j(features),
        "sensor.labels": j(labels),
        "sensor.output": output,
        "sensor.thresholds": j(thresholds),
        "sensor.reference": j([f32_json(v) for v in reference]),
        "sensor.description": DESCRIPTION,
    }


def set_manifest(model: onnx.ModelProto, props: dict[str, str] | None) -> onnx.ModelProto:
    del model.metadata_props[:]
    if props:
        onnx.helper.set_model_props(model, props)
    return model


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def save(model: onnx.ModelProto, path: Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def write_golden(path: Path, model_file: str, output: str, x: np.ndarray, y: np.ndarray) -> None:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    doc = {
        "model": model_file,
        "output": output,
        "inputs": [[f32_json(v) for v in row] for row in x],
        "outputs": [[f32_json(v) for v in row] for row in y],
    }
    # one row per line: readable diffs, small file
    rows = lambda key: ",\n".join("    " + json.dumps(r, separators=(",", ":")) for r in doc[key])
    text = (
        "{\n"
        f'  "model": {json.dumps(model_file)},\n'
        f'  "output": {json.dumps(output)},\n'
        f'  "inputs": [\n{rows("inputs")}\n  ],\n'
        f'  "outputs": [\n{rows("outputs")}\n  ]\n'
        "}\n"
    )
    assert json.loads(text) == doc
    path.write_text(text)


def verify_golden(path: Path, model_path: Path) -> None:
    """The golden file as a reader sees it (JSON numbers parsed to float32, null to NaN) reproduces itself."""
    doc = json.loads(path.read_text())
    x = np.array([[np.nan if v is None else v for v in r] for r in doc["inputs"]], dtype=np.float32)
    want = np.array(doc["outputs"], dtype=np.float32)
    got = session(onnx.load(str(model_path))).run([doc["output"]], {"features": x})[0]
    assert np.array_equal(got.reshape(want.shape), want), f"{path}: JSON round trip changed the outputs"
    assert np.isnan(x).any(), f"{path}: no missing feature in any golden row"


# --------------------------------------------------------------------------------------- classifier


def lgbm_params(**over) -> dict:
    p = dict(
        n_estimators=20, num_leaves=15, learning_rate=0.2, min_child_samples=10, subsample=1.0,
        colsample_bytree=1.0, reg_lambda=1.0, random_state=SEED, n_jobs=1, deterministic=True,
        force_col_wise=True, verbose=-1,
    )
    p.update(over)
    return p


def export_lgbm(model, n_features: int, name: str) -> onnx.ModelProto:
    onx = convert_lightgbm(
        model, name=name, initial_types=[("features", FloatTensorType([None, n_features]))],
        target_opset=OPSET, zipmap=False,
    )
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
            assert "nodes_values" in attrs and "nodes_values_as_tensor" not in attrs, attrs
    return onx


def train_classifier(Xtr, ytr, names):
    # Unweighted classes: on validation this caught more lateral movement at the 1-in-1,000 threshold than
    # balanced weights (which inflate attack probabilities of benign flows and so push thresholds up).
    clf = lgb.LGBMClassifier(objective="multiclass", **lgbm_params())
    clf.fit(pd.DataFrame(Xtr.astype(np.float64), columns=names), ytr)
    assert list(clf.classes_) == [0, 1, 2]
    return clf


# ------------------------------------------------------------------------------------------ anomaly


def slog1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


def anomaly_graph(name, features, median, mean, std, mlp: MLPRegressor) -> onnx.ModelProto:
    F = len(features)
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
    n_layers = len(mlp.coefs_)
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
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
        # opset 13: axes is an attribute (an input from opset 18 on)
        helper.make_node("ReduceMean", ["sq_err"], ["anomaly_score"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", F])],
        [helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["N"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="sensor-models-test", producer_version=VERSION)
    model.ir_version = IR_VERSION
    return model


# --------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sensor", required=True, help="the sensor binary (simulate, extract)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "test"), help="output directory")
    ap.add_argument("--work", help="scratch directory (default: a fresh one under $TMPDIR, removed at the end)")
    args = ap.parse_args()
    t_start = time.monotonic()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message=".*feature names.*")

    sensor = str(Path(args.sensor).resolve())
    out = Path(args.out)
    bad = out / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="sensor-test-models-")) if own_work else Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        return build(sensor, out, bad, work, t_start)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def build(sensor: str, out: Path, bad: Path, work: Path, t_start: float) -> int:
    names, schema_hash = read_schema(sensor)
    F = len(names)
    log(f"schema {SCHEMA_ID} sha256:{schema_hash} ({F} features)")

    tr = simulate_and_extract(sensor, work, "train", TRAIN_SIM)
    va = simulate_and_extract(sensor, work, "val", VAL_SIM)
    for tag, df in (("train", tr), ("validation", va)):
        log(f"{tag}: {len(df)} rows " + ", ".join(f"{l}={int((df.label == l).sum())}" for l in LABELS))
    Xtr, Xva = matrix(tr, names), matrix(va, names)
    ytr = tr["label"].map(LABELS.index).to_numpy()
    yva = va["label"].map(LABELS.index).to_numpy()
    benign_tr, benign_va = ytr == 0, yva == 0

    # Golden rows: validation flows of every label (every flow has some missing features, NaN).
    rng = np.random.default_rng(SEED)
    per_label = {0: 24, 1: 20, 2: 20}
    picks = []
    for lab, n in per_label.items():
        idx = np.flatnonzero(yva == lab)
        picks.extend(rng.choice(idx, size=min(n, idx.size), replace=False).tolist())
    golden_rows = np.array(sorted(picks))
    assert np.isnan(Xva[golden_rows]).any(axis=1).sum() > 0

    # ---------------------------------------------------------------- classifier
    cname = "flow-classifier-test"
    clf = train_classifier(Xtr, ytr, names)
    conx = export_lgbm(clf, F, cname)
    sess = session(conx)
    outs = [o.name for o in sess.get_outputs()]
    assert outs == ["label", "probabilities"], outs
    p_va = sess.run(["probabilities"], {"features": Xva})[0]
    assert p_va.shape == (len(Xva), 3) and p_va.dtype == np.float32
    # NaN handling survives export: onnxruntime agrees with LightGBM itself on every validation row.
    p_lgb = clf.predict_proba(pd.DataFrame(Xva.astype(np.float64), columns=names))
    lgb_diff = float(np.abs(p_lgb - p_va).max())
    log(f"classifier: {len(clf.booster_.dump_model()['tree_info'])} trees; |LightGBM - onnxruntime| max {lgb_diff:.2e}")
    assert lgb_diff < 1e-4, lgb_diff
    c_thr = {}
    for lab in ALERT_LABELS:
        j = LABELS.index(lab)
        t, k = choose_threshold(p_va[benign_va, j], floor=MIN_PROBABILITY_THRESHOLD)
        c_thr[lab] = t
        hit = p_va[yva == j, j] >= np.float32(t)
        fp = int((p_va[benign_va, j] >= np.float32(t)).sum())
        log(f"classifier threshold {lab} = {t} (benign allowed {k} of {benign_va.sum()}, crossing {fp}); "
            f"validation {lab} flows caught {hit.sum()}/{hit.size}")
    set_manifest(conx, manifest(cname, "classifier", schema_hash, names, LABELS, "probabilities", c_thr,
                                nan_median(Xtr[benign_tr])))
    save(conx, out / f"{cname}.onnx")
    write_golden(out / f"{cname}.golden.json", f"{cname}.onnx", "probabilities", Xva[golden_rows],
                 session(conx).run(["probabilities"], {"features": Xva[golden_rows]})[0])
    verify_golden(out / f"{cname}.golden.json", out / f"{cname}.onnx")

    # ---------------------------------------------------------------- anomaly autoencoder
    aname = "flow-anomaly-test"
    Xb = Xtr[benign_tr]
    with np.errstate(all="ignore"):
        var = np.nanvar(Xb.astype(np.float64), axis=0)
    keep = [j for j in range(F) if np.isfinite(var[j]) and var[j] > 0]
    dropped = [names[j] for j in range(F) if j not in keep]
    afeat = [names[j] for j in keep]
    log(f"anomaly: {len(afeat)} features ({len(dropped)} constant or always missing in benign training data dropped)")
    median = nan_median(Xb[:, keep])
    Ta = slog1p(np.where(np.isnan(Xb[:, keep]), median, Xb[:, keep]).astype(np.float32).astype(np.float64))
    mean = Ta.mean(axis=0).astype(np.float32)
    # floor keeps a nearly constant feature from dominating the score
    std = np.maximum(Ta.std(axis=0), 1e-2).astype(np.float32)
    Z = ((Ta - mean) / std).astype(np.float32)
    mlp = MLPRegressor(hidden_layer_sizes=(32, 8, 32), activation="relu", solver="adam", alpha=1e-4,
                       batch_size=256, learning_rate_init=1e-3, max_iter=60, shuffle=True, random_state=SEED,
                       tol=1e-6, n_iter_no_change=1000)
    t0 = time.monotonic()
    mlp.fit(Z, Z)
    log(f"anomaly: MLP {mlp.n_iter_} epochs in {time.monotonic() - t0:.1f} s, final loss {mlp.loss_:.4f}")
    aonx = anomaly_graph(aname, afeat, median, mean, std, mlp)
    asess = session(aonx)
    s_va = asess.run(["anomaly_score"], {"features": Xva[:, keep]})[0]
    assert s_va.shape == (len(Xva),) and s_va.dtype == np.float32 and np.isfinite(s_va).all()
    # the graph computes what numpy computes
    Tv = slog1p(np.where(np.isnan(Xva[:, keep]), median, Xva[:, keep]).astype(np.float64))
    Zv = (Tv - mean) / std
    ref = ((mlp.predict(Zv) - Zv) ** 2).mean(axis=1)
    log(f"anomaly: |numpy - onnxruntime| max relative {float((np.abs(ref - s_va) / np.maximum(ref, 1e-6)).max()):.2e}")
    a_t, k = choose_threshold(s_va[benign_va])
    for j, lab in enumerate(LABELS):
        m = yva == j
        log(f"anomaly: validation {lab}: median score {np.median(s_va[m]):.3f}, >= threshold {int((s_va[m] >= np.float32(a_t)).sum())}/{m.sum()}")
    log(f"anomaly threshold = {a_t} (benign allowed {k} of {benign_va.sum()})")
    set_manifest(aonx, manifest(aname, "anomaly", schema_hash, afeat, ["anomaly"], "anomaly_score",
                                {"anomaly": a_t}, median))
    save(aonx, out / f"{aname}.onnx")
    write_golden(out / f"{aname}.golden.json", f"{aname}.onnx", "anomaly_score", Xva[golden_rows][:, keep],
                 session(aonx).run(["anomaly_score"], {"features": Xva[golden_rows][:, keep]})[0])
    verify_golden(out / f"{aname}.golden.json", out / f"{aname}.onnx")

    # ---------------------------------------------------------------- refusal fixtures
    tiny = lambda **kw: lgbm_params(n_estimators=2, num_leaves=4, min_child_samples=20, **kw)
    med_all = nan_median(Xtr[benign_tr])
    c_manifest = lambda name, feats, ref, h=schema_hash: manifest(
        name, "classifier", h, feats, LABELS, "probabilities", {l: 0.5 for l in ALERT_LABELS}, ref)

    def tiny_classifier(X, feats, name):
        m = lgb.LGBMClassifier(objective="multiclass", **tiny())
        m.fit(pd.DataFrame(X.astype(np.float64), columns=feats), ytr)
        return export_lgbm(m, len(feats), name)

    # missing-feature: two names the schema does not have, among real ones; input width = list length
    real = names[:8]
    mf_feats = real[:4] + ["no_such_feature_a"] + real[4:] + ["no_such_feature_b"]
    fake = rng.random((len(Xtr), 2)).astype(np.float32)
    Xmf = np.concatenate([Xtr[:, :4], fake[:, :1], Xtr[:, 4:8], fake[:, 1:]], axis=1)
    m = tiny_classifier(Xmf, mf_feats, "missing-feature")
    ref = np.concatenate([med_all[:4], [np.float32(0.5)], med_all[4:8], [np.float32(0.5)]])
    save(set_manifest(m, c_manifest("bad-missing-feature", mf_feats, ref)), bad / "missing-feature.onnx")

    # wrong-schema-hash: a sound classifier over all features, hash of zeros
    m = tiny_classifier(Xtr, names, "wrong-schema-hash")
    save(set_manifest(m, c_manifest("bad-wrong-schema-hash", names, med_all, "0" * 64)),
         bad / "wrong-schema-hash.onnx")

    # no-manifest: a sound classifier, no metadata_props at all
    m = tiny_classifier(Xtr, names, "no-manifest")
    save(set_manifest(m, None), bad / "no-manifest.onnx")

    # unsupported-op: a LightGBM regressor -> TreeEnsembleRegressor (tract has no such op); anomaly manifest
    r = lgb.LGBMRegressor(objective="regression", **tiny())
    r.fit(pd.DataFrame(Xtr.astype(np.float64), columns=names), (ytr != 0).astype(np.float64))
    m = export_lgbm(r, F, "unsupported-op")
    assert [n.op_type for n in m.graph.node if n.domain == "ai.onnx.ml"] == ["TreeEnsembleRegressor"]
    reg_out = m.graph.output[0].name
    save(set_manifest(m, manifest("bad-unsupported-op", "anomaly", schema_hash, names, ["anomaly"], reg_out,
                                  {"anomaly": 0.5}, med_all)), bad / "unsupported-op.onnx")

    # wrong-output-shape: binary classifier, probabilities [N,2], but a classifier manifest with 3 labels
    b = lgb.LGBMClassifier(objective="binary", **tiny())
    b.fit(pd.DataFrame(Xtr.astype(np.float64), columns=names), (ytr != 0).astype(np.int64))
    m = export_lgbm(b, F, "wrong-output-shape")
    assert session(m).run(["probabilities"], {"features": Xva[:5]})[0].shape == (5, 2)
    save(set_manifest(m, c_manifest("bad-wrong-output-shape", names, med_all)), bad / "wrong-output-shape.onnx")

    # ---------------------------------------------------------------- summary
    for p in sorted(out.rglob("*")):
        if p.is_file():
            log(f"wrote {p} ({p.stat().st_size} bytes)")
    log(f"done in {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
