"""Text in images, read offline: PP-OCRv4 detection and recognition (the ONNX
weights the PyPI package rapidocr-onnxruntime ships in its wheel, Apache-2.0)
run on onnxruntime with our own small pre- and post-processing (numpy, Pillow,
scipy), so neither OpenCV nor the package's own code is needed at run time.

Cost is bounded three ways: a cheap presence step (the detector alone on a
small copy) decides whether the full read runs at all; the detector never sees
more than DETECT_SIDE pixels a side and at most MAX_LINES lines are
recognised; and a deadline stops recognition between batches.

The choice of model and its measured figures: docs/benchmarks.md, "Text in
images"."""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DETECT_SIDE = 640  # the longest side the detector sees (text of 20 px on a 1280 px photo is 10 px there)
REC_HEIGHT = 48
REC_MAX_RATIO = 25  # a line crop is at most 25 times as wide as high (wider: cut)
MAX_LINES = 24
MAX_REGIONS = 400  # detector regions looked at (a page of small print has fewer)
MIN_CONFIDENCE = 0.5
BOX_THRESHOLD = 0.5  # a region is text when its mean probability reaches this (PP-OCR's default)
REC_BATCH = 6

CODE_FORMATS = ("QRCode", "MicroQRCode", "DataMatrix", "Aztec", "EAN13", "EAN8", "UPCA", "Code128")


@dataclass(frozen=True)
class TextLine:
    """One line of text read from an image: the box is (left, top, right,
    bottom) in the pixels of the image as judged (upright, decoded)."""

    text: str
    confidence: float  # mean probability of its characters, 0..1
    box: tuple[int, int, int, int]
    angle: float = 0.0  # degrees the line is turned (clockwise on screen)


@dataclass(frozen=True)
class DecodedCode:
    """A QR code or barcode decoded from an image."""

    format: str  # "QRCode", "EAN13", ...
    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class ImageText:
    """What an image says: its text lines and its decoded codes.

    `read` is False when the presence step found no text (the recogniser did
    not run); `cut_short` when the deadline or the line cap stopped it."""

    lines: tuple[TextLine, ...] = ()
    codes: tuple[DecodedCode, ...] = ()
    read: bool = False
    cut_short: bool = False
    width: int = 0  # of the image the boxes are in
    height: int = 0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class LineBox:
    """A detected line: its centre, length and height along its own angle."""

    cx: float
    cy: float
    length: float
    height: float
    angle: float  # degrees, clockwise on screen (image y grows downwards)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The axis-aligned box around the turned rectangle."""
        a = math.radians(self.angle)
        half_w = (abs(math.cos(a)) * self.length + abs(math.sin(a)) * self.height) / 2
        half_h = (abs(math.sin(a)) * self.length + abs(math.cos(a)) * self.height) / 2
        return (
            max(0, int(self.cx - half_w)),
            max(0, int(self.cy - half_h)),
            int(math.ceil(self.cx + half_w)),
            int(math.ceil(self.cy + half_h)),
        )

    def scaled(self, factor: float, size: tuple[int, int]) -> LineBox:
        # DB's unclip: the detector marks a shrunk kernel of each line; it grows
        # back by area x 1.6 / perimeter on every side.
        grow = self.length * self.height * 1.6 / (2 * (self.length + self.height))
        height = self.height + 2 * grow
        # A line's first and last letters lie partly outside its kernel's
        # ends: a quarter of the line's height more at each end keeps them.
        return LineBox(
            min(size[0], self.cx * factor),
            min(size[1], self.cy * factor),
            (self.length + 2 * grow + 0.5 * height) * factor,
            height * factor,
            self.angle,
        )

    def crop(self, image: Image.Image) -> Image.Image:
        """The line, turned level."""
        if abs(self.angle) < 2:
            return image.crop(self.box)
        left, top, right, bottom = self.box
        pad = int(self.length / 2 + self.height)
        around = image.crop((int(self.cx) - pad, int(self.cy) - pad, int(self.cx) + pad, int(self.cy) + pad))
        level = around.rotate(self.angle, resample=Image.Resampling.BILINEAR, center=(pad, pad))
        return level.crop(
            (
                int(pad - self.length / 2),
                int(pad - self.height / 2),
                int(math.ceil(pad + self.length / 2)),
                int(math.ceil(pad + self.height / 2)),
            )
        )


