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
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sensorml.data import matrix
from sensorml.onnx_export import anomaly_graph as build_anomaly_graph
from sensorml.onnx_export import export_lgbm, nan_median, save, save_with_golden, session, set_manifest, slog1p
from sensorml.onnx_export import manifest as onnx_manifest
from sensorml.sensor import Schema, Sensor, Simulation
from sensorml.thresholds import for_budget

LABELS = ["benign", "exfiltration", "lateral_movement"]
ALERT_LABELS = ["exfiltration", "lateral_movement"]
SCHEMA_ID = "flow-v1"
VERSION = "0.1.0"
DESCRIPTION = "Test model trained on simulated traffic from `sensor simulate`; for tests only, not for production."


# Simulated data. Training: train variants of the attacks; validation: the same variants, another seed and
# size (thresholds and goldens come from it). The eval variants stay unseen for the evaluation stage.
TRAIN_SIM = Simulation("train", seed=7, variants="train", hosts=60, duration="3h", volume_scale=0.05)
VAL_SIM = Simulation("val", seed=11, variants="train", hosts=50, duration="3h", volume_scale=0.05)
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
    """The flow-v1 names and hash (a prefix of the build's current schema)."""
    schema = Sensor(sensor).schema(SCHEMA_ID)
    return schema.names, schema.hash


def manifest(name: str, kind: str, schema_hash: str, features: list[str], labels: list[str], output: str,
             thresholds: dict[str, float], reference: np.ndarray) -> dict[str, str]:
    """The shared manifest with this script's schema id, version and description."""
    return onnx_manifest(name=name, version=VERSION, kind=kind, schema=Schema(SCHEMA_ID, features, schema_hash),
                         features=features, labels=labels, output=output, thresholds=thresholds,
                         reference=reference, description=DESCRIPTION)


# --------------------------------------------------------------------------------------- classifier


def lgbm_params(**over) -> dict:
    p = dict(
        n_estimators=20, num_leaves=15, learning_rate=0.2, min_child_samples=10, subsample=1.0,
        colsample_bytree=1.0, reg_lambda=1.0, random_state=SEED, n_jobs=1, deterministic=True,
        force_col_wise=True, verbose=-1,
    )
    p.update(over)
    return p


def train_classifier(Xtr, ytr, names):
    # Unweighted classes: on validation this caught more lateral movement at the 1-in-1,000 threshold than
    # balanced weights (which inflate attack probabilities of benign flows and so push thresholds up).
    clf = lgb.LGBMClassifier(objective="multiclass", **lgbm_params())
    clf.fit(pd.DataFrame(Xtr.astype(np.float64), columns=names), ytr)
    assert list(clf.classes_) == [0, 1, 2]
    return clf


# ------------------------------------------------------------------------------------------ anomaly


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

    tr = Sensor(sensor).simulate_and_extract(TRAIN_SIM, work)
    va = Sensor(sensor).simulate_and_extract(VAL_SIM, work)
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
        t, k = for_budget(p_va[benign_va, j], FP_PER_FLOW, floor=MIN_PROBABILITY_THRESHOLD)
        c_thr[lab] = t
        hit = p_va[yva == j, j] >= np.float32(t)
        fp = int((p_va[benign_va, j] >= np.float32(t)).sum())
        log(f"classifier threshold {lab} = {t} (benign allowed {k} of {benign_va.sum()}, crossing {fp}); "
            f"validation {lab} flows caught {hit.sum()}/{hit.size}")
    set_manifest(conx, manifest(cname, "classifier", schema_hash, names, LABELS, "probabilities", c_thr,
                                nan_median(Xtr[benign_tr])))
    save_with_golden(conx, out / f"{cname}.onnx", "probabilities", Xva[golden_rows])

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
    aonx = build_anomaly_graph(aname, len(afeat), median, mean, std, mlp.coefs_, mlp.intercepts_,
                               producer="sensor-models-test", version=VERSION)
    asess = session(aonx)
    s_va = asess.run(["anomaly_score"], {"features": Xva[:, keep]})[0]
    assert s_va.shape == (len(Xva),) and s_va.dtype == np.float32 and np.isfinite(s_va).all()
    # the graph computes what numpy computes
    Tv = slog1p(np.where(np.isnan(Xva[:, keep]), median, Xva[:, keep]).astype(np.float64))
    Zv = (Tv - mean) / std
    ref = ((mlp.predict(Zv) - Zv) ** 2).mean(axis=1)
    log(f"anomaly: |numpy - onnxruntime| max relative {float((np.abs(ref - s_va) / np.maximum(ref, 1e-6)).max()):.2e}")
    a_t, k = for_budget(s_va[benign_va], FP_PER_FLOW)
    for j, lab in enumerate(LABELS):
        m = yva == j
        log(f"anomaly: validation {lab}: median score {np.median(s_va[m]):.3f}, >= threshold {int((s_va[m] >= np.float32(a_t)).sum())}/{m.sum()}")
    log(f"anomaly threshold = {a_t} (benign allowed {k} of {benign_va.sum()})")
    set_manifest(aonx, manifest(aname, "anomaly", schema_hash, afeat, ["anomaly"], "anomaly_score",
                                {"anomaly": a_t}, median))
    save_with_golden(aonx, out / f"{aname}.onnx", "anomaly_score", Xva[golden_rows][:, keep])

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
