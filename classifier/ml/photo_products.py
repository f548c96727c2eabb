"""Product tags for real photos: a head over the EfficientNet-Lite0 outputs
that every upload already has.

The Fashion-MNIST product model knows 28-px studio shots; the open-set gate
routes every other image here. The head answers two questions:

1. **Is a product shown?** ImageNet-1k has about 70 classes of things people
   wear or carry (its apparel, footwear, bags and jewellery categories in
   the committed taxonomy, classifier.ml.taxonomy). Their summed probability is the
   photo's *product mass*. On the real product photos measured it is at least
   0.19 (the 5th percentile of the hats); 99 % of the real photos of anything
   else stay below 0.2 (docs/models.md). Below `min_product_mass` no product
   is shown, whatever the head says.
2. **Which kind?** A multinomial logistic regression over the unit-length
   1280-d embedding, with ImageNet's own opinion as an offset: each product
   kind's summed probability of the ImageNet classes that are that kind
   (`IMAGENET_GROUPS`: T-shirt -> T-shirt/top, jeans -> Trouser, running shoe
   -> Sneaker, ...), in log space, times a learnt scale. A kind ImageNet knows
   is right from the start; one it does not (a shirt) is learnt from labelled
   photos; moderators' labels move either.

A tag is shown when a product is shown, the head's best class is a product
kind and its probability reaches `min_score`. Plain numpy and scipy: no
Django, no TensorFlow. Training (L-BFGS on a few thousand examples) takes
seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from classifier.ml.datasets import FASHION_MNIST_CLASSES
from classifier.ml.taxonomy import default_taxonomy

NO_PRODUCT = "no product"  # a class of the model, never a tag
# The seed's ten classes first (so a Fashion-MNIST label means the same thing
# here), then the kinds real photos need beside them.
EXTRA_KINDS = ("Skirt", "Shorts", "Suit", "Hat", "Other shoe", "Swimwear", "Accessory")
PRODUCT_KINDS: tuple[str, ...] = (*FASHION_MNIST_CLASSES, *EXTRA_KINDS)
CLASS_NAMES: tuple[str, ...] = (*PRODUCT_KINDS, NO_PRODUCT)

# ImageNet-1k class index -> product kind. Every other class counts towards
# "no product" in the offset (but see PRODUCT_CATEGORIES for the product mass).
IMAGENET_GROUPS: dict[str, tuple[int, ...]] = {
    "T-shirt/top": (610,),  # T-shirt (jersey)
    "Trouser": (608,),  # jeans
    "Pullover": (841, 474),  # sweatshirt, cardigan
    "Dress": (578, 614, 399),  # gown, kimono, abaya
    "Coat": (869, 568, 617, 735, 501),  # trench coat, fur coat, lab coat, poncho, cloak
    "Sandal": (774,),
    "Shirt": (),  # ImageNet has no shirt class: learnt from photos only
    "Sneaker": (770,),  # running shoe
    "Bag": (748, 414, 636),  # purse, backpack, messenger bag
    "Ankle boot": (514,),  # cowboy boot: ImageNet's only boot
    "Skirt": (655, 689, 601, 775),  # miniskirt, overskirt, hoop skirt, sarong
    "Shorts": (842,),  # swim trunks
    "Suit": (834,),
    "Hat": (515, 808, 452, 667, 793, 433),  # cowboy hat, sombrero, bonnet, mortarboard, shower cap, swimming cap
    "Other shoe": (630, 502),  # loafer (slip-on), clogs
    "Swimwear": (445, 639, 459),  # bikini, one-piece bathing suit, bra
    # bow tie, Windsor tie, bolo tie, stole, feather boa, sunglasses (2), sock,
    # mitten, wallet, digital watch, necklace, handkerchief
    "Accessory": (457, 906, 451, 824, 552, 836, 837, 806, 658, 893, 531, 679, 591),
}
# The taxonomy categories whose classes are things people wear or carry.
PRODUCT_CATEGORIES = ("apparel", "footwear", "bags and luggage", "jewellery and watches")
SEED_PHOTOS_DIR = Path(__file__).resolve().parent / "data" / "product_photos"

MIN_PRODUCT_MASS = 0.2
MIN_SCORE = 0.25
L2 = 1e-5
MAX_ITERATIONS = 300


def group_index(classes: int = 1000) -> np.ndarray:
    """(classes,) the CLASS_NAMES index each ImageNet class counts towards."""
    index = np.full(classes, len(CLASS_NAMES) - 1, dtype=np.int64)
    for kind, members in IMAGENET_GROUPS.items():
        index[list(members)] = CLASS_NAMES.index(kind)
    return index


def product_class_mask() -> np.ndarray:
    """(1000,) True for the ImageNet classes of PRODUCT_CATEGORIES in the committed taxonomy."""
    return np.asarray([category in PRODUCT_CATEGORIES for category in default_taxonomy()], dtype=bool)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _offsets(probabilities: np.ndarray, groups: np.ndarray, classes: int) -> np.ndarray:
    """(n, classes) log of each class's summed ImageNet probability."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    summed = np.zeros((len(probabilities), classes))
    for k in range(classes):
        summed[:, k] = probabilities[:, groups == k].sum(axis=1)
    return np.log(summed + 1e-6)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PhotoTag:
    label: str  # the best class, NO_PRODUCT included
    score: float
    scores: dict[str, float]
    shown: bool  # a product tag may be shown
    product_mass: float
    reason: str  # why no tag is shown ("" when one is)