def _shape(points: np.ndarray) -> LineBox:
    """The turned rectangle around a region's pixels (x, y), by its principal axis."""
    centre = points.mean(axis=0)
    if len(points) < 3:
        return LineBox(float(centre[0]), float(centre[1]), 1.0, 1.0, 0.0)
    values, vectors = np.linalg.eigh(np.cov((points - centre).T))
    major = vectors[:, int(np.argmax(values))]
    if major[0] < 0:
        major = -major
    angle = math.degrees(math.atan2(float(major[1]), float(major[0])))
    if abs(angle) < 3 or abs(angle) > 45:  # level text, or a region too short to have an angle
        angle = 0.0
    a = math.radians(angle)
    along = (points - centre) @ np.array([math.cos(a), math.sin(a)], np.float32)
    across = (points - centre) @ np.array([-math.sin(a), math.cos(a)], np.float32)
    low, high = float(along.min()), float(along.max())
    bottom, top = float(across.min()), float(across.max())
    cx = float(centre[0]) + math.cos(a) * (low + high) / 2 - math.sin(a) * (bottom + top) / 2
    cy = float(centre[1]) + math.sin(a) * (low + high) / 2 + math.cos(a) * (bottom + top) / 2
    return LineBox(cx, cy, high - low + 1, top - bottom + 1, angle)


