"""Approve thresholds calibrated from reviewer decisions. Pure functions.

For a class c, each reviewed item whose top label was c is an observation
(score, correct), where correct means a moderator approved it with label c:
approving it automatically would have been right. Among items at or above a
threshold t, precision(t) is the share that were correct. The proposal is the
lowest t whose precision meets the target, so that as many uploads as possible
are approved automatically at that precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    precision: float
    coverage: float  # share of all uploads approved automatically for this class


@dataclass(frozen=True)
class ClassCalibration:
    class_name: str
    current: float
    reviewed: int
    proposed: float | None  # None: keep the current threshold
    precision: float | None
    coverage: float | None
    error_rate: float | None  # share of automatic approvals that would be wrong
    note: str
    curve: list[CurvePoint] = field(default_factory=list)


def calibrate_class(
    class_name: str,
    *,
    current: float,
    reviewed: Sequence[tuple[float, bool]],
    all_scores: Sequence[float],
    total_uploads: int,
    target_precision: float,
    min_reviewed: int,
) -> ClassCalibration:
    """`reviewed`: (score, correct) of reviewed items whose top label was this
    class; `all_scores`: top scores of every upload whose top label was this
    class; `total_uploads`: uploads of every class in the same window."""
    if len(reviewed) < min_reviewed:
        return ClassCalibration(
            class_name,
            current,
            len(reviewed),
            None,
            None,
            None,
            None,
            f"too few reviewed items ({len(reviewed)} < {min_reviewed}); keeping {current:.2f}",
        )
    ordered = sorted(reviewed, key=lambda item: item[0], reverse=True)
    sorted_all = sorted(all_scores, reverse=True)
    denominator = max(1, total_uploads)
    curve: list[CurvePoint] = []
    correct = 0
    best: CurvePoint | None = None
    for index, (score, ok) in enumerate(ordered, start=1):
        correct += ok
        # Only a threshold at the last of equal scores is a real cut.
        if index < len(ordered) and ordered[index][0] == score:
            continue
        precision = correct / index
        covered = _count_at_or_above(sorted_all, score)
        point = CurvePoint(threshold=score, precision=precision, coverage=covered / denominator)
        curve.append(point)
        if precision >= target_precision:
            best = point  # keep lowering the threshold while precision holds
    if best is None:
        return ClassCalibration(
            class_name,
            current,
            len(reviewed),
            None,
            None,
            None,
            None,
            f"no threshold reaches precision {target_precision:.2f}; keeping {current:.2f}",
            curve,
        )
    return ClassCalibration(
        class_name,
        current,
        len(reviewed),
        round(best.threshold, 4),
        best.precision,
        best.coverage,
        1.0 - best.precision,
        f"lowest threshold with precision ≥ {target_precision:.2f}",
        curve,
    )


def _count_at_or_above(descending: Sequence[float], threshold: float) -> int:
    lo, hi = 0, len(descending)
    while lo < hi:  # first index whose score is below the threshold
        mid = (lo + hi) // 2
        if descending[mid] >= threshold:
            lo = mid + 1
        else:
            hi = mid
    return lo
