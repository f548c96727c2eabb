"""Every hostile or odd file and filename through the API with a real worker:
a clean 4xx with its code, or accepted and carried to a final state. Never a
5xx, a hang, or a stray file."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import SETTLED_STATUSES, Partner, Upload
from tests.conftest import media_files, wait_for
from tests.helpers import fashion_png
from tests.moderation.corpus import CORPUS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "a" * 1000 + ".png",
    "ctrl\x01\x1b[31mred\x7f.png",
    "\u202egnp.exe",
    "<img src=x onerror=alert(1)>.png",
    "'; DROP TABLE moderation_upload; --.png",
    "CON.png",
    "",
]


def test_hostile_files_and_names(celery_worker, active_model, partner_key, api_client):
    partner, key = partner_key()
    Partner.objects.filter(pk=partner.pk).update(
        burst_limit=10_000, sustained_limit=10_000, upload_burst_limit=10_000, upload_hourly_limit=10_000
    )
    accepted, refused, server_errors = [], [], []
    before = set(media_files())
    cases = [(case.name, case.data, "x.png", case.expected) for case in CORPUS]
    cases += [(f"name {i}", fashion_png(i)[0], name, None) for i, name in enumerate(HOSTILE_NAMES)]
    for label, data, filename, expected in cases:
        response = api_client.post(
            "/api/v1/uploads/",
            {"image": SimpleUploadedFile(filename or "x", data)},
            format="multipart",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        if response.status_code >= 500:
            server_errors.append(label)
            continue
        if expected is None:
            assert response.status_code == 202, (label, response.content[:300])
            accepted.append(response.json()["id"])
        else:
            assert 400 <= response.status_code < 500, label
            assert response.json()["error"]["code"] == expected, label
            refused.append(label)
    assert not server_errors
    assert wait_for(
        lambda: Upload.objects.filter(pk__in=accepted, status__in=SETTLED_STATUSES).count() == len(accepted),
        timeout=120,
    ), list(Upload.objects.filter(pk__in=accepted).values_list("status", "failure_reason"))
    # Per accepted upload: its original under uploads/ and its public copy (re-encoded, no metadata) under
    # public/; nothing else written, nothing named by the client.
    written = {str(p) for p in set(media_files()) - before}
    stored = {p for p in written if "/uploads/" in p}
    copies = {p for p in written if "/public/" in p}
    assert stored | copies == written
    names = set(Upload.objects.filter(pk__in=accepted).values_list("image", flat=True))
    public = set(Upload.objects.filter(pk__in=accepted).values_list("public_image", flat=True))
    assert len(stored) == len(copies) == len(accepted) == len(names) == len(public)
    assert all(n.startswith("uploads/") and ".." not in n and "passwd" not in n for n in names)
    assert all(n.startswith("public/") and ".." not in n and "passwd" not in n for n in public)
    kept = set(Upload.objects.filter(pk__in=accepted).values_list("original_filename", flat=True))
    assert "passwd" in kept and all("/" not in n and "\x1b" not in n and len(n) <= 255 for n in kept)
    print(f"files tried {len(cases)}, refused {len(refused)}, accepted {len(accepted)}, 5xx {len(server_errors)}")
