"""The policy: a pure function of the risk signals (adult content,
prohibited goods, a listing that does not show what it declares), the hash
matches and the prohibited product classes, with thresholds passed in. A
product tag's confidence never decides a verdict by itself. Every verdict
carries its reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from moderation.models import Verdict


@dataclass(frozen=True)
class ClassThresholds:
    # `approve`: a listing that declares this class shows it when the top
    # product class is this one at or above this score (ClassPolicy.approve_threshold).
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
            errors[name] = "A threshold is a score between 0 and 1" + (
                " (or empty: never)." if name in optional else "."
            )
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
    return Signal(
        "prohibited_goods",
        category,
        score,
        review,
        reject,
        f"{source} ImageNet classes ({shown})",
        {**(detail or {}), "classes": [[i, name, round(p, 5)] for i, name, p in parts[:5]]},
    )


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
            flags.append(
                PolicyFlag(
                    s.kind,
                    s.category,
                    s.score,
                    "reject",
                    f"{s.category}: {s.reason} scored {s.score:.3f} ≥ reject threshold {s.reject:.2f}",
                    s.detail,
                )
            )
        elif s.score >= s.review:
            flags.append(
                PolicyFlag(
                    s.kind,
                    s.category,
                    s.score,
                    "review",
                    f"{s.category}: {s.reason} scored {s.score:.3f} ≥ review threshold {s.review:.2f}",
                    s.detail,
                )
            )
    return flags


def _match_flags(matches: Sequence[HashMatch]) -> list[PolicyFlag]:
    return [
        PolicyFlag(
            "hash_match",
            m.bank,
            float(m.distance),
            m.action,
            f"matches an entry of bank {m.bank!r} at Hamming distance {m.distance} ≤ {m.max_distance}",
            m.detail,
        )
        for m in matches
        if m.distance <= m.max_distance
    ]


def listing_signal(
    declared: str,
    *,
    kind: str,
    review: float,
    reject: float | None,
    product_label: str = "",
    product_score: float = 0.0,
    in_distribution: bool = True,
    class_threshold: float = 0.9,
    category_score: float = 0.0,
    source: str = "",
    withheld: str = "",
) -> Signal:
    """Does the image show what the listing declares?

    A declared product class (`kind="class"`) is shown only when the product
    model's top class is that class at or above the class's own threshold,
    and the image is of a kind the product model knows (in distribution); the
    signal is then 0, else 1. A declared taxonomy category (`kind="category"`)
    scores 1 − the category's score. Either way the listing-mismatch flag's
    review and reject thresholds apply to that score."""
    if kind == "class":
        shown = in_distribution and product_label == declared and product_score >= class_threshold
        if not in_distribution:
            why = withheld or "the image is not of a kind the product model knows"
        elif product_label != declared:
            why = f"the product model's top class is {product_label!r} ({product_score:.3f})"
        else:
            why = f"{declared!r} scored {product_score:.3f} {'≥' if shown else '<'} its threshold {class_threshold:.2f}"
        score = 0.0 if shown else 1.0
        detail = {
            "declared": declared,
            "declared_kind": kind,
            "label": product_label,
            "score": round(product_score, 5),
            "threshold": class_threshold,
            "in_distribution": in_distribution,
        }
        reason = f"declared product {declared!r} {'shown' if shown else 'not shown'} ({why})"
    else:
        score = max(0.0, 1.0 - category_score)
        detail = {"declared": declared, "declared_kind": kind, "category_score": round(category_score, 5)}
        reason = f"1 − score of declared category {declared!r} ({category_score:.3f}{', ' + source if source else ''})"
    return Signal("listing_mismatch", "listing mismatch", score, review, reject, reason, detail)


def decide(
    scores: Mapping[str, float],
    thresholds: Mapping[str, ClassThresholds],
    default: ClassThresholds = ClassThresholds(),
    signals: Sequence[Signal] = (),
    matches: Sequence[HashMatch] = (),
    unchecked: Sequence[str] = (),
) -> PolicyResult:
    """The verdict follows risk, never a product tag's confidence.

    Reject when any flag reaches its reject threshold (a prohibited product
    class, adult content, prohibited goods, a listing mismatch) or a
    reject-bank hash matches; send to review when any flag reaches its review
    threshold, a review-bank hash matches, the top product class is prohibited
    (below its reject threshold), or a risk check could not run (`unchecked`:
    its model is missing); otherwise approve.

    `scores` are the product model's class scores, given only when the image
    is of a kind the product model knows; `thresholds` mark prohibited classes."""

    def rule(name: str) -> ClassThresholds:
        return thresholds.get(name, default)

    flags = [
        PolicyFlag(
            "prohibited_class",
            name,
            score,
            "reject",
            f"prohibited class {name!r} scored {score:.3f} ≥ reject threshold {rule(name).reject:.2f}",
        )
        for name, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)
        if rule(name).prohibited and rule(name).reject is not None and score >= rule(name).reject
    ]
    flags += _signal_flags(signals) + _match_flags(matches)
    rejecting = [f for f in flags if f.action == "reject"]
    if rejecting:
        return PolicyResult(Verdict.REJECT, tuple(f.reason for f in rejecting), tuple(flags))
    if scores:
        top_name, top_score = max(scores.items(), key=lambda item: item[1])
        if rule(top_name).prohibited:
            top_reject = rule(top_name).reject
            flags.append(
                PolicyFlag(
                    "prohibited_class",
                    top_name,
                    top_score,
                    "review",
                    f"top class {top_name!r} is prohibited but scored {top_score:.3f} < reject threshold {top_reject:.2f}"
                    if top_reject is not None
                    else f"top class {top_name!r} is prohibited (never rejected automatically)",
                )
            )
    if flags:
        return PolicyResult(Verdict.REVIEW, tuple(f.reason for f in flags), tuple(flags))
    if unchecked:
        return PolicyResult(Verdict.REVIEW, tuple(f"not checked: {what}" for what in unchecked))
    closest = sorted(signals, key=lambda s: s.score / s.review if s.review > 0 else 0.0, reverse=True)[:4]
    return PolicyResult(
        Verdict.APPROVE,
        (
            "no risk signal reached its review threshold",
            *(f"{s.category}: {s.score:.3f} < review threshold {s.review:.2f}" for s in closest),
        ),
    )
