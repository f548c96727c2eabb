"""Training and export to TFLite. TensorFlow/Keras is imported here and, lazily
inside the builder functions, in `architectures.py` and `efficientnet_lite.py`;
serving (`runtime.py`) needs only LiteRT and onnxruntime."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifier.ml.architectures import build, served
from classifier.ml.architectures import get as get_architecture
from classifier.ml.augment import flip_and_shift, random_erase
from classifier.ml.evaluation import classification_report
from classifier.ml.preprocessing import normalize


@dataclass
class TrainedModel:
    architecture: str
    class_names: list[str]
    tflite_bytes: bytes
    keras_bytes: bytes
    epochs: int
    train_seconds: float
    train_examples: int
    report: dict[str, Any] = field(default_factory=dict)


def _progress_callback(epochs: int, steps: int):
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        """One tqdm bar per epoch, closed with the epoch's loss and accuracy.
        `epochs` may change on the way (a time budget)."""

        def __init__(self):
            super().__init__()
            self.epochs = epochs

        def on_epoch_begin(self, epoch, logs=None):
            self.bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=True)

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if isinstance(v, (int, float))})
            self.bar.close()

    return EpochProgress()


def epochs_within_budget(done: int, elapsed: float, budget: float, most: int) -> int:
    """How many epochs training should run in all, `done` of them having taken
    `elapsed` seconds: as many as fit in `budget` at the pace so far, at most
    `most`, and never fewer than are done."""
    fit = done + int(max(0.0, budget - elapsed) // (elapsed / done))
    return max(done, min(most, fit))


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (else mixed precision is slower)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = set(fh.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


@contextlib.contextmanager
def precision(policy: str):
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def set_threads(threads: int | None) -> None:
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # already initialised in this process


def export_tflite(model, *, quantize: bool = False, representative=None) -> bytes:
    """The model as a TFLite flatbuffer. `quantize`: int8 weights
    (dynamic-range), and int8 activations too when a `representative` data set
    (a callable yielding [input batch] lists) calibrates them; input and
    outputs stay float32 either way."""
    import tensorflow as tf

    # Through a SavedModel: the converter's Keras entry point does not handle
    # every Keras 3 functional model. Export prints the signature; keep
    # progress output clean.
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if representative is not None:
                converter.representative_dataset = representative
        return converter.convert()


def keras_to_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def keras_from_bytes(data: bytes):
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        # The weights and the architecture; a warm start compiles its own
        # optimizer (so the recipe's schedule needs no deserialising).
        return keras.models.load_model(path, compile=False)


def _compile_for_fine_tuning(model, spec, learning_rate: float) -> None:
    import keras

    # Batch norm keeps the statistics it learnt on the whole base set: a few
    # hundred corrections from a shifted distribution would otherwise pull
    # the running means towards them, and the base images would pay.
    # Measured with bn-cnn (0.9473), 12,000 base images + 800 inverted ones,
    # two epochs: base test 0.9398 and inverted held-out 0.7655 with the
    # statistics updated; 0.9405 and 0.8135 with them frozen.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
        if spec.one_hot_labels
        else keras.losses.SparseCategoricalCrossentropy()
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])


def train(
    *,
    architecture: str,
    class_names: Sequence[str],
    train_pixels: np.ndarray,
    train_labels: np.ndarray,
    test_pixels: np.ndarray,
    test_labels: np.ndarray,
    epochs: int | None = None,
    batch_size: int | None = None,
    sample_weight: np.ndarray | None = None,
    initial_keras_bytes: bytes | None = None,
    time_budget_seconds: float | None = None,
    fine_tune_learning_rate: float = 5e-4,
    progress: bool = True,
    seed: int = 0,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> TrainedModel:
    """Train (or warm-start) a model on uint8 pixels, evaluate the exported
    TFLite model on the test pixels, and return both artifacts.

    Epochs, batch size and augmentation default to the architecture's recipe.
    With a time budget (`time_budget_seconds`, else the recipe's) training
    runs as many epochs as fit in it, at most the recipe's (the pace is
    measured after each epoch and the learning-rate schedule follows), unless
    `epochs` is given. `on_epoch(epoch, epochs, seconds)` hears of each epoch
    done (epochs: the plan so far). For an embedding head, the "pixels" are the backbone's
    embeddings. A warm start continues from `initial_keras_bytes` with a small
    constant learning rate and its batch-norm statistics frozen, so that it
    adapts without forgetting what it knew.
    """
    import keras

    spec = get_architecture(architecture)
    budget = None if epochs or initial_keras_bytes else time_budget_seconds or spec.time_budget_seconds
    epochs = epochs or spec.epochs
    batch_size = batch_size or spec.batch_size
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    steps = int(np.ceil(len(train_pixels) / batch_size))
    mixed = spec.mixed_precision and not initial_keras_bytes and native_bfloat16()
    if initial_keras_bytes:
        model = keras_from_bytes(initial_keras_bytes)
        _compile_for_fine_tuning(model, spec, fine_tune_learning_rate)
    else:
        with precision("mixed_bfloat16" if mixed else "float32"):
            total_steps = keras.Variable(steps * epochs, dtype="int64", trainable=False, name="total_steps")
            model = build(
                architecture, num_classes=len(class_names), side=train_pixels.shape[1], total_steps=total_steps
            )
    labels = np.asarray(train_labels, dtype=np.int64)
    targets = np.eye(len(class_names), dtype=np.float32)[labels] if spec.one_hot_labels else labels
    progress_bar = _progress_callback(epochs, steps) if progress else None
    prepare = model_input_preparer(architecture)
    started = time.perf_counter()
    epoch = 0
    while epoch < epochs:
        pixels = flip_and_shift(train_pixels, rng, max_shift=spec.max_shift) if spec.augment else train_pixels
        # Under a budget the plan exists from the second epoch on; the first
        # runs without erasing.
        planned = epochs if epoch or not budget else 0
        if spec.erase_probability and planned >= spec.erase_min_epochs:
            pixels = random_erase(pixels, rng, spec.erase_probability)
        model.fit(
            epoch_batches(prepare(pixels), targets, sample_weight, batch_size, rng),
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=0,
            shuffle=False,  # epoch_batches shuffles
            callbacks=[progress_bar] if progress_bar else [],
        )
        epoch += 1
        if budget:
            epochs = epochs_within_budget(epoch, time.perf_counter() - started, budget, spec.epochs)
            total_steps.assign(steps * epochs)
            if progress_bar:
                progress_bar.epochs = epochs
        if on_epoch is not None:
            on_epoch(epoch, epochs, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if mixed:
        # Serve (and warm-start from) float32: the same weights in a float32 copy.
        with precision("float32"):
            trained_weights = model.get_weights()
            model = build(architecture, num_classes=len(class_names), side=train_pixels.shape[1], total_steps=1)
            model.set_weights(trained_weights)
    tflite_bytes = export_tflite(served(architecture, model))
    report = evaluate_tflite(tflite_bytes, test_pixels, test_labels, class_names, architecture=architecture)
    return TrainedModel(
        architecture=architecture,
        class_names=list(class_names),
        tflite_bytes=tflite_bytes,
        keras_bytes=keras_to_bytes(model),
        epochs=epochs,
        train_seconds=seconds,
        train_examples=int(len(train_pixels)),
        report=report,
    )


def epoch_batches(
    inputs: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None, batch_size: int, rng: np.random.Generator
):
    """One epoch of shuffled batches as a plain tf.data pipeline. Keras's own
    pipeline for NumPy arrays (parallel, autotuned) took up to 20 s to shut
    down after some epochs on 2 cores, about 40 % on top of the batches'
    time (measured with bn-cnn: 22 s of batches, 37 s an epoch)."""
    import tensorflow as tf

    order = rng.permutation(len(inputs))
    arrays = (inputs[order], targets[order]) + (() if sample_weight is None else (sample_weight[order],))
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size).with_options(options)


def model_input_preparer(architecture: str):
    """Pixel models take normalised 28x28 pixels; embedding heads take their
    features as they are."""
    return normalize if get_architecture(architecture).input_kind == "pixels" else (lambda x: np.asarray(x, np.float32))


def evaluate_tflite(
    tflite_bytes: bytes,
    pixels: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    batch_size: int = 256,
    architecture: str = "seed-cnn",
) -> dict[str, Any]:
    """Evaluate exactly what will serve: the exported TFLite model. `pixels`
    are the model's inputs before preparation (embeddings for a head)."""
    from classifier.ml.runtime import LiteModel

    model = LiteModel(tflite_bytes, num_threads=os.cpu_count() or 1)
    prepare = model_input_preparer(architecture)
    predictions = [
        model.predict(prepare(pixels[i : i + batch_size])).argmax(axis=1) for i in range(0, len(pixels), batch_size)
    ]
    y_pred = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    return classification_report(np.asarray(labels), y_pred, class_names)
