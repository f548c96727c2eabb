"""Filling and sharing hash banks by hand: a lead adds the hash of an image
file, imports a list of PDQ hashes, or exports a bank's list.

Formats read and written (the exchange formats of Meta's ThreatExchange
tools, which Hasher-Matcher-Actioner (HMA) banks exchange):

- ``csv``: our own, with a header: ``pdq_hash,bank,note,added_at,upload_id``.
- ``threatexchange``: the signal file of python-threatexchange's
  LocalFileSignalExchangeAPI (the "file" exchange HMA and the
  ``threatexchange`` CLI read): one ``<signal_type> <signal>`` a line, here
  ``pdq <64 hex digits>``.
- ``threatexchange-csv``: what ``threatexchange dataset -P --csv`` prints:
  ``collab,signal_type,signal_str,category,tags``.

On import the format is recognised from the text: a CSV header naming a hash
column (``pdq_hash``, ``signal_str``, ``signal`` or ``hash``; rows whose
``signal_type`` is not ``pdq`` are skipped and counted), ``pdq <hash>`` lines,
or bare hashes one a line. ``#`` starts a comment line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from classifier.inference import image_pdq_hash
from moderation.errors import Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import AuditAction, BankAction, BankedHash, BankRetroSearch, HashBank
from moderation.services.audit import audit_record
from moderation.services.banks import bank_hash_remove, bank_hashes_import
from moderation.validation import validate_upload_image

# Lead-only: moderators review; leads decide what the banks hold.
BANK_MANAGE_PERMISSION = "moderation.add_bankedhash"
BANK_EXPORT_PERMISSION = "moderation.view_bankedhash"

EXPORT_FORMATS = {
    "csv": ("text/csv", "csv"),
    "threatexchange": ("text/plain", "txt"),
    "threatexchange-csv": ("text/csv", "csv"),
}
PDQ_SIGNAL_TYPE = "pdq"  # python-threatexchange's PdqSignal.get_name()
_HASH_COLUMNS = ("pdq_hash", "signal_str", "signal", "hash", "pdq")
# Below this PDQ quality Meta's documentation calls a hash unreliable to match on.
PDQ_MIN_QUALITY = 50


@dataclass(frozen=True)
class ParsedHashes:
    hashes: list[str]
    skipped: int  # rows of another signal type (an MD5, a video hash, ...)
    format: str


@dataclass(frozen=True)
class ImportOutcome:
    submitted: int
    added: int
    skipped: int
    format: str
    search: BankRetroSearch | None


@dataclass(frozen=True)
class FileHashOutcome:
    pdq_hash: str
    quality: int
    entry: BankedHash
    search: BankRetroSearch | None


def _require(actor, permission: str, what: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise Forbidden(f"Only leads may {what}.", code="lead_only")


def _bank(bank_id) -> HashBank:
    bank = HashBank.objects.filter(pk=bank_id).first()
    if bank is None:
        raise NotFound("No such hash bank.", code="no_such_bank")
    return bank


def bank_hashes_parse(text: str) -> ParsedHashes:
    """The PDQ hashes of a list in any of the formats above (not yet
    validated: bank_hashes_import refuses a list with a malformed one)."""
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return ParsedHashes([], 0, "empty")
    if "," in lines[0]:
        return _parse_csv(lines)
    hashes, skipped, typed = [], 0, False
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            typed = True
            if parts[0].lower() == PDQ_SIGNAL_TYPE:
                hashes.append(parts[1])
            else:
                skipped += 1
        else:
            hashes.append(parts[0])
    return ParsedHashes(hashes, skipped, "threatexchange" if typed else "lines")


def _parse_csv(lines: list[str]) -> ParsedHashes:
    try:
        rows = list(csv.reader(lines))
    except csv.Error as exc:  # a field past csv.field_size_limit(), a stray NUL, ...
        raise InvalidInput(f"The list is not readable CSV ({exc}).", code="invalid_list") from None
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in _HASH_COLUMNS if name in header), None)
    if column is None:
        # No header: the hash is the first column.
        return ParsedHashes([row[0] for row in rows if row], 0, "csv")
    type_column = header.index("signal_type") if "signal_type" in header else None
    hashes, skipped = [], 0
    for row in rows[1:]:
        if len(row) <= column:
            hashes.append("")  # a short row: refused as malformed, not dropped in silence
            continue
        if type_column is not None and len(row) > type_column and row[type_column].strip().lower() not in ("", "pdq"):
            skipped += 1
            continue
        hashes.append(row[column])
    return ParsedHashes(hashes, skipped, "threatexchange-csv" if type_column is not None else "csv")


def bank_hashes_parse_checked(text: str) -> ParsedHashes:
    """`bank_hashes_parse`, refusing a list with no PDQ hash or a row without one
    (the page and the bank_import command read lists alike)."""
    parsed = bank_hashes_parse(text)
    if not parsed.hashes:
        detail = f" ({parsed.skipped} rows of other signal types skipped)" if parsed.skipped else ""
        raise InvalidInput(f"The list holds no PDQ hashes{detail}.", code="empty_list")
    if any(not value.strip() for value in parsed.hashes):
        raise InvalidInput("A row of the list has no hash.", code="invalid_hash")
    return parsed


def bank_file_import(*, bank_id, actor, text: str, note: str = "") -> ImportOutcome:
    """Import a list of hashes (any format above) into a bank: all or nothing,
    entries already there skipped, audited, a retroactive search started."""
    _require(actor, BANK_MANAGE_PERMISSION, "import hashes into a bank")
    bank = _bank(bank_id)
    parsed = bank_hashes_parse_checked(text)
    added, search = bank_hashes_import(bank=bank, hashes=parsed.hashes, actor=actor, note=note)
    return ImportOutcome(
        submitted=len(parsed.hashes), added=added, skipped=parsed.skipped, format=parsed.format, search=search
    )


def bank_hash_add_from_file(*, bank_id, actor, data: bytes, note: str = "") -> FileHashOutcome:
    """Add the PDQ hash of an image file (checked as an upload is) to a bank.
    A hash of too low a quality (a flat or tiny image) matches unrelated
    images, so it is refused."""
    _require(actor, BANK_MANAGE_PERMISSION, "add hashes to a bank")
    bank = _bank(bank_id)
    validate_upload_image(data)
    try:
        pdq_hash, quality = image_pdq_hash(data)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # validate_image decodes a large image's header and CRCs only; the hash decodes it all.
        raise InvalidInput(
            "The image data is damaged or incomplete.", code="corrupt_image", detail=str(exc)[:200]
        ) from None
    if quality < PDQ_MIN_QUALITY:
        raise InvalidInput(
            f"This image's PDQ hash has quality {quality} (below {PDQ_MIN_QUALITY}): it would match unrelated images.",
            code="low_quality_hash",
            detail={"quality": quality},
        )
    if BankedHash.objects.filter(bank=bank, pdq_hash=pdq_hash).exists():
        raise Conflict(f"This image's hash is already in bank {bank.name!r}.", code="already_banked")
    _, search = bank_hashes_import(bank=bank, hashes=[pdq_hash], actor=actor, note=note or "added from a file")
    entry = BankedHash.objects.get(bank=bank, pdq_hash=pdq_hash)
    return FileHashOutcome(pdq_hash=pdq_hash, quality=quality, entry=entry, search=search)


BANK_CREATE_PERMISSION = "moderation.add_hashbank"


@transaction.atomic
def bank_create(
    *, actor, name: str, action: str = BankAction.REJECT, max_distance: int = 31, description: str = ""
) -> HashBank:
    """A new, empty hash bank (a lead's, from the banks page). Audited."""
    _require(actor, BANK_CREATE_PERMISSION, "create a hash bank")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A bank needs a name of 1 to 100 characters.", code="invalid_bank_name")
    if action not in BankAction.values:
        raise InvalidInput(f"Unknown bank action {action!r}.", code="invalid_bank_action")
    if not 0 <= max_distance <= 256:
        raise InvalidInput("The match distance is 0 to 256 bits.", code="invalid_bank_distance")
    if HashBank.objects.filter(name__iexact=name).exists():
        raise Conflict(f"A bank named {name!r} exists.", code="bank_exists")
    bank = HashBank.objects.create(name=name, action=action, max_distance=max_distance, description=description[:2000])
    audit_record(
        actor=actor,
        action=AuditAction.BANK_CREATED,
        target=bank,
        data={"name": name, "action": action, "max_distance": max_distance},
    )
    return bank


@transaction.atomic
def bank_entry_remove(*, entry_id: int, actor) -> BankedHash:
    """Take one entry out of its bank (a lead's, from the bank page): it
    matches nothing from now on. Audited by bank_hash_remove."""
    _require(actor, BANK_MANAGE_PERMISSION, "remove a bank entry")
    entry = BankedHash.objects.select_related("bank").filter(pk=entry_id).first()
    if entry is None:
        raise NotFound("No such bank entry.", code="no_such_entry")
    bank_hash_remove(entry=entry, actor=actor)
    return entry


def bank_export(*, bank_id, actor, fmt: str) -> tuple[str, str, Iterator[str]]:
    """(file name, content type, lines) of a bank's list in one of EXPORT_FORMATS, streamed."""
    _require(actor, BANK_EXPORT_PERMISSION, "export a bank")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown export format {fmt!r}.", code="invalid_format", detail={"formats": list(EXPORT_FORMATS)}
        )
    bank = _bank(bank_id)
    audit_record(actor=actor, action=AuditAction.BANK_EXPORTED, target=bank, data={"format": fmt})
    content_type, extension = EXPORT_FORMATS[fmt]
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in bank.name) or f"bank-{bank.pk}"
    # known-bad.csv, known-bad-threatexchange.txt, known-bad-threatexchange-csv.csv
    name = slug if fmt == "csv" else f"{slug}-{fmt}"
    return f"{name}.{extension}", content_type, bank_export_lines(bank, fmt)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _no_formula(value) -> str:
    """A cell a spreadsheet shows as text: a note or bank name that starts like
    a formula gets a leading apostrophe (OWASP's advice). Hashes, dates and
    ids never start so."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def bank_export_lines(bank: HashBank, fmt: str) -> Iterator[str]:
    entries = (
        BankedHash.objects.filter(bank=bank)
        .order_by("pk")
        .values_list("pdq_hash", "note", "created_at", "upload_id")
        .iterator(chunk_size=5000)
    )
    if fmt == "threatexchange":
        for pdq_hash, *_ in entries:
            yield f"{PDQ_SIGNAL_TYPE} {pdq_hash}\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def row(values: list) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_no_formula(value) for value in values])
        return buffer.getvalue()

    if fmt == "csv":
        yield row(["pdq_hash", "bank", "note", "added_at", "upload_id"])
        for pdq_hash, note, created_at, upload_id in entries:
            yield row([pdq_hash, bank.name, note, created_at.isoformat(), upload_id or ""])
    else:  # threatexchange-csv
        yield row(["collab", "signal_type", "signal_str", "category", "tags"])
        for pdq_hash, *_ in entries:
            yield row([bank.name, PDQ_SIGNAL_TYPE, pdq_hash, "POSITIVE_CLASS", ""])
