"""The real-photo product model as a model version: trained on what the
platform holds, gated and promoted like the studio-shot product model
(classifier.ml.photo_products says how it works).

What it learns from:
- the labelled real product photos the platform ships
  (classifier/ml/data/product_photos, freely licensed, each with its source);
- the calibration half of the packaged real photos with nothing to sell in
  them (classifier.ml.real_photos), as "no product";
- every moderator label on an upload the real-photo model tagged
  (TrainingExample.role = product_photo), "no product" included.

Each ships-with set is split once, by a hash of its name, into a training
part and the gate's fixed evaluation part; the moderators' labels are split as
the studio model's are (RETRAIN_HOLDOUT_PERCENT held out for the gate).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from classifier.inputs import backbone_outputs, stored_examples
from classifier.ml.photo_products import CLASS_NAMES, NO_PRODUCT, PhotoHead, seed_photos
from classifier.ml.real_photos import real_photos
from classifier.models import ModelRole, ModelVersion
from classifier.registry import active_version

ROLE = ModelRole.PRODUCT_PHOTO
ARCHITECTURE = "lite0-photo-head"
IMAGENET_WIDTH = 1000
NEGATIVE_TEST_PERCENT = 20


def backbone_required() -> ModelVersion:
    backbone = active_version(ModelRole.IMAGENET)
    if backbone is None:
        raise RuntimeError("the real-photo product model reads backbone outputs: install the ImageNet backbone first")
    return backbone


def _cached_outputs(name: str, images) -> tuple[np.ndarray, np.ndarray]:
    """Backbone outputs of a fixed image set, computed once per backbone version
    and kept in storage (`images` is called only when they are not there)."""
    path = f"embeddings/backbone-v{backbone_required().pk}/{name}.npz"
    if default_storage.exists(path):
        with default_storage.open(path, "rb") as fh, np.load(io.BytesIO(fh.read())) as npz:
            return npz["imagenet"], npz["embeddings"]
    imagenet, embeddings = backbone_outputs(images(), progress=f"backbone outputs of {name}")
    buffer = io.BytesIO()
    np.savez(buffer, imagenet=imagenet.astype(np.float32), embeddings=embeddings.astype(np.float32))
    default_storage.save(path, ContentFile(buffer.getvalue()))
    return imagenet, embeddings


class Data:
    """Backbone outputs (n, 1000) and (n, 1280) with their labels (CLASS_NAMES strings)."""

    def __init__(self, imagenet: np.ndarray, embeddings: np.ndarray, labels: list[str]) -> None:
        self.imagenet, self.embeddings, self.labels = imagenet, embeddings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __add__(self, other: Data) -> Data:
        return Data(
            np.concatenate([self.imagenet, other.imagenet]),
            np.concatenate([self.embeddings, other.embeddings]),
            self.labels + other.labels,
        )

    def label_indices(self) -> np.ndarray:
        return np.asarray([CLASS_NAMES.index(label) for label in self.labels], dtype=np.int64)


def _open(path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def seed_data() -> dict[str, Data]:
    """The shipped product photos, by split ("train", "test")."""
    photos = seed_photos(per_label=settings.PHOTO_MODEL_SEED_PER_LABEL)
    if not photos:
        return {"train": _empty(), "test": _empty()}
    imagenet, embeddings = _cached_outputs(
        f"product-photos-{_seed_digest(photos)}", lambda: [_open(p.path) for p in photos]
    )
    return {
        split: Data(
            imagenet[[p.split == split for p in photos]],
            embeddings[[p.split == split for p in photos]],
            [p.label for p in photos if p.split == split],
        )
        for split in ("train", "test")
    }


def _seed_digest(photos) -> str:
    digest = hashlib.sha256()
    for photo in photos:
        digest.update(f"{photo.path.name}:{photo.label}:{photo.path.stat().st_size};".encode())
    return digest.hexdigest()[:12]


def negative_data() -> dict[str, Data]:
    """The calibration half of the packaged real photos, as "no product", by split."""
    photos = real_photos(side="calibration")
    if not photos:
        return {"train": _empty(), "test": _empty()}
    names = ",".join(p.name for p in photos)
    imagenet, embeddings = _cached_outputs(
        f"real-photos-calibration-{hashlib.sha256(names.encode()).hexdigest()[:12]}", lambda: [p.image for p in photos]
    )
    test = np.asarray(
        [hashlib.sha256(p.name.split(":")[1].encode()).digest()[1] * 100 // 256 < NEGATIVE_TEST_PERCENT for p in photos]
    )
    return {
        "train": Data(imagenet[~test], embeddings[~test], [NO_PRODUCT] * int((~test).sum())),
        "test": Data(imagenet[test], embeddings[test], [NO_PRODUCT] * int(test.sum())),
    }


def _empty() -> Data:
    return Data(np.zeros((0, IMAGENET_WIDTH), np.float32), np.zeros((0, 1280), np.float32), [])


def base_data(split: str) -> Data:
    return seed_data()[split] + negative_data()[split]


def example_data(rows) -> tuple[Data, list[int], int]:
    """Moderators' labelled uploads as backbone outputs: (data, example ids, skipped)."""
    examples = stored_examples(rows, list(CLASS_NAMES), kind="backbone")
    data = Data(
        examples.inputs[:, :IMAGENET_WIDTH],
        examples.inputs[:, IMAGENET_WIDTH:],
        [CLASS_NAMES[i] for i in examples.labels],
    )
    return data, examples.ids, examples.skipped


def head_load(version: ModelVersion) -> PhotoHead:
    with version.artifact.open("rb") as fh:
        return PhotoHead.from_bytes(fh.read())


def per_class_recall(head: PhotoHead, data: Data) -> dict[str, float]:
    predicted = head.predicted_labels(data.imagenet, data.embeddings) if len(data) else []
    recall = {}
    for name in CLASS_NAMES:
        hits = [p == name for p, t in zip(predicted, data.labels, strict=True) if t == name]
        if hits:
            recall[name] = round(float(np.mean(hits)), 4)
    return recall
