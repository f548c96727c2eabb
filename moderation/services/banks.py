"""Hash banks: entries added, imported and removed (audited), uploads matched
against them at upload time and retroactively, allow-lists, and the flood guard.

The index (see docs/operations.md, "Hash banks at scale"):

- A snapshot of every bank entry is a `classifier.ml.hash_index.MultiIndex`
  saved under HASH_INDEX_DIR as .npy files. Every process of a host
  memory-maps the same files, so the operating system keeps one copy in its
  page cache for all of them. CURRENT names the snapshot in service.
- Adding entries bumps `HashIndexVersion` in the same transaction and stamps
  the entries with the new version (the version row's lock makes versions
  commit in order). A process checks the version at most every
  BANK_CHECK_SECONDS; when it moved, it reads only the entries newer than its
  snapshot into a small in-process index (the delta). Past
  HASH_INDEX_DELTA_MAX new entries a worker rebuilds the snapshot.
- Removals and quarantines need no rebuild: every hit is confirmed against the
  database before it counts, so a removed or quarantined entry stops acting at
  once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from classifier.facade import Hits, MultiIndex
from moderation.errors import Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import (
    AuditAction,
    BankAction,
    BankedHash,
    BankMatch,
    BankMatchSource,
    BankRetroSearch,
    HashBank,
    HashIndexVersion,
    Upload,
)
from moderation.policy import HashMatch
from moderation.services.audit import audit_record

logger = logging.getLogger(__name__)

HEX_HASH = re.compile(r"^[0-9a-f]{64}$")
CONFIRM_PERMISSION = "moderation.confirm_bankedhash"


def hashes_to_array(hex_hashes: list[str]) -> np.ndarray:
    """Hex PDQ hashes -> (n, 32) uint8."""
    if not hex_hashes:
        return np.zeros((0, 32), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hex_hashes)), dtype=np.uint8).reshape(-1, 32)


def chunked(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _entries_index(entries, *, chunks: int | None = None) -> MultiIndex:
    """A multi-index of bank entries (ids and bank ids kept alongside),
    streamed from the database so that ten million rows never sit in memory
    as Python objects."""
    ids, banks, hashes = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)], [np.zeros((0, 32), np.uint8)]
    rows = entries.order_by().values_list("pk", "bank_id", "pdq_hash").iterator(chunk_size=50_000)
    for chunk in chunked(rows, 50_000):
        ids.append(np.array([r[0] for r in chunk], np.int64))
        banks.append(np.array([r[1] for r in chunk], np.int32))
        hashes.append(hashes_to_array([r[2] for r in chunk]))
    return MultiIndex.build(
        np.concatenate(hashes), np.concatenate(ids), chunks=chunks, extra={"bank": np.concatenate(banks)}
    )


# --- writes -------------------------------------------------------------


def _bump_version() -> int:
    """Take the next index version. Holding the row's lock until commit makes
    entries commit in version order, so "newer than version V" is exact."""
    HashIndexVersion.objects.get_or_create(pk=1)
    HashIndexVersion.objects.filter(pk=1).update(version=F("version") + 1)
    return HashIndexVersion.objects.select_for_update().get(pk=1).version


def bank_hash_add(*, bank: HashBank, upload: Upload, actor=None, note: str = "") -> BankedHash:
    if not upload.pdq_hash:
        raise InvalidInput("This upload has no perceptual hash yet.", code="no_hash")
    try:
        with transaction.atomic():
            version = _bump_version()
            entry = BankedHash.objects.create(
                bank=bank,
                pdq_hash=upload.pdq_hash,
                upload=upload,
                added_by=actor if getattr(actor, "pk", None) else None,
                note=note[:500],
                index_version=version,
            )
            audit_record(
                actor=actor,
                action=AuditAction.BANK_HASH_ADDED,
                target=entry,
                data={"bank": bank.name, "upload": str(upload.pk), "hash": upload.pdq_hash},
            )
            _retro_search_start(bank=bank, entry_ids=[entry.pk], actor=actor)
    except IntegrityError:
        raise Conflict(f"This image's hash is already in bank {bank.name!r}.", code="already_banked") from None
    return entry


def bank_hashes_import(
    *, bank: HashBank, hashes: list[str], actor=None, note: str = ""
) -> tuple[int, BankRetroSearch | None]:
    """Add a list of hex PDQ hashes to a bank (ones already there are skipped)
    and start a retroactive search for the new ones. All or nothing: one
    malformed hash refuses the whole list."""
    cleaned = [h.strip().lower() for h in hashes if h.strip()]
    bad = [h for h in cleaned if not HEX_HASH.match(h)]
    if bad:
        raise InvalidInput(
            f"{len(bad)} of the hashes are not 64 hex digits (first: {bad[0][:80]!r}).",
            code="invalid_hash",
            detail={"invalid": len(bad)},
        )
    if not cleaned:
        raise InvalidInput("The list holds no hashes.", code="empty_list")
    cleaned = list(dict.fromkeys(cleaned))
    with transaction.atomic():
        version = _bump_version()
        added_by = actor if getattr(actor, "pk", None) else None
        for start in range(0, len(cleaned), 5000):
            BankedHash.objects.bulk_create(
                [
                    BankedHash(bank=bank, pdq_hash=h, added_by=added_by, note=note[:500], index_version=version)
                    for h in cleaned[start : start + 5000]
                ],
                ignore_conflicts=True,
                batch_size=5000,
            )
        new_ids = list(BankedHash.objects.filter(bank=bank, index_version=version).values_list("pk", flat=True))
        audit_record(
            actor=actor,
            action=AuditAction.BANK_IMPORTED,
            target=bank,
            data={"bank": bank.name, "submitted": len(cleaned), "added": len(new_ids), "note": note[:200]},
        )
        search = _retro_search_start(bank=bank, entry_ids=new_ids, actor=actor)
    if len(new_ids) > settings.HASH_INDEX_DELTA_MAX:
        transaction.on_commit(_enqueue_rebuild)
    return len(new_ids), search


@transaction.atomic
def bank_hash_remove(*, entry: BankedHash, actor=None) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.BANK_HASH_REMOVED,
        target=entry,
        data={"bank": entry.bank.name, "hash": entry.pdq_hash},
    )
    entry.delete()


def bank_entry_quarantine(*, entry_id: int, matches_last_hour: int) -> bool:
    """The flood guard's act: the entry stops acting until a lead confirms it.
    True if this call quarantined it (a race leaves one audit row, not two)."""
    with transaction.atomic():
        changed = BankedHash.objects.filter(pk=entry_id, quarantined_at__isnull=True, confirmed_at__isnull=True).update(
            quarantined_at=timezone.now()
        )
        if changed:
            entry = BankedHash.objects.select_related("bank").get(pk=entry_id)
            audit_record(
                actor=None,
                action=AuditAction.BANK_ENTRY_QUARANTINED,
                target=entry,
                data={
                    "bank": entry.bank.name,
                    "hash": entry.pdq_hash,
                    "matches_last_hour": matches_last_hour,
                    "flood_limit": entry.bank.flood_limit,
                },
            )
    return bool(changed)


@transaction.atomic
def bank_entry_confirm(*, entry_id: int, actor) -> BankedHash:
    """A lead confirms a quarantined entry: it acts again, and the flood guard
    leaves it alone from then on (the lead has seen that it matches widely)."""
    if not getattr(actor, "has_perm", None) or not actor.has_perm(CONFIRM_PERMISSION):
        raise Forbidden("Only a lead may confirm a quarantined bank entry.", code="not_lead")
    entry = BankedHash.objects.select_for_update().select_related("bank").filter(pk=entry_id).first()
    if entry is None:
        raise NotFound("No such bank entry.")
    if entry.quarantined_at is None:
        raise Conflict("This bank entry is not quarantined.", code="not_quarantined")
    quarantined_at = entry.quarantined_at
    entry.quarantined_at, entry.confirmed_at, entry.confirmed_by = None, timezone.now(), actor
    entry.save(update_fields=["quarantined_at", "confirmed_at", "confirmed_by"])
    audit_record(
        actor=actor,
        action=AuditAction.BANK_ENTRY_CONFIRMED,
        target=entry,
        data={"bank": entry.bank.name, "hash": entry.pdq_hash, "quarantined_at": quarantined_at.isoformat()},
    )
    return entry


def bank_matches_record(*, upload: Upload, matches: list[HashMatch]) -> None:
    """Keep each bank match of an upload (the flood guard counts them). Call
    it in the transaction that stores the upload's verdict."""
    BankMatch.objects.bulk_create(
        [
            BankMatch(entry_id=m.detail["entry_id"], upload=upload, distance=m.distance, source=BankMatchSource.UPLOAD)
            for m in matches
            if m.detail.get("entry_id")
        ]
    )


