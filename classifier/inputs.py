"""The platform's data as a model kind's inputs.

Pixel models read 28x28 grayscale; embedding heads read the backbone's pooled
embedding of the photo. Fashion-MNIST images become photos the way any upload
of them would (grayscale to RGB, scaled to 224), and their embeddings are
computed once per backbone version and kept in storage, so that retraining a
head on 10,000 examples needs no backbone pass.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from tqdm.auto import tqdm

from classifier.ml.architectures import get as get_architecture
from classifier.ml.datasets import fashion_photo, load_split
from classifier.ml.preprocessing import bytes_to_product_pixels, open_image, photo_input

logger = logging.getLogger(__name__)

EMBED_BATCH = 32


@dataclass
class ExampleSet:
    inputs: np.ndarray
    labels: np.ndarray
    ids: list[int]
    skipped: int  # unreadable images or labels the model does not know

    def __len__(self) -> int:
        return len(self.ids)


def _backbone():
    from classifier.inference import loaded_model
    from classifier.models import ModelRole

    return loaded_model(ModelRole.IMAGENET)


def backbone_outputs(images: list[Image.Image], *, progress: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """((n, 1000) ImageNet probabilities, (n, 1280) float32 embeddings) by the active backbone."""
    from classifier.inference import EMBEDDING_WIDTH, IMAGENET_CLASSES

    backbone = _backbone()
    probabilities = np.zeros((len(images), IMAGENET_CLASSES), np.float32)
    embeddings = np.zeros((len(images), EMBEDDING_WIDTH), np.float32)
    starts = range(0, len(images), EMBED_BATCH)
    for start in tqdm(starts, desc=progress, unit="batch", disable=progress is None):
        batch = np.stack([photo_input(image) for image in images[start : start + EMBED_BATCH]])
        outputs = backbone.runtime.predict_all(batch)
        probabilities[start : start + len(batch)] = backbone.runtime.output_by_width(outputs, IMAGENET_CLASSES)
        embeddings[start : start + len(batch)] = backbone.runtime.output_by_width(outputs, EMBEDDING_WIDTH)
    return probabilities, embeddings


def embed_images(images: list[Image.Image], *, progress: str | None = None) -> np.ndarray:
    """(n, 1280) float32 embeddings by the active backbone."""
    return backbone_outputs(images, progress=progress)[1]


def fashion_as_photo(pixels: np.ndarray) -> Image.Image:
    """One Fashion-MNIST image as the RGB photo an upload of it would be."""
    return fashion_photo(pixels)


def fashion_embeddings(split: str, count: int) -> np.ndarray:
    """Embeddings of the first `count` images of a split, cached per backbone version."""
    backbone = _backbone()
    name = f"embeddings/backbone-v{backbone.version_id}/fashion-{split}.npy"
    cached = np.zeros((0, 1280), np.float32)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as fh:
            cached = np.load(io.BytesIO(fh.read()))
    if len(cached) >= count:
        return cached[:count]
    images = load_split(split).images[len(cached) : count]
    fresh = embed_images([fashion_as_photo(p) for p in images], progress=f"embedding {split} images")
    combined = np.concatenate([cached, fresh])
    buffer = io.BytesIO()
    np.save(buffer, combined)
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(buffer.getvalue()))
    return combined


class Inputs:
    """Builds one architecture kind's inputs for training and evaluation."""

    def __init__(self, architecture: str) -> None:
        self.kind = get_architecture(architecture).input_kind

    def base(self, split: str, count: int | None = None, indices: np.ndarray | None = None):
        data = load_split(split)
        count = len(data) if count is None else min(count, len(data))
        if indices is not None:
            count = int(indices.max()) + 1 if len(indices) else 0
        labels = data.labels[:count]
        if self.kind == "pixels":
            inputs = data.images[:count]
        else:
            inputs = fashion_embeddings(split, count)
        if indices is not None:
            return inputs[indices], labels[indices]
        return inputs, labels

    def examples(self, examples, class_names: list[str]) -> ExampleSet:
        """Stored images of training examples, decoded with the serving preprocessing."""
        return stored_examples(examples, class_names, kind=self.kind)


def stored_examples(examples, class_names: list[str], *, kind: str) -> ExampleSet:
    """Training examples' stored images as a model kind's inputs: 28x28 pixels
    ("pixels"), embeddings ("embedding"), or ImageNet probabilities and
    embeddings side by side ("backbone": (n, 1000 + 1280))."""
    index = {name: i for i, name in enumerate(class_names)}
    items, labels, ids, skipped = [], [], [], 0
    for example in examples:
        if example.label not in index:
            skipped += 1
            continue
        try:
            with default_storage.open(example.image_name, "rb") as fh:
                data = fh.read()
            items.append(bytes_to_product_pixels(data) if kind == "pixels" else open_image(data, target_side=256))
        except (OSError, ValueError, SyntaxError) as exc:
            logger.warning("training example %s unreadable: %r", example.pk, exc)
            skipped += 1
            continue
        labels.append(index[example.label])
        ids.append(example.pk)
    if kind == "pixels":
        inputs = np.stack(items) if items else np.zeros((0, 28, 28), np.uint8)
    elif kind == "backbone":
        inputs = np.concatenate(backbone_outputs(items), axis=1) if items else np.zeros((0, 2280), np.float32)
    else:
        inputs = embed_images(items) if items else np.zeros((0, 1280), np.float32)
    return ExampleSet(inputs, np.asarray(labels, dtype=np.int64), ids, skipped)
