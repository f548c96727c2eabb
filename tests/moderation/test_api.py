import pytest
from django.test import override_settings

from moderation.models import ApiKey, AuditEvent, Upload
from tests.conftest import media_files
from tests.helpers import encode, fashion_png, photo_like
from tests.moderation.corpus import CORPUS

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"


def post(client, key, data: bytes | None, name="a.png", **fields):
    payload = dict(fields)
    if data is not None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        payload["image"] = SimpleUploadedFile(name, data, content_type="image/png")
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
    return client.post(URL, payload, format="multipart", **headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "detail" in body["error"]


def test_accepted_upload_answers_202_and_is_stored(api_client, partner_key, django_capture_on_commit_callbacks):
    partner, key = partner_key()
    data, _ = fashion_png(3)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api_client, key, data, name="../../etc/passwd<script>.png", external_id="post-1")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["external_id"] == "post-1"
    upload = Upload.objects.get(pk=body["id"])
    assert upload.partner == partner
    assert upload.original_filename == "passwd<script>.png"  # folder part dropped, kept as metadata
    assert "passwd" not in upload.image.name and upload.image.name.endswith(".png")
    assert upload.image.read() == data
    assert len(callbacks) == 1  # classification queued on commit
    assert AuditEvent.objects.filter(action="upload.created", target_id=str(upload.pk)).exists()


def test_missing_key_is_401(api_client):
    assert_error(post(api_client, None, fashion_png(0)[0]), 401, "not_authenticated")


def test_unknown_and_revoked_keys_are_401(api_client, partner_key):
    from django.utils import timezone

    partner, key = partner_key()
    assert_error(post(api_client, "mk_nope", fashion_png(0)[0]), 401, "authentication_failed")
    ApiKey.objects.filter(partner=partner).update(revoked_at=timezone.now())
    assert_error(post(api_client, key, fashion_png(0)[0]), 401, "authentication_failed")


def test_only_a_hash_of_the_key_is_stored(partner_key):
    partner, key = partner_key()
    row = ApiKey.objects.get(partner=partner)
    assert key not in (row.key_hash, row.prefix) and key.startswith(row.prefix)


def test_partner_cannot_read_another_partners_upload(api_client, partner_key):
    _, key_a = partner_key()
    _, key_b = partner_key()
    upload_id = post(api_client, key_a, fashion_png(0)[0]).json()["id"]
    mine = api_client.get(f"{URL}{upload_id}/", HTTP_AUTHORIZATION=f"Api-Key {key_a}")
    assert mine.status_code == 200 and mine.json()["id"] == upload_id
    assert_error(api_client.get(f"{URL}{upload_id}/", HTTP_AUTHORIZATION=f"Api-Key {key_b}"), 404, "upload_not_found")


def test_missing_image_field(api_client, partner_key):
    _, key = partner_key()
    assert_error(post(api_client, key, None, caption="x"), 400, "missing_image")


@pytest.mark.parametrize("case", [c for c in CORPUS if c.expected and c.expected != "empty_file"], ids=lambda c: c.name)
def test_bad_files_get_their_code_and_leave_nothing(api_client, partner_key, case):
    _, key = partner_key()
    before = media_files()
    response = post(api_client, key, case.data)
    assert_error(
        response,
        {"corrupt_image": 400, "image_too_small": 400, "unsupported_format": 415, "too_many_pixels": 413}[
            case.expected
        ],
        case.expected,
    )
    assert Upload.objects.count() == 0
    assert media_files() == before


def test_empty_file(api_client, partner_key):
    _, key = partner_key()
    assert_error(post(api_client, key, b""), 400, "empty_file")


def test_file_too_large(api_client, partner_key):
    _, key = partner_key()
    data = encode(photo_like(64, 64), "PNG")
    with override_settings(UPLOAD_MAX_BYTES=len(data) - 1):
        assert_error(post(api_client, key, data), 413, "file_too_large")
    assert Upload.objects.count() == 0


def test_caption_too_long_has_its_own_code(api_client, partner_key):
    _, key = partner_key()
    assert_error(post(api_client, key, fashion_png(0)[0], caption="x" * 2001), 400, "caption_too_long")


def test_duplicate_external_id_is_409(api_client, partner_key):
    _, key = partner_key()
    assert post(api_client, key, fashion_png(0)[0], external_id="same").status_code == 202
    first = Upload.objects.get()
    response = post(api_client, key, fashion_png(1)[0], external_id="same")
    assert_error(response, 409, "duplicate_external_id")
    assert response.json()["error"]["detail"] == {"upload_id": str(first.pk)}  # the one to read instead
    assert Upload.objects.count() == 1


