"""What /api/schema/ and /api/docs/ say beyond the operations: the partner
guide's sections on keys, limits, webhook deliveries (payload and signature)
and errors, read from docs/api.md so that there is one text of them, and the
webhook event's shape as a component built from the upload's own."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from moderation.services.webhooks import WEBHOOK_EVENTS

GUIDE = Path(settings.BASE_DIR) / "docs" / "api.md"
# The sections of docs/api.md the served reference carries, in this order.
SECTIONS = ("Authentication", "Limits", "Webhook deliveries", "Errors")


def guide_sections(text: str, names=SECTIONS) -> str:
    """The named `## ` sections of a Markdown page, in the order given, each
    with its heading; sections that are missing are left out."""
    found = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        found[title.strip()] = body.strip()
    return "\n\n".join(f"## {name}\n\n{found[name]}" for name in names if name in found)


def webhook_event_schema() -> dict:
    """The body of a webhook delivery (services.webhooks.delivery_body)."""
    return {
        "type": "object",
        "description": "What each webhook delivery POSTs, signed as `X-Moderation-Signature` "
        "(HMAC-SHA256 over `<X-Moderation-Timestamp>.<raw body>`, see the guide above).",
        "properties": {
            "event": {"type": "string", "enum": list(WEBHOOK_EVENTS)},
            "event_id": {
                "type": "string",
                "format": "uuid",
                "description": "also the X-Moderation-Event-Id header; the same on every retry",
            },
            "upload": {"$ref": "#/components/schemas/UploadOutput"},
            "appeal": {
                "allOf": [{"$ref": "#/components/schemas/AppealOutput"}],
                "nullable": True,
                "description": "the upload's appeal (its outcome in an appeal.decided event), or null",
            },
        },
        "required": ["event", "event_id", "upload", "appeal"],
    }


def describe(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the guide's sections as the
    description, and the webhook event as a component."""
    intro = settings.SPECTACULAR_SETTINGS.get("DESCRIPTION", "")
    guide = guide_sections(GUIDE.read_text()) if GUIDE.exists() else ""
    result.setdefault("info", {})["description"] = f"{intro}\n\n{guide}".strip()
    result.setdefault("components", {}).setdefault("schemas", {})["WebhookEvent"] = webhook_event_schema()
    return result
