"""Read a PyTorch state_dict file without torch.

Both of torch.save's formats are read: the zip archive (torch >= 1.6: a
pickle plus one raw file per storage) and the legacy stream (a sequence of
pickles followed by each storage's raw bytes). Only what a state_dict holds
is supported: tensors of the usual dtypes in an (ordered) dict.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: Any


@dataclass
class _TensorRef:
    key: str
    dtype: Any
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    key, dtype = storage
    return _TensorRef(key, dtype, int(storage_offset), tuple(size), tuple(stride))


class _PlainUnpickler(pickle.Unpickler):
    """Numbers, strings, lists, tuples and dicts only: the legacy format's
    magic number, protocol, system info and storage keys. Any class or
    function (os.system, builtins.eval, ...) is refused before it is looked up."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused: a weights file may not name {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused: unexpected persistent id")


def _plain_load(fh) -> Any:
    return _PlainUnpickler(fh).load()


class _Unpickler(pickle.Unpickler):
    """A state_dict's own pickle: tensors rebuilt into references, ordered
    dicts and storage types; every other class or function is refused."""

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"unsupported object in a state_dict: {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return (str(pid[2]), pid[1].dtype)


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    flat = storages[ref.key]
    itemsize = flat.dtype.itemsize
    if not ref.size:
        return flat[ref.offset : ref.offset + 1].reshape(()).copy()
    return np.lib.stride_tricks.as_strided(
        flat[ref.offset :], shape=ref.size, strides=tuple(s * itemsize for s in ref.stride)
    ).copy()


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Tensors of a torch.save()d state_dict, as numpy arrays by name."""
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    return _load_legacy(path)


def _load_legacy(path) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        magic = _plain_load(fh)
        if magic != 0x1950A86A20F9469CFC6C:
            raise ValueError(f"{path}: not a PyTorch file (bad magic number)")
        _plain_load(fh)  # protocol version
        sys_info = _plain_load(fh)
        if not isinstance(sys_info, dict):
            raise ValueError(f"{path}: not a PyTorch file (no system info)")
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian files are not supported")
        refs = _Unpickler(fh).load()
        keys = _plain_load(fh)
        dtypes = {ref.key: ref.dtype for ref in refs.values() if isinstance(ref, _TensorRef)}
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            numel = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            dtype = np.dtype(dtypes[key]).newbyteorder("<")
            storages[key] = np.frombuffer(fh.read(numel * dtype.itemsize), dtype=dtype)
    return {name: _materialise(ref, storages) for name, ref in refs.items() if isinstance(ref, _TensorRef)}


def _load_zip(path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickle_name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        prefix = pickle_name[: -len("data.pkl")]
        refs = _Unpickler(io.BytesIO(archive.read(pickle_name))).load()
        storages = {
            ref.key: np.frombuffer(archive.read(f"{prefix}data/{ref.key}"), dtype=np.dtype(ref.dtype).newbyteorder("<"))
            for ref in refs.values()
            if isinstance(ref, _TensorRef)
        }
    return {name: _materialise(ref, storages) for name, ref in refs.items() if isinstance(ref, _TensorRef)}
