"""Scores with their noise: Wilson 95 % score intervals, and the guardrail's rule for "worse beyond the noise"."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(correct: int, count: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` out of ``count``, as percentages (0, 100 when count is 0)."""
    if count <= 0:
        return (0.0, 100.0)
    p = correct / count
    denominator = 1 + z * z / count
    centre = (p + z * z / (2 * count)) / denominator
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / denominator
    return (round(100 * max(0.0, centre - half), 3), round(100 * min(1.0, centre + half), 3))


def score(accuracy_percent: float, count: int, per_class=None, correct: int | None = None) -> dict:
    """One set's score: accuracy (percent), correct, count, the Wilson interval and per-class accuracies."""
    if correct is None:
        correct = round(accuracy_percent * count / 100)
    out = {
        "accuracy": round(100.0 * correct / count, 3) if count else 0.0,
        "correct": int(correct),
        "count": int(count),
        "wilson": list(wilson(int(correct), int(count))),
    }
    if per_class is not None:
        out["per_class"] = [round(float(v), 2) for v in per_class]
    return out


def worse_beyond_noise(candidate: dict, live: dict) -> bool:
    """The candidate is worse than the live version beyond the noise on this set: the two 95 % Wilson intervals are
    disjoint, the candidate's below (its upper bound under the live version's lower bound)."""
    if not candidate.get("count") or not live.get("count"):
        return False
    return candidate["wilson"][1] < live["wilson"][0]
