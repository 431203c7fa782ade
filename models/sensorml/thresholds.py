"""Thresholds for a false-alert budget.

A flow alerts when any of its scored records (early, checkpoints, final) reaches the threshold, so the
budget is counted in benign *flows*, not rows: with n benign validation flows and a budget of b alerts per
flow, k = floor(n·b) benign flows may alert. The threshold is the smallest number with 4 significant
digits strictly above the (k+1)-th highest per-flow benign score (also strictly above it in float32), so
at most k benign validation flows reach it; the sensor alerts when score ≥ threshold.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def threshold_above(score: float) -> float:
    """Smallest number with 4 significant digits strictly above `score`, also above it as float32."""
    s = float(score)
    exp = math.floor(math.log10(s)) - 3 if s > 0 else -4
    step = 10.0 ** exp
    t = round((math.floor(s / step) + 1) * step, max(0, -exp))
    while not (t > s and np.float32(t) > np.float32(s)):
        t = round(t + step, max(0, -exp))
    return t


def for_budget(benign_flow_max: np.ndarray, per_flow: float, floor: float | None = None) -> tuple[float, int]:
    """(threshold, k) such that at most k = floor(n·per_flow) of the n benign flows reach it."""
    scores = np.sort(np.asarray(benign_flow_max, dtype=np.float64))[::-1]
    k = int(math.floor(len(scores) * per_flow))
    t = threshold_above(scores[min(k, len(scores) - 1)])
    if floor is not None:
        t = max(t, floor)
    crossing = int((np.asarray(benign_flow_max, dtype=np.float32) >= np.float32(t)).sum())
    if crossing > k:
        raise RuntimeError(f"threshold {t}: {crossing} benign flows cross it, budget {k}")
    return t, k
