"""Presentation helpers of the review and lead pages: rates as percentages,
audit rows' details as key/value pairs and their targets as links."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.656 -> "65.6 %"; None (nothing measured yet) -> "—"."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.{int(digits)}f} %"
    except (TypeError, ValueError):
        return "—"


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(item) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')}: {_shown(item)}" for key, item in value.items()) or "—"
    return str(value)


@register.filter
def details(data: Any) -> list[tuple[str, str]]:
    """An audit row's data as (key, value) lines; a nested dict one level down
    is spread out as "fields › name" so each change reads on its own line."""
    if not isinstance(data, dict):
        return [("", _shown(data))] if data not in (None, "", {}) else []
    lines: list[tuple[str, str]] = []
    for key, value in data.items():
        name = str(key).replace("_", " ")
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            lines.extend((f"{name} › {str(k).replace('_', ' ')}", _shown(v)) for k, v in value.items())
        else:
            lines.append((name, _shown(value)))
    return lines


# Where a target of each type is best looked at: moderators' pages first,
# the admin otherwise.
_PAGES = {"moderation.upload": "review-detail"}


@register.simple_tag
def target_url(target_type: str, target_id: str) -> str:
    """The page of an audit row's target, or "" when it has none (a set of rows, a deleted type)."""
    if not target_type or not target_id:
        return ""
    try:
        if target_type in _PAGES:
            return reverse(_PAGES[target_type], args=[target_id])
        app_label, _, model = target_type.partition(".")
        return reverse(f"admin:{app_label}_{model}_change", args=[target_id])
    except NoReverseMatch:
        return ""
