"""Hash banks at scale: exact matching per bank, the snapshot shared by a
host's processes and its delta, allow-lists, the flood guard, and the
retroactive search (end to end with a real worker)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from classifier.ml.hash_index import brute_force
from moderation.errors import Conflict, Forbidden, InvalidInput
from moderation.models import (
    AuditEvent,
    BankAction,
    BankedHash,
    BankMatch,
    BankRetroSearch,
    Flag,
    HashBank,
    QAItem,
    RetroSearchStatus,
    Upload,
    UploadStatus,
)
from moderation.services.bank_retro import bank_retro_search_run
from moderation.services.banks import (
    _index,
    bank_entry_confirm,
    bank_hash_add,
    bank_hash_remove,
    bank_hashes_import,
    bank_matches_record,
    hash_index_rebuild,
    hash_matches,
    hash_matches_many,
)
from tests.conftest import ROOT, wait_for

RNG = np.random.default_rng(20)


def random_hashes(n: int) -> np.ndarray:
    return RNG.integers(0, 256, (n, 32), dtype=np.uint8)


def flip(hex_hash: str, bits: int, seed: int = 0) -> str:
    """A hash exactly `bits` bits away."""
    array = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), np.uint8))
    array[np.random.default_rng(seed).choice(256, bits, replace=False)] ^= 1
    return np.packbits(array).tobytes().hex()


def make_bank(name: str, action: str = BankAction.REJECT, max_distance: int = 31, **fields) -> HashBank:
    return HashBank.objects.create(
        name=name, action=action, max_distance=max_distance, retro_days=fields.pop("retro_days", 0), **fields
    )


def make_upload(pdq: str, status: str = UploadStatus.APPROVED, age: timedelta = timedelta(hours=1)) -> Upload:
    return Upload.objects.create(
        image=f"test/{uuid.uuid4().hex}.jpg",
        image_format="JPEG",
        content_type="image/jpeg",
        width=8,
        height=8,
        byte_size=1,
        sha256=hashlib.sha256(pdq.encode()).hexdigest(),
        pdq_hash=pdq,
        status=status,
        policy_verdict={"approved": "approve", "rejected": "reject"}.get(status, ""),
        created_at=timezone.now() - age,
    )


@pytest.mark.django_db
def test_matches_are_exact_per_bank_against_brute_force():
    strict = make_bank("strict", max_distance=10)
    wide = make_bank("wide", action=BankAction.REVIEW, max_distance=31)
    banked = {bank: random_hashes(3000) for bank in (strict, wide)}
    for bank, hashes in banked.items():
        bank_hashes_import(bank=bank, hashes=[h.tobytes().hex() for h in hashes])
    hash_index_rebuild()
    queries = [flip(banked[wide][i].tobytes().hex(), d, i) for i, d in enumerate(range(0, 40))]
    queries += [flip(banked[strict][i].tobytes().hex(), d, i) for i, d in enumerate(range(0, 40, 3))]
    queries += [h.tobytes().hex() for h in random_hashes(20)] + [""]
    found = hash_matches_many(queries)
    assert found[-1] == [] and hash_matches("") == []
    q_array = np.frombuffer(bytes.fromhex("".join(queries[:-1])), np.uint8).reshape(-1, 32)
    for bank in banked:
        ids = np.array(list(BankedHash.objects.filter(bank=bank).order_by("pk").values_list("pk", flat=True)))
        by_hash = dict(BankedHash.objects.filter(bank=bank).values_list("pdq_hash", "pk"))
        ordered = np.frombuffer(
            bytes.fromhex("".join(h for h, _ in sorted(by_hash.items(), key=lambda kv: kv[1]))), np.uint8
        ).reshape(-1, 32)
        expected = brute_force(q_array, ordered, bank.max_distance)
        nearest = {}
        for q, row, d in zip(
            expected.queries.tolist(), expected.rows.tolist(), expected.distances.tolist(), strict=True
        ):
            nearest.setdefault(q, (d, int(ids[row])))
        got = {
            q: (m.distance, m.detail["entry_id"])
            for q, matches in enumerate(found[:-1])
            for m in matches
            if m.bank == bank.name
        }
        assert got == nearest and len(got) >= 4


@pytest.mark.django_db
def test_an_added_entry_is_seen_after_the_version_bump_and_a_removed_one_at_once(moderator):
    bank = make_bank("known")
    bank_hashes_import(bank=bank, hashes=[h.tobytes().hex() for h in random_hashes(500)])
    hash_index_rebuild()
    snapshot = (Path(settings.HASH_INDEX_DIR) / "CURRENT").read_text()
    assert hash_matches(BankedHash.objects.first().pdq_hash)

    late = make_upload(random_hashes(1)[0].tobytes().hex())
    entry = bank_hash_add(bank=bank, upload=late, actor=moderator)
    query = flip(late.pdq_hash, 12)
    assert [m.detail["entry_id"] for m in hash_matches(query)] == [entry.pk]
    # Seen through this process's delta: the shared snapshot was not rebuilt.
    assert (Path(settings.HASH_INDEX_DIR) / "CURRENT").read_text() == snapshot
    assert len(_index.delta) == 1

    bank_hash_remove(entry=entry, actor=moderator)
    assert hash_matches(query) == []  # before any rebuild
    with pytest.raises(Conflict):
        bank_hash_add(bank=bank, upload=make_upload(BankedHash.objects.first().pdq_hash), actor=moderator)


@pytest.mark.django_db
def test_import_refuses_a_malformed_list_whole():
    bank = make_bank("imported")
    with pytest.raises(InvalidInput) as caught:
        bank_hashes_import(bank=bank, hashes=["ab" * 32, "not-a-hash"])
    assert caught.value.code == "invalid_hash" and not BankedHash.objects.exists()
    added, _ = bank_hashes_import(bank=bank, hashes=["AB" * 32, "ab" * 32, "cd" * 32])
    assert added == 2 and AuditEvent.objects.filter(action="bank.imported").count() == 1
    added, _ = bank_hashes_import(bank=bank, hashes=["ab" * 32])
    assert added == 0


LOOKUP_SCRIPT = """
import json, sys
import django
django.setup()
from django.conf import settings
from moderation.services.banks import hash_matches, _index
for line in sys.stdin:
    matches = hash_matches(line.strip())
    print(json.dumps({"entries": [m.detail["entry_id"] for m in matches],
                      "snapshot": _index.snapshot.folder.name, "delta": len(_index.delta)}), flush=True)
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_process_shares_the_snapshot_and_sees_new_entries():
    bank = make_bank("shared")
    first = random_hashes(1)[0].tobytes().hex()
    bank_hashes_import(bank=bank, hashes=[first] + [h.tobytes().hex() for h in random_hashes(2000)])
    hash_index_rebuild()
    snapshot = (Path(settings.HASH_INDEX_DIR) / "CURRENT").read_text()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "USE_TEST_DATABASE": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-c", LOOKUP_SCRIPT],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:

        def ask(pdq: str) -> dict:
            worker.stdin.write(pdq + "\n")
            worker.stdin.flush()
            return json.loads(worker.stdout.readline())

        answer = ask(flip(first, 5))
        # It opened the snapshot this process built instead of building its own.
        assert answer == {"entries": [BankedHash.objects.get(pdq_hash=first).pk], "snapshot": snapshot, "delta": 0}
        second = random_hashes(1)[0].tobytes().hex()
        assert ask(second)["entries"] == []
        bank_hashes_import(bank=bank, hashes=[second])  # bumps the version
        answer = ask(flip(second, 9))
        assert answer == {"entries": [BankedHash.objects.get(pdq_hash=second).pk], "snapshot": snapshot, "delta": 1}
        BankedHash.objects.filter(pdq_hash=second).delete()
        assert ask(flip(second, 9))["entries"] == []
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)