def _join_lines(shapes: list[LineBox]) -> list[list[int]]:
    """Regions on one line (same angle, centres on one band, gaps under two
    heights), as groups of indices."""
    parent = list(range(len(shapes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(shapes):
        ra = math.radians(a.angle)
        direction = (math.cos(ra), math.sin(ra))
        for j in range(i + 1, len(shapes)):
            b = shapes[j]
            if abs(a.angle - b.angle) > 6 or max(a.height, b.height) > 1.6 * min(a.height, b.height):
                continue
            dx, dy = b.cx - a.cx, b.cy - a.cy
            along = dx * direction[0] + dy * direction[1]
            across = -dx * direction[1] + dy * direction[0]
            gap = abs(along) - (a.length + b.length) / 2
            # Heights are of the detector's shrunk kernels: a word space is
            # about two of them.
            if abs(across) < 0.5 * min(a.height, b.height) and gap < 3.0 * max(a.height, b.height):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(shapes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _weights(name: str) -> bytes:
    # Found, not imported: the package's own __init__ imports OpenCV, which we
    # neither need nor install.
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("rapidocr-onnxruntime is not installed (it ships the OCR weights)")
    return (Path(next(iter(spec.submodule_search_locations))) / "models" / name).read_bytes()


DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


class TextReader:
    """The detector and recogniser, loaded once per process."""

    def __init__(self, *, threads: int = 1, detect_side: int = DETECT_SIDE) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._det = ort.InferenceSession(_weights(DET_MODEL), options, providers=providers)
        self._rec = ort.InferenceSession(_weights(REC_MODEL), options, providers=providers)
        characters = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._characters = ["", *characters, " "]  # index 0 is CTC's blank
        self._lock = threading.Lock()
        self.detect_side = detect_side

    # -- detection ---------------------------------------------------------

    def _probability_map(self, image: Image.Image, side: int) -> tuple[np.ndarray, float]:
        """The detector's text probability per pixel of a copy whose longest
        side is at most `side` (a multiple of 32), and that copy's scale."""
        scale = min(1.0, side / max(image.size))
        width = max(32, int(round(image.width * scale / 32)) * 32)
        height = max(32, int(round(image.height * scale / 32)) * 32)
        pixels = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), np.float32)
        batch = ((pixels / 127.5) - 1.0).transpose(2, 0, 1)[np.newaxis]
        with self._lock:
            probability = self._det.run(None, {"x": batch})[0][0, 0]
        return probability, width / image.width

    def detect(self, image: Image.Image) -> list[LineBox]:
        """The text lines of an image, top to bottom: the detector's regions
        (words, or parts of lines), joined into lines, each with its angle."""
        from scipy import ndimage

        probability, scale = self._probability_map(image, self.detect_side)
        mask = ndimage.binary_dilation(probability > 0.3, structure=np.ones((2, 2), bool))
        labels, count = ndimage.label(mask)
        regions = []
        for index, region in enumerate(ndimage.find_objects(labels)[:MAX_REGIONS], start=1):
            if region is None:
                continue
            inside = labels[region] == index
            if inside.sum() < 6 or float(probability[region][inside].mean()) < BOX_THRESHOLD:
                continue
            ys, xs = np.nonzero(inside)
            regions.append(np.stack([xs + region[1].start, ys + region[0].start], axis=1).astype(np.float32))
        shapes = [_shape(points) for points in regions]
        groups = _join_lines(shapes)
        lines = [_shape(np.concatenate([regions[i] for i in group])) for group in groups]
        return sorted((line.scaled(1 / scale, image.size) for line in lines), key=lambda b: (b.box[1], b.box[0]))

    # -- recognition -------------------------------------------------------

    def _line_pixels(self, image: Image.Image, line: LineBox) -> np.ndarray:
        crop = line.crop(image)
        width = max(1, min(REC_HEIGHT * REC_MAX_RATIO, round(crop.width * REC_HEIGHT / max(1, crop.height))))
        crop = crop.convert("RGB").resize((width, REC_HEIGHT), Image.Resampling.BILINEAR)
        # The model was trained on BGR crops.
        return (np.asarray(crop, np.float32)[:, :, ::-1] / 127.5 - 1.0).transpose(2, 0, 1)

    def recognise(
        self, image: Image.Image, boxes: list[LineBox], *, deadline: float | None = None
    ) -> tuple[list[TextLine], bool]:
        """Each box's text; (lines, cut short by the deadline)."""
        crops = [self._line_pixels(image, box) for box in boxes]
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[2])
        results: dict[int, TextLine] = {}
        for start in range(0, len(order), REC_BATCH):
            if deadline is not None and time.monotonic() > deadline:
                return [results[i] for i in sorted(results)], True
            chunk = order[start : start + REC_BATCH]
            width = max(max(crops[i].shape[2] for i in chunk), REC_HEIGHT * 320 // 48)
            batch = np.zeros((len(chunk), 3, REC_HEIGHT, width), np.float32)
            for row, i in enumerate(chunk):
                batch[row, :, :, : crops[i].shape[2]] = crops[i]
            with self._lock:
                output = self._rec.run(None, {"x": batch})[0]
            for row, i in enumerate(chunk):
                text, confidence = self._decode(output[row])
                if text.strip() and confidence >= MIN_CONFIDENCE:
                    results[i] = TextLine(text.strip(), round(confidence, 4), boxes[i].box, round(boxes[i].angle, 1))
        return [results[i] for i in sorted(results)], False

    def _decode(self, output: np.ndarray) -> tuple[str, float]:
        """CTC greedy decoding: repeated indices fold, blanks drop."""
        indices = output.argmax(axis=1)
        probabilities = output.max(axis=1)
        keep = indices != 0
        keep[1:] &= indices[1:] != indices[:-1]
        if not keep.any():
            return "", 0.0
        text = "".join(self._characters[i] for i in indices[keep] if i < len(self._characters))
        return text, float(probabilities[keep].mean())

    def read(self, image: Image.Image, *, deadline: float | None = None) -> ImageText:
        """The text lines of an image (no codes: see read_codes). The detector
        is the presence step: where it finds no line, nothing else runs."""
        boxes = self.detect(image)
        if not boxes:
            return ImageText(width=image.width, height=image.height)
        cut = len(boxes) > MAX_LINES
        if cut:  # the biggest lines are the ones a viewer reads
            boxes = sorted(sorted(boxes, key=lambda b: -b.height)[:MAX_LINES], key=lambda b: (b.box[1], b.box[0]))
        lines, late = self.recognise(image, boxes, deadline=deadline)
        return ImageText(tuple(lines), (), True, cut or late, image.width, image.height)


def read_codes(image: Image.Image, *, max_codes: int = 8) -> tuple[DecodedCode, ...]:
    """QR codes and barcodes in an image (zxing-cpp): the 2-D codes and the
    common retail and shipping barcodes, upright (turning every image four
    ways would triple the cost; a QR code is found at any angle anyway)."""
    import zxingcpp

    found = []
    formats = [getattr(zxingcpp.BarcodeFormat, name) for name in CODE_FORMATS]
    for result in zxingcpp.read_barcodes(image.convert("L"), formats=formats, try_rotate=False)[:max_codes]:
        position = result.position
        xs = [position.top_left.x, position.top_right.x, position.bottom_left.x, position.bottom_right.x]
        ys = [position.top_left.y, position.top_right.y, position.bottom_left.y, position.bottom_right.y]
        found.append(DecodedCode(result.format.name, result.text, (min(xs), min(ys), max(xs), max(ys))))
    return tuple(found)
