import gzip
import shutil
import struct

import numpy as np
import pytest

from classifier.ml.datasets import ENV_VAR, DatasetNotFound, load_split, read_idx


def test_loads_debian_files():
    train = load_split("train")
    test = load_split("test")
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28)
    assert sorted(np.unique(test.labels).tolist()) == list(range(10))
    # Balanced classes, as published: 1,000 test images per class.
    assert np.bincount(test.labels).tolist() == [1000] * 10


def test_directory_from_environment(tmp_path, monkeypatch):
    for name in [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]:
        shutil.copy(f"/usr/share/datasets/fashion-mnist/{name}", tmp_path / name)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert len(load_split("test")) == 10_000


def test_missing_directory_says_what_to_install(tmp_path):
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist"):
        load_split("test", tmp_path)


def _write_idx(path, payload: bytes, header: bytes):
    with gzip.open(path, "wb") as fh:
        fh.write(header + payload)


def test_read_idx_round_trip_and_errors(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    good = tmp_path / "good.gz"
    _write_idx(good, data.tobytes(), b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4))
    assert np.array_equal(read_idx(good), data)

    bad_magic = tmp_path / "bad.gz"
    _write_idx(bad_magic, data.tobytes(), b"\x01\x00\x08\x03" + struct.pack(">III", 2, 3, 4))
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(bad_magic)

    short = tmp_path / "short.gz"
    _write_idx(short, data.tobytes()[:-1], b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4))
    with pytest.raises(ValueError, match="expected 24 data bytes"):
        read_idx(short)


def test_unknown_split():
    with pytest.raises(ValueError):
        load_split("validation")
