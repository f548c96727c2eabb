"""Issue 16, item 6: what the public sees is a re-encoded copy without
metadata; the original (EXIF with GPS, XMP, ICC, comments) only for moderators."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from PIL import Image, ImageCms

from moderation.models import UploadStatus
from moderation.services.renditions import upload_public_image_ensure
from moderation.services.review import review_decide
from moderation.services.uploads import upload_create
from tests.conftest import skimage_jpeg
from tests.factories import SURE, analysis, classified

pytestmark = pytest.mark.django_db

GPS_LATITUDE = (48.0, 51.0, 29.94)  # 48°51'29.94" N: where the photo was taken


def jpeg_with_metadata() -> bytes:
    """A real photo (400x300 once upright) stored on its side with orientation 6
    (rotate 90° clockwise to view), EXIF with GPS and the camera, XMP, an ICC
    profile and a comment."""
    image = Image.open(io.BytesIO(skimage_jpeg("coffee"))).convert("RGB").resize((400, 300)).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0xA431] = "SERIAL-1234567"  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 17.0, 40.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><home>secret-address</home></rdf:RDF></x:xmpmeta>'
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif.tobytes(), icc_profile=icc, comment=b"owner: alice", xmp=xmp)
    return buffer.getvalue()


def assert_no_metadata(data: bytes) -> Image.Image:
    for marker in (
        b"Exif",
        b"GPS",
        b"PhoneMaker",
        b"SERIAL-1234567",
        b"secret-address",
        b"owner: alice",
        b"http://ns.adobe.com/xap",
        b"ICC_PROFILE",
        b"adobe:ns:meta",
    ):
        assert marker not in data, marker
    image = Image.open(io.BytesIO(data))
    assert not image.getexif() and not image.getexif().get_ifd(0x8825)
    assert not {"exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"} & set(image.info)
    return image


def processed(upload, data: bytes):
    """What the worker does with an upload (upload_classify), the models' say
    frozen: make the public copy, then apply the analysis."""
    upload_public_image_ensure(upload=upload, data=data)
    return classified(upload, analysis(SURE))


@pytest.fixture
def approved_post(moderator):
    author = get_user_model().objects.create_user("alice", password="alice-pass-123")
    original = jpeg_with_metadata()
    upload = processed(upload_create(data=original, filename="IMG_0001.jpg", uploader=author), original)
    if upload.status != UploadStatus.APPROVED:
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
        upload.refresh_from_db()
    assert upload.status == UploadStatus.APPROVED
    return upload, original, author


def test_public_copy_of_an_approved_photo_has_no_exif_gps_xmp_icc_or_comment(client, approved_post):
    upload, original, _ = approved_post
    assert b"PhoneMaker" in original and Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    assert f"/uploads/{upload.pk}/image" in client.get("/feed/").content.decode()

    response = client.get(f"/uploads/{upload.pk}/image")

    assert response.status_code == 200 and response["X-Image-Rendition"] == "public"
    assert response["Content-Type"] == "image/jpeg" and "Cookie" in response["Vary"]
    served = b"".join(response.streaming_content)
    assert served != original
    image = assert_no_metadata(served)
    assert image.size == (400, 300)  # the orientation was applied before it was dropped


def test_the_uploader_also_gets_the_public_copy(client, approved_post):
    upload, _, author = approved_post
    client.force_login(author)
    response = client.get(f"/uploads/{upload.pk}/image")
    assert response["X-Image-Rendition"] == "public"
    assert_no_metadata(b"".join(response.streaming_content))


def test_moderators_still_fetch_the_original(client, approved_post, moderator):
    upload, original, _ = approved_post
    client.force_login(moderator)
    response = client.get(f"/uploads/{upload.pk}/image")
    assert response["X-Image-Rendition"] == "original"
    assert b"".join(response.streaming_content) == original


def test_png_text_exif_and_icc_chunks_are_dropped(client):
    from PIL import PngImagePlugin

    author = get_user_model().objects.create_user("bob", password="bob-pass-123")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "owner: alice")
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-address</x:xmpmeta>')
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    image = Image.open(io.BytesIO(skimage_jpeg("astronaut"))).convert("RGBA").resize((120, 120))
    buffer = io.BytesIO()
    image.save(
        buffer,
        "PNG",
        pnginfo=info,
        exif=exif.tobytes(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    upload = processed(upload_create(data=buffer.getvalue(), filename="a.png", uploader=author), buffer.getvalue())
    client.force_login(author)

    response = client.get(f"/uploads/{upload.pk}/image")
    served = b"".join(response.streaming_content)
    assert response["Content-Type"] == "image/png"
    for chunk in (b"tEXt", b"iTXt", b"eXIf", b"iCCP"):
        assert chunk not in served, chunk
    public = assert_no_metadata(served)
    assert public.mode == "RGBA" and public.size == (120, 120)


def test_animated_webp_public_copy_drops_its_exif_and_xmp(client):
    author = get_user_model().objects.create_user("dora", password="dora-pass-123")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    frames = [
        Image.open(io.BytesIO(skimage_jpeg(name))).convert("RGB").resize((96, 64)) for name in ("coffee", "rocket")
    ]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=200,
        loop=0,
        exif=exif.tobytes(),
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-address</x:xmpmeta>",
    )
    assert b"PhoneMaker" in buffer.getvalue() and b"secret-address" in buffer.getvalue()
    upload = processed(upload_create(data=buffer.getvalue(), filename="a.webp", uploader=author), buffer.getvalue())
    client.force_login(author)

    served = b"".join(client.get(f"/uploads/{upload.pk}/image").streaming_content)
    public = assert_no_metadata(served)
    assert public.format == "WEBP" and public.n_frames == 2
