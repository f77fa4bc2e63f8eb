"""The benchmark table (benchmarks/run_all.py) has every row, with finite positive figures; no timing is asserted."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _table  # noqa: E402


def _check(rows, capability, expected):
    assert rows, f"{capability}: no rows"
    names = [r.measurement for r in rows]
    assert len(set(names)) == len(names), f"duplicate rows: {names}"
    for r in rows:
        assert r.capability == capability
        assert math.isfinite(r.value) and r.value >= 0, r
        if r.reference_value is not None:
            assert math.isfinite(r.reference_value) and r.reference_value > 0, r
            assert r.ratio is not None and math.isfinite(r.ratio) and r.ratio > 0, r
    for fragment in expected:
        assert any(fragment in n for n in names), f"{capability}: no row about {fragment!r} in {names}"
    table = _table.format_table(rows)
    assert len(table.splitlines()) == len(rows) + 2


def test_kernel_rows():
    import kernels

    _check(kernels.measure(quick=True), "analytic kernel",
           ["ns/entry/layer", "table fast path", "largest error", "peak memory", "1 thread"])


def test_empirical_rows():
    import empirical

    rows = empirical.measure(quick=True)
    _check(rows, "empirical NTK", ["vmap(jacrev)", "FLOP floor"])


def test_regression_rows():
    import regression

    _check(regression.measure(quick=True), "gradient flow", ["KernelRidge", "Cholesky", "fit", "torch.linalg.eigh"])


@pytest.mark.slow
def test_book_rows():
    import book

    rows = book.measure(quick=True)
    _check(rows, "book", ["cold build", "re-render", "cached rebuild", "execution of residual-networks"])


def test_table_marks_missed_targets():
    rows = [_table.Row("x", "a", 2.0, "s", "ref", 1.0, ">= 3x", False),
            _table.Row("x", "b", 1.0, "s", "", None, "", None)]
    text = _table.format_table(rows)
    assert "NO" in text.splitlines()[2] and "2x" in text.splitlines()[2]
    assert text.splitlines()[3].rstrip().endswith("-")


def test_run_all_quick_without_book(capsys):
    import run_all

    assert run_all.main(["--quick", "--no-book", "--only", "regression"]) == 0
    out = capsys.readouterr().out
    assert "gradient flow" in out and "capability" in out
