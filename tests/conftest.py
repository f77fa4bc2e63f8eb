"""Test-suite configuration: one torch thread, and tests marked ``slow`` run only when asked for.

``RESNTK_SLOW=1`` (CI sets it) or an explicit ``-m slow`` selects them; by default they are skipped so that
``pytest`` stays fast while developing.
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1] / "book" / "_ext"))
from pdf import CHROMIUM_ARGS, chromium  # noqa: E402

# One intra-op thread for the whole suite: the tests run many small tensor operations, and on a shared 2-core
# machine torch's thread pool makes each of them wait at a barrier (a 2001 x 3 kernel recursion at depth 1e4 took
# 0.8 s on one thread and 10 s on two under load; benchmarks/kernels.py reports the same effect). This is test
# configuration: the library itself never changes the global thread count.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RESNTK_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set RESNTK_SLOW=1 (or -m slow) to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# ------------------------------------------------------------------------- a real browser for the rendered tests
# The PDF builder's Chromium and flags (book/_ext/pdf.py): headless Debian Chromium, offline, as root.
CHROMIUM = chromium()
def page_text(path: Path) -> str:
    """A built page's text, with tags stripped (code is split into highlighting spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# ------------------------------------------------------------------ the depth-expansion toy of Part III's chapters
@pytest.fixture(scope="module")
def toy():
    """The book's depth-expansion toy: n = 1000, width 16, L = 2, a = 0.6, sigma = 0.3."""
    from resntk.book import make_expansion_toy

    return make_expansion_toy(n=1000, n_test=1000, seed=0)


@pytest.fixture(scope="module")
def expanded(toy):
    """Insertion after block 1, m = 64, 1/sqrt(m) features."""
    from resntk.nets import insert_block

    return insert_block(toy.model, 1, 64, "zero_out", seed=1)


def training_risk(model, X, y) -> float:
    """The squared-loss risk (1/2n) sum (f(x_i) - y_i)^2 of a scalar-output model."""
    import torch

    with torch.no_grad():
        return float(0.5 * ((model(X).reshape(-1) - y) ** 2).mean())
