"""Custom categories taught from examples: a one-vs-rest logistic-regression
head per category on the backbone's pooled EfficientNet-Lite0 embedding.

Plain numpy (no Django, no scikit-learn): a lead's 20 examples train in
milliseconds, and serving every active category is one (k, 1280) matrix
product per upload.

- `split_holdout` puts an example in the held-out set by a stable hash of its
  key, so a head is never evaluated on what it was trained on, and a later
  head is compared with the one in service on the same held-out examples.
- `train_head` fits the weights (L2-regularised, classes weighted equally,
  each example weighted as given).
- `background_weights` learns from positives and unlabelled uploads (issue
  31): recent uploads are assumed negatives, but those that look like the
  positives (cross-fitted, so a head never judges what it was fitted on) are
  left out, since a thing common among uploads would otherwise teach the head
  that it is not that thing.
- `cross_validate` scores every example by a head that did not see it: a
  figure on all the positives, where the held-out set has a handful.
- `candidates` picks what a lead should confirm next: the uploads the head is
  least sure of, and the highest-scoring ones.
- `evaluate` gives precision and recall at the threshold, the average
  precision and the precision-recall curve on held-out examples.
- `head_gate_figures` phrases a candidate-versus-active comparison in the
  promotion gate's terms (classifier.ml.gate): the same rules as every model.
- `HeadSet` scores one embedding against every active head at once.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from classifier.ml.gate import GateDecision, GateFigures, gate_decide

EMBEDDING_WIDTH = 1280
METHOD = "one-vs-rest logistic regression on the EfficientNet-Lite0 embedding"
HOLDOUT_SHARE = 0.25
# A first head (no head in service to beat) is promoted only when its held-out
# average precision reaches this, with at least MIN_HOLDOUT_POSITIVES.
FIRST_HEAD_MIN_AP = 0.5
# ... or this held-out ROC AUC: when the category is common among uploads the
# held-out background hides positives counted as negatives, which sinks the
# average precision of a good head (0.15 to 0.49 for 6 of 10 in the bench) but
# barely moves its AUC. A first head flags nothing before a lead's dry run and
# confirmation anyway.
FIRST_HEAD_MIN_AUC = 0.8
MIN_HOLDOUT_POSITIVES = 1
GATE_MARGIN = 0.02
# Measured in bench/custom_categories.py (issue 31): a stronger L2 than 1e-3
# keeps a head from memorising 15 positives, and two rounds of leaving out the
# background uploads that score above the lowest quarter of the positives'
# cross-fitted scores found most of the category's own uploads among them.
L2 = 3e-2
FOLDS = 4
UNLABELLED_ROUNDS = 2
UNLABELLED_QUANTILE = 25.0
UNLABELLED_MAX_CUT = 0.5
# Fewer held-out positives than this: a figure is shown with its interval.
FEW_POSITIVES = 10


def unit(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


Stored = bytes | bytearray | memoryview


def embedding_from_bytes(data: Stored | None) -> np.ndarray:
    """A stored embedding (float16 bytes, as the platform keeps them) as float32."""
    if data is None:
        raise ValueError("no stored embedding")
    return np.frombuffer(bytes(data), dtype=np.float16).astype(np.float32)


def in_holdout(key: str, share: float = HOLDOUT_SHARE) -> bool:
    """Stable across runs and processes: the same example is always held out or never."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def split_holdout(keys: Sequence[str], labels: np.ndarray, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """Boolean mask of held-out examples. Each class keeps at least one
    training example, and (with two or more) gives at least one to the held-out set."""
    mask = np.array([in_holdout(k, share) for k in keys], dtype=bool)
    labels = np.asarray(labels)
    for value in (0, 1):
        idx = np.flatnonzero(labels == value)
        if len(idx) == 0:
            continue
        if mask[idx].all():
            mask[idx[0]] = False
        if len(idx) >= 2 and not mask[idx].any():
            # the example whose hash is closest to the held-out share
            scores = [int.from_bytes(hashlib.blake2b(keys[i].encode(), digest_size=8).digest(), "big") for i in idx]
            mask[idx[int(np.argmin(scores))]] = True
    return mask


@dataclass(frozen=True)
class Head:
    weights: np.ndarray  # (EMBEDDING_WIDTH,)
    bias: float
    backbone_version_id: int = 0

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        return _sigmoid(unit(embeddings) @ self.weights + self.bias)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            weights=self.weights.astype(np.float32),
            bias=np.float64(self.bias),
            backbone_version_id=np.int64(self.backbone_version_id),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: Stored) -> Head:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as stored:
            return cls(
                weights=np.asarray(stored["weights"], dtype=np.float32),
                bias=float(stored["bias"]),
                backbone_version_id=int(stored["backbone_version_id"]),
            )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def train_head(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    l2: float = L2,
    steps: int = 300,
    learning_rate: float = 0.5,
    backbone_version_id: int = 0,
) -> Head:
    """Logistic regression by full-batch gradient descent with momentum on
    unit-length embeddings; positives and negatives weigh the same in total,
    each example in proportion to its weight (0: left out)."""
    x = unit(embeddings)
    y = np.asarray(labels, dtype=np.float32)
    given = np.ones(len(y), np.float32) if weights is None else np.asarray(weights, np.float32)
    if not ((y == 1) & (given > 0)).any() or not ((y == 0) & (given > 0)).any():
        raise ValueError("a head needs positive and negative examples")
    sample_weight = np.where(y == 1, given / given[y == 1].sum(), given / given[y == 0].sum()).astype(
        np.float32
    ) * np.float32(0.5)
    # Unit vectors in 1280-d are close together: scale so that the steps are useful.
    scale = 10.0
    xs = x * scale
    w = np.zeros(x.shape[1], np.float32)
    b = 0.0
    vw = np.zeros_like(w)
    vb = 0.0
    for _ in range(steps):
        p = _sigmoid(xs @ w + b)
        g = (p - y) * sample_weight
        grad_w = xs.T @ g + l2 * w
        grad_b = float(g.sum())
        vw = 0.9 * vw + grad_w
        vb = 0.9 * vb + grad_b
        w -= learning_rate * vw
        b -= learning_rate * vb
    return Head(weights=(w * scale).astype(np.float32), bias=float(b), backbone_version_id=backbone_version_id)


def _folds(count: int, folds: int = FOLDS) -> np.ndarray:
    return np.arange(count) % folds


def _out_of_fold(embeddings: np.ndarray, labels: np.ndarray, weights: np.ndarray, folds: int = FOLDS) -> np.ndarray:
    """Each row's score by a head fitted on the other folds (rows of weight 0
    are scored but teach nothing). Folds are interleaved, so every fold holds
    positives when there are at least `folds` of them."""
    fold = _folds(len(labels), folds)
    # Interleave positives and negatives separately: a fold never lacks a class.
    order = np.concatenate([np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)])
    fold[order] = _folds(len(order), folds)
    scores = np.zeros(len(labels), np.float64)
    for f in range(folds):
        inside = fold != f
        taught = weights[inside] > 0
        y = labels[inside][taught]
        if not (y == 1).any() or not (y == 0).any():
            scores[~inside] = np.nan
            continue
        head = train_head(embeddings[inside][taught], y, weights=weights[inside][taught])
        scores[~inside] = head.scores(embeddings[~inside])
    return scores


def background_weights(
    embeddings: np.ndarray,
    labels: np.ndarray,
    background: np.ndarray,
    *,
    rounds: int = UNLABELLED_ROUNDS,
    quantile: float = UNLABELLED_QUANTILE,
) -> np.ndarray:
    """Weights for training: 1 for every example a lead gave, and for the
    background uploads (negatives by assumption) that do not look like the
    positives; 0 for those that score, by a head that never saw them, at or
    above the `quantile` of the positives' own cross-fitted scores (at most
    UNLABELLED_MAX_CUT). Those are unlabelled, not negative."""
    labels = np.asarray(labels)
    background = np.asarray(background, bool) & (labels == 0)
    weights = np.ones(len(labels), np.float32)
    if (labels == 1).sum() < FOLDS or not background.any():
        return weights
    for _ in range(rounds):
        scores = _out_of_fold(embeddings, labels, weights)
        positive = scores[(labels == 1) & ~np.isnan(scores)]
        if not len(positive):
            break
        cut = min(float(np.percentile(positive, quantile)), UNLABELLED_MAX_CUT)
        weights = np.where(background & (np.nan_to_num(scores) >= cut), 0.0, 1.0).astype(np.float32)
    return weights


def candidates(scores: np.ndarray, threshold: float, count: int, *, highest_first: bool = False) -> list[int]:
    """Indices of the uploads a lead should confirm next, alternating: the one
    the head is least sure of (score nearest the threshold), then the
    highest-scoring one (or the other way round); each once."""
    scores = np.asarray(scores, np.float64)
    unsure = list(np.argsort(np.abs(scores - threshold), kind="stable"))
    highest = list(np.argsort(-scores, kind="stable"))
    chosen: list[int] = []
    pairs = zip(highest, unsure, strict=True) if highest_first else zip(unsure, highest, strict=True)
    for a, b in pairs:
        for i in (int(a), int(b)):
            if i not in chosen and len(chosen) < count:
                chosen.append(i)
        if len(chosen) >= count:
            break
    return chosen


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95 %) of a proportion: honest with 3 trials."""
    if trials <= 0:
        return None
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (round(float(max(0.0, centre - half)), 4), round(float(min(1.0, centre + half)), 4))


