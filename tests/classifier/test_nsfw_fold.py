"""fold_affine_into_convolutions on small graphs with the shapes of Open-NSFW's
(convolution, NHWC transpose, per-channel chains, Casts) and the cases it must
leave alone. Each graph is run before and after on onnxruntime."""

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from classifier.ml.nsfw import fold_affine_into_convolutions

RNG = np.random.default_rng(0)
CHANNELS = 4


def constant(name: str, shape=(CHANNELS,)) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(size=shape).astype(np.float32), name)


def model(nodes, initializers, *, outputs=("y",), opset: int = 17, extra_inputs=()) -> bytes:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6]), *extra_inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def run(model_bytes: bytes, **inputs) -> list[np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def operations(model_bytes: bytes) -> collections.Counter:
    return collections.Counter(node.op_type for node in onnx.load_from_string(model_bytes).graph.node)


def conv_and_transpose(bias: str | None = "b") -> tuple[list, list]:
    inputs = ["x", "w"] + ([bias] if bias is not None else [])
    nodes = [
        helper.make_node("Conv", inputs, ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
    ]
    initializers = [constant("w", (CHANNELS, 2, 3, 3))] + ([constant("b")] if bias == "b" else [])
    return nodes, initializers


X = RNG.normal(size=(1, 2, 6, 6)).astype(np.float32)


def assert_same_function(before: bytes, after: bytes, **inputs) -> None:
    for a, b in zip(run(before, x=X, **inputs), run(after, x=X, **inputs), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias", ["b", None, ""])
def test_a_chain_of_adds_subs_and_muls_goes_into_the_convolution(bias):
    nodes, initializers = conv_and_transpose(bias)
    nodes += [
        helper.make_node("Cast", ["t"], ["t1"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["t1", "c1"], ["a"]),
        helper.make_node("Sub", ["a", "c2"], ["s"]),
        helper.make_node("Mul", ["s", "c3"], ["m"]),
        helper.make_node("Add", ["m", "c4"], ["a2"]),
        helper.make_node("Relu", ["a2"], ["y"]),
    ]
    initializers += [constant("c1"), constant("c2", (1, 1, 1, CHANNELS)), constant("c3"), constant("c4")]
    before = model(nodes, initializers)
    after = fold_affine_into_convolutions(before)
    assert operations(after) == collections.Counter({"Conv": 1, "Transpose": 1, "Relu": 1})
    assert_same_function(before, after)


def test_a_constant_minus_the_tensor_is_left_alone():
    nodes, initializers = conv_and_transpose()
    nodes += [helper.make_node("Sub", ["c1", "t"], ["y"])]
    before = model(nodes, [*initializers, constant("c1")])
    after = fold_affine_into_convolutions(before)
    assert operations(after) == operations(before)
    assert_same_function(before, after)


def test_the_op_writing_a_graph_output_stays_and_keeps_its_name():
    nodes, initializers = conv_and_transpose()
    nodes += [helper.make_node("Add", ["t", "c1"], ["a"]), helper.make_node("Mul", ["a", "c2"], ["y"])]
    before = model(nodes, [*initializers, constant("c1"), constant("c2")])
    after = fold_affine_into_convolutions(before)
    assert operations(after)["Add"] == 0 and operations(after)["Mul"] == 1
    assert [o.name for o in onnx.load_from_string(after).graph.output] == ["y"]
    assert_same_function(before, after)


def test_the_chain_stops_where_its_tensor_is_read_twice_or_a_constant_is_wider():
    nodes, initializers = conv_and_transpose()
    nodes += [
        helper.make_node("Add", ["t", "c1"], ["a"]),
        helper.make_node("Mul", ["a", "c2"], ["m"]),  # c2 is 5-D: it would change the rank
        helper.make_node("Relu", ["a"], ["r"]),  # `a` has a second reader
        helper.make_node("Add", ["m", "r"], ["y"]),
    ]
    before = model(nodes, [*initializers, constant("c1"), constant("c2", (1, 1, 1, 1, CHANNELS))])
    after = fold_affine_into_convolutions(before)
    # The first Add folds (both readers of its result now read the convolution's);
    # the 5-D Mul and the residual Add stay.
    assert operations(after) == operations(before) - collections.Counter({"Add": 1})
    assert_same_function(before, after)


def test_a_bias_that_is_not_a_constant_leaves_the_convolution_alone():
    nodes, initializers = conv_and_transpose(bias="bias_in")
    nodes += [helper.make_node("Add", ["t", "c1"], ["y"])]
    bias_in = helper.make_tensor_value_info("bias_in", TensorProto.FLOAT, [CHANNELS])
    before = model(nodes, [*initializers, constant("c1")], extra_inputs=[bias_in])
    after = fold_affine_into_convolutions(before)
    assert operations(after) == operations(before)
    assert_same_function(before, after, bias_in=RNG.normal(size=CHANNELS).astype(np.float32))


def test_a_cast_that_changes_the_type_stays_whatever_its_attributes():
    """Opset 19's Cast has `saturate` too, listed first: the type is read by name."""
    nodes = [
        helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16, saturate=1),
        helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT),
    ]
    before = model(nodes, [], opset=19)
    after = fold_affine_into_convolutions(before)
    assert operations(after) == operations(before)
    assert_same_function(before, after)
