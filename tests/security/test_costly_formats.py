"""Issue 28, item 1: inputs whose cost is in a format feature, not in pixels.

A 270 KB progressive JPEG repeating one scan 1,000 times cost 13 s of CPU in
the web request and again in the worker; a million comment segments, IDAT
chunks or GIF frames cost a round of a Python loop each. Each is refused from
its structure, before Pillow reads it (moderation/format_limits.py), with a
stable code and nothing stored; the CPU each costs, before and after, is in
docs/benchmarks.md (bench.hostile_intake). Ordinary files of each format still
pass. The bombs are built in tests/security/bombs.py."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from moderation.errors import ApplicationError
from moderation.format_limits import JPEG_MAX_SCAN_BLOCKS, JPEG_MAX_SCANS, check_structure
from moderation.models import Upload
from moderation.validation import validate_upload_image
from tests.conftest import skimage_jpeg
from tests.helpers import animation, encode, skimage_photo
from tests.security import bombs

pytestmark = pytest.mark.django_db


def refused(data: bytes) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        validate_upload_image(data)
    return caught.value


def test_a_jpeg_with_more_scans_than_the_limit_is_refused():
    bomb = bombs.jpeg_scan_bomb(JPEG_MAX_SCANS + 20, side=800)  # cheap per scan, but too many of them
    error = refused(bomb)
    assert (error.status, error.code) == (413, "too_many_scans")
    assert error.detail["scans"] == JPEG_MAX_SCANS + 1 and error.detail["max_scans"] == JPEG_MAX_SCANS


def test_a_large_jpeg_repeating_scans_is_refused_by_the_blocks_they_cover():
    # 6000x6000: libjpeg's 10 scans cover 4.5 M blocks; 20 more full-luma scans, 11 M more.
    assert check_structure(bombs.jpeg_scan_bomb(0), "JPEG").scan_blocks == 4_500_000
    error = refused(bombs.jpeg_scan_bomb(20))
    assert error.code == "too_many_scans" and error.detail["scan_blocks"] > JPEG_MAX_SCAN_BLOCKS
    assert error.detail["scans"] < JPEG_MAX_SCANS


def test_the_scan_bomb_through_the_api_is_413_and_leaves_nothing(api_client, partner_key):
    _, key = partner_key()
    response = api_client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile("bomb.jpg", bombs.jpeg_scan_bomb(1000), content_type="image/jpeg")},
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_scans"
    assert not Upload.objects.exists()


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: bombs.jpeg_marker_flood(10_000), "too_many_segments"),
        (lambda: bombs.jpeg_icc_bomb(side=64, megabytes=2), "metadata_too_large"),
        (lambda: bombs.png_chunk_flood(30_000), "too_many_chunks"),
        (lambda: bombs.png_text_bomb(65), "metadata_too_large"),
        (lambda: bombs.gif_subblock_flood(600), "too_many_chunks"),
        (lambda: bombs.bmp_rle_flood(1500), "too_many_chunks"),
    ],
    ids=["jpeg segments", "jpeg icc profile", "png chunks", "png text chunks", "gif sub-blocks", "bmp runs"],
)
def test_costly_structures_are_413_with_their_code(build, code):
    error = refused(build())
    assert (error.status, error.code) == (413, code)


def test_bytes_between_gif_blocks_are_refused():
    error = refused(bombs.gif_junk_flood(megabytes=1))
    assert (error.status, error.code) == (400, "corrupt_image")


def test_bytes_between_jpeg_segments_are_refused():
    # make fuzz's finding: escaped 0xFF bytes (FF00) between the header's
    # segments, which Pillow skips two at a time in Python before the first
    # scan (10 M of them, 20 MB: 2 s of CPU in the web, 4 s in the worker).
    seed = bombs._jpeg(Image.new("RGB", (64, 64), "white"))
    padded = seed[:20] + b"\xff\x00" * 40_000 + seed[20:]
    assert seed[20:22] == b"\xff\xdb"  # after the JFIF segment, before the tables
    error = refused(padded)
    assert (error.status, error.code) == (400, "corrupt_image") and error.detail == {"max_junk_bytes": 65536}
    assert validate_upload_image(seed[:20] + b"\xff\x00" * 10 + seed[20:])  # a few, as damaged files have


@pytest.mark.parametrize(
    "padding",
    [
        pytest.param(b"\xff" * 70_000, id="fill bytes before a marker"),
        pytest.param(b"\xff\xd9" + b"\xff\x00" * 40_000, id="an end of image before any scan, then escaped bytes"),
        pytest.param(
            (b"\xff\xf0\xff\xf0" + b"\xff\x00" * 32_766) * 3, id="JPGn markers, whose 'length' Pillow does not read"
        ),
    ],
)
def test_what_pillows_header_reader_takes_a_byte_at_a_time_is_bounded(padding):
    # make fuzz's second run: fill bytes, and an EOI before the first scan
    # (Pillow's reader goes on past it, the walk had taken it for the end).
    seed = bombs._jpeg(Image.new("RGB", (64, 64), "white"))
    error = refused(seed[:20] + padding + seed[20:])
    assert (error.status, error.code) == (400, "corrupt_image") and error.detail == {"max_junk_bytes": 65536}


def test_a_gif_of_a_million_frames_is_counted_only_up_to_the_cap(settings):
    settings.UPLOAD_MAX_FRAMES = 50
    error = refused(bombs.gif_frame_flood(100_000))
    assert (error.status, error.code) == (413, "animation_too_large")
    assert error.detail["frames"] == 51 and "at least 51 frames" in error.message


@pytest.mark.parametrize("marker", [0xC3, 0xC9, 0xCA, 0xC5])
def test_lossless_hierarchical_and_arithmetic_jpegs_are_415(marker):
    data = bytearray(skimage_jpeg("coffee"))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = marker
    error = refused(bytes(data))
    assert (error.status, error.code) == (415, "unsupported_jpeg_coding")


def _jpeg(**params) -> bytes:
    return encode(skimage_photo("coffee", (1200, 800)), "JPEG", **params)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: _jpeg(quality=90), id="baseline"),
        pytest.param(lambda: _jpeg(quality=90, progressive=True, optimize=True), id="progressive"),
        pytest.param(lambda: _jpeg(quality=90, subsampling=0, progressive=True), id="progressive 4:4:4"),
        pytest.param(
            lambda: _jpeg(quality=85, icc_profile=_srgb_profile(), exif=_exif(), comment=b"shot on a phone"),
            id="with a profile, EXIF and a comment",
        ),
        pytest.param(lambda: bombs.jpeg_scan_bomb(0), id="progressive 6000x6000"),
        pytest.param(lambda: encode(skimage_photo("astronaut"), "PNG", icc_profile=_srgb_profile()), id="png"),
        pytest.param(lambda: bombs.bmp_rle_flood(600), id="bmp rle8 (runs within the limit)"),
        pytest.param(lambda: encode(skimage_photo("coffee"), "BMP"), id="bmp"),
        pytest.param(
            lambda: animation([skimage_photo("coffee"), skimage_photo("chelsea")], "GIF", [100, 100]), id="gif"
        ),
        pytest.param(
            lambda: animation([skimage_photo("coffee"), skimage_photo("chelsea")], "PNG", [100, 100]), id="apng"
        ),
    ],
)
def test_ordinary_files_pass(data):
    info = validate_upload_image(data())
    assert info.width > 0


def test_two_images_in_one_jpeg_have_their_scans_counted_together():
    # A second image after the first one's end (MPO, a gain map) is read too.
    single = bombs.jpeg_scan_bomb(JPEG_MAX_SCANS // 2, side=64)
    assert check_structure(single, "JPEG").scans == JPEG_MAX_SCANS // 2 + 10
    assert refused(single + single).code == "too_many_scans"


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "Camera maker"
    return exif.tobytes()


def test_a_jpeg_whose_scans_follow_garbage_is_still_counted():
    # Bytes that are no segment before the scans: decoders skip to the next
    # marker (with a warning), and so does the count; it does not stop there.
    data = bombs.jpeg_scan_bomb(JPEG_MAX_SCANS, side=64)
    first_scan = data.index(b"\xff\xda")
    hidden = data[:first_scan] + b"\x00garbage\x00" + data[first_scan:]
    Image.open(io.BytesIO(hidden)).load()  # a decoder reads every scan
    assert refused(hidden).code == "too_many_scans"
