#!/usr/bin/env python3
"""Site adaptation: from a site's own capture of normal traffic to signed models tuned for that site.

    models/.venv/bin/python models/adapt.py --sensor target/release/sensor \\
        --pcap week1.pcap --pcap week2.pcap --key site.key --out site-models/ [--config site.toml]

What a security team does between the proof of concept and production: the shipped models were trained
on simulated traffic; the site's normal traffic (the usual first two weeks) decides what "normal" means.

  1. `sensor extract` on every capture, with the site's config (its site networks, time zone, learning
     period): the serving code writes the table, as for training.
  2. Split by time: the earlier 80 % of flows train, the later 20 % set thresholds (a time split, so
     the thresholds are checked on days the model did not see).
  3. Retrain the anomaly model (same architecture as `flow-anomaly`) on the site's flows.
  4. Re-derive thresholds for the false-alert budget on the held-out flows: the new anomaly model's,
     and the shipped classifier's per label (never lowered below the shipped thresholds: the site's
     normal traffic can only show where the classifier needs to be stricter). The sources the config
     suppresses for a label (`[alert.suppress_sources]`, e.g. the site's vulnerability scanner) never
     alert that label in the sensor, so their scores do not set its threshold either.
  5. Write `flow-anomaly-site.onnx` and `flow-classifier-site.onnx` (the shipped graph with the site's
     thresholds in its manifest), goldens, a report, and sign them with the site's key
     (`sensor model keygen --out site`); print the config lines that serve them.

The captures are assumed to be attack-free: anything in them is learned as normal. Review the report's
highest-scoring held-out flows before deploying.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ipaddress  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pandas as pd  # noqa: E402

from sensorml import onnx_export, thresholds, train  # noqa: E402
from sensorml.data import matrix  # noqa: E402
from sensorml.evaluate import flow_scores  # noqa: E402
from sensorml.report import md_table  # noqa: E402
from sensorml.sensor import ALERT_LABELS, LABELS, Sensor  # noqa: E402

HERE = Path(__file__).resolve().parent
TRAIN_SHARE = 0.8
MIN_FLOWS = 2000


def log(msg: str) -> None:
    print(f"[adapt] {msg}", flush=True)


def suppressed_sources(config: Path | None) -> dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """The config's `[alert.suppress_sources]`: per label, the source networks whose hits never alert."""
    if config is None:
        return {}
    with config.open("rb") as f:
        section = tomllib.load(f).get("alert", {}).get("suppress_sources", {})
    return {label: [ipaddress.ip_network(p, strict=False) for p in prefixes] for label, prefixes in section.items()}


