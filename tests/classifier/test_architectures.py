"""Every product architecture trains, exports to TFLite, and the served model
computes what Keras computes."""

import dataclasses

import numpy as np
import pytest

from classifier.ml import training
from classifier.ml.architectures import ARCHITECTURES, build, served
from classifier.ml.augment import flip_and_shift, random_erase
from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.ml.runtime import LiteModel
from classifier.ml.training import epochs_within_budget, export_tflite, keras_from_bytes, train


@pytest.mark.parametrize("name", [n for n, a in ARCHITECTURES.items() if a.input_kind == "pixels"])
@pytest.mark.tf
def test_trains_exports_and_serves_the_same_numbers(name):
    data = load_split("test").head(256)
    trained = train(
        architecture=name,
        class_names=FASHION_MNIST_CLASSES,
        train_pixels=data.images,
        train_labels=data.labels,
        test_pixels=data.images[:64],
        test_labels=data.labels[:64],
        epochs=1,
        progress=False,
    )
    model = keras_from_bytes(trained.keras_bytes)
    x = data.images[:8, :, :, None].astype(np.float32) / 255
    expected = np.asarray(served(name, model)(x, training=False))
    got = LiteModel(trained.tflite_bytes).predict(x)
    assert np.allclose(got, expected, atol=1e-4)
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-4)
    assert 0 <= trained.report["accuracy"] <= 1 and trained.report["support"] == 64


@pytest.mark.tf
def test_served_bn_cnn_is_mirror_invariant():
    model = served("bn-cnn", build("bn-cnn", 10, total_steps=10))
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    lite = LiteModel(export_tflite(model))
    assert np.allclose(lite.predict(x), lite.predict(x[:, :, ::-1]), atol=1e-5)


def test_augmentation_keeps_shape_and_content():
    rng = np.random.default_rng(0)
    pixels = load_split("test").images[:64]
    flipped_only = flip_and_shift(pixels, rng, max_shift=0)
    for original, out in zip(pixels, flipped_only, strict=False):
        assert np.array_equal(out, original) or np.array_equal(out, original[:, ::-1])
    shifted = flip_and_shift(pixels, rng, max_shift=2)
    assert shifted.shape == pixels.shape and shifted.dtype == np.uint8
    assert abs(int(shifted.sum()) - int(pixels.sum())) < pixels.sum() * 0.05  # little cut off at the edges


def test_random_erase_replaces_one_rectangle_per_chosen_image():
    rng = np.random.default_rng(1)
    pixels = np.zeros((200, 28, 28), dtype=np.uint8)
    assert np.array_equal(random_erase(pixels, rng, probability=0.0), pixels)
    erased = random_erase(pixels, rng, probability=1.0, area=(0.1, 0.2))
    for image in erased:
        rows, cols = np.nonzero(image)
        assert len(rows)  # noise was written (all-zero noise over 78+ pixels cannot happen)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box <= 0.2 * 28 * 28 + 28  # one rectangle of the requested size, not scattered pixels
    half = random_erase(pixels, rng, probability=0.5)
    assert 60 < sum(bool(image.any()) for image in half) < 140


@pytest.mark.parametrize(
    ("done", "elapsed", "most", "expected"),
    [
        (1, 100.0, 40, 10),  # 100 s an epoch: 9 more fit in the remaining 980 s
        (5, 600.0, 40, 9),  # slower than the first epoch suggested: shortened
        (10, 1100.0, 40, 10),  # over the budget already: stop here
        (1, 10.0, 40, 40),  # a fast machine: the recipe's most
    ],
)
def test_epochs_within_budget(done, elapsed, most, expected):
    assert epochs_within_budget(done, elapsed, 1080.0, most) == expected


@pytest.mark.tf
def test_epoch_batches_hold_every_example_once_with_its_target_and_weight():
    rng = np.random.default_rng(0)
    inputs = np.arange(70, dtype=np.float32).reshape(70, 1)
    targets, weights = np.arange(70) * 10, np.arange(70) / 100
    orders = []
    for _ in range(2):
        batches = list(training.epoch_batches(inputs, targets, weights, 32, rng).as_numpy_iterator())
        assert [len(batch[0]) for batch in batches] == [32, 32, 6]
        x, y, w = (np.concatenate(parts) for parts in zip(*batches, strict=True))
        assert sorted(x[:, 0]) == list(range(70))
        assert np.array_equal(y, x[:, 0] * 10) and np.allclose(w, x[:, 0] / 100)
        orders.append(x[:, 0])
    assert not np.array_equal(orders[0], np.arange(70)) and not np.array_equal(orders[0], orders[1])
    assert len(training.epoch_batches(inputs, targets, None, 32, rng).element_spec) == 2  # (x, y): no weights


class FakeClock:
    """perf_counter for classifier.ml.training that moves `step` seconds a call."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def perf_counter(self):
        self.now += self.step
        return self.now


@pytest.mark.tf
def test_time_budget_decides_the_epochs_unless_they_are_asked_for(monkeypatch):
    data = load_split("test").head(256)
    budgeted = dataclasses.replace(
        ARCHITECTURES["bn-cnn"], epochs=6, time_budget_seconds=35.0, erase_probability=0.5, erase_min_epochs=3
    )
    monkeypatch.setitem(ARCHITECTURES, "bn-cnn", budgeted)
    # Each epoch "takes" 10 s on the fake clock: three fit in 35 s.
    monkeypatch.setattr(training, "time", FakeClock(10.0))
    erased = []
    monkeypatch.setattr(training, "random_erase", lambda pixels, *args: erased.append(1) or pixels)

    def run(**kwargs):
        return train(
            architecture="bn-cnn",
            class_names=FASHION_MNIST_CLASSES,
            train_pixels=data.images,
            train_labels=data.labels,
            test_pixels=data.images[:64],
            test_labels=data.labels[:64],
            progress=False,
            **kwargs,
        )

    assert run().epochs == 3
    assert len(erased) == 2  # planned after the first epoch: three are enough for erasing
    assert run(time_budget_seconds=25.0).epochs == 2  # a budget of the caller's
    assert run(epochs=2, time_budget_seconds=15.0).epochs == 2  # asked for: exactly those, whatever the clock
    assert len(erased) == 2  # two epochs are too few for erasing
    monkeypatch.setattr(training, "time", FakeClock(1.0))
    assert run().epochs == 6  # fast: the recipe's most


@pytest.mark.tf
def test_warm_start_keeps_batch_norm_statistics_and_learns():
    data = load_split("test").head(512)
    kwargs = dict(
        architecture="bn-cnn",
        class_names=FASHION_MNIST_CLASSES,
        test_pixels=data.images[:64],
        test_labels=data.labels[:64],
        epochs=1,
        progress=False,
    )
    base = train(train_pixels=data.images, train_labels=data.labels, **kwargs)
    shifted = 255 - data.images  # another distribution: its statistics differ
    tuned = train(train_pixels=shifted, train_labels=data.labels, initial_keras_bytes=base.keras_bytes, **kwargs)

    def statistics(model):
        return [
            w for layer in model.layers if layer.__class__.__name__ == "BatchNormalization" for w in layer.get_weights()
        ]

    def convolutions(model):
        return [w for layer in model.layers if layer.__class__.__name__ == "Conv2D" for w in layer.get_weights()]

    before, after = keras_from_bytes(base.keras_bytes), keras_from_bytes(tuned.keras_bytes)
    assert statistics(before) and all(
        np.array_equal(a, b) for a, b in zip(statistics(before), statistics(after), strict=True)
    )
    assert not all(np.array_equal(a, b) for a, b in zip(convolutions(before), convolutions(after), strict=True))
