"""What the classifier hands the rest of the platform: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

# What the picture says (classifier.ml.ocr): re-exported, one definition.
from classifier.ml.ocr import DecodedCode, ImageText, TextLine
from classifier.ml.photo_products import NO_PRODUCT  # the real-photo model's class for "nothing to tag"

__all__ = [
    "AdultScore",
    "DecodedCode",
    "FrameAnalysis",
    "ImageAnalysis",
    "ImageNetTags",
    "ImageText",
    "NoActiveModel",
    "ProductPrediction",
    "TextLine",
]


class NoActiveModel(RuntimeError):
    """No model version is active for the role asked for."""


@dataclass(frozen=True)
class ProductPrediction:
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # every class, by name
    model_version_id: int = 0
    model_version_name: str = ""
    # The open-set gate (classifier.ml.open_set): is the image of the kind the
    # product model was trained on? Out of distribution, `label` is still the
    # model's best guess, but no tag may be shown or acted on. Without an
    # active gate (or backbone) nothing is checked: in distribution, score None.
    in_distribution: bool = True
    ood_score: float | None = None
    ood_threshold: float | None = None
    ood_method: str = ""
    ood_version_id: int = 0
    # Which model tagged the image: "studio" (the Fashion-MNIST product model,
    # for the product shots it knows) or "photo" (the real-photo model, where
    # the open-set gate found the image unlike them). For "photo",
    # in_distribution means "a product is shown and its kind is sure enough",
    # and `reason` says why not when it is False.
    route: str = "studio"
    reason: str = ""
    product_mass: float | None = None

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.scores.items(), key=lambda item: item[1], reverse=True)[:k]

    def tags(self, k: int = 3) -> list[tuple[str, float]]:
        """The product tags worth showing: none when no product is shown."""
        return [tag for tag in self.top(k + 1) if tag[0] != NO_PRODUCT][:k] if self.in_distribution else []

    def open_set(self) -> dict:
        """The gate's figures and the route, as stored with the prediction (empty when unchecked)."""
        if self.ood_score is None:
            return {}
        figures = {
            "in_distribution": self.in_distribution,
            "score": round(self.ood_score, 4),
            "threshold": round(self.ood_threshold or 0.0, 4),
            "method": self.ood_method,
            "model_version_id": self.ood_version_id,
            "route": self.route,
        }
        if self.route == "photo":
            figures["reason"] = self.reason
            figures["product_mass"] = round(self.product_mass or 0.0, 4)
        return figures


@dataclass(frozen=True)
class ImageNetTags:
    """The backbone's top ImageNet classes and the full probability vector."""

    top: tuple[tuple[int, str, float], ...]  # (class index, readable name, probability)
    probabilities: tuple[float, ...]  # all 1000, for flag rules
    embedding: bytes  # pooled 1280-d embedding, float16
    model_version_id: int = 0
    model_version_name: str = ""


@dataclass(frozen=True)
class AdultScore:
    score: float  # P(adult content)
    model_version_id: int = 0
    model_version_name: str = ""


@dataclass(frozen=True)
class ImageAnalysis:
    """Everything the models said of one image; each part names its version."""

    product: ProductPrediction
    imagenet: ImageNetTags | None
    adult: AdultScore | None
    pdq_hash: str  # 64 hex digits
    pdq_quality: int
    # The Fashion-MNIST model's guess when the real-photo model tagged the
    # image instead (`product.route == "photo"`): for the caller to read, never stored or a tag.
    studio_product: ProductPrediction | None = None
    text: ImageText | None = None  # None: not read (TEXT_IN_IMAGES off, or a frame past TEXT_MAX_FRAMES)


@dataclass(frozen=True)
class FrameAnalysis:
    """One judged frame of an upload (a still image is one frame, index 0)."""

    index: int  # the decoder's frame number
    timestamp_ms: int | None  # when a browser shows it; None for an APNG default image
    duration_ms: int
    default_image: bool  # an APNG default image, outside the animation
    scene_change: float  # mean luminance change from the frame before (0..255)
    analysis: ImageAnalysis
    thumbnail: bytes = b""  # a small JPEG of the frame as shown (animations only), for the review strip
