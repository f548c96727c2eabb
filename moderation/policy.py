"""The policy: a pure function of the models' scores, the flag signals and
the hash matches, with thresholds passed in. Every verdict carries its reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from moderation.models import Verdict


@dataclass(frozen=True)
class ClassThresholds:
    approve: float = 0.9
    reject: float | None = 0.9  # None: never reject automatically
    prohibited: bool = False


def threshold_errors(
    *,
    required: Mapping[str, float | None],
    optional: Mapping[str, float | None] = {},  # noqa: B006 - read only
    ordered: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Why a set of thresholds is not valid, by field (empty when it is).
    Each is a score between 0 and 1; an optional one may be None ("never");
    `ordered` names two that must not be the wrong way round (review ≤ reject)."""
    errors = {}
    for name, value in {**required, **optional}.items():
        if value is None:
            if name not in optional:
                errors[name] = "A threshold is required here."
        elif not isinstance(value, int | float) or not 0.0 <= value <= 1.0:  # also refuses NaN
            errors[name] = "A threshold is a score between 0 and 1" + (" (or empty: never)." if name in optional else ".")
    if ordered and not errors:
        low, high = ({**required, **optional}[name] for name in ordered)
        if low is not None and high is not None and low > high:
            errors[ordered[1]] = f"It may not be below the {ordered[0].replace('_', ' ')} ({low})."
    return errors


@dataclass(frozen=True)
class Signal:
    """A flag score with its two thresholds (adult content, a goods category)."""

    kind: str
    category: str
    score: float
    review: float
    reject: float | None  # None: never reject automatically
    reason: str  # which model and class(es) produced the score
    detail: dict = field(default_factory=dict)


def goods_signal(
    category: str,
    classes: Sequence[tuple[int, str]],
    probabilities: Sequence[float],
    *,
    review: float,
    reject: float | None,
    source: str,
    detail: dict | None = None,
) -> Signal | None:
    """A goods category's signal: the summed probability of its ImageNet classes."""
    if not classes:
        return None
    parts = sorted(((i, name, float(probabilities[i])) for i, name in classes), key=lambda item: item[2], reverse=True)
    score = min(1.0, sum(p for _, _, p in parts))
    shown = ", ".join(f"{name} {p:.3f}" for _, name, p in parts[:3])
    return Signal("prohibited_goods", category, score, review, reject, f"{source} ImageNet classes ({shown})",
                  {**(detail or {}), "classes": [[i, name, round(p, 5)] for i, name, p in parts[:5]]})


@dataclass(frozen=True)
class HashMatch:
    bank: str
    distance: int
    max_distance: int
    action: str  # "review" or "reject"
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyFlag:
    kind: str
    category: str
    score: float
    action: str  # "review" or "reject"
    reason: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyResult:
    verdict: Verdict
    reasons: tuple[str, ...]
    flags: tuple[PolicyFlag, ...] = field(default_factory=tuple)

    def explanation(self, thresholds_used: Mapping[str, ClassThresholds]) -> dict:
        return {
            "verdict": str(self.verdict),
            "reasons": list(self.reasons),
            "thresholds": {
                name: {"approve": t.approve, "reject": t.reject, "prohibited": t.prohibited}
                for name, t in thresholds_used.items()
            },
        }


def _signal_flags(signals: Sequence[Signal]) -> list[PolicyFlag]:
    flags = []
    for s in signals:
        if s.reject is not None and s.score >= s.reject:
            flags.append(PolicyFlag(s.kind, s.category, s.score, "reject",
                                    f"{s.category}: {s.reason} scored {s.score:.3f} ≥ reject threshold {s.reject:.2f}", s.detail))
        elif s.score >= s.review:
            flags.append(PolicyFlag(s.kind, s.category, s.score, "review",
                                    f"{s.category}: {s.reason} scored {s.score:.3f} ≥ review threshold {s.review:.2f}", s.detail))
    return flags


def _match_flags(matches: Sequence[HashMatch]) -> list[PolicyFlag]:
    return [
        PolicyFlag("hash_match", m.bank, float(m.distance), m.action,
                   f"matches an entry of bank {m.bank!r} at Hamming distance {m.distance} ≤ {m.max_distance}", m.detail)
        for m in matches
        if m.distance <= m.max_distance
    ]


def decide(
    scores: Mapping[str, float],
    thresholds: Mapping[str, ClassThresholds],
    default: ClassThresholds = ClassThresholds(),
    signals: Sequence[Signal] = (),
    matches: Sequence[HashMatch] = (),
) -> PolicyResult:
    """Reject when any flag reaches its reject threshold (a prohibited product
    class, adult content, a goods category) or a reject-bank hash matches;
    send to review when any flag reaches its review threshold or a review-bank
    hash matches; otherwise approve when the top product class (not
    prohibited) is at or above its approve threshold, else review."""

    def rule(name: str) -> ClassThresholds:
        return thresholds.get(name, default)

    flags = [
        PolicyFlag("prohibited_class", name, score, "reject",
                   f"prohibited class {name!r} scored {score:.3f} ≥ reject threshold {rule(name).reject:.2f}")
        for name, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)
        if rule(name).prohibited and rule(name).reject is not None and score >= rule(name).reject
    ]
    flags += _signal_flags(signals) + _match_flags(matches)
    rejecting = [f for f in flags if f.action == "reject"]
    if rejecting:
        return PolicyResult(Verdict.REJECT, tuple(f.reason for f in rejecting), tuple(flags))
    if flags:
        return PolicyResult(Verdict.REVIEW, tuple(f.reason for f in flags), tuple(flags))
    if not scores:
        return PolicyResult(Verdict.REVIEW, ("the model returned no scores",))

    top_name, top_score = max(scores.items(), key=lambda item: item[1])
    top_rule = rule(top_name)
    if top_rule.prohibited:
        return PolicyResult(
            Verdict.REVIEW,
            (f"top class {top_name!r} is prohibited but scored {top_score:.3f} < reject threshold {top_rule.reject:.2f}"
             if top_rule.reject is not None else f"top class {top_name!r} is prohibited (never rejected automatically)",),
        )
    if top_score >= top_rule.approve:
        return PolicyResult(
            Verdict.APPROVE,
            (f"top class {top_name!r} scored {top_score:.3f} ≥ approve threshold {top_rule.approve:.2f}",),
        )
    return PolicyResult(
        Verdict.REVIEW,
        (f"top class {top_name!r} scored {top_score:.3f} < approve threshold {top_rule.approve:.2f}",),
    )
