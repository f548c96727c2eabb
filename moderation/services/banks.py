"""Known-bad hash banks: add and remove entries (audited), and match uploads.

Each process keeps one HashIndex per bank and rebuilds it only when the bank
changed (checked at most every few seconds, one small aggregate query)."""

from __future__ import annotations

import threading
import time

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max

from classifier.facade import HashIndex
from moderation.errors import Conflict, InvalidInput
from moderation.models import AuditAction, BankedHash, HashBank, Upload
from moderation.policy import HashMatch
from moderation.services.audit import audit_record


def bank_hash_add(*, bank: HashBank, upload: Upload, actor=None, note: str = "") -> BankedHash:
    if not upload.pdq_hash:
        raise InvalidInput("This upload has no perceptual hash yet.", code="no_hash")
    try:
        with transaction.atomic():
            entry = BankedHash.objects.create(bank=bank, pdq_hash=upload.pdq_hash, upload=upload,
                                              added_by=actor if getattr(actor, "pk", None) else None, note=note[:500])
            audit_record(actor=actor, action=AuditAction.BANK_HASH_ADDED, target=entry,
                         data={"bank": bank.name, "upload": str(upload.pk), "hash": upload.pdq_hash})
    except IntegrityError:
        raise Conflict(f"This image's hash is already in bank {bank.name!r}.", code="already_banked") from None
    return entry


@transaction.atomic
def bank_hash_remove(*, entry: BankedHash, actor=None) -> None:
    audit_record(actor=actor, action=AuditAction.BANK_HASH_REMOVED, target=entry,
                 data={"bank": entry.bank.name, "hash": entry.pdq_hash})
    entry.delete()


class _BankCache:
    def __init__(self) -> None:
        self._indexes: dict[int, tuple[tuple, HashIndex, list[int]]] = {}
        self._banks: list[HashBank] = []
        self._checked_at = -1e9
        self._lock = threading.Lock()

    def banks(self) -> list[tuple[HashBank, HashIndex, list[int]]]:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at >= settings.BANK_CHECK_SECONDS:
                self._refresh()
                self._checked_at = now
            return [(bank, *self._indexes[bank.pk][1:]) for bank in self._banks]

    def _refresh(self) -> None:
        self._banks = list(HashBank.objects.filter(enabled=True))
        stats = {
            row["bank"]: (row["n"], row["last"])
            for row in BankedHash.objects.values("bank").annotate(n=Count("id"), last=Max("id"))
        }
        for bank in self._banks:
            stamp = stats.get(bank.pk, (0, None))
            cached = self._indexes.get(bank.pk)
            if cached is None or cached[0] != stamp:
                rows = list(BankedHash.objects.filter(bank=bank).values_list("pk", "pdq_hash"))
                hashes = np.frombuffer(b"".join(bytes.fromhex(h) for _, h in rows), dtype=np.uint8)
                self._indexes[bank.pk] = (stamp, HashIndex(hashes.reshape(-1, 32)), [pk for pk, _ in rows])

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._checked_at = -1e9


_cache = _BankCache()


def forget_bank_indexes() -> None:
    _cache.clear()


def hash_matches(pdq_hash: str) -> list[HashMatch]:
    """Each enabled bank's closest entry within its distance, if any."""
    if not pdq_hash:
        return []
    query = bytes.fromhex(pdq_hash)
    matches = []
    for bank, index, entry_ids in _cache.banks():
        found = index.nearest_within(query, bank.max_distance)
        if found is not None:
            row, distance = found
            matches.append(HashMatch(bank=bank.name, distance=distance, max_distance=bank.max_distance,
                                     action=bank.action, detail={"bank_id": bank.pk, "entry_id": entry_ids[row]}))
    return matches