def quarantined_entries():
    """Entries the flood guard stopped, for the metrics page."""
    return BankedHash.objects.filter(quarantined_at__isnull=False).select_related("bank").order_by("-quarantined_at")


# --- the shared index -----------------------------------------------------


@dataclass
class _Snapshot:
    folder: Path
    version: int
    index: MultiIndex


def _index_dir() -> Path:
    path = Path(settings.HASH_INDEX_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _index_state() -> tuple[str, int]:
    """(epoch, version) of the database's bank entries."""
    row, _ = HashIndexVersion.objects.get_or_create(pk=1)
    return row.epoch, row.version


def _current_name() -> str:
    try:
        return (_index_dir() / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return ""


def _open_snapshot(name: str, state: tuple[str, int]) -> _Snapshot | None:
    """The snapshot called `name` (epoch-version-tag), if it was built from
    this database and no later than its present version."""
    epoch, _, rest = name.partition("-")
    version = int(rest.split("-", 1)[0]) if rest else -1
    folder = _index_dir() / name
    if not name or epoch != state[0] or not 0 <= version <= state[1] or not (folder / "meta.json").exists():
        return None
    return _Snapshot(folder, version, MultiIndex.load(folder))


def hash_index_rebuild(*, force: bool = False) -> str:
    """Build a snapshot of every bank entry and put it in service for this
    host's processes. One process builds at a time (a file lock); one that
    finds an up-to-date snapshot after waiting for the lock does nothing.
    Returns the snapshot's name."""
    root = _index_dir()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _index_state()
        current = _current_name()
        if not force and (found := _open_snapshot(current, state)) is not None and found.version == state[1]:
            return current
        # Entries with index_version <= the version read above have all
        # committed: their version bump committed with them.
        index = _entries_index(BankedHash.objects.filter(index_version__lte=state[1]))
        name = f"{state[0]}-{state[1]}-{uuid.uuid4().hex[:8]}"
        staging = root / f".{name}"
        index.save(staging)
        os.rename(staging, root / name)
        (root / ".CURRENT").write_text(name)
        os.replace(root / ".CURRENT", root / "CURRENT")
        # Processes that still map an older snapshot keep reading it (an
        # unlinked file lives while it is mapped) until they next check.
        for old in root.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        logger.info("hash index snapshot %s: %d entries", name, len(index))
        return name


def _enqueue_rebuild() -> None:
    from moderation.tasks import rebuild_hash_index

    rebuild_hash_index.delay()


@dataclass(frozen=True)
class _Hit:
    query: int
    entry_id: int
    bank_id: int
    distance: int


class _BankIndex:
    """This process's view of the banks: the shared snapshot plus the delta."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.snapshot: _Snapshot | None = None
        self.delta = MultiIndex.build(np.zeros((0, 32), np.uint8), extra={"bank": np.zeros(0, np.int32)})
        self.seen: tuple = ()
        self.banks: dict[int, HashBank] = {}
        self._checked_at = -1e9
        self._rebuild_asked: tuple = ()

    def refresh(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < settings.BANK_CHECK_SECONDS:
                return
            self._checked_at = now
            self.banks = {b.pk: b for b in HashBank.objects.filter(enabled=True)}
            state, on_disk = _index_state(), _current_name()
            if (state, on_disk) == self.seen:
                return
            snapshot: _Snapshot | None
            if self.snapshot is not None and self.snapshot.folder.name == on_disk and on_disk.startswith(state[0]):
                snapshot = self.snapshot
            else:
                snapshot = _open_snapshot(on_disk, state)
            if snapshot is None:
                on_disk = hash_index_rebuild()
                state = _index_state()  # entries may have been added meanwhile
                snapshot = _open_snapshot(on_disk, state)
                if snapshot is None:
                    raise RuntimeError(f"hash index snapshot {on_disk!r} does not fit the database's {state}")
            self.snapshot = snapshot
            self.delta = _entries_index(BankedHash.objects.filter(index_version__gt=snapshot.version), chunks=16)
            self.seen = (state, on_disk)
            if len(self.delta) > settings.HASH_INDEX_DELTA_MAX and self._rebuild_asked != state:
                self._rebuild_asked = state
                _enqueue_rebuild()

    def search(self, queries: np.ndarray, radius: int) -> list[_Hit]:
        hits = []
        if self.snapshot is None:
            raise RuntimeError("search before refresh")
        for index in (self.snapshot.index, self.delta):
            found: Hits = index.search(queries, radius)
            if len(found):
                ids, banks = index.ids[found.rows], index.extra["bank"][found.rows]
                hits += [
                    _Hit(int(q), int(e), int(b), int(d))
                    for q, e, b, d in zip(found.queries, ids, banks, found.distances, strict=True)
                ]
        return hits


_index = _BankIndex()


def forget_bank_indexes() -> None:
    with _index._lock:
        _index.clear()


def _live_entries(entry_ids: set[int]) -> dict[int, tuple[bool, int]]:
    """entry id -> (confirmed by a lead, bank id) for entries that still
    exist and are not quarantined."""
    rows = BankedHash.objects.filter(pk__in=entry_ids, quarantined_at__isnull=True)
    return {
        pk: (confirmed is not None, bank) for pk, confirmed, bank in rows.values_list("pk", "confirmed_at", "bank_id")
    }


def _flooded(entry_ids: set[int], banks: dict[int, HashBank], live: dict[int, tuple[bool, int]]) -> set[int]:
    """Entries past their bank's flood limit in the last hour: quarantined now."""
    guarded = {e for e in entry_ids if not live[e][0] and banks[live[e][1]].flood_limit}
    if not guarded:
        return set()
    counts = dict(
        BankMatch.objects.filter(entry_id__in=guarded, created_at__gte=timezone.now() - timedelta(hours=1))
        .values("entry_id")
        .annotate(n=Count("id"))
        .values_list("entry_id", "n")
    )
    flooded = {e for e in guarded if counts.get(e, 0) >= banks[live[e][1]].flood_limit}
    for entry_id in flooded:
        bank_entry_quarantine(entry_id=entry_id, matches_last_hour=counts[entry_id])
    return flooded


def _live_hits(
    pdq_hashes: list[str], actions: set[str] | None = None
) -> tuple[list[int], list[_Hit], dict[int, HashBank], dict]:
    """The hashes looked up (their positions), and every hit on a live entry
    of an enabled bank (of the given actions) within that bank's distance."""
    wanted = [i for i, h in enumerate(pdq_hashes) if h]
    if not wanted:
        return wanted, [], {}, {}
    _index.refresh()
    banks = {pk: b for pk, b in _index.banks.items() if actions is None or b.action in actions}
    if not banks:
        return wanted, [], banks, {}
    radius = max(b.max_distance for b in banks.values())
    hits = [
        h
        for h in _index.search(hashes_to_array([pdq_hashes[i] for i in wanted]), radius)
        if h.bank_id in banks and h.distance <= banks[h.bank_id].max_distance
    ]
    live = _live_entries({h.entry_id for h in hits}) if hits else {}
    return wanted, [h for h in hits if h.entry_id in live], banks, live


def hashes_allowed_many(pdq_hashes: list[str]) -> list[bool]:
    """For each hash: whether an allow-list entry is within its distance."""
    wanted, hits, _, _ = _live_hits(pdq_hashes, {BankAction.ALLOW})
    allowed = {wanted[h.query] for h in hits}
    return [i in allowed for i in range(len(pdq_hashes))]


def hash_matches_many(pdq_hashes: list[str]) -> list[list[HashMatch]]:
    """For each hash: each enabled review/reject bank's closest live entry
    within the bank's distance, or nothing at all when an allow-list entry is
    within its distance (allow-lists are checked before every other bank).
    Exact, and one index search for the whole list."""
    results: list[list[HashMatch]] = [[] for _ in pdq_hashes]
    wanted, hits, banks, live = _live_hits(pdq_hashes)
    allowed = {h.query for h in hits if banks[h.bank_id].action == BankAction.ALLOW}
    acting = [h for h in hits if h.query not in allowed and banks[h.bank_id].action != BankAction.ALLOW]
    flooded = _flooded({h.entry_id for h in acting}, banks, live)
    best: dict[tuple[int, int], _Hit] = {}
    for h in acting:
        if h.entry_id in flooded:
            continue
        key = (h.query, h.bank_id)
        if key not in best or (h.distance, h.entry_id) < (best[key].distance, best[key].entry_id):
            best[key] = h
    for (query, bank_id), h in sorted(best.items()):
        bank = banks[bank_id]
        results[wanted[query]].append(
            HashMatch(
                bank=bank.name,
                distance=h.distance,
                max_distance=bank.max_distance,
                action=bank.action,
                detail={"bank_id": bank.pk, "entry_id": h.entry_id},
            )
        )
    return results


def hash_matches(pdq_hash: str) -> list[HashMatch]:
    """Each enabled bank's closest entry within its distance, if any."""
    return hash_matches_many([pdq_hash])[0]


# --- retroactive search ------------------------------------------------------


def _retro_search_start(*, bank: HashBank, entry_ids: list[int], actor) -> BankRetroSearch | None:
    if not entry_ids or bank.retro_days == 0 or bank.action == BankAction.ALLOW:
        return None
    search = BankRetroSearch.objects.create(
        bank=bank,
        entry_ids=entry_ids,
        since=timezone.now() - timedelta(days=bank.retro_days),
        created_by=actor if getattr(actor, "pk", None) else None,
    )

    def enqueue() -> None:
        from moderation.tasks import bank_retro_search

        bank_retro_search.delay(search.pk)

    transaction.on_commit(enqueue)
    return search
