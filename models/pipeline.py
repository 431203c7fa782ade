#!/usr/bin/env python3
"""The training pipeline, from simulated traffic to signed models and their evaluation report.

    models/setup.sh
    models/.venv/bin/python models/pipeline.py --sensor target/release/sensor

Stages (each logs what it did and how long it took):
  1. data      `sensor simulate` (train variants for training and validation, eval variants for the test)
               and `sensor extract --truth`: the serving code writes every feature table.
  2. train     a LightGBM classifier (benign / exfiltration / lateral_movement) and an autoencoder on
               benign rows (see sensorml/train.py).
  3. calibrate thresholds on validation for a false-alert budget shared by all alerting outputs.
  4. export    ONNX with the manifest, golden rows with onnxruntime's outputs, `sensor model sign` with the
               given key (it refuses a model this build cannot load), `sensor model check`.
  5. evaluate  the exported models (onnxruntime) on the eval variants, and the real captures of
               ../shared/data/otrf-lateral-movement through `sensor replay` with the signed models.
  6. report    REPORT.md with plots (PNG), metrics.json, and MODEL_CARD.md.

Deterministic: the same sensor build and arguments give the same model bytes. `--scale quick` runs every
stage on a small site in a couple of minutes (CI); its models are not fit to ship.
"""

from __future__ import annotations

import os

# Single-threaded numerics before numpy/sklearn are imported: the same bytes on every run and machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sensorml import data, evaluate, onnx_export, otrf, report, thresholds, train  # noqa: E402
from sensorml.model_card import write_model_card, write_report  # noqa: E402
from sensorml.sensor import ALERT_LABELS, LABELS, Sensor  # noqa: E402

HERE = Path(__file__).resolve().parent
VERSION = "1.0.0"
CLASSIFIER = "flow-classifier"
ANOMALY = "flow-anomaly"
GOLDEN_ROWS = {0: 24, 1: 20, 2: 20}
# Golden rows taken from those on the right of the classifier's forced first split, so that the sensor's
# agreement test walks that branch too (random rows rarely do: 0.1 % of them).
GOLDEN_FORCED_ROWS = 4
MIN_PROBABILITY_THRESHOLD = 0.5


