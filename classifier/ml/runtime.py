"""The serving runtime: TFLite flatbuffers run on LiteRT. No TensorFlow import."""

from __future__ import annotations

import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class LiteModel:
    """One TFLite model, ready to run batches of any size.

    An interpreter is not thread-safe; a lock keeps one call at a time, which
    is what a prefork Celery worker needs anyway. An interpreter is allocated
    for one batch size, and re-allocating it costs about as much as running
    the model once, so one interpreter is kept for each of the last
    `batch_sizes_kept` batch sizes (a worker alternating stills, batch 1, and
    animations, a batch of frames, re-allocates nothing); 1 re-allocates on
    every change of size.
    """

    def __init__(self, model_bytes: bytes, *, num_threads: int = 1, batch_sizes_kept: int = 2) -> None:
        self._model_bytes = model_bytes
        self._threads = num_threads
        self._kept = max(1, batch_sizes_kept)
        first = Interpreter(model_content=model_bytes, num_threads=num_threads)
        self._input = first.get_input_details()[0]
        self._outputs = first.get_output_details()
        self._output_index = self._outputs[0]["index"]
        self._spare: Interpreter | None = first
        self._by_size: dict[int, Interpreter] = {}  # batch size -> its interpreter, least recently used first
        self._lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 (n, *input_shape) -> the first output, e.g. (n, classes) probabilities."""
        return self.predict_all(batch)[0]

    def _interpreter_for(self, size: int) -> Interpreter:
        interpreter = self._by_size.pop(size, None)
        if interpreter is None:
            if len(self._by_size) < self._kept:
                interpreter = self._spare or Interpreter(model_content=self._model_bytes, num_threads=self._threads)
                self._spare = None
            else:
                interpreter = self._by_size.pop(next(iter(self._by_size)))
            interpreter.resize_tensor_input(self._input["index"], [size, *self.input_shape])
            interpreter.allocate_tensors()
        self._by_size[size] = interpreter
        return interpreter

    def predict_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the model, in the interpreter's order (which need not be
        the Keras model's: pick one by its width with output_by_width)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            interpreter = self._interpreter_for(batch.shape[0])
            interpreter.set_tensor(self._input["index"], batch)
            interpreter.invoke()
            return [np.array(interpreter.get_tensor(o["index"])) for o in self._outputs]

    def output_by_width(self, outputs: list[np.ndarray], width: int) -> np.ndarray:
        return next(o for o in outputs if o.shape[-1] == width)