@dataclass(frozen=True)
class Evaluation:
    threshold: float
    positives: int
    negatives: int
    precision: float | None  # None: nothing scored at or above the threshold
    recall: float | None  # None: no held-out positive
    average_precision: float | None
    f1: float | None
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (threshold, precision, recall)
    flagged: int = 0  # scored at or above the threshold
    hits: int = 0  # of those, positives
    # The chance a positive outscores a negative (ROC AUC). Unlike precision it
    # barely moves when the negatives hide some positives (unlabelled
    # background): against a share π of hidden positives it reads (1 - π) AUC + π / 2.
    auc: float | None = None

    @property
    def uncertain(self) -> bool:
        return self.positives < FEW_POSITIVES

    def as_dict(self) -> dict:
        return {
            "flagged": self.flagged,
            "hits": self.hits,
            "uncertain": self.uncertain,
            "auc": self.auc,
            "precision_interval": wilson(self.hits, self.flagged),
            "recall_interval": wilson(self.hits, self.positives),
            "threshold": self.threshold,
            "positives": self.positives,
            "negatives": self.negatives,
            "precision": self.precision,
            "recall": self.recall,
            "average_precision": self.average_precision,
            "f1": self.f1,
            "curve": [[round(t, 4), round(p, 4), round(r, 4)] for t, p, r in self.curve],
        }


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Evaluation:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    flagged = scores >= threshold
    tp = int((flagged & labels).sum())
    precision = tp / int(flagged.sum()) if flagged.any() else None
    recall = tp / positives if positives else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if positives else None)
    )
    curve: list[tuple[float, float, float]] = []
    average_precision = None
    if positives:
        order = np.argsort(-scores, kind="stable")
        hits = np.cumsum(labels[order])
        ranks = np.arange(1, len(order) + 1)
        precisions = hits / ranks
        recalls = hits / positives
        average_precision = float((precisions * labels[order]).sum() / positives)
        curve = [(float(scores[order[i]]), float(precisions[i]), float(recalls[i])) for i in range(len(order))]
    auc = None
    if positives and negatives:
        ranks = _ranks(scores)
        auc = float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    return Evaluation(
        threshold, positives, negatives, precision, recall, average_precision, f1, curve, int(flagged.sum()), tp, auc
    )


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (for the Mann-Whitney AUC)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def suggest_threshold(curve: Sequence[Sequence[float]], target_precision: float) -> float | None:
    """The lowest score threshold whose held-out precision reaches the target
    (most recall at that precision), from an Evaluation's curve; None if none does."""
    reaching = [t for t, p, _ in curve if p >= target_precision]
    return min(reaching) if reaching else None


