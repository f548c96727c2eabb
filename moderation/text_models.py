"""Text in images (issue 27): the term list and the domain lists a lead
edits, and what was read in each upload. The thresholds of each text flag
are FlagCategory rows, as for every other flag.

Imported at the end of moderation.models, so Django sees these as the
moderation app's models."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TermMatch(models.TextChoices):
    EXACT = "exact", "Anywhere in the text"
    WORD = "word", "As a whole word"
    REGEX = "regex", "Regular expression"


class TextTerm(models.Model):
    """A term whose appearance in an image's text raises the text-term flag.
    Matched on the text as read and on its normalised form (leetspeak,
    confusable letters and spacing undone: moderation.text_match)."""

    term = models.CharField(max_length=200)
    match = models.CharField(max_length=8, choices=TermMatch.choices, default=TermMatch.WORD)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is listed.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["term"]
        constraints = [models.UniqueConstraint(fields=["term", "match"], name="text_term_unique")]

    def __str__(self) -> str:
        return f"{self.term} ({self.match})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from moderation.text_match import term_error

        error = term_error(self.term, self.match)
        if error:
            raise ValidationError({"term": error})


class DomainListing(models.TextChoices):
    BLOCK = "block", "Blocked"
    ALLOW = "allow", "Allowed"


class DomainRule(models.Model):
    """A domain (and its subdomains) on the block-list or the allow-list.
    A URL or e-mail address read in an image or behind a QR code whose domain
    is blocked raises the blocked-domain flag; an allowed domain is neither
    blocked nor a contact detail (the platform's own site, say)."""

    domain = models.CharField(max_length=253, unique=True)
    listing = models.CharField(max_length=8, choices=DomainListing.choices)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.domain} ({self.listing})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from moderation.text_match import domain_error

        error = domain_error(self.domain)
        if error:
            raise ValidationError({"domain": error})


class UploadText(models.Model):
    """What was read in an upload: its text lines (with boxes and confidence)
    and decoded codes, per judged frame read. `text` is the lines joined, for
    the lead's search."""

    upload = models.OneToOneField("moderation.Upload", on_delete=models.CASCADE, related_name="text_reading")
    lines = models.JSONField(default=list, blank=True)  # [{text, confidence, box, angle, frame}]
    codes = models.JSONField(default=list, blank=True)  # [{format, text, box, frame}]
    width = models.PositiveIntegerField(default=0, help_text="Of the image the boxes are in.")
    height = models.PositiveIntegerField(default=0)
    cut_short = models.BooleanField(default=False, help_text="The time limit or the line cap stopped the reading.")
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"text of {self.upload_id}"

    def boxes(self) -> list[dict]:
        """Each line's and code's box as x, y, width, height (for drawing),
        with its text and kind (line or code)."""
        drawn = []
        for kind, items in (("line", self.lines), ("code", self.codes)):
            for item in items:
                left, top, right, bottom = item["box"]
                drawn.append(
                    {"kind": kind, "text": item["text"], "x": left, "y": top, "w": right - left, "h": bottom - top}
                )
        return drawn
