r"""The real data sets: MNIST (IDX files) and CIFAR-100 (Python pickles in a tar.gz), verified by SHA-256.

Book: Chapter 9 ("Real data"). The files are read only after their digest matches (:mod:`resntk.data._download`);
a CIFAR pickle is then opened with an unpickler restricted to NumPy arrays. The loaders return torch tensors.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
from typing import Any

import numpy as np
import torch

from .._validation import check_bool, check_choice, check_int
from ._datasets import Dataset
from ._download import CIFAR100_FILES, CIFAR100_MIRRORS, MNIST_FILES, MNIST_MIRRORS, check_download_args, fetch_verified
from ._sphere import project_to_sphere

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes) -> np.ndarray:
    """Parse an (uncompressed) IDX file: a 4-byte magic ``0 0 type ndim``, ``ndim`` big-endian uint32 sizes, data.

    Raises
    ------
    ValueError
        On a wrong magic number, an unknown type code, or a payload whose length does not match the header
        (truncated or padded file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4:
        raise ValueError(f"IDX data too short for a header ({len(data)} bytes): truncated file")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_DTYPES:
        raise ValueError(f"not an IDX file: magic bytes {data[:4].hex()}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"IDX header announces {ndim} dimensions but the data ends at {len(data)} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"IDX payload has {len(data) - header} bytes but the header {dims} needs {expected}: "
                         f"truncated or corrupted file")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _read_idx_gz(data: bytes, name: str) -> np.ndarray:
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name} is not a valid gzip file: {exc}") from exc
    return parse_idx(raw)


