"""Writes of the taxonomy (audited) and the check of a declared listing."""

from __future__ import annotations

from django.db import transaction

from moderation.errors import InvalidInput
from moderation.models import AuditAction, ImageNetClass, TaxonomyCategory
from moderation.services.audit import audit_record
from moderation.taxonomy import declarable_values, forget_taxonomy

DECLARED_MAX_LENGTH = 100


def declared_category_clean(value: str) -> str:
    """A declared product class or taxonomy category, in its canonical
    spelling (matched without regard to case); '' when none is declared.
    Anything else is refused with `unknown_declared_category`."""
    value = (value or "").strip()
    if not value:
        return ""
    classes, categories = declarable_values()
    if len(value) <= DECLARED_MAX_LENGTH:
        for name in (*classes, *categories):
            if name.casefold() == value.casefold():
                return name
    raise InvalidInput(
        f"declared_category {value[:DECLARED_MAX_LENGTH]!r} is neither a product class nor a taxonomy category.",
        code="unknown_declared_category",
        detail={"product_classes": classes, "categories": categories},
    )


@transaction.atomic
def taxonomy_class_move(*, imagenet_class: ImageNetClass, category: TaxonomyCategory, actor) -> ImageNetClass:
    """Count an ImageNet class towards another category (one at a time, so
    every class stays in exactly one)."""
    locked = ImageNetClass.objects.select_for_update().select_related("category").get(pk=imagenet_class.pk)
    previous = locked.category
    if previous.pk == category.pk:
        return locked
    locked.category = category
    locked.source = f"admin edit by {getattr(actor, 'username', '') or 'system'} (was {previous.name})"[:200]
    locked.save(update_fields=["category", "source"])
    audit_record(
        actor=actor,
        action=AuditAction.TAXONOMY_CHANGED,
        target=locked,
        data={"op": "move", "class": locked.name, "from": previous.name, "to": category.name},
    )
    transaction.on_commit(forget_taxonomy)
    return locked
