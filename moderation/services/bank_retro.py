"""Retroactive bank search: entries just added to a bank meet the stored PDQ
hashes of the uploads of the bank's last `retro_days` days.

A match never changes a decision by itself: an upload waiting for review gets
the flag (with the bank entry as its reason) in front of its moderator; an
upload already approved or rejected gets the flag and a QA item, so a person
looks at it; allow-listed uploads are left alone."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from classifier.facade import MultiIndex, flat_search
from moderation.models import (
    REVIEWABLE_STATUSES,
    AuditAction,
    BankedHash,
    BankMatch,
    BankMatchSource,
    BankRetroSearch,
    Flag,
    FlagKind,
    HashBank,
    QAItem,
    QAKind,
    RetroSearchStatus,
    Upload,
    UploadStatus,
)
from moderation.services.audit import audit_record
from moderation.services.banks import bank_entry_quarantine, chunked, hashes_allowed_many, hashes_to_array
from moderation.services.lifecycle import upload_lock

DECIDED_STATUSES = frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED})


def bank_retro_search_run(*, search_id: int) -> BankRetroSearch | None:
    """Run one retroactive search, saving progress after every chunk. Safe to
    run twice: an upload already matched to an entry is not matched again."""
    with transaction.atomic():
        search = BankRetroSearch.objects.select_for_update().select_related("bank").filter(pk=search_id).first()
        if search is None or search.status == RetroSearchStatus.DONE:
            return search
        search.status, search.searched, search.matched, search.error = RetroSearchStatus.RUNNING, 0, 0, ""
        search.save(update_fields=["status", "searched", "matched", "error"])
    try:
        _run(search)
    except Exception as exc:
        BankRetroSearch.objects.filter(pk=search_id).update(status=RetroSearchStatus.FAILED, error=repr(exc)[:2000])
        raise
    search.refresh_from_db()
    return search


class _FloodGuard:
    """The flood guard within one search: an entry that has matched its bank's
    flood_limit uploads in the last hour (at upload time or here) is
    quarantined and flags no more; a lead's confirmation lifts the limit."""

    def __init__(self, bank: HashBank) -> None:
        self.bank = bank
        self.counts: dict[int, int] = {}
        self.exempt: set[int] = set()
        self.stopped_ids: set[int] = set()

    def _load(self, entry_id: int) -> None:
        entry = BankedHash.objects.filter(pk=entry_id).values("confirmed_at", "quarantined_at").first()
        if entry is None or entry["quarantined_at"] is not None:
            self.stopped_ids.add(entry_id)
        elif entry["confirmed_at"] is not None or not self.bank.flood_limit:
            self.exempt.add(entry_id)
        self.counts[entry_id] = BankMatch.objects.filter(
            entry_id=entry_id, created_at__gte=timezone.now() - timedelta(hours=1)
        ).count()

    def stopped(self, entry_id: int) -> bool:
        if entry_id not in self.counts:
            self._load(entry_id)
        if entry_id in self.stopped_ids:
            return True
        if entry_id not in self.exempt and self.counts[entry_id] >= self.bank.flood_limit:
            bank_entry_quarantine(entry_id=entry_id, matches_last_hour=self.counts[entry_id])
            self.stopped_ids.add(entry_id)
            return True
        return False

    def matched(self, entry_id: int) -> None:
        self.counts[entry_id] += 1


def _run(search: BankRetroSearch) -> None:
    bank = search.bank
    entries = list(
        BankedHash.objects.filter(pk__in=search.entry_ids, quarantined_at__isnull=True).values_list(
            "pk", "pdq_hash", "upload_id"
        )
    )
    uploads = Upload.objects.filter(created_at__gte=search.since).exclude(pdq_hash="")
    total = uploads.count() if entries else 0
    BankRetroSearch.objects.filter(pk=search.pk).update(total=total)
    if entries:
        entry_hashes = hashes_to_array([h for _, h, _ in entries])
        # A few entries: brute force over each chunk; an imported list: one
        # multi-index over the entries, searched with each chunk.
        entry_index = MultiIndex.build(entry_hashes) if len(entries) > 2_000 else None
        guard = _FloodGuard(bank)
        rows = uploads.order_by().values_list("pk", "pdq_hash").iterator(chunk_size=settings.BANK_RETRO_CHUNK)
        for chunk in chunked(rows, settings.BANK_RETRO_CHUNK):
            chunk_hashes = hashes_to_array([h for _, h in chunk])
            hits = (
                entry_index.search(chunk_hashes, bank.max_distance)
                if entry_index is not None
                else flat_search(chunk_hashes, entry_hashes, bank.max_distance)
            )
            # Hits come sorted by upload, then distance: the first per upload is its closest entry.
            closest: dict[int, tuple[int, int]] = {}
            for query, row, distance in zip(
                hits.queries.tolist(), hits.rows.tolist(), hits.distances.tolist(), strict=True
            ):
                if chunk[query][0] != entries[row][2]:  # not the upload the entry was made from
                    closest.setdefault(query, (entries[row][0], distance))
            queries = sorted(closest)
            allowed = hashes_allowed_many([chunk[q][1] for q in queries])
            matched = 0
            for q, is_allowed in zip(queries, allowed, strict=True):
                entry_id, distance = closest[q]
                if is_allowed or guard.stopped(entry_id):
                    continue
                if _retro_match(upload_id=chunk[q][0], entry_id=entry_id, distance=distance, bank=bank, search=search):
                    matched += 1
                    guard.matched(entry_id)
            BankRetroSearch.objects.filter(pk=search.pk).update(
                searched=F("searched") + len(chunk), matched=F("matched") + matched
            )
    BankRetroSearch.objects.filter(pk=search.pk).update(status=RetroSearchStatus.DONE, finished_at=timezone.now())


@transaction.atomic
def _retro_match(*, upload_id, entry_id: int, distance: int, bank: HashBank, search: BankRetroSearch) -> bool:
    upload = upload_lock(upload_id)
    if upload is None or BankMatch.objects.filter(entry_id=entry_id, upload=upload).exists():
        return False
    if upload.status not in REVIEWABLE_STATUSES | DECIDED_STATUSES:
        # Pending or processing: classification matches it against the banks
        # itself; a failed upload has no decision to look at again.
        return False
    BankMatch.objects.create(entry_id=entry_id, upload=upload, distance=distance, source=BankMatchSource.RETRO)
    Flag.objects.create(
        upload=upload,
        kind=FlagKind.HASH_MATCH,
        category=bank.name,
        score=float(distance),
        action=bank.action,
        reason=(
            f"retroactive search: matches entry {entry_id} of bank {bank.name!r} "
            f"at Hamming distance {distance} ≤ {bank.max_distance}"
        ),
        detail={"bank_id": bank.pk, "entry_id": entry_id, "retro_search": search.pk},
    )
    if upload.status in DECIDED_STATUSES:
        # Decided already: a person looks again; nothing flips by itself.
        QAItem.objects.get_or_create(
            upload=upload, kind=QAKind.BANK, defaults={"reference_verdict": upload.policy_verdict or upload.status}
        )
    audit_record(
        actor=None,
        action=AuditAction.BANK_RETRO_MATCHED,
        target=upload,
        data={
            "bank": bank.name,
            "entry": entry_id,
            "distance": distance,
            "status": upload.status,
            "retro_search": search.pk,
        },
    )
    return True
