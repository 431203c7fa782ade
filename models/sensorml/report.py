"""The evaluation report: PNG plots (precision-recall curves, score histograms, confusion matrix, feature
importance) and the Markdown that collects them with the tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .evaluate import ANOMALY, Report  # noqa: E402
from .sensor import ALERT_LABELS, LABELS  # noqa: E402


def pr_curve(flows: pd.DataFrame, label: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of `label` flows when alerting at every distinct flow score of `key`."""
    order = np.argsort(-flows[key].to_numpy(), kind="stable")
    truth = (flows.label.to_numpy() == label)[order]
    tp = np.cumsum(truth)
    fp = np.cumsum(~truth & (flows.label.to_numpy()[order] == "benign"))
    recall = tp / max(truth.sum(), 1)
    precision = tp / np.maximum(tp + fp, 1)
    return precision, recall


def plot_pr(flows: pd.DataFrame, thresholds: dict[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for lab in ALERT_LABELS:
        p, r = pr_curve(flows, lab, lab)
        ax.plot(r, p, label=lab)
        hit = flows[lab].to_numpy(np.float32) >= np.float32(thresholds[lab])
        t = flows.label == lab
        ax.scatter([hit[t].mean()], [t[hit].mean() if hit.any() else 1.0], marker="o", zorder=3)
    ax.set_xlabel("recall (flows)")
    ax.set_ylabel("precision (attack flows vs benign flows)")
    ax.set_title("Classifier precision-recall, eval variants (dots: shipped thresholds)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(flows: pd.DataFrame, thresholds: dict[str, float], path: Path) -> None:
    keys = [k for k in [*ALERT_LABELS, ANOMALY] if k in flows]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4))
    for ax, key in zip(np.atleast_1d(axes), keys):
        values = flows[key].to_numpy(np.float64)
        log = key == ANOMALY
        x = np.log10(np.maximum(values, 1e-6)) if log else values
        bins = np.linspace(np.nanmin(x), np.nanmax(x), 50)
        for lab in LABELS:
            sel = (flows.label == lab).to_numpy()
            if sel.any():
                ax.hist(x[sel], bins=bins, alpha=0.5, label=f"{lab} ({sel.sum()})", density=False)
        t = thresholds[key]
        ax.axvline(np.log10(t) if log else t, color="k", ls="--", lw=1, label=f"threshold {t}")
        ax.set_yscale("log")
        ax.set_xlabel(f"log10 {key} score" if log else f"P({key})")
        ax.set_ylabel("flows")
        ax.set_title(f"{key}: highest score per flow")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(confusion: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    m = confusion.to_numpy()
    ax.imshow(np.log1p(m), cmap="Blues")
    ax.set_xticks(range(m.shape[1]), confusion.columns, rotation=20)
    ax.set_yticks(range(m.shape[0]), confusion.index)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=9)
    ax.set_xlabel("strongest alert (benign = none)")
    ax.set_ylabel("truth")
    ax.set_title("Flows, eval variants")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_importance(importance: pd.Series, path: Path, top: int = 25) -> None:
    s = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(s) + 1))
    ax.barh(s.index, s.to_numpy() / importance.sum())
    ax.set_xlabel("share of total split gain")
    ax.set_title(f"Classifier: top {len(s)} features")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def md_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = [df.index.name or "", *map(str, df.columns)]
    fmt = lambda v: floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx), *map(fmt, row.tolist())]) + " |")
    return "\n".join(lines)


def write_plots(out: Path, flows: pd.DataFrame, thresholds: dict[str, float], report: Report,
                importance: pd.Series) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"pr": "pr_curves.png", "hist": "score_histograms.png", "confusion": "confusion_matrix.png",
             "importance": "feature_importance.png"}
    plot_pr(flows, thresholds, out / files["pr"])
    plot_histograms(flows, thresholds, out / files["hist"])
    plot_confusion(report.confusion, out / files["confusion"])
    plot_importance(importance, out / files["importance"])
    return files
