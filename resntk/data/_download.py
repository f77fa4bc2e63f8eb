r"""Verified downloads: SHA-256 digests checked before any byte is parsed, atomic writes, clear offline errors.

Book: Chapter 9 ("Real data"), which uses MNIST and CIFAR-100 when they are available.
"""

from __future__ import annotations

import hashlib
import http.client
import numbers
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ChecksumError(ValueError):
    """A file's SHA-256 digest differs from the official one (corrupted, truncated or a different file)."""


#: The official MNIST files and their SHA-256 digests (the same digests are used by torchvision, TensorFlow and
#: others for these files; sizes 9,912,422 / 28,881 / 1,648,877 / 4,542 bytes).
MNIST_FILES: dict[str, str | None] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: The official CIFAR-100 archive (python version, 169,001,437 bytes) and its SHA-256 digest (as used by Keras and
#: torchvision).
CIFAR100_FILES: dict[str, str | None] = {
    "cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}
CIFAR100_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)

_CHUNK = 1 << 20


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_digest(name: str, checksums: dict[str, str | None]) -> str:
    digest = checksums.get(name)
    if digest is None:
        raise ValueError(f"no SHA-256 digest is known for {name!r}; refusing to read it unverified. Pass "
                         f"checksums={{{name!r}: '<sha256 hex digest>'}} after verifying the file yourself.")
    digest = str(digest).lower()
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise ValueError(f"the SHA-256 digest for {name!r} must be 64 hex characters, got {digest!r}")
    return digest


def _download(name: str, digest: str, mirrors: Sequence[str], root: Path, timeout: float) -> bytes:
    """Download ``name`` from the first mirror that serves the right bytes; write it atomically under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    failures = []
    for base in mirrors:
        url = base + name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=root)
        tmp = Path(tmp_name)
        try:
            hasher = hashlib.sha256()
            chunks = []
            with os.fdopen(fd, "wb") as handle, urllib.request.urlopen(url, timeout=timeout) as response:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    chunks.append(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            got = hasher.hexdigest()
            if got != digest:
                failures.append(f"{url}: SHA-256 {got} does not match the expected {digest}")
                continue
            os.replace(tmp, target)
            return b"".join(chunks)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            if tmp.exists():
                tmp.unlink()
    raise ConnectionError(
        f"could not download {name} ({'; '.join(failures)}). If this machine is offline, download the file "
        f"elsewhere from {mirrors[0] + name if mirrors else 'its official source'} and place it at {target}.")


def fetch_verified(root: Any, name: str, checksums: dict[str, str | None], mirrors: Sequence[str],
                    download: bool, timeout: float) -> bytes:
    """The bytes of ``root/name``, verified against the SHA-256 digest before anything else looks at them."""
    digest = _expected_digest(name, checksums)
    root = Path(os.fspath(root)).expanduser()
    path = root / name
    if path.is_file():
        data = path.read_bytes()
        got = _sha256(data)
        if got == digest:
            return data
        if not download:
            raise ChecksumError(
                f"{path} ({len(data)} bytes) has SHA-256 {got}, expected {digest}: the file is corrupted, "
                f"truncated or not the official one. Delete it and call again with download=True, or replace it "
                f"with the official file.")
    elif not download:
        source = mirrors[0] + name if mirrors else "its official source"
        raise FileNotFoundError(
            f"{path} not found. Call with download=True (needs internet), or download {source} yourself and "
            f"place it at {path}.")
    return _download(name, digest, mirrors, root, timeout)


def check_download_args(download: Any, timeout: Any, checksums: Any, default: dict[str, str | None]
                         ) -> dict[str, str | None]:
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    table = dict(default)
    if checksums is not None:
        if not isinstance(checksums, dict):
            raise TypeError(f"checksums must be a dict mapping file names to SHA-256 digests, got "
                            f"{type(checksums).__name__}")
        unknown = set(checksums) - set(default)
        if unknown:
            raise ValueError(f"checksums has unknown file names {sorted(unknown)}; expected some of {sorted(default)}")
        table.update(checksums)
    return table
