"""What the public is served: a re-encoded copy of an upload, never the file
that was sent.

Photos carry EXIF (a phone's GPS position, its serial number, the time),
XMP, ICC profiles and comments. The public copy is rebuilt from pixels only:
turned upright by its EXIF orientation first, colour-converted to sRGB when it
had a profile, then encoded from a fresh image that holds no metadata at all.
An animation is rebuilt from the frames as the worker judged them (composited,
an APNG default image outside the animation left out), so a file that decoders
read differently cannot show the public something else. Originals are served
only to moderators.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import IO

from django.core.files.base import ContentFile
from PIL import Image, ImageCms, ImageOps

from classifier.facade import is_animation, iter_frames, opaque_rgba, to_luminance, to_rgb
from moderation.errors import NotFound
from moderation.models import Upload, UploadStatus
from moderation.services.review import REVIEW_PERMISSION

logger = logging.getLogger(__name__)

# Source format -> (format written, file extension). BMP is served as PNG.
PUBLIC_FORMATS = {
    "JPEG": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "GIF": ("GIF", "gif"),
    "WEBP": ("WEBP", "webp"),
    "BMP": ("PNG", "png"),
}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
# Speed over the last few per cent of size: every upload gets a copy (measured
# in docs/benchmarks.md, bench.frames).
ENCODER_PARAMS: dict[str, dict] = {
    "JPEG": {"quality": 90, "optimize": True},
    "PNG": {"compress_level": 3},
    "WEBP": {"quality": 90, "method": 2},
    "GIF": {},
}
RENDITION_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, MemoryError, Image.DecompressionBombError)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode="RGBA" if image.mode == "RGBA" else "RGB"
        )
        return converted if converted is not None else image
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # an unreadable profile: the pixels as they are


def _pixels_only(image: Image.Image, *, alpha: bool) -> Image.Image:
    """A new image with the same pixels and nothing else (no info, no EXIF)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = to_luminance(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)
    if not alpha or not has_alpha:
        image = image if image.mode == "L" else to_rgb(image)
    elif image.mode != "LA":
        image = image.convert("RGBA")
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _gif_ready(image: Image.Image, fmt: str) -> Image.Image:
    """An opaque frame bound for GIF, quantized by fast octree: several times
    quicker than the median cut Pillow's GIF writer would run."""
    if fmt != "GIF" or image.mode != "RGB":
        return image
    return image.quantize(256, method=Image.Quantize.FASTOCTREE)


def _still(image: Image.Image, fmt: str) -> bytes:
    icc = image.info.get("icc_profile")
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a malformed EXIF block: served as stored, still stripped
        pass
    clean = _gif_ready(_pixels_only(_to_srgb(image, icc), alpha=fmt != "JPEG"), fmt)
    buffer = io.BytesIO()
    clean.save(buffer, fmt, **ENCODER_PARAMS[fmt])
    return buffer.getvalue()


def _animation(image: Image.Image, fmt: str) -> bytes:
    loop = image.info.get("loop")
    frames, durations = [], []
    for _, _, duration, is_default, frame in iter_frames(image):
        if is_default:
            continue
        frames.append(_pixels_only(frame, alpha=True))
        durations.append(duration)
    if all(opaque_rgba(f) for f in frames):
        frames = [_gif_ready(f.convert("RGB"), fmt) for f in frames]  # opaque: a quarter less to encode
    params: dict = {"save_all": True, "append_images": frames[1:], "duration": durations, **ENCODER_PARAMS[fmt]}
    if loop is not None:
        params["loop"] = loop
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, **params)
    return buffer.getvalue()


def public_rendition(data: bytes) -> tuple[bytes, str]:
    """(encoded bytes, file extension) of the public copy of an image."""
    image = Image.open(io.BytesIO(data))
    fmt, extension = PUBLIC_FORMATS[image.format or ""]
    if is_animation(image):
        return _animation(image, fmt), extension
    image.load()
    return _still(image, fmt), extension


def public_content_type(name: str) -> str:
    return CONTENT_TYPES[name.rsplit(".", 1)[-1]]


def upload_public_image_ensure(*, upload: Upload, data: bytes | None = None) -> Upload:
    """Make the upload's public copy if it has none (the worker does it while
    classifying; a row from before this existed gets one on first view).
    Two racing callers: one copy is kept, the other's file removed."""
    if upload.public_image:
        return upload
    if data is None:
        with upload.image.open("rb") as fh:
            data = fh.read()
    try:
        encoded, extension = public_rendition(data)
    except RENDITION_ERRORS:
        logger.warning("upload %s: no public copy could be made", upload.pk, exc_info=True)
        return upload
    upload.public_image.save(f"public.{extension}", ContentFile(encoded), save=False)
    if not Upload.objects.filter(pk=upload.pk, public_image="").update(public_image=upload.public_image.name):
        upload.public_image.delete(save=False)
        upload.refresh_from_db(fields=["public_image"])
    return upload


@dataclass(frozen=True)
class ServedImage:
    file: IO[bytes]
    content_type: str
    rendition: str  # "original" (moderators) or "public"


def upload_image_for_viewer(*, upload_id, user) -> ServedImage:
    """The only way an image leaves the platform: approved posts are public;
    otherwise only the uploader and moderators may see it. Moderators get the
    original; everyone else (the uploader too) the re-encoded public copy,
    upright and without metadata. NotFound for anything the viewer may not see,
    so an id never tells whether it exists."""
    upload = Upload.objects.filter(pk=upload_id).select_related("uploader").first()
    if upload is None:
        raise NotFound("No such image.", code="image_not_found")
    moderator = user.has_perm(REVIEW_PERMISSION)
    allowed = (
        (upload.status == UploadStatus.APPROVED and upload.uploader_id is not None)
        or (user.is_authenticated and upload.uploader_id == user.pk)
        or moderator
    )
    if not allowed:
        raise NotFound("No such image.", code="image_not_found")
    if moderator:
        return ServedImage(upload.image.open("rb"), upload.content_type, "original")
    if (
        not upload.public_image
        and upload.frame_count > 1
        and upload.status
        in (
            UploadStatus.PENDING,
            UploadStatus.PROCESSING,
        )
    ):
        # the worker makes it in a moment: the web decodes no animation for it
        raise NotFound("No such image yet.", code="image_not_found")
    upload = upload_public_image_ensure(upload=upload)
    if not upload.public_image:
        raise NotFound("No such image.", code="image_not_found")
    return ServedImage(upload.public_image.open("rb"), public_content_type(upload.public_image.name or ""), "public")
