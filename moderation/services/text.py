"""Writes of text in images (issue 27): the lead's term list and domain
lists (each change an audit row), and what was read in an upload."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from moderation.errors import Conflict, Forbidden, InvalidInput
from moderation.models import AuditAction, DomainListing, DomainRule, TermMatch, TextTerm, Upload, UploadText
from moderation.services.audit import audit_record
from moderation.text_match import domain_clean, domain_error, term_error

TERM_PERMISSION = "moderation.change_textterm"
DOMAIN_PERMISSION = "moderation.change_domainrule"


def _require(actor, permission: str, what: str) -> None:
    """actor=None is the system (management commands, migrations)."""
    if actor is None:
        return
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(permission):
        raise Forbidden(f"Only a lead may change the {what}.", code="lead_only")


def _by(actor):
    return actor if getattr(actor, "pk", None) else None


def text_term_create(*, actor, term: str, match: str = TermMatch.WORD, note: str = "") -> TextTerm:
    """List a term. Refused: an empty or over-long term, an unknown match,
    a regular expression that does not compile or could take exponential
    time (invalid_term); the same term and match twice (duplicate_term)."""
    _require(actor, TERM_PERMISSION, "term list")
    term = term.strip()
    error = term_error(term, match)
    if error:
        raise InvalidInput(error, code="invalid_term")
    try:
        with transaction.atomic():
            row = TextTerm.objects.create(term=term, match=match, note=note[:200], created_by=_by(actor))
            audit_record(
                actor=actor,
                action=AuditAction.TEXT_TERM_CHANGED,
                target=row,
                data={"op": "add", "term": term, "match": match},
            )
    except IntegrityError:
        raise Conflict(f"The term {term!r} ({match}) is listed already.", code="duplicate_term") from None
    return row


def text_term_update(*, actor, term_id: int, enabled: bool | None = None, note: str | None = None) -> TextTerm:
    _require(actor, TERM_PERMISSION, "term list")
    with transaction.atomic():
        row = TextTerm.objects.select_for_update().filter(pk=term_id).first()
        if row is None:
            raise InvalidInput("No such term.", code="unknown_term")
        before = {"enabled": row.enabled, "note": row.note}
        if enabled is not None:
            row.enabled = enabled
        if note is not None:
            row.note = note[:200]
        row.save()
        audit_record(
            actor=actor,
            action=AuditAction.TEXT_TERM_CHANGED,
            target=row,
            data={
                "op": "change",
                "term": row.term,
                "before": before,
                "after": {"enabled": row.enabled, "note": row.note},
            },
        )
    return row


def text_term_delete(*, actor, term_id: int) -> None:
    _require(actor, TERM_PERMISSION, "term list")
    with transaction.atomic():
        row = TextTerm.objects.select_for_update().filter(pk=term_id).first()
        if row is None:
            return
        audit_record(
            actor=actor,
            action=AuditAction.TEXT_TERM_CHANGED,
            target=row,
            data={"op": "delete", "term": row.term, "match": row.match},
        )
        row.delete()


def domain_rule_set(*, actor, domain: str, listing: str, note: str = "") -> DomainRule:
    """Put a domain (and its subdomains) on the block-list or the allow-list;
    a domain already listed moves to the list named."""
    _require(actor, DOMAIN_PERMISSION, "domain lists")
    if listing not in DomainListing.values:
        raise InvalidInput("The list must be 'block' or 'allow'.", code="invalid_listing")
    error = domain_error(domain)
    if error:
        raise InvalidInput(error, code="invalid_domain")
    domain = domain_clean(domain)
    with transaction.atomic():
        row = DomainRule.objects.select_for_update().filter(domain=domain).first()
        before = row.listing if row else None
        if row is None:
            row = DomainRule.objects.create(domain=domain, listing=listing, note=note[:200], created_by=_by(actor))
        else:
            row.listing, row.note = listing, note[:200]
            row.save()
        audit_record(
            actor=actor,
            action=AuditAction.DOMAIN_RULE_CHANGED,
            target=row,
            data={"op": "add" if before is None else "change", "domain": domain, "before": before, "after": listing},
        )
    return row


def domain_rule_delete(*, actor, domain: str) -> None:
    _require(actor, DOMAIN_PERMISSION, "domain lists")
    domain = domain_clean(domain)
    with transaction.atomic():
        row = DomainRule.objects.select_for_update().filter(domain=domain).first()
        if row is None:
            return
        audit_record(
            actor=actor,
            action=AuditAction.DOMAIN_RULE_CHANGED,
            target=row,
            data={"op": "delete", "domain": domain, "before": row.listing},
        )
        row.delete()


def upload_text_record(*, upload: Upload, frames: Sequence) -> None:
    """Keep what was read in an upload's judged frames (FrameAnalysis), inside
    the caller's transaction: every line and code once, naming its frame for
    an animation. Nothing is kept when no frame was read."""
    UploadText.objects.filter(upload=upload).delete()
    read = [frame for frame in frames if getattr(frame.analysis, "text", None) is not None]
    if not read:
        return
    animated = upload.frame_count > 1
    lines: list[dict] = []
    codes: list[dict] = []
    seen: set[tuple[str, str]] = set()
    cut_short = False
    for frame in read:
        text = frame.analysis.text
        cut_short = cut_short or text.cut_short
        where = {"frame": frame.index} if animated else {}
        for line in text.lines:
            if ("line", line.text) in seen:
                continue  # the same caption on every frame is listed once
            seen.add(("line", line.text))
            lines.append(
                {"text": line.text, "confidence": line.confidence, "box": list(line.box), "angle": line.angle, **where}
            )
        for code in text.codes:
            if ("code", code.text) in seen:
                continue
            seen.add(("code", code.text))
            codes.append({"format": code.format, "text": code.text, "box": list(code.box), **where})
    first = read[0].analysis.text
    UploadText.objects.create(
        upload=upload,
        lines=lines,
        codes=codes,
        width=first.width,
        height=first.height,
        cut_short=cut_short,
        text="\n".join([line["text"] for line in lines] + [code["text"] for code in codes]),
    )
