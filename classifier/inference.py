"""The classifier's facade for the rest of the platform: image bytes in,
frozen predictions out.

Each process loads the active model once and keeps it; it checks for a newly
active version at most every CLASSIFIER_VERSION_CHECK_SECONDS (one indexed
one-row query), so workers pick up a promotion without a restart. A result is
always computed from one loaded version, never a mix.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from classifier.contracts import NoActiveModel, ProductPrediction
from classifier.ml.preprocessing import product_input
from classifier.ml.runtime import LiteModel
from classifier.models import ModelRole, ModelVersion
from classifier.registry import active_version_id


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    version_name: str
    class_names: tuple[str, ...]
    runtime: LiteModel


class _ModelCache:
    def __init__(self) -> None:
        self._loaded: dict[str, LoadedModel] = {}
        self._checked_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, role: str) -> LoadedModel:
        now = time.monotonic()
        loaded = self._loaded.get(role)
        interval = settings.CLASSIFIER_VERSION_CHECK_SECONDS
        if loaded is not None and now - self._checked_at.get(role, 0.0) < interval:
            return loaded
        with self._lock:
            version_id = active_version_id(role)
            self._checked_at[role] = now
            if version_id is None:
                raise NoActiveModel(f"no active {role} model; run `python manage.py train_classifier`")
            loaded = self._loaded.get(role)
            if loaded is None or loaded.version_id != version_id:
                loaded = self._load(ModelVersion.objects.get(pk=version_id))
                self._loaded[role] = loaded
            return loaded

    @staticmethod
    def _load(version: ModelVersion) -> LoadedModel:
        with version.artifact.open("rb") as fh:
            data = fh.read()
        return LoadedModel(
            version_id=version.pk,
            version_name=version.name,
            class_names=tuple(version.class_names),
            runtime=LiteModel(data, num_threads=1),
        )

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._checked_at.clear()


_cache = _ModelCache()


def loaded_model(role: str = ModelRole.PRODUCT) -> LoadedModel:
    return _cache.get(role)


def forget_loaded_models() -> None:
    """Drop every loaded model (tests; a process that forked)."""
    _cache.clear()


def classify_product(image_bytes: bytes) -> ProductPrediction:
    """Tag the product in one encoded image with the active product model."""
    model = loaded_model(ModelRole.PRODUCT)
    probabilities = model.runtime.predict(product_input(image_bytes)[np.newaxis])[0]
    best = int(np.argmax(probabilities))
    return ProductPrediction(
        label=model.class_names[best],
        score=float(probabilities[best]),
        scores={name: float(p) for name, p in zip(model.class_names, probabilities, strict=False)},
        model_version_id=model.version_id,
        model_version_name=model.version_name,
    )