def from_networks(src_ips: pd.Series, networks: list) -> np.ndarray:
    """Per row, whether its source address is in one of `networks`."""
    return src_ips.map(lambda a: any(ipaddress.ip_address(a) in n for n in networks)).to_numpy(bool)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sensor", required=True, help="the sensor binary")
    ap.add_argument("--pcap", action="append", required=True, help="capture of the site's normal traffic (repeatable)")
    ap.add_argument("--key", required=True, help="the site's signing key (sensor model keygen --out NAME)")
    ap.add_argument("--out", required=True, help="directory for the site's models and report")
    ap.add_argument("--config", help="the site's sensor config (site networks, time zone, learning period)")
    ap.add_argument("--classifier", default=str(HERE / "shipped" / "flow-classifier.onnx"),
                    help="the classifier whose thresholds are re-derived (default: the shipped one)")
    ap.add_argument("--budget", type=float, default=1e-4,
                    help="false alerts per flow on the held-out site traffic, all outputs together")
    ap.add_argument("--epochs", type=int, default=40, help="autoencoder training epochs")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*feature names.*")
    t0 = time.monotonic()
    sensor = Sensor(args.sensor)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = Path(args.config) if args.config else None
    for p in [*args.pcap, args.key, args.classifier, *([args.config] if args.config else [])]:
        if not Path(p).is_file():
            log(f"error: {p}: no such file")
            return 2

    try:
        suppress = suppressed_sources(config)
    except (tomllib.TOMLDecodeError, ValueError, TypeError) as e:
        log(f"error: {config}: [alert.suppress_sources]: {e}")
        return 2

    schema = sensor.schema()
    work = Path(tempfile.mkdtemp(prefix="sensor-adapt-"))
    try:
        frames = []
        for i, pcap in enumerate(args.pcap):
            df = sensor.extract(Path(pcap), work / f"site-{i}.parquet", config=config)
            log(f"{pcap}: {len(df)} records, {df.flow_id.nunique()} flows")
            frames.append(df.assign(flow_key=f"{i}:" + df.flow_id.astype(str)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    df = pd.concat(frames, ignore_index=True)
    n_flows = df.flow_key.nunique()
    if n_flows < MIN_FLOWS:
        log(f"error: {n_flows} flows; need at least {MIN_FLOWS} to learn a site's normal traffic")
        return 2

    # time split by flow start: earlier flows train, later flows set thresholds
    starts = df.groupby("flow_key").start_time.min().sort_values()
    cut = starts.iloc[int(len(starts) * TRAIN_SHARE)]
    held_keys = set(starts[starts >= cut].index)
    held = df.flow_key.isin(held_keys).to_numpy()
    X = matrix(df, schema.names)
    log(f"{n_flows} flows: {n_flows - len(held_keys)} train, {len(held_keys)} held out (from {cut})")

    # the anomaly model on the site's traffic
    ae = train.autoencoder(X[~held], schema.names, epochs=args.epochs, log=log)
    keep = [schema.names.index(f) for f in ae.features]
    aonx = onnx_export.anomaly_graph("flow-anomaly-site", len(keep), ae.median, ae.mean, ae.std, ae.mlp.coefs_,
                                     ae.mlp.intercepts_, producer="sensor-models-adapt", version="1.0.0-site")
    s_held = onnx_export.session(aonx).run(["anomaly_score"], {"features": X[held][:, keep]})[0]

    # the shipped classifier on the held-out traffic
    cpath = Path(args.classifier)
    shipped = onnx_export.read_manifest(cpath)
    cfeat = json.loads(shipped["sensor.features"])
    missing = [f for f in cfeat if f not in schema.names]
    if missing:
        log(f"error: {cpath} needs features this sensor does not produce: {missing}")
        return 2
    cidx = [schema.names.index(f) for f in cfeat]
    p_held = onnx_export.session(cpath).run(["probabilities"], {"features": X[held][:, cidx]})[0]
    shipped_thr = json.loads(shipped["sensor.thresholds"])

    held_df = df[held].assign(label="benign", attack="", scenario="", capture="site")
    keys = {lab: p_held[:, LABELS.index(lab)] for lab in ALERT_LABELS} | {"anomaly": s_held}
    for label, networks in suppress.items():
        if label in keys:
            mask = from_networks(held_df.src_ip, networks)
            keys[label] = np.where(mask, 0.0, keys[label])
            log(f"[alert.suppress_sources] {label}: {int(mask.sum())} held-out records from "
                f"{', '.join(map(str, networks))} do not set its threshold")
    flows = flow_scores(held_df, keys)
    share = args.budget / len(keys)
    thr, rows = {}, []
    for key in keys:
        t, k = thresholds.for_budget(flows[key].to_numpy(), share)
        if key in shipped_thr:
            t = max(t, float(shipped_thr[key]))
        thr[key] = t
        crossing = int((flows[key].to_numpy(np.float32) >= np.float32(t)).sum())
        rows.append({"output": key, "shipped": shipped_thr.get(key, ""), "site": t,
                     "held-out flows alerted": crossing, "allowed": k})
        log(f"threshold {key}: {t} (shipped {shipped_thr.get(key, '-')}; {crossing} held-out flows reach it, "
            f"budget {k})")

    # write, sign, check
    onnx_export.set_manifest(aonx, onnx_export.manifest(
        name="flow-anomaly-site", version="1.0.0-site", kind="anomaly", schema=schema, features=ae.features,
        labels=["anomaly"], output="anomaly_score", thresholds={"anomaly": thr["anomaly"]}, reference=ae.median,
        description="Autoencoder retrained on this site's normal traffic by models/adapt.py."))
    conx = onnx.load(str(cpath))
    props = dict(shipped)
    props["sensor.name"] = shipped["sensor.name"] + "-site"
    props["sensor.version"] = shipped["sensor.version"] + "-site"
    props["sensor.thresholds"] = json.dumps({l: thr[l] for l in ALERT_LABELS}, separators=(",", ":"))
    props["sensor.description"] = shipped["sensor.description"] + " Thresholds re-derived on this site's traffic."
    onnx_export.set_manifest(conx, props)
    files = []
    for name, onx, output, cols in (("flow-anomaly-site", aonx, "anomaly_score", keep),
                                    ("flow-classifier-site", conx, "probabilities", cidx)):
        path = out / f"{name}.onnx"
        onnx_export.save_with_golden(onx, path, output, X[held][:64][:, cols])
        files.append(path)
    sensor.sign(Path(args.key), files)
    pub = Path(args.key).with_suffix(".pub")
    top = flows.sort_values("anomaly", ascending=False).head(10)
    top = top.join(df.groupby("flow_key")[["src_ip", "dst_ip", "dst_port", "protocol"]].first())
    report = "\n".join([
        "# Site adaptation report", "",
        f"Captures: {', '.join(args.pcap)}; {n_flows} flows ({n_flows - len(held_keys)} train, "
        f"{len(held_keys)} held out, split at flow start {cut}). Budget {args.budget:g} false alerts per flow.", "",
        md_table(pd.DataFrame(rows).set_index("output"), "{}"), "",
        "Highest anomaly scores among the held-out flows (review them: they are what the site's normal "
        "traffic looks least like):", "",
        md_table(top[["src_ip", "dst_ip", "dst_port", "protocol", "anomaly", *ALERT_LABELS]], "{:.4f}"), "",
    ])
    (out / "ADAPT_REPORT.md").write_text(report)
    log(f"wrote {', '.join(str(f) for f in files)} (+ .sig, .golden.json) and {out / 'ADAPT_REPORT.md'}")
    log("serve them with, in the sensor's config:\n"
        f"  [models]\n  files = [{', '.join(json.dumps(str(f.resolve())) for f in files)}]\n"
        f"  trusted_keys = [{json.dumps(pub.read_text().strip()) if pub.exists() else '<your key>.pub'}]")
    log(f"done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
