"""The Keras port of EfficientNet-Lite0 reproduces the original PyTorch model."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.ml.efficientnet_lite import load_pretrained, scale_input, weights_path
from classifier.ml.imagenet import imagenet_class_names
from classifier.ml.runtime import LiteModel
from classifier.ml.torch_weights import load_state_dict

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "efficientnet_lite0"
if not REFERENCE.exists():  # a checkout laid out as <repo>/../shared
    REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "efficientnet_lite0"

pytestmark = pytest.mark.skipif(
    not (REFERENCE / "reference.json").exists(), reason="shared reference files not present"
)


def _cases():
    reference = json.loads((REFERENCE / "reference.json").read_text())
    for name, expected in reference["images"].items():
        pixels = np.asarray(Image.open(REFERENCE / name).convert("RGB"))
        yield name, scale_input(pixels)[np.newaxis], expected["top5"]


@pytest.fixture(scope="module")
def keras_model():
    return load_pretrained()


def _check(probabilities: np.ndarray, top5: list[dict]) -> None:
    order = np.argsort(-probabilities)[:5].tolist()
    assert order == [t["index"] for t in top5]
    for t in top5:
        assert abs(float(probabilities[t["index"]]) - t["prob"]) <= 1e-4, (t, probabilities[t["index"]])


@pytest.mark.tf
def test_keras_port_matches_reference(keras_model):
    for _, x, top5 in _cases():
        probabilities, embedding = keras_model(x, training=False)
        _check(np.asarray(probabilities)[0], top5)
        assert np.asarray(embedding).shape == (1, 1280)


def test_served_tflite_matches_reference(photo_model_artifacts):
    runtime = LiteModel(photo_model_artifacts["backbone"])
    for _, x, top5 in _cases():
        outputs = runtime.predict_all(x)
        _check(runtime.output_by_width(outputs, 1000)[0], top5)


def test_readable_names_are_unique_and_match_reference_top1():
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    for _, _, top5 in _cases():
        first = top5[0]
        assert names[first["index"]].startswith(first["name"])
    assert names[657] != names[744]  # both "missile" in the curated list


def test_state_dict_reader_without_torch():
    state = load_state_dict(weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert len([k for k in state if k.endswith("_depthwise_conv.weight")]) == 16
