"""NSFWJS's adult-content models (npm `nsfwjs`, MIT): read from the npm
package, rebuilt in Keras, exported to TFLite and served on LiteRT.

The package ships its weights inside it (no hub download), as TensorFlow.js
models whose model.json and 8-bit weight shards are wrapped in browserify
bundles (`dist/models/<variant>/model.min.js`, `group1-shard<i>of<n>.min.js`):
two Keras layers models (mobilenet_v2, inception_v3) and a TF graph model
(mobilenet_v2_mid). Node evaluates a bundle into plain JSON; a layers model is
rebuilt in Keras from its model.json (a Keras 2.2.4 config), a graph model's
nodes are evaluated with TensorFlow ops; the weights are dequantized exactly
as TensorFlow.js does (`min + q * scale`).

What nsfwjs itself does to an image (dist/cjs/core.js, `infer`): pixels as
floats divided by 255 (0..1), the whole image resized to the model's square
(no crop: the aspect ratio is not kept), softmax over five classes in the
order of NSFW_CLASSES.

Conversion happens at install time only (`install_models`); serving needs
neither Node nor TensorFlow.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from classifier.ml.preprocessing import to_rgb

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
# npm's own integrity string for the tarball (`npm view nsfwjs@4.4.0 dist.integrity`).
INTEGRITY = "sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="
TARBALL = f"{PACKAGE}-{VERSION}.tgz"

NSFW_CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
# The classes whose probabilities add up to the adult score the policy reads
# (Open-NSFW's P(NSFW) today): the two explicit classes. Measured against
# Open-NSFW's decisions at the thresholds in use (bench.adult_models), Porn
# alone agrees as often on photos and 0.7 points more on skin-toned shapes,
# but would let explicit drawings through; adding Sexy (not explicit) agrees
# no better.
ADULT_CLASSES = ("Hentai", "Porn")


@dataclass(frozen=True)
class Variant:
    name: str  # the folder under dist/models
    side: int  # input side nsfwjs resizes to
    shards: int
    kind: str  # "layers" (a Keras model.json) or "graph" (a TF graph)


# The models the package ships (nsfwjs's README: about 90 % accurate for the
# small model, 93 % for the mid-sized one).
VARIANTS = {
    "mobilenet_v2": Variant("mobilenet_v2", 224, 1, "layers"),
    "mobilenet_v2_mid": Variant("mobilenet_v2_mid", 224, 2, "graph"),
    "inception_v3": Variant("inception_v3", 299, 6, "layers"),
}
# The one install_models converts and registers: the mid-sized MobileNetV2
# agrees with Open-NSFW's decisions far more often than the small one, at
# less than half Open-NSFW's cost (docs/benchmarks.md, "A lighter adult model").
DEFAULT_VARIANT = "mobilenet_v2_mid"


def is_nsfwjs(architecture: str) -> bool:
    """Whether a registered adult model version is one of these (its
    architecture is "nsfwjs-<variant>")."""
    return architecture.startswith("nsfwjs")


class PackageUnavailable(RuntimeError):
    """npm or node is missing, or the package could not be fetched."""


# --- The package ---------------------------------------------------------------


def npm_available() -> bool:
    return shutil.which("npm") is not None and shutil.which("node") is not None


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_package(folder: str | Path, *, timeout: float = 600) -> Path:
    """The pinned nsfwjs tarball in `folder`, fetched once with `npm pack`
    (npm checks the registry's integrity; so do we, against the pin)."""
    folder = Path(folder)
    path = folder / TARBALL
    if not path.exists():
        if not npm_available():
            raise PackageUnavailable("npm and node are needed to fetch the nsfwjs package (apt-get install npm)")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(folder), "--silent"],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            stderr = getattr(error, "stderr", b"") or b""
            raise PackageUnavailable(
                f"npm pack {PACKAGE}@{VERSION} failed: {stderr.decode(errors='replace')[-300:] or error}"
            ) from error
    got = integrity_of(path.read_bytes())
    if got != INTEGRITY:
        path.unlink()
        raise PackageUnavailable(f"{TARBALL}: integrity {got} is not the pinned {INTEGRITY}")
    return path


