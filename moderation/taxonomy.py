"""Reads of the taxonomy in service: which category each ImageNet class
counts towards (edited in the admin), each photo's category scores, and what
a listing may declare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from classifier.ml.taxonomy import category_scores, default_taxonomy
from moderation.models import ClassPolicy, ImageNetClass, TaxonomyCategory

TOP_CATEGORIES = 3


@dataclass(frozen=True)
class Taxonomy:
    """The taxonomy as one analysis uses it (read once per upload)."""

    classes: tuple[tuple[int, str, str], ...]  # (class index, class name, category)
    category_names: frozenset[str]

    def scores(self, probabilities: Sequence[float]) -> dict[str, float]:
        """Every category's score for one photo (rounded for storage)."""
        scores = category_scores(probabilities, {index: category for index, _, category in self.classes})
        return {name: round(score, 5) for name, score in scores.items()}

    def classes_of(self, category: str) -> list[tuple[int, str]]:
        return [(index, name) for index, name, c in self.classes if c == category]


def taxonomy_in_service() -> Taxonomy:
    """The categories and each ImageNet class's category, as edited in the
    admin. An empty table (a database flushed by hand) falls back to the
    committed file, so that goods flags never silently stop."""
    rows = tuple(ImageNetClass.objects.order_by("index").values_list("index", "name", "category__name"))
    names = frozenset(TaxonomyCategory.objects.values_list("name", flat=True))
    if not rows:
        from classifier.ml.imagenet import imagenet_class_names

        class_names = imagenet_class_names()
        rows = tuple((i, class_names[i], category) for i, category in enumerate(default_taxonomy()))
        names = names | {category for _, _, category in rows}
    return Taxonomy(rows, names)


def declarable_values() -> tuple[list[str], list[str]]:
    """What `declared_category` may be: (product classes, taxonomy categories)."""
    from classifier.models import ModelRole
    from classifier.registry import active_version

    classes = set(ClassPolicy.objects.values_list("class_name", flat=True))
    product = active_version(ModelRole.PRODUCT)
    if product is not None:
        classes |= set(product.class_names)
    categories = list(TaxonomyCategory.objects.values_list("name", flat=True))
    return sorted(classes), categories
