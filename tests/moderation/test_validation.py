import pytest

from moderation.errors import ApplicationError
from moderation.validation import sniff_format, validate_image
from tests.moderation.corpus import CORPUS, by_name

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000, "min_side": 16}


def test_corpus_is_large_enough():
    assert len([c for c in CORPUS if c.expected]) >= 15
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_each_file_is_refused_with_its_code_or_accepted(case):
    if case.expected is None:
        info = validate_image(case.data, **LIMITS)
        assert info.byte_size == len(case.data)
        assert info.width >= 16 and info.height >= 16
    else:
        with pytest.raises(ApplicationError) as caught:
            validate_image(case.data, **LIMITS)
        assert caught.value.code == case.expected
        assert caught.value.status in (400, 413, 415)
        assert caught.value.message


def test_byte_cap_is_checked_before_decoding():
    data = by_name("png").data
    with pytest.raises(ApplicationError) as caught:
        validate_image(data, **{**LIMITS, "max_bytes": len(data) - 1})
    assert (caught.value.code, caught.value.status) == ("file_too_large", 413)


def test_pixel_cap_uses_the_header():
    data = by_name("png").data  # 64x48 = 3072 px
    with pytest.raises(ApplicationError) as caught:
        validate_image(data, **{**LIMITS, "max_pixels": 3071})
    assert caught.value.code == "too_many_pixels"
    assert validate_image(data, **{**LIMITS, "max_pixels": 3072}).width == 64


def test_sniffing_ignores_names_and_types():
    assert sniff_format(by_name("jpeg").data[:16]) == "JPEG"
    assert sniff_format(by_name("webp").data[:16]) == "WEBP"
    assert sniff_format(b"GIF89a" + b"\x00" * 10) == "GIF"
    assert sniff_format(b"<svg") is None


def test_gif_reports_first_frame_format_and_size():
    info = validate_image(by_name("gif 2000 frames").data, **LIMITS)
    assert (info.format, info.content_type, info.width, info.height) == ("GIF", "image/gif", 32, 32)
