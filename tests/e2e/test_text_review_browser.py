"""The review page shows what the picture says (issue 27), in Debian's
Chromium: the lines read, and their boxes drawn over the image where the text
is. The upload carries a real OCR reading of a real photo with a caption."""

from __future__ import annotations

from dataclasses import replace

import pytest

from classifier.inference import read_text
from tests.conftest import ARTIFACTS
from tests.factories import UNSURE, UploadFactory, analysis, classified
from tests.helpers import encode, sign_in, text_flag_categories, text_photo

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def seeded(transactional_db):
    """What migrations and post_migrate leave (content types, permissions, the
    roles' groups, the text flag categories): a worker test run just before
    this one can leave them flushed, and `moderator` needs its group."""
    from django.core.management.sql import emit_post_migrate_signal

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    text_flag_categories()


def test_the_review_page_draws_the_text_boxes_over_the_image(browser, live_server, seeded, moderator, request):
    image = text_photo(["DM me on WhatsApp", "+44 7700 900123"])
    upload = UploadFactory(data=encode(image, "JPEG", quality=90), width=640, height=480, image_format="JPEG")
    upload = classified(upload, replace(analysis(dict(UNSURE)), text=read_text(image)))
    assert upload.status == "in_review"  # the phone number's contact flag

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        sign_in(page, live_server.url, "mod1", "mod-pass-123")
        page.wait_for_url("**/review/")
        page.goto(f"{live_server.url}/review/{upload.pk}/")
        page.wait_for_function("document.querySelector('#subject img').complete")
        assert page.inner_text("#text-read .text-lines q >> nth=0") == "DM me on WhatsApp"
        assert "+447700900123" in page.inner_text("ul.flags")

        picture = page.locator("#subject img").bounding_box()
        boxes = page.locator("#text-boxes rect.line-box")
        assert boxes.count() == 2
        scale = picture["width"] / 640  # the image fills the figure's width (object-fit: contain, 4:3)
        for i, (drawn_x, drawn_y) in enumerate(((16, 40), (16, 84))):
            box = boxes.nth(i).bounding_box()
            # Each box covers its line where it was drawn (from x 16, y 40 and 84
            # of 640x480, 32 px type: glyphs from about y+6 to y+30), and not the other line.
            assert picture["x"] - 4 <= box["x"] <= picture["x"] + drawn_x * scale
            assert box["y"] <= picture["y"] + (drawn_y + 8) * scale
            assert (
                picture["y"] + (drawn_y + 28) * scale
                <= box["y"] + box["height"]
                <= picture["y"] + (drawn_y + 50) * scale
            )
            assert box["x"] + box["width"] <= picture["x"] + picture["width"] + 4
        assert page.get_attribute("#text-boxes rect.line-box >> nth=1", "data-text") == "+44 7700 900123"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()
