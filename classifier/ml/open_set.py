"""The open-set gate: is an image of the kind the product model was trained on?

The product model knows ten kinds of Fashion-MNIST product shot and, asked
about anything else, still names one of them. The gate measures how far an
image's EfficientNet-Lite0 embedding lies from the nearest of the ten class
centres (cosine distance, 0 = the centre's direction, 1 = orthogonal) and lets
the product label through only when it lies within the calibrated threshold.

Calibration (`calibrate`) sees held-out product shots (positives: Fashion-MNIST
test images, raw 28 px and rendered at 256 px) and real photos with no garment
in them (negatives, classifier.ml.real_photos). When the two do not overlap,
the threshold lies in the middle of the gap between the positives' 99.9th
percentile and the nearest negative; when they do, it keeps 99.9 % of the
positives. Plain numpy: no Django, no TensorFlow.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

METHOD = "cosine-centres"
METHOD_TEXT = "cosine distance of the EfficientNet-Lite0 embedding to the nearest product class centre"
POSITIVE_QUANTILE = 0.999
# Used only when calibration has no negatives at all: about half the gap
# measured with them (positives' 99.9th percentile 0.424, nearest real photo
# 0.596 with the default calibration; docs/models.md).
FALLBACK_MARGIN = 0.08


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def class_centres(embeddings: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(classes, d) unit vectors: the mean direction of each class's embeddings."""
    unit = _unit(embeddings)
    missing = [k for k in range(classes) if not np.any(labels == k)]
    if missing:
        raise ValueError(f"no examples of classes {missing}: every class needs a centre")
    return _unit(np.stack([unit[labels == k].mean(axis=0) for k in range(classes)]))


@dataclass(frozen=True)
class OpenSetGate:
    centres: np.ndarray  # (classes, d) unit vectors
    threshold: float  # an image is out of distribution when its score exceeds this
    backbone_version_id: int = 0  # the embedding space the centres live in
    method: str = METHOD

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(n,) distances to the nearest centre: 0 on a centre, higher further out."""
        return 1.0 - (_unit(embeddings) @ self.centres.T).max(axis=1)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            centres=self.centres.astype(np.float32),
            threshold=np.float64(self.threshold),
            backbone_version_id=np.int64(self.backbone_version_id),
            method=np.str_(self.method),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> OpenSetGate:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            return cls(
                centres=np.asarray(stored["centres"], dtype=np.float32),
                threshold=float(stored["threshold"]),
                backbone_version_id=int(stored["backbone_version_id"]),
                method=str(stored["method"]),
            )


def _rate(values: np.ndarray, threshold: float, *, above: bool) -> float | None:
    if len(values) == 0:
        return None
    return round(float(np.mean(values > threshold if above else values <= threshold)), 4)


def calibrate(positive_scores: dict[str, np.ndarray], negative_scores: dict[str, np.ndarray]) -> tuple[float, dict]:
    """The threshold, and the figures that justify it.

    `positive_scores`/`negative_scores`: scores of held-out images by group
    (e.g. {"raw 28 px": …, "rendered 256 px": …}, {"skimage": …, "wallpapers": …}).
    """
    positives = np.concatenate([np.asarray(v, float) for v in positive_scores.values()])
    negatives = np.concatenate([np.asarray(v, float) for v in negative_scores.values()] or [np.zeros(0)])
    if len(positives) == 0:
        raise ValueError("calibration needs positives")
    positive_edge = float(np.quantile(positives, POSITIVE_QUANTILE))
    nearest_negative = float(negatives.min()) if len(negatives) else None
    if nearest_negative is None:
        threshold, rule = (
            positive_edge + FALLBACK_MARGIN,
            "no negatives: positives' 99.9th percentile + fallback margin",
        )
    elif nearest_negative > positive_edge:
        threshold, rule = (positive_edge + nearest_negative) / 2, "middle of the gap between positives and negatives"
    else:
        threshold, rule = positive_edge, "classes overlap: keep 99.9 % of the positives"
    figures = {
        "method": METHOD,
        "rule": rule,
        "threshold": round(threshold, 4),
        "positive_edge": round(positive_edge, 4),
        "nearest_negative": None if nearest_negative is None else round(nearest_negative, 4),
        "positives": {
            k: {"n": len(v), "in": _rate(np.asarray(v), threshold, above=False), "max": round(float(np.max(v)), 4)}
            for k, v in positive_scores.items()
        },
        "negatives": {
            k: {
                "n": len(v),
                "out": _rate(np.asarray(v), threshold, above=True),
                "min": round(float(np.min(v)), 4) if len(v) else None,
            }
            for k, v in negative_scores.items()
        },
        "true_positive_rate": _rate(positives, threshold, above=False),
        "false_positive_rate": _rate(negatives, threshold, above=False),
    }
    return float(threshold), figures


def fit_gate(
    *,
    fit_embeddings: np.ndarray,
    fit_labels: np.ndarray,
    classes: int,
    positives: dict[str, np.ndarray],
    negatives: dict[str, np.ndarray],
    backbone_version_id: int = 0,
) -> tuple[OpenSetGate, dict]:
    """Class centres from the fit embeddings, threshold from the held-out
    positive and negative embeddings (each by group): the gate and its figures."""
    probe = OpenSetGate(class_centres(fit_embeddings, fit_labels, classes), 0.0, backbone_version_id)
    threshold, figures = calibrate(
        {name: probe.scores(e) for name, e in positives.items()},
        {name: probe.scores(e) for name, e in negatives.items() if len(e)},
    )
    return OpenSetGate(probe.centres, threshold, backbone_version_id), figures
