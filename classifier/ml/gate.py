"""The promotion gate: a pure function of the evaluation figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GateFigures:
    candidate_base: float  # accuracy on the base test split
    active_base: float
    candidate_holdout: float | None  # accuracy on the held-out corrections
    active_holdout: float | None
    holdout_size: int
    margin: float  # how much worse on the base split the candidate may be
    # The base-split accuracy of the version a line of warm starts began from
    # (None when the active version is that one). Each promotion may lose up
    # to the margin against the active version; without this floor a series
    # of them could lose it again and again.
    origin_base: float | None = None
    origin_name: str = ""


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    figures: GateFigures

    def as_dict(self) -> dict:
        return {"promote": self.promote, "reason": self.reason, **asdict(self.figures)}


def gate_decide(figures: GateFigures, *, min_holdout: int = 1) -> GateDecision:
    """Promote only if the candidate is not worse on the base test split by
    more than the margin (than the active version, and than the version its
    line of warm starts began from) AND strictly better on the held-out
    corrections."""
    f = figures
    base_drop = f.active_base - f.candidate_base
    if f.holdout_size < min_holdout or f.candidate_holdout is None or f.active_holdout is None:
        return GateDecision(False, f"too few held-out corrections ({f.holdout_size} < {min_holdout})", f)
    if base_drop > f.margin:
        return GateDecision(
            False,
            f"base test accuracy fell {base_drop:.4f} ({f.active_base:.4f} → {f.candidate_base:.4f}), "
            f"more than the margin {f.margin:.4f}",
            f,
        )
    if f.origin_base is not None and f.origin_base - f.candidate_base > f.margin:
        return GateDecision(
            False,
            f"base test accuracy {f.candidate_base:.4f} is {f.origin_base - f.candidate_base:.4f} below "
            f"{f.origin_name or 'the first version'} ({f.origin_base:.4f}), where this line of warm starts "
            f"began, more than the margin {f.margin:.4f}",
            f,
        )
    if f.candidate_holdout <= f.active_holdout:
        return GateDecision(
            False,
            f"not better on held-out corrections ({f.active_holdout:.4f} → {f.candidate_holdout:.4f})",
            f,
        )
    return GateDecision(
        True,
        f"held-out corrections {f.active_holdout:.4f} → {f.candidate_holdout:.4f}; "
        f"base test {f.active_base:.4f} → {f.candidate_base:.4f} (margin {f.margin:.4f})",
        f,
    )


def upgrade_decide(figures: GateFigures, *, min_holdout: int = 1) -> GateDecision:
    """For a stronger architecture trained from scratch on the same base data:
    promote when it is better on the base test split and, where there are
    enough held-out corrections, no worse on them."""
    f = figures
    if f.candidate_base <= f.active_base:
        return GateDecision(
            False, f"not better on the base test split ({f.active_base:.4f} → {f.candidate_base:.4f})", f
        )
    enough = f.holdout_size >= min_holdout and f.candidate_holdout is not None and f.active_holdout is not None
    if enough and f.candidate_holdout < f.active_holdout:
        return GateDecision(
            False, f"worse on held-out corrections ({f.active_holdout:.4f} → {f.candidate_holdout:.4f})", f
        )
    held = f"; held-out corrections {f.active_holdout:.4f} → {f.candidate_holdout:.4f}" if enough else ""
    return GateDecision(True, f"stronger architecture: base test {f.active_base:.4f} → {f.candidate_base:.4f}{held}", f)
