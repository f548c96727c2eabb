"""Text in images cannot hold a worker (issue 27): a page of small print is
read at a bounded size, at most MAX_LINES lines are recognised, and reading
stops at the upload's deadline, keeping what it had and saying it was cut
short; a giant image is read from a shrunk copy. The lists' regular
expressions cannot be made to backtrack for ever."""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image, ImageDraw, ImageFont

from classifier.inference import read_text
from classifier.ml.ocr import MAX_LINES
from moderation.text_match import Term, compile_terms, term_error, term_hits
from tests.helpers import FONT


def _page_of_print(side: int = 1280, lines: int = 60) -> Image.Image:
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(FONT, side // (lines + 10))
    for i in range(lines):
        draw.text((10, 10 + i * side // (lines + 4)), f"line {i} call 555 0199 {i:03d} now", font=face, fill="black")
    return image


def test_a_page_of_print_is_read_to_the_line_cap_and_no_further(settings):
    settings.TEXT_READ_SECONDS = 60
    text = read_text(_page_of_print(), deadline=time.monotonic() + 60)
    assert len(text.lines) <= MAX_LINES and text.cut_short


def test_reading_stops_at_the_deadline_and_says_so():
    text = read_text(_page_of_print(), deadline=time.monotonic())  # already due: no batch is recognised
    assert text.cut_short and text.lines == ()


def test_a_giant_image_is_read_from_a_copy_at_most_text_decode_side(settings):
    settings.TEXT_DECODE_SIDE = 640
    text = read_text(Image.new("RGB", (6000, 4000), "white"))
    assert (text.width, text.height) == (640, 427) and text.lines == ()


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*$", r"(\w+\s?)+$", r"(x+x+)+y"])
def test_a_catastrophic_regex_is_refused_before_it_can_run(pattern):
    assert re.compile(pattern)  # valid Python: only our check stands between it and a worker
    assert term_error(pattern, "regex")
    assert term_hits([("a" * 40 + "!", 0.9)], compile_terms([Term(pattern, "regex")])) == []