@dataclass(frozen=True)
class PhotoHead:
    weights: np.ndarray  # (d, classes)
    bias: np.ndarray  # (classes,)
    offset_scale: float
    groups: np.ndarray  # (1000,) class index per ImageNet class
    product_mask: np.ndarray  # (1000,) bool
    class_names: tuple[str, ...] = CLASS_NAMES
    min_product_mass: float = MIN_PRODUCT_MASS
    min_score: float = MIN_SCORE
    backbone_version_id: int = 0
    method: str = "imagenet-offset-logistic"
    figures: dict = field(default_factory=dict, compare=False)

    def probabilities(self, imagenet: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """(n, classes) class probabilities from the backbone's outputs."""
        offsets = _offsets(imagenet, self.groups, len(self.class_names))
        return _softmax(self.offset_scale * offsets + _unit(embeddings) @ self.weights + self.bias)

    def product_mass(self, imagenet: np.ndarray) -> np.ndarray:
        return np.asarray(imagenet, dtype=np.float64)[:, self.product_mask].sum(axis=1)

    def tags(self, imagenet: np.ndarray, embeddings: np.ndarray) -> list[PhotoTag]:
        probabilities = self.probabilities(imagenet, embeddings)
        masses = self.product_mass(imagenet)
        out = []
        for probs, mass in zip(probabilities, masses, strict=True):
            best = int(np.argmax(probs))
            label, score = self.class_names[best], float(probs[best])
            if mass < self.min_product_mass:
                reason = f"no product shown: ImageNet's product classes sum to {mass:.3f} < {self.min_product_mass:.2f}"
            elif label == NO_PRODUCT:
                reason = f"no product shown: the real-photo model says {NO_PRODUCT!r} ({score:.3f})"
            elif score < self.min_score:
                reason = f"no product kind is sure enough: best {label!r} {score:.3f} < {self.min_score:.2f}"
            else:
                reason = ""
            out.append(
                PhotoTag(
                    label=label,
                    score=score,
                    scores={name: float(p) for name, p in zip(self.class_names, probs, strict=True)},
                    shown=not reason,
                    product_mass=float(mass),
                    reason=reason,
                )
            )
        return out

    def predicted_labels(self, imagenet: np.ndarray, embeddings: np.ndarray) -> list[str]:
        """The label each image gets, NO_PRODUCT where no tag is shown (what accuracy is measured on)."""
        return [t.label if t.shown else NO_PRODUCT for t in self.tags(imagenet, embeddings)]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            offset_scale=np.float64(self.offset_scale),
            groups=self.groups,
            product_mask=self.product_mask,
            class_names=np.array(self.class_names),
            min_product_mass=np.float64(self.min_product_mass),
            min_score=np.float64(self.min_score),
            backbone_version_id=np.int64(self.backbone_version_id),
            method=np.array(self.method),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PhotoHead:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls(
                weights=npz["weights"].astype(np.float64),
                bias=npz["bias"].astype(np.float64),
                offset_scale=float(npz["offset_scale"]),
                groups=npz["groups"],
                product_mask=npz["product_mask"],
                class_names=tuple(str(n) for n in npz["class_names"]),
                min_product_mass=float(npz["min_product_mass"]),
                min_score=float(npz["min_score"]),
                backbone_version_id=int(npz["backbone_version_id"]),
                method=str(npz["method"]),
            )


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Per-example weights 1/sqrt(class count): a kind with 20 photos is not drowned
    by one with 800, nor weighted as much as it."""
    counts = np.bincount(labels, minlength=classes)
    return 1.0 / np.sqrt(np.maximum(counts[labels], 1))


def fit_head(
    imagenet: np.ndarray,
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    l2: float = L2,
    max_iterations: int = MAX_ITERATIONS,
    backbone_version_id: int = 0,
    min_product_mass: float = MIN_PRODUCT_MASS,
    min_score: float = MIN_SCORE,
) -> PhotoHead:
    """Fit the head on labelled examples (labels index CLASS_NAMES), from a
    zero residual: before any step it is ImageNet's own grouping."""

    classes = len(CLASS_NAMES)
    groups = group_index(np.asarray(imagenet).shape[1])
    x = _unit(embeddings)
    offsets = _offsets(imagenet, groups, classes)
    labels = np.asarray(labels, dtype=np.int64)
    weight = class_weights(labels, classes) if sample_weight is None else np.asarray(sample_weight, np.float64)
    weight = weight / weight.sum()
    onehot = np.eye(classes)[labels]
    d = x.shape[1]

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * classes].reshape(d, classes)
        b = theta[d * classes : d * classes + classes]
        scale = theta[-1]
        probs = _softmax(scale * offsets + x @ w + b)
        loss = -(weight * np.log((probs * onehot).sum(axis=1) + 1e-12)).sum() + l2 * (w**2).sum()
        delta = (probs - onehot) * weight[:, None]
        gradient = np.concatenate([(x.T @ delta + 2 * l2 * w).ravel(), delta.sum(axis=0), [(delta * offsets).sum()]])
        return float(loss), gradient

    start = np.zeros(d * classes + classes + 1)
    start[-1] = 1.0
    # Small matrix products: one BLAS thread is fastest, and on a busy machine
    # a pool of them spinning against each other was 50x slower (measured).
    with threadpool_limits(limits=1):
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iterations})
    theta = result.x
    return PhotoHead(
        weights=theta[: d * classes].reshape(d, classes),
        bias=theta[d * classes : d * classes + classes],
        offset_scale=float(theta[-1]),
        groups=groups,
        product_mask=product_class_mask(),
        min_product_mass=min_product_mass,
        min_score=min_score,
        backbone_version_id=backbone_version_id,
    )


