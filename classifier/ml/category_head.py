"""Custom categories taught from examples: a one-vs-rest logistic-regression
head per category on the backbone's pooled EfficientNet-Lite0 embedding.

Plain numpy (no Django, no scikit-learn): a lead's 20 examples train in
milliseconds, and serving every active category is one (k, 1280) matrix
product per upload.

- `split_holdout` puts an example in the held-out set by a stable hash of its
  key, so a head is never evaluated on what it was trained on, and a later
  head is compared with the one in service on the same held-out examples.
- `train_head` fits the weights (L2-regularised, classes weighted equally).
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
MIN_HOLDOUT_POSITIVES = 1
GATE_MARGIN = 0.02


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
    l2: float = 1e-3,
    steps: int = 300,
    learning_rate: float = 0.5,
    backbone_version_id: int = 0,
) -> Head:
    """Logistic regression by full-batch gradient descent with momentum on
    unit-length embeddings; positives and negatives weigh the same in total."""
    x = unit(embeddings)
    y = np.asarray(labels, dtype=np.float32)
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError("a head needs positive and negative examples")
    sample_weight = np.where(y == 1, 0.5 / (y == 1).sum(), 0.5 / (y == 0).sum()).astype(np.float32)
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

    def as_dict(self) -> dict:
        return {
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
    return Evaluation(threshold, positives, negatives, precision, recall, average_precision, f1, curve)


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


def fit_and_evaluate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    keys: Sequence[str],
    *,
    threshold: float,
    backbone_version_id: int = 0,
) -> tuple[TrainedHead, np.ndarray]:
    """Train on the examples outside the held-out set, evaluate on the rest.
    Returns the trained head and the held-out mask."""
    labels = np.asarray(labels).astype(np.int8)
    holdout = split_holdout(keys, labels)
    started = time.perf_counter()
    head = train_head(embeddings[~holdout], labels[~holdout], backbone_version_id=backbone_version_id)
    seconds = time.perf_counter() - started
    evaluation = evaluate(head.scores(embeddings[holdout]), labels[holdout], threshold)
    trained = TrainedHead(
        head, evaluation, int(labels[~holdout].sum()), int((labels[~holdout] == 0).sum()), round(seconds, 4)
    )
    return trained, holdout


def head_gate(candidate: Evaluation, active: Evaluation | None) -> GateDecision:
    """The promotion gate's rules (classifier.ml.gate.gate_decide) for a head:
    the "base" figure is held-out average precision, the "held-out" figure the
    F1 at the threshold, both on the same held-out examples. The candidate may
    not lose more than the margin in average precision and must be strictly
    better in F1, or else equal in F1 and better in average precision. A first
    head must reach FIRST_HEAD_MIN_AP."""
    cand_ap = candidate.average_precision or 0.0
    cand_f1 = candidate.f1 or 0.0
    if active is None:
        figures = GateFigures(cand_ap, FIRST_HEAD_MIN_AP, cand_f1, 0.0, candidate.positives, GATE_MARGIN)
        if candidate.positives < MIN_HOLDOUT_POSITIVES:
            return GateDecision(False, f"too few held-out positives ({candidate.positives})", figures)
        if cand_ap < FIRST_HEAD_MIN_AP:
            return GateDecision(
                False, f"held-out average precision {cand_ap:.3f} < {FIRST_HEAD_MIN_AP:.2f} for a first head", figures
            )
        return GateDecision(True, f"first head: held-out average precision {cand_ap:.3f}, F1 {cand_f1:.3f}", figures)
    act_ap = active.average_precision or 0.0
    act_f1 = active.f1 or 0.0
    # Ties in F1 are broken by average precision (a small, honest step up).
    holdout_candidate = cand_f1 + (1e-6 if cand_f1 == act_f1 and cand_ap > act_ap else 0.0)
    figures = GateFigures(cand_ap, act_ap, holdout_candidate, act_f1, candidate.positives, GATE_MARGIN)
    return gate_decide(figures, min_holdout=MIN_HOLDOUT_POSITIVES)


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
