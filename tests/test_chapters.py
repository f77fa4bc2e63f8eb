"""Every chapter of the book executes without error, and its figure cells produce images.

Chapters are executed exactly as the book build executes them (same notebook reader, same working directory,
``RESNTK_BOOK_BUILD=1``, the notebook's inline matplotlib backend) and the executed notebook is stored in the
book's jupyter-cache (``_build/.jupyter_cache``). A following ``make book`` then finds every chapter in the cache
and does not execute it a second time; a chapter that changed since is executed again here.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]


def _notebook_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    def has_kernel(f: str) -> bool:
        text = (ROOT / f"{f}.md").read_text()
        return text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]

    return [f for f in files if has_kernel(f)]


def _figure_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})]


@pytest.mark.book
@pytest.mark.parametrize("chapter", _notebook_chapters())
def test_chapter_executes(chapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    # The kernel inherits this environment: make it the book build's, not pytest's.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("RESNTK_BOOK_BUILD", "1")

    path = ROOT / f"{chapter}.md"
    nb = jupytext.read(path)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(CACHE))
    try:
        cache.match_cache_notebook(nb)
        _, executed = cache.merge_match_into_notebook(nb)
    except KeyError:
        result = single_nb_execution(nb, cwd=str(path.parent), allow_errors=False, timeout=TIMEOUT,
                                     meta_override=True)
        if result.err is not None:
            pytest.fail(f"{chapter} failed to execute:\n{result.exc_string}", pytrace=False)
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
                                    check_validity=False, overwrite=True)
        print(f"{chapter}: executed in {result.time:.1f} s")
        executed = nb

    for cell in _figure_cells(executed):
        kinds = {k for out in cell.get("outputs", []) for k in out.get("data", {})}
        assert "image/png" in kinds or "image/svg+xml" in kinds, (
            f"{chapter}: the figure cell {cell.metadata['mystnb']['figure'].get('name')} produced no image")
        alt = cell.metadata["mystnb"].get("image", {}).get("alt", "")
        assert len(alt) > 20, f"{chapter}: figure without alt text"