def _images_to_inputs(images_train: np.ndarray, images_test: np.ndarray, sphere: bool
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    A = torch.from_numpy(images_train.reshape(images_train.shape[0], -1).astype(np.float64) / 255.0)
    B = torch.from_numpy(images_test.reshape(images_test.shape[0], -1).astype(np.float64) / 255.0)
    return project_to_sphere(A, B) if sphere else (A, B)


def _check_subset(value: Any, name: str) -> int | None:
    return None if value is None else check_int(value, name, minimum=1)


def load_mnist(root: str | os.PathLike[str], download: bool = False, *, sphere: bool = True,
               n_train: int | None = None, n_test: int | None = None,
               checksums: dict[str, str | None] | None = None, timeout: float = 60.0) -> Dataset:
    """Real MNIST from the four official IDX files, verified by SHA-256 (optional download).

    Looks for ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` in ``root``. Each file is read into memory and its SHA-256 digest compared with
    :data:`MNIST_FILES` before it is decompressed or parsed. With ``download=True`` a missing or corrupted file is
    fetched (mirrors in ``MNIST_MIRRORS``) into a temporary file in ``root``, verified, and renamed into place.

    Parameters
    ----------
    root
        Directory of the files.
    download
        Allow downloading (default ``False``: never touches the network).
    sphere
        Center by the training mean and project every image onto the unit sphere :math:`\\mathbb S^{783}`;
        otherwise pixel values scaled to ``[0, 1]``.
    n_train, n_test
        Keep only the first ``n_train`` / ``n_test`` images of the official splits (the projection uses the kept
        training images).
    checksums
        Override digests of the table (e.g. for tests), ``{file name: sha256 hex}``.
    timeout
        Seconds before a download attempt gives up.

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download`` is false.
    ChecksumError
        A file's digest is wrong and ``download`` is false.
    ConnectionError
        A download was needed and failed (e.g. offline); the message says where to put the file.
    ValueError
        Unknown digest, or a verified file that does not parse as the expected IDX arrays.
    """
    table = check_download_args(download, timeout, checksums, MNIST_FILES)
    n_train, n_test = _check_subset(n_train, "n_train"), _check_subset(n_test, "n_test")
    sphere = check_bool(sphere, "sphere")
    arrays = {}
    for name in MNIST_FILES:  # verify all four before parsing any
        arrays[name] = fetch_verified(root, name, table, MNIST_MIRRORS, download, float(timeout))
    parsed = {name: _read_idx_gz(data, name) for name, data in arrays.items()}
    Xtr, ytr = parsed["train-images-idx3-ubyte.gz"], parsed["train-labels-idx1-ubyte.gz"]
    Xte, yte = parsed["t10k-images-idx3-ubyte.gz"], parsed["t10k-labels-idx1-ubyte.gz"]
    for images, labels, split in ((Xtr, ytr, "train"), (Xte, yte, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"MNIST {split} files have inconsistent shapes: images {images.shape}, "
                             f"labels {labels.shape}")
        if labels.size and labels.max() > 9:
            raise ValueError(f"MNIST {split} labels must be digits 0..9, got max {labels.max()}")
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    Xte, yte = Xte[:n_test], yte[:n_test]
    A, B = _images_to_inputs(Xtr, Xte, sphere)
    name = "MNIST" + (", centered and projected onto the sphere" if sphere else ", pixels in [0, 1]")
    return Dataset(X_train=A, y_train=torch.from_numpy(ytr.astype(np.int64)), X_test=B,
                   y_test=torch.from_numpy(yte.astype(np.int64)), n_classes=10, name=name)


# --------------------------------------------------------------------------------------------------------------
# CIFAR-100 (python pickles in a tar.gz)
# --------------------------------------------------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays, lists, dicts, numbers and strings, and nothing else.

    The CIFAR pickles are only opened after the archive's SHA-256 digest has been verified; this restriction is a
    second line of defence: any other global (a function, a class) is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle the global {module}.{name}")
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):
            module = "numpy._core.multiarray"  # NumPy 2 moved the module; avoid its deprecation shim
        return super().find_class(module, name)


def _unpickle_arrays(data: bytes) -> Any:
    """Unpickle *verified* bytes with :class:`_ArrayUnpickler` (Python 2 strings decoded as bytes)."""
    return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()


def _cifar_batch(archive: tarfile.TarFile, member: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise ValueError(f"the CIFAR-100 archive has no member {member!r}")
    try:
        batch = _unpickle_arrays(handle.read())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read {member!r} from the CIFAR-100 archive: {exc}") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{member!r} must hold a dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(f"{member!r} lacks the keys 'data' and {label_key!r}")
    X = np.asarray(batch["data"])
    y = np.asarray(batch[label_key], dtype=np.int64)
    if X.ndim != 2 or X.shape[1] != 3072 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{member!r} has data of shape {X.shape} and {y.shape[0]} labels; expected (N, 3072)")
    return X.astype(np.uint8), y


def load_cifar100(root: str | os.PathLike[str], download: bool = False, *, label_mode: str = "fine",
                  sphere: bool = True, n_train: int | None = None, n_test: int | None = None,
                  checksums: dict[str, str | None] | None = None, timeout: float = 120.0) -> Dataset:
    """Real CIFAR-100 from the official ``cifar-100-python.tar.gz``, verified by SHA-256 (optional download).

    The archive is read into memory and its SHA-256 digest compared with :data:`CIFAR100_FILES` *before* the tar
    is opened; the ``train`` and ``test`` pickles are then read from those verified bytes with an unpickler that
    only rebuilds NumPy arrays (nothing is extracted to disk). With ``download=True`` a missing or corrupted archive
    is fetched into a temporary file in ``root``, verified and renamed into place.

    Parameters
    ----------
    root
        Directory holding ``cifar-100-python.tar.gz``.
    download
        Allow downloading (default ``False``).
    label_mode
        ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    sphere
        Center by the training mean and project onto :math:`\\mathbb S^{3071}`; otherwise pixels in ``[0, 1]``
        (channel-major, as stored: 1024 red, 1024 green, 1024 blue values).
    n_train, n_test
        Keep only the first images of the official splits.
    checksums
        Override the digest (e.g. for tests).
    timeout
        Seconds before a download attempt gives up.

    Raises
    ------
    FileNotFoundError, ChecksumError, ConnectionError, ValueError
        As for :func:`load_mnist`.
    """
    table = check_download_args(download, timeout, checksums, CIFAR100_FILES)
    label_mode = check_choice(label_mode, "label_mode", ("fine", "coarse"))
    sphere = check_bool(sphere, "sphere")
    n_train, n_test = _check_subset(n_train, "n_train"), _check_subset(n_test, "n_test")
    name = "cifar-100-python.tar.gz"
    data = fetch_verified(root, name, table, CIFAR100_MIRRORS, download, float(timeout))
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{name} is not a valid tar.gz archive: {exc}") from exc
    with archive:
        key = f"{label_mode}_labels"
        Xtr, ytr = _cifar_batch(archive, "cifar-100-python/train", key)
        Xte, yte = _cifar_batch(archive, "cifar-100-python/test", key)
    n_classes = 100 if label_mode == "fine" else 20
    for labels, split in ((ytr, "train"), (yte, "test")):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"CIFAR-100 {split} {label_mode} labels must lie in 0..{n_classes - 1}")
    Xtr, ytr, Xte, yte = Xtr[:n_train], ytr[:n_train], Xte[:n_test], yte[:n_test]
    A, B = _images_to_inputs(Xtr, Xte, sphere)
    desc = f"CIFAR-100 ({label_mode} labels)" + (", centered and projected onto the sphere" if sphere
                                                  else ", pixels in [0, 1]")
    return Dataset(X_train=A, y_train=torch.from_numpy(ytr), X_test=B, y_test=torch.from_numpy(yte),
                   n_classes=n_classes, name=desc)
