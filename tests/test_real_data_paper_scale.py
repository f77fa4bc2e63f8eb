"""The paper-scale section of chapter 9 (book/real-data.md) runs when MNIST / CIFAR-100 files are present.

The default build skips that section (no data, no GPU), so nothing else executes its code. Here the chapter's own
cells (setup, ``accuracy_vs_depth`` and the paper-scale cell) run with ``RESNTK_SCALE=paper`` on tiny synthetic
MNIST IDX files and a synthetic CIFAR-100 archive written by the data tests' helpers. The official SHA-256 digests
cannot match synthetic files, so the loaders are given the files' own digests; everything else is the chapter's code.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
from pathlib import Path

import jupytext
import numpy as np
import pytest

from resntk import data

from test_data import cifar_archive, cifar_batch, idx_bytes, sha

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "real-data.md"


def _cell(cells: list[str], marker: str) -> str:
    found = [c for c in cells if marker in c]
    assert len(found) == 1, f"expected one cell of {CHAPTER.name} containing {marker!r}"
    return found[0]


def _run_paper_section() -> str:
    """Execute the chapter's setup and import cells, ``accuracy_vs_depth`` and the paper-scale cell.

    Returns what they print. ``rn.book.setup()`` changes the session's global state on purpose (dtype, threads,
    seeds): it is given back afterwards, as the rest of the test session expects it.
    """
    import torch

    cells = [c.source for c in jupytext.read(CHAPTER).cells if c.cell_type == "code"]
    namespace: dict = {}
    out = io.StringIO()
    state = torch.get_default_dtype(), torch.get_num_threads(), torch.get_rng_state(), np.random.get_state()
    try:
        with contextlib.redirect_stdout(out):
            for marker in ("rn.book.setup(", "from resntk.regression import", "def accuracy_vs_depth",
                           'os.environ.get("RESNTK_DATA")'):
                exec(compile(_cell(cells, marker), str(CHAPTER), "exec"), namespace)
    finally:
        torch.set_default_dtype(state[0])
        torch.set_num_threads(state[1])
        torch.set_rng_state(state[2])
        np.random.set_state(state[3])
    return out.getvalue()


@pytest.fixture
def synthetic_data(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (80, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 80).astype(np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 20).astype(np.uint8)}
    digests = {}
    for name, a in arrays.items():
        blob = gzip.compress(idx_bytes(a), mtime=0)
        (tmp_path / name).write_bytes(blob)
        digests[name] = sha(blob)
    blob = cifar_archive(cifar_batch(80, 0), cifar_batch(20, 1))
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(blob)
    return tmp_path, digests, {"cifar-100-python.tar.gz": sha(blob)}


def test_paper_scale_section_runs_on_local_files(synthetic_data, monkeypatch):
    root, mnist_digests, cifar_digests = synthetic_data
    monkeypatch.setenv("RESNTK_SCALE", "paper")
    monkeypatch.setenv("RESNTK_DATA", str(root))
    monkeypatch.setenv("RESNTK_PAPER_N", "60")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(data, "load_mnist", functools.partial(data.load_mnist, checksums=mnist_digests))
    monkeypatch.setattr(data, "load_cifar100", functools.partial(data.load_cifar100, checksums=cifar_digests))
    text = _run_paper_section()
    assert "skipped" not in text
    for name in ("MNIST (n = 60", "CIFAR-100 (n = 60"):
        assert name in text, text
    assert text.count("gamma = 0.5:") == 6          # three depths for each data set


def test_paper_scale_section_skips_cleanly_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNTK_SCALE", "paper")
    monkeypatch.setenv("RESNTK_DATA", str(tmp_path))           # an empty folder
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert "Paper-scale section skipped (no MNIST or CIFAR-100 files found" in _run_paper_section()
