"""The uploader's wording in templates (moderation.uploader_status)."""

from django import template

from moderation import uploader_status
from moderation.humanize import human_bytes as _human_bytes

register = template.Library()


@register.simple_tag
def post_badge(upload):
    return uploader_status.badge(upload)


@register.filter
def post_reason(upload) -> str:
    return uploader_status.reason(upload)


@register.filter
def human_bytes(size) -> str:
    return _human_bytes(size)