@dataclass(frozen=True)
class TrainedHead:
    head: Head
    evaluation: Evaluation
    train_positives: int
    train_negatives: int
    seconds: float
    left_out: int = 0  # background uploads that looked like positives (not taught as negatives)
    cross_validated: Evaluation | None = None  # out-of-fold scores of every example


def fit_and_evaluate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    keys: Sequence[str],
    *,
    threshold: float,
    background: np.ndarray | None = None,
    backbone_version_id: int = 0,
) -> tuple[TrainedHead, np.ndarray]:
    """Train on the examples outside the held-out set, evaluate on the rest.
    `background` marks the rows that are recent uploads, not a lead's
    examples: those that look like the positives are left out of training
    (background_weights). The held-out evaluation counts every held-out
    background upload as a negative, so its precision is a lower bound; the
    cross-validated figure covers every positive. Returns the trained head
    and the held-out mask."""
    labels = np.asarray(labels).astype(np.int8)
    background = np.zeros(len(labels), bool) if background is None else np.asarray(background, bool)
    holdout = split_holdout(keys, labels)
    started = time.perf_counter()
    train_x, train_y = embeddings[~holdout], labels[~holdout]
    weights = background_weights(train_x, train_y, background[~holdout])
    head = train_head(train_x, train_y, weights=weights, backbone_version_id=backbone_version_id)
    seconds = time.perf_counter() - started
    evaluation = evaluate(head.scores(embeddings[holdout]), labels[holdout], threshold)
    cross_validated = None
    if labels.sum() >= FOLDS:
        all_weights = background_weights(embeddings, labels, background)
        taught = all_weights > 0
        scores = _out_of_fold(embeddings, labels, all_weights)
        kept = taught & ~np.isnan(scores)
        cross_validated = evaluate(scores[kept], labels[kept], threshold)
    trained = TrainedHead(
        head,
        evaluation,
        int(train_y.sum()),
        int(((train_y == 0) & (weights > 0)).sum()),
        round(seconds, 4),
        int((weights == 0).sum()),
        cross_validated,
    )
    return trained, holdout


