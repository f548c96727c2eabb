"""Policy v1: a pure function of the model's scores and per-class thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from moderation.models import Verdict


@dataclass(frozen=True)
class ClassThresholds:
    approve: float = 0.9
    reject: float = 0.9
    prohibited: bool = False


@dataclass(frozen=True)
class PolicyFlag:
    category: str
    score: float
    reason: str


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


def decide(
    scores: Mapping[str, float],
    thresholds: Mapping[str, ClassThresholds],
    default: ClassThresholds = ClassThresholds(),
) -> PolicyResult:
    """Reject when a prohibited class is at or above its reject threshold;
    approve when the top class (not prohibited) is at or above its approve
    threshold; otherwise send to a human."""
    if not scores:
        return PolicyResult(Verdict.REVIEW, ("the model returned no scores",))

    def rule(name: str) -> ClassThresholds:
        return thresholds.get(name, default)

    flags = tuple(
        PolicyFlag(name, score, f"prohibited class {name!r} scored {score:.3f} ≥ reject threshold {rule(name).reject:.2f}")
        for name, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)
        if rule(name).prohibited and score >= rule(name).reject
    )
    if flags:
        return PolicyResult(Verdict.REJECT, tuple(flag.reason for flag in flags), flags)

    top_name, top_score = max(scores.items(), key=lambda item: item[1])
    top_rule = rule(top_name)
    if top_rule.prohibited:
        return PolicyResult(
            Verdict.REVIEW,
            (f"top class {top_name!r} is prohibited but scored {top_score:.3f} < reject threshold {top_rule.reject:.2f}",),
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