@pytest.mark.django_db
def test_an_allow_list_entry_suppresses_every_bank_match():
    reject = make_bank("reject-bank")
    review = make_bank("review-bank", action=BankAction.REVIEW)
    allow = make_bank("meme-templates", action=BankAction.ALLOW, max_distance=8)
    template = random_hashes(1)[0].tobytes().hex()
    bank_hashes_import(bank=reject, hashes=[flip(template, 20)])
    bank_hashes_import(bank=review, hashes=[flip(template, 25, 1)])
    near_template, far_from_template = flip(template, 4, 2), flip(flip(template, 20), 3, 3)
    assert {m.bank for m in hash_matches(near_template)} == {"reject-bank", "review-bank"}
    bank_hashes_import(bank=allow, hashes=[template])
    assert hash_matches(near_template) == []
    # Only hashes within the allow-list's own distance are suppressed.
    assert "reject-bank" in {m.bank for m in hash_matches(far_from_template)}
    allow.enabled = False
    allow.save()
    assert hash_matches(near_template)


@pytest.mark.django_db
def test_the_flood_guard_quarantines_until_a_lead_confirms(lead, moderator, client):
    bank = make_bank("floodable", flood_limit=3)
    viral = random_hashes(1)[0].tobytes().hex()
    bank_hashes_import(bank=bank, hashes=[viral])
    entry = BankedHash.objects.get()
    for i in range(3):
        matches = hash_matches(flip(viral, i + 1))
        assert [m.detail["entry_id"] for m in matches] == [entry.pk]
        bank_matches_record(upload=make_upload(flip(viral, i + 1)), matches=matches)
    # The fourth upload in the hour: the entry stops acting, with an audit row.
    assert hash_matches(flip(viral, 4)) == []
    assert hash_matches(flip(viral, 5)) == []
    entry.refresh_from_db()
    assert entry.quarantined_at is not None
    audit = AuditEvent.objects.get(action="bank.entry_quarantined")
    assert audit.target_id == str(entry.pk) and audit.data["matches_last_hour"] == 3

    client.force_login(lead)
    page = client.get("/lead/metrics/")
    assert b"bank-quarantine" in page.content and viral[:10].encode() in page.content

    with pytest.raises(Forbidden):
        bank_entry_confirm(entry_id=entry.pk, actor=moderator)
    client.force_login(moderator)
    assert client.post(f"/lead/bank-entries/{entry.pk}/confirm/").status_code in (302, 403)
    entry.refresh_from_db()
    assert entry.quarantined_at is not None

    client.force_login(lead)
    assert client.post(f"/lead/bank-entries/{entry.pk}/confirm/").status_code == 302
    entry.refresh_from_db()
    assert entry.quarantined_at is None and entry.confirmed_by == lead
    assert AuditEvent.objects.filter(action="bank.entry_confirmed", actor=lead, target_id=str(entry.pk)).exists()
    # Confirmed: it acts again, however often it matches.
    assert [m.detail["entry_id"] for m in hash_matches(flip(viral, 6))] == [entry.pk]
    assert b"bank-quarantine" not in client.get("/lead/metrics/").content
    assert BankMatch.objects.filter(entry=entry).count() == 3


