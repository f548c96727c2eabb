"""Judging an upload frame by frame: the policy speaks on each judged frame
(its models' scores, its flags, its PDQ hash against every bank), and the
upload takes its worst frame's verdict. Flags name the frame that raised them.

A still image is one frame and keeps exactly the verdict it always had."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from classifier.contracts import FrameAnalysis
from moderation import policy
from moderation.humanize import frame_words
from moderation.models import FlagKind, Upload, UploadFrame, Verdict
from moderation.policy import ClassThresholds, HashMatch, PolicyFlag, PolicyResult
from moderation.selectors import enabled_flag_rules, flag_signals
from moderation.services.banks import hash_matches_many
from moderation.taxonomy import taxonomy_in_service

_VERDICT_RANK = {Verdict.APPROVE: 0, Verdict.REVIEW: 1, Verdict.REJECT: 2}


@dataclass(frozen=True)
class FrameVerdict:
    frame: FrameAnalysis
    result: PolicyResult
    severity: float  # higher is worse


@dataclass(frozen=True)
class FramesJudgement:
    result: PolicyResult  # the upload's: the worst frame's verdict, every frame's flags
    worst: FrameVerdict
    frames: tuple[FrameVerdict, ...]
    matches: tuple[HashMatch, ...] = ()  # every bank entry any judged frame matched, once, at its closest


def frame_name(frame: FrameAnalysis) -> str:
    return frame_words(frame.index, None if frame.default_image else frame.timestamp_ms)


def _flag_strength(flag: PolicyFlag) -> float:
    """0..1, higher is worse: a model's score, or how close a hash came."""
    if flag.kind == FlagKind.HASH_MATCH:
        return 1.0 - flag.score / 256.0
    return max(0.0, min(1.0, flag.score))


def _flag_rank(flag: PolicyFlag) -> tuple[int, float]:
    return (flag.action == "reject", _flag_strength(flag))


def severity(result: PolicyResult, adult_score: float | None) -> float:
    """Orders frames worst first: the verdict, then the strongest flag, then
    (among unflagged frames) the riskiest picture, by its adult-content score:
    the frame a moderator sees first and whose scores the upload reports."""
    rank = _VERDICT_RANK[Verdict(result.verdict)] * 10.0
    if result.flags:
        return rank + 1.0 + max(_flag_strength(f) for f in result.flags)
    return rank + min(adult_score or 0.0, 0.999)


def _named(flag: PolicyFlag, frame: FrameAnalysis, raised_by: list[int]) -> PolicyFlag:
    detail = {**flag.detail, "frame": frame.index, "timestamp_ms": frame.timestamp_ms, "frames": raised_by}
    if frame.default_image:
        detail["default_image"] = True
    return replace(flag, reason=f"{frame_name(frame)}: {flag.reason}", detail=detail)


def _merged(verdicts: Sequence[FrameVerdict], worst: FrameVerdict) -> PolicyResult:
    """The worst frame's verdict; one flag per (kind, category): the strongest,
    naming its frame and every frame that raised it."""
    strongest: dict[tuple[str, str], tuple[PolicyFlag, FrameAnalysis]] = {}
    raised: dict[tuple[str, str], list[int]] = {}
    for verdict in verdicts:
        for flag in verdict.result.flags:
            key = (flag.kind, flag.category)
            raised.setdefault(key, []).append(verdict.frame.index)
            held = strongest.get(key)
            if held is None or _flag_rank(flag) > _flag_rank(held[0]):
                strongest[key] = (flag, verdict.frame)
    flags = tuple(_named(flag, frame, raised[key]) for key, (flag, frame) in strongest.items())
    reasons = tuple(f"{frame_name(worst.frame)}: {reason}" for reason in worst.result.reasons)
    return PolicyResult(worst.result.verdict, reasons, flags)


def frames_judge(
    *,
    frames: Sequence[FrameAnalysis],
    thresholds: Mapping[str, ClassThresholds],
    declared: str = "",
    taxonomy=None,
    flag_rules=None,
) -> FramesJudgement:
    """The policy on every frame, and the upload's verdict: its worst frame's.
    `declared` is the listing's declared category, if any; `flag_rules` the
    enabled flag categories (read here when not given)."""
    taxonomy = taxonomy or taxonomy_in_service()
    flag_rules = enabled_flag_rules() if flag_rules is None else flag_rules
    verdicts = []
    # One index search for every judged frame's hash.
    frame_matches = hash_matches_many([frame.analysis.pdq_hash for frame in frames])
    closest: dict[object, HashMatch] = {}
    for match in (m for ms in frame_matches for m in ms):
        key = match.detail.get("entry_id") or (match.bank, match.distance)
        if key not in closest or match.distance < closest[key].distance:
            closest[key] = match
    for frame, matches in zip(frames, frame_matches, strict=True):
        analysis = frame.analysis
        signals, unchecked = flag_signals(
            analysis, declared=declared, taxonomy=taxonomy, flag_rules=flag_rules, thresholds=thresholds
        )
        # Prohibited product classes count only where the image is of a kind the
        # product model knows (its open-set gate, where it has one).
        product_scores = analysis.product.scores if getattr(analysis.product, "in_distribution", True) else {}
        result = policy.decide(product_scores, thresholds, signals=signals, matches=matches, unchecked=unchecked)
        adult = analysis.adult.score if analysis.adult is not None else None
        verdicts.append(FrameVerdict(frame, result, severity(result, adult)))
    worst = max(verdicts, key=lambda v: (v.severity, -v.frame.index))
    result = worst.result if len(verdicts) == 1 else _merged(verdicts, worst)
    return FramesJudgement(result=result, worst=worst, frames=tuple(verdicts), matches=tuple(closest.values()))


def frames_record(*, upload: Upload, judgement: FramesJudgement) -> None:
    """Keep each judged frame of an animation (inside the caller's transaction)."""
    upload.frames.all().delete()
    if upload.frame_count <= 1 and len(judgement.frames) <= 1:
        return
    UploadFrame.objects.bulk_create(
        UploadFrame(
            upload=upload,
            index=v.frame.index,
            timestamp_ms=v.frame.timestamp_ms,
            duration_ms=v.frame.duration_ms,
            default_image=v.frame.default_image,
            scene_change=round(v.frame.scene_change, 3),
            verdict=v.result.verdict,
            severity=v.severity,
            worst=v is judgement.worst,
            # No product tag where the open-set gate says the frame is not a product shot.
            label=v.frame.analysis.product.label if v.frame.analysis.product.in_distribution else "",
            score=v.frame.analysis.product.score,
            adult_score=v.frame.analysis.adult.score if v.frame.analysis.adult else None,
            pdq_hash=v.frame.analysis.pdq_hash,
            pdq_quality=v.frame.analysis.pdq_quality,
            reasons=list(v.result.reasons),
            thumbnail=v.frame.thumbnail,
        )
        for v in judgement.frames
    )
