"""Every chapter runs top to bottom as a plain notebook, its figures are drawn, and its prose gets its numbers.

The chapters are executed by the book's executor (``book/_ext/execute.py``): jupytext reads each chapter, nbclient
runs it in a fresh kernel in ``book/`` -- not through Jupyter Book -- and the inline expressions of every Markdown
cell (``{eval}`...```) are evaluated when the cell is reached, as jupyterlab-myst does. Chapters run in parallel,
one per CPU. The executed chapters go into the book's jupyter-cache, so the ``make book`` that follows executes
nothing; a chapter whose code did not change since the last run is not executed again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import execute  # noqa: E402
from notebook_edition import inline_expressions, notebook_chapters  # noqa: E402

CHAPTERS = notebook_chapters()


@pytest.fixture(scope="module")
def executed(request) -> dict[str, execute.Result]:
    """Run every chapter (in parallel) once for the whole module."""
    results = execute.execute(CHAPTERS, log=lambda msg: print(msg, flush=True))
    return {r.chapter: r for r in results}


def _figure_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})]


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_as_a_plain_notebook(chapter: str, executed) -> None:
    result = executed[chapter]
    if result.error:
        pytest.fail(f"{chapter} failed to execute as a notebook:\n{result.error[-6000:]}", pytrace=False)
    nb = execute.executed_notebook(chapter)
    assert nb is not None, f"{chapter}: not in the execution cache after running"
    for cell in _figure_cells(nb):
        kinds = {k for out in cell.get("outputs", []) for k in out.get("data", {})}
        assert "image/png" in kinds or "image/svg+xml" in kinds, (
            f"{chapter}: the figure cell {cell.metadata['mystnb']['figure'].get('name')} produced no image")
        alt = cell.metadata["mystnb"].get("image", {}).get("alt", "")
        assert len(alt) > 20, f"{chapter}: figure without alt text"
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        stored = {item["expression"]: item["result"] for item in cell.metadata.get("user_expressions", [])}
        for expr in inline_expressions(cell.source):
            text = stored[expr]["data"].get("text/plain", "")
            assert text.strip("'\" "), f"{chapter}: {{eval}}`{expr}` printed nothing"


@pytest.mark.book
def test_executor_reports_a_failing_cell_and_a_failing_inline_expression(tmp_path, monkeypatch) -> None:
    """A broken chapter is reported with its error, not cached; so is an expression that does not evaluate."""
    book = tmp_path / "book"
    book.mkdir()
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
              "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n")
    (book / "ok.md").write_text(header + "# Ok\n\n```{code-cell} ipython3\nx = 6 * 7\n```\n\n"
                                "The answer is {eval}`x` and {eval}`f\"{x / 4:.2f}\"`.\n")
    (book / "bad-cell.md").write_text(header + "# Bad\n\n```{code-cell} ipython3\n1 / 0\n```\n")
    (book / "bad-eval.md").write_text(header + "# Bad\n\nThe value {eval}`undefined_name`.\n")
    monkeypatch.setattr(execute, "ROOT", tmp_path)
    results = {r.chapter: r for r in execute.execute(["book/ok", "book/bad-cell", "book/bad-eval"], jobs=1,
                                                     cache_path=tmp_path / "cache", log=lambda m: None)}
    assert results["book/ok"].error is None
    assert results["book/ok"].values["x"]["data"]["text/plain"] == "42"
    assert results["book/ok"].values['f"{x / 4:.2f}"']["data"]["text/plain"] == "'10.50'"
    assert "ZeroDivisionError" in results["book/bad-cell"].error
    assert "undefined_name" in results["book/bad-eval"].error and "NameError" in results["book/bad-eval"].error
