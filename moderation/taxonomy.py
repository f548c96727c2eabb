"""Reads of the taxonomy in service: which category each ImageNet class
counts towards (edited in the admin), each photo's category scores, and what
a listing may declare."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings

from classifier.facade import default_taxonomy
from moderation.models import ClassPolicy, ImageNetClass, TaxonomyCategory

TOP_CATEGORIES = 3


@dataclass(frozen=True)
class Taxonomy:
    """The taxonomy as one analysis uses it."""

    classes: tuple[tuple[int, str, str], ...]  # (class index, class name, category)
    category_names: frozenset[str]

    @cached_property
    def _index(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        names = tuple(sorted({category for _, _, category in self.classes}))
        position = {name: i for i, name in enumerate(names)}
        indices = np.array([index for index, _, _ in self.classes], dtype=np.int64)
        ids = np.array([position[category] for _, _, category in self.classes], dtype=np.int64)
        return names, indices, ids

    def scores(self, probabilities: Sequence[float]) -> dict[str, float]:
        """Every category's score for one photo: the summed probability of its
        classes (capped at 1, rounded for storage); as classifier.ml.taxonomy.category_scores."""
        names, indices, ids = self._index
        sums = np.bincount(ids, weights=np.asarray(probabilities, dtype=np.float64)[indices], minlength=len(names))
        return {name: round(min(1.0, float(score)), 5) for name, score in zip(names, sums, strict=True)}

    def classes_of(self, category: str) -> list[tuple[int, str]]:
        return [(index, name) for index, name, c in self.classes if c == category]


_cached: tuple[float, Taxonomy] | None = None


def taxonomy_in_service() -> Taxonomy:
    """The categories and each ImageNet class's category, as edited in the
    admin; each process reads it again at most every
    CLASSIFIER_VERSION_CHECK_SECONDS (as it does the active model versions).
    An empty table (a database flushed by hand) falls back to the committed
    file, so that goods flags never silently stop."""
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < settings.CLASSIFIER_VERSION_CHECK_SECONDS:
        return _cached[1]
    rows = tuple(ImageNetClass.objects.order_by("index").values_list("index", "name", "category__name"))
    names = frozenset(TaxonomyCategory.objects.values_list("name", flat=True))
    if not rows:
        from classifier.facade import imagenet_class_names

        class_names = imagenet_class_names()
        rows = tuple((i, class_names[i], category) for i, category in enumerate(default_taxonomy()))
        names = names | {category for _, _, category in rows}
    _cached = (now, Taxonomy(rows, names))
    return _cached[1]


def forget_taxonomy() -> None:
    """Read the taxonomy afresh next time (after an edit in this process)."""
    global _cached
    _cached = None


def declarable_values() -> tuple[list[str], list[str]]:
    """What `declared_category` may be: (product classes, taxonomy categories)."""
    from classifier.facade import NO_PRODUCT, PRODUCT_TAG_ROLES
    from classifier.registry import active_version

    classes = set(ClassPolicy.objects.values_list("class_name", flat=True))
    for role in PRODUCT_TAG_ROLES:
        product = active_version(role)
        if product is not None:
            classes |= set(product.class_names) - {NO_PRODUCT}
    categories = list(TaxonomyCategory.objects.values_list("name", flat=True))
    return sorted(classes), categories
