"""Keras architectures and their training recipes, by name.

TensorFlow/Keras is imported inside the builders, so that importing this module
(e.g. to list the names) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., Any]  # (num_classes, side, total_steps) -> compiled keras.Model
    epochs: int  # the recipe's default
    batch_size: int
    augment: bool  # random flips and shifts of the training images
    one_hot_labels: bool  # the loss takes one-hot targets (for label smoothing)
    description: str
    input_kind: str = "pixels"  # "pixels": 28x28 grayscale; "embedding": the backbone's 1280-d vector
    flip_average: bool = False  # serve the mean of the image's and its mirror image's scores
    max_shift: int = 2  # augmentation: random shifts up to this many pixels
    erase_probability: float = 0.0  # augmentation: share of images with a random rectangle erased
    # ... only when training runs at least this many epochs: erasing
    # regularises, which a short schedule cannot afford.
    erase_min_epochs: int = 0
    # Train with bfloat16 activations where the CPU has native bfloat16
    # (AVX512-BF16/AMX): about twice the speed; weights stay float32 and the
    # exported model is float32.
    mixed_precision: bool = False
    # With a budget, the recipe trains for as many epochs as fit in it on this
    # machine (at most `epochs`); asked for a number of epochs, exactly those.
    time_budget_seconds: float | None = None


ARCHITECTURES: dict[str, Architecture] = {}


def register(
    name: str,
    *,
    epochs: int,
    batch_size: int,
    augment: bool,
    description: str,
    one_hot_labels: bool = False,
    input_kind: str = "pixels",
    flip_average: bool = False,
    max_shift: int = 2,
    erase_probability: float = 0.0,
    mixed_precision: bool = False,
    time_budget_seconds: float | None = None,
    erase_min_epochs: int = 0,
):
    def wrap(builder):
        ARCHITECTURES[name] = Architecture(
            name,
            builder,
            epochs,
            batch_size,
            augment,
            one_hot_labels,
            description,
            input_kind,
            flip_average,
            max_shift,
            erase_probability,
            erase_min_epochs,
            mixed_precision,
            time_budget_seconds,
        )
        return builder

    return wrap


@register(
    "seed-cnn",
    epochs=5,
    batch_size=32,
    augment=False,
    description="The seed article's CNN: two conv/pool stages, Dense(128), Adam.",
)
def seed_cnn(num_classes: int, side: int = 28, total_steps: int = 0):
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


# Random erasing by training length, measured: 8 epochs (what 18 minutes buy
# on a 2-core AVX2 CPU) gave 0.9207 test accuracy with erasing half the
# images, 0.9236 with a quarter, 0.9268 without; 22-24 epochs with erasing
# half 0.9400 and 0.9411 (on an AVX-512 BF16 CPU); 47 epochs, what 18 minutes
# buy on a 2-core AMD EPYC with AVX-512 BF16 (family 26), 0.9466.
@register(
    "bn-cnn",
    epochs=60,
    batch_size=256,
    augment=True,
    one_hot_labels=True,
    flip_average=True,
    max_shift=1,
    erase_probability=0.5,
    erase_min_epochs=16,
    mixed_precision=True,
    time_budget_seconds=18 * 60,
    description="Conv blocks with batch norm and light dropout, mirror and one-pixel-shift augmentation "
    "(random erasing too when 16 epochs or more fit), AdamW with warm-up and cosine decay, label "
    "smoothing, bfloat16 training where the CPU has it; as many epochs (up to 60) as fit in 18 "
    "minutes on the machine; serves the mean of the image and its mirror.",
)
def bn_cnn(num_classes: int, side: int = 28, total_steps: int = 0):
    import keras
    from keras import layers

    def block(x, filters: int, convs: int, dropout: float):
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        return layers.Dropout(dropout)(x)

    inputs = keras.Input(shape=(side, side, 1))
    # One conv at full resolution: a second one there doubled the training
    # time on 2 cores for no measurable accuracy.
    # Random erasing regularises; the dropout stays light.
    x = block(inputs, 32, 1, 0.05)  # 14x14
    x = block(x, 64, 2, 0.1)  # 7x7
    x = block(x, 128, 1, 0.15)  # 3x3
    x = layers.Flatten()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    # float32 scores even when the layers compute in bfloat16.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="bn_cnn")

    schedule = warmup_cosine(3e-3, total_steps)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
        # Label smoothing keeps the softmax from saturating, so scores stay
        # informative for the policy's thresholds; it needs one-hot targets.
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    return model


def warmup_cosine(peak: float, total_steps):
    """Learning rate: linear warm-up from peak/30 to `peak` over the first
    10 % of the steps, then cosine decay to 1 % of the peak at the last step.
    `total_steps` is an int, or a keras.Variable that training shortens or
    lengthens on the way to fit a time budget (the schedule follows)."""
    import math

    import keras
    from keras import ops

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            total = ops.maximum(ops.cast(total_steps, "float32"), 1.0)
            warmup = ops.maximum(ops.floor(total / 10), 1.0)
            step = ops.cast(step, "float32")
            ramp = peak / 30 + (peak - peak / 30) * step / warmup
            progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
            decay = peak * (0.01 + 0.99 * 0.5 * (1 + ops.cos(math.pi * progress)))
            return ops.where(step < warmup, ramp, decay)

        def get_config(self):
            return {"peak": peak, "total_steps": int(ops.convert_to_numpy(total_steps))}

    return WarmupCosine()


EMBEDDING_SIZE = 1280


@register(
    "lite0-head",
    epochs=40,
    batch_size=256,
    augment=False,
    input_kind="embedding",
    description="Softmax regression on EfficientNet-Lite0's pooled ImageNet embedding (for colour photos).",
)
def lite0_head(num_classes: int, side: int = EMBEDDING_SIZE, total_steps: int = 0):
    import keras
    from keras import layers

    model = keras.Sequential(
        [keras.Input(shape=(EMBEDDING_SIZE,)), layers.Dropout(0.2), layers.Dense(num_classes, activation="softmax")],
        name="lite0_head",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def served(name: str, model):
    """The model as it serves. With flip_average: the mean of the scores of the
    image and its mirror image (product photos mean the same mirrored; it costs
    one more small forward pass). Averaging one-pixel shifts as well was
    measured and gained nothing (0.9401 against 0.9411 with the mirror alone)."""
    import keras
    from keras import layers

    if not get(name).flip_average:
        return model
    inputs = keras.Input(shape=model.input_shape[1:])
    mirrored = layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
    outputs = layers.Average(name="flip_average")([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_served")


def get(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]


def build(name: str, num_classes: int, side: int = 28, total_steps: int = 0):
    return get(name).build(num_classes=num_classes, side=side, total_steps=total_steps)