def accuracy(head: PhotoHead, imagenet: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> float:
    """Share of images whose label (NO_PRODUCT where no tag is shown) is right."""
    if not labels:
        return 0.0
    predicted = head.predicted_labels(imagenet, embeddings)
    return float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))


@dataclass(frozen=True)
class SeedPhoto:
    path: Path
    label: str
    split: str  # "train" or "test" (the gate's fixed evaluation set), by a hash of the name
    source: str


def seed_photos(folder: Path = SEED_PHOTOS_DIR, *, test_percent: int = 20, per_label: int = 0) -> list[SeedPhoto]:
    """The labelled real product photos the platform ships (folder/manifest.csv:
    freely licensed, each with its source; never the benchmark's photos); at
    most `per_label` of each label and split when it is not 0."""
    manifest = folder / "manifest.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    photos: list[SeedPhoto] = []
    taken: dict[tuple[str, str], int] = {}
    for row in rows:
        split = "test" if hashlib.sha256(row["file"].encode()).digest()[0] * 100 // 256 < test_percent else "train"
        key = (row["label"], split)
        if per_label and taken.get(key, 0) >= per_label:
            continue
        taken[key] = taken.get(key, 0) + 1
        photos.append(SeedPhoto(folder / row["file"], row["label"], split, row["source_repo"]))
    return photos