def test_unknown_upload_is_404_with_shape(api_client, partner_key):
    _, key = partner_key()
    response = api_client.get(f"{URL}00000000-0000-0000-0000-000000000000/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_error(response, 404, "upload_not_found")


def test_wrong_method_has_error_shape(api_client, partner_key):
    _, key = partner_key()
    assert_error(api_client.delete(URL, HTTP_AUTHORIZATION=f"Api-Key {key}"), 405, "method_not_allowed")


def test_schema_is_served(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/uploads/" in response.json()["paths"]


@pytest.mark.parametrize(
    "path",
    ["not-a-uuid/", "12345/", "not-a-uuid/appeal/", "00000000-0000-0000-0000-00000000000g/"],
)
def test_a_malformed_upload_id_is_a_json_404(api_client, partner_key, path):
    _, key = partner_key()
    method = api_client.post if path.endswith("appeal/") else api_client.get
    response = method(f"{URL}{path}", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "upload_not_found")


@override_settings(DEBUG=True)
def test_an_unknown_api_path_is_a_json_404_even_with_debug_on(api_client, partner_key):
    """With DEBUG on, Django answers an unmatched URL with its HTML debug page:
    the API's catch-all keeps the JSON shape."""
    _, key = partner_key()
    for path in ("/api/v1/nothing/", "/api/v1/uploads/x/y/z/", "/api/v1/webhooks/abc/"):
        response = api_client.get(path, HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert response["Content-Type"].startswith("application/json"), path
        assert_error(response, 404, "not_found")


def test_bearer_is_an_alias_of_api_key(api_client, partner_key):
    partner, key = partner_key()
    upload = post(api_client, key, fashion_png(0)[0]).json()
    for header in (f"Bearer {key}", f"bearer {key}", f"API-KEY {key}", f"  Bearer   {key}  "):
        response = api_client.get(f"{URL}{upload['id']}/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 200, (header, response.content)
    ApiKey.objects.filter(partner=partner).update(revoked_at="2026-01-01T00:00:00Z")
    assert_error(api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}"), 401, "authentication_failed")


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Token mk_abc", "Basic dXNlcjpwYXNz"])
def test_an_unusable_authorization_header_says_why(api_client, header):
    response = api_client.get(URL, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "authentication_failed")
    assert "credentials were not provided" not in response.json()["error"]["message"]
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("body", [{}, {"message": None}, {"message": ""}, {"message": " \n "}])
def test_an_empty_appeal_message_is_appeal_message_missing(api_client, partner_key, body):
    from moderation.models import UploadStatus
    from moderation.services.uploads import upload_create

    partner, key = partner_key()
    upload = upload_create(data=fashion_png(0)[0], partner=partner)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.REJECTED)
    response = api_client.post(f"{URL}{upload.pk}/appeal/", body, format="json", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_error(response, 400, "appeal_message_missing")
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.REJECTED  # nothing half done


@pytest.mark.parametrize(
    "header",
    [
        "mk_SECRETsecret0123456789abcdefghij",  # a key sent without its scheme
        "Token mk_SECRETsecret0123456789abcdefghij",
        "mk_SECRETsecret0123456789abcdefghij mk_SECRETsecret0123456789abcdefghij",
        "Api-Key mk_SECRETsecret0123456789abcdefghij",  # unknown key
        "Bearer mk_SECRETsecret0123456789abcdefghij extra",
    ],
)
def test_a_401_never_repeats_the_key(api_client, header):
    response = api_client.get(URL, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "authentication_failed")
    text = response.content.decode() + "".join(response.headers.values())
    for part in ("mk_", "SECRET", "0123", "mk_SECRETsecret"[:6]):
        assert part not in text, (part, text)


@pytest.mark.parametrize("message", [123, 1.5, True, ["why"], {"text": "why"}])
def test_a_value_of_the_wrong_json_type_is_invalid_input_and_spends_nothing(api_client, partner_key, message):
    """{"message": 123} is not a message: the appeal is refused, and the
    upload keeps its only appeal."""
    from moderation.models import Appeal, UploadStatus
    from moderation.services.uploads import upload_create

    partner, key = partner_key()
    upload = upload_create(data=fashion_png(0)[0], partner=partner)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.REJECTED)
    response = api_client.post(
        f"{URL}{upload.pk}/appeal/", {"message": message}, format="json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert_error(response, 400, "invalid_input")
    assert "message" in response.json()["error"]["detail"]
    assert not Appeal.objects.exists() and Upload.objects.get(pk=upload.pk).status == UploadStatus.REJECTED
    webhook = api_client.post("/api/v1/webhooks/", {"url": 5}, format="json", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_error(webhook, 400, "invalid_input")


def test_scores_are_rounded_alike_everywhere(api_client, partner_key):
    """Tags, categories, ImageNet tags, the adult score, flags and the open-set
    check all carry SCORE_DECIMALS decimals, as the reasons do."""
    from moderation.representation import SCORE_DECIMALS
    from moderation.services.uploads import upload_create
    from tests.factories import ModelVersionFactory, analysis, classified, policy_approves_nothing

    policy_approves_nothing()  # an adult-content flag at any score
    partner, key = partner_key()
    frozen = analysis(
        {"Bag": 0.912345678, "Coat": 0.087654322},
        version=ModelVersionFactory(),
        adult=0.4444444,
        imagenet=[(414, "backpack", 0.7654321)],
    )
    upload = classified(upload_create(data=fashion_png(0)[0], partner=partner), frozen)
    body = api_client.get(f"{URL}{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    scores = [body["adult_score"]]
    scores += [t["score"] for t in body["tags"] + body["imagenet_tags"] + body["categories"] + body["flags"]]
    if body["tags_open_set"]:
        scores += [body["tags_open_set"]["score"], body["tags_open_set"]["threshold"]]
    assert body["tags"] and body["flags"] and body["imagenet_tags"] and body["adult_score"] == 0.444
    assert body["tags"][0]["score"] == 0.912
    for score in scores:
        assert score == round(score, SCORE_DECIMALS), scores
