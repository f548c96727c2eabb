"""Keras architectures, by name. TensorFlow is imported only by training code."""

from __future__ import annotations

from collections.abc import Callable

ARCHITECTURES: dict[str, Callable[..., object]] = {}


def register(name: str):
    def wrap(builder):
        ARCHITECTURES[name] = builder
        return builder

    return wrap


@register("seed-cnn")
def seed_cnn(num_classes: int, side: int = 28):
    """The seed article's CNN, kept so that later models can be compared with it."""
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=(side, side, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="seed_cnn",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build(name: str, num_classes: int, side: int = 28):
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name](num_classes=num_classes, side=side)