def _evaluate_bundles(paths: list[Path]) -> list[Any]:
    """What each browserify bundle exports, as JSON (Node evaluates them: the
    model.json is a JavaScript object literal, not JSON)."""
    script = (
        "const out = process.argv.slice(1).map(p => { const m = require(p); return m && m.default ? m.default : m; });"
        "process.stdout.write(JSON.stringify(out));"
    )
    try:
        done = subprocess.run(
            ["node", "-e", script, *[str(p.resolve()) for p in paths]],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        raise PackageUnavailable(f"node could not read the nsfwjs model bundles: {error}") from error
    return json.loads(done.stdout)


def read_model(tarball: str | Path, variant: str = DEFAULT_VARIANT) -> tuple[dict, dict[str, np.ndarray]]:
    """(model.json, {weight name: float32 array}) of one variant in the tarball."""
    spec = VARIANTS[variant]
    names = ["model.min.js"] + [f"group1-shard{i + 1}of{spec.shards}.min.js" for i in range(spec.shards)]
    with tempfile.TemporaryDirectory() as folder, tarfile.open(tarball) as archive:
        paths = []
        for name in names:
            member = archive.extractfile(f"package/dist/models/{spec.name}/{name}")
            if member is None:
                raise PackageUnavailable(f"{tarball}: no {spec.name}/{name}")
            path = Path(folder) / name
            path.write_bytes(member.read())
            paths.append(path)
        model_json, *shards = _evaluate_bundles(paths)
    by_name = {name.removesuffix(".min.js"): shard for name, shard in zip(names[1:], shards, strict=True)}
    order = [path for group in model_json["weightsManifest"] for path in group["paths"]]
    data = b"".join(base64.b64decode(by_name[path]) for path in order)
    return model_json, dequantize(model_json["weightsManifest"], data)


_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def dequantize(manifest: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """The weights of a TensorFlow.js manifest, from the shards' bytes
    concatenated in manifest order, as float32 (quantized ones as TF.js
    restores them: min + q * scale; float16 ones widened)."""
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for group in manifest:
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"], dtype=np.int64))
            quantization = spec.get("quantization")
            dtype = np.dtype(_DTYPES[quantization["dtype"] if quantization else spec["dtype"]])
            raw = np.frombuffer(data, dtype=dtype.newbyteorder("<"), count=count, offset=offset)
            offset += count * dtype.itemsize
            if quantization and quantization["dtype"] != "float16":
                values = quantization["min"] + raw.astype(np.float64) * quantization["scale"]
            else:
                values = raw
            weights[spec["name"]] = np.asarray(values, dtype=np.float32).reshape(spec["shape"])
    if offset != len(data):
        raise ValueError(f"weight manifest covers {offset} bytes, the shards hold {len(data)}")
    return weights


# --- Keras ---------------------------------------------------------------------

# Keras 3 order of each layer kind's weights, by their TF.js names.
_WEIGHT_ORDER = {
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
}


def _layer(class_name: str, config: dict):
    from keras import layers

    name = config["name"]
    if class_name == "Conv2D":
        return layers.Conv2D(
            config["filters"],
            tuple(config["kernel_size"]),
            strides=tuple(config["strides"]),
            padding=config["padding"],
            dilation_rate=tuple(config["dilation_rate"]),
            activation=config["activation"],
            use_bias=config["use_bias"],
            name=name,
        )
    if class_name == "DepthwiseConv2D":
        return layers.DepthwiseConv2D(
            tuple(config["kernel_size"]),
            strides=tuple(config["strides"]),
            padding=config["padding"],
            depth_multiplier=config.get("depth_multiplier", 1),
            activation=config["activation"],
            use_bias=config["use_bias"],
            name=name,
        )
    if class_name == "BatchNormalization":
        return layers.BatchNormalization(
            axis=config["axis"], epsilon=config["epsilon"], center=config["center"], scale=config["scale"], name=name
        )
    if class_name == "ReLU":
        return layers.ReLU(
            max_value=config.get("max_value"),
            negative_slope=config.get("negative_slope", 0.0),
            threshold=config.get("threshold", 0.0),
            name=name,
        )
    if class_name == "ZeroPadding2D":
        return layers.ZeroPadding2D(tuple(tuple(p) for p in config["padding"]), name=name)
    if class_name in ("AveragePooling2D", "MaxPooling2D"):
        kind = layers.AveragePooling2D if class_name == "AveragePooling2D" else layers.MaxPooling2D
        return kind(tuple(config["pool_size"]), strides=tuple(config["strides"]), padding=config["padding"], name=name)
    if class_name == "Activation":
        return layers.Activation(config["activation"], name=name)
    if class_name == "Add":
        return layers.Add(name=name)
    if class_name == "Concatenate":
        return layers.Concatenate(axis=config["axis"], name=name)
    if class_name == "Flatten":
        return layers.Flatten(name=name)
    if class_name == "Dense":
        return layers.Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"], name=name)
    if class_name == "Dropout":
        return layers.Dropout(config["rate"], name=name)
    raise ValueError(f"nsfwjs model: unsupported layer {class_name} ({name})")


def build_keras(model_json: dict, weights: dict[str, np.ndarray]):
    """The Keras model a TF.js layers model.json describes (a Keras 2 functional
    config), with its weights set by layer and weight name."""
    import keras

    config = model_json["modelTopology"]["model_config"]["config"]
    tensors: dict[str, Any] = {}
    built: list[tuple[Any, str]] = []
    for spec in config["layers"]:
        class_name, layer_config, name = spec["class_name"], spec["config"], spec["name"]
        if class_name == "InputLayer":
            tensors[name] = keras.Input(shape=tuple(layer_config["batch_input_shape"][1:]), name=name)
            continue
        inbound = [tensors[node[0]] for node in spec["inbound_nodes"][0]]
        layer = _layer(class_name, layer_config)
        tensors[name] = layer(inbound if len(inbound) > 1 else inbound[0])
        built.append((layer, class_name))
    outputs = [tensors[node[0]] for node in config["output_layers"]]
    inputs = [tensors[node[0]] for node in config["input_layers"]]
    model = keras.Model(inputs[0], outputs[0], name=config["name"])
    used = set()
    for layer, class_name in built:
        order = _WEIGHT_ORDER.get(class_name)
        if order is None:
            continue
        names = [f"{layer.name}/{w}" for w in order if f"{layer.name}/{w}" in weights]
        layer.set_weights([weights[n] for n in names])
        used.update(names)
    missing = set(weights) - used
    if missing:
        raise ValueError(f"nsfwjs model: weights no layer took: {sorted(missing)[:5]}")
    return model


def convert(tarball: str | Path, variant: str = DEFAULT_VARIANT) -> bytes:
    """The variant as a TFLite flatbuffer: float input (n, side, side, 3) in
    0..1, output the five class probabilities. Converted once per process for
    a given tarball (the tarball's integrity is pinned)."""
    return _convert(str(Path(tarball).resolve()), variant)


@functools.lru_cache(maxsize=2)
def _convert(tarball: str, variant: str) -> bytes:
    from classifier.ml.training import export_tflite

    model_json, weights = read_model(tarball, variant)
    if VARIANTS[variant].kind == "graph":
        return graph_to_tflite(model_json, weights, VARIANTS[variant].side)
    return export_tflite(build_keras(model_json, weights))


# --- TF graph models -------------------------------------------------------------


def _attr(node: dict, key: str, default: Any = None) -> Any:
    """A node attribute as TF.js's model.json writes it (strings base64)."""
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "list" in value:
        items = value["list"]
        if "i" in items:
            return [int(v) for v in items["i"]]
        if "s" in items:
            return [base64.b64decode(v).decode() for v in items["s"]]
        return []
    for kind, cast in (("s", lambda v: base64.b64decode(v).decode()), ("i", int), ("f", float), ("b", bool)):
        if kind in value:
            return cast(value[kind])
    return value


def graph_function(model_json: dict, weights: dict[str, np.ndarray]):
    """A callable that evaluates a TF.js graph model's nodes with TensorFlow
    ops (the few a converted MobileNetV2 uses: fused convolutions with bias
    and ReLU6, depthwise convolutions, add, average pool, matmul, softmax)."""
    import tensorflow as tf

    nodes = {node["name"]: node for node in model_json["modelTopology"]["node"]}
    output = model_json.get("userDefinedMetadata", {}).get("signature", {}).get("outputs", {})
    output_name = next(iter(output), "Identity:0").split(":")[0]

    def activate(x, ops: list[str]):
        for op in ops[1:]:  # ops[0] is BiasAdd, applied by the caller
            if op == "Relu":
                x = tf.nn.relu(x)
            elif op == "Relu6":
                x = tf.nn.relu6(x)
            else:
                raise ValueError(f"nsfwjs graph: unsupported fused op {op}")
        return x

    def run(x):
        values: dict[str, Any] = {}

        def value(name: str):
            name = name.split(":")[0]
            if name in values:
                return values[name]
            node = nodes[name]
            op = node["op"]
            args = [value(i) for i in node.get("input", []) if not i.startswith("^")]
            if op == "Placeholder":
                out = x
            elif op == "Const":
                out = tf.constant(weights[name])
            elif op in ("Mul", "Sub", "AddV2", "Add"):
                out = {"Mul": tf.multiply, "Sub": tf.subtract, "AddV2": tf.add, "Add": tf.add}[op](*args)
            elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
                fused = _attr(node, "fused_ops", [])
                if fused[:1] != ["BiasAdd"] or _attr(node, "data_format", "NHWC") != "NHWC":
                    raise ValueError(f"nsfwjs graph: unsupported {op} {fused}")
                strides, padding, dilations = _attr(node, "strides"), _attr(node, "padding"), _attr(node, "dilations")
                if op == "_FusedConv2D":
                    out = tf.nn.conv2d(args[0], args[1], strides, padding, dilations=dilations)
                else:
                    out = tf.nn.depthwise_conv2d(args[0], args[1], strides, padding, dilations=dilations[1:3])
                out = activate(out + args[2], fused)
            elif op == "_FusedMatMul":
                fused = _attr(node, "fused_ops", [])
                if fused[:1] != ["BiasAdd"]:
                    raise ValueError(f"nsfwjs graph: unsupported {op} {fused}")
                out = tf.linalg.matmul(
                    args[0],
                    args[1],
                    transpose_a=_attr(node, "transpose_a", False),
                    transpose_b=_attr(node, "transpose_b", False),
                )
                out = activate(out + args[2], fused)
            elif op == "AvgPool":
                out = tf.nn.avg_pool2d(args[0], _attr(node, "ksize"), _attr(node, "strides"), _attr(node, "padding"))
            elif op == "Squeeze":
                out = tf.squeeze(args[0], axis=_attr(node, "squeeze_dims"))
            elif op == "Softmax":
                out = tf.nn.softmax(args[0])
            elif op == "Identity":
                out = tf.identity(args[0])
            else:
                raise ValueError(f"nsfwjs graph: unsupported op {op} ({name})")
            values[name] = out
            return out

        return value(output_name)

    return run


def graph_to_tflite(model_json: dict, weights: dict[str, np.ndarray], side: int) -> bytes:
    import tensorflow as tf

    run = tf.function(graph_function(model_json, weights), input_signature=[tf.TensorSpec([None, side, side, 3])])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([run.get_concrete_function()], run)
    return converter.convert()


# --- Serving -------------------------------------------------------------------


def model_pixels(image: Image.Image, side: int = VARIANTS[DEFAULT_VARIANT].side) -> np.ndarray:
    """A decoded image -> uint8 (side, side, 3) RGB: the whole image resized
    to the square (no crop, the aspect ratio not kept), as nsfwjs does."""
    rgb = to_rgb(image)
    if rgb.size != (side, side):
        rgb = rgb.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb, dtype=np.uint8)


def model_input(image: Image.Image, side: int = VARIANTS[DEFAULT_VARIANT].side) -> np.ndarray:
    """A decoded image -> float32 (side, side, 3) in 0..1, nsfwjs's input."""
    return model_pixels(image, side).astype(np.float32) / 255.0


def adult_score(probabilities: np.ndarray, class_names=NSFW_CLASSES, adult_classes=ADULT_CLASSES) -> np.ndarray:
    """P(adult) per row of class probabilities: the sum over `adult_classes`."""
    columns = [list(class_names).index(name) for name in adult_classes]
    return np.asarray(probabilities, dtype=np.float32)[:, columns].sum(axis=1)


class NsfwjsScorer:
    """An nsfwjs model on LiteRT, with the interface of nsfw.AdultScorer:
    a score is P(adult) in 0..1."""

    def __init__(self, model_bytes: bytes, *, threads: int = 1, adult_classes=ADULT_CLASSES) -> None:
        from classifier.ml.runtime import LiteModel

        self._model = LiteModel(model_bytes, num_threads=threads)
        self.side = self._model.input_shape[0]
        self.adult_classes = tuple(adult_classes)
        self._lock = threading.Lock()

    def prepare(self, images: list[Image.Image]) -> np.ndarray:
        return np.stack([model_input(image, self.side) for image in images])

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(n, 5) class probabilities of a prepared batch, in NSFW_CLASSES order."""
        return self._model.predict(batch)

    def score_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros(0, dtype=np.float32)
        return self.score_prepared(self.prepare(images))

    def score_prepared(self, batch: np.ndarray) -> np.ndarray:
        return adult_score(self.probabilities(batch), adult_classes=self.adult_classes)


def reference_images() -> tuple[list[str], np.ndarray]:
    """The photos the port is checked against nsfwjs's own JavaScript on: four
    of scikit-image's sample photos and the same in skin tones (which reach
    the Porn and Drawing classes), as uint8 224-px model pixels."""
    from classifier.ml.quantize import sample_photos, skin_toned

    named = sample_photos()[:4]
    images = [image for _, image in named]
    images += skin_toned(images)
    names = [name for name, _ in named] + [f"{name} (skin-toned)" for name, _ in named]
    return names, np.stack([model_pixels(image) for image in images])


def pixels_json(pixels: np.ndarray) -> str:
    """uint8 (n, side, side, 3) pixels as JSON for the Node reference script."""
    return json.dumps({"shape": list(pixels.shape), "data": base64.b64encode(pixels.tobytes()).decode()})
