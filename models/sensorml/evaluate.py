"""Flow-level evaluation: a flow alerts with a label when any of its scored records reaches that label's
threshold (as the sensor scores early records, checkpoints and final records). Metrics per label:
recall over the label's flows, precision over the flows alerted with it, false alerts per 10,000 benign
flows; per attack technique: recall over its flows and how many of its instances raised at least one
alert of the right label; recall also without the attacks' Kerberos ticket requests at a DC (domain
chatter the models are not trained to alert on, see `data.ticket_requests`); a confusion matrix of
truth against the strongest alert."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import data
from .sensor import ALERT_LABELS, LABELS

ANOMALY = "anomaly"


def flow_scores(df: pd.DataFrame, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per flow: truth (label, attack, instance) and the highest score of each alert key."""
    base = df[["flow_key", "capture", "label", "attack", "scenario"]].copy()
    base["ticket_request"] = data.ticket_requests(df)
    for key, s in scores.items():
        base[key] = np.asarray(s, dtype=np.float64)
    agg = {"capture": "first", "label": "first", "attack": "first", "scenario": "first", "ticket_request": "first"}
    agg.update({key: "max" for key in scores})
    return base.groupby("flow_key", sort=False).agg(agg)


def alerts(flows: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """Boolean frame: flow × alert key reaches its threshold (float32 comparison, as in the sensor)."""
    return pd.DataFrame({k: flows[k].to_numpy(np.float32) >= np.float32(t) for k, t in thresholds.items()},
                        index=flows.index)


def predicted(flows: pd.DataFrame, thresholds: dict[str, float]) -> pd.Series:
    """The strongest alert of each flow (highest score / threshold), `benign` without any."""
    ratio = pd.DataFrame({k: flows[k] / t for k, t in thresholds.items()}, index=flows.index)
    best = ratio.idxmax(axis=1)
    return best.where(ratio.max(axis=1) >= 1.0, "benign")


@dataclass
class Report:
    per_label: pd.DataFrame
    per_attack: pd.DataFrame
    confusion: pd.DataFrame
    benign_flows: int
    false_alert_flows: int

    @property
    def false_alerts_per_10k(self) -> float:
        return 1e4 * self.false_alert_flows / max(self.benign_flows, 1)


def evaluate(flows: pd.DataFrame, thresholds: dict[str, float]) -> Report:
    hit = alerts(flows, thresholds)
    benign = flows.label == "benign"
    any_alert = hit.any(axis=1)
    rows = []
    for lab in ALERT_LABELS:
        truth = flows.label == lab
        rows.append({
            "label": lab,
            "flows": int(truth.sum()),
            "recall": float(hit.loc[truth, lab].mean()) if truth.any() else float("nan"),
            "recall_any_alert": float(any_alert[truth].mean()) if truth.any() else float("nan"),
            "recall_without_tickets": float(hit.loc[truth & ~flows.ticket_request, lab].mean())
            if (truth & ~flows.ticket_request).any() else float("nan"),
            "alerted": int(hit[lab].sum()),
            "precision": float(truth[hit[lab]].mean()) if hit[lab].any() else float("nan"),
            "false_alerts_per_10k": 1e4 * int((hit[lab] & benign).sum()) / max(int(benign.sum()), 1),
        })
    if ANOMALY in hit:
        rows.append({
            "label": ANOMALY, "flows": int((~benign).sum()),
            "recall": float(hit.loc[~benign, ANOMALY].mean()) if (~benign).any() else float("nan"),
            "recall_any_alert": float("nan"), "recall_without_tickets": float("nan"),
            "alerted": int(hit[ANOMALY].sum()),
            "precision": float((~benign)[hit[ANOMALY]].mean()) if hit[ANOMALY].any() else float("nan"),
            "false_alerts_per_10k": 1e4 * int((hit[ANOMALY] & benign).sum()) / max(int(benign.sum()), 1),
        })
    per_label = pd.DataFrame(rows).set_index("label")

    attacks = []
    for (lab, attack), g in flows[~benign].groupby(["label", "attack"]):
        right = hit.loc[g.index, lab]
        inst = right.groupby(g.scenario).any()
        attacks.append({
            "attack": attack, "label": lab, "flows": len(g), "recall": float(right.mean()),
            "recall_any_alert": float(any_alert[g.index].mean()),
            "recall_without_tickets": float(right[~g.ticket_request].mean()) if (~g.ticket_request).any()
            else float("nan"),
            "instances": len(inst), "instances_detected": int(inst.sum()),
        })
    per_attack = pd.DataFrame(attacks).set_index("attack")

    pred = predicted(flows, thresholds)
    confusion = pd.crosstab(flows.label, pred).reindex(index=LABELS, columns=["benign", *thresholds], fill_value=0)
    return Report(per_label, per_attack, confusion, int(benign.sum()), int((any_alert & benign).sum()))
