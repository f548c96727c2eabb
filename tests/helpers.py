"""Small builders shared by the tests: real images, encoded in memory."""

from __future__ import annotations

import http.server
import io
import ssl
import threading

import numpy as np
from PIL import Image

from classifier.ml.datasets import load_split


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def fashion_png(index: int, split: str = "test") -> tuple[bytes, int]:
    """A real Fashion-MNIST image as PNG bytes, with its label index."""
    data = _split(split)
    return encode(Image.fromarray(data.images[index], "L")), int(data.labels[index])


_SPLITS: dict = {}


def _split(name: str):
    if name not in _SPLITS:
        _SPLITS[name] = load_split(name)
    return _SPLITS[name]


def photo_like(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """A small RGB image with structure (gradients and a block), not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    rgb[height // 4 : height // 2, width // 4 : width // 2] = rng.integers(0, 255, 3)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def skimage_photo(name: str, size: tuple[int, int] = (300, 200)) -> Image.Image:
    """One of scikit-image's sample photos as an upload of it decodes (RGB,
    through JPEG), resized to `size`."""
    from tests.conftest import skimage_jpeg

    return Image.open(io.BytesIO(skimage_jpeg(name))).convert("RGB").resize(size)


def animation(frames: list[Image.Image], fmt: str, durations: list[int], **params) -> bytes:
    """An animated `fmt` (GIF, PNG, WebP) of these frames, looping."""
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=durations, loop=0, **params)
    return buffer.getvalue()


def sign_in(page, base: str, username: str, password: str) -> None:
    """Sign in through the real form in a Playwright page, as a person would."""
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


class FakeReceiver:
    """A partner's receiver: records each request, answers a set status and headers."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        status: int = 200,
        headers: dict | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.requests: list[tuple[dict, bytes]] = []
        self.status, self.headers = status, headers or {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = host, self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}/hook"
        # A short poll: shutdown() waits up to one poll interval (0.5 s by
        # default, paid in the teardown of every test with a receiver).
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # fonts-dejavu-core (make fonts)


def text_photo(
    lines: list[str], *, photo: str = "coffee", size: tuple[int, int] = (640, 480), font_px: int = 32, angle: float = 0
) -> Image.Image:
    """A real photo with text laid over it, white with a black outline, as a
    caption or a meme is: one line of `lines` under the other, turned `angle` degrees."""
    from PIL import ImageDraw, ImageFont

    image = skimage_photo(photo, size)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    face = ImageFont.truetype(FONT, font_px)
    for i, line in enumerate(lines):
        draw.text((16, 40 + i * int(font_px * 1.4)), line, font=face, fill="white", stroke_width=2, stroke_fill="black")
    if angle:
        layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, center=(16, 40))
    image.paste(layer, (0, 0), layer)
    return image


def qr_photo(
    payload: str, *, photo: str = "chelsea", side: int = 160, size: tuple[int, int] = (640, 480)
) -> Image.Image:
    """A real photo with a QR code of `payload` pasted in its corner (zxing-cpp writes it)."""
    import zxingcpp

    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode)
    qr = Image.fromarray(np.asarray(code.to_image(scale=1, add_quiet_zones=True))).convert("RGB")
    image = skimage_photo(photo, size)
    image.paste(qr.resize((side, side), Image.Resampling.NEAREST), (size[0] - side - 12, size[1] - side - 12))
    return image


def text_flag_categories() -> None:
    """The six text flag categories migration 0020 seeds, made again where a
    transactional test before this one flushed the seeded rows."""
    import importlib

    from django.apps import apps

    importlib.import_module("moderation.migrations.0020_text_in_images").seed_text_flags(apps, None)


def listing_flag_category() -> None:
    """The listing-mismatch flag category migration 0009 seeds, made again
    where a transactional test before this one flushed the seeded rows."""
    import importlib

    from moderation.models import FlagCategory

    name, review, reject, description = importlib.import_module(
        "moderation.migrations.0009_taxonomy_and_risk_policy"
    ).LISTING_MISMATCH
    FlagCategory.objects.get_or_create(
        name=name,
        defaults={
            "kind": "listing_mismatch",
            "review_threshold": review,
            "reject_threshold": reject,
            "description": description,
        },
    )