def _in_head_terms(decision: GateDecision) -> GateDecision:
    """The gate's words are a product model's; a head's figures are its held-out AP and F1."""
    reason = decision.reason.replace("base test accuracy", "held-out average precision")
    reason = reason.replace("held-out corrections", "held-out F1").replace("base test", "average precision")
    return GateDecision(decision.promote, reason, decision.figures)


def head_gate(candidate: Evaluation, active: Evaluation | None, *, confirmed: bool = False) -> GateDecision:
    """The promotion gate's rules (classifier.ml.gate.gate_decide) for a head:
    the "base" figure is held-out average precision, the "held-out" figure the
    F1 at the threshold, both on the same held-out examples. The candidate may
    not lose more than the margin in average precision and must be strictly
    better in F1, or else equal in F1 and better in average precision; after a
    lead's confirmation (`confirmed`), no worse in F1 and within the margin in
    average precision. A first head must reach FIRST_HEAD_MIN_AP, or
    FIRST_HEAD_MIN_AUC."""
    cand_ap = candidate.average_precision or 0.0
    cand_f1 = candidate.f1 or 0.0
    if active is None:
        figures = GateFigures(cand_ap, FIRST_HEAD_MIN_AP, cand_f1, 0.0, candidate.positives, GATE_MARGIN)
        if candidate.positives < MIN_HOLDOUT_POSITIVES:
            return GateDecision(False, f"too few held-out positives ({candidate.positives})", figures)
        cand_auc = candidate.auc or 0.0
        if cand_ap < FIRST_HEAD_MIN_AP and cand_auc >= FIRST_HEAD_MIN_AUC:
            return GateDecision(
                True,
                f"first head: held-out AUC {cand_auc:.3f} (average precision {cand_ap:.3f}: the held-out background "
                "may hide uploads of the category)",
                figures,
            )
        if cand_ap < FIRST_HEAD_MIN_AP:
            return GateDecision(
                False,
                f"held-out average precision {cand_ap:.3f} < {FIRST_HEAD_MIN_AP:.2f} and AUC {cand_auc:.3f} < "
                f"{FIRST_HEAD_MIN_AUC:.2f} for a first head",
                figures,
            )
        return GateDecision(True, f"first head: held-out average precision {cand_ap:.3f}, F1 {cand_f1:.3f}", figures)
    act_ap = active.average_precision or 0.0
    act_f1 = active.f1 or 0.0
    # Ties in F1 are broken by average precision (a small, honest step up).
    holdout_candidate = cand_f1 + (1e-6 if cand_f1 == act_f1 and cand_ap > act_ap else 0.0)
    figures = GateFigures(cand_ap, act_ap, holdout_candidate, act_f1, candidate.positives, GATE_MARGIN)
    decision = _in_head_terms(gate_decide(figures, min_holdout=MIN_HOLDOUT_POSITIVES))
    if (
        confirmed
        and not decision.promote
        and candidate.positives >= MIN_HOLDOUT_POSITIVES
        and cand_f1 >= act_f1
        and act_ap - cand_ap <= GATE_MARGIN
    ):
        # A lead's confirmation is a label the head in service never had: a head
        # no worse on the same held-out examples takes its place, or a
        # handful of held-out examples (ties are the rule) would freeze it.
        return GateDecision(
            True,
            f"no worse on held-out (F1 {act_f1:.3f} → {cand_f1:.3f}, average precision {act_ap:.3f} → "
            f"{cand_ap:.3f}) and trained on the lead's confirmations",
            figures,
        )
    return decision


@dataclass(frozen=True)
class HeadSet:
    """Every active head, stacked: scores for all categories in one product."""

    keys: tuple[int, ...]  # category ids, in row order
    weights: np.ndarray  # (k, EMBEDDING_WIDTH)
    biases: np.ndarray  # (k,)
    backbone_version_ids: np.ndarray  # (k,)

    @classmethod
    def stack(cls, heads: Sequence[tuple[int, Head]]) -> HeadSet:
        if not heads:
            return cls((), np.zeros((0, EMBEDDING_WIDTH), np.float32), np.zeros(0), np.zeros(0, np.int64))
        return cls(
            tuple(key for key, _ in heads),
            np.stack([h.weights for _, h in heads]).astype(np.float32),
            np.array([h.bias for _, h in heads], np.float32),
            np.array([h.backbone_version_id for _, h in heads], np.int64),
        )

    def scores(self, embeddings: np.ndarray, backbone_version_id: int | None = None) -> np.ndarray:
        """(n, k) scores; a head fitted on another backbone's embeddings scores NaN."""
        out = _sigmoid(unit(embeddings) @ self.weights.T + self.biases)
        if backbone_version_id is not None and len(self.keys):
            out[:, self.backbone_version_ids != backbone_version_id] = np.nan
        return out
