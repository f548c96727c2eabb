"""The serving runtime: TFLite flatbuffers run on LiteRT. No TensorFlow import."""

from __future__ import annotations

import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class LiteModel:
    """One TFLite model, ready to run batches of any size.

    An interpreter is not thread-safe; a lock keeps one call at a time, which
    is what a prefork Celery worker needs anyway.
    """

    def __init__(self, model_bytes: bytes, *, num_threads: int = 1) -> None:
        self._interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self._output_index = self._outputs[0]["index"]
        self._batch_size: int | None = None
        self._lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 (n, *input_shape) -> the first output, e.g. (n, classes) probabilities."""
        return self.predict_all(batch)[0]

    def predict_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the model, in the interpreter's order (which need not be
        the Keras model's: pick one by its width with output_by_width)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if batch.shape[0] != self._batch_size:
                self._interpreter.resize_tensor_input(self._input["index"], [batch.shape[0], *self.input_shape])
                self._interpreter.allocate_tensors()
                self._batch_size = batch.shape[0]
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            return [np.array(self._interpreter.get_tensor(o["index"])) for o in self._outputs]

    def output_by_width(self, outputs: list[np.ndarray], width: int) -> np.ndarray:
        return next(o for o in outputs if o.shape[-1] == width)
