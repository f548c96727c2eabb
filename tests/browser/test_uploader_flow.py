"""The uploader's pages driven as a person would (issue 17): the upload form
waits for Post, shows thumbnails and human sizes, its drop zone answers Enter
and Space; a post's status, reason and expected wait appear live; a
rejection can be appealed from a field that fits; feed cards are wide and
their images fill them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from moderation.humanize import human_bytes
from moderation.models import Upload, UploadStatus
from moderation.services.uploads import upload_create
from tests.browser.world import SURE_BAG, build_users, build_world
from tests.conftest import ARTIFACTS, wait_for
from tests.factories import _png, analysis, classified, policy_approves_nothing
from tests.helpers import encode

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
SHOTS = ARTIFACTS / "screenshots"


def _photo(path, side: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    data = encode(Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)), "PNG")
    path.write_bytes(data)
    return data


def test_upload_waits_for_post_keeps_the_caption_and_shows_the_verdict_live(
    browser, live_server, signed_in_context, tmp_path
):
    world = build_users()
    policy_approves_nothing()
    big, small = tmp_path / "big photo.png", tmp_path / "small.png"
    big_data, small_data = _photo(big, 1100, 1), _photo(small, 40, 2)
    page = signed_in_context(world.users["poster"]).new_page()
    page.goto(f"{live_server.url}/upload/")

    page.bring_to_front()
    zone = page.locator("#dropzone")
    with page.expect_file_chooser() as chooser:
        zone.press("Enter")
    chooser.value.set_files([str(big)])
    with page.expect_file_chooser() as chooser:
        zone.press(" ")
    chooser.value.set_files([str(small)])

    # Picked, not sent: two thumbnails that loaded, sizes as people read them.
    assert page.locator("#picked li").count() == 2
    assert page.eval_on_selector_all("#picked img", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    picked_text = page.inner_text("#picked")
    assert human_bytes(len(big_data)) in picked_text and re.search(r"\d+\.\d MB", picked_text)
    assert human_bytes(len(small_data)) in picked_text
    assert Upload.objects.count() == 0

    # Each image has its own caption (typed after picking, kept).
    page.fill("#caption-0", "The big one")
    page.fill("#caption-1", "The small one")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "flow-upload-picked.png"))
    page.click("#post")
    assert wait_for(lambda: Upload.objects.count() == 2, timeout=20)
    assert dict(Upload.objects.values_list("width", "caption")) == {1100: "The big one", 40: "The small one"}

    # The worker's verdict (a frozen analysis here) reaches the page without a reload.
    for upload in Upload.objects.all():
        classified(upload, analysis(SURE_BAG, adult=0.3 if upload.width == 1100 else 0.95))
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows [data-role=badge]')].map(b => b.textContent).sort().join('|')"
        " === 'Held for review|Rejected'"
    )
    rows = page.inner_text("#rows")
    assert "It is held because it may show adult content." in rows
    assert "It was rejected because it may show adult content." in rows
    assert "A moderator will look at it" in rows
    page.screenshot(path=str(SHOTS / "flow-upload-verdicts.png"), full_page=True)


def test_my_posts_follow_a_verdict_live_and_the_appeal_field_fits(browser, live_server, signed_in_context):
    world = build_world()
    pending = upload_create(data=_png(50), filename="new.png", caption="Just posted", uploader=world.users["poster"])
    page = signed_in_context(world.users["poster"]).new_page()
    page.goto(f"{live_server.url}/posts/")
    visible_appeals = page.eval_on_selector_all(
        ".post",
        "posts => posts.filter(p => p.querySelector('[data-role=appeal]').offsetParent !== null).map(p => p.id)",
    )
    assert sorted(visible_appeals) == sorted(
        f"post-{world.posts[name].pk}" for name in ("auto_rejected", "moderator_rejected")
    )
    card = f"#post-{pending.pk}"
    assert page.inner_text(f"{card} [data-role=badge]") == "Being checked"

    classified(Upload.objects.get(pk=pending.pk), analysis(SURE_BAG, adult=0.95))
    page.wait_for_function(f"document.querySelector('{card} [data-role=badge]').textContent === 'Rejected'")
    assert page.inner_text(f"{card} [data-role=reason]") == "It was rejected because it may show adult content."
    field = page.locator(f"{card} textarea")
    assert field.is_visible()
    box, form = field.bounding_box(), page.locator(f"{card} figcaption").bounding_box()
    assert box["width"] >= form["width"] - 2 * 16 - 2 and box["height"] >= 60  # the card's width, several lines
    field.fill("It is a bag, not what the filter thinks.")
    page.click(f"{card} button[type=submit]")
    page.wait_for_url(f"**/posts/#post-{pending.pk}")  # back at the post
    assert page.inner_text(f"{card} [data-role=badge]") == "Appeal under review"
    assert page.evaluate(f"document.getElementById('post-{pending.pk}').getBoundingClientRect().top") < 844
    assert Upload.objects.get(pk=pending.pk).status == UploadStatus.APPEALED
    page.screenshot(path=str(SHOTS / "flow-my-posts-appealed.png"), full_page=True)


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_feed_cards_are_wide_and_their_images_fill_them(browser, live_server, signed_in_context, width, height):
    build_world()
    page = signed_in_context().new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/feed/")
    cards = page.eval_on_selector_all(
        ".post",
        """posts => posts.map(p => { const img = p.querySelector('img');
            return { card: p.getBoundingClientRect().width, img: img.getBoundingClientRect().width,
                     fit: getComputedStyle(img).objectFit, margin: getComputedStyle(p).marginLeft }; })""",
    )
    assert len(cards) == 2  # published and overturned
    for card in cards:
        assert card["card"] >= min(260, width - 40), card  # not the 120 px cards of before
        assert abs(card["img"] - card["card"]) <= 2 and card["fit"] == "cover", card  # no letterbox
        assert card["margin"] == "0px", card  # no default figure margin


def test_sign_in_links_and_signs_in(browser, live_server, signed_in_context):
    world = build_users()
    page = signed_in_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_role("link", name="Create an account").is_visible()
    assert page.get_by_role("link", name="Forgot your password?").is_visible()
    page.fill("input[name=username]", "poster")
    page.fill("input[name=password]", "poster-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/upload/")
    assert world.users["poster"].username in page.inner_text("header")


def test_a_file_too_large_or_not_an_image_is_refused_before_post_in_the_servers_words(
    browser, live_server, signed_in_context, tmp_path, settings
):
    from moderation.humanize import sizes_over_limit

    settings.UPLOAD_MAX_BYTES = 50_000
    world = build_users()
    big, fine, text = tmp_path / "big.png", tmp_path / "fine.png", tmp_path / "notes.png"
    big_data, _ = _photo(big, 400, 3), _photo(fine, 40, 4)
    text.write_bytes(b"these are my notes, not a picture\n" * 4)
    assert len(big_data) > settings.UPLOAD_MAX_BYTES
    page = signed_in_context(world.users["poster"]).new_page()
    page.goto(f"{live_server.url}/upload/")
    page.set_input_files("#files", [str(big), str(fine), str(text)])
    page.wait_for_function("document.querySelectorAll('#picked li').length === 3")
    shown, cap = sizes_over_limit(len(big_data), settings.UPLOAD_MAX_BYTES)
    problems = page.eval_on_selector_all("#picked .problem", "els => els.map(e => e.textContent)")
    assert problems == [
        f"Too large: the file is {shown}; the limit is {cap}.",  # the server's numbers
        "The file is not an image the site takes (JPEG, PNG, WebP, GIF or BMP).",
    ]
    assert "1 image" in page.inner_text("#picked-summary") and "2 refused" in page.inner_text("#picked-summary")
    page.fill("#caption-1", "Only this one")
    page.click("#post")
    assert wait_for(lambda: Upload.objects.count() == 1, timeout=20)
    assert Upload.objects.get().caption == "Only this one"  # the refused files were never sent
    page.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 1")
