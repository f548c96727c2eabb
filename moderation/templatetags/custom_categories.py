"""`{% custom_categories as cats %}`: the categories a lead may add examples to,
for the "add to category" partials on the review page and the bulk grid."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def custom_categories(context):
    from moderation.models import CustomCategory
    from moderation.services.categories import CATEGORY_PERMISSION

    request = context.get("request")
    if request is None or not request.user.has_perm(CATEGORY_PERMISSION):
        return []
    return list(CustomCategory.objects.order_by("name").values_list("pk", "name"))


@register.simple_tag
def custom_category_tags(upload):
    """The custom categories (any kind, tag-only included) whose head in service
    scores this upload's stored embedding at or above their threshold."""
    from moderation.services.categories import category_scores, upload_embedding

    stored = upload_embedding(upload.pk)
    if stored is None:
        return []
    return [
        {"name": s.name, "kind": s.kind, "score": score, "threshold": s.threshold, "head_version": s.head_version}
        for s, score in category_scores(*stored)
        if score >= s.threshold
    ]
