"""Issue 18, "frames cheaply": an opaque animation frame reaches the models as
RGB, and every model's input from it is exactly what the RGBA frame gave."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.ml.frames import judged, sample_frames, thumbnail_jpeg
from classifier.ml.hashing import pdq_input
from classifier.ml.nsfw import prepare
from classifier.ml.nsfwjs import model_pixels
from classifier.ml.preprocessing import image_to_product_pixels, photo_input
from tests.helpers import animation, skimage_photo


def test_an_opaque_frame_gives_every_model_the_input_the_rgba_frame_gave():
    rgba = skimage_photo("chelsea").convert("RGBA")
    rgb = judged(rgba)
    assert rgb.mode == "RGB"
    assert np.array_equal(photo_input(rgb), photo_input(rgba))
    assert np.array_equal(image_to_product_pixels(rgb), image_to_product_pixels(rgba))
    assert np.array_equal(pdq_input(rgb), pdq_input(rgba))
    assert np.array_equal(prepare([rgb]), prepare([rgba]))
    assert np.array_equal(model_pixels(rgb), model_pixels(rgba))
    assert thumbnail_jpeg(rgb) == thumbnail_jpeg(rgba)


def test_a_frame_with_one_transparent_pixel_keeps_its_alpha():
    rgba = skimage_photo("coffee").convert("RGBA")
    rgba.putpixel((5, 5), (0, 0, 0, 0))
    assert judged(rgba).mode == "RGBA"


@pytest.mark.parametrize("transparent", [False, True])
def test_sampled_gif_frames_are_rgb_only_when_nothing_shows_through(transparent):
    frames = [skimage_photo("chelsea"), skimage_photo("coffee")]
    if transparent:
        # A palette entry marked transparent, used by a corner of each frame.
        frames = [f.quantize(255) for f in frames]
        for f in frames:
            f.paste(255, (0, 0, 20, 20))
        data = animation(frames, "GIF", [100, 100], transparency=255, disposal=2)
    else:
        data = animation(frames, "GIF", [100, 100])
    sampled = sample_frames(data, max_frames=8)
    assert len(sampled) == 2
    assert {f.image.mode for f in sampled} == ({"RGBA"} if transparent else {"RGB"})