class Log:
    def __init__(self):
        self.t0 = time.monotonic()
        self.stages: dict[str, float] = {}
        self._stage_t = self.t0

    def __call__(self, msg: str) -> None:
        print(f"[pipeline {time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    def stage(self, name: str) -> None:
        now = time.monotonic()
        self.stages[name] = round(now - self._stage_t, 1)
        self._stage_t = now
        self(f"stage {name} done in {self.stages[name]} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sensor", required=True, help="the sensor binary (simulate, extract, replay, model sign)")
    ap.add_argument("--out", help="where the models go (default: models/shipped)")
    ap.add_argument("--report", help="where REPORT.md and plots go (default: models/report)")
    ap.add_argument("--model-card", help="the model card to write (default: models/MODEL_CARD.md)")
    ap.add_argument("--key", default=str(HERE / "keys" / "dev.key"),
                    help="signing key from `sensor model keygen` (default: the development key)")
    ap.add_argument("--scale", choices=["full", "quick"], default="full",
                    help="full: the shipped models; quick: a small smoke run of every stage")
    ap.add_argument("--budget", type=float, default=1e-4,
                    help="false alerts per benign flow for all alerting outputs together (default 1e-4)")
    ap.add_argument("--otrf", default=str(HERE.parent.parent / "shared" / "data" / "otrf-lateral-movement"),
                    help="directory of the real lateral-movement captures (skipped with a warning if absent)")
    ap.add_argument("--work", help="scratch directory; feature tables already there are reused if the "
                                   "same sensor binary made them (default: a fresh one, removed at the end)")
    ap.add_argument("--seed-offset", type=int, default=0, metavar="N",
                    help="draw every simulation with other seeds (0, the default: the shipped models' data); "
                         "a robustness run, so --out, --report and --model-card must be given")
    args = ap.parse_args()
    if args.seed_offset != 0 and None in (args.out, args.report, args.model_card):
        ap.error("--seed-offset trains on other data than the shipped models: give --out, --report and "
                 "--model-card outside models/ so the shipped files stay as they are")
    args.out = args.out or str(HERE / "shipped")
    args.report = args.report or str(HERE / "report")
    args.model_card = args.model_card or str(HERE / "MODEL_CARD.md")
    warnings.filterwarnings("ignore", message=".*feature names.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="sensor-pipeline-")) if own_work else Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not own_work and not stamp_work(work, Path(args.sensor), data.site_config()):
        print(f"pipeline: the feature tables in {work} were made by another sensor binary or site configuration "
              "(its simulator or features may differ): give a fresh --work, or empty this one", file=sys.stderr)
        return 2
    try:
        return run(args, work)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def stamp_work(work: Path, binary: Path, config: str) -> bool:
    """Marks `work` as holding tables of `binary` extracted with the sensor configuration `config` (by the
    sha256 of both); False when its tables came from another binary, whose simulator or features may
    differ from this one's, or another configuration."""
    digest = hashlib.sha256(binary.read_bytes() + b"\0" + config.encode()).hexdigest()
    stamp = work / "sensor.sha256"
    if stamp.exists() and stamp.read_text().strip() != digest and any(work.glob("*.parquet")):
        return False
    stamp.write_text(digest + "\n")
    return True


def run(args, work: Path) -> int:
    log = Log()
    sensor = Sensor(args.sensor)
    out, report_dir = Path(args.out), Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    schema = sensor.schema()
    names = schema.names
    log(f"schema {schema.id} sha256:{schema.hash} ({len(names)} features); scale {args.scale}")

    # ------------------------------------------------------------------------------------ 1. data
    plan = data.plan(args.scale, args.seed_offset)
    if args.seed_offset:
        log(f"seed offset {args.seed_offset}: every simulation drawn anew (not the shipped models' data)")
    site, site_text = work / "site.toml", data.site_config()
    site.write_text(site_text)
    log(f"site configuration for extraction: {' '.join(site_text.split())}")
    tr = data.load_split(sensor, plan["train"], work, log, site)
    va = data.load_split(sensor, plan["validation"], work, log, site)
    ev = data.load_split(sensor, plan["eval"], work, log, site)
    Xtr, Xva, Xev = (data.matrix(d, names) for d in (tr, va, ev))
    ytr, yva = data.labels(tr), data.labels(va)
    log.stage("data")

    # ------------------------------------------------------------------------------------ 2. train
    params = train.ClassifierParams() if args.scale == "full" else train.ClassifierParams(rounds=20)
    cfeat = train.classifier_features(names)
    cidx = [names.index(f) for f in cfeat]
    learn = train.evidence_rows(tr)
    log(f"classifier: {int((~learn).sum())} attack rows without evidence left out (ticket requests, "
        f"a spray's first failures)")
    # The declared admin sources never alert lateral_movement (suppressed); teaching the trees that their
    # reach is benign would only blur the attacker's.
    admins = data.admin_source_rows(tr)
    learn &= ~admins
    log(f"classifier: {int(admins.sum())} rows of declared admin sources left out")
    Xfit, yfit, wfit = train.training_rows(Xtr[learn][:, cidx], ytr[learn], tr.attack.to_numpy()[learn],
                                           tr.behaviour.to_numpy()[learn], cfeat,
                                           params.attack_weight)
    clf = train.classifier(Xfit, yfit, wfit, cfeat, params, log)
    importance = train.importance(clf, cfeat)
    conx = onnx_export.export_lgbm(clf, len(cfeat), CLASSIFIER)
    csess = onnx_export.session(conx)
    p_va = csess.run(["probabilities"], {"features": Xva[:, cidx]})[0]
    # NaN handling survives export: onnxruntime agrees with LightGBM itself. Not on every row: LightGBM
    # splits at float64 thresholds, the ONNX graph (and the sensor) at float32 ones, so a value that sits
    # between a threshold and its float32 rounding takes the other branch. That is rare; more is a bug.
    p_lgb = clf.predict_proba(pd.DataFrame(Xva[:, cidx].astype(np.float64), columns=cfeat))
    row_diff = np.abs(p_lgb - p_va).max(axis=1)
    off = int((row_diff > 1e-4).sum())
    if off > max(1, int(1e-4 * len(row_diff))):
        raise RuntimeError(f"onnxruntime and LightGBM disagree on {off} rows (by up to {row_diff.max()})")
    log(f"classifier: {params.rounds} rounds x 3 classes, <= {params.leaves} leaves; "
        f"|LightGBM - onnxruntime| > 1e-4 on {off} of {len(row_diff)} validation rows (float32 split "
        f"thresholds), max {row_diff.max():.1e}")
    benign_rows = Xtr[ytr == 0]
    ae = train.autoencoder(benign_rows, names, epochs=40 if args.scale == "full" else 10, log=log)
    keep = [names.index(f) for f in ae.features]
    aonx = onnx_export.anomaly_graph(ANOMALY, len(keep), ae.median, ae.mean, ae.std, ae.mlp.coefs_,
                                     ae.mlp.intercepts_, producer="sensor-models", version=VERSION)
    asess = onnx_export.session(aonx)
    s_va = asess.run(["anomaly_score"], {"features": Xva[:, keep]})[0]
    ref = ae.score(Xva[:, keep])
    rel = float((np.abs(ref - s_va) / np.maximum(ref, 1e-6)).max())
    if rel > 1e-3:
        raise RuntimeError(f"the anomaly graph and numpy disagree (relative {rel})")
    log.stage("train")

    # ------------------------------------------------------------------------------------ 3. calibrate
    va_scores = {lab: p_va[:, LABELS.index(lab)] for lab in ALERT_LABELS} | {evaluate.ANOMALY: s_va}
    va_scores["lateral_movement"] = data.suppressed(va_scores["lateral_movement"], va)
    log(f"declared admin sources {', '.join(data.SITE_ADMIN_SOURCES)}: lateral_movement suppressed on "
        f"{va.loc[data.admin_source_rows(va), 'flow_key'].nunique()} validation flows")
    va_flows = evaluate.flow_scores(va, va_scores)
    benign = va_flows.label == "benign"
    share = args.budget / len(va_scores)
    thr: dict[str, float] = {}
    for key in va_scores:
        floor = MIN_PROBABILITY_THRESHOLD if key in ALERT_LABELS else None
        thr[key], k = thresholds.for_budget(va_flows.loc[benign, key].to_numpy(), share, floor)
        log(f"threshold {key} = {thr[key]} (at most {k} of {int(benign.sum())} benign validation flows)")
    va_report = evaluate.evaluate(va_flows, thr)
    log(f"validation: {va_report.false_alert_flows} benign flows alerted "
        f"({va_report.false_alerts_per_10k:.2f} per 10k)")
    log.stage("calibrate")

    # ------------------------------------------------------------------------------------ 4. export
    c_desc = ("Flow classifier (benign, exfiltration, lateral_movement) trained on simulated traffic by "
              "models/pipeline.py; see models/MODEL_CARD.md.")
    a_desc = ("Autoencoder trained on simulated benign traffic by models/pipeline.py; anomaly_score is the "
              "reconstruction error; retrain it on the site's traffic with models/adapt.py.")
    onnx_export.set_manifest(conx, onnx_export.manifest(
        name=CLASSIFIER, version=VERSION, kind="classifier", schema=schema, features=cfeat, labels=LABELS,
        output="probabilities", thresholds={l: thr[l] for l in ALERT_LABELS},
        reference=onnx_export.nan_median(Xtr[ytr == 0][:, cidx]), description=c_desc))
    onnx_export.set_manifest(aonx, onnx_export.manifest(
        name=ANOMALY, version=VERSION, kind="anomaly", schema=schema, features=ae.features, labels=["anomaly"],
        output="anomaly_score", thresholds={"anomaly": thr[evaluate.ANOMALY]}, reference=ae.median,
        description=a_desc))
    rng = np.random.default_rng(train.SEED)
    picked = {i for lab, n in GOLDEN_ROWS.items()
              for i in rng.choice(np.flatnonzero(yva == lab), size=min(n, int((yva == lab).sum())), replace=False)}
    forced = np.setdiff1d(np.flatnonzero(np.nan_to_num(Xva[:, names.index(train.FORCED_ROOT)]) > 0), list(picked))
    picked |= set(rng.choice(forced, size=min(GOLDEN_FORCED_ROWS, len(forced)), replace=False))
    rows = np.array(sorted(picked))
    files = []
    for name, onx, output, cols in ((CLASSIFIER, conx, "probabilities", cidx),
                                    (ANOMALY, aonx, "anomaly_score", keep)):
        path = out / f"{name}.onnx"
        onnx_export.save_with_golden(onx, path, output, Xva[rows][:, cols])
        files.append(path)
    sensor.sign(Path(args.key), files)
    for path in files:
        checked = sensor.check(path)
        log(f"sensor model check {path.name}: " + checked.strip().splitlines()[-1])
        log(f"wrote {path} ({path.stat().st_size} bytes), {path.name}.sig, {path.stem}.golden.json")
    log.stage("export")

    # ------------------------------------------------------------------------------------ 5. evaluate
    p_ev = onnx_export.session(files[0]).run(["probabilities"], {"features": Xev[:, cidx]})[0]
    s_ev = onnx_export.session(files[1]).run(["anomaly_score"], {"features": Xev[:, keep]})[0]
    ev_scores = {lab: p_ev[:, LABELS.index(lab)] for lab in ALERT_LABELS} | {evaluate.ANOMALY: s_ev}
    ev_scores["lateral_movement"] = data.suppressed(ev_scores["lateral_movement"], ev)
    ev_flows = evaluate.flow_scores(ev, ev_scores)
    ev_report = evaluate.evaluate(ev_flows, thr)
    ev_classifier = evaluate.evaluate(ev_flows, {l: thr[l] for l in ALERT_LABELS})
    log(f"eval: {ev_report.false_alert_flows} benign flows alerted by any model "
        f"({ev_report.false_alerts_per_10k:.2f} per 10k); classifier alone "
        f"{ev_classifier.false_alerts_per_10k:.2f} per 10k")
    for lab, row in ev_report.per_label.iterrows():
        log(f"eval {lab}: recall {row.recall:.3f} of {row.flows} flows, precision {row.precision:.3f}, "
            f"false alerts {row.false_alerts_per_10k:.2f} per 10k benign flows")
    otrf_dir = Path(args.otrf)
    otrf_flows = None
    if otrf_dir.is_dir():
        otrf_flows = otrf.evaluate(sensor, otrf_dir, files)
        log("OTRF captures (sensor replay with the signed models):\n" + otrf.summary(otrf_flows).to_string())
    else:
        log(f"WARNING: {otrf_dir} not found: the real-capture evaluation is SKIPPED")
    log.stage("evaluate")

    # ------------------------------------------------------------------------------------ 6. report
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = report.write_plots(report_dir, ev_flows, thr, ev_report, importance)
    facts = {
        "scale": args.scale, "version": VERSION, "schema": {"id": schema.id, "hash": schema.hash,
                                                            "features": len(names)},
        "budget_per_benign_flow": args.budget, "thresholds": thr,
        "classifier": {"rounds": params.rounds, "leaves": params.leaves, "attack_weight": params.attack_weight,
                       "features": len(cfeat), "excluded": list(train.CLASSIFIER_EXCLUDED)},
        "anomaly": {"features": len(ae.features), "hidden": list(ae.mlp.hidden_layer_sizes)},
        "rows": {"train": len(tr), "validation": len(va), "eval": len(ev)},
        "flows": {split: {lab: int(d.loc[d.label == lab, "flow_key"].nunique()) for lab in LABELS}
                  for split, d in (("train", tr), ("validation", va), ("eval", ev))},
        "simulations": {split: [s.__dict__ for s in sims] for split, sims in plan.items()},
        "stages_s": log.stages,
    }
    write_report(report_dir / "REPORT.md", facts, va_report, ev_report, ev_classifier, otrf_flows, plots,
                 importance)
    (report_dir / "metrics.json").write_text(strict_json({
        **facts,
        "eval": {"per_label": ev_report.per_label.reset_index().to_dict("records"),
                 "per_attack": ev_report.per_attack.reset_index().to_dict("records"),
                 "false_alerts_per_10k_any_model": ev_report.false_alerts_per_10k,
                 "false_alerts_per_10k_classifier": ev_classifier.false_alerts_per_10k},
        "otrf": None if otrf_flows is None else otrf.summary(otrf_flows).reset_index().to_dict("records"),
    }))
    write_model_card(Path(args.model_card), facts, ev_report, ev_classifier, otrf_flows)
    log.stage("report")
    log(f"done in {time.monotonic() - log.t0:.0f} s: models in {out}, report in {report_dir}")
    return 0


def strict_json(doc) -> str:
    """`doc` as standard JSON: numpy scalars become numbers, NaN (a rate over no flows) becomes null."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v
    return json.dumps(clean(doc), indent=1, allow_nan=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