def _photo_hash(name: str, edit=None) -> str:
    from PIL import Image
    from skimage import data

    from classifier.ml.hashing import pdq_hash

    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    return pdq_hash(edit(image) if edit else image)[0].hex()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_retroactive_search_flags_past_uploads_without_deciding_for_anyone(celery_worker, moderator):
    from PIL import ImageEnhance, ImageFilter

    # Real PDQ hashes of one photo's edits: brighter 2 bits from the original,
    # blurred 4, lower contrast 0, half size 16; another photo 120.
    half = lambda im: im.resize((im.width // 2, im.height // 2))  # noqa: E731
    brighter = lambda im: ImageEnhance.Brightness(im).enhance(1.3)  # noqa: E731
    blurred = lambda im: im.filter(ImageFilter.GaussianBlur(2))  # noqa: E731
    flatter = lambda im: ImageEnhance.Contrast(im).enhance(0.7)  # noqa: E731
    bank = make_bank("retro", action=BankAction.REJECT, retro_days=7)
    allow = make_bank("allowed", action=BankAction.ALLOW, max_distance=4)
    approved = make_upload(_photo_hash("chelsea", brighter), UploadStatus.APPROVED)
    waiting = make_upload(_photo_hash("chelsea", blurred), UploadStatus.IN_REVIEW)
    rejected = make_upload(_photo_hash("chelsea", flatter), UploadStatus.REJECTED, age=timedelta(days=2))
    pending = make_upload(_photo_hash("chelsea", brighter), UploadStatus.PENDING)
    too_old = make_upload(_photo_hash("chelsea"), UploadStatus.APPROVED, age=timedelta(days=8))
    other = make_upload(_photo_hash("coffee"), UploadStatus.APPROVED)
    allowed_half = make_upload(_photo_hash("chelsea", half), UploadStatus.APPROVED)
    bank_hashes_import(bank=allow, hashes=[allowed_half.pdq_hash])
    source = make_upload(_photo_hash("chelsea"), UploadStatus.REJECTED, age=timedelta(minutes=1))

    entry = bank_hash_add(bank=bank, upload=source, actor=moderator)
    search = BankRetroSearch.objects.get(bank=bank)
    done = wait_for(
        lambda: BankRetroSearch.objects.filter(pk=search.pk, status=RetroSearchStatus.DONE).exists(), timeout=90
    )
    search.refresh_from_db()
    assert done, (search.status, search.error)
    assert search.searched == search.total == 7  # everything of the last 7 days with a hash
    assert search.progress == 1.0

    flagged = set(Flag.objects.filter(detail__entry_id=entry.pk).values_list("upload_id", flat=True))
    assert flagged == {approved.pk, waiting.pk, rejected.pk}  # not the entry's own upload
    assert search.matched == 3
    for upload, status in (
        (approved, UploadStatus.APPROVED),
        (waiting, UploadStatus.IN_REVIEW),
        (rejected, UploadStatus.REJECTED),
        (pending, UploadStatus.PENDING),
        (too_old, UploadStatus.APPROVED),
        (other, UploadStatus.APPROVED),
        (allowed_half, UploadStatus.APPROVED),
    ):
        upload.refresh_from_db()
        assert upload.status == status  # nothing decided changed by itself
    # Decided uploads are put in front of a person; the one in review carries the reason.
    assert set(QAItem.objects.filter(kind="bank").values_list("upload_id", flat=True)) == {approved.pk, rejected.pk}
    flag = Flag.objects.get(upload=waiting, kind="hash_match")
    assert flag.detail["entry_id"] == entry.pk and "retroactive" in flag.reason
    assert AuditEvent.objects.filter(action="bank.retro_matched").count() == 3

    # Run twice: nothing is matched again.
    bank_retro_search_run(search_id=search.pk)
    BankRetroSearch.objects.filter(pk=search.pk).update(status=RetroSearchStatus.RUNNING)
    again = bank_retro_search_run(search_id=search.pk)
    assert again.matched == 0 and Flag.objects.filter(detail__entry_id=entry.pk).count() == 3


@pytest.mark.django_db
def test_a_rejection_cannot_put_an_image_on_an_allow_list(moderator):
    from moderation.services.review import review_decide

    allow = make_bank("allow-only", action=BankAction.ALLOW)
    upload = make_upload(random_hashes(1)[0].tobytes().hex(), UploadStatus.IN_REVIEW)
    with pytest.raises(InvalidInput) as caught:
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam", bank_id=allow.pk)
    assert caught.value.code == "invalid_bank" and not BankedHash.objects.exists()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.IN_REVIEW  # nothing half-stored


@pytest.mark.django_db
def test_bank_import_command_adds_a_list_and_queues_its_retroactive_search(tmp_path):
    from django.core.management import CommandError, call_command

    bank = make_bank("exchange", retro_days=3)
    listing = tmp_path / "hashes.txt"
    listing.write_text("\n".join(h.tobytes().hex() for h in random_hashes(50)) + "\n\n")
    call_command("bank_import", "exchange", str(listing))
    assert BankedHash.objects.filter(bank=bank).count() == 50
    search = BankRetroSearch.objects.get(bank=bank)
    assert len(search.entry_ids) == 50 and search.status == RetroSearchStatus.QUEUED
    listing.write_text("zz" * 32)
    with pytest.raises(CommandError):
        call_command("bank_import", "exchange", str(listing))
    with pytest.raises(CommandError):
        call_command("bank_import", "no-such-bank", str(listing))
    assert BankedHash.objects.count() == 50


@pytest.mark.django_db
def test_the_flood_guard_also_stops_a_retroactive_search():
    bank = make_bank("blank-image", retro_days=2, flood_limit=2)
    blank = random_hashes(1)[0].tobytes().hex()
    for i in range(5):
        make_upload(flip(blank, i + 1, i), UploadStatus.APPROVED)
    _, search = bank_hashes_import(bank=bank, hashes=[blank])
    done = bank_retro_search_run(search_id=search.pk)
    assert (done.status, done.searched, done.matched) == (RetroSearchStatus.DONE, 5, 2)
    entry = BankedHash.objects.get(bank=bank)
    assert entry.quarantined_at is not None
    assert AuditEvent.objects.filter(action="bank.entry_quarantined", target_id=str(entry.pk)).count() == 1
    assert QAItem.objects.filter(kind="bank").count() == 2
