"""django-storages' S3 backend against a real S3-speaking server on loopback
(moto's standalone server, started by the test): originals, heat maps and
model artifacts round-trip, and the media URLs work."""

import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings

from moderation.services.uploads import upload_classify, upload_create
from tests.conftest import wait_for
from tests.factories import policy_approves_nothing
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

BUCKET = "moderation-test"


@pytest.fixture(scope="module")
def s3_server():
    executable = Path(sys.executable).with_name("moto_server")
    if not executable.exists() and shutil.which("moto_server") is None:
        pytest.skip("moto_server is not installed (requirements-dev.txt installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(executable if executable.exists() else "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return True
        except OSError as exc:
            return getattr(exc, "code", None) is not None

    assert wait_for(up, timeout=20)
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_storage(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    storages = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield s3_server


def _keys(endpoint: str) -> set[str]:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_originals_artifacts_and_heat_maps_round_trip_through_s3(s3_storage, tiny_trained_model, moderator, client):
    from django.core.files.storage import default_storage

    from classifier.inference import forget_loaded_models
    from classifier.registry import model_version_activate, model_version_register

    assert default_storage.__class__.__name__ == "S3Storage"
    version = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    forget_loaded_models()
    policy_approves_nothing()
    data = fashion_png(4)[0]
    upload = upload_create(data=data, filename="a.png")
    upload_classify(upload_id=upload.pk)  # the worker reads the original and the model from S3
    upload.refresh_from_db()
    keys = _keys(s3_storage)
    assert upload.image.name in keys and version.artifact.name in keys and version.keras_artifact.name in keys
    assert upload.predictions.get().model_version == version

    client.force_login(moderator)
    assert client.get(f"/uploads/{upload.pk}/image").getvalue() == data  # the authorised view streams from S3
    heatmap = client.get(f"/review/{upload.pk}/heatmap.png")
    assert heatmap.status_code == 200 and f"heatmaps/{upload.pk}-v{version.pk}.png" in _keys(s3_storage)

    url = upload.image.url  # signed, expiring
    assert "Signature=" in url and "Expires=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    forget_loaded_models()
