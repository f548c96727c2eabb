"""Reading text and codes in real photos (classifier.ml.ocr): the PP-OCRv4
models shipped in rapidocr-onnxruntime's wheel, on onnxruntime."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from classifier.ml.ocr import ImageText, TextReader, read_codes
from tests.helpers import qr_photo, skimage_photo, text_photo


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def test_reads_a_caption_on_a_photo_with_its_box(reader):
    image = text_photo(["DM me on WhatsApp", "+44 7700 900123"])
    text = reader.read(image)
    assert text.read and not text.cut_short
    assert [line.text for line in text.lines] == ["DM me on WhatsApp", "+44 7700 900123"]
    first, second = text.lines
    assert 0.8 < first.confidence <= 1.0
    # Boxes are in the image's pixels, around where the lines were drawn (x 16, y 40 and 84).
    left, top, right, bottom = first.box
    assert left < 30 and 25 < top < 45 and 60 < bottom < 90 and right > 200
    assert second.box[1] > first.box[1]
    assert (text.width, text.height) == image.size


def test_reads_turned_text_level(reader):
    text = reader.read(text_photo(["cheap pills at pillshop.com"], angle=-10))
    assert any("pillshop.com" in line.text for line in text.lines)
    assert any(abs(line.angle) > 5 for line in text.lines)


def test_a_photo_without_text_reads_nothing(reader):
    text = reader.read(skimage_photo("coffee", (640, 480)))
    assert text.lines == () and text.text == "" and (text.width, text.height) == (640, 480)
    # A flat image has no region for the detector: the recogniser never runs.
    assert reader.read(Image.new("RGB", (320, 240), "grey")) == ImageText(width=320, height=240)


def test_a_deadline_in_the_past_stops_recognition(reader):
    text = reader.read(text_photo(["one line", "another line"]), deadline=time.monotonic() - 1)
    assert text.cut_short and text.lines == ()


def test_many_lines_are_capped_biggest_first(reader, monkeypatch):
    monkeypatch.setattr("classifier.ml.ocr.MAX_LINES", 1)
    text = reader.read(text_photo(["first line", "second line"]))
    assert text.cut_short and len(text.lines) == 1


def test_decodes_a_qr_code_with_its_box():
    codes = read_codes(qr_photo("https://scam.example/pay?id=7", side=120))
    assert [(c.format, c.text) for c in codes] == [("QRCode", "https://scam.example/pay?id=7")]
    left, top, right, bottom = codes[0].box
    assert 640 - 12 - 120 <= left < right <= 640 - 12 and 480 - 12 - 120 <= top < bottom <= 480 - 12


def test_no_code_in_a_plain_photo():
    assert read_codes(skimage_photo("coffee", (640, 480))) == ()


def test_the_facade_reads_a_shrunk_copy_within_its_bounds(settings):
    from classifier.inference import read_text

    settings.TEXT_DECODE_SIDE = 320
    text = read_text(text_photo(["DM me on WhatsApp"], font_px=48))  # 640x480, read at 320x240
    assert (text.width, text.height) == (320, 240)
    (line,) = text.lines
    assert line.text == "DM me on WhatsApp" and line.box[2] <= 320 and line.box[1] < 40


def test_text_is_read_on_frames_spread_over_an_animation():
    from classifier.inference import _spread

    assert _spread(3, 4) == [0, 1, 2]
    assert _spread(16, 4) == [0, 5, 10, 15]
    assert _spread(16, 1) == [0]


def test_an_animations_text_is_read_on_its_judged_frames_within_the_cap(active_model, settings):
    from classifier.inference import analyze_frames
    from tests.helpers import animation

    frames = [
        skimage_photo("coffee", (640, 480)),
        text_photo(["call +44 7700 900123"], photo="coffee"),
        skimage_photo("chelsea", (640, 480)),
    ]
    data = animation(frames, "GIF", [400, 400, 400])
    settings.TEXT_MAX_FRAMES = 3
    read = analyze_frames(data, max_frames=8)
    assert [f.analysis.text is not None for f in read] == [True, True, True]
    assert read[1].analysis.text.text == "call +44 7700 900123"
    settings.TEXT_MAX_FRAMES = 2  # the first and the last frame only
    capped = analyze_frames(data, max_frames=8)
    assert [f.analysis.text is not None for f in capped] == [True, False, True]
